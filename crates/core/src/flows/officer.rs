//! The officer's enrollment flow: sign in, the queue dashboard, a new enrollment (card read,
//! capture, the active liveness challenge when the model pack asks for one, check), and the
//! decision: approve a match, reject, or override a non-match with a reason and a supervisor's
//! badge + PIN. The officer may waive the challenge with a reason from a fixed list, which the
//! record keeps. Sign-in, lockouts and the idle lock are
//! [`super::officer_auth`]'s rules, applied here to every PIN. Pure: PINs are checked by the app
//! and only outcomes come in; the PIN itself never enters this state.

use super::officer_auth::{self, AuthEvent, AuthNotice, AuthSettings, AuthState, PinOutcome, Role};
use crate::domain::card_read::CardRead;
use crate::domain::challenge::{
    Challenge, ChallengeFailure, ChallengeRecord, ChallengeSettings, Observation, Progress, Prompt,
    TurnSide, WaiverReason,
};

/// The officer flow's rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OfficerSettings {
    /// Sign-in, lockouts and the idle lock.
    pub auth: AuthSettings,
    /// The active liveness challenge between the capture and the check (`None`: the model pack
    /// brings none, the capture is checked at once).
    pub challenge: Option<ChallengeSettings>,
}

/// Which screen the officer sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Badge + PIN.
    SignIn,
    /// The queue: pending, sent, rejected, last sync, guard warnings; "new enrollment".
    Dashboard,
    /// Reading the applicant's card (MRZ from the scanner or typed, for BAC/PACE).
    ReadCard,
    /// Live capture with the quality components visible.
    Capture,
    /// The applicant blinks and turns their head as the screen asks (the officer reads the
    /// prompt out); the officer may waive it.
    Challenge,
    /// The capture is being checked.
    Checking,
    /// Score and liveness shown; approve, reject or override.
    Decision,
    /// A non-match to override: reason and a supervisor's badge + PIN.
    Override,
    /// The record is being signed and stored.
    Saving,
    /// The session locked after idle time: the same badge's PIN opens it.
    Locked,
}

/// What the officer decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The faces match and the officer agrees.
    Approved,
    /// No match, overridden: the reason and the supervisor who approved it.
    Overridden {
        reason: String,
        supervisor_badge: String,
    },
}

/// The check of the capture (as in the self-service flow).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckOutcome {
    pub score_cosine: f32,
    pub is_match: bool,
    pub live: bool,
}

/// Whose PIN a check was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPurpose {
    /// Signing in, or opening a locked session.
    SignIn,
    /// A supervisor approving an override.
    Supervisor,
}

/// What the officer did on screen (PINs go to the app's checker, not here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficerUi {
    NewEnrollment,
    Approve,
    Reject,
    /// Start an override of a non-match.
    Override,
    /// The override's reason was typed.
    OverrideReason(String),
    /// Back from the override to the decision.
    Back,
    /// Start the camera again after a camera problem.
    RestartCamera,
    /// Waive the liveness challenge for this applicant, for this reason.
    WaiveChallenge(WaiverReason),
    SignOut,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum OfficerEvent {
    Ui {
        intent: OfficerUi,
        now_ms: u64,
    },
    Tick {
        now_ms: u64,
    },
    /// A PIN was checked for `purpose`.
    PinChecked {
        purpose: PinPurpose,
        badge: String,
        outcome: PinOutcome,
        now_ms: u64,
    },
    CardRead {
        card: Box<CardRead>,
        now_ms: u64,
    },
    Checked {
        outcome: CheckOutcome,
        now_ms: u64,
    },
    /// The side the challenge asks for, drawn at random by the app (after
    /// [`OfficerEffect::DrawChallengeSide`]).
    ChallengeSide {
        side: TurnSide,
        now_ms: u64,
    },
    /// What the face engine measured on the newest camera frame (its time is `at_ms`).
    Frame {
        observation: Observation,
    },
    /// The check could not run (no usable face, engine failure): capture again.
    CheckFailed {
        now_ms: u64,
    },
    /// The camera could not be opened, went away or stopped giving pictures.
    CameraFailed {
        now_ms: u64,
    },
    Saved {
        /// The record's short reference, grouped (`XXX-XXX-XXXX`).
        reference: String,
        /// The applicant's one-time activation code, grouped as printed.
        activation_code: String,
        now_ms: u64,
    },
    SaveFailed {
        reason: String,
        now_ms: u64,
    },
}

/// What the app must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficerEffect {
    WatchCard,
    StartCamera,
    CaptureAndCheck,
    /// Keep the newest good frame for the check after the liveness challenge.
    KeepCapture,
    /// Draw the challenge's side at random and report it (`OfficerEvent::ChallengeSide`).
    DrawChallengeSide,
    /// Check the frame kept before the challenge (it passed, or the officer waived it).
    CheckKeptCapture,
    StopCamera,
    /// Commit the record with these ids and this decision.
    SaveRecord {
        officer_badge: String,
        decision: Decision,
    },
    WipeApplicantData,
}

/// What the screen should tell the officer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficerNotice {
    Auth(AuthNotice),
    /// A technician's badge opens the technician's screen ("Service"), not enrollments.
    TechnicianBadge,
    /// An override needs a supervisor's badge (an officer's badge, or one's own, does not do).
    SupervisorNeeded,
    /// An override needs a reason of at least this many characters.
    ReasonNeeded {
        min_chars: usize,
    },
    /// Only a live match can be approved.
    NotApprovable,
    /// The capture could not be checked; take it again.
    CheckFailed,
    /// The camera stopped; the app has the device's own message.
    CameraFailed,
    /// The liveness challenge failed (take the photo again to retry, or waive it).
    ChallengeFailed(ChallengeFailure),
    /// The officer reads the reference and the activation code to the applicant (or reprints
    /// the receipt with `kiosk receipt make`).
    Saved {
        reference: String,
        activation_code: String,
    },
    SaveFailed {
        reason: String,
    },
}

/// The shortest override reason accepted.
pub const MIN_REASON_CHARS: usize = 10;

/// The officer terminal's state.
#[derive(Clone, Debug, PartialEq)]
pub struct OfficerState {
    pub screen: Screen,
    pub auth: AuthState,
    pub card: Option<Box<CardRead>>,
    pub check: Option<CheckOutcome>,
    pub override_reason: String,
    /// The liveness challenge under way (its side drawn), on the challenge screen.
    pub challenge: Option<Challenge>,
    /// The last challenge's result and the officer's waiver (what the record keeps).
    pub challenge_record: ChallengeRecord,
    /// The screen to return to when a locked session is opened again.
    pub resume: Screen,
}

impl Default for OfficerState {
    fn default() -> Self {
        OfficerState {
            screen: Screen::SignIn,
            auth: AuthState::default(),
            card: None,
            check: None,
            override_reason: String::new(),
            challenge: None,
            challenge_record: ChallengeRecord::default(),
            resume: Screen::Dashboard,
        }
    }
}

impl OfficerState {
    /// Whether anything about an applicant is held.
    pub fn holds_applicant_data(&self) -> bool {
        self.card.is_some()
            || self.check.is_some()
            || !self.override_reason.is_empty()
            || self.challenge.is_some()
            || self.challenge_record != ChallengeRecord::default()
    }

    /// What the challenge asks for now (`None` off the challenge screen, or before its side is
    /// drawn).
    pub fn prompt(&self) -> Option<Prompt> {
        self.challenge.as_ref()?.prompt()
    }

    fn without_applicant(self, screen: Screen) -> OfficerState {
        OfficerState {
            screen,
            card: None,
            check: None,
            override_reason: String::new(),
            challenge: None,
            challenge_record: ChallengeRecord::default(),
            ..self
        }
    }

    /// The challenge ended (`failure`: how it failed; `None`: passed): its outcome is kept.
    fn challenge_ended(self, now_ms: u64) -> OfficerState {
        let outcome = self.challenge.as_ref().map(|c| c.outcome(now_ms));
        OfficerState {
            challenge: None,
            challenge_record: ChallengeRecord {
                outcome: outcome.or(self.challenge_record.outcome),
                ..self.challenge_record
            },
            ..self
        }
    }
}

type Step = (OfficerState, Vec<OfficerEffect>, Option<OfficerNotice>);

fn auth_step(
    state: OfficerState,
    event: AuthEvent,
    settings: &OfficerSettings,
) -> (OfficerState, Option<AuthNotice>) {
    let (auth, notice) = officer_auth::step(state.auth.clone(), event, &settings.auth);
    (OfficerState { auth, ..state }, notice)
}

/// Advances the officer flow by one event.
pub fn step(state: OfficerState, event: OfficerEvent, settings: &OfficerSettings) -> Step {
    match event {
        OfficerEvent::Tick { now_ms } => {
            let (state, notice) = auth_step(state, AuthEvent::Tick { now_ms }, settings);
            if notice == Some(AuthNotice::SessionLocked) && state.screen != Screen::Locked {
                let resume = state.screen;
                let capturing = matches!(resume, Screen::Capture | Screen::Challenge);
                let effects = if capturing {
                    vec![OfficerEffect::StopCamera]
                } else {
                    Vec::new()
                };
                // Capture cannot resume half way: the enrollment goes back to its start.
                let resume = if capturing { Screen::ReadCard } else { resume };
                let state = OfficerState {
                    screen: Screen::Locked,
                    resume,
                    challenge: None,
                    challenge_record: if capturing {
                        ChallengeRecord::default()
                    } else {
                        state.challenge_record
                    },
                    ..state
                };
                return (state, effects, notice.map(OfficerNotice::Auth));
            }
            if state.screen == Screen::Challenge
                && let Some(Progress::Failed(failure)) =
                    state.challenge.as_ref().map(|c| c.progress(now_ms))
            {
                return challenge_failed(state, failure, now_ms);
            }
            (state, Vec::new(), None)
        }
        OfficerEvent::PinChecked {
            purpose: PinPurpose::SignIn,
            outcome: PinOutcome::Correct(Role::Technician),
            ..
        } => (state, Vec::new(), Some(OfficerNotice::TechnicianBadge)),
        OfficerEvent::PinChecked {
            purpose: PinPurpose::SignIn,
            badge,
            outcome,
            now_ms,
        } => {
            let (state, notice) = auth_step(
                state,
                AuthEvent::PinChecked {
                    badge,
                    outcome,
                    now_ms,
                },
                settings,
            );
            let screen = match (&notice, state.screen) {
                (Some(AuthNotice::SignedIn(_)), _) => Screen::Dashboard,
                (Some(AuthNotice::Unlocked), Screen::Locked) => state.resume,
                (_, screen) => screen,
            };
            (
                OfficerState { screen, ..state },
                Vec::new(),
                notice.map(OfficerNotice::Auth),
            )
        }
        OfficerEvent::PinChecked {
            purpose: PinPurpose::Supervisor,
            badge,
            outcome,
            now_ms,
        } => on_supervisor(state, badge, outcome, now_ms, settings),
        OfficerEvent::Ui { intent, now_ms } => on_ui(state, intent, now_ms, settings),
        OfficerEvent::CardRead { card, now_ms } if state.screen == Screen::ReadCard => {
            let (state, _) = auth_step(state, AuthEvent::Activity { now_ms }, settings);
            (
                OfficerState {
                    screen: Screen::Capture,
                    card: Some(card),
                    ..state
                },
                vec![OfficerEffect::StartCamera],
                None,
            )
        }
        OfficerEvent::Checked { outcome, .. } if state.screen == Screen::Checking => (
            OfficerState {
                screen: Screen::Decision,
                check: Some(outcome),
                ..state
            },
            Vec::new(),
            None,
        ),
        OfficerEvent::ChallengeSide { side, now_ms } => {
            match (state.screen, &state.challenge, settings.challenge) {
                (Screen::Challenge, None, Some(thresholds)) => (
                    OfficerState {
                        challenge: Some(Challenge::start(thresholds, side, now_ms)),
                        ..state
                    },
                    Vec::new(),
                    None,
                ),
                _ => (state, Vec::new(), None),
            }
        }
        OfficerEvent::Frame { observation } if state.screen == Screen::Challenge => {
            on_challenge_frame(state, observation)
        }
        OfficerEvent::CheckFailed { .. } if state.screen == Screen::Checking => (
            OfficerState {
                screen: Screen::Capture,
                ..state
            },
            vec![OfficerEffect::StartCamera],
            Some(OfficerNotice::CheckFailed),
        ),
        OfficerEvent::CameraFailed { .. } if state.screen == Screen::Capture => (
            state,
            vec![OfficerEffect::StopCamera],
            Some(OfficerNotice::CameraFailed),
        ),
        // The camera went during the challenge: back to the capture (to restart it), and the
        // challenge runs again from its start.
        OfficerEvent::CameraFailed { .. } if state.screen == Screen::Challenge => (
            OfficerState {
                screen: Screen::Capture,
                challenge: None,
                ..state
            },
            vec![OfficerEffect::StopCamera],
            Some(OfficerNotice::CameraFailed),
        ),
        OfficerEvent::Saved {
            reference,
            activation_code,
            ..
        } if state.screen == Screen::Saving => (
            state.without_applicant(Screen::Dashboard),
            vec![OfficerEffect::WipeApplicantData],
            Some(OfficerNotice::Saved {
                reference,
                activation_code,
            }),
        ),
        OfficerEvent::SaveFailed { reason, .. } if state.screen == Screen::Saving => (
            OfficerState {
                screen: Screen::Decision,
                ..state
            },
            Vec::new(),
            Some(OfficerNotice::SaveFailed { reason }),
        ),
        _ => (state, Vec::new(), None),
    }
}

fn on_supervisor(
    state: OfficerState,
    badge: String,
    outcome: PinOutcome,
    now_ms: u64,
    settings: &OfficerSettings,
) -> Step {
    if state.screen != Screen::Override {
        return (state, Vec::new(), None);
    }
    let Some((officer, _)) = state.auth.signed_in().map(|(b, r)| (b.to_owned(), r)) else {
        return (state, Vec::new(), None);
    };
    if state.override_reason.trim().chars().count() < MIN_REASON_CHARS {
        return (
            state,
            Vec::new(),
            Some(OfficerNotice::ReasonNeeded {
                min_chars: MIN_REASON_CHARS,
            }),
        );
    }
    // The supervisor's PIN counts against the supervisor's badge like any sign-in attempt.
    if let Err(until_ms) = state.auth.may_try(&badge, now_ms) {
        return (
            state,
            Vec::new(),
            Some(OfficerNotice::Auth(AuthNotice::BadgeLocked { until_ms })),
        );
    }
    match outcome {
        PinOutcome::Correct(Role::Supervisor) if badge != officer => {
            let reason = state.override_reason.trim().to_owned();
            let (state, _) = auth_step(state, AuthEvent::Activity { now_ms }, settings);
            let mut auth = state.auth.clone();
            auth.failures.remove(&badge);
            (
                OfficerState {
                    screen: Screen::Saving,
                    auth,
                    ..state
                },
                vec![OfficerEffect::SaveRecord {
                    officer_badge: officer,
                    decision: Decision::Overridden {
                        reason,
                        supervisor_badge: badge,
                    },
                }],
                None,
            )
        }
        PinOutcome::Correct(_) => (state, Vec::new(), Some(OfficerNotice::SupervisorNeeded)),
        PinOutcome::Wrong | PinOutcome::UnknownBadge => {
            // Count the failure through the sign-in rules without touching the open session.
            let mut counted = AuthState {
                session: officer_auth::Session::SignedOut,
                failures: state.auth.failures.clone(),
            };
            let (next, notice) = officer_auth::step(
                counted.clone(),
                AuthEvent::PinChecked {
                    badge,
                    outcome,
                    now_ms,
                },
                &settings.auth,
            );
            counted = next;
            let auth = AuthState {
                failures: counted.failures,
                ..state.auth.clone()
            };
            (
                OfficerState { auth, ..state },
                Vec::new(),
                notice.map(OfficerNotice::Auth),
            )
        }
    }
}

/// One frame during the challenge.
fn on_challenge_frame(state: OfficerState, seen: Observation) -> Step {
    let now_ms = seen.at_ms;
    let Some(mut challenge) = state.challenge.clone() else {
        return (state, Vec::new(), None);
    };
    let progress = challenge.observe(seen);
    let state = OfficerState {
        challenge: Some(challenge),
        ..state
    };
    match progress {
        Progress::Asking(_) => (state, Vec::new(), None),
        Progress::Passed => (
            OfficerState {
                screen: Screen::Checking,
                ..state.challenge_ended(now_ms)
            },
            vec![OfficerEffect::CheckKeptCapture, OfficerEffect::StopCamera],
            None,
        ),
        Progress::Failed(failure) => challenge_failed(state, failure, now_ms),
    }
}

/// The challenge failed: back to the capture (the camera stays on) to take the photo again, or
/// for the officer to waive the challenge on the next try.
fn challenge_failed(state: OfficerState, failure: ChallengeFailure, now_ms: u64) -> Step {
    (
        OfficerState {
            screen: Screen::Capture,
            ..state.challenge_ended(now_ms)
        },
        Vec::new(),
        Some(OfficerNotice::ChallengeFailed(failure)),
    )
}

fn on_ui(state: OfficerState, intent: OfficerUi, now_ms: u64, settings: &OfficerSettings) -> Step {
    if state.auth.signed_in().is_none() {
        return (state, Vec::new(), None);
    }
    let (state, _) = auth_step(state, AuthEvent::Activity { now_ms }, settings);
    let officer = state
        .auth
        .signed_in()
        .map(|(badge, _)| badge.to_owned())
        .unwrap_or_default();
    match (state.screen, intent) {
        (_, OfficerUi::SignOut) => {
            let (state, _) = auth_step(state, AuthEvent::SignOut, settings);
            (
                state.without_applicant(Screen::SignIn),
                vec![OfficerEffect::StopCamera, OfficerEffect::WipeApplicantData],
                None,
            )
        }
        (Screen::Dashboard, OfficerUi::NewEnrollment) => (
            OfficerState {
                screen: Screen::ReadCard,
                ..state
            },
            vec![OfficerEffect::WatchCard],
            None,
        ),
        // "Take it now": the officer captures by hand; with a challenge, the photo is kept and
        // the applicant is asked to blink and turn before it is checked.
        (Screen::Capture, OfficerUi::Approve) => match settings.challenge {
            Some(_) => (
                OfficerState {
                    screen: Screen::Challenge,
                    challenge: None,
                    challenge_record: ChallengeRecord::default(),
                    ..state
                },
                vec![OfficerEffect::KeepCapture, OfficerEffect::DrawChallengeSide],
                None,
            ),
            None => (
                OfficerState {
                    screen: Screen::Checking,
                    ..state
                },
                vec![OfficerEffect::CaptureAndCheck, OfficerEffect::StopCamera],
                None,
            ),
        },
        // The officer waives the challenge: the kept photo is checked; the record keeps the
        // reason and how far the challenge got.
        (Screen::Challenge, OfficerUi::WaiveChallenge(reason)) => {
            let state = state.challenge_ended(now_ms);
            (
                OfficerState {
                    screen: Screen::Checking,
                    challenge_record: ChallengeRecord {
                        waived: Some(reason),
                        ..state.challenge_record
                    },
                    ..state
                },
                vec![OfficerEffect::CheckKeptCapture, OfficerEffect::StopCamera],
                None,
            )
        }
        (Screen::Decision, OfficerUi::Approve) => match state.check {
            Some(check) if check.is_match && check.live => (
                OfficerState {
                    screen: Screen::Saving,
                    ..state
                },
                vec![OfficerEffect::SaveRecord {
                    officer_badge: officer,
                    decision: Decision::Approved,
                }],
                None,
            ),
            _ => (state, Vec::new(), Some(OfficerNotice::NotApprovable)),
        },
        (Screen::Decision, OfficerUi::Override) => match state.check {
            Some(check) if !(check.is_match && check.live) => (
                OfficerState {
                    screen: Screen::Override,
                    ..state
                },
                Vec::new(),
                None,
            ),
            _ => (state, Vec::new(), None),
        },
        (Screen::Override, OfficerUi::OverrideReason(reason)) => (
            OfficerState {
                override_reason: reason,
                ..state
            },
            Vec::new(),
            None,
        ),
        (Screen::Capture, OfficerUi::RestartCamera) => {
            (state, vec![OfficerEffect::StartCamera], None)
        }
        (Screen::Override, OfficerUi::Back) => (
            OfficerState {
                screen: Screen::Decision,
                ..state
            },
            Vec::new(),
            None,
        ),
        (
            Screen::ReadCard
            | Screen::Capture
            | Screen::Challenge
            | Screen::Decision
            | Screen::Override,
            OfficerUi::Reject,
        ) => (
            state.without_applicant(Screen::Dashboard),
            vec![OfficerEffect::StopCamera, OfficerEffect::WipeApplicantData],
            None,
        ),
        _ => (state, Vec::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: OfficerSettings = OfficerSettings {
        auth: AuthSettings {
            max_failures: 5,
            lockout_ms: 600_000,
            session_lock_ms: 300_000,
        },
        challenge: None,
    };

    fn card() -> Box<CardRead> {
        let card: CardRead = serde_json::from_str(include_str!(
            "../../../../tests/fixtures/card-read-resident.json"
        ))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        Box::new(card)
    }

    fn sign_in(badge: &str, role: Role, now_ms: u64) -> OfficerEvent {
        OfficerEvent::PinChecked {
            purpose: PinPurpose::SignIn,
            badge: badge.into(),
            outcome: PinOutcome::Correct(role),
            now_ms,
        }
    }

    fn supervisor(badge: &str, outcome: PinOutcome, now_ms: u64) -> OfficerEvent {
        OfficerEvent::PinChecked {
            purpose: PinPurpose::Supervisor,
            badge: badge.into(),
            outcome,
            now_ms,
        }
    }

    fn ui(intent: OfficerUi, now_ms: u64) -> OfficerEvent {
        OfficerEvent::Ui { intent, now_ms }
    }

    /// Signed in as B-1, a card read, captured by hand and checked with `is_match`.
    fn to_decision(is_match: bool) -> Vec<OfficerEvent> {
        vec![
            sign_in("B-1", Role::Officer, 0),
            ui(OfficerUi::NewEnrollment, 1_000),
            OfficerEvent::CardRead {
                card: card(),
                now_ms: 2_000,
            },
            ui(OfficerUi::Approve, 3_000),
            OfficerEvent::Checked {
                outcome: CheckOutcome {
                    score_cosine: if is_match { 0.6 } else { 0.1 },
                    is_match,
                    live: true,
                },
                now_ms: 3_500,
            },
        ]
    }

    fn run(events: &[OfficerEvent]) -> (OfficerState, Vec<OfficerEffect>, Option<OfficerNotice>) {
        let mut state = OfficerState::default();
        let mut effects = Vec::new();
        let mut last = None;
        for event in events {
            let (next, more, notice) = step(state, event.clone(), &SETTINGS);
            state = next;
            effects.extend(more);
            last = notice;
        }
        (state, effects, last)
    }

    #[test]
    fn a_technicians_badge_does_not_open_the_officer_desk() {
        let (state, effects, notice) = step(
            OfficerState::default(),
            sign_in("T-1", Role::Technician, 0),
            &SETTINGS,
        );
        assert_eq!(state.screen, Screen::SignIn);
        assert_eq!(state.auth.signed_in(), None);
        assert!(effects.is_empty());
        assert_eq!(notice, Some(OfficerNotice::TechnicianBadge));
        // Nor does it approve an override.
        let (state, _, _) = to_decision(false)
            .into_iter()
            .chain([
                ui(OfficerUi::Override, 4_000),
                ui(
                    OfficerUi::OverrideReason("photo is twenty years old".into()),
                    4_100,
                ),
            ])
            .fold(
                (OfficerState::default(), Vec::new(), None),
                |(s, _, _), e| step(s, e, &SETTINGS),
            );
        let (_, _, notice) = step(
            state,
            supervisor("T-1", PinOutcome::Correct(Role::Technician), 5_000),
            &SETTINGS,
        );
        assert_eq!(notice, Some(OfficerNotice::SupervisorNeeded));
    }

    #[test]
    fn nothing_happens_before_sign_in() {
        let (state, effects, _) = run(&[ui(OfficerUi::NewEnrollment, 0)]);
        assert_eq!((state.screen, effects), (Screen::SignIn, vec![]));
    }

    #[test]
    fn a_match_is_approved_with_the_officer_in_the_record() {
        let mut events = to_decision(true);
        events.push(ui(OfficerUi::Approve, 4_000));
        let (state, effects, _) = run(&events);
        assert_eq!(state.screen, Screen::Saving);
        assert_eq!(
            effects.last(),
            Some(&OfficerEffect::SaveRecord {
                officer_badge: "B-1".into(),
                decision: Decision::Approved
            })
        );
        let (state, _, notice) = step(
            state,
            OfficerEvent::Saved {
                reference: "R-1".into(),
                activation_code: "0000-0000-0000".into(),
                now_ms: 4_100,
            },
            &SETTINGS,
        );
        assert_eq!(state.screen, Screen::Dashboard);
        assert!(!state.holds_applicant_data());
        assert_eq!(
            notice,
            Some(OfficerNotice::Saved {
                reference: "R-1".into(),
                activation_code: "0000-0000-0000".into()
            })
        );
    }

    #[test]
    fn a_camera_failure_is_told_to_the_officer_who_can_restart_the_camera() {
        let mut events = vec![
            sign_in("B-1", Role::Officer, 0),
            ui(OfficerUi::NewEnrollment, 1_000),
            OfficerEvent::CardRead {
                card: card(),
                now_ms: 2_000,
            },
            OfficerEvent::CameraFailed { now_ms: 2_500 },
        ];
        let (state, effects, notice) = run(&events);
        assert_eq!(
            (state.screen, effects.last(), notice),
            (
                Screen::Capture,
                Some(&OfficerEffect::StopCamera),
                Some(OfficerNotice::CameraFailed)
            )
        );
        events.push(ui(OfficerUi::RestartCamera, 3_000));
        let (state, effects, _) = run(&events);
        assert_eq!(
            (state.screen, effects.last()),
            (Screen::Capture, Some(&OfficerEffect::StartCamera))
        );
    }

    #[test]
    fn a_non_match_cannot_be_approved_only_overridden() {
        let mut events = to_decision(false);
        events.push(ui(OfficerUi::Approve, 4_000));
        let (state, _, notice) = run(&events);
        assert_eq!(
            (state.screen, notice),
            (Screen::Decision, Some(OfficerNotice::NotApprovable))
        );
    }

    #[test]
    fn an_override_cannot_complete_without_a_supervisor_pin() {
        let mut events = to_decision(false);
        events.extend([
            ui(OfficerUi::Override, 4_000),
            ui(
                OfficerUi::OverrideReason(
                    "Card photo 15 years old; identity confirmed by passport".into(),
                ),
                5_000,
            ),
        ]);
        let (state, effects, _) = run(&events);
        assert_eq!(state.screen, Screen::Override);
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, OfficerEffect::SaveRecord { .. }))
        );

        let cases: Vec<(&str, OfficerEvent, Option<OfficerNotice>)> = vec![
            (
                "a wrong supervisor PIN",
                supervisor("S-7", PinOutcome::Wrong, 6_000),
                Some(OfficerNotice::Auth(AuthNotice::WrongPin {
                    attempts_left: 4,
                })),
            ),
            (
                "an officer's badge",
                supervisor("B-2", PinOutcome::Correct(Role::Officer), 6_000),
                Some(OfficerNotice::SupervisorNeeded),
            ),
            (
                "the officer's own badge, even as a supervisor",
                supervisor("B-1", PinOutcome::Correct(Role::Supervisor), 6_000),
                Some(OfficerNotice::SupervisorNeeded),
            ),
        ];
        for (name, event, expected) in cases {
            let (after, effects, notice) = step(state.clone(), event, &SETTINGS);
            assert_eq!(after.screen, Screen::Override, "{name}");
            assert!(effects.is_empty(), "{name}");
            assert_eq!(notice, expected, "{name}");
        }

        let (after, effects, _) = step(
            state,
            supervisor("S-7", PinOutcome::Correct(Role::Supervisor), 6_000),
            &SETTINGS,
        );
        assert_eq!(after.screen, Screen::Saving);
        assert_eq!(
            effects,
            [OfficerEffect::SaveRecord {
                officer_badge: "B-1".into(),
                decision: Decision::Overridden {
                    reason: "Card photo 15 years old; identity confirmed by passport".into(),
                    supervisor_badge: "S-7".into()
                }
            }]
        );
    }

    #[test]
    fn an_override_needs_a_reason() {
        let mut events = to_decision(false);
        events.extend([
            ui(OfficerUi::Override, 4_000),
            ui(OfficerUi::OverrideReason("ok".into()), 5_000),
            supervisor("S-7", PinOutcome::Correct(Role::Supervisor), 6_000),
        ]);
        let (state, _, notice) = run(&events);
        assert_eq!(state.screen, Screen::Override);
        assert_eq!(
            notice,
            Some(OfficerNotice::ReasonNeeded {
                min_chars: MIN_REASON_CHARS
            })
        );
    }

    #[test]
    fn five_wrong_supervisor_pins_lock_that_badge() {
        let mut events = to_decision(false);
        events.extend([
            ui(OfficerUi::Override, 4_000),
            ui(
                OfficerUi::OverrideReason("Applicant recently had surgery".into()),
                5_000,
            ),
        ]);
        events.extend((0..5).map(|i| supervisor("S-7", PinOutcome::Wrong, 6_000 + i)));
        events.push(supervisor(
            "S-7",
            PinOutcome::Correct(Role::Supervisor),
            7_000,
        ));
        let (state, effects, notice) = run(&events);
        assert_eq!(state.screen, Screen::Override);
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, OfficerEffect::SaveRecord { .. }))
        );
        assert_eq!(
            notice,
            Some(OfficerNotice::Auth(AuthNotice::BadgeLocked {
                until_ms: 606_004
            }))
        );
        // The officer's own session stays open.
        assert_eq!(state.auth.signed_in(), Some(("B-1", Role::Officer)));
    }

    #[test]
    fn five_wrong_pins_lock_the_badge_at_sign_in() {
        let events: Vec<OfficerEvent> = (0..5)
            .map(|i| OfficerEvent::PinChecked {
                purpose: PinPurpose::SignIn,
                badge: "B-1".into(),
                outcome: PinOutcome::Wrong,
                now_ms: i,
            })
            .chain([sign_in("B-1", Role::Officer, 10)])
            .collect();
        let (state, _, notice) = run(&events);
        assert_eq!(state.screen, Screen::SignIn);
        assert_eq!(
            notice,
            Some(OfficerNotice::Auth(AuthNotice::BadgeLocked {
                until_ms: 600_004
            }))
        );
    }

    #[test]
    fn idle_locks_the_session_and_the_same_badge_resumes_where_it_was() {
        let mut events = to_decision(true);
        events.push(OfficerEvent::Tick {
            now_ms: 3_500 + 300_000,
        });
        let (state, _, notice) = run(&events);
        assert_eq!(state.screen, Screen::Locked);
        assert_eq!(notice, Some(OfficerNotice::Auth(AuthNotice::SessionLocked)));
        let (other, _, _) = step(
            state.clone(),
            sign_in("B-2", Role::Officer, 400_000),
            &SETTINGS,
        );
        assert_eq!(other.screen, Screen::Locked);
        let (back, _, _) = step(state, sign_in("B-1", Role::Officer, 400_000), &SETTINGS);
        assert_eq!(back.screen, Screen::Decision);
    }

    #[test]
    fn rejecting_wipes_the_applicant_and_signing_out_ends_the_session() {
        let mut events = to_decision(true);
        events.push(ui(OfficerUi::Reject, 4_000));
        let (state, _, _) = run(&events);
        assert_eq!(state.screen, Screen::Dashboard);
        assert!(!state.holds_applicant_data());
        let (out, effects, _) = step(state, ui(OfficerUi::SignOut, 5_000), &SETTINGS);
        assert_eq!(out.screen, Screen::SignIn);
        assert_eq!(out.auth.signed_in(), None);
        assert!(effects.contains(&OfficerEffect::WipeApplicantData));
    }

    /// The settings with the pack's challenge on.
    const WITH_CHALLENGE: OfficerSettings = OfficerSettings {
        challenge: Some(ChallengeSettings::DEFAULT),
        ..SETTINGS
    };

    fn run_with(
        settings: &OfficerSettings,
        events: &[OfficerEvent],
    ) -> (OfficerState, Vec<OfficerEffect>, Option<OfficerNotice>) {
        let mut state = OfficerState::default();
        let mut effects = Vec::new();
        let mut last = None;
        for event in events {
            let (next, more, notice) = step(state, event.clone(), settings);
            state = next;
            effects = more;
            last = notice.or(last);
        }
        (state, effects, last)
    }

    /// A frame during the challenge: eyes' aspect ratio and yaw as the engine measured them.
    fn seen(at_ms: u64, eyes: f32, yaw_deg: f32) -> OfficerEvent {
        OfficerEvent::Frame {
            observation: Observation {
                at_ms,
                one_face: true,
                eye_aspect_ratio: eyes,
                yaw_deg,
            },
        }
    }

    /// Signed in, a card read, "Take it now" pressed at 3 s, the side drawn (left).
    fn to_challenge() -> Vec<OfficerEvent> {
        let mut events = to_decision(true);
        events.truncate(4);
        events.push(OfficerEvent::ChallengeSide {
            side: TurnSide::Left,
            now_ms: 3_000,
        });
        events
    }

    #[test]
    fn with_a_challenge_take_it_now_keeps_the_photo_and_asks_the_applicant_to_blink() {
        let mut events = to_challenge();
        events.pop();
        let (state, effects, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Challenge);
        assert_eq!(
            effects,
            [OfficerEffect::KeepCapture, OfficerEffect::DrawChallengeSide]
        );
        let (state, _, _) = run_with(&WITH_CHALLENGE, &to_challenge());
        assert_eq!(state.prompt(), Some(Prompt::Blink));
        // Without a challenge (a pack with its own liveness model) the photo is checked at once.
        let mut events = to_challenge();
        events.pop();
        let (state, effects, _) = run_with(&SETTINGS, &events);
        assert_eq!(state.screen, Screen::Checking);
        assert_eq!(
            effects,
            [OfficerEffect::CaptureAndCheck, OfficerEffect::StopCamera]
        );
    }

    #[test]
    fn a_passed_challenge_checks_the_kept_photo_and_the_record_keeps_its_result() {
        let mut events = to_challenge();
        events.extend([
            seen(3_100, 0.30, 0.0),
            seen(3_300, 0.05, 0.0),
            seen(3_500, 0.30, 0.0),
            seen(4_200, 0.30, -22.0),
        ]);
        let (state, effects, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Checking);
        assert_eq!(
            effects,
            [OfficerEffect::CheckKeptCapture, OfficerEffect::StopCamera]
        );
        let outcome = state.challenge_record.outcome.unwrap();
        assert!(outcome.passed);
        assert_eq!((outcome.side, outcome.total_ms), (TurnSide::Left, 1_200));
        assert_eq!(state.challenge_record.waived, None);
    }

    #[test]
    fn a_failed_challenge_tells_the_officer_and_returns_to_the_capture_with_the_camera_on() {
        let mut events = to_challenge();
        // A still photo: eyes open, facing, until the time limit passes.
        events.extend((1..=40).map(|i| seen(3_000 + 200 * i, 0.29, 1.0)));
        events.push(OfficerEvent::Tick { now_ms: 11_100 });
        let (state, effects, notice) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Capture);
        assert!(!effects.contains(&OfficerEffect::StopCamera));
        assert!(!effects.contains(&OfficerEffect::CheckKeptCapture));
        assert_eq!(
            notice,
            Some(OfficerNotice::ChallengeFailed(ChallengeFailure::TimedOut))
        );
        assert_eq!(
            state.challenge_record.outcome.unwrap().failure,
            Some(ChallengeFailure::TimedOut)
        );
        // A turn to the other side first fails at once.
        let mut events = to_challenge();
        events.extend([
            seen(3_100, 0.30, 0.0),
            seen(3_300, 0.05, 0.0),
            seen(3_500, 0.30, 0.0),
            seen(3_900, 0.30, 25.0),
        ]);
        let (state, _, notice) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Capture);
        assert_eq!(
            notice,
            Some(OfficerNotice::ChallengeFailed(ChallengeFailure::WrongSide))
        );
    }

    #[test]
    fn the_officer_may_waive_the_challenge_with_a_reason_the_record_keeps() {
        let mut events = to_challenge();
        events.extend([
            seen(3_100, 0.30, 0.0),
            seen(3_300, 0.05, 0.0),
            seen(3_500, 0.30, 0.0),
            ui(
                OfficerUi::WaiveChallenge(WaiverReason::CannotTurnHead),
                5_000,
            ),
        ]);
        let (state, effects, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Checking);
        assert_eq!(
            effects,
            [OfficerEffect::CheckKeptCapture, OfficerEffect::StopCamera]
        );
        assert_eq!(
            state.challenge_record.waived,
            Some(WaiverReason::CannotTurnHead)
        );
        // How far it got is kept beside the waiver: blinked, never turned, not passed.
        let outcome = state.challenge_record.outcome.unwrap();
        assert!(!outcome.passed);
        assert_eq!(outcome.blink_done_ms, Some(500));
        assert_eq!(outcome.turn_done_ms, None);
        // The check matches and the officer approves: the save carries on; nothing else waives.
        events.extend([
            OfficerEvent::Checked {
                outcome: CheckOutcome {
                    score_cosine: 0.95,
                    is_match: true,
                    live: true,
                },
                now_ms: 5_500,
            },
            ui(OfficerUi::Approve, 6_000),
        ]);
        let (state, effects, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Saving);
        assert!(matches!(
            effects.as_slice(),
            [OfficerEffect::SaveRecord {
                decision: Decision::Approved,
                ..
            }]
        ));
        assert_eq!(
            state.challenge_record.waived,
            Some(WaiverReason::CannotTurnHead)
        );
        // A waiver only applies on the challenge screen (not to a capture without one).
        let (state, _, _) = run_with(
            &WITH_CHALLENGE,
            &[
                sign_in("B-1", Role::Officer, 0),
                ui(OfficerUi::NewEnrollment, 1_000),
                ui(OfficerUi::WaiveChallenge(WaiverReason::Equipment), 1_500),
            ],
        );
        assert_eq!(state.challenge_record.waived, None);
    }

    #[test]
    fn the_next_applicant_starts_with_no_challenge_result_or_waiver() {
        let mut events = to_challenge();
        events.extend([
            ui(OfficerUi::WaiveChallenge(WaiverReason::CannotBlink), 4_000),
            OfficerEvent::Checked {
                outcome: CheckOutcome {
                    score_cosine: 0.95,
                    is_match: true,
                    live: true,
                },
                now_ms: 4_500,
            },
            ui(OfficerUi::Approve, 5_000),
            OfficerEvent::Saved {
                reference: "ABC-DEF-1234".into(),
                activation_code: "1234-5678".into(),
                now_ms: 5_500,
            },
        ]);
        let (state, _, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Dashboard);
        assert!(!state.holds_applicant_data());
        assert_eq!(state.challenge_record, ChallengeRecord::default());
        // Rejected mid-challenge: the same.
        let mut events = to_challenge();
        events.push(ui(OfficerUi::Reject, 4_000));
        let (state, effects, _) = run_with(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Dashboard);
        assert!(effects.contains(&OfficerEffect::StopCamera));
        assert!(!state.holds_applicant_data());
    }
}
