//! Pairs a device by QR code (or by phone code with `--phone`) and stays connected.
//!
//! ```text
//! cargo run -p whatsapp-client --example pair_qr -- [--url URL] [--trust-root HEX] [--store PATH] [--phone DIGITS]
//! ```
//!
//! Each QR code is printed to stdout as a terminal drawing followed by the raw QR string on a
//! line of its own; with `--phone` the pairing code (`ABCD-EFGH`) to type on the phone is
//! printed on a line of its own as well. Logs go to stderr. A stored, paired device logs in without a QR code; one
//! the server has logged out is wiped and pairing starts again.

use std::sync::Arc;

use anyhow::{Context, bail};
use whatsapp_client::store::SqliteStore;
use whatsapp_client::{Client, Config, Event};

/// Command-line options shared by the examples.
struct Options {
    url: Option<String>,
    trust_root: Option<[u8; 32]>,
    store: String,
    phone: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        url: None,
        trust_root: None,
        store: "whatsapp-session.db".into(),
        phone: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => options.url = Some(value()?),
            "--trust-root" => {
                let hex = value()?;
                options.trust_root = Some(
                    Config::parse_trust_root(&hex)
                        .context("--trust-root takes 64 hex digits (or 66 with the 05 prefix)")?,
                );
            }
            "--store" => options.store = value()?,
            "--phone" => options.phone = Some(value()?),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let options = options()?;
    let mut config = Config::default();
    if let Some(url) = options.url {
        config = config.with_url(url);
    }
    if let Some(root) = options.trust_root {
        config = config.with_trust_root(root);
    }
    let store = Arc::new(SqliteStore::open(&options.store).await?);
    let (client, mut events) = Client::start(store, config).await?;
    let mut phone = options.phone;
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr(qr) => {
                println!("{}", qr.render_terminal()?);
                println!("{}", qr.data);
                // The registration connection is up: ask for a phone code once.
                if let Some(phone) = phone.take() {
                    let code = client.pair_phone(&phone).await?;
                    println!("{code}");
                }
            }
            Event::PairSuccess { jid, .. } => eprintln!("paired as {jid}"),
            Event::Connected => eprintln!("connected as {:?}", client.jid()),
            Event::Message(mut message) => message.ack(),
            Event::Stopped => break,
            other => tracing::info!(?other, "event"),
        }
    }
    Ok(())
}
