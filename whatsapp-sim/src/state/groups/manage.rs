//! The `w:g2` requests that change a group: create, participants, leave, subject,
//! description, settings, invite links and join requests, and the group picture
//! (`w:profile:picture` with a group `target`). Each answers as the real server does,
//! refusals as `<error code text>` (codes as whatsmeow `group.go` and whatsapp-rust
//! `wacore/src/iq/groups.rs` map them).

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use tracing::info;
use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::stanza::groups::change::GroupChange;
use whatsapp_proto::stanza::groups::request::{
    GroupIq, GroupRequest, GroupSetting, JoinOutcome, JoinRequest, ParticipantAction,
    ParticipantOutcome, ParticipantResult, RequestAction, join_requests_node,
    participant_results_node, request_results_node,
};
use whatsapp_proto::stanza::groups::{Description, INVITE_LINK_PREFIX, Role};

use super::super::{State, iq_error, iq_result, now_unix};
use super::Group;

/// A refusal: the `<error code text>` of the answer.
pub(in crate::state) type Refusal = (u16, &'static str);

const BAD_REQUEST: Refusal = (400, "bad-request");
const NOT_AUTHORIZED: Refusal = (401, "not-authorized");
const FORBIDDEN: Refusal = (403, "forbidden");
pub(super) const NOT_FOUND: Refusal = (404, "item-not-found");
const NOT_ACCEPTABLE: Refusal = (406, "not-acceptable");
pub(super) const CONFLICT: Refusal = (409, "conflict");
const GONE: Refusal = (410, "gone");
/// Joining a group one is in (whatsapp-rust `GroupJoinError::AlreadyMember`; the text is a
/// guess).
const ALREADY_MEMBER: Refusal = (304, "not-modified");

/// Longest subject in characters (guess: WhatsApp's apps stop typing at 100).
const MAX_SUBJECT: usize = 100;
/// Longest description in characters (guess: the apps stop at 2048).
const MAX_DESCRIPTION: usize = 2048;

impl State {
    /// Records a new group (`creator` its super-admin) and tells its members' devices with
    /// a `<create>` notification. Returns its id.
    pub(super) fn new_group(
        &mut self,
        creator: &str,
        subject: &str,
        participants: &[String],
        lid_mode: bool,
        community: bool,
        parent: Option<String>,
    ) -> String {
        let mut members = vec![creator.to_owned()];
        for p in participants {
            if !members.contains(p) {
                members.push(p.clone());
            }
        }
        let id = format!("120363{:012}", OsRng.gen_range(0..1_000_000_000_000u64));
        let now = now_unix();
        self.groups.insert(
            id.clone(),
            Group {
                subject: subject.to_owned(),
                subject_at: now,
                subject_by: Some(creator.to_owned()),
                creator: creator.to_owned(),
                created: now,
                participants: members.clone(),
                lid_mode,
                community,
                parent,
                ..Group::default()
            },
        );
        if let Some(info) = self.group_info(&id) {
            self.notify_group(
                &id,
                creator,
                vec![GroupChange::Created(Box::new(info))],
                &members,
            );
        }
        info!(id, creator, subject, "group created");
        id
    }

    /// The answer to a `w:g2` IQ from a device.
    pub(in crate::state) fn group_iq(&mut self, by: &str, id: &str, node: &Node) -> Node {
        let Ok(iq) = GroupIq::parse(node) else {
            return iq_error(id, BAD_REQUEST.0, BAD_REQUEST.1);
        };
        match self.run_group_request(by, iq) {
            Ok(children) => iq_result(id)
                .attr(
                    "from",
                    node.attrs().jid("to").unwrap_or_else(|_| Jid::server_jid()),
                )
                .children(children),
            Err((code, text)) => iq_error(id, code, text),
        }
    }

    pub(super) fn run_group_request(
        &mut self,
        by: &str,
        iq: GroupIq,
    ) -> Result<Vec<Node>, Refusal> {
        let GroupIq { to, request } = iq;
        let server_level = to.user.is_empty();
        match request {
            GroupRequest::Create {
                subject,
                participants,
                community,
                linked_parent,
            } => self.create_request(by, &subject, &participants, community, linked_parent),
            GroupRequest::Participating => {
                let groups: Vec<Node> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| g.participants.iter().any(|p| p == by))
                    .filter_map(|(gid, _)| self.group_node(gid))
                    .collect();
                Ok(vec![Node::new("groups").children(groups)])
            }
            GroupRequest::Leave { groups } => self.leave(by, &groups),
            GroupRequest::InvitePreview { code } => {
                let gid = self.group_of_invite(&code)?;
                let mut info = self.group_info(&gid).ok_or(NOT_FOUND)?;
                // guess: a preview names the group and its size, not its members.
                info.participants.clear();
                Ok(vec![info.to_node()])
            }
            GroupRequest::JoinByLink { code } => self.join_by_link(by, &code),
            _ if server_level => Err(BAD_REQUEST),
            request => {
                let gid = to.user.clone();
                let group = self.groups.get(&gid).ok_or(NOT_FOUND)?;
                if !group.participants.iter().any(|p| p == by) {
                    // whatsmeow maps 403 on a group request to `ErrNotInGroup`.
                    return Err(FORBIDDEN);
                }
                match request {
                    GroupRequest::Info => Ok(self.group_node(&gid).into_iter().collect()),
                    GroupRequest::Participants {
                        action,
                        participants,
                    } => self.change_participants(by, &gid, action, &participants),
                    GroupRequest::Subject(subject) => self.set_subject(by, &gid, subject),
                    GroupRequest::Description { id, prev, body } => {
                        self.set_description(by, &gid, id, prev, body)
                    }
                    GroupRequest::Setting(setting) => self.set_setting(by, &gid, setting),
                    GroupRequest::InviteCode { reset } => self.invite_code(by, &gid, reset),
                    GroupRequest::JoinRequests => {
                        let group = self.admin_group(by, &gid)?;
                        let lid_mode = group.lid_mode;
                        let requests: Vec<JoinRequest> = group
                            .requests
                            .iter()
                            .filter_map(|(pn, t)| {
                                let a = self.accounts.get(pn)?;
                                let jid = if lid_mode { a.lid_jid() } else { a.pn_jid() };
                                Some(JoinRequest::new(jid, *t))
                            })
                            .collect();
                        Ok(vec![join_requests_node(&requests)])
                    }
                    GroupRequest::JoinRequestsAction {
                        action,
                        participants,
                    } => self.answer_requests(by, &gid, action, &participants),
                    GroupRequest::Link { group } => self.link(by, &gid, &group),
                    GroupRequest::Unlink { group } => self.unlink(by, &gid, &group),
                    GroupRequest::SubGroups => self.sub_groups(&gid),
                    _ => Err(BAD_REQUEST),
                }
            }
        }
    }

    /// The group, if `by` is one of its admins (403 otherwise).
    pub(super) fn admin_group(&self, by: &str, gid: &str) -> Result<&Group, Refusal> {
        let group = self.groups.get(gid).ok_or(NOT_FOUND)?;
        if group.is_admin(by) {
            Ok(group)
        } else {
            Err(FORBIDDEN)
        }
    }

    /// The account a participant JID (phone number or LID) names.
    fn account_of(&self, jid: &Jid) -> Option<String> {
        self.resolve(&jid.to_non_ad()).map(|k| k.0)
    }

    /// A participant change's notification entries, in the group's addressing form.
    fn participants_of(
        &self,
        gid: &str,
        pns: &[String],
    ) -> Vec<whatsapp_proto::stanza::groups::Participant> {
        let lid_mode = self.groups.get(gid).is_some_and(|g| g.lid_mode);
        pns.iter()
            .filter_map(|pn| self.accounts.get(pn))
            .map(|a| a.participant(lid_mode, Role::Member))
            .collect()
    }

    fn create_request(
        &mut self,
        by: &str,
        subject: &str,
        participants: &[Jid],
        community: bool,
        linked_parent: Option<Jid>,
    ) -> Result<Vec<Node>, Refusal> {
        if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT {
            return Err(BAD_REQUEST);
        }
        let parent = match linked_parent {
            Some(parent) => {
                let group = self.admin_group(by, &parent.user)?;
                if !group.community {
                    return Err(BAD_REQUEST);
                }
                Some(parent.user)
            }
            None => None,
        };
        // guess: numbers not on WhatsApp are left out of the new group.
        let members: Vec<String> = participants
            .iter()
            .filter_map(|j| self.account_of(j))
            .filter(|pn| pn != by)
            .collect();
        let lid_mode = participants.iter().any(|j| j.server == Server::Lid);
        let id = self.new_group(by, subject, &members, lid_mode, community, parent.clone());
        if let Some(parent) = parent {
            let sub = self.sub_group(&id);
            let to = self
                .groups
                .get(&parent)
                .map(|g| g.participants.clone())
                .unwrap_or_default();
            self.notify_group(&parent, by, vec![GroupChange::Linked(sub)], &to);
        }
        Ok(self.group_node(&id).into_iter().collect())
    }

    fn change_participants(
        &mut self,
        by: &str,
        gid: &str,
        action: ParticipantAction,
        jids: &[Jid],
    ) -> Result<Vec<Node>, Refusal> {
        let group = self.admin_group(by, gid)?;
        let mut results = Vec::new();
        let mut changed: Vec<String> = Vec::new();
        for jid in jids {
            let pn = self.account_of(jid);
            let outcome = match (action, &pn) {
                (_, None) => ParticipantOutcome::NotFound,
                (ParticipantAction::Add, Some(pn)) if group.participants.contains(pn) => {
                    ParticipantOutcome::AlreadyIn
                }
                (ParticipantAction::Add, Some(_)) => ParticipantOutcome::Ok,
                (_, Some(pn)) if !group.participants.contains(pn) => ParticipantOutcome::NotFound,
                // guess: no one removes or demotes the group's creator.
                (ParticipantAction::Remove | ParticipantAction::Demote, Some(pn))
                    if *pn == group.creator && pn != by =>
                {
                    ParticipantOutcome::Forbidden
                }
                _ => ParticipantOutcome::Ok,
            };
            if let (ParticipantOutcome::Ok, Some(pn)) = (outcome, pn)
                && !changed.contains(&pn)
            {
                changed.push(pn);
            }
            results.push(ParticipantResult::new(jid.to_non_ad(), outcome));
        }
        let before = group.participants.clone();
        if let Some(g) = self.groups.get_mut(gid) {
            for pn in &changed {
                match action {
                    ParticipantAction::Add => {
                        g.participants.push(pn.clone());
                        g.requests.remove(pn);
                    }
                    ParticipantAction::Remove => {
                        g.participants.retain(|p| p != pn);
                        g.admins.remove(pn);
                    }
                    ParticipantAction::Promote => {
                        g.admins.insert(pn.clone());
                    }
                    _ => {
                        g.admins.remove(pn);
                    }
                }
            }
        }
        if !changed.is_empty() {
            let mut to = before;
            to.extend(
                changed
                    .iter()
                    .filter(|p| !to.contains(p))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let change = GroupChange::Participants {
                action,
                participants: self.participants_of(gid, &changed),
                reason: None,
            };
            self.notify_group(gid, by, vec![change], &to);
            info!(gid, by, ?action, ?changed, "group participants changed");
        }
        Ok(vec![participant_results_node(action, &results)])
    }

    fn leave(&mut self, by: &str, groups: &[Jid]) -> Result<Vec<Node>, Refusal> {
        let mine: Vec<String> = groups
            .iter()
            .filter(|g| {
                self.groups
                    .get(&g.user)
                    .is_some_and(|g| g.participants.iter().any(|p| p == by))
            })
            .map(|g| g.user.clone())
            .collect();
        if mine.is_empty() {
            return Err(NOT_FOUND);
        }
        for gid in &mine {
            let before = self
                .groups
                .get(gid)
                .map(|g| g.participants.clone())
                .unwrap_or_default();
            let change = GroupChange::Participants {
                action: ParticipantAction::Remove,
                participants: self.participants_of(gid, &[by.to_owned()]),
                reason: None,
            };
            if let Some(g) = self.groups.get_mut(gid) {
                g.participants.retain(|p| p != by);
                g.admins.remove(by);
                g.requests.remove(by);
            }
            self.notify_group(gid, by, vec![change], &before);
            info!(gid, by, "left the group");
        }
        Ok(vec![Node::new("leave").children(mine.into_iter().map(
            |g| Node::new("group").attr("id", Jid::new(g, Server::Group)),
        ))])
    }

    /// `by` may edit the group's info: anyone in it, only admins when it is locked.
    fn editable_group(&mut self, by: &str, gid: &str) -> Result<&mut Group, Refusal> {
        let group = self.groups.get_mut(gid).ok_or(NOT_FOUND)?;
        if group.locked && !group.is_admin(by) {
            return Err(FORBIDDEN);
        }
        Ok(group)
    }

    fn set_subject(&mut self, by: &str, gid: &str, subject: String) -> Result<Vec<Node>, Refusal> {
        if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT {
            return Err(BAD_REQUEST);
        }
        let group = self.editable_group(by, gid)?;
        group.subject = subject.clone();
        group.subject_at = now_unix();
        group.subject_by = Some(by.to_owned());
        let to = group.participants.clone();
        self.notify_group(gid, by, vec![GroupChange::Subject(subject)], &to);
        Ok(Vec::new())
    }

    fn set_description(
        &mut self,
        by: &str,
        gid: &str,
        id: String,
        prev: Option<String>,
        body: Option<String>,
    ) -> Result<Vec<Node>, Refusal> {
        if body
            .as_ref()
            .is_some_and(|b| b.chars().count() > MAX_DESCRIPTION)
        {
            return Err(BAD_REQUEST);
        }
        let by_jid = self.accounts.get(by).map(|a| a.pn_jid());
        let group = self.editable_group(by, gid)?;
        // `prev` must name the description replaced (whatsapp-rust `PreviousDescription`:
        // the server answers 409 conflict otherwise).
        if prev != group.description.as_ref().map(|d| d.id.clone()) {
            return Err(CONFLICT);
        }
        group.description = body.clone().map(|b| {
            let mut d = Description::new(id.clone(), b);
            d.by = by_jid;
            d.at = now_unix();
            d
        });
        let to = group.participants.clone();
        self.notify_group(gid, by, vec![GroupChange::Description { id, body }], &to);
        Ok(Vec::new())
    }

    fn set_setting(
        &mut self,
        by: &str,
        gid: &str,
        setting: GroupSetting,
    ) -> Result<Vec<Node>, Refusal> {
        self.admin_group(by, gid)?;
        let Some(group) = self.groups.get_mut(gid) else {
            return Err(NOT_FOUND);
        };
        let change = match setting {
            GroupSetting::Announce(on) => {
                group.announce = on;
                GroupChange::Announce(on)
            }
            GroupSetting::Locked(on) => {
                group.locked = on;
                GroupChange::Locked(on)
            }
            GroupSetting::JoinApproval(on) => {
                group.join_approval = on;
                GroupChange::JoinApproval(on)
            }
            GroupSetting::Ephemeral(seconds) => {
                group.ephemeral = seconds;
                GroupChange::Ephemeral(seconds)
            }
            _ => return Err(BAD_REQUEST),
        };
        let to = group.participants.clone();
        self.notify_group(gid, by, vec![change], &to);
        Ok(Vec::new())
    }

    fn invite_code(&mut self, by: &str, gid: &str, reset: bool) -> Result<Vec<Node>, Refusal> {
        let group = self.groups.get_mut(gid).ok_or(NOT_FOUND)?;
        if !group.is_admin(by) {
            // whatsmeow `GetGroupInviteLink`: 401 is "only admins may see the link".
            return Err(NOT_AUTHORIZED);
        }
        let fresh = || -> String {
            OsRng
                .sample_iter(&Alphanumeric)
                .take(22)
                .map(char::from)
                .collect()
        };
        let code = match (&group.invite, reset) {
            (Some(code), false) => code.clone(),
            (old, _) => {
                if let Some(old) = old {
                    group.revoked_invites.insert(old.clone());
                }
                let code = fresh();
                group.invite = Some(code.clone());
                if reset {
                    let to = group.participants.clone();
                    let link = format!("{INVITE_LINK_PREFIX}{code}");
                    self.notify_group(gid, by, vec![GroupChange::InviteReset { link }], &to);
                }
                code
            }
        };
        Ok(vec![Node::new("invite").attr("code", code)])
    }

    /// The group an invite code opens: 410 for a code reset away, 406 for no code at all
    /// (whatsmeow `ErrInviteLinkRevoked`, `ErrInviteLinkInvalid`).
    fn group_of_invite(&self, code: &str) -> Result<String, Refusal> {
        if let Some((gid, _)) = self
            .groups
            .iter()
            .find(|(_, g)| g.invite.as_deref() == Some(code))
        {
            return Ok(gid.clone());
        }
        if self
            .groups
            .values()
            .any(|g| g.revoked_invites.contains(code))
        {
            return Err(GONE);
        }
        Err(NOT_ACCEPTABLE)
    }

    fn join_by_link(&mut self, by: &str, code: &str) -> Result<Vec<Node>, Refusal> {
        let gid = self.group_of_invite(code)?;
        let jid = Jid::new(gid.clone(), Server::Group);
        let group = self.groups.get_mut(&gid).ok_or(NOT_FOUND)?;
        if group.participants.iter().any(|p| p == by) {
            return Err(ALREADY_MEMBER);
        }
        if group.join_approval {
            group.requests.insert(by.to_owned(), now_unix());
            info!(gid, by, "asked to join");
            return Ok(vec![JoinOutcome::Requested(jid).to_node()]);
        }
        group.participants.push(by.to_owned());
        let to = group.participants.clone();
        let change = GroupChange::Participants {
            action: ParticipantAction::Add,
            participants: self.participants_of(&gid, &[by.to_owned()]),
            // whatsmeow `JoinReason`: joined through a link.
            reason: Some("invite".into()),
        };
        self.notify_group(&gid, by, vec![change], &to);
        info!(gid, by, "joined by link");
        Ok(vec![JoinOutcome::Joined(jid).to_node()])
    }

    fn answer_requests(
        &mut self,
        by: &str,
        gid: &str,
        action: RequestAction,
        jids: &[Jid],
    ) -> Result<Vec<Node>, Refusal> {
        self.admin_group(by, gid)?;
        let mut results = Vec::new();
        let mut approved = Vec::new();
        for jid in jids {
            let pn = self.account_of(jid);
            let group = self.groups.get_mut(gid).ok_or(NOT_FOUND)?;
            let outcome = match pn {
                Some(pn) if group.requests.remove(&pn).is_some() => {
                    if action == RequestAction::Approve && !group.participants.contains(&pn) {
                        group.participants.push(pn.clone());
                        approved.push(pn);
                    }
                    ParticipantOutcome::Ok
                }
                _ => ParticipantOutcome::NotFound,
            };
            results.push(ParticipantResult::new(jid.to_non_ad(), outcome));
        }
        if !approved.is_empty() {
            let to = self
                .groups
                .get(gid)
                .map(|g| g.participants.clone())
                .unwrap_or_default();
            let change = GroupChange::Participants {
                action: ParticipantAction::Add,
                participants: self.participants_of(gid, &approved),
                reason: None,
            };
            self.notify_group(gid, by, vec![change], &to);
        }
        Ok(vec![request_results_node(action, &results)])
    }

    /// `w:profile:picture` set with a group `target`: stores the JPEG (or removes it),
    /// answers `<picture id>` and tells the members with a `picture` notification (whatsmeow
    /// `SetGroupPhoto`, `notification.go handlePictureNotification`).
    pub(in crate::state) fn group_picture_iq(&mut self, by: &str, id: &str, node: &Node) -> Node {
        let Some(target) = node.attrs().optional_jid("target").ok().flatten() else {
            return iq_error(id, BAD_REQUEST.0, BAD_REQUEST.1);
        };
        let picture = node
            .child("picture")
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec);
        let by_jid = self.accounts.get(by).map(|a| a.pn_jid());
        let gid = target.user.clone();
        let group = match self.groups.get(&gid) {
            None => return iq_error(id, NOT_FOUND.0, NOT_FOUND.1),
            Some(g) if !g.participants.iter().any(|p| p == by) => {
                return iq_error(id, FORBIDDEN.0, FORBIDDEN.1);
            }
            Some(_) => match self.editable_group(by, &gid) {
                Ok(group) => group,
                Err((code, text)) => return iq_error(id, code, text),
            },
        };
        // whatsmeow maps 406 to `ErrInvalidImageFormat`: the server takes JPEG only.
        if picture
            .as_ref()
            .is_some_and(|p| !p.starts_with(&[0xFF, 0xD8, 0xFF]))
        {
            return iq_error(id, NOT_ACCEPTABLE.0, NOT_ACCEPTABLE.1);
        }
        let picture_id = now_unix().to_string();
        let change = match &picture {
            Some(_) => Node::new("set")
                .attr("jid", target.clone())
                .attr("id", picture_id.clone())
                .attr_opt("author", by_jid.clone()),
            None => Node::new("delete")
                .attr("jid", target.clone())
                .attr_opt("author", by_jid),
        };
        group.picture = picture.clone().map(|p| (picture_id.clone(), p));
        let to = group.participants.clone();
        let notification = Node::new("notification")
            .attr("from", target)
            .attr("type", "picture")
            .attr("t", now_unix())
            .children([change]);
        let targets = self.member_devices(&to);
        self.queue_notifications(targets, &notification);
        let answer = iq_result(id);
        match picture {
            Some(_) => answer.children([Node::new("picture").attr("id", picture_id)]),
            None => answer,
        }
    }
}
