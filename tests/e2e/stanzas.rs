//! Stanzas that are not a decryptable message, client against the sim: `<unavailable>` of
//! both kinds (the phone's resend reaching the handler), nacks 488/495 in the sim's stanza
//! log, `<appdata>`, a call (events, our reject seen by the caller), a store read failure
//! (no ack; delivered once after the fault clears), and a poll vote decrypted end to end.

use std::sync::Arc;
use std::time::Duration;

use whatsapp_client::store::MemoryStore;
use whatsapp_client::{
    CallAction, CallMedia, Client, Event, EventStream, Jid, Node, UnavailableKind,
};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Sim, SimConfig, SimHandle, StanzaRecord};

use fixtures::{
    CUSTOMER, OWN_PHONE, config, expect, hold_token, inbox_until, next_message, pair_by_qr, paired,
    poll_until, sent_until, temp_db,
};

/// Polls the sim's stanza log until the nack of `id` is there.
async fn nack_of(sim: &SimHandle, id: &str) -> StanzaRecord {
    poll_until(&format!("the nack of {id}"), async || {
        sim.stanzas()
            .into_iter()
            .find(|s| s.tag == "ack" && s.id == id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_view_once_is_a_placeholder_and_others_come_back_from_our_phone() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("unavailable");
    let (_client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");

    let view_once = sim
        .unavailable_message(OWN_PHONE, CUSTOMER, "view_once", "")
        .expect("view once");
    let mut placeholder = expect(&mut events, "the view-once placeholder", |e| match e {
        Event::Unavailable(u) => Some(u),
        _ => None,
    })
    .await;
    assert_eq!(placeholder.info.id, view_once);
    assert_eq!(placeholder.kind, UnavailableKind::ViewOnce);
    assert!(!placeholder.resend_requested);
    assert_eq!(placeholder.info.sender.user, CUSTOMER);
    placeholder.ack();

    let lost = sim
        .unavailable_message(
            OWN_PHONE,
            CUSTOMER,
            "hosted_unavailable_fanout",
            "is my prescription ready?",
        )
        .expect("unavailable");
    let placeholder = expect(&mut events, "the second placeholder", |e| match e {
        Event::Unavailable(u) => Some(u),
        _ => None,
    })
    .await;
    assert_eq!(placeholder.info.id, lost);
    assert!(placeholder.resend_requested);
    let mut resent = next_message(&mut events, "the message our phone resent").await;
    assert_eq!(resent.info.id, lost);
    assert_eq!(resent.text(), Some("is my prescription ready?"));
    assert_eq!(resent.info.sender.user, CUSTOMER);
    assert!(!resent.info.from_me);
    resent.ack();
    // The phone was asked for the lost message only: never for view-once media.
    assert_eq!(sim.resend_requests(OWN_PHONE), vec![lost]);
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stanzas_without_a_readable_enc_are_nacked_and_appdata_is_answered() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("nacks");
    let (_client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let customer = Jid::user(CUSTOMER);
    let no_enc = Node::new("message")
        .attr("from", customer.clone())
        .attr("id", "3EB0NOENC0001")
        .attr("t", "1700000000")
        .attr("type", "text");
    let bot = Node::new("message")
        .attr("from", "867051314767696@bot".parse::<Jid>().unwrap())
        .attr("id", "3EB0BOTMSG001")
        .attr("t", "1700000000")
        .attr("type", "text")
        .children([Node::new("enc")
            .attr("v", "2")
            .attr("type", "msmsg")
            .bytes(vec![7; 48])]);
    let appdata = Node::new("appdata")
        .attr("from", customer)
        .attr("id", "3EB0APPDATA01")
        .attr("t", "1700000000");
    for node in [no_enc, bot, appdata] {
        sim.raw_stanza(OWN_PHONE, CUSTOMER, node).expect("raw");
    }
    assert_eq!(nack_of(&sim, "3EB0NOENC0001").await.error, Some(488));
    assert_eq!(nack_of(&sim, "3EB0BOTMSG001").await.error, Some(495));
    // <appdata> goes the message path: without <enc>, the same nack.
    assert_eq!(nack_of(&sim, "3EB0APPDATA01").await.error, Some(488));
}

/// `<appdata>` carrying a customer's real encrypted message (whatsmeow `client.go` routes the
/// tag to `handleEncryptedMessage`): decrypted and handed to the application once as the
/// text it carries, then answered as whatsmeow answers a decrypted message: a delivery
/// receipt to the sender, no `<ack>` and no nack; the receipt also clears it from our
/// device's offline queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_message_under_appdata_is_decrypted_handled_once_and_receipted() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("appdata");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let text = "is the insulin pen in stock?";
    let id = sim
        .customer_send_appdata(CUSTOMER, OWN_PHONE, Outgoing::Text(text.into()))
        .expect("appdata");
    let mut message = expect(
        &mut events,
        "the message sent under <appdata>",
        |e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        },
    )
    .await;
    assert_eq!(message.info.id, id);
    assert_eq!(message.text(), Some(text));
    assert_eq!(message.info.sender.user, CUSTOMER);
    assert_eq!(message.info.chat.user, CUSTOMER);
    assert!(!message.info.from_me);
    // It did reach us under the <appdata> tag.
    assert_eq!(sim.appdata_relayed(), vec![id.clone()]);
    message.ack();

    let own = client.jid().expect("jid");
    let from = format!("{}:{}@", own.user, own.device);
    let receipt = poll_until("our receipt for the appdata message", async || {
        sim.stanzas()
            .into_iter()
            .find(|s| s.tag == "receipt" && s.id == id && s.from.starts_with(&from))
    })
    .await;
    assert_ne!(receipt.kind, "retry", "{receipt:?}");
    assert!(
        !sim.stanzas().iter().any(|s| s.tag == "ack" && s.id == id),
        "a decrypted <appdata> is answered with a receipt, never nacked"
    );
    // The receipt reaches the customer, and takes the stanza off our device's queue.
    sent_until(&sim, CUSTOMER, &id, "delivered").await;
    poll_until("our device's offline queue emptied", async || {
        sim.devices()
            .iter()
            .filter(|a| a.phone == OWN_PHONE)
            .flat_map(|a| a.devices.iter())
            .all(|d| d.offline_queue == 0)
            .then_some(())
    })
    .await;

    // Handed over once: the next message event is the customer's next message.
    let next = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("thanks".into()), None)
        .expect("send");
    let mut second = next_message(&mut events, "the next message").await;
    assert_eq!(second.info.id, next);
    second.ack();
    client.shutdown().await;
}

async fn next_call(events: &mut EventStream) -> Box<whatsapp_client::CallEvent> {
    expect(events, "a call event", |e| match e {
        Event::Call(c) => Some(c),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_gives_events_our_reject_reaches_the_caller_and_an_unanswered_one_is_missed() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("calls");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let rejected = sim.customer_call(CUSTOMER, OWN_PHONE, true).expect("call");
    let offer = next_call(&mut events).await;
    assert_eq!(offer.action, CallAction::Offer);
    assert_eq!(offer.call_id, rejected);
    assert_eq!(offer.media, CallMedia::Video);
    assert_eq!(offer.caller_pn, Some(Jid::user(CUSTOMER)));
    assert!(offer.caller_lid.is_some());
    client
        .reject_call(&offer.caller, &offer.call_id)
        .await
        .expect("reject");
    poll_until("our reject at the caller", async || {
        sim.customer_calls(CUSTOMER)
            .iter()
            .any(|c| c.action == "reject" && c.call_id == rejected)
            .then_some(())
    })
    .await;
    sim.customer_call_end(CUSTOMER, OWN_PHONE, &rejected)
        .expect("end");
    let ended = next_call(&mut events).await;
    assert!(matches!(ended.action, CallAction::Terminate { .. }));

    // Rejected, that call was no missed call: the next call event is the new offer.
    let missed = sim.customer_call(CUSTOMER, OWN_PHONE, false).expect("call");
    let offer = next_call(&mut events).await;
    assert_eq!(
        (offer.action, offer.media),
        (CallAction::Offer, CallMedia::Audio)
    );
    sim.customer_call_end(CUSTOMER, OWN_PHONE, &missed)
        .expect("end");
    let ended = next_call(&mut events).await;
    assert!(matches!(ended.action, CallAction::Terminate { .. }));
    let derived = next_call(&mut events).await;
    assert_eq!(derived.action, CallAction::Missed);
    assert_eq!(derived.call_id, missed);
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_read_failure_leaves_the_message_unacked_until_the_store_answers() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let store = Arc::new(MemoryStore::new());
    let (_client, mut events) = Client::start(store.clone(), config(&sim))
        .await
        .expect("client");
    pair_by_qr(&sim, &mut events, OWN_PHONE).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");

    store.set_read_fault(true);
    let first = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("first".into()), None)
        .expect("send");
    // The customer's device has sent it and the sim queued it for us: give the client time
    // to fail at it (this only bounds how long the failure is given to happen).
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, events.recv()).await {
        assert!(
            !matches!(event, Event::Message(_)),
            "no message while the store fails"
        );
    }
    store.set_read_fault(false);
    let mut message = expect(
        &mut events,
        "the message, after the reconnect",
        |e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        },
    )
    .await;
    assert_eq!(message.info.id, first);
    assert_eq!(message.text(), Some("first"));
    message.ack();
    // Delivered once: the next message is the customer's next one, not a second copy.
    let second = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("second".into()), None)
        .expect("send");
    let message = next_message(&mut events, "the next message").await;
    assert_eq!(message.info.id, second);
}

/// The next poll vote, which must have been opened.
async fn next_vote(events: &mut EventStream) -> Box<whatsapp_client::PollVote> {
    expect(events, "the vote", |e| match e {
        Event::PollVote(v) => Some(v),
        Event::Message(m) if m.message.poll_update_message.is_some() => {
            panic!("the vote was not opened: {m:?}")
        }
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_vote_on_our_poll_is_decrypted() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("poll");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    // The customer wrote to us before (else the server refuses our first message with 463).
    hold_token(&sim, &path, CUSTOMER).await;
    let poll = client.poll_creation("Which branch?", &["Maadi", "Zamalek"], 1);
    let poll_id = client
        .send_message(&Jid::user(CUSTOMER), poll)
        .await
        .expect("poll");
    inbox_until(&sim, CUSTOMER, "the poll at the customer", |inbox| {
        inbox.iter().any(|e| e.id == poll_id)
    })
    .await;
    let vote_id = sim
        .customer_vote(CUSTOMER, OWN_PHONE, &poll_id, &["Zamalek"], false)
        .expect("vote");
    let mut vote = next_vote(&mut events).await;
    assert_eq!(vote.info.id, vote_id);
    assert_eq!(vote.poll_id, poll_id);
    assert_eq!(vote.poll_creator.user, OWN_PHONE);
    // The customer answers at our LID, which our poll came from: its LID, its number beside.
    assert_eq!(
        vote.info.sender_alt.as_ref().map(|pn| pn.user.as_str()),
        Some(CUSTOMER)
    );
    assert!(vote.selects("Zamalek"));
    assert!(!vote.selects("Maadi"));
    assert_eq!(vote.selected_hashes.len(), 1);
    vote.ack();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customers_vote_on_its_own_poll_is_decrypted() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("own-poll");
    let (_client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let poll_id = sim
        .customer_poll(
            CUSTOMER,
            OWN_PHONE,
            "Delivery or pickup?",
            &["Delivery", "Pickup"],
        )
        .expect("poll");
    let mut poll = next_message(&mut events, "the customer's poll").await;
    assert_eq!(poll.info.id, poll_id);
    assert!(poll.message.poll_creation_message.is_some());
    poll.ack();
    let vote_id = sim
        .customer_vote(CUSTOMER, OWN_PHONE, &poll_id, &["Pickup"], true)
        .expect("vote");
    let mut vote = next_vote(&mut events).await;
    assert_eq!(vote.info.id, vote_id);
    assert_eq!(vote.poll_id, poll_id);
    assert_eq!(vote.poll_creator.user, CUSTOMER);
    assert!(vote.selects("Pickup") && !vote.selects("Delivery"));
    vote.ack();
}
