//! The `registry` command line as an operator meets it, through the real binary: its version,
//! key generation (private files 0600, never overwritten), terminal registration into a SQLite
//! store, the review of a record flagged with a chain gap, and the refusals that protect a
//! deployment (plain HTTP off loopback). The kiosk's end-to-end tests against a serving registry
//! are in `tests/kiosk/` at the workspace root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use enroll_crypto::records::TerminalSigningKey;

fn registry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registry"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn it_reports_its_version() {
    let output = registry(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout),
        format!("registry {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn keygen_writes_private_keys_only_the_registry_can_read_and_never_overwrites_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let output = registry(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for name in ["registry-sealing", "registry-receipt"] {
        assert_eq!(mode(&out.join(format!("{name}.key"))), 0o600, "{name}.key");
        assert!(out.join(format!("{name}.pub")).is_file(), "{name}.pub");
    }
    let before = std::fs::read(out.join("registry-receipt.key")).unwrap();

    let again = registry(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("registry-sealing"),
        "names the file: {stderr}"
    );
    assert_eq!(
        std::fs::read(out.join("registry-receipt.key")).unwrap(),
        before,
        "the existing key is untouched"
    );
}

#[test]
fn a_terminal_is_registered_in_a_sqlite_store_and_a_bad_key_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let public = dir.path().join("terminal-signing.pub");
    std::fs::write(
        &public,
        TerminalSigningKey::from_seed([4; 32]).public().to_pem(),
    )
    .unwrap();
    let added = registry(&[
        "terminal",
        "add",
        "--db",
        &db,
        "--id",
        "KIOSK-0042",
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(
        text(&added.stdout).contains("terminal KIOSK-0042 registered"),
        "{}",
        text(&added.stdout)
    );

    let garbage = dir.path().join("garbage.pub");
    std::fs::write(&garbage, "not a key").unwrap();
    let refused = registry(&[
        "terminal",
        "add",
        "--db",
        &db,
        "--id",
        "KIOSK-0043",
        "--public-key",
        garbage.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("PEM"), "says what is wrong: {stderr}");

    let flagged = registry(&["flagged", "--db", &db]);
    assert!(flagged.status.success(), "{}", text(&flagged.stderr));
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    assert!(
        registry(&["keygen", "--out", keys.to_str().unwrap()])
            .status
            .success()
    );
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let output = registry(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--db",
        &db,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("loopback") || stderr.contains("TLS") || stderr.contains("tls"),
        "says why and what to do: {stderr}"
    );
}

#[test]
fn a_record_flagged_with_a_chain_gap_is_accepted_by_a_named_reviewer_once() {
    use enroll_core::domain::time::UnixMs;
    use enroll_registry::storage::{Incoming, SqliteStorage, Storage as _};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite");
    let storage = SqliteStorage::open(&path).unwrap();
    storage.add_terminal("T-1", [7; 32], UnixMs(1)).unwrap();
    let id = "0190f000-0000-7000-8000-000000000002";
    storage
        .ingest(
            &Incoming {
                id,
                terminal_id: "T-1",
                body: b"{}",
                body_sha256: "b",
                // Not the chain start: the terminal's first record arrives after a gap.
                previous_record_sha256: "a-record-that-never-arrived",
                signature: &[0; 64],
                sealed_payload: b"sealed",
                received_at_unix_ms: UnixMs(2),
            },
            &|_| b"receipt".to_vec(),
        )
        .unwrap();
    drop(storage);
    let db = format!("sqlite:{}", path.display());
    let flagged = registry(&["flagged", "--db", &db]);
    assert_eq!(text(&flagged.stdout), format!("{id}\n"));

    let nameless = registry(&["review", id, "--db", &db, "--by", " "]);
    assert!(!nameless.status.success());
    assert!(text(&nameless.stderr).contains("--by must name who reviewed"));
    let accepted = registry(&["review", id, "--db", &db, "--by", "auditor-1"]);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    assert!(registry(&["flagged", "--db", &db]).stdout.is_empty());
    let again = registry(&["review", id, "--db", &db, "--by", "auditor-2"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("is not a record waiting for review"),
        "{}",
        text(&again.stderr)
    );
}
