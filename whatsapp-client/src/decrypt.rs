//! A group of stanzas through the receive core ([`whatsapp_proto::receive::Receiver`]):
//! its loads answered from the store under the session lock, its changes committed.
//!
//! Architecture Invariant: a decrypted message is committed to the store (advanced session
//! record + plaintext keyed by ciphertext hash, one transaction) before the application sees
//! it; see [`Pending::finish`].

use std::sync::Arc;
use std::time::Duration;

use whatsapp_proto::binary::Node;
use whatsapp_proto::content::MessageContent;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::receive::{Changes, Input, LocalDevice, Output, Receiver, RecordKey};

use crate::context::{Command, SessionGuard, Shared};
use crate::event::Event;
use crate::learned::first_time;
use crate::retry::retry_keys;
use crate::store::{DecryptBatch, MessageSecret, StoreError};

/// A group of messages: the core holding what they changed, and what may go out only once
/// the group is committed.
pub(crate) struct Pending<'a> {
    /// The session lock, held from the group's first load to its commit.
    guard: SessionGuard<'a>,
    pub(crate) core: &'a mut Receiver,
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
    /// A retry receipt: the rest of its message (the ack, the event) goes out only once the
    /// driver took it; unacknowledged, the message comes again and gets another chance.
    Retry(Node),
    /// The end of one message's part.
    End,
}

/// Our device as the receive core needs it.
pub(crate) fn local_device(shared: &Shared) -> Result<LocalDevice, StoreError> {
    let device = shared.device();
    Ok(LocalDevice {
        identity: shared.signal_identity()?,
        signed_prekey: device.signed_prekey_record()?,
        registration_id: device.registration_id,
        jid: device.jid.clone(),
        lid: device.lid.clone(),
    })
}

impl<'a> Pending<'a> {
    /// An empty group, holding the session lock.
    pub(crate) fn new(guard: SessionGuard<'a>, core: &'a mut Receiver) -> Self {
        Pending {
            guard,
            core,
            after: Vec::new(),
            message_secrets: Vec::new(),
            store_failed: false,
        }
    }

    /// Answers a load of the core from the store.
    pub(crate) async fn load(&self, shared: &Shared, key: RecordKey) -> Input {
        let sessions = self.guard.store();
        let loaded = match &key {
            RecordKey::Session(address) => sessions.load_session(address).await,
            RecordKey::Identity(address) => sessions
                .load_identity(address)
                .await
                .map(|key| key.map(|k| k.to_vec())),
            RecordKey::PreKey(id) => shared.store.load_prekey(*id).await,
            RecordKey::SenderKey { group, sender } => sessions.load_sender_key(group, sender).await,
            RecordKey::Plaintext(hash) => sessions.load_decrypted(hash).await,
            RecordKey::LidForPn(pn) => shared
                .store
                .lid_for_pn(pn)
                .await
                .map(|lid| lid.map(String::into_bytes)),
            RecordKey::PnForLid(lid) => shared
                .store
                .pn_for_lid(lid)
                .await
                .map(|pn| pn.map(String::into_bytes)),
            RecordKey::LidMigration { pn, lid } => {
                crate::lid::migrate_user(shared, sessions, pn, lid)
                    .await
                    .map(|()| None)
            }
            RecordKey::RetryKeys => {
                return match retry_keys(shared).await {
                    Ok(keys) => Input::RetryKeys(keys),
                    Err(error) => {
                        tracing::warn!(%error, "the keys of a retry receipt could not be made");
                        Input::LoadFailed(key)
                    }
                };
            }
            _ => return Input::LoadFailed(key),
        };
        match loaded {
            Ok(value) => Input::Loaded(key, value),
            Err(error) => {
                tracing::warn!(%error, ?key, "store failed while receiving");
                Input::LoadFailed(key)
            }
        }
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.after.push(After::Emit(event));
    }

    pub(crate) fn send(&mut self, node: Node) {
        let retry = node.tag == "receipt" && node.attrs().optional_str("type") == Some("retry");
        self.after.push(if retry {
            After::Retry(node)
        } else {
            After::Send(node)
        });
    }

    /// Marks the end of one message's events and stanzas.
    pub(crate) fn end_message(&mut self) {
        self.after.push(After::End);
    }

    /// Commits the group, then lets its events and stanzas out. If the commit fails nothing
    /// goes out: no message is acknowledged, so the server delivers them all again.
    pub(crate) async fn finish(mut self, shared: &Arc<Shared>) {
        let mut changes = Changes::default();
        if self.core.finish().is_ok() {
            while let Some(output) = self.core.poll_output() {
                if let Output::Commit(commit) = output {
                    changes = commit;
                }
            }
        }
        for pair in &changes.lid_mappings {
            if first_time(shared, format!("lid {}", pair.0), &pair.1)
                && let Err(e) = shared
                    .store
                    .store_lid_mappings(std::slice::from_ref(pair))
                    .await
            {
                tracing::warn!(error = %e, "storing a LID mapping failed");
            }
        }
        let batch = DecryptBatch {
            commits: changes.decrypts,
            sender_keys: changes.sender_keys,
            message_secrets: std::mem::take(&mut self.message_secrets),
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
        let mut skipping = false;
        for after in self.after {
            match after {
                After::End => skipping = false,
                _ if skipping => {}
                After::Emit(event) => shared.emit(event).await,
                After::Send(node) => shared.send_later(node).await,
                After::Retry(node) => {
                    if let Err(error) = shared.send(node).await {
                        tracing::warn!(%error, "a retry receipt could not be queued; no ack");
                        skipping = true;
                    }
                }
            }
        }
    }
}

/// After a store failure: waits (in the background, one waiter at a time) until the store
/// answers a read again, then reconnects, so that the server delivers again what was left
/// unacknowledged.
pub(crate) fn watch_store(shared: &Arc<Shared>) {
    if shared
        .store_watch
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let owned = shared.clone();
    shared.spawn(async move {
        let shared = owned;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if shared
                .sessions
                .buffer()
                .load_decrypted(&[0; 32])
                .await
                .is_ok()
            {
                break;
            }
        }
        shared
            .store_watch
            .store(false, std::sync::atomic::Ordering::Release);
        tracing::info!("store answers again; reconnecting for redelivery");
        let _ = shared.command(Command::Reconnect).await;
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
        let (message, content, raw) = whatsapp_proto::receive::open(raw, plaintext)?;
        Some(Visible {
            message,
            content,
            raw,
        })
    }
}
