//! The content model: wrappers looked through with their flags, every kind read into its
//! variant, unknown fields named, the depth bound.

use proptest::prelude::*;
use prost::Message as _;
use whatsapp_proto::content::{
    self, Content, FIELD_NAMES, MAX_UNWRAP_DEPTH, MediaKind, MessageContent, PollVersion,
    ReplyKind, Target, Wrappers,
};
use whatsapp_proto::pb::e2e::{self, FutureProofMessage, Message};

fn text(s: &str) -> Message {
    Message {
        conversation: Some(s.into()),
        ..Default::default()
    }
}

fn future(m: Message) -> Option<Box<FutureProofMessage>> {
    Some(Box::new(FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

fn key(id: &str) -> e2e::MessageKey {
    e2e::MessageKey {
        remote_jid: Some("201001234567@s.whatsapp.net".into()),
        from_me: Some(false),
        id: Some(id.into()),
        participant: None,
    }
}

fn image(caption: &str) -> Message {
    Message {
        image_message: Some(Box::new(e2e::ImageMessage {
            caption: Some(caption.into()),
            mimetype: Some("image/jpeg".into()),
            file_sha256: Some(vec![7; 32]),
            media_key: Some(vec![1; 32]),
            file_enc_sha256: Some(vec![2; 32]),
            direct_path: Some("/v/x".into()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Each wrapper, alone around a text, sets exactly its own flag.
#[test]
fn every_wrapper_sets_its_flag() {
    type Wrap = fn(Message) -> Message;
    type Flag = fn(&Wrappers) -> bool;
    let cases: Vec<(Wrap, Flag)> = vec![
        (
            |m| Message {
                device_sent_message: Some(Box::new(e2e::DeviceSentMessage {
                    destination_jid: Some("d@s.whatsapp.net".into()),
                    message: Some(Box::new(m)),
                    phash: None,
                })),
                ..Default::default()
            },
            |w| w.device_sent,
        ),
        (
            |m| Message {
                bot_invoke_message: future(m),
                ..Default::default()
            },
            |w| w.bot_invoke,
        ),
        (
            |m| Message {
                ephemeral_message: future(m),
                ..Default::default()
            },
            |w| w.ephemeral,
        ),
        (
            |m| Message {
                view_once_message: future(m),
                ..Default::default()
            },
            |w| w.view_once,
        ),
        (
            |m| Message {
                view_once_message_v2: future(m),
                ..Default::default()
            },
            |w| w.view_once_v2,
        ),
        (
            |m| Message {
                view_once_message_v2_extension: future(m),
                ..Default::default()
            },
            |w| w.view_once_v2_extension,
        ),
        (
            |m| Message {
                lottie_sticker_message: future(m),
                ..Default::default()
            },
            |w| w.lottie_sticker,
        ),
        (
            |m| Message {
                document_with_caption_message: future(m),
                ..Default::default()
            },
            |w| w.document_with_caption,
        ),
        (
            |m| Message {
                edited_message: future(m),
                ..Default::default()
            },
            |w| w.edited,
        ),
        (
            |m| Message {
                associated_child_message: future(m),
                ..Default::default()
            },
            |w| w.associated_child,
        ),
        (
            |m| Message {
                group_status_message: future(m),
                ..Default::default()
            },
            |w| w.group_status,
        ),
        (
            |m| Message {
                group_status_message_v2: future(m),
                ..Default::default()
            },
            |w| w.group_status_v2,
        ),
    ];
    for (i, (wrap, flag)) in cases.iter().enumerate() {
        let wrapped = wrap(text("hi"));
        let read = MessageContent::read(&wrapped);
        assert!(flag(&read.wrappers), "case {i}: {:?}", read.wrappers);
        let w = read.wrappers;
        let ones = [
            w.device_sent,
            w.bot_invoke,
            w.ephemeral,
            w.view_once,
            w.view_once_v2,
            w.view_once_v2_extension,
            w.lottie_sticker,
            w.document_with_caption,
            w.edited,
            w.associated_child,
            w.group_status,
            w.group_status_v2,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        assert_eq!(ones, 1, "case {i}: exactly one flag, {w:?}");
        assert_eq!(
            read.content,
            Content::Text {
                text: "hi".into(),
                link_preview: None
            },
            "case {i}"
        );
    }
    let dsm = (cases[0].0)(text("x"));
    assert_eq!(
        content::unwrap(&dsm).destination,
        Some("d@s.whatsapp.net"),
        "the device-sent destination is kept"
    );
}

/// Wrappers nest (a view-once image in a disappearing chat) and every level's flag is kept;
/// past the depth bound the rest reads as unsupported, naming the wrapper left.
#[test]
fn nested_wrappers_and_the_depth_bound() {
    let m = Message {
        ephemeral_message: future(Message {
            view_once_message_v2: future(image("look")),
            ..Default::default()
        }),
        ..Default::default()
    };
    let read = MessageContent::read(&m);
    assert!(read.wrappers.ephemeral && read.wrappers.view_once_v2);
    assert!(read.context.view_once);
    let Content::Media(media) = &read.content else {
        panic!("{:?}", read.content)
    };
    assert_eq!(media.kind, Some(MediaKind::Image));
    assert_eq!(media.caption.as_deref(), Some("look"));

    let mut deep = text("deep");
    for _ in 0..MAX_UNWRAP_DEPTH {
        deep = Message {
            ephemeral_message: future(deep),
            ..Default::default()
        };
    }
    assert!(matches!(
        MessageContent::read(&deep).content,
        Content::Text { .. }
    ));
    let deeper = Message {
        ephemeral_message: future(deep),
        ..Default::default()
    };
    assert_eq!(
        MessageContent::read(&deeper).content,
        Content::Unsupported {
            fields: vec!["ephemeralMessage".into()]
        }
    );

    // A wrapper without an inner message is not looked through.
    let empty = Message {
        ephemeral_message: Some(Box::default()),
        ..Default::default()
    };
    let read = MessageContent::read(&empty);
    assert_eq!(read.wrappers, Wrappers::default());
    assert_eq!(
        read.content,
        Content::Unsupported {
            fields: vec!["ephemeralMessage".into()]
        }
    );
}

/// The message secret is found on the outer level when the inner one has no context info
/// (whatsmeow copies it inward), and the inner one wins when both have it.
#[test]
fn message_secret_from_either_level() {
    let info = |b: u8| {
        Some(e2e::MessageContextInfo {
            message_secret: Some(vec![b; 32]),
            ..Default::default()
        })
    };
    let poll = Message {
        poll_creation_message_v3: Some(Box::new(e2e::PollCreationMessage {
            name: Some("Which branch?".into()),
            options: vec![
                e2e::poll_creation_message::Option {
                    option_name: Some("Maadi".into()),
                    option_hash: None,
                },
                e2e::poll_creation_message::Option {
                    option_name: Some("Zamalek".into()),
                    option_hash: None,
                },
            ],
            selectable_options_count: Some(1),
            ..Default::default()
        })),
        ..Default::default()
    };
    let outer = Message {
        ephemeral_message: future(poll.clone()),
        message_context_info: info(1),
        ..Default::default()
    };
    let read = MessageContent::read(&outer);
    assert_eq!(read.message_secret, Some(vec![1; 32]));
    assert_eq!(
        read.content,
        Content::PollCreation {
            version: PollVersion::V3,
            name: "Which branch?".into(),
            options: vec!["Maadi".into(), "Zamalek".into()],
            selectable_count: 1,
        }
    );
    let both = Message {
        ephemeral_message: future(Message {
            message_context_info: info(2),
            ..poll
        }),
        message_context_info: info(1),
        ..Default::default()
    };
    assert_eq!(
        MessageContent::read(&both).message_secret,
        Some(vec![2; 32])
    );
}

/// Every kind reads into its variant with the fields an inbox shows.
#[test]
fn every_kind_reads_into_its_variant() {
    let target = Target {
        id: "T1".into(),
        chat: Some("201001234567@s.whatsapp.net".into()),
        from_me: false,
        participant: None,
    };
    let edit_inner = Message {
        protocol_message: Some(Box::new(e2e::ProtocolMessage {
            key: Some(key("T1")),
            r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
            edited_message: Some(Box::new(text("fixed"))),
            ..Default::default()
        })),
        ..Default::default()
    };
    let cases: Vec<(Message, Content)> = vec![
        (
            Message {
                extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                    text: Some("see https://x.eg".into()),
                    matched_text: Some("https://x.eg".into()),
                    title: Some("X".into()),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Text {
                text: "see https://x.eg".into(),
                link_preview: Some(content::LinkPreview {
                    url: "https://x.eg".into(),
                    title: Some("X".into()),
                    description: None,
                }),
            },
        ),
        (
            Message {
                live_location_message: Some(Box::new(e2e::LiveLocationMessage {
                    degrees_latitude: Some(30.0),
                    degrees_longitude: Some(31.0),
                    caption: Some("on my way".into()),
                    sequence_number: Some(3),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::LiveLocation {
                latitude: 30.0,
                longitude: 31.0,
                caption: Some("on my way".into()),
                accuracy_in_meters: None,
                sequence_number: Some(3),
            },
        ),
        (
            Message {
                contacts_array_message: Some(Box::new(e2e::ContactsArrayMessage {
                    display_name: Some("2 contacts".into()),
                    contacts: vec![
                        e2e::ContactMessage {
                            display_name: Some("A".into()),
                            vcard: Some("BEGIN:VCARD".into()),
                            ..Default::default()
                        };
                        2
                    ],
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Contacts {
                display_name: Some("2 contacts".into()),
                contacts: vec![
                    content::Contact {
                        display_name: Some("A".into()),
                        vcard: Some("BEGIN:VCARD".into()),
                    };
                    2
                ],
            },
        ),
        (
            Message {
                poll_update_message: Some(e2e::PollUpdateMessage {
                    poll_creation_message_key: Some(key("T1")),
                    vote: Some(e2e::PollEncValue {
                        enc_payload: Some(vec![9; 20]),
                        enc_iv: Some(vec![8; 12]),
                    }),
                    metadata: None,
                    sender_timestamp_ms: Some(5),
                }),
                ..Default::default()
            },
            Content::PollVote {
                poll: target.clone(),
                enc_payload: vec![9; 20],
                enc_iv: vec![8; 12],
                sender_timestamp_ms: Some(5),
            },
        ),
        (
            Message {
                reaction_message: Some(e2e::ReactionMessage {
                    key: Some(key("T1")),
                    text: Some("❤️".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Content::Reaction {
                target: target.clone(),
                emoji: "❤️".into(),
            },
        ),
        (
            edit_inner.clone(),
            Content::Edit {
                target: target.clone(),
                new: Box::new(Content::Text {
                    text: "fixed".into(),
                    link_preview: None,
                }),
            },
        ),
        (
            Message {
                edited_message: future(edit_inner),
                ..Default::default()
            },
            Content::Edit {
                target: target.clone(),
                new: Box::new(Content::Text {
                    text: "fixed".into(),
                    link_preview: None,
                }),
            },
        ),
        (
            Message {
                protocol_message: Some(Box::new(e2e::ProtocolMessage {
                    key: Some(key("T1")),
                    r#type: Some(e2e::protocol_message::Type::Revoke as i32),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Revoke {
                target: target.clone(),
            },
        ),
        (
            Message {
                buttons_response_message: Some(Box::new(e2e::ButtonsResponseMessage {
                    selected_button_id: Some("yes".into()),
                    selected_display_text: Some("Yes".into()),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Reply {
                kind: ReplyKind::Button,
                id: Some("yes".into()),
                text: Some("Yes".into()),
                detail: None,
            },
        ),
        (
            Message {
                list_response_message: Some(Box::new(e2e::ListResponseMessage {
                    title: Some("Maadi".into()),
                    single_select_reply: Some(e2e::list_response_message::SingleSelectReply {
                        selected_row_id: Some("branch-3".into()),
                    }),
                    description: Some("Road 9".into()),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Reply {
                kind: ReplyKind::List,
                id: Some("branch-3".into()),
                text: Some("Maadi".into()),
                detail: Some("Road 9".into()),
            },
        ),
        (
            Message {
                template_button_reply_message: Some(Box::new(e2e::TemplateButtonReplyMessage {
                    selected_id: Some("t1".into()),
                    selected_display_text: Some("Call me".into()),
                    selected_index: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            },
            Content::Reply {
                kind: ReplyKind::Template,
                id: Some("t1".into()),
                text: Some("Call me".into()),
                detail: None,
            },
        ),
        (
            Message {
                interactive_response_message: Some(Box::new(e2e::InteractiveResponseMessage {
                    body: Some(e2e::interactive_response_message::Body {
                        text: Some("Sent".into()),
                        format: None,
                    }),
                    native_flow_response_message: Some(
                        e2e::interactive_response_message::NativeFlowResponseMessage {
                            name: Some("address_message".into()),
                            params_json: Some("{}".into()),
                            version: Some(1),
                        },
                    ),
                    context_info: None,
                })),
                ..Default::default()
            },
            Content::Reply {
                kind: ReplyKind::Interactive,
                id: Some("address_message".into()),
                text: Some("Sent".into()),
                detail: Some("{}".into()),
            },
        ),
        (
            Message {
                pin_in_chat_message: Some(e2e::PinInChatMessage::default()),
                ..Default::default()
            },
            Content::Unsupported {
                fields: vec!["pinInChatMessage".into()],
            },
        ),
    ];
    for (m, expected) in cases {
        assert_eq!(Content::of(content::unwrap(&m).message), expected, "{m:?}");
    }
}

/// The attachment kinds, with the fields the client needs to fetch them.
#[test]
fn media_kinds() {
    let video = |secs| {
        Some(Box::new(e2e::VideoMessage {
            seconds: Some(secs),
            media_key: Some(vec![1; 32]),
            ..Default::default()
        }))
    };
    let cases = [
        (image("c"), MediaKind::Image),
        (
            Message {
                video_message: video(4),
                ..Default::default()
            },
            MediaKind::Video,
        ),
        (
            Message {
                ptv_message: video(9),
                ..Default::default()
            },
            MediaKind::Ptv,
        ),
        (
            Message {
                audio_message: Some(Box::new(e2e::AudioMessage {
                    ptt: Some(true),
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::VoiceNote,
        ),
        (
            Message {
                audio_message: Some(Box::default()),
                ..Default::default()
            },
            MediaKind::Audio,
        ),
        (
            Message {
                document_message: Some(Box::new(e2e::DocumentMessage {
                    file_name: Some("rx.pdf".into()),
                    caption: Some("my prescription".into()),
                    ..Default::default()
                })),
                ..Default::default()
            },
            MediaKind::Document,
        ),
        (
            Message {
                sticker_message: Some(Box::default()),
                ..Default::default()
            },
            MediaKind::Sticker,
        ),
    ];
    for (m, kind) in cases {
        let Content::Media(media) = Content::of(&m) else {
            panic!("{m:?}")
        };
        assert_eq!(media.kind, Some(kind));
        match kind {
            MediaKind::Ptv => assert_eq!(media.seconds, Some(9)),
            MediaKind::Document => {
                assert_eq!(media.file_name.as_deref(), Some("rx.pdf"));
                assert_eq!(media.caption.as_deref(), Some("my prescription"));
            }
            MediaKind::Image => assert_eq!(media.file_sha256, Some(vec![7; 32])),
            _ => {}
        }
    }
    // The media key stays out of Debug output.
    let Content::Media(media) = Content::of(&image("c")) else {
        unreachable!()
    };
    assert!(!format!("{media:?}").contains("1, 1, 1"));
}

/// Quote, forwarding, timer and mentions come from the content's context info.
#[test]
fn context_is_read_from_any_kind() {
    let ctx = e2e::ContextInfo {
        stanza_id: Some("Q".into()),
        participant: Some("201112223334@s.whatsapp.net".into()),
        is_forwarded: Some(true),
        forwarding_score: Some(5),
        expiration: Some(604_800),
        mentioned_jid: vec!["201001234567@s.whatsapp.net".into()],
        ..Default::default()
    };
    let m = Message {
        ephemeral_message: future(Message {
            document_message: Some(Box::new(e2e::DocumentMessage {
                context_info: Some(Box::new(ctx)),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let read = MessageContent::read(&m);
    assert_eq!(
        read.context,
        content::Context {
            quoted_id: Some("Q".into()),
            quoted_sender: Some("201112223334@s.whatsapp.net".into()),
            forwarded: true,
            forwarding_score: 5,
            expiration: Some(604_800),
            mentions: vec!["201001234567@s.whatsapp.net".into()],
            view_once: false,
        }
    );
}

/// Fields prost does not know are named by number from the plaintext; metadata alone
/// (sender-key distribution, message context info) carries nothing.
#[test]
fn unknown_fields_and_metadata() {
    // Field 88 (pollResultSnapshotMessage upstream) with an empty body: key 88<<3|2.
    let plaintext = [0xc2, 0x05, 0x00];
    let decoded = Message::decode(plaintext.as_slice()).unwrap();
    assert_eq!(decoded, Message::default(), "prost drops it");
    assert!(content::carries_content(&decoded, &plaintext));
    assert_eq!(
        MessageContent::read_plaintext(&decoded, &plaintext).content,
        Content::Unsupported {
            fields: vec!["#88".into()]
        }
    );
    let meta = Message {
        sender_key_distribution_message: Some(e2e::SenderKeyDistributionMessage::default()),
        message_context_info: Some(e2e::MessageContextInfo::default()),
        ..Default::default()
    };
    assert!(!content::carries_content(&meta, &meta.encode_to_vec()));
    assert!(content::carries_content(&text("x"), &[]));
}

/// The name table is the schema's `Message` block: every field, named as upstream.
#[test]
fn field_names_match_the_schema() {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proto/e2e.proto"))
        .expect("schema");
    let block = schema
        .split("message Message {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("Message block");
    let mut declared = Vec::new();
    for line in block.lines().map(str::trim) {
        let Some(decl) = line.strip_prefix("optional ") else {
            continue;
        };
        let mut parts = decl.split_whitespace();
        let (_, name, _, number) = (parts.next(), parts.next(), parts.next(), parts.next());
        let number: u32 = number.unwrap().trim_end_matches(';').parse().unwrap();
        let camel: String = name
            .unwrap()
            .split('_')
            .enumerate()
            .map(|(i, w)| {
                let mut c = w.chars();
                match (i, c.next()) {
                    (0, Some(f)) => f.to_string() + c.as_str(),
                    (_, Some(f)) => f.to_uppercase().to_string() + c.as_str(),
                    _ => String::new(),
                }
            })
            .collect();
        declared.push((number, camel));
    }
    let table: Vec<(u32, String)> = FIELD_NAMES
        .iter()
        .map(|(n, s)| (*n, (*s).to_owned()))
        .collect();
    assert_eq!(table, declared);
}

proptest! {
    /// The wire scanner is total: any bytes give a list, and for a valid message it finds
    /// exactly the fields prost wrote.
    #[test]
    fn field_numbers_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let numbers = content::field_numbers(&bytes);
        prop_assert!(numbers.len() <= bytes.len());
        if let Ok(m) = Message::decode(bytes.as_slice()) {
            let _ = MessageContent::read_plaintext(&m, &bytes);
        }
    }

    /// Reading is total on any decodable message, however deep.
    #[test]
    fn reading_is_total(depth in 0usize..12, text in ".{0,20}") {
        let mut m = Message { conversation: Some(text), ..Default::default() };
        for i in 0..depth {
            m = if i % 2 == 0 {
                Message { edited_message: future(Message {
                    protocol_message: Some(Box::new(e2e::ProtocolMessage {
                        key: Some(key("x")),
                        r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
                        edited_message: Some(Box::new(m)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }), ..Default::default() }
            } else {
                Message { view_once_message: future(m), ..Default::default() }
            };
        }
        let _ = MessageContent::read(&m);
    }
}
