//! The durable outbox: one row per outgoing WhatsApp message.

use super::Conn;
use crate::domain::ids::{CustomerId, MessageId, OutboxId, TicketId};
use crate::domain::time::Timestamp;
use serde::Serialize;

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    /// Id.
    pub id: OutboxId,
    /// The stored message.
    pub message_id: MessageId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// Its customer.
    pub customer_id: CustomerId,
    /// Recipient JID.
    pub recipient: String,
    /// The WhatsApp id chosen at enqueue time (a resend reuses it).
    pub wa_id: String,
    /// Text or caption.
    pub body: Option<String>,
    /// Media content address.
    pub media_sha256: Option<String>,
    /// Media type.
    pub media_mime: Option<String>,
    /// File name.
    pub media_name: Option<String>,
    /// WhatsApp id to quote.
    pub quoted_wa_id: Option<String>,
    /// The customer message to mark read before replying.
    pub read_wa_id: Option<String>,
    /// Normalised text (mass-send guard).
    pub body_key: String,
    /// A system template (exempt from the mass-send guard).
    pub is_system: bool,
    /// `queued`, `held`, `sent`, `failed`, `cancelled`.
    pub state: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: Timestamp,
    /// The last error.
    pub last_error: Option<String>,
    /// Enqueued at.
    pub created_at: Timestamp,
    /// Sent at.
    pub sent_at: Option<Timestamp>,
}

/// A row to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbox<'a> {
    /// The stored message.
    pub message_id: MessageId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// Its customer.
    pub customer_id: CustomerId,
    /// Recipient JID.
    pub recipient: &'a str,
    /// Pre-chosen WhatsApp id.
    pub wa_id: &'a str,
    /// Text or caption.
    pub body: Option<&'a str>,
    /// Media content address.
    pub media_sha256: Option<&'a str>,
    /// Media type.
    pub media_mime: Option<&'a str>,
    /// File name.
    pub media_name: Option<&'a str>,
    /// WhatsApp id to quote.
    pub quoted_wa_id: Option<&'a str>,
    /// Customer message to mark read.
    pub read_wa_id: Option<&'a str>,
    /// Normalised text.
    pub body_key: &'a str,
    /// System template.
    pub is_system: bool,
    /// `queued` or `held`.
    pub state: &'static str,
    /// Enqueued at.
    pub now: Timestamp,
}

/// Enqueues.
pub async fn insert(c: &mut Conn, o: &NewOutbox<'_>) -> Result<OutboxId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (message_id, ticket_id, customer_id, recipient, wa_id, body, media_sha256, media_mime,
             media_name, quoted_wa_id, read_wa_id, body_key, is_system, state, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(o.message_id)
    .bind(o.ticket_id)
    .bind(o.customer_id)
    .bind(o.recipient)
    .bind(o.wa_id)
    .bind(o.body)
    .bind(o.media_sha256)
    .bind(o.media_mime)
    .bind(o.media_name)
    .bind(o.quoted_wa_id)
    .bind(o.read_wa_id)
    .bind(o.body_key)
    .bind(o.is_system)
    .bind(o.state)
    .bind(o.now)
    .bind(o.now)
    .fetch_one(&mut *c)
    .await?;
    Ok(OutboxId(id))
}

/// One row.
pub async fn by_id(c: &mut Conn, id: OutboxId) -> Result<Option<OutboxRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM outbox WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// The next queued row due at `now`, oldest first.
pub async fn next_due(c: &mut Conn, now: Timestamp) -> Result<Option<OutboxRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1")
        .bind(now)
        .fetch_optional(&mut *c)
        .await
}

/// When the earliest queued row becomes due.
pub async fn earliest_due(c: &mut Conn) -> Result<Option<Timestamp>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'")
        .fetch_one(&mut *c)
        .await
}

/// Number of queued and held rows (outbox depth).
pub async fn depth(c: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state IN ('queued', 'held')")
        .fetch_one(&mut *c)
        .await
}

/// Marks a row sent.
pub async fn mark_sent(c: &mut Conn, id: OutboxId, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Postpones a row without counting an attempt (pacing cap, pause).
pub async fn postpone(c: &mut Conn, id: OutboxId, until: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET next_attempt_at = ? WHERE id = ?")
        .bind(until)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Counts a failed attempt and schedules the retry.
pub async fn retry_later(
    c: &mut Conn,
    id: OutboxId,
    until: Timestamp,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?")
        .bind(until)
        .bind(error)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Gives up on a row.
pub async fn mark_failed(c: &mut Conn, id: OutboxId, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
    )
    .bind(error)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Moves a row between `held`, `queued` and `cancelled`; returns whether it was in `from`.
pub async fn change_state(
    c: &mut Conn,
    id: OutboxId,
    from: &str,
    to: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE outbox SET state = ?, next_attempt_at = max(next_attempt_at, ?) WHERE id = ? AND state = ?")
        .bind(to)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Held rows (waiting for an admin), oldest first.
pub async fn held(c: &mut Conn) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM outbox WHERE state = 'held' ORDER BY id")
        .fetch_all(&mut *c)
        .await
}

/// Times of sends to a customer since `since` (per-customer cap).
pub async fn sent_to_customer_since(
    c: &mut Conn,
    customer: CustomerId,
    since: Timestamp,
) -> Result<Vec<Timestamp>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT sent_at FROM outbox WHERE customer_id = ? AND sent_at > ? ORDER BY sent_at",
    )
    .bind(customer)
    .bind(since)
    .fetch_all(&mut *c)
    .await
}

/// (customer, enqueue time) of non-system rows with the same text since `since`, not cancelled.
pub async fn same_text_since(
    c: &mut Conn,
    body_key: &str,
    since: Timestamp,
) -> Result<Vec<(i64, Timestamp)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT customer_id, created_at FROM outbox
         WHERE body_key = ? AND created_at > ? AND is_system = 0 AND state <> 'cancelled'",
    )
    .bind(body_key)
    .bind(since)
    .fetch_all(&mut *c)
    .await
}

/// The outbox row of a message.
pub async fn by_message(
    c: &mut Conn,
    message: MessageId,
) -> Result<Option<OutboxRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM outbox WHERE message_id = ?")
        .bind(message)
        .fetch_optional(&mut *c)
        .await
}

/// A pending "delete for everyone".
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RevokeRow {
    /// Id.
    pub id: i64,
    /// The message.
    pub message_id: MessageId,
    /// Chat JID.
    pub recipient: String,
    /// The message's WhatsApp id.
    pub wa_id: String,
    /// `queued`, `done`, `failed`.
    pub state: String,
    /// Failed attempts.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: Timestamp,
}

/// Queues a revoke (idempotent per message).
pub async fn insert_revoke(
    c: &mut Conn,
    message: MessageId,
    recipient: &str,
    wa_id: &str,
    by: Option<crate::domain::ids::UserId>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR IGNORE INTO outbox_revokes (message_id, recipient, wa_id, state, next_attempt_at, requested_by, created_at)
         VALUES (?, ?, ?, 'queued', ?, ?, ?)",
    )
    .bind(message)
    .bind(recipient)
    .bind(wa_id)
    .bind(now)
    .bind(by)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The next revoke due.
pub async fn next_revoke(c: &mut Conn, now: Timestamp) -> Result<Option<RevokeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, message_id, recipient, wa_id, state, attempts, next_attempt_at FROM outbox_revokes
         WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
    )
    .bind(now)
    .fetch_optional(&mut *c)
    .await
}

/// Records a revoke's outcome: done, retry at `retry_at`, or failed (`retry_at` None).
pub async fn settle_revoke(
    c: &mut Conn,
    id: i64,
    ok: bool,
    retry_at: Option<Timestamp>,
    error: Option<&str>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let state = match (ok, retry_at) {
        (true, _) => "done",
        (false, Some(_)) => "queued",
        (false, None) => "failed",
    };
    sqlx::query(
        "UPDATE outbox_revokes SET state = ?, attempts = attempts + ?, next_attempt_at = coalesce(?, next_attempt_at),
             last_error = ?, done_at = CASE WHEN ? THEN ? ELSE done_at END WHERE id = ?",
    )
    .bind(state)
    .bind(i64::from(!ok))
    .bind(retry_at)
    .bind(error)
    .bind(ok)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}
