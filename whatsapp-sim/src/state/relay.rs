//! The relay: `<message>` fan-out to device queues, server acks and nacks, client acks,
//! receipts, trusted-contact tokens, notifications and the routing of queued work.

use std::collections::HashSet;

use rand::RngCore;
use rand::rngs::OsRng;
use tracing::{debug, info, warn};
use whatsapp_proto::binary::{Content, Node};
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::stanza::privacy_token::BUCKET_SECONDS;

use whatsapp_proto::stanza::server::{RelayedReceipt, ServerAck};

use super::{DeviceKey, DeviceKind, Outbound, Queued, State, now_unix, phash};
use crate::{ChatStateRecord, InboxEntry, SentEntry, SimError};

impl State {
    pub(super) fn ack_to(&self, key: &DeviceKey, node: Node) {
        let _ = self.send_to(key, node);
    }

    /// A client stanza with a JID attribute written as text (a string where the wire wants a
    /// JID node): logged, and not acted on.
    // guess: the real server's answer is not documented. A message, receipt or call gets
    // `<ack error="479">` (whatsapp-rust `src/client/node_io.rs` reads 479 as SmaxInvalid, "a
    // stanza field has an incorrect format (e.g. wrong JID format)"), an IQ `400
    // bad-request`; anything else is dropped.
    pub(super) fn refuse_text_jids(&mut self, key: &DeviceKey, node: &Node, text: &[String]) {
        warn!(tag = %node.tag, ?text, "client stanza with a JID as text refused");
        let id = node.attrs().optional_string("id").unwrap_or_default();
        let answer = match node.tag.as_str() {
            "iq" => super::iq_error(&id, 400, "bad-request"),
            "message" | "receipt" | "call" => ServerAck::new(node.tag.as_str(), id)
                .at(now_unix())
                .error(479)
                .build(),
            _ => return,
        };
        self.record(key, node);
        self.ack_to(key, answer);
    }

    /// A `<message>` sent by `sender` (a companion, or a simulated device when `via_sim`).
    pub(super) fn handle_message(&mut self, sender: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let Some(id) = attrs.optional_string("id").filter(|s| !s.is_empty()) else {
            warn!("message without id dropped");
            return;
        };
        let nack = |state: &State, code: u16, to: Option<Jid>| {
            let mut ack = ServerAck::new("message", id.clone())
                .at(now_unix())
                .error(code);
            ack.from = to;
            state.ack_to(sender, ack.build());
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
        if to.is_status_broadcast() {
            self.handle_status_message(sender, node, id, to);
            return;
        }
        let Some((target_pn, to_device)) = self.resolve(&to) else {
            debug!(%to, "message to an unknown chat");
            nack(self, 479, Some(to));
            return;
        };
        let lid_form = to.server == Server::Lid;
        let category = attrs.optional_string("category");
        let peer = category.as_deref() == Some("peer");
        if peer && target_pn != sender.0 {
            nack(self, 479, Some(to));
            return;
        }
        // guess: the real server answers a companion's 1:1 message with `<ack error="463">`
        // when it carries no valid token for its recipient (part 2 §4.7 and §11, Baileys
        // messages-recv.ts, whatsapp-rust node_io.rs); which tokens count: [`State::token_admits`].
        if !peer
            && target_pn != sender.0
            && self.companion(sender).is_some_and(|c| !c.simulated)
            && !self.recipient_wrote_to(&target_pn, &sender.0)
            && !self.token_admits(&target_pn, &sender.0, node)
        {
            info!(id, %to, "463: no valid privacy token for the recipient");
            nack(self, 463, Some(to));
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
        let mut ack = ServerAck::new("message", id.clone()).from(to.clone()).at(t);
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
                ack = ack.phash(phash(&real));
            }
        }
        self.ack_to(sender, ack.build());
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
        let appdata = self.take_appdata(&id);
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
            // The other account's devices get it as `<appdata>` when the customer's helper
            // asked for it; the sender's own devices keep `<message>` (a guess: nothing says
            // which tag the real server uses for the sender's other devices).
            let class = if appdata && !own {
                "appdata"
            } else {
                "message"
            };
            let mut out = Node::new(class)
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
                    class,
                    id: id.clone(),
                    peer: Some(sender.0.clone()),
                    node: out,
                    sent: false,
                },
            ));
        }
    }

    /// The server acked a simulated account's message: its sent record shows it.
    pub(super) fn note_server_ack(&mut self, sender: &DeviceKey, id: &str, t: u64) {
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

    pub(super) fn handle_ack(&mut self, key: &DeviceKey, node: &Node) {
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

    pub(super) fn handle_receipt(&mut self, key: &DeviceKey, node: &Node) {
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
        // Any receipt for a message (retry included) acknowledges it. An `<appdata>` too:
        // whatsmeow answers a decrypted one with a receipt only (`decryptMessages` ->
        // `sendMessageReceipt`), so the server must take that as its ack (an inference).
        // Checked: client.go handles `appdata` as `message`; message.go acks only on a failure.
        let peer = target.as_ref().map(|k| k.0.clone());
        self.acked(key, "message", &ids, peer.clone());
        self.acked(key, "appdata", &ids, peer);
        let mut ack = ServerAck::new("receipt", id.clone()).from(to.clone());
        ack.kind = kind.clone();
        self.ack_to(key, ack.build());
        let Some(target) = target.filter(|t| self.device_exists(t)) else {
            return;
        };
        let Some(account) = self.accounts.get(&key.0) else {
            return;
        };
        let lid_form = to.server == Server::Lid;
        let mut receipt = match group_lid {
            Some(lid) => RelayedReceipt::new(to.clone(), id.clone(), now_unix())
                .participant(account.device_jid(key.1, lid)),
            None => {
                RelayedReceipt::new(account.device_jid(key.1, lid_form), id.clone(), now_unix())
            }
        };
        receipt.kind = kind.clone();
        if group_lid.is_none() {
            // The sender's routing, relayed as JIDs (a text JID: whatsmeow's error 487).
            receipt.participant = attrs.optional_jid("participant").ok().flatten();
            receipt.recipient = attrs.optional_jid("recipient").ok().flatten();
        }
        let mut out = receipt.build();
        if let Content::Nodes(children) = &node.content {
            out = out.children(children.clone());
        }
        // A group receipt names its sender without a device (whatsmeow `MarkRead` sends
        // `participant` as `ToNonAD()`): every device of that account gets it, as the
        // sender's phone and companions all show the ticks.
        let targets: Vec<DeviceKey> = if to.is_group() && target.1 == 0 {
            self.accounts
                .get(&target.0)
                .map(|a| a.devices.keys().map(|d| (target.0.clone(), *d)).collect())
                .unwrap_or_default()
        } else {
            vec![target]
        };
        for target in targets {
            self.work.push_back((
                target,
                Queued {
                    class: "receipt",
                    id: id.clone(),
                    peer: Some(key.0.clone()),
                    node: out.clone(),
                    sent: false,
                },
            ));
        }
    }

    /// Routes queued work: companions get it (now if online and active), simulated devices
    /// process it at once.
    pub(super) fn drain(&mut self) {
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

    /// `issue_privacy_token` for the control API: both accounts must exist.
    pub(crate) fn issue_privacy_token_between(
        &mut self,
        from: &str,
        to: &str,
    ) -> Result<(), SimError> {
        for pn in [from, to] {
            if !self.accounts.contains_key(pn) {
                return Err(SimError::UnknownAccount(pn.to_owned()));
            }
        }
        self.issue_privacy_token(from, to);
        self.drain();
        Ok(())
    }

    /// The LID JID of an account.
    pub(crate) fn lid_of(&self, pn: &str) -> Result<Jid, SimError> {
        self.accounts
            .get(pn)
            .map(|a| a.lid_jid())
            .ok_or_else(|| SimError::UnknownAccount(pn.to_owned()))
    }

    /// A phone writing to someone issues its trusted-contact token to them (at most once per
    /// 7-day bucket); the server hands it to the recipient's companions (part 2 §4.7).
    pub(super) fn issue_privacy_token(&mut self, from: &str, to: &str) {
        const BUCKET: u64 = BUCKET_SECONDS as u64;
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

    /// Whether `recipient` wrote to `sender` within its token's validity (it issued its token
    /// then). guess: the real server refuses only a new chat; a reply to someone who wrote is
    /// delivered without a token in the stanza, as clients that send none (npm Baileys 6.7)
    /// reply to customers in production.
    pub(super) fn recipient_wrote_to(&self, recipient: &str, sender: &str) -> bool {
        const VALID: u64 = 4 * BUCKET_SECONDS as u64;
        let now = now_unix();
        self.accounts
            .get(recipient)
            .and_then(|a| a.issued_tokens.get(sender))
            .is_some_and(|(_, t)| now.saturating_sub(*t) < VALID)
    }

    /// The account's linked companions (not its simulated devices).
    pub(super) fn companions_of(&self, pn: &str) -> Vec<u16> {
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

    /// Queues a copy of `node` to each target, each with its own stanza `id`.
    pub(super) fn queue_notifications(&mut self, targets: Vec<DeviceKey>, node: &Node) {
        for target in targets {
            let id = self.next_stanza_id();
            let node = node.clone().attr("id", id.clone());
            self.queue_notification(target, id, node);
        }
    }

    /// Queues a notification for a device (delivered now if it is active).
    pub(super) fn queue_notification(&mut self, to: DeviceKey, id: String, node: Node) {
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
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;
    use crate::device::Outgoing;

    /// A `<message>` from a companion to one device of `to`'s account.
    fn to_device(id: &str, to: &str, device: &str) -> Node {
        Node::new("message")
            .attr("id", id.to_owned())
            .attr("to", to.parse::<Jid>().expect("jid"))
            .attr("type", "text")
            .children([Node::new("participants").children([Node::new("to")
                .attr("jid", device.parse::<Jid>().expect("jid"))
                .children([Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(vec![1; 40])])])])
    }

    /// `node` carrying the trusted-contact token `issuer` gave `holder`, as a client attaches it.
    fn with_token(state: &State, node: Node, issuer: &str, holder: &str) -> Node {
        let mut children = node.child_nodes().to_vec();
        children.push(state.tctoken(issuer, holder));
        node.children(children)
    }

    #[test]
    fn a_message_to_an_unknown_chat_is_nacked_479() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.handle(
            &conn.key.clone(),
            to_device(
                "M1",
                "209999999999@s.whatsapp.net",
                "209999999999:0@s.whatsapp.net",
            ),
        );
        let ack = conn.one("ack");
        assert_eq!(attr(&ack, "id"), "M1");
        assert_eq!(attr(&ack, "error"), "479");
    }

    #[test]
    fn a_message_to_someone_who_never_wrote_is_refused_463_until_they_write() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        let device = format!("{CUSTOMER}:0@s.whatsapp.net");
        let to = format!("{CUSTOMER}@s.whatsapp.net");
        state.handle(&conn.key.clone(), to_device("T1", &to, &device));
        let nack = conn.one("ack");
        assert_eq!(
            (attr(&nack, "id").as_str(), attr(&nack, "error").as_str()),
            ("T1", "463")
        );
        assert!(state.inbox(CUSTOMER).expect("inbox").is_empty());
        // The customer writes: the chat is no longer new, and a reply passes with its token
        // or without one (a client that carries none, as npm Baileys 6.7).
        state
            .customer_send(CUSTOMER, ACCOUNT, &Outgoing::Text("hi".into()), None)
            .expect("send");
        conn.sent();
        state.handle(&conn.key.clone(), to_device("T2", &to, &device));
        let replied = conn.one("ack");
        assert!(attr(&replied, "error").is_empty(), "{replied:?}");
        let with = with_token(&state, to_device("T3", &to, &device), CUSTOMER, ACCOUNT);
        state.handle(&conn.key.clone(), with);
        let sent = conn.sent();
        let ack = sent.iter().find(|n| n.tag == "ack").expect("ack");
        assert_eq!(attr(ack, "id"), "T3");
        assert!(attr(ack, "error").is_empty(), "{ack:?}");
    }

    #[test]
    fn a_customers_message_reaches_the_companion_with_its_sender_and_is_acked_by_receipt() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        let id = state
            .customer_send(CUSTOMER, ACCOUNT, &Outgoing::Text("hi".into()), None)
            .expect("send");
        let sent = conn.sent();
        let message = sent
            .iter()
            .find(|n| n.tag == "message")
            .unwrap_or_else(|| panic!("no message in {sent:?}"));
        assert_eq!(attr(message, "id"), id);
        assert_eq!(attr(message, "from"), format!("{CUSTOMER}@s.whatsapp.net"));
        assert!(attr(message, "sender_lid").ends_with("@lid"));
        assert_eq!(attr(message, "notify"), "Mona");
        let enc = message.child("enc").expect("enc");
        assert_eq!(attr(enc, "type"), "pkmsg");
        // Writing to us, the customer's phone issued its trusted-contact token.
        assert!(sent.iter().any(|n| attr(n, "type") == "privacy_token"));

        let queued = |state: &State| {
            state.accounts[ACCOUNT].devices[&conn.key.1]
                .queue
                .iter()
                .filter(|q| q.class == "message")
                .count()
        };
        assert_eq!(queued(&state), 1, "kept until acknowledged");
        let receipt = Node::new("receipt")
            .attr("id", id.clone())
            .attr("to", Jid::user(CUSTOMER));
        state.handle(&conn.key.clone(), receipt);
        assert_eq!(queued(&state), 0);
        assert_eq!(attr(&conn.one("ack"), "class"), "receipt");
        // The phone saw our delivery receipt.
        let status = state.sent(CUSTOMER).expect("sent")[0].status.clone();
        assert_eq!(status, "delivered");
    }

    #[test]
    fn a_message_marked_appdata_reaches_the_other_account_as_appdata_and_a_receipt_acks_it() {
        let mut state = state();
        let mut pharmacy = state.online_companion(ACCOUNT);
        let mut customer = state.online_companion(CUSTOMER);
        // We wrote to the customer before: its companion may write to us.
        state.issue_privacy_token(ACCOUNT, CUSTOMER);
        state.deliver_as_appdata("A1");
        let target = format!("{ACCOUNT}:{}@s.whatsapp.net", pharmacy.key.1);
        let to_us = |state: &State, id: &str| {
            let node = to_device(id, &format!("{ACCOUNT}@s.whatsapp.net"), &target);
            with_token(state, node, ACCOUNT, CUSTOMER)
        };
        let a1 = to_us(&state, "A1");
        state.handle(&customer.key.clone(), a1);
        assert!(attr(&customer.one("ack"), "error").is_empty());
        let appdata = pharmacy.one("appdata");
        assert_eq!(attr(&appdata, "id"), "A1");
        assert_eq!(
            attr(&appdata, "from"),
            format!("{CUSTOMER}:{}@s.whatsapp.net", customer.key.1)
        );
        assert_eq!(attr(appdata.child("enc").expect("enc"), "type"), "msg");
        assert_eq!(state.appdata_relayed(), ["A1"]);
        let queue = |state: &State| state.accounts[ACCOUNT].devices[&pharmacy.key.1].queue.len();
        assert_eq!(queue(&state), 1);
        // whatsmeow answers a decrypted <appdata> with a receipt only: that acknowledges it.
        state.handle(
            &pharmacy.key.clone(),
            Node::new("receipt")
                .attr("id", "A1")
                .attr("to", Jid::user(CUSTOMER)),
        );
        assert_eq!(queue(&state), 0);
        // Another message is a plain <message>.
        let m2 = to_us(&state, "M2");
        state.handle(&customer.key.clone(), m2);
        assert_eq!(attr(&pharmacy.one("message"), "id"), "M2");
    }

    #[test]
    fn a_client_stanza_with_a_text_jid_is_refused_and_not_relayed() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        let mut customer = state.online_companion(CUSTOMER);
        // A receipt whose participant is text: refused with 479, never reaches the customer.
        let receipt = Node::new("receipt")
            .attr("id", "X1")
            .attr("to", Jid::user(CUSTOMER))
            .attr("participant", format!("{CUSTOMER}@s.whatsapp.net"));
        state.handle(&conn.key.clone(), receipt);
        let nack = conn.one("ack");
        assert_eq!(
            (
                attr(&nack, "class").as_str(),
                attr(&nack, "id").as_str(),
                attr(&nack, "error").as_str()
            ),
            ("receipt", "X1", "479")
        );
        assert!(customer.sent().is_empty());
        // An IQ naming a user as text: 400.
        let usync = Node::new("iq")
            .attr("id", "X2")
            .attr("xmlns", "usync")
            .attr("type", "get")
            .children([Node::new("usync")
                .children([Node::new("list").children([
                    Node::new("user").attr("jid", format!("{CUSTOMER}@s.whatsapp.net"))
                ])])]);
        state.handle(&conn.key.clone(), usync);
        let error = conn.one("iq");
        assert_eq!(attr(&error, "type"), "error");
        assert_eq!(attr(error.child("error").expect("error"), "code"), "400");
        // Both are logged.
        let logged: Vec<String> = state.stanzas().into_iter().map(|s| s.id).collect();
        assert_eq!(logged, ["X1", "X2"]);
    }

    #[test]
    fn an_ack_removes_a_notification_from_the_queue() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.queue_notification(
            conn.key.clone(),
            "N7".into(),
            Node::new("notification").attr("id", "N7"),
        );
        state.drain();
        assert_eq!(attr(&conn.one("notification"), "id"), "N7");
        state.handle(
            &conn.key.clone(),
            Node::new("ack")
                .attr("class", "notification")
                .attr("id", "N7"),
        );
        assert!(
            state.accounts[ACCOUNT].devices[&conn.key.1]
                .queue
                .is_empty()
        );
    }
}
