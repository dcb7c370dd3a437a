//! Identifier newtypes, so a ticket id can never be passed where an agent id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(v: i64) -> Self {
                Self(v)
            }
        }
    )*};
}

id_type!(
    /// A user (admin or agent login).
    UserId,
    /// An agent (a user who handles tickets, attached to a branch).
    AgentId,
    /// A pharmacy branch.
    BranchId,
    /// A customer (one person, whether known by phone number, LID or both).
    CustomerId,
    /// A ticket (one care cycle of a conversation; reopened tickets keep their id).
    TicketId,
    /// A stored message.
    MessageId,
    /// A row of the outbox.
    OutboxId,
    /// A message template.
    TemplateId,
    /// An auto-reply trigger.
    TriggerId,
    /// An admin alert.
    AlertId,
    /// A conversation label.
    LabelId,
);
