//! Runtime settings an admin may change without a restart, persisted in the `settings` table
//! and layered over the configuration the service started with. The time zone and pacing are
//! startup configuration only.

use super::{
    App, AppError, CallSettingsPatch, CallSettingsView, ServiceConfig, invalid_call_setting,
};
use crate::db;
use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "service.settings";

/// Declares the runtime settings once, and from that one list: [`Settings`] (every setting in
/// force, read off the configuration), [`SettingsPatch`] (a change of some), how stored changes
/// merge and how a change applies to the configuration. A duration is `NAME_secs` in seconds
/// here and the `Duration` field `NAME` of [`ServiceConfig`]; a flag has the same name in both.
macro_rules! runtime_settings {
    (
        durations { $( $(#[doc = $sd:literal])* $secs:ident = $dur:ident, )* }
        flags { $( $(#[doc = $fd:literal])* $flag:ident, )* }
    ) => {
        /// The settings in force (durations in seconds): the answer of `GET` and
        /// `PATCH /api/settings`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
        pub struct Settings {
            /// The service's time zone (startup configuration).
            pub time_zone: String,
            $( $(#[doc = $sd])* pub $secs: u64, )*
            $( $(#[doc = $fd])* pub $flag: bool, )*
            /// What the service does about customers' calls.
            pub calls: CallSettingsView,
            /// The name this service gives itself on WhatsApp: the linked device's name (as
            /// the phone lists it, set when linking) and the presence (push) name the client
            /// announces. Not necessarily the name customers see: that is the phone account's
            /// own profile name.
            pub whatsapp_name: String,
        }

        /// A change of settings; absent fields stay as they are. Durations in seconds, at most
        /// ten years (`http::admin::MAX_SETTING_SECS`, 315 360 000).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
        pub struct SettingsPatch {
            $( $(#[doc = $sd])* #[schema(maximum = 315_360_000)] pub $secs: Option<u64>, )*
            $( $(#[doc = $fd])* pub $flag: Option<bool>, )*
            /// What the service does about customers' calls.
            pub calls: Option<CallSettingsPatch>,
            /// The name this service gives itself on WhatsApp (1 to 25 characters once
            /// trimmed): the presence (push) name, announced again at once, and the linked
            /// device's name from the next linking. Customers may still see the phone
            /// account's own profile name.
            #[schema(min_length = 1, max_length = 25)]
            pub whatsapp_name: Option<String>,
        }

        impl From<&ServiceConfig> for Settings {
            fn from(c: &ServiceConfig) -> Settings {
                Settings {
                    time_zone: c.time_zone.clone(),
                    $( $secs: c.$dur.as_secs(), )*
                    $( $flag: c.$flag, )*
                    calls: CallSettingsView::from(&c.calls),
                    whatsapp_name: c.whatsapp_name.clone(),
                }
            }
        }

        impl SettingsPatch {
            /// Later fields win.
            fn merge(&mut self, o: &SettingsPatch) {
                $( if o.$secs.is_some() { self.$secs = o.$secs; } )*
                $( if o.$flag.is_some() { self.$flag = o.$flag; } )*
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
                $( if let Some(v) = self.$secs { c.$dur = Duration::from_secs(v); } )*
                $( if let Some(v) = self.$flag { c.$flag = v; } )*
                if let Some(calls) = &self.calls {
                    calls.apply(&mut c.calls);
                }
                if let Some(name) = &self.whatsapp_name {
                    c.whatsapp_name = name.trim().to_owned();
                }
            }
        }
    };
}

runtime_settings! {
    durations {
        /// Reopen window.
        reopen_window_secs = reopen_window,
        /// Stickiness window.
        stickiness_secs = stickiness,
        /// First-response timeout (delay detection); 0 disables.
        first_response_timeout_secs = first_response_timeout,
        /// Auto-close after this much inactivity; 0 disables.
        auto_close_after_secs = auto_close_after,
        /// Survey answer window.
        csat_window_secs = csat_window,
    }
    flags {
        /// Survey on close.
        csat_enabled,
        /// Greeting.
        greeting_enabled,
        /// Out-of-office replies.
        out_of_office_enabled,
        /// A new customer of a multi-branch pharmacy is asked to pick a branch.
        branch_menu_enabled,
        /// Rosters limit routing.
        use_shifts,
        /// Cross-branch fallback.
        cross_branch_fallback,
    }
}

/// The longest push name WhatsApp takes. guess: the profile name limit of the apps (25).
const MAX_WHATSAPP_NAME: usize = 25;

/// Why a WhatsApp name (already trimmed) is refused, if it is.
fn invalid_whatsapp_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > MAX_WHATSAPP_NAME {
        Some("at most 25 characters")
    } else if name.chars().any(char::is_control) {
        Some("no control characters")
    } else {
        None
    }
}

impl App {
    /// A setting stored under `key` by another part of the service (the alert e-mail's SMTP
    /// settings).
    pub async fn stored_setting(&self, key: &str) -> Result<Option<serde_json::Value>, AppError> {
        let mut c = self.read().await?;
        Ok(db::settings::get(&mut c, key).await?)
    }

    /// Stores `value` under `key`, an admin's change (`by`), logged as `action` with `details`
    /// (never a secret) in the same transaction.
    pub async fn save_stored_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
        by: UserId,
        action: &str,
        details: &serde_json::Value,
    ) -> Result<(), AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        db::settings::set(&mut tx, key, value, now).await?;
        db::activity::log(&mut tx, Some(by), action, None, Some(details), now).await?;
        tx.commit().await?;
        Ok(())
    }

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

    /// The runtime settings in force.
    pub fn settings(&self) -> Settings {
        Settings::from(&*self.config())
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
        // The name is stored and checked as it will be announced: without surrounding spaces.
        let mut patch = patch.clone();
        if let Some(name) = patch.whatsapp_name.as_mut() {
            *name = name.trim().to_owned();
            if let Some(message) = invalid_whatsapp_name(name) {
                return Err(AppError::Invalid {
                    field: "whatsapp_name",
                    message: message.into(),
                });
            }
        }
        let patch = &patch;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer and the patch come from one list: the answer has every setting a patch may
    /// change (and the time zone), read off the configuration in the patch's units.
    #[test]
    fn the_settings_in_force_and_a_patch_name_the_same_fields() {
        let mut cfg = ServiceConfig::default();
        let patch: SettingsPatch = serde_json::from_value(serde_json::json!({
            "reopen_window_secs": 120,
            "csat_enabled": false,
            "use_shifts": true,
            "calls": { "auto_reply_window_secs": 600 },
        }))
        .unwrap();
        patch.apply(&mut cfg);
        let now = serde_json::to_value(Settings::from(&cfg)).unwrap();
        let mut fields: Vec<_> = now.as_object().unwrap().keys().cloned().collect();
        fields.retain(|k| k != "time_zone");
        let changeable = serde_json::to_value(SettingsPatch::default()).unwrap();
        let mut changeable: Vec<_> = changeable.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        changeable.sort();
        assert_eq!(fields, changeable);
        assert_eq!(now["reopen_window_secs"], 120);
        assert_eq!(now["csat_enabled"], false);
        assert_eq!(now["use_shifts"], true);
        assert_eq!(now["calls"]["auto_reply_window_secs"], 600);
        assert_eq!(now["time_zone"], cfg.time_zone.as_str());
    }
}
