//! Pairwise sessions: X3DH in both roles, the double ratchet, and the record of a peer's current
//! and archived session states.
//!
//! Every operation is transactional: decryption first works out the new chain positions and keys
//! without touching the record, checks the MAC and decrypts, and only then applies the changes, so
//! a refused message leaves the record exactly as it was.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};

use super::cipher;
use super::error::SignalError;
use super::identity::{IdentityStatus, check_identity};
use super::keys::{
    IdentityKey, IdentityKeyPair, KeyPair, PreKeyBundle, PreKeyRecord, PublicKey,
    SignedPreKeyRecord,
};
use super::message::{CiphertextMessage, PreKeyWhisperMessage, WhisperMessage};
use super::ratchet::{ChainKey, MessageKeys, root_step, x3dh_initiator, x3dh_responder};

/// Session protocol version (message version byte 0x33).
pub const SESSION_VERSION: u8 = 3;
/// How far ahead of its chain a message may be (libsignal-protocol-go `maxFutureMessages`).
pub const MAX_FORWARD_SKIP: u32 = 2000;
/// Message keys kept per receiving chain for messages not yet arrived; oldest dropped first.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// Receiving chains kept per session state; oldest dropped first.
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Archived session states kept per peer and tried on decrypt.
pub const MAX_ARCHIVED_STATES: usize = 40;

/// The message-key seed of a message that has not arrived yet.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SkippedKey {
    pub(crate) index: u32,
    pub(crate) seed: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SenderChain {
    pub(crate) ratchet: KeyPair,
    pub(crate) chain: ChainKey,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain: ChainKey,
    /// Oldest first.
    pub(crate) skipped: VecDeque<SkippedKey>,
}

/// What an initiator repeats in every message until the peer answers (part 2 §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingPreKey {
    /// The peer's one-time prekey we used, if any.
    pub pre_key_id: Option<u32>,
    /// The peer's signed prekey we used.
    pub signed_pre_key_id: u32,
    /// Our base key.
    pub base_key: PublicKey,
}

/// One session with a peer device: root key, sending chain, receiving chains.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionState {
    pub(crate) version: u8,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) root_key: [u8; 32],
    pub(crate) previous_counter: u32,
    pub(crate) sender_chain: SenderChain,
    /// Newest first.
    pub(crate) receiver_chains: VecDeque<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
    pub(crate) remote_registration_id: u32,
    pub(crate) local_registration_id: u32,
    pub(crate) base_key: PublicKey,
}

impl std::fmt::Debug for SkippedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkippedKey")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Prints what identifies the state, never its keys.
impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("remote_identity", &self.remote_identity)
            .field("base_key", &self.base_key)
            .field("remote_registration_id", &self.remote_registration_id)
            .field("sender_ratchet_key", &self.sender_chain.ratchet.public)
            .field("sender_counter", &self.sender_chain.chain.index)
            .field("receiver_chains", &self.receiver_chains.len())
            .field("pending_pre_key", &self.pending_pre_key)
            .finish_non_exhaustive()
    }
}

/// Where a received message's key comes from, and what to change once it has decrypted.
enum Plan {
    /// A key kept for a skipped message: remove it.
    Skipped { chain: usize, slot: usize },
    /// A later position in a known chain: keep the keys stepped over and move the chain on.
    Advance {
        chain: usize,
        skipped: Vec<SkippedKey>,
        next: ChainKey,
    },
    /// A new ratchet key from the peer: a new receiving chain, then a new sending chain.
    Ratchet {
        root_key: [u8; 32],
        receiver: ReceiverChain,
    },
}

/// Steps `chain` to `counter`, returning the seeds stepped over, the seed for `counter` and the
/// chain position after it.
fn advance_to(
    chain: ChainKey,
    counter: u32,
) -> Result<(Vec<SkippedKey>, [u8; 32], ChainKey), SignalError> {
    let ahead = counter.saturating_sub(chain.index);
    if ahead > MAX_FORWARD_SKIP {
        return Err(SignalError::TooFarAhead {
            counter,
            next: chain.index,
            ahead,
            limit: MAX_FORWARD_SKIP,
        });
    }
    let mut skipped = Vec::with_capacity(ahead as usize);
    let mut position = chain;
    while position.index < counter {
        skipped.push(SkippedKey {
            index: position.index,
            seed: position.message_seed(),
        });
        position = position.next().ok_or(SignalError::ChainExhausted)?;
    }
    let seed = position.message_seed();
    let next = position.next().ok_or(SignalError::ChainExhausted)?;
    Ok((skipped, seed, next))
}

impl SessionState {
    /// X3DH as initiator with explicit base and first ratchet key pairs (part 2 §1.4). Does not
    /// check the bundle's signature or the peer's identity: [`SessionRecord::process_bundle`] does,
    /// and generates the two key pairs.
    pub fn initiate(
        our_identity: &IdentityKeyPair,
        our_registration_id: u32,
        bundle: &PreKeyBundle,
        base_key: KeyPair,
        ratchet_key: KeyPair,
    ) -> Self {
        let secrets = x3dh_initiator(
            &our_identity.private,
            &base_key.private,
            &bundle.identity_key,
            &bundle.signed_prekey,
            bundle.prekey.as_ref().map(|(_, key)| key),
        );
        let (root_key, sending) = root_step(
            &secrets.root_key,
            &ratchet_key.private,
            &bundle.signed_prekey,
        );
        Self {
            version: SESSION_VERSION,
            local_identity: our_identity.public,
            remote_identity: bundle.identity_key,
            root_key,
            previous_counter: 0,
            sender_chain: SenderChain {
                ratchet: ratchet_key,
                chain: sending,
            },
            // libsignal-protocol-go also files chain key 0 as a receiving chain under the signed
            // prekey; the responder never sends on it, so it is left out (as libsignal-node does).
            receiver_chains: VecDeque::new(),
            pending_pre_key: Some(PendingPreKey {
                pre_key_id: bundle.prekey.map(|(id, _)| id),
                signed_pre_key_id: bundle.signed_prekey_id,
                base_key: base_key.public,
            }),
            remote_registration_id: bundle.registration_id,
            local_registration_id: our_registration_id,
            base_key: base_key.public,
        }
    }

    /// X3DH as responder to a pkmsg; the DH ratchet happens when its inner message is decrypted.
    fn respond(
        our_identity: &IdentityKeyPair,
        our_registration_id: u32,
        signed_prekey: &KeyPair,
        one_time_prekey: Option<&KeyPair>,
        message: &PreKeyWhisperMessage,
    ) -> Self {
        let secrets = x3dh_responder(
            &our_identity.private,
            &signed_prekey.private,
            one_time_prekey.map(|k| &k.private),
            message.identity_key(),
            message.base_key(),
        );
        Self {
            version: SESSION_VERSION,
            local_identity: our_identity.public,
            remote_identity: *message.identity_key(),
            root_key: secrets.root_key,
            previous_counter: 0,
            sender_chain: SenderChain {
                ratchet: signed_prekey.clone(),
                chain: ChainKey {
                    key: secrets.chain_key,
                    index: 0,
                },
            },
            receiver_chains: VecDeque::new(),
            pending_pre_key: None,
            remote_registration_id: message.registration_id(),
            local_registration_id: our_registration_id,
            base_key: *message.base_key(),
        }
    }

    /// The peer's identity key.
    pub fn remote_identity(&self) -> &IdentityKey {
        &self.remote_identity
    }

    /// Our identity key.
    pub fn local_identity(&self) -> &IdentityKey {
        &self.local_identity
    }

    /// The peer's registration ID.
    pub fn remote_registration_id(&self) -> u32 {
        self.remote_registration_id
    }

    /// Our registration ID as sent in pkmsgs.
    pub fn local_registration_id(&self) -> u32 {
        self.local_registration_id
    }

    /// The initiator's base key, which names the session on both sides.
    pub fn base_key(&self) -> &PublicKey {
        &self.base_key
    }

    /// While `Some`, outgoing messages are pkmsgs (the peer has not answered yet).
    pub fn pending_pre_key(&self) -> Option<&PendingPreKey> {
        self.pending_pre_key.as_ref()
    }

    /// Our current ratchet public key.
    pub fn sender_ratchet_key(&self) -> &PublicKey {
        &self.sender_chain.ratchet.public
    }

    /// The counter of our next outgoing message.
    pub fn sender_counter(&self) -> u32 {
        self.sender_chain.chain.index
    }

    /// The current root key.
    pub fn root_key(&self) -> &[u8; 32] {
        &self.root_key
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> Result<CiphertextMessage, SignalError> {
        let chain = &self.sender_chain.chain;
        let next = chain.next().ok_or(SignalError::ChainExhausted)?;
        let keys = MessageKeys::derive(&chain.message_seed());
        let ciphertext = cipher::encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = WhisperMessage::new(
            &keys.mac_key,
            &self.local_identity,
            &self.remote_identity,
            self.sender_chain.ratchet.public,
            chain.index,
            self.previous_counter,
            ciphertext,
        );
        self.sender_chain.chain = next;
        Ok(match &self.pending_pre_key {
            Some(pending) => CiphertextMessage::PreKey(PreKeyWhisperMessage::new(
                self.local_registration_id,
                pending.pre_key_id,
                pending.signed_pre_key_id,
                pending.base_key,
                self.local_identity,
                message,
            )),
            None => CiphertextMessage::Whisper(message),
        })
    }

    /// Works out the key for `message`, checks its MAC and decrypts it, without changing `self`.
    fn plan_decrypt(&self, message: &WhisperMessage) -> Result<(Vec<u8>, Plan), SignalError> {
        let counter = message.counter();
        let found = self
            .receiver_chains
            .iter()
            .enumerate()
            .find(|(_, c)| c.ratchet_key == *message.ratchet_key());
        let (seed, plan) = match found {
            Some((chain_at, chain)) if counter < chain.chain.index => {
                let (slot, key) = chain
                    .skipped
                    .iter()
                    .enumerate()
                    .find(|(_, k)| k.index == counter)
                    .ok_or(SignalError::DuplicateMessage {
                        counter,
                        next: chain.chain.index,
                    })?;
                (
                    key.seed,
                    Plan::Skipped {
                        chain: chain_at,
                        slot,
                    },
                )
            }
            Some((chain_at, chain)) => {
                let (skipped, seed, next) = advance_to(chain.chain.clone(), counter)?;
                (
                    seed,
                    Plan::Advance {
                        chain: chain_at,
                        skipped,
                        next,
                    },
                )
            }
            None => {
                // Refuse a hopeless counter before paying for the DH.
                if counter > MAX_FORWARD_SKIP {
                    return Err(SignalError::TooFarAhead {
                        counter,
                        next: 0,
                        ahead: counter,
                        limit: MAX_FORWARD_SKIP,
                    });
                }
                let (root_key, receiving) = root_step(
                    &self.root_key,
                    &self.sender_chain.ratchet.private,
                    message.ratchet_key(),
                );
                let (skipped, seed, next) = advance_to(receiving, counter)?;
                let receiver = ReceiverChain {
                    ratchet_key: *message.ratchet_key(),
                    chain: next,
                    skipped: skipped.into(),
                };
                (seed, Plan::Ratchet { root_key, receiver })
            }
        };
        let keys = MessageKeys::derive(&seed);
        if !message.verify_mac(&self.remote_identity, &self.local_identity, &keys.mac_key) {
            return Err(SignalError::BadMac);
        }
        let plaintext = cipher::decrypt(&keys.cipher_key, &keys.iv, message.ciphertext())?;
        Ok((plaintext, plan))
    }

    /// Applies a plan whose message has decrypted.
    fn commit(&mut self, plan: Plan, rng: &mut (impl RngCore + CryptoRng)) {
        match plan {
            Plan::Skipped { chain, slot } => {
                if let Some(chain) = self.receiver_chains.get_mut(chain) {
                    chain.skipped.remove(slot);
                }
            }
            Plan::Advance {
                chain,
                skipped,
                next,
            } => {
                if let Some(chain) = self.receiver_chains.get_mut(chain) {
                    chain.skipped.extend(skipped);
                    let excess = chain.skipped.len().saturating_sub(MAX_SKIPPED_KEYS);
                    chain.skipped.drain(..excess);
                    chain.chain = next;
                }
            }
            Plan::Ratchet { root_key, receiver } => {
                // Our turn of the DH ratchet: a new key pair and sending chain (part 2 §1.10).
                let ratchet = KeyPair::generate(rng);
                let (root_key, sending) =
                    root_step(&root_key, &ratchet.private, &receiver.ratchet_key);
                // Signed arithmetic max(index − 1, 0), as libsignal-node (part 2 §1.10).
                self.previous_counter = self.sender_chain.chain.index.saturating_sub(1);
                self.root_key = root_key;
                self.sender_chain = SenderChain {
                    ratchet,
                    chain: sending,
                };
                self.receiver_chains.push_front(receiver);
                self.receiver_chains.truncate(MAX_RECEIVER_CHAINS);
            }
        }
        // The peer has answered on this session, so stop sending pkmsgs.
        self.pending_pre_key = None;
    }
}

/// Our keys as the responder to a `pkmsg`, looked up by the caller from the IDs the message names
/// ([`PreKeyWhisperMessage::signed_pre_key_id`], [`PreKeyWhisperMessage::pre_key_id`]).
#[derive(Clone, Copy, Debug)]
pub struct ResponderKeys<'a> {
    /// Our identity key pair.
    pub identity: &'a IdentityKeyPair,
    /// Our registration ID.
    pub registration_id: u32,
    /// The signed prekey the message names, if we have it.
    pub signed_prekey: Option<&'a SignedPreKeyRecord>,
    /// The one-time prekey the message names, if we still have it.
    pub one_time_prekey: Option<&'a PreKeyRecord>,
    /// The identity key stored for the sender's address, if any (trust on first use).
    pub stored_identity: Option<&'a IdentityKey>,
}

/// What a decrypted `pkmsg` yields besides the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyDecryption {
    /// The plaintext (still WhatsApp-padded).
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message consumed: the caller deletes it now. `None` when the
    /// message had none, or repeated a session already built.
    pub used_pre_key_id: Option<u32>,
    /// The sender's identity key, and whether it was seen for the first time (then store it).
    pub identity: IdentityKey,
    /// First use or known.
    pub identity_status: IdentityStatus,
}

/// All session states for one peer device: the current one and up to 40 archived ones.
///
/// ```
/// use rand::SeedableRng;
/// use whatsapp_proto::signal::*;
/// let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
/// // Bob publishes a bundle.
/// let bob_identity = KeyPair::generate(&mut rng);
/// let bob_spk = SignedPreKeyRecord::generate(1, &bob_identity, 0, &mut rng);
/// let bob_opk = PreKeyRecord::generate(7, &mut rng);
/// let bundle = PreKeyBundle {
///     registration_id: 2,
///     identity_key: bob_identity.public,
///     signed_prekey_id: bob_spk.id,
///     signed_prekey: bob_spk.key_pair.public,
///     signed_prekey_signature: bob_spk.signature,
///     prekey: Some((bob_opk.id, bob_opk.key_pair.public)),
/// };
/// // Alice starts a session and sends.
/// let alice_identity = KeyPair::generate(&mut rng);
/// let mut alice = SessionRecord::new();
/// alice.process_bundle(&alice_identity, 1, &bundle, None, &mut rng).unwrap();
/// let sent = alice.encrypt(b"hi").unwrap();
/// assert_eq!(sent.enc_type(), "pkmsg");
/// // Bob receives.
/// let pkmsg = PreKeyWhisperMessage::decode(sent.serialized()).unwrap();
/// let mut bob = SessionRecord::new();
/// let keys = ResponderKeys {
///     identity: &bob_identity,
///     registration_id: 2,
///     signed_prekey: Some(&bob_spk),
///     one_time_prekey: Some(&bob_opk),
///     stored_identity: None,
/// };
/// let out = bob.decrypt_prekey(&pkmsg, &keys, &mut rng).unwrap();
/// assert_eq!(out.plaintext, b"hi");
/// assert_eq!(out.used_pre_key_id, Some(7));
/// // Bob answers with a plain msg.
/// let reply = bob.encrypt(b"hello").unwrap();
/// assert_eq!(reply.enc_type(), "msg");
/// let msg = WhisperMessage::decode(reply.serialized()).unwrap();
/// assert_eq!(alice.decrypt(&msg, &mut rng).unwrap(), b"hello");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    /// Most recently archived first.
    pub(crate) previous: VecDeque<SessionState>,
}

/// Ranks errors from the states tried so the most telling one is reported.
fn rank(error: &SignalError) -> u8 {
    match error {
        SignalError::DuplicateMessage { .. } => 3,
        SignalError::TooFarAhead { .. } => 2,
        SignalError::BadCiphertext { .. } => 1,
        _ => 0,
    }
}

impl SessionRecord {
    /// An empty record (no session).
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state, if any.
    pub fn current_state(&self) -> Option<&SessionState> {
        self.current.as_ref()
    }

    /// Archived states, most recent first.
    pub fn previous_states(&self) -> impl Iterator<Item = &SessionState> {
        self.previous.iter()
    }

    /// Whether there is a current session to encrypt with.
    pub fn has_current_state(&self) -> bool {
        self.current.is_some()
    }

    /// Whether `message` repeats a session this record already holds (same base key and
    /// identity, libsignal's `has_session_state`): it then decrypts on that session and needs
    /// no prekey, and a copy already decrypted fails as a duplicate rather than decrypting again.
    ///
    /// ```
    /// use whatsapp_proto::signal::{PreKeyWhisperMessage, SessionRecord};
    /// # fn check(message: &PreKeyWhisperMessage) {
    /// assert!(!SessionRecord::new().repeats(message));
    /// # }
    /// ```
    pub fn repeats(&self, message: &PreKeyWhisperMessage) -> bool {
        let same = |s: &SessionState| {
            s.base_key == *message.base_key() && s.remote_identity == *message.identity_key()
        };
        self.current.as_ref().is_some_and(same) || self.previous.iter().any(same)
    }

    /// Makes `state` current, archiving the old current state (at most 40 are kept).
    pub fn promote_state(&mut self, state: SessionState) {
        self.archive_current_state();
        self.current = Some(state);
    }

    /// Moves the current state (if any) to the archive, e.g. after an identity change.
    pub fn archive_current_state(&mut self) {
        if let Some(old) = self.current.take() {
            self.previous.push_front(old);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    /// Starts a session from a peer's bundle (we are the initiator): checks the signed-prekey
    /// signature and the peer's identity (trust on first use), then makes the new state current.
    pub fn process_bundle(
        &mut self,
        our_identity: &IdentityKeyPair,
        our_registration_id: u32,
        bundle: &PreKeyBundle,
        stored_identity: Option<&IdentityKey>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<IdentityStatus, SignalError> {
        if !bundle.verify_signature() {
            return Err(SignalError::BadSignature {
                what: "signed prekey",
            });
        }
        let status = check_identity(stored_identity, &bundle.identity_key)?;
        let base_key = KeyPair::generate(rng);
        let ratchet_key = KeyPair::generate(rng);
        let state = SessionState::initiate(
            our_identity,
            our_registration_id,
            bundle,
            base_key,
            ratchet_key,
        );
        self.promote_state(state);
        Ok(status)
    }

    /// Encrypts with the current state: a `pkmsg` until the peer has answered, then `msg`s.
    /// The plaintext should already carry WhatsApp padding ([`super::pad`]).
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<CiphertextMessage, SignalError> {
        self.current
            .as_mut()
            .ok_or(SignalError::NoSession)?
            .encrypt(plaintext)
    }

    /// Decrypts a `msg`, trying the current state and then each archived one; a state that
    /// decrypts becomes current. Nothing changes if every state refuses it.
    pub fn decrypt(
        &mut self,
        message: &WhisperMessage,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, SignalError> {
        let mut best: Option<SignalError> = None;
        let mut note = |error: SignalError| {
            if best.as_ref().is_none_or(|b| rank(&error) > rank(b)) {
                best = Some(error);
            }
        };
        if let Some(current) = &mut self.current {
            match current.plan_decrypt(message) {
                Ok((plaintext, plan)) => {
                    current.commit(plan, rng);
                    return Ok(plaintext);
                }
                Err(error) => note(error),
            }
        }
        let mut found = None;
        for (at, state) in self.previous.iter().enumerate() {
            match state.plan_decrypt(message) {
                Ok(result) => {
                    found = Some((at, result));
                    break;
                }
                Err(error) => note(error),
            }
        }
        if let Some((at, (plaintext, plan))) = found
            && let Some(mut state) = self.previous.remove(at)
        {
            state.commit(plan, rng);
            self.promote_state(state);
            return Ok(plaintext);
        }
        Err(best.unwrap_or(SignalError::NoSession))
    }

    /// Decrypts a `pkmsg` (we are the responder). A pkmsg repeating a session already built (same
    /// base key) decrypts on that session; otherwise the named prekeys must be in `keys`, a new
    /// session is built, and it becomes current once its message has decrypted. The sender's
    /// identity is checked against `keys.stored_identity` first (trust on first use).
    pub fn decrypt_prekey(
        &mut self,
        message: &PreKeyWhisperMessage,
        keys: &ResponderKeys<'_>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<PreKeyDecryption, SignalError> {
        let identity = *message.identity_key();
        let identity_status = check_identity(keys.stored_identity, &identity)?;
        if self.repeats(message) {
            let plaintext = self.decrypt_on_base_key(message, rng)?;
            return Ok(PreKeyDecryption {
                plaintext,
                used_pre_key_id: None,
                identity,
                identity_status,
            });
        }
        let signed_id = message.signed_pre_key_id();
        let signed_prekey = keys
            .signed_prekey
            .filter(|k| k.id == signed_id)
            .ok_or(SignalError::MissingSignedPreKey { id: signed_id })?;
        let one_time_prekey = match message.pre_key_id() {
            Some(id) => Some(
                keys.one_time_prekey
                    .filter(|k| k.id == id)
                    .ok_or(SignalError::MissingPreKey { id })?,
            ),
            None => None,
        };
        let mut state = SessionState::respond(
            keys.identity,
            keys.registration_id,
            &signed_prekey.key_pair,
            one_time_prekey.map(|k| &k.key_pair),
            message,
        );
        let (plaintext, plan) = state.plan_decrypt(message.message())?;
        state.commit(plan, rng);
        self.promote_state(state);
        Ok(PreKeyDecryption {
            plaintext,
            used_pre_key_id: message.pre_key_id(),
            identity,
            identity_status,
        })
    }

    /// A repeated pkmsg: decrypt its inner message on the state it built (same base key and
    /// identity) only.
    fn decrypt_on_base_key(
        &mut self,
        message: &PreKeyWhisperMessage,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Vec<u8>, SignalError> {
        let matches = |s: &SessionState| {
            s.base_key == *message.base_key() && s.remote_identity == *message.identity_key()
        };
        if let Some(current) = self.current.as_mut().filter(|s| matches(s)) {
            let (plaintext, plan) = current.plan_decrypt(message.message())?;
            current.commit(plan, rng);
            return Ok(plaintext);
        }
        let at = self
            .previous
            .iter()
            .position(matches)
            .ok_or(SignalError::NoSession)?;
        let state = self.previous.get(at).ok_or(SignalError::NoSession)?;
        let (plaintext, plan) = state.plan_decrypt(message.message())?;
        if let Some(mut state) = self.previous.remove(at) {
            state.commit(plan, rng);
            self.promote_state(state);
        }
        Ok(plaintext)
    }
}
