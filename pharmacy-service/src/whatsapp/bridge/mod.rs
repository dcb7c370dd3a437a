//! The WhatsApp bridge: the service over the real `whatsapp-client`.
//!
//! - In: every client event becomes an [`InboundEvent`](crate::app::InboundEvent) (text, images, voice notes, documents,
//!   stickers, locations, contacts, reactions, edits, revokes, messages sent from the
//!   pharmacy's own phone, delivery and read receipts). The messages already waiting in the
//!   client's event stream (up to 64, never waiting for more) go to
//!   [`App::handle_inbound_batch`](crate::app::App::handle_inbound_batch) as one transaction. A media message is stored at once with
//!   what its download needs (`downloading`, or `too_large` beyond the client's
//!   `media_max_bytes`) and the [`super::media_worker`] fetches the file afterwards, so one
//!   attachment never holds up the messages behind it. A message is acknowledged to
//!   WhatsApp only after the service committed it; a failure (full disk, locked database)
//!   leaves it unacknowledged, so the server delivers it again, and is reported at once as `whatsappStatus` `store_failed`, then as an admin alert
//!   (`inbound_store_failed`) once the database takes writes again.
//! - Out: [`WhatsappBridge`] implements the [`Messenger`](crate::app::Messenger) port (read receipts, typing, text and
//!   media, delete for everyone) with client errors mapped to [`SendError`](crate::app::SendError).
//! - Link: it implements [`WhatsappLink`](crate::app::WhatsappLink) (QR, status, pairing code, logout) from the client's
//!   events, and publishes [`LiveEvent::WhatsappStatus`] on every change.
//!
//! Here the client's lifecycle (start, the event loop, restarts); `link`, `inbound` and
//! `outbound` hold the three concerns above.
//!
//! Every message goes out under the WhatsApp id the outbox chose and committed when it queued
//! the row ([`whatsapp_client::Client::send_message_with_id`]): a resend after a crash between
//! the send and the "sent" commit carries the same id, so the customer's phone shows it once,
//! and receipts, revokes and quotes find the message by the id stored from the start.

use super::media_worker::MediaDownloadPolicy;
use crate::app::{App, DisconnectRecord, LinkDetail, LinkState, LinkStatus, LiveEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use whatsapp_client::store::Store;
use whatsapp_client::{Client, ClientError, Config, Event};

mod inbound;
mod link;
mod outbound;

pub(in crate::whatsapp) use inbound::unix_seconds;
pub use outbound::send_error;

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
    detail: Option<LinkDetail>,
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
            detail: l.detail,
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
                "qr" => l.qr.as_ref().map(|q| LinkDetail {
                    qr: Some(q.clone()),
                    ..LinkDetail::default()
                }),
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
