//! Webhook deliveries for ticket and message events, queued from what was committed.
//!
//! Why from the tables and not from the live bus: the bus is in memory and published after
//! the commit, so a crash in between would lose the event's deliveries. Instead a durable
//! cursor (`webhook_cursor`) says how far `messages` and the ticket journal (`ticket_events`)
//! have been turned into `webhook_deliveries`, and it moves in the same transaction as the
//! deliveries it covers: after a crash the next run resumes exactly there (nothing lost,
//! nothing queued twice). The bus only says "look now". SQLite has one writer at a time, so
//! row ids grow in commit order and no row can appear behind the cursor later.
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

use super::webhook::{enqueue_in, enqueue_named};
use crate::app::{App, AppError, LiveEvent};
use crate::db;
use crate::db::webhooks::JournalRow;
use crate::domain::ids::{AgentId, MessageId, TicketId};
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows read per transaction (a long catch-up holds the write lock in short turns).
const BATCH: i64 = 200;

/// Whether an event is one [`committed`] turns into deliveries (a cue to run it).
pub fn is_cue(event: &LiveEvent) -> bool {
    matches!(
        event,
        LiveEvent::NewMessage { .. }
            | LiveEvent::TicketAssigned { .. }
            | LiveEvent::TicketClosed { .. }
            // A ticket opened by hand is published as an update.
            | LiveEvent::TicketUpdated { .. }
    )
}

/// Queues the deliveries of every message and ticket event committed after the cursor;
/// returns how many were queued. Each write transaction it takes is counted in `writes`.
pub async fn committed(app: &App, writes: &AtomicU64) -> Result<usize, AppError> {
    let mut total = 0;
    loop {
        {
            let mut c = app.pool().acquire().await?;
            if !db::webhooks::any_enabled(&mut c).await? || !db::webhooks::behind(&mut c).await? {
                return Ok(total);
            }
        }
        writes.fetch_add(1, Ordering::Relaxed);
        let mut tx = app.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mut cur = db::webhooks::cursor(&mut tx).await?;
        let now = app.now();
        let messages = db::webhooks::messages_after(&mut tx, cur.message_id, BATCH).await?;
        let journal = db::webhooks::journal_after(&mut tx, cur.ticket_event_id, BATCH).await?;
        if messages.is_empty() && journal.is_empty() {
            return Ok(total);
        }
        // A ticket's creation first: it precedes everything else about the ticket, which
        // may come in the same batch (the message that opened it, its routing).
        for row in journal.iter().filter(|r| r.kind == "created") {
            if let Some(ticket) = db::tickets::by_id(&mut tx, TicketId(row.ticket_id)).await? {
                let data = serde_json::json!({ "ticket": ticket });
                total += enqueue_named(&mut tx, "ticket.created", data, row.at, now).await?;
            }
        }
        for (id, imported) in &messages {
            if !imported && let Some((event, at)) = message_event(&mut tx, *id).await? {
                total += enqueue_in(&mut tx, &event, at, now).await?;
            }
            cur.message_id = *id;
        }
        for row in &journal {
            if let Some(event) = journal_event(&mut tx, row).await? {
                total += enqueue_in(&mut tx, &event, row.at, now).await?;
            }
            cur.ticket_event_id = row.id;
        }
        db::webhooks::set_cursor(&mut tx, cur).await?;
        tx.commit().await?;
    }
}

/// A stored message as its `NewMessage` event, with when it happened.
async fn message_event(
    c: &mut db::Conn,
    id: i64,
) -> Result<Option<(LiveEvent, crate::domain::time::Timestamp)>, sqlx::Error> {
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
