//! pharmacy-service: Khalifa Pharmacies' conversation-management system.
//!
//! `serve` (the default) runs it for real (the real WhatsApp, or any server given by
//! `--wa-url URL --trust-root HEX`); `demo` runs the whole system against an embedded
//! whatsapp-sim with simulated customers and agents (see `pharmacy_service::demo`; builds with
//! the default `demo` feature only); `migrate`
//! creates or upgrades the database; `seed` adds the demo branches, templates and logins;
//! `import-django` imports the old system; `backup` / `restore` copy a data directory;
//! `show-config` prints the effective configuration. Configuration: flags > `PHARMACY_*`
//! environment > TOML file > defaults (`pharmacy_service::ops::config`).

use anyhow::Context;
use clap::Parser;
use pharmacy_service::app::{SeedOptions, SystemClock};
#[cfg(feature = "demo")]
use pharmacy_service::ops::config::DemoArgs;
use pharmacy_service::ops::config::{
    BackupArgs, Cli, Command, CommonArgs, ImportArgs, RestoreArgs, SESSION_FILE, Settings,
};
use pharmacy_service::startup::service::{Service, open_app, service_config};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a stop waits for open HTTP connections (live sockets) before closing them.
const DRAIN: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Before any file exists: databases, media and backups are the service account's only.
    pharmacy_service::ops::permissions::private_umask();
    let cli = Cli::parse();
    // No command is `serve`, parsed so that its environment variables apply.
    let command = match cli.command {
        Some(c) => c,
        None => Cli::parse_from(["pharmacy-service", "serve"])
            .command
            .context("serve")?,
    };
    // The configured worker count (`worker_threads`), or the machine's parallelism.
    let workers = command.worker_threads()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(command, started))
}

async fn run(command: Command, started: std::time::Instant) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let s = Settings::load(&args)?;
            init_logs(s.log_json, &s.log);
            serve(s, started).await
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => {
            init_logs(args.log_json, "info");
            demo(args).await
        }
        Command::Migrate(args) => {
            let s = common(&args)?;
            let db = s.db_path();
            open_app(&s).await?;
            eprintln!("database ready at {}", db.display());
            Ok(())
        }
        Command::Seed(args) => {
            let app = open_app(&common(&args)?).await?;
            let creds = app.seed_demo(&SeedOptions::default()).await?;
            println!("{}", serde_json::to_string(&creds)?);
            Ok(())
        }
        Command::ImportDjango(args) => import_django(args).await,
        Command::Backup(args) => backup(args).await,
        Command::Restore(args) => restore(args).await,
        Command::ShowConfig(args) => {
            let s = Settings::load(&args)?;
            println!("{}", s.to_json());
            Ok(())
        }
    }
}

/// Logs on stderr: human-readable, or one JSON object per line. `RUST_LOG` overrides the
/// configured filter.
fn init_logs(json: bool, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Settings for the commands that take only the common flags; initialises the logs.
fn common(args: &CommonArgs) -> anyhow::Result<Settings> {
    let s = args.settings()?;
    init_logs(s.log_json, &s.log);
    Ok(s)
}

/// `serve`: the HTTP API on `bind:port` (port 0 = a free one). The first stdout line is one
/// JSON object for scripts; logs go to stderr. On first run (no users) an admin is created
/// with the configured password or a random one, printed in that line. Ctrl-C or SIGTERM:
/// stop accepting, let open requests finish (at most [`DRAIN`]), finish the send in progress,
/// close the WhatsApp socket cleanly.
async fn serve(s: Settings, started: std::time::Instant) -> anyhow::Result<()> {
    let mut service = Service::start(&s).await?;
    let line = serde_json::json!({
        "url": service.url,
        "admin": service.admin.as_ref().map(|(u, p)| serde_json::json!({ "username": u, "password": p })),
        "agents": [],
    });
    println!("{line}");
    tracing::info!(
        url = %service.url,
        workers = s.worker_threads,
        start_ms = started.elapsed().as_millis() as u64,
        "serving"
    );
    let ended = tokio::select! {
        r = service.http.finished() => Some(r),
        () = pharmacy_service::ops::shutdown::signal() => None,
    };
    service.shutdown(DRAIN).await;
    if let Some(r) = ended {
        r.context("the HTTP server")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `demo`: the embedded sim, the service, pairing, simulated customers and agents. The first
/// stdout line is the JSON start line; Ctrl-C or SIGTERM stops everything cleanly.
#[cfg(feature = "demo")]
async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let demo = pharmacy_service::demo::start(pharmacy_service::demo::DemoOptions {
        port: args.port,
        data_dir: args.data_dir,
        manual_pair: args.manual_pair,
        ..Default::default()
    })
    .await
    .context("starting the demo")?;
    println!("{}", demo.start_line);
    eprintln!(
        "demo: open {} and sign in as {} / {} (agents: see the first stdout line); Ctrl-C stops",
        demo.url, demo.credentials.admin.0, demo.credentials.admin.1
    );
    pharmacy_service::ops::shutdown::signal().await;
    tracing::info!("stopping");
    demo.shutdown().await;
    Ok(())
}

/// `import-django` (issue 13): imports the Django system's database into `DIR/pharmacy.db` in
/// one transaction (a dry run writes nothing, not even the data directory). The report goes to
/// stdout as JSON and to stderr as a summary.
async fn import_django(args: ImportArgs) -> anyhow::Result<()> {
    let s = common(&args.common)?;
    let opts = pharmacy_service::import::ImportOptions {
        media_dir: args.media_dir,
        dry_run: args.dry_run,
        source_time_zone: args.source_tz,
        ..pharmacy_service::import::ImportOptions::new(args.from)
    };
    let report = pharmacy_service::import::run(
        &s.db_path(),
        service_config(&s),
        Arc::new(SystemClock),
        &opts,
    )
    .await
    .context("import-django")?;
    eprint!("{}", report.human_summary());
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `backup --to DIR`: an online copy of both databases and the media; the manifest goes to
/// stdout as JSON.
async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let s = common(&args.common)?;
    let m = pharmacy_service::ops::backup::backup(&s.data_dir, &args.to)
        .await
        .context("backup")?;
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    eprintln!(
        "backup of {} written to {}: {} files, {} bytes",
        s.data_dir.display(),
        args.to.display(),
        m.files.len(),
        bytes
    );
    for f in &m.damaged {
        eprintln!("warning: {f} is damaged (its SHA-256 does not match its name)");
    }
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

/// `restore --from DIR [--keep-session]`: refuses while the service runs; says what happens to
/// the WhatsApp session.
async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let s = common(&args.common)?;
    if backup_has_session(&args.from) {
        if args.keep_session {
            eprintln!(
                "warning: restoring the backup's WhatsApp session store. If the number sent or \
                 received anything since the backup, its encryption sessions are stale and chats \
                 will fail to decrypt: pair again (admin page) if that happens."
            );
        } else {
            eprintln!(
                "note: the backup's WhatsApp session store is NOT restored (an old one breaks live \
                 encryption sessions). The session store already in {} is kept; without one, pair \
                 the number again from the admin page. --keep-session restores it anyway.",
                s.data_dir.display()
            );
        }
    }
    let report = pharmacy_service::ops::backup::restore(&s.data_dir, &args.from, args.keep_session)
        .await
        .context("restore")?;
    if let Some(aside) = &report.moved_aside {
        eprintln!("the replaced databases are in {}", aside.display());
    }
    if report.repair_needed {
        eprintln!("no WhatsApp session now: after starting the service, pair the number again");
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn backup_has_session(from: &Path) -> bool {
    pharmacy_service::ops::backup::read_manifest(from)
        .is_ok_and(|m| m.files.iter().any(|f| f.path == SESSION_FILE))
}
