//! Bounded bookkeeping of recent message ids: the ring lives with the receive core.

pub(crate) use whatsapp_proto::receive::recent::{RECENT_MESSAGES, RecentCounts};

use std::hash::Hash;

/// How many (key, value) pairs the client remembers having stored from messages (push names,
/// LID mappings): one per recent sender, so a busy number with thousands of customers writes
/// again only for the senders pushed out.
pub(crate) const RECENT_STORED: usize = 4096;

/// The last `capacity` keys seen; the oldest is forgotten first (forgetting only costs
/// doing again what the set saved).
#[derive(Debug)]
pub(crate) struct RecentSet<K>(RecentCounts<K>);

impl<K: Hash + Eq + Clone> RecentSet<K> {
    /// Remembers at most `capacity` keys (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        RecentSet(RecentCounts::new(capacity))
    }

    /// Remembers `key`; true when it was not remembered (new, or forgotten since).
    pub(crate) fn insert(&mut self, key: K) -> bool {
        self.0.bump(key) == 1
    }

    /// Forgets `key`: the next [`RecentSet::insert`] of it is new again.
    pub(crate) fn forget(&mut self, key: K) {
        self.0.set(key, 0);
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

/// How long after rebuilding a session for a retry receipt the next one without keys reuses
/// it (whatsmeow `retry.go` `recreateSessionTimeout`, one hour).
pub(crate) const RECREATE_SESSION_AFTER_MS: u64 = 3_600_000;

/// When each device's session was last rebuilt to answer a retry receipt, as whatsmeow's
/// `sessionRecreateHistory`; bounded like [`RecentSet`].
#[derive(Debug, Default)]
pub(crate) struct SessionRecreations {
    at: std::collections::HashMap<String, u64>,
    order: std::collections::VecDeque<String>,
}

impl SessionRecreations {
    /// Whether a retry receipt numbered `count` from `device` (a Signal address), which
    /// brought no keys, should be answered over a session built from fresh prekeys
    /// (whatsmeow `shouldRecreateSession`): always without a session, else from the second
    /// retry on, at most once an hour per device. A yes is remembered at `now_ms`.
    pub(crate) fn should_recreate(
        &mut self,
        device: &str,
        has_session: bool,
        count: u32,
        now_ms: u64,
    ) -> bool {
        if has_session {
            if count < 2 {
                return false;
            }
            if let Some(&last) = self.at.get(device)
                && now_ms.saturating_sub(last) < RECREATE_SESSION_AFTER_MS
            {
                return false;
            }
        }
        if self.at.insert(device.to_owned(), now_ms).is_none() {
            self.order.push_back(device.to_owned());
            if self.order.len() > RECENT_STORED
                && let Some(oldest) = self.order.pop_front()
            {
                self.at.remove(&oldest);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_rebuilt_from_the_second_retry_at_most_hourly() {
        let mut recreations = SessionRecreations::default();
        let t0 = 1_700_000_000_000;
        assert!(
            !recreations.should_recreate("201.1", true, 1, t0),
            "first retry: keep it"
        );
        assert!(
            recreations.should_recreate("201.1", true, 2, t0),
            "second retry: rebuild"
        );
        assert!(
            !recreations.should_recreate("201.1", true, 3, t0 + 1_000),
            "not twice an hour"
        );
        assert!(
            recreations.should_recreate("201.2", true, 2, t0 + 1_000),
            "per device"
        );
        assert!(recreations.should_recreate("201.1", true, 3, t0 + RECREATE_SESSION_AFTER_MS));
        // No session at all: always built, whatever the count.
        assert!(recreations.should_recreate("201.3", false, 1, t0));
        assert!(recreations.should_recreate("201.3", false, 1, t0));
        for i in 0..2 * RECENT_STORED {
            recreations.should_recreate(&format!("x.{i}"), false, 1, t0);
        }
        assert_eq!(recreations.at.len(), RECENT_STORED, "bounded");
    }

    #[test]
    fn a_set_is_bounded_and_reports_first_sightings() {
        let mut seen = RecentSet::new(RECENT_STORED);
        assert!(seen.insert(("lid 1".to_owned(), "15550001".to_owned())));
        assert!(!seen.insert(("lid 1".to_owned(), "15550001".to_owned())));
        for i in 0..10 * RECENT_STORED {
            seen.insert((format!("name {i}"), "x".to_owned()));
        }
        assert_eq!(seen.0.len(), RECENT_STORED, "never grows past its capacity");
        // The first pair was pushed out: seeing it again is a first sighting.
        assert!(seen.insert(("lid 1".to_owned(), "15550001".to_owned())));
        seen.clear();
        assert_eq!(seen.0.len(), 0);
        assert!(seen.insert(("name 1".to_owned(), "x".to_owned())));
    }
}
