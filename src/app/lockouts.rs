//! Wrong-PIN counts and lockouts that survive a restart: the sign-in flows count on the app's own
//! clock (which restarts with the program), the outbox keeps them on the wall clock. This module
//! converts between the two and knows which badges changed; the writing is the enrollment
//! worker's (never the UI thread's), the rules are `flows::officer_auth`'s.

use std::collections::BTreeMap;

use enroll_core::domain::time::UnixMs;
use enroll_core::flows::officer_auth::{AuthState, BadgeFailures};
use enroll_store::PinFailures;

/// The kept counts, by badge, as last written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockouts {
    kept: BTreeMap<String, PinFailures>,
}

impl Lockouts {
    /// What the outbox kept.
    pub fn from_stored(stored: Vec<PinFailures>) -> Lockouts {
        Lockouts {
            kept: stored
                .into_iter()
                .map(|failures| (failures.badge.clone(), failures))
                .collect(),
        }
    }

    /// The sign-in flow's counters for a flow whose clock reads `now_ms` at wall-clock `now`:
    /// lockouts that have run out are forgotten, the others end at the same wall-clock time but
    /// never more than `lockout_ms` from now (a kept end further away was written under a clock
    /// that has since gone back, and would lock the badge out for as long as the clock jumped).
    pub fn for_flow(
        &self,
        now_ms: u64,
        now: UnixMs,
        lockout_ms: u64,
    ) -> BTreeMap<String, BadgeFailures> {
        self.kept
            .values()
            .filter_map(|kept| {
                let locked_until_ms = match kept.locked_until {
                    Some(until) if until.as_i64() > now.as_i64() => {
                        let left_ms = u64::try_from(until.as_i64() - now.as_i64())
                            .ok()?
                            .min(lockout_ms);
                        Some(now_ms.saturating_add(left_ms))
                    }
                    Some(_) => return None,
                    None => None,
                };
                Some((
                    kept.badge.clone(),
                    BadgeFailures {
                        count: kept.failures,
                        locked_until_ms,
                    },
                ))
            })
            .collect()
    }

    /// What to write for `badge` after a PIN check moved `auth` on, when it changed.
    pub fn changed(
        &mut self,
        badge: &str,
        auth: &AuthState,
        now_ms: u64,
        now: UnixMs,
    ) -> Option<PinFailures> {
        let current = auth.failures.get(badge);
        let next = PinFailures {
            badge: badge.to_owned(),
            failures: current.map_or(0, |failures| failures.count),
            locked_until: current
                .and_then(|failures| failures.locked_until_ms)
                .map(|until_ms| now.plus_ms(until_ms.saturating_sub(now_ms))),
        };
        let unchanged = match self.kept.get(badge) {
            Some(kept) => *kept == next,
            None => next.failures == 0 && next.locked_until.is_none(),
        };
        if unchanged {
            return None;
        }
        if next.failures == 0 && next.locked_until.is_none() {
            self.kept.remove(badge);
        } else {
            self.kept.insert(badge.to_owned(), next.clone());
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixMs = UnixMs(1_800_000_000_000);

    fn locked(badge: &str, until: UnixMs) -> PinFailures {
        PinFailures {
            badge: badge.into(),
            failures: 5,
            locked_until: Some(until),
        }
    }

    #[test]
    fn a_kept_lockout_ends_at_the_same_wall_clock_time_on_the_new_flow_clock() {
        let lockouts = Lockouts::from_stored(vec![
            locked("B1", NOW.plus_ms(240_000)),
            locked("B2", NOW.minus_ms(1)),
        ]);
        let flow = lockouts.for_flow(5_000, NOW, 600_000);
        assert_eq!(
            flow.get("B1").and_then(|f| f.locked_until_ms),
            Some(245_000)
        );
        assert!(
            !flow.contains_key("B2"),
            "a lockout that ran out is forgotten"
        );
    }

    #[test]
    fn a_lockout_kept_under_a_clock_that_has_since_gone_back_a_year_lasts_no_longer_than_a_lockout()
    {
        // Locked at 12:00 with the clock a year ahead: kept as ending at 12:10 next year.
        const YEAR_MS: u64 = 365 * 24 * 3_600_000;
        let lockouts = Lockouts::from_stored(vec![locked("B1", NOW.plus_ms(YEAR_MS + 600_000))]);
        let flow = lockouts.for_flow(5_000, NOW, 600_000);
        assert_eq!(
            flow.get("B1").and_then(|f| f.locked_until_ms),
            Some(605_000),
            "ten minutes from now, not a year"
        );
        assert_eq!(flow.get("B1").map(|f| f.count), Some(5));
    }

    #[test]
    fn only_a_change_is_written_and_a_right_pin_forgets_the_badge() {
        let mut lockouts = Lockouts::default();
        let mut auth = AuthState::default();
        auth.failures.insert(
            "B1".into(),
            BadgeFailures {
                count: 5,
                locked_until_ms: Some(610_000),
            },
        );
        let written = lockouts.changed("B1", &auth, 10_000, NOW);
        assert_eq!(written, Some(locked("B1", NOW.plus_ms(600_000))));
        assert_eq!(lockouts.changed("B1", &auth, 10_000, NOW), None);
        auth.failures.remove("B1");
        let forgotten = lockouts.changed("B1", &auth, 20_000, NOW).unwrap();
        assert_eq!((forgotten.failures, forgotten.locked_until), (0, None));
        assert_eq!(lockouts.changed("B1", &auth, 20_000, NOW), None);
    }
}
