//! Retention, by periodic tasks (hourly):
//! - media files older than the configured number of days are deleted. Messages keep their
//!   metadata; their media answers 404 afterwards. Ages are judged against a [`Horizon`]: the
//!   wall clock, but never ahead of the time that really passed since the previous sweep, so
//!   a forward clock step deletes nothing early;
//! - the webhook delivery log (`webhook_deliveries`) keeps finished deliveries (delivered or
//!   failed for good) [`WEBHOOK_LOG_DAYS`] days by default; pending ones are never deleted.

use crate::app::{Clock, SteadyClock, SystemClock};
use crate::domain::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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

/// The sweep's "now": the clock's reading (a [`SteadyClock`]: never back), but never more
/// ahead of the previous sweep's now than the monotonic time passed since. Files are written
/// with wall-clock mtimes, so a wrong forward step (a bad NTP answer, a typo in the date)
/// would otherwise make every file look old at once; here the horizon moves only as time
/// really passes. A forward step that was a correction is followed late (files are kept
/// longer by the step, the safe side) until the next restart.
pub struct Horizon {
    clock: Arc<dyn Clock>,
    last: Option<(Timestamp, Instant)>,
}

impl Horizon {
    /// A horizon over `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Horizon {
        Horizon { clock, last: None }
    }

    /// Now, read at the monotonic instant `mono` (later than any earlier call's).
    pub fn now(&mut self, mono: Instant) -> Timestamp {
        let read = self.clock.now();
        let now = match self.last {
            Some((prev, at)) => read.min(prev.plus(mono.saturating_duration_since(at))),
            None => read,
        };
        self.last = Some((now, mono));
        now
    }

    /// [`Self::now`] as a system time, for comparing with file mtimes.
    pub fn system_time(&mut self, mono: Instant) -> SystemTime {
        let millis = u64::try_from(self.now(mono).0).unwrap_or(0);
        SystemTime::UNIX_EPOCH + Duration::from_millis(millis)
    }
}

/// Runs [`sweep`] now and then every [`SWEEP_EVERY`] for files older than `days` days, as
/// of a [`Horizon`] over the system clock.
pub fn spawn(dir: PathBuf, days: u32) -> tokio::task::JoinHandle<()> {
    let max_age = Duration::from_secs(u64::from(days) * 86_400);
    let mut horizon = Horizon::new(Arc::new(SteadyClock::new(Arc::new(SystemClock))));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        // After a stall (a suspended VM, a starved process) one run, not a burst of the missed ones.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let d = dir.clone();
            let now = horizon.system_time(Instant::now());
            match tokio::task::spawn_blocking(move || sweep(&d, max_age, now)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ManualClock;

    #[test]
    fn a_forward_clock_step_deletes_no_media_early() {
        let media = std::env::temp_dir().join(format!("retention-step-{}", std::process::id()));
        std::fs::create_dir_all(&media).unwrap();
        let day = Duration::from_secs(86_400);
        let wall = Arc::new(ManualClock::new(Timestamp::from_system_time(
            SystemTime::now(),
        )));
        let mut horizon = Horizon::new(Arc::new(SteadyClock::new(wall.clone())));
        let start = Instant::now();
        let p = media.join("rx.jpg");
        std::fs::write(&p, b"x").unwrap();
        let written = horizon.system_time(start);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(written - 29 * day)
            .unwrap();
        assert_eq!(sweep(&media, 30 * day, written).unwrap(), 0);

        // An hour later the wall clock jumps a year ahead: the file is not a year older.
        wall.advance(365 * day);
        let now = horizon.system_time(start + Duration::from_secs(3600));
        assert_eq!(now, written + Duration::from_secs(3600));
        assert_eq!(sweep(&media, 30 * day, now).unwrap(), 0);
        assert!(p.exists(), "kept: only an hour really passed");
        // Two days really pass: past 30 days now, it goes.
        let now = horizon.system_time(start + 2 * day);
        assert_eq!(now, written + 2 * day);
        assert_eq!(sweep(&media, 30 * day, now).unwrap(), 1);
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(&media);
    }
}
