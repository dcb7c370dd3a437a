//! History sync on the phone (fact sheet part 2 §9): the chats a simulated phone remembers and
//! the `HistorySync` blobs it sends a new companion (INITIAL_BOOTSTRAP with the recent
//! messages of every chat, PUSH_NAME, then RECENT chunks with the older ones) or answers an
//! on-demand request with (ON_DEMAND). Blobs are zlib streams (RFC 1950) of the protobuf,
//! as whatsmeow `message.go` DownloadHistorySync inflates them.

use std::io::Write as _;

use prost::Message as _;
use serde::{Deserialize, Serialize};
use whatsapp_proto::pb::e2e;
use whatsapp_proto::pb::history::{
    Conversation, HistorySync, HistorySyncMsg, PhoneNumberToLidMapping, Pushname, WebMessageInfo,
    history_sync::HistorySyncType, web_message_info::Status,
};

/// Newest messages per chat in the INITIAL_BOOTSTRAP chunk; older ones go in RECENT chunks.
pub const BOOTSTRAP_MESSAGES_PER_CHAT: usize = 50;
/// At most this many messages per RECENT chunk.
pub const RECENT_CHUNK_MESSAGES: usize = 200;

/// One message of a remembered chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMessage {
    /// Message id.
    pub id: String,
    /// Sent by the account (true) or by the other side.
    pub from_me: bool,
    /// Text.
    pub text: String,
    /// Unix seconds.
    pub timestamp: u64,
}

/// A chat the phone remembers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryChat {
    /// Chat JID (`<digits>@s.whatsapp.net`); digits alone are accepted.
    pub jid: String,
    /// The other side's push name.
    #[serde(default)]
    pub name: Option<String>,
    /// Unread messages at the end of the chat.
    #[serde(default)]
    pub unread_count: u32,
    /// Messages, oldest first.
    pub messages: Vec<HistoryMessage>,
}

impl HistoryChat {
    /// The JID with digits-only input completed.
    pub(crate) fn normalized(mut self) -> Self {
        if !self.jid.contains('@') {
            let digits: String = self.jid.chars().filter(char::is_ascii_digit).collect();
            self.jid = format!("{digits}@s.whatsapp.net");
        }
        self.messages.sort_by_key(|m| m.timestamp);
        self
    }
}

/// `chats` conversations of `messages_per_chat` alternating messages each, ending one minute
/// before `now` (unix seconds): the default content for tests and the demo.
///
/// ```
/// let chats = whatsapp_sim::history::generate(4, 75, 1_700_000_000);
/// assert_eq!(chats.iter().map(|c| c.messages.len()).sum::<usize>(), 300);
/// assert!(chats[0].messages.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
/// ```
pub fn generate(chats: usize, messages_per_chat: usize, now: u64) -> Vec<HistoryChat> {
    const NAMES: [&str; 8] = [
        "Amira Hassan",
        "Omar Farouk",
        "Layla Nabil",
        "Karim Adel",
        "Nour Samir",
        "Youssef Tarek",
        "Salma Fathy",
        "Hany Mostafa",
    ];
    const LINES: [&str; 6] = [
        "Hello, is my prescription ready?",
        "Yes, you can pick it up after 5 pm.",
        "Do you have the 500 mg tablets in stock?",
        "We do, shall I keep a box for you?",
        "Thank you!",
        "You're welcome.",
    ];
    (0..chats)
        .map(|c| {
            let digits = format!("2010{:08}", 55_000_000 + c);
            let messages = (0..messages_per_chat)
                .map(|i| {
                    let age = ((messages_per_chat - i) as u64) * 600 + (c as u64) * 7 + 60;
                    HistoryMessage {
                        id: format!("3EB0HIST{c:03}{i:05}"),
                        from_me: i % 2 == 1,
                        text: format!("{} (#{})", LINES[i % LINES.len()], i + 1),
                        timestamp: now.saturating_sub(age),
                    }
                })
                .collect();
            HistoryChat {
                jid: format!("{digits}@s.whatsapp.net"),
                name: Some(NAMES[c % NAMES.len()].to_owned()),
                unread_count: u32::from(messages_per_chat > 0 && c % 3 == 0),
                messages,
            }
        })
        .collect()
}

fn web_message(chat: &HistoryChat, m: &HistoryMessage) -> WebMessageInfo {
    WebMessageInfo {
        key: e2e::MessageKey {
            remote_jid: Some(chat.jid.clone()),
            from_me: Some(m.from_me),
            id: Some(m.id.clone()),
            participant: None,
        },
        message: Some(e2e::Message {
            conversation: Some(m.text.clone()),
            ..Default::default()
        }),
        message_timestamp: Some(m.timestamp),
        status: Some(if m.from_me {
            Status::Read as i32
        } else {
            Status::DeliveryAck as i32
        }),
        push_name: (!m.from_me).then(|| chat.name.clone()).flatten(),
        ..Default::default()
    }
}

/// A conversation carrying `messages` (a slice of `chat.messages`), newest first as
/// WhatsApp orders them.
fn conversation(chat: &HistoryChat, messages: &[HistoryMessage], with_meta: bool) -> Conversation {
    let last = chat.messages.last().map(|m| m.timestamp);
    Conversation {
        id: chat.jid.clone(),
        messages: messages
            .iter()
            .rev()
            .map(|m| HistorySyncMsg {
                message: Some(web_message(chat, m)),
                msg_order_id: Some(m.timestamp),
            })
            .collect(),
        last_msg_timestamp: last.filter(|_| with_meta),
        conversation_timestamp: last.filter(|_| with_meta),
        unread_count: with_meta.then_some(chat.unread_count),
        name: chat.name.clone().filter(|_| with_meta),
        ..Default::default()
    }
}

fn sync(kind: HistorySyncType, conversations: Vec<Conversation>) -> HistorySync {
    HistorySync {
        sync_type: kind as i32,
        conversations,
        ..Default::default()
    }
}

/// What the phone sends a newly linked companion, in order: INITIAL_BOOTSTRAP (every chat
/// with its newest messages and the PN→LID pairs), PUSH_NAME, then RECENT chunks with the
/// older messages. `chunk_order` counts per type; `progress` is the percentage sent.
/// `tokens` are the privacy tokens chats' users issued to the account (chat JID, token,
/// unix seconds), carried by their INITIAL_BOOTSTRAP conversations.
pub fn bootstrap(
    chats: &[HistoryChat],
    pushnames: Vec<(String, String)>,
    pn_lid: Vec<(String, String)>,
    tokens: &[(String, Vec<u8>, u64)],
) -> Vec<HistorySync> {
    let mut initial = sync(
        HistorySyncType::InitialBootstrap,
        chats
            .iter()
            .map(|c| {
                let from = c.messages.len().saturating_sub(BOOTSTRAP_MESSAGES_PER_CHAT);
                let mut conversation = conversation(c, &c.messages[from..], true);
                if let Some((_, token, t)) = tokens.iter().find(|(jid, ..)| *jid == c.jid) {
                    conversation.tc_token = Some(token.clone());
                    conversation.tc_token_timestamp = Some(*t);
                }
                conversation
            })
            .collect(),
    );
    initial.phone_number_to_lid_mappings = pn_lid
        .into_iter()
        .map(|(pn, lid)| PhoneNumberToLidMapping {
            pn_jid: Some(pn),
            lid_jid: Some(lid),
        })
        .collect();
    let mut out = vec![initial];
    let mut names = sync(HistorySyncType::PushName, Vec::new());
    names.pushnames = pushnames
        .into_iter()
        .map(|(id, name)| Pushname {
            id: Some(id),
            pushname: Some(name),
        })
        .collect();
    out.push(names);
    // Older messages, newest chats' backlog first, in chunks.
    let mut chunk: Vec<Conversation> = Vec::new();
    let mut in_chunk = 0;
    for c in chats {
        let mut end = c.messages.len().saturating_sub(BOOTSTRAP_MESSAGES_PER_CHAT);
        while end > 0 {
            let take = (RECENT_CHUNK_MESSAGES - in_chunk).min(end);
            chunk.push(conversation(c, &c.messages[end - take..end], false));
            in_chunk += take;
            end -= take;
            if in_chunk == RECENT_CHUNK_MESSAGES {
                out.push(sync(HistorySyncType::Recent, std::mem::take(&mut chunk)));
                in_chunk = 0;
            }
        }
    }
    if !chunk.is_empty() {
        out.push(sync(HistorySyncType::Recent, chunk));
    }
    let total = out.len();
    for (i, s) in out.iter_mut().enumerate() {
        s.progress = Some(((i + 1) * 100 / total) as u32);
        s.chunk_order = Some(i as u32);
    }
    out
}

/// The ON_DEMAND answer: up to `count` messages of `chat` older than the given message (by
/// id when found, else by timestamp in seconds).
pub fn on_demand(
    chats: &[HistoryChat],
    chat: &str,
    oldest_id: Option<&str>,
    oldest_timestamp: Option<i64>,
    count: usize,
) -> HistorySync {
    let Some(c) = chats.iter().find(|c| c.jid == chat) else {
        return sync(HistorySyncType::OnDemand, Vec::new());
    };
    let end = oldest_id
        .and_then(|id| c.messages.iter().position(|m| m.id == id))
        .or_else(|| {
            oldest_timestamp.map(|t| c.messages.partition_point(|m| (m.timestamp as i64) < t))
        })
        .unwrap_or(c.messages.len());
    let start = end.saturating_sub(count);
    let mut out = sync(
        HistorySyncType::OnDemand,
        vec![conversation(c, &c.messages[start..end], false)],
    );
    out.progress = Some(100);
    out
}

/// The zlib stream (RFC 1950) of a `HistorySync`.
pub fn compress(sync: &HistorySync) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = z.write_all(&sync.encode_to_vec());
    z.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_carries_every_message_once() {
        let chats = generate(3, 180, 1_700_000_000);
        let syncs = bootstrap(&chats, vec![("a".into(), "A".into())], Vec::new(), &[]);
        let kinds: Vec<i32> = syncs.iter().map(|s| s.sync_type).collect();
        assert_eq!(kinds[0], HistorySyncType::InitialBootstrap as i32);
        assert_eq!(kinds[1], HistorySyncType::PushName as i32);
        assert!(
            kinds[2..]
                .iter()
                .all(|k| *k == HistorySyncType::Recent as i32)
        );
        let mut ids: Vec<String> = syncs
            .iter()
            .flat_map(|s| &s.conversations)
            .flat_map(|c| &c.messages)
            .filter_map(|m| m.message.as_ref()?.key.id.clone())
            .collect();
        assert_eq!(ids.len(), 540);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 540);
        assert_eq!(syncs.last().and_then(|s| s.progress), Some(100));
        let back =
            whatsapp_proto::appstate::history::inflate_history_sync(&compress(&syncs[0]), 1 << 24)
                .expect("inflates");
        assert_eq!(back, syncs[0]);
    }

    #[test]
    fn on_demand_returns_older_messages() {
        let chats = generate(1, 100, 1_700_000_000);
        let oldest = &chats[0].messages[60];
        let s = on_demand(&chats, &chats[0].jid, Some(&oldest.id), None, 50);
        let msgs = &s.conversations[0].messages;
        assert_eq!(msgs.len(), 50);
        let ts: Vec<u64> = msgs
            .iter()
            .filter_map(|m| m.message.as_ref()?.message_timestamp)
            .collect();
        assert!(ts.iter().all(|t| *t < oldest.timestamp));
    }
}
