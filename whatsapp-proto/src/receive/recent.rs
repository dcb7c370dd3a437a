//! Bounded bookkeeping of recent message ids, as whatsmeow's `recentMessagesMap` ring
//! (`retry.go`): the oldest entry is forgotten when a new one would exceed the capacity.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// How many message ids the retry bookkeeping remembers (whatsmeow `recentMessagesSize`).
pub const RECENT_MESSAGES: usize = 256;

/// A counter per key for the last `capacity` keys counted.
#[derive(Debug)]
pub struct RecentCounts<K> {
    counts: HashMap<K, u32>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> RecentCounts<K> {
    /// Remembers at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        RecentCounts {
            counts: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds one to `key`'s count and returns the new count; a key forgotten starts at 1.
    pub fn bump(&mut self, key: K) -> u32 {
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

    /// Sets `key`'s count (a key not remembered is counted as if bumped).
    pub fn set(&mut self, key: K, count: u32) {
        self.bump(key.clone());
        self.counts.insert(key, count);
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.counts.clear();
        self.order.clear();
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
}
