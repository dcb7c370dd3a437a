//! Faults a test injects: dropped connections, stream errors, nacks, corruption, temporary
//! bans, expired media and the ones other parts implement.

use std::time::Duration;

use tracing::info;
use whatsapp_proto::binary::Node;

use super::{ConnEntry, DeviceKey, Outbound, State};
use crate::{Fault, SimError};

impl State {
    /// Removes and returns the connections faults act on: every one but the simulated
    /// customers' clients, which are the test's apparatus rather than what it tests.
    fn take_tested_conns(&mut self) -> Vec<(DeviceKey, ConnEntry)> {
        let keys: Vec<DeviceKey> = self
            .conns
            .keys()
            .filter(|k| !self.is_simulated(k))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| self.conns.remove(&k).map(|c| (k, c)))
            .collect()
    }

    /// Closes every tested connection (sending `node` first, if any); what each device had
    /// not acked goes out again at its next login.
    fn close_tested_conns(&mut self, node: Option<Node>) {
        for (_, conn) in self.take_tested_conns() {
            let out = match &node {
                Some(n) if *n == super::restart_required() => Outbound::Restart(n.clone()),
                _ => Outbound::Close(node.clone()),
            };
            let _ = conn.tx.send(out);
        }
        let keys: Vec<DeviceKey> = self
            .accounts
            .values()
            .flat_map(|a| a.devices.keys().map(|d| (a.pn.clone(), *d)))
            .collect();
        for key in keys {
            self.disconnected(u64::MAX, Some(&key));
        }
    }

    /// Applies a fault (see [`Fault`]).
    pub fn fault(&mut self, fault: &Fault) -> Result<(), SimError> {
        match fault {
            Fault::DropConnections => {
                self.close_tested_conns(None);
                for (_, p) in self.pending.drain() {
                    let _ = p.tx.send(Outbound::Close(None));
                }
            }
            Fault::StreamError { code } => {
                self.close_tested_conns(Some(Node::new("stream:error").attr("code", *code)));
            }
            Fault::Delay { .. } => {}
            Fault::Nack { code, count } => {
                if self.nacks.len() + *count as usize > 1_000_000 {
                    return Err(SimError::BadRequest(
                        "at most 1,000,000 pending nacks".into(),
                    ));
                }
                for _ in 0..*count {
                    self.nacks.push_back(*code);
                }
            }
            Fault::CorruptNext { count } => self.corrupt += *count,
            Fault::StaleCompanion { phone, device } => {
                self.make_companion_stale(&crate::phone_digits(phone), *device)?;
            }
            Fault::BadKeyIndexSignature { phone } => {
                self.forge_key_index_lists(&crate::phone_digits(phone))?;
            }
            Fault::KeyIndexListWithoutAccountKey { phone } => {
                self.key_index_lists_without_key(&crate::phone_digits(phone))?;
            }
            Fault::HostedDevice { phone, device } => {
                self.make_device_hosted(&crate::phone_digits(phone), *device)?;
            }
            Fault::BadPatchMac => self.sync_fault(crate::appstate::PatchFault::PatchMac),
            Fault::BadPatchLthash => self.sync_fault(crate::appstate::PatchFault::LtHash),
            Fault::ExpireMedia => {
                info!(
                    blobs = self.media.len(),
                    "fault: every stored media blob expired"
                );
                self.media.clear();
            }
            Fault::CutMediaDownloads { count, after_bytes } => {
                self.media_cuts = Some((*count, *after_bytes)).filter(|(n, _)| *n > 0);
            }
            Fault::TempBan { code, expire_s } => {
                let until = crate::later(Duration::from_secs(*expire_s));
                let pns: Vec<String> = self
                    .accounts
                    .values()
                    .filter(|a| !a.customer)
                    .map(|a| a.pn.clone())
                    .collect();
                for pn in pns {
                    self.temp_bans.insert(pn.clone(), (*code, until));
                    let keys: Vec<DeviceKey> =
                        self.conns.keys().filter(|k| k.0 == pn).cloned().collect();
                    for key in keys {
                        if let Some(conn) = self.conns.remove(&key) {
                            let _ = conn.tx.send(Outbound::Close(Some(
                                Node::new("stream:error").attr("code", 503u16),
                            )));
                        }
                        self.disconnected(u64::MAX, Some(&key));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;
    use whatsapp_proto::jid::Jid;

    #[test]
    fn a_nack_fault_refuses_the_next_message_only() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.simulated_customer(CUSTOMER);
        // The customer wrote to us (the server answers 463 otherwise).
        state.issue_privacy_token(CUSTOMER, ACCOUNT);
        state
            .fault(&Fault::Nack {
                code: 463,
                count: 1,
            })
            .expect("fault");
        let token = state.tctoken(CUSTOMER, ACCOUNT);
        let message = |id: &str| {
            Node::new("message")
                .attr("id", id.to_owned())
                .attr("to", Jid::user(CUSTOMER))
                .attr("type", "text")
                .children([
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msg")
                        .bytes(vec![1; 40]),
                    token.clone(),
                ])
        };
        state.handle(&conn.key.clone(), message("F1"));
        let nack = conn.one("ack");
        assert_eq!(
            (attr(&nack, "id").as_str(), attr(&nack, "error").as_str()),
            ("F1", "463")
        );
        state.handle(&conn.key.clone(), message("F2"));
        let sent = conn.sent();
        let ack = sent.iter().find(|n| n.tag == "ack").expect("ack");
        assert!(attr(ack, "error").is_empty());
    }

    #[test]
    fn dropping_connections_closes_companions_and_requeues_what_they_had_not_acked() {
        let mut state = state();
        let mut conn = state.online_companion(ACCOUNT);
        state.queue_notification(conn.key.clone(), "N1".into(), Node::new("notification"));
        state.drain();
        assert_eq!(conn.sent().len(), 1);
        state.fault(&Fault::DropConnections).expect("fault");
        conn.sent();
        assert!(conn.closed);
        assert!(state.conns.is_empty());
        let queue = &state.accounts[ACCOUNT].devices[&conn.key.1].queue;
        assert!(queue.len() == 1 && !queue[0].sent);
    }
}
