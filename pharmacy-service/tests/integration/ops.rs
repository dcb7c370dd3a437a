//! Operations: configuration precedence, `/readyz`, `/metrics`, JSON logs, SIGTERM, the
//! one-instance lock, media retention, backup and restore.

use super::api_support::spawn_app;
use super::http_client;
use super::support::{TempDir, World};
use pharmacy_service::ops::backup::{BackupError, backup, restore};
use pharmacy_service::ops::lock::{InstanceLock, LockError};
use pharmacy_service::ops::retention::sweep;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(240);
const BIN: &str = env!("CARGO_BIN_EXE_pharmacy-service");

/// Every variable the binary reads, so the test's own environment cannot leak in.
const VARS: &[&str] = &[
    "PHARMACY_CONFIG",
    "PHARMACY_DATA_DIR",
    "PHARMACY_LOG_JSON",
    "PHARMACY_LOG",
    "PHARMACY_PORT",
    "PHARMACY_BIND",
    "PHARMACY_WA_URL",
    "PHARMACY_TRUST_ROOT",
    "PHARMACY_MEDIA_URL",
    "PHARMACY_MEDIA_RETENTION_DAYS",
    "PHARMACY_ADMIN_PASSWORD",
    "PHARMACY_INGEST_SECRET",
    "PHARMACY_SECURE_COOKIES",
    "PHARMACY_BEHIND_PROXY",
    "PHARMACY_SESSION_IDLE_MINUTES",
    "PHARMACY_SESSION_MAX_HOURS",
];

fn command(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env("RUST_LOG", "info");
    for v in VARS {
        c.env_remove(v);
    }
    c
}

fn show_config(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut c = command(dir);
    c.arg("show-config").args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("the binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn configuration_precedence_is_flags_env_file_defaults() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    // Defaults (no file in the working directory).
    let v = show_config(d, &[], &[]);
    assert_eq!(v["port"], 8080);
    assert_eq!(v["data_dir"], "data");
    assert_eq!(v["bind"], "127.0.0.1");
    assert_eq!(v["media_retention_days"], 0);
    assert_eq!(v["log_json"], false);

    // ./pharmacy-service.toml is read by default; a relative data_dir is the file's folder's.
    std::fs::write(
        d.join("pharmacy-service.toml"),
        "data_dir = \"from-file\"\nport = 7000\nmedia_retention_days = 30\nlog_json = true\n\
         wa_url = \"ws://file/ws\"\nadmin_password = \"file-password\"\n",
    )
    .unwrap();
    let v = show_config(d, &[], &[]);
    assert_eq!(v["port"], 7000);
    assert_eq!(v["data_dir"], "from-file");
    assert_eq!(v["media_retention_days"], 30);
    assert_eq!(v["log_json"], true);
    assert_eq!(v["wa_url"], "ws://file/ws");
    assert_eq!(v["admin_password_set"], true);
    assert!(v.get("admin_password").is_none(), "secret printed: {v}");

    // The environment beats the file.
    let env = [
        ("PHARMACY_PORT", "7100"),
        ("PHARMACY_DATA_DIR", "/srv/env"),
        ("PHARMACY_LOG_JSON", "false"),
        ("PHARMACY_WA_URL", "ws://env/ws"),
    ];
    let v = show_config(d, &[], &env);
    assert_eq!(v["port"], 7100);
    assert_eq!(v["data_dir"], "/srv/env");
    assert_eq!(v["log_json"], false);
    assert_eq!(v["wa_url"], "ws://env/ws");
    assert_eq!(
        v["media_retention_days"], 30,
        "untouched keys stay the file's"
    );

    // Flags beat the environment (and --whatsapp-url is still accepted).
    let v = show_config(
        d,
        &[
            "--port",
            "7200",
            "--data-dir",
            "/srv/flag",
            "--log-json",
            "--whatsapp-url",
            "ws://flag/ws",
        ],
        &env,
    );
    assert_eq!(v["port"], 7200);
    assert_eq!(v["data_dir"], "/srv/flag");
    assert_eq!(v["log_json"], true);
    assert_eq!(v["wa_url"], "ws://flag/ws");

    // --config names another file; unknown keys are refused, not ignored.
    std::fs::write(d.join("other.toml"), "port = 9001\n").unwrap();
    let v = show_config(d, &["--config", "other.toml"], &[]);
    assert_eq!(v["port"], 9001);
    assert_eq!(v["media_retention_days"], 0);
    std::fs::write(d.join("bad.toml"), "prot = 1\n").unwrap();
    let out = command(d)
        .args(["show-config", "--config", "bad.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field `prot`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// No command is `serve`, configured by the environment alone.
#[test]
fn no_command_serves_with_the_environment() {
    let dir = TempDir::new();
    let data = dir.0.join("env-data");
    let mut child = command(&dir.0)
        .env("PHARMACY_DATA_DIR", &data)
        .env("PHARMACY_PORT", "0")
        .env("PHARMACY_WA_URL", "ws://127.0.0.1:9/ws/chat")
        .env("PHARMACY_ADMIN_PASSWORD", "from-the-environment")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line: Value = serde_json::from_str(&first).expect("JSON start line");
    assert_eq!(line["admin"]["password"], "from-the-environment", "{line}");
    assert!(data.join("pharmacy.db").is_file());
}

#[test]
fn migrate_uses_the_configured_data_directory() {
    let dir = TempDir::new();
    let d = dir.0.as_path();
    std::fs::write(
        d.join("pharmacy-service.toml"),
        "data_dir = \"file-data\"\n",
    )
    .unwrap();
    let ok = command(d).arg("migrate").status().unwrap();
    assert!(ok.success());
    assert!(d.join("file-data/pharmacy.db").is_file());
    let ok = command(d)
        .arg("migrate")
        .env("PHARMACY_DATA_DIR", d.join("env-data"))
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(d.join("env-data/pharmacy.db").is_file());
    assert!(!d.join("data").exists(), "the default was not used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_database_and_migrations_and_reports_whatsapp() {
    let t = spawn_app().await;
    let c = t.client();
    let r = c.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["database"]["ok"], true);
    assert_eq!(v["checks"]["migrations"]["ok"], true);
    assert_eq!(v["checks"]["whatsapp"]["state"], "unpaired");
    // Liveness stays what it was.
    assert_eq!(c.get("/healthz").await.status, 200);

    // A migration this binary knows is not applied: not ready.
    let last: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(t.world.app.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(last)
        .execute(t.world.app.pool())
        .await
        .unwrap();
    let r = c.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["checks"]["migrations"]["ok"], false);
    assert!(
        v["checks"]["migrations"]["error"]
            .as_str()
            .is_some_and(|e| e.contains(&last.to_string())),
        "{v}"
    );

    // The database is gone: not ready, and the answer still comes.
    t.world.app.pool().close().await;
    let r = c.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["checks"]["database"]["ok"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_outbox_depth_and_link_state() {
    let t = spawn_app().await;
    // A new customer gets the greeting / branch menu: the outbox has work.
    t.customer_writes("201055500001", "MET-1", "hello").await;
    let depth = t.world.app.outbox_depth().await.unwrap();
    assert!(depth > 0);
    let r = t.client().get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("pharmacy_outbox_depth"), depth as f64);
    assert_eq!(value("pharmacy_whatsapp_connected"), 0.0);
    assert_eq!(value("pharmacy_whatsapp_state{state=\"unpaired\"}"), 1.0);
    assert_eq!(value("pharmacy_whatsapp_state{state=\"connected\"}"), 0.0);
    assert!(value("pharmacy_messages_in_total") >= 0.0);
    assert!(value("pharmacy_messages_out_total") >= 0.0);
    for kind in [
        "# TYPE pharmacy_messages_in_total counter",
        "# TYPE pharmacy_messages_out_total counter",
        "# TYPE pharmacy_outbox_depth gauge",
        "# TYPE pharmacy_receive_to_agent_seconds histogram",
    ] {
        assert!(text.contains(kind), "{kind}:\n{text}");
    }
    // The histogram is cumulative and ends with +Inf = count.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("pharmacy_receive_to_agent_seconds_bucket"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(text.contains("pharmacy_receive_to_agent_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(
        *buckets.last().unwrap(),
        value("pharmacy_receive_to_agent_seconds_count")
    );
}

/// Through the real client and a sim: a customer's message counts in (with a latency
/// sample), the agent's answer counts out, and the link gauge shows the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_messages_through_the_real_client() {
    use pharmacy_service::demo::{DemoOptions, PHARMACY_PHONE, start};
    use pharmacy_service::ops::metrics::global;
    let dir = TempDir::new();
    let demo = start(DemoOptions {
        port: 0,
        data_dir: dir.0.clone(),
        traffic: false,
        pair_after: Duration::from_millis(200),
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    assert!(
        demo.bridge
            .wait_for(WAIT, |s| s.state
                == pharmacy_service::http::LinkState::Connected)
            .await,
        "paired"
    );
    let (in0, out0) = (global().messages_in(), global().messages_out());
    demo.sim
        .add_customer("201099900001", "Metrics", 1, false)
        .unwrap();
    demo.sim
        .customer_send(
            "201099900001",
            PHARMACY_PHONE,
            whatsapp_sim::device::Outgoing::Text("hello metrics".into()),
            None,
        )
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    // In: the message; out: the greeting or the branch menu the service answers with.
    while global().messages_in() == in0 || global().messages_out() == out0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "in {} -> {}, out {} -> {}",
            in0,
            global().messages_in(),
            out0,
            global().messages_out()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = http_client::get(&demo.url, "/metrics").await.text();
    assert!(text.contains("pharmacy_whatsapp_connected 1\n"), "{text}");
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("pharmacy_receive_to_agent_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 1, "{text}");
    demo.shutdown().await;
}

#[test]
fn media_retention_deletes_only_files_older_than_the_limit() {
    let dir = TempDir::new();
    let media = dir.0.join("media");
    std::fs::create_dir_all(media.join("ab")).unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let file = |name: &str, age: Duration| {
        let p = media.join(name);
        std::fs::write(&p, b"x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(now - age)
            .unwrap();
        p
    };
    let old = file("ab/old.jpg", 40 * day);
    let old_top = file("old-top.ogg", 31 * day);
    let young = file("ab/young.jpg", 29 * day);
    let fresh = file("fresh.png", Duration::ZERO);
    assert_eq!(sweep(&media, 30 * day, now).unwrap(), 2);
    assert!(!old.exists() && !old_top.exists());
    assert!(young.exists() && fresh.exists());
    assert_eq!(sweep(&media, 30 * day, now).unwrap(), 0, "idempotent");
    assert_eq!(sweep(&dir.0.join("missing"), day, now).unwrap(), 0);
}

#[tokio::test]
async fn one_service_per_data_directory() {
    let dir = TempDir::new();
    let held = InstanceLock::acquire(&dir.0).await.expect("first");
    match InstanceLock::acquire(&dir.0).await {
        Err(LockError::Held { .. }) => {}
        other => panic!("second lock: {other:?}"),
    }
    held.release().await;
    let again = InstanceLock::acquire(&dir.0)
        .await
        .expect("free again once released");
    // Dropped (as when the process ends) it frees the directory too, once sqlx's worker
    // thread has closed the connection.
    drop(again);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match InstanceLock::acquire(&dir.0).await {
            Ok(_) => break,
            Err(LockError::Held { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("after a drop: {other:?}"),
        }
    }
}

async fn count(pool: &sqlx::SqlitePool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_online_and_restore_keeps_or_drops_the_session() {
    let w = World::new().await;
    let data = w._dir.0.clone();
    w.text("201055500002", "BK-1", "before the backup").await;
    let sha = w
        .app
        .store_media(b"prescription", "image/png")
        .await
        .unwrap();
    // A session store next to it (any SQLite file; the real one is whatsapp-client's).
    let session = whatsapp_client::store::SqliteStore::open(data.join("whatsapp-session.db"))
        .await
        .unwrap();
    drop(session);
    let messages = count(w.app.pool(), "messages").await;

    // Online: the service's pool stays open and writing.
    let backups = TempDir::new();
    let set = backups.0.join("set");
    let m = backup(&data, &set).await.expect("backup");
    w.text("201055500002", "BK-2", "after the backup").await;
    let names: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert!(names.contains(&"pharmacy.db"), "{names:?}");
    assert!(names.contains(&"whatsapp-session.db"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("media/") && n.contains(&sha[..8])),
        "{names:?}"
    );
    assert!(set.join("manifest.json").is_file());
    // A second backup into the same folder is refused.
    assert!(matches!(
        backup(&data, &set).await,
        Err(BackupError::TargetNotEmpty(_))
    ));

    // Default: the databases and media come back, the session store does not.
    let target = TempDir::new();
    std::fs::write(target.0.join("pharmacy.db"), b"the old one").unwrap();
    let r = restore(&target.0, &set, false).await.expect("restore");
    assert!(!r.session_restored);
    assert!(r.repair_needed);
    assert!(!target.0.join("whatsapp-session.db").exists());
    let aside = r.moved_aside.expect("the replaced database moved aside");
    assert_eq!(
        std::fs::read(aside.join("pharmacy.db")).unwrap(),
        b"the old one"
    );
    let restored = pharmacy_service::app::App::open(
        &target.0.join("pharmacy.db"),
        std::sync::Arc::new(pharmacy_service::app::SystemClock),
        super::support::config(&target),
    )
    .await
    .unwrap();
    assert_eq!(count(restored.pool(), "messages").await, messages);
    assert!(restored.media_path(&sha).is_file(), "media restored");
    restored.pool().close().await;

    // --keep-session: restored too.
    let target = TempDir::new();
    let r = restore(&target.0, &set, true).await.unwrap();
    assert!(r.session_restored && !r.repair_needed);
    assert!(target.0.join("whatsapp-session.db").is_file());

    // Refused while a service holds the data directory.
    let running = TempDir::new();
    let lock = InstanceLock::acquire(&running.0).await.unwrap();
    assert!(matches!(
        restore(&running.0, &set, false).await,
        Err(BackupError::Running(_))
    ));
    drop(lock);
    assert!(!running.0.join("pharmacy.db").exists());

    // A damaged backup is refused before anything is touched.
    let media_file = m
        .files
        .iter()
        .find(|f| f.path.starts_with("media/"))
        .unwrap();
    let p = set.join(&media_file.path);
    std::fs::write(&p, b"tampered").unwrap();
    let target = TempDir::new();
    match restore(&target.0, &set, false).await {
        Err(BackupError::Corrupt { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(!target.0.join("pharmacy.db").exists());
    // No manifest: not a backup.
    std::fs::remove_file(set.join("manifest.json")).unwrap();
    assert!(matches!(
        restore(&target.0, &set, false).await,
        Err(BackupError::BadManifest { .. })
    ));
}

/// Runs `pharmacy-service COMMAND FLAG PATH` on the data directory `data`.
#[cfg(unix)]
fn on_data(dir: &Path, data: &Path, cmd: &str, flag: &str, path: &Path) -> std::process::Output {
    command(dir)
        .args([cmd, flag])
        .arg(path)
        .env("PHARMACY_DATA_DIR", data)
        .output()
        .unwrap()
}

/// `serve` as a process: JSON logs, `/readyz` with the link state, a second `serve` and a
/// `restore` refused while it runs, an online `backup`, and SIGTERM stops it cleanly.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_process_readyz_lock_backup_and_sigterm() {
    let sim = whatsapp_sim::Sim::start(whatsapp_sim::SimConfig::default())
        .await
        .expect("sim");
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let mut child = command(&dir.0)
        .args([
            "serve",
            "--port",
            "0",
            "--log-json",
            "--wa-url",
            &sim.ws_url,
        ])
        .args(["--trust-root", &sim.root_key_hex()])
        .env("PHARMACY_DATA_DIR", &data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::task::spawn_blocking(move || lines.next())
        .await
        .unwrap()
        .expect("a start line")
        .expect("readable");
    let line: Value = serde_json::from_str(&first).expect("JSON start line");
    let url = line["url"].as_str().unwrap().to_owned();
    assert!(line["admin"]["password"].is_string(), "first run: {line}");

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = http_client::get(&url, "/readyz").await.text();
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        if v["status"] == "ready" && v["checks"]["whatsapp"]["state"] == "unpaired" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A second service on the same data directory refuses to start.
    let out = command(&dir.0)
        .args(["serve", "--port", "0", "--wa-url", "ws://127.0.0.1:9/ws"])
        .env("PHARMACY_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another pharmacy-service"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Backup works online; restore refuses.
    let set = dir.0.join("backup-1");
    let out = on_data(&dir.0, &data, "backup", "--to", &set);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        manifest["files"].as_array().is_some_and(|f| f.len() >= 2),
        "{manifest}"
    );
    let out = on_data(&dir.0, &data, "restore", "--from", &set);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop the service first"), "{err}");
    assert!(err.contains("NOT restored"), "the session warning: {err}");

    // SIGTERM: a clean stop.
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let logs = logs.join().unwrap();
    let json: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(json.len(), logs.len(), "every log line is JSON: {logs:?}");
    let said = |m: &str| json.iter().any(|v| v["fields"]["message"] == m);
    assert!(said("serving") && said("stopped"), "{logs:?}");

    // Stopped: restore goes through.
    let out = on_data(&dir.0, &data, "restore", "--from", &set);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.shutdown();
}
