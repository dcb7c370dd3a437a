//! The driver task: one per device, owning the WebSocket and the sans-IO core, and the
//! supervisor that reconnects it.
//!
//! Architecture Invariant: exactly one driver task per device owns the WebSocket and the
//! sans-IO core (`whatsapp_proto::connection::ClientConnection`); everything else talks to it
//! through a command channel. A process-wide registry refuses a second client for the same
//! device, so there are never two sockets for one device.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use whatsapp_proto::binary::Node;
use whatsapp_proto::connection::{
    ClientConfig, ClientConnection, Disconnect, Event as CoreEvent, FailureReason, Input, IqError,
    Output, StreamError,
};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::HandshakeConfig;
use whatsapp_proto::payload::{self, AppVersion, RegistrationData};

use crate::ClientError;
use crate::backoff::Backoff;
use crate::clock::{CoreClock, UnixMillis};
use crate::context::*;
use crate::event::{Event, LogoutReason};
use crate::login::raw_key;
use crate::store::Device;
use crate::version::VersionKeeper;

fn registry() -> &'static Mutex<HashSet<[u8; 32]>> {
    static ACTIVE: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Holds a device's place in the registry; frees it when dropped.
pub(crate) struct RegistryGuard([u8; 32]);

impl RegistryGuard {
    pub(crate) fn acquire(key: [u8; 32]) -> Option<RegistryGuard> {
        let inserted = registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        // Built only on success: a guard dropped here would free the other client's place.
        inserted.then(|| RegistryGuard(key))
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Stanzas queued to the stanza worker (fewer when [`crate::Config::stanza_backlog`] is
/// smaller); more wait in the driver's backlog.
const STANZA_QUEUE: usize = 64;

/// What ended one connection, and what the supervisor does next.
enum Outcome {
    /// Reconnect at once (515 after pairing).
    Restart,
    /// Reconnect after a backoff pause.
    Retry(String),
    /// `<stream:error code="429">`: reconnect after a long pause.
    RateLimited,
    /// `<failure reason="405">`: a newer version may be fetched, else stop.
    Outdated(Option<String>),
    /// Stop the driver.
    Stop,
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    cmd_rx: mpsc::Receiver<Command>,
    ack_rx: mpsc::UnboundedReceiver<Node>,
    guard: Option<RegistryGuard>,
    /// `shutdown` callers, answered once the socket is closed and the device's place freed.
    stop_waiters: Vec<oneshot::Sender<()>>,
    /// The WhatsApp Web version announced.
    version: VersionKeeper,
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One live connection.
struct Connection {
    core: ClientConnection,
    ws: WsStream,
    iqs: HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
    messages: HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
    qr_task: Option<AbortHandle>,
    /// To the stanza worker (bounded: [`STANZA_QUEUE`]).
    stanzas: mpsc::Sender<Node>,
    /// Stanzas read and not yet taken by the worker, in order. The driver never waits on the
    /// worker, which may be waiting on the driver (an IQ, a send); it stops reading the
    /// socket instead once this holds [`crate::Config::stanza_backlog`] (see
    /// [`Connection::may_read`]).
    backlog: VecDeque<Node>,
    /// The core's time: monotonic since the connection started.
    clock: CoreClock,
    worker: AbortHandle,
    /// When `<success>` came.
    logged_in: Option<tokio::time::Instant>,
    /// Set when we close on purpose; says what to do next.
    planned: Option<Outcome>,
}

impl Connection {
    /// Whether the socket may be read now. Backpressure: with the backlog full (the worker
    /// behind, typically waiting for room in the application's event queue) reading stops,
    /// and the server's traffic waits in the socket instead of in memory. But an answer
    /// someone awaits (see [`Connection::awaits_answer`]) comes only by reading, and the one
    /// awaiting it may be what holds the worker up (an application awaiting an IQ is not
    /// reading its events): then reading goes on, up to `awaiting_limit`
    /// ([`crate::Config::stanza_backlog_awaiting`]). Past that reading waits for the worker
    /// even so: never a reconnect, which would make the server deliver the whole offline
    /// queue again and, under a steady stream of sends awaiting their acks, loop for ever.
    /// An answer left unread that long times out like any other.
    fn may_read(&mut self, limit: usize, awaiting_limit: usize) -> bool {
        let len = self.backlog.len();
        len < limit || (len < awaiting_limit.max(limit) && self.awaits_answer())
    }

    /// Whether an answer only reading brings is awaited: the keepalive's, or one a caller
    /// still waits for (an IQ's result, a message's ack). Calls whose caller gave up (dropped
    /// the future, so the receiver is gone) are forgotten here, so that they do not keep the
    /// socket read past the bound.
    fn awaits_answer(&mut self) -> bool {
        self.messages.retain(|_, reply| !reply.is_closed());
        let core = &mut self.core;
        self.iqs.retain(|id, reply| {
            let waited_for = !reply.is_closed();
            if !waited_for {
                core.forget_iq(id);
            }
            waited_for
        });
        self.core.awaits_answer() || !self.iqs.is_empty() || !self.messages.is_empty()
    }

    /// Stanzas read and not yet taken by the worker: the backlog and the worker's queue.
    fn stanzas_queued(&self) -> usize {
        self.backlog.len() + (self.stanzas.max_capacity() - self.stanzas.capacity())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(task) = self.qr_task.take() {
            task.abort();
        }
        self.worker.abort();
        for (_, tx) in self.iqs.drain() {
            let _ = tx.send(Err(ClientError::Disconnected));
        }
        for (_, tx) in self.messages.drain() {
            let _ = tx.send(Err(ClientError::Disconnected));
        }
    }
}

impl Driver {
    pub(crate) fn new(
        shared: Arc<Shared>,
        cmd_rx: mpsc::Receiver<Command>,
        ack_rx: mpsc::UnboundedReceiver<Node>,
        guard: RegistryGuard,
    ) -> Driver {
        let version = VersionKeeper::new(&shared);
        Driver {
            version,
            shared,
            cmd_rx,
            ack_rx,
            guard: Some(guard),
            stop_waiters: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        let started = match self.version.fetch_url(&self.shared) {
            Some(url) => match self.fetch_version(url).await {
                Some(fetched) => {
                    self.version.fetched(fetched);
                    true
                }
                None => false,
            },
            None => {
                self.version.fetched(None);
                true
            }
        };
        if started {
            self.supervise().await;
        }
        self.shared.connected.store(false, Ordering::Release);
        self.shared.stanzas_queued.store(0, Ordering::Relaxed);
        self.shared.reading_paused.store(false, Ordering::Relaxed);
        // Every background task ends before anyone hears that we stopped.
        self.shared.stop_tasks().await;
        // Free the device's place before anyone hears that we stopped.
        self.guard.take();
        self.shared.emit_now(Event::Stopped);
        for waiter in self.stop_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Connects, and reconnects as each connection's end says, until the driver is to stop.
    async fn supervise(&mut self) {
        let mut backoff = Backoff::default();
        let mut restarts = 0u32;
        loop {
            let (outcome, logged_in_for) = self.connect_once().await;
            self.shared.connected.store(false, Ordering::Release);
            self.shared.reading_paused.store(false, Ordering::Relaxed);
            if logged_in_for.is_some() {
                restarts = 0;
            }
            backoff.ended(logged_in_for);
            match outcome {
                // 515 reconnects at once, but a server that keeps restarting us without ever
                // logging us in gets the backoff.
                Outcome::Restart if restarts < 3 => {
                    restarts += 1;
                    continue;
                }
                Outcome::Restart => {
                    restarts = 0;
                    let delay = backoff.next_pause(&self.shared.config.reconnect, 0.5);
                    if !self.pause(delay).await {
                        break;
                    }
                }
                Outcome::Stop => break,
                Outcome::Outdated(message) => {
                    let newer = match self.version.refetch_url(&self.shared) {
                        Some(url) => match self.fetch_version(url).await {
                            Some(fetched) => self.version.refetched(fetched),
                            None => break,
                        },
                        None => false,
                    };
                    if newer {
                        continue;
                    }
                    self.shared
                        .emit_now(Event::ConnectFailure { code: 405, message });
                    break;
                }
                Outcome::Retry(_) | Outcome::RateLimited => {
                    let reason = match outcome {
                        Outcome::Retry(reason) => reason,
                        _ => {
                            backoff.rate_limited();
                            "rate limited (stream error 429)".to_owned()
                        }
                    };
                    let unit: f64 = rand::thread_rng().r#gen();
                    let delay = backoff.next_pause(&self.shared.config.reconnect, unit);
                    tracing::info!(%reason, ?delay, "disconnected; reconnecting");
                    self.shared.emit_now(Event::Disconnected {
                        reason,
                        reconnect_in: Some(delay),
                    });
                    if !self.pause(delay).await {
                        break;
                    }
                }
            }
        }
    }

    /// Waits `delay`, answering commands with `NotConnected`. False when asked to stop.
    async fn pause(&mut self, delay: Duration) -> bool {
        self.offline(tokio::time::sleep(delay)).await.is_some()
    }

    /// Reads the WhatsApp Web version from `url` before connecting, answering commands
    /// meanwhile (the fetch is bounded, and never holds up a shutdown). `None` when asked to
    /// stop; else what the fetch gave.
    async fn fetch_version(&mut self, url: String) -> Option<Option<AppVersion>> {
        let shared = self.shared.clone();
        self.offline(async move { crate::version::fetch_logged(&shared, &url).await })
            .await
    }

    /// Waits for `work` while not connected, answering commands with `NotConnected`. `None`
    /// when asked to stop.
    async fn offline<T>(&mut self, work: impl Future<Output = T>) -> Option<T> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Some(out),
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return None,
                    Some(cmd) => if !self.reject(cmd).await { return None },
                },
                _ = self.ack_rx.recv() => {}
            }
        }
    }

    /// Answers a command while offline. False for commands that stop the driver.
    async fn reject(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Send(_, Some(tx)) => {
                let _ = tx.send(Err(ClientError::NotConnected));
            }
            Command::Send(_, None) | Command::QrExhausted | Command::Reconnect => {}
            Command::Iq(_, tx) | Command::Message(_, tx) => {
                let _ = tx.send(Err(ClientError::NotConnected));
            }
            Command::Shutdown(tx) => {
                self.stop_waiters.extend(tx);
                return false;
            }
            Command::LoggedOut => {
                self.logged_out(LogoutReason::UserInitiated).await;
                return false;
            }
        }
        true
    }

    /// Wipes the session after a logout and, if configured, prepares a fresh device.
    async fn logged_out(&mut self, reason: LogoutReason) -> Outcome {
        let reason = if self.shared.logging_out.load(Ordering::Acquire) {
            LogoutReason::UserInitiated
        } else {
            reason
        };
        tracing::warn!(?reason, "logged out; wiping the session");
        if let Err(e) = self.shared.store.wipe().await {
            tracing::error!(error = %e, "wiping the store failed");
        }
        self.shared.forget_account();
        self.shared.emit_now(Event::LoggedOut {
            reason: reason.clone(),
        });
        if reason == LogoutReason::UserInitiated || !self.shared.config.pair_again_after_logout {
            return Outcome::Stop;
        }
        // A new identity for the next pairing. The registry keeps the old noise key's place:
        // the driver still owns this store.
        let device = Device::generate(&mut rand::thread_rng());
        match self.shared.store.save_device(&device).await {
            Ok(()) => {
                self.shared.set_device(device);
                Outcome::Restart
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a new device failed");
                Outcome::Stop
            }
        }
    }

    fn client_payload(&self, device: &Device, lid_db_migrated: bool) -> Vec<u8> {
        let config = &self
            .shared
            .config
            .payload
            .clone()
            .with_app_version(self.version.current());
        match &device.jid {
            Some(jid) => {
                let user = jid.user.parse::<u64>().unwrap_or(0);
                payload::login_payload(config, user, u32::from(jid.device), lid_db_migrated)
                    .encode_to_vec()
            }
            None => {
                let spk = device.signed_prekey_record().ok();
                let data = RegistrationData {
                    registration_id: device.registration_id,
                    identity_key: *device.identity_pair().public(),
                    signed_pre_key_id: spk.as_ref().map_or(1, |s| s.id),
                    signed_pre_key: spk
                        .as_ref()
                        .map_or([0; 32], |s| raw_key(&s.key_pair.public.serialize())),
                    signed_pre_key_signature: spk.as_ref().map_or([0; 64], |s| s.signature),
                };
                payload::registration_payload(config, &data).encode_to_vec()
            }
        }
    }

    async fn open_socket(&self) -> Result<WsStream, (bool, String)> {
        let config = &self.shared.config;
        let mut request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| (false, format!("bad URL {}: {e}", config.url)))?;
        if let Ok(origin) = config.origin.parse() {
            request.headers_mut().insert("Origin", origin);
        }
        // Nagle off: receipts and stanzas are small frames that must not wait for a delayed ACK.
        match tokio_tungstenite::connect_async_with_config(request, None, true).await {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::Error::Url(e)) => Err((false, format!("URL not usable: {e}"))),
            Err(e) => Err((true, format!("connect failed: {e}"))),
        }
    }

    /// Runs one connection to its end, saying how long it was logged in (`None`: it never
    /// reached `<success>`).
    async fn connect_once(&mut self) -> (Outcome, Option<Duration>) {
        let device = self.shared.device();
        if device.is_paired() {
            // Never here: it takes the session lock, which a send may hold while it awaits
            // an answer only this task reads. Started first so that it may be done by the
            // time the payload is built.
            crate::lid::migrate_store_in_background(&self.shared);
        }
        let ws = match self.open_socket().await {
            Ok(ws) => ws,
            Err((true, reason)) => return (Outcome::Retry(reason), None),
            Err((false, reason)) => {
                tracing::error!(%reason, "cannot connect");
                self.shared.emit_now(Event::Disconnected {
                    reason,
                    reconnect_in: None,
                });
                return (Outcome::Stop, None);
            }
        };
        let migrated = device.is_paired() && self.shared.lid_db_migrated.load(Ordering::Acquire);
        let mut core_config =
            ClientConfig::new(device.noise_pair(), self.client_payload(&device, migrated));
        core_config.handshake =
            HandshakeConfig::default().with_root_key(self.shared.config.trust_root);
        core_config.timeouts = self.shared.config.timeouts.clone();
        let clock = CoreClock::start(&*self.shared.clock);
        let core = ClientConnection::new(
            core_config,
            clock.now(&*self.shared.clock),
            &mut rand::thread_rng(),
        );
        let queue = STANZA_QUEUE.min(self.shared.config.stanza_backlog.max(1));
        let (stanza_tx, stanza_rx) = mpsc::channel(queue);
        let worker = self.shared.spawn(crate::receive::stanza_worker(
            self.shared.clone(),
            stanza_rx,
        ));
        let mut conn = Connection {
            core,
            ws,
            iqs: HashMap::new(),
            messages: HashMap::new(),
            qr_task: None,
            stanzas: stanza_tx,
            backlog: VecDeque::new(),
            clock,
            worker,
            logged_in: None,
            planned: None,
        };
        let outcome = self.drive(&mut conn).await;
        let _ = conn.ws.close(None).await;
        (outcome, conn.logged_in.map(|at| at.elapsed()))
    }

    async fn drive(&mut self, conn: &mut Connection) -> Outcome {
        let limit = self.shared.config.stanza_backlog.max(1);
        let awaiting_limit = self.shared.config.stanza_backlog_awaiting;
        loop {
            // Flush everything the core queued.
            while let Some(output) = conn.core.poll_output() {
                match output {
                    Output::Transmit(bytes) => {
                        if let Err(e) = conn.ws.send(tungstenite::Message::binary(bytes)).await {
                            return Outcome::Retry(format!("send failed: {e}"));
                        }
                    }
                    Output::Event(event) => {
                        if let Some(outcome) = self.on_core_event(conn, event).await {
                            return outcome;
                        }
                    }
                    other => tracing::debug!(?other, "core output not handled"),
                }
            }
            if conn.core.is_closed() {
                return conn
                    .planned
                    .take()
                    .unwrap_or_else(|| Outcome::Retry("connection closed".into()));
            }
            // Hand the worker what it has room for.
            while !conn.backlog.is_empty() {
                match conn.stanzas.try_reserve() {
                    Ok(permit) => permit.send(conn.backlog.pop_front().expect("not empty")),
                    Err(mpsc::error::TrySendError::Full(())) => break,
                    // The worker is gone only when the connection is being torn down.
                    Err(mpsc::error::TrySendError::Closed(())) => conn.backlog.clear(),
                }
            }
            self.shared
                .stanzas_queued
                .store(conn.stanzas_queued(), Ordering::Relaxed);
            let reading = conn.may_read(limit, awaiting_limit);
            self.shared
                .reading_paused
                .store(!reading, Ordering::Relaxed);
            // A handle of its own, so that waiting for room borrows nothing of `conn`.
            let stanzas = conn.stanzas.clone();
            let deadline = conn.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep(conn.clock.until(&*self.shared.clock, at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                permit = stanzas.reserve(), if !conn.backlog.is_empty() => {
                    if let (Ok(permit), Some(node)) = (permit, conn.backlog.pop_front()) {
                        permit.send(node);
                    }
                }
                frame = conn.ws.next(), if reading => match frame {
                    Some(Ok(tungstenite::Message::Binary(data))) => {
                        // A protocol error closes the core and queues Disconnected.
                        let _ = conn.core.handle_input(Input::Receive { now: conn.clock.now(&*self.shared.clock), data: &data });
                    }
                    Some(Ok(tungstenite::Message::Close(_))) | None => {
                        return Outcome::Retry("the server closed the socket".into());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Outcome::Retry(format!("socket error: {e}")),
                },
                cmd = self.cmd_rx.recv() => match cmd {
                    None => { conn.core.close(); conn.planned = Some(Outcome::Stop); }
                    Some(cmd) => self.on_command(conn, cmd).await,
                },
                Some(node) = self.ack_rx.recv() => {
                    if conn.logged_in.is_some() {
                        let _ = conn.core.send_node(&node);
                    }
                }
                _ = sleep => {
                    let _ = conn.core.handle_input(Input::Timeout { now: conn.clock.now(&*self.shared.clock) });
                }
            }
        }
    }

    async fn on_command(&mut self, conn: &mut Connection, cmd: Command) {
        tracing::trace!(command = cmd.name(), "command");
        match cmd {
            Command::Send(node, reply) => {
                let result = conn.core.send_node(&node).map_err(ClientError::from);
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Iq(node, reply) => {
                match conn.core.send_iq(node, conn.clock.now(&*self.shared.clock)) {
                    Ok(id) => {
                        conn.iqs.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::Message(node, reply) => {
                let id = node.attrs().optional_string("id").unwrap_or_default();
                match conn.core.send_node(&node) {
                    Ok(()) => {
                        conn.messages.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                }
            }
            Command::QrExhausted => {
                self.shared.emit_now(Event::QrTimeout);
                conn.planned = Some(Outcome::Stop);
                conn.core.close();
            }
            Command::Shutdown(reply) => {
                conn.planned = Some(Outcome::Stop);
                conn.core.close();
                self.stop_waiters.extend(reply);
            }
            Command::LoggedOut => {
                let outcome = self.logged_out(LogoutReason::UserInitiated).await;
                conn.planned = Some(outcome);
                conn.core.close();
            }
            Command::Reconnect => {
                conn.planned = Some(Outcome::Restart);
                conn.core.close();
            }
        }
    }

    /// Handles one event of the core. `Some` ends the connection.
    async fn on_core_event(&mut self, conn: &mut Connection, event: CoreEvent) -> Option<Outcome> {
        match event {
            CoreEvent::HandshakeComplete { .. } => {
                tracing::debug!("noise handshake complete");
            }
            CoreEvent::LoggedIn(_) if !self.shared.device().is_paired() => {
                // whatsmeow connectionevents.go `handleConnectSuccess`: a `<success>` on a
                // connection that has not paired is ignored.
                tracing::warn!("<success> before pairing ignored");
            }
            CoreEvent::LoggedIn(success) => {
                conn.logged_in = Some(tokio::time::Instant::now());
                self.version.logged_in(&self.shared).await;
                if let Some(t) = success.server_time {
                    let offset = (t as i64) * 1000 - UnixMillis::now().as_millis() as i64;
                    self.shared
                        .server_offset_ms
                        .store(offset, Ordering::Relaxed);
                }
                self.shared.spawn(crate::login::after_login(
                    self.shared.clone(),
                    success.lid.clone(),
                ));
            }
            CoreEvent::IqResponse { id, result } => {
                if let Some(reply) = conn.iqs.remove(&id) {
                    let _ = reply.send(result.map_err(|e| match e {
                        IqError::Server { code, text, .. } => ClientError::Server {
                            code,
                            text: text.unwrap_or_default(),
                        },
                        IqError::Timeout => ClientError::Timeout,
                        IqError::Disconnected => ClientError::Disconnected,
                        // A failure the core learned to report after this shell was written.
                        other => ClientError::UnexpectedResponse {
                            reason: format!("{other:?}"),
                            node: Box::new(Node::new("iq")),
                        },
                    }));
                }
            }
            CoreEvent::KeepaliveMissed { consecutive } => {
                tracing::debug!(consecutive, "keepalive missed");
                self.shared
                    .emit_now(Event::KeepAliveTimeout { consecutive });
            }
            CoreEvent::OfflinePreview { count, .. } => {
                tracing::debug!(?count, "offline queue preview");
            }
            CoreEvent::OfflineSyncCompleted { count } => {
                // Queued in order behind the stanzas of the queue.
                conn.backlog.push_back(
                    Node::new("offline-complete").attr_opt("count", count.map(|c| c.to_string())),
                );
            }
            CoreEvent::EdgeRouting(_) => {}
            CoreEvent::Node(node) => self.on_node(conn, node),
            CoreEvent::Disconnected(reason) => return Some(self.on_disconnect(conn, reason).await),
            #[allow(unreachable_patterns)]
            other => tracing::debug!(?other, "core event ignored"),
        }
        None
    }

    fn on_node(&mut self, conn: &mut Connection, node: Node) {
        match node.tag.as_str() {
            "iq" => self.on_iq(conn, node),
            "ack" => {
                let attrs = node.attrs();
                if attrs.optional_str("class") == Some("message")
                    && let Some(id) = attrs.optional_string("id")
                    && let Some(reply) = conn.messages.remove(&id)
                {
                    let _ = reply.send(Ok(node));
                }
            }
            // whatsmeow `client.go` handler table: `appdata` is decrypted like `message`,
            // `status` is acknowledged, `call` read for its events (acked by the core).
            "message" | "receipt" | "notification" | "appdata" | "status" | "call" | "presence"
            | "chatstate" => {
                conn.backlog.push_back(node);
            }
            "ib" => {
                if node.child("downgrade_webclient").is_some() {
                    tracing::warn!("the phone does not support multi-device");
                }
            }
            _ => tracing::debug!(tag = %node.tag, "unhandled stanza"),
        }
    }

    fn on_iq(&mut self, conn: &mut Connection, node: Node) {
        let Some(id) = node.attrs().optional_string("id") else {
            return;
        };
        if !crate::pair::is_pairing_iq(&node) {
            tracing::debug!(?node, "unhandled iq");
        } else if let Some(pair_device) = node.child("pair-device") {
            let ack = Node::new("iq")
                .attr("to", Jid::server_jid())
                .attr("id", id)
                .attr("type", "result");
            let _ = conn.core.send_node(&ack);
            let refs: Vec<String> = pair_device
                .children_by_tag("ref")
                .filter_map(|r| r.content_bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            if let Some(task) = conn.qr_task.take() {
                task.abort();
            }
            conn.qr_task = Some(
                self.shared
                    .spawn(crate::pair::rotate_qr(self.shared.clone(), refs)),
            );
        } else if node.child("pair-success").is_some() {
            if let Some(task) = conn.qr_task.take() {
                task.abort();
            }
            self.shared
                .spawn(crate::pair::pair_success(self.shared.clone(), node));
        } else {
            tracing::debug!(?node, "unhandled iq");
        }
    }

    async fn on_disconnect(&mut self, conn: &mut Connection, reason: Disconnect) -> Outcome {
        if let Some(planned) = conn.planned.take() {
            return planned;
        }
        match reason {
            Disconnect::LoginFailed(failure) => match failure.reason {
                FailureReason::LoggedOut => self.logged_out(LogoutReason::LoggedOut).await,
                FailureReason::MainDeviceGone { .. } => {
                    self.logged_out(LogoutReason::MainDeviceGone).await
                }
                FailureReason::Banned => self.logged_out(LogoutReason::Banned).await,
                FailureReason::ClientOutdated => Outcome::Outdated(failure.message),
                FailureReason::TempBanned { code, expire } => {
                    self.shared.emit_now(Event::TemporaryBan {
                        code,
                        expires: expire.map(Duration::from_secs),
                    });
                    Outcome::Stop
                }
                _ if failure.should_reconnect() => {
                    Outcome::Retry(format!("login failure {}", failure.code))
                }
                _ => {
                    self.shared.emit_now(Event::ConnectFailure {
                        code: failure.code,
                        message: failure.message,
                    });
                    Outcome::Stop
                }
            },
            Disconnect::StreamError(StreamError::RestartRequired) => Outcome::Restart,
            Disconnect::StreamError(StreamError::RateLimited) => Outcome::RateLimited,
            Disconnect::StreamError(StreamError::DeviceRemoved) => {
                self.logged_out(LogoutReason::DeviceRemoved).await
            }
            Disconnect::StreamError(StreamError::Replaced) => {
                self.shared.emit_now(Event::StreamReplaced);
                Outcome::Stop
            }
            Disconnect::StreamError(other) => Outcome::Retry(format!("stream error: {other:?}")),
            Disconnect::Closed => Outcome::Stop,
            other => Outcome::Retry(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
