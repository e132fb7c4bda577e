//! The technician's session, as a pure state machine: a technician's badge + PIN opens the
//! technician's screen (the same PIN rules and lockout as officers), idle time or "Leave" closes
//! it. Events in, state and a notice out; time is an input. It does not run checks or draw.

use super::officer_auth::{self, AuthEvent, AuthNotice, AuthSettings, AuthState, PinOutcome, Role};

/// Which technician screen shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TechScreen {
    /// Badge + PIN.
    SignIn,
    /// The checks, the camera and card tests, the queue and the bundle.
    Service,
}

/// The session.
#[derive(Clone, Debug, PartialEq)]
pub struct TechState {
    pub screen: TechScreen,
    pub auth: AuthState,
}

impl Default for TechState {
    fn default() -> Self {
        TechState {
            screen: TechScreen::SignIn,
            auth: AuthState::default(),
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum TechEvent {
    /// A PIN was checked for `badge`.
    PinChecked {
        badge: String,
        outcome: PinOutcome,
        now_ms: u64,
    },
    /// The technician touched something.
    Activity { now_ms: u64 },
    /// Time passed.
    Tick { now_ms: u64 },
    /// "Leave": back to the terminal's own screens.
    Leave,
}

/// What the technician is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TechNotice {
    Auth(AuthNotice),
    /// The badge is an officer's or a supervisor's: the technician's screen is for technicians.
    NotTechnician,
    /// The screen closed after idle time (the terminal must not stay open unattended).
    Closed,
}

/// Whether the session is over and the terminal's own screens should return.
pub fn is_over(state: &TechState) -> bool {
    state.screen == TechScreen::SignIn && state.auth.signed_in().is_none()
}

/// Advances the session by one event.
pub fn step(
    state: TechState,
    event: TechEvent,
    settings: &AuthSettings,
) -> (TechState, Option<TechNotice>) {
    match event {
        TechEvent::PinChecked {
            outcome: PinOutcome::Correct(Role::Officer | Role::Supervisor),
            ..
        } => (state, Some(TechNotice::NotTechnician)),
        TechEvent::PinChecked {
            badge,
            outcome,
            now_ms,
        } => {
            let (auth, notice) = officer_auth::step(
                state.auth,
                AuthEvent::PinChecked {
                    badge,
                    outcome,
                    now_ms,
                },
                settings,
            );
            let screen = if auth.signed_in().is_some() {
                TechScreen::Service
            } else {
                state.screen
            };
            let notice = match notice {
                Some(AuthNotice::SignedIn(_)) | None => None,
                Some(other) => Some(TechNotice::Auth(other)),
            };
            (TechState { screen, auth }, notice)
        }
        TechEvent::Activity { now_ms } => {
            let (auth, _) =
                officer_auth::step(state.auth, AuthEvent::Activity { now_ms }, settings);
            (TechState { auth, ..state }, None)
        }
        TechEvent::Tick { now_ms } => {
            let (auth, notice) =
                officer_auth::step(state.auth, AuthEvent::Tick { now_ms }, settings);
            if notice == Some(AuthNotice::SessionLocked) {
                let (auth, _) = officer_auth::step(auth, AuthEvent::SignOut, settings);
                return (
                    TechState {
                        screen: TechScreen::SignIn,
                        auth,
                    },
                    Some(TechNotice::Closed),
                );
            }
            (TechState { auth, ..state }, None)
        }
        TechEvent::Leave => {
            let (auth, _) = officer_auth::step(state.auth, AuthEvent::SignOut, settings);
            (
                TechState {
                    screen: TechScreen::SignIn,
                    auth,
                },
                None,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: AuthSettings = AuthSettings {
        max_failures: 5,
        lockout_ms: 600_000,
        session_lock_ms: 120_000,
    };

    fn pin(badge: &str, outcome: PinOutcome, now_ms: u64) -> TechEvent {
        TechEvent::PinChecked {
            badge: badge.into(),
            outcome,
            now_ms,
        }
    }

    /// Runs `events` from a fresh session; the final screen and the last notice.
    fn check(events: Vec<TechEvent>) -> (TechScreen, Option<TechNotice>) {
        let (state, notice) = events
            .into_iter()
            .fold((TechState::default(), None), |(state, _), event| {
                step(state, event, &SETTINGS)
            });
        (state.screen, notice)
    }

    #[test]
    fn the_technicians_screen_opens_for_technicians_only_and_closes_when_idle() {
        use PinOutcome::*;
        type Case = (
            &'static str,
            Vec<TechEvent>,
            (TechScreen, Option<TechNotice>),
        );
        let cases: Vec<Case> = vec![
            (
                "a technician's PIN opens it",
                vec![pin("T-1", Correct(Role::Technician), 0)],
                (TechScreen::Service, None),
            ),
            (
                "an officer's right PIN does not",
                vec![pin("B-1", Correct(Role::Officer), 0)],
                (TechScreen::SignIn, Some(TechNotice::NotTechnician)),
            ),
            (
                "a supervisor's neither",
                vec![pin("S-1", Correct(Role::Supervisor), 0)],
                (TechScreen::SignIn, Some(TechNotice::NotTechnician)),
            ),
            (
                "a wrong PIN counts",
                vec![pin("T-1", Wrong, 0)],
                (
                    TechScreen::SignIn,
                    Some(TechNotice::Auth(AuthNotice::WrongPin { attempts_left: 4 })),
                ),
            ),
            (
                "five wrong PINs lock the badge even against the right one",
                (0..5)
                    .map(|i| pin("T-1", Wrong, i))
                    .chain([pin("T-1", Correct(Role::Technician), 10)])
                    .collect(),
                (
                    TechScreen::SignIn,
                    Some(TechNotice::Auth(AuthNotice::BadgeLocked {
                        until_ms: 600_004,
                    })),
                ),
            ),
            (
                "idle time closes it",
                vec![
                    pin("T-1", Correct(Role::Technician), 0),
                    TechEvent::Tick { now_ms: 120_000 },
                ],
                (TechScreen::SignIn, Some(TechNotice::Closed)),
            ),
            (
                "activity keeps it open",
                vec![
                    pin("T-1", Correct(Role::Technician), 0),
                    TechEvent::Activity { now_ms: 100_000 },
                    TechEvent::Tick { now_ms: 120_000 },
                ],
                (TechScreen::Service, None),
            ),
            (
                "leave closes it",
                vec![pin("T-1", Correct(Role::Technician), 0), TechEvent::Leave],
                (TechScreen::SignIn, None),
            ),
        ];
        for (name, events, expected) in cases {
            assert_eq!(check(events), expected, "{name}");
        }
    }
}
