//! Answers of the templates, auto-replies, settings, activity, alerts and held-message routes.

use crate::app::ServiceConfig;
use crate::db::messages::Message;
use crate::db::outbox::OutboxRow;
use crate::db::templates::Template;
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

/// The settings in force (durations in seconds): the answer of `GET` and `PATCH /api/settings`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// The service's time zone (startup configuration).
    pub time_zone: String,
    /// Reopen window.
    pub reopen_window_secs: u64,
    /// Stickiness window.
    pub stickiness_secs: u64,
    /// First-response timeout (delay detection); 0 disables.
    pub first_response_timeout_secs: u64,
    /// Auto-close after this much inactivity; 0 disables.
    pub auto_close_after_secs: u64,
    /// Survey answer window.
    pub csat_window_secs: u64,
    /// Survey on close.
    pub csat_enabled: bool,
    /// Greeting.
    pub greeting_enabled: bool,
    /// Out-of-office replies.
    pub out_of_office_enabled: bool,
    /// A new customer of a multi-branch pharmacy is asked to pick a branch.
    pub branch_menu_enabled: bool,
    /// Rosters limit routing.
    pub use_shifts: bool,
    /// Cross-branch fallback.
    pub cross_branch_fallback: bool,
    /// What the service does about customers' calls.
    pub calls: CallSettingsView,
    /// The pharmacy's name on WhatsApp (push name; the linked device's name).
    pub whatsapp_name: String,
}

/// The call settings in force (part of [`SettingsView`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CallSettingsView {
    /// A missed or rejected call gets the automatic reply.
    pub auto_reply: bool,
    /// The reply (a template).
    pub auto_reply_text: String,
    /// One reply per caller within this many seconds.
    pub auto_reply_window_secs: u64,
    /// Incoming calls are rejected at once.
    pub auto_reject: bool,
}

impl SettingsView {
    /// The settings of this configuration.
    pub fn of(cfg: &ServiceConfig) -> SettingsView {
        SettingsView {
            time_zone: cfg.time_zone.clone(),
            reopen_window_secs: cfg.reopen_window.as_secs(),
            stickiness_secs: cfg.stickiness.as_secs(),
            first_response_timeout_secs: cfg.first_response_timeout.as_secs(),
            auto_close_after_secs: cfg.auto_close_after.as_secs(),
            csat_window_secs: cfg.csat_window.as_secs(),
            csat_enabled: cfg.csat_enabled,
            greeting_enabled: cfg.greeting_enabled,
            out_of_office_enabled: cfg.out_of_office_enabled,
            branch_menu_enabled: cfg.branch_menu_enabled,
            use_shifts: cfg.use_shifts,
            cross_branch_fallback: cfg.cross_branch_fallback,
            calls: CallSettingsView {
                auto_reply: cfg.calls.auto_reply,
                auto_reply_text: cfg.calls.auto_reply_text.clone(),
                auto_reply_window_secs: cfg.calls.auto_reply_window.as_secs(),
                auto_reject: cfg.calls.auto_reject,
            },
            whatsapp_name: cfg.whatsapp_name.clone(),
        }
    }
}
