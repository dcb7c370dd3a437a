//! The Signal protocol as WhatsApp uses it: X3DH, the double ratchet, sender keys, WhatsApp
//! padding and persisted records (facts: `shared/protocol` part 2 §1, §4.2, §12, §13).
//!
//! Everything is pure: records live in memory, the caller loads and stores them as bytes
//! (`to_bytes`/`from_bytes`), and randomness comes in as an RNG argument.
//!
//! | type | role |
//! | --- | --- |
//! | [`SessionRecord`] | all sessions with one peer device: `process_bundle`, `encrypt`, `decrypt`, `decrypt_prekey` |
//! | [`SenderKeyRecord`] | one sender's group chain: `create_distribution_message`, `process_distribution_message`, `encrypt`, `decrypt` |
//! | [`WhisperMessage`], [`PreKeyWhisperMessage`], [`SenderKeyMessage`], [`SenderKeyDistributionMessage`] | wire forms |
//! | [`KeyPair`], [`PublicKey`], [`PreKeyRecord`], [`SignedPreKeyRecord`], [`PreKeyBundle`] | keys |
//! | [`pad`], [`unpad`] | WhatsApp padding |
//! | [`check_identity`] | trust on first use |
//! | [`ProtocolAddress`], [`SenderKeyName`] | record names |
//!
//! How a client uses it (the store keeps every record as bytes, keyed as noted):
//!
//! * **Records**: [`SessionRecord`], [`SenderKeyRecord`], [`PreKeyRecord`], [`SignedPreKeyRecord`]
//!   and our identity [`KeyPair`] have `to_bytes`/`from_bytes` (format version byte
//!   [`RECORD_FORMAT_VERSION`] first); a peer's trusted identity is its 32 raw bytes
//!   ([`PublicKey::as_bytes`], read back with [`PublicKey::from_slice`]).
//! * **Own keys**: at registration, [`KeyPair::generate`] (identity), [`generate_registration_id`],
//!   [`SignedPreKeyRecord::generate`] and [`PreKeyRecord::generate_batch`] (never ID 0); upload the
//!   raw 32-byte [`PublicKey::as_bytes`] forms.
//! * **Sending 1:1** (record keyed by the peer's [`ProtocolAddress`]): with no current state,
//!   fetch the bundle, build a [`PreKeyBundle`] and call [`SessionRecord::process_bundle`] with the
//!   stored identity (store it on [`IdentityStatus::FirstUse`]); then
//!   [`SessionRecord::encrypt`] the [`pad`]ded plaintext. The `<enc type>` is
//!   [`CiphertextMessage::enc_type`].
//! * **Receiving 1:1**: `msg` → [`WhisperMessage::decode`] + [`SessionRecord::decrypt`];
//!   `pkmsg` → [`PreKeyWhisperMessage::decode`], load the prekeys it names, then
//!   [`SessionRecord::decrypt_prekey`]; delete [`PreKeyDecryption::used_pre_key_id`], store the
//!   identity on first use, persist the record, [`unpad`]. [`SignalError::DuplicateMessage`] means
//!   "already seen" (no retry receipt); [`SignalError::IdentityChanged`] needs a decision.
//! * **Groups** (record keyed by [`SenderKeyName`]): [`SenderKeyRecord::create_distribution_message`]
//!   and [`SenderKeyRecord::encrypt`] for our sends; [`SenderKeyRecord::process_distribution_message`]
//!   and [`SenderKeyRecord::decrypt`] for others'.
//!
//! Limits (libsignal-protocol-go's): a message may be at most 2,000 ahead of its chain; 2,000
//! skipped keys per chain; 5 receiving chains per session; 40 archived sessions per peer, all tried
//! on decrypt; 5 sender-key states per sender. A message whose key was already used is
//! [`SignalError::DuplicateMessage`].

mod address;
mod cipher;
mod error;
mod identity;
mod keys;
mod message;
mod padding;
pub mod ratchet;
mod record;
mod sender_key;
mod session;

pub use address::{ProtocolAddress, SenderKeyName};
pub use error::{MessageKind, SignalError};
pub use identity::{IdentityStatus, check_identity};
pub use keys::{
    DJB_TYPE, IdentityKey, IdentityKeyPair, KeyPair, MAX_PREKEY_ID, PreKeyBundle, PreKeyRecord,
    PrivateKey, PublicKey, SIGNATURE_LEN, SignedPreKeyRecord, generate_registration_id,
};
pub use message::{
    CiphertextMessage, MAC_LEN, PreKeyWhisperMessage, SenderKeyDistributionMessage,
    SenderKeyMessage, VERSION_BYTE, WhisperMessage,
};
pub use padding::{pad, pad_with, unpad};
pub use record::RECORD_FORMAT_VERSION;
pub use sender_key::{MAX_SENDER_KEY_STATES, SenderKeyRecord, SenderKeyState};
pub use session::{
    MAX_ARCHIVED_STATES, MAX_FORWARD_SKIP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS, PendingPreKey,
    PreKeyDecryption, ResponderKeys, SESSION_VERSION, SessionRecord, SessionState,
};
