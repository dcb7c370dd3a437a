//! Device lists (part 2 §3.1–3.4): our client encrypts only to the companions a customer's
//! phone still vouches for in its signed key-index list, falls back to the customer's phone
//! alone when the list's signature does not verify, checks a list without its account key
//! with the phone's identity, and leaves hosted devices out of group sends.

use whatsapp_client::{Event, Jid};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle, StanzaRecord};

use fixtures::{CUSTOMER, OWN_PHONE, config, expect, inbox_until, paired, temp_db};

/// The stanza we sent under `id`, as the sim recorded it.
pub(crate) fn sent_stanza(sim: &SimHandle, id: &str) -> StanzaRecord {
    sim.stanzas()
        .into_iter()
        .find(|s| s.tag == "message" && s.id == id)
        .unwrap_or_else(|| panic!("no stanza {id} recorded"))
}

/// The device numbers of `user` a stanza encrypted to.
pub(crate) fn devices_of(stanza: &StanzaRecord, user: &str) -> Vec<u16> {
    let mut devices: Vec<u16> = stanza
        .recipients
        .iter()
        .map(|r| r.parse::<Jid>().expect("recipient jid"))
        .filter(|j| j.user == user)
        .map(|j| j.device)
        .collect();
    devices.sort_unstable();
    devices
}

/// The user part our sends to `phone` are addressed with: its LID once our client knows it
/// (whatsmeow send.go writes to a number's LID), ours from our device record.
pub(crate) async fn addressed_as(client: &whatsapp_client::Client, phone: &str) -> String {
    if phone == OWN_PHONE {
        return client
            .lid()
            .map_or_else(|| phone.to_owned(), |lid| lid.user);
    }
    client
        .lid_for_pn(&Jid::user(phone))
        .await
        .expect("store")
        .map_or_else(|| phone.to_owned(), |lid| lid.user)
}

/// The customer writes first (we learn its phone's identity), then we reply.
pub(crate) async fn question_then_reply(
    sim: &SimHandle,
    events: &mut whatsapp_client::EventStream,
    client: &whatsapp_client::Client,
) -> String {
    let asked = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Text("still open?".into()),
            None,
        )
        .expect("send");
    let mut question = expect(events, "the customer's question", |e| match e {
        Event::Message(m) if m.info.id == asked => Some(m),
        _ => None,
    })
    .await;
    question.ack();
    client
        .send_text(&Jid::user(CUSTOMER), "until 10 pm")
        .await
        .expect("reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_reply_skips_a_companion_the_customers_phone_unlinked() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("stale-companion");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");
    // The phone revoked device 2's key index; the server still lists device 2.
    sim.fault(&Fault::StaleCompanion {
        phone: CUSTOMER.into(),
        device: 2,
    })
    .expect("fault");
    let reply = question_then_reply(&sim, &mut events, &client).await;
    let inbox = inbox_until(&sim, CUSTOMER, "our reply on devices 0 and 1", |inbox| {
        [0, 1]
            .iter()
            .all(|d| inbox.iter().any(|e| e.id == reply && e.device == *d))
    })
    .await;
    let customer = addressed_as(&client, CUSTOMER).await;
    assert_eq!(
        devices_of(&sent_stanza(&sim, &reply), &customer),
        vec![0, 1]
    );
    assert!(
        !inbox.iter().any(|e| e.id == reply && e.device == 2),
        "the stale companion got our reply: {inbox:?}"
    );
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_badly_signed_key_index_list_leaves_only_the_customers_phone() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("bad-key-index");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");
    sim.fault(&Fault::BadKeyIndexSignature {
        phone: CUSTOMER.into(),
    })
    .expect("fault");
    let reply = question_then_reply(&sim, &mut events, &client).await;
    let inbox = inbox_until(&sim, CUSTOMER, "our reply on the phone", |inbox| {
        inbox.iter().any(|e| e.id == reply && e.device == 0)
    })
    .await;
    assert_eq!(
        inbox
            .iter()
            .find(|e| e.id == reply)
            .and_then(|e| e.text.as_deref()),
        Some("until 10 pm")
    );
    // The companions are not vouched for by a list that verifies: none is encrypted to.
    let (customer, own) = (
        addressed_as(&client, CUSTOMER).await,
        addressed_as(&client, OWN_PHONE).await,
    );
    assert_eq!(devices_of(&sent_stanza(&sim, &reply), &customer), vec![0]);
    // Our own account's list verifies: our phone still gets its copy.
    assert_eq!(devices_of(&sent_stanza(&sim, &reply), &own), vec![0]);
    client.shutdown().await;
    sim.shutdown();
}

/// How many usync queries our client made so far.
fn usyncs(sim: &SimHandle) -> usize {
    sim.stanzas().iter().filter(|s| s.xmlns == "usync").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_index_list_without_its_account_key_is_accepted_and_cached() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("keyless-key-index");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");
    // As the real server sends a contact's list: no account_signature_key. The identity we
    // hold for the customer's phone checks it instead.
    sim.fault(&Fault::KeyIndexListWithoutAccountKey {
        phone: CUSTOMER.into(),
    })
    .expect("fault");
    let reply = question_then_reply(&sim, &mut events, &client).await;
    let customer = addressed_as(&client, CUSTOMER).await;
    assert_eq!(
        devices_of(&sent_stanza(&sim, &reply), &customer),
        vec![0, 1, 2]
    );
    // Cached: the next reply asks the server nothing.
    let asked = usyncs(&sim);
    let again = client
        .send_text(&Jid::user(CUSTOMER), "and tomorrow from 9")
        .await
        .expect("reply");
    assert_eq!(
        devices_of(&sent_stanza(&sim, &again), &customer),
        vec![0, 1, 2]
    );
    assert_eq!(usyncs(&sim), asked, "no usync for a cached list");
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_devices_are_left_out_of_a_group_send() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("hosted-group");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");
    sim.fault(&Fault::HostedDevice {
        phone: CUSTOMER.into(),
        device: 2,
    })
    .expect("fault");
    let group = sim
        .create_group(CUSTOMER, "Orders", &[OWN_PHONE.to_owned()], false)
        .expect("group");
    let first = client
        .send_text(&group, "ready for pickup")
        .await
        .expect("group send");
    assert_eq!(devices_of(&sent_stanza(&sim, &first), CUSTOMER), vec![0, 1]);
    inbox_until(
        &sim,
        CUSTOMER,
        "the group message on devices 0 and 1",
        |inbox| {
            [0, 1]
                .iter()
                .all(|d| inbox.iter().any(|e| e.id == first && e.device == *d))
        },
    )
    .await;
    // Left out on purpose, the hosted device is no participant-hash mismatch: the lists stay
    // cached for the next send.
    let asked = usyncs(&sim);
    client
        .send_text(&group, "see you soon")
        .await
        .expect("group send");
    assert_eq!(usyncs(&sim), asked);
    client.shutdown().await;
    sim.shutdown();
}
