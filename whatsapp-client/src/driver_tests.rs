//! Unit tests of the driver: what it must never wait for, and what it reads for.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use whatsapp_proto::jid::Server;

use super::*;
use crate::Config;
use crate::context::GroupInfo;
use crate::store::{DeviceStore as _, MemoryStore};

/// Longer than any wait below should take: only a hang reaches it.
const HANG: Duration = Duration::from_secs(30);

/// A paired device's shared state over a fresh store, and a driver for it (not started).
async fn paired(config: Config) -> (Arc<Shared>, Driver, mpsc::Receiver<Event>) {
    let store = Arc::new(MemoryStore::new());
    let mut device = Device::generate(&mut rand::thread_rng());
    device.jid = Some("201001234567:3@s.whatsapp.net".parse().unwrap());
    store.save_device(&device).await.unwrap();
    let (events_tx, events_rx) = mpsc::channel(64);
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let guard = RegistryGuard::acquire(*device.noise_pair().public()).expect("a free place");
    let shared = Arc::new(Shared::new(
        store, config, device, events_tx, cmd_tx, ack_tx,
    ));
    let driver = Driver::new(shared.clone(), cmd_rx, ack_rx, guard);
    (shared, driver, events_rx)
}

/// Stops a started driver and waits until it has.
async fn stop(shared: &Shared, driver: tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel();
    shared.command(Command::Shutdown(Some(tx))).await.unwrap();
    tokio::time::timeout(HANG, rx)
        .await
        .expect("the driver stopped")
        .unwrap();
    driver.await.unwrap();
}

/// A send holds the session lock while it awaits an answer only the driver reads; the
/// driver, (re)connecting meanwhile with the store's LID migration still to run, must not
/// wait for that lock: it sends its hello, and the migration runs once the lock is free.
#[tokio::test]
async fn the_driver_connects_while_a_send_holds_the_session_lock() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/chat", listener.local_addr().unwrap());
    let (shared, driver, _events) = paired(Config::default().with_url(url)).await;
    let held = shared.sessions.lock().await;
    let driver = tokio::spawn(driver.run());
    let (tcp, _) = tokio::time::timeout(HANG, listener.accept())
        .await
        .expect("the driver connected")
        .unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let hello = tokio::time::timeout(HANG, ws.next())
        .await
        .expect("the hello sent while the session lock is held");
    assert!(
        matches!(hello, Some(Ok(tungstenite::Message::Binary(_)))),
        "{hello:?}"
    );
    assert!(!shared.lid_db_migrated.load(Ordering::Acquire));
    drop(held);
    tokio::time::timeout(HANG, async {
        while !shared.lid_db_migrated.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the migration ran once the lock was free");
    stop(&shared, driver).await;
}

/// The version page is read before connecting, but a page that never answers holds up
/// neither a shutdown nor anything else the driver answers.
#[tokio::test]
async fn a_version_page_that_never_answers_does_not_hold_up_a_shutdown() {
    let page = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config =
        Config::default().with_version_url(format!("http://{}/", page.local_addr().unwrap()));
    // Without the driver's own bound the fetch would wait this long.
    config.media_timeouts = crate::HttpTimeouts::new(HANG * 100, HANG * 100, HANG * 100);
    let (shared, driver, _events) = paired(config).await;
    let driver = tokio::spawn(driver.run());
    // Accepted and never answered.
    let (_silent, _) = tokio::time::timeout(HANG, page.accept())
        .await
        .expect("the page was asked for")
        .unwrap();
    let (tx, rx) = oneshot::channel();
    shared
        .command(Command::Iq(Node::new("iq"), tx))
        .await
        .unwrap();
    let answer = tokio::time::timeout(HANG, rx)
        .await
        .expect("answered while the page is read");
    assert!(
        matches!(answer, Ok(Err(ClientError::NotConnected))),
        "{answer:?}"
    );
    stop(&shared, driver).await;
}

/// A logout forgets what was learned about the account: the next pairing may be another.
#[tokio::test]
async fn a_logout_forgets_the_account_s_caches() {
    let (shared, mut driver, _events) = paired(Config::default()).await;
    let group = Jid::new("120363000000000001", Server::Group);
    let info = GroupInfo {
        participants: vec![Jid::user("201000000001".to_owned())],
        lid_mode: false,
    };
    shared
        .group_cache
        .lock()
        .unwrap()
        .insert(&group, info.clone());
    assert!(shared.tokens_issued.lock().unwrap().claim("1@lid", 1));
    shared.lid_db_migrated.store(true, Ordering::Release);
    driver.logged_out(LogoutReason::LoggedOut).await;
    assert_eq!(shared.group_cache.lock().unwrap().get(&group), None);
    assert!(shared.tokens_issued.lock().unwrap().claim("1@lid", 1));
    assert!(!shared.lid_db_migrated.load(Ordering::Acquire));
}

/// A connection over a loopback socket, nothing read yet.
async fn connection() -> (Connection, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while ws.next().await.is_some() {}
    });
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let clock = crate::clock::SystemClock;
    let core_clock = CoreClock::start(&clock);
    let device = Device::generate(&mut rand::thread_rng());
    let core = ClientConnection::new(
        ClientConfig::new(device.noise_pair(), Vec::new()),
        core_clock.now(&clock),
        &mut rand::thread_rng(),
    );
    let (stanzas, _) = mpsc::channel(1);
    let conn = Connection {
        core,
        ws,
        iqs: HashMap::new(),
        messages: HashMap::new(),
        qr_task: None,
        stanzas,
        backlog: VecDeque::new(),
        clock: core_clock,
        worker: tokio::spawn(async {}).abort_handle(),
        logged_in: None,
        planned: None,
    };
    (conn, server)
}

/// Past the backlog's bound the socket is read on only for an answer someone still
/// awaits: a send or IQ whose caller gave up (dropped its future) does not count.
#[tokio::test]
async fn only_answers_still_awaited_keep_the_socket_read_past_the_bound() {
    let (mut conn, _server) = connection().await;
    for _ in 0..4 {
        conn.backlog.push_back(Node::new("message"));
    }
    assert!(!conn.may_read(4, 100), "nothing awaited");
    assert!(conn.may_read(5, 100), "below the bound");

    let (ack, ack_rx) = oneshot::channel();
    conn.messages.insert("3EB0".into(), ack);
    assert!(conn.may_read(4, 100), "a message's ack awaited");
    assert!(!conn.may_read(4, 4), "at the awaiting bound");
    drop(ack_rx);
    assert!(!conn.may_read(4, 100), "its sender gave up");
    assert!(conn.messages.is_empty());

    let (result, result_rx) = oneshot::channel();
    conn.iqs.insert("1.2-3".into(), result);
    assert!(conn.may_read(4, 100), "an IQ's result awaited");
    drop(result_rx);
    assert!(!conn.may_read(4, 100), "its caller gave up");
    assert!(conn.iqs.is_empty());
}
