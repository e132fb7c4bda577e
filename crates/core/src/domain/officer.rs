//! Officers and supervisors as the rules see them: roles, what a badge id and a PIN may look like,
//! and the outcome of a PIN check. Pure: hashing and the officer file are `officers`'.

use serde::{Deserialize, Serialize};

/// What a badge may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs enrollments.
    Officer,
    /// Runs enrollments and approves overrides.
    Supervisor,
    /// Keeps terminals running: opens the technician's screen only (no enrollments, no
    /// overrides).
    Technician,
}

/// The result of checking one PIN against the officer list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinOutcome {
    /// The PIN matches an active badge with this role.
    Correct(Role),
    /// The badge exists but the PIN is wrong.
    Wrong,
    /// No active badge with this id (unknown or disabled; not told apart, to give nothing away).
    UnknownBadge,
}

/// Whether `badge` is a usable badge id: 1 to 32 of `A-Z a-z 0-9 - _` (a typed id, or a card UID
/// in hex).
pub fn is_valid_badge(badge: &str) -> bool {
    !badge.is_empty()
        && badge.len() <= 32
        && badge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Why a PIN is not acceptable when it is set.
pub fn pin_problem(pin: &str) -> Option<&'static str> {
    if !(6..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Some("a PIN is 6 to 12 digits");
    }
    let bytes = pin.as_bytes();
    let same = bytes.windows(2).all(|w| w.first() == w.get(1));
    let ascending = bytes
        .windows(2)
        .all(|w| matches!((w.first(), w.get(1)), (Some(a), Some(b)) if *b == a + 1));
    let descending = bytes
        .windows(2)
        .all(|w| matches!((w.first(), w.get(1)), (Some(a), Some(b)) if *a == b + 1));
    (same || ascending || descending)
        .then_some("that PIN is too easy to guess (a repeated digit or a run)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_and_pins_follow_the_rules() {
        assert!(is_valid_badge("B-1042"));
        assert!(is_valid_badge("04A1B2C3D4E5F6"));
        assert!(!is_valid_badge(""));
        assert!(!is_valid_badge("B 1042"));
        assert_eq!(pin_problem("284719"), None);
        assert!(pin_problem("12345").is_some(), "too short");
        assert!(pin_problem("28471a").is_some(), "not digits");
        assert!(pin_problem("111111").is_some(), "repeated");
        assert!(pin_problem("123456").is_some(), "ascending run");
        assert!(pin_problem("987654").is_some(), "descending run");
    }
}
