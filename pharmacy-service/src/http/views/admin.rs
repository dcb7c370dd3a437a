//! Answers of the templates, auto-replies, settings, activity, alerts and held-message routes.

use crate::app::{Message, OutboxRow, Template};
use crate::domain::ids::{CustomerId, MessageId, OutboxId, TicketId};
use crate::domain::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// One saved template.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TemplateView {
    /// The template as stored.
    pub template: Template,
}

/// A message held by the mass-send guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HeldView {
    /// The outbox row (confirm or cancel it by this id).
    pub id: OutboxId,
    /// The message.
    pub message_id: MessageId,
    /// Its ticket.
    pub ticket_id: TicketId,
    /// Its customer.
    pub customer_id: CustomerId,
    /// Its text (null for media without a caption).
    pub body: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
}

impl From<&OutboxRow> for HeldView {
    fn from(r: &OutboxRow) -> Self {
        HeldView {
            id: r.id,
            message_id: r.message_id,
            ticket_id: r.ticket_id,
            customer_id: r.customer_id,
            body: r.body.clone(),
            created_at: r.created_at,
        }
    }
}

/// A held message after an admin's decision (released to the outbox, or cancelled).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeldDecision {
    /// The message now.
    pub message: Message,
}
