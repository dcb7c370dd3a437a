//! The receive core: what to do with a `<message>`, without IO (whatsmeow `message.go`,
//! `retry.go`, `receipt.go`; the shape of str0m and quinn-proto).
//!
//! The records a message needs (the session of an address, the one-time prekey a `pkmsg`
//! names, a group sender's key, a stored identity, the PN/LID mapping, a plaintext decrypted
//! before) are known only while decoding it, so the core asks for them. Feed a stanza with
//! [`Receiver::handle_message`], then drain [`Receiver::poll_output`]:
//!
//! - [`Output::Load`]: answer with [`Input::Loaded`] (or [`Input::LoadFailed`]) through
//!   [`Receiver::handle_input`]; the message waits until then.
//! - [`Output::Send`]: an ack, nack, delivery or retry receipt.
//! - [`Output::Deliver`]: what the message carried, for the application.
//! - [`Output::Unacknowledged`]: a load failed; the message is left for the server to
//!   deliver again.
//!
//! Several messages may be fed one after the other; each decrypts against what the earlier
//! ones changed. [`Receiver::finish`] ends such a group with one [`Output::Commit`].
//!
//! Architecture Invariant: the shell writes the `Commit` before it lets out any `Send` or
//! `Deliver` of the group: a message is acknowledged only once its decryption is stored.

mod decrypt;
mod exchange;
mod lid;
pub mod recent;
pub mod stanza;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use prost::Message as _;
use rand_core::{CryptoRng, RngCore};

use crate::binary::Node;
use crate::content::{self, MessageContent};
use crate::jid::{Jid, Server};
use crate::pb::e2e;
use crate::signal::{IdentityKeyPair, SignedPreKeyRecord};

pub use decrypt::ciphertext_hash;
use decrypt::{EncFailure, Need};
pub use exchange::{Delivery, Input, Output, RecordKey};
use recent::{RECENT_MESSAGES, RecentCounts};
use stanza::{KEYS_FROM_RETRY, MAX_RETRY_COUNT, Nack, RetryReceipt};

/// A decrypted message.
#[derive(Debug)]
pub struct Received {
    /// Who sent it, where, when.
    pub info: MessageInfo,
    /// The message with its wrappers looked through, its key distribution removed.
    pub message: e2e::Message,
    /// What it carries, typed.
    pub content: MessageContent,
    /// The message as decrypted.
    pub raw: e2e::Message,
    /// The delivery receipt, to send once the application has stored the message.
    pub receipt: Node,
}

/// Who sent a message, where, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The stanza id.
    pub id: String,
    /// The other user (1:1) or the group.
    pub chat: Jid,
    /// The sending device.
    pub sender: Jid,
    /// The sender's other address (phone number or LID), when the stanza or the store says it.
    pub sender_alt: Option<Jid>,
    /// Whether one of our own devices sent it.
    pub from_me: bool,
    /// The sender's push name.
    pub push_name: Option<String>,
    /// Server timestamp, unix seconds.
    pub timestamp: u64,
    /// Whether it came from the offline queue.
    pub offline: bool,
}

/// The records a group of messages changed, to be written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Each decryption, in order (a later record for the same address wins).
    pub decrypts: Vec<Decrypted>,
    /// Sender key records changed by distribution messages, their final values
    /// (`(group, sender address, record)`).
    pub sender_keys: Vec<(String, String, Vec<u8>)>,
    /// PN/LID mappings the stanzas named (`(lid user, phone number user)`).
    pub lid_mappings: Vec<(String, String)>,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.decrypts.is_empty() && self.sender_keys.is_empty() && self.lid_mappings.is_empty()
    }
}

/// One `<enc>` decrypted: the records it advanced and its plaintext (kept, keyed by
/// [`ciphertext_hash`], so a redelivery is answered without decrypting again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The sender device's Signal address.
    pub address: String,
    /// The advanced session record (`None` for a group message).
    pub session: Option<Vec<u8>>,
    /// The advanced sender key record: `(group, sender address, record)`.
    pub sender_key: Option<(String, String, Vec<u8>)>,
    /// The sender's identity key, when a prekey message established it.
    pub identity: Option<[u8; 32]>,
    /// The one-time prekey the message consumed (to delete).
    pub consumed_prekey: Option<u32>,
    /// The plaintext's key.
    pub ciphertext_hash: [u8; 32],
    /// The sender JID as text.
    pub sender: String,
    /// The stanza id.
    pub message_id: String,
    /// The unpadded plaintext.
    pub plaintext: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Our own device, as the core needs it.
#[derive(Debug, Clone)]
pub struct LocalDevice {
    /// Our phone-number JID, once paired.
    pub jid: Option<Jid>,
    /// Our LID, once known.
    pub lid: Option<Jid>,
    /// Our registration id.
    pub registration_id: u32,
    /// Our identity key pair.
    pub identity: IdentityKeyPair,
    /// Our current signed prekey.
    pub signed_prekey: SignedPreKeyRecord,
}

impl LocalDevice {
    fn is_own(&self, jid: &Jid) -> bool {
        [&self.jid, &self.lid]
            .into_iter()
            .flatten()
            .any(|own| own.user == jid.user && own.server == jid.server)
    }
}

/// A second message was fed while the first still waits for a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the receive core is waiting for a record of message {0}")]
pub struct Busy(pub String);

/// The receive core. One per connection's stanza worker; its retry bookkeeping may be kept
/// across connections with [`Receiver::with_retry_counts`] and [`Receiver::into_retry_counts`].
#[derive(Debug)]
pub struct Receiver {
    local: LocalDevice,
    /// Retry receipts sent per message id (whatsmeow `messageRetries`, bounded).
    retries: RecentCounts<String>,
    /// Delivery receipts are plain (else `type="inactive"`): see [`Receiver::set_active_receipts`].
    active_receipts: bool,
    /// What the group has loaded and changed, by record.
    known: HashMap<RecordKey, Option<Vec<u8>>>,
    changes: Changes,
    /// Sender keys changed by distribution messages, in first-change order.
    distributed: Vec<(String, String)>,
    current: Option<InFlight>,
    waiting: Option<RecordKey>,
    outputs: VecDeque<Output>,
}

/// A message being decided.
#[derive(Debug)]
struct InFlight {
    node: Node,
    info: MessageInfo,
    group: Option<Jid>,
    created_at: i64,
    /// The sender's other address is settled.
    alt_done: bool,
    /// The address the sender's Signal records are kept under: its LID device when the
    /// sender writes by phone number and its LID is known (whatsmeow `decryptMessages`),
    /// else the sender; settled (`Some`) once the records were moved to it.
    enc_sender: Option<Jid>,
    /// The next `<enc>` to decrypt.
    next: usize,
    /// The current `<enc>`'s decryption failed (a buffered plaintext may still answer it).
    enc_failed: Option<EncFailure>,
    visible: Option<Box<Received>>,
    failure: Option<EncFailure>,
    invalid: bool,
    bot_message: bool,
    /// The retry receipt's number, once counted (counted once per message).
    retry: Option<u32>,
    retry_keys: Option<Node>,
}

impl InFlight {
    /// The sender device as its Signal records are kept (see `enc_sender`).
    fn enc_jid(&self) -> &Jid {
        self.enc_sender.as_ref().unwrap_or(&self.info.sender)
    }

    /// The Signal address of the sender's records (see `enc_sender`).
    fn enc_address(&self) -> String {
        self.enc_jid().signal_address()
    }
}

impl Receiver {
    /// A core for `local`, remembering retries of the last [`RECENT_MESSAGES`] ids.
    pub fn new(local: LocalDevice) -> Receiver {
        Receiver::with_retry_counts(local, RecentCounts::new(RECENT_MESSAGES))
    }

    /// A core continuing the retry bookkeeping of an earlier one.
    pub fn with_retry_counts(local: LocalDevice, retries: RecentCounts<String>) -> Receiver {
        Receiver {
            local,
            retries,
            active_receipts: false,
            known: HashMap::new(),
            changes: Changes::default(),
            distributed: Vec::new(),
            current: None,
            waiting: None,
            outputs: VecDeque::new(),
        }
    }

    /// The retry bookkeeping, for the next connection's core.
    pub fn into_retry_counts(self) -> RecentCounts<String> {
        self.retries
    }

    /// Whether delivery receipts are plain (`true`) or `type="inactive"` (`false`, the start):
    /// whatsmeow's client is passive until it sends `<presence type="available">`, and marks
    /// its delivery receipts inactive until then (`receipt.go` `sendMessageReceipt`).
    pub fn set_active_receipts(&mut self, active: bool) {
        self.active_receipts = active;
    }

    /// Our device changed (paired, keys rotated); takes effect for the next message.
    pub fn set_local(&mut self, local: LocalDevice) {
        self.local = local;
    }

    /// Takes a `<message>` stanza received at `now_ms` (unix milliseconds).
    pub fn handle_message(
        &mut self,
        node: Node,
        now_ms: u64,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), Busy> {
        if let Some(current) = &self.current {
            return Err(Busy(current.info.id.clone()));
        }
        let Some(info) = self.read_info(&node) else {
            self.outputs
                .extend(stanza::nack(&node, Nack::ParsingError).map(Output::Send));
            return Ok(());
        };
        let group = (info.chat.is_group() || info.chat.is_broadcast()).then(|| info.chat.clone());
        if node.child("enc").is_none() {
            self.unencrypted(&node, info);
            return Ok(());
        }
        let bot_message = node
            .children_by_tag("enc")
            .any(|e| e.attrs().optional_str("type") == Some("msmsg"));
        self.current = Some(InFlight {
            alt_done: false,
            enc_sender: None,
            node,
            info,
            group,
            created_at: i64::try_from(now_ms / 1000).unwrap_or(i64::MAX),
            next: 0,
            enc_failed: None,
            visible: None,
            failure: None,
            invalid: false,
            bot_message,
            retry: None,
            retry_keys: None,
        });
        self.drive(rng);
        Ok(())
    }

    /// Takes the answer to the last [`Output::Load`].
    pub fn handle_input(&mut self, input: Input, rng: &mut (impl RngCore + CryptoRng)) {
        match input {
            Input::Loaded(key, value) => {
                if let RecordKey::LidMigration { pn, lid } = &key
                    && !self.known.contains_key(&key)
                {
                    self.moved_to_lid(pn, lid);
                }
                self.known.entry(key.clone()).or_insert(value);
                if self.waiting.as_ref() == Some(&key) {
                    self.waiting = None;
                }
            }
            Input::RetryKeys(keys) => {
                if let Some(current) = &mut self.current {
                    current.retry_keys = Some(keys);
                }
                self.waiting = None;
            }
            Input::LoadFailed(key @ (RecordKey::LidForPn(_) | RecordKey::PnForLid(_))) => {
                self.known.insert(key, None);
                self.waiting = None;
            }
            Input::LoadFailed(key) => {
                self.waiting = None;
                if let Some(current) = self.current.take() {
                    self.outputs.push_back(Output::Unacknowledged {
                        id: current.info.id,
                        key,
                    });
                }
                return;
            }
        }
        if self.waiting.is_none() {
            self.drive(rng);
        }
    }

    /// The next thing to do, `None` when the core waits for input or has nothing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Ends a group of messages: its changes come out as one [`Output::Commit`] (when there
    /// are any), and the next group loads its records afresh (the shell may write to them
    /// between groups).
    pub fn finish(&mut self) -> Result<(), Busy> {
        if let Some(current) = &self.current {
            return Err(Busy(current.info.id.clone()));
        }
        let mut changes = std::mem::take(&mut self.changes);
        for (group, sender) in self.distributed.drain(..) {
            let key = RecordKey::SenderKey { group, sender };
            if let Some(Some(record)) = self.known.get(&key)
                && let RecordKey::SenderKey { group, sender } = key
            {
                changes.sender_keys.push((group, sender, record.clone()));
            }
        }
        self.known.clear();
        if !changes.is_empty() {
            self.outputs.push_back(Output::Commit(changes));
        }
        Ok(())
    }

    /// Who sent the stanza; `None` when it is not a message one can answer other than with
    /// a parsing-error nack (whatsmeow `parseMessageInfo`).
    fn read_info(&mut self, node: &Node) -> Option<MessageInfo> {
        let attrs = node.attrs();
        let from = attrs.jid("from").ok()?;
        let id = attrs.optional_string("id")?;
        let group = from.is_group() || from.is_broadcast();
        let sender = if group {
            attrs.optional_jid("participant").ok()??
        } else {
            from.clone()
        };
        let from_me = self.local.is_own(&sender);
        let chat = if group {
            from.clone()
        } else if from_me {
            attrs
                .optional_jid("recipient")
                .ok()
                .flatten()
                .unwrap_or_else(|| from.to_non_ad())
        } else {
            from.to_non_ad()
        };
        let sender_alt = if group {
            let key = if sender.is_lid() {
                "participant_pn"
            } else {
                "participant_lid"
            };
            attrs
                .optional_jid(key)
                .ok()
                .flatten()
                .map(|j| j.to_non_ad())
        } else {
            // Settled in `alternate`, from the stanza or the store.
            None
        };
        Some(MessageInfo {
            id,
            chat,
            sender,
            sender_alt,
            from_me,
            push_name: attrs
                .optional_string("notify")
                .filter(|n| !n.is_empty() && n != "-"),
            timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
            offline: attrs.optional_string("offline").is_some(),
        })
    }

    /// A message without `<enc>`: `<unavailable>` (whatsmeow `decryptMessages`) or a nack.
    fn unencrypted(&mut self, node: &Node, info: MessageInfo) {
        let Some(unavailable) = node.child("unavailable") else {
            // whatsmeow `NackUnrecognizedStanza`.
            self.outputs
                .extend(stanza::nack(node, Nack::UnrecognizedStanza).map(Output::Send));
            return;
        };
        // A view-once message is a placeholder acknowledged once the application stored it;
        // any other is acknowledged at once and asked of our phone.
        let view_once = unavailable.attrs().optional_str("type") == Some("view_once");
        let ack = stanza::ack(node, None);
        let deferred_ack = if view_once {
            ack
        } else {
            self.outputs.extend(ack.map(Output::Send));
            None
        };
        self.outputs
            .push_back(Output::Deliver(Delivery::Unavailable {
                info,
                unavailable: unavailable.clone(),
                deferred_ack,
            }));
    }

    /// Advances the current message until it needs a record or is decided.
    fn drive(&mut self, rng: &mut (impl RngCore + CryptoRng)) {
        let Some(mut msg) = self.current.take() else {
            return;
        };
        match self.advance(&mut msg, rng) {
            Ok(()) => self.decide(msg),
            Err(Need(key)) => {
                self.waiting = Some(key.clone());
                self.outputs.push_back(Output::Load(key));
                self.current = Some(msg);
            }
        }
    }

    /// A record already loaded or changed in this group, or the need to load it.
    fn known(&self, key: RecordKey) -> Result<Option<&Vec<u8>>, Need> {
        match self.known.get(&key) {
            Some(value) => Ok(value.as_ref()),
            None => Err(Need(key)),
        }
    }

    fn advance(
        &mut self,
        msg: &mut InFlight,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(), Need> {
        if !msg.alt_done {
            let group = msg.group.is_some();
            msg.info.sender_alt = self.alternate(&msg.node, &msg.info.sender, group)?;
            msg.alt_done = true;
        }
        if msg.enc_sender.is_none() {
            // A phone-number sender, not a bot, whose LID is known: its records live under
            // the LID, moved there from the phone number first (whatsmeow message.go
            // `decryptMessages`). A LID sender naming its number moves them too, unlike
            // whatsmeow: this client does not yet ask the server for a number's LID before
            // a send, so records made by number may still be under it.
            let sender = &msg.info.sender;
            let pair = match &msg.info.sender_alt {
                Some(alt)
                    if sender.server == Server::User
                        && !sender.is_bot()
                        && alt.server == Server::Lid =>
                {
                    Some((sender.user.clone(), alt.user.clone()))
                }
                Some(alt) if sender.server == Server::Lid && alt.server == Server::User => {
                    Some((alt.user.clone(), sender.user.clone()))
                }
                _ => None,
            };
            let enc_sender = match pair {
                Some((pn, lid)) => {
                    self.known(RecordKey::LidMigration {
                        pn,
                        lid: lid.clone(),
                    })?;
                    Jid::new(lid, Server::Lid).with_device(sender.device)
                }
                None => sender.clone(),
            };
            msg.enc_sender = Some(enc_sender);
        }
        loop {
            let Some((kind, ciphertext)) =
                msg.node.children_by_tag("enc").nth(msg.next).map(|enc| {
                    let kind = enc.attrs().optional_string("type").unwrap_or_default();
                    (kind, enc.content_bytes().map(<[u8]>::to_vec))
                })
            else {
                break;
            };
            // A bot's `msmsg` is not decrypted (see `decide`); an `<enc>` without bytes is
            // skipped, as whatsmeow skips what it cannot read.
            if kind != "msmsg"
                && let Some(ciphertext) = ciphertext
            {
                let outcome = self.decrypt_enc(msg, &kind, &ciphertext, rng)?;
                match outcome {
                    Ok(plaintext) => self.opened(msg, &plaintext)?,
                    // whatsmeow `ErrEventAlreadyProcessed`: nothing to do twice. An unknown
                    // `<enc type>` is skipped as whatsmeow skips it (see `ignored`): with
                    // nothing else in the stanza it gets the delivery receipt.
                    Err(EncFailure::Duplicate) => {}
                    Err(failure) if failure.ignored() => {}
                    Err(failure) => msg.failure = Some(failure),
                }
            }
            msg.next += 1;
            msg.enc_failed = None;
        }
        if msg.visible.is_none() && msg.failure.is_some() {
            self.count_retry(msg)?;
        }
        Ok(())
    }

    /// A plaintext: its key distribution taken in, its content opened.
    fn opened(&mut self, msg: &mut InFlight, plaintext: &[u8]) -> Result<(), Need> {
        let Ok(raw) = e2e::Message::decode(plaintext) else {
            msg.invalid = true;
            return Ok(());
        };
        // whatsmeow takes the distribution from the message or, for our own devices'
        // messages, from inside the DeviceSentMessage.
        let skdm = raw.sender_key_distribution_message.as_ref().or_else(|| {
            let dsm = raw.device_sent_message.as_ref()?.message.as_ref()?;
            dsm.sender_key_distribution_message.as_ref()
        });
        if let Some(skdm) = skdm {
            self.distribution(&msg.info, &msg.enc_address(), skdm)?;
        }
        let Some(receipt) =
            stanza::delivery_receipt(&msg.node, msg.info.from_me, self.active_receipts)
        else {
            return Ok(());
        };
        msg.visible = open(raw, plaintext).map(|(message, content, raw)| {
            Box::new(Received {
                info: msg.info.clone(),
                message,
                content,
                raw,
                receipt,
            })
        });
        Ok(())
    }

    /// Feeds a sender key distribution message into the sender's record (part 2 §5.2 step
    /// 4). One that does not decode is ignored, as whatsmeow logs and goes on.
    fn distribution(
        &mut self,
        info: &MessageInfo,
        sender: &str,
        skdm: &e2e::SenderKeyDistributionMessage,
    ) -> Result<(), Need> {
        let Some(bytes) = &skdm.axolotl_sender_key_distribution_message else {
            return Ok(());
        };
        let group = skdm
            .group_id
            .clone()
            .unwrap_or_else(|| info.chat.to_string());
        let sender = sender.to_owned();
        let key = RecordKey::SenderKey {
            group: group.clone(),
            sender: sender.clone(),
        };
        let record = self.known(key.clone())?.cloned();
        let Ok(distribution) = crate::signal::SenderKeyDistributionMessage::decode(bytes) else {
            return Ok(());
        };
        let mut record = match record {
            Some(bytes) => match crate::signal::SenderKeyRecord::from_bytes(&bytes) {
                Ok(record) => record,
                Err(_) => return Ok(()),
            },
            None => crate::signal::SenderKeyRecord::new(),
        };
        record.process_distribution_message(&distribution);
        self.known.insert(key, Some(record.to_bytes()));
        let pair = (group, sender);
        if !self.distributed.contains(&pair) {
            self.distributed.push(pair);
        }
        Ok(())
    }

    /// Counts a retry receipt for the message (once) and loads its keys when they go with it.
    fn count_retry(&mut self, msg: &mut InFlight) -> Result<(), Need> {
        let count = match msg.retry {
            Some(count) => count,
            None => {
                let mut count = self.retries.bump(msg.info.id.clone());
                // After a restart the count starts over; a resend says which retry it
                // answered (whatsmeow `sendRetryReceipt`).
                let encs: Vec<&Node> = msg.node.children_by_tag("enc").collect();
                if count == 1
                    && let [enc] = encs.as_slice()
                    && let Ok(Some(answered)) = enc.attrs().optional_u64("count")
                    && answered > 0
                {
                    count = u32::try_from(answered)
                        .unwrap_or(u32::MAX)
                        .saturating_add(1);
                    self.retries.set(msg.info.id.clone(), count);
                }
                msg.retry = Some(count);
                count
            }
        };
        // whatsmeow `decryptMessages` forces the keys into the first retry receipt only for
        // a `skmsg` without the sender's key and no direct message beside it (its
        // `isUnavailable`, passed as `forceIncludeIdentity`); a missing 1:1 session waits
        // for the second retry as any other failure (retry.go `retryCount > 1`).
        let direct = msg.node.children_by_tag("enc").any(|enc| {
            matches!(
                enc.attrs().optional_str("type"),
                Some("pkmsg") | Some("msg")
            )
        });
        let no_sender_key = matches!(msg.failure, Some(EncFailure::NoSenderKey)) && !direct;
        if count < MAX_RETRY_COUNT
            && (count >= KEYS_FROM_RETRY || no_sender_key)
            && msg.retry_keys.is_none()
        {
            return Err(Need(RecordKey::RetryKeys));
        }
        Ok(())
    }

    /// The answers to a message whose `<enc>`s are all dealt with (whatsmeow
    /// `decryptMessages`' end).
    fn decide(&mut self, msg: InFlight) {
        let InFlight {
            node,
            info,
            visible,
            failure,
            invalid,
            bot_message,
            retry,
            retry_keys,
            ..
        } = msg;
        if let Some(received) = visible {
            self.outputs
                .push_back(Output::Deliver(Delivery::Message(received)));
        } else if let Some(failure) = failure {
            if let Some(count) = retry.filter(|&c| c < MAX_RETRY_COUNT) {
                let receipt = RetryReceipt {
                    id: info.id.clone(),
                    count,
                    registration_id: self.local.registration_id,
                };
                self.outputs
                    .extend(receipt.build(&node, retry_keys).map(Output::Send));
            }
            // whatsmeow acks without an error after a decrypt failure.
            self.outputs
                .extend(stanza::ack(&node, None).map(Output::Send));
            self.outputs
                .push_back(Output::Deliver(Delivery::Undecryptable {
                    info,
                    reason: failure.to_string(),
                }));
        } else if bot_message {
            self.outputs
                .extend(stanza::nack(&node, Nack::MissingMessageSecret).map(Output::Send));
        } else if invalid {
            self.outputs
                .extend(stanza::nack(&node, Nack::InvalidProtobuf).map(Output::Send));
            self.outputs
                .push_back(Output::Deliver(Delivery::Undecryptable {
                    info,
                    reason: "invalid protobuf".into(),
                }));
        } else {
            // Nothing for the application (a key distribution only, or a duplicate).
            self.outputs.extend(
                stanza::delivery_receipt(&node, info.from_me, self.active_receipts)
                    .map(Output::Send),
            );
            self.outputs
                .push_back(Output::Deliver(Delivery::Consumed(info)));
        }
    }
}

/// A decrypted message for the application: unwrapped and read through the content model;
/// `None` when it carries nothing but key distribution and context metadata.
pub fn open(
    raw: e2e::Message,
    plaintext: &[u8],
) -> Option<(e2e::Message, MessageContent, e2e::Message)> {
    let unwrapped = content::unwrap(&raw);
    if !content::carries_content(unwrapped.message, plaintext) {
        return None;
    }
    let mut message = unwrapped.message.clone();
    message.sender_key_distribution_message = None;
    if message.message_context_info.is_none() {
        message.message_context_info = unwrapped.message_context_info.cloned();
    }
    let content = MessageContent::read_plaintext(&raw, plaintext);
    Some((message, content, raw))
}
