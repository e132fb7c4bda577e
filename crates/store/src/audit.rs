//! The append-only, hash-chained audit log: who did what, when, to which record. Entries carry
//! ids and action names only, never personal data. It owns the entry hash and its verification.

use enroll_core::domain::time::UnixMs;
use rusqlite::{OptionalExtension as _, Transaction, params};
use serde::Serialize;

use enroll_core::domain::record::CHAIN_START;
use enroll_crypto::records::sha256_hex;

/// What happened (a closed list, so no free text can carry personal data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    /// A record was committed.
    Enroll,
    /// New enrollments were refused by a guard.
    EnrollRefused,
    /// Sealed payloads were deleted after retention.
    RetentionDelete,
    /// The outbox was opened by a kiosk process.
    Open,
    /// A supervisor overrode a failed face match; the detail is the officer's stated reason.
    Override,
}

impl AuditAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Enroll => "enroll",
            AuditAction::EnrollRefused => "enroll-refused",
            AuditAction::RetentionDelete => "retention-delete",
            AuditAction::Open => "open",
            AuditAction::Override => "override",
        }
    }
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_unix_ms: UnixMs,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub previous_sha256: String,
    pub entry_sha256: String,
}

/// The hash of an entry: SHA-256 over its fields, each followed by a newline, in this order:
/// `audit-v1`, seq, at_unix_ms, actor, action, subject (or empty), detail (or empty),
/// previous_sha256.
pub fn entry_hash(
    seq: i64,
    at_unix_ms: UnixMs,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    detail: Option<&str>,
    previous_sha256: &str,
) -> String {
    let text = format!(
        "audit-v1\n{seq}\n{at_unix_ms}\n{actor}\n{action}\n{}\n{}\n{previous_sha256}\n",
        subject.unwrap_or(""),
        detail.unwrap_or("")
    );
    sha256_hex(text.as_bytes())
}

/// Appends an entry inside the caller's transaction.
pub fn append(
    transaction: &Transaction<'_>,
    at_unix_ms: UnixMs,
    actor: &str,
    action: AuditAction,
    subject: Option<&str>,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    let last: Option<(i64, String)> = transaction
        .prepare_cached("SELECT seq, entry_sha256 FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (seq, previous) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, CHAIN_START.to_owned()),
    };
    let hash = entry_hash(
        seq,
        at_unix_ms,
        actor,
        action.as_str(),
        subject,
        detail,
        &previous,
    );
    transaction
        .prepare_cached(
            "INSERT INTO audit (seq, at_unix_ms, actor, action, subject, detail, previous_sha256, entry_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![seq, at_unix_ms.as_i64(), actor, action.as_str(), subject, detail, previous, hash])?;
    Ok(())
}

/// Problems in the audit chain, in order; empty when it is intact.
pub fn verify_entries(entries: &[AuditEntry]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut previous = CHAIN_START.to_owned();
    let mut expected_seq = 1;
    for entry in entries {
        if entry.seq != expected_seq {
            problems.push(format!(
                "audit entry {}: expected entry {expected_seq} here (an entry is missing or out of order)",
                entry.seq
            ));
        }
        if entry.previous_sha256 != previous {
            problems.push(format!(
                "audit entry {}: does not link to the entry before it",
                entry.seq
            ));
        }
        let hash = entry_hash(
            entry.seq,
            entry.at_unix_ms,
            &entry.actor,
            &entry.action,
            entry.subject.as_deref(),
            entry.detail.as_deref(),
            &entry.previous_sha256,
        );
        if hash != entry.entry_sha256 {
            problems.push(format!(
                "audit entry {}: its content does not match its hash (changed after writing)",
                entry.seq
            ));
        }
        previous = entry.entry_sha256.clone();
        expected_seq = entry.seq + 1;
    }
    problems
}
