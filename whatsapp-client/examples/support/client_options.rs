//! Command-line options shared by the examples: `--url URL`, `--trust-root HEX` (64 hex
//! digits, or 66 with the 05 prefix), `--store PATH`, and each example's own flags; the
//! client configuration they imply; and the pairing step every example starts with.
#![allow(dead_code)] // each example uses part of this module

use std::sync::Arc;

use anyhow::{Context, bail};
use whatsapp_client::store::SqliteStore;
use whatsapp_client::{Client, Config, Event, EventStream};

/// Command-line options shared by the examples.
pub struct Options {
    pub url: Option<String>,
    pub trust_root: Option<[u8; 32]>,
    pub store: String,
    /// The example's own flags, as `(name, value)`; a flag without a value has `""`.
    own: Vec<(String, String)>,
}

impl Options {
    /// The last value of `--name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.own
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `--name`, which the example needs.
    pub fn required(&self, name: &str) -> anyhow::Result<&str> {
        self.value(name)
            .with_context(|| format!("{name} is required"))
    }

    /// Every value of a repeated `--name`, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.own
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the switch `--name` was given.
    pub fn switch(&self, name: &str) -> bool {
        self.own.iter().any(|(n, _)| n == name)
    }
}

/// Parses the process arguments: the shared flags, then the example's own, `with_value`
/// naming those that take a value and `switches` those that do not.
pub fn options(with_value: &[&str], switches: &[&str]) -> anyhow::Result<Options> {
    let mut options = Options {
        url: None,
        trust_root: None,
        store: "whatsapp-session.db".into(),
        own: Vec::new(),
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
            own if with_value.contains(&own) => {
                let v = value()?;
                options.own.push((arg, v));
            }
            own if switches.contains(&own) => options.own.push((arg, String::new())),
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(options)
}

/// The client configuration for these options.
pub fn config(options: &Options) -> Config {
    let mut config = Config::default();
    if let Some(url) = &options.url {
        config = config.with_url(url.clone());
    }
    if let Some(root) = options.trust_root {
        config = config.with_trust_root(root);
    }
    config
}

/// Opens the store and starts the client.
pub async fn start(options: &Options) -> anyhow::Result<(Client, EventStream)> {
    let store = Arc::new(SqliteStore::open(&options.store).await?);
    Ok(Client::start(store, config(options)).await?)
}

/// Waits until the client is online and the server has delivered what it kept while the
/// device was offline ([`Event::OfflineSyncCompleted`]): only then is, say, the privacy token
/// of a customer who wrote meanwhile stored, which a first message to them must carry. Prints
/// each QR string on a line of its own on stdout (scan it with the phone: WhatsApp > Linked
/// devices). Events before that are dropped unacknowledged, so the server delivers their
/// messages again.
pub async fn online(events: &mut EventStream) -> anyhow::Result<()> {
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr(qr) => println!("{}", qr.data),
            Event::OfflineSyncCompleted { .. } => return Ok(()),
            Event::Stopped => bail!("the client stopped before it was online"),
            other => tracing::debug!(?other, "event before online"),
        }
    }
    bail!("the client stopped before it was online")
}

/// A phone number or a full JID (`201001234567`, `201001234567@s.whatsapp.net`,
/// `120363000000000000@g.us`).
pub fn recipient(text: &str) -> anyhow::Result<whatsapp_client::Jid> {
    if text.contains('@') {
        text.parse().with_context(|| format!("{text} is not a JID"))
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(whatsapp_client::Jid::user(text))
    } else {
        bail!("{text}: give a phone number in international form without + or a JID")
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}
