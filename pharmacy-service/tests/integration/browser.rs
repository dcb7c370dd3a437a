//! Browser tests of the web UI: Debian's chromium driven through chromedriver (WebDriver) with
//! fantoccini, against the service on a loopback port with a fresh database and the demo seed.
//! Customer messages and receipts come in through the app layer, as the WhatsApp bridge hands
//! them over; outgoing replies go through the paced outbox worker to a fake messenger.
//!
//! Screenshots are saved under `target/screenshots/` for a person to look at. A missing
//! chromium, chromedriver, zbarimg or axe-core (installed by `.ci/run` and `test.sh`) fails the
//! tests rather than skipping them.

use super::chromium::{self, find_program};
use super::http_client;
use super::support::TempDir;
use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, Locator};
use pharmacy_service::app::{
    App, DemoCredentials, InboundContent, InboundEvent, InboundMessage, InboundOutcome,
    ReceiptStatus, SeedOptions, SendReply, Sender, ServiceConfig, SystemClock, TransferTarget,
};
use pharmacy_service::db;
use pharmacy_service::domain::ids::{AgentId, MessageId, TicketId};
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::domain::ticket::Actor;
use pharmacy_service::http::{FakeWhatsapp, WhatsappLink};
use pharmacy_service::startup::{Application, Config};
use pharmacy_service::whatsapp::{FakeMessenger, OutboxWorker};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One browser at a time: two chromiums on two cores only make both slow.
pub(crate) static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(30);

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn axe_source() -> String {
    let dir = std::env::var("WA_NODE_MODULES").unwrap_or_else(|_| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/node/node_modules");
        root.to_string_lossy().into_owned()
    });
    let path = PathBuf::from(dir).join("axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): run ./test.sh, which installs it from npm",
            path.display()
        )
    })
}

/// The service on a loopback port: fresh database, demo seed, fake WhatsApp link, outbox
/// worker sending to a fake messenger.
pub(crate) struct Service {
    pub(crate) base: String,
    pub(crate) app: App,
    wa: Arc<FakeWhatsapp>,
    pub(crate) creds: DemoCredentials,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: TempDir,
}

impl Service {
    pub(crate) async fn start() -> Service {
        let dir = TempDir::new();
        let cfg = ServiceConfig {
            pacing: PacingPolicy::fast(),
            media_dir: dir.0.join("media"),
            ..ServiceConfig::default()
        };
        let app = App::open(&dir.0.join("pharmacy.db"), Arc::new(SystemClock), cfg)
            .await
            .unwrap();
        let creds = app.seed_demo(&SeedOptions::default()).await.unwrap();
        let wa = Arc::new(FakeWhatsapp::default());
        let application = Application::build(Config::new(app.clone(), wa.clone()))
            .await
            .unwrap();
        let base = application.url();
        let (stop, rx) = tokio::sync::watch::channel(false);
        let mut rx2 = rx.clone();
        tokio::spawn(application.run_until(async move {
            let _ = rx2.wait_for(|s| *s).await;
        }));
        let messenger = Arc::new(FakeMessenger::new());
        tokio::spawn(OutboxWorker::new(app.clone(), messenger, 11).run(rx));
        Service {
            base,
            app,
            wa,
            creds,
            stop,
            _dir: dir,
        }
    }

    pub(crate) async fn agent_id(&self, username: &str) -> AgentId {
        let mut c = self.app.pool().acquire().await.unwrap();
        db::agents::list(&mut c)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.username == username)
            .expect("seeded agent")
            .id
    }

    /// A customer's text, as the bridge hands it over.
    async fn customer_says(&self, wa_id: &str, text: &str) -> (TicketId, MessageId) {
        self.customer_sends(
            "201001234567",
            wa_id,
            InboundContent::Text { text: text.into() },
            None,
        )
        .await
    }

    /// Any message from a customer.
    pub(crate) async fn customer_sends(
        &self,
        phone: &str,
        wa_id: &str,
        content: InboundContent,
        quoted_wa_id: Option<&str>,
    ) -> (TicketId, MessageId) {
        match self
            .customer_event(phone, wa_id, content, quoted_wa_id)
            .await
        {
            InboundOutcome::Stored {
                ticket_id,
                message_id,
                ..
            } => (ticket_id, message_id),
            other => panic!("expected Stored, got {other:?}"),
        }
    }

    pub(crate) async fn customer_event(
        &self,
        phone: &str,
        wa_id: &str,
        content: InboundContent,
        quoted_wa_id: Option<&str>,
    ) -> InboundOutcome {
        let ev = InboundEvent::Message(InboundMessage {
            wa_id: wa_id.into(),
            from: Sender {
                phone: Some(phone.into()),
                lid: None,
                push_name: Some(if phone == "201001234567" {
                    "منى أحمد".into()
                } else {
                    format!("Customer {}", &phone[phone.len() - 3..])
                }),
            },
            at: self.app.now(),
            content,
            quoted_wa_id: quoted_wa_id.map(Into::into),
        });
        self.app.handle_inbound(ev).await.unwrap()
    }

    /// A customer's photo, voice note, document, location and contact card.
    async fn customer_sends_media(&self) {
        let media = [
            ("image", "image/png", tiny_png(), None, Some("الروشتة")),
            ("audio", "audio/wav", tiny_wav(), None, None),
            (
                "document",
                "application/pdf",
                b"%PDF-1.4\n%%EOF\n".to_vec(),
                Some("prescription.pdf"),
                None,
            ),
        ];
        for (i, (kind, mime, bytes, name, caption)) in media.into_iter().enumerate() {
            let sha256 = self.app.store_media(&bytes, mime).await.unwrap();
            self.customer_sends(
                "201001234567",
                &format!("WA-MEDIA-{i}"),
                InboundContent::Media {
                    media_kind: pharmacy_service::domain::message::MessageKind::parse(kind)
                        .unwrap(),
                    sha256,
                    mime: mime.into(),
                    file_name: name.map(Into::into),
                    caption: caption.map(Into::into),
                },
                None,
            )
            .await;
        }
        self.customer_sends(
            "201001234567",
            "WA-LOC",
            InboundContent::Location {
                latitude: 31.0425,
                longitude: 31.379,
                name: Some("البيت".into()),
            },
            None,
        )
        .await;
        self.customer_sends(
            "201001234567",
            "WA-VCARD",
            InboundContent::Contact {
                name: "د. سامي".into(),
                vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:د. سامي\nTEL:+201005550000\nEND:VCARD".into(),
            },
            None,
        )
        .await;
    }

    pub(crate) async fn user_id(&self, username: &str) -> pharmacy_service::domain::ids::UserId {
        let mut c = self.app.pool().acquire().await.unwrap();
        db::users::by_username(&mut c, username)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// A morning's traffic for the dashboard: conversations answered, closed and rated, and
    /// one alert for the admin.
    async fn traffic(&self) {
        let mut c = self.app.pool().acquire().await.unwrap();
        db::activity::raise(
            &mut c,
            "delay",
            "Ticket #3 waited 12 minutes for a first reply",
            None,
            self.app.now(),
        )
        .await
        .unwrap();
        drop(c);
        let admin = self.user_id(&self.creds.admin.0).await;
        for i in 0..6usize {
            let (user, _, _) = self.creds.agents[i % 3].clone();
            let agent = self.agent_id(&user).await;
            let agent_user = self.user_id(&user).await;
            let phone = format!("20100200{i:04}");
            let (ticket, _) = self
                .customer_sends(
                    &phone,
                    &format!("WA-T-{i}"),
                    InboundContent::Text {
                        text: "محتاج دواء ضغط".into(),
                    },
                    None,
                )
                .await;
            self.app
                .transfer_ticket(ticket, admin, TransferTarget::Agent(agent), "dashboard")
                .await
                .unwrap();
            self.app
                .send_reply(SendReply {
                    ticket_id: ticket,
                    user_id: agent_user,
                    text: Some("متوفر، تحب نوصله؟".into()),
                    template_id: None,
                    media: None,
                    reply_to: None,
                })
                .await
                .unwrap();
            if i % 2 == 0 {
                self.app
                    .close_ticket(ticket, Actor::Agent(agent_user), Some("resolved"))
                    .await
                    .unwrap();
                self.customer_event(
                    &phone,
                    &format!("WA-R-{i}"),
                    InboundContent::Text {
                        text: ["5", "4", "5"][i / 2].into(),
                    },
                    None,
                )
                .await;
            }
        }
    }

    async fn receipt(&self, wa_id: &str, status: ReceiptStatus) {
        self.app
            .handle_inbound(InboundEvent::Receipt {
                from: Sender {
                    phone: Some("201001234567".into()),
                    ..Default::default()
                },
                wa_ids: vec![wa_id.into()],
                status,
                at: self.app.now(),
            })
            .await
            .unwrap();
    }

    async fn message_row(&self, id: i64) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, wa_id FROM messages WHERE id = ?")
            .bind(id)
            .fetch_one(self.app.pool())
            .await
            .unwrap()
    }
}

/// A 24x24 two-colour PNG.
fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 24, 24);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let px: Vec<u8> = (0..24 * 24)
            .flat_map(|i| {
                if (i / 24 + i % 24) % 2 == 0 {
                    [11, 107, 79]
                } else {
                    [255, 255, 255]
                }
            })
            .collect();
        w.write_image_data(&px).unwrap();
    }
    out
}

/// A tenth of a second of silence as 8 kHz 8-bit WAV.
fn tiny_wav() -> Vec<u8> {
    let n: u32 = 800;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + n).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&8u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&n.to_le_bytes());
    v.extend(std::iter::repeat_n(128u8, n as usize));
    v
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// chromedriver on a free loopback port, killed on drop, and a headless chromium session.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    profile: TempDir,
    shots: PathBuf,
    name: &'static str,
    n: u32,
}

impl Browser {
    pub(crate) async fn start(name: &'static str, lang: &str) -> Browser {
        let profile = TempDir::new();
        let shots = screenshots_dir();
        for e in std::fs::read_dir(&shots).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let (client, driver) = chromium::session(&profile.0, lang).await;
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(0)),
            ))
            .await
            .unwrap();
        Browser {
            client,
            driver,
            profile,
            shots,
            name,
            n: 0,
        }
    }

    /// Saves a screenshot `target/screenshots/<test>-<nn>-<what>.png`.
    pub(crate) async fn shot(&mut self, what: &str) -> PathBuf {
        self.n += 1;
        let png = self.client.screenshot().await.unwrap();
        let path = self
            .shots
            .join(format!("{}-{:02}-{what}.png", self.name, self.n));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `expr` (a JS expression) is truthy; returns its value.
    pub(crate) async fn until(&self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let script = format!("try {{ return ({expr}) || null; }} catch (e) {{ return null; }}");
        loop {
            let v = self.js(&script).await;
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            if Instant::now() > deadline {
                if let Ok(png) = self.client.screenshot().await {
                    let _ =
                        std::fs::write(self.shots.join(format!("{}-FAILED.png", self.name)), png);
                }
                let html = self
                    .js("return document.body.innerText.slice(0, 3000)")
                    .await;
                panic!("timed out waiting for {what} ({expr}); page text:\n{html}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn el(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Clicks, retrying while the element is being laid out or redrawn (not interactable yet,
    /// or replaced by a live update between finding and clicking it).
    pub(crate) async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.el(css).await.click().await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
    }

    /// Types into a field, retrying while it is not interactable yet.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.el(css).await.send_keys(text).await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot type into {css}: {e}"),
            }
        }
    }

    /// Opens the app at `base` under the API contract check: `ui/js/contract.js` records every
    /// read of a property that an answer's OpenAPI schema does not have, and [`Browser::close`]
    /// fails the test on any.
    pub(crate) async fn open(&mut self, base: &str) {
        self.client.goto(base).await.unwrap();
        self.js("localStorage.setItem('contractCheck', '1'); localStorage.removeItem('contractViolations'); return 1")
            .await;
        self.client.refresh().await.unwrap();
    }

    /// The reads of undocumented answer properties recorded so far, as
    /// `"GET /api/tickets/{id} (get_ticket): ticket.tags"`.
    pub(crate) async fn contract_violations(&self) -> Vec<String> {
        let v = self
            .js("return JSON.parse(localStorage.getItem('contractViolations') || '[]')")
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    pub(crate) async fn login(&mut self, base: &str, user: &str, password: &str) {
        self.open(base).await;
        self.until(
            "the login form",
            "!document.getElementById('view-login').hidden",
        )
        .await;
        self.type_into("#login-username", user).await;
        self.type_into("#login-password", password).await;
        self.click("#login-submit").await;
        self.until("the app", "!document.getElementById('view-app').hidden")
            .await;
    }

    /// Runs axe-core on the page; fails on any violation (the list names rule and nodes).
    pub(crate) async fn axe(&mut self, what: &str) {
        let loaded = self.js("return typeof window.axe").await;
        if loaded != "object" {
            let src = axe_source();
            self.client.execute(&src, vec![]).await.unwrap();
        }
        let r = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary) }))))
                   .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .unwrap();
        let list = r.as_array().cloned().unwrap_or_default();
        assert!(
            list.is_empty(),
            "axe-core found accessibility violations on {what}:\n{}",
            serde_json::to_string_pretty(&list).unwrap()
        );
    }

    /// Ends the WebDriver session (the rest is cleaned up on drop), after checking that the
    /// page read only documented properties of the API's answers.
    pub(crate) async fn close(self) {
        let violations = self.contract_violations().await;
        let _ = self.client.clone().close().await;
        assert!(
            violations.is_empty(),
            "the UI read properties that the OpenAPI schemas do not document:\n{}",
            violations.join("\n")
        );
    }
}

impl Drop for Browser {
    /// Also runs when a test fails half-way: stops chromedriver and any chromium still using
    /// this browser's own profile directory (found by pid in /proc, nothing else is touched).
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let marker = format!("--user-data-dir={}", self.profile.0.display());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(cmd) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmd)
                .split('\0')
                .any(|arg| arg == marker)
            {
                let _ = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_answers_a_customer_live_and_closes_the_ticket() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (user, pass, _) = svc.creds.agents[0].clone();
    let agent = svc.agent_id(&user).await;
    let mut b = Browser::start("agent", "ar").await;

    // Arabic by default: the whole page is right-to-left.
    b.open(&svc.base).await;
    b.until(
        "the login form",
        "!document.getElementById('view-login').hidden",
    )
    .await;
    assert_eq!(b.js("return document.documentElement.dir").await, "rtl");
    assert_eq!(
        b.js("return getComputedStyle(document.body).direction")
            .await,
        "rtl"
    );
    b.shot("login-ar").await;
    b.axe("the login page").await;

    // A wrong password is refused with a message, then the right one logs in.
    b.type_into("#login-username", &user).await;
    b.type_into("#login-password", "wrong-password").await;
    b.click("#login-submit").await;
    b.until(
        "the refusal",
        "document.getElementById('login-error').textContent.length > 0",
    )
    .await;
    b.el("#login-password").await.clear().await.unwrap();
    b.type_into("#login-password", &pass).await;
    b.click("#login-submit").await;
    b.until("the inbox", "!document.getElementById('view-app').hidden")
        .await;
    b.until(
        "the live connection",
        "document.getElementById('conn-state').dataset.state === 'live'",
    )
    .await;

    // A customer writes; the ticket is given to this agent; it shows up without a reload.
    let (ticket, _) = svc
        .customer_says("WA-IN-1", "السلام عليكم، هل يتوفر *Panadol Extra* 500mg؟")
        .await;
    let admin = {
        let mut c = svc.app.pool().acquire().await.unwrap();
        db::users::by_username(&mut c, &svc.creds.admin.0)
            .await
            .unwrap()
            .unwrap()
            .id
    };
    svc.app
        .transfer_ticket(ticket, admin, TransferTarget::Agent(agent), "اختبار")
        .await
        .unwrap();
    let item = format!("#ticket-list [data-ticket='{ticket}']");
    b.until(
        "the ticket in my list",
        &format!("document.querySelector(\"{item}\")"),
    )
    .await;
    b.shot("list-live").await;
    b.click(&item).await;
    b.until(
        "the customer's bubble",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent.includes('Panadol Extra'))",
    )
    .await;
    // WhatsApp formatting: *bold* became <strong>; bubbles carry dir=auto.
    assert_eq!(
        b.js("return document.querySelector('.msg.in .body strong')?.textContent")
            .await,
        "Panadol Extra"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('.msg .body:not([dir=auto])').length")
            .await,
        0
    );
    // The chat list sits on the right in Arabic.
    assert_eq!(
        b.js("return document.querySelector('.chatlist').getBoundingClientRect().left > document.querySelector('.chat').getBoundingClientRect().left").await,
        true
    );

    // A second message arrives while the chat is open: it appears without a reload.
    svc.customer_says("WA-IN-2", "وكمان فيتامين سي لو سمحت")
        .await;
    b.until(
        "the live bubble",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent.includes('فيتامين'))",
    )
    .await;
    b.shot("chat-open").await;
    b.axe("the inbox with an open chat").await;

    // Someone else starts replying in the same ticket: "X is replying".
    let mut other =
        typing_elsewhere(&svc.base, &svc.creds.admin.0, &svc.creds.admin.1, ticket).await;
    b.until(
        "the typing notice",
        "document.getElementById('chat-typing').textContent.includes('Admin') && document.getElementById('chat-typing').textContent.includes('يرد')",
    )
    .await;
    b.shot("typing").await;
    // They stop typing but keep the ticket open: "X is viewing".
    {
        use futures_util::SinkExt;
        let m = json!({ "type": "typing", "ticket_id": ticket, "typing": false }).to_string();
        other
            .send(tokio_tungstenite::tungstenite::Message::Text(m.into()))
            .await
            .unwrap();
    }
    b.until(
        "the viewing notice",
        "document.getElementById('chat-typing').textContent.includes('Admin') && document.getElementById('chat-typing').textContent.includes('يطالع')",
    )
    .await;
    // They close the connection: the notice goes (leaving ends viewing and replying).
    drop(other);
    b.until(
        "the notice cleared",
        "!document.getElementById('chat-typing').textContent.includes('Admin')",
    )
    .await;

    // Every kind of bubble: photo (with caption), voice note with speed control, document,
    // location linking to a map, contact card.
    svc.customer_sends_media().await;
    b.until(
        "the media bubbles",
        "document.querySelector('.msg img.thumb')?.naturalWidth > 0 && document.querySelector('.msg .audio audio') && document.querySelector('.msg a.doc') && document.querySelector('.msg a.loc') && document.querySelector('.msg .contact')",
    )
    .await;
    assert!(
        b.js("return document.querySelector('.msg a.loc').href")
            .await
            .as_str()
            .unwrap()
            .contains("31.0425")
    );
    assert_eq!(
        b.js("return document.querySelector('.msg .contact .contact-name').textContent.trim()")
            .await,
        "د. سامي"
    );
    b.shot("kinds").await;

    // The customer edits one message and deletes another: the bubbles say so.
    svc.app
        .handle_inbound(InboundEvent::Edited {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "WA-IN-2".into(),
            text: "وكمان فيتامين سي ١٠٠٠ لو سمحت".into(),
            at: svc.app.now(),
        })
        .await
        .unwrap();
    svc.app
        .handle_inbound(InboundEvent::Revoked {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            wa_id: "WA-MEDIA-2".into(),
            at: svc.app.now(),
        })
        .await
        .unwrap();
    b.until(
        "the edited marker",
        "[...document.querySelectorAll('.msg.in')].some(e => e.textContent.includes('١٠٠٠') && e.querySelector('.meta').textContent.includes('معدّلة'))",
    )
    .await;
    b.until(
        "the deleted marker",
        "document.querySelector(\".msg[data-wa='WA-MEDIA-2'] .deleted\") && !document.querySelector(\".msg[data-wa='WA-MEDIA-2'] a.doc\")",
    )
    .await;
    b.click(".msg img.thumb").await;
    b.until(
        "the lightbox",
        "document.getElementById('dlg-lightbox').open",
    )
    .await;
    b.shot("lightbox").await;
    b.click("#dlg-lightbox [data-close]").await;

    // The customer panel.
    b.click("#btn-panel").await;
    b.until(
        "the customer panel",
        "document.getElementById('cust-panel').textContent.includes('201001234567')",
    )
    .await;
    b.shot("customer-panel").await;
    b.axe("the customer panel").await;
    b.click("#btn-panel").await;

    // Templates through "/": the greeting with the customer's name filled in.
    b.type_into("#composer-text", "/").await;
    b.until(
        "the template menu",
        "!document.getElementById('template-menu').hidden && document.querySelectorAll('#template-menu [role=option]').length > 0",
    )
    .await;
    b.shot("templates").await;
    b.el("#composer-text")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let filled = b
        .until(
            "the filled template",
            "document.getElementById('composer-text').value.length > 1 && document.getElementById('composer-text').value",
        )
        .await;
    assert!(!filled.as_str().unwrap().starts_with('/'), "{filled}");
    b.js("const t = document.getElementById('composer-text'); t.value = ''; t.dispatchEvent(new Event('input')); return 1")
        .await;

    // "?" shows the keyboard shortcuts.
    b.js("document.getElementById('messages').focus(); document.dispatchEvent(new KeyboardEvent('keydown', { key: '?', bubbles: true })); return 1")
        .await;
    b.until(
        "the shortcuts",
        "document.getElementById('dlg-shortcuts').open",
    )
    .await;
    b.shot("shortcuts").await;
    b.click("#dlg-shortcuts [data-close]").await;

    // A photo from the counter PC: attached, previewed, sent as an image bubble.
    let photo = b.profile.0.join("box.png");
    std::fs::write(&photo, tiny_png()).unwrap();
    b.el("#file-input")
        .await
        .send_keys(&photo.to_string_lossy())
        .await
        .unwrap();
    b.until(
        "the attachment preview",
        "document.querySelector('#attach-preview img')?.naturalWidth > 0",
    )
    .await;
    b.shot("attachment").await;
    b.click("#btn-send").await;
    b.until(
        "the sent photo",
        "document.querySelector('.msg.out img.thumb')?.naturalWidth > 0 && document.getElementById('attach-preview').hidden",
    )
    .await;

    // The agent replies with Enter; the bubble gets its tick, then delivered, then read.
    b.type_into(
        "#composer-text",
        "أيوه متوفر، ١٢٠ جنيه. Panadol Extra 500mg",
    )
    .await;
    b.el("#composer-text")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let out_id = b
        .until(
            "my reply's bubble",
            "[...document.querySelectorAll('.msg.out')].find(e => e.textContent.includes('متوفر'))?.dataset.id",
        )
        .await;
    let out_id: i64 = out_id.as_str().unwrap().parse().unwrap();
    assert_eq!(
        b.js("return document.getElementById('composer-text').value")
            .await,
        "",
        "the composer is cleared after sending"
    );
    let tick =
        format!("document.querySelector(\".msg[data-id='{out_id}'] .tick\")?.dataset.status");
    b.until("the sent tick", &format!("{tick} === 'sent'"))
        .await;
    let deadline = Instant::now() + WAIT;
    let wa_id = loop {
        let (status, wa) = svc.message_row(out_id).await;
        if let Some(w) = wa.filter(|_| status == "sent") {
            break w;
        }
        assert!(Instant::now() < deadline, "the reply never left the outbox");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    svc.receipt(&wa_id, ReceiptStatus::Delivered).await;
    b.until("the delivered ticks", &format!("{tick} === 'delivered'"))
        .await;
    b.shot("delivered").await;
    svc.receipt(&wa_id, ReceiptStatus::Read).await;
    b.until("the blue ticks", &format!("{tick} === 'read'"))
        .await;
    let color = b
        .js(&format!(
            "return getComputedStyle(document.querySelector(\".msg[data-id='{out_id}'] .tick\")).color"
        ))
        .await;
    assert_eq!(color, "rgb(10, 102, 194)", "read ticks are blue");

    // The customer reacts to the reply and answers it quoting it.
    svc.app
        .handle_inbound(InboundEvent::Reaction {
            from: Sender {
                phone: Some("201001234567".into()),
                ..Default::default()
            },
            target_wa_id: wa_id.clone(),
            emoji: "👍".into(),
            at: svc.app.now(),
        })
        .await
        .unwrap();
    svc.customer_sends(
        "201001234567",
        "WA-IN-3",
        InboundContent::Text {
            text: "تمام، هعدي عليكم".into(),
        },
        Some(&wa_id),
    )
    .await;
    b.until(
        "the reaction",
        &format!(
            "document.querySelector(\".msg[data-id='{out_id}'] .reaction\")?.textContent === '👍'"
        ),
    )
    .await;
    b.until(
        "the quoted reply",
        "[...document.querySelectorAll('.msg.in .quoted')].some(q => q.textContent.includes('متوفر'))",
    )
    .await;
    b.shot("read").await;

    // Reply to a particular message: the answer quotes it.
    b.js("[...document.querySelectorAll('.msg.in')].find(e => e.textContent.includes('هعدي عليكم')).querySelector('[data-reply]').click(); return 1")
        .await;
    b.until(
        "the reply preview",
        "!document.getElementById('reply-preview').hidden && document.getElementById('reply-text').textContent.includes('هعدي')",
    )
    .await;
    b.type_into("#composer-text", "في انتظارك").await;
    b.el("#composer-text")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.until(
        "the quoting reply",
        "[...document.querySelectorAll('.msg.out')].some(e => e.textContent.includes('في انتظارك') && e.querySelector('.quoted')?.textContent.includes('هعدي'))",
    )
    .await;
    b.shot("replied-to").await;

    // The transfer dialog lists the other agents (cancelled here).
    b.click("#btn-transfer").await;
    b.until(
        "the agents to transfer to",
        "document.getElementById('dlg-transfer').open && document.querySelectorAll('#transfer-target option').length >= 10",
    )
    .await;
    b.shot("transfer-dialog").await;
    b.axe("the transfer dialog").await;
    b.click("#dlg-transfer [data-close]").await;

    // Close the ticket.
    b.click("#btn-close").await;
    b.until(
        "the close dialog",
        "document.getElementById('dlg-close').open",
    )
    .await;
    b.shot("close-dialog").await;
    b.click("#close-confirm").await;
    b.until(
        "the closed bar",
        "!document.getElementById('closed-bar').hidden",
    )
    .await;
    let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = ?")
        .bind(ticket)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
    assert_eq!(status, "closed");
    b.shot("closed").await;

    // Another customer's message on a ticket that is not open: the unread count shows in the
    // list and in the tab title.
    let (t2, _) = svc
        .customer_sends(
            "201009998877",
            "WA-OTHER-1",
            InboundContent::Text {
                text: "مساء الخير".into(),
            },
            None,
        )
        .await;
    svc.app
        .transfer_ticket(t2, admin, TransferTarget::Agent(agent), "اختبار")
        .await
        .unwrap();
    b.until(
        "the second ticket",
        &format!("document.querySelector(\"#ticket-list [data-ticket='{t2}']\")"),
    )
    .await;
    svc.customer_sends(
        "201009998877",
        "WA-OTHER-2",
        InboundContent::Text {
            text: "محتاج حاجة للكحة".into(),
        },
        None,
    )
    .await;
    b.until(
        "the unread badge",
        &format!("document.querySelector(\"#ticket-list [data-ticket='{t2}'] .unread\")"),
    )
    .await;
    b.until("the title count", "/^\\(\\d+\\) /.test(document.title) && document.title.startsWith('(' + document.querySelector('#ticket-list .unread [aria-hidden]').textContent + ') ')")
        .await;
    b.shot("unread").await;

    // A long conversation opens at its newest messages; older ones load when scrolling up.
    for i in 0..60 {
        svc.customer_sends(
            "201009998877",
            &format!("WA-LONG-{i}"),
            InboundContent::Text {
                text: format!("رسالة رقم {i}"),
            },
            None,
        )
        .await;
    }
    b.click(&format!("#ticket-list [data-ticket='{t2}']")).await;
    b.until(
        "the newest message",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent === 'رسالة رقم 59')",
    )
    .await;
    let first = b
        .js("return document.querySelectorAll('.msg').length")
        .await;
    assert!(first.as_u64().unwrap() <= 40, "drawn at first: {first}");
    b.js("document.getElementById('messages').scrollTop = 0; return 1")
        .await;
    b.until(
        "older messages",
        &format!("document.querySelectorAll('.msg').length > {first}"),
    )
    .await;
    b.until(
        "the oldest message",
        "(document.getElementById('messages').scrollTop = 0, [...document.querySelectorAll('.msg.in .body')].some(e => e.textContent === 'مساء الخير'))",
    )
    .await;
    b.shot("older-loaded").await;

    // Alt+2 and Alt+1 switch between the branch queue and my conversations.
    b.type_into("#search", "\u{E00A}2\u{E000}").await;
    b.until(
        "the queue tab",
        "document.getElementById('tab-queue').getAttribute('aria-selected') === 'true'",
    )
    .await;
    b.type_into("#search", "\u{E00A}1\u{E000}").await;
    b.until(
        "my tab",
        "document.getElementById('tab-mine').getAttribute('aria-selected') === 'true'",
    )
    .await;

    // English turns the layout left-to-right.
    b.click(".topbar .lang-toggle").await;
    b.until("ltr", "document.documentElement.dir === 'ltr'")
        .await;
    assert_eq!(
        b.js("return document.querySelector('.chatlist').getBoundingClientRect().left < document.querySelector('.chat').getBoundingClientRect().left").await,
        true
    );
    b.shot("english").await;

    // A phone-sized screen shows one pane at a time.
    b.client.set_window_size(390, 844).await.unwrap();
    b.until(
        "the phone layout",
        "getComputedStyle(document.querySelector('.chatlist')).display === 'none'",
    )
    .await;
    b.shot("phone-chat").await;
    b.click("#chat-back").await;
    b.until(
        "the list pane",
        "getComputedStyle(document.querySelector('.chatlist')).display !== 'none'",
    )
    .await;
    b.shot("phone-list").await;

    // Logging out on a shared PC leaves nothing behind: back to the login form.
    b.click("#logout").await;
    b.until(
        "the login form again",
        "!document.getElementById('view-login').hidden && document.getElementById('view-app').hidden && sessionStorage.length === 0",
    )
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pairs_whatsapp_by_qr_and_reads_the_dashboard() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let zbarimg = find_program("zbarimg");
    let mut b = Browser::start("admin", "ar").await;
    svc.traffic().await;
    let (user, pass) = svc.creds.admin.clone();
    b.login(&svc.base, &user, &pass).await;

    // The pairing page shows the QR the link produced; it decodes to the same string.
    b.client
        .goto(&format!("{}/#/whatsapp", svc.base))
        .await
        .unwrap();
    let expected = svc
        .wa
        .qr_code()
        .await
        .unwrap()
        .expect("a QR while unpaired");
    let shown = b
        .until(
            "the QR image",
            "document.getElementById('wa-qr-img')?.complete && document.getElementById('wa-qr-img').naturalWidth > 0 && document.getElementById('wa-qr-img').dataset.qr",
        )
        .await;
    assert_eq!(shown, Value::String(expected.clone()));
    b.shot("whatsapp-qr").await;
    let png = b.el("#wa-qr-img").await.screenshot().await.unwrap();
    let qr_path = b.shots.join("admin-qr-element.png");
    std::fs::write(&qr_path, png).unwrap();
    let out = Command::new(zbarimg)
        .args(["--raw", "-q"])
        .arg(&qr_path)
        .output()
        .unwrap();
    let decoded = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(decoded, expected, "zbarimg decodes the QR on screen");
    b.axe("the pairing page").await;

    // The phone-code alternative.
    b.type_into("#wa-phone", "0100 123 4567").await;
    b.click("#wa-code-form button[type=submit]").await;
    b.until(
        "the pairing code",
        "document.getElementById('wa-code').textContent === 'HGFE-DCBA'",
    )
    .await;
    b.shot("whatsapp-phone-code").await;

    // Pairing completes: the page turns to connected by itself.
    svc.wa.connect("201001234567");
    b.until(
        "connected",
        "document.getElementById('wa-state')?.dataset.state === 'connected'",
    )
    .await;
    b.shot("whatsapp-connected").await;

    // Unlinking asks first, then the page offers a fresh QR.
    b.click("#wa-unlink").await;
    b.client.accept_alert().await.unwrap();
    b.until(
        "logged out with a new QR",
        "document.getElementById('wa-state')?.dataset.state === 'logged_out' && document.getElementById('wa-qr-img')",
    )
    .await;
    b.shot("whatsapp-unlinked").await;

    // The dashboard: KPI cards with formulas, charts drawn as SVG.
    b.client
        .goto(&format!("{}/#/dashboard", svc.base))
        .await
        .unwrap();
    b.until(
        "the charts",
        "document.querySelectorAll('#page-dashboard .chart svg').length >= 5",
    )
    .await;
    assert!(
        b.js("return document.querySelectorAll('#page-dashboard .kpi .formula').length")
            .await
            .as_u64()
            .unwrap()
            >= 6
    );
    b.shot("dashboard").await;
    // The delay alert is acknowledged, and one reply held by the mass-send guard is let go,
    // from the dashboard.
    b.js("[...document.querySelectorAll('#page-dashboard .attention li')].find(li => li.textContent.includes('Ticket #3')).querySelector('button').click(); return 1")
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM admin_alerts WHERE kind = 'delay' AND acknowledged_at IS NULL",
        )
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the alert was not acknowledged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = |svc: &Service| {
        let pool = svc.app.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE state = 'held'")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let before = held(&svc).await;
    if before > 0 {
        b.until(
            "the held replies",
            "document.querySelector('#page-dashboard .attention button.btn:not(.link):not(.danger)')",
        )
        .await;
        b.click("#page-dashboard .attention button.btn:not(.link):not(.danger)")
            .await;
        let deadline = Instant::now() + WAIT;
        while held(&svc).await >= before {
            assert!(Instant::now() < deadline, "the held reply was not released");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    b.until(
        "the charts again",
        "document.querySelectorAll('#page-dashboard .chart svg').length >= 5",
    )
    .await;
    b.client.set_window_size(1366, 2400).await.unwrap();
    b.shot("dashboard-full").await;
    b.client.set_window_size(1366, 860).await.unwrap();
    b.axe("the dashboard").await;
    for page in ["agents", "templates", "settings", "activity"] {
        b.client
            .goto(&format!("{}/#/{page}", svc.base))
            .await
            .unwrap();
        b.until(
            page,
            &format!("document.querySelector('#page-{page} table, #page-{page} form')"),
        )
        .await;
        b.shot(page).await;
        b.axe(page).await;
    }

    // Settings: idle tickets close after two hours instead of three days.
    b.js("document.querySelector('#page-settings form')?.setAttribute('data-old', '1'); return 1")
        .await;
    b.client
        .goto(&format!("{}/#/settings", svc.base))
        .await
        .unwrap();
    b.until(
        "a fresh settings form",
        "document.querySelector('#page-settings form:not([data-old]) #set-auto_close_after_secs')",
    )
    .await;
    // The time zone is startup configuration: shown read-only and never sent (PATCH refuses
    // it, so a form that sent it could save nothing).
    assert_eq!(
        b.js("const z = document.getElementById('set-time_zone'); return z.readOnly && !z.dataset.key")
            .await,
        true
    );
    // The WhatsApp name takes what WhatsApp takes (25 characters) and runs in its own
    // direction (an Arabic name must not be forced left-to-right).
    assert_eq!(
        b.js("const n = document.getElementById('set-whatsapp_name'); return n.maxLength === 25 && n.dir === 'auto'")
            .await,
        true
    );
    b.js("document.getElementById('set-auto_close_after_secs').value = '120'; document.getElementById('set-branch_menu_enabled').checked = false; document.getElementById('set-time_zone').value = 'Europe/London'; return 1")
        .await;
    b.click("#page-settings button[type=submit]").await;
    b.until(
        "the saved notice",
        "document.getElementById('toasts').textContent.includes('تم الحفظ')",
    )
    .await;
    b.client.refresh().await.unwrap();
    b.until(
        "the saved setting",
        "document.getElementById('set-auto_close_after_secs')?.value === '120'",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('set-branch_menu_enabled').checked")
            .await,
        false
    );
    assert!(!svc.app.config().branch_menu_enabled);
    b.shot("settings-saved").await;

    // The activity log filtered by the server: the settings change, by action prefix.
    b.client
        .goto(&format!("{}/#/activity", svc.base))
        .await
        .unwrap();
    b.until(
        "the activity filters",
        "document.getElementById('act-from')",
    )
    .await;
    b.type_into("#act-action", "settings.").await;
    b.click("#page-activity form button[type=submit]").await;
    b.until(
        "only settings entries",
        "(() => { const r = [...document.querySelectorAll('#page-activity tbody tr td:nth-child(3)')].map(td => td.textContent); return r.length > 0 && r.every(a => a.startsWith('settings.')); })()",
    )
    .await;
    b.shot("activity-filtered").await;

    // An admin gives the first agent a Monday shift.
    b.client
        .goto(&format!("{}/#/agents", svc.base))
        .await
        .unwrap();
    b.until(
        "the agents table",
        "document.querySelector('#page-agents details.shifts')",
    )
    .await;
    b.js("document.querySelector('#page-agents details.shifts').open = true; return 1")
        .await;
    b.type_into("#page-agents details.shifts input", "09:00-17:00")
        .await;
    b.js("document.querySelector('#page-agents tbody tr td:last-child button').click(); return 1")
        .await;
    let first_agent = b
        .js("return document.querySelector('#page-agents tbody tr td').textContent")
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = svc.app.pool().acquire().await.unwrap();
        let a = db::agents::list(&mut c)
            .await
            .unwrap()
            .into_iter()
            .find(|a| Value::String(a.name.clone()) == first_agent)
            .unwrap();
        if a.shifts.days[0].len() == 1 {
            assert_eq!(
                (a.shifts.days[0][0].start, a.shifts.days[0][0].end),
                (540, 1020)
            );
            break;
        }
        assert!(Instant::now() < deadline, "the shift was not saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("agent-shift").await;
    b.close().await;
}

#[tokio::test]
async fn assets_are_versioned_immutable_and_the_page_has_a_strict_csp() {
    let svc = Service::start().await;
    let page = http_client::get(&svc.base, "/").await;
    assert_eq!(page.status, 200, "{page:?}");
    let csp = page
        .header("content-security-policy")
        .expect("a CSP header");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    let v = pharmacy_service::http::ui::version();
    let css = format!("/static/{v}/css/app.css");
    assert!(page.text().contains(&css));
    let asset = http_client::get(&svc.base, &css).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        asset.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    let missing = http_client::get(&svc.base, &format!("/static/{v}/js/nope.js")).await;
    assert_eq!(missing.status, 404);
}

/// Another user (here the admin) logs in, opens a live connection, opens the ticket and starts
/// typing in it; the socket is returned so it stays open.
async fn typing_elsewhere(
    base: &str,
    user: &str,
    pass: &str,
    ticket: TicketId,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let login = json!({ "username": user, "password": pass }).to_string();
    let r = http_client::request(
        base,
        "POST",
        "/auth/login",
        &[("Content-Type", "application/json")],
        login.into_bytes(),
    )
    .await
    .unwrap();
    let cookie = r.cookies().into_iter().next().expect("a session cookie");
    let mut req = format!("{}/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("Cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    for kind in ["viewing", "typing"] {
        let m = json!({ "type": kind, "ticket_id": ticket }).to_string();
        ws.send(Message::Text(m.into())).await.unwrap();
    }
    ws
}

/// The whole path through WhatsApp: the service's real client connected to whatsapp-sim (the
/// demo's wiring, without its simulated traffic). The admin's pairing page shows the client's
/// QR; the sim's phone scans what zbarimg reads off the screen; the page turns connected. A
/// simulated customer writes; the agent sees it live, answers, and the ticks follow the sim's
/// real delivery and read receipts; the agent closes the ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_whatsapp_sim_pair_answer_and_close() {
    use pharmacy_service::demo::{DemoOptions, PHARMACY_PHONE};
    use whatsapp_sim::device::Outgoing;
    let _one = BROWSER.lock().await;
    let zbarimg = find_program("zbarimg");
    let dir = TempDir::new();
    let demo = pharmacy_service::demo::start(DemoOptions {
        port: 0,
        data_dir: dir.0.clone(),
        manual_pair: true,
        traffic: false,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let mut b = Browser::start("sim", "ar").await;
    let (admin_user, admin_pass) = demo.credentials.admin.clone();
    b.login(&demo.url, &admin_user, &admin_pass).await;

    // Pairing: the QR on the page is the client's; the sim's phone scans what is on screen.
    b.client
        .goto(&format!("{}/#/whatsapp", demo.url))
        .await
        .unwrap();
    b.until(
        "the client's QR",
        "document.getElementById('wa-qr-img')?.complete && document.getElementById('wa-qr-img').naturalWidth > 0",
    )
    .await;
    b.shot("qr").await;
    // The client rotates its QR every few seconds: read the attribute and the pixels of the
    // same image (again if it changed in between).
    let qr_path = b.shots.join("sim-qr-element.png");
    let mut decoded = String::new();
    for _ in 0..5 {
        let shown = b
            .js("return document.getElementById('wa-qr-img').dataset.qr")
            .await;
        let png = b.el("#wa-qr-img").await.screenshot().await.unwrap();
        std::fs::write(&qr_path, png).unwrap();
        let out = Command::new(&zbarimg)
            .args(["--raw", "-q"])
            .arg(&qr_path)
            .output()
            .unwrap();
        decoded = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if Value::String(decoded.clone()) == shown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        decoded.starts_with("2@") || decoded.contains("#2@"),
        "a WhatsApp QR string: {decoded:?}"
    );
    assert_eq!(
        b.js("return document.getElementById('wa-qr-img').dataset.qr")
            .await,
        Value::String(decoded.clone()),
        "zbarimg reads the QR the client produced off the screen"
    );
    demo.sim
        .scan(&decoded, PHARMACY_PHONE)
        .await
        .expect("the sim's phone accepts the QR read off the screen");
    b.until(
        "connected",
        "document.getElementById('wa-state')?.dataset.state === 'connected'",
    )
    .await;
    b.shot("connected").await;

    // A simulated customer writes; the ticket is handed to the Gomhoreya agent.
    let customer = "201011119999";
    demo.sim
        .add_customer(customer, "سارة محمود", 1, false)
        .unwrap();
    demo.sim
        .customer_send(
            customer,
            PHARMACY_PHONE,
            Outgoing::Text("عندكم أوجمنتين ١ جم؟".into()),
            None,
        )
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let ticket: i64 = loop {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT t.id FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE c.phone = ?",
        )
        .bind(customer)
        .fetch_optional(demo.app.pool())
        .await
        .unwrap();
        if let Some(t) = t {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the customer's message never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (user, pass, _) = demo.credentials.agents[0].clone();
    let (agent, admin) = {
        let mut c = demo.app.pool().acquire().await.unwrap();
        let agent = db::agents::list(&mut c)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.username == user)
            .unwrap()
            .id;
        let admin = db::users::by_username(&mut c, &admin_user)
            .await
            .unwrap()
            .unwrap()
            .id;
        (agent, admin)
    };
    let current: Option<i64> = sqlx::query_scalar("SELECT agent_id FROM tickets WHERE id = ?")
        .bind(ticket)
        .fetch_one(demo.app.pool())
        .await
        .unwrap();
    if current != Some(agent.0) {
        demo.app
            .transfer_ticket(
                TicketId(ticket),
                admin,
                TransferTarget::Agent(agent),
                "اختبار",
            )
            .await
            .unwrap();
    }

    // The agent signs in, opens it, and a second message arrives live.
    b.click("#logout").await;
    b.until(
        "the login form",
        "!document.getElementById('view-login').hidden",
    )
    .await;
    b.login(&demo.url, &user, &pass).await;
    b.click(&format!("#ticket-list [data-ticket='{ticket}']"))
        .await;
    b.until(
        "the customer's message",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent.includes('أوجمنتين'))",
    )
    .await;
    demo.sim
        .customer_send(
            customer,
            PHARMACY_PHONE,
            Outgoing::Text("ولو مش موجود، البديل إيه؟".into()),
            None,
        )
        .unwrap();
    b.until(
        "the live message",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent.includes('البديل'))",
    )
    .await;

    // The answer goes out through the real client; the customer's phone receives it (delivered)
    // and reads it (read).
    b.type_into("#composer-text", "موجود، ٩٥ جنيه للعلبة").await;
    b.el("#composer-text")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let out_id = b
        .until(
            "my answer",
            "[...document.querySelectorAll('.msg.out')].find(e => e.textContent.includes('٩٥ جنيه'))?.dataset.id",
        )
        .await;
    let tick = format!(
        "document.querySelector(\".msg[data-id='{}'] .tick\")?.dataset.status",
        out_id.as_str().unwrap()
    );
    b.until(
        "delivered to the customer's phone",
        &format!("['delivered', 'read'].includes({tick})"),
    )
    .await;
    b.shot("delivered").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let inbox = demo.sim.customer_inbox(customer).unwrap();
        let ids: Vec<String> = inbox
            .iter()
            .filter(|m| m.text.as_deref().is_some_and(|t| t.contains("٩٥ جنيه")))
            .map(|m| m.id.clone())
            .collect();
        if !ids.is_empty() {
            demo.sim.customer_read(customer, &ids).unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answer never reached the customer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.until("read", &format!("{tick} === 'read'")).await;
    b.shot("read").await;

    // Closing sends the satisfaction survey to the customer's phone.
    b.click("#btn-close").await;
    b.until(
        "the close dialog",
        "document.getElementById('dlg-close').open",
    )
    .await;
    b.click("#close-confirm").await;
    b.until(
        "the closed bar",
        "!document.getElementById('closed-bar').hidden",
    )
    .await;
    b.shot("closed").await;
    b.close().await;
    demo.shutdown().await;
}

/// The demo's manual pairing: the pairing page offers "simulate phone scan" (the demo serves
/// `/api/demo/scan`); clicking it makes the sim's phone scan the client's current QR and the
/// page turns connected, the button gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pairing_page_simulated_phone_scan_connects() {
    use pharmacy_service::demo::DemoOptions;
    let _one = BROWSER.lock().await;
    let dir = TempDir::new();
    let demo = pharmacy_service::demo::start(DemoOptions {
        port: 0,
        data_dir: dir.0.clone(),
        manual_pair: true,
        traffic: false,
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let mut b = Browser::start("demo-scan", "ar").await;
    let (user, pass) = demo.credentials.admin.clone();
    b.login(&demo.url, &user, &pass).await;
    b.client
        .goto(&format!("{}/#/whatsapp", demo.url))
        .await
        .unwrap();
    b.until(
        "the client's QR",
        "document.getElementById('wa-qr-img')?.complete && document.getElementById('wa-qr-img').naturalWidth > 0",
    )
    .await;
    b.until(
        "the simulate-scan button",
        "document.getElementById('wa-sim-scan') && !document.getElementById('wa-sim-scan').hidden",
    )
    .await;
    assert_ne!(
        b.js("return document.getElementById('wa-state')?.dataset.state")
            .await,
        "connected"
    );
    b.shot("unpaired").await;
    b.axe("the demo pairing page").await;
    b.click("#wa-sim-scan").await;
    b.until(
        "connected",
        "document.getElementById('wa-state')?.dataset.state === 'connected'",
    )
    .await;
    b.until(
        "the button gone",
        "document.getElementById('wa-sim-scan').hidden",
    )
    .await;
    b.shot("connected").await;
    assert_eq!(
        demo.bridge.status().await.unwrap().state,
        pharmacy_service::http::LinkState::Connected
    );
    b.close().await;
    demo.shutdown().await;
}

/// The chat list's previews and unread counts come from the server, per user: they survive a
/// reload, the tab title carries the total, and opening the conversation clears them (also
/// after another reload). The customer panel lists the transfer note and internal notes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_and_previews_come_from_the_server() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (user, pass, _) = svc.creds.agents[0].clone();
    let agent = svc.agent_id(&user).await;
    let admin = svc.user_id(&svc.creds.admin.0).await;
    let (ticket, _) = svc.customer_says("WA-U-1", "صباح الخير").await;
    svc.app
        .transfer_ticket(ticket, admin, TransferTarget::Agent(agent), "اختبار")
        .await
        .unwrap();
    svc.customer_says("WA-U-2", "عندكم كونكور ٥؟").await;
    let mut b = Browser::start("unread", "ar").await;
    b.login(&svc.base, &user, &pass).await;
    // The contract check is live: a read of a property the answer's schema lacks is recorded
    // with its operation (reads of documented ones are not).
    let probe = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const src = document.querySelector('script[type=module]').src.replace(/app\\.js.*$/, 'api.js');
             import(src).then(async (api) => {
               const page = await api.get('/api/tickets/?limit=1');
               void page.items; void page.next_cursor; void page.no_such_field;
               done(JSON.parse(localStorage.getItem('contractViolations') || '[]'));
               localStorage.removeItem('contractViolations');
             }).catch((e) => done(['error: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        probe,
        json!(["GET /api/tickets (list_tickets): no_such_field"]),
        "the contract check records reads of undocumented properties"
    );
    let item = format!("#ticket-list [data-ticket='{ticket}']");
    let badge = format!("document.querySelector(\"{item} .unread [aria-hidden]\")?.textContent");
    b.until("the unread badge", &format!("{badge} === '2'"))
        .await;
    assert_eq!(
        b.js(&format!(
            "return document.querySelector(\"{item} .preview\").textContent"
        ))
        .await,
        "عندكم كونكور ٥؟"
    );
    b.until("the title count", "document.title.startsWith('(2) ')")
        .await;
    b.shot("badge").await;
    b.client.refresh().await.unwrap();
    b.until("the badge after a reload", &format!("{badge} === '2'"))
        .await;
    b.click(&item).await;
    b.until(
        "the chat",
        "[...document.querySelectorAll('.msg.in .body')].some(e => e.textContent.includes('كونكور'))",
    )
    .await;
    // The customer panel lists the transfer's note and a new internal note.
    b.click("#btn-panel").await;
    b.until(
        "the transfer note",
        "[...document.querySelectorAll('#ticket-notes li')].some(li => li.textContent.includes('اختبار'))",
    )
    .await;
    b.type_into("#tnote-input", "العميل طلب التوصيل").await;
    b.js("document.getElementById('tnote-input').closest('form').requestSubmit(); return 1")
        .await;
    b.until(
        "the internal note listed",
        "[...document.querySelectorAll('#ticket-notes li')].some(li => li.textContent.includes('العميل طلب التوصيل'))",
    )
    .await;
    b.shot("notes").await;
    b.axe("the customer panel with notes").await;
    b.click("#btn-panel").await;
    b.until(
        "no badge",
        &format!("!document.querySelector(\"{item} .unread\")"),
    )
    .await;
    // The read mark reached the server: a reload shows no unread either.
    let deadline = Instant::now() + WAIT;
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ticket_reads WHERE ticket_id = ? AND last_read_message_id >= (SELECT max(id) FROM messages WHERE ticket_id = ? AND direction = 'in')",
        )
        .bind(ticket)
        .bind(ticket)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the read mark never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client
        .goto(&format!("{}/#/inbox", svc.base))
        .await
        .unwrap();
    b.client.refresh().await.unwrap();
    b.until(
        "the list after a reload",
        &format!("document.querySelector(\"{item}\")"),
    )
    .await;
    assert_eq!(
        b.js(&format!(
            "return !!document.querySelector(\"{item} .unread\")"
        ))
        .await,
        false
    );
    assert!(
        !b.js("return document.title")
            .await
            .as_str()
            .unwrap()
            .starts_with('('),
        "no count in the title"
    );
    b.shot("read").await;
    b.close().await;
}

/// An admin sets a branch's opening hours and holidays and a chain-wide holiday on the agents
/// and branches page; they are stored, and the page stays accessible. Then adds a keyword
/// auto-reply and deletes it again, reads the pacing on the settings page, turns the chime
/// off and on, and checks that the admin pages fit a phone-sized screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_edits_branch_calendars_and_auto_replies() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let branch: i64 = sqlx::query_scalar("SELECT min(id) FROM branches")
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
    let mut b = Browser::start("holidays", "ar").await;
    let (user, pass) = svc.creds.admin.clone();
    b.login(&svc.base, &user, &pass).await;
    b.client
        .goto(&format!("{}/#/agents", svc.base))
        .await
        .unwrap();
    let row = format!("#page-agents tr[data-branch='{branch}']");
    b.until(
        "the branch row",
        &format!("document.querySelector(\"{row}\")"),
    )
    .await;
    // Open both editors of the row.
    b.js(&format!(
        "document.querySelectorAll(\"{row} details\").forEach(d => d.open = true); return 1"
    ))
    .await;
    // Monday 09:00-17:00.
    let monday = b.el(&format!("{row} .shift-days input")).await;
    monday.clear().await.unwrap();
    monday.send_keys("09:00-17:00").await.unwrap();
    // A holiday of this branch (dates are set as values: the date widget's typing is locale-bound).
    b.js(&format!(
        "document.getElementById('hol-{branch}-day').value = '2026-12-25'; return 1"
    ))
    .await;
    b.type_into(&format!("#hol-{branch}-name"), "عيد الميلاد")
        .await;
    b.click(&format!("#hol-{branch}-add")).await;
    b.until(
        "the holiday listed",
        &format!("document.querySelector(\"{row} .holidays li[data-day='2026-12-25']\")"),
    )
    .await;
    b.shot("editing").await;
    b.axe("the branch calendar editors").await;
    b.click(&format!("{row} [data-save-branch]")).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM holidays WHERE branch_id = ? AND day = '2026-12-25' AND name = 'عيد الميلاد'",
        )
        .bind(branch)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the holiday was not saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hours: String = sqlx::query_scalar("SELECT hours_json FROM branches WHERE id = ?")
        .bind(branch)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
    let hours: Value = serde_json::from_str(&hours).unwrap();
    assert_eq!(hours["days"][0], json!([{ "start": 540, "end": 1020 }]));

    // A chain-wide holiday from the card below the table.
    b.js("document.getElementById('hol-all-day').value = '2026-10-06'; return 1")
        .await;
    b.type_into("#hol-all-name", "عيد القوات المسلحة").await;
    b.click("#hol-all-add").await;
    b.click("#hol-all-save").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM holidays WHERE branch_id IS NULL AND day = '2026-10-06'",
        )
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the chain-wide holiday was not saved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("saved").await;
    // Reloaded, the page lists both under the branch.
    b.client.refresh().await.unwrap();
    b.until(
        "both holidays after a reload",
        &format!("document.querySelector(\"{row} .holidays li[data-day='2026-12-25']\") && [...document.querySelectorAll(\"{row} .holidays li\")].some(li => li.textContent.includes('2026-10-06'))"),
    )
    .await;

    // A keyword auto-reply is added, listed, and deleted (the confirmation is accepted).
    b.client
        .goto(&format!("{}/#/templates", svc.base))
        .await
        .unwrap();
    b.type_into("#ar-key", "مواعيد").await;
    b.type_into("#ar-body", "نفتح من ٩ صباحًا حتى ١٢ منتصف الليل")
        .await;
    b.js("document.querySelector('#ar-body').closest('form').requestSubmit(); return 1")
        .await;
    let id: i64 = {
        let deadline = Instant::now() + WAIT;
        loop {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM auto_reply_triggers WHERE keyword = 'مواعيد'")
                    .fetch_optional(svc.app.pool())
                    .await
                    .unwrap();
            if let Some(id) = id {
                break id;
            }
            assert!(Instant::now() < deadline, "the auto-reply was not added");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let row = format!("#page-templates tr[data-trigger='{id}']");
    b.until(
        "the auto-reply listed",
        &format!("document.querySelector(\"{row}\")"),
    )
    .await;
    b.shot("auto-reply").await;
    b.axe("the templates and auto-replies page").await;
    b.js("window.confirm = () => true; return 1").await;
    b.click(&format!("{row} button.danger")).await;
    b.until(
        "the auto-reply gone",
        &format!("!document.querySelector(\"{row}\")"),
    )
    .await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM auto_reply_triggers WHERE id = ?")
        .bind(id)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);

    // The settings page shows the pacing in force (read-only: it is start-up configuration).
    b.client
        .goto(&format!("{}/#/settings", svc.base))
        .await
        .unwrap();
    b.until(
        "the pacing card",
        "document.querySelectorAll('#pacing dt').length === 6",
    )
    .await;
    b.shot("pacing").await;
    b.axe("the settings page with the pacing").await;

    // Calls: their own card; the automatic reject on, the reply's window two hours.
    b.until(
        "the call settings",
        "document.querySelector('#call-settings #call-auto-reject') && document.getElementById('call-reply-text').value.includes('الصيدلية')",
    )
    .await;
    b.js("document.getElementById('call-settings').setAttribute('data-old', '1'); document.getElementById('call-auto-reject').checked = true; document.getElementById('call-reply-window').value = '120'; return 1")
        .await;
    b.click("#call-settings button[type=submit]").await;
    b.until(
        "the call settings saved and drawn again",
        "document.querySelector('#call-settings:not([data-old]) #call-auto-reject')?.checked === true",
    )
    .await;
    let calls = svc.app.config().calls.clone();
    assert!(calls.auto_reject && !calls.auto_reply);
    assert_eq!(calls.auto_reply_window, Duration::from_secs(7200));
    b.shot("call-settings").await;

    // The chime can be turned off (and on) from the header; the choice is kept.
    assert_eq!(
        b.js("return document.getElementById('sound-btn').getAttribute('aria-pressed')")
            .await,
        "true"
    );
    b.click("#sound-btn").await;
    assert_eq!(
        b.js("return [document.getElementById('sound-btn').getAttribute('aria-pressed'), localStorage.getItem('sound')]")
            .await,
        json!(["false", "off"])
    );
    b.client.refresh().await.unwrap();
    b.until(
        "sound still off after a reload",
        "document.getElementById('sound-btn').getAttribute('aria-pressed') === 'false'",
    )
    .await;
    b.click("#sound-btn").await;

    // On a phone-sized screen the admin pages do not widen the page: wide tables scroll
    // inside themselves.
    b.client.set_window_size(390, 844).await.unwrap();
    for page in [
        "dashboard",
        "whatsapp",
        "agents",
        "templates",
        "settings",
        "activity",
    ] {
        b.client
            .goto(&format!("{}/#/{page}", svc.base))
            .await
            .unwrap();
        b.until(
            "the page drawn",
            &format!("document.querySelector('#page-{page} h1') && !document.getElementById('page-{page}').hidden"),
        )
        .await;
        let overflow = b
            .js(&format!("const p = document.getElementById('page-{page}'); return Math.max(p.scrollWidth - p.clientWidth, document.documentElement.scrollWidth - document.documentElement.clientWidth)"))
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "#/{page} is {overflow} px wider than a phone's screen"
        );
        b.shot(&format!("phone-{page}")).await;
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_password_change_comes_before_the_app() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (user, pass) = svc.creds.admin.clone();
    // As the first-run admin with a generated password.
    svc.app
        .require_password_change(svc.user_id(&user).await)
        .await
        .unwrap();
    let mut b = Browser::start("password-change", "ar").await;
    b.open(&svc.base).await;
    b.until(
        "the login form",
        "!document.getElementById('view-login').hidden",
    )
    .await;
    b.type_into("#login-username", &user).await;
    b.type_into("#login-password", &pass).await;
    b.click("#login-submit").await;
    b.until(
        "the change-password form",
        "!document.getElementById('pw-form').hidden && document.getElementById('login-form').hidden",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('view-app').hidden")
            .await,
        true
    );
    b.axe("the change-password form").await;
    b.type_into("#pw-new", "new-admin-pass-1").await;
    b.type_into("#pw-repeat", "another-one-22").await;
    b.click("#pw-submit").await;
    b.until(
        "the mismatch message",
        "document.getElementById('pw-error').textContent.length > 0",
    )
    .await;
    b.js("document.getElementById('pw-repeat').value = ''; return 1")
        .await;
    b.type_into("#pw-repeat", "new-admin-pass-1").await;
    b.click("#pw-submit").await;
    b.until("the app", "!document.getElementById('view-app').hidden")
        .await;
    b.shot("after-password-change").await;
    b.close().await;
    // The new password is the one in force.
    assert!(
        svc.app
            .authenticate(&user, "new-admin-pass-1", None)
            .await
            .unwrap()
            .is_some()
    );
}

/// The switch-over page (issue 34): an imported legacy branch is mapped onto the suggested real
/// branch from the page; the page stays accessible in Arabic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_maps_an_imported_branch_on_the_switchover_page() {
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    // What the import leaves when an agent's old branch text matched no branch.
    let legacy: i64 = sqlx::query_scalar(
        "INSERT INTO branches (code, name, name_ar, address, latitude, longitude, hours_json, is_active, created_at)
         SELECT 'legacy-toriel', 'فرع توريل', 'فرع توريل', '', 31.0409, 31.3785, hours_json, 0, created_at
         FROM branches WHERE code = 'toriel' RETURNING id",
    )
    .fetch_one(svc.app.pool())
    .await
    .unwrap();
    let agent = svc.agent_id("agent.toriel").await;
    sqlx::query("UPDATE agents SET branch_id = ? WHERE id = ?")
        .bind(legacy)
        .bind(agent)
        .execute(svc.app.pool())
        .await
        .unwrap();
    // A conversation carried over from the old system, waiting for review.
    let (carried, _) = svc.customer_says("SW-1", "من النظام القديم").await;
    sqlx::query("UPDATE tickets SET carried_over_at = created_at WHERE id = ?")
        .bind(carried)
        .execute(svc.app.pool())
        .await
        .unwrap();
    let mut b = Browser::start("switchover", "ar").await;
    let (user, pass) = svc.creds.admin.clone();
    b.login(&svc.base, &user, &pass).await;
    b.client
        .goto(&format!("{}/#/switchover", svc.base))
        .await
        .unwrap();
    b.until(
        "the legacy branch row",
        "document.querySelector('#page-switchover table.legacy select')",
    )
    .await;
    // One details form per branch (15 seeded) and one for the legacy row.
    b.until(
        "the branch forms",
        "document.querySelectorAll('#page-switchover form').length === 16",
    )
    .await;
    b.shot("legacy").await;
    b.axe("the switch-over page").await;
    b.click("#page-switchover table.legacy button").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (code,): (String,) = sqlx::query_as(
            "SELECT b.code FROM agents a JOIN branches b ON b.id = a.branch_id WHERE a.id = ?",
        )
        .bind(agent)
        .fetch_one(svc.app.pool())
        .await
        .unwrap();
        if code == "toriel" {
            break;
        }
        assert!(Instant::now() < deadline, "the branch was not mapped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.until(
        "no legacy branch left",
        "!document.querySelector('#page-switchover table.legacy')",
    )
    .await;
    b.shot("mapped").await;
    // Keeping the carried-over conversation from the page's list.
    b.click("#page-switchover table.carried button").await;
    let deadline = Instant::now() + WAIT;
    while svc
        .app
        .ticket_detail(carried)
        .await
        .unwrap()
        .ticket
        .carried_over_at
        .is_some()
    {
        assert!(Instant::now() < deadline, "the conversation was not kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.close().await;
}

/// Issue 32: the agent sends while the database is held busy past SQLite's busy timeout (another
/// connection holds the write lock): the service answers 503 `busy`, and the composer says it is
/// sending again and does so on its own; once the lock is gone the reply is stored, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_sends_again_on_its_own_after_a_busy_answer() {
    use sqlx::Connection;
    let _one = BROWSER.lock().await;
    let svc = Service::start().await;
    let (user, pass, _) = svc.creds.agents[0].clone();
    let agent = svc.agent_id(&user).await;
    let admin = svc.user_id(&svc.creds.admin.0).await;
    let (ticket, _) = svc
        .customer_says("WA-BUSY-1", "Do you have Concor 5?")
        .await;
    svc.app
        .transfer_ticket(ticket, admin, TransferTarget::Agent(agent), "test")
        .await
        .unwrap();
    let mut b = Browser::start("busy", "ar").await;
    b.login(&svc.base, &user, &pass).await;
    b.click(&format!("#ticket-list [data-ticket='{ticket}']"))
        .await;
    b.until(
        "the composer",
        "!document.getElementById('composer').hidden",
    )
    .await;

    let mut locker = super::support::hold_write_lock(&svc._dir.0.join("pharmacy.db")).await;
    b.type_into("#composer-text", "Yes, 95 EGP a box").await;
    b.click("#btn-send").await;
    let said = b
        .until(
            "the composer saying it sends again",
            "!document.getElementById('composer-status').hidden \
             && document.getElementById('composer-status').textContent",
        )
        .await;
    assert_eq!(said, "الخدمة مشغولة، جارٍ إعادة الإرسال…");
    b.shot("busy-sending-again").await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    locker.close().await.unwrap();

    b.until(
        "the reply in the chat, the notice gone",
        "document.getElementById('composer-status').hidden \
         && document.getElementById('message-list').textContent.includes('Yes, 95 EGP a box') \
         && document.getElementById('composer-text').value === ''",
    )
    .await;
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE body = 'Yes, 95 EGP a box'")
            .fetch_one(svc.app.pool())
            .await
            .unwrap();
    assert_eq!(stored, 1, "sent again, stored once");
    b.close().await;
}
