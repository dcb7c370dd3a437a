//! The outbound webhooks' use-cases (for `alerts::webhook`, which delivers): the deliveries an
//! event calls for, queued from what was committed, and how each attempt ended.
//!
//! Ticket and message events are queued from the tables, not from the live bus: the bus is in
//! memory and published after the commit, so a crash in between would lose the event's
//! deliveries. Instead a durable cursor (`webhook_cursor`) says how far `messages` and the
//! ticket journal (`ticket_events`) have been turned into `webhook_deliveries`, and it moves in
//! the same transaction as the deliveries it covers: after a crash the next run resumes exactly
//! there (nothing lost, nothing queued twice). The bus only says "look now". SQLite has one
//! writer at a time, so row ids grow in commit order and no row can appear behind the cursor
//! later.
//!
//! The `data` is read when queued: for a live event that is the moment it was committed;
//! after a crash it is the rows' state at restart (the `at` is still when it happened).
//! Messages written by the switch-over import are history, not events: skipped.
//! `ticket.created` comes from the journal's `created` row, written once per ticket however
//! it was opened (a customer's message, our phone, an agent by hand).
//!
//! While no webhook is enabled nothing is scanned: no write transaction per inbound message
//! for nobody. The cursor then lags, and enabling the first webhook moves it to the newest
//! rows in the same transaction (`db::webhooks::insert`/`update`), so a new webhook hears
//! only what happens after it.
//!
//! `link.state` is not a stored change: it is queued from the bus, at most once (a crash in
//! between loses that one state; the next one follows).

use super::{App, AppError, Envelope, LiveEvent};
use crate::db;
use crate::db::webhooks::{Delivery, JournalRow, Webhook};
use crate::domain::ids::{AgentId, MessageId, TicketId};
use crate::domain::message::Direction;
use crate::domain::time::Timestamp;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows read per transaction (a long catch-up holds the write lock in short turns).
const BATCH: i64 = 200;

/// How one delivery attempt ended, as the worker decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx with this status.
    Delivered(u16),
    /// No answer, or not a 2xx.
    Failed {
        /// The receiver's status, when it answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
        /// When to try again; `None`: the delivery failed for good.
        retry_at: Option<Timestamp>,
        /// Deliveries failed for good in a row that disable the webhook.
        disable_after: i64,
    },
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
pub fn webhook_events_of(event: &LiveEvent) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    match event {
        // `ticket.created` is queued from the ticket journal.
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

/// Whether an event is one [`App::queue_committed_webhooks`] turns into deliveries (a cue to
/// run it).
pub fn is_webhook_cue(event: &LiveEvent) -> bool {
    matches!(
        event,
        LiveEvent::NewMessage { .. }
            | LiveEvent::TicketAssigned { .. }
            | LiveEvent::TicketClosed { .. }
            // A ticket opened by hand is published as an update.
            | LiveEvent::TicketUpdated { .. }
    )
}

impl App {
    /// Queues the deliveries of every message and ticket event committed after the cursor;
    /// returns how many were queued. Each write transaction it takes is counted in `writes`.
    pub async fn queue_committed_webhooks(&self, writes: &AtomicU64) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            {
                let mut c = self.read().await?;
                if !db::webhooks::any_enabled(&mut c).await?
                    || !db::webhooks::behind(&mut c).await?
                {
                    return Ok(total);
                }
            }
            writes.fetch_add(1, Ordering::Relaxed);
            let mut tx = self.begin().await?;
            let mut cur = db::webhooks::cursor(&mut tx).await?;
            let now = self.now();
            let messages = db::webhooks::messages_after(&mut tx, cur.message_id, BATCH).await?;
            let journal = db::webhooks::journal_after(&mut tx, cur.ticket_event_id, BATCH).await?;
            if messages.is_empty() && journal.is_empty() {
                return Ok(total);
            }
            // A ticket's creation first: it precedes everything else about the ticket, which
            // may come in the same batch (the message that opened it, its routing).
            for row in journal.iter().filter(|r| r.kind == "created") {
                if let Some(ticket) = db::tickets::by_id(&mut tx, TicketId(row.ticket_id)).await? {
                    let data = json!({ "ticket": ticket });
                    total += enqueue_named(&mut tx, "ticket.created", data, row.at, now).await?;
                }
            }
            for (id, imported) in &messages {
                if !imported && let Some((event, at)) = message_event(&mut tx, *id).await? {
                    total += enqueue(&mut tx, &event, at, now).await?;
                }
                cur.message_id = *id;
            }
            for row in &journal {
                if let Some(event) = journal_event(&mut tx, row).await? {
                    total += enqueue(&mut tx, &event, row.at, now).await?;
                }
                cur.ticket_event_id = row.id;
            }
            db::webhooks::set_cursor(&mut tx, cur).await?;
            tx.commit().await?;
        }
    }

    /// Queues the `link.state` deliveries a link-state envelope calls for; true when any was
    /// queued. Other events are queued from the tables ([`App::queue_committed_webhooks`]).
    pub async fn queue_link_state_webhooks(&self, env: &Envelope) -> Result<bool, AppError> {
        if !matches!(env.event, LiveEvent::WhatsappStatus { .. }) {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let queued = enqueue(&mut tx, &env.event, env.at, self.now()).await?;
        tx.commit().await?;
        Ok(queued > 0)
    }

    /// At most `limit` deliveries due at `now`.
    pub async fn due_webhook_deliveries(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<Delivery>, AppError> {
        let mut c = self.read().await?;
        Ok(db::webhooks::due(&mut c, now, limit).await?)
    }

    /// When the next queued delivery is due.
    pub async fn next_webhook_delivery(&self) -> Result<Option<Timestamp>, AppError> {
        let mut c = self.read().await?;
        Ok(db::webhooks::next_due(&mut c).await?)
    }

    /// The webhook a delivery goes to, with its signing secret (`None`: deleted meanwhile).
    pub async fn webhook_target(&self, id: i64) -> Result<Option<(Webhook, String)>, AppError> {
        let mut c = self.read().await?;
        let hook = db::webhooks::by_id(&mut c, id).await?;
        let secret = db::webhooks::secret(&mut c, id).await?;
        Ok(hook.zip(secret))
    }

    /// Writes how an attempt at `d` to `hook` ended; past the webhook's limit of failures in a
    /// row it is disabled with an admin alert (`webhook_disabled`), in the same transaction.
    /// Whether the webhook was disabled.
    pub async fn settle_webhook_delivery(
        &self,
        d: &Delivery,
        hook: &Webhook,
        outcome: &DeliveryOutcome,
    ) -> Result<bool, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let (status, error, retry_at, disable_after) = match outcome {
            DeliveryOutcome::Delivered(status) => {
                db::webhooks::delivered(&mut tx, d, *status, now).await?;
                tx.commit().await?;
                return Ok(false);
            }
            DeliveryOutcome::Failed {
                status,
                error,
                retry_at,
                disable_after,
            } => (*status, error, *retry_at, *disable_after),
        };
        let failures =
            db::webhooks::attempt_failed(&mut tx, d, status, error, retry_at, now).await?;
        let mut alert = None;
        if retry_at.is_none()
            && failures >= disable_after
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
        let disabled = alert.is_some();
        if let Some(alert) = alert {
            self.publish_all(vec![LiveEvent::AdminAlert { alert }]);
        }
        Ok(disabled)
    }
}

/// Queues the deliveries `event` (which happened `at`) calls for, in `c`'s transaction;
/// returns how many.
async fn enqueue(
    c: &mut db::Conn,
    event: &LiveEvent,
    at: Timestamp,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let mut queued = 0;
    for (name, data) in webhook_events_of(event) {
        queued += enqueue_named(c, name, data, at, now).await?;
    }
    Ok(queued)
}

/// Queues the deliveries of the webhook event `name` with `data` (which happened `at`), in
/// `c`'s transaction; returns how many.
async fn enqueue_named(
    c: &mut db::Conn,
    name: &str,
    data: Value,
    at: Timestamp,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let body = json!({ "event": name, "at": at, "data": data }).to_string();
    db::webhooks::enqueue(c, name, &body, now).await
}

/// A stored message as its `NewMessage` event, with when it happened.
async fn message_event(
    c: &mut db::Conn,
    id: i64,
) -> Result<Option<(LiveEvent, Timestamp)>, sqlx::Error> {
    let Some(message) = db::messages::by_id(c, MessageId(id)).await? else {
        return Ok(None);
    };
    let Some(ticket) = db::tickets::by_id(c, message.ticket_id).await? else {
        return Ok(None);
    };
    let at = message.created_at;
    Ok(Some((LiveEvent::NewMessage { message, ticket }, at)))
}

/// The event a journal row stands for, if webhooks hear of it (assigned, closed; `created`
/// is queued apart, first).
async fn journal_event(
    c: &mut db::Conn,
    row: &JournalRow,
) -> Result<Option<LiveEvent>, sqlx::Error> {
    if row.kind != "assigned" && row.kind != "closed" {
        return Ok(None);
    }
    let Some(ticket) = db::tickets::by_id(c, TicketId(row.ticket_id)).await? else {
        return Ok(None);
    };
    Ok(Some(if row.kind == "closed" {
        LiveEvent::TicketClosed { ticket }
    } else {
        // The transfer is logged with the journal row, in the same transaction.
        let (previous, reason) = db::webhooks::transfer_at(c, row.ticket_id, row.at)
            .await?
            .unwrap_or_default();
        LiveEvent::TicketAssigned {
            ticket,
            previous_agent: previous.map(AgentId),
            reason,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_never_leaves_as_a_link_state() {
        assert_eq!(public_link_state("qr"), Some("unpaired"));
        assert_eq!(public_link_state("paused"), None);
        assert_eq!(public_link_state("logged_out"), Some("logged_out"));
    }
}
