//! Persisted forms of identities, prekeys, sessions and sender keys: this crate's own format,
//! one format-version byte ([`RECORD_FORMAT_VERSION`]) then a `signal_record` protobuf
//! (`proto/signal_record.proto`). Decoding checks every key length, so a damaged record is an
//! error, never a panic.

use std::collections::VecDeque;

use super::error::SignalError;
use super::keys::{
    KeyPair, PreKeyRecord, PrivateKey, PublicKey, SIGNATURE_LEN, SignedPreKeyRecord,
};
use super::ratchet::ChainKey;
use super::sender_key::{MAX_SENDER_KEY_STATES, SenderKeyRecord, SenderKeyState};
use super::session::{
    MAX_ARCHIVED_STATES, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS, PendingPreKey, ReceiverChain,
    SESSION_VERSION, SenderChain, SessionRecord, SessionState, SkippedKey,
};
use crate::pb::signal_record as pb;

/// The format version byte that opens every record this code writes.
pub const RECORD_FORMAT_VERSION: u8 = 1;

fn encode<M: prost::Message>(message: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + message.encoded_len());
    out.push(RECORD_FORMAT_VERSION);
    // Encoding into a Vec cannot run out of room.
    let _ = message.encode(&mut out);
    out
}

fn decode<M: prost::Message + Default>(
    record: &'static str,
    bytes: &[u8],
) -> Result<M, SignalError> {
    let (&version, body) = bytes.split_first().ok_or(SignalError::InvalidRecord {
        record,
        reason: "empty".into(),
    })?;
    if version != RECORD_FORMAT_VERSION {
        return Err(SignalError::UnsupportedRecordVersion {
            record,
            version,
            supported: RECORD_FORMAT_VERSION,
        });
    }
    M::decode(body).map_err(|e| SignalError::InvalidRecord {
        record,
        reason: e.to_string(),
    })
}

/// Reads fields of one record type, naming it in errors.
struct Reader(&'static str);

impl Reader {
    fn invalid(&self, field: &str) -> SignalError {
        SignalError::InvalidRecord {
            record: self.0,
            reason: format!("field `{field}` missing or invalid"),
        }
    }

    fn bytes32(&self, field: &str, bytes: &[u8]) -> Result<[u8; 32], SignalError> {
        <[u8; 32]>::try_from(bytes).map_err(|_| self.invalid(field))
    }

    fn public(&self, field: &str, bytes: &[u8]) -> Result<PublicKey, SignalError> {
        self.bytes32(field, bytes).map(PublicKey::from_raw)
    }

    fn some<'a, T>(&self, field: &str, value: Option<&'a T>) -> Result<&'a T, SignalError> {
        value.ok_or_else(|| self.invalid(field))
    }

    fn key_pair(&self, field: &str, pair: Option<&pb::KeyPair>) -> Result<KeyPair, SignalError> {
        let pair = self.some(field, pair)?;
        Ok(KeyPair {
            public: self.public(field, &pair.public)?,
            private: PrivateKey::from_bytes(self.bytes32(field, &pair.private)?),
        })
    }

    fn chain(&self, field: &str, chain: Option<&pb::Chain>) -> Result<ChainKey, SignalError> {
        let chain = self.some(field, chain)?;
        Ok(ChainKey {
            key: self.bytes32(field, &chain.key)?,
            index: chain.index,
        })
    }

    fn skipped(&self, keys: &[pb::SkippedKey]) -> Result<VecDeque<SkippedKey>, SignalError> {
        let start = keys.len().saturating_sub(MAX_SKIPPED_KEYS);
        keys.iter()
            .skip(start)
            .map(|k| {
                Ok(SkippedKey {
                    index: k.index,
                    seed: self.bytes32("skipped.seed", &k.seed)?,
                })
            })
            .collect()
    }
}

fn key_pair_pb(pair: &KeyPair) -> pb::KeyPair {
    pb::KeyPair {
        public: pair.public.as_bytes().to_vec(),
        private: pair.private.to_bytes().to_vec(),
    }
}

fn chain_pb(chain: &ChainKey) -> pb::Chain {
    pb::Chain {
        key: chain.key.to_vec(),
        index: chain.index,
    }
}

fn skipped_pb(keys: &VecDeque<SkippedKey>) -> Vec<pb::SkippedKey> {
    keys.iter()
        .map(|k| pb::SkippedKey {
            index: k.index,
            seed: k.seed.to_vec(),
        })
        .collect()
}

impl SessionState {
    fn to_pb(&self) -> pb::SessionState {
        pb::SessionState {
            session_version: u32::from(self.version),
            local_identity: self.local_identity.as_bytes().to_vec(),
            remote_identity: self.remote_identity.as_bytes().to_vec(),
            root_key: self.root_key.to_vec(),
            previous_counter: self.previous_counter,
            sender_chain: Some(pb::SenderChain {
                ratchet_public: self.sender_chain.ratchet.public.as_bytes().to_vec(),
                ratchet_private: self.sender_chain.ratchet.private.to_bytes().to_vec(),
                chain: Some(chain_pb(&self.sender_chain.chain)),
            }),
            receiver_chains: self
                .receiver_chains
                .iter()
                .map(|c| pb::ReceiverChain {
                    ratchet_public: c.ratchet_key.as_bytes().to_vec(),
                    chain: Some(chain_pb(&c.chain)),
                    skipped: skipped_pb(&c.skipped),
                })
                .collect(),
            pending_pre_key: self.pending_pre_key.map(|p| pb::PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id,
                base_key: p.base_key.as_bytes().to_vec(),
            }),
            remote_registration_id: self.remote_registration_id,
            local_registration_id: self.local_registration_id,
            base_key: self.base_key.as_bytes().to_vec(),
        }
    }

    fn from_pb(state: &pb::SessionState) -> Result<Self, SignalError> {
        let r = Reader("session");
        if state.session_version != u32::from(SESSION_VERSION) {
            return Err(r.invalid("session_version"));
        }
        let sender = r.some("sender_chain", state.sender_chain.as_ref())?;
        let ratchet_public = r.public("sender_chain.ratchet_public", &sender.ratchet_public)?;
        let ratchet_private = r.bytes32("sender_chain.ratchet_private", &sender.ratchet_private)?;
        let receiver_chains = state
            .receiver_chains
            .iter()
            .take(MAX_RECEIVER_CHAINS)
            .map(|c| {
                Ok(ReceiverChain {
                    ratchet_key: r.public("receiver_chains.ratchet_public", &c.ratchet_public)?,
                    chain: r.chain("receiver_chains.chain", c.chain.as_ref())?,
                    skipped: r.skipped(&c.skipped)?,
                })
            })
            .collect::<Result<_, SignalError>>()?;
        let pending_pre_key = match &state.pending_pre_key {
            Some(p) => Some(PendingPreKey {
                pre_key_id: p.pre_key_id,
                signed_pre_key_id: p.signed_pre_key_id,
                base_key: r.public("pending_pre_key.base_key", &p.base_key)?,
            }),
            None => None,
        };
        Ok(Self {
            version: SESSION_VERSION,
            local_identity: r.public("local_identity", &state.local_identity)?,
            remote_identity: r.public("remote_identity", &state.remote_identity)?,
            root_key: r.bytes32("root_key", &state.root_key)?,
            previous_counter: state.previous_counter,
            sender_chain: SenderChain {
                ratchet: KeyPair {
                    public: ratchet_public,
                    private: PrivateKey::from_bytes(ratchet_private),
                },
                chain: r.chain("sender_chain.chain", sender.chain.as_ref())?,
            },
            receiver_chains,
            pending_pre_key,
            remote_registration_id: state.remote_registration_id,
            local_registration_id: state.local_registration_id,
            base_key: r.public("base_key", &state.base_key)?,
        })
    }
}

impl SessionRecord {
    /// The persisted form.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&pb::SessionRecord {
            current: self.current.as_ref().map(SessionState::to_pb),
            previous: self.previous.iter().map(SessionState::to_pb).collect(),
        })
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        let record: pb::SessionRecord = decode("session", bytes)?;
        Ok(Self {
            current: record
                .current
                .as_ref()
                .map(SessionState::from_pb)
                .transpose()?,
            previous: record
                .previous
                .iter()
                .take(MAX_ARCHIVED_STATES)
                .map(SessionState::from_pb)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl KeyPair {
    /// The persisted form (e.g. of our identity key pair).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&key_pair_pb(self))
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        let pair: pb::KeyPair = decode("key pair", bytes)?;
        Reader("key pair").key_pair("key_pair", Some(&pair))
    }
}

impl PreKeyRecord {
    /// The persisted form.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&pb::PreKeyRecord {
            id: self.id,
            key_pair: Some(key_pair_pb(&self.key_pair)),
        })
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        let record: pb::PreKeyRecord = decode("prekey", bytes)?;
        Ok(Self {
            id: record.id,
            key_pair: Reader("prekey").key_pair("key_pair", record.key_pair.as_ref())?,
        })
    }
}

impl SignedPreKeyRecord {
    /// The persisted form.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&pb::SignedPreKeyRecord {
            id: self.id,
            key_pair: Some(key_pair_pb(&self.key_pair)),
            signature: self.signature.to_vec(),
            timestamp: self.timestamp,
        })
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        let r = Reader("signed prekey");
        let record: pb::SignedPreKeyRecord = decode(r.0, bytes)?;
        Ok(Self {
            id: record.id,
            key_pair: r.key_pair("key_pair", record.key_pair.as_ref())?,
            signature: <[u8; SIGNATURE_LEN]>::try_from(record.signature.as_slice())
                .map_err(|_| r.invalid("signature"))?,
            timestamp: record.timestamp,
        })
    }
}

impl SenderKeyRecord {
    /// The persisted form.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&pb::SenderKeyRecord {
            states: self
                .states
                .iter()
                .map(|s| pb::SenderKeyState {
                    key_id: s.key_id,
                    chain: Some(chain_pb(&s.chain)),
                    signing_public: s.signing_public.as_bytes().to_vec(),
                    signing_private: s.signing_private.as_ref().map(|k| k.to_bytes().to_vec()),
                    skipped: skipped_pb(&s.skipped),
                })
                .collect(),
        })
    }

    /// Reads the persisted form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignalError> {
        let r = Reader("sender key");
        let record: pb::SenderKeyRecord = decode(r.0, bytes)?;
        let states = record
            .states
            .iter()
            .take(MAX_SENDER_KEY_STATES)
            .map(|s| {
                Ok(SenderKeyState {
                    key_id: s.key_id,
                    chain: r.chain("chain", s.chain.as_ref())?,
                    signing_public: r.public("signing_public", &s.signing_public)?,
                    signing_private: match &s.signing_private {
                        Some(k) => Some(PrivateKey::from_bytes(r.bytes32("signing_private", k)?)),
                        None => None,
                    },
                    skipped: r.skipped(&s.skipped)?,
                })
            })
            .collect::<Result<_, SignalError>>()?;
        Ok(Self { states })
    }
}
