//! Templates (global, per agent, and the system ones), auto-reply triggers, the once-per-day log.

use super::Conn;
use crate::domain::autoreply::{MatchKind, Trigger};
use crate::domain::ids::{AgentId, BranchId, TemplateId, TicketId, TriggerId};
use crate::domain::time::Timestamp;
use serde::Serialize;

/// A template row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Template {
    /// Id.
    pub id: TemplateId,
    /// Owner (None = global).
    pub owner_agent_id: Option<AgentId>,
    /// Stable key (`greeting`, `out_of_office`, `csat_survey`, ... for system templates).
    pub key: String,
    /// Title shown to agents.
    pub title: String,
    /// Text with `{variables}`.
    pub body: String,
    /// Used by the service itself.
    pub is_system: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Updated.
    pub updated_at: Timestamp,
}

/// Inserts or replaces a template by (owner, key).
pub async fn upsert(
    c: &mut Conn,
    owner: Option<AgentId>,
    key: &str,
    title: &str,
    body: &str,
    is_system: bool,
    now: Timestamp,
) -> Result<TemplateId, sqlx::Error> {
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM templates WHERE ifnull(owner_agent_id, 0) = ifnull(?, 0) AND key = ?",
    )
    .bind(owner)
    .bind(key)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(id) = existing {
        sqlx::query(
            "UPDATE templates SET title = ?, body = ?, is_system = ?, updated_at = ? WHERE id = ?",
        )
        .bind(title)
        .bind(body)
        .bind(is_system)
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
        return Ok(TemplateId(id));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO templates (owner_agent_id, key, title, body, is_system, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(owner)
    .bind(key)
    .bind(title)
    .bind(body)
    .bind(is_system)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(TemplateId(id))
}

/// A global template by key.
pub async fn global(c: &mut Conn, key: &str) -> Result<Option<Template>, sqlx::Error> {
    // `ifnull(owner_agent_id, 0) = 0` lets SQLite use templates_owner_key (every inbound
    // message asks for the auto-reply templates).
    sqlx::query_as(
        "SELECT * FROM templates WHERE ifnull(owner_agent_id, 0) = 0 AND owner_agent_id IS NULL AND key = ?",
    )
        .bind(key)
        .fetch_optional(&mut *c)
        .await
}

/// One template.
pub async fn by_id(c: &mut Conn, id: TemplateId) -> Result<Option<Template>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM templates WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// The templates an agent may use: global ones and their own.
pub async fn for_agent(c: &mut Conn, agent: Option<AgentId>) -> Result<Vec<Template>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM templates WHERE owner_agent_id IS NULL OR owner_agent_id = ? ORDER BY owner_agent_id IS NULL, key")
        .bind(agent)
        .fetch_all(&mut *c)
        .await
}

#[derive(sqlx::FromRow)]
struct TriggerRow {
    id: TriggerId,
    keyword: String,
    match_kind: String,
    body: String,
    branch_id: Option<BranchId>,
}

/// Every template: the global ones first, then each agent's, by key (the admins' list).
pub async fn all(c: &mut Conn) -> Result<Vec<Template>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM templates ORDER BY owner_agent_id IS NOT NULL, key")
        .fetch_all(&mut *c)
        .await
}

/// A stored auto-reply trigger with its state (the admins' list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredTrigger {
    /// Id.
    pub id: TriggerId,
    /// The keyword.
    pub keyword: String,
    /// `contains`, `exact` or `starts_with`.
    #[schema(pattern = "^(contains|exact|starts_with)$")]
    pub match_kind: String,
    /// The reply.
    pub body: String,
    /// Only for this branch's tickets.
    pub branch_id: Option<BranchId>,
    /// Whether it answers.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
}

/// Every trigger, active or not, in creation order.
pub async fn all_triggers(c: &mut Conn) -> Result<Vec<StoredTrigger>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, keyword, match_kind, body, branch_id, is_active, created_at
         FROM auto_reply_triggers ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await
}

/// Adds a trigger.
pub async fn add_trigger(
    c: &mut Conn,
    keyword: &str,
    kind: MatchKind,
    body: &str,
    branch: Option<BranchId>,
    now: Timestamp,
) -> Result<TriggerId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO auto_reply_triggers (keyword, match_kind, body, branch_id, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(keyword)
    .bind(kind.as_str())
    .bind(body)
    .bind(branch)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(TriggerId(id))
}

/// Active triggers, in creation order.
pub async fn active_triggers(c: &mut Conn) -> Result<Vec<Trigger>, sqlx::Error> {
    let rows: Vec<TriggerRow> = sqlx::query_as(
        "SELECT id, keyword, match_kind, body, branch_id FROM auto_reply_triggers WHERE is_active = 1 ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Trigger {
                id: r.id,
                keyword: r.keyword,
                match_kind: MatchKind::parse(&r.match_kind)?,
                body: r.body,
                branch: r.branch_id,
            })
        })
        .collect())
}

/// Claims "once per conversation per day" for an automatic reply; false if already sent.
pub async fn claim_auto_reply(
    c: &mut Conn,
    ticket: TicketId,
    kind: &str,
    local_day: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT OR IGNORE INTO auto_reply_log (ticket_id, kind, local_day, at) VALUES (?, ?, ?, ?)",
    )
    .bind(ticket)
    .bind(kind)
    .bind(local_day)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether an automatic reply of `kind` was ever sent in this conversation.
pub async fn auto_reply_sent(
    c: &mut Conn,
    ticket: TicketId,
    kind: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auto_reply_log WHERE ticket_id = ? AND kind = ?")
            .bind(ticket)
            .bind(kind)
            .fetch_one(&mut *c)
            .await?;
    Ok(n > 0)
}

/// Deletes a template; returns whether it existed.
pub async fn delete(c: &mut Conn, id: TemplateId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM templates WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Activates or deactivates a trigger.
pub async fn set_trigger_active(
    c: &mut Conn,
    id: TriggerId,
    active: bool,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE auto_reply_triggers SET is_active = ? WHERE id = ?")
        .bind(active)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes a trigger.
pub async fn delete_trigger(c: &mut Conn, id: TriggerId) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM auto_reply_triggers WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether an automatic reply of `kind` went out in this conversation on `local_day`.
pub async fn auto_reply_sent_on(
    c: &mut Conn,
    ticket: TicketId,
    kind: &str,
    local_day: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auto_reply_log WHERE ticket_id = ? AND kind = ? AND local_day = ?",
    )
    .bind(ticket)
    .bind(kind)
    .bind(local_day)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}
