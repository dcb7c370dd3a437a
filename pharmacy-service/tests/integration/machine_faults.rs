//! Faults of the machine rather than of WhatsApp (issue 32, item 3): the media disk full while
//! media and messages arrive, a damaged media file, the wall clock stepping forward and back,
//! and a data directory wiped and restored from a backup.
//!
//! The full disk is real where it can be: a 1 MiB tmpfs mounted over the media folder when the
//! test may mount (root on Linux); elsewhere the media store's write port answers "disk full".

use super::api_support::{ADMIN, T1, TestApp, spawn_on};
use super::bridge::eventually;
use super::support::{T0, TempDir, World, text_event};
use pharmacy_service::app::{
    App, Clock, LocalDisk, ManualClock, MediaDisk, SeedOptions, SendReply, ServiceConfig,
    SteadyClock, TransferTarget,
};
use pharmacy_service::db;
use pharmacy_service::domain::pacing::PacingPolicy;
use pharmacy_service::domain::routing::AgentStatus;
use pharmacy_service::http::HttpConfig;
use pharmacy_service::http::whatsapp::{LinkState, WhatsappLink};
use pharmacy_service::ops::backup::{backup, restore};
use pharmacy_service::whatsapp::bridge::WhatsappBridge;
use pharmacy_service::whatsapp::media_worker::MediaDownloadPolicy;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use whatsapp_sim::device::{MediaKind, Outgoing};
use whatsapp_sim::{Sim, SimConfig};

const PHARMACY: &str = "201001234567";
const CUSTOMER: &str = "201011117777";

// ---------------------------------------------------------------------------------------------
// A media disk that can be filled and freed.

/// The media store's port, full on demand (where no tmpfs can be mounted).
#[derive(Default)]
struct SwitchableDisk {
    full: AtomicBool,
}

impl MediaDisk for SwitchableDisk {
    fn write_new(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(std::io::ErrorKind::StorageFull.into());
        }
        LocalDisk.write_new(path, bytes)
    }
}

/// The media folder, fillable.
enum FullableMedia {
    /// A 1 MiB tmpfs over the folder; `filler` takes the space.
    Tmpfs { dir: PathBuf, filler: PathBuf },
    /// The injected port.
    Injected(Arc<SwitchableDisk>),
}

impl FullableMedia {
    /// Mounts a tmpfs over `dir` when allowed, else installs the injected port on `app`.
    fn over(dir: &Path, app: &App) -> FullableMedia {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            eprintln!("media disk: a 1 MiB tmpfs");
            FullableMedia::Tmpfs {
                dir: dir.to_path_buf(),
                filler: dir.join("filler"),
            }
        } else {
            eprintln!("media disk: the injected write port (no tmpfs here)");
            let disk = Arc::new(SwitchableDisk::default());
            app.set_media_disk(disk.clone());
            FullableMedia::Injected(disk)
        }
    }

    /// Takes every byte left.
    fn fill(&self) {
        match self {
            FullableMedia::Tmpfs { filler, .. } => {
                use std::io::Write;
                let mut f = std::fs::File::create(filler).unwrap();
                let chunk = vec![0u8; 4096];
                loop {
                    match f.write_all(&chunk).and_then(|()| f.flush()) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                        Err(e) => panic!("filling the tmpfs: {e}"),
                    }
                }
            }
            FullableMedia::Injected(d) => d.full.store(true, Ordering::SeqCst),
        }
    }

    /// Gives the space back.
    fn free(&self) {
        match self {
            FullableMedia::Tmpfs { filler, .. } => std::fs::remove_file(filler).unwrap(),
            FullableMedia::Injected(d) => d.full.store(false, Ordering::SeqCst),
        }
    }
}

impl Drop for FullableMedia {
    fn drop(&mut self) {
        if let FullableMedia::Tmpfs { dir, .. } = self {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&*dir)
                .status();
        }
    }
}

fn photo(tag: u8) -> (Outgoing, Vec<u8>) {
    // 48 KiB: far more than a full disk has left.
    let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
    data.extend(std::iter::repeat_n(tag, 48 * 1024));
    let out = Outgoing::Media {
        kind: MediaKind::Image,
        data: data.clone(),
        mimetype: "image/png".into(),
        caption: Some(format!("prescription {tag}")),
        file_name: None,
    };
    (out, data)
}

/// `(media_sha256, media_state)` of the stored message `wa_id`, once stored.
async fn media_of(app: &App, wa_id: &str) -> (Option<String>, Option<String>) {
    eventually(&format!("{wa_id} stored"), || async {
        sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT media_sha256, media_state FROM messages WHERE wa_id = ?",
        )
        .bind(wa_id)
        .fetch_optional(app.pool())
        .await
        .ok()
        .flatten()
    })
    .await
}

async fn count(app: &App, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(app.pool()).await.unwrap()
}

/// A multipart `POST /api/messages/send` of an image.
fn upload(ticket: i64, png: &[u8]) -> (String, Vec<u8>) {
    let boundary = "XfaultsX";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"ticket_id\"\r\n\r\n{ticket}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Files under `dir` whose name ends in `.partial` (a write cut short).
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let (_, files) = super::soak::folder(dir);
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "partial"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_media_disk_acks_only_what_is_stored_says_so_and_recovers() {
    let world = World::new().await;
    let media_dir = world.app.config().media_dir.clone();
    let t: TestApp = spawn_on(world, HttpConfig::default()).await;
    let app = t.world.app.clone();
    let disk = FullableMedia::over(&media_dir, &app);
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let mut wa = whatsapp_client::Config::default()
        .with_url(sim.ws_url.clone())
        .with_trust_root(sim.root_public_key);
    wa.media_base_url = Some(format!("http://{}", sim.ws_addr));
    // One attempt: a full disk that spent attempts would fail the attachment at once.
    let policy = MediaDownloadPolicy {
        attempts: 1,
        disk_full_pause: Duration::from_secs(60),
        ..MediaDownloadPolicy::default()
    };
    let store = Arc::new(whatsapp_client::store::MemoryStore::new());
    let bridge = WhatsappBridge::start_with(app.clone(), store, wa, policy)
        .await
        .expect("bridge");
    let qr = eventually("a QR code", || async { bridge.qr_code().await.unwrap() }).await;
    sim.scan(&qr, PHARMACY).await.expect("scan");
    assert!(
        bridge
            .wait_for(Duration::from_secs(90), |s| s.state == LinkState::Connected)
            .await
    );
    sim.add_customer(CUSTOMER, "Omar", 1, false).unwrap();
    let send = |o| sim.customer_send(CUSTOMER, PHARMACY, o, None).unwrap();
    let hello = send(Outgoing::Text("hello".into()));
    media_of(&app, &hello).await;
    let ticket: i64 = count(&app, "SELECT max(id) FROM tickets").await;
    t.assign(
        pharmacy_service::domain::ids::TicketId(ticket),
        t.world.agents[0],
    )
    .await;
    let agent = t.login(T1).await;
    let admin = t.login(ADMIN).await;

    // The disk fills; a photo, a text and another photo arrive.
    disk.fill();
    let (p1, bytes1) = photo(1);
    let (p2, bytes2) = photo(2);
    let first = send(p1);
    let text = send(Outgoing::Text("are you there?".into()));
    let second = send(p2);
    for wa_id in [&first, &second] {
        let (sha, state) = media_of(&app, wa_id).await;
        assert_eq!((sha, state.as_deref()), (None, Some("downloading")));
    }
    media_of(&app, &text).await;
    let full = eventually("readyz reporting the full disk", || async {
        let r = t.client().get("/readyz").await;
        (r.json()["checks"]["media"]["disk_full"] == true).then_some(())
    })
    .await;
    let () = full;
    // Several rounds of the worker meeting the full disk: no attempt spent, one alert.
    for _ in 0..3 {
        let before: i64 = count(
            &app,
            "SELECT coalesce(sum(next_attempt_at), 0) FROM media_downloads",
        )
        .await;
        t.world.advance(Duration::from_secs(61));
        app.wake_media_worker();
        eventually("the downloads postponed again", || async {
            let now: i64 = count(
                &app,
                "SELECT coalesce(sum(next_attempt_at), 0) FROM media_downloads",
            )
            .await;
            (now > before).then_some(())
        })
        .await;
    }
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM media_downloads WHERE attempts > 0"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM messages WHERE media_state = 'downloading'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM admin_alerts WHERE kind = 'media_disk_full'"
        )
        .await,
        1
    );
    let alerts = admin.get("/api/alerts").await;
    assert!(
        alerts.text().contains("media_disk_full"),
        "{}",
        alerts.text()
    );
    // An agent's upload is refused plainly, with nothing kept.
    let (ct, body) = upload(ticket, b"\x89PNG\r\n\x1a\nan upload while full");
    let messages = count(&app, "SELECT count(*) FROM messages").await;
    let r = agent
        .raw("POST", "/api/messages/send", Some(&ct), &body, &[])
        .await;
    assert_eq!(r.status, 507, "{}", r.text());
    assert_eq!(r.code(), "storage_full");
    assert_eq!(count(&app, "SELECT count(*) FROM messages").await, messages);
    assert!(partial_files(&media_dir).is_empty());
    // Nothing the customer's phone saw delivered is missing from the database.
    for m in sim.customer_sent(CUSTOMER).unwrap() {
        if matches!(m.status.as_str(), "delivered" | "read") {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE wa_id = ?")
                .bind(&m.id)
                .fetch_one(app.pool())
                .await
                .unwrap();
            assert_eq!(n, 1, "{} acknowledged but not stored", m.id);
        }
    }

    // Space returns: both photos arrive whole, the state clears, uploads work again.
    disk.free();
    t.world.advance(Duration::from_secs(61));
    app.wake_media_worker();
    for (wa_id, bytes) in [(&first, &bytes1), (&second, &bytes2)] {
        let sha = eventually("the photo stored", || async {
            let (sha, state) = media_of(&app, wa_id).await;
            sha.filter(|_| state.is_none())
        })
        .await;
        assert_eq!(&app.read_media(&sha).await.unwrap().unwrap(), bytes);
    }
    let r = agent
        .raw("POST", "/api/messages/send", Some(&ct), &body, &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!app.media_disk_full());
    assert!(partial_files(&media_dir).is_empty());
    bridge.shutdown().await;
    sim.shutdown();
    drop(disk);
}

// ---------------------------------------------------------------------------------------------
// A damaged media file.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_media_file_is_detected_reported_once_and_the_message_kept() {
    let t = spawn_on(World::new().await, HttpConfig::default()).await;
    let app = t.world.app.clone();
    let ticket = t
        .customer_writes("201055501234", "DMG-1", "my prescription")
        .await;
    t.assign(ticket, t.world.agents[0]).await;
    let agent = t.login(T1).await;
    let png = b"\x89PNG\r\n\x1a\nthe original prescription".to_vec();
    let (ct, body) = upload(ticket.0, &png);
    let r = agent
        .raw("POST", "/api/messages/send", Some(&ct), &body, &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let message = r.json()["message"].clone();
    let sha = message["media_sha256"].as_str().unwrap().to_owned();
    assert_eq!(agent.get(&format!("/api/media/{sha}")).await.body, png);

    // Bit rot: same length, one byte changed.
    let path = app.media_path(&sha);
    let mut rotten = std::fs::read(&path).unwrap();
    rotten[10] ^= 0x40;
    std::fs::write(&path, &rotten).unwrap();
    for _ in 0..3 {
        let r = agent.get(&format!("/api/media/{sha}")).await;
        assert_eq!(r.status, 410, "{}", r.text());
        assert_eq!(r.code(), "media_corrupt");
        assert_ne!(r.body, rotten);
    }
    let alerts: Vec<String> =
        sqlx::query_scalar("SELECT details_json FROM admin_alerts WHERE kind = 'media_corrupt'")
            .fetch_all(app.pool())
            .await
            .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let details: serde_json::Value = serde_json::from_str(&alerts[0]).unwrap();
    assert_eq!(details["sha256"], sha.as_str());
    assert_eq!(details["messages"][0], message["id"]);
    // The message stays, naming its file.
    let id = message["id"].as_i64().unwrap();
    let r = agent.get(&format!("/api/messages/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["message"]["media_sha256"], sha.as_str());

    // A backup says which file is damaged.
    let backups = TempDir::new();
    let m = backup(&t.world._dir.0, &backups.0.join("set"))
        .await
        .unwrap();
    assert_eq!(m.damaged, vec![format!("media/{}/{sha}", &sha[..2])]);

    // The same bytes stored again (the file sent once more) repair it.
    let r = agent
        .raw("POST", "/api/messages/send", Some(&ct), &body, &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(agent.get(&format!("/api/media/{sha}")).await.body, png);
}

// ---------------------------------------------------------------------------------------------
// The wall clock stepping back and forward.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wall_clock_stepping_back_and_forward_gives_no_negative_kpi_or_job_storm() {
    let dir = TempDir::new();
    let wall = Arc::new(ManualClock::new(T0));
    let config = ServiceConfig {
        pacing: PacingPolicy::fast(),
        media_dir: dir.0.join("media"),
        use_shifts: false,
        out_of_office_enabled: false,
        branch_menu_enabled: false,
        ..ServiceConfig::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SteadyClock::new(wall.clone()));
    let app = App::open(&dir.0.join("pharmacy.db"), clock, config)
        .await
        .unwrap();
    app.seed_demo(&SeedOptions::default()).await.unwrap();
    let agent = {
        let mut c = app.pool().acquire().await.unwrap();
        db::agents::list(&mut c).await.unwrap().remove(0)
    };
    app.set_agent_status(agent.id, AgentStatus::Online, None)
        .await
        .unwrap();
    let arrive = |phone: &'static str, wa_id: &'static str| {
        let app = app.clone();
        async move {
            app.handle_inbound(text_event(Some(phone), None, wa_id, "hello", app.now()))
                .await
                .unwrap();
            let t: i64 = sqlx::query_scalar("SELECT ticket_id FROM messages WHERE wa_id = ?")
                .bind(wa_id)
                .fetch_one(app.pool())
                .await
                .unwrap();
            pharmacy_service::domain::ids::TicketId(t)
        }
    };
    let reply = |ticket| {
        app.send_reply(SendReply {
            ticket_id: ticket,
            user_id: agent.user_id,
            text: Some("we are here".into()),
            template_id: None,
            media: None,
            reply_to: None,
        })
    };

    // Back: NTP pulls the clock an hour behind between the question and the answer.
    let first = arrive("201066600001", "CLK-1").await;
    wall.set(T0.minus(Duration::from_secs(3600)));
    assert!(app.now() >= T0, "the service's time went back");
    reply(first).await.unwrap();
    let negative: i64 = count(&app, "SELECT count(*) FROM response_times WHERE millis < 0").await;
    assert_eq!(negative, 0);
    assert!(count(&app, "SELECT count(*) FROM response_times").await >= 1);
    let backwards: i64 = count(
        &app,
        "SELECT count(*) FROM messages a JOIN messages b ON b.ticket_id = a.ticket_id \
         AND b.id > a.id WHERE b.created_at < a.created_at",
    )
    .await;
    assert_eq!(backwards, 0, "a later message stored with an earlier time");

    // Forward: the clock leaps two days; the jobs act once on what is now overdue.
    let second = arrive("201066600002", "CLK-2").await;
    wall.set(T0.plus(Duration::from_secs(2 * 86_400)));
    let once = app.run_jobs().await.unwrap();
    assert!(
        once.delayed.contains(&second) || once.auto_closed.contains(&second),
        "{once:?}"
    );
    let alerts = count(&app, "SELECT count(*) FROM admin_alerts").await;
    for _ in 0..5 {
        let again = app.run_jobs().await.unwrap();
        assert!(
            again.delayed.is_empty() && again.reassigned.is_empty() && again.auto_closed.is_empty(),
            "{again:?}"
        );
    }
    // And back again: nothing is redone, nothing counted twice or negative.
    wall.set(T0);
    for _ in 0..5 {
        let again = app.run_jobs().await.unwrap();
        assert!(
            again.delayed.is_empty() && again.auto_closed.is_empty(),
            "{again:?}"
        );
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM admin_alerts").await,
        alerts
    );
    let report = app
        .kpi_report(pharmacy_service::app::KpiQuery {
            from: jiff::civil::date(2026, 11, 1),
            to: jiff::civil::date(2026, 12, 31),
        })
        .await
        .unwrap();
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains(":-"), "a negative figure: {text}");
}

// ---------------------------------------------------------------------------------------------
// Wipe, then restore.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_then_restore_brings_back_every_message_and_media_file() {
    let w = World::new().await;
    w.online(0).await;
    let data = w._dir.0.clone();
    let mut shas = Vec::new();
    for i in 0..12 {
        let t = w
            .text(
                &format!("20107770{i:04}"),
                &format!("WR-{i}"),
                &format!("question {i}"),
            )
            .await;
        if i % 3 == 0 {
            w.app
                .transfer_ticket(t, w.admin, TransferTarget::Agent(w.agents[0]), "test")
                .await
                .unwrap();
            let bytes = format!("scan {i}").repeat(100 + i);
            let sha = w
                .app
                .store_media(bytes.as_bytes(), "image/png")
                .await
                .unwrap();
            w.app
                .send_reply(SendReply {
                    ticket_id: t,
                    user_id: w.agent_users[0],
                    text: Some(format!("answer {i}")),
                    template_id: None,
                    media: Some((sha.clone(), "image/png".into(), Some(format!("r{i}.png")))),
                    reply_to: None,
                })
                .await
                .unwrap();
            shas.push((sha, bytes.into_bytes()));
        }
    }
    let rows = |app: App| async move {
        sqlx::query_as::<_, (i64, Option<String>, Option<String>, Option<String>, i64)>(
            "SELECT id, wa_id, body, media_sha256, created_at FROM messages ORDER BY id",
        )
        .fetch_all(app.pool())
        .await
        .unwrap()
    };
    let before = rows(w.app.clone()).await;
    let backups = TempDir::new();
    let set = backups.0.join("set");
    backup(&data, &set).await.unwrap();

    // The disk is lost: nothing of the data directory is left.
    w.app.pool().close().await;
    std::fs::remove_dir_all(&data).unwrap();
    let r = restore(&data, &set, false).await.unwrap();
    assert!(r.moved_aside.is_none());
    let restored = App::open(
        &data.join("pharmacy.db"),
        Arc::new(ManualClock::new(T0)),
        super::support::config(&w._dir),
    )
    .await
    .unwrap();
    assert_eq!(rows(restored.clone()).await, before);
    for (sha, bytes) in &shas {
        assert_eq!(&restored.read_media(sha).await.unwrap().unwrap(), bytes);
    }
    // The search index came back with the rows.
    let hits: i64 = count(
        &restored,
        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'question'",
    )
    .await;
    assert_eq!(hits, 12);
}
