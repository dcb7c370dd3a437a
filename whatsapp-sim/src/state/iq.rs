//! The `<iq>` dispatch of logged-in devices, and usync (part 2 §3.1-3.2).

use base64::Engine as _;
use rand::RngCore;
use rand::rngs::OsRng;
use tracing::debug;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::stanza::usync::{
    DeviceList, KeyIndexList, ListedDevice, UsyncProtocol, UsyncQuery, UsyncResult, UsyncUser,
    UsyncUserResult,
};

use super::{DeviceKey, State, iq_error, iq_result, now_unix, phash};

impl State {
    pub(super) fn handle_iq(&mut self, key: &DeviceKey, node: &Node) {
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
            ("w:g2", _) => self.group_iq(&key.0, &id, node),
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
            ("privacy", _) if node.child("tokens").is_some() => {
                self.token_issue_iq(&id, &kind, node)
            }
            ("privacy", _) if node.child("privacy").is_some() => {
                self.privacy_iq(key, &id, &kind, node)
            }
            ("privacy", _) | ("urn:xmpp:whatsapp:dirty", _) | ("w:stats", _) => iq_result(&id),
            ("abt", "get") => iq_result(&id).children([Node::new("props").attr("protocol", "1")]),
            ("blocklist", "get") => iq_result(&id).children([Node::new("list")]),
            ("w:profile:picture", "set")
                if node
                    .attrs()
                    .optional_jid("target")
                    .ok()
                    .flatten()
                    .is_some_and(|t| t.is_group()) =>
            {
                self.group_picture_iq(&key.0, &id, node)
            }
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

    /// Part 2 §3.1-3.2.
    fn usync(&mut self, id: &str, node: &Node) -> Node {
        let Ok(query) = UsyncQuery::parse(node) else {
            return iq_error(id, 400, "bad-request");
        };
        let mut users = Vec::new();
        for user in &query.users {
            let (jid, pn) = match user {
                UsyncUser::Jid(j) => (j.to_non_ad(), self.resolve(j).map(|k| k.0)),
                UsyncUser::Contact(phone) => {
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
            };
            let account = pn.as_ref().and_then(|p| self.accounts.get(p));
            let mut result = UsyncUserResult::new(jid.clone());
            if query.wants(UsyncProtocol::Contact) {
                result.contact = Some(account.is_some());
            }
            if query.wants(UsyncProtocol::Devices) {
                let lid = jid.server == Server::Lid;
                result.devices = Some(match account {
                    Some(a) => {
                        let ts = now_unix();
                        DeviceList {
                            hash: Some(phash(
                                &a.devices
                                    .keys()
                                    .map(|d| a.device_jid(*d, lid))
                                    .collect::<Vec<_>>(),
                            )),
                            devices: a
                                .devices
                                .iter()
                                .map(|(dev, d)| ListedDevice {
                                    id: *dev,
                                    key_index: (*dev != 0).then_some(d.key_index),
                                    hosted: a.key_index_controls.hosted.contains(dev),
                                })
                                .collect(),
                            key_index_list: Some(KeyIndexList {
                                ts,
                                signed: a.signed_key_index_list(ts),
                            }),
                        }
                    }
                    None => DeviceList::default(),
                });
            }
            if query.wants(UsyncProtocol::Lid) {
                result.lid = account.map(|a| a.lid_jid());
            }
            if jid.server == Server::Lid {
                result.pn_jid = account.map(|a| a.pn_jid());
            }
            users.push(result);
        }
        iq_result(id).children([UsyncResult::answering(&query, users).usync_node()])
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, iq, state};
    use super::*;

    #[test]
    fn usync_lists_devices_with_key_indexes_a_hash_and_the_lid() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        let query = Node::new("usync").attr("sid", "S1").children([
            Node::new("query").children([Node::new("devices"), Node::new("lid")]),
            Node::new("list").children([
                Node::new("user").attr("jid", Jid::user(ACCOUNT)),
                Node::new("user").attr("jid", Jid::user("209999999999")),
            ]),
        ]);
        state.handle(&conn.key.clone(), iq("U1", "usync", "get", vec![query]));
        let result = conn.one("iq");
        assert_eq!(attr(&result, "type"), "result");
        let usync = result.child("usync").expect("usync");
        assert_eq!(attr(usync, "sid"), "S1");
        let users: Vec<&Node> = usync
            .path(&["list"])
            .expect("list")
            .children_by_tag("user")
            .collect();
        let list = users[0]
            .path(&["devices", "device-list"])
            .expect("device-list");
        let devices: Vec<String> = list
            .children_by_tag("device")
            .map(|d| attr(d, "id"))
            .collect();
        assert_eq!(devices, ["0", "1"]);
        assert!(attr(list, "hash").starts_with("2:"));
        assert!(
            list.children_by_tag("device")
                .nth(1)
                .is_some_and(|d| !attr(d, "key-index").is_empty())
        );
        assert!(attr(users[0].child("lid").expect("lid"), "val").ends_with("@lid"));
        // An unknown number: an empty device list, no lid.
        assert!(
            users[1]
                .path(&["devices", "device-list"])
                .is_some_and(|l| l.child_nodes().is_empty())
        );
        assert!(users[1].child("lid").is_none());
    }

    #[test]
    fn unknown_or_anonymous_iqs_get_errors() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.handle(&conn.key.clone(), iq("X1", "w:nothing", "get", vec![]));
        let error = conn.one("iq");
        assert_eq!(attr(&error, "type"), "error");
        assert_eq!(attr(error.child("error").expect("error"), "code"), "501");
        state.handle(&conn.key.clone(), iq("", "w:p", "get", vec![]));
        let error = conn.one("iq");
        assert_eq!(attr(error.child("error").expect("error"), "code"), "400");
        state.handle(&conn.key.clone(), iq("P1", "w:p", "get", vec![]));
        assert_eq!(attr(&conn.one("iq"), "type"), "result");
    }
}
