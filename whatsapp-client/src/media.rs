//! Media download: the blob is fetched over HTTP(S), decrypted and verified as it streams in
//! (AES-CBC, the 10-byte MAC, both SHA-256 hashes; part 2 §7.5). A mismatch is an error.

use whatsapp_proto::binary::Node;
use whatsapp_proto::content::{self, Content};
use whatsapp_proto::jid::Jid;
use whatsapp_proto::media::{self, MediaDecryptor, MediaHashes, MediaType};
use whatsapp_proto::pb::e2e;

use crate::ClientError;
use crate::client::Shared;

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
    /// The attachment of a message (image, video, round video, audio, voice note, document
    /// or sticker), its wrappers looked through (disappearing, view-once, document with
    /// caption, …): read through [`whatsapp_proto::content`].
    pub fn from_message(message: &e2e::Message) -> Option<MediaRef> {
        match Content::of(content::unwrap(message).message) {
            Content::Media(media) => MediaRef::from_media(&media),
            _ => None,
        }
    }

    /// The attachment of [`Content::Media`]; `None` without its key and both hashes.
    pub fn from_media(media: &content::Media) -> Option<MediaRef> {
        Some(MediaRef {
            media_type: media.kind?.media_type(),
            direct_path: media.direct_path.clone(),
            url: media.url.clone(),
            media_key: media.media_key.clone()?,
            file_sha256: media.file_sha256.clone()?,
            file_enc_sha256: media.file_enc_sha256.clone()?,
            mimetype: media.mimetype.clone(),
            file_length: media.file_length,
        })
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

/// Downloads and decrypts an attachment into `out` as it streams in; verified at the end.
/// Until this returns `Ok`, what was written is unauthenticated: discard it on error.
pub(crate) async fn download_to(
    media_ref: &MediaRef,
    base: Option<&str>,
    out: &mut (impl std::io::Write + Send),
) -> Result<u64, ClientError> {
    let url = media_ref
        .download_url(base)
        .ok_or_else(|| ClientError::InvalidArgument("the media has no path or URL".into()))?;
    let hashes = MediaHashes::from_slices(&media_ref.file_sha256, &media_ref.file_enc_sha256)
        .map_err(ClientError::Media)?;
    let mut decryptor = MediaDecryptor::new(&media_ref.media_key, media_ref.media_type, hashes);
    let mut written = 0u64;
    let mut write_error = None;
    let mut buffer = Vec::new();
    crate::http::get(&url, |chunk| {
        buffer.clear();
        decryptor.update_into(chunk, &mut buffer);
        if write_error.is_none() {
            match out.write_all(&buffer) {
                Ok(()) => written += buffer.len() as u64,
                Err(e) => write_error = Some(e),
            }
        }
    })
    .await?;
    let tail = decryptor.finish().map_err(ClientError::Media)?;
    if let Some(e) = write_error {
        return Err(ClientError::Http {
            reason: format!("writing the download: {e}"),
        });
    }
    out.write_all(&tail).map_err(|e| ClientError::Http {
        reason: format!("writing the download: {e}"),
    })?;
    Ok(written + tail.len() as u64)
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

/// What kind of attachment to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaKind {
    /// A photo (`imageMessage`).
    Image,
    /// A video (`videoMessage`).
    Video,
    /// An audio file (`audioMessage`).
    Audio,
    /// A voice note (`audioMessage` with `ptt`).
    VoiceNote,
    /// A document (`documentMessage`).
    Document,
}

impl MediaKind {
    fn media_type(self) -> MediaType {
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::VoiceNote => MediaType::Ptt,
            MediaKind::Document => MediaType::Document,
        }
    }
}

/// An attachment to send with [`crate::Client::send_media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMedia {
    /// The kind.
    pub kind: MediaKind,
    /// The file.
    pub data: Vec<u8>,
    /// Its MIME type, e.g. `image/jpeg`, `application/pdf`, `audio/ogg; codecs=opus`.
    pub mimetype: String,
    /// Caption (images, videos, documents).
    pub caption: Option<String>,
    /// File name (documents).
    pub file_name: Option<String>,
}

/// Where uploads go: `media_conn` (part 2 §7.1).
async fn media_conn(shared: &Shared) -> Result<(String, String), ClientError> {
    let iq = Node::new("iq")
        .attr("xmlns", "w:m")
        .attr("type", "set")
        .attr("to", Jid::server_jid())
        .children([Node::new("media_conn")]);
    let answer = shared.iq(iq).await?;
    let conn = answer
        .child("media_conn")
        .ok_or_else(|| ClientError::unexpected("no media_conn", &answer))?;
    let auth = conn
        .attrs()
        .optional_string("auth")
        .ok_or_else(|| ClientError::unexpected("media_conn without auth", &answer))?;
    let host = conn
        .child("host")
        .and_then(|h| h.attrs().optional_string("hostname"))
        .unwrap_or_else(|| DEFAULT_MEDIA_HOST.to_owned());
    Ok((auth, host))
}

/// Encrypts and uploads an attachment and builds its message (part 2 §7.3-7.4).
pub(crate) async fn upload(
    shared: &Shared,
    media: OutgoingMedia,
) -> Result<e2e::Message, ClientError> {
    let media_type = media.kind.media_type();
    let mut media_key = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut media_key);
    let encrypted = media::encrypt(&media_key, media_type, &media.data);
    let (auth, host) = media_conn(shared).await?;
    let url = media::upload_url(&host, media_type, &encrypted.file_enc_sha256, &auth);
    let url = match &shared.config.media_base_url {
        Some(base) => url
            .strip_prefix(&format!("https://{host}"))
            .map(|rest| format!("{}{rest}", base.trim_end_matches('/')))
            .unwrap_or(url),
        None => url,
    };
    let response = crate::http::post(&url, &encrypted.blob).await?;
    let json: serde_json::Value =
        serde_json::from_slice(&response).map_err(|e| ClientError::Http {
            reason: format!("upload answer is not JSON: {e}"),
        })?;
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let direct_path = field("direct_path").ok_or_else(|| ClientError::Http {
        reason: "upload answer has no direct_path".into(),
    })?;
    let url = field("url");
    let now = (crate::client::now_ms() / 1000) as i64;
    let mut message = e2e::Message::default();
    let (sha, enc_sha, len) = (
        Some(encrypted.file_sha256.to_vec()),
        Some(encrypted.file_enc_sha256.to_vec()),
        Some(encrypted.file_length),
    );
    match media.kind {
        MediaKind::Image => {
            message.image_message = Some(Box::new(e2e::ImageMessage {
                url,
                mimetype: Some(media.mimetype),
                caption: media.caption,
                file_sha256: sha,
                file_length: len,
                media_key: Some(media_key),
                file_enc_sha256: enc_sha,
                direct_path: Some(direct_path),
                media_key_timestamp: Some(now),
                ..Default::default()
            }))
        }
        MediaKind::Video => {
            message.video_message = Some(Box::new(e2e::VideoMessage {
                url,
                mimetype: Some(media.mimetype),
                caption: media.caption,
                file_sha256: sha,
                file_length: len,
                media_key: Some(media_key),
                file_enc_sha256: enc_sha,
                direct_path: Some(direct_path),
                media_key_timestamp: Some(now),
                ..Default::default()
            }))
        }
        MediaKind::Audio | MediaKind::VoiceNote => {
            message.audio_message = Some(Box::new(e2e::AudioMessage {
                url,
                mimetype: Some(media.mimetype),
                file_sha256: sha,
                file_length: len,
                ptt: Some(media.kind == MediaKind::VoiceNote),
                media_key: Some(media_key),
                file_enc_sha256: enc_sha,
                direct_path: Some(direct_path),
                media_key_timestamp: Some(now),
                ..Default::default()
            }))
        }
        MediaKind::Document => {
            message.document_message = Some(Box::new(e2e::DocumentMessage {
                url,
                mimetype: Some(media.mimetype),
                title: media.file_name.clone(),
                file_sha256: sha,
                file_length: len,
                media_key: Some(media_key),
                file_name: media.file_name,
                file_enc_sha256: enc_sha,
                direct_path: Some(direct_path),
                media_key_timestamp: Some(now),
                caption: media.caption,
                ..Default::default()
            }))
        }
    }
    Ok(message)
}
