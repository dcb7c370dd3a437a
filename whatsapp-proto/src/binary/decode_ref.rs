//! Bytes -> borrowed node ([`NodeTree`]). Accepts and refuses exactly what
//! [`super::decode_node`] does, with the same [`DecodeError`]s (a property test and a fuzz
//! target hold the two together); it only avoids copying.

use super::cursor::{Cursor, reads_through_cursor};
use super::decode::DecodeError;
use super::node_ref::{NodeTree, RawContent, RawJid, RawNode, RawStr, RawValue};
use super::token;
use crate::jid::{DOMAIN_HOSTED, DOMAIN_HOSTED_LID, DOMAIN_LID};

/// Decodes one node from `bytes` (no flags byte) without copying its strings or bytes;
/// leftover bytes are an error. For a frame's plaintext, take the body with
/// [`super::frame_body`] first (it inflates a compressed one).
///
/// ```
/// use whatsapp_proto::binary::{decode_node_ref, frame_body};
///
/// let plaintext = [0x00, 0xF8, 0x03, 0x19, 0x08, 0xFF, 0x84, 0x12, 0xB3, 0x4A, 0x1F];
/// let body = frame_body(&plaintext).unwrap();
/// let tree = decode_node_ref(&body).unwrap();
/// assert_eq!(tree.root().tag(), "iq");
/// assert_eq!(tree.root().attr_str("id"), Some("12.34-1"));
/// ```
pub fn decode_node_ref(bytes: &[u8]) -> Result<NodeTree<'_>, DecodeError> {
    // The fixture's stanzas spend about 48 bytes per node and 25 per attribute; a guess
    // too small only costs a regrowth, so it is capped rather than trusted to the input.
    let mut decoder = RefDecoder {
        cursor: Cursor { bytes, pos: 0 },
        tree: NodeTree {
            nodes: Vec::with_capacity((bytes.len() / 32).clamp(1, 1024)),
            attrs: Vec::with_capacity((bytes.len() / 16).clamp(2, 2048)),
            unpacked: String::new(),
            jids: Vec::new(),
        },
        unpacked: Vec::new(),
    };
    decoder.tree.nodes.push(PLACEHOLDER);
    decoder.node(0, 0)?;
    if decoder.pos < bytes.len() {
        return Err(DecodeError::TrailingBytes {
            offset: decoder.pos,
            remaining: bytes.len() - decoder.pos,
        });
    }
    let mut tree = decoder.tree;
    // Cannot fail: the glyph tables hold ASCII only.
    tree.unpacked =
        String::from_utf8(decoder.unpacked).map_err(|_| DecodeError::InvalidUtf8 { offset: 0 })?;
    Ok(tree)
}

const PLACEHOLDER: RawNode<'static> = RawNode {
    tag: RawStr::Token(""),
    attrs_start: 0,
    attrs_len: 0,
    content: RawContent::None,
};

/// Each byte of a packed string as its two characters; 0 marks a nibble with none.
const fn pair_table(hex: bool) -> [[u8; 2]; 256] {
    const fn glyph(nibble: u8, hex: bool) -> u8 {
        match nibble {
            0..=9 => b'0' + nibble,
            10..=15 if hex => b'A' + nibble - 10,
            10 => b'-',
            11 => b'.',
            _ => 0,
        }
    }
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [glyph((i >> 4) as u8, hex), glyph((i & 0x0f) as u8, hex)];
        i += 1;
    }
    table
}

static NIBBLE_PAIRS: [[u8; 2]; 256] = pair_table(false);
static HEX_PAIRS: [[u8; 2]; 256] = pair_table(true);

enum RawItem<'a> {
    Text(RawStr<'a>),
    Jid(RawJid<'a>),
}

struct RefDecoder<'a> {
    cursor: Cursor<'a>,
    tree: NodeTree<'a>,
    /// The unpacked characters (ASCII); the tree's `unpacked` once decoding is done.
    unpacked: Vec<u8>,
}

reads_through_cursor!(RefDecoder);

impl<'a> RefDecoder<'a> {
    /// Reads a node into the slot its parent reserved.
    fn node(&mut self, depth: usize, slot: usize) -> Result<(), DecodeError> {
        let size = self.node_size(depth)?;
        let tag_offset = self.pos;
        let tag = self.text("node tag")?;
        if self.is_empty(tag) {
            return Err(DecodeError::EmptyNode { offset: tag_offset });
        }
        let attrs_start = self.tree.attrs.len();
        let attrs_len = (size - 1) >> 1;
        // Each attribute takes at least two bytes; a lying count cannot reserve more.
        self.tree.attrs.reserve(attrs_len.min(self.remaining() / 2));
        for _ in 0..attrs_len {
            let key = self.text("attribute name")?;
            let value = match self.bytes.get(self.pos) {
                // Many values are single-byte tokens too ("text", "pkmsg", "2", ...).
                Some(&tag @ 1..=235) => {
                    self.pos += 1;
                    RawValue::Text(RawStr::Token(token::single(tag).unwrap_or_default()))
                }
                _ => match self.item("attribute value")? {
                    RawItem::Text(text) => RawValue::Text(text),
                    RawItem::Jid(jid) => RawValue::Jid(jid),
                },
            };
            self.tree.attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            RawContent::None
        };
        self.tree.nodes[slot] = RawNode {
            tag,
            attrs_start,
            attrs_len,
            content,
        };
        Ok(())
    }

    fn is_empty(&self, s: RawStr<'a>) -> bool {
        match s {
            RawStr::Token(s) | RawStr::Slice(s) => s.is_empty(),
            RawStr::Unpacked { len, .. } => len == 0,
        }
    }

    fn content(&mut self, depth: usize) -> Result<RawContent<'a>, DecodeError> {
        let offset = self.pos;
        let tag = self.byte("content")?;
        match tag {
            token::LIST_EMPTY | token::LIST_8 | token::LIST_16 => {
                let count = self.list_size(tag, offset)?;
                let start = self.tree.nodes.len();
                // The children's slots are reserved together so they stay contiguous.
                // A node takes at least three bytes, so a lying count fails before it
                // reaches the slots beyond what the input could hold.
                let slots = count.min(self.remaining() / 2 + 1);
                self.tree.nodes.resize(start + slots, PLACEHOLDER);
                for i in 0..count {
                    self.node(depth + 1, start + i.min(slots.saturating_sub(1)))?;
                }
                Ok(RawContent::Nodes { start, len: count })
            }
            token::BINARY_8 | token::BINARY_20 | token::BINARY_32 => {
                let len = self.binary_length(tag)?;
                Ok(RawContent::Bytes(self.take(len, "byte content")?))
            }
            _ => {
                self.pos = offset;
                Ok(match self.item("content")? {
                    RawItem::Text(text) => RawContent::Text(text),
                    RawItem::Jid(jid) => {
                        self.tree.jids.push(jid);
                        RawContent::Jid(self.tree.jids.len() - 1)
                    }
                })
            }
        }
    }

    /// A string that must be text; a JID tag is refused before anything past it is read.
    #[inline]
    fn text(&mut self, what: &'static str) -> Result<RawStr<'a>, DecodeError> {
        let offset = self.pos;
        // Most tags and attribute names are single-byte tokens.
        if let Some(&tag @ 1..=235) = self.bytes.get(offset) {
            self.pos += 1;
            return Ok(RawStr::Token(token::single(tag).unwrap_or_default()));
        }
        if let Some(&tag @ (token::JID_PAIR | token::AD_JID | token::FB_JID | token::INTEROP_JID)) =
            self.bytes.get(offset)
        {
            return Err(DecodeError::InvalidTag {
                offset,
                tag,
                expected: "text, not a JID",
            });
        }
        match self.item(what)? {
            RawItem::Text(text) => Ok(text),
            // Unreachable: JID tags were refused above.
            RawItem::Jid(_) => Err(DecodeError::InvalidTag {
                offset,
                tag: self.bytes[offset],
                expected: "text, not a JID",
            }),
        }
    }

    fn item(&mut self, what: &'static str) -> Result<RawItem<'a>, DecodeError> {
        let offset = self.pos;
        let tag = self.byte(what)?;
        let text = match tag {
            1..=235 => RawStr::Token(token::single(tag).unwrap_or_default()),
            // Baileys and whatsmeow both read LIST_EMPTY where a string goes as "nothing".
            token::LIST_EMPTY => RawStr::Token(""),
            token::DICTIONARY_0..=token::DICTIONARY_3 => {
                RawStr::Token(self.double_token(tag, offset)?)
            }
            token::BINARY_8 | token::BINARY_20 | token::BINARY_32 => {
                RawStr::Slice(self.raw_str(tag, what)?)
            }
            token::NIBBLE_8 => self.packed(&NIBBLE_PAIRS)?,
            token::HEX_8 => self.packed(&HEX_PAIRS)?,
            token::JID_PAIR => return self.jid_pair(offset).map(RawItem::Jid),
            token::AD_JID => {
                let domain = self.byte("AD JID domain")?;
                let device = self.byte("AD JID device")?;
                let user = self.text("AD JID user")?;
                // whatsmeow `types/jid.go` NewADJID: unknown domain types are raw agents.
                let (server, agent) = match domain {
                    DOMAIN_LID => ("lid", 0),
                    DOMAIN_HOSTED => ("hosted", 0),
                    DOMAIN_HOSTED_LID => ("hosted.lid", 0),
                    other => ("s.whatsapp.net", other),
                };
                return Ok(RawItem::Jid(RawJid {
                    user,
                    server: RawStr::Token(server),
                    agent,
                    device: u16::from(device),
                    integrator: 0,
                }));
            }
            token::FB_JID => {
                let user = self.text("FB JID user")?;
                let device = self.u16("FB JID device")?;
                let server = self.text("FB JID server")?;
                if !self.is(server, "msgr") {
                    return Err(DecodeError::InvalidJid {
                        offset,
                        reason: "FB JID server is not msgr",
                    });
                }
                return Ok(RawItem::Jid(RawJid {
                    user,
                    server,
                    agent: 0,
                    device,
                    integrator: 0,
                }));
            }
            token::INTEROP_JID => {
                let user = self.text("interop JID user")?;
                let device = self.u16("interop JID device")?;
                let integrator = self.u16("interop JID integrator")?;
                let server = self.text("interop JID server")?;
                if !self.is(server, "interop") {
                    return Err(DecodeError::InvalidJid {
                        offset,
                        reason: "interop JID server is not interop",
                    });
                }
                return Ok(RawItem::Jid(RawJid {
                    user,
                    server,
                    agent: 0,
                    device,
                    integrator,
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
        Ok(RawItem::Text(text))
    }

    fn is(&self, s: RawStr<'a>, want: &str) -> bool {
        match s {
            RawStr::Token(s) | RawStr::Slice(s) => s == want,
            RawStr::Unpacked { start, len } => {
                &self.unpacked[start..start + len] == want.as_bytes()
            }
        }
    }

    fn jid_pair(&mut self, offset: usize) -> Result<RawJid<'a>, DecodeError> {
        let user = self.text("JID user")?;
        let server = self.text("JID server")?;
        if self.is_empty(server) {
            return Err(DecodeError::InvalidJid {
                offset,
                reason: "JID pair has no server",
            });
        }
        Ok(RawJid {
            user,
            server,
            agent: 0,
            device: 0,
            integrator: 0,
        })
    }

    /// A nibble- or hex-packed string, unpacked into the tree's buffer.
    fn packed(&mut self, pairs: &[[u8; 2]; 256]) -> Result<RawStr<'a>, DecodeError> {
        let len_byte = self.byte("packed length")?;
        let start = self.pos;
        let data = self.take(usize::from(len_byte & 0x7f), "packed string")?;
        // The dropped final character of an odd string is not part of it, whatever it is.
        let (whole, half) = match data.split_last() {
            Some((&last, whole)) if len_byte & 0x80 != 0 => (whole, Some(last)),
            _ => (data, None),
        };
        let out = &mut self.unpacked;
        if out.capacity() == 0 {
            // Enough for a stanza's usual few ids and numbers in one allocation.
            out.reserve(64);
        }
        let begin = out.len();
        let len = whole.len() * 2 + usize::from(half.is_some());
        out.resize(begin + len, 0);
        let dst = &mut out[begin..];
        let mut valid = true;
        for (chars, &byte) in dst.chunks_exact_mut(2).zip(whole) {
            let pair = pairs[usize::from(byte)];
            valid &= pair[0] != 0 && pair[1] != 0;
            chars.copy_from_slice(&pair);
        }
        if let Some(byte) = half {
            let high = pairs[usize::from(byte)][0];
            valid &= high != 0;
            dst[len - 1] = high;
        }
        if !valid {
            return Err(packed_error(data, start, pairs, half.is_some()));
        }
        Ok(RawStr::Unpacked { start: begin, len })
    }
}

/// The first nibble with no character, as the owned decoder reports it.
#[cold]
fn packed_error(data: &[u8], start: usize, pairs: &[[u8; 2]; 256], odd: bool) -> DecodeError {
    for (i, &byte) in data.iter().enumerate() {
        let [high, low] = pairs[usize::from(byte)];
        if high == 0 {
            return DecodeError::InvalidPacked {
                offset: start + i,
                value: byte >> 4,
            };
        }
        let dropped = odd && i + 1 == data.len();
        if low == 0 && !dropped {
            return DecodeError::InvalidPacked {
                offset: start + i,
                value: byte & 0x0f,
            };
        }
    }
    // Unreachable: the caller found an invalid nibble.
    DecodeError::InvalidPacked {
        offset: start,
        value: 0,
    }
}
