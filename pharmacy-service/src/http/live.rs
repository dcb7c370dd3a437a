//! The frames `GET /ws` sends, as types: each is documented in the OpenAPI document as a
//! component (`LiveFrame`, `EventFrame` and the `LiveEvent` it carries), so the browser's
//! reader and the server's writer have one contract. A leaf module: records from `app` and
//! the caller's view only.

use crate::app::{Envelope, LiveEvent};
use crate::domain::ids::{AgentId, TicketId, UserId};
use crate::domain::time::Timestamp;
use crate::http::auth::UserView;
use crate::http::whatsapp::LinkState;
use serde::Serialize;
use utoipa::ToSchema;

/// A lasting event as sent: the event's own fields (with its `type`), its sequence number
/// and when it was published.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventFrame<'a> {
    /// The event.
    #[serde(flatten)]
    pub event: &'a LiveEvent,
    /// Its sequence number (resume with `GET /ws?since=seq`).
    pub seq: u64,
    /// When it was published.
    pub at: Timestamp,
}

impl<'a> From<&'a Envelope> for EventFrame<'a> {
    fn from(env: &'a Envelope) -> Self {
        EventFrame {
            event: &env.event,
            seq: env.seq,
            at: env.at,
        }
    }
}

/// Who a typing or viewing notice is about (never stored, never replayed).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NoticeFrom {
    /// The current sequence number (the notice has none of its own).
    pub seq: u64,
    /// Always `true`: not replayed after a reconnect.
    pub ephemeral: bool,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Who.
    pub user_id: UserId,
    /// Their name.
    pub name: String,
    /// Their agent seat (absent for a user without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// Every other frame the server sends, by `type`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LiveFrame {
    /// The first frame of every connection.
    Hello {
        /// The last sequence number sent before this connection (or `since`).
        seq: u64,
        /// Who is connected.
        user: UserView,
        /// The link's state now (null when it cannot be read).
        #[schema(required = true)]
        whatsapp: Option<LinkState>,
    },
    /// The events since `since` are gone from the buffer: reload.
    Resync {
        /// The last sequence number.
        seq: u64,
    },
    /// The answer to `{"type": "ping"}`.
    Pong {
        /// The last sequence number.
        seq: u64,
    },
    /// The link's state as agents see it (the admins' `whatsappStatus` without details).
    WhatsappLink {
        /// `connected`, `disconnected`, `logged_out`, ...
        state: String,
        /// The event's sequence number.
        seq: u64,
        /// When it was published.
        at: Timestamp,
    },
    /// Someone started or stopped typing in a ticket the caller works.
    Typing {
        /// Who and where.
        #[serde(flatten)]
        from: NoticeFrom,
        /// Started (`true`) or stopped.
        typing: bool,
    },
    /// Someone opened or left a ticket the caller works.
    Viewing {
        /// Who and where.
        #[serde(flatten)]
        from: NoticeFrom,
        /// Opened (`true`) or left.
        viewing: bool,
    },
}
