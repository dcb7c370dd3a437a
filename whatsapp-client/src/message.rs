//! Receiving (decrypt, commit, hand over, then receipt) and sending 1:1 messages.
//!
//! Architecture Invariant: a decrypted message is committed to the store (advanced session
//! record + plaintext keyed by ciphertext hash, one transaction) before the application sees
//! it, and the delivery receipt that lets the server forget it goes out only when the
//! application acknowledges it ([`crate::IncomingMessage::ack`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use whatsapp_proto::binary::Node;
use whatsapp_proto::content::{self, MessageContent};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::{
    self, CiphertextMessage, IdentityStatus, PreKeyBundle, PreKeyRecord, PreKeyWhisperMessage,
    PublicKey, ResponderKeys, SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord,
    SessionRecord, SignalError, WhisperMessage,
};

use crate::ClientError;
use crate::client::{Command, Shared, now_ms};
use crate::devices::{device_lists, forget_devices, unknown_device};
use crate::event::{AckHandle, Event, IncomingMessage, MessageInfo, ReceiptEvent};
use crate::placeholder::{UnavailableKind, UnavailableMessage};
use crate::poll::PollVote;
use crate::store::{DecryptBatch, DecryptCommit, MessageSecret, StoreResult};

fn is_offline_message(node: &Node) -> bool {
    node.tag == "message" && node.attrs().optional_str("offline").is_some()
}

/// How long a group of the offline queue waits for its next message (the end of the queue is
/// a stanza of its own, so this only bounds a stall of the socket).
const GROUP_WAIT: Duration = Duration::from_millis(20);

/// Processes the stanzas of one connection in order.
///
/// A live message is committed on its own. Messages of the offline queue, which the server
/// flushes all at once after login, are taken in groups (up to
/// [`crate::Config::catch_up_group`], waiting at most [`GROUP_WAIT`] for the next one): decrypted one after the other against the group's
/// uncommitted state, committed in one transaction, and only then handed to the application (whose
/// acknowledgements send the receipts). A crash before the commit loses nothing: the server
/// still has every message of the group, and none was decrypted for good.
pub(crate) async fn stanza_worker(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Node>) {
    let max_group = shared.config.catch_up_group.max(1);
    let mut next = None;
    loop {
        let node = match next.take() {
            Some(node) => node,
            None => match rx.recv().await {
                Some(node) => node,
                None => break,
            },
        };
        match node.tag.as_str() {
            "message" | "appdata" => {
                // Decrypting reads a session and writes it back at the group's commit; a send
                // in between (which advances the same session's sending chain) would be
                // overwritten, and the next send would reuse a message key the peer already
                // spent: it drops that message as a duplicate. Sends hold this lock from load
                // to store, so the group holds it from load to commit.
                let _sessions = shared.send_lock.lock().await;
                let grouped = is_offline_message(&node);
                let mut pending = Pending::default();
                handle_message(&shared, &mut pending, node).await;
                let mut taken = 1;
                // The queue arrives faster than it is read off the socket: wait a moment for
                // the rest of a group rather than commit each message alone.
                let deadline = tokio::time::Instant::now() + GROUP_WAIT;
                while grouped && taken < max_group {
                    let node = match rx.try_recv() {
                        Ok(node) => node,
                        Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(node)) => node,
                            _ => break,
                        },
                    };
                    if !is_offline_message(&node) {
                        next = Some(node);
                        break;
                    }
                    handle_message(&shared, &mut pending, node).await;
                    taken += 1;
                }
                pending.finish(&shared).await;
            }
            "receipt" => {
                if node.attrs().optional_str("type") == Some("retry") {
                    if let Err(e) = handle_retry_receipt(&shared, &node).await {
                        tracing::warn!(error = %e, "answering a retry receipt failed");
                    }
                } else {
                    handle_receipt(&shared, &node);
                }
            }
            "notification" => handle_notification(&shared, &node).await,
            "call" => crate::call::on_call(&shared, &node),
            // whatsmeow `handleUnencryptedMessage`: a status not from a newsletter is acked.
            "status" => {
                if let Some(ack) = whatsapp_proto::connection::ack_for(&node, None) {
                    let _ = shared.cmd.send(Command::Send(ack, None));
                }
            }
            "offline-complete" => shared.emit(Event::OfflineSyncCompleted {
                count: node.attrs().optional_u64("count").ok().flatten(),
            }),
            _ => {}
        }
    }
}

fn handle_receipt(shared: &Shared, node: &Node) {
    let attrs = node.attrs();
    let (Ok(from), Some(id)) = (attrs.jid("from"), attrs.optional_string("id")) else {
        return;
    };
    let mut ids = vec![id];
    if let Some(list) = node.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attrs().optional_string("id")),
        );
    }
    let sender = attrs
        .optional_jid("participant")
        .ok()
        .flatten()
        .unwrap_or(from.clone());
    shared.emit(Event::Receipt(ReceiptEvent {
        ids,
        chat: from.to_non_ad(),
        sender,
        kind: attrs.optional_string("type").unwrap_or_default(),
        timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
    }));
}

async fn handle_notification(shared: &Arc<Shared>, node: &Node) {
    match node.attrs().optional_str("type") {
        Some("server_sync") => crate::appstate::on_server_sync(shared, node),
        Some("encrypt") if node.child("identity").is_some() => {
            on_identity_change(shared, node).await;
        }
        Some("encrypt") => {
            if let Some(value) = node
                .child("count")
                .and_then(|c| c.attrs().optional_u64("value").ok().flatten())
                && let Err(e) =
                    crate::session::on_prekey_low(shared, u32::try_from(value).unwrap_or(0)).await
            {
                tracing::warn!(error = %e, "prekey top-up failed");
            }
        }
        Some("link_code_companion_reg") => crate::pair_code::on_notification(shared, node).await,
        Some("devices") => crate::devices::on_devices_notification(shared, node).await,
        Some("w:gp2") => crate::groups::on_group_notification(shared, node).await,
        Some("privacy_token") => {
            let Ok(from) = node.attrs().jid("from") else {
                return;
            };
            for token in node
                .child("tokens")
                .map(|t| t.children_by_tag("token").collect::<Vec<_>>())
                .unwrap_or_default()
            {
                if token.attrs().optional_str("type") != Some("trusted_contact") {
                    continue;
                }
                let (Some(bytes), Ok(Some(t))) =
                    (token.content_bytes(), token.attrs().optional_u64("t"))
                else {
                    continue;
                };
                let key = from.to_non_ad().to_string();
                if let Err(e) = shared
                    .store
                    .store_privacy_token(&key, bytes, i64::try_from(t).unwrap_or(i64::MAX))
                    .await
                {
                    tracing::warn!(error = %e, "storing a privacy token failed");
                }
            }
        }
        _ => {}
    }
}

/// `<notification type="encrypt" from="user"><identity/>`: the user reinstalled WhatsApp, so
/// every session we hold with its devices leads nowhere (whatsmeow `notification.go`
/// `handleEncryptNotification`). Its sessions and identities go, under its phone number and
/// its LID alike, and its cached device list with them: the next send fetches the device
/// list and fresh prekey bundles and trusts the new identity, instead of encrypting to
/// sessions the new install cannot decrypt. As WA Web does (Baileys
/// `Utils/identity-change-handler.ts`, whatsapp-rust `handlers/notification/device.rs`), a
/// notification from a companion device or about our own account changes nothing.
/// The notification's ack went out on arrival, as for every notification.
async fn on_identity_change(shared: &Shared, node: &Node) {
    let Ok(from) = node.attrs().jid("from") else {
        return;
    };
    if from.is_server() || !from.is_user() || from.device != 0 {
        tracing::debug!(%from, "identity notification ignored");
        return;
    }
    let user = from.to_non_ad();
    let device = shared.device();
    if [&device.jid, &device.lid]
        .into_iter()
        .flatten()
        .any(|own| own.user == user.user)
    {
        tracing::debug!("identity notification about our own account ignored");
        return;
    }
    let mut users = vec![user.clone()];
    // The LID the stanza names (whatsapp-rust reads it too), else the one we mapped.
    let named = node.attrs().optional_jid("lid").ok().flatten();
    for other in [named, learn_alternate(shared, &user, node).await]
        .into_iter()
        .flatten()
    {
        let other = other.to_non_ad();
        if !users.contains(&other) {
            users.push(other);
        }
    }
    let deleted = {
        // A send holds this lock from loading a session to storing it back: without it one
        // in flight could put a deleted session back.
        let _sessions = shared.send_lock.lock().await;
        // Sessions first: if only they went, the next send still trusts the new identity
        // (the bundle path replaces a changed one); the other way round it would not.
        let sessions = shared.store.delete_all_sessions(&users).await;
        let identities = shared.store.delete_all_identities(&users).await;
        (sessions, identities)
    };
    for user in &users {
        forget_devices(shared, user);
    }
    match deleted {
        (Ok(sessions), Ok(identities)) => {
            tracing::info!(%user, sessions, identities, "identity changed: keys forgotten");
            // WA Web reports a changed security code only for a user it held keys for.
            if sessions + identities > 0 {
                shared.emit(Event::IdentityChanged { jid: user });
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(%user, error = %e, "forgetting the keys of a reinstalled user failed");
        }
    }
}

/// What a group of messages changed and has not committed yet: later messages of the group
/// decrypt against it, and the whole group is one transaction ([`DecryptBatch`]).
#[derive(Default)]
struct Pending {
    sessions: HashMap<String, Vec<u8>>,
    identities: HashMap<String, [u8; 32]>,
    consumed_prekeys: HashSet<u32>,
    sender_keys: HashMap<(String, String), Vec<u8>>,
    /// Sender keys changed by distribution messages (written with the batch).
    distributed: HashSet<(String, String)>,
    decrypted: HashMap<[u8; 32], Vec<u8>>,
    commits: Vec<DecryptCommit>,
    /// Events and stanzas that may go out only once the group is committed, in order.
    after: Vec<After>,
    /// Message secrets of the group's messages (polls), committed with them.
    message_secrets: Vec<MessageSecret>,
    /// A store read failed: the stanza was left unacknowledged, to be delivered again once
    /// the store answers (see [`watch_store`]).
    store_failed: bool,
}

enum After {
    Emit(Event),
    Send(Node),
}

impl Pending {
    async fn load_session(&self, shared: &Shared, address: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.sessions.get(address) {
            Some(record) => Ok(Some(record.clone())),
            None => shared.store.load_session(address).await,
        }
    }

    async fn load_identity(&self, shared: &Shared, address: &str) -> StoreResult<Option<[u8; 32]>> {
        match self.identities.get(address) {
            Some(key) => Ok(Some(*key)),
            None => shared.store.load_identity(address).await,
        }
    }

    async fn load_prekey(&self, shared: &Shared, id: u32) -> StoreResult<Option<Vec<u8>>> {
        if self.consumed_prekeys.contains(&id) {
            return Ok(None);
        }
        shared.store.load_prekey(id).await
    }

    async fn load_sender_key(
        &self,
        shared: &Shared,
        group: &str,
        sender: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        match self.sender_keys.get(&(group.to_owned(), sender.to_owned())) {
            Some(record) => Ok(Some(record.clone())),
            None => shared.store.load_sender_key(group, sender).await,
        }
    }

    /// Takes a decrypt into the group's state.
    fn record(&mut self, commit: DecryptCommit) {
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

    fn emit(&mut self, event: Event) {
        self.after.push(After::Emit(event));
    }

    fn send(&mut self, node: Node) {
        self.after.push(After::Send(node));
    }

    fn ack(&mut self, stanza: &Node, error: Option<u16>) {
        if let Some(ack) = whatsapp_proto::connection::ack_for(stanza, error) {
            self.send(ack);
        }
    }

    /// Commits the group, then lets its events and stanzas out. If the commit fails nothing
    /// goes out: no message is acknowledged, so the server delivers them all again.
    async fn finish(self, shared: &Arc<Shared>) {
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
            && let Err(e) = shared.store.commit_decrypted_batch(&batch).await
        {
            tracing::error!(error = %e, messages = batch.commits.len(), "decrypt commit failed; the server will deliver again");
            watch_store(shared);
            return;
        }
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
async fn decrypt_enc(
    shared: &Shared,
    pending: &mut Pending,
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
    if !decrypt_first && let Some(plaintext) = shared.store.load_decrypted(&hash).await? {
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
        Err(e) if decrypt_first => match shared.store.load_decrypted(&hash).await? {
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
    shared: &Shared,
    pending: &Pending,
    sender: &Jid,
    ciphertext: &[u8],
) -> Result<bool, ClientError> {
    let message = PreKeyWhisperMessage::decode(ciphertext)?;
    Ok(
        match pending
            .load_session(shared, &sender.signal_address())
            .await?
        {
            Some(bytes) => SessionRecord::from_bytes(&bytes)?.repeats(&message),
            None => false,
        },
    )
}

/// Decrypts an `<enc>` not found in the buffer and records the commit in `pending`.
async fn decrypt_new(
    shared: &Shared,
    pending: &mut Pending,
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
            .load_sender_key(shared, &group, &address)
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
            created_at: (now_ms() / 1000) as i64,
        });
        return Ok(plaintext);
    }
    let mut record = match pending.load_session(shared, &address).await? {
        Some(bytes) => SessionRecord::from_bytes(&bytes)?,
        None => SessionRecord::new(),
    };
    let stored_identity = pending.load_identity(shared, &address).await?;
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
                created_at: (now_ms() / 1000) as i64,
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

fn is_own(shared: &Shared, jid: &Jid) -> bool {
    let device = shared.device();
    [device.jid, device.lid]
        .iter()
        .flatten()
        .any(|own| own.user == jid.user && own.server == jid.server)
}

async fn handle_message(shared: &Arc<Shared>, pending: &mut Pending, node: Node) {
    let attrs = node.attrs();
    let (Ok(from), Some(id)) = (attrs.jid("from"), attrs.optional_string("id")) else {
        pending.ack(&node, Some(487));
        return;
    };
    let group = (from.is_group() || from.is_broadcast()).then(|| from.clone());
    let sender = match &group {
        Some(_) => match attrs.optional_jid("participant") {
            Ok(Some(participant)) => participant,
            _ => {
                pending.ack(&node, Some(487));
                return;
            }
        },
        None => from.clone(),
    };
    if unknown_device(shared, &sender) {
        forget_devices(shared, &sender);
    }
    let from_me = is_own(shared, &sender);
    let chat = match &group {
        Some(group) => group.clone(),
        None if from_me => attrs
            .optional_jid("recipient")
            .ok()
            .flatten()
            .unwrap_or_else(|| from.to_non_ad()),
        None => from.to_non_ad(),
    };
    let sender_alt = match &group {
        None => learn_alternate(shared, &from, &node).await,
        Some(_) => {
            let key = if sender.is_lid() {
                "participant_pn"
            } else {
                "participant_lid"
            };
            attrs
                .optional_jid(key)
                .ok()
                .flatten()
                .map(|j| j.to_non_ad())
        }
    };
    let info = MessageInfo {
        id: id.clone(),
        chat,
        sender: sender.clone(),
        sender_alt,
        from_me,
        push_name: attrs
            .optional_string("notify")
            .filter(|n| !n.is_empty() && n != "-"),
        timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
        offline: attrs.optional_string("offline").is_some(),
    };
    if node.child("enc").is_none() {
        match node.child("unavailable") {
            Some(unavailable) => on_unavailable(shared, pending, &node, info, unavailable),
            // whatsmeow `NackUnrecognizedStanza`.
            None => pending.ack(&node, Some(488)),
        }
        return;
    }
    let mut visible = None;
    let mut failure = None;
    let mut store_failure = None;
    let mut invalid = false;
    let mut bot_message = false;
    for enc in node.children_by_tag("enc") {
        let kind = enc.attrs().optional_string("type").unwrap_or_default();
        if kind == "msmsg" {
            // An AI bot's message, sealed under a secret of a message we never had: whatsmeow
            // nacks it with `NackMissingMessageSecret` when the secret is missing.
            bot_message = true;
            continue;
        }
        let Some(ciphertext) = enc.content_bytes() else {
            continue;
        };
        match decrypt_enc(
            shared,
            pending,
            &sender,
            group.as_ref(),
            &id,
            &kind,
            ciphertext,
        )
        .await
        {
            Ok(plaintext) => match e2e::Message::decode(plaintext.as_slice()) {
                Ok(raw) => {
                    // whatsmeow takes the distribution from the message or, for our own
                    // devices' messages, from inside the DeviceSentMessage.
                    let skdm = raw.sender_key_distribution_message.as_ref().or_else(|| {
                        let dsm = raw.device_sent_message.as_ref()?.message.as_ref()?;
                        dsm.sender_key_distribution_message.as_ref()
                    });
                    if let Some(skdm) = skdm
                        && let Err(e) =
                            process_skdm(shared, pending, &info.chat, &sender, skdm).await
                    {
                        tracing::warn!(error = %e, "sender key distribution failed");
                    }
                    visible = Visible::open(raw, &plaintext);
                }
                Err(_) => invalid = true,
            },
            Err(ClientError::Signal(SignalError::DuplicateMessage { .. })) => {
                tracing::debug!(%id, "duplicate enc skipped");
            }
            Err(e @ ClientError::Store(_)) => store_failure = Some(e),
            Err(e) => failure = Some(e),
        }
    }
    if let Some(error) = store_failure {
        // A deliberate difference from whatsmeow, which acks after any decrypt error: a
        // store that could not be read says nothing about the message, so it is left
        // unacknowledged and the client reconnects once the store answers, for the server
        // to deliver it again.
        tracing::warn!(%id, %error, "store failed while decrypting; the message stays unacknowledged");
        pending.store_failed = true;
        return;
    }
    if let (Some(name), false) = (&info.push_name, from_me) {
        let jid = sender.to_non_ad().to_string();
        if first_time(shared, format!("name {jid}"), name) {
            let _ = shared.store.store_push_name(&jid, name).await;
        }
    }
    let mut receipt = Node::new("receipt")
        .attr("id", id.clone())
        .attr("to", from.clone());
    for key in ["participant", "recipient"] {
        if let Some(v) = node.attr_value(key) {
            receipt = receipt.attr(key, v.clone());
        }
    }
    if attrs.optional_str("category") == Some("peer") {
        receipt = receipt.attr("type", "peer_msg");
    } else if from_me {
        receipt = receipt.attr("type", "sender");
    }
    if let Some(opened) = &visible
        && let Some(mut resent) =
            crate::placeholder::resent_messages(shared, &info, &opened.message)
    {
        // Our phone's answer to resend requests: the messages it carries, as if received.
        match resent.last_mut() {
            Some(last) => {
                last.ack = Some(AckHandle {
                    node: receipt,
                    to: shared.acks.clone(),
                })
            }
            None => pending.send(receipt),
        }
        for message in resent {
            pending
                .message_secrets
                .extend(crate::poll::secret_of(&message.info, &message.message));
            pending.emit(Event::Message(Box::new(message)));
        }
        return;
    }
    if let Some(opened) = &visible
        && let Some(kind) = crate::peer::consume(shared, &info, &opened.message).await
    {
        // A key share or history notification of our phone: handled, not for the application.
        pending.send(receipt);
        pending.emit(Event::ProtocolConsumed(kind));
        return;
    }
    let Some(Visible {
        message,
        content,
        raw,
    }) = visible
    else {
        if let Some(error) = &failure {
            let reason = error.to_string();
            tracing::warn!(%id, %reason, "undecryptable message");
            if let Err(e) = send_retry_receipt(shared, &node, error).await {
                // Unacknowledged, the message comes again (at the latest after the next
                // reconnect) and gets another chance at a retry receipt.
                tracing::warn!(error = %e, "a retry receipt could not be queued; no ack");
                if matches!(e, ClientError::Store(_)) {
                    pending.store_failed = true;
                }
                return;
            }
            // whatsmeow acks without an error after a decrypt failure.
            pending.ack(&node, None);
            pending.emit(Event::UndecryptableMessage { info, reason });
        } else if bot_message {
            pending.ack(&node, Some(495));
        } else if invalid {
            pending.ack(&node, Some(491));
            pending.emit(Event::UndecryptableMessage {
                info,
                reason: "invalid protobuf".into(),
            });
        } else {
            // Nothing for the application (a key distribution only, or a duplicate).
            pending.send(receipt);
            pending.emit(Event::ProtocolConsumed(
                crate::ConsumedProtocol::SenderKeyDistribution,
            ));
        }
        return;
    };
    pending
        .message_secrets
        .extend(crate::poll::secret_of(&info, &message));
    if let Some(update) = &message.poll_update_message {
        match crate::poll::open_vote(shared, &pending.message_secrets, &info, update).await {
            Ok(Some((poll_id, poll_creator, selected_hashes))) => {
                pending.emit(Event::PollVote(Box::new(PollVote {
                    info,
                    poll_id,
                    poll_creator,
                    selected_hashes,
                    message,
                    ack: Some(AckHandle {
                        node: receipt,
                        to: shared.acks.clone(),
                    }),
                })));
                return;
            }
            // Not opened: handed over as it is.
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%id, %error, "store failed reading a poll's secret; no ack");
                pending.store_failed = true;
                return;
            }
        }
    }
    pending.emit(Event::Message(Box::new(IncomingMessage {
        info,
        message,
        content,
        raw,
        ack: Some(AckHandle {
            node: receipt,
            to: shared.acks.clone(),
        }),
    })));
}

/// `<unavailable>` instead of `<enc>` (see [`crate::placeholder`]): a view-once message is a
/// placeholder acknowledged when the application stored it; any other is acknowledged at
/// once, and our phone is asked to resend it.
fn on_unavailable(
    shared: &Arc<Shared>,
    pending: &mut Pending,
    node: &Node,
    info: MessageInfo,
    unavailable: &Node,
) {
    let kind = crate::placeholder::kind_of(unavailable);
    tracing::info!(id = %info.id, ?kind, "message unavailable to this device");
    let view_once = kind == UnavailableKind::ViewOnce;
    let ack = if view_once {
        whatsapp_proto::connection::ack_for(node, None).map(|node| AckHandle {
            node,
            to: shared.acks.clone(),
        })
    } else {
        crate::placeholder::request_resend(shared, &info);
        pending.ack(node, None);
        None
    };
    pending.emit(Event::Unavailable(Box::new(UnavailableMessage {
        info,
        kind,
        resend_requested: !view_once,
        ack,
    })));
}

/// After a store failure: waits (in the background, one waiter at a time) until the store
/// answers a read again, then reconnects, so that the server delivers again what was left
/// unacknowledged.
fn watch_store(shared: &Arc<Shared>) {
    if shared
        .store_watch
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if shared.store.load_decrypted(&[0; 32]).await.is_ok() {
                break;
            }
        }
        shared
            .store_watch
            .store(false, std::sync::atomic::Ordering::Release);
        tracing::info!("store answers again; reconnecting for redelivery");
        let _ = shared.cmd.send(Command::Reconnect);
    });
}

/// A decrypted message for the application: unwrapped and read through the content model.
pub(crate) struct Visible {
    pub(crate) message: e2e::Message,
    pub(crate) content: MessageContent,
    pub(crate) raw: e2e::Message,
}

impl Visible {
    /// `None` when the message carries nothing but key distribution and context metadata.
    pub(crate) fn open(raw: e2e::Message, plaintext: &[u8]) -> Option<Visible> {
        let unwrapped = content::unwrap(&raw);
        if !content::carries_content(unwrapped.message, plaintext) {
            return None;
        }
        let mut message = unwrapped.message.clone();
        message.sender_key_distribution_message = None;
        if message.message_context_info.is_none() {
            message.message_context_info = unwrapped.message_context_info.cloned();
        }
        let content = MessageContent::read_plaintext(&raw, plaintext);
        Some(Visible {
            message,
            content,
            raw,
        })
    }
}

/// Feeds a sender key distribution message into the sender key store (part 2 §5.2 step 4).
async fn process_skdm(
    shared: &Shared,
    pending: &mut Pending,
    chat: &Jid,
    sender: &Jid,
    skdm: &e2e::SenderKeyDistributionMessage,
) -> Result<(), ClientError> {
    let Some(bytes) = &skdm.axolotl_sender_key_distribution_message else {
        return Ok(());
    };
    let group = skdm.group_id.clone().unwrap_or_else(|| chat.to_string());
    let address = sender.signal_address();
    let distribution = SenderKeyDistributionMessage::decode(bytes)?;
    let mut record = match pending.load_sender_key(shared, &group, &address).await? {
        Some(bytes) => SenderKeyRecord::from_bytes(&bytes)?,
        None => SenderKeyRecord::new(),
    };
    record.process_distribution_message(&distribution);
    let key = (group, address);
    pending.sender_keys.insert(key.clone(), record.to_bytes());
    pending.distributed.insert(key);
    Ok(())
}

/// Whether this process has not stored `value` under `key` from a message yet (and now counts
/// it as stored).
fn first_time(shared: &Shared, key: String, value: &str) -> bool {
    shared
        .stored_from_messages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((key, value.to_owned()))
}

/// The other address of a 1:1 sender (part 2 §3.5): `sender_pn` when `from` is a LID, else
/// `sender_lid`; a mapping seen is stored, and a missing one is looked up in the store.
async fn learn_alternate(shared: &Shared, from: &Jid, node: &Node) -> Option<Jid> {
    let key = if from.is_lid() {
        "sender_pn"
    } else {
        "sender_lid"
    };
    let seen = node.attrs().optional_jid(key).ok().flatten();
    if let Some(alt) = &seen {
        let pair = if from.is_lid() {
            (from.user.clone(), alt.user.clone())
        } else {
            (alt.user.clone(), from.user.clone())
        };
        if first_time(shared, format!("lid {}", pair.0), &pair.1)
            && let Err(e) = shared.store.store_lid_mappings(&[pair]).await
        {
            tracing::warn!(error = %e, "storing a LID mapping failed");
        }
        return Some(alt.to_non_ad());
    }
    if from.is_lid() {
        shared
            .store
            .pn_for_lid(&from.user)
            .await
            .ok()
            .flatten()
            .map(Jid::user)
    } else {
        shared
            .store
            .lid_for_pn(&from.user)
            .await
            .ok()
            .flatten()
            .map(|lid| Jid::new(lid, whatsapp_proto::jid::Server::Lid))
    }
}

// ------------------------------------------------------------------ retries

/// Asks the sender to encrypt a message again (part 2 §6.2). Gives up after 4 receipts per id.
async fn send_retry_receipt(
    shared: &Shared,
    stanza: &Node,
    error: &ClientError,
) -> Result<(), ClientError> {
    if matches!(error, ClientError::Store(_)) {
        // Our own storage failed: the stanza is redelivered anyway.
        return Ok(());
    }
    let attrs = stanza.attrs();
    let id = attrs.optional_string("id").unwrap_or_default();
    let count = {
        let mut map = shared
            .retries_sent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let count = map.entry(id.clone()).or_insert(0);
        *count += 1;
        *count
    };
    if count >= 5 {
        return Ok(());
    }
    let device = shared.device();
    let mut retry = Node::new("receipt")
        .attr("id", id.clone())
        .attr_opt("to", stanza.attr_value("from").cloned())
        .attr("type", "retry");
    for key in ["participant", "recipient"] {
        if let Some(v) = stanza.attr_value(key) {
            retry = retry.attr(key, v.clone());
        }
    }
    if attrs.optional_str("category") == Some("peer") {
        retry = retry.attr("category", "peer");
    }
    let mut children = vec![
        Node::new("retry")
            .attr("v", "1")
            .attr("count", count)
            .attr("id", id)
            .attr("t", attrs.optional_string("t").unwrap_or_default()),
        Node::new("registration").bytes(device.registration_id.to_be_bytes().to_vec()),
    ];
    let no_session = matches!(
        error,
        ClientError::Signal(SignalError::NoSession | SignalError::MissingPreKey { .. })
    );
    if count > 1 || no_session {
        // A fresh one-time prekey so the sender can build a new session at once.
        let prekey = {
            let id = shared.store.max_prekey_id().await? % signal::MAX_PREKEY_ID + 1;
            PreKeyRecord::generate(id, &mut rand::thread_rng())
        };
        shared
            .store
            .store_prekeys(&[(prekey.id, prekey.to_bytes())])
            .await?;
        shared.store.mark_prekeys_uploaded(&[prekey.id]).await?;
        let spk = device.signed_prekey_record()?;
        let mut keys = vec![
            Node::new("type").bytes(vec![5u8]),
            Node::new("identity").bytes(device.identity_pair().public().to_vec()),
            Node::new("key").children([
                Node::new("id").bytes(prekey.id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(prekey.key_pair.public.as_bytes().to_vec()),
            ]),
            Node::new("skey").children([
                Node::new("id").bytes(spk.id.to_be_bytes()[1..].to_vec()),
                Node::new("value").bytes(spk.key_pair.public.as_bytes().to_vec()),
                Node::new("signature").bytes(spk.signature.to_vec()),
            ]),
        ];
        if let Some(account) = &device.account {
            keys.push(Node::new("device-identity").bytes(account.clone()));
        }
        children.push(Node::new("keys").children(keys));
    }
    shared.send(retry.children(children)).await
}

/// Re-encrypts a message we sent for the one device that could not decrypt it (part 2 §6.3).
async fn handle_retry_receipt(shared: &Shared, node: &Node) -> Result<(), ClientError> {
    let attrs = node.attrs();
    let from = attrs
        .jid("from")
        .map_err(|_| ClientError::unexpected("retry receipt without from", node))?;
    let id = attrs.optional_string("id").unwrap_or_default();
    let retry = node
        .child("retry")
        .ok_or_else(|| ClientError::unexpected("no <retry>", node))?;
    let count = retry
        .attrs()
        .optional_u64("count")
        .ok()
        .flatten()
        .unwrap_or(1);
    let requester = attrs
        .optional_jid("participant")
        .ok()
        .flatten()
        .unwrap_or(from.clone());
    let resends = {
        let mut map = shared.resends.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry((requester.to_string(), id.clone())).or_insert(0);
        *n += 1;
        *n
    };
    if count >= 5 || resends > 10 {
        return Ok(());
    }
    if unknown_device(shared, &requester) {
        forget_devices(shared, &requester);
    }
    let mine = is_own(shared, &requester);
    let group = from.is_group().then(|| from.clone());
    let chat = if let Some(group) = &group {
        group.clone()
    } else if mine {
        attrs
            .optional_jid("recipient")
            .ok()
            .flatten()
            .unwrap_or_else(|| requester.to_non_ad())
    } else {
        requester.to_non_ad()
    };
    let Some(plain) = shared.store.load_sent(&chat.to_string(), &id).await? else {
        tracing::warn!(%id, %chat, "retry receipt for a message no longer kept");
        return Ok(());
    };
    let message = e2e::Message::decode(plain.as_slice())
        .map_err(|_| ClientError::unexpected("stored message does not decode", node))?;
    let bytes = if let Some(group) = &group {
        // A group retry carries our sender key again (whatsmeow `handleRetryReceipt`).
        let device = shared.device();
        let own = match (&device.lid, requester.is_lid()) {
            (Some(lid), true) => lid.clone(),
            _ => device.jid.clone().ok_or(ClientError::NotConnected)?,
        };
        let record = shared
            .store
            .load_sender_key(&group.to_string(), &own.signal_address())
            .await?
            .ok_or(ClientError::Signal(SignalError::NoSession))?;
        let mut record = SenderKeyRecord::from_bytes(&record)?;
        // An empty record: a participant left and our key was dropped (crate::groups); the
        // next send makes a new one, so the resend carries none.
        let distribution = (!record.is_empty())
            .then(|| record.create_distribution_message(&mut rand::thread_rng()));
        e2e::Message {
            sender_key_distribution_message: distribution.map(|d| {
                e2e::SenderKeyDistributionMessage {
                    group_id: Some(group.to_string()),
                    axolotl_sender_key_distribution_message: Some(d.serialized().to_vec()),
                }
            }),
            ..message.clone()
        }
        .encode_to_vec()
    } else if mine {
        dsm_bytes(&chat, &message)
    } else {
        plain.clone()
    };
    let _lock = shared.send_lock.lock().await;
    let device = shared.device();
    let identity = shared.signal_identity()?;
    let address = requester.signal_address();
    let bundle = match node.child("keys") {
        Some(keys) => {
            let mut with_registration = keys.clone();
            if let Some(reg) = node.child("registration") {
                with_registration = with_registration.children(
                    keys.child_nodes()
                        .iter()
                        .cloned()
                        .chain([reg.clone()])
                        .collect::<Vec<_>>(),
                );
            }
            parse_bundle(&with_registration)
        }
        None => None,
    };
    let bundle = match bundle {
        Some(b) => Some(b),
        None if shared.store.load_session(&address).await?.is_none() => {
            fetch_bundles(shared, std::slice::from_ref(&requester))
                .await?
                .into_iter()
                .next()
                .map(|(_, b)| b)
        }
        None => None,
    };
    let mut record = match (&bundle, shared.store.load_session(&address).await?) {
        (None, Some(existing)) => SessionRecord::from_bytes(&existing)?,
        _ => SessionRecord::new(),
    };
    if let Some(bundle) = &bundle {
        // The requester lost its session: trust its (possibly new) identity, as whatsmeow does.
        record.process_bundle(
            &identity,
            device.registration_id,
            bundle,
            None,
            &mut rand::thread_rng(),
        )?;
        shared
            .store
            .store_identity(&address, bundle.identity_key.as_bytes())
            .await?;
    }
    let ciphertext = {
        let padded = signal::pad(&bytes, &mut rand::thread_rng());
        record.encrypt(&padded)?
    };
    shared
        .store
        .store_session(&address, &record.to_bytes())
        .await?;
    let mut children = vec![
        Node::new("enc")
            .attr("v", "2")
            .attr("type", ciphertext.enc_type())
            .attr("count", count)
            .attr_opt("mediatype", media_type(&message))
            .bytes(ciphertext.serialized().to_vec()),
    ];
    if ciphertext.enc_type() == "pkmsg"
        && let Some(account) = &device.account
    {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    let mut stanza = match &group {
        Some(group) => Node::new("message")
            .attr("to", group.clone())
            .attr("participant", requester),
        None => Node::new("message").attr("to", requester),
    }
    .attr("id", id)
    .attr("type", message_type(&message))
    .attr_opt("t", attrs.optional_string("t"));
    if group.is_none() {
        stanza = stanza.attr("device_fanout", "false");
    }
    if mine && group.is_none() {
        stanza = stanza.attr("recipient", chat);
    }
    shared.send(stanza.children(children)).await
}

fn dsm_bytes(chat: &Jid, message: &e2e::Message) -> Vec<u8> {
    e2e::Message {
        device_sent_message: Some(Box::new(e2e::DeviceSentMessage {
            destination_jid: Some(chat.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        message_context_info: message.message_context_info.clone(),
        ..Default::default()
    }
    .encode_to_vec()
}

// ------------------------------------------------------------------ sending

/// A message id in whatsmeow's current format: `3EB0` + upper-case hex of the first 9 bytes of
/// SHA-256(unix seconds BE ‖ own user ‖ "@c.us" ‖ 16 random bytes) (part 2 §4.1).
pub fn generate_message_id(own_user: &str, unix_seconds: u64) -> String {
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    let mut h = Sha256::new();
    h.update(unix_seconds.to_be_bytes());
    h.update(own_user.as_bytes());
    h.update(b"@c.us");
    h.update(random);
    let digest = h.finalize();
    format!("3EB0{}", hex::encode_upper(&digest[..9]))
}

/// Checks a caller-chosen message id (for [`crate::Client::send_message_with_id`]).
///
/// The official clients' ids are 16 to 64 upper-case letters and digits: WhatsApp Web's
/// `3EB0` + 18 (or, older, 16) hex digits, iOS's `3A` + hex, Android's 32 hex digits (part 2
/// §4.1). Anything else (empty, lower case, punctuation, overly long) is refused before it
/// reaches the server.
///
/// ```
/// use whatsapp_client::{generate_message_id, validate_message_id};
/// assert!(validate_message_id(&generate_message_id("15551234567", 1_700_000_000)).is_ok());
/// assert!(validate_message_id("3EB0C0FFEE00112233").is_ok());
/// assert!(validate_message_id("3eb0-not-an-id").is_err());
/// ```
pub fn validate_message_id(id: &str) -> Result<(), ClientError> {
    let refuse = |reason: &'static str| {
        Err(ClientError::InvalidMessageId {
            id: id.chars().take(80).collect(),
            reason,
        })
    };
    if !(16..=64).contains(&id.len()) {
        return refuse("length must be 16 to 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        return refuse("only upper-case letters and digits");
    }
    Ok(())
}

fn bytes_of<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

fn id_of(bytes: &[u8]) -> Option<u32> {
    (bytes.len() == 3).then(|| u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]))
}

fn parse_bundle(user: &Node) -> Option<PreKeyBundle> {
    let registration: [u8; 4] = bytes_of(user, "registration")?.try_into().ok()?;
    let identity = PublicKey::from_slice(bytes_of(user, "identity")?).ok()?;
    let skey = user.child("skey")?;
    let signature: [u8; 64] = bytes_of(skey, "signature")?.try_into().ok()?;
    let prekey = match user.child("key") {
        Some(key) => Some((
            id_of(bytes_of(key, "id")?)?,
            PublicKey::from_slice(bytes_of(key, "value")?).ok()?,
        )),
        None => None,
    };
    Some(PreKeyBundle {
        registration_id: u32::from_be_bytes(registration),
        identity_key: identity,
        signed_prekey_id: id_of(bytes_of(skey, "id")?)?,
        signed_prekey: PublicKey::from_slice(bytes_of(skey, "value")?).ok()?,
        signed_prekey_signature: signature,
        prekey,
    })
}

/// Fetches prekey bundles for devices without a session (part 2 §2.3).
async fn fetch_bundles(
    shared: &Shared,
    devices: &[Jid],
) -> Result<Vec<(Jid, PreKeyBundle)>, ClientError> {
    let users = devices.iter().map(|d| {
        Node::new("user")
            .attr("jid", d.clone())
            .attr("reason", "identity")
    });
    let iq = Node::new("iq")
        .attr("xmlns", "encrypt")
        .attr("type", "get")
        .attr("to", Jid::server_jid())
        .children([Node::new("key").children(users)]);
    let answer = shared.iq(iq).await?;
    let list = answer
        .child("list")
        .ok_or_else(|| ClientError::unexpected("no bundle list", &answer))?;
    let mut out = Vec::new();
    for user in list.children_by_tag("user") {
        let Ok(jid) = user.attrs().jid("jid") else {
            continue;
        };
        let keys = user.child("keys").unwrap_or(user);
        match parse_bundle(keys) {
            Some(bundle) => out.push((jid, bundle)),
            None => tracing::warn!(%jid, "unusable prekey bundle"),
        }
    }
    Ok(out)
}

/// Sends a 1:1 message to every device of `to` and to our other devices (part 2 §4.3).
/// Sessions for `devices`: loaded, or built from fetched prekey bundles.
pub(crate) async fn sessions_for(
    shared: &Shared,
    devices: &[Jid],
) -> Result<Vec<(Jid, SessionRecord)>, ClientError> {
    let device = shared.device();
    let mut sessions: Vec<(Jid, SessionRecord)> = Vec::new();
    let mut missing = Vec::new();
    for d in devices {
        match shared.store.load_session(&d.signal_address()).await? {
            Some(bytes) => sessions.push((d.clone(), SessionRecord::from_bytes(&bytes)?)),
            None => missing.push(d.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(sessions);
    }
    let identity = shared.signal_identity()?;
    for (jid, bundle) in fetch_bundles(shared, &missing).await? {
        let address = jid.signal_address();
        let stored = shared
            .store
            .load_identity(&address)
            .await?
            .map(PublicKey::from_raw);
        let mut record = SessionRecord::new();
        let mut status = record.process_bundle(
            &identity,
            device.registration_id,
            &bundle,
            stored.as_ref(),
            &mut rand::thread_rng(),
        );
        if let Err(SignalError::IdentityChanged { .. }) = status {
            // The peer reinstalled: trust the new identity, as whatsmeow does.
            tracing::warn!(%jid, "identity changed; trusting the new one");
            shared.emit(Event::IdentityChanged { jid: jid.clone() });
            status = record.process_bundle(
                &identity,
                device.registration_id,
                &bundle,
                None,
                &mut rand::thread_rng(),
            );
        }
        match status {
            Ok(_) => {
                shared
                    .store
                    .store_identity(&address, bundle.identity_key.as_bytes())
                    .await?;
                sessions.push((jid, record));
            }
            Err(e) => tracing::warn!(%jid, error = %e, "cannot start a session"),
        }
    }
    Ok(sessions)
}

/// Encrypts a padded plaintext per device (`plaintext_for` picks it) into `<to>` nodes and
/// stores the advanced sessions in one transaction. The flag says whether any is a pkmsg.
pub(crate) async fn encrypt_for(
    shared: &Shared,
    sessions: Vec<(Jid, SessionRecord)>,
    mediatype: Option<&'static str>,
    plaintext_for: impl Fn(&Jid) -> Vec<u8>,
) -> Result<(Vec<Node>, bool), ClientError> {
    let mut participants = Vec::new();
    let mut any_prekey = false;
    let mut updated = Vec::new();
    {
        let mut rng = rand::thread_rng();
        for (jid, mut record) in sessions {
            let padded = signal::pad(&plaintext_for(&jid), &mut rng);
            let ciphertext: CiphertextMessage = match record.encrypt(&padded) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%jid, error = %e, "encrypt failed");
                    continue;
                }
            };
            any_prekey |= ciphertext.enc_type() == "pkmsg";
            updated.push((jid.signal_address(), record.to_bytes()));
            participants.push(
                Node::new("to").attr("jid", jid).children([Node::new("enc")
                    .attr("v", "2")
                    .attr("type", ciphertext.enc_type())
                    .attr_opt("mediatype", mediatype)
                    .bytes(ciphertext.serialized().to_vec())]),
            );
        }
    }
    shared.store.store_sessions(&updated).await?;
    Ok((participants, any_prekey))
}

/// Sends a stanza and waits for the server's `<ack>`; an `error` attribute is a typed refusal.
pub(crate) async fn send_and_wait(shared: &Shared, stanza: Node) -> Result<Node, ClientError> {
    let (tx, rx) = oneshot::channel();
    shared
        .cmd
        .send(Command::Message(stanza, tx))
        .map_err(|_| ClientError::Stopped)?;
    let ack = tokio::time::timeout(Duration::from_secs(75), rx)
        .await
        .map_err(|_| ClientError::Timeout)?
        .map_err(|_| ClientError::Stopped)??;
    if let Ok(Some(code)) = ack.attrs().optional_u64("error") {
        return Err(ClientError::MessageRefused { code });
    }
    Ok(ack)
}

/// Sends a message to every device of `to` and to our other devices (part 2 §4.3), or to a
/// group (§4.9).
pub(crate) async fn send_message(
    shared: &Arc<Shared>,
    to: &Jid,
    id: Option<&str>,
    message: e2e::Message,
) -> Result<String, ClientError> {
    if let Some(id) = id {
        validate_message_id(id)?;
    }
    if to.is_group() {
        return send_group_message(shared, to, id, message).await;
    }
    if to.is_broadcast() {
        return Err(ClientError::InvalidArgument(
            "broadcast sends are not supported yet".into(),
        ));
    }
    let _lock = shared.send_lock.lock().await;
    let device = shared.device();
    let own = device.jid.clone().ok_or(ClientError::NotConnected)?;
    let to = to.to_non_ad();
    let id = id.map_or_else(
        || generate_message_id(&own.user, now_ms() / 1000),
        str::to_owned,
    );
    let devices = device_lists(shared, &[to.clone(), own.to_non_ad()]).await?;
    let is_self = |d: &Jid| d.user == own.user && d.device == own.device && d.server == own.server;
    let mut hashed = devices.clone();
    if !hashed.iter().any(is_self) {
        hashed.push(own.clone());
    }
    // Not sent in a 1:1 stanza: compared with the one the server's ack may name (whatsmeow
    // send.go sendDM).
    let phash = participant_hash(&hashed);
    let devices: Vec<Jid> = devices.into_iter().filter(|d| !is_self(d)).collect();
    if devices.is_empty() {
        return Err(ClientError::InvalidArgument(format!("{to} has no devices")));
    }
    let sessions = sessions_for(shared, &devices).await?;
    let plain = message.encode_to_vec();
    let dsm = dsm_bytes(&to, &message);
    let (participants, any_prekey) = encrypt_for(shared, sessions, media_type(&message), |jid| {
        if jid.user == own.user {
            dsm.clone()
        } else {
            plain.clone()
        }
    })
    .await?;
    if participants.is_empty() {
        return Err(ClientError::InvalidArgument(format!(
            "no device of {to} could be encrypted to"
        )));
    }
    shared
        .store
        .store_sent(&to.to_string(), &id, &plain, (now_ms() / 1000) as i64)
        .await?;
    crate::poll::remember_sent(shared, &to, &id, &message).await?;

    let mut children = vec![Node::new("participants").children(participants)];
    if any_prekey && let Some(account) = &device.account {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    if to.user != own.user
        && let Some((token, issued)) = shared.store.load_privacy_token(&to.to_string()).await?
        && token_valid(issued, (now_ms() / 1000) as i64)
    {
        children.push(Node::new("tctoken").bytes(token));
    }
    let stanza = Node::new("message")
        .attr("to", to.clone())
        .attr("id", id.clone())
        .attr("type", message_type(&message))
        .children(children);
    let ack = send_and_wait(shared, stanza).await?;
    check_ack_phash(shared, &ack, &phash, &[to, own.to_non_ad()]);
    Ok(id)
}

/// The server's `<ack>` names its own participant hash when our fan-out missed devices or
/// had extra ones (whatsmeow send.go `SendMessage` warns and drops its device cache): the
/// lists we used were stale, so they are fetched again for the next send. The message itself
/// went out; devices it missed get the next one.
fn check_ack_phash(shared: &Shared, ack: &Node, ours: &str, users: &[Jid]) {
    let Some(expected) = ack.attrs().optional_str("phash") else {
        return;
    };
    if expected == ours {
        return;
    }
    tracing::warn!(
        expected,
        ours,
        "the server's participant hash differs: some devices may not have received the message; their device lists will be fetched again"
    );
    for user in users {
        forget_devices(shared, user);
    }
}

/// Participants of a group (`w:g2` query, part 2 §3.6) and whether it is LID-addressed.
async fn group_participants(shared: &Shared, group: &Jid) -> Result<(Vec<Jid>, bool), ClientError> {
    let iq = Node::new("iq")
        .attr("xmlns", "w:g2")
        .attr("type", "get")
        .attr("to", group.clone())
        .children([Node::new("query").attr("request", "interactive")]);
    let answer = shared.iq(iq).await?;
    let info = answer
        .child("group")
        .ok_or_else(|| ClientError::unexpected("no <group>", &answer))?;
    let lid = info.attrs().optional_str("addressing_mode") == Some("lid");
    let participants = info
        .children_by_tag("participant")
        .filter_map(|p| p.attrs().jid("jid").ok())
        .map(|j| j.to_non_ad())
        .collect();
    Ok((participants, lid))
}

/// phash: "2:" + base64 (standard, unpadded) of the first 6 bytes of SHA-256 over the sorted
/// `user.agent:device@server` strings (part 2 §4.6, whatsmeow `participantListHashV2`).
pub(crate) fn participant_hash(devices: &[Jid]) -> String {
    let mut names: Vec<String> = devices
        .iter()
        .map(|d| format!("{}.{}:{}@{}", d.user, d.agent, d.device, d.server.as_str()))
        .collect();
    names.sort();
    let digest = Sha256::digest(names.concat().as_bytes());
    let encoded = whatsapp_proto::pairing::base64_encode(&digest[..6]);
    format!("2:{}", encoded.trim_end_matches('='))
}

/// Sends to a group: the sender key distribution to every device, then one skmsg (§4.9).
async fn send_group_message(
    shared: &Arc<Shared>,
    group: &Jid,
    id: Option<&str>,
    message: e2e::Message,
) -> Result<String, ClientError> {
    let _lock = shared.send_lock.lock().await;
    let device = shared.device();
    let own_pn = device.jid.clone().ok_or(ClientError::NotConnected)?;
    let (participants, lid_mode) = group_participants(shared, group).await?;
    let own = match (&device.lid, lid_mode) {
        (Some(lid), true) => lid.clone(),
        _ => own_pn.clone(),
    };
    let id = id.map_or_else(
        || generate_message_id(&own_pn.user, now_ms() / 1000),
        str::to_owned,
    );
    let all = device_lists(shared, &participants).await?;
    let is_self = |d: &Jid| d.user == own.user && d.device == own.device && d.server == own.server;
    let mut hashed = all.clone();
    if !hashed.iter().any(is_self) {
        hashed.push(own.clone());
    }
    let phash = participant_hash(&hashed);
    let devices: Vec<Jid> = all.into_iter().filter(|d| !is_self(d)).collect();
    let users = participants.clone();

    let group_text = group.to_string();
    let own_address = own.signal_address();
    let mut record = match shared
        .store
        .load_sender_key(&group_text, &own_address)
        .await?
    {
        Some(bytes) => SenderKeyRecord::from_bytes(&bytes)?,
        None => SenderKeyRecord::new(),
    };
    let distribution = record.create_distribution_message(&mut rand::thread_rng());
    let skdm = e2e::Message {
        sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
            group_id: Some(group_text.clone()),
            axolotl_sender_key_distribution_message: Some(distribution.serialized().to_vec()),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let sessions = sessions_for(shared, &devices).await?;
    // The carriers of the distribution message go without `mediatype` (whatsmeow send.go).
    let (to_nodes, any_prekey) = encrypt_for(shared, sessions, None, |_| skdm.clone()).await?;
    let plain = message.encode_to_vec();
    let skmsg = {
        let padded = signal::pad(&plain, &mut rand::thread_rng());
        record.encrypt(&padded, &mut rand::thread_rng())?
    };
    shared
        .store
        .store_sender_key(&group_text, &own_address, &record.to_bytes())
        .await?;
    shared
        .store
        .store_sent(&group_text, &id, &plain, (now_ms() / 1000) as i64)
        .await?;
    crate::poll::remember_sent(shared, group, &id, &message).await?;
    let mut children = Vec::new();
    if !to_nodes.is_empty() {
        children.push(Node::new("participants").children(to_nodes));
    }
    if any_prekey && let Some(account) = &device.account {
        children.push(Node::new("device-identity").bytes(account.clone()));
    }
    children.push(
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .attr_opt("mediatype", media_type(&message))
            .bytes(skmsg.serialized().to_vec()),
    );
    let mut stanza = Node::new("message")
        .attr("to", group.clone())
        .attr("id", id.clone())
        .attr("type", message_type(&message))
        .attr("phash", phash.clone());
    if lid_mode {
        stanza = stanza.attr("addressing_mode", "lid");
    }
    let ack = send_and_wait(shared, stanza.children(children)).await?;
    check_ack_phash(shared, &ack, &phash, &users);
    Ok(id)
}

/// Privacy tokens live in 7-day buckets and 4 buckets are kept (part 2 §4.7, whatsmeow
/// `tctoken.go`): a token is valid while its time is at or after the start of the bucket three
/// before the current one.
fn token_valid(issued: i64, now: i64) -> bool {
    const BUCKET: i64 = 604_800;
    let oldest = (now.div_euclid(BUCKET) - 3) * BUCKET;
    issued >= oldest
}

/// The stanza `type` (whatsmeow `getTypeFromMessage`, reduced): media kinds, reactions, text.
fn message_type(message: &e2e::Message) -> &'static str {
    if message.reaction_message.is_some() {
        "reaction"
    } else if message.image_message.is_some()
        || message.video_message.is_some()
        || message.audio_message.is_some()
        || message.document_message.is_some()
        || message.sticker_message.is_some()
        || message.contact_message.is_some()
        || message.location_message.is_some()
    {
        "media"
    } else {
        "text"
    }
}

/// The `mediatype` attribute of an `<enc>` node (whatsmeow send.go `getMediaTypeFromMessage`):
/// wrappers are looked through; plain text and reactions have none.
fn media_type(message: &e2e::Message) -> Option<&'static str> {
    let inner = message
        .view_once_message
        .as_ref()
        .or(message.view_once_message_v2.as_ref())
        .or(message.view_once_message_v2_extension.as_ref())
        .or(message.lottie_sticker_message.as_ref())
        .or(message.ephemeral_message.as_ref())
        .or(message.document_with_caption_message.as_ref())
        .and_then(|wrapper| wrapper.message.as_deref());
    if let Some(inner) = inner {
        return media_type(inner);
    }
    if message
        .extended_text_message
        .as_ref()
        .is_some_and(|text| text.title.is_some())
    {
        Some("url")
    } else if message.image_message.is_some() {
        Some("image")
    } else if message.sticker_message.is_some() {
        Some("sticker")
    } else if message.document_message.is_some() {
        Some("document")
    } else if let Some(audio) = &message.audio_message {
        Some(if audio.ptt == Some(true) {
            "ptt"
        } else {
            "audio"
        })
    } else if let Some(video) = &message.video_message {
        Some(if video.gif_playback == Some(true) {
            "gif"
        } else {
            "video"
        })
    } else if message.contact_message.is_some() {
        Some("vcard")
    } else if message.contacts_array_message.is_some() {
        Some("contact_array")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Malformed and hostile stanzas are answered or ignored, never a panic.
    #[tokio::test]
    async fn hostile_stanzas_do_not_panic() {
        let store = Arc::new(crate::store::MemoryStore::new());
        let (shared, _events, _driver) = crate::receive_tests::test_client(store).await;
        let peer = "201112223334@s.whatsapp.net";
        let garbage = vec![0xffu8; 40];
        let stanzas = vec![
            Node::new("message"),
            Node::new("message").attr("from", peer),
            Node::new("message")
                .attr("from", "not a jid @@")
                .attr("id", "1"),
            Node::new("message")
                .attr("from", peer)
                .attr("id", "2")
                .children([
                    Node::new("enc")
                        .attr("type", "pkmsg")
                        .bytes(garbage.clone()),
                    Node::new("enc").attr("type", "msg").bytes(garbage.clone()),
                    Node::new("enc")
                        .attr("type", "skmsg")
                        .bytes(garbage.clone()),
                    Node::new("enc")
                        .attr("type", "unknown")
                        .bytes(garbage.clone()),
                    Node::new("enc").attr("type", "msg"),
                ]),
            Node::new("message")
                .attr("from", "123@g.us")
                .attr("id", "3")
                .children([Node::new("enc")
                    .attr("type", "skmsg")
                    .bytes(garbage.clone())]),
            Node::new("message")
                .attr("from", "123@g.us")
                .attr("participant", peer)
                .attr("id", "4")
                .children([Node::new("enc")
                    .attr("type", "skmsg")
                    .bytes(garbage.clone())]),
            Node::new("receipt").attr("from", peer),
            Node::new("receipt")
                .attr("from", peer)
                .attr("id", "5")
                .attr("type", "retry")
                .children([Node::new("retry").attr("count", "x")]),
            Node::new("receipt")
                .attr("from", peer)
                .attr("id", "6")
                .attr("type", "retry")
                .children([
                    Node::new("retry").attr("count", "1"),
                    Node::new("keys").children([Node::new("identity").bytes(vec![1])]),
                ]),
            Node::new("notification")
                .attr("type", "encrypt")
                .children([Node::new("count").attr("value", "-1")]),
            Node::new("notification")
                .attr("type", "encrypt")
                .children([Node::new("count").attr("value", "1")]),
            Node::new("notification")
                .attr("type", "privacy_token")
                .attr("from", peer)
                .children([Node::new("tokens").children([Node::new("token")
                    .attr("type", "trusted_contact")
                    .attr("t", "zz")])]),
            Node::new("notification")
                .attr("type", "link_code_companion_reg")
                .children([Node::new("link_code_companion_reg").attr("stage", "primary_hello")]),
        ];
        let (tx, rx) = mpsc::unbounded_channel();
        for stanza in stanzas {
            tx.send(stanza).unwrap();
        }
        drop(tx);
        stanza_worker(shared, rx).await;
    }

    #[test]
    fn phash_matches_the_reference_form() {
        // Byte-wise order puts ":12@" before ":2@"; the result is "2:" + 8 characters.
        let devices: Vec<Jid> = [
            "15551234567:2@s.whatsapp.net",
            "15551234567:12@s.whatsapp.net",
        ]
        .iter()
        .map(|j| j.parse().unwrap())
        .collect();
        let hash = participant_hash(&devices);
        assert_eq!(hash.len(), 10);
        assert!(hash.starts_with("2:"));
        let mut reversed = devices.clone();
        reversed.reverse();
        assert_eq!(participant_hash(&reversed), hash);
        let expected = {
            let digest =
                Sha256::digest(b"15551234567.0:12@s.whatsapp.net15551234567.0:2@s.whatsapp.net");
            format!(
                "2:{}",
                whatsapp_proto::pairing::base64_encode(&digest[..6]).trim_end_matches('=')
            )
        };
        assert_eq!(hash, expected);
    }

    #[test]
    fn privacy_token_expiry() {
        let now = 1_700_000_000;
        assert!(token_valid(now, now));
        assert!(token_valid(now - 3 * 604_800, now));
        assert!(!token_valid(now - 5 * 604_800, now));
    }

    /// `mediatype` as whatsmeow's getMediaTypeFromMessage: wrappers looked through, ptt and gif
    /// told apart, none for text and reactions.
    #[test]
    fn media_type_of_each_kind() {
        let audio = |ptt| e2e::Message {
            audio_message: Some(Box::new(e2e::AudioMessage {
                ptt: Some(ptt),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&audio(true)), Some("ptt"));
        assert_eq!(media_type(&audio(false)), Some("audio"));
        let gif = e2e::Message {
            video_message: Some(Box::new(e2e::VideoMessage {
                gif_playback: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&gif), Some("gif"));
        let image = e2e::Message {
            image_message: Some(Default::default()),
            ..Default::default()
        };
        let view_once = e2e::Message {
            view_once_message_v2: Some(Box::new(e2e::FutureProofMessage {
                message: Some(Box::new(image.clone())),
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&view_once), Some("image"));
        let document = e2e::Message {
            document_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(media_type(&document), Some("document"));
        let link = e2e::Message {
            extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                title: Some("a page".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&link), Some("url"));
        let text = e2e::Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(media_type(&text), None);
        let reaction = e2e::Message {
            reaction_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(media_type(&reaction), None);
    }

    #[test]
    fn message_id_format() {
        let id = generate_message_id("15551234567", 1_700_000_000);
        assert_eq!(id.len(), 22);
        assert!(id.starts_with("3EB0"));
        assert!(
            id[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        assert_ne!(id, generate_message_id("15551234567", 1_700_000_000));
    }

    #[test]
    fn caller_ids_are_checked() {
        for good in [
            generate_message_id("15551234567", 1),
            "3EB0A1B2C3D4E5F60718".to_owned(),
            "3A1F2E3D4C5B6A798877".to_owned(),
            "A1B2C3D4E5F60718293A4B5C6D7E8F90".to_owned(),
        ] {
            assert!(validate_message_id(&good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "3EB0",
            "3eb0a1b2c3d4e5f60718",
            "3EB0 A1B2C3D4E5F60718",
            "3EB0-A1B2C3D4E5F60718",
            "3EB0A1B2C3D4E5F60718\n",
            "3EB0A1B2C3D4E5F60718É",
        ] {
            assert!(
                matches!(
                    validate_message_id(bad),
                    Err(ClientError::InvalidMessageId { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(validate_message_id(&"A".repeat(65)).is_err());
        assert!(validate_message_id(&"A".repeat(64)).is_ok());
    }

    #[test]
    fn bundle_parsing_checks_sizes() {
        let user = Node::new("user").children([
            Node::new("registration").bytes(vec![0, 0, 0, 7]),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(vec![9; 32]),
            Node::new("key").children([
                Node::new("id").bytes(vec![0, 0, 3]),
                Node::new("value").bytes(vec![8; 32]),
            ]),
            Node::new("skey").children([
                Node::new("id").bytes(vec![0, 0, 1]),
                Node::new("value").bytes(vec![7; 32]),
                Node::new("signature").bytes(vec![6; 64]),
            ]),
        ]);
        let bundle = parse_bundle(&user).unwrap();
        assert_eq!(bundle.registration_id, 7);
        assert_eq!(bundle.prekey.map(|p| p.0), Some(3));
        assert_eq!(bundle.signed_prekey_id, 1);
        let broken = Node::new("user").children([Node::new("registration").bytes(vec![1])]);
        assert!(parse_bundle(&broken).is_none());
    }
}
