//! The real `kiosk` binary in a real X window (Xvfb + a window manager), as a person would see it:
//! the demo opens fullscreen on the attract screen with the Chinese greeting drawn as glyphs, Escape
//! closes the demo, and Escape does not close a production kiosk; a whole self-service enrollment
//! in the demo (its own SAM emulator, file camera and local registry), clicked through with
//! `xdotool` in Chinese and in English, reaches the receipt and the record reaches the registry.
//! Screenshots are kept under `target/gui-smoke/`. Needs `xvfb matchbox-window-manager xdotool
//! imagemagick` (scripts/setup.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The theme's background, #101418 (src/ui/theme.rs).
const BACKGROUND: [u8; 3] = [0x10, 0x14, 0x18];
const SCREEN: (usize, usize) = (1280, 800);

/// Kills the processes it holds when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "`{tool}` is missing: run scripts/setup.sh (it installs the GUI test tools)"
    );
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private X server with a window manager (fullscreen needs one).
fn start_display(processes: &mut Processes) -> String {
    for tool in [
        "Xvfb",
        "matchbox-window-manager",
        "xdotool",
        "import",
        "convert",
    ] {
        require_tool(tool);
    }
    // Xvfb chooses a free display itself and writes its number to stdout once it accepts
    // connections (-displayfd), so parallel tests never race for a display number.
    let screen = format!("{}x{}x24", SCREEN.0, SCREEN.1);
    let mut xvfb = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            screen.as_str(),
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut stdout = xvfb.stdout.take().unwrap();
    processes.0.push(xvfb);
    let mut number = String::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        number.push(char::from(byte[0]));
    }
    assert!(
        !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()),
        "Xvfb did not report its display number (got {number:?})"
    );
    let display = format!(":{number}");
    processes.0.push(
        Command::new("matchbox-window-manager")
            .args(["-use_titlebar", "no"])
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the window manager"),
    );
    display
}

/// A copy of the demo configuration for one test: its own emulator link, outbox, registry port
/// and database under `dir`, and the camera pictures in `pictures` (absolute paths elsewhere).
fn demo_config(dir: &Path, pictures: &Path, language: &str) -> PathBuf {
    demo_config_from("kiosk-config/demo.toml", dir, pictures, language)
}

/// Like [`demo_config`], from the demo configuration `file`.
fn demo_config_from(file: &str, dir: &Path, pictures: &Path, language: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(root.join(file))
        .unwrap()
        .replace("\"../target/demo-officer/", "\"../target/demo/")
        .replace("http://127.0.0.1:8444", "http://127.0.0.1:8443")
        .replace("default_language = \"en\"", "default_language = \"zh\"")
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
            &format!("\"{}\"", dir.join("sam-reader").display()),
        )
        .replace(
            "\"../target/demo/outbox.sqlite\"",
            &format!("\"{}\"", dir.join("outbox.sqlite").display()),
        )
        .replace(
            "\"../target/demo/registry.sqlite\"",
            &format!("\"{}\"", dir.join("registry.sqlite").display()),
        )
        .replace(
            "\"../target/demo/officers.toml\"",
            &format!("\"{}\"", dir.join("officers.toml").display()),
        )
        .replace(
            "\"../target/demo/faults\"",
            &format!("\"{}\"", dir.join("faults").display()),
        )
        .replace(
            "\"../target/demo/printer\"",
            &format!("\"{}\"", dir.join("printer").display()),
        )
        .replace(
            "\"../target/demo/printed\"",
            &format!("\"{}\"", dir.join("printed").display()),
        )
        .replace("http://127.0.0.1:8443", &format!("http://127.0.0.1:{port}"))
        .replace(
            "default_language = \"zh\"",
            &format!("default_language = \"{language}\""),
        )
        .replace("\"../", &format!("\"{}/", root.display()))
        .replace(
            "\"demo-keys",
            &format!("\"{}/kiosk-config/demo-keys", root.display()),
        );
    let path = dir.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The demo's pictures, made by `kiosk demo-assets` from the development face set.
fn demo_pictures(dir: &Path) -> PathBuf {
    let out = dir.join("pictures");
    let status = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["demo-assets", "--faces"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/faces"))
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "kiosk demo-assets failed");
    out
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/gui-smoke");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the kiosk and waits until its window exists and it has drawn its first frame.
fn start_kiosk(display: &str, config: impl AsRef<std::ffi::OsStr>, log: &Path) -> Child {
    let log_file = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args([
            std::ffi::OsStr::new("run"),
            std::ffi::OsStr::new("--config"),
            config.as_ref(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DISPLAY", display)
        .env("KIOSK_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start kiosk");
    wait_until("the kiosk window", Duration::from_secs(30), || {
        Command::new("xdotool")
            .args(["search", "--name", "enroll-kiosk"])
            .env("DISPLAY", display)
            .output()
            .is_ok_and(|output| output.status.success())
    });
    wait_until("the first frame", Duration::from_secs(30), || {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains("first frame drawn"))
    });
    // The window manager resizes the window to fullscreen; let a few frames settle.
    std::thread::sleep(Duration::from_millis(1500));
    child
}

/// An RGB screenshot of the whole screen, also saved as PNG.
struct Screenshot {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Screenshot {
    fn take(display: &str, png: &Path) -> Screenshot {
        let status = Command::new("import")
            .args(["-window", "root"])
            .arg(png)
            .env("DISPLAY", display)
            .status()
            .unwrap();
        assert!(status.success(), "import failed");
        let output = Command::new("convert")
            .arg(png)
            .arg("ppm:-")
            .output()
            .unwrap();
        assert!(output.status.success(), "convert failed");
        Screenshot::from_ppm(&output.stdout)
    }

    /// Parses a binary PPM (P6, maxval 255).
    fn from_ppm(bytes: &[u8]) -> Screenshot {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
        }
        assert_eq!(fields[0], "P6");
        assert_eq!(fields[3], "255");
        let width: usize = fields[1].parse().unwrap();
        let height: usize = fields[2].parse().unwrap();
        let rgb = bytes[at + 1..].to_vec();
        assert_eq!(rgb.len(), width * height * 3);
        Screenshot { width, height, rgb }
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Bright text pixels (white or near-white on the dark background).
    fn is_ink(&self, x: usize, y: usize) -> bool {
        self.pixel(x, y).iter().all(|&c| c > 180)
    }
}

/// Finds the lines of bright text: runs of rows with ink, as (first row, last row).
fn text_lines(shot: &Screenshot, rows: std::ops::Range<usize>) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = None;
    for y in rows {
        let inked = (0..shot.width).any(|x| shot.is_ink(x, y));
        match (inked, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                lines.push((s, y - 1));
                start = None;
            }
            _ => {}
        }
    }
    lines
}

/// The ink count of each glyph-like blob of a text line (columns separated by blank columns).
fn glyph_ink_counts(shot: &Screenshot, (top, bottom): (usize, usize)) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut current = 0;
    for x in 0..shot.width {
        let ink = (top..=bottom).filter(|&y| shot.is_ink(x, y)).count();
        if ink > 0 {
            current += ink;
        } else if current > 0 {
            counts.push(current);
            current = 0;
        }
    }
    counts
}

#[test]
fn the_demo_opens_fullscreen_on_the_attract_screen_with_the_chinese_greeting_drawn() {
    let mut processes = Processes(Vec::new());
    let display = start_display(&mut processes);
    let dir = artifacts_dir();
    let log = dir.join("demo.log");
    let work = tempfile::tempdir().unwrap();
    let config = demo_config(work.path(), &dir.join("no-pictures"), "zh");
    let kiosk = start_kiosk(&display, &config, &log);
    processes.0.push(kiosk);

    let shot = Screenshot::take(&display, &dir.join("attract-zh.png"));
    assert_eq!((shot.width, shot.height), SCREEN);

    // Fullscreen: the kiosk's background reaches every corner of the screen.
    for (x, y) in [
        (2, 2),
        (SCREEN.0 - 3, 2),
        (2, SCREEN.1 - 3),
        (SCREEN.0 - 3, SCREEN.1 - 3),
    ] {
        assert_eq!(
            shot.pixel(x, y),
            BACKGROUND,
            "corner ({x}, {y}) is not the kiosk background"
        );
    }
    // Not blank: text and the yellow Start button are drawn.
    let ink = (0..shot.height)
        .flat_map(|y| (0..shot.width).map(move |x| (x, y)))
        .filter(|&(x, y)| shot.is_ink(x, y))
        .count();
    assert!(
        ink > 5_000,
        "only {ink} text pixels: the screen is nearly blank"
    );
    let yellow = shot
        .rgb
        .chunks(3)
        .filter(|p| p[0] > 240 && p[1] > 190 && p[2] < 40)
        .count();
    assert!(
        yellow > 20_000,
        "the yellow Start button is missing ({yellow} pixels)"
    );

    // The greeting is the tallest line of text in the upper half (title, greeting, subtitle).
    // (Below the display-choice buttons in the top corner, which end above y = 110.)
    let lines = text_lines(&shot, 110..SCREEN.1 / 2);
    assert!(
        lines.len() >= 3,
        "expected title, greeting and subtitle, found lines {lines:?}"
    );
    let greeting = *lines
        .iter()
        .max_by_key(|(top, bottom)| bottom - top)
        .unwrap();
    let height = greeting.1 - greeting.0 + 1;
    assert!(height >= 40, "the greeting line is only {height} px high");

    // Drawn as Chinese glyphs, not boxes: the 15 characters of the greeting differ in how much ink
    // they have (a font without CJK would draw 13 identical tofu boxes).
    let counts = glyph_ink_counts(&shot, greeting);
    assert!(
        counts.len() >= 10,
        "expected ~15 glyphs in the greeting, found {}",
        counts.len()
    );
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    let variance = counts
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / counts.len() as f64;
    let variation = variance.sqrt() / mean;
    assert!(
        variation > 0.15,
        "glyphs look alike (variation {variation:.2}): tofu boxes?"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("CJK fallback font loaded"), "{text}");
    let first_frame_ms = text
        .lines()
        .find(|line| line.contains("first frame drawn"))
        .and_then(|line| line.split("elapsed_ms=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?");
    println!("kiosk run -> first frame: {first_frame_ms} ms");
}

#[test]
fn escape_closes_the_demo_but_not_a_production_kiosk() {
    let mut processes = Processes(Vec::new());
    let display = start_display(&mut processes);
    let dir = artifacts_dir();

    // Production configuration: Escape is ignored and the kiosk keeps running.
    let mut production = start_kiosk(
        &display,
        "kiosk-config/kiosk.toml",
        &dir.join("production.log"),
    );
    press_escape(&display);
    std::thread::sleep(Duration::from_millis(1500));
    let still_running = production.try_wait().unwrap().is_none();
    let _ = production.kill();
    let _ = production.wait();
    assert!(still_running, "Escape closed the production kiosk");

    // Demo configuration: Escape ends the program cleanly.
    let work = tempfile::tempdir().unwrap();
    let config = demo_config(work.path(), &dir.join("no-pictures"), "zh");
    let mut demo = start_kiosk(&display, &config, &dir.join("escape-demo.log"));
    press_escape(&display);
    let mut exited = None;
    wait_until(
        "the demo to exit after Escape",
        Duration::from_secs(10),
        || {
            exited = demo.try_wait().unwrap();
            exited.is_some()
        },
    );
    assert!(
        exited.is_some_and(|status| status.success()),
        "demo exited with {exited:?}"
    );
    let mut stderr = String::new();
    let _ = std::fs::File::open(dir.join("escape-demo.log"))
        .and_then(|mut f| f.read_to_string(&mut stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The kiosk window's X id.
fn window_id(display: &str) -> String {
    let window = Command::new("xdotool")
        .args(["search", "--name", "enroll-kiosk"])
        .env("DISPLAY", display)
        .output()
        .unwrap();
    String::from_utf8_lossy(&window.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn press_escape(display: &str) {
    let id = window_id(display);
    // Activating needs the window manager's _NET_ACTIVE_WINDOW, which matchbox may not announce
    // yet while it starts under load; focusing the window directly works without it.
    let pressed = |how: &str| {
        Command::new("xdotool")
            .args([how, "--sync", &id, "key", "Escape"])
            .env("DISPLAY", display)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let mut done = false;
    for _ in 0..10 {
        if pressed("windowactivate") || pressed("windowfocus") {
            done = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(done, "xdotool could not press Escape");
}

/// Clicks the centre of the yellow primary button (each screen has at most one).
fn click_primary_button(display: &str, shot: &Screenshot, what: &str) {
    let (mut min_x, mut min_y, mut max_x, mut max_y, mut count) = (usize::MAX, usize::MAX, 0, 0, 0);
    for y in 0..shot.height {
        for x in 0..shot.width {
            let [r, g, b] = shot.pixel(x, y);
            if r > 240 && g > 190 && b < 40 {
                min_x = min_x.min(x);
                min_y = min_y.min(y);
                max_x = max_x.max(x);
                max_y = max_y.max(y);
                count += 1;
            }
        }
    }
    assert!(
        count > 5_000,
        "no {what} button on screen ({count} yellow pixels)"
    );
    click_at(display, (min_x + max_x) / 2, (min_y + max_y) / 2);
}

/// Waits until the kiosk's log says it moved to `screen`.
fn wait_for_screen(log: &Path, screen: &str, timeout: Duration) {
    let needle = format!("to={screen}");
    wait_until(&format!("the {screen} screen"), timeout, || {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains(&needle))
    });
    // Let the screen draw.
    std::thread::sleep(Duration::from_millis(700));
}

fn count_pixels(shot: &Screenshot, wanted: impl Fn([u8; 3]) -> bool) -> usize {
    shot.rgb
        .chunks(3)
        .filter(|p| wanted([p[0], p[1], p[2]]))
        .count()
}

fn queue_status(config: &Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["queue", "status", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One whole self-service enrollment in the demo, clicked through like a person would; the
/// screenshots are written as `<step>-<language>.png`.
fn walk_through_the_demo(language: &str) {
    let mut processes = Processes(Vec::new());
    let display = start_display(&mut processes);
    let dir = artifacts_dir();
    let work = tempfile::tempdir().unwrap();
    let pictures = demo_pictures(work.path());
    let config = demo_config(work.path(), &pictures, language);
    let log = dir.join(format!("walkthrough-{language}.log"));
    processes.0.push(start_kiosk(&display, &config, &log));

    let attract = Screenshot::take(&display, &dir.join(format!("attract-{language}.png")));
    assert!(
        count_pixels(&attract, |p| p.iter().all(|&c| c > 180)) > 5_000,
        "the attract screen is nearly blank"
    );
    click_primary_button(&display, &attract, "Start");
    wait_for_screen(&log, "Consent", Duration::from_secs(10));
    let consent = Screenshot::take(&display, &dir.join(format!("consent-{language}.png")));
    click_primary_button(&display, &consent, "I agree");

    // The emulated card lies on the reader; the camera starts once it is read.
    wait_for_screen(&log, "Capture", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let capture = Screenshot::take(&display, &dir.join(format!("capture-{language}.png")));
    // The live picture is drawn: the grey wall behind the test person fills a large area.
    let wall = count_pixels(&capture, |[r, g, b]| {
        (80..=112).contains(&r) && (82..=114).contains(&g) && (84..=116).contains(&b)
    });
    assert!(
        wall > 20_000,
        "no camera picture on the capture screen ({wall} wall pixels)"
    );

    // Quality holds for a second: the capture is taken; the open pack asks for the liveness
    // challenge, which the demo's person follows; then the capture is checked by itself.
    wait_for_screen(&log, "Challenge", Duration::from_secs(60));
    wait_for_screen(&log, "Confirm", Duration::from_secs(60));
    let confirm = Screenshot::take(&display, &dir.join(format!("confirm-{language}.png")));
    click_primary_button(&display, &confirm, "Confirm");

    wait_for_screen(&log, "Receipt", Duration::from_secs(30));
    let receipt = Screenshot::take(&display, &dir.join(format!("receipt-{language}.png")));
    // The QR code: a large white square with dark modules.
    let white = count_pixels(&receipt, |p| p == [255, 255, 255]);
    assert!(
        white > 25_000,
        "no QR code on the receipt ({white} white pixels)"
    );

    // The record was committed, and the demo's own registry acknowledged it.
    wait_until("the registry's receipt", Duration::from_secs(30), || {
        queue_status(&config)["acknowledged"] == 1
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.contains("demo: local registry started"), "{text}");
}

#[test]
fn a_whole_enrollment_in_the_chinese_demo_reaches_the_receipt_and_the_registry() {
    walk_through_the_demo("zh");
}

#[test]
fn a_whole_enrollment_in_the_english_demo_reaches_the_receipt_and_the_registry() {
    walk_through_the_demo("en");
}

/// Types `text` into the kiosk window (the field that has the cursor), then presses `keys`.
fn type_keys(display: &str, text: &str, keys: &[&str]) {
    let id = window_id(display);
    let status = Command::new("xdotool")
        .args(["windowfocus", "--sync", &id, "type", "--delay", "40", text])
        .env("DISPLAY", display)
        .status()
        .unwrap();
    assert!(status.success(), "xdotool could not type");
    for key in keys {
        std::thread::sleep(Duration::from_millis(150));
        let status = Command::new("xdotool")
            .args(["key", key])
            .env("DISPLAY", display)
            .status()
            .unwrap();
        assert!(status.success(), "xdotool could not press {key}");
    }
}

/// Clicks the screen at (`x`, `y`).
fn click_at(display: &str, x: usize, y: usize) {
    let status = Command::new("xdotool")
        .args([
            "mousemove",
            "--sync",
            &x.to_string(),
            &y.to_string(),
            "click",
            "1",
        ])
        .env("DISPLAY", display)
        .status()
        .unwrap();
    assert!(status.success(), "xdotool could not click at ({x}, {y})");
}

/// Waits until the kiosk's log has `needle` for the `n`th time.
fn wait_for_log(log: &Path, needle: &str, n: usize, timeout: Duration) {
    wait_until(&format!("{needle:?} in the log"), timeout, || {
        std::fs::read_to_string(log).is_ok_and(|text| text.matches(needle).count() >= n)
    });
    std::thread::sleep(Duration::from_millis(700));
}

/// The officer demo as the README tells a newcomer to try it: sign in with the officer badge the
/// sign-in screen shows, enroll the demo card's holder (the decision screen shows both faces
/// and the card's data), approve, see the record reach the registry; sign out, open Service and
/// sign in with the technician badge, and the checks run. Typed and clicked with `xdotool`.
#[test]
fn the_officer_demo_signs_in_with_the_shown_badges_enrolls_and_opens_the_technician_screen() {
    use enroll_core::domain::officer::Role;
    use enroll_kiosk::app::demo::DEMO_BADGES;
    let badge = |role: Role| DEMO_BADGES.iter().find(|b| b.role == role).unwrap();
    let mut processes = Processes(Vec::new());
    let display = start_display(&mut processes);
    let dir = artifacts_dir();
    let work = tempfile::tempdir().unwrap();
    let pictures = demo_pictures(work.path());
    let config = demo_config_from(
        "kiosk-config/demo-officer.toml",
        work.path(),
        &pictures,
        "en",
    );
    let log = dir.join("walkthrough-officer.log");
    processes.0.push(start_kiosk(&display, &config, &log));

    // The sign-in screen has the cursor in the badge field.
    let officer = badge(Role::Officer);
    Screenshot::take(&display, &dir.join("officer-sign-in.png"));
    type_keys(&display, officer.badge, &["Tab"]);
    type_keys(&display, officer.pin, &["Return"]);
    wait_for_screen(&log, "Dashboard", Duration::from_secs(30));
    let dashboard = Screenshot::take(&display, &dir.join("officer-dashboard.png"));
    click_primary_button(&display, &dashboard, "New enrollment");

    // The demo's card lies on the emulated reader; the camera starts once it is read.
    wait_for_screen(&log, "Capture", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    let capture = Screenshot::take(&display, &dir.join("officer-capture.png"));
    click_primary_button(&display, &capture, "Take the photo");

    // The officer reads the liveness challenge's prompts out; the demo's person follows them.
    wait_for_screen(&log, "Challenge", Duration::from_secs(30));
    wait_for_screen(&log, "Decision", Duration::from_secs(60));
    let decision = Screenshot::take(&display, &dir.join("officer-decision.png"));
    // Two faces side by side: the blue background behind the test person in the live capture
    // (LFW Jennifer_Capriati_0033) and the card photo's skin tones fill two areas in the upper
    // half, left of the card's data.
    let sky = count_pixels(&decision, |[r, _, b]| b > 150 && b > r.saturating_add(60));
    assert!(
        sky > 5_000,
        "no live capture on the decision screen ({sky} blue background pixels)"
    );
    let skin = count_pixels(&decision, |[r, g, b]| r > 120 && r > g + 15 && g > b);
    assert!(
        skin > 10_000,
        "no faces on the decision screen ({skin} skin pixels)"
    );
    click_primary_button(&display, &decision, "Approve");

    // Recorded, and the demo's own registry acknowledged it; the emulated printer printed the
    // receipt into the demo's folder.
    wait_for_log(&log, "to=Dashboard", 2, Duration::from_secs(30));
    let printed = work.path().join("printed/receipt-1.txt");
    wait_until("the printed receipt", Duration::from_secs(20), || {
        std::fs::read_to_string(&printed).is_ok_and(|text| text.contains("Reference: "))
    });
    assert!(work.path().join("printed/receipt-1-code-2.png").exists());
    Screenshot::take(&display, &dir.join("officer-saved.png"));
    wait_until("the registry's receipt", Duration::from_secs(30), || {
        queue_status(&config)["acknowledged"] == 1
    });

    // Sign out (the second button on the dashboard, by keyboard), then Service in the top-left
    // corner.
    type_keys(&display, "", &["Tab", "Tab", "Return"]);
    wait_for_log(&log, "to=SignIn", 1, Duration::from_secs(10));
    click_at(&display, 60, 40);
    wait_for_log(
        &log,
        "technician's screen opened",
        1,
        Duration::from_secs(10),
    );
    let technician = badge(Role::Technician);
    type_keys(&display, technician.badge, &["Tab"]);
    type_keys(&display, technician.pin, &["Return"]);
    wait_for_log(&log, "technician signed in", 1, Duration::from_secs(30));
    wait_for_log(&log, "technician's checks done", 1, Duration::from_secs(60));
    let checks = Screenshot::take(&display, &dir.join("technician-checks.png"));
    assert!(
        count_pixels(&checks, |p| p.iter().all(|&c| c > 180)) > 5_000,
        "the technician screen is nearly blank"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
}

/// Five wrong PINs lock the officer's badge; the kiosk is killed (`kill -9`, nothing shut down) and
/// started again: the badge is still locked, even against the right PIN, for the time that is left.
#[test]
fn a_badge_locked_by_five_wrong_pins_stays_locked_after_kill_9_and_a_restart() {
    use enroll_core::domain::officer::Role;
    use enroll_kiosk::app::demo::DEMO_BADGES;
    let officer = DEMO_BADGES
        .iter()
        .find(|b| b.role == Role::Officer)
        .unwrap();
    let mut processes = Processes(Vec::new());
    let display = start_display(&mut processes);
    let dir = artifacts_dir();
    let work = tempfile::tempdir().unwrap();
    let config = demo_config_from(
        "kiosk-config/demo-officer.toml",
        work.path(),
        &dir.join("no-pictures"),
        "en",
    );
    let log = dir.join("lockout-before.log");
    let mut kiosk = start_kiosk(&display, &config, &log);

    type_keys(&display, officer.badge, &[]);
    for attempt in 1..=5 {
        type_keys(&display, "", &["Tab"]);
        type_keys(&display, "000000", &["Return"]);
        if attempt < 5 {
            wait_for_log(
                &log,
                "wrong PIN or unknown badge",
                attempt,
                Duration::from_secs(20),
            );
        }
    }
    wait_for_log(&log, "the badge is locked", 1, Duration::from_secs(20));
    // The lockout is on disk (the outbox) before the power goes.
    let outbox = work.path().join("outbox.sqlite");
    wait_until("the kept lockout", Duration::from_secs(10), || {
        enroll_store::Outbox::open(&outbox)
            .and_then(|outbox| outbox.pin_failures())
            .is_ok_and(|kept| {
                kept.iter()
                    .any(|k| k.badge == officer.badge && k.locked_until.is_some())
            })
    });
    kiosk.kill().unwrap();
    kiosk.wait().unwrap();

    let log = dir.join("lockout-after.log");
    processes.0.push(start_kiosk(&display, &config, &log));
    type_keys(&display, officer.badge, &["Tab"]);
    type_keys(&display, officer.pin, &["Return"]);
    wait_for_log(&log, "the badge is locked", 1, Duration::from_secs(20));
    Screenshot::take(&display, &dir.join("lockout-after-restart.png"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("to=Dashboard"),
        "the right PIN opened a locked badge after the restart"
    );
}
