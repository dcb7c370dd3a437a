//! The messaging API against the sim, checked where it lands: a simulated customer's client
//! decrypts each message (its inbox names the kind, the text and the message referred to; the
//! decrypted protobuf is read back with the content model), and the sim's stanza log shows
//! the attributes whatsmeow puts on the wire.

use whatsapp_client::content::MessageContent;
use whatsapp_client::content::{Content, compose::Quote};
use whatsapp_client::{
    ClientError, ContactCard, Event, Jid, LiveLocation, Location, OutgoingPreview, PollTally, Text,
};
use whatsapp_sim::device::Outgoing as CustomerOutgoing;
use whatsapp_sim::{InboxEntry, Sim, SimConfig, SimHandle, StanzaRecord};

use fixtures::{
    CUSTOMER, OWN_PHONE, config, expect, inbox_until, next_message, paired, sent_until, temp_db,
};

/// A second customer.
const OTHER: &str = "201115556667";

/// The entry `id` of `phone`'s inbox, once it arrived.
async fn arrived(sim: &SimHandle, phone: &str, id: &str) -> InboxEntry {
    let inbox = inbox_until(sim, phone, &format!("{id} at {phone}"), |inbox| {
        inbox.iter().any(|e| e.id == id)
    })
    .await;
    inbox.into_iter().find(|e| e.id == id).expect("found")
}

/// What the customer's client decrypted for `id`, read with the content model.
fn seen(sim: &SimHandle, phone: &str, id: &str) -> MessageContent {
    let message = sim
        .customer_message(phone, id)
        .unwrap_or_else(|| panic!("{phone} kept no {id}"));
    MessageContent::read(&message)
}

fn record(sim: &SimHandle, id: &str) -> StanzaRecord {
    sim.stanzas()
        .into_iter()
        .find(|s| s.tag == "message" && s.id == id)
        .unwrap_or_else(|| panic!("no message {id} in the stanza log"))
}

/// (stanza `type`, `edit`, whether every `<enc>` hides a decrypt failure).
fn wire(sim: &SimHandle, id: &str) -> (String, Option<String>, bool) {
    let r = record(sim, id);
    let hidden = !r.decrypt_fail.is_empty() && r.decrypt_fail.iter().all(|f| f == "hide");
    (r.kind, r.attrs.get("edit").cloned(), hidden)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_reaches_the_customer_with_whatsmeows_attributes() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("messaging-kinds");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.issue_privacy_token(CUSTOMER, OWN_PHONE).expect("token");
    let customer = Jid::user(CUSTOMER);
    let asked = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            CustomerOutgoing::Text("is my order ready?".into()),
            None,
        )
        .expect("send");
    let mut got = next_message(&mut events, "the customer's question").await;
    got.ack();
    let sender = got.info.sender.clone();

    // A text with a mention and a caller-made link preview.
    let text = Text::new(format!("@{CUSTOMER} see https://pharmacy.example/o/1"))
        .mention(customer.to_string())
        .link_preview(
            OutgoingPreview::new("https://pharmacy.example/o/1", "Order 1")
                .description("2 items")
                .thumbnail(vec![0xff, 0xd8, 0xff]),
        );
    let text_id = client
        .send_text_message(&customer, text)
        .await
        .expect("text");
    assert_eq!(arrived(&sim, CUSTOMER, text_id.as_str()).await.kind, "text");
    let shown = seen(&sim, CUSTOMER, text_id.as_str());
    let Content::Text { link_preview, .. } = &shown.content else {
        panic!("{shown:?}")
    };
    let preview = link_preview.as_ref().expect("a preview");
    assert_eq!(preview.title.as_deref(), Some("Order 1"));
    assert_eq!(preview.description.as_deref(), Some("2 items"));
    assert_eq!(shown.context.mentions, [customer.to_string()]);
    let raw = sim.customer_message(CUSTOMER, text_id.as_str()).unwrap();
    let thumb = whatsapp_client::content::unwrap(&raw)
        .message
        .extended_text_message
        .as_ref()
        .and_then(|e| e.jpeg_thumbnail.clone());
    assert_eq!(thumb, Some(vec![0xff, 0xd8, 0xff]));

    // A reaction to the customer's message, then taking it back.
    let reaction = client
        .send_reaction(&customer, Some(&sender), &got.info.id, "👍")
        .await
        .expect("reaction");
    let entry = arrived(&sim, CUSTOMER, reaction.as_str()).await;
    assert_eq!(entry.kind, "reaction");
    assert_eq!(entry.reply_to.as_deref(), Some(asked.as_str()));
    assert_eq!(entry.text.as_deref(), Some("👍"));
    assert_eq!(
        wire(&sim, reaction.as_str()),
        ("reaction".into(), None, true)
    );
    let Content::Reaction { target, .. } = seen(&sim, CUSTOMER, reaction.as_str()).content else {
        panic!()
    };
    assert!(
        !target.from_me,
        "the customer's own message, seen from the customer"
    );
    let removed = client
        .remove_reaction(&customer, Some(&sender), &got.info.id)
        .await
        .expect("removal");
    assert_eq!(
        arrived(&sim, CUSTOMER, removed.as_str())
            .await
            .text
            .as_deref(),
        Some("")
    );
    assert_eq!(wire(&sim, removed.as_str()).1.as_deref(), Some("7"));

    // An edit of our text, then deleting it for everyone.
    let edit = client
        .edit_message(&customer, &text_id, Text::new("ready at 6"))
        .await
        .expect("edit");
    let entry = arrived(&sim, CUSTOMER, edit.as_str()).await;
    assert_eq!(
        (
            entry.kind.as_str(),
            entry.text.as_deref(),
            entry.reply_to.as_deref()
        ),
        ("edit", Some("ready at 6"), Some(text_id.as_str()))
    );
    assert_eq!(
        wire(&sim, edit.as_str()),
        ("text".into(), Some("1".into()), true)
    );
    let revoke = client
        .revoke_message(&customer, None, text_id.as_str())
        .await
        .expect("revoke");
    let entry = arrived(&sim, CUSTOMER, revoke.as_str()).await;
    assert_eq!(
        (entry.kind.as_str(), entry.reply_to.as_deref()),
        ("revoke", Some(text_id.as_str()))
    );
    assert_eq!(
        wire(&sim, revoke.as_str()),
        ("text".into(), Some("7".into()), true)
    );

    // A location replying to the customer's question: the quote carries its content.
    let branch = Location::new(30.0444, 31.2357).named("Downtown", Some("1 Tahrir Sq".into()));
    let reply = client
        .send_reply(
            &customer,
            &Quote::from(&*got),
            whatsapp_client::Outgoing::Location(branch),
        )
        .await
        .expect("reply");
    let entry = arrived(&sim, CUSTOMER, reply.as_str()).await;
    assert_eq!(
        (entry.kind.as_str(), entry.reply_to.as_deref()),
        ("location", Some(asked.as_str()))
    );
    let raw = sim.customer_message(CUSTOMER, reply.as_str()).unwrap();
    let quoted =
        whatsapp_client::content::context_info(whatsapp_client::content::unwrap(&raw).message)
            .expect("context")
            .clone();
    assert_eq!(quoted.participant, Some(sender.to_non_ad().to_string()));
    assert_eq!(
        quoted.quoted_message.and_then(|q| q.conversation),
        Some("is my order ready?".into())
    );

    // The customer's message forwarded back: marked, scored once.
    let forwarded = client
        .forward_message(&customer, &got)
        .await
        .expect("forward");
    arrived(&sim, CUSTOMER, forwarded.as_str()).await;
    let context = seen(&sim, CUSTOMER, forwarded.as_str()).context;
    assert_eq!((context.forwarded, context.forwarding_score), (true, 1));

    // A live location and its update; one contact card and a list of two.
    let live = LiveLocation::new(30.0, 31.0);
    let first = client
        .send_live_location(&customer, live.clone())
        .await
        .expect("live");
    let update = client
        .send_live_location(&customer, live.update(30.01, 31.01, 30))
        .await
        .expect("update");
    for (id, sequence) in [(&first, 0), (&update, 1)] {
        assert_eq!(
            arrived(&sim, CUSTOMER, id.as_str()).await.kind,
            "live_location"
        );
        let Content::LiveLocation {
            sequence_number, ..
        } = seen(&sim, CUSTOMER, id.as_str()).content
        else {
            panic!()
        };
        assert_eq!(sequence_number, Some(sequence));
    }
    let card = ContactCard::phone("Dr. Amal", "+20 100 123 4567");
    let one = client
        .send_contacts(&customer, "", vec![card.clone()])
        .await
        .expect("card");
    assert_eq!(arrived(&sim, CUSTOMER, one.as_str()).await.kind, "contact");
    let two = client
        .send_contacts(
            &customer,
            "Our pharmacists",
            vec![card, ContactCard::phone("Dr. Omar", "201009998877")],
        )
        .await
        .expect("cards");
    let entry = arrived(&sim, CUSTOMER, two.as_str()).await;
    assert_eq!(
        (entry.kind.as_str(), entry.text.as_deref()),
        ("contacts", Some("Our pharmacists"))
    );
    let Content::Contacts { contacts, .. } = seen(&sim, CUSTOMER, two.as_str()).content else {
        panic!()
    };
    assert!(
        contacts[1]
            .vcard
            .as_deref()
            .unwrap()
            .contains("waid=201009998877")
    );

    // The customer's message played (as a voice note would be).
    client
        .mark_played(&got.info.chat, None, &[got.info.id.clone()])
        .await
        .expect("played");
    sent_until(&sim, CUSTOMER, &asked, "played").await;

    // Bad content is refused before anything goes out.
    let before = sim.stanzas().len();
    let refused = client.send_poll(&customer, "Which?", &["only"], 1).await;
    assert!(
        matches!(refused, Err(ClientError::InvalidArgument(_))),
        "{refused:?}"
    );
    let off_map = client
        .send_location(&customer, Location::new(123.0, 0.0))
        .await;
    assert!(matches!(off_map, Err(ClientError::InvalidArgument(_))));
    assert_eq!(
        sim.stanzas()[before..]
            .iter()
            .filter(|s| s.tag == "message")
            .count(),
        0
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_are_sent_voted_on_and_tallied_last_vote_wins() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("messaging-polls");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.issue_privacy_token(CUSTOMER, OWN_PHONE).expect("token");
    let customer = Jid::user(CUSTOMER);

    let options = ["Morning", "Evening"];
    let poll = client
        .send_poll(&customer, "Delivery time?", &options, 1)
        .await
        .expect("poll");
    let entry = arrived(&sim, CUSTOMER, poll.as_str()).await;
    assert_eq!(
        (entry.kind.as_str(), entry.text.as_deref()),
        ("poll", Some("Delivery time?"))
    );
    assert_eq!(wire(&sim, poll.as_str()).0, "poll");
    let multi = client
        .send_poll(&customer, "Which items?", &["A", "B", "C"], 0)
        .await
        .expect("multi-select poll");
    arrived(&sim, CUSTOMER, multi.as_str()).await;
    let Content::PollCreation {
        selectable_count, ..
    } = seen(&sim, CUSTOMER, multi.as_str()).content
    else {
        panic!()
    };
    assert_eq!(selectable_count, 0);

    // The customer votes, then changes its mind: the tally keeps the last vote.
    let mut tally = PollTally::new(options);
    for choice in ["Morning", "Evening"] {
        sim.customer_vote(CUSTOMER, OWN_PHONE, poll.as_str(), &[choice], false)
            .expect("vote");
        let mut vote = expect(&mut events, "the customer's vote", |e| match e {
            Event::PollVote(v) => Some(v),
            _ => None,
        })
        .await;
        assert_eq!(vote.poll_id, poll.as_str());
        tally.add(
            &vote.info.sender,
            vote.sender_timestamp_ms(),
            &vote.selected_hashes,
        );
        vote.ack();
    }
    let result = tally.result();
    assert_eq!((result[0].count(), result[1].count()), (0, 1));
    let lid = sim.lid_of(CUSTOMER).expect("lid");
    assert!([CUSTOMER, lid.user.as_str()].contains(&result[1].voters[0].user.as_str()));

    // Our vote on the customer's poll: the customer's client opens it.
    let theirs = sim
        .customer_poll(CUSTOMER, OWN_PHONE, "Rate us", &["Good", "Bad"])
        .expect("customer poll");
    let mut their_poll = next_message(&mut events, "the customer's poll").await;
    their_poll.ack();
    assert_eq!(their_poll.info.id, theirs);
    let vote = client
        .vote_poll(&their_poll.info, &["Good"])
        .await
        .expect("our vote");
    let entry = arrived(&sim, CUSTOMER, vote.as_str()).await;
    assert_eq!(
        (entry.kind.as_str(), entry.reply_to.as_deref()),
        ("poll_vote", Some(theirs.as_str()))
    );
    assert_eq!(wire(&sim, vote.as_str()), ("poll".into(), None, true));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_reaches_only_its_recipients_and_a_resend_can_be_asked_again() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("messaging-status");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.add_customer(OTHER, "Ali", 1, false).expect("other");

    let recipients = [Jid::user(CUSTOMER)];
    let text = Text::new("Open until midnight today");
    let post = client
        .send_status(&recipients, whatsapp_client::Outgoing::Text(text))
        .await
        .expect("status");
    let entry = arrived(&sim, CUSTOMER, post.as_str()).await;
    assert_eq!(entry.group.as_deref(), Some("status@broadcast"));
    assert_eq!(entry.text.as_deref(), Some("Open until midnight today"));
    let r = record(&sim, post.as_str());
    assert_eq!(r.to, "status@broadcast");
    assert!(
        r.recipients.iter().any(|p| p.starts_with(CUSTOMER)),
        "{:?}",
        r.recipients
    );
    assert!(
        !r.recipients.iter().any(|p| p.starts_with(OTHER)),
        "{:?}",
        r.recipients
    );
    assert!(sim.customer_inbox(OTHER).expect("inbox").is_empty());
    let nobody = client
        .send_status(&[], whatsapp_client::Outgoing::Text(Text::new("x")))
        .await;
    assert!(matches!(nobody, Err(ClientError::InvalidArgument(_))));

    // A message this device was not given: the client asks our phone itself, and asking
    // again through the public method brings it once more.
    let lost = sim
        .unavailable_message(OWN_PHONE, CUSTOMER, "hosted_unavailable_fanout", "refill?")
        .expect("unavailable");
    let mut placeholder = expect(&mut events, "the placeholder", |e| match e {
        Event::Unavailable(u) => Some(u),
        _ => None,
    })
    .await;
    placeholder.ack();
    let mut resent = next_message(&mut events, "the first resend").await;
    resent.ack();
    client
        .request_placeholder_resend(&placeholder.info)
        .await
        .expect("resend request");
    let mut again = next_message(&mut events, "the second resend").await;
    assert_eq!(
        (again.info.id.as_str(), again.text()),
        (lost.as_str(), Some("refill?"))
    );
    again.ack();
    assert_eq!(sim.resend_requests(OWN_PHONE), vec![lost.clone(), lost]);
    client.shutdown().await;
}
