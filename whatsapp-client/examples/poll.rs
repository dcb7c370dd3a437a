//! Sends a poll to a chat, then prints the tally each time a vote arrives; pairs by QR code
//! first if needed.
//!
//! ```text
//! cargo run -p whatsapp-client --example poll -- --to PHONE|JID --question TEXT
//!     --option A --option B [--option ...] [--multi] [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! Prints `poll <id>` once sent, then after each vote `vote <voter> <options>` and
//! `tally A=1 B=0 ...` (a voter's latest vote counts, as in WhatsApp; an empty vote withdraws
//! it). Single choice unless `--multi`. Runs until interrupted. Logs go to stderr.

use std::collections::BTreeMap;

use anyhow::bail;
use whatsapp_client::Event;

#[path = "support/client_options.rs"]
mod client_options;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options = client_options::options(&["--to", "--question", "--option"], &["--multi"])?;
    let to = client_options::recipient(options.required("--to")?)?;
    let question = options.required("--question")?;
    let choices = options.values("--option");
    if choices.len() < 2 {
        bail!("give at least two --option");
    }
    // 1: one choice; 0: any number of them (whatsmeow `BuildPollCreation`).
    let selectable = if options.switch("--multi") { 0 } else { 1 };

    let (client, mut events) = client_options::start(&options).await?;
    client_options::online(&mut events).await?;
    let poll = client.poll_creation(question, &choices, selectable);
    let poll_id = client.send_message(&to, poll).await?;
    println!("poll {poll_id}");

    // Voter -> the options of their latest vote.
    let mut votes: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::PollVote(mut vote) if vote.poll_id == poll_id => {
                let chosen: Vec<&str> = choices
                    .iter()
                    .copied()
                    .filter(|c| vote.selects(c))
                    .collect();
                let voter = vote.info.sender.to_non_ad().to_string();
                println!("vote {voter} {}", chosen.join(","));
                votes.insert(voter, chosen);
                let tally: Vec<String> = choices
                    .iter()
                    .map(|c| {
                        let n = votes.values().filter(|v| v.contains(c)).count();
                        format!("{c}={n}")
                    })
                    .collect();
                println!("tally {}", tally.join(" "));
                vote.ack();
            }
            Event::PollVote(mut vote) => vote.ack(),
            Event::Message(mut message) => message.ack(),
            Event::Stopped => break,
            other => tracing::debug!(?other, "event"),
        }
    }
    Ok(())
}
