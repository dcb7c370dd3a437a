//! A message stanza's `type`, its `edit` attribute and an `<enc>`'s `mediatype` and
//! `decrypt-fail`, read from the content (whatsmeow `send.go` `getTypeFromMessage`,
//! `getMediaTypeFromMessage`, `getEditAttribute` and `prepareMessageNode`).

use crate::pb::e2e;

/// The message a wrapper (view-once, ephemeral, document-with-caption, lottie sticker)
/// carries, if `message` is one.
fn wrapped(message: &e2e::Message) -> Option<&e2e::Message> {
    message
        .view_once_message
        .as_ref()
        .or(message.view_once_message_v2.as_ref())
        .or(message.view_once_message_v2_extension.as_ref())
        .or(message.lottie_sticker_message.as_ref())
        .or(message.ephemeral_message.as_ref())
        .or(message.document_with_caption_message.as_ref())
        .and_then(|wrapper| wrapper.message.as_deref())
}

/// The stanza `type`: `reaction`, `poll`, `media` (whatever has a [`media_type`]) or
/// `text`. Wrappers are looked through.
///
/// ```
/// use whatsapp_proto::pb::e2e;
/// use whatsapp_proto::stanza::message_type::stanza_type;
/// let text = e2e::Message { conversation: Some("hi".into()), ..Default::default() };
/// assert_eq!(stanza_type(&text), "text");
/// let image = e2e::Message { image_message: Some(Default::default()), ..Default::default() };
/// assert_eq!(stanza_type(&image), "media");
/// ```
pub fn stanza_type(message: &e2e::Message) -> &'static str {
    if let Some(inner) = wrapped(message) {
        return stanza_type(inner);
    }
    if message.reaction_message.is_some() || message.enc_reaction_message.is_some() {
        "reaction"
    } else if message.poll_creation_message.is_some()
        // guess: V2/V3 polls are `poll` too; whatsmeow's `getTypeFromMessage` checks only V1
        // and the vote, so its own single-choice (V3) polls go out as `text`.
        // Baileys `getMessageType` names all three.
        || message.poll_creation_message_v2.is_some()
        || message.poll_creation_message_v3.is_some()
        || message.poll_update_message.is_some()
    {
        "poll"
    } else if media_type(message).is_some() {
        "media"
    } else {
        "text"
    }
}

/// The `edit` attribute of a message stanza (whatsmeow `types/message.go` `EditAttribute`,
/// decided as `send.go` `getEditAttribute`): `1` an edit, `2` a pin, `7` a revoke of our own
/// message (or a removed reaction), `8` an admin's revoke of someone else's; `None` for the rest.
/// An edit wrapped in `editedMessage` is looked into.
///
/// ```
/// use whatsapp_proto::pb::e2e;
/// use whatsapp_proto::stanza::message_type::edit_attribute;
/// let revoke = e2e::Message {
///     protocol_message: Some(Box::new(e2e::ProtocolMessage {
///         r#type: Some(e2e::protocol_message::Type::Revoke as i32),
///         key: Some(e2e::MessageKey { from_me: Some(true), ..Default::default() }),
///         ..Default::default()
///     })),
///     ..Default::default()
/// };
/// assert_eq!(edit_attribute(&revoke), Some("7"));
/// ```
pub fn edit_attribute(message: &e2e::Message) -> Option<&'static str> {
    use e2e::protocol_message::Type;
    if let Some(inner) = message
        .edited_message
        .as_ref()
        .and_then(|wrapper| wrapper.message.as_deref())
    {
        return edit_attribute(inner);
    }
    if let Some(protocol) = &message.protocol_message
        && let Some(key) = &protocol.key
    {
        let kind = protocol.r#type;
        return if kind == Some(Type::Revoke as i32) {
            Some(if key.from_me == Some(true) { "7" } else { "8" })
        } else if kind == Some(Type::MessageEdit as i32) && protocol.edited_message.is_some() {
            Some("1")
        } else {
            None
        };
    }
    if let Some(reaction) = &message.reaction_message {
        // Removing a reaction is sending an empty one.
        return reaction
            .text
            .as_deref()
            .unwrap_or_default()
            .is_empty()
            .then_some("7");
    }
    message.pin_in_chat_message.as_ref().map(|_| "2")
}

/// Whether the `<enc>`s of a message carry `decrypt-fail="hide"`, so that a recipient that
/// cannot decrypt it shows no "waiting for this message" (whatsmeow `send.go`
/// `prepareMessageNode`): edits, revokes and the rest with an [`edit_attribute`], reactions
/// and poll votes.
pub fn hides_decrypt_failure(message: &e2e::Message) -> bool {
    edit_attribute(message).is_some()
        || stanza_type(message) == "reaction"
        || message.poll_update_message.is_some()
}

/// The `mediatype` attribute of an `<enc>`: none for text, reactions and polls. Wrappers
/// are looked through; voice notes (`ptt`) and GIFs are told apart from audio and video.
///
/// ```
/// use whatsapp_proto::pb::e2e;
/// use whatsapp_proto::stanza::message_type::media_type;
/// let voice = e2e::Message {
///     audio_message: Some(Box::new(e2e::AudioMessage { ptt: Some(true), ..Default::default() })),
///     ..Default::default()
/// };
/// assert_eq!(media_type(&voice), Some("ptt"));
/// ```
pub fn media_type(message: &e2e::Message) -> Option<&'static str> {
    if let Some(inner) = wrapped(message) {
        return media_type(inner);
    }
    let kind = if message
        .extended_text_message
        .as_ref()
        .is_some_and(|text| text.title.is_some())
    {
        "url"
    } else if message.image_message.is_some() {
        "image"
    } else if message.sticker_message.is_some() {
        "sticker"
    } else if message.document_message.is_some() {
        "document"
    } else if let Some(audio) = &message.audio_message {
        if audio.ptt == Some(true) {
            "ptt"
        } else {
            "audio"
        }
    } else if let Some(video) = &message.video_message {
        if video.gif_playback == Some(true) {
            "gif"
        } else {
            "video"
        }
    } else if message.ptv_message.is_some() {
        // Not in whatsmeow's list; Baileys `getMediaType` names round video notes "ptv".
        "ptv"
    } else if message.contact_message.is_some() {
        "vcard"
    } else if message.contacts_array_message.is_some() {
        "contact_array"
    } else if message.list_response_message.is_some() {
        "list_response"
    } else if message.buttons_response_message.is_some() {
        "buttons_response"
    } else if message.interactive_response_message.is_some() {
        "native_flow_response"
    } else {
        return None;
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> e2e::Message {
        e2e::Message {
            image_message: Some(Default::default()),
            ..Default::default()
        }
    }

    #[test]
    fn media_kinds_are_told_apart() {
        let audio = |ptt| e2e::Message {
            audio_message: Some(Box::new(e2e::AudioMessage {
                ptt: Some(ptt),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&audio(true)), Some("ptt"));
        assert_eq!(media_type(&audio(false)), Some("audio"));
        let video = |gif| e2e::Message {
            video_message: Some(Box::new(e2e::VideoMessage {
                gif_playback: Some(gif),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&video(true)), Some("gif"));
        assert_eq!(media_type(&video(false)), Some("video"));
        let ptv = e2e::Message {
            ptv_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(media_type(&ptv), Some("ptv"));
        let document = e2e::Message {
            document_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(media_type(&document), Some("document"));
        let link = e2e::Message {
            extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                title: Some("a page".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&link), Some("url"));
        assert_eq!(stanza_type(&link), "media");
        let vcard = e2e::Message {
            contact_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(media_type(&vcard), Some("vcard"));
    }

    #[test]
    fn wrappers_are_looked_through() {
        let view_once = e2e::Message {
            view_once_message_v2: Some(Box::new(e2e::FutureProofMessage {
                message: Some(Box::new(image())),
            })),
            ..Default::default()
        };
        assert_eq!(media_type(&view_once), Some("image"));
        assert_eq!(stanza_type(&view_once), "media");
        let ephemeral_reaction = e2e::Message {
            ephemeral_message: Some(Box::new(e2e::FutureProofMessage {
                message: Some(Box::new(e2e::Message {
                    reaction_message: Some(Default::default()),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        };
        assert_eq!(stanza_type(&ephemeral_reaction), "reaction");
        assert_eq!(media_type(&ephemeral_reaction), None);
    }

    fn protocol(kind: e2e::protocol_message::Type, from_me: bool) -> e2e::Message {
        e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                r#type: Some(kind as i32),
                key: Some(e2e::MessageKey {
                    from_me: Some(from_me),
                    id: Some("3EB0TARGET".into()),
                    ..Default::default()
                }),
                edited_message: (kind == e2e::protocol_message::Type::MessageEdit).then(|| {
                    Box::new(e2e::Message {
                        conversation: Some("fixed".into()),
                        ..Default::default()
                    })
                }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn edits_and_revokes_carry_whatsmeows_edit_attribute_and_travel_as_text() {
        use e2e::protocol_message::Type;
        let edit = protocol(Type::MessageEdit, true);
        let wrapped_edit = e2e::Message {
            edited_message: Some(Box::new(e2e::FutureProofMessage {
                message: Some(Box::new(edit.clone())),
            })),
            ..Default::default()
        };
        let own_revoke = protocol(Type::Revoke, true);
        let admin_revoke = protocol(Type::Revoke, false);
        for (message, edit_attr) in [
            (&edit, "1"),
            (&wrapped_edit, "1"),
            (&own_revoke, "7"),
            (&admin_revoke, "8"),
        ] {
            assert_eq!(edit_attribute(message), Some(edit_attr));
            assert!(hides_decrypt_failure(message));
            // whatsmeow's `getTypeFromMessage`: a protocol message is "text".
            assert_eq!((stanza_type(message), media_type(message)), ("text", None));
        }
        let reaction = |text: &str| e2e::Message {
            reaction_message: Some(e2e::ReactionMessage {
                text: Some(text.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(edit_attribute(&reaction("👍")), None);
        assert_eq!(edit_attribute(&reaction("")), Some("7"));
        assert!(hides_decrypt_failure(&reaction("👍")));
        let vote = e2e::Message {
            poll_update_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(stanza_type(&vote), "poll");
        assert!(hides_decrypt_failure(&vote));
        let text = e2e::Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(edit_attribute(&text), None);
        assert!(!hides_decrypt_failure(&text));
        // A protocol message without a key (a history notification) is no edit.
        let history = e2e::Message {
            protocol_message: Some(Box::new(e2e::ProtocolMessage {
                r#type: Some(Type::HistorySyncNotification as i32),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(edit_attribute(&history), None);
    }

    #[test]
    fn text_reactions_polls_and_locations_carry_no_media_type() {
        let text = e2e::Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!((stanza_type(&text), media_type(&text)), ("text", None));
        let reaction = e2e::Message {
            reaction_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            (stanza_type(&reaction), media_type(&reaction)),
            ("reaction", None)
        );
        let poll = e2e::Message {
            poll_creation_message_v3: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!((stanza_type(&poll), media_type(&poll)), ("poll", None));
        // whatsmeow gives a location no media type, so it travels as text.
        let location = e2e::Message {
            location_message: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            (stanza_type(&location), media_type(&location)),
            ("text", None)
        );
    }
}
