//! The risk tier of an outgoing message, decided from the recipient's state at send time.
//!
//! What gets numbers restricted is reach, not speed: the server's temporary-ban reasons are
//! messages to people who do not have the number in their contacts (101), blocks (102), groups
//! of non-contacts (103), the same message to many (104) and broadcast lists (106) (whatsmeow
//! `types/events/events.go`, whatsapp-rust `wacore/src/types/events.rs` `TempBanReason`)
//! [PROTO]; Meta's own messaging limits exempt user-initiated conversations
//! (developers.facebook.com/docs/whatsapp/messaging-limits) [DOC, other product]. So a reply
//! to a customer who wrote within the day is low risk, and everything else is paced strictly.

use super::PacingPolicy;
use crate::domain::time::Timestamp;
use serde::Serialize;

/// How strictly a message is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Tier {
    /// A reply in an active conversation: paced per chat, short number-wide spacing.
    Active,
    /// Outreach: strict number-wide gaps and caps.
    Outreach,
}

/// Why a message is outreach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutreachReason {
    /// The customer never wrote to the number.
    FirstContact,
    /// The customer's last message is older than the active window.
    Silent,
}

impl Tier {
    /// Its name in the API, the dashboard and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Active => "active",
            Tier::Outreach => "outreach",
        }
    }
}

/// The tier of a message to a customer whose last message arrived at `last_inbound` (`None`:
/// never), and why it is outreach when it is.
///
/// The same text to many (reason 104) is not a tier: a canned text in a conversation the
/// customer started stays a reply, since making it outreach queued the chat's later replies
/// behind it for the outreach cap (the pacing bench: active p95 of 4,653 s). The mass-send guard
/// ([`PacingPolicy::mass_send`]) holds it for an admin from the 5th recipient in an hour, the
/// research's tier C for quick replies; to customers who are not active it is outreach anyway.
pub fn classify(
    policy: &PacingPolicy,
    last_inbound: Option<Timestamp>,
    now: Timestamp,
) -> (Tier, Option<OutreachReason>) {
    match last_inbound {
        None => (Tier::Outreach, Some(OutreachReason::FirstContact)),
        Some(t) if now.since(t) > policy.active_window => {
            (Tier::Outreach, Some(OutreachReason::Silent))
        }
        Some(_) => (Tier::Active, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_customer_who_wrote_within_the_day_gets_an_active_reply_and_others_outreach() {
        let p = PacingPolicy::production();
        let now = Timestamp(100_000_000_000);
        let h = |n: u64| now.minus(Duration::from_secs(n * 3600));
        assert_eq!(classify(&p, Some(h(1)), now), (Tier::Active, None));
        assert_eq!(classify(&p, Some(h(23)), now), (Tier::Active, None));
        assert_eq!(
            classify(&p, Some(h(25)), now),
            (Tier::Outreach, Some(OutreachReason::Silent))
        );
        assert_eq!(
            classify(&p, None, now),
            (Tier::Outreach, Some(OutreachReason::FirstContact))
        );
    }
}
