//! LID-first sessions (issue 22 item 1): a customer who wrote by phone number and continues
//! at its LID (the server moving the chat to the LID mid-way) is decrypted with the session
//! we already hold, now kept under its LID, with no retry round trip; and our reply in a LID
//! chat goes out as our LID, to the customer's and our own devices in LID form.

use whatsapp_client::{Event, Jid};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle};

use super::key_index::{addressed_as, question_then_reply, sent_stanza};
use fixtures::{CUSTOMER, OWN_PHONE, config, expect, inbox_until, paired, temp_db};

/// Whether any retry receipt went through the sim.
fn retried(sim: &SimHandle) -> bool {
    sim.stanzas()
        .iter()
        .any(|s| s.tag == "receipt" && s.kind == "retry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_moving_to_its_lid_mid_conversation_decrypts_without_a_retry() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("lid-switch");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // By phone number first: sessions both ways, our reply decrypted by the customer.
    let reply = question_then_reply(&sim, &mut events, &client).await;
    inbox_until(&sim, CUSTOMER, "our reply", |inbox| {
        inbox.iter().any(|e| e.id == reply)
    })
    .await;

    // The server moves the chat to the LID: the customer's phone goes on with its session.
    sim.customer_addressing(CUSTOMER, true).expect("lid");
    let asked = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Text("and on friday?".into()),
            None,
        )
        .expect("send");
    let mut message = expect(
        &mut events,
        "the customer's message from its LID",
        |e| match e {
            Event::Message(m) if m.info.id == asked => Some(m),
            Event::UndecryptableMessage { info, reason } if info.id == asked => {
                panic!("not decrypted: {reason}")
            }
            _ => None,
        },
    )
    .await;
    message.ack();
    let lid = addressed_as(&client, CUSTOMER).await;
    assert_eq!(message.info.sender.user, lid, "{:?}", message.info);
    assert!(message.info.sender.is_lid());
    assert_eq!(message.info.sender_alt, Some(Jid::user(CUSTOMER)));
    assert!(!retried(&sim), "a retry receipt went out");
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_reply_in_a_lid_chat_goes_out_as_our_lid() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("lid-reply");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    // A LID-addressed customer (the server's default now).
    sim.add_customer(CUSTOMER, "Mona", 1, true)
        .expect("customer");
    let reply = question_then_reply(&sim, &mut events, &client).await;
    let (customer_lid, own_lid) = (
        addressed_as(&client, CUSTOMER).await,
        addressed_as(&client, OWN_PHONE).await,
    );
    let stanza = sent_stanza(&sim, &reply);
    assert_eq!(stanza.to, format!("{customer_lid}@lid"), "{stanza:?}");
    let recipients: Vec<Jid> = stanza
        .recipients
        .iter()
        .map(|r| r.parse().expect("recipient"))
        .collect();
    // The customer's device and our phone, both as LIDs (whatsmeow send.go: our own identity
    // in a LID chat is our LID).
    assert!(
        recipients.iter().all(Jid::is_lid),
        "{:?}",
        stanza.recipients
    );
    assert!(
        recipients
            .iter()
            .any(|j| j.user == own_lid && j.device == 0)
    );
    assert!(recipients.iter().any(|j| j.user == customer_lid));
    // The customer decrypts it from our LID, at the first attempt.
    let inbox = inbox_until(&sim, CUSTOMER, "our reply", |inbox| {
        inbox.iter().any(|e| e.id == reply)
    })
    .await;
    let entry = inbox.iter().find(|e| e.id == reply).expect("entry");
    assert_eq!(
        entry.from.parse::<Jid>().expect("from").user,
        own_lid,
        "{entry:?}"
    );
    assert!(!retried(&sim), "a retry receipt went out");
    client.shutdown().await;
    sim.shutdown();
}
