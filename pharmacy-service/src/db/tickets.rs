//! Tickets, their state and transfer logs, and the KPI event journal.

use super::Conn;
use crate::domain::ids::{AgentId, BranchId, CustomerId, LabelId, TicketId, UserId};
use crate::domain::kpi::{TicketEvent, TicketEventKind};
use crate::domain::ticket::{Actor, Priority, TicketStatus};
use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A ticket row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ticket {
    /// Id.
    pub id: TicketId,
    /// The customer.
    pub customer_id: CustomerId,
    /// The serving branch.
    pub branch_id: Option<BranchId>,
    /// The assigned agent (None = unassigned queue).
    pub agent_id: Option<AgentId>,
    /// Lifecycle state.
    pub status: TicketStatus,
    /// Priority.
    pub priority: Priority,
    /// Optional subject.
    pub subject: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Start of the current care cycle (creation or latest reopen).
    pub opened_at: Timestamp,
    /// When the current agent got it.
    pub assigned_at: Option<Timestamp>,
    /// First agent reply in the current cycle.
    pub first_response_at: Option<Timestamp>,
    /// First unanswered customer message.
    pub waiting_since: Option<Timestamp>,
    /// Last message or state change.
    pub last_activity_at: Timestamp,
    /// When closed.
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by_user_id: Option<UserId>,
    /// Why (`agent`, `inactivity`, ...).
    pub close_reason: Option<String>,
    /// Times reopened.
    pub reopen_count: i64,
    /// When the satisfaction survey went out.
    pub csat_requested_at: Option<Timestamp>,
    /// When a delay was flagged for the current assignment.
    pub delay_flagged_at: Option<Timestamp>,
    /// Brought in open or pending by the switch-over import at this time and not reviewed yet
    /// (kept, reassigned or closed); the inactivity job leaves such tickets alone.
    #[sqlx(default)]
    pub carried_over_at: Option<Timestamp>,
}

/// One ticket.
pub async fn by_id(c: &mut Conn, id: TicketId) -> Result<Option<Ticket>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM tickets WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// The customer's current ticket: the one not closed (the schema allows at most one), else the
/// newest. Not simply the newest: an older ticket reopened after a newer one was closed is the
/// current one.
pub async fn latest_for_customer(
    c: &mut Conn,
    customer: CustomerId,
) -> Result<Option<Ticket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM tickets WHERE customer_id = ? ORDER BY status <> 'closed' DESC, id DESC LIMIT 1",
    )
    .bind(customer)
    .fetch_optional(&mut *c)
    .await
}

/// Creates an open ticket.
pub async fn insert(
    c: &mut Conn,
    customer: CustomerId,
    branch: Option<BranchId>,
    now: Timestamp,
) -> Result<TicketId, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (customer_id, branch_id, status, created_at, opened_at, last_activity_at)
         VALUES (?, ?, 'open', ?, ?, ?) RETURNING id",
    )
    .bind(customer)
    .bind(branch)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    Ok(TicketId(id))
}

/// Reopens a closed ticket: a new care cycle, unassigned until routed again.
pub async fn reopen(c: &mut Conn, id: TicketId, now: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET status = 'open', opened_at = ?1, first_response_at = NULL, waiting_since = NULL,
             closed_at = NULL, closed_by_user_id = NULL, close_reason = NULL, reopen_count = reopen_count + 1,
             csat_requested_at = NULL, delay_flagged_at = NULL, agent_id = NULL, assigned_at = NULL,
             last_activity_at = ?1
         WHERE id = ?2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets the status of an open or pending ticket.
pub async fn set_status(
    c: &mut Conn,
    id: TicketId,
    status: TicketStatus,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET status = ?, last_activity_at = ? WHERE id = ?")
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Closes a ticket.
pub async fn close(
    c: &mut Conn,
    id: TicketId,
    by: Option<UserId>,
    reason: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET status = 'closed', closed_at = ?1, closed_by_user_id = ?2, close_reason = ?3,
             waiting_since = NULL, last_activity_at = ?1, carried_over_at = NULL WHERE id = ?4",
    )
    .bind(now)
    .bind(by)
    .bind(reason)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Ends the carried-over review of an open or pending ticket: a normal ticket from now on,
/// its inactivity clock starting at `now`. False when it was not waiting for review.
pub async fn end_carry_over(
    c: &mut Conn,
    id: TicketId,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE tickets SET carried_over_at = NULL, last_activity_at = max(last_activity_at, ?1)
         WHERE id = ?2 AND carried_over_at IS NOT NULL AND status <> 'closed'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Assigns (or unassigns with `None`) and sets the branch.
pub async fn assign(
    c: &mut Conn,
    id: TicketId,
    agent: Option<AgentId>,
    branch: Option<BranchId>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET agent_id = ?, branch_id = ?, assigned_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END,
             delay_flagged_at = NULL WHERE id = ?",
    )
    .bind(agent)
    .bind(branch)
    .bind(agent)
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A customer message arrived: activity, and the reply clock starts if it was not running;
/// returns the updated ticket.
pub async fn note_customer_message(
    c: &mut Conn,
    id: TicketId,
    at: Timestamp,
) -> Result<Option<Ticket>, sqlx::Error> {
    sqlx::query_as("UPDATE tickets SET last_activity_at = max(last_activity_at, ?1), waiting_since = coalesce(waiting_since, ?1) WHERE id = ?2 RETURNING *")
        .bind(at)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
}

/// An agent replied: the first-response and reply clocks stop.
pub async fn note_agent_message(
    c: &mut Conn,
    id: TicketId,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET last_activity_at = ?1, waiting_since = NULL,
             first_response_at = coalesce(first_response_at, ?1) WHERE id = ?2",
    )
    .bind(at)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Records activity without touching the KPI clocks.
pub async fn touch(c: &mut Conn, id: TicketId, at: Timestamp) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET last_activity_at = max(last_activity_at, ?) WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Marks that the satisfaction survey was sent.
pub async fn set_csat_requested(
    c: &mut Conn,
    id: TicketId,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET csat_requested_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Marks that a delay was flagged for the current assignment.
pub async fn set_delay_flagged(
    c: &mut Conn,
    id: TicketId,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET delay_flagged_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Sets priority and subject.
pub async fn update_meta(
    c: &mut Conn,
    id: TicketId,
    priority: Option<Priority>,
    subject: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE tickets SET priority = coalesce(?, priority), subject = coalesce(?, subject) WHERE id = ?")
        .bind(priority)
        .bind(subject)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Deletes a ticket and everything hanging off it (admin only).
pub async fn delete(c: &mut Conn, id: TicketId) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE ticket_id = ?)",
    )
    .bind(id)
    .execute(&mut *c)
    .await?;
    let r = sqlx::query("DELETE FROM tickets WHERE id = ?")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Unassigned open tickets, oldest first (the queue).
pub async fn unassigned(c: &mut Conn, limit: i64) -> Result<Vec<Ticket>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM tickets WHERE agent_id IS NULL AND status = 'open' ORDER BY opened_at, id LIMIT ?")
        .bind(limit)
        .fetch_all(&mut *c)
        .await
}

/// Assigned tickets with no first response `timeout_ms` after assignment while the customer
/// waits, not yet flagged for this assignment.
pub async fn delayed(c: &mut Conn, assigned_before: Timestamp) -> Result<Vec<Ticket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM tickets WHERE status = 'open' AND agent_id IS NOT NULL AND first_response_at IS NULL
             AND waiting_since IS NOT NULL AND assigned_at <= ?1 AND waiting_since <= ?1
             AND (delay_flagged_at IS NULL OR delay_flagged_at < assigned_at)
             AND carried_over_at IS NULL
         ORDER BY assigned_at, id",
    )
    .bind(assigned_before)
    .fetch_all(&mut *c)
    .await
}

/// Open or pending tickets idle since before `idle_before`, except carried-over ones waiting
/// for review.
pub async fn idle(c: &mut Conn, idle_before: Timestamp) -> Result<Vec<Ticket>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM tickets WHERE status IN ('open', 'pending') AND last_activity_at <= ? AND carried_over_at IS NULL ORDER BY id")
        .bind(idle_before)
        .fetch_all(&mut *c)
        .await
}

/// Filters for listing tickets. `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketFilter {
    /// Only this status.
    pub status: Option<TicketStatus>,
    /// Only this branch.
    pub branch_id: Option<BranchId>,
    /// Only this agent.
    pub agent_id: Option<AgentId>,
    /// Only this customer.
    pub customer_id: Option<CustomerId>,
    /// Only unassigned.
    pub unassigned: Option<bool>,
    /// Visible to this agent (see [`VISIBLE_TO_AGENT`]).
    pub visible_to_agent: Option<(AgentId, Option<BranchId>)>,
    /// Whose customer matches this full-text expression.
    pub customer_fts: Option<String>,
    /// Only carried-over tickets waiting for review (`true`) or only the others (`false`).
    pub carried_over: Option<bool>,
    /// Only tickets carrying this label.
    pub label_id: Option<LabelId>,
}

/// The rule for what an agent sees: tickets assigned to them; the unassigned queue of their
/// branch (and tickets with no branch yet); and every ticket of a customer they are serving
/// now (the customer's history).
pub const VISIBLE_TO_AGENT: &str = "agent_id = :agent OR (agent_id IS NULL AND (branch_id IS NULL OR branch_id = :branch)) \
     OR customer_id IN (SELECT customer_id FROM tickets WHERE agent_id = :agent AND status <> 'closed')";

fn push_visibility(
    q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>,
    alias: &str,
    agent: AgentId,
    branch: Option<BranchId>,
) {
    q.push(format!("({alias}.agent_id = ")).push_bind(agent);
    q.push(format!(
        " OR ({alias}.agent_id IS NULL AND ({alias}.branch_id IS NULL OR {alias}.branch_id = "
    ))
    .push_bind(branch);
    q.push(format!(
        ")) OR {alias}.customer_id IN (SELECT s.customer_id FROM tickets s WHERE s.agent_id = "
    ))
    .push_bind(agent);
    q.push(" AND s.status <> 'closed'))");
}

/// Whether an agent may see a ticket ([`VISIBLE_TO_AGENT`]).
pub async fn visible_to_agent(
    c: &mut Conn,
    id: TicketId,
    agent: AgentId,
    branch: Option<BranchId>,
) -> Result<bool, sqlx::Error> {
    let mut q =
        sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT count(*) FROM tickets v WHERE v.id = ");
    q.push_bind(id).push(" AND ");
    push_visibility(&mut q, "v", agent, branch);
    let n: i64 = q.build_query_scalar().fetch_one(&mut *c).await?;
    Ok(n > 0)
}

/// Tickets by last activity, newest first; the cursor is `(last_activity_at, id)` of the last
/// row of the previous page.
pub async fn list(
    c: &mut Conn,
    f: &TicketFilter,
    after: Option<(Timestamp, TicketId)>,
    limit: i64,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT t.* FROM tickets t WHERE 1=1");
    if let Some(s) = f.status {
        q.push(" AND t.status = ").push_bind(s);
    }
    if let Some(b) = f.branch_id {
        q.push(" AND t.branch_id = ").push_bind(b);
    }
    if let Some(a) = f.agent_id {
        q.push(" AND t.agent_id = ").push_bind(a);
    }
    if let Some(cu) = f.customer_id {
        q.push(" AND t.customer_id = ").push_bind(cu);
    }
    if f.unassigned == Some(true) {
        q.push(" AND t.agent_id IS NULL");
    }
    if let Some(l) = f.label_id {
        q.push(" AND t.id IN (SELECT ticket_id FROM ticket_labels WHERE label_id = ")
            .push_bind(l)
            .push(")");
    }
    match f.carried_over {
        Some(true) => q.push(" AND t.carried_over_at IS NOT NULL AND t.status <> 'closed'"),
        Some(false) => q.push(" AND t.carried_over_at IS NULL"),
        None => &mut q,
    };
    if let Some((agent, branch)) = f.visible_to_agent {
        q.push(" AND ");
        push_visibility(&mut q, "t", agent, branch);
    }
    if let Some(fts) = &f.customer_fts {
        q.push(" AND t.customer_id IN (SELECT rowid FROM customers_fts WHERE customers_fts MATCH ")
            .push_bind(fts.clone())
            .push(")");
    }
    if let Some((at, id)) = after {
        q.push(" AND (t.last_activity_at < ").push_bind(at);
        q.push(" OR (t.last_activity_at = ").push_bind(at);
        q.push(" AND t.id < ").push_bind(id).push("))");
    }
    q.push(" ORDER BY t.last_activity_at DESC, t.id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(&mut *c).await
}

/// Logs a status transition.
pub async fn log_state(
    c: &mut Conn,
    id: TicketId,
    from: Option<TicketStatus>,
    to: TicketStatus,
    actor: Actor,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_state_log (ticket_id, from_status, to_status, actor_kind, actor_user_id, reason, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(actor.kind_str())
    .bind(actor.user())
    .bind(reason)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// One row of the state log.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StateLogEntry {
    /// Previous status (None at creation).
    pub from_status: Option<TicketStatus>,
    /// New status.
    pub to_status: TicketStatus,
    /// `customer`, `agent`, `admin` or `system`.
    pub actor_kind: String,
    /// The acting user.
    pub actor_user_id: Option<UserId>,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// A ticket's state log, oldest first.
pub async fn state_log(c: &mut Conn, id: TicketId) -> Result<Vec<StateLogEntry>, sqlx::Error> {
    sqlx::query_as("SELECT from_status, to_status, actor_kind, actor_user_id, reason, at FROM ticket_state_log WHERE ticket_id = ? ORDER BY id")
        .bind(id)
        .fetch_all(&mut *c)
        .await
}

/// One row of the transfer log.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TransferLogEntry {
    /// `route`, `backlog`, `transfer`, `assign`, `claim`, `reassign_delay`.
    pub kind: String,
    /// Previous agent.
    pub from_agent_id: Option<AgentId>,
    /// New agent.
    pub to_agent_id: Option<AgentId>,
    /// Previous branch.
    pub from_branch_id: Option<BranchId>,
    /// New branch.
    pub to_branch_id: Option<BranchId>,
    /// Who did it (None = the service).
    pub by_user_id: Option<UserId>,
    /// The required note.
    pub note: String,
    /// When.
    pub at: Timestamp,
}

/// Logs an assignment change.
pub async fn log_transfer(
    c: &mut Conn,
    id: TicketId,
    e: &TransferLogEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ticket_transfer_log (ticket_id, kind, from_agent_id, to_agent_id, from_branch_id, to_branch_id, by_user_id, note, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(&e.kind)
    .bind(e.from_agent_id)
    .bind(e.to_agent_id)
    .bind(e.from_branch_id)
    .bind(e.to_branch_id)
    .bind(e.by_user_id)
    .bind(&e.note)
    .bind(e.at)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A ticket's transfer log, oldest first.
pub async fn transfer_log(
    c: &mut Conn,
    id: TicketId,
) -> Result<Vec<TransferLogEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, from_agent_id, to_agent_id, from_branch_id, to_branch_id, by_user_id, note, at
         FROM ticket_transfer_log WHERE ticket_id = ? ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
}

/// Appends to the KPI journal.
pub async fn append_event(c: &mut Conn, e: &TicketEvent) -> Result<(), sqlx::Error> {
    let (kind, agent, value) = e.kind.to_row();
    sqlx::query("INSERT INTO ticket_events (ticket_id, kind, agent_id, branch_id, value, at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(e.ticket)
        .bind(kind)
        .bind(agent)
        .bind(e.branch)
        .bind(value)
        .bind(e.at)
        .execute(&mut *c)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EventRow {
    ticket_id: TicketId,
    kind: String,
    agent_id: Option<AgentId>,
    branch_id: Option<BranchId>,
    value: Option<i64>,
    at: Timestamp,
}

/// The full journals of every ticket with an event in `[from, to)`, in journal order.
pub async fn events_touching(
    c: &mut Conn,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<TicketEvent>, sqlx::Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT ticket_id, kind, agent_id, branch_id, value, at FROM ticket_events
         WHERE ticket_id IN (SELECT DISTINCT ticket_id FROM ticket_events WHERE at >= ? AND at < ?)
         ORDER BY id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(TicketEvent {
                ticket: r.ticket_id,
                at: r.at,
                branch: r.branch_id,
                kind: TicketEventKind::from_row(&r.kind, r.agent_id, r.value)?,
            })
        })
        .collect())
}

/// An internal note on a ticket (never sent to the customer).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TicketNote {
    /// Id.
    pub id: i64,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who wrote it.
    pub author_user_id: Option<UserId>,
    /// Text.
    pub body: String,
    /// When.
    pub created_at: Timestamp,
}

/// Adds an internal note.
pub async fn add_note(
    c: &mut Conn,
    id: TicketId,
    author: UserId,
    body: &str,
    now: Timestamp,
) -> Result<TicketNote, sqlx::Error> {
    sqlx::query_as("INSERT INTO ticket_notes (ticket_id, author_user_id, body, created_at) VALUES (?, ?, ?, ?) RETURNING *")
        .bind(id)
        .bind(author)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *c)
        .await
}

/// A ticket's notes, oldest first.
pub async fn notes(c: &mut Conn, id: TicketId) -> Result<Vec<TicketNote>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM ticket_notes WHERE ticket_id = ? ORDER BY id")
        .bind(id)
        .fetch_all(&mut *c)
        .await
}

/// A customer's tickets, newest first (history).
pub async fn for_customer(c: &mut Conn, customer: CustomerId) -> Result<Vec<Ticket>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM tickets WHERE customer_id = ? ORDER BY id DESC")
        .bind(customer)
        .fetch_all(&mut *c)
        .await
}

/// Counts of tickets by status, and unassigned open ones: (open, pending, unassigned).
pub async fn counts(c: &mut Conn) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(status = 'open'), 0), coalesce(sum(status = 'pending'), 0),
                coalesce(sum(status = 'open' AND agent_id IS NULL), 0) FROM tickets WHERE status <> 'closed'",
    )
    .fetch_one(&mut *c)
    .await
}

/// An internal note as listed, with its author's name.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct NoteEntry {
    /// Id.
    pub id: i64,
    /// The text.
    pub body: String,
    /// Who wrote it.
    pub author_user_id: Option<UserId>,
    /// Their display name.
    pub author_name: Option<String>,
    /// When.
    pub created_at: Timestamp,
}

/// A ticket's internal notes, oldest first, with their authors' names.
pub async fn notes_with_authors(c: &mut Conn, id: TicketId) -> Result<Vec<NoteEntry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.id, n.body, n.author_user_id, u.name AS author_name, n.created_at
         FROM ticket_notes n LEFT JOIN users u ON u.id = n.author_user_id
         WHERE n.ticket_id = ? ORDER BY n.id",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
}

/// Whether one of the customer's tickets that is not closed is assigned to the agent (the
/// agent serves the customer; the rule of [`VISIBLE_TO_AGENT`]).
pub async fn agent_serves(
    c: &mut Conn,
    agent: AgentId,
    customer: CustomerId,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE customer_id = ? AND status <> 'closed' AND agent_id = ?",
    )
    .bind(customer)
    .bind(agent)
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}
