//! `whatsapp-sim [serve] [--port P] [--control-port C] [--root-key-seed HEX64]`
//!
//! Prints one JSON line on stdout, `{"ws_url", "control_url", "root_key"}`, then serves until
//! interrupted. Logs go to stderr (`RUST_LOG`, default `info`).

use anyhow::{Context, bail};
use whatsapp_sim::{Sim, SimConfig};

fn parse_args() -> anyhow::Result<SimConfig> {
    let mut config = SimConfig::default();
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("serve") {
        args.next();
    }
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => config.ws_port = value()?.parse().context("--port")?,
            "--control-port" => {
                config.control_port = Some(value()?.parse().context("--control-port")?)
            }
            "--root-key-seed" => {
                let bytes = hex::decode(value()?).context("--root-key-seed is hex")?;
                let key: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("--root-key-seed must be 32 bytes"))?;
                config.root_private_key = Some(key);
            }
            "-h" | "--help" => {
                println!(
                    "whatsapp-sim [serve] [--port P] [--control-port C] [--root-key-seed HEX64]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = parse_args()?;
    let sim = Sim::start(config).await?;
    println!(
        "{}",
        serde_json::json!({
            "ws_url": sim.ws_url,
            "control_url": sim.control_url,
            "root_key": sim.root_key_hex(),
        })
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    sim.shutdown();
    Ok(())
}
