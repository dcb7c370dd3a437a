//! Group changes the server announces (`<notification type="w:gp2">`, part 2 §5.8), read
//! as [`GroupNotification`]: participants added, removed, promoted or demoted become
//! [`Event::GroupParticipants`], every other change [`Event::GroupChange`]; the participants
//! kept for sends follow the change, and a removal rotates our sender key for the group.
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
use whatsapp_proto::stanza::groups::change::{GroupChange, GroupNotification};
use whatsapp_proto::stanza::groups::request::ParticipantAction as Change;

use crate::context::{GroupInfo, Shared};
use crate::event::{Event, GroupChangeEvent, GroupParticipantsEvent, ParticipantAction};

/// The events of a notification, in order: participant changes as
/// [`GroupParticipantsEvent`]s, the rest as [`GroupChangeEvent`]s.
fn events_of(note: &GroupNotification) -> Vec<Event> {
    note.changes
        .iter()
        .map(|change| match change {
            GroupChange::Participants {
                action,
                participants,
                reason,
            } => Event::GroupParticipants(GroupParticipantsEvent {
                group: note.group.clone(),
                action: match action {
                    Change::Add if reason.as_deref() == Some("invite") => {
                        ParticipantAction::JoinedByLink
                    }
                    Change::Add => ParticipantAction::Added,
                    Change::Remove => ParticipantAction::Removed,
                    Change::Promote => ParticipantAction::Promoted,
                    _ => ParticipantAction::Demoted,
                },
                participants: participants.iter().map(|p| p.jid.clone()).collect(),
                by: note.by.clone(),
                timestamp: note.timestamp,
            }),
            other => Event::GroupChange(Box::new(GroupChangeEvent {
                group: note.group.clone(),
                by: note.by.clone(),
                timestamp: note.timestamp,
                change: other.clone(),
            })),
        })
        .collect()
}

/// Brings the participants kept for sends up to date with the changes (whatsmeow
/// `updateGroupParticipantCache`, `parseGroupCreate`): joins and leaves edit the list, a
/// new group is kept whole, a deleted one, or one we left, is forgotten.
fn update_cache(shared: &Shared, note: &GroupNotification) {
    let device = shared.device();
    let own: Vec<Jid> = device
        .jid
        .iter()
        .chain(device.lid.iter())
        .map(Jid::to_non_ad)
        .collect();
    let mut cache = shared.group_cache.lock().unwrap_or_else(|e| e.into_inner());
    for change in &note.changes {
        match change {
            GroupChange::Created(info) => cache.insert(
                &note.group,
                GroupInfo {
                    participants: info
                        .participants
                        .iter()
                        .map(|p| p.jid.to_non_ad())
                        .collect(),
                    lid_mode: info.lid_addressed,
                },
            ),
            GroupChange::Participants {
                action: Change::Remove,
                participants,
                ..
            } if participants.iter().any(|p| own.contains(&p.jid)) => cache.forget(&note.group),
            GroupChange::Participants {
                action,
                participants,
                ..
            } => {
                let jids: Vec<Jid> = participants.iter().map(|p| p.jid.to_non_ad()).collect();
                match action {
                    Change::Add => cache.add_participants(&note.group, &jids),
                    Change::Remove => cache.remove_participants(&note.group, &jids),
                    _ => {}
                }
            }
            GroupChange::Deleted => cache.forget(&note.group),
            _ => {}
        }
    }
}

/// Handles a `w:gp2` notification: updates the participants kept for sends, rotates our
/// sender key on a removal, then tells the application.
pub(crate) async fn on_group_notification(shared: &Shared, node: &Node) {
    let note = match GroupNotification::parse(node) {
        Ok(note) => note,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable group notification");
            return;
        }
    };
    update_cache(shared, &note);
    for event in events_of(&note) {
        if let Event::GroupParticipants(change) = &event
            && change.action == ParticipantAction::Removed
            && !change.participants.is_empty()
        {
            forget_own_sender_key(shared, &change.group).await;
        }
        shared.emit(event).await;
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
    fn a_notification_becomes_one_event_per_change() {
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
        let note = GroupNotification::parse(&node).expect("notification");
        let events = events_of(&note);
        assert_eq!(events.len(), 2, "{events:?}");
        let Event::GroupParticipants(removal) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            removal,
            &GroupParticipantsEvent {
                group: group.clone(),
                action: ParticipantAction::Removed,
                participants: vec![gone],
                by: Some(admin.clone()),
                timestamp: 1_700_000_000,
            }
        );
        let Event::GroupChange(renamed) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(renamed.change, GroupChange::Subject("x".into()));
        assert_eq!(renamed.by, Some(admin));
        // A join through a link is told apart from an admin's add.
        let joined = Node::new("notification")
            .attr("from", group)
            .children([Node::new("add")
                .attr("reason", "invite")
                .children([Node::new("participant").attr("jid", Jid::user("201000000004"))])]);
        let events = events_of(&GroupNotification::parse(&joined).expect("notification"));
        assert!(matches!(
            &events[..],
            [Event::GroupParticipants(GroupParticipantsEvent {
                action: ParticipantAction::JoinedByLink,
                ..
            })]
        ));
        // Not from a group: refused.
        let stray = Node::new("notification")
            .attr("from", Jid::user("201000000003".to_owned()))
            .children([Node::new("remove")]);
        assert!(GroupNotification::parse(&stray).is_err());
    }
}
