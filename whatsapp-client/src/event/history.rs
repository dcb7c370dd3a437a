//! One history-sync chunk, typed.

use whatsapp_proto::jid::Jid;
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::history::history_sync::HistorySyncType;

use super::MessageInfo;

/// One history-sync chunk, as [`super::Event::HistorySync`] delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryBatch {
    /// The kind of sync (`None` for a value this client does not know).
    pub sync_type: Option<HistorySyncType>,
    /// The chunk's position in the sync.
    pub chunk_order: Option<u32>,
    /// How far the phone is, in percent.
    pub progress: Option<u32>,
    /// Conversations with their messages, in the order the phone sends them (WhatsApp's
    /// phones: newest first).
    pub conversations: Vec<HistoryConversation>,
    /// Push names of contacts (`(user JID, name)`), already stored.
    pub push_names: Vec<(Jid, String)>,
}

/// A chat of a history-sync chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConversation {
    /// The chat JID.
    pub chat: Jid,
    /// The chat's name (groups) as the phone knows it.
    pub name: Option<String>,
    /// The contact's display name, if given.
    pub display_name: Option<String>,
    /// Unread messages.
    pub unread_count: u32,
    /// Marked unread by hand.
    pub marked_as_unread: bool,
    /// Archived.
    pub archived: bool,
    /// Pinned.
    pub pinned: bool,
    /// Muted until (unix ms), if muted.
    pub mute_end_ms: Option<u64>,
    /// The last message's time (unix seconds).
    pub last_message_timestamp: Option<u64>,
    /// The chat's other address (PN for a LID chat, LID for a PN chat), if given.
    pub alternate: Option<Jid>,
    /// The messages of this chunk.
    pub messages: Vec<HistoryMessage>,
}

/// A message from history: the same [`MessageInfo`] as a live message, and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryMessage {
    /// Who, where, when (`offline` is false; the id is the original message id).
    pub info: MessageInfo,
    /// The message, absent for system (stub) entries.
    pub message: Option<e2e::Message>,
    /// Delivery status (`WebMessageInfo.Status`: 0 error … 5 played), if given.
    pub status: Option<i32>,
    /// The system-message kind (`WebMessageInfo.StubType`) of a stub entry.
    pub stub_type: Option<i32>,
    /// The stub's parameters.
    pub stub_parameters: Vec<String>,
    /// Starred.
    pub starred: bool,
}
