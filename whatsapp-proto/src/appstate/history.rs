//! History-sync blobs: the decrypted download (or the notification's inline
//! payload) is a zlib stream (RFC 1950) of a `HistorySync` protobuf. Inflation
//! is capped so a small hostile blob cannot expand without bound.
//! Facts: fact sheet part 2 §9.2; whatsmeow `message.go` (DownloadHistorySync).

use std::io::Read;

use flate2::read::ZlibDecoder;
use prost::Message as _;

use crate::pb::history::HistorySync;

/// Default cap on an inflated history-sync blob. Real chunks are a few MiB to
/// tens of MiB; this leaves room while bounding memory.
pub const DEFAULT_MAX_INFLATED: usize = 256 * 1024 * 1024;

/// Why a history-sync blob was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The zlib stream is corrupt or truncated.
    #[error("zlib inflate failed after {inflated} bytes: {reason}")]
    Inflate {
        /// Bytes produced before the failure.
        inflated: usize,
        /// The decompressor's message.
        reason: String,
    },
    /// The inflated data would exceed the cap.
    #[error("inflated history sync exceeds {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The inflated bytes are not a `HistorySync`.
    #[error("HistorySync does not decode: {reason}")]
    Decode {
        /// The protobuf decoder's message.
        reason: String,
    },
}

/// Inflates a zlib stream, refusing output larger than `max_len` bytes.
pub fn inflate_zlib(compressed: &[u8], max_len: usize) -> Result<Vec<u8>, HistoryError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(max_len).min(1 << 24));
    // Reading one byte past the cap tells "exactly max_len" from "more".
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    ZlibDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| HistoryError::Inflate {
            inflated: out.len(),
            reason: e.to_string(),
        })?;
    if out.len() > max_len {
        return Err(HistoryError::TooLarge { limit: max_len });
    }
    Ok(out)
}

/// Inflates and parses a history-sync blob.
///
/// ```
/// use std::io::Write;
/// use prost::Message as _;
/// use whatsapp_proto::appstate::history::{inflate_history_sync, DEFAULT_MAX_INFLATED};
/// use whatsapp_proto::pb::history::HistorySync;
/// let sync = HistorySync { sync_type: 4, ..Default::default() };
/// let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
/// z.write_all(&sync.encode_to_vec()).unwrap();
/// let blob = z.finish().unwrap();
/// assert_eq!(inflate_history_sync(&blob, DEFAULT_MAX_INFLATED).unwrap(), sync);
/// ```
pub fn inflate_history_sync(
    compressed: &[u8],
    max_len: usize,
) -> Result<HistorySync, HistoryError> {
    let raw = inflate_zlib(compressed, max_len)?;
    HistorySync::decode(raw.as_slice()).map_err(|e| HistoryError::Decode {
        reason: e.to_string(),
    })
}
