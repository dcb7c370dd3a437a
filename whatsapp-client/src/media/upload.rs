//! Uploads (part 2 §7.3-7.4; whatsmeow `upload.go`). The upload URL names the blob's hash,
//! so the blob must be whole before it is sent: bytes in memory are encrypted in memory; a
//! file or a reader is encrypted and hashed as it is read, into an anonymous temporary file
//! (whatsmeow `UploadReader` does the same) that the request body then streams from with its
//! length declared. Neither the plaintext nor the blob is ever held in memory whole.

use http::Uri;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use whatsapp_proto::media::{self, MediaEncryptor, MediaType};
use whatsapp_proto::pb::e2e;

use super::outgoing::{MediaSource, OutgoingMedia};
use super::{DEFAULT_MEDIA_HOST, media_conn, on_media_server};
use crate::ClientError;
use crate::context::Shared;
use crate::http::{TransferError, Upload};

/// The largest upload answer read (a small JSON object).
const UPLOAD_ANSWER_LIMIT: u64 = 64 * 1024;

/// The piece a file or reader is read in.
const READ_PIECE: usize = 64 * 1024;

/// What the media server answered and the fields the message needs (whatsmeow
/// `UploadResponse`).
pub(crate) struct Uploaded {
    pub(crate) media_key: [u8; 32],
    pub(crate) file_sha256: [u8; 32],
    pub(crate) file_enc_sha256: [u8; 32],
    pub(crate) file_length: u64,
    pub(crate) direct_path: String,
    pub(crate) url: Option<String>,
}

/// Encrypts and uploads an attachment and builds its message.
pub(crate) async fn upload(
    shared: &Shared,
    mut media: OutgoingMedia,
) -> Result<e2e::Message, ClientError> {
    media.check()?;
    #[cfg(feature = "thumbnails")]
    if media.generate_thumbnail {
        media = super::thumbnail::fill(media, shared.config.media_max_bytes).await?;
    }
    let source = std::mem::replace(&mut media.source, MediaSource::Bytes(Vec::new()));
    let uploaded = upload_source(shared, source, media.kind.media_type()).await?;
    let now = crate::clock::UnixMillis::now().as_secs() as i64;
    Ok(media.into_message(uploaded, now))
}

/// Encrypts `source` under a fresh media key and uploads the blob.
pub(crate) async fn upload_source(
    shared: &Shared,
    source: MediaSource,
    media_type: MediaType,
) -> Result<Uploaded, ClientError> {
    let mut media_key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut media_key);
    let max = shared.config.media_max_bytes;
    let (body, hashes) = match source {
        MediaSource::Bytes(data) => {
            if data.len() as u64 > max {
                return Err(TransferError::TooLarge { limit: max }.into());
            }
            let encrypted = media::encrypt(&media_key, media_type, &data);
            let hashes = (
                encrypted.file_sha256,
                encrypted.file_enc_sha256,
                encrypted.file_length,
            );
            (Upload::Bytes(encrypted.blob), hashes)
        }
        MediaSource::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                ClientError::InvalidArgument(format!("media file {}: {e}", path.display()))
            })?;
            encrypt_to_temp(file, &media_key, media_type, max).await?
        }
        MediaSource::Reader(reader) => encrypt_to_temp(reader, &media_key, media_type, max).await?,
    };
    let (file_sha256, file_enc_sha256, file_length) = hashes;
    let conn = media_conn(shared).await?;
    let host = conn
        .hosts
        .first()
        .map_or(DEFAULT_MEDIA_HOST, String::as_str);
    let url = media::upload_url(host, media_type, &file_enc_sha256, &conn.auth);
    let url = on_media_server(shared, host, url);
    let url: Uri = url
        .parse()
        .map_err(|_| TransferError::Refused(format!("bad upload URL {url}")))?;
    let response = shared.http.post(&url, body, UPLOAD_ANSWER_LIMIT).await?;
    let json: serde_json::Value = serde_json::from_slice(&response)
        .map_err(|e| TransferError::Failed(format!("upload answer is not JSON: {e}")))?;
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let direct_path = field("direct_path")
        .ok_or_else(|| TransferError::Failed("upload answer has no direct_path".into()))?;
    Ok(Uploaded {
        media_key,
        file_sha256,
        file_enc_sha256,
        file_length,
        direct_path,
        url: field("url"),
    })
}

/// Reads `reader` to its end through the encryptor into an anonymous temporary file (removed
/// by the system once closed), rewound for the upload; refuses plaintext over `max` bytes.
async fn encrypt_to_temp(
    mut reader: impl AsyncRead + Unpin,
    media_key: &[u8; 32],
    media_type: MediaType,
    max: u64,
) -> Result<(Upload, ([u8; 32], [u8; 32], u64)), ClientError> {
    let temp = tempfile::tempfile().map_err(TransferError::Write)?;
    let mut temp = tokio::fs::File::from_std(temp);
    let mut encryptor = MediaEncryptor::new(media_key, media_type);
    let mut piece = vec![0u8; READ_PIECE];
    let mut sealed = Vec::with_capacity(READ_PIECE + 16);
    let mut blob_len = 0u64;
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut piece).await.map_err(TransferError::Read)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > max {
            return Err(TransferError::TooLarge { limit: max }.into());
        }
        sealed.clear();
        encryptor.update_into(&piece[..n], &mut sealed);
        temp.write_all(&sealed)
            .await
            .map_err(TransferError::Write)?;
        blob_len += sealed.len() as u64;
    }
    let tail = encryptor.finish();
    temp.write_all(&tail.tail)
        .await
        .map_err(TransferError::Write)?;
    blob_len += tail.tail.len() as u64;
    temp.flush().await.map_err(TransferError::Write)?;
    temp.rewind().await.map_err(TransferError::Write)?;
    Ok((
        Upload::File(temp, blob_len),
        (tail.file_sha256, tail.file_enc_sha256, tail.file_length),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in uneven pieces, as a socket would.
    struct Trickle(Vec<u8>, usize);

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let at = self.1;
            let n = (at % 977 + 1).min(self.0.len() - at).min(buf.remaining());
            buf.put_slice(&self.0[at..at + n]);
            self.1 += n;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_streamed_encryption_is_the_blob_of_a_whole_one() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let key = [4u8; 32];
        let (upload, (sha, enc_sha, len)) =
            encrypt_to_temp(Trickle(plain.clone(), 0), &key, MediaType::Video, 1 << 20)
                .await
                .expect("encrypt");
        let whole = media::encrypt(&key, MediaType::Video, &plain);
        assert_eq!(
            (sha, enc_sha, len),
            (whole.file_sha256, whole.file_enc_sha256, whole.file_length)
        );
        let Upload::File(mut file, blob_len) = upload else {
            panic!("a reader goes through a file");
        };
        let mut blob = Vec::new();
        file.read_to_end(&mut blob).await.expect("read back");
        assert_eq!((blob_len, blob), (whole.blob.len() as u64, whole.blob));
        let over = encrypt_to_temp(Trickle(plain, 0), &key, MediaType::Video, 1000).await;
        assert!(matches!(
            over,
            Err(ClientError::Transfer(TransferError::TooLarge {
                limit: 1000
            }))
        ));
    }
}
