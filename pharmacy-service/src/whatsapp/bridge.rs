//! The WhatsApp bridge: the service over the real `whatsapp-client`.
//!
//! - In: every client event becomes an [`InboundEvent`] (text, images, voice notes, documents,
//!   stickers, locations, contacts, reactions, edits, revokes, messages sent from the
//!   pharmacy's own phone, delivery and read receipts). The messages already waiting in the
//!   client's event stream (up to 64, never waiting for more) go to
//!   [`App::handle_inbound_batch`] as one transaction. A media message is stored at once with
//!   what its download needs (`downloading`, or `too_large` beyond the client's
//!   `media_max_bytes`) and the [`super::media_worker`] fetches the file afterwards, so one
//!   attachment never holds up the messages behind it. A message is acknowledged to
//!   WhatsApp only after the service committed it; a failure (full disk, locked database)
//!   leaves it unacknowledged, so the server delivers it again, and is reported at once as `whatsappStatus` `store_failed`, then as an admin alert
//!   (`inbound_store_failed`) once the database takes writes again.
//! - Out: [`WhatsappBridge`] implements the [`Messenger`] port (read receipts, typing, text and
//!   media, delete for everyone) with client errors mapped to [`SendError`].
//! - Link: it implements [`WhatsappLink`] (QR, status, pairing code, logout) from the client's
//!   events, and publishes [`LiveEvent::WhatsappStatus`] on every change.
//!
//! Every message goes out under the WhatsApp id the outbox chose and committed when it queued
//! the row ([`whatsapp_client::Client::send_message_with_id`]): a resend after a crash between
//! the send and the "sent" commit carries the same id, so the customer's phone shows it once,
//! and receipts, revokes and quotes find the message by the id stored from the start.

use super::media_worker::{MediaDownloadPolicy, pending_download};
use crate::app::{
    App, ContactCardIn, DisconnectRecord, EditInto, EditedInto, InboundContent, InboundEvent,
    InboundMessage, LinkDetail, LinkError, LinkFuture, LinkState, LinkStatus, LiveEvent,
    MediaFetch, Messenger, OutgoingMessage, ReceiptStatus, SendError, Sender, WhatsappLink,
};
use crate::domain::message::MessageKind;
use crate::domain::time::Timestamp;
use serde_json::json;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use whatsapp_client::content::{Content, MediaKind as ContentMediaKind, ReplyKind};
use whatsapp_client::store::Store;
use whatsapp_client::{
    Client, ClientError, Config, Event, IncomingMessage, Jid, MediaKind, MediaRef, ReceiptEvent,
    e2e,
};

/// At most this many waiting messages are stored in one service transaction.
const INBOUND_BATCH: usize = 64;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The client refused to start (device already driven in this process, store failure).
    #[error("whatsapp client: {0}")]
    Client(#[from] ClientError),
}

/// The link's state as the client's events describe it.
#[derive(Debug, Clone)]
struct LinkInner {
    state: LinkState,
    qr: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    detail: Option<serde_json::Value>,
    /// The last disconnects, newest first.
    disconnects: std::collections::VecDeque<DisconnectRecord>,
}

/// The service's side of one WhatsApp number: cheap to share (`Arc`), used as the outbox's
/// [`Messenger`] and the HTTP layer's [`WhatsappLink`].
pub struct WhatsappBridge {
    app: App,
    store: Arc<dyn Store>,
    config: Config,
    client: Mutex<Option<Client>>,
    link: Mutex<LinkInner>,
    changes: watch::Sender<u64>,
    stopping: std::sync::atomic::AtomicBool,
    /// Inbound messages the database refused since the last one it stored (count, last error).
    store_failures: Mutex<Option<(u64, String)>>,
}

impl std::fmt::Debug for WhatsappBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsappBridge")
            .field("link", &self.link_snapshot())
            .finish_non_exhaustive()
    }
}

impl WhatsappBridge {
    /// Starts the client over `store` with `config` and the task that feeds its events to
    /// `app`. The client connects at once: a paired device logs in, an unpaired one shows QR
    /// codes (see [`WhatsappBridge::qr`]). When the client stops on its own (the QR codes ran
    /// out, a ban, a refused login) the bridge starts it again after a pause.
    pub async fn start(
        app: App,
        store: Arc<dyn Store>,
        config: Config,
    ) -> Result<Arc<WhatsappBridge>, BridgeError> {
        Self::start_with(app, store, config, MediaDownloadPolicy::default()).await
    }

    /// [`WhatsappBridge::start`] with the media worker's concurrency, attempts and backoff.
    pub async fn start_with(
        app: App,
        store: Arc<dyn Store>,
        config: Config,
        media: MediaDownloadPolicy,
    ) -> Result<Arc<WhatsappBridge>, BridgeError> {
        let (client, events) = Client::start(store.clone(), named(&config, &app)).await?;
        let paired = client.jid();
        let bridge = Arc::new(WhatsappBridge {
            app,
            store,
            config,
            link: Mutex::new(LinkInner {
                state: if paired.is_some() {
                    LinkState::Connecting
                } else {
                    LinkState::Unpaired
                },
                qr: None,
                phone: paired.map(|j| j.user),
                disconnects: Default::default(),
                name: None,
                detail: None,
            }),
            client: Mutex::new(Some(client)),
            changes: watch::channel(0).0,
            stopping: std::sync::atomic::AtomicBool::new(false),
            store_failures: Mutex::new(None),
        });
        tokio::spawn(bridge.clone().supervise(events));
        tokio::spawn(super::media_worker::run(
            bridge.app.clone(),
            Arc::downgrade(&bridge),
            media,
        ));
        Ok(bridge)
    }

    /// The service core this bridge feeds.
    pub(super) fn app(&self) -> &App {
        &self.app
    }

    /// The client in use (None while it restarts).
    pub fn client(&self) -> Option<Client> {
        self.client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current pairing QR string, while unpaired.
    pub fn qr(&self) -> Option<String> {
        self.link_snapshot().qr
    }

    /// The current link state.
    pub fn state(&self) -> LinkState {
        self.link_snapshot().state
    }

    /// Waits until the link state satisfies `pred` or `timeout` passes; returns whether it did.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&LinkStatus) -> bool) -> bool {
        let mut rx = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if pred(&self.status_now()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return pred(&self.status_now()),
            }
        }
    }

    /// Stops the client (closing the socket cleanly) and the event task.
    pub async fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(c) = self.client() {
            c.shutdown().await;
        }
    }

    fn link_snapshot(&self) -> LinkInner {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current link status.
    pub fn status_now(&self) -> LinkStatus {
        let l = self.link_snapshot();
        LinkStatus {
            state: l.state,
            phone: l.phone,
            name: l.name,
            detail: l.detail.as_ref().map(LinkDetail::of),
            recent_disconnects: l.disconnects.into_iter().collect(),
        }
    }

    /// Changes the link state and publishes it (`live` = the `whatsappStatus` state name).
    fn set_link(&self, live: &str, f: impl FnOnce(&mut LinkInner)) {
        let detail = {
            let mut l = self.link.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut l);
            if matches!(
                live,
                "disconnected" | "logged_out" | "temporary_ban" | "outdated"
            ) {
                let rec = DisconnectRecord::new(self.app.now(), live, l.detail.as_ref());
                rec.push_to(&mut l.disconnects);
            }
            match live {
                "qr" => l.qr.as_ref().map(|q| json!({ "qr": q })),
                _ => l.detail.clone(),
            }
        };
        self.changes.send_modify(|n| *n += 1);
        self.app.events().publish(
            self.app.now(),
            LiveEvent::WhatsappStatus {
                state: live.to_owned(),
                detail,
            },
        );
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Feeds events to the app; restarts the client when it stopped on its own.
    async fn supervise(self: Arc<Self>, mut events: whatsapp_client::EventStream) {
        loop {
            let mut restart_after = None;
            // An event read while draining messages, handled next.
            let mut next = None;
            loop {
                let event = match next.take() {
                    Some(e) => e,
                    None => match events.recv().await {
                        Some(e) => e,
                        None => break,
                    },
                };
                // The stream itself stays open while our `Client` handle lives.
                if matches!(event, Event::Stopped) {
                    break;
                }
                if let Event::Message(m) = event {
                    // The messages already waiting (never waiting for more) go into one
                    // service transaction: per-message commits made ingest latency-bound.
                    let mut batch = vec![*m];
                    while batch.len() < INBOUND_BATCH {
                        match ready_event(&mut events) {
                            Some(Some(Event::Message(m))) => batch.push(*m),
                            Some(Some(other)) => {
                                next = Some(other);
                                break;
                            }
                            _ => break,
                        }
                    }
                    self.on_messages(batch).await;
                    continue;
                }
                if let Some(pause) = self.on_event(event).await {
                    restart_after = Some(pause);
                }
            }
            if self.stopping() {
                return;
            }
            let Some(pause) = restart_after else { return };
            tokio::time::sleep(pause).await;
            if self.stopping() {
                return;
            }
            match Client::start(self.store.clone(), named(&self.config, &self.app)).await {
                Ok((client, next)) => {
                    *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
                    events = next;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the WhatsApp client could not restart");
                    return;
                }
            }
        }
    }

    /// Handles one event; returns the pause before a restart when the client stops for a
    /// reason that a restart may cure.
    async fn on_event(&self, event: Event) -> Option<Duration> {
        match event {
            Event::Qr(qr) => self.set_link("qr", |l| {
                l.state = LinkState::Unpaired;
                l.qr = Some(qr.data);
                l.phone = None;
                l.detail = None;
            }),
            Event::QrTimeout => {
                tracing::info!("no QR scan in time; new codes follow");
                return Some(Duration::from_secs(1));
            }
            Event::PairSuccess {
                jid, business_name, ..
            } => {
                tracing::info!(%jid, "paired");
                self.set_link("paired", |l| {
                    l.state = LinkState::Connecting;
                    l.qr = None;
                    l.phone = Some(jid.user);
                    l.name = business_name;
                })
            }
            Event::Connected => {
                let phone = self.client().and_then(|c| c.jid()).map(|j| j.user);
                tracing::info!(?phone, "WhatsApp connected");
                self.set_link("connected", |l| {
                    l.state = LinkState::Connected;
                    l.qr = None;
                    l.detail = None;
                    if phone.is_some() {
                        l.phone = phone;
                    }
                });
                self.app.wake_outbox();
                // Available, with our push name: the server learns the name customers see,
                // and delivery receipts stop being `inactive` (whatsmeow `SendPresence`).
                if let Some(c) = self.client() {
                    let name = self.app.config().whatsapp_name.clone();
                    if let Err(e) = c.send_presence(true, Some(&name)).await {
                        tracing::warn!(error = %e, "sending our presence failed");
                    }
                }
            }
            Event::Disconnected {
                reason,
                reconnect_in,
            } => {
                tracing::info!(%reason, ?reconnect_in, "WhatsApp disconnected");
                let gives_up = reconnect_in.is_none();
                if self.state() != LinkState::Unpaired {
                    self.set_link("disconnected", |l| {
                        l.state = LinkState::Disconnected;
                        l.detail = Some(json!({ "reason": reason }));
                    });
                }
                if gives_up {
                    return Some(Duration::from_secs(5));
                }
            }
            Event::LoggedOut { reason } => {
                tracing::warn!(?reason, "WhatsApp logged this device out");
                self.set_link("logged_out", |l| {
                    l.state = LinkState::LoggedOut;
                    l.phone = None;
                    l.qr = None;
                    l.detail = Some(json!({ "reason": format!("{reason:?}") }));
                });
                // After our own logout the client stops: start a fresh one for a new pairing.
                return Some(Duration::from_secs(1));
            }
            Event::StreamReplaced => {
                tracing::error!("another connection took over this WhatsApp device");
                self.set_link("disconnected", |l| {
                    l.state = LinkState::Disconnected;
                    l.detail = Some(json!({ "reason": "replaced" }));
                });
            }
            Event::TemporaryBan { code, expires } => {
                let until = expires.map(|d| self.app.now().plus(d));
                tracing::error!(?code, ?expires, "WhatsApp temporarily banned the number");
                self.set_link("temporary_ban", |l| {
                    l.state = LinkState::TemporaryBan;
                    l.detail = Some(json!({ "code": code, "until": until }));
                });
                let reason = code.and_then(|c| u16::try_from(c).ok());
                if let Err(e) = self.app.pause_outbox(reason, until).await {
                    tracing::error!(error = %e, "could not pause the outbox");
                }
                return Some(expires.unwrap_or(Duration::from_secs(3600)));
            }
            // The client fetched the current version once more before giving up: a restart
            // would be refused again, every minute, for ever.
            Event::ConnectFailure { code: 405, message } => self.outdated(message),
            Event::ConnectFailure { code, message } => {
                tracing::error!(code, ?message, "WhatsApp refused the login");
                self.set_link("disconnected", |l| {
                    l.state = LinkState::Disconnected;
                    l.detail = Some(json!({ "code": code, "message": message }));
                });
                return Some(Duration::from_secs(60));
            }
            Event::Message(m) => self.on_messages(vec![*m]).await,
            Event::Unavailable(m) => self.on_unavailable(*m).await,
            Event::PollVote(v) => self.on_poll_vote(*v).await,
            Event::Call(c) => super::calls::on_call(self, *c).await,
            Event::ProtocolConsumed(_) => crate::ops::metrics::global()
                .acked_unstored(crate::ops::metrics::Unstored::Consumed),
            Event::Receipt(r) => self.on_receipt(r).await,
            Event::Stopped => {}
            other => tracing::debug!(?other, "WhatsApp event"),
        }
        None
    }

    /// Stores messages in one service transaction (each on its own when that fails) and
    /// acknowledges each only after its commit, in order.
    async fn on_messages(&self, batch: Vec<IncomingMessage>) {
        let received = std::time::Instant::now();
        let mut events = Vec::with_capacity(batch.len());
        let mut waiting = Vec::with_capacity(batch.len());
        for mut m in batch {
            match self.inbound_event(&m).await {
                Some(event) => {
                    events.push(event);
                    waiting.push(m);
                }
                // Groups, status posts, protocol messages with nothing to apply: nothing an
                // agent would see, counted in /metrics.
                None => {
                    count_unstored(&m.info.chat);
                    m.ack()
                }
            }
        }
        if events.is_empty() {
            return;
        }
        let results = self.app.handle_inbound_batch(&events).await;
        let downloads = events.iter().zip(&results).any(|(e, r)| {
            r.is_ok()
                && matches!(
                    e,
                    InboundEvent::Message(InboundMessage {
                        content: InboundContent::PendingMedia {
                            fetch: MediaFetch::Download(_),
                            ..
                        },
                        ..
                    }) | InboundEvent::SentFromPhone(InboundMessage {
                        content: InboundContent::PendingMedia {
                            fetch: MediaFetch::Download(_),
                            ..
                        },
                        ..
                    })
                )
        });
        if downloads {
            self.app.wake_media_worker();
        }
        for (mut m, result) in waiting.into_iter().zip(results) {
            match result {
                Ok(outcome) => {
                    tracing::debug!(id = %m.info.id, ?outcome, "inbound stored");
                    if matches!(outcome, crate::app::InboundOutcome::Stored { .. }) {
                        crate::ops::metrics::global().inbound_stored(received.elapsed());
                    }
                    m.ack();
                    self.store_recovered().await;
                }
                // Not acknowledged: the server delivers it again after the next reconnect.
                Err(e) => {
                    tracing::error!(id = %m.info.id, error = %e, "inbound message not stored");
                    self.store_failed(&e.to_string());
                }
            }
        }
    }

    /// Stores `content` as the message `wa_id` of the chat `info` names, then runs `ack`; a
    /// store failure leaves it unacknowledged.
    async fn store_content(
        &self,
        info: &whatsapp_client::MessageInfo,
        wa_id: String,
        content: InboundContent,
        ack: impl FnOnce(),
    ) {
        let chat = &info.chat;
        if chat.is_group() || chat.is_broadcast() || chat.user.is_empty() {
            count_unstored(chat);
            ack();
            return;
        }
        let inbound = InboundMessage {
            wa_id,
            from: self.sender_of(info).await,
            at: unix_seconds(info.timestamp, self.app.now()),
            content,
            quoted_wa_id: None,
        };
        let event = if info.from_me {
            InboundEvent::SentFromPhone(inbound)
        } else {
            InboundEvent::Message(inbound)
        };
        self.store_event(event, &info.id, ack).await;
    }

    /// Applies one event, then runs `ack`; a store failure leaves it unacknowledged.
    async fn store_event(&self, event: InboundEvent, id: &str, ack: impl FnOnce()) {
        match self.app.handle_inbound(event).await {
            Ok(_) => {
                ack();
                self.store_recovered().await;
            }
            Err(e) => {
                tracing::error!(id = %id, error = %e, "inbound message not stored");
                self.store_failed(&e.to_string());
            }
        }
    }

    /// `<unavailable>`: a view-once message (never given to linked devices) is stored as a
    /// placeholder; for the others our phone was asked to resend, and the resent message comes
    /// as an ordinary message.
    async fn on_unavailable(&self, mut m: whatsapp_client::UnavailableMessage) {
        if !m.resend_requested {
            let info = m.info.clone();
            self.store_content(&info, info.id.clone(), InboundContent::ViewOnce, || m.ack())
                .await;
        }
    }

    /// A decrypted poll vote: the customer's choice on the poll of their chat (the options
    /// are named by their hashes; the service matches them to the poll's options).
    async fn on_poll_vote(&self, mut v: whatsapp_client::PollVote) {
        let info = v.info.clone();
        let chat = &info.chat;
        // Our own phone's votes, groups, status: nothing an agent acts on.
        if info.from_me || chat.is_group() || chat.is_broadcast() || chat.user.is_empty() {
            count_unstored(chat);
            v.ack();
            return;
        }
        let event = InboundEvent::PollVote {
            from: self.sender_of(&info).await,
            wa_id: info.id.clone(),
            poll_wa_id: v.poll_id.clone(),
            selected: v.selected_hashes.iter().map(hex::encode).collect(),
            at: unix_seconds(info.timestamp, self.app.now()),
        };
        self.store_event(event, &info.id, || v.ack()).await;
    }

    /// The database refused an inbound message (full disk, locked): the admins see it at once
    /// as `whatsappStatus` `store_failed` (nothing can be written to the database now).
    pub(super) fn store_failed(&self, error: &str) {
        let failures = {
            let mut f = self
                .store_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = f.as_ref().map_or(0, |(n, _)| *n) + 1;
            *f = Some((n, error.to_owned()));
            n
        };
        self.app.events().publish(
            self.app.now(),
            LiveEvent::WhatsappStatus {
                state: "store_failed".into(),
                detail: Some(json!({ "error": error, "failures": failures })),
            },
        );
    }

    /// WhatsApp refused our version even after a refetch: the link stops (no restart) and
    /// the state change raises the admin alert (`alerts::link`).
    fn outdated(&self, message: Option<String>) {
        tracing::error!(
            ?message,
            "WhatsApp refused this client's version (405) even after fetching the current one"
        );
        self.set_link("outdated", |l| {
            l.state = LinkState::Outdated;
            l.detail = Some(json!({ "code": 405, "message": message }));
        });
    }

    /// The first message stored after failures: the episode becomes a lasting admin alert.
    pub(super) async fn store_recovered(&self) {
        let Some((failures, error)) = self
            .store_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let now = self.app.now();
        // Clears the agents' "messages cannot be stored" banner.
        self.app.events().publish(
            now,
            LiveEvent::WhatsappStatus {
                state: "store_recovered".into(),
                detail: Some(json!({ "failures": failures })),
            },
        );
        let detail = json!({ "failures": failures, "last_error": error });
        if let Err(e) = self
            .app
            .raise_alert(
                "inbound_store_failed",
                "Incoming WhatsApp messages could not be stored (database full or locked); they were delivered again once it recovered",
                &detail,
            )
            .await
        {
            tracing::warn!(error = %e, "could not record the storage alert; kept for later");
            *self
                .store_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some((failures, error));
        }
    }

    async fn on_receipt(&self, r: ReceiptEvent) {
        let status = match r.kind.as_str() {
            // `inactive`: delivered to a device whose app is in the background (whatsmeow
            // `types.ReceiptTypeInactive`).
            "" | "delivery" | "inactive" => ReceiptStatus::Delivered,
            "read" | "played" => ReceiptStatus::Read,
            _ => return,
        };
        let at = unix_seconds(r.timestamp, self.app.now());
        // The customer whose chat it is: only our messages to them are marked.
        let (phone, lid) = self.identity(&r.chat.to_non_ad(), None).await;
        let event = InboundEvent::Receipt {
            from: Sender {
                phone,
                lid,
                push_name: None,
            },
            wa_ids: r.ids,
            status,
            at,
        };
        // The message row carries its WhatsApp id from the moment it was queued, so even a
        // receipt that overtakes the outbox's "sent" commit finds it.
        if let Err(e) = self.app.handle_inbound(event).await {
            tracing::warn!(error = %e, "receipt not applied");
        }
    }

    /// The service's view of a message, or None when it is not for the service.
    async fn inbound_event(&self, m: &IncomingMessage) -> Option<InboundEvent> {
        let info = &m.info;
        if info.chat.is_group() || info.chat.is_broadcast() || info.chat.user.is_empty() {
            return None;
        }
        let at = unix_seconds(info.timestamp, self.app.now());
        let read = &m.content;
        let changes_earlier = matches!(
            read.content,
            Content::Edit { .. } | Content::Revoke { .. } | Content::Reaction { .. }
        );
        // Our own phone's edits, revokes and reactions are not the customer's: they are
        // not applied (the service keeps what it recorded).
        if info.from_me && changes_earlier {
            return None;
        }
        let content = match &read.content {
            Content::Revoke { target } => {
                return Some(InboundEvent::Revoked {
                    from: self.sender(m).await,
                    wa_id: target.id.clone(),
                    at,
                });
            }
            // Both forms (a bare protocol message and one in `editedMessage`) read alike.
            Content::Edit { target, new } => {
                let from = self.sender(m).await;
                let text = match &**new {
                    Content::Text { text, .. } => Some(text.clone()),
                    Content::Media(media) => media.caption.clone(),
                    _ => None,
                };
                return Some(match text {
                    Some(text) => InboundEvent::Edited {
                        from,
                        wa_id: target.id.clone(),
                        text,
                        at,
                    },
                    // Stored too (a new version, or a line naming it): never acked unseen.
                    None => InboundEvent::EditedInto(EditInto {
                        from,
                        wa_id: target.id.clone(),
                        edit_wa_id: info.id.clone(),
                        new: match &**new {
                            Content::Media(_) => EditedInto::NoCaption,
                            Content::Unsupported { fields } => EditedInto::Other(fields.join(", ")),
                            other => EditedInto::Other(variant_name(other)),
                        },
                        at,
                    }),
                });
            }
            Content::Reaction { target, emoji } => {
                return Some(InboundEvent::Reaction {
                    from: self.sender(m).await,
                    target_wa_id: target.id.clone(),
                    emoji: emoji.clone(),
                    at,
                });
            }
            other => self.content(other, read.context.view_once),
        };
        let inbound = InboundMessage {
            wa_id: info.id.clone(),
            from: self.sender(m).await,
            at,
            content,
            quoted_wa_id: read.context.quoted_id.clone(),
        };
        Some(if info.from_me {
            InboundEvent::SentFromPhone(inbound)
        } else {
            InboundEvent::Message(inbound)
        })
    }

    /// The customer: the chat (for our own phone's messages too), with its other address.
    async fn sender(&self, m: &IncomingMessage) -> Sender {
        self.sender_of(&m.info).await
    }

    /// [`Self::sender`] from the stanza details alone.
    async fn sender_of(&self, info: &whatsapp_client::MessageInfo) -> Sender {
        let chat = info.chat.to_non_ad();
        let alt = if info.from_me {
            None
        } else {
            info.sender_alt.as_ref().map(Jid::to_non_ad)
        };
        let (phone, lid) = self.identity(&chat, alt).await;
        Sender {
            phone,
            lid,
            push_name: if info.from_me {
                None
            } else {
                info.push_name.clone()
            },
        }
    }

    /// The phone number and LID of a chat, from its JID and the other address WhatsApp gave
    /// (or the client's LID mapping).
    async fn identity(&self, chat: &Jid, alt: Option<Jid>) -> (Option<String>, Option<String>) {
        let client = self.client();
        if chat.is_lid() {
            let phone = match alt.filter(|a| !a.is_lid()) {
                Some(a) => Some(a.user),
                None => match &client {
                    Some(c) => c.pn_for_lid(chat).await.ok().flatten().map(|j| j.user),
                    None => None,
                },
            };
            (phone, Some(chat.user.clone()))
        } else {
            (
                Some(chat.user.clone()),
                alt.filter(Jid::is_lid).map(|a| a.user),
            )
        }
    }

    /// The service's kind for what a message carries (edits, revokes and reactions are
    /// events of their own). Every content is something an agent sees.
    fn content(&self, content: &Content, view_once: bool) -> InboundContent {
        match content {
            Content::Text { text, .. } => InboundContent::Text { text: text.clone() },
            Content::Media(media) => self.media(media, view_once),
            Content::Location {
                latitude,
                longitude,
                name,
                address,
            } => InboundContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone().or_else(|| address.clone()),
            },
            Content::LiveLocation {
                latitude,
                longitude,
                caption,
                sequence_number,
                ..
            } => InboundContent::LiveLocation {
                latitude: *latitude,
                longitude: *longitude,
                caption: caption.clone(),
                sequence: *sequence_number,
            },
            Content::Contact(c) => InboundContent::Contacts {
                cards: vec![card(c)],
            },
            Content::Contacts { contacts, .. } => InboundContent::Contacts {
                cards: contacts.iter().map(card).collect(),
            },
            Content::PollCreation {
                name,
                options,
                selectable_count,
                ..
            } => InboundContent::Poll {
                question: name.clone(),
                options: options.clone(),
                selectable: *selectable_count,
            },
            // A vote the client could not open (it holds no secret for the poll).
            Content::PollVote { .. } => InboundContent::PollVote { selected: 0 },
            Content::Reply {
                kind,
                id,
                text,
                detail,
            } => InboundContent::Reply {
                reply_kind: match kind {
                    ReplyKind::Button => MessageKind::ButtonReply,
                    ReplyKind::List => MessageKind::ListReply,
                    ReplyKind::Template => MessageKind::TemplateReply,
                    _ => MessageKind::InteractiveReply,
                },
                id: id.clone(),
                text: text.clone(),
                detail: detail.clone(),
            },
            Content::Unsupported { fields } => InboundContent::Unsupported {
                what: fields.join(", "),
            },
            // A kind newer than this service: named by its variant.
            other => InboundContent::Unsupported {
                what: variant_name(other),
            },
        }
    }

    /// An attachment: stored at once and acknowledged; the media worker downloads the file
    /// afterwards (unless it is too large, or the message lacks what a download needs).
    fn media(&self, media: &whatsapp_client::content::Media, view_once: bool) -> InboundContent {
        let media_kind = match media.kind {
            Some(ContentMediaKind::Image) => MessageKind::Image,
            Some(ContentMediaKind::Video) => MessageKind::Video,
            Some(ContentMediaKind::Ptv) => MessageKind::Ptv,
            Some(ContentMediaKind::Audio | ContentMediaKind::VoiceNote) => MessageKind::Audio,
            Some(ContentMediaKind::Sticker) => MessageKind::Sticker,
            _ => MessageKind::Document,
        };
        let mime = crate::domain::mime::normalise(media.mimetype.as_deref().unwrap_or_default())
            .to_owned();
        let fetch = match MediaRef::from_media(media) {
            Some(r) => match pending_download(&r, &mime, self.config.media_max_bytes) {
                Some(d) => MediaFetch::Download(d),
                None => MediaFetch::TooLarge,
            },
            None => MediaFetch::Missing,
        };
        InboundContent::PendingMedia {
            media_kind,
            mime,
            file_name: media.file_name.clone(),
            caption: media.caption.clone(),
            view_once,
            fetch,
        }
    }

    fn connected_client(&self) -> Result<Client, SendError> {
        if self.state() == LinkState::TemporaryBan {
            let d = self.link_snapshot().detail;
            return Err(SendError::TemporaryBan {
                reason: d
                    .as_ref()
                    .and_then(|d| d["code"].as_u64())
                    .and_then(|c| u16::try_from(c).ok()),
                expires_at: d.as_ref().and_then(|d| d["until"].as_i64()).map(Timestamp),
            });
        }
        match self.client() {
            Some(c) if c.is_connected() => Ok(c),
            _ => Err(SendError::Disconnected),
        }
    }
}

/// Counts a message acknowledged without a row, by why (see [`crate::ops::metrics::Unstored`]).
fn count_unstored(chat: &Jid) {
    use crate::ops::metrics::Unstored;
    crate::ops::metrics::global().acked_unstored(if chat.is_broadcast() {
        Unstored::Status
    } else if chat.is_group() {
        Unstored::Group
    } else {
        Unstored::Protocol
    });
}

/// The name of a content's variant (`Location`, `PollCreation`, ...), for what the service
/// cannot show.
fn variant_name(content: &Content) -> String {
    format!("{content:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or("message")
        .to_owned()
}

/// The next event if one is already waiting (never waits): `Some(None)` when the stream ended.
fn ready_event(events: &mut whatsapp_client::EventStream) -> Option<Option<Event>> {
    let recv = std::pin::pin!(events.recv());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::future::Future::poll(recv, &mut cx) {
        std::task::Poll::Ready(e) => Some(e),
        std::task::Poll::Pending => None,
    }
}

/// WhatsApp's unix seconds as a timestamp (`fallback` when absent).
pub(super) fn unix_seconds(secs: u64, fallback: Timestamp) -> Timestamp {
    if secs == 0 {
        return fallback;
    }
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000)
}

fn card(c: &whatsapp_client::content::Contact) -> ContactCardIn {
    ContactCardIn {
        display_name: c.display_name.clone(),
        vcard: c.vcard.clone(),
    }
}

fn parse_jid(to: &str) -> Result<Jid, SendError> {
    Jid::from_str(to).map_err(|e| SendError::Permanent(format!("bad address {to}: {e}")))
}

/// The outbox's view of a client failure.
pub fn send_error(e: ClientError) -> SendError {
    match e {
        ClientError::NotConnected | ClientError::Disconnected | ClientError::Stopped => {
            SendError::Disconnected
        }
        ClientError::InvalidArgument(m) => SendError::Permanent(m),
        e @ ClientError::InvalidMessageId { .. } => SendError::Permanent(e.to_string()),
        ClientError::NewChatRefused { .. } => SendError::NewChatRefused,
        ClientError::MessageRefused { code } if code == 479 || code == 400 || code == 404 => {
            SendError::Permanent(format!("refused with error {code}"))
        }
        other => SendError::Transient(other.to_string()),
    }
}

fn media_kind(mime: &str) -> MediaKind {
    let m = mime.to_ascii_lowercase();
    if m.starts_with("image/") {
        MediaKind::Image
    } else if m.starts_with("video/") {
        MediaKind::Video
    } else if m.starts_with("audio/ogg") {
        MediaKind::VoiceNote
    } else if m.starts_with("audio/") {
        MediaKind::Audio
    } else {
        MediaKind::Document
    }
}

impl Messenger for WhatsappBridge {
    async fn mark_read(&self, chat: &str, message_ids: &[String]) -> Result<(), SendError> {
        if message_ids.is_empty() {
            return Ok(());
        }
        let c = self.connected_client()?;
        c.mark_read(&parse_jid(chat)?, None, message_ids)
            .await
            .map_err(send_error)
    }

    async fn set_typing(&self, chat: &str, typing: bool) -> Result<(), SendError> {
        let c = self.connected_client()?;
        c.send_chat_state(&parse_jid(chat)?, typing, false)
            .await
            .map_err(send_error)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        // A short reconnect should not cost the outbox an attempt.
        if self.state() != LinkState::Connected {
            self.wait_for(Duration::from_secs(20), |s| s.state == LinkState::Connected)
                .await;
        }
        let c = self.connected_client()?;
        let to = parse_jid(&message.to)?;
        let sent = if let Some(media) = &message.media {
            tokio::fs::metadata(&media.path)
                .await
                .map_err(|e| SendError::Permanent(format!("media {}: {e}", media.sha256)))?;
            // Streamed from the file: encrypted as it is read.
            let kind = media_kind(&media.mime);
            let mut out =
                whatsapp_client::OutgoingMedia::new(kind, media.path.clone(), media.mime.clone());
            if let Some(text) = &message.text
                && matches!(
                    kind,
                    MediaKind::Image | MediaKind::Video | MediaKind::Document
                )
            {
                out = out.caption(text.clone());
            }
            if let Some(name) = &media.file_name
                && kind == MediaKind::Document
            {
                out = out.file_name(name.clone());
            }
            c.send_media_with_id(&to, &message.id, out).await
        } else {
            let text = message.text.clone().unwrap_or_default();
            let m = match &message.quoted_id {
                Some(q) => e2e::Message {
                    extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                        text: Some(text),
                        context_info: Some(Box::new(e2e::ContextInfo {
                            stanza_id: Some(q.clone()),
                            participant: Some(to.to_non_ad().to_string()),
                            quoted_message: Some(Box::default()),
                            ..Default::default()
                        })),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                None => e2e::Message {
                    conversation: Some(text),
                    ..Default::default()
                },
            };
            c.send_message_with_id(&to, &message.id, m).await
        };
        sent.map(drop).map_err(send_error)
    }

    async fn revoke(&self, chat: &str, message_id: &str) -> Result<(), SendError> {
        let c = self.connected_client()?;
        let to = parse_jid(chat)?;
        let m = e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                key: Some(e2e::MessageKey {
                    remote_jid: Some(to.to_non_ad().to_string()),
                    from_me: Some(true),
                    id: Some(message_id.to_owned()),
                    participant: None,
                }),
                r#type: Some(e2e::protocol_message::Type::Revoke as i32),
                ..Default::default()
            })),
            ..Default::default()
        };
        c.send_message(&to, m).await.map(drop).map_err(send_error)
    }
}

/// The client's configuration with the pharmacy's WhatsApp name as the linked device's name
/// (the phone lists it; it used to read "whatsapp-rs") and as our push name.
fn named(config: &Config, app: &App) -> Config {
    let name = app.config().whatsapp_name.clone();
    let mut config = config.clone();
    config.payload = config
        .payload
        .with_device_name(name.clone())
        .with_push_name(name);
    config
}

impl WhatsappLink for WhatsappBridge {
    fn status(&self) -> LinkFuture<'_, LinkStatus> {
        let s = self.status_now();
        Box::pin(async move { Ok(s) })
    }

    fn qr_code(&self) -> LinkFuture<'_, Option<String>> {
        let l = self.link_snapshot();
        let qr = matches!(l.state, LinkState::Unpaired | LinkState::LoggedOut)
            .then_some(l.qr)
            .flatten();
        Box::pin(async move { Ok(qr) })
    }

    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String> {
        Box::pin(async move {
            let l = self.link_snapshot();
            if !matches!(l.state, LinkState::Unpaired | LinkState::LoggedOut) {
                return Err(LinkError::AlreadyPaired);
            }
            let c = self.client().ok_or(LinkError::NotConnected)?;
            c.pair_phone(phone).await.map_err(|e| match e {
                ClientError::InvalidArgument(m) => LinkError::InvalidPhone(m),
                other => LinkError::Other(other.to_string()),
            })
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client().ok_or(LinkError::NotConnected)?;
            if c.jid().is_none() {
                return Err(LinkError::NotConnected);
            }
            c.logout().await.map_err(|e| match e {
                ClientError::NotConnected => LinkError::NotConnected,
                other => LinkError::Other(other.to_string()),
            })
        })
    }
}
