//! The receive path's answers to stanzas that are not a decryptable message, through the
//! real stanza worker with a recording driver: nacks, placeholders, status, calls, and the
//! store read failure that must leave a message unacknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;

use crate::context::{Command, Shared};
use crate::store::{DeviceStore, MemoryStore};
use crate::{CallAction, CallMedia, ClientError, Event, UnavailableKind};

struct Harness {
    shared: Arc<Shared>,
    store: Arc<MemoryStore>,
    events: mpsc::Receiver<Event>,
    acks: mpsc::UnboundedReceiver<Node>,
    /// Stanzas the worker sent through the driver, and whether a reconnect was asked.
    sent: mpsc::UnboundedReceiver<Option<Node>>,
    /// While set, the driver refuses retry receipts (as a closed transport does).
    refuse_retries: Arc<AtomicBool>,
}

const PEER: &str = "201112223334@s.whatsapp.net";

async fn harness() -> Harness {
    let store = Arc::new(MemoryStore::new());
    let mut device = crate::store::Device::generate(&mut rand::thread_rng());
    device.jid = Some("201001234567:3@s.whatsapp.net".parse().unwrap());
    store.save_device(&device).await.unwrap();
    let (events, events_rx) = mpsc::channel(4096);
    let (cmd, mut cmd_rx) = mpsc::channel(64);
    let (acks, acks_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(
        store.clone(),
        crate::Config::default(),
        device,
        events,
        cmd,
        acks,
    ));
    let (sent_tx, sent) = mpsc::unbounded_channel();
    let refuse_retries = Arc::new(AtomicBool::new(false));
    let refuse = refuse_retries.clone();
    // A driver that is never connected, recording what it is asked to send.
    tokio::spawn(async move {
        while let Some(cmd) = cmd_rx.recv().await {
            match cmd {
                Command::Iq(_, tx) | Command::Message(_, tx) => {
                    let _ = tx.send(Err(ClientError::NotConnected));
                }
                Command::Send(node, reply) => {
                    let retry =
                        node.tag == "receipt" && node.attrs().optional_str("type") == Some("retry");
                    if retry && refuse.load(Ordering::SeqCst) {
                        if let Some(tx) = reply {
                            let _ = tx.send(Err(ClientError::NotConnected));
                        }
                        continue;
                    }
                    let _ = sent_tx.send(Some(node));
                    if let Some(tx) = reply {
                        let _ = tx.send(Ok(()));
                    }
                }
                Command::Reconnect => {
                    let _ = sent_tx.send(None);
                }
                _ => {}
            }
        }
    });
    Harness {
        shared,
        store,
        events: events_rx,
        acks: acks_rx,
        sent,
        refuse_retries,
    }
}

impl Harness {
    /// Runs the stanza worker over `stanzas` to its end.
    async fn feed(&self, stanzas: Vec<Node>) {
        let (tx, rx) = mpsc::channel(stanzas.len().max(1));
        for node in stanzas {
            tx.try_send(node).unwrap();
        }
        drop(tx);
        crate::receive::stanza_worker(self.shared.clone(), rx).await;
    }

    /// What the driver was asked so far: a marker sent through it comes back after every
    /// earlier command was recorded.
    async fn sent_now(&mut self) -> Vec<Option<Node>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let marker = Node::new("marker");
        self.shared
            .command(Command::Send(marker.clone(), Some(tx)))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        std::iter::from_fn(|| self.sent.try_recv().ok())
            .filter(|n| n.as_ref() != Some(&marker))
            .collect()
    }

    fn events_now(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }
}

fn message(id: &str) -> Node {
    Node::new("message")
        .attr("from", PEER.parse::<Jid>().unwrap())
        .attr("id", id)
        .attr("t", "1700000000")
}

fn ack_error(node: &Node) -> Option<String> {
    node.attrs().optional_string("error")
}

#[tokio::test]
async fn unreadable_stanzas_are_nacked_as_whatsmeow_does() {
    let mut h = harness().await;
    let bot = Node::new("message")
        .attr("from", "867051314767696@bot".parse::<Jid>().unwrap())
        .attr("id", "BOT1")
        .attr("t", "1700000000")
        .children([Node::new("enc")
            .attr("type", "msmsg")
            .attr("v", "2")
            .bytes(vec![1, 2, 3])]);
    let appdata = Node::new("appdata")
        .attr("from", PEER.parse::<Jid>().unwrap())
        .attr("id", "APP1")
        .attr("type", "text");
    let status = Node::new("status")
        .attr("from", PEER.parse::<Jid>().unwrap())
        .attr("id", "ST1");
    h.feed(vec![message("NOENC1"), bot, appdata, status]).await;
    let sent: Vec<Node> = h.sent_now().await.into_iter().flatten().collect();
    let answer = |id: &str| {
        sent.iter()
            .find(|n| n.tag == "ack" && n.attrs().optional_str("id") == Some(id))
            .unwrap_or_else(|| panic!("no ack for {id}: {sent:?}"))
    };
    assert_eq!(ack_error(answer("NOENC1")).as_deref(), Some("488"));
    assert_eq!(ack_error(answer("BOT1")).as_deref(), Some("495"));
    // <appdata> takes the message path (its class kept).
    assert_eq!(ack_error(answer("APP1")).as_deref(), Some("488"));
    assert_eq!(
        answer("APP1").attrs().optional_str("class"),
        Some("appdata")
    );
    assert_eq!(ack_error(answer("ST1")), None);
    assert_eq!(answer("ST1").attrs().optional_str("class"), Some("status"));
    assert!(h.events_now().is_empty(), "nothing for the application");
}

#[tokio::test]
async fn view_once_is_a_placeholder_acked_by_the_application() {
    let mut h = harness().await;
    let node = message("VO1").children([Node::new("unavailable").attr("type", "view_once")]);
    h.feed(vec![node]).await;
    assert!(
        h.sent_now().await.is_empty(),
        "neither an ack before the application stored it nor a resend request"
    );
    let mut events = h.events_now();
    let Some(Event::Unavailable(mut placeholder)) = events.pop() else {
        panic!("no placeholder event");
    };
    assert_eq!(placeholder.kind, UnavailableKind::ViewOnce);
    assert!(!placeholder.resend_requested);
    assert_eq!(placeholder.info.id, "VO1");
    placeholder.ack();
    let ack = h.acks.try_recv().expect("ack after the application's ack");
    assert_eq!(
        (ack.tag.as_str(), ack.attrs().optional_str("id")),
        ("ack", Some("VO1"))
    );
    assert_eq!(ack_error(&ack), None);
}

#[tokio::test]
async fn other_unavailable_is_acked_at_once_and_resend_requested() {
    let mut h = harness().await;
    let node = message("UN1").children([Node::new("unavailable").attr("type", "")]);
    h.feed(vec![node]).await;
    let sent: Vec<Node> = h.sent_now().await.into_iter().flatten().collect();
    assert!(
        sent.iter()
            .any(|n| n.tag == "ack" && n.attrs().optional_str("id") == Some("UN1")),
        "{sent:?}"
    );
    let events = h.events_now();
    let [Event::Unavailable(placeholder)] = events.as_slice() else {
        panic!("one placeholder event: {events:?}");
    };
    assert!(placeholder.resend_requested);
}

#[tokio::test]
async fn store_read_failure_leaves_the_message_unacked_then_reconnects() {
    let mut h = harness().await;
    h.store.set_read_fault(true);
    let node = message("SF1").children([Node::new("enc")
        .attr("type", "msg")
        .attr("v", "2")
        .bytes(vec![0x33; 60])]);
    h.feed(vec![node]).await;
    let sent = h.sent_now().await;
    assert!(
        sent.is_empty(),
        "no ack, no retry receipt, no reconnect while the store fails: {sent:?}"
    );
    assert!(h.events_now().is_empty());
    h.store.set_read_fault(false);
    // Coarse bound: the watcher polls the store every 250 ms.
    let next = tokio::time::timeout(Duration::from_secs(10), h.sent.recv())
        .await
        .expect("a reconnect once the store answers");
    assert_eq!(next, Some(None), "the reconnect, not a stanza");
}

#[tokio::test]
async fn calls_become_events_and_an_unanswered_offer_a_missed_call() {
    let mut h = harness().await;
    let call = |child: Node| {
        Node::new("call")
            .attr(
                "from",
                "201112223334:0@s.whatsapp.net".parse::<Jid>().unwrap(),
            )
            .attr("id", "CALLSTANZA")
            .attr("t", "1700000000")
            .children([child])
    };
    let creator: Jid = PEER.parse().unwrap();
    let offer = Node::new("offer")
        .attr("call-id", "CID1")
        .attr("call-creator", creator.clone())
        .attr("caller_lid", "998877@lid".parse::<Jid>().unwrap())
        .children([Node::new("audio"), Node::new("video")]);
    let terminate = Node::new("terminate")
        .attr("call-id", "CID1")
        .attr("call-creator", creator.clone());
    h.feed(vec![call(offer), call(terminate)]).await;
    let actions: Vec<(CallAction, CallMedia)> = h
        .events_now()
        .into_iter()
        .filter_map(|e| match e {
            Event::Call(c) => {
                assert_eq!(c.call_id, "CID1");
                assert_eq!(c.caller_pn, Some(creator.clone()));
                if c.action == CallAction::Offer {
                    assert_eq!(c.caller_lid, Some("998877@lid".parse().unwrap()));
                }
                Some((c.action, c.media))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (CallAction::Offer, CallMedia::Video),
            (CallAction::Terminate { reason: None }, CallMedia::Video),
            (CallAction::Missed, CallMedia::Video),
        ]
    );
}

#[tokio::test]
async fn an_undecryptable_message_is_acked_only_after_its_retry_receipt_was_queued() {
    let mut h = harness().await;
    let garbled = |id: &str| {
        message(id).children([Node::new("enc")
            .attr("type", "msg")
            .attr("v", "2")
            .bytes(vec![0x33; 60])])
    };
    h.refuse_retries.store(true, Ordering::SeqCst);
    h.feed(vec![garbled("RR1")]).await;
    let sent = h.sent_now().await;
    assert!(
        sent.is_empty(),
        "no ack without the retry receipt: {sent:?}"
    );
    h.refuse_retries.store(false, Ordering::SeqCst);
    h.feed(vec![garbled("RR2")]).await;
    let sent: Vec<Node> = h.sent_now().await.into_iter().flatten().collect();
    let tags: Vec<(&str, Option<&str>)> = sent
        .iter()
        .map(|n| (n.tag.as_str(), n.attrs().optional_str("id")))
        .collect();
    assert_eq!(tags, vec![("receipt", Some("RR2")), ("ack", Some("RR2"))]);
}
