//! Node -> bytes, as whatsmeow `binary/encoder.go` and Baileys `src/WABinary/encode.ts` write them.

use super::node::{Content, Node, Value};
use super::token::{self, Token};
use crate::jid::{Jid, Server};

/// Why a node cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A node tag is empty; the decoder of every peer refuses such a node.
    #[error("a node has an empty tag")]
    EmptyTag,
    /// More than 65,535 children or attributes: LIST_16 cannot count them.
    #[error("<{tag}> has {count} list entries; at most 65535 fit")]
    ListTooLong {
        /// The node's tag.
        tag: String,
        /// How many entries it has.
        count: usize,
    },
    /// A byte string of 4 GiB or more.
    #[error("a byte string of {len} bytes is too long to encode")]
    BytesTooLong {
        /// Its length.
        len: usize,
    },
}

/// Writes nodes into a buffer.
///
/// By default a text value is never written as a JID (whatsmeow's rule: only typed
/// [`Jid`] values are). [`Encoder::jids_from_text`] switches to Baileys' rule, where any
/// text that parses as a JID is written as one; `wabin` uses it to compare with Baileys.
///
/// ```
/// use whatsapp_proto::binary::{Encoder, Node};
///
/// let node = Node::new("iq").attr("to", "@s.whatsapp.net");
/// let typed = Encoder::new().frame_plaintext(&node).unwrap();
/// let guessed = Encoder::new().jids_from_text(true).frame_plaintext(&node).unwrap();
/// assert_ne!(typed, guessed);
/// assert_eq!(&guessed[guessed.len() - 3..], [0xFA, 0x00, 0x03]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
    jids_from_text: bool,
}

impl Encoder {
    /// An encoder with whatsmeow's typed rule.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Writes text that parses as a JID (Baileys' `jidDecode`) as a JID.
    pub fn jids_from_text(mut self, yes: bool) -> Encoder {
        self.jids_from_text = yes;
        self
    }

    /// Encodes a node as frame plaintext: the flags byte `00` followed by the node.
    pub fn frame_plaintext(mut self, node: &Node) -> Result<Vec<u8>, EncodeError> {
        self.buf.clear();
        self.buf.reserve(1 + self.size_bound(node));
        self.buf.push(0);
        self.node(node)?;
        Ok(self.buf)
    }

    /// Encodes a bare node (no flags byte).
    pub fn node_bytes(mut self, node: &Node) -> Result<Vec<u8>, EncodeError> {
        self.buf.clear();
        self.buf.reserve(self.size_bound(node));
        self.node(node)?;
        Ok(self.buf)
    }

    /// A tight upper bound of a node's encoded size, so the output is allocated once and
    /// never grows. Exact sizing would look every string up in the token index twice;
    /// this only adds lengths. Each string costs at most its length plus a 5-byte
    /// BINARY_32 header (tokens and packed forms are shorter), or plus 11 when text may
    /// become a JID (two headers and the pair tag).
    fn size_bound(&self, node: &Node) -> usize {
        let slack = if self.jids_from_text { 11 } else { 5 };
        let mut size = 3 + node.tag.len() + slack;
        for (key, value) in &node.attrs {
            size += key.len() + slack;
            size += match value {
                Value::Text(text) => text.len() + slack,
                // The widest form, interop: tag, user, device, integrator, server.
                Value::Jid(jid) => jid.user.len() + jid.server.as_str().len() + 15,
            };
        }
        size + match &node.content {
            Content::None => 0,
            Content::Bytes(bytes) => bytes.len() + 5,
            Content::Text(text) => text.len() + slack,
            Content::Nodes(children) => {
                3 + children
                    .iter()
                    .map(|child| self.size_bound(child))
                    .sum::<usize>()
            }
        }
    }

    fn node(&mut self, node: &Node) -> Result<(), EncodeError> {
        if node.tag.is_empty() {
            return Err(EncodeError::EmptyTag);
        }
        let has_content = !matches!(node.content, Content::None);
        let size = 1 + 2 * node.attrs.len() + usize::from(has_content);
        self.list_start(size, &node.tag)?;
        self.string(&node.tag)?;
        for (key, value) in &node.attrs {
            self.string(key)?;
            match value {
                Value::Text(text) => self.string(text)?,
                Value::Jid(jid) => self.jid(jid)?,
            }
        }
        match &node.content {
            Content::None => {}
            Content::Bytes(bytes) => self.bytes_with_length(bytes)?,
            Content::Text(text) => self.string(text)?,
            Content::Nodes(children) => {
                self.list_start(children.len(), &node.tag)?;
                for child in children {
                    self.node(child)?;
                }
            }
        }
        Ok(())
    }

    fn list_start(&mut self, size: usize, tag: &str) -> Result<(), EncodeError> {
        match size {
            0 => self.buf.push(token::LIST_EMPTY),
            1..=255 => self.buf.extend_from_slice(&[token::LIST_8, size as u8]),
            256..=65535 => {
                self.buf.push(token::LIST_16);
                self.buf.extend_from_slice(&(size as u16).to_be_bytes());
            }
            _ => {
                return Err(EncodeError::ListTooLong {
                    tag: tag.to_owned(),
                    count: size,
                });
            }
        }
        Ok(())
    }

    fn bytes_with_length(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = bytes.len();
        if len < 256 {
            self.buf.extend_from_slice(&[token::BINARY_8, len as u8]);
        } else if len < 1 << 20 {
            self.buf.push(token::BINARY_20);
            self.buf
                .extend_from_slice(&[(len >> 16) as u8 & 0x0f, (len >> 8) as u8, len as u8]);
        } else {
            let len32 = u32::try_from(len).map_err(|_| EncodeError::BytesTooLong { len })?;
            self.buf.push(token::BINARY_32);
            self.buf.extend_from_slice(&len32.to_be_bytes());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Token, then nibble-packed, then hex-packed, then (Baileys rule only) JID, then raw
    /// (part 1 §5.4). The empty string is written `FC 00`, as Baileys and whatsapp-rust do.
    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        match token::lookup(s) {
            Some(Token::Single(index)) => self.buf.push(index),
            Some(Token::Double(dict, index)) => {
                self.buf
                    .extend_from_slice(&[token::DICTIONARY_0 + dict, index]);
            }
            None if self.packed(s, token::NIBBLE_8, &NIBBLE_VALUES) => {}
            None if self.packed(s, token::HEX_8, &HEX_VALUES) => {}
            None => {
                if self.jids_from_text && self.guessed_jid(s)? {
                    return Ok(());
                }
                self.bytes_with_length(s.as_bytes())?;
            }
        }
        Ok(())
    }

    /// Writes `s` packed two characters a byte if every character has a nibble value in
    /// `values`; otherwise writes nothing and answers false.
    fn packed(&mut self, s: &str, tag: u8, values: &[u8; 256]) -> bool {
        let bytes = s.as_bytes();
        if bytes.is_empty() || bytes.len() > token::PACKED_MAX {
            return false;
        }
        let mut packed = [0u8; token::PACKED_MAX.div_ceil(2)];
        let mut invalid = 0;
        let pairs = bytes.chunks_exact(2);
        let odd = pairs.remainder().first().copied();
        for (out, pair) in packed.iter_mut().zip(pairs) {
            let (high, low) = (values[usize::from(pair[0])], values[usize::from(pair[1])]);
            invalid |= high | low;
            *out = high << 4 | low;
        }
        let mut len = bytes.len() / 2;
        if let Some(c) = odd {
            let high = values[usize::from(c)];
            invalid |= high;
            // An odd string ends with the filler nibble 0xF.
            packed[len] = high << 4 | 0x0f;
            len += 1;
        }
        if invalid & NO_VALUE != 0 {
            return false;
        }
        let mut len_byte = len as u8;
        if odd.is_some() {
            len_byte |= 0x80;
        }
        self.buf.extend_from_slice(&[tag, len_byte]);
        self.buf.extend_from_slice(&packed[..len]);
        true
    }

    /// whatsmeow's choice of JID form (`binary/encoder.go` `writeJID`).
    fn jid(&mut self, jid: &Jid) -> Result<(), EncodeError> {
        if jid.is_ad() {
            let domain = jid
                .server
                .domain_type()
                .filter(|&d| d != 0)
                .unwrap_or(jid.agent);
            self.buf
                .extend_from_slice(&[token::AD_JID, domain, jid.device as u8]);
            self.string(&jid.user)?;
        } else if jid.server == Server::Messenger {
            self.buf.push(token::FB_JID);
            self.string(&jid.user)?;
            self.buf.extend_from_slice(&jid.device.to_be_bytes());
            self.string(jid.server.as_str())?;
        } else if jid.server == Server::Interop {
            self.buf.push(token::INTEROP_JID);
            self.string(&jid.user)?;
            self.buf.extend_from_slice(&jid.device.to_be_bytes());
            self.buf.extend_from_slice(&jid.integrator.to_be_bytes());
            self.string(jid.server.as_str())?;
        } else {
            self.jid_pair(&jid.user, jid.server.as_str())?;
        }
        Ok(())
    }

    fn jid_pair(&mut self, user: &str, server: &str) -> Result<(), EncodeError> {
        self.buf.push(token::JID_PAIR);
        if user.is_empty() {
            self.buf.push(token::LIST_EMPTY);
        } else {
            self.string(user)?;
        }
        self.string(server)
    }

    /// Baileys' `jidDecode` + `writeJid`: text with an `@` is a JID; a `:device` part,
    /// `:0` included, makes it an AD_JID whose domain type comes from the server or from a
    /// `_agent` suffix on the user.
    fn guessed_jid(&mut self, s: &str) -> Result<bool, EncodeError> {
        let Some((user_combined, server)) = s.split_once('@') else {
            return Ok(false);
        };
        let mut parts = user_combined.split(':');
        let user_agent = parts.next().unwrap_or("");
        let device = parts.next().filter(|d| !d.is_empty());
        let mut parts = user_agent.split('_');
        let user = parts.next().unwrap_or("");
        let agent = parts.next().filter(|a| !a.is_empty());
        match device {
            Some(device) => {
                let domain = match server {
                    "lid" => 1,
                    "hosted" => 128,
                    "hosted.lid" => 129,
                    _ => agent.map_or(0, js_byte),
                };
                self.buf
                    .extend_from_slice(&[token::AD_JID, domain, js_byte(device)]);
                self.string(user)?;
            }
            None => self.jid_pair(user, server)?,
        }
        Ok(true)
    }
}

/// A decimal string as JavaScript's number-to-byte would store it (`NaN` and garbage give 0).
fn js_byte(s: &str) -> u8 {
    let digits = s.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    digits
        .bytes()
        .fold(0u8, |acc, b| acc.wrapping_mul(10).wrapping_add(b - b'0'))
}

/// Marks a character with no nibble value in [`NIBBLE_VALUES`] and [`HEX_VALUES`].
const NO_VALUE: u8 = 0x80;

/// Nibble-packing values: digits, `-` (10) and `.` (11).
static NIBBLE_VALUES: [u8; 256] = nibble_table(false);
/// Hex-packing values: digits and upper-case `A`-`F`.
static HEX_VALUES: [u8; 256] = nibble_table(true);

const fn nibble_table(hex: bool) -> [u8; 256] {
    let mut table = [NO_VALUE; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    if hex {
        let mut letter = 0;
        while letter < 6 {
            table[b'A' as usize + letter] = 10 + letter as u8;
            letter += 1;
        }
    } else {
        table[b'-' as usize] = 10;
        table[b'.' as usize] = 11;
    }
    table
}

/// Encodes a node as frame plaintext (flags byte `00` + node) with the typed rule.
///
/// ```
/// use whatsapp_proto::binary::{Node, encode_frame_plaintext};
///
/// let bytes = encode_frame_plaintext(&Node::new("iq").attr("id", "12.34-1")).unwrap();
/// assert_eq!(bytes, [0x00, 0xF8, 0x03, 0x19, 0x08, 0xFF, 0x84, 0x12, 0xB3, 0x4A, 0x1F]);
/// ```
pub fn encode_frame_plaintext(node: &Node) -> Result<Vec<u8>, EncodeError> {
    Encoder::new().frame_plaintext(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_byte_follows_javascript_masking() {
        assert_eq!(js_byte("7"), 7);
        assert_eq!(js_byte("300"), 44);
        assert_eq!(js_byte("x"), 0);
    }

    #[test]
    fn server_jid_is_jid_pair_with_empty_user() {
        let node = Node::new("iq").attr("to", Jid::server_jid());
        let bytes = encode_frame_plaintext(&node).unwrap();
        assert_eq!(&bytes[bytes.len() - 3..], [0xFA, 0x00, 0x03]);
    }

    #[test]
    fn device_jids_use_ad_form() {
        let jid: Jid = "201001234567:3@s.whatsapp.net".parse().unwrap();
        let bytes = Encoder::new()
            .node_bytes(&Node::new("to").attr("jid", jid))
            .unwrap();
        assert_eq!(&bytes[4..7], [token::AD_JID, 0, 3]);
        let lid: Jid = "123:9@lid".parse().unwrap();
        let bytes = Encoder::new()
            .node_bytes(&Node::new("to").attr("jid", lid))
            .unwrap();
        assert_eq!(&bytes[4..7], [token::AD_JID, 1, 9]);
    }

    #[test]
    fn size_bound_covers_every_form() {
        let jids = [
            "s.whatsapp.net",
            "2010:3@s.whatsapp.net",
            "2010:1@hosted.lid",
            "2010@hosted",
            "2010:2@msgr",
            "7-2010:2@interop",
            "x@weird.server",
        ];
        let mut node = Node::new("a-tag-that-is-no-token")
            .attr("id", "3EB0A1B2C3D4E5F60718")
            .attr("t", "1700000000")
            .attr("empty", "")
            .attr("long", "y".repeat(300))
            .attr("guessed", "1:2@lid")
            .attr("pair", "user@g.us");
        for (i, jid) in jids.iter().enumerate() {
            node = node.attr(format!("j{i}"), jid.parse::<Jid>().unwrap());
        }
        let node = node.children([
            Node::new("b").bytes(vec![1; 300]),
            Node::new("c").text("12.5"),
            Node::new("d").bytes(vec![2; 1 << 20]),
            Node::new("e").children([]),
        ]);
        for encoder in [Encoder::new(), Encoder::new().jids_from_text(true)] {
            let bound = encoder.size_bound(&node);
            let bytes = encoder.node_bytes(&node).unwrap();
            assert!(bytes.len() <= bound, "{} > {bound}", bytes.len());
            // About 40 strings here, none more than 16 bytes over.
            assert!(bound - bytes.len() < 640, "the bound stays tight");
        }
    }

    #[test]
    fn empty_tag_is_refused() {
        assert_eq!(
            encode_frame_plaintext(&Node::new("")),
            Err(EncodeError::EmptyTag)
        );
    }
}
