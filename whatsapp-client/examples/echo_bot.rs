//! Answers every text message with the same text; pairs by QR code first if needed.
//!
//! ```text
//! cargo run -p whatsapp-client --example echo_bot -- [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! The raw QR string is printed on a line of its own on stdout; logs go to stderr.

use std::sync::Arc;

use anyhow::{Context, bail};
use whatsapp_client::store::SqliteStore;
use whatsapp_client::{Client, Config, Event};

fn options() -> anyhow::Result<(Config, String)> {
    let mut config = Config::default();
    let mut store = "whatsapp-session.db".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => config = config.with_url(value()?),
            "--trust-root" => {
                let root = Config::parse_trust_root(&value()?)
                    .context("--trust-root takes 64 hex digits (or 66 with the 05 prefix)")?;
                config = config.with_trust_root(root);
            }
            "--store" => store = value()?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok((config, store))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (config, path) = options()?;
    let store = Arc::new(SqliteStore::open(&path).await?);
    let (client, mut events) = Client::start(store, config).await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr(qr) => println!("{}", qr.data),
            Event::Connected => eprintln!("connected as {:?}", client.jid()),
            Event::Message(mut message) => {
                if !message.info.from_me
                    && let Some(text) = message.text().map(str::to_owned)
                {
                    // Answer first: if the reply fails, the message is not acked and comes back.
                    match client.send_text(&message.info.chat, &text).await {
                        Ok(id) => tracing::info!(%id, to = %message.info.chat, "echoed"),
                        Err(e) => {
                            tracing::warn!(error = %e, "reply failed");
                            continue;
                        }
                    }
                }
                message.ack();
            }
            Event::Stopped => break,
            other => tracing::debug!(?other, "event"),
        }
    }
    Ok(())
}
