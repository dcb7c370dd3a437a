//! The outbound WhatsApp port. The service never talks to a socket itself: the bridge (a real
//! WhatsApp client, the simulator, or the fake in tests) implements [`Messenger`].

use crate::domain::time::Timestamp;
use std::future::Future;
use std::path::PathBuf;

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
