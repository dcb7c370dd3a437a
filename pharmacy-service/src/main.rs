//! pharmacy-service: Khalifa Pharmacies' conversation-management system.
//!
//! For now: `pharmacy-service migrate --data-dir D` creates or upgrades the database and
//! `pharmacy-service seed --data-dir D` adds the demo branches, templates and logins.

use anyhow::{Context, bail};
use pharmacy_service::app::{App, SeedOptions, ServiceConfig, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str = "usage: pharmacy-service <migrate|seed|serve> [--data-dir DIR] [--port P]";

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
    let mut port: u16 = 8080;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().context("--port needs a value")?.parse()?,
            "--data-dir" => {
                data_dir = PathBuf::from(args.next().context("--data-dir needs a value")?)
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
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
        "serve" => serve(app, port).await?,
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

/// `serve`: the HTTP API on 127.0.0.1:`port` (0 = a free port). The first stdout line is one
/// JSON object for scripts; logs go to stderr. On first run (no users) an admin is created
/// with the password from `PHARMACY_ADMIN_PASSWORD` or a random one, printed in that line.
async fn serve(app: App, port: u16) -> anyhow::Result<()> {
    use pharmacy_service::http::{AppState, FakeWhatsapp, HttpConfig};
    let admin = pharmacy_service::http::first_run_admin(&app).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    let _jobs = app.spawn_scheduler(std::time::Duration::from_secs(30));
    // Until the WhatsApp bridge is wired in here, the link is the in-memory fake.
    let state = AppState::new(app, Arc::new(FakeWhatsapp::default()), HttpConfig::default());
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
    Ok(())
}
