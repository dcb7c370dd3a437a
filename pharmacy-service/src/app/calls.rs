//! What the service does about a customer's call: the admins' call settings (an automatic
//! reply after a missed or rejected call, an automatic reject of every incoming call) and the
//! reply itself, queued on the paced outbox at most once per caller per window.
//!
//! The call's line in the ticket is stored by the WhatsApp bridge (`whatsapp::calls`) as the
//! customer's message; this module runs after it.

use super::{App, AppError};
use crate::db;
use crate::domain::ids::TicketId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The reply's text when the admins have not written their own: "We received your call and
/// could not answer; the pharmacy answers by message here, write us your request."
pub const DEFAULT_REPLY: &str = "وصلتنا مكالمتك ولم نتمكن من الرد. تتواصل الصيدلية مع عملائها بالرسائل: اكتب لنا طلبك هنا وسنرد عليك في أقرب وقت.";

/// The longest reply text an admin may set (characters).
pub const MAX_REPLY_CHARS: usize = 2_000;

/// The shortest window between two replies to one caller.
pub const MIN_REPLY_WINDOW: Duration = Duration::from_secs(60);

/// The longest window: ten years, as every duration setting (`http::admin::MAX_SETTING_SECS`).
const MAX_REPLY_WINDOW_SECS: u64 = 10 * 365 * 86_400;

/// The call settings in force (both automatic behaviours off by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallSettings {
    /// Reply to a missed or rejected call with [`CallSettings::auto_reply_text`].
    pub auto_reply: bool,
    /// The reply: a template (`{customer_name}`, `{branch_name}`, … as the other automatic
    /// messages).
    pub auto_reply_text: String,
    /// One reply per caller within this long, however often they call.
    pub auto_reply_window: Duration,
    /// Reject every incoming call offer at once.
    pub auto_reject: bool,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            auto_reply: false,
            auto_reply_text: DEFAULT_REPLY.into(),
            auto_reply_window: Duration::from_secs(3600),
            auto_reject: false,
        }
    }
}

/// The call settings in force, the window in seconds (part of [`super::Settings`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

impl From<&CallSettings> for CallSettingsView {
    fn from(c: &CallSettings) -> CallSettingsView {
        CallSettingsView {
            auto_reply: c.auto_reply,
            auto_reply_text: c.auto_reply_text.clone(),
            auto_reply_window_secs: c.auto_reply_window.as_secs(),
            auto_reject: c.auto_reject,
        }
    }
}

/// A change of the call settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSettingsPatch {
    /// Reply to a missed or rejected call.
    pub auto_reply: Option<bool>,
    /// The reply (a template; not empty, at most 2000 characters).
    #[schema(max_length = 2000)]
    pub auto_reply_text: Option<String>,
    /// One reply per caller within this many seconds (at least 60, at most ten years).
    #[schema(minimum = 60, maximum = 315_360_000)]
    pub auto_reply_window_secs: Option<u64>,
    /// Reject every incoming call at once.
    pub auto_reject: Option<bool>,
}

/// Why a call settings change is refused: the offending field (as the settings body names
/// it) and the reason.
pub fn invalid_call_setting(patch: &CallSettingsPatch) -> Option<(&'static str, String)> {
    if let Some(text) = &patch.auto_reply_text {
        if text.trim().is_empty() {
            return Some(("calls.auto_reply_text", "must not be empty".into()));
        }
        if text.chars().count() > MAX_REPLY_CHARS {
            return Some((
                "calls.auto_reply_text",
                format!("at most {MAX_REPLY_CHARS} characters"),
            ));
        }
    }
    match patch.auto_reply_window_secs {
        Some(s) if s < MIN_REPLY_WINDOW.as_secs() => {
            Some(("calls.auto_reply_window_secs", "at least one minute".into()))
        }
        Some(s) if s > MAX_REPLY_WINDOW_SECS => {
            Some(("calls.auto_reply_window_secs", "at most ten years".into()))
        }
        _ => None,
    }
}

impl CallSettingsPatch {
    /// Later fields win.
    pub(super) fn merge(&mut self, o: &CallSettingsPatch) {
        if o.auto_reply.is_some() {
            self.auto_reply = o.auto_reply;
        }
        if o.auto_reply_text.is_some() {
            self.auto_reply_text.clone_from(&o.auto_reply_text);
        }
        if o.auto_reply_window_secs.is_some() {
            self.auto_reply_window_secs = o.auto_reply_window_secs;
        }
        if o.auto_reject.is_some() {
            self.auto_reject = o.auto_reject;
        }
    }

    pub(super) fn apply(&self, s: &mut CallSettings) {
        if let Some(v) = self.auto_reply {
            s.auto_reply = v;
        }
        if let Some(v) = &self.auto_reply_text {
            s.auto_reply_text.clone_from(v);
        }
        if let Some(v) = self.auto_reply_window_secs {
            s.auto_reply_window = Duration::from_secs(v);
        }
        if let Some(v) = self.auto_reject {
            s.auto_reject = v;
        }
    }
}

impl App {
    /// After a missed or rejected call stored in `ticket`: queues the automatic reply on the
    /// outbox when it is on and the caller got none within the window. Returns whether it
    /// was queued.
    pub async fn reply_to_call(&self, ticket: TicketId) -> Result<bool, AppError> {
        let cfg = self.config();
        let settings = &cfg.calls;
        if !settings.auto_reply {
            return Ok(false);
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        let t = db::tickets::by_id(&mut tx, ticket)
            .await?
            .ok_or_else(|| super::not_found("ticket", ticket.0))?;
        let customer = db::customers::by_id(&mut tx, t.customer_id)
            .await?
            .ok_or_else(|| super::not_found("customer", t.customer_id.0))?;
        if !db::call_replies::claim(&mut tx, customer.id, now, settings.auto_reply_window).await? {
            return Ok(false);
        }
        let body = self
            .render_for(&mut tx, &settings.auto_reply_text, &customer, &t)
            .await?;
        let mut events = Vec::new();
        let message = self
            .enqueue_system(&mut tx, &t, &customer, &body, now, &mut events)
            .await?;
        db::activity::log(
            &mut tx,
            None,
            "call.auto_replied",
            Some(("message", message.0)),
            Some(&serde_json::json!({ "ticket_id": t.id })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.publish_all(events);
        self.wake_outbox();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_names_what_is_wrong() {
        let max = MAX_REPLY_WINDOW_SECS;
        let ok = CallSettingsPatch {
            auto_reply: Some(true),
            auto_reply_text: Some("نرد بالرسائل".into()),
            auto_reply_window_secs: Some(3600),
            auto_reject: Some(true),
        };
        assert_eq!(invalid_call_setting(&ok), None);
        let blank = CallSettingsPatch {
            auto_reply_text: Some("  \n".into()),
            ..Default::default()
        };
        assert_eq!(
            invalid_call_setting(&blank).unwrap().0,
            "calls.auto_reply_text"
        );
        let long = CallSettingsPatch {
            auto_reply_text: Some("ا".repeat(MAX_REPLY_CHARS + 1)),
            ..Default::default()
        };
        assert_eq!(
            invalid_call_setting(&long).unwrap().0,
            "calls.auto_reply_text"
        );
        for secs in [0, 59, max + 1] {
            let w = CallSettingsPatch {
                auto_reply_window_secs: Some(secs),
                ..Default::default()
            };
            assert_eq!(
                invalid_call_setting(&w).unwrap().0,
                "calls.auto_reply_window_secs",
                "{secs}"
            );
        }
    }

    #[test]
    fn later_changes_win_and_absent_fields_stay() {
        let mut stored = CallSettingsPatch {
            auto_reply: Some(true),
            auto_reply_text: Some("a".into()),
            ..Default::default()
        };
        stored.merge(&CallSettingsPatch {
            auto_reply_text: Some("b".into()),
            auto_reject: Some(true),
            ..Default::default()
        });
        let mut s = CallSettings::default();
        assert!(!s.auto_reply && !s.auto_reject, "both off by default");
        stored.apply(&mut s);
        assert!(s.auto_reply && s.auto_reject);
        assert_eq!(s.auto_reply_text, "b");
        assert_eq!(s.auto_reply_window, Duration::from_secs(3600));
    }
}
