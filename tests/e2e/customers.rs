//! Simulated customers are whatsapp-client `Client`s: a customer with several devices gets
//! our reply on each of them, customer media reaches the media server only encrypted, and
//! groups of client customers work both ways.

use rand::RngCore;
use whatsapp_client::{Event, Jid, MediaKind, MediaRef, OutgoingMedia, e2e};
use whatsapp_proto::media::{self, MediaHashes, MediaType};
use whatsapp_sim::device::{MediaKind as SimMediaKind, Outgoing};
use whatsapp_sim::{Sim, SimConfig, SimHandle};

use fixtures::{
    CUSTOMER, OWN_PHONE, config, expect, inbox_until, next_message, paired, sent_until, temp_db,
};

/// The second customer of [`family_group`].
pub(crate) const SISTER: &str = "201115556667";

/// A group "Family": the customer (two devices, the creator), its sister (one device) and us.
pub(crate) fn family_group(sim: &SimHandle) -> Jid {
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    sim.add_customer(SISTER, "Salma", 1, false)
        .expect("customer");
    sim.create_group(
        CUSTOMER,
        "Family",
        &[SISTER.into(), OWN_PHONE.into()],
        false,
    )
    .expect("group")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_with_three_devices_gets_our_reply_on_each() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("customer-devices");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");
    let asked = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Text("open today?".into()),
            None,
        )
        .expect("send");
    let mut question = next_message(&mut events, "the customer's question").await;
    assert_eq!(question.info.id, asked);
    assert_eq!(question.info.sender, Jid::user(CUSTOMER).with_device(0));
    question.ack();
    // The customer's phone fanned its own message out to its companions.
    inbox_until(&sim, CUSTOMER, "the question on devices 1 and 2", |inbox| {
        [1, 2].iter().all(|d| {
            inbox
                .iter()
                .any(|e| e.id == asked && e.device == *d && e.from_me)
        })
    })
    .await;

    let reply = client
        .send_text(&Jid::user(CUSTOMER), "yes, until 10 pm")
        .await
        .expect("reply");
    let inbox = inbox_until(&sim, CUSTOMER, "our reply on every device", |inbox| {
        (0..3).all(|d| inbox.iter().any(|e| e.id == reply && e.device == d))
    })
    .await;
    for entry in inbox.iter().filter(|e| e.id == reply) {
        assert_eq!(entry.text.as_deref(), Some("yes, until 10 pm"));
        assert_eq!(entry.kind, "text");
        assert!(!entry.from_me);
        // From our LID: the customer's LID was known from its message (whatsmeow send.go).
        assert_eq!(
            Some(entry.from.parse::<Jid>().expect("from").user),
            client.lid().map(|lid| lid.user),
            "{entry:?}"
        );
    }
    // Each customer device acknowledged it: delivery receipts from all three (`inactive` from
    // the companions, clients that never announced themselves available).
    let mut delivered = std::collections::BTreeSet::new();
    // From the customer's LID, where our reply went.
    let customer = super::key_index::addressed_as(&client, CUSTOMER).await;
    while delivered.len() < 3 {
        let receipt = expect(&mut events, "delivery receipts", |e| match e {
            Event::Receipt(r)
                if r.ids.contains(&reply) && (r.kind.is_empty() || r.kind == "inactive") =>
            {
                Some(r)
            }
            _ => None,
        })
        .await;
        assert_eq!(receipt.sender.user, customer);
        delivered.insert(receipt.sender.device);
    }
    assert_eq!(delivered.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    // The customer's own message shows our delivery receipt.
    sent_until(&sim, CUSTOMER, &asked, "delivered").await;
    client.shutdown().await;
    sim.shutdown();
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_media_reaches_the_server_only_encrypted() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("customer-media");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    let mut photo = vec![0u8; 20_000];
    rand::thread_rng().fill_bytes(&mut photo);
    let sent = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Media {
                kind: SimMediaKind::Image,
                data: photo.clone(),
                mimetype: "image/jpeg".into(),
                caption: Some("my prescription".into()),
                file_name: None,
            },
            None,
        )
        .expect("send image");
    let mut message = next_message(&mut events, "the customer's photo").await;
    assert_eq!(message.info.id, sent);
    let image = message.message.image_message.clone().expect("image");
    assert_eq!(image.caption.as_deref(), Some("my prescription"));
    let media_ref = MediaRef::from_message(&message.message).expect("media ref");
    assert_eq!(client.download(&media_ref).await.expect("download"), photo);
    message.ack();

    // What the server holds (the photo's blob, and the phone's history blobs): never the
    // photo nor any piece of it, and only the media key from inside the end-to-end encrypted
    // message opens the photo's blob.
    let blobs = sim.media_blobs();
    let direct_path = image.direct_path.clone().expect("direct path");
    let (_, blob) = blobs
        .iter()
        .find(|(path, _)| direct_path.starts_with(&format!("{path}?")))
        .expect("the photo's blob is on the media server");
    for (_, stored) in &blobs {
        assert!(
            !stored
                .windows(32)
                .any(|w| photo.windows(32).step_by(997).any(|p| p == w)),
            "plaintext bytes on the media server"
        );
    }
    let hashes = MediaHashes::from_slices(
        image.file_sha256.as_deref().expect("sha"),
        image.file_enc_sha256.as_deref().expect("enc sha"),
    )
    .expect("hashes");
    let key = image.media_key.clone().expect("key");
    assert_eq!(
        media::decrypt(&key, MediaType::Image, blob, &hashes).expect("opens with its key"),
        photo
    );
    let mut wrong = key.clone();
    wrong[0] ^= 1;
    assert!(media::decrypt(&wrong, MediaType::Image, blob, &hashes).is_err());

    // Our document to the customer: its devices download and verify it through their clients.
    let mut invoice = b"%PDF-1.7 invoice ".to_vec();
    invoice.extend((0..4000u32).map(|i| (i * 7 % 251) as u8));
    let doc_id = client
        .send_media(
            &Jid::user(CUSTOMER),
            OutgoingMedia {
                kind: MediaKind::Document,
                data: invoice.clone(),
                mimetype: "application/pdf".into(),
                caption: None,
                file_name: Some("invoice.pdf".into()),
            },
        )
        .await
        .expect("send document");
    let expected_sha =
        hex::encode(media::encrypt(&[0; 32], MediaType::Document, &invoice).file_sha256);
    let inbox = inbox_until(&sim, CUSTOMER, "our document on both devices", |inbox| {
        (0..2).all(|d| inbox.iter().any(|e| e.id == doc_id && e.device == d))
    })
    .await;
    for entry in inbox.iter().filter(|e| e.id == doc_id) {
        assert_eq!(entry.kind, "document");
        assert_eq!(entry.media_error, None);
        assert_eq!(entry.media_sha256.as_deref(), Some(expected_sha.as_str()));
    }
    for (_, blob) in sim.media_blobs() {
        assert!(!blob.windows(invoice.len()).any(|w| w == invoice.as_slice()));
    }
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_client_customers_talks_with_us() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("customer-group");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    let group = family_group(&sim);
    let posted = sim
        .customer_send(
            CUSTOMER,
            &group.to_string(),
            Outgoing::Text("mum needs her refill".into()),
            None,
        )
        .expect("post");
    let mut post = expect(&mut events, "the group post", |e| match e {
        Event::Message(m) if m.info.id == posted => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(post.info.chat, group);
    assert_eq!(post.info.sender.user, CUSTOMER);
    assert_eq!(post.text(), Some("mum needs her refill"));
    post.ack();
    inbox_until(&sim, SISTER, "the post at the sister's", |inbox| {
        inbox.iter().any(|e| {
            e.id == posted
                && e.group.as_deref() == Some(group.to_string().as_str())
                && e.text.as_deref() == Some("mum needs her refill")
        })
    })
    .await;
    // The server's ack, then the members' delivery receipts reach the poster's client.
    let entry = sent_until(&sim, CUSTOMER, &posted, "delivered").await;
    assert!(entry.server_ts.is_some(), "{entry:?}");
    assert_eq!(entry.to, group.to_string());
    inbox_until(
        &sim,
        CUSTOMER,
        "the post on the poster's companion",
        |inbox| {
            inbox
                .iter()
                .any(|e| e.id == posted && e.device == 1 && e.from_me)
        },
    )
    .await;

    let answer = client
        .send_message(
            &group,
            e2e::Message {
                conversation: Some("ready at 5".into()),
                ..Default::default()
            },
        )
        .await
        .expect("group reply");
    for (phone, devices) in [(CUSTOMER, 2u16), (SISTER, 1)] {
        let inbox = inbox_until(&sim, phone, "our group reply", |inbox| {
            (0..devices).all(|d| inbox.iter().any(|e| e.id == answer && e.device == d))
        })
        .await;
        for entry in inbox.iter().filter(|e| e.id == answer) {
            assert_eq!(entry.group.as_deref(), Some(group.to_string().as_str()));
            assert_eq!(entry.text.as_deref(), Some("ready at 5"));
        }
    }
    // The sister reads it: we get her read receipt for the group message.
    let count = sim
        .customer_read(SISTER, std::slice::from_ref(&answer))
        .expect("read");
    assert_eq!(count, 1);
    let read = expect(&mut events, "the sister's read receipt", |e| match e {
        Event::Receipt(r) if r.kind == "read" && r.ids.contains(&answer) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(read.sender.user, SISTER);
    client.shutdown().await;
    sim.shutdown();
    fixtures::assert_jids_are_jids(&sim);
}
