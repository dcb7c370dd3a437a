//! The server side of simulated customers whose devices are whatsapp-client `Client`s
//! ([`crate::customer`]): the sim registers each device the way a phone registration (device 0)
//! or a link (companions) would leave it, then the client logs in over the WebSocket like any
//! other device. What the clients receive and the receipts they get are recorded here.

use std::collections::{BTreeSet, HashMap, VecDeque};

use prost::Message as _;
use rand::rngs::OsRng;
use tracing::info;
use whatsapp_client::store::{Device as ClientStoreDevice, SIGNED_PREKEY_ID};
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::signal::{KeyPair, SignedPreKeyRecord};

use rand::RngCore;
use whatsapp_proto::binary::Node;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::stanza::message_type::{media_type, stanza_type};

use super::{
    Companion, Device, DeviceKey, DeviceKind, SentRecord, State, now_unix, parse_to, random_id,
    sent_entry, server,
};
use crate::device::{self, Outgoing};
use crate::phone;
use crate::{InboxEntry, SentEntry, SimError};

/// A customer device the sim registered, for a client to log in with.
pub(crate) struct ProvisionedDevice {
    /// The device number.
    pub device: u16,
    /// What the client's store starts with: keys, JIDs, ADV identity.
    pub store: ClientStoreDevice,
}

/// Where a customer's read receipt goes: the chat as the client names it, the sender for groups.
pub(crate) struct ReadTarget {
    pub chat: Jid,
    pub sender: Option<Jid>,
    pub ids: Vec<String>,
}

impl State {
    /// Whether `pn` is a customer whose devices are clients.
    pub fn is_client_customer(&self, pn: &str) -> bool {
        self.accounts.get(pn).is_some_and(|a| {
            a.customer
                && matches!(
                    a.devices.get(&0).map(|d| &d.kind),
                    Some(DeviceKind::Companion(c)) if c.simulated
                )
        })
    }

    /// Every media blob the server stores, by path (sorted).
    pub fn media_blobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut blobs: Vec<(String, Vec<u8>)> = self
            .media
            .iter()
            .map(|(path, blob)| (path.clone(), blob.clone()))
            .collect();
        blobs.sort();
        blobs
    }

    /// Refuses accounts that are not client customers (reading, typing and reinstalling are
    /// what customers do; a paired account's phone only sends).
    pub fn require_client_customer(&self, pn: &str) -> Result<(), SimError> {
        if !self.accounts.contains_key(pn) {
            return Err(SimError::UnknownAccount(pn.to_owned()));
        }
        if !self.is_client_customer(pn) {
            return Err(SimError::BadRequest(format!(
                "{pn} is not a simulated customer"
            )));
        }
        Ok(())
    }

    /// Creates (or grows) a customer account whose `devices` devices are registered for
    /// clients: device 0 as a phone registration leaves it (its identity is the account key),
    /// the others as linked companions with an ADV identity issued by the account key.
    /// Returns the PN JID and the devices added.
    pub fn add_client_customer(
        &mut self,
        pn: &str,
        name: &str,
        devices: u16,
        lid_addressing: bool,
    ) -> Result<(Jid, Vec<ProvisionedDevice>), SimError> {
        let existed = self.accounts.contains_key(pn);
        if existed && !self.is_client_customer(pn) {
            return Err(SimError::BadRequest(format!(
                "{pn} is already an account with its own phone"
            )));
        }
        let jid = self.ensure_account(pn, name, true)?;
        let mut rng = OsRng;
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or(SimError::UnknownAccount(pn.to_owned()))?;
        account.lid_addressing = lid_addressing;
        if !name.is_empty() {
            account.name = name.to_owned();
            account.push_name = Some(name.to_owned());
        }
        let mut added = Vec::new();
        if !existed {
            // The phone registration: device 0's identity is the account key.
            let identity = account.key.clone();
            let (store, companion) = provision(account, 0, &identity, None, &mut rng);
            if let Some(d) = account.devices.get_mut(&0) {
                d.kind = DeviceKind::Companion(Box::new(companion));
            }
            added.push(ProvisionedDevice { device: 0, store });
        }
        while (account.devices.len() as u16) < devices.max(1) {
            let id = account.next_device;
            account.next_device += 1;
            let key_index = account.next_key_index;
            account.next_key_index += 1;
            let identity = KeyPair::generate(&mut rng);
            let adv = companion_identity(account, &identity, key_index, &mut rng);
            let (store, companion) = provision(account, id, &identity, Some(adv), &mut rng);
            account.devices.insert(
                id,
                Device {
                    key_index,
                    kind: DeviceKind::Companion(Box::new(companion)),
                    queue: VecDeque::new(),
                    retries: HashMap::new(),
                },
            );
            added.push(ProvisionedDevice { device: id, store });
        }
        let new_companions: Vec<u16> = added.iter().map(|d| d.device).filter(|d| *d != 0).collect();
        for id in new_companions {
            self.notify_devices_changed(pn, "add", id);
        }
        self.drain();
        Ok((jid, added))
    }

    /// The server starts addressing a customer's chats by LID (`true`) or phone number from
    /// now on, as it moves a conversation to the LID mid-way: the customer's next messages go
    /// to its peers' LIDs and reach them from its LID with `sender_pn`.
    pub fn set_customer_addressing(&mut self, pn: &str, lid: bool) -> Result<(), SimError> {
        self.require_client_customer(pn)?;
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        account.lid_addressing = lid;
        Ok(())
    }

    /// The chat JID a customer writes to for `to` (digits, a user JID or a group), in the
    /// customer's addressing mode.
    pub fn customer_chat(&self, pn: &str, to: &str) -> Result<Jid, SimError> {
        let account = self
            .accounts
            .get(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        let to_jid = super::parse_to(to)?;
        if to_jid.is_group() {
            let group = self
                .groups
                .get(&to_jid.user)
                .ok_or_else(|| SimError::BadRequest(format!("unknown group {to_jid}")))?;
            if !group.participants.iter().any(|p| p == pn) {
                return Err(SimError::BadRequest(format!("{pn} is not in {to_jid}")));
            }
            return Ok(to_jid);
        }
        let target = self
            .resolve(&to_jid)
            .ok_or_else(|| SimError::UnknownAccount(to.to_owned()))?;
        if target.0 == pn {
            return Err(SimError::BadRequest(
                "a customer cannot write to itself".into(),
            ));
        }
        let target = self
            .accounts
            .get(&target.0)
            .ok_or_else(|| SimError::UnknownAccount(to.to_owned()))?;
        Ok(if account.lid_addressing {
            target.lid_jid()
        } else {
            target.pn_jid()
        })
    }

    /// The quoted message's sender, as a quote names it (the customer itself when unknown).
    pub fn customer_quote_participant(&self, pn: &str, id: &str) -> Option<String> {
        let account = self.accounts.get(pn)?;
        Some(
            account
                .inbox
                .iter()
                .find(|e| e.id == id)
                .and_then(|e| e.from.parse::<Jid>().ok())
                .map(|j| j.to_non_ad().to_string())
                .unwrap_or_else(|| {
                    if account.lid_addressing {
                        account.lid_jid().to_string()
                    } else {
                        account.pn_jid().to_string()
                    }
                }),
        )
    }

    /// Notes a message the customer's client is about to send (status `sent` until the
    /// server's ack and the receipts come in).
    pub fn customer_will_send(&mut self, pn: &str, entry: SentEntry, chat: Jid) {
        if let Some(a) = self.accounts.get_mut(pn) {
            a.sent.push(SentRecord {
                entry,
                plaintext: Vec::new(),
                chat,
                media: None,
            });
        }
    }

    /// Keeps what the customer's phone needs to answer a media-retry request for `id`.
    pub fn customer_keep_media(
        &mut self,
        pn: &str,
        id: &str,
        media: (whatsapp_proto::media::MediaType, [u8; 32], Vec<u8>),
    ) {
        if let Some(record) = self.accounts.get_mut(pn).and_then(|a| a.sent.find_mut(id)) {
            record.media = Some(media);
        }
    }

    /// A message a customer's client received and decrypted (kept once per device).
    pub fn customer_received(&mut self, pn: &str, entry: InboxEntry) {
        if let Some(a) = self.accounts.get_mut(pn) {
            a.receive(entry);
        }
    }

    /// A receipt a customer's client got for messages it sent (`""` delivered, `read`, …).
    pub fn customer_receipt(&mut self, pn: &str, ids: &[String], kind: &str) {
        let status = match kind {
            // A passive client's delivery receipt is a delivery (whatsmeow `receipt.go`).
            "" | "inactive" => "delivered",
            "read" | "read-self" => "read",
            "played" => "played",
            _ => return,
        };
        let rank = |s: &str| {
            ["sent", "server_ack", "delivered", "read", "played"]
                .iter()
                .position(|x| *x == s)
                .unwrap_or(0)
        };
        if let Some(a) = self.accounts.get_mut(pn) {
            a.sent.update_each(ids, |s| {
                if rank(status) > rank(&s.entry.status) {
                    s.entry.status = status.to_owned();
                }
            });
        }
    }

    /// The customer reads messages its phone received: marks them and says where the read
    /// receipts go (the sending device for 1:1 chats, the group with the sender otherwise).
    pub fn customer_read_targets(
        &mut self,
        pn: &str,
        ids: &[String],
    ) -> Result<Vec<ReadTarget>, SimError> {
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        let mut targets: Vec<ReadTarget> = Vec::new();
        for entry in account
            .inbox
            .iter_mut()
            .filter(|e| ids.contains(&e.id) && e.device == 0 && !e.from_me)
        {
            entry.receipt = "read".into();
            let Ok(from) = entry.from.parse::<Jid>() else {
                continue;
            };
            let (chat, sender) = match entry.group.as_ref().and_then(|g| g.parse::<Jid>().ok()) {
                Some(group) => (group, Some(from)),
                None => (from, None),
            };
            match targets
                .iter_mut()
                .find(|t| t.chat == chat && t.sender == sender)
            {
                Some(t) => t.ids.push(entry.id.clone()),
                None => targets.push(ReadTarget {
                    chat,
                    sender,
                    ids: vec![entry.id.clone()],
                }),
            }
        }
        Ok(targets)
    }

    /// The accounts that have a chat with `pn`: those it exchanged 1:1 messages with (its
    /// inbox and sent log) and the members of the groups it is in. The real server tells the
    /// user's contacts of an identity change; "has a chat" is the sim's stand-in for that.
    fn chat_partners(&self, pn: &str) -> BTreeSet<String> {
        let Some(account) = self.accounts.get(pn) else {
            return BTreeSet::new();
        };
        let received = account
            .inbox
            .iter()
            .filter(|e| e.group.is_none())
            .filter_map(|e| e.from.parse::<Jid>().ok());
        let sent = account
            .sent
            .iter()
            .map(|r| r.chat.clone())
            .filter(|chat| !chat.is_group());
        let mut partners: BTreeSet<String> = received
            .chain(sent)
            .filter_map(|jid| self.resolve(&jid.to_non_ad()))
            .map(|(pn, _)| pn)
            .collect();
        for group in self.groups.values() {
            if group.participants.iter().any(|p| p == pn) {
                partners.extend(group.participants.iter().cloned());
            }
        }
        partners.remove(pn);
        partners
    }

    /// A client customer reinstalls WhatsApp: a new account key and new keys for every device
    /// (their clients must log in anew), prekeys gone, their connections closed, and the
    /// devices of every account with a chat with it ([`State::chat_partners`]) told
    /// `<notification type="encrypt"><identity/>` from its phone-number JID (part 2 §2.2;
    /// whatsmeow `notification.go` `handleEncryptNotification` is the receiving side).
    pub fn reinstall_client_customer(
        &mut self,
        pn: &str,
    ) -> Result<Vec<ProvisionedDevice>, SimError> {
        let partners = self.chat_partners(pn);
        let mut rng = OsRng;
        let account = self
            .accounts
            .get_mut(pn)
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))?;
        account.key = KeyPair::generate(&mut rng);
        let ids: Vec<(u16, u32)> = account
            .devices
            .iter()
            .map(|(id, d)| (*id, d.key_index))
            .collect();
        let mut fresh = Vec::new();
        for (id, key_index) in ids {
            let identity = if id == 0 {
                account.key.clone()
            } else {
                KeyPair::generate(&mut rng)
            };
            let adv =
                (id != 0).then(|| companion_identity(account, &identity, key_index, &mut rng));
            let (store, companion) = provision(account, id, &identity, adv, &mut rng);
            if let Some(d) = account.devices.get_mut(&id) {
                d.kind = DeviceKind::Companion(Box::new(companion));
                d.queue.clear();
                d.retries.clear();
            }
            fresh.push(ProvisionedDevice { device: id, store });
        }
        // guess: the tokens the customer issued stay valid across its reinstall (the trust is
        // the account's, kept by the server), so the accounts it wrote to may still answer.
        // whatsmeow agrees as far as it shows: on a contact's identity change it deletes the
        // contact's sessions and identities but keeps the token the contact issued, and
        // re-issues its own (`notification.go handleEncryptNotification`).
        let from = account.pn_jid();
        for provisioned in &fresh {
            let key: DeviceKey = (pn.to_owned(), provisioned.device);
            if let Some(conn) = self.conns.remove(&key) {
                let _ = conn.tx.send(super::Outbound::Close(None));
            }
        }
        let others: Vec<DeviceKey> = self
            .accounts
            .values()
            .filter(|a| partners.contains(&a.pn))
            .flat_map(|a| {
                a.devices
                    .iter()
                    .filter(|(_, d)| matches!(d.kind, DeviceKind::Companion(_)))
                    .map(|(id, _)| (a.pn.clone(), *id))
                    .collect::<Vec<_>>()
            })
            .collect();
        for target in others {
            let id = self.next_stanza_id();
            let node = whatsapp_proto::binary::Node::new("notification")
                .attr("from", from.clone())
                .attr("id", id.clone())
                .attr("t", now_unix())
                .attr("type", "encrypt")
                .children([whatsapp_proto::binary::Node::new("identity")]);
            self.queue_notification(target, id, node);
        }
        info!(pn, "customer reinstalled: new identity keys");
        self.drain();
        Ok(fresh)
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
            let typ = stanza_type(&message);
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
        let mediatype = media_type(&message);
        let typ = stanza_type(&message);
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
        self.phone_sessions(pn, &devices)?;
        let mut rng = OsRng;
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
        let corrupt = self.corrupt > 0;
        if corrupt {
            self.corrupt -= 1;
        }
        let sim = self.phone_mut(pn)?;
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
}

/// An ADVSignedDeviceIdentity for a customer's companion: issued by the account key, signed
/// by the companion's identity key (prefix 6,1), as linking leaves it.
fn companion_identity(
    account: &super::Account,
    identity: &KeyPair,
    key_index: u32,
    rng: &mut OsRng,
) -> Vec<u8> {
    let issued = phone::issue_device_identity(
        &account.key,
        identity.public.as_bytes(),
        &[0; 32],
        account.raw_id,
        key_index,
        now_unix(),
        rng,
    );
    let message = [
        &phone::ADV_DEVICE_SIGNATURE_PREFIX[..],
        &issued.details,
        identity.public.as_bytes(),
        &issued.account_signature_key,
    ]
    .concat();
    let device_signature = identity.private.sign(&message, rng);
    whatsapp_proto::pb::adv::AdvSignedDeviceIdentity {
        details: Some(issued.details),
        account_signature_key: Some(issued.account_signature_key.to_vec()),
        account_signature: Some(issued.account_signature.to_vec()),
        device_signature: Some(device_signature.to_vec()),
    }
    .encode_to_vec()
}

/// The client's starting store and what the server registers for it: fresh Noise key,
/// registration id and signed prekey (signed by `identity`); prekeys come with the client's
/// first upload.
fn provision(
    account: &super::Account,
    device: u16,
    identity: &KeyPair,
    adv: Option<Vec<u8>>,
    rng: &mut OsRng,
) -> (ClientStoreDevice, Companion) {
    let mut store = ClientStoreDevice::generate(rng);
    let spk = SignedPreKeyRecord::generate(SIGNED_PREKEY_ID, identity, now_unix(), rng);
    store.identity_key = identity.private.to_bytes();
    store.signed_prekey = spk.to_bytes();
    store.account = adv.clone();
    store.jid = Some(account.pn_jid().with_device(device));
    store.lid = Some(Jid::new(account.lid.clone(), Server::Lid).with_device(device));
    store.push_name = account.push_name.clone().unwrap_or_default();
    let companion = Companion {
        noise_key: *store.noise_pair().public(),
        identity: *identity.public.as_bytes(),
        registration_id: store.registration_id,
        spk: (spk.id, *spk.key_pair.public.as_bytes(), spk.signature),
        prekeys: VecDeque::new(),
        low_notified: false,
        signed_identity: adv.unwrap_or_default(),
        platform: String::new(),
        simulated: true,
    };
    (store, companion)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;

    #[test]
    fn a_client_customers_devices_are_registered_as_phone_and_linked_companions() {
        let mut state = state();
        let (jid, added) = state
            .add_client_customer(CUSTOMER, "Mona", 2, true)
            .expect("customer");
        assert_eq!(jid, Jid::user(CUSTOMER));
        let devices: Vec<u16> = added.iter().map(|d| d.device).collect();
        assert_eq!(devices, [0, 1]);
        // Device 0 is the phone: its identity is the account key, no ADV identity; the
        // companion carries one.
        let account = &state.accounts[CUSTOMER];
        assert_eq!(added[0].store.identity_key, account.key.private.to_bytes());
        assert!(added[0].store.account.is_none());
        assert!(added[1].store.account.is_some());
        assert!(state.is_client_customer(CUSTOMER));
        assert!(state.accounts[CUSTOMER].lid_addressing);
        // A paired account with its own phone is not one.
        let _pharmacy = state.online_companion(ACCOUNT);
        assert!(state.require_client_customer(ACCOUNT).is_err());
        assert!(state.add_client_customer(ACCOUNT, "", 1, false).is_err());
    }

    #[test]
    fn a_grown_customer_tells_its_other_companions() {
        let mut state = state();
        state
            .add_client_customer(CUSTOMER, "Mona", 2, false)
            .expect("customer");
        let key = (CUSTOMER.to_owned(), 1);
        let noise_key = match &state.accounts[CUSTOMER].devices[&1].kind {
            DeviceKind::Companion(c) => c.noise_key,
            DeviceKind::Simulated(_) => panic!("a companion"),
        };
        let mut companion = state.test_login(&key, noise_key);
        state
            .add_client_customer(CUSTOMER, "Mona", 3, false)
            .expect("grown");
        let notification = companion.one("notification");
        assert_eq!(attr(&notification, "type"), "devices");
        let add = notification.child("add").expect("add");
        assert_eq!(
            attr(add.child("device").expect("device"), "jid"),
            format!("{CUSTOMER}:2@s.whatsapp.net")
        );
    }
}
