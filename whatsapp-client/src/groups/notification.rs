//! Group changes the server announces (`<notification type="w:gp2">`, part 2 §5.8):
//! participants added, removed, promoted or demoted become [`Event::GroupParticipants`], and
//! a removal rotates our sender key for the group.
//!
//! Rotation (part 2 §4.9 step 6): the removed participant's devices hold our current sender
//! key, so without a new one they could still read every later message the server let them
//! see. On a removal we forget our own sender key for the group (under our phone-number and
//! LID addresses); the next send to the group creates a fresh key and distributes it to the
//! remaining participants' devices. whatsapp-rust does the same
//! (`src/client/sender_keys.rs rotate_sender_key_on_participant_remove`, from WA Web
//! `removeParticipantInfo`); whatsmeow never rotates. Our sends distribute the key to every
//! device on every group message (as whatsmeow does), so there is no "who has our key" list
//! to clear.

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::signal::SenderKeyRecord;

use crate::context::Shared;
use crate::event::{Event, GroupParticipantsEvent, ParticipantAction};

/// The participant changes of a `w:gp2` notification (whatsmeow `group.go parseGroupChange`,
/// `parseParticipantList`): one event per `<add>`, `<remove>`, `<promote>` or `<demote>`.
fn participant_changes(node: &Node) -> Vec<GroupParticipantsEvent> {
    let attrs = node.attrs();
    let Ok(group) = attrs.jid("from") else {
        return Vec::new();
    };
    if !group.is_group() {
        return Vec::new();
    }
    let by = attrs.optional_jid("participant").ok().flatten();
    let timestamp = attrs.optional_u64("t").ok().flatten().unwrap_or(0);
    node.child_nodes()
        .iter()
        .filter_map(|child| {
            let action = match child.tag.as_str() {
                "add" => ParticipantAction::Added,
                "remove" => ParticipantAction::Removed,
                "promote" => ParticipantAction::Promoted,
                "demote" => ParticipantAction::Demoted,
                _ => return None,
            };
            let participants = child
                .children_by_tag("participant")
                .filter_map(|p| p.attrs().jid("jid").ok())
                .collect();
            Some(GroupParticipantsEvent {
                group: group.clone(),
                action,
                participants,
                by: by.clone(),
                timestamp,
            })
        })
        .collect()
}

/// Handles a `w:gp2` notification: rotates our sender key on a removal, then tells the
/// application.
pub(crate) async fn on_group_notification(shared: &Shared, node: &Node) {
    // Whatever changed, the participants kept for sends are asked again (whatsmeow
    // `group.go` updates its cache from the change; asking again is as good and simpler).
    if let Ok(group) = node.attrs().jid("from") {
        shared
            .group_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(&group);
    }
    for change in participant_changes(node) {
        if change.action == ParticipantAction::Removed && !change.participants.is_empty() {
            forget_own_sender_key(shared, &change.group).await;
        }
        shared.emit(Event::GroupParticipants(change)).await;
    }
}

/// Replaces our sender key for the group with an empty record: the next send creates a new
/// key (and distributes it). Holds the send lock, so a send in progress stores its key first
/// and is then superseded, never the other way round.
async fn forget_own_sender_key(shared: &Shared, group: &Jid) {
    let guard = shared.sessions.lock().await;
    let device = shared.device();
    let empty = SenderKeyRecord::new().to_bytes();
    let group_text = group.to_string();
    for own in device.jid.iter().chain(device.lid.iter()) {
        if let Err(e) = guard
            .store()
            .store_sender_key(&group_text, &own.signal_address(), &empty)
            .await
        {
            tracing::warn!(%group, error = %e, "forgetting our sender key failed");
        }
    }
    tracing::info!(%group, "a participant left: our next message uses a new sender key");
}

#[cfg(test)]
mod tests {
    use whatsapp_proto::jid::Server;

    use super::*;

    #[test]
    fn a_removal_notification_becomes_one_event_per_change() {
        let group = Jid::new("120363000000000001".to_owned(), Server::Group);
        let admin = Jid::user("201000000001".to_owned());
        let gone = Jid::user("201000000002".to_owned());
        let node = Node::new("notification")
            .attr("from", group.clone())
            .attr("type", "w:gp2")
            .attr("t", "1700000000")
            .attr("participant", admin.clone())
            .children([
                Node::new("remove").children([Node::new("participant")
                    .attr("jid", gone.clone())
                    .attr("lid", Jid::new("99".to_owned(), Server::Lid))]),
                Node::new("subject").attr("subject", "x"),
            ]);
        assert_eq!(
            participant_changes(&node),
            vec![GroupParticipantsEvent {
                group,
                action: ParticipantAction::Removed,
                participants: vec![gone],
                by: Some(admin),
                timestamp: 1_700_000_000,
            }]
        );
        // Not from a group: nothing.
        let stray = Node::new("notification")
            .attr("from", Jid::user("201000000003".to_owned()))
            .children([Node::new("remove")]);
        assert!(participant_changes(&stray).is_empty());
    }
}
