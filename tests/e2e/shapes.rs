//! Every shape a customer's phone sends reaches the application once, unwrapped and typed:
//! the catalogue of real shapes (`whatsapp_sim::shapes`: wrappers as phones put them,
//! disappearing chats, view-once, documents with a caption, edits in both forms, …) sent by
//! a simulated customer
//! (`shapes_generated`: 20 generated messages in random stacks of wrappers).

use std::collections::HashMap;

use whatsapp_client::content::{Content, MediaKind, PollVersion, ReplyKind, Wrappers};
use whatsapp_client::{Event, EventStream, IncomingMessage, MediaRef, e2e};
use whatsapp_sim::SimHandle;
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::shapes;
use whatsapp_sim::{Sim, SimConfig};

use fixtures::{CUSTOMER, OWN_PHONE, config, paired, temp_db};

fn media_is(m: &IncomingMessage, kind: MediaKind, caption: Option<&str>) -> bool {
    matches!(&m.content.content, Content::Media(x) if x.kind == Some(kind) && x.caption.as_deref() == caption)
}

fn text_is(m: &IncomingMessage, want: &str) -> bool {
    matches!(&m.content.content, Content::Text { text, .. } if text == want)
}

const EDITED_ID: &str = "3EB0EDITEDTARGET";

pub(crate) fn raw(m: e2e::Message) -> Outgoing {
    Outgoing::Raw(Box::new(m))
}

pub(crate) fn future(m: e2e::Message) -> Option<Box<e2e::FutureProofMessage>> {
    Some(Box::new(e2e::FutureProofMessage {
        message: Some(Box::new(m)),
    }))
}

/// How one shape of the catalogue (`whatsapp_sim::shapes`) must look to the application: the
/// check of what it reads, and the wrappers it looked through. (An attachment is also
/// downloaded and compared with the catalogue's plaintext.)
fn expected(name: &str) -> (fn(&IncomingMessage) -> bool, Wrappers) {
    let none = Wrappers::default();
    let ephemeral = Wrappers {
        ephemeral: true,
        ..Default::default()
    };
    let check: fn(&IncomingMessage) -> bool = match name {
        "text" => |m| text_is(m, "hello"),
        "text with a link preview" => |m| {
            matches!(&m.content.content, Content::Text { link_preview: Some(p), .. }
                if p.url == "https://pharmacy.eg/offers" && p.title.as_deref() == Some("Offers"))
        },
        "text with mentions" => |m| {
            text_is(m, "ask @Ali") && m.content.context.mentions == ["201009998887@s.whatsapp.net"]
        },
        "forwarded many times" => |m| {
            text_is(m, "fwd")
                && m.content.context.forwarded
                && m.content.context.forwarding_score == 5
        },
        "text in a disappearing chat" => {
            |m| text_is(m, "gone in a day") && m.content.context.expiration == Some(86_400)
        }
        "text in a disappearing chat, Baileys' form" => {
            |m| text_is(m, "bare") && m.content.context.expiration == Some(604_800)
        }
        "image with a caption" => |m| media_is(m, MediaKind::Image, Some("my rash")),
        "image in a disappearing chat" => |m| media_is(m, MediaKind::Image, Some("eph")),
        "view-once image" => |m| media_is(m, MediaKind::Image, None) && m.content.context.view_once,
        "video with a caption" => |m| media_is(m, MediaKind::Video, Some("how it looks")),
        "view-once video" => |m| media_is(m, MediaKind::Video, None) && m.content.context.view_once,
        "round video note" => |m| media_is(m, MediaKind::Ptv, None),
        "audio file" => |m| media_is(m, MediaKind::Audio, None),
        "voice note" => |m| media_is(m, MediaKind::VoiceNote, None),
        "view-once voice note" => {
            |m| media_is(m, MediaKind::VoiceNote, None) && m.content.context.view_once
        }
        "document" => |m| {
            matches!(&m.content.content, Content::Media(x)
                if x.kind == Some(MediaKind::Document) && x.file_name.as_deref() == Some("rx.pdf"))
        },
        "document with a caption" => |m| media_is(m, MediaKind::Document, Some("my prescription")),
        "document with a caption in a disappearing chat" => |m| {
            media_is(m, MediaKind::Document, Some("again"))
                && m.content.context.expiration == Some(86_400)
        },
        "sticker" | "lottie sticker" => |m| media_is(m, MediaKind::Sticker, None),
        "location" => {
            |m| matches!(&m.content.content, Content::Location { name: Some(n), .. } if n == "Tahrir")
        }
        "location in a disappearing chat" => |m| {
            matches!(&m.content.content, Content::Location { .. })
                && m.content.context.expiration == Some(7_776_000)
        },
        "live location" => {
            |m| matches!(&m.content.content, Content::LiveLocation { caption: Some(c), .. } if c == "on my way")
        }
        "contact" => {
            |m| matches!(&m.content.content, Content::Contact(c) if c.display_name.as_deref() == Some("Dr. Hany"))
        }
        "contact list" => {
            |m| matches!(&m.content.content, Content::Contacts { contacts, .. } if contacts.len() == 2)
        }
        "single-choice poll" => |m| {
            matches!(&m.content.content, Content::PollCreation { version: PollVersion::V3, options, .. } if options.len() == 2)
                && m.content.message_secret == Some(vec![7; 32])
        },
        "multiple-choice poll" => |m| {
            matches!(
                &m.content.content,
                Content::PollCreation {
                    version: PollVersion::V1,
                    selectable_count: 0,
                    ..
                }
            )
        },
        "poll, V2 field" => |m| {
            matches!(
                &m.content.content,
                Content::PollCreation {
                    version: PollVersion::V2,
                    ..
                }
            )
        },
        "poll vote" => |m| {
            matches!(&m.content.content, Content::PollVote { poll, enc_iv, .. }
                if poll.id == "3EB0POLL" && enc_iv.len() == 12)
        },
        "reaction" => {
            |m| matches!(&m.content.content, Content::Reaction { target, emoji } if target.id == EDITED_ID && emoji == "👍")
        }
        "edit in an editedMessage" => |m| {
            matches!(&m.content.content, Content::Edit { target, new }
                if target.id == EDITED_ID && matches!(&**new, Content::Text { text, .. } if text == "fixed"))
        },
        "edit as a bare protocol message" => |m| {
            matches!(&m.content.content, Content::Edit { target, new }
                if target.id == EDITED_ID && matches!(&**new, Content::Text { text, .. } if text == "fixed again"))
        },
        "edit in a disappearing chat" => {
            |m| matches!(&m.content.content, Content::Edit { target, .. } if target.id == EDITED_ID)
        }
        "revoke" => {
            |m| matches!(&m.content.content, Content::Revoke { target } if target.id == EDITED_ID)
        }
        "buttons reply" => |m| {
            matches!(&m.content.content, Content::Reply { kind: ReplyKind::Button, id: Some(id), .. } if id == "confirm")
                && m.content.context.quoted_id.as_deref() == Some("3EB0BUTTONS")
        },
        "list reply" => {
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::List, id: Some(id), .. } if id == "branch-3")
        }
        "template button reply" => {
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::Template, text: Some(t), .. } if t == "Call me")
        }
        "interactive (native flow) reply" => {
            |m| matches!(&m.content.content, Content::Reply { kind: ReplyKind::Interactive, detail: Some(d), .. } if d.contains("Cairo"))
        }
        "bot invoke wrapper" => |m| text_is(m, "@bot hi"),
        "group status wrapper (Baileys)" => |m| text_is(m, "status"),
        "a kind the model does not read" => {
            |m| matches!(&m.content.content, Content::Unsupported { fields } if fields == &["pinInChatMessage"])
        }
        other => panic!("no expectation for the catalogue's shape {other:?}"),
    };
    let wrappers = match name {
        "text in a disappearing chat"
        | "image in a disappearing chat"
        | "location in a disappearing chat" => ephemeral,
        "view-once image" | "view-once video" => Wrappers {
            view_once_v2: true,
            ..Default::default()
        },
        "view-once voice note" => Wrappers {
            view_once_v2_extension: true,
            ..Default::default()
        },
        "document with a caption" => Wrappers {
            document_with_caption: true,
            ..Default::default()
        },
        "document with a caption in a disappearing chat" => Wrappers {
            document_with_caption: true,
            ..ephemeral
        },
        "lottie sticker" => Wrappers {
            lottie_sticker: true,
            ..Default::default()
        },
        "edit in an editedMessage" => Wrappers {
            edited: true,
            ..Default::default()
        },
        "edit in a disappearing chat" => Wrappers {
            edited: true,
            ..ephemeral
        },
        "bot invoke wrapper" => Wrappers {
            bot_invoke: true,
            ..Default::default()
        },
        "group status wrapper (Baileys)" => Wrappers {
            group_status_v2: true,
            ..Default::default()
        },
        _ => none,
    };
    (check, wrappers)
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
    let chat = format!("{OWN_PHONE}@s.whatsapp.net");
    let rows = shapes::catalogue(&chat, EDITED_ID, EDITED_ID);
    assert_eq!(rows.len(), 41, "the catalogue");
    let ids = send_all(&sim, rows.iter().map(|(_, send)| send.clone()));
    let (seen, messages) = receive_all(&mut events, &ids).await;
    for ((name, send), id) in rows.iter().zip(&ids) {
        let (check, wrappers) = expected(name);
        assert_eq!(seen.get(id), Some(&1), "{name}: delivered once");
        let m = messages.iter().find(|m| &m.info.id == id).expect("message");
        assert!(
            check(m),
            "{name}: read as {:?} (context {:?})",
            m.content.content,
            m.content.context
        );
        assert_eq!(m.content.wrappers, wrappers, "{name}: wrapper flags");
        if let Some(data) = shapes::media_data(send) {
            let media = MediaRef::from_message(&m.raw).expect("the attachment, through wrappers");
            let downloaded = client.download(&media).await.expect("download");
            assert_eq!(downloaded, data, "{name}: media hash verified");
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
