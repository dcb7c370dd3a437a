//! A simulated WhatsApp server and phones speaking the real wire protocol on loopback.
//!
//! [`Sim::start`] opens a WebSocket endpoint `/ws/chat` (the intro header, the Noise XX
//! handshake as responder with the sim's own certificate chain, encrypted binary nodes) and a
//! JSON control API on a second port. Behind them live accounts (a phone number, a LID, a
//! simulated primary phone) with their linked companions, the prekeys each device published,
//! and a relay with per-device offline queues. Simulated customers are accounts whose every
//! device is a [`whatsapp_client::Client`] logged in over loopback: they encrypt, upload, fan
//! out, decrypt and download with the client's own code, through the same server paths as any
//! device.
//!
//! Each account's phone also plays its part in app-state and history sync ([`appstate`],
//! [`history`]): after a companion's first prekey upload it shares its app-state keys and sends
//! history-sync notifications, and the server keeps the account's app-state collections.
//!
//! The sim is honest: it refuses what the real server refuses (unknown or removed devices get
//! `<failure reason="401">`, a second connection replaces the first, a bad device signature
//! fails pairing) and offers no shortcut a real server would not.
//!
//! ```no_run
//! # async fn demo() -> Result<(), whatsapp_sim::SimError> {
//! use whatsapp_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! println!("connect to {} trusting {}", sim.ws_url, hex::encode(sim.root_public_key));
//! // ... a client connects and shows a QR string `qr` ...
//! # let qr = String::new();
//! let jid = sim.scan(&qr, "201001234567").await?;
//! sim.add_customer("201112223334", "Mona", 1, false)?;
//! sim.customer_send("201112223334", "201001234567", whatsapp_sim::device::Outgoing::Text("hi".into()), None)?;
//! # let _ = jid; Ok(()) }
//! ```

pub mod appstate;
pub mod control;
mod control_stanzas;
mod customer;
mod customer_content;
mod customer_send;
pub mod device;
pub mod history;
pub mod phone;
pub mod shapes;
pub mod testing;

mod conn;
mod fault;
mod groups;
mod media_range;
mod records;
mod stanza_control;
mod state;
mod token_control;

pub use fault::Fault;
pub use records::{
    AccountInfo, ChatStateRecord, DeviceInfo, InboxEntry, MediaDetails, SentEntry, StanzaRecord,
};
pub use state::CallRecord;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{State as AxumState, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;
use rand::rngs::OsRng;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::{HandshakeConfig, cert};
use whatsapp_proto::xeddsa;

use crate::state::{Settings, State};

/// Errors of the library API (the HTTP API maps them to 4xx answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        reason: String,
    },
    /// The request is malformed or refers to something the server refuses.
    #[error("{0}")]
    BadRequest(String),
    /// No account with this phone number (or JID).
    #[error("unknown account {0}")]
    UnknownAccount(String),
    /// No such device.
    #[error("unknown device {0}")]
    UnknownDevice(String),
    /// Pairing did not complete: the companion refused, or its answer failed a check.
    #[error("pairing refused: {0}")]
    PairingRefused(String),
    /// Missing or wrong credentials (media auth).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The companion did not answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

/// How to run the sim.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// WebSocket (and media) port on 127.0.0.1; 0 picks a free port.
    pub ws_port: u16,
    /// Control API port on 127.0.0.1; 0 picks a free port; `None` runs no control listener.
    pub control_port: Option<u16>,
    /// The root private key of the certificate chain; random when `None`.
    pub root_private_key: Option<[u8; 32]>,
    /// How long the first QR ref is valid (60 s, whatsmeow `qrchan.go`).
    pub qr_first_ref: Duration,
    /// How long each later ref is valid (20 s).
    pub qr_next_ref: Duration,
    /// How many refs a `pair-device` IQ carries (6).
    pub ref_count: usize,
    /// A companion whose server-side prekey count drops below this is notified (5).
    pub prekey_low_threshold: usize,
    /// Logins with an older app version get `<failure reason="405">`.
    pub min_app_version: Option<[u32; 3]>,
    /// The `client_revision` the sim's WhatsApp Web page (`GET /` on the WebSocket port)
    /// announces, as web.whatsapp.com's does: clients read the current version `2.3000.N`
    /// from it ([`AppVersion::CURRENT`]'s by default).
    ///
    /// [`AppVersion::CURRENT`]: whatsapp_proto::payload::AppVersion::CURRENT
    pub web_revision: u32,
    /// Pause after ClientFinish before the first transport frame (25 ms; some clients switch
    /// keys only after their write completed).
    pub post_finish_delay: Duration,
    /// After a companion's first prekey upload its phone shares the app-state keys and sends
    /// the history (as the real phone does); off for tests that want a silent phone.
    pub phone_bootstrap: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ws_port: 0,
            control_port: Some(0),
            root_private_key: None,
            qr_first_ref: Duration::from_secs(60),
            qr_next_ref: Duration::from_secs(20),
            ref_count: 6,
            prekey_low_threshold: 5,
            min_app_version: None,
            web_revision: whatsapp_proto::payload::AppVersion::CURRENT.tertiary,
            post_finish_delay: Duration::from_millis(25),
            phone_bootstrap: true,
        }
    }
}

/// Shared between connection tasks and the control API.
pub(crate) struct Shared {
    state: Mutex<State>,
    noise_config: HandshakeConfig,
    server_static: xeddsa::KeyPair,
    cert_chain: Vec<u8>,
    post_finish_delay: Duration,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// The `delay` fault: per-stanza delay and until when (its own lock, taken per stanza).
    delay: Mutex<Option<(Duration, std::time::Instant)>>,
    /// The simulated customers' client tasks.
    customers: customer::Registry,
    /// The `client_revision` of the web page.
    web_revision: AtomicU32,
    /// JID attributes the sim wrote as text (a bug: see [`SimHandle::text_jids`]).
    text_jids: Mutex<Vec<String>>,
    /// Sockets the sim closed after a 515 because the client had not ([`SimHandle::forced_closes`]).
    forced_closes: AtomicU64,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// JID attributes sent as text so far (see [`SimHandle::text_jids`]).
    pub(crate) fn text_jids(&self) -> MutexGuard<'_, Vec<String>> {
        self.text_jids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current per-stanza delay, if the `delay` fault is active.
    pub(crate) fn delay(&self) -> Option<Duration> {
        let mut delay = self.delay.lock().unwrap_or_else(|e| e.into_inner());
        match *delay {
            Some((d, until)) if std::time::Instant::now() < until => Some(d),
            Some(_) => {
                *delay = None;
                None
            }
            None => None,
        }
    }
}

/// Entry point.
#[derive(Debug)]
pub struct Sim;

/// A running sim: its URLs, root key and the in-process control API. Cheap to clone.
#[derive(Clone)]
pub struct SimHandle {
    /// `ws://127.0.0.1:P/ws/chat`.
    pub ws_url: String,
    /// `http://127.0.0.1:C` (empty when no control listener runs).
    pub control_url: String,
    /// The certificate root public key clients must trust.
    pub root_public_key: [u8; 32],
    /// The WebSocket listener's address.
    pub ws_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("ws_url", &self.ws_url)
            .field("control_url", &self.control_url)
            .finish_non_exhaustive()
    }
}

async fn ws_handler(
    AxumState(shared): AxumState<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade
        .max_message_size(1 << 25)
        .on_upgrade(move |socket| conn::serve(socket, shared))
}

/// `GET /`: WhatsApp Web's page, reduced to what clients read from it: the web client's
/// revision in its page data (whatsmeow `update.go`; the real page holds it the same way).
async fn web_page(AxumState(shared): AxumState<Arc<Shared>>) -> impl IntoResponse {
    let revision = shared.web_revision.load(Ordering::Relaxed);
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html><html><head><title>WhatsApp</title><script>\
             {{\"server_revision\":{revision},\"client_revision\":{revision},\"hsi\":\"0\"}}\
             </script></head><body></body></html>"
        ),
    )
}

#[derive(Deserialize)]
struct UploadQuery {
    auth: Option<String>,
}

/// `POST /mms/<type>/<token>?auth=…&token=…` (part 2 §7.4).
async fn media_upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    axum::extract::Path((kind, token)): axum::extract::Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let result = shared
        .lock()
        .media_upload(&kind, &token, query.auth.as_deref(), body.to_vec());
    match result {
        Ok(json) => axum::Json(json).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct DeleteQuery {
    auth: Option<String>,
    d_md: Option<String>,
}

/// `DELETE /mms/<type>/<token>?auth=…&d_md=…&token=…` (whatsmeow `DeleteMedia`).
async fn media_delete(
    AxumState(shared): AxumState<Arc<Shared>>,
    axum::extract::Path((_kind, token)): axum::extract::Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<DeleteQuery>,
) -> axum::response::Response {
    let result = shared
        .lock()
        .media_delete(&token, query.auth.as_deref(), query.d_md.as_deref());
    match result {
        Ok(true) => axum::http::StatusCode::OK.into_response(),
        Ok(false) => axum::http::StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET <direct path>…` (part 2 §7.5), whole or a byte range.
async fn media_download(
    AxumState(shared): AxumState<Arc<Shared>>,
    axum::extract::Path((bucket, file)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let mut state = shared.lock();
    match state.media_download(&format!("/v/{bucket}/{file}")) {
        Some(blob) => media_range::answer(blob, &headers, state.media_cut()),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

async fn bind(port: u16) -> Result<TcpListener, SimError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr).await.map_err(|e| SimError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

impl Sim {
    /// Binds the listeners and starts serving; must run inside a tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let mut rng = OsRng;
        let root = match config.root_private_key {
            Some(k) => xeddsa::KeyPair::from_private(k),
            None => xeddsa::KeyPair::generate(&mut rng),
        };
        let intermediate = xeddsa::KeyPair::generate(&mut rng);
        let server_static = xeddsa::KeyPair::generate(&mut rng);
        let now = state::now_unix();
        // Serials as in the captured real chain (fact sheet part 1 §11.1): intermediate 3, leaf 329.
        let inter = cert::CertDetails {
            serial: 3,
            issuer_serial: cert::ROOT_SERIAL,
            key: *intermediate.public(),
            not_before: now.saturating_sub(86_400),
            not_after: now + 5 * 365 * 86_400,
        };
        let leaf = cert::CertDetails {
            serial: 329,
            issuer_serial: 3,
            key: *server_static.public(),
            not_before: now.saturating_sub(86_400),
            not_after: now + 365 * 86_400,
        };
        let cert_chain = cert::build_cert_chain(&root, &inter, &intermediate, &leaf, &mut rng);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(Settings {
                qr_first_ref: config.qr_first_ref,
                qr_next_ref: config.qr_next_ref,
                ref_count: config.ref_count.max(1),
                prekey_low_threshold: config.prekey_low_threshold,
                min_app_version: config.min_app_version,
                phone_bootstrap: config.phone_bootstrap,
            })),
            noise_config: HandshakeConfig::default().with_root_key(*root.public()),
            server_static,
            cert_chain,
            post_finish_delay: config.post_finish_delay,
            next_conn: AtomicU64::new(1),
            shutdown,
            delay: Mutex::new(None),
            customers: customer::Registry::default(),
            web_revision: AtomicU32::new(config.web_revision),
            text_jids: Mutex::new(Vec::new()),
            forced_closes: AtomicU64::new(0),
        });
        let ws_listener = bind(config.ws_port).await?;
        let ws_addr = ws_listener.local_addr().map_err(|e| SimError::Bind {
            addr: "ws".into(),
            reason: e.to_string(),
        })?;
        shared.lock().set_media_host(ws_addr.to_string());
        let app = Router::new()
            .route("/", get(web_page))
            .route("/ws/chat", get(ws_handler))
            .route(
                "/mms/{kind}/{token}",
                axum::routing::post(media_upload).delete(media_delete),
            )
            .route("/v/{bucket}/{file}", get(media_download))
            .layer(axum::extract::DefaultBodyLimit::max(100 << 20))
            .with_state(shared.clone());
        let mut stop = shared.shutdown.subscribe();
        tokio::spawn(async move {
            // Nagle off: a burst of small stanza frames must not wait for delayed ACKs.
            let ws_listener = axum::serve::ListenerExt::tap_io(ws_listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(ws_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.changed().await;
                })
                .await;
        });
        let mut handle = SimHandle {
            ws_url: format!("ws://{ws_addr}/ws/chat"),
            control_url: String::new(),
            root_public_key: *root.public(),
            ws_addr,
            shared,
        };
        if let Some(port) = config.control_port {
            let listener = bind(port).await?;
            let addr = listener.local_addr().map_err(|e| SimError::Bind {
                addr: "control".into(),
                reason: e.to_string(),
            })?;
            handle.control_url = format!("http://{addr}");
            let router = control::router(handle.clone());
            let mut stop = handle.shared.shutdown.subscribe();
            tokio::spawn(async move {
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            });
        }
        tracing::info!(
            ws = handle.ws_url,
            control = handle.control_url,
            "sim started"
        );
        Ok(handle)
    }
}

/// Now plus `d`, saturating at about a century (fault durations come from callers).
pub(crate) fn later(d: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Accepts a phone number as digits, `+digits`, or a PN JID.
fn phone_digits(phone: &str) -> String {
    phone
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

impl SimHandle {
    /// The root public key as 64 hex digits.
    pub fn root_key_hex(&self) -> String {
        hex::encode(self.root_public_key)
    }

    /// Stops the listeners and closes every connection.
    pub fn shutdown(&self) {
        drop(self.shared.customers.stop(None));
        let _ = self.shared.shutdown.send(true);
    }

    /// The phone `phone` scans a QR string (with or without the `wa.me` prefix), creating the
    /// account if new; resolves once the companion's `pair-device-sign` checked out, with the
    /// companion's device JID. The companion then gets `stream:error 515`.
    pub async fn scan(&self, qr: &str, phone: &str) -> Result<Jid, SimError> {
        let rx = self.shared.lock().scan(qr, &phone_digits(phone))?;
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SimError::PairingRefused(
                "the companion disconnected".into(),
            )),
            Err(_) => Err(SimError::Timeout("pair-device-sign")),
        }
    }

    /// The phone's user types the code a companion shows ("link with phone number", part 1
    /// §8); resolves like [`SimHandle::scan`] once the companion finished and signed.
    pub async fn link_code(&self, phone: &str, code: &str) -> Result<Jid, SimError> {
        let phone = phone_digits(phone);
        let code = whatsapp_proto::pairing::normalize_pairing_code(code)
            .map_err(|e| SimError::BadRequest(e.to_string()))?;
        let (conn_id, wrapped_companion, identity) =
            self.shared.lock().link_code_prepare(&phone)?;
        // PBKDF2 with 131 072 rounds, twice: off the lock and off the runtime.
        let prepared = tokio::task::spawn_blocking(move || {
            let mut rng = OsRng;
            let ephemeral = xeddsa::KeyPair::generate(&mut rng);
            let wrapped =
                whatsapp_proto::pairing::wrap_ephemeral(&code, ephemeral.public(), &mut rng);
            whatsapp_proto::pairing::unwrap_ephemeral(&code, &wrapped_companion).map(
                |companion_ephemeral| state::LinkPrimaryKeys {
                    ephemeral,
                    identity,
                    wrapped,
                    companion_ephemeral,
                },
            )
        })
        .await
        .map_err(|_| SimError::BadRequest("code pairing task failed".into()))?
        .map_err(|e| SimError::BadRequest(e.to_string()))?;
        let rx = self.shared.lock().link_code_commit(conn_id, prepared)?;
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SimError::PairingRefused(
                "the companion disconnected".into(),
            )),
            Err(_) => Err(SimError::Timeout("companion_finish and pair-device-sign")),
        }
    }

    /// Creates an account (a phone number with its simulated phone) that companions can link
    /// to; idempotent. Returns its PN JID.
    pub fn add_account(&self, phone: &str, name: &str) -> Result<Jid, SimError> {
        self.shared
            .lock()
            .ensure_account(&phone_digits(phone), name, false)
    }

    /// Accounts with linked companions.
    pub fn devices(&self) -> Vec<AccountInfo> {
        self.shared.lock().accounts_info()
    }

    /// Creates a simulated customer with `devices` devices (device 0 is its phone), each a
    /// [`whatsapp_client::Client`] that logs in to this sim over a loopback WebSocket;
    /// `lid_addressing` makes it write to LID chats. Calling it again for the same customer
    /// adds devices up to `devices`. Returns its PN JID at once; the clients connect in the
    /// background (what is sent to them meanwhile waits in their offline queues). Must run
    /// inside the tokio runtime the clients are to live on.
    pub fn add_customer(
        &self,
        phone: &str,
        name: &str,
        devices: u16,
        lid_addressing: bool,
    ) -> Result<Jid, SimError> {
        let pn = phone_digits(phone);
        let (jid, added) =
            self.shared
                .lock()
                .add_client_customer(&pn, name, devices, lid_addressing)?;
        customer::spawn(&self.shared, &self.endpoint(), &pn, added);
        Ok(jid)
    }

    /// Switches a simulated customer's chats to LID addressing (`true`) or back to phone
    /// numbers: a customer who wrote by phone number continues at its LID, as the real server
    /// moves a conversation to the LID mid-way.
    pub fn customer_addressing(&self, phone: &str, lid: bool) -> Result<(), SimError> {
        self.shared
            .lock()
            .set_customer_addressing(&phone_digits(phone), lid)
    }

    /// A whatsapp-client config pointed at this sim: its WebSocket, trust root and media
    /// server (what a test's client and the simulated customers' clients start from).
    pub fn client_config(&self) -> whatsapp_client::Config {
        self.endpoint().client_config()
    }

    fn endpoint(&self) -> customer::Endpoint {
        customer::Endpoint {
            ws_url: self.ws_url.clone(),
            root: self.root_public_key,
            media_base: format!("http://{}", self.ws_addr),
        }
    }

    /// What the account's simulated devices received, oldest first.
    pub fn customer_inbox(&self, phone: &str) -> Result<Vec<InboxEntry>, SimError> {
        self.shared.lock().inbox(&phone_digits(phone))
    }

    /// A simulated account comes online or goes offline (subscribed companions are told).
    pub fn customer_presence(&self, phone: &str, available: bool) -> Result<(), SimError> {
        let phone = phone_digits(phone);
        let mut state = self.shared.lock();
        state.inbox(&phone)?;
        if state.is_client_customer(&phone) {
            drop(state);
            self.shared
                .customers
                .command(&phone, 0, customer::Command::Presence { available });
        } else {
            state.set_presence(&phone, available);
        }
        Ok(())
    }

    /// The customer reinstalls WhatsApp: new identity keys, no sessions; the devices of
    /// accounts with a chat with it (1:1 messages either way, or a shared group) get
    /// `<notification type="encrypt"><identity/>`. The customer's clients start
    /// anew (inside the current tokio runtime).
    pub fn customer_reinstall(&self, phone: &str) -> Result<(), SimError> {
        let pn = phone_digits(phone);
        let mut state = self.shared.lock();
        state.require_client_customer(&pn)?;
        let fresh = state.reinstall_client_customer(&pn)?;
        drop(state);
        // The old clients' keys are gone from the server: they stop, new ones log in.
        drop(self.shared.customers.stop(Some(&pn)));
        customer::spawn(&self.shared, &self.endpoint(), &pn, fresh);
        Ok(())
    }

    /// `from` wrote to `to` before the test: its phone issues its trusted-contact token to
    /// `to` as writing does (part 2 §4.7; the server tells `to`'s companions), so `to` may
    /// message it without the server's 463.
    pub fn issue_privacy_token(&self, from: &str, to: &str) -> Result<(), SimError> {
        let (from, to) = (phone_digits(from), phone_digits(to));
        self.shared.lock().issue_privacy_token_between(&from, &to)
    }

    /// The LID JID of an account.
    pub fn lid_of(&self, phone: &str) -> Result<Jid, SimError> {
        self.shared.lock().lid_of(&phone_digits(phone))
    }

    /// Chat states (typing) companions sent to the account, oldest first.
    pub fn customer_chatstates(&self, phone: &str) -> Result<Vec<ChatStateRecord>, SimError> {
        self.shared.lock().chatstates(&phone_digits(phone))
    }

    /// What the account sent, with receipts.
    pub fn customer_sent(&self, phone: &str) -> Result<Vec<SentEntry>, SimError> {
        self.shared.lock().sent(&phone_digits(phone))
    }

    /// Creates a group of existing accounts (`creator` first, as super-admin); `lid_mode`
    /// makes it LID-addressed. Returns the group JID.
    pub fn create_group(
        &self,
        creator: &str,
        subject: &str,
        participants: &[String],
        lid_mode: bool,
    ) -> Result<Jid, SimError> {
        let participants: Vec<String> = participants.iter().map(|p| phone_digits(p)).collect();
        self.shared
            .lock()
            .create_group(&phone_digits(creator), subject, &participants, lid_mode)
    }

    /// `by` removes `participants` from the group (`by` must be an admin, or remove only
    /// itself to leave). Every device of the members before the change gets a
    /// `w:gp2` `<remove>` notification; group messages then reach only those who remain.
    ///
    /// ```no_run
    /// # fn demo(sim: &whatsapp_sim::SimHandle) -> Result<(), whatsapp_sim::SimError> {
    /// let group = sim.create_group("201112223334", "Family", &["201115556667".into()], false)?;
    /// sim.remove_group_participants("201112223334", &group, &["201115556667".into()])?;
    /// # Ok(()) }
    /// ```
    pub fn remove_group_participants(
        &self,
        by: &str,
        group: &Jid,
        participants: &[String],
    ) -> Result<(), SimError> {
        let participants: Vec<String> = participants.iter().map(|p| phone_digits(p)).collect();
        self.shared
            .lock()
            .remove_group_participants(&phone_digits(by), &group.user, &participants)
    }

    /// Read receipts for received messages; returns how many were sent.
    pub fn customer_read(&self, phone: &str, message_ids: &[String]) -> Result<usize, SimError> {
        let pn = phone_digits(phone);
        let mut state = self.shared.lock();
        state.require_client_customer(&pn)?;
        let targets = state.customer_read_targets(&pn, message_ids)?;
        drop(state);
        let mut count = 0;
        for target in targets {
            count += target.ids.len();
            let command = customer::Command::Read {
                chat: target.chat,
                sender: target.sender,
                ids: target.ids,
            };
            self.shared.customers.command(&pn, 0, command);
        }
        Ok(count)
    }

    /// Typing indicator (`composing` or `paused`) towards `to`.
    pub fn customer_typing(&self, phone: &str, to: &str, state: &str) -> Result<(), SimError> {
        let pn = phone_digits(phone);
        let locked = self.shared.lock();
        locked.require_client_customer(&pn)?;
        if state != "composing" && state != "paused" {
            return Err(SimError::BadRequest(
                "state must be composing or paused".into(),
            ));
        }
        let chat = locked.customer_chat(&pn, to)?;
        drop(locked);
        let command = customer::Command::Typing {
            chat,
            composing: state == "composing",
        };
        self.shared.customers.command(&pn, 0, command);
        Ok(())
    }

    /// Injects a fault.
    pub fn fault(&self, fault: &Fault) -> Result<(), SimError> {
        if let Fault::Delay { ms, duration_ms } = fault {
            *self.shared.delay.lock().unwrap_or_else(|e| e.into_inner()) = Some((
                Duration::from_millis(*ms),
                later(Duration::from_millis(*duration_ms)),
            ));
            return Ok(());
        }
        self.shared.lock().fault(fault)
    }

    /// The account's phone changes app state (contacts, push name, archive, pin, mark read,
    /// mute, labels): one patch per collection touched, encrypted with the phone's newest
    /// app-state key; companions get a `server_sync` notification. Returns each touched
    /// collection's new version.
    ///
    /// ```no_run
    /// # fn demo(sim: &whatsapp_sim::SimHandle) -> Result<(), whatsapp_sim::SimError> {
    /// use whatsapp_sim::appstate::PhoneMutation;
    /// sim.app_state_mutations("201001234567", &[
    ///     PhoneMutation::Contact { jid: "201112223334".into(), name: "Mona Ali".into() },
    ///     PhoneMutation::Archive { chat: "201112223334".into(), archived: true },
    /// ])?;
    /// # Ok(()) }
    /// ```
    pub fn app_state_mutations(
        &self,
        phone: &str,
        mutations: &[appstate::PhoneMutation],
    ) -> Result<Vec<(String, u64)>, SimError> {
        self.shared
            .lock()
            .phone_mutations(&phone_digits(phone), mutations)
    }

    /// The phone remembers these chats (merged by JID): companions linked afterwards get them
    /// by history sync, and on-demand requests are answered from them. Returns the number of
    /// messages the phone now remembers.
    pub fn seed_history(
        &self,
        phone: &str,
        chats: Vec<history::HistoryChat>,
    ) -> Result<usize, SimError> {
        self.shared.lock().seed_history(&phone_digits(phone), chats)
    }

    /// [`SimHandle::seed_history`] with generated chats ([`history::generate`]).
    pub fn seed_generated_history(
        &self,
        phone: &str,
        chats: usize,
        messages_per_chat: usize,
    ) -> Result<usize, SimError> {
        let chats = history::generate(chats, messages_per_chat, state::now_unix());
        self.seed_history(phone, chats)
    }

    /// The phone creates a new app-state key and shares it with its companions; returns the
    /// key ID in hex. Later phone mutations use it.
    pub fn rotate_app_state_key(&self, phone: &str) -> Result<String, SimError> {
        self.shared
            .lock()
            .rotate_app_state_key(&phone_digits(phone))
    }

    /// Unlinks a companion (as the phone's "log out device" does).
    pub fn remove_device(&self, jid: &str) -> Result<(), SimError> {
        let jid: Jid = jid
            .parse()
            .map_err(|_| SimError::BadRequest(format!("bad jid {jid:?}")))?;
        self.shared.lock().remove_device(&jid)
    }

    /// Every media blob the media server holds, as `(direct path, bytes)`: what uploads left
    /// there (encrypted by their senders; the server never sees a media key).
    pub fn media_blobs(&self) -> Vec<(String, Vec<u8>)> {
        self.shared.lock().media_blobs()
    }

    /// The `client_revision` the web page announces from now on (see
    /// [`SimConfig::web_revision`]).
    pub fn set_web_revision(&self, revision: u32) {
        self.shared.web_revision.store(revision, Ordering::Relaxed);
    }

    /// Logins below `version` get `<failure reason="405">` from now on (`None`: any version).
    pub fn set_min_app_version(&self, version: Option<[u32; 3]>) {
        self.shared.lock().set_min_app_version(version);
    }

    /// The paths of the blobs clients deleted from the media server (`DELETE /mms/…`), in
    /// order.
    pub fn media_deleted(&self) -> Vec<String> {
        self.shared.lock().media_deleted()
    }

    /// Stanzas received from companions with their arrival times.
    pub fn stanzas(&self) -> Vec<StanzaRecord> {
        self.shared.lock().stanzas()
    }

    /// Every JID-named attribute (see [`whatsapp_proto::stanza::jid_attrs`]) of every stanza
    /// the sim sent so far whose value was text instead of a JID node, as `path@name=value`:
    /// empty while the sim passes a JID-strict parse, as WhatsApp's stanzas do.
    pub fn text_jids(&self) -> Vec<String> {
        self.shared.text_jids().clone()
    }
}
