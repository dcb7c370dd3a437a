//! Messages out: the [`Messenger`] port over the client (read receipts, typing, text and
//! media, delete for everyone), client errors mapped to [`SendError`].

use super::WhatsappBridge;
use crate::app::{LinkState, Messenger, OutgoingMessage, SendError};
use std::str::FromStr;
use std::time::Duration;
use whatsapp_client::{Client, ClientError, Jid, MediaKind, e2e};

impl WhatsappBridge {
    fn connected_client(&self) -> Result<Client, SendError> {
        if self.state() == LinkState::TemporaryBan {
            let d = self.link_snapshot().detail;
            return Err(SendError::TemporaryBan {
                reason: d
                    .as_ref()
                    .and_then(|d| d.code)
                    .and_then(|c| u16::try_from(c).ok()),
                expires_at: d.and_then(|d| d.until),
            });
        }
        match self.client() {
            Some(c) if c.is_connected() => Ok(c),
            _ => Err(SendError::Disconnected),
        }
    }
}

fn parse_jid(to: &str) -> Result<Jid, SendError> {
    Jid::from_str(to).map_err(|e| SendError::Permanent(format!("bad address {to}: {e}")))
}

/// The outbox's view of a client failure.
pub fn send_error(e: ClientError) -> SendError {
    match e {
        ClientError::NotConnected | ClientError::Disconnected | ClientError::Stopped => {
            SendError::Disconnected
        }
        ClientError::InvalidArgument(m) => SendError::Permanent(m),
        e @ ClientError::InvalidMessageId { .. } => SendError::Permanent(e.to_string()),
        ClientError::NewChatRefused { .. } => SendError::NewChatRefused,
        ClientError::MessageRefused { code } if code == 479 || code == 400 || code == 404 => {
            SendError::Permanent(format!("refused with error {code}"))
        }
        other => SendError::Transient(other.to_string()),
    }
}

fn media_kind(mime: &str) -> MediaKind {
    let m = mime.to_ascii_lowercase();
    if m.starts_with("image/") {
        MediaKind::Image
    } else if m.starts_with("video/") {
        MediaKind::Video
    } else if m.starts_with("audio/ogg") {
        MediaKind::VoiceNote
    } else if m.starts_with("audio/") {
        MediaKind::Audio
    } else {
        MediaKind::Document
    }
}

impl Messenger for WhatsappBridge {
    async fn mark_read(&self, chat: &str, message_ids: &[String]) -> Result<(), SendError> {
        if message_ids.is_empty() {
            return Ok(());
        }
        let c = self.connected_client()?;
        c.mark_read(&parse_jid(chat)?, None, message_ids)
            .await
            .map_err(send_error)
    }

    async fn set_typing(&self, chat: &str, typing: bool) -> Result<(), SendError> {
        let c = self.connected_client()?;
        c.send_chat_state(&parse_jid(chat)?, typing, false)
            .await
            .map_err(send_error)
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        // A short reconnect should not cost the outbox an attempt.
        if self.state() != LinkState::Connected {
            self.wait_for(Duration::from_secs(20), |s| s.state == LinkState::Connected)
                .await;
        }
        let c = self.connected_client()?;
        let to = parse_jid(&message.to)?;
        let sent = if let Some(media) = &message.media {
            tokio::fs::metadata(&media.path)
                .await
                .map_err(|e| SendError::Permanent(format!("media {}: {e}", media.sha256)))?;
            // Streamed from the file: encrypted as it is read.
            let kind = media_kind(&media.mime);
            let mut out =
                whatsapp_client::OutgoingMedia::new(kind, media.path.clone(), media.mime.clone());
            if let Some(text) = &message.text
                && matches!(
                    kind,
                    MediaKind::Image | MediaKind::Video | MediaKind::Document
                )
            {
                out = out.caption(text.clone());
            }
            if let Some(name) = &media.file_name
                && kind == MediaKind::Document
            {
                out = out.file_name(name.clone());
            }
            c.send_media_with_id(&to, &message.id, out).await
        } else {
            let text = message.text.clone().unwrap_or_default();
            let m = match &message.quoted_id {
                Some(q) => e2e::Message {
                    extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                        text: Some(text),
                        context_info: Some(Box::new(e2e::ContextInfo {
                            stanza_id: Some(q.clone()),
                            participant: Some(to.to_non_ad().to_string()),
                            quoted_message: Some(Box::default()),
                            ..Default::default()
                        })),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                None => e2e::Message {
                    conversation: Some(text),
                    ..Default::default()
                },
            };
            c.send_message_with_id(&to, &message.id, m).await
        };
        sent.map(drop).map_err(send_error)
    }

    async fn revoke(&self, chat: &str, message_id: &str) -> Result<(), SendError> {
        let c = self.connected_client()?;
        let to = parse_jid(chat)?;
        let m = e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                key: Some(e2e::MessageKey {
                    remote_jid: Some(to.to_non_ad().to_string()),
                    from_me: Some(true),
                    id: Some(message_id.to_owned()),
                    participant: None,
                }),
                r#type: Some(e2e::protocol_message::Type::Revoke as i32),
                ..Default::default()
            })),
            ..Default::default()
        };
        c.send_message(&to, m).await.map(drop).map_err(send_error)
    }
}
