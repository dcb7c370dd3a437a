//! `serve`'s wiring from the resolved [`Settings`]: the instance lock, the database, the first
//! admin, the real WhatsApp client, the outbox worker, the scheduler, retention, alerts, and
//! the HTTP API through [`Application::build`].

use super::{Application, Config, Running};
use crate::alerts::{Alerts, AlertsConfig};
use crate::app::{App, AppError, ServiceConfig, SteadyClock, SystemClock};
use crate::http::HttpConfig;
use crate::ops::config::{MEDIA_DIR, SESSION_FILE, Settings};
use crate::ops::lock::{InstanceLock, LockError};
use crate::whatsapp::OutboxWorker;
use crate::whatsapp::bridge::{BridgeError, WhatsappBridge};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The configuration is refused (`bind`, the ingest secret, the trust root).
    #[error(transparent)]
    Config(#[from] crate::ops::config::ConfigError),
    /// A setting is unusable.
    #[error("{0}")]
    Setting(String),
    /// The data directory could not be made.
    #[error("creating {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process uses the data directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The database or the first admin.
    #[error(transparent)]
    App(#[from] AppError),
    /// The listening socket.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The WhatsApp session store.
    #[error("opening the WhatsApp session store: {0}")]
    SessionStore(String),
    /// The WhatsApp client.
    #[error("starting the WhatsApp client: {0}")]
    Bridge(#[from] BridgeError),
    /// The Web Push (VAPID) key.
    #[error("the Web Push (VAPID) key: {0}")]
    Push(#[from] crate::alerts::push::PushError),
}

/// The core's settings from the resolved configuration.
pub fn service_config(s: &Settings) -> ServiceConfig {
    ServiceConfig {
        media_dir: s.data_dir.join(MEDIA_DIR),
        pacing: s.pacing.policy(),
        ..ServiceConfig::default()
    }
}

/// Creates the data directory and opens (creating or migrating) the database on the system
/// clock.
pub async fn open_app(s: &Settings) -> Result<App, StartupError> {
    std::fs::create_dir_all(&s.data_dir).map_err(|source| StartupError::DataDir {
        path: s.data_dir.clone(),
        source,
    })?;
    Ok(App::open(
        &s.db_path(),
        Arc::new(SteadyClock::new(Arc::new(SystemClock))),
        service_config(s),
    )
    .await?)
}

/// The HTTP settings from the resolved configuration.
pub fn http_config(s: &Settings) -> HttpConfig {
    HttpConfig {
        // Other gateways may post signed messages to /api/messages/receive.
        ingest_secret: s.ingest_secret.clone().map(String::into_bytes),
        secure_cookies: s.secure_cookies,
        behind_proxy: s.behind_proxy,
        session_idle: Duration::from_secs(u64::from(s.session_idle_minutes) * 60),
        session_ttl: Duration::from_secs(u64::from(s.session_max_hours) * 3600),
        ..HttpConfig::default()
    }
}

/// The running service of `serve`.
pub struct Service {
    /// `http://ADDR`.
    pub url: String,
    /// The first admin's login, when this start created it (to print once).
    pub admin: Option<(String, String)>,
    /// The HTTP server.
    pub http: Running,
    bridge: Arc<WhatsappBridge>,
    stop_outbox: watch::Sender<bool>,
    outbox: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    lock: InstanceLock,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Starts everything; the HTTP server is accepting connections when this returns.
    pub async fn start(s: &Settings) -> Result<Service, StartupError> {
        s.check_bind()?;
        if let Some(secret) = &s.ingest_secret {
            crate::domain::signature::check_secret(secret.as_bytes()).map_err(|m| {
                StartupError::Setting(format!("{m} (--ingest-secret / PHARMACY_INGEST_SECRET)"))
            })?;
        }
        std::fs::create_dir_all(&s.data_dir).map_err(|source| StartupError::DataDir {
            path: s.data_dir.clone(),
            source,
        })?;
        let lock = InstanceLock::acquire(&s.data_dir).await?;
        crate::ops::permissions::check_data_dir(&s.data_dir);
        let app = open_app(s).await?;
        let admin = crate::http::first_run_admin_with(&app, s.admin_password.clone()).await?;
        let mut tasks = vec![app.spawn_scheduler(Duration::from_secs(30))];
        if s.media_retention_days > 0 {
            tasks.push(crate::ops::retention::spawn(
                s.data_dir.join(MEDIA_DIR),
                s.media_retention_days,
            ));
        }
        if s.webhook_log_days > 0 {
            tasks.push(crate::ops::retention::spawn_webhook_log(
                app.clone(),
                s.webhook_log_days,
            ));
        }
        let bridge = start_whatsapp(&app, s).await?;
        let (stop_outbox, outbox_stop) = watch::channel(false);
        let outbox = tokio::spawn(
            OutboxWorker::new(app.clone(), bridge.clone(), rand::random()).run(outbox_stop),
        );
        let alerts = Alerts::new(
            app.clone(),
            AlertsConfig {
                data_dir: Some(s.data_dir.clone()),
                ..AlertsConfig::default()
            },
        )?;
        tasks.extend(alerts.spawn());
        let listen = SocketAddr::from((s.bind, s.port));
        let application = Application::build(Config {
            listen,
            http: http_config(s),
            alerts: Some(alerts),
            ..Config::new(app, bridge.clone())
        })
        .await
        .map_err(|source| StartupError::Bind {
            addr: listen,
            source,
        })?;
        Ok(Service {
            url: application.url(),
            admin,
            http: application.spawn(),
            bridge,
            stop_outbox,
            outbox,
            tasks,
            lock,
        })
    }

    /// Stops accepting connections, lets open requests finish (at most `drain`), finishes
    /// the send in progress, closes the WhatsApp socket cleanly.
    pub async fn shutdown(self, drain: Duration) {
        tracing::info!("stopping: no new connections");
        if let Err(e) = self.http.stop(drain).await {
            tracing::warn!(error = %e, "the HTTP server");
        }
        let _ = self.stop_outbox.send(true);
        let _ = self.outbox.await;
        self.bridge.shutdown().await;
        for t in self.tasks {
            t.abort();
        }
        self.lock.release().await;
    }
}

/// The real WhatsApp client over `DIR/whatsapp-session.db`, bridged to the app.
async fn start_whatsapp(app: &App, s: &Settings) -> Result<Arc<WhatsappBridge>, StartupError> {
    let mut config =
        whatsapp_client::Config::default().with_version_url(whatsapp_client::DEFAULT_VERSION_URL);
    if let Some(url) = &s.wa_url {
        config = config.with_url(url.clone());
        if let Some(rest) = url.strip_prefix("ws://") {
            // A sim serves media and WhatsApp Web's page over plain HTTP on its WebSocket port.
            let host = rest.split('/').next().unwrap_or(rest);
            if s.media_url.is_none() {
                config.media_base_url = Some(format!("http://{host}"));
            }
            config.version_url = Some(format!("http://{host}/"));
        }
    }
    if let Some(url) = &s.wa_version_url {
        config.version_url = Some(url.clone());
    }
    if let Some(v) = &s.wa_version {
        let version = whatsapp_client::AppVersion::parse(v).ok_or_else(|| {
            StartupError::Setting(format!(
                "--wa-version takes a.b.c (e.g. 2.3000.1045649367), not {v:?}"
            ))
        })?;
        config = config.with_app_version(version);
    }
    if let Some(hex) = &s.trust_root {
        let root = whatsapp_client::Config::parse_trust_root(hex).ok_or_else(|| {
            StartupError::Setting(
                "--trust-root takes 64 hex digits (or 66 with the 05 prefix)".into(),
            )
        })?;
        config = config.with_trust_root(root);
    }
    if let Some(m) = &s.media_url {
        config.media_base_url = Some(m.clone());
    }
    config.media_max_bytes = s.media_max_mb.saturating_mul(1 << 20);
    let store = whatsapp_client::store::SqliteStore::open(s.data_dir.join(SESSION_FILE))
        .await
        .map_err(|e| StartupError::SessionStore(e.to_string()))?;
    Ok(WhatsappBridge::start(app.clone(), Arc::new(store), config).await?)
}
