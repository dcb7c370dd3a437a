//! Group membership changes: removing participants (an admin's removal or a member leaving).
//!
//! The members' devices and the removed ones' get a `w:gp2` notification with `<remove>`
//! (whatsmeow `group.go parseGroupChange` / `parseParticipantList`: `participant` names who
//! made the change, each `<participant jid>` carries the other address form as `lid` or
//! `phone_number`). From then on group messages reach only the remaining participants:
//! delivery follows the participant list ([`State::group_devices`]).

use tracing::info;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};

use super::{Account, DeviceKey, State, now_unix};
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
}
