//! Ticket lifecycle: close (with the survey), pending, reopen, and the by-hand edits (open a
//! ticket for a known customer, priority and subject, delete, internal notes). Who serves a
//! ticket is `assignment`.

use super::events::LiveEvent;
use super::inbound::journal;
use super::{App, AppError, not_found};
use crate::db::tickets::Ticket;
use crate::db::{self, Conn};
use crate::domain::ids::{TicketId, UserId};
use crate::domain::kpi::TicketEventKind;
use crate::domain::ticket::{self, Actor, TicketCommand, TicketStatus};
use crate::domain::time::Timestamp;

impl App {
    /// Closes a ticket (agent, admin, or the service). Sends the satisfaction survey when
    /// enabled and a person closed it.
    pub async fn close_ticket(
        &self,
        id: TicketId,
        actor: Actor,
        reason: Option<&str>,
    ) -> Result<Ticket, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let queued = self
            .close_in(&mut tx, id, actor, reason, now, &mut events)
            .await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        tx.commit().await?;
        self.publish_all(events);
        if queued {
            self.wake_outbox();
        }
        Ok(t)
    }

    pub(crate) async fn close_in(
        &self,
        c: &mut Conn,
        id: TicketId,
        actor: Actor,
        reason: Option<&str>,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<bool, AppError> {
        let t = db::tickets::by_id(c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let to = ticket::transition(t.status, TicketCommand::Close, actor)?
            .unwrap_or(TicketStatus::Closed);
        let reason = reason.unwrap_or(match actor {
            Actor::System => "inactivity",
            _ => "resolved",
        });
        db::tickets::close(c, id, actor.user(), reason, now).await?;
        db::tickets::log_state(c, id, Some(t.status), to, actor, Some(reason), now).await?;
        journal(c, id, t.branch_id, TicketEventKind::Closed, now).await?;
        if let Some(a) = t.agent_id {
            db::kpi::record_time(c, id, a, t.branch_id, "resolution", t.opened_at, now).await?;
            db::customers::set_last_agent(c, t.customer_id, a, now).await?;
        }
        db::activity::log(
            c,
            actor.user(),
            "ticket.closed",
            Some(("ticket", id.0)),
            Some(&serde_json::json!({ "reason": reason })),
            now,
        )
        .await?;
        let mut queued = false;
        if self.config().csat_enabled
            && matches!(actor, Actor::Agent(_) | Actor::Admin(_))
            && let Some(tpl) = db::templates::global(c, "csat_survey").await?
        {
            let closed = db::tickets::by_id(c, id)
                .await?
                .ok_or_else(|| not_found("ticket", id.0))?;
            let cu = db::customers::by_id(c, t.customer_id)
                .await?
                .ok_or_else(|| not_found("customer", t.customer_id.0))?;
            let body = self.render_for(c, &tpl.body, &cu, &closed).await?;
            self.enqueue_system(c, &closed, &cu, &body, now, events)
                .await?;
            db::tickets::set_csat_requested(c, id, now).await?;
            queued = true;
        }
        let ticket = db::tickets::by_id(c, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        events.push(LiveEvent::TicketClosed { ticket });
        Ok(queued)
    }

    /// Open -> pending (waiting on the customer), or pending -> open (`resume`).
    pub async fn set_pending(
        &self,
        id: TicketId,
        actor: Actor,
        pending: bool,
    ) -> Result<Ticket, AppError> {
        let cmd = if pending {
            TicketCommand::AwaitCustomer
        } else {
            TicketCommand::Resume
        };
        self.simple_transition(id, actor, cmd).await
    }

    /// Reopens a closed ticket by hand (a new care cycle; routed again).
    pub async fn reopen_ticket(&self, id: TicketId, actor: Actor) -> Result<Ticket, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let to = ticket::transition(t.status, TicketCommand::Reopen, actor)?
            .unwrap_or(TicketStatus::Open);
        if let Some(active) = db::tickets::latest_for_customer(&mut tx, t.customer_id).await?
            && active.id != id
            && active.status != TicketStatus::Closed
        {
            return Err(AppError::Conflict(format!(
                "the customer already has open ticket {}",
                active.id
            )));
        }
        db::tickets::reopen(&mut tx, id, now).await?;
        db::tickets::log_state(
            &mut tx,
            id,
            Some(t.status),
            to,
            actor,
            Some("reopened"),
            now,
        )
        .await?;
        journal(&mut tx, id, t.branch_id, TicketEventKind::Reopened, now).await?;
        // The reopening agent keeps it; otherwise routing decides.
        let agent = match actor {
            Actor::Agent(u) => db::agents::by_user(&mut tx, u).await?,
            _ => None,
        };
        let reopened = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        match agent {
            Some(a) => {
                self.assign_to(
                    &mut tx,
                    &reopened,
                    Some(a.id),
                    a.branch_id.or(t.branch_id),
                    "claim",
                    actor.user(),
                    "reopened by agent",
                    now,
                    &mut events,
                )
                .await?
            }
            None => {
                self.route_ticket(&mut tx, id, None, now, &mut events)
                    .await?;
            }
        }
        db::activity::log(
            &mut tx,
            actor.user(),
            "ticket.reopened",
            Some(("ticket", id.0)),
            None,
            now,
        )
        .await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        events.push(LiveEvent::TicketUpdated { ticket: t.clone() });
        tx.commit().await?;
        self.publish_all(events);
        Ok(t)
    }

    async fn simple_transition(
        &self,
        id: TicketId,
        actor: Actor,
        cmd: TicketCommand,
    ) -> Result<Ticket, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        if let Some(to) = ticket::transition(t.status, cmd, actor)? {
            db::tickets::set_status(&mut tx, id, to, now).await?;
            db::tickets::log_state(&mut tx, id, Some(t.status), to, actor, None, now).await?;
            db::activity::log(
                &mut tx,
                actor.user(),
                &format!("ticket.{}", to.as_str()),
                Some(("ticket", id.0)),
                None,
                now,
            )
            .await?;
        }
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::TicketUpdated { ticket: t.clone() }]);
        Ok(t)
    }

    /// Opens a ticket for a known customer by hand (a phone call, a walk-in), with its subject
    /// and priority, assigned to the creating agent, in one transaction. Conflict if the
    /// customer already has an active ticket.
    pub async fn create_ticket(
        &self,
        customer: crate::domain::ids::CustomerId,
        by: UserId,
        subject: Option<&str>,
        priority: Option<crate::domain::ticket::Priority>,
    ) -> Result<Ticket, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let admin = db::users::by_id(&mut tx, by)
            .await?
            .is_some_and(|u| u.role == "admin");
        let seat = db::agents::by_user(&mut tx, by).await?;
        if !admin && seat.is_none() {
            return Err(AppError::Forbidden("no agent seat".into()));
        }
        db::customers::by_id(&mut tx, customer)
            .await?
            .ok_or_else(|| not_found("customer", customer.0))?;
        // An agent opens tickets only for a customer whose history they may already read:
        // one they serve or just added (see `agent_may_open_ticket`). Anyone else's
        // customer is "not found", as invisible objects are everywhere.
        let allowed = admin
            || match seat {
                Some(a) => {
                    db::customers::agent_may_open_ticket(&mut tx, customer, a.id, by).await?
                }
                None => false,
            };
        if !allowed {
            return Err(not_found("customer", customer.0));
        }
        if let Some(t) = db::tickets::latest_for_customer(&mut tx, customer).await?
            && t.status != TicketStatus::Closed
        {
            return Err(AppError::Conflict(format!(
                "the customer already has open ticket {}",
                t.id
            )));
        }
        let id = db::tickets::insert(&mut tx, customer, None, now).await?;
        db::tickets::update_meta(&mut tx, id, priority, subject).await?;
        let actor = match db::agents::by_user(&mut tx, by).await? {
            Some(_) => Actor::Agent(by),
            None => Actor::Admin(by),
        };
        db::tickets::log_state(
            &mut tx,
            id,
            None,
            TicketStatus::Open,
            actor,
            Some("opened by hand"),
            now,
        )
        .await?;
        journal(&mut tx, id, None, TicketEventKind::Created, now).await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        match db::agents::by_user(&mut tx, by).await? {
            Some(a) => {
                self.assign_to(
                    &mut tx,
                    &t,
                    Some(a.id),
                    a.branch_id,
                    "claim",
                    Some(by),
                    "opened by agent",
                    now,
                    &mut events,
                )
                .await?
            }
            None => {
                self.route_ticket(&mut tx, id, None, now, &mut events)
                    .await?;
            }
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "ticket.created",
            Some(("ticket", id.0)),
            None,
            now,
        )
        .await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        events.push(LiveEvent::TicketUpdated { ticket: t.clone() });
        tx.commit().await?;
        self.publish_all(events);
        Ok(t)
    }

    /// Changes priority and/or subject.
    pub async fn patch_ticket(
        &self,
        id: TicketId,
        by: UserId,
        priority: Option<crate::domain::ticket::Priority>,
        subject: Option<&str>,
    ) -> Result<Ticket, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        db::tickets::update_meta(&mut tx, id, priority, subject).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "ticket.updated",
            Some(("ticket", id.0)),
            Some(&serde_json::json!({ "priority": priority, "subject": subject })),
            now,
        )
        .await?;
        let t = db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::TicketUpdated { ticket: t.clone() }]);
        Ok(t)
    }

    /// Deletes a ticket with its messages (admins only; the caller checks the role).
    pub async fn delete_ticket(&self, id: TicketId, admin: UserId) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if !db::tickets::delete(&mut tx, id).await? {
            return Err(not_found("ticket", id.0));
        }
        db::activity::log(
            &mut tx,
            Some(admin),
            "ticket.deleted",
            Some(("ticket", id.0)),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds an internal note to a ticket (never sent to the customer).
    pub async fn add_ticket_note(
        &self,
        id: TicketId,
        by: UserId,
        body: &str,
    ) -> Result<db::tickets::TicketNote, AppError> {
        super::check_note_body(body)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        db::tickets::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("ticket", id.0))?;
        let note = db::tickets::add_note(&mut tx, id, by, body, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "ticket.note",
            Some(("ticket", id.0)),
            None,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(note)
    }
}
