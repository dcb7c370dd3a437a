//! Nothing a customer sends is lost while the service's database refuses writes: simulated
//! customers send every shape real phones send (the table of `tests/e2e/shapes.rs`, built
//! with `whatsapp_sim::shapes`) while every write fails; the sim's stanza log shows no
//! receipt from the service's device for any of them; once writes work again WhatsApp
//! delivers them again (at the next login) and each is stored exactly once, counted by its
//! WhatsApp id, and acknowledged.
//!
//! The fault is `PRAGMA query_only` on every connection of the pool: every write fails at
//! once with SQLITE_READONLY (what a disk remounted read-only reports), where a held lock
//! would make each message wait out the busy timeout. What each shape is stored as (a kind,
//! a line) is the subject of other tests: this one asserts ids and counts only.

use super::bridge::eventually;
use super::sim_service::{PHARMACY, SimService};
use pharmacy_service::app::LiveEvent;
use pharmacy_service::domain::pacing::PacingPolicy;
use sqlx::SqlitePool;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use whatsapp_client::e2e;
use whatsapp_sim::Fault;
use whatsapp_sim::device::{MediaKind, Outgoing};
use whatsapp_sim::shapes::{self, Wrapping};

const CUSTOMER: &str = "201066600001";

/// What a shape leaves in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stores {
    /// A message of its own, under its WhatsApp id.
    Row,
    /// A change of another message (an edit, a reaction, a revoke, a vote): no second row
    /// under its id.
    Change,
}

/// How the customer's phone sends a shape.
enum Send {
    /// As given.
    Message(Outgoing),
    /// A vote on the customer's poll, for this option (sealed with the poll's secret by
    /// their phone).
    Vote(&'static str),
}

struct Shape {
    name: &'static str,
    send: Send,
    stores: Stores,
}

fn row(name: &'static str, send: Outgoing) -> Shape {
    Shape {
        name,
        send: Send::Message(send),
        stores: Stores::Row,
    }
}

fn change(name: &'static str, send: Outgoing) -> Shape {
    Shape {
        name,
        send: Send::Message(send),
        stores: Stores::Change,
    }
}

fn media(kind: MediaKind, mimetype: &str, caption: Option<&str>, data: &[u8]) -> Outgoing {
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

fn future(m: e2e::Message) -> Option<Box<e2e::FutureProofMessage>> {
    Some(Box::new(e2e::FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

/// The shapes of Inbound I's table (`tests/e2e/shapes.rs`), as a customer sends them to the
/// pharmacy; the edits and the reaction change `edited`, the revoke deletes `revoked`, the
/// vote is on the customer's own poll (the table's vote, sealed with a made-up key, could
/// not be read).
fn table(edited: &str, revoked: &str) -> Vec<Shape> {
    let photo = b"\x89PNG pretend photo".repeat(40);
    let clip = b"pretend mp4 clip".repeat(60);
    let note = b"OggS pretend voice".repeat(30);
    let pdf = b"%PDF-1.4 prescription".repeat(50);
    let webp = b"RIFF pretend webp".repeat(20);
    let chat = format!("{PHARMACY}@s.whatsapp.net");
    let ephemeral = |seconds| Wrapping {
        ephemeral: Some(seconds),
        ..Default::default()
    };
    let view_once = Wrapping {
        view_once: true,
        ..Default::default()
    };
    let caption_doc = |caption: &str, ephemeral_secs: Option<u32>| {
        wrapped(
            media(MediaKind::Document, "application/pdf", Some(caption), &pdf),
            Wrapping {
                document_with_caption: true,
                ephemeral: ephemeral_secs,
                ..Default::default()
            },
        )
    };
    vec![
        row("text", Outgoing::Text("hello".into())),
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
        ),
        row(
            "text in a disappearing chat",
            wrapped(Outgoing::Text("gone in a day".into()), ephemeral(86_400)),
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
        ),
        row(
            "image with a caption",
            media(MediaKind::Image, "image/png", Some("my rash"), &photo),
        ),
        row(
            "image in a disappearing chat",
            wrapped(
                media(MediaKind::Image, "image/png", Some("eph"), &photo),
                ephemeral(86_400),
            ),
        ),
        row(
            "view-once image",
            wrapped(
                media(MediaKind::Image, "image/png", None, &photo),
                view_once.clone(),
            ),
        ),
        row(
            "video with a caption",
            media(MediaKind::Video, "video/mp4", Some("how it looks"), &clip),
        ),
        row(
            "view-once video",
            wrapped(
                media(MediaKind::Video, "video/mp4", None, &clip),
                view_once.clone(),
            ),
        ),
        row(
            "round video note",
            media(MediaKind::Ptv, "video/mp4", None, &clip),
        ),
        row(
            "audio file",
            media(MediaKind::Audio, "audio/mpeg", None, &note),
        ),
        row(
            "voice note",
            media(MediaKind::VoiceNote, "audio/ogg; codecs=opus", None, &note),
        ),
        row(
            "view-once voice note",
            wrapped(
                media(MediaKind::VoiceNote, "audio/ogg; codecs=opus", None, &note),
                view_once,
            ),
        ),
        row(
            "document",
            media(MediaKind::Document, "application/pdf", None, &pdf),
        ),
        row(
            "document with a caption",
            caption_doc("my prescription", None),
        ),
        row(
            "document with a caption in a disappearing chat",
            caption_doc("again", Some(86_400)),
        ),
        row(
            "sticker",
            media(MediaKind::Sticker, "image/webp", None, &webp),
        ),
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
        ),
        row(
            "location",
            Outgoing::Location {
                lat: 30.0444,
                lng: 31.2357,
                name: Some("Tahrir".into()),
            },
        ),
        row(
            "location in a disappearing chat",
            wrapped(
                Outgoing::Location {
                    lat: 31.04,
                    lng: 31.38,
                    name: None,
                },
                ephemeral(86_400),
            ),
        ),
        row(
            "live location",
            raw(e2e::Message {
                live_location_message: Some(Box::new(e2e::LiveLocationMessage {
                    degrees_latitude: Some(30.05),
                    degrees_longitude: Some(31.24),
                    caption: Some("on my way".into()),
                    sequence_number: Some(1),
                    ..Default::default()
                })),
                ..Default::default()
            }),
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
        ),
        row(
            "single-choice poll",
            raw(shapes::poll(
                "Which branch?",
                &["Maadi", "Zamalek"],
                true,
                [7; 32],
            )),
        ),
        row(
            "multiple-choice poll",
            raw(shapes::poll(
                "Which days?",
                &["Sat", "Sun", "Mon"],
                false,
                [8; 32],
            )),
        ),
        row(
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
        change(
            "reaction",
            Outgoing::Reaction {
                message_id: edited.into(),
                emoji: "👍".into(),
                remote_jid: chat.clone(),
                from_me: true,
            },
        ),
        change(
            "edit in an editedMessage",
            raw(shapes::edit(&chat, edited, "fixed", true, 1)),
        ),
        change(
            "edit as a bare protocol message",
            raw(shapes::edit(&chat, edited, "fixed again", false, 2)),
        ),
        change(
            "edit in a disappearing chat",
            raw(e2e::Message {
                ephemeral_message: future(shapes::edit(&chat, edited, "eph edit", true, 3)),
                ..Default::default()
            }),
        ),
        change("revoke", raw(shapes::revoke(&chat, revoked))),
        Shape {
            name: "poll vote",
            send: Send::Vote("Delivery"),
            stores: Stores::Change,
        },
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
        ),
        row(
            "bot invoke wrapper",
            raw(e2e::Message {
                bot_invoke_message: future(e2e::Message {
                    conversation: Some("@bot hi".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ),
        row(
            "group status wrapper (Baileys)",
            raw(e2e::Message {
                group_status_message_v2: future(e2e::Message {
                    conversation: Some("status".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        ),
        row(
            "a kind the model does not read",
            raw(e2e::Message {
                pin_in_chat_message: Some(e2e::PinInChatMessage {
                    key: Some(shapes::key(&chat, edited, true)),
                    r#type: Some(1),
                    sender_timestamp_ms: Some(1),
                }),
                ..Default::default()
            }),
        ),
    ]
}

/// Makes every write of the pool fail (`PRAGMA query_only`, per connection: the pool's
/// connections are all taken at once so each one gets it), or work again.
async fn refuse_writes(pool: &SqlitePool, refuse: bool) {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.unwrap());
    }
    for c in &mut held {
        sqlx::query(&format!("PRAGMA query_only = {}", u8::from(refuse)))
            .execute(&mut **c)
            .await
            .unwrap();
    }
}

/// How many messages are stored under `wa_id`.
async fn stored(pool: &SqlitePool, wa_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM messages WHERE wa_id = ?")
        .bind(wa_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The ids among `ids` the service's device sent a receipt for (a retry receipt asks for the
/// message again: no acknowledgement).
fn receipted(svc: &SimService, ids: &[String]) -> HashSet<String> {
    svc.sim
        .stanzas()
        .into_iter()
        .filter(|s| s.tag == "receipt" && s.kind != "retry" && s.from.starts_with(PHARMACY))
        .map(|s| s.id)
        .filter(|id| ids.contains(id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_store_fails_no_shape_is_acknowledged_and_afterwards_each_is_stored_once() {
    let svc = SimService::start(PacingPolicy::fast()).await;
    let pool = svc.app.pool().clone();
    // What the changes act on, stored before the fault: two texts and a poll of the customer's.
    let (_, edited) = svc.customer_writes(CUSTOMER, "Mona", "original text").await;
    let revoked = svc
        .sim
        .customer_send(
            CUSTOMER,
            PHARMACY,
            Outgoing::Text("sent by mistake".into()),
            None,
        )
        .unwrap();
    let poll = svc
        .sim
        .customer_poll(
            CUSTOMER,
            PHARMACY,
            "Pickup or delivery?",
            &["Pickup", "Delivery"],
        )
        .unwrap();
    for id in [&revoked, &poll] {
        eventually("the targets stored", || async {
            (stored(&pool, id).await == 1).then_some(())
        })
        .await;
    }

    refuse_writes(&pool, true).await;
    let mut events = svc.app.events().subscribe();
    let shapes = table(&edited, &revoked);
    assert!(shapes.len() >= 30, "{} shapes", shapes.len());
    let ids: Vec<String> = shapes
        .iter()
        .map(|s| {
            match &s.send {
                Send::Message(m) => svc.sim.customer_send(CUSTOMER, PHARMACY, m.clone(), None),
                Send::Vote(option) => {
                    svc.sim
                        .customer_vote(CUSTOMER, PHARMACY, &poll, &[option], true)
                }
            }
            .unwrap_or_else(|e| panic!("{}: {e}", s.name))
        })
        .collect();
    // Every one was refused: the service said so, once per attempt, and stored nothing.
    let mut refused = 0;
    while refused < shapes.len() {
        let envelope = match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(e)) => e,
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => panic!("event bus: {e}"),
            Err(_) => panic!("{refused} of {} shapes refused", shapes.len()),
        };
        if let LiveEvent::WhatsappStatus { state, .. } = &envelope.event
            && state == "store_failed"
        {
            refused += 1;
        }
    }
    for (shape, id) in shapes.iter().zip(&ids) {
        assert_eq!(
            stored(&pool, id).await,
            0,
            "{} stored while failing",
            shape.name
        );
    }
    let early = receipted(&svc, &ids);
    assert!(
        early.is_empty(),
        "acknowledged while the store failed: {:?}",
        shapes
            .iter()
            .zip(&ids)
            .filter(|(_, id)| early.contains(*id))
            .map(|(s, _)| s.name)
            .collect::<Vec<_>>()
    );

    // Writes work again: WhatsApp delivers the unacknowledged messages at the next login.
    refuse_writes(&pool, false).await;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        svc.sim.fault(&Fault::DropConnections).expect("fault");
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if receipted(&svc, &ids).len() == ids.len() {
                break;
            }
        }
        let done = receipted(&svc, &ids);
        if done.len() == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never acknowledged: {:?}",
            shapes
                .iter()
                .zip(&ids)
                .filter(|(_, id)| !done.contains(*id))
                .map(|(s, _)| s.name)
                .collect::<Vec<_>>()
        );
    }
    // Acknowledged only once stored: each message exactly once, each change at most one row
    // (none, or its line) and applied.
    for (shape, id) in shapes.iter().zip(&ids) {
        let n = stored(&pool, id).await;
        match shape.stores {
            Stores::Row => assert_eq!(n, 1, "{}: stored once", shape.name),
            Stores::Change => assert!(n <= 1, "{}: {n} rows", shape.name),
        }
    }
    let (body, reaction): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT body, reaction FROM messages WHERE wa_id = ?")
            .bind(&edited)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        ["fixed", "fixed again", "eph edit"].contains(&body.as_deref().unwrap_or_default()),
        "the edits reached their target: {body:?}"
    );
    assert_eq!(reaction.as_deref(), Some("👍"));
    let revoked_at: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM messages WHERE wa_id = ?")
            .bind(&revoked)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(revoked_at.is_some(), "the revoke reached its target");
    svc.shutdown().await;
}
