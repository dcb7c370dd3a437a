//! Simulated customers built on whatsapp-client: every customer device is a
//! [`whatsapp_client::Client`] with its own in-memory store, logged in over a real loopback
//! WebSocket to the sim's `/ws/chat` and trusting the sim's root key. Customers therefore
//! encrypt, upload, fan out, decrypt, download and acknowledge with the same code the
//! project's users run, through the same server paths as any other device.
//!
//! One task per device owns its client: it records what the client's event stream delivers
//! (messages with their media downloaded and verified, receipts) into the server's per-account
//! inbox and sent lists, and runs the commands of the control API in order (send, read,
//! typing, presence). Commands wait while the client is not connected.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use whatsapp_client::store::{DeviceStore as _, MemoryStore};
use whatsapp_client::{Client, ClientError, Config, Event, IncomingMessage, MediaRef};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;

use crate::state::{ProvisionedDevice, now_ms};
use crate::{InboxEntry, Shared};

/// What a customer device's task is asked to do.
pub(crate) enum Command {
    /// Send a message under a chosen id.
    Send { to: Jid, id: String, body: Body },
    /// Read receipts.
    Read {
        chat: Jid,
        sender: Option<Jid>,
        ids: Vec<String>,
    },
    /// `composing` (true) or `paused`.
    Typing { chat: Jid, composing: bool },
    /// Available or unavailable.
    Presence { available: bool },
    /// Vote on a poll in the chat `to` (whatsmeow `BuildPollVote`), sent by `poll_sender`
    /// (`None`: this customer): the options by name, sent under `id`.
    Vote {
        to: Jid,
        id: String,
        poll_id: String,
        poll_sender: Option<Jid>,
        options: Vec<String>,
    },
    /// Send a poll (whatsmeow `BuildPollCreation`: a fresh message secret) under `id`.
    Poll {
        to: Jid,
        id: String,
        name: String,
        options: Vec<String>,
    },
    /// Shut the client down (reinstall, sim shutdown).
    Stop(oneshot::Sender<()>),
}

/// What a customer sends.
pub(crate) enum Body {
    /// A complete message (text, location, reaction).
    Message(Box<e2e::Message>),
    /// An attachment the client encrypts and uploads first, with an optional quote, then
    /// shaped.
    Media(Attachment, Option<Box<e2e::ContextInfo>>, Shape),
}

/// An attachment a customer's client uploads.
#[derive(Clone)]
pub(crate) struct Attachment {
    pub kind: whatsapp_client::MediaKind,
    pub data: Vec<u8>,
    pub mimetype: String,
    pub caption: Option<String>,
    pub file_name: Option<String>,
}

impl Attachment {
    /// What the client uploads: the caption and file name where the kind carries them.
    fn outgoing(&self) -> whatsapp_client::OutgoingMedia {
        use whatsapp_client::MediaKind;
        let mut media = whatsapp_client::OutgoingMedia::new(
            self.kind,
            self.data.clone(),
            self.mimetype.clone(),
        );
        if let Some(caption) = &self.caption
            && matches!(
                self.kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Document
            )
        {
            media = media.caption(caption.clone());
        }
        if let Some(name) = &self.file_name
            && self.kind == MediaKind::Document
        {
            media = media.file_name(name.clone());
        }
        media
    }
}

/// What an uploaded attachment becomes.
pub(crate) struct Shape {
    /// The kind asked for (a round video or sticker is uploaded as a video or image).
    pub kind: crate::device::MediaKind,
    /// The wrappers around it.
    pub wrapping: Option<crate::shapes::Wrapping>,
}

impl Shape {
    fn apply(&self, message: e2e::Message) -> e2e::Message {
        use crate::device::MediaKind;
        let message = match self.kind {
            MediaKind::Ptv => crate::shapes::as_ptv(message),
            MediaKind::Sticker => crate::shapes::as_sticker(message),
            _ => message,
        };
        match &self.wrapping {
            Some(wrapping) => crate::shapes::wrap(message, wrapping),
            None => message,
        }
    }
}

/// The running customer devices: phone number → device → its task's command channel.
#[derive(Default)]
pub(crate) struct Registry {
    devices: Mutex<HashMap<String, BTreeMap<u16, mpsc::UnboundedSender<Command>>>>,
    /// What they decrypted.
    pub(crate) received: crate::customer_content::Received,
}

impl Registry {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<u16, mpsc::UnboundedSender<Command>>>>
    {
        self.devices.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a command for one device of a customer; false if it has no running task.
    pub(crate) fn command(&self, pn: &str, device: u16, command: Command) -> bool {
        self.lock()
            .get(pn)
            .and_then(|d| d.get(&device))
            .is_some_and(|tx| tx.send(command).is_ok())
    }

    /// Asks every device task of `pn` (or of everyone) to shut its client down; they are
    /// forgotten at once, so later commands go to their successors. The receivers resolve once
    /// the clients closed.
    pub(crate) fn stop(&self, pn: Option<&str>) -> Vec<oneshot::Receiver<()>> {
        let senders: Vec<mpsc::UnboundedSender<Command>> = {
            let mut map = self.lock();
            match pn {
                Some(pn) => map
                    .remove(pn)
                    .into_iter()
                    .flat_map(BTreeMap::into_values)
                    .collect(),
                None => map.drain().flat_map(|(_, d)| d.into_values()).collect(),
            }
        };
        senders
            .into_iter()
            .filter_map(|tx| {
                let (done, wait) = oneshot::channel();
                tx.send(Command::Stop(done)).is_ok().then_some(wait)
            })
            .collect()
    }
}

/// Where customer clients connect.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub ws_url: String,
    pub root: [u8; 32],
    pub media_base: String,
}

impl Endpoint {
    /// A client config pointed at the sim: its WebSocket, trust root and media server.
    pub(crate) fn client_config(&self) -> Config {
        let mut config = Config::default()
            .with_url(self.ws_url.clone())
            .with_trust_root(self.root);
        config.media_base_url = Some(self.media_base.clone());
        // The sim serves WhatsApp Web's page at its own address.
        config.version_url = Some(format!("{}/", self.media_base));
        config
    }
}

/// Starts one task (and client) per provisioned device of `pn`.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    endpoint: &Endpoint,
    pn: &str,
    devices: Vec<ProvisionedDevice>,
) {
    for provisioned in devices {
        let (tx, rx) = mpsc::unbounded_channel();
        shared
            .customers
            .lock()
            .entry(pn.to_owned())
            .or_default()
            .insert(provisioned.device, tx);
        let task = DeviceTask {
            shared: shared.clone(),
            pn: pn.to_owned(),
            device: provisioned.device,
        };
        tokio::spawn(task.run(endpoint.clone(), provisioned.store, rx));
    }
}

struct DeviceTask {
    shared: Arc<Shared>,
    pn: String,
    device: u16,
}

impl DeviceTask {
    async fn run(
        self,
        endpoint: Endpoint,
        device: whatsapp_client::store::Device,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let store = Arc::new(MemoryStore::new());
        if let Err(e) = store.save_device(&device).await {
            warn!(pn = self.pn, error = %e, "customer store refused the device");
            return;
        }
        let mut config = endpoint.client_config();
        config.payload.push_name = Some(device.push_name.clone()).filter(|n| !n.is_empty());
        config.prekeys_initial = 30;
        config.reconnect.initial = Duration::from_millis(200);
        config.reconnect.max = Duration::from_secs(2);
        let (client, mut events) = match Client::start(store, config).await {
            Ok(started) => started,
            Err(e) => {
                warn!(pn = self.pn, device = self.device, error = %e, "customer client did not start");
                return;
            }
        };
        let mut waiting: VecDeque<Command> = VecDeque::new();
        // Commands that met a disconnected client are tried again on this beat.
        let mut beat = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = beat.tick(), if !waiting.is_empty() => {
                    self.run_waiting(&client, &mut waiting).await;
                }
                event = events.recv() => match event {
                    None | Some(Event::Stopped) => break,
                    Some(Event::Connected) => self.run_waiting(&client, &mut waiting).await,
                    Some(Event::Message(message)) => self.received(&client, message).await,
                    Some(Event::PollVote(vote)) => self.vote_received(vote),
                    Some(Event::Receipt(receipt)) => {
                        self.shared
                            .lock()
                            .customer_receipt(&self.pn, &receipt.ids, &receipt.kind);
                    }
                    Some(other) => debug!(pn = self.pn, device = self.device, ?other, "customer event"),
                },
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Stop(done)) => {
                        client.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => {
                        waiting.push_back(command);
                        self.run_waiting(&client, &mut waiting).await;
                    }
                },
            }
        }
        client.shutdown().await;
    }

    /// Runs the waiting commands in order while the client is connected.
    async fn run_waiting(&self, client: &Client, waiting: &mut VecDeque<Command>) {
        while client.is_connected()
            && let Some(command) = waiting.pop_front()
        {
            if let Some(back) = self.execute(client, command).await {
                waiting.push_front(back);
                return;
            }
        }
    }

    /// Runs a command; gives it back when the client is not connected (to run once it is).
    async fn execute(&self, client: &Client, command: Command) -> Option<Command> {
        let result = match &command {
            Command::Send { to, id, body } => self.send(client, to, id, body).await,
            Command::Read { chat, sender, ids } => {
                client.mark_read(chat, sender.as_ref(), ids).await
            }
            Command::Typing { chat, composing } => {
                client.send_chat_state(chat, *composing, false).await
            }
            Command::Presence { available } => client.send_presence(*available, None).await,
            Command::Vote {
                to,
                id,
                poll_id,
                poll_sender,
                options,
            } => vote(client, to, id, poll_id, poll_sender.as_ref(), options).await,
            Command::Poll {
                to,
                id,
                name,
                options,
            } => {
                let names: Vec<&str> = options.iter().map(String::as_str).collect();
                let poll = client.poll_creation(name, &names, 1);
                client.send_message_with_id(to, id, poll).await.map(|_| ())
            }
            Command::Stop(_) => Ok(()),
        };
        match result {
            Ok(()) => None,
            Err(ClientError::NotConnected) => Some(command),
            Err(e) => {
                warn!(pn = self.pn, device = self.device, error = %e, "customer command failed");
                None
            }
        }
    }

    async fn send(
        &self,
        client: &Client,
        to: &Jid,
        id: &str,
        body: &Body,
    ) -> Result<(), ClientError> {
        let mut message = match body {
            Body::Message(message) => (**message).clone(),
            Body::Media(media, ..) => client.upload_media(media.outgoing()).await?,
        };
        if let Body::Media(media, context, shape) = body {
            set_context(&mut message, context.clone());
            message = shape.apply(message);
            let data = media.data.clone();
            if let Some(r) = MediaRef::from_message(&message)
                && let Ok(key) = <[u8; 32]>::try_from(r.media_key.as_slice())
            {
                // What the customer's phone keeps to answer a media-retry request.
                self.shared
                    .lock()
                    .customer_keep_media(&self.pn, id, (r.media_type, key, data));
            }
        }
        client.send_message_with_id(to, id, message).await?;
        Ok(())
    }

    /// Records a decrypted message (media downloaded and verified by the client), then
    /// acknowledges it so the client sends the delivery receipt.
    async fn received(&self, client: &Client, mut message: Box<IncomingMessage>) {
        let mut understood = crate::device::understand_message(&message.message);
        let info = &message.info;
        let skip = understood.kind == "sender_key" || understood.kind == "protocol" && info.from_me;
        if !skip {
            crate::customer_content::refine(&mut understood, &message.content);
            self.shared
                .customers
                .received
                .keep(&self.pn, &info.id, message.raw.clone());
            let mut details = understood.details.clone();
            let (media_sha256, media_error) = match MediaRef::from_incoming(&message) {
                None => (understood.media_sha256.clone(), None),
                Some(r) => match client.download(&r).await {
                    Ok(plain) => {
                        if let Some(d) = details.as_mut() {
                            d.downloaded_length = Some(plain.len() as u64);
                        }
                        (Some(hex::encode(Sha256::digest(&plain))), None)
                    }
                    Err(e) => (None, Some(e.to_string())),
                },
            };
            let group =
                (info.chat.is_group() || info.chat.is_broadcast()).then(|| info.chat.to_string());
            let destination = understood
                .destination
                .clone()
                .or_else(|| (info.from_me && group.is_none()).then(|| info.chat.to_string()));
            let entry = InboxEntry {
                id: info.id.clone(),
                from: info.sender.to_string(),
                device: self.device,
                kind: understood.kind,
                text: understood.text,
                media_sha256,
                group,
                from_me: info.from_me,
                destination,
                media_error,
                reply_to: understood.reply_to,
                receipt: "delivered".into(),
                received_at_ms: now_ms(),
                media_details: details,
            };
            self.shared.lock().customer_received(&self.pn, entry);
        }
        message.ack();
    }
}

impl DeviceTask {
    /// A vote on a poll the customer sent or got, opened by its client: recorded as a
    /// `poll_vote` naming the poll, then acknowledged.
    fn vote_received(&self, mut vote: Box<whatsapp_client::PollVote>) {
        let info = &vote.info;
        self.shared
            .customers
            .received
            .keep(&self.pn, &info.id, vote.message.clone());
        let entry = InboxEntry {
            id: info.id.clone(),
            from: info.sender.to_string(),
            device: self.device,
            kind: "poll_vote".into(),
            text: None,
            media_sha256: None,
            media_details: None,
            group: info.chat.is_group().then(|| info.chat.to_string()),
            from_me: info.from_me,
            destination: None,
            media_error: None,
            reply_to: Some(vote.poll_id.clone()),
            receipt: "delivered".into(),
            received_at_ms: now_ms(),
        };
        self.shared.lock().customer_received(&self.pn, entry);
        vote.ack();
    }
}

/// Puts a quote on an uploaded media message.
fn set_context(message: &mut e2e::Message, context: Option<Box<e2e::ContextInfo>>) {
    let Some(context) = context else {
        return;
    };
    if let Some(m) = message.image_message.as_mut() {
        m.context_info = Some(context);
    } else if let Some(m) = message.audio_message.as_mut() {
        m.context_info = Some(context);
    } else if let Some(m) = message.document_message.as_mut() {
        m.context_info = Some(context);
    } else if let Some(m) = message.video_message.as_mut() {
        m.context_info = Some(context);
    }
}

/// Seals a vote with the poll's secret (kept by the client when the poll arrived) and sends
/// it.
async fn vote(
    client: &Client,
    to: &Jid,
    id: &str,
    poll_id: &str,
    poll_sender: Option<&Jid>,
    options: &[String],
) -> Result<(), ClientError> {
    let own = client.jid().ok_or(ClientError::NotConnected)?;
    let poll = whatsapp_client::MessageInfo {
        id: poll_id.to_owned(),
        chat: to.to_non_ad(),
        sender: poll_sender.cloned().unwrap_or_else(|| own.to_non_ad()),
        sender_alt: None,
        from_me: poll_sender.is_none(),
        push_name: None,
        timestamp: 0,
        offline: false,
    };
    let names: Vec<&str> = options.iter().map(String::as_str).collect();
    let message = client.poll_vote(&poll, &names).await?;
    client
        .send_message_with_id(to, id, message)
        .await
        .map(|_| ())
}
