//! A group's name, description, picture and settings.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::request::{GroupRequest, GroupSetting, picture_iq};

use super::Groups;
use super::create::check_subject;
use super::{require_group, set};
use crate::ClientError;
use crate::clock::UnixMillis;

/// Longest description WhatsApp's apps accept, in characters.
const MAX_DESCRIPTION: usize = 2048;

impl Groups<'_> {
    /// Renames a group (whatsmeow `SetGroupName`): anyone in it, only admins when it is
    /// locked (403 otherwise).
    pub async fn set_subject(&self, group: &Jid, subject: &str) -> Result<(), ClientError> {
        check_subject(subject)?;
        set(
            self.shared,
            group,
            GroupRequest::Subject(subject.to_owned()),
        )
        .await
    }

    /// Sets the description, or deletes it with `None` (whatsmeow `SetGroupTopic`). The
    /// server takes a change only if it names the description it replaces: the current one
    /// is read first, and a change by someone else in between is [`ClientError::Server`]
    /// 409.
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, group: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// client.groups().set_description(&group, Some("Open 9:00-23:00")).await?;
    /// client.groups().set_description(&group, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_description(
        &self,
        group: &Jid,
        description: Option<&str>,
    ) -> Result<(), ClientError> {
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(ClientError::InvalidArgument(format!(
                "a description has at most {MAX_DESCRIPTION} characters"
            )));
        }
        let prev = self.info(group).await?.description.map(|d| d.id);
        let own = self
            .shared
            .device()
            .jid
            .clone()
            .ok_or(ClientError::NotConnected)?;
        // whatsmeow gives a new description a message id as its id.
        let id = crate::message_id::generate_message_id(&own.user, UnixMillis::now().as_secs());
        let request = GroupRequest::Description {
            id,
            prev,
            body: description.filter(|d| !d.is_empty()).map(str::to_owned),
        };
        set(self.shared, group, request).await
    }

    /// Sets the group's picture (a JPEG; the server refuses other formats with 406) or
    /// removes it with `None` (whatsmeow `SetGroupPhoto`). Returns the new picture's id.
    pub async fn set_picture(
        &self,
        group: &Jid,
        jpeg: Option<&[u8]>,
    ) -> Result<Option<String>, ClientError> {
        require_group(group)?;
        let answer = self.shared.iq(picture_iq(group, jpeg)).await?;
        if jpeg.is_none() {
            return Ok(None);
        }
        answer
            .child("picture")
            .and_then(|p| p.attrs().optional_string("id"))
            .map(Some)
            .ok_or_else(|| ClientError::unexpected("no picture id", &answer))
    }

    /// Changes a setting (admins only): who may post ([`GroupSetting::Announce`]), who may
    /// edit the info ([`GroupSetting::Locked`]), whether joining needs approval
    /// ([`GroupSetting::JoinApproval`]), the disappearing-messages timer
    /// ([`GroupSetting::Ephemeral`], 0 turns it off).
    ///
    /// ```no_run
    /// # async fn f(client: whatsapp_client::Client, group: whatsapp_client::Jid) -> Result<(), whatsapp_client::ClientError> {
    /// use whatsapp_client::groups::GroupSetting;
    /// client.groups().set_setting(&group, GroupSetting::Ephemeral(7 * 24 * 3600)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_setting(&self, group: &Jid, setting: GroupSetting) -> Result<(), ClientError> {
        set(self.shared, group, GroupRequest::Setting(setting)).await
    }
}
