//! Pairs a device with a phone code ("link with phone number") and stays connected.
//!
//! ```text
//! cargo run -p whatsapp-client --example pair_code -- --phone DIGITS [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! Prints the pairing code (`ABCD-EFGH`) to type on the phone on a line of its own on stdout;
//! logs go to stderr. A stored, paired device logs in without pairing; one the server has
//! logged out is wiped and pairing starts again.

use whatsapp_client::Event;

#[path = "support/client_options.rs"]
mod client_options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options = client_options::options(&["--phone"], &[])?;
    let mut phone = Some(options.required("--phone")?.to_owned());
    let (client, mut events) = client_options::start(&options).await?;
    while let Some(event) = events.recv().await {
        match event {
            // A QR code means the registration connection is up: ask for a code instead, once.
            Event::Qr(_) => {
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
