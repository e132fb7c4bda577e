//! A fleet the registry controls, through the real binaries over loopback: records of version 3
//! name nobody on the terminal (the identity fields travel sealed), so once a record is delivered
//! and past retention the terminal's files hold nothing that identifies the person; the officer
//! roster comes from the registry, signed, and a terminal refuses a replayed or tampered one.
//!
//! The card is tests/fixtures/card-read-resident.json (the SAM emulator's fictitious sample card:
//! 张三, 11010519491231002X, born 1949-12-31, 北京市东城区景山前街4号).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::Path;
use std::process::{Command, Output};

use crate::common::terminal::text;
use crate::virtual_id::{Deployment, registry};

use enroll_core::domain::document::DocumentKind;
use enroll_core::domain::officer::{PinOutcome, Role};
use enroll_core::domain::record::RecordBody;
use enroll_core::domain::roster::RosterRefusal;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::DocumentTagKey;
use enroll_kiosk::officers::OfficerList;
use enroll_protocol::{FleetAnswer, SignedRoster};
use enroll_store::{FleetItem, Outbox};
use enroll_sync::{FleetError, take_fleet_answer};

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

/// `registry ARGS` with `stdin` piped in (a PIN).
fn registry_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(crate::common::registry_exe());
    command.args(args);
    crate::common::output_with_stdin(command, stdin)
}

/// The terminal's configuration switched to the registry's roster (and no officer file).
fn use_registry_roster(config: &Path) {
    let text: String = std::fs::read_to_string(config)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("officers_file"))
        .map(|line| format!("{line}\n"))
        .collect();
    let changed = text.replace("[terminal]\n", "[terminal]\nofficers_from = \"registry\"\n");
    assert_ne!(changed, text);
    std::fs::write(config, changed).unwrap();
}

fn kept_roster_bytes(outbox: &Path) -> Vec<u8> {
    Outbox::open(outbox)
        .unwrap()
        .fleet_item(FleetItem::Roster)
        .unwrap()
        .expect("a roster is kept")
}

#[test]
fn the_registry_roster_reaches_the_terminal_a_disable_applies_in_one_sync_and_replays_or_tampering_are_refused()
 {
    let deployment = Deployment::start("officer");
    let terminal = &deployment.terminal;
    let config = terminal.dir.path().join("kiosk.toml");
    use_registry_roster(&config);
    let db = deployment.db.as_str();
    for (badge, role, terminal_id, pin) in [
        ("B-7001", "supervisor", "DEMO-0001", "482916"),
        ("B-9001", "officer", "OTHER-0001", "730265"),
    ] {
        let added = registry_with_stdin(
            &[
                "officer",
                "add",
                "--db",
                db,
                "--badge",
                badge,
                "--role",
                role,
                "--terminal",
                terminal_id,
            ],
            &format!("{pin}\n"),
        );
        assert!(added.status.success(), "{}", text(&added));
    }
    let listed = registry(&["officer", "list", "--db", db, "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["serial"], 2);
    assert!(
        !listed.to_string().contains("argon2"),
        "the listing shows no hash"
    );

    // Before any sync nobody can sign in: the terminal keeps no roster yet.
    let registry_key = terminal.receipt_key().public();
    let outbox = terminal.outbox_path();
    let officers = OfficerList::from_roster(&outbox, registry_key);
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::UnknownBadge
    );

    let sync = terminal.sync_once(&deployment.url);
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(
        text(&sync).contains("officer roster serial 2 (updated)"),
        "{}",
        text(&sync)
    );
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::Correct(Role::Supervisor)
    );
    assert_eq!(officers.check_pin("B-7001", "000000"), PinOutcome::Wrong);
    assert_eq!(
        officers.check_pin("B-9001", "730265"),
        PinOutcome::UnknownBadge,
        "a badge for another terminal is not on this terminal's roster"
    );
    let listing = terminal.run(&["officer", "list"]);
    assert!(text(&listing).contains("B-7001"), "{}", text(&listing));
    assert!(!text(&listing).contains("B-9001"), "{}", text(&listing));
    let local_add = terminal.run(&["officer", "add", "--badge", "B-1"]);
    assert!(!local_add.status.success());
    assert!(
        text(&local_add).contains("registry officer add"),
        "{}",
        text(&local_add)
    );

    // The document-tag key came too: the next records carry a tag, the same for the same card.
    let tag_key =
        std::fs::read_to_string(Path::new(&deployment.keys()).join("document-tag.key")).unwrap();
    let tag_key = DocumentTagKey::from_hex(&tag_key).unwrap();
    let ids = terminal.enroll(2);
    let rows = terminal.outbox_rows();
    let tags: Vec<_> = rows
        .iter()
        .filter(|(id, ..)| ids.contains(id))
        .map(|(_, body, ..)| RecordBody::from_bytes(body).unwrap().document_tag.unwrap())
        .collect();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0], tags[1]);
    assert_eq!(tags[0].key_id, tag_key.id());
    assert_eq!(
        Some(tags[0].clone()),
        tag_key.tag(DocumentKind::CnResident, DOCUMENT_NUMBER)
    );

    // A disable at the registry: refused here after one sync.
    let before_disable = kept_roster_bytes(&outbox);
    let disabled = registry(&["officer", "disable", "--db", db, "--badge", "B-7001"]);
    assert!(disabled.status.success(), "{}", text(&disabled));
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::Correct(Role::Supervisor),
        "until the sync, the kept copy is in force"
    );
    let sync = terminal.sync_once(&deployment.url);
    assert!(
        text(&sync).contains("officer roster serial 3 (updated)"),
        "{}",
        text(&sync)
    );
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::UnknownBadge
    );

    // The older roster replayed (as an attacker between terminal and registry would): refused,
    // and the badge stays disabled.
    let after_disable = kept_roster_bytes(&outbox);
    let older: SignedRoster = serde_json::from_slice(&before_disable).unwrap();
    let kept_outbox = Outbox::open(&outbox).unwrap();
    let answer = |roster: SignedRoster| FleetAnswer {
        roster,
        document_tag_key_hex: None,
    };
    let replayed = take_fleet_answer(
        &kept_outbox,
        "DEMO-0001",
        &registry_key,
        &answer(older),
        UnixMs(1),
    );
    assert!(
        matches!(
            replayed,
            Err(FleetError::Roster(RosterRefusal::Older {
                offered: 2,
                kept: 3
            }))
        ),
        "{replayed:?}"
    );
    assert_eq!(kept_roster_bytes(&outbox), after_disable);

    // The current roster with the badge switched back on and the serial raised, signature kept:
    // refused, the last good copy kept.
    let current: SignedRoster = serde_json::from_slice(&after_disable).unwrap();
    let bytes =
        enroll_core::domain::document::base64_bytes::decode(&current.roster_base64).unwrap();
    let edited = String::from_utf8(bytes)
        .unwrap()
        .replace("\"disabled\":true", "\"disabled\":false")
        .replace("\"serial\":3", "\"serial\":4");
    let tampered = SignedRoster {
        roster_base64: enroll_core::domain::document::base64_bytes::encode(edited.as_bytes()),
        signature_base64: current.signature_base64.clone(),
    };
    let taken = take_fleet_answer(
        &kept_outbox,
        "DEMO-0001",
        &registry_key,
        &answer(tampered),
        UnixMs(1),
    );
    assert!(
        matches!(taken, Err(FleetError::Roster(RosterRefusal::BadSignature))),
        "{taken:?}"
    );
    assert_eq!(kept_roster_bytes(&outbox), after_disable);
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::UnknownBadge
    );

    // A revoked terminal gets no roster any more (403), and keeps the last one it took.
    let revoked = registry(&[
        "terminal",
        "revoke",
        "--db",
        db,
        "--id",
        "DEMO-0001",
        "--reason",
        "stolen",
    ]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let sync = terminal.sync_once(&deployment.url);
    assert!(
        text(&sync).contains("officer roster not refreshed")
            && text(&sync).contains("403")
            && text(&sync).contains("revoked"),
        "{}",
        text(&sync)
    );
    assert_eq!(kept_roster_bytes(&outbox), after_disable);

    // A roster written into the outbox behind the kiosk's back is not believed either.
    drop(kept_outbox);
    let connection = rusqlite::Connection::open(&outbox).unwrap();
    connection
        .execute(
            "UPDATE fleet_state SET value = ?1 WHERE name = 'roster'",
            [serde_json::to_vec(&SignedRoster {
                roster_base64: enroll_core::domain::document::base64_bytes::encode(
                    edited.as_bytes(),
                ),
                signature_base64: current.signature_base64,
            })
            .unwrap()],
        )
        .unwrap();
    assert_eq!(
        officers.check_pin("B-7001", "482916"),
        PinOutcome::UnknownBadge
    );
}
