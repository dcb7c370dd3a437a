//! How far each user has read each ticket, and what the inbox list shows per ticket: the last
//! message (the preview) and the customer's messages that user has not read yet.

use super::Conn;
use super::messages::Message;
use crate::domain::ids::{MessageId, TicketId, UserId};
use crate::domain::time::Timestamp;

/// Marks `ticket` read by `user` up to `upto` (default: its newest message). The mark only
/// moves forward, so a late request from an older tab does not bring unread messages back.
/// Returns the message id the user has now read up to (0 for a ticket without messages).
pub async fn mark_read(
    c: &mut Conn,
    user: UserId,
    ticket: TicketId,
    upto: Option<MessageId>,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let newest: i64 =
        sqlx::query_scalar("SELECT ifnull(max(id), 0) FROM messages WHERE ticket_id = ?")
            .bind(ticket)
            .fetch_one(&mut *c)
            .await?;
    let upto = upto.map_or(newest, |m| m.0.min(newest));
    sqlx::query(
        "INSERT INTO ticket_reads (user_id, ticket_id, last_read_message_id, read_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, ticket_id) DO UPDATE SET
             last_read_message_id = max(last_read_message_id, excluded.last_read_message_id),
             read_at = excluded.read_at",
    )
    .bind(user)
    .bind(ticket)
    .bind(upto)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query_scalar(
        "SELECT last_read_message_id FROM ticket_reads WHERE user_id = ? AND ticket_id = ?",
    )
    .bind(user)
    .bind(ticket)
    .fetch_one(&mut *c)
    .await
}

/// The customer's messages in `ticket` that `user` has not read.
pub async fn unread(c: &mut Conn, user: UserId, ticket: TicketId) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM messages m WHERE m.ticket_id = ? AND m.direction = 'in'
           AND m.id > ifnull((SELECT last_read_message_id FROM ticket_reads
                              WHERE user_id = ? AND ticket_id = m.ticket_id), 0)",
    )
    .bind(ticket)
    .bind(user)
    .fetch_one(&mut *c)
    .await
}

/// The newest message of `ticket` (the inbox preview).
pub async fn last_message(c: &mut Conn, ticket: TicketId) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM messages WHERE ticket_id = ? ORDER BY id DESC LIMIT 1")
        .bind(ticket)
        .fetch_optional(&mut *c)
        .await
}
