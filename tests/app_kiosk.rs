//! The whole kiosk app as an applicant meets it, headless with egui_kittest: the real flows, the
//! real face engine, the SAM reader emulator on a real pseudo-terminal, the file camera playing
//! pictures of one test person (made from the development face set exactly as `scripts/setup.sh`
//! makes the demo's), and a real SQLite outbox. The registry is down, so receipts say they will be
//! sent later. Buttons are found by their label, as a person finds them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::root;
use common::terminal::Terminal;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_kiosk::app::enrollment_worker::EngineSlot;
use enroll_kiosk::app::{self, AppSettings, KioskApp, Services};
use enroll_kiosk::config::Config;
use enroll_kiosk::domain::language::Language;
use enroll_kiosk::face::FaceEngine;
use enroll_kiosk::flows::applicant::Screen;
use enroll_kiosk::store::Outbox;
use enroll_kiosk::ui::i18n::Catalog;

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
struct Booth {
    /// Keeps the terminal's folder (keys, outbox) for the test's length.
    _terminal: Terminal,
    config: Config,
}

impl Booth {
    fn new(frames_dir: &Path, card_photo: &Path) -> Booth {
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
            .replace("http://127.0.0.1:8443", &dead_registry_url());
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        Booth {
            _terminal: terminal,
            config,
        }
    }

    fn outbox(&self) -> PathBuf {
        self.config.store.database_path.clone()
    }
}

/// The demo pictures, made once per test run into a temporary folder.
fn demo_pictures() -> &'static Path {
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
fn impostor_frames() -> &'static Path {
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

fn harness(booth: &Booth, applicant_timeout_ms: Option<u64>) -> Harness<'static, KioskApp> {
    let font = std::fs::read(&booth.config.ui.cjk_font_path).ok();
    let mut settings = AppSettings::from_config(&booth.config);
    settings.flow.default_language = Language::En;
    if let Some(timeout) = applicant_timeout_ms {
        settings.flow.applicant_timeout_ms = timeout;
    }
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
fn run_until(
    harness: &mut Harness<'static, KioskApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&KioskApp) -> bool,
) {
    let start = Instant::now();
    while !done(harness.state()) {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; on screen {:?}, guidance {:?}",
            harness.state().state().screen,
            harness.state().state().guidance
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn on(screen: Screen) -> impl Fn(&KioskApp) -> bool {
    move |app| app.state().screen == screen
}

fn start_and_consent(harness: &mut Harness<'static, KioskApp>) {
    harness.run_steps(2);
    harness.get_by_label("Start").click();
    harness.run_steps(2);
    harness.get_by_label("I agree").click();
    harness.run_steps(2);
}

#[test]
fn the_self_service_happy_path_ends_on_the_receipt_with_a_committed_record() {
    let pictures = demo_pictures();
    let booth = Booth::new(&pictures.join("camera"), &pictures.join("card-photo.jpg"));
    let mut harness = harness(&booth, None);
    start_and_consent(&mut harness);

    // The emulated card lies on the reader: it is read, and the camera starts.
    run_until(
        &mut harness,
        "the capture screen",
        Duration::from_secs(20),
        on(Screen::Capture),
    );
    assert!(harness.state().state().card.is_some());
    harness.get_by_label("Now a photo of your face");
    run_until(
        &mut harness,
        "the live picture",
        Duration::from_secs(10),
        |app| app.camera_running() && app.holds_applicant_data(),
    );

    // Walking up, then holding still: the capture is taken by itself and matches the card.
    run_until(
        &mut harness,
        "a match",
        Duration::from_secs(60),
        on(Screen::Confirm),
    );
    let outcome = harness.state().state().last_match.unwrap();
    assert!(outcome.is_match, "{outcome:?}");
    assert!(outcome.score_cosine > 0.5, "{outcome:?}");
    assert!(
        !harness.state().camera_running(),
        "the camera stops after the capture"
    );

    harness.get_by_label("Confirm").click();
    run_until(
        &mut harness,
        "the receipt",
        Duration::from_secs(30),
        on(Screen::Receipt),
    );
    harness.get_by_label("Done!");
    let receipt = harness.state().state().receipt.clone().unwrap();
    assert!(
        receipt.awaiting_network,
        "the registry is down: the receipt says it will be sent"
    );
    assert!(receipt.qr_text.contains(&receipt.record_id));
    harness.get_by_label_contains(&receipt.record_id);

    // The record is in the outbox, committed, waiting for the registry.
    let outbox = Outbox::open(&booth.outbox()).unwrap();
    let status = outbox.status().unwrap();
    assert_eq!(status.pending, 1, "{status:?}");
    assert!(
        outbox
            .list()
            .unwrap()
            .iter()
            .any(|record| record.id == receipt.record_id)
    );

    // Done: back to the attract screen with nothing of the applicant left.
    harness.get_by_label("Done").click();
    run_until(
        &mut harness,
        "the attract screen",
        Duration::from_secs(5),
        on(Screen::Attract),
    );
    assert!(!harness.state().holds_applicant_data());

    // Frame budget: no UI frame took more than 20 ms of UI-thread time (analysis, checks and
    // commits run on their own threads).
    let times = harness.state().frame_times_ms();
    let worst = times.iter().copied().fold(0.0, f64::max);
    assert!(times.len() > 50, "{} frames", times.len());
    assert!(worst <= 20.0, "the slowest UI frame took {worst:.1} ms");
}

#[test]
fn three_failed_matches_refer_the_applicant_to_an_officer() {
    let pictures = demo_pictures();
    let booth = Booth::new(impostor_frames(), &pictures.join("card-photo.jpg"));
    let mut harness = harness(&booth, None);
    start_and_consent(&mut harness);
    run_until(
        &mut harness,
        "the capture screen",
        Duration::from_secs(20),
        on(Screen::Capture),
    );
    run_until(
        &mut harness,
        "the referral to an officer",
        Duration::from_secs(90),
        on(Screen::SeeOfficer),
    );
    let state = harness.state().state();
    assert_eq!(state.failed_matches, 3);
    assert!(!state.last_match.unwrap().is_match);
    harness.get_by_label("Please see an officer");
    let status = Outbox::open(&booth.outbox()).unwrap().status().unwrap();
    assert_eq!(
        status.pending, 0,
        "nothing is recorded for a face that does not match"
    );
}

#[test]
fn idle_timeout_mid_capture_returns_to_attract_and_wipes_the_applicant() {
    let pictures = demo_pictures();
    // Nobody in front of the camera: the flow waits on the capture screen.
    let empty = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(640, 480, image::Rgb([96, 98, 100]))
        .save(empty.path().join("frame_000.png"))
        .unwrap();
    let booth = Booth::new(empty.path(), &pictures.join("card-photo.jpg"));
    let mut harness = harness(&booth, Some(3_000));
    start_and_consent(&mut harness);
    run_until(
        &mut harness,
        "the capture screen",
        Duration::from_secs(20),
        on(Screen::Capture),
    );
    run_until(
        &mut harness,
        "the live picture",
        Duration::from_secs(10),
        |app| app.camera_running() && app.holds_applicant_data(),
    );
    run_until(
        &mut harness,
        "the idle timeout",
        Duration::from_secs(20),
        on(Screen::Attract),
    );
    let app = harness.state();
    assert!(
        !app.holds_applicant_data(),
        "applicant data left after the timeout"
    );
    assert!(app.state().card.is_none());
    assert!(!app.camera_running());
}
