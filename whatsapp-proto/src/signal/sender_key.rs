//! Sender keys: the group (and status) encryption of WhatsApp (part 2 §1.11).
//!
//! Each (group, sender device) pair has a [`SenderKeyRecord`] with up to five states. The sender
//! distributes its chain key and signing key in a SenderKeyDistributionMessage over pairwise
//! sessions, then encrypts each group message once with the chain and signs it.

use std::collections::VecDeque;

use rand_core::{CryptoRng, RngCore};

use super::cipher;
use super::error::SignalError;
use super::keys::{KeyPair, PrivateKey, PublicKey};
use super::message::{SenderKeyDistributionMessage, SenderKeyMessage};
use super::ratchet::{ChainKey, SenderMessageKeys};
use super::session::{MAX_FORWARD_SKIP, MAX_SKIPPED_KEYS, SkippedKey};

/// States kept per record; oldest dropped first.
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// One sender-key chain: key ID, chain position, signing key and keys kept for skipped messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderKeyState {
    pub(crate) key_id: u32,
    pub(crate) chain: ChainKey,
    pub(crate) signing_public: PublicKey,
    /// Only in our own sending state.
    pub(crate) signing_private: Option<PrivateKey>,
    /// Oldest first.
    pub(crate) skipped: VecDeque<SkippedKey>,
}

impl SenderKeyState {
    /// The sender key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The iteration of the next message.
    pub fn iteration(&self) -> u32 {
        self.chain.index
    }

    /// The signing public key.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_public
    }

    /// The distribution message that lets others decrypt from this state's current iteration on.
    pub fn distribution_message(&self) -> SenderKeyDistributionMessage {
        SenderKeyDistributionMessage::new(
            self.key_id,
            self.chain.index,
            self.chain.key,
            self.signing_public,
        )
    }
}

/// Where a received message's key comes from, and what to change once it has decrypted.
enum Plan {
    Skipped {
        slot: usize,
    },
    Advance {
        skipped: Vec<SkippedKey>,
        next: ChainKey,
    },
}

/// All sender-key states of one (group, sender device), newest first.
///
/// ```
/// use rand::SeedableRng;
/// use whatsapp_proto::signal::{SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord};
/// let mut rng = rand_chacha::ChaCha20Rng::from_seed([5; 32]);
/// let mut mine = SenderKeyRecord::new();
/// let skdm = mine.create_distribution_message(&mut rng);
/// let mut theirs = SenderKeyRecord::new();
/// theirs.process_distribution_message(&SenderKeyDistributionMessage::decode(skdm.serialized()).unwrap());
/// let sent = mine.encrypt(b"hello group", &mut rng).unwrap();
/// let received = SenderKeyMessage::decode(sent.serialized()).unwrap();
/// assert_eq!(theirs.decrypt(&received).unwrap(), b"hello group");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderKeyRecord {
    pub(crate) states: VecDeque<SenderKeyState>,
}

impl SenderKeyRecord {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the record has no state.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The newest state.
    pub fn current_state(&self) -> Option<&SenderKeyState> {
        self.states.front()
    }

    /// All states, newest first.
    pub fn states(&self) -> impl Iterator<Item = &SenderKeyState> {
        self.states.iter()
    }

    fn push_state(&mut self, state: SenderKeyState) {
        self.states.push_front(state);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// Installs our own sending state from explicit values (deterministic; for test vectors) and
    /// returns its distribution message.
    pub fn set_own_state(
        &mut self,
        key_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing: KeyPair,
    ) -> SenderKeyDistributionMessage {
        let state = SenderKeyState {
            key_id,
            chain: ChainKey {
                key: chain_key,
                index: iteration,
            },
            signing_public: signing.public,
            signing_private: Some(signing.private),
            skipped: VecDeque::new(),
        };
        let distribution = state.distribution_message();
        self.states.retain(|s| s.key_id != key_id);
        self.push_state(state);
        distribution
    }

    /// Our distribution message for this group: creates a sending state first (random key ID
    /// below 2^31, random chain key, fresh signing key, iteration 0) if there is none.
    pub fn create_distribution_message(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> SenderKeyDistributionMessage {
        if let Some(state) = self.states.front().filter(|s| s.signing_private.is_some()) {
            return state.distribution_message();
        }
        let key_id = rng.next_u32() & 0x7FFF_FFFF;
        let mut chain_key = [0u8; 32];
        rng.fill_bytes(&mut chain_key);
        let signing = KeyPair::generate(rng);
        self.set_own_state(key_id, 0, chain_key, signing)
    }

    /// Adds the state a sender distributed. A repeat of a state we already have (same key ID and
    /// signing key) is ignored, so a re-sent SKDM cannot rewind the chain and replay messages.
    pub fn process_distribution_message(&mut self, message: &SenderKeyDistributionMessage) {
        if self
            .states
            .iter()
            .any(|s| s.key_id == message.key_id() && s.signing_public == *message.signing_key())
        {
            return;
        }
        self.states.retain(|s| s.key_id != message.key_id());
        self.push_state(SenderKeyState {
            key_id: message.key_id(),
            chain: ChainKey {
                key: *message.chain_key(),
                index: message.iteration(),
            },
            signing_public: *message.signing_key(),
            signing_private: None,
            skipped: VecDeque::new(),
        });
    }

    /// Encrypts a group message with our sending state and signs it.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<SenderKeyMessage, SignalError> {
        let mut random = [0u8; 64];
        rng.fill_bytes(&mut random);
        self.encrypt_with_random(plaintext, &random)
    }

    /// [`SenderKeyRecord::encrypt`] with the signature's 64 random bytes given (for test vectors).
    pub fn encrypt_with_random(
        &mut self,
        plaintext: &[u8],
        random: &[u8; 64],
    ) -> Result<SenderKeyMessage, SignalError> {
        let state = self.states.front_mut().ok_or(SignalError::NoSession)?;
        let signing = state
            .signing_private
            .as_ref()
            .ok_or(SignalError::NoSigningKey {
                key_id: state.key_id,
            })?;
        let next = state.chain.next().ok_or(SignalError::ChainExhausted)?;
        let keys = SenderMessageKeys::derive(&state.chain.message_seed());
        let ciphertext = cipher::encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = SenderKeyMessage::new(state.key_id, state.chain.index, ciphertext, |body| {
            signing.sign_with_random(body, random)
        });
        state.chain = next;
        Ok(message)
    }

    /// Decrypts a group message from the sender whose record this is. Nothing changes if it is
    /// refused.
    pub fn decrypt(&mut self, message: &SenderKeyMessage) -> Result<Vec<u8>, SignalError> {
        let key_id = message.key_id();
        let (at, state) = self
            .states
            .iter()
            .enumerate()
            .find(|(_, s)| s.key_id == key_id)
            .ok_or(SignalError::NoSenderKeyState { key_id })?;
        if !message.verify_signature(&state.signing_public) {
            return Err(SignalError::BadSignature {
                what: "sender key message",
            });
        }
        let iteration = message.iteration();
        let (seed, plan) = if iteration < state.chain.index {
            let (slot, key) = state
                .skipped
                .iter()
                .enumerate()
                .find(|(_, k)| k.index == iteration)
                .ok_or(SignalError::DuplicateMessage {
                    counter: iteration,
                    next: state.chain.index,
                })?;
            (key.seed, Plan::Skipped { slot })
        } else {
            let ahead = iteration - state.chain.index;
            if ahead > MAX_FORWARD_SKIP {
                return Err(SignalError::TooFarAhead {
                    counter: iteration,
                    next: state.chain.index,
                    ahead,
                    limit: MAX_FORWARD_SKIP,
                });
            }
            let mut skipped = Vec::with_capacity(ahead as usize);
            let mut position = state.chain.clone();
            while position.index < iteration {
                skipped.push(SkippedKey {
                    index: position.index,
                    seed: position.message_seed(),
                });
                position = position.next().ok_or(SignalError::ChainExhausted)?;
            }
            let next = position.next().ok_or(SignalError::ChainExhausted)?;
            (position.message_seed(), Plan::Advance { skipped, next })
        };
        let keys = SenderMessageKeys::derive(&seed);
        let plaintext = cipher::decrypt(&keys.cipher_key, &keys.iv, message.ciphertext())?;
        if let Some(state) = self.states.get_mut(at) {
            match plan {
                Plan::Skipped { slot } => {
                    state.skipped.remove(slot);
                }
                Plan::Advance { skipped, next } => {
                    state.skipped.extend(skipped);
                    let excess = state.skipped.len().saturating_sub(MAX_SKIPPED_KEYS);
                    state.skipped.drain(..excess);
                    state.chain = next;
                }
            }
        }
        Ok(plaintext)
    }
}
