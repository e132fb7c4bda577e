//! `idverify` as a verifier meets it, through the real binary and a state directory written here
//! (a root made per run, its trust list, a status list): offline verification with exit codes
//! 0/1/2, a photo, the clock floor, refusals of stored lists that no longer verify, and what it
//! logs. Syncing over HTTP from a registry is tested end to end in `tests/kiosk/virtual_id.rs`.
//! This suite also makes a workspace test build produce the binary those tests run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;
use std::process::{Command, Output};

use enroll_credential::{Profile, qr};

mod support;
use support::{NOW, Synced};

fn idverify_in(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idverify"))
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

const AT_NOW: &str = "2026-12-07T10:00:00+08:00";

#[test]
fn a_valid_token_exits_zero_and_shows_what_the_profile_discloses() {
    let synced = Synced::new(NOW - 3_600, &[]);
    let check_in = synced.idverify(&["verify", &synced.token(Profile::CheckIn), "--now", AT_NOW]);
    assert_eq!(check_in.status.code(), Some(0), "{}", text(&check_in));
    let shown = text(&check_in);
    assert!(
        shown.starts_with("VALID: strict tier, check-in profile"),
        "{shown}"
    );
    assert!(
        shown.contains("ZHANG San") && shown.contains("Compare the face"),
        "{shown}"
    );
    let basic = synced.idverify(&[
        "verify",
        &synced.token(Profile::Basic),
        "--now",
        AT_NOW,
        "--json",
    ]);
    assert_eq!(basic.status.code(), Some(0), "{}", text(&basic));
    let json: serde_json::Value = serde_json::from_slice(&basic.stdout).unwrap();
    assert_eq!(json["outcome"], "valid");
    assert_eq!(json["token"]["full_name"], serde_json::Value::Null);
}

#[test]
fn a_token_in_a_photo_is_found_and_its_face_written_for_the_clerk() {
    let synced = Synced::new(NOW - 3_600, &[]);
    let code = qr::render(&synced.token(Profile::Basic), qr::Medium::Screen, 4).unwrap();
    let photo = synced.dir.path().join("code.png");
    let image =
        image::GrayImage::from_raw(code.width as u32, code.height as u32, code.pixels).unwrap();
    image.save(&photo).unwrap();
    let face = synced.dir.path().join("face.jpg");
    let output = synced.idverify(&[
        "verify",
        photo.to_str().unwrap(),
        "--now",
        AT_NOW,
        "--face-out",
        face.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(std::fs::read(face).unwrap(), support::face_jpeg());
    let blank = synced.dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let none = synced.idverify(&["verify", blank.to_str().unwrap()]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(
        text(&none).contains("no QR code could be read"),
        "{}",
        text(&none)
    );
}

#[test]
fn a_revoked_token_exits_one_with_its_reason_and_the_log_keeps_no_name() {
    let synced = Synced::new(NOW - 3_600, &[77]);
    let output = synced.idverify(&["verify", &synced.token(Profile::CheckIn), "--now", AT_NOW]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        text(&output).trim(),
        "INVALID: the token has been revoked (revoked)"
    );
    let log = std::fs::read_to_string(synced.state().join("verifications.log")).unwrap();
    assert!(
        log.contains("\"reason\":\"revoked\"") && log.contains("cti_sha256_prefix"),
        "{log}"
    );
    assert!(
        !log.contains("ZHANG") && !log.contains("0123456789abcdef0123"),
        "{log}"
    );
}

#[test]
fn a_stale_status_list_means_a_strict_token_cannot_be_checked() {
    let synced = Synced::new(NOW - 30 * 3_600, &[]);
    let output = synced.idverify(&[
        "verify",
        &synced.token(Profile::Basic),
        "--now",
        AT_NOW,
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["reason"], "status-list-stale");
}

#[test]
fn a_clock_set_back_is_lifted_to_the_newest_list_held() {
    let synced = Synced::new(NOW - 3_600, &[]);
    // A day before the token's day: the verifier's clock is wrong, the lists say otherwise.
    let output = synced.idverify(&[
        "verify",
        &synced.token(Profile::Basic),
        "--now",
        "2026-12-06T10:00:00+08:00",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("clock is 82800 s behind"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_stored_list_that_no_longer_verifies_stops_the_check_with_what_to_do() {
    let synced = Synced::new(NOW - 3_600, &[]);
    let path = synced.state().join("status-lists/0.cbor");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let output = synced.idverify(&["verify", &synced.token(Profile::Basic), "--now", AT_NOW]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("0.cbor no longer verifies")
            && text(&output).contains("status sync"),
        "{}",
        text(&output)
    );
}

#[test]
fn without_synced_lists_nothing_can_be_checked_and_the_message_says_how_to_sync() {
    let empty = tempfile::tempdir().unwrap();
    let output = idverify_in(empty.path(), &["verify", "6BF-NOT-A-TOKEN"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("idverify trust sync URL --root-key"),
        "{}",
        text(&output)
    );
    let sync = idverify_in(empty.path(), &["trust", "sync", "http://127.0.0.1:9"]);
    assert_eq!(sync.status.code(), Some(2));
    assert!(
        text(&sync).contains("no root key is pinned yet"),
        "{}",
        text(&sync)
    );
}

#[test]
fn inspect_reads_a_token_without_judging_it_and_names_what_is_not_a_token() {
    let synced = Synced::new(NOW - 3_600, &[]);
    let token = synced.token(Profile::Basic);
    let output = synced.idverify(&["inspect", &token]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let kid = enroll_credential::Kid::of(&synced.strict.verifying_key().to_bytes());
    assert!(
        text(&output).contains(&format!("signed by kid      {kid}")),
        "{}",
        text(&output)
    );
    let garbage = synced.idverify(&["inspect", "hello, world"]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(
        text(&garbage).contains("not readable: the text is not Base45 (not-base45)"),
        "{}",
        text(&garbage)
    );
}
