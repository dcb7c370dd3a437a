//! The WhatsApp bridge against whatsapp-sim over loopback: the real client pairs through the
//! sim's phone; a simulated customer's message becomes a ticket routed to the branch's agent;
//! the agent's reply goes through the paced outbox and the client and arrives decrypted at the
//! customer; delivery and read receipts move the message's status.

use super::support::TempDir;
use pharmacy_service::app::{App, SeedOptions, SendReply, ServiceConfig, SystemClock};
use pharmacy_service::db;
use pharmacy_service::domain::ids::TicketId;
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::http::whatsapp::{LinkState, WhatsappLink};
use pharmacy_service::whatsapp::OutboxWorker;
use pharmacy_service::whatsapp::bridge::WhatsappBridge;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

pub(crate) const PHARMACY: &str = "201001234567";
pub(crate) const CUSTOMER: &str = "201011119999";
const WAIT: Duration = Duration::from_secs(90);

/// Polls `f` until it gives `Some`, failing with `what` after `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ticket of a stored inbound message, once the bridge has stored it.
async fn ticket_of(app: &App, wa_id: &str) -> TicketId {
    eventually("the ticket", || async {
        let mut c = app.pool().acquire().await.ok()?;
        sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM messages WHERE wa_id = ?")
            .bind(wa_id)
            .fetch_optional(&mut *c)
            .await
            .ok()
            .flatten()
            .map(TicketId)
    })
    .await
}

/// The service on a fresh database in `dir`, with the fast pacing profile and media under
/// `dir` on top of `config`.
pub(crate) async fn fast_app(dir: &TempDir, config: ServiceConfig) -> App {
    let config = ServiceConfig {
        pacing: PacingPolicy::fast(),
        media_dir: dir.0.join("media"),
        ..config
    };
    App::open(&dir.0.join("pharmacy.db"), Arc::new(SystemClock), config)
        .await
        .unwrap()
}

/// A bridge on a fresh device, pointed at the sim as the service points it (media and the
/// WhatsApp Web page on the sim's port), with quick reconnects.
async fn start_bridge(app: &App, sim: &SimHandle) -> Arc<WhatsappBridge> {
    let mut wa = whatsapp_client::Config::default()
        .with_url(sim.ws_url.clone())
        .with_trust_root(sim.root_public_key)
        .with_version_url(format!("http://{}/", sim.ws_addr));
    wa.media_base_url = Some(format!("http://{}", sim.ws_addr));
    wa.reconnect.initial = Duration::from_millis(100);
    wa.reconnect.max = Duration::from_millis(500);
    let store = Arc::new(whatsapp_client::store::MemoryStore::new());
    WhatsappBridge::start(app.clone(), store, wa)
        .await
        .expect("bridge")
}

pub(crate) async fn paired_bridge(app: &App, sim: &SimHandle) -> Arc<WhatsappBridge> {
    let bridge = start_bridge(app, sim).await;
    let qr = eventually("a QR code", || async { bridge.qr_code().await.unwrap() }).await;
    assert_eq!(bridge.status().await.unwrap().state, LinkState::Unpaired);
    sim.scan(&qr, PHARMACY).await.expect("scan");
    assert!(
        bridge
            .wait_for(WAIT, |s| s.state == LinkState::Connected)
            .await,
        "connected after the scan"
    );
    let status = bridge.status().await.unwrap();
    assert_eq!(status.phone.as_deref(), Some(PHARMACY));
    assert_eq!(bridge.qr_code().await.unwrap(), None);
    bridge
}

/// The demo's branches and agents, open all day (no shifts, no out-of-office).
async fn demo_app(dir: &TempDir) -> App {
    let app = fast_app(
        dir,
        ServiceConfig {
            use_shifts: false,
            out_of_office_enabled: false,
            ..ServiceConfig::default()
        },
    )
    .await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    app
}

/// A customer who wrote by phone number and continues at its LID (the server moves the chat
/// mid-way, issue 22) stays one customer with one ticket: the bridge knows it by its number
/// (`sender_pn`) either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_moving_to_its_lid_keeps_its_ticket() {
    let dir = TempDir::new();
    let app = demo_app(&dir).await;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(OutboxWorker::new(app.clone(), bridge.clone(), 7).run(stopped));
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();
    let first = sim
        .customer_send(CUSTOMER, PHARMACY, Outgoing::Text("Hi".into()), None)
        .unwrap();
    let ticket = ticket_of(&app, &first).await;
    // Our greeting reaches the customer (sessions both ways) before the move.
    eventually("our greeting at the customer", || async {
        (!sim.customer_inbox(CUSTOMER).unwrap().is_empty()).then_some(())
    })
    .await;
    sim.customer_addressing(CUSTOMER, true).unwrap();
    let second = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("still there?".into()),
            None,
        )
        .unwrap();
    assert_eq!(ticket_of(&app, &second).await, ticket);
    let mut c = app.pool().acquire().await.unwrap();
    let lids: Vec<Option<String>> = sqlx::query_scalar("SELECT lid FROM customers WHERE phone = ?")
        .bind(CUSTOMER)
        .fetch_all(&mut *c)
        .await
        .unwrap();
    // One record, with the LID beside the number.
    assert!(matches!(lids.as_slice(), [Some(_)]), "{lids:?}");
    drop(c);
    let _ = stop.send(true);
    let _ = worker.await;
    bridge.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_to_agent_and_back_through_the_real_client() {
    let dir = TempDir::new();
    let app = demo_app(&dir).await;
    let (gomhoreya, agent) = {
        let mut c = app.pool().acquire().await.unwrap();
        let b = db::branches::list(&mut c)
            .await
            .unwrap()
            .into_iter()
            .find(|b| b.code == "gomhoreya")
            .expect("seeded branch");
        let a = db::agents::list(&mut c)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.branch_id == Some(b.id))
            .expect("the branch's agent");
        (b, a)
    };
    app.set_agent_status(agent.id, AgentStatus::Online, None)
        .await
        .unwrap();

    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(OutboxWorker::new(app.clone(), bridge.clone(), 7).run(stopped));

    // The customer writes; the service answers with the greeting and the branch menu.
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();
    let first = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("Hi, do you have Panadol Extra?".into()),
            None,
        )
        .unwrap();
    let ticket = ticket_of(&app, &first).await;
    let menu = eventually("the branch menu at the customer", || async {
        sim.customer_inbox(CUSTOMER)
            .unwrap()
            .into_iter()
            .filter_map(|m| m.text)
            .find(|t| t.contains(&gomhoreya.name))
    })
    .await;
    let choice = menu
        .lines()
        .find(|l| l.contains(&gomhoreya.name))
        .and_then(|l| l.split('.').next())
        .expect("a numbered line")
        .trim()
        .to_owned();
    sim.customer_send(CUSTOMER, PHARMACY, Outgoing::Text(choice), None)
        .unwrap();
    eventually("the ticket on the branch's agent", || async {
        let t = app.ticket_detail(ticket).await.ok()?.ticket;
        (t.agent_id == Some(agent.id) && t.branch_id == Some(gomhoreya.id)).then_some(())
    })
    .await;

    // The agent answers: paced outbox -> client -> sim -> the customer's phone, decrypted.
    let reply = app
        .send_reply(SendReply {
            ticket_id: ticket,
            user_id: agent.user_id,
            text: Some("Yes, Panadol Extra is available at El Gomhoreya.".into()),
            ..SendReply::default()
        })
        .await
        .unwrap();
    let received = eventually("the reply at the customer", || async {
        sim.customer_inbox(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|m| m.text.as_deref() == Some("Yes, Panadol Extra is available at El Gomhoreya."))
    })
    .await;
    // From our LID: the client writes to a number whose LID it knows at the LID, as itself
    // by LID (whatsmeow send.go).
    assert!(
        super::sim_service::from_pharmacy(&sim, &received.from),
        "from the pharmacy: {}",
        received.from
    );
    let status = |id| {
        let app = app.clone();
        async move {
            let mut c = app.pool().acquire().await.unwrap();
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT status, wa_id FROM messages WHERE id = ?",
            )
            .bind(id)
            .fetch_one(&mut *c)
            .await
            .unwrap()
        }
    };
    // The message went out under the id the outbox chose when it queued it: receipts find it.
    eventually("the queued id at the customer", || async {
        (status(reply.id.0).await.1.as_deref() == Some(&*received.id)).then_some(())
    })
    .await;
    eventually("delivered", || async {
        let s = status(reply.id.0).await.0;
        (s == "delivered" || s == "read").then_some(())
    })
    .await;
    sim.customer_read(CUSTOMER, std::slice::from_ref(&received.id))
        .unwrap();
    eventually("read", || async {
        (status(reply.id.0).await.0 == "read").then_some(())
    })
    .await;
    // The customer reacts to the reply: the bridge names the customer's chat, where the
    // reply's id is found.
    sim.customer_send(
        CUSTOMER,
        PHARMACY,
        Outgoing::Reaction {
            message_id: received.id.clone(),
            emoji: "👍".into(),
            remote_jid: format!("{PHARMACY}@s.whatsapp.net"),
            from_me: false,
        },
        None,
    )
    .unwrap();
    eventually("the reaction on the reply", || async {
        let mut c = app.pool().acquire().await.ok()?;
        let r: Option<String> = sqlx::query_scalar("SELECT reaction FROM messages WHERE id = ?")
            .bind(reply.id.0)
            .fetch_one(&mut *c)
            .await
            .ok()?;
        (r.as_deref() == Some("👍")).then_some(())
    })
    .await;
    // The customer's messages were read by the service too (before the reply went out).
    eventually("the customer sees read ticks", || async {
        sim.customer_sent(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|s| s.id == first && (s.status == "read" || s.status == "delivered"))
    })
    .await;

    let _ = stop.send(true);
    worker.await.unwrap();
    bridge.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_voice_notes_and_locations_are_stored() {
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    sim.add_customer(CUSTOMER, "Omar", 1, false).unwrap();
    let photo = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();
    let image = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Media {
                kind: whatsapp_sim::device::MediaKind::Image,
                data: photo.clone(),
                mimetype: "image/png".into(),
                caption: Some("my prescription".into()),
                file_name: None,
            },
            None,
        )
        .unwrap();
    let voice = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Media {
                kind: whatsapp_sim::device::MediaKind::VoiceNote,
                data: vec![7u8; 1000],
                mimetype: "audio/ogg; codecs=opus".into(),
                caption: None,
                file_name: None,
            },
            None,
        )
        .unwrap();
    let pin = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Location {
                lat: 31.0425,
                lng: 31.379,
                name: Some("Home".into()),
            },
            None,
        )
        .unwrap();
    let row = |wa: String| {
        let app = app.clone();
        async move {
            let mut c = app.pool().acquire().await.ok()?;
            // A media message is stored at once; its file follows from the media worker.
            sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<f64>)>(
                "SELECT kind, body, media_sha256, latitude FROM messages
                 WHERE wa_id = ? AND media_state IS NULL",
            )
            .bind(wa)
            .fetch_optional(&mut *c)
            .await
            .ok()
            .flatten()
        }
    };
    let (kind, body, sha, _) = eventually("the image", || row(image.clone())).await;
    assert_eq!(
        (kind.as_str(), body.as_deref()),
        ("image", Some("my prescription"))
    );
    let stored = std::fs::read(app.media_path(&sha.expect("stored media"))).unwrap();
    assert_eq!(stored, photo, "downloaded, decrypted and verified");
    let (kind, _, sha, _) = eventually("the voice note", || row(voice.clone())).await;
    assert_eq!(kind, "audio");
    assert_eq!(
        std::fs::read(app.media_path(&sha.unwrap())).unwrap(),
        vec![7u8; 1000]
    );
    let (kind, body, _, lat) = eventually("the location", || row(pin.clone())).await;
    assert_eq!((kind.as_str(), body.as_deref()), ("location", Some("Home")));
    assert_eq!(lat, Some(31.0425));
    bridge.shutdown().await;
    sim.shutdown();
}

/// A temporary ban: the link shows it, the outbox pauses (persisted), and the client comes back
/// by itself once the ban is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_ban_pauses_the_outbox_and_the_link_recovers() {
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    let mut live = app.events().subscribe();
    sim.fault(&whatsapp_sim::Fault::TempBan {
        code: 101,
        expire_s: 3,
    })
    .unwrap();
    assert!(
        bridge
            .wait_for(WAIT, |s| s.state == LinkState::TemporaryBan)
            .await,
        "banned"
    );
    eventually("the outbox paused", || async {
        app.outbox_paused_until().await.unwrap()
    })
    .await;
    let published = eventually("a whatsappStatus event", || {
        let e = live.try_recv().ok();
        async move {
            e.filter(|e| {
                matches!(&e.event, pharmacy_service::app::LiveEvent::WhatsappStatus { state, .. } if state == "temporary_ban")
            })
        }
    })
    .await;
    drop(published);
    assert!(
        bridge
            .wait_for(WAIT, |s| s.state == LinkState::Connected)
            .await,
        "connected again after the ban"
    );
    // The health panel's history: the ban is the newest disconnect, with its cause.
    let recent = bridge.status().await.unwrap().recent_disconnects;
    let ban = recent
        .iter()
        .find(|d| d.state == "temporary_ban")
        .expect("the ban recorded");
    assert_eq!(ban.reason, "code 101");
    assert!(ban.at.0 > 0);
    assert!(recent.len() <= pharmacy_service::http::whatsapp::RECENT_DISCONNECTS);
    bridge.shutdown().await;
    sim.shutdown();
}

/// WhatsApp refuses the version even after the client fetched the current one: the link
/// stops in a state of its own (the admin alert follows from it) instead of restarting the
/// client every minute for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_refused_after_a_refetch_stops_the_link() {
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    // The server wants a newer version than even its own web page announces.
    let sim = Sim::start(SimConfig {
        min_app_version: Some([9, 0, 0]),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let bridge = start_bridge(&app, &sim).await;
    assert!(
        bridge
            .wait_for(WAIT, |s| s.state == LinkState::Outdated)
            .await,
        "the link stops as outdated"
    );
    let status = bridge.status().await.unwrap();
    assert_eq!(status.detail.as_ref().unwrap().code, Some(405));
    assert_eq!(status.recent_disconnects[0].state, "outdated");
    bridge.shutdown().await;
    sim.shutdown();
}

/// The demo service without greeting, shifts or out-of-office replies, its first agent, and
/// a bridge paired with a new sim where the customer exists (and has not written yet).
async fn quiet_service_and_customer(
    dir: &TempDir,
) -> (App, db::agents::Agent, SimHandle, Arc<WhatsappBridge>) {
    let app = fast_app(
        dir,
        ServiceConfig {
            use_shifts: false,
            out_of_office_enabled: false,
            greeting_enabled: false,
            ..ServiceConfig::default()
        },
    )
    .await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let agent = {
        let mut c = app.pool().acquire().await.unwrap();
        db::agents::list(&mut c).await.unwrap().remove(0)
    };
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();
    (app, agent, sim, bridge)
}

/// The outbox chose and committed the WhatsApp id when it queued the reply; a crash after the
/// client sent it but before the "sent" mark was committed leaves the row queued, and the
/// restarted worker sends it again under the same id: the customer's phone shows it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_a_crash_reaches_the_customer_once() {
    use pharmacy_service::app::{Messenger, OutgoingMessage};
    use pharmacy_service::whatsapp::Step;
    let dir = TempDir::new();
    let (app, agent, sim, bridge) = quiet_service_and_customer(&dir).await;
    let first = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("Is it open?".into()),
            None,
        )
        .unwrap();
    let ticket = ticket_of(&app, &first).await;
    const TEXT: &str = "Yes, we are open until midnight.";
    let reply = app
        .send_reply(SendReply {
            ticket_id: ticket,
            user_id: agent.user_id,
            text: Some(TEXT.into()),
            ..SendReply::default()
        })
        .await
        .unwrap();
    let queued_id = reply.wa_id.clone().expect("the id is chosen when queued");
    let row = {
        let mut c = app.pool().acquire().await.unwrap();
        db::outbox::by_message(&mut c, reply.id)
            .await
            .unwrap()
            .expect("outbox row")
    };
    assert_eq!(row.wa_id, queued_id);
    // The first attempt: the client sends, then the process dies before the worker commits.
    bridge
        .send(&OutgoingMessage {
            id: row.wa_id.clone(),
            to: row.recipient.clone(),
            text: row.body.clone(),
            media: None,
            quoted_id: None,
        })
        .await
        .expect("first attempt");
    eventually("the first copy at the customer", || async {
        sim.customer_inbox(CUSTOMER)
            .unwrap()
            .into_iter()
            .find(|m| m.id == queued_id)
    })
    .await;
    // The restarted worker finds the row still queued and sends it again.
    let mut worker = OutboxWorker::new(app.clone(), bridge.clone(), 7);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match worker.step().await.unwrap() {
            Step::Sent(id) if id == row.id => break,
            Step::Failed(id) if id == row.id => panic!("the resend failed"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        assert!(tokio::time::Instant::now() < deadline, "row not sent");
    }
    let inbox = sim.customer_inbox(CUSTOMER).unwrap();
    let copies: Vec<_> = inbox
        .iter()
        .filter(|m| m.text.as_deref() == Some(TEXT))
        .collect();
    assert_eq!(copies.len(), 1, "shown once: {inbox:?}");
    assert_eq!(copies[0].id, queued_id);
    // The sim recorded two message stanzas under that id: it really was sent twice.
    let sends = sim
        .stanzas()
        .into_iter()
        .filter(|s| s.tag == "message" && s.id == queued_id)
        .count();
    assert_eq!(sends, 2);
    let mut c = app.pool().acquire().await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT wa_id FROM messages WHERE id = ?")
        .bind(reply.id)
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_eq!(stored, queued_id, "the id never changes");
    drop(c);
    bridge.shutdown().await;
    sim.shutdown();
}

/// A poll, a button answer and a view-once message WhatsApp never gives linked devices are
/// each stored as a message of their kind, and a missed call as a visible line, in the
/// customer's ticket; none is acknowledged without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_answers_view_once_and_missed_calls_are_visible() {
    use whatsapp_client::e2e;
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let _bridge = paired_bridge(&app, &sim).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();
    let body = |wa_id: String| {
        let app = app.clone();
        async move {
            eventually(&format!("the line of {wa_id}"), || async {
                let mut c = app.pool().acquire().await.ok()?;
                sqlx::query_scalar::<_, String>(
                    "SELECT kind || ': ' || body FROM messages WHERE wa_id = ?",
                )
                .bind(&wa_id)
                .fetch_optional(&mut *c)
                .await
                .ok()
                .flatten()
            })
            .await
        }
    };
    let poll = e2e::Message {
        poll_creation_message_v3: Some(Box::new(e2e::PollCreationMessage {
            name: Some("Delivery or pickup?".into()),
            options: ["Delivery", "Pickup"]
                .map(|o| e2e::poll_creation_message::Option {
                    option_name: Some(o.into()),
                    option_hash: None,
                })
                .to_vec(),
            selectable_options_count: Some(1),
            ..Default::default()
        })),
        ..Default::default()
    };
    let id = sim
        .customer_send(CUSTOMER, PHARMACY, Outgoing::Raw(Box::new(poll)), None)
        .unwrap();
    assert_eq!(body(id).await, "poll: Delivery or pickup?");
    let button = e2e::Message {
        buttons_response_message: Some(Box::new(e2e::ButtonsResponseMessage {
            selected_button_id: Some("deliver".into()),
            selected_display_text: Some("Deliver to my home".into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let id = sim
        .customer_send(CUSTOMER, PHARMACY, Outgoing::Raw(Box::new(button)), None)
        .unwrap();
    assert_eq!(body(id).await, "button_reply: Deliver to my home");
    let id = sim
        .unavailable_message(PHARMACY, CUSTOMER, "view_once", "")
        .unwrap();
    assert!(body(id).await.starts_with("view_once: A view-once message"));
    let call = sim.customer_call(CUSTOMER, PHARMACY, false).unwrap();
    sim.customer_call_end(CUSTOMER, PHARMACY, &call).unwrap();
    assert_eq!(
        body(format!("call:{call}:missed")).await,
        "call: missed voice"
    );
    // One ticket holds them all.
    let tickets: i64 = sqlx::query_scalar("SELECT count(DISTINCT ticket_id) FROM messages")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(tickets, 1);
}

/// A reply to a customer who never wrote to the pharmacy's number on WhatsApp (a ticket that
/// came another way): the server refuses it with 463. The outbox fails it at its first attempt
/// and never retries it (each retry is another reach-out to a stranger), and an admin sees a
/// `new_chat_refused` alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_refused_with_463_is_not_retried_and_alerts_an_admin() {
    use pharmacy_service::app::InboundOutcome;
    use pharmacy_service::whatsapp::Step;
    let dir = TempDir::new();
    let (app, agent, sim, bridge) = quiet_service_and_customer(&dir).await;
    let event = super::support::text_event(Some(CUSTOMER), None, "ELSEWHERE1", "hi", app.now());
    let ticket = match app.handle_inbound(event).await.unwrap() {
        InboundOutcome::Stored { ticket_id, .. } => ticket_id,
        other => panic!("expected Stored, got {other:?}"),
    };
    let reply = app
        .send_reply(SendReply {
            ticket_id: ticket,
            user_id: agent.user_id,
            text: Some("Your order is ready.".into()),
            ..SendReply::default()
        })
        .await
        .unwrap();
    let wa_id = reply.wa_id.clone().expect("queued id");
    let ours = {
        let mut c = app.pool().acquire().await.unwrap();
        db::outbox::by_message(&mut c, reply.id)
            .await
            .unwrap()
            .expect("outbox row")
            .id
    };
    let mut worker = OutboxWorker::new(app.clone(), bridge.clone(), 7);
    let deadline = tokio::time::Instant::now() + WAIT;
    let row = loop {
        match worker.step().await.unwrap() {
            Step::Failed(id) if id == ours => break id,
            Step::Sent(id) | Step::Retried(id) if id == ours => {
                panic!("a 463 was sent or retried")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
        assert!(tokio::time::Instant::now() < deadline, "row not settled");
    };
    for _ in 0..3 {
        let step = worker.step().await.unwrap();
        assert!(
            !matches!(step, Step::Sent(id) | Step::Retried(id) | Step::Failed(id) if id == row),
            "the refused row came back: {step:?}"
        );
    }
    let alerts: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, details_json FROM admin_alerts")
            .fetch_all(app.pool())
            .await
            .unwrap();
    let about_ours: Vec<&str> = alerts
        .iter()
        .filter(|(_, d)| {
            d.as_deref().is_some_and(|d| {
                serde_json::from_str::<serde_json::Value>(d)
                    .ok()
                    .map(|v| v["message_id"].clone())
                    == Some(serde_json::json!(reply.id.0))
            })
        })
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(about_ours, ["new_chat_refused"]);
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = ?")
        .bind(reply.id.0)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(status, "failed");
    // The server saw the message once.
    let sends = sim
        .stanzas()
        .into_iter()
        .filter(|s| s.tag == "message" && s.id == wa_id)
        .count();
    assert_eq!(sends, 1);
    assert!(sim.customer_inbox(CUSTOMER).unwrap().is_empty());
    bridge.shutdown().await;
    sim.shutdown();
}
