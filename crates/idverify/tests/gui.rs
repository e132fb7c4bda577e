//! The verifier screen as a clerk meets it. With `egui_kittest`: the simulated file camera plays a
//! phone's QR code as a 1280×720 webcam would see it (turned, in perspective, blurred, under
//! glare), the worker decodes it, the real verification core decides, and the screen shows green
//! or red with the reason, the tier, the check-in fields and the face; a keyboard-wedge scanner's
//! typed text gives the same answer. Then the real `idverify gui` binary in an Xvfb window, one run
//! per answer, screenshotted under `target/idverify-screens/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use enroll_credential::Profile;
use enroll_idverify::gui::{Inputs, VerifierApp};
use enroll_idverify::scan::Light;
use enroll_idverify::state::StateDir;
use support::camera::{FRAME, turned, with_glare};
use support::{INDEX, NOW, Spec, Synced};

/// The four answers a clerk must tell apart, each as the webcam sees it.
fn scenes(synced: &Synced) -> Vec<(&'static str, image::RgbImage, Light, &'static str)> {
    let valid = synced.token(Profile::CheckIn);
    let expired = synced.token_like(Spec {
        shift_s: -2 * 86_400,
        ..Spec::valid(Profile::Basic)
    });
    let revoked = synced.token_like(Spec {
        index: INDEX + 1,
        ..Spec::valid(Profile::Basic)
    });
    let forged = synced.token_like(Spec {
        forged: true,
        ..Spec::valid(Profile::CheckIn)
    });
    vec![
        (
            "valid",
            turned(&valid, 14.0, 520.0, 0.85),
            Light::Green,
            "Valid",
        ),
        (
            "expired",
            image::imageops::blur(&turned(&expired, -6.0, 560.0, 1.0), 1.2),
            Light::Red,
            "expired",
        ),
        (
            "revoked",
            with_glare(turned(&revoked, 3.0, 560.0, 0.95), (560.0, 300.0), 70.0),
            Light::Red,
            "revoked",
        ),
        (
            "forged",
            turned(&forged, -20.0, 500.0, 0.9),
            Light::Red,
            "not in the trust list",
        ),
    ]
}

// ---- the screen under egui_kittest ----

fn file_camera(dir: &Path) -> enroll_devices::camera::CameraOpener {
    let dir = dir.to_path_buf();
    Box::new(move || {
        enroll_sim::file_camera::FileCamera::open(&dir, FRAME.0, FRAME.1, 10)
            .map(|camera| Box::new(camera) as Box<dyn enroll_devices::camera::Camera>)
    })
}

fn screen(
    synced: &Synced,
    camera: Option<enroll_devices::camera::CameraOpener>,
) -> Harness<'static, VerifierApp> {
    screen_with(synced, camera, None)
}

fn screen_with(
    synced: &Synced,
    camera: Option<enroll_devices::camera::CameraOpener>,
    serial: Option<(PathBuf, u32)>,
) -> Harness<'static, VerifierApp> {
    let app = VerifierApp::start(
        Inputs {
            dir: StateDir::locate(Some(synced.state())).unwrap(),
            camera,
            serial,
            ca_pem: None,
            sync: false,
            clock: Arc::new(|| NOW),
        },
        Arc::new(|| {}),
    );
    // As `idverify gui` does: Chinese names need the CJK font (without it egui_kittest refuses
    // to draw a missing glyph).
    let font = std::fs::read(enroll_idverify::gui::DEFAULT_CJK_FONT)
        .expect("the CJK font (scripts/setup.sh installs fonts-wqy-microhei)");
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .with_context_setup(move |ctx| enroll_idverify::gui::install_cjk_font(ctx, font.clone()))
        .build_ui_state(|ui, app: &mut VerifierApp| app.ui(ui), app)
}

/// Steps the screen until it shows an answer.
fn answer_of(harness: &mut Harness<'static, VerifierApp>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.state().current().is_none() {
        assert!(Instant::now() < deadline, "no answer on the screen");
        std::thread::sleep(Duration::from_millis(30));
        harness.step();
    }
    harness.run_steps(2);
}

#[test]
fn each_code_the_webcam_sees_gets_its_answer_in_plain_words() {
    let synced = Synced::new(NOW - 3_600, &[INDEX + 1]);
    for (name, frame, light, words) in scenes(&synced) {
        let frames = tempfile::tempdir().unwrap();
        frame
            .save(frames.path().join(format!("{name}.png")))
            .unwrap();
        let mut harness = screen(&synced, Some(file_camera(frames.path())));
        answer_of(&mut harness);
        let shown = harness.state().current().unwrap().clone();
        assert_eq!(shown.light, light, "{name}: {shown:?}");
        let said = format!(
            "{} {}",
            shown.headline,
            shown.reason.clone().unwrap_or_default()
        );
        assert!(said.contains(words), "{name}: {said}");
        harness.get_by_label(shown.headline);
        if light == Light::Green {
            // What the clerk compares and copies: the face, the tier, the check-in fields.
            assert!(!shown.face_jpeg.is_empty());
            harness.get_by_label(" Checked by an officer ");
            harness.get_by_label("Name: ZHANG San");
            harness.get_by_label("Born: 1990-01-01");
            harness.get_by_label("Region: 北京市东城区");
        } else {
            // Nothing a forger wrote is shown.
            assert!(
                shown.fields.is_empty() && shown.face_jpeg.is_empty(),
                "{name}"
            );
            assert!(harness.query_by_label("Name: ZHANG San").is_none());
        }
        // Only counts are kept.
        let counts = harness.state().counts();
        assert_eq!(
            counts.valid + counts.not_valid + counts.cannot_check,
            1,
            "{name}"
        );
    }
}

#[test]
fn a_keyboard_wedge_scanner_types_the_code_and_gets_the_same_answer() {
    let synced = Synced::new(NOW - 3_600, &[]);
    let mut harness = screen(&synced, None);
    harness.run_steps(2);
    harness.get_by_label("Hold the guest's QR code in front of the camera");
    // The scanner types the code into the focused field and ends it with Enter.
    harness
        .get_by_role_and_label(
            egui::accesskit::Role::PasswordInput,
            "Scanner or typed code:",
        )
        .type_text(&synced.token(Profile::Basic));
    harness.run_steps(1);
    harness.key_press(egui::Key::Enter);
    answer_of(&mut harness);
    assert_eq!(harness.state().current().unwrap().light, Light::Green);
    harness.get_by_label("Valid");
    // Garbage from the scanner is an answer too, never a crash.
    harness.state_mut().check_text("HELLO WORLD");
    harness.run_steps(2);
    assert_eq!(harness.state().current().unwrap().light, Light::Red);
    assert_eq!(harness.state().counts().not_valid, 1);
}

#[test]
fn a_serial_scanner_sends_one_code_a_line_and_each_gets_its_answer() {
    use std::io::Write as _;
    let synced = Synced::new(NOW - 3_600, &[]);
    // A pseudo-terminal stands in for the scanner's USB serial port.
    let (mut scanner, port) = serialport::TTYPort::pair().unwrap();
    let path = PathBuf::from(serialport::SerialPort::name(&port).unwrap());
    let mut harness = screen_with(&synced, None, Some((path, 9600)));
    harness.run_steps(2);
    scanner
        .write_all(format!("{}\r\n", synced.token(Profile::CheckIn)).as_bytes())
        .unwrap();
    answer_of(&mut harness);
    assert_eq!(harness.state().current().unwrap().light, Light::Green);
    harness.get_by_label("Name: ZHANG San");
    scanner.write_all(b"not a token\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.state().counts().not_valid == 0 {
        assert!(Instant::now() < deadline, "the second line got no answer");
        std::thread::sleep(Duration::from_millis(30));
        harness.step();
    }
    assert_eq!(harness.state().current().unwrap().light, Light::Red);
}

#[test]
fn stale_lists_are_shown_and_a_strict_code_cannot_be_checked() {
    let synced = Synced::new(NOW - 30 * 3_600, &[]);
    let mut harness = screen(&synced, None);
    harness
        .state_mut()
        .check_text(&synced.token(Profile::Basic));
    answer_of(&mut harness);
    let shown = harness.state().current().unwrap().clone();
    assert_eq!(shown.light, Light::Amber, "{shown:?}");
    assert!(harness.state().list_ages().status_stale);
    harness.get_by_label("Status lists: 30 h old");
}

// ---- the real binary in an X window ----

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn display(children: &mut Killed) -> String {
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb (scripts/setup.sh installs xvfb)");
    let mut stdout = xvfb.stdout.take().unwrap();
    children.0.push(xvfb);
    let mut number = String::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        number.push(char::from(byte[0]));
    }
    assert!(!number.is_empty(), "Xvfb reported no display");
    format!(":{number}")
}

fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/idverify-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The share of the screenshot's pixels near `colour`.
fn share_of(png: &Path, colour: [u8; 3]) -> f64 {
    let image = image::open(png).unwrap().to_rgb8();
    let near = image
        .pixels()
        .filter(|p| p.0.iter().zip(colour).all(|(a, b)| a.abs_diff(b) < 24))
        .count();
    near as f64 / (image.width() * image.height()) as f64
}

#[test]
fn the_verifier_window_shows_green_for_a_valid_code_and_red_for_the_others() {
    // The binary reads the real clock: the lists and tokens are made around it.
    #[allow(clippy::disallowed_methods)] // the test's edge: tokens must be valid now
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let synced = Synced::around(now, now - 3_600, &[INDEX + 1]);
    const GREEN: [u8; 3] = [0x1d, 0x7a, 0x46];
    const RED: [u8; 3] = [0xb0, 0x1c, 0x1c];
    for (name, frame, light, _) in scenes(&synced) {
        let mut children = Killed(Vec::new());
        let display = display(&mut children);
        let frames = tempfile::tempdir().unwrap();
        frame.save(frames.path().join("code.png")).unwrap();
        frame
            .save(screens_dir().join(format!("{name}-camera.png")))
            .unwrap();
        children.0.push(
            Command::new(env!("CARGO_BIN_EXE_idverify"))
                .arg("--state")
                .arg(synced.state())
                .args(["gui", "--windowed", "--no-sync", "--camera-files"])
                .arg(frames.path())
                .env("DISPLAY", &display)
                .env_remove("WAYLAND_DISPLAY")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let shot = screens_dir().join(format!("{name}.png"));
        let wanted = if light == Light::Green { GREEN } else { RED };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let taken = Command::new("import")
                .args(["-display", &display, "-window", "root"])
                .arg(&shot)
                .status()
                .unwrap();
            if taken.success() && share_of(&shot, wanted) > 0.1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the window never showed its answer"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let other = if light == Light::Green { RED } else { GREEN };
        assert!(
            share_of(&shot, other) < 0.01,
            "{name}: both colours on screen"
        );
    }
}
