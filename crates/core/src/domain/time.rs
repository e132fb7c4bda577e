//! Wall-clock time as the product passes it around: an instant as Unix milliseconds (UTC),
//! [`UnixMs`], its UTC calendar date, and the proleptic Gregorian day arithmetic behind both. The
//! clock is read at the edges (the kiosk's `clock::now`, the registry's binary) and comes in as a
//! value; nothing here reads it. The flows' own timers are not wall-clock time (they count
//! milliseconds since the window opened) and stay plain `u64`.

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

use crate::domain::document::CalendarDate;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// An instant: milliseconds since 1970-01-01T00:00:00Z. Serialised as the bare number, so the
/// record format's `*_unix_ms` fields keep their bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMs(pub i64);

impl UnixMs {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: UnixMs = UnixMs(0);

    /// The instant `secs` whole seconds after the epoch.
    pub const fn from_secs(secs: i64) -> UnixMs {
        UnixMs(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down, also before the epoch).
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Milliseconds since the epoch, or 0 for an instant before it (for `u64` fields of the
    /// record format, which never hold earlier times).
    pub fn as_u64(self) -> u64 {
        u64::try_from(self.0).unwrap_or(0)
    }

    /// The instant `ms` after the epoch, from a `u64` count (saturating at the largest instant).
    pub fn from_u64(ms: u64) -> UnixMs {
        UnixMs(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// `ms` milliseconds later (saturating).
    pub fn plus_ms(self, ms: u64) -> UnixMs {
        UnixMs(self.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// `ms` milliseconds earlier (saturating).
    pub fn minus_ms(self, ms: u64) -> UnixMs {
        UnixMs(self.0.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)))
    }

    /// Milliseconds from `earlier` to `self`: negative when `earlier` is in fact later.
    pub fn ms_since(self, earlier: UnixMs) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The UTC calendar date of this instant; `None` outside the years a [`CalendarDate`] holds.
    pub fn utc_date(self) -> Option<CalendarDate> {
        let (year, month, day) = civil_from_days(self.0.div_euclid(DAY_MS));
        CalendarDate::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
        .ok()
    }
}

/// The milliseconds from `rhs` to `self` (saturating), as [`UnixMs::ms_since`].
impl Sub for UnixMs {
    type Output = i64;
    fn sub(self, rhs: UnixMs) -> i64 {
        self.ms_since(rhs)
    }
}

/// `ms` milliseconds later (earlier when negative), saturating.
impl Add<i64> for UnixMs {
    type Output = UnixMs;
    fn add(self, ms: i64) -> UnixMs {
        UnixMs(self.0.saturating_add(ms))
    }
}

/// `ms` milliseconds earlier (later when negative), saturating.
impl Sub<i64> for UnixMs {
    type Output = UnixMs;
    fn sub(self, ms: i64) -> UnixMs {
        UnixMs(self.0.saturating_sub(ms))
    }
}

impl fmt::Display for UnixMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_has_the_utc_date_of_its_day_including_midnight_and_before_the_epoch() {
        let date = |y, m, d| CalendarDate::new(y, m, d).unwrap();
        assert_eq!(
            UnixMs(1_790_000_000_000).utc_date(),
            Some(date(2026, 9, 21))
        );
        assert_eq!(UnixMs(0).utc_date(), Some(date(1970, 1, 1)));
        assert_eq!(UnixMs(DAY_MS - 1).utc_date(), Some(date(1970, 1, 1)));
        assert_eq!(UnixMs(DAY_MS).utc_date(), Some(date(1970, 1, 2)));
        assert_eq!(UnixMs(-1).utc_date(), Some(date(1969, 12, 31)));
        assert_eq!(UnixMs(i64::MAX).utc_date(), None);
    }

    #[test]
    fn day_counts_and_dates_convert_both_ways() {
        for days in [-719_468, -1, 0, 1, 10_957, 20_000, 2_932_896] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn arithmetic_saturates_and_seconds_round_down() {
        assert_eq!(UnixMs(1_500).secs(), 1);
        assert_eq!(UnixMs(-1).secs(), -1);
        assert_eq!(UnixMs::from_secs(2), UnixMs(2_000));
        assert_eq!(UnixMs(i64::MAX).plus_ms(1), UnixMs(i64::MAX));
        assert_eq!(UnixMs(i64::MIN).minus_ms(u64::MAX), UnixMs(i64::MIN));
        assert_eq!(UnixMs(5).ms_since(UnixMs(7)), -2);
        assert_eq!(UnixMs(-5).as_u64(), 0);
        assert_eq!(UnixMs::from_u64(u64::MAX), UnixMs(i64::MAX));
        assert_eq!(UnixMs(10) - UnixMs(4), 6);
        assert_eq!(UnixMs(10) + 5, UnixMs(15));
        assert_eq!(UnixMs(10) - 15, UnixMs(-5));
        assert_eq!(UnixMs(i64::MIN) - UnixMs(1), i64::MIN);
    }

    #[test]
    fn it_serialises_as_the_bare_number() {
        assert_eq!(
            serde_json::to_string(&UnixMs(1_790_000_000_123)).unwrap(),
            "1790000000123"
        );
        assert_eq!(
            serde_json::from_str::<UnixMs>("1790000000123").unwrap(),
            UnixMs(1_790_000_000_123)
        );
    }
}
