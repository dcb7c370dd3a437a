//! Answers every text message with the same text; pairs by QR code first if needed.
//!
//! ```text
//! cargo run -p whatsapp-client --example echo_bot -- [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! The raw QR string is printed on a line of its own on stdout; logs go to stderr.

use whatsapp_client::Event;

#[path = "support/client_options.rs"]
mod client_options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options = client_options::options(&[], &[])?;
    let (client, mut events) = client_options::start(&options).await?;
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
