//! Prekeys: uploads, signed-prekey rotation, the digest, and key bundles (part 2 §2).

use std::collections::HashSet;

use rand::rngs::OsRng;
use sha2::Digest;
use tracing::{debug, warn};
use whatsapp_proto::binary::Node;
use whatsapp_proto::stanza::keys::{
    self, PreKey, PreKeyUpload, SignedPreKey, encode_key_id, registration_node,
};

use super::{DeviceKey, DeviceKind, State, iq_error, iq_result, now_unix, server};
use crate::SimError;
use crate::device::{Bundle, SimDevice};

impl State {
    /// Part 2 §2.1.
    pub(super) fn upload_prekeys(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
        let upload = match PreKeyUpload::parse(node) {
            Ok(upload) => upload,
            Err(error) => {
                debug!(pn = key.0, device = key.1, %error, "prekey upload refused");
                return iq_error(id, 400, "bad-request");
            }
        };
        let identity = upload.identity;
        let skey = (
            upload.signed_prekey.id,
            upload.signed_prekey.public,
            upload.signed_prekey.signature,
        );
        let registration = upload.registration_id;
        let list = upload.prekeys.iter().map(|p| (p.id, p.public));
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
        companion.registration_id = registration;
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

    pub(super) fn rotate_spk(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
        let Some(s) = node.path(&["rotate", "skey"]) else {
            return iq_error(id, 400, "bad-request");
        };
        let Ok(skey) = SignedPreKey::parse(s) else {
            return iq_error(id, 400, "bad-request");
        };
        match self.companion_mut(key) {
            Some(c) => {
                c.spk = (skey.id, skey.public, skey.signature);
                iq_result(id)
            }
            None => iq_error(id, 400, "bad-request"),
        }
    }

    /// Part 2 §2.4: the server's view of the key bundle and its SHA-1 hash.
    pub(super) fn digest(&mut self, key: &DeviceKey, id: &str) -> Node {
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
            registration_node(c.registration_id),
            Node::new("type").bytes(vec![5]),
            Node::new("identity").bytes(c.identity.to_vec()),
            SignedPreKey {
                id: c.spk.0,
                public: c.spk.1,
                signature: c.spk.2,
            }
            .node(),
            Node::new("list").children(
                c.prekeys
                    .iter()
                    .map(|(i, _)| Node::new("id").bytes(encode_key_id(*i).to_vec())),
            ),
            Node::new("hash").bytes(sha1::Sha1::digest(&hashed).to_vec()),
        ])])
    }

    /// Whether the account's simulated phone (device 0) has a session with `address`.
    pub(super) fn primary_has_session(&self, pn: &str, address: &str) -> bool {
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

    pub(super) fn take_bundle(&mut self, key: &DeviceKey) -> Option<Bundle> {
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
                    signed_prekey: SignedPreKey {
                        id: c.spk.0,
                        public: c.spk.1,
                        signature: c.spk.2,
                    },
                    prekey: prekey.map(|(id, public)| PreKey { id, public }),
                    device_identity: (!c.signed_identity.is_empty())
                        .then(|| c.signed_identity.clone()),
                };
                let left = c.prekeys.len();
                let low = left < threshold && !c.low_notified;
                c.low_notified |= low;
                if low {
                    let id = self.next_stanza_id();
                    let node = Node::new("notification")
                        .attr("from", server())
                        .attr("id", id.clone())
                        .attr("t", now_unix())
                        .attr("type", "encrypt")
                        .children([Node::new("count").attr("value", left)]);
                    self.queue_notification(key.clone(), id, node);
                }
                Some(bundle)
            }
        }
    }

    /// The simulated phone (device 0) of `pn`.
    pub(super) fn phone_mut(&mut self, pn: &str) -> Result<&mut SimDevice, SimError> {
        match self
            .accounts
            .get_mut(pn)
            .and_then(|a| a.devices.get_mut(&0))
            .map(|d| &mut d.kind)
        {
            Some(DeviceKind::Simulated(sim)) => Ok(sim),
            _ => Err(SimError::UnknownAccount(pn.to_owned())),
        }
    }

    /// `pn`'s phone starts a session with each of `devices` it has none with yet, taking
    /// their bundles as a real fetch does (a one-time prekey each).
    pub(super) fn phone_sessions(
        &mut self,
        pn: &str,
        devices: &[DeviceKey],
    ) -> Result<(), SimError> {
        let mut bundles = Vec::new();
        for d in devices {
            if !self.primary_has_session(pn, &format!("{}.{}", d.0, d.1))
                && let Some(b) = self.take_bundle(d)
            {
                bundles.push((d, b));
            }
        }
        let sim = self.phone_mut(pn)?;
        for (d, b) in &bundles {
            sim.start_session(&format!("{}.{}", d.0, d.1), b, &mut OsRng)
                .map_err(|e| SimError::BadRequest(format!("session with {}:{}: {e}", d.0, d.1)))?;
        }
        Ok(())
    }

    /// Part 2 §2.3.
    pub(super) fn fetch_bundles(&mut self, id: &str, node: &Node) -> Node {
        let Ok(devices) = keys::parse_fetch_query(node) else {
            return iq_error(id, 400, "bad-request");
        };
        let users = devices.into_iter().map(|jid| {
            match self.resolve(&jid).and_then(|k| self.take_bundle(&k)) {
                Some(bundle) => bundle.user_node(jid),
                None => keys::missing_bundle_user(jid),
            }
        });
        let users: Vec<Node> = users.collect();
        iq_result(id).children([Node::new("list").children(users)])
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, iq, state};
    use super::*;
    use whatsapp_proto::jid::Jid;

    fn fetch(jid: Jid) -> Node {
        iq(
            "K1",
            "encrypt",
            "get",
            vec![Node::new("key").children([Node::new("user").attr("jid", jid)])],
        )
    }

    #[test]
    fn bundles_consume_prekeys_and_the_owner_hears_when_few_are_left() {
        let mut state = state();
        let mut owner = state.online_companion(ACCOUNT);
        let mut asker = state.online_companion(CUSTOMER);
        let target = Jid::user(ACCOUNT).with_device(owner.key.1);
        let mut ids = Vec::new();
        for _ in 0..6 {
            state.handle(&asker.key.clone(), fetch(target.clone()));
            let result = asker.one("iq");
            let user = result.path(&["list", "user"]).expect("user");
            assert!(user.child("skey").is_some() && user.child("identity").is_some());
            ids.push(
                user.path(&["key", "id"])
                    .and_then(Node::content_bytes)
                    .map(<[u8]>::to_vec),
            );
        }
        // Each answer took a different one-time prekey.
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6);
        // Ten uploaded, six taken: fewer than the threshold (5) are left; told once.
        let low = owner.one("notification");
        assert_eq!(attr(&low, "type"), "encrypt");
        assert_eq!(attr(low.child("count").expect("count"), "value"), "4");
        // An unknown device: a per-user 404.
        state.handle(&asker.key.clone(), fetch(Jid::user("209999999999")));
        let result = asker.one("iq");
        let error = result.path(&["list", "user", "error"]).expect("error");
        assert_eq!(attr(error, "code"), "404");
    }

    #[test]
    fn an_upload_with_a_wrong_key_type_is_refused() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        let upload = iq(
            "E1",
            "encrypt",
            "set",
            vec![
                Node::new("registration").bytes(vec![0, 0, 0, 1]),
                Node::new("type").bytes(vec![4]),
                Node::new("identity").bytes(vec![1; 32]),
            ],
        );
        state.handle(&conn.key.clone(), upload);
        let error = conn.one("iq");
        assert_eq!(attr(error.child("error").expect("error"), "code"), "400");
    }

    #[test]
    fn the_digest_hashes_what_the_server_holds() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.handle(
            &conn.key.clone(),
            iq("D1", "encrypt", "get", vec![Node::new("digest")]),
        );
        let digest = conn.one("iq");
        let d = digest.child("digest").expect("digest");
        assert_eq!(d.path(&["list"]).expect("list").child_nodes().len(), 10);
        assert_eq!(
            d.child("hash")
                .and_then(Node::content_bytes)
                .map(<[u8]>::len),
            Some(20)
        );
    }
}
