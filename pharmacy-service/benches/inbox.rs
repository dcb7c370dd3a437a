//! The web inbox with 1,000 open tickets (issue 33, item 4), in headless chromium:
//!
//! ```sh
//! cargo bench -p pharmacy-service --bench inbox
//! ```
//!
//! Seeds a fresh database (the demo's branches and logins, then 1,000 customers writing in,
//! every ticket given to one agent), starts the release binary's `serve` on it, and measures:
//! - the service's start (process spawn) to the first byte of the inbox page (`GET /`) and of
//!   the inbox's first page of tickets (`GET /api/tickets?status=open&limit=200`, logged in),
//!   median of 5 starts;
//! - navigation start to the list drawn with all 1,000 rows (the `inbox-list` performance mark
//!   of `ui/js/inbox.js`), median of 5 loads in chromium (Debian's, through chromedriver, as the
//!   browser tests drive it), the agent already logged in; target under 300 ms.
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use fantoccini::Client;
use pharmacy_service::app::{
    App, InboundContent, InboundEvent, InboundMessage, InboundOutcome, SeedOptions, Sender,
    ServiceConfig, SystemClock, TransferTarget,
};
use pharmacy_service::db;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../tests/integration/chromium.rs"]
mod chromium;

const BIN: &str = env!("CARGO_BIN_EXE_pharmacy-service");
const TICKETS: usize = 1_000;
const LOADS: usize = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` runs benches once without it
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let data = target.join("bench-inbox");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).expect("scratch dir");
    let (user, password) = seed(&data).await;

    // A session made once (the password hash is not what is measured); it outlives restarts.
    let (mut serve, addr) = spawn_serve(&data).await;
    let login = json!({ "username": user, "password": password }).to_string();
    let head = request(addr, "POST", "/auth/login", None, Some(&login)).await;
    let cookie = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no session cookie: {head}"));
    stop(&mut serve);

    let (mut page, mut api) = (Vec::new(), Vec::new());
    for _ in 0..LOADS {
        let (p, a) = start_to_first_byte(&data, &cookie).await;
        page.push(p);
        api.push(a);
    }
    println!(
        "inbox: service start to the first byte of the inbox page, median of {LOADS}: {} (all: {})",
        ms(median(&mut page)),
        list(&page)
    );
    println!(
        "inbox: service start to the first byte of the first 200 open tickets, median of {LOADS}: {} (all: {})",
        ms(median(&mut api)),
        list(&api)
    );

    let (mut serve, addr) = spawn_serve(&data).await;
    let mut browser = Browser::start(&data).await;
    let mut drawn = browser.loads(addr, &user, &password).await;
    println!(
        "inbox: navigation start to {TICKETS} rows drawn in chromium, median of {LOADS}: {} (all: {}; target < 300 ms)",
        ms(median(&mut drawn)),
        list(&drawn)
    );
    browser.close().await;
    stop(&mut serve);
}

/// The demo's branches and logins, then `TICKETS` customers writing in, every ticket given to
/// the first agent. Returns that agent's login.
async fn seed(data: &Path) -> (String, String) {
    let t0 = Instant::now();
    let config = ServiceConfig {
        media_dir: data.join("media"),
        ..ServiceConfig::default()
    };
    let app = App::open(&data.join("pharmacy.db"), Arc::new(SystemClock), config)
        .await
        .expect("open");
    let creds = app.seed_demo(&SeedOptions::default()).await.expect("seed");
    let (user, password, _) = creds.agents[0].clone();
    let mut c = app.pool().acquire().await.unwrap();
    let admin = db::users::by_username(&mut c, &creds.admin.0)
        .await
        .unwrap()
        .expect("the demo admin")
        .id;
    let agent = db::agents::list(&mut c)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.username == user)
        .expect("the demo agent")
        .id;
    drop(c);
    for i in 0..TICKETS {
        let outcome = app
            .handle_inbound(InboundEvent::Message(InboundMessage {
                wa_id: format!("BENCH-INBOX-{i}"),
                from: Sender {
                    phone: Some(format!("2010{i:08}")),
                    lid: None,
                    push_name: Some(format!("Customer {i}")),
                },
                at: app.now(),
                content: InboundContent::Text {
                    text: format!("عندكم بنادول إكسترا؟ ({i})"),
                },
                quoted_wa_id: None,
            }))
            .await
            .expect("inbound");
        let InboundOutcome::Stored { ticket_id, .. } = outcome else {
            panic!("not stored: {outcome:?}");
        };
        app.transfer_ticket(ticket_id, admin, TransferTarget::Agent(agent), "bench")
            .await
            .expect("transfer");
    }
    app.pool().close().await;
    println!(
        "inbox: seeded {TICKETS} open tickets for {user} in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    (user, password)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn serve_command(data: &Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.args(["serve", "--port", &port.to_string()])
        .args(["--wa-url", "ws://127.0.0.1:9/ws/chat"])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `serve` on a free port, once it answers.
async fn spawn_serve(data: &Path) -> (Child, SocketAddr) {
    let port = free_port();
    let child = serve_command(data, port)
        .spawn()
        .expect("the release binary");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while first_byte(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_none()
    {
        assert!(Instant::now() < deadline, "serve did not answer");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, addr)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Spawns `serve` and asks, from the spawn on, for the inbox page until its first byte comes;
/// then the first page of open tickets. Both measured from the spawn.
async fn start_to_first_byte(data: &Path, cookie: &str) -> (Duration, Duration) {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    let mut child = serve_command(data, port)
        .spawn()
        .expect("the release binary");
    let page = loop {
        if first_byte(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .is_some()
        {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "serve did not answer"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let req = format!(
        "GET /api/tickets?status=open&limit=200 HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
    );
    first_byte(addr, &req).await.expect("the inbox answers");
    let api = t0.elapsed();
    stop(&mut child);
    (page, api)
}

/// Sends `req` on a new connection; the first byte of the answer, if any.
async fn first_byte(addr: SocketAddr, req: &str) -> Option<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(req.as_bytes()).await.ok()?;
    let mut b = [0u8; 1];
    (s.read(&mut b).await.ok()? == 1).then_some(b[0])
}

/// One request with `Connection: close`; the answer's head.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_once("\r\n\r\n")
        .map_or(text.clone(), |(h, _)| h.to_owned())
}

/// chromedriver and a headless chromium session, started as the browser tests start them.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start(data: &Path) -> Browser {
        let (client, driver) = chromium::session(&data.join("chromium-profile"), "en").await;
        Browser { client, driver }
    }

    /// Logs in through the page, then loads the inbox `LOADS` times; each time, navigation
    /// start to the `inbox-list` mark of a list with every ticket.
    async fn loads(&mut self, addr: SocketAddr, user: &str, password: &str) -> Vec<Duration> {
        let base = format!("http://{addr}/");
        self.client.goto(&base).await.expect("the page");
        let status = self
            .client
            .execute_async(
                "const [user, password, done] = arguments;
                 fetch('/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                   body: JSON.stringify({ username: user, password }) })
                   .then(async (r) => { const b = await r.json(); sessionStorage.setItem('csrf', b.csrf_token || ''); done(r.status); })
                   .catch((e) => done(String(e)));",
                vec![json!(user), json!(password)],
            )
            .await
            .expect("login script");
        assert_eq!(status, json!(200), "login through the page");
        let probe = format!(
            "const m = performance.getEntriesByName('inbox-list')
                 .find((e) => e.detail && e.detail.rows >= {TICKETS});
             return m ? m.startTime : null;"
        );
        let mut drawn = Vec::new();
        for _ in 0..LOADS {
            self.client.goto("about:blank").await.expect("blank");
            self.client.goto(&base).await.expect("the inbox");
            let deadline = Instant::now() + Duration::from_secs(60);
            let at = loop {
                let v = self.client.execute(&probe, vec![]).await.expect("probe");
                if let Some(ms) = v.as_f64() {
                    break ms;
                }
                assert!(
                    Instant::now() < deadline,
                    "the inbox never drew {TICKETS} rows"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            drawn.push(Duration::from_secs_f64(at / 1000.0));
            // Where the time went, from the browser's timings (ms after navigation start).
            let parts = self
                .client
                .execute(BREAKDOWN, vec![])
                .await
                .expect("timings");
            println!("inbox: load: drawn at {at:.1} ms; {parts}");
        }
        drawn
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let mut driver = self.driver;
        stop(&mut driver);
    }
}

/// The page's own timings: its HTML, its scripts run, the session check, the ticket pages.
const BREAKDOWN: &str = "
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const end = (f) => Math.max(0, ...res.filter((r) => f(r.name)).map((r) => r.responseEnd));
    const pages = res.filter((r) => r.name.includes('/api/tickets'));
    const round = (x) => Math.round(x * 10) / 10;
    return {
        html: round(nav.responseEnd),
        scripts_loaded: round(end((n) => n.endsWith('.js'))),
        dom_content_loaded: round(nav.domContentLoadedEventEnd),
        profile: round(end((n) => n.includes('/auth/profile'))),
        ticket_pages: pages.length,
        first_page: round(Math.min(...pages.map((r) => r.responseEnd))),
        last_page: round(end((n) => n.includes('/api/tickets'))),
    };";

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn list(v: &[Duration]) -> String {
    v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
}
