//! What the sim reports about itself (the control API's answers and the handle's): devices,
//! what simulated accounts received and sent, chat states, the stanzas companions sent.

use serde::{Deserialize, Serialize};

/// One companion device as `GET /control/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// PN device JID, e.g. `201001234567:1@s.whatsapp.net`.
    pub jid: String,
    /// LID device JID.
    pub lid: String,
    /// Whether it has a logged-in connection.
    pub online: bool,
    /// Stanzas queued for it and not yet acknowledged.
    pub offline_queue: usize,
    /// DeviceProps.os from its registration.
    pub platform: String,
}

/// An account with its companion devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Phone number (digits).
    pub phone: String,
    /// The account's LID JID.
    pub lid: String,
    /// Whether it is a simulated customer.
    pub customer: bool,
    /// Linked companions.
    pub devices: Vec<DeviceInfo>,
}

/// A message a simulated device received and decrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Message id.
    pub id: String,
    /// The sender device JID as delivered.
    pub from: String,
    /// Which of the account's devices received it.
    pub device: u16,
    /// `text`, `image`, `audio`, `document`, `location`, `reaction`, ...
    pub kind: String,
    /// Text, caption or emoji.
    pub text: Option<String>,
    /// Hex SHA-256 of the media plaintext (as the message states it).
    pub media_sha256: Option<String>,
    /// The group JID when the message was posted in a group (`status@broadcast` for a status).
    pub group: Option<String>,
    /// Sent by another device of this same account (a DeviceSentMessage, or a group post).
    pub from_me: bool,
    /// For a DeviceSentMessage: the chat it was sent to.
    pub destination: Option<String>,
    /// Why the media did not download or verify (then `media_sha256` is `None`).
    pub media_error: Option<String>,
    /// Quoted or reacted-to message id.
    pub reply_to: Option<String>,
    /// `delivered`, or `read` once the customer read it.
    pub receipt: String,
    /// When the device got it, unix milliseconds.
    pub received_at_ms: u64,
    /// What an attachment's message says about it, and the size the device decrypted.
    #[serde(default)]
    pub media_details: Option<MediaDetails>,
}

/// What a received attachment's message says about it (`imageMessage`, `ptvMessage`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaDetails {
    /// The MIME type.
    pub mimetype: Option<String>,
    /// The plaintext size the message declares.
    pub file_length: Option<u64>,
    /// The plaintext size the device downloaded and verified.
    pub downloaded_length: Option<u64>,
    /// Duration in seconds (audio, video).
    pub seconds: Option<u32>,
    /// Width in pixels (images, videos, stickers).
    pub width: Option<u32>,
    /// Height in pixels.
    pub height: Option<u32>,
    /// The JPEG preview.
    pub jpeg_thumbnail: Option<Vec<u8>>,
    /// A voice note's waveform.
    pub waveform: Option<Vec<u8>>,
    /// A document's page count.
    pub page_count: Option<u32>,
    /// A document's file name.
    pub file_name: Option<String>,
    /// Whether a sticker is animated.
    pub animated: Option<bool>,
}

/// A message a simulated account sent, with the best receipt it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEntry {
    /// Message id.
    pub id: String,
    /// Chat JID.
    pub to: String,
    /// Kind as in [`InboxEntry::kind`].
    pub kind: String,
    /// Text, if any.
    pub text: Option<String>,
    /// `sent`, `server_ack`, `delivered`, `read` or `played`.
    pub status: String,
    /// The server's timestamp from its ack.
    pub server_ts: Option<u64>,
    /// The stanza `type` used.
    pub stanza_type: String,
}

/// A chat state (typing) a simulated account saw from a companion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatStateRecord {
    /// The sender account (phone number).
    pub from: String,
    /// `composing` or `paused`.
    pub state: String,
    /// When, unix milliseconds.
    pub at_ms: u64,
}

/// A stanza the server received from a companion, with its arrival time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StanzaRecord {
    /// Sender device (PN form).
    pub from: String,
    /// `message`, `receipt`, `iq`, `call`, `presence`, or `ack` (nacks only).
    pub tag: String,
    /// An `<iq>`'s `xmlns` (`usync`, `privacy`, `w:g2`, `w:m`, `encrypt`, ...); empty for other
    /// stanzas.
    #[serde(default)]
    pub xmlns: String,
    /// Its id.
    pub id: String,
    /// Its `type` attribute.
    pub kind: String,
    /// Its `to` attribute.
    pub to: String,
    /// The `mediatype` attribute of each `<enc>` it carries (directly or per participant), in
    /// order; empty for an `<enc>` without one.
    pub media_types: Vec<String>,
    /// The `decrypt-fail` attribute of each `<enc>`, in the order of `media_types`; empty
    /// for an `<enc>` without one.
    #[serde(default)]
    pub decrypt_fail: Vec<String>,
    /// Every attribute of the stanza, as text (`edit`, `t`, `name`, …).
    #[serde(default)]
    pub attrs: std::collections::BTreeMap<String, String>,
    /// The devices its `<participants>` encrypts to (the `jid` of each `<to>`), in order.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The key id of its `skmsg` (a group message's sender key), when it has one.
    #[serde(default)]
    pub sender_key_id: Option<u32>,
    /// The `error` of an `<ack>` (a nack; acks without one are not logged).
    #[serde(default)]
    pub error: Option<u16>,
    /// The privacy token a message carries: `tctoken` or `cstoken` with its bytes in hex.
    #[serde(default)]
    pub privacy_token: Option<(String, String)>,
    /// For an `<iq xmlns="privacy">` issuing our token (tag `iq`): whom each token is for.
    #[serde(default)]
    pub tokens_issued_to: Vec<String>,
    /// The tag of an `<iq>`'s first child (`usync`, `query`, `media_conn`, `count`, ...).
    #[serde(default)]
    pub query: String,
    /// A message's `peer_recipient_pn`: the number of a recipient addressed by its LID
    /// (whatsmeow `send.go` names it), when it carries one.
    #[serde(default)]
    pub peer_recipient_pn: Option<String>,
    /// A message's `addressing_mode` (`lid` or `pn`), when it carries one.
    #[serde(default)]
    pub addressing_mode: Option<String>,
    /// Arrival, unix milliseconds.
    pub received_at_ms: u64,
}
