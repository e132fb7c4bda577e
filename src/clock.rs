//! The kiosk's one reading of the wall clock. Everything else takes the time as a
//! [`UnixMs`] value from its caller, so tests can set it and the pure core never reads it.

use enroll_core::domain::time::UnixMs;

/// The wall-clock time now; the epoch if the system clock is set before 1970.
#[allow(clippy::disallowed_methods)] // the kiosk's edge: the clock is read here and passed in
pub fn now() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| UnixMs(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)))
        .unwrap_or(UnixMs::EPOCH)
}
