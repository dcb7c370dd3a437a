//! Logging in: what a finished handshake becomes (`<success>` or `<failure>`), a connection's
//! end, and `<active/>` delivering the offline queue.

use std::time::Instant;

use tracing::{debug, info};
use whatsapp_proto::binary::Node;

use super::{Admission, ConnEntry, DeviceKey, DeviceKind, Outbound, Queued, State, Tx, now_unix};

/// Closes a connection with `<failure reason>`.
pub(super) fn refuse(tx: &Tx, reason: u16) -> Admission {
    let _ = tx.send(Outbound::Close(Some(
        Node::new("failure")
            .attr("reason", reason)
            .attr("location", "sim"),
    )));
    Admission::Refused
}

impl State {
    /// Logins below `version` are refused with 405 from now on.
    pub fn set_min_app_version(&mut self, version: Option<[u32; 3]>) {
        self.settings.min_app_version = version;
    }

    /// Decides what a finished handshake becomes, and sends the first node.
    pub fn admit(
        &mut self,
        conn_id: u64,
        tx: &Tx,
        noise_key: [u8; 32],
        payload: &whatsapp_proto::pb::wa6::ClientPayload,
    ) -> Admission {
        if let Some(min) = self.settings.min_app_version {
            let v = payload
                .user_agent
                .as_ref()
                .and_then(|u| u.app_version.as_ref())
                .map(|v| {
                    [
                        v.primary.unwrap_or(0),
                        v.secondary.unwrap_or(0),
                        v.tertiary.unwrap_or(0),
                    ]
                })
                .unwrap_or([0; 3]);
            if v < min {
                info!(conn_id, ?v, "client outdated");
                return refuse(tx, 405);
            }
        }
        let Some(username) = payload.username else {
            return self.admit_registration(conn_id, tx, noise_key, payload);
        };
        let pn = username.to_string();
        let device = payload.device.unwrap_or(0).min(u32::from(u16::MAX)) as u16;
        let key = (pn.clone(), device);
        let known = self
            .accounts
            .get(&pn)
            .and_then(|a| a.devices.get(&device))
            .is_some_and(
                |d| matches!(&d.kind, DeviceKind::Companion(c) if c.noise_key == noise_key),
            );
        if !known {
            info!(
                conn_id,
                pn, device, "login of an unknown device refused with 401"
            );
            return refuse(tx, 401);
        }
        if let Some((code, until)) = self.temp_bans.get(&pn).copied() {
            let now = Instant::now();
            if now < until {
                let _ = tx.send(Outbound::Close(Some(
                    Node::new("failure")
                        .attr("reason", 402u16)
                        .attr("code", code)
                        .attr("expire", (until - now).as_secs().max(1)),
                )));
                return Admission::Refused;
            }
            self.temp_bans.remove(&pn);
        }
        if let Some(old) = self.conns.remove(&key) {
            info!(pn, device, "second connection: the older one is replaced");
            let _ = old.tx.send(Outbound::Close(Some(
                Node::new("stream:error")
                    .children([Node::new("conflict").attr("type", "replaced")]),
            )));
        }
        let Some(account) = self.accounts.get_mut(&pn) else {
            return refuse(tx, 401);
        };
        if let Some(name) = payload.push_name.clone().filter(|n| !n.is_empty()) {
            account.push_name = Some(name);
        }
        let lid = account.lid_jid().with_device(device);
        for item in account
            .devices
            .get_mut(&device)
            .map(|d| d.queue.iter_mut())
            .into_iter()
            .flatten()
        {
            item.sent = false;
        }
        let _ = tx.send(Outbound::Node(
            Node::new("success")
                .attr("t", now_unix())
                .attr("props", "27")
                .attr("location", "sim")
                .attr("lid", lid)
                .attr("abprops", "10")
                .attr("creation", now_unix()),
        ));
        // Edge routing hint, stored by clients and sent back before the intro next time
        // (part 1 §1.3).
        let _ = tx.send(Outbound::Node(
            Node::new("ib").children([Node::new("edge_routing")
                .children([Node::new("routing_info").bytes(vec![0x08, 0x08, 0x08, 0x02])])]),
        ));
        let passive = payload.passive.unwrap_or(false);
        self.conns.insert(
            key.clone(),
            ConnEntry {
                id: conn_id,
                tx: tx.clone(),
                active: false,
            },
        );
        info!(conn_id, pn, device, passive, "logged in");
        if !passive {
            self.activate(&key);
        }
        Admission::LoggedIn(key)
    }

    /// A connection ended.
    pub fn disconnected(&mut self, conn_id: u64, key: Option<&DeviceKey>) {
        self.pending.remove(&conn_id);
        if let Some(key) = key {
            let current = self.conns.get(key).is_some_and(|c| c.id == conn_id);
            if current {
                self.conns.remove(key);
                info!(conn_id, pn = key.0, device = key.1, "disconnected");
                if !self.conns.keys().any(|k| k.0 == key.0) {
                    self.set_presence(&key.0.clone(), false);
                }
            }
            // Stanzas sent on this connection and not acked go out again at the next login;
            // a replaced connection leaves its successor's deliveries alone.
            if (current || !self.conns.contains_key(key))
                && let Some(device) = self
                    .accounts
                    .get_mut(&key.0)
                    .and_then(|a| a.devices.get_mut(&key.1))
            {
                for item in &mut device.queue {
                    item.sent = false;
                }
            }
        }
    }

    /// `<active/>`: deliver the offline queue, then the end-of-batch marker.
    pub(super) fn activate(&mut self, key: &DeviceKey) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.active {
            return;
        }
        conn.active = true;
        let tx = conn.tx.clone();
        let Some(device) = self
            .accounts
            .get_mut(&key.0)
            .and_then(|a| a.devices.get_mut(&key.1))
        else {
            return;
        };
        let pending: Vec<&mut Queued> = device.queue.iter_mut().filter(|q| !q.sent).collect();
        let count = pending.len();
        let by_class = |c: &str| pending.iter().filter(|q| q.class == c).count();
        if count > 0 {
            let _ = tx.send(Outbound::Node(
                Node::new("ib").children([Node::new("offline_preview")
                    .attr("count", count)
                    .attr("message", by_class("message"))
                    .attr("notification", by_class("notification"))
                    .attr("receipt", by_class("receipt"))
                    .attr("appdata", by_class("appdata"))]),
            ));
        }
        for item in pending {
            item.sent = true;
            let node = item.node.clone().attr("offline", "1");
            let _ = tx.send(Outbound::Node(node));
        }
        let _ = tx.send(Outbound::Node(
            Node::new("ib").children([Node::new("offline").attr("count", count)]),
        ));
        debug!(pn = key.0, device = key.1, count, "offline queue delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, Conn, attr, login_payload, state};
    use super::*;

    #[test]
    fn an_unknown_noise_key_is_refused_with_401() {
        let mut state = state();
        let (key, _) = state.link_test_companion(ACCOUNT);
        let mut conn = Conn::new(key.clone());
        let admission = state.admit(conn.id, &conn.tx, [9; 32], &login_payload(ACCOUNT, key.1));
        assert!(matches!(admission, Admission::Refused));
        assert_eq!(attr(&conn.one("failure"), "reason"), "401");
        assert!(conn.closed);
    }

    #[test]
    fn login_succeeds_and_a_second_connection_replaces_the_first() {
        let mut state = state();
        let (key, noise_key) = state.link_test_companion(ACCOUNT);
        let mut first = Conn::new(key.clone());
        state.admit(
            first.id,
            &first.tx,
            noise_key,
            &login_payload(ACCOUNT, key.1),
        );
        let sent = first.sent();
        let tags: Vec<&str> = sent.iter().map(|n| n.tag.as_str()).collect();
        assert_eq!(tags, ["success", "ib", "ib"], "{sent:?}");
        assert!(attr(&sent[0], "lid").ends_with("@lid"));
        // Not passive: the end of the (empty) offline queue at once.
        assert_eq!(attr(&sent[2].child_nodes()[0], "count"), "0");

        let second = state.test_login(&key, noise_key);
        let replaced = first.one("stream:error");
        assert_eq!(attr(&replaced.child_nodes()[0], "type"), "replaced");
        assert!(first.closed);
        // The old connection's end leaves the new one in place.
        state.disconnected(first.id, Some(&key));
        assert!(state.conns.get(&key).is_some_and(|c| c.id == second.id));
    }

    #[test]
    fn a_stanza_queued_while_offline_arrives_marked_offline_after_active() {
        let mut state = state();
        let (key, noise_key) = state.link_test_companion(ACCOUNT);
        state.queue_notification(key.clone(), "N1".into(), Node::new("notification"));
        state.drain();
        let mut conn = Conn::new(key.clone());
        let mut payload = login_payload(ACCOUNT, key.1);
        payload.passive = Some(true);
        state.admit(conn.id, &conn.tx, noise_key, &payload);
        assert!(!conn.sent().iter().any(|n| n.tag == "notification"));
        state.activate(&key);
        let sent = conn.sent();
        let preview = &sent[0].child_nodes()[0];
        assert_eq!(preview.tag, "offline_preview");
        assert_eq!(attr(preview, "notification"), "1");
        assert_eq!(attr(&sent[1], "offline"), "1");
        assert_eq!(attr(&sent[2].child_nodes()[0], "count"), "1");
    }
}
