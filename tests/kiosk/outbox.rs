//! The outbox's durability rules through the library, with time as an input: the age guard,
//! retention (crypto-shredding of sealed payloads), and a truly full disk (a small tmpfs) that
//! refuses with a clear reason and loses nothing. Keys are made per test from fixed seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;
use common::faults::{SmallDisk, fill};

use enroll_core::domain::record::{CHAIN_START, DocumentData, RecordEnvelope, RecordId};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{
    SealingPrivateKey, SealingPublicKey, TerminalSigningKey, seal, sha256_hex,
};
use enroll_protocol::{Rejection, verify_envelope};
use enroll_store::{GuardLimits, GuardRefusal, Outbox, StoreError};

const DAY_MS: i64 = 86_400_000;
/// 2026-09-21.
const T0_MS: UnixMs = UnixMs(1_790_000_000_000);

const ROOMY: GuardLimits = GuardLimits {
    min_free_disk_mb: 0,
    max_unsent_records: 1_000_000,
    max_unsent_age_days: 7,
};

struct Keys {
    terminal: TerminalSigningKey,
    registry: SealingPublicKey,
    _registry_private: SealingPrivateKey,
}

fn keys() -> Keys {
    let (registry_private, registry) = SealingPrivateKey::from_seed([11; 32]);
    Keys {
        terminal: TerminalSigningKey::from_seed([12; 32]),
        registry,
        _registry_private: registry_private,
    }
}

/// Every signature, digest and chain link of `outbox`'s records holds.
fn assert_intact(outbox: &Outbox, keys: &Keys) {
    let report = outbox.verify_records(&keys.terminal.public()).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
}

/// Commits one record created at `now_ms` with a payload of `payload_len` bytes.
fn commit(
    outbox: &mut Outbox,
    keys: &Keys,
    n: u8,
    now_ms: UnixMs,
    payload_len: usize,
    limits: &GuardLimits,
) -> Result<RecordId, StoreError> {
    common::commit_sample(
        outbox,
        &keys.terminal,
        &keys.registry,
        "test-01",
        n,
        now_ms,
        payload_len,
        limits,
    )
    .map(|committed| committed.id)
}

#[test]
fn the_oldest_unsent_record_pauses_enrollment_once_it_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    let keys = keys();
    commit(&mut outbox, &keys, 1, T0_MS, 1000, &ROOMY).unwrap();
    commit(&mut outbox, &keys, 2, T0_MS + 6 * DAY_MS, 1000, &ROOMY).unwrap();
    let error = commit(&mut outbox, &keys, 3, T0_MS + 7 * DAY_MS, 1000, &ROOMY).unwrap_err();
    match error {
        StoreError::Refused(GuardRefusal::UnsentTooOld { age_days, max_days }) => {
            assert_eq!((age_days, max_days), (7, 7));
        }
        other => panic!("expected the age guard, got {other}"),
    }
    // Once the old record is delivered, enrollment resumes.
    let first = outbox.list().unwrap()[0].id.parse::<RecordId>().unwrap();
    outbox
        .mark_acknowledged(&first, b"receipt", T0_MS + 7 * DAY_MS)
        .unwrap();
    commit(&mut outbox, &keys, 3, T0_MS + 7 * DAY_MS, 1000, &ROOMY).unwrap();
    assert_intact(&outbox, &keys);
}

#[test]
fn the_unsent_limit_counts_what_other_connections_enroll_and_deliver() {
    // The kiosk and, say, `kiosk enroll` or the sync worker each hold a connection to one file;
    // the kiosk's guard must see what the others changed since its last count.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut kiosk = Outbox::open(&path).unwrap();
    let mut other = Outbox::open(&path).unwrap();
    let keys = keys();
    let three = GuardLimits {
        max_unsent_records: 3,
        ..ROOMY
    };
    let first = commit(&mut kiosk, &keys, 1, T0_MS, 1000, &three).unwrap();
    let second = commit(&mut kiosk, &keys, 2, T0_MS + 1, 1000, &three).unwrap();
    commit(&mut other, &keys, 3, T0_MS + 2, 1000, &three).unwrap();
    match commit(&mut kiosk, &keys, 4, T0_MS + 3, 1000, &three).unwrap_err() {
        StoreError::Refused(GuardRefusal::TooManyUnsent { unsent, max }) => {
            assert_eq!((unsent, max), (3, 3));
        }
        other => panic!("expected the unsent-count guard, got {other}"),
    }
    other
        .mark_acknowledged(&first, b"receipt", T0_MS + 4)
        .unwrap();
    other
        .mark_acknowledged(&second, b"receipt", T0_MS + 4)
        .unwrap();
    commit(&mut kiosk, &keys, 4, T0_MS + 5, 1000, &three).unwrap();
    commit(&mut kiosk, &keys, 5, T0_MS + 6, 1000, &three).unwrap();
    match commit(&mut kiosk, &keys, 6, T0_MS + 7, 1000, &three).unwrap_err() {
        StoreError::Refused(GuardRefusal::TooManyUnsent { unsent, .. }) => assert_eq!(unsent, 3),
        other => panic!("expected the unsent-count guard, got {other}"),
    }
    assert_eq!(kiosk.list().unwrap().len(), 5);
    assert_intact(&kiosk, &keys);
}

#[test]
fn the_wal_is_checkpointed_when_the_kiosk_asks_after_4_mb_and_by_itself_only_at_16_mb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let mut outbox = Outbox::open(&path).unwrap();
    let keys = keys();
    let database_bytes = || std::fs::metadata(&path).unwrap().len();
    // 300 KB enrollments: about 24 WAL frames of 16 KiB (~0.4 MB) each.
    let enroll = |outbox: &mut Outbox, n: u8| {
        commit(outbox, &keys, n, T0_MS + i64::from(n), 300 * 1024, &ROOMY).unwrap();
    };
    let mut n = 1u8;
    enroll(&mut outbox, n);
    assert!(!outbox.checkpoint_if_due().unwrap(), "0.4 MB is not due");
    let before = database_bytes();
    while !outbox.checkpoint_if_due().unwrap() {
        n += 1;
        enroll(&mut outbox, n);
        assert!(n < 14, "4 MB of WAL must make a checkpoint due");
    }
    assert!(n >= 10, "a checkpoint ran after only {n} enrollments");
    assert!(
        database_bytes() > before + 3 * 1024 * 1024,
        "the checkpoint copied the records into the database file"
    );
    // A writer that never asks (say a script) still keeps the WAL bounded.
    let wal = dir.path().join("outbox.sqlite-wal");
    for _ in 0..80 {
        n += 1;
        enroll(&mut outbox, n);
        let wal_bytes = std::fs::metadata(&wal).unwrap().len();
        assert!(
            wal_bytes < 17 * 1024 * 1024,
            "WAL grew to {wal_bytes} bytes"
        );
    }
    drop(outbox);
    let outbox = Outbox::open(&path).unwrap();
    assert_eq!(outbox.list().unwrap().len(), usize::from(n));
    assert_intact(&outbox, &keys);
}

#[test]
fn retention_deletes_only_acknowledged_payloads_past_their_time_and_the_records_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    let keys = keys();
    let acknowledged = commit(&mut outbox, &keys, 1, T0_MS, 50_000, &ROOMY).unwrap();
    commit(&mut outbox, &keys, 2, T0_MS, 50_000, &ROOMY).unwrap();
    outbox
        .mark_acknowledged(&acknowledged, b"receipt", T0_MS + DAY_MS)
        .unwrap();

    assert_eq!(
        outbox.apply_retention(T0_MS + 30 * DAY_MS, 30).unwrap(),
        0,
        "not yet"
    );
    assert_eq!(outbox.apply_retention(T0_MS + 31 * DAY_MS, 30).unwrap(), 1);
    let list = outbox.list().unwrap();
    assert_eq!(
        list[0].sealed_payload_bytes, None,
        "acknowledged payload deleted"
    );
    assert!(
        list[1].sealed_payload_bytes.is_some(),
        "an unsent payload is kept"
    );
    let status = outbox.status().unwrap();
    assert_eq!(status.payloads_deleted, 1);
    assert_intact(&outbox, &keys);
    let actions: Vec<String> = outbox
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["enroll", "enroll", "retention-delete"]);
}

#[test]
fn a_newer_schema_is_refused_with_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    drop(Outbox::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let error = Outbox::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::TooNew { version: 99, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("install the kiosk version that wrote it")
    );
}

#[test]
fn a_full_disk_refuses_the_enrollment_clearly_loses_nothing_and_recovers_when_space_returns() {
    let disk = SmallDisk::new(2048);
    let database = disk.path("outbox.sqlite");
    let keys = keys();
    let mut committed = Vec::new();
    {
        let mut outbox = Outbox::open(&database).unwrap();
        // No floor: the file system itself runs out (the guard is tested below and in records.rs).
        let mut failure = None;
        for n in 1..=200u8 {
            match commit(&mut outbox, &keys, n, T0_MS + i64::from(n), 100_000, &ROOMY) {
                Ok(id) => committed.push(id),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let failure = failure.expect("a 2 MB disk must fill up");
        assert!(matches!(failure, StoreError::DiskFull { .. }), "{failure}");
        assert!(
            failure
                .to_string()
                .contains("is full; nothing of this enrollment was written")
        );
        assert!(committed.len() >= 5, "only {} records fit", committed.len());
    }
    // Nothing committed earlier is lost or damaged.
    let outbox = Outbox::open(&database).unwrap();
    let ids: Vec<String> = outbox.list().unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        committed
            .iter()
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
    );
    assert_intact(&outbox, &keys);
    outbox.integrity_check().unwrap();
    drop(outbox);

    // Space returns: enrollment works again and the chain continues.
    disk.resize(8192);
    let mut outbox = Outbox::open(&database).unwrap();
    commit(&mut outbox, &keys, 250, T0_MS + 1000, 100_000, &ROOMY).unwrap();
    assert_intact(&outbox, &keys);
}

#[test]
fn on_a_nearly_full_disk_the_guard_refuses_before_the_file_system_does() {
    let disk = SmallDisk::new(4096);
    let database = disk.path("outbox.sqlite");
    let keys = keys();
    let limits = GuardLimits {
        min_free_disk_mb: 1,
        ..ROOMY
    };
    let mut outbox = Outbox::open(&database).unwrap();
    commit(&mut outbox, &keys, 1, T0_MS, 100_000, &limits).unwrap();
    fill(&disk.path("filler"));
    let refusal = commit(&mut outbox, &keys, 2, T0_MS + 1, 100_000, &limits).unwrap_err();
    assert!(
        matches!(
            refusal,
            StoreError::Refused(GuardRefusal::LowDisk { floor_mb: 1, .. })
        ),
        "{refusal}"
    );
    std::fs::remove_file(disk.path("filler")).unwrap();
    commit(&mut outbox, &keys, 2, T0_MS + 1, 100_000, &limits).unwrap();
    assert_eq!(outbox.list().unwrap().len(), 2);
    assert_intact(&outbox, &keys);
}

/// Records written before body version 2 bound the sealed payload by SHA-256 (version 1), and
/// versions 1 and 2 carried the document in clear. An
/// outbox holding one, and the registry receiving one, still verify it and still catch a changed
/// payload; a body that names its payload by the other version's digest is refused.
#[test]
fn a_version_1_record_bound_by_sha256_still_verifies_in_the_outbox_and_at_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let keys = keys();
    drop(Outbox::open(&path).unwrap());
    let id = RecordId::v7(T0_MS, [3; 10]);
    let (mut sealed, ciphertext) = seal(&keys.registry, &id, b"portrait", [4; 32]).unwrap();
    sealed.ciphertext_sha256 = Some(sha256_hex(&ciphertext));
    sealed.ciphertext_blake3 = None;
    let mut body = common::sample_draft(id, "test-01", T0_MS).into_body(
        keys.terminal.public().fingerprint(),
        sealed,
        CHAIN_START.to_owned(),
    );
    // Versions 1 and 2 carried the document in clear.
    body.version = 1;
    body.document = Some(DocumentData::from(&common::card().identity));
    body.document_kind = None;
    body.document_tag = None;
    let bytes = body.to_bytes();
    let signature = keys.terminal.sign(&bytes);

    // Stored as the earlier software stored it.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO records (id, created_at_unix_ms, body, body_sha256, signature,
                                  sealed_payload, state, next_attempt_at_unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?2)",
            rusqlite::params![
                id.to_string(),
                T0_MS.as_i64(),
                bytes,
                sha256_hex(&bytes),
                signature.as_slice(),
                ciphertext
            ],
        )
        .unwrap();
    let report = Outbox::open(&path)
        .unwrap()
        .verify_records(&keys.terminal.public())
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 1);

    let terminal_key = |_: &str, _: &str| Some(keys.terminal.public().to_bytes());
    let envelope = |body: &[u8], payload: &[u8]| {
        RecordEnvelope {
            body: body.to_vec(),
            signature: keys.terminal.sign(body).to_vec(),
            sealed_payload: payload.to_vec(),
        }
        .encode()
    };
    let verified = verify_envelope(&envelope(&bytes, &ciphertext), terminal_key).unwrap();
    assert_eq!(verified.body.version, 1);
    let mut changed = ciphertext.clone();
    changed[3] ^= 0x10;
    assert!(matches!(
        verify_envelope(&envelope(&bytes, &changed), terminal_key),
        Err(Rejection::PayloadMismatch)
    ));
    body.version = 2;
    assert!(matches!(
        verify_envelope(&envelope(&body.to_bytes(), &ciphertext), terminal_key),
        Err(Rejection::Malformed(_))
    ));
    // A version 2 body (BLAKE3, document in clear) verifies; a version 3 body with the document
    // in clear is refused.
    body.sealed.ciphertext_sha256 = None;
    body.sealed.ciphertext_blake3 = Some(enroll_crypto::records::blake3_hex(&ciphertext));
    let verified = verify_envelope(&envelope(&body.to_bytes(), &ciphertext), terminal_key).unwrap();
    assert_eq!(verified.body.version, 2);
    body.version = 3;
    assert!(matches!(
        verify_envelope(&envelope(&body.to_bytes(), &ciphertext), terminal_key),
        Err(Rejection::Malformed(_))
    ));
}

/// The roster a PIN check reads comes through a short connection, not `Outbox::open` (whose
/// integrity check reads the whole file): it sees what the sync thread kept, while that thread
/// holds the outbox open, and says "nothing" without a file.
#[test]
fn the_kept_roster_is_read_without_opening_the_outbox_and_while_it_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    assert_eq!(
        enroll_store::read_fleet_item(&path, enroll_store::FleetItem::Roster).unwrap(),
        None
    );
    let outbox = Outbox::open(&path).unwrap();
    assert_eq!(
        enroll_store::read_fleet_item(&path, enroll_store::FleetItem::Roster).unwrap(),
        None,
        "no roster before the first sync"
    );
    outbox
        .set_fleet_item(enroll_store::FleetItem::Roster, b"signed roster", T0_MS)
        .unwrap();
    assert_eq!(
        enroll_store::read_fleet_item(&path, enroll_store::FleetItem::Roster).unwrap(),
        Some(b"signed roster".to_vec())
    );
    drop(outbox);
    assert_eq!(
        enroll_store::read_fleet_item(&path, enroll_store::FleetItem::DocumentTagKey).unwrap(),
        None
    );
}
