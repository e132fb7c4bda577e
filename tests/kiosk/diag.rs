//! The technician's diagnostics on real parts: a terminal with its own keys and SQLite outbox, a
//! file camera, the SAM reader emulator on a real pseudo-terminal, the real face models and a
//! real registry over loopback HTTP. Every check passes on the healthy terminal and fails on the
//! fault a technician meets: a camera that gives nothing, a reader whose pty went away, a model
//! file that was damaged, a corrupted SQLite file, a queue past its guard, a key file readable
//! by others, a clock two days off, a registry that is down, an audit log changed behind the
//! kiosk's back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use common::terminal::Terminal;
use common::{Registry, root};
use enroll_core::domain::time::UnixMs;
use enroll_kiosk::diag::{self, CheckId, DiagOptions, Finding, Report, Status};
use enroll_registry::server::Metrics;
use enroll_registry::storage::SqliteStorage;
use enroll_sim::mrz_scanner_emulator::MrzScannerEmulator;
use enroll_sim::sam_emulator::{EmulatorTiming, SamEmulator, SampleCard};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[allow(clippy::disallowed_methods)] // the test reads the clock as the CLI does
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A healthy terminal: camera frames, the SAM emulator, a registry that knows the terminal,
/// two records enrolled and acknowledged.
struct Bench {
    terminal: Terminal,
    emulator: Option<SamEmulator>,
    registry: Option<Registry>,
    frames: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let terminal = Terminal::new();
        let frames = tempfile::tempdir().unwrap();
        for n in 0..3u8 {
            image::RgbImage::from_pixel(320, 240, image::Rgb([90 + n * 20, 100, 110]))
                .save(frames.path().join(format!("frame_{n}.png")))
                .unwrap();
        }
        let link = terminal.dir.path().join("sam-reader");
        let emulator = SamEmulator::start(
            &link,
            Some(SampleCard::Resident.card()),
            EmulatorTiming::default(),
        )
        .unwrap();
        let storage =
            Arc::new(SqliteStorage::open(&terminal.dir.path().join("registry.sqlite")).unwrap());
        terminal.register(storage.as_ref());
        let registry = Registry::start(
            "127.0.0.1:0".parse().unwrap(),
            storage,
            &terminal.receipt_key(),
            &Arc::new(Metrics::default()),
        );
        let path = terminal.dir.path().join("kiosk.toml");
        let config = std::fs::read_to_string(&path).unwrap();
        let config = config.split("\n[demo]").next().unwrap().to_owned();
        let config = config
            .replace(
                "\"../assets/demo/camera\"",
                &format!("\"{}\"", frames.path().display()),
            )
            .replace(
                "\"../target/demo/sam-reader\"",
                &format!("\"{}\"", link.display()),
            )
            .replace("http://127.0.0.1:8443", &registry.url())
            .replace("frame_rate_fps = 25", "frame_rate_fps = 20")
            // The demo's card photo is not needed here: the card's photo stays undecoded.
            .replace("card_photo_file = \"../assets/demo/card-photo.jpg\"", "");
        std::fs::write(&path, config).unwrap();
        terminal.enroll(2);
        assert!(terminal.sync_once(&registry.url()).status.success());
        Bench {
            terminal,
            emulator: Some(emulator),
            registry: Some(registry),
            frames,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.terminal.dir.path().join("kiosk.toml")
    }

    fn edit_config(&self, from: &str, to: &str) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in the configuration");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    fn outbox(&self) -> PathBuf {
        self.terminal.dir.path().join("outbox.sqlite")
    }

    fn run(&self, check: CheckId, now_unix_ms: i64) -> Finding {
        let options = DiagOptions {
            only: Some(check),
            camera_sample_ms: 1_000,
            ..DiagOptions::at(UnixMs(now_unix_ms))
        };
        let report = diag::run(&self.config_path(), &options);
        assert_eq!(report.checks.len(), 1, "{report:#?}");
        report.checks.into_iter().next().unwrap()
    }

    fn run_all(&self) -> Report {
        let options = DiagOptions {
            camera_sample_ms: 1_000,
            ..DiagOptions::at(UnixMs(now_ms()))
        };
        diag::run(&self.config_path(), &options)
    }
}

fn assert_status(finding: &Finding, status: Status, advice_names: &str) {
    assert_eq!(finding.status, status, "{finding:#?}");
    if status == Status::Ok {
        assert_eq!(finding.advice, None, "{finding:#?}");
    } else {
        let advice = finding.advice.as_deref().unwrap_or_default();
        assert!(
            advice.contains(advice_names),
            "advice for {:?} should name {advice_names:?}: {advice}",
            finding.check
        );
    }
}

#[test]
fn a_healthy_terminal_passes_every_check() {
    let bench = Bench::new();
    let report = bench.run_all();
    for finding in &report.checks {
        assert_status(finding, Status::Ok, "");
    }
    assert_eq!(report.overall, Status::Ok);
    assert_eq!(
        report.checks.iter().map(|f| f.check).collect::<Vec<_>>(),
        CheckId::ALL.to_vec(),
        "every check, in order"
    );
    let queue = &report.checks[5];
    assert_eq!(queue.value, "0 unsent, 0 rejected");
    let audit = &report.checks[9];
    assert!(audit.value.contains("2 records"), "{}", audit.value);
}

#[test]
fn a_configuration_that_does_not_load_fails_and_nothing_else_runs() {
    let bench = Bench::new();
    bench.edit_config("[camera]", "[camera\n");
    let report = bench.run_all();
    assert_status(&report.checks[0], Status::Fail, "kiosk config check");
    assert!(
        report.checks[1..]
            .iter()
            .all(|f| f.status == Status::Fail && f.value == "not run")
    );
    assert_eq!(report.overall.exit_code(), 2);
}

#[test]
fn a_camera_that_gives_no_picture_fails() {
    let bench = Bench::new();
    let finding = bench.run(CheckId::Camera, now_ms());
    assert_status(&finding, Status::Ok, "");
    assert!(finding.value.contains("fps"), "{}", finding.value);
    for entry in std::fs::read_dir(bench.frames.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let finding = bench.run(CheckId::Camera, now_ms());
    assert_status(&finding, Status::Fail, "camera.frames_dir");
}

#[test]
fn a_card_reader_whose_pty_went_away_fails() {
    let mut bench = Bench::new();
    let finding = bench.run(CheckId::CardReader, now_ms());
    assert_status(&finding, Status::Ok, "");
    assert!(
        finding.details.iter().any(|d| d.name == "SAM id"),
        "{finding:#?}"
    );
    bench.emulator.take().unwrap().stop();
    let finding = bench.run(CheckId::CardReader, now_ms());
    assert_status(&finding, Status::Fail, "sam-reader");
}

/// A chip reader through the real pcscd (vpcd slot) whose MRZ scanner is unplugged still reads
/// chips with a typed MRZ: a warning that names the port, not a failure.
#[test]
fn pcsc_an_unplugged_mrz_scanner_warns_and_names_its_port() {
    let _pcscd = common::pcsc::pcscd();
    let bench = Bench::new();
    let link = bench.terminal.dir.path().join("sam-reader");
    let scanner_link = bench.terminal.dir.path().join("ttyMRZ");
    bench.edit_config(
        &format!(
            "backend = \"sam-emulator\"\nlink_path = \"{}\"",
            link.display()
        ),
        &format!(
            "backend = \"pcsc\"\nreader_name = \"{}\"\nmrz_scanner_port = \"{}\"",
            common::pcsc::SLOT_READER,
            scanner_link.display()
        ),
    );
    let finding = bench.run(CheckId::CardReader, now_ms());
    assert_status(&finding, Status::Warn, "ttyMRZ");
    assert!(
        finding.value.contains("MRZ scanner does not open"),
        "{finding:#?}"
    );

    let _scanner = MrzScannerEmulator::start(&scanner_link).unwrap();
    let finding = bench.run(CheckId::CardReader, now_ms());
    assert_status(&finding, Status::Ok, "");
    assert!(
        finding.details.iter().any(|d| d.name == "MRZ scanner"),
        "{finding:#?}"
    );
}

#[test]
fn a_damaged_model_file_fails_the_face_engine() {
    let bench = Bench::new();
    let finding = bench.run(CheckId::FaceEngine, now_ms());
    assert_status(&finding, Status::Ok, "");
    assert!(
        finding.value.contains("self-test score"),
        "{}",
        finding.value
    );
    // A packs folder whose open pack's recogniser was damaged (the other files are the real ones).
    let packs = tempfile::tempdir().unwrap();
    let pack = packs.path().join("open");
    std::fs::create_dir(&pack).unwrap();
    for entry in std::fs::read_dir(root().join("assets/models/packs/open")).unwrap() {
        let path = entry.unwrap().path();
        let target = pack.join(path.file_name().unwrap());
        if path.to_string_lossy().contains("resnet") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            std::fs::write(target, bytes).unwrap();
        } else {
            std::os::unix::fs::symlink(&path, target).unwrap();
        }
    }
    bench.edit_config(
        &format!("\"{}\"", root().join("assets/models/packs").display()),
        &format!("\"{}\"", packs.path().display()),
    );
    let finding = bench.run(CheckId::FaceEngine, now_ms());
    assert_status(&finding, Status::Fail, "scripts/setup.sh");
}

#[test]
fn a_corrupted_outbox_fails_storage() {
    let bench = Bench::new();
    assert_status(&bench.run(CheckId::Storage, now_ms()), Status::Ok, "");
    // Damage the copy's pages after the header (as a failing disk would).
    let mut bytes = std::fs::read(bench.outbox()).unwrap();
    for byte in bytes.iter_mut().skip(4096).step_by(7) {
        *byte ^= 0x5a;
    }
    std::fs::remove_file(bench.outbox().with_extension("sqlite-wal")).ok();
    std::fs::remove_file(bench.outbox().with_extension("sqlite-shm")).ok();
    std::fs::write(bench.outbox(), bytes).unwrap();
    let finding = bench.run(CheckId::Storage, now_ms());
    assert_status(&finding, Status::Fail, "");
    assert!(finding.advice.is_some());
}

#[test]
fn a_queue_past_its_guard_fails() {
    let bench = Bench::new();
    bench.terminal.enroll(3);
    let finding = bench.run(CheckId::Queue, now_ms());
    assert!(
        finding.value.starts_with("3 unsent, oldest ") && finding.value.ends_with(", 0 rejected"),
        "{}",
        finding.value
    );
    assert_status(&finding, Status::Ok, "");
    // The same queue, seen eight days later: the oldest waits past max_unsent_age_days (7).
    let finding = bench.run(CheckId::Queue, now_ms() + 8 * DAY_MS);
    assert_status(
        &finding,
        Status::Fail,
        "connect the terminal to the network",
    );
}

#[test]
fn a_key_file_readable_by_others_fails_crypto() {
    let bench = Bench::new();
    assert_status(&bench.run(CheckId::Crypto, now_ms()), Status::Ok, "");
    let key = bench.terminal.key("terminal-signing.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let finding = bench.run(CheckId::Crypto, now_ms());
    assert_status(&finding, Status::Fail, "chmod 600");
}

#[test]
fn a_clock_two_days_off_fails_against_the_registry() {
    let bench = Bench::new();
    let finding = bench.run(CheckId::Clock, now_ms());
    assert_status(&finding, Status::Ok, "");
    assert!(finding.value.contains("the registry"), "{}", finding.value);
    let finding = bench.run(CheckId::Clock, now_ms() + 2 * DAY_MS);
    assert_status(&finding, Status::Fail, "set the system time");
    assert!(finding.value.starts_with("2 d"), "{}", finding.value);
}

#[test]
fn a_registry_that_is_down_fails_the_network_and_the_clock_falls_back_to_the_last_receipt() {
    let mut bench = Bench::new();
    assert_status(&bench.run(CheckId::Network, now_ms()), Status::Ok, "");
    drop(bench.registry.take());
    let finding = bench.run(CheckId::Network, now_ms());
    assert_status(&finding, Status::Fail, "records wait safely in the outbox");
    // Offline, the clock is judged by the last receipt (the test registry signs receipts at a
    // fixed time in September 2026, before now: the clock did not go back).
    let clock = bench.run(CheckId::Clock, now_ms());
    assert!(clock.value.contains("last receipt"), "{clock:#?}");
}

#[test]
fn an_audit_log_changed_behind_the_kiosks_back_fails() {
    let bench = Bench::new();
    assert_status(&bench.run(CheckId::Audit, now_ms()), Status::Ok, "");
    let connection = rusqlite::Connection::open(bench.outbox()).unwrap();
    connection
        .execute_batch(
            "DROP TRIGGER audit_is_append_only_update;
             UPDATE audit SET actor = 'someone-else' WHERE seq = 1;",
        )
        .unwrap();
    drop(connection);
    let finding = bench.run(CheckId::Audit, now_ms());
    assert_status(&finding, Status::Fail, "diagnostic bundle");
}

/// The shape of a JSON value: object keys with the shapes of their values, the first element of
/// arrays, and the type of everything else.
fn shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::String("string".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Null => Value::String("null".into()),
    }
}

#[test]
fn the_json_report_keeps_its_documented_schema() {
    let bench = Bench::new();
    let output = bench
        .terminal
        .run(&["diag", "--json", "--camera-sample-ms", "500"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        common::terminal::text(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema"], "enroll-kiosk.diag/1");
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "config",
            "camera",
            "card-reader",
            "face-engine",
            "storage",
            "queue",
            "crypto",
            "clock",
            "network",
            "audit",
            "printer"
        ]
    );
    // The face engine names the model pack it runs.
    let face = report["checks"][3].to_string();
    assert!(
        face.contains("model pack") && face.contains("open"),
        "{face}"
    );
    // The shape, with the first check (config, ok: no advice) standing for all of them.
    let snapshot_path = root().join("tests/snapshots/diag-report-shape.json");
    let actual = serde_json::to_string_pretty(&shape(&report)).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&snapshot_path).unwrap();
    assert_eq!(
        actual, expected,
        "the --json schema changed: update README's schema, bump diag::SCHEMA if a field changed \
         meaning, and rerun with UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn the_command_exits_two_on_a_failure_and_prints_the_advice() {
    let mut bench = Bench::new();
    drop(bench.registry.take());
    let output = bench.terminal.run(&["diag", "network"]);
    assert_eq!(output.status.code(), Some(2));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("network      FAIL"), "{table}");
    assert!(table.contains("records wait safely"), "{table}");
    assert!(table.contains("overall: fail"), "{table}");
    let unknown = bench.terminal.run(&["diag", "fax"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("card-reader"));
}

/// Every file of a `.tar.gz`, by name, with nested gzip files opened too.
pub(crate) fn unpack(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(archive)
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut files = vec![("(the tar stream)".to_owned(), tar_bytes.clone())];
    let mut tar = tar::Archive::new(tar_bytes.as_slice());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut inner = Vec::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut inner)
                .unwrap();
            files.push((format!("{name} (decompressed)"), inner));
        }
        files.push((name, bytes));
    }
    files
}

/// The records hold the resident card of tests/fixtures/card-read-resident.json (张三, document
/// number 11010519491231002X). Even a log line that carried them (a careless future change)
/// must not carry them into the bundle.
#[test]
fn the_bundle_holds_the_report_logs_and_versions_but_no_personal_data() {
    const NAME: &str = "张三";
    const DOCUMENT_NUMBER: &str = "11010519491231002X";
    let bench = Bench::new();
    let log = bench.terminal.dir.path().join("kiosk.log");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("enroll"),
        "the kiosk commands log to terminal.log_file: {logged}"
    );
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    use std::io::Write;
    writeln!(file, "WARN careless line: card {DOCUMENT_NUMBER} of {NAME}").unwrap();
    drop(file);

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("PS-0001-diag.tar.gz");
    let output = bench
        .terminal
        .run(&["diag", "bundle", "--out", out.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("personal strings removed"), "{said}");

    let archive = std::fs::read(&out).unwrap();
    let files = unpack(&archive);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "enroll-kiosk-diag/manifest.json",
        "enroll-kiosk-diag/diag.json",
        "enroll-kiosk-diag/versions.json",
        "enroll-kiosk-diag/config/kiosk.toml",
        "enroll-kiosk-diag/config/engine.toml",
        "enroll-kiosk-diag/logs/kiosk.log",
        "enroll-kiosk-diag/logs/audit.tsv",
        "enroll-kiosk-diag/queue.tsv",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("officers") || n.ends_with(".key")),
        "{names:?}"
    );
    let forbidden = [
        NAME.as_bytes().to_vec(),
        DOCUMENT_NUMBER.as_bytes().to_vec(),
        DOCUMENT_NUMBER.to_lowercase().into_bytes(),
        // JSON's escaped form of the name.
        b"\\u5f20\\u4e09".to_vec(),
    ];
    for (name, bytes) in files.iter().chain([&("(the .tar.gz)".to_owned(), archive)]) {
        for needle in &forbidden {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{name} carries personal data"
            );
        }
    }
    let text = |wanted: &str| {
        let (_, bytes) = files
            .iter()
            .find(|(name, _)| name.ends_with(wanted))
            .unwrap();
        String::from_utf8(bytes.clone()).unwrap()
    };
    let kiosk_log = text("logs/kiosk.log");
    assert!(
        kiosk_log.contains("careless line: card <removed> of <removed>"),
        "{kiosk_log}"
    );
    let report: serde_json::Value = serde_json::from_str(&text("diag.json")).unwrap();
    assert_eq!(report["schema"], "enroll-kiosk.diag/1");
    let versions: serde_json::Value = serde_json::from_str(&text("versions.json")).unwrap();
    let models = versions["models"].as_array().unwrap();
    assert_eq!(models.len(), 6, "the open pack's six files");
    assert!(
        models
            .iter()
            .all(|m| m["expected_sha256"] == m["actual_sha256"]),
        "{models:#?}"
    );
    assert_eq!(
        text("queue.tsv").lines().count(),
        3,
        "a header and two records"
    );

    // A USB stick that is not mounted: the technician is told, nothing half-written stays.
    let missing = out_dir.path().join("usb/PS-0001-diag.tar.gz");
    let output = bench
        .terminal
        .run(&["diag", "bundle", "--out", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("choose a folder that exists"), "{said}");
}

/// A demo terminal as `kiosk run` has it: the demo services (SAM emulator, local registry, the
/// fault thread) running in this process, one record enrolled and acknowledged.
struct DemoBench {
    bench_dir: tempfile::TempDir,
    terminal: Terminal,
    _services: enroll_kiosk::app::demo::DemoServices,
}

impl DemoBench {
    fn new() -> DemoBench {
        let terminal = Terminal::new();
        let bench_dir = tempfile::tempdir().unwrap();
        let frames = bench_dir.path().join("frames");
        std::fs::create_dir(&frames).unwrap();
        for n in 0..3u8 {
            image::RgbImage::from_pixel(320, 240, image::Rgb([90 + n * 20, 100, 110]))
                .save(frames.join(format!("frame_{n}.png")))
                .unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = terminal.dir.path().join("kiosk.toml");
        let quoted = |name: &str| format!("\"{}\"", bench_dir.path().join(name).display());
        let config = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"../assets/demo/camera\"", &quoted("frames"))
            .replace("\"../target/demo/sam-reader\"", &quoted("sam-reader"))
            .replace(
                "\"../target/demo/registry.sqlite\"",
                &quoted("registry.sqlite"),
            )
            .replace(
                "faults_dir = \"faults\"",
                &format!("faults_dir = {}", quoted("faults")),
            )
            .replace(
                "registry_keys_dir = \"demo-keys\"",
                "registry_keys_dir = \"keys\"",
            )
            .replace("127.0.0.1:8443", &format!("127.0.0.1:{port}"))
            .replace("frame_rate_fps = 25", "frame_rate_fps = 20")
            .replace("card_photo_file = \"../assets/demo/card-photo.jpg\"", "");
        std::fs::write(&path, config).unwrap();
        let config = enroll_kiosk::config::Config::load(&path).unwrap();
        let services = enroll_kiosk::app::demo::DemoServices::start(&config).unwrap();
        terminal.enroll(1);
        let synced = terminal.sync_once(&format!("http://127.0.0.1:{port}"));
        assert!(
            synced.status.success(),
            "{}",
            String::from_utf8_lossy(&synced.stderr)
        );
        DemoBench {
            bench_dir,
            terminal,
            _services: services,
        }
    }

    /// Every check's status and advice, from `kiosk diag --json`.
    fn statuses(&self) -> Vec<(String, String, String)> {
        let output = self
            .terminal
            .run(&["diag", "--json", "--camera-sample-ms", "1000"]);
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| {
                (
                    check["check"].as_str().unwrap().to_owned(),
                    check["status"].as_str().unwrap().to_owned(),
                    check["advice"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn inject(&self, fault: &str, clear: bool) {
        let mut args = vec!["diag", "inject", fault];
        if clear {
            args.push("--clear");
        }
        let output = self.terminal.run(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The demo's fault thread looks every 200 ms.
        std::thread::sleep(std::time::Duration::from_millis(700));
    }
}

/// `kiosk diag inject` on a demo terminal: each fault turns exactly its check to warn or fail,
/// with advice that names the remedy, and clearing it brings the terminal back to all ok.
#[test]
fn every_injected_fault_turns_exactly_its_check_and_clearing_it_heals() {
    let bench = DemoBench::new();
    let all_ok = |statuses: &[(String, String, String)]| {
        let bad: Vec<_> = statuses.iter().filter(|(_, s, _)| s != "ok").collect();
        assert!(bad.is_empty(), "not all ok: {bad:?}");
    };
    all_ok(&bench.statuses());

    let cases = [
        ("camera-freeze", "camera", "fail", "plug it in again"),
        (
            "reader-gone",
            "card-reader",
            "fail",
            "check that it is plugged in",
        ),
        (
            "card-pulled",
            "card-reader",
            "warn",
            "place the card on the reader again",
        ),
        ("disk-full", "storage", "fail", "must free space"),
        ("registry-down", "network", "fail", "records wait safely"),
    ];
    for (fault, check, status, remedy) in cases {
        bench.inject(fault, false);
        let statuses = bench.statuses();
        let changed: Vec<_> = statuses.iter().filter(|(_, s, _)| s != "ok").collect();
        assert_eq!(changed.len(), 1, "{fault}: {changed:?}");
        let (name, actual, advice) = changed[0];
        assert_eq!((name.as_str(), actual.as_str()), (check, status), "{fault}");
        assert!(advice.contains(remedy), "{fault}: {advice}");
        bench.inject(fault, true);
    }
    all_ok(&bench.statuses());
    assert!(
        std::fs::read_dir(bench.bench_dir.path().join("faults"))
            .unwrap()
            .next()
            .is_none(),
        "every flag is cleared"
    );
}

#[test]
fn faults_are_refused_on_a_terminal_without_a_fault_folder() {
    let terminal = Terminal::new();
    let path = terminal.dir.path().join("kiosk.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let config = config.split("\n[demo]").next().unwrap().to_owned();
    std::fs::write(&path, config).unwrap();
    let output = terminal.run(&["diag", "inject", "disk-full"]);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("faults are injected on demo terminals only"),
        "{said}"
    );
    let unknown = Terminal::new().run(&["diag", "inject", "printer-jam"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("registry-down"));
}
