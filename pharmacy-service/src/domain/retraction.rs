//! How long a customer may still change a message they sent: edit it, or delete it for
//! everyone. Both are judged on WhatsApp's timestamps (the edit's or revoke's against the
//! target message's), never on when the event reached us, so a redelivery hours later is
//! judged as it was sent.

use super::time::Timestamp;
use std::time::Duration;

/// WhatsApp accepts edits for 20 minutes after the message was sent (whatsmeow `send.go`,
/// `EditWindow = 20 * time.Minute`).
pub const EDIT_WINDOW: Duration = Duration::from_secs(20 * 60);

/// How long a delete for everyone is honoured: two days, the window the service also keeps
/// for revoking its own replies (`app::outbound`). whatsmeow states no such constant; this
/// is the limit WhatsApp's apps show, a guess as to what the server enforces.
pub const REVOKE_WINDOW: Duration = Duration::from_secs(2 * 86_400);

/// What a customer does to a message of theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retraction {
    /// Replace the text.
    Edit,
    /// Delete for everyone.
    Revoke,
}

impl Retraction {
    /// The window after the target's timestamp.
    pub fn window(self) -> Duration {
        match self {
            Retraction::Edit => EDIT_WINDOW,
            Retraction::Revoke => REVOKE_WINDOW,
        }
    }

    /// Whether an event stamped `at` may still change a message stamped `target_at`. An event
    /// stamped before its target (clock skew between devices) counts as immediate.
    pub fn allowed(self, target_at: Timestamp, at: Timestamp) -> bool {
        at.since(target_at) <= self.window()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_inclusive_and_end_at_the_limit() {
        let t = Timestamp(1_000_000_000_000);
        assert!(Retraction::Edit.allowed(t, t.plus(EDIT_WINDOW)));
        assert!(!Retraction::Edit.allowed(t, t.plus(EDIT_WINDOW).plus(Duration::from_secs(1))));
        assert!(Retraction::Revoke.allowed(t, t.plus(Duration::from_secs(86_400))));
        assert!(!Retraction::Revoke.allowed(t, t.plus(REVOKE_WINDOW).plus(Duration::from_secs(1))));
        assert!(Retraction::Edit.allowed(t, t.minus(Duration::from_secs(5))));
    }
}
