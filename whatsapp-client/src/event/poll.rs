//! A poll vote, opened.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;

use super::{AckHandle, MessageInfo};

/// A poll vote, decrypted: which options of which poll the voter now selects (the whole
/// selection; an empty one withdraws the vote).
#[derive(Debug)]
pub struct PollVote {
    /// The vote's message: who voted, where, when.
    pub info: MessageInfo,
    /// The id of the poll creation message voted on.
    pub poll_id: String,
    /// Who sent the poll.
    pub poll_creator: Jid,
    /// SHA-256 of each selected option's name ([`option_hash`]).
    pub selected_hashes: Vec<Vec<u8>>,
    /// The message as received (its `pollUpdateMessage` still sealed).
    pub message: e2e::Message,
    pub(crate) ack: Option<AckHandle>,
}

impl PollVote {
    /// Whether the vote selects the option of this name.
    pub fn selects(&self, option_name: &str) -> bool {
        let hash = option_hash(option_name);
        self.selected_hashes.iter().any(|h| h[..] == hash[..])
    }

    /// When the voter voted (`senderTimestampMs`, unix milliseconds), or the message's
    /// time when the vote does not say: what [`crate::PollTally::add`] orders votes by.
    pub fn sender_timestamp_ms(&self) -> i64 {
        self.message
            .poll_update_message
            .as_ref()
            .and_then(|u| u.sender_timestamp_ms)
            .unwrap_or(self.info.timestamp as i64 * 1000)
    }

    /// Acknowledges the vote once the application stored it (as
    /// [`crate::IncomingMessage::ack`]).
    pub fn ack(&mut self) {
        if let Some(handle) = self.ack.take() {
            handle.send();
        }
    }
}

/// SHA-256 of a poll option's name: what votes carry (whatsmeow `HashPollOptions`).
pub fn option_hash(option_name: &str) -> [u8; 32] {
    whatsapp_proto::poll::option_hash(option_name)
}
