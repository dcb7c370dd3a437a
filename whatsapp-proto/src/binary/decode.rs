//! Bytes -> node. Total over every input: bad bytes give a [`DecodeError`] naming what and
//! where, never a panic, and no allocation is larger than the remaining input justifies.

use std::borrow::Cow;
use std::io::Read;

use super::cursor::{Cursor, reads_through_cursor};
use super::node::{Content, Node, NodeStr, Value};
use super::token;
use crate::jid::{DOMAIN_HOSTED, DOMAIN_HOSTED_LID, DOMAIN_LID, Jid, Server};

/// The largest inflated body accepted from a compressed frame (whatsapp-rust
/// `wacore/binary/src/util.rs` uses the same 16 MiB cap as the frame size limit).
pub const MAX_INFLATED_SIZE: usize = 16 << 20;

/// Nesting deeper than this is refused: real stanzas are a handful of levels deep, and an
/// unbounded depth would let a small input exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// Why bytes are not a node. Offsets count from the start of the node bytes (after the
/// flags byte and any inflation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame plaintext is empty: not even a flags byte.
    #[error("empty frame: no flags byte")]
    EmptyFrame,
    /// The compressed body is not a valid zlib stream.
    #[error("compressed body does not inflate: {reason}")]
    Inflate {
        /// What the inflater reported.
        reason: String,
    },
    /// The compressed body inflates past [`MAX_INFLATED_SIZE`].
    #[error("compressed body inflates past {limit} bytes")]
    InflatedTooLarge {
        /// The cap.
        limit: usize,
    },
    /// The input ends inside an item.
    #[error("input ends at byte {offset}: {needed} more bytes needed for {what}")]
    UnexpectedEnd {
        /// Where the missing bytes should start.
        offset: usize,
        /// How many bytes are missing.
        needed: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A tag byte that cannot stand here (reserved 240..244, or the wrong kind of item).
    #[error("byte {offset}: tag {tag:#04x} is not valid for {expected}")]
    InvalidTag {
        /// Position of the tag byte.
        offset: usize,
        /// The tag.
        tag: u8,
        /// What the position required.
        expected: &'static str,
    },
    /// A double-byte token reference outside its dictionary.
    #[error("byte {offset}: token {index} is not in dictionary {dictionary}")]
    TokenOutOfRange {
        /// Position of the tag byte.
        offset: usize,
        /// Dictionary 0..3 (the tag minus 236).
        dictionary: u8,
        /// The index.
        index: u8,
    },
    /// A packed string holds a nibble value with no character (12, 13, 14, or a mid-string pad).
    #[error("byte {offset}: packed nibble value {value} is invalid")]
    InvalidPacked {
        /// Position of the offending byte.
        offset: usize,
        /// The nibble.
        value: u8,
    },
    /// Text that must be UTF-8 (a tag, attribute or string content) is not.
    #[error("byte {offset}: text is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the text starts.
        offset: usize,
    },
    /// A node header announcing zero items, or an empty tag.
    #[error("byte {offset}: node has no tag")]
    EmptyNode {
        /// Position of the node header.
        offset: usize,
    },
    /// A JID whose parts are malformed.
    #[error("byte {offset}: invalid JID: {reason}")]
    InvalidJid {
        /// Position of the JID tag.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Lists nested deeper than [`MAX_DEPTH`].
    #[error("byte {offset}: nodes nested deeper than {max}")]
    TooDeep {
        /// Position of the node that went too deep.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes left over after the node.
    #[error("{remaining} bytes left over after the node at byte {offset}")]
    TrailingBytes {
        /// Where the leftovers start.
        offset: usize,
        /// How many.
        remaining: usize,
    },
}

/// Decodes frame plaintext: a flags byte (bit `0x02` = zlib-deflated body), then one node.
///
/// ```
/// use whatsapp_proto::binary::{decode_frame_plaintext, DecodeError};
///
/// let node = decode_frame_plaintext(&[0x00, 0xF8, 0x01, 0x19]).unwrap();
/// assert_eq!(node.tag, "iq");
/// assert!(matches!(decode_frame_plaintext(&[0x00, 0xF8, 0x03]), Err(DecodeError::UnexpectedEnd { .. })));
/// ```
pub fn decode_frame_plaintext(plaintext: &[u8]) -> Result<Node, DecodeError> {
    decode_node(&frame_body(plaintext)?)
}

/// The node bytes of frame plaintext: the body after the flags byte, borrowed, or
/// inflated when the flags say it is compressed. Feed it to [`super::decode_node_ref`].
///
/// ```
/// use whatsapp_proto::binary::frame_body;
///
/// assert_eq!(&*frame_body(&[0x00, 0xF8, 0x01, 0x19]).unwrap(), [0xF8, 0x01, 0x19]);
/// assert!(frame_body(&[]).is_err());
/// ```
pub fn frame_body(plaintext: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    let (&flags, body) = plaintext.split_first().ok_or(DecodeError::EmptyFrame)?;
    if flags & 0x02 != 0 {
        inflate(body).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(body))
    }
}

/// Inflates a zlib body, refusing to produce more than [`MAX_INFLATED_SIZE`] bytes.
fn inflate(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(1 << 20));
    let limit = MAX_INFLATED_SIZE as u64 + 1;
    flate2::read::ZlibDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Inflate {
            reason: e.to_string(),
        })?;
    if out.len() > MAX_INFLATED_SIZE {
        return Err(DecodeError::InflatedTooLarge {
            limit: MAX_INFLATED_SIZE,
        });
    }
    Ok(out)
}

/// Decodes exactly one node from `bytes` (no flags byte); leftover bytes are an error.
pub fn decode_node(bytes: &[u8]) -> Result<Node, DecodeError> {
    let mut decoder = Decoder {
        cursor: Cursor { bytes, pos: 0 },
    };
    let node = decoder.node(0)?;
    if decoder.pos < bytes.len() {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.pos,
            remaining: bytes.len() - decoder.pos,
        });
    }
    Ok(node)
}

/// A string item read off the wire: text or a JID.
enum Item {
    Text(NodeStr),
    Jid(Jid),
}

struct Decoder<'a> {
    cursor: Cursor<'a>,
}

reads_through_cursor!(Decoder);

impl<'a> Decoder<'a> {
    fn node(&mut self, depth: usize) -> Result<Node, DecodeError> {
        let size = self.node_size(depth)?;
        let tag_offset = self.pos;
        let tag = self.text("node tag")?;
        if tag.is_empty() {
            return Err(DecodeError::EmptyNode { offset: tag_offset });
        }
        let attr_count = (size - 1) >> 1;
        // Each attribute takes at least two bytes, so a lying count cannot make us reserve
        // more than the input could hold.
        let mut attrs = Vec::with_capacity(attr_count.min(self.remaining() / 2));
        for _ in 0..attr_count {
            let key = self.text("attribute name")?;
            let value = match self.item("attribute value")? {
                Item::Text(text) => Value::Text(text),
                Item::Jid(jid) => Value::Jid(jid),
            };
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, DecodeError> {
        let offset = self.pos;
        let tag = self.byte("content")?;
        match tag {
            token::LIST_EMPTY | token::LIST_8 | token::LIST_16 => {
                let count = self.list_size(tag, offset)?;
                // A node takes at least two bytes.
                let mut children = Vec::with_capacity(count.min(self.remaining() / 2));
                for _ in 0..count {
                    children.push(self.node(depth + 1)?);
                }
                Ok(Content::Nodes(children))
            }
            token::BINARY_8 | token::BINARY_20 | token::BINARY_32 => {
                let len = self.binary_length(tag)?;
                Ok(Content::Bytes(self.take(len, "byte content")?.to_vec()))
            }
            _ => {
                self.pos = offset;
                Ok(match self.item("content")? {
                    Item::Text(text) => Content::Text(text.into_string()),
                    // JID content is rare; it comes back as text that parses as the JID.
                    Item::Jid(jid) => Content::Text(super::node::jid_text(&jid)),
                })
            }
        }
    }

    /// A string that must be text (tags, attribute names, JID parts). JID tags are refused
    /// before anything is read past them, so nested JIDs cannot recurse.
    fn text(&mut self, what: &'static str) -> Result<NodeStr, DecodeError> {
        let offset = self.pos;
        match self.bytes.get(offset) {
            Some(&tag @ (token::JID_PAIR | token::AD_JID | token::FB_JID | token::INTEROP_JID)) => {
                Err(DecodeError::InvalidTag {
                    offset,
                    tag,
                    expected: "text, not a JID",
                })
            }
            _ => match self.item(what)? {
                Item::Text(text) => Ok(text),
                // Unreachable: JID tags were refused above.
                Item::Jid(_) => Err(DecodeError::InvalidTag {
                    offset,
                    tag: self.bytes[offset],
                    expected: "text, not a JID",
                }),
            },
        }
    }

    fn item(&mut self, what: &'static str) -> Result<Item, DecodeError> {
        let offset = self.pos;
        let tag = self.byte(what)?;
        let text: NodeStr = match tag {
            // Baileys and whatsmeow both read LIST_EMPTY where a string goes as "nothing".
            token::LIST_EMPTY => NodeStr::from_static(""),
            1..=235 => NodeStr::from_static(token::single(tag).unwrap_or_default()),
            token::DICTIONARY_0..=token::DICTIONARY_3 => {
                NodeStr::from_static(self.double_token(tag, offset)?)
            }
            token::BINARY_8 | token::BINARY_20 | token::BINARY_32 => {
                self.raw_str(tag, what)?.into()
            }
            token::NIBBLE_8 | token::HEX_8 => self.packed(tag)?.into(),
            token::JID_PAIR => return self.jid_pair(offset).map(Item::Jid),
            token::AD_JID => {
                let domain = self.byte("AD JID domain")?;
                let device = self.byte("AD JID device")?;
                let user = self.text("AD JID user")?.into_string();
                // whatsmeow `types/jid.go` NewADJID: unknown domain types are raw agents.
                let (server, agent) = match domain {
                    DOMAIN_LID => (Server::Lid, 0),
                    DOMAIN_HOSTED => (Server::Hosted, 0),
                    DOMAIN_HOSTED_LID => (Server::HostedLid, 0),
                    other => (Server::User, other),
                };
                return Ok(Item::Jid(Jid {
                    user,
                    agent,
                    device: u16::from(device),
                    integrator: 0,
                    server,
                }));
            }
            token::FB_JID => {
                let user = self.text("FB JID user")?.into_string();
                let device = self.u16("FB JID device")?;
                let server = self.text("FB JID server")?;
                if server != "msgr" {
                    return Err(DecodeError::InvalidJid {
                        offset,
                        reason: "FB JID server is not msgr",
                    });
                }
                return Ok(Item::Jid(Jid {
                    user,
                    agent: 0,
                    device,
                    integrator: 0,
                    server: Server::Messenger,
                }));
            }
            token::INTEROP_JID => {
                let user = self.text("interop JID user")?.into_string();
                let device = self.u16("interop JID device")?;
                let integrator = self.u16("interop JID integrator")?;
                let server = self.text("interop JID server")?;
                if server != "interop" {
                    return Err(DecodeError::InvalidJid {
                        offset,
                        reason: "interop JID server is not interop",
                    });
                }
                return Ok(Item::Jid(Jid {
                    user,
                    agent: 0,
                    device,
                    integrator,
                    server: Server::Interop,
                }));
            }
            _ => {
                return Err(DecodeError::InvalidTag {
                    offset,
                    tag,
                    expected: "a string or JID",
                });
            }
        };
        Ok(Item::Text(text))
    }

    fn jid_pair(&mut self, offset: usize) -> Result<Jid, DecodeError> {
        let user = self.text("JID user")?.into_string();
        let server = self.text("JID server")?;
        if server.is_empty() {
            return Err(DecodeError::InvalidJid {
                offset,
                reason: "JID pair has no server",
            });
        }
        Ok(Jid::new(user, Server::from_wire(&server)))
    }

    fn packed(&mut self, tag: u8) -> Result<String, DecodeError> {
        let len_byte = self.byte("packed length")?;
        let start = self.pos;
        let data = self.take(usize::from(len_byte & 0x7f), "packed string")?;
        let odd = len_byte & 0x80 != 0;
        let mut out = String::with_capacity(data.len() * 2);
        for (i, &byte) in data.iter().enumerate() {
            let last = i + 1 == data.len();
            for (half, value) in [(0, byte >> 4), (1, byte & 0x0f)] {
                if odd && last && half == 1 {
                    // The dropped final character: whatever it is, it is not part of the string.
                    continue;
                }
                let c = match (tag, value) {
                    (_, 0..=9) => b'0' + value,
                    (token::NIBBLE_8, 10) => b'-',
                    (token::NIBBLE_8, 11) => b'.',
                    (token::HEX_8, 10..=15) => b'A' + value - 10,
                    _ => {
                        return Err(DecodeError::InvalidPacked {
                            offset: start + i,
                            value,
                        });
                    }
                };
                out.push(char::from(c));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_example_from_fact_sheet() {
        // An even list size means content follows the tag.
        let node = decode_node(&[0xF8, 0x02, 0x19, 0xFF, 0x84, 0x12, 0xB3, 0x4A, 0x1F]).unwrap();
        assert_eq!(node.content, Content::Text("12.34-1".into()));
        let node =
            decode_node(&[0xF8, 0x03, 0x19, 0x08, 0xFF, 0x84, 0x12, 0xB3, 0x4A, 0x1F]).unwrap();
        assert_eq!(node.attrs().str("id").unwrap(), "12.34-1");
    }

    #[test]
    fn refuses_reserved_tags_and_lies() {
        assert!(matches!(
            decode_node(&[0xF8, 0x01, 0xF0]),
            Err(DecodeError::InvalidTag { tag: 0xF0, .. })
        ));
        assert!(matches!(
            decode_node(&[0xF8, 0x01, 0xFC, 0x09, b'a']),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
        assert!(matches!(
            decode_node(&[0x00]),
            Err(DecodeError::EmptyNode { .. })
        ));
        assert!(matches!(
            decode_node(&[0xF8, 0x01, 0x19, 0x19]),
            Err(DecodeError::TrailingBytes { .. })
        ));
        assert!(matches!(
            decode_node(&[0xF8, 0x01, 0xFF, 0x01, 0xCC]),
            Err(DecodeError::InvalidPacked { .. })
        ));
    }

    #[test]
    fn nested_jids_are_refused_without_recursion() {
        // Found by cargo fuzz: an AD_JID whose user is an AD_JID whose user is ...
        let mut bytes = vec![0xF8, 0x02, 0x19];
        for _ in 0..200_000 {
            bytes.extend_from_slice(&[0xF7, 0x00, 0x00]);
        }
        assert!(matches!(
            decode_node(&bytes),
            Err(DecodeError::InvalidTag {
                offset: 6,
                tag: 0xF7,
                ..
            })
        ));
        let pair = [0xF8, 0x02, 0x19, 0xFA, 0xFA, 0x00, 0x03, 0x03];
        assert!(matches!(
            decode_node(&pair),
            Err(DecodeError::InvalidTag { tag: 0xFA, .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut bytes = Vec::new();
        for _ in 0..10_000 {
            bytes.extend_from_slice(&[0xF8, 0x02, 0x19, 0xF8, 0x01]);
        }
        assert!(matches!(
            decode_node(&bytes),
            Err(DecodeError::TooDeep { .. })
        ));
    }

    #[test]
    fn deflated_frames_inflate_with_a_cap() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[0xF8, 0x01, 0x19]).unwrap();
        let mut frame = vec![0x02];
        frame.extend(z.finish().unwrap());
        assert_eq!(decode_frame_plaintext(&frame).unwrap().tag, "iq");

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; MAX_INFLATED_SIZE + 10]).unwrap();
        let mut bomb = vec![0x02];
        bomb.extend(z.finish().unwrap());
        assert!(bomb.len() < 100_000);
        assert_eq!(
            decode_frame_plaintext(&bomb),
            Err(DecodeError::InflatedTooLarge {
                limit: MAX_INFLATED_SIZE
            })
        );
        assert!(matches!(
            decode_frame_plaintext(&[0x02, 1, 2, 3]),
            Err(DecodeError::Inflate { .. })
        ));
    }
}
