//! Instants as milliseconds since the Unix epoch, and their local reading in the configured zone.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `d` later (saturating).
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(millis(d)))
    }

    /// The instant `d` earlier (saturating).
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(millis(d)))
    }

    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// Milliseconds from `earlier` to `self`, signed.
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    /// The local reading of this instant in `tz`.
    pub fn local(self, tz: &TimeZone) -> LocalTime {
        let ts = jiff::Timestamp::from_millisecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let dt = ts.to_zoned(tz.clone()).datetime();
        LocalTime {
            date: dt.date(),
            minute_of_day: dt.hour() as u16 * 60 + dt.minute() as u16,
        }
    }

    /// The current instant from the system clock. Only the app's clock calls this.
    pub fn from_system_time(t: std::time::SystemTime) -> Timestamp {
        let ms = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => millis(d),
            Err(e) => -millis(e.duration()),
        };
        Timestamp(ms)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A wall-clock reading: local date and minute of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The local calendar date.
    pub date: Date,
    /// Minutes since local midnight, 0..1440.
    pub minute_of_day: u16,
}

impl LocalTime {
    /// Day of the week, 0 = Monday .. 6 = Sunday.
    pub fn weekday_index(&self) -> usize {
        self.date.weekday().to_monday_zero_offset() as usize
    }

    /// The local date as `YYYY-MM-DD` (the key of daily KPIs and of the auto-reply log).
    pub fn day_key(&self) -> String {
        self.date.to_string()
    }
}

/// `YYYY-MM` of a date: the key of monthly KPIs.
pub fn month_key(date: Date) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// The instant local `date` starts at in `tz` (handles days whose midnight is skipped by DST).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Timestamp {
    let ms = date
        .to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    Timestamp(ms)
}

/// Parses a zone name such as `Africa/Cairo` against the tz database built into the binary.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// The weekday of index `i` (0 = Monday).
pub fn weekday(i: usize) -> Weekday {
    Weekday::from_monday_zero_offset((i % 7) as i8).unwrap_or(Weekday::Monday)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp(s.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    #[test]
    fn cairo_has_summer_time() {
        let tz = time_zone("Africa/Cairo").unwrap();
        // Winter: UTC+2.
        let w = ts("2026-01-15T10:00:00Z").local(&tz);
        assert_eq!(w.minute_of_day, 12 * 60);
        // Summer (Egypt restored DST in 2023): UTC+3.
        let s = ts("2026-07-15T10:00:00Z").local(&tz);
        assert_eq!(s.minute_of_day, 13 * 60);
        assert_eq!(s.day_key(), "2026-07-15");
    }

    #[test]
    fn start_of_day_is_local_midnight() {
        let tz = time_zone("Africa/Cairo").unwrap();
        let d = jiff::civil::date(2026, 7, 15);
        assert_eq!(start_of_day(d, &tz), ts("2026-07-14T21:00:00Z"));
        assert_eq!(month_key(d), "2026-07");
    }

    #[test]
    fn since_saturates() {
        assert_eq!(Timestamp(5).since(Timestamp(10)), Duration::ZERO);
        assert_eq!(Timestamp(10).since(Timestamp(5)), Duration::from_millis(5));
    }
}
