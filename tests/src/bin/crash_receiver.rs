//! The process the crash test kills: a paired whatsapp-client on a SQLite store, whose handler
//! commits every message to its own SQLite table keyed by message id (a redelivery only counts
//! up `deliveries`) and acknowledges it after that commit.
//!
//! ```text
//! crash_receiver --url ws://127.0.0.1:PORT/ws/chat --trust-root HEX --store session.db --inbox inbox.db
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use whatsapp_client::store::SqliteStore;
use whatsapp_client::{Client, Config, Event};

struct Args {
    url: String,
    trust_root: [u8; 32],
    store: PathBuf,
    inbox: PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let mut url = None;
    let mut trust_root = None;
    let mut store = None;
    let mut inbox = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--trust-root" => {
                let bytes = hex::decode(&value).context("--trust-root is not hex")?;
                trust_root = Some(
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .ok()
                        .context("--trust-root is not 32 bytes")?,
                );
            }
            "--store" => store = Some(PathBuf::from(value)),
            "--inbox" => inbox = Some(PathBuf::from(value)),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        url: url.context("--url is required")?,
        trust_root: trust_root.context("--trust-root is required")?,
        store: store.context("--store is required")?,
        inbox: inbox.context("--inbox is required")?,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let inbox = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&args.inbox)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
        )
        .await
        .context("inbox database")?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS received (id TEXT PRIMARY KEY, sender TEXT NOT NULL, \
         text TEXT, deliveries INTEGER NOT NULL)",
    )
    .execute(&inbox)
    .await?;
    let store = Arc::new(SqliteStore::open(&args.store).await.context("store")?);
    let config = Config::default()
        .with_url(args.url)
        .with_trust_root(args.trust_root);
    let (_client, mut events) = Client::start(store, config).await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Message(mut message) => {
                sqlx::query(
                    "INSERT INTO received (id, sender, text, deliveries) VALUES (?, ?, ?, 1) \
                     ON CONFLICT (id) DO UPDATE SET deliveries = deliveries + 1",
                )
                .bind(&message.info.id)
                .bind(message.info.sender.to_non_ad().to_string())
                .bind(message.text())
                .execute(&inbox)
                .await?;
                message.ack();
            }
            Event::Connected => println!("connected"),
            Event::Qr(_) | Event::LoggedOut { .. } => bail!("the store is not paired"),
            Event::Stopped => break,
            _ => {}
        }
    }
    Ok(())
}
