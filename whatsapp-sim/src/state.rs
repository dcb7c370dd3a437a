//! The server's state and logic: accounts and devices, connections, pairing, prekeys, usync,
//! the relay with per-device offline queues, simulated devices and faults.
//!
//! Everything here runs under one mutex and never awaits; connection tasks feed it nodes and
//! it answers through each connection's outbound channel.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use prost::Message as _;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use whatsapp_proto::binary::{Content, Node};
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::payload::RegistrationData;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::signal::KeyPair;

mod customers;
mod groups;
mod key_index;
mod sent;
mod stanzas;
mod sync;

pub use stanzas::CallRecord;

pub(crate) use customers::ProvisionedDevice;

use crate::device::{self, Bundle, Outgoing, SimDevice};
use crate::phone::{self, IssuedIdentity};
use crate::{
    AccountInfo, ChatStateRecord, DeviceInfo, Fault, InboxEntry, SentEntry, SimError, StanzaRecord,
};

/// An account's phone number (digits) and a device number.
pub(crate) type DeviceKey = (String, u16);

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this node.
    Node(Node),
    /// Send this node (if any) and close the socket.
    Close(Option<Node>),
}

pub(crate) type Tx = mpsc::UnboundedSender<Outbound>;

/// Unix seconds.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn server() -> Jid {
    Jid::server_jid()
}

/// A stanza waiting in a device's queue until the device acks it.
#[derive(Debug, Clone)]
struct Queued {
    class: &'static str,
    id: String,
    /// The account on the other side (for matching acks by `to`).
    peer: Option<String>,
    node: Node,
    sent: bool,
}

/// A linked companion device: what the server knows of it.
pub(crate) struct Companion {
    noise_key: [u8; 32],
    identity: [u8; 32],
    registration_id: u32,
    spk: (u32, [u8; 32], [u8; 64]),
    prekeys: VecDeque<(u32, [u8; 32])>,
    low_notified: bool,
    /// The ADVSignedDeviceIdentity (empty for a customer's device 0, the phone itself).
    signed_identity: Vec<u8>,
    platform: String,
    /// A simulated customer's device, driven by a whatsapp-client `Client` in the sim
    /// ([`crate::customer`]): not part of what tests inspect as linked companions.
    simulated: bool,
}

pub(crate) enum DeviceKind {
    Companion(Box<Companion>),
    Simulated(Box<SimDevice>),
}

pub(crate) struct Device {
    key_index: u32,
    kind: DeviceKind,
    queue: VecDeque<Queued>,
    /// Simulated devices: stanza ids already seen (duplicates are acked, not re-processed).
    retries: HashMap<String, u32>,
}

pub(crate) struct Account {
    pn: String,
    lid: String,
    name: String,
    key: KeyPair,
    raw_id: u32,
    next_device: u16,
    next_key_index: u32,
    devices: BTreeMap<u16, Device>,
    customer: bool,
    push_name: Option<String>,
    /// Addressing a simulated customer uses when it writes: LID when true.
    lid_addressing: bool,
    inbox: Vec<InboxEntry>,
    /// (sender, id, device) of every inbox entry: a redelivered message is kept once, found
    /// without scanning the inbox.
    inbox_keys: HashSet<(String, String, u16)>,
    sent: sent::SentLog,
    chatstates: Vec<ChatStateRecord>,
    /// Presence: online, and when it last changed (unix seconds).
    available: bool,
    last_seen: u64,
    /// Trusted-contact tokens this account issued, by recipient account: (token, unix time).
    issued_tokens: HashMap<String, (Vec<u8>, u64)>,
    /// Revoked key indexes and a forged signature ([`key_index`]).
    key_index_controls: key_index::KeyIndexControls,
}

struct SentRecord {
    entry: SentEntry,
    plaintext: Vec<u8>,
    chat: Jid,
    /// For media: what the phone keeps to re-upload on a media-retry request.
    media: Option<(whatsapp_proto::media::MediaType, [u8; 32], Vec<u8>)>,
}

impl Account {
    /// Whether a device of this account already holds the message `id` from `from`.
    fn has_received(&self, from: &str, id: &str, device: u16) -> bool {
        self.inbox_keys
            .contains(&(from.to_owned(), id.to_owned(), device))
    }

    /// Keeps a received message unless that device already holds it; true if kept.
    fn receive(&mut self, entry: InboxEntry) -> bool {
        let key = (entry.from.clone(), entry.id.clone(), entry.device);
        if !self.inbox_keys.insert(key) {
            return false;
        }
        self.inbox.push(entry);
        true
    }

    fn pn_jid(&self) -> Jid {
        Jid::user(self.pn.clone())
    }
    fn lid_jid(&self) -> Jid {
        Jid::new(self.lid.clone(), Server::Lid)
    }
    fn device_jid(&self, device: u16, lid: bool) -> Jid {
        if lid {
            self.lid_jid().with_device(device)
        } else {
            self.pn_jid().with_device(device)
        }
    }
}

struct ConnEntry {
    id: u64,
    tx: Tx,
    active: bool,
}

/// A registration connection showing QR codes.
struct Pending {
    tx: Tx,
    noise_key: [u8; 32],
    registration: RegistrationData,
    platform: String,
    refs: Vec<(String, Instant, Instant)>,
    awaiting: Option<AwaitingSign>,
    link: Option<LinkCode>,
}

/// Phone-code pairing in progress on a registration connection.
struct LinkCode {
    phone: String,
    wrapped_companion: Vec<u8>,
    reference: String,
    primary: Option<LinkPrimary>,
}

struct LinkPrimary {
    ephemeral: whatsapp_proto::xeddsa::KeyPair,
    identity: whatsapp_proto::xeddsa::KeyPair,
    companion_ephemeral: [u8; 32],
    reply: Option<oneshot::Sender<Result<Jid, SimError>>>,
}

/// What the phone computed from the typed code (outside the state lock).
pub(crate) struct LinkPrimaryKeys {
    pub ephemeral: whatsapp_proto::xeddsa::KeyPair,
    pub identity: whatsapp_proto::xeddsa::KeyPair,
    pub wrapped: [u8; 80],
    pub companion_ephemeral: [u8; 32],
}

struct AwaitingSign {
    iq_id: String,
    pn: String,
    device: u16,
    issued: IssuedIdentity,
    reply: oneshot::Sender<Result<Jid, SimError>>,
}

/// A group: its participants are accounts (phone numbers).
struct Group {
    subject: String,
    creator: String,
    created: u64,
    participants: Vec<String>,
    lid_mode: bool,
}

/// Settings the state needs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub qr_first_ref: Duration,
    pub qr_next_ref: Duration,
    pub ref_count: usize,
    pub prekey_low_threshold: usize,
    pub min_app_version: Option<[u32; 3]>,
    /// The phone shares app-state keys and history with each new companion.
    pub phone_bootstrap: bool,
}

/// The whole server.
pub(crate) struct State {
    settings: Settings,
    accounts: BTreeMap<String, Account>,
    lids: HashMap<String, String>,
    conns: HashMap<DeviceKey, ConnEntry>,
    pending: HashMap<u64, Pending>,
    work: VecDeque<(DeviceKey, Queued)>,
    next_id: u64,
    nacks: VecDeque<u16>,
    /// How many more customer messages to companions get a corrupted ciphertext.
    corrupt: u32,
    temp_bans: HashMap<String, (u16, Instant)>,
    stanzas: Vec<StanzaRecord>,
    media: HashMap<String, Vec<u8>>,
    media_auth: HashSet<String>,
    media_host: String,
    groups: BTreeMap<String, Group>,
    /// Presence subscriptions: account → subscribed devices.
    subscriptions: HashMap<String, HashSet<DeviceKey>>,
    /// App-state collections and phone keys per account ([`sync`]).
    sync: crate::appstate::SyncStore,
    /// Placeholders, resend requests and relayed calls ([`stanzas`]).
    stanza_state: stanzas::StanzaState,
}

/// What a new connection turned out to be.
pub(crate) enum Admission {
    /// Logged in as this device.
    LoggedIn(DeviceKey),
    /// A registration connection (QR / code pairing).
    Registering,
    /// Refused; the node was sent with a close.
    Refused,
}

fn iq_result(id: &str) -> Node {
    Node::new("iq")
        .attr("from", server())
        .attr("id", id.to_owned())
        .attr("type", "result")
}

fn iq_error(id: &str, code: u16, text: &str) -> Node {
    iq_result(id)
        .attr("type", "error")
        .children([Node::new("error")
            .attr("code", code)
            .attr("text", text.to_owned())])
}

fn random_id() -> String {
    let mut bytes = [0u8; 9];
    OsRng.fill_bytes(&mut bytes);
    format!("3EB0{}", hex::encode_upper(bytes))
}

fn bytes3(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

fn child_bytes<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag).and_then(Node::content_bytes)
}

fn fixed<const N: usize>(node: &Node, tag: &str) -> Option<[u8; N]> {
    child_bytes(node, tag).and_then(|b| b.try_into().ok())
}

/// A chat named by the control API: digits (a phone number) or a JID.
pub(crate) fn parse_to(to: &str) -> Result<Jid, SimError> {
    if to.contains('@') {
        to.parse()
            .map_err(|_| SimError::BadRequest(format!("bad jid {to:?}")))
    } else {
        Ok(Jid::user(
            to.chars().filter(char::is_ascii_digit).collect::<String>(),
        ))
    }
}

/// A message just handed to the server: status `sent` until its ack and receipts.
pub(crate) fn sent_entry(
    id: &str,
    chat: &Jid,
    understood: device::Understood,
    stanza_type: &str,
) -> SentEntry {
    SentEntry {
        id: id.to_owned(),
        to: chat.to_string(),
        kind: understood.kind,
        text: understood.text,
        status: "sent".into(),
        server_ts: None,
        stanza_type: stanza_type.to_owned(),
    }
}

/// whatsmeow `send.go` `participantListHashV2`: "2:" + base64 (standard, no padding) of the
/// first 6 bytes of SHA-256 over the sorted `user.agent:device@server` strings.
pub(crate) fn phash(devices: &[Jid]) -> String {
    let mut names: Vec<String> = devices
        .iter()
        .map(|j| format!("{}.{}:{}@{}", j.user, j.agent, j.device, j.server))
        .collect();
    names.sort();
    let digest = Sha256::digest(names.concat().as_bytes());
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..6])
    )
}

impl State {
    pub fn new(settings: Settings) -> State {
        State {
            settings,
            accounts: BTreeMap::new(),
            lids: HashMap::new(),
            conns: HashMap::new(),
            pending: HashMap::new(),
            work: VecDeque::new(),
            next_id: 1,
            nacks: VecDeque::new(),
            corrupt: 0,
            temp_bans: HashMap::new(),
            stanzas: Vec::new(),
            media: HashMap::new(),
            media_auth: HashSet::new(),
            media_host: String::new(),
            groups: BTreeMap::new(),
            subscriptions: HashMap::new(),
            sync: Default::default(),
            stanza_state: Default::default(),
        }
    }

    /// The `host:port` media_conn announces.
    pub fn set_media_host(&mut self, host: String) {
        self.media_host = host;
    }

    /// Stores an uploaded blob (part 2 §7.4): the auth must come from a media_conn answer and
    /// the token must be base64url of the blob's SHA-256 (padded or not).
    pub fn media_upload(
        &mut self,
        mms_type: &str,
        token: &str,
        auth: Option<&str>,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, SimError> {
        if !auth.is_some_and(|a| self.media_auth.contains(a)) {
            return Err(SimError::Unauthorized(
                "media auth unknown or missing".into(),
            ));
        }
        const TYPES: [&str; 8] = [
            "image",
            "video",
            "audio",
            "document",
            "md-msg-hist",
            "md-app-state",
            "thumbnail-link",
            "sticker-pack",
        ];
        if !TYPES.contains(&mms_type) {
            return Err(SimError::BadRequest(format!(
                "unknown mms type {mms_type:?}"
            )));
        }
        let hash = Sha256::digest(&body);
        let padded = whatsapp_proto::media::upload_token(&hash);
        if token != padded && token != padded.trim_end_matches('=') {
            return Err(SimError::BadRequest(
                "upload token is not the blob's hash".into(),
            ));
        }
        Ok(self.store_media(body))
    }

    fn store_media(&mut self, body: Vec<u8>) -> serde_json::Value {
        let mut raw = [0u8; 12];
        OsRng.fill_bytes(&mut raw);
        let id = hex::encode(raw);
        let path = format!("/v/t62.7118-24/{id}.enc");
        let direct_path = format!("{path}?ccb=11-4&oh=01_{id}&oe=68000000&_nc_sid=5e03e0");
        self.media.insert(path, body);
        serde_json::json!({
            "url": format!("https://{}{direct_path}&mms3=true", self.media_host),
            "direct_path": direct_path,
            "handle": id,
            "object_id": id,
        })
    }

    /// A stored blob by path (the query string is ignored).
    pub fn media_download(&self, path: &str) -> Option<Vec<u8>> {
        let path = path.split('?').next().unwrap_or_default();
        let path = path
            .strip_prefix("https://")
            .and_then(|p| p.find('/').map(|i| &p[i..]))
            .unwrap_or(path);
        self.media.get(path).cloned()
    }

    fn next_stanza_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 10_000 + self.next_id)
    }

    // ------------------------------------------------------------------ accounts

    fn resolve(&self, jid: &Jid) -> Option<DeviceKey> {
        let pn = match jid.server {
            Server::User => jid.user.clone(),
            Server::Lid => self.lids.get(&jid.user)?.clone(),
            _ => return None,
        };
        self.accounts.contains_key(&pn).then_some((pn, jid.device))
    }

    fn device_exists(&self, key: &DeviceKey) -> bool {
        self.accounts
            .get(&key.0)
            .is_some_and(|a| a.devices.contains_key(&key.1))
    }

    /// Creates an account with a simulated primary phone (device 0), or returns the existing one.
    pub fn ensure_account(
        &mut self,
        pn: &str,
        name: &str,
        customer: bool,
    ) -> Result<Jid, SimError> {
        if pn.is_empty()
            || !pn.bytes().all(|b| b.is_ascii_digit())
            || pn.len() < 7
            || pn.starts_with('0')
        {
            return Err(SimError::BadRequest(format!(
                "{pn:?} is not a phone number in international form (digits, no leading 0)"
            )));
        }
        if let Some(account) = self.accounts.get(pn) {
            return Ok(account.pn_jid());
        }
        let mut rng = OsRng;
        let lid = loop {
            let candidate = format!(
                "{}",
                rng.gen_range(100_000_000_000_000u64..300_000_000_000_000u64)
            );
            if !self.lids.contains_key(&candidate) {
                break candidate;
            }
        };
        let key = KeyPair::generate(&mut rng);
        let primary = SimDevice::new(key.clone(), &mut rng);
        let mut devices = BTreeMap::new();
        devices.insert(
            0,
            Device {
                key_index: 0,
                kind: DeviceKind::Simulated(Box::new(primary)),
                queue: VecDeque::new(),
                retries: HashMap::new(),
            },
        );
        self.lids.insert(lid.clone(), pn.to_owned());
        self.accounts.insert(
            pn.to_owned(),
            Account {
                pn: pn.to_owned(),
                lid,
                name: name.to_owned(),
                key,
                raw_id: rng.gen_range(1..u32::MAX),
                next_device: 1,
                next_key_index: 1,
                devices,
                customer,
                push_name: (!name.is_empty()).then(|| name.to_owned()),
                lid_addressing: false,
                inbox: Vec::new(),
                inbox_keys: HashSet::new(),
                sent: Default::default(),
                chatstates: Vec::new(),
                issued_tokens: HashMap::new(),
                available: customer,
                last_seen: now_unix(),
                key_index_controls: Default::default(),
            },
        );
        info!(pn, customer, "account created");
        Ok(Jid::user(pn.to_owned()))
    }

    pub fn accounts_info(&self) -> Vec<AccountInfo> {
        self.accounts
            .values()
            .filter(|a| !a.customer || a.devices.len() > 1 || a.devices.keys().any(|d| *d != 0))
            .map(|a| AccountInfo {
                phone: a.pn.clone(),
                lid: a.lid_jid().to_string(),
                customer: a.customer,
                devices: a
                    .devices
                    .iter()
                    .filter(|(_, d)| matches!(&d.kind, DeviceKind::Companion(c) if !c.simulated))
                    .map(|(id, d)| DeviceInfo {
                        jid: a.pn_jid().with_device(*id).to_string(),
                        lid: a.lid_jid().with_device(*id).to_string(),
                        online: self.conns.contains_key(&(a.pn.clone(), *id)),
                        offline_queue: d.queue.len(),
                        platform: match &d.kind {
                            DeviceKind::Companion(c) => c.platform.clone(),
                            DeviceKind::Simulated(_) => String::new(),
                        },
                    })
                    .collect(),
            })
            .filter(|a| !a.devices.is_empty())
            .collect()
    }

    // ------------------------------------------------------------------ connections

    fn send_to(&self, key: &DeviceKey, node: Node) -> bool {
        match self.conns.get(key) {
            Some(conn) => conn.tx.send(Outbound::Node(node)).is_ok(),
            None => false,
        }
    }

    /// Decides what a finished handshake becomes, and sends the first node.
    pub fn admit(
        &mut self,
        conn_id: u64,
        tx: &Tx,
        noise_key: [u8; 32],
        payload: &whatsapp_proto::pb::wa6::ClientPayload,
    ) -> Admission {
        let refuse = |tx: &Tx, reason: u16| {
            let _ = tx.send(Outbound::Close(Some(
                Node::new("failure")
                    .attr("reason", reason)
                    .attr("location", "sim"),
            )));
            Admission::Refused
        };
        if let Some(min) = self.settings.min_app_version {
            let v = payload
                .user_agent
                .as_ref()
                .and_then(|u| u.app_version.as_ref())
                .map(|v| {
                    [
                        v.primary.unwrap_or(0),
                        v.secondary.unwrap_or(0),
                        v.tertiary.unwrap_or(0),
                    ]
                })
                .unwrap_or([0; 3]);
            if v < min {
                info!(conn_id, ?v, "client outdated");
                return refuse(tx, 405);
            }
        }
        let Some(username) = payload.username else {
            return self.admit_registration(conn_id, tx, noise_key, payload);
        };
        let pn = username.to_string();
        let device = payload.device.unwrap_or(0).min(u32::from(u16::MAX)) as u16;
        let key = (pn.clone(), device);
        let known = self
            .accounts
            .get(&pn)
            .and_then(|a| a.devices.get(&device))
            .is_some_and(
                |d| matches!(&d.kind, DeviceKind::Companion(c) if c.noise_key == noise_key),
            );
        if !known {
            info!(
                conn_id,
                pn, device, "login of an unknown device refused with 401"
            );
            return refuse(tx, 401);
        }
        if let Some((code, until)) = self.temp_bans.get(&pn).copied() {
            let now = Instant::now();
            if now < until {
                let _ = tx.send(Outbound::Close(Some(
                    Node::new("failure")
                        .attr("reason", 402u16)
                        .attr("code", code)
                        .attr("expire", (until - now).as_secs().max(1)),
                )));
                return Admission::Refused;
            }
            self.temp_bans.remove(&pn);
        }
        if let Some(old) = self.conns.remove(&key) {
            info!(pn, device, "second connection: the older one is replaced");
            let _ = old.tx.send(Outbound::Close(Some(
                Node::new("stream:error")
                    .children([Node::new("conflict").attr("type", "replaced")]),
            )));
        }
        let Some(account) = self.accounts.get_mut(&pn) else {
            return refuse(tx, 401);
        };
        if let Some(name) = payload.push_name.clone().filter(|n| !n.is_empty()) {
            account.push_name = Some(name);
        }
        let lid = account.lid_jid().with_device(device);
        for item in account
            .devices
            .get_mut(&device)
            .map(|d| d.queue.iter_mut())
            .into_iter()
            .flatten()
        {
            item.sent = false;
        }
        let _ = tx.send(Outbound::Node(
            Node::new("success")
                .attr("t", now_unix())
                .attr("props", "27")
                .attr("location", "sim")
                .attr("lid", lid)
                .attr("abprops", "10")
                .attr("creation", now_unix()),
        ));
        // Edge routing hint, stored by clients and sent back before the intro next time
        // (part 1 §1.3).
        let _ = tx.send(Outbound::Node(
            Node::new("ib").children([Node::new("edge_routing")
                .children([Node::new("routing_info").bytes(vec![0x08, 0x08, 0x08, 0x02])])]),
        ));
        let passive = payload.passive.unwrap_or(false);
        self.conns.insert(
            key.clone(),
            ConnEntry {
                id: conn_id,
                tx: tx.clone(),
                active: false,
            },
        );
        info!(conn_id, pn, device, passive, "logged in");
        if !passive {
            self.activate(&key);
        }
        Admission::LoggedIn(key)
    }

    fn admit_registration(
        &mut self,
        conn_id: u64,
        tx: &Tx,
        noise_key: [u8; 32],
        payload: &whatsapp_proto::pb::wa6::ClientPayload,
    ) -> Admission {
        let registration = match whatsapp_proto::payload::registration_data(payload) {
            Ok(r) => r,
            Err(e) => {
                info!(conn_id, error = %e, "registration payload refused");
                let _ = tx.send(Outbound::Close(Some(
                    Node::new("failure")
                        .attr("reason", 400u16)
                        .attr("location", "sim"),
                )));
                return Admission::Refused;
            }
        };
        let platform = payload
            .device_pairing_data
            .as_ref()
            .and_then(|d| d.device_props.as_deref())
            .and_then(|p| whatsapp_proto::pb::companion::DeviceProps::decode(p).ok())
            .and_then(|p| p.os)
            .unwrap_or_default();
        let now = Instant::now();
        let mut refs = Vec::new();
        let mut start = now;
        for i in 0..self.settings.ref_count {
            let life = if i == 0 {
                self.settings.qr_first_ref
            } else {
                self.settings.qr_next_ref
            };
            let mut raw = [0u8; 24];
            OsRng.fill_bytes(&mut raw);
            let text = format!(
                "2@{}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            );
            refs.push((text, start, start + life));
            start += life;
        }
        let id = self.next_stanza_id();
        let node = Node::new("iq")
            .attr("from", server())
            .attr("id", id)
            .attr("type", "set")
            .attr("xmlns", "md")
            .children([Node::new("pair-device").children(
                refs.iter()
                    .map(|(r, _, _)| Node::new("ref").bytes(r.as_bytes().to_vec())),
            )]);
        let _ = tx.send(Outbound::Node(node));
        self.pending.insert(
            conn_id,
            Pending {
                tx: tx.clone(),
                noise_key,
                registration,
                platform,
                refs,
                awaiting: None,
                link: None,
            },
        );
        info!(conn_id, "registration connection: pair-device sent");
        Admission::Registering
    }

    /// A connection ended.
    pub fn disconnected(&mut self, conn_id: u64, key: Option<&DeviceKey>) {
        self.pending.remove(&conn_id);
        if let Some(key) = key {
            let current = self.conns.get(key).is_some_and(|c| c.id == conn_id);
            if current {
                self.conns.remove(key);
                info!(conn_id, pn = key.0, device = key.1, "disconnected");
                if !self.conns.keys().any(|k| k.0 == key.0) {
                    self.set_presence(&key.0.clone(), false);
                }
            }
            // Stanzas sent on this connection and not acked go out again at the next login;
            // a replaced connection leaves its successor's deliveries alone.
            if (current || !self.conns.contains_key(key))
                && let Some(device) = self
                    .accounts
                    .get_mut(&key.0)
                    .and_then(|a| a.devices.get_mut(&key.1))
            {
                for item in &mut device.queue {
                    item.sent = false;
                }
            }
        }
    }

    /// `<active/>`: deliver the offline queue, then the end-of-batch marker.
    fn activate(&mut self, key: &DeviceKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.active {
            return;
        }
        conn.active = true;
        let tx = conn.tx.clone();
        let Some(device) = self
            .accounts
            .get_mut(&key.0)
            .and_then(|a| a.devices.get_mut(&key.1))
        else {
            return;
        };
        let pending: Vec<&mut Queued> = device.queue.iter_mut().filter(|q| !q.sent).collect();
        let count = pending.len();
        let by_class = |c: &str| pending.iter().filter(|q| q.class == c).count();
        if count > 0 {
            let _ = tx.send(Outbound::Node(
                Node::new("ib").children([Node::new("offline_preview")
                    .attr("count", count)
                    .attr("message", by_class("message"))
                    .attr("notification", by_class("notification"))
                    .attr("receipt", by_class("receipt"))
                    .attr("appdata", 0u32)]),
            ));
        }
        for item in pending {
            item.sent = true;
            let node = item.node.clone().attr("offline", "1");
            let _ = tx.send(Outbound::Node(node));
        }
        let _ = tx.send(Outbound::Node(
            Node::new("ib").children([Node::new("offline").attr("count", count)]),
        ));
        debug!(pn = key.0, device = key.1, count, "offline queue delivered");
    }

    // ------------------------------------------------------------------ dispatch

    /// A node from a logged-in device.
    pub fn handle(&mut self, key: &DeviceKey, node: Node) {
        if !self.conns.contains_key(key) {
            return;
        }
        match node.tag.as_str() {
            "iq" => self.handle_iq(key, &node),
            "message" => {
                self.record(key, &node);
                self.handle_message(key, &node);
            }
            "receipt" => {
                self.record(key, &node);
                self.handle_receipt(key, &node);
            }
            "ack" => {
                // A nack (an ack with `error`) is logged: tests read the client's answer.
                if node.attr_value("error").is_some() {
                    self.record(key, &node);
                }
                self.handle_ack(key, &node);
            }
            "call" => {
                self.record(key, &node);
                self.handle_call(key, &node);
            }
            "presence" => self.handle_presence(key, &node),
            "chatstate" => self.handle_chatstate(key, &node),
            "ib" => {}
            other => debug!(tag = other, "unhandled stanza ignored"),
        }
        self.drain();
    }

    fn record(&mut self, key: &DeviceKey, node: &Node) {
        if self.is_simulated(key) {
            return;
        }
        if self.stanzas.len() >= 200_000 {
            self.stanzas.drain(..100_000);
        }
        self.stanzas.push(StanzaRecord {
            from: Jid::user(key.0.clone()).with_device(key.1).to_string(),
            tag: node.tag.to_string(),
            id: node.attrs().optional_string("id").unwrap_or_default(),
            kind: node.attrs().optional_string("type").unwrap_or_default(),
            to: node.attrs().optional_string("to").unwrap_or_default(),
            media_types: enc_media_types(node),
            recipients: enc_recipients(node),
            sender_key_id: skmsg_key_id(node),
            error: node
                .attrs()
                .optional_string("error")
                .and_then(|e| e.parse().ok()),
            received_at_ms: now_ms(),
        });
    }

    pub fn stanzas(&self) -> Vec<StanzaRecord> {
        self.stanzas.clone()
    }

    /// A node from a registration connection.
    pub fn handle_registering(&mut self, conn_id: u64, node: Node) {
        if node.tag != "iq" || !self.pending.contains_key(&conn_id) {
            return;
        }
        let attrs = node.attrs();
        let id = attrs.optional_string("id").unwrap_or_default();
        let kind = attrs.optional_string("type").unwrap_or_default();
        if kind == "get" && attrs.optional_string("xmlns").as_deref() == Some("w:p") {
            let _ = self.send_to_pending(conn_id, iq_result(&id));
            return;
        }
        if kind == "set"
            && let Some(reg) = node.child("link_code_companion_reg")
        {
            let reply = match reg.attrs().optional_str("stage") {
                Some("companion_hello") => self.link_code_hello(conn_id, &id, reg),
                Some("companion_finish") => self.link_code_finish(conn_id, &id, reg),
                _ => iq_error(&id, 400, "bad-request"),
            };
            if !reply.tag.is_empty() {
                let _ = self.send_to_pending(conn_id, reply);
            }
            return;
        }
        let Some(pending) = self.pending.get_mut(&conn_id) else {
            return;
        };
        let awaiting_id = pending.awaiting.as_ref().map(|a| a.iq_id.clone());
        if awaiting_id.as_deref() != Some(id.as_str()) {
            if kind == "get" || kind == "set" {
                let _ = pending
                    .tx
                    .send(Outbound::Node(iq_error(&id, 401, "not-authorized")));
            }
            return;
        }
        let Some(awaiting) = pending.awaiting.take() else {
            return;
        };
        if kind == "error" {
            let error = node.child("error");
            let code = error
                .and_then(|e| e.attrs().optional_string("code"))
                .unwrap_or_default();
            let text = error
                .and_then(|e| e.attrs().optional_string("text"))
                .unwrap_or_default();
            info!(conn_id, code, text, "companion refused pair-success");
            let _ = awaiting.reply.send(Err(SimError::PairingRefused(format!(
                "companion answered error {code} {text}"
            ))));
            return;
        }
        let sign = node.path(&["pair-device-sign", "device-identity"]);
        let result = match sign {
            None => Err(phone::PhoneError::Malformed {
                reason: "no pair-device-sign/device-identity".into(),
            }),
            Some(identity) => phone::verify_device_sign(
                &awaiting.issued,
                &pending.registration.identity_key,
                identity.attrs().optional_str("key-index"),
                identity.content_bytes().unwrap_or_default(),
            ),
        };
        let signed_identity = match result {
            Ok(s) => s,
            Err(e) => {
                warn!(conn_id, error = %e, "pair-device-sign refused");
                let _ = pending.tx.send(Outbound::Close(Some(
                    Node::new("stream:error").attr("code", 401u16),
                )));
                let _ = awaiting
                    .reply
                    .send(Err(SimError::PairingRefused(e.to_string())));
                return;
            }
        };
        let registration = pending.registration.clone();
        let tx = pending.tx.clone();
        let noise_key = pending.noise_key;
        let platform = pending.platform.clone();
        self.pending.remove(&conn_id);
        let Some(account) = self.accounts.get_mut(&awaiting.pn) else {
            return;
        };
        let companion = Companion {
            noise_key,
            identity: registration.identity_key,
            registration_id: registration.registration_id,
            spk: (
                registration.signed_pre_key_id,
                registration.signed_pre_key,
                registration.signed_pre_key_signature,
            ),
            prekeys: VecDeque::new(),
            low_notified: false,
            signed_identity,
            platform,
            simulated: false,
        };
        account.devices.insert(
            awaiting.device,
            Device {
                key_index: awaiting.issued.key_index,
                kind: DeviceKind::Companion(Box::new(companion)),
                queue: VecDeque::new(),
                retries: HashMap::new(),
            },
        );
        let jid = account.pn_jid().with_device(awaiting.device);
        info!(conn_id, %jid, "companion paired; restarting the stream (515)");
        let _ = awaiting.reply.send(Ok(jid));
        let pn = awaiting.pn.clone();
        self.notify_devices_changed(&pn, "add", awaiting.device);
        // Give the companion a moment to send what it sends after pair-device-sign
        // (unified_session), then restart the stream.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(Outbound::Close(Some(
                Node::new("stream:error").attr("code", 515u16),
            )));
        });
        self.drain();
    }

    // ------------------------------------------------------------------ pairing

    /// The phone of `pn` scans `qr`. Returns a receiver for the outcome (after pair-device-sign).
    pub fn scan(
        &mut self,
        qr: &str,
        pn: &str,
    ) -> Result<oneshot::Receiver<Result<Jid, SimError>>, SimError> {
        let code = phone::parse_qr(qr).map_err(|e| SimError::BadRequest(e.to_string()))?;
        let now = Instant::now();
        let (conn_id, valid) = self
            .pending
            .iter()
            .find_map(|(id, p)| {
                p.refs
                    .iter()
                    .find(|(r, _, _)| *r == code.reference)
                    .map(|(_, from, until)| (*id, now >= *from && now < *until))
            })
            .ok_or_else(|| SimError::BadRequest("QR ref unknown to the server".into()))?;
        if !valid {
            return Err(SimError::BadRequest(
                "QR code expired or not yet shown".into(),
            ));
        }
        let pending = self
            .pending
            .get(&conn_id)
            .ok_or_else(|| SimError::BadRequest("gone".into()))?;
        if pending.awaiting.is_some() {
            return Err(SimError::BadRequest(
                "this companion is already being paired".into(),
            ));
        }
        if pending.noise_key != code.noise_key {
            return Err(SimError::BadRequest(
                "QR noise key differs from the connection's static key".into(),
            ));
        }
        if pending.registration.identity_key != code.identity_key {
            return Err(SimError::BadRequest(
                "QR identity key differs from the registration payload".into(),
            ));
        }
        self.ensure_account(pn, "", false)?;
        let (reply, rx) = oneshot::channel();
        self.send_pair_success(conn_id, pn, &code.identity_key, &code.adv_secret, reply)?;
        info!(conn_id, pn, "phone scanned the QR code; pair-success sent");
        Ok(rx)
    }

    /// The phone issues the companion's identity and sends `pair-success` (part 1 §7 step 6).
    fn send_pair_success(
        &mut self,
        conn_id: u64,
        pn: &str,
        identity_key: &[u8; 32],
        adv_secret: &[u8; 32],
        reply: oneshot::Sender<Result<Jid, SimError>>,
    ) -> Result<(), SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or(SimError::UnknownAccount(pn.to_owned()))?;
        let device = account.next_device;
        account.next_device += 1;
        let key_index = account.next_key_index;
        account.next_key_index += 1;
        let issued = phone::issue_device_identity(
            &account.key,
            identity_key,
            adv_secret,
            account.raw_id,
            key_index,
            now_unix(),
            &mut OsRng,
        );
        let pn_jid = account.pn_jid().with_device(device);
        let lid_jid = account.lid_jid().with_device(device);
        let biz = account.name.clone();
        let iq_id = self.next_stanza_id();
        let mut children = vec![
            Node::new("device-identity").bytes(issued.hmac_container.clone()),
            Node::new("platform").attr("name", "android"),
            Node::new("device").attr("jid", pn_jid).attr("lid", lid_jid),
        ];
        if !biz.is_empty() {
            children.push(Node::new("biz").attr("name", biz));
        }
        let node = Node::new("iq")
            .attr("from", server())
            .attr("id", iq_id.clone())
            .attr("type", "set")
            .attr("xmlns", "md")
            .attr("t", now_unix())
            .children([Node::new("pair-success").children(children)]);
        let pending = self
            .pending
            .get_mut(&conn_id)
            .ok_or_else(|| SimError::BadRequest("the companion disconnected".into()))?;
        let _ = pending.tx.send(Outbound::Node(node));
        pending.awaiting = Some(AwaitingSign {
            iq_id,
            pn: pn.to_owned(),
            device,
            issued,
            reply,
        });
        Ok(())
    }

    /// Stage 1 of phone-code pairing (part 1 §8): the companion's `companion_hello`.
    fn link_code_hello(&mut self, conn_id: u64, id: &str, reg: &Node) -> Node {
        let phone = reg
            .attrs()
            .optional_jid("jid")
            .ok()
            .flatten()
            .map(|j| j.user)
            .unwrap_or_default();
        let wrapped = child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub");
        let auth: Option<[u8; 32]> = fixed(reg, "companion_server_auth_key_pub");
        let display = reg
            .child("companion_platform_display")
            .and_then(Node::content_bytes)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
            .to_owned();
        let display_ok = display.contains(" (") && display.ends_with(')') && display.len() > 4;
        let Some(pending) = self.pending.get(&conn_id) else {
            return iq_error(id, 400, "bad-request");
        };
        let (Some(wrapped), Some(auth)) = (wrapped, auth) else {
            return iq_error(id, 400, "bad-request");
        };
        if wrapped.len() != 80
            || auth != pending.noise_key
            || !display_ok
            || reg.child("companion_platform_id").is_none()
        {
            return iq_error(id, 400, "bad-request");
        }
        if self.ensure_account(&phone, "", false).is_err() {
            return iq_error(id, 400, "bad-request");
        }
        let mut raw = [0u8; 24];
        OsRng.fill_bytes(&mut raw);
        let reference = base64::engine::general_purpose::STANDARD.encode(raw);
        if let Some(pending) = self.pending.get_mut(&conn_id) {
            pending.link = Some(LinkCode {
                phone,
                wrapped_companion: wrapped.to_vec(),
                reference: reference.clone(),
                primary: None,
            });
        }
        iq_result(id).children([Node::new("link_code_companion_reg")
            .children([Node::new("link_code_pairing_ref").bytes(reference.into_bytes())])])
    }

    /// Code pairing, first half (under the lock): which companion waits for `pn`, its
    /// wrapped ephemeral key and the phone's identity. The slow PBKDF2 runs outside the lock.
    pub fn link_code_prepare(
        &self,
        pn: &str,
    ) -> Result<(u64, Vec<u8>, whatsapp_proto::xeddsa::KeyPair), SimError> {
        let (conn_id, wrapped) = self
            .pending
            .iter()
            .filter_map(|(id, p)| {
                p.link
                    .as_ref()
                    .filter(|l| l.phone == pn && l.primary.is_none())
                    .map(|l| (*id, l.wrapped_companion.clone()))
            })
            .max_by_key(|(id, _)| *id)
            .ok_or_else(|| {
                SimError::BadRequest(format!("no companion is waiting for a code for {pn}"))
            })?;
        let account = self
            .accounts
            .get(pn)
            .ok_or(SimError::UnknownAccount(pn.to_owned()))?;
        let identity =
            whatsapp_proto::xeddsa::KeyPair::from_private(account.key.private.to_bytes());
        Ok((conn_id, wrapped, identity))
    }

    /// Code pairing, second half: `primary_hello` to the companion (part 1 §8 stage 2).
    pub fn link_code_commit(
        &mut self,
        conn_id: u64,
        prepared: LinkPrimaryKeys,
    ) -> Result<oneshot::Receiver<Result<Jid, SimError>>, SimError> {
        let id = self.next_stanza_id();
        let pending = self
            .pending
            .get_mut(&conn_id)
            .ok_or_else(|| SimError::BadRequest("the companion disconnected".into()))?;
        let Some(link) = pending.link.as_mut() else {
            return Err(SimError::BadRequest("the companion disconnected".into()));
        };
        let node = Node::new("notification")
            .attr("from", server())
            .attr("id", id)
            .attr("t", now_unix())
            .attr("type", "link_code_companion_reg")
            .children([Node::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children([
                    Node::new("link_code_pairing_ref").bytes(link.reference.clone().into_bytes()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(prepared.wrapped.to_vec()),
                    Node::new("primary_identity_pub").bytes(prepared.identity.public().to_vec()),
                ])]);
        let (reply, rx) = oneshot::channel();
        link.primary = Some(LinkPrimary {
            ephemeral: prepared.ephemeral,
            identity: prepared.identity,
            companion_ephemeral: prepared.companion_ephemeral,
            reply: Some(reply),
        });
        let _ = pending.tx.send(Outbound::Node(node));
        info!(conn_id, "phone entered the code; primary_hello sent");
        Ok(rx)
    }

    /// Stage 2: the companion's `companion_finish`; the phone checks it and sends pair-success.
    fn link_code_finish(&mut self, conn_id: u64, id: &str, reg: &Node) -> Node {
        let Some(pending) = self.pending.get_mut(&conn_id) else {
            return iq_error(id, 400, "bad-request");
        };
        let identity_key = pending.registration.identity_key;
        let Some(link) = pending.link.as_mut() else {
            return iq_error(id, 400, "bad-request");
        };
        let reference = child_bytes(reg, "link_code_pairing_ref").unwrap_or_default();
        if reference != link.reference.as_bytes() {
            return iq_error(id, 400, "bad-request");
        }
        let Some(primary) = link.primary.as_mut() else {
            return iq_error(id, 400, "bad-request");
        };
        let bundle = child_bytes(reg, "link_code_pairing_wrapped_key_bundle").unwrap_or_default();
        let companion_identity: Option<[u8; 32]> = fixed(reg, "companion_identity_public");
        let finished = phone::open_link_code_bundle(
            &primary.companion_ephemeral,
            &primary.ephemeral,
            &primary.identity,
            bundle,
        );
        let reply = primary.reply.take();
        let phone = link.phone.clone();
        let outcome = match finished {
            Ok((companion, adv_secret))
                if Some(companion) == companion_identity && companion == identity_key =>
            {
                Ok(adv_secret)
            }
            Ok(_) => Err("the key bundle names another identity".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match (outcome, reply) {
            (Ok(adv_secret), Some(reply)) => {
                let _ = self.send_to_pending(conn_id, iq_result(id));
                match self.send_pair_success(conn_id, &phone, &identity_key, &adv_secret, reply) {
                    Ok(()) => info!(conn_id, phone, "code pairing finished; pair-success sent"),
                    Err(e) => warn!(conn_id, error = %e, "pair-success not sent"),
                }
                // The result was sent first, above.
                Node::new("")
            }
            (Err(reason), reply) => {
                warn!(conn_id, reason, "companion_finish refused");
                if let Some(reply) = reply {
                    let _ = reply.send(Err(SimError::PairingRefused(reason)));
                }
                iq_error(id, 400, "bad-request")
            }
            (Ok(_), None) => iq_error(id, 400, "bad-request"),
        }
    }

    fn send_to_pending(&self, conn_id: u64, node: Node) -> bool {
        self.pending
            .get(&conn_id)
            .is_some_and(|p| p.tx.send(Outbound::Node(node)).is_ok())
    }

    /// Unlinks a companion: `stream:error 401 device_removed` if online, 401 at its next login.
    pub fn remove_device(&mut self, jid: &Jid) -> Result<(), SimError> {
        let key = self
            .resolve(jid)
            .filter(|k| k.1 != 0 && self.device_exists(k))
            .ok_or_else(|| SimError::UnknownDevice(jid.to_string()))?;
        if let Some(account) = self.accounts.get_mut(&key.0) {
            account.devices.remove(&key.1);
        }
        if let Some(conn) = self.conns.remove(&key) {
            let _ = conn.tx.send(Outbound::Close(Some(
                Node::new("stream:error")
                    .attr("code", 401u16)
                    .children([Node::new("conflict").attr("type", "device_removed")]),
            )));
        }
        self.notify_devices_changed(&key.0, "remove", key.1);
        self.drain();
        Ok(())
    }

    /// Tells the account's other companions that its device list changed (part 2 §3.4).
    fn notify_devices_changed(&mut self, pn: &str, op: &str, device: u16) {
        let Some(account) = self.accounts.get(pn) else {
            return;
        };
        let ts = now_unix();
        let list = account.signed_key_index_list(ts);
        let devices = self.device_jids(pn, false);
        let lid_devices = self.device_jids(pn, true);
        let mut device_node = Node::new("device").attr("jid", account.pn_jid().with_device(device));
        if op == "add" {
            let key_index = account
                .devices
                .get(&device)
                .map(|d| d.key_index)
                .unwrap_or(0);
            device_node = device_node
                .attr("key-index", key_index)
                .attr("lid", account.lid_jid().with_device(device));
        }
        let body = Node::new(op.to_owned())
            .attr("device_hash", phash(&devices))
            .attr("device_lid_hash", phash(&lid_devices))
            .children([
                device_node,
                Node::new("key-index-list")
                    .attr("ts", ts)
                    .bytes(if op == "remove" { Vec::new() } else { list }),
            ]);
        let from = account.pn_jid();
        let lid = account.lid_jid();
        let targets: Vec<u16> = account
            .devices
            .iter()
            .filter(|(id, d)| **id != device && matches!(d.kind, DeviceKind::Companion(_)))
            .map(|(id, _)| *id)
            .collect();
        let node = Node::new("notification")
            .attr("from", from)
            .attr("t", ts)
            .attr("type", "devices")
            .attr("lid", lid)
            .children([body]);
        let targets = targets.into_iter().map(|t| (pn.to_owned(), t)).collect();
        self.queue_notifications(targets, &node);
    }

    fn device_jids(&self, pn: &str, lid: bool) -> Vec<Jid> {
        self.accounts
            .get(pn)
            .map(|a| a.devices.keys().map(|d| a.device_jid(*d, lid)).collect())
            .unwrap_or_default()
    }

    // ------------------------------------------------------------------ iq

    fn handle_iq(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let id = attrs.optional_string("id").unwrap_or_default();
        let kind = attrs.optional_string("type").unwrap_or_default();
        let xmlns = attrs.optional_string("xmlns").unwrap_or_default();
        if kind == "result" || kind == "error" {
            return;
        }
        if id.is_empty() {
            let _ = self.send_to(key, iq_error("", 400, "bad-request"));
            return;
        }
        let reply = match (xmlns.as_str(), kind.as_str()) {
            ("w:p", "get") => iq_result(&id),
            ("passive", "set") => {
                if node.child("active").is_some() {
                    let _ = self.send_to(key, iq_result(&id));
                    self.activate(key);
                    return;
                }
                if node.child("passive").is_some()
                    && let Some(conn) = self.conns.get_mut(key)
                {
                    conn.active = false;
                }
                iq_result(&id)
            }
            ("encrypt", "set") if node.child("rotate").is_some() => self.rotate_spk(key, &id, node),
            ("encrypt", "set") => self.upload_prekeys(key, &id, node),
            ("encrypt", "get") if node.child("count").is_some() => {
                let count = self.companion(key).map(|c| c.prekeys.len()).unwrap_or(0);
                iq_result(&id).children([Node::new("count").attr("value", count)])
            }
            ("encrypt", "get") if node.child("key").is_some() => self.fetch_bundles(&id, node),
            ("encrypt", "get") if node.child("digest").is_some() => self.digest(key, &id),
            ("usync", "get") => self.usync(&id, node),
            ("w:sync:app:state", "set") => self.app_state_iq(key, &id, node),
            ("w:g2", "get") if node.child("participating").is_some() => {
                let groups: Vec<Node> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.participants.contains(&key.0))
                    .filter_map(|(gid, _)| self.group_node(gid))
                    .collect();
                iq_result(&id).children([Node::new("groups").children(groups)])
            }
            ("w:g2", "get") => {
                let group = attrs
                    .optional_jid("to")
                    .ok()
                    .flatten()
                    .filter(Jid::is_group)
                    .and_then(|g| {
                        let member = self.groups.get(&g.user)?.participants.contains(&key.0);
                        member.then(|| self.group_node(&g.user)).flatten()
                    });
                match group {
                    Some(g) => iq_result(&id).children([g]),
                    None => iq_error(&id, 404, "item-not-found"),
                }
            }
            ("w:m", "set") if node.child("media_conn").is_some() => {
                let mut raw = [0u8; 24];
                OsRng.fill_bytes(&mut raw);
                let auth = base64::engine::general_purpose::STANDARD.encode(raw);
                self.media_auth.insert(auth.clone());
                iq_result(&id).children([Node::new("media_conn")
                    .attr("auth", auth)
                    .attr("ttl", "300")
                    .attr("auth_ttl", "21600")
                    .attr("max_buckets", "12")
                    .children([Node::new("host")
                        .attr("hostname", self.media_host.clone())
                        .attr("type", "primary")])])
            }
            ("md", "set") if node.child("remove-companion-device").is_some() => {
                // part 1 §9.9: the jid names the companion to unlink (usually itself); only
                // companions of the same account can be removed.
                let named = node
                    .child("remove-companion-device")
                    .and_then(|r| r.attrs().optional_jid("jid").ok().flatten());
                let target = match named {
                    None => Some((key.0.clone(), key.1)),
                    Some(j) => self.resolve(&j).filter(|k| k.0 == key.0 && k.1 != 0),
                };
                let Some(target) = target.filter(|t| self.device_exists(t)) else {
                    let _ = self.send_to(key, iq_error(&id, 404, "item-not-found"));
                    return;
                };
                let _ = self.send_to(key, iq_result(&id));
                let jid = Jid::user(target.0.clone()).with_device(target.1);
                let _ = self.remove_device(&jid);
                return;
            }
            ("privacy", _) | ("urn:xmpp:whatsapp:dirty", _) | ("w:stats", _) => iq_result(&id),
            ("abt", "get") => iq_result(&id).children([Node::new("props").attr("protocol", "1")]),
            ("blocklist", "get") => iq_result(&id).children([Node::new("list")]),
            ("status", _) | ("w:profile:picture", _) => iq_result(&id),
            _ => {
                debug!(xmlns, kind, "unsupported iq");
                iq_error(&id, 501, "feature-not-implemented")
            }
        };
        let _ = self.send_to(key, reply);
        if xmlns == "encrypt" && kind == "set" {
            self.phone_bootstrap(key);
        }
    }

    /// Whether `key` is a simulated customer's client device.
    fn is_simulated(&self, key: &DeviceKey) -> bool {
        self.companion(key).is_some_and(|c| c.simulated)
    }

    fn companion(&self, key: &DeviceKey) -> Option<&Companion> {
        match &self.accounts.get(&key.0)?.devices.get(&key.1)?.kind {
            DeviceKind::Companion(c) => Some(c),
            DeviceKind::Simulated(_) => None,
        }
    }

    fn companion_mut(&mut self, key: &DeviceKey) -> Option<&mut Companion> {
        match &mut self.accounts.get_mut(&key.0)?.devices.get_mut(&key.1)?.kind {
            DeviceKind::Companion(c) => Some(c),
            DeviceKind::Simulated(_) => None,
        }
    }

    /// Part 2 §2.1.
    fn upload_prekeys(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
        let registration: Option<[u8; 4]> = fixed(node, "registration");
        let key_type: Option<[u8; 1]> = fixed(node, "type");
        let identity: Option<[u8; 32]> = fixed(node, "identity");
        let parse_key = |k: &Node| -> Option<(u32, [u8; 32])> {
            let id: [u8; 3] = fixed(k, "id")?;
            let value: [u8; 32] = fixed(k, "value")?;
            Some((u32::from_be_bytes([0, id[0], id[1], id[2]]), value))
        };
        let list: Option<Vec<(u32, [u8; 32])>> = node
            .child("list")
            .map(|l| {
                l.children_by_tag("key")
                    .map(parse_key)
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or(Some(Vec::new()));
        let skey = node.child("skey").and_then(|s| {
            let (sid, value) = parse_key(s)?;
            let sig: [u8; 64] = fixed(s, "signature")?;
            Some((sid, value, sig))
        });
        let (Some(registration), Some([0x05]), Some(identity), Some(list), Some(skey)) =
            (registration, key_type, identity, list, skey)
        else {
            return iq_error(id, 400, "bad-request");
        };
        let Some(companion) = self.companion_mut(key) else {
            return iq_error(id, 400, "bad-request");
        };
        if identity != companion.identity {
            warn!(
                pn = key.0,
                device = key.1,
                "prekey upload with a different identity key"
            );
            companion.identity = identity;
        }
        if !whatsapp_proto::xeddsa::verify(&identity, &[&[5u8][..], &skey.1].concat(), &skey.2) {
            warn!(
                pn = key.0,
                device = key.1,
                "uploaded signed prekey signature does not verify"
            );
        }
        companion.registration_id = u32::from_be_bytes(registration);
        companion.spk = skey;
        let known: HashSet<u32> = companion.prekeys.iter().map(|(i, _)| *i).collect();
        for (pid, value) in list {
            if !known.contains(&pid) {
                companion.prekeys.push_back((pid, value));
            }
        }
        companion.low_notified = false;
        debug!(
            pn = key.0,
            device = key.1,
            count = companion.prekeys.len(),
            "prekeys uploaded"
        );
        iq_result(id)
    }

    fn rotate_spk(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
        let Some(s) = node.path(&["rotate", "skey"]) else {
            return iq_error(id, 400, "bad-request");
        };
        let (Some(sid), Some(value), Some(sig)) = (
            fixed::<3>(s, "id"),
            fixed::<32>(s, "value"),
            fixed::<64>(s, "signature"),
        ) else {
            return iq_error(id, 400, "bad-request");
        };
        match self.companion_mut(key) {
            Some(c) => {
                c.spk = (u32::from_be_bytes([0, sid[0], sid[1], sid[2]]), value, sig);
                iq_result(id)
            }
            None => iq_error(id, 400, "bad-request"),
        }
    }

    /// Part 2 §2.4: the server's view of the key bundle and its SHA-1 hash.
    fn digest(&mut self, key: &DeviceKey, id: &str) -> Node {
        let Some(c) = self.companion(key) else {
            return iq_error(id, 404, "item-not-found");
        };
        let mut hashed = Vec::new();
        hashed.extend_from_slice(&c.identity);
        hashed.extend_from_slice(&c.spk.1);
        hashed.extend_from_slice(&c.spk.2);
        for (_, value) in &c.prekeys {
            hashed.extend_from_slice(value);
        }
        iq_result(id).children([Node::new("digest").children([
            Node::new("registration").bytes(c.registration_id.to_be_bytes().to_vec()),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(c.identity.to_vec()),
            Node::new("skey").children([
                Node::new("id").bytes(bytes3(c.spk.0)),
                Node::new("value").bytes(c.spk.1.to_vec()),
                Node::new("signature").bytes(c.spk.2.to_vec()),
            ]),
            Node::new("list").children(
                c.prekeys
                    .iter()
                    .map(|(i, _)| Node::new("id").bytes(bytes3(*i))),
            ),
            Node::new("hash").bytes(sha1::Sha1::digest(&hashed).to_vec()),
        ])])
    }

    /// The bundle of one device, consuming a one-time prekey.
    /// Whether the account's simulated phone (device 0) has a session with `address`.
    fn primary_has_session(&self, pn: &str, address: &str) -> bool {
        match self
            .accounts
            .get(pn)
            .and_then(|a| a.devices.get(&0))
            .map(|d| &d.kind)
        {
            Some(DeviceKind::Simulated(sim)) => sim.has_session(address),
            _ => false,
        }
    }

    fn take_bundle(&mut self, key: &DeviceKey) -> Option<Bundle> {
        let threshold = self.settings.prekey_low_threshold;
        let account = self.accounts.get_mut(&key.0)?;
        let device = account.devices.get_mut(&key.1)?;
        match &mut device.kind {
            DeviceKind::Simulated(sim) => Some(sim.take_bundle(&mut OsRng)),
            DeviceKind::Companion(c) => {
                let prekey = c.prekeys.pop_front();
                let bundle = Bundle {
                    registration_id: c.registration_id,
                    identity: c.identity,
                    spk_id: c.spk.0,
                    spk: c.spk.1,
                    spk_signature: c.spk.2,
                    prekey,
                    device_identity: (!c.signed_identity.is_empty())
                        .then(|| c.signed_identity.clone()),
                };
                let left = c.prekeys.len();
                if left < threshold && !c.low_notified {
                    c.low_notified = true;
                    self.next_id += 1;
                    let id = format!("{}", 10_000 + self.next_id);
                    let node = Node::new("notification")
                        .attr("from", server())
                        .attr("id", id.clone())
                        .attr("t", now_unix())
                        .attr("type", "encrypt")
                        .children([Node::new("count").attr("value", left)]);
                    self.work.push_back((
                        key.clone(),
                        Queued {
                            class: "notification",
                            id,
                            peer: None,
                            node,
                            sent: false,
                        },
                    ));
                }
                Some(bundle)
            }
        }
    }

    /// Part 2 §2.3.
    fn fetch_bundles(&mut self, id: &str, node: &Node) -> Node {
        let Some(keys) = node.child("key") else {
            return iq_error(id, 400, "bad-request");
        };
        let mut users = Vec::new();
        for user in keys.children_by_tag("user") {
            let Ok(jid) = user.attrs().jid("jid") else {
                return iq_error(id, 400, "bad-request");
            };
            let bundle = self.resolve(&jid).and_then(|k| self.take_bundle(&k));
            let Some(b) = bundle else {
                users.push(
                    Node::new("user")
                        .attr("jid", jid)
                        .children([Node::new("error")
                            .attr("code", 404u16)
                            .attr("text", "item-not-found")]),
                );
                continue;
            };
            let mut children = vec![
                Node::new("registration").bytes(b.registration_id.to_be_bytes().to_vec()),
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(b.identity.to_vec()),
            ];
            if let Some((pid, value)) = b.prekey {
                children.push(Node::new("key").children([
                    Node::new("id").bytes(bytes3(pid)),
                    Node::new("value").bytes(value.to_vec()),
                ]));
            }
            children.push(Node::new("skey").children([
                Node::new("id").bytes(bytes3(b.spk_id)),
                Node::new("value").bytes(b.spk.to_vec()),
                Node::new("signature").bytes(b.spk_signature.to_vec()),
            ]));
            if let Some(identity) = b.device_identity {
                children.push(Node::new("device-identity").bytes(identity));
            }
            users.push(Node::new("user").attr("jid", jid).children(children));
        }
        iq_result(id).children([Node::new("list").children(users)])
    }

    /// Part 2 §3.1-3.2.
    fn usync(&mut self, id: &str, node: &Node) -> Node {
        let Some(usync) = node.child("usync") else {
            return iq_error(id, 400, "bad-request");
        };
        let query = usync.child("query");
        let want = |tag: &str| query.is_some_and(|q| q.child(tag).is_some());
        let (want_devices, want_lid, want_contact) =
            (want("devices"), want("lid"), want("contact"));
        let mut out = Vec::new();
        for user in usync
            .child("list")
            .map(|l| l.children_by_tag("user"))
            .into_iter()
            .flatten()
        {
            let jid = match user.attrs().optional_jid("jid") {
                Ok(Some(j)) => Some(j),
                Ok(None) => None,
                Err(_) => return iq_error(id, 400, "bad-request"),
            };
            let contact = user.child("contact").and_then(|c| match &c.content {
                Content::Text(t) => Some(t.clone()),
                Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
                _ => None,
            });
            let (jid, pn) = match (jid, contact) {
                (Some(j), _) => {
                    let pn = self.resolve(&j).map(|k| k.0);
                    (j.to_non_ad(), pn)
                }
                (None, Some(phone)) => {
                    let digits: String = phone
                        .split('@')
                        .next()
                        .unwrap_or_default()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    let pn = self.accounts.contains_key(&digits).then(|| digits.clone());
                    (Jid::user(digits), pn)
                }
                (None, None) => return iq_error(id, 400, "bad-request"),
            };
            let mut children = Vec::new();
            let account = pn.as_ref().and_then(|p| self.accounts.get(p));
            if want_contact {
                children.push(
                    Node::new("contact").attr("type", if account.is_some() { "in" } else { "out" }),
                );
            }
            if want_devices {
                let lid = jid.server == Server::Lid;
                let mut devices = Vec::new();
                if let Some(a) = account {
                    for (dev, d) in &a.devices {
                        let mut n = Node::new("device").attr("id", *dev);
                        if *dev != 0 {
                            n = n.attr("key-index", d.key_index);
                        }
                        devices.push(n);
                    }
                    let ts = now_unix();
                    let key_index_list = Node::new("key-index-list")
                        .attr("ts", ts)
                        .bytes(a.signed_key_index_list(ts));
                    let hash = phash(
                        &a.devices
                            .keys()
                            .map(|d| a.device_jid(*d, lid))
                            .collect::<Vec<_>>(),
                    );
                    children.push(
                        Node::new("devices").children([
                            Node::new("device-list")
                                .attr("hash", hash)
                                .children(devices),
                            key_index_list,
                        ]),
                    );
                } else {
                    children.push(Node::new("devices").children([Node::new("device-list")]));
                }
            }
            if want_lid && let Some(a) = account {
                children.push(Node::new("lid").attr("val", a.lid_jid()));
            }
            let mut user_node = Node::new("user").attr("jid", jid.clone());
            if jid.server == Server::Lid
                && let Some(a) = account
            {
                user_node = user_node.attr("pn_jid", a.pn_jid());
            }
            out.push(user_node.children(children));
        }
        let mut attrs_node = Node::new("usync");
        for key in ["sid", "mode", "context"] {
            if let Some(v) = usync.attrs().optional_string(key) {
                attrs_node = attrs_node.attr(key, v);
            }
        }
        iq_result(id).children([attrs_node
            .attr("index", "0")
            .attr("last", "true")
            .children([Node::new("list").children(out)])])
    }

    // ------------------------------------------------------------------ relay

    fn ack_to(&self, key: &DeviceKey, node: Node) {
        let _ = self.send_to(key, node);
    }

    /// A `<message>` sent by `sender` (a companion, or a simulated device when `via_sim`).
    fn handle_message(&mut self, sender: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let Some(id) = attrs.optional_string("id").filter(|s| !s.is_empty()) else {
            warn!("message without id dropped");
            return;
        };
        let nack = |state: &State, code: u16, to: Option<Jid>| {
            let mut ack = Node::new("ack")
                .attr("class", "message")
                .attr("id", id.clone())
                .attr("t", now_unix())
                .attr("error", code);
            if let Some(to) = to {
                ack = ack.attr("from", to);
            }
            state.ack_to(sender, ack);
        };
        let Ok(to) = attrs.jid("to") else {
            nack(self, 479, None);
            return;
        };
        if let Some(code) = self.nacks.pop_front() {
            info!(id, code, "fault: nacking a message");
            nack(self, code, Some(to));
            return;
        }
        if to.is_group() {
            self.handle_group_message(sender, node, id, to);
            return;
        }
        let Some((target_pn, to_device)) = self.resolve(&to) else {
            debug!(%to, "message to an unknown chat");
            nack(self, 479, Some(to));
            return;
        };
        if let Some(tctoken) = node.child("tctoken").and_then(Node::content_bytes) {
            let issued = self
                .accounts
                .get(&target_pn)
                .and_then(|a| a.issued_tokens.get(&sender.0));
            if issued.is_none_or(|(token, _)| token.as_slice() != tctoken) {
                // What the real server does with a wrong token is unknown: accept, warn.
                warn!(id, "tctoken does not match a token the recipient issued");
            }
        }
        let lid_form = to.server == Server::Lid;
        let category = attrs.optional_string("category");
        let peer = category.as_deref() == Some("peer");
        if peer && target_pn != sender.0 {
            nack(self, 479, Some(to));
            return;
        }
        let mut deliveries: Vec<(DeviceKey, Node)> = Vec::new();
        let mut mismatch = false;
        if let Some(participants) = node.child("participants") {
            for to_node in participants.children_by_tag("to") {
                let Ok(device_jid) = to_node.attrs().jid("jid") else {
                    nack(self, 479, Some(to));
                    return;
                };
                let Some(enc) = to_node.child("enc") else {
                    nack(self, 479, Some(to));
                    return;
                };
                match self.resolve(&device_jid) {
                    Some(k)
                        if (k.0 == target_pn || k.0 == sender.0)
                            && self.device_exists(&k)
                            && k != *sender =>
                    {
                        deliveries.push((k, enc.clone()));
                    }
                    _ => {
                        debug!(%device_jid, "message addressed to a device that is not in the list");
                        mismatch = true;
                    }
                }
            }
        } else {
            let target = (target_pn.clone(), to_device);
            if !self.device_exists(&target) || target == *sender {
                nack(self, 479, Some(to));
                return;
            }
            for enc in node.children_by_tag("enc") {
                deliveries.push((target.clone(), enc.clone()));
            }
        }
        if deliveries.is_empty() && node.child("participants").is_none() {
            nack(self, 479, Some(to));
            return;
        }
        let t = now_unix();
        let mut ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id.clone())
            .attr("from", to.clone())
            .attr("t", t);
        if node.child("participants").is_some() {
            let mut real: Vec<Jid> = self.device_jids(&target_pn, lid_form);
            if target_pn != sender.0 {
                real.extend(self.device_jids(&sender.0, lid_form));
            }
            let mut sent: HashSet<DeviceKey> = deliveries.iter().map(|(k, _)| k.clone()).collect();
            sent.insert(sender.clone());
            let expected: HashSet<DeviceKey> =
                real.iter().filter_map(|j| self.resolve(j)).collect();
            if mismatch || sent != expected {
                ack = ack.attr("phash", phash(&real));
            }
        }
        self.ack_to(sender, ack);
        self.note_server_ack(sender, &id, t);
        // A simulated customer writing to someone issues its trusted-contact token as a phone
        // does (part 2 §4.7); the corrupt_next fault hits its messages to linked companions.
        let from_customer = self.is_simulated(sender);
        if from_customer && !peer && target_pn != sender.0 {
            self.issue_privacy_token(&sender.0, &target_pn);
        }
        let corrupt = from_customer
            && self.corrupt > 0
            && deliveries
                .iter()
                .any(|(k, _)| k.0 != sender.0 && !self.is_simulated(k));
        if corrupt {
            self.corrupt -= 1;
        }
        let Some(sender_account) = self.accounts.get(&sender.0) else {
            return;
        };
        let from_jid = sender_account.device_jid(sender.1, lid_form);
        let notify = sender_account.push_name.clone();
        let sender_alt = if lid_form {
            ("sender_pn", sender_account.pn_jid())
        } else {
            ("sender_lid", sender_account.lid_jid())
        };
        let device_identity = node.child("device-identity").cloned();
        let meta = node.child("meta").cloned();
        let typ = attrs
            .optional_string("type")
            .unwrap_or_else(|| "text".into());
        for (target, mut enc) in deliveries {
            let own = target.0 == sender.0;
            if corrupt
                && !own
                && !self.is_simulated(&target)
                && let Some(mut bytes) = enc.content_bytes().map(<[u8]>::to_vec)
                && let Some(last) = bytes.last_mut()
            {
                // Fault: a flipped MAC bit; the receiver must ask for a retry.
                *last ^= 0x01;
                enc = enc.bytes(bytes);
            }
            let mut out = Node::new("message")
                .attr("from", from_jid.clone())
                .attr("id", id.clone())
                .attr("type", typ.clone())
                .attr("t", t);
            for passthrough in ["category", "edit", "push_priority"] {
                if let Some(v) = attrs.optional_string(passthrough) {
                    out = out.attr(passthrough, v);
                }
            }
            if own && !peer {
                out = out.attr("recipient", to.to_non_ad());
            } else if !own {
                out = out.attr(sender_alt.0, sender_alt.1.clone());
            }
            if let Some(name) = &notify {
                out = out.attr("notify", name.clone());
            }
            let mut children = vec![enc];
            children.extend(device_identity.clone());
            children.extend(meta.clone());
            out = out.children(children);
            self.work.push_back((
                target,
                Queued {
                    class: "message",
                    id: id.clone(),
                    peer: Some(sender.0.clone()),
                    node: out,
                    sent: false,
                },
            ));
        }
    }

    /// The server acked a simulated account's message: its sent record shows it.
    fn note_server_ack(&mut self, sender: &DeviceKey, id: &str, t: u64) {
        if let Some(account) = self.accounts.get_mut(&sender.0)
            && let Some(entry) = account.sent.find_mut(id)
        {
            entry.entry.server_ts = Some(t);
            if entry.entry.status == "sent" {
                entry.entry.status = "server_ack".into();
            }
        }
    }

    /// Removes acked stanzas from a device's queue.
    fn acked(&mut self, key: &DeviceKey, class: &str, ids: &[String], peer: Option<String>) {
        let Some(device) = self
            .accounts
            .get_mut(&key.0)
            .and_then(|a| a.devices.get_mut(&key.1))
        else {
            return;
        };
        for id in ids {
            if let Some(at) = device.queue.iter().position(|q| {
                q.class == class
                    && q.id == *id
                    && (peer.is_none() || q.peer.is_none() || q.peer == peer)
            }) {
                device.queue.remove(at);
            }
        }
    }

    fn handle_ack(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let (Some(class), Some(id)) = (attrs.optional_string("class"), attrs.optional_string("id"))
        else {
            return;
        };
        let peer = attrs
            .optional_jid("to")
            .ok()
            .flatten()
            .and_then(|j| self.resolve(&j))
            .map(|k| k.0);
        let class: &'static str = match class.as_str() {
            "message" => "message",
            "receipt" => "receipt",
            "notification" => "notification",
            "call" => "call",
            "appdata" => "appdata",
            _ => return,
        };
        let peer = if class == "message" { peer } else { None };
        self.acked(key, class, &[id], peer);
    }

    fn handle_receipt(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let Some(id) = attrs.optional_string("id") else {
            return;
        };
        let Ok(to) = attrs.jid("to") else {
            return;
        };
        let kind = attrs.optional_string("type");
        let mut ids = vec![id.clone()];
        if let Some(list) = node.child("list") {
            ids.extend(
                list.children_by_tag("item")
                    .filter_map(|i| i.attrs().optional_string("id")),
            );
        }
        if kind.as_deref() == Some("server-error") {
            self.media_retry_request(key, node, &id, &to);
            return;
        }
        let group_lid = to
            .is_group()
            .then(|| self.groups.get(&to.user).map(|g| g.lid_mode))
            .flatten();
        let target = if to.is_group() {
            attrs
                .optional_jid("participant")
                .ok()
                .flatten()
                .and_then(|p| self.resolve(&p))
        } else {
            self.resolve(&to)
        };
        // Any receipt for a message (retry included) acknowledges it.
        self.acked(key, "message", &ids, target.as_ref().map(|k| k.0.clone()));
        let mut ack = Node::new("ack")
            .attr("class", "receipt")
            .attr("id", id.clone())
            .attr("from", to.clone());
        if let Some(k) = &kind {
            ack = ack.attr("type", k.clone());
        }
        self.ack_to(key, ack);
        let Some(target) = target.filter(|t| self.device_exists(t)) else {
            return;
        };
        let Some(account) = self.accounts.get(&key.0) else {
            return;
        };
        let lid_form = to.server == Server::Lid;
        let mut out = match group_lid {
            Some(lid) => Node::new("receipt")
                .attr("from", to.clone())
                .attr("participant", account.device_jid(key.1, lid)),
            None => Node::new("receipt").attr("from", account.device_jid(key.1, lid_form)),
        }
        .attr("id", id.clone())
        .attr("t", now_unix());
        if let Some(k) = &kind {
            out = out.attr("type", k.clone());
        }
        for passthrough in ["participant", "recipient"] {
            if group_lid.is_none()
                && let Some(v) = attrs.optional_string(passthrough)
            {
                out = out.attr(passthrough, v);
            }
        }
        if let Content::Nodes(children) = &node.content {
            out = out.children(children.clone());
        }
        self.work.push_back((
            target,
            Queued {
                class: "receipt",
                id,
                peer: Some(key.0.clone()),
                node: out,
                sent: false,
            },
        ));
    }

    fn handle_presence(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        if let Some(name) = attrs.optional_string("name")
            && let Some(a) = self.accounts.get_mut(&key.0)
        {
            a.push_name = Some(name);
        }
        match attrs.optional_str("type") {
            Some("subscribe") => {
                let Some(to) = attrs.optional_jid("to").ok().flatten() else {
                    return;
                };
                let Some(target) = self.resolve(&to) else {
                    return;
                };
                self.subscriptions
                    .entry(target.0.clone())
                    .or_default()
                    .insert(key.clone());
                if let Some(node) = self.presence_node(&target.0, &to.to_non_ad()) {
                    let _ = self.send_to(key, node);
                }
            }
            Some("unsubscribe") => {
                if let Some(target) = attrs
                    .optional_jid("to")
                    .ok()
                    .flatten()
                    .and_then(|to| self.resolve(&to))
                    && let Some(subs) = self.subscriptions.get_mut(&target.0)
                {
                    subs.remove(key);
                }
            }
            // Own availability (part 2 §10).
            Some(kind @ ("available" | "unavailable")) | Some(kind @ "") => {
                self.set_presence(&key.0.clone(), kind != "unavailable");
            }
            None => self.set_presence(&key.0.clone(), true),
            Some(_) => {}
        }
    }

    /// `<presence from=… [type="unavailable" last=…]>` for an account, as `from` names it.
    fn presence_node(&self, pn: &str, from: &Jid) -> Option<Node> {
        let account = self.accounts.get(pn)?;
        let node = Node::new("presence").attr("from", from.clone());
        Some(if account.available {
            node
        } else {
            node.attr("type", "unavailable")
                .attr("last", account.last_seen.max(1))
        })
    }

    /// An account goes online or offline: its subscribers' online devices are told.
    pub fn set_presence(&mut self, pn: &str, available: bool) {
        let Some(account) = self.accounts.get_mut(pn) else {
            return;
        };
        if account.available == available {
            return;
        }
        account.available = available;
        account.last_seen = now_unix();
        let from = account.pn_jid();
        let Some(node) = self.presence_node(pn, &from) else {
            return;
        };
        let subscribers: Vec<DeviceKey> = self
            .subscriptions
            .get(pn)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for subscriber in subscribers {
            let _ = self.send_to(&subscriber, node.clone());
        }
    }

    fn handle_chatstate(&mut self, key: &DeviceKey, node: &Node) {
        let Ok(to) = node.attrs().jid("to") else {
            return;
        };
        let Some(target) = self.resolve(&to) else {
            return;
        };
        let state = node
            .child_nodes()
            .first()
            .map(|c| c.tag.to_string())
            .unwrap_or_default();
        if let Some(a) = self.accounts.get_mut(&target.0) {
            a.inbox_typing(&key.0, &state);
        }
        let Some(account) = self.accounts.get(&key.0) else {
            return;
        };
        let from = if to.server == Server::Lid {
            account.lid_jid()
        } else {
            account.pn_jid()
        };
        let out = Node::new("chatstate")
            .attr("from", from)
            .children(node.child_nodes().to_vec());
        for dev in self
            .accounts
            .get(&target.0)
            .map(|a| a.devices.keys().copied().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let _ = self.send_to(&(target.0.clone(), dev), out.clone());
        }
    }

    /// Routes queued work: companions get it (now if online and active), simulated devices
    /// process it at once.
    fn drain(&mut self) {
        let mut guard = 0;
        while let Some((key, item)) = self.work.pop_front() {
            guard += 1;
            if guard > 100_000 {
                warn!("routing loop cut short");
                self.work.clear();
                return;
            }
            let active = self.conns.get(&key).is_some_and(|c| c.active);
            let Some(device) = self
                .accounts
                .get_mut(&key.0)
                .and_then(|a| a.devices.get_mut(&key.1))
            else {
                continue;
            };
            match &device.kind {
                DeviceKind::Companion(_) => {
                    let mut item = item;
                    if active && let Some(conn) = self.conns.get(&key) {
                        item.sent = conn.tx.send(Outbound::Node(item.node.clone())).is_ok();
                    }
                    device.queue.push_back(item);
                }
                DeviceKind::Simulated(_) => self.simulated_receive(&key, item),
            }
        }
    }

    // ------------------------------------------------------------------ simulated devices

    fn simulated_receive(&mut self, key: &DeviceKey, item: Queued) {
        match item.class {
            "message" => self.simulated_message(key, &item.node),
            "receipt" => {
                let kind = item
                    .node
                    .attrs()
                    .optional_string("type")
                    .unwrap_or_default();
                let status = match kind.as_str() {
                    "" => "delivered",
                    "read" | "read-self" => "read",
                    "played" => "played",
                    "retry" => {
                        self.simulated_retry(key, &item.node);
                        return;
                    }
                    _ => return,
                };
                let mut ids = vec![item.id.clone()];
                if let Some(list) = item.node.child("list") {
                    ids.extend(
                        list.children_by_tag("item")
                            .filter_map(|i| i.attrs().optional_string("id")),
                    );
                }
                if let Some(a) = self.accounts.get_mut(&key.0) {
                    a.sent.update_each(&ids, |s| {
                        let rank = |s: &str| {
                            ["sent", "server_ack", "delivered", "read", "played"]
                                .iter()
                                .position(|x| *x == s)
                                .unwrap_or(0)
                        };
                        if rank(status) > rank(&s.entry.status) {
                            s.entry.status = status.to_owned();
                        }
                    });
                }
            }
            _ => {}
        }
    }

    fn simulated_message(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let (Ok(chat), Some(id)) = (attrs.jid("from"), attrs.optional_string("id")) else {
            return;
        };
        let group = chat.is_group().then(|| chat.user.clone());
        let from = if group.is_some() {
            match attrs.jid("participant") {
                Ok(p) => p,
                Err(_) => return,
            }
        } else {
            chat.clone()
        };
        let Some(sender) = self.resolve(&from) else {
            return;
        };
        let address = format!("{}.{}", sender.0, sender.1);
        let mut rng = OsRng;
        let mut plaintexts = Vec::new();
        let mut failure = None;
        let mut adv_failure = false;
        // A pkmsg from a companion must prove the companion belongs to the sender's account
        // (a primary, device 0, is the account key itself and carries no ADV identity).
        let has_pkmsg = node
            .children_by_tag("enc")
            .any(|e| e.attrs().optional_str("type") == Some("pkmsg"));
        if has_pkmsg
            && sender.1 != 0
            && let Some(account) = self.accounts.get(&sender.0)
            && let Some(DeviceKind::Companion(c)) = account.devices.get(&sender.1).map(|d| &d.kind)
        {
            let checked = match node.child("device-identity").and_then(Node::content_bytes) {
                None => Err(phone::PhoneError::Malformed {
                    reason: "pkmsg without <device-identity>".into(),
                }),
                Some(bytes) => phone::verify_companion_identity(
                    bytes,
                    account.key.public.as_bytes(),
                    &c.identity,
                ),
            };
            if let Err(e) = checked {
                warn!(pn = key.0, device = key.1, %from, id, error = %e, "ADV check failed; asking for a retry");
                adv_failure = true;
            }
        }
        if !adv_failure {
            let Some(DeviceKind::Simulated(sim)) = self
                .accounts
                .get_mut(&key.0)
                .and_then(|a| a.devices.get_mut(&key.1))
                .map(|d| &mut d.kind)
            else {
                return;
            };
            for enc in node.children_by_tag("enc") {
                let enc_type = enc.attrs().optional_string("type").unwrap_or_default();
                let bytes = enc.content_bytes().unwrap_or_default();
                let result = match (&group, enc_type.as_str()) {
                    (Some(g), "skmsg") => sim.group_decrypt(g, &address, bytes),
                    _ => sim.decrypt(&address, &enc_type, bytes, &mut rng),
                };
                match result {
                    Ok(p) => {
                        if let Some(g) = &group
                            && let Ok(m) = e2e::Message::decode(p.as_slice())
                            && let Some(skdm) = m
                                .sender_key_distribution_message
                                .as_ref()
                                .and_then(|d| d.axolotl_sender_key_distribution_message.as_ref())
                            && let Err(e) = sim.process_skdm(g, &address, skdm)
                        {
                            warn!(error = %e, "bad sender key distribution message");
                        }
                        plaintexts.push(p);
                    }
                    Err(e) => {
                        warn!(pn = key.0, device = key.1, %from, id, error = %e, "simulated device cannot decrypt");
                        failure = Some(e);
                    }
                }
            }
        }
        let lid_form = from.server == Server::Lid;
        let Some(account) = self.accounts.get_mut(&key.0) else {
            return;
        };
        let me = account.device_jid(key.1, lid_form);
        if adv_failure || failure.is_some() && plaintexts.is_empty() {
            // Retry receipt (part 2 §6.2).
            let Some(device) = account.devices.get_mut(&key.1) else {
                return;
            };
            let count = {
                let c = device.retries.entry(id.clone()).or_insert(0);
                *c += 1;
                *c
            };
            if count >= 5 {
                return;
            }
            let DeviceKind::Simulated(sim) = &mut device.kind else {
                return;
            };
            let mut children = vec![
                Node::new("retry")
                    .attr("v", "1")
                    .attr("count", count)
                    .attr("id", id.clone())
                    .attr("t", attrs.optional_string("t").unwrap_or_default()),
                Node::new("registration").bytes(sim.registration_id.to_be_bytes().to_vec()),
            ];
            if count >= 2 {
                let bundle = sim.take_bundle(&mut rng);
                let mut keys = vec![
                    Node::new("type").bytes(vec![5]),
                    Node::new("identity").bytes(bundle.identity.to_vec()),
                ];
                if let Some((pid, value)) = bundle.prekey {
                    keys.push(Node::new("key").children([
                        Node::new("id").bytes(bytes3(pid)),
                        Node::new("value").bytes(value.to_vec()),
                    ]));
                }
                keys.push(Node::new("skey").children([
                    Node::new("id").bytes(bytes3(bundle.spk_id)),
                    Node::new("value").bytes(bundle.spk.to_vec()),
                    Node::new("signature").bytes(bundle.spk_signature.to_vec()),
                ]));
                children.push(Node::new("keys").children(keys));
            }
            if adv_failure && let Some(retry) = children.first_mut() {
                // WA Web RetryReason 12: ADV failure (part 2 §6.2).
                retry.set_attr("error", "12");
            }
            let receipt = Node::new("receipt")
                .attr("from", me)
                .attr("id", id.clone())
                .attr("type", "retry")
                .attr("t", now_unix())
                .children(children);
            self.work.push_back((
                sender.clone(),
                Queued {
                    class: "receipt",
                    id,
                    peer: Some(key.0.clone()),
                    node: receipt,
                    sent: false,
                },
            ));
            return;
        }
        let own = sender.0 == key.0;
        for plaintext in &plaintexts {
            let understood = device::understand(plaintext).unwrap_or_default();
            if understood.kind == "sender_key" || understood.kind == "protocol" && own {
                continue;
            }
            if account.has_received(&from.to_string(), &id, key.1) {
                continue;
            }
            // Download and verify media as a phone would (part 2 §7.5).
            let (media_sha256, media_error) = match &understood.media {
                None => (understood.media_sha256.clone(), None),
                Some(m) => {
                    let path = m.direct_path.split('?').next().unwrap_or_default();
                    let path = path
                        .strip_prefix("https://")
                        .and_then(|p| p.find('/').map(|i| &p[i..]))
                        .unwrap_or(path);
                    match self.media.get(path) {
                        None => (None, Some("blob not found on the media server".to_owned())),
                        Some(blob) => match whatsapp_proto::media::MediaHashes::from_slices(
                            &m.file_sha256,
                            &m.file_enc_sha256,
                        )
                        .and_then(|h| {
                            whatsapp_proto::media::decrypt(&m.media_key, m.media_type, blob, &h)
                        }) {
                            Ok(plain) => (Some(hex::encode(Sha256::digest(&plain))), None),
                            Err(e) => (None, Some(e.to_string())),
                        },
                    }
                }
            };
            account.receive(InboxEntry {
                id: id.clone(),
                from: from.to_string(),
                device: key.1,
                kind: understood.kind,
                text: understood.text,
                media_sha256,
                media_error,
                reply_to: understood.reply_to,
                group: group.as_ref().map(|_| chat.to_string()),
                from_me: own,
                destination: understood.destination.clone(),
                receipt: "delivered".into(),
                received_at_ms: now_ms(),
            });
        }
        let mut receipt = Node::new("receipt")
            .attr(
                "from",
                if group.is_some() {
                    chat.clone()
                } else {
                    me.clone()
                },
            )
            .attr("id", id.clone())
            .attr("t", now_unix());
        if group.is_some() {
            receipt = receipt.attr("participant", me);
        }
        if attrs.optional_str("category") == Some("peer") {
            receipt = receipt.attr("type", "peer_msg");
        } else if own {
            receipt = receipt.attr("type", "sender");
        }
        if let Some(r) = attrs.optional_string("recipient") {
            receipt = receipt.attr("recipient", r);
        }
        if own {
            for plaintext in &plaintexts {
                self.phone_peer_request(key, &sender, &id, plaintext);
            }
        }
        self.work.push_back((
            sender,
            Queued {
                class: "receipt",
                id,
                peer: Some(key.0.clone()),
                node: receipt,
                sent: false,
            },
        ));
    }

    /// A companion asked a simulated device to resend (part 2 §6.3).
    fn simulated_retry(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let (Ok(from), Some(id)) = (attrs.jid("from"), attrs.optional_string("id")) else {
            return;
        };
        let Some(requester) = self.resolve(&from) else {
            return;
        };
        let count = node
            .child("retry")
            .and_then(|r| r.attrs().optional_u64("count").ok().flatten())
            .unwrap_or(1);
        // WA Web refuses to resend once the requester's count reaches 5 (part 2 §6.3).
        if count >= 5 {
            return;
        }
        let address = format!("{}.{}", requester.0, requester.1);
        let keys_bundle = node.child("keys").and_then(|k| {
            let registration: [u8; 4] = fixed(node, "registration")?;
            let identity: [u8; 32] = fixed(k, "identity")?;
            let skey = k.child("skey")?;
            let sid: [u8; 3] = fixed(skey, "id")?;
            let prekey = k.child("key").and_then(|p| {
                let pid: [u8; 3] = fixed(p, "id")?;
                let value: [u8; 32] = fixed(p, "value")?;
                Some((u32::from_be_bytes([0, pid[0], pid[1], pid[2]]), value))
            });
            Some(Bundle {
                registration_id: u32::from_be_bytes(registration),
                identity,
                spk_id: u32::from_be_bytes([0, sid[0], sid[1], sid[2]]),
                spk: fixed(skey, "value")?,
                spk_signature: fixed(skey, "signature")?,
                prekey,
                device_identity: None,
            })
        });
        let bundle = match keys_bundle {
            Some(b) => Some(b),
            None => self.take_bundle(&requester),
        };
        let mut rng = OsRng;
        let Some(account) = self.accounts.get_mut(&key.0) else {
            return;
        };
        let Some(record) = account.sent.find(&id) else {
            warn!(id, "retry receipt for a message this phone did not send");
            return;
        };
        let plaintext = record.plaintext.clone();
        let chat = record.chat.clone();
        let typ = record.entry.stanza_type.clone();
        let Some(DeviceKind::Simulated(sim)) = account.devices.get_mut(&key.1).map(|d| &mut d.kind)
        else {
            return;
        };
        if let Some(b) = bundle {
            sim.drop_session(&address);
            if let Err(e) = sim.start_session(&address, &b, &mut rng) {
                warn!(error = %e, "retry: cannot build a session");
                return;
            }
        }
        let Ok((enc_type, bytes)) = sim.encrypt(&address, &plaintext, &mut rng) else {
            return;
        };
        let lid_form = chat.server == Server::Lid;
        let Some(acct) = self.accounts.get(&requester.0) else {
            return;
        };
        let to = acct.device_jid(requester.1, lid_form);
        let stanza = Node::new("message")
            .attr("to", to)
            .attr("id", id)
            .attr("type", typ)
            .attr("t", now_unix())
            .attr("device_fanout", "false")
            // A resent peer message (to the phone's own companion) stays a peer message.
            .attr_opt("category", (requester.0 == key.0).then_some("peer"))
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", enc_type)
                .attr("count", count)
                .bytes(bytes)]);
        self.handle_message(key, &stanza);
    }

    /// A simulated account sends a message from its device 0.
    pub fn customer_send(
        &mut self,
        pn: &str,
        to: &str,
        content: &Outgoing,
        reply_to: Option<&str>,
    ) -> Result<String, SimError> {
        let sender_key = (pn.to_owned(), 0u16);
        let account = self
            .accounts
            .get(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        let lid_form = account.lid_addressing;
        let to_jid = parse_to(to)?;
        if to_jid.is_group() {
            if reply_to.is_some() || matches!(content, Outgoing::Media { .. }) {
                return Err(SimError::BadRequest(
                    "group posts support text, location and reactions".into(),
                ));
            }
            let message = device::build_message(content, None, None);
            let plaintext = message.encode_to_vec();
            let typ = device::stanza_type(content);
            let understood = device::understand(&plaintext).unwrap_or_default();
            let id = self.customer_send_group(pn, &to_jid.user, plaintext.clone(), typ, None)?;
            if let Some(a) = self.accounts.get_mut(pn) {
                a.sent.push(SentRecord {
                    entry: SentEntry {
                        id: id.clone(),
                        to: to_jid.to_string(),
                        kind: understood.kind,
                        text: understood.text,
                        status: "server_ack".into(),
                        server_ts: Some(now_unix()),
                        stanza_type: typ.to_owned(),
                    },
                    plaintext,
                    chat: to_jid,
                    media: None,
                });
            }
            return Ok(id);
        }
        let target = self
            .resolve(&to_jid)
            .ok_or_else(|| SimError::UnknownAccount(to.to_owned()))?;
        let target_pn = target.0;
        if target_pn == pn {
            return Err(SimError::BadRequest(
                "a customer cannot write to itself".into(),
            ));
        }
        let target_account = self
            .accounts
            .get(&target_pn)
            .ok_or_else(|| SimError::UnknownAccount(to.to_owned()))?;
        let chat = if lid_form {
            target_account.lid_jid()
        } else {
            target_account.pn_jid()
        };
        let my_chat_jid = if lid_form {
            account.lid_jid()
        } else {
            account.pn_jid()
        };
        let mut devices: Vec<DeviceKey> = target_account
            .devices
            .keys()
            .map(|d| (target_pn.clone(), *d))
            .collect();
        devices.extend(
            account
                .devices
                .keys()
                .filter(|d| **d != 0)
                .map(|d| (pn.to_owned(), *d)),
        );
        let reply = reply_to.map(|id| {
            let participant = account
                .inbox
                .iter()
                .find(|e| e.id == id)
                .map(|e| {
                    e.from
                        .parse::<Jid>()
                        .map(|j| j.to_non_ad().to_string())
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| my_chat_jid.to_string());
            (id.to_owned(), participant)
        });
        let uploaded = match content {
            Outgoing::Media { kind, data, .. } => {
                let mut media_key = [0u8; 32];
                OsRng.fill_bytes(&mut media_key);
                let enc = whatsapp_proto::media::encrypt(&media_key, kind.media_type(), data);
                let stored = self.store_media(enc.blob.clone());
                Some(device::Uploaded {
                    url: stored["url"].as_str().unwrap_or_default().to_owned(),
                    direct_path: stored["direct_path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    media_key,
                    file_sha256: enc.file_sha256,
                    file_enc_sha256: enc.file_enc_sha256,
                    file_length: enc.file_length,
                })
            }
            _ => None,
        };
        let mediatype = match content {
            Outgoing::Media { kind, .. } => Some(kind.enc_mediatype()),
            _ => None,
        };
        let media_keep = match (content, &uploaded) {
            (Outgoing::Media { kind, data, .. }, Some(u)) => {
                Some((kind.media_type(), u.media_key, data.clone()))
            }
            _ => None,
        };
        let message = device::build_message(
            content,
            reply.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
            uploaded.as_ref(),
        );
        let plaintext = message.encode_to_vec();
        let dsm = e2e::Message {
            device_sent_message: Some(Box::new(e2e::DeviceSentMessage {
                destination_jid: Some(chat.to_string()),
                message: Some(Box::new(message)),
                phash: None,
            })),
            ..Default::default()
        }
        .encode_to_vec();
        // Sessions first (bundles consume prekeys like a real fetch).
        let mut rng = OsRng;
        let mut need = Vec::new();
        for d in &devices {
            let address = format!("{}.{}", d.0, d.1);
            if !self.primary_has_session(pn, &address) {
                need.push(d.clone());
            }
        }
        let target_jids: Vec<Jid> = devices
            .iter()
            .map(|d| {
                self.accounts
                    .get(&d.0)
                    .map(|a| a.device_jid(d.1, lid_form))
                    .unwrap_or_else(server)
            })
            .collect();
        let companions: Vec<bool> = devices
            .iter()
            .map(|d| {
                self.accounts
                    .get(&d.0)
                    .and_then(|a| a.devices.get(&d.1))
                    .is_some_and(|dev| matches!(dev.kind, DeviceKind::Companion(_)))
            })
            .collect();
        let mut bundles = Vec::new();
        for d in need {
            if let Some(b) = self.take_bundle(&d) {
                bundles.push((d, b));
            }
        }
        let corrupt = self.corrupt > 0;
        if corrupt {
            self.corrupt -= 1;
        }
        let Some(DeviceKind::Simulated(sim)) = self
            .accounts
            .get_mut(pn)
            .and_then(|a| a.devices.get_mut(&0))
            .map(|d| &mut d.kind)
        else {
            return Err(SimError::UnknownAccount(pn.to_owned()));
        };
        for (d, b) in &bundles {
            let address = format!("{}.{}", d.0, d.1);
            sim.start_session(&address, b, &mut rng)
                .map_err(|e| SimError::BadRequest(format!("session with {}:{}: {e}", d.0, d.1)))?;
        }
        let mut participants = Vec::new();
        for ((d, target_jid), companion) in devices.iter().zip(target_jids).zip(companions) {
            let address = format!("{}.{}", d.0, d.1);
            let body = if d.0 == pn { &dsm } else { &plaintext };
            let Ok((enc_type, mut bytes)) = sim.encrypt(&address, body, &mut rng) else {
                continue;
            };
            if corrupt
                && companion
                && let Some(last) = bytes.last_mut()
            {
                // Fault: a flipped MAC bit; the receiver must ask for a retry.
                *last ^= 0x01;
            }
            participants.push(
                Node::new("to")
                    .attr("jid", target_jid)
                    .children([Node::new("enc")
                        .attr("v", "2")
                        .attr("type", enc_type)
                        .attr_opt("mediatype", mediatype)
                        .bytes(bytes)]),
            );
        }
        let id = random_id();
        let typ = device::stanza_type(content);
        let stanza = Node::new("message")
            .attr("to", chat.clone())
            .attr("id", id.clone())
            .attr("type", typ)
            .children([Node::new("participants").children(participants)]);
        let understood = device::understand(&plaintext).unwrap_or_default();
        if let Some(a) = self.accounts.get_mut(pn) {
            a.sent.push(SentRecord {
                entry: sent_entry(&id, &chat, understood, typ),
                plaintext,
                chat,
                media: media_keep,
            });
        }
        self.issue_privacy_token(pn, &target_pn);
        self.handle_message(&sender_key, &stanza);
        self.drain();
        Ok(id)
    }

    /// A phone writing to someone issues its trusted-contact token to them (at most once per
    /// 7-day bucket); the server hands it to the recipient's companions (part 2 §4.7).
    fn issue_privacy_token(&mut self, from: &str, to: &str) {
        const BUCKET: u64 = 604_800;
        let now = now_unix();
        let Some(account) = self.accounts.get_mut(from) else {
            return;
        };
        if account
            .issued_tokens
            .get(to)
            .is_some_and(|(_, t)| t / BUCKET == now / BUCKET)
        {
            return;
        }
        let mut token = vec![0u8; 32];
        OsRng.fill_bytes(&mut token);
        account
            .issued_tokens
            .insert(to.to_owned(), (token.clone(), now));
        let (pn_jid, lid_jid) = (account.pn_jid(), account.lid_jid());
        for device in self.companions_of(to) {
            let id = self.next_stanza_id();
            let node = Node::new("notification")
                .attr("from", pn_jid.clone())
                .attr("id", id.clone())
                .attr("t", now)
                .attr("type", "privacy_token")
                .attr("sender_lid", lid_jid.clone())
                .children([Node::new("tokens").children([Node::new("token")
                    .attr("type", "trusted_contact")
                    .attr("t", now)
                    .bytes(token.clone())])]);
            self.queue_notification((to.to_owned(), device), id, node);
        }
    }

    /// The account's linked companions (not its simulated devices).
    fn companions_of(&self, pn: &str) -> Vec<u16> {
        self.accounts
            .get(pn)
            .map(|a| {
                a.devices
                    .iter()
                    .filter(|(_, d)| matches!(d.kind, DeviceKind::Companion(_)))
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Queues a notification for a device (delivered now if it is active).
    /// Queues a copy of `node` to each target, each with its own stanza `id`.
    fn queue_notifications(&mut self, targets: Vec<DeviceKey>, node: &Node) {
        for target in targets {
            let id = self.next_stanza_id();
            let node = node.clone().attr("id", id.clone());
            self.queue_notification(target, id, node);
        }
    }

    fn queue_notification(&mut self, to: DeviceKey, id: String, node: Node) {
        self.work.push_back((
            to,
            Queued {
                class: "notification",
                id,
                peer: None,
                node,
                sent: false,
            },
        ));
    }

    pub fn inbox(&self, pn: &str) -> Result<Vec<InboxEntry>, SimError> {
        self.accounts
            .get(pn)
            .map(|a| a.inbox.clone())
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))
    }

    pub fn chatstates(&self, pn: &str) -> Result<Vec<ChatStateRecord>, SimError> {
        self.accounts
            .get(pn)
            .map(|a| a.chatstates.clone())
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))
    }

    pub fn sent(&self, pn: &str) -> Result<Vec<SentEntry>, SimError> {
        self.accounts
            .get(pn)
            .map(|a| {
                a.sent
                    .iter()
                    // The phone's peer messages to its companions are kept for retries only.
                    .filter(|s| s.entry.kind != "protocol")
                    .map(|s| s.entry.clone())
                    .collect()
            })
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))
    }

    // ------------------------------------------------------------------ media retry

    /// `<receipt type="server-error">` (part 2 §7.6): sent to the requester's own JID, it goes
    /// to the phone that sent the media (the chat in `<rmr>`, or the requester's own phone when
    /// `from_me`), which re-uploads and answers with a `mediaretry` notification.
    fn media_retry_request(&mut self, key: &DeviceKey, node: &Node, id: &str, to: &Jid) {
        self.ack_to(
            key,
            Node::new("ack")
                .attr("class", "receipt")
                .attr("id", id.to_owned())
                .attr("from", to.clone())
                .attr("type", "server-error"),
        );
        let Some(rmr) = node.child("rmr") else {
            return;
        };
        let from_me = rmr.attrs().bool("from_me").unwrap_or(false);
        let sender_phone = if from_me {
            Some(key.0.clone())
        } else {
            rmr.attrs()
                .optional_jid("participant")
                .ok()
                .flatten()
                .or_else(|| rmr.attrs().optional_jid("jid").ok().flatten())
                .and_then(|j| self.resolve(&j))
                .map(|k| k.0)
        };
        let enc_p = node
            .path(&["encrypt", "enc_p"])
            .and_then(Node::content_bytes);
        let enc_iv = node
            .path(&["encrypt", "enc_iv"])
            .and_then(Node::content_bytes);
        let record = sender_phone.as_ref().and_then(|p| {
            self.accounts
                .get(p)?
                .sent
                .find(id)
                .and_then(|s| s.media.clone())
        });
        let mut result: Result<(String, Vec<u8>, [u8; 12]), u16> = Err(2);
        if let (Some((media_type, media_key, data)), Some(enc_p), Some(enc_iv)) =
            (record, enc_p, enc_iv)
        {
            use aes_gcm::aead::{Aead, KeyInit, Payload};
            let retry_key = whatsapp_proto::media::media_retry_key(&media_key);
            let cipher = aes_gcm::Aes256Gcm::new(&retry_key.into());
            let asked = <[u8; 12]>::try_from(enc_iv).ok().and_then(|iv| {
                cipher
                    .decrypt(
                        &iv.into(),
                        Payload {
                            msg: enc_p,
                            aad: id.as_bytes(),
                        },
                    )
                    .ok()
            });
            let stanza = asked.and_then(|p| e2e::ServerErrorReceipt::decode(p.as_slice()).ok());
            if stanza.and_then(|r| r.stanza_id).as_deref() == Some(id) {
                let enc = whatsapp_proto::media::encrypt(&media_key, media_type, &data);
                let stored = self.store_media(enc.blob);
                let direct_path = stored["direct_path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let notification = e2e::MediaRetryNotification {
                    stanza_id: Some(id.to_owned()),
                    direct_path: Some(direct_path.clone()),
                    result: Some(e2e::media_retry_notification::ResultType::Success as i32),
                    message_secret: None,
                };
                let mut iv = [0u8; 12];
                OsRng.fill_bytes(&mut iv);
                if let Ok(sealed) = cipher.encrypt(
                    &iv.into(),
                    Payload {
                        msg: &notification.encode_to_vec(),
                        aad: id.as_bytes(),
                    },
                ) {
                    result = Ok((direct_path, sealed, iv));
                }
            } else {
                result = Err(3);
            }
        }
        let mut rmr_out = Node::new("rmr");
        for a in ["jid", "from_me", "participant"] {
            if let Some(v) = rmr.attr_value(a) {
                rmr_out = rmr_out.attr(a, v.clone());
            }
        }
        let body = match &result {
            Ok((_, sealed, iv)) => Node::new("encrypt").children([
                Node::new("enc_p").bytes(sealed.clone()),
                Node::new("enc_iv").bytes(iv.to_vec()),
            ]),
            Err(code) => Node::new("error").attr("code", *code),
        };
        if let Err(code) = result {
            info!(id, code, "media retry refused");
        }
        let out = Node::new("notification")
            .attr("from", Jid::user(key.0.clone()))
            .attr("id", id.to_owned())
            .attr("t", now_unix())
            .attr("type", "mediaretry")
            .children([rmr_out, body]);
        self.work.push_back((
            key.clone(),
            Queued {
                class: "notification",
                id: id.to_owned(),
                peer: None,
                node: out,
                sent: false,
            },
        ));
    }

    // ------------------------------------------------------------------ groups

    /// Creates a group of existing accounts (the creator is an admin); participants'
    /// companions get a `w:gp2` create notification.
    pub fn create_group(
        &mut self,
        creator: &str,
        subject: &str,
        participants: &[String],
        lid_mode: bool,
    ) -> Result<Jid, SimError> {
        let mut members = vec![creator.to_owned()];
        for p in participants {
            if !members.contains(p) {
                members.push(p.clone());
            }
        }
        for m in &members {
            if !self.accounts.contains_key(m) {
                return Err(SimError::UnknownAccount(m.clone()));
            }
        }
        let id = format!("120363{:012}", OsRng.gen_range(0..1_000_000_000_000u64));
        self.groups.insert(
            id.clone(),
            Group {
                subject: subject.to_owned(),
                creator: creator.to_owned(),
                created: now_unix(),
                participants: members.clone(),
                lid_mode,
            },
        );
        let jid = Jid::new(id.clone(), Server::Group);
        let info = self.group_node(&id).unwrap_or_else(|| Node::new("group"));
        let creator_jid = self
            .accounts
            .get(creator)
            .map(|a| if lid_mode { a.lid_jid() } else { a.pn_jid() })
            .unwrap_or_else(server);
        let node = Node::new("notification")
            .attr("from", jid.clone())
            .attr("t", now_unix())
            .attr("type", "w:gp2")
            .attr("participant", creator_jid)
            .children([Node::new("create").children([info])]);
        let targets = self.member_devices(&members);
        self.queue_notifications(targets, &node);
        self.drain();
        Ok(jid)
    }

    /// `<group>` as group info queries answer it (part 2 §3.6).
    fn group_node(&self, id: &str) -> Option<Node> {
        let g = self.groups.get(id)?;
        let creator = self.accounts.get(&g.creator)?;
        let participants = g.participants.iter().filter_map(|p| {
            let mut n = self.accounts.get(p)?.participant_node(g.lid_mode);
            if *p == g.creator {
                n = n.attr("type", "superadmin");
            }
            Some(n)
        });
        Some(
            Node::new("group")
                .attr("id", id.to_owned())
                .attr("subject", g.subject.clone())
                .attr("s_t", g.created)
                .attr("creation", g.created)
                .attr(
                    "creator",
                    if g.lid_mode {
                        creator.lid_jid()
                    } else {
                        creator.pn_jid()
                    },
                )
                .attr("addressing_mode", if g.lid_mode { "lid" } else { "pn" })
                .attr("size", g.participants.len())
                .children(participants.collect::<Vec<_>>()),
        )
    }

    /// Every device of every participant, in the group's addressing form.
    fn group_devices(&self, id: &str) -> Vec<Jid> {
        let Some(g) = self.groups.get(id) else {
            return Vec::new();
        };
        g.participants
            .iter()
            .flat_map(|p| self.device_jids(p, g.lid_mode))
            .collect()
    }

    /// A group `<message>`: per-device SKDM carriers in `<participants>`, one `skmsg` for all.
    fn handle_group_message(&mut self, sender: &DeviceKey, node: &Node, id: String, to: Jid) {
        let attrs = node.attrs();
        let nack = |state: &State, code: u16| {
            state.ack_to(
                sender,
                Node::new("ack")
                    .attr("class", "message")
                    .attr("id", id.clone())
                    .attr("from", to.clone())
                    .attr("t", now_unix())
                    .attr("error", code),
            );
        };
        let Some(group) = self.groups.get(&to.user) else {
            nack(self, 479);
            return;
        };
        if !group.participants.contains(&sender.0) {
            nack(self, 479);
            return;
        }
        let lid_mode = group.lid_mode;
        let members = group.participants.clone();
        let mut carriers: HashMap<DeviceKey, Node> = HashMap::new();
        if let Some(participants) = node.child("participants") {
            for to_node in participants.children_by_tag("to") {
                let (Ok(jid), Some(enc)) = (to_node.attrs().jid("jid"), to_node.child("enc"))
                else {
                    nack(self, 479);
                    return;
                };
                if let Some(k) = self.resolve(&jid).filter(|k| members.contains(&k.0)) {
                    carriers.insert(k, enc.clone());
                }
            }
        }
        let skmsg = node
            .children_by_tag("enc")
            .find(|e| e.attrs().optional_str("type") == Some("skmsg"))
            .cloned();
        let real = self.group_devices(&to.user);
        let server_phash = phash(&real);
        let t = now_unix();
        let mut ack = Node::new("ack")
            .attr("class", "message")
            .attr("id", id.clone())
            .attr("from", to.clone())
            .attr("t", t);
        if let Some(client_phash) = attrs.optional_string("phash")
            && client_phash != server_phash
        {
            // Unknown what the real server does beyond telling (part 2 §4.6): accept, warn.
            warn!(
                id,
                client_phash, server_phash, "group message with a stale phash"
            );
            ack = ack.attr("phash", server_phash);
        }
        self.ack_to(sender, ack);
        self.note_server_ack(sender, &id, t);
        let Some(account) = self.accounts.get(&sender.0) else {
            return;
        };
        let participant = account.device_jid(sender.1, lid_mode);
        let alt = if lid_mode {
            ("participant_pn", account.pn_jid())
        } else {
            ("participant_lid", account.lid_jid())
        };
        let notify = account.push_name.clone();
        let typ = attrs
            .optional_string("type")
            .unwrap_or_else(|| "text".into());
        let device_identity = node.child("device-identity").cloned();
        let targets: Vec<DeviceKey> = real.iter().filter_map(|j| self.resolve(j)).collect();
        for target in targets {
            if target == *sender {
                continue;
            }
            let mut encs: Vec<Node> = carriers.get(&target).cloned().into_iter().collect();
            encs.extend(skmsg.clone());
            if encs.is_empty() {
                continue;
            }
            encs.extend(device_identity.clone());
            let mut out = Node::new("message")
                .attr("from", to.clone())
                .attr("participant", participant.clone())
                .attr(alt.0, alt.1.clone())
                .attr("id", id.clone())
                .attr("type", typ.clone())
                .attr("t", t)
                .attr("addressing_mode", if lid_mode { "lid" } else { "pn" });
            if let Some(name) = &notify {
                out = out.attr("notify", name.clone());
            }
            self.work.push_back((
                target,
                Queued {
                    class: "message",
                    id: id.clone(),
                    peer: Some(sender.0.clone()),
                    node: out.children(encs),
                    sent: false,
                },
            ));
        }
    }

    /// A simulated account posts to a group: SKDM to every other device, then one skmsg.
    fn customer_send_group(
        &mut self,
        pn: &str,
        group_id: &str,
        plaintext: Vec<u8>,
        typ: &str,
        mediatype: Option<&'static str>,
    ) -> Result<String, SimError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or_else(|| SimError::BadRequest(format!("unknown group {group_id}")))?;
        if !group.participants.contains(&pn.to_owned()) {
            return Err(SimError::BadRequest("not a participant".into()));
        }
        let group_jid = Jid::new(group_id.to_owned(), Server::Group);
        let targets: Vec<(DeviceKey, Jid)> = self
            .group_devices(group_id)
            .into_iter()
            .filter_map(|j| self.resolve(&j).map(|k| (k, j)))
            .filter(|(k, _)| *k != (pn.to_owned(), 0))
            .collect();
        let mut rng = OsRng;
        let mut need = Vec::new();
        for (k, _) in &targets {
            let has = match self
                .accounts
                .get(pn)
                .and_then(|a| a.devices.get(&0))
                .map(|d| &d.kind)
            {
                Some(DeviceKind::Simulated(sim)) => sim.has_session(&format!("{}.{}", k.0, k.1)),
                _ => false,
            };
            if !has {
                need.push(k.clone());
            }
        }
        let mut bundles = Vec::new();
        for k in need {
            if let Some(b) = self.take_bundle(&k) {
                bundles.push((k, b));
            }
        }
        let Some(DeviceKind::Simulated(sim)) = self
            .accounts
            .get_mut(pn)
            .and_then(|a| a.devices.get_mut(&0))
            .map(|d| &mut d.kind)
        else {
            return Err(SimError::UnknownAccount(pn.to_owned()));
        };
        for (k, b) in &bundles {
            sim.start_session(&format!("{}.{}", k.0, k.1), b, &mut rng)
                .map_err(|e| SimError::BadRequest(format!("session: {e}")))?;
        }
        let (skdm, skmsg) = sim
            .group_encrypt(&group_jid.to_string(), &plaintext, &mut rng)
            .map_err(|e| SimError::BadRequest(format!("sender key: {e}")))?;
        let carrier = e2e::Message {
            sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
                group_id: Some(group_jid.to_string()),
                axolotl_sender_key_distribution_message: Some(skdm),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let mut participants = Vec::new();
        for (k, jid) in &targets {
            if let Ok((enc_type, bytes)) =
                sim.encrypt(&format!("{}.{}", k.0, k.1), &carrier, &mut rng)
            {
                participants.push(
                    Node::new("to")
                        .attr("jid", jid.clone())
                        .children([Node::new("enc")
                            .attr("v", "2")
                            .attr("type", enc_type)
                            .bytes(bytes)]),
                );
            }
        }
        let id = random_id();
        let stanza = Node::new("message")
            .attr("to", group_jid.clone())
            .attr("id", id.clone())
            .attr("type", typ.to_owned())
            .attr("phash", phash(&self.group_devices(group_id)))
            .children([
                Node::new("participants").children(participants),
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .attr_opt("mediatype", mediatype)
                    .bytes(skmsg),
            ]);
        self.handle_message(&(pn.to_owned(), 0), &stanza);
        self.drain();
        Ok(id)
    }

    // ------------------------------------------------------------------ faults

    /// Removes and returns the connections faults act on: every one but the simulated
    /// customers' clients, which are the test's apparatus rather than what it tests.
    fn take_tested_conns(&mut self) -> Vec<(DeviceKey, ConnEntry)> {
        let keys: Vec<DeviceKey> = self
            .conns
            .keys()
            .filter(|k| !self.is_simulated(k))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| self.conns.remove(&k).map(|c| (k, c)))
            .collect()
    }

    pub fn fault(&mut self, fault: &Fault) -> Result<(), SimError> {
        match fault {
            Fault::DropConnections => {
                for (_, conn) in self.take_tested_conns() {
                    let _ = conn.tx.send(Outbound::Close(None));
                }
                for (_, p) in self.pending.drain() {
                    let _ = p.tx.send(Outbound::Close(None));
                }
                let keys: Vec<DeviceKey> = self
                    .accounts
                    .values()
                    .flat_map(|a| a.devices.keys().map(|d| (a.pn.clone(), *d)))
                    .collect();
                for key in keys {
                    self.disconnected(u64::MAX, Some(&key));
                }
            }
            Fault::StreamError { code } => {
                for (_, conn) in self.take_tested_conns() {
                    let _ = conn.tx.send(Outbound::Close(Some(
                        Node::new("stream:error").attr("code", *code),
                    )));
                }
                let keys: Vec<DeviceKey> = self
                    .accounts
                    .values()
                    .flat_map(|a| a.devices.keys().map(|d| (a.pn.clone(), *d)))
                    .collect();
                for key in keys {
                    self.disconnected(u64::MAX, Some(&key));
                }
            }
            Fault::Delay { .. } => {}
            Fault::Nack { code, count } => {
                if self.nacks.len() + *count as usize > 1_000_000 {
                    return Err(SimError::BadRequest(
                        "at most 1,000,000 pending nacks".into(),
                    ));
                }
                for _ in 0..*count {
                    self.nacks.push_back(*code);
                }
            }
            Fault::CorruptNext { count } => self.corrupt += *count,
            Fault::StaleCompanion { phone, device } => {
                self.make_companion_stale(&crate::phone_digits(phone), *device)?;
            }
            Fault::BadKeyIndexSignature { phone } => {
                self.forge_key_index_lists(&crate::phone_digits(phone))?;
            }
            Fault::BadPatchMac => self.sync_fault(crate::appstate::PatchFault::PatchMac),
            Fault::BadPatchLthash => self.sync_fault(crate::appstate::PatchFault::LtHash),
            Fault::ExpireMedia => {
                info!(
                    blobs = self.media.len(),
                    "fault: every stored media blob expired"
                );
                self.media.clear();
            }
            Fault::TempBan { code, expire_s } => {
                let until = crate::later(Duration::from_secs(*expire_s));
                let pns: Vec<String> = self
                    .accounts
                    .values()
                    .filter(|a| !a.customer)
                    .map(|a| a.pn.clone())
                    .collect();
                for pn in pns {
                    self.temp_bans.insert(pn.clone(), (*code, until));
                    let keys: Vec<DeviceKey> =
                        self.conns.keys().filter(|k| k.0 == pn).cloned().collect();
                    for key in keys {
                        if let Some(conn) = self.conns.remove(&key) {
                            let _ = conn.tx.send(Outbound::Close(Some(
                                Node::new("stream:error").attr("code", 503u16),
                            )));
                        }
                        self.disconnected(u64::MAX, Some(&key));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Account {
    fn inbox_typing(&mut self, from: &str, state: &str) {
        if self.chatstates.len() >= 10_000 {
            self.chatstates.drain(..5_000);
        }
        self.chatstates.push(ChatStateRecord {
            from: from.to_owned(),
            state: state.to_owned(),
            at_ms: now_ms(),
        });
    }
}

/// The `mediatype` of every `<enc>` in a message: its own and those under `<participants><to>`.
/// The `jid` of each `<participants><to>` of a stanza.
fn enc_recipients(node: &Node) -> Vec<String> {
    node.child("participants")
        .map(|p| {
            p.children_by_tag("to")
                .filter_map(|t| t.attrs().optional_string("jid"))
                .collect()
        })
        .unwrap_or_default()
}

/// The sender key id of a stanza's `skmsg` (in the clear in a SenderKeyMessage).
fn skmsg_key_id(node: &Node) -> Option<u32> {
    let enc = node
        .children_by_tag("enc")
        .find(|e| e.attrs().optional_str("type") == Some("skmsg"))?;
    whatsapp_proto::signal::SenderKeyMessage::decode(enc.content_bytes()?)
        .ok()
        .map(|m| m.key_id())
}

fn enc_media_types(node: &Node) -> Vec<String> {
    let direct = node.children_by_tag("enc");
    let fanned = node
        .children_by_tag("participants")
        .flat_map(|p| p.children_by_tag("to"))
        .flat_map(|to| to.children_by_tag("enc"));
    direct
        .chain(fanned)
        .map(|enc| enc.attrs().optional_string("mediatype").unwrap_or_default())
        .collect()
}
