//! The read position both decoders share: bounds-checked reads that report where the input
//! ran out, list and byte-string lengths, and the items that read the same either way.

use super::decode::{DecodeError, MAX_DEPTH};
use super::token;

pub(crate) struct Cursor<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.bytes.get(self.pos..self.pos.saturating_add(n)) {
            Some(slice) => {
                self.pos += n;
                Ok(slice)
            }
            None => Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: n - self.remaining(),
                what,
            }),
        }
    }

    #[inline]
    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: 1,
                what,
            }),
        }
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn list_size(&mut self, tag: u8, offset: usize) -> Result<usize, DecodeError> {
        match tag {
            token::LIST_EMPTY => Ok(0),
            token::LIST_8 => Ok(usize::from(self.byte("list size")?)),
            token::LIST_16 => Ok(usize::from(self.u16("list size")?)),
            _ => Err(DecodeError::InvalidTag {
                offset,
                tag,
                expected: "a list header",
            }),
        }
    }

    pub(crate) fn binary_length(&mut self, tag: u8) -> Result<usize, DecodeError> {
        Ok(match tag {
            token::BINARY_8 => usize::from(self.byte("length")?),
            token::BINARY_20 => {
                let b = self.take(3, "length")?;
                (usize::from(b[0] & 0x0f) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
            }
            _ => {
                let b = self.take(4, "length")?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        })
    }

    /// A node's list header at `depth`: how many items (tag, attribute pairs, content) follow.
    pub(crate) fn node_size(&mut self, depth: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep {
                offset: start,
                max: MAX_DEPTH,
            });
        }
        let header = self.byte("node header")?;
        match self.list_size(header, start)? {
            0 => Err(DecodeError::EmptyNode { offset: start }),
            size => Ok(size),
        }
    }

    /// The string of a double-byte token whose dictionary tag (236..=239) was read at `offset`.
    pub(crate) fn double_token(
        &mut self,
        tag: u8,
        offset: usize,
    ) -> Result<&'static str, DecodeError> {
        let index = self.byte("double-byte token index")?;
        let dictionary = tag - token::DICTIONARY_0;
        token::double(dictionary, index).ok_or(DecodeError::TokenOutOfRange {
            offset,
            dictionary,
            index,
        })
    }

    /// A byte string that must be UTF-8, after its BINARY_8/20/32 tag.
    pub(crate) fn raw_str(&mut self, tag: u8, what: &'static str) -> Result<&'a str, DecodeError> {
        let len = self.binary_length(tag)?;
        let start = self.pos;
        let raw = self.take(len, what)?;
        std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 { offset: start })
    }
}

/// Gives a decoder that holds a [`Cursor`] in its `cursor` field the cursor's reads.
macro_rules! reads_through_cursor {
    ($decoder:ident) => {
        impl<'a> std::ops::Deref for $decoder<'a> {
            type Target = Cursor<'a>;
            fn deref(&self) -> &Cursor<'a> {
                &self.cursor
            }
        }
        impl<'a> std::ops::DerefMut for $decoder<'a> {
            fn deref_mut(&mut self) -> &mut Cursor<'a> {
                &mut self.cursor
            }
        }
    };
}
pub(crate) use reads_through_cursor;
