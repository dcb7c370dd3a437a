//! Who serves a ticket: routing (`domain::routing` applied), the welcome menu's branch choice,
//! transfers, agent presence (an agent going offline hands back the unanswered tickets) and the
//! backlog hand-out.

use super::events::LiveEvent;
use super::inbound::journal;
use super::{App, AppError, not_found};
use crate::db::tickets::{Ticket, TransferLogEntry};
use crate::db::{self, Conn};
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{AgentId, BranchId, TicketId, UserId};
use crate::domain::kpi::TicketEventKind;
use crate::domain::routing::{
    self, AgentSnapshot, AgentStatus, Assignment, BranchSite, QueuedTicket, RoutingCustomer,
    RoutingTicket,
};
use crate::domain::ticket::TicketStatus;
use crate::domain::time::Timestamp;
use serde::Deserialize;

/// Where a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum TransferTarget {
    /// A named agent.
    Agent(AgentId),
    /// A branch: its least-loaded eligible agent, or its queue.
    Branch(BranchId),
}

impl App {
    pub(crate) async fn routing_facts(
        &self,
        c: &mut Conn,
        t: &Ticket,
        pin: Option<GeoPoint>,
    ) -> Result<(RoutingTicket, RoutingCustomer), AppError> {
        let cu = db::customers::by_id(c, t.customer_id)
            .await?
            .ok_or_else(|| not_found("customer", t.customer_id.0))?;
        let location = pin.or(match (cu.last_latitude, cu.last_longitude) {
            (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
            _ => None,
        });
        Ok((
            RoutingTicket {
                branch: t.branch_id,
                exclude: Vec::new(),
            },
            RoutingCustomer {
                previous_agent: cu.last_agent_id.zip(cu.last_agent_at),
                home_branch: cu.home_branch_id,
                location,
            },
        ))
    }

    /// Routes an unassigned ticket (see `domain::routing`) and applies the decision.
    pub(crate) async fn route_ticket(
        &self,
        c: &mut Conn,
        id: TicketId,
        pin: Option<GeoPoint>,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<Assignment, AppError> {
        let t = db::tickets::by_id(c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let (rt, rc) = self.routing_facts(c, &t, pin).await?;
        let (agents, sites) = routing_roster(c).await?;
        let decision = routing::route(&rt, &rc, &agents, &sites, &self.routing_policy(), now);
        match decision {
            Assignment::Agent {
                agent,
                branch,
                reason,
            } => {
                self.assign_to(
                    c,
                    &t,
                    Some(agent),
                    branch,
                    "route",
                    None,
                    reason.label(),
                    now,
                    events,
                )
                .await?;
            }
            Assignment::Queue { branch } if branch != t.branch_id => {
                db::tickets::assign(c, id, None, branch, now).await?;
            }
            Assignment::Queue { .. } => {}
        }
        Ok(decision)
    }

    /// The customer chose a branch from the welcome menu: it becomes their home branch and the
    /// ticket's branch; an unanswered ticket moves to that branch's agent when one is eligible.
    pub(crate) async fn choose_branch(
        &self,
        c: &mut Conn,
        id: TicketId,
        branch: BranchId,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<(), AppError> {
        let t = db::tickets::by_id(c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let patch = db::customers::CustomerPatch {
            home_branch_id: Some(branch),
            ..Default::default()
        };
        db::customers::patch(c, t.customer_id, &patch, now).await?;
        if t.first_response_at.is_some() {
            return Ok(());
        }
        let (mut rt, mut rc) = self.routing_facts(c, &t, None).await?;
        rt.branch = Some(branch);
        rc.previous_agent = None;
        let agents: Vec<_> = db::agents::list(c)
            .await?
            .iter()
            .map(|a| a.snapshot())
            .collect();
        let mut policy = self.routing_policy();
        policy.cross_branch_fallback = false;
        match routing::route(&rt, &rc, &agents, &[], &policy, now) {
            Assignment::Agent { agent, .. } if Some(agent) != t.agent_id => {
                self.assign_to(
                    c,
                    &t,
                    Some(agent),
                    Some(branch),
                    "menu",
                    None,
                    "branch chosen from the welcome menu",
                    now,
                    events,
                )
                .await?;
            }
            // Nobody there: keep the current agent (the customer is being served), or queue for it.
            _ if t.agent_id.is_none() => {
                db::tickets::assign(c, id, None, Some(branch), now).await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets a ticket's agent and branch, logging the transfer and the journal event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn assign_to(
        &self,
        c: &mut Conn,
        t: &Ticket,
        agent: Option<AgentId>,
        branch: Option<BranchId>,
        kind: &str,
        by: Option<UserId>,
        note: &str,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<(), AppError> {
        db::tickets::assign(c, t.id, agent, branch, now).await?;
        if let Some(a) = agent {
            db::agents::touch_assigned(c, a, now).await?;
        }
        db::tickets::log_transfer(
            c,
            t.id,
            &TransferLogEntry {
                kind: kind.to_owned(),
                from_agent_id: t.agent_id,
                to_agent_id: agent,
                from_branch_id: t.branch_id,
                to_branch_id: branch,
                by_user_id: by,
                note: note.to_owned(),
                at: now,
            },
        )
        .await?;
        journal(c, t.id, branch, TicketEventKind::Assigned { agent }, now).await?;
        let ticket = db::tickets::by_id(c, t.id)
            .await?
            .ok_or_else(|| not_found("ticket", t.id.0))?;
        events.push(LiveEvent::TicketAssigned {
            ticket,
            previous_agent: t.agent_id,
            reason: note.to_owned(),
        });
        Ok(())
    }

    /// Transfers a ticket to an agent or a branch, with a required note. A branch transfer
    /// goes to that branch's least-loaded eligible agent, or waits in its queue. The customer
    /// is told when a `transfer_notice` template exists.
    pub async fn transfer_ticket(
        &self,
        id: TicketId,
        by: UserId,
        target: TransferTarget,
        note: &str,
    ) -> Result<Ticket, AppError> {
        if note.trim().is_empty() {
            return Err(AppError::Invalid {
                field: "note",
                message: "a transfer needs a note".into(),
            });
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        if t.status == TicketStatus::Closed {
            return Err(AppError::Conflict(format!("ticket {id} is closed")));
        }
        match target {
            TransferTarget::Agent(a) => {
                let agent = db::agents::by_id(&mut tx, a)
                    .await?
                    .ok_or_else(|| not_found("agent", a.0))?;
                if !agent.is_active {
                    return Err(AppError::Conflict(format!("agent {a} is deactivated")));
                }
                self.assign_to(
                    &mut tx,
                    &t,
                    Some(a),
                    agent.branch_id.or(t.branch_id),
                    "transfer",
                    Some(by),
                    note,
                    now,
                    &mut events,
                )
                .await?;
            }
            TransferTarget::Branch(b) => {
                db::branches::by_id(&mut tx, b)
                    .await?
                    .ok_or_else(|| not_found("branch", b.0))?;
                let agents: Vec<_> = db::agents::list(&mut tx)
                    .await?
                    .iter()
                    .map(|a| a.snapshot())
                    .collect();
                let (mut rt, mut rc) = self.routing_facts(&mut tx, &t, None).await?;
                rt.branch = Some(b);
                rc.previous_agent = None;
                let mut policy = self.routing_policy();
                policy.cross_branch_fallback = false;
                let chosen = match routing::route(&rt, &rc, &agents, &[], &policy, now) {
                    Assignment::Agent { agent, .. } => Some(agent),
                    Assignment::Queue { .. } => None,
                };
                self.assign_to(
                    &mut tx,
                    &t,
                    chosen,
                    Some(b),
                    "transfer",
                    Some(by),
                    note,
                    now,
                    &mut events,
                )
                .await?;
            }
        }
        let t2 = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let mut queued = false;
        if t2.branch_id != t.branch_id
            && let Some(tpl) = db::templates::global(&mut tx, "transfer_notice").await?
        {
            let cu = db::customers::by_id(&mut tx, t.customer_id)
                .await?
                .ok_or_else(|| not_found("customer", t.customer_id.0))?;
            let body = self.render_for(&mut tx, &tpl.body, &cu, &t2).await?;
            self.enqueue_system(&mut tx, &t2, &cu, &body, now, &mut events)
                .await?;
            queued = true;
        }
        db::activity::log(&mut tx, Some(by), "ticket.transferred", Some(("ticket", id.0)), Some(&serde_json::json!({ "to_agent": t2.agent_id, "to_branch": t2.branch_id, "note": note })), now).await?;
        tx.commit().await?;
        self.publish_all(events);
        if queued {
            self.wake_outbox();
        }
        Ok(t2)
    }

    /// Changes an agent's presence. Coming online hands them the unassigned backlog, oldest
    /// first, up to their capacity.
    pub async fn set_agent_status(
        &self,
        agent: AgentId,
        status: AgentStatus,
        by: Option<UserId>,
    ) -> Result<Vec<TicketId>, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let a = db::agents::by_id(&mut tx, agent)
            .await?
            .ok_or_else(|| not_found("agent", agent.0))?;
        let changed = db::agents::set_status(&mut tx, agent, status, now).await?;
        if changed {
            db::activity::log(
                &mut tx,
                by,
                "agent.status",
                Some(("agent", agent.0)),
                Some(&serde_json::json!({ "status": status })),
                now,
            )
            .await?;
            events.push(LiveEvent::AgentStatus {
                agent_id: agent,
                branch_id: a.branch_id,
                status,
            });
        }
        let assigned = if status == AgentStatus::Online {
            self.backlog_in(&mut tx, now, &mut events).await?
        } else {
            if status == AgentStatus::Offline && changed {
                self.hand_back_unanswered(&mut tx, agent, now, &mut events)
                    .await?;
            }
            Vec::new()
        };
        tx.commit().await?;
        self.publish_all(events);
        Ok(assigned)
    }

    /// An agent went offline: their tickets nobody has answered yet go to another eligible
    /// agent, or back to the queue, instead of waiting for the delay timeout. Answered tickets
    /// stay with them (the customer knows who serves them).
    async fn hand_back_unanswered(
        &self,
        c: &mut Conn,
        agent: AgentId,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<(), AppError> {
        let filter = db::tickets::TicketFilter {
            agent_id: Some(agent),
            status: Some(TicketStatus::Open),
            ..Default::default()
        };
        let (agents, sites) = routing_roster(c).await?;
        for t in db::tickets::list(c, &filter, None, 500).await? {
            if t.first_response_at.is_some() {
                continue;
            }
            let (mut rt, mut rc) = self.routing_facts(c, &t, None).await?;
            rt.exclude.push(agent);
            rc.previous_agent = None;
            match routing::route(&rt, &rc, &agents, &sites, &self.routing_policy(), now) {
                Assignment::Agent {
                    agent: to, branch, ..
                } => {
                    self.assign_to(
                        c,
                        &t,
                        Some(to),
                        branch,
                        "handback",
                        None,
                        "agent went offline",
                        now,
                        events,
                    )
                    .await?;
                }
                Assignment::Queue { .. } => {
                    self.assign_to(
                        c,
                        &t,
                        None,
                        t.branch_id,
                        "handback",
                        None,
                        "agent went offline",
                        now,
                        events,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Hands the unassigned queue out to eligible agents (also run periodically, for shifts
    /// starting). Returns the tickets assigned.
    pub async fn assign_backlog(&self) -> Result<Vec<TicketId>, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let out = self.backlog_in(&mut tx, now, &mut events).await?;
        tx.commit().await?;
        self.publish_all(events);
        Ok(out)
    }

    async fn backlog_in(
        &self,
        c: &mut Conn,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<Vec<TicketId>, AppError> {
        let queue = db::tickets::unassigned(c, 500).await?;
        if queue.is_empty() {
            return Ok(Vec::new());
        }
        let mut items = Vec::with_capacity(queue.len());
        for t in &queue {
            let (ticket, customer) = self.routing_facts(c, t, None).await?;
            items.push(QueuedTicket {
                id: t.id,
                queued_since: t.opened_at,
                ticket,
                customer,
            });
        }
        let (agents, sites) = routing_roster(c).await?;
        let plan = routing::assign_backlog(&items, &agents, &sites, &self.routing_policy(), now);
        let mut out = Vec::new();
        for (tid, agent, branch) in plan {
            if let Some(t) = queue.iter().find(|t| t.id == tid) {
                self.assign_to(
                    c,
                    t,
                    Some(agent),
                    branch,
                    "backlog",
                    None,
                    "backlog",
                    now,
                    events,
                )
                .await?;
                out.push(tid);
            }
        }
        Ok(out)
    }

    /// An admin assigns a ticket to an agent (a transfer with an automatic note when none given).
    pub async fn assign_ticket(
        &self,
        id: TicketId,
        admin: UserId,
        agent: AgentId,
        note: Option<&str>,
    ) -> Result<Ticket, AppError> {
        self.transfer_ticket(
            id,
            admin,
            TransferTarget::Agent(agent),
            note.unwrap_or("assigned by admin"),
        )
        .await
    }

    /// Updates an agent's branch, capacity and shifts (admin). Hands out the backlog if the
    /// change makes room.
    pub async fn update_agent(
        &self,
        id: AgentId,
        admin: UserId,
        branch: Option<BranchId>,
        capacity: u32,
        shifts: &crate::domain::schedule::WeeklyHours,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        if let Some(b) = branch {
            db::branches::by_id(&mut tx, b)
                .await?
                .ok_or_else(|| not_found("branch", b.0))?;
        }
        if !db::agents::update(&mut tx, id, branch, capacity, shifts).await? {
            return Err(not_found("agent", id.0));
        }
        db::activity::log(
            &mut tx,
            Some(admin),
            "agent.updated",
            Some(("agent", id.0)),
            Some(&serde_json::json!({ "branch_id": branch, "capacity": capacity })),
            now,
        )
        .await?;
        self.backlog_in(&mut tx, now, &mut events).await?;
        tx.commit().await?;
        self.publish_all(events);
        Ok(())
    }
}

/// Every agent's routing snapshot and every branch's site: what the routing functions weigh.
async fn routing_roster(c: &mut Conn) -> Result<(Vec<AgentSnapshot>, Vec<BranchSite>), AppError> {
    let agents = db::agents::list(c)
        .await?
        .iter()
        .map(|a| a.snapshot())
        .collect();
    let sites = db::branches::list(c)
        .await?
        .iter()
        .map(|b| b.site())
        .collect();
    Ok((agents, sites))
}
