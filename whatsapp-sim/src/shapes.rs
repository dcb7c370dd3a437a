//! The shapes real phones give what they send: wrappers (disappearing chats, view-once,
//! documents with a caption), round video notes and stickers made from an upload, edits in
//! both forms, polls, replies to interactive messages. Read from whatsmeow's senders
//! (send.go `BuildEdit`, `BuildPollCreation`) and Baileys' (src/Utils/messages.ts
//! `generateWAMessageContent`, `generateWAMessageFromContent`).

use crate::device::{MediaKind, Outgoing};
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
    let text = e2e::Message {
        conversation: Some(text.to_owned()),
        ..Default::default()
    };
    edit_into(chat, id, text, wrapped, now_ms)
}

/// An edit of the customer's message `id` into `new` (any content: whatsmeow `BuildEdit`
/// takes any message), in the form [`edit`] describes.
pub fn edit_into(
    chat: &str,
    id: &str,
    new: e2e::Message,
    wrapped: bool,
    now_ms: i64,
) -> e2e::Message {
    let protocol = e2e::Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(key(chat, id, true)),
            r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
            edited_message: Some(Box::new(new)),
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

/// The plaintext of an attachment [`catalogue`] sends (looked up through its wrappers):
/// what the receiver must end up with. `None` for a shape without an uploaded file.
pub fn media_data(send: &Outgoing) -> Option<&[u8]> {
    match send {
        Outgoing::Media { data, .. } => Some(data),
        Outgoing::Wrapped { content, .. } => media_data(content),
        _ => None,
    }
}

fn upload(kind: MediaKind, mimetype: &str, caption: Option<&str>, data: &[u8]) -> Outgoing {
    Outgoing::Media {
        kind,
        data: data.to_vec(),
        mimetype: mimetype.into(),
        caption: caption.map(str::to_owned),
        file_name: (kind == MediaKind::Document).then(|| "rx.pdf".to_owned()),
    }
}

fn wrapped(content: Outgoing, wrapping: Wrapping) -> Outgoing {
    Outgoing::Wrapped {
        content: Box::new(content),
        wrapping,
    }
}

fn raw(m: e2e::Message) -> Outgoing {
    Outgoing::Raw(Box::new(m))
}

fn card(name: &str, phone: &str) -> e2e::ContactMessage {
    e2e::ContactMessage {
        display_name: Some(name.into()),
        vcard: Some(format!(
            "BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nTEL;type=CELL;waid={phone}:+{phone}\nEND:VCARD"
        )),
        ..Default::default()
    }
}

/// The names of [`catalogue`]'s shapes that change an earlier message instead of being one:
/// the vote, the reaction, the edits and the revoke.
pub const CHANGES: [&str; 6] = [
    "poll vote",
    "reaction",
    "edit in an editedMessage",
    "edit as a bare protocol message",
    "edit in a disappearing chat",
    "revoke",
];

/// Every shape a customer's phone sends (Inbound I's table), by name, as a simulated
/// customer sends it to the account whose chat is `chat` (`<number>@s.whatsapp.net`, the
/// remote JID of the customer's keys): texts with and without context, each attachment
/// kind (wrapped as phones wrap them), locations, contacts, polls, the answers to
/// interactive messages, wrappers a phone puts around them, a kind no model reads, and the
/// [`CHANGES`]: the reaction and the edits name the customer's earlier message `edited`, the
/// revoke `revoked`, the vote a poll `3EB0POLL` with a made-up sealed payload. The suites
/// that send them keep their own expectations, by name.
#[allow(clippy::too_many_lines)] // One table.
pub fn catalogue(chat: &str, edited: &str, revoked: &str) -> Vec<(&'static str, Outgoing)> {
    let photo = b"\x89PNG pretend photo".repeat(40);
    let clip = b"pretend mp4 clip".repeat(60);
    let note = b"OggS pretend voice".repeat(30);
    let pdf = b"%PDF-1.4 prescription".repeat(50);
    let webp = b"RIFF pretend webp".repeat(20);
    let ephemeral = |seconds| Wrapping {
        ephemeral: Some(seconds),
        ..Default::default()
    };
    let view_once = || Wrapping {
        view_once: true,
        ..Default::default()
    };
    let caption_doc = |caption: &str, ephemeral: Option<u32>| {
        wrapped(
            upload(MediaKind::Document, "application/pdf", Some(caption), &pdf),
            Wrapping {
                document_with_caption: true,
                ephemeral,
                ..Default::default()
            },
        )
    };
    let inner = |text: &str| {
        future(e2e::Message {
            conversation: Some(text.into()),
            ..Default::default()
        })
    };
    vec![
        ("text", Outgoing::Text("hello".into())),
        (
            "text with a link preview",
            raw(e2e::Message {
                extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                    text: Some("see https://pharmacy.eg/offers".into()),
                    matched_text: Some("https://pharmacy.eg/offers".into()),
                    title: Some("Offers".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        ),
        (
            "text with mentions",
            wrapped(
                Outgoing::Text("ask @Ali".into()),
                Wrapping {
                    mentions: vec!["201009998887@s.whatsapp.net".into()],
                    ..Default::default()
                },
            ),
        ),
        (
            "forwarded many times",
            wrapped(
                Outgoing::Text("fwd".into()),
                Wrapping {
                    forwarded: Some(5),
                    ..Default::default()
                },
            ),
        ),
        (
            "text in a disappearing chat",
            wrapped(Outgoing::Text("gone in a day".into()), ephemeral(86_400)),
        ),
        (
            "text in a disappearing chat, Baileys' form",
            wrapped(
                Outgoing::Text("bare".into()),
                Wrapping {
                    ephemeral: Some(604_800),
                    ephemeral_bare: true,
                    ..Default::default()
                },
            ),
        ),
        (
            "image with a caption",
            upload(MediaKind::Image, "image/png", Some("my rash"), &photo),
        ),
        (
            "image in a disappearing chat",
            wrapped(
                upload(MediaKind::Image, "image/png", Some("eph"), &photo),
                ephemeral(86_400),
            ),
        ),
        (
            "view-once image",
            wrapped(
                upload(MediaKind::Image, "image/png", None, &photo),
                view_once(),
            ),
        ),
        (
            "video with a caption",
            upload(MediaKind::Video, "video/mp4", Some("how it looks"), &clip),
        ),
        (
            "view-once video",
            wrapped(
                upload(MediaKind::Video, "video/mp4", None, &clip),
                view_once(),
            ),
        ),
        (
            "round video note",
            upload(MediaKind::Ptv, "video/mp4", None, &clip),
        ),
        (
            "audio file",
            upload(MediaKind::Audio, "audio/mpeg", None, &note),
        ),
        (
            "voice note",
            upload(MediaKind::VoiceNote, "audio/ogg; codecs=opus", None, &note),
        ),
        (
            "view-once voice note",
            wrapped(
                upload(MediaKind::VoiceNote, "audio/ogg; codecs=opus", None, &note),
                view_once(),
            ),
        ),
        (
            "document",
            upload(MediaKind::Document, "application/pdf", None, &pdf),
        ),
        (
            "document with a caption",
            caption_doc("my prescription", None),
        ),
        (
            "document with a caption in a disappearing chat",
            caption_doc("again", Some(86_400)),
        ),
        (
            "sticker",
            upload(MediaKind::Sticker, "image/webp", None, &webp),
        ),
        (
            // Without its keys: nothing to download with.
            "lottie sticker",
            raw(e2e::Message {
                lottie_sticker_message: future(e2e::Message {
                    sticker_message: Some(Box::new(e2e::StickerMessage {
                        is_lottie: Some(true),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ),
        (
            "location",
            Outgoing::Location {
                lat: 30.0444,
                lng: 31.2357,
                name: Some("Tahrir".into()),
            },
        ),
        (
            "location in a disappearing chat",
            wrapped(
                Outgoing::Location {
                    lat: 30.0,
                    lng: 31.0,
                    name: None,
                },
                ephemeral(7_776_000),
            ),
        ),
        (
            "live location",
            raw(e2e::Message {
                live_location_message: Some(Box::new(e2e::LiveLocationMessage {
                    degrees_latitude: Some(30.1),
                    degrees_longitude: Some(31.3),
                    caption: Some("on my way".into()),
                    sequence_number: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        ),
        (
            "contact",
            raw(e2e::Message {
                contact_message: Some(Box::new(card("Dr. Hany", "201001112223"))),
                ..Default::default()
            }),
        ),
        (
            "contact list",
            raw(e2e::Message {
                contacts_array_message: Some(Box::new(e2e::ContactsArrayMessage {
                    display_name: Some("2 contacts".into()),
                    contacts: vec![
                        card("Dr. Hany", "201001112223"),
                        card("Nurse Mona", "201004445556"),
                    ],
                    ..Default::default()
                })),
                ..Default::default()
            }),
        ),
        (
            "single-choice poll",
            raw(poll("Which branch?", &["Maadi", "Zamalek"], true, [7; 32])),
        ),
        (
            "multiple-choice poll",
            raw(poll("Which days?", &["Sat", "Sun", "Mon"], false, [8; 32])),
        ),
        (
            "poll, V2 field",
            raw(e2e::Message {
                poll_creation_message_v2: Some(Box::new(e2e::PollCreationMessage {
                    name: Some("Q".into()),
                    options: vec![e2e::poll_creation_message::Option {
                        option_name: Some("yes".into()),
                        option_hash: None,
                    }],
                    selectable_options_count: Some(1),
                    ..Default::default()
                })),
                message_context_info: Some(e2e::MessageContextInfo {
                    message_secret: Some(vec![9; 32]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ),
        (
            "poll vote",
            raw(e2e::Message {
                poll_update_message: Some(e2e::PollUpdateMessage {
                    poll_creation_message_key: Some(key(chat, "3EB0POLL", false)),
                    vote: Some(e2e::PollEncValue {
                        enc_payload: Some(vec![1; 40]),
                        enc_iv: Some(vec![2; 12]),
                    }),
                    metadata: None,
                    sender_timestamp_ms: Some(1_700_000_000_000),
                }),
                ..Default::default()
            }),
        ),
        (
            "reaction",
            Outgoing::Reaction {
                message_id: edited.into(),
                emoji: "👍".into(),
                remote_jid: chat.into(),
                from_me: true,
            },
        ),
        (
            "edit in an editedMessage",
            raw(edit(chat, edited, "fixed", true, 1)),
        ),
        (
            "edit as a bare protocol message",
            raw(edit(chat, edited, "fixed again", false, 2)),
        ),
        (
            "edit in a disappearing chat",
            raw(e2e::Message {
                ephemeral_message: future(edit(chat, edited, "eph edit", true, 3)),
                ..Default::default()
            }),
        ),
        ("revoke", raw(revoke(chat, revoked))),
        (
            "buttons reply",
            raw(e2e::Message {
                buttons_response_message: Some(Box::new(e2e::ButtonsResponseMessage {
                    selected_button_id: Some("confirm".into()),
                    selected_display_text: Some("Confirm order".into()),
                    r#type: Some(1),
                    context_info: Some(Box::new(e2e::ContextInfo {
                        stanza_id: Some("3EB0BUTTONS".into()),
                        ..Default::default()
                    })),
                })),
                ..Default::default()
            }),
        ),
        (
            "list reply",
            raw(e2e::Message {
                list_response_message: Some(Box::new(e2e::ListResponseMessage {
                    title: Some("Maadi".into()),
                    list_type: Some(1),
                    single_select_reply: Some(e2e::list_response_message::SingleSelectReply {
                        selected_row_id: Some("branch-3".into()),
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        ),
        (
            "template button reply",
            raw(e2e::Message {
                template_button_reply_message: Some(Box::new(e2e::TemplateButtonReplyMessage {
                    selected_id: Some("call-me".into()),
                    selected_display_text: Some("Call me".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        ),
        (
            "interactive (native flow) reply",
            raw(e2e::Message {
                interactive_response_message: Some(Box::new(e2e::InteractiveResponseMessage {
                    body: Some(e2e::interactive_response_message::Body {
                        text: Some("Sent".into()),
                        format: None,
                    }),
                    native_flow_response_message: Some(
                        e2e::interactive_response_message::NativeFlowResponseMessage {
                            name: Some("address_message".into()),
                            params_json: Some("{\"city\":\"Cairo\"}".into()),
                            version: Some(1),
                        },
                    ),
                    context_info: None,
                })),
                ..Default::default()
            }),
        ),
        (
            "bot invoke wrapper",
            raw(e2e::Message {
                bot_invoke_message: inner("@bot hi"),
                ..Default::default()
            }),
        ),
        (
            "group status wrapper (Baileys)",
            raw(e2e::Message {
                group_status_message_v2: inner("status"),
                ..Default::default()
            }),
        ),
        (
            "a kind the model does not read",
            raw(e2e::Message {
                pin_in_chat_message: Some(e2e::PinInChatMessage {
                    key: Some(key(chat, edited, true)),
                    r#type: Some(1),
                    sender_timestamp_ms: Some(1),
                }),
                ..Default::default()
            }),
        ),
    ]
}
