//! Sends one file (photo, video, round video, audio, voice note, document or sticker) to a
//! chat, then exits; pairs by QR code first if needed. The file is streamed: encrypted as it is
//! read, never held in memory whole.
//!
//! ```text
//! cargo run -p whatsapp-client --example send_media -- --to PHONE|JID --file PATH
//!     [--caption TEXT] [--seconds N] [--kind image|video|ptv|audio|voice|document|sticker]
//!     [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! The kind and MIME type follow the file's extension unless `--kind` is given (anything
//! unknown goes as a document; a `.webp` as a 512 × 512 sticker). Prints the message id on stdout (`sent <id>`); a QR string,
//! when pairing is needed, on a line of its own. Logs go to stderr.

use std::path::Path;

use anyhow::{Context, bail};
use whatsapp_client::{MediaKind, OutgoingMedia};

#[path = "support/client_options.rs"]
mod client_options;

/// The kind and MIME type a file's extension suggests.
fn kind_of(path: &Path) -> (MediaKind, &'static str) {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("jpg" | "jpeg") => (MediaKind::Image, "image/jpeg"),
        Some("png") => (MediaKind::Image, "image/png"),
        Some("webp") => (MediaKind::Sticker, "image/webp"),
        Some("mp4") => (MediaKind::Video, "video/mp4"),
        Some("ogg" | "opus") => (MediaKind::VoiceNote, "audio/ogg; codecs=opus"),
        Some("mp3") => (MediaKind::Audio, "audio/mpeg"),
        Some("m4a") => (MediaKind::Audio, "audio/mp4"),
        Some("pdf") => (MediaKind::Document, "application/pdf"),
        _ => (MediaKind::Document, "application/octet-stream"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    client_options::init_logging();
    let options =
        client_options::options(&["--to", "--file", "--caption", "--kind", "--seconds"], &[])?;
    let to = client_options::recipient(options.required("--to")?)?;
    let path = Path::new(options.required("--file")?);
    std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut kind, mimetype) = kind_of(path);
    if let Some(given) = options.value("--kind") {
        kind = match given {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "ptv" => MediaKind::Ptv,
            "audio" => MediaKind::Audio,
            "voice" => MediaKind::VoiceNote,
            "document" => MediaKind::Document,
            "sticker" => MediaKind::Sticker,
            other => bail!("--kind {other}: image, video, ptv, audio, voice, document or sticker"),
        };
    }
    let mut media = OutgoingMedia::new(kind, path.to_path_buf(), mimetype);
    if kind == MediaKind::Sticker {
        media = media.dimensions(512, 512);
    }
    if kind == MediaKind::Document
        && let Some(name) = path.file_name()
    {
        media = media.file_name(name.to_string_lossy());
    }
    if let Some(caption) = options.value("--caption") {
        media = media.caption(caption);
    }
    if let Some(seconds) = options.value("--seconds") {
        media = media.seconds(seconds.parse().context("--seconds")?);
    }

    let (client, mut events) = client_options::start(&options).await?;
    client_options::online(&mut events).await?;
    let id = client.send_media(&to, media).await?;
    println!("sent {id}");
    client.shutdown().await;
    Ok(())
}
