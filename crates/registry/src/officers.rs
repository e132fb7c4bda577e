//! The officer roster the registry keeps (badge, role, Argon2id PIN hash, the terminals each may
//! use, disabled) in either store, its serial, and the roster a terminal is served. It hashes PINs
//! (`registry officer add`); it signs nothing (the server signs what [`roster_for`] builds) and
//! never returns a PIN.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use rusqlite::{OptionalExtension as _, TransactionBehavior};

use enroll_core::domain::officer::{Role, is_valid_badge, pin_problem};
use enroll_core::domain::roster::{RosterBody, RosterOfficer};
use enroll_core::domain::time::UnixMs;

use crate::holders::placeholders;
use crate::storage::{SqliteStorage, StorageError};

/// A badge to add.
#[derive(Clone, PartialEq, Eq)]
pub struct NewOfficer {
    pub badge: String,
    pub role: Role,
    /// PHC string of the PIN's Argon2id hash ([`hash_pin`]).
    pub pin_argon2id: String,
    /// The terminals the badge may sign in at; empty: every terminal.
    pub terminals: Vec<String>,
}

impl std::fmt::Debug for NewOfficer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOfficer")
            .field("badge", &self.badge)
            .field("role", &self.role)
            .field("terminals", &self.terminals)
            .finish_non_exhaustive()
    }
}

/// A badge as the registry keeps it.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfficerRow {
    pub badge: String,
    pub role: Role,
    #[serde(skip)]
    pub pin_argon2id: String,
    pub terminals: Vec<String>,
    pub disabled: bool,
    pub changed_at_unix_ms: i64,
}

impl std::fmt::Debug for OfficerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficerRow")
            .field("badge", &self.badge)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// The whole roster: its serial (grows by one with every change; 0 before the first) and badges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    pub serial: u64,
    pub officers: Vec<OfficerRow>,
}

/// What adding a badge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    Added,
    /// An active badge with this id exists (disable it first to replace it).
    Exists,
}

/// The officer roster. Blocking, like [`crate::storage::Storage`].
pub trait OfficerStore {
    /// Adds a badge (replacing a disabled one of the same id); the serial grows.
    fn add_officer(&self, officer: &NewOfficer, now: UnixMs) -> Result<Added, StorageError>;
    /// Disables a badge; `false` when there is none. The serial grows.
    fn disable_officer(&self, badge: &str, now: UnixMs) -> Result<bool, StorageError>;
    /// The roster as it is now.
    fn roster(&self) -> Result<Roster, StorageError>;
}

/// Why a badge cannot be added. No PIN or hash in the text.
#[derive(Debug, thiserror::Error)]
pub enum OfficerError {
    #[error("badge id {0:?} is not valid: 1 to 32 of A-Z, a-z, 0-9, '-' and '_'")]
    BadBadge(String),
    #[error("the PIN is refused: {0}")]
    WeakPin(&'static str),
    #[error("terminal id {0:?} is not valid")]
    BadTerminal(String),
    #[error("cannot hash the PIN: {0}")]
    Hash(String),
}

/// Checks a new badge and hashes its PIN (Argon2id, default parameters, `salt` 16 random bytes).
pub fn new_officer(
    badge: &str,
    role: Role,
    pin: &str,
    terminals: Vec<String>,
    salt: [u8; 16],
) -> Result<NewOfficer, OfficerError> {
    if !is_valid_badge(badge) {
        return Err(OfficerError::BadBadge(badge.to_owned()));
    }
    if let Some(problem) = pin_problem(pin) {
        return Err(OfficerError::WeakPin(problem));
    }
    if let Some(bad) = terminals
        .iter()
        .find(|t| !enroll_core::domain::record::is_valid_terminal_id(t))
    {
        return Err(OfficerError::BadTerminal(bad.clone()));
    }
    let salt = SaltString::encode_b64(&salt).map_err(|e| OfficerError::Hash(e.to_string()))?;
    let pin_argon2id = Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map_err(|e| OfficerError::Hash(e.to_string()))?
        .to_string();
    Ok(NewOfficer {
        badge: badge.to_owned(),
        role,
        pin_argon2id,
        terminals,
    })
}

/// The roster `terminal_id` is served: the badges that may use it (disabled ones too, marked).
pub fn roster_for(roster: &Roster, terminal_id: &str, now: UnixMs) -> RosterBody {
    RosterBody::new(
        terminal_id,
        roster.serial,
        now,
        roster
            .officers
            .iter()
            .filter(|o| o.terminals.is_empty() || o.terminals.iter().any(|t| t == terminal_id))
            .map(|o| RosterOfficer {
                badge: o.badge.clone(),
                role: o.role,
                pin_argon2id: o.pin_argon2id.clone(),
                disabled: o.disabled,
            })
            .collect(),
    )
}

/// How a role is stored.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Officer => "officer",
        Role::Supervisor => "supervisor",
        Role::Technician => "technician",
    }
}

/// The role of a stored name (an unknown name reads as the least privileged).
pub(crate) fn role_from_name(name: &str) -> Role {
    match name {
        "supervisor" => Role::Supervisor,
        "technician" => Role::Technician,
        _ => Role::Officer,
    }
}

/// The SQLite tables (the PostgreSQL ones are the same with its types).
pub(crate) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS officers (
    badge TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    pin_argon2id TEXT NOT NULL,
    terminals TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    changed_at_unix_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS roster_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    serial INTEGER NOT NULL
);
";

/// Both stores' SQL (`{1}`… as `?n` or `$n`, see [`placeholders`]).
pub(crate) const BUMP_SERIAL: &str = "INSERT INTO roster_state (id, serial) VALUES (1, 1)
     ON CONFLICT (id) DO UPDATE SET serial = roster_state.serial + 1";
pub(crate) const ACTIVE_BADGE: &str = "SELECT 1 FROM officers WHERE badge = {1} AND NOT disabled";
pub(crate) const PUT_OFFICER: &str =
    "INSERT INTO officers (badge, role, pin_argon2id, terminals, disabled, changed_at_unix_ms)
     VALUES ({1}, {2}, {3}, {4}, FALSE, {5})
     ON CONFLICT (badge) DO UPDATE SET role = excluded.role, pin_argon2id = excluded.pin_argon2id,
         terminals = excluded.terminals, disabled = FALSE,
         changed_at_unix_ms = excluded.changed_at_unix_ms";
pub(crate) const DISABLE_OFFICER: &str =
    "UPDATE officers SET disabled = TRUE, changed_at_unix_ms = {2} WHERE badge = {1}";
pub(crate) const OFFICERS: &str =
    "SELECT badge, role, pin_argon2id, terminals, disabled, changed_at_unix_ms
     FROM officers ORDER BY badge";
pub(crate) const SERIAL: &str = "SELECT serial FROM roster_state WHERE id = 1";

/// The terminals list as stored (a JSON array).
pub(crate) fn terminals_text(terminals: &[String]) -> String {
    serde_json::to_string(terminals).unwrap_or_else(|_| "[]".into())
}

/// The terminals list of its stored text.
pub(crate) fn terminals_of(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl OfficerStore for SqliteStorage {
    fn add_officer(&self, officer: &NewOfficer, now: UnixMs) -> Result<Added, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let active = transaction
            .query_row(&placeholders(ACTIVE_BADGE, '?'), [&officer.badge], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if active {
            return Ok(Added::Exists);
        }
        transaction.execute(
            &placeholders(PUT_OFFICER, '?'),
            rusqlite::params![
                officer.badge,
                role_name(officer.role),
                officer.pin_argon2id,
                terminals_text(&officer.terminals),
                now.as_i64()
            ],
        )?;
        transaction.execute(BUMP_SERIAL, [])?;
        transaction.commit()?;
        Ok(Added::Added)
    }

    fn disable_officer(&self, badge: &str, now: UnixMs) -> Result<bool, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = transaction.execute(
            &placeholders(DISABLE_OFFICER, '?'),
            rusqlite::params![badge, now.as_i64()],
        )?;
        if changed > 0 {
            transaction.execute(BUMP_SERIAL, [])?;
        }
        transaction.commit()?;
        Ok(changed > 0)
    }

    fn roster(&self) -> Result<Roster, StorageError> {
        let connection = self.lock()?;
        let serial: Option<i64> = connection
            .query_row(SERIAL, [], |row| row.get(0))
            .optional()?;
        let mut statement = connection.prepare(OFFICERS)?;
        let officers = statement
            .query_map([], |row| {
                Ok(OfficerRow {
                    badge: row.get(0)?,
                    role: role_from_name(&row.get::<_, String>(1)?),
                    pin_argon2id: row.get(2)?,
                    terminals: terminals_of(&row.get::<_, String>(3)?),
                    disabled: row.get(4)?,
                    changed_at_unix_ms: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Roster {
            serial: serial.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            officers,
        })
    }
}
