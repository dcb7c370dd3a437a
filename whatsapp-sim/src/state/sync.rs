//! The server and phone side of app-state and history sync, wired into [`State`]: the phone's
//! bootstrap of a new companion (app-state key share, history-sync notifications), its answers
//! to key requests and on-demand history requests, the `w:sync:app:state` IQ, `server_sync`
//! notifications, and the control calls that seed content. Pure logic lives in
//! [`crate::appstate`] and [`crate::history`].

use prost::Message as _;
use rand::RngCore;
use rand::rngs::OsRng;
use tracing::{debug, info, warn};
use whatsapp_proto::appstate::Collection;
use whatsapp_proto::binary::Node;
use whatsapp_proto::media::{self, MediaType};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::history::HistorySync;
use whatsapp_proto::pb::syncd::{ExternalBlobReference, SyncdMutations, SyncdPatch};

use super::{
    DeviceKey, DeviceKind, SentRecord, State, iq_error, iq_result, now_ms, now_unix, random_id,
};
use crate::appstate::{
    EXTERNAL_MUTATIONS_BYTES, PATCH_PAGE, PatchFault, PhoneMutation, ServerCollection, UploadError,
    corrupt_patch, protocol_message,
};
use crate::history::{self, HistoryChat};
use crate::{SentEntry, SimError};

fn now_ms_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

fn collection_error(name: &str, code: u16, text: &str) -> Node {
    Node::new("collection")
        .attr("name", name.to_owned())
        .attr("type", "error")
        .children([Node::new("error")
            .attr("code", code)
            .attr("text", text.to_owned())])
}

impl State {
    /// Encrypts and stores `plaintext` as a media blob of `media_type`; the reference a
    /// client downloads it with.
    fn upload_blob(&mut self, media_type: MediaType, plaintext: &[u8]) -> ExternalBlobReference {
        let mut media_key = [0u8; 32];
        OsRng.fill_bytes(&mut media_key);
        let enc = media::encrypt(&media_key, media_type, plaintext);
        let stored = self.store_media(enc.blob);
        ExternalBlobReference {
            media_key: Some(media_key.to_vec()),
            direct_path: stored["direct_path"].as_str().map(str::to_owned),
            handle: stored["handle"].as_str().map(str::to_owned),
            file_size_bytes: Some(enc.file_length),
            file_sha256: Some(enc.file_sha256.to_vec()),
            file_enc_sha256: Some(enc.file_enc_sha256.to_vec()),
        }
    }

    /// The phone (device 0) sends `message` to its own companion `device` as a peer message
    /// (part 2 §4.8), starting a Signal session from the companion's prekeys if needed.
    pub(super) fn phone_send_peer(
        &mut self,
        pn: &str,
        device: u16,
        message: &e2e::Message,
    ) -> Option<String> {
        let target = (pn.to_owned(), device);
        let address = format!("{pn}.{device}");
        let bundle = if self.primary_has_session(pn, &address) {
            None
        } else {
            Some(self.take_bundle(&target)?)
        };
        let mut rng = OsRng;
        let account = self.accounts.get_mut(pn)?;
        let to = account.device_jid(device, false);
        let DeviceKind::Simulated(sim) = &mut account.devices.get_mut(&0)?.kind else {
            return None;
        };
        if let Some(b) = bundle
            && let Err(e) = sim.start_session(&address, &b, &mut rng)
        {
            warn!(pn, device, error = %e, "phone cannot start a session with its companion");
            return None;
        }
        let plaintext = message.encode_to_vec();
        let (enc_type, bytes) = sim.encrypt(&address, &plaintext, &mut rng).ok()?;
        let id = random_id();
        // Kept so that a retry receipt from the companion gets the message again.
        account.sent.push(SentRecord {
            entry: SentEntry {
                id: id.clone(),
                to: to.to_string(),
                kind: "protocol".into(),
                text: None,
                status: "sent".into(),
                server_ts: None,
                stanza_type: "text".into(),
            },
            plaintext,
            chat: to.clone(),
            media: None,
        });
        let stanza = Node::new("message")
            .attr("to", to)
            .attr("id", id.clone())
            .attr("type", "text")
            .attr("category", "peer")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", enc_type)
                .bytes(bytes)]);
        self.handle_message(&(pn.to_owned(), 0), &stanza);
        Some(id)
    }

    /// Uploads one history-sync blob and sends its notification to the companion.
    fn phone_send_history(
        &mut self,
        pn: &str,
        device: u16,
        sync: &HistorySync,
        session: Option<String>,
    ) {
        let blob = history::compress(sync);
        let reference = self.upload_blob(MediaType::History, &blob);
        let oldest = sync
            .conversations
            .iter()
            .flat_map(|c| &c.messages)
            .filter_map(|m| m.message.as_ref()?.message_timestamp)
            .min();
        let notification = e2e::HistorySyncNotification {
            file_sha256: reference.file_sha256,
            file_length: reference.file_size_bytes,
            media_key: reference.media_key,
            file_enc_sha256: reference.file_enc_sha256,
            direct_path: reference.direct_path,
            // The notification's enum shares the numbers of HistorySync's.
            sync_type: Some(sync.sync_type),
            chunk_order: sync.chunk_order,
            progress: sync.progress,
            oldest_msg_in_chunk_timestamp_sec: oldest.and_then(|t| i64::try_from(t).ok()),
            peer_data_request_session_id: session,
            ..Default::default()
        };
        let message = protocol_message(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::HistorySyncNotification as i32),
            history_sync_notification: Some(notification),
            ..Default::default()
        });
        if self.phone_send_peer(pn, device, &message).is_some() {
            debug!(pn, device, kind = sync.sync_type, "history sync sent");
        }
    }

    /// After a companion's prekey upload: the first time, its phone shares the app-state keys
    /// and sends the history (whatsmeow `message.go` handles both from own device 0).
    pub(super) fn phone_bootstrap(&mut self, key: &DeviceKey) {
        if !self.settings.phone_bootstrap || key.1 == 0 {
            return;
        }
        let Some(account) = self.accounts.get(&key.0) else {
            return;
        };
        let is_companion = matches!(
            account.devices.get(&key.1).map(|d| &d.kind),
            Some(DeviceKind::Companion(c)) if !c.prekeys.is_empty()
        );
        if account.customer || !is_companion {
            return;
        }
        let raw_id = account.raw_id;
        let mut key_indexes = account.key_indexes();
        key_indexes.insert(0, 0);
        let push_name = account.push_name.clone().unwrap_or(account.name.clone());
        let mut rng = OsRng;
        let sync = self.sync.accounts.entry(key.0.clone()).or_default();
        if !sync.bootstrapped.insert(key.1) {
            return;
        }
        // A real account always has its push name in critical_block.
        if !push_name.is_empty()
            && sync
                .collections
                .get(&Collection::CriticalBlock)
                .is_none_or(|c| c.version == 0)
        {
            let (c, m) = PhoneMutation::PushName { name: push_name }.to_outgoing(now_ms_i64());
            sync.phone_patch(c, &[m], now_ms_i64(), &mut rng);
        }
        sync.newest_key(now_ms_i64(), &mut rng);
        let share = sync.key_share(None, raw_id, &key_indexes);
        let chats = sync.history.clone();
        info!(
            pn = key.0,
            device = key.1,
            chats = chats.len(),
            "phone bootstraps its companion"
        );
        self.phone_send_peer(&key.0, key.1, &share);
        let pushnames: Vec<(String, String)> = chats
            .iter()
            .filter_map(|c| Some((c.jid.clone(), c.name.clone()?)))
            .collect();
        let pn_lid: Vec<(String, String)> = chats
            .iter()
            .filter_map(|c| {
                let user = c.jid.strip_suffix("@s.whatsapp.net")?;
                let a = self.accounts.get(user)?;
                Some((c.jid.clone(), a.lid_jid().to_string()))
            })
            .collect();
        // The trusted-contact tokens each chat's user issued to the account travel with its
        // conversation (`tcToken`, `tcTokenTimestamp`; whatsmeow `message.go` imports them).
        let tokens: Vec<(String, Vec<u8>, u64)> = chats
            .iter()
            .filter_map(|c| {
                let user = c.jid.strip_suffix("@s.whatsapp.net")?;
                let (token, t) = self.accounts.get(user)?.issued_tokens.get(&key.0)?;
                Some((c.jid.clone(), token.clone(), *t))
            })
            .collect();
        let mut chunks = history::bootstrap(&chats, pushnames, pn_lid, &tokens);
        // The account's NCT salt rides in the first chunk (whatsmeow `message.go` stores a
        // chunk's `nctSalt`; whatsapp-rust `wacore/src/history_sync.rs`: delivered during the
        // initial pairing so that the cstoken is available at once).
        if let (Some(first), Some(salt)) = (chunks.first_mut(), self.nct_salt(&key.0)) {
            first.nct_salt = Some(salt);
        }
        for s in chunks {
            self.phone_send_history(&key.0, key.1, &s, None);
        }
    }

    /// The phone got a protocol message from its own companion `sender`: it answers app-state
    /// key requests and on-demand history requests.
    pub(super) fn phone_peer_request(
        &mut self,
        phone: &DeviceKey,
        sender: &DeviceKey,
        stanza_id: &str,
        plaintext: &[u8],
    ) {
        if phone.1 != 0 || sender.0 != phone.0 || sender.1 == 0 {
            return;
        }
        let Some(p) = e2e::Message::decode(plaintext)
            .ok()
            .and_then(|m| m.protocol_message)
        else {
            return;
        };
        use e2e::protocol_message::Type;
        let pn = phone.0.clone();
        match p.r#type.and_then(|t| Type::try_from(t).ok()) {
            Some(Type::AppStateSyncKeyRequest) => {
                let ids: Vec<Vec<u8>> = p
                    .app_state_sync_key_request
                    .map(|r| r.key_ids.into_iter().filter_map(|k| k.key_id).collect())
                    .unwrap_or_default();
                let Some(account) = self.accounts.get(&pn) else {
                    return;
                };
                let raw_id = account.raw_id;
                let mut key_indexes = account.key_indexes();
                key_indexes.insert(0, 0);
                let Some(sync) = self.sync.accounts.get(&pn) else {
                    return;
                };
                let share = sync.key_share(Some(&ids), raw_id, &key_indexes);
                let found = share
                    .protocol_message
                    .as_ref()
                    .and_then(|p| p.app_state_sync_key_share.as_ref())
                    .map_or(0, |s| s.keys.len());
                info!(
                    pn,
                    device = sender.1,
                    asked = ids.len(),
                    found,
                    "phone answers a key request"
                );
                if found > 0 {
                    self.phone_send_peer(&pn, sender.1, &share);
                }
            }
            Some(Type::PeerDataOperationRequestMessage) => {
                let Some(request) = p.peer_data_operation_request_message else {
                    return;
                };
                let on_demand = e2e::PeerDataOperationRequestType::HistorySyncOnDemand as i32;
                let placeholder =
                    e2e::PeerDataOperationRequestType::PlaceholderMessageResend as i32;
                if request.peer_data_operation_request_type == Some(placeholder) {
                    self.phone_placeholder_resend(&pn, sender.1, stanza_id, &request);
                    return;
                }
                if request.peer_data_operation_request_type != Some(on_demand) {
                    debug!(pn, "peer data operation not simulated");
                    return;
                }
                let Some(r) = request.history_sync_on_demand_request else {
                    return;
                };
                let chats = self
                    .sync
                    .accounts
                    .get(&pn)
                    .map(|s| s.history.as_slice())
                    .unwrap_or_default();
                let count = usize::try_from(r.on_demand_msg_count.unwrap_or(50))
                    .unwrap_or(0)
                    .clamp(1, 500);
                let sync = history::on_demand(
                    chats,
                    r.chat_jid.as_deref().unwrap_or_default(),
                    r.oldest_msg_id.as_deref(),
                    r.oldest_msg_timestamp_ms,
                    count,
                );
                self.phone_send_history(&pn, sender.1, &sync, Some(stanza_id.to_owned()));
            }
            _ => {}
        }
    }

    /// `<notification type="server_sync">` to the account's companions except `except`.
    fn notify_server_sync(&mut self, pn: &str, except: Option<u16>, changed: &[(String, u64)]) {
        if changed.is_empty() {
            return;
        }
        for device in self.companions_of(pn) {
            if Some(device) == except {
                continue;
            }
            let id = self.next_stanza_id();
            let node = Node::new("notification")
                .attr("from", super::server())
                .attr("id", id.clone())
                .attr("t", now_unix())
                .attr("type", "server_sync")
                .children(changed.iter().map(|(name, version)| {
                    Node::new("collection")
                        .attr("name", name.clone())
                        .attr("version", *version)
                }));
            self.queue_notification((pn.to_owned(), device), id, node);
        }
    }

    /// A stored patch as served: external mutations when large, and a pending fault applied.
    fn serve_patch(&mut self, pn: &str, name: &str, mut patch: SyncdPatch) -> Node {
        if let Some(fault) = self.sync.faults.pop_front() {
            let sync = self.sync.accounts.get(pn);
            let keys = patch
                .key_id
                .as_ref()
                .and_then(|k| k.id.as_deref())
                .and_then(|id| sync?.keys_for(id));
            let hash = Collection::from_name(name)
                .and_then(|c| sync?.collections.get(&c))
                .map(|c| c.hash)
                .unwrap_or_default();
            match keys {
                Some(keys) => {
                    info!(pn, name, ?fault, "fault: serving a corrupted patch");
                    corrupt_patch(&mut patch, name, fault, &hash, &keys);
                }
                None => self.sync.faults.push_front(fault),
            }
        }
        let mutations = SyncdMutations {
            mutations: std::mem::take(&mut patch.mutations),
        };
        if mutations.encoded_len() > EXTERNAL_MUTATIONS_BYTES {
            patch.external_mutations =
                Some(self.upload_blob(MediaType::AppState, &mutations.encode_to_vec()));
        } else {
            patch.mutations = mutations.mutations;
        }
        Node::new("patch").bytes(patch.encode_to_vec())
    }

    /// One `<collection>` of a `w:sync:app:state` IQ from companion `key`.
    fn app_state_collection(
        &mut self,
        key: &DeviceKey,
        c: &Node,
        changed: &mut Vec<(String, u64)>,
    ) -> Node {
        let attrs = c.attrs();
        let name = attrs.optional_string("name").unwrap_or_default();
        let Some(collection) = Collection::from_name(&name) else {
            return collection_error(&name, 400, "bad-request");
        };
        let version = attrs.optional_u64("version").ok().flatten().unwrap_or(0);
        let want_snapshot = attrs.optional_str("return_snapshot") == Some("true");
        let pn = key.0.clone();
        let store = self
            .sync
            .accounts
            .entry(pn.clone())
            .or_default()
            .collections
            .entry(collection)
            .or_default();
        let current = store.version;
        if let Some(patch_node) = c.child("patch") {
            let upload = patch_node
                .content_bytes()
                .and_then(|b| SyncdPatch::decode(b).ok())
                .ok_or(UploadError::Malformed("patch does not decode"))
                .and_then(|p| ServerCollection::check_upload(&p).map(|()| p))
                .and_then(|p| {
                    // Built on the current version; a version the client put in the patch
                    // itself (whatsmeow leaves it unset) must be the next one.
                    let own = p.version.as_ref().and_then(|v| v.version);
                    if version == current && own.is_none_or(|v| v == current + 1) {
                        Ok(p)
                    } else {
                        Err(UploadError::Conflict)
                    }
                });
            return match upload {
                Ok(patch) => {
                    let new = store.append(patch);
                    info!(
                        pn,
                        device = key.1,
                        name,
                        version = new,
                        "companion patch stored"
                    );
                    changed.push((name.clone(), new));
                    Node::new("collection")
                        .attr("name", name)
                        .attr("version", new)
                }
                Err(UploadError::Malformed(why)) => {
                    info!(pn, device = key.1, name, why, "companion patch refused");
                    collection_error(&name, 400, "bad-request")
                }
                Err(UploadError::Conflict) => {
                    // whatsmeow `appstate.go` sendAppState applies these and retries once.
                    let (missed, more) = store.patches_after(version, PATCH_PAGE);
                    let missed = missed.to_vec();
                    info!(pn, name, version, current, "companion patch conflicts");
                    let mut patches = Vec::new();
                    for p in missed {
                        patches.push(self.serve_patch(&pn, &name, p));
                    }
                    Node::new("collection")
                        .attr("name", name)
                        .attr("type", "error")
                        .attr("version", current)
                        .attr_opt("has_more_patches", more.then_some("true"))
                        .children([
                            Node::new("error")
                                .attr("code", 409u16)
                                .attr("text", "conflict"),
                            Node::new("patches").children(patches),
                        ])
                }
            };
        }
        if want_snapshot {
            let mut out = Node::new("collection")
                .attr("name", name.clone())
                .attr("version", current);
            if current > 0 {
                let sync = self.sync.accounts.entry(pn.clone()).or_default();
                let key = sync.newest_key(now_ms_i64(), &mut OsRng);
                let snapshot = sync
                    .collections
                    .entry(collection)
                    .or_default()
                    .snapshot(&name, &key);
                let reference = self.upload_blob(MediaType::AppState, &snapshot.encode_to_vec());
                out = out.children([Node::new("snapshot").bytes(reference.encode_to_vec())]);
            }
            return out;
        }
        let (patches, more) = store.patches_after(version, PATCH_PAGE);
        let patches = patches.to_vec();
        let served_to = version.saturating_add(patches.len() as u64).min(current);
        let mut nodes = Vec::new();
        for p in patches {
            nodes.push(self.serve_patch(&pn, &name, p));
        }
        Node::new("collection")
            .attr("name", name)
            .attr("version", served_to)
            .attr_opt("has_more_patches", more.then_some("true"))
            .children([Node::new("patches").children(nodes)])
    }

    /// `<iq xmlns="w:sync:app:state" type="set"><sync><collection …/>…` (part 2 §8.2): each
    /// collection answered in order; stored patches are announced to the other companions.
    pub(super) fn app_state_iq(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
        let Some(sync) = node.child("sync") else {
            return iq_error(id, 400, "bad-request");
        };
        let mut changed = Vec::new();
        let answers: Vec<Node> = sync
            .children_by_tag("collection")
            .map(|c| self.app_state_collection(key, c, &mut changed))
            .collect();
        self.notify_server_sync(&key.0, Some(key.1), &changed);
        iq_result(id).children([Node::new("sync").children(answers)])
    }

    /// The phone's user changes app state: one patch per collection touched, announced to
    /// every companion. Returns the new version of each collection.
    pub fn phone_mutations(
        &mut self,
        pn: &str,
        mutations: &[PhoneMutation],
    ) -> Result<Vec<(String, u64)>, SimError> {
        if !self.accounts.contains_key(pn) {
            return Err(SimError::UnknownAccount(pn.to_owned()));
        }
        if mutations.is_empty() {
            return Err(SimError::BadRequest("no mutations".into()));
        }
        let now = now_ms_i64();
        let mut by_collection: Vec<(Collection, Vec<_>)> = Vec::new();
        for m in mutations {
            let (c, out) = m.to_outgoing(now);
            match by_collection.iter_mut().find(|(k, _)| *k == c) {
                Some((_, list)) => list.push(out),
                None => by_collection.push((c, vec![out])),
            }
        }
        let sync = self.sync.accounts.entry(pn.to_owned()).or_default();
        let mut changed = Vec::new();
        for (c, list) in by_collection {
            let version = sync.phone_patch(c, &list, now, &mut OsRng);
            changed.push((c.name().to_owned(), version));
        }
        self.notify_server_sync(pn, None, &changed);
        self.drain();
        Ok(changed)
    }

    /// The phone remembers these chats (merged by JID) for history sync of companions linked
    /// from now on and for on-demand requests.
    pub fn seed_history(&mut self, pn: &str, chats: Vec<HistoryChat>) -> Result<usize, SimError> {
        if !self.accounts.contains_key(pn) {
            return Err(SimError::UnknownAccount(pn.to_owned()));
        }
        let sync = self.sync.accounts.entry(pn.to_owned()).or_default();
        for chat in chats {
            let chat = chat.normalized();
            match sync.history.iter_mut().find(|c| c.jid == chat.jid) {
                Some(old) => *old = chat,
                None => sync.history.push(chat),
            }
        }
        Ok(sync.history.iter().map(|c| c.messages.len()).sum())
    }

    /// The phone rotates to a new app-state key and shares it with its bootstrapped companions.
    pub fn rotate_app_state_key(&mut self, pn: &str) -> Result<String, SimError> {
        let account = self
            .accounts
            .get(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        let raw_id = account.raw_id;
        let mut key_indexes = account.key_indexes();
        key_indexes.insert(0, 0);
        let sync = self.sync.accounts.entry(pn.to_owned()).or_default();
        let key = sync.new_key(now_ms_i64(), &mut OsRng);
        let ids = [key.id.clone()];
        let share = sync.key_share(Some(&ids), raw_id, &key_indexes);
        let mut devices: Vec<u16> = sync.bootstrapped.iter().copied().collect();
        devices.sort_unstable();
        for d in devices {
            self.phone_send_peer(pn, d, &share);
        }
        self.drain();
        Ok(hex::encode(key.id))
    }

    /// Queues a patch fault for the next patch served.
    pub(super) fn sync_fault(&mut self, fault: PatchFault) {
        self.sync.faults.push_back(fault);
    }
}
