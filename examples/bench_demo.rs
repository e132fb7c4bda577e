//! A full self-service enrollment in demo mode, timed, for `scripts/bench.sh demo`: the real app
//! (headless egui through egui_kittest, the same code `kiosk run` draws with), the SAM emulator on
//! a pty with its default card timing, the file camera with the demo's pictures, the real face
//! engine and a real outbox. Each run starts when the card is placed (the "place your card" screen
//! with the card already on the reader) and ends when the receipt is shown. The applicant's own
//! time is taken out: walking up to the camera (the demo's approach frames) and holding still for
//! the auto-capture (FlowSettings::auto_capture_hold_ms); pressing "Confirm" is done at once.
//!
//! usage: cargo run --release --example bench_demo -- WORKDIR [RUNS]

#![allow(clippy::print_stdout)] // a benchmark printing its figures

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::language::Language;
use enroll_core::flows::applicant::Screen;
use enroll_kiosk::app::enrollment_worker::EngineSlot;
use enroll_kiosk::app::{self, AppSettings, KioskApp, Services};
use enroll_kiosk::config::Config;
use enroll_kiosk::ui::i18n::Catalog;

/// The demo's approach frames (12 at 25 fps) are the applicant walking up.
const APPROACH_MS: f64 = 12.0 * 40.0;
const TARGET_MS: f64 = 15_000.0;

fn config_for(work: &Path, pictures: &Path) -> Result<Config, Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("kiosk-config/demo.toml"))?;
    let text = text.split("\n[demo]").next().unwrap_or_default().to_owned();
    let text = text
        .replace(
            "\"../assets/demo/camera\"",
            &format!("\"{}\"", pictures.join("camera").display()),
        )
        .replace(
            "\"../assets/demo/card-photo.jpg\"",
            &format!("\"{}\"", pictures.join("card-photo.jpg").display()),
        )
        .replace(
            "\"../target/demo/sam-reader\"",
            &format!("\"{}\"", work.join("sam-reader").display()),
        )
        .replace(
            "\"../target/demo/outbox.sqlite\"",
            &format!("\"{}\"", work.join("outbox.sqlite").display()),
        )
        // Nothing listens here: the registry is away, as it may be.
        .replace("http://127.0.0.1:8443", "http://127.0.0.1:9")
        .replace("\"../", &format!("\"{}/", root.display()))
        .replace(
            "\"demo-keys",
            &format!("\"{}/kiosk-config/demo-keys", root.display()),
        );
    let path = work.join("demo.toml");
    std::fs::write(&path, text)?;
    Ok(Config::load(&path)?)
}

fn run_until(
    harness: &mut Harness<'static, KioskApp>,
    screen: Screen,
) -> Result<Instant, Box<dyn std::error::Error>> {
    let start = Instant::now();
    while harness.state().state().screen != screen {
        if start.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "stuck on {:?} waiting for {screen:?}",
                harness.state().state().screen
            )
            .into());
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(Instant::now())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
    if n % 2 == 1 {
        at(n / 2)
    } else {
        (at((n / 2).saturating_sub(1)) + at(n / 2)) / 2.0
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let work = PathBuf::from(args.get(1).ok_or("usage: bench_demo WORKDIR [RUNS]")?);
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    std::fs::create_dir_all(&work)?;
    let pictures = work.join("pictures");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    app::demo_assets::make(&root.join("../shared/data/faces"), &pictures)?;
    let config = config_for(&work, &pictures)?;

    let mut settings = AppSettings::from_config(&config);
    settings.flow.default_language = Language::En;
    let hold_ms = settings.flow.auto_capture_hold_ms as f64;
    let services = Services::start(&config, EngineSlot::default());
    let kiosk = KioskApp::with_services(settings, Catalog::load_all()?, Instant::now(), services);
    let font = std::fs::read(&config.ui.cjk_font_path).ok();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_context_setup(move |ctx| app::prepare_context(ctx, font))
        .build_ui_state(
            |ui, kiosk: &mut KioskApp| {
                kiosk.frame_ui(ui);
            },
            kiosk,
        );
    // Let the models load (the app does it in the background while the attract screen shows).
    let warm = Instant::now();
    while harness.state().services().engine.engine().is_none() {
        if warm.elapsed() > Duration::from_secs(60) {
            return Err("the face models did not load".into());
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }

    let (mut read, mut capture, mut check, mut save, mut machine) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        harness.run_steps(2);
        harness.get_by_label("Start").click();
        harness.run_steps(2);
        harness.get_by_label("I agree").click();
        harness.step();
        let placed = run_until(&mut harness, Screen::PlaceCard)?;
        let captured_from = run_until(&mut harness, Screen::Capture)?;
        let checking = run_until(&mut harness, Screen::Checking)?;
        let confirm = run_until(&mut harness, Screen::Confirm)?;
        harness.run_steps(1);
        harness.get_by_label("Confirm").click();
        harness.step();
        let saving = run_until(&mut harness, Screen::Saving).unwrap_or(confirm);
        let receipt = run_until(&mut harness, Screen::Receipt)?;
        let ms = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64() * 1000.0;
        let (r, c, k, s) = (
            ms(placed, captured_from),
            ms(captured_from, checking),
            ms(checking, confirm),
            ms(saving, receipt),
        );
        let applicant_waits = APPROACH_MS + hold_ms;
        let m = ms(placed, receipt) - applicant_waits - ms(confirm, saving);
        println!(
            "run {}: card read {r:.0} ms, capture {c:.0} ms (applicant {applicant_waits:.0} ms of it), check {k:.0} ms, save {s:.0} ms; machine time {m:.0} ms",
            run + 1
        );
        read.push(r);
        capture.push(c);
        check.push(k);
        save.push(s);
        machine.push(m);
        harness.get_by_label("Done").click();
        run_until(&mut harness, Screen::Attract)?;
    }
    let m = median(&mut machine);
    println!(
        "demo: card placed -> receipt, {runs} runs, medians: card read {:.0} ms, capture {:.0} ms, check {:.0} ms, save {:.0} ms; machine time (applicant's waits excluded) {m:.0} ms; target {TARGET_MS:.0} ms; ratio {:.2}",
        median(&mut read),
        median(&mut capture),
        median(&mut check),
        median(&mut save),
        m / TARGET_MS
    );
    Ok(())
}
