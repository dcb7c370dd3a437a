//! Admin alerts for the link's states that need a person: a logout (other than our own), a
//! 405 refusal (the client is outdated), a ban. A temporary ban is already alerted by the
//! outbox when it pauses sending (`whatsapp::outbox`), so it is not alerted twice here.

use crate::app::{App, AppError, LinkDetail, LiveEvent};

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
pub fn classify(state: &str, detail: Option<&LinkDetail>) -> Option<LinkAlert> {
    match state {
        "logged_out" => {
            // `None`: an admin's own logout through the API; `UserInitiated`: the client's
            // report of the same.
            let reason = detail?.reason.as_deref()?;
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
    let detail = detail
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .ok()
        .flatten();
    app.raise_alert_once(alert.kind, &alert.message, detail.as_ref())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logouts_bans_and_405_alert_our_own_logout_does_not() {
        let reason = |r: &str| LinkDetail {
            reason: Some(r.into()),
            ..LinkDetail::default()
        };
        let code = |c: i64| LinkDetail {
            code: Some(c),
            ..LinkDetail::default()
        };
        let kind = |s: &str, d: LinkDetail| classify(s, Some(&d)).map(|a| a.kind);
        assert_eq!(kind("logged_out", reason("LoggedOut")), Some("logged_out"));
        assert_eq!(
            kind("logged_out", reason("DeviceRemoved")),
            Some("logged_out")
        );
        assert_eq!(kind("logged_out", reason("Banned")), Some("banned"));
        assert_eq!(kind("logged_out", reason("UserInitiated")), None);
        assert_eq!(classify("logged_out", None), None);
        assert_eq!(kind("outdated", code(405)), Some("client_outdated"));
        assert_eq!(kind("disconnected", code(503)), None);
        assert_eq!(kind("disconnected", reason("closed")), None);
        assert_eq!(kind("temporary_ban", code(101)), None);
        assert_eq!(kind("connected", LinkDetail::default()), None);
    }
}
