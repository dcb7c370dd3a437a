//! Adding, removing, promoting and demoting participants, and leaving.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::group_server;
use whatsapp_proto::stanza::groups::request::{
    GroupIq, GroupRequest, ParticipantAction, ParticipantResult, parse_participant_results,
};

use super::Groups;
use super::{read, request, require_group};
use crate::ClientError;

/// One participant change; each participant's result in the order asked.
async fn change(
    client: &Groups<'_>,
    group: &Jid,
    action: ParticipantAction,
    participants: &[Jid],
) -> Result<Vec<ParticipantResult>, ClientError> {
    require_group(group)?;
    if participants.is_empty() {
        return Err(ClientError::InvalidArgument("no participants".into()));
    }
    let iq = GroupIq::new(
        group.clone(),
        GroupRequest::Participants {
            action,
            participants: participants.iter().map(Jid::to_non_ad).collect(),
        },
    );
    let answer = request(client.shared, iq).await?;
    read(parse_participant_results(&answer, action.tag()), &answer)
}

impl Groups<'_> {
    /// Adds participants (admins only; whatsmeow `UpdateGroupParticipants`). Each comes back
    /// with its outcome: [`ParticipantOutcome::Ok`](super::ParticipantOutcome::Ok),
    /// `AlreadyIn` (409), `NotFound` (404, not on WhatsApp), `Forbidden` (403, their privacy
    /// settings want an invite), `RecentlyLeft` (408).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, group: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::{Jid, groups::ParticipantOutcome};
    /// for r in client.groups().add_participants(&group, &[Jid::user("201001112223")]).await? {
    ///     if r.outcome != ParticipantOutcome::Ok {
    ///         println!("{} not added: {:?}", r.jid, r.outcome);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn add_participants(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        change(self, group, ParticipantAction::Add, participants).await
    }

    /// Removes participants (admins only); one not in the group is `NotFound`. The removed
    /// stop receiving the group's messages; our next message goes out under a new sender key.
    pub async fn remove_participants(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        change(self, group, ParticipantAction::Remove, participants).await
    }

    /// Makes participants admins (admins only).
    pub async fn promote(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        change(self, group, ParticipantAction::Promote, participants).await
    }

    /// Takes participants' admin rights away (admins only).
    pub async fn demote(
        &self,
        group: &Jid,
        participants: &[Jid],
    ) -> Result<Vec<ParticipantResult>, ClientError> {
        change(self, group, ParticipantAction::Demote, participants).await
    }

    /// Leaves a group (whatsmeow `LeaveGroup`); the others see us removed. 404 when we are
    /// not in it.
    pub async fn leave(&self, group: &Jid) -> Result<(), ClientError> {
        require_group(group)?;
        let iq = GroupIq::new(
            group_server(),
            GroupRequest::Leave {
                groups: vec![group.clone()],
            },
        );
        request(self.shared, iq).await?;
        self.shared
            .group_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(group);
        Ok(())
    }
}
