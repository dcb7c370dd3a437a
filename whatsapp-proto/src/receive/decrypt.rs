//! One `<enc>` decrypted against the group's records (whatsmeow `decryptDM`,
//! `decryptGroupMsg`, `bufferedDecrypt`).

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use super::{Decrypted, Delivery, InFlight, Output, Receiver, RecordKey};
use crate::signal::{
    self, IdentityStatus, PreKeyRecord, PreKeyWhisperMessage, PublicKey, ResponderKeys,
    SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalError, WhisperMessage,
};

/// The core needs this record before it can go on.
#[derive(Debug)]
pub(super) struct Need(pub(super) RecordKey);

/// Why an `<enc>` gave no plaintext.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum EncFailure {
    /// Decrypted before (an old counter): nothing to do twice.
    #[error("duplicate message")]
    Duplicate,
    /// The Signal layer refused it.
    #[error("signal: {0}")]
    Signal(#[from] SignalError),
    /// A `skmsg` outside a group.
    #[error("skmsg outside a group")]
    OutsideGroup,
    /// An `<enc type>` we do not know.
    #[error("unsupported enc type {0}")]
    Unsupported(String),
    /// A `skmsg` from a sender whose sender key we do not hold (whatsmeow
    /// `signalerror.ErrNoSenderKeyForUser`).
    #[error("no sender key for the sender")]
    NoSenderKey,
}

impl EncFailure {
    /// Whether whatsmeow ignores the `<enc>` rather than answer it: a type it does not
    /// handle, or a `skmsg` outside a group (message.go `decryptMessages`: "Unhandled
    /// encrypted message", `continue`). No retry receipt asks for it again.
    pub(super) fn ignored(&self) -> bool {
        matches!(self, EncFailure::Unsupported(_) | EncFailure::OutsideGroup)
    }
}

fn failure(error: SignalError) -> EncFailure {
    match error {
        SignalError::DuplicateMessage { .. } => EncFailure::Duplicate,
        other => EncFailure::Signal(other),
    }
}

/// The plaintext buffer's key (whatsmeow `bufferedDecrypt` idea): SHA-256 over the
/// ciphertext, the enc type and the sender JID.
pub fn ciphertext_hash(ciphertext: &[u8], kind: &str, sender: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ciphertext);
    h.update([0]);
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(sender.as_bytes());
    h.finalize().into()
}

type Outcome = Result<Vec<u8>, EncFailure>;

impl Receiver {
    /// Decrypts one `<enc>`, or finds its plaintext in the buffer when it was decrypted
    /// before (a redelivery: the session already advanced; the stored plaintext is handed
    /// over again).
    ///
    /// The buffer is read before decrypting only where decrypting again could succeed: a
    /// `pkmsg` whose session is not held (one without a one-time prekey may set up its
    /// session anew once the old one is gone) and an `skmsg` (a sender key state evicted and
    /// distributed again starts over). A `msg`, or a `pkmsg` repeating a session we hold, is
    /// decrypted first, which saves a load per message: its commit deleted its message key
    /// (a Signal message key is used once, and a chain never goes back), so a message whose
    /// plaintext was committed cannot decrypt against any later state; the buffer is read
    /// when it fails.
    pub(super) fn decrypt_enc(
        &mut self,
        msg: &mut InFlight,
        kind: &str,
        ciphertext: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Outcome, Need> {
        let sender = msg.info.sender.to_string();
        let hash = ciphertext_hash(ciphertext, kind, &sender);
        let buffered = RecordKey::Plaintext(hash);
        if let Some(Some(plaintext)) = self.known.get(&buffered) {
            return Ok(Ok(plaintext.clone()));
        }
        if let Some(failed) = &msg.enc_failed {
            let failed = failed.clone();
            return Ok(self.known(buffered)?.cloned().ok_or(failed));
        }
        let decrypt_first = match kind {
            "msg" => true,
            "pkmsg" => match PreKeyWhisperMessage::decode(ciphertext) {
                Ok(message) => self
                    .session(&msg.enc_address())?
                    .is_some_and(|record| record.is_ok_and(|record| record.repeats(&message))),
                Err(e) => return Ok(Err(failure(e))),
            },
            _ => false,
        };
        if !decrypt_first && let Some(plaintext) = self.known(buffered.clone())? {
            return Ok(Ok(plaintext.clone()));
        }
        match self.decrypt_new(msg, kind, ciphertext, hash, rng)? {
            Err(failed) if decrypt_first => {
                msg.enc_failed = Some(failed.clone());
                Ok(self.known(buffered)?.cloned().ok_or(failed))
            }
            other => Ok(other),
        }
    }

    fn session(&self, address: &str) -> Result<Option<Result<SessionRecord, SignalError>>, Need> {
        Ok(self
            .known(RecordKey::Session(address.to_owned()))?
            .map(|bytes| SessionRecord::from_bytes(bytes)))
    }

    /// Decrypts an `<enc>` not found in the buffer and takes the result into the group.
    /// Every record is loaded before any decryption, so a `Need` leaves nothing changed.
    fn decrypt_new(
        &mut self,
        msg: &InFlight,
        kind: &str,
        ciphertext: &[u8],
        hash: [u8; 32],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Outcome, Need> {
        let sender = &msg.info.sender;
        let address = msg.enc_address();
        let mut decrypted = Decrypted {
            address: address.clone(),
            session: None,
            sender_key: None,
            identity: None,
            consumed_prekey: None,
            ciphertext_hash: hash,
            sender: sender.to_string(),
            message_id: msg.info.id.clone(),
            plaintext: Vec::new(),
            created_at: msg.created_at,
        };
        let padded = match kind {
            "skmsg" => {
                let Some(group) = &msg.group else {
                    return Ok(Err(EncFailure::OutsideGroup));
                };
                let group = group.to_string();
                let key = RecordKey::SenderKey {
                    group: group.clone(),
                    sender: address.clone(),
                };
                let Some(record) = self.known(key)? else {
                    return Ok(Err(EncFailure::NoSenderKey));
                };
                let result = SenderKeyRecord::from_bytes(record).and_then(|mut record| {
                    let message = SenderKeyMessage::decode(ciphertext)?;
                    let padded = record.decrypt(&message)?;
                    Ok((padded, record))
                });
                match result {
                    Ok((padded, record)) => {
                        decrypted.sender_key = Some((group, address, record.to_bytes()));
                        padded
                    }
                    Err(e) => return Ok(Err(failure(e))),
                }
            }
            "pkmsg" => {
                let message = match PreKeyWhisperMessage::decode(ciphertext) {
                    Ok(message) => message,
                    Err(e) => return Ok(Err(failure(e))),
                };
                let record = match self.session(&address)? {
                    Some(Ok(record)) => record,
                    Some(Err(e)) => return Ok(Err(failure(e))),
                    None => SessionRecord::new(),
                };
                let stored = self.identity(&address)?;
                let one_time = match message.pre_key_id() {
                    // A repeat decrypts on its session: its prekey went with the first copy.
                    Some(id) if !record.repeats(&message) => {
                        match self.known(RecordKey::PreKey(id))? {
                            Some(bytes) => match PreKeyRecord::from_bytes(bytes) {
                                Ok(prekey) => Some(prekey),
                                Err(e) => return Ok(Err(failure(e))),
                            },
                            None => None,
                        }
                    }
                    _ => None,
                };
                match self.decrypt_prekey(msg, record, &message, stored, one_time, rng) {
                    Ok((padded, record, identity, consumed)) => {
                        decrypted.session = Some(record.to_bytes());
                        decrypted.identity = identity;
                        decrypted.consumed_prekey = consumed;
                        padded
                    }
                    Err(e) => return Ok(Err(failure(e))),
                }
            }
            "msg" => {
                let mut record = match self.session(&address)? {
                    Some(Ok(record)) => record,
                    Some(Err(e)) => return Ok(Err(failure(e))),
                    None => SessionRecord::new(),
                };
                let result = WhisperMessage::decode(ciphertext)
                    .and_then(|message| record.decrypt(&message, rng));
                match result {
                    Ok(padded) => {
                        decrypted.session = Some(record.to_bytes());
                        padded
                    }
                    Err(e) => return Ok(Err(failure(e))),
                }
            }
            other => return Ok(Err(EncFailure::Unsupported(other.to_owned()))),
        };
        let plaintext = match signal::unpad(&padded) {
            Ok(plaintext) => plaintext.to_vec(),
            Err(e) => return Ok(Err(failure(e))),
        };
        decrypted.plaintext = plaintext.clone();
        self.record(decrypted);
        Ok(Ok(plaintext))
    }

    /// The stored identity of `address`; a malformed one reads as none (it is replaced by
    /// the one the message brings, trust on first use).
    fn identity(&self, address: &str) -> Result<Option<PublicKey>, Need> {
        Ok(self
            .known(RecordKey::Identity(address.to_owned()))?
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .map(PublicKey::from_raw))
    }

    /// Decrypts a prekey message; a changed identity is trusted, as whatsmeow does (the peer
    /// reinstalled), and reported.
    #[allow(clippy::type_complexity)]
    fn decrypt_prekey(
        &mut self,
        msg: &InFlight,
        mut record: SessionRecord,
        message: &PreKeyWhisperMessage,
        stored: Option<PublicKey>,
        one_time: Option<PreKeyRecord>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Vec<u8>, SessionRecord, Option<[u8; 32]>, Option<u32>), SignalError> {
        let keys = ResponderKeys {
            identity: &self.local.identity,
            registration_id: self.local.registration_id,
            signed_prekey: Some(&self.local.signed_prekey),
            one_time_prekey: one_time.as_ref(),
            stored_identity: stored.as_ref(),
        };
        let out = match record.decrypt_prekey(message, &keys, rng) {
            Err(SignalError::IdentityChanged { .. }) => {
                let keys = ResponderKeys {
                    stored_identity: None,
                    ..keys
                };
                let out = record.decrypt_prekey(message, &keys, rng)?;
                // Reported under the address the records are kept at: the LID device
                // once the sender's LID is known.
                self.outputs
                    .push_back(Output::Deliver(Delivery::IdentityChanged(
                        msg.enc_jid().clone(),
                    )));
                out
            }
            other => other?,
        };
        let identity =
            (out.identity_status == IdentityStatus::FirstUse).then(|| *out.identity.as_bytes());
        Ok((out.plaintext, record, identity, out.used_pre_key_id))
    }

    /// Takes a decryption into the group: later messages decrypt against it.
    fn record(&mut self, decrypted: Decrypted) {
        let address = &decrypted.address;
        if let Some(session) = &decrypted.session {
            self.known
                .insert(RecordKey::Session(address.clone()), Some(session.clone()));
        }
        if let Some(key) = decrypted.identity {
            self.known
                .insert(RecordKey::Identity(address.clone()), Some(key.to_vec()));
        }
        if let Some(id) = decrypted.consumed_prekey {
            self.known.insert(RecordKey::PreKey(id), None);
        }
        if let Some((group, sender, record)) = &decrypted.sender_key {
            let key = RecordKey::SenderKey {
                group: group.clone(),
                sender: sender.clone(),
            };
            self.known.insert(key, Some(record.clone()));
        }
        self.known.insert(
            RecordKey::Plaintext(decrypted.ciphertext_hash),
            Some(decrypted.plaintext.clone()),
        );
        self.changes.decrypts.push(decrypted);
    }
}
