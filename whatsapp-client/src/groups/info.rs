//! A group's info, and the groups we are in.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::GroupInfo;
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, parse_group_answer};

use super::Groups;
use super::{read, request, require_group};
use crate::ClientError;
use crate::context::{self, Shared};

/// Keeps a group's participants for sends (whatsmeow `cacheGroupInfo`).
pub(super) fn remember(shared: &Shared, info: &GroupInfo) {
    shared
        .group_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            &info.jid,
            context::GroupInfo {
                participants: info
                    .participants
                    .iter()
                    .map(|p| p.jid.to_non_ad())
                    .collect(),
                lid_mode: info.lid_addressed,
            },
        );
}

impl Groups<'_> {
    /// A group's info: name, description, settings and every participant with its role
    /// (whatsmeow `GetGroupInfo`). The participants are kept for the next send. A group that
    /// does not exist is [`ClientError::Server`] 404; one we are not in, 403.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, group: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// let info = client.groups().info(&group).await?;
    /// let admins = info.participants.iter().filter(|p| p.role.is_admin()).count();
    /// println!("{}: {} members, {admins} admins", info.subject, info.participants.len());
    /// # Ok(()) }
    /// ```
    pub async fn info(&self, group: &Jid) -> Result<GroupInfo, ClientError> {
        require_group(group)?;
        let shared = self.shared;
        let answer = request(shared, GroupIq::new(group.clone(), GroupRequest::Info)).await?;
        let info = read(parse_group_answer(&answer), &answer)?;
        remember(shared, &info);
        Ok(info)
    }

    /// Every group we are in, with participants and descriptions (whatsmeow
    /// `GetJoinedGroups`).
    pub async fn joined(&self) -> Result<Vec<GroupInfo>, ClientError> {
        let shared = self.shared;
        let answer = request(shared, GroupIq::server(GroupRequest::Participating)).await?;
        let list = answer
            .child("groups")
            .ok_or_else(|| ClientError::unexpected("no <groups>", &answer))?;
        let groups = list
            .children_by_tag("group")
            .map(GroupInfo::parse)
            .collect::<Result<Vec<_>, _>>();
        let groups = read(groups, &answer)?;
        for info in &groups {
            remember(shared, info);
        }
        Ok(groups)
    }
}
