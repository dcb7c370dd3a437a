//! Sends one file (photo, video, audio, voice note or document) to a chat, then exits; pairs by
//! QR code first if needed.
//!
//! ```text
//! cargo run -p whatsapp-client --example send_media -- --to PHONE|JID --file PATH
//!     [--caption TEXT] [--kind image|video|audio|voice|document] [--url URL] [--trust-root HEX] [--store PATH]
//! ```
//!
//! The kind and MIME type follow the file's extension unless `--kind` is given (anything
//! unknown goes as a document). Prints the message id on stdout (`sent <id>`); a QR string,
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
        Some("webp") => (MediaKind::Image, "image/webp"),
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
    let options = client_options::options(&["--to", "--file", "--caption", "--kind"], &[])?;
    let to = client_options::recipient(options.required("--to")?)?;
    let path = Path::new(options.required("--file")?);
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (mut kind, mimetype) = kind_of(path);
    if let Some(given) = options.value("--kind") {
        kind = match given {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "voice" => MediaKind::VoiceNote,
            "document" => MediaKind::Document,
            other => bail!("--kind {other}: image, video, audio, voice or document"),
        };
    }
    let media = OutgoingMedia {
        kind,
        data,
        mimetype: mimetype.to_owned(),
        caption: options.value("--caption").map(str::to_owned),
        file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
    };

    let (client, mut events) = client_options::start(&options).await?;
    client_options::online(&mut events).await?;
    let id = client.send_media(&to, media).await?;
    println!("sent {id}");
    client.shutdown().await;
    Ok(())
}
