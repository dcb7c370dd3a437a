//! pharmacy-service: Khalifa Pharmacies' conversation-management system.
//!
//! For now: `pharmacy-service migrate --data-dir D` creates or upgrades the database and
//! `pharmacy-service seed --data-dir D` adds the demo branches, templates and logins.

use anyhow::{Context, bail};
use pharmacy_service::app::{App, SeedOptions, ServiceConfig, SystemClock};
use std::path::PathBuf;
use std::sync::Arc;

const USAGE: &str = "usage: pharmacy-service <migrate|seed> [--data-dir DIR]";

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
    while let Some(a) = args.next() {
        match a.as_str() {
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
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
