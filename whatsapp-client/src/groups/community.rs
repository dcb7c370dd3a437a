//! Communities: create one, link groups to it and unlink them, list its groups.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::GroupInfo;
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest, SubGroup, parse_sub_groups};

use super::Groups;
use super::create::{check_subject, create};
use super::{read, request, require_group, set};
use crate::ClientError;

impl Groups<'_> {
    /// Creates a community named `subject` with us as its admin (whatsmeow `CreateGroup` with
    /// `IsParent`; joining it wants approval).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, branch: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// let community = client.groups().create_community("All branches").await?;
    /// client.groups().link(&community.jid, &branch).await?;
    /// for group in client.groups().sub_groups(&community.jid).await? {
    ///     println!("{} {}", group.jid, group.subject);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn create_community(&self, subject: &str) -> Result<GroupInfo, ClientError> {
        check_subject(subject)?;
        create(
            self,
            GroupRequest::Create {
                subject: subject.to_owned(),
                participants: Vec::new(),
                community: true,
                linked_parent: None,
            },
        )
        .await
    }

    /// Links a group to a community (admins of both; whatsmeow `LinkGroup`). A group already
    /// in a community is [`ClientError::Server`] 409.
    pub async fn link(&self, community: &Jid, group: &Jid) -> Result<(), ClientError> {
        require_group(group)?;
        let link = GroupRequest::Link {
            group: group.clone(),
        };
        set(self.shared, community, link).await
    }

    /// Unlinks a group from a community (whatsmeow `UnlinkGroup`); 404 when it is not linked.
    pub async fn unlink(&self, community: &Jid, group: &Jid) -> Result<(), ClientError> {
        require_group(group)?;
        let unlink = GroupRequest::Unlink {
            group: group.clone(),
        };
        set(self.shared, community, unlink).await
    }

    /// The community's groups (whatsmeow `GetSubGroups`).
    pub async fn sub_groups(&self, community: &Jid) -> Result<Vec<SubGroup>, ClientError> {
        require_group(community)?;
        let iq = GroupIq::new(community.clone(), GroupRequest::SubGroups);
        let answer = request(self.shared, iq).await?;
        read(parse_sub_groups(&answer), &answer)
    }
}
