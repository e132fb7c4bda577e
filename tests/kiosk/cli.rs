//! The `kiosk` and `registry` binaries as an integrator uses them: exit codes and what they print.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use common::terminal::text;

use std::path::PathBuf;
use std::process::Command;

fn kiosk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command.env_remove("KIOSK_CONFIG");
    command
}

#[test]
fn config_check_says_ok_for_both_shipped_files() {
    for file in [
        "kiosk-config/kiosk.toml",
        "kiosk-config/demo.toml",
        "kiosk-config/demo-officer.toml",
    ] {
        let output = kiosk().args(["config", "check", file]).output().unwrap();
        assert!(
            output.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
    }
}

#[test]
fn config_check_without_a_file_checks_the_default_configuration() {
    let output = kiosk().args(["config", "check"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
}

#[test]
fn config_check_of_a_broken_copy_fails_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let broken: PathBuf = dir.path().join("kiosk.toml");
    let text =
        include_str!("../../kiosk-config/kiosk.toml").replace("baud = 115200", "baud = 12345");
    std::fs::write(&broken, text).unwrap();

    let output = kiosk()
        .args(["config", "check"])
        .arg(&broken)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("card_reader.baud: 12345 is not supported"),
        "{stderr}"
    );
    assert!(stderr.contains(&broken.display().to_string()), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn run_with_a_broken_configuration_refuses_to_start_and_says_why() {
    let output = kiosk()
        .args(["run", "--config", "/nonexistent/kiosk.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the kiosk cannot start"), "{stderr}");
    assert!(stderr.contains("/nonexistent/kiosk.toml"), "{stderr}");
}

#[test]
fn both_binaries_report_their_version() {
    let version = format!("{}\n", env!("CARGO_PKG_VERSION"));
    let output = kiosk().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("kiosk {version}")
    );
    let output = Command::new(common::registry_exe())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("registry {version}")
    );
}

// ---- run from the source tree without --config (the production example is found, with its
// paths under /var and /usr) ----

/// Run from the source tree without `--config`, a one-off command (here checking the demo's
/// configuration) finds the production example, whose log file under /var/lib is not there, and
/// must not open with a warning about it.
#[test]
fn a_one_off_command_does_not_warn_about_a_log_file_it_cannot_open() {
    let output = kiosk()
        .args(["config", "check", "kiosk-config/demo.toml"])
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success() && said.starts_with("ok"), "{said}");
    assert!(
        !said.contains("log file") && !said.contains("log_file"),
        "{said}"
    );
}

#[test]
fn missing_face_models_name_the_pack_the_configuration_and_the_remedy() {
    // A packs folder holding the open pack's manifest and engine file but none of its models.
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("packs/open");
    std::fs::create_dir_all(&pack).unwrap();
    for file in ["pack.toml", "engine.toml"] {
        std::fs::copy(
            common::root().join("assets/models/packs/open").join(file),
            pack.join(file),
        )
        .unwrap();
    }
    let config = dir.path().join("kiosk.toml");
    std::fs::write(
        &config,
        include_str!("../../kiosk-config/kiosk.toml")
            .replace("\"../assets/models/packs\"", "\"packs\""),
    )
    .unwrap();
    let output = kiosk()
        .arg("--config")
        .arg(&config)
        .args(["face", "analyze", "assets/selftest/astronaut.jpg"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = text(&output);
    assert!(said.contains("the pack \"open\""), "{said}");
    assert!(said.contains(&config.display().to_string()), "{said}");
    assert!(said.contains("scripts/setup.sh"), "{said}");
    assert!(said.contains("seeta_fd_frontal_v1.0.bin"), "{said}");
}
