//! App-state sync ("syncd"): the cryptography of patches and snapshots, typed
//! actions, and history-sync blobs.
//!
//! A collection (`regular_high`, `critical_unblock_low`, …) is a set of records,
//! each an encrypted `SyncActionData` at an index such as `["mute","<jid>"]`.
//! The server sends snapshots and patches; every record names the app-state
//! sync key (shared by our phone) that encrypts it. Per collection a client
//! keeps a version, a 128-byte [`LtHash`] and the value MAC of every live index
//! MAC. Everything is verified by default: value MACs, index MACs, the
//! snapshot MAC (which checks the LTHash) and the patch MAC; a failure is an
//! error and the functions return a new state instead of changing one, so a
//! refused patch changes nothing. Facts: fact sheet part 2 §8, §9;
//! whatsmeow `appstate/` (hash.go, keys.go, decode.go, encode.go, lthash/).
//!
//! | piece | item |
//! | --- | --- |
//! | key expansion | [`AppStateKeys::expand`] |
//! | LTHash | [`LtHash`] |
//! | MACs | [`index_mac`], [`value_mac`], [`snapshot_mac`], [`patch_mac`] |
//! | one record | [`decrypt_mutation`], [`encrypt_mutation`] |
//! | whole patches | [`decode_snapshot`], [`decode_patch`], [`encode_patch`] |
//! | typed actions | [`SyncAction`], [`TypedMutation`] |
//! | history sync | [`history::inflate_history_sync`] |

mod action;
pub mod history;
mod index;
mod keys;
mod lthash;
mod mac;
mod mutation;
mod patch;

pub use action::{SyncAction, TypedMutation, index_names};
pub use index::{encode_index, parse_index};
pub use keys::{AppStateKeys, MUTATION_KEYS_INFO};
pub use lthash::{LTHASH_LEN, LtHash, PATCH_INTEGRITY_INFO, expand_item};
pub use mac::{Operation, index_mac, patch_mac, snapshot_mac, value_mac};
pub use mutation::{DecodedMutation, decrypt_mutation, encrypt_mutation};
pub use patch::{
    CollectionState, DecodeOptions, EncodedPatch, OutgoingMutation, PatchOutcome, PatchWarning,
    decode_patch, decode_snapshot, encode_patch,
};

/// The five collections (patch names) of app-state sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Collection {
    /// `critical_block`: push name, locale, security-notification setting.
    CriticalBlock,
    /// `critical_unblock_low`: contact names.
    CriticalUnblockLow,
    /// `regular_low`: pin, archive, mark-read, unarchive setting.
    RegularLow,
    /// `regular_high`: mute, star, delete/clear chat, delete for me.
    RegularHigh,
    /// `regular`: labels, quick replies, key expiration.
    Regular,
}

impl Collection {
    /// Every collection, in the order a full sync fetches them.
    pub const ALL: [Self; 5] = [
        Self::CriticalBlock,
        Self::CriticalUnblockLow,
        Self::RegularHigh,
        Self::Regular,
        Self::RegularLow,
    ];

    /// The wire name, which is also mixed into snapshot and patch MACs.
    pub fn name(self) -> &'static str {
        match self {
            Self::CriticalBlock => "critical_block",
            Self::CriticalUnblockLow => "critical_unblock_low",
            Self::RegularLow => "regular_low",
            Self::RegularHigh => "regular_high",
            Self::Regular => "regular",
        }
    }

    /// Parses a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Why an app-state snapshot, patch or mutation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppStateError {
    /// No key with this ID is known: request it from the phone and retry later.
    #[error("app-state key {} is not known", hex(key_id))]
    MissingKey {
        /// The key ID the record, patch or snapshot names.
        key_id: Vec<u8>,
    },
    /// A required protobuf field is absent.
    #[error("missing field {field}")]
    MissingField {
        /// Which field.
        field: &'static str,
    },
    /// A field has the wrong length.
    #[error("{field} must be {expected} bytes, got {actual}")]
    BadFieldLength {
        /// Which field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// A mutation's operation is neither SET nor REMOVE.
    #[error("unknown mutation operation {value}")]
    UnknownOperation {
        /// The wire value.
        value: i32,
    },
    /// The value blob is too short or its ciphertext is not whole blocks.
    #[error("value blob of {len} bytes is not IV(16) + ciphertext(16·n) + MAC(32)")]
    BadValueBlob {
        /// Blob length.
        len: usize,
    },
    /// The value MAC does not match the encrypted content.
    #[error("value MAC mismatch")]
    ValueMacMismatch,
    /// The decrypted value has invalid PKCS#7 padding.
    #[error("value decryption failed (bad padding)")]
    BadPadding,
    /// The decrypted value is not a valid `SyncActionData`.
    #[error("SyncActionData does not decode: {reason}")]
    BadSyncActionData {
        /// The protobuf decoder's message.
        reason: String,
    },
    /// The index MAC does not match the decrypted index.
    #[error("index MAC mismatch")]
    IndexMacMismatch,
    /// The decrypted index is not a JSON array of strings.
    #[error("index is not a JSON array of strings: {reason} at byte {offset}")]
    BadIndex {
        /// What was wrong.
        reason: &'static str,
        /// Byte offset in the index.
        offset: usize,
    },
    /// The snapshot MAC over the LTHash does not match: the hash we computed
    /// differs from the server's (a lost or forged mutation).
    #[error("{what} of version {version}: snapshot MAC (LTHash) mismatch")]
    SnapshotMacMismatch {
        /// `"snapshot"` or `"patch"`.
        what: &'static str,
        /// Version being verified.
        version: u64,
    },
    /// The patch MAC does not match.
    #[error("patch version {version}: patch MAC mismatch")]
    PatchMacMismatch {
        /// Version of the patch.
        version: u64,
    },
    /// The patch refers to external mutations that were not downloaded into it.
    #[error("patch has external mutations: download them into `mutations` first")]
    ExternalMutationsNotLoaded,
    /// One mutation of a patch or snapshot failed.
    #[error("mutation #{position}: {source}")]
    Mutation {
        /// Zero-based position in the patch or snapshot.
        position: usize,
        /// What went wrong.
        #[source]
        source: Box<AppStateError>,
    },
}

impl AppStateError {
    /// The key ID to request from the phone, if this error (or the mutation error
    /// it wraps) is [`AppStateError::MissingKey`].
    pub fn missing_key(&self) -> Option<&[u8]> {
        match self {
            Self::MissingKey { key_id } => Some(key_id),
            Self::Mutation { source, .. } => source.missing_key(),
            _ => None,
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
