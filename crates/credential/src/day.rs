//! The calendar of daily tokens: which instants a token for a local date is valid between, the
//! daily pseudonymous handle, and age on a date. The time zone is the caller's (the registry's
//! configuration); nothing here reads the clock or the time-zone database.

use hmac::{KeyInit as _, Mac as _};
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// A token becomes valid this long before local midnight, in seconds.
pub const EARLY_S: i64 = 10 * 60;
/// A token stays valid this long after the next local midnight, in seconds.
pub const GRACE_S: i64 = 2 * 3600;

/// A date the time zone cannot place (out of range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the date {0} has no midnight in the configured time zone")]
pub struct DayError(pub String);

/// `(nbf, exp)` in Unix seconds of the token for `date`: local midnight − 10 min to the next
/// local midnight + 2 h, cut to [`crate::MAX_LIFETIME_S`] on the 25-hour day a clock falls back.
pub fn validity(date: Date, time_zone: &TimeZone) -> Result<(i64, i64), DayError> {
    let midnight = |day: Date| {
        day.to_zoned_datetime(time_zone.clone())
            .map(|zoned| zoned.timestamp().as_second())
            .map_err(|_| DayError(day.to_string()))
    };
    let next = date.tomorrow().map_err(|_| DayError(date.to_string()))?;
    let not_before = midnight(date)? - EARLY_S;
    let expires = (midnight(next)? + GRACE_S).min(not_before + crate::MAX_LIFETIME_S);
    Ok((not_before, expires))
}

/// The local date an instant falls on.
pub fn local_date(unix_s: i64, time_zone: &TimeZone) -> Option<Date> {
    jiff::Timestamp::from_second(unix_s)
        .ok()
        .map(|t| t.to_zoned_datetime(time_zone.clone()).date())
}

/// The daily handle: HMAC-SHA256 under the registry's handle secret of the identity's id and the
/// date, 10 bytes in hex. Unlinkable across days without the secret; stable within a day.
pub fn daily_handle(secret: &[u8; 32], identity_id: &str, date: Date) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"enroll-kiosk daily handle v1\0");
    mac.update(identity_id.as_bytes());
    mac.update(b"\0");
    mac.update(date.to_string().as_bytes());
    let tag = mac.finalize().into_bytes();
    crate::keys::hex(tag.get(..10).unwrap_or_default())
}

/// Whether someone born on `birth` is 18 or older on `day`.
pub fn age_at_least_18(birth: Date, day: Date) -> bool {
    let years = day.year() - birth.year();
    let had_birthday = (day.month(), day.day()) >= (birth.month(), birth.day());
    years > 18 || (years == 18 && had_birthday)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_token_is_valid_from_ten_minutes_before_local_midnight_to_two_hours_after_the_next() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let (nbf, exp) = validity(date(2026, 12, 7), &shanghai).unwrap();
        // 2026-12-07T00:00+08:00 is 2026-12-06T16:00Z = 1_796_572_800.
        assert_eq!(nbf, 1_796_572_800 - 600);
        assert_eq!(exp, 1_796_572_800 + 86_400 + 7_200);
    }

    #[test]
    fn on_the_day_clocks_fall_back_the_lifetime_is_cut_to_27_hours() {
        let new_york = TimeZone::get("America/New_York").unwrap();
        let (nbf, exp) = validity(date(2026, 11, 1), &new_york).unwrap();
        assert_eq!(exp - nbf, crate::MAX_LIFETIME_S);
    }

    #[test]
    fn the_handle_changes_every_day_and_with_the_secret() {
        let a = daily_handle(&[1; 32], "identity-1", date(2026, 12, 7));
        assert_eq!(a.len(), 20);
        assert_eq!(a, daily_handle(&[1; 32], "identity-1", date(2026, 12, 7)));
        assert_ne!(a, daily_handle(&[1; 32], "identity-1", date(2026, 12, 8)));
        assert_ne!(a, daily_handle(&[2; 32], "identity-1", date(2026, 12, 7)));
    }

    #[test]
    fn eighteen_counts_from_the_birthday() {
        let birth = date(2008, 12, 7);
        assert!(!age_at_least_18(birth, date(2026, 12, 6)));
        assert!(age_at_least_18(birth, date(2026, 12, 7)));
    }
}
