//! pharmacy-service: Khalifa Pharmacies' conversation-management system.
//!
//! `pharmacy-service demo [--port P] [--data-dir D] [--manual-pair]` runs the whole system
//! against an embedded whatsapp-sim with simulated customers and agents (see
//! `pharmacy_service::demo`); `serve` runs it for real (the real WhatsApp, or any server given
//! by `--whatsapp-url URL --trust-root HEX`); `migrate` creates or upgrades the database;
//! `seed` adds the demo branches, templates and logins; `import-django` imports the old system.

use anyhow::{Context, bail};
use pharmacy_service::app::{App, SeedOptions, ServiceConfig, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str = "usage: pharmacy-service <migrate|seed|serve|demo> [--data-dir DIR] [--port P] [--whatsapp-url URL --trust-root HEX] [--manual-pair]";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let mut data_dir = PathBuf::from("data");
    let mut data_dir_given = false;
    let mut port: u16 = 8080;
    let mut import = pharmacy_service::import::ImportOptions::new("");
    let mut wa = WhatsappArgs::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().context("--port needs a value")?.parse()?,
            "--data-dir" => {
                data_dir = PathBuf::from(args.next().context("--data-dir needs a value")?);
                data_dir_given = true;
            }
            // import-django (issue 13)
            "--from" => import.source = PathBuf::from(args.next().context("--from needs a path")?),
            "--media-dir" => {
                import.media_dir = Some(PathBuf::from(
                    args.next().context("--media-dir needs a path")?,
                ))
            }
            "--dry-run" => import.dry_run = true,
            // serve / demo (issue 12)
            "--whatsapp-url" | "--wa-url" => {
                wa.url = Some(args.next().context("--whatsapp-url needs a URL")?)
            }
            "--trust-root" => wa.trust_root = Some(args.next().context("--trust-root needs HEX")?),
            "--media-url" => wa.media_url = Some(args.next().context("--media-url needs a URL")?),
            "--manual-pair" => wa.manual_pair = true,
            "--source-tz" => {
                import.source_time_zone = args.next().context("--source-tz needs a zone")?
            }
            other => bail!("unknown argument {other}\n{USAGE}\n{IMPORT_USAGE}"),
        }
    }
    if command == "import-django" {
        return import_django(&data_dir, import).await;
    }
    if command == "demo" {
        // Never the production data directory by accident: the demo resets passwords.
        if !data_dir_given {
            data_dir = PathBuf::from("demo-data");
        }
        return demo(port, data_dir, wa.manual_pair).await;
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let config = ServiceConfig {
        media_dir: data_dir.join("media"),
        ..ServiceConfig::default()
    };
    let db_path = data_dir.join("pharmacy.db");
    let app = App::open(&db_path, Arc::new(SystemClock), config)
        .await
        .context("opening the database")?;
    match command.as_str() {
        "migrate" => eprintln!("database ready at {}", db_path.display()),
        "seed" => {
            let creds = app.seed_demo(&SeedOptions::default()).await?;
            println!("{}", serde_json::to_string(&creds)?);
        }
        "serve" => serve(app, port, &data_dir, wa).await?,
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

/// `serve`: the HTTP API on 127.0.0.1:`port` (0 = a free port). The first stdout line is one
/// JSON object for scripts; logs go to stderr. On first run (no users) an admin is created
/// with the password from `PHARMACY_ADMIN_PASSWORD` or a random one, printed in that line.
async fn serve(
    app: App,
    port: u16,
    data_dir: &std::path::Path,
    wa: WhatsappArgs,
) -> anyhow::Result<()> {
    use pharmacy_service::http::{AppState, HttpConfig};
    let admin = pharmacy_service::http::first_run_admin(&app).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    let _jobs = app.spawn_scheduler(std::time::Duration::from_secs(30));
    let bridge = start_whatsapp(&app, data_dir, &wa).await?;
    let (stop_outbox, outbox_stop) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(
        pharmacy_service::whatsapp::OutboxWorker::new(app.clone(), bridge.clone(), rand_seed())
            .run(outbox_stop),
    );
    let config = HttpConfig {
        // Other gateways may post signed messages to /api/messages/receive.
        ingest_secret: std::env::var("PHARMACY_INGEST_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes),
        secure_cookies: std::env::var("PHARMACY_SECURE_COOKIES").is_ok_and(|v| v == "1"),
        ..HttpConfig::default()
    };
    let state = AppState::new(app, bridge.clone(), config);
    let line = serde_json::json!({
        "url": format!("http://{addr}"),
        "admin": admin.map(|(u, p)| serde_json::json!({ "username": u, "password": p })),
        "agents": [],
    });
    println!("{line}");
    tracing::info!(%addr, "serving");
    pharmacy_service::http::serve_until(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // Finish the send in progress, then close the WhatsApp socket cleanly.
    let _ = stop_outbox.send(true);
    let _ = outbox.await;
    bridge.shutdown().await;
    Ok(())
}

/// WhatsApp flags of `serve` and `demo`.
#[derive(Debug, Default)]
struct WhatsappArgs {
    /// `--whatsapp-url`: a WhatsApp-compatible server (a whatsapp-sim); default the real one.
    url: Option<String>,
    /// `--trust-root`: that server's certificate root (64 hex digits).
    trust_root: Option<String>,
    /// `--media-url`: where media downloads go (a sim serves them itself).
    media_url: Option<String>,
    /// `--manual-pair` (demo).
    manual_pair: bool,
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The real WhatsApp client over `DIR/whatsapp-session.db`, bridged to the app.
async fn start_whatsapp(
    app: &App,
    data_dir: &std::path::Path,
    wa: &WhatsappArgs,
) -> anyhow::Result<Arc<pharmacy_service::whatsapp::bridge::WhatsappBridge>> {
    let mut config = whatsapp_client::Config::default();
    if let Some(url) = &wa.url {
        config = config.with_url(url.clone());
        if wa.media_url.is_none()
            && let Some(rest) = url.strip_prefix("ws://")
        {
            // A sim serves media over plain HTTP on its WebSocket port.
            let host = rest.split('/').next().unwrap_or(rest);
            config.media_base_url = Some(format!("http://{host}"));
        }
    }
    if let Some(hex) = &wa.trust_root {
        let root = whatsapp_client::Config::parse_trust_root(hex)
            .context("--trust-root takes 64 hex digits (or 66 with the 05 prefix)")?;
        config = config.with_trust_root(root);
    }
    if let Some(m) = &wa.media_url {
        config.media_base_url = Some(m.clone());
    }
    let store = whatsapp_client::store::SqliteStore::open(data_dir.join("whatsapp-session.db"))
        .await
        .context("opening the WhatsApp session store")?;
    let bridge = pharmacy_service::whatsapp::bridge::WhatsappBridge::start(
        app.clone(),
        Arc::new(store),
        config,
    )
    .await
    .context("starting the WhatsApp client")?;
    Ok(bridge)
}

/// `demo`: the embedded sim, the service, pairing, simulated customers and agents. The first
/// stdout line is the JSON start line; Ctrl-C stops everything cleanly.
async fn demo(port: u16, data_dir: PathBuf, manual_pair: bool) -> anyhow::Result<()> {
    let demo = pharmacy_service::demo::start(pharmacy_service::demo::DemoOptions {
        port,
        data_dir,
        manual_pair,
        ..Default::default()
    })
    .await
    .context("starting the demo")?;
    println!("{}", demo.start_line);
    eprintln!(
        "demo: open {} and sign in as {} / {} (agents: see the first stdout line); Ctrl-C stops",
        demo.url, demo.credentials.admin.0, demo.credentials.admin.1
    );
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("stopping");
    demo.shutdown().await;
    Ok(())
}

const IMPORT_USAGE: &str = "usage: pharmacy-service import-django --from PATH/db.sqlite3 [--dry-run] [--media-dir DJANGO_MEDIA_ROOT] [--source-tz ZONE] [--data-dir DIR]";

/// `import-django` (issue 13): imports the Django system's database into `DIR/pharmacy.db` in
/// one transaction (a dry run writes nothing, not even the data directory). The report goes to
/// stdout as JSON and to stderr as a summary.
async fn import_django(
    data_dir: &std::path::Path,
    opts: pharmacy_service::import::ImportOptions,
) -> anyhow::Result<()> {
    if opts.source.as_os_str().is_empty() {
        bail!("import-django needs --from\n{IMPORT_USAGE}");
    }
    let config = ServiceConfig {
        media_dir: data_dir.join("media"),
        ..ServiceConfig::default()
    };
    let report = pharmacy_service::import::run(
        &data_dir.join("pharmacy.db"),
        config,
        Arc::new(SystemClock),
        &opts,
    )
    .await
    .context("import-django")?;
    eprint!("{}", report.human_summary());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
