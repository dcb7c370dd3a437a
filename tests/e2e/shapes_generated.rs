//! 20 generated messages in random stacks of up to 5 wrappers, sent by a simulated customer
//! as they are: each reaches the application once, read as its kind, with the flags of its
//! stack.

use rand::{Rng, SeedableRng};
use whatsapp_client::content::{Content, Wrappers};
use whatsapp_client::e2e;
use whatsapp_sim::shapes;
use whatsapp_sim::{Sim, SimConfig};

use super::shapes::{future, raw, receive_all, send_all};
use fixtures::{CUSTOMER, config, paired, temp_db};

/// A random content kind (with its expected reading) for the generated messages.
fn random_leaf(rng: &mut impl Rng, i: usize) -> (e2e::Message, fn(&Content) -> bool) {
    let text = format!("generated {i}");
    match rng.gen_range(0..6) {
        0 => (
            e2e::Message {
                conversation: Some(text),
                ..Default::default()
            },
            |c| matches!(c, Content::Text { .. }),
        ),
        1 => (
            e2e::Message {
                location_message: Some(Box::new(e2e::LocationMessage {
                    name: Some(text),
                    ..Default::default()
                })),
                ..Default::default()
            },
            |c| matches!(c, Content::Location { .. }),
        ),
        2 => (shapes::poll(&text, &["a", "b"], true, [3; 32]), |c| {
            matches!(c, Content::PollCreation { .. })
        }),
        3 => (
            e2e::Message {
                list_response_message: Some(Box::new(e2e::ListResponseMessage {
                    title: Some(text),
                    ..Default::default()
                })),
                ..Default::default()
            },
            |c| matches!(c, Content::Reply { .. }),
        ),
        4 => (
            shapes::revoke("x@s.whatsapp.net", &text.replace(' ', "")),
            |c| matches!(c, Content::Revoke { .. }),
        ),
        _ => (
            e2e::Message {
                enc_reaction_message: Some(e2e::EncReactionMessage::default()),
                ..Default::default()
            },
            |c| matches!(c, Content::Unsupported { .. }),
        ),
    }
}

/// 20 generated messages in random stacks of up to 5 wrappers, sent as they are: each
/// arrives once, read as its kind, with exactly the flags of its stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_messages_in_random_wrappers_arrive_once() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("shapes-generated");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    let mut expected = Vec::new();
    let mut sends = Vec::new();
    for i in 0..20 {
        let (mut message, check) = random_leaf(&mut rng, i);
        let mut wrappers = Wrappers::default();
        for _ in 0..rng.gen_range(0..=5) {
            message = match rng.gen_range(0..5) {
                0 => {
                    wrappers.ephemeral = true;
                    e2e::Message {
                        ephemeral_message: future(message),
                        ..Default::default()
                    }
                }
                1 => {
                    wrappers.view_once = true;
                    e2e::Message {
                        view_once_message: future(message),
                        ..Default::default()
                    }
                }
                2 => {
                    wrappers.bot_invoke = true;
                    e2e::Message {
                        bot_invoke_message: future(message),
                        ..Default::default()
                    }
                }
                3 => {
                    wrappers.associated_child = true;
                    e2e::Message {
                        associated_child_message: future(message),
                        ..Default::default()
                    }
                }
                _ => {
                    wrappers.group_status = true;
                    e2e::Message {
                        group_status_message: future(message),
                        ..Default::default()
                    }
                }
            };
        }
        expected.push((wrappers, check));
        sends.push(raw(message));
    }
    let ids = send_all(&sim, sends.into_iter());
    let (seen, messages) = receive_all(&mut events, &ids).await;
    for (i, ((wrappers, check), id)) in expected.iter().zip(&ids).enumerate() {
        assert_eq!(seen.get(id), Some(&1), "message {i} delivered once");
        let m = messages.iter().find(|m| &m.info.id == id).expect("message");
        assert!(check(&m.content.content), "message {i}: {:?}", m.content);
        assert_eq!(&m.content.wrappers, wrappers, "message {i}");
    }
    client.shutdown().await;
}
