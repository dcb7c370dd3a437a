//! Connection core scenarios: client and server cores with virtual time.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use whatsapp_proto::binary::Node;
use whatsapp_proto::connection::{
    ClientConfig, ClientConnection, ConnectionError, Disconnect, Event, FailureReason, Input,
    IqError, Output, ServerConnection, ServerOutput, StreamError,
};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::HandshakeConfig;
use whatsapp_proto::noise::cert::{self, CertDetails, CertError};
use whatsapp_proto::noise::{HandshakeError, TransportError};
use whatsapp_proto::xeddsa::KeyPair;

const START: u64 = 1_800_000_000_000;

struct Harness {
    client: ClientConnection,
    server: ServerConnection,
    now: u64,
    rng: ChaCha20Rng,
    events: Vec<Event>,
    server_nodes: Vec<Node>,
    client_payload: Option<Vec<u8>>,
    answer_pings: bool,
    client_error: Option<ConnectionError>,
}

impl Harness {
    fn new(seed: u64) -> Harness {
        Harness::with(seed, |_| {})
    }

    fn with(seed: u64, tweak: impl FnOnce(&mut ClientConfig)) -> Harness {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let root = KeyPair::generate(&mut rng);
        let inter = KeyPair::generate(&mut rng);
        let server_key = KeyPair::generate(&mut rng);
        let secs = START / 1000;
        let i = CertDetails {
            serial: 1,
            issuer_serial: cert::ROOT_SERIAL,
            key: *inter.public(),
            not_before: secs - 86_400,
            not_after: secs + 86_400,
        };
        let l = CertDetails {
            serial: 2,
            issuer_serial: 1,
            key: *server_key.public(),
            not_before: secs - 3600,
            not_after: secs + 3600,
        };
        let chain = cert::build_cert_chain(&root, &i, &inter, &l, &mut rng);
        let handshake = HandshakeConfig::default().with_root_key(*root.public());
        let mut config = ClientConfig::new(KeyPair::generate(&mut rng), b"\x18\x01".to_vec());
        config.handshake = handshake.clone();
        tweak(&mut config);
        let client = ClientConnection::new(config, START, &mut rng);
        let server =
            ServerConnection::new(&handshake, server_key, KeyPair::generate(&mut rng), chain);
        Harness {
            client,
            server,
            now: START,
            rng,
            events: Vec::new(),
            server_nodes: Vec::new(),
            client_payload: None,
            answer_pings: true,
            client_error: None,
        }
    }

    /// Delivers bytes in random pieces, as WebSocket messages may split frames.
    fn deliver_to_client(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.rng.gen_range(1..=rest.len());
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            if self.client.is_closed() {
                return;
            }
            let input = Input::Receive {
                now: self.now,
                data: piece,
            };
            if let Err(e) = self.client.handle_input(input) {
                self.client_error = Some(e);
                return;
            }
        }
    }

    /// Moves bytes both ways until both cores are idle.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                moved = true;
                match out {
                    Output::Transmit(bytes) => self.server.handle_input(&bytes).unwrap(),
                    Output::Event(e) => self.events.push(e),
                    other => panic!("unexpected client output {other:?}"),
                }
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                match out {
                    ServerOutput::Transmit(bytes) => self.deliver_to_client(&bytes),
                    ServerOutput::ClientFinished { payload, .. } => {
                        self.client_payload = Some(payload)
                    }
                    ServerOutput::Node(node) => {
                        let is_ping =
                            node.tag == "iq" && node.attrs().optional_str("xmlns") == Some("w:p");
                        if is_ping && self.answer_pings {
                            let id = node.attrs().string("id").unwrap();
                            let pong = Node::new("iq")
                                .attr("from", Jid::server_jid())
                                .attr("id", id)
                                .attr("type", "result");
                            self.server.send_node(&pong).unwrap();
                        }
                        self.server_nodes.push(node);
                    }
                    other => panic!("unexpected server output {other:?}"),
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn send(&mut self, node: Node) {
        self.server.send_node(&node).unwrap();
        self.pump();
    }

    fn login(&mut self) {
        self.pump();
        assert_eq!(self.client_payload.as_deref(), Some(&b"\x18\x01"[..]));
        self.send(
            Node::new("success").attr("t", "1800000000").attr(
                "lid",
                "100000000000001:42@lid"
                    .parse::<whatsapp_proto::jid::Jid>()
                    .unwrap(),
            ),
        );
        assert!(self.client.is_logged_in());
    }

    /// Runs virtual time forward to `to`, firing every timer on the way.
    fn advance(&mut self, to: u64) {
        while let Some(t) = self.client.poll_timeout() {
            if t > to {
                break;
            }
            self.now = self.now.max(t);
            self.client
                .handle_input(Input::Timeout { now: self.now })
                .unwrap();
            self.pump();
        }
        self.now = to;
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn disconnect(&self) -> Option<&Disconnect> {
        self.events.iter().find_map(|e| match e {
            Event::Disconnected(d) => Some(d),
            _ => None,
        })
    }
}

#[test]
fn handshake_then_login_success() {
    let mut h = Harness::new(1);
    h.login();
    let events = h.take_events();
    assert!(matches!(events[0], Event::HandshakeComplete { .. }));
    match &events[1] {
        Event::LoggedIn(success) => {
            assert_eq!(success.server_time, Some(1_800_000_000));
            assert_eq!(
                success.lid.as_ref().map(|j| j.to_string()).as_deref(),
                Some("100000000000001:42@lid")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.len(), 2);
    // Nodes flow both ways afterwards.
    h.client
        .send_node(&Node::new("presence").attr("type", "available"))
        .unwrap();
    h.pump();
    assert_eq!(h.server_nodes.last().unwrap().tag, "presence");
}

#[test]
fn each_failure_code_is_typed() {
    let cases: Vec<(Node, FailureReason, bool, bool)> = vec![
        (fail(400), FailureReason::Generic, false, false),
        (fail(401), FailureReason::LoggedOut, true, false),
        (
            fail(402).attr("code", "101").attr("expire", "3600"),
            FailureReason::TempBanned {
                code: Some(101),
                expire: Some(3600),
            },
            false,
            false,
        ),
        (
            fail(403)
                .attr("logout_message_header", "Gone")
                .attr("logout_message_subtext", "Phone removed"),
            FailureReason::MainDeviceGone {
                header: Some("Gone".into()),
                subtext: Some("Phone removed".into()),
            },
            true,
            false,
        ),
        (fail(405), FailureReason::ClientOutdated, false, false),
        (fail(406), FailureReason::Banned, true, false),
        (fail(409), FailureReason::BadUserAgent, false, false),
        (fail(413), FailureReason::CatExpired, false, false),
        (fail(414), FailureReason::CatInvalid, false, false),
        (fail(415), FailureReason::NotFound, false, false),
        (fail(418), FailureReason::ClientUnknown, false, false),
        (fail(500), FailureReason::InternalServerError, false, true),
        (fail(501), FailureReason::Experimental, false, false),
        (fail(503), FailureReason::ServiceUnavailable, false, true),
        (fail(499), FailureReason::Other(499), false, false),
    ];
    for (seed, (node, reason, logged_out, reconnect)) in cases.into_iter().enumerate() {
        let mut h = Harness::new(100 + seed as u64);
        h.pump();
        h.send(node);
        match h.disconnect() {
            Some(Disconnect::LoginFailed(f)) => {
                assert_eq!(f.reason, reason);
                assert_eq!(f.is_logged_out(), logged_out, "{reason:?}");
                assert_eq!(f.should_reconnect(), reconnect, "{reason:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(h.client.is_closed());
        assert_eq!(h.client.poll_timeout(), None);
    }
}

fn fail(code: u32) -> Node {
    Node::new("failure").attr("reason", code)
}

#[test]
fn each_stream_error_is_typed() {
    let conflict = |t: &str| Node::new("conflict").attr("type", t);
    let cases = vec![
        (
            Node::new("stream:error").attr("code", "515"),
            StreamError::RestartRequired,
        ),
        (
            Node::new("stream:error").attr("code", "503"),
            StreamError::ServiceUnavailable,
        ),
        (
            Node::new("stream:error")
                .attr("code", "401")
                .children([conflict("device_removed")]),
            StreamError::DeviceRemoved,
        ),
        (
            Node::new("stream:error").attr("code", "516"),
            StreamError::DeviceRemoved,
        ),
        (
            Node::new("stream:error").children([conflict("replaced")]),
            StreamError::Replaced,
        ),
    ];
    for (seed, (node, expected)) in cases.into_iter().enumerate() {
        let mut h = Harness::new(200 + seed as u64);
        h.login();
        h.send(node);
        assert_eq!(h.disconnect(), Some(&Disconnect::StreamError(expected)));
    }
    // Unknown shapes keep the node.
    let mut h = Harness::new(210);
    h.login();
    let odd = Node::new("stream:error").children([Node::new("ack")]);
    h.send(odd.clone());
    assert_eq!(
        h.disconnect(),
        Some(&Disconnect::StreamError(StreamError::Other {
            code: None,
            node: odd
        }))
    );
    // The server closing the stream.
    let mut h = Harness::new(211);
    h.login();
    h.send(Node::new("xmlstreamend"));
    assert_eq!(h.disconnect(), Some(&Disconnect::StreamEnd));
}

#[test]
fn iq_result_error_timeout_and_disconnect() {
    let mut h = Harness::new(300);
    h.login();
    h.take_events();
    let iq = |ns: &str| {
        Node::new("iq")
            .attr("xmlns", ns)
            .attr("type", "get")
            .attr("to", Jid::server_jid())
    };
    let now = h.now;
    let a = h.client.send_iq(iq("encrypt"), now).unwrap();
    let b = h.client.send_iq(iq("abt"), now).unwrap();
    let c = h.client.send_iq(iq("blocklist"), now).unwrap();
    let d = h.client.send_iq(iq("privacy"), now).unwrap();
    h.pump();
    // Ids follow "<b0>.<b1>-<n>" and come first.
    let sent: Vec<&Node> = h.server_nodes.iter().filter(|n| n.tag == "iq").collect();
    assert_eq!(sent[0].attrs[0].0, "id");
    let re_ok = |id: &str| {
        let (prefix, n) = id.split_once('-').unwrap();
        let (x, y) = prefix.split_once('.').unwrap();
        x.parse::<u8>().is_ok() && y.parse::<u8>().is_ok() && n.parse::<u64>().is_ok()
    };
    assert!(
        [&a, &b, &c, &d].iter().all(|id| re_ok(id)),
        "{a} {b} {c} {d}"
    );

    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", a.as_str())
            .attr("type", "result")
            .children([Node::new("count").attr("value", "30")]),
    );
    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", b.as_str())
            .attr("type", "error")
            .children([Node::new("error")
                .attr("code", "404")
                .attr("text", "item-not-found")]),
    );
    let events = h.take_events();
    assert!(
        matches!(&events[0], Event::IqResponse { id, result: Ok(n) } if *id == a && n.child("count").is_some())
    );
    assert!(
        matches!(&events[1], Event::IqResponse { id, result: Err(IqError::Server { code: 404, text: Some(t), .. }) } if *id == b && t == "item-not-found")
    );

    // An answer with a type other than result or error still answers its IQ, as an
    // unexpected answer (whatsmeow `IQError{RawNode}`), instead of leaving it to time out.
    let odd = Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("id", c.as_str())
        .attr("type", "");
    h.send(odd.clone());
    assert_eq!(
        h.take_events(),
        vec![Event::IqResponse {
            id: c.clone(),
            result: Err(IqError::Unexpected { node: odd })
        }]
    );

    // d times out after 75 s (keepalive pings keep being answered meanwhile).
    h.advance(now + 74_999);
    assert!(h.take_events().is_empty());
    h.advance(now + 75_000);
    let events = h.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events.iter().all(|e| matches!(
        e,
        Event::IqResponse {
            result: Err(IqError::Timeout),
            ..
        }
    )));

    // An IQ pending when the stream ends fails with Disconnected, before the Disconnected event.
    let now = h.now;
    let e = h.client.send_iq(iq("w:profile:picture"), now).unwrap();
    h.pump();
    h.send(Node::new("stream:error").attr("code", "503"));
    let events = h.take_events();
    assert_eq!(
        events,
        vec![
            Event::IqResponse {
                id: e,
                result: Err(IqError::Disconnected)
            },
            Event::Disconnected(Disconnect::StreamError(StreamError::ServiceUnavailable)),
        ]
    );
    assert!(h.client.send_iq(iq("x"), h.now).is_err());
}

/// An IQ whose caller gave up is not awaited any more (a shell reading on for awaited
/// answers stops counting it), never times out, and a late answer comes as a plain node.
#[test]
fn a_forgotten_iq_is_no_longer_awaited() {
    let mut h = Harness::new(301);
    h.login();
    h.take_events();
    let iq = Node::new("iq")
        .attr("xmlns", "w:profile:picture")
        .attr("type", "get")
        .attr("to", Jid::server_jid());
    let now = h.now;
    let id = h.client.send_iq(iq, now).unwrap();
    h.pump();
    assert!(h.client.awaits_answer());
    assert!(!h.client.forget_iq("no-such-id"));
    assert!(h.client.forget_iq(&id));
    assert!(!h.client.awaits_answer());
    assert!(!h.client.forget_iq(&id));
    // Past the IQ timeout (pings answered meanwhile): no timeout reported.
    h.advance(now + 80_000);
    assert!(h.take_events().is_empty());
    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", id.as_str())
            .attr("type", "result"),
    );
    let events = h.take_events();
    assert!(
        matches!(&events[..], [Event::Node(n)] if n.tag == "iq"),
        "{events:?}"
    );
}

#[test]
fn keepalive_pings_answered_then_missed_until_dead() {
    let mut h = Harness::new(400);
    h.login();
    h.take_events();
    let t0 = h.now;
    h.advance(t0 + 600_000);
    // Pings every 20-30 s, all answered: no events.
    let pings: Vec<&Node> = h
        .server_nodes
        .iter()
        .filter(|n| n.attrs().optional_str("xmlns") == Some("w:p"))
        .collect();
    assert!((20..=30).contains(&pings.len()), "{}", pings.len());
    let ping = pings[0];
    assert_eq!(
        ping.attrs
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["id", "xmlns", "type", "to"]
    );
    assert_eq!(ping.attrs().str("type").unwrap(), "get");
    assert!(ping.child_nodes().is_empty());
    assert!(h.take_events().is_empty());

    // The server goes silent.
    h.answer_pings = false;
    let silent_from = h.now;
    h.advance(silent_from + 600_000);
    let events = h.take_events();
    let misses = events
        .iter()
        .filter(|e| matches!(e, Event::KeepaliveMissed { .. }))
        .count();
    assert!(misses >= 4, "{events:?}");
    assert_eq!(
        events.last(),
        Some(&Event::Disconnected(Disconnect::KeepaliveTimeout))
    );
    // Dead within 3 min + one ping cycle of the last answered ping.
    assert!(h.now > silent_from);
    assert!(h.client.is_closed());
}

#[test]
fn handshake_timeout() {
    let mut h = Harness::new(500);
    // The server never answers: drop the ClientHello.
    while h.client.poll_output().is_some() {}
    assert_eq!(h.client.poll_timeout(), Some(START + 20_000));
    h.advance(START + 19_999);
    assert!(h.events.is_empty());
    h.advance(START + 20_000);
    assert_eq!(h.disconnect(), Some(&Disconnect::HandshakeTimeout));
}

#[test]
fn server_ping_answered_and_acks_owed() {
    let mut h = Harness::new(600);
    h.login();
    h.take_events();
    h.server_nodes.clear();
    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", "srv-1")
            .attr("type", "get")
            .attr("xmlns", "urn:xmpp:ping"),
    );
    let pong = h.server_nodes.pop().unwrap();
    assert_eq!(pong.attrs().str("type").unwrap(), "result");
    assert_eq!(pong.attrs().str("id").unwrap(), "srv-1");
    assert!(h.events.is_empty());
    // The other forms whatsapp-rust answers (src/client/node_io.rs): a `<ping>` child, no
    // type at all; a ping `result` is an answer, not a ping.
    let forms = [
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", "srv-2")
            .attr("type", "get")
            .attr("xmlns", "w:p")
            .children([Node::new("ping")]),
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", "srv-3")
            .attr("xmlns", "urn:xmpp:ping"),
    ];
    for ping in forms {
        let id = ping.attrs().string("id").unwrap();
        h.send(ping);
        let pong = h.server_nodes.pop().expect("a pong");
        assert_eq!(pong.attrs().str("type").unwrap(), "result");
        assert_eq!(pong.attrs().string("id").unwrap(), id);
        assert_eq!(pong.attrs().jid("to").unwrap(), Jid::server_jid());
        assert!(h.events.is_empty());
    }
    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", "not-ours")
            .attr("type", "result")
            .attr("xmlns", "urn:xmpp:ping"),
    );
    assert!(h.server_nodes.is_empty(), "a result is never ponged");
    h.take_events();
    // `type=""` is no type: a ping in the ping namespace is answered; any other such IQ
    // reaches the shell rather than being dropped.
    h.send(
        Node::new("iq")
            .attr("from", Jid::server_jid())
            .attr("id", "srv-4")
            .attr("type", "")
            .attr("xmlns", "urn:xmpp:ping"),
    );
    let pong = h.server_nodes.pop().expect("a pong to type=\"\"");
    assert_eq!(pong.attrs().str("id").unwrap(), "srv-4");
    let odd = Node::new("iq")
        .attr("from", Jid::server_jid())
        .attr("id", "srv-5")
        .attr("type", "")
        .attr("xmlns", "w:other");
    h.send(odd.clone());
    assert!(h.server_nodes.is_empty(), "{:?}", h.server_nodes);
    assert_eq!(h.take_events(), vec![Event::Node(odd)]);

    let receipt = Node::new("receipt")
        .attr(
            "from",
            "15551234567@s.whatsapp.net"
                .parse::<whatsapp_proto::jid::Jid>()
                .unwrap(),
        )
        .attr("id", "3EB0ABCDEF")
        .attr("type", "read")
        .attr("t", "1800000000");
    h.send(receipt.clone());
    let ack = h.server_nodes.pop().unwrap();
    assert_eq!(ack.tag, "ack");
    assert_eq!(ack.attrs().str("class").unwrap(), "receipt");
    assert_eq!(ack.attrs().str("id").unwrap(), "3EB0ABCDEF");
    assert_eq!(
        ack.attrs().jid("to").unwrap().to_string(),
        "15551234567@s.whatsapp.net"
    );
    assert_eq!(ack.attrs().str("type").unwrap(), "read");
    assert_eq!(h.take_events(), vec![Event::Node(receipt)]);

    // Messages are not auto-acked (the decrypting layer sends a receipt).
    let message = Node::new("message")
        .attr(
            "from",
            "15551234567@s.whatsapp.net"
                .parse::<whatsapp_proto::jid::Jid>()
                .unwrap(),
        )
        .attr("id", "M1")
        .attr("type", "text");
    h.send(message.clone());
    assert!(h.server_nodes.is_empty());
    assert_eq!(h.take_events(), vec![Event::Node(message)]);
}

#[test]
fn offline_markers_and_edge_routing() {
    let mut h = Harness::new(700);
    h.login();
    h.take_events();
    h.send(
        Node::new("ib").children([Node::new("offline_preview")
            .attr("count", "12")
            .attr("message", "10")]),
    );
    h.send(Node::new("ib").children([Node::new("offline").attr("count", "12")]));
    h.send(Node::new("ib").children([
        Node::new("edge_routing").children([Node::new("routing_info").bytes(vec![8, 2, 8, 5])]),
    ]));
    let dirty = Node::new("ib").children([Node::new("dirty").attr("type", "account_sync")]);
    h.send(dirty.clone());
    let events = h.take_events();
    assert!(matches!(
        &events[0],
        Event::OfflinePreview {
            count: Some(12),
            ..
        }
    ));
    assert_eq!(events[1], Event::OfflineSyncCompleted { count: Some(12) });
    assert_eq!(events[2], Event::EdgeRouting(vec![8, 2, 8, 5]));
    assert_eq!(events[3], Event::Node(dirty));
}

#[test]
fn refuses_untrusted_server_and_garbage() {
    // A client trusting WhatsApp's root refuses our simulated server's chain.
    let mut h = Harness::with(800, |c| c.handshake = HandshakeConfig::default());
    h.pump();
    assert_eq!(
        h.client_error,
        Some(ConnectionError::Handshake(HandshakeError::Certificate(
            CertError::IntermediateSignature
        )))
    );
    assert!(matches!(h.disconnect(), Some(Disconnect::ProtocolError(_))));
    assert!(h.client.is_closed());
    assert!(h.client_payload.is_none());

    // An authenticated frame that is not a node is skipped; the connection stays.
    let mut h = Harness::new(802);
    h.login();
    h.take_events();
    h.server.send_plaintext(&[0x00, 0xff]).unwrap();
    h.pump();
    assert!(matches!(h.take_events()[..], [Event::UndecodableNode(_)]));
    h.send(Node::new("ib").children([Node::new("offline").attr("count", "0")]));
    assert_eq!(
        h.take_events(),
        vec![Event::OfflineSyncCompleted { count: Some(0) }]
    );

    // Garbage after the handshake closes the connection with a transport error.
    let mut h = Harness::new(801);
    h.login();
    h.server.send_raw(vec![
        0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    ]);
    h.pump();
    assert_eq!(
        h.client_error,
        Some(ConnectionError::Transport(TransportError::Decrypt {
            counter: 1
        }))
    );
    assert!(h.client.is_closed());
}

#[test]
fn custom_timeouts_apply() {
    let mut h = Harness::with(900, |c| {
        c.timeouts.iq = 5_000;
        c.timeouts.keepalive_min = 1_000;
        c.timeouts.keepalive_max = 1_000;
    });
    h.login();
    h.take_events();
    let t0 = h.now;
    h.advance(t0 + 10_500);
    let pings = h
        .server_nodes
        .iter()
        .filter(|n| n.attrs().optional_str("xmlns") == Some("w:p"))
        .count();
    assert_eq!(pings, 10);
}

/// Byte-level mutations of a seed (flip, overwrite, truncate, insert, splice).
fn mutate(rng: &mut ChaCha20Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = rng.r#gen();
            }
            2 => {
                let n = rng.gen_range(0..=v.len());
                v.truncate(n);
            }
            3 => {
                let i = rng.gen_range(0..=v.len());
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.r#gen()).collect();
                v.splice(i..i, extra);
            }
            _ => {
                v = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
            }
        }
    }
    v
}

#[test]
fn no_panic_on_garbage_at_every_stage() {
    use whatsapp_proto::binary::encode_frame_plaintext;
    let mut rng = ChaCha20Rng::seed_from_u64(0xC0FFEE);
    let mut fed = 0;

    // 1. Decrypted but malformed nodes reach a logged-in client: each is
    // skipped as UndecodableNode or handled as a node, never a panic. Seeds
    // that end the connection are mutated fewer times (each costs a new login).
    let node_seeds = |closing: bool| -> Vec<Vec<u8>> {
        let nodes = if closing {
            vec![
                Node::new("failure").attr("reason", "402").attr("code", "x"),
                Node::new("stream:error")
                    .children([Node::new("conflict").attr("type", "replaced")]),
            ]
        } else {
            vec![
                Node::new("success").attr("t", "1"),
                Node::new("iq").attr("id", "1.2-3").attr("type", "result"),
                Node::new("iq")
                    .attr("id", "s")
                    .attr("type", "get")
                    .attr("xmlns", "urn:xmpp:ping"),
                Node::new("ib").children([Node::new("offline").attr("count", "-1")]),
                Node::new("receipt").attr("id", "A").attr(
                    "from",
                    "1@s.whatsapp.net"
                        .parse::<whatsapp_proto::jid::Jid>()
                        .unwrap(),
                ),
            ]
        };
        nodes
            .iter()
            .map(|n| encode_frame_plaintext(n).unwrap())
            .collect()
    };
    for (closing, rounds) in [(false, 20_000), (true, 100)] {
        let seeds = node_seeds(closing);
        let mut h = Harness::new(1000);
        h.login();
        for _ in 0..rounds {
            if h.client.is_closed() {
                h = Harness::new(rng.r#gen());
                h.login();
            }
            let seed = &seeds[rng.gen_range(0..seeds.len())];
            let input = mutate(&mut rng, seed);
            h.server.send_plaintext(&input).unwrap();
            h.pump();
            fed += 1;
        }
    }

    // 2. Raw garbage at the handshake stage, on both sides.
    let h = Harness::new(7);
    let hello_like = [0, 0, 5, 0x1a, 0x03, 0x0a, 0x01, 0x00];
    let mut client = h.client;
    let mut server = h.server;
    let (server_key, server_eph) = (
        KeyPair::from_private([9; 32]),
        KeyPair::from_private([10; 32]),
    );
    for i in 0..10_000 {
        let junk = mutate(&mut rng, &hello_like);
        if client.is_closed() {
            let mut config = ClientConfig::new(KeyPair::from_private([i as u8; 32]), vec![]);
            config.handshake.root_key = [1; 32];
            client = ClientConnection::new(config, START, &mut rng);
        }
        let _ = client.handle_input(Input::Receive {
            now: START,
            data: &junk,
        });
        if server.handle_input(&junk).is_err() {
            server = ServerConnection::new(
                &HandshakeConfig::default(),
                server_key.clone(),
                server_eph.clone(),
                Vec::new(),
            );
        }
        fed += 2;
    }
    assert!(fed >= 40_000);
}
