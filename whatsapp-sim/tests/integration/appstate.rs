//! App-state sync against the sim, checked with whatsapp-proto's own app-state code: the
//! phone's key share decrypts with the companion's Signal session, every served snapshot and
//! patch verifies (value, index, snapshot and patch MACs, LTHash), uploads are versioned, and
//! the patch faults produce the refusals a client must make.

use std::collections::HashMap;

use prost::Message as _;
use rand::rngs::OsRng;
use whatsapp_proto::appstate::{
    self, AppStateError, AppStateKeys, Collection, CollectionState, DecodeOptions,
    OutgoingMutation, SyncAction, TypedMutation,
};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::media::{self, MediaHashes, MediaType};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::syncd::{ExternalBlobReference, SyncdMutations, SyncdPatch, SyncdSnapshot};
use whatsapp_sim::appstate::PhoneMutation;
use whatsapp_sim::{Fault, SimHandle};

use super::client::{Conn, Identity};
use super::{CUSTOMER, OWNER, decrypt_incoming, http, http_bytes, login_active, pair, start};

/// A verified collection: its state and the index MAC → value MAC map.
pub type Synced = (CollectionState, HashMap<[u8; 32], [u8; 32]>);

/// A companion as far as app-state goes: its connection, the keys its phone shared, and per
/// collection the verified state with its index MAC → value MAC map.
pub struct SyncCompanion {
    pub id: Identity,
    pub conn: Conn,
    pub keys: HashMap<Vec<u8>, AppStateKeys>,
    pub states: HashMap<&'static str, Synced>,
    /// Protocol messages the phone sent, decrypted, with their stanza ids.
    pub from_phone: Vec<(String, e2e::ProtocolMessage)>,
}

/// Pairs a companion with `phone`, logs it in and decrypts what its phone sent first.
pub async fn companion(sim: &SimHandle, phone: &str) -> SyncCompanion {
    let mut id = pair(sim, phone).await;
    let (conn, nodes) = login_active(sim, &id).await;
    let mut from_phone = Vec::new();
    for node in nodes.iter().filter(|n| n.tag == "message") {
        let from = node.attrs().jid("from").expect("from");
        if from.user == phone && from.device == 0 {
            assert_eq!(node.attrs().optional_str("category"), Some("peer"));
            let message = decrypt_incoming(&mut id, node);
            let p = message.protocol_message.expect("a protocol message");
            from_phone.push((node.attrs().string("id").expect("id"), *p));
        }
    }
    let mut c = SyncCompanion {
        id,
        conn,
        keys: HashMap::new(),
        states: HashMap::new(),
        from_phone,
    };
    c.take_keys();
    c
}

impl SyncCompanion {
    /// Stores the keys of every key share received so far.
    pub fn take_keys(&mut self) {
        for (_, p) in &self.from_phone {
            for k in p.app_state_sync_key_share.iter().flat_map(|s| &s.keys) {
                let id = k.key_id.clone().and_then(|i| i.key_id).expect("key id");
                let data = k.key_data.clone().and_then(|d| d.key_data).expect("data");
                self.keys.insert(id, AppStateKeys::expand(&data));
            }
        }
    }

    /// Decrypts a message from the phone that arrived later.
    pub fn phone_message(&mut self, node: &Node) -> e2e::ProtocolMessage {
        let message = decrypt_incoming(&mut self.id, node);
        *message.protocol_message.expect("protocol message")
    }

    /// Sends a protocol message to its own phone as a peer message (part 2 §4.8).
    pub async fn send_to_phone(&mut self, p: e2e::ProtocolMessage, msg_id: &str) {
        let mut rng = OsRng;
        let plain = e2e::Message {
            protocol_message: Some(Box::new(p)),
            ..Default::default()
        };
        let sealed = self
            .id
            .sessions
            .get_mut(&Jid::user(OWNER).signal_address())
            .expect("session from the phone's first message")
            .encrypt(&whatsapp_proto::signal::pad(
                &plain.encode_to_vec(),
                &mut rng,
            ))
            .expect("encrypt");
        self.conn
            .send(
                &Node::new("message")
                    .attr("to", Jid::user(OWNER))
                    .attr("id", msg_id.to_owned())
                    .attr("type", "text")
                    .attr("category", "peer")
                    .attr("push_priority", "high")
                    .children([Node::new("enc")
                        .attr("v", "2")
                        .attr("type", sealed.enc_type())
                        .bytes(sealed.serialized().to_vec())]),
            )
            .await;
    }

    /// One `w:sync:app:state` IQ; returns the answer's `<collection>` nodes.
    pub async fn sync_iq(&mut self, collections: Vec<Node>) -> Vec<Node> {
        let id = self.conn.next_id();
        let reply = self
            .conn
            .iq(Node::new("iq")
                .attr("id", id)
                .attr("xmlns", "w:sync:app:state")
                .attr("type", "set")
                .attr("to", Jid::server_jid())
                .children([Node::new("sync").children(collections)]))
            .await;
        assert_eq!(
            reply.attrs().optional_str("type"),
            Some("result"),
            "{reply:?}"
        );
        reply
            .child("sync")
            .expect("sync")
            .children_by_tag("collection")
            .cloned()
            .collect()
    }

    fn lookup(&self) -> impl Fn(&[u8]) -> Option<AppStateKeys> + '_ {
        |id| self.keys.get(id).cloned()
    }

    /// Full sync of one collection as whatsmeow does it: a snapshot, then patches while
    /// `has_more_patches`. Returns the typed mutations applied, or the first refusal (after
    /// which the stored state is unchanged).
    pub async fn full_sync(
        &mut self,
        sim: &SimHandle,
        name: &'static str,
    ) -> Result<Vec<TypedMutation>, AppStateError> {
        let answer = self
            .sync_iq(vec![
                Node::new("collection")
                    .attr("name", name)
                    .attr("return_snapshot", "true"),
            ])
            .await
            .remove(0);
        let mut typed = Vec::new();
        if let Some(bytes) = answer.child("snapshot").and_then(Node::content_bytes) {
            let reference = ExternalBlobReference::decode(bytes).expect("blob reference");
            let raw = download(sim, &reference, MediaType::AppState).await;
            let snapshot = SyncdSnapshot::decode(raw.as_slice()).expect("snapshot");
            let out = appstate::decode_snapshot(
                name,
                &snapshot,
                self.lookup(),
                DecodeOptions::default(),
            )?;
            typed.extend(out.mutations.iter().map(TypedMutation::from_decoded));
            self.states
                .insert(name, (out.state, out.added.into_iter().collect()));
        } else {
            self.states.entry(name).or_default();
        }
        typed.extend(self.pull(sim, name).await?);
        Ok(typed)
    }

    /// Fetches and applies patches after the stored version until none remain.
    pub async fn pull(
        &mut self,
        sim: &SimHandle,
        name: &'static str,
    ) -> Result<Vec<TypedMutation>, AppStateError> {
        let mut typed = Vec::new();
        loop {
            let version = self.states.entry(name).or_default().0.version;
            let answer = self
                .sync_iq(vec![
                    Node::new("collection")
                        .attr("name", name)
                        .attr("version", version)
                        .attr("return_snapshot", "false"),
                ])
                .await
                .remove(0);
            assert!(
                answer.child("snapshot").is_none(),
                "a snapshot only when asked"
            );
            typed.extend(self.apply_patches(sim, name, &answer).await?);
            if answer.attrs().optional_str("has_more_patches") != Some("true") {
                return Ok(typed);
            }
        }
    }

    /// Verifies and applies the `<patches>` of a `<collection>` answer.
    pub async fn apply_patches(
        &mut self,
        sim: &SimHandle,
        name: &'static str,
        answer: &Node,
    ) -> Result<Vec<TypedMutation>, AppStateError> {
        let mut typed = Vec::new();
        let patches: Vec<SyncdPatch> = answer
            .child("patches")
            .into_iter()
            .flat_map(|p| p.children_by_tag("patch"))
            .map(|p| SyncdPatch::decode(p.content_bytes().expect("bytes")).expect("patch"))
            .collect();
        for mut patch in patches {
            if let Some(reference) = patch.external_mutations.clone() {
                let raw = download(sim, &reference, MediaType::AppState).await;
                patch.mutations = SyncdMutations::decode(raw.as_slice())
                    .expect("mutations")
                    .mutations;
            }
            let (state, values) = self.states.get(name).cloned().unwrap_or_default();
            let out = appstate::decode_patch(
                name,
                &state,
                &patch,
                self.lookup(),
                |i| values.get(i).copied(),
                DecodeOptions::default(),
            )?;
            let mut values = values;
            for r in &out.removed {
                values.remove(r);
            }
            values.extend(out.added.iter().copied());
            typed.extend(out.mutations.iter().map(TypedMutation::from_decoded));
            self.states.insert(name, (out.state, values));
        }
        Ok(typed)
    }

    /// Encrypts our own mutations as a patch on the stored state, with the newest key.
    pub fn encode(
        &self,
        name: &str,
        mutations: &[OutgoingMutation],
    ) -> (SyncdPatch, CollectionState) {
        let (state, values) = self.states.get(name).cloned().unwrap_or_default();
        let (key_id, keys) = self.keys.iter().next().expect("a key");
        let e = appstate::encode_patch(
            name,
            &state,
            key_id,
            keys,
            mutations,
            |i| values.get(i).copied(),
            &mut OsRng,
        );
        (e.patch, e.state)
    }
}

/// Downloads and decrypts a blob from the sim's media server.
pub async fn download(sim: &SimHandle, r: &ExternalBlobReference, kind: MediaType) -> Vec<u8> {
    download_path(
        sim,
        r.direct_path.as_deref().expect("direct path"),
        r.media_key.as_deref().expect("media key"),
        r.file_sha256.as_deref().expect("sha256"),
        r.file_enc_sha256.as_deref().expect("enc sha256"),
        kind,
    )
    .await
}

pub async fn download_path(
    sim: &SimHandle,
    path: &str,
    media_key: &[u8],
    sha256: &[u8],
    enc_sha256: &[u8],
    kind: MediaType,
) -> Vec<u8> {
    let (status, blob) = http_bytes(&sim.ws_addr.to_string(), "GET", path, b"").await;
    assert_eq!(status, 200, "download of {path}");
    let hashes = MediaHashes::from_slices(sha256, enc_sha256).expect("hashes");
    media::decrypt(media_key, kind, &blob, &hashes).expect("blob decrypts and verifies")
}

/// The next `server_sync` notification (device notifications and the like are skipped).
pub async fn server_sync(conn: &mut Conn) -> Node {
    loop {
        let (note, _) = conn.recv_tag("notification").await;
        if note.attrs().optional_str("type") == Some("server_sync") {
            return note;
        }
    }
}

fn upload(name: &str, version: u64, patch: &SyncdPatch) -> Node {
    Node::new("collection")
        .attr("name", name.to_owned())
        .attr("version", version)
        .attr("return_snapshot", "false")
        .children([Node::new("patch").bytes(patch.encode_to_vec())])
}

fn customer_jid() -> String {
    format!("{CUSTOMER}@s.whatsapp.net")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_shares_keys_and_serves_verified_app_state() {
    let sim = start().await;
    sim.add_account(OWNER, "Cairo Pharmacy").expect("account");
    let chat = customer_jid();
    sim.app_state_mutations(
        OWNER,
        &[
            PhoneMutation::Contact {
                jid: CUSTOMER.into(),
                name: "Mona Ali".into(),
            },
            PhoneMutation::Contact {
                jid: "201000000002".into(),
                name: "Omar Said".into(),
            },
            PhoneMutation::Archive {
                chat: CUSTOMER.into(),
                archived: true,
            },
            PhoneMutation::Pin {
                chat: CUSTOMER.into(),
                pinned: true,
            },
            PhoneMutation::MarkRead {
                chat: CUSTOMER.into(),
                read: false,
            },
            PhoneMutation::Mute {
                chat: CUSTOMER.into(),
                until_ms: Some(-1),
            },
            PhoneMutation::Label {
                id: "1".into(),
                name: "VIP".into(),
                color: 2,
            },
            PhoneMutation::LabelChat {
                label_id: "1".into(),
                chat: CUSTOMER.into(),
                labeled: true,
            },
        ],
    )
    .expect("phone mutations");
    let mut a = companion(&sim, OWNER).await;

    // The key share: the first thing the phone sends, one 32-byte key with a fingerprint.
    let (_, first) = a.from_phone.first().expect("the phone wrote");
    assert_eq!(
        first.r#type,
        Some(e2e::protocol_message::Type::AppStateSyncKeyShare as i32)
    );
    let key = &first.app_state_sync_key_share.as_ref().expect("share").keys[0];
    let data = key.key_data.as_ref().expect("key data");
    assert_eq!(data.key_data.as_ref().map(Vec::len), Some(32));
    assert_eq!(
        key.key_id
            .as_ref()
            .and_then(|k| k.key_id.as_ref())
            .map(Vec::len),
        Some(6)
    );
    let fingerprint = data.fingerprint.as_ref().expect("fingerprint");
    assert!(fingerprint.raw_id.is_some_and(|r| r > 0));
    assert!(fingerprint.device_indexes.contains(&1), "{fingerprint:?}");
    assert!(data.timestamp.is_some_and(|t| t > 1_600_000_000_000));
    assert_eq!(a.keys.len(), 1);

    // Every collection: a snapshot that verifies, with the phone's content.
    let mut actions = Vec::new();
    for c in Collection::ALL {
        let got = a
            .full_sync(&sim, c.name())
            .await
            .expect("collection verifies");
        actions.extend(got.into_iter().map(|t| t.action));
    }
    let has = |want: &SyncAction| actions.iter().any(|a| a == want);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, SyncAction::Contact { jid, full_name, .. }
            if *jid == chat && full_name.as_deref() == Some("Mona Ali"))),
        "{actions:?}"
    );
    assert!(has(&SyncAction::PushName {
        name: "Cairo Pharmacy".into()
    }));
    assert!(has(&SyncAction::Archive {
        chat: chat.clone(),
        archived: true
    }));
    assert!(has(&SyncAction::Pin {
        chat: chat.clone(),
        pinned: true
    }));
    assert!(has(&SyncAction::MarkChatAsRead {
        chat: chat.clone(),
        read: false
    }));
    assert!(has(&SyncAction::Mute {
        chat: chat.clone(),
        muted: true,
        mute_end_ms: Some(-1)
    }));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, SyncAction::LabelEdit { name: Some(n), .. } if n == "VIP")),
        "{actions:?}"
    );

    // A second companion; then the phone unarchives: both hear of it and the patch verifies.
    let mut b = companion(&sim, OWNER).await;
    b.full_sync(&sim, "regular_low").await.expect("b syncs");
    let low_version = a.states["regular_low"].0.version;
    sim.app_state_mutations(
        OWNER,
        &[PhoneMutation::Archive {
            chat: CUSTOMER.into(),
            archived: false,
        }],
    )
    .expect("unarchive");
    for c in [&mut a, &mut b] {
        let note = server_sync(&mut c.conn).await;
        let col = note.child("collection").expect("collection");
        assert_eq!(col.attrs().optional_str("name"), Some("regular_low"));
        assert_eq!(
            col.attrs().optional_u64("version").ok().flatten(),
            Some(low_version + 1)
        );
        let got = c.pull(&sim, "regular_low").await.expect("patch verifies");
        assert_eq!(
            got.iter().map(|t| t.action.clone()).collect::<Vec<_>>(),
            [SyncAction::Archive {
                chat: chat.clone(),
                archived: false
            }]
        );
    }

    // Companion A sends its own patch: stored as the next version, B is told, and B's copy
    // verifies; A's own re-fetch reaches the state A computed.
    let (patch, expected) = a.encode(
        "regular_low",
        &[OutgoingMutation::pin(&chat, false, 1_700_000_000_000)],
    );
    let answer = a
        .sync_iq(vec![upload("regular_low", low_version + 1, &patch)])
        .await
        .remove(0);
    assert_eq!(answer.attrs().optional_str("type"), None, "{answer:?}");
    assert_eq!(
        answer.attrs().optional_u64("version").ok().flatten(),
        Some(low_version + 2)
    );
    let note = server_sync(&mut b.conn).await;
    assert_eq!(
        note.child("collection")
            .and_then(|c| c.attrs().optional_u64("version").ok().flatten()),
        Some(low_version + 2)
    );
    let got = b
        .pull(&sim, "regular_low")
        .await
        .expect("B verifies A's patch");
    assert_eq!(
        got[0].action,
        SyncAction::Pin {
            chat: chat.clone(),
            pinned: false
        }
    );
    assert_eq!(b.states["regular_low"].0, expected);
    a.pull(&sim, "regular_low").await.expect("A re-fetches");
    assert_eq!(a.states["regular_low"].0, expected);

    // A stale upload (built on an old version) is refused with 409 and the missed patches.
    let answer = b
        .sync_iq(vec![upload("regular_low", low_version, &patch)])
        .await
        .remove(0);
    assert_eq!(answer.attrs().optional_str("type"), Some("error"));
    let error = answer.child("error").expect("error");
    assert_eq!(error.attrs().optional_u64("code").ok().flatten(), Some(409));
    assert_eq!(
        answer
            .child("patches")
            .map(|p| p.children_by_tag("patch").count()),
        Some(2)
    );
    // So is one naming a version other than the next.
    let mut skipping = patch.clone();
    skipping.version = Some(whatsapp_proto::pb::syncd::SyncdVersion {
        version: Some(low_version + 4),
    });
    let answer = b
        .sync_iq(vec![upload("regular_low", low_version + 2, &skipping)])
        .await
        .remove(0);
    assert_eq!(
        answer
            .child("error")
            .and_then(|e| e.attrs().optional_u64("code").ok().flatten()),
        Some(409)
    );
    // A malformed one (no mutations) with 400, and nothing stored.
    let mut empty = patch.clone();
    empty.mutations.clear();
    let answer = b
        .sync_iq(vec![upload("regular_low", low_version + 2, &empty)])
        .await
        .remove(0);
    assert_eq!(
        answer
            .child("error")
            .and_then(|e| e.attrs().optional_u64("code").ok().flatten()),
        Some(400)
    );
    assert!(
        b.pull(&sim, "regular_low")
            .await
            .expect("nothing new")
            .is_empty()
    );

    // Missing key: the companion asks its phone, which answers with that key.
    let (key_id, _) = a
        .keys
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("key");
    b.send_to_phone(
        e2e::ProtocolMessage {
            r#type: Some(e2e::protocol_message::Type::AppStateSyncKeyRequest as i32),
            app_state_sync_key_request: Some(e2e::AppStateSyncKeyRequest {
                key_ids: vec![e2e::AppStateSyncKeyId {
                    key_id: Some(key_id.clone()),
                }],
            }),
            ..Default::default()
        },
        "3EB0KEYREQUEST0001",
    )
    .await;
    let answer = loop {
        let (m, _) = b.conn.recv_tag("message").await;
        let p = b.phone_message(&m);
        if p.app_state_sync_key_share.is_some() {
            break p;
        }
    };
    let shared = answer.app_state_sync_key_share.expect("share");
    assert_eq!(shared.keys.len(), 1);
    assert_eq!(
        shared.keys[0]
            .key_id
            .as_ref()
            .and_then(|k| k.key_id.clone()),
        Some(key_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_external_mutations_and_patch_faults() {
    let sim = start().await;
    sim.add_account(OWNER, "Cairo Pharmacy").expect("account");
    // 300 contacts in one patch: served with its mutations in an external blob.
    let contacts: Vec<PhoneMutation> = (0..300)
        .map(|i| PhoneMutation::Contact {
            jid: format!("2010{:08}", 20_000_000 + i),
            name: format!("Customer {i}"),
        })
        .collect();
    sim.app_state_mutations(OWNER, &contacts).expect("contacts");
    // 60 patches of one mutation each: more than one page.
    for i in 0..60 {
        sim.app_state_mutations(
            OWNER,
            &[PhoneMutation::Mute {
                chat: CUSTOMER.into(),
                until_ms: (i % 2 == 0).then_some(-1),
            }],
        )
        .expect("mute");
    }
    let mut a = companion(&sim, OWNER).await;

    // The contact patch log from version 0, without a snapshot.
    let answer = a
        .sync_iq(vec![
            Node::new("collection")
                .attr("name", "critical_unblock_low")
                .attr("version", 0u64)
                .attr("return_snapshot", "false"),
        ])
        .await
        .remove(0);
    let raw = answer
        .child("patches")
        .and_then(|p| p.child("patch"))
        .and_then(Node::content_bytes)
        .expect("one patch");
    let served = SyncdPatch::decode(raw).expect("patch");
    assert!(served.mutations.is_empty() && served.external_mutations.is_some());
    let got = a
        .apply_patches(&sim, "critical_unblock_low", &answer)
        .await
        .expect("external patch verifies");
    assert_eq!(got.len(), 300);

    // Paging: 50, then 10 with no more.
    let first = a
        .sync_iq(vec![
            Node::new("collection")
                .attr("name", "regular_high")
                .attr("version", 0u64)
                .attr("return_snapshot", "false"),
        ])
        .await
        .remove(0);
    assert_eq!(first.attrs().optional_str("has_more_patches"), Some("true"));
    assert_eq!(
        first
            .child("patches")
            .map(|p| p.children_by_tag("patch").count()),
        Some(50)
    );
    a.apply_patches(&sim, "regular_high", &first)
        .await
        .expect("page 1");
    let rest = a.pull(&sim, "regular_high").await.expect("page 2");
    assert_eq!(rest.len(), 10);
    assert_eq!(a.states["regular_high"].0.version, 60);

    // Faults: a wrong patch MAC, then a wrong LTHash; each refused with nothing applied,
    // and the honest copy served next verifies.
    a.full_sync(&sim, "regular_low").await.expect("regular_low");
    // This round goes through the HTTP control API.
    for (fault, kind, i) in [
        (Fault::BadPatchMac, "bad_patch_mac", 0),
        (Fault::BadPatchLthash, "bad_patch_lthash", 1),
    ] {
        let before = a.states.get("regular_low").cloned();
        let (status, body) = http(
            &sim.control_url,
            "POST",
            &format!("/control/appstate/{OWNER}/mutation"),
            Some(&format!(
                r#"{{"action": "archive", "chat": "2010{:08}", "archived": true}}"#,
                30_000_000 + i
            )),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let version = before.as_ref().map_or(0, |b| b.0.version) + 1;
        assert_eq!(body["versions"]["regular_low"], version);
        server_sync(&mut a.conn).await;
        let (status, _) = http(
            &sim.control_url,
            "POST",
            "/control/fault",
            Some(&format!(r#"{{"kind": "{kind}"}}"#)),
        )
        .await;
        assert_eq!(status, 200);
        let refused = a.pull(&sim, "regular_low").await;
        match fault {
            Fault::BadPatchMac => assert!(
                matches!(refused, Err(AppStateError::PatchMacMismatch { .. })),
                "{refused:?}"
            ),
            _ => assert!(
                matches!(refused, Err(AppStateError::SnapshotMacMismatch { .. })),
                "{refused:?}"
            ),
        }
        assert_eq!(
            a.states.get("regular_low").cloned(),
            before,
            "nothing applied"
        );
        let got = a
            .pull(&sim, "regular_low")
            .await
            .expect("honest copy verifies");
        assert_eq!(got.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_share_is_sent_again_on_a_retry_receipt() {
    let sim = start().await;
    let mut a = companion(&sim, OWNER).await;
    let (share_id, first) = a.from_phone[0].clone();
    assert!(first.app_state_sync_key_share.is_some());
    // As if it had not decrypted: a retry receipt to the phone (part 2 §6.2).
    a.conn
        .send(
            &Node::new("receipt")
                .attr("id", share_id.clone())
                .attr("to", Jid::user(OWNER))
                .attr("type", "retry")
                .children([
                    Node::new("retry")
                        .attr("v", "1")
                        .attr("count", "1")
                        .attr("id", share_id.clone())
                        .attr("t", "1700000000"),
                    Node::new("registration").bytes(a.id.registration_id.to_be_bytes().to_vec()),
                ]),
        )
        .await;
    let again = loop {
        let (m, _) = a.conn.recv_tag("message").await;
        if m.attrs().optional_string("id").as_deref() == Some(share_id.as_str()) {
            break m;
        }
    };
    assert_eq!(again.attrs().optional_str("category"), Some("peer"));
    assert_eq!(a.phone_message(&again), first);
    // The phone's peer messages are not listed among what the account sent.
    assert!(sim.customer_sent(OWNER).expect("sent").is_empty());
}
