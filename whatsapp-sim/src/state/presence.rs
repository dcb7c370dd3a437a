//! Presence (own availability and subscriptions) and chat states (typing).

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};

use super::{Account, DeviceKey, State, now_ms, now_unix};
use crate::ChatStateRecord;

impl State {
    pub(super) fn handle_presence(&mut self, key: &DeviceKey, node: &Node) {
        let attrs = node.attrs();
        if let Some(name) = attrs.optional_string("name")
            && let Some(a) = self.accounts.get_mut(&key.0)
        {
            a.push_name = Some(name);
        }
        match attrs.optional_str("type") {
            Some("subscribe") => {
                let Some(to) = attrs.optional_jid("to").ok().flatten() else {
                    return;
                };
                let Some(target) = self.resolve(&to) else {
                    return;
                };
                self.subscriptions
                    .entry(target.0.clone())
                    .or_default()
                    .insert(key.clone());
                if let Some(node) = self.presence_node(&target.0, &to.to_non_ad()) {
                    let _ = self.send_to(key, node);
                }
            }
            Some("unsubscribe") => {
                if let Some(target) = attrs
                    .optional_jid("to")
                    .ok()
                    .flatten()
                    .and_then(|to| self.resolve(&to))
                    && let Some(subs) = self.subscriptions.get_mut(&target.0)
                {
                    subs.remove(key);
                }
            }
            // Own availability (part 2 §10).
            Some(kind @ ("available" | "unavailable")) | Some(kind @ "") => {
                self.set_presence(&key.0.clone(), kind != "unavailable");
            }
            None => self.set_presence(&key.0.clone(), true),
            Some(_) => {}
        }
    }

    /// `<presence from=… [type="unavailable" last=…]>` for an account, as `from` names it.
    fn presence_node(&self, pn: &str, from: &Jid) -> Option<Node> {
        let account = self.accounts.get(pn)?;
        let node = Node::new("presence").attr("from", from.clone());
        Some(if account.available {
            node
        } else {
            node.attr("type", "unavailable")
                .attr("last", account.last_seen.max(1))
        })
    }

    /// An account goes online or offline: its subscribers' online devices are told.
    pub fn set_presence(&mut self, pn: &str, available: bool) {
        let Some(account) = self.accounts.get_mut(pn) else {
            return;
        };
        if account.available == available {
            return;
        }
        account.available = available;
        account.last_seen = now_unix();
        let from = account.pn_jid();
        let Some(node) = self.presence_node(pn, &from) else {
            return;
        };
        let subscribers: Vec<DeviceKey> = self
            .subscriptions
            .get(pn)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for subscriber in subscribers {
            let _ = self.send_to(&subscriber, node.clone());
        }
    }

    pub(super) fn handle_chatstate(&mut self, key: &DeviceKey, node: &Node) {
        let Ok(to) = node.attrs().jid("to") else {
            return;
        };
        let Some(target) = self.resolve(&to) else {
            return;
        };
        let state = node
            .child_nodes()
            .first()
            .map(|c| c.tag.to_string())
            .unwrap_or_default();
        if let Some(a) = self.accounts.get_mut(&target.0) {
            a.inbox_typing(&key.0, &state);
        }
        let Some(account) = self.accounts.get(&key.0) else {
            return;
        };
        let from = if to.server == Server::Lid {
            account.lid_jid()
        } else {
            account.pn_jid()
        };
        let out = Node::new("chatstate")
            .attr("from", from)
            .children(node.child_nodes().to_vec());
        for dev in self
            .accounts
            .get(&target.0)
            .map(|a| a.devices.keys().copied().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let _ = self.send_to(&(target.0.clone(), dev), out.clone());
        }
    }
}

impl Account {
    pub(super) fn inbox_typing(&mut self, from: &str, state: &str) {
        if self.chatstates.len() >= 10_000 {
            self.chatstates.drain(..5_000);
        }
        self.chatstates.push(ChatStateRecord {
            from: from.to_owned(),
            state: state.to_owned(),
            at_ms: now_ms(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;

    #[test]
    fn a_subscriber_hears_the_customer_come_and_go() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        state.handle(
            &conn.key.clone(),
            Node::new("presence")
                .attr("type", "subscribe")
                .attr("to", Jid::user(CUSTOMER)),
        );
        let now = conn.one("presence");
        assert_eq!(attr(&now, "from"), format!("{CUSTOMER}@s.whatsapp.net"));
        assert!(attr(&now, "type").is_empty(), "a customer starts online");
        state.set_presence(CUSTOMER, false);
        let gone = conn.one("presence");
        assert_eq!(attr(&gone, "type"), "unavailable");
        assert!(!attr(&gone, "last").is_empty());
        // Unsubscribed: no more news.
        state.handle(
            &conn.key.clone(),
            Node::new("presence")
                .attr("type", "unsubscribe")
                .attr("to", Jid::user(CUSTOMER)),
        );
        state.set_presence(CUSTOMER, true);
        assert!(conn.sent().is_empty());
    }

    #[test]
    fn typing_is_relayed_and_recorded_at_the_receiver() {
        let mut state = state();
        let mut pharmacy = state.online_companion(ACCOUNT);
        let customer = state.online_companion(CUSTOMER);
        state.handle(
            &customer.key.clone(),
            Node::new("chatstate")
                .attr("to", Jid::user(ACCOUNT))
                .children([Node::new("composing")]),
        );
        let relayed = pharmacy.one("chatstate");
        assert_eq!(attr(&relayed, "from"), format!("{CUSTOMER}@s.whatsapp.net"));
        assert_eq!(relayed.child_nodes()[0].tag, "composing");
        let recorded = state.chatstates(ACCOUNT).expect("chatstates");
        assert_eq!(recorded.len(), 1);
        assert_eq!(
            (recorded[0].from.as_str(), recorded[0].state.as_str()),
            (CUSTOMER, "composing")
        );
    }
}
