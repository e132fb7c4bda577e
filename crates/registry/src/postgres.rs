//! The registry's PostgreSQL storage (production; several registry instances may share one
//! database): a small blocking connection pool and the same [`Storage`] contract as SQLite. A
//! terminal's chain head row is locked (`FOR UPDATE`) while one of its records is linked, so
//! concurrent instances link each terminal's records one at a time. It makes no verification
//! decisions and never parses sealed payloads.

use std::str::FromStr as _;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls};

use super::storage::{
    Incoming, Ingested, NewInvite, Provisioned, Revocation, Storage, StorageError, StoredRecord,
    TERMINALS_SQL, TerminalEntry, chain_from_name, chain_status, invite_outcome,
};
use crate::fleet_health::{self, HeartbeatStore, KeptHeartbeat};
use crate::holders::{self, Activation, Attempt, HolderStore};
use crate::identities::{
    IdentityRow, IdentityStore, IssueOutcome, NewIdentity, NewToken, Selector, TokenRow,
};
use crate::officers::{self, Added, NewOfficer, OfficerRow, OfficerStore, Roster};
use enroll_core::domain::record::ChainStatus;
use enroll_core::domain::time::UnixMs;

/// How long a request waits for a free connection before it fails (and the terminal retries).
const CHECKOUT_TIMEOUT_MS: u64 = 30_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS terminals (
    id TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL,
    registered_at_unix_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    body BYTEA NOT NULL,
    body_sha256 TEXT NOT NULL,
    previous_record_sha256 TEXT NOT NULL,
    signature BYTEA NOT NULL,
    sealed_payload BYTEA NOT NULL,
    chain TEXT NOT NULL,
    received_at_unix_ms BIGINT NOT NULL,
    receipt BYTEA NOT NULL
);
-- Sealed payloads are ciphertext: compressing them is wasted work.
ALTER TABLE records ALTER COLUMN sealed_payload SET STORAGE EXTERNAL;
CREATE INDEX IF NOT EXISTS records_by_terminal ON records (terminal_id, received_at_unix_ms);
CREATE INDEX IF NOT EXISTS records_flagged ON records (chain) WHERE chain <> 'linked';
-- One row per registered terminal (made at registration, body_sha256 NULL until its first
-- record), locked while a record of that terminal is linked.
CREATE TABLE IF NOT EXISTS chain_heads (
    terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
    body_sha256 TEXT
);
-- Issued identities (crate::identities has the SQLite twin and what each column means).
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE REFERENCES records (id),
    document_key TEXT NOT NULL,
    tier TEXT NOT NULL,
    state TEXT NOT NULL,
    record_created_at_unix_ms BIGINT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    ended_at_unix_ms BIGINT
);
CREATE INDEX IF NOT EXISTS identities_active ON identities (document_key) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS tokens (
    cti BYTEA PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id),
    day TEXT NOT NULL,
    profile TEXT NOT NULL,
    handle TEXT NOT NULL,
    status_list BIGINT NOT NULL,
    status_index BIGINT NOT NULL,
    text TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (status_list, status_index)
);
CREATE INDEX IF NOT EXISTS tokens_by_identity ON tokens (identity_id, day);
CREATE INDEX IF NOT EXISTS tokens_by_handle ON tokens (handle);
CREATE TABLE IF NOT EXISTS issuance (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    decision TEXT NOT NULL,
    decided_at_unix_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    accepted_by TEXT NOT NULL,
    reviewed_at_unix_ms BIGINT NOT NULL
);
-- Activation codes and holders (crate::holders has the SQLite twin).
CREATE TABLE IF NOT EXISTS activations (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    identity_id TEXT NOT NULL REFERENCES identities (id),
    lookup TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at_unix_ms BIGINT NOT NULL,
    wrong_tries BIGINT NOT NULL DEFAULT 0,
    used_at_unix_ms BIGINT
);
CREATE INDEX IF NOT EXISTS activations_by_lookup ON activations (lookup);
CREATE TABLE IF NOT EXISTS holders (
    secret_hash TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id),
    device_public_key BYTEA,
    created_at_unix_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_revocations (
    terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
    revoked_at_unix_ms BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_invites (
    code_sha256 TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    created_at_unix_ms BIGINT NOT NULL,
    expires_at_unix_ms BIGINT NOT NULL,
    used_at_unix_ms BIGINT
);
CREATE TABLE IF NOT EXISTS terminal_retired_keys (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    key_sha256 TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    retired_at_unix_ms BIGINT NOT NULL,
    accepted_until_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, key_sha256)
);
-- The officer roster (crate::officers has the SQLite twin); its serial row is locked by every
-- change, so concurrent changes get consecutive serials.
CREATE TABLE IF NOT EXISTS officers (
    badge TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    pin_argon2id TEXT NOT NULL,
    terminals TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    changed_at_unix_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS roster_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    serial BIGINT NOT NULL
);
";

/// An arbitrary constant: the advisory lock that serialises schema creation between instances.
const SCHEMA_LOCK_KEY: i64 = 0x656e_726f_6c6c;

/// The SHA-256 of the schema text (hex), kept in `registry_schema` once the schema is made. An
/// instance that finds it there runs no DDL at all: on existing tables `SET STORAGE` takes an
/// ACCESS EXCLUSIVE lock and `CREATE INDEX IF NOT EXISTS` a SHARE lock, each held until the
/// schema transaction ends, and beside another instance's writes that deadlocked, so an instance
/// restarted under load failed to start (found by the fleet soak). A changed schema text runs the
/// (idempotent) DDL once more.
fn schema_sha256() -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::new()
        .chain_update(SCHEMA)
        .chain_update(fleet_health::SCHEMA)
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// PostgreSQL storage with a fixed-size connection pool.
pub struct PostgresStorage {
    config: postgres::Config,
    pool: Mutex<Pool>,
    returned: Condvar,
    max_connections: usize,
    location: String,
}

/// Idle connections, and how many are open (idle or leased).
struct Pool {
    idle: Vec<Client>,
    open: usize,
}

/// A connection borrowed from the pool; it goes back when dropped, unless it broke.
struct Lease<'a> {
    storage: &'a PostgresStorage,
    client: Option<Client>,
}

impl Lease<'_> {
    fn client(&mut self) -> Result<&mut Client, StorageError> {
        self.client
            .as_mut()
            .ok_or_else(|| StorageError::Database("the connection was lost".into()))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.storage.pool.lock() {
            match self.client.take() {
                Some(client) if !client.is_closed() => pool.idle.push(client),
                // A broken connection is closed; the next checkout opens a new one.
                _ => pool.open = pool.open.saturating_sub(1),
            }
            self.storage.returned.notify_one();
        }
    }
}

fn database_error(error: postgres::Error) -> StorageError {
    StorageError::Database(describe(&error))
}

/// What went wrong, for messages: the server's own message and SQLSTATE (for example `ERROR
/// deadlock detected (40P01)`), which the driver's `Display` leaves out (it says only "db error"),
/// or the driver's error with its cause ("error connecting to server: Connection refused"). The
/// server's DETAIL and HINT are left out: they can quote row values.
fn describe(error: &postgres::Error) -> String {
    match (error.as_db_error(), std::error::Error::source(error)) {
        (Some(db), _) => format!("{} {} ({})", db.severity(), db.message(), db.code().code()),
        (None, Some(cause)) => format!("{error}: {cause}"),
        (None, None) => error.to_string(),
    }
}

/// `host:port/dbname` of a connection string: where, without user or password.
fn location_of(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("(default database)");
    format!("postgres://{host}:{port}/{database}")
}

impl PostgresStorage {
    /// Connects `connections` clients to `url` (`postgres://user@host:port/db`) and creates the
    /// schema when it is missing.
    pub fn connect(url: &str, connections: usize) -> Result<Self, StorageError> {
        let config = postgres::Config::from_str(url).map_err(|error| StorageError::Open {
            location: "the postgres:// URL".into(),
            detail: format!("it cannot be parsed ({error}); expected postgres://USER@HOST:PORT/DB"),
        })?;
        let location = location_of(&config);
        let open_error = |error: postgres::Error| StorageError::Open {
            location: location.clone(),
            detail: describe(&error),
        };
        let mut first = config.connect(NoTls).map_err(open_error)?;
        let mut transaction = first.transaction().map_err(open_error)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
            .map_err(open_error)?;
        let fingerprint = schema_sha256();
        let kept: bool = transaction
            .query_one("SELECT to_regclass('registry_schema') IS NOT NULL", &[])
            .map_err(open_error)?
            .get(0);
        let current = kept
            && transaction
                .query_opt(
                    "SELECT 1 FROM registry_schema WHERE sha256 = $1",
                    &[&fingerprint],
                )
                .map_err(open_error)?
                .is_some();
        if !current {
            transaction.batch_execute(SCHEMA).map_err(open_error)?;
            transaction
                .batch_execute(fleet_health::SCHEMA)
                .map_err(open_error)?;
            transaction
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS registry_schema (sha256 TEXT NOT NULL);
                     DELETE FROM registry_schema;",
                )
                .map_err(open_error)?;
            transaction
                .execute(
                    "INSERT INTO registry_schema (sha256) VALUES ($1)",
                    &[&fingerprint],
                )
                .map_err(open_error)?;
        }
        transaction.commit().map_err(open_error)?;
        Ok(PostgresStorage {
            config,
            pool: Mutex::new(Pool {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
            max_connections: connections.max(1),
            location,
        })
    }

    /// Where the database is (no credentials), for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn lease(&self) -> Result<Lease<'_>, StorageError> {
        let poisoned = || StorageError::Database("the connection pool lock is poisoned".into());
        let mut pool = self.pool.lock().map_err(|_| poisoned())?;
        loop {
            if let Some(client) = pool.idle.pop() {
                return Ok(Lease {
                    storage: self,
                    client: Some(client),
                });
            }
            if pool.open < self.max_connections {
                pool.open += 1;
                drop(pool);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Lease {
                        storage: self,
                        client: Some(client),
                    }),
                    Err(error) => {
                        if let Ok(mut pool) = self.pool.lock() {
                            pool.open = pool.open.saturating_sub(1);
                        }
                        Err(StorageError::Database(format!(
                            "cannot connect to {}: {}",
                            self.location,
                            describe(&error)
                        )))
                    }
                };
            }
            let (guard, timeout) = self
                .returned
                .wait_timeout(pool, Duration::from_millis(CHECKOUT_TIMEOUT_MS))
                .map_err(|_| poisoned())?;
            pool = guard;
            if timeout.timed_out() && pool.idle.is_empty() && pool.open >= self.max_connections {
                return Err(StorageError::Database(format!(
                    "no free database connection within {CHECKOUT_TIMEOUT_MS} ms"
                )));
            }
        }
    }
}

/// Registers (or re-keys) a terminal and gives it its chain-head row (locked while its records
/// are linked), inside the caller's transaction.
fn register_terminal(
    transaction: &mut postgres::Transaction<'_>,
    terminal_id: &str,
    public_key: [u8; 32],
    now: UnixMs,
) -> Result<(), StorageError> {
    transaction
        .execute(
            &crate::holders::placeholders(super::storage::REGISTER_TERMINAL_SQL, '$'),
            &[&terminal_id, &public_key.as_slice(), &now.as_i64()],
        )
        .map_err(database_error)?;
    transaction
        .execute(
            "INSERT INTO chain_heads (terminal_id, body_sha256) VALUES ($1, NULL)
             ON CONFLICT (terminal_id) DO NOTHING",
            &[&terminal_id],
        )
        .map_err(database_error)?;
    Ok(())
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        let idle = match self.pool.get_mut() {
            Ok(pool) => std::mem::take(&mut pool.idle),
            Err(poisoned) => std::mem::take(&mut poisoned.into_inner().idle),
        };
        if idle.is_empty() {
            return;
        }
        // A postgres::Client blocks on a runtime of its own when dropped, which is not allowed
        // on a thread that drives async tasks (the server's last reference may go there).
        if let Ok(closer) = std::thread::Builder::new()
            .name("postgres-close".into())
            .spawn(move || drop(idle))
        {
            let _ = closer.join();
        }
    }
}

/// One attempt at [`Storage::ingest`]; `Ok(None)` means another instance stored the same id
/// concurrently and the attempt should be repeated.
fn ingest_once(
    client: &mut Client,
    record: &Incoming<'_>,
    make_receipt: &dyn Fn(ChainStatus) -> Vec<u8>,
) -> Result<Option<Ingested>, postgres::Error> {
    let mut transaction = client.transaction()?;
    // Lock the terminal's chain head first: records of one terminal link one at a time.
    let head: Option<String> = match transaction.query_opt(
        "SELECT body_sha256 FROM chain_heads WHERE terminal_id = $1 FOR UPDATE",
        &[&record.terminal_id],
    )? {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    if let Some(row) = transaction.query_opt(
        "SELECT body_sha256, receipt FROM records WHERE id = $1",
        &[&record.id],
    )? {
        let body_sha256: String = row.try_get(0)?;
        let receipt: Vec<u8> = row.try_get(1)?;
        return Ok(Some(if body_sha256 == record.body_sha256 {
            Ingested::Duplicate { receipt }
        } else {
            Ingested::Conflict
        }));
    }
    let chain = chain_status(head.as_deref(), record.previous_record_sha256);
    let receipt = make_receipt(chain);
    let inserted = transaction.execute(
        "INSERT INTO records (id, terminal_id, body, body_sha256, previous_record_sha256,
                              signature, sealed_payload, chain, received_at_unix_ms, receipt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &record.id,
            &record.terminal_id,
            &record.body,
            &record.body_sha256,
            &record.previous_record_sha256,
            &record.signature,
            &record.sealed_payload,
            &super::storage::chain_name(chain),
            &record.received_at_unix_ms.as_i64(),
            &receipt,
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
        Err(error) => return Err(error),
    }
    transaction.execute(
        "INSERT INTO chain_heads (terminal_id, body_sha256) VALUES ($1, $2)
         ON CONFLICT (terminal_id) DO UPDATE SET body_sha256 = excluded.body_sha256",
        &[&record.terminal_id, &record.body_sha256],
    )?;
    transaction.commit()?;
    Ok(Some(Ingested::Stored { receipt, chain }))
}

impl Storage for PostgresStorage {
    fn terminal_key(&self, terminal_id: &str) -> Result<Option<[u8; 32]>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                "SELECT public_key FROM terminals WHERE id = $1",
                &[&terminal_id],
            )
            .map_err(database_error)?;
        Ok(match row {
            Some(row) => {
                let key: Vec<u8> = row.try_get(0).map_err(database_error)?;
                <[u8; 32]>::try_from(key).ok()
            }
            None => None,
        })
    }

    fn add_terminal(
        &self,
        terminal_id: &str,
        public_key: [u8; 32],
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError> {
        let mut lease = self.lease()?;
        let mut transaction = lease.client()?.transaction().map_err(database_error)?;
        register_terminal(&mut transaction, terminal_id, public_key, now_unix_ms)?;
        transaction.commit().map_err(database_error)
    }

    fn revoke_terminal(
        &self,
        terminal_id: &str,
        at: UnixMs,
        reason: &str,
    ) -> Result<bool, StorageError> {
        let mut lease = self.lease()?;
        let client = lease.client()?;
        let known = client
            .query_opt("SELECT 1 FROM terminals WHERE id = $1", &[&terminal_id])
            .map_err(database_error)?
            .is_some();
        if known {
            client
                .execute(
                    "INSERT INTO terminal_revocations (terminal_id, revoked_at_unix_ms, reason)
                     VALUES ($1, $2, $3) ON CONFLICT (terminal_id) DO NOTHING",
                    &[&terminal_id, &at.as_i64(), &reason],
                )
                .map_err(database_error)?;
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
        let mut lease = self.lease()?;
        let mut transaction = lease.client()?.transaction().map_err(database_error)?;
        let Some(row) = transaction
            .query_opt(
                "SELECT public_key FROM terminals WHERE id = $1 FOR UPDATE",
                &[&terminal_id],
            )
            .map_err(database_error)?
        else {
            return Ok(false);
        };
        let current: Vec<u8> = row.try_get(0).map_err(database_error)?;
        transaction
            .execute(
                "INSERT INTO terminal_retired_keys (terminal_id, key_sha256, public_key,
                     retired_at_unix_ms, accepted_until_unix_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (terminal_id, key_sha256) DO NOTHING",
                &[
                    &terminal_id,
                    &enroll_crypto::records::sha256_hex(&current),
                    &current,
                    &now.as_i64(),
                    &old_accepted_until.as_i64(),
                ],
            )
            .map_err(database_error)?;
        transaction
            .execute(
                "UPDATE terminals SET public_key = $2 WHERE id = $1",
                &[&terminal_id, &new_key.as_slice()],
            )
            .map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
        Ok(true)
    }

    fn retired_terminal_key(
        &self,
        terminal_id: &str,
        key_sha256: &str,
        now: UnixMs,
    ) -> Result<Option<[u8; 32]>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                "SELECT public_key FROM terminal_retired_keys
                 WHERE terminal_id = $1 AND key_sha256 = $2 AND accepted_until_unix_ms > $3",
                &[&terminal_id, &key_sha256, &now.as_i64()],
            )
            .map_err(database_error)?;
        Ok(match row {
            Some(row) => {
                let key: Vec<u8> = row.try_get(0).map_err(database_error)?;
                <[u8; 32]>::try_from(key).ok()
            }
            None => None,
        })
    }

    fn add_invite(&self, invite: &NewInvite) -> Result<(), StorageError> {
        let mut lease = self.lease()?;
        lease
            .client()?
            .execute(
                "INSERT INTO terminal_invites (code_sha256, terminal_id, created_at_unix_ms,
                                               expires_at_unix_ms)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &invite.code_sha256,
                    &invite.terminal_id,
                    &invite.created_at.as_i64(),
                    &invite.expires_at.as_i64(),
                ],
            )
            .map_err(database_error)?;
        Ok(())
    }

    fn provision(
        &self,
        code_sha256: &str,
        public_key: [u8; 32],
        now: UnixMs,
    ) -> Result<Provisioned, StorageError> {
        let mut lease = self.lease()?;
        let mut transaction = lease.client()?.transaction().map_err(database_error)?;
        let invite = transaction
            .query_opt(
                "SELECT terminal_id, expires_at_unix_ms, used_at_unix_ms FROM terminal_invites
                 WHERE code_sha256 = $1 FOR UPDATE",
                &[&code_sha256],
            )
            .map_err(database_error)?
            .map(|row| -> Result<(String, i64, Option<i64>), StorageError> {
                Ok((
                    row.try_get(0).map_err(database_error)?,
                    row.try_get(1).map_err(database_error)?,
                    row.try_get(2).map_err(database_error)?,
                ))
            })
            .transpose()?;
        let terminal_id = match invite_outcome(invite, now) {
            Ok(terminal_id) => terminal_id,
            Err(refused) => return Ok(refused),
        };
        transaction
            .execute(
                "UPDATE terminal_invites SET used_at_unix_ms = $2 WHERE code_sha256 = $1",
                &[&code_sha256, &now.as_i64()],
            )
            .map_err(database_error)?;
        register_terminal(&mut transaction, &terminal_id, public_key, now)?;
        transaction.commit().map_err(database_error)?;
        Ok(Provisioned::Registered { terminal_id })
    }

    fn terminal_revocation(&self, terminal_id: &str) -> Result<Option<Revocation>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                "SELECT revoked_at_unix_ms, reason FROM terminal_revocations WHERE terminal_id = $1",
                &[&terminal_id],
            )
            .map_err(database_error)?;
        row.map(|row| {
            Ok(Revocation {
                revoked_at_unix_ms: row.try_get(0).map_err(database_error)?,
                reason: row.try_get(1).map_err(database_error)?,
            })
        })
        .transpose()
    }

    fn terminals(&self) -> Result<Vec<TerminalEntry>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(TERMINALS_SQL, &[])
            .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                let key: Vec<u8> = row.try_get(1).map_err(database_error)?;
                let revoked_at: Option<i64> = row.try_get(4).map_err(database_error)?;
                let reason: Option<String> = row.try_get(5).map_err(database_error)?;
                let records: i64 = row.try_get(3).map_err(database_error)?;
                Ok(TerminalEntry {
                    id: row.try_get(0).map_err(database_error)?,
                    key_fingerprint: enroll_crypto::records::sha256_hex(&key),
                    registered_at_unix_ms: row.try_get(2).map_err(database_error)?,
                    records: u64::try_from(records).unwrap_or(0),
                    revoked: revoked_at.map(|revoked_at_unix_ms| Revocation {
                        revoked_at_unix_ms,
                        reason: reason.unwrap_or_default(),
                    }),
                })
            })
            .collect()
    }

    fn ingest(
        &self,
        record: &Incoming<'_>,
        make_receipt: &dyn Fn(ChainStatus) -> Vec<u8>,
    ) -> Result<Ingested, StorageError> {
        let mut lease = self.lease()?;
        // A concurrent insert of the same id by another instance is seen on the second attempt.
        for _ in 0..3 {
            if let Some(ingested) =
                ingest_once(lease.client()?, record, make_receipt).map_err(database_error)?
            {
                return Ok(ingested);
            }
        }
        Err(StorageError::Database(
            "the record id kept colliding with concurrent inserts".into(),
        ))
    }

    fn receipt(&self, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt("SELECT receipt FROM records WHERE id = $1", &[&id])
            .map_err(database_error)?;
        row.map(|row| row.try_get(0).map_err(database_error))
            .transpose()
    }

    fn record_ids_by_reference_key(&self, key: &str) -> Result<Vec<String>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                &holders::placeholders(super::storage::REFERENCE_KEY_SQL, '$'),
                &[&key],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<String>, _>>()
            .map_err(database_error)
    }

    fn record(&self, id: &str) -> Result<Option<StoredRecord>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                "SELECT terminal_id, body, signature, sealed_payload, chain FROM records WHERE id = $1",
                &[&id],
            )
            .map_err(database_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let chain: String = row.try_get(4).map_err(database_error)?;
        Ok(Some(StoredRecord {
            terminal_id: row.try_get(0).map_err(database_error)?,
            body: row.try_get(1).map_err(database_error)?,
            signature: row.try_get(2).map_err(database_error)?,
            sealed_payload: row.try_get(3).map_err(database_error)?,
            chain: chain_from_name(&chain),
        }))
    }

    fn record_count(&self) -> Result<u64, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_one("SELECT count(*) FROM records", &[])
            .map_err(database_error)?;
        let count: i64 = row.try_get(0).map_err(database_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn flagged_records(&self) -> Result<Vec<String>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                "SELECT id FROM records WHERE chain <> 'linked'
                 AND id NOT IN (SELECT record_id FROM reviews) ORDER BY received_at_unix_ms, id",
                &[],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(database_error))
            .collect()
    }
}

fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn insert_tokens_pg(
    transaction: &mut postgres::Transaction<'_>,
    identity_id: &str,
    tokens: &[NewToken],
) -> Result<(), postgres::Error> {
    let insert = transaction.prepare(
        "INSERT INTO tokens (cti, identity_id, day, profile, handle, status_list, status_index, text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?;
    for token in tokens {
        transaction.execute(
            &insert,
            &[
                &token.cti.as_slice(),
                &identity_id,
                &token.day,
                &token.profile,
                &token.handle,
                &i64::from(token.status_list),
                &i64::from(token.status_index),
                &token.text,
            ],
        )?;
    }
    Ok(())
}

/// Marks an identity's outstanding tokens revoked; how many were.
fn revoke_tokens_pg(
    transaction: &mut postgres::Transaction<'_>,
    identity_id: &str,
) -> Result<u64, postgres::Error> {
    transaction.execute(
        "UPDATE tokens SET revoked = TRUE WHERE identity_id = $1 AND NOT revoked",
        &[&identity_id],
    )
}

fn issue_identity_once(
    client: &mut Client,
    identity: &NewIdentity,
    tokens: &[NewToken],
) -> Result<IssueOutcome, postgres::Error> {
    let mut transaction = client.transaction()?;
    // Identities of one document are decided one at a time across instances.
    transaction.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&identity.document_key],
    )?;
    if transaction
        .query_opt(
            "SELECT decision FROM issuance WHERE record_id = $1",
            &[&identity.record_id],
        )?
        .is_some()
    {
        return Ok(IssueOutcome::AlreadyDecided);
    }
    let newer = transaction.query_opt(
        "SELECT id FROM identities WHERE document_key = $1 AND state = 'active'
         AND record_created_at_unix_ms > $2",
        &[
            &identity.document_key,
            &identity.record_created_at_unix_ms.as_i64(),
        ],
    )?;
    let now = identity.now_unix_ms.as_i64();
    let (state, decision, outcome) = if newer.is_some() {
        (
            "superseded",
            "superseded-on-arrival",
            IssueOutcome::SupersededOnArrival,
        )
    } else {
        let superseded: Vec<String> = transaction
            .query(
                "UPDATE identities SET state = 'superseded', ended_at_unix_ms = $2
                 WHERE document_key = $1 AND state = 'active' RETURNING id",
                &[&identity.document_key, &now],
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        for old in &superseded {
            revoke_tokens_pg(&mut transaction, old)?;
        }
        ("active", "issued", IssueOutcome::Issued { superseded })
    };
    let ended: Option<i64> = (state != "active").then_some(now);
    transaction.execute(
        "INSERT INTO identities (id, record_id, document_key, tier, state,
                                 record_created_at_unix_ms, created_at_unix_ms, ended_at_unix_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &identity.id,
            &identity.record_id,
            &identity.document_key,
            &identity.tier,
            &state,
            &identity.record_created_at_unix_ms.as_i64(),
            &now,
            &ended,
        ],
    )?;
    if state == "active" {
        insert_tokens_pg(&mut transaction, &identity.id, tokens)?;
    }
    if let Some(activation) = &identity.activation {
        transaction.execute(
            "INSERT INTO activations (record_id, identity_id, lookup, code_hash, expires_at_unix_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (record_id) DO NOTHING",
            &[
                &identity.record_id,
                &identity.id,
                &activation.lookup,
                &activation.code_hash,
                &activation.expires_at_unix_ms.as_i64(),
            ],
        )?;
    }
    transaction.execute(
        "INSERT INTO issuance (record_id, decision, decided_at_unix_ms) VALUES ($1, $2, $3)",
        &[&identity.record_id, &decision, &now],
    )?;
    transaction.commit()?;
    Ok(outcome)
}

/// An identity from the first six columns of a row (id, record, tier, state, created, ended).
fn identity_row(row: &postgres::Row) -> Result<IdentityRow, postgres::Error> {
    Ok(IdentityRow {
        id: row.try_get(0)?,
        record_id: row.try_get(1)?,
        tier: row.try_get(2)?,
        state: row.try_get(3)?,
        created_at_unix_ms: row.try_get(4)?,
        ended_at_unix_ms: row.try_get(5)?,
    })
}

fn activate_once(
    client: &mut Client,
    attempt: &Attempt<'_>,
) -> Result<Activation, postgres::Error> {
    let mut transaction = client.transaction()?;
    // Tries against one lookup are counted one at a time.
    transaction.execute(
        "SELECT pg_advisory_xact_lock(hashtext('activation:' || $1))",
        &[&attempt.lookup],
    )?;
    let found = transaction.query_opt(
        &holders::placeholders(holders::FIND_CODE, '$'),
        &[&attempt.lookup, &attempt.code_hash],
    )?;
    let Some(found) = found else {
        transaction.execute(
            &holders::placeholders(holders::COUNT_WRONG_TRY, '$'),
            &[&attempt.lookup],
        )?;
        transaction.commit()?;
        return Ok(Activation::NotKnown);
    };
    let row = holders::CodeRow {
        identity_id: found.try_get(0)?,
        expires_at_unix_ms: found.try_get(1)?,
        wrong_tries: found.try_get(2)?,
        used: found.try_get(3)?,
        identity_active: found.try_get(4)?,
    };
    if let Some(refused) = holders::refusal(&row, attempt.now_unix_ms) {
        return Ok(refused);
    }
    let now = attempt.now_unix_ms.as_i64();
    transaction.execute(
        "UPDATE activations SET used_at_unix_ms = $3 WHERE lookup = $1 AND code_hash = $2",
        &[&attempt.lookup, &attempt.code_hash, &now],
    )?;
    transaction.execute(
        "INSERT INTO holders (secret_hash, identity_id, device_public_key, created_at_unix_ms)
         VALUES ($1, $2, $3, $4)",
        &[
            &attempt.secret_hash,
            &row.identity_id,
            &attempt.device_public_key,
            &now,
        ],
    )?;
    transaction.commit()?;
    Ok(Activation::Activated {
        identity_id: row.identity_id,
    })
}

impl OfficerStore for PostgresStorage {
    fn add_officer(&self, officer: &NewOfficer, now: UnixMs) -> Result<Added, StorageError> {
        let mut lease = self.lease()?;
        let mut transaction = lease.client()?.transaction().map_err(database_error)?;
        // The serial row first: changes queue behind each other here.
        transaction
            .execute(officers::BUMP_SERIAL, &[])
            .map_err(database_error)?;
        let active = transaction
            .query_opt(
                &holders::placeholders(officers::ACTIVE_BADGE, '$'),
                &[&officer.badge],
            )
            .map_err(database_error)?
            .is_some();
        if active {
            transaction.rollback().map_err(database_error)?;
            return Ok(Added::Exists);
        }
        transaction
            .execute(
                &holders::placeholders(officers::PUT_OFFICER, '$'),
                &[
                    &officer.badge,
                    &officers::role_name(officer.role),
                    &officer.pin_argon2id,
                    &officers::terminals_text(&officer.terminals),
                    &now.as_i64(),
                ],
            )
            .map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
        Ok(Added::Added)
    }

    fn disable_officer(&self, badge: &str, now: UnixMs) -> Result<bool, StorageError> {
        let mut lease = self.lease()?;
        let mut transaction = lease.client()?.transaction().map_err(database_error)?;
        transaction
            .execute(officers::BUMP_SERIAL, &[])
            .map_err(database_error)?;
        let changed = transaction
            .execute(
                &holders::placeholders(officers::DISABLE_OFFICER, '$'),
                &[&badge, &now.as_i64()],
            )
            .map_err(database_error)?;
        if changed == 0 {
            transaction.rollback().map_err(database_error)?;
            return Ok(false);
        }
        transaction.commit().map_err(database_error)?;
        Ok(true)
    }

    fn roster(&self) -> Result<Roster, StorageError> {
        let mut lease = self.lease()?;
        let client = lease.client()?;
        let serial: Option<i64> = client
            .query_opt(officers::SERIAL, &[])
            .map_err(database_error)?
            .map(|row| row.get(0));
        let officers = client
            .query(officers::OFFICERS, &[])
            .map_err(database_error)?
            .iter()
            .map(|row| OfficerRow {
                badge: row.get(0),
                role: officers::role_from_name(row.get(1)),
                pin_argon2id: row.get(2),
                terminals: officers::terminals_of(row.get(3)),
                disabled: row.get(4),
                changed_at_unix_ms: row.get(5),
            })
            .collect();
        Ok(Roster {
            serial: serial.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            officers,
        })
    }
}

impl HeartbeatStore for PostgresStorage {
    fn keep_heartbeat(
        &self,
        terminal_id: &str,
        sent_at: UnixMs,
        received_at: UnixMs,
        heartbeat_json: &str,
    ) -> Result<(), StorageError> {
        let mut lease = self.lease()?;
        lease
            .client()?
            .execute(
                &holders::placeholders(fleet_health::KEEP, '$'),
                &[
                    &terminal_id,
                    &sent_at.as_i64(),
                    &received_at.as_i64(),
                    &heartbeat_json,
                ],
            )
            .map_err(database_error)?;
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<KeptHeartbeat>, StorageError> {
        let mut lease = self.lease()?;
        Ok(lease
            .client()?
            .query(fleet_health::ALL, &[])
            .map_err(database_error)?
            .iter()
            .filter_map(|row| fleet_health::kept(row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect())
    }
}

impl HolderStore for PostgresStorage {
    fn activate(&self, attempt: &Attempt<'_>) -> Result<Activation, StorageError> {
        let mut lease = self.lease()?;
        activate_once(lease.client()?, attempt).map_err(database_error)
    }
}

impl IdentityStore for PostgresStorage {
    fn accept_gap(
        &self,
        record_id: &str,
        accepted_by: &str,
        now_unix_ms: UnixMs,
    ) -> Result<bool, StorageError> {
        let mut lease = self.lease()?;
        let accepted = lease
            .client()?
            .execute(
                "INSERT INTO reviews (record_id, accepted_by, reviewed_at_unix_ms)
                 SELECT id, $2, $3 FROM records WHERE id = $1 AND chain <> 'linked'
                 ON CONFLICT (record_id) DO NOTHING",
                &[&record_id, &accepted_by, &now_unix_ms.as_i64()],
            )
            .map_err(database_error)?;
        Ok(accepted == 1)
    }

    fn pending_issuance(&self, limit: usize) -> Result<Vec<String>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                "SELECT r.id FROM records r LEFT JOIN issuance i ON i.record_id = r.id
                 WHERE i.record_id IS NULL
                   AND (r.chain = 'linked' OR EXISTS (SELECT 1 FROM reviews v WHERE v.record_id = r.id))
                 ORDER BY r.received_at_unix_ms, r.id LIMIT $1",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| row.try_get(0).map_err(database_error))
            .collect()
    }

    fn refuse_issuance(
        &self,
        record_id: &str,
        reason: &str,
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError> {
        let mut lease = self.lease()?;
        lease
            .client()?
            .execute(
                "INSERT INTO issuance (record_id, decision, decided_at_unix_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (record_id) DO NOTHING",
                &[
                    &record_id,
                    &format!("refused:{reason}"),
                    &now_unix_ms.as_i64(),
                ],
            )
            .map_err(database_error)?;
        Ok(())
    }

    fn issuance_decision(&self, record_id: &str) -> Result<Option<String>, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                "SELECT decision FROM issuance WHERE record_id = $1",
                &[&record_id],
            )
            .map_err(database_error)?;
        row.map(|row| row.try_get(0).map_err(database_error))
            .transpose()
    }

    fn issue_identity(
        &self,
        identity: &NewIdentity,
        tokens: &[NewToken],
    ) -> Result<IssueOutcome, StorageError> {
        let mut lease = self.lease()?;
        issue_identity_once(lease.client()?, identity, tokens).map_err(database_error)
    }

    fn find_identity(&self, selector: Selector<'_>) -> Result<Option<IdentityRow>, StorageError> {
        let (condition, key) = match selector {
            Selector::Record(id) => ("record_id = $1", id),
            Selector::Handle(handle) => (
                "id = (SELECT identity_id FROM tokens WHERE handle = $1 LIMIT 1)",
                handle,
            ),
            Selector::Holder(secret_hash) => (
                "id = (SELECT identity_id FROM holders WHERE secret_hash = $1)",
                secret_hash,
            ),
        };
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_opt(
                &format!(
                    "SELECT id, record_id, tier, state, created_at_unix_ms, ended_at_unix_ms
                     FROM identities WHERE {condition}"
                ),
                &[&key],
            )
            .map_err(database_error)?;
        row.as_ref()
            .map(identity_row)
            .transpose()
            .map_err(database_error)
    }

    fn identity_tokens(&self, identity_id: &str) -> Result<Vec<TokenRow>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                "SELECT day, profile, handle, status_list, status_index, text, revoked FROM tokens
                 WHERE identity_id = $1 ORDER BY day, profile",
                &[&identity_id],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| {
                Ok(TokenRow {
                    day: row.try_get(0)?,
                    profile: row.try_get(1)?,
                    handle: row.try_get(2)?,
                    status_list: to_u32(row.try_get(3)?),
                    status_index: to_u32(row.try_get(4)?),
                    text: row.try_get(5)?,
                    revoked: row.try_get(6)?,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(database_error)
    }

    fn batches_ending_before(
        &self,
        day: &str,
        limit: usize,
    ) -> Result<Vec<(IdentityRow, String)>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                &holders::placeholders(crate::identities::BATCHES_ENDING, '$'),
                &[&day, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| Ok((identity_row(row)?, row.try_get(6)?)))
            .collect::<Result<Vec<_>, postgres::Error>>()
            .map_err(database_error)
    }

    fn extend_tokens(
        &self,
        identity_id: &str,
        first_day: &str,
        tokens: &[NewToken],
    ) -> Result<bool, StorageError> {
        let mut lease = self.lease()?;
        let run = |client: &mut Client| -> Result<bool, postgres::Error> {
            let mut transaction = client.transaction()?;
            transaction.execute(
                "SELECT pg_advisory_xact_lock(hashtext('extend:' || $1))",
                &[&identity_id],
            )?;
            let last: Option<String> = transaction
                .query_one(
                    "SELECT max(day) FROM tokens WHERE identity_id = $1 AND NOT revoked",
                    &[&identity_id],
                )?
                .try_get(0)?;
            if last.is_some_and(|last| last.as_str() >= first_day) {
                return Ok(false);
            }
            insert_tokens_pg(&mut transaction, identity_id, tokens)?;
            transaction.commit()?;
            Ok(true)
        };
        run(lease.client()?).map_err(database_error)
    }

    fn reissue_tokens(&self, identity_id: &str, tokens: &[NewToken]) -> Result<u64, StorageError> {
        let mut lease = self.lease()?;
        let client = lease.client()?;
        let run = |client: &mut Client| -> Result<u64, postgres::Error> {
            let mut transaction = client.transaction()?;
            let revoked = revoke_tokens_pg(&mut transaction, identity_id)?;
            insert_tokens_pg(&mut transaction, identity_id, tokens)?;
            transaction.commit()?;
            Ok(revoked)
        };
        run(client).map_err(database_error)
    }

    fn revoke_identity(&self, identity_id: &str, now_unix_ms: UnixMs) -> Result<u64, StorageError> {
        let mut lease = self.lease()?;
        let client = lease.client()?;
        let run = |client: &mut Client| -> Result<u64, postgres::Error> {
            let mut transaction = client.transaction()?;
            let revoked = revoke_tokens_pg(&mut transaction, identity_id)?;
            transaction.execute(
                "UPDATE identities SET state = 'revoked', ended_at_unix_ms = $2
                 WHERE id = $1 AND state <> 'revoked'",
                &[&identity_id, &now_unix_ms.as_i64()],
            )?;
            transaction.commit()?;
            Ok(revoked)
        };
        run(client).map_err(database_error)
    }

    fn status_list_numbers(&self) -> Result<Vec<u32>, StorageError> {
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query(
                "SELECT DISTINCT status_list FROM tokens ORDER BY status_list",
                &[],
            )
            .map_err(database_error)?;
        rows.iter()
            .map(|row| row.try_get(0).map(to_u32).map_err(database_error))
            .collect()
    }

    /// Streams the rows: a list holds up to 65,536 tokens, and the issuer reads the list it fills
    /// every pass. Collected as driver rows first (each with its own buffers) that was about 8 MB
    /// at a time, and the fleet soak saw the registry's memory climb with the list; streamed, it is
    /// the 8 bytes a bit takes in the result.
    fn status_bits(&self, list: u32) -> Result<Vec<(u32, bool)>, StorageError> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let mut lease = self.lease()?;
        let rows = lease
            .client()?
            .query_raw(
                "SELECT status_index, revoked FROM tokens WHERE status_list = $1",
                [i64::from(list)],
            )
            .map_err(database_error)?;
        rows.map(|row| Ok((to_u32(row.try_get(0)?), row.try_get(1)?)))
            .collect()
            .map_err(database_error)
    }

    fn token_count(&self) -> Result<u64, StorageError> {
        let mut lease = self.lease()?;
        let row = lease
            .client()?
            .query_one("SELECT count(*) FROM tokens", &[])
            .map_err(database_error)?;
        let count: i64 = row.try_get(0).map_err(database_error)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
