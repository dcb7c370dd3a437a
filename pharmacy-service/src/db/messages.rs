//! Messages, their edits, reactions, delivery log, media records and search index.

use super::Conn;
use super::message_details::{ContactCard, MessageEdit, Poll};
use crate::domain::ids::{AgentId, CustomerId, MessageId, TicketId, UserId};
use crate::domain::message::{Direction, MessageKind, MessageStatus, SenderKind};
use crate::domain::search::index_text;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A message row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Message {
    /// Id.
    pub id: MessageId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Which way it went.
    pub direction: Direction,
    /// Who wrote it.
    pub sender_kind: SenderKind,
    /// The writing user (agent or admin).
    pub sender_user_id: Option<UserId>,
    /// Outgoing: the author agent; incoming: the ticket's agent when it arrived.
    pub agent_id: Option<AgentId>,
    /// What it carries.
    pub kind: MessageKind,
    /// Text or caption (a poll's question, a reply's answer, contacts' names).
    pub body: Option<String>,
    /// Content address of the media file.
    pub media_sha256: Option<String>,
    /// Media type.
    pub media_mime: Option<String>,
    /// Original file name.
    pub media_name: Option<String>,
    /// Location pin.
    pub latitude: Option<f64>,
    /// Location pin.
    pub longitude: Option<f64>,
    /// WhatsApp message id.
    pub wa_id: Option<String>,
    /// WhatsApp id of the quoted message.
    pub quoted_wa_id: Option<String>,
    /// Where it stands.
    pub status: MessageStatus,
    /// The customer's reaction (emoji) to this message.
    pub reaction: Option<String>,
    /// When last edited.
    pub edited_at: Option<Timestamp>,
    /// When revoked (deleted for everyone).
    pub revoked_at: Option<Timestamp>,
    /// When written.
    pub created_at: Timestamp,
    /// An attachment without its file yet: `downloading`, `failed` (could not be downloaded;
    /// retry with `POST /api/messages/{id}/media/retry`) or `too_large` (beyond the
    /// configured maximum, never downloaded); absent otherwise.
    #[sqlx(default)]
    pub media_state: Option<String>,
    /// A view-once attachment (it reached us nevertheless).
    #[sqlx(default)]
    pub view_once: bool,
    /// A button, list, template or interactive answer: the id of what was picked.
    #[sqlx(default)]
    pub reply_id: Option<String>,
    /// A list row's description, an interactive answer's JSON parameters.
    #[sqlx(default)]
    pub reply_detail: Option<String>,
    /// A live location: when its last position arrived.
    #[sqlx(default)]
    pub location_updated_at: Option<Timestamp>,
    /// A poll: its options with their votes.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    /// A contact message: its cards, in order.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactCard>,
    /// An edited message: its earlier texts, oldest first.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<MessageEdit>,
}

/// A message to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMessage {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Which way it went.
    pub direction: Direction,
    /// Who wrote it.
    pub sender_kind: SenderKind,
    /// The writing user.
    pub sender_user_id: Option<UserId>,
    /// See [`Message::agent_id`].
    pub agent_id: Option<AgentId>,
    /// Kind.
    pub kind: MessageKind,
    /// Text or caption.
    pub body: Option<String>,
    /// Media content address.
    pub media_sha256: Option<String>,
    /// Media type.
    pub media_mime: Option<String>,
    /// File name.
    pub media_name: Option<String>,
    /// Location.
    pub latitude: Option<f64>,
    /// Location.
    pub longitude: Option<f64>,
    /// WhatsApp id.
    pub wa_id: Option<String>,
    /// Quoted WhatsApp id.
    pub quoted_wa_id: Option<String>,
    /// Initial status.
    pub status: MessageStatus,
    /// When.
    pub created_at: Timestamp,
    /// See [`Message::view_once`].
    pub view_once: bool,
    /// See [`Message::reply_id`].
    pub reply_id: Option<String>,
    /// See [`Message::reply_detail`].
    pub reply_detail: Option<String>,
    /// A poll: how many options a voter may pick (0: any number).
    pub poll_selectable: Option<u32>,
    /// Indexed for search besides the body (a poll's options, contacts' numbers).
    pub search_extra: Option<String>,
}

/// Stores a message and indexes its text.
pub async fn insert(c: &mut Conn, m: &NewMessage) -> Result<MessageId, sqlx::Error> {
    Ok(insert_row(c, m).await?.id)
}

/// Inserts a message and returns the stored row (one statement, no read back).
pub async fn insert_row(c: &mut Conn, m: &NewMessage) -> Result<Message, sqlx::Error> {
    let row: Message = sqlx::query_as(
        "INSERT INTO messages (ticket_id, customer_id, direction, sender_kind, sender_user_id, agent_id, kind, body,
             media_sha256, media_mime, media_name, latitude, longitude, wa_id, quoted_wa_id, status, created_at,
             view_once, reply_id, reply_detail, poll_selectable, location_updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(m.ticket_id)
    .bind(m.customer_id)
    .bind(m.direction)
    .bind(m.sender_kind)
    .bind(m.sender_user_id)
    .bind(m.agent_id)
    .bind(m.kind)
    .bind(&m.body)
    .bind(&m.media_sha256)
    .bind(&m.media_mime)
    .bind(&m.media_name)
    .bind(m.latitude)
    .bind(m.longitude)
    .bind(&m.wa_id)
    .bind(&m.quoted_wa_id)
    .bind(m.status)
    .bind(m.created_at)
    .bind(m.view_once)
    .bind(&m.reply_id)
    .bind(&m.reply_detail)
    .bind(m.poll_selectable)
    .bind((m.kind == MessageKind::LiveLocation).then_some(m.created_at))
    .fetch_one(&mut *c)
    .await?;
    // A new rowid has no index entry to replace.
    let text = [
        m.body.as_deref(),
        m.media_name.as_deref(),
        m.search_extra.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    add_to_index(c, row.id, &text).await?;
    Ok(row)
}

async fn index(c: &mut Conn, id: MessageId, text: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM messages_fts WHERE rowid = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    match text {
        Some(t) => add_to_index(c, id, t).await,
        None => Ok(()),
    }
}

async fn add_to_index(c: &mut Conn, id: MessageId, text: &str) -> Result<(), sqlx::Error> {
    if !text.trim().is_empty() {
        sqlx::query("INSERT INTO messages_fts (rowid, body) VALUES (?, ?)")
            .bind(id)
            .bind(index_text(text))
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// One message.
pub async fn by_id(c: &mut Conn, id: MessageId) -> Result<Option<Message>, sqlx::Error> {
    let row = sqlx::query_as("SELECT * FROM messages WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let mut rows = Vec::from_iter(row);
    fill(c, &mut rows).await?;
    Ok(rows.pop())
}

/// The message with this WhatsApp id.
pub async fn by_wa_id(c: &mut Conn, wa_id: &str) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM messages WHERE wa_id = ?")
        .bind(wa_id)
        .fetch_optional(&mut *c)
        .await
}

/// Adds the structured parts of polls, contact messages and edited messages to `rows`.
pub async fn fill(c: &mut Conn, rows: &mut [Message]) -> Result<(), sqlx::Error> {
    super::message_details::fill(c, rows).await
}

/// The message with this WhatsApp id if it belongs to one of these customers' chats (the
/// customer's own messages and the replies to them); `None` for an empty list.
pub async fn by_wa_id_in_chat(
    c: &mut Conn,
    wa_id: &str,
    customers: &[CustomerId],
) -> Result<Option<Message>, sqlx::Error> {
    if customers.is_empty() {
        return Ok(None);
    }
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM messages WHERE wa_id = ");
    q.push_bind(wa_id.to_owned()).push(" AND customer_id IN (");
    let mut sep = q.separated(", ");
    for id in customers {
        sep.push_bind(*id);
    }
    sep.push_unseparated(")");
    q.build_query_as().fetch_optional(&mut *c).await
}

/// A ticket's messages, oldest first, after the `after` id (cursor), up to `limit`.
pub async fn for_ticket(
    c: &mut Conn,
    ticket: TicketId,
    after: Option<MessageId>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows =
        sqlx::query_as("SELECT * FROM messages WHERE ticket_id = ? AND id > ? ORDER BY id LIMIT ?")
            .bind(ticket)
            .bind(after.map_or(0, |m| m.0))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?;
    fill(c, &mut rows).await?;
    Ok(rows)
}

/// A ticket's messages older than the `before` id (all when `None`): the newest `limit` of
/// them, returned oldest first (the chat window loads older pages as the agent scrolls up).
pub async fn for_ticket_before(
    c: &mut Conn,
    ticket: TicketId,
    before: Option<MessageId>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows: Vec<Message> = sqlx::query_as(
        "SELECT * FROM messages WHERE ticket_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
    )
    .bind(ticket)
    .bind(before.map_or(i64::MAX, |m| m.0))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    rows.reverse();
    fill(c, &mut rows).await?;
    Ok(rows)
}

/// A customer's messages across tickets, newest first, before the `before` id.
pub async fn for_customer(
    c: &mut Conn,
    customer: CustomerId,
    before: Option<MessageId>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows = sqlx::query_as(
        "SELECT * FROM messages WHERE customer_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
    )
    .bind(customer)
    .bind(before.map_or(i64::MAX, |m| m.0))
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    fill(c, &mut rows).await?;
    Ok(rows)
}

/// The WhatsApp id of the ticket's latest customer message (what the outbox marks read).
pub async fn last_inbound_wa_id(
    c: &mut Conn,
    ticket: TicketId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT wa_id FROM messages WHERE ticket_id = ? AND direction = 'in' AND wa_id IS NOT NULL ORDER BY id DESC LIMIT 1")
        .bind(ticket)
        .fetch_optional(&mut *c)
        .await
}

/// Applies an edit, keeping the old text in `message_edits`.
pub async fn edit(
    c: &mut Conn,
    id: MessageId,
    new_body: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO message_edits (message_id, old_body, at) SELECT id, body, ? FROM messages WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?")
        .bind(new_body)
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    index(c, id, Some(new_body)).await
}

/// Marks a message revoked (the text stays for the audit trail; search no longer finds it).
pub async fn revoke(c: &mut Conn, id: MessageId, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    index(c, id, None).await
}

/// Sets or clears (empty) the customer's reaction.
pub async fn set_reaction(c: &mut Conn, id: MessageId, emoji: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET reaction = ? WHERE id = ?")
        .bind((!emoji.is_empty()).then_some(emoji))
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Moves an outgoing message's status forward (a late `delivered` never undoes `read`) and
/// logs it. Returns whether it changed.
pub async fn advance_status(
    c: &mut Conn,
    id: MessageId,
    status: MessageStatus,
    detail: Option<&str>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let cur: Option<MessageStatus> = sqlx::query_scalar("SELECT status FROM messages WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
    let Some(cur) = cur else { return Ok(false) };
    if !cur.may_advance_to(status) {
        return Ok(false);
    }
    sqlx::query("UPDATE messages SET status = ? WHERE id = ?")
        .bind(status)
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO message_delivery_log (message_id, status, detail, at) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(status)
    .bind(detail)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(true)
}

/// Sets a status unconditionally (queued <-> held by admin decisions) and logs it.
pub async fn set_status(
    c: &mut Conn,
    id: MessageId,
    status: MessageStatus,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET status = ? WHERE id = ?")
        .bind(status)
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("INSERT INTO message_delivery_log (message_id, status, at) VALUES (?, ?, ?)")
        .bind(id)
        .bind(status)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// One delivery-log row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeliveryLogEntry {
    /// The status reached.
    pub status: String,
    /// Error text and the like.
    pub detail: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A message's delivery log, oldest first.
pub async fn delivery_log(
    c: &mut Conn,
    id: MessageId,
) -> Result<Vec<DeliveryLogEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT status, detail, at FROM message_delivery_log WHERE message_id = ? ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
}

/// Which messages a search may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope<'a> {
    /// Everything (admins).
    All,
    /// Only these tickets.
    Tickets(&'a [TicketId]),
    /// What this agent may see (`db::tickets::VISIBLE_TO_AGENT`): (agent, their branch).
    Agent(
        crate::domain::ids::AgentId,
        Option<crate::domain::ids::BranchId>,
    ),
}

/// Full-text search (an FTS5 expression from `domain::search::fts_query`), newest first.
pub async fn search(
    c: &mut Conn,
    fts: &str,
    scope: SearchScope<'_>,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT m.* FROM messages_fts f JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH ",
    );
    q.push_bind(fts.to_owned());
    match scope {
        SearchScope::All => {}
        SearchScope::Tickets([]) => {
            q.push(" AND 0");
        }
        SearchScope::Tickets(ids) => {
            q.push(" AND m.ticket_id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            sep.push_unseparated(")");
        }
        SearchScope::Agent(agent, branch) => {
            q.push(" AND m.ticket_id IN (SELECT v.id FROM tickets v WHERE (v.agent_id = ")
                .push_bind(agent);
            q.push(" OR (v.agent_id IS NULL AND (v.branch_id IS NULL OR v.branch_id = ")
                .push_bind(branch);
            q.push(
                ")) OR v.customer_id IN (SELECT s.customer_id FROM tickets s WHERE s.agent_id = ",
            )
            .push_bind(agent);
            q.push(" AND s.status <> 'closed')))");
        }
    }
    // By the FTS rowid (= m.id): FTS5 walks its doclist newest first and stops at the limit;
    // ordering by m.id made SQLite sort every match (230 ms for a common word in 1M messages).
    q.push(" ORDER BY f.rowid DESC LIMIT ").push_bind(limit);
    let mut rows = q.build_query_as().fetch_all(&mut *c).await?;
    fill(c, &mut rows).await?;
    Ok(rows)
}

/// Records a media file's metadata (idempotent). The type is stored normalised
/// ([`crate::domain::mime::normalise`]) whoever names it.
pub async fn insert_media(
    c: &mut Conn,
    sha256: &str,
    mime: &str,
    size: i64,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT OR IGNORE INTO media (sha256, mime, size, created_at) VALUES (?, ?, ?, ?)")
        .bind(sha256)
        .bind(crate::domain::mime::normalise(mime))
        .bind(size)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}
