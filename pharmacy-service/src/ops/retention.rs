//! Retention, by periodic tasks (hourly):
//! - media files older than the configured number of days are deleted. Messages keep their
//!   metadata; their media answers 404 afterwards;
//! - the webhook delivery log (`webhook_deliveries`) keeps finished deliveries (delivered or
//!   failed for good) [`WEBHOOK_LOG_DAYS`] days by default; pending ones are never deleted.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the sweep runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Deletes regular files under `dir` (recursively) last modified before `now - max_age`;
/// returns how many. A missing `dir` is empty. Files that vanish or cannot be read mid-sweep
/// are skipped (logged), so one bad file never stops the sweep.
pub fn sweep(dir: &Path, max_age: Duration, now: SystemTime) -> std::io::Result<usize> {
    let Some(cutoff) = now.checked_sub(max_age) else {
        return Ok(0);
    };
    let mut deleted = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let path = entry.path();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && meta.modified().is_ok_and(|m| m < cutoff) {
                match std::fs::remove_file(&path) {
                    Ok(()) => deleted += 1,
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "media retention"),
                }
            }
        }
    }
    Ok(deleted)
}

/// Runs [`sweep`] now and then every [`SWEEP_EVERY`] for files older than `days` days.
pub fn spawn(dir: PathBuf, days: u32) -> tokio::task::JoinHandle<()> {
    let max_age = Duration::from_secs(u64::from(days) * 86_400);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        // After a stall (a suspended VM, a starved process) one run, not a burst of the missed ones.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let d = dir.clone();
            match tokio::task::spawn_blocking(move || sweep(&d, max_age, SystemTime::now())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(deleted = n, days, "media retention"),
                Ok(Err(e)) => tracing::error!(error = %e, "media retention sweep failed"),
                Err(e) => tracing::error!(error = %e, "media retention task"),
            }
        }
    })
}

/// How many days finished webhook deliveries are kept by default.
pub const WEBHOOK_LOG_DAYS: u32 = 30;

/// Deletes the webhook deliveries finished more than `days` days before the app's clock
/// (0: none, kept forever); returns how many.
pub async fn purge_webhook_log(app: &crate::app::App, days: u32) -> Result<u64, sqlx::Error> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = app
        .now()
        .minus(Duration::from_secs(u64::from(days) * 86_400));
    let mut c = app.pool().acquire().await?;
    crate::db::webhooks::purge_finished(&mut c, cutoff).await
}

/// Runs [`purge_webhook_log`] now and then every [`SWEEP_EVERY`].
pub fn spawn_webhook_log(app: crate::app::App, days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match purge_webhook_log(&app, days).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, days, "webhook log retention"),
                Err(e) => tracing::error!(error = %e, "webhook log retention failed"),
            }
        }
    })
}
