//! Linking and unlinking companions: the registration connection's QR refs, the phone's scan
//! and `pair-success`, phone-code pairing (part 1 §7-8), and device removal with the
//! `devices` notification to the account's other companions.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine as _;
use prost::Message as _;
use rand::RngCore;
use rand::rngs::OsRng;
use tokio::sync::oneshot;
use tracing::{info, warn};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pairing::{PairingError, QrData};

use super::{
    Admission, AwaitingSign, Companion, Device, DeviceKind, LinkCode, LinkPrimary, LinkPrimaryKeys,
    Outbound, Pending, State, Tx, child_bytes, fixed, iq_error, iq_result, now_unix, phash, server,
};
use crate::{SimError, phone};

impl State {
    pub(super) fn admit_registration(
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
                return super::login::refuse(tx, 400);
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
            let _ = tx.send(Outbound::Restart(super::restart_required()));
        });
        self.drain();
    }

    /// The phone of `pn` scans `qr`. Returns a receiver for the outcome (after pair-device-sign).
    pub fn scan(
        &mut self,
        qr: &str,
        pn: &str,
    ) -> Result<oneshot::Receiver<Result<Jid, SimError>>, SimError> {
        let code: QrData = qr
            .trim()
            .parse()
            .map_err(|e: PairingError| SimError::BadRequest(e.to_string()))?;
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
        if pending.noise_key != code.noise_public {
            return Err(SimError::BadRequest(
                "QR noise key differs from the connection's static key".into(),
            ));
        }
        if pending.registration.identity_key != code.identity_public {
            return Err(SimError::BadRequest(
                "QR identity key differs from the registration payload".into(),
            ));
        }
        self.ensure_account(pn, "", false)?;
        let (reply, rx) = oneshot::channel();
        self.send_pair_success(conn_id, pn, &code.identity_public, &code.adv_secret, reply)?;
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
    pub(super) fn notify_devices_changed(&mut self, pn: &str, op: &str, device: u16) {
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
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, Conn, attr, iq, state};
    use super::*;
    use whatsapp_proto::pb::wa6::ClientPayload;
    use whatsapp_proto::pb::wa6::client_payload::DevicePairingRegistrationData;

    fn registration() -> ClientPayload {
        ClientPayload {
            device_pairing_data: Some(DevicePairingRegistrationData {
                e_regid: Some(vec![0, 0, 1, 2]),
                e_keytype: Some(vec![5]),
                e_ident: Some(vec![7; 32]),
                e_skey_id: Some(vec![0, 0, 1]),
                e_skey_val: Some(vec![8; 32]),
                e_skey_sig: Some(vec![9; 64]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_connection_is_shown_qr_refs_and_answers_only_pings() {
        let mut state = state();
        let mut conn = Conn::new((String::new(), 0));
        let admission = state.admit(conn.id, &conn.tx, [1; 32], &registration());
        assert!(matches!(admission, Admission::Registering));
        let pair_device = conn.one("iq");
        let refs: Vec<&Node> = pair_device
            .child("pair-device")
            .expect("pair-device")
            .children_by_tag("ref")
            .collect();
        assert_eq!(refs.len(), 6);
        assert!(
            refs.iter()
                .all(|r| r.content_bytes().is_some_and(|b| b.starts_with(b"2@")))
        );
        state.handle_registering(conn.id, iq("P1", "w:p", "get", vec![]));
        assert_eq!(attr(&conn.one("iq"), "type"), "result");
        state.handle_registering(conn.id, iq("S1", "md", "set", vec![]));
        let refused = conn.one("iq");
        assert_eq!(attr(refused.child("error").expect("error"), "code"), "401");
        // Gone with its connection: a scan of its QR finds nothing.
        state.disconnected(conn.id, None);
        assert!(state.pending.is_empty());
    }

    #[test]
    fn a_malformed_registration_is_refused_with_400() {
        let mut state = state();
        let mut conn = Conn::new((String::new(), 0));
        let mut payload = registration();
        if let Some(d) = payload.device_pairing_data.as_mut() {
            d.e_keytype = Some(vec![4]);
        }
        assert!(matches!(
            state.admit(conn.id, &conn.tx, [1; 32], &payload),
            Admission::Refused
        ));
        assert_eq!(attr(&conn.one("failure"), "reason"), "400");
    }

    #[test]
    fn a_removed_companion_is_closed_and_its_siblings_are_told() {
        let mut state = state();
        let mut removed = state.online_companion(ACCOUNT);
        let mut sibling = state.online_companion(ACCOUNT);
        let jid = Jid::user(ACCOUNT).with_device(removed.key.1);
        state.remove_device(&jid).expect("remove");
        let error = removed.one("stream:error");
        assert_eq!(attr(&error, "code"), "401");
        assert_eq!(attr(&error.child_nodes()[0], "type"), "device_removed");
        assert!(removed.closed);
        let notification = sibling.one("notification");
        assert_eq!(attr(&notification, "type"), "devices");
        let remove = notification.child("remove").expect("remove");
        assert_eq!(
            attr(remove.child("device").expect("device"), "jid"),
            jid.to_string()
        );
        assert!(attr(remove, "device_hash").starts_with("2:"));
        // Gone for good: removing it again fails, and it cannot log in.
        assert!(state.remove_device(&jid).is_err());
        let mut again = Conn::new(removed.key.clone());
        let admission = state.admit(
            again.id,
            &again.tx,
            [0; 32],
            &super::super::fixture::login_payload(ACCOUNT, removed.key.1),
        );
        assert!(matches!(admission, Admission::Refused));
        assert_eq!(attr(&again.one("failure"), "reason"), "401");
    }
}
