//! `pharmacy-service demo --port 0` as a process: the first stdout line is the JSON start line;
//! an agent logs in over HTTP and sees tickets from the simulated customers; Ctrl-C (SIGINT on
//! unix) stops it cleanly.

use super::api_support::Client;
use super::support::TempDir;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(240);

pub(crate) async fn login(addr: SocketAddr, username: &str, password: &str) -> Client {
    let mut c = Client {
        addr,
        cookie: None,
        csrf: None,
        bearer: None,
    };
    let r = c
        .post(
            "/auth/login",
            json!({ "username": username, "password": password }),
        )
        .await;
    assert_eq!(r.status, 200, "login {username}: {}", r.text());
    let cookie = r.header("set-cookie").expect("session cookie");
    c.cookie = Some(cookie.split(';').next().unwrap().to_owned());
    c.csrf = r.json()["csrf_token"].as_str().map(str::to_owned);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_starts_pairs_and_tickets_appear() {
    let dir = TempDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pharmacy-service"))
        .args(["demo", "--port", "0", "--data-dir"])
        .arg(&dir.0)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(WAIT)
        .expect("a start line in time")
        .expect("readable stdout");
    let line: Value = serde_json::from_str(&first).expect("the first line is JSON");
    let url = line["url"].as_str().expect("url");
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .expect("http URL")
        .parse()
        .expect("host:port");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{url}");
    assert!(
        line["sim_control"]
            .as_str()
            .is_some_and(|s| s.starts_with("http://127.0.0.1:")),
        "{line}"
    );
    assert!(line["admin"]["username"].is_string() && line["admin"]["password"].is_string());
    let agents = line["agents"].as_array().expect("agents").clone();
    assert_eq!(agents.len(), 15, "one agent per branch: {line}");
    for a in &agents {
        assert!(a["username"].is_string() && a["password"].is_string() && a["branch"].is_string());
    }

    // Agents sign in over HTTP; tickets from the simulated customers appear in their lists.
    let mut clients = Vec::new();
    for a in &agents {
        clients.push(
            login(
                addr,
                a["username"].as_str().unwrap(),
                a["password"].as_str().unwrap(),
            )
            .await,
        );
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    'seen: loop {
        for c in &clients {
            let r = c.get("/api/tickets").await;
            assert_eq!(r.status, 200, "{}", r.text());
            if r.json()["items"].as_array().is_some_and(|i| !i.is_empty()) {
                break 'seen;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ticket from the simulated customers in time"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The link is up (an admin sees it).
    let admin = login(
        addr,
        line["admin"]["username"].as_str().unwrap(),
        line["admin"]["password"].as_str().unwrap(),
    )
    .await;
    let s = admin.get("/api/whatsapp/status").await;
    assert_eq!(s.json()["state"], "connected", "{}", s.text());

    stop(&mut child);
    let status = wait_exit(&mut child);
    #[cfg(unix)]
    assert!(status.success(), "clean exit on SIGINT: {status:?}");
    let _ = status;
}

#[cfg(unix)]
fn stop(child: &mut std::process::Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let _ = child.kill();
    }
}

#[cfg(not(unix))]
fn stop(child: &mut std::process::Child) {
    let _ = child.kill();
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--manual-pair`: nothing pairs until the pairing page's "simulate phone scan"
/// (`POST /api/demo/scan`); an admin's disconnect logs the device out and a new QR follows; the
/// phone-number code is typed by the simulated phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_pairing_disconnect_and_pairing_code() {
    use pharmacy_service::demo::{DemoOptions, PHARMACY_PHONE, start};
    let dir = TempDir::new();
    let demo = start(DemoOptions {
        port: 0,
        data_dir: dir.0.clone(),
        manual_pair: true,
        traffic: false,
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    let addr: SocketAddr = demo.url.strip_prefix("http://").unwrap().parse().unwrap();
    let (user, pass) = demo.credentials.admin.clone();
    let admin = login(addr, &user, &pass).await;
    let until = |want: &'static str| {
        let admin = admin.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let s = admin.get("/api/whatsapp/status").await.json();
                if s["state"] == want {
                    return s;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "state {want}, still {s}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let qr = async {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let q = admin.get("/api/whatsapp/qr-code").await.json();
            if let Some(qr) = q["qr"].as_str() {
                return qr.to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "no QR: {q}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let first_qr = qr.await;
    // Not paired on its own.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        admin.get("/api/whatsapp/status").await.json()["state"],
        "unpaired"
    );
    let r = admin.post("/api/demo/scan", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let s = until("connected").await;
    assert_eq!(s["phone"], PHARMACY_PHONE);

    let r = admin.post("/api/whatsapp/disconnect", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = tokio::time::Instant::now() + WAIT;
    let second_qr = loop {
        let q = admin.get("/api/whatsapp/qr-code").await.json();
        if let Some(qr) = q["qr"].as_str().filter(|q| *q != first_qr) {
            break qr.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no new QR: {q}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(second_qr, first_qr, "a new device after the logout");

    let r = admin
        .post(
            "/api/whatsapp/pair-code",
            json!({ "phone": PHARMACY_PHONE }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["code"].as_str().is_some_and(|c| c.len() >= 8));
    until("connected").await;
    demo.shutdown().await;
}

/// `serve --whatsapp-url URL --trust-root HEX`: the real client against a sim; the admin sees
/// the QR over HTTP, the sim's phone scans it, the link comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_pairs_the_real_client_with_a_given_server() {
    let sim = whatsapp_sim::Sim::start(whatsapp_sim::SimConfig::default())
        .await
        .expect("sim");
    let dir = TempDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pharmacy-service"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&dir.0)
        .args(["--whatsapp-url", &sim.ws_url, "--trust-root"])
        .arg(sim.root_key_hex())
        .env("RUST_LOG", "warn")
        .env("PHARMACY_ADMIN_PASSWORD", "serve-test-password-1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::task::spawn_blocking(move || lines.next())
        .await
        .unwrap()
        .expect("a start line")
        .expect("readable stdout");
    let line: Value = serde_json::from_str(&first).expect("JSON start line");
    let addr: SocketAddr = line["url"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .expect("url")
        .parse()
        .unwrap();
    let admin = login(
        addr,
        line["admin"]["username"].as_str().expect("first-run admin"),
        "serve-test-password-1",
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let qr = loop {
        let q = admin.get("/api/whatsapp/qr-code").await.json();
        if let Some(qr) = q["qr"].as_str() {
            break qr.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no QR: {q}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sim.scan(&qr, "201001234567").await.expect("scan");
    loop {
        let s = admin.get("/api/whatsapp/status").await.json();
        if s["state"] == "connected" {
            assert_eq!(s["phone"], "201001234567");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not connected: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(&mut child);
    let status = wait_exit(&mut child);
    #[cfg(unix)]
    assert!(status.success(), "clean exit on SIGINT: {status:?}");
    let _ = status;
    sim.shutdown();
}
