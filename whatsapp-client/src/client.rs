//! The public [`Client`] handle: a cheap `Clone` that talks to the driver task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;

use crate::appstate::{Collection, OutgoingMutation};
use crate::clock::UnixMillis;
use crate::context::*;
use crate::driver::*;
use crate::event::{EventStream, MessageInfo};
use crate::store::{Device, Store};
use crate::{ClientError, Config};

struct HandleInner {
    shared: Arc<Shared>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.shared.command_now(Command::Shutdown(None));
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
///
/// # Backpressure
///
/// Events wait for the application in a bounded queue ([`Config::event_queue`]). While it is
/// full, the client stops processing stanzas; those read meanwhile wait in a bounded backlog
/// ([`Config::stanza_backlog`]), and once that is full the client stops reading the socket, so
/// the server's traffic waits there instead of in memory: a slow reader of the
/// [`EventStream`] slows the connection down rather than growing the process.
/// [`Client::backlog`] shows both queues.
///
/// The connection stays alive meanwhile: acknowledgements ([`crate::IncomingMessage::ack`])
/// never wait, and while an answer is awaited (an IQ such as [`Client::send_iq`], a sent
/// message's ack, the keepalive) the socket is read on, up to
/// [`Config::stanza_backlog_awaiting`] stanzas, so an application that awaits a call while
/// not reading its events does not deadlock the client. A call whose future was dropped is
/// not awaited any more. The events of the connection's life (disconnected, stopped, …) are
/// never held back; they keep their order with the other events.
///
/// whatsmeow does this differently (`client.go`, `handleFrame` and `handlerQueueSize`): its
/// read loop takes answers to requests out at once and queues other stanzas for the handlers
/// in a channel 2,048 deep; when that is full it no longer blocks the read loop but hands
/// each further stanza to a goroutine of its own, giving up their order and any bound on
/// memory. This client keeps both: a bounded backlog, read on only for awaited answers.
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
    /// once: an unpaired device receives QR codes as [`Event::Qr`](crate::Event::Qr), a paired one logs in.
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
        let (events_tx, events_rx) = mpsc::channel(config.event_queue.max(1));
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        // Acks are exempt from backpressure (see `Shared::acks`).
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        // Sessions, identities and LID mappings are read for every inbound message: cached
        // (write-through) so that a message costs one store round trip, its commit.
        let store = Arc::new(crate::store::CachedStore::new(store));
        let shared = Arc::new(Shared::new(
            store, config, device, events_tx, cmd_tx, ack_tx,
        ));
        if shared.device().is_paired() {
            // Before the driver runs: it takes the session lock (see `lid::migrate_store`).
            crate::lid::migrate_store(&shared).await;
        }
        let driver = Driver::new(shared.clone(), cmd_rx, ack_rx, guard);
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
        self.shared().device().jid.clone()
    }

    /// Our LID device JID, once known.
    pub fn lid(&self) -> Option<Jid> {
        self.shared().device().lid.clone()
    }

    /// What waits inside the client right now: events the application has not read, and
    /// stanzas read off the socket and not yet processed. Both are bounded
    /// ([`Config::event_queue`], [`Config::stanza_backlog`]); see [`Client`] on backpressure.
    pub fn backlog(&self) -> Backlog {
        let shared = self.shared();
        Backlog {
            events: shared.events_queued(),
            stanzas: shared
                .stanzas_queued
                .load(std::sync::atomic::Ordering::Relaxed),
            reading_paused: shared
                .reading_paused
                .load(std::sync::atomic::Ordering::Relaxed),
        }
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
        crate::send::send_message(self.shared(), to, None, message).await
    }

    /// Sends any e2e message to a user and returns its id.
    pub async fn send_message(
        &self,
        to: &Jid,
        message: whatsapp_proto::pb::e2e::Message,
    ) -> Result<String, ClientError> {
        crate::send::send_message(self.shared(), to, None, message).await
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
        crate::send::send_message(self.shared(), to, Some(id), message).await
    }

    /// Encrypts and uploads an attachment, then sends it to a user; returns the message id.
    pub async fn send_media(
        &self,
        to: &Jid,
        media: crate::OutgoingMedia,
    ) -> Result<String, ClientError> {
        let message = crate::media::upload(self.shared(), media).await?;
        crate::send::send_message(self.shared(), to, None, message).await
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
        crate::send::send_message(self.shared(), to, Some(id), message).await
    }

    /// Encrypts and uploads an attachment without sending it; returns its message (image,
    /// audio, video or document) for the caller to complete, e.g. with a quote in its
    /// `context_info`, and send with [`Client::send_message`] or
    /// [`Client::send_message_with_id`].
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, to: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{MediaKind, OutgoingMedia};
    /// let media = OutgoingMedia::new(MediaKind::Image, vec![0xff, 0xd8], "image/jpeg");
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
    /// [`crate::MediaRef::from_incoming`]). A MAC or hash mismatch is an error. A dropped
    /// connection resumes where it stopped; media the server expired is asked of the sender's
    /// phone when the attachment knows its message ([`crate::MediaRef::origin`]) and
    /// [`crate::Config::media_reupload_wait`] allows.
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

    /// Asks the phone that sent `media` to upload it again (the server deletes blobs after a
    /// while: a download answers 404 or 410) and waits up to `wait` for it; returns the
    /// attachment with its new direct path, to download. Needs [`crate::MediaRef::origin`]
    /// (whatsmeow `SendMediaRetryReceipt` and `DecryptMediaRetryNotification`).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, message: whatsapp_client::IncomingMessage) -> Result<(), whatsapp_client::ClientError> {
    /// use std::time::Duration;
    /// use whatsapp_client::MediaRef;
    /// let media = MediaRef::from_incoming(&message).expect("an attachment");
    /// let fresh = client.request_media_reupload(&media, Duration::from_secs(30)).await?;
    /// let bytes = client.download(&fresh).await?;
    /// # Ok(()) }
    /// ```
    pub async fn request_media_reupload(
        &self,
        media: &crate::MediaRef,
        wait: std::time::Duration,
    ) -> Result<crate::MediaRef, ClientError> {
        crate::media::request_reupload(self.shared(), media, wait).await
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
    /// `sender` only for groups, `ids` non-empty. For voice notes see [`Client::mark_played`].
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, msg: whatsapp_client::IncomingMessage)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// let sender = msg.info.chat.is_group().then_some(&msg.info.sender);
    /// client.mark_read(&msg.info.chat, sender, &[msg.info.id.clone()]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn mark_read(
        &self,
        chat: &Jid,
        sender: Option<&Jid>,
        ids: &[String],
    ) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms() / 1000;
        let receipt = crate::read_receipt::receipt("read", chat, sender, ids, now)?;
        self.send_node(receipt).await
    }

    /// Announces us as available (`true`) or unavailable (part 2 §10). WhatsApp wants a push
    /// name with it; set [`whatsapp_proto::payload::PayloadConfig::push_name`] or pass one.
    /// Until we are available, delivery receipts go as `type="inactive"` (whatsmeow
    /// `SendPresence` and `sendMessageReceipt`).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// client.send_presence(true, Some("City Pharmacy")).await?; // online, receipts active
    /// # Ok(()) }
    /// ```
    pub async fn send_presence(
        &self,
        available: bool,
        push_name: Option<&str>,
    ) -> Result<(), ClientError> {
        self.shared()
            .active_receipts
            .store(available, std::sync::atomic::Ordering::Release);
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

    /// Asks to be told when a contact comes online or goes offline ([`Event::Presence`](crate::Event::Presence)).
    pub async fn subscribe_presence(&self, contact: &Jid) -> Result<(), ClientError> {
        let mut node = Node::new("presence")
            .attr("type", "subscribe")
            .attr("to", contact.to_non_ad());
        if let Some(token) = crate::privacy_token::presence_token(self.shared(), contact).await? {
            node = node.children([token]);
        }
        self.send_node(node).await
    }

    /// Shows or hides "typing…" (or "recording audio…" with `audio`) in a chat (part 2 §10).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, chat: whatsapp_client::Jid)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// client.send_chat_state(&chat, true, false).await?; // typing…
    /// client.send_text(&chat, "Found it").await?;
    /// client.send_chat_state(&chat, false, false).await?;
    /// # Ok(()) }
    /// ```
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
    /// [`Event::Qr`](crate::Event::Qr) (the registration connection must be up).
    pub async fn pair_phone(&self, phone: &str) -> Result<String, ClientError> {
        crate::pair::start_link_code(self.shared(), phone, true).await
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
        let _ = self.shared().command(Command::LoggedOut).await;
        Ok(())
    }

    /// Rejects an incoming call (whatsmeow `call.go` `RejectCall`): `caller` and `call_id`
    /// as the [`crate::CallEvent`] of its offer gives them. Its terminate is then no missed
    /// call.
    pub async fn reject_call(&self, caller: &Jid, call_id: &str) -> Result<(), ClientError> {
        let shared = self.shared();
        let own = shared
            .device()
            .jid
            .clone()
            .ok_or(ClientError::NotConnected)?;
        let id = crate::message_id::generate_message_id(&own.user, UnixMillis::now().as_secs());
        crate::call::rejected(shared, call_id);
        shared
            .send(crate::call::reject_node(&own, caller, call_id, id))
            .await
    }

    /// Stops the driver and closes the connection; returns once the socket is closed and the
    /// device may be started again (by this process or another).
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .shared()
            .command(Command::Shutdown(Some(tx)))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}

/// What waits inside a [`Client`] (see [`Client::backlog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Backlog {
    /// Events the application has not read yet.
    pub events: usize,
    /// Stanzas read off the socket and not yet processed.
    pub stanzas: usize,
    /// The client stopped reading the socket: its stanza backlog is full and no answer is
    /// awaited (see [`Client`] on backpressure). Nothing more is read until the application
    /// reads events or awaits an answer.
    pub reading_paused: bool,
}

// ------------------------------------------------------------------ polls

impl Client {
    /// A poll to send with [`Client::send_message`] (whatsmeow `BuildPollCreation`): a fresh
    /// message secret, which the send keeps so that votes on the poll can be read.
    /// `selectable` is how many options a voter may pick (0: any number).
    pub fn poll_creation(&self, name: &str, options: &[&str], selectable: u32) -> e2e::Message {
        crate::poll::poll_creation(name, options, selectable)
    }

    /// A vote on a poll received or sent (whatsmeow `BuildPollVote`), to send with
    /// [`Client::send_message`] to the poll's chat: `poll` is the poll message's info,
    /// `options` the names of the options chosen (none withdraws the vote). Fails with
    /// [`ClientError::InvalidArgument`] when the poll's secret is not known.
    pub async fn poll_vote(
        &self,
        poll: &MessageInfo,
        options: &[&str],
    ) -> Result<e2e::Message, ClientError> {
        crate::poll::poll_vote(self.shared(), poll, options).await
    }
}

// ------------------------------------------------------------------ history

impl Client {
    /// Asks our phone for up to `count` messages of a chat older than `oldest_known`
    /// (whatsmeow `BuildHistorySyncRequest`, 50 recommended). The answer arrives later as an
    /// [`Event::HistorySync`](crate::Event::HistorySync) of type [`HistorySyncType::OnDemand`]. Returns the id of the
    /// request message.
    ///
    /// [`HistorySyncType::OnDemand`]: crate::history::HistorySyncType::OnDemand
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, mut events: whatsapp_client::EventStream)
    /// # -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::Event;
    /// while let Some(event) = events.recv().await {
    ///     if let Event::HistorySync(batch) = event {
    ///         for conversation in &batch.conversations {
    ///             let oldest = conversation.messages.iter().min_by_key(|m| m.info.timestamp);
    ///             if let Some(oldest) = oldest {
    ///                 client.request_history(&oldest.info, 50).await?;
    ///             }
    ///         }
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn request_history(
        &self,
        oldest_known: &MessageInfo,
        count: u32,
    ) -> Result<String, ClientError> {
        crate::history::request_history(self.shared(), oldest_known, count).await
    }
}

// ------------------------------------------------------------------ app state

impl Client {
    /// Fetches and applies what is new in one collection (a snapshot first if it was never
    /// synced), following `has_more_patches`; returns the collection's version.
    ///
    /// Every MAC is verified. A mismatch is [`ClientError::AppState`] (e.g.
    /// [`AppStateError::PatchMacMismatch`], [`AppStateError::SnapshotMacMismatch`] for a wrong
    /// LTHash) and the collection stays at the last good patch; a key we do not hold is
    /// [`AppStateError::MissingKey`] after it has been requested from the phone. Changes are
    /// emitted as [`Event::AppState`](crate::Event::AppState).
    ///
    /// [`AppStateError::PatchMacMismatch`]: whatsapp_proto::appstate::AppStateError::PatchMacMismatch
    /// [`AppStateError::SnapshotMacMismatch`]: whatsapp_proto::appstate::AppStateError::SnapshotMacMismatch
    /// [`AppStateError::MissingKey`]: whatsapp_proto::appstate::AppStateError::MissingKey
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::appstate::Collection;
    /// for collection in Collection::ALL {
    ///     let version = client.sync_app_state(collection).await?;
    ///     println!("{} at version {version}", collection.name());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sync_app_state(&self, collection: Collection) -> Result<u64, ClientError> {
        crate::appstate::sync_collection(self.shared(), collection, false).await
    }

    /// Forgets what is stored of a collection and syncs it again from a snapshot.
    pub async fn resync_app_state(&self, collection: Collection) -> Result<u64, ClientError> {
        crate::appstate::sync_collection(self.shared(), collection, true).await
    }

    /// Encrypts our own changes into a patch of `collection` with the newest sync key and
    /// sends it (whatsmeow `SendAppState`); then syncs the collection to pick up the server's
    /// copy. On a conflict (409) the newer patches are applied and the send is tried once more.
    /// Before our phone has shared any key this fails with [`AppStateError::MissingKey`] and an
    /// empty key ID.
    ///
    /// [`AppStateError::MissingKey`]: whatsapp_proto::appstate::AppStateError::MissingKey
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::appstate::{Collection, OutgoingMutation};
    /// let now_ms = 1_700_000_000_000;
    /// let pin = OutgoingMutation::pin("15551234567@s.whatsapp.net", true, now_ms);
    /// client.send_app_state(Collection::RegularLow, vec![pin]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_app_state(
        &self,
        collection: Collection,
        mutations: Vec<OutgoingMutation>,
    ) -> Result<(), ClientError> {
        crate::appstate::send_patch(self.shared(), collection, &mutations).await
    }

    /// Marks a chat read (`true`) or unread on all our devices (`markChatAsRead`, regular_low).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// let chat = "15551234567@s.whatsapp.net".parse().unwrap();
    /// client.mark_chat_read(&chat, true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn mark_chat_read(&self, chat: &Jid, read: bool) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms();
        let m = OutgoingMutation::mark_chat_as_read(&chat.to_string(), read, None, now);
        self.send_app_state(Collection::RegularLow, vec![m]).await
    }

    /// Archives or unarchives a chat on all our devices (regular_low).
    pub async fn archive_chat(&self, chat: &Jid, archived: bool) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms();
        let m = OutgoingMutation::archive(&chat.to_string(), archived, None, now);
        self.send_app_state(Collection::RegularLow, vec![m]).await
    }

    /// Pins or unpins a chat (regular_low).
    pub async fn pin_chat(&self, chat: &Jid, pinned: bool) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms();
        let m = OutgoingMutation::pin(&chat.to_string(), pinned, now);
        self.send_app_state(Collection::RegularLow, vec![m]).await
    }

    /// Mutes a chat until `until_ms` (unix ms, -1 = for ever), or unmutes it with `None`
    /// (regular_high).
    pub async fn mute_chat(&self, chat: &Jid, until_ms: Option<i64>) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms();
        let m = OutgoingMutation::mute(&chat.to_string(), until_ms, now);
        self.send_app_state(Collection::RegularHigh, vec![m]).await
    }

    /// Puts label `label_id` on a chat or takes it off (regular).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// let chat = "15551234567@s.whatsapp.net".parse().unwrap();
    /// client.label_chat(&chat, "3", true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn label_chat(
        &self,
        chat: &Jid,
        label_id: &str,
        labeled: bool,
    ) -> Result<(), ClientError> {
        let now = self.shared().server_now_ms();
        let m = OutgoingMutation::label_chat(label_id, &chat.to_string(), labeled, now);
        self.send_app_state(Collection::Regular, vec![m]).await
    }
}

// ------------------------------------------------------------------ groups

impl Client {
    /// Groups and communities: create, participants, settings, invite links, join requests,
    /// community links (see [`crate::groups`]).
    pub fn groups(&self) -> crate::groups::Groups<'_> {
        crate::groups::Groups::new(self.shared())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::error::TryRecvError;

    /// `shutdown` returns only once every background task has ended: a task still running
    /// would keep its sender alive.
    #[tokio::test]
    async fn shutdown_ends_every_background_task() {
        let store = Arc::new(crate::store::MemoryStore::new());
        // Nothing listens there: the driver keeps retrying in the background.
        let config = Config {
            url: "ws://127.0.0.1:9/ws".into(),
            ..Config::default()
        };
        let (client, _events) = Client::start(store, config).await.unwrap();
        let (tx, mut rx) = mpsc::channel::<()>(1);
        client.shared().spawn(async move {
            let _alive = tx;
            std::future::pending::<()>().await;
        });
        client.shutdown().await;
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

        // A task spawned after the stop never runs.
        let (tx, mut rx) = mpsc::channel::<()>(1);
        client.shared().spawn(async move {
            let _alive = tx;
            std::future::pending::<()>().await;
        });
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }
}
