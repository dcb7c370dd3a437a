//! Attack: one customer message stalls or crashes inbound processing. A media message whose
//! download never ends (a server that never answers), is refused (plain http `url`, CR/LF in
//! the direct path) or is huge (`file_length` of 10 GiB) used to be downloaded inline in the
//! single serial inbound loop, before the message was stored and acknowledged: everything
//! behind it waited. Now the message is stored at once as "downloading" (or "too large"),
//! acknowledged, and the media worker fetches the file; a failed download can be retried by
//! whoever can read the ticket, and a pending one survives a restart.

use super::super::api_support::{ADMIN, G1, T1, T2, TestApp, spawn_app};
use super::super::bridge::eventually;
use pharmacy_service::app::App;
use pharmacy_service::domain::ids::MessageId;
use pharmacy_service::http::whatsapp::{LinkState, WhatsappLink};
use pharmacy_service::whatsapp::bridge::WhatsappBridge;
use pharmacy_service::whatsapp::media_worker::MediaDownloadPolicy;
use serde_json::json;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whatsapp_client::e2e;
use whatsapp_client::store::{MemoryStore, Store};
use whatsapp_sim::device::{MediaKind, Outgoing};
use whatsapp_sim::{Sim, SimConfig, SimHandle};

const PHARMACY: &str = "201001234567";
const CUSTOMER: &str = "201011118888";

/// What the test media server does with a request.
const HANG: u8 = 0;
const FAIL: u8 = 1;
const SERVE: u8 = 2;

/// A media server under the test's control: it never answers, answers 503, or serves the
/// sim's stored blobs; it records the request lines it saw.
struct MediaServer {
    base: String,
    mode: Arc<AtomicU8>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl MediaServer {
    async fn start(sim: &SimHandle, mode: u8) -> MediaServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(mode));
        let seen: Arc<Mutex<Vec<String>>> = Default::default();
        let (m, s, sim) = (mode.clone(), seen.clone(), sim.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (mode, seen, sim) = (m.clone(), s.clone(), sim.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().push(line.clone());
                    let path = line.split(' ').nth(1).unwrap_or_default();
                    let path = path.split('?').next().unwrap_or_default().to_owned();
                    match mode.load(Ordering::SeqCst) {
                        HANG => tokio::time::sleep(Duration::from_secs(3600)).await,
                        FAIL => {
                            let _ = socket
                                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                                .await;
                        }
                        _ => {
                            let blob = sim.media_blobs().into_iter().find(|(p, _)| *p == path);
                            let answer = match blob {
                                Some((_, blob)) => {
                                    let mut a = format!(
                                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                        blob.len()
                                    )
                                    .into_bytes();
                                    a.extend_from_slice(&blob);
                                    a
                                }
                                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                            };
                            let _ = socket.write_all(&answer).await;
                        }
                    }
                });
            }
        });
        MediaServer { base, mode, seen }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A bridge over `store` downloading media from `media_base`; pairs it with the sim's phone
/// when the store is new.
async fn bridge(
    app: &App,
    sim: &SimHandle,
    store: Arc<dyn Store>,
    media_base: &str,
    policy: MediaDownloadPolicy,
) -> Arc<WhatsappBridge> {
    let mut wa = whatsapp_client::Config::default()
        .with_url(sim.ws_url.clone())
        .with_trust_root(sim.root_public_key);
    wa.media_base_url = Some(media_base.to_owned());
    // Long enough that a download from the silent server is still running when checked.
    wa.media_timeouts.read = Duration::from_secs(120);
    wa.reconnect.initial = Duration::from_millis(100);
    wa.reconnect.max = Duration::from_millis(500);
    let bridge = WhatsappBridge::start_with(app.clone(), store, wa, policy)
        .await
        .expect("bridge");
    if bridge.client().and_then(|c| c.jid()).is_none() {
        let qr = eventually("a QR code", || async { bridge.qr_code().await.unwrap() }).await;
        sim.scan(&qr, PHARMACY).await.expect("scan");
    }
    assert!(
        bridge
            .wait_for(Duration::from_secs(90), |s| s.state == LinkState::Connected)
            .await,
        "connected"
    );
    bridge
}

/// `(id, kind, media_sha256, media_state)` of a stored message, once it is stored.
async fn stored(app: &App, wa_id: &str) -> (MessageId, String, Option<String>, Option<String>) {
    eventually("the message stored", || async {
        let mut c = app.pool().acquire().await.ok()?;
        sqlx::query_as::<_, (i64, String, Option<String>, Option<String>)>(
            "SELECT id, kind, media_sha256, media_state FROM messages WHERE wa_id = ?",
        )
        .bind(wa_id)
        .fetch_optional(&mut *c)
        .await
        .ok()
        .flatten()
        .map(|(id, k, s, st)| (MessageId(id), k, s, st))
    })
    .await
}

/// Waits until the message's `media_state` is `want`.
async fn state_becomes(app: &App, wa_id: &str, want: Option<&str>) -> Option<String> {
    eventually(&format!("{wa_id} {want:?}"), || async {
        let (_, _, sha, state) = stored(app, wa_id).await;
        (state.as_deref() == want).then_some(sha)
    })
    .await
}

fn photo() -> Outgoing {
    Outgoing::Media {
        kind: MediaKind::Image,
        data: b"\x89PNG\r\n\x1a\na prescription".to_vec(),
        mimetype: "image/png".into(),
        caption: Some("my prescription".into()),
        file_name: None,
    }
}

/// An image message with hostile fields (keys and hashes are arbitrary).
fn hostile_image(direct_path: Option<&str>, url: Option<&str>, file_length: u64) -> Outgoing {
    Outgoing::Raw(Box::new(e2e::Message {
        image_message: Some(Box::new(e2e::ImageMessage {
            url: url.map(str::to_owned),
            direct_path: direct_path.map(str::to_owned),
            mimetype: Some("image/jpeg".into()),
            media_key: Some(vec![1; 32]),
            file_sha256: Some(vec![2; 32]),
            file_enc_sha256: Some(vec![3; 32]),
            file_length: Some(file_length),
            ..Default::default()
        })),
        ..Default::default()
    }))
}

/// The service (HTTP on a test world), the sim, the media server in `mode` and a bridge
/// paired with the sim's phone, downloading from that server; one customer added.
struct Scene {
    t: TestApp,
    app: App,
    sim: SimHandle,
    media: MediaServer,
    store: Arc<dyn Store>,
    bridge: Arc<WhatsappBridge>,
}

async fn scene(mode: u8) -> Scene {
    let t = spawn_app().await;
    let app = t.world.app.clone();
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let media = MediaServer::start(&sim, mode).await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bridge = bridge(&app, &sim, store.clone(), &media.base, one_attempt()).await;
    sim.add_customer(CUSTOMER, "Omar", 1, false).unwrap();
    Scene {
        t,
        app,
        sim,
        media,
        store,
        bridge,
    }
}

/// Waits for the photo's file to be stored and checks its content.
async fn photo_arrives(app: &App, wa_id: &str) {
    let sha = state_becomes(app, wa_id, None).await.expect("stored file");
    assert_eq!(
        std::fs::read(app.media_path(&sha)).unwrap(),
        b"\x89PNG\r\n\x1a\na prescription"
    );
}

fn one_attempt() -> MediaDownloadPolicy {
    MediaDownloadPolicy {
        attempts: 1,
        ..MediaDownloadPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_attachments_do_not_hold_up_the_next_message() {
    let Scene {
        t: _t,
        app,
        sim,
        media,
        store: _,
        bridge,
    } = scene(HANG).await;
    let send = |content| {
        sim.customer_send(CUSTOMER, PHARMACY, content, None)
            .unwrap()
    };
    // A download that never ends: the server accepts and stays silent.
    let silent = send(photo());
    let splitting = send(hostile_image(
        Some("/v/x.enc\r\nHost: evil.example\r\n\r\nGET /smuggled"),
        None,
        100,
    ));
    let plain_http = send(hostile_image(
        None,
        Some(&format!("{}/v/plain-http.enc", media.base)),
        100,
    ));
    let huge = send(hostile_image(Some("/v/huge.enc?a=1"), None, 10 << 30));
    let text = send(Outgoing::Text("are you open today?".into()));

    // The text behind them is stored and acknowledged (the customer's phone sees it
    // delivered) while the silent download is still running.
    let (_, kind, _, _) = stored(&app, &text).await;
    assert_eq!(kind, "text");
    eventually("the text acknowledged", || async {
        sim.customer_sent(CUSTOMER)
            .ok()?
            .into_iter()
            .find(|e| e.id == text && matches!(e.status.as_str(), "delivered" | "read"))
    })
    .await;
    let (_, kind, sha, state) = stored(&app, &silent).await;
    assert_eq!(
        (kind.as_str(), sha, state.as_deref()),
        ("image", None, Some("downloading"))
    );
    // Beyond the maximum: a visible placeholder, never requested.
    let (_, _, _, state) = stored(&app, &huge).await;
    assert_eq!(state.as_deref(), Some("too_large"));
    // Refused without a request: could not be downloaded.
    state_becomes(&app, &splitting, Some("failed")).await;
    state_becomes(&app, &plain_http, Some("failed")).await;
    let seen = media.seen();
    assert!(
        seen.iter()
            .all(|l| !l.contains("evil") && !l.contains("smuggled") && !l.contains("plain-http")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("huge")),
        "the huge one is never requested"
    );
    bridge.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_download_is_shown_and_can_be_retried_by_whoever_reads_the_ticket() {
    let Scene {
        t,
        app,
        sim,
        media,
        store: _,
        bridge,
    } = scene(FAIL).await;
    let wa_id = sim
        .customer_send(CUSTOMER, PHARMACY, photo(), None)
        .unwrap();
    // The 503 ends the only attempt: "could not be downloaded".
    state_becomes(&app, &wa_id, Some("failed")).await;
    let (id, _, _, _) = stored(&app, &wa_id).await;
    let path = format!("/api/messages/{}/media/retry", id.0);
    // The ticket is T1's (Toriel): another branch's agent cannot read it.
    let ticket = {
        let mut c = app.pool().acquire().await.unwrap();
        pharmacy_service::db::messages::by_id(&mut c, id)
            .await
            .unwrap()
            .unwrap()
            .ticket_id
    };
    t.assign(ticket, t.world.agents[0]).await;

    // Someone who cannot read the ticket learns nothing and changes nothing.
    let mut outsiders = 0;
    for user in [T1, T2, G1] {
        let agent = t.login(user).await;
        if agent.get(&format!("/api/messages/{}", id.0)).await.status == 404 {
            outsiders += 1;
            assert_eq!(agent.post(&path, json!({})).await.status, 404, "{user}");
        }
    }
    assert!(outsiders > 0, "some agent cannot read the ticket");
    let (_, _, _, state) = stored(&app, &wa_id).await;
    assert_eq!(state.as_deref(), Some("failed"));

    media.set(SERVE);
    let admin = t.login(ADMIN).await;
    let r = admin.post(&path, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["message"]["media_state"], "downloading");
    photo_arrives(&app, &wa_id).await;
    // Nothing left to retry.
    assert_eq!(admin.post(&path, json!({})).await.status, 409);
    bridge.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_download_survives_a_restart() {
    let Scene {
        t: _t,
        app,
        sim,
        media,
        store,
        bridge: first,
    } = scene(HANG).await;
    let wa_id = sim
        .customer_send(CUSTOMER, PHARMACY, photo(), None)
        .unwrap();
    let (_, _, _, state) = stored(&app, &wa_id).await;
    assert_eq!(state.as_deref(), Some("downloading"));
    eventually("the download started", || async {
        media
            .seen()
            .iter()
            .any(|l| l.starts_with("GET /v/"))
            .then_some(())
    })
    .await;
    // The service stops mid-download (the message was acknowledged long ago).
    first.shutdown().await;
    drop(first);
    media.set(SERVE);
    let second = bridge(&app, &sim, store, &media.base, one_attempt()).await;
    photo_arrives(&app, &wa_id).await;
    second.shutdown().await;
    sim.shutdown();
}
