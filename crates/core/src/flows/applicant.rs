//! The applicant's self-service flow, from the attract screen to the receipt, and its idle
//! timeout; it does not know how screens look, where events come from, or how a card is read, a
//! face analysed or a record stored (those are effects the app carries out).
//!
//! `step(state, event, settings) -> (state, effects)`: the app feeds in what the person did, what
//! the devices and engines reported, and a regular `Tick` carrying the monotonic time, and runs
//! the effects that come out. Everything the flow knows about the applicant lives in
//! [`ApplicantState`] and is dropped (with [`Effect::WipeApplicantData`] for what the app holds)
//! whenever the session ends.

use crate::domain::card_read::CardRead;
use crate::domain::challenge::{
    Challenge, ChallengeOutcome, ChallengeSettings, Observation, Progress, Prompt, TurnSide,
};
use crate::domain::document::{CalendarDate, Validity};
use crate::domain::language::Language;

/// Why a card could not be used; each has its own message and way forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardProblem {
    /// Nothing on the reader for too long.
    NoCard,
    /// The card was there but could not be read.
    Unreadable,
    /// The card's validity has ended.
    Expired,
    /// A kind of card this terminal does not take.
    Unsupported,
    /// The card was taken away before the read finished.
    RemovedTooEarly,
    /// The reader itself does not answer (unplugged, broken).
    ReaderUnavailable,
    /// The card was read but did not pass verification (it may not be genuine): an officer
    /// must look at it.
    NotVerified,
    /// The chip refused the access key (the MRZ details do not match the document).
    AccessDenied,
    /// The card was read but its photo cannot be compared here (no photo, or one this terminal
    /// cannot decode, such as a WLT photo without the licensed decoder): an officer must look.
    NoPhoto,
}

/// The one sentence of guidance shown during capture (from the face engine's quality reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guidance {
    LookAtCamera,
    OnlyOnePerson,
    ComeCloser,
    MoveBack,
    CentreYourFace,
    FaceTheCamera,
    MoreLight,
    LessLight,
    HoldStill,
    OpenYourEyes,
}

/// Which screen the applicant sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Greeting, language choice and "Start".
    Attract,
    /// What happens to the applicant's data; agree or cancel.
    Consent,
    /// Waiting for the identity card on the reader.
    PlaceCard,
    /// The card is being read; keep it on the reader.
    ReadingCard,
    /// The card could not be used; what to do about it.
    CardProblem(CardProblem),
    /// Live camera with guidance; captures by itself when quality holds.
    Capture,
    /// The camera could not be opened, stopped, or gives no pictures; try again or get help.
    CameraProblem,
    /// The active liveness challenge: blink, then turn the head to the side drawn at random
    /// (what to do now: [`ApplicantState::prompt`]).
    Challenge,
    /// The capture is being checked (liveness and the match with the card photo).
    Checking,
    /// A match: the applicant confirms the enrollment.
    Confirm,
    /// The record is being signed and stored.
    Saving,
    /// Done: reference number and QR code.
    Receipt,
    /// Three failed matches (or a failure the applicant cannot fix): see an officer.
    SeeOfficer,
}

/// The result of checking one capture against the card photo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatchOutcome {
    /// Cosine similarity of the two embeddings.
    pub score_cosine: f32,
    /// Whether the score passed the configured threshold.
    pub is_match: bool,
    /// Whether passive liveness passed.
    pub live: bool,
}

/// What the receipt screen shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptView {
    /// The record id (the receipt's QR code carries it).
    pub record_id: String,
    /// The short reference people read out (`XXX-XXX-XXXX`).
    pub reference: String,
    /// The QR code's text (record id and terminal signature).
    pub qr_text: String,
    /// The one-time activation code, grouped as printed (`XXXX-XXXX-XXXX`).
    pub activation_code: String,
    /// The holder page address with the code, for the phone's camera (a second QR code).
    pub activation_link: String,
    /// Where the record is on its way to the registry.
    pub delivery: Delivery,
}

/// What the receipt says about sending the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The registry does not answer: "will be sent when the network is there".
    WhenOnline,
    /// The registry answers; the record is on its way.
    Sending,
    /// The registry acknowledged it.
    Sent,
}

/// Everything the flow remembers about the applicant in front of the terminal.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicantState {
    /// The screen shown.
    pub screen: Screen,
    /// The language the applicant chose (or the terminal's default).
    pub language: Language,
    /// Monotonic time of the last thing the applicant did, in milliseconds.
    pub last_activity_ms: u64,
    /// When the current screen was entered (monotonic ms).
    pub screen_since_ms: u64,
    /// The card read, once it succeeded.
    pub card: Option<Box<CardRead>>,
    /// The guidance shown now during capture (`None`: quality holds).
    pub guidance: Option<Guidance>,
    /// Since when quality has held without a break (monotonic ms).
    pub quality_held_since_ms: Option<u64>,
    /// Checks that did not match (or were not live) in this session.
    pub failed_matches: u8,
    /// The last check's outcome.
    pub last_match: Option<MatchOutcome>,
    /// The receipt, once the record is committed.
    pub receipt: Option<ReceiptView>,
    /// Why saving failed, if it did (no personal data).
    pub save_error: Option<String>,
    /// The applicant asked for larger text (until the session ends).
    pub large_text: bool,
    /// The applicant asked for the maximum-contrast theme (until the session ends).
    pub max_contrast: bool,
    /// The liveness challenge under way (its side drawn), on the challenge screen.
    pub challenge: Option<Challenge>,
    /// The last challenge's result (the record keeps the one before the match).
    pub last_challenge: Option<ChallengeOutcome>,
}

impl ApplicantState {
    /// The state of a terminal nobody is using.
    pub fn idle(settings: &FlowSettings, now_ms: u64) -> ApplicantState {
        ApplicantState {
            screen: Screen::Attract,
            language: settings.default_language,
            last_activity_ms: now_ms,
            screen_since_ms: now_ms,
            card: None,
            guidance: None,
            quality_held_since_ms: None,
            failed_matches: 0,
            last_match: None,
            receipt: None,
            save_error: None,
            large_text: false,
            max_contrast: false,
            challenge: None,
            last_challenge: None,
        }
    }

    /// What the challenge asks for now (`None` off the challenge screen, or before its side is
    /// drawn).
    pub fn prompt(&self) -> Option<Prompt> {
        self.challenge.as_ref()?.prompt()
    }

    /// Whether the state holds anything about an applicant (card data, results, receipt).
    pub fn holds_applicant_data(&self) -> bool {
        self.card.is_some() || self.last_match.is_some() || self.receipt.is_some()
    }

    fn on(self, screen: Screen, now_ms: u64) -> ApplicantState {
        ApplicantState {
            screen,
            screen_since_ms: now_ms,
            ..self
        }
    }
}

/// What the applicant asked for on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiEvent {
    /// Chose a language on the attract screen.
    ChooseLanguage(Language),
    /// Switched larger text on or off (attract screen).
    ToggleLargeText,
    /// Switched the maximum-contrast theme on or off (attract screen).
    ToggleContrast,
    /// Pressed "Start".
    Start,
    /// Agreed to the consent text.
    AcceptConsent,
    /// Pressed "Try again" (after a card problem or a failed match).
    TryAgain,
    /// Confirmed the enrollment.
    Confirm,
    /// Pressed "Done" on the receipt or the see-an-officer screen.
    Done,
    /// Left the flow from any screen ("Cancel").
    Cancel,
    /// Pressed Escape on a keyboard.
    Escape,
    /// The window system asked the program to close.
    CloseRequested,
}

/// What the card reader reported.
#[derive(Clone, Debug, PartialEq)]
pub enum CardEvent {
    /// A card appeared on the reader; reading starts.
    Present,
    /// The card was read.
    Read(Box<CardRead>),
    /// The card could not be used.
    Failed(CardProblem),
    /// The card left the reader.
    Removed,
}

/// What happened since the last step.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The person did something, at a monotonic time in milliseconds.
    Ui {
        /// What they did.
        intent: UiEvent,
        /// When.
        now_ms: u64,
    },
    /// Time passed.
    Tick {
        /// Monotonic time in milliseconds.
        now_ms: u64,
    },
    /// The card reader reported; `today` is the local calendar date (for expiry).
    Card {
        event: CardEvent,
        today: CalendarDate,
        now_ms: u64,
    },
    /// The live analysis of the latest camera frame: `None` when quality holds; `face_present`
    /// counts as activity (someone is there).
    Frame {
        guidance: Option<Guidance>,
        face_present: bool,
        /// What the liveness challenge judges (packs that measure it; `None` otherwise).
        observation: Option<Observation>,
        now_ms: u64,
    },
    /// The side the challenge asks for, drawn at random by the app (after
    /// [`Effect::DrawChallengeSide`]).
    ChallengeSide { side: TurnSide, now_ms: u64 },
    /// The check of the capture finished.
    Checked { outcome: MatchOutcome, now_ms: u64 },
    /// The check could not run (engine failure); the applicant may try again.
    CheckFailed { now_ms: u64 },
    /// The camera could not be opened, went away or stopped giving pictures.
    CameraFailed { now_ms: u64 },
    /// The record was committed to the outbox.
    Saved { receipt: ReceiptView, now_ms: u64 },
    /// The record could not be committed (disk full, guard); the reason has no personal data.
    SaveFailed { reason: String, now_ms: u64 },
    /// The registry acknowledged the record on the receipt.
    RecordSent,
}

/// What the app must do after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// End the program (only where configuration allows it).
    CloseProgram,
    /// Refuse a close request from the window system (kiosk mode).
    RefuseClose,
    /// Start watching the card reader (presence, then read).
    WatchCard,
    /// Stop using the card reader.
    StopCard,
    /// Start the camera and the live analysis.
    StartCamera,
    /// Stop the camera and the live analysis.
    StopCamera,
    /// Keep the latest good frame and check it: liveness, then the match with the card photo.
    CaptureAndCheck,
    /// Keep the latest good frame for the check after the liveness challenge.
    KeepCapture,
    /// Draw the challenge's side at random and report it (`Event::ChallengeSide`).
    DrawChallengeSide,
    /// Check the frame kept before the challenge (the challenge passed).
    CheckKeptCapture,
    /// Seal, sign and commit the record of this session.
    SaveRecord,
    /// Forget everything the app holds about the applicant (frames, card photo, capture).
    WipeApplicantData,
}

/// The parts of the configuration the flow obeys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowSettings {
    /// The language of a fresh session.
    pub default_language: Language,
    /// After this long without activity the session is wiped.
    pub applicant_timeout_ms: u64,
    /// Whether Escape and the window system's close end the program.
    pub exit_allowed: bool,
    /// How long quality must hold before the capture is taken by itself.
    pub auto_capture_hold_ms: u64,
    /// Failed checks before the applicant is sent to an officer.
    pub max_failed_matches: u8,
    /// How long the receipt stays before the terminal returns to the attract screen.
    pub receipt_shown_ms: u64,
    /// The active liveness challenge between capture and check (`None`: no challenge, for
    /// packs that cannot judge one).
    pub challenge: Option<ChallengeSettings>,
}

/// Ends the session: back to the attract screen, devices stopped, applicant data dropped.
/// The window's rule, the same on every desk: where the configuration allows leaving (development,
/// demo), Escape ends the program and the window system's close goes through by itself; on a
/// real kiosk Escape does nothing and the close is refused.
pub fn window_effects(exit_allowed: bool, escape: bool, close_requested: bool) -> Vec<Effect> {
    match (exit_allowed, escape, close_requested) {
        (true, true, _) => vec![Effect::CloseProgram],
        (true, false, _) | (false, _, false) => Vec::new(),
        (false, _, true) => vec![Effect::RefuseClose],
    }
}

fn end_session(settings: &FlowSettings, now_ms: u64) -> (ApplicantState, Vec<Effect>) {
    (
        ApplicantState::idle(settings, now_ms),
        vec![
            Effect::StopCamera,
            Effect::StopCard,
            Effect::WipeApplicantData,
        ],
    )
}

/// Advances the flow by one event.
pub fn step(
    state: ApplicantState,
    event: Event,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    match event {
        Event::Tick { now_ms } => on_tick(state, now_ms, settings),
        Event::Ui { intent, now_ms } => on_ui(state, intent, now_ms, settings),
        Event::Card {
            event,
            today,
            now_ms,
        } => on_card(state, event, today, now_ms),
        Event::Frame {
            guidance,
            face_present,
            observation,
            now_ms,
        } => match (state.screen, observation) {
            (Screen::Challenge, Some(seen)) => {
                on_challenge_frame(state, seen, face_present, settings)
            }
            _ => on_frame(state, guidance, face_present, now_ms),
        },
        Event::ChallengeSide { side, now_ms } => {
            match (state.screen, &state.challenge, settings.challenge) {
                (Screen::Challenge, None, Some(thresholds)) => (
                    ApplicantState {
                        challenge: Some(Challenge::start(thresholds, side, now_ms)),
                        ..state
                    },
                    Vec::new(),
                ),
                _ => (state, Vec::new()),
            }
        }
        Event::Checked { outcome, now_ms } => on_checked(state, outcome, now_ms, settings),
        Event::CheckFailed { now_ms } if state.screen == Screen::Checking => {
            let state = ApplicantState {
                quality_held_since_ms: None,
                guidance: None,
                ..state
            };
            (state.on(Screen::Capture, now_ms), vec![Effect::StartCamera])
        }
        Event::CheckFailed { .. } => (state, Vec::new()),
        Event::CameraFailed { now_ms } if state.screen == Screen::Capture => (
            ApplicantState {
                guidance: None,
                quality_held_since_ms: None,
                ..state
            }
            .on(Screen::CameraProblem, now_ms),
            vec![Effect::StopCamera],
        ),
        Event::CameraFailed { .. } => (state, Vec::new()),
        Event::Saved { receipt, now_ms } if state.screen == Screen::Saving => (
            ApplicantState {
                receipt: Some(receipt),
                save_error: None,
                ..state
            }
            .on(Screen::Receipt, now_ms),
            Vec::new(),
        ),
        Event::SaveFailed { reason, now_ms } if state.screen == Screen::Saving => (
            ApplicantState {
                save_error: Some(reason),
                ..state
            }
            .on(Screen::SeeOfficer, now_ms),
            vec![Effect::StopCamera, Effect::StopCard],
        ),
        Event::Saved { .. } | Event::SaveFailed { .. } => (state, Vec::new()),
        Event::RecordSent => {
            let receipt = state.receipt.clone().map(|receipt| ReceiptView {
                delivery: Delivery::Sent,
                ..receipt
            });
            (ApplicantState { receipt, ..state }, Vec::new())
        }
    }
}

fn on_tick(
    state: ApplicantState,
    now_ms: u64,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    let idle_ms = now_ms.saturating_sub(state.last_activity_ms);
    match state.screen {
        Screen::Attract => (state, Vec::new()),
        // Saving is the terminal's own work: it is never cut off half way.
        Screen::Saving => (state, Vec::new()),
        Screen::Receipt
            if now_ms.saturating_sub(state.screen_since_ms) >= settings.receipt_shown_ms =>
        {
            end_session(settings, now_ms)
        }
        _ if idle_ms >= settings.applicant_timeout_ms => end_session(settings, now_ms),
        Screen::Capture => match state.quality_held_since_ms {
            Some(since) if now_ms.saturating_sub(since) >= settings.auto_capture_hold_ms => {
                let state = ApplicantState {
                    quality_held_since_ms: None,
                    last_activity_ms: now_ms,
                    ..state
                };
                if settings.challenge.is_some() {
                    // The good frame is kept; the camera stays on for the challenge.
                    (
                        ApplicantState {
                            challenge: None,
                            ..state
                        }
                        .on(Screen::Challenge, now_ms),
                        vec![Effect::KeepCapture, Effect::DrawChallengeSide],
                    )
                } else {
                    (
                        state.on(Screen::Checking, now_ms),
                        vec![Effect::CaptureAndCheck, Effect::StopCamera],
                    )
                }
            }
            _ => (state, Vec::new()),
        },
        Screen::Challenge => match state.challenge.as_ref().map(|c| c.progress(now_ms)) {
            Some(Progress::Failed(_)) => challenge_failed(state, now_ms, settings),
            _ => (state, Vec::new()),
        },
        _ => (state, Vec::new()),
    }
}

fn on_card(
    state: ApplicantState,
    event: CardEvent,
    today: CalendarDate,
    now_ms: u64,
) -> (ApplicantState, Vec<Effect>) {
    let touched = ApplicantState {
        last_activity_ms: now_ms,
        ..state.clone()
    };
    match (state.screen, event) {
        (Screen::PlaceCard | Screen::CardProblem(_), CardEvent::Present) => {
            (touched.on(Screen::ReadingCard, now_ms), Vec::new())
        }
        (
            Screen::PlaceCard | Screen::ReadingCard | Screen::CardProblem(_),
            CardEvent::Read(card),
        ) => {
            let expired = matches!(card.identity.valid_to, Validity::Until(end) if end < today);
            if expired {
                (
                    touched.on(Screen::CardProblem(CardProblem::Expired), now_ms),
                    Vec::new(),
                )
            } else if !card.identity.photo.comparable() {
                // Without a photo there is nothing to compare the face with: no point in a
                // capture that can only fail three times.
                (
                    touched.on(Screen::CardProblem(CardProblem::NoPhoto), now_ms),
                    vec![Effect::StopCard],
                )
            } else {
                (
                    ApplicantState {
                        card: Some(card),
                        guidance: None,
                        quality_held_since_ms: None,
                        ..touched
                    }
                    .on(Screen::Capture, now_ms),
                    // The card has done its part: free the reader for the next applicant.
                    vec![Effect::StopCard, Effect::StartCamera],
                )
            }
        }
        (Screen::PlaceCard | Screen::ReadingCard, CardEvent::Failed(problem)) => {
            (touched.on(Screen::CardProblem(problem), now_ms), Vec::new())
        }
        (Screen::ReadingCard, CardEvent::Removed) => (
            touched.on(Screen::CardProblem(CardProblem::RemovedTooEarly), now_ms),
            Vec::new(),
        ),
        // Taking the card away once it was read is expected; anything else is stale.
        _ => (state, Vec::new()),
    }
}

fn on_frame(
    state: ApplicantState,
    guidance: Option<Guidance>,
    face_present: bool,
    now_ms: u64,
) -> (ApplicantState, Vec<Effect>) {
    if state.screen != Screen::Capture {
        return (state, Vec::new());
    }
    let last_activity_ms = if face_present {
        now_ms
    } else {
        state.last_activity_ms
    };
    let quality_held_since_ms = match (guidance, state.quality_held_since_ms) {
        (None, Some(since)) => Some(since),
        (None, None) => Some(now_ms),
        (Some(_), _) => None,
    };
    (
        ApplicantState {
            guidance,
            quality_held_since_ms,
            last_activity_ms,
            ..state
        },
        Vec::new(),
    )
}

/// One frame during the challenge.
fn on_challenge_frame(
    state: ApplicantState,
    seen: Observation,
    face_present: bool,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    let now_ms = seen.at_ms;
    let Some(mut challenge) = state.challenge.clone() else {
        return (state, Vec::new());
    };
    let progress = challenge.observe(seen);
    let state = ApplicantState {
        challenge: Some(challenge),
        last_activity_ms: if face_present {
            now_ms
        } else {
            state.last_activity_ms
        },
        ..state
    };
    match progress {
        Progress::Asking(_) => (state, Vec::new()),
        Progress::Passed => {
            let outcome = state.challenge.as_ref().map(|c| c.outcome(now_ms));
            (
                ApplicantState {
                    challenge: None,
                    last_challenge: outcome,
                    ..state
                }
                .on(Screen::Checking, now_ms),
                vec![Effect::CheckKeptCapture, Effect::StopCamera],
            )
        }
        Progress::Failed(_) => challenge_failed(state, now_ms, settings),
    }
}

/// The challenge failed: it counts as a failed attempt; back to the capture, or to an officer
/// after the last one.
fn challenge_failed(
    state: ApplicantState,
    now_ms: u64,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    let outcome = state.challenge.as_ref().map(|c| c.outcome(now_ms));
    let failed_matches = state.failed_matches.saturating_add(1);
    let state = ApplicantState {
        challenge: None,
        last_challenge: outcome,
        failed_matches,
        guidance: None,
        quality_held_since_ms: None,
        ..state
    };
    if failed_matches >= settings.max_failed_matches {
        (
            state.on(Screen::SeeOfficer, now_ms),
            vec![Effect::StopCamera, Effect::StopCard],
        )
    } else {
        (state.on(Screen::Capture, now_ms), Vec::new())
    }
}

fn on_checked(
    state: ApplicantState,
    outcome: MatchOutcome,
    now_ms: u64,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    if state.screen != Screen::Checking {
        return (state, Vec::new());
    }
    let state = ApplicantState {
        last_match: Some(outcome),
        last_activity_ms: now_ms,
        ..state
    };
    if outcome.is_match && outcome.live {
        return (state.on(Screen::Confirm, now_ms), Vec::new());
    }
    let failed_matches = state.failed_matches.saturating_add(1);
    let state = ApplicantState {
        failed_matches,
        guidance: None,
        quality_held_since_ms: None,
        ..state
    };
    if failed_matches >= settings.max_failed_matches {
        (state.on(Screen::SeeOfficer, now_ms), vec![Effect::StopCard])
    } else {
        (state.on(Screen::Capture, now_ms), vec![Effect::StartCamera])
    }
}

fn on_ui(
    state: ApplicantState,
    intent: UiEvent,
    now_ms: u64,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    let touched = ApplicantState {
        last_activity_ms: now_ms,
        ..state.clone()
    };
    match (state.screen, intent) {
        (_, UiEvent::Escape) => (state, window_effects(settings.exit_allowed, true, false)),
        (_, UiEvent::CloseRequested) => (state, window_effects(settings.exit_allowed, false, true)),
        (Screen::Attract, UiEvent::ChooseLanguage(language)) => (
            ApplicantState {
                language,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Attract, UiEvent::ToggleLargeText) => (
            ApplicantState {
                large_text: !state.large_text,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Attract, UiEvent::ToggleContrast) => (
            ApplicantState {
                max_contrast: !state.max_contrast,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Attract, UiEvent::Start) => (touched.on(Screen::Consent, now_ms), Vec::new()),
        (Screen::Consent, UiEvent::AcceptConsent) => (
            touched.on(Screen::PlaceCard, now_ms),
            vec![Effect::WatchCard],
        ),
        (Screen::CardProblem(_), UiEvent::TryAgain) => (
            touched.on(Screen::PlaceCard, now_ms),
            vec![Effect::WatchCard],
        ),
        (Screen::CameraProblem, UiEvent::TryAgain) => (
            touched.on(Screen::Capture, now_ms),
            vec![Effect::StartCamera],
        ),
        (Screen::Confirm, UiEvent::Confirm) => {
            (touched.on(Screen::Saving, now_ms), vec![Effect::SaveRecord])
        }
        (Screen::Confirm, UiEvent::TryAgain) => (
            ApplicantState {
                last_match: None,
                guidance: None,
                quality_held_since_ms: None,
                ..touched
            }
            .on(Screen::Capture, now_ms),
            vec![Effect::StartCamera],
        ),
        (Screen::Receipt | Screen::SeeOfficer, UiEvent::Done) => end_session(settings, now_ms),
        // Cancel leaves from every screen but the one where the record is being written.
        (screen, UiEvent::Cancel) if screen != Screen::Attract && screen != Screen::Saving => {
            end_session(settings, now_ms)
        }
        // A stale event from a screen that is gone (a double tap, say) changes nothing.
        _ => (state, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::card_read::CardRead;
    use crate::domain::challenge::ChallengeFailure;
    use crate::domain::document::Photo;

    const SETTINGS: FlowSettings = FlowSettings {
        default_language: Language::Zh,
        applicant_timeout_ms: 60_000,
        exit_allowed: false,
        auto_capture_hold_ms: 1_000,
        max_failed_matches: 3,
        receipt_shown_ms: 30_000,
        challenge: None,
    };

    const WIPE: [Effect; 3] = [
        Effect::StopCamera,
        Effect::StopCard,
        Effect::WipeApplicantData,
    ];

    fn ui(intent: UiEvent, now_ms: u64) -> Event {
        Event::Ui { intent, now_ms }
    }

    fn tick(now_ms: u64) -> Event {
        Event::Tick { now_ms }
    }

    fn today() -> CalendarDate {
        CalendarDate::new(2026, 11, 23).unwrap_or_else(|_| unreachable!())
    }

    /// The SAM emulator's sample card (valid until 2035), from tests/fixtures, as the reader
    /// hands it over without a WLT decoder: the photo undecoded.
    fn card_read_undecoded() -> Box<CardRead> {
        let card: CardRead = serde_json::from_str(include_str!(
            "../../../../tests/fixtures/card-read-resident.json"
        ))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        Box::new(card)
    }

    /// The same card with its photo decoded (what a licensed WLT decoder hands over; the bytes
    /// are never looked at by the flow).
    fn card_read() -> Box<CardRead> {
        let mut card = card_read_undecoded();
        card.identity.photo = Photo::Bmp(b"BM".to_vec());
        card
    }

    fn card(event: CardEvent, now_ms: u64) -> Event {
        Event::Card {
            event,
            today: today(),
            now_ms,
        }
    }

    fn frame(guidance: Option<Guidance>, now_ms: u64) -> Event {
        Event::Frame {
            guidance,
            face_present: true,
            observation: None,
            now_ms,
        }
    }

    fn checked(is_match: bool, live: bool, now_ms: u64) -> Event {
        Event::Checked {
            outcome: MatchOutcome {
                score_cosine: if is_match { 0.62 } else { 0.05 },
                is_match,
                live,
            },
            now_ms,
        }
    }

    fn run(settings: &FlowSettings, events: &[Event]) -> (ApplicantState, Vec<Effect>) {
        let mut state = ApplicantState::idle(settings, 0);
        let mut effects = Vec::new();
        for event in events {
            let (next, more) = step(state, event.clone(), settings);
            state = next;
            effects.extend(more);
        }
        (state, effects)
    }

    /// Runs `events` from an idle terminal and compares the screen, language and effects.
    fn check(
        settings: &FlowSettings,
        events: &[Event],
        expected_screen: Screen,
        expected_language: Language,
        expected_effects: &[Effect],
    ) {
        let (state, effects) = run(settings, events);
        assert_eq!(state.screen, expected_screen, "screen after {events:?}");
        assert_eq!(
            state.language, expected_language,
            "language after {events:?}"
        );
        assert_eq!(effects, expected_effects, "effects after {events:?}");
    }

    /// Up to the capture screen: start, consent, card placed and read.
    fn to_capture() -> Vec<Event> {
        vec![
            ui(UiEvent::Start, 1_000),
            ui(UiEvent::AcceptConsent, 2_000),
            card(CardEvent::Present, 3_000),
            card(CardEvent::Read(card_read()), 4_000),
        ]
    }

    /// From the capture screen: quality holds for a second, the capture is checked.
    fn capture_and_check(start_ms: u64, is_match: bool) -> Vec<Event> {
        vec![
            frame(Some(Guidance::ComeCloser), start_ms),
            frame(None, start_ms + 100),
            frame(None, start_ms + 600),
            tick(start_ms + 1_100),
            checked(is_match, true, start_ms + 1_500),
        ]
    }

    #[test]
    fn the_flow_table_holds() {
        use Language::*;
        use Screen::*;
        use UiEvent::*;
        let with = |extra: Vec<Event>| {
            let mut events = to_capture();
            events.extend(extra);
            events
        };
        let cases: Vec<(&str, Vec<Event>, Screen, Language)> = vec![
            (
                "a fresh terminal greets in the default language",
                vec![],
                Attract,
                Zh,
            ),
            (
                "choosing a language switches the greeting",
                vec![ui(ChooseLanguage(En), 1)],
                Attract,
                En,
            ),
            ("start asks for consent", vec![ui(Start, 1)], Consent, Zh),
            (
                "agreeing asks for the card",
                vec![ui(Start, 1), ui(AcceptConsent, 2)],
                PlaceCard,
                Zh,
            ),
            (
                "declining consent returns to the attract screen",
                vec![ui(ChooseLanguage(De), 1), ui(Start, 2), ui(Cancel, 3)],
                Attract,
                Zh,
            ),
            (
                "cancelling at the card returns to the attract screen",
                vec![ui(Start, 1), ui(AcceptConsent, 2), ui(Cancel, 3)],
                Attract,
                Zh,
            ),
            (
                "a stale consent tap on the attract screen does nothing",
                vec![ui(AcceptConsent, 1)],
                Attract,
                Zh,
            ),
            (
                "the language chosen carries through the flow",
                vec![
                    ui(ChooseLanguage(Fr), 1),
                    ui(Start, 2),
                    ui(AcceptConsent, 3),
                ],
                PlaceCard,
                Fr,
            ),
            (
                "a card on the reader is being read",
                vec![
                    ui(Start, 1),
                    ui(AcceptConsent, 2),
                    card(CardEvent::Present, 3),
                ],
                ReadingCard,
                Zh,
            ),
            ("a card read leads to the camera", to_capture(), Capture, Zh),
            (
                "a card pulled during the read asks to place it again",
                vec![
                    ui(Start, 1),
                    ui(AcceptConsent, 2),
                    card(CardEvent::Present, 3),
                    card(CardEvent::Removed, 4),
                ],
                CardProblem(super::CardProblem::RemovedTooEarly),
                Zh,
            ),
            (
                "after a card problem, try again waits for the card",
                vec![
                    ui(Start, 1),
                    ui(AcceptConsent, 2),
                    card(CardEvent::Failed(super::CardProblem::Unreadable), 3),
                    ui(TryAgain, 4),
                ],
                PlaceCard,
                Zh,
            ),
            (
                "a card whose photo cannot be compared here refers to an officer at once",
                vec![
                    ui(Start, 1),
                    ui(AcceptConsent, 2),
                    card(CardEvent::Present, 3),
                    card(CardEvent::Read(card_read_undecoded()), 4),
                ],
                CardProblem(super::CardProblem::NoPhoto),
                Zh,
            ),
            (
                "a camera that fails during the capture says so",
                with(vec![Event::CameraFailed { now_ms: 5_000 }]),
                CameraProblem,
                Zh,
            ),
            (
                "after a camera problem, try again starts the capture again",
                with(vec![
                    Event::CameraFailed { now_ms: 5_000 },
                    ui(TryAgain, 6_000),
                ]),
                Capture,
                Zh,
            ),
            (
                "a camera report after the capture screen is gone changes nothing",
                with(vec![
                    frame(None, 5_000),
                    tick(6_000),
                    Event::CameraFailed { now_ms: 6_010 },
                ]),
                Checking,
                Zh,
            ),
            (
                "taking the card away after the read is fine",
                with(vec![card(CardEvent::Removed, 5_000)]),
                Capture,
                Zh,
            ),
            (
                "quality not yet held for a second: no capture",
                with(vec![frame(None, 5_000), tick(5_900)]),
                Capture,
                Zh,
            ),
            (
                "a break in quality restarts the second",
                with(vec![
                    frame(None, 5_000),
                    frame(Some(Guidance::HoldStill), 5_500),
                    frame(None, 5_600),
                    tick(6_100),
                ]),
                Capture,
                Zh,
            ),
            (
                "quality held for a second captures by itself",
                with(vec![frame(None, 5_000), tick(6_000)]),
                Checking,
                Zh,
            ),
            (
                "a match asks to confirm",
                with(capture_and_check(5_000, true)),
                Screen::Confirm,
                Zh,
            ),
            (
                "a non-match goes back to the camera",
                with(capture_and_check(5_000, false)),
                Capture,
                Zh,
            ),
            (
                "a match that is not live counts as a failure",
                with(vec![
                    frame(None, 5_000),
                    tick(6_000),
                    checked(true, false, 6_100),
                ]),
                Capture,
                Zh,
            ),
            (
                "confirming saves the record",
                with({
                    let mut e = capture_and_check(5_000, true);
                    e.push(ui(UiEvent::Confirm, 7_000));
                    e
                }),
                Saving,
                Zh,
            ),
            (
                "cancel is ignored while the record is written",
                with({
                    let mut e = capture_and_check(5_000, true);
                    e.extend([ui(UiEvent::Confirm, 7_000), ui(Cancel, 7_100)]);
                    e
                }),
                Saving,
                Zh,
            ),
        ];
        for (name, events, screen, language) in cases {
            let (state, _) = run(&SETTINGS, &events);
            assert_eq!((state.screen, state.language), (screen, language), "{name}");
        }
    }

    #[test]
    fn the_happy_path_ends_on_the_receipt_and_returns_to_attract_afterwards() {
        let mut events = to_capture();
        events.extend(capture_and_check(5_000, true));
        events.push(ui(UiEvent::Confirm, 7_000));
        let receipt = ReceiptView {
            record_id: "01a2b3c4-0000-7000-8000-000000000001".into(),
            reference: "000-000-0000".into(),
            qr_text: "EKR1:…".into(),
            activation_code: "0000-0000-0000".into(),
            activation_link: "https://id.example/holder/#code=0000-0000-0000".into(),
            delivery: Delivery::WhenOnline,
        };
        events.push(Event::Saved {
            receipt: receipt.clone(),
            now_ms: 7_200,
        });
        let (state, effects) = run(&SETTINGS, &events);
        assert_eq!(state.screen, Screen::Receipt);
        assert_eq!(state.receipt, Some(receipt.clone()));
        assert_eq!(
            effects,
            [
                Effect::WatchCard,
                Effect::StopCard,
                Effect::StartCamera,
                Effect::CaptureAndCheck,
                Effect::StopCamera,
                Effect::SaveRecord,
            ]
        );
        // The registry acknowledges while the receipt shows: it says so.
        let (sent, _) = step(state.clone(), Event::RecordSent, &SETTINGS);
        assert_eq!(
            sent.receipt.map(|r| (r.delivery, r.record_id)),
            Some((Delivery::Sent, receipt.record_id))
        );
        // The receipt stays for receipt_shown_ms, then everything is wiped.
        let (shown, _) = step(state.clone(), tick(7_200 + 29_999), &SETTINGS);
        assert_eq!(shown.screen, Screen::Receipt);
        let (gone, effects) = step(state, tick(7_200 + 30_000), &SETTINGS);
        assert_eq!(gone, ApplicantState::idle(&SETTINGS, 37_200));
        assert_eq!(effects, WIPE);
    }

    #[test]
    fn three_failed_matches_refer_the_applicant_to_an_officer() {
        let mut events = to_capture();
        events.extend(capture_and_check(5_000, false));
        events.extend(capture_and_check(8_000, false));
        let (state, _) = run(&SETTINGS, &events);
        assert_eq!((state.screen, state.failed_matches), (Screen::Capture, 2));
        events.extend(capture_and_check(11_000, false));
        let (state, _) = run(&SETTINGS, &events);
        assert_eq!(
            (state.screen, state.failed_matches),
            (Screen::SeeOfficer, 3)
        );
        let (done, effects) = step(state, ui(UiEvent::Done, 20_000), &SETTINGS);
        assert_eq!(done.screen, Screen::Attract);
        assert!(!done.holds_applicant_data());
        assert_eq!(effects, WIPE);
    }

    #[test]
    fn a_failed_camera_is_stopped_and_try_again_starts_it_once_more() {
        let mut events = to_capture();
        events.push(Event::CameraFailed { now_ms: 5_000 });
        let card_and_camera = [Effect::WatchCard, Effect::StopCard, Effect::StartCamera];
        let mut expected = card_and_camera.to_vec();
        expected.push(Effect::StopCamera);
        check(
            &SETTINGS,
            &events,
            Screen::CameraProblem,
            Language::Zh,
            &expected,
        );
        events.push(ui(UiEvent::TryAgain, 6_000));
        expected.push(Effect::StartCamera);
        check(&SETTINGS, &events, Screen::Capture, Language::Zh, &expected);
    }

    #[test]
    fn an_expired_card_is_refused_with_its_reason() {
        let mut expired = card_read();
        expired.identity.valid_to =
            Validity::Until(CalendarDate::new(2026, 11, 22).unwrap_or_else(|_| unreachable!()));
        let events = [
            ui(UiEvent::Start, 1),
            ui(UiEvent::AcceptConsent, 2),
            card(CardEvent::Present, 3),
            card(CardEvent::Read(expired), 4),
        ];
        let (state, _) = run(&SETTINGS, &events);
        assert_eq!(state.screen, Screen::CardProblem(CardProblem::Expired));
        assert!(state.card.is_none(), "an expired card's data is not kept");
    }

    #[test]
    fn idle_timeout_mid_capture_wipes_the_applicant_and_returns_to_attract() {
        let mut events = to_capture();
        // Nobody in front of the camera: frames without a face do not count as activity.
        events.push(Event::Frame {
            guidance: Some(Guidance::LookAtCamera),
            face_present: false,
            observation: None,
            now_ms: 30_000,
        });
        let (state, _) = run(&SETTINGS, &events);
        assert!(state.holds_applicant_data());
        let (still, _) = step(state.clone(), tick(4_000 + 59_999), &SETTINGS);
        assert_eq!(still.screen, Screen::Capture);
        let (state, effects) = step(state, tick(4_000 + 60_000), &SETTINGS);
        assert_eq!(state, ApplicantState::idle(&SETTINGS, 64_000));
        assert!(!state.holds_applicant_data());
        assert_eq!(effects, WIPE);
    }

    #[test]
    fn a_face_in_front_of_the_camera_keeps_the_session_alive() {
        let mut events = to_capture();
        events.push(frame(Some(Guidance::MoreLight), 50_000));
        events.push(tick(100_000));
        let (state, _) = run(&SETTINGS, &events);
        assert_eq!(state.screen, Screen::Capture);
    }

    #[test]
    fn idle_timeout_wipes_the_session_and_returns_to_attract() {
        let events = [
            ui(UiEvent::ChooseLanguage(Language::En), 1_000),
            ui(UiEvent::Start, 2_000),
            tick(61_999),
        ];
        check(&SETTINGS, &events, Screen::Consent, Language::En, &[]);
        let mut timed_out = events.to_vec();
        timed_out.push(tick(62_000));
        check(&SETTINGS, &timed_out, Screen::Attract, Language::Zh, &WIPE);
    }

    #[test]
    fn a_failed_save_sends_the_applicant_to_an_officer_with_the_reason() {
        let mut events = to_capture();
        events.extend(capture_and_check(5_000, true));
        events.push(ui(UiEvent::Confirm, 7_000));
        events.push(Event::SaveFailed {
            reason: "the disk is full".into(),
            now_ms: 7_100,
        });
        let (state, _) = run(&SETTINGS, &events);
        assert_eq!(state.screen, Screen::SeeOfficer);
        assert_eq!(state.save_error.as_deref(), Some("the disk is full"));
    }

    #[test]
    fn activity_restarts_the_idle_clock() {
        let events = [
            ui(UiEvent::Start, 1_000),
            ui(UiEvent::AcceptConsent, 50_000),
            tick(100_000),
        ];
        check(
            &SETTINGS,
            &events,
            Screen::PlaceCard,
            Language::Zh,
            &[Effect::WatchCard],
        );
    }

    #[test]
    fn escape_does_not_close_a_production_kiosk() {
        check(
            &SETTINGS,
            &[ui(UiEvent::Escape, 1)],
            Screen::Attract,
            Language::Zh,
            &[],
        );
        check(
            &SETTINGS,
            &[ui(UiEvent::CloseRequested, 1)],
            Screen::Attract,
            Language::Zh,
            &[Effect::RefuseClose],
        );
    }

    #[test]
    fn escape_closes_where_configuration_allows_it() {
        let demo = FlowSettings {
            exit_allowed: true,
            ..SETTINGS
        };
        check(
            &demo,
            &[ui(UiEvent::Escape, 1)],
            Screen::Attract,
            Language::Zh,
            &[Effect::CloseProgram],
        );
    }

    const WITH_CHALLENGE: FlowSettings = FlowSettings {
        challenge: Some(CHALLENGE),
        ..SETTINGS
    };

    /// The default challenge thresholds (a constant for the settings above).
    const CHALLENGE: ChallengeSettings = ChallengeSettings::DEFAULT;

    /// A frame during the challenge: eyes' aspect ratio and yaw as the engine measured them.
    fn seen(now_ms: u64, eye_aspect_ratio: f32, yaw_deg: f32) -> Event {
        Event::Frame {
            guidance: None,
            face_present: true,
            observation: Some(Observation {
                at_ms: now_ms,
                one_face: true,
                eye_aspect_ratio,
                yaw_deg,
            }),
            now_ms,
        }
    }

    /// To the challenge screen: quality holds for a second from 5 s.
    fn to_challenge() -> Vec<Event> {
        let mut events = to_capture();
        events.extend([frame(None, 5_000), tick(6_000)]);
        events
    }

    #[test]
    fn with_a_challenge_a_held_capture_is_kept_and_a_side_is_drawn_before_any_check() {
        let (state, effects) = run(&WITH_CHALLENGE, &to_challenge());
        assert_eq!(state.screen, Screen::Challenge);
        assert_eq!(effects.last(), Some(&Effect::DrawChallengeSide));
        assert!(effects.contains(&Effect::KeepCapture));
        assert!(!effects.contains(&Effect::CaptureAndCheck));
        assert!(
            !effects.contains(&Effect::StopCamera),
            "the camera stays on"
        );
        assert_eq!(state.prompt(), None, "no prompt before the side is drawn");
        let (state, _) = step(
            state,
            Event::ChallengeSide {
                side: TurnSide::Right,
                now_ms: 6_010,
            },
            &WITH_CHALLENGE,
        );
        assert_eq!(state.prompt(), Some(Prompt::Blink));
    }

    #[test]
    fn a_passed_challenge_checks_the_kept_capture_and_the_result_is_kept_for_the_record() {
        let mut events = to_challenge();
        events.push(Event::ChallengeSide {
            side: TurnSide::Left,
            now_ms: 6_000,
        });
        events.extend([
            seen(6_040, 0.30, 0.0),
            seen(6_080, 0.05, 0.0),
            seen(6_120, 0.30, 0.0),
        ]);
        let (state, _) = run(&WITH_CHALLENGE, &events);
        assert_eq!(state.prompt(), Some(Prompt::Turn(TurnSide::Left)));
        events.push(seen(6_400, 0.30, -25.0));
        let (state, effects) = run(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::Checking);
        assert_eq!(
            &effects[effects.len() - 2..],
            &[Effect::CheckKeptCapture, Effect::StopCamera]
        );
        let outcome = state.last_challenge.unwrap();
        assert!(outcome.passed);
        assert_eq!(outcome.side, TurnSide::Left);
        assert_eq!(outcome.blink_done_ms, Some(120));
        assert_eq!(outcome.turn_done_ms, Some(400));
    }

    #[test]
    fn a_still_photo_fails_the_challenge_by_the_time_limit_and_counts_as_a_failed_attempt() {
        let mut events = to_challenge();
        events.push(Event::ChallengeSide {
            side: TurnSide::Left,
            now_ms: 6_000,
        });
        events.extend((1..=50).map(|i| seen(6_000 + 160 * i, 0.29, 1.0)));
        events.push(tick(14_100));
        let (state, effects) = run(&WITH_CHALLENGE, &events);
        assert_eq!(
            state.screen,
            Screen::Capture,
            "back to the capture for another try"
        );
        assert_eq!(state.failed_matches, 1);
        assert!(!effects.contains(&Effect::CheckKeptCapture));
        let outcome = state.last_challenge.unwrap();
        assert_eq!(outcome.failure, Some(ChallengeFailure::TimedOut));
    }

    #[test]
    fn three_failed_challenges_send_the_applicant_to_an_officer() {
        let mut events = to_capture();
        for attempt in 0..3u64 {
            let t = 5_000 + attempt * 20_000;
            events.extend([
                frame(None, t),
                tick(t + 1_000),
                Event::ChallengeSide {
                    side: TurnSide::Right,
                    now_ms: t + 1_000,
                },
                // A replay that turns the other way.
                seen(t + 1_040, 0.30, 0.0),
                seen(t + 1_080, 0.05, 0.0),
                seen(t + 1_120, 0.30, 0.0),
                seen(t + 1_400, 0.30, -25.0),
            ]);
        }
        let (state, effects) = run(&WITH_CHALLENGE, &events);
        assert_eq!(state.screen, Screen::SeeOfficer);
        assert_eq!(state.failed_matches, 3);
        assert_eq!(
            state.last_challenge.unwrap().failure,
            Some(ChallengeFailure::WrongSide)
        );
        assert!(effects.ends_with(&[Effect::StopCamera, Effect::StopCard]));
    }

    #[test]
    fn without_a_challenge_the_held_capture_is_checked_at_once() {
        let (state, effects) = run(&SETTINGS, &to_challenge());
        assert_eq!(state.screen, Screen::Checking);
        assert!(effects.ends_with(&[Effect::CaptureAndCheck, Effect::StopCamera]));
        assert_eq!(state.last_challenge, None);
    }
}
