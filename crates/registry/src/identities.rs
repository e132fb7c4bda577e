//! Where issued identities live: the [`IdentityStore`] trait (which records wait for a decision,
//! identities, their daily tokens and revocation bits) and its SQLite implementation; the
//! PostgreSQL one is in [`crate::postgres`]. It stores decisions; it does not make them (that is
//! [`crate::issuer`]) and never opens sealed payloads.

use rusqlite::{OptionalExtension as _, TransactionBehavior};

use enroll_core::domain::time::UnixMs;

use crate::holders::NewActivation;
use crate::storage::{SqliteStorage, StorageError};

/// An identity to create for a record.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    /// Random, hex.
    pub id: String,
    pub record_id: String,
    /// A keyed hash of the document (kind and number); one active identity per key.
    pub document_key: String,
    /// `strict` or `light`.
    pub tier: String,
    /// When the record was made at the terminal: a newer enrollment supersedes an older one,
    /// whichever order they arrive in.
    pub record_created_at_unix_ms: UnixMs,
    pub now_unix_ms: UnixMs,
    /// The receipt's activation code (records made before codes have none).
    pub activation: Option<NewActivation>,
}

/// A token to store.
#[derive(Clone)]
pub struct NewToken {
    pub cti: [u8; 16],
    /// The local date it is valid on, `YYYY-MM-DD`.
    pub day: String,
    /// `basic` or `check-in`.
    pub profile: String,
    /// The daily handle it carries.
    pub handle: String,
    pub status_list: u32,
    pub status_index: u32,
    /// The Base45 text.
    pub text: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("day", &self.day)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// What storing an identity did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Stored and active; the identities it superseded (their tokens are revoked).
    Issued { superseded: Vec<String> },
    /// A newer enrollment of the same document is active: stored as superseded, no tokens.
    SupersededOnArrival,
    /// The record was decided before (a restart re-ran it): nothing changed.
    AlreadyDecided,
}

/// An identity as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentityRow {
    pub id: String,
    pub record_id: String,
    pub tier: String,
    /// `active`, `superseded` or `revoked`.
    pub state: String,
    pub created_at_unix_ms: i64,
    pub ended_at_unix_ms: Option<i64>,
}

/// A token as stored.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRow {
    pub day: String,
    pub profile: String,
    pub handle: String,
    pub status_list: u32,
    pub status_index: u32,
    pub text: String,
    pub revoked: bool,
}

impl std::fmt::Debug for TokenRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRow")
            .field("day", &self.day)
            .field("profile", &self.profile)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

/// How an operator names an identity.
#[derive(Debug, Clone, Copy)]
pub enum Selector<'a> {
    /// The record it was issued from.
    Record(&'a str),
    /// A daily handle from one of its tokens.
    Handle(&'a str),
    /// The hash of a holder secret handed out for it ([`crate::holders::secret_hash`]).
    Holder(&'a str),
}

/// Identities and their tokens. Blocking, like [`crate::storage::Storage`].
pub trait IdentityStore {
    /// Records that have no issuance decision yet, oldest first: linked ones, and those accepted
    /// after review of a gap in their chain.
    fn pending_issuance(&self, limit: usize) -> Result<Vec<String>, StorageError>;
    /// Accepts a record flagged with a chain gap after a person reviewed it: it leaves the flagged
    /// list and may become an identity. `false` when no flagged, unreviewed record has that id.
    fn accept_gap(
        &self,
        record_id: &str,
        accepted_by: &str,
        now_unix_ms: UnixMs,
    ) -> Result<bool, StorageError>;
    /// Records that a record gets no identity, and why (a reason code).
    fn refuse_issuance(
        &self,
        record_id: &str,
        reason: &str,
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError>;
    /// The issuance decision for a record (`issued`, `superseded-on-arrival` or `refused:CODE`).
    fn issuance_decision(&self, record_id: &str) -> Result<Option<String>, StorageError>;
    /// Atomically: supersedes (and revokes the tokens of) the document's older active identity,
    /// stores the identity and its tokens and the record's decision. Idempotent per record.
    fn issue_identity(
        &self,
        identity: &NewIdentity,
        tokens: &[NewToken],
    ) -> Result<IssueOutcome, StorageError>;
    /// The identity a selector names.
    fn find_identity(&self, selector: Selector<'_>) -> Result<Option<IdentityRow>, StorageError>;
    /// An identity's tokens, by day then profile.
    fn identity_tokens(&self, identity_id: &str) -> Result<Vec<TokenRow>, StorageError>;
    /// Atomically revokes the identity's tokens and stores a new batch (the identity stays active).
    fn reissue_tokens(&self, identity_id: &str, tokens: &[NewToken]) -> Result<u64, StorageError>;
    /// Active identities a holder activated whose unrevoked tokens end before `day`
    /// (`YYYY-MM-DD`), with their last day, soonest first: the batches to renew.
    fn batches_ending_before(
        &self,
        day: &str,
        limit: usize,
    ) -> Result<Vec<(IdentityRow, String)>, StorageError>;
    /// Adds tokens from `first_day` on, unless the identity's unrevoked tokens already reach it
    /// (another issuer renewed it first); whether it added them.
    fn extend_tokens(
        &self,
        identity_id: &str,
        first_day: &str,
        tokens: &[NewToken],
    ) -> Result<bool, StorageError>;
    /// Revokes an identity and all its tokens; the record stays. Returns the tokens revoked.
    fn revoke_identity(&self, identity_id: &str, now_unix_ms: UnixMs) -> Result<u64, StorageError>;
    /// Status list numbers in use.
    fn status_list_numbers(&self) -> Result<Vec<u32>, StorageError>;
    /// Indexes taken in a list, and whether each is revoked.
    fn status_bits(&self, list: u32) -> Result<Vec<(u32, bool)>, StorageError>;
    /// How many tokens were ever issued (chooses the list being filled).
    fn token_count(&self) -> Result<u64, StorageError>;
}

/// The SQLite tables (the PostgreSQL ones are the same with its types).
pub(crate) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE REFERENCES records (id),
    document_key TEXT NOT NULL,
    tier TEXT NOT NULL,
    state TEXT NOT NULL,
    record_created_at_unix_ms INTEGER NOT NULL,
    created_at_unix_ms INTEGER NOT NULL,
    ended_at_unix_ms INTEGER
);
CREATE INDEX IF NOT EXISTS identities_active ON identities (document_key) WHERE state = 'active';
CREATE TABLE IF NOT EXISTS tokens (
    cti BLOB PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id),
    day TEXT NOT NULL,
    profile TEXT NOT NULL,
    handle TEXT NOT NULL,
    status_list INTEGER NOT NULL,
    status_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    UNIQUE (status_list, status_index)
);
CREATE INDEX IF NOT EXISTS tokens_by_identity ON tokens (identity_id, day);
CREATE INDEX IF NOT EXISTS tokens_by_handle ON tokens (handle);
CREATE TABLE IF NOT EXISTS issuance (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    decision TEXT NOT NULL,
    decided_at_unix_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    record_id TEXT PRIMARY KEY REFERENCES records (id),
    accepted_by TEXT NOT NULL,
    reviewed_at_unix_ms INTEGER NOT NULL
);
";

/// The batches to renew (see [`IdentityStore::batches_ending_before`]); `{1}` day, `{2}` limit.
pub(crate) const BATCHES_ENDING: &str =
    "SELECT i.id, i.record_id, i.tier, i.state, i.created_at_unix_ms, i.ended_at_unix_ms,
            max(t.day)
     FROM identities i JOIN tokens t ON t.identity_id = i.id AND NOT t.revoked
     WHERE i.state = 'active' AND EXISTS (SELECT 1 FROM holders h WHERE h.identity_id = i.id)
     GROUP BY i.id, i.record_id, i.tier, i.state, i.created_at_unix_ms, i.ended_at_unix_ms
     HAVING max(t.day) < {1}
     ORDER BY max(t.day), i.id
     LIMIT {2}";

/// An identity from the first six columns of a row (id, record, tier, state, created, ended).
fn identity_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IdentityRow> {
    Ok(IdentityRow {
        id: row.get(0)?,
        record_id: row.get(1)?,
        tier: row.get(2)?,
        state: row.get(3)?,
        created_at_unix_ms: row.get(4)?,
        ended_at_unix_ms: row.get(5)?,
    })
}

/// Marks an identity's outstanding tokens revoked; how many were.
fn revoke_tokens(
    transaction: &rusqlite::Transaction<'_>,
    identity_id: &str,
) -> rusqlite::Result<u64> {
    let revoked = transaction.execute(
        "UPDATE tokens SET revoked = 1 WHERE identity_id = ?1 AND revoked = 0",
        [identity_id],
    )?;
    Ok(u64::try_from(revoked).unwrap_or(0))
}

fn insert_tokens(
    transaction: &rusqlite::Transaction<'_>,
    identity_id: &str,
    tokens: &[NewToken],
) -> rusqlite::Result<()> {
    let mut insert = transaction.prepare_cached(
        "INSERT INTO tokens (cti, identity_id, day, profile, handle, status_list, status_index, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for token in tokens {
        insert.execute(rusqlite::params![
            token.cti.as_slice(),
            identity_id,
            token.day,
            token.profile,
            token.handle,
            token.status_list,
            token.status_index,
            token.text
        ])?;
    }
    Ok(())
}

impl IdentityStore for SqliteStorage {
    fn pending_issuance(&self, limit: usize) -> Result<Vec<String>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT r.id FROM records r LEFT JOIN issuance i ON i.record_id = r.id
             WHERE i.record_id IS NULL
               AND (r.chain = 'linked' OR EXISTS (SELECT 1 FROM reviews v WHERE v.record_id = r.id))
             ORDER BY r.received_at_unix_ms, r.id LIMIT ?1",
        )?;
        let ids = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn accept_gap(
        &self,
        record_id: &str,
        accepted_by: &str,
        now_unix_ms: UnixMs,
    ) -> Result<bool, StorageError> {
        let connection = self.lock()?;
        let accepted = connection.execute(
            "INSERT INTO reviews (record_id, accepted_by, reviewed_at_unix_ms)
             SELECT id, ?2, ?3 FROM records WHERE id = ?1 AND chain <> 'linked'
             ON CONFLICT (record_id) DO NOTHING",
            rusqlite::params![record_id, accepted_by, now_unix_ms.as_i64()],
        )?;
        Ok(accepted == 1)
    }

    fn refuse_issuance(
        &self,
        record_id: &str,
        reason: &str,
        now_unix_ms: UnixMs,
    ) -> Result<(), StorageError> {
        let connection = self.lock()?;
        connection.execute(
            "INSERT INTO issuance (record_id, decision, decided_at_unix_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (record_id) DO NOTHING",
            rusqlite::params![record_id, format!("refused:{reason}"), now_unix_ms.as_i64()],
        )?;
        Ok(())
    }

    fn issuance_decision(&self, record_id: &str) -> Result<Option<String>, StorageError> {
        let connection = self.lock()?;
        Ok(connection
            .query_row(
                "SELECT decision FROM issuance WHERE record_id = ?1",
                [record_id],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn issue_identity(
        &self,
        identity: &NewIdentity,
        tokens: &[NewToken],
    ) -> Result<IssueOutcome, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let decided: Option<String> = transaction
            .query_row(
                "SELECT decision FROM issuance WHERE record_id = ?1",
                [&identity.record_id],
                |row| row.get(0),
            )
            .optional()?;
        if decided.is_some() {
            return Ok(IssueOutcome::AlreadyDecided);
        }
        let newer: Option<String> = transaction
            .query_row(
                "SELECT id FROM identities WHERE document_key = ?1 AND state = 'active'
                 AND record_created_at_unix_ms > ?2",
                rusqlite::params![
                    identity.document_key,
                    identity.record_created_at_unix_ms.as_i64()
                ],
                |row| row.get(0),
            )
            .optional()?;
        let now = identity.now_unix_ms.as_i64();
        let (state, decision, outcome) = if newer.is_some() {
            (
                "superseded",
                "superseded-on-arrival",
                IssueOutcome::SupersededOnArrival,
            )
        } else {
            let superseded = {
                let mut statement = transaction.prepare(
                    "SELECT id FROM identities WHERE document_key = ?1 AND state = 'active'",
                )?;
                statement
                    .query_map([&identity.document_key], |row| row.get(0))?
                    .collect::<Result<Vec<String>, _>>()?
            };
            for old in &superseded {
                revoke_tokens(&transaction, old)?;
                transaction.execute(
                    "UPDATE identities SET state = 'superseded', ended_at_unix_ms = ?2 WHERE id = ?1",
                    rusqlite::params![old, now],
                )?;
            }
            ("active", "issued", IssueOutcome::Issued { superseded })
        };
        transaction.execute(
            "INSERT INTO identities (id, record_id, document_key, tier, state,
                                     record_created_at_unix_ms, created_at_unix_ms, ended_at_unix_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?5 = 'active' THEN NULL ELSE ?7 END)",
            rusqlite::params![
                identity.id,
                identity.record_id,
                identity.document_key,
                identity.tier,
                state,
                identity.record_created_at_unix_ms.as_i64(),
                now
            ],
        )?;
        if state == "active" {
            insert_tokens(&transaction, &identity.id, tokens)?;
        }
        if let Some(activation) = &identity.activation {
            crate::holders::insert_activation_sqlite(
                &transaction,
                &identity.record_id,
                &identity.id,
                activation,
            )?;
        }
        transaction.execute(
            "INSERT INTO issuance (record_id, decision, decided_at_unix_ms) VALUES (?1, ?2, ?3)",
            rusqlite::params![identity.record_id, decision, now],
        )?;
        transaction.commit()?;
        Ok(outcome)
    }

    fn find_identity(&self, selector: Selector<'_>) -> Result<Option<IdentityRow>, StorageError> {
        let connection = self.lock()?;
        let (sql, key) = match selector {
            Selector::Record(id) => ("WHERE record_id = ?1", id),
            Selector::Handle(handle) => (
                "WHERE id = (SELECT identity_id FROM tokens WHERE handle = ?1 LIMIT 1)",
                handle,
            ),
            Selector::Holder(secret_hash) => (
                "WHERE id = (SELECT identity_id FROM holders WHERE secret_hash = ?1)",
                secret_hash,
            ),
        };
        Ok(connection
            .query_row(
                &format!(
                    "SELECT id, record_id, tier, state, created_at_unix_ms, ended_at_unix_ms
                     FROM identities {sql}"
                ),
                [key],
                identity_row,
            )
            .optional()?)
    }

    fn identity_tokens(&self, identity_id: &str) -> Result<Vec<TokenRow>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT day, profile, handle, status_list, status_index, text, revoked FROM tokens
             WHERE identity_id = ?1 ORDER BY day, profile",
        )?;
        let rows = statement
            .query_map([identity_id], |row| {
                Ok(TokenRow {
                    day: row.get(0)?,
                    profile: row.get(1)?,
                    handle: row.get(2)?,
                    status_list: row.get(3)?,
                    status_index: row.get(4)?,
                    text: row.get(5)?,
                    revoked: row.get::<_, i64>(6)? != 0,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn reissue_tokens(&self, identity_id: &str, tokens: &[NewToken]) -> Result<u64, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let revoked = revoke_tokens(&transaction, identity_id)?;
        insert_tokens(&transaction, identity_id, tokens)?;
        transaction.commit()?;
        Ok(revoked)
    }

    fn batches_ending_before(
        &self,
        day: &str,
        limit: usize,
    ) -> Result<Vec<(IdentityRow, String)>, StorageError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&crate::holders::placeholders(BATCHES_ENDING, '?'))?;
        let rows = statement
            .query_map(
                rusqlite::params![day, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| Ok((identity_row(row)?, row.get(6)?)),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn extend_tokens(
        &self,
        identity_id: &str,
        first_day: &str,
        tokens: &[NewToken],
    ) -> Result<bool, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<String> = transaction.query_row(
            "SELECT max(day) FROM tokens WHERE identity_id = ?1 AND revoked = 0",
            [identity_id],
            |row| row.get(0),
        )?;
        if last.is_some_and(|last| last.as_str() >= first_day) {
            return Ok(false);
        }
        insert_tokens(&transaction, identity_id, tokens)?;
        transaction.commit()?;
        Ok(true)
    }

    fn revoke_identity(&self, identity_id: &str, now_unix_ms: UnixMs) -> Result<u64, StorageError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let revoked = revoke_tokens(&transaction, identity_id)?;
        transaction.execute(
            "UPDATE identities SET state = 'revoked', ended_at_unix_ms = ?2
             WHERE id = ?1 AND state <> 'revoked'",
            rusqlite::params![identity_id, now_unix_ms.as_i64()],
        )?;
        transaction.commit()?;
        Ok(revoked)
    }

    fn status_list_numbers(&self) -> Result<Vec<u32>, StorageError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare("SELECT DISTINCT status_list FROM tokens ORDER BY status_list")?;
        let numbers = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(numbers)
    }

    fn status_bits(&self, list: u32) -> Result<Vec<(u32, bool)>, StorageError> {
        let connection = self.lock()?;
        let mut statement = connection
            .prepare("SELECT status_index, revoked FROM tokens WHERE status_list = ?1")?;
        let bits = statement
            .query_map([list], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? != 0)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(bits)
    }

    fn token_count(&self) -> Result<u64, StorageError> {
        let connection = self.lock()?;
        let count: i64 =
            connection.query_row("SELECT count(*) FROM tokens", [], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
