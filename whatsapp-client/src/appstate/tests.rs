//! App-state sync against a scripted server: canned `<collection>` answers built with
//! whatsapp-proto's encoder. Verified patches are applied and emitted; a wrong MAC or LTHash
//! is refused with nothing applied; a missing key is requested from the phone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use rand::SeedableRng;
use tokio::sync::mpsc;
use whatsapp_proto::appstate::{self, AppStateError, CollectionState, LtHash, OutgoingMutation};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::syncd::{SyncdPatch, SyncdVersion};
use whatsapp_proto::signal::{
    self, KeyPair, PreKeyRecord, PreKeyWhisperMessage, ResponderKeys, SessionRecord,
    SignedPreKeyRecord,
};

use super::*;
use crate::MessageInfo;
use crate::context::Command;
use crate::store::{AppStateStore, ContactStore, DeviceStore, MemoryStore};

pub(crate) const OWN: &str = "15550001111:7@s.whatsapp.net";
const KEY_ID: &[u8] = b"key-1";
const KEY_DATA: [u8; 32] = [7; 32];
const CHAT: &str = "15552223333@s.whatsapp.net";

pub(crate) type Responder = Box<dyn FnMut(&Node) -> Result<Node, ClientError> + Send>;

/// A client without a socket: every IQ is answered by `respond`, every node is recorded.
pub(crate) struct Harness {
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) sent: Arc<Mutex<Vec<Node>>>,
    pub(crate) store: Arc<MemoryStore>,
}

impl Harness {
    pub(crate) async fn new(mut respond: Responder) -> Harness {
        let store = Arc::new(MemoryStore::new());
        let mut device = crate::store::Device::generate(&mut rand::thread_rng());
        device.jid = Some(OWN.parse().unwrap());
        device.account = Some(vec![1, 2, 3]);
        store.save_device(&device).await.unwrap();
        let (events_tx, events) = mpsc::channel(4096);
        let (cmd, mut cmd_rx) = mpsc::channel(64);
        let (acks, _acks_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(
            store.clone(),
            crate::Config {
                // Downloads fail at once (nothing listens there) instead of going online.
                media_base_url: Some("http://127.0.0.1:9".into()),
                ..crate::Config::default()
            },
            device,
            events_tx,
            cmd,
            acks,
        ));
        shared
            .connected
            .store(true, std::sync::atomic::Ordering::Release);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        tokio::spawn(async move {
            while let Some(cmd) = cmd_rx.recv().await {
                match cmd {
                    Command::Iq(node, tx) => {
                        log.lock().unwrap().push(node.clone());
                        let _ = tx.send(respond(&node));
                    }
                    Command::Message(node, tx) => {
                        log.lock().unwrap().push(node.clone());
                        let id = node.attrs().optional_string("id").unwrap_or_default();
                        let _ =
                            tx.send(Ok(Node::new("ack").attr("class", "message").attr("id", id)));
                    }
                    Command::Send(node, tx) => {
                        log.lock().unwrap().push(node);
                        if let Some(tx) = tx {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    _ => {}
                }
            }
        });
        Harness {
            shared,
            events,
            sent,
            store,
        }
    }

    pub(crate) fn client_store(&self) -> &MemoryStore {
        &self.store
    }

    async fn store_key(&self) {
        self.store
            .store_app_state_sync_keys(&[AppStateSyncKey {
                id: KEY_ID.to_vec(),
                data: KEY_DATA.to_vec(),
                timestamp: 1,
            }])
            .await
            .unwrap();
    }

    /// Events emitted so far (without waiting).
    pub(crate) fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// Waits (generously) for an event matching `pick`.
    pub(crate) async fn wait_for<T>(&mut self, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let event = self.events.recv().await.expect("events end");
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        })
        .await
        .expect("the event did not arrive")
    }

    pub(crate) fn sent_where(&self, pick: impl Fn(&Node) -> bool) -> Vec<Node> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|n| pick(n))
            .cloned()
            .collect()
    }
}

fn keys() -> AppStateKeys {
    AppStateKeys::expand(&KEY_DATA)
}

/// A patch as the server holds it: encoded on `state` by another device, version assigned.
fn server_patch(
    state: &CollectionState,
    mutations: &[OutgoingMutation],
) -> (SyncdPatch, CollectionState) {
    server_patch_in(Collection::RegularLow, state, &[], mutations)
}

/// As [`server_patch`] in `collection`, on top of `earlier` patches (whose value MACs a
/// REMOVE or overwrite subtracts from the LTHash).
fn server_patch_in(
    collection: Collection,
    state: &CollectionState,
    earlier: &[&SyncdPatch],
    mutations: &[OutgoingMutation],
) -> (SyncdPatch, CollectionState) {
    let mut live = std::collections::HashMap::new();
    for m in earlier.iter().flat_map(|p| &p.mutations) {
        let record = m.record.as_ref().unwrap();
        let index: [u8; 32] = record
            .index
            .as_ref()
            .unwrap()
            .blob
            .as_deref()
            .unwrap()
            .try_into()
            .unwrap();
        let blob = record.value.as_ref().unwrap().blob.as_deref().unwrap();
        let value: [u8; 32] = blob[blob.len() - 32..].try_into().unwrap();
        if m.operation == Some(Operation::Remove.wire_value()) {
            live.remove(&index);
        } else {
            live.insert(index, value);
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(state.version);
    let encoded = appstate::encode_patch(
        collection.name(),
        state,
        KEY_ID,
        &keys(),
        mutations,
        |index| live.get(index).copied(),
        &mut rng,
    );
    let mut patch = encoded.patch;
    patch.version = Some(SyncdVersion {
        version: Some(encoded.state.version),
    });
    (patch, encoded.state)
}

fn answer(collection: Collection, patches: &[SyncdPatch]) -> Node {
    answer_paged(collection, patches, false)
}

fn answer_paged(collection: Collection, patches: &[SyncdPatch], has_more: bool) -> Node {
    let version = patches
        .last()
        .and_then(|p| p.version.as_ref()?.version)
        .unwrap_or(0);
    Node::new("iq")
        .attr("type", "result")
        .children([Node::new("sync").children([Node::new("collection")
            .attr("name", collection.name())
            .attr("version", version.to_string())
            .attr_opt("has_more_patches", has_more.then_some("true"))
            .children([Node::new("patches").children(
                patches
                    .iter()
                    .map(|p| Node::new("patch").bytes(p.encode_to_vec())),
            )])])])
}

fn is_sync_iq(node: &Node) -> bool {
    node.attrs().optional_str("xmlns") == Some(XMLNS)
}

fn requested(node: &Node) -> (String, Option<u64>, bool) {
    let c = node.path(&["sync", "collection"]).expect("collection");
    let a = c.attrs();
    (
        a.optional_string("name").unwrap_or_default(),
        a.optional_u64("version").ok().flatten(),
        a.optional_str("return_snapshot") == Some("true"),
    )
}

/// Serves `patches` of regular_low after the version asked for; other collections are empty.
fn serve(patches: Vec<SyncdPatch>) -> Responder {
    serve_in(Collection::RegularLow, patches)
}

/// Serves `patches` of `served` after the version asked for; other collections are empty.
fn serve_in(served: Collection, patches: Vec<SyncdPatch>) -> Responder {
    Box::new(move |node| {
        if !is_sync_iq(node) {
            return Err(ClientError::Server {
                code: 501,
                text: "not scripted".into(),
            });
        }
        let (name, version, _) = requested(node);
        let collection = Collection::from_name(&name).expect("collection name");
        let from = version.unwrap_or(0);
        let newer: Vec<SyncdPatch> = if collection == served {
            patches
                .iter()
                .filter(|p| p.version.as_ref().and_then(|v| v.version).unwrap_or(0) > from)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        Ok(answer(collection, &newer))
    })
}

fn mutations_of(events: &[Event]) -> Vec<&AppStateMutation> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AppState(AppStateEvent::Mutation(m)) => Some(m),
            _ => None,
        })
        .collect()
}

async fn stored_state(h: &Harness) -> Option<(u64, Vec<u8>)> {
    h.client_store()
        .load_app_state_version(Collection::RegularLow.name())
        .await
        .unwrap()
}

#[tokio::test]
async fn verified_patches_are_stored_then_emitted() {
    let (p1, s1) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(CHAT, true, None, 1_000)],
    );
    let (p2, s2) = server_patch(
        &s1,
        &[
            OutgoingMutation::pin(CHAT, true, 2_000),
            OutgoingMutation::mark_chat_as_read(CHAT, false, None, 2_001),
        ],
    );
    let mut h = Harness::new(serve(vec![p1, p2])).await;
    h.store_key().await;
    assert_eq!(
        sync_collection(&h.shared, Collection::RegularLow, false)
            .await
            .unwrap(),
        2
    );
    // Never synced: the first fetch asks for a snapshot, without a version.
    let iqs = h.sent_where(is_sync_iq);
    assert_eq!(requested(&iqs[0]), ("regular_low".into(), None, true));
    assert_eq!(stored_state(&h).await, Some((2, s2.hash.0.to_vec())));
    let events = h.drain();
    let actions: Vec<&SyncAction> = mutations_of(&events)
        .iter()
        .map(|m| &m.mutation.action)
        .collect();
    assert_eq!(
        actions,
        [
            &SyncAction::Archive {
                chat: CHAT.into(),
                archived: true
            },
            &SyncAction::Pin {
                chat: CHAT.into(),
                pinned: true
            },
            &SyncAction::MarkChatAsRead {
                chat: CHAT.into(),
                read: false
            },
        ]
    );
    assert!(matches!(
        events.last(),
        Some(Event::AppState(AppStateEvent::Synced {
            collection: Collection::RegularLow,
            version: 2,
            ..
        }))
    ));
    // Synced again: asks from version 2, gets nothing, changes nothing.
    assert_eq!(
        sync_collection(&h.shared, Collection::RegularLow, false)
            .await
            .unwrap(),
        2
    );
    let iqs = h.sent_where(is_sync_iq);
    assert_eq!(requested(&iqs[1]), ("regular_low".into(), Some(2), false));
    assert!(mutations_of(&h.drain()).is_empty());
}

/// Applies a good first patch, then offers `bad` as version 2: it must be refused with
/// `expected`, leaving version 1, its hash and its index MAC map as they were.
async fn refused_after_good_patch(bad: SyncdPatch, expected: fn(&AppStateError) -> bool) {
    let (p1, s1) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(CHAT, true, None, 1_000)],
    );
    let mut h = Harness::new(serve(vec![p1, bad])).await;
    h.store_key().await;
    let error = sync_collection(&h.shared, Collection::RegularLow, false)
        .await
        .expect_err("the bad patch must be refused");
    match &error {
        ClientError::AppState(e) => assert!(expected(e), "wrong error: {e:?}"),
        other => panic!("not an app-state error: {other:?}"),
    }
    assert_eq!(stored_state(&h).await, Some((1, s1.hash.0.to_vec())));
    let events = h.drain();
    let mutations = mutations_of(&events);
    assert_eq!(mutations.len(), 1, "only the good patch's mutation");
    assert_eq!(mutations[0].version, 1);
    // The pin of the bad patch left no index MAC behind.
    let pin = appstate::index_mac(&keys(), &appstate::encode_index(&["pin_v1", CHAT]));
    assert!(
        h.client_store()
            .load_app_state_mutation_macs("regular_low", &[pin])
            .await
            .unwrap()
            .is_empty()
    );
    // Still refused on the next attempt, still at version 1.
    assert!(
        sync_collection(&h.shared, Collection::RegularLow, false)
            .await
            .is_err()
    );
    assert_eq!(stored_state(&h).await, Some((1, s1.hash.0.to_vec())));
}

#[tokio::test]
async fn a_wrong_patch_mac_is_refused_and_nothing_applied() {
    let (_, s1) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(CHAT, true, None, 1_000)],
    );
    let (mut p2, _) = server_patch(&s1, &[OutgoingMutation::pin(CHAT, true, 2_000)]);
    if let Some(mac) = p2.patch_mac.as_mut() {
        mac[0] ^= 1;
    }
    refused_after_good_patch(p2, |e| {
        matches!(e, AppStateError::PatchMacMismatch { version: 2 })
    })
    .await;
}

#[tokio::test]
async fn a_wrong_lthash_is_refused_and_nothing_applied() {
    // Encoded by a device that missed patch 1: its LTHash lacks the archive record.
    let stale = CollectionState {
        version: 1,
        hash: LtHash::ZERO,
    };
    let (p2, _) = server_patch(&stale, &[OutgoingMutation::pin(CHAT, true, 2_000)]);
    refused_after_good_patch(p2, |e| {
        matches!(
            e,
            AppStateError::SnapshotMacMismatch {
                what: "patch",
                version: 2
            }
        )
    })
    .await;
}

#[tokio::test]
async fn a_wrong_value_mac_is_refused_and_nothing_applied() {
    let (_, s1) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(CHAT, true, None, 1_000)],
    );
    // A flipped ciphertext byte: the value MAC no longer matches (and the LTHash, which sums
    // the value MACs as sent, still does — so the record check is what refuses it).
    let (mut p2, _) = server_patch(&s1, &[OutgoingMutation::pin(CHAT, true, 2_000)]);
    let blob = p2.mutations[0]
        .record
        .as_mut()
        .and_then(|r| r.value.as_mut())
        .and_then(|v| v.blob.as_mut())
        .unwrap();
    blob[20] ^= 1;
    refused_after_good_patch(p2, |e| {
        matches!(e, AppStateError::Mutation { source, .. } if **source == AppStateError::ValueMacMismatch)
    })
    .await;
}

/// The phone's side of a Signal session: its keys, and a bundle to serve.
struct Phone {
    identity: KeyPair,
    registration_id: u32,
    signed: SignedPreKeyRecord,
    one_time: PreKeyRecord,
}

impl Phone {
    fn new() -> Phone {
        let mut rng = rand::thread_rng();
        let identity = KeyPair::generate(&mut rng);
        Phone {
            signed: SignedPreKeyRecord::generate(1, &identity, 0, &mut rng),
            one_time: PreKeyRecord::generate(5, &mut rng),
            registration_id: signal::generate_registration_id(&mut rng),
            identity,
        }
    }

    fn bundle_answer(&self, jid: &str) -> Node {
        use whatsapp_proto::stanza::keys::{KeyBundle, PreKey, SignedPreKey};
        let bundle = KeyBundle {
            registration_id: self.registration_id,
            identity: *self.identity.public.as_bytes(),
            prekey: Some(PreKey {
                id: self.one_time.id,
                public: *self.one_time.key_pair.public.as_bytes(),
            }),
            signed_prekey: SignedPreKey {
                id: self.signed.id,
                public: *self.signed.key_pair.public.as_bytes(),
                signature: self.signed.signature,
            },
            device_identity: None,
        };
        Node::new("iq")
            .attr("type", "result")
            .children([Node::new("list").children([bundle.user_node(jid.parse().unwrap())])])
    }

    /// Decrypts the peer message's `pkmsg`.
    fn decrypt(&self, stanza: &Node) -> e2e::Message {
        let enc = stanza.child("enc").expect("enc");
        assert_eq!(enc.attrs().optional_str("type"), Some("pkmsg"));
        let message = PreKeyWhisperMessage::decode(enc.content_bytes().unwrap()).unwrap();
        let keys = ResponderKeys {
            identity: &self.identity,
            registration_id: self.registration_id,
            signed_prekey: Some(&self.signed),
            one_time_prekey: Some(&self.one_time),
            stored_identity: None,
        };
        let out = SessionRecord::new()
            .decrypt_prekey(&message, &keys, &mut rand::thread_rng())
            .unwrap();
        e2e::Message::decode(signal::unpad(&out.plaintext).unwrap()).unwrap()
    }
}

fn is_peer(node: &Node) -> bool {
    node.tag == "message" && node.attrs().optional_str("category") == Some("peer")
}

pub(crate) fn from_phone(id: &str) -> MessageInfo {
    let phone: Jid = "15550001111@s.whatsapp.net".parse().unwrap();
    MessageInfo {
        id: id.into(),
        chat: phone.clone(),
        sender: phone,
        sender_alt: None,
        from_me: true,
        push_name: None,
        timestamp: 1_700_000_000,
        offline: false,
    }
}

fn key_share(id: &[u8], data: [u8; 32]) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::AppStateSyncKeyShare as i32),
            app_state_sync_key_share: Some(e2e::AppStateSyncKeyShare {
                keys: vec![e2e::AppStateSyncKey {
                    key_id: Some(e2e::AppStateSyncKeyId {
                        key_id: Some(id.to_vec()),
                    }),
                    key_data: Some(e2e::AppStateSyncKeyData {
                        key_data: Some(data.to_vec()),
                        fingerprint: None,
                        timestamp: Some(5),
                    }),
                }],
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_missing_key_is_requested_from_the_phone_and_the_share_resumes_the_sync() {
    let (p1, s1) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(CHAT, true, None, 1_000)],
    );
    let phone = Arc::new(Phone::new());
    let server = phone.clone();
    let mut patches = serve(vec![p1]);
    let mut h = Harness::new(Box::new(move |node| {
        if node.attrs().optional_str("xmlns") == Some("encrypt") {
            return Ok(server.bundle_answer("15550001111@s.whatsapp.net"));
        }
        patches(node)
    }))
    .await;
    let error = sync_collection(&h.shared, Collection::RegularLow, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::AppState(AppStateError::MissingKey { key_id }) if key_id == KEY_ID),
        "{error:?}"
    );
    assert_eq!(
        stored_state(&h).await,
        None,
        "nothing applied without the key"
    );
    // One peer message to our phone: an AppStateSyncKeyRequest for exactly that key.
    let peers = h.sent_where(is_peer);
    assert_eq!(peers.len(), 1);
    let attrs = peers[0].attrs();
    assert_eq!(
        attrs.optional_jid("to").unwrap().map(|j| j.to_string()),
        Some("15550001111@s.whatsapp.net".to_string())
    );
    assert_eq!(attrs.optional_str("push_priority"), Some("high"));
    assert_eq!(attrs.optional_str("type"), Some("text"));
    assert!(peers[0].child("meta").is_some());
    let request = phone.decrypt(&peers[0]);
    let protocol = request.protocol_message.expect("protocol message");
    assert_eq!(
        protocol.r#type,
        Some(e2e::protocol_message::Type::AppStateSyncKeyRequest as i32)
    );
    let ids: Vec<Vec<u8>> = protocol
        .app_state_sync_key_request
        .unwrap()
        .key_ids
        .into_iter()
        .filter_map(|k| k.key_id)
        .collect();
    assert_eq!(ids, vec![KEY_ID.to_vec()]);
    // Asking again within a day sends no second request.
    assert!(
        sync_collection(&h.shared, Collection::RegularLow, false)
            .await
            .is_err()
    );
    assert_eq!(h.sent_where(is_peer).len(), 1);

    // The phone shares the key: stored, and the sync completes on its own.
    assert!(
        crate::own_phone::consume(
            &h.shared,
            &from_phone("SHARE1"),
            &key_share(KEY_ID, KEY_DATA)
        )
        .await
            == Some(crate::ConsumedProtocol::AppStateKeyShare)
    );
    // Stored before consume returned, so before the message's receipt goes out.
    assert_eq!(
        h.store.load_app_state_key(KEY_ID).await.unwrap(),
        Some(KEY_DATA.to_vec())
    );
    let version = h
        .wait_for(|e| match e {
            Event::AppState(AppStateEvent::Synced {
                collection: Collection::RegularLow,
                version,
                ..
            }) => Some(version),
            _ => None,
        })
        .await;
    assert_eq!(version, 1);
    assert_eq!(stored_state(&h).await, Some((1, s1.hash.0.to_vec())));
}

#[tokio::test]
async fn key_shares_from_anyone_but_our_phone_are_refused() {
    let h = Harness::new(serve(Vec::new())).await;
    let share = key_share(KEY_ID, KEY_DATA);
    let mut stranger = from_phone("S1");
    stranger.from_me = false;
    stranger.sender = CHAT.parse().unwrap();
    let mut companion = from_phone("S2");
    companion.sender = "15550001111:3@s.whatsapp.net".parse().unwrap();
    for info in [stranger, companion] {
        assert!(
            crate::own_phone::consume(&h.shared, &info, &share)
                .await
                .is_some()
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.store.load_app_state_key(KEY_ID).await.unwrap(), None);
    assert!(h.sent_where(is_sync_iq).is_empty());
    // An ordinary message is left to the application.
    let text = e2e::Message {
        conversation: Some("hi".into()),
        ..Default::default()
    };
    assert!(
        crate::own_phone::consume(&h.shared, &from_phone("T1"), &text)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn our_own_mutation_is_sent_as_a_verified_patch_and_picked_up() {
    let echoed: Arc<Mutex<Option<SyncdPatch>>> = Arc::new(Mutex::new(None));
    let store = echoed.clone();
    let mut h = Harness::new(Box::new(move |node| {
        let (name, version, snapshot) = requested(node);
        let collection = Collection::from_name(&name).unwrap();
        let c = node.path(&["sync", "collection"]).unwrap();
        if let Some(bytes) = c.child("patch").and_then(Node::content_bytes) {
            assert_eq!(version, Some(0));
            assert!(!snapshot);
            let mut patch = SyncdPatch::decode(bytes).unwrap();
            assert_eq!(patch.version, None, "the server assigns the version");
            patch.version = Some(SyncdVersion { version: Some(1) });
            *store.lock().unwrap() = Some(patch);
            return Ok(answer(collection, &[]));
        }
        let patches: Vec<SyncdPatch> = store.lock().unwrap().iter().cloned().collect();
        Ok(answer(collection, &patches))
    }))
    .await;
    h.store_key().await;
    let archive = OutgoingMutation::archive(CHAT, true, None, 5_000);
    send_patch(&h.shared, Collection::RegularLow, &[archive])
        .await
        .unwrap();
    // The server's copy came back, verified, and the collection is at version 1.
    let stored = stored_state(&h).await.expect("state");
    assert_eq!(stored.0, 1);
    let patch = echoed.lock().unwrap().clone().unwrap();
    let out = appstate::decode_patch(
        "regular_low",
        &CollectionState::default(),
        &patch,
        |id| (id == KEY_ID).then(keys),
        |_| None,
        DecodeOptions::default(),
    )
    .unwrap();
    assert_eq!(stored.1, out.state.hash.0.to_vec());
    assert_eq!(out.mutations[0].index, ["archive", CHAT]);
    let events = h.drain();
    assert!(mutations_of(&events).iter().any(|m| m.mutation.action
        == SyncAction::Archive {
            chat: CHAT.into(),
            archived: true
        }));
}

#[tokio::test]
async fn sending_without_any_key_is_refused() {
    let h = Harness::new(serve(Vec::new())).await;
    let label = OutgoingMutation::label_chat("1", CHAT, true, 5_000);
    assert!(matches!(
        send_patch(&h.shared, Collection::Regular, &[label]).await,
        Err(ClientError::AppState(AppStateError::MissingKey { .. }))
    ));
    assert!(h.sent_where(is_sync_iq).is_empty());
}

#[tokio::test]
async fn contact_names_are_stored_and_emitted() {
    use whatsapp_proto::pb::sync_action::{ContactAction, SyncActionValue};
    let contact = |name: Option<&str>, operation| OutgoingMutation {
        operation,
        index: vec!["contact".into(), CHAT.into()],
        value: SyncActionValue {
            timestamp: Some(1_000),
            contact_action: Some(ContactAction {
                full_name: name.map(str::to_owned),
                first_name: Some("Mona".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        version: 2,
    };
    let (p1, s1) = server_patch_in(
        Collection::CriticalUnblockLow,
        &CollectionState::default(),
        &[],
        &[contact(Some("Mona Ali"), Operation::Set)],
    );
    let (p2, _) = server_patch_in(
        Collection::CriticalUnblockLow,
        &s1,
        &[&p1],
        &[contact(None, Operation::Remove)],
    );
    let mut h = Harness::new(serve_in(Collection::CriticalUnblockLow, vec![p1.clone()])).await;
    h.store_key().await;
    sync_collection(&h.shared, Collection::CriticalUnblockLow, false)
        .await
        .unwrap();
    let full_name = |h: &Harness| {
        let store = h.store.clone();
        async move {
            store
                .load_contact(CHAT)
                .await
                .unwrap()
                .and_then(|c| c.full_name)
        }
    };
    assert_eq!(full_name(&h).await.as_deref(), Some("Mona Ali"));
    let events = h.drain();
    assert!(matches!(
        &mutations_of(&events)[0].mutation.action,
        SyncAction::Contact { jid, full_name: Some(name), .. } if jid == CHAT && name == "Mona Ali"
    ));
    // The contact deleted from the address book: the name is forgotten.
    let mut h2 = Harness::new(serve_in(Collection::CriticalUnblockLow, vec![p1, p2])).await;
    h2.store_key().await;
    sync_collection(&h2.shared, Collection::CriticalUnblockLow, false)
        .await
        .unwrap();
    assert_eq!(full_name(&h2).await, None);
    assert_eq!(mutations_of(&h2.drain()).len(), 2);
}

#[tokio::test]
async fn has_more_patches_is_followed_page_by_page() {
    let mut patches = Vec::new();
    let mut state = CollectionState::default();
    for i in 0..5 {
        let pinned = i % 2 == 0;
        let earlier: Vec<&SyncdPatch> = patches.iter().collect();
        let (p, s) = server_patch_in(
            Collection::RegularLow,
            &state,
            &earlier,
            &[OutgoingMutation::pin(CHAT, pinned, 1_000 + i)],
        );
        patches.push(p);
        state = s;
    }
    let all = patches.clone();
    let mut h = Harness::new(Box::new(move |node| {
        let (name, version, _) = requested(node);
        let collection = Collection::from_name(&name).unwrap();
        let from = version.unwrap_or(0) as usize;
        // Two patches per answer.
        let page: Vec<SyncdPatch> = all.iter().skip(from).take(2).cloned().collect();
        Ok(answer_paged(collection, &page, from + 2 < all.len()))
    }))
    .await;
    h.store_key().await;
    assert_eq!(
        sync_collection(&h.shared, Collection::RegularLow, false)
            .await
            .unwrap(),
        5
    );
    let asked: Vec<Option<u64>> = h
        .sent_where(is_sync_iq)
        .iter()
        .map(|n| requested(n).1)
        .collect();
    assert_eq!(asked, [None, Some(2), Some(4)]);
    assert_eq!(stored_state(&h).await, Some((5, state.hash.0.to_vec())));
    assert_eq!(mutations_of(&h.drain()).len(), 5);

    // A server that keeps saying "more" without sending any is not followed for ever.
    let h = Harness::new(Box::new(|node| {
        let (name, _, _) = requested(node);
        Ok(answer_paged(
            Collection::from_name(&name).unwrap(),
            &[],
            true,
        ))
    }))
    .await;
    assert!(
        sync_collection(&h.shared, Collection::Regular, false)
            .await
            .is_err()
    );
    assert_eq!(h.sent_where(is_sync_iq).len(), 1);
}

#[tokio::test]
async fn a_conflict_applies_the_newer_patches_and_sends_again() {
    const OTHER: &str = "15559998888@s.whatsapp.net";
    // Another device archived a chat meanwhile: version 1 on the server.
    let (theirs, _) = server_patch(
        &CollectionState::default(),
        &[OutgoingMutation::archive(OTHER, true, None, 1_000)],
    );
    let ours: Arc<Mutex<Option<SyncdPatch>>> = Arc::new(Mutex::new(None));
    let kept = ours.clone();
    let mut h = Harness::new(Box::new(move |node| {
        let (name, version, _) = requested(node);
        let collection = Collection::from_name(&name).unwrap();
        let c = node.path(&["sync", "collection"]).unwrap();
        if let Some(bytes) = c.child("patch").and_then(Node::content_bytes) {
            if version == Some(0) {
                // Stale: 409 with the patch the client lacks.
                return Ok(Node::new("iq")
                    .attr("type", "result")
                    .children([Node::new("sync").children([Node::new("collection")
                        .attr("name", name.clone())
                        .attr("type", "error")
                        .attr("version", "1")
                        .children([
                            Node::new("error")
                                .attr("code", "409")
                                .attr("text", "conflict"),
                            Node::new("patches")
                                .children([Node::new("patch").bytes(theirs.encode_to_vec())]),
                        ])])]));
            }
            assert_eq!(version, Some(1), "sent again on top of the newer patch");
            let mut patch = SyncdPatch::decode(bytes).unwrap();
            patch.version = Some(SyncdVersion { version: Some(2) });
            *kept.lock().unwrap() = Some(patch);
            return Ok(answer(collection, &[]));
        }
        let newer: Vec<SyncdPatch> = kept.lock().unwrap().iter().cloned().collect();
        Ok(answer(collection, &newer))
    }))
    .await;
    h.store_key().await;
    let pin = OutgoingMutation::pin(CHAT, true, 5_000);
    send_patch(&h.shared, Collection::RegularLow, &[pin])
        .await
        .unwrap();
    let stored = stored_state(&h).await.expect("state");
    assert_eq!(stored.0, 2);
    let actions: Vec<SyncAction> = mutations_of(&h.drain())
        .iter()
        .map(|m| m.mutation.action.clone())
        .collect();
    assert_eq!(
        actions,
        [
            SyncAction::Archive {
                chat: OTHER.into(),
                archived: true
            },
            SyncAction::Pin {
                chat: CHAT.into(),
                pinned: true
            },
        ]
    );
    assert!(ours.lock().unwrap().is_some());
}

#[tokio::test]
async fn malformed_answers_are_errors_not_panics() {
    let collection_with = |children: Vec<Node>| {
        Node::new("iq")
            .attr("type", "result")
            .children([Node::new("sync").children([Node::new("collection")
                .attr("name", "regular_low")
                .children(children)])])
    };
    let garbage = vec![0xff; 40];
    let answers = vec![
        Node::new("iq").attr("type", "result"),
        collection_with(vec![
            Node::new("patches").children([Node::new("patch").bytes(garbage.clone())]),
        ]),
        collection_with(vec![Node::new("snapshot").bytes(garbage.clone())]),
        // A reference without a path or keys: the download is refused.
        collection_with(vec![Node::new("snapshot").bytes(Vec::new())]),
        // A refusal of the collection.
        Node::new("iq")
            .attr("type", "result")
            .children([Node::new("sync").children([Node::new("collection")
                .attr("name", "regular_low")
                .attr("type", "error")
                .children([Node::new("error").attr("code", "500")])])]),
        // A patch without a version; one whose mutation has no record.
        answer(Collection::RegularLow, &[SyncdPatch::default()]),
        answer(
            Collection::RegularLow,
            &[SyncdPatch {
                version: Some(SyncdVersion { version: Some(1) }),
                mutations: vec![Default::default()],
                ..Default::default()
            }],
        ),
    ];
    for (i, bad) in answers.into_iter().enumerate() {
        let h = Harness::new(Box::new(move |_| Ok(bad.clone()))).await;
        h.store_key().await;
        let result = sync_collection(&h.shared, Collection::RegularLow, false).await;
        assert!(result.is_err(), "answer #{i} was accepted: {result:?}");
        assert_eq!(
            stored_state(&h).await,
            None,
            "answer #{i} changed the state"
        );
    }
}
