//! What the server writes about the traffic it relays: its `<ack>` of a stanza a device sent,
//! and a `<receipt>` as it reaches the message's sender (`from` and `t` set by the server).
//! The client reads both (whatsmeow `handleAck`/`handleReceipt`); the simulated server builds
//! them here, so each shape is defined once. Every JID is typed, so it goes out as a JID node
//! (see [`super::jid_attrs`]).

use crate::binary::Node;
use crate::jid::Jid;

/// The server's `<ack>` of a stanza a device sent.
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::server::ServerAck;
///
/// let ack = ServerAck::new("message", "3EB0A1")
///     .from(Jid::user("201112223334"))
///     .at(1_700_000_000)
///     .build();
/// assert_eq!(ack.attrs().str("class").unwrap(), "message");
/// assert_eq!(ack.attrs().jid("from").unwrap().user, "201112223334");
/// assert_eq!(ack.attrs().u64("t").unwrap(), 1_700_000_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAck {
    /// The acknowledged stanza's tag (`message`, `receipt`, `call`, …).
    pub class: String,
    /// Its `id`.
    pub id: String,
    /// The chat or device it was sent to, when it named one.
    pub from: Option<Jid>,
    /// The acknowledged stanza's `type`, for receipts.
    pub kind: Option<String>,
    /// Server time, unix seconds.
    pub t: Option<u64>,
    /// The server's participant hash when the sender's differs (part 2 §4.6).
    pub phash: Option<String>,
    /// A refusal's code (a nack): 479 unknown chat, 421 stale device list, …
    pub error: Option<u16>,
}

impl ServerAck {
    /// An ack of the stanza `class` with `id`, nothing else set.
    pub fn new(class: &str, id: impl Into<String>) -> Self {
        ServerAck {
            class: class.to_owned(),
            id: id.into(),
            from: None,
            kind: None,
            t: None,
            phash: None,
            error: None,
        }
    }

    /// Sets `from`.
    pub fn from(mut self, jid: Jid) -> Self {
        self.from = Some(jid);
        self
    }

    /// Sets `type`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Sets `t`.
    pub fn at(mut self, t: u64) -> Self {
        self.t = Some(t);
        self
    }

    /// Sets `phash`.
    pub fn phash(mut self, phash: impl Into<String>) -> Self {
        self.phash = Some(phash.into());
        self
    }

    /// Makes it a nack with `code`.
    pub fn error(mut self, code: u16) -> Self {
        self.error = Some(code);
        self
    }

    /// The `<ack>` node.
    pub fn build(&self) -> Node {
        Node::new("ack")
            .attr("class", self.class.as_str())
            .attr("id", self.id.as_str())
            .attr_opt("from", self.from.clone())
            .attr_opt("type", self.kind.clone())
            .attr_opt("t", self.t)
            .attr_opt("phash", self.phash.clone())
            .attr_opt("error", self.error)
    }
}

/// A `<receipt>` as the server hands it to the message's sender: `from` the chat (or the
/// receiving device in a 1:1 chat), `participant` the receiving device in a group,
/// `recipient` the chat of a `type="sender"` receipt, `t` the server's time. Children (a
/// retry receipt's `<retry>`, `<keys>`, a `<list>` of further ids) are the caller's.
///
/// ```
/// use whatsapp_proto::jid::Jid;
/// use whatsapp_proto::stanza::server::RelayedReceipt;
///
/// let receipt = RelayedReceipt::new(Jid::user("201001234567").with_device(2), "3EB0A1", 1_700_000_000)
///     .kind("sender")
///     .recipient(Jid::user("201112223334"))
///     .build();
/// assert_eq!(receipt.attrs().jid("recipient").unwrap().user, "201112223334");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedReceipt {
    /// The chat, or the receiving device in a 1:1 chat.
    pub from: Jid,
    /// The receiving device in a group.
    pub participant: Option<Jid>,
    /// The chat a `type="sender"` receipt is about.
    pub recipient: Option<Jid>,
    /// The message id.
    pub id: String,
    /// `type`: none for a delivery, `read`, `sender`, `retry`, …
    pub kind: Option<String>,
    /// Server time, unix seconds.
    pub t: u64,
}

impl RelayedReceipt {
    /// A delivery receipt for `id` from `from` at `t`.
    pub fn new(from: Jid, id: impl Into<String>, t: u64) -> Self {
        RelayedReceipt {
            from,
            participant: None,
            recipient: None,
            id: id.into(),
            kind: None,
            t,
        }
    }

    /// Sets `participant`.
    pub fn participant(mut self, jid: Jid) -> Self {
        self.participant = Some(jid);
        self
    }

    /// Sets `recipient`.
    pub fn recipient(mut self, jid: Jid) -> Self {
        self.recipient = Some(jid);
        self
    }

    /// Sets `type`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// The `<receipt>` node (without children).
    pub fn build(&self) -> Node {
        Node::new("receipt")
            .attr("from", self.from.clone())
            .attr_opt("participant", self.participant.clone())
            .attr_opt("recipient", self.recipient.clone())
            .attr("id", self.id.as_str())
            .attr_opt("type", self.kind.clone())
            .attr("t", self.t)
    }
}
