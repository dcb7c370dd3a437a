//! Media download: the blob is fetched over HTTP(S), decrypted and verified as it streams in
//! (AES-CBC, the 10-byte MAC, both SHA-256 hashes; part 2 §7.5). A mismatch is an error.

use whatsapp_proto::media::{self, MediaDecryptor, MediaHashes, MediaType};
use whatsapp_proto::pb::e2e;

use crate::ClientError;

/// The default media host (whatsmeow falls back to it as well).
pub const DEFAULT_MEDIA_HOST: &str = "mmg.whatsapp.net";

/// What is needed to download one attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The key type (image, audio, voice note, video, document, sticker).
    pub media_type: MediaType,
    /// The server path (`/v/t62…?…`).
    pub direct_path: Option<String>,
    /// The full URL, used when there is no direct path.
    pub url: Option<String>,
    /// The 32-byte media key.
    pub media_key: Vec<u8>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Vec<u8>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Vec<u8>,
    /// The MIME type, if given.
    pub mimetype: Option<String>,
    /// The plaintext length, if given.
    pub file_length: Option<u64>,
}

impl std::fmt::Debug for MediaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRef")
            .field("media_type", &self.media_type)
            .field("direct_path", &self.direct_path)
            .field("mimetype", &self.mimetype)
            .finish_non_exhaustive()
    }
}

impl MediaRef {
    /// The attachment of an image, video, audio (voice note), document or sticker message.
    pub fn from_message(message: &e2e::Message) -> Option<MediaRef> {
        macro_rules! media {
            ($m:expr, $t:expr) => {
                MediaRef {
                    media_type: $t,
                    direct_path: $m.direct_path.clone(),
                    url: $m.url.clone(),
                    media_key: $m.media_key.clone()?,
                    file_sha256: $m.file_sha256.clone()?,
                    file_enc_sha256: $m.file_enc_sha256.clone()?,
                    mimetype: $m.mimetype.clone(),
                    file_length: $m.file_length,
                }
            };
        }
        if let Some(m) = &message.image_message {
            return Some(media!(m, MediaType::Image));
        }
        if let Some(m) = &message.video_message {
            return Some(media!(m, MediaType::Video));
        }
        if let Some(m) = &message.audio_message {
            let t = if m.ptt == Some(true) {
                MediaType::Ptt
            } else {
                MediaType::Audio
            };
            return Some(media!(m, t));
        }
        if let Some(m) = &message.document_message {
            return Some(media!(m, MediaType::Document));
        }
        if let Some(m) = &message.sticker_message {
            return Some(media!(m, MediaType::Sticker));
        }
        None
    }

    /// The download URL: `base` (scheme and host, e.g. `https://mmg.whatsapp.net`) + direct
    /// path + hash and type parameters, or the message's own URL without a direct path.
    pub fn download_url(&self, base: Option<&str>) -> Option<String> {
        match (&self.direct_path, base) {
            (Some(path), Some(base)) => {
                let host_url =
                    media::download_url("x", path, &self.file_enc_sha256, self.media_type);
                // Swap whatsmeow's `https://<host>` for the configured base.
                host_url
                    .strip_prefix("https://x")
                    .map(|rest| format!("{}{rest}", base.trim_end_matches('/')))
            }
            (Some(path), None) => Some(media::download_url(
                DEFAULT_MEDIA_HOST,
                path,
                &self.file_enc_sha256,
                self.media_type,
            )),
            (None, _) => self.url.clone(),
        }
    }
}

/// Downloads, decrypts and verifies an attachment.
pub(crate) async fn download(
    media_ref: &MediaRef,
    base: Option<&str>,
) -> Result<Vec<u8>, ClientError> {
    let url = media_ref
        .download_url(base)
        .ok_or_else(|| ClientError::InvalidArgument("the media has no path or URL".into()))?;
    let hashes = MediaHashes::from_slices(&media_ref.file_sha256, &media_ref.file_enc_sha256)
        .map_err(ClientError::Media)?;
    let mut decryptor = MediaDecryptor::new(&media_ref.media_key, media_ref.media_type, hashes);
    let mut plain = Vec::with_capacity(
        media_ref
            .file_length
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .min(64 << 20),
    );
    crate::http::get(&url, |chunk| decryptor.update_into(chunk, &mut plain)).await?;
    plain.extend(decryptor.finish().map_err(ClientError::Media)?);
    Ok(plain)
}
