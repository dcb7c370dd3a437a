//! History sync against the sim: after pairing, the phone's notifications point at blobs on
//! the media server that decrypt (media type history), inflate (zlib) and parse as
//! `HistorySync`, carrying every seeded message once; an on-demand request is answered.

use std::collections::HashSet;

use whatsapp_proto::appstate::history::{DEFAULT_MAX_INFLATED, inflate_history_sync};
use whatsapp_proto::media::MediaType;
use whatsapp_proto::pb::e2e::{self, peer_data_operation_request_message as pdo};
use whatsapp_proto::pb::history::HistorySync;
use whatsapp_proto::pb::history::history_sync::HistorySyncType;
use whatsapp_sim::SimHandle;

use super::appstate::{companion, download_path};
use super::{OWNER, http, start};

async fn fetch(sim: &SimHandle, n: &e2e::HistorySyncNotification) -> HistorySync {
    let blob = download_path(
        sim,
        n.direct_path.as_deref().expect("direct path"),
        n.media_key.as_deref().expect("media key"),
        n.file_sha256.as_deref().expect("sha256"),
        n.file_enc_sha256.as_deref().expect("enc sha256"),
        MediaType::History,
    )
    .await;
    assert_eq!(n.file_length, Some(blob.len() as u64));
    inflate_history_sync(&blob, DEFAULT_MAX_INFLATED).expect("zlib HistorySync")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_several_chats_arrives_after_pairing() {
    let sim = start().await;
    sim.add_account(OWNER, "Cairo Pharmacy").expect("account");
    // Seeded over the control API: 6 chats of 60 messages.
    let (status, body) = http(
        &sim.control_url,
        "POST",
        &format!("/control/history/{OWNER}"),
        Some(r#"{"chats": 6, "messages_per_chat": 60}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"], 360);
    let mut c = companion(&sim, OWNER).await;

    let notifications: Vec<(String, e2e::HistorySyncNotification)> = c
        .from_phone
        .iter()
        .filter_map(|(id, p)| Some((id.clone(), p.history_sync_notification.clone()?)))
        .collect();
    let mut kinds = Vec::new();
    let mut ids = HashSet::new();
    let mut messages = 0;
    let mut pushnames = 0;
    for (_, n) in &notifications {
        let sync = fetch(&sim, n).await;
        assert_eq!(
            n.sync_type,
            Some(sync.sync_type),
            "notification and blob agree"
        );
        kinds.push(sync.sync_type);
        pushnames += sync.pushnames.len();
        for conv in &sync.conversations {
            assert!(conv.id.ends_with("@s.whatsapp.net"));
            for m in &conv.messages {
                let info = m.message.as_ref().expect("WebMessageInfo");
                assert_eq!(info.key.remote_jid.as_deref(), Some(conv.id.as_str()));
                assert!(
                    info.message
                        .as_ref()
                        .and_then(|m| m.conversation.as_ref())
                        .is_some()
                );
                ids.insert(info.key.id.clone().expect("id"));
                messages += 1;
            }
        }
    }
    assert_eq!(
        kinds[0],
        HistorySyncType::InitialBootstrap as i32,
        "{kinds:?}"
    );
    assert_eq!(kinds[1], HistorySyncType::PushName as i32);
    assert!(
        kinds[2..]
            .iter()
            .all(|k| *k == HistorySyncType::Recent as i32)
    );
    assert_eq!(
        (messages, ids.len()),
        (360, 360),
        "every message exactly once"
    );
    assert_eq!(pushnames, 6);
    assert_eq!(
        notifications.last().and_then(|(_, n)| n.progress),
        Some(100)
    );

    // On demand: 20 messages older than the oldest the companion has of one chat.
    let chat = format!("2010{:08}@s.whatsapp.net", 55_000_001);
    let oldest = "3EB0HIST00100030";
    c.send_to_phone(
        e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::PeerDataOperationRequestMessage as i32),
            peer_data_operation_request_message: Some(e2e::PeerDataOperationRequestMessage {
                peer_data_operation_request_type: Some(
                    e2e::PeerDataOperationRequestType::HistorySyncOnDemand as i32,
                ),
                history_sync_on_demand_request: Some(pdo::HistorySyncOnDemandRequest {
                    chat_jid: Some(chat.clone()),
                    oldest_msg_id: Some(oldest.into()),
                    oldest_msg_from_me: Some(false),
                    on_demand_msg_count: Some(20),
                    oldest_msg_timestamp_ms: None,
                    account_lid: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        "3EB0ONDEMAND000001",
    )
    .await;
    let notification = loop {
        let (m, _) = c.conn.recv_tag("message").await;
        if let Some(n) = c.phone_message(&m).history_sync_notification {
            break n;
        }
    };
    assert_eq!(
        notification.sync_type,
        Some(e2e::HistorySyncType::OnDemand as i32)
    );
    assert_eq!(
        notification.peer_data_request_session_id.as_deref(),
        Some("3EB0ONDEMAND000001")
    );
    let sync = fetch(&sim, &notification).await;
    let conv = &sync.conversations[0];
    assert_eq!(conv.id, chat);
    let got: Vec<String> = conv
        .messages
        .iter()
        .filter_map(|m| m.message.as_ref()?.key.id.clone())
        .collect();
    let want: Vec<String> = (10..30)
        .rev()
        .map(|i| format!("3EB0HIST001{i:05}"))
        .collect();
    assert_eq!(got, want, "the 20 before the oldest, newest first");
}
