//! Wire forms of the Signal messages WhatsApp carries: `msg` (WhisperMessage), `pkmsg`
//! (PreKeyWhisperMessage), `skmsg` (SenderKeyMessage) and the SenderKeyDistributionMessage.
//!
//! Encoding is canonical (fields in number order, integer fields always present, minimal varints,
//! 33-byte keys) because libsignal-protocol-go re-encodes a received WhisperMessage or
//! SenderKeyMessage before checking its MAC or signature (part 2 §1.7, §1.11). Decoding accepts
//! any valid protobuf; MACs and signatures are checked over the bytes as received.

use hmac::Mac;

use super::error::{MessageKind, SignalError};
use super::keys::{PublicKey, SIGNATURE_LEN};
use super::ratchet::hmac_sha256;
use crate::pb::signal as pb;

/// The version byte of every message: (current version 3 << 4) | minimum version 3.
pub const VERSION_BYTE: u8 = 0x33;
/// Length of the truncated MAC at the end of a WhisperMessage.
pub const MAC_LEN: usize = 8;

/// The version in the high nibble must be 3 (libsignal-node rejects < 3, libsignal-protocol-go > 3).
fn check_version(kind: MessageKind, bytes: &[u8], min_len: usize) -> Result<(), SignalError> {
    let Some(&version) = bytes.first() else {
        return Err(SignalError::TooShort {
            kind,
            len: 0,
            min: min_len,
        });
    };
    if version >> 4 != 3 {
        return Err(SignalError::UnsupportedVersion { kind, version });
    }
    if bytes.len() < min_len {
        return Err(SignalError::TooShort {
            kind,
            len: bytes.len(),
            min: min_len,
        });
    }
    Ok(())
}

fn decode_pb<M: prost::Message + Default>(
    kind: MessageKind,
    body: &[u8],
) -> Result<M, SignalError> {
    M::decode(body).map_err(|e| SignalError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

fn key_field(
    kind: MessageKind,
    field: &'static str,
    bytes: Option<&Vec<u8>>,
) -> Result<PublicKey, SignalError> {
    bytes
        .and_then(|b| PublicKey::from_slice(b).ok())
        .ok_or(SignalError::InvalidField { kind, field })
}

fn required<T>(kind: MessageKind, field: &'static str, value: Option<T>) -> Result<T, SignalError> {
    value.ok_or(SignalError::InvalidField { kind, field })
}

/// `0x33 ‖ protobuf`, with room for a MAC or signature after it.
fn versioned<M: prost::Message>(message: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + message.encoded_len() + SIGNATURE_LEN);
    out.push(VERSION_BYTE);
    // Encoding into a Vec cannot run out of room: the Vec grows.
    let _ = message.encode(&mut out);
    out
}

/// Constant-time equality, so MAC checks leak no timing.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn whisper_mac(
    mac_key: &[u8; 32],
    sender_identity: &PublicKey,
    receiver_identity: &PublicKey,
    versioned_body: &[u8],
) -> [u8; MAC_LEN] {
    let mut mac = hmac_sha256(mac_key);
    mac.update(&sender_identity.serialize());
    mac.update(&receiver_identity.serialize());
    mac.update(versioned_body);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// A WhisperMessage (`<enc type="msg">`): `0x33 ‖ protobuf ‖ mac(8)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhisperMessage {
    ratchet_key: PublicKey,
    counter: u32,
    previous_counter: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl WhisperMessage {
    pub(crate) fn new(
        mac_key: &[u8; 32],
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
    ) -> Self {
        let proto = pb::WhisperMessage {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = versioned(&proto);
        let mac = whisper_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        Self {
            ratchet_key,
            counter,
            previous_counter,
            ciphertext: proto.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses the bytes of an `<enc type="msg">` (no MAC check: that needs the session).
    pub fn decode(bytes: &[u8]) -> Result<Self, SignalError> {
        const KIND: MessageKind = MessageKind::Whisper;
        check_version(KIND, bytes, 1 + MAC_LEN)?;
        let body = bytes.get(1..bytes.len() - MAC_LEN).unwrap_or_default();
        let proto: pb::WhisperMessage = decode_pb(KIND, body)?;
        Ok(Self {
            ratchet_key: key_field(KIND, "ratchet_key", proto.ratchet_key.as_ref())?,
            counter: required(KIND, "counter", proto.counter)?,
            // Never refuse a message for a large previousCounter (part 2 §1.10).
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext: required(KIND, "ciphertext", proto.ciphertext)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's current ratchet public key.
    pub fn ratchet_key(&self) -> &PublicKey {
        &self.ratchet_key
    }

    /// The message's index in its sending chain.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// Index of the last message of the sender's previous chain (informational only).
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The version byte of the serialized form.
    pub fn version(&self) -> u8 {
        self.serialized.first().copied().unwrap_or(VERSION_BYTE)
    }

    /// The wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the 8-byte MAC over `05‖sender identity ‖ 05‖receiver identity ‖ bytes received`.
    pub(crate) fn verify_mac(
        &self,
        sender_identity: &PublicKey,
        receiver_identity: &PublicKey,
        mac_key: &[u8; 32],
    ) -> bool {
        let split = self.serialized.len().saturating_sub(MAC_LEN);
        let (body, mac) = self.serialized.split_at(split);
        let expected = whisper_mac(mac_key, sender_identity, receiver_identity, body);
        ct_eq(&expected, mac)
    }
}

/// A PreKeyWhisperMessage (`<enc type="pkmsg">`): `0x33 ‖ protobuf`, carrying a WhisperMessage and
/// what the receiver needs to build the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyWhisperMessage {
    registration_id: u32,
    pre_key_id: Option<u32>,
    signed_pre_key_id: u32,
    base_key: PublicKey,
    identity_key: PublicKey,
    message: WhisperMessage,
    serialized: Vec<u8>,
}

impl PreKeyWhisperMessage {
    pub(crate) fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: PublicKey,
        identity_key: PublicKey,
        message: WhisperMessage,
    ) -> Self {
        let proto = pb::PreKeyWhisperMessage {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        let serialized = versioned(&proto);
        Self {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses the bytes of an `<enc type="pkmsg">`, including the inner WhisperMessage.
    pub fn decode(bytes: &[u8]) -> Result<Self, SignalError> {
        const KIND: MessageKind = MessageKind::PreKey;
        check_version(KIND, bytes, 1)?;
        let proto: pb::PreKeyWhisperMessage = decode_pb(KIND, bytes.get(1..).unwrap_or_default())?;
        let inner = required(KIND, "message", proto.message.as_deref())?;
        Ok(Self {
            registration_id: proto.registration_id.unwrap_or(0),
            // ID 0 means "no one-time prekey" to every library (part 2 §1.8).
            pre_key_id: proto.pre_key_id.filter(|&id| id != 0),
            signed_pre_key_id: required(KIND, "signed_pre_key_id", proto.signed_pre_key_id)?,
            base_key: key_field(KIND, "base_key", proto.base_key.as_ref())?,
            identity_key: key_field(KIND, "identity_key", proto.identity_key.as_ref())?,
            message: WhisperMessage::decode(inner)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender's registration ID.
    pub fn registration_id(&self) -> u32 {
        self.registration_id
    }

    /// Our one-time prekey the sender used, if any.
    pub fn pre_key_id(&self) -> Option<u32> {
        self.pre_key_id
    }

    /// Our signed prekey the sender used.
    pub fn signed_pre_key_id(&self) -> u32 {
        self.signed_pre_key_id
    }

    /// The sender's base (ephemeral) key, which names the session.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// The sender's identity key.
    pub fn identity_key(&self) -> &PublicKey {
        &self.identity_key
    }

    /// The WhisperMessage inside.
    pub fn message(&self) -> &WhisperMessage {
        &self.message
    }

    /// The wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// What [`super::SessionRecord::encrypt`] produces: a `msg`, or a `pkmsg` while the peer has not yet
/// answered on the session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CiphertextMessage {
    /// `<enc type="msg">`.
    Whisper(WhisperMessage),
    /// `<enc type="pkmsg">`.
    PreKey(PreKeyWhisperMessage),
}

impl CiphertextMessage {
    /// The bytes that go into `<enc>`.
    pub fn serialized(&self) -> &[u8] {
        match self {
            Self::Whisper(m) => m.serialized(),
            Self::PreKey(m) => m.serialized(),
        }
    }

    /// The `type` attribute of `<enc>`: `"msg"` or `"pkmsg"`.
    pub fn enc_type(&self) -> &'static str {
        match self {
            Self::Whisper(_) => "msg",
            Self::PreKey(_) => "pkmsg",
        }
    }
}

/// A SenderKeyMessage (`<enc type="skmsg">`): `0x33 ‖ protobuf ‖ XEdDSA signature(64)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyMessage {
    key_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    pub(crate) fn new(
        key_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        sign: impl FnOnce(&[u8]) -> [u8; SIGNATURE_LEN],
    ) -> Self {
        let proto = pb::SenderKeyMessage {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext),
        };
        let mut serialized = versioned(&proto);
        let signature = sign(&serialized);
        serialized.extend_from_slice(&signature);
        Self {
            key_id,
            iteration,
            ciphertext: proto.ciphertext.unwrap_or_default(),
            serialized,
        }
    }

    /// Parses the bytes of an `<enc type="skmsg">` (no signature check: that needs the state).
    pub fn decode(bytes: &[u8]) -> Result<Self, SignalError> {
        const KIND: MessageKind = MessageKind::SenderKey;
        check_version(KIND, bytes, 1 + SIGNATURE_LEN)?;
        let body = bytes
            .get(1..bytes.len() - SIGNATURE_LEN)
            .unwrap_or_default();
        let proto: pb::SenderKeyMessage = decode_pb(KIND, body)?;
        Ok(Self {
            key_id: required(KIND, "id", proto.id)?,
            iteration: required(KIND, "iteration", proto.iteration)?,
            ciphertext: required(KIND, "ciphertext", proto.ciphertext)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The chain iteration the message was encrypted at.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the signature over the received bytes before it.
    pub(crate) fn verify_signature(&self, signing_key: &PublicKey) -> bool {
        let split = self.serialized.len().saturating_sub(SIGNATURE_LEN);
        let (body, signature) = self.serialized.split_at(split);
        signing_key.verify_signature(body, signature)
    }
}

/// A SenderKeyDistributionMessage: `0x33 ‖ protobuf`, carried in
/// `Message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    key_id: u32,
    iteration: u32,
    chain_key: [u8; 32],
    signing_key: PublicKey,
    serialized: Vec<u8>,
}

impl SenderKeyDistributionMessage {
    /// Builds the message for a sender-key chain position and signing key.
    pub fn new(key_id: u32, iteration: u32, chain_key: [u8; 32], signing_key: PublicKey) -> Self {
        let proto = pb::SenderKeyDistributionMessage {
            id: Some(key_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(signing_key.serialize().to_vec()),
        };
        let serialized = versioned(&proto);
        Self {
            key_id,
            iteration,
            chain_key,
            signing_key,
            serialized,
        }
    }

    /// Parses the bytes of an `axolotlSenderKeyDistributionMessage`.
    pub fn decode(bytes: &[u8]) -> Result<Self, SignalError> {
        const KIND: MessageKind = MessageKind::SenderKeyDistribution;
        check_version(KIND, bytes, 1)?;
        let proto: pb::SenderKeyDistributionMessage =
            decode_pb(KIND, bytes.get(1..).unwrap_or_default())?;
        let chain_key = proto
            .chain_key
            .as_deref()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or(SignalError::InvalidField {
                kind: KIND,
                field: "chain_key",
            })?;
        Ok(Self {
            key_id: required(KIND, "id", proto.id)?,
            iteration: required(KIND, "iteration", proto.iteration)?,
            chain_key,
            signing_key: key_field(KIND, "signing_key", proto.signing_key.as_ref())?,
            serialized: bytes.to_vec(),
        })
    }

    /// The sender key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The iteration `chain_key` is at.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }

    /// The chain key.
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }

    /// The sender's signing public key.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }

    /// The wire bytes.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}
