//! The `w:g2` IQs a member or admin sends (whatsmeow `group.go`, Baileys `groups.ts`), read
//! back by the server ([`GroupIq::parse`]), and the parts of their answers that are more
//! than a [`GroupInfo`] (per-participant results, invite codes, join requests, sub-groups).

use super::{GroupInfo, NAMESPACE, StanzaError, group_server};
use crate::binary::Node;
use crate::jid::{Jid, Server};

/// What to do to participants (the tag of the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParticipantAction {
    /// `<add>`.
    Add,
    /// `<remove>`.
    Remove,
    /// `<promote>`: make admins.
    Promote,
    /// `<demote>`: no longer admins.
    Demote,
}

impl ParticipantAction {
    /// The tag on the wire.
    pub fn tag(self) -> &'static str {
        match self {
            ParticipantAction::Add => "add",
            ParticipantAction::Remove => "remove",
            ParticipantAction::Promote => "promote",
            ParticipantAction::Demote => "demote",
        }
    }

    /// The action a tag names.
    pub fn from_tag(tag: &str) -> Option<ParticipantAction> {
        Some(match tag {
            "add" => ParticipantAction::Add,
            "remove" => ParticipantAction::Remove,
            "promote" => ParticipantAction::Promote,
            "demote" => ParticipantAction::Demote,
            _ => return None,
        })
    }
}

/// A group setting an admin changes (whatsmeow `SetGroupAnnounce`, `SetGroupLocked`,
/// `SetGroupJoinApprovalMode`; the timer as Baileys `groupToggleEphemeral`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupSetting {
    /// Only admins post (`<announcement/>`) or everyone (`<not_announcement/>`).
    Announce(bool),
    /// Only admins edit the info (`<locked/>`) or everyone (`<unlocked/>`).
    Locked(bool),
    /// Joining needs approval (`<membership_approval_mode><group_join state="on|off">`).
    JoinApproval(bool),
    /// Disappearing messages after this many seconds (`<ephemeral expiration>`); 0 turns
    /// them off (`<not_ephemeral/>`).
    Ephemeral(u32),
}

/// Approve or reject join requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestAction {
    /// `<approve>`.
    Approve,
    /// `<reject>`.
    Reject,
}

impl RequestAction {
    fn tag(self) -> &'static str {
        match self {
            RequestAction::Approve => "approve",
            RequestAction::Reject => "reject",
        }
    }
}

/// One group request: what goes inside the `<iq xmlns="w:g2">`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupRequest {
    /// `<create subject>` with `<participant jid>`s; `community` adds `<parent>`,
    /// `linked_parent` creates the group inside a community (to `g.us`).
    Create {
        /// The name.
        subject: String,
        /// Who else is in it.
        participants: Vec<Jid>,
        /// A community rather than a group.
        community: bool,
        /// The community to create it in.
        linked_parent: Option<Jid>,
    },
    /// `<query request="interactive">`: the group's info.
    Info,
    /// `<participating>`: every group we are in (to `g.us`).
    Participating,
    /// `<add>`/`<remove>`/`<promote>`/`<demote>` with `<participant jid>`s.
    Participants {
        /// What to do.
        action: ParticipantAction,
        /// To whom.
        participants: Vec<Jid>,
    },
    /// `<leave><group id>` (to `g.us`).
    Leave {
        /// The groups to leave.
        groups: Vec<Jid>,
    },
    /// `<subject>` with the new name as content.
    Subject(String),
    /// `<description id prev?>` with a `<body>`, or `delete="true"` without one.
    Description {
        /// The new description's id.
        id: String,
        /// The id of the description it replaces (the server checks it).
        prev: Option<String>,
        /// The text; `None` deletes the description.
        body: Option<String>,
    },
    /// A setting.
    Setting(GroupSetting),
    /// `<invite/>`: the invite code (a `set` resets it).
    InviteCode {
        /// Reset the code first (the old link stops working).
        reset: bool,
    },
    /// `<invite code>` get: the group behind a link, without joining (to `g.us`).
    InvitePreview {
        /// The code.
        code: String,
    },
    /// `<invite code>` set: join through a link (to `g.us`).
    JoinByLink {
        /// The code.
        code: String,
    },
    /// `<membership_approval_requests/>`: pending join requests.
    JoinRequests,
    /// `<membership_requests_action>` with `<approve>` or `<reject>`.
    JoinRequestsAction {
        /// Approve or reject.
        action: RequestAction,
        /// Whose requests.
        participants: Vec<Jid>,
    },
    /// `<links><link link_type="sub_group"><group jid>` to the community.
    Link {
        /// The group to link.
        group: Jid,
    },
    /// `<unlink unlink_type="sub_group"><group jid>` to the community.
    Unlink {
        /// The group to unlink.
        group: Jid,
    },
    /// `<sub_groups/>`: the community's groups.
    SubGroups,
}

/// A group IQ: where it goes and what it asks.
///
/// ```
/// use whatsapp_proto::jid::{Jid, Server};
/// use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, ParticipantAction};
///
/// let group = Jid::new("120363000000000001", Server::Group);
/// let iq = GroupIq::new(group, GroupRequest::Participants {
///     action: ParticipantAction::Promote,
///     participants: vec![Jid::user("201000000002")],
/// });
/// let node = iq.to_node();
/// assert_eq!(node.attrs().optional_str("type"), Some("set"));
/// assert_eq!(GroupIq::parse(&node).unwrap(), iq);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupIq {
    /// The group, the community, or `g.us`.
    pub to: Jid,
    /// What is asked.
    pub request: GroupRequest,
}

impl GroupIq {
    /// A request about `to` (a group or community).
    pub fn new(to: Jid, request: GroupRequest) -> GroupIq {
        GroupIq { to, request }
    }

    /// A request to `g.us` (create, participating, leave, invite preview, join by link).
    pub fn server(request: GroupRequest) -> GroupIq {
        GroupIq::new(group_server(), request)
    }

    /// `get` or `set`.
    pub fn kind(&self) -> &'static str {
        match &self.request {
            GroupRequest::Info
            | GroupRequest::Participating
            | GroupRequest::InvitePreview { .. }
            | GroupRequest::JoinRequests
            | GroupRequest::SubGroups
            | GroupRequest::InviteCode { reset: false } => "get",
            _ => "set",
        }
    }

    /// The `<iq>` without an id (the client adds one).
    pub fn to_node(&self) -> Node {
        Node::new("iq")
            .attr("xmlns", NAMESPACE)
            .attr("type", self.kind())
            .attr("to", self.to.clone())
            .children([self.content()])
    }

    fn content(&self) -> Node {
        let participants = |jids: &[Jid]| -> Vec<Node> {
            jids.iter()
                .map(|j| Node::new("participant").attr("jid", j.to_non_ad()))
                .collect()
        };
        match &self.request {
            GroupRequest::Create {
                subject,
                participants: members,
                community,
                linked_parent,
            } => {
                let mut children = participants(members);
                if *community {
                    // whatsmeow `CreateGroup`: a community's default join mode.
                    children.push(
                        Node::new("parent")
                            .attr("default_membership_approval_mode", "request_required"),
                    );
                } else if let Some(parent) = linked_parent {
                    children.push(Node::new("linked_parent").attr("jid", parent.clone()));
                }
                Node::new("create")
                    .attr("subject", subject.clone())
                    .children(children)
            }
            GroupRequest::Info => Node::new("query").attr("request", "interactive"),
            GroupRequest::Participating => Node::new("participating")
                .children([Node::new("participants"), Node::new("description")]),
            GroupRequest::Participants {
                action,
                participants: jids,
            } => Node::new(action.tag()).children(participants(jids)),
            GroupRequest::Leave { groups } => Node::new("leave").children(
                groups
                    .iter()
                    .map(|g| Node::new("group").attr("id", g.clone())),
            ),
            GroupRequest::Subject(subject) => {
                Node::new("subject").bytes(subject.as_bytes().to_vec())
            }
            GroupRequest::Description { id, prev, body } => {
                let node = Node::new("description")
                    .attr("id", id.clone())
                    .attr_opt("prev", prev.clone());
                match body {
                    Some(body) => {
                        node.children([Node::new("body").bytes(body.as_bytes().to_vec())])
                    }
                    None => node.attr("delete", "true"),
                }
            }
            GroupRequest::Setting(setting) => setting_node(*setting),
            GroupRequest::InviteCode { .. } => Node::new("invite"),
            GroupRequest::InvitePreview { code } | GroupRequest::JoinByLink { code } => {
                Node::new("invite").attr("code", code.clone())
            }
            GroupRequest::JoinRequests => Node::new("membership_approval_requests"),
            GroupRequest::JoinRequestsAction {
                action,
                participants: jids,
            } => Node::new("membership_requests_action")
                .children([Node::new(action.tag()).children(participants(jids))]),
            GroupRequest::Link { group } => Node::new("links").children([Node::new("link")
                .attr("link_type", "sub_group")
                .children([Node::new("group").attr("jid", group.clone())])]),
            GroupRequest::Unlink { group } => Node::new("unlink")
                .attr("unlink_type", "sub_group")
                .children([Node::new("group").attr("jid", group.clone())]),
            GroupRequest::SubGroups => Node::new("sub_groups"),
        }
    }

    /// Reads a `w:g2` IQ as the server does; anything else is an error.
    pub fn parse(iq: &Node) -> Result<GroupIq, StanzaError> {
        let attrs = iq.attrs();
        if attrs.optional_str("xmlns") != Some(NAMESPACE) {
            return Err(StanzaError::Invalid {
                part: "iq@xmlns",
                reason: "not w:g2",
            });
        }
        let set = match attrs.optional_str("type") {
            Some("set") => true,
            Some("get") => false,
            _ => {
                return Err(StanzaError::Invalid {
                    part: "iq@type",
                    reason: "neither get nor set",
                });
            }
        };
        let to = attrs
            .jid("to")
            .map_err(|_| StanzaError::Missing { part: "iq@to" })?;
        let content = iq
            .child_nodes()
            .first()
            .ok_or(StanzaError::Missing { part: "iq/*" })?;
        let c = content.attrs();
        let jids = |node: &Node| -> Result<Vec<Jid>, StanzaError> {
            node.children_by_tag("participant")
                .map(|p| {
                    p.attrs().jid("jid").map_err(|_| StanzaError::Missing {
                        part: "participant@jid",
                    })
                })
                .collect()
        };
        let text = |node: &Node| {
            String::from_utf8_lossy(node.content_bytes().unwrap_or_default()).into_owned()
        };
        let code = || {
            c.optional_string("code").ok_or(StanzaError::Missing {
                part: "invite@code",
            })
        };
        let group_jid = |node: &Node, part: &'static str| -> Result<Jid, StanzaError> {
            node.child("group")
                .and_then(|g| g.attrs().jid("jid").ok())
                .ok_or(StanzaError::Missing { part })
        };
        let request = match (content.tag.as_str(), set) {
            ("create", true) => GroupRequest::Create {
                subject: c.optional_string("subject").unwrap_or_default(),
                participants: jids(content)?,
                community: content.child("parent").is_some(),
                linked_parent: content
                    .child("linked_parent")
                    .and_then(|p| p.attrs().jid("jid").ok()),
            },
            ("query", false) => GroupRequest::Info,
            ("participating", false) => GroupRequest::Participating,
            ("leave", true) => GroupRequest::Leave {
                groups: content
                    .children_by_tag("group")
                    .map(|g| {
                        g.attrs().jid("id").map_err(|_| StanzaError::Missing {
                            part: "leave/group@id",
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            ("subject", true) => GroupRequest::Subject(text(content)),
            ("description", true) => GroupRequest::Description {
                id: c.optional_string("id").ok_or(StanzaError::Missing {
                    part: "description@id",
                })?,
                prev: c.optional_string("prev"),
                body: match content.child("body") {
                    Some(body) => Some(text(body)),
                    None if c.optional_str("delete") == Some("true") => None,
                    None => {
                        return Err(StanzaError::Missing {
                            part: "description/body",
                        });
                    }
                },
            },
            ("announcement", true) => GroupRequest::Setting(GroupSetting::Announce(true)),
            ("not_announcement", true) => GroupRequest::Setting(GroupSetting::Announce(false)),
            ("locked", true) => GroupRequest::Setting(GroupSetting::Locked(true)),
            ("unlocked", true) => GroupRequest::Setting(GroupSetting::Locked(false)),
            ("membership_approval_mode", true) => {
                let state = content
                    .child("group_join")
                    .and_then(|j| j.attrs().optional_str("state"))
                    .ok_or(StanzaError::Missing {
                        part: "membership_approval_mode/group_join@state",
                    })?;
                GroupRequest::Setting(GroupSetting::JoinApproval(state == "on"))
            }
            ("ephemeral", true) => {
                let seconds = c
                    .optional_u64("expiration")
                    .ok()
                    .flatten()
                    .and_then(|e| u32::try_from(e).ok())
                    .ok_or(StanzaError::Missing {
                        part: "ephemeral@expiration",
                    })?;
                GroupRequest::Setting(GroupSetting::Ephemeral(seconds))
            }
            ("not_ephemeral", true) => GroupRequest::Setting(GroupSetting::Ephemeral(0)),
            ("invite", set) if c.optional_str("code").is_some() || to.user.is_empty() => {
                if set {
                    GroupRequest::JoinByLink { code: code()? }
                } else {
                    GroupRequest::InvitePreview { code: code()? }
                }
            }
            ("invite", reset) => GroupRequest::InviteCode { reset },
            ("membership_approval_requests", false) => GroupRequest::JoinRequests,
            ("membership_requests_action", true) => {
                let inner = content.child_nodes().first().ok_or(StanzaError::Missing {
                    part: "membership_requests_action/*",
                })?;
                let action = match inner.tag.as_str() {
                    "approve" => RequestAction::Approve,
                    "reject" => RequestAction::Reject,
                    _ => {
                        return Err(StanzaError::Invalid {
                            part: "membership_requests_action/*",
                            reason: "neither approve nor reject",
                        });
                    }
                };
                GroupRequest::JoinRequestsAction {
                    action,
                    participants: jids(inner)?,
                }
            }
            ("links", true) => GroupRequest::Link {
                group: content
                    .child("link")
                    .filter(|l| l.attrs().optional_str("link_type") == Some("sub_group"))
                    .ok_or(StanzaError::Missing {
                        part: "links/link[sub_group]",
                    })
                    .and_then(|l| group_jid(l, "links/link/group@jid"))?,
            },
            ("unlink", true) => GroupRequest::Unlink {
                group: group_jid(content, "unlink/group@jid")?,
            },
            ("sub_groups", false) => GroupRequest::SubGroups,
            (tag, true) if ParticipantAction::from_tag(tag).is_some() => {
                GroupRequest::Participants {
                    action: ParticipantAction::from_tag(tag).unwrap_or(ParticipantAction::Add),
                    participants: jids(content)?,
                }
            }
            _ => {
                return Err(StanzaError::Invalid {
                    part: "iq/*",
                    reason: "not a group request",
                });
            }
        };
        Ok(GroupIq { to, request })
    }
}

fn setting_node(setting: GroupSetting) -> Node {
    match setting {
        GroupSetting::Announce(true) => Node::new("announcement"),
        GroupSetting::Announce(false) => Node::new("not_announcement"),
        GroupSetting::Locked(true) => Node::new("locked"),
        GroupSetting::Locked(false) => Node::new("unlocked"),
        GroupSetting::JoinApproval(on) => Node::new("membership_approval_mode")
            .children([Node::new("group_join").attr("state", if on { "on" } else { "off" })]),
        GroupSetting::Ephemeral(0) => Node::new("not_ephemeral"),
        GroupSetting::Ephemeral(seconds) => Node::new("ephemeral").attr("expiration", seconds),
    }
}

/// How one participant of a change fared (`error` of its `<participant>` in the answer;
/// Baileys `groupParticipantsUpdate` reads a missing one as 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParticipantOutcome {
    /// Done.
    Ok,
    /// 403: not allowed (their privacy settings refuse being added: an invite is needed).
    Forbidden,
    /// 404: not on WhatsApp, or not in the group (remove, promote, demote).
    NotFound,
    /// 408: they left recently and cannot be added back yet.
    RecentlyLeft,
    /// 409: already in the group.
    AlreadyIn,
    /// Another code.
    Other(u16),
}

impl ParticipantOutcome {
    /// The outcome of an `error` code (none: ok).
    pub fn from_code(code: Option<u16>) -> ParticipantOutcome {
        match code {
            None | Some(200) => ParticipantOutcome::Ok,
            Some(403) => ParticipantOutcome::Forbidden,
            Some(404) => ParticipantOutcome::NotFound,
            Some(408) => ParticipantOutcome::RecentlyLeft,
            Some(409) => ParticipantOutcome::AlreadyIn,
            Some(other) => ParticipantOutcome::Other(other),
        }
    }

    /// The `error` code (none when ok).
    pub fn code(self) -> Option<u16> {
        match self {
            ParticipantOutcome::Ok => None,
            ParticipantOutcome::Forbidden => Some(403),
            ParticipantOutcome::NotFound => Some(404),
            ParticipantOutcome::RecentlyLeft => Some(408),
            ParticipantOutcome::AlreadyIn => Some(409),
            ParticipantOutcome::Other(code) => Some(code),
        }
    }
}

/// One participant of a participant change or join-request action, and how it fared.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParticipantResult {
    /// The participant.
    pub jid: Jid,
    /// How it fared.
    pub outcome: ParticipantOutcome,
}

impl ParticipantResult {
    /// A result.
    pub fn new(jid: Jid, outcome: ParticipantOutcome) -> ParticipantResult {
        ParticipantResult { jid, outcome }
    }

    fn to_node(&self) -> Node {
        Node::new("participant")
            .attr("jid", self.jid.clone())
            .attr_opt("error", self.outcome.code())
    }
}

/// The answer's `<add>` (or `<remove>`, …) listing each participant's result.
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::groups::request::*;
///
/// let results = vec![ParticipantResult::new(Jid::user("201000000002"), ParticipantOutcome::AlreadyIn)];
/// let node = participant_results_node(ParticipantAction::Add, &results);
/// assert_eq!(parse_participant_results(&node, "add").unwrap(), results);
/// ```
pub fn participant_results_node(action: ParticipantAction, results: &[ParticipantResult]) -> Node {
    Node::new(action.tag()).children(results.iter().map(ParticipantResult::to_node))
}

/// The answer to a join-request action: `<membership_requests_action><approve>…`.
pub fn request_results_node(action: RequestAction, results: &[ParticipantResult]) -> Node {
    Node::new("membership_requests_action").children([
        Node::new(action.tag()).children(results.iter().map(ParticipantResult::to_node))
    ])
}

/// Reads the per-participant results under `<tag>` of an answer's child (or the node itself
/// when it is `<tag>`).
pub fn parse_participant_results(
    node: &Node,
    tag: &str,
) -> Result<Vec<ParticipantResult>, StanzaError> {
    let list = if node.tag == tag {
        node
    } else {
        node.child(tag)
            .ok_or(StanzaError::Missing { part: "results" })?
    };
    list.children_by_tag("participant")
        .map(|p| {
            let attrs = p.attrs();
            let jid = attrs.jid("jid").map_err(|_| StanzaError::Missing {
                part: "participant@jid",
            })?;
            let code = attrs
                .optional_u64("error")
                .ok()
                .flatten()
                .and_then(|c| u16::try_from(c).ok());
            Ok(ParticipantResult::new(
                jid,
                ParticipantOutcome::from_code(code),
            ))
        })
        .collect()
}

/// Reads the answer to a join-request action.
pub fn parse_request_results(
    answer: &Node,
    action: RequestAction,
) -> Result<Vec<ParticipantResult>, StanzaError> {
    let outer = answer
        .child("membership_requests_action")
        .ok_or(StanzaError::Missing {
            part: "membership_requests_action",
        })?;
    parse_participant_results(outer, action.tag())
}

/// A pending request to join (`<membership_approval_request jid request_time>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinRequest {
    /// Who asks.
    pub jid: Jid,
    /// When, unix seconds.
    pub requested_at: u64,
}

impl JoinRequest {
    /// A request.
    pub fn new(jid: Jid, requested_at: u64) -> JoinRequest {
        JoinRequest { jid, requested_at }
    }
}

/// `<membership_approval_requests>` listing the requests.
pub fn join_requests_node(requests: &[JoinRequest]) -> Node {
    Node::new("membership_approval_requests").children(requests.iter().map(|r| {
        Node::new("membership_approval_request")
            .attr("jid", r.jid.clone())
            .attr("request_time", r.requested_at)
    }))
}

/// Reads the join requests of an answer.
pub fn parse_join_requests(answer: &Node) -> Result<Vec<JoinRequest>, StanzaError> {
    let list = answer
        .child("membership_approval_requests")
        .ok_or(StanzaError::Missing {
            part: "membership_approval_requests",
        })?;
    list.children_by_tag("membership_approval_request")
        .map(|r| {
            let attrs = r.attrs();
            Ok(JoinRequest {
                jid: attrs.jid("jid").map_err(|_| StanzaError::Missing {
                    part: "membership_approval_request@jid",
                })?,
                requested_at: attrs
                    .optional_u64("request_time")
                    .ok()
                    .flatten()
                    .unwrap_or(0),
            })
        })
        .collect()
}

/// What joining by link did: joined, or asked to join (the group needs approval; whatsmeow
/// `JoinGroupWithLink` reads `<membership_approval_request jid>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinOutcome {
    /// A member now (`<group jid>`).
    Joined(Jid),
    /// Waiting for an admin's approval.
    Requested(Jid),
}

impl JoinOutcome {
    /// The answer's child.
    pub fn to_node(&self) -> Node {
        match self {
            JoinOutcome::Joined(g) => Node::new("group").attr("jid", g.clone()),
            JoinOutcome::Requested(g) => {
                Node::new("membership_approval_request").attr("jid", g.clone())
            }
        }
    }

    /// Reads the answer to a join by link.
    pub fn parse(answer: &Node) -> Result<JoinOutcome, StanzaError> {
        if let Some(jid) = answer
            .child("membership_approval_request")
            .and_then(|r| r.attrs().jid("jid").ok())
        {
            return Ok(JoinOutcome::Requested(jid));
        }
        answer
            .child("group")
            .and_then(|g| g.attrs().jid("jid").ok())
            .map(JoinOutcome::Joined)
            .ok_or(StanzaError::Missing { part: "group@jid" })
    }
}

/// A community's group (`<sub_groups><group id subject>`, whatsmeow
/// `parseGroupLinkTargetNode`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubGroup {
    /// The group.
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// The community's announcement group (`<default_sub_group/>`).
    pub default: bool,
}

impl SubGroup {
    /// A sub-group.
    pub fn new(jid: Jid, subject: impl Into<String>) -> SubGroup {
        SubGroup {
            jid,
            subject: subject.into(),
            default: false,
        }
    }

    /// `<group id subject>`.
    pub fn to_node(&self) -> Node {
        let node = Node::new("group")
            .attr("id", self.jid.user.clone())
            .attr("subject", self.subject.clone());
        if self.default {
            node.children([Node::new("default_sub_group")])
        } else {
            node
        }
    }

    /// Reads a `<group>` of a sub-group list or link change.
    pub fn parse(node: &Node) -> Result<SubGroup, StanzaError> {
        let attrs = node.attrs();
        let jid = match attrs.optional_jid("jid").ok().flatten() {
            Some(jid) => jid,
            None => Jid::new(
                attrs
                    .optional_string("id")
                    .ok_or(StanzaError::Missing { part: "group@id" })?,
                Server::Group,
            ),
        };
        Ok(SubGroup {
            jid,
            subject: attrs.optional_string("subject").unwrap_or_default(),
            default: node.child("default_sub_group").is_some(),
        })
    }
}

/// Reads `<sub_groups>`.
pub fn parse_sub_groups(answer: &Node) -> Result<Vec<SubGroup>, StanzaError> {
    answer
        .child("sub_groups")
        .ok_or(StanzaError::Missing { part: "sub_groups" })?
        .children_by_tag("group")
        .map(SubGroup::parse)
        .collect()
}

/// The answer of a `<create>`, an info query or an invite preview: its `<group>`.
pub fn parse_group_answer(answer: &Node) -> Result<GroupInfo, StanzaError> {
    GroupInfo::parse(
        answer
            .child("group")
            .ok_or(StanzaError::Missing { part: "group" })?,
    )
}

/// The invite code of an `<invite code>` answer.
pub fn parse_invite_code(answer: &Node) -> Result<String, StanzaError> {
    answer
        .child("invite")
        .and_then(|i| i.attrs().optional_string("code"))
        .filter(|c| !c.is_empty())
        .ok_or(StanzaError::Missing {
            part: "invite@code",
        })
}

/// The group picture IQ (`w:profile:picture` set with `target`; whatsmeow `SetGroupPhoto`):
/// `picture` the JPEG, `None` removes it.
pub fn picture_iq(group: &Jid, picture: Option<&[u8]>) -> Node {
    let iq = Node::new("iq")
        .attr("xmlns", "w:profile:picture")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .attr("target", group.clone());
    match picture {
        Some(bytes) => iq.children([Node::new("picture")
            .attr("type", "image")
            .bytes(bytes.to_vec())]),
        None => iq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Jid {
        Jid::new("120363000000000001", Server::Group)
    }

    #[test]
    fn every_request_reads_back_as_sent() {
        let them = vec![Jid::user("201000000002"), Jid::new("77", Server::Lid)];
        let requests = [
            GroupIq::server(GroupRequest::Create {
                subject: "Zamalek".into(),
                participants: them.clone(),
                community: false,
                linked_parent: Some(group()),
            }),
            GroupIq::server(GroupRequest::Create {
                subject: "All branches".into(),
                participants: vec![],
                community: true,
                linked_parent: None,
            }),
            GroupIq::new(group(), GroupRequest::Info),
            GroupIq::server(GroupRequest::Participating),
            GroupIq::server(GroupRequest::Leave {
                groups: vec![group()],
            }),
            GroupIq::new(group(), GroupRequest::Subject("Zamalek 2".into())),
            GroupIq::new(
                group(),
                GroupRequest::Description {
                    id: "D2".into(),
                    prev: Some("D1".into()),
                    body: Some("open late".into()),
                },
            ),
            GroupIq::new(
                group(),
                GroupRequest::Description {
                    id: "D3".into(),
                    prev: Some("D2".into()),
                    body: None,
                },
            ),
            GroupIq::new(group(), GroupRequest::InviteCode { reset: true }),
            GroupIq::new(group(), GroupRequest::InviteCode { reset: false }),
            GroupIq::server(GroupRequest::InvitePreview { code: "AbC".into() }),
            GroupIq::server(GroupRequest::JoinByLink { code: "AbC".into() }),
            GroupIq::new(group(), GroupRequest::JoinRequests),
            GroupIq::new(
                group(),
                GroupRequest::JoinRequestsAction {
                    action: RequestAction::Reject,
                    participants: them.clone(),
                },
            ),
            GroupIq::new(group(), GroupRequest::Link { group: group() }),
            GroupIq::new(group(), GroupRequest::Unlink { group: group() }),
            GroupIq::new(group(), GroupRequest::SubGroups),
        ];
        let settings = [
            GroupSetting::Announce(true),
            GroupSetting::Announce(false),
            GroupSetting::Locked(true),
            GroupSetting::Locked(false),
            GroupSetting::JoinApproval(true),
            GroupSetting::JoinApproval(false),
            GroupSetting::Ephemeral(604_800),
            GroupSetting::Ephemeral(0),
        ]
        .map(|s| GroupIq::new(group(), GroupRequest::Setting(s)));
        let actions = [
            ParticipantAction::Add,
            ParticipantAction::Remove,
            ParticipantAction::Promote,
            ParticipantAction::Demote,
        ]
        .map(|action| {
            GroupIq::new(
                group(),
                GroupRequest::Participants {
                    action,
                    participants: them.clone(),
                },
            )
        });
        for iq in requests.iter().chain(&settings).chain(&actions) {
            let node = iq.to_node();
            assert!(
                crate::stanza::jid_attrs::text_jids(&node).is_empty(),
                "{node:?}"
            );
            assert_eq!(&GroupIq::parse(&node).unwrap(), iq, "{node:?}");
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        let iq = |kind: &str, child: Node| {
            Node::new("iq")
                .attr("xmlns", NAMESPACE)
                .attr("type", kind.to_owned())
                .attr("to", group())
                .children([child])
        };
        // A description change with neither body nor delete, a promotion without jids, an
        // unknown tag, a get that is a set.
        for bad in [
            iq("set", Node::new("description").attr("id", "D")),
            iq(
                "set",
                Node::new("promote").children([Node::new("participant")]),
            ),
            iq("set", Node::new("frobnicate")),
            iq("get", Node::new("leave")),
            Node::new("iq").attr("xmlns", "w:g2").attr("type", "get"),
        ] {
            assert!(GroupIq::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_read_back() {
        let results = vec![
            ParticipantResult::new(Jid::user("1"), ParticipantOutcome::Ok),
            ParticipantResult::new(Jid::user("2"), ParticipantOutcome::RecentlyLeft),
        ];
        let answer =
            Node::new("iq").children([request_results_node(RequestAction::Approve, &results)]);
        assert_eq!(
            parse_request_results(&answer, RequestAction::Approve).unwrap(),
            results
        );
        let requests = vec![JoinRequest::new(Jid::user("3"), 1_700_000_000)];
        let answer = Node::new("iq").children([join_requests_node(&requests)]);
        assert_eq!(parse_join_requests(&answer).unwrap(), requests);
        for outcome in [
            JoinOutcome::Joined(group()),
            JoinOutcome::Requested(group()),
        ] {
            let answer = Node::new("iq").children([outcome.to_node()]);
            assert_eq!(JoinOutcome::parse(&answer).unwrap(), outcome);
        }
        let mut sub = SubGroup::new(group(), "Announcements");
        sub.default = true;
        let answer = Node::new("iq").children([Node::new("sub_groups").children([sub.to_node()])]);
        assert_eq!(parse_sub_groups(&answer).unwrap(), vec![sub]);
        let answer = Node::new("iq").children([Node::new("invite").attr("code", "XyZ")]);
        assert_eq!(parse_invite_code(&answer).unwrap(), "XyZ");
    }
}
