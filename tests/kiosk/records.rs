//! Signed, sealed enrollment records in the SQLite outbox, as an integrator drives them through
//! `kiosk keygen`, `registry keygen`, `kiosk enroll`, `kiosk queue` and `kiosk audit`: what is
//! stored verifies, any change to it is caught, the registry alone opens the biometrics, guards
//! refuse with a reason, and a damaged file is reported, not panicked on.
//!
//! Keys are generated per test; the card read is `tests/fixtures/card-read-resident.json` (the SAM
//! emulator's fictitious sample card) and faces are LFW fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use enroll_core::domain::record::{RecordBody, RecordId, SealedContent};
use enroll_crypto::records::SealingPrivateKey;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PERSON: &str = "tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg";
const SAME_PERSON: &str = "tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg";
const OTHER_PERSON: &str = "tests/fixtures/faces/Amber_Tamblyn_0001.jpg";

/// A terminal in a temporary directory: its own keys, the registry's keys, an outbox.
struct Terminal {
    dir: tempfile::TempDir,
}

impl Terminal {
    fn new() -> Terminal {
        Terminal::with(|text| text)
    }

    /// A terminal whose demo.toml-based configuration is changed by `edit`.
    fn with(edit: impl Fn(String) -> String) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        assert!(
            kiosk(&["keygen", "--out", keys.to_str().unwrap()])
                .status
                .success()
        );
        let registry = Command::new(common::registry_exe())
            .args(["keygen", "--out", keys.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            registry.status.success(),
            "{}",
            String::from_utf8_lossy(&registry.stderr)
        );
        let demo = std::fs::read_to_string(root().join("kiosk-config/demo.toml")).unwrap();
        let text = demo
            .replace(
                "demo-keys/terminal-signing.key",
                "keys/terminal-signing.key",
            )
            .replace(
                "demo-keys/registry-sealing.pub",
                "keys/registry-sealing.pub",
            )
            .replace(
                "demo-keys/registry-receipt.pub",
                "keys/registry-receipt.pub",
            )
            .replace("../target/demo/outbox.sqlite", "outbox/outbox.sqlite")
            .replace(
                "packs_dir = \"../assets/models/packs\"",
                &format!(
                    "packs_dir = \"{}\"",
                    root().join("assets/models/packs").display()
                ),
            );
        assert_ne!(text, demo);
        std::fs::write(dir.path().join("kiosk.toml"), edit(text)).unwrap();
        Terminal { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("kiosk.toml")
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("outbox/outbox.sqlite")
    }

    fn run(&self, args: &[&str]) -> Output {
        let config = self.config();
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        kiosk(&all)
    }

    /// Enrolls `count` records of the fixture card with `portrait`; returns the printed ids.
    fn enroll(&self, portrait: &str, count: u32) -> Output {
        self.run(&[
            "enroll",
            "--document",
            root()
                .join("tests/fixtures/card-read-resident.json")
                .to_str()
                .unwrap(),
            "--portrait",
            root().join(portrait).to_str().unwrap(),
            "--card-photo",
            root().join(SAME_PERSON).to_str().unwrap(),
            "--count",
            &count.to_string(),
        ])
    }

    fn enroll_ok(&self, count: u32) -> Vec<String> {
        let output = self.enroll(PERSON, count);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        ids(&output)
    }

    fn verify(&self) -> Output {
        self.run(&["queue", "verify"])
    }

    /// Runs SQL on the outbox behind the kiosk's back (an attacker or a broken disk).
    fn tamper(&self, sql: &str) {
        let connection = rusqlite::Connection::open(self.database()).unwrap();
        connection.execute_batch(sql).unwrap();
    }
}

fn kiosk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

fn ids(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let first = kiosk(&["keygen", "--out", out]);
    assert!(first.status.success());
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("-----BEGIN PUBLIC KEY-----"), "{printed}");
    assert!(printed.contains("fingerprint (SHA-256): "), "{printed}");
    let key = dir.path().join("terminal-signing.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&key).unwrap();

    let second = kiosk(&["keygen", "--out", out]);
    assert_eq!(second.status.code(), Some(1));
    assert!(text(&second).contains("already exists; keys are never overwritten"));
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn an_enrollment_is_printed_only_once_committed_and_verifies() {
    let terminal = Terminal::new();
    let ids = terminal.enroll_ok(3);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        id.parse::<RecordId>().unwrap();
    }
    let verify = terminal.verify();
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("ok: 3 records"));
    let audit = terminal.run(&["audit", "verify"]);
    assert!(audit.status.success(), "{}", text(&audit));
    let status = terminal.run(&["queue", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["pending"], 3);
    let list = terminal.run(&["queue", "list"]);
    let list = text(&list);
    for id in &ids {
        assert!(list.contains(id.as_str()), "{list}");
    }
    assert!(
        !list.contains("张三"),
        "the queue list shows no personal data"
    );
}

#[test]
fn the_record_carries_the_face_decision_and_only_the_registry_opens_the_biometrics() {
    let terminal = Terminal::new();
    let id = terminal.enroll_ok(1).remove(0);
    let connection = rusqlite::Connection::open(terminal.database()).unwrap();
    let (body, payload): (Vec<u8>, Vec<u8>) = connection
        .query_row("SELECT body, sealed_payload FROM records", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    let record = RecordBody::from_bytes(&body).unwrap();
    assert_eq!(record.id.to_string(), id);
    assert!(record.face.compared && record.face.is_match);
    assert!(record.face.score_cosine.unwrap() >= record.face.threshold_cosine);
    assert!(record.face.models_sha256.contains_key("feature"));
    assert_eq!(
        record.face.model_pack.as_deref(),
        Some("open"),
        "the record names the model pack the terminal ran"
    );
    assert_eq!(record.previous_record_sha256, "0".repeat(64));
    assert!(
        !String::from_utf8_lossy(&body).contains("/9j/"),
        "no JPEG in the clear body"
    );

    let (registry, _) = SealingPrivateKey::from_pem(
        &std::fs::read_to_string(terminal.dir.path().join("keys/registry-sealing.key")).unwrap(),
    )
    .unwrap();
    let plain = registry.open(&record.sealed, &record.id, &payload).unwrap();
    let content = SealedContent::from_bytes(&plain).unwrap();
    assert_eq!(content.record_id, record.id);
    let portrait = image::load_from_memory(&content.portrait_jpeg).unwrap();
    assert!(portrait.width() >= 240, "an ICAO token portrait");
    assert!(content.card_evidence.sam_text_block.is_some());
}

#[test]
fn a_flipped_bit_anywhere_in_a_stored_record_is_detected() {
    let terminal = Terminal::new();
    terminal.enroll_ok(3);
    let connection = rusqlite::Connection::open(terminal.database()).unwrap();
    connection
        .execute_batch("DROP TRIGGER records_bodies_are_immutable;")
        .unwrap();
    for column in ["body", "signature", "sealed_payload"] {
        let original: Vec<u8> = connection
            .query_row(
                &format!("SELECT {column} FROM records WHERE seq = 2"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let bits = original.len() * 8;
        // A spread of positions across the whole column, first and last bit included.
        for bit in (0..bits).step_by((bits / 7).max(1)).chain([bits - 1]) {
            let mut changed = original.clone();
            changed[bit / 8] ^= 1 << (bit % 8);
            let update = format!("UPDATE records SET {column} = ?1 WHERE seq = 2");
            connection.execute(&update, [&changed]).unwrap();
            let verify = terminal.verify();
            assert_eq!(
                verify.status.code(),
                Some(1),
                "{column} bit {bit}: {}",
                text(&verify)
            );
            assert!(text(&verify).contains("record 2"), "{}", text(&verify));
            connection.execute(&update, [&original]).unwrap();
        }
    }
    assert!(
        terminal.verify().status.success(),
        "restored records verify again"
    );
}

#[test]
fn a_deleted_record_breaks_the_chain_visibly() {
    let terminal = Terminal::new();
    let ids = terminal.enroll_ok(3);
    terminal.tamper("DROP TRIGGER records_are_never_deleted; DELETE FROM records WHERE seq = 2;");
    let verify = terminal.verify();
    assert_eq!(verify.status.code(), Some(1));
    let report = text(&verify);
    assert!(
        report.contains(&format!("record 3 ({})", ids[2])),
        "{report}"
    );
    assert!(report.contains("chain is broken"), "{report}");
}

#[test]
fn reordered_records_break_the_chain_visibly() {
    let terminal = Terminal::new();
    terminal.enroll_ok(3);
    terminal.tamper(
        "DROP TRIGGER records_bodies_are_immutable;
         UPDATE records SET seq = 10 WHERE seq = 2;
         UPDATE records SET seq = 2 WHERE seq = 3;
         UPDATE records SET seq = 3 WHERE seq = 10;",
    );
    let verify = terminal.verify();
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify).contains("chain is broken"),
        "{}",
        text(&verify)
    );
}

#[test]
fn the_database_refuses_to_change_or_delete_a_signed_record_or_an_audit_entry() {
    let terminal = Terminal::new();
    terminal.enroll_ok(1);
    let connection = rusqlite::Connection::open(terminal.database()).unwrap();
    for sql in [
        "UPDATE records SET body = x'00'",
        "DELETE FROM records",
        "UPDATE audit SET actor = 'someone'",
        "DELETE FROM audit",
    ] {
        let error = connection.execute_batch(sql).unwrap_err().to_string();
        assert!(
            error.contains("immutable")
                || error.contains("never deleted")
                || error.contains("append-only"),
            "{sql}: {error}"
        );
    }
}

#[test]
fn a_changed_audit_entry_breaks_the_audit_chain() {
    let terminal = Terminal::new();
    terminal.enroll_ok(2);
    terminal.tamper(
        "DROP TRIGGER audit_is_append_only_update;
         UPDATE audit SET actor = 'officer:someone-else' WHERE seq = 1;",
    );
    let audit = terminal.run(&["audit", "verify"]);
    assert_eq!(audit.status.code(), Some(1));
    assert!(text(&audit).contains("audit entry 1"), "{}", text(&audit));
}

#[test]
fn a_face_that_does_not_match_the_card_needs_a_supervisor() {
    let terminal = Terminal::new();
    let refused = terminal.enroll(OTHER_PERSON, 1);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("needs a supervisor's approval"),
        "{}",
        text(&refused)
    );
    assert!(
        ids(&refused).is_empty(),
        "no id is printed for a refused enrollment"
    );
    let status = terminal.run(&["queue", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["pending"], 0);
}

#[test]
fn too_many_unsent_records_pause_enrollment_with_the_reason() {
    let terminal =
        Terminal::with(|text| text.replace("max_unsent_records = 2000", "max_unsent_records = 2"));
    terminal.enroll_ok(2);
    let refused = terminal.enroll(PERSON, 1);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("2 records are waiting to be sent (at most 2 may wait)"),
        "{}",
        text(&refused)
    );
    assert!(terminal.verify().status.success());
}

#[test]
fn too_little_free_disk_pauses_enrollment_with_the_reason() {
    let terminal =
        Terminal::with(|text| text.replace("min_free_disk_mb = 100", "min_free_disk_mb = 1000000"));
    let refused = terminal.enroll(PERSON, 1);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("MB of disk is free and at least 1000000 MB"),
        "{}",
        text(&refused)
    );
}

#[test]
fn a_corrupted_database_gives_a_clear_error_at_start_up() {
    let terminal = Terminal::new();
    terminal.enroll_ok(2);
    let database = terminal.database();
    let mut bytes = std::fs::read(&database).unwrap();
    // Overwrite the header (the file signature and page size).
    bytes[..32].copy_from_slice(&[0xA5; 32]);
    std::fs::write(&database, &bytes).unwrap();
    for args in [
        &["queue", "status"][..],
        &["queue", "verify"],
        &["audit", "verify"],
    ] {
        let output = terminal.run(args);
        assert_eq!(output.status.code(), Some(1));
        let message = text(&output);
        assert!(message.contains("is damaged"), "{message}");
        assert!(message.contains("do not delete it"), "{message}");
        assert!(!message.contains("panicked"), "{message}");
    }
}

#[test]
fn a_damaged_page_inside_the_database_is_found_at_start_up() {
    let terminal = Terminal::new();
    terminal.enroll_ok(3);
    let database = terminal.database();
    let mut bytes = std::fs::read(&database).unwrap();
    // The page size is the big-endian u16 at offset 16 of the header (SQLite file format 1.3.2).
    let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(bytes.len() > 3 * page);
    // Scramble the second page (a b-tree page of the schema's tables).
    for byte in &mut bytes[page..page + 64] {
        *byte = 0xFF;
    }
    std::fs::write(&database, &bytes).unwrap();
    let output = terminal.run(&["queue", "status"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("is damaged"), "{}", text(&output));
}

#[test]
fn a_document_that_is_not_a_card_read_is_refused_clearly() {
    let terminal = Terminal::new();
    let bogus = terminal.dir.path().join("bogus.json");
    std::fs::write(&bogus, "{\"name\": \"x\"}").unwrap();
    let output = terminal.run(&[
        "enroll",
        "--document",
        bogus.to_str().unwrap(),
        "--portrait",
        root().join(PERSON).to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("is not the JSON of `kiosk card read --json`"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_private_key_others_can_read_is_refused() {
    let terminal = Terminal::new();
    let key: &Path = &terminal.dir.path().join("keys/terminal-signing.key");
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = terminal.enroll(PERSON, 1);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("chmod 600"), "{}", text(&output));
}
