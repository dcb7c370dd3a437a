//! A customer reinstalls WhatsApp: the server tells us with `<notification type="encrypt">`
//! and `<identity/>`, we forget the customer's sessions, identities and device list
//! (whatsmeow `handleEncryptNotification`), and our next reply, with no message from the
//! customer in between, goes to the new install under fresh prekey bundles and decrypts
//! there at the first attempt; our privacy token is issued to the new install again.

use whatsapp_client::{Event, Jid};
use whatsapp_sim::{Sim, SimConfig, SimHandle};

use super::key_index::{addressed_as, devices_of, question_then_reply, sent_stanza};
use fixtures::{CUSTOMER, config, expect, inbox_until, lid_of, paired, poll_until, temp_db};

/// How many `message` stanzas our client sent under `id` (a retry answer is a second one).
fn sends_of(sim: &SimHandle, id: &str) -> usize {
    sim.stanzas()
        .iter()
        .filter(|s| s.tag == "message" && s.id == id)
        .count()
}

/// Waits until both of the customer's devices show our message `id` with `text`.
async fn on_both_devices(sim: &SimHandle, id: &str, text: &str) {
    inbox_until(sim, CUSTOMER, text, |inbox| {
        [0, 1].iter().all(|d| {
            inbox
                .iter()
                .any(|e| e.id == id && e.device == *d && e.text.as_deref() == Some(text))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_reply_after_a_customers_reinstall_reaches_the_new_install() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("identity-change");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    // Sessions both ways with the customer's phone and companion.
    let before = question_then_reply(&sim, &mut events, &client).await;
    on_both_devices(&sim, &before, "until 10 pm").await;

    sim.customer_reinstall(CUSTOMER).expect("reinstall");
    let changed = expect(&mut events, "the identity change", |e| match e {
        Event::IdentityChanged { jid } => Some(jid),
        _ => None,
    })
    .await;
    assert_eq!(changed, Jid::user(CUSTOMER));
    // Our token, issued after the first reply, goes again to the new install (whatsmeow
    // `handleEncryptNotification`), though the 7-day bucket has not turned.
    let lid = lid_of(&sim, CUSTOMER);
    poll_until("our privacy token issued again", async || {
        let issues: Vec<Vec<String>> = sim
            .stanzas()
            .into_iter()
            .filter(|s| s.xmlns == "privacy" && !s.tokens_issued_to.is_empty())
            .map(|s| s.tokens_issued_to)
            .collect();
        (issues == [vec![lid.clone()], vec![lid.clone()]]).then_some(())
    })
    .await;

    // Encrypted to the old sessions, the new install could not decrypt this: it would ask
    // for a retry and we would send the message a second time.
    let after = client
        .send_text(&Jid::user(CUSTOMER), "still until 10 pm")
        .await
        .expect("reply after the reinstall");
    on_both_devices(&sim, &after, "still until 10 pm").await;
    assert_eq!(sends_of(&sim, &after), 1, "the new install needed a retry");
    let customer = addressed_as(&client, CUSTOMER).await;
    assert_eq!(
        devices_of(&sent_stanza(&sim, &after), &customer),
        vec![0, 1]
    );
    assert_eq!(sends_of(&sim, &before), 1);
    client.shutdown().await;
    sim.shutdown();
}
