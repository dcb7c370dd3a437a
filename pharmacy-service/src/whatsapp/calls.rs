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
use crate::domain::message::CallOutcome;
use whatsapp_client::{CallAction, CallEvent, CallMedia};

/// What `action` leaves in the ticket when the automatic reject is `auto_reject`; `None` for
/// the steps of a call that are no line (an answered call, a terminate, …).
pub fn outcome(action: &CallAction, auto_reject: bool) -> Option<CallOutcome> {
    match action {
        CallAction::Offer if auto_reject => Some(CallOutcome::AutoRejected),
        CallAction::Missed => Some(CallOutcome::Missed),
        CallAction::Reject => Some(CallOutcome::Rejected),
        _ => None,
    }
}

/// The line's message id: one line per call and outcome, so a call is never shown twice for
/// the same reason.
pub fn wa_id(outcome: CallOutcome, call_id: &str) -> String {
    format!("call:{call_id}:{outcome}")
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
    let Some(line) = outcome(&c.action, settings.auto_reject) else {
        return;
    };
    if line == CallOutcome::AutoRejected {
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
        wa_id: wa_id(line, &c.call_id),
        from: caller(&c, client.as_ref()).await,
        at: unix_seconds(c.timestamp, app.now()),
        content: InboundContent::Call {
            outcome: line,
            video: c.media == CallMedia::Video,
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
            outcome(&CallAction::Missed, false),
            Some(CallOutcome::Missed)
        );
        assert_eq!(
            outcome(&CallAction::Reject, false),
            Some(CallOutcome::Rejected)
        );
        assert_eq!(outcome(&CallAction::Offer, false), None);
        assert_eq!(
            outcome(&CallAction::Offer, true),
            Some(CallOutcome::AutoRejected)
        );
        assert_eq!(outcome(&CallAction::OfferNotice, true), None);
        assert_eq!(outcome(&CallAction::Accept, true), None);
        assert_eq!(wa_id(CallOutcome::Missed, "C1"), "call:C1:missed");
        assert_ne!(
            wa_id(CallOutcome::Missed, "C1"),
            wa_id(CallOutcome::AutoRejected, "C1")
        );
    }
}
