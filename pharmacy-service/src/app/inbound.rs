//! Inbound WhatsApp events -> customers, tickets, messages, routing, automatic replies.
//!
//! The bridge calls [`App::handle_inbound_batch`] (or [`App::handle_inbound`]) and acknowledges
//! each message to WhatsApp only after its `Ok`: everything is committed by then, and a
//! redelivery is recognised by its WhatsApp id and stored once.

use super::chat_updates::Change;
use super::content;
use super::events::LiveEvent;
use super::{App, AppError};
use crate::db::customers::Customer;
use crate::db::messages::NewMessage;
use crate::db::{self, Conn};
use crate::domain::csat::parse_rating;
use crate::domain::geo::GeoPoint;
use crate::domain::ids::{MessageId, TicketId};
use crate::domain::kpi::TicketEventKind;
use crate::domain::menu::parse_choice;
use crate::domain::message::{CallOutcome, Direction, MessageKind, MessageStatus, SenderKind};
use crate::domain::phone::normalize_phone;
use crate::domain::ticket::{self, Actor, InboundDecision, TicketCommand, TicketStatus};
use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Who wrote: a phone-number JID user, a LID, or both (the same person).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sender {
    /// International digits from the PN JID (`201001234567`).
    pub phone: Option<String>,
    /// The LID user part.
    pub lid: Option<String>,
    /// The name they set in WhatsApp.
    pub push_name: Option<String>,
}

/// What a customer sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundContent {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// Image, audio/voice note, video, round video, document or sticker, already stored with
    /// [`App::store_media`].
    Media {
        /// One of the attachment kinds ([`MessageKind::is_media`]).
        media_kind: MessageKind,
        /// Content address.
        sha256: String,
        /// Media type.
        mime: String,
        /// File name.
        file_name: Option<String>,
        /// Caption.
        caption: Option<String>,
    },
    /// An attachment whose file the media worker fetches afterwards. Only the WhatsApp
    /// bridge makes it; the ingest webhook cannot (it is not deserialised).
    #[serde(skip)]
    PendingMedia {
        /// One of the attachment kinds.
        media_kind: MessageKind,
        /// The media type the message claims.
        mime: String,
        /// File name.
        file_name: Option<String>,
        /// Caption.
        caption: Option<String>,
        /// Sent as view-once.
        view_once: bool,
        /// Whether and how the file can be fetched.
        fetch: MediaFetch,
    },
    /// A location pin.
    Location {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// Place name.
        name: Option<String>,
    },
    /// A shared live location, or a later position of one (same chat, higher `sequence`).
    LiveLocation {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// The sender's note.
        caption: Option<String>,
        /// The update's sequence number.
        sequence: Option<i64>,
    },
    /// A contact card.
    Contact {
        /// Display name.
        name: String,
        /// The vCard.
        vcard: String,
    },
    /// Several contact cards in one message, each with its own display name.
    Contacts {
        /// The cards, in order.
        cards: Vec<ContactCardIn>,
    },
    /// A poll.
    Poll {
        /// The question.
        question: String,
        /// The options' names, in order.
        options: Vec<String>,
        /// How many options a voter may pick (0: any number).
        selectable: u32,
    },
    /// A vote on a poll the service does not hold: how many options it selects.
    PollVote {
        /// How many options were selected.
        selected: usize,
    },
    /// The answer to a button, list, template or interactive message.
    Reply {
        /// `button_reply`, `list_reply`, `template_reply` or `interactive_reply`.
        reply_kind: MessageKind,
        /// The id of what was picked.
        id: Option<String>,
        /// The text the customer saw for it.
        text: Option<String>,
        /// A list row's description, a flow's JSON parameters.
        detail: Option<String>,
    },
    /// A view-once message (WhatsApp shows it only on the pharmacy's phone).
    ViewOnce,
    /// A kind this system cannot show yet.
    Unsupported {
        /// What it is (the WhatsApp fields it carries).
        what: String,
    },
    /// A customer's call that WhatsApp Web could not answer. Only the WhatsApp bridge makes
    /// it; the ingest webhook cannot (it is not deserialised).
    #[serde(skip)]
    Call {
        /// How it ended.
        outcome: CallOutcome,
        /// A video call (otherwise voice).
        video: bool,
    },
}

/// One card of a [`InboundContent::Contacts`] message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactCardIn {
    /// The name shown for it.
    pub display_name: Option<String>,
    /// The vCard.
    pub vcard: Option<String>,
}

/// Whether the file of a [`InboundContent::PendingMedia`] can be fetched.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaFetch {
    /// The media worker downloads it after the commit.
    Download(Box<crate::db::media_downloads::PendingDownload>),
    /// Beyond the configured maximum: never fetched (`too_large`).
    TooLarge,
    /// The message lacks what a download needs (key or hashes): `failed`, not retryable.
    Missing,
}

/// A customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboundMessage {
    /// WhatsApp message id (deduplication key).
    pub wa_id: String,
    /// Who wrote.
    pub from: Sender,
    /// When WhatsApp says it was sent.
    pub at: Timestamp,
    /// What.
    pub content: InboundContent,
    /// The message it replies to.
    pub quoted_wa_id: Option<String>,
}

/// Delivery progress of an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Reached the phone.
    Delivered,
    /// Read.
    Read,
}

/// Everything the bridge hands in. Edits, revokes, reactions and receipts name the chat they
/// came from (`from`, the customer): the ids they carry are looked up in that chat only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundEvent {
    /// A new message.
    Message(InboundMessage),
    /// The customer edited a message of theirs (applied within
    /// [`crate::domain::retraction::EDIT_WINDOW`] of it).
    Edited {
        /// Who edited: the customer whose message it must be.
        from: Sender,
        /// The edited message.
        wa_id: String,
        /// New text.
        text: String,
        /// When WhatsApp says the edit was sent.
        at: Timestamp,
    },
    /// The customer edited a message of theirs into something that is neither text nor a
    /// caption. Only the WhatsApp bridge makes it; the ingest webhook cannot (it is not
    /// deserialised).
    #[serde(skip)]
    EditedInto(EditInto),
    /// The customer deleted a message of theirs for everyone (within
    /// [`crate::domain::retraction::REVOKE_WINDOW`]).
    Revoked {
        /// Who deleted: the customer whose message it must be.
        from: Sender,
        /// The revoked message.
        wa_id: String,
        /// When WhatsApp says the revoke was sent.
        at: Timestamp,
    },
    /// The customer reacted (empty emoji = reaction removed) to a message of their chat.
    Reaction {
        /// Who reacted.
        from: Sender,
        /// The message reacted to.
        target_wa_id: String,
        /// The emoji.
        emoji: String,
        /// When.
        at: Timestamp,
    },
    /// The customer voted on a poll of their chat (their whole current choice).
    PollVote {
        /// Who voted.
        from: Sender,
        /// The vote's own WhatsApp id.
        wa_id: String,
        /// The poll's WhatsApp id.
        poll_wa_id: String,
        /// SHA-256 (hex) of each selected option's name, as WhatsApp votes carry them.
        selected: Vec<String>,
        /// When.
        at: Timestamp,
    },
    /// Delivery or read receipts for our messages to this customer.
    Receipt {
        /// Who sent the receipt: only our messages to them are marked.
        from: Sender,
        /// Our messages' WhatsApp ids.
        wa_ids: Vec<String>,
        /// Delivered or read.
        status: ReceiptStatus,
        /// When.
        at: Timestamp,
    },
    /// A message the pharmacy's own phone sent to a customer (someone answered from the phone
    /// app, outside this service). `from` names the customer (the chat), not the sender.
    SentFromPhone(InboundMessage),
}

/// An edit into something that is neither text nor a caption ([`InboundEvent::EditedInto`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EditInto {
    /// Who edited: the customer whose message it must be.
    pub from: Sender,
    /// The edited message.
    pub wa_id: String,
    /// The edit's own WhatsApp id: the line it may become is stored once, however often it
    /// is delivered.
    pub edit_wa_id: String,
    /// What the message became.
    pub new: EditedInto,
    /// When WhatsApp says the edit was sent.
    pub at: Timestamp,
}

/// What an [`EditInto`] made of its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditedInto {
    /// An attachment without a caption (a media message's caption removed).
    NoCaption,
    /// Another kind, by name (`location`, `poll`, ...).
    Other(String),
}

/// What handling an inbound event did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InboundOutcome {
    /// Stored as a message of a ticket.
    Stored {
        /// The ticket.
        ticket_id: TicketId,
        /// The message.
        message_id: MessageId,
        /// A new ticket was created.
        created: bool,
        /// A closed ticket was reopened.
        reopened: bool,
    },
    /// Already stored (redelivery).
    Duplicate {
        /// The stored message.
        message_id: MessageId,
    },
    /// A satisfaction rating for a closed ticket.
    Rated {
        /// The rated ticket.
        ticket_id: TicketId,
        /// 1-5.
        rating: u8,
    },
    /// An edit, revoke, reaction or receipt was applied to this many messages.
    Updated {
        /// How many messages changed.
        count: usize,
    },
    /// Nothing to do (e.g. an edit of a message never seen).
    Ignored {
        /// Why.
        reason: String,
    },
}

pub(crate) async fn journal(
    c: &mut Conn,
    ticket: TicketId,
    branch: Option<crate::domain::ids::BranchId>,
    kind: TicketEventKind,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    db::tickets::append_event(
        c,
        &crate::domain::kpi::TicketEvent {
            ticket,
            at,
            branch,
            kind,
        },
    )
    .await
}

/// What a transaction of inbound events leaves to do once it committed.
#[derive(Default)]
pub(super) struct Effects {
    /// Live events, in order.
    pub(super) events: Vec<LiveEvent>,
    /// Automatic replies were queued.
    pub(super) wake_outbox: bool,
}

/// The sender's phone number as customers are stored: JID users are international numbers,
/// so they are read with a leading '+' (kept as given when that fails).
pub(super) fn sender_phone(from: &Sender) -> Option<String> {
    from.phone.as_deref().map(|p| {
        let digits = p.trim_start_matches('+');
        normalize_phone(&format!("+{digits}"))
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|_| digits.to_owned())
    })
}

impl App {
    /// Applies one inbound WhatsApp event in one transaction. Acknowledge to WhatsApp only
    /// after `Ok`.
    pub async fn handle_inbound(&self, event: InboundEvent) -> Result<InboundOutcome, AppError> {
        self.handle_one(&event).await
    }

    /// Applies inbound events in order in ONE transaction (what the bridge drained from the
    /// client at once), then publishes their live events; the outcomes are in the events'
    /// order. Acknowledge each to WhatsApp only after its `Ok`. When the transaction fails
    /// (one bad event, a locked database) every event is applied again in a transaction of its
    /// own, so a bad one gets its own error and the others are stored.
    pub async fn handle_inbound_batch(
        &self,
        events: &[InboundEvent],
    ) -> Vec<Result<InboundOutcome, AppError>> {
        if events.len() > 1 {
            let mut fx = Effects::default();
            match self.apply_all(events, &mut fx).await {
                Ok(outcomes) => {
                    self.after_commit(fx);
                    return outcomes.into_iter().map(Ok).collect();
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    count = events.len(),
                    "inbound batch rolled back; applying its events one by one"
                ),
            }
        }
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(self.handle_one(e).await);
        }
        out
    }

    async fn handle_one(&self, event: &InboundEvent) -> Result<InboundOutcome, AppError> {
        let mut fx = Effects::default();
        let mut tx = self.begin().await?;
        let outcome = self.apply_inbound(&mut tx, event, &mut fx).await?;
        tx.commit().await?;
        self.after_commit(fx);
        Ok(outcome)
    }

    /// One transaction over `events`; nothing is published until the caller sees the commit.
    async fn apply_all(
        &self,
        events: &[InboundEvent],
        fx: &mut Effects,
    ) -> Result<Vec<InboundOutcome>, AppError> {
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(events.len());
        for e in events {
            outcomes.push(self.apply_inbound(&mut tx, e, fx).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    fn after_commit(&self, fx: Effects) {
        self.publish_all(fx.events);
        if fx.wake_outbox {
            self.wake_outbox();
        }
    }

    pub(super) async fn apply_inbound(
        &self,
        c: &mut Conn,
        event: &InboundEvent,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        match event {
            InboundEvent::Message(m) => self.receive_message(c, m, fx).await,
            InboundEvent::SentFromPhone(m) => self.record_sent_from_phone(c, m, fx).await,
            InboundEvent::Edited {
                from,
                wa_id,
                text,
                at,
            } => {
                self.apply_to_message(c, from, wa_id, *at, Change::Edit(text), fx)
                    .await
            }
            InboundEvent::EditedInto(edit) => self.apply_edit_into(c, edit, fx).await,
            InboundEvent::Revoked { from, wa_id, at } => {
                self.apply_to_message(c, from, wa_id, *at, Change::Revoke, fx)
                    .await
            }
            InboundEvent::Reaction {
                from,
                target_wa_id,
                emoji,
                at,
            } => {
                self.apply_to_message(c, from, target_wa_id, *at, Change::React(emoji), fx)
                    .await
            }
            InboundEvent::Receipt {
                from,
                wa_ids,
                status,
                at,
            } => self.apply_receipts(c, from, wa_ids, *status, *at, fx).await,
            InboundEvent::PollVote {
                from,
                wa_id,
                poll_wa_id,
                selected,
                at,
            } => {
                self.apply_vote(c, from, wa_id, poll_wa_id, selected, *at, fx)
                    .await
            }
        }
    }

    pub(super) async fn receive_message(
        &self,
        c: &mut Conn,
        m: &InboundMessage,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let Arrival {
            now,
            at,
            customer,
            latest,
        } = match self.arrival(c, m, fx).await? {
            Ok(arrival) => arrival,
            Err(duplicate) => return Ok(duplicate),
        };
        // A later position of a live location the customer is sharing moves that message.
        if let InboundContent::LiveLocation {
            latitude,
            longitude,
            sequence,
            ..
        } = &m.content
            && let Some(outcome) = self
                .continue_live_location(
                    c,
                    customer.id,
                    &m.wa_id,
                    (*latitude, *longitude),
                    *sequence,
                    at,
                    fx,
                )
                .await?
        {
            return Ok(outcome);
        }

        // A survey answer: exactly one digit 1-5 within the window after the survey.
        if let (Some(t), InboundContent::Text { text }) = (&latest, &m.content)
            && t.status == TicketStatus::Closed
            && t.csat_requested_at
                .is_some_and(|r| at.since(r) <= self.config().csat_window)
            && let Some(rating) = parse_rating(text)
            && !db::kpi::is_rated(c, t.id).await?
        {
            let msg = NewMessage {
                ticket_id: t.id,
                customer_id: customer.id,
                direction: Direction::In,
                sender_kind: SenderKind::Customer,
                agent_id: t.agent_id,
                kind: MessageKind::Rating,
                body: Some(text.clone()),
                wa_id: Some(m.wa_id.clone()),
                quoted_wa_id: m.quoted_wa_id.clone(),
                status: MessageStatus::Received,
                created_at: at,
                ..Default::default()
            };
            let message_id = db::messages::insert(c, &msg).await?;
            db::kpi::record_rating(
                c,
                t.id,
                customer.id,
                t.agent_id,
                t.branch_id,
                rating,
                text,
                at,
            )
            .await?;
            db::customers::refresh_satisfaction(c, customer.id).await?;
            journal(c, t.id, t.branch_id, TicketEventKind::Rated { rating }, at).await?;
            let thanks = db::templates::global(c, "csat_thanks").await?;
            let queued = if let Some(tpl) = thanks {
                let body = self.render_for(c, &tpl.body, &customer, t).await?;
                self.enqueue_system(c, t, &customer, &body, now, &mut fx.events)
                    .await?;
                true
            } else {
                false
            };
            db::activity::log(
                c,
                None,
                "csat.rated",
                Some(("ticket", t.id.0)),
                Some(&serde_json::json!({ "rating": rating })),
                now,
            )
            .await?;
            let message = db::messages::by_id(c, message_id)
                .await?
                .ok_or_else(|| super::not_found("message", message_id.0))?;
            let ticket = db::tickets::by_id(c, t.id)
                .await?
                .ok_or_else(|| super::not_found("ticket", t.id.0))?;
            fx.events.push(LiveEvent::NewMessage { message, ticket });
            fx.wake_outbox |= queued;
            return Ok(InboundOutcome::Rated {
                ticket_id: t.id,
                rating,
            });
        }

        let decision = ticket::inbound_decision(
            latest.as_ref().map(|t| (t.status, t.closed_at)),
            at,
            self.config().reopen_window,
        );
        let (ticket_id, created, reopened) = match (decision, &latest) {
            (InboundDecision::Continue, Some(t)) => {
                if let Some(to) =
                    ticket::transition(t.status, TicketCommand::CustomerWrote, Actor::Customer)?
                {
                    db::tickets::set_status(c, t.id, to, at).await?;
                    db::tickets::log_state(
                        c,
                        t.id,
                        Some(t.status),
                        to,
                        Actor::Customer,
                        Some("customer wrote"),
                        at,
                    )
                    .await?;
                }
                (t.id, false, false)
            }
            (InboundDecision::Reopen, Some(t)) => {
                let to = ticket::transition(t.status, TicketCommand::Reopen, Actor::Customer)?
                    .unwrap_or(TicketStatus::Open);
                db::tickets::reopen(c, t.id, at).await?;
                db::tickets::log_state(
                    c,
                    t.id,
                    Some(t.status),
                    to,
                    Actor::Customer,
                    Some("customer wrote within the reopen window"),
                    at,
                )
                .await?;
                journal(c, t.id, t.branch_id, TicketEventKind::Reopened, at).await?;
                (t.id, false, true)
            }
            _ => {
                let id = db::tickets::insert(c, customer.id, None, at).await?;
                db::tickets::log_state(
                    c,
                    id,
                    None,
                    TicketStatus::Open,
                    Actor::Customer,
                    Some("new conversation"),
                    at,
                )
                .await?;
                journal(c, id, None, TicketEventKind::Created, at).await?;
                (id, true, false)
            }
        };

        let pin = match &m.content {
            InboundContent::Location {
                latitude,
                longitude,
                ..
            }
            | InboundContent::LiveLocation {
                latitude,
                longitude,
                ..
            } => {
                db::customers::set_location(c, customer.id, *latitude, *longitude, at).await?;
                Some(GeoPoint {
                    lat: *latitude,
                    lon: *longitude,
                })
            }
            _ => None,
        };
        // An answer to the welcome menu chooses the customer's branch.
        if let InboundContent::Text { text } = &m.content
            && !created
            && customer.home_branch_id.is_none()
            && db::templates::auto_reply_sent(c, ticket_id, "branch_menu").await?
        {
            let active: Vec<_> = db::branches::list(c)
                .await?
                .into_iter()
                .filter(|b| b.is_active)
                .collect();
            if let Some(k) = parse_choice(text, active.len() as u32) {
                let branch = active[k as usize - 1].id;
                self.choose_branch(c, ticket_id, branch, at, &mut fx.events)
                    .await?;
            }
        }
        let mut t = db::tickets::by_id(c, ticket_id)
            .await?
            .ok_or_else(|| super::not_found("ticket", ticket_id.0))?;
        if t.agent_id.is_none() {
            self.route_ticket(c, ticket_id, pin, at, &mut fx.events)
                .await?;
            // Routing may have assigned it: read it again only then.
            t = db::tickets::by_id(c, ticket_id)
                .await?
                .ok_or_else(|| super::not_found("ticket", ticket_id.0))?;
        }

        let mut msg = NewMessage {
            ticket_id,
            customer_id: customer.id,
            direction: Direction::In,
            sender_kind: SenderKind::Customer,
            agent_id: t.agent_id,
            wa_id: Some(m.wa_id.clone()),
            quoted_wa_id: m.quoted_wa_id.clone(),
            status: MessageStatus::Received,
            created_at: at,
            ..Default::default()
        };
        let parts = content::Parts::of(&m.content, &mut msg)?;
        let text_for_triggers = parts.text_for_triggers.clone();
        if let InboundContent::Media { sha256, mime, .. } = &m.content {
            db::messages::insert_media(c, sha256, mime, 0, now).await?;
        }
        let message = db::messages::insert_row(c, &msg).await?;
        let message_id = message.id;
        let message = parts.store(c, message, &m.wa_id, now).await?;
        journal(
            c,
            ticket_id,
            t.branch_id,
            TicketEventKind::CustomerMessage,
            at,
        )
        .await?;
        let noted = db::tickets::note_customer_message(c, ticket_id, at)
            .await?
            .ok_or_else(|| super::not_found("ticket", ticket_id.0))?;

        let mark = fx.events.len();
        let queued = self
            .auto_replies(
                c,
                &t,
                &customer,
                text_for_triggers.as_deref(),
                created,
                now,
                &mut fx.events,
            )
            .await?;
        db::activity::log(c, None, "message.received", Some(("message", message_id.0)), Some(&serde_json::json!({ "ticket_id": ticket_id, "created": created, "reopened": reopened })), now).await?;

        // The ticket as the message left it, unless an automatic reply touched it since.
        let ticket = if queued {
            db::tickets::by_id(c, ticket_id)
                .await?
                .ok_or_else(|| super::not_found("ticket", ticket_id.0))?
        } else {
            noted
        };
        // The message first, then the automatic replies already collected after it.
        fx.events
            .insert(mark, LiveEvent::NewMessage { message, ticket });
        fx.wake_outbox |= queued;
        Ok(InboundOutcome::Stored {
            ticket_id,
            message_id,
            created,
            reopened,
        })
    }

    /// What every arriving message starts with: WhatsApp's timestamp (unless it is missing or
    /// ahead of our clock), deduplication by WhatsApp id (`Err` with the outcome for a
    /// duplicate), the sender as a customer and their latest ticket.
    async fn arrival(
        &self,
        c: &mut Conn,
        m: &InboundMessage,
        fx: &mut Effects,
    ) -> Result<Result<Arrival, InboundOutcome>, AppError> {
        let now = self.now();
        let at = if m.at.0 <= 0 || m.at > now { now } else { m.at };
        if let Some(existing) = db::messages::by_wa_id(c, &m.wa_id).await? {
            return Ok(Err(InboundOutcome::Duplicate {
                message_id: existing.id,
            }));
        }
        let customer = self
            .resolve_customer(c, &m.from, at, &mut fx.events)
            .await?;
        let latest = db::tickets::latest_for_customer(c, customer.id).await?;
        Ok(Ok(Arrival {
            now,
            at,
            customer,
            latest,
        }))
    }

    /// Stores a message sent from the pharmacy's phone on the customer's current ticket (or a
    /// new one), so the conversation history stays complete. It counts as a human answer for
    /// nobody's KPI, like an admin's reply; its WhatsApp id deduplicates it as usual.
    async fn record_sent_from_phone(
        &self,
        c: &mut Conn,
        m: &InboundMessage,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let Arrival {
            now,
            at,
            customer,
            latest,
        } = match self.arrival(c, m, fx).await? {
            Ok(arrival) => arrival,
            Err(duplicate) => return Ok(duplicate),
        };
        let (ticket_id, created) = match latest {
            Some(t) if t.status != TicketStatus::Closed => (t.id, false),
            _ => {
                let id = db::tickets::insert(c, customer.id, None, at).await?;
                db::tickets::log_state(
                    c,
                    id,
                    None,
                    TicketStatus::Open,
                    Actor::System,
                    Some("sent from the phone"),
                    at,
                )
                .await?;
                journal(c, id, None, TicketEventKind::Created, at).await?;
                (id, true)
            }
        };
        let t = db::tickets::by_id(c, ticket_id)
            .await?
            .ok_or_else(|| super::not_found("ticket", ticket_id.0))?;
        let mut msg = NewMessage {
            ticket_id,
            customer_id: customer.id,
            direction: Direction::Out,
            sender_kind: SenderKind::Agent,
            wa_id: Some(m.wa_id.clone()),
            quoted_wa_id: m.quoted_wa_id.clone(),
            status: MessageStatus::Sent,
            created_at: at,
            ..Default::default()
        };
        let parts = content::Parts::of(&m.content, &mut msg)?;
        if let InboundContent::Media { sha256, mime, .. } = &m.content {
            db::messages::insert_media(c, sha256, mime, 0, now).await?;
        }
        let row = db::messages::insert_row(c, &msg).await?;
        let message_id = row.id;
        parts.store(c, row, &m.wa_id, now).await?;
        journal(
            c,
            ticket_id,
            t.branch_id,
            TicketEventKind::SystemMessage,
            at,
        )
        .await?;
        db::tickets::touch(c, ticket_id, at).await?;
        db::activity::log(
            c,
            None,
            "message.sent_from_phone",
            Some(("message", message_id.0)),
            None,
            now,
        )
        .await?;
        let message = db::messages::by_id(c, message_id)
            .await?
            .ok_or_else(|| super::not_found("message", message_id.0))?;
        let ticket = db::tickets::by_id(c, ticket_id)
            .await?
            .ok_or_else(|| super::not_found("ticket", ticket_id.0))?;
        fx.events.push(LiveEvent::NewMessage { message, ticket });
        Ok(InboundOutcome::Stored {
            ticket_id,
            message_id,
            created,
            reopened: false,
        })
    }

    /// Finds or creates the customer; a phone number and a LID seen together join one person,
    /// merging two records if each was first seen separately.
    async fn resolve_customer(
        &self,
        c: &mut Conn,
        from: &Sender,
        now: Timestamp,
        events: &mut Vec<LiveEvent>,
    ) -> Result<Customer, AppError> {
        let phone = sender_phone(from);
        let lid = from.lid.clone();
        if phone.is_none() && lid.is_none() {
            return Err(AppError::Invalid {
                field: "from",
                message: "a phone number or a LID is required".into(),
            });
        }
        let by_phone = match &phone {
            Some(p) => db::customers::by_phone(c, p).await?,
            None => None,
        };
        let by_lid = match &lid {
            Some(l) => db::customers::by_lid(c, l).await?,
            None => None,
        };
        let push = from.push_name.as_deref();
        let id = match (by_phone, by_lid) {
            (Some(a), Some(b)) if a.id != b.id => {
                // One person seen first by LID, then by number: merge into the number's record.
                let active_a = db::tickets::latest_for_customer(c, a.id)
                    .await?
                    .filter(|t| t.status != TicketStatus::Closed);
                let active_b = db::tickets::latest_for_customer(c, b.id)
                    .await?
                    .filter(|t| t.status != TicketStatus::Closed);
                if let (Some(_), Some(tb)) = (active_a, active_b) {
                    db::tickets::close(c, tb.id, None, "merged", now).await?;
                    db::tickets::log_state(
                        c,
                        tb.id,
                        Some(tb.status),
                        TicketStatus::Closed,
                        Actor::System,
                        Some("customer records merged"),
                        now,
                    )
                    .await?;
                }
                db::customers::merge(c, b.id, a.id, now).await?;
                db::customers::attach_identity(
                    c,
                    a.id,
                    phone.as_deref(),
                    lid.as_deref(),
                    push,
                    now,
                )
                .await?;
                db::activity::log(
                    c,
                    None,
                    "customer.merged",
                    Some(("customer", a.id.0)),
                    Some(&serde_json::json!({ "merged": b.id })),
                    now,
                )
                .await?;
                a.id
            }
            (Some(a), _) | (None, Some(a)) => {
                // The usual case, a known customer writing again: nothing to write or re-read.
                let unchanged = (phone.is_none() || a.phone.is_some())
                    && (lid.is_none() || a.lid.is_some())
                    && (push.is_none() || a.push_name.as_deref() == push);
                if unchanged {
                    return Ok(a);
                }
                db::customers::attach_identity(
                    c,
                    a.id,
                    phone.as_deref(),
                    lid.as_deref(),
                    push,
                    now,
                )
                .await?;
                a.id
            }
            (None, None) => {
                let id = db::customers::insert(
                    c,
                    phone.as_deref(),
                    lid.as_deref(),
                    None,
                    push,
                    "whatsapp",
                    now,
                )
                .await?;
                let cu = db::customers::by_id(c, id)
                    .await?
                    .ok_or_else(|| super::not_found("customer", id.0))?;
                events.push(LiveEvent::NewCustomer { customer: cu });
                id
            }
        };
        db::customers::by_id(c, id)
            .await?
            .ok_or_else(|| super::not_found("customer", id.0))
    }
}

/// An arriving message's time, customer and latest ticket (see `App::arrival`).
struct Arrival {
    /// Our clock when it arrived.
    now: Timestamp,
    /// WhatsApp's time for it, clamped to `now`.
    at: Timestamp,
    customer: Customer,
    latest: Option<crate::db::tickets::Ticket>,
}
