//! The HTTP API: axum routers per area, one [`ApiError`], auth extractors, the live event
//! socket ([`ws`]) and the OpenAPI document ([`openapi`], served at `/api/openapi.json`).
//!
//! The `serve` and `demo` commands and the tests start it through
//! [`crate::startup::Application::build`], which builds the [`AppState`] from the core, a
//! [`WhatsappLink`] and an [`HttpConfig`] and serves [`router`] with [`server::serve`].
//! Connections get the deadlines and the per-address cap of [`server`]; every request
//! [`HttpConfig::request_timeout`]. [`first_run_admin`] creates the first login on an empty
//! database.
//!
//! The WhatsApp endpoints go through the [`WhatsappLink`] port (`crate::app::ports`: status,
//! QR, pairing code, disconnect); the service implements it over whatsapp-client, the demo
//! over the simulator, tests with [`FakeWhatsapp`] (`crate::whatsapp::fake`). Link state changes reach browsers when the bridge publishes
//! `LiveEvent::WhatsappStatus` on the core's event bus.
//!
//! Every path answers with and without its trailing slash (the slash is trimmed before
//! routing); unknown paths and methods answer the JSON error shape too. Object permissions are
//! in [`access`]; the authorisation-matrix test walks [`openapi::operations`].

pub mod access;
pub mod admin;
pub mod agents;
pub mod alerts;
pub mod analytics;
pub mod answers;
pub mod auth;
pub mod calendar;
pub mod customers;
pub mod email;
pub mod error;
pub mod fields;
pub mod health;
pub mod labels;
pub mod live;
pub mod media;
pub mod media_downloads;
pub mod messages;
pub mod notes;
pub mod openapi;
pub mod pacing;
pub mod page;
pub mod reads;
pub mod server;
/// The ingest webhook's signature (in `domain`: the outbound webhooks sign with it too).
pub use crate::domain::signature;
pub mod switchover;
pub mod tickets;
pub mod ui;
pub mod views;
pub mod whatsapp;
pub mod ws;

pub use auth::{Admin, CurrentUser};
pub use error::{ApiError, ApiResult};
pub use whatsapp::{FakeWhatsapp, LinkState, LinkStatus, WhatsappLink};

use crate::app::App;
use crate::domain::ids::UserId;
use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The longest a browser session lasts, however busy (a shift).
    pub session_ttl: Duration,
    /// A browser session ends after this long without a request.
    pub session_idle: Duration,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Behind a TLS-terminating reverse proxy: the cookie is `Secure` and the throttle trusts
    /// the rightmost `X-Forwarded-For` entry (the one the proxy added).
    pub behind_proxy: bool,
    /// Shared secret for `POST /api/messages/receive` (HMAC-SHA256); `None` disables it.
    pub ingest_secret: Option<Vec<u8>>,
    /// An agent whose last live connection closed goes offline after this long.
    pub presence_grace: Duration,
    /// Largest upload accepted.
    pub max_upload_bytes: usize,
    /// A handler (including reading the request body) taking longer is answered 503.
    pub request_timeout: Duration,
    /// Connection deadlines and the per-address cap.
    pub connections: server::ConnectionLimits,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(30 * 60),
            secure_cookies: false,
            behind_proxy: false,
            ingest_secret: None,
            presence_grace: Duration::from_secs(30),
            max_upload_bytes: 16 * 1024 * 1024,
            // A 16 MiB upload from a slow branch line still fits.
            request_timeout: Duration::from_secs(120),
            connections: server::ConnectionLimits::default(),
        }
    }
}

/// What every handler gets: the core, the WhatsApp link port, settings, live presence.
#[derive(Clone)]
pub struct AppState {
    /// The service core.
    pub app: App,
    /// The WhatsApp link (pairing, status, revoke); the real client or a fake.
    pub whatsapp: Arc<dyn WhatsappLink>,
    /// Settings.
    pub config: Arc<HttpConfig>,
    /// Live connections per agent (presence) and the typing channel.
    pub live: Arc<ws::Live>,
    /// Web Push and webhooks (`crate::alerts`).
    pub alerts: Arc<crate::alerts::Alerts>,
}

impl AppState {
    /// Builds the state, with alerts whose VAPID key lives in memory only (see
    /// [`AppState::with_alerts`]).
    pub fn new(app: App, whatsapp: Arc<dyn WhatsappLink>, config: HttpConfig) -> AppState {
        let alerts = crate::alerts::Alerts::in_memory(app.clone());
        AppState {
            app,
            whatsapp,
            config: Arc::new(config),
            live: Arc::new(ws::Live::default()),
            alerts,
        }
    }

    /// The same state with these alerts (the service's, with its VAPID key kept on disk).
    pub fn with_alerts(mut self, alerts: Arc<crate::alerts::Alerts>) -> AppState {
        self.alerts = alerts;
        self
    }
}

/// Appends an entry to the activity log (the audit trail) for an action that wrote nothing
/// else to the database; a database change logs itself in its use-case's transaction.
pub async fn audit(
    state: &AppState,
    user: Option<UserId>,
    action: &str,
    entity: Option<(&str, i64)>,
    details: serde_json::Value,
) -> ApiResult<()> {
    state.app.log_action(user, action, entity, &details).await?;
    Ok(())
}

/// API answers are private and never sniffed (media set their own caching).
async fn api_headers(mut r: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = r.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Bounds every handler: a client trickling its body, or a stuck query, cannot hold a
/// connection (and its task) forever.
async fn request_deadline(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Unavailable("the request took too long".into()).into_response(),
    }
}

/// Every activity-log entry written while serving the request names the client's address.
async fn record_client_address(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    match peer {
        Some(address) => crate::app::with_client_address(address, next.run(req)).await,
        None => next.run(req).await,
    }
}

/// The API's routes (canonical paths have no trailing slash; [`server::serve`] trims it).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/openapi.json", get(openapi::document))
        .route("/ws", get(ws::socket))
        .merge(auth_routes())
        .merge(tickets::routes())
        .merge(messages::routes())
        .merge(media_downloads::routes())
        .merge(customers::routes())
        .merge(labels::routes())
        .merge(agents::routes())
        .merge(analytics::routes())
        .merge(whatsapp::routes())
        .merge(admin::routes())
        .merge(reads::routes())
        .merge(calendar::routes())
        .merge(pacing::routes())
        .merge(notes::routes())
        .merge(switchover::routes())
        .merge(alerts::routes())
        .merge(email::routes())
        .layer(axum::middleware::map_response(api_headers))
        .layer(axum::middleware::from_fn(record_client_address));
    // ---- UI: the UI helper merges its pages here, e.g. `.merge(ui::router(state.clone()))`.
    let api = api.merge(ui::router());
    // ---- end UI
    api.fallback(error::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.max_upload_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .with_state(state)
}

fn auth_routes() -> Router<AppState> {
    use axum::routing::{delete, post};
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/register", post(auth::register))
        .route("/auth/profile", get(auth::profile))
        .route("/auth/password", post(auth::change_password))
        .route("/api/users", get(auth::list_users))
        .route("/api/users/{id}/password", post(auth::reset_password))
        .route("/api/users/{id}/active", post(auth::set_active))
        .route(
            "/api/tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route("/api/tokens/{id}", delete(auth::revoke_token))
}

fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// First run: when there is no user at all, creates the `admin` login with the password from
/// `PHARMACY_ADMIN_PASSWORD` (or a random one) and returns (username, password) to print.
pub async fn first_run_admin(app: &App) -> Result<Option<(String, String)>, crate::app::AppError> {
    first_run_admin_with(app, std::env::var("PHARMACY_ADMIN_PASSWORD").ok()).await
}

/// [`first_run_admin`] with the password given (from the configuration); `None`, or one
/// shorter than 8 characters, means a random one, which must be changed at the first login.
pub async fn first_run_admin_with(
    app: &App,
    password: Option<String>,
) -> Result<Option<(String, String)>, crate::app::AppError> {
    if app.has_users().await? {
        return Ok(None);
    }
    let given = password.filter(|p| p.chars().count() >= 8);
    let generated = given.is_none();
    let password = given.unwrap_or_else(|| auth::random_secret()[..16].to_owned());
    let (id, _) = app
        .create_user(
            &crate::app::NewUser {
                username: "admin".into(),
                name: "Administrator".into(),
                email: None,
                password: password.clone(),
                role: crate::app::Role::Admin,
                branch_id: None,
                capacity: None,
            },
            None,
        )
        .await?;
    if generated {
        // A password printed on a console is known to whoever saw it: the admin replaces it
        // at the first login (issue 19, item 10).
        app.require_password_change(id).await?;
    }
    Ok(Some(("admin".into(), password)))
}
