//! Configuration files: the shipped ones are valid and complete, and each kind of mistake gets the
//! error documented in README.md ("Configuration errors").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;

use crate::common::root;
use enroll_kiosk::config::{CameraSource, CardReaderConfig, Config, ConfigError, MrzScannerConfig};

const KIOSK_TOML: &str = include_str!("../../kiosk-config/kiosk.toml");
const DEMO_TOML: &str = include_str!("../../kiosk-config/demo.toml");

fn errors_of(text: &str) -> String {
    match Config::parse(Path::new("kiosk-config/kiosk.toml"), text) {
        Ok(_) => panic!("expected the configuration to be refused"),
        Err(error) => error.to_string(),
    }
}

fn replace_line(text: &str, old: &str, new: &str) -> String {
    assert!(
        text.contains(old),
        "fixture line {old:?} is not in the file"
    );
    text.replacen(old, new, 1)
}

fn line_number_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.starts_with(needle))
        .map(|index| index + 1)
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

#[test]
fn the_production_configuration_is_valid_and_uses_real_devices() {
    let config = Config::parse(Path::new("kiosk-config/kiosk.toml"), KIOSK_TOML).unwrap();
    assert_eq!(config.camera.source, CameraSource::V4l2 { device_index: 0 });
    assert!(matches!(
        config.card_reader,
        CardReaderConfig::SamSerial { baud: 115200, .. }
    ));
    assert!(
        !config.ui.escape_closes,
        "a production kiosk must not close on Escape"
    );
    assert!(config.ui.fullscreen);
    assert!(config.registry.url.starts_with("https://"));
}

#[test]
fn the_demo_configuration_is_valid_and_uses_simulated_devices_with_paths_beside_it() {
    let config = Config::parse(Path::new("kiosk-config/demo.toml"), DEMO_TOML).unwrap();
    assert_eq!(
        config.camera.source,
        CameraSource::Files {
            frames_dir: Path::new("kiosk-config/../assets/demo/camera").to_path_buf()
        }
    );
    assert!(matches!(
        config.card_reader,
        CardReaderConfig::SamEmulator { .. }
    ));
    assert_eq!(
        config.face.packs_dir.as_deref(),
        Some(Path::new("kiosk-config/../assets/models/packs"))
    );
    assert_eq!(config.face.engine.name(), "open");
    assert_eq!(
        config.face.models_dir,
        Path::new("kiosk-config/../assets/models/packs/open")
    );
    assert_eq!(
        config.face.engine.as_open().unwrap().dlib.recognizer.path,
        Path::new(
            "kiosk-config/../assets/models/packs/open/dlib_face_recognition_resnet_model_v1.dat"
        ),
        "model paths in a pack's engine file are relative to the pack's folder"
    );
    assert!((-1.0..=1.0).contains(&config.face.engine.decision().threshold_cosine));
}

/// A packs folder with a copy of the open pack's manifest and an edited copy of its engine file,
/// and kiosk.toml pointing at it: returns the error text of loading the configuration.
fn pack_engine_error(edit: impl Fn(&str) -> Option<String>) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("packs/open");
    std::fs::create_dir_all(&pack).unwrap();
    let shipped = root().join("assets/models/packs/open");
    std::fs::copy(shipped.join("pack.toml"), pack.join("pack.toml")).unwrap();
    let engine = std::fs::read_to_string(shipped.join("engine.toml")).unwrap();
    if let Some(edited) = edit(&engine) {
        std::fs::write(pack.join("engine.toml"), edited).unwrap();
    }
    let kiosk = dir.path().join("kiosk.toml");
    std::fs::write(
        &kiosk,
        KIOSK_TOML.replace("\"../assets/models/packs\"", "\"packs\""),
    )
    .unwrap();
    let message = match Config::load(&kiosk) {
        Ok(_) => panic!("expected the pack's engine file to be refused"),
        Err(error) => error.to_string(),
    };
    (message, dir)
}

#[test]
fn a_bad_pack_engine_file_is_named_with_its_line_and_key() {
    let (message, dir) = pack_engine_error(|text| {
        Some(text.replacen("threshold_cosine = ", "threshold_cosine = \"high\" # ", 1))
    });
    let engine = dir.path().join("packs/open/engine.toml");
    assert!(message.contains("face.pack"), "{message}");
    assert!(
        message.contains(&format!("{}: line ", engine.display())),
        "{message}"
    );
    assert!(
        message.contains("decision.threshold_cosine: invalid type"),
        "{message}"
    );

    let (message, _) = pack_engine_error(|text| {
        Some(text.replacen("threshold_cosine = ", "threshold_cosine = 1.5 # ", 1))
    });
    assert!(
        message.contains("decision.threshold_cosine: 1.5 is out of range; allowed: -1 to 1"),
        "{message}"
    );

    let (message, _) = pack_engine_error(|_| Some(String::new()));
    assert!(message.contains("missing field"), "{message}");
}

#[test]
fn a_pack_without_its_engine_file_names_the_path() {
    let (message, dir) = pack_engine_error(|_| None);
    assert!(
        message.contains("cannot read the face-engine file")
            && message.contains(
                &dir.path()
                    .join("packs/open/engine.toml")
                    .display()
                    .to_string()
            ),
        "{message}"
    );
}

/// Every key the parser accepts appears, as `key = value`, in kiosk.toml or demo.toml. The list of
/// accepted keys comes from the parser itself: an unknown key's error lists the allowed ones.
#[test]
fn every_accepted_key_is_documented_by_example() {
    let sections = [
        "terminal",
        "ui",
        "idle",
        "camera",
        "card_reader",
        "face",
        "registry",
        "store",
        "retention",
        "sync",
        "printer",
    ];
    let documented = |key: &str| {
        [KIOSK_TOML, DEMO_TOML].iter().any(|text| {
            text.lines().any(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                line.split_once('=')
                    .is_some_and(|(name, _)| name.trim() == key)
            })
        })
    };
    let top_level = errors_of(&format!("zz_probe = 1\n{KIOSK_TOML}"));
    for section in sections {
        assert!(
            top_level.contains(&format!("`{section}`")),
            "section {section} not listed in {top_level}"
        );
    }
    for section in sections {
        let probe = KIOSK_TOML.replacen(
            &format!("[{section}]\n"),
            &format!("[{section}]\nzz_probe = 1\n"),
            1,
        );
        let message = errors_of(&probe);
        let allowed = message
            .split("allowed keys here:")
            .nth(1)
            .unwrap_or_else(|| panic!("no allowed keys listed in {message}"));
        for key in allowed.split(',').map(|k| k.trim().trim_matches('`')) {
            assert!(
                documented(key),
                "{section}.{key} is accepted but not shown in kiosk.toml or demo.toml"
            );
        }
    }
}

#[test]
fn a_key_in_a_token_and_officers_from_the_registry_each_exclude_their_file() {
    let token = "signing_key = \"pkcs11:token=enroll;object=terminal-signing?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/etc/pin\"";
    let both = replace_line(
        KIOSK_TOML,
        "[terminal]\n",
        &format!("[terminal]\n{token}\n"),
    );
    assert!(
        errors_of(&both).contains("never both"),
        "{}",
        errors_of(&both)
    );
    let only_token = replace_line(
        &both,
        "signing_key_file = \"/var/lib/enroll-kiosk/keys/terminal-signing.key\"\n",
        "",
    );
    let config = Config::parse(Path::new("kiosk-config/kiosk.toml"), &only_token).unwrap();
    let uri = config.terminal.signing_key_token.unwrap();
    assert_eq!(uri.token_label, "enroll");
    let neither = replace_line(&only_token, &format!("{token}\n"), "");
    assert!(
        errors_of(&neither).contains("kiosk keygen"),
        "{}",
        errors_of(&neither)
    );
    let broken = only_token.replace("module-path=/usr/lib/softhsm/libsofthsm2.so&", "");
    assert!(
        errors_of(&broken).contains("module-path is missing"),
        "{}",
        errors_of(&broken)
    );
    let mixed = replace_line(
        KIOSK_TOML,
        "officers_from = \"file\"",
        "officers_from = \"registry\"",
    );
    assert!(
        errors_of(&mixed).contains("never both"),
        "{}",
        errors_of(&mixed)
    );
    let roster = replace_line(&mixed, "officers_file = \"officers.toml\"\n", "");
    let config = Config::parse(Path::new("kiosk-config/kiosk.toml"), &roster).unwrap();
    assert_eq!(
        config.terminal.officers_from,
        enroll_kiosk::config::OfficerSource::Registry
    );
}

/// The table of README.md "Configuration errors": what each mistake reports.
#[test]
fn each_kind_of_mistake_gets_its_documented_error() {
    let file = "kiosk-config/kiosk.toml";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "a missing key",
            replace_line(KIOSK_TOML, "tier = \"officer\"\n", ""),
            format!(
                "{file}: terminal.tier: missing; this key is required (see kiosk-config/kiosk.toml for an example)"
            ),
        ),
        (
            "a wrong type",
            replace_line(KIOSK_TOML, "width_px = 640", "width_px = \"wide\""),
            format!(
                "{file}: line {}: camera.width_px: invalid type: string \"wide\"; allowed: a whole number (0 or more)",
                line_number_of(KIOSK_TOML, "width_px")
            ),
        ),
        (
            "an out-of-range value",
            replace_line(KIOSK_TOML, "width_px = 640", "width_px = 10"),
            format!(
                "{file}: line {}: camera.width_px: 10 is out of range; allowed: 160 to 3840",
                line_number_of(KIOSK_TOML, "width_px")
            ),
        ),
        (
            "an unknown key",
            replace_line(
                KIOSK_TOML,
                "fullscreen = true",
                "fullscreen = true\ncolour = \"red\"",
            ),
            format!(
                "{file}: line {}: ui.colour: unknown key; allowed keys here: `languages`, `default_language`, `fullscreen`, `escape_closes`, `cjk_font_path`",
                line_number_of(KIOSK_TOML, "fullscreen") + 1
            ),
        ),
        (
            "an unknown value",
            replace_line(KIOSK_TOML, "tier = \"officer\"", "tier = \"admin\""),
            format!(
                "{file}: line {}: terminal.tier: unknown value `admin`; allowed: `self-service` or `officer`",
                line_number_of(KIOSK_TOML, "tier")
            ),
        ),
        (
            "an unsupported baud rate",
            replace_line(KIOSK_TOML, "baud = 115200", "baud = 12345"),
            format!(
                "{file}: line {}: card_reader.baud: 12345 is not supported; allowed: 9600, 19200, 38400, 57600, 115200",
                line_number_of(KIOSK_TOML, "baud")
            ),
        ),
        (
            "a key of another backend",
            replace_line(
                KIOSK_TOML,
                "device_index = 0",
                "device_index = 0\nframes_dir = \"frames\"",
            ),
            format!(
                "{file}: line {}: camera.frames_dir: not used with backend = \"v4l2\"; remove it",
                line_number_of(KIOSK_TOML, "device_index") + 1
            ),
        ),
        (
            "a default language that is not offered",
            replace_line(
                KIOSK_TOML,
                "languages = [\"zh\", \"en\", \"fr\", \"de\", \"id\"]",
                "languages = [\"en\", \"fr\"]",
            ),
            format!(
                "{file}: line {}: ui.default_language: \"zh\" is not in ui.languages; allowed: one of the languages listed there",
                line_number_of(KIOSK_TOML, "default_language")
            ),
        ),
        (
            "plain http to a remote registry",
            replace_line(
                KIOSK_TOML,
                "url = \"https://registry.example.org\"",
                "url = \"http://registry.example.org\"",
            ),
            format!(
                "{file}: line {}: registry.url: plain http is refused for \"registry.example.org\" (records would cross the network unencrypted); allowed: https://HOST[:PORT], or http://127.0.0.1:PORT / http://localhost:PORT for tests",
                line_number_of(KIOSK_TOML, "url")
            ),
        ),
        (
            "broken TOML syntax",
            replace_line(KIOSK_TOML, "width_px = 640", "width_px = = 640"),
            format!(
                "{file}: line {}: not valid TOML:",
                line_number_of(KIOSK_TOML, "width_px")
            ),
        ),
    ];
    for (name, text, expected) in cases {
        let actual = errors_of(&text);
        assert!(
            actual.starts_with(&expected),
            "{name}:\n  expected: {expected}\n  actual:   {actual}"
        );
    }
}

#[test]
fn an_mrz_scanner_belongs_to_the_chip_reader_and_defaults_to_9600_baud() {
    let chip_reader = replace_line(
        KIOSK_TOML,
        "backend = \"sam-serial\"\nport = \"/dev/ttyUSB0\"\n# 9600, 19200, 38400, 57600 or 115200\nbaud = 115200\n",
        "backend = \"pcsc\"\nmrz_scanner_port = \"/dev/ttyACM0\"\n",
    );
    let config = Config::parse(Path::new("kiosk-config/kiosk.toml"), &chip_reader).unwrap();
    let CardReaderConfig::Pcsc { mrz_scanner, .. } = config.card_reader else {
        panic!("expected the PC/SC reader");
    };
    assert_eq!(
        mrz_scanner,
        Some(MrzScannerConfig {
            port: "/dev/ttyACM0".into(),
            baud: 9600
        })
    );

    let odd_speed = replace_line(
        &chip_reader,
        "mrz_scanner_port = \"/dev/ttyACM0\"\n",
        "mrz_scanner_port = \"/dev/ttyACM0\"\nmrz_scanner_baud = 4800\n",
    );
    assert!(
        errors_of(&odd_speed).contains("card_reader.mrz_scanner_baud: 4800 is not supported"),
        "{}",
        errors_of(&odd_speed)
    );
    let speed_alone = replace_line(
        &chip_reader,
        "mrz_scanner_port = \"/dev/ttyACM0\"\n",
        "mrz_scanner_baud = 9600\n",
    );
    assert!(errors_of(&speed_alone).contains("name the scanner's port too"));

    // A SAM reader reads its cards without an access key.
    let on_sam = replace_line(
        KIOSK_TOML,
        "baud = 115200\n",
        "baud = 115200\nmrz_scanner_port = \"/dev/ttyACM0\"\n",
    );
    assert!(
        errors_of(&on_sam).contains(
            "card_reader.mrz_scanner_port: not used with backend = \"sam-serial\"; remove it"
        ),
        "{}",
        errors_of(&on_sam)
    );
}

#[test]
fn several_range_problems_are_all_reported_at_once() {
    let text = replace_line(KIOSK_TOML, "width_px = 640", "width_px = 10");
    let text = replace_line(&text, "batch_size = 20", "batch_size = 0");
    let message = errors_of(&text);
    assert!(
        message.contains("camera.width_px: 10 is out of range"),
        "{message}"
    );
    assert!(
        message.contains("sync.batch_size: 0 is out of range"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 2, "{message}");
}

#[test]
fn a_file_that_cannot_be_read_names_the_file_and_the_remedy() {
    let error = Config::load(Path::new("/nonexistent/kiosk.toml")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    let message = error.to_string();
    assert!(
        message.starts_with("cannot read configuration file /nonexistent/kiosk.toml"),
        "{message}"
    );
    assert!(message.contains("check the path"), "{message}");
}
