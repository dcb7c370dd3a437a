//! Group changes other than participants ([`super::Event::GroupChange`]).

use whatsapp_proto::jid::Jid;

pub use whatsapp_proto::stanza::groups::change::GroupChange;

/// A change of a group announced by the server (a `w:gp2` notification; whatsmeow
/// `events.GroupInfo`, `events.JoinedGroup`): who changed what, and when. Participant
/// changes come as [`super::Event::GroupParticipants`] instead.
///
/// ```
/// # use whatsapp_client::{Event, groups::GroupChange};
/// # fn handle(event: Event) {
/// if let Event::GroupChange(change) = event {
///     match &change.change {
///         GroupChange::Subject(name) => println!("{} is now {name}", change.group),
///         GroupChange::Announce(true) => println!("only admins post in {}", change.group),
///         _ => {}
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupChangeEvent {
    /// The group (or community).
    pub group: Jid,
    /// Who made the change, when the server says (in the group's addressing form).
    pub by: Option<Jid>,
    /// Server timestamp, unix seconds.
    pub timestamp: u64,
    /// What changed.
    pub change: GroupChange,
}
