//! Group membership changes: removing participants (an admin's removal or a member leaving).
//!
//! The members' devices and the removed ones' get a `w:gp2` notification with `<remove>`
//! (whatsmeow `group.go parseGroupChange` / `parseParticipantList`: `participant` names who
//! made the change, each `<participant jid>` carries the other address form as `lid` or
//! `phone_number`). From then on group messages reach only the remaining participants:
//! delivery follows the participant list ([`State::group_devices`]).

use std::collections::HashMap;

use prost::Message as _;
use rand::Rng;
use rand::rngs::OsRng;
use tracing::{info, warn};
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::stanza::server::ServerAck;

use super::{Account, DeviceKey, Group, Queued, State, now_unix, phash, random_id, server};
use crate::SimError;

impl Account {
    /// `<participant jid>` in the group's addressing form, with the other form beside it
    /// (`phone_number` for a LID, `lid` for a phone number; whatsmeow `parseParticipant`).
    pub(super) fn participant_node(&self, lid_mode: bool) -> Node {
        if lid_mode {
            Node::new("participant")
                .attr("jid", self.lid_jid())
                .attr("phone_number", self.pn_jid())
        } else {
            Node::new("participant")
                .attr("jid", self.pn_jid())
                .attr("lid", self.lid_jid())
        }
    }
}

impl State {
    /// Every device of each of these accounts.
    pub(super) fn member_devices(&self, members: &[String]) -> Vec<DeviceKey> {
        members
            .iter()
            .filter_map(|pn| self.accounts.get(pn))
            .flat_map(|a| a.devices.keys().map(|d| (a.pn.clone(), *d)))
            .collect()
    }

    /// `by` removes `removed` from the group (`by` must be its creator, the sim's one admin,
    /// unless it only removes itself: leaving).
    pub fn remove_group_participants(
        &mut self,
        by: &str,
        group_id: &str,
        removed: &[String],
    ) -> Result<(), SimError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or_else(|| SimError::BadRequest(format!("unknown group {group_id}")))?;
        if !group.participants.iter().any(|p| p == by) {
            return Err(SimError::BadRequest(format!("{by} is not in the group")));
        }
        let leaving = removed.iter().all(|r| r == by);
        if group.creator != by && !leaving {
            return Err(SimError::BadRequest(format!("{by} is not an admin")));
        }
        if let Some(r) = removed.iter().find(|r| !group.participants.contains(r)) {
            return Err(SimError::BadRequest(format!("{r} is not in the group")));
        }
        let lid_mode = group.lid_mode;
        let before = group.participants.clone();
        let entries: Vec<Node> = removed
            .iter()
            .filter_map(|r| self.accounts.get(r))
            .map(|a| a.participant_node(lid_mode))
            .collect();
        let actor = self
            .accounts
            .get(by)
            .ok_or_else(|| SimError::UnknownAccount(by.to_owned()))?;
        let (actor_jid, actor_alt) = if lid_mode {
            (actor.lid_jid(), ("participant_pn", actor.pn_jid()))
        } else {
            (actor.pn_jid(), ("participant_lid", actor.lid_jid()))
        };
        if let Some(g) = self.groups.get_mut(group_id) {
            g.participants.retain(|p| !removed.contains(p));
        }
        let jid = Jid::new(group_id.to_owned(), Server::Group);
        let t = now_unix();
        let node = Node::new("notification")
            .attr("from", jid)
            .attr("t", t)
            .attr("type", "w:gp2")
            .attr("participant", actor_jid)
            .attr(actor_alt.0, actor_alt.1)
            .children([Node::new("remove").children(entries)]);
        let targets = self.member_devices(&before);
        self.queue_notifications(targets, &node);
        info!(group_id, by, ?removed, "group participants removed");
        self.drain();
        Ok(())
    }

    /// Creates a group of existing accounts (the creator is an admin); participants'
    /// companions get a `w:gp2` create notification.
    pub fn create_group(
        &mut self,
        creator: &str,
        subject: &str,
        participants: &[String],
        lid_mode: bool,
    ) -> Result<Jid, SimError> {
        let mut members = vec![creator.to_owned()];
        for p in participants {
            if !members.contains(p) {
                members.push(p.clone());
            }
        }
        for m in &members {
            if !self.accounts.contains_key(m) {
                return Err(SimError::UnknownAccount(m.clone()));
            }
        }
        let id = format!("120363{:012}", OsRng.gen_range(0..1_000_000_000_000u64));
        self.groups.insert(
            id.clone(),
            Group {
                subject: subject.to_owned(),
                creator: creator.to_owned(),
                created: now_unix(),
                participants: members.clone(),
                lid_mode,
            },
        );
        let jid = Jid::new(id.clone(), Server::Group);
        let info = self.group_node(&id).unwrap_or_else(|| Node::new("group"));
        let creator_jid = self
            .accounts
            .get(creator)
            .map(|a| if lid_mode { a.lid_jid() } else { a.pn_jid() })
            .unwrap_or_else(server);
        let node = Node::new("notification")
            .attr("from", jid.clone())
            .attr("t", now_unix())
            .attr("type", "w:gp2")
            .attr("participant", creator_jid)
            .children([Node::new("create").children([info])]);
        let targets = self.member_devices(&members);
        self.queue_notifications(targets, &node);
        self.drain();
        Ok(jid)
    }

    /// `<group>` as group info queries answer it (part 2 §3.6).
    pub(super) fn group_node(&self, id: &str) -> Option<Node> {
        let g = self.groups.get(id)?;
        let creator = self.accounts.get(&g.creator)?;
        let participants = g.participants.iter().filter_map(|p| {
            let mut n = self.accounts.get(p)?.participant_node(g.lid_mode);
            if *p == g.creator {
                n = n.attr("type", "superadmin");
            }
            Some(n)
        });
        Some(
            Node::new("group")
                .attr("id", id.to_owned())
                .attr("subject", g.subject.clone())
                .attr("s_t", g.created)
                .attr("creation", g.created)
                .attr(
                    "creator",
                    if g.lid_mode {
                        creator.lid_jid()
                    } else {
                        creator.pn_jid()
                    },
                )
                .attr("addressing_mode", if g.lid_mode { "lid" } else { "pn" })
                .attr("size", g.participants.len())
                .children(participants.collect::<Vec<_>>()),
        )
    }

    /// Every device of every participant, in the group's addressing form.
    fn group_devices(&self, id: &str) -> Vec<Jid> {
        let Some(g) = self.groups.get(id) else {
            return Vec::new();
        };
        // Hosted devices take no part in groups (whatsmeow `send.go` leaves them out).
        g.participants
            .iter()
            .flat_map(|p| {
                let hosted = self
                    .accounts
                    .get(p)
                    .map(|a| a.key_index_controls.hosted.clone())
                    .unwrap_or_default();
                self.device_jids(p, g.lid_mode)
                    .into_iter()
                    .filter(move |j| !hosted.contains(&j.device))
            })
            .collect()
    }

    /// A group `<message>`: per-device SKDM carriers in `<participants>`, one `skmsg` for all.
    pub(super) fn handle_group_message(
        &mut self,
        sender: &DeviceKey,
        node: &Node,
        id: String,
        to: Jid,
    ) {
        let attrs = node.attrs();
        let nack = |state: &State, code: u16| {
            state.ack_to(
                sender,
                ServerAck::new("message", id.clone())
                    .from(to.clone())
                    .at(now_unix())
                    .error(code)
                    .build(),
            );
        };
        let Some(group) = self.groups.get(&to.user) else {
            nack(self, 479);
            return;
        };
        if !group.participants.contains(&sender.0) {
            nack(self, 479);
            return;
        }
        let lid_mode = group.lid_mode;
        let members = group.participants.clone();
        let mut carriers: HashMap<DeviceKey, Node> = HashMap::new();
        if let Some(participants) = node.child("participants") {
            for to_node in participants.children_by_tag("to") {
                let (Ok(jid), Some(enc)) = (to_node.attrs().jid("jid"), to_node.child("enc"))
                else {
                    nack(self, 479);
                    return;
                };
                if let Some(k) = self.resolve(&jid).filter(|k| members.contains(&k.0)) {
                    carriers.insert(k, enc.clone());
                }
            }
        }
        let skmsg = node
            .children_by_tag("enc")
            .find(|e| e.attrs().optional_str("type") == Some("skmsg"))
            .cloned();
        let real = self.group_devices(&to.user);
        let server_phash = phash(&real);
        let t = now_unix();
        let mut ack = ServerAck::new("message", id.clone()).from(to.clone()).at(t);
        if let Some(client_phash) = attrs.optional_string("phash")
            && client_phash != server_phash
        {
            // Unknown what the real server does beyond telling (part 2 §4.6): accept, warn.
            warn!(
                id,
                client_phash, server_phash, "group message with a stale phash"
            );
            ack = ack.phash(server_phash);
        }
        self.ack_to(sender, ack.build());
        self.note_server_ack(sender, &id, t);
        let Some(account) = self.accounts.get(&sender.0) else {
            return;
        };
        let participant = account.device_jid(sender.1, lid_mode);
        let alt = if lid_mode {
            ("participant_pn", account.pn_jid())
        } else {
            ("participant_lid", account.lid_jid())
        };
        let notify = account.push_name.clone();
        let typ = attrs
            .optional_string("type")
            .unwrap_or_else(|| "text".into());
        let device_identity = node.child("device-identity").cloned();
        let targets: Vec<DeviceKey> = real.iter().filter_map(|j| self.resolve(j)).collect();
        for target in targets {
            if target == *sender {
                continue;
            }
            let mut encs: Vec<Node> = carriers.get(&target).cloned().into_iter().collect();
            encs.extend(skmsg.clone());
            if encs.is_empty() {
                continue;
            }
            encs.extend(device_identity.clone());
            let mut out = Node::new("message")
                .attr("from", to.clone())
                .attr("participant", participant.clone())
                .attr(alt.0, alt.1.clone())
                .attr("id", id.clone())
                .attr("type", typ.clone())
                .attr("t", t)
                .attr("addressing_mode", if lid_mode { "lid" } else { "pn" });
            if let Some(name) = &notify {
                out = out.attr("notify", name.clone());
            }
            self.work.push_back((
                target,
                Queued {
                    class: "message",
                    id: id.clone(),
                    peer: Some(sender.0.clone()),
                    node: out.children(encs),
                    sent: false,
                },
            ));
        }
    }

    /// A simulated account posts to a group: SKDM to every other device, then one skmsg.
    pub(super) fn customer_send_group(
        &mut self,
        pn: &str,
        group_id: &str,
        plaintext: Vec<u8>,
        typ: &str,
        mediatype: Option<&'static str>,
    ) -> Result<String, SimError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or_else(|| SimError::BadRequest(format!("unknown group {group_id}")))?;
        if !group.participants.contains(&pn.to_owned()) {
            return Err(SimError::BadRequest("not a participant".into()));
        }
        let group_jid = Jid::new(group_id.to_owned(), Server::Group);
        let targets: Vec<(DeviceKey, Jid)> = self
            .group_devices(group_id)
            .into_iter()
            .filter_map(|j| self.resolve(&j).map(|k| (k, j)))
            .filter(|(k, _)| *k != (pn.to_owned(), 0))
            .collect();
        let devices: Vec<DeviceKey> = targets.iter().map(|(k, _)| k.clone()).collect();
        self.phone_sessions(pn, &devices)?;
        let mut rng = OsRng;
        let sim = self.phone_mut(pn)?;
        let (skdm, skmsg) = sim
            .group_encrypt(&group_jid.to_string(), &plaintext, &mut rng)
            .map_err(|e| SimError::BadRequest(format!("sender key: {e}")))?;
        let carrier = e2e::Message {
            sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage {
                group_id: Some(group_jid.to_string()),
                axolotl_sender_key_distribution_message: Some(skdm),
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let mut participants = Vec::new();
        for (k, jid) in &targets {
            if let Ok((enc_type, bytes)) =
                sim.encrypt(&format!("{}.{}", k.0, k.1), &carrier, &mut rng)
            {
                participants.push(
                    Node::new("to")
                        .attr("jid", jid.clone())
                        .children([Node::new("enc")
                            .attr("v", "2")
                            .attr("type", enc_type)
                            .bytes(bytes)]),
                );
            }
        }
        let id = random_id();
        let stanza = Node::new("message")
            .attr("to", group_jid.clone())
            .attr("id", id.clone())
            .attr("type", typ.to_owned())
            .attr("phash", phash(&self.group_devices(group_id)))
            .children([
                Node::new("participants").children(participants),
                Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .attr_opt("mediatype", mediatype)
                    .bytes(skmsg),
            ]);
        self.handle_message(&(pn.to_owned(), 0), &stanza);
        self.drain();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{ACCOUNT, CUSTOMER, attr, state};
    use super::*;

    #[test]
    fn members_hear_of_a_new_group_and_outsiders_cannot_post() {
        let mut state = state();
        let mut member = state.online_companion(ACCOUNT);
        let mut outsider = state.online_companion("201115556667");
        state.simulated_customer(CUSTOMER);
        let group = state
            .create_group(CUSTOMER, "Family", &[ACCOUNT.to_owned()], false)
            .expect("group");
        let created = member.one("notification");
        assert_eq!(attr(&created, "type"), "w:gp2");
        let info = created.path(&["create", "group"]).expect("group");
        assert_eq!(attr(info, "subject"), "Family");
        assert_eq!(info.children_by_tag("participant").count(), 2);
        assert!(outsider.sent().is_empty());

        let post = Node::new("message")
            .attr("id", "G1")
            .attr("to", group.clone())
            .attr("type", "text")
            .children([Node::new("enc")
                .attr("v", "2")
                .attr("type", "skmsg")
                .bytes(vec![1; 40])]);
        state.handle(&outsider.key.clone(), post.clone());
        assert_eq!(attr(&outsider.one("ack"), "error"), "479");
        // A member's post is acked (with the server's phash when the client's is stale).
        state.handle(&member.key.clone(), post.attr("phash", "2:stale"));
        let ack = member.one("ack");
        assert!(attr(&ack, "error").is_empty());
        assert!(attr(&ack, "phash").starts_with("2:"));
    }
}
