//! Frames: a 3-byte big-endian length, then that many bytes (../shared/protocol part 1 §1.2-1.4).
//!
//! The client puts the intro header `57 41 06 03` (optionally after an `ED 00 01`
//! edge-routing block) in front of its first frame only. WebSocket messages may split or
//! merge frames in any way, so [`FrameDecoder`] buffers bytes and cuts frames out of them.
//!
//! ```
//! use whatsapp_proto::frame::{FrameDecoder, FrameEncoder};
//!
//! let mut encoder = FrameEncoder::new(None).unwrap();
//! let first = encoder.encode(b"hello").unwrap();
//! assert_eq!(&first[..7], &[0x57, 0x41, 0x06, 0x03, 0, 0, 5]);
//!
//! // A server reads frames without the intro; feed it byte by byte.
//! let mut decoder = FrameDecoder::new();
//! let frame = FrameEncoder::without_intro().encode(b"hi").unwrap();
//! let mut out = Vec::new();
//! for byte in &frame {
//!     decoder.push(std::slice::from_ref(byte));
//!     while let Some(f) = decoder.next_frame().unwrap() {
//!         out.push(f);
//!     }
//! }
//! assert_eq!(out, vec![b"hi".to_vec()]);
//! ```

use crate::binary::DICT_VERSION;

/// The intro header: `W`, `A`, the magic 6 and the dictionary version 3
/// (whatsmeow `socket/constants.go` `WAConnHeader`). It is also the Noise prologue.
pub const INTRO_HEADER: [u8; 4] = [b'W', b'A', 6, DICT_VERSION];

/// The edge-routing pre-intro marker `ED 00 01` (Baileys `src/Utils/noise-handler.ts`).
pub const EDGE_ROUTING_MAGIC: [u8; 4] = [b'E', b'D', 0, 1];

/// Frames are at most 16 MiB - 1 bytes: the length field has 24 bits.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;

/// Why a frame cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A payload longer than [`MAX_FRAME_SIZE`].
    #[error("frame payload of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Edge-routing data longer than its 24-bit length field allows.
    #[error("edge routing data of {len} bytes exceeds {max}")]
    RoutingTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream does not start with the intro header (server side).
    #[error("stream does not start with the WA intro header: got {got:02x?}")]
    BadIntro {
        /// The bytes found instead.
        got: Vec<u8>,
    },
    /// A frame length exceeding the configured maximum.
    #[error("incoming frame of {len} bytes exceeds the limit of {max}")]
    IncomingTooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Writes frames, putting the intro (and edge routing, if any) before the first.
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    prefix: Option<Vec<u8>>,
}

impl FrameEncoder {
    /// A client-side encoder; `routing_info` comes from an earlier `<edge_routing>` and
    /// must fit its 24-bit length field.
    pub fn new(routing_info: Option<&[u8]>) -> Result<FrameEncoder, FrameError> {
        let mut prefix = Vec::new();
        if let Some(routing) = routing_info {
            if routing.len() > MAX_FRAME_SIZE {
                return Err(FrameError::RoutingTooLarge {
                    len: routing.len(),
                    max: MAX_FRAME_SIZE,
                });
            }
            prefix.extend_from_slice(&EDGE_ROUTING_MAGIC);
            prefix.extend_from_slice(&length_bytes(routing.len()));
            prefix.extend_from_slice(routing);
        }
        prefix.extend_from_slice(&INTRO_HEADER);
        Ok(FrameEncoder {
            prefix: Some(prefix),
        })
    }

    /// A server-side encoder: frames only, no intro.
    pub fn without_intro() -> FrameEncoder {
        FrameEncoder { prefix: None }
    }

    /// One WebSocket message holding `payload` as a frame (with the intro the first time).
    pub fn encode(&mut self, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        if payload.len() > MAX_FRAME_SIZE {
            return Err(FrameError::TooLarge {
                len: payload.len(),
                max: MAX_FRAME_SIZE,
            });
        }
        let prefix = self.prefix.take().unwrap_or_default();
        let mut out = Vec::with_capacity(prefix.len() + 3 + payload.len());
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&length_bytes(payload.len()));
        out.extend_from_slice(payload);
        Ok(out)
    }
}

fn length_bytes(len: usize) -> [u8; 3] {
    [(len >> 16) as u8, (len >> 8) as u8, len as u8]
}

/// Cuts frames out of a byte stream that arrives in arbitrary pieces.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max: usize,
    expect_intro: bool,
}

impl Default for FrameDecoder {
    fn default() -> FrameDecoder {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder for frames without an intro (what a client receives).
    pub fn new() -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max: MAX_FRAME_SIZE,
            expect_intro: false,
        }
    }

    /// A decoder for a server: the stream starts with an optional edge-routing block and
    /// the intro header, which are checked and skipped.
    pub fn server() -> FrameDecoder {
        FrameDecoder {
            expect_intro: true,
            ..FrameDecoder::new()
        }
    }

    /// Lowers the largest frame accepted (never above [`MAX_FRAME_SIZE`]).
    pub fn with_max_frame(mut self, max: usize) -> FrameDecoder {
        self.max = max.min(MAX_FRAME_SIZE);
        self
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.expect_intro && !self.skip_intro()? {
            return Ok(None);
        }
        let pending = &self.buf[self.start..];
        if pending.len() < 3 {
            self.compact();
            return Ok(None);
        }
        let len = (usize::from(pending[0]) << 16)
            | (usize::from(pending[1]) << 8)
            | usize::from(pending[2]);
        if len > self.max {
            return Err(FrameError::IncomingTooLarge { len, max: self.max });
        }
        if pending.len() < 3 + len {
            self.compact();
            return Ok(None);
        }
        let frame = pending[3..3 + len].to_vec();
        self.start += 3 + len;
        Ok(Some(frame))
    }

    /// Checks and drops `[ED 00 01 len routing] WA 06 03`; `Ok(false)` while incomplete.
    fn skip_intro(&mut self) -> Result<bool, FrameError> {
        let pending = &self.buf[self.start..];
        let mut at = 0;
        if pending.len() >= 2 && pending[..2] == EDGE_ROUTING_MAGIC[..2] {
            if pending.len() < 7 {
                return Ok(false);
            }
            if pending[..4] != EDGE_ROUTING_MAGIC {
                return Err(FrameError::BadIntro {
                    got: pending[..4].to_vec(),
                });
            }
            let len = (usize::from(pending[4]) << 16)
                | (usize::from(pending[5]) << 8)
                | usize::from(pending[6]);
            at = 7 + len;
        }
        if pending.len() < at + INTRO_HEADER.len() {
            // A wrong first byte can be refused before the whole header arrives.
            if let Some(&b) = pending.get(at)
                && b != INTRO_HEADER[0]
            {
                return Err(FrameError::BadIntro { got: vec![b] });
            }
            return Ok(false);
        }
        if pending[at..at + 4] != INTRO_HEADER {
            return Err(FrameError::BadIntro {
                got: pending[at..at + 4].to_vec(),
            });
        }
        self.start += at + 4;
        self.expect_intro = false;
        Ok(true)
    }

    /// Moves unread bytes to the front so the buffer does not grow without bound.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intro_only_before_the_first_frame() {
        let mut enc = FrameEncoder::new(None).unwrap();
        assert_eq!(
            enc.encode(&[1]).unwrap(),
            [0x57, 0x41, 0x06, 0x03, 0, 0, 1, 1]
        );
        assert_eq!(enc.encode(&[2]).unwrap(), [0, 0, 1, 2]);
    }

    #[test]
    fn edge_routing_precedes_the_intro() {
        let mut enc = FrameEncoder::new(Some(&[9, 9])).unwrap();
        let out = enc.encode(&[7]).unwrap();
        assert_eq!(
            out,
            [
                b'E', b'D', 0, 1, 0, 0, 2, 9, 9, 0x57, 0x41, 6, 3, 0, 0, 1, 7
            ]
        );
        let mut dec = FrameDecoder::server();
        dec.push(&out);
        assert_eq!(dec.next_frame().unwrap(), Some(vec![7]));
    }

    #[test]
    fn merged_and_split_frames() {
        let mut enc = FrameEncoder::without_intro();
        let mut stream = Vec::new();
        for i in 0..50u8 {
            stream.extend(enc.encode(&vec![i; usize::from(i) * 7]).unwrap());
        }
        for chunk in [1, 2, 3, 5, 64, 1000, stream.len()] {
            let mut dec = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                dec.push(piece);
                while let Some(f) = dec.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 50, "chunk {chunk}");
            assert!(
                got.iter()
                    .enumerate()
                    .all(|(i, f)| f.len() == i * 7 && f.iter().all(|&b| b == i as u8))
            );
            assert_eq!(dec.buffered(), 0);
        }
    }

    #[test]
    fn limits() {
        let mut dec = FrameDecoder::new().with_max_frame(10);
        dec.push(&[0, 0, 11]);
        assert!(matches!(
            dec.next_frame(),
            Err(FrameError::IncomingTooLarge { len: 11, .. })
        ));
        let mut enc = FrameEncoder::without_intro();
        assert!(enc.encode(&vec![0; MAX_FRAME_SIZE + 1]).is_err());
        let mut dec = FrameDecoder::server();
        dec.push(b"GET ");
        assert!(matches!(dec.next_frame(), Err(FrameError::BadIntro { .. })));
    }
}
