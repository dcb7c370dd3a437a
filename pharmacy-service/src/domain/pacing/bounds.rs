//! The pacing profile an admin may change at run time, within hard bounds: nothing an admin
//! types can make the number send faster than the loosest figure any source gives, nor stop
//! replies altogether.

use super::PacingPolicy;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;
use std::time::Duration;

/// A change of the pacing profile; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PacingPatch {
    /// Active conversations: shortest spacing between two stanzas, 1 000-60 000 ms.
    #[schema(minimum = 1000, maximum = 60000)]
    pub active_gap_ms: Option<u64>,
    /// Active conversations: random addition to the spacing, 0-60 000 ms.
    #[schema(maximum = 60000)]
    pub active_gap_jitter_ms: Option<u64>,
    /// Outreach: shortest gap between two outreach messages, 20 000-900 000 ms.
    #[schema(minimum = 20000, maximum = 900000)]
    pub outreach_gap_ms: Option<u64>,
    /// Outreach: random addition to the gap, 0-900 000 ms.
    #[schema(maximum = 900000)]
    pub outreach_gap_jitter_ms: Option<u64>,
    /// Number-wide messages in any minute, 1-20.
    #[schema(minimum = 1, maximum = 20)]
    pub per_minute_cap: Option<u32>,
    /// Number-wide messages in any hour, 1-900.
    #[schema(minimum = 1, maximum = 900)]
    pub per_hour_cap: Option<u32>,
    /// Outreach messages in any hour, 0-60 (0: none).
    #[schema(maximum = 60)]
    pub outreach_hour_cap: Option<u32>,
}

// The hard bounds. The loosest: 20 a minute is baileys-antiban's "aggressive" preset, 900 an
// hour 1.5 times the research's ceiling of 600 [VENDOR, GUESS]; outreach never under 20 s
// apart nor over 60 an hour (WAHA's 30-60 s and effess.in's 80/h for a warm number [VENDOR]).
const ACTIVE_GAP_MS: RangeInclusive<u64> = 1_000..=60_000;
const JITTER_MS: RangeInclusive<u64> = 0..=60_000;
const OUTREACH_GAP_MS: RangeInclusive<u64> = 20_000..=900_000;
const OUTREACH_JITTER_MS: RangeInclusive<u64> = 0..=900_000;
const PER_MINUTE: RangeInclusive<u32> = 1..=20;
const PER_HOUR: RangeInclusive<u32> = 1..=900;
const OUTREACH_HOUR: RangeInclusive<u32> = 0..=60;

/// A value outside its bounds: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OutOfBounds {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn check<T: PartialOrd + std::fmt::Display + Copy>(
    field: &'static str,
    v: Option<T>,
    range: &RangeInclusive<T>,
) -> Result<(), OutOfBounds> {
    match v {
        Some(v) if !range.contains(&v) => Err(OutOfBounds {
            field,
            message: format!("must be {} to {}", range.start(), range.end()),
        }),
        _ => Ok(()),
    }
}

impl PacingPatch {
    /// Refuses the whole change when one value is out of bounds.
    pub fn validate(&self) -> Result<(), OutOfBounds> {
        check("active_gap_ms", self.active_gap_ms, &ACTIVE_GAP_MS)?;
        check(
            "active_gap_jitter_ms",
            self.active_gap_jitter_ms,
            &JITTER_MS,
        )?;
        check("outreach_gap_ms", self.outreach_gap_ms, &OUTREACH_GAP_MS)?;
        check(
            "outreach_gap_jitter_ms",
            self.outreach_gap_jitter_ms,
            &OUTREACH_JITTER_MS,
        )?;
        check("per_minute_cap", self.per_minute_cap, &PER_MINUTE)?;
        check("per_hour_cap", self.per_hour_cap, &PER_HOUR)?;
        check("outreach_hour_cap", self.outreach_hour_cap, &OUTREACH_HOUR)
    }

    /// Later fields win.
    pub fn merge(&mut self, o: &PacingPatch) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f; } )* };
        }
        take!(
            active_gap_ms,
            active_gap_jitter_ms,
            outreach_gap_ms,
            outreach_gap_jitter_ms,
            per_minute_cap,
            per_hour_cap,
            outreach_hour_cap
        );
    }

    /// The policy with this change, after [`PacingPatch::validate`].
    pub fn apply(&self, p: &mut PacingPolicy) -> Result<(), OutOfBounds> {
        self.validate()?;
        let ms = Duration::from_millis;
        if let Some(v) = self.active_gap_ms {
            p.active_gap = ms(v);
        }
        if let Some(v) = self.active_gap_jitter_ms {
            p.active_gap_jitter = ms(v);
        }
        if let Some(v) = self.outreach_gap_ms {
            p.min_gap = ms(v);
        }
        if let Some(v) = self.outreach_gap_jitter_ms {
            p.gap_jitter = ms(v);
        }
        if let Some(v) = self.per_minute_cap {
            p.per_minute_cap = v;
        }
        if let Some(v) = self.per_hour_cap {
            p.per_hour_cap = v;
        }
        if let Some(v) = self.outreach_hour_cap {
            p.outreach_hour_cap = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_the_hard_bounds_are_refused_and_change_nothing() {
        let mut p = PacingPolicy::production();
        let before = p.clone();
        for (patch, field) in [
            (
                PacingPatch {
                    active_gap_ms: Some(999),
                    ..PacingPatch::default()
                },
                "active_gap_ms",
            ),
            (
                PacingPatch {
                    outreach_gap_ms: Some(19_999),
                    ..PacingPatch::default()
                },
                "outreach_gap_ms",
            ),
            (
                PacingPatch {
                    active_gap_ms: Some(2_000),
                    per_minute_cap: Some(21),
                    ..PacingPatch::default()
                },
                "per_minute_cap",
            ),
            (
                PacingPatch {
                    outreach_hour_cap: Some(61),
                    ..PacingPatch::default()
                },
                "outreach_hour_cap",
            ),
        ] {
            assert_eq!(patch.apply(&mut p).unwrap_err().field, field);
            assert_eq!(p, before, "a refused change leaves the policy alone");
        }
        let ok = PacingPatch {
            active_gap_ms: Some(3_000),
            outreach_hour_cap: Some(0),
            ..PacingPatch::default()
        };
        ok.apply(&mut p).unwrap();
        assert_eq!(p.active_gap, Duration::from_secs(3));
        assert_eq!(p.outreach_hour_cap, 0);
        assert_eq!(p.per_minute_cap, before.per_minute_cap);
    }
}
