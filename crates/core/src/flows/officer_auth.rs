//! Officer and supervisor sign-in: badge + PIN attempts, the lockout of a badge after repeated
//! wrong PINs, and the officer session that locks after idle time. Pure: the PIN itself is checked
//! against its Argon2id hash by the app (off the UI thread) and only the outcome comes in; time is
//! an input. It does not know screens or where badges come from.

use std::collections::BTreeMap;

pub use crate::domain::officer::{PinOutcome, Role};

/// The parts of the configuration this flow obeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Wrong PINs in a row that lock a badge.
    pub max_failures: u8,
    /// How long a locked badge stays locked.
    pub lockout_ms: u64,
    /// Idle time after which a signed-in session locks.
    pub session_lock_ms: u64,
}

/// Wrong PINs counted for one badge.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BadgeFailures {
    /// Wrong PINs in a row.
    pub count: u8,
    /// When the lockout ends, while the badge is locked (monotonic ms).
    pub locked_until_ms: Option<u64>,
}

/// The signed-in person, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Session {
    /// Nobody is signed in.
    SignedOut,
    /// An officer works; `last_activity_ms` drives the idle lock.
    SignedIn {
        badge: String,
        role: Role,
        last_activity_ms: u64,
    },
    /// The session locked after idle time: only the same badge's PIN opens it again.
    Locked { badge: String, role: Role },
}

/// Sign-in state: the session and the failure counters of every badge tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthState {
    pub session: Session,
    pub failures: BTreeMap<String, BadgeFailures>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            session: Session::SignedOut,
            failures: BTreeMap::new(),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthEvent {
    /// A PIN for `badge` was checked, with this outcome.
    PinChecked {
        badge: String,
        outcome: PinOutcome,
        now_ms: u64,
    },
    /// The signed-in officer did something.
    Activity { now_ms: u64 },
    /// Time passed.
    Tick { now_ms: u64 },
    /// The officer signed out.
    SignOut,
}

/// What the screen should say after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthNotice {
    SignedIn(Role),
    /// Unlocked by the same badge.
    Unlocked,
    /// Wrong PIN (or unknown badge); `attempts_left` before the badge locks.
    WrongPin {
        attempts_left: u8,
    },
    /// The badge is locked until then (monotonic ms); no PIN is checked meanwhile.
    BadgeLocked {
        until_ms: u64,
    },
    /// Another badge tried to open a locked session.
    OtherBadge,
    /// The session locked after idle time.
    SessionLocked,
}

impl AuthState {
    /// Whether a PIN for `badge` may be checked now; `Err(until_ms)` while it is locked out. The
    /// app asks before spending an Argon2id computation.
    pub fn may_try(&self, badge: &str, now_ms: u64) -> Result<(), u64> {
        match self.failures.get(badge).and_then(|f| f.locked_until_ms) {
            Some(until_ms) if now_ms < until_ms => Err(until_ms),
            _ => Ok(()),
        }
    }

    /// The signed-in badge and role, when a session is open (not locked).
    pub fn signed_in(&self) -> Option<(&str, Role)> {
        match &self.session {
            Session::SignedIn { badge, role, .. } => Some((badge, *role)),
            _ => None,
        }
    }
}

/// Counts a wrong PIN for `badge`; returns the notice.
fn fail(state: &mut AuthState, badge: &str, now_ms: u64, settings: &AuthSettings) -> AuthNotice {
    let entry = state.failures.entry(badge.to_owned()).or_default();
    // A lockout that has run out starts a fresh count.
    if entry.locked_until_ms.is_some_and(|until| now_ms >= until) {
        *entry = BadgeFailures::default();
    }
    entry.count = entry.count.saturating_add(1);
    if entry.count >= settings.max_failures {
        let until_ms = now_ms.saturating_add(settings.lockout_ms);
        entry.locked_until_ms = Some(until_ms);
        AuthNotice::BadgeLocked { until_ms }
    } else {
        AuthNotice::WrongPin {
            attempts_left: settings.max_failures - entry.count,
        }
    }
}

/// Advances sign-in by one event.
pub fn step(
    mut state: AuthState,
    event: AuthEvent,
    settings: &AuthSettings,
) -> (AuthState, Option<AuthNotice>) {
    match event {
        AuthEvent::PinChecked {
            badge,
            outcome,
            now_ms,
        } => {
            if let Err(until_ms) = state.may_try(&badge, now_ms) {
                return (state, Some(AuthNotice::BadgeLocked { until_ms }));
            }
            if let Session::Locked { badge: owner, .. } = &state.session
                && *owner != badge
            {
                return (state, Some(AuthNotice::OtherBadge));
            }
            match outcome {
                PinOutcome::Correct(role) => {
                    state.failures.remove(&badge);
                    let notice = if matches!(state.session, Session::Locked { .. }) {
                        AuthNotice::Unlocked
                    } else {
                        AuthNotice::SignedIn(role)
                    };
                    state.session = Session::SignedIn {
                        badge,
                        role,
                        last_activity_ms: now_ms,
                    };
                    (state, Some(notice))
                }
                PinOutcome::Wrong | PinOutcome::UnknownBadge => {
                    let notice = fail(&mut state, &badge, now_ms, settings);
                    (state, Some(notice))
                }
            }
        }
        AuthEvent::Activity { now_ms } => {
            if let Session::SignedIn {
                last_activity_ms, ..
            } = &mut state.session
            {
                *last_activity_ms = now_ms;
            }
            (state, None)
        }
        AuthEvent::Tick { now_ms } => match state.session {
            Session::SignedIn {
                badge,
                role,
                last_activity_ms,
            } if now_ms.saturating_sub(last_activity_ms) >= settings.session_lock_ms => {
                state.session = Session::Locked { badge, role };
                (state, Some(AuthNotice::SessionLocked))
            }
            _ => (state, None),
        },
        AuthEvent::SignOut => {
            state.session = Session::SignedOut;
            (state, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: AuthSettings = AuthSettings {
        max_failures: 5,
        lockout_ms: 600_000,
        session_lock_ms: 300_000,
    };

    fn pin(badge: &str, outcome: PinOutcome, now_ms: u64) -> AuthEvent {
        AuthEvent::PinChecked {
            badge: badge.into(),
            outcome,
            now_ms,
        }
    }

    /// A table row: name, events, the last notice, who is signed in at the end.
    type Case<'a> = (
        &'a str,
        Vec<AuthEvent>,
        Option<AuthNotice>,
        Option<(&'a str, Role)>,
    );

    /// Runs `events` from a fresh terminal; the last notice and the final state.
    fn check(events: &[AuthEvent]) -> (AuthState, Option<AuthNotice>) {
        let mut state = AuthState::default();
        let mut last = None;
        for event in events {
            let (next, notice) = step(state, event.clone(), &SETTINGS);
            state = next;
            last = notice;
        }
        (state, last)
    }

    #[test]
    fn the_sign_in_table_holds() {
        use PinOutcome::*;
        let officer = Correct(Role::Officer);
        let wrongs = |n: u64| (0..n).map(|i| pin("B-1", Wrong, i)).collect::<Vec<_>>();
        let with = |mut events: Vec<AuthEvent>, more: Vec<AuthEvent>| {
            events.extend(more);
            events
        };
        let cases: Vec<Case> = vec![
            (
                "the right PIN signs in",
                vec![pin("B-1", officer, 0)],
                Some(AuthNotice::SignedIn(Role::Officer)),
                Some(("B-1", Role::Officer)),
            ),
            (
                "a wrong PIN says how many tries are left",
                wrongs(1),
                Some(AuthNotice::WrongPin { attempts_left: 4 }),
                None,
            ),
            (
                "an unknown badge counts like a wrong PIN",
                vec![pin("B-9", UnknownBadge, 0)],
                Some(AuthNotice::WrongPin { attempts_left: 4 }),
                None,
            ),
            (
                "the fifth wrong PIN locks the badge for ten minutes",
                wrongs(5),
                Some(AuthNotice::BadgeLocked { until_ms: 600_004 }),
                None,
            ),
            (
                "while locked even the right PIN is refused",
                with(wrongs(5), vec![pin("B-1", officer, 10_000)]),
                Some(AuthNotice::BadgeLocked { until_ms: 600_004 }),
                None,
            ),
            (
                "after the lockout the right PIN works",
                with(wrongs(5), vec![pin("B-1", officer, 600_004)]),
                Some(AuthNotice::SignedIn(Role::Officer)),
                Some(("B-1", Role::Officer)),
            ),
            (
                "after the lockout the count starts afresh",
                with(wrongs(5), vec![pin("B-1", Wrong, 600_004)]),
                Some(AuthNotice::WrongPin { attempts_left: 4 }),
                None,
            ),
            (
                "a right PIN clears earlier failures",
                with(
                    wrongs(4),
                    vec![pin("B-1", officer, 10), pin("B-1", Wrong, 20)],
                ),
                Some(AuthNotice::WrongPin { attempts_left: 4 }),
                Some(("B-1", Role::Officer)),
            ),
            (
                "another badge is not locked by someone else's failures",
                with(wrongs(5), vec![pin("B-2", officer, 10)]),
                Some(AuthNotice::SignedIn(Role::Officer)),
                Some(("B-2", Role::Officer)),
            ),
            (
                "idle time locks the session",
                vec![pin("B-1", officer, 0), AuthEvent::Tick { now_ms: 300_000 }],
                Some(AuthNotice::SessionLocked),
                None,
            ),
            (
                "activity keeps the session open",
                vec![
                    pin("B-1", officer, 0),
                    AuthEvent::Activity { now_ms: 200_000 },
                    AuthEvent::Tick { now_ms: 300_000 },
                ],
                None,
                Some(("B-1", Role::Officer)),
            ),
            (
                "the same badge unlocks a locked session",
                vec![
                    pin("B-1", officer, 0),
                    AuthEvent::Tick { now_ms: 300_000 },
                    pin("B-1", officer, 310_000),
                ],
                Some(AuthNotice::Unlocked),
                Some(("B-1", Role::Officer)),
            ),
            (
                "another badge cannot open a locked session",
                vec![
                    pin("B-1", officer, 0),
                    AuthEvent::Tick { now_ms: 300_000 },
                    pin("B-2", Correct(Role::Supervisor), 310_000),
                ],
                Some(AuthNotice::OtherBadge),
                None,
            ),
            (
                "signing out ends the session",
                vec![pin("B-1", officer, 0), AuthEvent::SignOut],
                None,
                None,
            ),
        ];
        for (name, events, notice, signed_in) in cases {
            let (state, last) = check(&events);
            assert_eq!(last, notice, "{name}");
            assert_eq!(state.signed_in(), signed_in, "{name}");
        }
    }

    #[test]
    fn a_locked_badge_is_not_even_tried() {
        let (state, _) = check(
            &(0..5)
                .map(|i| pin("B-1", PinOutcome::Wrong, i))
                .collect::<Vec<_>>(),
        );
        assert_eq!(state.may_try("B-1", 599_999), Err(600_004));
        assert_eq!(state.may_try("B-1", 600_004), Ok(()));
        assert_eq!(state.may_try("B-2", 0), Ok(()));
    }
}
