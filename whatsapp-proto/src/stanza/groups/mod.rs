//! Groups and communities (`w:g2` IQs, `w:gp2` notifications; whatsmeow `group.go`, Baileys
//! `src/Socket/groups.ts`): a group's info as the server describes it ([`GroupInfo`]), the
//! requests a member or admin makes ([`request`]) and the changes the server announces
//! ([`change`]). The client builds and reads these; the simulated server reads and builds
//! the same ones.

pub mod change;
pub mod request;

use super::StanzaError;
use crate::binary::Node;
use crate::jid::{Jid, Server};

/// The namespace of group IQs.
pub const NAMESPACE: &str = "w:g2";
/// What an invite code is shared behind (whatsmeow `group.go InviteLinkPrefix`).
pub const INVITE_LINK_PREFIX: &str = "https://chat.whatsapp.com/";

/// `g.us`, where requests that name no group (create, leave, join by link) go.
pub fn group_server() -> Jid {
    Jid::new("", Server::Group)
}

/// The invite code of a link (`https://chat.whatsapp.com/CODE` or the bare code).
///
/// ```
/// use whatsapp_proto::stanza::groups::invite_code;
/// assert_eq!(invite_code("https://chat.whatsapp.com/AbC123"), "AbC123");
/// assert_eq!(invite_code("AbC123"), "AbC123");
/// ```
pub fn invite_code(link: &str) -> &str {
    link.trim()
        .strip_prefix(INVITE_LINK_PREFIX)
        .unwrap_or(link.trim())
}

/// A participant's standing (`type` of `<participant>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Role {
    /// A member.
    #[default]
    Member,
    /// An admin (`type="admin"`).
    Admin,
    /// The creator (`type="superadmin"`).
    SuperAdmin,
}

impl Role {
    fn parse(value: Option<&str>) -> Role {
        match value {
            Some("admin") => Role::Admin,
            Some("superadmin") => Role::SuperAdmin,
            _ => Role::Member,
        }
    }

    fn wire(self) -> Option<&'static str> {
        match self {
            Role::Member => None,
            Role::Admin => Some("admin"),
            Role::SuperAdmin => Some("superadmin"),
        }
    }

    /// Whether the participant may change the group.
    pub fn is_admin(self) -> bool {
        self != Role::Member
    }
}

/// A `<participant>` of a group: its JID in the group's addressing form, the other form
/// when the server gives it (`phone_number` beside a LID, `lid` beside a phone number;
/// whatsmeow `parseParticipant`), and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Participant {
    /// As the group addresses it.
    pub jid: Jid,
    /// The other address form, if given.
    pub alt: Option<Jid>,
    /// Member, admin or creator.
    pub role: Role,
}

impl Participant {
    /// A participant with no alternate address.
    pub fn new(jid: Jid, role: Role) -> Participant {
        Participant {
            jid,
            alt: None,
            role,
        }
    }

    /// With the other address form.
    pub fn with_alt(mut self, alt: Jid) -> Participant {
        self.alt = Some(alt);
        self
    }

    /// Reads a `<participant>`.
    pub fn parse(node: &Node) -> Result<Participant, StanzaError> {
        let attrs = node.attrs();
        let jid = attrs.jid("jid").map_err(|_| StanzaError::Missing {
            part: "participant@jid",
        })?;
        let alt_key = if jid.server == Server::Lid {
            "phone_number"
        } else {
            "lid"
        };
        Ok(Participant {
            alt: attrs.optional_jid(alt_key).ok().flatten(),
            role: Role::parse(attrs.optional_str("type")),
            jid,
        })
    }

    /// `<participant jid type? lid|phone_number?>`.
    pub fn to_node(&self) -> Node {
        let alt_key = if self.jid.server == Server::Lid {
            "phone_number"
        } else {
            "lid"
        };
        let mut node = Node::new("participant").attr("jid", self.jid.clone());
        if let Some(role) = self.role.wire() {
            node = node.attr("type", role);
        }
        if let Some(alt) = &self.alt {
            node = node.attr(alt_key, alt.clone());
        }
        node
    }
}

/// A group's description (`<description id><body>`), whose `id` a change names as `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Description {
    /// Its id (the server refuses a change whose `prev` is not this one).
    pub id: String,
    /// The text.
    pub body: String,
    /// Who set it, if told.
    pub by: Option<Jid>,
    /// When, unix seconds.
    pub at: u64,
}

impl Description {
    /// A description with its id and text.
    pub fn new(id: impl Into<String>, body: impl Into<String>) -> Description {
        Description {
            id: id.into(),
            body: body.into(),
            by: None,
            at: 0,
        }
    }
}

/// A group as `<group>` describes it (info queries, create answers, invite previews, the
/// `<create>` notification; whatsmeow `parseGroupNode`).
///
/// ```
/// use whatsapp_proto::jid::{Jid, Server};
/// use whatsapp_proto::stanza::groups::{GroupInfo, Participant, Role};
///
/// let mut info = GroupInfo::new(Jid::new("120363000000000001", Server::Group), "Branch 3");
/// info.participants.push(Participant::new(Jid::user("201000000001"), Role::SuperAdmin));
/// info.announce = true;
/// let read = GroupInfo::parse(&info.to_node()).unwrap();
/// assert_eq!(read, info);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group (`id@g.us`).
    pub jid: Jid,
    /// Its name.
    pub subject: String,
    /// When the name was set, unix seconds.
    pub subject_at: u64,
    /// Who set it.
    pub subject_by: Option<Jid>,
    /// The creator.
    pub creator: Option<Jid>,
    /// When it was created, unix seconds.
    pub created: u64,
    /// Its description.
    pub description: Option<Description>,
    /// Only admins may post (`<announcement/>`).
    pub announce: bool,
    /// Only admins may edit the info (`<locked/>`).
    pub locked: bool,
    /// Disappearing-messages timer in seconds (`<ephemeral expiration>`), if on.
    pub ephemeral: Option<u32>,
    /// Joining needs an admin's approval (`<membership_approval_mode>`).
    pub join_approval: bool,
    /// A community (`<parent/>`).
    pub community: bool,
    /// The community this group belongs to (`<linked_parent jid>`).
    pub linked_parent: Option<Jid>,
    /// Addressed by LID (`addressing_mode="lid"`).
    pub lid_addressed: bool,
    /// The participants (the whole list; a preview may carry none).
    pub participants: Vec<Participant>,
    /// How many participants, as the server counts them.
    pub size: Option<u64>,
}

impl GroupInfo {
    /// A group with a name and nothing else set.
    pub fn new(jid: Jid, subject: impl Into<String>) -> GroupInfo {
        GroupInfo {
            jid,
            subject: subject.into(),
            subject_at: 0,
            subject_by: None,
            creator: None,
            created: 0,
            description: None,
            announce: false,
            locked: false,
            ephemeral: None,
            join_approval: false,
            community: false,
            linked_parent: None,
            lid_addressed: false,
            participants: Vec::new(),
            size: None,
        }
    }

    /// Reads a `<group>` (`id` the bare group id, or a `jid`).
    pub fn parse(node: &Node) -> Result<GroupInfo, StanzaError> {
        let attrs = node.attrs();
        let jid = match attrs.optional_jid("jid").ok().flatten() {
            Some(jid) => jid,
            None => {
                let id = attrs
                    .optional_string("id")
                    .ok_or(StanzaError::Missing { part: "group@id" })?;
                let user = id.strip_suffix("@g.us").unwrap_or(&id).to_owned();
                if user.is_empty() || !user.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    return Err(StanzaError::Invalid {
                        part: "group@id",
                        reason: "not a group id",
                    });
                }
                Jid::new(user, Server::Group)
            }
        };
        let number = |key: &str| attrs.optional_u64(key).ok().flatten();
        let mut info = GroupInfo::new(jid, attrs.optional_string("subject").unwrap_or_default());
        info.subject_at = number("s_t").unwrap_or(0);
        info.subject_by = attrs.optional_jid("s_o").ok().flatten();
        info.creator = attrs.optional_jid("creator").ok().flatten();
        info.created = number("creation").unwrap_or(0);
        info.size = number("size");
        info.lid_addressed = attrs.optional_str("addressing_mode") == Some("lid");
        for child in node.child_nodes() {
            let c = child.attrs();
            match child.tag.as_str() {
                "participant" => info.participants.push(Participant::parse(child)?),
                "description" => {
                    if let Some(body) = child.child("body").and_then(Node::content_bytes) {
                        info.description = Some(Description {
                            id: c.optional_string("id").unwrap_or_default(),
                            body: String::from_utf8_lossy(body).into_owned(),
                            by: c.optional_jid("participant").ok().flatten(),
                            at: c.optional_u64("t").ok().flatten().unwrap_or(0),
                        });
                    }
                }
                "announcement" => info.announce = true,
                "locked" => info.locked = true,
                "ephemeral" => {
                    info.ephemeral = c
                        .optional_u64("expiration")
                        .ok()
                        .flatten()
                        .and_then(|e| u32::try_from(e).ok())
                        .filter(|e| *e > 0)
                }
                "membership_approval_mode" => info.join_approval = true,
                "parent" => info.community = true,
                "linked_parent" => info.linked_parent = c.optional_jid("jid").ok().flatten(),
                _ => {}
            }
        }
        Ok(info)
    }

    /// `<group>` as the server writes it.
    pub fn to_node(&self) -> Node {
        let mut children: Vec<Node> = self.participants.iter().map(Participant::to_node).collect();
        if let Some(d) = &self.description {
            children.push(
                Node::new("description")
                    .attr("id", d.id.clone())
                    .attr("t", d.at)
                    .attr_opt("participant", d.by.clone())
                    .children([Node::new("body").bytes(d.body.as_bytes().to_vec())]),
            );
        }
        if self.announce {
            children.push(Node::new("announcement"));
        }
        if self.locked {
            children.push(Node::new("locked"));
        }
        if let Some(e) = self.ephemeral {
            children.push(Node::new("ephemeral").attr("expiration", e));
        }
        if self.join_approval {
            children.push(
                Node::new("membership_approval_mode")
                    .children([Node::new("group_join").attr("state", "on")]),
            );
        }
        if self.community {
            children.push(Node::new("parent"));
        }
        if let Some(parent) = &self.linked_parent {
            children.push(Node::new("linked_parent").attr("jid", parent.clone()));
        }
        Node::new("group")
            .attr("id", self.jid.user.clone())
            .attr("subject", self.subject.clone())
            .attr("s_t", self.subject_at)
            .attr_opt("s_o", self.subject_by.clone())
            .attr("creation", self.created)
            .attr_opt("creator", self.creator.clone())
            .attr(
                "addressing_mode",
                if self.lid_addressed { "lid" } else { "pn" },
            )
            .attr_opt("size", self.size)
            .children(children)
    }

    /// The participant with this JID (in either address form).
    pub fn participant(&self, jid: &Jid) -> Option<&Participant> {
        let jid = jid.to_non_ad();
        self.participants
            .iter()
            .find(|p| p.jid == jid || p.alt.as_ref() == Some(&jid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_node_reads_back_with_every_setting() {
        let mut info = GroupInfo::new(Jid::new("120363000000000001", Server::Group), "Maadi");
        info.participants = vec![
            Participant::new(Jid::new("11", Server::Lid), Role::SuperAdmin)
                .with_alt(Jid::user("201000000001")),
            Participant::new(Jid::new("12", Server::Lid), Role::Member),
        ];
        info.lid_addressed = true;
        info.description = Some(Description::new("D1", "open 9-5"));
        info.locked = true;
        info.ephemeral = Some(86_400);
        info.join_approval = true;
        info.linked_parent = Some(Jid::new("120363000000000002", Server::Group));
        info.size = Some(2);
        let node = info.to_node();
        assert!(crate::stanza::jid_attrs::text_jids(&node).is_empty());
        assert_eq!(GroupInfo::parse(&node).unwrap(), info);
        assert_eq!(
            info.participant(&Jid::user("201000000001")).map(|p| p.role),
            Some(Role::SuperAdmin)
        );
        // A group id that is not one is refused.
        let bad = Node::new("group").attr("id", "abc");
        assert!(GroupInfo::parse(&bad).is_err());
    }
}
