//! The durable outbox: one SQLite file (WAL, `synchronous=FULL`) holding every signed enrollment
//! record, its delivery state and the hash-chained audit log. With the registry's storage, the
//! only crate that names `rusqlite`. It does not seal, decide flows or talk to the registry; times come in as arguments.
//!
//! An enrollment is complete only when [`Outbox::commit_enrollment`] has returned: the chain link,
//! the signature, the record and its audit entry are written in one immediate transaction. SQLite
//! is built with `HAVE_FDATASYNC` (`.cargo/config.toml`), so a commit's sync is one fdatasync of
//! the WAL; new files use 16 KiB pages (a 300 KB payload is 19 WAL frames, not 75). Writes go
//! through SQLite's own VFS. The WAL is copied into the database file by
//! [`Outbox::checkpoint_if_due`], which the kiosk calls after an enrollment's result is on the
//! screen and the sync worker after each acknowledgement, so no enrollment waits for a
//! checkpoint.

#![forbid(unsafe_code)]

pub mod audit;
pub mod schema;
pub mod verify;

use enroll_core::domain::time::{DAY_MS, UnixMs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _, TransactionBehavior};
use serde::Serialize;

use enroll_core::domain::record::{CHAIN_START, RecordDraft, RecordId, SealedRef};
use enroll_crypto::records::{RecordCryptoError, RecordSigner, sha256_hex};

pub use audit::{AuditAction, AuditEntry};
pub use verify::{ChainReport, RecordProblem};

/// Page size of a new outbox file.
const PAGE_BYTES: i64 = 16 * 1024;
/// The WAL size from which [`Outbox::checkpoint_if_due`] copies it into the database file.
const WAL_CHECKPOINT_BYTES: i64 = 4 * 1024 * 1024;
/// The WAL size at which a commit checkpoints by itself, for writers that never call
/// [`Outbox::checkpoint_if_due`] (it keeps the WAL bounded; the kiosk's enrollments never reach it).
const WAL_BACKSTOP_BYTES: i64 = 16 * 1024 * 1024;

/// Why the outbox cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory cannot be opened or created.
    #[error(
        "cannot open the outbox {path}: {detail}; check store.database_path, that its directory \
         exists and that the kiosk user may write there"
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the OS said.
        detail: String,
    },
    /// The disk holding the outbox is full: SQLite needs a little room even to read (its shared
    /// memory index beside the file).
    #[error(
        "cannot open the outbox {path}: the disk holding it is full; the queued records are safe. \
         Free disk space (a technician: kiosk diag storage), then retry"
    )]
    NoRoomToOpen {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a healthy SQLite database.
    #[error(
        "the outbox {path} is damaged ({detail}); do not delete it: stop the kiosk, copy the file \
         aside, and have a technician run `kiosk queue verify` and `kiosk audit verify` on the copy \
         (kiosk diag) before restoring it. No new enrollments are taken until then."
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported (no record content).
        detail: String,
    },
    /// The file was written by newer software.
    #[error(
        "the outbox {path} has schema version {version}, newer than this kiosk understands ({}); \
         install the kiosk version that wrote it",
        schema::SCHEMA_VERSION
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        version: i64,
    },
    /// The disk filled up during a write; the transaction was rolled back.
    #[error(
        "the disk holding the outbox {path} is full; nothing of this enrollment was written and \
         earlier records are intact. Free disk space (a technician: kiosk diag storage), then retry"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
    },
    /// A guard refuses new enrollments.
    #[error("{0}")]
    Refused(GuardRefusal),
    /// The terminal key did not sign (a token pulled out or locked): nothing was committed.
    #[error("{0}; nothing was recorded: check the key token and try again")]
    Sign(RecordCryptoError),
    /// Any other database failure.
    #[error(
        "the outbox {path} failed: {detail}; retry, and if it repeats call a technician (kiosk diag storage)"
    )]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
}

/// Why new enrollments are refused (shown to the officer or applicant, translated by the UI from
/// [`GuardRefusal::code`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum GuardRefusal {
    /// Too little free disk.
    #[error(
        "new enrollments are paused: only {free_mb} MB of disk is free and at least {floor_mb} MB \
         are required; a technician must free space (queued records are safe)"
    )]
    LowDisk {
        /// Free space now.
        free_mb: u64,
        /// The configured floor.
        floor_mb: u64,
    },
    /// Too many records wait for the registry.
    #[error(
        "new enrollments are paused: {unsent} records are waiting to be sent (at most {max} may \
         wait); connect the terminal to the network so the queue can sync"
    )]
    TooManyUnsent {
        /// Unsent now.
        unsent: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The oldest unsent record is too old.
    #[error(
        "new enrollments are paused: the oldest record waiting to be sent is {age_days} days old \
         (at most {max_days} allowed); connect the terminal to the network so the queue can sync"
    )]
    UnsentTooOld {
        /// Its age.
        age_days: u64,
        /// The configured maximum.
        max_days: u64,
    },
}

impl GuardRefusal {
    /// A stable code for UI messages and logs.
    pub fn code(&self) -> &'static str {
        match self {
            GuardRefusal::LowDisk { .. } => "low-disk",
            GuardRefusal::TooManyUnsent { .. } => "too-many-unsent",
            GuardRefusal::UnsentTooOld { .. } => "unsent-too-old",
        }
    }
}

/// The configured guard limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    pub min_free_disk_mb: u64,
    pub max_unsent_records: u64,
    pub max_unsent_age_days: u64,
}

/// Delivery state of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordState {
    Pending,
    Sending,
    Acknowledged,
    Rejected,
}

impl RecordState {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => RecordState::Pending,
            "sending" => RecordState::Sending,
            "acknowledged" => RecordState::Acknowledged,
            "rejected" => RecordState::Rejected,
            _ => return None,
        })
    }
}

/// Counts for `kiosk queue status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub pending: u64,
    pub sending: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// Creation time of the oldest record not yet acknowledged or rejected.
    pub oldest_unsent_created_at_unix_ms: Option<UnixMs>,
    /// Bytes of sealed payloads still held.
    pub sealed_payload_bytes: u64,
    /// Records whose sealed payload was deleted after retention.
    pub payloads_deleted: u64,
}

/// One row of `kiosk queue list` (no personal data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub seq: i64,
    pub id: String,
    pub state: RecordState,
    pub created_at_unix_ms: UnixMs,
    pub attempts: i64,
    pub next_attempt_at_unix_ms: UnixMs,
    pub last_error: Option<String>,
    pub sealed_payload_bytes: Option<u64>,
}

/// Wrong PINs counted for one badge, as kept across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinFailures {
    pub badge: String,
    /// Wrong PINs in a row.
    pub failures: u8,
    /// When the badge's lockout ends, while it is locked (wall clock).
    pub locked_until: Option<UnixMs>,
}

/// A record on its way to the registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub seq: i64,
    pub id: String,
    pub body: Vec<u8>,
    pub body_sha256: String,
    pub signature: Vec<u8>,
    pub sealed_payload: Vec<u8>,
    /// Attempts before this one.
    pub attempts: i64,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("seq", &self.seq)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A registry receipt as the outbox keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    pub record_id: String,
    pub body_sha256: String,
    /// The signed receipt's bytes.
    pub receipt: Vec<u8>,
    /// When this terminal stored it (its own clock, Unix ms).
    pub stored_at_unix_ms: UnixMs,
}

/// A committed enrollment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub id: RecordId,
    pub seq: i64,
    pub body_sha256: String,
}

/// What the registry hands a terminal and the outbox keeps between syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetItem {
    /// The last good officer roster (its signed bytes, as `enroll_protocol` frames them).
    Roster,
    /// The registry's document-tag key (64 hex characters).
    DocumentTagKey,
}

impl FleetItem {
    fn name(self) -> &'static str {
        match self {
            FleetItem::Roster => "roster",
            FleetItem::DocumentTagKey => "document-tag-key",
        }
    }
}

/// What the registry last handed the terminal under `item`, read through a short connection that
/// only reads, with none of [`Outbox::open`]'s start-up work (its integrity check reads the whole
/// file): for a reader that only needs this, as often as every PIN check. `None` before the first
/// sync, before the file has the table, or without the file.
pub fn read_fleet_item(path: &Path, item: FleetItem) -> Result<Option<Vec<u8>>, StoreError> {
    let error = |e: rusqlite::Error| error_for(path, e);
    if !path.exists() {
        return Ok(None);
    }
    // Read-write without create: a read-only connection to a WAL file cannot always open it (it
    // may need to make the -shm file); nothing is written.
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(error)?;
    let has_table: bool = connection
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'fleet_state'",
            [],
            |row| row.get(0),
        )
        .map_err(error)?;
    if !has_table {
        return Ok(None);
    }
    connection
        .query_row(
            "SELECT value FROM fleet_state WHERE name = ?1",
            [item.name()],
            |row| row.get(0),
        )
        .optional()
        .map_err(error)
}

/// The open outbox.
pub struct Outbox {
    connection: Connection,
    path: PathBuf,
    /// Says the disk is full whatever it measures (the demo's `disk-full` fault).
    disk_full_signal: Option<DiskFullSignal>,
    /// What the guards last counted, kept so that an enrollment does not count the whole queue
    /// again (see [`UnsentMemo`]).
    unsent_memo: Option<UnsentMemo>,
    /// Set by SQLite's commit hook whenever this connection commits anything.
    committed_here: Arc<AtomicBool>,
    /// Frames in the WAL after this connection's last commit (SQLite's WAL hook).
    wal_frames: Arc<AtomicU64>,
    /// [`WAL_CHECKPOINT_BYTES`] in frames of this file's page size.
    checkpoint_due_frames: u64,
}

/// The unsent records as the guards last counted them, with the `PRAGMA data_version` of that
/// moment. It stays true while no other connection has committed (the data version is
/// unchanged) and this one has committed nothing but the enrollments it added to it (the commit
/// hook clears it otherwise), so an enrollment's guards need not count the whole queue again.
#[derive(Clone, Copy, Debug)]
struct UnsentMemo {
    data_version: i64,
    unsent: UnsentSummary,
}

/// How many records wait for the registry and when the oldest of them was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UnsentSummary {
    count: u64,
    oldest_created_at_unix_ms: Option<UnixMs>,
}

/// A source that can declare the outbox's disk full (fault injection on demo terminals).
pub type DiskFullSignal = Box<dyn Fn() -> bool + Send>;

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

/// Counts the records that wait for the registry (pending or sending) and finds the oldest.
fn count_unsent(connection: &Connection) -> rusqlite::Result<UnsentSummary> {
    let (count, oldest): (i64, Option<i64>) = connection
        .prepare_cached(
            "SELECT count(*), min(created_at_unix_ms) FROM records
             WHERE state IN ('pending', 'sending')",
        )?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(UnsentSummary {
        count: u64::try_from(count).unwrap_or(0),
        oldest_created_at_unix_ms: oldest.map(UnixMs),
    })
}

/// Which guard refuses a new enrollment, if any: free disk first, then the unsent count, then
/// the age of the oldest unsent record.
fn refusal(
    limits: &GuardLimits,
    free_mb: u64,
    unsent: UnsentSummary,
    now_unix_ms: UnixMs,
) -> Option<GuardRefusal> {
    if free_mb < limits.min_free_disk_mb {
        return Some(GuardRefusal::LowDisk {
            free_mb,
            floor_mb: limits.min_free_disk_mb,
        });
    }
    if unsent.count >= limits.max_unsent_records {
        return Some(GuardRefusal::TooManyUnsent {
            unsent: unsent.count,
            max: limits.max_unsent_records,
        });
    }
    let oldest = unsent.oldest_created_at_unix_ms?;
    let age_days = u64::try_from(now_unix_ms.ms_since(oldest).max(0) / DAY_MS).unwrap_or(0);
    (age_days >= limits.max_unsent_age_days).then_some(GuardRefusal::UnsentTooOld {
        age_days,
        max_days: limits.max_unsent_age_days,
    })
}

fn is_corruption(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

impl Outbox {
    /// Opens (creating if needed) the outbox, sets WAL / `synchronous=FULL` / foreign keys / a
    /// busy timeout / `secure_delete`, migrates the schema and checks the file's integrity.
    pub fn open(path: &Path) -> Result<Outbox, StoreError> {
        let open_error = |detail: String| {
            if directory_nearly_full(path) {
                StoreError::NoRoomToOpen {
                    path: path.to_path_buf(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    detail,
                }
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags)
            .map_err(|error| open_error(error.to_string()))?;
        let outbox_error = |error: rusqlite::Error| {
            if is_corruption(&error) {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: error.to_string(),
                }
            } else {
                open_error(error.to_string())
            }
        };
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(outbox_error)?;
        // A new file gets 16 KiB pages: a 300 KB sealed payload is 19 pages (WAL frames) instead
        // of 75. An existing file keeps its page size (this is a no-op once the file has pages).
        connection
            .pragma_update(None, "page_size", PAGE_BYTES)
            .map_err(outbox_error)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(outbox_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(format!(
                "the file system refused write-ahead logging (journal mode {mode})"
            )));
        }
        for (name, value) in [
            ("synchronous", "FULL"),
            ("foreign_keys", "ON"),
            ("secure_delete", "ON"),
        ] {
            connection
                .pragma_update(None, name, value)
                .map_err(outbox_error)?;
        }
        // The WAL is copied into the database file once it holds about 4 MB, whatever the page
        // size, by `checkpoint_if_due` after the applicant has seen the result, not inside a
        // commit (a commit that checkpoints takes 3-7 ms instead of 0.6). SQLite's automatic
        // checkpoint is replaced by this WAL hook, which only checkpoints at the 16 MB backstop.
        let page_bytes: i64 = connection
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(outbox_error)?;
        let frames_for = |bytes: i64| u64::try_from(bytes / page_bytes.max(512)).unwrap_or(1);
        let checkpoint_due_frames = frames_for(WAL_CHECKPOINT_BYTES);
        let backstop_frames = frames_for(WAL_BACKSTOP_BYTES);
        let wal_frames = Arc::new(AtomicU64::new(0));
        let frames = Arc::clone(&wal_frames);
        connection
            .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
                let pages = u64::try_from(pages).unwrap_or(0);
                frames.store(pages, Ordering::Relaxed);
                if pages >= backstop_frames {
                    // Like SQLite's own automatic checkpoint: a busy reader only postpones it,
                    // and the commit that called this hook has already happened.
                    let _ = wal.checkpoint();
                }
                Ok(())
            }))
            .map_err(outbox_error)?;
        let check: String = connection
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(outbox_error)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: "integrity check failed".to_owned(),
            });
        }
        match schema::migrate(&mut connection).map_err(outbox_error)? {
            schema::Migration::Current => {}
            schema::Migration::TooNew(version) => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    version,
                });
            }
        }
        let committed_here = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&committed_here);
        connection
            .commit_hook(Some(move || {
                flag.store(true, Ordering::Relaxed);
                false
            }))
            .map_err(outbox_error)?;
        Ok(Outbox {
            connection,
            path: path.to_path_buf(),
            disk_full_signal: None,
            unsent_memo: None,
            committed_here,
            wal_frames,
            checkpoint_due_frames,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, error: rusqlite::Error) -> StoreError {
        error_for(&self.path, error)
    }

    /// Lets `signal` declare the disk full: free space then reads as 0 and the disk guard
    /// refuses enrollments, exactly as on a full disk (demo fault injection).
    pub fn set_disk_full_signal(&mut self, signal: DiskFullSignal) {
        self.disk_full_signal = Some(signal);
    }

    /// Free bytes on the file system holding the outbox.
    pub fn free_disk_bytes(&self) -> Result<u64, StoreError> {
        if self.disk_full_signal.as_ref().is_some_and(|full| full()) {
            return Ok(0);
        }
        let directory = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let stat = rustix::fs::statvfs(directory).map_err(|error| StoreError::Database {
            path: self.path.clone(),
            detail: format!("cannot measure free disk space: {error}"),
        })?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    /// Checks the guards: free disk, unsent count, age of the oldest unsent record.
    pub fn check_guards(
        &self,
        now_unix_ms: UnixMs,
        limits: &GuardLimits,
    ) -> Result<(), StoreError> {
        let free_mb = self.free_disk_bytes()? / (1024 * 1024);
        let unsent = count_unsent(&self.connection).map_err(|e| self.error(e))?;
        match refusal(limits, free_mb, unsent, now_unix_ms) {
            Some(reason) => Err(StoreError::Refused(reason)),
            None => Ok(()),
        }
    }

    /// Commits one enrollment: checks the guards, links the draft to the previous record, signs
    /// the exact body bytes and stores body, signature and sealed payload with an audit entry, in
    /// one immediate transaction. Returns only after the commit (and its fsync) returned.
    pub fn commit_enrollment(
        &mut self,
        draft: RecordDraft,
        sealed: (SealedRef, Vec<u8>),
        key: &dyn RecordSigner,
        actor: &str,
        now_unix_ms: UnixMs,
        limits: &GuardLimits,
    ) -> Result<Committed, StoreError> {
        let free_mb = self.free_disk_bytes()? / (1024 * 1024);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| error_for(&self.path, e))?;
        // The guards are checked inside the write transaction, so no other writer can change the
        // queue between the check and the insert.
        let data_version: i64 = transaction
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(|e| error_for(&self.path, e))?;
        let remembered = self
            .unsent_memo
            .filter(|memo| memo.data_version == data_version)
            .filter(|_| !self.committed_here.load(Ordering::Relaxed));
        let unsent = match remembered {
            Some(memo) => memo.unsent,
            None => count_unsent(&transaction).map_err(|e| error_for(&self.path, e))?,
        };
        if let Some(reason) = refusal(limits, free_mb, unsent, now_unix_ms) {
            drop(transaction);
            // Best effort: a full disk may refuse this entry too.
            let _ = self.audit(
                now_unix_ms,
                actor,
                AuditAction::EnrollRefused,
                None,
                Some(reason.code()),
            );
            return Err(StoreError::Refused(reason));
        }
        let (sealed_ref, ciphertext) = sealed;
        let id = draft.id;
        let previous: Option<String> = transaction
            .prepare_cached("SELECT body_sha256 FROM records ORDER BY seq DESC LIMIT 1")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)).optional())
            .map_err(|e| error_for(&self.path, e))?;
        let previous = previous.unwrap_or_else(|| CHAIN_START.to_owned());
        let body = draft.into_body(key.public_key().fingerprint(), sealed_ref, previous);
        let bytes = body.to_bytes();
        let body_sha256 = sha256_hex(&bytes);
        let signature = key.try_sign(&bytes).map_err(StoreError::Sign)?;
        let id_text = id.to_string();
        let created = body.created_at_unix_ms.as_i64();
        transaction
            .prepare_cached(
                "INSERT INTO records (id, created_at_unix_ms, body, body_sha256, signature,
                                      sealed_payload, state, next_attempt_at_unix_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
            )
            .and_then(|mut statement| {
                statement.execute(rusqlite::params![
                    id_text,
                    created,
                    bytes,
                    body_sha256,
                    signature.as_slice(),
                    ciphertext,
                    now_unix_ms.as_i64()
                ])
            })
            .map_err(|e| error_for(&self.path, e))?;
        let seq = transaction.last_insert_rowid();
        audit::append(
            &transaction,
            now_unix_ms,
            actor,
            AuditAction::Enroll,
            Some(&id_text),
            None,
        )
        .map_err(|e| error_for(&self.path, e))?;
        transaction.commit().map_err(|e| error_for(&self.path, e))?;
        self.committed_here.store(false, Ordering::Relaxed);
        self.unsent_memo = Some(UnsentMemo {
            data_version,
            unsent: UnsentSummary {
                count: unsent.count.saturating_add(1),
                oldest_created_at_unix_ms: Some(
                    unsent
                        .oldest_created_at_unix_ms
                        .map_or(body.created_at_unix_ms, |oldest| {
                            oldest.min(body.created_at_unix_ms)
                        }),
                ),
            },
        });
        Ok(Committed {
            id,
            seq,
            body_sha256,
        })
    }

    /// Copies the WAL into the database file (a passive checkpoint) when it holds about 4 MB.
    /// The kiosk calls this after an enrollment's result is on the screen, so no applicant waits
    /// for a checkpoint. Returns whether one ran.
    pub fn checkpoint_if_due(&mut self) -> Result<bool, StoreError> {
        if self.wal_frames.load(Ordering::Relaxed) < self.checkpoint_due_frames {
            return Ok(false);
        }
        self.connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(|e| self.error(e))?;
        self.wal_frames.store(0, Ordering::Relaxed);
        Ok(true)
    }

    /// [`Outbox::checkpoint_if_due`] for callers whose records are already committed (after an
    /// enrollment's result or an acknowledgement): a failure is logged, since everything is
    /// safe in the WAL either way and the next call tries again.
    pub fn checkpoint_if_due_or_log(&mut self) {
        if let Err(error) = self.checkpoint_if_due() {
            tracing::warn!(%error, "the outbox could not checkpoint its write-ahead log");
        }
    }

    /// Appends an audit entry in its own transaction.
    pub fn audit(
        &mut self,
        now_unix_ms: UnixMs,
        actor: &str,
        action: AuditAction,
        subject: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| error_for(&self.path, e))?;
        audit::append(&transaction, now_unix_ms, actor, action, subject, detail)
            .map_err(|e| error_for(&self.path, e))?;
        transaction.commit().map_err(|e| error_for(&self.path, e))
    }

    /// Deletes the sealed payloads of records acknowledged (with a verified receipt) at least
    /// `retention_days` ago; body, signature and receipt remain. Returns how many were deleted.
    pub fn apply_retention(
        &mut self,
        now_unix_ms: UnixMs,
        retention_days: u64,
    ) -> Result<u64, StoreError> {
        let cutoff = now_unix_ms
            .minus_ms(retention_days.saturating_mul(DAY_MS.unsigned_abs()))
            .as_i64();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| error_for(&self.path, e))?;
        let deleted = transaction
            .execute(
                "UPDATE records SET sealed_payload = NULL, payload_deleted_at_unix_ms = ?1
                 WHERE state = 'acknowledged' AND receipt IS NOT NULL
                   AND sealed_payload IS NOT NULL AND acknowledged_at_unix_ms <= ?2",
                rusqlite::params![now_unix_ms.as_i64(), cutoff],
            )
            .map_err(|e| error_for(&self.path, e))?;
        if deleted > 0 {
            audit::append(
                &transaction,
                now_unix_ms,
                "system",
                AuditAction::RetentionDelete,
                None,
                Some(&format!("{deleted} sealed payloads")),
            )
            .map_err(|e| error_for(&self.path, e))?;
        }
        transaction.commit().map_err(|e| error_for(&self.path, e))?;
        Ok(deleted as u64)
    }

    /// Records whose next attempt is due, oldest first (at most `limit`), marked `sending`.
    /// Records left `sending` by a crash are due again.
    pub fn claim_due(
        &mut self,
        now_unix_ms: UnixMs,
        limit: usize,
    ) -> Result<Vec<Outgoing>, StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| error_for(&self.path, e))?;
        let outgoing = {
            let mut statement = transaction
                .prepare(
                    "SELECT seq, id, body, body_sha256, signature, sealed_payload, attempts
                     FROM records
                     WHERE state IN ('pending', 'sending') AND next_attempt_at_unix_ms <= ?1
                     ORDER BY seq LIMIT ?2",
                )
                .map_err(|e| error_for(&self.path, e))?;
            let rows = statement
                .query_map(
                    rusqlite::params![
                        now_unix_ms.as_i64(),
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |row| {
                        Ok(Outgoing {
                            seq: row.get(0)?,
                            id: row.get(1)?,
                            body: row.get(2)?,
                            body_sha256: row.get(3)?,
                            signature: row.get(4)?,
                            sealed_payload: row.get::<_, Option<Vec<u8>>>(5)?.unwrap_or_default(),
                            attempts: row.get(6)?,
                        })
                    },
                )
                .map_err(|e| error_for(&self.path, e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| error_for(&self.path, e))?
        };
        for record in &outgoing {
            transaction
                .execute(
                    "UPDATE records SET state = 'sending', attempts = attempts + 1 WHERE seq = ?1",
                    [record.seq],
                )
                .map_err(|e| error_for(&self.path, e))?;
        }
        transaction.commit().map_err(|e| error_for(&self.path, e))?;
        Ok(outgoing)
    }

    /// Puts a record back to `pending` with the reason and the time of the next attempt.
    pub fn mark_retry(
        &mut self,
        id: &str,
        error: &str,
        next_attempt_at_unix_ms: UnixMs,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE records SET state = 'pending', last_error = ?2, next_attempt_at_unix_ms = ?3
                 WHERE id = ?1 AND state IN ('pending', 'sending')",
                rusqlite::params![id, error, next_attempt_at_unix_ms.as_i64()],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Puts claimed records that were not sent back to `pending`, due at `due_at_unix_ms`, in
    /// one transaction; their claim does not count as an attempt.
    pub fn release_unsent(
        &mut self,
        ids: &[String],
        due_at_unix_ms: UnixMs,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| error_for(&self.path, e))?;
        for id in ids {
            transaction
                .execute(
                    "UPDATE records SET state = 'pending', attempts = max(attempts - 1, 0),
                                        next_attempt_at_unix_ms = ?2
                     WHERE id = ?1 AND state = 'sending'",
                    rusqlite::params![id, due_at_unix_ms.as_i64()],
                )
                .map_err(|e| error_for(&self.path, e))?;
        }
        transaction.commit().map_err(|e| error_for(&self.path, e))
    }

    /// Makes every waiting record due at `now_unix_ms` (the registry is reachable again).
    pub fn make_due(&mut self, now_unix_ms: UnixMs) -> Result<u64, StoreError> {
        let changed = self
            .connection
            .execute(
                "UPDATE records SET next_attempt_at_unix_ms = ?1
                 WHERE state IN ('pending', 'sending') AND next_attempt_at_unix_ms > ?1",
                [now_unix_ms.as_i64()],
            )
            .map_err(|e| self.error(e))?;
        Ok(changed as u64)
    }

    /// Marks a record rejected by the registry, with its reason; it is not retried.
    pub fn mark_rejected(&mut self, id: &str, reason: &str) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE records SET state = 'rejected', rejected_reason = ?2, last_error = ?2
                 WHERE id = ?1",
                rusqlite::params![id, reason],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The stored receipt of a record, if it was acknowledged.
    pub fn receipt(&self, id: &RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection
            .query_row(
                "SELECT receipt FROM records WHERE id = ?1",
                [id.to_string()],
                |row| row.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.error(e))
    }

    /// Marks a record acknowledged with its (already verified) receipt.
    pub fn mark_acknowledged(
        &mut self,
        id: &RecordId,
        receipt: &[u8],
        now_unix_ms: UnixMs,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE records SET state = 'acknowledged', receipt = ?2, acknowledged_at_unix_ms = ?3
                 WHERE id = ?1",
                rusqlite::params![id.to_string(), receipt, now_unix_ms.as_i64()],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Counts by state.
    pub fn status(&self) -> Result<QueueStatus, StoreError> {
        let mut status = QueueStatus::default();
        let mut statement = self
            .connection
            .prepare(
                "SELECT state, count(*), min(created_at_unix_ms),
                        sum(length(sealed_payload)), sum(payload_deleted_at_unix_ms IS NOT NULL)
                 FROM records GROUP BY state",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(|e| self.error(e))?;
        for row in rows {
            let (state, count, oldest, bytes, deleted) = row.map_err(|e| self.error(e))?;
            let count = u64::try_from(count).unwrap_or(0);
            match RecordState::parse(&state) {
                Some(RecordState::Pending) => status.pending = count,
                Some(RecordState::Sending) => status.sending = count,
                Some(RecordState::Acknowledged) => status.acknowledged = count,
                Some(RecordState::Rejected) => status.rejected = count,
                None => {}
            }
            if matches!(state.as_str(), "pending" | "sending") {
                status.oldest_unsent_created_at_unix_ms =
                    match (status.oldest_unsent_created_at_unix_ms, oldest.map(UnixMs)) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
            }
            status.sealed_payload_bytes += u64::try_from(bytes.unwrap_or(0)).unwrap_or(0);
            status.payloads_deleted += u64::try_from(deleted.unwrap_or(0)).unwrap_or(0);
        }
        Ok(status)
    }

    /// A record's signed body and its SHA-256, when the record exists.
    pub fn signed_body(&self, id: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        self.connection
            .query_row(
                "SELECT body, body_sha256 FROM records WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Every record's delivery state, in commit order.
    pub fn list(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.entries("", rusqlite::params![])
    }

    /// The records made at or after `since` (newest first), e.g. today's for the officer desk.
    pub fn list_since(&self, since: UnixMs) -> Result<Vec<QueueEntry>, StoreError> {
        self.entries(
            "WHERE created_at_unix_ms >= ?1 ORDER BY seq DESC",
            [since.as_i64()],
        )
    }

    fn entries<P: rusqlite::Params>(
        &self,
        filter_and_order: &str,
        params: P,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let order = if filter_and_order.is_empty() {
            "ORDER BY seq"
        } else {
            filter_and_order
        };
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT seq, id, state, created_at_unix_ms, attempts, next_attempt_at_unix_ms,
                        last_error, length(sealed_payload)
                 FROM records {order}"
            ))
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params, |row| {
                let state: String = row.get(2)?;
                Ok(QueueEntry {
                    seq: row.get(0)?,
                    id: row.get(1)?,
                    state: RecordState::parse(&state).unwrap_or(RecordState::Pending),
                    created_at_unix_ms: UnixMs(row.get(3)?),
                    attempts: row.get(4)?,
                    next_attempt_at_unix_ms: UnixMs(row.get(5)?),
                    last_error: row.get(6)?,
                    sealed_payload_bytes: row
                        .get::<_, Option<i64>>(7)?
                        .and_then(|n| u64::try_from(n).ok()),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Re-checks every record: body hash, signature, format, terminal key, chain and payload hash.
    pub fn verify_records(
        &self,
        terminal_key: &enroll_crypto::records::TerminalPublicKey,
    ) -> Result<ChainReport, StoreError> {
        self.verify_records_with(std::slice::from_ref(terminal_key))
    }

    /// Like [`Outbox::verify_records`], with every key this terminal has signed with (the
    /// current one first, then those retired by rotation).
    pub fn verify_records_with(
        &self,
        keys: &[enroll_crypto::records::TerminalPublicKey],
    ) -> Result<ChainReport, StoreError> {
        verify::verify_records(&self.connection, keys).map_err(|e| self.error(e))
    }

    /// The wrong-PIN counts and lockouts kept for each badge.
    pub fn pin_failures(&self) -> Result<Vec<PinFailures>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT badge, failures, locked_until_unix_ms FROM pin_failures ORDER BY badge",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(PinFailures {
                    badge: row.get(0)?,
                    failures: u8::try_from(row.get::<_, i64>(1)?).unwrap_or(u8::MAX),
                    locked_until: row.get::<_, Option<i64>>(2)?.map(UnixMs),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Keeps `failures` for its badge (replacing what was kept); a count of 0 without a lockout
    /// forgets the badge (a right PIN).
    pub fn set_pin_failures(&self, failures: &PinFailures) -> Result<(), StoreError> {
        if failures.failures == 0 && failures.locked_until.is_none() {
            self.connection
                .execute(
                    "DELETE FROM pin_failures WHERE badge = ?1",
                    [&failures.badge],
                )
                .map_err(|e| self.error(e))?;
        } else {
            self.connection
                .execute(
                    "INSERT INTO pin_failures (badge, failures, locked_until_unix_ms)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (badge) DO UPDATE SET failures = excluded.failures,
                         locked_until_unix_ms = excluded.locked_until_unix_ms",
                    rusqlite::params![
                        failures.badge,
                        i64::from(failures.failures),
                        failures.locked_until.map(UnixMs::as_i64)
                    ],
                )
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// What the registry last handed the terminal under `name` (see [`FleetItem`]), if anything.
    pub fn fleet_item(&self, item: FleetItem) -> Result<Option<Vec<u8>>, StoreError> {
        self.connection
            .query_row(
                "SELECT value FROM fleet_state WHERE name = ?1",
                [item.name()],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Keeps `value` under `item`, replacing what was kept.
    pub fn set_fleet_item(
        &self,
        item: FleetItem,
        value: &[u8],
        now: UnixMs,
    ) -> Result<(), StoreError> {
        self.connection
            .execute(
                "INSERT INTO fleet_state (name, value, updated_at_unix_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value,
                     updated_at_unix_ms = excluded.updated_at_unix_ms",
                rusqlite::params![item.name(), value, now.as_i64()],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Every audit entry, in order.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT seq, at_unix_ms, actor, action, subject, detail, previous_sha256, entry_sha256
                 FROM audit ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(AuditEntry {
                    seq: row.get(0)?,
                    at_unix_ms: UnixMs(row.get(1)?),
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    subject: row.get(4)?,
                    detail: row.get(5)?,
                    previous_sha256: row.get(6)?,
                    entry_sha256: row.get(7)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// The newest acknowledged record's receipt; `None` before the first acknowledgement.
    pub fn last_receipt(&self) -> Result<Option<StoredReceipt>, StoreError> {
        self.connection
            .query_row(
                "SELECT id, body_sha256, receipt, acknowledged_at_unix_ms FROM records
                 WHERE state = 'acknowledged' AND receipt IS NOT NULL
                   AND acknowledged_at_unix_ms IS NOT NULL
                 ORDER BY acknowledged_at_unix_ms DESC, seq DESC LIMIT 1",
                [],
                |row| {
                    Ok(StoredReceipt {
                        record_id: row.get(0)?,
                        body_sha256: row.get(1)?,
                        receipt: row.get(2)?,
                        stored_at_unix_ms: UnixMs(row.get(3)?),
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The write-ahead log's size in bytes (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    /// `PRAGMA integrity_check` (full); `Ok(())` when it says "ok".
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let result: String = self
            .connection
            .query_row("PRAGMA integrity_check(1)", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: "integrity check failed".to_owned(),
            })
        }
    }
}

/// Whether the file system holding `path` has less than 1 MiB available (an open that failed
/// there failed for want of room, whatever SQLite called it).
fn directory_nearly_full(path: &Path) -> bool {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    rustix::fs::statvfs(directory)
        .is_ok_and(|stat| stat.f_bavail.saturating_mul(stat.f_frsize) < 1024 * 1024)
}

fn error_for(path: &Path, error: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path,
            detail: error.to_string(),
        },
        _ => StoreError::Database {
            path,
            detail: error.to_string(),
        },
    }
}
