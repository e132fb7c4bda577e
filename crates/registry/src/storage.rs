//! The registry's storage behind one trait, its SQLite implementation (the embedded default) and
//! the `--db` URL that picks an implementation (`sqlite:PATH` or `postgres://…`).
//! Storage keeps terminals, records exactly as received and their receipts; it makes no
//! verification decisions (the server does) and never parses sealed payloads.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior};

use enroll_core::domain::record::ChainStatus;
use enroll_core::domain::time::UnixMs;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be opened.
    #[error("cannot open the registry database {location}: {detail}")]
    Open {
        /// Path or URL (without password).
        location: String,
        /// What the driver said.
        detail: String,
    },
    /// Any other database failure.
    #[error("registry database failure: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        StorageError::Database(error.to_string())
    }
}

/// A verified record ready to store.
pub struct Incoming<'a> {
    pub id: &'a str,
    pub terminal_id: &'a str,
    pub body: &'a [u8],
    pub body_sha256: &'a str,
    pub previous_record_sha256: &'a str,
    pub signature: &'a [u8],
    pub sealed_payload: &'a [u8],
    pub received_at_unix_ms: UnixMs,
}

/// What storing a record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Newly stored, with its receipt.
    Stored {
        receipt: Vec<u8>,
        chain: ChainStatus,
    },
    /// The same id with the same bytes was stored before: its receipt.
    Duplicate { receipt: Vec<u8> },
    /// The same id with different bytes was stored before.
    Conflict,
}

/// A stored record.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub terminal_id: String,
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
    pub sealed_payload: Vec<u8>,
    pub chain: ChainStatus,
}

impl std::fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredRecord")
            .field("terminal_id", &self.terminal_id)
            .finish_non_exhaustive()
    }
}

/// Why and since when a terminal may no longer deliver records.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Revocation {
    pub revoked_at_unix_ms: i64,
    pub reason: String,
}

/// A registered terminal as `registry terminal list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TerminalEntry {
    pub id: String,
    /// SHA-256 of the Ed25519 public key, hex (the fingerprint `kiosk keygen` prints).
    pub key_fingerprint: String,
    pub registered_at_unix_ms: i64,
    pub records: u64,
    pub revoked: Option<Revocation>,
}

/// A one-time code an administrator made for a new terminal (`registry terminal invite`); only
/// its SHA-256 is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvite {
    pub code_sha256: String,
    pub terminal_id: String,
    pub created_at: UnixMs,
    pub expires_at: UnixMs,
}

/// What a provisioning code did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provisioned {
    /// The terminal's key is registered under the invite's terminal id.
    Registered { terminal_id: String },
    /// No invite has this code.
    Unknown,
    /// The code was used before.
    Used,
    /// The code's time ran out.
    Expired,
}

/// An invite's state as both stores read it: (terminal id, expiry, used).
pub(crate) fn invite_outcome(
    invite: Option<(String, i64, Option<i64>)>,
    now: UnixMs,
) -> Result<String, Provisioned> {
    match invite {
        None => Err(Provisioned::Unknown),
        Some((_, _, Some(_))) => Err(Provisioned::Used),
        Some((_, expires_at, None)) if now.as_i64() >= expires_at => Err(Provisioned::Expired),
        Some((terminal_id, _, None)) => Ok(terminal_id),
    }
}

/// Registers (or re-keys) a terminal, the same SQL for both stores (`{1}` id, `{2}` key, `{3}`
/// time).
pub(crate) const REGISTER_TERMINAL_SQL: &str =
    "INSERT INTO terminals (id, public_key, registered_at_unix_ms) VALUES ({1}, {2}, {3})
     ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key";

/// The terminal list's query, the same SQL for both stores.
pub(crate) const TERMINALS_SQL: &str = "
SELECT t.id, t.public_key, t.registered_at_unix_ms,
       (SELECT count(*) FROM records r WHERE r.terminal_id = t.id),
       v.revoked_at_unix_ms, v.reason
FROM terminals t LEFT JOIN terminal_revocations v ON v.terminal_id = t.id
ORDER BY t.id";

/// The registry's storage. Implementations are blocking; the server calls them from
/// `spawn_blocking`.
/// Records by a short reference's key, the same SQL for both stores (`{1}` the key).
pub(crate) const REFERENCE_KEY_SQL: &str =
    "SELECT id FROM records WHERE substr(id, 20, 4) || substr(id, 25, 7) = {1} ORDER BY id";

pub trait Storage:
    crate::identities::IdentityStore
    + crate::holders::HolderStore
    + crate::officers::OfficerStore
    + crate::fleet_health::HeartbeatStore
    + Send
    + Sync
    + 'static
{
    /// The Ed25519 public key registered for a terminal.
    fn terminal_key(&self, terminal_id: &str) -> Result<Option<[u8; 32]>, StorageError>;
    /// Registers (or re-keys) a terminal.
    fn add_terminal(
        &self,
        terminal_id: &str,
        public_key: [u8; 32],
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError>;
    /// Revokes a terminal from `at`: records it signed from then on are refused. `false` when no
    /// such terminal is registered. A second revocation keeps the first time and reason.
    fn revoke_terminal(
        &self,
        terminal_id: &str,
        at: UnixMs,
        reason: &str,
    ) -> Result<bool, StorageError>;
    /// Makes `new_key` the terminal's key; the current one is retired and still accepted for
    /// records that name it until `old_accepted_until`. `false` for an unknown terminal.
    fn rotate_terminal_key(
        &self,
        terminal_id: &str,
        new_key: [u8; 32],
        now: UnixMs,
        old_accepted_until: UnixMs,
    ) -> Result<bool, StorageError>;
    /// A retired key of the terminal with this fingerprint, while it is still accepted at `now`.
    fn retired_terminal_key(
        &self,
        terminal_id: &str,
        key_sha256: &str,
        now: UnixMs,
    ) -> Result<Option<[u8; 32]>, StorageError>;
    /// Keeps a provisioning invite.
    fn add_invite(&self, invite: &NewInvite) -> Result<(), StorageError>;
    /// Atomically: spends the invite whose code hashes to `code_sha256` and registers
    /// `public_key` for its terminal.
    fn provision(
        &self,
        code_sha256: &str,
        public_key: [u8; 32],
        now: UnixMs,
    ) -> Result<Provisioned, StorageError>;
    /// The terminal's revocation, when it is revoked.
    fn terminal_revocation(&self, terminal_id: &str) -> Result<Option<Revocation>, StorageError>;
    /// Every registered terminal, by id, with its record count and revocation.
    fn terminals(&self) -> Result<Vec<TerminalEntry>, StorageError>;
    /// Atomically: answers a duplicate or conflict, or links the record to its terminal's chain,
    /// asks `make_receipt` for the receipt of that chain status and stores record and receipt.
    fn ingest(
        &self,
        record: &Incoming<'_>,
        make_receipt: &dyn Fn(ChainStatus) -> Vec<u8>,
    ) -> Result<Ingested, StorageError>;
    /// A stored receipt.
    fn receipt(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// A stored record.
    fn record(&self, id: &str) -> Result<Option<StoredRecord>, StorageError>;
    /// Ids of the records whose id text holds `key` (a short reference's
    /// [`enroll_core::domain::reference::ShortReference::key`]); a full scan, for operators.
    fn record_ids_by_reference_key(&self, key: &str) -> Result<Vec<String>, StorageError>;
    /// How many records are stored.
    fn record_count(&self) -> Result<u64, StorageError>;
    /// Ids of records accepted with a chain gap and not reviewed yet, oldest first.
    fn flagged_records(&self) -> Result<Vec<String>, StorageError>;
}

/// Opens the storage a `--db` URL names: `sqlite:PATH`, or `postgres://USER@HOST:PORT/DB` with
/// up to `connections` connections.
pub fn open(url: &str, connections: usize) -> Result<Arc<dyn Storage>, StorageError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        return Ok(Arc::new(SqliteStorage::open(Path::new(path))?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(super::postgres::PostgresStorage::connect(
            url,
            connections,
        )?));
    }
    Err(StorageError::Open {
        location: "--db".into(),
        detail: "unsupported storage URL; use sqlite:PATH or postgres://USER@HOST:PORT/DB".into(),
    })
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS terminals (
    id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    registered_at_unix_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    previous_record_sha256 TEXT NOT NULL,
    signature BLOB NOT NULL,
    sealed_payload BLOB NOT NULL,
    chain TEXT NOT NULL,
    received_at_unix_ms INTEGER NOT NULL,
    receipt BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_terminal ON records (terminal_id, received_at_unix_ms);
CREATE TABLE IF NOT EXISTS chain_heads (
    terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
    body_sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_revocations (
    terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
    revoked_at_unix_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_retired_keys (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    key_sha256 TEXT NOT NULL,
    public_key BLOB NOT NULL,
    retired_at_unix_ms INTEGER NOT NULL,
    accepted_until_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (terminal_id, key_sha256)
);
CREATE TABLE IF NOT EXISTS terminal_invites (
    code_sha256 TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    created_at_unix_ms INTEGER NOT NULL,
    expires_at_unix_ms INTEGER NOT NULL,
    used_at_unix_ms INTEGER
);
";

/// Whether a record links to its terminal's chain head (`None`: the terminal has no record
/// yet, so the record must name the chain start); anything else is a gap, flagged for review.
pub(super) fn chain_status(head: Option<&str>, previous_record_sha256: &str) -> ChainStatus {
    let linked = match head {
        Some(head) => head == previous_record_sha256,
        None => previous_record_sha256 == enroll_core::domain::record::CHAIN_START,
    };
    if linked {
        ChainStatus::Linked
    } else {
        ChainStatus::GapFlagged
    }
}

/// How a chain status is stored.
pub(super) fn chain_name(chain: ChainStatus) -> &'static str {
    match chain {
        ChainStatus::Linked => "linked",
        ChainStatus::GapFlagged => "gap-flagged",
    }
}

/// The chain status of a stored name (anything but "linked" needs review).
pub(super) fn chain_from_name(name: &str) -> ChainStatus {
    if name == "linked" {
        ChainStatus::Linked
    } else {
        ChainStatus::GapFlagged
    }
}

/// SQLite storage (one file, WAL, `synchronous=FULL`).
pub struct SqliteStorage {
    connection: Mutex<Connection>,
}

impl SqliteStorage {
    /// Opens or creates the database.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let open_error = |error: rusqlite::Error| StorageError::Open {
            location: path.display().to_string(),
            detail: error.to_string(),
        };
        let connection = Connection::open(path).map_err(open_error)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_error)?;
        connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| {
                row.get::<_, String>(0)
            })
            .map_err(open_error)?;
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(open_error)?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        connection.execute_batch(SCHEMA).map_err(open_error)?;
        connection
            .execute_batch(crate::identities::SQLITE_SCHEMA)
            .map_err(open_error)?;
        connection
            .execute_batch(crate::holders::SQLITE_SCHEMA)
            .map_err(open_error)?;
        connection
            .execute_batch(crate::officers::SQLITE_SCHEMA)
            .map_err(open_error)?;
        connection
            .execute_batch(crate::fleet_health::SCHEMA)
            .map_err(open_error)?;
        Ok(SqliteStorage {
            connection: Mutex::new(connection),
        })
    }

    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        self.connection
            .lock()
            .map_err(|_| StorageError::Database("the connection lock is poisoned".into()))
    }
}

impl Storage for SqliteStorage {
    fn terminal_key(&self, terminal_id: &str) -> Result<Option<[u8; 32]>, StorageError> {
        let connection = self.lock()?;
        let key: Option<Vec<u8>> = connection
            .query_row(
                "SELECT public_key FROM terminals WHERE id = ?1",
                [terminal_id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(key.and_then(|k| <[u8; 32]>::try_from(k).ok()))
    }

    fn add_terminal(
        &self,
        terminal_id: &str,
        public_key: [u8; 32],
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError> {
        let connection = self.lock()?;
        connection.execute(
            &crate::holders::placeholders(REGISTER_TERMINAL_SQL, '?'),
            rusqlite::params![terminal_id, public_key.as_slice(), now_unix_ms.as_i64()],
        )?;
        Ok(())
    }

    fn revoke_terminal(
        &self,
        terminal_id: &str,
        at: UnixMs,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let connection = self.lock()?;
        let known = connection
            .query_row(
                "SELECT 1 FROM terminals WHERE id = ?1",
                [terminal_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if known {
            connection.execute(
                "INSERT INTO terminal_revocations (terminal_id, revoked_at_unix_ms, reason)
                 VALUES (?1, ?2, ?3) ON CONFLICT (terminal_id) DO NOTHING",
                rusqlite::params![terminal_id, at.as_i64(), reason],
            )?;
        }
        Ok(known)
    }

    fn rotate_terminal_key(
        &self,
        terminal_id: &str,
        new_key: [u8; 32],
        now: UnixMs,
        old_accepted_until: UnixMs,
    ) -> Result<bool, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        let current: Option<Vec<u8>> = transaction
            .query_row(
                "SELECT public_key FROM terminals WHERE id = ?1",
                [terminal_id],
                |row| row.get(0),
            )
            .optional()?;
        let Some(current) = current else {
            return Ok(false);
        };
        transaction.execute(
            "INSERT INTO terminal_retired_keys (terminal_id, key_sha256, public_key,
                 retired_at_unix_ms, accepted_until_unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (terminal_id, key_sha256) DO NOTHING",
            rusqlite::params![
                terminal_id,
                enroll_crypto::records::sha256_hex(&current),
                current,
                now.as_i64(),
                old_accepted_until.as_i64()
            ],
        )?;
        transaction.execute(
            "UPDATE terminals SET public_key = ?2 WHERE id = ?1",
            rusqlite::params![terminal_id, new_key.as_slice()],
        )?;
        transaction.commit()?;
        Ok(true)
    }

    fn retired_terminal_key(
        &self,
        terminal_id: &str,
        key_sha256: &str,
        now: UnixMs,
    ) -> Result<Option<[u8; 32]>, StorageError> {
        let connection = self.lock()?;
        let key: Option<Vec<u8>> = connection
            .query_row(
                "SELECT public_key FROM terminal_retired_keys
                 WHERE terminal_id = ?1 AND key_sha256 = ?2 AND accepted_until_unix_ms > ?3",
                rusqlite::params![terminal_id, key_sha256, now.as_i64()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(key.and_then(|k| <[u8; 32]>::try_from(k).ok()))
    }

    fn add_invite(&self, invite: &NewInvite) -> Result<(), StorageError> {
        let connection = self.lock()?;
        connection.execute(
            "INSERT INTO terminal_invites (code_sha256, terminal_id, created_at_unix_ms,
                                           expires_at_unix_ms)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                invite.code_sha256,
                invite.terminal_id,
                invite.created_at.as_i64(),
                invite.expires_at.as_i64()
            ],
        )?;
        Ok(())
    }

    fn provision(
        &self,
        code_sha256: &str,
        public_key: [u8; 32],
        now: UnixMs,
    ) -> Result<Provisioned, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        let invite = transaction
            .query_row(
                "SELECT terminal_id, expires_at_unix_ms, used_at_unix_ms FROM terminal_invites
                 WHERE code_sha256 = ?1",
                [code_sha256],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let terminal_id = match invite_outcome(invite, now) {
            Ok(terminal_id) => terminal_id,
            Err(refused) => return Ok(refused),
        };
        transaction.execute(
            "UPDATE terminal_invites SET used_at_unix_ms = ?2 WHERE code_sha256 = ?1",
            rusqlite::params![code_sha256, now.as_i64()],
        )?;
        transaction.execute(
            &crate::holders::placeholders(REGISTER_TERMINAL_SQL, '?'),
            rusqlite::params![terminal_id, public_key.as_slice(), now.as_i64()],
        )?;
        transaction.commit()?;
        Ok(Provisioned::Registered { terminal_id })
    }

    fn terminal_revocation(&self, terminal_id: &str) -> Result<Option<Revocation>, StorageError> {
        let connection = self.lock()?;
        Ok(connection
            .query_row(
                "SELECT revoked_at_unix_ms, reason FROM terminal_revocations WHERE terminal_id = ?1",
                [terminal_id],
                |row| {
                    Ok(Revocation {
                        revoked_at_unix_ms: row.get(0)?,
                        reason: row.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn terminals(&self) -> Result<Vec<TerminalEntry>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(TERMINALS_SQL)?;
        let rows = statement.query_map([], |row| {
            let key: Vec<u8> = row.get(1)?;
            let revoked_at: Option<i64> = row.get(4)?;
            let reason: Option<String> = row.get(5)?;
            Ok(TerminalEntry {
                id: row.get(0)?,
                key_fingerprint: enroll_crypto::records::sha256_hex(&key),
                registered_at_unix_ms: row.get(2)?,
                records: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                revoked: revoked_at.map(|revoked_at_unix_ms| Revocation {
                    revoked_at_unix_ms,
                    reason: reason.unwrap_or_default(),
                }),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn ingest(
        &self,
        record: &Incoming<'_>,
        make_receipt: &dyn Fn(ChainStatus) -> Vec<u8>,
    ) -> Result<Ingested, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<(String, Vec<u8>)> = transaction
            .query_row(
                "SELECT body_sha256, receipt FROM records WHERE id = ?1",
                [record.id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((body_sha256, receipt)) = existing {
            return Ok(if body_sha256 == record.body_sha256 {
                Ingested::Duplicate { receipt }
            } else {
                Ingested::Conflict
            });
        }
        let head: Option<String> = transaction
            .query_row(
                "SELECT body_sha256 FROM chain_heads WHERE terminal_id = ?1",
                [record.terminal_id],
                |row| row.get(0),
            )
            .optional()?;
        let chain = chain_status(head.as_deref(), record.previous_record_sha256);
        let receipt = make_receipt(chain);
        transaction.execute(
            "INSERT INTO records (id, terminal_id, body, body_sha256, previous_record_sha256,
                                  signature, sealed_payload, chain, received_at_unix_ms, receipt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            rusqlite::params![
                record.id,
                record.terminal_id,
                record.body,
                record.body_sha256,
                record.previous_record_sha256,
                record.signature,
                record.sealed_payload,
                chain_name(chain),
                record.received_at_unix_ms.as_i64(),
                receipt
            ],
        )?;
        // The head follows the newest record of the terminal's chain: a linked record, or a
        // flagged one that starts a new run after a gap.
        transaction.execute(
            "INSERT INTO chain_heads (terminal_id, body_sha256) VALUES (?1, ?2)
             ON CONFLICT (terminal_id) DO UPDATE SET body_sha256 = excluded.body_sha256",
            rusqlite::params![record.terminal_id, record.body_sha256],
        )?;
        transaction.commit()?;
        Ok(Ingested::Stored { receipt, chain })
    }

    fn receipt(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let connection = self.lock()?;
        Ok(connection
            .query_row("SELECT receipt FROM records WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?)
    }

    fn record_ids_by_reference_key(&self, key: &str) -> Result<Vec<String>, StorageError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&crate::holders::placeholders(REFERENCE_KEY_SQL, '?'))?;
        let ids = statement
            .query_map([key], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn record(&self, id: &str) -> Result<Option<StoredRecord>, StorageError> {
        let connection = self.lock()?;
        Ok(connection
            .query_row(
                "SELECT terminal_id, body, signature, sealed_payload, chain FROM records WHERE id = ?1",
                [id],
                |row| {
                    let chain: String = row.get(4)?;
                    Ok(StoredRecord {
                        terminal_id: row.get(0)?,
                        body: row.get(1)?,
                        signature: row.get(2)?,
                        sealed_payload: row.get(3)?,
                        chain: chain_from_name(&chain),
                    })
                },
            )
            .optional()?)
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        let connection = self.lock()?;
        let count: i64 =
            connection.query_row("SELECT count(*) FROM records", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn flagged_records(&self) -> Result<Vec<String>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT id FROM records WHERE chain <> 'linked'
             AND id NOT IN (SELECT record_id FROM reviews) ORDER BY received_at_unix_ms, id",
        )?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }
}
