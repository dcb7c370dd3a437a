//! Sender-key rotation on a participant's removal (part 2 §4.9 step 6): after the server
//! tells us a member was removed, our next group message goes out under a new sender key
//! that only the remaining members' devices receive.

use whatsapp_client::{Event, Jid, ParticipantAction, e2e};
use whatsapp_sim::{Sim, SimConfig};

use super::customers::{SISTER, family_group};
use super::key_index::{devices_of, sent_stanza};
use fixtures::{CUSTOMER, config, expect, inbox_until, paired, temp_db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_gets_neither_our_new_sender_key_nor_our_messages() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("group-removal");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    let group = family_group(&sim);
    let text = |t: &str| e2e::Message {
        conversation: Some(t.into()),
        ..Default::default()
    };
    let first = client
        .send_message(&group, text("refill ready"))
        .await
        .expect("first");
    inbox_until(&sim, SISTER, "the first message at the sister's", |inbox| {
        inbox.iter().any(|e| e.id == first)
    })
    .await;
    let before = sent_stanza(&sim, &first);
    assert_eq!(devices_of(&before, SISTER), vec![0]);
    let old_key = before.sender_key_id.expect("skmsg key id");

    sim.remove_group_participants(CUSTOMER, &group, &[SISTER.into()])
        .expect("remove");
    let change = expect(&mut events, "the removal", |e| match e {
        Event::GroupParticipants(c) if c.action == ParticipantAction::Removed => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(change.group, group);
    assert_eq!(change.participants, vec![Jid::user(SISTER.to_owned())]);
    assert_eq!(change.by, Some(Jid::user(CUSTOMER.to_owned())));

    let second = client
        .send_message(&group, text("pick it up at 5"))
        .await
        .expect("second");
    let after = sent_stanza(&sim, &second);
    let new_key = after.sender_key_id.expect("skmsg key id");
    assert_ne!(new_key, old_key, "the sender key was not rotated");
    // The new key went to the remaining members' devices only.
    assert_eq!(devices_of(&after, CUSTOMER), vec![0, 1]);
    assert_eq!(devices_of(&after, SISTER), Vec::<u16>::new());
    // Both of the remaining customer's devices decrypt it with the new key.
    let inbox = inbox_until(
        &sim,
        CUSTOMER,
        "the second message on both devices",
        |inbox| {
            [0, 1]
                .iter()
                .all(|d| inbox.iter().any(|e| e.id == second && e.device == *d))
        },
    )
    .await;
    for entry in inbox.iter().filter(|e| e.id == second) {
        assert_eq!(entry.text.as_deref(), Some("pick it up at 5"));
    }
    // One more message: the same new key (a rotation per removal, not per message).
    let third = client
        .send_message(&group, text("thanks"))
        .await
        .expect("third");
    assert_eq!(sent_stanza(&sim, &third).sender_key_id, Some(new_key));
    inbox_until(&sim, CUSTOMER, "the third message", |inbox| {
        inbox.iter().any(|e| e.id == third && e.device == 1)
    })
    .await;
    let sister = sim.customer_inbox(SISTER).expect("inbox");
    assert!(
        !sister.iter().any(|e| e.id == second || e.id == third),
        "the removed member got a message: {sister:?}"
    );
    client.shutdown().await;
    sim.shutdown();
}
