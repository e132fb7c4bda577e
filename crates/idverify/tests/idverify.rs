//! `idverify` as a verifier meets it, through the real binary and a state directory written here
//! (a root made per run, its trust list, a status list): offline verification with exit codes
//! 0/1/2, a photo, the clock floor, refusals of stored lists that no longer verify, and what it
//! logs. Syncing over HTTP from a registry is tested end to end in `tests/kiosk/virtual_id.rs`.
//! This suite also makes a workspace test build produce the binary those tests run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;
use std::process::{Command, Output};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use enroll_credential::status::{StatusList, StatusListToken, list_uri};
use enroll_credential::trust::TrustList;
use enroll_credential::{
    IdentityClaims, KeyRole, Profile, Sex, StatusRef, Tier, TokenClaims, qr, token,
};

const REGISTRY: &str = "http://127.0.0.1:9";
/// 2026-12-07T10:00:00+08:00.
const NOW: i64 = 1_796_608_800;

fn key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

/// A verifier's state directory synced at `lists_at`, and the key that signs strict tokens.
struct Synced {
    dir: tempfile::TempDir,
    strict: SigningKey,
    status: SigningKey,
}

impl Synced {
    fn new(lists_at: i64, revoked: &[u32]) -> Synced {
        let dir = tempfile::tempdir().unwrap();
        let (root, strict, status) = (key(), key(), key());
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("status-lists")).unwrap();
        std::fs::write(
            state.join("root.pub"),
            root.verifying_key()
                .to_public_key_pem(Default::default())
                .unwrap(),
        )
        .unwrap();
        let from = NOW - 30 * 86_400;
        let trust = TrustList {
            sequence: 1,
            issued_at_unix_s: lists_at - 3_600,
            registry_url: REGISTRY.into(),
            keys: vec![
                TrustList::entry(strict.verifying_key().to_bytes(), KeyRole::Strict, from, 90),
                TrustList::entry(status.verifying_key().to_bytes(), KeyRole::Status, from, 90),
            ],
        };
        std::fs::write(state.join("trust-list.cbor"), trust.sign(&root).unwrap()).unwrap();
        let synced = Synced {
            dir,
            strict,
            status,
        };
        synced.write_status_list(lists_at, revoked);
        synced
    }

    fn write_status_list(&self, issued_at: i64, revoked: &[u32]) {
        let mut list = StatusList::new();
        for index in revoked {
            list.revoke(*index);
        }
        let signed = StatusListToken {
            uri: list_uri(REGISTRY, 0),
            issued_at_unix_s: issued_at,
            expires_unix_s: issued_at + 25 * 3_600,
            ttl_s: 3_600,
            list,
        }
        .sign(&self.status)
        .unwrap();
        std::fs::write(self.state().join("status-lists/0.cbor"), signed).unwrap();
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn token(&self, profile: Profile) -> String {
        token::issue(
            &TokenClaims {
                issuer: REGISTRY.into(),
                issued_at_unix_s: NOW - 86_400,
                not_before_unix_s: NOW - 10 * 3_600 - 600,
                expires_unix_s: NOW + 16 * 3_600,
                cti: [5; 16],
                status: Some(StatusRef {
                    uri: list_uri(REGISTRY, 0),
                    index: 77,
                }),
                identity: IdentityClaims {
                    handle: "0123456789abcdef0123".into(),
                    tier: Tier::Strict,
                    profile,
                    age_over_18: true,
                    face_jpeg: vec![0xff, 0xd8, 0xff, 0xd9],
                    full_name: (profile == Profile::CheckIn).then(|| "ZHANG San".into()),
                    birth_yyyymmdd: (profile == Profile::CheckIn).then(|| "19900101".into()),
                    sex: (profile == Profile::CheckIn).then_some(Sex::Male),
                    region: None,
                },
            },
            &self.strict,
        )
        .unwrap()
    }

    fn idverify(&self, args: &[&str]) -> Output {
        idverify_in(&self.state(), args)
    }
}

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
    assert_eq!(std::fs::read(face).unwrap(), vec![0xff, 0xd8, 0xff, 0xd9]);
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
