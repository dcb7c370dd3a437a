//! The server's state: accounts and devices, connections, and the dispatch of nodes from
//! logged-in devices to the parts that answer them (one submodule per concern: `login`,
//! `pairing`, `iq`, `prekeys`, `relay`, `presence`, `simulated`, `media`, `groups`,
//! `customers`, `stanzas`, `sync`, `key_index`, `faults`).
//!
//! Everything here runs under one mutex and never awaits; connection tasks feed it nodes and
//! it answers through each connection's outbound channel.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::payload::RegistrationData;
use whatsapp_proto::signal::KeyPair;
// The participant hash the server puts in acks, usync answers and pairing notifications.
use whatsapp_proto::stanza::phash::participant_hash as phash;

mod customers;
mod faults;
#[cfg(test)]
mod fixture;
mod groups;
mod iq;
mod key_index;
mod login;
mod media;
mod pairing;
mod prekeys;
mod presence;
mod privacy;
mod relay;
mod sent;
mod simulated;
mod stanzas;
mod status;
mod sync;
mod tokens;

pub use stanzas::CallRecord;

pub(crate) use customers::ProvisionedDevice;

use crate::device::{self, SimDevice};
use crate::phone::IssuedIdentity;
use crate::{
    AccountInfo, ChatStateRecord, DeviceInfo, InboxEntry, SentEntry, SimError, StanzaRecord,
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
    /// Send this node (`<stream:error code="515">`) and leave the close to the client, as
    /// the real server does: the socket is closed here only if the client has not closed it
    /// within [`RESTART_CLOSE_DEADLINE`] (closing at once made whatsmeow read the close before
    /// the 515 in about half the runs and never log in).
    Restart(Node),
}

/// How long a client has to close the socket after a 515 before the server does (guess: the
/// real server's deadline is unknown; clients close at once).
pub(crate) const RESTART_CLOSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// `<stream:error code="515">`: restart required (after pairing).
pub(crate) fn restart_required() -> Node {
    Node::new("stream:error").attr("code", 515u16)
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

use groups::Group;

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
    /// Media downloads still to cut short, and after how many bytes.
    media_cuts: Option<(u32, u64)>,
    temp_bans: HashMap<String, (u16, Instant)>,
    stanzas: Vec<StanzaRecord>,
    media: HashMap<String, Vec<u8>>,
    /// Paths of the blobs clients deleted, in order.
    media_deleted: Vec<String>,
    media_auth: HashSet<String>,
    media_host: String,
    /// Privacy settings per account, once read or changed ([`privacy`]).
    privacy: HashMap<String, BTreeMap<String, String>>,
    groups: BTreeMap<String, Group>,
    /// Presence subscriptions: account → subscribed devices.
    subscriptions: HashMap<String, HashSet<DeviceKey>>,
    /// App-state collections and phone keys per account ([`sync`]).
    sync: crate::appstate::SyncStore,
    /// Placeholders, resend requests and relayed calls ([`stanzas`]).
    stanza_state: stanzas::StanzaState,
    /// NCT salts ([`tokens`]).
    tokens: tokens::TokenState,
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
            media_cuts: None,
            temp_bans: HashMap::new(),
            stanzas: Vec::new(),
            media: HashMap::new(),
            media_deleted: Vec::new(),
            media_auth: HashSet::new(),
            media_host: String::new(),
            privacy: HashMap::new(),
            groups: BTreeMap::new(),
            subscriptions: HashMap::new(),
            sync: Default::default(),
            stanza_state: Default::default(),
            tokens: Default::default(),
        }
    }

    fn next_stanza_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}", 10_000 + self.next_id)
    }

    fn resolve(&self, jid: &Jid) -> Option<DeviceKey> {
        // A hosted device is addressed on the hosted servers (whatsmeow `user.go`).
        let pn = match jid.server {
            Server::User | Server::Hosted => jid.user.clone(),
            Server::Lid | Server::HostedLid => self.lids.get(&jid.user)?.clone(),
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

    fn send_to(&self, key: &DeviceKey, node: Node) -> bool {
        match self.conns.get(key) {
            Some(conn) => conn.tx.send(Outbound::Node(node)).is_ok(),
            None => false,
        }
    }

    /// A node from a logged-in device.
    pub fn handle(&mut self, key: &DeviceKey, node: Node) {
        if !self.conns.contains_key(key) {
            return;
        }
        let text_jids = whatsapp_proto::stanza::jid_attrs::text_jids(&node);
        if !text_jids.is_empty() {
            self.refuse_text_jids(key, &node, &text_jids);
            return;
        }
        match node.tag.as_str() {
            "iq" => {
                // Logged: tests count the queries the server counts (device lists, group
                // info, media_conn, prekey uploads, privacy tokens issued).
                self.record(key, &node);
                self.handle_iq(key, &node);
            }
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
            "presence" => {
                self.record(key, &node);
                self.handle_presence(key, &node);
            }
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
            xmlns: node
                .attrs()
                .optional_string("xmlns")
                .filter(|_| node.tag == "iq")
                .unwrap_or_default(),
            id: node.attrs().optional_string("id").unwrap_or_default(),
            kind: node.attrs().optional_string("type").unwrap_or_default(),
            to: node.attrs().optional_string("to").unwrap_or_default(),
            media_types: enc_media_types(node),
            decrypt_fail: enc_attribute(node, "decrypt-fail"),
            attrs: node
                .attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            recipients: enc_recipients(node),
            sender_key_id: skmsg_key_id(node),
            error: node
                .attrs()
                .optional_string("error")
                .and_then(|e| e.parse().ok()),
            privacy_token: ["tctoken", "cstoken"].into_iter().find_map(|tag| {
                let bytes = node.child(tag)?.content_bytes()?;
                Some((tag.to_owned(), hex::encode(bytes)))
            }),
            tokens_issued_to: node
                .child("tokens")
                .filter(|_| node.tag == "iq")
                .map(|t| {
                    t.children_by_tag("token")
                        .filter_map(|t| t.attrs().optional_string("jid"))
                        .collect()
                })
                .unwrap_or_default(),
            query: node
                .child_nodes()
                .first()
                .filter(|_| node.tag == "iq")
                .map(|c| c.tag.to_string())
                .unwrap_or_default(),
            peer_recipient_pn: node
                .attrs()
                .optional_jid("peer_recipient_pn")
                .ok()
                .flatten()
                .map(|j| j.to_string()),
            addressing_mode: node.attrs().optional_string("addressing_mode"),
            received_at_ms: now_ms(),
        });
    }

    pub fn stanzas(&self) -> Vec<StanzaRecord> {
        self.stanzas.clone()
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

    fn device_jids(&self, pn: &str, lid: bool) -> Vec<Jid> {
        self.accounts
            .get(pn)
            .map(|a| a.devices.keys().map(|d| a.device_jid(*d, lid)).collect())
            .unwrap_or_default()
    }
}

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

/// The `mediatype` of every `<enc>` in a message: its own and those under `<participants><to>`.
fn enc_media_types(node: &Node) -> Vec<String> {
    enc_attribute(node, "mediatype")
}

/// One attribute of each `<enc>` a stanza carries (directly, then per participant), in
/// order; empty where absent.
fn enc_attribute(node: &Node, name: &str) -> Vec<String> {
    let direct = node.children_by_tag("enc");
    let fanned = node
        .children_by_tag("participants")
        .flat_map(|p| p.children_by_tag("to"))
        .flat_map(|to| to.children_by_tag("enc"));
    direct
        .chain(fanned)
        .map(|enc| enc.attrs().optional_string(name).unwrap_or_default())
        .collect()
}
