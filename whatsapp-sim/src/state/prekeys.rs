//! Prekeys: uploads, signed-prekey rotation, the digest, and key bundles (part 2 §2).

use std::collections::HashSet;

use rand::rngs::OsRng;
use sha2::Digest;
use tracing::{debug, warn};
use whatsapp_proto::binary::Node;

use super::{DeviceKey, DeviceKind, State, bytes3, fixed, iq_error, iq_result, now_unix, server};
use crate::SimError;
use crate::device::{Bundle, SimDevice};

impl State {
    /// Part 2 §2.1.
    pub(super) fn upload_prekeys(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
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

    pub(super) fn rotate_spk(&mut self, key: &DeviceKey, id: &str, node: &Node) -> Node {
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
                    spk_id: c.spk.0,
                    spk: c.spk.1,
                    spk_signature: c.spk.2,
                    prekey,
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
            let mut children =
                vec![Node::new("registration").bytes(b.registration_id.to_be_bytes().to_vec())];
            children.extend(bundle_keys(&b));
            if let Some(identity) = b.device_identity {
                children.push(Node::new("device-identity").bytes(identity));
            }
            users.push(Node::new("user").attr("jid", jid).children(children));
        }
        iq_result(id).children([Node::new("list").children(users)])
    }
}

/// A bundle's keys as the server's answer and a retry receipt's `<keys>` carry them: key type
/// (5), identity, the one-time prekey if any, the signed prekey (part 2 §2.3, §6.2).
pub(super) fn bundle_keys(b: &Bundle) -> Vec<Node> {
    let mut keys = vec![
        Node::new("type").bytes(vec![5]),
        Node::new("identity").bytes(b.identity.to_vec()),
    ];
    if let Some((pid, value)) = b.prekey {
        keys.push(Node::new("key").children([
            Node::new("id").bytes(bytes3(pid)),
            Node::new("value").bytes(value.to_vec()),
        ]));
    }
    keys.push(Node::new("skey").children([
        Node::new("id").bytes(bytes3(b.spk_id)),
        Node::new("value").bytes(b.spk.to_vec()),
        Node::new("signature").bytes(b.spk_signature.to_vec()),
    ]));
    keys
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
