//! Groups and communities: the server's record of each group, the `w:g2` requests that
//! change it ([`manage`], [`links`]) and the delivery of group messages.
//!
//! Every change is announced to the members' devices (and to those it removes) with a
//! `w:gp2` notification (whatsmeow `group.go parseGroupChange`: `participant` names who
//! made the change, each `<participant jid>` carries the other address form as `lid` or
//! `phone_number`). Group messages reach only the current participants: delivery follows
//! the participant list ([`State::group_devices`]).

mod links;
mod manage;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost::Message as _;
use rand::rngs::OsRng;
use tracing::warn;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::stanza::groups::change::{GroupChange, GroupNotification};
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, ParticipantAction};
use whatsapp_proto::stanza::groups::{Description, GroupInfo, Participant, Role};
use whatsapp_proto::stanza::server::ServerAck;

use super::{Account, DeviceKey, Queued, State, now_unix, phash, random_id};
use crate::SimError;

/// A group as the server keeps it; participants are accounts (phone numbers).
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(super) subject: String,
    pub(super) subject_at: u64,
    pub(super) subject_by: Option<String>,
    pub(super) creator: String,
    pub(super) created: u64,
    pub(super) participants: Vec<String>,
    /// Admins besides the creator (who is always one, `superadmin`).
    pub(super) admins: BTreeSet<String>,
    pub(super) lid_mode: bool,
    pub(super) description: Option<Description>,
    pub(super) announce: bool,
    pub(super) locked: bool,
    pub(super) join_approval: bool,
    pub(super) ephemeral: u32,
    /// The current invite code, made on first request.
    pub(super) invite: Option<String>,
    /// Codes reset away: joining with one is 410 gone.
    pub(super) revoked_invites: BTreeSet<String>,
    /// Pending join requests: phone number -> when.
    pub(super) requests: BTreeMap<String, u64>,
    /// The picture: its id and the JPEG.
    pub(super) picture: Option<(String, Vec<u8>)>,
    /// A community.
    pub(super) community: bool,
    /// The community it is linked to.
    pub(super) parent: Option<String>,
}

impl Group {
    pub(super) fn is_admin(&self, pn: &str) -> bool {
        self.creator == pn || self.admins.contains(pn)
    }

    pub(super) fn role(&self, pn: &str) -> Role {
        if self.creator == pn {
            Role::SuperAdmin
        } else if self.admins.contains(pn) {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

impl Account {
    /// The account as a participant in the group's addressing form, with the other form
    /// beside it (`phone_number` for a LID, `lid` for a phone number; whatsmeow
    /// `parseParticipant`).
    pub(super) fn participant(&self, lid_mode: bool, role: Role) -> Participant {
        if lid_mode {
            Participant::new(self.lid_jid(), role).with_alt(self.pn_jid())
        } else {
            Participant::new(self.pn_jid(), role).with_alt(self.lid_jid())
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

    /// Sends a `w:gp2` notification of `changes` by `by` to every device of `to`.
    pub(super) fn notify_group(
        &mut self,
        group_id: &str,
        by: &str,
        changes: Vec<GroupChange>,
        to: &[String],
    ) {
        let Some(lid_mode) = self.groups.get(group_id).map(|g| g.lid_mode) else {
            return;
        };
        let actor = self.accounts.get(by);
        let note = GroupNotification::new(
            Jid::new(group_id, Server::Group),
            actor.map(|a| if lid_mode { a.lid_jid() } else { a.pn_jid() }),
            now_unix(),
            changes,
        );
        let mut node = note.to_node();
        if let Some(a) = actor {
            node = if lid_mode {
                node.attr("participant_pn", a.pn_jid())
            } else {
                node.attr("participant_lid", a.lid_jid())
            };
        }
        let targets = self.member_devices(to);
        self.queue_notifications(targets, &node);
    }

    /// Runs a group request of `by` (a simulated account or a companion's IQ): the answer's
    /// content, or the error code and text the real server answers with.
    pub(crate) fn group_request(
        &mut self,
        by: &str,
        iq: GroupIq,
    ) -> Result<Vec<Node>, (u16, &'static str)> {
        let answer = self.run_group_request(by, iq);
        self.drain();
        answer
    }

    /// `by` removes `removed` from the group (an admin, or a member leaving).
    pub fn remove_group_participants(
        &mut self,
        by: &str,
        group_id: &str,
        removed: &[String],
    ) -> Result<(), SimError> {
        let group = Jid::new(group_id, Server::Group);
        let iq = if removed.iter().all(|r| r == by) {
            GroupIq::server(GroupRequest::Leave {
                groups: vec![group],
            })
        } else {
            let jids = removed.iter().map(|r| Jid::user(r.clone())).collect();
            GroupIq::new(
                group,
                GroupRequest::Participants {
                    action: ParticipantAction::Remove,
                    participants: jids,
                },
            )
        };
        let answer = self
            .group_request(by, iq)
            .map_err(|(code, text)| SimError::BadRequest(format!("{code} {text}")))?;
        let refused = answer
            .iter()
            .flat_map(|n| n.children_by_tag("participant"))
            .any(|p| p.attrs().optional_str("error").is_some());
        if refused {
            return Err(SimError::BadRequest(
                "a participant is not in the group".into(),
            ));
        }
        Ok(())
    }

    /// Creates a group of existing accounts (the creator is its super-admin); the members'
    /// devices get a `w:gp2` `<create>` notification.
    pub fn create_group(
        &mut self,
        creator: &str,
        subject: &str,
        participants: &[String],
        lid_mode: bool,
    ) -> Result<Jid, SimError> {
        for m in std::iter::once(creator).chain(participants.iter().map(String::as_str)) {
            if !self.accounts.contains_key(m) {
                return Err(SimError::UnknownAccount(m.to_owned()));
            }
        }
        let id = self.new_group(creator, subject, participants, lid_mode, false, None);
        self.drain();
        Ok(Jid::new(id, Server::Group))
    }

    /// The group as info queries answer it (part 2 §3.6).
    pub(super) fn group_info(&self, id: &str) -> Option<GroupInfo> {
        let g = self.groups.get(id)?;
        let account_jid = |pn: &str| {
            self.accounts
                .get(pn)
                .map(|a| if g.lid_mode { a.lid_jid() } else { a.pn_jid() })
        };
        let mut info = GroupInfo::new(Jid::new(id, Server::Group), g.subject.clone());
        info.subject_at = g.subject_at;
        info.subject_by = g.subject_by.as_deref().and_then(account_jid);
        info.creator = account_jid(&g.creator);
        info.created = g.created;
        info.description = g.description.clone();
        info.announce = g.announce;
        info.locked = g.locked;
        info.ephemeral = (g.ephemeral > 0).then_some(g.ephemeral);
        info.join_approval = g.join_approval;
        info.community = g.community;
        info.linked_parent = g
            .parent
            .as_ref()
            .map(|p| Jid::new(p.clone(), Server::Group));
        info.lid_addressed = g.lid_mode;
        info.size = Some(g.participants.len() as u64);
        info.participants = g
            .participants
            .iter()
            .filter_map(|p| Some(self.accounts.get(p)?.participant(g.lid_mode, g.role(p))))
            .collect();
        Some(info)
    }

    /// Whether the account exists.
    pub(crate) fn has_account(&self, pn: &str) -> bool {
        self.accounts.contains_key(pn)
    }

    /// The group as info queries answer it, for tests.
    pub(crate) fn group_snapshot(&self, id: &str) -> Option<GroupInfo> {
        self.group_info(id)
    }

    /// The group's stored picture.
    pub(crate) fn group_picture(&self, id: &str) -> Option<(String, Vec<u8>)> {
        self.groups.get(id)?.picture.clone()
    }

    /// `<group>` as group info queries answer it.
    pub(super) fn group_node(&self, id: &str) -> Option<Node> {
        self.group_info(id).map(|i| i.to_node())
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
