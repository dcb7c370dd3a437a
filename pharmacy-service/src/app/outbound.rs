//! Outgoing messages: agents' replies and the service's automatic ones go to the durable
//! outbox and return at once; the outbox worker sends them, paced. Also the automatic replies
//! (greeting, out-of-office, keyword triggers) and the mass-send guard.

use super::events::LiveEvent;
use super::inbound::journal;
use super::{App, AppError, not_found};
use crate::db::customers::Customer;
use crate::db::messages::{Message, NewMessage};
use crate::db::outbox::NewOutbox;
use crate::db::tickets::Ticket;
use crate::db::{self, Conn};
use crate::domain::autoreply::match_trigger;
use crate::domain::ids::{MessageId, OutboxId, TemplateId, TicketId, UserId};
use crate::domain::kpi::TicketEventKind;
use crate::domain::menu::render_menu;
use crate::domain::message::{Direction, MessageKind, MessageStatus, SenderKind};
use crate::domain::pacing::{MassSendDecision, body_key};
use crate::domain::template::{TemplateVars, render};
use crate::domain::ticket::TicketStatus;
use crate::domain::time::Timestamp;
use rand::Rng;
use serde::Deserialize;

/// An agent's (or admin's) reply.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SendReply {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The writing user.
    pub user_id: UserId,
    /// Text (or caption). Required unless media or a template is given.
    pub text: Option<String>,
    /// A template to render (with the customer's, agent's and branch's names).
    pub template_id: Option<TemplateId>,
    /// Media already stored with `App::store_media`: (sha256, mime, file name).
    pub media: Option<(String, String, Option<String>)>,
    /// The stored message this replies to.
    pub reply_to: Option<MessageId>,
}

/// A fresh WhatsApp message id in the style of WhatsApp Web (`3EB0` + 16 hex digits).
pub(crate) fn new_wa_id() -> String {
    let n: u64 = rand::thread_rng().r#gen();
    format!("3EB0{n:016X}")
}

impl App {
    /// Queues an agent's reply and returns the stored message (status `queued`, or `held` when
    /// the mass-send guard wants an admin's confirmation). Never waits on WhatsApp.
    ///
    /// Stops the ticket's first-response and reply clocks, claims an unassigned ticket for the
    /// replying agent, and records the response-time samples.
    pub async fn send_reply(&self, r: SendReply) -> Result<Message, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut events = Vec::new();
        let user = db::users::by_id(&mut tx, r.user_id)
            .await?
            .ok_or_else(|| not_found("user", r.user_id.0))?;
        let agent = db::agents::by_user(&mut tx, r.user_id).await?;
        let mut t = db::tickets::by_id(&mut tx, r.ticket_id)
            .await?
            .ok_or_else(|| not_found("ticket", r.ticket_id.0))?;
        if t.status == TicketStatus::Closed {
            return Err(AppError::Conflict(format!(
                "ticket {} is closed; reopen it first",
                t.id
            )));
        }
        let customer = db::customers::by_id(&mut tx, t.customer_id)
            .await?
            .ok_or_else(|| not_found("customer", t.customer_id.0))?;
        let mut text = r.text.clone().filter(|s| !s.trim().is_empty());
        if let Some(tid) = r.template_id {
            let tpl = db::templates::by_id(&mut tx, tid)
                .await?
                .ok_or_else(|| not_found("template", tid.0))?;
            if tpl.owner_agent_id.is_some() && tpl.owner_agent_id != agent.as_ref().map(|a| a.id) {
                return Err(AppError::Forbidden("another agent's template".into()));
            }
            text = Some(self.render_for(&mut tx, &tpl.body, &customer, &t).await?);
        }
        if text.is_none() && r.media.is_none() {
            return Err(AppError::Invalid {
                field: "text",
                message: "a text, a template or a media file is required".into(),
            });
        }
        let quoted = match r.reply_to {
            Some(mid) => {
                let q = db::messages::by_id(&mut tx, mid)
                    .await?
                    .ok_or_else(|| not_found("message", mid.0))?;
                if q.ticket_id != t.id && q.customer_id != t.customer_id {
                    return Err(AppError::Invalid {
                        field: "reply_to",
                        message: "not a message of this conversation".into(),
                    });
                }
                q.wa_id
            }
            None => None,
        };
        // An agent answering the queue claims the ticket.
        if t.agent_id.is_none()
            && let Some(a) = &agent
        {
            self.assign_to(
                &mut tx,
                &t,
                Some(a.id),
                a.branch_id.or(t.branch_id),
                "claim",
                Some(r.user_id),
                "claimed by replying",
                now,
                &mut events,
            )
            .await?;
            t = db::tickets::by_id(&mut tx, t.id)
                .await?
                .ok_or_else(|| not_found("ticket", t.id.0))?;
        }
        let key = body_key(text.as_deref().unwrap_or(""));
        let recent = if text.is_some() {
            db::outbox::same_text_since(&mut tx, &key, now.minus(self.config().pacing.mass_window))
                .await?
        } else {
            Vec::new()
        };
        let hold = text.is_some()
            && self.config().pacing.mass_send(&recent, customer.id.0, now)
                == MassSendDecision::Hold;
        let author = agent.as_ref().map(|a| a.id);
        let (mid, _) = self
            .enqueue(
                &mut tx,
                &t,
                &customer,
                text.as_deref(),
                r.media.as_ref(),
                quoted.as_deref(),
                SenderKind::Agent,
                Some(user.id),
                author,
                hold,
                now,
                &mut events,
            )
            .await?;
        if let Some(a) = author {
            // KPI clocks stop when the agent answers, not when WhatsApp accepts it.
            if t.first_response_at.is_none() {
                db::kpi::record_time(
                    &mut tx,
                    t.id,
                    a,
                    t.branch_id,
                    "first_response",
                    t.opened_at,
                    now,
                )
                .await?;
            }
            if let Some(w) = t.waiting_since {
                db::kpi::record_time(&mut tx, t.id, a, t.branch_id, "reply", w, now).await?;
            }
            journal(
                &mut tx,
                t.id,
                t.branch_id,
                TicketEventKind::AgentMessage { agent: a },
                now,
            )
            .await?;
            db::tickets::note_agent_message(&mut tx, t.id, now).await?;
            db::customers::set_last_agent(&mut tx, customer.id, a, now).await?;
        } else {
            // An admin without an agent seat: a human reply, but no agent's KPI, so the
            // first-response and reply clocks keep running for the ticket's agent (as in the fold).
            journal(
                &mut tx,
                t.id,
                t.branch_id,
                TicketEventKind::SystemMessage,
                now,
            )
            .await?;
            db::tickets::touch(&mut tx, t.id, now).await?;
        }
        if hold {
            let alert = db::activity::raise(
                &mut tx,
                "mass_send_held",
                "The same text is going to many customers; confirm or cancel it",
                Some(&serde_json::json!({ "message_id": mid, "ticket_id": t.id, "recipients": recent.len() + 1 })),
                now,
            )
            .await?;
            events.push(LiveEvent::AdminAlert { alert });
        }
        db::activity::log(
            &mut tx,
            Some(user.id),
            "message.sent",
            Some(("message", mid.0)),
            Some(&serde_json::json!({ "ticket_id": t.id, "held": hold })),
            now,
        )
        .await?;
        let message = db::messages::by_id(&mut tx, mid)
            .await?
            .ok_or_else(|| not_found("message", mid.0))?;
        tx.commit().await?;
        self.publish_all(events);
        self.wake_outbox();
        Ok(message)
    }

    /// Releases (`confirm = true`) or cancels a message held by the mass-send guard.
    pub async fn decide_held(
        &self,
        outbox_id: OutboxId,
        admin: UserId,
        confirm: bool,
    ) -> Result<Message, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        let row = db::outbox::by_id(&mut tx, outbox_id)
            .await?
            .ok_or_else(|| not_found("outbox", outbox_id.0))?;
        let to = if confirm { "queued" } else { "cancelled" };
        if !db::outbox::change_state(&mut tx, outbox_id, "held", to, now).await? {
            return Err(AppError::Conflict(format!(
                "outbox row {outbox_id} is {}, not held",
                row.state
            )));
        }
        db::messages::set_status(
            &mut tx,
            row.message_id,
            if confirm {
                MessageStatus::Queued
            } else {
                MessageStatus::Cancelled
            },
            now,
        )
        .await?;
        db::activity::log(
            &mut tx,
            Some(admin),
            if confirm {
                "outbox.confirmed"
            } else {
                "outbox.cancelled"
            },
            Some(("message", row.message_id.0)),
            None,
            now,
        )
        .await?;
        let message = db::messages::by_id(&mut tx, row.message_id)
            .await?
            .ok_or_else(|| not_found("message", row.message_id.0))?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::MessageUpdated {
            message: message.clone(),
        }]);
        self.wake_outbox();
        Ok(message)
    }

    /// Stores an outgoing message and its outbox row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enqueue(
        &self,
        c: &mut Conn,
        t: &Ticket,
        customer: &Customer,
        text: Option<&str>,
        media: Option<&(String, String, Option<String>)>,
        quoted: Option<&str>,
        sender_kind: SenderKind,
        user: Option<UserId>,
        agent: Option<crate::domain::ids::AgentId>,
        hold: bool,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<(MessageId, OutboxId), AppError> {
        let recipient = customer.jid().ok_or_else(|| AppError::Invalid {
            field: "customer",
            message: "no WhatsApp address".into(),
        })?;
        let wa_id = new_wa_id();
        let read_wa_id = db::messages::last_inbound_wa_id(c, t.id).await?;
        let status = if hold {
            MessageStatus::Held
        } else {
            MessageStatus::Queued
        };
        let msg = NewMessage {
            ticket_id: t.id,
            customer_id: customer.id,
            direction: Direction::Out,
            sender_kind,
            sender_user_id: user,
            agent_id: agent,
            kind: media.map_or(MessageKind::Text, |m| MessageKind::of_mime(&m.1)),
            body: text.map(str::to_owned),
            media_sha256: media.map(|m| m.0.clone()),
            media_mime: media.map(|m| m.1.clone()),
            media_name: media.and_then(|m| m.2.clone()),
            wa_id: Some(wa_id.clone()),
            quoted_wa_id: quoted.map(str::to_owned),
            status,
            created_at: now,
            ..Default::default()
        };
        if let Some(m) = media {
            db::messages::insert_media(c, &m.0, &m.1, 0, now).await?;
        }
        let mid = db::messages::insert(c, &msg).await?;
        let key = body_key(text.unwrap_or(""));
        let oid = db::outbox::insert(
            c,
            &NewOutbox {
                message_id: mid,
                ticket_id: t.id,
                customer_id: customer.id,
                recipient: &recipient,
                wa_id: &wa_id,
                body: text,
                media_sha256: media.map(|m| m.0.as_str()),
                media_mime: media.map(|m| m.1.as_str()),
                media_name: media.and_then(|m| m.2.as_deref()),
                quoted_wa_id: quoted,
                read_wa_id: read_wa_id.as_deref(),
                body_key: &key,
                is_system: sender_kind == SenderKind::System,
                state: status.as_str(),
                now,
            },
        )
        .await?;
        db::messages::set_status(c, mid, status, now).await?;
        let message = db::messages::by_id(c, mid)
            .await?
            .ok_or_else(|| not_found("message", mid.0))?;
        let ticket = db::tickets::by_id(c, t.id)
            .await?
            .ok_or_else(|| not_found("ticket", t.id.0))?;
        events.push(LiveEvent::NewMessage { message, ticket });
        Ok((mid, oid))
    }

    /// Queues an automatic (system-template) message: exempt from the mass-send guard, no KPI.
    pub(crate) async fn enqueue_system(
        &self,
        c: &mut Conn,
        t: &Ticket,
        customer: &Customer,
        text: &str,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<MessageId, AppError> {
        let (mid, _) = self
            .enqueue(
                c,
                t,
                customer,
                Some(text),
                None,
                None,
                SenderKind::System,
                None,
                None,
                false,
                now,
                events,
            )
            .await?;
        journal(c, t.id, t.branch_id, TicketEventKind::SystemMessage, now).await?;
        Ok(mid)
    }

    /// Renders a template for a ticket: `{customer_name}`, `{agent_name}`, `{branch_name}`
    /// (Arabic and English), `{branch_hours}` (today's), `{ticket_id}`.
    pub(crate) async fn render_for(
        &self,
        c: &mut Conn,
        template: &str,
        customer: &Customer,
        t: &Ticket,
    ) -> Result<String, AppError> {
        let mut vars = TemplateVars::default()
            .set("customer_name", customer.display_name())
            .set("ticket_id", t.id.to_string());
        if let Some(aid) = t.agent_id
            && let Some(a) = db::agents::by_id(c, aid).await?
        {
            vars = vars.set("agent_name", a.name);
        }
        let branch_id = t.branch_id.or(customer.home_branch_id);
        if let Some(bid) = branch_id
            && let Some(b) = db::branches::by_id(c, bid).await?
        {
            let today = self.now().local(self.time_zone()).weekday_index();
            vars = vars
                .set("branch_name", b.name.clone())
                .set("branch_name_ar", b.name_ar.clone())
                .set("branch_hours", b.hours.describe_day(today));
        }
        Ok(render(template, &vars))
    }

    /// Greeting (new conversation), out-of-office (once per conversation per local day, per
    /// the branch's hours and holidays), keyword triggers (once per trigger per conversation
    /// per day). Returns whether anything was queued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn auto_replies(
        &self,
        c: &mut Conn,
        t: &Ticket,
        customer: &Customer,
        text: Option<&str>,
        new_conversation: bool,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<bool, AppError> {
        let cfg = self.config();
        let local = now.local(self.time_zone());
        let day = local.day_key();
        let mut queued = false;
        // Out-of-office first: when it goes out it is the greeting (one message, not two).
        let mut out_of_office = false;
        // Cheapest checks first: the hours lookup only runs when a reply could still go out today.
        if cfg.out_of_office_enabled
            && let Some(tpl) = db::templates::global(c, "out_of_office").await?
            && !db::templates::auto_reply_sent_on(c, t.id, "out_of_office", &day).await?
            && !self
                .is_open(c, t.branch_id.or(customer.home_branch_id), now)
                .await?
            && db::templates::claim_auto_reply(c, t.id, "out_of_office", &day, now).await?
        {
            let body = self.render_for(c, &tpl.body, customer, t).await?;
            self.enqueue_system(c, t, customer, &body, now, events)
                .await?;
            queued = true;
            out_of_office = true;
        }
        if new_conversation
            && cfg.greeting_enabled
            && !out_of_office
            && let Some(tpl) = db::templates::global(c, "greeting").await?
            && db::templates::claim_auto_reply(c, t.id, "greeting", &day, now).await?
        {
            let body = self.render_for(c, &tpl.body, customer, t).await?;
            self.enqueue_system(c, t, customer, &body, now, events)
                .await?;
            queued = true;
        }
        if new_conversation
            && cfg.branch_menu_enabled
            && customer.home_branch_id.is_none()
            && customer.last_latitude.is_none()
            && let Some(tpl) = db::templates::global(c, "branch_menu").await?
            && db::templates::claim_auto_reply(c, t.id, "branch_menu", &day, now).await?
        {
            let list: Vec<_> = db::branches::list(c)
                .await?
                .into_iter()
                .filter(|b| b.is_active)
                .map(|b| (b.id, b.name_ar, b.name))
                .collect();
            let body = self.render_for(c, &tpl.body, customer, t).await?;
            let body = body.replace("{branch_menu}", &render_menu(&list));
            self.enqueue_system(c, t, customer, &body, now, events)
                .await?;
            queued = true;
        }
        if let Some(text) = text {
            let triggers = db::templates::active_triggers(c).await?;
            if let Some(tr) = match_trigger(text, t.branch_id, &triggers)
                && db::templates::claim_auto_reply(
                    c,
                    t.id,
                    &format!("trigger:{}", tr.id),
                    &day,
                    now,
                )
                .await?
            {
                let body = self.render_for(c, &tr.body, customer, t).await?;
                self.enqueue_system(c, t, customer, &body, now, events)
                    .await?;
                queued = true;
            }
        }
        Ok(queued)
    }

    /// Whether a branch is open now (its hours, minus its and the chain's holidays). With no
    /// branch known: whether any active branch is open.
    pub(crate) async fn is_open(
        &self,
        c: &mut Conn,
        branch: Option<crate::domain::ids::BranchId>,
        now: Timestamp,
    ) -> Result<bool, AppError> {
        let local = now.local(self.time_zone());
        let branches = db::branches::list(c).await?;
        for b in branches
            .iter()
            .filter(|b| b.is_active && branch.is_none_or(|id| id == b.id))
        {
            let closed = db::branches::holidays(c, b.id).await?;
            if b.hours.contains(local, &closed) {
                return Ok(true);
            }
        }
        // No branches configured at all: do not claim to be closed.
        Ok(branches.is_empty())
    }
}

impl App {
    /// "Delete for everyone" asked by `caller`: the message must be readable and its ticket
    /// worked by them, and only its author or an admin deletes one of the pharmacy's messages.
    /// Returns the message and whether it had been sent (revoked) or was still waiting
    /// (cancelled).
    pub async fn revoke_message_as(
        &self,
        caller: &super::Caller,
        id: MessageId,
    ) -> Result<(Message, bool), AppError> {
        let m = self.readable_message(caller, id).await?;
        self.workable_ticket(caller, m.ticket_id).await?;
        if m.direction == Direction::Out
            && !caller.admin
            && m.sender_user_id != Some(caller.user_id)
        {
            return Err(AppError::Forbidden(
                "only the author or an admin may delete a message for everyone".into(),
            ));
        }
        let was_sent = !matches!(
            m.status,
            crate::domain::message::MessageStatus::Queued
                | crate::domain::message::MessageStatus::Held
        );
        Ok((self.revoke_message(m.id, caller.user_id).await?, was_sent))
    }

    /// Deletes one of our messages for everyone. Not yet sent: cancelled. Sent within the
    /// window WhatsApp allows (2 days): a revoke is queued for the outbox worker. Older:
    /// conflict. Incoming messages cannot be revoked by the pharmacy.
    pub async fn revoke_message(&self, id: MessageId, by: UserId) -> Result<Message, AppError> {
        const REVOKE_WINDOW: std::time::Duration = std::time::Duration::from_secs(2 * 86_400);
        let now = self.now();
        let mut tx = self.begin().await?;
        let m = db::messages::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("message", id.0))?;
        if m.direction != Direction::Out {
            return Err(AppError::Conflict(
                "only the pharmacy's own messages can be deleted for everyone".into(),
            ));
        }
        if m.revoked_at.is_some() {
            return Err(AppError::Conflict(format!(
                "message {id} is already deleted"
            )));
        }
        let row = db::outbox::by_message(&mut tx, id).await?;
        let mut queued = false;
        match row.as_ref().map(|r| r.state.as_str()) {
            Some("queued") | Some("held") => {
                let r = row
                    .as_ref()
                    .map(|r| (r.id, r.state.clone()))
                    .unwrap_or_default();
                db::outbox::change_state(&mut tx, r.0, &r.1, "cancelled", now).await?;
                db::messages::set_status(&mut tx, id, MessageStatus::Cancelled, now).await?;
            }
            Some("sent") => {
                let r = row.as_ref().ok_or_else(|| not_found("outbox", 0))?;
                if r.sent_at.is_some_and(|t| now.since(t) > REVOKE_WINDOW) {
                    return Err(AppError::Conflict("too old to delete for everyone".into()));
                }
                db::outbox::insert_revoke(&mut tx, id, &r.recipient, &r.wa_id, Some(by), now)
                    .await?;
                queued = true;
            }
            _ => {}
        }
        db::messages::revoke(&mut tx, id, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "message.revoked",
            Some(("message", id.0)),
            None,
            now,
        )
        .await?;
        let message = db::messages::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("message", id.0))?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::MessageUpdated {
            message: message.clone(),
        }]);
        if queued {
            self.wake_outbox();
        }
        Ok(message)
    }
}
