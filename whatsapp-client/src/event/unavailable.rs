//! A message this device could not be given (`<unavailable>`).

use super::{AckHandle, MessageInfo};

/// Why the server gave no ciphertext (the `type` of `<unavailable>`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnavailableKind {
    /// `view_once`: view-once media, which WhatsApp does not send to linked devices. Only
    /// the phone can show it.
    ViewOnce,
    /// Any other type (as given; empty when absent): our phone was asked to resend it.
    Other(String),
}

/// A message this device could not be given: a placeholder to show. For a view-once
/// message that is all there is; for the others, the message itself follows as an
/// [`crate::Event::Message`] (same id) once our phone answers the resend request.
#[derive(Debug)]
pub struct UnavailableMessage {
    /// Who sent it, where, when.
    pub info: MessageInfo,
    /// Why it is unavailable.
    pub kind: UnavailableKind,
    /// Whether our phone was asked to resend it.
    pub resend_requested: bool,
    pub(crate) ack: Option<AckHandle>,
}

impl UnavailableMessage {
    /// Acknowledges the stanza once the application stored the placeholder (a view-once
    /// placeholder is acknowledged only then; the others were acknowledged when the resend
    /// was requested, and this does nothing).
    pub fn ack(&mut self) {
        if let Some(handle) = self.ack.take() {
            handle.send();
        }
    }
}
