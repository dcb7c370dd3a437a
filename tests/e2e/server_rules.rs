//! The real server's rules, as the sim keeps them: the current WhatsApp Web version, read from
//! the web page at start and after a 405; the traffic it counts (device lists, group info,
//! `media_conn`); the close after `<stream:error code="515">` left to the client.

use fixtures::{
    CUSTOMER, OWN_PHONE, WAIT, config, expect, hold_token, next_message, paired, start, temp_db,
};
use whatsapp_client::store::{DeviceStore, PreKeyStore, SqliteStore};
use whatsapp_client::{AppVersion, Event, Jid, OutgoingMedia};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Fault, Sim, SimConfig};

/// A version newer than the library's built-in one.
fn newer(by: u32) -> AppVersion {
    AppVersion {
        tertiary: AppVersion::CURRENT.tertiary + by,
        ..AppVersion::CURRENT
    }
}

fn parts(v: AppVersion) -> [u32; 3] {
    [v.primary, v.secondary, v.tertiary]
}

async fn stored_version(path: &std::path::PathBuf) -> Option<AppVersion> {
    let store = SqliteStore::open(path).await.expect("store");
    store.load_device().await.expect("device")?.app_version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_is_read_from_the_web_page_and_kept() {
    // The server already wants a newer version than the library was built with.
    let sim = Sim::start(SimConfig {
        min_app_version: Some(parts(newer(5))),
        web_revision: newer(5).tertiary,
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let path = temp_db("version-fetched");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    client.shutdown().await;
    drop(client);
    assert_eq!(stored_version(&path).await, Some(newer(5)));

    // The page cannot be read any more: the version that last logged in is used.
    let mut offline = config(&sim);
    offline.version_url = Some("http://127.0.0.1:9/".into());
    let (client, mut events) = start(&path, offline).await;
    expect(
        &mut events,
        "connected with the stored version",
        |e| match e {
            Event::ConnectFailure { code, .. } => panic!("login refused with {code}"),
            Event::Connected => Some(()),
            _ => None,
        },
    )
    .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_405_fetches_the_version_again_and_logs_in() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("version-405");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    // WhatsApp Web moves on while we are connected; the server drops us.
    sim.set_web_revision(newer(7).tertiary);
    sim.set_min_app_version(Some(parts(newer(7))));
    sim.fault(&Fault::DropConnections).expect("drop");
    expect(&mut events, "connected again", |e| match e {
        Event::ConnectFailure { code, .. } => panic!("gave up with {code}"),
        Event::Connected => Some(()),
        _ => None,
    })
    .await;
    assert!(client.is_connected());
    client.shutdown().await;
    drop(client);
    assert_eq!(stored_version(&path).await, Some(newer(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_405_after_the_refetch_stops_the_client() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("version-405-twice");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    // The page still announces the version the server now refuses.
    sim.set_min_app_version(Some(parts(newer(9))));
    sim.fault(&Fault::DropConnections).expect("drop");
    let code = expect(&mut events, "the refusal", |e| match e {
        Event::Connected => panic!("logged in with a refused version"),
        Event::ConnectFailure { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, 405);
    expect(&mut events, "stopped", |e| {
        matches!(e, Event::Stopped).then_some(())
    })
    .await;
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_prekey_upload_within_minutes_asks_the_servers_count_first() {
    // Every prekey the server hands out leaves it "low" by the sim's count, and the client
    // tops up below 100: without a guard, each notification would be another upload.
    let sim = Sim::start(SimConfig {
        prekey_low_threshold: 100,
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let path = temp_db("prekey-guard");
    let mut config = config(&sim);
    config.prekeys_initial = 60;
    config.prekeys_min = 100;
    let (client, mut events) = paired(&sim, &path, config).await;
    // Our phone's key share and this customer's message each took one of our prekeys; the
    // low-count notification came before the message.
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("hi".into()), None)
        .expect("send");
    let mut message = next_message(&mut events, "the customer's message").await;
    message.ack();
    let own = client.jid().expect("jid");
    let from = format!("{}:{}@", own.user, own.device);
    let iqs = |query: &str, kind: &str| {
        sim.stanzas()
            .iter()
            .filter(|s| s.from.starts_with(&from) && s.xmlns == "encrypt")
            .filter(|s| s.kind == kind && s.query == query)
            .count()
    };
    // The login's count and upload, then the count the guard asked: the server holds more
    // than a refill, so nothing more was uploaded.
    assert_eq!(iqs("count", "get"), 2);
    assert_eq!(iqs("registration", "set"), 1);
    let store = SqliteStore::open(&path).await.expect("store");
    assert_eq!(store.max_prekey_id().await.expect("max"), 60);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sends_ask_the_server_once_per_customer_group_and_media_ttl() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("server-traffic");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let customers: Vec<Jid> = (0..10)
        .map(|i| {
            sim.add_account(&format!("2011100000{i:02}"), &format!("Customer {i}"))
                .expect("account")
        })
        .collect();
    // Each customer wrote before: their privacy tokens let our messages through (no 463).
    for customer in &customers {
        hold_token(&sim, &path, &customer.user).await;
    }
    let member = |i: usize| customers[i].user.clone();
    let groups = [
        sim.create_group(
            &member(0),
            "Orders A",
            &[OWN_PHONE.to_owned(), member(1), member(2)],
            false,
        )
        .expect("group"),
        sim.create_group(
            &member(3),
            "Orders B",
            &[OWN_PHONE.to_owned(), member(4)],
            false,
        )
        .expect("group"),
    ];
    let mark = sim.stanzas().len();
    for i in 0..100 {
        let to = match i % 10 {
            8 => &groups[0],
            9 => &groups[1],
            n => &customers[n],
        };
        if i % 25 == 0 {
            let media =
                OutgoingMedia::document(vec![i as u8; 1000], "application/pdf", "prescription.pdf");
            client.send_media(to, media).await.expect("media send");
        } else {
            client
                .send_text(to, &format!("message {i}"))
                .await
                .expect("send");
        }
    }
    let own = client.jid().expect("jid");
    let from = format!("{}:{}@", own.user, own.device);
    let log = sim.stanzas();
    let iqs = |xmlns: &str, query: &str| {
        log[mark..]
            .iter()
            .filter(|s| s.from.starts_with(&from) && s.tag == "iq")
            .filter(|s| s.xmlns == xmlns && s.query == query)
            .count()
    };
    // At most one device-list query per customer (and one for our own devices).
    let usync = iqs("usync", "usync");
    assert!(usync <= customers.len() + 1, "{usync} usync queries");
    // None at all: the groups' `<create>` notifications told us their participants
    // (whatsmeow `parseGroupCreate` caches them too).
    assert_eq!(
        iqs("w:g2", "query"),
        0,
        "group-info queries for groups we were told of"
    );
    // Counted since login: a history download right after pairing may have asked first, and
    // the uploads then reuse that answer.
    let media_conns = log
        .iter()
        .filter(|s| s.from.starts_with(&from) && s.tag == "iq")
        .filter(|s| s.xmlns == "w:m" && s.query == "media_conn")
        .count();
    assert_eq!(media_conns, 1, "one media_conn within its ttl");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_515_the_close_is_left_to_the_client() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use whatsapp_proto::connection::Input;

    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("restart-close");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    client.shutdown().await;
    drop(client);
    let device = SqliteStore::open(&path)
        .await
        .expect("store")
        .load_device()
        .await
        .expect("load")
        .expect("device");
    let (mut ws, mut core) = crate::client::raw_connection(&sim, &device).await;
    sim.fault(&Fault::StreamError { code: 515 }).expect("fault");
    while !core.is_closed() {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the 515 in time")
            .expect("socket open")
            .expect("frame");
        match frame {
            Message::Binary(data) => {
                let _ = core.handle_input(Input::Receive {
                    now: 0,
                    data: &data,
                });
            }
            Message::Close(_) => panic!("the server closed the socket before its 515"),
            _ => {}
        }
    }
    // A client that takes a moment before it closes (whatsmeow does): the socket is still
    // open, with nothing more on it.
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), ws.next()).await;
    assert!(early.is_err(), "the server did not wait: {early:?}");
    ws.close(None).await.expect("close");
    let _ = ws.flush().await;
    // And it logs in again.
    let (client, mut events) = start(&path, config(&sim)).await;
    expect(&mut events, "connected again", |e| {
        matches!(e, Event::Connected).then_some(())
    })
    .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_media_server_configured_media_goes_to_the_media_conn_hosts() {
    use whatsapp_client::MediaRef;
    use whatsapp_sim::device::MediaKind as SimMediaKind;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("media-conn-hosts");
    // As the examples are set up: the sim's WebSocket URL and nothing else.
    let mut config = config(&sim);
    config.media_base_url = None;
    let (client, mut events) = paired(&sim, &path, config).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let photo: Vec<u8> = (0..5_000u32).map(|i| (i * 7 % 251) as u8).collect();
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Media {
            kind: SimMediaKind::Image,
            data: photo.clone(),
            mimetype: "image/jpeg".into(),
            caption: None,
            file_name: None,
        },
        None,
    )
    .expect("send");
    let mut message = next_message(&mut events, "the photo").await;
    let media = MediaRef::from_message(&message.message).expect("an attachment");
    assert_eq!(client.download(&media).await.expect("download"), photo);
    message.ack();
    let reply = OutgoingMedia::document(b"the invoice".to_vec(), "application/pdf", "invoice.pdf");
    client
        .send_media(&message.info.chat, reply)
        .await
        .expect("upload to the media_conn host");
    client.shutdown().await;
}
