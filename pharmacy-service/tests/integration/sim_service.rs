//! The service wired to whatsapp-sim as in production: the real client (through the bridge)
//! paired by the sim's phone, the paced outbox worker sending through it. For tests that look
//! at what reaches a simulated customer's phone (pacing, the CSAT survey).

use super::bridge::eventually;
use super::support::TempDir;
use pharmacy_service::app::{App, SeedOptions, ServiceConfig, SystemClock};
use pharmacy_service::db;
use pharmacy_service::db::agents::Agent;
use pharmacy_service::domain::ids::TicketId;
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::http::whatsapp::{LinkState, WhatsappLink};
use pharmacy_service::whatsapp::OutboxWorker;
use pharmacy_service::whatsapp::bridge::WhatsappBridge;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

/// The pharmacy's number.
pub const PHARMACY: &str = "201001234567";

/// Whether a customer's inbox names the pharmacy as the sender: by its number, or by its LID
/// (the client writes to a number whose LID it knows at the LID, as itself by LID).
pub fn from_pharmacy(sim: &SimHandle, from: &str) -> bool {
    let lid = sim
        .devices()
        .into_iter()
        .find(|a| a.phone == PHARMACY)
        .map(|a| a.lid.split('@').next().unwrap_or_default().to_owned());
    let user = from.split(['@', ':']).next().unwrap_or_default();
    user == PHARMACY || lid.is_some_and(|lid| user == lid)
}

/// A running service on the sim.
pub struct SimService {
    /// The service core.
    pub app: App,
    /// The simulator.
    pub sim: SimHandle,
    /// The one agent online (tickets go to them).
    pub agent: Agent,
    bridge: Arc<WhatsappBridge>,
    stop: watch::Sender<bool>,
    worker: JoinHandle<()>,
    _dir: TempDir,
}

impl SimService {
    /// Fresh database with the demo seed, one agent online, no branch menu, out-of-office or
    /// rosters (so every conversation goes straight to that agent), the given pacing; the
    /// client paired and connected.
    pub async fn start(pacing: PacingPolicy) -> SimService {
        let dir = TempDir::new();
        let config = ServiceConfig {
            pacing,
            media_dir: dir.0.join("media"),
            use_shifts: false,
            out_of_office_enabled: false,
            branch_menu_enabled: false,
            ..ServiceConfig::default()
        };
        let app = App::open(&dir.0.join("pharmacy.db"), Arc::new(SystemClock), config)
            .await
            .unwrap();
        app.seed_demo(&SeedOptions::default()).await.unwrap();
        let agent = {
            let mut c = app.pool().acquire().await.unwrap();
            db::agents::list(&mut c).await.unwrap().remove(0)
        };
        app.set_agent_status(agent.id, AgentStatus::Online, None)
            .await
            .unwrap();
        let sim = Sim::start(SimConfig::default()).await.expect("sim");
        let mut wa = whatsapp_client::Config::default()
            .with_url(sim.ws_url.clone())
            .with_trust_root(sim.root_public_key);
        wa.media_base_url = Some(format!("http://{}", sim.ws_addr));
        let store = Arc::new(whatsapp_client::store::MemoryStore::new());
        let bridge = WhatsappBridge::start(app.clone(), store, wa)
            .await
            .expect("bridge");
        let qr = eventually("a QR code", || async { bridge.qr_code().await.unwrap() }).await;
        sim.scan(&qr, PHARMACY).await.expect("scan");
        assert!(
            bridge
                .wait_for(Duration::from_secs(90), |s| s.state == LinkState::Connected)
                .await,
            "connected after the scan"
        );
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(OutboxWorker::new(app.clone(), bridge.clone(), 11).run(stopped));
        SimService {
            app,
            sim,
            agent,
            bridge,
            stop,
            worker,
            _dir: dir,
        }
    }

    /// A new simulated customer writes `text`; returns the ticket (assigned to [`Self::agent`])
    /// and the WhatsApp id of the message.
    pub async fn customer_writes(&self, phone: &str, name: &str, text: &str) -> (TicketId, String) {
        self.sim.add_customer(phone, name, 1, false).unwrap();
        let wa_id = self
            .sim
            .customer_send(phone, PHARMACY, Outgoing::Text(text.into()), None)
            .unwrap();
        let ticket = eventually("the customer's ticket", || async {
            let mut c = self.app.pool().acquire().await.ok()?;
            sqlx::query_scalar::<_, i64>("SELECT ticket_id FROM messages WHERE wa_id = ?")
                .bind(&wa_id)
                .fetch_optional(&mut *c)
                .await
                .ok()
                .flatten()
                .map(TicketId)
        })
        .await;
        eventually("the ticket on the online agent", || async {
            let t = self.app.ticket_detail(ticket).await.ok()?.ticket;
            (t.agent_id == Some(self.agent.id)).then_some(())
        })
        .await;
        (ticket, wa_id)
    }

    /// Stops the worker (after the send in progress), the client and the sim.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.worker.await.unwrap();
        self.bridge.shutdown().await;
        self.sim.shutdown();
    }
}

/// The service names itself on WhatsApp with its `whatsapp_name` setting (default
/// "Pharmacy"): the phone lists the linked device under that name (it read "whatsapp-rs"), and
/// once connected the service announces itself available with it as its presence (push) name,
/// and again under a new name when it changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pharmacys_name_is_the_linked_devices_and_the_push_name() {
    let svc = SimService::start(PacingPolicy::fast()).await;
    let name = svc.app.config().whatsapp_name.clone();
    assert_eq!(name, pharmacy_service::app::DEFAULT_WHATSAPP_NAME);
    let account = svc
        .sim
        .devices()
        .into_iter()
        .find(|a| a.phone == PHARMACY)
        .expect("the pharmacy's account");
    let platforms: Vec<&str> = account
        .devices
        .iter()
        .map(|d| d.platform.as_str())
        .collect();
    assert_eq!(platforms, [name.as_str()]);
    let presence = eventually("our presence", || async {
        svc.sim.stanzas().into_iter().find(|s| s.tag == "presence")
    })
    .await;
    assert_eq!(presence.kind, "available");
    assert_eq!(presence.attrs.get("name"), Some(&name));
    // A changed name is announced at once through the port (`PATCH /api/settings` does this).
    let renamed = "صيدلية مصر";
    svc.bridge.announce_name(renamed).await.unwrap();
    let again = eventually("our presence under the new name", || async {
        svc.sim.stanzas().into_iter().find(|s| {
            s.tag == "presence" && s.attrs.get("name").map(String::as_str) == Some(renamed)
        })
    })
    .await;
    assert_eq!(again.kind, "available");
    svc.shutdown().await;
}
