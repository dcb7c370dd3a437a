//! Bounded bookkeeping of recent message ids, as whatsmeow's `recentMessagesMap` ring
//! (`retry.go`): the oldest entry is forgotten when a new one would exceed the capacity.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// How many message ids the retry bookkeeping remembers (whatsmeow `recentMessagesSize`).
pub(crate) const RECENT_MESSAGES: usize = 256;

/// A counter per key for the last `capacity` keys counted.
#[derive(Debug)]
pub(crate) struct RecentCounts<K> {
    counts: HashMap<K, u32>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> RecentCounts<K> {
    /// Remembers at most `capacity` keys (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RecentCounts {
            counts: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds one to `key`'s count and returns the new count; a key forgotten starts at 1.
    pub(crate) fn bump(&mut self, key: K) -> u32 {
        if let Some(count) = self.counts.get_mut(&key) {
            *count = count.saturating_add(1);
            return *count;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.counts.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.counts.insert(key, 1);
        1
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.counts.clear();
        self.order.clear();
    }
}

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

    /// Forgets every key.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_forgets_the_oldest() {
        let mut recent = RecentCounts::new(2);
        assert_eq!(recent.bump("a"), 1);
        assert_eq!(recent.bump("a"), 2);
        assert_eq!(recent.bump("b"), 1);
        // "c" pushes out "a", the oldest; "b" keeps its count.
        assert_eq!(recent.bump("c"), 1);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent.bump("b"), 2);
        assert_eq!(recent.bump("a"), 1);
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn never_grows_past_its_capacity() {
        let mut recent = RecentCounts::new(RECENT_MESSAGES);
        for i in 0..10 * RECENT_MESSAGES {
            recent.bump(i);
        }
        assert_eq!(recent.len(), RECENT_MESSAGES);
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
