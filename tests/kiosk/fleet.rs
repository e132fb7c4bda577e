//! A fleet the registry controls, through the real binaries over loopback: records of version 3
//! name nobody on the terminal (the identity fields travel sealed), so once a record is delivered
//! and past retention the terminal's files hold nothing that identifies the person.
//!
//! The card is tests/fixtures/card-read-resident.json (the SAM emulator's fictitious sample card:
//! 张三, 11010519491231002X, born 1949-12-31, 北京市东城区景山前街4号).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;

use crate::common::terminal::text;
use crate::virtual_id::{Deployment, registry};

use enroll_core::domain::document::DocumentKind;
use enroll_core::domain::record::RecordBody;

const NAME: &str = "张三";
const DOCUMENT_NUMBER: &str = "11010519491231002X";
const BIRTH: &str = "1949-12-31";

/// The byte strings that would give the applicant away, in every form a file could hold them.
fn personal_needles() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("name", NAME.as_bytes().to_vec()),
        ("name (JSON escape)", b"\\u5f20\\u4e09".to_vec()),
        ("address", "景山前街".as_bytes().to_vec()),
        ("document number", DOCUMENT_NUMBER.as_bytes().to_vec()),
        ("birth date", BIRTH.as_bytes().to_vec()),
        ("birth date (digits)", b"19491231".to_vec()),
    ]
}

fn assert_names_nobody(what: &str, bytes: &[u8]) {
    for (field, needle) in personal_needles() {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
            "{what} carries the applicant's {field}"
        );
    }
}

fn set_retention_days(config: &Path, days: u32) {
    let text = std::fs::read_to_string(config).unwrap();
    let changed = text.replace(
        "sealed_payload_days = 30",
        &format!("sealed_payload_days = {days}"),
    );
    assert_ne!(changed, text);
    std::fs::write(config, changed).unwrap();
}

#[test]
fn a_version_3_record_is_opened_by_the_registry_and_leaves_nothing_personal_on_the_terminal() {
    let deployment = Deployment::start("self-service");
    let terminal = &deployment.terminal;
    set_retention_days(&terminal.dir.path().join("kiosk.toml"), 0);
    // The outbox exists before the enrollment, and a reader holds it open throughout, so the
    // kiosk's last connection does not fold the write-ahead log away: the WAL is read as written.
    assert!(terminal.run(&["queue", "status"]).status.success());
    let outbox = terminal.outbox_path();
    let reader = rusqlite::Connection::open(&outbox).unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
        .unwrap();

    let ids = deployment.enroll_and_sync(1);
    let id = &ids[0];

    // The body is version 3: the document's kind, no document.
    let body: Vec<u8> = reader
        .query_row("SELECT body FROM records WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .unwrap();
    let record = RecordBody::from_bytes(&body).unwrap();
    assert_eq!(record.version, 3);
    assert!(record.document.is_none());
    assert_eq!(record.document_kind, Some(DocumentKind::CnResident));
    assert_eq!(record.card_evidence.ef_sod_sha256, None);
    assert_names_nobody("the signed body", &body);

    // The registry opened the payload (the identity above was issued from it) and has the
    // identity fields there.
    let opened = registry(&[
        "open",
        id,
        "--db",
        &deployment.db,
        "--keys",
        &deployment.keys(),
    ]);
    assert!(opened.status.success(), "{}", text(&opened));
    let content: serde_json::Value = serde_json::from_slice(&opened.stdout).unwrap();
    assert_eq!(content["document"]["name"], NAME);
    assert_eq!(content["document"]["document_number"], DOCUMENT_NUMBER);
    assert_eq!(content["document"]["birth"], BIRTH);

    // The next sync finds the receipt verified and retention (0 days) passed: the sealed
    // payload goes.
    let sync = terminal.sync_once(&deployment.url);
    assert!(sync.status.success(), "{}", text(&sync));
    let payload: Option<Vec<u8>> = reader
        .query_row(
            "SELECT sealed_payload FROM records WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        payload, None,
        "the sealed payload is deleted after retention"
    );

    let bundle = terminal.dir.path().join("diag.tar.gz");
    let made = terminal.run(&["diag", "bundle", "--out", bundle.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));

    let wal = outbox.with_extension("sqlite-wal");
    assert!(wal.exists(), "the reader kept the WAL in place");
    assert_names_nobody("the outbox file", &std::fs::read(&outbox).unwrap());
    assert_names_nobody("the outbox's WAL", &std::fs::read(&wal).unwrap());
    let archive = std::fs::read(&bundle).unwrap();
    assert_names_nobody("the diagnostic bundle", &archive);
    for (name, bytes) in crate::diag::unpack(&archive) {
        assert_names_nobody(&name, &bytes);
    }
    let reference =
        enroll_core::domain::reference::ShortReference::of(&id.parse().unwrap()).grouped();
    for listing in [
        vec!["queue", "list"],
        vec!["queue", "show", &reference],
        vec!["queue", "status", "--json"],
        vec!["diag", "--json"],
    ] {
        let shown = terminal.run(&listing);
        assert_names_nobody(&listing.join(" "), &[shown.stdout, shown.stderr].concat());
    }
}
