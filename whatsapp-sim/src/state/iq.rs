//! The `<iq>` dispatch of logged-in devices, and usync (part 2 §3.1-3.2).

use base64::Engine as _;
use rand::RngCore;
use rand::rngs::OsRng;
use tracing::debug;
use whatsapp_proto::binary::{Content, Node};
use whatsapp_proto::jid::{Jid, Server};

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
            ("w:g2", "get") if node.child("participating").is_some() => {
                let groups: Vec<Node> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.participants.contains(&key.0))
                    .filter_map(|(gid, _)| self.group_node(gid))
                    .collect();
                iq_result(&id).children([Node::new("groups").children(groups)])
            }
            ("w:g2", "get") => {
                let group = attrs
                    .optional_jid("to")
                    .ok()
                    .flatten()
                    .filter(Jid::is_group)
                    .and_then(|g| {
                        let member = self.groups.get(&g.user)?.participants.contains(&key.0);
                        member.then(|| self.group_node(&g.user)).flatten()
                    });
                match group {
                    Some(g) => iq_result(&id).children([g]),
                    None => iq_error(&id, 404, "item-not-found"),
                }
            }
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
            ("privacy", _) | ("urn:xmpp:whatsapp:dirty", _) | ("w:stats", _) => iq_result(&id),
            ("abt", "get") => iq_result(&id).children([Node::new("props").attr("protocol", "1")]),
            ("blocklist", "get") => iq_result(&id).children([Node::new("list")]),
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
        let Some(usync) = node.child("usync") else {
            return iq_error(id, 400, "bad-request");
        };
        let query = usync.child("query");
        let want = |tag: &str| query.is_some_and(|q| q.child(tag).is_some());
        let (want_devices, want_lid, want_contact) =
            (want("devices"), want("lid"), want("contact"));
        let mut out = Vec::new();
        for user in usync
            .child("list")
            .map(|l| l.children_by_tag("user"))
            .into_iter()
            .flatten()
        {
            let jid = match user.attrs().optional_jid("jid") {
                Ok(Some(j)) => Some(j),
                Ok(None) => None,
                Err(_) => return iq_error(id, 400, "bad-request"),
            };
            let contact = user.child("contact").and_then(|c| match &c.content {
                Content::Text(t) => Some(t.clone()),
                Content::Bytes(b) => String::from_utf8(b.clone()).ok(),
                _ => None,
            });
            let (jid, pn) = match (jid, contact) {
                (Some(j), _) => {
                    let pn = self.resolve(&j).map(|k| k.0);
                    (j.to_non_ad(), pn)
                }
                (None, Some(phone)) => {
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
                (None, None) => return iq_error(id, 400, "bad-request"),
            };
            let mut children = Vec::new();
            let account = pn.as_ref().and_then(|p| self.accounts.get(p));
            if want_contact {
                children.push(
                    Node::new("contact").attr("type", if account.is_some() { "in" } else { "out" }),
                );
            }
            if want_devices {
                let lid = jid.server == Server::Lid;
                let mut devices = Vec::new();
                if let Some(a) = account {
                    for (dev, d) in &a.devices {
                        let mut n = Node::new("device").attr("id", *dev);
                        if *dev != 0 {
                            n = n.attr("key-index", d.key_index);
                        }
                        devices.push(n);
                    }
                    let ts = now_unix();
                    let key_index_list = Node::new("key-index-list")
                        .attr("ts", ts)
                        .bytes(a.signed_key_index_list(ts));
                    let hash = phash(
                        &a.devices
                            .keys()
                            .map(|d| a.device_jid(*d, lid))
                            .collect::<Vec<_>>(),
                    );
                    children.push(
                        Node::new("devices").children([
                            Node::new("device-list")
                                .attr("hash", hash)
                                .children(devices),
                            key_index_list,
                        ]),
                    );
                } else {
                    children.push(Node::new("devices").children([Node::new("device-list")]));
                }
            }
            if want_lid && let Some(a) = account {
                children.push(Node::new("lid").attr("val", a.lid_jid()));
            }
            let mut user_node = Node::new("user").attr("jid", jid.clone());
            if jid.server == Server::Lid
                && let Some(a) = account
            {
                user_node = user_node.attr("pn_jid", a.pn_jid());
            }
            out.push(user_node.children(children));
        }
        let mut attrs_node = Node::new("usync");
        for key in ["sid", "mode", "context"] {
            if let Some(v) = usync.attrs().optional_string(key) {
                attrs_node = attrs_node.attr(key, v);
            }
        }
        iq_result(id).children([attrs_node
            .attr("index", "0")
            .attr("last", "true")
            .children([Node::new("list").children(out)])])
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
