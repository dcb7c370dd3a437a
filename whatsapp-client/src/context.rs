//! State shared by the handle, the driver and its helper tasks, and the types of that state
//! (in `context/`, so that the modules that act on it depend on the context and never the
//! other way).

mod calls;
mod device_cache;
mod event_queue;
mod group_cache;
mod link_code;
mod media_conn;
mod media_retries;
mod request_id;
mod sync;
mod tokens_issued;

pub(crate) use calls::CallTracker;
pub(crate) use device_cache::{CachedList, DeviceCache, KnownDevice};
pub(crate) use event_queue::EventQueue;
pub(crate) use group_cache::{GroupCache, GroupInfo};
pub(crate) use link_code::LinkCodeState;
pub(crate) use media_conn::MediaConn;
pub(crate) use media_retries::RetryWaiters;
pub(crate) use request_id::RequestIds;
pub(crate) use sync::SyncState;
pub(crate) use tokens_issued::TokensIssued;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use whatsapp_proto::binary::Node;

use crate::clock::{Clock, SystemClock, UnixMillis};
use crate::event::Event;
use crate::recent::{RECENT_MESSAGES, RECENT_STORED, RecentCounts, RecentSet, SessionRecreations};
use crate::store::{
    AppStateStore, ContactStore, Device, DeviceStore, LidStore, MessageSecretStore, MessageStore,
    PreKeyStore, PrivacyTokenStore, SentMessageStore, Store,
};
use crate::{ClientError, Config};

/// Commands queued to the driver before senders wait (the driver takes them as fast as it
/// encrypts; the bound only stops a runaway sender from growing memory).
pub(crate) const COMMAND_QUEUE: usize = 64;

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
    pub(crate) fn name(&self) -> &'static str {
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
    /// The store without Signal sessions, identities, sender keys and decrypt commits: those
    /// only a [`SessionGuard`] reaches.
    pub(crate) store: Arc<dyn UnlockedStore>,
    /// Signal session state, behind the lock that serialises sends and decrypt commits.
    pub(crate) sessions: SessionLock,
    pub(crate) config: Config,
    pub(crate) device: Mutex<Device>,
    pub(crate) connected: AtomicBool,
    /// We announced ourselves available: delivery receipts are plain, not `inactive`
    /// (whatsmeow `sendActiveReceipts`).
    pub(crate) active_receipts: AtomicBool,
    /// Set by [`Client::logout`]: the server's device-removed answer is our own doing.
    pub(crate) logging_out: AtomicBool,
    pub(crate) server_offset_ms: AtomicI64,
    /// To the application (bounded, [`Config::event_queue`]): see [`Shared::emit`].
    events: EventQueue,
    /// To the driver (bounded, [`COMMAND_QUEUE`]): senders wait for room.
    cmd: mpsc::Sender<Command>,
    /// The application's acknowledgements, to the driver. Unbounded on purpose: exempt from
    /// backpressure, since an ack lets the server forget a message and must never wait
    /// behind the traffic it relieves; at most one per event handed out, so its length is
    /// bounded by what the application holds.
    pub(crate) acks: mpsc::UnboundedSender<Node>,
    /// Stanzas read off the socket and not yet taken by the stanza worker (the driver's
    /// backlog and the worker's queue), for [`crate::Client::backlog`].
    pub(crate) stanzas_queued: AtomicUsize,
    /// The driver stopped reading the socket (backpressure), for [`crate::Client::backlog`].
    pub(crate) reading_paused: AtomicBool,
    /// Serialises prekey uploads; holds when the last one succeeded.
    pub(crate) prekey_lock: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    /// Phone-code pairing in progress.
    pub(crate) link_code: Mutex<Option<LinkCodeState>>,
    /// Retry receipts sent per message id (part 2 §6.2: at most 4), for recent ids only.
    pub(crate) retries_sent: Mutex<RecentCounts<String>>,
    /// Resends done per (requesting device, message id) (part 2 §6.3), for recent ids only.
    pub(crate) resends: Mutex<RecentCounts<(String, String)>>,
    /// Sessions rebuilt to answer retry receipts, by device (whatsmeow `retry.go`).
    pub(crate) session_recreations: Mutex<SessionRecreations>,
    /// Device lists by user, with the time they were fetched.
    pub(crate) device_cache: Mutex<DeviceCache>,
    /// Push names and LID mappings this process already stored from messages: a message
    /// repeating them writes nothing (a write per message halved the inbound rate). Bounded:
    /// the least recently added are forgotten (and written again when seen again).
    pub(crate) stored_from_messages: Mutex<RecentSet<(String, String)>>,
    /// App-state and history sync.
    pub(crate) sync: SyncState,
    /// Calls offered and not ended (for missed calls).
    pub(crate) calls: Mutex<CallTracker>,
    /// Set while a task waits for the store to answer again before reconnecting.
    pub(crate) store_watch: AtomicBool,
    /// Our identity key pair with its public half derived (a scalar multiplication, too dear
    /// to repeat for every message), for the private key it was derived from.
    identity: Mutex<Option<whatsapp_proto::signal::KeyPair>>,
    /// The media HTTP client (pooled connections).
    pub(crate) http: crate::http::HttpClient,
    /// Every background task of the client (the stanza worker, QR rotation, syncs, …): the
    /// driver ends them all when it stops. `None` once stopped: a task spawned then is dropped.
    tasks: Mutex<Option<JoinSet<()>>>,
    /// The clocks: wall for timestamps, monotonic for deadlines.
    pub(crate) clock: Arc<dyn Clock>,
    /// The latest `media_conn` answer.
    pub(crate) media_conn: tokio::sync::Mutex<Option<MediaConn>>,
    /// Groups' participants, kept for sends.
    pub(crate) group_cache: Mutex<GroupCache>,
    /// Request ids for usync `sid`s.
    pub(crate) request_ids: RequestIds,
    /// The store's one-time LID migration is done: the login payload's `lidDbMigrated`
    /// (see [`crate::lid::migrate_store`]).
    pub(crate) lid_db_migrated: AtomicBool,
    /// A background task runs that migration.
    pub(crate) lid_migration_running: AtomicBool,
    /// Whom we issued our privacy token to this week (see [`crate::privacy_token`]).
    pub(crate) tokens_issued: Mutex<TokensIssued>,
    /// Media re-upload requests waiting for their `mediaretry` notification.
    pub(crate) media_retries: RetryWaiters,
}

impl Shared {
    pub(crate) fn new<S: Store + 'static>(
        store: Arc<S>,
        config: Config,
        device: Device,
        events: mpsc::Sender<Event>,
        cmd: mpsc::Sender<Command>,
        acks: mpsc::UnboundedSender<Node>,
    ) -> Shared {
        let http = crate::http::HttpClient::new(
            config.media_connector.clone(),
            config.media_timeouts,
            config.origin.clone(),
        );
        Shared {
            sessions: SessionLock {
                store: store.clone(),
                lock: tokio::sync::Mutex::new(()),
            },
            store,
            config,
            device: Mutex::new(device),
            connected: AtomicBool::new(false),
            active_receipts: AtomicBool::new(false),
            logging_out: AtomicBool::new(false),
            server_offset_ms: AtomicI64::new(0),
            events: EventQueue::new(events),
            cmd,
            acks,
            stanzas_queued: AtomicUsize::new(0),
            reading_paused: AtomicBool::new(false),
            prekey_lock: tokio::sync::Mutex::new(None),
            link_code: Mutex::new(None),
            retries_sent: Mutex::new(RecentCounts::new(RECENT_MESSAGES)),
            resends: Mutex::new(RecentCounts::new(RECENT_MESSAGES)),
            session_recreations: Mutex::new(SessionRecreations::default()),
            device_cache: Mutex::new(DeviceCache::default()),
            stored_from_messages: Mutex::new(RecentSet::new(RECENT_STORED)),
            sync: Default::default(),
            calls: Mutex::new(Default::default()),
            store_watch: AtomicBool::new(false),
            identity: Mutex::new(None),
            http,
            media_conn: tokio::sync::Mutex::new(None),
            group_cache: Mutex::new(GroupCache::default()),
            request_ids: RequestIds::new(rand::random()),
            media_retries: Default::default(),
            tasks: Mutex::new(Some(JoinSet::new())),
            clock: Arc::new(SystemClock),
            lid_db_migrated: AtomicBool::new(false),
            lid_migration_running: AtomicBool::new(false),
            tokens_issued: Mutex::default(),
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

    /// Reads the device without cloning it (its keys and account signature are dear to copy
    /// for every device of a fan-out). `read` must not block.
    pub(crate) fn with_device<R>(&self, read: impl FnOnce(&Device) -> R) -> R {
        read(&self.device.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn set_device(&self, device: Device) {
        *self.device.lock().unwrap_or_else(|e| e.into_inner()) = device;
    }

    /// Hands `event` to the application, waiting while its queue is full: the backpressure
    /// that makes a slow application slow the reading of the socket (the stanza worker waits
    /// here, the driver's backlog fills, the driver stops reading). Only tasks the
    /// application does not wait on call this: the stanza worker and background syncs.
    pub(crate) async fn emit(&self, event: Event) {
        self.events.push(event).await;
    }

    /// Hands `event` to the application without waiting: for the driver (which must keep
    /// reading IQ answers) and for work the application itself awaits (a send, an app-state
    /// sync it asked for), which would wait on its own reader. When the queue is full the
    /// event waits in an overflow delivered in order, and later events queue behind it (see
    /// [`EventQueue`]); these events are few (one per connection change or per call).
    pub(crate) fn emit_now(&self, event: Event) {
        self.events.push_now(event);
    }

    /// How many events wait for the application.
    pub(crate) fn events_queued(&self) -> usize {
        self.events.len()
    }

    /// Queues a command for the driver, waiting for room.
    pub(crate) async fn command(&self, command: Command) -> Result<(), ClientError> {
        self.cmd
            .send(command)
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// Queues a command without waiting (from `Drop`): when the queue is full, a task
    /// delivers it once there is room.
    pub(crate) fn command_now(&self, command: Command) {
        if let Err(mpsc::error::TrySendError::Full(command)) = self.cmd.try_send(command)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let cmd = self.cmd.clone();
            runtime.spawn(async move {
                let _ = cmd.send(command).await;
            });
        }
    }

    /// Sends an IQ through the driver and waits for its result.
    pub(crate) async fn iq(&self, node: Node) -> Result<Node, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Iq(node, tx)).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Sends a node through the driver.
    pub(crate) async fn send(&self, node: Node) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Send(node, Some(tx))).await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Queues a node for the driver without waiting for its outcome.
    pub(crate) async fn send_later(&self, node: Node) {
        let _ = self.command(Command::Send(node, None)).await;
    }

    /// Runs `task` in the background until it ends or the client stops.
    pub(crate) fn spawn<F>(&self, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        match tasks.as_mut() {
            Some(set) => {
                // Reap what ended, so the set holds only running tasks.
                while set.try_join_next().is_some() {}
                set.spawn(task)
            }
            // Stopped: the task never runs (its handle reports it ended).
            None => {
                let handle = tokio::spawn(std::future::ready(()));
                handle.abort_handle()
            }
        }
    }

    /// Aborts every background task and waits until each has ended; later spawns are dropped.
    pub(crate) async fn stop_tasks(&self) {
        let set = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut set) = set {
            set.shutdown().await;
        }
    }

    /// Forgets what this process learned about the account that was logged out: the next
    /// pairing may be another account, and its store starts empty.
    pub(crate) fn forget_account(&self) {
        fn clear<T: Default>(state: &Mutex<T>) {
            *state.lock().unwrap_or_else(|e| e.into_inner()) = T::default();
        }
        self.stored_from_messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        clear(&self.group_cache);
        clear(&self.device_cache);
        clear(&self.tokens_issued);
        self.lid_db_migrated.store(false, Ordering::Release);
    }

    /// Server time in unix milliseconds (local clock corrected by the offset seen at login).
    pub(crate) fn server_now_ms(&self) -> i64 {
        UnixMillis::now().as_millis() as i64 + self.server_offset_ms.load(Ordering::Relaxed)
    }
}

/// The store as reachable without the session lock: everything but [`crate::store::SessionStore`],
/// [`crate::store::IdentityStore`], [`crate::store::SenderKeyStore`] and [`MessageStore`], so that the compiler, not a
/// convention, keeps session state behind [`SessionLock::lock`].
pub(crate) trait UnlockedStore:
    DeviceStore
    + PreKeyStore
    + AppStateStore
    + LidStore
    + ContactStore
    + PrivacyTokenStore
    + SentMessageStore
    + MessageSecretStore
{
}

impl<T> UnlockedStore for T where
    T: DeviceStore
        + PreKeyStore
        + AppStateStore
        + LidStore
        + ContactStore
        + PrivacyTokenStore
        + SentMessageStore
        + MessageSecretStore
        + ?Sized
{
}

/// Signal session state and the lock that serialises its read-modify-write cycles
/// (whatsmeow `messageSendLock`).
///
/// Decrypting reads a session and writes it back at the group's commit; a send in between
/// (which advances the same session's sending chain) would be overwritten, and the next send
/// would reuse a message key the peer already spent. So sends hold the lock from load to
/// store, a decrypt group from load to commit, and a deletion across its deletes.
pub(crate) struct SessionLock {
    store: Arc<dyn Store>,
    lock: tokio::sync::Mutex<()>,
}

impl SessionLock {
    /// Waits for the lock.
    pub(crate) async fn lock(&self) -> SessionGuard<'_> {
        let held = self.lock.lock().await;
        SessionGuard {
            store: &*self.store,
            _held: held,
        }
    }

    /// The identity stored for `address`, read without the lock: for checks that tolerate a
    /// value one commit old (screening a device list), never to write back.
    pub(crate) async fn identity_unlocked(
        &self,
        address: &str,
    ) -> crate::store::StoreResult<Option<[u8; 32]>> {
        self.store.load_identity(address).await
    }

    /// The plaintext buffer, which holds no session state: pruning it and probing whether
    /// the store answers need no lock.
    pub(crate) fn buffer(&self) -> &dyn MessageStore {
        &*self.store
    }
}

/// Proof that the session lock is held; session state is reached only through it.
pub(crate) struct SessionGuard<'a> {
    store: &'a dyn Store,
    _held: tokio::sync::MutexGuard<'a, ()>,
}

impl SessionGuard<'_> {
    /// The whole store, sessions included.
    pub(crate) fn store(&self) -> &dyn Store {
        self.store
    }
}
