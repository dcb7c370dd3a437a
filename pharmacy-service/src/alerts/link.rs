//! Admin alerts for the link's states that need a person: a logout (other than our own), a
//! 405 refusal (the client is outdated), a ban. A temporary ban is already alerted by the
//! outbox when it pauses sending (`whatsapp::outbox`), so it is not alerted twice here.

use crate::app::{App, AppError, LiveEvent};
use crate::db;
use serde_json::Value;

/// An alert a `whatsappStatus` change calls for: its kind and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAlert {
    /// The alert's kind (`logged_out`, `banned`, `client_outdated`).
    pub kind: &'static str,
    /// What an admin reads.
    pub message: String,
}

/// The alert a `whatsappStatus` `state` with `detail` (as the bridge publishes them) calls
/// for, if any.
pub fn classify(state: &str, detail: Option<&Value>) -> Option<LinkAlert> {
    let field = |k: &str| detail.and_then(|d| d.get(k));
    match state {
        "logged_out" => {
            // `None`: an admin's own logout through the API; `UserInitiated`: the client's
            // report of the same.
            let reason = field("reason")?.as_str()?;
            match reason {
                "UserInitiated" => None,
                // whatsmeow's LogoutReason 406 (`failure reason="406"`): WA Web shows "banned".
                "Banned" => Some(LinkAlert {
                    kind: "banned",
                    message: "WhatsApp banned the pharmacy's number and logged it out; replies are queued"
                        .into(),
                }),
                other => Some(LinkAlert {
                    kind: "logged_out",
                    message: format!(
                        "WhatsApp logged the pharmacy's number out ({other}): link it again on the WhatsApp page; replies are queued"
                    ),
                }),
            }
        }
        // `<failure reason="405">`: the server refuses this client version (whatsmeow
        // `events.ConnectFailureClientOutdated`), even the current one the client fetched.
        "outdated" => Some(LinkAlert {
            kind: "client_outdated",
            message: "WhatsApp refused the login with 405 (client outdated) even with the current WhatsApp Web version: update the service or set PHARMACY_WA_VERSION, then restart it; replies are queued"
                .into(),
        }),
        _ => None,
    }
}

/// Raises the alert `event` calls for, unless one of its kind is still open (one alert until
/// an admin acknowledges it).
pub async fn on_event(app: &App, event: &LiveEvent) -> Result<(), AppError> {
    let LiveEvent::WhatsappStatus { state, detail } = event else {
        return Ok(());
    };
    let Some(alert) = classify(state, detail.as_ref()) else {
        return Ok(());
    };
    let now = app.now();
    let mut tx = app.pool().begin_with("BEGIN IMMEDIATE").await?;
    if db::activity::open_alerts(&mut tx)
        .await?
        .iter()
        .any(|a| a.kind == alert.kind)
    {
        return Ok(());
    }
    let raised =
        db::activity::raise(&mut tx, alert.kind, &alert.message, detail.as_ref(), now).await?;
    tx.commit().await?;
    app.events()
        .publish(now, LiveEvent::AdminAlert { alert: raised });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logouts_bans_and_405_alert_our_own_logout_does_not() {
        let kind = |s: &str, d: Value| classify(s, Some(&d)).map(|a| a.kind);
        assert_eq!(
            kind("logged_out", json!({"reason": "LoggedOut"})),
            Some("logged_out")
        );
        assert_eq!(
            kind("logged_out", json!({"reason": "DeviceRemoved"})),
            Some("logged_out")
        );
        assert_eq!(
            kind("logged_out", json!({"reason": "Banned"})),
            Some("banned")
        );
        assert_eq!(kind("logged_out", json!({"reason": "UserInitiated"})), None);
        assert_eq!(classify("logged_out", None), None);
        assert_eq!(
            kind("outdated", json!({"code": 405, "message": "outdated"})),
            Some("client_outdated")
        );
        assert_eq!(kind("disconnected", json!({"code": 503})), None);
        assert_eq!(kind("disconnected", json!({"reason": "closed"})), None);
        assert_eq!(kind("temporary_ban", json!({"code": 101})), None);
        assert_eq!(kind("connected", json!({})), None);
    }
}
