//! The outbox's SQLite schema and its migrations, keyed by `PRAGMA user_version`. It owns the DDL
//! and nothing else; the rules that use the tables live in the sibling modules.

use rusqlite::Connection;

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = 4;

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

/// Version 2: the state index also carries the creation time, so it answers the enrollment guards
/// (how many records are unsent, and the oldest one's age) without reading the records, and a
/// commit still updates only one index besides the id's.
const V2: &str = "
DROP INDEX records_by_state;
CREATE INDEX records_by_state_due_age
    ON records (state, next_attempt_at_unix_ms, created_at_unix_ms);
";

/// Version 3: wrong-PIN counts and lockouts per badge, so a lockout survives a restart (wall-clock
/// times: the kiosk's own clock restarts with it).
const V3: &str = "
CREATE TABLE pin_failures (
    badge TEXT PRIMARY KEY,
    failures INTEGER NOT NULL CHECK (failures >= 0),
    locked_until_unix_ms INTEGER
);
";

/// Version 4: what the registry hands the terminal during sync (the signed officer roster, the
/// document-tag key), one row a kind, replaced whole.
const V4: &str = "
CREATE TABLE fleet_state (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    updated_at_unix_ms INTEGER NOT NULL
);
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
    if version < 2 {
        transaction.execute_batch(V2)?;
    }
    if version < 3 {
        transaction.execute_batch(V3)?;
    }
    if version < 4 {
        transaction.execute_batch(V4)?;
    }
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    transaction.commit()?;
    Ok(Migration::Current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_names(connection: &Connection) -> Vec<String> {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records' AND sql IS NOT NULL ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_file_migrates_to_the_guard_index_and_keeps_its_records() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(V1).unwrap();
        connection
            .execute(
                "INSERT INTO records (id, created_at_unix_ms, body, body_sha256, signature,
                                      next_attempt_at_unix_ms)
                 VALUES ('r', 1, x'00', 'h', x'00', 1)",
                [],
            )
            .unwrap();
        connection.pragma_update(None, "user_version", 1).unwrap();

        assert!(matches!(migrate(&mut connection), Ok(Migration::Current)));
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(index_names(&connection), ["records_by_state_due_age"]);
        let plan: String = connection
            .query_row(
                "EXPLAIN QUERY PLAN SELECT count(*), min(created_at_unix_ms) FROM records
                 WHERE state IN ('pending', 'sending')",
                [],
                |row| row.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("COVERING INDEX records_by_state_due_age"),
            "{plan}"
        );
        let records: i64 = connection
            .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
            .unwrap();
        assert_eq!(records, 1);
    }
}
