//! The registry's storage contract, one suite run against both implementations: SQLite (a file
//! in a temp dir) and PostgreSQL (a throw-away cluster per test, see `common::pg`). Records here
//! are opaque bytes: verification is the server's job and is tested in `tests/kiosk/sync.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::sync::{Arc, Barrier};

use enroll_core::domain::activation::ActivationCode;
use enroll_core::domain::officer::Role;
use enroll_core::domain::record::{CHAIN_START, ChainStatus};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::sha256_hex;
use enroll_registry::holders::{Activation, ActivationKey, Attempt, NewActivation};
use enroll_registry::identities::{IssueOutcome, NewIdentity, NewToken, Selector};
use enroll_registry::officers::{Added, NewOfficer, new_officer, roster_for};
use enroll_registry::postgres::PostgresStorage;
use enroll_registry::storage::{Incoming, Ingested, SqliteStorage, Storage};

/// A record as the storage sees it: id, terminal, bytes and its link to the previous body.
struct Sample {
    id: String,
    terminal_id: String,
    body: Vec<u8>,
    body_sha256: String,
    previous: String,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

/// A 16-bit tag of a terminal name, so ids differ between terminals.
fn terminal_tag(terminal: &str) -> u16 {
    terminal.bytes().fold(7u16, |tag, byte| {
        tag.wrapping_mul(31).wrapping_add(u16::from(byte))
    })
}

impl Sample {
    fn new(terminal: &str, n: u32, previous: &str, payload_len: usize) -> Sample {
        let body = format!("{{\"terminal\":\"{terminal}\",\"n\":{n},\"previous\":\"{previous}\"}}")
            .into_bytes();
        Sample {
            id: format!(
                "0190f000-0000-7000-8000-{:04x}{n:08x}",
                terminal_tag(terminal)
            ),
            terminal_id: terminal.to_owned(),
            body_sha256: sha256_hex(&body),
            body,
            previous: previous.to_owned(),
            signature: vec![n as u8; 64],
            payload: (0..payload_len)
                .map(|i| (i * 31 + n as usize) as u8)
                .collect(),
        }
    }

    /// `count` records of one terminal, each linked to the one before.
    fn chain(terminal: &str, count: u32) -> Vec<Sample> {
        let mut previous = CHAIN_START.to_owned();
        (0..count)
            .map(|n| {
                let sample = Sample::new(terminal, n, &previous, 256);
                previous = sample.body_sha256.clone();
                sample
            })
            .collect()
    }

    fn incoming(&self) -> Incoming<'_> {
        Incoming {
            id: &self.id,
            terminal_id: &self.terminal_id,
            body: &self.body,
            body_sha256: &self.body_sha256,
            previous_record_sha256: &self.previous,
            signature: &self.signature,
            sealed_payload: &self.payload,
            received_at_unix_ms: UnixMs(1_790_000_000_000),
        }
    }
}

/// A receipt that names the record and the chain status (the server signs the real ones).
fn receipt_for(sample: &Sample) -> impl Fn(ChainStatus) -> Vec<u8> + '_ {
    move |chain| format!("receipt:{}:{chain:?}", sample.id).into_bytes()
}

fn ingest(storage: &dyn Storage, sample: &Sample) -> Ingested {
    storage
        .ingest(&sample.incoming(), &receipt_for(sample))
        .unwrap()
}

/// Runs `work` on a named thread.
fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .unwrap()
}

fn register(storage: &dyn Storage, terminal: &str) {
    storage.add_terminal(terminal, [7; 32], UnixMs(0)).unwrap();
}

// ---- the contract ----

fn terminals_are_registered_and_rekeyed(storage: &dyn Storage) {
    assert_eq!(storage.terminal_key("T-1").unwrap(), None);
    storage.add_terminal("T-1", [1; 32], UnixMs(10)).unwrap();
    assert_eq!(storage.terminal_key("T-1").unwrap(), Some([1; 32]));
    storage.add_terminal("T-1", [2; 32], UnixMs(20)).unwrap();
    assert_eq!(storage.terminal_key("T-1").unwrap(), Some([2; 32]));
    assert_eq!(storage.terminal_key("T-2").unwrap(), None);
}

fn a_terminal_is_revoked_once_with_its_time_and_reason(storage: &dyn Storage) {
    assert!(
        !storage
            .revoke_terminal("T-9", UnixMs(50), "stolen")
            .unwrap(),
        "an unknown terminal is not revoked"
    );
    register(storage, "T-1");
    register(storage, "T-2");
    let chain = Sample::chain("T-1", 2);
    for sample in &chain {
        ingest(storage, sample);
    }
    assert_eq!(storage.terminal_revocation("T-1").unwrap(), None);
    assert!(
        storage
            .revoke_terminal("T-1", UnixMs(100), "stolen")
            .unwrap()
    );
    // A second revocation keeps the first time and reason.
    assert!(
        storage
            .revoke_terminal("T-1", UnixMs(200), "again")
            .unwrap()
    );
    let revoked = storage.terminal_revocation("T-1").unwrap().unwrap();
    assert_eq!(
        (revoked.revoked_at_unix_ms, revoked.reason.as_str()),
        (100, "stolen")
    );
    let terminals = storage.terminals().unwrap();
    let ids: Vec<&str> = terminals.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T-1", "T-2"]);
    assert_eq!(terminals[0].records, 2, "its records stay");
    assert_eq!(terminals[0].revoked.as_ref(), Some(&revoked));
    assert_eq!(terminals[1].records, 0);
    assert_eq!(terminals[1].revoked, None);
    assert_eq!(terminals[1].key_fingerprint.len(), 64);
}

fn an_invite_registers_one_terminal_once_before_it_expires(storage: &dyn Storage) {
    use enroll_registry::storage::{NewInvite, Provisioned};
    let invite = |code: &str, expires_ms: i64| NewInvite {
        code_sha256: code.to_owned(),
        terminal_id: format!("T-{code}"),
        created_at: UnixMs(0),
        expires_at: UnixMs(expires_ms),
    };
    storage.add_invite(&invite("a", 1_000)).unwrap();
    storage.add_invite(&invite("b", 1_000)).unwrap();
    assert_eq!(
        storage.provision("zz", [1; 32], UnixMs(10)).unwrap(),
        Provisioned::Unknown
    );
    assert_eq!(
        storage.provision("a", [1; 32], UnixMs(10)).unwrap(),
        Provisioned::Registered {
            terminal_id: "T-a".into()
        }
    );
    assert_eq!(storage.terminal_key("T-a").unwrap(), Some([1; 32]));
    // Spent: a second terminal cannot take the same code.
    assert_eq!(
        storage.provision("a", [2; 32], UnixMs(20)).unwrap(),
        Provisioned::Used
    );
    assert_eq!(storage.terminal_key("T-a").unwrap(), Some([1; 32]));
    assert_eq!(
        storage.provision("b", [3; 32], UnixMs(1_000)).unwrap(),
        Provisioned::Expired
    );
    assert_eq!(storage.terminal_key("T-b").unwrap(), None);
    // The provisioned terminal delivers records like a registered one.
    let chain = Sample::chain("T-a", 1);
    assert!(matches!(
        ingest(storage, &chain[0]),
        Ingested::Stored { .. }
    ));
}

fn a_rotated_key_is_current_and_the_old_one_is_accepted_until_its_time(storage: &dyn Storage) {
    assert!(
        !storage
            .rotate_terminal_key("T-9", [9; 32], UnixMs(0), UnixMs(10))
            .unwrap()
    );
    storage.add_terminal("T-1", [1; 32], UnixMs(0)).unwrap();
    assert!(
        storage
            .rotate_terminal_key("T-1", [2; 32], UnixMs(100), UnixMs(1_000))
            .unwrap()
    );
    assert_eq!(storage.terminal_key("T-1").unwrap(), Some([2; 32]));
    let old = enroll_crypto::records::sha256_hex(&[1; 32]);
    assert_eq!(
        storage
            .retired_terminal_key("T-1", &old, UnixMs(999))
            .unwrap(),
        Some([1; 32])
    );
    assert_eq!(
        storage
            .retired_terminal_key("T-1", &old, UnixMs(1_000))
            .unwrap(),
        None,
        "not after its overlap"
    );
    assert_eq!(
        storage
            .retired_terminal_key("T-2", &old, UnixMs(10))
            .unwrap(),
        None
    );
}

fn records_are_stored_exactly_and_linked_to_their_chain(storage: &dyn Storage) {
    register(storage, "T-1");
    let chain = Sample::chain("T-1", 3);
    for sample in &chain {
        match ingest(storage, sample) {
            Ingested::Stored { receipt, chain } => {
                assert_eq!(chain, ChainStatus::Linked, "record {}", sample.id);
                assert_eq!(receipt, receipt_for(sample)(ChainStatus::Linked));
            }
            other => panic!("expected Stored, got {other:?}"),
        }
    }
    let stored = storage.record(&chain[1].id).unwrap().unwrap();
    assert_eq!(stored.terminal_id, "T-1");
    assert_eq!(stored.body, chain[1].body);
    assert_eq!(stored.signature, chain[1].signature);
    assert_eq!(stored.sealed_payload, chain[1].payload);
    assert_eq!(stored.chain, ChainStatus::Linked);
    assert_eq!(
        storage.receipt(&chain[2].id).unwrap(),
        Some(receipt_for(&chain[2])(ChainStatus::Linked))
    );
    assert_eq!(storage.record_count().unwrap(), 3);
    assert!(storage.flagged_records().unwrap().is_empty());
    assert_eq!(
        storage
            .record("0190f000-0000-7000-8000-000000000000")
            .unwrap(),
        None
    );
    assert_eq!(
        storage
            .receipt("0190f000-0000-7000-8000-000000000000")
            .unwrap(),
        None
    );
}

fn a_gap_in_the_chain_is_accepted_and_flagged(storage: &dyn Storage) {
    register(storage, "T-1");
    let chain = Sample::chain("T-1", 4);
    ingest(storage, &chain[0]);
    // Record 1 is lost in transit (or arrives later): 2 does not link to the head.
    match ingest(storage, &chain[2]) {
        Ingested::Stored { chain, .. } => assert_eq!(chain, ChainStatus::GapFlagged),
        other => panic!("expected Stored, got {other:?}"),
    }
    // 3 links to 2: the chain goes on from the newest record.
    match ingest(storage, &chain[3]) {
        Ingested::Stored { chain, .. } => assert_eq!(chain, ChainStatus::Linked),
        other => panic!("expected Stored, got {other:?}"),
    }
    // 1 arrives late: stored, flagged too (it does not link to the head).
    match ingest(storage, &chain[1]) {
        Ingested::Stored { chain, .. } => assert_eq!(chain, ChainStatus::GapFlagged),
        other => panic!("expected Stored, got {other:?}"),
    }
    let mut flagged = storage.flagged_records().unwrap();
    flagged.sort();
    let mut expected = vec![chain[1].id.clone(), chain[2].id.clone()];
    expected.sort();
    assert_eq!(flagged, expected);
    assert_eq!(storage.record_count().unwrap(), 4);
}

fn a_gap_is_offered_to_issuance_only_once_a_person_accepted_it(storage: &dyn Storage) {
    register(storage, "T-1");
    let chain = Sample::chain("T-1", 3);
    ingest(storage, &chain[0]);
    ingest(storage, &chain[2]); // a gap: 1 is missing
    assert_eq!(
        storage.pending_issuance(10).unwrap(),
        vec![chain[0].id.clone()]
    );
    assert_eq!(
        storage.flagged_records().unwrap(),
        vec![chain[2].id.clone()]
    );
    // Only a flagged record can be accepted, once.
    assert!(
        !storage
            .accept_gap(&chain[0].id, "auditor-1", UnixMs(7))
            .unwrap()
    );
    assert!(
        !storage
            .accept_gap("no-such-record", "auditor-1", UnixMs(7))
            .unwrap()
    );
    assert!(
        storage
            .accept_gap(&chain[2].id, "auditor-1", UnixMs(7))
            .unwrap()
    );
    assert!(
        !storage
            .accept_gap(&chain[2].id, "auditor-2", UnixMs(8))
            .unwrap()
    );
    assert!(storage.flagged_records().unwrap().is_empty());
    assert_eq!(
        storage.pending_issuance(10).unwrap(),
        vec![chain[0].id.clone(), chain[2].id.clone()]
    );
}

fn the_same_record_again_gets_the_stored_receipt(storage: &dyn Storage) {
    register(storage, "T-1");
    let sample = &Sample::chain("T-1", 1)[0];
    let first = match ingest(storage, sample) {
        Ingested::Stored { receipt, .. } => receipt,
        other => panic!("expected Stored, got {other:?}"),
    };
    // A second receipt maker would answer differently: the stored receipt must win.
    let again = storage
        .ingest(&sample.incoming(), &|_| b"a new receipt".to_vec())
        .unwrap();
    assert_eq!(again, Ingested::Duplicate { receipt: first });
    assert_eq!(storage.record_count().unwrap(), 1);
}

fn the_same_id_with_other_bytes_is_a_conflict(storage: &dyn Storage) {
    register(storage, "T-1");
    let sample = &Sample::chain("T-1", 1)[0];
    ingest(storage, sample);
    let mut forged = Sample::new("T-1", 0, CHAIN_START, 256);
    forged.body.push(b' ');
    forged.body_sha256 = sha256_hex(&forged.body);
    assert_eq!(ingest(storage, &forged), Ingested::Conflict);
    assert_eq!(
        storage.record(&sample.id).unwrap().unwrap().body,
        sample.body
    );
    assert_eq!(storage.record_count().unwrap(), 1);
}

fn a_300_kb_payload_comes_back_byte_for_byte(storage: &dyn Storage) {
    register(storage, "T-1");
    let sample = Sample::new("T-1", 0, CHAIN_START, 300 * 1024);
    ingest(storage, &sample);
    assert_eq!(
        storage.record(&sample.id).unwrap().unwrap().sealed_payload,
        sample.payload
    );
}

fn one_record_sent_by_many_at_once_is_stored_once(storage: Arc<dyn Storage>) {
    register(&*storage, "T-1");
    let sample = Arc::new(Sample::chain("T-1", 1).remove(0));
    let barrier = Arc::new(Barrier::new(8));
    let outcomes: Vec<Ingested> = (0..8)
        .map(|_| {
            let (storage, sample, barrier) = (storage.clone(), sample.clone(), barrier.clone());
            spawn("storage-test", move || {
                barrier.wait();
                ingest(&*storage, &sample)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, Ingested::Stored { .. }))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Ingested::Duplicate { .. }))
        .count();
    assert_eq!((stored, duplicates), (1, 7), "{outcomes:?}");
    assert_eq!(storage.record_count().unwrap(), 1);
}

fn terminals_sending_in_parallel_keep_their_chains(storage: Arc<dyn Storage>) {
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let storage = storage.clone();
            spawn("storage-test", move || {
                let terminal = format!("T-{t}");
                register(&*storage, &terminal);
                for sample in Sample::chain(&terminal, 15) {
                    match ingest(&*storage, &sample) {
                        Ingested::Stored { chain, .. } => assert_eq!(chain, ChainStatus::Linked),
                        other => panic!("expected Stored, got {other:?}"),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(storage.record_count().unwrap(), 90);
    assert!(storage.flagged_records().unwrap().is_empty());
}

// ---- issued identities (enroll_registry::identities) ----

fn new_identity(id: &str, record: &str, document: &str, created_ms: i64) -> NewIdentity {
    NewIdentity {
        id: id.into(),
        record_id: record.into(),
        document_key: document.into(),
        tier: "strict".into(),
        record_created_at_unix_ms: UnixMs(created_ms),
        now_unix_ms: UnixMs(1_796_600_000_000),
        activation: None,
    }
}

/// Two days x two profiles; status indexes from `first_index`.
fn new_tokens(handle: &str, first_index: u32) -> Vec<NewToken> {
    (0..4u32)
        .map(|n| NewToken {
            cti: [(first_index + n) as u8; 16],
            day: format!("2026-12-0{}", 7 + n / 2),
            profile: if n % 2 == 0 { "basic" } else { "check-in" }.into(),
            handle: format!("{handle}-{}", n / 2),
            status_list: 0,
            status_index: first_index + n,
            text: format!("TOKEN{}", first_index + n),
        })
        .collect()
}

fn a_newer_enrollment_supersedes_and_revokes_whatever_order_they_arrive_in(storage: &dyn Storage) {
    register(storage, "T-1");
    let records = Sample::chain("T-1", 4);
    for sample in &records {
        ingest(storage, sample);
    }
    let pending = storage.pending_issuance(10).unwrap();
    assert_eq!(
        pending,
        records.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );
    let (r0, r1, r2, r3) = (
        &records[0].id,
        &records[1].id,
        &records[2].id,
        &records[3].id,
    );
    assert_eq!(
        storage
            .issue_identity(&new_identity("id-0", r0, "doc-a", 1), &new_tokens("h0", 0))
            .unwrap(),
        IssueOutcome::Issued { superseded: vec![] }
    );
    assert_eq!(
        storage
            .issue_identity(&new_identity("id-1", r1, "doc-a", 3), &new_tokens("h1", 10))
            .unwrap(),
        IssueOutcome::Issued {
            superseded: vec!["id-0".into()]
        }
    );
    // An older enrollment of the same document arriving late does not take over.
    assert_eq!(
        storage
            .issue_identity(&new_identity("id-2", r2, "doc-a", 2), &new_tokens("h2", 20))
            .unwrap(),
        IssueOutcome::SupersededOnArrival
    );
    // A restart offering the same record again changes nothing.
    assert_eq!(
        storage
            .issue_identity(&new_identity("id-9", r1, "doc-a", 3), &new_tokens("h9", 30))
            .unwrap(),
        IssueOutcome::AlreadyDecided
    );
    storage
        .refuse_issuance(r3, "face-not-matched", UnixMs(5))
        .unwrap();
    assert_eq!(
        storage.issuance_decision(r3).unwrap().as_deref(),
        Some("refused:face-not-matched")
    );
    assert!(storage.pending_issuance(10).unwrap().is_empty());

    let old = storage
        .find_identity(Selector::Record(r0))
        .unwrap()
        .unwrap();
    assert_eq!(old.state, "superseded");
    assert!(
        storage
            .identity_tokens("id-0")
            .unwrap()
            .iter()
            .all(|t| t.revoked)
    );
    assert!(storage.identity_tokens("id-2").unwrap().is_empty());
    let current = storage
        .find_identity(Selector::Handle("h1-1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (current.id.as_str(), current.state.as_str()),
        ("id-1", "active")
    );
    let tokens = storage.identity_tokens("id-1").unwrap();
    assert_eq!(tokens.len(), 4);
    assert_eq!(tokens[0].text, "TOKEN10");
    assert!(tokens.iter().all(|t| !t.revoked));

    // Status bits: list 0 holds the 8 issued indexes, the superseded identity's 4 revoked.
    assert_eq!(storage.status_list_numbers().unwrap(), vec![0]);
    let mut bits = storage.status_bits(0).unwrap();
    bits.sort();
    assert_eq!(
        bits,
        vec![
            (0, true),
            (1, true),
            (2, true),
            (3, true),
            (10, false),
            (11, false),
            (12, false),
            (13, false)
        ]
    );
    // Re-issuing revokes the outstanding batch; revoking flips the rest; the record stays.
    assert_eq!(
        storage
            .reissue_tokens("id-1", &new_tokens("h3", 40))
            .unwrap(),
        4
    );
    assert_eq!(storage.token_count().unwrap(), 12);
    assert_eq!(storage.revoke_identity("id-1", UnixMs(9)).unwrap(), 4);
    assert!(
        storage
            .status_bits(0)
            .unwrap()
            .iter()
            .all(|(_, revoked)| *revoked)
    );
    assert_eq!(
        storage
            .find_identity(Selector::Record(r1))
            .unwrap()
            .unwrap()
            .state,
        "revoked"
    );
    assert!(storage.record(r1).unwrap().is_some());
}

fn two_issuers_deciding_one_record_at_once_issue_it_once(storage: Arc<dyn Storage>) {
    register(storage.as_ref(), "T-1");
    let sample = Sample::new("T-1", 0, CHAIN_START, 64);
    ingest(storage.as_ref(), &sample);
    let barrier = Arc::new(Barrier::new(2));
    let outcomes: Vec<IssueOutcome> = (0..2u32)
        .map(|n| {
            let (storage, barrier, record) = (
                Arc::clone(&storage),
                Arc::clone(&barrier),
                sample.id.clone(),
            );
            spawn("issuer", move || {
                barrier.wait();
                storage
                    .issue_identity(
                        &new_identity(&format!("id-{n}"), &record, "doc-a", 1),
                        &new_tokens(&format!("h{n}"), n * 10),
                    )
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, IssueOutcome::Issued { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&IssueOutcome::AlreadyDecided),
        "{outcomes:?}"
    );
    assert_eq!(storage.token_count().unwrap(), 4);
}

fn a_short_reference_finds_its_record(storage: &dyn Storage) {
    use enroll_core::domain::reference::ShortReference;
    use std::str::FromStr as _;
    register(storage, "T-1");
    let records = Sample::chain("T-1", 3);
    for sample in &records {
        ingest(storage, sample);
    }
    // The samples' ids differ only in their last digits, beyond the reference's bits: each
    // key finds all three candidates, as it would find the rare records that share a reference.
    for sample in &records {
        let id = enroll_core::domain::record::RecordId::from_str(&sample.id).unwrap();
        let key = ShortReference::of(&id).key();
        assert_eq!(
            storage.record_ids_by_reference_key(&key).unwrap(),
            records.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
        );
    }
    assert!(
        storage
            .record_ids_by_reference_key("00000000000")
            .unwrap()
            .is_empty()
    );
}

// ---- activation codes (enroll_registry::holders) ----

fn try_code<'a>(
    code: &'a NewActivation,
    code_hash: &'a str,
    secret: &'a str,
    now_ms: i64,
) -> Attempt<'a> {
    Attempt {
        lookup: &code.lookup,
        code_hash,
        secret_hash: secret,
        device_public_key: Some(b"device key"),
        now_unix_ms: UnixMs(now_ms),
    }
}

fn a_code_is_spent_once_and_locks_after_ten_wrong_tries(storage: &dyn Storage) {
    register(storage, "T-1");
    let records = Sample::chain("T-1", 3);
    for sample in &records {
        ingest(storage, sample);
    }
    let key = ActivationKey::derive(&[9; 32]);
    let enrolled_ms = 1_796_000_000_000;
    let codes: Vec<ActivationCode> = (0..3u8)
        .map(|n| ActivationCode::from_bits(&[n + 1; 32]))
        .collect();
    for (n, (record, code)) in records.iter().zip(&codes).enumerate() {
        let mut identity = new_identity(
            &format!("id-{n}"),
            &record.id,
            &format!("doc-{n}"),
            enrolled_ms,
        );
        identity.activation = Some(NewActivation::new(&key, code, UnixMs(enrolled_ms)));
        storage
            .issue_identity(&identity, &new_tokens(&format!("h{n}"), 10 * n as u32))
            .unwrap();
    }
    let activation = |n: usize| NewActivation::new(&key, &codes[n], UnixMs(enrolled_ms));
    let now = enrolled_ms + 86_400_000;

    // Spent once: the holder secret then names the identity; a second use is refused.
    let first = activation(0);
    assert_eq!(
        storage
            .activate(&try_code(&first, &first.code_hash, "secret-0", now))
            .unwrap(),
        Activation::Activated {
            identity_id: "id-0".into()
        }
    );
    assert_eq!(
        storage
            .find_identity(Selector::Holder("secret-0"))
            .unwrap()
            .map(|i| i.id),
        Some("id-0".to_owned())
    );
    assert_eq!(
        storage
            .activate(&try_code(&first, &first.code_hash, "secret-0b", now))
            .unwrap(),
        Activation::Used
    );

    // Wrong codes with the same lookup count against it; after ten even the right one is locked.
    let second = activation(1);
    for _ in 0..10 {
        assert_eq!(
            storage
                .activate(&try_code(&second, "wrong", "s", now))
                .unwrap(),
            Activation::NotKnown
        );
    }
    assert_eq!(
        storage
            .activate(&try_code(&second, &second.code_hash, "secret-1", now))
            .unwrap(),
        Activation::Locked
    );
    assert_eq!(
        storage.find_identity(Selector::Holder("secret-1")).unwrap(),
        None
    );

    // A code is good for 30 days from the enrollment.
    let third = activation(2);
    let day_31 = enrolled_ms + 31 * 86_400_000;
    assert_eq!(
        storage
            .activate(&try_code(&third, &third.code_hash, "secret-2", day_31))
            .unwrap(),
        Activation::Expired
    );
    // A code nobody issued is not known (and says nothing more).
    let stranger = NewActivation::new(
        &key,
        &ActivationCode::from_bits(&[77; 32]),
        UnixMs(enrolled_ms),
    );
    assert_eq!(
        storage
            .activate(&try_code(&stranger, &stranger.code_hash, "s", now))
            .unwrap(),
        Activation::NotKnown
    );
    // A revoked identity's code no longer activates.
    storage.revoke_identity("id-2", UnixMs(now)).unwrap();
    assert_eq!(
        storage
            .activate(&try_code(&third, &third.code_hash, "secret-2", now))
            .unwrap(),
        Activation::Ended
    );
}

fn officer(badge: &str, role: Role, terminals: &[&str]) -> NewOfficer {
    // A fixed salt keeps the hash stable; the PIN is the store's business only as a hash.
    new_officer(
        badge,
        role,
        "482916",
        terminals.iter().map(|t| (*t).to_owned()).collect(),
        [7; 16],
    )
    .unwrap()
}

fn the_roster_serial_grows_with_every_change_and_a_terminal_sees_its_badges(storage: &dyn Storage) {
    assert_eq!(storage.roster().unwrap().serial, 0, "no roster yet");
    let supervisor = officer("B-7001", Role::Supervisor, &["PS-0001"]);
    assert_eq!(
        storage.add_officer(&supervisor, UnixMs(10)).unwrap(),
        Added::Added
    );
    assert_eq!(
        storage
            .add_officer(&officer("B-8001", Role::Officer, &[]), UnixMs(11))
            .unwrap(),
        Added::Added
    );
    assert_eq!(
        storage
            .add_officer(&officer("B-7001", Role::Officer, &[]), UnixMs(12))
            .unwrap(),
        Added::Exists,
        "an active badge is not replaced"
    );
    let roster = storage.roster().unwrap();
    assert_eq!(roster.serial, 2);
    assert_eq!(roster.officers.len(), 2);
    assert_eq!(roster.officers[0].pin_argon2id, supervisor.pin_argon2id);
    assert_eq!(roster.officers[0].terminals, ["PS-0001"]);

    let for_ps1 = roster_for(&roster, "PS-0001", UnixMs(13));
    let for_ps2 = roster_for(&roster, "PS-0002", UnixMs(13));
    assert_eq!(for_ps1.officers.len(), 2);
    assert_eq!(for_ps2.officers.len(), 1, "B-7001 is for PS-0001 only");
    assert_eq!(for_ps2.officers[0].badge, "B-8001");
    assert_eq!(for_ps1.serial, 2);

    assert!(storage.disable_officer("B-7001", UnixMs(14)).unwrap());
    assert!(!storage.disable_officer("B-0000", UnixMs(14)).unwrap());
    let roster = storage.roster().unwrap();
    assert_eq!(roster.serial, 3, "an unknown badge changes nothing");
    assert!(roster.officers[0].disabled);
    // A disabled badge may be added again (a new PIN, say): it is active again.
    assert_eq!(
        storage
            .add_officer(&officer("B-7001", Role::Supervisor, &[]), UnixMs(15))
            .unwrap(),
        Added::Added
    );
    let roster = storage.roster().unwrap();
    assert_eq!(roster.serial, 4);
    assert!(!roster.officers[0].disabled);
}

macro_rules! suite {
    (shared: [$($shared:ident),*], concurrent: [$($concurrent:ident),*]) => {
        mod sqlite {
            use super::*;
            fn open() -> (tempfile::TempDir, Arc<SqliteStorage>) {
                let dir = tempfile::tempdir().unwrap();
                let storage = SqliteStorage::open(&dir.path().join("registry.sqlite")).unwrap();
                (dir, Arc::new(storage))
            }
            $( #[test] fn $shared() { let (_dir, storage) = open(); super::$shared(&*storage); } )*
            $( #[test] fn $concurrent() { let (_dir, storage) = open(); super::$concurrent(storage); } )*
        }
        mod postgresql {
            use super::*;
            fn open() -> (common::pg::PgCluster, Arc<PostgresStorage>) {
                let cluster = common::pg::PgCluster::start();
                let storage = PostgresStorage::connect(&cluster.url(), 8).unwrap();
                (cluster, Arc::new(storage))
            }
            $( #[test] fn $shared() { let (_cluster, storage) = open(); super::$shared(&*storage); } )*
            $( #[test] fn $concurrent() { let (_cluster, storage) = open(); super::$concurrent(storage); } )*
        }
    };
}

suite!(
    shared: [
        terminals_are_registered_and_rekeyed,
        a_terminal_is_revoked_once_with_its_time_and_reason,
        an_invite_registers_one_terminal_once_before_it_expires,
        a_rotated_key_is_current_and_the_old_one_is_accepted_until_its_time,
        records_are_stored_exactly_and_linked_to_their_chain,
        a_gap_in_the_chain_is_accepted_and_flagged,
        a_gap_is_offered_to_issuance_only_once_a_person_accepted_it,
        the_same_record_again_gets_the_stored_receipt,
        the_same_id_with_other_bytes_is_a_conflict,
        a_300_kb_payload_comes_back_byte_for_byte,
        a_newer_enrollment_supersedes_and_revokes_whatever_order_they_arrive_in,
        a_code_is_spent_once_and_locks_after_ten_wrong_tries,
        a_short_reference_finds_its_record,
        the_roster_serial_grows_with_every_change_and_a_terminal_sees_its_badges
    ],
    concurrent: [
        one_record_sent_by_many_at_once_is_stored_once,
        terminals_sending_in_parallel_keep_their_chains,
        two_issuers_deciding_one_record_at_once_issue_it_once
    ]
);

/// Several registry instances behind a load balancer share one PostgreSQL database: both create
/// the schema at once, and every record, sent to both, is stored exactly once and stays linked.
#[test]
fn postgresql_two_registry_instances_share_one_database() {
    let cluster = common::pg::PgCluster::start();
    let url = cluster.url();
    let instances: Vec<Arc<PostgresStorage>> = {
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (url, barrier) = (url.clone(), barrier.clone());
                spawn("storage-test", move || {
                    barrier.wait();
                    Arc::new(PostgresStorage::connect(&url, 4).unwrap())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    };
    register(&*instances[0], "T-1");
    let chain = Arc::new(Sample::chain("T-1", 40));
    let threads: Vec<_> = instances
        .iter()
        .map(|instance| {
            let (instance, chain) = (instance.clone(), chain.clone());
            spawn("storage-test", move || {
                chain
                    .iter()
                    .map(|sample| ingest(&*instance, sample))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes: Vec<Ingested> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let stored: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ingested::Stored { chain, .. } => Some(*chain),
            _ => None,
        })
        .collect();
    assert_eq!(
        stored.len(),
        40,
        "each record stored once by one of the two"
    );
    assert!(stored.iter().all(|chain| *chain == ChainStatus::Linked));
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Ingested::Duplicate { .. }))
            .count(),
        40
    );
    assert_eq!(instances[1].record_count().unwrap(), 40);
}

/// Restarting one instance while another writes: the restarted one starts without waiting for
/// the writers (it finds the schema made and runs no DDL, which would lock the tables; beside
/// writes that deadlocked, and the soak's restarted instance failed to start).
#[test]
fn a_postgresql_instance_starts_while_another_holds_its_tables_for_writing() {
    let cluster = common::pg::PgCluster::start();
    let url = cluster.url();
    let first = PostgresStorage::connect(&url, 2).unwrap();
    register(&first, "T-1");
    // Another instance's write transactions, held open: every table a write touches.
    let mut writer = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut writing = writer.transaction().unwrap();
    writing
        .batch_execute(
            "LOCK TABLE records, identities, tokens, issuance, terminals, chain_heads \
             IN ROW EXCLUSIVE MODE",
        )
        .unwrap();
    let (started, outcome) = std::sync::mpsc::channel();
    let second_url = url.clone();
    spawn("second-instance", move || {
        let _ = started.send(PostgresStorage::connect(&second_url, 2).map(|_| ()));
    });
    let outcome = outcome.recv_timeout(std::time::Duration::from_secs(30));
    writing.commit().unwrap();
    assert!(
        matches!(outcome, Ok(Ok(()))),
        "the second instance did not start beside the writers: {outcome:?}"
    );
    assert_eq!(
        first.record_count().unwrap(),
        0,
        "the first one still works"
    );
}

/// The server's own reason reaches the message (the driver alone says "db error").
#[test]
fn a_postgresql_refusal_says_what_the_server_said() {
    let cluster = common::pg::PgCluster::start();
    let url = cluster.url().replace("enroll@", "nobody@");
    let error = PostgresStorage::connect(&url, 2).err().unwrap().to_string();
    assert!(
        error.contains("role \"nobody\" does not exist") && error.contains("28000"),
        "{error}"
    );
}

#[test]
fn an_unreachable_postgresql_names_where_it_looked() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://enroll:secret-password@127.0.0.1:{port}/registry");
    let error = PostgresStorage::connect(&url, 2).err().unwrap().to_string();
    assert!(
        error.contains(&format!("postgres://127.0.0.1:{port}/registry")),
        "{error}"
    );
    assert!(!error.contains("secret-password"), "{error}");
    assert!(error.contains("Connection refused"), "{error}");
}
