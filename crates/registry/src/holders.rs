//! Where activation codes and holders live: the [`HolderStore`] trait (spend a one-time code
//! for a holder secret, count wrong tries, lock a code) and its SQLite implementation; the
//! PostgreSQL one is in [`crate::postgres`]. Codes and secrets are stored only as keyed or plain
//! hashes. It does not speak HTTP or rate-limit sources (that is [`crate::holder_api`]).

use hmac::Mac as _;
use rusqlite::{OptionalExtension as _, TransactionBehavior};
use sha2::Digest as _;

use enroll_core::domain::activation::{ActivationCode, MAX_WRONG_TRIES, VALID_DAYS};
use enroll_core::domain::time::UnixMs;

use crate::storage::{SqliteStorage, StorageError};

/// An activation code bound to an identity when it is issued.
#[derive(Clone, PartialEq, Eq)]
pub struct NewActivation {
    /// The code's leading characters ([`ActivationCode::lookup`]).
    pub lookup: String,
    /// [`code_hash`] of the whole code.
    pub code_hash: String,
    /// The enrollment time + [`VALID_DAYS`].
    pub expires_at_unix_ms: UnixMs,
}

impl std::fmt::Debug for NewActivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewActivation")
            .field("expires_at_unix_ms", &self.expires_at_unix_ms)
            .finish_non_exhaustive()
    }
}

impl NewActivation {
    /// The activation for a code printed on a receipt made at `record_created_at_unix_ms`.
    pub fn new(key: &ActivationKey, code: &ActivationCode, record_created_at: UnixMs) -> Self {
        NewActivation {
            lookup: code.lookup().to_owned(),
            code_hash: key.code_hash(code),
            expires_at_unix_ms: UnixMs(record_created_at.as_i64() + VALID_DAYS * 86_400_000),
        }
    }
}

/// The key activation codes are hashed with, derived from the registry's handle secret: a copy of
/// the database alone does not let anyone try the codes' 2^30 secret parts offline.
#[derive(Clone)]
pub struct ActivationKey([u8; 32]);

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 with a 32-byte key, zero-padded to the 64-byte block as RFC 2104 does (so the
/// constructor cannot fail).
fn hmac_with(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    for (slot, byte) in block.iter_mut().zip(key) {
        *slot = *byte;
    }
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

impl ActivationKey {
    /// Derived from the registry's handle secret.
    pub fn derive(handle_secret: &[u8; 32]) -> ActivationKey {
        let mut mac = hmac_with(handle_secret);
        mac.update(b"enroll-kiosk activation code key v1");
        ActivationKey(mac.finalize().into_bytes().into())
    }

    /// The stored form of a code: hex HMAC-SHA256 of its 12 characters.
    pub fn code_hash(&self, code: &ActivationCode) -> String {
        let mut mac = hmac_with(&self.0);
        mac.update(code.as_str().as_bytes());
        enroll_credential::keys::hex(&mac.finalize().into_bytes())
    }
}

/// The stored form of a holder secret: hex SHA-256 (the secret has 256 random bits).
pub fn secret_hash(secret: &[u8]) -> String {
    enroll_credential::keys::hex(&sha2::Sha256::digest(secret))
}

/// One try to spend a code.
pub struct Attempt<'a> {
    pub lookup: &'a str,
    pub code_hash: &'a str,
    /// [`secret_hash`] of the holder secret to hand out if the code is good.
    pub secret_hash: &'a str,
    /// The holder's device key, for a later device-bound presentation.
    pub device_public_key: Option<&'a [u8]>,
    pub now_unix_ms: UnixMs,
}

/// What a try did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// The code was good: the holder secret now names this identity.
    Activated { identity_id: String },
    /// No such code (yet): the record may still be on its way, or the code is wrong. Wrong tries
    /// against codes with the same lookup count towards their lockout.
    NotKnown,
    /// The code had [`MAX_WRONG_TRIES`] wrong tries before.
    Locked,
    /// The code was used before.
    Used,
    /// The code is older than [`VALID_DAYS`].
    Expired,
    /// The identity was replaced by a newer enrollment or revoked.
    Ended,
}

/// Activation codes and holders. Blocking, like [`crate::storage::Storage`].
pub trait HolderStore {
    /// Spends a code, in one transaction.
    fn activate(&self, attempt: &Attempt<'_>) -> Result<Activation, StorageError>;
}

/// The SQLite tables (the PostgreSQL ones are the same with its types).
pub(crate) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS activations (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    identity_id TEXT NOT NULL REFERENCES identities (id),
    lookup TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at_unix_ms INTEGER NOT NULL,
    wrong_tries INTEGER NOT NULL DEFAULT 0,
    used_at_unix_ms INTEGER
);
CREATE INDEX IF NOT EXISTS activations_by_lookup ON activations (lookup);
CREATE TABLE IF NOT EXISTS holders (
    secret_hash TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id),
    device_public_key BLOB,
    created_at_unix_ms INTEGER NOT NULL
);
";

/// A code row as the decision needs it.
pub(crate) struct CodeRow {
    pub identity_id: String,
    pub expires_at_unix_ms: i64,
    pub wrong_tries: i64,
    pub used: bool,
    pub identity_active: bool,
}

/// The decision about a found code, shared by both stores: `None` means spend it.
pub(crate) fn refusal(row: &CodeRow, now: UnixMs) -> Option<Activation> {
    if row.wrong_tries >= i64::from(MAX_WRONG_TRIES) {
        Some(Activation::Locked)
    } else if row.used {
        Some(Activation::Used)
    } else if row.expires_at_unix_ms <= now.as_i64() {
        Some(Activation::Expired)
    } else if !row.identity_active {
        Some(Activation::Ended)
    } else {
        None
    }
}

/// The SQL both stores run to find a code (`?1`/`$1` lookup, `?2`/`$2` hash).
pub(crate) const FIND_CODE: &str =
    "SELECT a.identity_id, a.expires_at_unix_ms, a.wrong_tries, a.used_at_unix_ms IS NOT NULL,
            i.state = 'active'
     FROM activations a JOIN identities i ON i.id = a.identity_id
     WHERE a.lookup = {1} AND a.code_hash = {2}";

/// Counts a wrong try against every unspent code with the lookup.
pub(crate) const COUNT_WRONG_TRY: &str = "UPDATE activations SET wrong_tries = wrong_tries + 1 WHERE lookup = {1} AND used_at_unix_ms IS NULL";

/// `sql` with `{1}`…`{5}` written as SQLite (`?n`) or PostgreSQL (`$n`) parameters: the SQL both
/// stores share.
pub(crate) fn placeholders(sql: &str, sigil: char) -> String {
    (1..=5).fold(sql.to_owned(), |sql, n| {
        sql.replace(&format!("{{{n}}}"), &format!("{sigil}{n}"))
    })
}

impl HolderStore for SqliteStorage {
    fn activate(&self, attempt: &Attempt<'_>) -> Result<Activation, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = transaction
            .query_row(
                &placeholders(FIND_CODE, '?'),
                [attempt.lookup, attempt.code_hash],
                |row| {
                    Ok(CodeRow {
                        identity_id: row.get(0)?,
                        expires_at_unix_ms: row.get(1)?,
                        wrong_tries: row.get(2)?,
                        used: row.get(3)?,
                        identity_active: row.get(4)?,
                    })
                },
            )
            .optional()?;
        let Some(row) = found else {
            transaction.execute(&placeholders(COUNT_WRONG_TRY, '?'), [attempt.lookup])?;
            transaction.commit()?;
            return Ok(Activation::NotKnown);
        };
        if let Some(refused) = refusal(&row, attempt.now_unix_ms) {
            return Ok(refused);
        }
        let now = attempt.now_unix_ms.as_i64();
        transaction.execute(
            "UPDATE activations SET used_at_unix_ms = ?3 WHERE lookup = ?1 AND code_hash = ?2",
            rusqlite::params![attempt.lookup, attempt.code_hash, now],
        )?;
        transaction.execute(
            "INSERT INTO holders (secret_hash, identity_id, device_public_key, created_at_unix_ms)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                attempt.secret_hash,
                row.identity_id,
                attempt.device_public_key,
                now
            ],
        )?;
        transaction.commit()?;
        Ok(Activation::Activated {
            identity_id: row.identity_id,
        })
    }
}

/// Stores a new identity's activation inside the issuing transaction.
pub(crate) fn insert_activation_sqlite(
    transaction: &rusqlite::Transaction<'_>,
    record_id: &str,
    identity_id: &str,
    activation: &NewActivation,
) -> rusqlite::Result<()> {
    transaction.execute(
        "INSERT INTO activations (record_id, identity_id, lookup, code_hash, expires_at_unix_ms)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (record_id) DO NOTHING",
        rusqlite::params![
            record_id,
            identity_id,
            activation.lookup,
            activation.code_hash,
            activation.expires_at_unix_ms.as_i64()
        ],
    )?;
    Ok(())
}
