//! What simulated devices (the phones of accounts, device 0) answer: decrypting what they
//! receive, delivery receipts, retry receipts, and resends on a companion's retry request.

use prost::Message as _;
use rand::rngs::OsRng;
use tracing::warn;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Server;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::receive::stanza::{KEYS_FROM_RETRY, MAX_RETRY_COUNT};

use sha2::{Digest, Sha256};

use whatsapp_proto::stanza::keys::registration_node;
use whatsapp_proto::stanza::server::RelayedReceipt;

use super::media::blob_path;
use super::{DeviceKey, DeviceKind, Queued, State, now_ms, now_unix};
use crate::device::{self, Bundle};
use crate::{InboxEntry, phone};

impl State {
    pub(super) fn simulated_receive(&mut self, key: &DeviceKey, item: Queued) {
        match item.class {
            "message" => self.simulated_message(key, &item.node),
            "receipt" => {
                let kind = item
                    .node
                    .attrs()
                    .optional_string("type")
                    .unwrap_or_default();
                let status = match kind.as_str() {
                    // A passive client's delivery receipt is a delivery (whatsmeow `receipt.go`).
                    "" | "inactive" => "delivered",
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
            if count >= MAX_RETRY_COUNT {
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
                registration_node(sim.registration_id),
            ];
            if count >= KEYS_FROM_RETRY {
                children.push(sim.take_bundle(&mut rng).keys_node());
            }
            if adv_failure && let Some(retry) = children.first_mut() {
                // WA Web RetryReason 12: ADV failure (part 2 §6.2).
                retry.set_attr("error", "12");
            }
            let receipt = RelayedReceipt::new(me, id.clone(), now_unix())
                .kind("retry")
                .build()
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
            let mut details = understood.details.clone();
            let (media_sha256, media_error) = match &understood.media {
                None => (understood.media_sha256.clone(), None),
                Some(m) => match self.media.get(blob_path(&m.direct_path)) {
                    None => (None, Some("blob not found on the media server".to_owned())),
                    Some(blob) => match whatsapp_proto::media::MediaHashes::from_slices(
                        &m.file_sha256,
                        &m.file_enc_sha256,
                    )
                    .and_then(|h| {
                        whatsapp_proto::media::decrypt(&m.media_key, m.media_type, blob, &h)
                    }) {
                        Ok(plain) => {
                            if let Some(d) = details.as_mut() {
                                d.downloaded_length = Some(plain.len() as u64);
                            }
                            (Some(hex::encode(Sha256::digest(&plain))), None)
                        }
                        Err(e) => (None, Some(e.to_string())),
                    },
                },
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
                media_details: details,
            });
        }
        let mut receipt = match group {
            Some(_) => RelayedReceipt::new(chat.clone(), id.clone(), now_unix()).participant(me),
            None => RelayedReceipt::new(me, id.clone(), now_unix()),
        };
        if attrs.optional_str("category") == Some("peer") {
            receipt.kind = Some("peer_msg".into());
        } else if own {
            receipt.kind = Some("sender".into());
        }
        // A JID node, as every JID the server writes (whatsmeow answers text with error 487).
        receipt.recipient = attrs.optional_jid("recipient").ok().flatten();
        let receipt = receipt.build();
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
        if count >= u64::from(MAX_RETRY_COUNT) {
            return;
        }
        let address = format!("{}.{}", requester.0, requester.1);
        // The requester's own keys, when its receipt carries them (part 2 §6.2).
        let keys_bundle = node
            .child("keys")
            .and_then(|_| Bundle::parse(node).ok())
            .map(|b| Bundle {
                device_identity: None,
                ..b
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
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;
    use whatsapp_proto::jid::Jid;

    #[test]
    fn a_message_the_phone_cannot_decrypt_gets_retry_receipts_that_count_up() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        // The customer wrote to us (the server answers 463 otherwise).
        state.issue_privacy_token(CUSTOMER, ACCOUNT);
        let garbage = Node::new("message")
            .attr("id", "R1")
            .attr("to", Jid::user(CUSTOMER))
            .attr("type", "text")
            .children([
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "msg")
                    .bytes(vec![3; 50]),
                state.tctoken(CUSTOMER, ACCOUNT),
            ]);
        for count in ["1", "2"] {
            state.handle(&conn.key.clone(), garbage.clone());
            let sent = conn.sent();
            let ack = sent.iter().find(|n| n.tag == "ack").expect("server ack");
            assert!(attr(ack, "error").is_empty(), "{ack:?}");
            let receipt = sent
                .iter()
                .find(|n| n.tag == "receipt")
                .unwrap_or_else(|| panic!("no retry receipt in {sent:?}"));
            assert_eq!(attr(receipt, "type"), "retry");
            assert_eq!(attr(receipt, "id"), "R1");
            let retry = receipt.child("retry").expect("retry");
            assert_eq!(attr(retry, "count"), count);
            assert!(receipt.child("registration").is_some());
            // From the second retry on, the phone sends its keys for a new session.
            assert_eq!(receipt.child("keys").is_some(), count == "2");
        }
        assert!(state.inbox(CUSTOMER).expect("inbox").is_empty());
    }
}
