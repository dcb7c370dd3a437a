//! Everything that can go wrong in the Signal layer, as one enum with structured fields.

use super::keys::PublicKey;

/// Which Signal wire message a decoding error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// `msg`: a WhisperMessage (SignalMessage).
    Whisper,
    /// `pkmsg`: a PreKeyWhisperMessage.
    PreKey,
    /// `skmsg`: a SenderKeyMessage.
    SenderKey,
    /// A SenderKeyDistributionMessage.
    SenderKeyDistribution,
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Whisper => "WhisperMessage",
            Self::PreKey => "PreKeyWhisperMessage",
            Self::SenderKey => "SenderKeyMessage",
            Self::SenderKeyDistribution => "SenderKeyDistributionMessage",
        })
    }
}

/// Errors of the Signal layer. None of them leaves a record half-updated: a refused message
/// or bundle leaves every record exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// A public key was neither 32 raw bytes nor 33 bytes starting with the DJB type byte 0x05.
    #[error(
        "invalid public key: {len} bytes (first byte {first:?}); want 32, or 33 starting with 0x05"
    )]
    InvalidPublicKey {
        /// Length of the bytes offered.
        len: usize,
        /// Their first byte, if any.
        first: Option<u8>,
    },
    /// A private key was not 32 bytes.
    #[error("invalid private key: {len} bytes, want 32")]
    InvalidPrivateKey {
        /// Length of the bytes offered.
        len: usize,
    },
    /// A message was shorter than its fixed parts.
    #[error("{kind} too short: {len} bytes, need at least {min}")]
    TooShort {
        /// The message.
        kind: MessageKind,
        /// Its length.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The version byte is not one we speak (we speak version 3: 0x33).
    #[error("{kind}: unsupported version byte {version:#04x}")]
    UnsupportedVersion {
        /// The message.
        kind: MessageKind,
        /// The version byte received.
        version: u8,
    },
    /// The protobuf body did not decode.
    #[error("{kind}: malformed protobuf: {reason}")]
    Malformed {
        /// The message.
        kind: MessageKind,
        /// What the decoder said.
        reason: String,
    },
    /// A required protobuf field was absent or had the wrong size.
    #[error("{kind}: field `{field}` missing or invalid")]
    InvalidField {
        /// The message.
        kind: MessageKind,
        /// The field name.
        field: &'static str,
    },
    /// The 8-byte MAC of a WhisperMessage did not verify with any session state tried.
    #[error("bad MAC")]
    BadMac,
    /// AES-CBC decryption failed (length not a multiple of 16 or bad PKCS#7 padding) after the MAC
    /// or signature had verified.
    #[error("bad ciphertext: {reason}")]
    BadCiphertext {
        /// Why.
        reason: &'static str,
    },
    /// An XEdDSA signature did not verify.
    #[error("invalid signature on {what}")]
    BadSignature {
        /// What was signed ("signed prekey", "sender key message").
        what: &'static str,
    },
    /// The message key for this counter was already used (or dropped): a duplicate or replay.
    #[error(
        "duplicate message: counter {counter} is behind the chain (next {next}) and no key is kept for it"
    )]
    DuplicateMessage {
        /// The counter (or sender-key iteration) of the message.
        counter: u32,
        /// The next counter the chain would produce.
        next: u32,
    },
    /// The message is further ahead of its chain than the skip limit allows.
    #[error(
        "message counter {counter} is {ahead} past the chain position {next}; limit is {limit}"
    )]
    TooFarAhead {
        /// The counter (or iteration) of the message.
        counter: u32,
        /// The next counter the chain would produce.
        next: u32,
        /// counter − next.
        ahead: u32,
        /// The limit (2,000).
        limit: u32,
    },
    /// A chain has produced 2^32 keys; the session must be replaced.
    #[error("chain counter exhausted")]
    ChainExhausted,
    /// There is no session to encrypt with (or none that can decrypt).
    #[error("no session")]
    NoSession,
    /// The pkmsg names a signed prekey that was not supplied (or a different one was).
    #[error("signed prekey {id} not available")]
    MissingSignedPreKey {
        /// Signed prekey ID named by the message.
        id: u32,
    },
    /// The pkmsg names a one-time prekey that was not supplied (already used or never ours).
    #[error("one-time prekey {id} not available")]
    MissingPreKey {
        /// One-time prekey ID named by the message.
        id: u32,
    },
    /// The peer's identity key differs from the one stored for it (trust on first use: the first
    /// key seen is trusted, a different one later is refused until the caller accepts it).
    #[error("identity key changed: stored {stored:?}, received {received:?}")]
    IdentityChanged {
        /// The identity key stored for the peer.
        stored: PublicKey,
        /// The identity key the peer now presents.
        received: PublicKey,
    },
    /// No sender-key state with the key ID of a group message.
    #[error("no sender key state for key id {key_id}")]
    NoSenderKeyState {
        /// Key ID the message names.
        key_id: u32,
    },
    /// The sender-key state has no private signing key, so it cannot encrypt.
    #[error("sender key state {key_id} has no signing private key")]
    NoSigningKey {
        /// Key ID of the state.
        key_id: u32,
    },
    /// WhatsApp padding was missing or inconsistent.
    #[error("bad WhatsApp padding: {reason}")]
    BadPadding {
        /// Why.
        reason: &'static str,
    },
    /// A persisted record did not decode.
    #[error("invalid {record} record: {reason}")]
    InvalidRecord {
        /// Which record type.
        record: &'static str,
        /// Why.
        reason: String,
    },
    /// A persisted record carries a format version this code does not read.
    #[error("{record} record has format version {version}, this code reads {supported}")]
    UnsupportedRecordVersion {
        /// Which record type.
        record: &'static str,
        /// Version byte found.
        version: u8,
        /// Version byte supported.
        supported: u8,
    },
    /// A Signal address string did not parse.
    #[error("invalid Signal address {input:?}")]
    InvalidAddress {
        /// The text offered.
        input: String,
    },
}
