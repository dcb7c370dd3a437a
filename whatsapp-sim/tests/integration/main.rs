//! Scenario tests: a raw client (whatsapp-proto pieces, not whatsapp-client) drives the sim over
//! real loopback WebSockets.

mod appstate;
mod client;
mod history;
mod key_index;
mod stanzas;

use std::time::Duration;

use client::{Conn, Identity};
use prost::Message as _;
use rand::rngs::OsRng;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::{
    self, PreKeyWhisperMessage, ResponderKeys, SessionRecord, WhisperMessage,
};
use whatsapp_proto::stanza::keys::KeyBundle;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::testing::poll_until;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

const OWNER: &str = "201001234567";
const CUSTOMER: &str = "201112223334";

async fn start() -> SimHandle {
    Sim::start(SimConfig::default()).await.expect("sim starts")
}

/// A sim whose phones do not bootstrap new companions (no key share or history), for tests
/// that count exactly what reaches a companion's queue.
async fn start_silent() -> SimHandle {
    Sim::start(SimConfig {
        phone_bootstrap: false,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

/// QR pairing up to the 515 restart.
async fn pair(sim: &SimHandle, phone: &str) -> Identity {
    let mut id = Identity::new();
    let mut conn = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.registration_payload(),
    )
    .await;
    let pair_device = conn.recv().await;
    assert_eq!(pair_device.tag, "iq");
    assert_eq!(
        pair_device.attrs().jid("from").expect("from"),
        Jid::server_jid()
    );
    let refs: Vec<String> = pair_device
        .child("pair-device")
        .expect("pair-device")
        .children_by_tag("ref")
        .map(|r| String::from_utf8(r.content_bytes().expect("bytes").to_vec()).expect("utf8"))
        .collect();
    assert_eq!(refs.len(), 6);
    conn.send(
        &Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("id", pair_device.attrs().string("id").expect("id"))
            .attr("type", "result"),
    )
    .await;
    let qr = id.qr(&refs[0]);
    let scanner = sim.clone();
    let phone = phone.to_owned();
    let scan = tokio::spawn(async move { scanner.scan(&qr, &phone).await });
    let success = conn.recv().await;
    assert!(success.child("pair-success").is_some(), "{success:?}");
    let reply = id.answer_pair_success(&success, false);
    conn.send(&reply).await;
    conn.send(&Node::new("ib").children([Node::new("unified_session").attr("id", "123")]))
        .await;
    let jid = scan.await.expect("join").expect("scan succeeds");
    assert_eq!(Some(&jid), id.jid.as_ref());
    let restart = conn.recv().await;
    assert_eq!(restart.tag, "stream:error");
    assert_eq!(
        restart.attrs().optional_string("code").as_deref(),
        Some("515")
    );
    assert!(conn.closed().await);
    id
}

async fn login(sim: &SimHandle, id: &Identity) -> Conn {
    let mut conn = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.login_payload(),
    )
    .await;
    let success = conn.recv().await;
    assert_eq!(success.tag, "success", "{success:?}");
    conn
}

/// Login, prekey upload, `<active/>`; returns the nodes that arrived after `<active/>`
/// up to the end-of-offline marker.
async fn login_active(sim: &SimHandle, id: &Identity) -> (Conn, Vec<Node>) {
    let mut conn = login(sim, id).await;
    let upload_id = conn.next_id();
    let r = conn.iq(id.prekey_upload(&upload_id)).await;
    assert_eq!(r.attrs().optional_string("type").as_deref(), Some("result"));
    let active_id = conn.next_id();
    let active = Node::new("iq")
        .attr("id", active_id)
        .attr("xmlns", "passive")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("active")]);
    conn.send(&active).await;
    let mut nodes = Vec::new();
    loop {
        let node = conn.recv().await;
        if node.tag == "ib" && node.child("offline").is_some() {
            nodes.push(node);
            return (conn, nodes);
        }
        nodes.push(node);
    }
}

fn decrypt_incoming(id: &mut Identity, message: &Node) -> e2e::Message {
    let from = message.attrs().jid("from").expect("from");
    let enc = message.child("enc").expect("enc");
    let bytes = enc.content_bytes().expect("bytes");
    let address = from.signal_address();
    let mut rng = OsRng;
    let record = id.sessions.entry(address).or_default();
    let padded = match enc.attrs().optional_string("type").as_deref() {
        Some("pkmsg") => {
            let pkmsg = PreKeyWhisperMessage::decode(bytes).expect("pkmsg");
            let one_time = id.prekeys.iter().find(|k| Some(k.id) == pkmsg.pre_key_id());
            let keys = ResponderKeys {
                identity: &id.identity,
                registration_id: id.registration_id,
                signed_prekey: Some(&id.spk),
                one_time_prekey: one_time,
                stored_identity: None,
            };
            record
                .decrypt_prekey(&pkmsg, &keys, &mut rng)
                .expect("pkmsg decrypts")
                .plaintext
        }
        _ => record
            .decrypt(&WhisperMessage::decode(bytes).expect("msg"), &mut rng)
            .expect("msg decrypts"),
    };
    e2e::Message::decode(signal::unpad(&padded).expect("padding")).expect("Message")
}

fn receipt_for(message: &Node) -> Node {
    Node::new("receipt")
        .attr("id", message.attrs().string("id").expect("id"))
        .attr("to", message.attrs().jid("from").expect("from"))
}

#[tokio::test]
async fn bad_intro_is_refused() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let sim = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(&sim.ws_url)
        .await
        .expect("connect");
    ws.send(Message::Binary(
        b"XX\x06\x03\x00\x00\x01\x00".to_vec().into(),
    ))
    .await
    .expect("send");
    let mut decoder = whatsapp_proto::frame::FrameDecoder::new();
    assert!(client::read_frame(&mut ws, &mut decoder).await.is_none());
}

#[tokio::test]
async fn unknown_device_login_gets_401() {
    let sim = start().await;
    let mut id = Identity::new();
    id.jid = Some(Jid::user(OWNER).with_device(3));
    let mut conn = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.login_payload(),
    )
    .await;
    let failure = conn.recv().await;
    assert_eq!(failure.tag, "failure");
    assert_eq!(
        failure.attrs().optional_string("reason").as_deref(),
        Some("401")
    );
    assert!(conn.closed().await);
}

#[tokio::test]
async fn qr_pairing_login_replace_and_remove() {
    let sim = start().await;
    let id = pair(&sim, OWNER).await;
    let devices = sim.devices();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].phone, OWNER);
    assert_eq!(
        devices[0].devices[0].jid,
        format!("{OWNER}:1@s.whatsapp.net")
    );
    let mut first = login(&sim, &id).await;
    // The routing info from <ib><edge_routing> goes before the intro next time (part 1 §1.3).
    let (edge, _) = first.recv_tag("ib").await;
    let routing = edge
        .path(&["edge_routing", "routing_info"])
        .and_then(Node::content_bytes)
        .expect("routing info")
        .to_vec();

    let ping_id = first.next_id();
    let pong = first
        .iq(Node::new("iq")
            .attr("id", ping_id)
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", Jid::server_jid()))
        .await;
    assert_eq!(
        pong.attrs().optional_string("type").as_deref(),
        Some("result")
    );
    assert!(sim.devices()[0].devices[0].online);
    // A second connection for the same device replaces the first.
    let mut second = Conn::connect_routed(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.login_payload(),
        Some(&routing),
    )
    .await;
    assert_eq!(second.recv().await.tag, "success");
    let (replaced, _) = first.recv_tag("stream:error").await;
    assert_eq!(
        replaced
            .child("conflict")
            .and_then(|c| c.attrs().optional_string("type"))
            .as_deref(),
        Some("replaced")
    );
    // The phone unlinks the companion.
    sim.remove_device(&format!("{OWNER}:1@s.whatsapp.net"))
        .expect("remove");
    let (removed, _) = second.recv_tag("stream:error").await;
    assert_eq!(
        removed.attrs().optional_string("code").as_deref(),
        Some("401")
    );
    let mut again = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.login_payload(),
    )
    .await;
    let failure = again.recv().await;
    assert_eq!(
        failure.attrs().optional_string("reason").as_deref(),
        Some("401")
    );
}

#[tokio::test]
async fn bad_device_signature_fails_pairing() {
    let sim = start().await;
    let mut id = Identity::new();
    let mut conn = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.registration_payload(),
    )
    .await;
    let pair_device = conn.recv().await;
    let reference = String::from_utf8(
        pair_device
            .path(&["pair-device", "ref"])
            .and_then(Node::content_bytes)
            .expect("ref")
            .to_vec(),
    )
    .expect("utf8");
    let qr = id.qr(&reference);
    let scanner = sim.clone();
    let scan = tokio::spawn(async move { scanner.scan(&qr, OWNER).await });
    let success = conn.recv().await;
    let reply = id.answer_pair_success(&success, true);
    conn.send(&reply).await;
    assert!(scan.await.expect("join").is_err());
    assert!(sim.devices().is_empty());
    // A QR whose noise key does not belong to the connection holding the ref is refused.
    let other = Identity::new();
    assert!(sim.scan(&other.qr(&reference), OWNER).await.is_err());
}

#[tokio::test]
async fn prekeys_usync_and_messages_both_ways() {
    let sim = start_silent().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, offline) = login_active(&sim, &id).await;
    assert_eq!(
        offline
            .last()
            .and_then(|n| n.child("offline"))
            .and_then(|o| o.attrs().optional_string("count"))
            .as_deref(),
        Some("0")
    );
    let count_id = conn.next_id();
    let count = conn
        .iq(Node::new("iq")
            .attr("id", count_id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .attr("to", Jid::server_jid())
            .children([Node::new("count")]))
        .await;
    assert_eq!(
        count
            .child("count")
            .and_then(|c| c.attrs().optional_string("value"))
            .as_deref(),
        Some("30")
    );

    // A customer writes: pkmsg from its phone to the companion.
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let sent_id = sim
        .customer_send(
            CUSTOMER,
            OWNER,
            Outgoing::Text("hello pharmacy".into()),
            None,
        )
        .expect("send");
    let (message, before) = conn.recv_tag("message").await;
    assert_eq!(message.attrs().string("id").expect("id"), sent_id);
    assert_eq!(
        message
            .child("enc")
            .and_then(|e| e.attrs().optional_string("type"))
            .as_deref(),
        Some("pkmsg")
    );
    assert!(
        message.attrs().optional_string("sender_lid").is_some(),
        "PN-addressed messages carry the sender's LID"
    );
    let text = decrypt_incoming(&mut id, &message);
    assert_eq!(text.conversation.as_deref(), Some("hello pharmacy"));
    // The customer issued its trusted-contact token (part 2 §4.7) with its first message.
    let token = before
        .into_iter()
        .find(|n| n.tag == "notification")
        .expect("privacy token notification");
    assert_eq!(token.attrs().optional_str("type"), Some("privacy_token"));
    assert_eq!(
        token
            .path(&["tokens", "token"])
            .and_then(Node::content_bytes)
            .map(<[u8]>::len),
        Some(32)
    );
    conn.send(
        &Node::new("ack")
            .attr("class", "notification")
            .attr("id", token.attrs().string("id").expect("id"))
            .attr("to", token.attrs().jid("from").expect("from"))
            .attr("type", "privacy_token"),
    )
    .await;
    conn.send(&receipt_for(&message)).await;
    poll_until("the expected sim state", async || {
        let sent = sim.customer_sent(CUSTOMER).ok()?;
        (sent[0].status == "delivered").then_some(())
    })
    .await;
    poll_until("the expected sim state", async || {
        (sim.devices()[0].devices[0].offline_queue == 0).then_some(())
    })
    .await;
    // The server drew one of our prekeys.
    let count_id = conn.next_id();
    let count = conn
        .iq(Node::new("iq")
            .attr("id", count_id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .attr("to", Jid::server_jid())
            .children([Node::new("count")]))
        .await;
    assert_eq!(
        count
            .child("count")
            .and_then(|c| c.attrs().optional_string("value"))
            .as_deref(),
        Some("29")
    );

    // The companion replies: usync both accounts, fetch bundles, encrypt, send.
    let usync = key_index::usync(&mut conn, &[Jid::user(CUSTOMER), Jid::user(OWNER)], true).await;
    let mut targets = Vec::new();
    for user in usync
        .path(&["usync", "list"])
        .expect("list")
        .children_by_tag("user")
    {
        let jid = user.attrs().jid("jid").expect("jid");
        assert!(user.child("lid").is_some());
        for d in user
            .path(&["devices", "device-list"])
            .expect("device-list")
            .children_by_tag("device")
        {
            let dev: u16 = d.attrs().u64("id").expect("id") as u16;
            let device_jid = jid.clone().with_device(dev);
            if Some(&device_jid) != id.jid.as_ref() {
                targets.push(device_jid);
            }
        }
    }
    targets.sort();
    assert_eq!(targets, vec![Jid::user(OWNER), Jid::user(CUSTOMER)]);
    // Bundles for devices without a session (the owner's phone).
    let key_id = conn.next_id();
    let bundles = conn
        .iq(Node::new("iq")
            .attr("id", key_id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .attr("to", Jid::server_jid())
            .children([Node::new("key").children([Node::new("user")
                .attr("jid", Jid::user(OWNER))
                .attr("reason", "identity")])]))
        .await;
    let user = bundles.path(&["list", "user"]).expect("user");
    let bundle = KeyBundle::parse(user).expect("bundle").to_signal();
    let mut rng = OsRng;
    let mut own_phone = SessionRecord::new();
    own_phone
        .process_bundle(&id.identity, id.registration_id, &bundle, None, &mut rng)
        .expect("bundle");
    let reply = e2e::Message {
        conversation: Some("how can we help?".into()),
        ..Default::default()
    };
    let dsm = e2e::Message {
        device_sent_message: Some(Box::new(e2e::DeviceSentMessage {
            destination_jid: Some(format!("{CUSTOMER}@s.whatsapp.net")),
            message: Some(Box::new(reply.clone())),
            phash: None,
        })),
        ..Default::default()
    };
    let customer_address = Jid::user(CUSTOMER).signal_address();
    let to_customer = id
        .sessions
        .get_mut(&customer_address)
        .expect("session from the pkmsg")
        .encrypt(&signal::pad(&reply.encode_to_vec(), &mut rng))
        .expect("encrypt");
    let to_phone = own_phone
        .encrypt(&signal::pad(&dsm.encode_to_vec(), &mut rng))
        .expect("encrypt");
    let enc = |m: &signal::CiphertextMessage| {
        Node::new("enc")
            .attr("v", "2")
            .attr("type", m.enc_type())
            .bytes(m.serialized().to_vec())
    };
    let reply_id = "3EB0AABBCCDDEEFF001122".to_owned();
    conn.send(
        &Node::new("message")
            .attr("to", Jid::user(CUSTOMER))
            .attr("id", reply_id.clone())
            .attr("type", "text")
            .children([
                Node::new("participants").children([
                    Node::new("to")
                        .attr("jid", Jid::user(CUSTOMER))
                        .children([enc(&to_customer)]),
                    Node::new("to")
                        .attr("jid", Jid::user(OWNER))
                        .children([enc(&to_phone)]),
                ]),
                Node::new("device-identity").bytes(id.account.clone().expect("account")),
            ]),
    )
    .await;
    let (ack, _) = conn.recv_tag("ack").await;
    assert_eq!(
        ack.attrs().optional_string("id").as_deref(),
        Some(reply_id.as_str())
    );
    assert_eq!(
        ack.attrs().optional_string("class").as_deref(),
        Some("message")
    );
    assert!(ack.attrs().optional_string("error").is_none());
    assert!(
        ack.attrs().optional_string("phash").is_none(),
        "full device list: no phash"
    );
    let inbox = poll_until("the expected sim state", async || {
        let inbox = sim.customer_inbox(CUSTOMER).ok()?;
        (!inbox.is_empty()).then_some(inbox)
    })
    .await;
    assert_eq!(inbox[0].text.as_deref(), Some("how can we help?"));
    assert_eq!(inbox[0].id, reply_id);
    let phone_inbox = sim.customer_inbox(OWNER).expect("owner phone");
    let dsm_entry = phone_inbox
        .iter()
        .find(|e| e.id == reply_id)
        .expect("the phone got the DSM");
    assert!(dsm_entry.from_me);
    assert_eq!(
        dsm_entry.destination.as_deref(),
        Some(format!("{CUSTOMER}@s.whatsapp.net").as_str())
    );
    assert_eq!(dsm_entry.text.as_deref(), Some("how can we help?"));
    // Delivery receipts from both devices come back.
    let (r1, _) = conn.recv_tag("receipt").await;
    let (r2, _) = conn.recv_tag("receipt").await;
    let kinds: Vec<Option<String>> = [r1, r2]
        .iter()
        .map(|r| r.attrs().optional_string("type"))
        .collect();
    // The customer's delivery: plain, or `inactive` from a client not yet available.
    assert!(
        (kinds.contains(&None) || kinds.contains(&Some("inactive".into())))
            && kinds.contains(&Some("sender".into())),
        "{kinds:?}"
    );
    // Read receipt from the customer.
    sim.customer_read(CUSTOMER, std::slice::from_ref(&reply_id))
        .expect("read");
    let (read, _) = conn.recv_tag("receipt").await;
    assert_eq!(
        read.attrs().optional_string("type").as_deref(),
        Some("read")
    );

    // Presence: subscribe, then the customer goes offline.
    conn.send(
        &Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", Jid::user(CUSTOMER)),
    )
    .await;
    let (online, _) = conn.recv_tag("presence").await;
    assert_eq!(online.attrs().optional_str("type"), None);
    sim.customer_presence(CUSTOMER, false).expect("presence");
    let (offline, _) = conn.recv_tag("presence").await;
    assert_eq!(offline.attrs().optional_str("type"), Some("unavailable"));
    assert!(
        offline
            .attrs()
            .optional_u64("last")
            .ok()
            .flatten()
            .is_some()
    );

    // Typing both ways.
    conn.send(
        &Node::new("chatstate")
            .attr("to", Jid::user(CUSTOMER))
            .children([Node::new("composing")]),
    )
    .await;
    poll_until("the expected sim state", async || {
        let states = sim.customer_chatstates(CUSTOMER).ok()?;
        states
            .iter()
            .any(|c| c.from == OWNER && c.state == "composing")
            .then_some(())
    })
    .await;
    sim.customer_typing(CUSTOMER, OWNER, "composing")
        .expect("typing");
    let (typing, _) = conn.recv_tag("chatstate").await;
    assert_eq!(
        typing.attrs().jid("from").expect("from"),
        Jid::user(CUSTOMER)
    );
    assert!(typing.child("composing").is_some());

    // A message missing a device gets the server's phash in its ack.
    let partial = own_phone
        .encrypt(&signal::pad(&dsm.encode_to_vec(), &mut rng))
        .expect("encrypt");
    conn.send(
        &Node::new("message")
            .attr("to", Jid::user(CUSTOMER))
            .attr("id", "3EB0AABBCCDDEEFF001133")
            .attr("type", "text")
            .children([Node::new("participants").children([Node::new("to")
                .attr("jid", Jid::user(OWNER))
                .children([enc(&partial)])])]),
    )
    .await;
    let (ack, _) = conn.recv_tag("ack").await;
    assert!(
        ack.attrs()
            .optional_string("phash")
            .is_some_and(|p| p.starts_with("2:") && p.len() == 10)
    );
    // That pkmsg carried no <device-identity>: the phone asks again, ADV failure (12).
    let retry = loop {
        let (receipt, _) = conn.recv_tag("receipt").await;
        if receipt.attrs().optional_str("type") == Some("retry") {
            break receipt;
        }
    };
    assert_eq!(
        retry.attrs().optional_str("id"),
        Some("3EB0AABBCCDDEEFF001133")
    );
    assert_eq!(
        retry
            .child("retry")
            .and_then(|r| r.attrs().optional_string("error"))
            .as_deref(),
        Some("12")
    );
}

#[tokio::test]
async fn offline_queue_redelivers_until_acked() {
    let sim = start_silent().await;
    let mut id = pair(&sim, OWNER).await;
    let (conn, _) = login_active(&sim, &id).await;
    drop(conn);
    sim.add_customer(CUSTOMER, "Mona", 1, true)
        .expect("customer");
    poll_until("the expected sim state", async || {
        (!sim.devices()[0].devices[0].online).then_some(())
    })
    .await;
    let m1 = sim
        .customer_send(CUSTOMER, OWNER, Outgoing::Text("one".into()), None)
        .expect("send");
    let m2 = sim
        .customer_send(CUSTOMER, OWNER, Outgoing::Text("two".into()), None)
        .expect("send");
    // Two messages and the customer's privacy token, once the customer's client sent them.
    poll_until("the expected sim state", async || {
        (sim.devices()[0].devices[0].offline_queue == 3).then_some(())
    })
    .await;
    // Passive login: nothing until <active/>; then the batch and its end marker.
    let (conn, nodes) = login_active(&sim, &id).await;
    let messages: Vec<&Node> = nodes.iter().filter(|n| n.tag == "message").collect();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].attrs().string("id").expect("id"), m1);
    assert!(messages[0].attrs().optional_string("offline").is_some());
    assert_eq!(
        messages[0].attrs().jid("from").expect("from").server,
        whatsapp_proto::jid::Server::Lid
    );
    assert!(messages[0].attrs().optional_string("sender_pn").is_some());
    assert_eq!(
        nodes
            .last()
            .and_then(|n| n.child("offline"))
            .and_then(|o| o.attrs().optional_string("count"))
            .as_deref(),
        Some("3")
    );
    // Not acked: dropped connection, both come again.
    drop(conn);
    poll_until("the expected sim state", async || {
        (!sim.devices()[0].devices[0].online).then_some(())
    })
    .await;
    let (mut conn, nodes) = login_active(&sim, &id).await;
    let messages: Vec<Node> = nodes.into_iter().filter(|n| n.tag == "message").collect();
    assert_eq!(messages.len(), 2);
    // Ack the first only (by receipt after decrypting); the second comes once more.
    let first = decrypt_incoming(&mut id, &messages[0]);
    assert_eq!(first.conversation.as_deref(), Some("one"));
    conn.send(&receipt_for(&messages[0])).await;
    let (ack, _) = conn.recv_tag("ack").await;
    assert_eq!(
        ack.attrs().optional_string("class").as_deref(),
        Some("receipt")
    );
    drop(conn);
    poll_until("the expected sim state", async || {
        (!sim.devices()[0].devices[0].online).then_some(())
    })
    .await;
    let (_conn, nodes) = login_active(&sim, &id).await;
    let ids: Vec<String> = nodes
        .iter()
        .filter(|n| n.tag == "message")
        .map(|n| n.attrs().string("id").expect("id"))
        .collect();
    assert_eq!(ids, vec![m2]);
}

#[tokio::test]
async fn faults_nack_and_temp_ban() {
    let sim = start().await;
    let id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.fault(&Fault::Nack {
        code: 463,
        count: 1,
    })
    .expect("fault");
    conn.send(
        &Node::new("message")
            .attr("to", Jid::user(CUSTOMER))
            .attr("id", "3EB0000000000000000001")
            .attr("type", "text")
            .children([Node::new("participants")]),
    )
    .await;
    let (ack, _) = conn.recv_tag("ack").await;
    assert_eq!(ack.attrs().optional_string("error").as_deref(), Some("463"));
    sim.fault(&Fault::Delay {
        ms: 300,
        duration_ms: 2_000,
    })
    .expect("fault");
    let started = std::time::Instant::now();
    let ping_id = conn.next_id();
    let _ = conn
        .iq(Node::new("iq")
            .attr("id", ping_id)
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", Jid::server_jid()))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.fault(&Fault::TempBan {
        code: 101,
        expire_s: 60,
    })
    .expect("fault");
    let (_, _) = conn.recv_tag("stream:error").await;
    assert!(conn.closed().await);
    let mut again = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.login_payload(),
    )
    .await;
    let failure = again.recv().await;
    assert_eq!(
        failure.attrs().optional_string("reason").as_deref(),
        Some("402")
    );
    assert_eq!(
        failure.attrs().optional_string("code").as_deref(),
        Some("101")
    );
}

/// Phone-code pairing: companion_hello, the phone types the code, primary_hello,
/// companion_finish, pair-success, 515, login. A wrong code fails pairing.
async fn code_pairing(sim: &SimHandle, typed: impl Fn(&str) -> String) -> Result<Identity, String> {
    use whatsapp_proto::pairing;
    use whatsapp_proto::xeddsa;
    let mut id = Identity::new();
    let mut conn = Conn::connect(
        &sim.ws_url,
        sim.root_public_key,
        &id.noise,
        &id.registration_payload(),
    )
    .await;
    let pair_device = conn.recv().await;
    assert!(pair_device.child("pair-device").is_some());
    let mut rng = OsRng;
    let code = pairing::generate_pairing_code(&mut rng);
    let ephemeral = xeddsa::KeyPair::generate(&mut rng);
    let wrapped = pairing::wrap_ephemeral(&code, ephemeral.public(), &mut rng);
    let hello_id = conn.next_id();
    let hello = pairing::companion_hello_node(
        OWNER,
        &wrapped,
        id.noise.public(),
        '9',
        "Chrome (Linux)",
        true,
    )
    .attr("id", hello_id);
    let answer = conn.iq(hello).await;
    let reference = answer
        .path(&["link_code_companion_reg", "link_code_pairing_ref"])
        .and_then(Node::content_bytes)
        .expect("pairing ref")
        .to_vec();
    let entered = typed(&pairing::format_pairing_code(&code));
    let phone = sim.clone();
    let linking = tokio::spawn(async move { phone.link_code(OWNER, &entered).await });
    let (notification, _) = conn.recv_tag("notification").await;
    conn.send(
        &Node::new("ack")
            .attr("class", "notification")
            .attr("id", notification.attrs().string("id").expect("id"))
            .attr("to", Jid::server_jid()),
    )
    .await;
    let reg = notification.child("link_code_companion_reg").expect("reg");
    assert_eq!(reg.attrs().optional_str("stage"), Some("primary_hello"));
    let bytes = |tag: &str| {
        reg.child(tag)
            .and_then(Node::content_bytes)
            .expect(tag)
            .to_vec()
    };
    assert_eq!(bytes("link_code_pairing_ref"), reference);
    let primary_identity: [u8; 32] = bytes("primary_identity_pub").try_into().expect("32");
    let identity = xeddsa::KeyPair::from_private(id.identity.private.to_bytes());
    let finish = pairing::companion_finish(
        &code,
        &ephemeral,
        &identity,
        &bytes("link_code_pairing_wrapped_primary_ephemeral_pub"),
        &primary_identity,
        &mut rng,
    )
    .expect("companion finish");
    id.adv_secret = finish.adv_secret;
    let finish_id = conn.next_id();
    let finish_node = pairing::companion_finish_node(
        OWNER,
        &finish.wrapped_bundle,
        id.identity.public.as_bytes(),
        &reference,
    )
    .attr("id", finish_id);
    let answer = conn.iq(finish_node).await;
    if answer.attrs().optional_str("type") != Some("result") {
        return Err(linking
            .await
            .expect("join")
            .expect_err("refused")
            .to_string());
    }
    let success = conn.recv().await;
    let reply = id.answer_pair_success(&success, false);
    conn.send(&reply).await;
    let jid = linking.await.expect("join").map_err(|e| e.to_string())?;
    assert_eq!(Some(&jid), id.jid.as_ref());
    let (restart, _) = conn.recv_tag("stream:error").await;
    assert_eq!(restart.attrs().optional_str("code"), Some("515"));
    Ok(id)
}

#[tokio::test]
async fn phone_code_pairing_and_wrong_code() {
    let sim = start().await;
    let id = code_pairing(&sim, |code| code.to_owned())
        .await
        .expect("pairs");
    let _conn = login(&sim, &id).await;
    let wrong = code_pairing(&sim, |code| {
        let mut other: Vec<char> = code.chars().collect();
        other[0] = if other[0] == 'A' { 'B' } else { 'A' };
        other.into_iter().collect()
    })
    .await;
    assert!(wrong.is_err(), "a wrong code must not pair");
    assert_eq!(sim.devices()[0].devices.len(), 1);
}

/// A tiny HTTP/1.1 client for the control API.
async fn http(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let payload = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    (
        status,
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = start().await;
    let base = sim.control_url.clone();
    let (status, body) = http(&base, "GET", "/control/devices", None).await;
    assert_eq!((status, body), (200, serde_json::json!([])));
    let (status, body) = http(
        &base,
        "POST",
        "/control/scan",
        Some(r#"{"qr":"nonsense","phone":"201001234567"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some());
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers",
        Some(r#"{"phone":"201112223334","name":"Mona","devices":2}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jid"], "201112223334@s.whatsapp.net");
    let (status, _) = http(&base, "GET", "/control/customers/201112223334/inbox", None).await;
    assert_eq!(status, 200);
    let (status, _) = http(&base, "GET", "/control/customers/209999999999/inbox", None).await;
    assert_eq!(status, 404);
    let (status, _) = http(
        &base,
        "POST",
        "/control/fault",
        Some(r#"{"kind":"nack","code":479,"count":1}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(&base, "POST", "/control/fault", Some(r#"{"kind":"nope"}"#)).await;
    assert_eq!(status, 400);
    let (status, body) = http(&base, "POST", "/control/customers", Some("{not json")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some(), "{body}");
}

/// A customer sends any `e2e.Message` as base64 protobuf and the phone shapes over the
/// control API; malformed ones are refused with 400.
#[tokio::test]
async fn control_api_sends_raw_messages_and_shapes() {
    use base64::Engine as _;
    use prost::Message as _;
    let sim = start().await;
    let base = sim.control_url.clone();
    let (status, body) = http(
        &base,
        "POST",
        "/control/customers",
        Some(r#"{"phone":"201112223334","name":"Mona"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &base,
        "POST",
        "/control/accounts",
        Some(r#"{"phone":"201001234567","name":"Pharmacy"}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let send = |body: String| {
        let base = base.clone();
        async move {
            http(
                &base,
                "POST",
                "/control/customers/201112223334/send",
                Some(&body),
            )
            .await
        }
    };
    // A location in a disappearing-chat wrapper, sent as it is.
    let message = whatsapp_proto::pb::e2e::Message {
        ephemeral_message: Some(Box::new(whatsapp_proto::pb::e2e::FutureProofMessage {
            message: Some(Box::new(whatsapp_proto::pb::e2e::Message {
                location_message: Some(Box::new(whatsapp_proto::pb::e2e::LocationMessage {
                    name: Some("Tahrir".into()),
                    ..Default::default()
                })),
                ..Default::default()
            })),
        })),
        ..Default::default()
    };
    let raw = base64::engine::general_purpose::STANDARD.encode(message.encode_to_vec());
    let (status, body) = send(format!(r#"{{"to":"201001234567","raw":"{raw}"}}"#)).await;
    assert_eq!(status, 200, "{body}");
    let raw_id = body["id"].as_str().expect("id").to_owned();
    let (status, body) = send(
        r#"{"to":"201001234567","edit":{"message_id":"3EB0X","text":"fixed"},"wrap":{"ephemeral":86400}}"#
            .into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(
        r#"{"to":"201001234567","poll":{"name":"Which branch?","options":["Maadi","Zamalek"],"single":true}}"#
            .into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = sim.customer_sent("201112223334").expect("sent");
    let entry = sent
        .iter()
        .find(|e| e.id == raw_id)
        .expect("the raw message");
    assert_eq!(entry.kind, "location", "{entry:?}");
    assert_eq!(entry.text.as_deref(), Some("Tahrir"));
    for bad in [
        r#"{"to":"201001234567","raw":"not base64!"}"#,
        // 0xff is no protobuf key.
        r#"{"to":"201001234567","raw":"/w=="}"#,
        r#"{"to":"201001234567","edit":{"message_id":"3EB0X","text":"x","form":"sideways"}}"#,
        r#"{"to":"201001234567"}"#,
    ] {
        let (status, body) = send(bad.into()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
}

/// HTTP/1.1 with a binary body; returns the status and the raw body.
async fn http_bytes(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://web.whatsapp.com\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..line_end]).expect("hex").trim(),
                16,
            )
            .expect("size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
        body = out;
    }
    (status, body)
}

#[tokio::test]
async fn media_both_ways() {
    use whatsapp_proto::media::{self, MediaHashes, MediaType};
    use whatsapp_sim::device::MediaKind;
    let sim = start().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let photo: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    sim.customer_send(
        CUSTOMER,
        OWNER,
        Outgoing::Media {
            kind: MediaKind::Image,
            data: photo.clone(),
            mimetype: "image/jpeg".into(),
            caption: Some("prescription".into()),
            file_name: None,
        },
        None,
    )
    .expect("send image");
    let (message, _) = conn.recv_tag("message").await;
    assert_eq!(message.attrs().optional_str("type"), Some("media"));
    let image = decrypt_incoming(&mut id, &message)
        .image_message
        .expect("image");
    assert_eq!(image.caption.as_deref(), Some("prescription"));
    let (status, blob) = http_bytes(
        &sim.ws_addr.to_string(),
        "GET",
        image.direct_path.as_deref().expect("path"),
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let hashes = MediaHashes::from_slices(
        image.file_sha256.as_deref().expect("sha"),
        image.file_enc_sha256.as_deref().expect("enc sha"),
    )
    .expect("hashes");
    let plain = media::decrypt(
        image.media_key.as_deref().expect("key"),
        MediaType::Image,
        &blob,
        &hashes,
    )
    .expect("verified download");
    assert_eq!(plain, photo);
    conn.send(&receipt_for(&message)).await;

    // Expired media comes back through a media-retry receipt to the sender's phone.
    sim.fault(&Fault::ExpireMedia).expect("fault");
    let path = image.direct_path.clone().expect("path");
    let (status, _) = http_bytes(&sim.ws_addr.to_string(), "GET", &path, b"").await;
    assert_eq!(status, 404);
    let media_key = image.media_key.clone().expect("key");
    let iv = [3u8; 12];
    let msg_id = message.attrs().string("id").expect("id");
    conn.send(
        &Node::new("receipt")
            .attr("id", msg_id.clone())
            .attr("to", Jid::user(OWNER))
            .attr("type", "server-error")
            .children([
                Node::new("encrypt").children([
                    Node::new("enc_p")
                        .bytes(media::encrypt_media_retry_receipt(&media_key, &msg_id, &iv)),
                    Node::new("enc_iv").bytes(iv.to_vec()),
                ]),
                Node::new("rmr")
                    .attr("jid", Jid::user(CUSTOMER))
                    .attr("from_me", "false"),
            ]),
    )
    .await;
    let (retry, _) = conn.recv_tag("notification").await;
    assert_eq!(retry.attrs().optional_str("type"), Some("mediaretry"));
    let enc_p = retry
        .path(&["encrypt", "enc_p"])
        .and_then(Node::content_bytes)
        .expect("enc_p");
    let enc_iv = retry
        .path(&["encrypt", "enc_iv"])
        .and_then(Node::content_bytes)
        .expect("enc_iv");
    let answer = media::decrypt_media_retry_notification(&media_key, &msg_id, enc_p, enc_iv)
        .expect("decrypts");
    let new_path = answer.direct_path.expect("new path");
    let (status, blob) = http_bytes(&sim.ws_addr.to_string(), "GET", &new_path, b"").await;
    assert_eq!(status, 200);
    let again = media::decrypt(&media_key, MediaType::Image, &blob, &hashes).expect("same media");
    assert_eq!(again, photo);

    // Upload: media_conn, then POST with the auth and the blob hash as token.
    let mc_id = conn.next_id();
    let media_conn = conn
        .iq(Node::new("iq")
            .attr("id", mc_id)
            .attr("xmlns", "w:m")
            .attr("type", "set")
            .attr("to", Jid::server_jid())
            .children([Node::new("media_conn")]))
        .await;
    let mc = media_conn.child("media_conn").expect("media_conn");
    let auth = mc.attrs().string("auth").expect("auth");
    let host = mc
        .child("host")
        .and_then(|h| h.attrs().optional_string("hostname"))
        .expect("host");
    let key = [7u8; 32];
    let doc = b"%PDF-1.4 invoice".repeat(100);
    let enc = media::encrypt(&key, MediaType::Document, &doc);
    let token = media::upload_token(&enc.file_enc_sha256);
    let (status, _) = http_bytes(
        &host,
        "POST",
        &format!("/mms/document/{token}?auth=wrong&token={token}"),
        &enc.blob,
    )
    .await;
    assert_eq!(status, 401);
    let escaped_auth: String = auth
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, body) = http_bytes(
        &host,
        "POST",
        &format!("/mms/document/{token}?auth={escaped_auth}&token={token}"),
        &enc.blob,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let uploaded: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let direct_path = uploaded["direct_path"]
        .as_str()
        .expect("direct_path")
        .to_owned();
    let message = e2e::Message {
        document_message: Some(Box::new(e2e::DocumentMessage {
            mimetype: Some("application/pdf".into()),
            file_sha256: Some(enc.file_sha256.to_vec()),
            file_length: Some(enc.file_length),
            media_key: Some(key.to_vec()),
            file_name: Some("invoice.pdf".into()),
            file_enc_sha256: Some(enc.file_enc_sha256.to_vec()),
            direct_path: Some(direct_path),
            ..Default::default()
        })),
        ..Default::default()
    };
    let mut rng = OsRng;
    let sealed = id
        .sessions
        .get_mut(&Jid::user(CUSTOMER).signal_address())
        .expect("session")
        .encrypt(&signal::pad(&message.encode_to_vec(), &mut rng))
        .expect("encrypt");
    conn.send(
        &Node::new("message")
            .attr("to", Jid::user(CUSTOMER))
            .attr("id", "3EB0DDDDDDDDDDDDDDDDDD")
            .attr("type", "media")
            .children([Node::new("participants").children([Node::new("to")
                .attr("jid", Jid::user(CUSTOMER))
                .children([Node::new("enc")
                    .attr("v", "2")
                    .attr("type", sealed.enc_type())
                    .attr("mediatype", "document")
                    .bytes(sealed.serialized().to_vec())])])]),
    )
    .await;
    let inbox = poll_until("the expected sim state", async || {
        let inbox = sim.customer_inbox(CUSTOMER).ok()?;
        inbox.into_iter().find(|e| e.id == "3EB0DDDDDDDDDDDDDDDDDD")
    })
    .await;
    assert_eq!(inbox.kind, "document");
    assert_eq!(inbox.media_error, None);
    assert_eq!(inbox.media_sha256, Some(hex::encode(enc.file_sha256)));
}

#[tokio::test]
async fn corrupted_message_recovers_through_a_retry_receipt() {
    let sim = start().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.fault(&Fault::CorruptNext { count: 1 }).expect("fault");
    let sent = sim
        .customer_send(
            CUSTOMER,
            OWNER,
            Outgoing::Text("are you open?".into()),
            None,
        )
        .expect("send");
    let (broken, _) = conn.recv_tag("message").await;
    let enc = broken.child("enc").expect("enc");
    let pkmsg = PreKeyWhisperMessage::decode(enc.content_bytes().expect("bytes")).expect("pkmsg");
    let keys = ResponderKeys {
        identity: &id.identity,
        registration_id: id.registration_id,
        signed_prekey: Some(&id.spk),
        one_time_prekey: id.prekeys.iter().find(|k| Some(k.id) == pkmsg.pre_key_id()),
        stored_identity: None,
    };
    assert!(
        SessionRecord::new()
            .decrypt_prekey(&pkmsg, &keys, &mut OsRng)
            .is_err()
    );
    // Retry receipt (part 2 §6.2), count 1, no keys.
    conn.send(
        &Node::new("receipt")
            .attr("id", sent.clone())
            .attr("to", broken.attrs().jid("from").expect("from"))
            .attr("type", "retry")
            .children([
                Node::new("retry")
                    .attr("v", "1")
                    .attr("count", "1")
                    .attr("id", sent.clone())
                    .attr("t", broken.attrs().string("t").expect("t")),
                Node::new("registration").bytes(id.registration_id.to_be_bytes().to_vec()),
            ]),
    )
    .await;
    let (resent, _) = conn.recv_tag("message").await;
    assert_eq!(resent.attrs().string("id").expect("id"), sent);
    assert_eq!(
        resent
            .child("enc")
            .and_then(|e| e.attrs().optional_string("count"))
            .as_deref(),
        Some("1")
    );
    let message = decrypt_incoming(&mut id, &resent);
    assert_eq!(message.conversation.as_deref(), Some("are you open?"));
}

/// Fetches one device's prekey bundle and starts a session with it.
async fn bundle_session(conn: &mut Conn, id: &Identity, jid: Jid) -> SessionRecord {
    let key_id = conn.next_id();
    let bundles = conn
        .iq(Node::new("iq")
            .attr("id", key_id)
            .attr("xmlns", "encrypt")
            .attr("type", "get")
            .attr("to", Jid::server_jid())
            .children([Node::new("key").children([Node::new("user")
                .attr("jid", jid)
                .attr("reason", "identity")])]))
        .await;
    let user = bundles.path(&["list", "user"]).expect("user");
    let bundle = KeyBundle::parse(user).expect("bundle").to_signal();
    let mut record = SessionRecord::new();
    record
        .process_bundle(&id.identity, id.registration_id, &bundle, None, &mut OsRng)
        .expect("bundle");
    record
}

#[tokio::test]
async fn group_messages_both_ways() {
    const OTHER: &str = "201115556667";
    let sim = start().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.add_customer(OTHER, "Ali", 1, false).expect("customer");
    let group = sim
        .create_group(
            CUSTOMER,
            "Pharmacy friends",
            &[OWNER.into(), OTHER.into()],
            false,
        )
        .expect("group");
    let (created, _) = conn.recv_tag("notification").await;
    assert_eq!(created.attrs().optional_str("type"), Some("w:gp2"));
    assert_eq!(
        key_index::group_info(&mut conn, &group)
            .await
            .children_by_tag("participant")
            .count(),
        3
    );
    let list_id = conn.next_id();
    let list = conn
        .iq(Node::new("iq")
            .attr("id", list_id)
            .attr("xmlns", "w:g2")
            .attr("type", "get")
            .attr("to", Jid::new("", whatsapp_proto::jid::Server::Group))
            .children([Node::new("participating")]))
        .await;
    assert_eq!(
        list.path(&["groups", "group"])
            .and_then(|g| g.attrs().optional_string("subject"))
            .as_deref(),
        Some("Pharmacy friends")
    );

    // A customer posts: SKDM carrier (pkmsg) and skmsg in one stanza.
    let posted = sim
        .customer_send(
            CUSTOMER,
            &group.to_string(),
            Outgoing::Text("hello group".into()),
            None,
        )
        .expect("post");
    let (message, _) = conn.recv_tag("message").await;
    assert_eq!(message.attrs().string("id").expect("id"), posted);
    assert_eq!(message.attrs().jid("from").expect("from"), group);
    let participant = message.attrs().jid("participant").expect("participant");
    let mut rng = OsRng;
    let carrier = {
        let only_pkmsg = Node::new("message")
            .attr("from", participant.clone())
            .children(
                message
                    .children_by_tag("enc")
                    .filter(|e| e.attrs().optional_str("type") != Some("skmsg"))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        decrypt_incoming(&mut id, &only_pkmsg)
    };
    let skdm = signal::SenderKeyDistributionMessage::decode(
        carrier
            .sender_key_distribution_message
            .and_then(|d| d.axolotl_sender_key_distribution_message)
            .as_deref()
            .expect("skdm"),
    )
    .expect("skdm decodes");
    let mut their_key = signal::SenderKeyRecord::new();
    their_key.process_distribution_message(&skdm);
    let skmsg = message
        .children_by_tag("enc")
        .find(|e| e.attrs().optional_str("type") == Some("skmsg"))
        .and_then(Node::content_bytes)
        .expect("skmsg");
    let padded = their_key
        .decrypt(&signal::SenderKeyMessage::decode(skmsg).expect("skmsg decodes"))
        .expect("skmsg decrypts");
    let text = e2e::Message::decode(signal::unpad(&padded).expect("pad")).expect("Message");
    assert_eq!(text.conversation.as_deref(), Some("hello group"));

    // The companion posts: SKDM to every other device, then a skmsg.
    let mut own = signal::SenderKeyRecord::new();
    let my_skdm = own.create_distribution_message(&mut rng);
    let carrier = e2e::Message {
        sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
            group_id: Some(group.to_string()),
            axolotl_sender_key_distribution_message: Some(my_skdm.serialized().to_vec()),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let mut sessions = vec![
        (
            Jid::user(CUSTOMER),
            id.sessions
                .remove(&Jid::user(CUSTOMER).signal_address())
                .expect("session"),
        ),
        (
            Jid::user(OTHER),
            bundle_session(&mut conn, &id, Jid::user(OTHER)).await,
        ),
        (
            Jid::user(OWNER),
            bundle_session(&mut conn, &id, Jid::user(OWNER)).await,
        ),
    ];
    let mut to_nodes = Vec::new();
    for (jid, session) in &mut sessions {
        let sealed = session
            .encrypt(&signal::pad(&carrier, &mut rng))
            .expect("encrypt");
        to_nodes.push(
            Node::new("to")
                .attr("jid", jid.clone())
                .children([Node::new("enc")
                    .attr("v", "2")
                    .attr("type", sealed.enc_type())
                    .bytes(sealed.serialized().to_vec())]),
        );
    }
    let post = e2e::Message {
        conversation: Some("hi all".into()),
        ..Default::default()
    };
    let sk = own
        .encrypt(&signal::pad(&post.encode_to_vec(), &mut rng), &mut rng)
        .expect("skmsg");
    conn.send(
        &Node::new("message")
            .attr("to", group.clone())
            .attr("id", "3EB0GGGGGGGGGGGGGGGGGG")
            .attr("type", "text")
            .attr("phash", "2:AAAAAAAA")
            .children([
                Node::new("participants").children(to_nodes),
                Node::new("device-identity").bytes(id.account.clone().expect("account")),
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .bytes(sk.serialized().to_vec()),
            ]),
    )
    .await;
    let (ack, _) = conn.recv_tag("ack").await;
    assert!(ack.attrs().optional_string("error").is_none());
    assert!(
        ack.attrs().optional_string("phash").is_some(),
        "a stale phash is answered with the server's"
    );
    for phone in [CUSTOMER, OTHER] {
        let entry = poll_until("the expected sim state", async || {
            sim.customer_inbox(phone)
                .ok()?
                .into_iter()
                .find(|e| e.id == "3EB0GGGGGGGGGGGGGGGGGG")
        })
        .await;
        assert_eq!(entry.text.as_deref(), Some("hi all"));
        assert_eq!(entry.group.as_deref(), Some(group.to_string().as_str()));
    }
}

#[tokio::test]
async fn binary_prints_urls_and_root_key() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_whatsapp-sim"))
        .args(["serve", "--port", "0", "--control-port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(20), line)
        .await
        .expect("a line in time")
        .expect("join")
        .expect("read");
    let info: serde_json::Value = serde_json::from_str(&line).expect("json");
    let ws = info["ws_url"].as_str().expect("ws_url");
    assert!(ws.starts_with("ws://127.0.0.1:") && ws.ends_with("/ws/chat"));
    assert!(
        info["control_url"]
            .as_str()
            .expect("control_url")
            .starts_with("http://127.0.0.1:")
    );
    let root = info["root_key"].as_str().expect("root_key");
    assert_eq!(root.len(), 64);
    // The printed root key is the one the handshake proves.
    let key: [u8; 32] = hex::decode(root).expect("hex").try_into().expect("32");
    let id = Identity::new();
    let mut conn = Conn::connect(ws, key, &id.noise, &id.registration_payload()).await;
    assert!(conn.recv().await.child("pair-device").is_some());
    child.kill().expect("kill");
    let _ = child.wait();
}

/// Issue 5 §8: npm Baileys builds against the sim. `WA_BAILEYS_DIRS` lists folders (separated
/// by the platform's path separator) each holding `node_modules/baileys`, installed with
/// `npm install --legacy-peer-deps --ignore-scripts` and `"overrides": {"libsignal": "6.0.0"}`;
/// `./test.sh` installs them. Without it the test fails: it never skips.
#[tokio::test]
async fn baileys_builds_pair_log_in_and_answer() {
    let dirs = std::env::var_os("WA_BAILEYS_DIRS")
        .expect("WA_BAILEYS_DIRS must list Baileys installs; run the tests through ./test.sh");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/baileys/echo.mjs");
    for (n, dir) in std::env::split_paths(&dirs).enumerate() {
        let sim = start().await;
        let auth = std::env::temp_dir().join(format!("wa-sim-baileys-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&auth);
        let mut child = std::process::Command::new("node")
            .arg(&script)
            .arg(&sim.ws_url)
            .arg(&auth)
            .env("BAILEYS_DIR", &dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut next = async |prefix: &str| -> String {
            loop {
                let line = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{}: no {prefix} line", dir.display()))
                    .unwrap_or_else(|| panic!("{}: Baileys exited before {prefix}", dir.display()));
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_owned();
                }
            }
        };
        let qr = next("QR ").await;
        sim.scan(&qr, OWNER)
            .await
            .expect("Baileys answers pair-success");
        assert_eq!(next("CLOSE ").await, "515");
        next("OPEN").await;
        sim.add_customer(CUSTOMER, "Mona", 1, false)
            .expect("customer");
        let id = sim
            .customer_send(
                CUSTOMER,
                OWNER,
                Outgoing::Text("hello baileys".into()),
                None,
            )
            .expect("send");
        let got = next("MSG ").await;
        assert_eq!(got, format!("{id} hello baileys"));
        let reply = next("SENT ").await;
        let entry = poll_until("the expected sim state", async || {
            sim.customer_inbox(CUSTOMER)
                .ok()?
                .into_iter()
                .find(|e| e.id == reply)
        })
        .await;
        assert_eq!(entry.text.as_deref(), Some("echo: hello baileys"));
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&auth);
        sim.shutdown();
    }
}

/// A burst of customer messages to an offline companion is queued whole, none dropped.
#[tokio::test]
async fn offline_queue_keeps_a_burst_of_customer_messages() {
    let sim = start().await;
    let id = pair(&sim, OWNER).await;
    drop(id);
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    for i in 0..500 {
        sim.customer_send(
            CUSTOMER,
            OWNER,
            Outgoing::Text(format!("message {i}")),
            None,
        )
        .expect("send");
    }
    // Plus a low-prekey notification (this companion never uploaded prekeys) and the
    // customer's privacy token, once the customer's client sent them all.
    poll_until("the expected sim state", async || {
        (sim.devices()[0].devices[0].offline_queue >= 502).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.devices()[0].devices[0].offline_queue, 502);
}

#[tokio::test]
async fn garbage_after_the_handshake_closes_only_that_connection() {
    let sim = start().await;
    let id = pair(&sim, OWNER).await;
    let mut good = login(&sim, &id).await;
    for garbage in [&b"\x00\xf8"[..], b"\x02not zlib", b"\x00\xff\xff\xff", b""] {
        let other = Identity::new();
        let mut bad = Conn::connect(
            &sim.ws_url,
            sim.root_public_key,
            &other.noise,
            &other.registration_payload(),
        )
        .await;
        let _ = bad.recv().await; // pair-device
        bad.send_raw(garbage).await;
        assert!(
            bad.closed().await,
            "garbage {garbage:?} must close the stream"
        );
    }
    // Unknown and half-formed stanzas from a logged-in device are answered, not fatal.
    let id1 = good.next_id();
    let answer = good
        .iq(Node::new("iq")
            .attr("id", id1)
            .attr("xmlns", "nonsense")
            .attr("type", "get"))
        .await;
    assert_eq!(answer.attrs().optional_str("type"), Some("error"));
    good.send(&Node::new("message").attr("id", "x")).await;
    let (ack, _) = good.recv_tag("ack").await;
    assert_eq!(ack.attrs().optional_str("error"), Some("479"));
    let ping = good.next_id();
    let pong = good
        .iq(Node::new("iq")
            .attr("id", ping)
            .attr("xmlns", "w:p")
            .attr("type", "get")
            .attr("to", Jid::server_jid()))
        .await;
    assert_eq!(pong.attrs().optional_str("type"), Some("result"));
}

#[tokio::test]
async fn lid_addressed_group_post() {
    let sim = start().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 2, true)
        .expect("customer");
    let group = sim
        .create_group(CUSTOMER, "LID group", &[OWNER.into()], true)
        .expect("group");
    let posted = sim
        .customer_send(
            CUSTOMER,
            &group.to_string(),
            Outgoing::Text("via lid".into()),
            None,
        )
        .expect("post");
    let (message, _) = conn.recv_tag("message").await;
    assert_eq!(message.attrs().string("id").expect("id"), posted);
    assert_eq!(message.attrs().optional_str("addressing_mode"), Some("lid"));
    let participant = message.attrs().jid("participant").expect("participant");
    assert_eq!(participant.server, whatsapp_proto::jid::Server::Lid);
    assert_eq!(
        message
            .attrs()
            .jid("participant_pn")
            .expect("participant_pn"),
        Jid::user(CUSTOMER)
    );
    let carrier = Node::new("message").attr("from", participant).children(
        message
            .children_by_tag("enc")
            .filter(|e| e.attrs().optional_str("type") != Some("skmsg"))
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert!(
        decrypt_incoming(&mut id, &carrier)
            .sender_key_distribution_message
            .is_some()
    );
    // The customer's second device got the post too (its own sender key chain).
    poll_until("the expected sim state", async || {
        let inbox = sim.customer_inbox(CUSTOMER).ok()?;
        inbox
            .iter()
            .any(|e| e.id == posted && e.device == 1 && e.text.as_deref() == Some("via lid"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn customer_reinstall_changes_identity() {
    let sim = start().await;
    let mut id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(CUSTOMER, OWNER, Outgoing::Text("before".into()), None)
        .expect("send");
    let (first, _) = conn.recv_tag("message").await;
    let identity_of = |m: &Node| {
        let enc = m.child("enc").expect("enc");
        *PreKeyWhisperMessage::decode(enc.content_bytes().expect("bytes"))
            .expect("pkmsg")
            .identity_key()
    };
    let old_identity = identity_of(&first);
    assert_eq!(
        decrypt_incoming(&mut id, &first).conversation.as_deref(),
        Some("before")
    );
    conn.send(&receipt_for(&first)).await;
    sim.customer_reinstall(CUSTOMER).expect("reinstall");
    let (notification, _) = conn.recv_tag("notification").await;
    assert_eq!(notification.attrs().optional_str("type"), Some("encrypt"));
    assert!(notification.child("identity").is_some());
    // As whatsmeow does on this notification: forget the user's sessions.
    id.sessions.clear();
    sim.customer_send(CUSTOMER, OWNER, Outgoing::Text("after".into()), None)
        .expect("send");
    let (second, _) = conn.recv_tag("message").await;
    assert_ne!(identity_of(&second), old_identity);
    assert_eq!(
        decrypt_incoming(&mut id, &second).conversation.as_deref(),
        Some("after")
    );
}

#[tokio::test]
async fn only_accounts_with_a_chat_hear_of_a_reinstall() {
    const STRANGER: &str = "201115556667";
    let sim = start().await;
    let stranger = pair(&sim, STRANGER).await;
    let (mut conn, _) = login_active(&sim, &stranger).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_reinstall(CUSTOMER).expect("reinstall");
    // The stranger's queue would hold the notification before this first message.
    sim.customer_send(CUSTOMER, STRANGER, Outgoing::Text("hello".into()), None)
        .expect("send");
    let mut before = Vec::new();
    loop {
        let (message, skipped) = conn.recv_tag("message").await;
        before.extend(skipped);
        if message.attrs().jid("from").expect("from").user == CUSTOMER {
            break;
        }
        before.push(message);
    }
    assert!(
        !before.iter().any(|n| n.tag == "notification"
            && n.attrs().optional_str("type") == Some("encrypt")
            && n.child("identity").is_some()),
        "an account without a chat was told: {before:?}"
    );
}
