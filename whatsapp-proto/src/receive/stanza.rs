//! The stanzas a receiver answers with, built and read in one place: acks and nacks, delivery
//! receipts and retry receipts (whatsmeow `receipt.go`, `retry.go`; part 2 §6.2).

use crate::binary::{Content, Node};
use crate::jid::Jid;

/// A retry receipt numbered this high is neither sent nor answered: at most four per message
/// (whatsmeow `sendRetryReceipt` stops at `retryCount >= 5`; part 2 §6.2).
pub const MAX_RETRY_COUNT: u32 = 5;

/// From this retry on, a retry receipt carries our `<keys>` so the sender can build a new
/// session at once (whatsmeow retry.go: `retryCount > 1`); the first carries them only for
/// a group message whose sender key we lack (whatsmeow `forceIncludeIdentity`).
pub const KEYS_FROM_RETRY: u32 = 2;

/// The error codes of a negative ack (whatsmeow `receipt.go`, `Nack*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Nack {
    /// 487: the stanza lacks what every message has (`from`, `id`, a group's `participant`).
    ParsingError,
    /// 488: neither `<enc>` nor `<unavailable>`.
    UnrecognizedStanza,
    /// 491: it decrypted, but the plaintext is not a `Message` protobuf.
    InvalidProtobuf,
    /// 495: a bot's `msmsg`, sealed under the secret of a message we never had.
    MissingMessageSecret,
}

impl Nack {
    /// The `error` attribute's value.
    pub fn code(self) -> u16 {
        match self {
            Nack::ParsingError => 487,
            Nack::UnrecognizedStanza => 488,
            Nack::InvalidProtobuf => 491,
            Nack::MissingMessageSecret => 495,
        }
    }
}

/// The `<ack>` answering a stanza (whatsmeow `sendAck`): `class` is the stanza's tag, `to` its
/// `from`, `participant` and `recipient` copied, `type` copied except for messages, `error`
/// set on a nack. `None` when the stanza has no `id` or no `from`.
pub fn ack(stanza: &Node, error: Option<u16>) -> Option<Node> {
    let attrs = stanza.attrs();
    let id = attrs.optional_string("id")?;
    let from = stanza.attr_value("from")?.clone();
    let mut ack = Node::new("ack")
        .attr("class", stanza.tag.as_str())
        .attr("id", id)
        .attr("to", from);
    ack = copy_routing(stanza, ack);
    if stanza.tag != "message"
        && let Some(t) = stanza.attr_value("type")
    {
        ack = ack.attr("type", t.clone());
    }
    if let Some(code) = error {
        ack = ack.attr("error", code);
    }
    ack.content = Content::None;
    Some(ack)
}

/// A negative ack: [`ack`] with the code of `nack`.
pub fn nack(stanza: &Node, nack: Nack) -> Option<Node> {
    ack(stanza, Some(nack.code()))
}

/// `participant` and `recipient` of `stanza` copied onto `answer` (whatsmeow
/// `buildBaseReceipt`).
fn copy_routing(stanza: &Node, mut answer: Node) -> Node {
    for key in ["participant", "recipient"] {
        if let Some(v) = stanza.attr_value(key) {
            answer = answer.attr(key, v.clone());
        }
    }
    answer
}

/// The delivery receipt of a message (whatsmeow `sendMessageReceipt`): `id`, `to` = the
/// stanza's `from`, routing copied; `type="peer_msg"` for our own phone's protocol messages
/// (`category="peer"`), `type="sender"` for what another of our devices sent; for the rest a
/// plain delivery (no type) when `active`, else `type="inactive"` (a passive client, one that
/// has not announced itself available: whatsmeow `sendActiveReceipts`). `None` without `id`
/// or `from`.
pub fn delivery_receipt(stanza: &Node, from_me: bool, active: bool) -> Option<Node> {
    let id = stanza.attrs().optional_string("id")?;
    let from = stanza.attr_value("from")?.clone();
    let mut receipt = copy_routing(stanza, Node::new("receipt").attr("id", id).attr("to", from));
    if stanza.attrs().optional_str("category") == Some("peer") {
        receipt = receipt.attr("type", "peer_msg");
    } else if from_me {
        receipt = receipt.attr("type", "sender");
    } else if !active {
        receipt = receipt.attr("type", "inactive");
    }
    Some(receipt)
}

/// A retry receipt we send: asks the sender of `stanza` to encrypt it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryReceipt {
    /// The message id.
    pub id: String,
    /// Which retry this is, from 1.
    pub count: u32,
    /// Our registration id (sent as 4 big-endian bytes).
    pub registration_id: u32,
}

impl RetryReceipt {
    /// The `<receipt type="retry">` for `stanza`; `keys` is the `<keys>` bundle when one goes
    /// with it (see [`KEYS_FROM_RETRY`]). `None` without `id` or `from`.
    pub fn build(&self, stanza: &Node, keys: Option<Node>) -> Option<Node> {
        let from = stanza.attr_value("from")?.clone();
        let attrs = stanza.attrs();
        let mut receipt = copy_routing(
            stanza,
            Node::new("receipt")
                .attr("id", self.id.clone())
                .attr("to", from)
                .attr("type", "retry"),
        );
        if attrs.optional_str("category") == Some("peer") {
            receipt = receipt.attr("category", "peer");
        }
        let mut children = vec![
            Node::new("retry")
                .attr("v", "1")
                .attr("count", self.count)
                .attr("id", self.id.clone())
                .attr("t", attrs.optional_string("t").unwrap_or_default()),
            crate::stanza::keys::registration_node(self.registration_id),
        ];
        children.extend(keys);
        Some(receipt.children(children))
    }
}

/// A retry receipt we received: a device that could not decrypt what we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryRequest {
    /// The message id.
    pub id: String,
    /// The chat (a group) or the requesting device (1:1).
    pub from: Jid,
    /// The requesting device: `participant`, else `from`.
    pub requester: Jid,
    /// Which retry this is (1 when the attribute is missing).
    pub count: u32,
    /// The original message's time, the `<retry>`'s `t` (not the receipt's own): echoed on
    /// the resend (whatsmeow `retry.go`).
    pub t: Option<String>,
    /// The `<keys>` bundle with the `<registration>` folded in, when the requester sent keys.
    pub keys: Option<Node>,
}

/// Why a retry receipt could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryParseError {
    /// No usable `from`.
    #[error("retry receipt without from")]
    From,
    /// No `<retry>` child.
    #[error("retry receipt without <retry>")]
    Retry,
}

impl RetryRequest {
    /// Reads a `<receipt type="retry">`.
    pub fn parse(node: &Node) -> Result<RetryRequest, RetryParseError> {
        let attrs = node.attrs();
        let from = attrs.jid("from").map_err(|_| RetryParseError::From)?;
        let retry = node.child("retry").ok_or(RetryParseError::Retry)?;
        let count = retry
            .attrs()
            .optional_u64("count")
            .ok()
            .flatten()
            .map_or(1, |c| u32::try_from(c).unwrap_or(u32::MAX));
        let requester = attrs
            .optional_jid("participant")
            .ok()
            .flatten()
            .unwrap_or_else(|| from.clone());
        let keys = node.child("keys").map(|keys| {
            let mut children = keys.child_nodes().to_vec();
            children.extend(node.child("registration").cloned());
            Node::new("keys").children(children)
        });
        Ok(RetryRequest {
            id: attrs.optional_string("id").unwrap_or_default(),
            from,
            requester,
            count,
            t: retry.attrs().optional_string("t"),
            keys,
        })
    }

    /// Whether the requester asked too often to be answered (see [`MAX_RETRY_COUNT`]).
    pub fn over_limit(&self) -> bool {
        self.count >= MAX_RETRY_COUNT
    }
}
