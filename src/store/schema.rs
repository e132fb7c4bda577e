//! The outbox's SQLite schema and its migrations, keyed by `PRAGMA user_version`. It owns the DDL
//! and nothing else; the rules that use the tables live in the sibling modules.

use rusqlite::Connection;

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = 1;

/// Version 1: records, their delivery state, and the audit log. Bodies, signatures and audit
/// entries are immutable (triggers refuse changes); only delivery columns and the sealed payload
/// (deleted after retention) ever change.
const V1: &str = "
CREATE TABLE records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at_unix_ms INTEGER NOT NULL,
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    signature BLOB NOT NULL,
    sealed_payload BLOB,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'acknowledged', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_unix_ms INTEGER NOT NULL,
    last_error TEXT,
    receipt BLOB,
    acknowledged_at_unix_ms INTEGER,
    rejected_reason TEXT,
    payload_deleted_at_unix_ms INTEGER
);
CREATE INDEX records_by_state ON records (state, next_attempt_at_unix_ms);
CREATE TRIGGER records_bodies_are_immutable
    BEFORE UPDATE OF seq, id, created_at_unix_ms, body, body_sha256, signature ON records
    BEGIN SELECT RAISE(ABORT, 'record bodies and signatures are immutable'); END;
CREATE TRIGGER records_are_never_deleted
    BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'records are never deleted (retention deletes the sealed payload only)'); END;

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at_unix_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT,
    previous_sha256 TEXT NOT NULL,
    entry_sha256 TEXT NOT NULL
);
CREATE TRIGGER audit_is_append_only_update
    BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete
    BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// What the file's schema version says.
pub enum Migration {
    /// The file is current (after migrating it if it was older).
    Current,
    /// The file was written by newer software.
    TooNew(i64),
}

/// Brings the schema to [`SCHEMA_VERSION`] inside one transaction.
pub fn migrate(connection: &mut Connection) -> rusqlite::Result<Migration> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Ok(Migration::TooNew(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(Migration::Current);
    }
    let transaction = connection.transaction()?;
    if version < 1 {
        transaction.execute_batch(V1)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    transaction.commit()?;
    Ok(Migration::Current)
}
