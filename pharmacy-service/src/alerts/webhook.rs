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
//! ([`super::queue`]): exactly once from the change to the table, at least once from the
//! table to the receiver. `link.state` is not a stored change: it is queued from the bus, at
//! most once (a crash in between loses that one state; the next one follows).
//!
//! URLs are admin-supplied and admins are trusted: any http(s) host is allowed, including
//! internal ones (the point is to reach the pharmacy's other systems). Redirects are never
//! followed (`alerts::post`).

use super::post::{Answer, Poster};
use crate::app::{App, AppError, Envelope, LiveEvent};
use crate::db;
use crate::domain::message::Direction;
use crate::domain::time::Timestamp;
use serde_json::{Value, json};
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

/// The link state names others may see (`whatsappStatus` state -> shown state): the
/// outbox's own `paused`/`resumed` are not link states, and `qr` is shown as `unpaired`.
pub fn public_link_state(state: &str) -> Option<&'static str> {
    Some(match state {
        "qr" | "unpaired" => "unpaired",
        "connected" => "connected",
        "connecting" => "connecting",
        "disconnected" => "disconnected",
        "logged_out" => "logged_out",
        "temporary_ban" => "temporary_ban",
        "outdated" => "outdated",
        "store_failed" => "store_failed",
        "store_recovered" => "store_recovered",
        _ => return None,
    })
}

/// The webhook events a live event stands for, with their `data`.
pub fn events_of(event: &LiveEvent) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    match event {
        // `ticket.created` is queued from the ticket journal (`super::queue`).
        LiveEvent::NewMessage { message, ticket } => {
            let name = if message.direction == Direction::In {
                "message.in"
            } else {
                "message.out"
            };
            out.push((name, json!({ "message": message, "ticket": ticket })));
        }
        LiveEvent::TicketAssigned {
            ticket,
            previous_agent,
            reason,
        } => out.push((
            "ticket.assigned",
            json!({ "ticket": ticket, "previous_agent_id": previous_agent, "reason": reason }),
        )),
        LiveEvent::TicketClosed { ticket } => {
            out.push(("ticket.closed", json!({ "ticket": ticket })))
        }
        LiveEvent::WhatsappStatus { state, .. } => {
            if let Some(s) = public_link_state(state) {
                out.push(("link.state", json!({ "state": s })));
            }
        }
        _ => {}
    }
    out
}

/// Queues the deliveries `event` (which happened `at`) calls for, in `c`'s transaction;
/// returns how many.
pub async fn enqueue_in(
    c: &mut db::Conn,
    event: &LiveEvent,
    at: Timestamp,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    for (name, data) in events_of(event) {
        queued += enqueue_named(c, name, data, at, now).await?;
    }
    Ok(queued)
}

/// Queues the deliveries of the webhook event `name` with `data` (which happened `at`), in
/// `c`'s transaction; returns how many.
pub async fn enqueue_named(
    c: &mut db::Conn,
    name: &str,
    data: Value,
    at: Timestamp,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let body = json!({ "event": name, "at": at, "data": data }).to_string();
    db::webhooks::enqueue(c, name, &body, now).await
}

/// Queues the `link.state` deliveries a link-state envelope calls for; true when any was
/// queued. Other events are queued from the tables ([`super::queue::committed`]).
pub async fn enqueue_link_state(app: &App, env: &Envelope) -> Result<bool, AppError> {
    if !matches!(env.event, LiveEvent::WhatsappStatus { .. }) {
        return Ok(false);
    }
    let mut tx = app.pool().begin_with("BEGIN IMMEDIATE").await?;
    let queued = enqueue_in(&mut tx, &env.event, env.at, app.now()).await?;
    tx.commit().await?;
    Ok(queued > 0)
}

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
            let due = {
                let mut c = self.app.pool().acquire().await?;
                db::webhooks::due(&mut c, self.app.now(), 16).await?
            };
            if due.is_empty() {
                break;
            }
            for d in due {
                self.attempt(&d).await?;
            }
        }
        let mut c = self.app.pool().acquire().await?;
        let next = db::webhooks::next_due(&mut c).await?;
        let now = self.app.now();
        Ok(next.map_or(Duration::from_secs(30), |t| {
            Duration::from_millis(u64::try_from(t.0 - now.0).unwrap_or(0))
                .min(Duration::from_secs(30))
        }))
    }

    async fn attempt(&self, d: &db::webhooks::Delivery) -> Result<(), AppError> {
        let (hook, secret) = {
            let mut c = self.app.pool().acquire().await?;
            (
                db::webhooks::by_id(&mut c, d.webhook_id).await?,
                db::webhooks::secret(&mut c, d.webhook_id).await?,
            )
        };
        let (Some(hook), Some(secret)) = (hook, secret) else {
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
        let mut tx = self.app.pool().begin_with("BEGIN IMMEDIATE").await?;
        let (status, error) = match result {
            Ok(Answer { status, .. }) if (200..300).contains(&status) => {
                db::webhooks::delivered(&mut tx, d, status, now).await?;
                tx.commit().await?;
                return Ok(());
            }
            Ok(Answer { status, body }) => (
                Some(status),
                format!(
                    "HTTP {status}: {}",
                    body.chars().take(200).collect::<String>()
                ),
            ),
            Err(e) => (None, e.to_string()),
        };
        let attempt = d.attempts + 1;
        let retry_at =
            (attempt < self.policy.attempts).then(|| now.plus(self.policy.backoff_after(attempt)));
        let failures =
            db::webhooks::attempt_failed(&mut tx, d, status, &error, retry_at, now).await?;
        let mut alert = None;
        if retry_at.is_none()
            && failures >= self.policy.disable_after
            && db::webhooks::disable(
                &mut tx,
                hook.id,
                &format!("{failures} deliveries failed in a row; last: {error}"),
                now,
            )
            .await?
        {
            alert = Some(
                db::activity::raise(
                    &mut tx,
                    "webhook_disabled",
                    &format!(
                        "Webhook {} was disabled after {failures} failed deliveries; enable it again once the receiver works",
                        hook.url
                    ),
                    Some(&json!({ "webhook_id": hook.id, "url": hook.url, "last_error": error })),
                    now,
                )
                .await?,
            );
        }
        tx.commit().await?;
        if let Some(alert) = alert {
            tracing::warn!(url = %hook.url, "webhook disabled after repeated failures");
            self.app
                .events()
                .publish(now, LiveEvent::AdminAlert { alert });
        }
        Ok(())
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

    #[test]
    fn the_qr_never_leaves_as_a_link_state() {
        assert_eq!(public_link_state("qr"), Some("unpaired"));
        assert_eq!(public_link_state("paused"), None);
        assert_eq!(public_link_state("logged_out"), Some("logged_out"));
    }
}
