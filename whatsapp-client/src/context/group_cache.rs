//! Groups' participant lists as the `w:g2` query answered them, kept for sends.

use std::collections::HashMap;

use whatsapp_proto::jid::Jid;

/// A group's participants (bare JIDs) and whether it is LID-addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupInfo {
    pub(crate) participants: Vec<Jid>,
    pub(crate) lid_mode: bool,
}

/// Groups kept at most; past it an arbitrary one goes (it is queried again on its next send).
pub(crate) const GROUP_CACHE_CAPACITY: usize = 1024;

/// Group JID -> its info, kept until a send's
/// `<ack>` shows a different participant hash (whatsmeow `group.go` `groupCache`, dropped in
/// `send.go` on a phash mismatch); `w:gp2` joins and leaves edit it (whatsmeow
/// `updateGroupParticipantCache`). At most [`GROUP_CACHE_CAPACITY`] groups.
#[derive(Debug, Default)]
pub(crate) struct GroupCache {
    groups: HashMap<String, GroupInfo>,
}

impl GroupCache {
    pub(crate) fn get(&self, group: &Jid) -> Option<GroupInfo> {
        self.groups.get(&group.to_string()).cloned()
    }

    pub(crate) fn insert(&mut self, group: &Jid, info: GroupInfo) {
        let key = group.to_string();
        if self.groups.len() >= GROUP_CACHE_CAPACITY && !self.groups.contains_key(&key) {
            let evicted = self.groups.keys().next().cloned();
            if let Some(evicted) = evicted {
                self.groups.remove(&evicted);
            }
        }
        self.groups.insert(key, info);
    }

    /// Adds participants to a kept group (a group not kept is asked for on its next send).
    pub(crate) fn add_participants(&mut self, group: &Jid, jids: &[Jid]) {
        if let Some(info) = self.groups.get_mut(&group.to_string()) {
            for jid in jids {
                if !info.participants.contains(jid) {
                    info.participants.push(jid.clone());
                }
            }
        }
    }

    /// Removes participants from a kept group.
    pub(crate) fn remove_participants(&mut self, group: &Jid, jids: &[Jid]) {
        if let Some(info) = self.groups.get_mut(&group.to_string()) {
            info.participants.retain(|p| !jids.contains(p));
        }
    }

    pub(crate) fn forget(&mut self, group: &Jid) {
        self.groups.remove(&group.to_string());
    }
}

#[cfg(test)]
mod tests {
    use whatsapp_proto::jid::Server;

    use super::*;

    #[test]
    fn kept_until_forgotten_and_bounded() {
        let group = |n: usize| Jid::new(format!("1203630000{n:08}"), Server::Group);
        let info = GroupInfo {
            participants: vec![Jid::user("201000000001".to_owned())],
            lid_mode: false,
        };
        let mut cache = GroupCache::default();
        cache.insert(&group(0), info.clone());
        assert_eq!(cache.get(&group(0)), Some(info.clone()));
        let joined = Jid::user("201000000002".to_owned());
        cache.add_participants(&group(0), &[joined.clone(), joined.clone()]);
        assert_eq!(cache.get(&group(0)).map(|i| i.participants.len()), Some(2));
        cache.remove_participants(&group(0), &[joined]);
        assert_eq!(cache.get(&group(0)), Some(info.clone()));
        // A group not kept stays unknown.
        cache.add_participants(&group(1), &[Jid::user("1".to_owned())]);
        assert_eq!(cache.get(&group(1)), None);
        cache.forget(&group(0));
        assert_eq!(cache.get(&group(0)), None);
        for n in 0..GROUP_CACHE_CAPACITY + 10 {
            cache.insert(&group(n), info.clone());
        }
        assert_eq!(cache.groups.len(), GROUP_CACHE_CAPACITY);
    }
}
