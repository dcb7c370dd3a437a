//! A customer's call: WhatsApp Web cannot answer it, so the service makes it a line in the
//! customer's ticket (creating the ticket if needed), rejects the offer at once when the admins
//! turned that on, and queues the automatic reply ("the pharmacy answers by message") when
//! that is on.
//!
//! The client acknowledged every `<call>` stanza on arrival (whatsmeow acks calls the same
//! way), so a line the database refused is not delivered again: it is reported like any other
//! store failure.

use super::bridge::{WhatsappBridge, unix_seconds};
use crate::app::{InboundContent, InboundEvent, InboundMessage, InboundOutcome, Sender};
use whatsapp_client::{CallAction, CallEvent, CallMedia};

/// What a call left to show in the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallLine {
    /// The offer ended unanswered.
    Missed,
    /// Declined (on the pharmacy's phone).
    Rejected,
    /// Rejected by the service at once (the admins' automatic reject).
    AutoRejected,
}

impl CallLine {
    /// What `action` leaves in the ticket when the automatic reject is `auto_reject`; `None`
    /// for the steps of a call that are no line (an answered call, a terminate, …).
    pub fn of(action: &CallAction, auto_reject: bool) -> Option<CallLine> {
        match action {
            CallAction::Offer if auto_reject => Some(CallLine::AutoRejected),
            CallAction::Missed => Some(CallLine::Missed),
            CallAction::Reject => Some(CallLine::Rejected),
            _ => None,
        }
    }

    /// The line's text.
    pub fn text(self, media: CallMedia) -> String {
        let what = match media {
            CallMedia::Video => "video call",
            _ => "voice call",
        };
        match self {
            CallLine::Missed => format!("[Missed {what}: the pharmacy answers by message]"),
            CallLine::Rejected => format!("[Rejected {what}]"),
            CallLine::AutoRejected => {
                format!("[Incoming {what} rejected automatically: the pharmacy answers by message]")
            }
        }
    }

    /// The line's message id: one line per call and outcome, so a call is never shown twice
    /// for the same reason.
    pub fn wa_id(self, call_id: &str) -> String {
        let outcome = match self {
            CallLine::Missed => "missed",
            CallLine::Rejected => "rejected",
            CallLine::AutoRejected => "auto_rejected",
        };
        format!("call:{call_id}:{outcome}")
    }
}

/// Handles one call event of the client.
pub(super) async fn on_call(bridge: &WhatsappBridge, c: CallEvent) {
    // A group call is no customer's conversation.
    if c.group.is_some() {
        return;
    }
    let client = bridge.client();
    // Our own calls (placed from the pharmacy's phone) are no customer's either.
    if let Some(own) = client.as_ref().and_then(|cl| cl.jid())
        && (c.caller.user == own.user || c.caller_pn.as_ref().is_some_and(|p| p.user == own.user))
    {
        return;
    }
    let settings = bridge.app().config().calls.clone();
    let Some(line) = CallLine::of(&c.action, settings.auto_reject) else {
        return;
    };
    if line == CallLine::AutoRejected {
        let rejected = match &client {
            Some(cl) => cl.reject_call(&c.caller, &c.call_id).await,
            None => Err(whatsapp_client::ClientError::NotConnected),
        };
        // Not rejected: it rings on, and ends as a missed call (a line of its own).
        if let Err(e) = rejected {
            tracing::warn!(call = %c.call_id, error = %e, "could not reject the call");
            return;
        }
    }
    let app = bridge.app();
    let message = InboundMessage {
        wa_id: line.wa_id(&c.call_id),
        from: caller(&c, client.as_ref()).await,
        at: unix_seconds(c.timestamp, app.now()),
        content: InboundContent::Text {
            text: line.text(c.media),
        },
        quoted_wa_id: None,
    };
    let ticket = match app.handle_inbound(InboundEvent::Message(message)).await {
        Ok(InboundOutcome::Stored { ticket_id, .. }) => {
            bridge.store_recovered().await;
            ticket_id
        }
        Ok(outcome) => {
            tracing::debug!(call = %c.call_id, ?outcome, "call line not stored again");
            return;
        }
        Err(e) => {
            tracing::error!(call = %c.call_id, error = %e, "call line not stored");
            bridge.store_failed(&e.to_string());
            return;
        }
    };
    match app.reply_to_call(ticket).await {
        Ok(queued) => tracing::debug!(call = %c.call_id, queued, "call reply"),
        Err(e) => tracing::error!(call = %c.call_id, error = %e, "call reply not queued"),
    }
}

/// The caller as a customer: their number and LID as the stanza gives them, the number from
/// the client's LID mapping when only the LID is known.
async fn caller(c: &CallEvent, client: Option<&whatsapp_client::Client>) -> Sender {
    let lid = c.caller_lid.as_ref().map(|l| l.user.clone());
    let mut phone = c.caller_pn.as_ref().map(|p| p.user.clone());
    if phone.is_none()
        && let (Some(lid), Some(client)) = (&c.caller_lid, client)
    {
        phone = client.pn_for_lid(lid).await.ok().flatten().map(|j| j.user);
    }
    Sender {
        phone,
        lid,
        push_name: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missed_rejected_and_auto_rejected_calls_are_lines() {
        assert_eq!(
            CallLine::of(&CallAction::Missed, false),
            Some(CallLine::Missed)
        );
        assert_eq!(
            CallLine::of(&CallAction::Reject, false),
            Some(CallLine::Rejected)
        );
        assert_eq!(CallLine::of(&CallAction::Offer, false), None);
        assert_eq!(
            CallLine::of(&CallAction::Offer, true),
            Some(CallLine::AutoRejected)
        );
        assert_eq!(CallLine::of(&CallAction::OfferNotice, true), None);
        assert_eq!(CallLine::of(&CallAction::Accept, true), None);
        assert!(CallLine::Missed.text(CallMedia::Video).contains("video"));
        assert!(
            CallLine::AutoRejected
                .text(CallMedia::Audio)
                .contains("rejected automatically")
        );
        assert_ne!(
            CallLine::Missed.wa_id("C1"),
            CallLine::AutoRejected.wa_id("C1")
        );
    }
}
