//! Decrypting one group of stanzas against its uncommitted state, and committing it.
//!
//! Architecture Invariant: a decrypted message is committed to the store (advanced session
//! record + plaintext keyed by ciphertext hash, one transaction) before the application sees
//! it; see [`Pending::finish`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::signal::{
    self, IdentityStatus, PreKeyRecord, PreKeyWhisperMessage, PublicKey, ResponderKeys,
    SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalError, WhisperMessage,
};

use crate::ClientError;
use crate::clock::UnixMillis;
use crate::context::{Command, SessionGuard, Shared};
use crate::event::Event;
use crate::store::{DecryptBatch, DecryptCommit, MessageSecret, StoreResult};

#[allow(unused_imports)]
use crate::{notification::*, receipt::*, receive::*, retry::*, send::*};

/// What a group of messages changed and has not committed yet: later messages of the group
/// decrypt against it, and the whole group is one transaction ([`DecryptBatch`]).
pub(crate) struct Pending<'a> {
    /// The session lock, held from the group's first load to its commit.
    guard: SessionGuard<'a>,
    sessions: HashMap<String, Vec<u8>>,
    identities: HashMap<String, [u8; 32]>,
    consumed_prekeys: HashSet<u32>,
    pub(crate) sender_keys: HashMap<(String, String), Vec<u8>>,
    /// Sender keys changed by distribution messages (written with the batch).
    pub(crate) distributed: HashSet<(String, String)>,
    decrypted: HashMap<[u8; 32], Vec<u8>>,
    commits: Vec<DecryptCommit>,
    /// Events and stanzas that may go out only once the group is committed, in order.
    after: Vec<After>,
    /// Message secrets of the group's messages (polls), committed with them.
    pub(crate) message_secrets: Vec<MessageSecret>,
    /// A store read failed: the stanza was left unacknowledged, to be delivered again once
    /// the store answers (see [`watch_store`]).
    pub(crate) store_failed: bool,
}

enum After {
    Emit(Event),
    Send(Node),
}

impl<'a> Pending<'a> {
    /// An empty group, holding the session lock.
    pub(crate) fn new(guard: SessionGuard<'a>) -> Self {
        Pending {
            guard,
            sessions: HashMap::new(),
            identities: HashMap::new(),
            consumed_prekeys: HashSet::new(),
            sender_keys: HashMap::new(),
            distributed: HashSet::new(),
            decrypted: HashMap::new(),
            commits: Vec::new(),
            after: Vec::new(),
            message_secrets: Vec::new(),
            store_failed: false,
        }
    }

    pub(crate) async fn load_session(&self, address: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.sessions.get(address) {
            Some(record) => Ok(Some(record.clone())),
            None => self.guard.store().load_session(address).await,
        }
    }

    pub(crate) async fn load_identity(&self, address: &str) -> StoreResult<Option<[u8; 32]>> {
        match self.identities.get(address) {
            Some(key) => Ok(Some(*key)),
            None => self.guard.store().load_identity(address).await,
        }
    }

    pub(crate) async fn load_prekey(
        &self,
        shared: &Shared,
        id: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        if self.consumed_prekeys.contains(&id) {
            return Ok(None);
        }
        shared.store.load_prekey(id).await
    }

    pub(crate) async fn load_sender_key(
        &self,
        group: &str,
        sender: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        match self.sender_keys.get(&(group.to_owned(), sender.to_owned())) {
            Some(record) => Ok(Some(record.clone())),
            None => self.guard.store().load_sender_key(group, sender).await,
        }
    }

    /// Takes a decrypt into the group's state.
    pub(crate) fn record(&mut self, commit: DecryptCommit) {
        if let Some(session) = &commit.session {
            self.sessions
                .insert(commit.address.clone(), session.clone());
        }
        if let Some(key) = commit.identity {
            self.identities.insert(commit.address.clone(), key);
        }
        if let Some(id) = commit.consumed_prekey {
            self.consumed_prekeys.insert(id);
        }
        if let Some((group, sender, record)) = &commit.sender_key {
            self.sender_keys
                .insert((group.clone(), sender.clone()), record.clone());
        }
        self.decrypted
            .insert(commit.ciphertext_hash, commit.plaintext.clone());
        self.commits.push(commit);
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.after.push(After::Emit(event));
    }

    pub(crate) fn send(&mut self, node: Node) {
        self.after.push(After::Send(node));
    }

    pub(crate) fn ack(&mut self, stanza: &Node, error: Option<u16>) {
        if let Some(ack) = whatsapp_proto::connection::ack_for(stanza, error) {
            self.send(ack);
        }
    }

    /// Commits the group, then lets its events and stanzas out. If the commit fails nothing
    /// goes out: no message is acknowledged, so the server delivers them all again.
    pub(crate) async fn finish(self, shared: &Arc<Shared>) {
        let sender_keys = self
            .distributed
            .iter()
            .filter_map(|key| {
                self.sender_keys
                    .get(key)
                    .map(|record| (key.0.clone(), key.1.clone(), record.clone()))
            })
            .collect();
        let batch = DecryptBatch {
            commits: self.commits,
            sender_keys,
            message_secrets: self.message_secrets,
        };
        if !batch.is_empty()
            && let Err(e) = self.guard.store().commit_decrypted_batch(&batch).await
        {
            tracing::error!(error = %e, messages = batch.commits.len(), "decrypt commit failed; the server will deliver again");
            watch_store(shared);
            return;
        }
        drop(self.guard);
        if self.store_failed {
            watch_store(shared);
        }
        for after in self.after {
            match after {
                After::Emit(event) => shared.emit(event),
                After::Send(node) => {
                    let _ = shared.cmd.send(Command::Send(node, None));
                }
            }
        }
    }
}

/// The buffer key of a ciphertext (whatsmeow `bufferedDecrypt` idea): SHA-256 over the
/// ciphertext, the enc type and the sender.
fn ciphertext_hash(ciphertext: &[u8], kind: &str, sender: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(ciphertext);
    h.update([0]);
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(sender.as_bytes());
    h.finalize().into()
}

struct Decrypted {
    plaintext: Vec<u8>,
    commit: Option<DecryptCommit>,
}

/// Decrypts one `<enc>`, or finds its plaintext in the buffer when it was decrypted before (a
/// redelivery: the session already advanced; the stored plaintext is handed over again).
///
/// The buffer is read before decrypting only where decrypting again could succeed: a `pkmsg`
/// whose session is not held (one without a one-time prekey may set up its session anew once
/// the old one is gone) and an `skmsg` (a sender key state evicted and distributed again
/// starts over). A `msg`, or a `pkmsg` repeating a session we hold, is decrypted first, which
/// saves a store read per message: its commit deleted its message key from the committed
/// session (a Signal message key is used once, and a chain never goes back), so a message
/// whose plaintext was committed, in this process or before a restart, cannot decrypt against
/// any later committed state; the buffer is read when it fails.
pub(crate) async fn decrypt_enc(
    shared: &Shared,
    pending: &mut Pending<'_>,
    sender: &Jid,
    group: Option<&Jid>,
    id: &str,
    kind: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let sender_text = sender.to_string();
    let hash = ciphertext_hash(ciphertext, kind, &sender_text);
    if let Some(plaintext) = pending.decrypted.get(&hash) {
        return Ok(plaintext.clone());
    }
    let decrypt_first = match kind {
        "msg" => true,
        "pkmsg" => repeats_session(shared, pending, sender, ciphertext).await?,
        _ => false,
    };
    if !decrypt_first && let Some(plaintext) = pending.guard.store().load_decrypted(&hash).await? {
        return Ok(plaintext);
    }
    let decrypted = decrypt_new(
        shared,
        pending,
        (sender, group),
        (id, kind, ciphertext),
        hash,
    )
    .await;
    match decrypted {
        Err(e) if decrypt_first => match pending.guard.store().load_decrypted(&hash).await? {
            Some(plaintext) => Ok(plaintext),
            None => Err(e),
        },
        other => other,
    }
}

/// Whether a `pkmsg` repeats a session already set up from it (a customer who has had no
/// answer yet sends every message as a pkmsg): like a `msg`, it cannot decrypt twice, so it
/// needs neither the buffer nor its prekey up front.
async fn repeats_session(
    _shared: &Shared,
    pending: &Pending<'_>,
    sender: &Jid,
    ciphertext: &[u8],
) -> Result<bool, ClientError> {
    let message = PreKeyWhisperMessage::decode(ciphertext)?;
    Ok(
        match pending.load_session(&sender.signal_address()).await? {
            Some(bytes) => SessionRecord::from_bytes(&bytes)?.repeats(&message),
            None => false,
        },
    )
}

/// Decrypts an `<enc>` not found in the buffer and records the commit in `pending`.
async fn decrypt_new(
    shared: &Shared,
    pending: &mut Pending<'_>,
    (sender, group): (&Jid, Option<&Jid>),
    (id, kind, ciphertext): (&str, &str, &[u8]),
    hash: [u8; 32],
) -> Result<Vec<u8>, ClientError> {
    let sender_text = sender.to_string();
    let address = sender.signal_address();
    if kind == "skmsg" {
        let group = group
            .ok_or_else(|| ClientError::InvalidArgument("skmsg outside a group".into()))?
            .to_string();
        let record = pending
            .load_sender_key(&group, &address)
            .await?
            .ok_or(ClientError::Signal(SignalError::NoSession))?;
        let mut record = SenderKeyRecord::from_bytes(&record)?;
        let message = SenderKeyMessage::decode(ciphertext)?;
        let plaintext = signal::unpad(&record.decrypt(&message)?)?.to_vec();
        pending.record(DecryptCommit {
            address: address.clone(),
            session: None,
            sender_key: Some((group, address, record.to_bytes())),
            identity: None,
            consumed_prekey: None,
            ciphertext_hash: hash,
            sender: sender_text,
            message_id: id.to_owned(),
            plaintext: plaintext.clone(),
            created_at: UnixMillis::now().as_secs() as i64,
        });
        return Ok(plaintext);
    }
    let mut record = match pending.load_session(&address).await? {
        Some(bytes) => SessionRecord::from_bytes(&bytes)?,
        None => SessionRecord::new(),
    };
    let stored_identity = pending.load_identity(&address).await?;
    let device = shared.device();
    let one_time = if kind == "pkmsg" {
        let msg = PreKeyWhisperMessage::decode(ciphertext)?;
        match msg.pre_key_id() {
            // A repeat decrypts on its session: its prekey was consumed with the first copy.
            Some(id) if !record.repeats(&msg) => match pending.load_prekey(shared, id).await? {
                Some(bytes) => Some(PreKeyRecord::from_bytes(&bytes)?),
                None => None,
            },
            _ => None,
        }
    } else {
        None
    };
    let mut identity_changed = false;
    let out = {
        let mut rng = rand::thread_rng();
        let stored = stored_identity.map(PublicKey::from_raw);
        let (padded, identity_key, consumed) = match kind {
            "pkmsg" => {
                let msg = PreKeyWhisperMessage::decode(ciphertext)?;
                let identity = shared.signal_identity()?;
                let spk = device.signed_prekey_record()?;
                let keys = ResponderKeys {
                    identity: &identity,
                    registration_id: device.registration_id,
                    signed_prekey: Some(&spk),
                    one_time_prekey: one_time.as_ref(),
                    stored_identity: stored.as_ref(),
                };
                let out = match record.decrypt_prekey(&msg, &keys, &mut rng) {
                    Err(SignalError::IdentityChanged { .. }) => {
                        // The peer reinstalled: trust the new identity, as whatsmeow does.
                        tracing::warn!(%address, "identity changed; trusting the new one");
                        identity_changed = true;
                        let keys = ResponderKeys {
                            stored_identity: None,
                            ..keys
                        };
                        record.decrypt_prekey(&msg, &keys, &mut rng)?
                    }
                    other => other?,
                };
                let identity_key = (out.identity_status == IdentityStatus::FirstUse)
                    .then(|| *out.identity.as_bytes());
                (out.plaintext, identity_key, out.used_pre_key_id)
            }
            "msg" => {
                let msg = WhisperMessage::decode(ciphertext)?;
                (record.decrypt(&msg, &mut rng)?, None, None)
            }
            other => {
                return Err(ClientError::InvalidArgument(format!(
                    "unsupported enc type {other}"
                )));
            }
        };
        let plaintext = signal::unpad(&padded)?.to_vec();
        Decrypted {
            commit: Some(DecryptCommit {
                address,
                session: Some(record.to_bytes()),
                sender_key: None,
                identity: identity_key,
                consumed_prekey: consumed,
                ciphertext_hash: hash,
                sender: sender_text,
                message_id: id.to_owned(),
                plaintext: plaintext.clone(),
                created_at: UnixMillis::now().as_secs() as i64,
            }),
            plaintext,
        }
    };
    if let Some(commit) = out.commit {
        pending.record(commit);
    }
    if identity_changed {
        pending.emit(Event::IdentityChanged {
            jid: sender.clone(),
        });
    }
    Ok(out.plaintext)
}
