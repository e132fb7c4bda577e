//! The applicant's self-service flow, from the attract screen onwards, and its idle timeout; it does
//! not know how screens look or where events come from.
//!
//! `step(state, event, settings) -> (state, effects)`: the app feeds in what the person did and a
//! regular `Tick` carrying the monotonic time, and runs the effects that come out.

use crate::domain::language::Language;

/// Which screen the applicant sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Greeting, language choice and "Start".
    Attract,
    /// What happens to the applicant's data; agree or cancel.
    Consent,
    /// Waiting for the identity card on the reader.
    PlaceCard,
}

/// Everything the flow remembers about the applicant in front of the terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicantState {
    /// The screen shown.
    pub screen: Screen,
    /// The language the applicant chose (or the terminal's default).
    pub language: Language,
    /// Monotonic time of the last thing the applicant did, in milliseconds.
    pub last_activity_ms: u64,
}

impl ApplicantState {
    /// The state of a terminal nobody is using.
    pub fn idle(settings: &FlowSettings, now_ms: u64) -> ApplicantState {
        ApplicantState {
            screen: Screen::Attract,
            language: settings.default_language,
            last_activity_ms: now_ms,
        }
    }
}

/// What the applicant asked for on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiEvent {
    /// Chose a language on the attract screen.
    ChooseLanguage(Language),
    /// Pressed "Start".
    Start,
    /// Agreed to the consent text.
    AcceptConsent,
    /// Left the flow from any screen ("Cancel").
    Cancel,
    /// Pressed Escape on a keyboard.
    Escape,
    /// The window system asked the program to close.
    CloseRequested,
}

/// What happened since the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

/// What the app must do after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// End the program (only where configuration allows it).
    CloseProgram,
    /// Refuse a close request from the window system (kiosk mode).
    RefuseClose,
}

/// The parts of the configuration the flow obeys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSettings {
    /// The language of a fresh session.
    pub default_language: Language,
    /// After this long without activity the session is wiped.
    pub applicant_timeout_ms: u64,
    /// Whether Escape and the window system's close end the program.
    pub exit_allowed: bool,
}

/// Advances the flow by one event.
pub fn step(
    state: ApplicantState,
    event: Event,
    settings: &FlowSettings,
) -> (ApplicantState, Vec<Effect>) {
    match event {
        Event::Tick { now_ms } => {
            let idle_ms = now_ms.saturating_sub(state.last_activity_ms);
            if state.screen != Screen::Attract && idle_ms >= settings.applicant_timeout_ms {
                (ApplicantState::idle(settings, now_ms), Vec::new())
            } else {
                (state, Vec::new())
            }
        }
        Event::Ui { intent, now_ms } => on_ui(state, intent, now_ms, settings),
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
        ..state
    };
    match (state.screen, intent) {
        (_, UiEvent::Escape) if settings.exit_allowed => (state, vec![Effect::CloseProgram]),
        (_, UiEvent::Escape) => (state, Vec::new()),
        // Allowed: the window system closes the window by itself; nothing to add.
        (_, UiEvent::CloseRequested) if settings.exit_allowed => (state, Vec::new()),
        (_, UiEvent::CloseRequested) => (state, vec![Effect::RefuseClose]),
        (Screen::Attract, UiEvent::ChooseLanguage(language)) => (
            ApplicantState {
                language,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Attract, UiEvent::Start) => (
            ApplicantState {
                screen: Screen::Consent,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Consent, UiEvent::AcceptConsent) => (
            ApplicantState {
                screen: Screen::PlaceCard,
                ..touched
            },
            Vec::new(),
        ),
        (Screen::Consent | Screen::PlaceCard, UiEvent::Cancel) => {
            (ApplicantState::idle(settings, now_ms), Vec::new())
        }
        // A stale event from a screen that is gone (a double tap, say) changes nothing.
        _ => (state, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: FlowSettings = FlowSettings {
        default_language: Language::Zh,
        applicant_timeout_ms: 60_000,
        exit_allowed: false,
    };

    fn ui(intent: UiEvent, now_ms: u64) -> Event {
        Event::Ui { intent, now_ms }
    }

    /// Runs `events` from an idle terminal and compares the screen, language and effects.
    fn check(
        settings: &FlowSettings,
        events: &[Event],
        expected_screen: Screen,
        expected_language: Language,
        expected_effects: &[Effect],
    ) {
        let mut state = ApplicantState::idle(settings, 0);
        let mut effects = Vec::new();
        for event in events {
            let (next, more) = step(state, *event, settings);
            state = next;
            effects.extend(more);
        }
        assert_eq!(state.screen, expected_screen, "screen after {events:?}");
        assert_eq!(
            state.language, expected_language,
            "language after {events:?}"
        );
        assert_eq!(effects, expected_effects, "effects after {events:?}");
    }

    #[test]
    fn the_flow_table_holds() {
        use Language::*;
        use Screen::*;
        use UiEvent::*;
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
        ];
        for (name, events, screen, language) in cases {
            let mut state = ApplicantState::idle(&SETTINGS, 0);
            for event in &events {
                state = step(state, *event, &SETTINGS).0;
            }
            assert_eq!((state.screen, state.language), (screen, language), "{name}");
        }
    }

    #[test]
    fn idle_timeout_wipes_the_session_and_returns_to_attract() {
        let events = [
            ui(UiEvent::ChooseLanguage(Language::En), 1_000),
            ui(UiEvent::Start, 2_000),
            Event::Tick { now_ms: 61_999 },
        ];
        check(&SETTINGS, &events, Screen::Consent, Language::En, &[]);
        let mut timed_out = events.to_vec();
        timed_out.push(Event::Tick { now_ms: 62_000 });
        check(&SETTINGS, &timed_out, Screen::Attract, Language::Zh, &[]);
    }

    #[test]
    fn activity_restarts_the_idle_clock() {
        let events = [
            ui(UiEvent::Start, 1_000),
            ui(UiEvent::AcceptConsent, 50_000),
            Event::Tick { now_ms: 100_000 },
        ];
        check(&SETTINGS, &events, Screen::PlaceCard, Language::Zh, &[]);
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
}
