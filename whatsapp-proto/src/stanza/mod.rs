//! The stanza vocabulary both ends of the wire speak: typed builders and parsers for the
//! nodes the client sends and the simulated server answers with, so the protocol is
//! written once (as whatsapp-rust's `wacore/src/iq/*` specs hold theirs).
//!
//! | module | holds |
//! | --- | --- |
//! | [`jid_attrs`] | the attributes that hold a JID, and a check that none is text |
//! | [`keys`] | key bundles (prekey fetch answers, retry receipts), prekey uploads, 3-byte key ids |
//! | [`usync`] | the usync device/contact/LID query and its result |
//! | [`server`] | the server's acks and the receipts it relays (`from`, `t`), for the simulated server |
//! | [`phash`] | the participant hash of a fan-out |
//! | [`message_type`] | a message stanza's `type` and an `<enc>`'s `mediatype` per content |
//! | [`groups`] | groups and communities: `w:g2` requests and answers, `w:gp2` changes |
//! | [`privacy_token`] | `<tctoken>`/`<cstoken>`, their buckets, the issue IQ, `privacy_token` notifications |
//!
//! Every parser returns a [`StanzaError`] naming the part that is missing or malformed.

pub mod groups;
pub mod jid_attrs;
pub mod keys;
pub mod message_type;
pub mod phash;
pub mod privacy_token;
pub mod server;
pub mod usync;

use crate::binary::Node;

/// Why a stanza could not be read: the part (a tag path such as `skey/signature`) that is
/// missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StanzaError {
    /// A required child or attribute is absent (or carries no content).
    #[error("{part} is missing")]
    Missing {
        /// The tag path or attribute.
        part: &'static str,
    },
    /// A fixed-size field has another length.
    #[error("{part} has {got} bytes, expected {expected}")]
    BadLength {
        /// The tag path.
        part: &'static str,
        /// The length the protocol fixes.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A part is present but its value is not one the protocol allows.
    #[error("{part} is invalid: {reason}")]
    Invalid {
        /// The tag path or attribute.
        part: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The child `tag` of `node`, or [`StanzaError::Missing`] naming `part`.
fn required<'a>(node: &'a Node, tag: &str, part: &'static str) -> Result<&'a Node, StanzaError> {
    node.child(tag).ok_or(StanzaError::Missing { part })
}

/// The content of child `tag` as exactly `N` bytes.
fn fixed<const N: usize>(
    node: &Node,
    tag: &str,
    part: &'static str,
) -> Result<[u8; N], StanzaError> {
    let bytes = required(node, tag, part)?
        .content_bytes()
        .ok_or(StanzaError::Missing { part })?;
    <[u8; N]>::try_from(bytes).map_err(|_| StanzaError::BadLength {
        part,
        expected: N,
        got: bytes.len(),
    })
}
