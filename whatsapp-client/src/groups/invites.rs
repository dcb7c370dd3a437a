//! Invite links: get or reset a group's link, look at the group behind a link, join by it.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::request::{
    GroupIq, GroupRequest, JoinOutcome, parse_group_answer, parse_invite_code,
};
use whatsapp_proto::stanza::groups::{GroupInfo, INVITE_LINK_PREFIX, invite_code};

use super::Groups;
use super::{read, request, require_group};
use crate::ClientError;

/// The code of a link, refused when empty or not a code.
fn code_of(link: &str) -> Result<String, ClientError> {
    let code = invite_code(link);
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ClientError::InvalidArgument(format!(
            "{link:?} is not an invite link"
        )));
    }
    Ok(code.to_owned())
}

impl Groups<'_> {
    /// The group's invite link (`https://chat.whatsapp.com/…`; admins only, 401 otherwise);
    /// `reset` makes a new one first, and the old link stops working (whatsmeow
    /// `GetGroupInviteLink`).
    pub async fn invite_link(&self, group: &Jid, reset: bool) -> Result<String, ClientError> {
        require_group(group)?;
        let iq = GroupIq::new(group.clone(), GroupRequest::InviteCode { reset });
        let answer = request(self.shared, iq).await?;
        let code = read(parse_invite_code(&answer), &answer)?;
        Ok(format!("{INVITE_LINK_PREFIX}{code}"))
    }

    /// The group behind an invite link, without joining (whatsmeow `GetGroupInfoFromLink`):
    /// a reset link is [`ClientError::Server`] 410, one that never was, 406.
    pub async fn info_from_link(&self, link: &str) -> Result<GroupInfo, ClientError> {
        let iq = GroupIq::server(GroupRequest::InvitePreview {
            code: code_of(link)?,
        });
        let answer = request(self.shared, iq).await?;
        read(parse_group_answer(&answer), &answer)
    }

    /// Joins a group through an invite link (whatsmeow `JoinGroupWithLink`): joined, or, when
    /// the group wants approval, asked to join.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::groups::JoinOutcome;
    /// match client.groups().join_with_link("https://chat.whatsapp.com/AbCdEf123").await? {
    ///     JoinOutcome::Joined(group) => println!("in {group}"),
    ///     JoinOutcome::Requested(group) => println!("waiting for {group}'s admins"),
    ///     _ => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn join_with_link(&self, link: &str) -> Result<JoinOutcome, ClientError> {
        let iq = GroupIq::server(GroupRequest::JoinByLink {
            code: code_of(link)?,
        });
        let answer = request(self.shared, iq).await?;
        read(JoinOutcome::parse(&answer), &answer)
    }
}
