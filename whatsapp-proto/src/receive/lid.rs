//! The PN/LID side of receiving (whatsmeow `message.go`): the sender's other address form,
//! and the group's own state following records the store moved from a phone number to its LID.

use crate::binary::Node;
use crate::jid::{Jid, Server};

use super::decrypt::Need;
use super::{Receiver, RecordKey};

impl Receiver {
    /// The sender's other address (part 2 §3.5): `sender_pn` (`participant_pn` in a group)
    /// when the sender is a LID, else `sender_lid` (`participant_lid`); one the stanza names
    /// is committed, a missing one is loaded.
    pub(super) fn alternate(
        &mut self,
        node: &Node,
        from: &Jid,
        group: bool,
    ) -> Result<Option<Jid>, Need> {
        let key = match (group, from.is_lid()) {
            (false, true) => "sender_pn",
            (false, false) => "sender_lid",
            (true, true) => "participant_pn",
            (true, false) => "participant_lid",
        };
        if let Some(alt) = node.attrs().optional_jid(key).ok().flatten() {
            let pair = if from.is_lid() {
                (from.user.clone(), alt.user.clone())
            } else {
                (alt.user.clone(), from.user.clone())
            };
            if !self.changes.lid_mappings.contains(&pair) {
                self.changes.lid_mappings.push(pair);
            }
            return Ok(Some(alt.to_non_ad()));
        }
        let (key, server) = if from.is_lid() {
            (RecordKey::PnForLid(from.user.clone()), Server::User)
        } else {
            (RecordKey::LidForPn(from.user.clone()), Server::Lid)
        };
        Ok(self
            .known(key)?
            .and_then(|user| String::from_utf8(user.clone()).ok())
            .map(|user| Jid::new(user, server)))
    }

    /// The store moved the records of `pn` to `lid`: so does the group's own state, a
    /// record of the phone number (loaded or changed) replacing the LID's, as in the store.
    pub(super) fn moved_to_lid(&mut self, pn: &str, lid: &str) {
        let from = Jid::user(pn).signal_address_prefix();
        let to = Jid::new(lid, Server::Lid).signal_address_prefix();
        let renamed = |address: &str| {
            address
                .strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}"))
        };
        let keys: Vec<RecordKey> = self.known.keys().cloned().collect();
        for key in keys {
            let moved = match &key {
                RecordKey::Session(a) => renamed(a).map(RecordKey::Session),
                RecordKey::Identity(a) => renamed(a).map(RecordKey::Identity),
                RecordKey::SenderKey { group, sender } => {
                    renamed(sender).map(|sender| RecordKey::SenderKey {
                        group: group.clone(),
                        sender,
                    })
                }
                _ => None,
            };
            if let Some(moved) = moved
                && let Some(value) = self.known.remove(&key)
            {
                if value.is_some() {
                    self.known.insert(moved, value);
                }
                self.known.insert(key, None);
            }
        }
        for decrypted in &mut self.changes.decrypts {
            if let Some(address) = renamed(&decrypted.address) {
                decrypted.address = address;
            }
            if let Some((_, sender, _)) = &mut decrypted.sender_key
                && let Some(address) = renamed(sender)
            {
                *sender = address;
            }
        }
        for (_, sender) in &mut self.distributed {
            if let Some(address) = renamed(sender) {
                *sender = address;
            }
        }
    }
}
