//! Groups and communities, as whatsmeow's `group.go` has them: create a group, read its
//! info, add, remove, promote and demote participants (each with its own result), leave,
//! rename, describe, picture and settings, invite links and join requests, and communities
//! with their linked groups. Every call is one `w:g2` IQ; the server's refusal comes back as
//! [`ClientError::Server`] with its code (403 not an admin or not in the group, 404 no such
//! group, 409 a stale description, …). What others change arrives as
//! [`Event::GroupParticipants`](crate::Event::GroupParticipants) and
//! [`Event::GroupChange`](crate::Event::GroupChange).
//!
//! ```no_run
//! # async fn f(client: whatsapp_client::Client) -> Result<(), whatsapp_client::ClientError> {
//! use whatsapp_client::Jid;
//! use whatsapp_client::groups::{GroupSetting, ParticipantOutcome};
//!
//! let group = client.groups().create("Maadi branch", &[Jid::user("201001112223")]).await?;
//! for result in client.groups().promote(&group.jid, &[Jid::user("201001112223")]).await? {
//!     assert_eq!(result.outcome, ParticipantOutcome::Ok);
//! }
//! client.groups().set_setting(&group.jid, GroupSetting::Announce(true)).await?;
//! let link = client.groups().invite_link(&group.jid, false).await?;
//! println!("join at {link}");
//! # Ok(()) }
//! ```

mod community;
mod create;
mod info;
mod invites;
mod notification;
mod participants;
mod requests;
mod settings;

pub use whatsapp_proto::stanza::groups::change::GroupChange;
pub use whatsapp_proto::stanza::groups::request::{
    GroupSetting, JoinOutcome, JoinRequest, ParticipantOutcome, ParticipantResult, SubGroup,
};
pub use whatsapp_proto::stanza::groups::{
    Description, GroupInfo, INVITE_LINK_PREFIX, Participant, Role,
};

use std::sync::Arc;

use whatsapp_proto::binary::Node;
use whatsapp_proto::stanza::StanzaError;
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest};

pub(crate) use notification::on_group_notification;

use crate::ClientError;
use crate::context::Shared;

/// The group calls of a client ([`Client::groups`](crate::Client::groups)); borrows it.
#[derive(Clone, Copy)]
pub struct Groups<'a> {
    shared: &'a Arc<Shared>,
}

impl std::fmt::Debug for Groups<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").finish_non_exhaustive()
    }
}

impl<'a> Groups<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>) -> Groups<'a> {
        Groups { shared }
    }
}

/// Sends a group request and waits for its answer.
async fn request(shared: &Shared, iq: GroupIq) -> Result<Node, ClientError> {
    shared.iq(iq.to_node()).await
}

/// A request about `group` that answers with nothing to read.
async fn set(
    shared: &Shared,
    group: &whatsapp_proto::jid::Jid,
    r: GroupRequest,
) -> Result<(), ClientError> {
    require_group(group)?;
    request(shared, GroupIq::new(group.clone(), r))
        .await
        .map(drop)
}

/// A part of the answer, or [`ClientError::UnexpectedResponse`] naming what is missing.
fn read<T>(parsed: Result<T, StanzaError>, answer: &Node) -> Result<T, ClientError> {
    parsed.map_err(|e| ClientError::unexpected(e.to_string(), answer))
}

/// Refuses a JID that is not a group before anything is sent.
fn require_group(group: &whatsapp_proto::jid::Jid) -> Result<(), ClientError> {
    if group.is_group() && !group.user.is_empty() {
        Ok(())
    } else {
        Err(ClientError::InvalidArgument(format!(
            "{group} is not a group"
        )))
    }
}
