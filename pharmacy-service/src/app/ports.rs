//! The WhatsApp ports. The service never talks to a socket itself: the bridge (a real
//! WhatsApp client over the real server or the simulator) implements [`Messenger`] (outbound
//! messages, for the outbox) and [`WhatsappLink`] (pairing, status, logout, for the admin
//! pages); `crate::whatsapp::fake` holds the fakes tests use.

use crate::domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// A media attachment to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMedia {
    /// Content address (SHA-256 hex).
    pub sha256: String,
    /// Where the bytes are.
    pub path: PathBuf,
    /// Media type.
    pub mime: String,
    /// File name to show.
    pub file_name: Option<String>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The WhatsApp message id, chosen when the reply was queued. A resend after a crash
    /// reuses it, so the recipient sees the message once.
    pub id: String,
    /// Recipient JID (`201001234567@s.whatsapp.net` or `...@lid`).
    pub to: String,
    /// Text, or the caption of the media.
    pub text: Option<String>,
    /// Attachment.
    pub media: Option<OutgoingMedia>,
    /// The WhatsApp id of the message being replied to.
    pub quoted_id: Option<String>,
}

/// Why a WhatsApp operation failed, split by what the outbox should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later with backoff (timeouts, server errors).
    #[error("transient: {0}")]
    Transient(String),
    /// Not connected right now; retry when the link is back.
    #[error("not connected")]
    Disconnected,
    /// WhatsApp temporarily banned the number: pause everything and alert an admin.
    #[error("temporarily banned (reason {reason:?}) until {expires_at:?}")]
    TemporaryBan {
        /// WhatsApp's reason code (101-106).
        reason: Option<u16>,
        /// When the ban lifts.
        expires_at: Option<Timestamp>,
    },
    /// Will never succeed (not on WhatsApp, bad address, media missing).
    #[error("permanent: {0}")]
    Permanent(String),
    /// WhatsApp refused a first message to someone who never wrote to the pharmacy (ack error
    /// 463): permanent, and never retried, since each retry is another reach-out to a stranger.
    #[error("refused by WhatsApp: the customer has not written to the pharmacy's number")]
    NewChatRefused,
}

impl SendError {
    /// Whether retrying can never help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_) | SendError::NewChatRefused)
    }
}

/// Outbound WhatsApp operations for one number.
pub trait Messenger: Send + Sync + 'static {
    /// Sends read receipts for the given incoming message ids of a chat.
    fn mark_read(
        &self,
        chat: &str,
        message_ids: &[String],
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Shows or stops "typing…" in a chat.
    fn set_typing(
        &self,
        chat: &str,
        typing: bool,
    ) -> impl Future<Output = Result<(), SendError>> + Send;

    /// Sends one message; `Ok` once the server accepted it.
    fn send(&self, message: &OutgoingMessage)
    -> impl Future<Output = Result<(), SendError>> + Send;

    /// Deletes one of our sent messages for everyone (`message_id` is its WhatsApp id).
    fn revoke(
        &self,
        chat: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// A boxed future (the port is used as a trait object).
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LinkError>> + Send + 'a>>;

/// Why the link could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not connected / not paired.
    #[error("WhatsApp is not connected")]
    NotConnected,
    /// Already paired: log out first.
    #[error("already paired")]
    AlreadyPaired,
    /// The phone number is not acceptable.
    #[error("invalid phone number: {0}")]
    InvalidPhone(String),
    /// Anything else (shown to admins).
    #[error("{0}")]
    Other(String),
}

/// The link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not paired: waiting for a QR scan or a pairing code.
    Unpaired,
    /// Paired, connecting.
    Connecting,
    /// Connected and serving.
    Connected,
    /// Paired, but disconnected (retrying).
    Disconnected,
    /// WhatsApp logged the device out.
    LoggedOut,
    /// Temporarily banned.
    TemporaryBan,
    /// WhatsApp refused this client's version (405) even after the current one was fetched:
    /// the link stays down until the service is updated or `PHARMACY_WA_VERSION` is set.
    Outdated,
}

/// What `GET /api/whatsapp/status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LinkStatus {
    /// The state.
    pub state: LinkState,
    /// The paired number (digits), when paired.
    pub phone: Option<String>,
    /// Push name of the account.
    pub name: Option<String>,
    /// What the link says more about its state (why it went down, a ban's code and end).
    pub detail: Option<LinkDetail>,
    /// The last [`RECENT_DISCONNECTS`] times the link went down, newest first (kept in memory:
    /// empty after a restart).
    pub recent_disconnects: Vec<DisconnectRecord>,
}

/// How many disconnects [`LinkStatus::recent_disconnects`] keeps.
pub const RECENT_DISCONNECTS: usize = 10;

/// One time the link went down.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DisconnectRecord {
    /// When (ms since the epoch).
    #[schema(value_type = i64)]
    pub at: crate::domain::time::Timestamp,
    /// The state it went to: `disconnected`, `logged_out`, `temporary_ban` or `outdated`.
    pub state: String,
    /// The cause in words (`replaced`, `code 401: ...`, the client's reason).
    pub reason: String,
    /// The cause as the client stated it.
    pub detail: Option<LinkDetail>,
}

/// What the link says more about its state, as the bridge states it: the `detail` of
/// `GET /api/whatsapp/status` and of the live `whatsappStatus` event. Which fields are present
/// depends on the state (`disconnected`: `reason`, or `code` and `message` of a refused login;
/// `logged_out`: `reason`; `temporary_ban`: `code` and `until`; `outdated`: `code` and
/// `message`; `qr`: `qr`; `store_failed`: `error` and `failures`; `store_recovered`:
/// `failures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkDetail {
    /// Why the link went down: the client's reason, `replaced` (another connection took the
    /// device over), or why WhatsApp logged the device out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The server's code: of a refused login, or of a temporary ban.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// The server's words with a refused login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When a temporary ban ends (ms since the epoch), when WhatsApp said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// The pairing QR string to scan (state `qr`; admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr: Option<String>,
    /// Why the database refused an incoming message (state `store_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Incoming messages refused since the last one stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<u64>,
}

impl DisconnectRecord {
    /// A record of the link going to `state` with the `detail` the bridge publishes.
    pub fn new(
        at: crate::domain::time::Timestamp,
        state: &str,
        detail: Option<&LinkDetail>,
    ) -> Self {
        let detail = detail.cloned();
        let d = detail.clone().unwrap_or_default();
        let reason = match (d.reason, d.code, d.message) {
            (Some(r), _, _) => r,
            (None, Some(c), Some(m)) => format!("code {c}: {m}"),
            (None, Some(c), None) => format!("code {c}"),
            (None, None, Some(m)) => m,
            (None, None, None) => state.to_owned(),
        };
        DisconnectRecord {
            at,
            state: state.to_owned(),
            reason,
            detail,
        }
    }

    /// Puts `self` first in `recent`, keeping at most [`RECENT_DISCONNECTS`].
    pub fn push_to(self, recent: &mut std::collections::VecDeque<DisconnectRecord>) {
        recent.push_front(self);
        recent.truncate(RECENT_DISCONNECTS);
    }
}

/// Port to the WhatsApp link (one number). Implemented by the service's bridge over
/// whatsapp-client, and by `crate::whatsapp::fake::FakeWhatsapp`.
pub trait WhatsappLink: Send + Sync + 'static {
    /// Current state.
    fn status(&self) -> LinkFuture<'_, LinkStatus>;
    /// The current pairing QR string (`ref,noiseKey,identityKey,advSecret`), while unpaired.
    fn qr_code(&self) -> LinkFuture<'_, Option<String>>;
    /// Asks for an 8-character pairing code for this phone number (digits, international).
    fn pair_code<'a>(&'a self, phone: &'a str) -> LinkFuture<'a, String>;
    /// Logs out and forgets the pairing.
    fn disconnect(&self) -> LinkFuture<'_, ()>;
    /// Announces us available under `name`, the presence (push) name the client sends from
    /// then on (whatsmeow `SendPresence`). [`LinkError::NotConnected`] while the link is down:
    /// the next connection announces the name in force anyway.
    fn announce_name<'a>(&'a self, name: &'a str) -> LinkFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(r: &str) -> LinkDetail {
        LinkDetail {
            reason: Some(r.into()),
            ..LinkDetail::default()
        }
    }

    #[test]
    fn disconnect_records_keep_the_newest_ten_with_their_causes() {
        let mut recent = std::collections::VecDeque::new();
        for i in 0..12 {
            DisconnectRecord::new(
                Timestamp(i),
                "disconnected",
                Some(&reason(&format!("r{i}"))),
            )
            .push_to(&mut recent);
        }
        assert_eq!(recent.len(), RECENT_DISCONNECTS);
        assert_eq!(
            (recent[0].at, recent[0].reason.as_str()),
            (Timestamp(11), "r11")
        );
        assert_eq!(recent[9].reason, "r2");
        let refused = LinkDetail {
            code: Some(401),
            message: Some("bad".into()),
            ..LinkDetail::default()
        };
        let r = DisconnectRecord::new(Timestamp(1), "disconnected", Some(&refused));
        assert_eq!(r.reason, "code 401: bad");
        let ban = LinkDetail {
            code: Some(101),
            ..LinkDetail::default()
        };
        let r = DisconnectRecord::new(Timestamp(1), "temporary_ban", Some(&ban));
        assert_eq!(r.reason, "code 101");
        assert_eq!(
            DisconnectRecord::new(Timestamp(1), "logged_out", None).reason,
            "logged_out"
        );
    }

    /// A detail's JSON has the fields its state has and no others.
    #[test]
    fn a_link_detail_writes_only_its_fields() {
        let ban = LinkDetail {
            code: Some(101),
            until: Some(Timestamp(1_700_000_000_000)),
            ..LinkDetail::default()
        };
        assert_eq!(
            serde_json::to_value(&ban).unwrap(),
            json!({ "code": 101, "until": 1_700_000_000_000_i64 })
        );
        let failed = LinkDetail {
            error: Some("disk full".into()),
            failures: Some(2),
            ..LinkDetail::default()
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({ "error": "disk full", "failures": 2 })
        );
        let record = DisconnectRecord::new(Timestamp(1), "disconnected", Some(&reason("replaced")));
        assert_eq!(
            record.detail.and_then(|d| d.reason).as_deref(),
            Some("replaced")
        );
    }
}
