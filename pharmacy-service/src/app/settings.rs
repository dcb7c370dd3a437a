//! Runtime settings an admin may change without a restart, persisted in the `settings` table
//! and layered over the configuration the service started with. The time zone and pacing are
//! startup configuration only.

use super::{App, AppError, CallSettingsPatch, ServiceConfig, invalid_call_setting};
use crate::db;
use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "service.settings";

/// A change of settings; absent fields stay as they are. Durations in seconds, at most ten
/// years (`http::admin::MAX_SETTING_SECS`, 315 360 000).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingsPatch {
    /// Reopen window.
    #[schema(maximum = 315_360_000)]
    pub reopen_window_secs: Option<u64>,
    /// Stickiness window.
    #[schema(maximum = 315_360_000)]
    pub stickiness_secs: Option<u64>,
    /// First-response timeout (delay detection); 0 disables.
    #[schema(maximum = 315_360_000)]
    pub first_response_timeout_secs: Option<u64>,
    /// Auto-close after this much inactivity; 0 disables.
    #[schema(maximum = 315_360_000)]
    pub auto_close_after_secs: Option<u64>,
    /// Survey answer window.
    #[schema(maximum = 315_360_000)]
    pub csat_window_secs: Option<u64>,
    /// Survey on close.
    pub csat_enabled: Option<bool>,
    /// Greeting.
    pub greeting_enabled: Option<bool>,
    /// Out-of-office replies.
    pub out_of_office_enabled: Option<bool>,
    /// Branch menu for unknown customers.
    pub branch_menu_enabled: Option<bool>,
    /// Rosters limit routing.
    pub use_shifts: Option<bool>,
    /// Cross-branch fallback.
    pub cross_branch_fallback: Option<bool>,
    /// What the service does about customers' calls.
    pub calls: Option<CallSettingsPatch>,
    /// The pharmacy's name on WhatsApp: our push name at once, the linked device's name
    /// from the next linking (1 to 25 characters).
    #[schema(min_length = 1, max_length = 25)]
    pub whatsapp_name: Option<String>,
}

/// The longest push name WhatsApp takes. guess: the profile name limit of the apps (25).
const MAX_WHATSAPP_NAME: usize = 25;

/// Why a WhatsApp name is refused, if it is.
fn invalid_whatsapp_name(name: &str) -> Option<&'static str> {
    let chars = name.chars().count();
    if name.trim().is_empty() {
        Some("must not be empty")
    } else if chars > MAX_WHATSAPP_NAME {
        Some("at most 25 characters")
    } else if name.chars().any(char::is_control) {
        Some("no control characters")
    } else {
        None
    }
}

impl SettingsPatch {
    /// Later fields win.
    fn merge(&mut self, o: &SettingsPatch) {
        macro_rules! take {
            ($($f:ident),*) => {$( if o.$f.is_some() { self.$f = o.$f; } )*};
        }
        take!(
            reopen_window_secs,
            stickiness_secs,
            first_response_timeout_secs,
            auto_close_after_secs,
            csat_window_secs,
            csat_enabled,
            greeting_enabled,
            out_of_office_enabled,
            branch_menu_enabled,
            use_shifts,
            cross_branch_fallback
        );
        if o.whatsapp_name.is_some() {
            self.whatsapp_name = o.whatsapp_name.clone();
        }
        match (&mut self.calls, &o.calls) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.calls = Some(theirs.clone()),
            _ => {}
        }
    }

    fn apply(&self, c: &mut ServiceConfig) {
        let secs = Duration::from_secs;
        if let Some(v) = self.reopen_window_secs {
            c.reopen_window = secs(v);
        }
        if let Some(v) = self.stickiness_secs {
            c.stickiness = secs(v);
        }
        if let Some(v) = self.first_response_timeout_secs {
            c.first_response_timeout = secs(v);
        }
        if let Some(v) = self.auto_close_after_secs {
            c.auto_close_after = secs(v);
        }
        if let Some(v) = self.csat_window_secs {
            c.csat_window = secs(v);
        }
        macro_rules! flag {
            ($($f:ident),*) => {$( if let Some(v) = self.$f { c.$f = v; } )*};
        }
        flag!(
            csat_enabled,
            greeting_enabled,
            out_of_office_enabled,
            branch_menu_enabled,
            use_shifts,
            cross_branch_fallback
        );
        if let Some(calls) = &self.calls {
            calls.apply(&mut c.calls);
        }
        if let Some(name) = &self.whatsapp_name {
            c.whatsapp_name = name.trim().to_owned();
        }
    }
}

impl App {
    /// Applies the persisted settings (called when the service opens its database).
    pub async fn load_settings(&self) -> Result<(), AppError> {
        let mut c = self.read().await?;
        if let Some(v) = db::settings::get(&mut c, KEY).await?
            && let Ok(p) = serde_json::from_value::<SettingsPatch>(v)
        {
            let mut cfg = (*self.config()).clone();
            p.apply(&mut cfg);
            self.replace_config(cfg);
        }
        Ok(())
    }

    /// Changes runtime settings (admin), persists them and applies them at once.
    pub async fn update_settings(
        &self,
        patch: &SettingsPatch,
        by: UserId,
    ) -> Result<Arc<ServiceConfig>, AppError> {
        if let Some((field, message)) = patch.calls.as_ref().and_then(invalid_call_setting) {
            return Err(AppError::Invalid { field, message });
        }
        if let Some(message) = patch
            .whatsapp_name
            .as_deref()
            .and_then(invalid_whatsapp_name)
        {
            return Err(AppError::Invalid {
                field: "whatsapp_name",
                message: message.into(),
            });
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        let mut stored: SettingsPatch = db::settings::get(&mut tx, KEY)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        stored.merge(patch);
        let value = serde_json::to_value(&stored).map_err(|e| AppError::Invalid {
            field: "settings",
            message: e.to_string(),
        })?;
        db::settings::set(&mut tx, KEY, &value, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "settings.updated",
            None,
            Some(&serde_json::to_value(patch).unwrap_or_default()),
            now,
        )
        .await?;
        tx.commit().await?;
        let mut cfg = (*self.config()).clone();
        patch.apply(&mut cfg);
        self.replace_config(cfg);
        Ok(self.config())
    }
}
