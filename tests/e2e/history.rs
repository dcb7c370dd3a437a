//! History sync of whatsapp-client against whatsapp-sim: the phone's chats arrive after
//! pairing as encrypted, zlib-compressed blobs from the sim's media server, typed and
//! complete; older messages come on demand.

use std::collections::{BTreeMap, HashSet};

use whatsapp_client::history::{HistoryBatch, HistorySyncType};
use whatsapp_client::store::{ContactStore, SqliteStore};
use whatsapp_client::{Event, EventStream, message_text};
use whatsapp_sim::{Sim, SimConfig};

use fixtures::{OWN_PHONE, config, expect, paired, poll_until, temp_db};

async fn next_batch(events: &mut EventStream) -> Box<HistoryBatch> {
    expect(events, "a history-sync chunk", |e| match e {
        Event::HistorySync(batch) => Some(batch),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phones_history_is_imported_after_pairing() {
    const CHATS: usize = 6;
    const PER_CHAT: usize = 60;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("history-import");
    sim.add_account(OWN_PHONE, "City Pharmacy")
        .expect("account");
    let remembered = sim
        .seed_generated_history(OWN_PHONE, CHATS, PER_CHAT)
        .expect("seed");
    assert_eq!(remembered, CHATS * PER_CHAT);
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;

    // Chunks until every message is in: (chat -> ids), each id once.
    let mut chats: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ids = HashSet::new();
    let mut types = HashSet::new();
    let mut push_names = Vec::new();
    let mut chunks = 0;
    while ids.len() < CHATS * PER_CHAT || push_names.is_empty() {
        let batch = next_batch(&mut events).await;
        chunks += 1;
        types.extend(batch.sync_type);
        push_names.extend(batch.push_names.iter().cloned());
        for conversation in &batch.conversations {
            assert!(!conversation.chat.is_group());
            for m in &conversation.messages {
                assert_eq!(m.info.chat, conversation.chat);
                if m.info.from_me {
                    assert_eq!(m.info.sender.user, OWN_PHONE);
                } else {
                    assert_eq!(m.info.sender, conversation.chat);
                }
                let text = m.message.as_ref().and_then(message_text).expect("text");
                assert!(text.contains("(#"), "generated text: {text}");
                assert!(ids.insert(m.info.id.clone()), "{} twice", m.info.id);
                chats
                    .entry(conversation.chat.to_string())
                    .or_default()
                    .push(m.info.id.clone());
            }
        }
    }
    assert_eq!(chats.len(), CHATS);
    assert!(chats.values().all(|ids| ids.len() == PER_CHAT));
    assert!(
        types.contains(&HistorySyncType::InitialBootstrap),
        "{types:?}"
    );
    // Every chunk seen was acknowledged to our phone with a hist_sync receipt.
    let own = client.jid().expect("jid");
    let from = format!("{}:{}@", own.user, own.device);
    let receipts = || {
        sim.stanzas()
            .into_iter()
            .filter(|s| s.tag == "receipt" && s.kind == "hist_sync" && s.from.starts_with(&from))
            .count()
    };
    poll_until(
        &format!("hist_sync receipts for {chunks} chunks"),
        async || (receipts() >= chunks).then_some(()),
    )
    .await;
    // Each chunk's blob was deleted from the media server once imported (whatsmeow
    // message.go, `DeleteMedia` after the history sync event).
    let deleted = poll_until(&format!("{chunks} history blobs deleted"), async || {
        let deleted = sim.media_deleted();
        (deleted.len() >= chunks).then_some(deleted)
    })
    .await;
    let kept: Vec<String> = sim.media_blobs().into_iter().map(|(p, _)| p).collect();
    assert!(deleted.iter().all(|p| !kept.contains(p)), "{deleted:?}");
    // Push names from the sync are stored for the contacts they name.
    let store = SqliteStore::open(&path).await.expect("store");
    for (jid, name) in &push_names {
        let contact = store.load_contact(&jid.to_string()).await.expect("contact");
        assert_eq!(contact.and_then(|c| c.push_name).as_ref(), Some(name));
    }
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_messages_come_on_demand() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("history-on-demand");
    sim.add_account(OWN_PHONE, "City Pharmacy")
        .expect("account");
    sim.seed_generated_history(OWN_PHONE, 1, 80).expect("seed");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    // Take the 41st message of the chat as the oldest we know.
    let mut all = Vec::new();
    while all.len() < 80 {
        let batch = next_batch(&mut events).await;
        for c in &batch.conversations {
            all.extend(c.messages.iter().cloned());
        }
    }
    all.sort_by_key(|m| m.info.timestamp);
    let oldest_known = all[40].info.clone();
    client
        .request_history(&oldest_known, 25)
        .await
        .expect("request");
    let answer = loop {
        let batch = next_batch(&mut events).await;
        if batch.sync_type == Some(HistorySyncType::OnDemand) {
            break batch;
        }
    };
    let mut got: Vec<String> = answer
        .conversations
        .iter()
        .flat_map(|c| c.messages.iter().map(|m| m.info.id.clone()))
        .collect();
    // The 25 messages before it (the phone lists them newest first).
    got.sort();
    let mut expected: Vec<String> = all[15..40].iter().map(|m| m.info.id.clone()).collect();
    expected.sort();
    assert_eq!(got, expected);
    client.shutdown().await;
}
