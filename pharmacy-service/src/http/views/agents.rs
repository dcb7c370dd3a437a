//! Answers of the agent and branch routes.

use crate::app::{Agent, Branch, KpiRow};
use crate::domain::ids::{AgentId, BranchId, TicketId, UserId};
use crate::domain::routing::AgentStatus;
use crate::domain::schedule::WeeklyHours;
use crate::domain::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// An agent in the directory: everyone sees who they are and whether they can take a ticket
/// (enough to transfer one); admins also get the rest of the row (the fields marked
/// "admins"), which are absent for agents.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentEntry {
    /// Id.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Branch.
    pub branch_id: Option<BranchId>,
    /// Presence.
    pub status: AgentStatus,
    /// Whether the login is active.
    pub is_active: bool,
    /// Admins: their login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// Admins: login name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Admins: maximum open and pending tickets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i64>,
    /// Admins: weekly roster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shifts: Option<WeeklyHours>,
    /// Admins: last presence change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<Timestamp>,
    /// Admins: last ticket given to them (absent when none yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<Timestamp>,
    /// Admins: open and pending tickets assigned now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_tickets: Option<i64>,
}

impl AgentEntry {
    /// What the caller sees of `a`: the whole row for admins.
    pub fn of(a: &Agent, admin: bool) -> AgentEntry {
        AgentEntry {
            id: a.id,
            name: a.name.clone(),
            branch_id: a.branch_id,
            status: a.status,
            is_active: a.is_active,
            user_id: admin.then_some(a.user_id),
            username: admin.then(|| a.username.clone()),
            capacity: admin.then_some(a.capacity),
            shifts: admin.then(|| a.shifts.clone()),
            status_changed_at: admin.then_some(a.status_changed_at),
            last_assigned_at: a.last_assigned_at.filter(|_| admin),
            open_tickets: admin.then_some(a.open_tickets),
        }
    }
}

/// One agent and their live connections.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentDetailView {
    /// The agent (as in the directory).
    pub agent: AgentEntry,
    /// Open live sockets (browser tabs) now.
    pub live_connections: u64,
}

/// One agent, the whole row (admins' changes answer with it).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentView {
    /// The agent.
    pub agent: Agent,
}

/// An agent's KPIs over a range of local days.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentKpiView {
    /// The agent.
    pub agent_id: AgentId,
    /// First local day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub from: String,
    /// Last local day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub to: String,
    /// `null` when the agent had no activity.
    #[schema(required = true)]
    pub kpi: Option<KpiRow>,
    /// `[name, formula]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub formulas: Vec<(&'static str, &'static str)>,
}

/// An agent's new presence and the tickets it brought them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusView {
    /// The agent.
    pub agent_id: AgentId,
    /// Their presence now.
    pub status: AgentStatus,
    /// Tickets assigned to them by this change (coming online hands out the backlog).
    pub assigned_tickets: Vec<TicketId>,
}

/// One branch.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BranchView {
    /// The branch.
    pub branch: Branch,
}
