//! The `Client` handle and the driver task that owns the connection.
//!
//! Architecture Invariant: exactly one driver task per device owns the WebSocket and the
//! sans-IO core (`whatsapp_proto::connection::ClientConnection`); everything else talks to it
//! through a command channel. A process-wide registry refuses a second client for the same
//! device, so there are never two sockets for one device.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rand::Rng;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use whatsapp_proto::binary::Node;
use whatsapp_proto::connection::{
    ClientConfig, ClientConnection, Disconnect, Event as CoreEvent, FailureReason, Input, IqError,
    Output, StreamError,
};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::noise::HandshakeConfig;
use whatsapp_proto::pairing;
use whatsapp_proto::payload::{self, RegistrationData};

use crate::event::{Event, EventStream, LogoutReason};
use crate::store::{Device, Store};
use crate::{ClientError, Config, QrCode};

/// Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn registry() -> &'static Mutex<HashSet<[u8; 32]>> {
    static ACTIVE: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Holds a device's place in the registry; frees it when dropped.
struct RegistryGuard([u8; 32]);

impl RegistryGuard {
    fn acquire(key: [u8; 32]) -> Option<RegistryGuard> {
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

pub(crate) enum Command {
    Send(Node, Option<oneshot::Sender<Result<(), ClientError>>>),
    Iq(Node, oneshot::Sender<Result<Node, ClientError>>),
    /// A `<message>` stanza (with an `id`); the answer is the server's `<ack>`.
    Message(Node, oneshot::Sender<Result<Node, ClientError>>),
    QrExhausted,
    Shutdown(Option<oneshot::Sender<()>>),
    /// Log out: wipe and stop (after the remove-companion IQ).
    LoggedOut,
    /// Close the connection and connect again at once: the server then delivers again what
    /// was not acknowledged (after the store failed and answers again).
    Reconnect,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Send(..) => "send",
            Command::Iq(..) => "iq",
            Command::Message(..) => "message",
            Command::QrExhausted => "qr-exhausted",
            Command::Shutdown(_) => "shutdown",
            Command::LoggedOut => "logged-out",
            Command::Reconnect => "reconnect",
        }
    }
}

/// State shared by the handle, the driver and its helper tasks.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Config,
    pub(crate) device: Mutex<Device>,
    pub(crate) connected: AtomicBool,
    /// Set by [`Client::logout`]: the server's device-removed answer is our own doing.
    pub(crate) logging_out: AtomicBool,
    pub(crate) server_offset_ms: AtomicI64,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) cmd: mpsc::UnboundedSender<Command>,
    pub(crate) acks: mpsc::UnboundedSender<Node>,
    /// Serialises sends (whatsmeow `messageSendLock`: parallel sends make retries unsafe).
    pub(crate) send_lock: tokio::sync::Mutex<()>,
    /// Serialises prekey uploads.
    pub(crate) prekey_lock: tokio::sync::Mutex<()>,
    /// Phone-code pairing in progress.
    pub(crate) link_code: Mutex<Option<crate::pair_code::LinkCodeState>>,
    /// Retry receipts sent per message id (part 2 §6.2: at most 4).
    pub(crate) retries_sent: Mutex<HashMap<String, u32>>,
    /// Resends done per (requesting device, message id) (part 2 §6.3).
    pub(crate) resends: Mutex<HashMap<(String, String), u32>>,
    /// Device lists by user, with the time they were fetched.
    pub(crate) device_cache: Mutex<crate::devices::DeviceCache>,
    /// Push names and LID mappings this process already stored from messages: a message
    /// repeating them writes nothing (a write per message halved the inbound rate).
    pub(crate) stored_from_messages: Mutex<HashSet<(String, String)>>,
    /// App-state and history sync.
    pub(crate) sync: crate::appstate::SyncState,
    /// Calls offered and not ended (for missed calls).
    pub(crate) calls: Mutex<crate::call::CallTracker>,
    /// Set while a task waits for the store to answer again before reconnecting.
    pub(crate) store_watch: AtomicBool,
    /// Our identity key pair with its public half derived (a scalar multiplication, too dear
    /// to repeat for every message), for the private key it was derived from.
    identity: Mutex<Option<whatsapp_proto::signal::KeyPair>>,
    /// The media HTTP client (pooled connections).
    pub(crate) http: crate::http::HttpClient,
    /// The latest `media_conn` answer.
    pub(crate) media_conn: tokio::sync::Mutex<Option<crate::media::MediaConn>>,
}

impl Shared {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        config: Config,
        device: Device,
        events: mpsc::UnboundedSender<Event>,
        cmd: mpsc::UnboundedSender<Command>,
        acks: mpsc::UnboundedSender<Node>,
    ) -> Shared {
        let http =
            crate::http::HttpClient::new(config.media_connector.clone(), config.media_timeouts);
        Shared {
            store,
            config,
            device: Mutex::new(device),
            connected: AtomicBool::new(false),
            logging_out: AtomicBool::new(false),
            server_offset_ms: AtomicI64::new(0),
            events,
            cmd,
            acks,
            send_lock: tokio::sync::Mutex::new(()),
            prekey_lock: tokio::sync::Mutex::new(()),
            link_code: Mutex::new(None),
            retries_sent: Mutex::new(HashMap::new()),
            resends: Mutex::new(HashMap::new()),
            device_cache: Mutex::new(HashMap::new()),
            stored_from_messages: Mutex::new(HashSet::new()),
            sync: Default::default(),
            calls: Mutex::new(Default::default()),
            store_watch: AtomicBool::new(false),
            identity: Mutex::new(None),
            http,
            media_conn: tokio::sync::Mutex::new(None),
        }
    }

    /// Our Signal identity key pair (see [`Device::signal_identity`]), derived once per key.
    pub(crate) fn signal_identity(
        &self,
    ) -> crate::store::StoreResult<whatsapp_proto::signal::KeyPair> {
        let private = self
            .device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .identity_key;
        let mut cached = self.identity.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pair) = cached.as_ref().filter(|p| p.private.to_bytes() == private) {
            return Ok(pair.clone());
        }
        let pair = crate::store::Device::signal_identity_of(&private)?;
        *cached = Some(pair.clone());
        Ok(pair)
    }

    pub(crate) fn device(&self) -> Device {
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_device(&self, device: Device) {
        *self.device.lock().unwrap_or_else(|e| e.into_inner()) = device;
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Sends an IQ through the driver and waits for its result.
    pub(crate) async fn iq(&self, node: Node) -> Result<Node, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Iq(node, tx))
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Sends a node through the driver.
    pub(crate) async fn send(&self, node: Node) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Send(node, Some(tx)))
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Server time in unix milliseconds (local clock corrected by the offset seen at login).
    pub(crate) fn server_now_ms(&self) -> i64 {
        now_ms() as i64 + self.server_offset_ms.load(Ordering::Relaxed)
    }
}

/// Stops the driver when the last handle is dropped.
struct HandleInner {
    shared: Arc<Shared>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        let _ = self.shared.cmd.send(Command::Shutdown(None));
    }
}

/// A WhatsApp client for one device: a cheap, cloneable handle to the driver task.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use whatsapp_client::{Client, Config, Event, store::SqliteStore};
///
/// let store = Arc::new(SqliteStore::open("whatsapp-session.db").await?);
/// let (client, mut events) = Client::start(store, Config::default()).await?;
/// while let Some(event) = events.recv().await {
///     match event {
///         Event::Qr(qr) => println!("{}\n{}", qr.render_terminal()?, qr.data),
///         Event::Connected => println!("online as {:?}", client.jid()),
///         Event::Message(mut msg) => {
///             if let Some(text) = msg.text() {
///                 client.send_text(&msg.info.chat, text).await?;
///             }
///             msg.ack();
///         }
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("jid", &self.jid())
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Loads (or creates) the device in `store` and starts the driver, which connects at
    /// once: an unpaired device receives QR codes as [`Event::Qr`], a paired one logs in.
    ///
    /// Fails with [`ClientError::AlreadyRunning`] when another client in this process drives
    /// the same device.
    ///
    /// While the client runs it is the only writer of the device's sessions, identities and
    /// LID mappings in `store` (it caches them, [`crate::store::CachedStore`]); reading the
    /// store, and writing the application's own tables, is fine.
    pub async fn start(
        store: Arc<dyn Store>,
        config: Config,
    ) -> Result<(Client, EventStream), ClientError> {
        let device = match store.load_device().await? {
            Some(device) => device,
            None => {
                let device = Device::generate(&mut rand::thread_rng());
                store.save_device(&device).await?;
                device
            }
        };
        let guard = RegistryGuard::acquire(*device.noise_pair().public())
            .ok_or(ClientError::AlreadyRunning)?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        // Sessions, identities and LID mappings are read for every inbound message: cached
        // (write-through) so that a message costs one store round trip, its commit.
        let store: Arc<dyn Store> = Arc::new(crate::store::CachedStore::new(store));
        let shared = Arc::new(Shared::new(
            store, config, device, events_tx, cmd_tx, ack_tx,
        ));
        let driver = Driver {
            shared: shared.clone(),
            cmd_rx,
            ack_rx,
            guard: Some(guard),
            stop_waiters: Vec::new(),
        };
        tokio::spawn(driver.run());
        let client = Client {
            inner: Arc::new(HandleInner { shared }),
        };
        Ok((client, EventStream { rx: events_rx }))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Our device JID (phone number), once paired.
    pub fn jid(&self) -> Option<Jid> {
        self.shared().device().jid
    }

    /// Our LID device JID, once known.
    pub fn lid(&self) -> Option<Jid> {
        self.shared().device().lid
    }

    /// Whether the client is logged in and active right now.
    pub fn is_connected(&self) -> bool {
        self.shared().connected.load(Ordering::Acquire)
    }

    /// Sends an `<iq>` (an `id` is added) and waits for its `type="result"` answer; an
    /// `type="error"` answer is [`ClientError::Server`].
    pub async fn send_iq(&self, iq: Node) -> Result<Node, ClientError> {
        self.shared().iq(iq).await
    }

    /// Sends any node as is.
    pub async fn send_node(&self, node: Node) -> Result<(), ClientError> {
        self.shared().send(node).await
    }

    /// Sends a text message to a user (`digits@s.whatsapp.net` or a LID) and returns its id.
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<String, ClientError> {
        let message = whatsapp_proto::pb::e2e::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        crate::message::send_message(self.shared(), to, None, message).await
    }

    /// Sends any e2e message to a user and returns its id.
    pub async fn send_message(
        &self,
        to: &Jid,
        message: whatsapp_proto::pb::e2e::Message,
    ) -> Result<String, ClientError> {
        crate::message::send_message(self.shared(), to, None, message).await
    }

    /// Sends a message under an id the caller chose and stored beforehand (e.g. an outbox
    /// row's), so that a send repeated after a crash carries the same id and the recipient
    /// drops the copy. The id must look like WhatsApp's own ([`crate::validate_message_id`],
    /// e.g. from [`crate::generate_message_id`]); otherwise [`ClientError::InvalidMessageId`].
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{e2e, generate_message_id};
    /// let id = generate_message_id("15551234567", 1_700_000_000); // persist it first
    /// let text = e2e::Message { conversation: Some("Your order is ready".into()), ..Default::default() };
    /// client.send_message_with_id(&to, &id, text.clone()).await?;
    /// // After a crash before the "sent" mark was committed: the same id again.
    /// client.send_message_with_id(&to, &id, text).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_message_with_id(
        &self,
        to: &Jid,
        id: &str,
        message: whatsapp_proto::pb::e2e::Message,
    ) -> Result<String, ClientError> {
        crate::message::send_message(self.shared(), to, Some(id), message).await
    }

    /// Encrypts and uploads an attachment, then sends it to a user; returns the message id.
    pub async fn send_media(
        &self,
        to: &Jid,
        media: crate::OutgoingMedia,
    ) -> Result<String, ClientError> {
        let message = crate::media::upload(self.shared(), media).await?;
        crate::message::send_message(self.shared(), to, None, message).await
    }

    /// [`Client::send_media`] under a caller-chosen id (see [`Client::send_message_with_id`]).
    /// The id is checked before anything is uploaded.
    pub async fn send_media_with_id(
        &self,
        to: &Jid,
        id: &str,
        media: crate::OutgoingMedia,
    ) -> Result<String, ClientError> {
        crate::validate_message_id(id)?;
        let message = crate::media::upload(self.shared(), media).await?;
        crate::message::send_message(self.shared(), to, Some(id), message).await
    }

    /// Encrypts and uploads an attachment without sending it; returns its message (image,
    /// audio, video or document) for the caller to complete, e.g. with a quote in its
    /// `context_info`, and send with [`Client::send_message`] or
    /// [`Client::send_message_with_id`].
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{MediaKind, OutgoingMedia};
    /// let media = OutgoingMedia { kind: MediaKind::Image, data: vec![0xff, 0xd8], mimetype: "image/jpeg".into(), caption: None, file_name: None };
    /// let message = client.upload_media(media).await?;
    /// client.send_message(&to, message).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload_media(
        &self,
        media: crate::OutgoingMedia,
    ) -> Result<whatsapp_proto::pb::e2e::Message, ClientError> {
        crate::media::upload(self.shared(), media).await
    }

    /// Downloads, decrypts and verifies the attachment of a media message (see
    /// [`crate::MediaRef::from_message`]). A MAC or hash mismatch is an error.
    pub async fn download(&self, media: &crate::MediaRef) -> Result<Vec<u8>, ClientError> {
        crate::media::download(self.shared(), media).await
    }

    /// Downloads an attachment into `out` (e.g. a file) while decrypting, without holding it in
    /// memory; returns the plaintext length. The content is verified at the end: until this
    /// returns `Ok`, what was written is unauthenticated and must be discarded on error.
    pub async fn download_to(
        &self,
        media: &crate::MediaRef,
        out: &mut (impl std::io::Write + Send),
    ) -> Result<u64, ClientError> {
        crate::media::download_to(self.shared(), media, out).await
    }

    /// The phone-number JID of a LID user, if the mapping is known (learned from messages,
    /// pairing and login).
    pub async fn pn_for_lid(&self, lid: &Jid) -> Result<Option<Jid>, ClientError> {
        Ok(self
            .shared()
            .store
            .pn_for_lid(&lid.user)
            .await?
            .map(Jid::user))
    }

    /// The LID JID of a phone-number user, if the mapping is known.
    pub async fn lid_for_pn(&self, pn: &Jid) -> Result<Option<Jid>, ClientError> {
        Ok(self
            .shared()
            .store
            .lid_for_pn(&pn.user)
            .await?
            .map(|lid| Jid::new(lid, whatsapp_proto::jid::Server::Lid)))
    }

    /// Marks messages of one sender as read (part 2 §5.7): `chat` as the messages came in,
    /// `sender` only for groups, `ids` non-empty.
    pub async fn mark_read(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        ids: &[String],
    ) -> Result<(), ClientError> {
        let (first, rest) = ids
            .split_first()
            .ok_or_else(|| ClientError::InvalidArgument("no message ids".into()))?;
        let now = self.shared().server_now_ms() / 1000;
        let mut receipt = Node::new("receipt")
            .attr("id", first.clone())
            .attr("to", chat.clone())
            .attr("type", "read")
            .attr("t", now.to_string())
            .attr_opt("participant", sender.cloned());
        if !rest.is_empty() {
            receipt = receipt.children([Node::new("list").children(
                rest.iter()
                    .map(|id| Node::new("item").attr("id", id.clone())),
            )]);
        }
        self.send_node(receipt).await
    }

    /// Announces us as available (`true`) or unavailable (part 2 §10). WhatsApp wants a push
    /// name with it; set [`whatsapp_proto::payload::PayloadConfig::push_name`] or pass one.
    pub async fn send_presence(
        &self,
        available: bool,
        push_name: Option<&str>,
    ) -> Result<(), ClientError> {
        let presence = Node::new("presence")
            .attr(
                "type",
                if available {
                    "available"
                } else {
                    "unavailable"
                },
            )
            .attr_opt(
                "name",
                push_name
                    .map(str::to_owned)
                    .or_else(|| self.shared().config.payload.push_name.clone()),
            );
        self.send_node(presence).await
    }

    /// Asks to be told when a contact comes online or goes offline ([`Event::Presence`]).
    pub async fn subscribe_presence(&self, contact: &Jid) -> Result<(), ClientError> {
        let mut node = Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", contact.to_non_ad());
        if let Some((token, _)) = self
            .shared()
            .store
            .load_privacy_token(&contact.to_non_ad().to_string())
            .await?
        {
            node = node.children([Node::new("tctoken").bytes(token)]);
        }
        self.send_node(node).await
    }

    /// Shows or hides "typing…" (or "recording audio…" with `audio`) in a chat (part 2 §10).
    pub async fn send_chat_state(
        &self,
        chat: &Jid,
        composing: bool,
        audio: bool,
    ) -> Result<(), ClientError> {
        let state = if composing {
            Node::new("composing").attr_opt("media", audio.then_some("audio"))
        } else {
            Node::new("paused")
        };
        let node = Node::new("chatstate")
            .attr("to", chat.clone())
            .children([state]);
        self.send_node(node).await
    }

    /// Starts "link with phone number" pairing for `phone` (digits, with country code) and
    /// returns the code to type on the phone, formatted `ABCD-EFGH`. Call it after the first
    /// [`Event::Qr`] (the registration connection must be up).
    pub async fn pair_phone(&self, phone: &str) -> Result<String, ClientError> {
        crate::pair_code::start(self.shared(), phone, true).await
    }

    /// Unlinks this companion device from the account, wipes the store and stops.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let jid = self.jid().ok_or(ClientError::NotConnected)?;
        let iq = Node::new("iq")
            .attr("xmlns", "md")
            .attr("type", "set")
            .attr("to", Jid::server_jid())
            .children([Node::new("remove-companion-device")
                .attr("jid", jid)
                .attr("reason", "user_initiated")]);
        self.shared().logging_out.store(true, Ordering::Release);
        if let Err(e) = self.send_iq(iq).await {
            self.shared().logging_out.store(false, Ordering::Release);
            return Err(e);
        }
        let _ = self.shared().cmd.send(Command::LoggedOut);
        Ok(())
    }

    /// Rejects an incoming call (whatsmeow `call.go` `RejectCall`): `caller` and `call_id`
    /// as the [`crate::CallEvent`] of its offer gives them. Its terminate is then no missed
    /// call.
    pub async fn reject_call(&self, caller: &Jid, call_id: &str) -> Result<(), ClientError> {
        let shared = self.shared();
        let own = shared.device().jid.ok_or(ClientError::NotConnected)?;
        let id = crate::message::generate_message_id(&own.user, now_ms() / 1000);
        crate::call::rejected(shared, call_id);
        shared
            .send(crate::call::reject_node(&own, caller, call_id, id))
            .await
    }

    /// Stops the driver and closes the connection; returns once the socket is closed and the
    /// device may be started again (by this process or another).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared().cmd.send(Command::Shutdown(Some(tx))).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What ended one connection, and what the supervisor does next.
enum Outcome {
    /// Reconnect at once (515 after pairing).
    Restart,
    /// Reconnect after a backoff pause.
    Retry(String),
    /// Stop the driver.
    Stop,
}

struct Driver {
    shared: Arc<Shared>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    ack_rx: mpsc::UnboundedReceiver<Node>,
    guard: Option<RegistryGuard>,
    /// `shutdown` callers, answered once the socket is closed and the device's place freed.
    stop_waiters: Vec<oneshot::Sender<()>>,
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One live connection.
struct Connection {
    core: ClientConnection,
    ws: WsStream,
    iqs: HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
    messages: HashMap<String, oneshot::Sender<Result<Node, ClientError>>>,
    qr_task: Option<JoinHandle<()>>,
    stanzas: mpsc::UnboundedSender<Node>,
    worker: JoinHandle<()>,
    logged_in: bool,
    /// Set when we close on purpose; says what to do next.
    planned: Option<Outcome>,
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
    async fn run(mut self) {
        let mut attempt = 0u32;
        let mut restarts = 0u32;
        loop {
            let (outcome, reached_login) = self.connect_once().await;
            self.shared.connected.store(false, Ordering::Release);
            if reached_login {
                attempt = 0;
                restarts = 0;
            }
            match outcome {
                // 515 reconnects at once, but a server that keeps restarting us without ever
                // logging us in gets the backoff.
                Outcome::Restart if restarts < 3 => {
                    restarts += 1;
                    continue;
                }
                Outcome::Restart => {
                    restarts = 0;
                    attempt += 1;
                    let delay = self.shared.config.reconnect.delay(attempt, 0.5);
                    if !self.pause(delay).await {
                        break;
                    }
                }
                Outcome::Stop => break,
                Outcome::Retry(reason) => {
                    attempt += 1;
                    let unit: f64 = rand::thread_rng().r#gen();
                    let delay = self.shared.config.reconnect.delay(attempt, unit);
                    tracing::info!(%reason, ?delay, "disconnected; reconnecting");
                    self.shared.emit(Event::Disconnected {
                        reason,
                        reconnect_in: Some(delay),
                    });
                    if !self.pause(delay).await {
                        break;
                    }
                }
            }
        }
        self.shared.connected.store(false, Ordering::Release);
        // Free the device's place before anyone hears that we stopped.
        self.guard.take();
        self.shared.emit(Event::Stopped);
        for waiter in self.stop_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Waits `delay`, answering commands with `NotConnected`. False when asked to stop.
    async fn pause(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                cmd = self.cmd_rx.recv() => match cmd {
                    None => return false,
                    Some(cmd) => if !self.reject(cmd).await { return false },
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
        self.shared
            .stored_from_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared.emit(Event::LoggedOut {
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

    fn client_payload(&self, device: &Device) -> Vec<u8> {
        let config = &self.shared.config.payload;
        match &device.jid {
            Some(jid) => {
                let user = jid.user.parse::<u64>().unwrap_or(0);
                payload::login_payload(config, user, u32::from(jid.device)).encode_to_vec()
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

    /// Runs one connection to its end. The flag says whether it reached `<success>`.
    async fn connect_once(&mut self) -> (Outcome, bool) {
        let device = self.shared.device();
        let ws = match self.open_socket().await {
            Ok(ws) => ws,
            Err((true, reason)) => return (Outcome::Retry(reason), false),
            Err((false, reason)) => {
                tracing::error!(%reason, "cannot connect");
                self.shared.emit(Event::Disconnected {
                    reason,
                    reconnect_in: None,
                });
                return (Outcome::Stop, false);
            }
        };
        let mut core_config = ClientConfig::new(device.noise_pair(), self.client_payload(&device));
        core_config.handshake = HandshakeConfig {
            root_key: self.shared.config.trust_root,
            ..HandshakeConfig::default()
        };
        core_config.timeouts = self.shared.config.timeouts.clone();
        let core = ClientConnection::new(core_config, now_ms(), &mut rand::thread_rng());
        let (stanza_tx, stanza_rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(crate::message::stanza_worker(
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
            worker,
            logged_in: false,
            planned: None,
        };
        let outcome = self.drive(&mut conn).await;
        let _ = conn.ws.close(None).await;
        (outcome, conn.logged_in)
    }

    async fn drive(&mut self, conn: &mut Connection) -> Outcome {
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
                }
            }
            if conn.core.is_closed() {
                return conn
                    .planned
                    .take()
                    .unwrap_or_else(|| Outcome::Retry("connection closed".into()));
            }
            let deadline = conn.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => {
                        let wait = at.saturating_sub(now_ms());
                        tokio::time::sleep(Duration::from_millis(wait)).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = conn.ws.next() => match frame {
                    Some(Ok(tungstenite::Message::Binary(data))) => {
                        // A protocol error closes the core and queues Disconnected.
                        let _ = conn.core.handle_input(Input::Receive { now: now_ms(), data: &data });
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
                    if conn.logged_in {
                        let _ = conn.core.send_node(&node);
                    }
                }
                _ = sleep => {
                    let _ = conn.core.handle_input(Input::Timeout { now: now_ms() });
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
            Command::Iq(node, reply) => match conn.core.send_iq(node, now_ms()) {
                Ok(id) => {
                    conn.iqs.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                }
            },
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
                self.shared.emit(Event::QrTimeout);
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
            CoreEvent::LoggedIn(success) => {
                conn.logged_in = true;
                if let Some(t) = success.server_time {
                    let offset = (t as i64) * 1000 - now_ms() as i64;
                    self.shared
                        .server_offset_ms
                        .store(offset, Ordering::Relaxed);
                }
                tokio::spawn(crate::session::after_login(
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
                    }));
                }
            }
            CoreEvent::KeepaliveMissed { consecutive } => {
                tracing::debug!(consecutive, "keepalive missed");
                self.shared.emit(Event::KeepAliveTimeout { consecutive });
            }
            CoreEvent::OfflinePreview { count, .. } => {
                tracing::debug!(?count, "offline queue preview");
            }
            CoreEvent::OfflineSyncCompleted { count } => {
                // Queued in order behind the stanzas of the queue.
                let _ = conn.stanzas.send(
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
            "message" | "receipt" | "notification" | "appdata" | "status" | "call" => {
                let _ = conn.stanzas.send(node);
            }
            "presence" => {
                let attrs = node.attrs();
                if let Ok(from) = attrs.jid("from") {
                    self.shared.emit(Event::Presence {
                        from,
                        available: attrs.optional_str("type") != Some("unavailable"),
                        last_seen: attrs.optional_u64("last").ok().flatten(),
                    });
                }
            }
            "chatstate" => {
                let attrs = node.attrs();
                if let (Ok(from), Some(state)) = (attrs.jid("from"), node.child_nodes().first()) {
                    let sender = attrs.optional_jid("participant").ok().flatten();
                    self.shared.emit(Event::ChatState {
                        sender: sender.unwrap_or_else(|| from.clone()),
                        chat: from,
                        composing: state.tag == "composing",
                        audio: state.attrs().optional_str("media") == Some("audio"),
                    });
                }
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
        if let Some(pair_device) = node.child("pair-device") {
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
            conn.qr_task = Some(tokio::spawn(rotate_qr(self.shared.clone(), refs)));
        } else if node.child("pair-success").is_some() {
            if let Some(task) = conn.qr_task.take() {
                task.abort();
            }
            tokio::spawn(crate::session::pair_success(self.shared.clone(), node));
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
                FailureReason::TempBanned { code, expire } => {
                    self.shared.emit(Event::TemporaryBan {
                        code,
                        expires: expire.map(Duration::from_secs),
                    });
                    Outcome::Stop
                }
                _ if failure.should_reconnect() => {
                    Outcome::Retry(format!("login failure {}", failure.code))
                }
                _ => {
                    self.shared.emit(Event::ConnectFailure {
                        code: failure.code,
                        message: failure.message,
                    });
                    Outcome::Stop
                }
            },
            Disconnect::StreamError(StreamError::RestartRequired) => Outcome::Restart,
            Disconnect::StreamError(StreamError::DeviceRemoved) => {
                self.logged_out(LogoutReason::DeviceRemoved).await
            }
            Disconnect::StreamError(StreamError::Replaced) => {
                self.shared.emit(Event::StreamReplaced);
                Outcome::Stop
            }
            Disconnect::StreamError(other) => Outcome::Retry(format!("stream error: {other:?}")),
            Disconnect::Closed => Outcome::Stop,
            other => Outcome::Retry(format!("{other:?}")),
        }
    }
}

/// Shows each ref in turn (60 s, then 20 s each), then ends the registration connection.
async fn rotate_qr(shared: Arc<Shared>, refs: Vec<String>) {
    let device = shared.device();
    for (index, reference) in refs.into_iter().enumerate() {
        let data = pairing::QrData {
            reference,
            noise_public: *device.noise_pair().public(),
            identity_public: *device.identity_pair().public(),
            adv_secret: device.adv_secret,
            client_type: shared.config.client_type,
        };
        let timeout = if index == 0 {
            shared.config.qr_first_timeout
        } else {
            shared.config.qr_timeout
        };
        shared.emit(Event::Qr(QrCode::new(data.to_string(), timeout, index)));
        tokio::time::sleep(timeout).await;
    }
    let _ = shared.cmd.send(Command::QrExhausted);
}

/// The raw 32 bytes of a `05`-prefixed public key.
pub(crate) fn raw_key(serialized: &[u8; 33]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&serialized[1..]);
    out
}
