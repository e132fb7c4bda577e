//! The attract screen as an applicant meets it, through the real flow, found by label like a person
//! would. Runs headless with egui_kittest (no display); the Chinese font is the one the shipped
//! configuration names, so a missing glyph fails the test instead of drawing boxes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;
use std::time::Instant;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::language::Language;
use enroll_core::flows::applicant::{Effect, Screen};
use enroll_kiosk::app::{self, AppSettings, Desk, KioskApp};
use enroll_kiosk::config::Config;
use enroll_kiosk::ui::i18n::Catalog;

const GREETING_EN: &str = "Welcome! Get your digital identity here.";
const GREETING_ZH: &str = "欢迎！在这里办理您的数字身份。";

struct Kiosk {
    app: KioskApp,
    effects: Vec<Effect>,
}

fn harness_for(config_file: &str, default_language: Option<Language>) -> Harness<'static, Kiosk> {
    harness_sized(config_file, default_language, egui::vec2(1280.0, 800.0))
}

fn harness_sized(
    config_file: &str,
    default_language: Option<Language>,
    screen: egui::Vec2,
) -> Harness<'static, Kiosk> {
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(config_file)).unwrap();
    let font = std::fs::read(&config.ui.cjk_font_path).unwrap_or_else(|error| {
        panic!(
            "the CJK font {} is needed ({error}); scripts/setup.sh installs fonts-wqy-microhei",
            config.ui.cjk_font_path.display()
        )
    });
    let mut settings = AppSettings::from_config(&config);
    if let Some(language) = default_language {
        settings.flow.default_language = language;
    }
    let kiosk = Kiosk {
        app: KioskApp::new(settings, Catalog::load_all().unwrap(), Instant::now()),
        effects: Vec::new(),
    };
    Harness::builder()
        .with_size(screen)
        .with_context_setup(move |ctx| app::prepare_context(ctx, Some(font)))
        .build_ui_state(
            |ui, kiosk: &mut Kiosk| {
                let effects = kiosk.app.frame_ui(ui);
                kiosk.effects.extend(effects);
            },
            kiosk,
        )
}

#[test]
fn the_attract_screen_greets_the_applicant() {
    let mut harness = harness_for("kiosk-config/demo.toml", Some(Language::En));
    harness.run();
    harness.get_by_label(GREETING_EN);
    for name in ["中文", "English", "Français", "Deutsch", "Bahasa Indonesia"] {
        harness.get_by_label(name);
    }
}

#[test]
fn choosing_chinese_shows_the_chinese_greeting() {
    let mut harness = harness_for("kiosk-config/demo.toml", Some(Language::En));
    harness.run();
    harness.get_by_label("中文").click();
    harness.run();
    harness.get_by_label(GREETING_ZH);
    assert!(harness.query_by_label(GREETING_EN).is_none());
    assert_eq!(harness.state().app.state().language, Language::Zh);
    harness.get_by_label("开始");
}

#[test]
fn start_is_reachable_by_label_and_leads_to_consent() {
    let mut harness = harness_for("kiosk-config/demo.toml", Some(Language::En));
    harness.run();
    harness.get_by_label("Start").click();
    harness.run();
    assert_eq!(harness.state().app.state().screen, Screen::Consent);
    harness.get_by_label("Before we begin");
    harness.get_by_label("Cancel").click();
    harness.run();
    assert_eq!(harness.state().app.state().screen, Screen::Attract);
}

#[test]
fn every_language_renders_its_attract_screen_without_missing_glyphs() {
    for language in Language::ALL {
        let mut harness = harness_for("kiosk-config/demo.toml", Some(language));
        harness.run();
        assert_eq!(harness.state().app.state().language, language);
    }
}

#[test]
fn escape_does_not_close_the_production_kiosk() {
    let mut harness = harness_for("kiosk-config/kiosk.toml", None);
    harness.run();
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert!(
        harness.state().effects.is_empty(),
        "{:?}",
        harness.state().effects
    );
    // The production terminal is an officer terminal: it opens on the officer's sign-in.
    harness.get_by_label("警员登录");
}

#[test]
fn escape_closes_the_demo() {
    let mut harness = harness_for("kiosk-config/demo.toml", None);
    harness.run();
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert_eq!(harness.state().effects, [Effect::CloseProgram]);
}

#[test]
fn escape_follows_the_one_window_rule_on_every_desk() {
    // A production officer terminal: nothing closes it, from the officer's desk or from the
    // technician's screens opened over it.
    let mut harness = harness_for("kiosk-config/kiosk.toml", Some(Language::En));
    harness.run();
    assert_eq!(harness.state().app.desk(), Desk::Officer);
    harness.get_by_label("Service").click();
    harness.run();
    assert_eq!(harness.state().app.desk(), Desk::Technician);
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert!(
        harness.state().effects.is_empty(),
        "{:?}",
        harness.state().effects
    );
    assert_eq!(harness.state().app.desk(), Desk::Technician);

    // The demo (a self-service kiosk): Escape ends it from the technician's screens too.
    let mut harness = harness_for("kiosk-config/demo.toml", Some(Language::En));
    harness.run();
    assert_eq!(harness.state().app.desk(), Desk::Applicant);
    harness.get_by_label("Service").click();
    harness.run();
    assert_eq!(harness.state().app.desk(), Desk::Technician);
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert_eq!(harness.state().effects, [Effect::CloseProgram]);
}

#[test]
fn larger_text_and_high_contrast_are_switched_on_the_attract_screen_and_reset_for_the_next_person()
{
    let mut harness = harness_for("kiosk-config/demo.toml", Some(Language::En));
    harness.run();
    harness.get_by_label("Larger text").click();
    harness.run();
    harness.get_by_label("High contrast").click();
    harness.run();
    let state = harness.state().app.state();
    assert!(
        state.large_text && state.max_contrast,
        "large {} contrast {}",
        state.large_text,
        state.max_contrast
    );
    // Still drawn, in the larger theme, and the choices carry into the session.
    harness.get_by_label(GREETING_EN);
    harness.get_by_label("Start").click();
    harness.run();
    assert!(harness.state().app.state().large_text);
    // Cancelling ends the session: the next applicant starts with the defaults.
    harness.get_by_label("Cancel").click();
    harness.run();
    let state = harness.state().app.state();
    assert_eq!(state.screen, Screen::Attract);
    assert!(!state.large_text && !state.max_contrast);
}

/// A newcomer in the demo reads the demo's badges and PINs on its first screen (the self-service
/// attract screen and the officer demo's sign-in); a production kiosk shows none.
#[test]
fn the_demo_shows_its_badges_and_a_production_kiosk_does_not() {
    use enroll_kiosk::app::demo::DEMO_BADGES;
    for (config, language) in [
        ("kiosk-config/demo.toml", Language::En),
        ("kiosk-config/demo-officer.toml", Language::En),
        ("kiosk-config/demo.toml", Language::Zh),
    ] {
        let mut harness = harness_for(config, Some(language));
        harness.run();
        for demo in DEMO_BADGES {
            harness.get_by_label(demo.badge);
            harness.get_by_label(&format!("PIN {}", demo.pin));
        }
        if language == Language::En {
            harness.get_by_label("Demo only: badges and PINs");
            harness.get_by_label("Technician");
        }
    }
    let mut harness = harness_for("kiosk-config/kiosk.toml", Some(Language::En));
    harness.run();
    assert!(
        harness
            .query_by_label("Demo only: badges and PINs")
            .is_none()
    );
    for demo in DEMO_BADGES {
        assert!(harness.query_by_label(demo.badge).is_none());
    }
}

#[test]
fn on_a_720p_screen_every_button_of_the_first_screens_is_whole_and_apart() {
    // 1280x720 is the smallest common terminal screen (and cage's headless output): the
    // technicians' Service button must not cover a language, nor a language leave the screen.
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 720.0));
    for (config, labels) in [
        (
            "kiosk-config/demo.toml",
            vec![
                "Start",
                "中文",
                "English",
                "Français",
                "Deutsch",
                "Bahasa Indonesia",
                "Larger text",
                "High contrast",
            ],
        ),
        ("kiosk-config/kiosk.toml", vec![]),
    ] {
        let mut harness = harness_sized(config, Some(Language::En), screen.size());
        harness.run();
        let service = harness.get_by_label("Service").rect();
        assert!(
            screen.contains_rect(service),
            "{config}: Service at {service:?}"
        );
        for label in labels {
            let rect = harness.get_by_label(label).rect();
            assert!(
                screen.contains_rect(rect),
                "{config}: {label} at {rect:?} leaves the screen"
            );
            assert!(
                !rect.intersects(service),
                "{config}: Service {service:?} covers {label} {rect:?}"
            );
        }
    }
}
