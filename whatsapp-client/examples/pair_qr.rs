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

use whatsapp_client::Event;

#[path = "support/client_options.rs"]
mod client_options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options = client_options::options(&["--phone"], &[])?;
    let (client, mut events) = client_options::start(&options).await?;
    let mut phone = options.value("--phone").map(str::to_owned);
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
