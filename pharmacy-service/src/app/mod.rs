//! Use-cases. Each public method of [`App`] is one transaction: it reads and writes through
//! `db`, decides through `domain`, commits, and only then publishes live events and wakes the
//! outbox worker. The HTTP layer, the WhatsApp bridge and the alerts call these and nothing
//! below them (`layering_tests`); the records they show are re-exported here.
//!
//! | area | use-cases |
//! |---|---|
//! | WhatsApp in | [`App::handle_inbound`] (messages, edits, revokes, reactions, receipts; ack after `Ok`), [`App::store_media`], [`App::media_path`] |
//! | replies | [`App::send_reply`] (never waits on WhatsApp), [`App::revoke_message`], [`App::decide_held`], [`App::held_messages`] |
//! | tickets | [`App::close_ticket`], [`App::set_pending`], [`App::reopen_ticket`], [`App::transfer_ticket`], [`App::assign_ticket`], [`App::create_ticket`], [`App::patch_ticket`], [`App::delete_ticket`], [`App::add_ticket_note`] |
//! | agents | [`App::set_agent_status`] (online hands out the backlog), [`App::assign_backlog`], [`App::update_agent`], [`App::agent_can_see`] |
//! | customers | [`App::create_customer`], [`App::patch_customer`], [`App::add_customer_note`], [`App::add_customer_tag`], [`App::customer_history`] |
//! | access | [`App::readable_ticket`], [`App::workable_ticket`], [`App::readable_message`], [`App::readable_customer`], [`App::readable_media`], [`App::serves`] (the rules of `access`, for a [`Caller`]) |
//! | reading | [`App::inbox`], [`App::mark_read`], [`App::ticket_notes`], [`App::message_detail`], [`App::ticket_messages_before`], [`App::retry_media_download`], [`App::customers_page`], [`App::customer_detail`], [`App::list_tickets`], [`App::ticket_detail`], [`App::ticket_messages`], [`App::search_messages`], [`App::search_messages_in`], [`App::search_customers`] |
//! | KPIs | [`App::kpi_report`] (SQL), [`App::kpi_fold`] (the definition), [`App::kpi_by_branch`], [`App::roll_up_kpis`], [`App::dashboard`], [`App::customer_figures`] |
//! | jobs | [`App::run_jobs`] (delays + reassignment, auto-close, backlog), [`App::spawn_scheduler`] |
//! | outbox | [`App::outbox_enqueued`], [`App::outbox_depth`], [`App::outbox_paused_until`], [`App::pause_outbox`], [`App::resume_outbox`]; for the worker (`whatsapp::OutboxWorker`, which decides): [`App::outbox_next_due`], [`App::outbox_next_revoke`], [`App::outbox_hold_for_cap`], [`App::settle_send`], [`App::settle_revoke`] |
//! | media downloads | for the worker (`whatsapp::media_worker`, which decides): [`App::due_downloads`], [`App::next_download_after`], [`App::settle_download`] |
//! | templates | [`App::templates_for`], [`App::save_template`], [`App::delete_template`], [`App::all_auto_replies`], [`App::add_auto_reply`], [`App::delete_auto_reply`] (access checked here; each change logged in its transaction) |
//! | directory | [`App::agents`], [`App::agent`], [`App::branches`], [`App::branch`], [`App::save_branch`], [`App::users`], [`App::active_user`] |
//! | push, webhooks | [`App::subscribe_push`], [`App::push_subscriptions`], [`App::unsubscribe_push`], [`App::webhooks`], [`App::create_webhook`], [`App::update_webhook`], [`App::delete_webhook`], [`App::webhook_deliveries`]; for `alerts` (which posts and decides): [`App::push_audience`], [`App::forget_push_subscription`], [`App::queue_committed_webhooks`], [`App::queue_link_state_webhooks`], [`App::due_webhook_deliveries`], [`App::next_webhook_delivery`], [`App::webhook_target`], [`App::settle_webhook_delivery`] |
//! | sessions | [`App::start_session`], [`App::session`], [`App::end_session`], [`App::create_api_token`], [`App::api_tokens`], [`App::use_api_token`], [`App::revoke_api_token`], [`App::set_user_active`] |
//! | admin | [`App::activity`], [`App::open_alerts`], [`App::raise_alert`], [`App::raise_alert_once`], [`App::acknowledge_alert`], [`App::create_user`], [`App::authenticate`], [`App::settings`], [`App::update_settings`], [`App::stored_setting`], [`App::save_stored_setting`], [`App::seed_demo`] |
//! | live | [`App::events`]: [`EventBus::subscribe`], [`EventBus::since`] (resume by sequence number) |

mod access;
mod activity;
mod assignment;
mod auth;
mod calendar;
mod calls;
mod chat_updates;
mod clock;
mod content;
mod customers;
mod dashboard;
mod directory;
mod events;
mod inbound;
mod inbox;
mod jobs;
mod kpi;
mod labels;
mod media_downloads;
mod media_store;
mod outbound;
mod outbox;
mod passwords;
mod ports;
mod presence;
mod queries;
mod seed;
mod sessions;
mod settings;
mod switchover;
mod templates;
mod tickets;
mod webhook_deliveries;
mod webhooks;

pub use access::{Caller, ReadableMedia};
pub use assignment::TransferTarget;
pub use auth::{LoginOutcome, NewUser, normalize_username};
pub use calls::{CallSettings, CallSettingsPatch, CallSettingsView, invalid_call_setting};
pub use clock::{Clock, ManualClock, SteadyClock, SystemClock};
pub use customers::{CustomerDetail, CustomerHistory};
pub use dashboard::Dashboard;
pub use events::{Envelope, EventBus, LiveEvent};
pub use inbound::{
    ContactCardIn, EditInto, EditedInto, InboundContent, InboundEvent, InboundMessage,
    InboundOutcome, MediaFetch, ReceiptStatus, Sender,
};
pub use inbox::{InboxItem, MessageDetail, ReadMark};
pub use jobs::JobReport;
pub use kpi::{CustomerFigures, KpiQuery, KpiReport, KpiRow, RatingSummary};
pub use labels::{LabelPatch, LabelReport};
pub use media_downloads::{DownloadOutcome, PendingDownload};
pub use media_store::{LocalDisk, MediaDisk, is_disk_full};
pub use outbound::SendReply;
pub use outbox::{OutboxRow, RevokeOutcome, RevokeRow, SendOutcome};
pub use passwords::{PasswordWork, hash_password, verify_password};
pub use ports::{
    DisconnectRecord, LinkDetail, LinkError, LinkFuture, LinkState, LinkStatus, Messenger,
    OutgoingMedia, OutgoingMessage, RECENT_DISCONNECTS, SendError, WhatsappLink,
};
pub use queries::{TicketDetail, TicketSummary};
pub use seed::{DemoCredentials, SeedOptions, default_branches};
pub use sessions::SessionLimits;
pub use settings::{Settings, SettingsPatch};
pub use switchover::{
    BranchCheck, BranchGap, BranchSetup, BranchSuggestion, CarryOverDecision, LEGACY_PREFIX,
    LegacyBranch, MapTarget, PLACEHOLDER_LOCATION, SwitchoverStatus,
};
pub use templates::{NewAutoReply, TemplateEditor, TemplateInput};
pub use webhook_deliveries::{
    DeliveryOutcome, is_webhook_cue, public_link_state, webhook_events_of,
};
pub use webhooks::{PushSubscription, WebhookChange};

// The stored records the use-cases take and answer with: defined next to their queries in `db`,
// named here for the layers above, which name nothing of `db` (see `layering_tests`).
pub use crate::db::activity::{ActivityEntry, ActivityFilter, Alert, with_client_address};
pub use crate::db::agents::Agent;
pub use crate::db::branches::{Branch, Holiday, NewBranch};
pub use crate::db::customers::{Customer, CustomerNote, CustomerPatch};
pub use crate::db::labels::{Label, LabelFigure};
pub use crate::db::messages::Message;
pub use crate::db::push::{Audience, Subscription as StoredPushSubscription};
pub use crate::db::sessions::{ApiToken, NewSession};
pub use crate::db::templates::{StoredTrigger, Template};
pub use crate::db::tickets::{NoteEntry, Ticket, TicketFilter, TicketNote};
pub use crate::db::users::{Role, User};
pub use crate::db::webhooks::{Delivery, Webhook};

use crate::db::{self, DbError};
use crate::domain::pacing::PacingPolicy;
use crate::domain::routing::RoutingPolicy;
use crate::domain::ticket::TransitionError;
use crate::domain::time::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Service configuration (compiled defaults; the binary layers file/env/flags over them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// IANA zone for days, hours and KPIs (built-in tz data).
    pub time_zone: String,
    /// A customer writing within this long after closing reopens the ticket.
    pub reopen_window: Duration,
    /// A returning customer goes back to the same agent within this long.
    pub stickiness: Duration,
    /// No first response this long after assignment -> delay event and reassignment.
    pub first_response_timeout: Duration,
    /// Open or pending tickets idle this long are closed (zero = never).
    pub auto_close_after: Duration,
    /// Survey replies are accepted this long after closing.
    pub csat_window: Duration,
    /// Send the satisfaction survey on close.
    pub csat_enabled: bool,
    /// Send the greeting on a new conversation.
    pub greeting_enabled: bool,
    /// Send out-of-office replies outside branch hours.
    pub out_of_office_enabled: bool,
    /// Offer the branch menu to a new customer whose branch is unknown.
    pub branch_menu_enabled: bool,
    /// Whether rosters limit routing.
    pub use_shifts: bool,
    /// Whether a ticket may go to another branch when its own has nobody.
    pub cross_branch_fallback: bool,
    /// What the service does about customers' calls (runtime setting).
    #[serde(default)]
    pub calls: CallSettings,
    /// The name the service gives itself on WhatsApp (runtime setting): the linked device's
    /// name on the pharmacy's phone (set when linking) and the presence (push) name the client
    /// announces. Not guaranteed to be the name customers see, which is the phone account's
    /// profile name.
    pub whatsapp_name: String,
    /// Outbox pacing.
    pub pacing: PacingPolicy,
    /// Where media files live (content-addressed).
    pub media_dir: PathBuf,
    /// Password hashes run at once (each takes 46 MiB); fixed when the [`App`] is built.
    #[serde(default = "passwords::default_permits")]
    pub password_hashes: usize,
}

/// [`ServiceConfig::whatsapp_name`] until an admin names the pharmacy.
pub const DEFAULT_WHATSAPP_NAME: &str = "Pharmacy";

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            time_zone: "Africa/Cairo".into(),
            reopen_window: Duration::from_secs(12 * 3600),
            stickiness: Duration::from_secs(7 * 86_400),
            first_response_timeout: Duration::from_secs(10 * 60),
            auto_close_after: Duration::from_secs(3 * 86_400),
            csat_window: Duration::from_secs(24 * 3600),
            csat_enabled: true,
            greeting_enabled: true,
            out_of_office_enabled: true,
            branch_menu_enabled: true,
            use_shifts: true,
            cross_branch_fallback: true,
            calls: CallSettings::default(),
            whatsapp_name: DEFAULT_WHATSAPP_NAME.into(),
            pacing: PacingPolicy::production(),
            media_dir: PathBuf::from("media"),
            password_hashes: passwords::default_permits(),
        }
    }
}

/// A use-case failure, split by blame so the HTTP layer can map it (404, 409, 422, 500).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The object does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// `ticket`, `agent`, ...
        entity: &'static str,
        /// Its id.
        id: i64,
    },
    /// The request is malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The lifecycle does not allow it.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Storage failed (locked database, full disk...).
    #[error(transparent)]
    Db(#[from] DbError),
    /// A file could not be written or read.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A stored media file no longer hashes to its name (reported as an admin alert).
    #[error("the stored media file {0} is damaged")]
    MediaCorrupt(String),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::Db(DbError::Sqlx(e))
    }
}

/// Customer and ticket notes share one rule: a note must say something.
pub(crate) fn check_note_body(body: &str) -> Result<(), AppError> {
    if body.trim().is_empty() {
        return Err(AppError::Invalid {
            field: "body",
            message: "empty note".into(),
        });
    }
    Ok(())
}

pub(crate) fn not_found(entity: &'static str, id: i64) -> AppError {
    AppError::NotFound { entity, id }
}

struct Inner {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
    events: EventBus,
    config: std::sync::RwLock<Arc<ServiceConfig>>,
    tz: TimeZone,
    outbox_wakeup: Notify,
    passwords: PasswordWork,
    media_wakeup: Notify,
    media_disk: std::sync::RwLock<Arc<dyn MediaDisk>>,
    media_disk_full: std::sync::atomic::AtomicBool,
}

/// The service core: cheap to clone, shared by the HTTP layer, the bridge and the workers.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

impl App {
    /// Builds the core over an open, migrated pool.
    pub fn new(
        pool: SqlitePool,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Result<App, AppError> {
        let tz = crate::domain::time::time_zone(&config.time_zone)
            .ok_or_else(|| AppError::Config(format!("unknown time zone {}", config.time_zone)))?;
        let passwords = PasswordWork::new(config.password_hashes);
        Ok(App {
            inner: Arc::new(Inner {
                passwords,
                pool,
                clock,
                events: EventBus::new(4096),
                config: std::sync::RwLock::new(Arc::new(config)),
                tz,
                outbox_wakeup: Notify::new(),
                media_wakeup: Notify::new(),
                media_disk: std::sync::RwLock::new(Arc::new(LocalDisk)),
                media_disk_full: Default::default(),
            }),
        })
    }

    /// Opens (creating and migrating) the database file at `path` and builds the core.
    pub async fn open(
        path: &std::path::Path,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Result<App, AppError> {
        let pool = db::open(path).await?;
        let app = App::new(pool, clock, config)?;
        app.load_settings().await?;
        Ok(app)
    }

    /// The database pool (for read-only queries the app does not wrap yet).
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    /// The gate every password hash passes (its bound and high-water mark).
    pub fn passwords(&self) -> &PasswordWork {
        &self.inner.passwords
    }

    /// The live event bus.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// The configuration in force (runtime settings applied; see [`App::update_settings`]).
    pub fn config(&self) -> Arc<ServiceConfig> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn replace_config(&self, config: ServiceConfig) {
        *self.inner.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// The configured time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.inner.tz
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Resolves when something was enqueued (the outbox worker waits on this).
    pub async fn outbox_enqueued(&self) {
        self.inner.outbox_wakeup.notified().await
    }

    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox_wakeup.notify_one();
    }

    /// Resolves when an attachment was queued for download (the media worker waits on this).
    pub async fn media_queued(&self) {
        self.inner.media_wakeup.notified().await
    }

    /// Wakes the media worker (after a commit that queued a download).
    pub fn wake_media_worker(&self) {
        self.inner.media_wakeup.notify_one();
    }

    pub(crate) fn routing_policy(&self) -> RoutingPolicy {
        let cfg = self.config();
        RoutingPolicy {
            stickiness: cfg.stickiness,
            time_zone: self.inner.tz.clone(),
            use_shifts: cfg.use_shifts,
            cross_branch_fallback: cfg.cross_branch_fallback,
        }
    }

    /// A write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two writers
    /// queue on the busy timeout instead of failing on a read-to-write upgrade.
    pub(crate) async fn begin(&self) -> Result<Tx, AppError> {
        Ok(self.inner.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// A read connection.
    pub(crate) async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, AppError> {
        Ok(self.inner.pool.acquire().await?)
    }

    pub(crate) fn publish_all(&self, events: Vec<LiveEvent>) {
        for e in events {
            self.inner.events.publish(self.now(), e);
        }
    }
}
