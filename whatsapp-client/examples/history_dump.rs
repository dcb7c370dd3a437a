//! Pairs a new device by QR code and prints the chat history the phone sends it, one JSON
//! object a line: `{"chat":…,"id":…,"timestamp":…,"from_me":…,"sender":…,"text":…}`.
//!
//! ```text
//! cargo run -p whatsapp-client --example history_dump -- [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! The phone sends its history once, right after pairing: start with a new `--store`. QR
//! strings are printed on a line of their own, history lines follow as chunks arrive; messages
//! without text have `"text":null`. Runs until interrupted. Logs go to stderr.

use whatsapp_client::{Event, message_text};

#[path = "support/client_options.rs"]
mod client_options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options = client_options::options(&[], &[])?;
    let (_client, mut events) = client_options::start(&options).await?;
    while let Some(event) = events.recv().await {
        match event {
            Event::Qr(qr) => println!("{}", qr.data),
            Event::HistorySync(batch) => {
                for conversation in &batch.conversations {
                    for m in &conversation.messages {
                        let line = serde_json::json!({
                            "chat": conversation.chat.to_string(),
                            "id": m.info.id,
                            "timestamp": m.info.timestamp,
                            "from_me": m.info.from_me,
                            "sender": m.info.sender.to_string(),
                            "text": m.message.as_ref().and_then(message_text),
                        });
                        println!("{line}");
                    }
                }
            }
            Event::Message(mut message) => message.ack(),
            Event::Stopped => break,
            other => tracing::debug!(?other, "event"),
        }
    }
    Ok(())
}
