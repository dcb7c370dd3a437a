//! The changes a `<notification type="w:gp2">` announces (whatsmeow `group.go
//! parseGroupNotification`, `parseGroupChange`): who changed what in which group.

use super::request::ParticipantAction;
use super::request::SubGroup;
use super::{GroupInfo, INVITE_LINK_PREFIX, Participant, StanzaError};
use crate::binary::Node;
use crate::jid::Jid;

/// One change of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupChange {
    /// We were put in a new group (`<create>`, with the whole group).
    Created(Box<GroupInfo>),
    /// Participants added, removed, promoted or demoted; `reason` is the `<add reason>`
    /// (`invite` when they joined through a link, whatsmeow `JoinReason`).
    Participants {
        /// What happened.
        action: ParticipantAction,
        /// To whom (with the other address form where given).
        participants: Vec<Participant>,
        /// Why, when the server says.
        reason: Option<String>,
    },
    /// Renamed (`<subject subject>`).
    Subject(String),
    /// The description changed (`<description id><body>`), or was deleted (`None`).
    Description {
        /// The new description's id.
        id: String,
        /// The text; `None` when deleted.
        body: Option<String>,
    },
    /// Only admins post, or everyone again.
    Announce(bool),
    /// Only admins edit the info, or everyone again.
    Locked(bool),
    /// Disappearing messages after this many seconds; 0 is off.
    Ephemeral(u32),
    /// Joining needs approval, or not.
    JoinApproval(bool),
    /// The invite link was reset (`<invite code>`): the old one no longer works.
    InviteReset {
        /// The new link.
        link: String,
    },
    /// A group was linked to this community (`<link link_type="sub_group">`).
    Linked(SubGroup),
    /// A group was unlinked from this community.
    Unlinked(SubGroup),
    /// The group was deleted (`<delete reason>`).
    Deleted,
    /// A change this library does not read (its tag).
    Other(String),
}

/// A `w:gp2` notification: the group, who made the changes, when, and the changes.
///
/// ```
/// use whatsapp_proto::jid::{Jid, Server};
/// use whatsapp_proto::stanza::groups::change::{GroupChange, GroupNotification};
///
/// let note = GroupNotification {
///     group: Jid::new("120363000000000001", Server::Group),
///     by: Some(Jid::user("201000000001")),
///     timestamp: 1_700_000_000,
///     changes: vec![GroupChange::Announce(true)],
/// };
/// assert_eq!(GroupNotification::parse(&note.to_node()).unwrap(), note);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNotification {
    /// The group.
    pub group: Jid,
    /// Who made the change (`participant`), when told.
    pub by: Option<Jid>,
    /// Unix seconds.
    pub timestamp: u64,
    /// What changed, in order.
    pub changes: Vec<GroupChange>,
}

impl GroupNotification {
    /// A notification of `changes` to `group` by `by` at `timestamp`.
    pub fn new(
        group: Jid,
        by: Option<Jid>,
        timestamp: u64,
        changes: Vec<GroupChange>,
    ) -> GroupNotification {
        GroupNotification {
            group,
            by,
            timestamp,
            changes,
        }
    }

    /// Reads a `w:gp2` notification; one from something other than a group is an error.
    pub fn parse(node: &Node) -> Result<GroupNotification, StanzaError> {
        let attrs = node.attrs();
        let group = attrs
            .jid("from")
            .ok()
            .filter(Jid::is_group)
            .ok_or(StanzaError::Invalid {
                part: "notification@from",
                reason: "not a group",
            })?;
        let mut changes = Vec::new();
        for child in node.child_nodes() {
            let c = child.attrs();
            let text = |n: &Node| {
                String::from_utf8_lossy(n.content_bytes().unwrap_or_default()).into_owned()
            };
            let change = match child.tag.as_str() {
                "create" => GroupChange::Created(Box::new(GroupInfo::parse(
                    child.child("group").ok_or(StanzaError::Missing {
                        part: "create/group",
                    })?,
                )?)),
                "subject" => GroupChange::Subject(c.optional_string("subject").unwrap_or_default()),
                "description" => GroupChange::Description {
                    id: c.optional_string("id").unwrap_or_default(),
                    body: if child.child("delete").is_some() {
                        None
                    } else {
                        Some(text(child.child("body").ok_or(StanzaError::Missing {
                            part: "description/body",
                        })?))
                    },
                },
                "announcement" => GroupChange::Announce(true),
                "not_announcement" => GroupChange::Announce(false),
                "locked" => GroupChange::Locked(true),
                "unlocked" => GroupChange::Locked(false),
                "ephemeral" => GroupChange::Ephemeral(
                    c.optional_u64("expiration")
                        .ok()
                        .flatten()
                        .and_then(|e| u32::try_from(e).ok())
                        .unwrap_or(0),
                ),
                "not_ephemeral" => GroupChange::Ephemeral(0),
                // whatsmeow reads the tag alone as "on"; Baileys reads `group_join state`.
                "membership_approval_mode" => GroupChange::JoinApproval(
                    child
                        .child("group_join")
                        .and_then(|j| j.attrs().optional_str("state"))
                        != Some("off"),
                ),
                "invite" => GroupChange::InviteReset {
                    link: format!(
                        "{INVITE_LINK_PREFIX}{}",
                        c.optional_string("code").unwrap_or_default()
                    ),
                },
                "link" | "unlink" => {
                    let group = SubGroup::parse(
                        child
                            .child("group")
                            .ok_or(StanzaError::Missing { part: "link/group" })?,
                    )?;
                    if child.tag == "link" {
                        GroupChange::Linked(group)
                    } else {
                        GroupChange::Unlinked(group)
                    }
                }
                "delete" => GroupChange::Deleted,
                tag => match ParticipantAction::from_tag(tag) {
                    Some(action) => GroupChange::Participants {
                        action,
                        // whatsmeow `parseParticipantList` skips entries without a jid.
                        participants: child
                            .children_by_tag("participant")
                            .filter_map(|p| Participant::parse(p).ok())
                            .collect(),
                        reason: c.optional_string("reason"),
                    },
                    None => GroupChange::Other(tag.to_owned()),
                },
            };
            changes.push(change);
        }
        Ok(GroupNotification {
            group,
            by: attrs.optional_jid("participant").ok().flatten(),
            timestamp: attrs.optional_u64("t").ok().flatten().unwrap_or(0),
            changes,
        })
    }

    /// The notification as the server sends it (without `id`).
    pub fn to_node(&self) -> Node {
        let children = self.changes.iter().filter_map(|change| {
            Some(match change {
                GroupChange::Created(info) => Node::new("create").children([info.to_node()]),
                GroupChange::Participants {
                    action,
                    participants,
                    reason,
                } => Node::new(action.tag())
                    .attr_opt("reason", reason.clone())
                    .children(participants.iter().map(|p| {
                        let mut p = p.clone();
                        p.role = super::Role::Member;
                        p.to_node()
                    })),
                GroupChange::Subject(subject) => Node::new("subject")
                    .attr("subject", subject.clone())
                    .attr("s_t", self.timestamp)
                    .attr_opt("s_o", self.by.clone()),
                GroupChange::Description { id, body } => {
                    let node = Node::new("description").attr("id", id.clone());
                    match body {
                        Some(body) => {
                            node.children([Node::new("body").bytes(body.as_bytes().to_vec())])
                        }
                        None => node.children([Node::new("delete")]),
                    }
                }
                GroupChange::Announce(true) => Node::new("announcement"),
                GroupChange::Announce(false) => Node::new("not_announcement"),
                GroupChange::Locked(true) => Node::new("locked"),
                GroupChange::Locked(false) => Node::new("unlocked"),
                GroupChange::Ephemeral(0) => Node::new("not_ephemeral"),
                GroupChange::Ephemeral(seconds) => {
                    Node::new("ephemeral").attr("expiration", *seconds)
                }
                GroupChange::JoinApproval(on) => Node::new("membership_approval_mode").children([
                    Node::new("group_join").attr("state", if *on { "on" } else { "off" }),
                ]),
                GroupChange::InviteReset { link } => Node::new("invite").attr(
                    "code",
                    link.strip_prefix(INVITE_LINK_PREFIX)
                        .unwrap_or(link)
                        .to_owned(),
                ),
                GroupChange::Linked(group) => Node::new("link")
                    .attr("link_type", "sub_group")
                    .children([group.to_node()]),
                GroupChange::Unlinked(group) => Node::new("unlink")
                    .attr("unlink_type", "sub_group")
                    .children([group.to_node()]),
                GroupChange::Deleted => Node::new("delete"),
                GroupChange::Other(_) => return None,
            })
        });
        Node::new("notification")
            .attr("from", self.group.clone())
            .attr("type", "w:gp2")
            .attr("t", self.timestamp)
            .attr_opt("participant", self.by.clone())
            .children(children.collect::<Vec<_>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jid::Server;
    use crate::stanza::groups::Role;

    #[test]
    fn every_change_reads_back_and_strays_are_refused() {
        let group = Jid::new("120363000000000001", Server::Group);
        let joined = Participant::new(Jid::new("55", Server::Lid), Role::Member)
            .with_alt(Jid::user("201000000005"));
        let note = GroupNotification {
            group: group.clone(),
            by: Some(Jid::user("201000000001")),
            timestamp: 1_700_000_000,
            changes: vec![
                GroupChange::Participants {
                    action: ParticipantAction::Add,
                    participants: vec![joined],
                    reason: Some("invite".into()),
                },
                GroupChange::Subject("Heliopolis".into()),
                GroupChange::Description {
                    id: "D1".into(),
                    body: Some("24h".into()),
                },
                GroupChange::Description {
                    id: "D2".into(),
                    body: None,
                },
                GroupChange::Announce(false),
                GroupChange::Locked(true),
                GroupChange::Ephemeral(86_400),
                GroupChange::Ephemeral(0),
                GroupChange::JoinApproval(true),
                GroupChange::JoinApproval(false),
                GroupChange::InviteReset {
                    link: format!("{INVITE_LINK_PREFIX}NeW"),
                },
                GroupChange::Linked(SubGroup::new(group.clone(), "Sub")),
                GroupChange::Unlinked(SubGroup::new(group.clone(), "Sub")),
                GroupChange::Deleted,
            ],
        };
        let node = note.to_node();
        assert!(crate::stanza::jid_attrs::text_jids(&node).is_empty());
        assert_eq!(GroupNotification::parse(&node).unwrap(), note);
        let stray = Node::new("notification").attr("from", Jid::user("201000000003"));
        assert!(GroupNotification::parse(&stray).is_err());
        let unknown = Node::new("notification")
            .attr("from", group)
            .children([Node::new("suspended")]);
        assert_eq!(
            GroupNotification::parse(&unknown).unwrap().changes,
            vec![GroupChange::Other("suspended".into())]
        );
    }
}
