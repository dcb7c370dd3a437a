//! The receive decisions, without IO: a store in a map answers the core's loads.

use std::collections::{HashMap, HashSet};

use prost::Message as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::stanza::{self, MAX_RETRY_COUNT, Nack, RetryRequest};
use super::*;
use crate::binary::Value;
use crate::signal::{
    self, KeyPair, PreKeyBundle, PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord,
    WhisperMessage,
};

const PEER: &str = "201112223334@s.whatsapp.net";
const PEER_DEVICE: &str = "201112223334:3@s.whatsapp.net";
const GROUP: &str = "120363000000000001@g.us";
const NOW_MS: u64 = 1_700_000_000_123;

/// Our device and a peer device with a session to us, and a store in a map.
struct World {
    rng: ChaCha20Rng,
    core: Receiver,
    store: HashMap<RecordKey, Vec<u8>>,
    /// Every load the core asked for, in order.
    loads: Vec<RecordKey>,
    /// `None`: answer loads; `Some(key)`: fail that key.
    fail: Option<RecordKey>,
    peer_identity: KeyPair,
    /// The peer's session with us (it sends with it).
    peer_session: SessionRecord,
    local: LocalDevice,
}

fn jid(s: &str) -> Jid {
    s.parse().unwrap()
}

fn text(body: &str) -> Vec<u8> {
    e2e::Message {
        conversation: Some(body.into()),
        ..Default::default()
    }
    .encode_to_vec()
}

impl World {
    fn new() -> World {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let identity = KeyPair::generate(&mut rng);
        let spk = SignedPreKeyRecord::generate(1, &identity, 0, &mut rng);
        let opk = PreKeyRecord::generate(7, &mut rng);
        let local = LocalDevice {
            jid: Some(jid("201000000001:5@s.whatsapp.net")),
            lid: Some(jid("99000000001:5@lid")),
            registration_id: 4242,
            identity: identity.clone(),
            signed_prekey: spk.clone(),
        };
        let bundle = PreKeyBundle {
            registration_id: local.registration_id,
            identity_key: identity.public,
            signed_prekey_id: spk.id,
            signed_prekey: spk.key_pair.public,
            signed_prekey_signature: spk.signature,
            prekey: Some((opk.id, opk.key_pair.public)),
        };
        let peer_identity = KeyPair::generate(&mut rng);
        let mut peer_session = SessionRecord::new();
        peer_session
            .process_bundle(&peer_identity, 77, &bundle, None, &mut rng)
            .unwrap();
        let mut store = HashMap::new();
        store.insert(RecordKey::PreKey(7), opk.to_bytes());
        let mut core = Receiver::new(local.clone());
        // Announced available: plain delivery receipts (passive ones are `inactive`).
        core.set_active_receipts(true);
        World {
            rng,
            core,
            store,
            loads: Vec::new(),
            fail: None,
            peer_identity,
            peer_session,
            local,
        }
    }

    fn address() -> String {
        jid(PEER_DEVICE).signal_address()
    }

    /// The peer encrypts `plaintext` (padded) for us: `(enc type, ciphertext)`.
    fn seal(&mut self, plaintext: &[u8]) -> (&'static str, Vec<u8>) {
        let padded = signal::pad(plaintext, &mut self.rng);
        let sent = self.peer_session.encrypt(&padded).unwrap();
        (sent.enc_type(), sent.serialized().to_vec())
    }

    /// A 1:1 `<message>` from the peer device with one `<enc>`.
    fn stanza(id: &str, kind: &str, ciphertext: Vec<u8>) -> Node {
        Node::new("message")
            .attr("from", jid(PEER_DEVICE))
            .attr("id", id)
            .attr("type", "text")
            .attr("t", "1700000000")
            .attr("notify", "Mona")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", kind)
                .bytes(ciphertext)])
    }

    /// Feeds a stanza, answering loads; the other outputs, in order.
    fn feed(&mut self, node: Node) -> Vec<Output> {
        self.core
            .handle_message(node, NOW_MS, &mut self.rng)
            .unwrap();
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Load(key) => {
                    self.loads.push(key.clone());
                    let input = if self.fail.as_ref() == Some(&key) {
                        Input::LoadFailed(key)
                    } else if let RecordKey::LidMigration { pn, lid } = &key {
                        // The store moves the phone number's records to the LID.
                        self.migrate(pn, lid);
                        Input::Loaded(key, None)
                    } else if key == RecordKey::RetryKeys {
                        Input::RetryKeys(Node::new("keys").children([Node::new("type")]))
                    } else {
                        let value = self.store.get(&key).cloned();
                        Input::Loaded(key, value)
                    };
                    self.core.handle_input(input, &mut self.rng);
                }
                other => out.push(other),
            }
        }
        out
    }

    /// What a store's `migrate_pn_to_lid` does: the sessions and identities of `pn`'s
    /// devices move to `lid`'s.
    fn migrate(&mut self, pn: &str, lid: &str) {
        let from = format!("{pn}.");
        let moved: Vec<RecordKey> = self
            .store
            .keys()
            .filter(|k| matches!(k, RecordKey::Session(a) | RecordKey::Identity(a) if a.starts_with(&from)))
            .cloned()
            .collect();
        for key in moved {
            let value = self.store.remove(&key).unwrap();
            let renamed = |a: &str| format!("{lid}_1.{}", &a[from.len()..]);
            let key = match key {
                RecordKey::Session(a) => RecordKey::Session(renamed(&a)),
                RecordKey::Identity(a) => RecordKey::Identity(renamed(&a)),
                other => other,
            };
            self.store.insert(key, value);
        }
    }

    /// Ends the group and writes its commit to the store.
    fn commit(&mut self) -> Option<Changes> {
        self.core.finish().unwrap();
        let mut changes = None;
        while let Some(output) = self.core.poll_output() {
            let Output::Commit(c) = output else {
                panic!("only a commit after finish: {output:?}")
            };
            changes = Some(c);
        }
        if let Some(changes) = &changes {
            for d in &changes.decrypts {
                if let Some(session) = &d.session {
                    self.store
                        .insert(RecordKey::Session(d.address.clone()), session.clone());
                }
                if let Some(identity) = d.identity {
                    self.store
                        .insert(RecordKey::Identity(d.address.clone()), identity.to_vec());
                }
                if let Some(id) = d.consumed_prekey {
                    self.store.remove(&RecordKey::PreKey(id));
                }
                if let Some((group, sender, record)) = &d.sender_key {
                    let key = RecordKey::SenderKey {
                        group: group.clone(),
                        sender: sender.clone(),
                    };
                    self.store.insert(key, record.clone());
                }
                self.store
                    .insert(RecordKey::Plaintext(d.ciphertext_hash), d.plaintext.clone());
            }
            for (group, sender, record) in &changes.sender_keys {
                let key = RecordKey::SenderKey {
                    group: group.clone(),
                    sender: sender.clone(),
                };
                self.store.insert(key, record.clone());
            }
        }
        changes
    }

    /// The peer's first message (a pkmsg) decrypted and committed, and our answer decrypted
    /// by the peer, so its next message is a `msg`.
    fn establish(&mut self) {
        let (kind, ct) = self.seal(&text("first"));
        assert_eq!(kind, "pkmsg");
        self.feed(Self::stanza("FIRST", kind, ct));
        self.commit().unwrap();
        let address = Self::address();
        let mut ours =
            SessionRecord::from_bytes(&self.store[&RecordKey::Session(address.clone())]).unwrap();
        let reply = ours.encrypt(&signal::pad(b"x", &mut self.rng)).unwrap();
        self.store
            .insert(RecordKey::Session(address), ours.to_bytes());
        let reply = WhisperMessage::decode(reply.serialized()).unwrap();
        self.peer_session.decrypt(&reply, &mut self.rng).unwrap();
        self.loads.clear();
    }
}

fn attrs(node: &Node) -> Vec<(String, String)> {
    node.attrs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Text(t) => t.to_string(),
                Value::Jid(j) => j.to_string(),
            };
            (k.to_string(), v)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sends(outputs: &[Output]) -> Vec<&Node> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(node) => Some(node),
            _ => None,
        })
        .collect()
}

fn conversation(outputs: &[Output]) -> Option<String> {
    outputs.iter().find_map(|o| match o {
        Output::Deliver(Delivery::Message(m)) => m.message.conversation.clone(),
        _ => None,
    })
}

fn undecryptable(outputs: &[Output]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Deliver(Delivery::Undecryptable { .. })))
}

#[test]
fn pkmsg_with_a_prekey_decrypts_and_commits_session_identity_and_prekey() {
    let mut w = World::new();
    let (kind, ct) = w.seal(&text("hello"));
    let out = w.feed(World::stanza("A1", kind, ct));
    assert_eq!(conversation(&out).as_deref(), Some("hello"));
    // The delivery receipt is not sent: it waits for the application.
    assert!(sends(&out).is_empty());
    let Some(Output::Deliver(Delivery::Message(m))) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(
        attrs(&m.receipt),
        pairs(&[("id", "A1"), ("to", PEER_DEVICE)])
    );
    assert_eq!(m.info.chat, jid(PEER));
    assert_eq!(m.info.push_name.as_deref(), Some("Mona"));
    assert!(!m.info.from_me);
    let address = World::address();
    let asked: HashSet<_> = w.loads.iter().cloned().collect();
    assert!(asked.contains(&RecordKey::PreKey(7)));
    assert!(asked.contains(&RecordKey::Identity(address.clone())));
    assert!(asked.contains(&RecordKey::LidForPn("201112223334".into())));
    let changes = w.commit().unwrap();
    let [d] = changes.decrypts.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(d.consumed_prekey, Some(7));
    assert_eq!(d.identity, Some(*w.peer_identity.public.as_bytes()));
    assert!(d.session.is_some());
    assert_eq!(d.created_at, 1_700_000_000);
    assert_eq!(d.message_id, "A1");
    assert!(!w.store.contains_key(&RecordKey::PreKey(7)));
}

#[test]
fn msg_on_a_known_session_decrypts_without_reading_the_buffer() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&text("again"));
    assert_eq!(kind, "msg");
    let out = w.feed(World::stanza("A2", kind, ct));
    assert_eq!(conversation(&out).as_deref(), Some("again"));
    assert!(
        !w.loads.iter().any(|k| matches!(k, RecordKey::Plaintext(_))),
        "a msg is decrypted first: {:?}",
        w.loads
    );
    let changes = w.commit().unwrap();
    assert_eq!(changes.decrypts.len(), 1);
    assert_eq!(changes.decrypts[0].consumed_prekey, None);
}

#[test]
fn a_group_decrypts_each_message_against_the_ones_before() {
    let mut w = World::new();
    w.establish();
    let (k1, c1) = w.seal(&text("one"));
    let (k2, c2) = w.seal(&text("two"));
    let out1 = w.feed(World::stanza("G1", k1, c1));
    let loads = w.loads.len();
    let out2 = w.feed(World::stanza("G2", k2, c2));
    assert_eq!(conversation(&out1).as_deref(), Some("one"));
    assert_eq!(conversation(&out2).as_deref(), Some("two"));
    // The second used the first's uncommitted session: no session load.
    assert!(
        !w.loads[loads..]
            .iter()
            .any(|k| matches!(k, RecordKey::Session(_))),
        "{:?}",
        &w.loads[loads..]
    );
    assert_eq!(w.commit().unwrap().decrypts.len(), 2);
}

/// whatsmeow sends the keys with a first retry receipt only for a group message without the
/// sender key (message.go `isUnavailable`); a missing 1:1 session gets them from the second.
#[test]
fn missing_session_sends_a_retry_receipt_without_keys_then_acks() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&text("lost"));
    w.store.remove(&RecordKey::Session(World::address()));
    let out = w.feed(World::stanza("R1", kind, ct));
    assert!(undecryptable(&out));
    let sent = sends(&out);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (retry, ack) = (sent[0], sent[1]);
    assert_eq!(
        attrs(retry),
        pairs(&[("id", "R1"), ("to", PEER_DEVICE), ("type", "retry")])
    );
    let tags: Vec<&str> = retry.child_nodes().iter().map(|c| c.tag.as_str()).collect();
    assert_eq!(tags, ["retry", "registration"]);
    assert_eq!(
        attrs(retry.child("retry").unwrap()),
        pairs(&[
            ("v", "1"),
            ("count", "1"),
            ("id", "R1"),
            ("t", "1700000000")
        ])
    );
    assert_eq!(
        retry.child("registration").unwrap().content_bytes(),
        Some(&4242u32.to_be_bytes()[..])
    );
    assert!(!w.loads.contains(&RecordKey::RetryKeys));
    assert_eq!(
        attrs(ack),
        pairs(&[("class", "message"), ("id", "R1"), ("to", PEER_DEVICE)])
    );
    // The retry receipt reads back as what was sent.
    let parsed = RetryRequest::parse(
        &retry
            .clone()
            .attr("from", jid(PEER_DEVICE))
            .attr("t", "1700000999"),
    )
    .unwrap();
    assert_eq!((parsed.id.as_str(), parsed.count), ("R1", 1));
    assert!(parsed.keys.is_none());
    // The resend keeps the original message's time, which the `<retry>` names, not the
    // receipt's own (whatsmeow `retry.go`).
    assert_eq!(parsed.t.as_deref(), Some("1700000000"));
}

/// An `<enc type>` whatsmeow does not handle is skipped, not answered with a retry receipt
/// (message.go "Unhandled encrypted message"): a stanza with nothing else is receipted.
#[test]
fn an_unknown_enc_type_is_skipped_and_receipted() {
    let mut w = World::new();
    let out = w.feed(World::stanza("U1", "frmsg", vec![1, 2, 3]));
    assert!(!undecryptable(&out), "{out:?}");
    let sent = sends(&out);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].tag, "receipt");
    assert_ne!(sent[0].attrs().optional_str("type"), Some("retry"));
    assert!(!w.loads.contains(&RecordKey::RetryKeys));
}

/// A session that does not decrypt (not a missing one): the first retry goes without
/// keys, the next ones with them, and none after the limit; every copy is acked.
#[test]
fn retry_receipts_are_counted_per_message_and_stop_at_the_limit() {
    let mut w = World::new();
    w.establish();
    let (kind, mut ct) = w.seal(&text("bad mac"));
    let last = ct.len() - 1;
    ct[last] ^= 1;
    for count in 1..=MAX_RETRY_COUNT + 1 {
        w.loads.clear();
        let out = w.feed(World::stanza("R2", kind, ct.clone()));
        w.commit();
        assert!(undecryptable(&out), "copy {count}");
        let sent = sends(&out);
        let retry = sent
            .iter()
            .find(|n| n.attrs().optional_str("type") == Some("retry"));
        let ack = sent.iter().find(|n| n.tag == "ack");
        assert!(ack.is_some(), "copy {count} is acked");
        if count >= MAX_RETRY_COUNT {
            assert!(retry.is_none(), "no retry receipt numbered {count}");
            continue;
        }
        let retry = retry.unwrap_or_else(|| panic!("retry receipt {count}"));
        let numbered = retry.child("retry").unwrap().attrs().u64("count").unwrap();
        assert_eq!(numbered, u64::from(count));
        assert_eq!(
            retry.child("keys").is_some(),
            count >= stanza::KEYS_FROM_RETRY,
            "keys with retry {count}"
        );
        assert_eq!(w.loads.contains(&RecordKey::RetryKeys), count >= 2);
    }
}

#[test]
fn a_resend_after_a_restart_continues_the_retry_count() {
    let mut w = World::new();
    w.establish();
    let (kind, mut ct) = w.seal(&text("bad mac"));
    ct[5] ^= 1;
    let mut stanza = World::stanza("R3", kind, ct);
    // The sender answered our retry 2 (before we restarted).
    stanza.content = crate::binary::Content::Nodes(vec![
        stanza.child("enc").unwrap().clone().attr("count", "2"),
    ]);
    let out = w.feed(stanza);
    let retry = sends(&out)[0];
    assert_eq!(
        retry.child("retry").unwrap().attrs().u64("count").unwrap(),
        3
    );
}

#[test]
fn invalid_protobuf_is_nacked_491() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&[0xff, 0xff, 0xff]);
    let out = w.feed(World::stanza("P1", kind, ct));
    let sent = sends(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        attrs(sent[0]),
        pairs(&[
            ("class", "message"),
            ("id", "P1"),
            ("to", PEER_DEVICE),
            ("error", "491")
        ])
    );
    assert!(undecryptable(&out));
}

#[test]
fn stanzas_without_enc_are_nacked_or_unavailable() {
    let mut w = World::new();
    // Neither <enc> nor <unavailable>: 488; a group message without a participant: 487;
    // no id: nothing to answer.
    let out = w.feed(
        Node::new("message")
            .attr("from", jid(PEER))
            .attr("id", "N1"),
    );
    assert_eq!(sends(&out)[0].attrs().str("error").unwrap(), "488");
    let out = w.feed(
        Node::new("message")
            .attr("from", jid(GROUP))
            .attr("id", "N2")
            .children([Node::new("enc").attr("type", "skmsg").bytes(vec![1])]),
    );
    assert_eq!(sends(&out)[0].attrs().str("error").unwrap(), "487");
    assert!(
        w.feed(Node::new("message").attr("from", jid(PEER)))
            .is_empty()
    );
    // A bot's msmsg: 495.
    let out = w.feed(
        Node::new("message")
            .attr("from", jid(PEER))
            .attr("id", "N3")
            .children([Node::new("enc").attr("type", "msmsg").bytes(vec![1])]),
    );
    assert_eq!(
        sends(&out)[0].attrs().str("error").unwrap(),
        Nack::MissingMessageSecret.code().to_string()
    );
    // `<unavailable>`: a view-once placeholder keeps its ack for the application; any
    // other is acked at once.
    let unavailable = |kind: &str| {
        Node::new("message")
            .attr("from", jid(PEER))
            .attr("id", "U1")
            .children([Node::new("unavailable").attr("type", kind)])
    };
    let out = w.feed(unavailable("view_once"));
    assert!(sends(&out).is_empty());
    assert!(matches!(
        out.as_slice(),
        [Output::Deliver(Delivery::Unavailable {
            deferred_ack: Some(_),
            ..
        })]
    ));
    let out = w.feed(unavailable("hosted"));
    assert_eq!(sends(&out)[0].tag, "ack");
    assert!(matches!(
        out.last(),
        Some(Output::Deliver(Delivery::Unavailable {
            deferred_ack: None,
            ..
        }))
    ));
    assert!(w.commit().is_none());
}

#[test]
fn a_duplicate_is_answered_from_the_buffer_or_else_only_receipted() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&text("once"));
    let stanza = World::stanza("D1", kind, ct);
    assert_eq!(
        conversation(&w.feed(stanza.clone())).as_deref(),
        Some("once")
    );
    w.commit();
    // Redelivered after the commit: the stored plaintext is handed over again.
    let out = w.feed(stanza.clone());
    assert_eq!(conversation(&out).as_deref(), Some("once"));
    assert!(w.commit().is_none(), "nothing decrypted twice");
    // The buffer forgot it: a duplicate, receipted and nothing more.
    w.store.retain(|k, _| !matches!(k, RecordKey::Plaintext(_)));
    let out = w.feed(stanza);
    assert!(!undecryptable(&out));
    assert!(matches!(
        out.last(),
        Some(Output::Deliver(Delivery::Consumed(_)))
    ));
    assert_eq!(
        attrs(sends(&out)[0]),
        pairs(&[("id", "D1"), ("to", PEER_DEVICE)])
    );
}

/// A group message from the peer, sealed under its sender key.
fn group_stanza(id: &str, sender_key: &mut SenderKeyRecord, rng: &mut ChaCha20Rng) -> Node {
    let padded = signal::pad(&text("to the group"), rng);
    let sealed = sender_key.encrypt(&padded, rng).unwrap();
    Node::new("message")
        .attr("from", jid(GROUP))
        .attr("participant", jid(PEER_DEVICE))
        .attr("id", id)
        .attr("t", "1700000000")
        .children([Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(sealed.serialized().to_vec())])
}

#[test]
fn group_skmsg_with_and_without_the_sender_key() {
    let mut w = World::new();
    let mut peer_key = SenderKeyRecord::new();
    let distribution = peer_key.create_distribution_message(&mut w.rng);
    // Without the sender key: a retry receipt with keys (the first one already).
    let out = w.feed(group_stanza("S1", &mut peer_key, &mut w.rng.clone()));
    let retry = sends(&out)[0];
    assert_eq!(
        attrs(retry),
        pairs(&[
            ("id", "S1"),
            ("to", GROUP),
            ("type", "retry"),
            ("participant", PEER_DEVICE)
        ])
    );
    assert!(retry.child("keys").is_some());
    assert!(undecryptable(&out));
    // With it: delivered, its receipt routed to the participant.
    let mut ours = SenderKeyRecord::new();
    ours.process_distribution_message(&distribution);
    w.store.insert(
        RecordKey::SenderKey {
            group: GROUP.into(),
            sender: World::address(),
        },
        ours.to_bytes(),
    );
    w.commit();
    let mut rng = w.rng.clone();
    let out = w.feed(group_stanza("S2", &mut peer_key, &mut rng));
    let Some(Output::Deliver(Delivery::Message(m))) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(m.message.conversation.as_deref(), Some("to the group"));
    assert_eq!(m.info.chat, jid(GROUP));
    assert_eq!(
        attrs(&m.receipt),
        pairs(&[("id", "S2"), ("to", GROUP), ("participant", PEER_DEVICE)])
    );
    let changes = w.commit().unwrap();
    assert!(changes.decrypts[0].sender_key.is_some());
}

/// A message carrying only the peer's sender key for the group.
fn distribution_message(distribution: &signal::SenderKeyDistributionMessage) -> Vec<u8> {
    e2e::Message {
        sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
            group_id: Some(GROUP.into()),
            axolotl_sender_key_distribution_message: Some(distribution.serialized().to_vec()),
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn a_distribution_in_a_pkmsg_opens_the_skmsg_beside_it() {
    let mut w = World::new();
    let mut peer_key = SenderKeyRecord::new();
    let distribution = peer_key.create_distribution_message(&mut w.rng);
    let skdm = distribution_message(&distribution);
    let (kind, ct) = w.seal(&skdm);
    let mut rng = w.rng.clone();
    let mut stanza = group_stanza("K1", &mut peer_key, &mut rng);
    let skmsg = stanza.child("enc").unwrap().clone();
    stanza.content = crate::binary::Content::Nodes(vec![
        Node::new("enc").attr("v", "2").attr("type", kind).bytes(ct),
        skmsg,
    ]);
    let out = w.feed(stanza);
    assert_eq!(conversation(&out).as_deref(), Some("to the group"));
    let changes = w.commit().unwrap();
    assert_eq!(changes.decrypts.len(), 2);
    assert_eq!(changes.sender_keys.len(), 1);
    assert_eq!(changes.sender_keys[0].0, GROUP);
}

#[test]
fn a_distribution_alone_is_receipted_and_consumed() {
    let mut w = World::new();
    let mut peer_key = SenderKeyRecord::new();
    let distribution = peer_key.create_distribution_message(&mut w.rng);
    let skdm = distribution_message(&distribution);
    let (kind, ct) = w.seal(&skdm);
    let out = w.feed(World::stanza("K2", kind, ct));
    assert!(matches!(
        out.last(),
        Some(Output::Deliver(Delivery::Consumed(_)))
    ));
    assert_eq!(sends(&out)[0].tag, "receipt");
}

#[test]
fn a_store_failure_leaves_the_message_unacknowledged() {
    let mut w = World::new();
    let (kind, ct) = w.seal(&text("later"));
    w.fail = Some(RecordKey::PreKey(7));
    let out = w.feed(World::stanza("F1", kind, ct.clone()));
    assert!(
        matches!(out.as_slice(), [Output::Unacknowledged { id, .. }] if id == "F1"),
        "{out:?}"
    );
    assert!(w.commit().is_none());
    // The redelivery decrypts once the store answers.
    w.fail = None;
    let out = w.feed(World::stanza("F1", kind, ct));
    assert_eq!(conversation(&out).as_deref(), Some("later"));
}

#[test]
fn the_core_takes_one_message_at_a_time_and_names_the_alternate_address() {
    let mut w = World::new();
    let (kind, ct) = w.seal(&text("x"));
    let stanza = World::stanza("B1", kind, ct).attr("sender_lid", jid("5550001:3@lid"));
    w.core
        .handle_message(stanza.clone(), NOW_MS, &mut w.rng)
        .unwrap();
    let Some(Output::Load(key)) = w.core.poll_output() else {
        panic!("a load first")
    };
    assert_eq!(
        w.core.handle_message(stanza, NOW_MS, &mut w.rng.clone()),
        Err(Busy("B1".into()))
    );
    let value = w.store.get(&key).cloned();
    w.core.handle_input(Input::Loaded(key, value), &mut w.rng);
    let out = w.drain();
    let Some(Output::Deliver(Delivery::Message(m))) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(m.info.sender_alt, Some(jid("5550001@lid")));
    let changes = w.commit().unwrap();
    assert_eq!(
        changes.lid_mappings,
        vec![("5550001".to_owned(), "201112223334".to_owned())]
    );
}

#[test]
fn our_own_devices_messages_get_a_sender_receipt() {
    let w = World::new();
    let node = Node::new("message")
        .attr("from", jid("201000000001:2@s.whatsapp.net"))
        .attr("recipient", jid(PEER))
        .attr("id", "O1");
    let receipt = stanza::delivery_receipt(
        &node,
        w.local.is_own(&jid("201000000001:2@s.whatsapp.net")),
        false,
    )
    .unwrap();
    assert_eq!(
        attrs(&receipt),
        pairs(&[
            ("id", "O1"),
            ("to", "201000000001:2@s.whatsapp.net"),
            ("recipient", PEER),
            ("type", "sender")
        ])
    );
    let peer = node.attr("category", "peer");
    let receipt = stanza::delivery_receipt(&peer, true, false).unwrap();
    assert_eq!(receipt.attrs().str("type").unwrap(), "peer_msg");
    // A customer's message: `inactive` while passive, plain once active (whatsmeow
    // `sendMessageReceipt`).
    let theirs = Node::new("message")
        .attr("from", jid(PEER))
        .attr("id", "C1");
    let passive = stanza::delivery_receipt(&theirs, false, false).unwrap();
    assert_eq!(passive.attrs().str("type").unwrap(), "inactive");
    let active = stanza::delivery_receipt(&theirs, false, true).unwrap();
    assert_eq!(active.attrs().optional_str("type"), None);
    // Acks of other stanzas keep their type; a message's does not.
    let read = Node::new("receipt")
        .attr("from", jid(PEER))
        .attr("id", "X")
        .attr("type", "read");
    assert_eq!(
        stanza::ack(&read, None)
            .unwrap()
            .attrs()
            .str("type")
            .unwrap(),
        "read"
    );
}

/// A phone-number sender whose LID the stanza names (`sender_lid`) is decrypted with the
/// session kept under the LID, its phone-number records moved there first (whatsmeow
/// message.go `decryptMessages`), and the advanced session is committed under the LID.
#[test]
fn a_phone_number_sender_with_a_known_lid_decrypts_with_the_lid_session() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&text("by number, mapped"));
    assert_eq!(kind, "msg");
    let out = w.feed(World::stanza("L1", kind, ct).attr("sender_lid", jid("77@lid")));
    assert_eq!(
        conversation(&out).as_deref(),
        Some("by number, mapped"),
        "{out:?}"
    );
    let migration = RecordKey::LidMigration {
        pn: "201112223334".into(),
        lid: "77".into(),
    };
    let at = w.loads.iter().position(|k| *k == migration).expect("moved");
    assert_eq!(
        w.loads[at + 1..].first(),
        Some(&RecordKey::Session("77_1.3".into())),
        "{:?}",
        w.loads
    );
    let changes = w.commit().unwrap();
    assert_eq!(changes.decrypts[0].address, "77_1.3");
    assert_eq!(
        changes.lid_mappings,
        vec![("77".to_owned(), "201112223334".to_owned())]
    );
    assert!(!w.store.contains_key(&RecordKey::Session(World::address())));
}

/// Within one group, a message decrypted under the phone number before the LID was known
/// is moved with the rest: the group's commit writes the newest session under the LID only.
#[test]
fn a_group_moves_its_own_uncommitted_phone_number_state_to_the_lid() {
    let mut w = World::new();
    w.establish();
    let (kind, ct) = w.seal(&text("before"));
    let first = w.feed(World::stanza("G1", kind, ct));
    assert_eq!(conversation(&first).as_deref(), Some("before"));
    let (kind, ct) = w.seal(&text("after"));
    let second = w.feed(World::stanza("G2", kind, ct).attr("sender_lid", jid("77@lid")));
    assert_eq!(
        conversation(&second).as_deref(),
        Some("after"),
        "{second:?}"
    );
    let changes = w.commit().unwrap();
    let addresses: Vec<&str> = changes
        .decrypts
        .iter()
        .map(|d| d.address.as_str())
        .collect();
    assert_eq!(addresses, ["77_1.3", "77_1.3"]);
    assert!(!w.store.contains_key(&RecordKey::Session(World::address())));
    // The next message decrypts against what the group committed under the LID.
    let (kind, ct) = w.seal(&text("next"));
    let third = w.feed(World::stanza("G3", kind, ct).attr("sender_lid", jid("77@lid")));
    assert_eq!(conversation(&third).as_deref(), Some("next"), "{third:?}");
}

/// Only a phone-number sender that is not a bot has its records moved to its LID (whatsmeow
/// message.go `decryptMessages`): a bot number and a `@bot` sender are each decrypted under
/// their own address, and nothing moves.
#[test]
fn only_a_phone_number_sender_that_is_no_bot_moves_to_its_lid() {
    let cases = [
        (
            "13135550002@s.whatsapp.net",
            "sender_lid",
            "77@lid",
            "13135550002.0",
        ),
        (
            "867051314767696@bot",
            "sender_lid",
            "77@lid",
            "867051314767696.0",
        ),
    ];
    for (from, key, alt, address) in cases {
        let mut w = World::new();
        let node = Node::new("message")
            .attr("from", jid(from))
            .attr(key, jid(alt))
            .attr("id", "B1")
            .attr("type", "text")
            .attr("t", "1700000000")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(vec![0x33; 40])]);
        w.feed(node);
        assert!(
            !w.loads
                .iter()
                .any(|k| matches!(k, RecordKey::LidMigration { .. })),
            "{from}: {:?}",
            w.loads
        );
        assert!(
            w.loads.contains(&RecordKey::Session(address.into())),
            "{from}: {:?}",
            w.loads
        );
    }
    // A companion device of a bot-looking number is no bot (whatsmeow `IsBot` wants device 0).
    let mut w = World::new();
    let node = Node::new("message")
        .attr("from", jid("13135550002:2@s.whatsapp.net"))
        .attr("sender_lid", jid("77@lid"))
        .attr("id", "B2")
        .children([Node::new("enc")
            .attr("v", "2")
            .attr("type", "msg")
            .bytes(vec![0x33; 40])]);
    w.feed(node);
    assert!(
        w.loads.contains(&RecordKey::LidMigration {
            pn: "13135550002".into(),
            lid: "77".into()
        }),
        "{:?}",
        w.loads
    );
}

/// A phone-number sender whose LID is known and whose identity changed is reported under
/// the LID device its records are kept at, not the phone number the stanza came from.
#[test]
fn a_changed_identity_is_reported_under_the_lid_it_was_decrypted_under() {
    let mut w = World::new();
    let old = KeyPair::generate(&mut w.rng);
    w.store.insert(
        RecordKey::Identity("77_1.3".into()),
        old.public.as_bytes().to_vec(),
    );
    let (kind, ct) = w.seal(&text("reinstalled"));
    assert_eq!(kind, "pkmsg");
    let out = w.feed(World::stanza("R1", kind, ct).attr("sender_lid", jid("77@lid")));
    assert_eq!(
        conversation(&out).as_deref(),
        Some("reinstalled"),
        "{out:?}"
    );
    let changed: Vec<&Jid> = out
        .iter()
        .filter_map(|o| match o {
            Output::Deliver(Delivery::IdentityChanged(jid)) => Some(jid),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [&jid("77:3@lid")], "{out:?}");
}

/// A key distribution from a phone-number sender whose LID is known is kept under the LID
/// address its session is decrypted with (`opened` takes the encryption address).
#[test]
fn a_distribution_from_a_mapped_sender_is_kept_under_its_lid() {
    let mut w = World::new();
    let mut sender_key = SenderKeyRecord::new();
    let distribution = sender_key.create_distribution_message(&mut w.rng);
    let (kind, ct) = w.seal(&distribution_message(&distribution));
    let node = Node::new("message")
        .attr("from", jid(GROUP))
        .attr("participant", jid(PEER_DEVICE))
        .attr("participant_lid", jid("77@lid"))
        .attr("id", "D1")
        .attr("type", "text")
        .children([Node::new("enc").attr("v", "2").attr("type", kind).bytes(ct)]);
    w.feed(node);
    let changes = w.commit().unwrap();
    let senders: Vec<&str> = changes
        .sender_keys
        .iter()
        .map(|(_, sender, _)| sender.as_str())
        .collect();
    assert_eq!(senders, ["77_1.3"], "{changes:?}");
}
