//! The line a customer's call leaves in their ticket: every message kind has its own
//! rendering now (`domain::message::MessageKind`), a call is shown as a line of text.

use whatsapp_client::{CallAction, CallMedia};

/// The line of a call event worth a line: a missed or rejected offer.
pub fn call(action: &CallAction, media: CallMedia) -> Option<String> {
    let what = match media {
        CallMedia::Video => "video call",
        _ => "voice call",
    };
    match action {
        CallAction::Missed => Some(format!("[Missed {what}: the pharmacy answers by message]")),
        CallAction::Reject => Some(format!("[Rejected {what}]")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missed_and_rejected_calls_are_lines() {
        assert!(
            call(&CallAction::Missed, CallMedia::Video)
                .unwrap()
                .contains("video")
        );
        assert!(call(&CallAction::Offer, CallMedia::Audio).is_none());
        assert!(call(&CallAction::Accept, CallMedia::Audio).is_none());
    }
}
