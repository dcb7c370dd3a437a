//! The one-command demo (`pharmacy-service demo`): an embedded whatsapp-sim, the service on
//! 127.0.0.1 with the real WhatsApp client connected to the sim, the 15 Mansoura branches with
//! demo logins (created on the first start; a later start keeps their passwords), automatic
//! pairing through the sim's phone,
//! simulated customers writing in Arabic and English (text, images, voice notes, locations),
//! and simulated agents answering the tickets nobody is working on.
//!
//! [`start`] does everything and returns a [`Demo`] whose [`Demo::start_line`] is the JSON
//! object the binary prints first on stdout.
//!
//! The data directory must be the demo's own: one that does not exist yet or is empty (the
//! demo then writes [`DEMO_MARKER`] in it), or one with that marker. Any other directory (the
//! production one) is refused, and the demo holds the instance lock
//! ([`crate::ops::lock`]) like `serve`, so it never runs beside the service on the same files.
//!
//! - Pairing: after [`DemoOptions::pair_after`] the sim's phone scans the client's current QR.
//!   With [`DemoOptions::manual_pair`] nothing happens until someone asks: `POST
//!   /api/demo/scan` (the pairing page's "simulate phone scan"), or `POST /control/scan` on
//!   the sim's control API, or the pairing page's phone-number code (the sim's phone types the
//!   code it is shown).
//! - Simulated agents answer open tickets whose last message is the customer's, after
//!   [`DemoOptions::agent_delay`], unless a person is signed in as the ticket's agent (a live
//!   connection), and close a ticket after two answers so the satisfaction survey goes out.

use crate::app::{
    App, AppError, DemoCredentials, SeedOptions, SendReply, ServiceConfig, SteadyClock, SystemClock,
};
use crate::app::{LinkError, LinkFuture, LinkState, LinkStatus, WhatsappLink};
use crate::db::tickets::TicketFilter;
use crate::domain::pacing::PacingPolicy;
use crate::domain::routing::AgentStatus;
use crate::domain::ticket::{Actor, TicketStatus};
use crate::http::AppState;
use crate::startup::{Application, Config};
use crate::whatsapp::OutboxWorker;
use crate::whatsapp::bridge::{BridgeError, WhatsappBridge};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use whatsapp_sim::device::{MediaKind, Outgoing};
use whatsapp_sim::{Sim, SimConfig, SimHandle};

/// The file the demo writes in the data directory it claims.
pub const DEMO_MARKER: &str = "demo-data.marker";

/// The pharmacy's WhatsApp number in the demo.
pub const PHARMACY_PHONE: &str = "201001234567";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// HTTP port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// Where the database and media go.
    pub data_dir: PathBuf,
    /// Wait for a "simulate phone scan" instead of pairing automatically.
    pub manual_pair: bool,
    /// Automatic pairing happens this long after start.
    pub pair_after: Duration,
    /// Simulated customers write every so often (a random pause in this range).
    pub customer_pause: (Duration, Duration),
    /// Simulated agents answer a customer's message this long after it came in.
    pub agent_delay: Duration,
    /// Run the simulated customers and agents at all.
    pub traffic: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            port: 8080,
            data_dir: PathBuf::from("demo-data"),
            manual_pair: false,
            pair_after: Duration::from_secs(3),
            customer_pause: (Duration::from_secs(3), Duration::from_secs(8)),
            agent_delay: Duration::from_secs(8),
            traffic: true,
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Files or sockets.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The service core.
    #[error(transparent)]
    App(#[from] AppError),
    /// The simulator.
    #[error("whatsapp-sim: {0}")]
    Sim(#[from] whatsapp_sim::SimError),
    /// The WhatsApp client.
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    /// The data directory holds something else (the production data?).
    #[error(
        "{0} is not a demo data directory (it is not empty and has no {DEMO_MARKER}); \
         give the demo a new or empty directory"
    )]
    NotDemoData(PathBuf),
    /// Another process uses the data directory.
    #[error(transparent)]
    Lock(#[from] crate::ops::lock::LockError),
    /// The Web Push key could not be kept.
    #[error(transparent)]
    Push(#[from] crate::alerts::push::PushError),
}

/// Makes `dir` the demo's (see the module documentation) or refuses it.
fn claim_data_dir(dir: &std::path::Path) -> Result<(), DemoError> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)?,
        Err(e) => return Err(e.into()),
        Ok(mut entries) => {
            if dir.join(DEMO_MARKER).is_file() {
                return Ok(());
            }
            if entries.next().is_some() {
                return Err(DemoError::NotDemoData(dir.to_path_buf()));
            }
        }
    }
    std::fs::write(
        dir.join(DEMO_MARKER),
        "Written by `pharmacy-service demo`: this directory holds demo data.\n",
    )?;
    Ok(())
}

/// A running demo.
pub struct Demo {
    /// The first stdout line: `{"url", "admin", "agents", "sim_control"}`.
    pub start_line: Value,
    /// `http://127.0.0.1:P`.
    pub url: String,
    /// The sim's control API, `http://127.0.0.1:C`.
    pub sim_control: String,
    /// The demo logins.
    pub credentials: DemoCredentials,
    /// The service core.
    pub app: App,
    /// The WhatsApp bridge (the real client).
    pub bridge: Arc<WhatsappBridge>,
    /// The embedded simulator.
    pub sim: Arc<SimHandle>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<std::io::Result<()>>,
    lock: crate::ops::lock::InstanceLock,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("url", &self.url)
            .field("sim_control", &self.sim_control)
            .finish_non_exhaustive()
    }
}

/// Starts everything; the HTTP server is accepting connections when this returns.
pub async fn start(opts: DemoOptions) -> Result<Demo, DemoError> {
    claim_data_dir(&opts.data_dir)?;
    let lock = crate::ops::lock::InstanceLock::acquire(&opts.data_dir).await?;
    let config = ServiceConfig {
        media_dir: opts.data_dir.join("media"),
        pacing: PacingPolicy::demo(),
        // Demo hours are any hours: no rosters, no out-of-office.
        use_shifts: false,
        out_of_office_enabled: false,
        ..ServiceConfig::default()
    };
    let app = App::open(
        &opts.data_dir.join("pharmacy.db"),
        Arc::new(SteadyClock::new(Arc::new(SystemClock))),
        config,
    )
    .await?;
    let credentials = app.seed_demo(&SeedOptions::default()).await?;
    let agents = {
        let mut c = app.pool().acquire().await.map_err(AppError::from)?;
        crate::db::agents::list(&mut c)
            .await
            .map_err(AppError::from)?
    };
    for a in &agents {
        app.set_agent_status(a.id, AgentStatus::Online, None)
            .await?;
    }

    let sim = Arc::new(Sim::start(SimConfig::default()).await?);
    tracing::info!(ws = %sim.ws_url, control = %sim.control_url, "whatsapp-sim started");
    let mut wa = whatsapp_client::Config::default()
        .with_url(sim.ws_url.clone())
        .with_trust_root(sim.root_public_key);
    wa.media_base_url = Some(format!("http://{}", sim.ws_addr));
    wa.reconnect.initial = Duration::from_millis(200);
    wa.reconnect.max = Duration::from_secs(5);
    // The sim forgets everything when it stops: a fresh session every start.
    let store = Arc::new(whatsapp_client::store::MemoryStore::new());
    let bridge = WhatsappBridge::start(app.clone(), store, wa).await?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(
        OutboxWorker::new(app.clone(), bridge.clone(), rand::thread_rng().r#gen())
            .run(shutdown_rx.clone()),
    ));
    tasks.push(app.spawn_scheduler(Duration::from_secs(30)));

    let link = Arc::new(DemoLink {
        bridge: bridge.clone(),
        sim: sim.clone(),
    });
    let alerts = crate::alerts::Alerts::new(
        app.clone(),
        crate::alerts::AlertsConfig {
            data_dir: Some(opts.data_dir.clone()),
            ..crate::alerts::AlertsConfig::default()
        },
    )?;
    tasks.extend(alerts.spawn());
    let application = Application::build(Config {
        listen: std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, opts.port)),
        alerts: Some(alerts),
        extra_routes: Some(
            axum::Router::new()
                .route("/api/demo/scan", axum::routing::post(demo_scan))
                .with_state(link.clone()),
        ),
        ..Config::new(app.clone(), link.clone())
    })
    .await?;
    let (url, state) = (application.url(), application.state().clone());
    let mut stop = shutdown_rx.clone();
    let server = tokio::spawn(application.run_until(async move {
        let _ = stop.wait_for(|s| *s).await;
    }));

    if !opts.manual_pair {
        let (link, after) = (link.clone(), opts.pair_after);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(after).await;
            for _ in 0..20 {
                match link.scan().await {
                    Ok(()) => return,
                    Err(e) => tracing::info!(error = %e, "automatic pairing: trying again"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }));
    }
    if opts.traffic {
        let customers = Customers::add(&sim)?;
        tasks.push(tokio::spawn(customers.run(
            sim.clone(),
            bridge.clone(),
            opts.customer_pause,
            shutdown_rx.clone(),
        )));
        tasks.push(tokio::spawn(agents_loop(
            state,
            opts.agent_delay,
            shutdown_rx.clone(),
        )));
    }

    let start_line = json!({
        "url": url,
        "admin": { "username": credentials.admin.0, "password": credentials.admin.1 },
        "agents": credentials.agents.iter().map(|(u, p, b)| json!({
            "username": u, "password": p, "branch": b,
        })).collect::<Vec<_>>(),
        "sim_control": sim.control_url,
    });
    tracing::info!(%url, "demo serving; the pharmacy pairs itself through the sim");
    Ok(Demo {
        start_line,
        url,
        sim_control: sim.control_url.clone(),
        credentials,
        app,
        bridge,
        sim,
        shutdown,
        tasks,
        server,
        lock,
    })
}

impl Demo {
    /// Stops the traffic, the outbox (after the send in progress), the HTTP server (after the
    /// requests in flight), the client (closing its socket) and the sim.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        let _ = self.server.await;
        self.bridge.shutdown().await;
        self.sim.shutdown();
        self.lock.release().await;
    }
}

/// The bridge as the HTTP layer's link, plus the sim's phone: a pairing code asked for the
/// demo number is typed on the simulated phone a moment later.
struct DemoLink {
    bridge: Arc<WhatsappBridge>,
    sim: Arc<SimHandle>,
}

impl DemoLink {
    /// The simulated phone scans the current QR.
    async fn scan(&self) -> Result<(), LinkError> {
        if self.bridge.state() == LinkState::Connected {
            return Err(LinkError::AlreadyPaired);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let qr = loop {
            if let Some(qr) = self.bridge.qr() {
                break qr;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(LinkError::Other(
                    "no QR code to scan yet (the client is connecting)".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        self.sim
            .scan(&qr, PHARMACY_PHONE)
            .await
            .map_err(|e| LinkError::Other(e.to_string()))?;
        tracing::info!("the simulated phone scanned the QR code");
        Ok(())
    }
}

impl WhatsappLink for DemoLink {
    fn status(&self) -> LinkFuture<'_, LinkStatus> {
        self.bridge.status()
    }

    fn qr_code(&self) -> LinkFuture<'_, Option<String>> {
        self.bridge.qr_code()
    }

    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String> {
        Box::pin(async move {
            let code = self.bridge.pair_code(phone).await?;
            let (sim, phone, typed) = (self.sim.clone(), phone.to_owned(), code.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                match sim.link_code(&phone, &typed).await {
                    Ok(jid) => tracing::info!(%jid, "the simulated phone typed the pairing code"),
                    Err(e) => tracing::warn!(error = %e, "the simulated phone could not pair"),
                }
            });
            Ok(code)
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        self.bridge.disconnect()
    }

    fn announce_name<'a>(&'a self, name: &'a str) -> LinkFuture<'a, ()> {
        self.bridge.announce_name(name)
    }
}

async fn demo_scan(
    axum::extract::State(link): axum::extract::State<Arc<DemoLink>>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    use axum::http::StatusCode;
    match link.scan().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "ok": true }))),
        // The service's one error shape (http/error.rs).
        Err(LinkError::AlreadyPaired) => (
            StatusCode::CONFLICT,
            axum::Json(json!({ "error": {
                "code": "already_paired",
                "message": "the number is already paired",
                "details": {}
            } })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": {
                "code": "whatsapp_unavailable",
                "message": e.to_string(),
                "details": {}
            } })),
        ),
    }
}

/// (phone, name, Arabic speaker).
const CUSTOMERS: &[(&str, &str, bool)] = &[
    ("201011112201", "منى السيد", true),
    ("201011112202", "أحمد عبد الله", true),
    ("201011112203", "فاطمة حسن", true),
    ("201011112204", "محمود علي", true),
    ("201011112205", "نورا إبراهيم", true),
    ("201011112206", "يوسف مصطفى", true),
    ("201011112207", "Sarah Adel", false),
    ("201011112208", "Omar Khaled", false),
    ("201011112209", "Laila Mansour", false),
    ("201011112210", "Karim Fathy", false),
];

const AR_TEXTS: &[&str] = &[
    "السلام عليكم، عندكم بنادول إكسترا؟",
    "محتاج كونكور ٥ مجم، متوفر؟",
    "ممكن توصيل للبيت النهارده؟",
    "بكام لبن الأطفال نان ١؟",
    "عندي كحة وبرد من يومين، تنصحني بإيه؟",
    "الفرع بيقفل الساعة كام؟",
    "عندكم جهاز قياس ضغط؟",
];

const EN_TEXTS: &[&str] = &[
    "Hi, do you have Panadol Extra in stock?",
    "Can you deliver to Gehan St today?",
    "Is Augmentin 1g available? I have a prescription.",
    "What time does the branch close tonight?",
    "Do you sell blood pressure monitors?",
    "How much is Nan 1 baby formula?",
];

const AR_ANSWERS: &[&str] = &[
    "أهلاً بحضرتك، متوفر والحمد لله. تحب نوصله لحضرتك؟",
    "موجود يا فندم، ممكن تبعتلنا العنوان ونوصله خلال ساعة.",
    "تحت أمرك، هنجهز الطلب حالاً.",
    "ألف سلامة عليك، ممكن شراب للكحة وفيتامين سي. تحب نبعتهم؟",
];

const EN_ANSWERS: &[&str] = &[
    "Hello! Yes, we have it in stock. Shall we deliver it to you?",
    "Sure, please send us your address and we'll deliver within the hour.",
    "Of course, we are preparing your order now.",
    "Thanks for waiting. It's available at this branch today.",
];

/// A 16x16 PNG of one colour: the "photo of a prescription" the customers send.
fn tiny_png(shade: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        if let Ok(mut w) = enc.write_header() {
            let pixels: Vec<u8> = (0..256)
                .flat_map(|i: u32| [shade, (i % 256) as u8, 255 - shade])
                .collect();
            let _ = w.write_image_data(&pixels);
        }
    }
    out
}

/// The simulated customers: they write, read what they get (read ticks), choose a branch from
/// the menu and answer the satisfaction survey.
struct Customers {
    seen: HashMap<&'static str, HashSet<String>>,
}

impl Customers {
    fn add(sim: &SimHandle) -> Result<Customers, whatsapp_sim::SimError> {
        for (phone, name, _) in CUSTOMERS {
            sim.add_customer(phone, name, 1, false)?;
        }
        Ok(Customers {
            seen: HashMap::new(),
        })
    }

    async fn run(
        mut self,
        sim: Arc<SimHandle>,
        bridge: Arc<WhatsappBridge>,
        pause: (Duration, Duration),
        mut stop: watch::Receiver<bool>,
    ) {
        // Nobody writes before the pharmacy is on WhatsApp.
        if !bridge
            .wait_for(Duration::from_secs(3600), |s| {
                s.state == LinkState::Connected
            })
            .await
        {
            return;
        }
        loop {
            let wait = {
                let mut rng = rand::thread_rng();
                let (lo, hi) = (pause.0.as_millis() as u64, pause.1.as_millis() as u64);
                Duration::from_millis(rng.gen_range(lo..=hi.max(lo)))
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            // Customers write to whichever number the pharmacy paired.
            let to = bridge
                .status_now()
                .phone
                .unwrap_or_else(|| PHARMACY_PHONE.to_owned());
            if let Err(e) = self.tick(&sim, &to) {
                tracing::debug!(error = %e, "simulated customer");
            }
        }
    }

    fn tick(&mut self, sim: &SimHandle, to: &str) -> Result<(), whatsapp_sim::SimError> {
        let mut rng = rand::thread_rng();
        let mut answered = false;
        for (phone, _, arabic) in CUSTOMERS {
            let inbox = sim.customer_inbox(phone)?;
            let seen = self.seen.entry(phone).or_default();
            let new: Vec<_> = inbox
                .into_iter()
                .filter(|m| m.group.is_none() && seen.insert(m.id.clone()))
                .collect();
            if new.is_empty() {
                continue;
            }
            let ids: Vec<String> = new.iter().map(|m| m.id.clone()).collect();
            sim.customer_read(phone, &ids)?;
            for m in &new {
                let text = m.text.as_deref().unwrap_or_default();
                let reply = if text.contains("from 1 to 5") {
                    Some(["5", "4", "5", "3"][rng.gen_range(0..4)].to_owned())
                } else if text.contains("\n2. ") {
                    let options = text.lines().filter(|l| l.contains(". ")).count().max(1);
                    let n = rng.gen_range(1..=options);
                    Some(if *arabic {
                        arabic_digits(n)
                    } else {
                        n.to_string()
                    })
                } else {
                    None
                };
                if let Some(r) = reply {
                    sim.customer_send(phone, to, Outgoing::Text(r), None)?;
                    answered = true;
                }
            }
        }
        if answered {
            return Ok(());
        }
        let (phone, _, arabic) = CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())];
        let content = match rng.gen_range(0..10) {
            0 => Outgoing::Media {
                kind: MediaKind::Image,
                data: tiny_png(rng.r#gen()),
                mimetype: "image/png".into(),
                caption: Some(if arabic {
                    "الروشتة دي متوفرة؟".into()
                } else {
                    "Is this prescription available?".into()
                }),
                file_name: None,
            },
            1 => Outgoing::Media {
                kind: MediaKind::VoiceNote,
                data: (0..2048).map(|_| rng.r#gen::<u8>()).collect(),
                mimetype: "audio/ogg; codecs=opus".into(),
                caption: None,
                file_name: None,
            },
            2 => Outgoing::Location {
                lat: 31.04 + rng.gen_range(-0.006..0.006),
                lng: 31.37 + rng.gen_range(-0.012..0.012),
                name: Some(if arabic { "البيت" } else { "Home" }.into()),
            },
            _ => Outgoing::Text(
                (if arabic { AR_TEXTS } else { EN_TEXTS })
                    .choose(&mut rng)
                    .copied()
                    .unwrap_or("hi")
                    .to_owned(),
            ),
        };
        sim.customer_send(phone, to, content, None)?;
        Ok(())
    }
}

fn arabic_digits(n: usize) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap_or(0)).unwrap_or(c))
        .collect()
}

/// The simulated agents: every few seconds, answer open tickets whose last message is the
/// customer's and older than `delay`, unless a person is signed in as the ticket's agent; after
/// two answers, close the ticket (the survey goes out).
async fn agents_loop(state: AppState, delay: Duration, mut stop: watch::Receiver<bool>) {
    let mut answers: HashMap<i64, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = agents_tick(&state, delay, &mut answers).await {
            tracing::debug!(error = %e, "simulated agent");
        }
    }
}

async fn agents_tick(
    state: &AppState,
    delay: Duration,
    answers: &mut HashMap<i64, u32>,
) -> Result<(), AppError> {
    let app = &state.app;
    let agents = {
        let mut c = app.pool().acquire().await?;
        crate::db::agents::list(&mut c).await?
    };
    let users: HashMap<_, _> = agents.iter().map(|a| (a.id, a.user_id)).collect();
    let filter = TicketFilter {
        status: Some(TicketStatus::Open),
        ..TicketFilter::default()
    };
    let now = app.now();
    for t in app.list_tickets(filter, None, None, 100).await? {
        let t = t.ticket;
        let Some(agent) = t.agent_id else { continue };
        let Some(&user) = users.get(&agent) else {
            continue;
        };
        if state.live.connections(agent) > 0 {
            continue; // a person is working this inbox
        }
        let messages = app.ticket_messages(t.id, None, 1000).await?;
        let Some(last) = messages.last() else {
            continue;
        };
        let done = answers.get(&t.id.0).copied().unwrap_or(0);
        if last.direction == crate::domain::message::Direction::Out {
            if done >= 2 && now.millis_since(last.created_at) > delay.as_millis() as i64 {
                app.close_ticket(t.id, Actor::Agent(user), Some("resolved"))
                    .await?;
                answers.remove(&t.id.0);
            }
            continue;
        }
        if now.millis_since(last.created_at) < delay.as_millis() as i64 {
            continue;
        }
        let arabic = messages
            .iter()
            .rev()
            .filter_map(|m| m.body.as_deref())
            .any(|b| b.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
        let text = {
            let mut rng = rand::thread_rng();
            (if arabic { AR_ANSWERS } else { EN_ANSWERS })
                .choose(&mut rng)
                .copied()
                .unwrap_or("OK")
                .to_owned()
        };
        app.send_reply(SendReply {
            ticket_id: t.id,
            user_id: user,
            text: Some(text),
            ..SendReply::default()
        })
        .await?;
        answers.insert(t.id.0, done + 1);
    }
    Ok(())
}
