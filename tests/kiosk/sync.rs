//! Sync end to end on loopback: the real registry server (in this process, bound to
//! 127.0.0.1:0, SQLite storage) and the real `kiosk enroll` / `kiosk sync --once` processes. Every
//! record arrives once, every receipt verifies, forgeries are refused with their reason and leave
//! nothing stored. Keys are generated per test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use enroll_core::domain::record::RecordEnvelope;
use enroll_crypto::records::TerminalSigningKey;
use enroll_protocol::verify_receipt;
use enroll_registry::server::Metrics;
use enroll_registry::storage::{SqliteStorage, Storage};

use common::terminal::{Terminal, text};

/// A registry serving on a free loopback port until dropped, with its storage at hand.
struct Registry {
    server: common::Registry,
    address: SocketAddr,
    storage: Arc<SqliteStorage>,
}

impl Registry {
    fn start(db: &Path, receipt_key: TerminalSigningKey) -> Registry {
        let storage = Arc::new(SqliteStorage::open(db).unwrap());
        let server = common::Registry::start(
            "127.0.0.1:0".parse().unwrap(),
            storage.clone(),
            &receipt_key,
            &Arc::new(Metrics::default()),
        );
        Registry {
            address: server.address,
            server,
            storage,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }
}

/// POSTs raw bytes and returns (status, body).
fn post(registry: &Registry, bytes: Vec<u8>) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(registry.address).unwrap();
    write!(
        stream,
        "POST /v1/records HTTP/1.1\r\nHost: registry\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    stream.write_all(&bytes).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn enrolled_records_arrive_once_with_verified_receipts_and_resending_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal::new();
    let registry = Registry::start(&dir.path().join("registry.sqlite"), terminal.receipt_key());
    terminal.register(&*registry.storage);
    let ids = terminal.enroll(4);

    let sync = terminal.sync_once(&registry.url());
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(
        text(&sync).contains("sent 4, acknowledged 4"),
        "{}",
        text(&sync)
    );
    assert_eq!(registry.storage.record_count().unwrap(), 4);
    assert_eq!(terminal.status()["acknowledged"], 4);

    // Every receipt the terminal stored verifies with the registry key.
    let connection = rusqlite::Connection::open(terminal.dir.path().join("outbox.sqlite")).unwrap();
    for id in &ids {
        let (receipt, body_sha256): (Vec<u8>, String) = connection
            .query_row(
                "SELECT receipt, body_sha256 FROM records WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        verify_receipt(&receipt, &terminal.receipt_key().public(), id, &body_sha256).unwrap();
    }

    // Syncing again sends nothing; the same envelope sent again returns the same receipt.
    assert!(text(&terminal.sync_once(&registry.url())).contains("sent 0"));
    let (id, body, signature, sealed_payload) = terminal.outbox_rows().remove(0);
    let envelope = RecordEnvelope {
        body,
        signature,
        sealed_payload,
    }
    .encode();
    let (status, first) = post(&registry, envelope.clone());
    assert_eq!(status, 200);
    let (_, again) = post(&registry, envelope);
    assert_eq!(first, again);
    assert_eq!(registry.storage.record_count().unwrap(), 4);
    assert_eq!(
        registry.storage.receipt(&id).unwrap().unwrap(),
        first.as_bytes()
    );
}

#[test]
fn a_terminal_the_registry_does_not_know_is_refused_and_its_records_wait() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal::new();
    let registry = Registry::start(&dir.path().join("registry.sqlite"), terminal.receipt_key());
    terminal.enroll(1);
    let (id, body, signature, sealed_payload) = terminal.outbox_rows().remove(0);
    let (status, answer) = post(
        &registry,
        RecordEnvelope {
            body,
            signature,
            sealed_payload,
        }
        .encode(),
    );
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("unknown terminal"), "{answer}");
    assert!(registry.storage.record(&id).unwrap().is_none());
}

#[test]
fn forged_records_are_refused_with_their_reason_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal::new();
    let registry = Registry::start(&dir.path().join("registry.sqlite"), terminal.receipt_key());
    terminal.register(&*registry.storage);
    terminal.enroll(1);
    let (id, body, signature, sealed_payload) = terminal.outbox_rows().remove(0);

    // One flipped byte in the body.
    let mut flipped = body.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let (status, answer) = post(
        &registry,
        RecordEnvelope {
            body: flipped,
            signature: signature.clone(),
            sealed_payload: sealed_payload.clone(),
        }
        .encode(),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("bad signature") || answer.contains("malformed"),
        "{answer}"
    );

    // Signed by a key the registry has not registered for this terminal.
    let stranger = TerminalSigningKey::from_seed([42; 32]);
    let (status, answer) = post(
        &registry,
        RecordEnvelope {
            body: body.clone(),
            signature: stranger.sign(&body).to_vec(),
            sealed_payload: sealed_payload.clone(),
        }
        .encode(),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("bad signature"), "{answer}");

    // The signed body with another sealed payload (a swapped portrait).
    let mut swapped = sealed_payload.clone();
    swapped[0] ^= 0xFF;
    let (status, answer) = post(
        &registry,
        RecordEnvelope {
            body: body.clone(),
            signature: signature.clone(),
            sealed_payload: swapped,
        }
        .encode(),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("sealed payload mismatch"), "{answer}");

    // A record replayed under another id: the id is inside the signed body, so it cannot change.
    let text_body = String::from_utf8(body.clone()).unwrap();
    let last = if id.ends_with('0') { "1" } else { "0" };
    let other_id = format!("{}{last}", &id[..35]);
    assert_ne!(other_id, id);
    let replayed = text_body.replacen(&id, &other_id, 1).into_bytes();
    let (status, _) = post(
        &registry,
        RecordEnvelope {
            body: replayed,
            signature: signature.clone(),
            sealed_payload: sealed_payload.clone(),
        }
        .encode(),
    );
    assert_eq!(status, 400);

    // Not an envelope at all.
    let (status, answer) = post(&registry, b"{\"hello\": 1}".to_vec());
    assert_eq!(status, 400);
    assert!(answer.contains("malformed record"), "{answer}");

    assert_eq!(
        registry.storage.record_count().unwrap(),
        0,
        "nothing forged is stored"
    );
    let honest = terminal.sync_once(&registry.url());
    assert!(honest.status.success(), "{}", text(&honest));
    assert_eq!(registry.storage.record_count().unwrap(), 1);
}

#[test]
fn a_receipt_with_a_bad_signature_does_not_acknowledge_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal::new();
    // The registry signs receipts with a key the terminal was not configured with.
    let impostor = TerminalSigningKey::from_seed([7; 32]);
    let registry = Registry::start(&dir.path().join("registry.sqlite"), impostor);
    terminal.register(&*registry.storage);
    terminal.enroll(2);
    let sync = terminal.sync_once(&registry.url());
    assert_eq!(
        sync.status.code(),
        Some(1),
        "records remain unsent: {}",
        text(&sync)
    );
    assert!(
        text(&sync).contains("receipt signature does not verify"),
        "{}",
        text(&sync)
    );
    let status = terminal.status();
    assert_eq!(status["acknowledged"], 0);
    assert_eq!(status["pending"], 2);
}

#[test]
fn a_different_record_under_a_stored_id_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let first = Terminal::new();
    let registry = Registry::start(&dir.path().join("registry.sqlite"), first.receipt_key());
    first.register(&*registry.storage);
    first.enroll(1);
    assert!(first.sync_once(&registry.url()).status.success());

    // The same terminal id and key on a second outbox (a restored backup) making another record
    // that reuses the first record's id: the registry must refuse to overwrite.
    let (id, body, _, sealed_payload) = first.outbox_rows().remove(0);
    let key = TerminalSigningKey::from_pem(
        &std::fs::read_to_string(first.key("terminal-signing.key")).unwrap(),
    )
    .unwrap();
    let original = String::from_utf8(body).unwrap();
    let changed = original.replacen("\"tier\":\"self-service\"", "\"tier\":\"officer\"", 1);
    assert_ne!(changed, original);
    assert!(changed.contains(&id));
    let changed = changed.into_bytes();
    let (status, answer) = post(
        &registry,
        RecordEnvelope {
            signature: key.sign(&changed).to_vec(),
            body: changed,
            sealed_payload,
        }
        .encode(),
    );
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("conflict"), "{answer}");
    assert_eq!(registry.storage.record_count().unwrap(), 1);
}

#[test]
fn a_record_the_registry_refuses_is_marked_rejected_with_the_reason_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let terminal = Terminal::new();
    let registry = Registry::start(&dir.path().join("registry.sqlite"), terminal.receipt_key());
    terminal.register(&*registry.storage);
    terminal.enroll(2);
    // A broken disk (or an attacker) changed the first record after it was signed.
    let connection = rusqlite::Connection::open(terminal.dir.path().join("outbox.sqlite")).unwrap();
    connection
        .execute_batch(
            "DROP TRIGGER records_bodies_are_immutable;
             UPDATE records SET signature = zeroblob(64) WHERE seq = 1;",
        )
        .unwrap();
    let sync = terminal.sync_once(&registry.url());
    assert!(text(&sync).contains("rejected 1"), "{}", text(&sync));
    let status = terminal.status();
    assert_eq!(status["rejected"], 1);
    assert_eq!(status["acknowledged"], 1);
    let list = terminal.run(&["queue", "list"]);
    assert!(text(&list).contains("bad signature"), "{}", text(&list));
    assert!(
        text(&terminal.sync_once(&registry.url())).contains("sent 0"),
        "not retried"
    );
}
