//! Weekly opening hours, holidays and agent shifts, read in local time.

use super::time::LocalTime;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A span of a day in minutes since local midnight. `end < start` runs past midnight into the
/// next day (a branch open 18:00-02:00); `start == 0 && end == 1440` is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Span {
    /// First minute inside the span.
    pub start: u16,
    /// First minute after the span (1440 = midnight).
    pub end: u16,
}

impl Span {
    /// A span from `HH:MM` numbers.
    pub const fn hm(start_h: u16, start_m: u16, end_h: u16, end_m: u16) -> Span {
        Span {
            start: start_h * 60 + start_m,
            end: end_h * 60 + end_m,
        }
    }

    fn overnight(&self) -> bool {
        self.end < self.start
    }
}

/// Seven lists of spans, Monday first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WeeklyHours {
    /// `days[0]` is Monday, `days[6]` Sunday.
    #[schema(value_type = Vec<Vec<Span>>, min_items = 7, max_items = 7)]
    pub days: [Vec<Span>; 7],
}

impl WeeklyHours {
    /// The same spans every day of the week.
    pub fn every_day(spans: &[Span]) -> WeeklyHours {
        WeeklyHours {
            days: std::array::from_fn(|_| spans.to_vec()),
        }
    }

    /// No span on any day (for shifts: "no roster").
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// Whether `t` falls inside a span, counting spans that started the previous day and run
    /// past midnight. `closed_dates` are whole local dates on which nothing is open.
    pub fn contains(&self, t: LocalTime, closed_dates: &[Date]) -> bool {
        let today = t.weekday_index();
        let yesterday = (today + 6) % 7;
        let m = t.minute_of_day;
        let today_closed = closed_dates.contains(&t.date);
        if !today_closed
            && self.days[today].iter().any(|s| {
                if s.overnight() {
                    m >= s.start
                } else {
                    m >= s.start && m < s.end
                }
            })
        {
            return true;
        }
        // The tail of yesterday's overnight span belongs to yesterday's opening.
        let yesterday_date = t.date.yesterday().ok();
        let yesterday_closed = yesterday_date.is_some_and(|d| closed_dates.contains(&d));
        !yesterday_closed
            && self.days[yesterday]
                .iter()
                .any(|s| s.overnight() && m < s.end)
    }

    /// A short human description of one day's spans, e.g. `09:00-23:00`.
    pub fn describe_day(&self, weekday: usize) -> String {
        let spans = &self.days[weekday % 7];
        if spans.is_empty() {
            return "closed".to_owned();
        }
        spans
            .iter()
            .map(|s| {
                format!(
                    "{:02}:{:02}-{:02}:{:02}",
                    s.start / 60,
                    s.start % 60,
                    (s.end / 60) % 24,
                    s.end % 60
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether an agent is on shift: with no roster configured, always.
pub fn on_shift(shifts: &WeeklyHours, t: LocalTime) -> bool {
    shifts.is_empty() || shifts.contains(t, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(d: Date, h: u16, m: u16) -> LocalTime {
        LocalTime {
            date: d,
            minute_of_day: h * 60 + m,
        }
    }

    #[test]
    fn hours_table() {
        let day = WeeklyHours::every_day(&[Span::hm(9, 0, 23, 0)]);
        let night = WeeklyHours::every_day(&[Span::hm(18, 0, 2, 0)]);
        let full = WeeklyHours::every_day(&[Span::hm(0, 0, 24, 0)]);
        let mut friday_off = WeeklyHours::every_day(&[Span::hm(9, 0, 17, 0)]);
        friday_off.days[4].clear();
        let wed = date(2026, 11, 25); // a Wednesday
        let fri = date(2026, 11, 27);
        let sat = date(2026, 11, 28);
        let cases: &[(&WeeklyHours, LocalTime, &[Date], bool)] = &[
            (&day, at(wed, 8, 59), &[], false),
            (&day, at(wed, 9, 0), &[], true),
            (&day, at(wed, 22, 59), &[], true),
            (&day, at(wed, 23, 0), &[], false),
            (&day, at(wed, 12, 0), &[wed], false),
            (&night, at(wed, 19, 0), &[], true),
            (&night, at(wed, 1, 30), &[], true),
            (&night, at(wed, 2, 0), &[], false),
            (&night, at(wed, 12, 0), &[], false),
            // A holiday closes its own evening and the overnight tail that started it.
            (&night, at(sat, 1, 0), &[fri], false),
            (&night, at(fri, 20, 0), &[fri], false),
            (&full, at(wed, 0, 0), &[], true),
            (&full, at(wed, 23, 59), &[], true),
            (&friday_off, at(fri, 10, 0), &[], false),
            (&friday_off, at(sat, 10, 0), &[], true),
        ];
        for (i, (h, t, closed, want)) in cases.iter().enumerate() {
            assert_eq!(h.contains(*t, closed), *want, "case {i}");
        }
    }

    #[test]
    fn empty_roster_is_always_on_shift() {
        let t = at(date(2026, 1, 1), 3, 0);
        assert!(on_shift(&WeeklyHours::default(), t));
        assert!(!on_shift(
            &WeeklyHours::every_day(&[Span::hm(9, 0, 17, 0)]),
            t
        ));
    }

    #[test]
    fn hours_round_trip_json() {
        let h = WeeklyHours::every_day(&[Span::hm(9, 0, 23, 0)]);
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<WeeklyHours>(&s).unwrap(), h);
        assert_eq!(h.describe_day(0), "09:00-23:00");
    }
}
