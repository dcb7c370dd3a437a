//! Inbound messages per second through the whole client: whatsapp-sim -> WebSocket -> Noise ->
//! decrypt -> store commit (SQLite, WAL, synchronous=NORMAL) -> handler (its own SQLite
//! database, rows keyed by id) -> ack -> delivery receipt at the server.
//!
//! ```text
//! cargo bench -p e2e --bench inbound            # 5,000 messages per run
//! cargo bench -p e2e --bench inbound -- 20000   # another count
//! cargo bench -p e2e --bench inbound -- grouped  # one run (per-message, grouped, live)
//! ```
//!
//! The client runs on a current-thread runtime (one core for the client's own work; SQLite
//! does its writing on sqlx's connection threads), the sim on a second runtime thread. Runs:
//! - offline catch-up with a commit per message (`Config::catch_up_group = 1`, and the
//!   handler commits each message on its own),
//! - offline catch-up with grouped commits (the default, 64 per transaction; the handler takes
//!   what is waiting with `EventStream::recv_many` and commits it in one transaction),
//! - live: the customers send while the client is online (the sim's encryption of each
//!   message shares the machine with the client here).
//!
//! The offline runs queue every message at the server first (not timed; the customers' sending
//! is awaited until the server holds every message), then time from
//! `Client::start` until the server holds nothing for the device: every message was
//! committed by the handler and acknowledged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use whatsapp_client::store::SqliteStore;
use whatsapp_client::{Client, Config, Event, EventStream};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

const CUSTOMERS: usize = 8;

fn config(sim: &SimHandle, group: usize) -> Config {
    let mut config = fixtures::config(sim);
    config.catch_up_group = group;
    config
}

async fn handler_db(path: &Path) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
        )
        .await
        .expect("handler db");
    sqlx::query("CREATE TABLE IF NOT EXISTS received (id TEXT PRIMARY KEY, text TEXT)")
        .execute(&pool)
        .await
        .expect("table");
    pool
}

async fn pair(sim: &SimHandle, store: &PathBuf, phone: &str) {
    let (client, mut events) = fixtures::start(store, config(sim, 64)).await;
    fixtures::pair_by_qr(sim, &mut events, phone).await;
    client.shutdown().await;
}

/// Handles messages until `n` were committed. With `batched`, the handler takes every
/// message already waiting (up to 64), commits them in one transaction and then acknowledges
/// each; otherwise it commits each message on its own.
async fn handle(events: &mut EventStream, pool: &SqlitePool, n: usize, batched: bool) {
    let mut done = 0;
    let mut batch = Vec::new();
    let limit = if batched { 64 } else { 1 };
    while done < n {
        assert!(
            events.recv_many(&mut batch, limit).await > 0,
            "event stream"
        );
        let mut messages = Vec::new();
        for event in batch.drain(..) {
            match event {
                Event::Message(m) => messages.push(m),
                Event::UndecryptableMessage { reason, .. } => panic!("undecryptable: {reason}"),
                _ => {}
            }
        }
        if messages.is_empty() {
            continue;
        }
        let mut insert = sqlx::QueryBuilder::new("INSERT OR IGNORE INTO received (id, text) ");
        insert.push_values(&messages, |mut row, m| {
            row.push_bind(&m.info.id).push_bind(m.text());
        });
        insert.build().execute(pool).await.expect("handler commit");
        for m in &mut messages {
            m.ack();
        }
        done += messages.len();
    }
}

fn queued(sim: &SimHandle, phone: &str) -> usize {
    sim.devices()
        .into_iter()
        .filter(|a| a.phone == phone)
        .flat_map(|a| a.devices)
        .map(|d| d.offline_queue)
        .sum()
}

async fn wait_acked(sim: &SimHandle, phone: &str) {
    while queued(sim, phone) > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until the server holds `n` messages for the device: the customers (clients of the
/// sim's runtime) encrypt and send in the background after `customer_send` returns.
fn wait_queued(sim: &SimHandle, phone: &str, n: usize) {
    while queued(sim, phone) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send_all(sim: &SimHandle, customers: &[String], phone: &str, n: usize) {
    for i in 0..n {
        sim.customer_send(
            &customers[i % customers.len()],
            phone,
            Outgoing::Text(format!("message {i}")),
            None,
        )
        .expect("customer send");
    }
}

struct Run {
    dir: PathBuf,
    phone: String,
    customers: Vec<String>,
}

fn prepare(client_rt: &tokio::runtime::Runtime, sim: &SimHandle, index: usize) -> Run {
    let dir = fixtures::temp_dir(&format!("bench-{index}"));
    let phone = format!("2010000000{index:02}");
    client_rt.block_on(pair(sim, &dir.join("session.db"), &phone));
    let customers: Vec<String> = (0..CUSTOMERS)
        .map(|c| format!("2011{index:02}00000{c}"))
        .collect();
    for c in &customers {
        sim.add_customer(c, "Customer", 1, false).expect("customer");
    }
    Run {
        dir,
        phone,
        customers,
    }
}

fn offline(
    client_rt: &tokio::runtime::Runtime,
    sim: &SimHandle,
    index: usize,
    group: usize,
    n: usize,
) -> Duration {
    let run = prepare(client_rt, sim, index);
    // Warm the sessions (the first message of each customer is a pkmsg).
    send_all(sim, &run.customers, &run.phone, CUSTOMERS);
    send_all(sim, &run.customers, &run.phone, n);
    wait_queued(sim, &run.phone, n + CUSTOMERS);
    client_rt.block_on(async {
        let pool = handler_db(&run.dir.join("handler.db")).await;
        let store = Arc::new(
            SqliteStore::open(run.dir.join("session.db"))
                .await
                .expect("store"),
        );
        let started = Instant::now();
        let (client, mut events) = Client::start(store, config(sim, group))
            .await
            .expect("client");
        handle(&mut events, &pool, n + CUSTOMERS, group > 1).await;
        wait_acked(sim, &run.phone).await;
        let elapsed = started.elapsed();
        client.shutdown().await;
        elapsed
    })
}

fn live(client_rt: &tokio::runtime::Runtime, sim: &SimHandle, index: usize, n: usize) -> Duration {
    let run = prepare(client_rt, sim, index);
    client_rt.block_on(async {
        let pool = handler_db(&run.dir.join("handler.db")).await;
        let store = Arc::new(
            SqliteStore::open(run.dir.join("session.db"))
                .await
                .expect("store"),
        );
        let (client, mut events) = Client::start(store, config(sim, 64)).await.expect("client");
        loop {
            if let Event::Connected = events.recv().await.expect("event stream") {
                break;
            }
        }
        let sender = {
            let (sim, customers, phone) = (sim.clone(), run.customers.clone(), run.phone.clone());
            std::thread::spawn(move || send_all(&sim, &customers, &phone, n))
        };
        let started = Instant::now();
        handle(&mut events, &pool, n, true).await;
        wait_acked(sim, &run.phone).await;
        let elapsed = started.elapsed();
        sender.join().expect("sender");
        client.shutdown().await;
        elapsed
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5_000);
    // Named runs only (`per-message`, `grouped`, `live`), e.g. to profile one; all by default.
    let names: Vec<&str> = ["per-message", "grouped", "live"]
        .into_iter()
        .filter(|name| args.iter().any(|a| a == name))
        .collect();
    let wanted = |name: &str| names.is_empty() || names.contains(&name);
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("sim runtime");
    // The sim's customers are tasks of the sim's runtime.
    let _sim_context = sim_rt.enter();
    let sim = sim_rt
        .block_on(Sim::start(SimConfig {
            phone_bootstrap: false,
            ..SimConfig::default()
        }))
        .expect("sim");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let report = |label: &str, elapsed: Duration, count: usize| {
        println!(
            "{label:<44} {count:>6} messages in {:>7.3} s = {:>8.0} messages/s",
            elapsed.as_secs_f64(),
            count as f64 / elapsed.as_secs_f64()
        );
    };
    if wanted("per-message") {
        let elapsed = offline(&client_rt, &sim, 1, 1, n);
        report(
            "offline catch-up, a commit per message",
            elapsed,
            n + CUSTOMERS,
        );
    }
    if wanted("grouped") {
        let elapsed = offline(&client_rt, &sim, 2, 64, n);
        report(
            "offline catch-up, grouped commits (64)",
            elapsed,
            n + CUSTOMERS,
        );
    }
    if wanted("live") {
        let elapsed = live(&client_rt, &sim, 3, n);
        report("live (sim encrypting in the same process)", elapsed, n);
    }
    sim.shutdown();
}
