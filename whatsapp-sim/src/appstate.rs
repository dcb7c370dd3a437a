//! App-state sync on the server and the phone (fact sheet part 2 §8): the server's copy of an
//! account's five collections (versions, the patch log, the live records a snapshot lists)
//! and the primary phone's app-state sync keys, with which the phone encrypts its own
//! mutations and MACs the snapshots the server hands out.
//!
//! The server never sees a key: it stores what it is given, keeps the LTHash from the value
//! MACs (the last 32 bytes of each value blob) and checks only what a server can check, the
//! version and the shape of an uploaded patch. Everything needing a key (snapshot MACs,
//! mutations, faults) goes through the phone's key ring.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use whatsapp_proto::appstate::{
    self, AppStateKeys, CollectionState, LtHash, Operation, OutgoingMutation, index_names,
};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::sync_action::{ContactAction, SyncActionValue};
use whatsapp_proto::pb::syncd::{KeyId, SyncdPatch, SyncdRecord, SyncdSnapshot, SyncdVersion};

pub use whatsapp_proto::appstate::Collection;

/// Patches per answer; more are announced with `has_more_patches="true"`.
pub(crate) const PATCH_PAGE: usize = 50;
/// A patch whose mutations encode to more bytes than this is served with its mutations in an
/// external blob (`SyncdPatch.externalMutations`, whatsmeow `appstate/decode.go`).
pub(crate) const EXTERNAL_MUTATIONS_BYTES: usize = 16 * 1024;

/// One app-state sync key of the phone.
#[derive(Clone)]
pub(crate) struct SyncKey {
    /// Key ID: six bytes, as in the fact sheet's vectors (`00000000a1b2`).
    pub id: Vec<u8>,
    pub data: [u8; 32],
    pub timestamp_ms: i64,
}

/// Why the server refuses an uploaded patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadError {
    /// The companion built on an older version: 409 with the patches it missed.
    Conflict,
    /// The patch is not something a server would store: 400.
    Malformed(&'static str),
}

/// (operation, index MAC, value MAC) of a stored mutation, read without keys.
type Macs = (Operation, [u8; 32], [u8; 32]);

/// The server's copy of one collection.
#[derive(Default)]
pub(crate) struct ServerCollection {
    pub version: u64,
    /// LTHash of the live value MACs (what the snapshot MAC covers).
    pub hash: LtHash,
    /// Live records: index MAC → (value MAC, record).
    live: BTreeMap<[u8; 32], ([u8; 32], SyncdRecord)>,
    /// `patches[i]` is version `i + 1`.
    patches: Vec<SyncdPatch>,
}

fn record_macs(operation: Option<i32>, record: Option<&SyncdRecord>) -> Option<Macs> {
    let op = Operation::from_wire(operation.unwrap_or(0))?;
    let record = record?;
    let index: [u8; 32] = record.index.as_ref()?.blob.as_deref()?.try_into().ok()?;
    let blob = record.value.as_ref()?.blob.as_deref()?;
    // IV(16) ‖ ciphertext (whole blocks) ‖ value MAC(32).
    if blob.len() < 16 + 16 + 32 || !(blob.len() - 48).is_multiple_of(16) {
        return None;
    }
    let value: [u8; 32] = blob[blob.len() - 32..].try_into().ok()?;
    record
        .key_id
        .as_ref()?
        .id
        .as_ref()
        .filter(|id| !id.is_empty())?;
    Some((op, index, value))
}

impl ServerCollection {
    /// The value MAC stored at an index MAC.
    pub fn value_mac(&self, index: &[u8; 32]) -> Option<[u8; 32]> {
        self.live.get(index).map(|(v, _)| *v)
    }

    /// The state a client holds after syncing to the current version.
    pub fn state(&self) -> CollectionState {
        CollectionState {
            version: self.version,
            hash: self.hash,
        }
    }

    /// What a server can check of an upload without keys: mutations present and well formed,
    /// both MACs 32 bytes, a key ID, no version of its own choosing.
    pub fn check_upload(patch: &SyncdPatch) -> Result<(), UploadError> {
        if patch.mutations.is_empty() {
            return Err(UploadError::Malformed("patch without mutations"));
        }
        if patch
            .mutations
            .iter()
            .any(|m| record_macs(m.operation, m.record.as_ref()).is_none())
        {
            return Err(UploadError::Malformed("malformed mutation"));
        }
        let mac_ok = |m: &Option<Vec<u8>>| m.as_ref().is_some_and(|m| m.len() == 32);
        if !mac_ok(&patch.snapshot_mac) || !mac_ok(&patch.patch_mac) {
            return Err(UploadError::Malformed("snapshot or patch MAC missing"));
        }
        if patch.key_id.as_ref().and_then(|k| k.id.as_ref()).is_none() {
            return Err(UploadError::Malformed("patch without key id"));
        }
        Ok(())
    }

    /// Stores a patch as the next version (its mutations must have passed
    /// [`ServerCollection::check_upload`]); returns the new version.
    pub fn append(&mut self, mut patch: SyncdPatch) -> u64 {
        // Same rule as the client's (whatsmeow `appstate/hash.go` updateHash): a mutation
        // subtracts the index's previous value (latest earlier one in this patch first).
        let mut in_patch: HashMap<[u8; 32], Option<[u8; 32]>> = HashMap::new();
        for m in &patch.mutations {
            let Some((op, index, value)) = record_macs(m.operation, m.record.as_ref()) else {
                continue;
            };
            let before = match in_patch.get(&index) {
                Some(v) => *v,
                None => self.value_mac(&index),
            };
            if let Some(prev) = before {
                self.hash.subtract(&prev);
            }
            match (op, m.record.clone()) {
                (Operation::Set, Some(record)) => {
                    self.hash.add(&value);
                    self.live.insert(index, (value, record));
                    in_patch.insert(index, Some(value));
                }
                _ => {
                    self.live.remove(&index);
                    in_patch.insert(index, None);
                }
            }
        }
        self.version += 1;
        patch.version = Some(SyncdVersion {
            version: Some(self.version),
        });
        self.patches.push(patch);
        self.version
    }

    /// Patches after version `from`, at most `page` of them, and whether more remain.
    pub fn patches_after(&self, from: u64, page: usize) -> (&[SyncdPatch], bool) {
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.patches.len());
        let end = start.saturating_add(page).min(self.patches.len());
        (&self.patches[start..end], end < self.patches.len())
    }

    /// The collection as a snapshot at its current version, MACed with `key`.
    pub fn snapshot(&self, name: &str, key: &SyncKey) -> SyncdSnapshot {
        let keys = AppStateKeys::expand(&key.data);
        SyncdSnapshot {
            version: Some(SyncdVersion {
                version: Some(self.version),
            }),
            records: self.live.values().map(|(_, r)| r.clone()).collect(),
            mac: Some(appstate::snapshot_mac(&keys, &self.hash, self.version, name).to_vec()),
            key_id: Some(KeyId {
                id: Some(key.id.clone()),
            }),
        }
    }
}

/// A fault on the next patch the server serves (client refusal tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchFault {
    /// The patch MAC has a flipped bit.
    PatchMac,
    /// The snapshot MAC is computed over a wrong LTHash (and the patch MAC over that).
    LtHash,
}

/// Applies `fault` to a served copy of `patch`, with the keys its `keyID` names. `any_hash`
/// is the base of the wrong LTHash (anything plus an item no client saw is wrong).
pub(crate) fn corrupt_patch(
    patch: &mut SyncdPatch,
    name: &str,
    fault: PatchFault,
    any_hash: &LtHash,
    keys: &AppStateKeys,
) {
    match fault {
        PatchFault::PatchMac => {
            if let Some(b) = patch.patch_mac.as_mut().and_then(|m| m.first_mut()) {
                *b ^= 0x01;
            }
        }
        PatchFault::LtHash => {
            let version = patch.version.as_ref().and_then(|v| v.version).unwrap_or(0);
            let mut wrong = *any_hash;
            wrong.add(b"a mutation the client never saw");
            let snapshot = appstate::snapshot_mac(keys, &wrong, version, name);
            let value_macs: Vec<Vec<u8>> = patch
                .mutations
                .iter()
                .filter_map(|m| record_macs(m.operation, m.record.as_ref()))
                .map(|(_, _, v)| v.to_vec())
                .collect();
            let mac = appstate::patch_mac(
                keys,
                &snapshot,
                value_macs.iter().map(Vec::as_slice),
                version,
                name,
            );
            patch.snapshot_mac = Some(snapshot.to_vec());
            patch.patch_mac = Some(mac.to_vec());
        }
    }
}

/// App-state of every account, and the pending patch faults.
#[derive(Default)]
pub(crate) struct SyncStore {
    pub accounts: HashMap<String, AccountSync>,
    pub faults: VecDeque<PatchFault>,
}

/// A change the phone's user makes (`POST /control/appstate/{phone}/mutation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PhoneMutation {
    /// Save or rename a contact in the address book (critical_unblock_low).
    Contact {
        /// The contact's phone number or PN JID.
        jid: String,
        /// Full name as saved.
        name: String,
    },
    /// The account's own push name (critical_block).
    PushName {
        /// The name.
        name: String,
    },
    /// Archive or unarchive a chat (regular_low).
    Archive {
        /// Chat JID or phone number.
        chat: String,
        /// Archived or not.
        archived: bool,
    },
    /// Pin or unpin a chat (regular_low).
    Pin {
        /// Chat.
        chat: String,
        /// Pinned or not.
        pinned: bool,
    },
    /// Mark a chat read or unread (regular_low).
    MarkRead {
        /// Chat.
        chat: String,
        /// Read (true) or marked unread (false).
        read: bool,
    },
    /// Mute until a time (unix ms, -1 forever) or unmute with `None` (regular_high).
    Mute {
        /// Chat.
        chat: String,
        /// Mute end in unix milliseconds, -1 for always; absent = unmute.
        until_ms: Option<i64>,
    },
    /// Create or rename a label (regular).
    Label {
        /// Label id, e.g. "1".
        id: String,
        /// Label name.
        name: String,
        /// Color index.
        #[serde(default)]
        color: i32,
    },
    /// Put a label on a chat or take it off (regular).
    LabelChat {
        /// Label id.
        label_id: String,
        /// Chat.
        chat: String,
        /// Labeled or not.
        labeled: bool,
    },
}

/// Digits or a JID → a JID string (phone numbers become PN JIDs).
fn chat_jid(chat: &str) -> String {
    if chat.contains('@') {
        chat.to_owned()
    } else {
        let digits: String = chat.chars().filter(char::is_ascii_digit).collect();
        format!("{digits}@s.whatsapp.net")
    }
}

impl PhoneMutation {
    /// The collection and the encodable mutation, stamped `now_ms`.
    pub(crate) fn to_outgoing(&self, now_ms: i64) -> (Collection, OutgoingMutation) {
        match self {
            Self::Contact { jid, name } => {
                let jid = chat_jid(jid);
                let value = SyncActionValue {
                    timestamp: Some(now_ms),
                    contact_action: Some(ContactAction {
                        full_name: Some(name.clone()),
                        first_name: name.split_whitespace().next().map(str::to_owned),
                        save_on_primary_addressbook: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let m = OutgoingMutation {
                    operation: Operation::Set,
                    index: vec![index_names::CONTACT.into(), jid],
                    value,
                    version: 2,
                };
                (Collection::CriticalUnblockLow, m)
            }
            Self::PushName { name } => (
                Collection::CriticalBlock,
                OutgoingMutation::push_name(name, now_ms),
            ),
            Self::Archive { chat, archived } => (
                Collection::RegularLow,
                OutgoingMutation::archive(&chat_jid(chat), *archived, None, now_ms),
            ),
            Self::Pin { chat, pinned } => (
                Collection::RegularLow,
                OutgoingMutation::pin(&chat_jid(chat), *pinned, now_ms),
            ),
            Self::MarkRead { chat, read } => (
                Collection::RegularLow,
                OutgoingMutation::mark_chat_as_read(&chat_jid(chat), *read, None, now_ms),
            ),
            Self::Mute { chat, until_ms } => (
                Collection::RegularHigh,
                OutgoingMutation::mute(&chat_jid(chat), *until_ms, now_ms),
            ),
            Self::Label { id, name, color } => (
                Collection::Regular,
                OutgoingMutation::label_edit(id, name, *color, false, now_ms),
            ),
            Self::LabelChat {
                label_id,
                chat,
                labeled,
            } => (
                Collection::Regular,
                OutgoingMutation::label_chat(label_id, &chat_jid(chat), *labeled, now_ms),
            ),
        }
    }
}

/// An account's app-state: the phone's keys and the server's collections.
#[derive(Default)]
pub(crate) struct AccountSync {
    /// The phone's keys, oldest first; the newest encrypts.
    pub keys: Vec<SyncKey>,
    pub collections: HashMap<Collection, ServerCollection>,
    /// Companions the phone already sent keys and history to.
    pub bootstrapped: HashSet<u16>,
    /// The phone's chats, for history sync.
    pub history: Vec<crate::history::HistoryChat>,
}

impl AccountSync {
    /// The expanded keys of a key ID the phone holds.
    pub fn keys_for(&self, id: &[u8]) -> Option<AppStateKeys> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .map(|k| AppStateKeys::expand(&k.data))
    }

    /// A fresh key becomes the newest (the phone's key rotation); returns it.
    pub fn new_key(&mut self, now_ms: i64, rng: &mut (impl RngCore + CryptoRng)) -> SyncKey {
        let mut data = [0u8; 32];
        rng.fill_bytes(&mut data);
        let mut id = vec![0u8; 6];
        loop {
            rng.fill_bytes(&mut id[4..]);
            if !self.keys.iter().any(|k| k.id == id) {
                break;
            }
        }
        let key = SyncKey {
            id,
            data,
            timestamp_ms: now_ms,
        };
        self.keys.push(key.clone());
        key
    }

    /// The newest key, created on first use.
    pub fn newest_key(&mut self, now_ms: i64, rng: &mut (impl RngCore + CryptoRng)) -> SyncKey {
        match self.keys.last() {
            Some(k) => k.clone(),
            None => self.new_key(now_ms, rng),
        }
    }

    /// The phone encrypts `mutations` with its newest key as the next patch of `collection`;
    /// returns the new version.
    pub fn phone_patch(
        &mut self,
        collection: Collection,
        mutations: &[OutgoingMutation],
        now_ms: i64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> u64 {
        let key = self.newest_key(now_ms, rng);
        let keys = AppStateKeys::expand(&key.data);
        let store = self.collections.entry(collection).or_default();
        let encoded = appstate::encode_patch(
            collection.name(),
            &store.state(),
            &key.id,
            &keys,
            mutations,
            |index| store.value_mac(index),
            rng,
        );
        store.append(encoded.patch)
    }

    /// `AppStateSyncKeyShare` of the keys named (all keys when `ids` is `None`).
    /// Fingerprint: the account's raw id, current key index and valid key indexes
    /// (whatsmeow `proto` `AppStateSyncKeyFingerprint`).
    pub fn key_share(
        &self,
        ids: Option<&[Vec<u8>]>,
        raw_id: u32,
        key_indexes: &[u32],
    ) -> e2e::Message {
        let keys = self
            .keys
            .iter()
            .filter(|k| ids.is_none_or(|ids| ids.contains(&k.id)))
            .map(|k| e2e::AppStateSyncKey {
                key_id: Some(e2e::AppStateSyncKeyId {
                    key_id: Some(k.id.clone()),
                }),
                key_data: Some(e2e::AppStateSyncKeyData {
                    key_data: Some(k.data.to_vec()),
                    fingerprint: Some(e2e::AppStateSyncKeyFingerprint {
                        raw_id: Some(raw_id),
                        current_index: key_indexes.iter().copied().max(),
                        device_indexes: key_indexes.to_vec(),
                    }),
                    timestamp: Some(k.timestamp_ms),
                }),
            })
            .collect();
        protocol_message(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::AppStateSyncKeyShare as i32),
            app_state_sync_key_share: Some(e2e::AppStateSyncKeyShare { keys }),
            ..Default::default()
        })
    }
}

/// Wraps a protocol message in a `Message`.
pub(crate) fn protocol_message(p: e2e::ProtocolMessage) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(p)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;
    use whatsapp_proto::appstate::{DecodeOptions, decode_patch, decode_snapshot};

    #[test]
    fn served_snapshot_and_patches_verify_with_the_phone_keys() {
        let mut rng = OsRng;
        let mut sync = AccountSync::default();
        let name = Collection::RegularLow.name();
        for (i, archived) in [true, false, true].into_iter().enumerate() {
            let m = PhoneMutation::Archive {
                chat: "201000000001".into(),
                archived,
            };
            let (c, out) = m.to_outgoing(1_700_000_000_000 + i as i64);
            sync.phone_patch(c, &[out], 1, &mut rng);
        }
        let key = sync.keys[0].clone();
        let lookup = |id: &[u8]| (id == key.id).then(|| AppStateKeys::expand(&key.data));
        let store = &sync.collections[&Collection::RegularLow];
        let snap = decode_snapshot(
            name,
            &store.snapshot(name, &key),
            lookup,
            DecodeOptions::default(),
        )
        .expect("snapshot verifies");
        assert_eq!(snap.state, store.state());
        assert_eq!(snap.mutations.len(), 1, "one live record");
        // Replaying the patch log from zero reaches the same state.
        let mut state = CollectionState::default();
        let mut values: HashMap<[u8; 32], [u8; 32]> = HashMap::new();
        let (patches, more) = store.patches_after(0, 2);
        assert!(more);
        let (rest, more) = store.patches_after(2, 2);
        assert!(!more);
        for p in patches.iter().chain(rest) {
            let out = decode_patch(
                name,
                &state,
                p,
                lookup,
                |i| values.get(i).copied(),
                DecodeOptions::default(),
            )
            .expect("patch verifies");
            for r in &out.removed {
                values.remove(r);
            }
            values.extend(out.added.iter().copied());
            state = out.state;
        }
        assert_eq!(state, store.state());
    }
}
