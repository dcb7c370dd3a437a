//! Every shape a real phone sends (the catalogue of `whatsapp_sim::shapes`) reaches the
//! service through the simulator and the real client as exactly one message of its kind, with
//! its text or caption and, for attachments, the file whose hash the message named; edits in
//! both forms, poll votes and live-location updates change their target instead.

use super::bridge::{CUSTOMER, PHARMACY, eventually, fast_app, paired_bridge};
use super::support::TempDir;
use pharmacy_service::app::{App, SeedOptions, ServiceConfig};
use pharmacy_service::db;
use pharmacy_service::db::messages::Message;
use pharmacy_service::domain::message::MessageKind;
use pharmacy_service::whatsapp::bridge::WhatsappBridge;
use sha2::Digest;
use std::sync::Arc;
use whatsapp_client::e2e;
use whatsapp_sim::device::{MediaKind as SimMediaKind, Outgoing};
use whatsapp_sim::shapes;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

/// What the service must store for a shape of the catalogue (`whatsapp_sim::shapes`).
struct Expect {
    kind: MessageKind,
    body: Option<&'static str>,
    check: fn(&Message) -> bool,
}

fn stores(kind: MessageKind, body: Option<&'static str>) -> Expect {
    Expect {
        kind,
        body,
        check: |_| true,
    }
}

fn checked(mut e: Expect, check: fn(&Message) -> bool) -> Expect {
    e.check = check;
    e
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

fn raw(m: e2e::Message) -> Outgoing {
    Outgoing::Raw(Box::new(m))
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

/// What each shape of the catalogue that is a message of its own must be stored as (with
/// its text or caption); an attachment's file is checked against the catalogue's plaintext.
/// The changes ([`shapes::CHANGES`]) are tested on their own below.
fn expected(name: &str) -> Expect {
    use MessageKind as K;
    let view_once = |m: &Message| m.view_once;
    match name {
        "text" => stores(K::Text, Some("hello")),
        "text with a link preview" => stores(K::Text, Some("see https://pharmacy.eg/offers")),
        "text with mentions" => stores(K::Text, Some("ask @Ali")),
        "forwarded many times" => stores(K::Text, Some("fwd")),
        "text in a disappearing chat" => stores(K::Text, Some("gone in a day")),
        "text in a disappearing chat, Baileys' form" => stores(K::Text, Some("bare")),
        "image with a caption" => stores(K::Image, Some("my rash")),
        "image in a disappearing chat" => stores(K::Image, Some("eph")),
        "view-once image" => checked(stores(K::Image, None), view_once),
        "video with a caption" => stores(K::Video, Some("how it looks")),
        "view-once video" => checked(stores(K::Video, None), view_once),
        "round video note" => stores(K::Ptv, None),
        "audio file" | "voice note" => stores(K::Audio, None),
        "view-once voice note" => checked(stores(K::Audio, None), view_once),
        "document" => checked(stores(K::Document, None), |m| {
            m.media_name.as_deref() == Some("rx.pdf")
        }),
        "document with a caption" => checked(stores(K::Document, Some("my prescription")), |m| {
            m.media_name.as_deref() == Some("rx.pdf")
        }),
        "document with a caption in a disappearing chat" => stores(K::Document, Some("again")),
        "sticker" => stores(K::Sticker, None),
        // Nothing to download with: shown as not downloadable, never retried.
        "lottie sticker" => checked(stores(K::Sticker, None), |m| {
            m.media_state.as_deref() == Some("failed")
        }),
        "location" => checked(stores(K::Location, Some("Tahrir")), |m| {
            m.latitude == Some(30.0444)
        }),
        "location in a disappearing chat" => stores(K::Location, None),
        "live location" => checked(stores(K::LiveLocation, Some("on my way")), |m| {
            m.latitude == Some(30.1) && m.location_updated_at.is_some()
        }),
        "contact" => checked(stores(K::Contact, Some("Dr. Hany")), |m| {
            m.contacts.len() == 1
                && m.contacts[0].phones == ["+201001112223"]
                && m.contacts[0]
                    .vcard
                    .as_deref()
                    .is_some_and(|v| v.contains("FN:Dr. Hany"))
        }),
        "contact list" => checked(stores(K::Contact, Some("Dr. Hany, Nurse Mona")), |m| {
            let names: Vec<_> = m
                .contacts
                .iter()
                .map(|c| c.display_name.as_deref())
                .collect();
            names == [Some("Dr. Hany"), Some("Nurse Mona")]
        }),
        "single-choice poll" => checked(stores(K::Poll, Some("Which branch?")), |m| {
            m.poll.as_ref().is_some_and(|p| {
                p.selectable == 1
                    && p.options
                        .iter()
                        .map(|o| o.name.as_str())
                        .eq(["Maadi", "Zamalek"])
            })
        }),
        "multiple-choice poll" => checked(stores(K::Poll, Some("Which days?")), |m| {
            m.poll
                .as_ref()
                .is_some_and(|p| p.options.len() == 3 && p.selectable == 0)
        }),
        "poll, V2 field" => stores(K::Poll, Some("Q")),
        "buttons reply" => checked(stores(K::ButtonReply, Some("Confirm order")), |m| {
            m.reply_id.as_deref() == Some("confirm")
                && m.quoted_wa_id.as_deref() == Some("3EB0BUTTONS")
        }),
        "list reply" => checked(stores(K::ListReply, Some("Maadi")), |m| {
            m.reply_id.as_deref() == Some("branch-3")
        }),
        "template button reply" => checked(stores(K::TemplateReply, Some("Call me")), |m| {
            m.reply_id.as_deref() == Some("call-me")
        }),
        "interactive (native flow) reply" => {
            checked(stores(K::InteractiveReply, Some("Sent")), |m| {
                m.reply_id.as_deref() == Some("address_message")
                    && m.reply_detail
                        .as_deref()
                        .is_some_and(|d| d.contains("Cairo"))
            })
        }
        "bot invoke wrapper" => stores(K::Text, Some("@bot hi")),
        "group status wrapper (Baileys)" => stores(K::Text, Some("status")),
        "a kind the model does not read" => checked(stores(K::Unsupported, None), |m| {
            m.body.as_deref().is_some_and(|b| {
                b.contains("pinInChatMessage")
                    && b.contains("open WhatsApp on the pharmacy's phone")
            })
        }),
        other => panic!("no expectation for the catalogue's shape {other:?}"),
    }
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

/// The demo service paired with a sim where the customer Mona is.
async fn service_with_mona() -> (TempDir, App, SimHandle, Arc<WhatsappBridge>) {
    let dir = TempDir::new();
    let app = fast_app(&dir, ServiceConfig::default()).await;
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let bridge = paired_bridge(&app, &sim).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false).unwrap();
    (dir, app, sim, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_is_stored_once_as_its_kind_and_changes_reach_their_target() {
    let (_dir, app, sim, bridge) = service_with_mona().await;

    let chat = format!("{PHARMACY}@s.whatsapp.net");
    // The changes name no stored message here; they are tested below.
    let table: Vec<(&str, Outgoing, Expect)> = shapes::catalogue(&chat, "3EB0NONE", "3EB0NONE")
        .into_iter()
        .filter(|(name, _)| !shapes::CHANGES.contains(name))
        .map(|(name, send)| (name, send, expected(name)))
        .collect();
    assert_eq!(table.len(), 35, "the shapes that are messages");
    let ids: Vec<String> = table
        .iter()
        .map(|(_, send, _)| {
            sim.customer_send(CUSTOMER, PHARMACY, send.clone(), None)
                .expect("send")
        })
        .collect();
    for ((name, send, want), id) in table.iter().zip(&ids) {
        // An attachment counts once its file is stored (or it is marked as not fetchable).
        let m = stored(&app, id, |m| {
            !m.kind.is_media() || m.media_state.as_deref() != Some("downloading")
        })
        .await;
        assert_eq!(rows(&app, id).await.len(), 1, "{name}: one message");
        assert_eq!(m.kind, want.kind, "{name}: kind");
        if let Some(body) = want.body {
            assert_eq!(m.body.as_deref(), Some(body), "{name}: text or caption");
        }
        if let Some(data) = shapes::media_data(send) {
            assert_eq!(m.media_state, None, "{name}: downloaded");
            assert_eq!(
                m.media_sha256.as_deref(),
                Some(hex::encode(sha2::Sha256::digest(data)).as_str()),
                "{name}: the file the message named"
            );
        }
        assert!((want.check)(&m), "{name}: stored as {m:?}");
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
        .position(|(_, _, want)| want.kind == MessageKind::LiveLocation)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_into_neither_text_nor_a_caption_is_stored_as_a_version_or_a_line() {
    const OTHER: &str = "201077700001";
    let (_dir, app, sim, bridge) = service_with_mona().await;
    sim.add_customer(OTHER, "Hany", 1, false).unwrap();
    let chat = format!("{PHARMACY}@s.whatsapp.net");
    let send = |from: &str, m: Outgoing| sim.customer_send(from, PHARMACY, m, None).unwrap();
    let image_without_caption = || e2e::Message {
        image_message: Some(Box::new(e2e::ImageMessage {
            mimetype: Some("image/png".into()),
            ..Default::default()
        })),
        ..Default::default()
    };

    // A photo's caption removed: a new version without it, the caption in its history.
    let photo = b"\x89PNG pretend photo".repeat(40);
    let image = send(
        CUSTOMER,
        media(SimMediaKind::Image, "image/png", Some("my rash"), &photo),
    );
    stored(&app, &image, |m| m.media_state.is_none()).await;
    let uncaptioned = send(
        CUSTOMER,
        raw(shapes::edit_into(
            &chat,
            &image,
            image_without_caption(),
            true,
            1,
        )),
    );
    let edited = stored(&app, &image, |m| m.edited_at.is_some()).await;
    assert_eq!(edited.body.as_deref().unwrap_or_default(), "");
    let history: Vec<_> = edited.edits.iter().map(|e| e.old_body.as_deref()).collect();
    assert_eq!(history, [Some("my rash")]);
    assert!(
        rows(&app, &uncaptioned).await.is_empty(),
        "a version, no line"
    );

    // A text turned into a location (Baileys' bare form), or into a captionless photo: the
    // text cannot show either, so each is a line naming it, replying to the text.
    let text = send(CUSTOMER, Outgoing::Text("where are you?".into()));
    stored(&app, &text, |_| true).await;
    let pin = e2e::Message {
        location_message: Some(Box::new(e2e::LocationMessage {
            degrees_latitude: Some(30.0),
            degrees_longitude: Some(31.0),
            ..Default::default()
        })),
        ..Default::default()
    };
    for (new, named, wrapped) in [
        (pin, "Location", false),
        (image_without_caption(), "without a caption", true),
    ] {
        let edit = send(
            CUSTOMER,
            raw(shapes::edit_into(&chat, &text, new, wrapped, 2)),
        );
        let line = stored(&app, &edit, |_| true).await;
        assert_eq!(line.kind, MessageKind::Unsupported, "{named}");
        let body = line.body.as_deref().unwrap_or_default();
        assert!(body.contains(named), "{body}");
        assert_eq!(line.quoted_wa_id.as_deref(), Some(text.as_str()));
    }
    let unchanged = stored(&app, &text, |_| true).await;
    assert_eq!(unchanged.body.as_deref(), Some("where are you?"));
    assert_eq!(unchanged.edited_at, None);

    // Another customer naming Mona's message changes nothing and leaves no line in her chat.
    let hany = send(OTHER, Outgoing::Text("hi".into()));
    let hany_ticket = stored(&app, &hany, |_| true).await.ticket_id;
    let foreign = send(
        OTHER,
        raw(shapes::edit_into(
            &chat,
            &image,
            image_without_caption(),
            true,
            3,
        )),
    );
    // Hany's next message is stored after the edit was handled (one chat, in order).
    let after = send(OTHER, Outgoing::Text("still there?".into()));
    stored(&app, &after, |_| true).await;
    assert!(
        rows(&app, &foreign).await.is_empty(),
        "not in anyone's chat"
    );
    assert_eq!(
        stored(&app, &image, |_| true).await.edits.len(),
        1,
        "Mona's photo untouched"
    );
    assert_ne!(hany_ticket, edited.ticket_id);
    bridge.shutdown().await;
    sim.shutdown();
}
