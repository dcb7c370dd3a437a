//! Users' device lists as `devices` fetched and screened them, kept for sends.

use std::collections::HashMap;
use std::time::Instant;

use whatsapp_proto::jid::Jid;

/// A device of a user's list and the key index its `<device key-index>` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownDevice {
    pub jid: Jid,
    pub key_index: Option<u32>,
}

impl KnownDevice {
    /// The device number and key index, what a key-index list screens by.
    pub(crate) fn id(&self) -> (u16, Option<u32>) {
        (self.jid.device, self.key_index)
    }
}

/// A screened device list and when it was fetched.
#[derive(Debug, Clone)]
pub(crate) struct CachedList {
    pub(crate) fetched: Instant,
    pub(crate) devices: Vec<KnownDevice>,
    /// Listed by the server but left out on purpose (the key-index list no longer vouches
    /// for them): the server's participant hash still counts them.
    pub(crate) omitted: Vec<Jid>,
    /// Whether its key-index list verified; an untrusted list is asked for again sooner.
    pub(crate) trusted: bool,
}

/// Users whose lists are kept at most: past it the list fetched longest ago goes (it would
/// be fetched again on the next send to that user). Without a bound the cache grew by one
/// entry per user ever messaged.
pub(crate) const DEVICE_CACHE_CAPACITY: usize = 4096;

/// The device cache: bare user JID -> its screened list, at most
/// [`DEVICE_CACHE_CAPACITY`] users.
#[derive(Debug)]
pub(crate) struct DeviceCache {
    lists: HashMap<String, CachedList>,
    capacity: usize,
}

impl Default for DeviceCache {
    fn default() -> Self {
        DeviceCache::with_capacity(DEVICE_CACHE_CAPACITY)
    }
}

impl DeviceCache {
    /// A cache of at most `capacity` users (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        DeviceCache {
            lists: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, user: &str) -> Option<&CachedList> {
        self.lists.get(user)
    }

    pub(crate) fn get_mut(&mut self, user: &str) -> Option<&mut CachedList> {
        self.lists.get_mut(user)
    }

    /// Keeps `list` for `user`; a new user past the capacity pushes out the oldest list.
    pub(crate) fn insert(&mut self, user: String, list: CachedList) {
        if !self.lists.contains_key(&user)
            && self.lists.len() >= self.capacity
            && let Some(oldest) = self
                .lists
                .iter()
                .min_by_key(|(_, l)| l.fetched)
                .map(|(u, _)| u.clone())
        {
            self.lists.remove(&oldest);
        }
        self.lists.insert(user, list);
    }

    pub(crate) fn remove(&mut self, user: &str) -> Option<CachedList> {
        self.lists.remove(user)
    }

    /// How many users' lists are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lists.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn list(fetched: Instant) -> CachedList {
        CachedList {
            fetched,
            omitted: Vec::new(),
            trusted: true,
            devices: Vec::new(),
        }
    }

    #[test]
    fn the_oldest_list_goes_when_full() {
        let start = Instant::now();
        let mut cache = DeviceCache::with_capacity(2);
        cache.insert("a".into(), list(start));
        cache.insert("b".into(), list(start + Duration::from_secs(1)));
        // Refreshing a kept user pushes nobody out.
        cache.insert("a".into(), list(start + Duration::from_secs(2)));
        assert_eq!(cache.len(), 2);
        // "b" is now the oldest.
        cache.insert("c".into(), list(start + Duration::from_secs(3)));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
    }

    #[test]
    fn never_grows_past_its_capacity() {
        let start = Instant::now();
        let mut cache = DeviceCache::default();
        for i in 0..DEVICE_CACHE_CAPACITY + 100 {
            cache.insert(i.to_string(), list(start + Duration::from_millis(i as u64)));
        }
        assert_eq!(cache.len(), DEVICE_CACHE_CAPACITY);
        assert!(cache.get("0").is_none(), "the first fetched went first");
    }
}
