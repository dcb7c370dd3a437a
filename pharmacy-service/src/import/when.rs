//! Django timestamps: with `USE_TZ = True` Django's SQLite backend stores naive UTC text
//! (`2025-03-01 10:20:30.123456`); with `USE_TZ = False`, naive local time. Naive values are
//! read in the source zone the caller configures (UTC by default); values with an offset are
//! taken as they are.

use crate::domain::time::Timestamp;
use jiff::tz::TimeZone;

/// Parses a Django datetime or date.
pub fn parse(text: &str, tz: &TimeZone) -> Option<Timestamp> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(ts) = t.parse::<jiff::Timestamp>() {
        return Some(Timestamp(ts.as_millisecond()));
    }
    // "2025-03-01 10:20:30+00:00": jiff wants the "T".
    let with_t = match t.find(' ') {
        Some(10) => format!("{}T{}", &t[..10], t[11..].trim()),
        _ => t.to_owned(),
    };
    if let Ok(ts) = with_t.parse::<jiff::Timestamp>() {
        return Some(Timestamp(ts.as_millisecond()));
    }
    if let Ok(dt) = with_t.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(tz.clone())
            .ok()
            .map(|z| Timestamp(z.timestamp().as_millisecond()));
    }
    if let Ok(d) = t.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(tz.clone())
            .ok()
            .map(|z| Timestamp(z.timestamp().as_millisecond()));
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(from_epoch(n));
    }
    None
}

/// Unix seconds, or milliseconds when the number is too large to be seconds.
pub fn from_epoch(n: i64) -> Timestamp {
    if n.abs() >= 100_000_000_000 {
        Timestamp(n)
    } else {
        Timestamp(n.saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_forms() {
        let utc = TimeZone::UTC;
        let cairo = TimeZone::get("Africa/Cairo").unwrap();
        let base = 1_740_824_430_000; // 2025-03-01T10:20:30Z
        assert_eq!(parse("2025-03-01 10:20:30", &utc), Some(Timestamp(base)));
        assert_eq!(
            parse("2025-03-01 10:20:30.250000", &utc),
            Some(Timestamp(base + 250))
        );
        assert_eq!(parse("2025-03-01T10:20:30Z", &cairo), Some(Timestamp(base)));
        assert_eq!(
            parse("2025-03-01 12:20:30+02:00", &utc),
            Some(Timestamp(base))
        );
        // Naive local Cairo time (UTC+2 in March 2025).
        assert_eq!(parse("2025-03-01 12:20:30", &cairo), Some(Timestamp(base)));
        assert_eq!(
            parse("2025-03-01", &utc),
            Some(Timestamp(base - (10 * 3600 + 20 * 60 + 30) * 1000))
        );
        assert_eq!(parse("1740824430", &utc), Some(Timestamp(base)));
        assert_eq!(parse("yesterday", &utc), None);
        assert_eq!(from_epoch(base), Timestamp(base));
    }
}
