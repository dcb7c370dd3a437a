//! Every shape a customer's phone sends reaches the application once, unwrapped and typed:
//! a table of real shapes (wrappers as phones put them: disappearing chats, view-once,
//! documents with a caption, edits in both forms, …) sent by a simulated customer
//! (`shapes_generated`: 20 generated messages in random stacks of wrappers).

use std::collections::HashMap;

use whatsapp_client::content::{Content, MediaKind, PollVersion, ReplyKind, Wrappers};
use whatsapp_client::{Event, EventStream, IncomingMessage, MediaRef, e2e};
use whatsapp_sim::SimHandle;
use whatsapp_sim::device::{MediaKind as SimMediaKind, Outgoing};
use whatsapp_sim::shapes::{self, Wrapping};
use whatsapp_sim::{Sim, SimConfig};

use fixtures::{CUSTOMER, OWN_PHONE, config, paired, temp_db};

/// What one shape must look like to the application.
struct Row {
    name: &'static str,
    send: Outgoing,
    wrappers: Wrappers,
    check: fn(&IncomingMessage) -> bool,
    /// The attachment's plaintext: downloaded and compared (the client verifies its hash).
    media: Option<Vec<u8>>,
}

fn row(name: &'static str, send: Outgoing, check: fn(&IncomingMessage) -> bool) -> Row {
    Row {
        name,
        send,
        wrappers: Wrappers::default(),
        check,
        media: None,
    }
}

fn flags(mut row: Row, set: impl FnOnce(&mut Wrappers)) -> Row {
    set(&mut row.wrappers);
    row
}

fn media(kind: SimMediaKind, mimetype: &str, caption: Option<&str>, data: &[u8]) -> Outgoing {
    Outgoing::Media {
        kind,
        data: data.to_vec(),
        mimetype: mimetype.into(),
        caption: caption.map(str::to_owned),
        file_name: (kind == SimMediaKind::Document).then(|| "rx.pdf".to_owned()),
    }
}

fn wrapped(content: Outgoing, wrapping: Wrapping) -> Outgoing {
    Outgoing::Wrapped {
        content: Box::new(content),
        wrapping,
    }
}

pub(crate) fn raw(m: e2e::Message) -> Outgoing {
    Outgoing::Raw(Box::new(m))
}

fn with_media(mut row: Row, data: &[u8]) -> Row {
    row.media = Some(data.to_vec());
    row
}

fn media_is(m: &IncomingMessage, kind: MediaKind, caption: Option<&str>) -> bool {
    matches!(&m.content.content, Content::Media(x) if x.kind == Some(kind) && x.caption.as_deref() == caption)
}

fn text_is(m: &IncomingMessage, want: &str) -> bool {
    matches!(&m.content.content, Content::Text { text, .. } if text == want)
}

const EDITED_ID: &str = "3EB0EDITEDTARGET";

fn key(id: &str) -> e2e::MessageKey {
    shapes::key(&format!("{OWN_PHONE}@s.whatsapp.net"), id, true)
}

pub(crate) fn future(m: e2e::Message) -> Option<Box<e2e::FutureProofMessage>> {
    Some(Box::new(e2e::FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

fn table() -> Vec<Row> {
    let photo = b"\x89PNG pretend photo".repeat(40);
    let clip = b"pretend mp4 clip".repeat(60);
    let note = b"OggS pretend voice".repeat(30);
    let pdf = b"%PDF-1.4 prescription".repeat(50);
    let webp = b"RIFF pretend webp".repeat(20);
    let chat = format!("{OWN_PHONE}@s.whatsapp.net");
    let ephemeral = |seconds| Wrapping {
        ephemeral: Some(seconds),
        ..Default::default()
    };
    let view_once = Wrapping {
        view_once: true,
        ..Default::default()
    };
    vec![
        row("text", Outgoing::Text("hello".into()), |m| {
            text_is(m, "hello")
        }),
        row(
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
            |m| {
                matches!(&m.content.content, Content::Text { link_preview: Some(p), .. }
                    if p.url == "https://pharmacy.eg/offers" && p.title.as_deref() == Some("Offers"))
            },
        ),
        row(
            "text with mentions",
            wrapped(
                Outgoing::Text("ask @Ali".into()),
                Wrapping {
                    mentions: vec!["201009998887@s.whatsapp.net".into()],
                    ..Default::default()
                },
            ),
            |m| {
                text_is(m, "ask @Ali")
                    && m.content.context.mentions == ["201009998887@s.whatsapp.net"]
            },
        ),
        row(
            "forwarded many times",
            wrapped(
                Outgoing::Text("fwd".into()),
                Wrapping {
                    forwarded: Some(5),
                    ..Default::default()
                },
            ),
            |m| {
                text_is(m, "fwd")
                    && m.content.context.forwarded
                    && m.content.context.forwarding_score == 5
            },
        ),
        flags(
            row(
                "text in a disappearing chat",
                wrapped(Outgoing::Text("gone in a day".into()), ephemeral(86_400)),
                |m| text_is(m, "gone in a day") && m.content.context.expiration == Some(86_400),
            ),
            |w| w.ephemeral = true,
        ),
        row(
            "text in a disappearing chat, Baileys' form",
            wrapped(
                Outgoing::Text("bare".into()),
                Wrapping {
                    ephemeral: Some(604_800),
                    ephemeral_bare: true,
                    ..Default::default()
                },
            ),
            |m| text_is(m, "bare") && m.content.context.expiration == Some(604_800),
        ),
        with_media(
            row(
                "image with a caption",
                media(SimMediaKind::Image, "image/png", Some("my rash"), &photo),
                |m| media_is(m, MediaKind::Image, Some("my rash")),
            ),
            &photo,
        ),
        with_media(
            flags(
                row(
                    "image in a disappearing chat",
                    wrapped(
                        media(SimMediaKind::Image, "image/png", Some("eph"), &photo),
                        ephemeral(86_400),
                    ),
                    |m| media_is(m, MediaKind::Image, Some("eph")),
                ),
                |w| w.ephemeral = true,
            ),
            &photo,
        ),
        with_media(
            flags(
                row(
                    "view-once image",
                    wrapped(
                        media(SimMediaKind::Image, "image/png", None, &photo),
                        view_once.clone(),
                    ),
                    |m| media_is(m, MediaKind::Image, None) && m.content.context.view_once,
                ),
                |w| w.view_once_v2 = true,
            ),
            &photo,
        ),
        with_media(
            row(
                "video with a caption",
                media(
                    SimMediaKind::Video,
                    "video/mp4",
                    Some("how it looks"),
                    &clip,
                ),
                |m| media_is(m, MediaKind::Video, Some("how it looks")),
            ),
            &clip,
        ),
        with_media(
            flags(
                row(
                    "view-once video",
                    wrapped(
                        media(SimMediaKind::Video, "video/mp4", None, &clip),
                        view_once.clone(),
                    ),
                    |m| media_is(m, MediaKind::Video, None) && m.content.context.view_once,
                ),
                |w| w.view_once_v2 = true,
            ),
            &clip,
        ),
        with_media(
            row(
                "round video note",
                media(SimMediaKind::Ptv, "video/mp4", None, &clip),
                |m| media_is(m, MediaKind::Ptv, None),
            ),
            &clip,
        ),
        with_media(
            row(
                "audio file",
                media(SimMediaKind::Audio, "audio/mpeg", None, &note),
                |m| media_is(m, MediaKind::Audio, None),
            ),
            &note,
        ),
        with_media(
            row(
                "voice note",
                media(
                    SimMediaKind::VoiceNote,
                    "audio/ogg; codecs=opus",
                    None,
                    &note,
                ),
                |m| media_is(m, MediaKind::VoiceNote, None),
            ),
            &note,
        ),
        with_media(
            flags(
                row(
                    "view-once voice note",
                    wrapped(
                        media(
                            SimMediaKind::VoiceNote,
                            "audio/ogg; codecs=opus",
                            None,
                            &note,
                        ),
                        view_once,
                    ),
                    |m| media_is(m, MediaKind::VoiceNote, None) && m.content.context.view_once,
                ),
                |w| w.view_once_v2_extension = true,
            ),
            &note,
        ),
        with_media(
            row(
                "document",
                media(SimMediaKind::Document, "application/pdf", None, &pdf),
                |m| {
                    matches!(&m.content.content, Content::Media(x)
                        if x.kind == Some(MediaKind::Document) && x.file_name.as_deref() == Some("rx.pdf"))
                },
            ),
            &pdf,
        ),
        with_media(
            flags(
                row(
                    "document with a caption",
                    wrapped(
                        media(
                            SimMediaKind::Document,
                            "application/pdf",
                            Some("my prescription"),
                            &pdf,
                        ),
                        Wrapping {
                            document_with_caption: true,
                            ..Default::default()
                        },
                    ),
                    |m| media_is(m, MediaKind::Document, Some("my prescription")),
                ),
                |w| w.document_with_caption = true,
            ),
            &pdf,
        ),
        with_media(
            flags(
                row(
                    "document with a caption in a disappearing chat",
                    wrapped(
                        media(
                            SimMediaKind::Document,
                            "application/pdf",
                            Some("again"),
                            &pdf,
                        ),
                        Wrapping {
                            document_with_caption: true,
                            ephemeral: Some(86_400),
                            ..Default::default()
                        },
                    ),
                    |m| {
                        media_is(m, MediaKind::Document, Some("again"))
                            && m.content.context.expiration == Some(86_400)
                    },
                ),
                |w| {
                    w.document_with_caption = true;
                    w.ephemeral = true;
                },
            ),
            &pdf,
        ),
        with_media(
            row(
                "sticker",
                media(SimMediaKind::Sticker, "image/webp", None, &webp),
                |m| media_is(m, MediaKind::Sticker, None),
            ),
            &webp,
        ),
        flags(
            row(
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
                |m| media_is(m, MediaKind::Sticker, None),
            ),
            |w| w.lottie_sticker = true,
        ),
        row(
            "location",
            Outgoing::Location {
                lat: 30.0444,
                lng: 31.2357,
                name: Some("Tahrir".into()),
            },
            |m| matches!(&m.content.content, Content::Location { name: Some(n), .. } if n == "Tahrir"),
        ),
        flags(
            row(
                "location in a disappearing chat",
                wrapped(
                    Outgoing::Location {
                        lat: 30.0,
                        lng: 31.0,
                        name: None,
                    },
                    ephemeral(7_776_000),
                ),
                |m| {
                    matches!(&m.content.content, Content::Location { .. })
                        && m.content.context.expiration == Some(7_776_000)
                },
            ),
            |w| w.ephemeral = true,
        ),
        row(
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
            |m| matches!(&m.content.content, Content::LiveLocation { caption: Some(c), .. } if c == "on my way"),
        ),
        row(
            "contact",
            raw(e2e::Message {
                contact_message: Some(Box::new(e2e::ContactMessage {
                    display_name: Some("Dr. Hany".into()),
                    vcard: Some("BEGIN:VCARD\nFN:Dr. Hany\nEND:VCARD".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            |m| matches!(&m.content.content, Content::Contact(c) if c.display_name.as_deref() == Some("Dr. Hany")),
        ),
        row(
            "contact list",
            raw(e2e::Message {
                contacts_array_message: Some(Box::new(e2e::ContactsArrayMessage {
                    display_name: Some("2 contacts".into()),
                    contacts: vec![e2e::ContactMessage::default(); 2],
                    ..Default::default()
                })),
                ..Default::default()
            }),
            |m| matches!(&m.content.content, Content::Contacts { contacts, .. } if contacts.len() == 2),
        ),
        row(
            "single-choice poll",
            raw(shapes::poll(
                "Which branch?",
                &["Maadi", "Zamalek"],
                true,
                [7; 32],
            )),
            |m| {
                matches!(&m.content.content, Content::PollCreation { version: PollVersion::V3, options, .. } if options.len() == 2)
                    && m.content.message_secret == Some(vec![7; 32])
            },
        ),
        row(
            "multiple-choice poll",
            raw(shapes::poll(
                "Which days?",
                &["Sat", "Sun", "Mon"],
                false,
                [8; 32],
            )),
            |m| {
                matches!(
                    &m.content.content,
                    Content::PollCreation {
                        version: PollVersion::V1,
                        selectable_count: 0,
                        ..
                    }
                )
            },
        ),
        row(
            "poll, V2 field",
            raw(e2e::Message {
                poll_creation_message_v2: Some(Box::new(e2e::PollCreationMessage {
                    name: Some("Q".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            |m| {
                matches!(
                    &m.content.content,
                    Content::PollCreation {
                        version: PollVersion::V2,
                        ..
                    }
                )
            },
        ),
        row(
            "poll vote",
            raw(e2e::Message {
                poll_update_message: Some(e2e::PollUpdateMessage {
                    poll_creation_message_key: Some(shapes::key(&chat, "3EB0POLL", false)),
                    vote: Some(e2e::PollEncValue {
                        enc_payload: Some(vec![1; 40]),
                        enc_iv: Some(vec![2; 12]),
                    }),
                    metadata: None,
                    sender_timestamp_ms: Some(1_700_000_000_000),
                }),
                ..Default::default()
            }),
            |m| {
                matches!(&m.content.content, Content::PollVote { poll, enc_iv, .. }
                    if poll.id == "3EB0POLL" && enc_iv.len() == 12)
            },
        ),
        row(
            "reaction",
            Outgoing::Reaction {
                message_id: "3EB0OURS".into(),
                emoji: "👍".into(),
                remote_jid: chat.clone(),
                from_me: false,
            },
            |m| matches!(&m.content.content, Content::Reaction { target, emoji } if target.id == "3EB0OURS" && emoji == "👍"),
        ),
        flags(
            row(
                "edit in an editedMessage",
                raw(shapes::edit(&chat, EDITED_ID, "fixed", true, 1)),
                |m| {
                    matches!(&m.content.content, Content::Edit { target, new }
                        if target.id == EDITED_ID && matches!(&**new, Content::Text { text, .. } if text == "fixed"))
                },
            ),
            |w| w.edited = true,
        ),
        row(
            "edit as a bare protocol message",
            raw(shapes::edit(&chat, EDITED_ID, "fixed again", false, 2)),
            |m| {
                matches!(&m.content.content, Content::Edit { target, new }
                    if target.id == EDITED_ID && matches!(&**new, Content::Text { text, .. } if text == "fixed again"))
            },
        ),
        flags(
            row(
                "edit in a disappearing chat",
                raw(e2e::Message {
                    ephemeral_message: future(shapes::edit(&chat, EDITED_ID, "eph edit", true, 3)),
                    ..Default::default()
                }),
                |m| matches!(&m.content.content, Content::Edit { target, .. } if target.id == EDITED_ID),
            ),
            |w| {
                w.ephemeral = true;
                w.edited = true;
            },
        ),
        row(
            "revoke",
            raw(shapes::revoke(&chat, EDITED_ID)),
            |m| matches!(&m.content.content, Content::Revoke { target } if target.id == EDITED_ID),
        ),
        row(
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
            |m| {
                matches!(&m.content.content, Content::Reply { kind: ReplyKind::Button, id: Some(id), .. } if id == "confirm")
                    && m.content.context.quoted_id.as_deref() == Some("3EB0BUTTONS")
            },
        ),
        row(
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
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::List, id: Some(id), .. } if id == "branch-3"),
        ),
        row(
            "template button reply",
            raw(e2e::Message {
                template_button_reply_message: Some(Box::new(e2e::TemplateButtonReplyMessage {
                    selected_id: Some("call-me".into()),
                    selected_display_text: Some("Call me".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::Template, text: Some(t), .. } if t == "Call me"),
        ),
        row(
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
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::Interactive, detail: Some(d), .. } if d.contains("Cairo")),
        ),
        flags(
            row(
                "bot invoke wrapper",
                raw(e2e::Message {
                    bot_invoke_message: future(e2e::Message {
                        conversation: Some("@bot hi".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                |m| text_is(m, "@bot hi"),
            ),
            |w| w.bot_invoke = true,
        ),
        flags(
            row(
                "group status wrapper (Baileys)",
                raw(e2e::Message {
                    group_status_message_v2: future(e2e::Message {
                        conversation: Some("status".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                |m| text_is(m, "status"),
            ),
            |w| w.group_status_v2 = true,
        ),
        row(
            "a kind the model does not read",
            raw(e2e::Message {
                pin_in_chat_message: Some(e2e::PinInChatMessage {
                    key: Some(key(EDITED_ID)),
                    r#type: Some(1),
                    sender_timestamp_ms: Some(1),
                }),
                ..Default::default()
            }),
            |m| matches!(&m.content.content, Content::Unsupported { fields } if fields == &["pinInChatMessage"]),
        ),
    ]
}

/// Reads message events until every id in `ids` arrived, acknowledging each; returns how
/// many times each id came.
pub(crate) async fn receive_all(
    events: &mut EventStream,
    ids: &[String],
) -> (HashMap<String, usize>, Vec<Box<IncomingMessage>>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ids.iter().all(|id| seen.contains_key(id)) {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| {
                let missing: Vec<_> = ids.iter().filter(|id| !seen.contains_key(*id)).collect();
                panic!("timed out; missing {missing:?}")
            })
            .expect("event stream ended");
        if let Event::Message(mut m) = event {
            m.ack();
            *seen.entry(m.info.id.clone()).or_default() += 1;
            messages.push(m);
        }
    }
    (seen, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_reaches_the_application_once_typed_and_unwrapped() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("shapes");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let rows = table();
    assert!(rows.len() >= 30, "{} shapes", rows.len());
    let ids = send_all(&sim, rows.iter().map(|r| r.send.clone()));
    let (seen, messages) = receive_all(&mut events, &ids).await;
    for (row, id) in rows.iter().zip(&ids) {
        assert_eq!(seen.get(id), Some(&1), "{}: delivered once", row.name);
        let m = messages.iter().find(|m| &m.info.id == id).expect("message");
        assert!(
            (row.check)(m),
            "{}: read as {:?} (context {:?})",
            row.name,
            m.content.content,
            m.content.context
        );
        assert_eq!(
            m.content.wrappers, row.wrappers,
            "{}: wrapper flags",
            row.name
        );
        if let Some(data) = &row.media {
            let media = MediaRef::from_message(&m.raw).expect("the attachment, through wrappers");
            let downloaded = client.download(&media).await.expect("download");
            assert_eq!(&downloaded, data, "{}: media hash verified", row.name);
        }
    }
    client.shutdown().await;
}

/// Sends each message from the customer to us; returns their ids.
pub(crate) fn send_all(sim: &SimHandle, sends: impl Iterator<Item = Outgoing>) -> Vec<String> {
    sends
        .map(|send| {
            sim.customer_send(CUSTOMER, OWN_PHONE, send, None)
                .expect("send")
        })
        .collect()
}
