//! Whole snapshots and patches: LTHash update, snapshot and patch MACs, and
//! the decoded mutations, computed as a new state so a refusal changes nothing.

use std::collections::HashMap;

use rand_core::{CryptoRng, RngCore};

use super::AppStateError;
use super::index::encode_index;
use super::keys::AppStateKeys;
use super::lthash::LtHash;
use super::mac::{Operation, mac_eq, patch_mac, snapshot_mac};
use super::mutation::{
    DecodedMutation, decrypt_mutation, encrypt_mutation, record_index_mac, record_key_id,
    record_value_blob, split_value_blob,
};
use crate::pb::sync_action::{SyncActionData, SyncActionValue};
use crate::pb::syncd::{KeyId, SyncdMutation, SyncdPatch, SyncdSnapshot};

/// What a client persists per collection besides the index MAC → value MAC map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectionState {
    /// Version of the last applied patch or snapshot (0 = never synced).
    pub version: u64,
    /// LTHash of the live value MACs.
    pub hash: LtHash,
}

/// Verification switches; [`Default`] verifies everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Check value, index, snapshot and patch MACs. Turning this off (as
    /// Baileys does by default) accepts forged or corrupted state; only for diagnosis.
    pub verify_macs: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { verify_macs: true }
    }
}

impl DecodeOptions {
    /// Turns MAC verification on or off (see [`DecodeOptions::verify_macs`]).
    pub fn with_verify_macs(mut self, verify: bool) -> Self {
        self.verify_macs = verify;
        self
    }
}

/// Something odd but not fatal found while applying a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatchWarning {
    /// A REMOVE for an index that had no value (WhatsApp sends these, e.g. when
    /// contact access is revoked); nothing was subtracted from the LTHash.
    RemoveWithoutPreviousValue {
        /// Position of the mutation.
        position: usize,
        /// Its index MAC.
        index_mac: [u8; 32],
    },
}

/// The result of a verified snapshot or patch, to be persisted in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The collection's new version and LTHash.
    pub state: CollectionState,
    /// The decoded mutations, in order.
    pub mutations: Vec<DecodedMutation>,
    /// True for a snapshot: every stored index MAC → value MAC pair of the
    /// collection must be dropped before storing `added`.
    pub replaces_all: bool,
    /// Index MACs whose stored value MAC must be deleted.
    pub removed: Vec<[u8; 32]>,
    /// (index MAC, value MAC) pairs to store or overwrite, one per index.
    pub added: Vec<([u8; 32], [u8; 32])>,
    /// Non-fatal oddities.
    pub warnings: Vec<PatchWarning>,
}

fn in_mutation(position: usize) -> impl Fn(AppStateError) -> AppStateError {
    move |e| AppStateError::Mutation {
        position,
        source: Box::new(e),
    }
}

fn operation_of(m: &SyncdMutation) -> Result<Operation, AppStateError> {
    let value = m.operation.unwrap_or(0);
    Operation::from_wire(value).ok_or(AppStateError::UnknownOperation { value })
}

/// (operation, index MAC, value MAC) of one mutation.
type MutationMacs = (Operation, [u8; 32], [u8; 32]);

/// The [`MutationMacs`] of each mutation, without decrypting.
fn mutation_macs(mutations: &[SyncdMutation]) -> Result<Vec<MutationMacs>, AppStateError> {
    mutations
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let op = operation_of(m).map_err(in_mutation(i))?;
            let record = m.record.as_ref().ok_or(AppStateError::Mutation {
                position: i,
                source: Box::new(AppStateError::MissingField { field: "record" }),
            })?;
            let index = record_index_mac(record).map_err(in_mutation(i))?;
            let (_, value) = record_value_blob(record)
                .and_then(split_value_blob)
                .map_err(in_mutation(i))?;
            Ok((op, index, value))
        })
        .collect()
}

/// Applies mutations to an LTHash: every SET adds its value MAC; every mutation
/// whose index had a value subtracts that value (the latest earlier mutation of
/// the same index in this patch decides, else the stored map).
fn update_hash(
    hash: &mut LtHash,
    macs: &[MutationMacs],
    previous_value_mac: &impl Fn(&[u8; 32]) -> Option<[u8; 32]>,
    warnings: &mut Vec<PatchWarning>,
) {
    // Latest value of each index touched so far in this patch (None = removed).
    let mut in_patch: HashMap<[u8; 32], Option<[u8; 32]>> = HashMap::new();
    for (i, (op, index, value)) in macs.iter().enumerate() {
        let previous = match in_patch.get(index) {
            Some(latest) => *latest,
            None => previous_value_mac(index),
        };
        match previous {
            Some(prev) => hash.subtract(&prev),
            None if *op == Operation::Remove => {
                warnings.push(PatchWarning::RemoveWithoutPreviousValue {
                    position: i,
                    index_mac: *index,
                })
            }
            None => {}
        }
        if *op == Operation::Set {
            hash.add(value);
        }
        in_patch.insert(*index, (*op == Operation::Set).then_some(*value));
    }
}

fn key_for(
    key_id: Option<&KeyId>,
    field: &'static str,
    keys: &impl Fn(&[u8]) -> Option<AppStateKeys>,
) -> Result<AppStateKeys, AppStateError> {
    let id = key_id
        .and_then(|k| k.id.as_deref())
        .ok_or(AppStateError::MissingField { field })?;
    keys(id).ok_or_else(|| AppStateError::MissingKey {
        key_id: id.to_vec(),
    })
}

fn decode_all(
    mutations: &[SyncdMutation],
    macs: &[MutationMacs],
    keys: &impl Fn(&[u8]) -> Option<AppStateKeys>,
    options: DecodeOptions,
    outcome: &mut PatchOutcome,
) -> Result<(), AppStateError> {
    // Expanded keys per key ID, so a lookup that expands is called once per key.
    let mut key_cache: HashMap<Vec<u8>, AppStateKeys> = HashMap::new();
    // Final value per index (None = removed), with the position it first appeared at.
    let mut last: HashMap<[u8; 32], (usize, Option<[u8; 32]>)> = HashMap::new();
    for (i, (m, (op, index, value))) in mutations.iter().zip(macs).enumerate() {
        // `macs` was built from these mutations, so the record exists.
        let Some(record) = m.record.as_ref() else {
            return Err(in_mutation(i)(AppStateError::MissingField {
                field: "record",
            }));
        };
        let id = record_key_id(record).map_err(in_mutation(i))?;
        let record_keys = match key_cache.get(id) {
            Some(k) => k,
            None => {
                let k = keys(id).ok_or_else(|| {
                    in_mutation(i)(AppStateError::MissingKey {
                        key_id: id.to_vec(),
                    })
                })?;
                key_cache.entry(id.to_vec()).or_insert(k)
            }
        };
        let decoded = decrypt_mutation(*op, record, record_keys, options.verify_macs)
            .map_err(in_mutation(i))?;
        let now = (*op == Operation::Set).then_some(*value);
        last.entry(*index)
            .and_modify(|e| e.1 = now)
            .or_insert((i, now));
        outcome.mutations.push(decoded);
    }
    let mut finals: Vec<_> = last.into_iter().collect();
    finals.sort_by_key(|(_, (first, _))| *first);
    for (index, (_, value)) in finals {
        match value {
            Some(v) => outcome.added.push((index, v)),
            None => outcome.removed.push(index),
        }
    }
    Ok(())
}

/// Verifies and decodes a snapshot of `collection`. A snapshot replaces the
/// collection: its LTHash starts from zero and every record counts as a SET.
///
/// `keys` maps a key ID to its expanded keys (`None` = unknown key, which makes
/// this fail with [`AppStateError::MissingKey`]).
pub fn decode_snapshot(
    collection: &str,
    snapshot: &SyncdSnapshot,
    keys: impl Fn(&[u8]) -> Option<AppStateKeys>,
    options: DecodeOptions,
) -> Result<PatchOutcome, AppStateError> {
    let version =
        snapshot
            .version
            .as_ref()
            .and_then(|v| v.version)
            .ok_or(AppStateError::MissingField {
                field: "snapshot.version",
            })?;
    let mutations: Vec<SyncdMutation> = snapshot
        .records
        .iter()
        .map(|r| SyncdMutation {
            operation: Some(Operation::Set.wire_value()),
            record: Some(r.clone()),
        })
        .collect();
    let macs = mutation_macs(&mutations)?;
    let mut outcome = PatchOutcome {
        state: CollectionState {
            version,
            hash: LtHash::ZERO,
        },
        mutations: Vec::with_capacity(mutations.len()),
        replaces_all: true,
        removed: Vec::new(),
        added: Vec::new(),
        warnings: Vec::new(),
    };
    // A snapshot only adds: every record counts, nothing is subtracted.
    for (_, _, value) in &macs {
        outcome.state.hash.add(value);
    }
    if options.verify_macs {
        let k = key_for(snapshot.key_id.as_ref(), "snapshot.keyId", &keys)?;
        let expected = snapshot_mac(&k, &outcome.state.hash, version, collection);
        if !mac_eq(&expected, snapshot.mac.as_deref().unwrap_or_default()) {
            return Err(AppStateError::SnapshotMacMismatch {
                what: "snapshot",
                version,
            });
        }
    }
    decode_all(&mutations, &macs, &keys, options, &mut outcome)?;
    Ok(outcome)
}

/// Verifies and decodes one patch of `collection` on top of `state`.
///
/// `previous_value_mac` returns the stored value MAC of an index MAC (the
/// collection's map as persisted after the previous patch). The patch's
/// snapshot MAC must match the LTHash after applying it, and its patch MAC must
/// match; either mismatch is an error and `state` stays as it was. Patches with
/// `external_mutations` must have the downloaded `SyncdMutations` put into
/// `mutations` first.
///
/// ```
/// use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
/// use whatsapp_proto::appstate::{self, AppStateKeys, CollectionState, DecodeOptions, OutgoingMutation};
/// use whatsapp_proto::pb::syncd::SyncdVersion;
/// let mut rng = ChaCha20Rng::seed_from_u64(1); // use a CSPRNG such as OsRng in production
/// let keys = AppStateKeys::expand(&[4; 32]);
/// let start = CollectionState::default();
/// let ours = [OutgoingMutation::archive("1555@s.whatsapp.net", true, None, 1_700_000_000_000)];
/// let sent = appstate::encode_patch("regular_low", &start, b"kid", &keys, &ours, |_| None, &mut rng);
/// // The server echoes it back with a version.
/// let mut patch = sent.patch.clone();
/// patch.version = Some(SyncdVersion { version: Some(1) });
/// let lookup = |id: &[u8]| (id == b"kid").then(|| keys.clone());
/// let out = appstate::decode_patch("regular_low", &start, &patch, lookup, |_| None, DecodeOptions::default()).unwrap();
/// assert_eq!(out.state, sent.state);
/// assert_eq!(out.mutations[0].index, ["archive", "1555@s.whatsapp.net"]);
/// // The same patch on a stale state is refused: the LTHash no longer matches.
/// let stale = CollectionState { version: 0, hash: out.state.hash };
/// assert!(appstate::decode_patch("regular_low", &stale, &patch, lookup, |_| None, DecodeOptions::default()).is_err());
/// ```
pub fn decode_patch(
    collection: &str,
    state: &CollectionState,
    patch: &SyncdPatch,
    keys: impl Fn(&[u8]) -> Option<AppStateKeys>,
    previous_value_mac: impl Fn(&[u8; 32]) -> Option<[u8; 32]>,
    options: DecodeOptions,
) -> Result<PatchOutcome, AppStateError> {
    let version =
        patch
            .version
            .as_ref()
            .and_then(|v| v.version)
            .ok_or(AppStateError::MissingField {
                field: "patch.version",
            })?;
    if patch.external_mutations.is_some() && patch.mutations.is_empty() {
        return Err(AppStateError::ExternalMutationsNotLoaded);
    }
    let macs = mutation_macs(&patch.mutations)?;
    let mut outcome = PatchOutcome {
        state: CollectionState {
            version,
            hash: state.hash,
        },
        mutations: Vec::with_capacity(macs.len()),
        replaces_all: false,
        removed: Vec::new(),
        added: Vec::new(),
        warnings: Vec::new(),
    };
    update_hash(
        &mut outcome.state.hash,
        &macs,
        &previous_value_mac,
        &mut outcome.warnings,
    );
    if options.verify_macs {
        let k = key_for(patch.key_id.as_ref(), "patch.keyId", &keys)?;
        let snapshot = snapshot_mac(&k, &outcome.state.hash, version, collection);
        let got_snapshot = patch.snapshot_mac.as_deref().unwrap_or_default();
        if !mac_eq(&snapshot, got_snapshot) {
            return Err(AppStateError::SnapshotMacMismatch {
                what: "patch",
                version,
            });
        }
        let expected = patch_mac(
            &k,
            got_snapshot,
            macs.iter().map(|(_, _, v)| v.as_slice()),
            version,
            collection,
        );
        if !mac_eq(&expected, patch.patch_mac.as_deref().unwrap_or_default()) {
            return Err(AppStateError::PatchMacMismatch { version });
        }
    }
    decode_all(&patch.mutations, &macs, &keys, options, &mut outcome)?;
    Ok(outcome)
}

/// One of our own changes to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMutation {
    /// SET (normal) or REMOVE.
    pub operation: Operation,
    /// The index parts, e.g. `["archive", "<jid>"]`.
    pub index: Vec<String>,
    /// The action, with its `timestamp` (ms) set.
    pub value: SyncActionValue,
    /// The action's schema version (mute 2, pin_v1 5, archive 3, markChatAsRead 3,
    /// star 2, deleteChat 6, setting_pushName 1, label_* 3).
    pub version: i32,
}

/// A patch ready to send, and the state it leads to once the server accepts it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPatch {
    /// Mutations, snapshot MAC, patch MAC and key ID; `version` is left unset
    /// (the server assigns it).
    pub patch: SyncdPatch,
    /// Version `state.version + 1` and the LTHash after the mutations.
    pub state: CollectionState,
}

/// Encrypts our own mutations into a patch on top of `state`, with the key
/// `key_id` (the newest app-state key we hold) and fresh IVs from `rng`.
/// `previous_value_mac` is as for [`decode_patch`].
pub fn encode_patch<R: RngCore + CryptoRng>(
    collection: &str,
    state: &CollectionState,
    key_id: &[u8],
    keys: &AppStateKeys,
    mutations: &[OutgoingMutation],
    previous_value_mac: impl Fn(&[u8; 32]) -> Option<[u8; 32]>,
    rng: &mut R,
) -> EncodedPatch {
    let encrypted: Vec<SyncdMutation> = mutations
        .iter()
        .map(|m| {
            let data = SyncActionData {
                index: Some(encode_index(&m.index)),
                value: Some(m.value.clone()),
                padding: Some(Vec::new()),
                version: Some(m.version),
            };
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut iv);
            encrypt_mutation(keys, key_id, m.operation, &data, iv)
        })
        .collect();
    let version = state.version + 1;
    let mut hash = state.hash;
    // Our own mutations are well formed, so their MACs always extract.
    let macs = mutation_macs(&encrypted).unwrap_or_default();
    update_hash(&mut hash, &macs, &previous_value_mac, &mut Vec::new());
    let snapshot = snapshot_mac(keys, &hash, version, collection);
    let patch_mac = patch_mac(
        keys,
        &snapshot,
        macs.iter().map(|(_, _, v)| v.as_slice()),
        version,
        collection,
    );
    EncodedPatch {
        patch: SyncdPatch {
            version: None,
            mutations: encrypted,
            external_mutations: None,
            snapshot_mac: Some(snapshot.to_vec()),
            patch_mac: Some(patch_mac.to_vec()),
            key_id: Some(KeyId {
                id: Some(key_id.to_vec()),
            }),
            exit_code: None,
            device_index: None,
            client_debug_data: None,
        },
        state: CollectionState { version, hash },
    }
}
