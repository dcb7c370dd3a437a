//! Issue 7's crash test: the receiving client runs in its own process (`crash_receiver`),
//! which is killed (`Child::kill`: SIGKILL on unix, TerminateProcess on Windows) at random
//! moments while simulated customers send 2,000 messages, and started again each time. At the
//! end the handler's own SQLite table holds every message exactly once, with its text.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

use fixtures::{OWN_PHONE, config, paired, temp_db};

const MESSAGES: usize = 2_000;
const CUSTOMERS: [&str; 4] = [
    "201110000001",
    "201110000002",
    "201110000003",
    "201110000004",
];
/// Kills at least this many receivers, and goes on killing until every message was sent.
const MIN_KILLS: u32 = 25;

fn spawn_receiver(sim: &SimHandle, dir: &std::path::Path, run: u32) -> Child {
    let log = std::fs::File::create(dir.join(format!("receiver-{run}.log"))).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_crash_receiver"))
        .arg("--url")
        .arg(&sim.ws_url)
        .arg("--trust-root")
        .arg(hex::encode(sim.root_public_key))
        .arg("--store")
        .arg(dir.join("session.db"))
        .arg("--inbox")
        .arg(dir.join("inbox.db"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("crash_receiver runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_every_message_is_committed_exactly_once() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    // Printed so that a failure can be replayed (`CRASH_SEED=… cargo test … crash`).
    eprintln!("crash test seed: {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("crash");
    let dir = path.parent().expect("temp dir").to_path_buf();
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    client.shutdown().await;
    drop(client);
    for customer in CUSTOMERS {
        sim.add_customer(customer, "Customer", 1, false)
            .expect("customer");
    }

    let sender = {
        let sim = sim.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..MESSAGES {
                let from = CUSTOMERS[i % CUSTOMERS.len()];
                sim.customer_send(from, OWN_PHONE, Outgoing::Text(format!("m{i}")), None)
                    .expect("customer send");
                if i % 100 == 99 {
                    // Spread the sending over several receiver lives.
                    std::thread::sleep(Duration::from_millis(150));
                }
            }
        })
    };

    let deadline = tokio::time::Instant::now() + Duration::from_secs(110);
    let mut kills = 0u32;
    while !sender.is_finished() || kills < MIN_KILLS {
        let mut child = spawn_receiver(&sim, &dir, kills);
        let life = Duration::from_millis(rng.gen_range(20..600));
        tokio::time::sleep(life).await;
        child.kill().expect("kill");
        child.wait().expect("reap");
        kills += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: sending did not finish"
        );
    }
    sender.await.expect("sender");

    // A last life that is not cut short: the server redelivers what is left.
    let mut child = spawn_receiver(&sim, &dir, kills);
    let inbox = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.join("inbox.db"))
                .read_only(true),
        )
        .await
        .expect("inbox db");
    loop {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM received")
            .fetch_one(&inbox)
            .await
            .unwrap_or(0);
        if count as usize >= MESSAGES {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: only {count} of {MESSAGES} messages committed after {kills} kills (logs in {})",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every message acknowledged: the server keeps nothing more for us.
    loop {
        let queued: usize = sim
            .devices()
            .into_iter()
            .filter(|a| a.phone == OWN_PHONE)
            .flat_map(|a| a.devices)
            .map(|d| d.offline_queue)
            .sum();
        if queued == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: {queued} stanzas never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("reap");

    let rows: Vec<(String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, text, deliveries FROM received")
            .fetch_all(&inbox)
            .await
            .expect("rows");
    let texts: BTreeSet<String> = rows.iter().filter_map(|r| r.1.clone()).collect();
    let expected: BTreeSet<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    assert_eq!(
        rows.len(),
        MESSAGES,
        "seed {seed}: a message committed under two ids"
    );
    assert_eq!(texts, expected, "seed {seed}: messages lost or garbled");
    let redelivered = rows.iter().filter(|r| r.2 > 1).count();
    eprintln!(
        "crash test: {kills} kills, {redelivered} messages delivered to the handler more than once \
         (deduplicated by id)"
    );
    sim.shutdown();
}
