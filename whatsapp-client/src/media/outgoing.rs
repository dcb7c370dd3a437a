//! What an attachment to send is: its kind, where its bytes come from and what the message
//! says about it (size and hashes are filled in by the upload). Checked before anything is
//! read or uploaded, and turned into the message of its kind (`imageMessage`, `ptvMessage`,
//! …) once uploaded.

use std::path::PathBuf;

use tokio::io::AsyncRead;
use whatsapp_proto::pb::e2e;

use super::upload::Uploaded;
use crate::ClientError;

pub use whatsapp_proto::content::MediaKind;

/// Samples in a voice note's waveform, each 0-100 (Baileys `getAudioWaveform`: 64 samples,
/// `floor(100 * normalised peak)`).
pub const WAVEFORM_SAMPLES: usize = 64;

/// Where an attachment's bytes come from. A file or a reader is encrypted as it is read, into
/// a temporary file that the upload streams from: the attachment is never held in memory whole.
#[non_exhaustive]
pub enum MediaSource {
    /// Bytes already in memory.
    Bytes(Vec<u8>),
    /// A file, read when the upload runs.
    File(PathBuf),
    /// Any reader, read to its end when the upload runs.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl MediaSource {
    /// A reader (a socket, a decompressor, an open file, …).
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> MediaSource {
        MediaSource::Reader(Box::new(reader))
    }
}

impl std::fmt::Debug for MediaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            MediaSource::File(p) => write!(f, "File({})", p.display()),
            MediaSource::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

impl From<Vec<u8>> for MediaSource {
    fn from(bytes: Vec<u8>) -> Self {
        MediaSource::Bytes(bytes)
    }
}

impl From<&[u8]> for MediaSource {
    fn from(bytes: &[u8]) -> Self {
        MediaSource::Bytes(bytes.to_vec())
    }
}

impl From<PathBuf> for MediaSource {
    fn from(path: PathBuf) -> Self {
        MediaSource::File(path)
    }
}

impl From<&std::path::Path> for MediaSource {
    fn from(path: &std::path::Path) -> Self {
        MediaSource::File(path.to_owned())
    }
}

/// An attachment to send with [`crate::Client::send_media`] or upload with
/// [`crate::Client::upload_media`]: one of the constructors, then what applies to its kind.
///
/// ```
/// use whatsapp_client::{MediaKind, OutgoingMedia};
/// let note = OutgoingMedia::voice_note(vec![0x4f, 0x67, 0x67, 0x53], 7, vec![50; 64]);
/// let photo = OutgoingMedia::new(MediaKind::Image, vec![0xff, 0xd8, 0xff], "image/jpeg")
///     .caption("your prescription")
///     .dimensions(1280, 960)
///     .thumbnail(vec![0xff, 0xd8, 0xff, 0xd9]);
/// let invoice = OutgoingMedia::document(std::path::PathBuf::from("invoice.pdf"), "application/pdf", "invoice.pdf")
///     .page_count(2);
/// assert_eq!(photo.kind, MediaKind::Image);
/// assert_eq!(note.seconds, Some(7));
/// assert_eq!(invoice.file_name.as_deref(), Some("invoice.pdf"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct OutgoingMedia {
    /// The kind.
    pub kind: MediaKind,
    /// The bytes.
    pub source: MediaSource,
    /// Its MIME type, e.g. `image/jpeg`, `application/pdf`, `audio/ogg; codecs=opus`.
    pub mimetype: String,
    /// Caption (images, videos, round videos, documents).
    pub caption: Option<String>,
    /// File name (documents).
    pub file_name: Option<String>,
    /// Duration in seconds (audio, voice notes, videos, round videos).
    pub seconds: Option<u32>,
    /// Width and height in pixels (images, videos, round videos, stickers).
    pub dimensions: Option<(u32, u32)>,
    /// A small JPEG preview (images, videos, round videos, documents).
    pub thumbnail: Option<Vec<u8>>,
    /// Make the JPEG preview (and the dimensions, when not given) from the image itself:
    /// images only, with the `thumbnails` feature.
    pub generate_thumbnail: bool,
    /// The voice note's waveform: [`WAVEFORM_SAMPLES`] values of 0-100.
    pub waveform: Option<Vec<u8>>,
    /// Page count (documents).
    pub page_count: Option<u32>,
    /// Whether a sticker is animated.
    pub animated: bool,
}

impl OutgoingMedia {
    /// An attachment of `kind` from `source` with its MIME type.
    pub fn new(
        kind: MediaKind,
        source: impl Into<MediaSource>,
        mimetype: impl Into<String>,
    ) -> OutgoingMedia {
        OutgoingMedia {
            kind,
            source: source.into(),
            mimetype: mimetype.into(),
            caption: None,
            file_name: None,
            seconds: None,
            dimensions: None,
            thumbnail: None,
            generate_thumbnail: false,
            waveform: None,
            page_count: None,
            animated: false,
        }
    }

    /// A voice note (`audio/ogg; codecs=opus`, as WhatsApp records them) of `seconds` with its
    /// waveform ([`WAVEFORM_SAMPLES`] values of 0-100).
    pub fn voice_note(source: impl Into<MediaSource>, seconds: u32, waveform: Vec<u8>) -> Self {
        OutgoingMedia::new(MediaKind::VoiceNote, source, "audio/ogg; codecs=opus")
            .seconds(seconds)
            .waveform(waveform)
    }

    /// A document with its file name.
    pub fn document(
        source: impl Into<MediaSource>,
        mimetype: impl Into<String>,
        file_name: impl Into<String>,
    ) -> Self {
        OutgoingMedia::new(MediaKind::Document, source, mimetype).file_name(file_name)
    }

    /// A WebP sticker of `width` × `height` (WhatsApp's are 512 × 512).
    pub fn sticker(source: impl Into<MediaSource>, width: u32, height: u32) -> Self {
        OutgoingMedia::new(MediaKind::Sticker, source, "image/webp").dimensions(width, height)
    }

    /// Sets the caption.
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// Sets the file name.
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// Sets the duration.
    pub fn seconds(mut self, seconds: u32) -> Self {
        self.seconds = Some(seconds);
        self
    }

    /// Sets width and height.
    pub fn dimensions(mut self, width: u32, height: u32) -> Self {
        self.dimensions = Some((width, height));
        self
    }

    /// Sets the JPEG preview (made by the caller, e.g. 32 px wide at quality 50 as Baileys
    /// makes them).
    pub fn thumbnail(mut self, jpeg: Vec<u8>) -> Self {
        self.thumbnail = Some(jpeg);
        self
    }

    /// Makes the JPEG preview from the image when it is uploaded (the `thumbnails` feature).
    #[cfg(feature = "thumbnails")]
    pub fn generated_thumbnail(mut self) -> Self {
        self.generate_thumbnail = true;
        self
    }

    /// Sets the voice note's waveform.
    pub fn waveform(mut self, waveform: Vec<u8>) -> Self {
        self.waveform = Some(waveform);
        self
    }

    /// Sets the document's page count.
    pub fn page_count(mut self, pages: u32) -> Self {
        self.page_count = Some(pages);
        self
    }

    /// Marks a sticker animated.
    pub fn animated(mut self, animated: bool) -> Self {
        self.animated = animated;
        self
    }

    /// Refuses what the kind cannot carry, before anything is read or uploaded.
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        let refuse = |why: String| Err(ClientError::InvalidArgument(why));
        let kind = self.kind;
        if self.mimetype.trim().is_empty() || self.mimetype.contains(['\r', '\n']) {
            return refuse("the media needs a one-line MIME type".into());
        }
        let visual = matches!(
            kind,
            MediaKind::Image | MediaKind::Video | MediaKind::Ptv | MediaKind::Sticker
        );
        let timed = matches!(
            kind,
            MediaKind::Audio | MediaKind::VoiceNote | MediaKind::Video | MediaKind::Ptv
        );
        if self.dimensions.is_some() && !visual {
            return refuse(format!("{kind:?} has no width and height"));
        }
        if self.seconds.is_some() && !timed {
            return refuse(format!("{kind:?} has no duration"));
        }
        if self.caption.is_some()
            && !matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Ptv | MediaKind::Document
            )
        {
            return refuse(format!("{kind:?} has no caption"));
        }
        if self.file_name.is_some() && kind != MediaKind::Document {
            return refuse(format!("{kind:?} has no file name"));
        }
        if self.page_count.is_some() && kind != MediaKind::Document {
            return refuse(format!("{kind:?} has no page count"));
        }
        if self.animated && kind != MediaKind::Sticker {
            return refuse(format!("{kind:?} is not a sticker"));
        }
        if self.generate_thumbnail && kind != MediaKind::Image {
            return refuse("only an image's thumbnail can be generated".into());
        }
        if self.generate_thumbnail && !cfg!(feature = "thumbnails") {
            return refuse("generating a thumbnail needs the `thumbnails` feature".into());
        }
        if let Some(jpeg) = &self.thumbnail {
            if matches!(
                kind,
                MediaKind::Audio | MediaKind::VoiceNote | MediaKind::Sticker
            ) {
                return refuse(format!("{kind:?} has no JPEG thumbnail"));
            }
            if !jpeg.starts_with(&[0xff, 0xd8, 0xff]) {
                return refuse("the thumbnail is not a JPEG".into());
            }
        }
        if let Some(waveform) = &self.waveform {
            if kind != MediaKind::VoiceNote {
                return refuse(format!("{kind:?} has no waveform"));
            }
            if waveform.len() != WAVEFORM_SAMPLES || waveform.iter().any(|&v| v > 100) {
                return refuse(format!(
                    "a waveform is {WAVEFORM_SAMPLES} values of 0-100, got {} values",
                    waveform.len()
                ));
            }
        }
        if kind == MediaKind::Sticker && self.mimetype != "image/webp" {
            return refuse("a sticker is image/webp".into());
        }
        Ok(())
    }

    /// The message of this attachment once uploaded.
    pub(crate) fn into_message(self, up: Uploaded, media_key_timestamp: i64) -> e2e::Message {
        let (width, height) = match self.dimensions {
            Some((w, h)) => (Some(w), Some(h)),
            None => (None, None),
        };
        let sha = Some(up.file_sha256.to_vec());
        let enc_sha = Some(up.file_enc_sha256.to_vec());
        let len = Some(up.file_length);
        let key = Some(up.media_key.to_vec());
        let (url, path, ts) = (up.url, Some(up.direct_path), Some(media_key_timestamp));
        let mut message = e2e::Message::default();
        let video = || {
            Box::new(e2e::VideoMessage {
                url: url.clone(),
                mimetype: Some(self.mimetype.clone()),
                file_sha256: sha.clone(),
                file_length: len,
                seconds: self.seconds,
                media_key: key.clone(),
                caption: self.caption.clone(),
                height,
                width,
                file_enc_sha256: enc_sha.clone(),
                direct_path: path.clone(),
                media_key_timestamp: ts,
                jpeg_thumbnail: self.thumbnail.clone(),
                ..Default::default()
            })
        };
        match self.kind {
            MediaKind::Video => message.video_message = Some(video()),
            // A round video note is a video in its own field (Baileys `ptvMessage`).
            MediaKind::Ptv => message.ptv_message = Some(video()),
            MediaKind::Audio | MediaKind::VoiceNote => {
                message.audio_message = Some(Box::new(e2e::AudioMessage {
                    url,
                    mimetype: Some(self.mimetype),
                    file_sha256: sha,
                    file_length: len,
                    seconds: self.seconds,
                    ptt: Some(self.kind == MediaKind::VoiceNote),
                    media_key: key,
                    file_enc_sha256: enc_sha,
                    direct_path: path,
                    media_key_timestamp: ts,
                    waveform: self.waveform,
                    ..Default::default()
                }))
            }
            MediaKind::Document => {
                message.document_message = Some(Box::new(e2e::DocumentMessage {
                    url,
                    mimetype: Some(self.mimetype),
                    title: self.file_name.clone(),
                    file_sha256: sha,
                    file_length: len,
                    page_count: self.page_count,
                    media_key: key,
                    file_name: self.file_name,
                    file_enc_sha256: enc_sha,
                    direct_path: path,
                    media_key_timestamp: ts,
                    jpeg_thumbnail: self.thumbnail,
                    caption: self.caption,
                    ..Default::default()
                }))
            }
            MediaKind::Sticker => {
                message.sticker_message = Some(Box::new(e2e::StickerMessage {
                    url,
                    file_sha256: sha,
                    file_enc_sha256: enc_sha,
                    media_key: key,
                    mimetype: Some(self.mimetype),
                    height,
                    width,
                    direct_path: path,
                    file_length: len,
                    media_key_timestamp: ts,
                    is_animated: Some(self.animated),
                    ..Default::default()
                }))
            }
            // Image, and any kind added later (the enum is non-exhaustive) as an image.
            _ => {
                message.image_message = Some(Box::new(e2e::ImageMessage {
                    url,
                    mimetype: Some(self.mimetype),
                    caption: self.caption,
                    file_sha256: sha,
                    file_length: len,
                    height,
                    width,
                    media_key: key,
                    file_enc_sha256: enc_sha,
                    direct_path: path,
                    media_key_timestamp: ts,
                    jpeg_thumbnail: self.thumbnail,
                    ..Default::default()
                }))
            }
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(media: OutgoingMedia) -> bool {
        matches!(media.check(), Err(ClientError::InvalidArgument(_)))
    }

    #[test]
    fn what_a_kind_cannot_carry_is_refused_before_upload() {
        let jpeg = || vec![0xff, 0xd8, 0xff, 0xd9];
        let image = || OutgoingMedia::new(MediaKind::Image, vec![1], "image/jpeg");
        assert!(
            image()
                .caption("x")
                .dimensions(1, 1)
                .thumbnail(jpeg())
                .check()
                .is_ok()
        );
        assert!(
            OutgoingMedia::voice_note(vec![1], 3, vec![100; 64])
                .check()
                .is_ok()
        );
        assert!(refused(OutgoingMedia::voice_note(vec![1], 3, vec![1; 63])));
        assert!(refused(OutgoingMedia::voice_note(
            vec![1],
            3,
            vec![101; 64]
        )));
        assert!(refused(image().seconds(3)));
        assert!(refused(image().waveform(vec![1; 64])));
        assert!(refused(image().thumbnail(b"\x89PNG".to_vec())));
        assert!(refused(image().file_name("a.jpg")));
        assert!(refused(OutgoingMedia::new(
            MediaKind::Image,
            vec![1],
            "image/jpeg\r\nX: y"
        )));
        assert!(refused(
            OutgoingMedia::new(MediaKind::Audio, vec![1], "audio/mpeg").dimensions(1, 1)
        ));
        assert!(refused(OutgoingMedia::new(
            MediaKind::Sticker,
            vec![1],
            "image/png"
        )));
        assert!(refused(
            OutgoingMedia::sticker(vec![1], 512, 512).caption("x")
        ));
        assert!(
            OutgoingMedia::sticker(vec![1], 512, 512)
                .animated(true)
                .check()
                .is_ok()
        );
        assert!(refused(
            OutgoingMedia::document(vec![1], "application/pdf", "a.pdf").seconds(1)
        ));
    }

    #[test]
    fn each_kind_lands_in_its_field_with_its_details() {
        let up = || Uploaded {
            media_key: [1; 32],
            file_sha256: [2; 32],
            file_enc_sha256: [3; 32],
            file_length: 10,
            direct_path: "/v/x?a=1".into(),
            url: None,
        };
        let m = OutgoingMedia::new(MediaKind::Ptv, vec![1], "video/mp4")
            .seconds(4)
            .dimensions(480, 480)
            .into_message(up(), 5);
        let v = m.ptv_message.expect("ptv");
        assert_eq!(
            (v.seconds, v.width, v.height),
            (Some(4), Some(480), Some(480))
        );
        assert!(m.video_message.is_none());
        let m = OutgoingMedia::voice_note(vec![1], 7, vec![9; 64]).into_message(up(), 5);
        let a = m.audio_message.expect("audio");
        assert_eq!((a.ptt, a.seconds), (Some(true), Some(7)));
        assert_eq!(a.waveform, Some(vec![9; 64]));
        let m = OutgoingMedia::document(vec![1], "application/pdf", "a.pdf")
            .page_count(3)
            .into_message(up(), 5);
        let d = m.document_message.expect("document");
        assert_eq!(
            (d.page_count, d.file_name.as_deref()),
            (Some(3), Some("a.pdf"))
        );
        let m = OutgoingMedia::sticker(vec![1], 512, 512).into_message(up(), 5);
        let s = m.sticker_message.expect("sticker");
        assert_eq!((s.width, s.file_length), (Some(512), Some(10)));
    }
}
