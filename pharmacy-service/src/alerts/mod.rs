//! Nobody misses an outage: what the service tells people outside an open inbox.
//!
//! One follower of the live bus ([`Alerts::spawn`]) turns events into:
//! - admin alerts for link states that need a person ([`link`]: a logout, a ban, a 405);
//! - outbound webhook deliveries ([`webhook`]; a worker delivers them, durably): ticket and
//!   message events are queued from the committed tables
//!   ([`App::queue_committed_webhooks`]), the bus only cues it;
//! - e-mail to the admins for every admin alert, when set up ([`mail`]);
//! - Web Push notifications ([`push`]) to the users who opted in: the link down (after
//!   [`AlertsConfig::link_down_grace`], so a reconnect within seconds stays quiet) and up
//!   again, a slow first response to the ticket's agent, a ticket not answered yet that
//!   reaches a queue to its new agent or its branch's agents, and every admin alert to the admins.
//!
//! The agents' in-page banner needs none of this: the live socket carries the link's state
//! to every user (`http::ws`).

pub mod link;
pub mod mail;
pub mod post;
pub mod push;
pub mod webhook;

use crate::app::{App, Audience, Envelope, LiveEvent, is_webhook_cue};
use push::{PushMessage, Pusher, VapidKey};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use webhook::{WebhookPolicy, WebhookWorker};

/// How the alerts behave.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Where the VAPID key is kept (`None`: a key in memory, for tests and tools).
    pub data_dir: Option<PathBuf>,
    /// The webhook worker's retries and limits.
    pub webhooks: WebhookPolicy,
    /// Accept `http:` push endpoints (tests, local development); browsers' are https.
    pub allow_http_push: bool,
    /// The link must stay down this long before "link down" is pushed (30 s).
    pub link_down_grace: Duration,
    /// The contact push services see in the VAPID token.
    pub contact: String,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            data_dir: None,
            webhooks: WebhookPolicy::default(),
            allow_http_push: false,
            link_down_grace: Duration::from_secs(30),
            contact: "mailto:admin@localhost".into(),
        }
    }
}

/// The alerts of one service: cheap to share.
pub struct Alerts {
    app: App,
    config: AlertsConfig,
    pusher: Pusher,
    webhook_wakeup: Arc<Notify>,
    /// Write transactions the webhook queuer took ([`Alerts::queue_transactions`]).
    queue_writes: AtomicU64,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts")
            .field("config", &self.config)
            .field("pusher", &self.pusher)
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// Loads (or makes, once) the VAPID key; starts nothing.
    pub fn new(app: App, config: AlertsConfig) -> Result<Arc<Alerts>, push::PushError> {
        let key = match &config.data_dir {
            Some(dir) => VapidKey::load_or_create(dir)?,
            None => VapidKey::generate(),
        };
        Ok(Arc::new(Alerts {
            pusher: Pusher::new(key, config.contact.clone()),
            app,
            config,
            webhook_wakeup: Arc::new(Notify::new()),
            queue_writes: AtomicU64::new(0),
        }))
    }

    /// Alerts with a VAPID key in memory and the default config (tests, tools).
    pub fn in_memory(app: App) -> Arc<Alerts> {
        Arc::new(Alerts {
            pusher: Pusher::new(VapidKey::generate(), AlertsConfig::default().contact),
            app,
            config: AlertsConfig::default(),
            webhook_wakeup: Arc::new(Notify::new()),
            queue_writes: AtomicU64::new(0),
        })
    }

    /// How many write transactions the webhook queuer has taken (none while no webhook is
    /// enabled: SQLite has one writer, and inbound messages should not queue behind it).
    pub fn queue_transactions(&self) -> u64 {
        self.queue_writes.load(Ordering::Relaxed)
    }

    /// The VAPID public key browsers subscribe with.
    pub fn vapid_public_key(&self) -> String {
        self.pusher.public_key()
    }

    /// Whether `http:` push endpoints are accepted.
    pub fn allow_http_push(&self) -> bool {
        self.config.allow_http_push
    }

    /// The pusher (for a test notification).
    pub fn pusher(&self) -> &Pusher {
        &self.pusher
    }

    /// Starts the bus follower and the webhook worker.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let worker = WebhookWorker::new(
            self.app.clone(),
            self.config.webhooks,
            self.webhook_wakeup.clone(),
        );
        // Subscribed here, not in the task: nothing published after `spawn` returns is missed.
        let rx = self.app.events().subscribe();
        let last = self.app.events().last_seq();
        let this = self.clone();
        vec![
            tokio::spawn(worker.run()),
            tokio::spawn(this.follow(rx, last)),
        ]
    }

    /// Follows the bus (catching up from the ring after a lag) until it closes.
    async fn follow(self: Arc<Self>, mut rx: broadcast::Receiver<Envelope>, mut last: u64) {
        let mut link = LinkWatch::default();
        // The tick's first run is at once: what was committed while no follower ran (a crash,
        // a restart) is queued first. Later ticks retry after a failed run (a busy database)
        // that no new event cues again.
        let mut requeue = tokio::time::interval(REQUEUE_EVERY);
        requeue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = link.down_since.map(|t| t + self.config.link_down_grace);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let envs = tokio::select! {
                r = rx.recv() => match r {
                    Ok(env) => vec![env],
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "alerts fell behind the live events");
                        self.app.events().since(last).0
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = requeue.tick() => {
                    self.queue_committed().await;
                    continue;
                }
                () = sleep => {
                    link.down_since = None;
                    link.pushed_down = true;
                    self.pusher.notify(&self.app, Audience::Everyone, &link_down_message()).await;
                    continue;
                }
            };
            for env in envs {
                if env.seq <= last {
                    continue;
                }
                last = env.seq;
                self.handle(&env, &mut link).await;
            }
        }
    }

    async fn handle(&self, env: &Envelope, link: &mut LinkWatch) {
        if let Err(e) = link::on_event(&self.app, &env.event).await {
            tracing::warn!(error = %e, "link alert");
        }
        if is_webhook_cue(&env.event) {
            self.queue_committed().await;
        }
        match self.app.queue_link_state_webhooks(env).await {
            Ok(true) => self.webhook_wakeup.notify_one(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "link.state deliveries not queued"),
        }
        if let LiveEvent::AdminAlert { alert } = &env.event {
            // On its own task: a slow SMTP server holds up nothing else.
            let (app, alert) = (self.app.clone(), alert.clone());
            tokio::spawn(async move { mail::alert(&app, &alert).await });
        }
        for (audience, msg) in self.pushes(env, link).await {
            self.pusher.notify(&self.app, audience, &msg).await;
        }
    }

    /// Queues the deliveries of what was committed since the last run; wakes the worker.
    async fn queue_committed(&self) {
        match self.app.queue_committed_webhooks(&self.queue_writes).await {
            Ok(0) => {}
            Ok(_) => self.webhook_wakeup.notify_one(),
            // Still in the tables: the next cue or tick picks it up.
            Err(e) => tracing::warn!(error = %e, "webhook deliveries not queued yet"),
        }
    }

    /// The notifications an event calls for.
    async fn pushes(&self, env: &Envelope, link: &mut LinkWatch) -> Vec<(Audience, PushMessage)> {
        let mut out = Vec::new();
        match &env.event {
            LiveEvent::WhatsappStatus { state, .. } => match webhook::public_link_state(state) {
                Some("connected") => {
                    link.down_since = None;
                    if std::mem::take(&mut link.pushed_down) {
                        out.push((Audience::Everyone, link_up_message()));
                    }
                }
                Some("disconnected" | "logged_out" | "temporary_ban" | "store_failed")
                    if link.down_since.is_none() && !link.pushed_down =>
                {
                    link.down_since = Some(tokio::time::Instant::now());
                }
                _ => {}
            },
            LiveEvent::AdminAlert { alert } => {
                let details: serde_json::Value = alert
                    .details_json
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or_default();
                if alert.kind == "delay"
                    && let (Some(ticket), Some(agent)) =
                        (details["ticket_id"].as_i64(), details["agent_id"].as_i64())
                {
                    out.push((
                        Audience::Agent(crate::domain::ids::AgentId(agent)),
                        slow_response_message(ticket),
                    ));
                }
                out.push((
                    Audience::Admins,
                    PushMessage {
                        kind: "alert",
                        ar: ["تنبيه للمشرفين".into(), alert.message.clone()],
                        en: ["Admin alert".into(), alert.message.clone()],
                        url: "#/activity".into(),
                        tag: format!("alert-{}", alert.id),
                    },
                ));
            }
            // A ticket not answered yet reaching someone's queue: its new agent, or the agents
            // of the branch whose queue it joined.
            LiveEvent::TicketAssigned {
                ticket,
                previous_agent,
                ..
            } if ticket.first_response_at.is_none() && *previous_agent != ticket.agent_id => {
                let audience = match (ticket.agent_id, ticket.branch_id) {
                    (Some(a), _) => Some(Audience::Agent(a)),
                    (None, Some(b)) => Some(Audience::Branch(b)),
                    (None, None) => None,
                };
                if let Some(audience) = audience {
                    out.push((audience, new_ticket_message(ticket.id.0)));
                }
            }
            _ => {}
        }
        out
    }
}

/// How often the follower looks for committed events it was not cued for.
const REQUEUE_EVERY: Duration = Duration::from_secs(30);

/// The link's outage as the pushes follow it.
#[derive(Debug, Default)]
struct LinkWatch {
    /// Down since then, "down" not pushed yet.
    down_since: Option<tokio::time::Instant>,
    /// "Down" was pushed: "up" follows when it returns.
    pushed_down: bool,
}

fn link_down_message() -> PushMessage {
    PushMessage {
        kind: "link_down",
        ar: [
            "واتساب غير متصل".into(),
            "الردود في قائمة الانتظار وستُرسل عند عودة الاتصال".into(),
        ],
        en: [
            "WhatsApp is disconnected".into(),
            "Replies are queued and go out when it returns".into(),
        ],
        url: "#/inbox".into(),
        tag: "whatsapp-link".into(),
    }
}

fn link_up_message() -> PushMessage {
    PushMessage {
        kind: "link_up",
        ar: ["عاد اتصال واتساب".into(), "تُرسل الردود المنتظرة الآن".into()],
        en: [
            "WhatsApp is connected again".into(),
            "Queued replies are going out".into(),
        ],
        url: "#/inbox".into(),
        tag: "whatsapp-link".into(),
    }
}

fn slow_response_message(ticket: i64) -> PushMessage {
    PushMessage {
        kind: "slow_response",
        ar: [
            "عميل ينتظر الرد".into(),
            format!("المحادثة {ticket} لم يُرد عليها بعد"),
        ],
        en: [
            "A customer is waiting".into(),
            format!("Ticket {ticket} has no first response yet"),
        ],
        url: format!("#/inbox/{ticket}"),
        tag: format!("ticket-{ticket}"),
    }
}

fn new_ticket_message(ticket: i64) -> PushMessage {
    PushMessage {
        kind: "new_ticket",
        ar: ["محادثة جديدة".into(), format!("محادثة جديدة رقم {ticket}")],
        en: ["New conversation".into(), format!("New ticket {ticket}")],
        url: format!("#/inbox/{ticket}"),
        tag: format!("ticket-{ticket}"),
    }
}
