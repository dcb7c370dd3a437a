//! The service's figures (issue 12), measured end to end on loopback against an embedded
//! whatsapp-sim:
//!
//! ```sh
//! cargo bench -p pharmacy-service --bench service              # everything
//! cargo bench -p pharmacy-service --bench service -- ingest    # or: latency rss start scale
//! ```
//!
//! - `ingest`: simulated customers -> sim -> real client -> service -> SQLite -> an admin's
//!   live WebSocket. A burst of messages, sent as fast as the sim takes them: messages per
//!   second until the last one reached the socket, and whether each arrived exactly once.
//! - `latency`: the same path at 200 messages per second: send-to-socket p50 / p99.
//! - `rss`: the release binary's resident memory, paired with the sim and idle.
//! - `start`: process start to the first JSON line and to `/healthz` answering.
//! - `scale`: 1,000,000 messages and 100,000 tickets (built once with SQL into
//!   `target/bench-scale/`); inbox list, opening a chat and full-text search over HTTP, p95.
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use futures_util::StreamExt;
use pharmacy_service::app::{App, DemoCredentials, SeedOptions, ServiceConfig, SystemClock};
use pharmacy_service::demo::{DemoOptions, PHARMACY_PHONE};
use pharmacy_service::http::{FakeWhatsapp, LinkState};
use pharmacy_service::startup::{Application, Config};
use serde_json::Value;
use std::collections::HashMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use whatsapp_sim::device::Outgoing;

const BIN: &str = env!("CARGO_BIN_EXE_pharmacy-service");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` runs benches once without it
    }
    let which: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| which.is_empty() || which.contains(&name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if want("start") {
        rt.block_on(start());
    }
    if want("rss") {
        rt.block_on(rss(None));
        // Also with a fixed glibc mmap threshold, which used to matter: a 19 MiB password hash
        // block stayed resident once the dynamic threshold had risen (hashes now take 46 MiB,
        // above any threshold glibc sets itself).
        rt.block_on(rss(Some("131072")));
    }
    if want("ingest") || want("latency") {
        rt.block_on(ingest(want("ingest"), want("latency")));
    }
    if want("scale") {
        rt.block_on(scale());
    }
}

fn scratch(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join(name)
}

fn fresh(name: &str) -> PathBuf {
    let d = scratch(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------- a tiny HTTP/1.1 client

struct Resp {
    status: u16,
    headers: String,
    body: String,
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Resp {
        status,
        headers: head.to_owned(),
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Logs in; returns the `session=...` cookie.
async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let body = serde_json::json!({ "username": user, "password": password }).to_string();
    let r = http(addr, "POST", "/auth/login", None, Some(&body)).await;
    assert_eq!(r.status, 200, "login {user}: {}", r.body);
    r.headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_owned())
        })
        .expect("session cookie")
}

/// Starts the release binary's `serve` on a free port; returns it and its address once it
/// printed its JSON start line.
async fn spawn_serve(
    args: &[&str],
    data: &Path,
    env: &[(&str, &str)],
) -> (std::process::Child, SocketAddr) {
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--port", "0"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the release binary");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        std::io::BufReader::new(stdout).read_line(&mut l).map(|_| l)
    })
    .await
    .expect("join")
    .expect("a start line");
    let v: Value = serde_json::from_str(&line).expect("JSON start line");
    let addr = v["url"].as_str().expect("url")[7..]
        .parse()
        .expect("address");
    (child, addr)
}

// ---------------------------------------------------------------- start

async fn start() {
    let data = fresh("bench-start");
    let run = |data: PathBuf| async move {
        let t0 = Instant::now();
        let (mut child, addr) =
            spawn_serve(&["--wa-url", "ws://127.0.0.1:9/ws/chat"], &data, &[]).await;
        let first_line = t0.elapsed();
        let healthy = loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok()
                && http(addr, "GET", "/healthz", None, None).await.status == 200
            {
                break t0.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        (first_line, healthy)
    };
    let (first_run_line, first_run_health) = run(data.clone()).await;
    let mut lines = Vec::new();
    let mut healths = Vec::new();
    for _ in 0..10 {
        let (l, h) = run(data.clone()).await;
        lines.push(l);
        healths.push(h);
    }
    lines.sort();
    healths.sort();
    println!(
        "start: first run (migrations + admin password hash) {} to the JSON line, {} to /healthz",
        ms(first_run_line),
        ms(first_run_health)
    );
    println!(
        "start: restart, median of 10: {} to the JSON line, {} to /healthz (max {})",
        ms(percentile(&lines, 0.5)),
        ms(percentile(&healths, 0.5)),
        ms(*healths.last().unwrap())
    );
}

// ---------------------------------------------------------------- rss

async fn rss(mmap_threshold: Option<&str>) {
    let sim = whatsapp_sim::Sim::start(whatsapp_sim::SimConfig::default())
        .await
        .expect("sim");
    let data = fresh("bench-rss");
    let root = sim.root_key_hex();
    let mut env = vec![("PHARMACY_ADMIN_PASSWORD", "bench-password-1")];
    env.extend(mmap_threshold.map(|t| ("MALLOC_MMAP_THRESHOLD_", t)));
    let (mut child, addr) = spawn_serve(
        &["--wa-url", &sim.ws_url, "--trust-root", &root],
        &data,
        &env,
    )
    .await;
    let cookie = login(addr, "admin", "bench-password-1").await;
    let qr = loop {
        let r = http(addr, "GET", "/api/whatsapp/qr-code", Some(&cookie), None).await;
        let v: Value = serde_json::from_str(&r.body).unwrap_or_default();
        if let Some(q) = v["qr"].as_str() {
            break q.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    sim.scan(&qr, PHARMACY_PHONE).await.expect("scan");
    loop {
        let r = http(addr, "GET", "/api/whatsapp/status", Some(&cookie), None).await;
        if r.body.contains("\"connected\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_owned())
            .unwrap_or_else(|| "n/a (no /proc)".into())
    };
    println!(
        "rss: serve paired with the sim, after a login, idle 5 s{}: VmRSS {} (anonymous {}, file-backed {}; peak VmHWM {})",
        mmap_threshold.map_or(String::new(), |t| format!(", MALLOC_MMAP_THRESHOLD_={t}")),
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("VmHWM:")
    );
    let _ = child.kill();
    let _ = child.wait();
    sim.shutdown();
}

// ---------------------------------------------------------------- ingest and latency

type Arrivals = Arc<Mutex<HashMap<u64, (Instant, u32)>>>;

async fn ingest(burst: bool, paced: bool) {
    let data = fresh("bench-ingest");
    let demo = pharmacy_service::demo::start(DemoOptions {
        port: 0,
        data_dir: data,
        traffic: false,
        pair_after: Duration::from_millis(100),
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    assert!(
        demo.bridge
            .wait_for(Duration::from_secs(60), |s| s.state == LinkState::Connected)
            .await,
        "paired"
    );
    let addr: SocketAddr = demo.url[7..].parse().unwrap();
    let cookie = login(addr, &demo.credentials.admin.0, &demo.credentials.admin.1).await;
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        let mut ws = ws;
        while let Some(Ok(m)) = ws.next().await {
            let Message::Text(t) = m else { continue };
            let now = Instant::now();
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                continue;
            };
            if v["type"] != "newMessage" {
                continue;
            }
            let Some(n) = v["message"]["body"]
                .as_str()
                .and_then(|b| b.strip_prefix("bench "))
                .and_then(|b| b.parse::<u64>().ok())
            else {
                continue;
            };
            let mut a = seen.lock().unwrap();
            let e = a.entry(n).or_insert((now, 0));
            e.1 += 1;
        }
    });
    const CUSTOMERS: usize = 20;
    let phones: Vec<String> = (0..CUSTOMERS).map(|i| format!("2010777{i:05}")).collect();
    for p in &phones {
        demo.sim.add_customer(p, "Bench", 1, false).unwrap();
    }
    let mut next_id = 0u64;
    let send = |n: u64| {
        let p = &phones[(n as usize) % CUSTOMERS];
        demo.sim
            .customer_send(
                p,
                PHARMACY_PHONE,
                Outgoing::Text(format!("bench {n}")),
                None,
            )
            .expect("send");
    };
    // Warm up: every customer's first message (ticket, branch menu) before measuring.
    for _ in 0..CUSTOMERS * 2 {
        send(next_id);
        next_id += 1;
    }
    wait_for(&arrivals, next_id, Duration::from_secs(60)).await;

    if paced {
        let (from, count) = (next_id, 3000u64);
        let mut sent = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for n in from..from + count {
            tick.tick().await;
            sent.insert(n, Instant::now());
            send(n);
        }
        next_id = from + count;
        let got = wait_for(&arrivals, next_id, Duration::from_secs(120)).await;
        let a = arrivals.lock().unwrap().clone();
        let mut lat: Vec<Duration> = sent
            .iter()
            .filter_map(|(n, t)| a.get(n).map(|(at, _)| at.saturating_duration_since(*t)))
            .collect();
        lat.sort();
        println!(
            "latency: {count} messages at 200/s from {CUSTOMERS} customers, send -> admin's WebSocket: p50 {}, p99 {}, max {} ({} of {count} arrived)",
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(*lat.last().unwrap_or(&Duration::ZERO)),
            got.min(next_id) - from.min(got)
        );
    }
    if burst {
        let (from, count) = (next_id, 10_000u64);
        let t0 = Instant::now();
        for n in from..from + count {
            send(n);
        }
        let queued = t0.elapsed();
        next_id = from + count;
        wait_for(&arrivals, next_id, Duration::from_secs(600)).await;
        let a = arrivals.lock().unwrap().clone();
        let last = (from..next_id)
            .filter_map(|n| a.get(&n).map(|x| x.0))
            .max()
            .unwrap_or(t0);
        let arrived = (from..next_id).filter(|n| a.contains_key(n)).count();
        let dup = (from..next_id)
            .filter(|n| a.get(n).is_some_and(|x| x.1 > 1))
            .count();
        let secs = last.duration_since(t0).as_secs_f64();
        println!(
            "ingest: {count} messages from {CUSTOMERS} customers (sim took them in {}): {:.0} messages/s to the admin's WebSocket; {arrived} arrived, {dup} more than once",
            ms(queued),
            arrived as f64 / secs
        );
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE direction = 'in' AND body LIKE 'bench %'",
        )
        .fetch_one(demo.app.pool())
        .await
        .unwrap();
        println!("ingest: {stored} inbound rows stored in total (expected {next_id})");
    }
    demo.shutdown().await;
}

/// Waits until every message below `upto` arrived (or the timeout); returns how many did.
async fn wait_for(arrivals: &Arrivals, upto: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let n = {
            let a = arrivals.lock().unwrap();
            (0..upto).filter(|n| a.contains_key(n)).count() as u64
        };
        if n >= upto || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- scale

const TICKETS: i64 = 100_000;
const MESSAGES: i64 = 1_000_000;

/// Phrases the customers and agents write; the FTS text is their normalised form.
const PHRASES: [&str; 8] = [
    "Do you have Panadol Extra in stock?",
    "السلام عليكم، عندكم بنادول إكسترا؟",
    "Can you deliver to Gehan St today?",
    "محتاج كونكور ٥ مجم، متوفر؟",
    "Hello! Yes, we have it in stock. Shall we deliver it to you?",
    "موجود يا فندم، ممكن تبعتلنا العنوان ونوصله خلال ساعة.",
    "What time does the branch close tonight?",
    "عندي كحة وبرد من يومين، تنصحني بإيه؟",
];

async fn scale() {
    let dir = scratch("bench-scale");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("pharmacy.db");
    let existed = db.is_file();
    let config = ServiceConfig {
        media_dir: dir.join("media"),
        ..ServiceConfig::default()
    };
    let app = App::open(&db, Arc::new(SystemClock), config)
        .await
        .expect("open");
    let creds = app.seed_demo(&SeedOptions::default()).await.expect("seed");
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    if !existed || have < MESSAGES {
        let t0 = Instant::now();
        build_scale(&app).await;
        println!(
            "scale: built {} in {:.0} s",
            db.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    let addr = Application::build(Config::new(app.clone(), Arc::new(FakeWhatsapp::default())))
        .await
        .unwrap()
        .spawn()
        .addr;
    scale_measure(addr, &app, &creds).await;
}

async fn build_scale(app: &App) {
    let pool = app.pool();
    let mut tx = pool.begin().await.unwrap();
    for t in [
        "messages_fts",
        "messages",
        "tickets",
        "customers_fts",
        "customers",
    ] {
        sqlx::query(&format!("DELETE FROM {t} WHERE rowid > 0"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let agents: Vec<(i64, i64)> = sqlx::query_as("SELECT id, branch_id FROM agents ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let n_agents = agents.len() as i64;
    // One year back from now, in milliseconds.
    let now = app.now().0;
    let year = 365 * 86_400_000i64;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO customers (id, phone, name, created_at, updated_at)
         SELECT i, '2010' || printf('%08d', i), 'Customer ' || i, ?2 - ?3 + i * (?3 / ?1), ?2 FROM n",
    )
    .bind(TICKETS)
    .bind(now)
    .bind(year)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO customers_fts (rowid, text) SELECT id, lower(name) || ' ' || phone FROM customers")
        .execute(&mut *tx)
        .await
        .unwrap();
    // One ticket per customer; the newest 5% open (spread over the agents), the rest closed.
    let first_agent = agents.first().map_or(1, |a| a.0);
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO tickets (id, customer_id, branch_id, agent_id, status, created_at, opened_at,
                              assigned_at, last_activity_at, closed_at)
         SELECT i, i, (SELECT branch_id FROM agents WHERE id = ?4 + (i % ?5)), ?4 + (i % ?5),
                CASE WHEN i > ?1 * 95 / 100 THEN 'open' ELSE 'closed' END,
                ?2 - ?3 + i * (?3 / ?1), ?2 - ?3 + i * (?3 / ?1), ?2 - ?3 + i * (?3 / ?1),
                ?2 - ?3 + i * (?3 / ?1) + 3600000,
                CASE WHEN i > ?1 * 95 / 100 THEN NULL ELSE ?2 - ?3 + i * (?3 / ?1) + 3600000 END
         FROM n",
    )
    .bind(TICKETS)
    .bind(now)
    .bind(year)
    .bind(first_agent)
    .bind(n_agents)
    .execute(&mut *tx)
    .await
    .unwrap();
    // Ten messages per ticket, alternating customer and agent.
    let per = MESSAGES / TICKETS;
    let mut case_body = String::from("CASE i % 8");
    let mut case_fts = String::from("CASE i % 8");
    for (k, p) in PHRASES.iter().enumerate() {
        case_body.push_str(&format!(" WHEN {k} THEN '{}'", p.replace('\'', "''")));
        let norm = pharmacy_service::domain::search::normalize(p);
        case_fts.push_str(&format!(" WHEN {k} THEN '{}'", norm.replace('\'', "''")));
    }
    case_body.push_str(" END");
    case_fts.push_str(" END");
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO messages (id, ticket_id, customer_id, direction, sender_kind, agent_id, kind,
                               body, wa_id, status, created_at)
         SELECT i, (i - 1) / {per} + 1, (i - 1) / {per} + 1,
                CASE WHEN i % 2 = 1 THEN 'in' ELSE 'out' END,
                CASE WHEN i % 2 = 1 THEN 'customer' ELSE 'agent' END,
                CASE WHEN i % 2 = 1 THEN NULL ELSE ?4 + (((i - 1) / {per} + 1) % ?5) END,
                'text', {case_body} || ' #' || i, 'BENCH' || i,
                CASE WHEN i % 2 = 1 THEN 'received' ELSE 'read' END,
                ?2 - ?3 + ((i - 1) / {per} + 1) * (?3 / ?6) + (i % {per}) * 60000
         FROM n"
    );
    sqlx::query(&sql)
        .bind(MESSAGES)
        .bind(now)
        .bind(year)
        .bind(first_agent)
        .bind(n_agents)
        .bind(TICKETS)
        .execute(&mut *tx)
        .await
        .unwrap();
    let fts = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO messages_fts (rowid, body) SELECT i, {case_fts} || ' ' || i FROM n"
    );
    sqlx::query(&fts)
        .bind(MESSAGES)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .unwrap();
}

async fn timed(n: usize, mut f: impl AsyncFnMut(usize) -> u16) -> (Duration, Duration) {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let status = f(i).await;
        assert_eq!(status, 200, "request {i}");
        v.push(t0.elapsed());
    }
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.95))
}

async fn scale_measure(addr: SocketAddr, app: &App, creds: &DemoCredentials) {
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    println!("scale: {messages} messages, {tickets} tickets");
    let admin = login(addr, &creds.admin.0, &creds.admin.1).await;
    let (agent_user, agent_pass, _) = &creds.agents[0];
    let agent = login(addr, agent_user, agent_pass).await;
    let n = 200;
    let report = |what: &str, (p50, p95): (Duration, Duration)| {
        println!("scale: {what}: p50 {}, p95 {}", ms(p50), ms(p95));
    };
    for (who, cookie) in [("admin", &admin), ("agent", &agent)] {
        report(
            &format!("inbox list, {who} (GET /api/tickets, open, newest first)"),
            timed(n, async |_| {
                http(addr, "GET", "/api/tickets?status=open", Some(cookie), None)
                    .await
                    .status
            })
            .await,
        );
    }
    report(
        "inbox list, admin, every status (GET /api/tickets)",
        timed(n, async |_| {
            http(addr, "GET", "/api/tickets", Some(&admin), None)
                .await
                .status
        })
        .await,
    );
    // Open a chat: the ticket and its newest page of messages.
    let ids: Vec<i64> = (0..n as i64)
        .map(|i| 1 + (i * 7_919) % tickets.max(1))
        .collect();
    report(
        "open a chat, admin (GET /api/tickets/ID + /api/messages?ticket=ID&before=latest)",
        timed(n, async |i| {
            let t = ids[i];
            let a = http(
                addr,
                "GET",
                &format!("/api/tickets/{t}"),
                Some(&admin),
                None,
            )
            .await;
            if a.status != 200 {
                return a.status;
            }
            http(
                addr,
                "GET",
                &format!("/api/messages?ticket={t}&before=latest&limit=50"),
                Some(&admin),
                None,
            )
            .await
            .status
        })
        .await,
    );
    let queries = ["panadol", "بنادول", "deliver", "كحة", "gehan", "concor"];
    for (who, cookie) in [("admin", &admin), ("agent", &agent)] {
        report(
            &format!("full-text search, {who} (GET /api/messages/search?q=..., 6 words)"),
            timed(n, async |i| {
                let q = queries[i % queries.len()];
                let q: String = q
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                http(
                    addr,
                    "GET",
                    &format!("/api/messages/search?q={q}"),
                    Some(cookie),
                    None,
                )
                .await
                .status
            })
            .await,
        );
    }
}
