//! whatsapp-client against whatsapp-sim over loopback: pair by QR, resume from the SQLite
//! file, receive and reply, prekey top-up, logout by the server, temporary ban.

use std::sync::Arc;
use std::time::Duration;

use fixtures::{
    CUSTOMER, OWN_PHONE, WAIT, config, copies_until, expect, hold_token, inbox_until, next_message,
    paired, poll_until, sent_until, start, temp_db,
};
use whatsapp_client::store::{DeviceStore, PreKeyStore, PrivacyTokenStore, SqliteStore};
use whatsapp_client::{Client, Event, EventStream, LogoutReason};
use whatsapp_sim::device::Outgoing;
use whatsapp_sim::{Fault, Sim, SimConfig, SimHandle};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_by_qr_then_resume_from_the_store() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("resume");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let jid = client.jid().expect("jid");
    assert_eq!(jid.user, OWN_PHONE);
    client.shutdown().await;
    drop(client);

    // A new client from the same file logs in without pairing.
    let (client, mut events) = start(&path, config(&sim)).await;
    expect(&mut events, "connected after restart", |e| match e {
        Event::Qr(_) => panic!("a stored device must not pair again"),
        Event::Connected => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(client.jid(), Some(jid));
    // The first login uploaded the initial prekey batch (ids 1..=812). Our phone's first
    // messages to us (key share, history notification) may each have consumed one by now.
    let store = SqliteStore::open(&path).await.expect("store");
    assert_eq!(store.max_prekey_id().await.expect("max"), 812);
    let uploaded = store.uploaded_prekey_count().await.expect("count");
    assert!(
        (808..=812).contains(&uploaded),
        "{uploaded} uploaded prekeys left"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_a_customer_message_and_reply() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("echo");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    let sent_id = sim
        .customer_send(
            CUSTOMER,
            OWN_PHONE,
            Outgoing::Text("do you have panadol?".into()),
            None,
        )
        .expect("customer send");
    let mut message = next_message(&mut events, "the customer's message").await;
    assert_eq!(message.info.id, sent_id);
    assert_eq!(message.text(), Some("do you have panadol?"));
    assert_eq!(message.info.chat.user, CUSTOMER);
    message.ack();

    // The customer issued us a privacy token (sent back as <tctoken> with replies), kept
    // under its LID.
    let store = SqliteStore::open(&path).await.expect("store");
    let lid = fixtures::lid_of(&sim, CUSTOMER);
    poll_until("a stored privacy token", async || {
        store.load_privacy_token(&lid).await.expect("token")
    })
    .await;
    let reply_id = client
        .send_text(&message.info.chat, "yes, 20 EGP")
        .await
        .expect("reply");
    // Every device of the customer gets the reply.
    let copies = copies_until(&sim, CUSTOMER, &reply_id, 2).await;
    assert!(
        copies
            .iter()
            .all(|m| m.text.as_deref() == Some("yes, 20 EGP"))
    );
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prekeys_are_topped_up_when_the_server_runs_low() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("prekeys");
    let mut config = config(&sim);
    config.prekeys_initial = 5;
    let (client, mut events) = paired(&sim, &path, config).await;
    // A customer's first message takes one prekey: the server is left with 4 < 5.
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("hi".into()), None)
        .expect("send");
    let mut message = next_message(&mut events, "message").await;
    message.ack();
    let store = SqliteStore::open(&path).await.expect("store");
    poll_until("the prekey top-up", async || {
        (store.max_prekey_id().await.expect("max") >= 55).then_some(())
    })
    .await;
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_out_by_the_server_wipes_the_session() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("logout");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    let jid = client.jid().expect("jid");
    sim.remove_device(&jid.to_string()).expect("remove");
    let reason = expect(&mut events, "logged out", |e| match e {
        Event::LoggedOut { reason } => Some(reason),
        _ => None,
    })
    .await;
    assert!(matches!(
        reason,
        LogoutReason::DeviceRemoved | LogoutReason::LoggedOut
    ));
    // Pairing starts again with a fresh device.
    expect(&mut events, "a new QR code", |e| match e {
        Event::Qr(_) => Some(()),
        _ => None,
    })
    .await;
    let store = SqliteStore::open(&path).await.expect("store");
    let device = store.load_device().await.expect("load").expect("device");
    assert!(!device.is_paired());
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_ban_becomes_an_event() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("ban");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.fault(&Fault::TempBan {
        code: 101,
        expire_s: 3600,
    })
    .expect("fault");
    let (code, expires) = expect(&mut events, "temporary ban", |e| match e {
        Event::TemporaryBan { code, expires } => Some((code, expires)),
        _ => None,
    })
    .await;
    assert_eq!(code, Some(101));
    assert!(expires.is_some_and(|d| d.as_secs() > 3000));
    expect(&mut events, "stopped", |e| {
        matches!(e, Event::Stopped).then_some(())
    })
    .await;
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_per_device() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("single");
    let (client, _events) = start(&path, config(&sim)).await;
    let second = Arc::new(SqliteStore::open(&path).await.expect("store"));
    let refused = Client::start(second, config(&sim)).await;
    assert!(matches!(
        refused,
        Err(whatsapp_client::ClientError::AlreadyRunning)
    ));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_by_phone_code() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    sim.add_account(OWN_PHONE, "Pharmacy").expect("account");
    let path = temp_db("code");
    let (client, mut events) = start(&path, config(&sim)).await;
    // The registration connection is up once the first QR code arrives.
    expect(&mut events, "a QR code", |e| match e {
        Event::Qr(_) => Some(()),
        _ => None,
    })
    .await;
    let code = client
        .pair_phone(&format!("+{OWN_PHONE}"))
        .await
        .expect("code");
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
    let jid = sim.link_code(OWN_PHONE, &code).await.expect("link code");
    let paired = expect(&mut events, "pair success", |e| match e {
        Event::PairSuccess { jid, .. } => Some(jid),
        _ => None,
    })
    .await;
    assert_eq!(paired, jid);
    expect(&mut events, "connected", |e| {
        matches!(e, Event::Connected).then_some(())
    })
    .await;
    assert_eq!(
        sim.forced_closes(),
        0,
        "the sim closed the socket after 515"
    );
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_phone_code_does_not_pair() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    sim.add_account(OWN_PHONE, "Pharmacy").expect("account");
    let path = temp_db("badcode");
    let (client, mut events) = start(&path, config(&sim)).await;
    expect(&mut events, "a QR code", |e| match e {
        Event::Qr(_) => Some(()),
        _ => None,
    })
    .await;
    let code = client.pair_phone(OWN_PHONE).await.expect("code");
    let wrong = if code.starts_with('A') {
        "BBBB-BBBB"
    } else {
        "AAAA-AAAA"
    };
    assert!(sim.link_code(OWN_PHONE, wrong).await.is_err());
    assert!(client.jid().is_none());
    client.shutdown().await;
}

/// A raw WebSocket to the sim.
pub(crate) type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Logs a stored device in over a raw connection (the core without the client); returns the
/// socket and the core, logged in.
pub(crate) async fn raw_connection(
    sim: &SimHandle,
    device: &whatsapp_client::store::Device,
) -> (RawSocket, whatsapp_proto::connection::ClientConnection) {
    use futures_util::{SinkExt, StreamExt};
    use prost::Message as _;
    use whatsapp_proto::connection::{ClientConfig, ClientConnection, Input, Output};
    use whatsapp_proto::payload::{PayloadConfig, login_payload};

    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(sim.ws_url.as_str())
        .await
        .expect("connect");
    let jid = device.jid.clone().expect("paired");
    let payload = login_payload(
        &PayloadConfig::default(),
        jid.user.parse().expect("digits"),
        u32::from(jid.device),
        true,
    )
    .encode_to_vec();
    let mut config = ClientConfig::new(device.noise_pair(), payload);
    config.handshake.root_key = sim.root_public_key;
    let mut core = ClientConnection::new(config, now(), &mut rand::thread_rng());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !core.is_logged_in() {
        while let Some(out) = core.poll_output() {
            if let Output::Transmit(bytes) = out {
                ws.send(tokio_tungstenite::tungstenite::Message::binary(bytes))
                    .await
                    .expect("send");
            }
        }
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("login in time")
            .expect("socket open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Binary(data) = frame {
            core.handle_input(Input::Receive {
                now: now(),
                data: &data,
            })
            .expect("valid input");
        }
    }
    (ws, core)
}

/// Logs a stored device in over a second, raw connection, kept open a while.
async fn raw_login(sim: &SimHandle, device: &whatsapp_client::store::Device) {
    let (ws, _core) = raw_connection(sim, device).await;
    // Keep the second connection open until the first client has seen the takeover.
    tokio::spawn(async move {
        tokio::time::sleep(WAIT).await;
        drop(ws);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_by_another_connection_stops() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("replaced");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    let store = SqliteStore::open(&path).await.expect("store");
    let device = store.load_device().await.expect("load").expect("device");
    raw_login(&sim, &device).await;
    expect(&mut events, "stream replaced", |e| {
        matches!(e, Event::StreamReplaced).then_some(())
    })
    .await;
    expect(&mut events, "stopped", |e| match e {
        Event::Stopped => Some(()),
        Event::Connected => panic!("a replaced client must not reconnect"),
        _ => None,
    })
    .await;
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_is_recovered_through_a_retry_receipt() {
    use whatsapp_client::store::SessionStore;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("retry");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("one".into()), None)
        .expect("send");
    assert_eq!(next_text(&mut events).await.as_deref(), Some("one"));
    // Lose the session: the next `msg` cannot be decrypted.
    let store = SqliteStore::open(&path).await.expect("store");
    store
        .delete_session(&format!("{CUSTOMER}.0"))
        .await
        .expect("delete");
    sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("two".into()), None)
        .expect("send");
    // The retry receipt makes the customer encrypt again with a new session.
    let text = expect(&mut events, "the resent message", |e| match e {
        Event::Message(mut m) => {
            m.ack();
            m.text().map(str::to_owned)
        }
        _ => None,
    })
    .await;
    assert_eq!(text, "two");
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

async fn next_text(events: &mut EventStream) -> Option<String> {
    let mut m = next_message(events, "message").await;
    m.ack();
    m.text().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_drops_and_server_restarts() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("reconnect");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    for fault in [Fault::DropConnections, Fault::StreamError { code: 503 }] {
        sim.fault(&fault).expect("fault");
        let reconnect_in = expect(&mut events, "disconnected", |e| match e {
            Event::Disconnected { reconnect_in, .. } => Some(reconnect_in),
            _ => None,
        })
        .await;
        assert!(reconnect_in.is_some(), "{fault:?} must be retried");
        expect(&mut events, "connected again", |e| {
            matches!(e, Event::Connected).then_some(())
        })
        .await;
    }
    // Messages still flow after the reconnects.
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Text("still there?".into()),
        None,
    )
    .expect("send");
    assert_eq!(
        next_text(&mut events).await.as_deref(),
        Some("still there?")
    );
    client.shutdown().await;
}

/// A server that stops answering (the sim's `delay` fault) is detected by the keepalive as
/// whatsmeow does (missed pings reported, the connection declared dead after
/// `keepalive_dead`), the client reconnects, and a message sent meanwhile arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_is_detected_by_keepalive_and_left() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("stalled");
    let mut config = config(&sim);
    config.timeouts.keepalive_min = 100;
    config.timeouts.keepalive_max = 150;
    config.timeouts.keepalive_reply = 200;
    config.timeouts.keepalive_dead = 800;
    let (client, mut events) = paired(&sim, &path, config).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.fault(&Fault::Delay {
        ms: 1_500,
        duration_ms: 2_500,
    })
    .expect("fault");
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Text("are you there?".into()),
        None,
    )
    .expect("send");
    let missed = expect(&mut events, "a missed keepalive", |e| match e {
        Event::KeepAliveTimeout { consecutive } => Some(consecutive),
        _ => None,
    })
    .await;
    assert!(missed >= 1);
    let reconnect_in = expect(&mut events, "the dead connection dropped", |e| match e {
        Event::Disconnected { reconnect_in, .. } => Some(reconnect_in),
        _ => None,
    })
    .await;
    assert!(reconnect_in.is_some(), "a dead connection is retried");
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), events.recv()).await {
            Ok(Some(Event::Message(mut m))) => {
                m.ack();
                texts.extend(m.text().map(str::to_owned));
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            // Quiet for a while after the message came: nothing else is on its way.
            Err(_) if !texts.is_empty() => break,
            Err(_) => {}
        }
    }
    assert_eq!(texts, ["are you there?"]);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lid_addressed_customer_is_answered() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("lid");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, true)
        .expect("customer");
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Text("from a lid".into()),
        None,
    )
    .expect("send");
    let mut message = next_message(&mut events, "message").await;
    assert_eq!(message.text(), Some("from a lid"));
    if message.info.sender.is_lid() {
        // The sim names the phone number of a LID sender: the same person either way.
        let alt = message.info.sender_alt.clone().expect("sender_pn");
        assert_eq!(alt.user, CUSTOMER);
        let pn = client
            .pn_for_lid(&message.info.sender)
            .await
            .expect("lookup");
        assert_eq!(pn.map(|j| j.user), Some(CUSTOMER.to_owned()));
    }
    message.ack();
    let id = client
        .send_text(&message.info.chat, "answer")
        .await
        .expect("reply");
    inbox_until(&sim, CUSTOMER, "the reply", |inbox| {
        inbox.iter().any(|m| m.id == id)
    })
    .await;
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_message_is_redelivered_after_a_restart() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("redeliver");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let id = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("keep me".into()), None)
        .expect("send");
    let first = next_message(&mut events, "message").await;
    assert_eq!(first.info.id, id);
    // The application "crashes" before acknowledging.
    drop(first);
    client.shutdown().await;
    drop(client);

    let (client, mut events) = start(&path, config(&sim)).await;
    let mut again = expect(&mut events, "the redelivered message", |e| match e {
        Event::Message(m) => Some(m),
        Event::UndecryptableMessage { reason, .. } => panic!("redelivery failed: {reason}"),
        _ => None,
    })
    .await;
    assert_eq!(again.info.id, id);
    assert_eq!(again.text(), Some("keep me"));
    again.ack();
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_unlinks_and_wipes() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("self-logout");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    client.logout().await.expect("logout");
    let reason = expect(&mut events, "logged out", |e| match e {
        Event::LoggedOut { reason } => Some(reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, LogoutReason::UserInitiated);
    let store = SqliteStore::open(&path).await.expect("store");
    assert!(store.load_device().await.expect("load").is_none());
    assert!(
        sim.devices()
            .iter()
            .filter(|a| a.phone == OWN_PHONE)
            .all(|a| a.devices.is_empty()),
        "the server still lists the device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_and_refused_sends() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("read");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let id = sim
        .customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text("read me".into()), None)
        .expect("send");
    let mut message = next_message(&mut events, "message").await;
    message.ack();
    client
        .send_presence(true, Some("Pharmacy"))
        .await
        .expect("presence");
    client
        .send_chat_state(&message.info.chat, true, false)
        .await
        .expect("typing");
    client
        .subscribe_presence(&message.info.chat)
        .await
        .expect("subscribe");
    expect(&mut events, "the customer's presence", |e| match e {
        Event::Presence { from, .. } if from.user == CUSTOMER => Some(()),
        _ => None,
    })
    .await;
    sim.customer_typing(CUSTOMER, OWN_PHONE, "composing")
        .expect("typing");
    let composing = expect(&mut events, "the customer typing", |e| match e {
        Event::ChatState {
            chat, composing, ..
        } if chat.user == CUSTOMER => Some(composing),
        _ => None,
    })
    .await;
    assert!(composing);
    client
        .mark_read(&message.info.chat, None, std::slice::from_ref(&id))
        .await
        .expect("read");
    sent_until(&sim, CUSTOMER, &id, "read").await;
    // The server refuses the next message with 463: a typed error.
    sim.fault(&Fault::Nack {
        code: 463,
        count: 1,
    })
    .expect("fault");
    let refused = client.send_text(&message.info.chat, "refused").await;
    assert!(
        matches!(
            refused,
            Err(whatsapp_client::ClientError::NewChatRefused { .. })
        ),
        "{refused:?}"
    );
    client
        .send_text(&message.info.chat, "accepted")
        .await
        .expect("send");
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_photo_is_downloaded_and_verified() {
    use whatsapp_client::MediaRef;
    use whatsapp_sim::device::MediaKind;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("media");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let photo: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    sim.customer_send(
        CUSTOMER,
        OWN_PHONE,
        Outgoing::Media {
            kind: MediaKind::Image,
            data: photo.clone(),
            mimetype: "image/jpeg".into(),
            caption: Some("my prescription".into()),
            file_name: None,
        },
        None,
    )
    .expect("send");
    let mut message = next_message(&mut events, "the photo").await;
    let media = MediaRef::from_message(&message.message).expect("an attachment");
    assert_eq!(media.mimetype.as_deref(), Some("image/jpeg"));
    assert_eq!(client.download(&media).await.expect("download"), photo);
    let mut streamed = Vec::new();
    let n = client
        .download_to(&media, &mut streamed)
        .await
        .expect("streamed download");
    assert_eq!((n as usize, streamed), (photo.len(), photo.clone()));
    // A wrong hash is refused, never silently accepted.
    let mut tampered = media.clone();
    tampered.file_sha256[0] ^= 1;
    assert!(client.download(&tampered).await.is_err());
    message.ack();
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_is_uploaded_and_reaches_the_customer() {
    use whatsapp_client::OutgoingMedia;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("upload");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    let customer = sim
        .add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    // The customer wrote to us before (else the server refuses our first message with 463).
    hold_token(&sim, &path, CUSTOMER).await;
    let invoice: Vec<u8> = b"%PDF-1.4 invoice ".repeat(1000);
    let id = client
        .send_media(
            &customer,
            OutgoingMedia::document(invoice.clone(), "application/pdf", "invoice.pdf")
                .caption("your invoice"),
        )
        .await
        .expect("send");
    let sha = whatsapp_proto::media::encrypt(
        &[0; 32],
        whatsapp_proto::media::MediaType::Document,
        &invoice,
    )
    .file_sha256;
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    let got = copies_until(&sim, CUSTOMER, &id, 2).await;
    assert!(got.iter().all(|m| m.kind == "document"), "{got:?}");
    assert!(
        got.iter()
            .all(|m| m.media_sha256.as_deref() == Some(sha.as_str())),
        "{got:?}"
    );
    // Every <enc> of a media message names its media type, as whatsmeow's sends do; a text
    // names none.
    let text_id = client
        .send_text(&customer, "and a text")
        .await
        .expect("text");
    let stanzas = sim.stanzas();
    let sent = |id: &str| {
        stanzas
            .iter()
            .find(|s| s.tag == "message" && s.id == id)
            .unwrap_or_else(|| panic!("{id} not recorded"))
            .media_types
            .clone()
    };
    let document = sent(&id);
    assert!(
        !document.is_empty() && document.iter().all(|t| t == "document"),
        "{document:?}"
    );
    assert!(sent(&text_id).iter().all(String::is_empty));
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_both_ways() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("group");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    let group = sim
        .create_group(
            CUSTOMER,
            "Family pharmacy orders",
            &[OWN_PHONE.to_owned()],
            false,
        )
        .expect("group");
    for text in ["first in the group", "second in the group"] {
        sim.customer_send(
            CUSTOMER,
            &group.to_string(),
            Outgoing::Text(text.into()),
            None,
        )
        .expect("send");
        let mut message = expect(&mut events, "a group message", |e| match e {
            Event::Message(m) => Some(m),
            Event::UndecryptableMessage { reason, .. } => panic!("undecryptable: {reason}"),
            _ => None,
        })
        .await;
        assert_eq!(message.info.chat, group);
        assert_eq!(message.info.sender.user, CUSTOMER);
        assert_eq!(message.text(), Some(text));
        message.ack();
    }
    // And a reply to the group reaches both of the customer's devices.
    let id = client
        .send_text(&group, "ready for pickup")
        .await
        .expect("group send");
    let copies = copies_until(&sim, CUSTOMER, &id, 2).await;
    assert!(
        copies
            .iter()
            .all(|m| m.text.as_deref() == Some("ready for pickup"))
    );
    client.shutdown().await;
    fixtures::assert_jids_are_jids(&sim);
}

/// A burst of customer messages through the whole client (sim -> decrypt -> commit -> event ->
/// ack -> receipt): every one arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_inbound_messages_arrives_exactly_once() {
    const N: usize = 300;
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("burst");
    let (client, mut events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    let sender = {
        let sim = sim.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..N {
                sim.customer_send(CUSTOMER, OWN_PHONE, Outgoing::Text(format!("m{i}")), None)
                    .expect("send");
            }
        })
    };
    let mut texts = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeSet::new();
    while texts.len() < N {
        let mut message = next_message(&mut events, "a message").await;
        assert!(
            ids.insert(message.info.id.clone()),
            "delivered twice: {}",
            message.info.id
        );
        texts.insert(message.text().unwrap_or_default().to_owned());
        message.ack();
    }
    sender.await.expect("sender");
    let expected: std::collections::BTreeSet<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_client_is_told_and_stops() {
    // The server wants a newer WhatsApp Web than we claim.
    let strict = Sim::start(SimConfig {
        min_app_version: Some([9, 0, 0]),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let (_client, mut events) = start(&temp_db("outdated"), config(&strict)).await;
    let code = expect(&mut events, "a connect failure", |e| match e {
        Event::ConnectFailure { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, 405);
    expect(&mut events, "stopped", |e| {
        matches!(e, Event::Stopped).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_codes_rotate_then_time_out() {
    let sim = Sim::start(SimConfig {
        ref_count: 3,
        qr_first_ref: Duration::from_millis(600),
        qr_next_ref: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let mut config = config(&sim);
    config.qr_first_timeout = Duration::from_millis(600);
    config.qr_timeout = Duration::from_millis(300);
    let (_client, mut events) = start(&temp_db("qr-rotation"), config).await;
    let mut codes = Vec::new();
    expect(&mut events, "QR timeout", |e| match e {
        Event::Qr(qr) => {
            codes.push(qr);
            None
        }
        Event::QrTimeout => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(codes.len(), 3);
    assert_eq!(codes[0].timeout, Duration::from_millis(600));
    assert!(codes.iter().enumerate().all(|(i, qr)| qr.index == i));
    let refs: std::collections::HashSet<_> = codes.iter().map(|q| q.data.clone()).collect();
    assert_eq!(refs.len(), 3, "every code carries its own ref");
    expect(&mut events, "stopped", |e| {
        matches!(e, Event::Stopped).then_some(())
    })
    .await;
}

/// A send repeated under the caller's id (an outbox resend after a crash before its "sent" mark
/// was committed) is one message to the customer, whose app keys messages by id; a malformed
/// id is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_under_the_same_id_is_one_message() {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let path = temp_db("resend-id");
    let (client, _events) = paired(&sim, &path, config(&sim)).await;
    sim.add_customer(CUSTOMER, "Mona", 2, false)
        .expect("customer");
    // The customer wrote to us before (else the server refuses our first message with 463).
    hold_token(&sim, &path, CUSTOMER).await;
    let to: whatsapp_client::Jid = format!("{CUSTOMER}@s.whatsapp.net").parse().unwrap();
    let text = whatsapp_client::e2e::Message {
        conversation: Some("your order is ready".into()),
        ..Default::default()
    };
    let id = whatsapp_client::generate_message_id(OWN_PHONE, 1_700_000_000);
    for _ in 0..2 {
        let sent = client
            .send_message_with_id(&to, &id, text.clone())
            .await
            .expect("send");
        assert_eq!(sent, id);
    }
    let bad = client
        .send_message_with_id(&to, "3eb0-lower-case-id", text.clone())
        .await;
    assert!(
        matches!(
            bad,
            Err(whatsapp_client::ClientError::InvalidMessageId { .. })
        ),
        "{bad:?}"
    );
    let inbox = inbox_until(&sim, CUSTOMER, "the message on both devices", |inbox| {
        inbox.iter().filter(|m| m.id == id).count() >= 2
    })
    .await;
    // Both sends were acked by the server before this point: each of the customer's devices
    // shows the message once.
    let mut per_device: Vec<u16> = inbox
        .iter()
        .filter(|m| m.id == id)
        .map(|m| m.device)
        .collect();
    per_device.sort_unstable();
    assert_eq!(per_device, [0, 1], "{inbox:?}");
    assert!(
        inbox
            .iter()
            .all(|m| m.id == id && m.text.as_deref() == Some("your order is ready"))
    );
    client.shutdown().await;
}
