//! The receive path at the client boundary: arbitrary `e2e::Message` values, in any stack
//! of wrappers, are encrypted under a group sender key and fed to the stanza worker with a
//! recording fake driver. Each one that carries something reaches the application once as
//! an `Event::Message` with its wrapper flags and nothing acknowledges it before the
//! application does; only messages with nothing to show are acknowledged by the client.

use std::sync::Arc;

use proptest::prelude::*;
use tokio::sync::mpsc;
use whatsapp_proto::binary::Node;
use whatsapp_proto::content::{Content, MAX_UNWRAP_DEPTH, Wrappers};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e::{self, FutureProofMessage, Message};
use whatsapp_proto::signal::{self, SenderKeyRecord};

use crate::context::{Command, Shared};
use crate::event::Event;
use crate::store::{DeviceStore as _, MemoryStore, SenderKeyStore as _};

const GROUP: &str = "120363000000000001@g.us";
const SENDER: &str = "201112223334@s.whatsapp.net";

/// The wrapper kinds, in the order of [`Wrappers`]'s fields.
const WRAPPERS: usize = 12;

fn wrap(kind: usize, inner: Message) -> Message {
    let future = Some(Box::new(FutureProofMessage {
        message: Some(Box::new(inner.clone())),
    }));
    let mut m = Message::default();
    match kind {
        0 => {
            m.device_sent_message = Some(Box::new(e2e::DeviceSentMessage {
                destination_jid: Some(SENDER.into()),
                message: Some(Box::new(inner)),
                phash: None,
            }))
        }
        1 => m.bot_invoke_message = future,
        2 => m.ephemeral_message = future,
        3 => m.view_once_message = future,
        4 => m.view_once_message_v2 = future,
        5 => m.view_once_message_v2_extension = future,
        6 => m.lottie_sticker_message = future,
        7 => m.document_with_caption_message = future,
        8 => m.edited_message = future,
        9 => m.associated_child_message = future,
        10 => m.group_status_message = future,
        _ => m.group_status_message_v2 = future,
    }
    m
}

fn set_flag(w: &mut Wrappers, kind: usize) {
    let flag = match kind {
        0 => &mut w.device_sent,
        1 => &mut w.bot_invoke,
        2 => &mut w.ephemeral,
        3 => &mut w.view_once,
        4 => &mut w.view_once_v2,
        5 => &mut w.view_once_v2_extension,
        6 => &mut w.lottie_sticker,
        7 => &mut w.document_with_caption,
        8 => &mut w.edited,
        9 => &mut w.associated_child,
        10 => &mut w.group_status,
        _ => &mut w.group_status_v2,
    };
    *flag = true;
}

fn key(id: &str) -> e2e::MessageKey {
    e2e::MessageKey {
        remote_jid: Some(SENDER.into()),
        from_me: Some(false),
        id: Some(id.into()),
        participant: None,
    }
}

/// One content kind (`None`: metadata only) built from a text.
fn leaf(kind: usize, s: &str) -> Option<Message> {
    let s = Some(s.to_owned());
    let media_key = Some(vec![1; 32]);
    let mut m = Message::default();
    match kind {
        0 => m.conversation = s,
        1 => {
            m.extended_text_message = Some(Box::new(e2e::ExtendedTextMessage {
                text: s,
                context_info: Some(Box::new(e2e::ContextInfo {
                    stanza_id: Some("Q".into()),
                    expiration: Some(86_400),
                    ..Default::default()
                })),
                ..Default::default()
            }))
        }
        2 => {
            m.image_message = Some(Box::new(e2e::ImageMessage {
                caption: s,
                media_key,
                ..Default::default()
            }))
        }
        3 => {
            m.video_message = Some(Box::new(e2e::VideoMessage {
                caption: s,
                ..Default::default()
            }))
        }
        4 => m.ptv_message = Some(Box::default()),
        5 => {
            m.audio_message = Some(Box::new(e2e::AudioMessage {
                ptt: Some(true),
                ..Default::default()
            }))
        }
        6 => {
            m.document_message = Some(Box::new(e2e::DocumentMessage {
                caption: s,
                file_name: Some("rx.pdf".into()),
                ..Default::default()
            }))
        }
        7 => m.sticker_message = Some(Box::default()),
        8 => {
            m.location_message = Some(Box::new(e2e::LocationMessage {
                name: s,
                ..Default::default()
            }))
        }
        9 => m.live_location_message = Some(Box::default()),
        10 => {
            m.contact_message = Some(Box::new(e2e::ContactMessage {
                display_name: s,
                ..Default::default()
            }))
        }
        11 => m.contacts_array_message = Some(Box::default()),
        12 => {
            m.poll_creation_message_v3 = Some(Box::new(e2e::PollCreationMessage {
                name: s,
                ..Default::default()
            }))
        }
        13 => {
            m.poll_update_message = Some(e2e::PollUpdateMessage {
                poll_creation_message_key: Some(key("P")),
                ..Default::default()
            })
        }
        14 => {
            m.reaction_message = Some(e2e::ReactionMessage {
                key: Some(key("R")),
                text: s,
                ..Default::default()
            })
        }
        15 => {
            m.protocol_message = Some(Box::new(e2e::ProtocolMessage {
                key: Some(key("E")),
                r#type: Some(e2e::protocol_message::Type::MessageEdit as i32),
                edited_message: Some(Box::new(Message {
                    conversation: s,
                    ..Default::default()
                })),
                ..Default::default()
            }))
        }
        16 => {
            m.protocol_message = Some(Box::new(e2e::ProtocolMessage {
                key: Some(key("D")),
                r#type: Some(e2e::protocol_message::Type::Revoke as i32),
                ..Default::default()
            }))
        }
        17 => {
            m.buttons_response_message = Some(Box::new(e2e::ButtonsResponseMessage {
                selected_display_text: s,
                ..Default::default()
            }))
        }
        18 => {
            m.list_response_message = Some(Box::new(e2e::ListResponseMessage {
                title: s,
                ..Default::default()
            }))
        }
        19 => {
            m.template_button_reply_message = Some(Box::new(e2e::TemplateButtonReplyMessage {
                selected_display_text: s,
                ..Default::default()
            }))
        }
        20 => m.interactive_response_message = Some(Box::default()),
        // Kinds the model does not read: still handed over, as Unsupported.
        21 => m.pin_in_chat_message = Some(e2e::PinInChatMessage::default()),
        22 => m.enc_reaction_message = Some(e2e::EncReactionMessage::default()),
        // Metadata only: nothing for the application.
        _ => return None,
    }
    Some(m)
}

const LEAVES: usize = 24;

/// A generated message: its bytes, whether it carries something, the flags expected.
#[derive(Debug, Clone)]
struct Case {
    message: Message,
    unknown_field: bool,
    visible: bool,
    wrappers: Wrappers,
    unsupported: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..LEAVES,
        "[a-z ]{0,12}",
        proptest::collection::vec(0..WRAPPERS, 0..8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, text, stack, secret, unknown_field)| {
            let body = leaf(kind, &text);
            let has_body = body.is_some();
            let mut message = body.unwrap_or_default();
            // The innermost wrapper first: stack[0] is the outermost.
            for kind in stack.iter().rev() {
                message = wrap(*kind, message);
            }
            if secret {
                message.message_context_info = Some(e2e::MessageContextInfo {
                    message_secret: Some(vec![5; 32]),
                    ..Default::default()
                });
            }
            let mut wrappers = Wrappers::default();
            for kind in stack.iter().take(MAX_UNWRAP_DEPTH) {
                set_flag(&mut wrappers, *kind);
            }
            let too_deep = stack.len() > MAX_UNWRAP_DEPTH;
            Case {
                message,
                unknown_field,
                visible: has_body || too_deep || unknown_field,
                wrappers,
                unsupported: kind >= 21 || too_deep || (!has_body && unknown_field),
            }
        })
}

/// What the fake driver saw.
struct Recorded {
    events: Vec<Event>,
    sent: Vec<Node>,
}

/// A client core over `store` (our device generated, saved and returned) and a recording
/// fake driver that is never connected: every stanza sent is recorded and answered as
/// sent; IQs and messages fail with `NotConnected`. The driver's task returns what was
/// sent once `Shared` is dropped.
pub(crate) async fn test_client(
    store: Arc<MemoryStore>,
) -> (
    Arc<Shared>,
    mpsc::Receiver<Event>,
    tokio::task::JoinHandle<Vec<Node>>,
) {
    let mut device = crate::store::Device::generate(&mut rand::thread_rng());
    device.jid = Some("201001234567:3@s.whatsapp.net".parse().unwrap());
    store.save_device(&device).await.unwrap();
    let (events_tx, events_rx) = mpsc::channel(4096);
    let (cmd, mut cmd_rx) = mpsc::channel(64);
    let (acks, _acks_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(
        store,
        crate::Config::default(),
        device,
        events_tx,
        cmd,
        acks,
    ));
    let driver = tokio::spawn(async move {
        let mut sent = Vec::new();
        while let Some(cmd) = cmd_rx.recv().await {
            match cmd {
                Command::Send(node, reply) => {
                    sent.push(node);
                    if let Some(tx) = reply {
                        let _ = tx.send(Ok(()));
                    }
                }
                Command::Iq(_, tx) | Command::Message(_, tx) => {
                    let _ = tx.send(Err(crate::ClientError::NotConnected));
                }
                _ => {}
            }
        }
        sent
    });
    (shared, events_rx, driver)
}

/// Runs the stanza worker over `cases` as group messages from one sender.
async fn receive(cases: &[Case]) -> Recorded {
    let mut rng = rand::thread_rng();
    let store = Arc::new(MemoryStore::new());
    // The sender's sending state, and ours for it as its distribution set it up.
    let sender: Jid = SENDER.parse().unwrap();
    let mut sending = SenderKeyRecord::new();
    let distribution = sending.create_distribution_message(&mut rng);
    let mut receiving = SenderKeyRecord::new();
    receiving.process_distribution_message(&distribution);
    store
        .store_sender_key(GROUP, &sender.signal_address(), &receiving.to_bytes())
        .await
        .unwrap();
    let (shared, mut events_rx, driver) = test_client(store).await;
    let (tx, rx) = mpsc::channel(cases.len().max(1));
    for (i, case) in cases.iter().enumerate() {
        let mut plaintext = prost::Message::encode_to_vec(&case.message);
        if case.unknown_field {
            // Field 88 (pollResultSnapshotMessage upstream), unknown to our schema.
            plaintext.extend_from_slice(&[0xc2, 0x05, 0x00]);
        }
        let padded = signal::pad(&plaintext, &mut rng);
        let skmsg = sending.encrypt(&padded, &mut rng).unwrap();
        tx.send(
            Node::new("message")
                .attr("from", GROUP.parse::<Jid>().unwrap())
                .attr("participant", SENDER.parse::<Jid>().unwrap())
                .attr("id", format!("M{i}"))
                .attr("type", "text")
                .attr("t", "1700000000")
                .children([Node::new("enc")
                    .attr("v", "2")
                    .attr("type", "skmsg")
                    .bytes(skmsg.serialized().to_vec())]),
        )
        .await
        .unwrap();
    }
    drop(tx);
    crate::receive::stanza_worker(shared.clone(), rx).await;
    drop(shared);
    let sent = driver.await.unwrap();
    let mut events = Vec::new();
    while let Ok(event) = events_rx.try_recv() {
        events.push(event);
    }
    Recorded { events, sent }
}

fn check(cases: &[Case], recorded: Recorded) -> Result<(), TestCaseError> {
    for (i, case) in cases.iter().enumerate() {
        let id = format!("M{i}");
        let delivered: Vec<_> = recorded
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) if m.info.id == id => Some(m),
                _ => None,
            })
            .collect();
        let acked = recorded
            .sent
            .iter()
            .any(|n| n.attr_value("id").map(|v| v.to_text()).as_deref() == Some(id.as_str()));
        if case.visible {
            prop_assert_eq!(delivered.len(), 1, "{} handed over once: {:?}", id, case);
            prop_assert!(!acked, "{} acknowledged before the application", id);
            let m = delivered[0];
            prop_assert_eq!(m.content.wrappers, case.wrappers, "{:?}", case);
            prop_assert_eq!(
                matches!(m.content.content, Content::Unsupported { .. }),
                case.unsupported,
                "{:?} read as {:?}",
                case,
                m.content.content
            );
            prop_assert_eq!(&m.raw, &case.message, "the raw message is kept");
            prop_assert_eq!(
                m.content.message_secret.is_some(),
                case.message.message_context_info.is_some()
            );
        } else {
            prop_assert!(delivered.is_empty(), "{} has nothing to show", id);
            prop_assert!(acked, "{} with nothing to show is acknowledged", id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 256 batches of 1 to 4 messages each, through the real receive path.
    #[test]
    fn every_message_is_handed_over_or_has_nothing_to_show(
        cases in proptest::collection::vec(case(), 1..5)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let recorded = runtime.block_on(receive(&cases));
        check(&cases, recorded)?;
    }
}

/// The application's ack sends the receipt the client held back.
#[tokio::test]
async fn the_receipt_waits_for_the_application() {
    let case = Case {
        message: wrap(
            2,
            Message {
                conversation: Some("hi".into()),
                ..Default::default()
            },
        ),
        unknown_field: false,
        visible: true,
        wrappers: Wrappers {
            ephemeral: true,
            ..Default::default()
        },
        unsupported: false,
    };
    let recorded = receive(std::slice::from_ref(&case)).await;
    let Some(Event::Message(mut m)) = recorded
        .events
        .into_iter()
        .find(|e| matches!(e, Event::Message(_)))
    else {
        panic!("no message")
    };
    assert_eq!(m.text(), Some("hi"));
    assert!(m.wrappers().ephemeral);
    let (tx, mut rx) = mpsc::unbounded_channel();
    m.ack.as_mut().unwrap().to = tx;
    m.ack();
    let receipt = rx.try_recv().expect("the receipt goes out on ack");
    assert_eq!(receipt.tag, "receipt");
}
