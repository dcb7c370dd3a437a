//! The no-loss reliability harness (issue 12): the service binary on an in-test whatsapp-sim,
//! with the fast pacing profile, while simulated customers send 5,000 messages and agents send
//! 300 replies through the HTTP API, and the test either kills the service (SIGKILL /
//! TerminateProcess, via `Child::kill`) at random moments or makes the sim drop connections and
//! send stream errors. At the end: every inbound message stored exactly once, every reply
//! delivered once (by WhatsApp id), tickets and KPIs consistent with what was sent.
//!
//! A third test makes the database refuse writes, honestly and portably: another connection
//! holding the write lock (SQLITE_BUSY) and `PRAGMA max_page_count` (SQLITE_FULL, what a full
//! disk reports). The message is not acknowledged, `whatsappStatus` `store_failed` goes out,
//! the database stays intact, and once the condition clears WhatsApp's redelivery is stored
//! once and an admin alert records the episode.
//!
//! Randomness comes from one seed, printed at the start (and so in a failing test's output);
//! `RELIABILITY_SEED=N` replays a run, `RELIABILITY_KEEP=1` keeps the data directory (service
//! logs, databases), `RELIABILITY_LOG=1` logs the in-process run of the third test.

use super::http_client;
use super::support::TempDir;
use pharmacy_service::app::{App, SeedOptions, ServiceConfig, SettingsPatch, SystemClock};
use pharmacy_service::domain::routing::AgentStatus;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

const BIN: &str = env!("CARGO_BIN_EXE_pharmacy-service");
/// The pharmacy's number on the sim.
pub(super) const PHARMACY: &str = "201001234567";
const CUSTOMERS: usize = 40;
const INBOUND: usize = 5_000;
const REPLIES: usize = 300;
/// How long the end state may take to settle once the faults stop.
const SETTLE: Duration = Duration::from_secs(240);
/// Logins the demo seed creates.
pub(super) const ADMIN: (&str, &str) = ("admin", "admin-demo-2026");
pub(super) const AGENT_PASSWORD: &str = "agent-demo-2026";

fn seed() -> u64 {
    std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        })
}

// ---------------------------------------------------------------------------------------------
// The harness's requests (through the tests' one HTTP client), answers as JSON.

/// An HTTP answer: status, `Set-Cookie` values, JSON body (Null when not JSON).
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: u16,
    cookies: Vec<String>,
    pub(super) body: Value,
}

/// A logged-in user: the session cookie and its CSRF token.
#[derive(Debug, Clone)]
pub(super) struct Session {
    cookie: String,
    csrf: String,
}

pub(super) async fn http(
    url: &str,
    method: &str,
    path: &str,
    session: Option<&Session>,
    body: Option<&Value>,
) -> std::io::Result<Answer> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut headers = Vec::new();
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    if let Some(s) = session {
        headers.push(("Cookie", s.cookie.as_str()));
        headers.push(("X-CSRF-Token", s.csrf.as_str()));
    }
    let exchange = http_client::request(url, method, path, &headers, body.into_bytes());
    let r = tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "HTTP timeout"))?
        .map_err(std::io::Error::other)?;
    Ok(Answer {
        status: r.status,
        cookies: r.cookies(),
        body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    })
}

pub(super) async fn login(url: &str, user: &str, password: &str) -> Session {
    let a = http(
        url,
        "POST",
        "/auth/login",
        None,
        Some(&json!({ "username": user, "password": password })),
    )
    .await
    .expect("login request");
    assert_eq!(a.status, 200, "login {user}: {a:?}");
    Session {
        cookie: a.cookies.join("; "),
        csrf: a.body["csrf_token"].as_str().expect("csrf").to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The service as a child process on one data directory.

/// One run of the binary.
struct Running {
    child: Child,
    /// Kept open so the child's stdout never hits a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

/// The binary on a data directory, (re)started as often as the test likes.
pub(super) struct Service {
    data: PathBuf,
    wa_url: String,
    trust_root: String,
    run: Option<Running>,
    starts: u32,
}

impl Service {
    /// The binary on `data` (not started), talking to the sim at `wa_url`.
    pub(super) fn new(data: &Path, wa_url: &str, trust_root: &str) -> Service {
        Service {
            data: data.to_path_buf(),
            wa_url: wa_url.to_owned(),
            trust_root: trust_root.to_owned(),
            run: None,
            starts: 0,
        }
    }

    /// The running child's process id.
    pub(super) fn pid(&self) -> Option<u32> {
        self.run.as_ref().map(|r| r.child.id())
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.data.join(format!("service-{n}.log"))
    }

    /// Starts the binary and waits for its start line; returns its URL.
    pub(super) async fn start(&mut self) -> String {
        assert!(self.run.is_none(), "already running");
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--port", "0", "--pacing", "fast", "--wa-url"])
            .arg(&self.wa_url)
            .arg("--trust-root")
            .arg(&self.trust_root)
            .arg("--data-dir")
            .arg(&self.data)
            .current_dir(&self.data)
            .env("RUST_LOG", "warn,pharmacy_service=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (k, _) in std::env::vars() {
            if k.starts_with("PHARMACY_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().expect("the service binary");
        let stdout = child.stdout.take().expect("stdout");
        let (line, stdout) = tokio::task::spawn_blocking(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let n = r.read_line(&mut line).unwrap_or(0);
            ((n > 0).then_some(line), r)
        })
        .await
        .unwrap();
        let Some(line) = line else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "start {} printed no start line; log:\n{}",
                self.starts,
                self.log_tail(self.starts)
            );
        };
        let v: Value = serde_json::from_str(&line).expect("JSON start line");
        let url = v["url"].as_str().expect("url").to_owned();
        self.run = Some(Running {
            child,
            _stdout: stdout,
        });
        url
    }

    /// SIGKILL on unix, TerminateProcess on Windows: no chance to clean up.
    pub(super) fn kill(&mut self) {
        if let Some(mut r) = self.run.take() {
            r.child.kill().expect("kill");
            r.child.wait().expect("reaped");
        }
    }

    /// Whether the running child has died on its own (a panic, an error exit).
    fn died(&mut self) -> Option<String> {
        let r = self.run.as_mut()?;
        match r.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the service exited by itself ({status}); log:\n{}",
                self.log_tail(self.starts)
            )),
            _ => None,
        }
    }

    fn log_tail(&self, n: u32) -> String {
        let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics and scans of every log for what must never happen.
    pub(super) fn panics(&self) -> Vec<String> {
        (1..=self.starts)
            .flat_map(|n| {
                std::fs::read_to_string(self.log_path(n))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("panicked"))
                    .map(|l| format!("start {n}: {l}"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// The world: sim, data directory prepared with the demo seed, the service, the logins.

struct Harness {
    sim: Arc<SimHandle>,
    service: Arc<tokio::sync::Mutex<Service>>,
    /// The current URL (None while the service is down).
    url: Arc<Mutex<Option<String>>>,
    admin: Session,
    /// username -> (agent id, branch id, session).
    agents: Vec<(String, i64, Option<i64>, Session)>,
    db: SqlitePool,
    seed: u64,
    /// None when RELIABILITY_KEEP keeps the directory.
    _dir: Option<TempDir>,
}

/// The data directory with the demo seed and settings that route every conversation straight
/// to an online agent (no menu, rosters, greeting, out-of-office or survey).
pub(super) async fn prepare(data: &Path) {
    let config = ServiceConfig {
        media_dir: data.join("media"),
        ..ServiceConfig::default()
    };
    let app = App::open(&data.join("pharmacy.db"), Arc::new(SystemClock), config)
        .await
        .expect("database");
    app.seed_demo(&SeedOptions::default()).await.expect("seed");
    let admin: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'admin'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    app.update_settings(
        &SettingsPatch {
            greeting_enabled: Some(false),
            out_of_office_enabled: Some(false),
            branch_menu_enabled: Some(false),
            use_shifts: Some(false),
            csat_enabled: Some(false),
            ..SettingsPatch::default()
        },
        pharmacy_service::domain::ids::UserId(admin),
    )
    .await
    .expect("settings");
    let agents: Vec<i64> = sqlx::query_scalar("SELECT id FROM agents")
        .fetch_all(app.pool())
        .await
        .unwrap();
    for a in agents {
        app.set_agent_status(
            pharmacy_service::domain::ids::AgentId(a),
            AgentStatus::Online,
            None,
        )
        .await
        .unwrap();
    }
    app.pool().close().await;
}

impl Harness {
    async fn start(seed: u64) -> Harness {
        eprintln!("reliability seed {seed} (RELIABILITY_SEED={seed} replays it)");
        let dir = TempDir::new();
        // RELIABILITY_KEEP=1: keep the data directory (service logs, databases) and log the
        // in-test sim and customers' warnings to sim.log in it.
        let keep = std::env::var_os("RELIABILITY_KEEP").is_some();
        if keep {
            eprintln!("keeping {}", dir.0.display());
            if let Ok(f) = std::fs::File::create(dir.0.join("sim.log")) {
                let _ = tracing_subscriber::fmt()
                    .with_env_filter("warn")
                    .with_ansi(false)
                    .with_writer(Mutex::new(f))
                    .try_init();
            }
        }
        let data = dir.0.join("data");
        std::fs::create_dir_all(&data).unwrap();
        prepare(&data).await;
        let sim = Arc::new(Sim::start(SimConfig::default()).await.expect("sim"));
        let mut service = Service::new(&data, &sim.ws_url, &sim.root_key_hex());
        let url = service.start().await;
        let admin = login(&url, ADMIN.0, ADMIN.1).await;
        pair(&url, &admin, &sim).await;
        let db = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(data.join("pharmacy.db"))
                    .read_only(true),
            )
            .await
            .expect("read-only view of the service database");
        let rows: Vec<(i64, Option<i64>, String)> = sqlx::query_as(
            "SELECT a.id, a.branch_id, u.username FROM agents a JOIN users u ON u.id = a.user_id",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        let mut agents = Vec::new();
        for (id, branch, name) in rows {
            let s = login(&url, &name, AGENT_PASSWORD).await;
            agents.push((name, id, branch, s));
        }
        for i in 0..CUSTOMERS {
            sim.add_customer(&customer_phone(i), &format!("Customer {i}"), 1, false)
                .expect("customer");
        }
        Harness {
            sim,
            service: Arc::new(tokio::sync::Mutex::new(service)),
            url: Arc::new(Mutex::new(Some(url))),
            admin,
            agents,
            db,
            seed,
            _dir: if keep {
                std::mem::forget(dir);
                None
            } else {
                Some(dir)
            },
        }
    }

    fn url(&self) -> Option<String> {
        self.url.lock().unwrap().clone()
    }

    /// The customers' side: `INBOUND` texts spread over the customers, in bursts. Returns the
    /// WhatsApp ids the sim gave them.
    fn spawn_customers(&self, rng: &mut StdRng) -> tokio::task::JoinHandle<Vec<String>> {
        let sim = self.sim.clone();
        let mut rng = StdRng::seed_from_u64(rng.r#gen());
        tokio::spawn(async move {
            let mut ids = Vec::with_capacity(INBOUND);
            while ids.len() < INBOUND {
                let burst = rng.gen_range(20..80).min(INBOUND - ids.len());
                for _ in 0..burst {
                    let c = rng.gen_range(0..CUSTOMERS);
                    let n = ids.len();
                    let id = sim
                        .customer_send(
                            &customer_phone(c),
                            PHARMACY,
                            Outgoing::Text(format!("question {n} from customer {c}")),
                            None,
                        )
                        .expect("customer_send");
                    ids.push(id);
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
            }
            ids
        })
    }

    /// The agents' side: `REPLIES` replies accepted by the API (201). A request the service did
    /// not answer (killed meanwhile) is "unconfirmed" and retried with a new text.
    fn spawn_agents(&self, rng: &mut StdRng) -> tokio::task::JoinHandle<Replies> {
        let mut rng = StdRng::seed_from_u64(rng.r#gen());
        let url = self.url.clone();
        let agents = self.agents.clone();
        let db = self.db.clone();
        tokio::spawn(async move {
            let mut out = Replies::default();
            let mut n = 0usize;
            while out.accepted.len() < REPLIES {
                tokio::time::sleep(Duration::from_millis(rng.gen_range(20..120))).await;
                let Some(u) = url.lock().unwrap().clone() else {
                    continue;
                };
                let c = rng.gen_range(0..CUSTOMERS);
                let phone = customer_phone(c);
                let ticket: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT t.id, t.agent_id, t.branch_id FROM tickets t JOIN customers c \
                     ON c.id = t.customer_id WHERE c.phone = ? AND t.status <> 'closed'",
                )
                .bind(&phone)
                .fetch_optional(&db)
                .await
                .unwrap_or(None);
                let Some((ticket, agent, branch)) = ticket else {
                    continue;
                };
                let who = agents.iter().find(|a| match agent {
                    Some(id) => a.1 == id,
                    None => branch.is_none() || a.2 == branch,
                });
                let Some((name, agent_id, _, session)) = who else {
                    continue;
                };
                n += 1;
                let text = format!("answer {n} by {name} to {phone}");
                let body = json!({ "ticket_id": ticket, "text": text });
                // As the UI does: a 503 "busy" stored nothing, so the same request goes again
                // after Retry-After, a few times.
                let mut answer;
                let mut tries = 0;
                loop {
                    answer =
                        http(&u, "POST", "/api/messages/send", Some(session), Some(&body)).await;
                    let busy = matches!(&answer, Ok(a) if a.status == 503
                        && a.body["error"]["code"] == "busy");
                    if !busy || tries == 5 {
                        break;
                    }
                    tries += 1;
                    out.busy += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                match answer {
                    Ok(a) if a.status == 201 => {
                        let wa_id = a.body["message"]["wa_id"]
                            .as_str()
                            .expect("wa_id")
                            .to_owned();
                        out.accepted.push(Reply {
                            phone,
                            agent_id: *agent_id,
                            text,
                            wa_id,
                        });
                    }
                    // The ticket moved between the look-up and the post, or the database stayed
                    // busy through every retry (the agent sees an error and nothing was sent).
                    Ok(a) if a.status == 403 || a.status == 409 => out.refused += 1,
                    Ok(a) if a.status == 503 && a.body["error"]["code"] == "busy" => {
                        out.refused += 1
                    }
                    Ok(a) if a.status >= 500 => {
                        out.why.push(format!("{text}: {} {}", a.status, a.body));
                        out.unconfirmed.push(text)
                    }
                    Ok(a) => panic!("reply refused: {a:?}"),
                    Err(e) => {
                        out.why.push(format!("{text}: {e}"));
                        out.unconfirmed.push(text)
                    }
                }
            }
            out
        })
    }

    /// Waits until every sent message is stored, the outbox is empty and every accepted reply
    /// reached its customer.
    async fn settle(&self, inbound: &[String], replies: &Replies) {
        let deadline = Instant::now() + SETTLE;
        loop {
            if let Some(d) = self.service.lock().await.died() {
                panic!("seed {}: {d}", self.seed);
            }
            let stored: i64 =
                sqlx::query_scalar("SELECT count(*) FROM messages WHERE direction = 'in'")
                    .fetch_one(&self.db)
                    .await
                    .unwrap();
            let queued: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'queued'")
                    .fetch_one(&self.db)
                    .await
                    .unwrap();
            let delivered = self.delivered_ids();
            let missing = replies
                .accepted
                .iter()
                .filter(|r| !delivered.contains_key(&r.wa_id))
                .count();
            if stored as usize >= inbound.len() && queued == 0 && missing == 0 {
                return;
            }
            if Instant::now() > deadline {
                let log = {
                    let s = self.service.lock().await;
                    s.log_tail(s.starts)
                };
                let examples: Vec<&Reply> = replies
                    .accepted
                    .iter()
                    .filter(|r| !delivered.contains_key(&r.wa_id))
                    .take(5)
                    .collect();
                panic!(
                    "seed {}: not settled: {stored}/{} inbound stored, {queued} queued, \
                     {missing} accepted replies not delivered (e.g. {examples:?}); log:\n{log}",
                    self.seed,
                    inbound.len(),
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Messages from the pharmacy in the customers' inboxes: WhatsApp id -> (phone, text,
    /// how many times it arrived).
    fn delivered_ids(&self) -> HashMap<String, (String, Option<String>, usize)> {
        let mut out: HashMap<String, (String, Option<String>, usize)> = HashMap::new();
        for i in 0..CUSTOMERS {
            let phone = customer_phone(i);
            for e in self.sim.customer_inbox(&phone).expect("inbox") {
                if e.from_me || e.group.is_some() {
                    continue;
                }
                out.entry(e.id)
                    .or_insert_with(|| (phone.clone(), e.text.clone(), 0))
                    .2 += 1;
            }
        }
        out
    }

    /// Every end-state check of the harness.
    async fn check(&self, inbound: &[String], replies: &Replies) {
        let seed = self.seed;
        // Every inbound message stored exactly once.
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT wa_id FROM messages WHERE direction = 'in' AND wa_id IS NOT NULL",
        )
        .fetch_all(&self.db)
        .await
        .unwrap();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &stored {
            *counts.entry(id).or_default() += 1;
        }
        let sent: HashSet<&str> = inbound.iter().map(String::as_str).collect();
        assert_eq!(
            sent.len(),
            inbound.len(),
            "seed {seed}: the sim reused an id"
        );
        let lost: Vec<&&str> = sent
            .iter()
            .filter(|id| !counts.contains_key(**id))
            .collect();
        assert!(
            lost.is_empty(),
            "seed {seed}: {} inbound messages lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "seed {seed}: stored twice: {twice:?}");
        let strangers: Vec<_> = counts.keys().filter(|id| !sent.contains(*id)).collect();
        assert!(
            strangers.is_empty(),
            "seed {seed}: stored but never sent: {strangers:?}"
        );

        // Every accepted reply delivered to its customer exactly once by WhatsApp id, with its
        // text; nothing else reached the customers.
        let delivered = self.delivered_ids();
        let out: Vec<OutRow> = sqlx::query_as(
            "SELECT m.wa_id, m.agent_id, m.body, o.state, c.phone FROM messages m \
             JOIN outbox o ON o.message_id = m.id JOIN customers c ON c.id = m.customer_id \
             WHERE m.direction = 'out'",
        )
        .fetch_all(&self.db)
        .await
        .unwrap();
        let by_id: HashMap<&str, &OutRow> = out.iter().map(|r| (r.0.as_str(), r)).collect();
        for r in &replies.accepted {
            let (phone, text, _) = delivered.get(&r.wa_id).unwrap_or_else(|| {
                panic!("seed {seed}: accepted reply {r:?} never reached the customer")
            });
            assert_eq!(
                phone, &r.phone,
                "seed {seed}: {r:?} went to another customer"
            );
            assert_eq!(text.as_deref(), Some(r.text.as_str()), "seed {seed}: {r:?}");
            let row = by_id
                .get(r.wa_id.as_str())
                .unwrap_or_else(|| panic!("seed {seed}: accepted reply {r:?} not in the database"));
            assert_eq!(row.3, "sent", "seed {seed}: {r:?}: outbox state");
        }
        let mut texts: HashMap<&str, &str> = HashMap::new();
        let mut redelivered = 0;
        for (id, (_, text, times)) in &delivered {
            assert!(
                by_id.contains_key(id.as_str()),
                "seed {seed}: the customer got {id} ({text:?}), which the service never sent"
            );
            if let Some(t) = text
                && let Some(other) = texts.insert(t, id)
            {
                panic!("seed {seed}: {t:?} delivered under two ids ({other}, {id})");
            }
            redelivered += times - 1;
        }
        for r in &out {
            assert_eq!(
                r.3, "sent",
                "seed {seed}: outbox row of {} ended {}",
                r.0, r.3
            );
        }
        let landed = replies
            .unconfirmed
            .iter()
            .filter(|t| out.iter().any(|r| r.2.as_deref() == Some(t.as_str())))
            .count();
        assert_eq!(
            out.len(),
            replies.accepted.len() + landed,
            "seed {seed}: agent messages in the database vs replies sent"
        );

        // Tickets: one per customer, holding all its messages.
        let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
            .fetch_one(&self.db)
            .await
            .unwrap();
        assert_eq!(tickets as usize, CUSTOMERS, "seed {seed}: one ticket each");
        let foreign: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id \
             WHERE t.customer_id <> m.customer_id",
        )
        .fetch_one(&self.db)
        .await
        .unwrap();
        assert_eq!(
            foreign, 0,
            "seed {seed}: messages in another customer's ticket"
        );
        // Each text names its sender: it must sit in that customer's conversation.
        let bodies: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT m.body, c.phone FROM messages m JOIN customers c ON c.id = m.customer_id \
             WHERE m.direction = 'in'",
        )
        .fetch_all(&self.db)
        .await
        .unwrap();
        for (body, phone) in &bodies {
            let c: Option<usize> = body
                .as_deref()
                .and_then(|b| b.rsplit(' ').next())
                .and_then(|n| n.parse().ok());
            assert_eq!(
                c.map(customer_phone),
                phone.clone(),
                "seed {seed}: {body:?} in the wrong conversation"
            );
        }

        // KPIs: per-agent messages sent equal the replies in the database and what the test sent.
        let url = self.url().expect("running");
        let k = http(
            &url,
            "GET",
            "/api/analytics/agents",
            Some(&self.admin),
            None,
        )
        .await
        .expect("kpi");
        assert_eq!(k.status, 200, "{k:?}");
        let kpi: BTreeMap<i64, i64> = k.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| {
                (
                    r["agent_id"].as_i64().unwrap(),
                    r["totals"]["messages_sent"].as_i64().unwrap(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut in_db: BTreeMap<i64, i64> = BTreeMap::new();
        for r in &out {
            *in_db.entry(r.1).or_default() += 1;
        }
        assert_eq!(kpi, in_db, "seed {seed}: KPI messages_sent vs the database");
        let mut accepted: BTreeMap<i64, i64> = BTreeMap::new();
        for r in &replies.accepted {
            *accepted.entry(r.agent_id).or_default() += 1;
        }
        for (agent, n) in &accepted {
            assert!(
                in_db.get(agent).copied().unwrap_or(0) >= *n,
                "seed {seed}: agent {agent} had {n} replies accepted, KPIs {kpi:?}"
            );
        }
        let received: i64 = k.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["totals"]["messages_received"].as_i64().unwrap_or(0))
            .sum();
        assert!(
            received <= inbound.len() as i64,
            "seed {seed}: {received} received in KPIs for {} sent",
            inbound.len()
        );

        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.db)
            .await
            .unwrap();
        assert_eq!(ok, "ok", "seed {seed}");
        let panics = self.service.lock().await.panics();
        assert!(panics.is_empty(), "seed {seed}: {panics:?}");
        eprintln!(
            "seed {seed}: {} inbound, {} replies accepted ({} unconfirmed, {landed} of them \
             stored, {} refused, {} busy retries), {} starts, {redelivered} same-id redeliveries",
            inbound.len(),
            replies.accepted.len(),
            replies.unconfirmed.len(),
            replies.refused,
            replies.busy,
            self.service.lock().await.starts
        );
    }

    async fn stop(self) {
        self.service.lock().await.kill();
        self.db.close().await;
        self.sim.shutdown();
    }
}

/// An agent message in the database: WhatsApp id, agent, text, outbox state, customer phone.
type OutRow = (String, i64, Option<String>, String, Option<String>);

#[derive(Debug, Clone)]
struct Reply {
    phone: String,
    agent_id: i64,
    text: String,
    wa_id: String,
}

#[derive(Debug, Default)]
struct Replies {
    accepted: Vec<Reply>,
    /// Texts of requests that got no answer (the service died meanwhile).
    unconfirmed: Vec<String>,
    /// What each unconfirmed request got instead of an answer.
    why: Vec<String>,
    refused: usize,
    /// 503 "busy" answers that were retried.
    busy: usize,
}

fn customer_phone(i: usize) -> String {
    format!("2010777{i:05}")
}

/// Pairs the freshly started service with the sim's phone through the admin's QR code.
pub(super) async fn pair(url: &str, admin: &Session, sim: &SimHandle) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let qr = loop {
        let a = http(url, "GET", "/api/whatsapp/qr-code", Some(admin), None)
            .await
            .expect("qr");
        if let Some(q) = a.body["qr"].as_str() {
            break q.to_owned();
        }
        assert!(Instant::now() < deadline, "no QR: {a:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    sim.scan(&qr, PHARMACY).await.expect("scan");
    wait_connected(url, admin).await;
}

pub(super) async fn wait_connected(url: &str, admin: &Session) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = http(url, "GET", "/api/whatsapp/status", Some(admin), None).await;
        if let Ok(a) = &a
            && a.body["state"] == "connected"
        {
            return;
        }
        assert!(Instant::now() < deadline, "not connected: {a:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let h = Harness::start(seed).await;
    let customers = h.spawn_customers(&mut rng);
    let agents = h.spawn_agents(&mut rng);
    let mut kills = 0;
    while !(customers.is_finished() && agents.is_finished()) || kills < 3 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..5_000))).await;
        let mut s = h.service.lock().await;
        if let Some(d) = s.died() {
            panic!("seed {seed}: {d}");
        }
        *h.url.lock().unwrap() = None;
        s.kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..500))).await;
        let url = s.start().await;
        *h.url.lock().unwrap() = Some(url);
    }
    let inbound = customers.await.unwrap();
    let replies = agents.await.unwrap();
    eprintln!("seed {seed}: {kills} kills; settling");
    h.settle(&inbound, &replies).await;
    h.check(&inbound, &replies).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_stream_errors_lose_and_duplicate_nothing() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let h = Harness::start(seed).await;
    let customers = h.spawn_customers(&mut rng);
    let agents = h.spawn_agents(&mut rng);
    let mut faults = 0;
    while !(customers.is_finished() && agents.is_finished()) || faults < 3 {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1_500..4_000))).await;
        if let Some(d) = h.service.lock().await.died() {
            panic!("seed {seed}: {d}");
        }
        let fault = match rng.gen_range(0..3) {
            0 => Fault::DropConnections,
            1 => Fault::StreamError { code: 503 },
            _ => Fault::StreamError { code: 515 },
        };
        h.sim.fault(&fault).expect("fault");
        faults += 1;
    }
    let inbound = customers.await.unwrap();
    let replies = agents.await.unwrap();
    assert!(replies.unconfirmed.is_empty(), "seed {seed}: {replies:?}");
    eprintln!("seed {seed}: {faults} faults; settling");
    h.settle(&inbound, &replies).await;
    h.check(&inbound, &replies).await;
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A full disk or a locked database: an error and an alert, never corruption or a silent drop.

/// Waits for `whatsappStatus` `store_failed` on the live bus; returns its detail.
async fn store_failed_event(
    events: &mut tokio::sync::broadcast::Receiver<pharmacy_service::app::Envelope>,
) -> Value {
    use pharmacy_service::app::LiveEvent;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(e)) => {
                if let LiveEvent::WhatsappStatus { state, detail } = e.event
                    && state == "store_failed"
                {
                    return serde_json::to_value(detail.unwrap_or_default()).unwrap();
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event bus: {e}"),
            Err(_) => panic!("no store_failed status"),
        }
    }
}

async fn stored_count(pool: &SqlitePool, wa_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE wa_id = ?")
        .bind(wa_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Checks the database file on a connection of its own. A pooled connection is not used:
/// SQLite 3.46's FTS5 check reads the index structure that connection cached when it last read
/// the index, so after other connections wrote it reported "malformed inverted index for FTS5
/// table main.messages_fts" while a fresh connection (and FTS5's own 'integrity-check'
/// command) found the same file sound, one run in about eight.
async fn integrity(pool: &SqlitePool) {
    use sqlx::Connection;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await
            .unwrap();
    let mut c = sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&file))
        .await
        .unwrap();
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(ok, "ok");
    c.close().await.unwrap();
}

/// Sets `PRAGMA max_page_count` on every connection of the pool (the pragma is per
/// connection): the pool's size in connections are taken at once, so each one gets it.
async fn limit_pages(pool: &SqlitePool, pages: Option<i64>) {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.unwrap());
    }
    for c in &mut held {
        let n = match pages {
            Some(n) => n,
            None => sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut **c)
                .await
                .unwrap(),
        };
        sqlx::query(&format!("PRAGMA max_page_count = {n}"))
            .execute(&mut **c)
            .await
            .unwrap();
    }
}

/// Waits until `wa_id` is stored, making the sim's connections drop now and then: WhatsApp
/// delivers an unacknowledged message again at the next login.
async fn redelivered(s: &super::sim_service::SimService, wa_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        eprintln!("dropping the connections for {wa_id}");
        s.sim.fault(&Fault::DropConnections).expect("fault");
        for _ in 0..50 {
            if stored_count(s.app.pool(), wa_id).await > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(Instant::now() < deadline, "{wa_id} never delivered again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_or_full_database_is_an_error_and_an_alert_never_a_silent_drop() {
    use super::sim_service::{PHARMACY, SimService};
    use sqlx::Connection;
    if std::env::var_os("RELIABILITY_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,pharmacy_service=info,whatsapp_client=info")
            .with_test_writer()
            .try_init();
    }
    let s = SimService::start(pharmacy_service::domain::pacing::PacingPolicy::fast()).await;
    let pool = s.app.pool().clone();
    let phone = "201077799001";
    s.customer_writes(phone, "Mona", "hello").await;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&pool)
            .await
            .unwrap();

    // Locked: another connection holds the write lock (SQLITE_BUSY after the busy timeout).
    let mut events = s.app.events().subscribe();
    let mut locker =
        sqlx::SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&file))
            .await
            .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let locked = s
        .sim
        .customer_send(phone, PHARMACY, Outgoing::Text("while locked".into()), None)
        .unwrap();
    let detail = store_failed_event(&mut events).await;
    assert!(
        detail["error"]
            .as_str()
            .is_some_and(|e| e.contains("locked") || e.contains("busy")),
        "{detail}"
    );
    assert_eq!(stored_count(&pool, &locked).await, 0);
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    locker.close().await.unwrap();
    redelivered(&s, &locked).await;
    assert_eq!(stored_count(&pool, &locked).await, 1);
    integrity(&pool).await;

    // Full: the database may not grow (SQLITE_FULL, as a full disk reports it).
    limit_pages(&pool, None).await;
    let big = "x".repeat(200_000);
    let full = s
        .sim
        .customer_send(phone, PHARMACY, Outgoing::Text(format!("full {big}")), None)
        .unwrap();
    let detail = store_failed_event(&mut events).await;
    assert!(
        detail["error"].as_str().is_some_and(|e| e.contains("full")),
        "{detail}"
    );
    assert_eq!(stored_count(&pool, &full).await, 0);
    integrity(&pool).await;
    limit_pages(&pool, Some(1_073_741_823)).await;
    redelivered(&s, &full).await;
    assert_eq!(stored_count(&pool, &full).await, 1);
    integrity(&pool).await;

    // Both episodes left a lasting alert once the database took writes again.
    let alerts: Vec<String> = sqlx::query_scalar(
        "SELECT details_json FROM admin_alerts WHERE kind = 'inbound_store_failed' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    // Everything the customer sent is stored once, in their one conversation.
    let (n, tickets): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT m.ticket_id) FROM messages m JOIN customers c \
         ON c.id = m.customer_id WHERE c.phone = ? AND m.direction = 'in'",
    )
    .bind(phone)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((n, tickets), (3, 1));
    s.shutdown().await;
}

/// Issue 32: an agent's send that meets a database held busy past SQLite's busy timeout (another
/// connection holds the write lock, as a long write does) is answered 503 `busy` with
/// `Retry-After` and stores nothing, so the UI's resend cannot duplicate it; the same request once
/// the lock is gone is a 201.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_into_a_busy_database_is_503_with_retry_after_and_nothing_stored() {
    use super::api_support::{T1, spawn_app};
    use sqlx::Connection;
    let t = spawn_app().await;
    let ticket = t
        .customer_writes("201077799002", "busy-1", "is it in stock?")
        .await;
    t.assign(ticket, t.world.agents[0]).await;
    let me = t.login(T1).await;
    let mut locker = super::support::hold_write_lock(&t.world._dir.0.join("pharmacy.db")).await;
    let replies = "SELECT COUNT(*) FROM messages WHERE ticket_id = ? AND body = 'yes, 95 EGP'";
    let body = json!({ "ticket_id": ticket.0, "text": "yes, 95 EGP" });

    let r = me.post("/api/messages/send", body.clone()).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "busy", "{}", r.text());
    assert_eq!(r.json()["error"]["details"]["retry_after_s"], 1);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    let stored: i64 = sqlx::query_scalar(replies)
        .bind(ticket.0)
        .fetch_one(&mut locker)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a busy answer stored nothing");

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let r = me.post("/api/messages/send", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let stored: i64 = sqlx::query_scalar(replies)
        .bind(ticket.0)
        .fetch_one(&mut locker)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    locker.close().await.unwrap();
}
