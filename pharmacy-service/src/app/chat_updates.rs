//! Edits, revokes, reactions and receipts: events that name earlier messages by WhatsApp id.
//! An id is looked up only inside the sender's chat (their messages and the pharmacy's
//! replies to them), so one customer can never touch another conversation; edits and
//! revokes apply only to the sender's own messages and only within WhatsApp's windows
//! (`domain::retraction`), judged on WhatsApp's timestamps.

use super::inbound::{
    EditInto, EditedInto, Effects, InboundContent, InboundMessage, InboundOutcome, ReceiptStatus,
    Sender, sender_phone,
};
use super::{App, AppError, events::LiveEvent};
use crate::db::messages::Message;
use crate::db::{self, Conn};
use crate::domain::ids::CustomerId;
use crate::domain::message::{Direction, MessageStatus};
use crate::domain::retraction::Retraction;
use crate::domain::time::Timestamp;

/// What an event does to the message it names.
pub(super) enum Change<'a> {
    Edit(&'a str),
    Revoke,
    React(&'a str),
}

impl App {
    /// The customer records the sender is (a number and a LID first seen apart are two until
    /// a message joins them); none when we never heard from them. Never creates one: an
    /// event about earlier messages has nothing to change for a stranger.
    pub(super) async fn chat_of(
        &self,
        c: &mut Conn,
        from: &Sender,
    ) -> Result<Vec<CustomerId>, AppError> {
        let mut ids = Vec::with_capacity(2);
        if let Some(p) = sender_phone(from)
            && let Some(cu) = db::customers::by_phone(c, &p).await?
        {
            ids.push(cu.id);
        }
        if let Some(l) = from.lid.as_deref()
            && let Some(cu) = db::customers::by_lid(c, l).await?
            && !ids.contains(&cu.id)
        {
            ids.push(cu.id);
        }
        Ok(ids)
    }

    pub(super) async fn apply_to_message(
        &self,
        c: &mut Conn,
        from: &Sender,
        wa_id: &str,
        at: Timestamp,
        change: Change<'_>,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let now = self.now();
        let at = if at.0 <= 0 || at > now { now } else { at };
        let retraction = match change {
            Change::Edit(_) => Some(Retraction::Edit),
            Change::Revoke => Some(Retraction::Revoke),
            Change::React(_) => None,
        };
        let m = match self.target(c, from, wa_id, at, retraction).await? {
            Ok(m) => m,
            Err(ignored) => return Ok(ignored),
        };
        let action = match &change {
            Change::Edit(text) => {
                db::messages::edit(c, m.id, text, at).await?;
                "message.edited"
            }
            Change::Revoke => {
                db::messages::revoke(c, m.id, at).await?;
                "message.revoked"
            }
            Change::React(emoji) => {
                db::messages::set_reaction(c, m.id, emoji).await?;
                "message.reaction"
            }
        };
        db::activity::log(c, None, action, Some(("message", m.id.0)), None, now).await?;
        let message = db::messages::by_id(c, m.id)
            .await?
            .ok_or_else(|| super::not_found("message", m.id.0))?;
        fx.events.push(LiveEvent::MessageUpdated { message });
        Ok(InboundOutcome::Updated { count: 1 })
    }

    /// The message `wa_id` of the sender's chat that a change sent `at` may apply to: for an
    /// edit or a revoke, only the sender's own message within WhatsApp's window. `Err` is
    /// the outcome when there is none.
    async fn target(
        &self,
        c: &mut Conn,
        from: &Sender,
        wa_id: &str,
        at: Timestamp,
        retraction: Option<Retraction>,
    ) -> Result<Result<Message, InboundOutcome>, AppError> {
        let chat = self.chat_of(c, from).await?;
        let Some(m) = db::messages::by_wa_id_in_chat(c, wa_id, &chat).await? else {
            return Ok(Err(ignored(format!(
                "no message {wa_id} in the sender's chat"
            ))));
        };
        if let Some(r) = retraction {
            // Only what the customer sent; an incoming message's `created_at` is WhatsApp's
            // timestamp for it (see `App::arrival`).
            if m.direction != Direction::In {
                return Ok(Err(ignored(format!("{wa_id} is not the sender's message"))));
            }
            if !r.allowed(m.created_at, at) {
                return Ok(Err(ignored(format!(
                    "{r:?} of {wa_id} after WhatsApp's window"
                ))));
            }
        }
        Ok(Ok(m))
    }

    /// An edit whose new content is neither text nor a caption, under the rules of every
    /// edit: a media message whose caption was removed gets a new version without one (the
    /// old caption kept in its history); anything else the target cannot show becomes an
    /// `unsupported` line in the sender's chat naming it, replying to the target, so the
    /// edit is never acknowledged without a trace an agent sees.
    pub(super) async fn apply_edit_into(
        &self,
        c: &mut Conn,
        edit: &EditInto,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let now = self.now();
        let at = if edit.at.0 <= 0 || edit.at > now {
            now
        } else {
            edit.at
        };
        let target = match self
            .target(c, &edit.from, &edit.wa_id, at, Some(Retraction::Edit))
            .await?
        {
            Ok(m) => m,
            Err(ignored) => return Ok(ignored),
        };
        if edit.new == EditedInto::NoCaption && target.kind.is_media() {
            return self
                .apply_to_message(c, &edit.from, &edit.wa_id, edit.at, Change::Edit(""), fx)
                .await;
        }
        let what = match &edit.new {
            EditedInto::NoCaption => "an attachment without a caption",
            EditedInto::Other(what) => what.as_str(),
        };
        let line = InboundMessage {
            wa_id: edit.edit_wa_id.clone(),
            from: edit.from.clone(),
            at,
            content: InboundContent::Unsupported {
                what: format!("an edit of an earlier message into {what}"),
            },
            quoted_wa_id: Some(edit.wa_id.clone()),
        };
        self.receive_message(c, &line, fx).await
    }

    /// Marks our messages to the receipt's sender delivered or read; ids of other chats are
    /// skipped.
    pub(super) async fn apply_receipts(
        &self,
        c: &mut Conn,
        from: &Sender,
        wa_ids: &[String],
        status: ReceiptStatus,
        at: Timestamp,
        fx: &mut Effects,
    ) -> Result<InboundOutcome, AppError> {
        let now = self.now();
        let at = if at.0 <= 0 || at > now { now } else { at };
        let chat = self.chat_of(c, from).await?;
        let before = fx.events.len();
        for id in wa_ids {
            let Some(m) = db::messages::by_wa_id_in_chat(c, id, &chat).await? else {
                continue;
            };
            if m.direction != Direction::Out {
                continue;
            }
            let s = match status {
                ReceiptStatus::Delivered => MessageStatus::Delivered,
                ReceiptStatus::Read => MessageStatus::Read,
            };
            // A read receipt implies delivery: log both steps so the delivery log is complete.
            if status == ReceiptStatus::Read {
                db::messages::advance_status(c, m.id, MessageStatus::Delivered, None, at).await?;
            }
            if db::messages::advance_status(c, m.id, s, None, at).await? {
                fx.events.push(match status {
                    ReceiptStatus::Delivered => LiveEvent::MessageDelivered {
                        message_id: m.id,
                        ticket_id: m.ticket_id,
                    },
                    ReceiptStatus::Read => LiveEvent::MessageRead {
                        message_id: m.id,
                        ticket_id: m.ticket_id,
                    },
                });
            }
        }
        let count = fx.events.len() - before;
        Ok(InboundOutcome::Updated { count })
    }
}

fn ignored(reason: String) -> InboundOutcome {
    InboundOutcome::Ignored { reason }
}
