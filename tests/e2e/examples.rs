//! The example programs of whatsapp-client, run as processes against the sim. `poll` and
//! `send_media` run as a developer would: on a store `pair_qr` paired, after a customer wrote.
//!
//! The binaries are the ones `cargo test --workspace --all-targets` (./test.sh) builds next to
//! this test (`target/<profile>/examples`). When they are missing the tests fail and say how to
//! build them: they never skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use fixtures::{WAIT, inbox_until, poll_until, temp_dir};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p whatsapp-client --examples` (./test.sh does)",
        path.display()
    );
    path
}

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts an example against the sim on the session store `store`; returns it and a channel
/// of its stdout lines.
fn spawn(
    binary: &PathBuf,
    sim: &SimHandle,
    store: &Path,
    extra: &[&str],
) -> (Running, mpsc::Receiver<String>) {
    let mut child = Command::new(binary)
        .args(["--url", &sim.ws_url, "--trust-root", &sim.root_key_hex()])
        .arg("--store")
        .arg(store)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn example");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Running(child), rx)
}

/// A session store path in a fresh temp dir for the example `name`.
fn store(name: &str) -> PathBuf {
    temp_dir(&format!("example-{name}")).join("session.db")
}

/// Pairs a store to `phone` as a developer would: runs `pair_qr` on it, scans its QR code,
/// waits until it is online, then stops it and waits until the sim sees it offline.
async fn paired_store(sim: &SimHandle, phone: &str, name: &str) -> PathBuf {
    let path = store(name);
    let (child, lines) = spawn(&example("pair_qr"), sim, &path, &[]);
    let qr = qr_line(&lines);
    sim.scan(&qr, phone).await.expect("scan");
    wait_online(sim, phone, true).await;
    drop(child);
    wait_online(sim, phone, false).await;
    path
}

fn qr_line(lines: &mpsc::Receiver<String>) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("a QR string line");
        if line.starts_with("https://wa.me/settings/linked_devices#") {
            return line;
        }
    }
}

/// Waits until the account's linked device is online (`true`) or offline.
async fn wait_online(sim: &SimHandle, phone: &str, online: bool) {
    let what = format!("the example {}", if online { "online" } else { "offline" });
    poll_until(&what, async || {
        sim.devices()
            .iter()
            .filter(|a| a.phone == phone)
            .flat_map(|a| a.devices.iter())
            .any(|d| d.online == online)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_qr_prints_the_qr_and_stays_connected() {
    let binary = example("pair_qr");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let (_child, lines) = spawn(&binary, &sim, &store("pair_qr"), &[]);
    let qr = qr_line(&lines);
    sim.scan(&qr, "201001230000").await.expect("scan");
    wait_online(&sim, "201001230000", true).await;
    assert_eq!(
        sim.forced_closes(),
        0,
        "the sim closed the socket after 515"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_bot_answers_with_the_same_text() {
    let binary = example("echo_bot");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let (_child, lines) = spawn(&binary, &sim, &store("echo_bot"), &[]);
    let qr = qr_line(&lines);
    sim.scan(&qr, "201001230001").await.expect("scan");
    wait_online(&sim, "201001230001", true).await;
    sim.add_customer("201112220001", "Mona", 1, false)
        .expect("customer");
    sim.customer_send(
        "201112220001",
        "201001230001",
        Outgoing::Text("ping".into()),
        None,
    )
    .expect("send");
    inbox_until(&sim, "201112220001", "the echo", |inbox| {
        inbox.iter().any(|m| m.text.as_deref() == Some("ping"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_code_prints_a_pairing_code_and_links() {
    let binary = example("pair_code");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    sim.add_account("201001230002", "Pharmacy")
        .expect("account");
    let (_child, lines) = spawn(
        &binary,
        &sim,
        &store("pair_code"),
        &["--phone", "201001230002"],
    );
    let deadline = Instant::now() + WAIT;
    let code = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("a pairing code line");
        let is_code = line.len() == 9
            && line.as_bytes()[4] == b'-'
            && line
                .chars()
                .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_code {
            break line;
        }
    };
    sim.link_code("201001230002", &code)
        .await
        .expect("link code");
    wait_online(&sim, "201001230002", true).await;
    assert_eq!(
        sim.forced_closes(),
        0,
        "the sim closed the socket after 515"
    );
}

/// The next stdout line that starts with `prefix`, without it.
fn line_starting(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("a line starting {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_sends_the_poll_and_prints_the_tally() {
    let binary = example("poll");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let store = paired_store(&sim, "201001230003", "poll").await;
    // The customer writes while the example is not running: its message and its privacy
    // token wait in the offline queue, and the poll goes out only once they were delivered
    // (the server refuses a first message without the token with 463).
    sim.add_customer("201112220003", "Mona", 1, false)
        .expect("customer");
    sim.customer_send(
        "201112220003",
        "201001230003",
        Outgoing::Text("which branch is open?".into()),
        None,
    )
    .expect("customer send");
    let args = [
        "--to",
        "201112220003",
        "--question",
        "Which branch?",
        "--option",
        "Maadi",
        "--option",
        "Zamalek",
    ];
    let (_child, lines) = spawn(&binary, &sim, &store, &args);
    let poll_id = line_starting(&lines, "poll ");
    inbox_until(&sim, "201112220003", "the poll at the customer", |inbox| {
        inbox.iter().any(|m| m.id == poll_id)
    })
    .await;
    sim.customer_vote(
        "201112220003",
        "201001230003",
        &poll_id,
        &["Zamalek"],
        false,
    )
    .expect("vote");
    // The customer writes by number, but its message named its LID too: the poll went to
    // the LID (whatsmeow send.go writes to a known LID), and the vote comes back from it.
    let voter = fixtures::lid_of(&sim, "201112220003");
    assert_eq!(line_starting(&lines, "vote "), format!("{voter} Zamalek"));
    assert_eq!(line_starting(&lines, "tally "), "Maadi=0 Zamalek=1");
    // A voter's new vote replaces the old one.
    sim.customer_vote("201112220003", "201001230003", &poll_id, &["Maadi"], false)
        .expect("second vote");
    assert_eq!(line_starting(&lines, "tally "), "Maadi=1 Zamalek=0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_media_uploads_the_file_through_the_servers_media_hosts() {
    let binary = example("send_media");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let store = paired_store(&sim, "201001230004", "send-media").await;
    // The customer wrote while the example was not running (see the poll test).
    sim.add_customer("201112220004", "Mona", 1, false)
        .expect("customer");
    sim.customer_send(
        "201112220004",
        "201001230004",
        Outgoing::Text("my prescription please".into()),
        None,
    )
    .expect("customer send");
    let dir = temp_dir("example-send-media-file");
    let file = dir.join("prescription.pdf");
    let body = b"%PDF-1.4 a prescription".repeat(40);
    std::fs::write(&file, &body).expect("file");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let args = [
        "--to",
        "201112220004",
        "--file",
        &file,
        "--caption",
        "your prescription",
    ];
    let (_child, lines) = spawn(&binary, &sim, &store, &args);
    let id = line_starting(&lines, "sent ");
    let want = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    inbox_until(
        &sim,
        "201112220004",
        "the document at the customer",
        |inbox| {
            inbox.iter().any(|m| {
                m.id == id
                    && m.kind == "document"
                    && m.text.as_deref() == Some("your prescription")
                    && m.media_sha256.as_deref() == Some(want.as_str())
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_dump_prints_the_phones_history_after_pairing() {
    let binary = example("history_dump");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    sim.add_account("201001230005", "City Pharmacy")
        .expect("account");
    let seeded = sim
        .seed_generated_history("201001230005", 2, 5)
        .expect("history");
    let (_child, lines) = spawn(&binary, &sim, &store("history_dump"), &[]);
    let qr = qr_line(&lines);
    sim.scan(&qr, "201001230005").await.expect("scan");
    let mut ids = std::collections::HashSet::new();
    while ids.len() < seeded {
        let line = line_starting(&lines, "{");
        let value: serde_json::Value =
            serde_json::from_str(&format!("{{{line}")).expect("a JSON line");
        assert!(
            value["chat"]
                .as_str()
                .is_some_and(|c| c.ends_with("@s.whatsapp.net"))
        );
        assert!(
            value["text"].as_str().is_some_and(|t| t.contains("(#")),
            "{value}"
        );
        assert!(
            ids.insert(value["id"].as_str().expect("id").to_owned()),
            "{value} twice"
        );
    }
}
