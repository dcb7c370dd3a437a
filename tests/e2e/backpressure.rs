//! Backpressure: an application that does not read its events holds the client's queues at
//! their bounds (the rest waits at the server and in the socket, nothing is lost), and an IQ
//! still completes while the event queue is full.

use std::collections::HashSet;
use std::time::Duration;

use fixtures::{CUSTOMER, OWN_PHONE, config, expect, pair_by_qr, poll_until, start, temp_db};
use whatsapp_client::{Client, Config, Event, EventStream, Node};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

const EVENTS: usize = 4;
const BACKLOG: usize = 8;
/// The stanza worker's queue is the backlog's size when that is smaller than its default.
const WORKER_QUEUE: usize = BACKLOG;

fn small_queues(sim: &SimHandle) -> Config {
    let mut config = config(sim);
    config.event_queue = EVENTS;
    config.stanza_backlog = BACKLOG;
    config.catch_up_group = 1;
    // No keepalive during the test: an awaited ping would (rightly) read past the bound
    // where the test checks that nothing awaited reads no further.
    config.timeouts.keepalive_min = 3_600_000;
    config.timeouts.keepalive_max = 3_600_000;
    config.timeouts.keepalive_dead = 7_200_000;
    config
}

fn queued_at_server(sim: &SimHandle) -> usize {
    sim.devices()
        .into_iter()
        .filter(|a| a.phone == OWN_PHONE)
        .flat_map(|a| a.devices)
        .map(|d| d.offline_queue)
        .sum()
}

fn send(sim: &SimHandle, n: usize, tag: &str) {
    for i in 0..n {
        sim.customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Text(format!("{tag} {i}")),
            None,
        )
        .expect("customer send");
    }
}

/// Reads events, acknowledging each message, until `n` messages whose text starts with
/// `tag` arrived; returns their distinct texts.
async fn drain(events: &mut EventStream, n: usize, tag: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    while seen.len() < n {
        let text = expect(events, "the next customer message", |e| match e {
            Event::Message(mut m) => {
                let text = m.text().map(str::to_owned);
                m.ack();
                text
            }
            _ => None,
        })
        .await;
        if text.starts_with(tag) {
            seen.insert(text);
        }
    }
    seen
}

fn ping() -> Node {
    Node::new("iq")
        .attr("xmlns", "w:p")
        .attr("type", "get")
        .attr("to", whatsapp_client::Jid::server_jid())
        .children([Node::new("ping")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_the_queues_at_their_bounds_and_an_iq_still_completes() {
    const OFFLINE: usize = 100;
    const LIVE: usize = EVENTS + 1 + WORKER_QUEUE + BACKLOG + 4;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("backpressure");
    let (client, mut events) = start(&path, config(&sim)).await;
    pair_by_qr(&sim, &mut events, OWN_PHONE).await;
    client.shutdown().await;
    drop((client, events));
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");

    // Offline: the server holds every message until the client logs in.
    send(&sim, OFFLINE, "offline");
    poll_until("the messages queued at the server", async || {
        (queued_at_server(&sim) >= OFFLINE).then_some(())
    })
    .await;
    let (client, mut events) = start(&path, small_queues(&sim)).await;
    full(&client).await;
    // The event queue never holds more than its bound.
    let backlog = client.backlog();
    assert_eq!(backlog.events, EVENTS, "{backlog:?}");
    // While an answer is awaited (the login's IQs) the socket is read on (up to a floor of
    // thousands of stanzas, so that a service awaiting its sends' acks never stalls), so the
    // offline queue may be read in whole here; the live part below checks the bound.
    assert_eq!(drain(&mut events, OFFLINE, "offline").await.len(), OFFLINE);

    // Live, with every queue full and a few messages more in the socket: an IQ awaited by
    // the application while it reads no events still gets its answer.
    send(&sim, LIVE, "live");
    full(&client).await;
    // Nothing awaited: reading stops at the bound, and the last few messages wait in the
    // socket. Once the client says it stopped reading, nothing more is read until the
    // application reads events or awaits an answer, so the count is final.
    poll_until("the client to stop reading the socket", async || {
        client.backlog().reading_paused.then_some(())
    })
    .await;
    let backlog = client.backlog();
    assert_eq!(
        backlog.stanzas,
        WORKER_QUEUE + BACKLOG,
        "{backlog:?} with {LIVE} sent"
    );
    tokio::time::timeout(Duration::from_secs(20), client.send_iq(ping()))
        .await
        .expect("the IQ answered while the event queue is full")
        .expect("ping result");
    assert_eq!(client.backlog().events, EVENTS);
    assert_eq!(drain(&mut events, LIVE, "live").await.len(), LIVE);
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

/// Waits until the event queue and the stanza backlog are both full.
async fn full(client: &Client) {
    poll_until("the client's queues full", async || {
        let backlog = client.backlog();
        (backlog.events == EVENTS && backlog.stanzas >= WORKER_QUEUE + BACKLOG).then_some(())
    })
    .await;
}
