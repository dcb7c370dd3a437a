//! A stale device list is found out through the server's ack (whatsmeow send.go): when our
//! fan-out misses a device, the ack names the server's participant hash, the client drops the
//! lists it used, and the next message reaches the new device too.

use whatsapp_client::Jid;
use whatsapp_sim::{Sim, SimConfig};

use super::key_index::{addressed_as, devices_of, sent_stanza};
use fixtures::{CUSTOMER, config, hold_token, inbox_until, paired, temp_db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_added_after_we_cached_the_list_gets_the_next_message() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("phash-refresh");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // The customer wrote to us before (else the server refuses our first message with 463).
    hold_token(&sim, &path, CUSTOMER).await;
    let to = Jid::user(CUSTOMER);
    let first = client.send_text(&to, "welcome").await.expect("first");
    // Sent to the customer's LID: its token taught the client the pair.
    let user = addressed_as(&client, CUSTOMER).await;
    assert_eq!(devices_of(&sent_stanza(&sim, &first), &user), vec![0]);

    // The customer links a second device; nothing tells us (only the account's own devices
    // get device notifications), so our cached list is stale.
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("second device");
    let missed = client.send_text(&to, "your order").await.expect("missed");
    assert_eq!(
        devices_of(&sent_stanza(&sim, &missed), &user),
        vec![0],
        "the stale list is used once"
    );

    let next = client.send_text(&to, "is ready").await.expect("next");
    assert_eq!(devices_of(&sent_stanza(&sim, &next), &user), vec![0, 1]);
    let inbox = inbox_until(
        &sim,
        CUSTOMER,
        "the next message on both devices",
        |inbox| {
            [0, 1]
                .iter()
                .all(|d| inbox.iter().any(|e| e.id == next && e.device == *d))
        },
    )
    .await;
    assert!(
        inbox.iter().any(|e| e.id == missed && e.device == 0),
        "the message sent on the stale list still reached the phone"
    );
}
