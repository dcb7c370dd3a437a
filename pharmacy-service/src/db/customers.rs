//! Customers (one person, known by phone number, LID or both), tags, notes, search index.

use super::Conn;
use crate::domain::ids::{AgentId, BranchId, CustomerId, TicketId, UserId};
use crate::domain::search::index_text;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A customer row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// International digits (`201001234567`).
    pub phone: Option<String>,
    /// WhatsApp LID user part.
    pub lid: Option<String>,
    /// Name given by the pharmacy.
    pub name: Option<String>,
    /// Name the customer set in WhatsApp.
    pub push_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Home branch.
    pub home_branch_id: Option<BranchId>,
    /// Where they came from (`whatsapp`, `api`, ...).
    pub source: String,
    /// Mean CSAT rating.
    pub satisfaction: Option<f64>,
    /// The agent who served them last.
    pub last_agent_id: Option<AgentId>,
    /// When.
    pub last_agent_at: Option<Timestamp>,
    /// Last shared location pin.
    pub last_latitude: Option<f64>,
    /// Last shared location pin.
    pub last_longitude: Option<f64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl Customer {
    /// The best name to greet them with.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.push_name.clone())
            .unwrap_or_default()
    }

    /// The WhatsApp address to write to: the phone-number JID when known (sends to LIDs fail
    /// on some servers), else the LID JID.
    pub fn jid(&self) -> Option<String> {
        match (&self.phone, &self.lid) {
            (Some(p), _) => Some(format!("{p}@s.whatsapp.net")),
            (None, Some(l)) => Some(format!("{l}@lid")),
            _ => None,
        }
    }
}

/// One customer.
pub async fn by_id(c: &mut Conn, id: CustomerId) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM customers WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// The customer with this phone number.
pub async fn by_phone(c: &mut Conn, phone: &str) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM customers WHERE phone = ?")
        .bind(phone)
        .fetch_optional(&mut *c)
        .await
}

/// The customer with this LID.
pub async fn by_lid(c: &mut Conn, lid: &str) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM customers WHERE lid = ?")
        .bind(lid)
        .fetch_optional(&mut *c)
        .await
}

/// Records which user added the customer by hand.
pub async fn set_created_by(c: &mut Conn, id: CustomerId, by: UserId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET created_by = ? WHERE id = ?")
        .bind(by)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Whether an agent may open a ticket by hand for this customer: they serve the customer now
/// (a ticket of theirs that is not closed), or they just added the customer, which means the
/// customer was added by this user (`POST /api/customers`) and has no ticket at all yet. So a
/// hand-opened ticket never reaches a customer whose history the agent could not already read.
pub async fn agent_may_open_ticket(
    c: &mut Conn,
    customer: CustomerId,
    agent: AgentId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tickets WHERE customer_id = ?1 AND agent_id = ?2 AND status <> 'closed')
             OR (EXISTS (SELECT 1 FROM customers WHERE id = ?1 AND created_by = ?3)
                 AND NOT EXISTS (SELECT 1 FROM tickets WHERE customer_id = ?1))",
    )
    .bind(customer)
    .bind(agent)
    .bind(user)
    .fetch_one(&mut *c)
    .await
}

/// Inserts a customer.
pub async fn insert(
    c: &mut Conn,
    phone: Option<&str>,
    lid: Option<&str>,
    name: Option<&str>,
    push_name: Option<&str>,
    source: &str,
    now: Timestamp,
) -> Result<CustomerId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO customers (phone, lid, name, push_name, source, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(phone)
    .bind(lid)
    .bind(name)
    .bind(push_name)
    .bind(source)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    let id = CustomerId(id);
    reindex(c, id).await?;
    Ok(id)
}

/// Fills in a missing phone or LID and refreshes the push name.
pub async fn attach_identity(
    c: &mut Conn,
    id: CustomerId,
    phone: Option<&str>,
    lid: Option<&str>,
    push_name: Option<&str>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET phone = coalesce(phone, ?), lid = coalesce(lid, ?),
             push_name = coalesce(?, push_name), updated_at = ? WHERE id = ?",
    )
    .bind(phone)
    .bind(lid)
    .bind(push_name)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    reindex(c, id).await
}

/// Moves everything of `from` onto `into` and deletes `from` (the same person seen first by
/// LID and then by phone number). The caller has closed `from`'s active ticket.
pub async fn merge(
    c: &mut Conn,
    from: CustomerId,
    into: CustomerId,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let lid: Option<String> = sqlx::query_scalar("SELECT lid FROM customers WHERE id = ?")
        .bind(from)
        .fetch_one(&mut *c)
        .await?;
    for sql in [
        "UPDATE tickets SET customer_id = ?1 WHERE customer_id = ?2",
        "UPDATE messages SET customer_id = ?1 WHERE customer_id = ?2",
        "UPDATE OR IGNORE message_poll_votes SET customer_id = ?1 WHERE customer_id = ?2",
        "DELETE FROM message_poll_votes WHERE customer_id = ?2",
        "UPDATE outbox SET customer_id = ?1 WHERE customer_id = ?2",
        "UPDATE csat_ratings SET customer_id = ?1 WHERE customer_id = ?2",
        "UPDATE customer_notes SET customer_id = ?1 WHERE customer_id = ?2",
        "INSERT OR IGNORE INTO customer_tags (customer_id, tag, created_at) SELECT ?1, tag, created_at FROM customer_tags WHERE customer_id = ?2",
        "DELETE FROM customer_tags WHERE customer_id = ?2",
        "DELETE FROM customers WHERE id = ?2",
    ] {
        sqlx::query(sql)
            .bind(into)
            .bind(from)
            .execute(&mut *c)
            .await?;
    }
    sqlx::query("DELETE FROM customers_fts WHERE rowid = ?")
        .bind(from)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE customers SET lid = coalesce(lid, ?), updated_at = ? WHERE id = ?")
        .bind(lid)
        .bind(now)
        .bind(into)
        .execute(&mut *c)
        .await?;
    reindex(c, into).await
}

/// Editable fields.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct CustomerPatch {
    /// New name.
    pub name: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New home branch.
    pub home_branch_id: Option<BranchId>,
}

/// Applies a patch (absent fields unchanged).
pub async fn patch(
    c: &mut Conn,
    id: CustomerId,
    p: &CustomerPatch,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE customers SET name = coalesce(?, name), email = coalesce(?, email),
             home_branch_id = coalesce(?, home_branch_id), updated_at = ? WHERE id = ?",
    )
    .bind(&p.name)
    .bind(&p.email)
    .bind(p.home_branch_id)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    reindex(c, id).await?;
    Ok(r.rows_affected() == 1)
}

/// Records a shared location pin.
pub async fn set_location(
    c: &mut Conn,
    id: CustomerId,
    lat: f64,
    lon: f64,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE customers SET last_latitude = ?, last_longitude = ?, updated_at = ? WHERE id = ?",
    )
    .bind(lat)
    .bind(lon)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records the agent who served them (stickiness).
pub async fn set_last_agent(
    c: &mut Conn,
    id: CustomerId,
    agent: AgentId,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET last_agent_id = ?, last_agent_at = ? WHERE id = ?")
        .bind(agent)
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Recomputes the mean rating.
pub async fn refresh_satisfaction(c: &mut Conn, id: CustomerId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET satisfaction = (SELECT avg(rating) FROM csat_ratings WHERE customer_id = ?1) WHERE id = ?1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Adds a tag (idempotent).
pub async fn add_tag(
    c: &mut Conn,
    id: CustomerId,
    tag: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR IGNORE INTO customer_tags (customer_id, tag, created_at) VALUES (?, ?, ?)",
    )
    .bind(id)
    .bind(tag)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes a tag; false when the customer did not have it.
pub async fn remove_tag(c: &mut Conn, id: CustomerId, tag: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?")
        .bind(id)
        .bind(tag)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A customer's tags.
pub async fn tags(c: &mut Conn, id: CustomerId) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag")
        .bind(id)
        .fetch_all(&mut *c)
        .await
}

/// An internal note about a customer.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CustomerNote {
    /// Id.
    pub id: i64,
    /// The customer.
    pub customer_id: CustomerId,
    /// Who wrote it.
    pub author_user_id: Option<UserId>,
    /// Text.
    pub body: String,
    /// When.
    pub created_at: Timestamp,
}

/// Adds a note.
pub async fn add_note(
    c: &mut Conn,
    id: CustomerId,
    author: UserId,
    body: &str,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO customer_notes (customer_id, author_user_id, body, created_at) VALUES (?, ?, ?, ?) RETURNING id")
        .bind(id)
        .bind(author)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *c)
        .await
}

/// A customer's notes, newest first.
pub async fn notes(c: &mut Conn, id: CustomerId) -> Result<Vec<CustomerNote>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM customer_notes WHERE customer_id = ? ORDER BY id DESC")
        .bind(id)
        .fetch_all(&mut *c)
        .await
}

/// Customers, newest first, after `before` (cursor = id).
pub async fn list(
    c: &mut Conn,
    before: Option<CustomerId>,
    limit: i64,
) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM customers WHERE id < ? ORDER BY id DESC LIMIT ?")
        .bind(before.map_or(i64::MAX, |b| b.0))
        .bind(limit)
        .fetch_all(&mut *c)
        .await
}

/// The customers an agent serves now (a ticket of theirs assigned to the agent and not
/// closed), newest first, after `before` (cursor = id).
pub async fn served_by(
    c: &mut Conn,
    agent: AgentId,
    before: Option<CustomerId>,
    limit: i64,
) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cu.* FROM customers cu WHERE cu.id < ?2 AND cu.id IN (
            SELECT customer_id FROM tickets WHERE status <> 'closed' AND agent_id = ?1)
         ORDER BY cu.id DESC LIMIT ?3",
    )
    .bind(agent)
    .bind(before.map_or(i64::MAX, |b| b.0))
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}

/// A satisfaction rating the customer gave.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Rating {
    /// The rated ticket.
    pub ticket_id: TicketId,
    /// The agent it was credited to.
    pub agent_id: Option<AgentId>,
    /// 1-5.
    pub rating: i64,
    /// When.
    pub at: Timestamp,
}

/// The customer's ratings, newest first.
pub async fn ratings(c: &mut Conn, id: CustomerId) -> Result<Vec<Rating>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_id, agent_id, rating, at FROM csat_ratings WHERE customer_id = ? ORDER BY id DESC",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
}

async fn reindex(c: &mut Conn, id: CustomerId) -> Result<(), sqlx::Error> {
    let Some(cu) = by_id(c, id).await? else {
        return Ok(());
    };
    let mut text = [cu.name, cu.push_name, cu.phone.clone(), cu.lid, cu.email]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // Local spelling of the number too, so "0100..." finds "20100...".
    if let Some(p) = cu.phone.as_deref().and_then(|p| p.strip_prefix("20")) {
        text.push_str(&format!(" 0{p}"));
    }
    sqlx::query("DELETE FROM customers_fts WHERE rowid = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    sqlx::query("INSERT INTO customers_fts (rowid, text) VALUES (?, ?)")
        .bind(id)
        .bind(index_text(&text))
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Full-text search over names, numbers and e-mails (`query` is an FTS5 expression from
/// `domain::search::fts_query`).
pub async fn search(c: &mut Conn, fts: &str, limit: i64) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cu.* FROM customers_fts f JOIN customers cu ON cu.id = f.rowid
         WHERE customers_fts MATCH ? ORDER BY rank LIMIT ?",
    )
    .bind(fts)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
}
