//! The JSON answers of the ticket, message, customer and analytics handlers that wrap the
//! use-cases' records (`{"ticket": ...}`, `{"message": ...}`): the types the handlers return
//! and the OpenAPI document describes, so the two cannot drift apart. A leaf module: records
//! from `app` and `db` only.

use crate::app::{
    Customer, CustomerNote, Dashboard, InboundOutcome, KpiRow, Message, Ticket, TicketDetail,
    TicketNote,
};
use crate::http::whatsapp::LinkStatus;
use serde::Serialize;
use utoipa::ToSchema;

/// One ticket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketView {
    /// The ticket as it is now.
    pub ticket: Ticket,
}

/// `GET /api/tickets/{id}`: the ticket, its customer and logs, and whether the caller may act
/// on it (an earlier ticket of a customer they serve is read-only).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketDetailView {
    /// The ticket, its customer and logs.
    #[serde(flatten)]
    pub detail: TicketDetail,
    /// The caller works this ticket (may reply, close, transfer, edit).
    pub can_act: bool,
}

/// A ticket note.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketNoteView {
    /// The note.
    pub note: TicketNote,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageView {
    /// The message as it is now.
    pub message: Message,
}

/// How a message was taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// It had left: deleted for everyone through the outbox.
    Revoked,
    /// It had not left yet: it never will.
    Cancelled,
}

/// A revoked (sent) or cancelled (not yet sent) message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RevokedView {
    /// The message as it is now.
    pub message: Message,
    /// Revoked or cancelled.
    pub how: Revocation,
}

/// What the ingest webhook did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IngestView {
    /// The outcome.
    pub outcome: InboundOutcome,
}

/// One customer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CustomerView {
    /// The customer as it is now.
    pub customer: Customer,
}

/// A customer note.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CustomerNoteView {
    /// The note.
    pub note: CustomerNote,
}

/// A customer's tags.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TagsView {
    /// All of them now.
    pub tags: Vec<String>,
}

/// Per-agent KPIs over the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentFiguresView {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Last local day, `YYYY-MM-DD`.
    pub to: String,
    /// One row per agent with activity.
    pub items: Vec<KpiRow>,
}

/// The admin dashboard, with the WhatsApp link's status (`null` when it cannot be read).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DashboardView {
    /// Today's figures.
    #[serde(flatten)]
    pub dashboard: Dashboard,
    /// The link's status.
    #[schema(required = true)]
    pub whatsapp: Option<LinkStatus>,
}
