//! A kiosk for app tests: a terminal (its own keys and outbox) whose camera plays pictures of the
//! development face set, whose card reader is the SAM emulator on a real pty (with the emulated
//! card's photo standing for one of those pictures), with the registry down; and the kittest
//! harness around the real app.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use egui::accesskit::Role as A11yRole;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::language::Language;
use enroll_face::FaceEngine;
use enroll_kiosk::app::enrollment_worker::EngineSlot;
use enroll_kiosk::app::{self, AppSettings, KioskApp, Services};
use enroll_kiosk::config::Config;
use enroll_kiosk::ui::i18n::Catalog;

use super::root;
use super::terminal::Terminal;

/// The models are loaded once for all tests in this file (the app would load them itself).
fn engine(config: &Config) -> EngineSlot {
    static ENGINE: OnceLock<Arc<FaceEngine>> = OnceLock::new();
    EngineSlot::preloaded(Arc::clone(
        ENGINE.get_or_init(|| Arc::new(FaceEngine::load(&config.face.engine).unwrap())),
    ))
}

/// A port nothing listens on: the registry is down.
fn dead_registry_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A terminal whose camera plays `frames_dir` and whose emulated card's photo is `card_photo`.
pub struct Booth {
    /// Keeps the terminal's folder (keys, outbox) for the test's length.
    _terminal: Terminal,
    pub config: Config,
}

impl Booth {
    /// A terminal of `tier` ("self-service" or "officer").
    pub fn new(tier: &str, frames_dir: &Path, card_photo: &Path) -> Booth {
        let terminal = Terminal::new();
        let path = terminal.dir.path().join("kiosk.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.split("\n[demo]").next().unwrap().to_owned();
        let link = terminal.dir.path().join("sam-reader");
        let text = text
            .replace(
                "\"../assets/demo/camera\"",
                &format!("\"{}\"", frames_dir.display()),
            )
            .replace(
                "\"../assets/demo/card-photo.jpg\"",
                &format!("\"{}\"", card_photo.display()),
            )
            .replace(
                "\"../target/demo/sam-reader\"",
                &format!("\"{}\"", link.display()),
            )
            .replace("http://127.0.0.1:8443", &dead_registry_url())
            .replace("tier = \"self-service\"", &format!("tier = \"{tier}\""));
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        Booth {
            _terminal: terminal,
            config,
        }
    }

    pub fn outbox(&self) -> PathBuf {
        self.config.store.database_path.clone()
    }
}

/// The demo pictures, made once per test run into a temporary folder.
pub fn demo_pictures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        app::demo_assets::make(&root().join("../shared/data/faces"), dir.path()).unwrap();
        dir
    })
    .path()
}

/// A camera that shows only someone else: another person from the development set (LFW
/// `Andre_Agassi_0001.jpg`, a frontal picture), close to the camera.
pub fn impostor_frames() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let picture =
            image::open(root().join("../shared/data/faces/lfw/Andre_Agassi/Andre_Agassi_0001.jpg"))
                .unwrap()
                .to_rgb8();
        app::demo_assets::close_up_frame(&picture)
            .save(dir.path().join("frame_000.png"))
            .unwrap();
        dir
    })
    .path()
}

/// The demo's camera frames without the acts its person plays for the liveness challenge: a
/// still photo of the card holder held up to the camera (it walks up as the demo does, then
/// does nothing the screen asks).
pub fn holder_photo_frames() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(demo_pictures().join("camera")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        dir
    })
    .path()
}

pub fn harness(booth: &Booth, applicant_timeout_ms: Option<u64>) -> Harness<'static, KioskApp> {
    harness_with(booth, |settings| {
        if let Some(timeout) = applicant_timeout_ms {
            settings.flow.applicant_timeout_ms = timeout;
        }
    })
}

/// A harness whose settings (from the booth's configuration, in English) `adjust` changes first.
pub fn harness_with(
    booth: &Booth,
    adjust: impl FnOnce(&mut AppSettings),
) -> Harness<'static, KioskApp> {
    let font = std::fs::read(&booth.config.ui.cjk_font_path).ok();
    let mut settings = AppSettings::from_config(&booth.config);
    settings.flow.default_language = Language::En;
    adjust(&mut settings);
    let services = Services::start(&booth.config, engine(&booth.config));
    let kiosk = KioskApp::with_services(
        settings,
        Catalog::load_all().unwrap(),
        Instant::now(),
        services,
    );
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_context_setup(move |ctx| app::prepare_context(ctx, font))
        .build_ui_state(
            |ui, kiosk: &mut KioskApp| {
                kiosk.frame_ui(ui);
            },
            kiosk,
        )
}

/// Runs frames (real time passes between them) until `done` holds.
pub fn run_until(
    harness: &mut Harness<'static, KioskApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&KioskApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; applicant screen {:?}, officer screen {:?}",
            harness.state().state().screen,
            harness.state().officer_state().map(|s| s.screen)
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs frames until a label containing `text` is on screen.
pub fn run_until_label(harness: &mut Harness<'static, KioskApp>, text: &str, timeout: Duration) {
    let start = Instant::now();
    while harness.query_by_label_contains(text).is_none() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {text:?} on screen"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Types `text` into the field labelled `label`, replacing what is there (PIN fields are
/// password inputs).
pub fn type_into(harness: &mut Harness<'static, KioskApp>, label: &str, text: &str) {
    let field = harness
        .query_by_role_and_label(A11yRole::TextInput, label)
        .unwrap_or_else(|| harness.get_by_role_and_label(A11yRole::PasswordInput, label));
    field.focus();
    harness.run_steps(1);
    // Replace what is there, as a person would (select all, then type).
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.run_steps(1);
    let field = harness
        .query_by_role_and_label(A11yRole::TextInput, label)
        .unwrap_or_else(|| harness.get_by_role_and_label(A11yRole::PasswordInput, label));
    field.type_text(text);
    harness.run_steps(2);
}
