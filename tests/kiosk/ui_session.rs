//! The applicant's later screens drawn from flow states (the device wiring that drives a live
//! session there is still to come): each says what it should in the applicant's language, offers
//! its buttons by label, and the receipt shows the reference number and a QR code. Headless with
//! egui_kittest; Chinese with the configured CJK font.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::language::Language;
use enroll_core::flows::applicant::{
    ApplicantState, CardProblem, Delivery, FlowSettings, Guidance, ReceiptView, Screen, UiEvent,
};
use enroll_kiosk::app;
use enroll_kiosk::config::Config;
use enroll_kiosk::ui::{self, View, i18n::Catalog, theme::Theme};

struct Screenful {
    state: ApplicantState,
    catalog: Catalog,
    theme: Theme,
    asked: Option<UiEvent>,
}

fn settings(language: Language) -> FlowSettings {
    FlowSettings {
        default_language: language,
        applicant_timeout_ms: 60_000,
        exit_allowed: false,
        auto_capture_hold_ms: 1_000,
        max_failed_matches: 3,
        receipt_shown_ms: 30_000,
        challenge: None,
    }
}

fn harness(state: ApplicantState) -> Harness<'static, Screenful> {
    let config =
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("kiosk-config/demo.toml"))
            .unwrap();
    let font = std::fs::read(&config.ui.cjk_font_path).unwrap();
    let screenful = Screenful {
        state,
        catalog: Catalog::load_all().unwrap(),
        theme: Theme::high_contrast(),
        asked: None,
    };
    Harness::builder()
        .with_size(egui::vec2(1280.0, 1000.0))
        .with_context_setup(move |ctx| app::prepare_context(ctx, Some(font)))
        .build_ui_state(
            |ui, s: &mut Screenful| {
                let view = View {
                    state: &s.state,
                    catalog: &s.catalog,
                    languages: &Language::ALL,
                    theme: &s.theme,
                    camera: None,
                    photos: None,
                    printing: None,
                };
                if let Some(event) = ui::screen_ui(ui, &view) {
                    s.asked = Some(event);
                }
            },
            screenful,
        )
}

fn on(screen: Screen, language: Language) -> ApplicantState {
    ApplicantState {
        screen,
        ..ApplicantState::idle(&settings(language), 0)
    }
}

#[test]
fn a_card_pulled_too_early_asks_to_place_it_again() {
    let mut harness = harness(on(
        Screen::CardProblem(CardProblem::RemovedTooEarly),
        Language::En,
    ));
    harness.run();
    harness.get_by_label("The card was taken away too early.");
    harness.get_by_label("Try again").click();
    harness.run();
    assert_eq!(harness.state().asked, Some(UiEvent::TryAgain));
}

#[test]
fn the_liveness_challenge_asks_for_a_blink_then_for_the_drawn_side_in_the_applicants_language() {
    use enroll_core::domain::challenge::{Challenge, ChallengeSettings, Observation, TurnSide};
    let mut state = on(Screen::Challenge, Language::Fr);
    let mut first = harness(state.clone());
    first.run();
    first.get_by_label("Continuez à regarder la caméra");
    let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Left, 0);
    state.challenge = Some(challenge.clone());
    let mut harness = self::harness(state.clone());
    harness.run();
    harness.get_by_label("Clignez des yeux");
    for (at_ms, eye_aspect_ratio) in [(40, 0.3), (80, 0.05), (120, 0.3)] {
        challenge.observe(Observation {
            at_ms,
            one_face: true,
            eye_aspect_ratio,
            yaw_deg: 0.0,
        });
    }
    state.challenge = Some(challenge);
    let mut harness = self::harness(state);
    harness.run();
    harness.get_by_label("Tournez maintenant la tête vers votre gauche");
    assert!(harness.query_by_label("Clignez des yeux").is_none());
}

#[test]
fn capture_shows_one_guidance_sentence_in_the_applicants_language() {
    let mut state = on(Screen::Capture, Language::Zh);
    state.guidance = Some(Guidance::ComeCloser);
    let mut harness = harness(state);
    harness.run();
    harness.get_by_label("请靠近一点");
    assert!(harness.query_by_label("请后退一点").is_none());
}

#[test]
fn the_receipt_shows_the_reference_and_says_when_it_waits_for_the_network() {
    let mut state = on(Screen::Receipt, Language::En);
    state.receipt = Some(ReceiptView {
        record_id: "01a2b3c4-0000-7000-8000-000000000001".into(),
        reference: "7K3-M9X-D4HT".into(),
        qr_text: format!(
            "EKRCPT1.DEMO-0001.01a2b3c4-0000-7000-8000-000000000001.1790000000000.{}.{}",
            "ab".repeat(32),
            "cd".repeat(64)
        ),
        delivery: Delivery::WhenOnline,
        activation_code: "7K3M-Q9XD-4HT2".into(),
        activation_link: "http://127.0.0.1:8443/holder/#code=7K3M-Q9XD-4HT2".into(),
    });
    let mut harness = harness(state);
    harness.run();
    harness.get_by_label("Reference number: 7K3-M9X-D4HT");
    harness.get_by_label(
        "Your enrollment is saved and will be sent to the registry when the network is available.",
    );
    harness.get_by_label("Done").click();
    harness.run();
    assert_eq!(harness.state().asked, Some(UiEvent::Done));
}

#[test]
fn three_failures_ask_the_applicant_to_see_an_officer_in_german() {
    let mut harness = harness(on(Screen::SeeOfficer, Language::De));
    harness.run();
    harness.get_by_label("Bitte wenden Sie sich an einen Beamten");
}

#[test]
fn the_live_picture_fills_the_screen_at_the_cameras_aspect_ratio() {
    use enroll_kiosk::ui::session::preview_size;
    // A 1920 x 1080 kiosk screen, about 820 pixels left under the title and guidance.
    let size = preview_size(egui::vec2(1920.0, 820.0), [1280.0, 720.0], 140.0);
    assert!(size.x >= 1200.0, "{size:?}");
    assert!((size.x / size.y - 16.0 / 9.0).abs() < 0.01, "{size:?}");
    // A narrow screen: the width bounds it, the aspect ratio holds.
    let narrow = preview_size(egui::vec2(600.0, 900.0), [640.0, 480.0], 140.0);
    assert!(
        narrow.x <= 570.0 && (narrow.x / narrow.y - 4.0 / 3.0).abs() < 0.01,
        "{narrow:?}"
    );
}
