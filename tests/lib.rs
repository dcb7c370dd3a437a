//! Shared fixtures of the end-to-end tests (the tests live in e2e/, the bench in benches/):
//! temp dirs, a client config pointed at a sim, pairing through the sim's simulated phone,
//! waiting for an event, and polling until the sim shows something ([`poll_until`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use whatsapp_client::store::{PrivacyTokenStore, SqliteStore};
use whatsapp_client::{Client, Config, Event, EventStream, IncomingMessage, Jid};
pub use whatsapp_sim::testing::poll_until;
use whatsapp_sim::{InboxEntry, SentEntry, SimHandle};

/// The pharmacy's own number: the account the client under test is paired to.
pub const OWN_PHONE: &str = "201001234567";
/// A customer's number.
pub const CUSTOMER: &str = "201112223334";
/// How long [`expect`] waits for an event.
pub const WAIT: Duration = Duration::from_secs(30);

/// A fresh, empty directory for `name`, private to this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wa-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A session database path in a fresh [`temp_dir`].
pub fn temp_db(name: &str) -> PathBuf {
    temp_dir(name).join("session.db")
}

/// A client config pointed at the sim (its WebSocket, trust root and media server), with quick
/// reconnects; also turns on `RUST_LOG` tracing into the test output.
pub fn config(sim: &SimHandle) -> Config {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut config = sim.client_config();
    config.reconnect.initial = Duration::from_millis(100);
    config.reconnect.max = Duration::from_millis(500);
    config
}

/// Waits for the first event `pick` accepts, failing on timeout ([`WAIT`]) or end of stream.
pub async fn expect<T>(
    events: &mut EventStream,
    what: &str,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("event stream ended waiting for {what}"));
        if let Some(found) = pick(event) {
            return found;
        }
    }
}

/// Starts a client on the SQLite store at `path`.
pub async fn start(path: &PathBuf, config: Config) -> (Client, EventStream) {
    let store = Arc::new(SqliteStore::open(path).await.expect("store"));
    Client::start(store, config).await.expect("client")
}

/// Pairs a started client through the sim: `phone`'s simulated phone scans the first QR code,
/// then the client reports the pairing and connects. Returns the paired device's JID.
pub async fn pair_by_qr(sim: &SimHandle, events: &mut EventStream, phone: &str) -> Jid {
    let qr = expect(events, "a QR code", |e| match e {
        Event::Qr(qr) => Some(qr),
        _ => None,
    })
    .await;
    assert!(
        qr.data
            .starts_with("https://wa.me/settings/linked_devices#")
    );
    assert!(qr.render_png(2).is_ok() && qr.render_svg().is_ok());
    let jid = sim.scan(&qr.data, phone).await.expect("scan");
    let paired_jid = expect(events, "pair success", |e| match e {
        Event::PairSuccess { jid, .. } => Some(jid),
        _ => None,
    })
    .await;
    assert_eq!(paired_jid, jid);
    expect(events, "connected", |e| {
        matches!(e, Event::Connected).then_some(())
    })
    .await;
    // The client closed the socket after the 515 itself: the sim's deadline never had to.
    assert_eq!(
        sim.forced_closes(),
        0,
        "the sim closed the socket after 515"
    );
    jid
}

/// Starts a client on a fresh store and pairs it to [`OWN_PHONE`] through the sim.
pub async fn paired(sim: &SimHandle, path: &PathBuf, config: Config) -> (Client, EventStream) {
    let (client, mut events) = start(path, config).await;
    pair_by_qr(sim, &mut events, OWN_PHONE).await;
    assert!(client.is_connected());
    (client, events)
}

/// Polls a customer's inbox (what its devices received) until `pick` accepts it.
pub async fn inbox_until(
    sim: &SimHandle,
    phone: &str,
    what: &str,
    mut pick: impl FnMut(&[InboxEntry]) -> bool,
) -> Vec<InboxEntry> {
    poll_until(what, async || {
        let inbox = sim.customer_inbox(phone).expect("inbox");
        pick(&inbox).then_some(inbox)
    })
    .await
}

/// Polls until the message `id` a customer sent shows `status` (`delivered`, `read`, …).
pub async fn sent_until(sim: &SimHandle, phone: &str, id: &str, status: &str) -> SentEntry {
    let what = format!("{status} on the customer's message {id}");
    poll_until(&what, async || {
        sim.customer_sent(phone)
            .expect("sent")
            .into_iter()
            .find(|s| s.id == id && s.status == status)
    })
    .await
}

/// Polls until `count` of a customer's devices hold the message `id`; returns those copies.
pub async fn copies_until(sim: &SimHandle, phone: &str, id: &str, count: usize) -> Vec<InboxEntry> {
    let what = format!("{id} on {count} of {phone}'s devices");
    let inbox = inbox_until(sim, phone, &what, |inbox| {
        inbox.iter().filter(|m| m.id == id).count() == count
    })
    .await;
    inbox.into_iter().filter(|m| m.id == id).collect()
}

/// Waits for the next message the client hands to the application ([`expect`]).
pub async fn next_message(events: &mut EventStream, what: &str) -> Box<IncomingMessage> {
    expect(events, what, |e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    })
    .await
}

/// The LID JID (`user@lid`) the sim gave an account.
pub fn lid_of(sim: &SimHandle, phone: &str) -> String {
    sim.lid_of(phone).expect("account").to_string()
}

/// Asserts that every stanza the sim sent so far passes a JID-strict parse: each JID-named
/// attribute a JID node, never text (whatsmeow answers text with `<ack error="487">`).
pub fn assert_jids_are_jids(sim: &SimHandle) {
    let text = sim.text_jids();
    assert!(text.is_empty(), "the sim wrote JIDs as text: {text:?}");
}

/// `customer` wrote to [`OWN_PHONE`] before: the sim issues its trusted-contact token (as its
/// phone does on writing), and this waits until the client on the store at `store` holds it
/// (under the customer's LID or number), so that its next message carries it (the sim
/// refuses a first message without one with 463).
pub async fn hold_token(sim: &SimHandle, store: &Path, customer: &str) {
    sim.issue_privacy_token(customer, OWN_PHONE).expect("token");
    let db = SqliteStore::open(store).await.expect("store");
    let forms = [lid_of(sim, customer), Jid::user(customer).to_string()];
    let what = format!("{customer}'s privacy token in the client's store");
    poll_until(&what, async || {
        for form in &forms {
            if db.load_privacy_token(form).await.expect("load").is_some() {
                return Some(());
            }
        }
        None
    })
    .await;
}
