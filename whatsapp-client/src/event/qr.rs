//! QR codes for pairing: the string, and renderings as terminal text, SVG and PNG.

use std::time::Duration;

use qrcode::{Color, QrCode as Matrix};

/// One QR code to show to the phone.
///
/// ```
/// use std::time::Duration;
/// use whatsapp_client::QrCode;
/// let qr = QrCode::new("https://wa.me/settings/linked_devices#2@x,a,b,c,9".into(), Duration::from_secs(60), 0);
/// assert!(qr.render_svg().unwrap().starts_with("<?xml"));
/// assert_eq!(&qr.render_png(4).unwrap()[1..4], b"PNG");
/// assert!(qr.render_terminal().unwrap().contains('█'));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    /// The full QR string (`https://wa.me/settings/linked_devices#REF,NOISE,IDENTITY,ADV,TYPE`).
    pub data: String,
    /// How long this code is valid (60 s for the first, then 20 s).
    pub timeout: Duration,
    /// 0 for the first code, then 1, 2, …
    pub index: usize,
}

/// The QR text cannot be encoded (far too long; never happens for pairing strings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QR encoding failed: {reason}")]
pub struct QrRenderError {
    /// The encoder's description.
    pub reason: String,
}

/// Modules of white border around the code (the standard asks for 4).
const QUIET: usize = 4;

impl QrCode {
    /// Wraps a QR string.
    pub fn new(data: String, timeout: Duration, index: usize) -> QrCode {
        QrCode {
            data,
            timeout,
            index,
        }
    }

    fn matrix(&self) -> Result<(usize, Vec<bool>), QrRenderError> {
        let code = Matrix::new(self.data.as_bytes()).map_err(|e| QrRenderError {
            reason: e.to_string(),
        })?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok((width, dark))
    }

    /// Dark module at (x, y) of the code with its quiet zone.
    fn dark_at(width: usize, dark: &[bool], x: usize, y: usize) -> bool {
        if x < QUIET || y < QUIET || x >= width + QUIET || y >= width + QUIET {
            return false;
        }
        dark[(y - QUIET) * width + (x - QUIET)]
    }

    /// A drawing for a terminal with a dark background: two modules per character with half
    /// blocks, light modules drawn as `█`.
    pub fn render_terminal(&self) -> Result<String, QrRenderError> {
        let (width, dark) = self.matrix()?;
        let size = width + 2 * QUIET;
        let mut out = String::with_capacity(size * size / 2 * 4);
        for y in (0..size).step_by(2) {
            for x in 0..size {
                let top = !Self::dark_at(width, &dark, x, y);
                let bottom = y + 1 < size && !Self::dark_at(width, &dark, x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// An SVG document.
    pub fn render_svg(&self) -> Result<String, QrRenderError> {
        let code = Matrix::new(self.data.as_bytes()).map_err(|e| QrRenderError {
            reason: e.to_string(),
        })?;
        Ok(code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .build())
    }

    /// A grayscale PNG with `scale` pixels per module.
    pub fn render_png(&self, scale: usize) -> Result<Vec<u8>, QrRenderError> {
        let (width, dark) = self.matrix()?;
        let scale = scale.max(1);
        let side = (width + 2 * QUIET) * scale;
        let side32 = u32::try_from(side).map_err(|_| QrRenderError {
            reason: "image too large".into(),
        })?;
        let mut pixels = vec![0xFFu8; side * side];
        for py in 0..side {
            for px in 0..side {
                if Self::dark_at(width, &dark, px / scale, py / scale) {
                    pixels[py * side + px] = 0;
                }
            }
        }
        let mut out = Vec::new();
        let png_error = |e: png::EncodingError| QrRenderError {
            reason: e.to_string(),
        };
        {
            let mut encoder = png::Encoder::new(&mut out, side32, side32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(png_error)?;
            writer.write_image_data(&pixels).map_err(png_error)?;
        }
        Ok(out)
    }
}
