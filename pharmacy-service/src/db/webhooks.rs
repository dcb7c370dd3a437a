//! Outbound webhooks (`webhooks`) and their durable delivery log (`webhook_deliveries`).

use super::Conn;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A registered receiver (its secret is read only by the delivery worker).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The event names it receives (JSON array; empty: all).
    #[serde(skip)]
    pub events: String,
    /// Deliveries are made (false: disabled by an admin or after repeated failures).
    pub enabled: bool,
    /// Deliveries failed for good in a row since the last success.
    pub consecutive_failures: i64,
    /// When it was disabled after repeated failures.
    #[schema(value_type = Option<i64>)]
    pub disabled_at: Option<Timestamp>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// When registered.
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    /// When last changed.
    #[schema(value_type = i64)]
    pub updated_at: Timestamp,
}

impl Webhook {
    /// The event names it receives (empty: all).
    pub fn event_names(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    /// Whether it receives `event`.
    pub fn wants(&self, event: &str) -> bool {
        let names = self.event_names();
        names.is_empty() || names.iter().any(|n| n == event)
    }
}

/// One event for one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// Id (also sent as `X-Webhook-Delivery`: receivers drop repeats by it).
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// The event name (`ticket.created`, `message.in`, ...).
    pub event: String,
    /// The JSON body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    #[schema(value_type = i64)]
    pub next_attempt_at: Timestamp,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When queued.
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    /// When delivered or given up.
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Timestamp>,
}

/// Registers a webhook (enabled). When no other is enabled, the queueing cursor starts at the
/// newest rows in the same transaction ([`start_cursor_if_none_enabled`]).
pub async fn insert(
    c: &mut Conn,
    url: &str,
    secret: &str,
    events: &[String],
    now: Timestamp,
) -> Result<Webhook, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(&mut *c).await?;
    start_cursor_if_none_enabled(&mut tx).await?;
    let hook = sqlx::query_as(
        "INSERT INTO webhooks (url, secret, events, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(url)
    .bind(secret)
    .bind(serde_json::to_string(events).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(hook)
}

/// Every webhook, oldest first.
pub async fn list(c: &mut Conn) -> Result<Vec<Webhook>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM webhooks ORDER BY id")
        .fetch_all(&mut *c)
        .await
}

/// One webhook.
pub async fn by_id(c: &mut Conn, id: i64) -> Result<Option<Webhook>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM webhooks WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// A webhook's signing secret.
pub async fn secret(c: &mut Conn, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// Whether any webhook is enabled (the queuer does not scan while none is).
pub async fn any_enabled(c: &mut Conn) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled = 1)")
        .fetch_one(&mut *c)
        .await
}

/// Run just before a webhook is enabled (created, or enabled again): when none is enabled
/// yet, moves the queueing cursor to the newest rows. The queuer does not scan while no
/// webhook is enabled (`alerts::queue`), so the cursor lags then; without this a new webhook
/// would be sent what happened before it. While one is enabled the cursor is current, or
/// behind only by rows still owed to it, and is left alone. A write as the transaction's
/// first statement: the write lock is taken at once, so nothing commits in between.
async fn start_cursor_if_none_enabled(c: &mut Conn) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_cursor SET
             message_id = COALESCE((SELECT MAX(id) FROM messages), 0),
             ticket_event_id = COALESCE((SELECT MAX(id) FROM ticket_events), 0)
         WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM webhooks WHERE enabled = 1)",
    )
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Changes what an admin may change; enabling clears the failure count and the reason (and,
/// when no webhook was enabled, starts the queueing cursor at the newest rows in the same
/// transaction: [`start_cursor_if_none_enabled`]).
pub async fn update(
    c: &mut Conn,
    id: i64,
    url: Option<&str>,
    events: Option<&[String]>,
    enabled: Option<bool>,
    now: Timestamp,
) -> Result<Option<Webhook>, sqlx::Error> {
    let events = events.map(|e| serde_json::to_string(e).unwrap_or_else(|_| "[]".into()));
    let mut tx = sqlx::Connection::begin(&mut *c).await?;
    if enabled == Some(true) {
        start_cursor_if_none_enabled(&mut tx).await?;
    }
    let hook = sqlx::query_as(
        "UPDATE webhooks SET url = COALESCE(?, url), events = COALESCE(?, events),
             enabled = COALESCE(?, enabled),
             consecutive_failures = CASE WHEN ? THEN 0 ELSE consecutive_failures END,
             disabled_at = CASE WHEN ? THEN NULL ELSE disabled_at END,
             disabled_reason = CASE WHEN ? THEN NULL ELSE disabled_reason END,
             updated_at = ?
         WHERE id = ? RETURNING *",
    )
    .bind(url)
    .bind(events)
    .bind(enabled)
    .bind(enabled == Some(true))
    .bind(enabled == Some(true))
    .bind(enabled == Some(true))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(hook)
}

/// Removes a webhook and its deliveries.
pub async fn delete(c: &mut Conn, id: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM webhooks WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Queues `payload` for every enabled webhook that wants `event`; returns how many.
pub async fn enqueue(
    c: &mut Conn,
    event: &str,
    payload: &str,
    now: Timestamp,
) -> Result<usize, sqlx::Error> {
    let hooks = list(c).await?;
    let mut n = 0;
    for h in hooks.iter().filter(|h| h.enabled && h.wants(event)) {
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(h.id)
        .bind(event)
        .bind(payload)
        .bind(now)
        .bind(now)
        .execute(&mut *c)
        .await?;
        n += 1;
    }
    Ok(n)
}

/// The pending deliveries due at `now` of enabled webhooks, oldest first.
pub async fn due(c: &mut Conn, now: Timestamp, limit: i64) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.* FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND w.enabled = 1
         ORDER BY d.next_attempt_at, d.id LIMIT ?",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// When the next pending delivery of an enabled webhook is due.
pub async fn next_due(c: &mut Conn) -> Result<Option<Timestamp>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND w.enabled = 1",
    )
    .fetch_one(&mut *c)
    .await
}

/// Records a delivered attempt; the webhook's failure count starts over.
pub async fn delivered(
    c: &mut Conn,
    d: &Delivery,
    status: u16,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = ?,
             last_error = NULL, finished_at = ? WHERE id = ?",
    )
    .bind(i64::from(status))
    .bind(now)
    .bind(d.id)
    .execute(&mut *c)
    .await?;
    sqlx::query("UPDATE webhooks SET consecutive_failures = 0 WHERE id = ?")
        .bind(d.webhook_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Records a failed attempt: due again at `retry_at`, or failed for good (`None`), which
/// counts against the webhook. Returns the webhook's failures in a row.
pub async fn attempt_failed(
    c: &mut Conn,
    d: &Delivery,
    status: Option<u16>,
    error: &str,
    retry_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?,
             status = CASE WHEN ? IS NULL THEN 'failed' ELSE 'pending' END,
             next_attempt_at = COALESCE(?, next_attempt_at),
             finished_at = CASE WHEN ? IS NULL THEN ? ELSE NULL END
         WHERE id = ?",
    )
    .bind(status.map(i64::from))
    .bind(error)
    .bind(retry_at)
    .bind(retry_at)
    .bind(retry_at)
    .bind(now)
    .bind(d.id)
    .execute(&mut *c)
    .await?;
    if retry_at.is_some() {
        return Ok(0);
    }
    sqlx::query_scalar(
        "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = ?
         RETURNING consecutive_failures",
    )
    .bind(d.webhook_id)
    .fetch_one(&mut *c)
    .await
}

/// Disables a webhook after repeated failures; false when it was already disabled.
pub async fn disable(
    c: &mut Conn,
    id: i64,
    reason: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_at = ?, disabled_reason = ?, updated_at = ?
         WHERE id = ? AND enabled = 1",
    )
    .bind(now)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A webhook's deliveries, newest first, before `before` (an id) if given.
pub async fn deliveries(
    c: &mut Conn,
    webhook_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND id < COALESCE(?, 9223372036854775807)
         ORDER BY id DESC LIMIT ?",
    )
    .bind(webhook_id)
    .bind(before)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// How far committed rows have been turned into deliveries (`webhook_cursor`, one row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Cursor {
    /// The newest `messages.id` covered.
    pub message_id: i64,
    /// The newest `ticket_events.id` covered.
    pub ticket_event_id: i64,
}

/// The queueing cursor.
pub async fn cursor(c: &mut Conn) -> Result<Cursor, sqlx::Error> {
    sqlx::query_as("SELECT message_id, ticket_event_id FROM webhook_cursor WHERE id = 1")
        .fetch_one(&mut *c)
        .await
}

/// Whether rows were committed after the queueing cursor (a read: the queuer takes the write
/// lock only when there is something to queue).
pub async fn behind(c: &mut Conn) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE id > (SELECT message_id FROM webhook_cursor))
             OR EXISTS (SELECT 1 FROM ticket_events
                        WHERE id > (SELECT ticket_event_id FROM webhook_cursor))",
    )
    .fetch_one(&mut *c)
    .await
}

/// Moves the queueing cursor.
pub async fn set_cursor(c: &mut Conn, to: Cursor) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_cursor SET message_id = ?, ticket_event_id = ? WHERE id = 1")
        .bind(to.message_id)
        .bind(to.ticket_event_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Up to `limit` message ids after `after`, oldest first, each with whether the switch-over
/// import wrote it (imported history is not news to anyone).
pub async fn messages_after(
    c: &mut Conn,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.id, EXISTS (SELECT 1 FROM import_source_ids i
                               WHERE i.target_table = 'messages' AND i.target_id = m.id)
         FROM messages m WHERE m.id > ? ORDER BY m.id LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// One row of the ticket journal (`ticket_events`), as the queuer reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JournalRow {
    /// Id.
    pub id: i64,
    /// The ticket.
    pub ticket_id: i64,
    /// `assigned`, `closed`, ...
    pub kind: String,
    /// When.
    pub at: Timestamp,
}

/// Up to `limit` journal rows after `after`, oldest first.
pub async fn journal_after(
    c: &mut Conn,
    after: i64,
    limit: i64,
) -> Result<Vec<JournalRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ticket_id, kind, at FROM ticket_events WHERE id > ? ORDER BY id LIMIT ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// The transfer logged with an `assigned` journal row (same ticket, same instant; the
/// newest if several): its previous agent and note.
pub async fn transfer_at(
    c: &mut Conn,
    ticket_id: i64,
    at: Timestamp,
) -> Result<Option<(Option<i64>, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT from_agent_id, note FROM ticket_transfer_log WHERE ticket_id = ? AND at = ?
         ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket_id)
    .bind(at)
    .fetch_optional(&mut *c)
    .await
}

/// Deletes deliveries delivered or failed for good before `before`; returns how many.
/// Pending ones are never deleted, whatever their age.
pub async fn purge_finished(c: &mut Conn, before: Timestamp) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "DELETE FROM webhook_deliveries WHERE finished_at IS NOT NULL AND finished_at < ?",
    )
    .bind(before)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected())
}
