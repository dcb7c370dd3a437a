//! Outbound webhooks: the pharmacy's other systems hear of tickets, messages and the link.
//!
//! Events (`X-Webhook-Event`): `ticket.created` (once per ticket, when it is opened: by a
//! customer's message, our phone or an agent by hand), `ticket.assigned`,
//! `ticket.closed`, `message.in`, `message.out` (queued for WhatsApp), `link.state` (the
//! WhatsApp link's state, as agents see it: no pairing QR). Body: `{"event", "at" (ms),
//! "data"}` in JSON; `X-Webhook-Delivery` is the delivery's id (the same on every retry, for
//! receivers to drop repeats).
//!
//! Signed as the ingest webhook is (`http::signature`): `X-Timestamp` (unix seconds) and
//! `X-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` under the webhook's secret.
//!
//! Durable: every event becomes a `webhook_deliveries` row per interested webhook; the worker
//! POSTs the due ones, retries a failure (no answer, or not a 2xx) with exponential backoff up
//! to [`WebhookPolicy::attempts`], then marks it failed. After
//! [`WebhookPolicy::disable_after`] deliveries failed in a row the webhook is disabled and an
//! admin alert (`webhook_disabled`) raised. Rows survive a restart and are picked up again.
//! Ticket and message events are queued from the committed tables, not from the live bus
//! ([`App::queue_committed_webhooks`]): exactly once from the change to the table, at least
//! once from the table to the receiver. `link.state` is not a stored change: it is queued from
//! the bus, at most once (a crash in between loses that one state; the next one follows).
//! What is queued and how an attempt ended are written by `app/` (`webhook_deliveries`); this
//! module posts and decides (backoff, when to give up).
//!
//! URLs are admin-supplied and admins are trusted: any http(s) host is allowed, including
//! internal ones (the point is to reach the pharmacy's other systems). Redirects are never
//! followed (`alerts::post`).

use super::post::{Answer, Poster};
use crate::app::{App, AppError, Delivery, DeliveryOutcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Every event name a webhook may subscribe to.
pub const EVENTS: [&str; 6] = [
    "ticket.created",
    "ticket.assigned",
    "ticket.closed",
    "message.in",
    "message.out",
    "link.state",
];

/// Retries and give-up rules of the delivery worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Attempts per delivery before it fails for good (8: about 20 minutes of backoff).
    pub attempts: i64,
    /// The wait after the first failed attempt; doubled each time (10 s).
    pub backoff: Duration,
    /// The longest wait between attempts (1 h).
    pub max_backoff: Duration,
    /// Deliveries failed for good in a row that disable the webhook (3).
    pub disable_after: i64,
    /// One attempt's deadline, connect to the end of the answer (10 s).
    pub timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            attempts: 8,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            disable_after: 3,
            timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookPolicy {
    /// The wait after attempt number `attempt` (1-based) failed.
    pub fn backoff_after(&self, attempt: i64) -> Duration {
        let shift = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }
}

// Named here as before (the live socket shows agents the same states).
pub use crate::app::public_link_state;

/// The delivery worker (one per service).
pub struct WebhookWorker {
    app: App,
    policy: WebhookPolicy,
    poster: Poster,
    wakeup: Arc<Notify>,
}

impl WebhookWorker {
    /// A worker under `policy`; `wakeup` is notified when deliveries were queued.
    pub fn new(app: App, policy: WebhookPolicy, wakeup: Arc<Notify>) -> WebhookWorker {
        WebhookWorker {
            poster: Poster::new(policy.timeout),
            app,
            policy,
            wakeup,
        }
    }

    /// Delivers until the task is dropped.
    pub async fn run(self) {
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wakeup.notified() => {}
            }
        }
    }

    /// Makes every due attempt; returns how long until the next one (at most 30 s).
    async fn round(&self) -> Result<Duration, AppError> {
        loop {
            let due = self.app.due_webhook_deliveries(self.app.now(), 16).await?;
            if due.is_empty() {
                break;
            }
            for d in due {
                self.attempt(&d).await?;
            }
        }
        let next = self.app.next_webhook_delivery().await?;
        let now = self.app.now();
        Ok(next.map_or(Duration::from_secs(30), |t| {
            Duration::from_millis(u64::try_from(t.0 - now.0).unwrap_or(0))
                .min(Duration::from_secs(30))
        }))
    }

    async fn attempt(&self, d: &Delivery) -> Result<(), AppError> {
        let Some((hook, secret)) = self.app.webhook_target(d.webhook_id).await? else {
            return Ok(()); // deleted meanwhile (its rows went with it)
        };
        let ts = self.app.now().0.div_euclid(1000);
        let body = d.payload.clone().into_bytes();
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("x-webhook-event", d.event.clone()),
            ("x-webhook-delivery", d.id.to_string()),
            ("x-timestamp", ts.to_string()),
            (
                "x-signature",
                crate::domain::signature::sign(secret.as_bytes(), ts, &body),
            ),
        ];
        let result = self.poster.post(&hook.url, &headers, body).await;
        let now = self.app.now();
        let outcome = match result {
            Ok(Answer { status, .. }) if (200..300).contains(&status) => {
                DeliveryOutcome::Delivered(status)
            }
            Ok(Answer { status, body }) => self.failed(
                d,
                Some(status),
                format!(
                    "HTTP {status}: {}",
                    body.chars().take(200).collect::<String>()
                ),
                now,
            ),
            Err(e) => self.failed(d, None, e.to_string(), now),
        };
        if self.app.settle_webhook_delivery(d, &hook, &outcome).await? {
            tracing::warn!(url = %hook.url, "webhook disabled after repeated failures");
        }
        Ok(())
    }

    /// A failed attempt: due again after the backoff, or failed for good past the attempts.
    fn failed(
        &self,
        d: &Delivery,
        status: Option<u16>,
        error: String,
        now: crate::domain::time::Timestamp,
    ) -> DeliveryOutcome {
        let attempt = d.attempts + 1;
        let retry_at =
            (attempt < self.policy.attempts).then(|| now.plus(self.policy.backoff_after(attempt)));
        DeliveryOutcome::Failed {
            status,
            error,
            retry_at,
            disable_after: self.policy.disable_after,
        }
    }
}

/// A new webhook secret: 32 random bytes, hex.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = WebhookPolicy::default();
        assert_eq!(p.backoff_after(1), Duration::from_secs(10));
        assert_eq!(p.backoff_after(2), Duration::from_secs(20));
        assert_eq!(p.backoff_after(4), Duration::from_secs(80));
        assert_eq!(p.backoff_after(30), Duration::from_secs(3600));
        assert_eq!(p.backoff_after(i64::MAX), Duration::from_secs(3600));
    }
}
