//! The media server's download answers: whole blobs, byte ranges (`Range: bytes=N-` or
//! `bytes=N-M`, answered `206` with `Content-Range`; guess: the real media CDN honours ranges
//! as HTTP caches do, whatsmeow and Baileys simply never ask), and downloads cut short by
//! the [`crate::fault::Fault::CutMediaDownloads`] fault.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The bytes `[start, end]` a `Range` header asks of a `len`-byte blob: `Ok(None)` without
/// one, `Err` when it asks for nothing the blob has (answered `416`). Only one range.
pub(crate) fn requested(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let spec = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .ok_or(())?;
    let (start, end) = spec.split_once('-').ok_or(())?;
    let start: u64 = start.trim().parse().map_err(|_| ())?;
    let end: u64 = match end.trim() {
        "" => len.saturating_sub(1),
        end => end
            .parse::<u64>()
            .map_err(|_| ())?
            .min(len.saturating_sub(1)),
    };
    if start >= len || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The answer to a download of `blob`: all of it, the range asked for, and cut off after
/// `cut` bytes of the answer's body when a fault says so (its `Content-Length` still promises
/// the rest, and the connection drops).
pub(crate) fn answer(blob: Vec<u8>, headers: &HeaderMap, cut: Option<u64>) -> Response {
    let len = blob.len() as u64;
    let (status, body, range) = match requested(headers, len) {
        Ok(None) => (StatusCode::OK, blob, None),
        Ok(Some((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            blob[start as usize..=end as usize].to_vec(),
            Some(format!("bytes {start}-{end}/{len}")),
        ),
        Err(()) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
    };
    let full = body.len();
    let body = match cut {
        Some(after) if (after as usize) < full => {
            let part = Bytes::from(body[..after as usize].to_vec());
            // The bytes go out before the connection drops: hyper flushes what it has between
            // polls of the body, and aborts without flushing on an error it gets at once.
            let pieces = futures_util::stream::unfold(Some(part), |part| async move {
                match part {
                    Some(part) => Some((Ok(part), None)),
                    None => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Some((
                            Err(std::io::Error::other("fault: the download is cut short")),
                            None,
                        ))
                    }
                }
            });
            Body::from_stream(pieces)
        }
        _ => Body::from(body),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    if let Some(range) = range
        && let Ok(value) = HeaderValue::from_str(&range)
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranged(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).expect("value"));
        headers
    }

    #[test]
    fn ranges_within_the_blob_are_served_and_others_refused() {
        assert_eq!(requested(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(requested(&ranged("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(requested(&ranged("bytes=4-6"), 10), Ok(Some((4, 6))));
        assert_eq!(requested(&ranged("bytes=4-99"), 10), Ok(Some((4, 9))));
        for bad in ["bytes=10-", "bytes=6-4", "bytes=-3", "items=1-", "bytes=x-"] {
            assert_eq!(requested(&ranged(bad), 10), Err(()), "{bad}");
        }
    }
}
