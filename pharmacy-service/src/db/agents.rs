//! Agents: branch, presence, capacity, shifts, and the load routing sees.

use super::Conn;
use crate::domain::ids::{AgentId, BranchId, UserId};
use crate::domain::routing::{AgentSnapshot, AgentStatus};
use crate::domain::schedule::WeeklyHours;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// An agent with their user's name and current load.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Agent {
    /// Id.
    pub id: AgentId,
    /// Their login.
    pub user_id: UserId,
    /// Display name (from the user).
    pub name: String,
    /// Login name.
    pub username: String,
    /// Branch.
    pub branch_id: Option<BranchId>,
    /// Presence.
    pub status: AgentStatus,
    /// Maximum open and pending tickets.
    pub capacity: i64,
    /// Weekly roster.
    #[sqlx(rename = "shifts_json")]
    pub shifts: WeeklyHours,
    /// Last presence change.
    pub status_changed_at: Timestamp,
    /// Last ticket given to them.
    pub last_assigned_at: Option<Timestamp>,
    /// Open and pending tickets assigned now.
    pub open_tickets: i64,
    /// Whether the login is active.
    pub is_active: bool,
}

impl Agent {
    /// The routing view.
    pub fn snapshot(&self) -> AgentSnapshot {
        AgentSnapshot {
            id: self.id,
            branch: self.branch_id,
            status: if self.is_active {
                self.status
            } else {
                AgentStatus::Offline
            },
            open_tickets: self.open_tickets.max(0) as u32,
            capacity: self.capacity.max(0) as u32,
            shifts: self.shifts.clone(),
            last_assigned_at: self.last_assigned_at,
        }
    }
}

const SELECT: &str = "SELECT a.id, a.user_id, u.name, u.username, a.branch_id, a.status, a.capacity,
        a.shifts_json, a.status_changed_at, a.last_assigned_at, u.is_active,
        (SELECT count(*) FROM tickets t WHERE t.agent_id = a.id AND t.status <> 'closed') AS open_tickets
    FROM agents a JOIN users u ON u.id = a.user_id";

/// Inserts an agent for a user.
pub async fn insert(
    c: &mut Conn,
    user: UserId,
    branch: Option<BranchId>,
    capacity: u32,
    shifts: &WeeklyHours,
    now: Timestamp,
) -> Result<AgentId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO agents (user_id, branch_id, capacity, shifts_json, status_changed_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(user)
    .bind(branch)
    .bind(capacity as i64)
    .bind(shifts)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(AgentId(id))
}

/// All agents by id.
pub async fn list(c: &mut Conn) -> Result<Vec<Agent>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} ORDER BY a.id"))
        .fetch_all(&mut *c)
        .await
}

/// One agent.
pub async fn by_id(c: &mut Conn, id: AgentId) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE a.id = ?"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// The agent record of a user, if they are an agent.
pub async fn by_user(c: &mut Conn, user: UserId) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE a.user_id = ?"))
        .bind(user)
        .fetch_optional(&mut *c)
        .await
}

/// Sets presence; returns false if unchanged or unknown.
pub async fn set_status(
    c: &mut Conn,
    id: AgentId,
    status: AgentStatus,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE agents SET status = ?, status_changed_at = ? WHERE id = ? AND status <> ?",
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .bind(status)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Updates branch, capacity and shifts.
pub async fn update(
    c: &mut Conn,
    id: AgentId,
    branch: Option<BranchId>,
    capacity: u32,
    shifts: &WeeklyHours,
) -> Result<bool, sqlx::Error> {
    let r =
        sqlx::query("UPDATE agents SET branch_id = ?, capacity = ?, shifts_json = ? WHERE id = ?")
            .bind(branch)
            .bind(capacity as i64)
            .bind(shifts)
            .bind(id)
            .execute(&mut *c)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// Records that the agent was just given a ticket (round-robin order).
pub async fn touch_assigned(c: &mut Conn, id: AgentId, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE agents SET last_assigned_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}
