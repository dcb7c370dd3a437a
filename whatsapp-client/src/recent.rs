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

#[cfg(test)]
mod tests {
    use super::*;

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
