//! Every shape a real phone sends (Inbound I's table, `tests/e2e/shapes.rs`) reaches the
//! service through the simulator and the real client as exactly one message of its kind, with
//! its text or caption and, for attachments, the file whose hash the message named; edits in
//! both forms, poll votes and live-location updates change their target instead.

use super::bridge::{CUSTOMER, PHARMACY, eventually, fast_app, paired_bridge};
use super::support::TempDir;
use pharmacy_service::app::{App, SeedOptions, ServiceConfig};
use pharmacy_service::db;
use pharmacy_service::db::messages::Message;
use pharmacy_service::domain::message::MessageKind;
use sha2::Digest;
use whatsapp_client::e2e;
use whatsapp_sim::device::{MediaKind as SimMediaKind, Outgoing};
use whatsapp_sim::shapes::{self, Wrapping};
use whatsapp_sim::{Sim, SimConfig};

/// One shape and what the service must store for it.
struct Shape {
    name: &'static str,
    send: Outgoing,
    kind: MessageKind,
    body: Option<&'static str>,
    /// The attachment's plaintext: the stored file's hash must be its SHA-256.
    media: Option<Vec<u8>>,
    check: fn(&Message) -> bool,
}

fn shape(
    name: &'static str,
    send: Outgoing,
    kind: MessageKind,
    body: Option<&'static str>,
) -> Shape {
    Shape {
        name,
        send,
        kind,
        body,
        media: None,
        check: |_| true,
    }
}

fn checked(mut s: Shape, check: fn(&Message) -> bool) -> Shape {
    s.check = check;
    s
}

fn media(kind: SimMediaKind, mime: &str, caption: Option<&str>, data: &[u8]) -> Outgoing {
    Outgoing::Media {
        kind,
        data: data.to_vec(),
        mimetype: mime.into(),
        caption: caption.map(str::to_owned),
        file_name: (kind == SimMediaKind::Document).then(|| "rx.pdf".to_owned()),
    }
}

fn with_media(mut s: Shape, data: &[u8]) -> Shape {
    s.media = Some(data.to_vec());
    s
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

fn future(m: e2e::Message) -> Option<Box<e2e::FutureProofMessage>> {
    Some(Box::new(e2e::FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

fn live(lat: f64, lng: f64, sequence: i64) -> Outgoing {
    raw(e2e::Message {
        live_location_message: Some(Box::new(e2e::LiveLocationMessage {
            degrees_latitude: Some(lat),
            degrees_longitude: Some(lng),
            caption: Some("on my way".into()),
            sequence_number: Some(sequence),
            ..Default::default()
        })),
        ..Default::default()
    })
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

#[allow(clippy::too_many_lines)] // One table.
fn table() -> Vec<Shape> {
    use MessageKind as K;
    let photo = b"\x89PNG pretend photo".repeat(40);
    let clip = b"pretend mp4 clip".repeat(60);
    let note = b"OggS pretend voice".repeat(30);
    let pdf = b"%PDF-1.4 prescription".repeat(50);
    let webp = b"RIFF pretend webp".repeat(20);
    let ephemeral = |seconds| Wrapping {
        ephemeral: Some(seconds),
        ..Default::default()
    };
    let view_once = Wrapping {
        view_once: true,
        ..Default::default()
    };
    let with_caption = Wrapping {
        document_with_caption: true,
        ..Default::default()
    };
    vec![
        shape(
            "text",
            Outgoing::Text("hello".into()),
            K::Text,
            Some("hello"),
        ),
        shape(
            "text with a link preview",
            raw(e2e::Message {
                extended_text_message: Some(Box::new(e2e::ExtendedTextMessage {
                    text: Some("see https://pharmacy.eg/offers".into()),
                    matched_text: Some("https://pharmacy.eg/offers".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            K::Text,
            Some("see https://pharmacy.eg/offers"),
        ),
        shape(
            "text with mentions",
            wrapped(
                Outgoing::Text("ask @Ali".into()),
                Wrapping {
                    mentions: vec!["201009998887@s.whatsapp.net".into()],
                    ..Default::default()
                },
            ),
            K::Text,
            Some("ask @Ali"),
        ),
        shape(
            "forwarded many times",
            wrapped(
                Outgoing::Text("fwd".into()),
                Wrapping {
                    forwarded: Some(5),
                    ..Default::default()
                },
            ),
            K::Text,
            Some("fwd"),
        ),
        shape(
            "text in a disappearing chat",
            wrapped(Outgoing::Text("gone in a day".into()), ephemeral(86_400)),
            K::Text,
            Some("gone in a day"),
        ),
        shape(
            "text in a disappearing chat, Baileys' form",
            wrapped(
                Outgoing::Text("bare".into()),
                Wrapping {
                    ephemeral: Some(604_800),
                    ephemeral_bare: true,
                    ..Default::default()
                },
            ),
            K::Text,
            Some("bare"),
        ),
        with_media(
            shape(
                "image with a caption",
                media(SimMediaKind::Image, "image/png", Some("my rash"), &photo),
                K::Image,
                Some("my rash"),
            ),
            &photo,
        ),
        with_media(
            shape(
                "image in a disappearing chat",
                wrapped(
                    media(SimMediaKind::Image, "image/png", Some("eph"), &photo),
                    ephemeral(86_400),
                ),
                K::Image,
                Some("eph"),
            ),
            &photo,
        ),
        with_media(
            checked(
                shape(
                    "view-once image",
                    wrapped(
                        media(SimMediaKind::Image, "image/png", None, &photo),
                        view_once.clone(),
                    ),
                    K::Image,
                    None,
                ),
                |m| m.view_once,
            ),
            &photo,
        ),
        with_media(
            shape(
                "video with a caption",
                media(
                    SimMediaKind::Video,
                    "video/mp4",
                    Some("how it looks"),
                    &clip,
                ),
                K::Video,
                Some("how it looks"),
            ),
            &clip,
        ),
        with_media(
            checked(
                shape(
                    "view-once video",
                    wrapped(
                        media(SimMediaKind::Video, "video/mp4", None, &clip),
                        view_once.clone(),
                    ),
                    K::Video,
                    None,
                ),
                |m| m.view_once,
            ),
            &clip,
        ),
        with_media(
            shape(
                "round video note",
                media(SimMediaKind::Ptv, "video/mp4", None, &clip),
                K::Ptv,
                None,
            ),
            &clip,
        ),
        with_media(
            shape(
                "audio file",
                media(SimMediaKind::Audio, "audio/mpeg", None, &note),
                K::Audio,
                None,
            ),
            &note,
        ),
        with_media(
            shape(
                "voice note",
                media(
                    SimMediaKind::VoiceNote,
                    "audio/ogg; codecs=opus",
                    None,
                    &note,
                ),
                K::Audio,
                None,
            ),
            &note,
        ),
        with_media(
            checked(
                shape(
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
                    K::Audio,
                    None,
                ),
                |m| m.view_once,
            ),
            &note,
        ),
        with_media(
            checked(
                shape(
                    "document",
                    media(SimMediaKind::Document, "application/pdf", None, &pdf),
                    K::Document,
                    None,
                ),
                |m| m.media_name.as_deref() == Some("rx.pdf"),
            ),
            &pdf,
        ),
        with_media(
            checked(
                shape(
                    "document with a caption",
                    wrapped(
                        media(
                            SimMediaKind::Document,
                            "application/pdf",
                            Some("my prescription"),
                            &pdf,
                        ),
                        with_caption.clone(),
                    ),
                    K::Document,
                    Some("my prescription"),
                ),
                |m| m.media_name.as_deref() == Some("rx.pdf"),
            ),
            &pdf,
        ),
        with_media(
            shape(
                "document with a caption in a disappearing chat",
                wrapped(
                    media(
                        SimMediaKind::Document,
                        "application/pdf",
                        Some("again"),
                        &pdf,
                    ),
                    Wrapping {
                        ephemeral: Some(86_400),
                        ..with_caption
                    },
                ),
                K::Document,
                Some("again"),
            ),
            &pdf,
        ),
        with_media(
            shape(
                "sticker",
                media(SimMediaKind::Sticker, "image/webp", None, &webp),
                K::Sticker,
                None,
            ),
            &webp,
        ),
        checked(
            shape(
                "lottie sticker without its keys",
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
                K::Sticker,
                None,
            ),
            // Nothing to download with: shown as not downloadable, never retried.
            |m| m.media_state.as_deref() == Some("failed"),
        ),
        checked(
            shape(
                "location",
                Outgoing::Location {
                    lat: 30.0444,
                    lng: 31.2357,
                    name: Some("Tahrir".into()),
                },
                K::Location,
                Some("Tahrir"),
            ),
            |m| m.latitude == Some(30.0444),
        ),
        shape(
            "location in a disappearing chat",
            wrapped(
                Outgoing::Location {
                    lat: 30.0,
                    lng: 31.0,
                    name: None,
                },
                ephemeral(7_776_000),
            ),
            K::Location,
            None,
        ),
        checked(
            shape(
                "live location",
                live(30.1, 31.3, 1),
                K::LiveLocation,
                Some("on my way"),
            ),
            |m| m.latitude == Some(30.1) && m.location_updated_at.is_some(),
        ),
        checked(
            shape(
                "contact",
                raw(e2e::Message {
                    contact_message: Some(Box::new(card("Dr. Hany", "201001112223"))),
                    ..Default::default()
                }),
                K::Contact,
                Some("Dr. Hany"),
            ),
            |m| {
                m.contacts.len() == 1
                    && m.contacts[0].phones == ["+201001112223"]
                    && m.contacts[0]
                        .vcard
                        .as_deref()
                        .is_some_and(|v| v.contains("FN:Dr. Hany"))
            },
        ),
        checked(
            shape(
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
                K::Contact,
                Some("Dr. Hany, Nurse Mona"),
            ),
            |m| {
                let names: Vec<_> = m
                    .contacts
                    .iter()
                    .map(|c| c.display_name.as_deref())
                    .collect();
                names == [Some("Dr. Hany"), Some("Nurse Mona")]
            },
        ),
        checked(
            shape(
                "single-choice poll",
                raw(shapes::poll(
                    "Which branch?",
                    &["Maadi", "Zamalek"],
                    true,
                    [7; 32],
                )),
                K::Poll,
                Some("Which branch?"),
            ),
            |m| {
                m.poll.as_ref().is_some_and(|p| {
                    p.selectable == 1
                        && p.options
                            .iter()
                            .map(|o| o.name.as_str())
                            .eq(["Maadi", "Zamalek"])
                })
            },
        ),
        checked(
            shape(
                "multiple-choice poll",
                raw(shapes::poll(
                    "Which days?",
                    &["Sat", "Sun", "Mon"],
                    false,
                    [8; 32],
                )),
                K::Poll,
                Some("Which days?"),
            ),
            |m| {
                m.poll
                    .as_ref()
                    .is_some_and(|p| p.options.len() == 3 && p.selectable == 0)
            },
        ),
        shape(
            "poll, V2 field",
            raw(e2e::Message {
                poll_creation_message_v2: Some(Box::new(e2e::PollCreationMessage {
                    name: Some("Q".into()),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            K::Poll,
            Some("Q"),
        ),
        checked(
            shape(
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
                K::ButtonReply,
                Some("Confirm order"),
            ),
            |m| {
                m.reply_id.as_deref() == Some("confirm")
                    && m.quoted_wa_id.as_deref() == Some("3EB0BUTTONS")
            },
        ),
        checked(
            shape(
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
                K::ListReply,
                Some("Maadi"),
            ),
            |m| m.reply_id.as_deref() == Some("branch-3"),
        ),
        checked(
            shape(
                "template button reply",
                raw(e2e::Message {
                    template_button_reply_message: Some(Box::new(
                        e2e::TemplateButtonReplyMessage {
                            selected_id: Some("call-me".into()),
                            selected_display_text: Some("Call me".into()),
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }),
                K::TemplateReply,
                Some("Call me"),
            ),
            |m| m.reply_id.as_deref() == Some("call-me"),
        ),
        checked(
            shape(
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
                K::InteractiveReply,
                Some("Sent"),
            ),
            |m| {
                m.reply_id.as_deref() == Some("address_message")
                    && m.reply_detail
                        .as_deref()
                        .is_some_and(|d| d.contains("Cairo"))
            },
        ),
        shape(
            "bot invoke wrapper",
            raw(e2e::Message {
                bot_invoke_message: future(e2e::Message {
                    conversation: Some("@bot hi".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            K::Text,
            Some("@bot hi"),
        ),
        shape(
            "group status wrapper (Baileys)",
            raw(e2e::Message {
                group_status_message_v2: future(e2e::Message {
                    conversation: Some("status".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            K::Text,
            Some("status"),
        ),
        checked(
            shape(
                "a kind the model does not read",
                raw(e2e::Message {
                    pin_in_chat_message: Some(e2e::PinInChatMessage {
                        key: Some(shapes::key(
                            &format!("{PHARMACY}@s.whatsapp.net"),
                            "3EB0PINNED",
                            true,
                        )),
                        r#type: Some(1),
                        sender_timestamp_ms: Some(1),
                    }),
                    ..Default::default()
                }),
                K::Unsupported,
                None,
            ),
            |m| {
                m.body.as_deref().is_some_and(|b| {
                    b.contains("pinInChatMessage")
                        && b.contains("open WhatsApp on the pharmacy's phone")
                })
            },
        ),
    ]
}

/// Every stored row of `wa_id`, with their structured parts.
async fn rows(app: &App, wa_id: &str) -> Vec<Message> {
    let mut c = app.pool().acquire().await.unwrap();
    let mut rows: Vec<Message> = sqlx::query_as("SELECT * FROM messages WHERE wa_id = ?")
        .bind(wa_id)
        .fetch_all(&mut *c)
        .await
        .unwrap();
    db::messages::fill(&mut c, &mut rows).await.unwrap();
    rows
}

/// The one row of `wa_id` once `ready` holds for it.
async fn stored(app: &App, wa_id: &str, ready: impl Fn(&Message) -> bool) -> Message {
    eventually(&format!("message {wa_id}"), || async {
        rows(app, wa_id).await.into_iter().find(|m| ready(m))
    })
    .await
}

async fn count(app: &App, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_is_stored_once_as_its_kind_and_changes_reach_their_target() {
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();

    let table = table();
    assert!(table.len() >= 30, "{} shapes", table.len());
    let ids: Vec<String> = table
        .iter()
        .map(|s| {
            sim.customer_send(CUSTOMER, PHARMACY, s.send.clone(), None)
                .expect("send")
        })
        .collect();
    for (s, id) in table.iter().zip(&ids) {
        // An attachment counts once its file is stored (or it is marked as not fetchable).
        let m = stored(&app, id, |m| {
            !m.kind.is_media() || m.media_state.as_deref() != Some("downloading")
        })
        .await;
        assert_eq!(rows(&app, id).await.len(), 1, "{}: one message", s.name);
        assert_eq!(m.kind, s.kind, "{}: kind", s.name);
        if let Some(body) = s.body {
            assert_eq!(m.body.as_deref(), Some(body), "{}: text or caption", s.name);
        }
        if let Some(data) = &s.media {
            assert_eq!(m.media_state, None, "{}: downloaded", s.name);
            assert_eq!(
                m.media_sha256.as_deref(),
                Some(hex::encode(sha2::Sha256::digest(data)).as_str()),
                "{}: the file the message named",
                s.name
            );
        }
        assert!((s.check)(&m), "{}: stored as {m:?}", s.name);
    }

    // Edits in both forms change their target, keeping the earlier texts.
    let original = sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("2 boxes please".into()),
            None,
        )
        .unwrap();
    stored(&app, &original, |_| true).await;
    let chat = format!("{PHARMACY}@s.whatsapp.net");
    let edits = [
        sim.customer_send(
            CUSTOMER,
            PHARMACY,
            raw(shapes::edit(&chat, &original, "3 boxes please", true, 1)),
            None,
        )
        .unwrap(),
        sim.customer_send(
            CUSTOMER,
            PHARMACY,
            raw(shapes::edit(&chat, &original, "4 boxes please", false, 2)),
            None,
        )
        .unwrap(),
    ];
    let edited = stored(&app, &original, |m| {
        m.body.as_deref() == Some("4 boxes please")
    })
    .await;
    let history: Vec<_> = edited.edits.iter().map(|e| e.old_body.as_deref()).collect();
    assert_eq!(history, [Some("2 boxes please"), Some("3 boxes please")]);
    for id in &edits {
        assert!(
            rows(&app, id).await.is_empty(),
            "an edit is no message of its own"
        );
    }

    // Votes (sealed by the customer's client, opened by ours) set the voter's choice.
    let poll = sim
        .customer_poll(
            CUSTOMER,
            PHARMACY,
            "Delivery or pickup?",
            &["Delivery", "Pickup"],
        )
        .unwrap();
    stored(&app, &poll, |m| m.kind == MessageKind::Poll).await;
    let tally = |m: &Message| -> Vec<u32> {
        m.poll
            .as_ref()
            .map(|p| p.options.iter().map(|o| o.votes).collect())
            .unwrap_or_default()
    };
    let vote = sim
        .customer_vote(CUSTOMER, PHARMACY, &poll, &["Pickup"], true)
        .unwrap();
    stored(&app, &poll, |m| tally(m) == [0, 1]).await;
    sim.customer_vote(CUSTOMER, PHARMACY, &poll, &["Delivery"], true)
        .unwrap();
    let voted = stored(&app, &poll, |m| tally(m) == [1, 0]).await;
    assert_eq!(
        voted.poll.unwrap().voters,
        1,
        "a new vote replaces the voter's choice"
    );
    assert!(
        rows(&app, &vote).await.is_empty(),
        "a vote is no message of its own"
    );

    // A later position of the live location moves it.
    let first = &ids[table
        .iter()
        .position(|s| s.kind == MessageKind::LiveLocation)
        .unwrap()];
    let update = sim
        .customer_send(CUSTOMER, PHARMACY, live(30.2, 31.4, 2), None)
        .unwrap();
    let moved = stored(&app, first, |m| m.latitude == Some(30.2)).await;
    assert_eq!(moved.longitude, Some(31.4));
    assert!(moved.location_updated_at.is_some());
    assert!(
        rows(&app, &update).await.is_empty(),
        "an update is no message of its own"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM live_location_updates").await,
        2
    );

    // A view-once message WhatsApp keeps on the phone is a visible placeholder.
    let view_once = sim
        .unavailable_message(PHARMACY, CUSTOMER, "view_once", "")
        .unwrap();
    let placeholder = stored(&app, &view_once, |_| true).await;
    assert_eq!(placeholder.kind, MessageKind::ViewOnce);

    // Search finds the text parts of the new kinds.
    let found = app
        .search_messages("Zamalek", None, 10)
        .await
        .map(|r| r.into_iter().map(|m| m.kind).collect::<Vec<_>>());
    assert_eq!(found.ok(), Some(vec![MessageKind::Poll]));
    // One ticket holds them all.
    assert_eq!(
        count(&app, "SELECT count(DISTINCT ticket_id) FROM messages").await,
        1
    );
    bridge.shutdown().await;
    sim.shutdown();
}
