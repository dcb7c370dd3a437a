//! The soak (issue 32, item 2): the `serve` binary on an in-test whatsapp-sim under a month's
//! traffic at speed: customers' texts and photos, agents' replies through the HTTP API, the
//! WhatsApp connection dropped after every tenth of the run and the service restarted twice.
//! After every tenth it records the service process's RSS and open file descriptors (Linux
//! `/proc`; elsewhere not recorded), its tokio task count (`pharmacy_tokio_alive_tasks` in
//! `/metrics`), the database, WAL and media folder sizes, and the p95 of the inbox, a chat and
//! a search as an agent's browser asks them; it writes them as `soak.csv` and `soak.svg`.
//!
//! Asserted against the sample after the first tenth: RSS grows less than 10 % (plus SQLite's
//! page caches while the database is smaller than them, which only a short run sees),
//! descriptors and tasks after each reconnect are no more than just before it, the WAL stays
//! under 64 MiB, the media folder holds exactly the files the database names (no partial or
//! orphan file), and the p95s stay under 50 ms (`SOAK_P95_MS`; 1,000 ms in a debug build).
//! Every message sent is stored once.
//!
//! Scale: `SOAK_MESSAGES` (default 600), `SOAK_REPLIES` (a tenth of them), `SOAK_CUSTOMERS`
//! (20), `SOAK_OUT` (where the figures go, with the p95s of every tenth; without it only the
//! last tenth's p95s are measured, the ones asserted, and no figures are written). The
//! default keeps the test under about 30 s in a debug build: the ten reconnects and restarts
//! with their measurements cost more than the messages.
//! `scripts/soak.sh` runs the full month (1,000,000 messages, 100,000 replies, 5,000
//! customers) in release.

use super::http_client;
use super::reliability::{
    ADMIN, PHARMACY, Service, Session, http, login, pair, prepare, wait_connected,
};
use super::support::TempDir;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;
use whatsapp_sim::device::{MediaKind, Outgoing};
use whatsapp_sim::{Fault, Sim, SimConfig};

/// One row of the figures, taken at the end of a tenth of the run.
#[derive(Debug, Clone, Default)]
struct Sample {
    messages: usize,
    elapsed_s: f64,
    rss_kib: Option<u64>,
    fds: Option<u64>,
    tasks: Option<u64>,
    /// Descriptors and tasks just before the event.
    fds_before: Option<u64>,
    tasks_before: Option<u64>,
    db_bytes: u64,
    wal_bytes: u64,
    media_bytes: u64,
    inbox_p95_ms: f64,
    chat_p95_ms: f64,
    search_p95_ms: f64,
    /// What happened just before: `load`, `reconnect` or `restart`.
    event: &'static str,
}

struct Scale {
    messages: usize,
    replies: usize,
    customers: usize,
    out: Option<PathBuf>,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn scale() -> Scale {
    let messages = env_usize("SOAK_MESSAGES", 600).max(100);
    Scale {
        messages,
        replies: env_usize("SOAK_REPLIES", messages / 10),
        customers: env_usize("SOAK_CUSTOMERS", 20).max(1),
        out: std::env::var_os("SOAK_OUT").map(PathBuf::from),
    }
}

fn phone(i: usize) -> String {
    format!("2010888{i:05}")
}

/// Every 20th message is a photo of its own (so the media folder grows as in a pharmacy).
fn content(n: usize, customer: usize) -> Outgoing {
    if n % 20 == 7 {
        let mut data = b"\xff\xd8\xff\xe0".to_vec();
        data.extend(
            format!("photo {n} of customer {customer} ")
                .repeat(40)
                .bytes(),
        );
        Outgoing::Media {
            kind: MediaKind::Image,
            data,
            mimetype: "image/jpeg".into(),
            caption: Some(format!("prescription {n}")),
            file_name: None,
        }
    } else {
        Outgoing::Text(format!(
            "question {n} from customer {customer} about medicine {}",
            n % 97
        ))
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// The bytes and the regular files under `dir`, recursively.
pub(super) fn folder(dir: &Path) -> (u64, Vec<PathBuf>) {
    let (mut bytes, mut files) = (0, Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                bytes += file_size(&p);
                files.push(p);
            }
        }
    }
    (bytes, files)
}

#[cfg(target_os = "linux")]
fn process_figures(pid: u32) -> (Option<u64>, Option<u64>) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64);
    (rss, fds)
}

/// Not recorded outside Linux (no portable view of another process's memory and handles).
#[cfg(not(target_os = "linux"))]
fn process_figures(_pid: u32) -> (Option<u64>, Option<u64>) {
    (None, None)
}

async fn tasks(url: &str) -> Option<u64> {
    // `/metrics` is text: the harness's `http` keeps only JSON bodies.
    let text = http_client::request(url, "GET", "/metrics", &[], Vec::new())
        .await
        .ok()?
        .text();
    text.lines()
        .find_map(|l| l.strip_prefix("pharmacy_tokio_alive_tasks "))
        .and_then(|v| v.trim().parse().ok())
}

/// RSS, descriptors and tasks once the process is quiet: the lowest of a few readings (a
/// descriptor of the previous reading's own request may still be closing).
async fn quiet_figures(pid: u32, url: &str) -> (Option<u64>, Option<u64>, Option<u64>) {
    let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut best = (None, None, None);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (rss, fds) = process_figures(pid);
        let t = tasks(url).await;
        best = (rss.or(best.0), min(best.1, fds), min(best.2, t));
    }
    best
}

/// The p95 in ms of 20 GETs of `path`.
async fn p95(url: &str, admin: &Session, paths: &[String]) -> f64 {
    let mut ms = Vec::new();
    for i in 0..20 {
        let path = &paths[i % paths.len()];
        let t = Instant::now();
        let a = http(url, "GET", path, Some(admin), None).await.expect(path);
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(a.status, 200, "{path}: {:?}", a.body);
    }
    ms.sort_by(f64::total_cmp);
    ms[(ms.len() * 95).div_ceil(100) - 1]
}

async fn count(db: &SqlitePool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap_or(0)
}

/// Waits until every message sent so far is stored.
async fn stored_all(db: &SqlitePool, sent: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = count(db, "SELECT count(*) FROM messages WHERE direction = 'in'").await;
        if n as usize >= sent {
            return;
        }
        assert!(Instant::now() < deadline, "{n} of {sent} stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_keeps_memory_descriptors_tasks_wal_and_latency_flat() {
    let scale = scale();
    let dir = TempDir::new();
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    prepare(&data).await;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    for i in 0..scale.customers {
        sim.add_customer(&phone(i), &format!("Customer {i}"), 1, false)
            .unwrap();
    }
    let mut service = Service::new(&data, &sim.ws_url, &sim.root_key_hex());
    let mut url = service.start().await;
    let mut admin = login(&url, ADMIN.0, ADMIN.1).await;
    pair(&url, &admin, &sim).await;
    let db = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(data.join("pharmacy.db"))
                .read_only(true),
        )
        .await
        .unwrap();

    let started = Instant::now();
    let tenth = scale.messages / 10;
    let replies_per_tenth = scale.replies / 10;
    let mut samples: Vec<Sample> = Vec::new();
    let mut sent = 0usize;
    let mut replied = 0usize;
    for segment in 0..10 {
        // A tenth of the traffic, with backpressure so the sim never runs far ahead.
        let end = if segment == 9 {
            scale.messages
        } else {
            tenth * (segment + 1)
        };
        let mut next_reply = 0usize;
        while sent < end {
            let c = (sent * 7919) % scale.customers;
            sim.customer_send(&phone(c), PHARMACY, content(sent, c), None)
                .expect("customer_send");
            sent += 1;
            if sent.is_multiple_of(500) {
                stored_all(&db, sent.saturating_sub(1_000)).await;
            }
            let due = replies_per_tenth * (sent - tenth * segment) / (end - tenth * segment).max(1);
            while next_reply < due {
                next_reply += 1;
                replied += reply(&url, &admin, &db, replied).await;
            }
        }
        stored_all(&db, sent).await;
        let before = {
            let (_, fds, tasks) = quiet_figures(service.pid().expect("running"), &url).await;
            (fds, tasks)
        };
        // The events of the month: a dropped connection after every tenth, two restarts.
        let event = if segment == 4 || segment == 7 {
            service.kill();
            url = service.start().await;
            admin = login(&url, ADMIN.0, ADMIN.1).await;
            wait_connected(&url, &admin).await;
            "restart"
        } else {
            sim.fault(&Fault::DropConnections).expect("fault");
            tokio::time::sleep(Duration::from_millis(500)).await;
            wait_connected(&url, &admin).await;
            "reconnect"
        };
        // The p95s are asserted for the last tenth only; the others are for the figures.
        let latency = scale.out.is_some() || segment == 9;
        let sample = measure(
            before, &url, &admin, &db, &data, &service, sent, started, event, latency,
        )
        .await;
        eprintln!("soak: {sample:?}");
        samples.push(sample);
    }

    // Everything sent is stored once; the replies left.
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT wa_id) FROM messages WHERE direction = 'in'"
        )
        .await as usize,
        sent
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM messages WHERE direction = 'in'").await as usize,
        sent
    );
    if let Some(out) = &scale.out {
        std::fs::create_dir_all(out).unwrap();
        write_figures(out, &samples, &scale, replied);
        eprintln!("soak figures in {}", out.display());
    }
    check(&samples, &data, &db).await;
    assert!(service.panics().is_empty(), "{:?}", service.panics());
    service.kill();
    sim.shutdown();
    if scale.out.is_none() {
        drop(dir);
    }
}

/// One agent's reply to a customer with an open ticket; 1 when accepted. A busy answer is
/// sent again after its `Retry-After`, as the web UI does.
async fn reply(url: &str, admin: &Session, db: &SqlitePool, n: usize) -> usize {
    let ticket: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE status <> 'closed' ORDER BY (id * 2654435761 + ?) % 1000003 LIMIT 1",
    )
    .bind(n as i64)
    .fetch_optional(db)
    .await
    .unwrap_or(None);
    let Some(ticket) = ticket else { return 0 };
    let body = json!({ "ticket_id": ticket, "text": format!("answer {n}") });
    for _ in 0..5 {
        let a = http(url, "POST", "/api/messages/send", Some(admin), Some(&body))
            .await
            .expect("send");
        match a.status {
            201 => return 1,
            503 => tokio::time::sleep(Duration::from_secs(1)).await,
            409 => return 0,
            s => panic!("reply answered {s}: {}", a.body),
        }
    }
    0
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    before: (Option<u64>, Option<u64>),
    url: &str,
    admin: &Session,
    db: &SqlitePool,
    data: &Path,
    service: &Service,
    messages: usize,
    started: Instant,
    event: &'static str,
    latency: bool,
) -> Sample {
    let pid = service.pid().expect("running");
    let ticket = count(db, "SELECT max(id) FROM tickets").await;
    let inbox = vec![
        "/api/tickets".to_owned(),
        "/api/tickets?status=open".to_owned(),
    ];
    let chat = vec![
        format!("/api/messages?ticket={ticket}"),
        format!("/api/messages?ticket={}", (ticket / 2).max(1)),
    ];
    let search = vec![
        "/api/messages/search?q=medicine".to_owned(),
        format!("/api/messages/search?q=question%20{}", messages / 2),
    ];
    // Figures of the process first, then the requests that would disturb them.
    let (rss_kib, fds, tasks) = quiet_figures(pid, url).await;
    let (inbox_p95_ms, chat_p95_ms, search_p95_ms) = if latency {
        (
            p95(url, admin, &inbox).await,
            p95(url, admin, &chat).await,
            p95(url, admin, &search).await,
        )
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let db_file = data.join("pharmacy.db");
    Sample {
        messages,
        elapsed_s: started.elapsed().as_secs_f64(),
        rss_kib,
        fds,
        tasks,
        fds_before: before.0,
        tasks_before: before.1,
        db_bytes: file_size(&db_file),
        wal_bytes: file_size(&data.join("pharmacy.db-wal")),
        media_bytes: folder(&data.join("media")).0,
        inbox_p95_ms,
        chat_p95_ms,
        search_p95_ms,
        event,
    }
}

/// The invariants, measured from the sample after the first tenth.
async fn check(samples: &[Sample], data: &Path, db: &SqlitePool) {
    let base = &samples[0];
    // The bound for a release build; a debug build beside other work gets a coarse one.
    let p95_limit = std::env::var("SOAK_P95_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 1000.0 } else { 50.0 });
    for s in &samples[1..] {
        if let (Some(b), Some(r)) = (base.rss_kib, s.rss_kib) {
            // SQLite's page caches (2 MiB for each of the 8 pooled connections) fill as the
            // database grows until it outgrows them; a month's database does in its first
            // tenth, a short run's never does, so a short run may grow by them too.
            let caches = if s.db_bytes < 16 << 20 { 16 * 1024 } else { 0 };
            assert!(
                (r as f64) < b as f64 * 1.10 + caches as f64,
                "RSS grew from {b} KiB to {r} KiB by {} messages",
                s.messages
            );
        }
        if s.event == "reconnect" {
            for (what, b, v) in [
                ("descriptors", s.fds_before, s.fds),
                ("tasks", s.tasks_before, s.tasks),
            ] {
                if let (Some(b), Some(v)) = (b, v) {
                    assert!(
                        v <= b,
                        "{what}: {v} after the reconnect at {} messages, {b} before",
                        s.messages
                    );
                }
            }
        }
        assert!(s.wal_bytes < 64 << 20, "WAL {} bytes", s.wal_bytes);
    }
    let last = samples.last().unwrap();
    for (what, ms) in [
        ("inbox", last.inbox_p95_ms),
        ("chat", last.chat_p95_ms),
        ("search", last.search_p95_ms),
    ] {
        assert!(
            ms < p95_limit,
            "{what} p95 {ms:.1} ms at {} messages",
            last.messages
        );
    }
    // The media folder holds exactly the files the database names.
    let (bytes, files) = folder(&data.join("media"));
    let named = count(db, "SELECT count(*) FROM media").await as usize;
    let named_bytes = count(db, "SELECT coalesce(sum(size), 0) FROM media").await as u64;
    assert_eq!((files.len(), bytes), (named, named_bytes), "{files:?}");
}

fn write_figures(out: &Path, samples: &[Sample], scale: &Scale, replied: usize) {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut csv = String::from(
        "messages,elapsed_s,event,rss_kib,fds_before,fds,tasks_before,tasks,db_bytes,wal_bytes,media_bytes,inbox_p95_ms,chat_p95_ms,search_p95_ms\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{},{:.1},{},{},{},{},{},{},{},{},{},{:.2},{:.2},{:.2}",
            s.messages,
            s.elapsed_s,
            s.event,
            opt(s.rss_kib),
            opt(s.fds_before),
            opt(s.fds),
            opt(s.tasks_before),
            opt(s.tasks),
            s.db_bytes,
            s.wal_bytes,
            s.media_bytes,
            s.inbox_p95_ms,
            s.chat_p95_ms,
            s.search_p95_ms
        );
    }
    std::fs::write(out.join("soak.csv"), csv).unwrap();
    let title = format!(
        "{} messages, {replied} replies, {} customers, {} build",
        scale.messages,
        scale.customers,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    std::fs::write(out.join("soak.svg"), svg(samples, &title)).unwrap();
}

/// Three panels over messages sent: sizes (MiB), descriptors and tasks, p95s (ms).
fn svg(samples: &[Sample], title: &str) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    type Line<'a> = (&'a str, &'a str, Vec<f64>);
    let panels: Vec<(&str, Vec<Line<'_>>)> = vec![
        (
            "MiB",
            vec![
                (
                    "RSS",
                    "#d62728",
                    samples
                        .iter()
                        .map(|s| s.rss_kib.unwrap_or(0) as f64 / 1024.0)
                        .collect(),
                ),
                (
                    "database",
                    "#1f77b4",
                    samples.iter().map(|s| mib(s.db_bytes)).collect(),
                ),
                (
                    "WAL",
                    "#ff7f0e",
                    samples.iter().map(|s| mib(s.wal_bytes)).collect(),
                ),
                (
                    "media",
                    "#2ca02c",
                    samples.iter().map(|s| mib(s.media_bytes)).collect(),
                ),
            ],
        ),
        (
            "count",
            vec![
                (
                    "open fds",
                    "#9467bd",
                    samples.iter().map(|s| s.fds.unwrap_or(0) as f64).collect(),
                ),
                (
                    "tokio tasks",
                    "#8c564b",
                    samples
                        .iter()
                        .map(|s| s.tasks.unwrap_or(0) as f64)
                        .collect(),
                ),
            ],
        ),
        (
            "p95 ms",
            vec![
                (
                    "inbox",
                    "#1f77b4",
                    samples.iter().map(|s| s.inbox_p95_ms).collect(),
                ),
                (
                    "chat",
                    "#ff7f0e",
                    samples.iter().map(|s| s.chat_p95_ms).collect(),
                ),
                (
                    "search",
                    "#2ca02c",
                    samples.iter().map(|s| s.search_p95_ms).collect(),
                ),
            ],
        ),
    ];
    let (w, ph, left, top) = (720.0, 170.0, 60.0, 40.0);
    let h = top + panels.len() as f64 * (ph + 40.0);
    let xs: Vec<f64> = samples.iter().map(|s| s.messages as f64).collect();
    let xmax = xs.iter().cloned().fold(1.0, f64::max);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"20\" font-size=\"13\">Soak: {title}</text>\n"
    );
    for (i, (unit, lines)) in panels.iter().enumerate() {
        let y0 = top + i as f64 * (ph + 40.0);
        let ymax = lines
            .iter()
            .flat_map(|l| l.2.iter().cloned())
            .fold(1.0, f64::max)
            * 1.1;
        let pw = w - left - 150.0;
        let _ = writeln!(
            o,
            "<rect x=\"{left}\" y=\"{y0}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>\
             <text x=\"5\" y=\"{}\">{unit}</text><text x=\"5\" y=\"{}\">{ymax:.0}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{xmax:.0} messages</text>",
            y0 + ph / 2.0,
            y0 + 10.0,
            left + pw,
            y0 + ph + 14.0
        );
        for (j, (name, colour, ys)) in lines.iter().enumerate() {
            let points: Vec<String> = xs
                .iter()
                .zip(ys)
                .map(|(x, y)| format!("{:.1},{:.1}", left + x / xmax * pw, y0 + ph - y / ymax * ph))
                .collect();
            let _ = writeln!(
                o,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" fill=\"{colour}\">{name}</text>",
                points.join(" "),
                left + pw + 10.0,
                y0 + 15.0 + j as f64 * 15.0
            );
        }
    }
    o.push_str("</svg>\n");
    o
}
