//! Creating a group.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::GroupInfo;
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, parse_group_answer};

use super::Groups;
use super::{info, read, request};
use crate::ClientError;

/// Longest group name WhatsApp's apps accept, in characters.
pub(super) const MAX_SUBJECT: usize = 100;

/// Refuses an empty or overlong name before anything is sent.
pub(super) fn check_subject(subject: &str) -> Result<(), ClientError> {
    if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT {
        return Err(ClientError::InvalidArgument(format!(
            "a group name has 1 to {MAX_SUBJECT} characters"
        )));
    }
    Ok(())
}

/// Sends a `<create>` and reads the new group.
pub(super) async fn create(
    client: &Groups<'_>,
    request_: GroupRequest,
) -> Result<GroupInfo, ClientError> {
    let shared = client.shared;
    let answer = request(shared, GroupIq::server(request_)).await?;
    let created = read(parse_group_answer(&answer), &answer)?;
    info::remember(shared, &created);
    Ok(created)
}

impl Groups<'_> {
    /// Creates a group named `subject` with us as its creator (super-admin) and
    /// `participants` (phone-number or LID JIDs) in it (whatsmeow `CreateGroup`). Returns the
    /// group as the server made it: someone the server could not add is not among its
    /// participants.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::Jid;
    /// let group = client.groups().create("Night shift", &[Jid::user("201001112223")]).await?;
    /// println!("created {}", group.jid);
    /// # Ok(()) }
    /// ```
    pub async fn create(
        &self,
        subject: &str,
        participants: &[Jid],
    ) -> Result<GroupInfo, ClientError> {
        check_subject(subject)?;
        create(
            self,
            GroupRequest::Create {
                subject: subject.to_owned(),
                participants: participants.iter().map(Jid::to_non_ad).collect(),
                community: false,
                linked_parent: None,
            },
        )
        .await
    }
}
