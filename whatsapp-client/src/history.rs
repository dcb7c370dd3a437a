//! History sync (part 2 §9): our phone sends the conversations that happened before this
//! device was linked as encrypted, zlib-compressed `HistorySync` blobs announced by
//! `HistorySyncNotification` peer messages.
//!
//! Each notification (only from our own phone) is handled in order: the blob is downloaded as
//! `md-msg-hist` media (hashes and MAC verified) or taken inline, inflated (with a size cap),
//! parsed, its push names and PN↔LID pairs stored, and its content emitted as one
//! [`Event::HistorySync`], and its blob deleted from the media server; then the `hist_sync`
//! receipt goes to our phone. whatsmeow sends that receipt as soon as the notification
//! arrives; we send it once the batch is out (and never for a notification kept to be tried
//! again), so a phone that counts receipts counts imported chunks.

use std::sync::Arc;

use prost::Message as _;

use whatsapp_proto::appstate::history::{DEFAULT_MAX_INFLATED, inflate_history_sync};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::media::MediaType;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::history::{self as pb, HistorySync};

pub use crate::event::{HistoryBatch, HistoryConversation, HistoryMessage};
pub use whatsapp_proto::pb::history::history_sync::HistorySyncType;

use crate::context::Shared;
use crate::event::{Event, MessageInfo};
use crate::privacy_token::{HistoryToken, import_history};
use crate::{ClientError, MediaRef};

/// Sends our phone the on-demand history request; see [`crate::Client::request_history`].
pub(crate) async fn request_history(
    shared: &Arc<Shared>,
    oldest_known: &MessageInfo,
    count: u32,
) -> Result<String, ClientError> {
    let message = history_request_message(oldest_known, count);
    crate::peer::send_peer_message(shared, message).await
}

/// `protocolMessage{type=PEER_DATA_OPERATION_REQUEST_MESSAGE(16),
/// peerDataOperationRequestMessage{HISTORY_SYNC_ON_DEMAND, historySyncOnDemandRequest}}`.
pub(crate) fn history_request_message(oldest: &MessageInfo, count: u32) -> e2e::Message {
    use e2e::peer_data_operation_request_message::HistorySyncOnDemandRequest;
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::PeerDataOperationRequestMessage as i32),
            peer_data_operation_request_message: Some(e2e::PeerDataOperationRequestMessage {
                peer_data_operation_request_type: Some(
                    e2e::PeerDataOperationRequestType::HistorySyncOnDemand as i32,
                ),
                history_sync_on_demand_request: Some(HistorySyncOnDemandRequest {
                    chat_jid: Some(oldest.chat.to_string()),
                    oldest_msg_id: Some(oldest.id.clone()),
                    oldest_msg_from_me: Some(oldest.from_me),
                    on_demand_msg_count: Some(i32::try_from(count).unwrap_or(i32::MAX)),
                    // Named milliseconds, carries seconds (whatsmeow send.go comment).
                    oldest_msg_timestamp_ms: Some(i64::try_from(oldest.timestamp).unwrap_or(0)),
                    account_lid: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Keeps a `HistorySyncNotification` of our phone (message `id`) in the store, then imports
/// it in the background. Kept before the message's receipt goes out, it survives a crash
/// during the download and is imported again at the next login ([`resume_pending`]).
pub(crate) async fn on_notification(
    shared: &Arc<Shared>,
    id: String,
    notification: e2e::HistorySyncNotification,
) {
    if let Err(e) = shared
        .store
        .store_pending_history(&id, &notification.encode_to_vec())
        .await
    {
        tracing::warn!(error = %e, %id, "keeping a history notification failed");
    }
    spawn_import(shared, id, notification);
}

/// Imports the notifications a previous run did not finish (after login).
pub(crate) async fn resume_pending(shared: &Arc<Shared>) {
    let pending = match shared.store.pending_history().await {
        Ok(pending) => pending,
        Err(e) => {
            tracing::warn!(error = %e, "loading pending history notifications failed");
            return;
        }
    };
    for (id, bytes) in pending {
        match e2e::HistorySyncNotification::decode(bytes.as_slice()) {
            Ok(notification) => spawn_import(shared, id, notification),
            Err(_) => forget(shared, &id).await,
        }
    }
}

async fn forget(shared: &Shared, id: &str) {
    if let Err(e) = shared.store.delete_pending_history(id).await {
        tracing::warn!(error = %e, %id, "forgetting a history notification failed");
    }
}

/// Whether a failed import may succeed later (the network or our storage) rather than never
/// (a blob that fails its MAC, hashes, inflation or parsing).
fn worth_retrying(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Transfer(e) if e.is_retryable()
    ) || matches!(
        error,
        ClientError::Timeout
            | ClientError::Disconnected
            | ClientError::NotConnected
            | ClientError::Stopped
            | ClientError::Store(_)
    )
}

/// Downloads, stores and emits one chunk, one notification at a time, then sends the
/// `hist_sync` receipt; the notification is forgotten unless a retry could succeed.
fn spawn_import(shared: &Arc<Shared>, id: String, notification: e2e::HistorySyncNotification) {
    {
        let mut in_flight = shared
            .sync
            .history_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !in_flight.insert(id.clone()) {
            return;
        }
    }
    let owned = shared.clone();
    shared.spawn(async move {
        let shared = owned;
        let _one_at_a_time = shared.sync.history.lock().await;
        let done = match download(&shared, &notification).await {
            Ok(sync) => {
                let batch = ingest(&shared, sync).await;
                tracing::info!(
                    conversations = batch.conversations.len(),
                    chunk = ?batch.chunk_order,
                    "history sync chunk"
                );
                shared.emit(Event::HistorySync(Box::new(batch))).await;
                delete_blob(&shared, &notification).await;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, %id, "history sync download failed");
                !worth_retrying(&e)
            }
        };
        if done {
            forget(&shared, &id).await;
        }
        shared
            .sync
            .history_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        // Kept for a retry: no receipt yet, the phone hears of it once it is done.
        if done && let Some(own) = shared.device().jid.clone() {
            let receipt = Node::new("receipt")
                .attr("id", id)
                .attr("type", "hist_sync")
                .attr("to", own.to_non_ad());
            if let Err(e) = shared.send(receipt).await {
                tracing::warn!(error = %e, "sending the hist_sync receipt failed");
            }
        }
    });
}

/// Deletes an imported chunk's blob from the media server, as whatsmeow does after
/// dispatching it (message.go `handleHistorySyncNotificationLoop`); a failure only costs the
/// server's storage.
async fn delete_blob(shared: &Shared, n: &e2e::HistorySyncNotification) {
    let (Some(path), Some(hash)) = (&n.direct_path, &n.file_enc_sha256) else {
        return;
    };
    if n.initial_hist_bootstrap_inline_payload.is_some() {
        return;
    }
    let handle = n.enc_handle.as_deref();
    if let Err(e) = crate::media::delete(shared, MediaType::History, path, hash, handle).await {
        tracing::warn!(error = %e, "deleting the history blob from the media server failed");
    }
}

/// The inflated, parsed `HistorySync` of a notification (whatsmeow `DownloadHistorySync`).
async fn download(
    shared: &Shared,
    n: &e2e::HistorySyncNotification,
) -> Result<HistorySync, ClientError> {
    let compressed = match &n.initial_hist_bootstrap_inline_payload {
        Some(inline) => inline.clone(),
        None => {
            let media = MediaRef {
                media_type: MediaType::History,
                direct_path: n.direct_path.clone(),
                url: None,
                media_key: n.media_key.clone().unwrap_or_default(),
                file_sha256: n.file_sha256.clone().unwrap_or_default(),
                file_enc_sha256: n.file_enc_sha256.clone().unwrap_or_default(),
                mimetype: None,
                file_length: n.file_length,
                origin: None,
            };
            crate::media::download(shared, &media).await?
        }
    };
    inflate_history_sync(&compressed, DEFAULT_MAX_INFLATED).map_err(ClientError::History)
}

/// Stores the side data of a chunk (push names, PN↔LID pairs, privacy tokens and the NCT
/// salt) and types its content.
pub(crate) async fn ingest(shared: &Shared, sync: HistorySync) -> HistoryBatch {
    let pairs: Vec<(String, String)> = sync
        .phone_number_to_lid_mappings
        .iter()
        .filter_map(|m| {
            let pn: Jid = m.pn_jid.as_deref()?.parse().ok()?;
            let lid: Jid = m.lid_jid.as_deref()?.parse().ok()?;
            Some((lid.user, pn.user))
        })
        .collect();
    if !pairs.is_empty()
        && let Err(e) = shared.store.store_lid_mappings(&pairs).await
    {
        tracing::warn!(error = %e, "storing history LID mappings failed");
    }
    // After the LID mappings: tokens go under the chat's LID when the chunk maps it.
    let tokens: Vec<HistoryToken> = sync
        .conversations
        .iter()
        .filter_map(|c| {
            Some(HistoryToken {
                chat: c.id.parse().ok()?,
                token: c.tc_token.clone(),
                timestamp: i64::try_from(c.tc_token_timestamp.unwrap_or(0)).ok()?,
                sender_timestamp: c
                    .tc_token_sender_timestamp
                    .and_then(|t| i64::try_from(t).ok()),
            })
        })
        .filter(|t| t.token.is_some() || t.sender_timestamp.is_some())
        .collect();
    if let Err(e) = import_history(shared, sync.nct_salt.as_deref(), &tokens).await {
        tracing::warn!(error = %e, "storing history privacy tokens failed");
    }
    let push_names: Vec<(Jid, String)> = sync
        .pushnames
        .iter()
        .filter_map(|p| {
            let jid: Jid = p.id.as_deref()?.parse().ok()?;
            let name = p.pushname.clone().filter(|n| !n.is_empty() && n != "-")?;
            Some((jid.to_non_ad(), name))
        })
        .collect();
    for (jid, name) in &push_names {
        if let Err(e) = shared.store.store_push_name(&jid.to_string(), name).await {
            tracing::warn!(error = %e, "storing a history push name failed");
        }
    }
    let device = shared.device();
    let own = (
        device.jid.as_ref().map(Jid::to_non_ad),
        device.lid.as_ref().map(Jid::to_non_ad),
    );
    HistoryBatch {
        sync_type: HistorySyncType::try_from(sync.sync_type).ok(),
        chunk_order: sync.chunk_order,
        progress: sync.progress,
        conversations: sync
            .conversations
            .into_iter()
            .filter_map(|c| conversation(c, &own))
            .collect(),
        push_names,
    }
}

fn conversation(
    c: pb::Conversation,
    own: &(Option<Jid>, Option<Jid>),
) -> Option<HistoryConversation> {
    let chat: Jid = match c.id.parse() {
        Ok(chat) => chat,
        Err(_) => {
            tracing::debug!(id = %c.id, "history conversation with an unusable JID skipped");
            return None;
        }
    };
    let alternate: Option<Jid> = if chat.is_lid() { &c.pn_jid } else { &c.lid_jid }
        .as_deref()
        .and_then(|j| j.parse().ok());
    let messages = c
        .messages
        .into_iter()
        .filter_map(|m| m.message)
        .filter_map(|m| web_message(&chat, alternate.as_ref(), m, own))
        .collect();
    Some(HistoryConversation {
        name: c.name,
        display_name: c.display_name,
        unread_count: c.unread_count.unwrap_or(0),
        marked_as_unread: c.marked_as_unread == Some(true),
        archived: c.archived == Some(true),
        pinned: c.pinned.unwrap_or(0) > 0,
        mute_end_ms: c.mute_end_time.filter(|t| *t > 0),
        last_message_timestamp: c.last_msg_timestamp.or(c.conversation_timestamp),
        alternate,
        messages,
        chat,
    })
}

/// A `WebMessageInfo` as a [`HistoryMessage`] (whatsmeow `ParseWebMessage`): our own
/// messages are sent by us (by LID in a LID chat), group messages by their participant, 1:1
/// messages by the chat (with the chat's other address, when known, as `sender_alt`).
pub(crate) fn web_message(
    chat: &Jid,
    alternate: Option<&Jid>,
    web: pb::WebMessageInfo,
    own: &(Option<Jid>, Option<Jid>),
) -> Option<HistoryMessage> {
    let key = web.key;
    let id = key.id.clone().filter(|id| !id.is_empty())?;
    let from_me = key.from_me == Some(true);
    let participant = || {
        web.participant
            .as_deref()
            .or(key.participant.as_deref())
            .and_then(|p| p.parse::<Jid>().ok())
    };
    let sender = if from_me {
        let (pn, lid) = own;
        match (chat.server == Server::Lid, lid, pn) {
            (true, Some(lid), _) => lid.clone(),
            (_, _, Some(pn)) => pn.clone(),
            (_, Some(lid), None) => lid.clone(),
            (_, None, None) => chat.clone(),
        }
    } else if chat.is_group() || chat.is_broadcast() {
        participant()?
    } else {
        chat.clone()
    };
    Some(HistoryMessage {
        info: MessageInfo {
            id,
            chat: chat.clone(),
            sender,
            sender_alt: (!from_me && !chat.is_group() && !chat.is_broadcast())
                .then(|| alternate.cloned())
                .flatten(),
            from_me,
            push_name: web.push_name.filter(|n| !n.is_empty() && n != "-"),
            timestamp: web.message_timestamp.unwrap_or(0),
            offline: false,
        },
        message: web.message,
        status: web.status,
        stub_type: web.message_stub_type,
        stub_parameters: web.message_stub_parameters,
        starred: web.starred == Some(true),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use prost::Message as _;
    use whatsapp_proto::pb::e2e::MessageKey;
    use whatsapp_proto::pb::history::{
        Conversation, HistorySyncMsg, PhoneNumberToLidMapping, Pushname, WebMessageInfo,
    };

    use super::*;
    use crate::appstate::tests::{Harness, from_phone as own_phone};
    use crate::store::{AppStateStore, ContactStore, LidStore};

    const GROUP: &str = "120363000000000001@g.us";
    const ALICE: &str = "15552223333@s.whatsapp.net";

    fn web(
        chat: &str,
        id: &str,
        from_me: bool,
        participant: Option<&str>,
        text: &str,
        t: u64,
    ) -> HistorySyncMsg {
        HistorySyncMsg {
            message: Some(WebMessageInfo {
                key: MessageKey {
                    remote_jid: Some(chat.into()),
                    from_me: Some(from_me),
                    id: Some(id.into()),
                    participant: None,
                },
                message: Some(e2e::Message {
                    conversation: Some(text.into()),
                    ..Default::default()
                }),
                message_timestamp: Some(t),
                participant: participant.map(str::to_owned),
                push_name: participant.map(|_| "Bob".to_owned()),
                ..Default::default()
            }),
            msg_order_id: None,
        }
    }

    fn sample() -> HistorySync {
        HistorySync {
            sync_type: HistorySyncType::InitialBootstrap as i32,
            chunk_order: Some(1),
            progress: Some(50),
            conversations: vec![
                Conversation {
                    id: ALICE.into(),
                    unread_count: Some(2),
                    archived: Some(true),
                    pinned: Some(3),
                    lid_jid: Some("99887766@lid".into()),
                    messages: vec![
                        web(ALICE, "A1", false, None, "hello", 100),
                        web(ALICE, "A2", true, None, "hi Alice", 101),
                    ],
                    ..Default::default()
                },
                Conversation {
                    id: GROUP.into(),
                    name: Some("Team".into()),
                    messages: vec![web(
                        GROUP,
                        "G1",
                        false,
                        Some("15554445555@s.whatsapp.net"),
                        "meeting",
                        102,
                    )],
                    ..Default::default()
                },
                Conversation {
                    id: "not a jid @@".into(),
                    ..Default::default()
                },
            ],
            pushnames: vec![Pushname {
                id: Some(ALICE.into()),
                pushname: Some("Alice".into()),
            }],
            phone_number_to_lid_mappings: vec![PhoneNumberToLidMapping {
                pn_jid: Some(ALICE.into()),
                lid_jid: Some("99887766@lid".into()),
            }],
            ..Default::default()
        }
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    fn notification(payload: Vec<u8>) -> e2e::Message {
        e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                r#type: Some(e2e::protocol_message::Type::HistorySyncNotification as i32),
                history_sync_notification: Some(e2e::HistorySyncNotification {
                    initial_hist_bootstrap_inline_payload: Some(payload),
                    chunk_order: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn no_iqs() -> crate::appstate::tests::Responder {
        Box::new(|_| Err(ClientError::Timeout))
    }

    #[tokio::test]
    async fn a_notification_from_our_phone_is_imported_then_acknowledged() {
        let mut h = Harness::new(no_iqs()).await;
        let message = notification(zlib(&sample().encode_to_vec()));
        assert!(
            crate::own_phone::consume(&h.shared, &own_phone("HIST1"), &message)
                .await
                .is_some()
        );
        let batch = h
            .wait_for(|e| match e {
                Event::HistorySync(batch) => Some(batch),
                _ => None,
            })
            .await;
        assert_eq!(batch.sync_type, Some(HistorySyncType::InitialBootstrap));
        assert_eq!(batch.chunk_order, Some(1));
        // The conversation with an unusable JID is left out.
        assert_eq!(batch.conversations.len(), 2);
        let alice = &batch.conversations[0];
        assert_eq!(alice.chat.to_string(), ALICE);
        assert!(alice.archived && alice.pinned);
        assert_eq!(alice.unread_count, 2);
        assert_eq!(
            alice.alternate.as_ref().map(|j| j.to_string()),
            Some("99887766@lid".into())
        );
        let texts: Vec<_> = alice
            .messages
            .iter()
            .map(|m| {
                (
                    m.info.id.as_str(),
                    m.info.from_me,
                    m.info.sender.to_string(),
                    m.info.timestamp,
                )
            })
            .collect();
        assert_eq!(
            texts,
            [
                ("A1", false, ALICE.to_string(), 100),
                ("A2", true, "15550001111@s.whatsapp.net".to_string(), 101),
            ]
        );
        assert_eq!(
            alice.messages[0]
                .info
                .sender_alt
                .as_ref()
                .map(|j| j.to_string()),
            Some("99887766@lid".into())
        );
        assert_eq!(alice.messages[1].info.sender_alt, None, "our own message");
        let group = &batch.conversations[1];
        assert_eq!(group.name.as_deref(), Some("Team"));
        assert_eq!(
            group.messages[0].info.sender.to_string(),
            "15554445555@s.whatsapp.net"
        );
        assert_eq!(group.messages[0].info.push_name.as_deref(), Some("Bob"));
        assert_eq!(
            crate::message_text(group.messages[0].message.as_ref().unwrap()),
            Some("meeting")
        );
        // Side data stored before the event.
        let store = h.client_store();
        assert_eq!(
            store
                .load_contact(ALICE)
                .await
                .unwrap()
                .and_then(|c| c.push_name),
            Some("Alice".into())
        );
        assert_eq!(
            store.pn_for_lid("99887766").await.unwrap(),
            Some("15552223333".into())
        );
        // Then the hist_sync receipt to our own account, and nothing left pending.
        let receipt = wait_for_receipt(&h).await;
        assert_eq!(receipt.attrs().optional_str("id"), Some("HIST1"));
        assert_eq!(
            receipt
                .attrs()
                .optional_jid("to")
                .unwrap()
                .map(|j| j.to_string()),
            Some("15550001111@s.whatsapp.net".into())
        );
        assert!(h.client_store().pending_history().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn history_from_anyone_else_is_refused() {
        let mut h = Harness::new(no_iqs()).await;
        let mut stranger = own_phone("HIST2");
        stranger.from_me = false;
        stranger.sender = ALICE.parse().unwrap();
        let message = notification(zlib(&sample().encode_to_vec()));
        assert_eq!(
            crate::own_phone::consume(&h.shared, &stranger, &message).await,
            Some(crate::ConsumedProtocol::Refused)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            h.drain()
                .iter()
                .all(|e| !matches!(e, Event::HistorySync(_)))
        );
        assert_eq!(h.client_store().load_contact(ALICE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_corrupt_blob_emits_nothing_but_is_acknowledged() {
        let mut h = Harness::new(no_iqs()).await;
        let message = notification(b"not zlib".to_vec());
        assert!(
            crate::own_phone::consume(&h.shared, &own_phone("HIST3"), &message)
                .await
                .is_some()
        );
        wait_for_receipt(&h).await;
        assert!(
            h.drain()
                .iter()
                .all(|e| !matches!(e, Event::HistorySync(_)))
        );
        // It can never import: not kept for another try.
        assert!(h.client_store().pending_history().await.unwrap().is_empty());
    }

    async fn wait_for_receipt(h: &Harness) -> Node {
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let found = h.sent_where(|n| {
                    n.tag == "receipt" && n.attrs().optional_str("type") == Some("hist_sync")
                });
                if let Some(r) = found.into_iter().next() {
                    return r;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("no hist_sync receipt")
    }

    #[tokio::test]
    async fn a_failed_download_is_kept_and_imported_at_the_next_login() {
        let mut h = Harness::new(no_iqs()).await;
        // A blob on a media server that cannot be reached: kept for later.
        let unreachable = e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                history_sync_notification: Some(e2e::HistorySyncNotification {
                    direct_path: Some("/v/t62.1/blob".into()),
                    media_key: Some(vec![1; 32]),
                    file_sha256: Some(vec![2; 32]),
                    file_enc_sha256: Some(vec![3; 32]),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert!(
            crate::own_phone::consume(&h.shared, &own_phone("HIST4"), &unreachable)
                .await
                .is_some()
        );
        // Kept before consume returned, so before the message's receipt.
        let pending = h.client_store().pending_history().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, "HIST4");
        // A notification a crashed run left behind, imported at login.
        let left = notification(zlib(&sample().encode_to_vec()))
            .protocol_message
            .unwrap()
            .history_sync_notification
            .unwrap();
        h.client_store()
            .store_pending_history("HIST5", &left.encode_to_vec())
            .await
            .unwrap();
        resume_pending(&h.shared).await;
        let batch = h
            .wait_for(|e| match e {
                Event::HistorySync(batch) => Some(batch),
                _ => None,
            })
            .await;
        assert_eq!(batch.conversations.len(), 2);
        // The phone hears of the imported one only: HIST4, kept for another try, gets no
        // hist_sync receipt yet (and its import went first).
        let receipt = wait_for_receipt(&h).await;
        assert_eq!(receipt.attrs().optional_str("id"), Some("HIST5"));
        // Imported: forgotten. The unreachable one is still waiting.
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let ids: Vec<String> = h
                    .client_store()
                    .pending_history()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                if ids == ["HIST4"] {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("HIST5 forgotten, HIST4 kept");
    }

    #[test]
    fn on_demand_request_names_the_oldest_message() {
        let info = MessageInfo {
            from_me: true,
            chat: ALICE.parse().unwrap(),
            ..own_phone("OLD1")
        };
        let message = history_request_message(&info, 50);
        let request = message
            .protocol_message
            .unwrap()
            .peer_data_operation_request_message
            .unwrap();
        assert_eq!(
            request.peer_data_operation_request_type,
            Some(e2e::PeerDataOperationRequestType::HistorySyncOnDemand as i32)
        );
        let on_demand = request.history_sync_on_demand_request.unwrap();
        assert_eq!(on_demand.chat_jid.as_deref(), Some(ALICE));
        assert_eq!(on_demand.oldest_msg_id.as_deref(), Some("OLD1"));
        assert_eq!(on_demand.oldest_msg_from_me, Some(true));
        assert_eq!(on_demand.on_demand_msg_count, Some(50));
        assert_eq!(on_demand.oldest_msg_timestamp_ms, Some(1_700_000_000));
    }
}
