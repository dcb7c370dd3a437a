//! Join requests of a group that wants approval: list, approve, reject.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::request::{
    GroupIq, GroupRequest, JoinRequest, ParticipantResult, RequestAction, parse_join_requests,
    parse_request_results,
};

use super::Groups;
use super::{read, request, require_group};
use crate::ClientError;

async fn answer(
    client: &Groups<'_>,
    group: &Jid,
    action: RequestAction,
    participants: &[Jid],
) -> Result<Vec<ParticipantResult>, ClientError> {
    require_group(group)?;
    if participants.is_empty() {
        return Err(ClientError::InvalidArgument("no participants".into()));
    }
    let iq = GroupIq::new(
        group.clone(),
        GroupRequest::JoinRequestsAction {
            action,
            participants: participants.iter().map(Jid::to_non_ad).collect(),
        },
    );
    let reply = request(client.shared, iq).await?;
    read(parse_request_results(&reply, action), &reply)
}

impl Groups<'_> {
    /// Who asks to join the group (admins only; whatsmeow `GetGroupRequestParticipants`).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, group: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// let asking: Vec<_> = client.groups().join_requests(&group).await?.into_iter().map(|r| r.jid).collect();
    /// client.groups().approve_join_requests(&group, &asking).await?;
    /// # Ok(()) }
    /// ```
    pub async fn join_requests(&self, group: &Jid) -> Result<Vec<JoinRequest>, ClientError> {
        require_group(group)?;
        let iq = GroupIq::new(group.clone(), GroupRequest::JoinRequests);
        let reply = request(self.shared, iq).await?;
        read(parse_join_requests(&reply), &reply)
    }

    /// Lets those who asked in (whatsmeow `UpdateGroupRequestParticipants`); someone who did
    /// not ask is `NotFound`.
    pub async fn approve_join_requests(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        answer(self, group, RequestAction::Approve, participants).await
    }

    /// Turns requests down.
    pub async fn reject_join_requests(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        answer(self, group, RequestAction::Reject, participants).await
    }
}
