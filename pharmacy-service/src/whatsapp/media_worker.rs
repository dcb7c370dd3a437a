//! The media worker: downloads the attachments the bridge stored as `downloading`.
//!
//! The bridge stores a media message at once with what its download needs (media key, direct
//! path, hashes, mime, declared length: `media_downloads`) and acknowledges it; this worker
//! then fetches the files through the client, at most [`MediaDownloadPolicy::concurrency`] at
//! a time, retrying network failures with exponential backoff. A download that finally fails
//! leaves the message `failed` (agents see "could not be downloaded" and may retry); an
//! attachment beyond the configured maximum is `too_large` and never fetched. A full media disk
//! spends no attempt: the download waits [`MediaDownloadPolicy::disk_full_pause`] and goes
//! again, however long the disk stays full. Every change reaches the agents as
//! [`LiveEvent::MessageUpdated`](crate::app::LiveEvent::MessageUpdated) (written and published
//! by [`App::settle_download`]). Rows still `downloading` after a restart are picked up again.

use crate::app::{App, AppError, DownloadOutcome, PendingDownload, is_disk_full};
use crate::domain::ids::MessageId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use whatsapp_client::{ClientError, MediaRef, MediaType, TransferError};

use super::bridge::WhatsappBridge;

/// How attachments are downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaDownloadPolicy {
    /// Downloads running at once (4).
    pub concurrency: usize,
    /// Attempts before an attachment is marked `failed` (6).
    pub attempts: u32,
    /// The pause after the first failure, doubled after each (5 s).
    pub backoff_initial: Duration,
    /// The longest pause (10 min).
    pub backoff_max: Duration,
    /// The pause after the media disk was found full (30 s); it spends no attempt.
    pub disk_full_pause: Duration,
}

impl Default for MediaDownloadPolicy {
    fn default() -> Self {
        Self {
            concurrency: 4,
            attempts: 6,
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            disk_full_pause: Duration::from_secs(30),
        }
    }
}

impl MediaDownloadPolicy {
    /// The pause after `failures` failed attempts.
    fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// What the bridge keeps of an attachment to download, stored later under `mime` (the type
/// the bridge settled on for the message): `None` when the message declares more than
/// `max_bytes` (it is stored as too large and never fetched).
pub fn pending_download(
    media: &MediaRef,
    mime: &str,
    max_bytes: u64,
) -> Option<Box<PendingDownload>> {
    if media.file_length.is_some_and(|l| l > max_bytes) {
        return None;
    }
    Some(Box::new(PendingDownload {
        message_id: MessageId(0),
        media_type: type_name(media.media_type).to_owned(),
        direct_path: media.direct_path.clone(),
        url: media.url.clone(),
        media_key: media.media_key.clone(),
        file_sha256: media.file_sha256.clone(),
        file_enc_sha256: media.file_enc_sha256.clone(),
        mime: mime.to_owned(),
        file_length: media
            .file_length
            .map(|l| i64::try_from(l).unwrap_or(i64::MAX)),
        attempts: 0,
    }))
}

fn type_name(t: MediaType) -> &'static str {
    match t {
        MediaType::Video => "video",
        MediaType::Ptv => "ptv",
        MediaType::Audio => "audio",
        MediaType::Ptt => "ptt",
        MediaType::Document => "document",
        MediaType::Sticker => "sticker",
        _ => "image",
    }
}

fn media_ref(d: &PendingDownload) -> MediaRef {
    MediaRef {
        media_type: match d.media_type.as_str() {
            "video" => MediaType::Video,
            "ptv" => MediaType::Ptv,
            "audio" => MediaType::Audio,
            "ptt" => MediaType::Ptt,
            "document" => MediaType::Document,
            "sticker" => MediaType::Sticker,
            _ => MediaType::Image,
        },
        direct_path: d.direct_path.clone(),
        url: d.url.clone(),
        media_key: d.media_key.clone(),
        file_sha256: d.file_sha256.clone(),
        file_enc_sha256: d.file_enc_sha256.clone(),
        origin: None,
        mimetype: Some(d.mime.clone()),
        file_length: d.file_length.and_then(|l| u64::try_from(l).ok()),
    }
}

/// Why one attempt failed.
enum Failure {
    /// Beyond the maximum: never to be fetched.
    TooLarge,
    /// Worth another attempt later (network, the client reconnecting, a full disk).
    Transient(String),
    /// Never going to work (refused URL, bad blob, 4xx).
    Permanent(String),
    /// Downloaded, but the media disk is full: no fault of the attachment, so no attempt is
    /// spent; it waits for space however long that takes.
    DiskFull(String),
}

fn classify(e: ClientError) -> Failure {
    match e {
        ClientError::Transfer(TransferError::TooLarge { .. }) => Failure::TooLarge,
        ClientError::Transfer(t) if !t.is_retryable() => Failure::Permanent(t.to_string()),
        other => Failure::Transient(other.to_string()),
    }
}

/// Runs until the bridge is dropped or stopping.
pub(crate) async fn run(app: App, bridge: Weak<WhatsappBridge>, policy: MediaDownloadPolicy) {
    let permits = Arc::new(Semaphore::new(policy.concurrency.max(1)));
    let in_flight: Arc<Mutex<HashSet<MessageId>>> = Default::default();
    let finished = Arc::new(Notify::new());
    loop {
        if bridge.upgrade().is_none_or(|b| b.stopping()) {
            return;
        }
        let now = app.now();
        let due = app.due_downloads(now, 64).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the pending downloads");
            Vec::new()
        });
        for d in due {
            if !in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(d.message_id)
            {
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (app, bridge, in_flight, finished) = (
                app.clone(),
                bridge.clone(),
                in_flight.clone(),
                finished.clone(),
            );
            tokio::spawn(async move {
                let id = d.message_id;
                attempt(&app, &bridge, d, &policy).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                drop(permit);
                finished.notify_one();
            });
        }
        // Every row due now is running: sleep until something is queued, a download ends or
        // the next retry is due.
        let next = app.next_download_after(now).await.ok().flatten();
        let wait = next
            .map(|t| Duration::from_millis(t.millis_since(app.now()).max(0).unsigned_abs()))
            .unwrap_or(Duration::from_secs(30))
            .clamp(Duration::from_millis(200), Duration::from_secs(30));
        tokio::select! {
            _ = app.media_queued() => {}
            _ = finished.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One download attempt and its outcome, written and published.
async fn attempt(
    app: &App,
    bridge: &Weak<WhatsappBridge>,
    d: PendingDownload,
    policy: &MediaDownloadPolicy,
) {
    let client = bridge.upgrade().and_then(|b| b.client());
    let result = match client {
        Some(client) => match client.download(&media_ref(&d)).await {
            Ok(bytes) => app.store_media(&bytes, &d.mime).await.map_err(|e| match e {
                AppError::Io(io) if is_disk_full(&io) => {
                    Failure::DiskFull(format!("storing the file: {io}"))
                }
                e => Failure::Transient(format!("storing the file: {e}")),
            }),
            Err(e) => Err(classify(e)),
        },
        None => Err(Failure::Transient(
            "the WhatsApp client is restarting".into(),
        )),
    };
    // A stopping bridge leaves the row as it was: the next start tries again.
    if bridge.upgrade().is_none_or(|b| b.stopping()) {
        return;
    }
    let id = d.message_id;
    let outcome = match result {
        Ok(sha) => DownloadOutcome::Stored(sha),
        Err(Failure::TooLarge) => {
            tracing::info!(message = %id, "attachment beyond the maximum: not downloaded");
            DownloadOutcome::TooLarge
        }
        Err(Failure::Transient(error)) => failed(app, &d, error, true, policy),
        Err(Failure::Permanent(error)) => failed(app, &d, error, false, policy),
        Err(Failure::DiskFull(error)) => DownloadOutcome::DiskFull {
            error,
            next: app.now().plus(policy.disk_full_pause),
        },
    };
    if let Err(e) = app.settle_download(id, &outcome).await {
        tracing::error!(message = %id, error = %e, "could not record a download's outcome");
    }
}

/// A failed attempt: due again after the backoff, or `failed` for good.
fn failed(
    app: &App,
    d: &PendingDownload,
    error: String,
    retry: bool,
    policy: &MediaDownloadPolicy,
) -> DownloadOutcome {
    let failures = u32::try_from(d.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let next =
        (retry && failures < policy.attempts).then(|| app.now().plus(policy.backoff(failures)));
    tracing::warn!(message = %d.message_id, %error, failures, gave_up = next.is_none(), "attachment download failed");
    DownloadOutcome::Failed { error, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = MediaDownloadPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_secs(5));
        assert_eq!(p.backoff(3), Duration::from_secs(20));
        assert_eq!(p.backoff(40), Duration::from_secs(600));
    }

    #[test]
    fn an_attachment_beyond_the_maximum_is_never_queued() {
        let media = MediaRef {
            media_type: MediaType::Ptt,
            direct_path: Some("/v/x".into()),
            url: None,
            media_key: vec![1; 32],
            file_sha256: vec![2; 32],
            file_enc_sha256: vec![3; 32],
            mimetype: None,
            file_length: Some(101),
            origin: None,
        };
        assert!(pending_download(&media, "audio/ogg", 100).is_none());
        let d = pending_download(&media, "audio/ogg", 101).expect("queued");
        assert_eq!(d.mime, "audio/ogg");
        // Stored and read back, it is the same download (voice-note keys included).
        let again = pending_download(&media_ref(&d), "audio/ogg", 101).unwrap();
        assert_eq!(media_ref(&d), media_ref(&again));
        assert_eq!(media_ref(&d).media_type, MediaType::Ptt);
    }
}
