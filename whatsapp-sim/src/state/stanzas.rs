//! Stanzas that are not a decryptable message: `<unavailable>` from the server (and the
//! phone's answer to a placeholder-resend request), raw stanzas for the client's nacks, and
//! calls (a customer's offer and terminate; `<call>` from a companion acked and relayed).
//!
//! - `<message>` with `<unavailable type>` instead of `<enc>`: what the server sends a linked
//!   device for a message it could not fan out to it (view-once media above all; whatsmeow
//!   `message.go` `decryptMessages`). For other kinds the real message is kept so that the
//!   account's phone can answer the companion's PLACEHOLDER_MESSAGE_RESEND request with it
//!   (a `WebMessageInfo` in a PEER_DATA_OPERATION_REQUEST_RESPONSE, as whatsmeow
//!   `handlePlaceholderResendResponse` reads it).
//! - `<appdata>`: a customer's encrypted message handed to the other account's devices under
//!   that tag ([`State::deliver_as_appdata`]); a receipt acknowledges it as it does a message.
//! - `<call>` from a companion (a reject, whatsmeow `call.go` `RejectCall`): acked with
//!   `<ack class="call">` and relayed to the devices of its `to`, as `from` = the sender's
//!   device (the server's relay; a guess at the exact attributes beyond `from`/`id`/`t`).

use std::collections::{HashMap, HashSet};

use prost::Message as _;
use tracing::info;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::{e2e, history};
use whatsapp_proto::stanza::server::ServerAck;

use super::{DeviceKey, Queued, State, now_unix, random_id};
use crate::SimError;

/// What this module keeps in [`State`].
#[derive(Default)]
pub(crate) struct StanzaState {
    /// (account, message id) -> the message behind an `<unavailable>`, as the phone resends it.
    placeholders: HashMap<(String, String), Vec<u8>>,
    /// Placeholder-resend requests the phones received: (account, message id).
    resend_requests: Vec<(String, String)>,
    /// `<call>` stanzas relayed to customers' devices: (customer, child tag, call id).
    calls_relayed: Vec<CallRecord>,
    /// Ids of customers' messages the relay is to hand to the other account as `<appdata>`.
    appdata: HashSet<String>,
    /// Ids of the messages it handed over as `<appdata>`, oldest first.
    appdata_relayed: Vec<String>,
}

/// A `<call>` the sim relayed to a customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    /// The customer (digits) it went to.
    pub to: String,
    /// Who sent it (a device JID).
    pub from: String,
    /// The child's tag (`reject`, …).
    pub action: String,
    /// The `call-id`.
    pub call_id: String,
}

impl State {
    /// Queues `node` (a `message` or `call` stanza with an id) for every companion of
    /// `account`; `peer` is the account on the other side (matched against acks' `to`).
    fn queue_for_companions(&mut self, account: &str, class: &'static str, peer: &str, node: Node) {
        let id = node.attrs().optional_string("id").unwrap_or_default();
        for device in self.companions_of(account) {
            self.work.push_back((
                (account.to_owned(), device),
                Queued {
                    class,
                    id: id.clone(),
                    peer: Some(peer.to_owned()),
                    node: node.clone(),
                    sent: false,
                },
            ));
        }
        self.drain();
    }

    fn known(&self, pn: &str) -> Result<(), SimError> {
        if self.accounts.contains_key(pn) {
            Ok(())
        } else {
            Err(SimError::UnknownAccount(pn.to_owned()))
        }
    }

    /// The server tells `account`'s companions that `customer` sent a message they cannot
    /// have (`<unavailable type=kind>`); returns its id. Unless it is `view_once`, the
    /// account's phone keeps `text` as the message, to resend it when asked.
    pub fn unavailable_message(
        &mut self,
        account: &str,
        customer: &str,
        kind: &str,
        text: &str,
    ) -> Result<String, SimError> {
        self.known(account)?;
        self.known(customer)?;
        let id = random_id();
        let t = now_unix();
        let from = Jid::user(customer.to_owned());
        let stanza = Node::new("message")
            .attr("from", from.clone())
            .attr("id", id.clone())
            .attr("t", t)
            .attr("type", if kind == "view_once" { "media" } else { "text" })
            .children([Node::new("unavailable").attr("type", kind.to_owned())]);
        if kind != "view_once" {
            let web = history::WebMessageInfo {
                key: e2e::MessageKey {
                    remote_jid: Some(from.to_string()),
                    from_me: Some(false),
                    id: Some(id.clone()),
                    participant: None,
                },
                message: Some(e2e::Message {
                    conversation: Some(text.to_owned()),
                    ..Default::default()
                }),
                message_timestamp: Some(t),
                ..Default::default()
            };
            self.stanza_state
                .placeholders
                .insert((account.to_owned(), id.clone()), web.encode_to_vec());
        }
        self.queue_for_companions(account, "message", customer, stanza);
        Ok(id)
    }

    /// A stanza as given (it must carry an id) queued for `account`'s companions, from
    /// `customer`: what a test needs to see the client's answer to a stanza it cannot read.
    pub fn raw_stanza(
        &mut self,
        account: &str,
        customer: &str,
        node: Node,
    ) -> Result<String, SimError> {
        self.known(account)?;
        let id = node
            .attrs()
            .optional_string("id")
            .ok_or_else(|| SimError::BadRequest("stanza without id".into()))?;
        let class: &'static str = match node.tag.as_str() {
            "message" => "message",
            "appdata" => "appdata",
            "call" => "call",
            other => return Err(SimError::BadRequest(format!("tag {other} not relayed"))),
        };
        self.queue_for_companions(account, class, customer, node);
        Ok(id)
    }

    /// The account's phone answers a placeholder-resend request of its companion `device`
    /// with the messages it kept (whatsmeow `handlePlaceholderResendResponse` reads them).
    pub(super) fn phone_placeholder_resend(
        &mut self,
        pn: &str,
        device: u16,
        stanza_id: &str,
        request: &e2e::PeerDataOperationRequestMessage,
    ) {
        use e2e::peer_data_operation_request_response_message::{
            PeerDataOperationResult, peer_data_operation_result::PlaceholderMessageResendResponse,
        };
        let mut results = Vec::new();
        for r in &request.placeholder_message_resend_request {
            let Some(id) = r.message_key.as_ref().and_then(|k| k.id.clone()) else {
                continue;
            };
            self.stanza_state
                .resend_requests
                .push((pn.to_owned(), id.clone()));
            if let Some(bytes) = self.stanza_state.placeholders.get(&(pn.to_owned(), id)) {
                results.push(PeerDataOperationResult {
                    placeholder_message_resend_response: Some(PlaceholderMessageResendResponse {
                        web_message_info_bytes: Some(bytes.clone()),
                    }),
                    ..Default::default()
                });
            }
        }
        info!(
            pn,
            device,
            found = results.len(),
            "phone answers a placeholder resend request"
        );
        if results.is_empty() {
            return;
        }
        let answer = e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                r#type: Some(
                    e2e::protocol_message::Type::PeerDataOperationRequestResponseMessage as i32,
                ),
                peer_data_operation_request_response_message: Some(
                    e2e::PeerDataOperationRequestResponseMessage {
                        peer_data_operation_request_type: Some(
                            e2e::PeerDataOperationRequestType::PlaceholderMessageResend as i32,
                        ),
                        stanza_id: Some(stanza_id.to_owned()),
                        peer_data_operation_result: results,
                    },
                ),
                ..Default::default()
            })),
            ..Default::default()
        };
        self.phone_send_peer(pn, device, &answer);
    }

    /// Placeholder-resend requests the account's phone received (message ids, in order).
    pub fn resend_requests(&self, account: &str) -> Vec<String> {
        self.stanza_state
            .resend_requests
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// A customer's phone calls `account` (`<offer>`, with `<video>` for a video call);
    /// returns the call id.
    pub fn customer_call(
        &mut self,
        customer: &str,
        account: &str,
        video: bool,
    ) -> Result<String, SimError> {
        self.known(account)?;
        let caller = self
            .accounts
            .get(customer)
            .ok_or_else(|| SimError::UnknownAccount(customer.to_owned()))?;
        let (pn, lid) = (caller.pn_jid(), caller.lid_jid());
        let call_id = random_id();
        let mut media = vec![Node::new("audio").attr("enc", "opus").attr("rate", "16000")];
        if video {
            media.push(Node::new("video").attr("enc", "vp8"));
        }
        let offer = Node::new("offer")
            .attr("call-id", call_id.clone())
            .attr("call-creator", pn.clone())
            .attr("caller_lid", lid)
            .children(media);
        self.queue_call(customer, account, offer)?;
        // A caller issues its trusted-contact token after placing a 1:1 call, as after a
        // message (whatsapp-rust `src/voip/facade.rs`: WA Web's post-offer `sendTcToken`), so
        // the account may answer by message (no 463).
        self.issue_privacy_token(customer, account);
        Ok(call_id)
    }

    /// The customer's phone ends the call (`<terminate>`): unanswered, a missed call.
    pub fn customer_call_end(
        &mut self,
        customer: &str,
        account: &str,
        call_id: &str,
    ) -> Result<(), SimError> {
        let pn = self
            .accounts
            .get(customer)
            .ok_or_else(|| SimError::UnknownAccount(customer.to_owned()))?
            .pn_jid();
        let terminate = Node::new("terminate")
            .attr("call-id", call_id.to_owned())
            .attr("call-creator", pn)
            .attr("reason", "timeout");
        self.queue_call(customer, account, terminate)
    }

    fn queue_call(&mut self, customer: &str, account: &str, child: Node) -> Result<(), SimError> {
        self.known(account)?;
        let stanza = Node::new("call")
            .attr("from", Jid::user(customer.to_owned()).with_device(0))
            .attr("id", random_id())
            .attr("t", now_unix())
            .attr("platform", "android")
            .attr("version", "2.25.1")
            .children([child]);
        self.queue_for_companions(account, "call", customer, stanza);
        Ok(())
    }

    /// A `<call>` from a companion (a reject): acked, then relayed to the devices of its
    /// `to` with `from` set to the sender's device.
    pub(super) fn handle_call(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        let Some(id) = attrs.optional_string("id") else {
            return;
        };
        let to = attrs.jid("to").ok();
        let mut ack = ServerAck::new("call", id.clone());
        ack.from = to.clone();
        self.ack_to(key, ack.build());
        let Some(target) = to.as_ref().and_then(|j| self.resolve(j)) else {
            return;
        };
        let Some(child) = node.child_nodes().first() else {
            return;
        };
        let from = Jid::user(key.0.clone()).with_device(key.1);
        self.stanza_state.calls_relayed.push(CallRecord {
            to: target.0.clone(),
            from: from.to_string(),
            action: child.tag.to_string(),
            call_id: child.attrs().optional_string("call-id").unwrap_or_default(),
        });
        let relayed = Node::new("call")
            .attr("from", from)
            .attr("id", id)
            .attr("t", now_unix())
            .children([child.clone()]);
        let devices: Vec<u16> = self
            .accounts
            .get(&target.0)
            .map(|a| a.devices.keys().copied().collect())
            .unwrap_or_default();
        for device in devices {
            self.work.push_back((
                (target.0.clone(), device),
                Queued {
                    class: "call",
                    id: relayed.attrs().optional_string("id").unwrap_or_default(),
                    peer: Some(key.0.clone()),
                    node: relayed.clone(),
                    sent: false,
                },
            ));
        }
    }

    /// The `<call>` stanzas relayed to `customer`.
    pub fn calls_relayed(&self, customer: &str) -> Vec<CallRecord> {
        self.stanza_state
            .calls_relayed
            .iter()
            .filter(|c| c.to == customer)
            .cloned()
            .collect()
    }

    /// The customer's message `id` (about to be sent) reaches the other account's devices as
    /// `<appdata>` rather than `<message>`: the same attributes and `<enc>` children (whatsmeow
    /// `client.go` hands `appdata` to `handleEncryptedMessage`, which parses it as a message;
    /// what the real server puts in one beyond that is not known).
    pub fn deliver_as_appdata(&mut self, id: &str) {
        self.stanza_state.appdata.insert(id.to_owned());
    }

    /// Whether the relay is to hand message `id` over as `<appdata>` (a resend under the
    /// same id too); noted as relayed.
    pub(super) fn take_appdata(&mut self, id: &str) -> bool {
        let appdata = self.stanza_state.appdata.contains(id);
        if appdata && !self.stanza_state.appdata_relayed.iter().any(|r| r == id) {
            self.stanza_state.appdata_relayed.push(id.to_owned());
        }
        appdata
    }

    /// Ids of the messages relayed as `<appdata>`, oldest first.
    pub fn appdata_relayed(&self) -> Vec<String> {
        self.stanza_state.appdata_relayed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;

    #[test]
    fn unavailable_messages_reach_companions_and_only_other_kinds_are_kept_for_a_resend() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        let view_once = state
            .unavailable_message(ACCOUNT, CUSTOMER, "view_once", "")
            .expect("view once");
        let lost = state
            .unavailable_message(ACCOUNT, CUSTOMER, "hosted_unavailable_fanout", "hello?")
            .expect("unavailable");
        let sent = conn.sent();
        let kinds: Vec<(String, String)> = sent
            .iter()
            .map(|m| {
                (
                    attr(m, "id"),
                    attr(m.child("unavailable").expect("unavailable"), "type"),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (view_once.clone(), "view_once".to_owned()),
                (lost.clone(), "hosted_unavailable_fanout".to_owned())
            ]
        );
        assert_eq!(attr(&sent[0], "type"), "media");
        let kept: Vec<&String> = state
            .stanza_state
            .placeholders
            .keys()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(kept, [&lost]);
        assert!(
            state
                .unavailable_message(ACCOUNT, "209999999999", "view_once", "")
                .is_err()
        );
    }

    #[test]
    fn raw_stanzas_need_an_id_and_a_relayed_tag() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        let appdata = Node::new("appdata").attr("id", "R1");
        assert_eq!(
            state.raw_stanza(ACCOUNT, CUSTOMER, appdata).expect("raw"),
            "R1"
        );
        assert_eq!(conn.one("appdata").tag, "appdata");
        assert!(
            state
                .raw_stanza(ACCOUNT, CUSTOMER, Node::new("message"))
                .is_err()
        );
        let iq = Node::new("iq").attr("id", "R2");
        assert!(state.raw_stanza(ACCOUNT, CUSTOMER, iq).is_err());
    }

    #[test]
    fn a_customers_call_reaches_companions_and_our_reject_reaches_the_caller() {
        let mut state = state();
        let mut pharmacy = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        let call_id = state.customer_call(CUSTOMER, ACCOUNT, true).expect("call");
        let call = pharmacy.one("call");
        let offer = call.child("offer").expect("offer");
        assert_eq!(attr(offer, "call-id"), call_id);
        assert!(offer.child("video").is_some());
        assert!(attr(offer, "caller_lid").ends_with("@lid"));

        let reject = Node::new("call")
            .attr("id", "C1")
            .attr("to", Jid::user(CUSTOMER))
            .children([Node::new("reject")
                .attr("call-id", call_id.clone())
                .attr("call-creator", Jid::user(CUSTOMER))]);
        state.handle(&pharmacy.key.clone(), reject);
        let ack = pharmacy.one("ack");
        assert_eq!(
            (attr(&ack, "class").as_str(), attr(&ack, "id").as_str()),
            ("call", "C1")
        );
        let relayed = state.calls_relayed(CUSTOMER);
        assert_eq!(relayed.len(), 1);
        assert_eq!(
            (relayed[0].action.as_str(), relayed[0].call_id.as_str()),
            ("reject", call_id.as_str())
        );
    }
}
