//! JPEG previews of images (the `thumbnails` feature). Sizes as Baileys makes them
//! (`Utils/messages-media.ts` `extractImageThumb`: 32 px wide, the height in proportion,
//! JPEG quality 50); whatsmeow leaves previews to the application.

use std::io::Cursor;

use image::ImageReader;
use image::codecs::jpeg::JpegEncoder;
use tokio::io::AsyncReadExt;

use super::outgoing::{MediaSource, OutgoingMedia};
use crate::ClientError;
use crate::http::TransferError;

/// The preview's width in pixels.
pub const THUMBNAIL_WIDTH: u32 = 32;
/// The preview's JPEG quality.
pub const THUMBNAIL_QUALITY: u8 = 50;

/// A JPEG preview and the size of the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Thumbnail {
    /// The JPEG preview, [`THUMBNAIL_WIDTH`] px wide (narrower images keep their width).
    pub jpeg: Vec<u8>,
    /// The source image's width.
    pub width: u32,
    /// The source image's height.
    pub height: u32,
}

/// Why no preview could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// The bytes are not an image of a supported format (JPEG, PNG, WebP) or are malformed.
    #[error("not a readable image: {0}")]
    Decode(String),
    /// Encoding the preview failed.
    #[error("encoding the preview: {0}")]
    Encode(String),
}

/// Makes the JPEG preview of an image (JPEG, PNG or WebP), CPU-bound: call it off the
/// async threads for large images.
///
/// ```
/// use whatsapp_client::jpeg_thumbnail;
/// let mut png = Vec::new();
/// let img = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30]));
/// img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
/// let thumb = jpeg_thumbnail(&png).unwrap();
/// assert_eq!((thumb.width, thumb.height), (64, 48));
/// assert!(thumb.jpeg.starts_with(&[0xff, 0xd8, 0xff]));
/// ```
pub fn jpeg_thumbnail(image_bytes: &[u8]) -> Result<Thumbnail, ThumbnailError> {
    let decoded = ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?
        .decode()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let (width, height) = (decoded.width(), decoded.height());
    let small = if width > THUMBNAIL_WIDTH {
        decoded.thumbnail(THUMBNAIL_WIDTH, u32::MAX)
    } else {
        decoded
    };
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, THUMBNAIL_QUALITY)
        .encode_image(&small.to_rgb8())
        .map_err(|e| ThumbnailError::Encode(e.to_string()))?;
    Ok(Thumbnail {
        jpeg,
        width,
        height,
    })
}

/// Reads the image (at most `max` bytes: decoding needs it whole) and sets its preview, and
/// its dimensions when the caller gave none.
pub(crate) async fn fill(mut media: OutgoingMedia, max: u64) -> Result<OutgoingMedia, ClientError> {
    let bytes = match std::mem::replace(&mut media.source, MediaSource::Bytes(Vec::new())) {
        MediaSource::Bytes(b) => b,
        MediaSource::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| {
                ClientError::InvalidArgument(format!("media file {}: {e}", path.display()))
            })?;
            read_capped(file, max).await?
        }
        MediaSource::Reader(reader) => read_capped(reader, max).await?,
    };
    let (thumbnail, bytes) = tokio::task::spawn_blocking(move || (jpeg_thumbnail(&bytes), bytes))
        .await
        .map_err(|e| ClientError::InvalidArgument(format!("thumbnail task: {e}")))?;
    let thumbnail = thumbnail.map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
    media.dimensions = media
        .dimensions
        .or(Some((thumbnail.width, thumbnail.height)));
    media.thumbnail = Some(thumbnail.jpeg);
    media.source = MediaSource::Bytes(bytes);
    Ok(media)
}

async fn read_capped(
    reader: impl tokio::io::AsyncRead + Unpin,
    max: u64,
) -> Result<Vec<u8>, ClientError> {
    let mut bytes = Vec::new();
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .await
        .map_err(TransferError::Read)?;
    if bytes.len() as u64 > max {
        return Err(TransferError::TooLarge { limit: max }.into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_image_shrinks_to_the_preview_width_and_keeps_its_shape() {
        let img = image::RgbImage::from_pixel(320, 160, image::Rgb([10, 200, 10]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("png");
        let thumb = jpeg_thumbnail(&png).expect("thumbnail");
        assert_eq!((thumb.width, thumb.height), (320, 160));
        let preview = image::load_from_memory(&thumb.jpeg).expect("a JPEG");
        assert_eq!((preview.width(), preview.height()), (32, 16));
        assert!(jpeg_thumbnail(b"not an image").is_err());
    }
}
