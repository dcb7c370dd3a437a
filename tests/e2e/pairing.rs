//! A `pair-success` with a bad HMAC or a bad account signature is refused by the client
//! (unlike Baileys), which then disconnects; pairing IQs from anyone but the server and a
//! `<success>` before pairing are ignored. The sim only issues valid identities and never
//! forges, so a minimal fake server built on whatsapp-proto's responder core plays the
//! server here.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use whatsapp_client::store::MemoryStore;
use whatsapp_client::{Client, Config, Event, EventStream};
use whatsapp_proto::binary::Node;
use whatsapp_proto::connection::{ServerConnection, ServerOutput};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::{HandshakeConfig, cert};
use whatsapp_proto::pairing::{self, QrData};
use whatsapp_proto::xeddsa::KeyPair;

const WAIT: Duration = Duration::from_secs(30);

/// A one-connection server: sends `pair-device` after the handshake, then forwards nodes
/// both ways through channels.
async fn fake_server() -> (String, [u8; 32], mpsc::Sender<Node>, mpsc::Receiver<Node>) {
    let mut rng = rand::thread_rng();
    let root = KeyPair::generate(&mut rng);
    let inter = KeyPair::generate(&mut rng);
    let server_key = KeyPair::generate(&mut rng);
    let details = |serial, issuer, key: &KeyPair| cert::CertDetails {
        serial,
        issuer_serial: issuer,
        key: *key.public(),
        not_before: 0,
        not_after: u64::MAX / 2,
    };
    let chain = cert::build_cert_chain(
        &root,
        &details(1, cert::ROOT_SERIAL, &inter),
        &inter,
        &details(2, 1, &server_key),
        &mut rng,
    );
    let handshake = HandshakeConfig::default().with_root_key(*root.public());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/ws/chat", listener.local_addr().expect("addr"));
    let (to_client, mut outgoing) = mpsc::channel::<Node>(8);
    let (incoming, from_client) = mpsc::channel::<Node>(8);
    let ephemeral = KeyPair::generate(&mut rng);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws");
        let mut core = ServerConnection::new(&handshake, server_key, ephemeral, chain);
        loop {
            while let Some(out) = core.poll_output() {
                match out {
                    ServerOutput::Transmit(bytes) => {
                        if ws.send(Message::binary(bytes)).await.is_err() {
                            return;
                        }
                    }
                    ServerOutput::ClientFinished { .. } => {
                        let refs = Node::new("pair-device")
                            .children([Node::new("ref").bytes(b"2@fake-ref".to_vec())]);
                        let iq = Node::new("iq")
                            .attr("from", Jid::server_jid())
                            .attr("id", "pd-1")
                            .attr("type", "set")
                            .attr("xmlns", "md")
                            .children([refs]);
                        core.send_node(&iq).expect("send pair-device");
                    }
                    ServerOutput::Node(node) => {
                        let _ = incoming.send(node).await;
                    }
                    other => panic!("unexpected server output {other:?}"),
                }
            }
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Binary(data))) => {
                        if core.handle_input(&data).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
                Some(node) = outgoing.recv() => {
                    core.send_node(&node).expect("send");
                }
            }
        }
    });
    (url, *root.public(), to_client, from_client)
}

async fn qr(events: &mut EventStream) -> QrData {
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(Event::Qr(qr))) => return qr.data.parse().expect("QR string"),
            Ok(Some(_)) => {}
            other => panic!("no QR code: {other:?}"),
        }
    }
}

async fn error_reply(from_client: &mut mpsc::Receiver<Node>, id: &str) -> (String, String) {
    loop {
        let node = tokio::time::timeout(WAIT, from_client.recv())
            .await
            .expect("an answer in time")
            .expect("server running");
        if node.tag == "iq" && node.attrs().optional_string("id").as_deref() == Some(id) {
            assert_eq!(node.attrs().optional_str("type"), Some("error"), "{node:?}");
            let error = node.child("error").expect("<error>");
            return (
                error.attrs().string("code").expect("code"),
                error.attrs().string("text").expect("text"),
            );
        }
    }
}

fn pair_success(id: &str, device_identity: Vec<u8>) -> Node {
    Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("id", id)
        .attr("type", "set")
        .attr("t", "1700000000")
        .children([Node::new("pair-success").children([
            Node::new("device-identity").bytes(device_identity),
            Node::new("device").attr(
                "jid",
                "201001234567:3@s.whatsapp.net".parse::<Jid>().expect("jid"),
            ),
            Node::new("platform").attr("name", "android"),
        ])])
}

/// A client on a fresh fake server, with its first QR code read.
async fn registering() -> (
    Client,
    EventStream,
    QrData,
    mpsc::Sender<Node>,
    mpsc::Receiver<Node>,
) {
    let (url, root, to_client, from_client) = fake_server().await;
    let config = Config::default().with_url(url).with_trust_root(root);
    let (client, mut events) = Client::start(Arc::new(MemoryStore::new()), config)
        .await
        .expect("client");
    let scanned = qr(&mut events).await;
    assert_eq!(scanned.reference, "2@fake-ref");
    (client, events, scanned, to_client, from_client)
}

/// After a refused pairing the client disconnects and stops (whatsmeow pair.go
/// `handlePairSuccess`: `Disconnect` after a pairing error), reporting it first.
async fn disconnects_after_pair_error(
    events: &mut EventStream,
    from_client: &mut mpsc::Receiver<Node>,
) {
    let mut error = false;
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await {
            Ok(Some(Event::PairError { .. })) => error = true,
            Ok(Some(Event::Stopped)) => break,
            Ok(Some(_)) => {}
            other => panic!("the client did not stop after a pairing error: {other:?}"),
        }
    }
    assert!(error, "PairError before Stopped");
    // The socket is closed: the fake server's reading side ends.
    while let Ok(Some(_)) = tokio::time::timeout(WAIT, from_client.recv()).await {}
    assert!(
        from_client.recv().await.is_none(),
        "the connection is closed"
    );
}

/// A device identity for the scanned companion keyed with another ADV secret: its HMAC does
/// not match.
fn with_wrong_hmac(scanned: &QrData) -> Vec<u8> {
    let mut rng = rand::thread_rng();
    pairing::issue_device_identity(
        &KeyPair::generate(&mut rng),
        &scanned.identity_public,
        &[0x42; 32],
        1,
        3,
        1_700_000_000,
        &mut rng,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_success_with_bad_hmac_or_bad_signature_is_refused_and_disconnects() {
    let (client, mut events, scanned, to_client, mut from_client) = registering().await;
    let mut rng = rand::thread_rng();
    let account = KeyPair::generate(&mut rng);

    to_client
        .send(pair_success("ps-1", with_wrong_hmac(&scanned)))
        .await
        .expect("send");
    assert_eq!(
        error_reply(&mut from_client, "ps-1").await,
        ("401".to_owned(), "hmac-mismatch".to_owned())
    );
    disconnects_after_pair_error(&mut events, &mut from_client).await;
    assert!(client.jid().is_none(), "a refused pairing stores nothing");
    client.shutdown().await;

    // Right HMAC, but the account signed another identity key.
    let (client, mut events, scanned, to_client, mut from_client) = registering().await;
    let other = KeyPair::generate(&mut rng);
    let bad_signature = pairing::issue_device_identity(
        &account,
        other.public(),
        &scanned.adv_secret,
        1,
        3,
        1_700_000_000,
        &mut rng,
    );
    to_client
        .send(pair_success("ps-2", bad_signature))
        .await
        .expect("send");
    assert_eq!(
        error_reply(&mut from_client, "ps-2").await,
        ("401".to_owned(), "signature-mismatch".to_owned())
    );
    disconnects_after_pair_error(&mut events, &mut from_client).await;
    assert!(client.jid().is_none(), "a refused pairing stores nothing");
    client.shutdown().await;
}

fn pair_device(from: Jid, id: &str, reference: &str) -> Node {
    Node::new("iq")
        .attr("from", from)
        .attr("id", id)
        .attr("type", "set")
        .attr("xmlns", "md")
        .children([Node::new("pair-device")
            .children([Node::new("ref").bytes(reference.as_bytes().to_vec())])])
}

/// Pairing IQs count only from `s.whatsapp.net` (whatsmeow pair.go `handleIQ`), and a
/// `<success>` before pairing is ignored (connectionevents.go `handleConnectSuccess`): no
/// login steps, no LID taken from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_iqs_from_others_and_an_early_success_are_ignored() {
    let (client, mut events, _, to_client, mut from_client) = registering().await;
    let forger: Jid = "201112223334@s.whatsapp.net".parse().expect("jid");
    to_client
        .send(pair_device(forger, "pd-forged", "2@forged-ref"))
        .await
        .expect("send");
    to_client
        .send(
            Node::new("success")
                .attr("t", "1700000000")
                .attr("lid", "99999999:3@lid".parse::<Jid>().expect("lid")),
        )
        .await
        .expect("send");
    to_client
        .send(pair_device(Jid::server_jid(), "pd-2", "2@server-ref"))
        .await
        .expect("send");
    let scanned = qr(&mut events).await;
    assert_eq!(scanned.reference, "2@server-ref");
    // A last round trip (a refused pair-success) closes the window in which the login steps
    // of an accepted <success> would have gone out.
    to_client
        .send(pair_success("ps-3", with_wrong_hmac(&scanned)))
        .await
        .expect("send");
    let mut answered = Vec::new();
    loop {
        let node = tokio::time::timeout(WAIT, from_client.recv())
            .await
            .expect("an answer in time")
            .expect("server running");
        let id = node.attrs().optional_string("id").unwrap_or_default();
        assert!(
            node.tag == "iq" && ["pd-1", "pd-2", "ps-3"].contains(&id.as_str()),
            "only the server's IQs are answered, nothing else is sent: {node:?}"
        );
        answered.push(id.clone());
        if id == "ps-3" {
            break;
        }
    }
    assert_eq!(answered, ["pd-1", "pd-2", "ps-3"]);
    assert!(client.lid().is_none(), "no LID from an early <success>");
    client.shutdown().await;
}
