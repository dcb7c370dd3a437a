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
    /// The same text went to several other customers lately (reason 104).
    Identical,
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

/// Above this many other recipients of the same text within the mass-send window, a message is
/// outreach even in an active conversation: baileys-antiban's presets allow 3 identical
/// messages an hour (conservative) to 10 (aggressive) [VENDOR]; 3 is the cautious end [GUESS].
pub const IDENTICAL_AFTER: usize = 3;

/// The tier of a message to a customer whose last message arrived at `last_inbound` (`None`:
/// never), whose text already went to `identical_recipients` other customers within the
/// mass-send window. Why it is outreach, when it is.
pub fn classify(
    policy: &PacingPolicy,
    last_inbound: Option<Timestamp>,
    identical_recipients: usize,
    now: Timestamp,
) -> (Tier, Option<OutreachReason>) {
    let reason = match last_inbound {
        None => Some(OutreachReason::FirstContact),
        Some(t) if now.since(t) > policy.active_window => Some(OutreachReason::Silent),
        Some(_) if identical_recipients >= IDENTICAL_AFTER => Some(OutreachReason::Identical),
        Some(_) => None,
    };
    match reason {
        None => (Tier::Active, None),
        r => (Tier::Outreach, r),
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
        assert_eq!(classify(&p, Some(h(1)), 0, now), (Tier::Active, None));
        assert_eq!(classify(&p, Some(h(23)), 2, now), (Tier::Active, None));
        assert_eq!(
            classify(&p, Some(h(25)), 0, now),
            (Tier::Outreach, Some(OutreachReason::Silent))
        );
        assert_eq!(
            classify(&p, None, 0, now),
            (Tier::Outreach, Some(OutreachReason::FirstContact))
        );
        assert_eq!(
            classify(&p, Some(h(1)), IDENTICAL_AFTER, now),
            (Tier::Outreach, Some(OutreachReason::Identical))
        );
    }
}
