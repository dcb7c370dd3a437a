//! The shapes real phones give what they send: wrappers (disappearing chats, view-once,
//! documents with a caption), round video notes and stickers made from an upload, edits in
//! both forms, polls, replies to interactive messages. Read from whatsmeow's senders
//! (send.go `BuildEdit`, `BuildPollCreation`) and Baileys' (src/Utils/messages.ts
//! `generateWAMessageContent`, `generateWAMessageFromContent`).

use whatsapp_proto::pb::e2e;

/// How a phone wraps a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wrapping {
    /// The chat has disappearing messages on (seconds): the content's
    /// `contextInfo.expiration` is set and, as phones do, the message goes in an
    /// `ephemeralMessage` (Baileys sets only the expiration: see `ephemeral_bare`).
    pub ephemeral: Option<u32>,
    /// Only `contextInfo.expiration`, no `ephemeralMessage` (Baileys' form).
    pub ephemeral_bare: bool,
    /// View-once: the media's `viewOnce` flag and a `viewOnceMessageV2` wrapper (a voice
    /// note goes in `viewOnceMessageV2Extension`).
    pub view_once: bool,
    /// A document with a caption goes in `documentWithCaptionMessage`.
    pub document_with_caption: bool,
    /// Forwarded this many times (`contextInfo.isForwarded`, `forwardingScore`).
    pub forwarded: Option<u32>,
    /// Users mentioned (`contextInfo.mentionedJid`).
    pub mentions: Vec<String>,
}

fn future(message: e2e::Message) -> Option<Box<e2e::FutureProofMessage>> {
    Some(Box::new(e2e::FutureProofMessage {
        message: Some(Box::new(message)),
    }))
}

/// The content's `contextInfo`, created when absent; a bare conversation becomes an
/// extended text first, as phones send text with a context.
fn context_mut(m: &mut e2e::Message) -> Option<&mut e2e::ContextInfo> {
    if let Some(text) = m.conversation.take() {
        m.extended_text_message = Some(Box::new(e2e::ExtendedTextMessage {
            text: Some(text),
            ..Default::default()
        }));
    }
    whatsapp_proto::content::context_info_mut(m)
}

/// Wraps `message` as a phone would.
pub fn wrap(mut message: e2e::Message, wrapping: &Wrapping) -> e2e::Message {
    let needs_context = wrapping.ephemeral.is_some()
        || wrapping.forwarded.is_some()
        || !wrapping.mentions.is_empty();
    if needs_context && let Some(context) = context_mut(&mut message) {
        if let Some(seconds) = wrapping.ephemeral {
            context.expiration = Some(seconds);
        }
        if let Some(score) = wrapping.forwarded {
            context.is_forwarded = Some(true);
            context.forwarding_score = Some(score);
        }
        if !wrapping.mentions.is_empty() {
            context.mentioned_jid = wrapping.mentions.clone();
        }
    }
    if wrapping.document_with_caption && message.document_message.is_some() {
        message = e2e::Message {
            document_with_caption_message: future(message),
            ..Default::default()
        };
    }
    if wrapping.view_once {
        let voice = message.audio_message.is_some();
        if let Some(m) = message.image_message.as_mut() {
            m.view_once = Some(true);
        } else if let Some(m) = message.video_message.as_mut() {
            m.view_once = Some(true);
        } else if let Some(m) = message.audio_message.as_mut() {
            m.view_once = Some(true);
        }
        message = if voice {
            e2e::Message {
                view_once_message_v2_extension: future(message),
                ..Default::default()
            }
        } else {
            e2e::Message {
                view_once_message_v2: future(message),
                ..Default::default()
            }
        };
    }
    if wrapping.ephemeral.is_some() && !wrapping.ephemeral_bare {
        message = e2e::Message {
            ephemeral_message: future(message),
            ..Default::default()
        };
    }
    message
}

/// A video upload sent as a round video note (`ptvMessage`; Baileys moves `videoMessage`).
pub fn as_ptv(mut message: e2e::Message) -> e2e::Message {
    if let Some(video) = message.video_message.take() {
        message.ptv_message = Some(video);
    }
    message
}

/// An image upload (image keys, as stickers use) sent as a `stickerMessage`.
pub fn as_sticker(mut message: e2e::Message) -> e2e::Message {
    if let Some(i) = message.image_message.take() {
        message.sticker_message = Some(Box::new(e2e::StickerMessage {
            url: i.url,
            file_sha256: i.file_sha256,
            file_enc_sha256: i.file_enc_sha256,
            media_key: i.media_key,
            mimetype: Some("image/webp".into()),
            height: i.height,
            width: i.width,
            direct_path: i.direct_path,
            file_length: i.file_length,
            media_key_timestamp: i.media_key_timestamp,
            context_info: i.context_info,
            ..Default::default()
        }));
    }
    message
}

/// The key of a message in the chat with `chat` (`from_me`: the customer sent it).
pub fn key(chat: &str, id: &str, from_me: bool) -> e2e::MessageKey {
    e2e::MessageKey {
        remote_jid: Some(chat.to_owned()),
        from_me: Some(from_me),
        id: Some(id.to_owned()),
        participant: None,
    }
}

/// An edit of the customer's message `id` to `text`. `wrapped`: whatsmeow's and current
/// phones' form, the protocol message in an `editedMessage` (send.go `BuildEdit`);
/// otherwise Baileys' bare `protocolMessage`.
pub fn edit(chat: &str, id: &str, text: &str, wrapped: bool, now_ms: i64) -> e2e::Message {
    let protocol = e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(key(chat, id, true)),
            r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
            edited_message: Some(Box::new(e2e::Message {
                conversation: Some(text.to_owned()),
                ..Default::default()
            })),
            timestamp_ms: Some(now_ms),
            ..Default::default()
        })),
        ..Default::default()
    };
    if wrapped {
        e2e::Message {
            edited_message: future(protocol),
            ..Default::default()
        }
    } else {
        protocol
    }
}

/// Deletes the customer's message `id` for everyone.
pub fn revoke(chat: &str, id: &str) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(key(chat, id, true)),
            r#type: Some(e2e::protocol_message::Type::Revoke as i32),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A poll (`pollCreationMessageV3` when `single`, as whatsmeow `BuildPollCreation` sends a
/// single-choice poll; `pollCreationMessage` otherwise) with its 32-byte message secret.
pub fn poll(name: &str, options: &[&str], single: bool, secret: [u8; 32]) -> e2e::Message {
    let poll = e2e::PollCreationMessage {
        name: Some(name.to_owned()),
        options: options
            .iter()
            .map(|o| e2e::poll_creation_message::Option {
                option_name: Some((*o).to_owned()),
                option_hash: None,
            })
            .collect(),
        selectable_options_count: Some(u32::from(single)),
        ..Default::default()
    };
    let mut m = e2e::Message {
        message_context_info: Some(e2e::MessageContextInfo {
            message_secret: Some(secret.to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    if single {
        m.poll_creation_message_v3 = Some(Box::new(poll));
    } else {
        m.poll_creation_message = Some(Box::new(poll));
    }
    m
}
