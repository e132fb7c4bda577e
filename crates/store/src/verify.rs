//! Re-verification of every stored record: body hash, Ed25519 signature over the exact stored
//! bytes, format, terminal key, the chain of `previous_record_sha256` links and the sealed
//! payload's hash. It reports problems by sequence number and id, never by content.

use rusqlite::Connection;
use serde::Serialize;

use enroll_core::domain::record::{CHAIN_START, RecordBody};
use enroll_crypto::records::{TerminalPublicKey, payload_matches, sha256_hex};

/// One problem with one stored record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordProblem {
    pub seq: i64,
    pub id: String,
    pub problem: String,
}

/// The outcome of checking every record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub records: u64,
    pub problems: Vec<RecordProblem>,
}

impl ChainReport {
    /// Whether every record and link held.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Row {
    seq: i64,
    id: String,
    body: Vec<u8>,
    body_sha256: String,
    signature: Vec<u8>,
    sealed_payload: Option<Vec<u8>>,
}

/// Checks every record against the terminal's keys (`keys`: the current one and those it
/// retired by rotation; each record names the one that signed it).
pub(crate) fn verify_records(
    connection: &Connection,
    keys: &[TerminalPublicKey],
) -> rusqlite::Result<ChainReport> {
    let mut statement = connection.prepare(
        "SELECT seq, id, body, body_sha256, signature, sealed_payload FROM records ORDER BY seq",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(Row {
            seq: row.get(0)?,
            id: row.get(1)?,
            body: row.get(2)?,
            body_sha256: row.get(3)?,
            signature: row.get(4)?,
            sealed_payload: row.get(5)?,
        })
    })?;
    let mut report = ChainReport::default();
    let fingerprints: Vec<String> = keys.iter().map(TerminalPublicKey::fingerprint).collect();
    // The hash the next record must link to: the actual hash of the previous stored body.
    let mut previous = CHAIN_START.to_owned();
    for row in rows {
        let row = row?;
        report.records += 1;
        let mut problems = Vec::new();
        let actual_sha256 = sha256_hex(&row.body);
        if actual_sha256 != row.body_sha256 {
            problems
                .push("the body does not match its stored hash (changed after signing)".to_owned());
        }
        let parsed = RecordBody::from_bytes(&row.body);
        // The key the body names, among this terminal's; the current one when it names none of
        // them (the signature check then says so too).
        let named = parsed.as_ref().ok().and_then(|body| {
            fingerprints
                .iter()
                .position(|fingerprint| *fingerprint == body.terminal_key_sha256)
        });
        let signer = keys.get(named.unwrap_or(0));
        if signer.is_none_or(|key| key.verify(&row.body, &row.signature).is_err()) {
            problems.push("the signature does not verify with this terminal's key".to_owned());
        }
        match parsed {
            Err(error) => problems.push(error.to_string()),
            Ok(body) => {
                if body.id.to_string() != row.id {
                    problems.push("the body's id differs from the stored id".to_owned());
                }
                if named.is_none() {
                    problems.push("the body names another terminal key".to_owned());
                }
                if body.previous_record_sha256 != previous {
                    problems.push(if previous == CHAIN_START {
                        "the chain does not start here: an earlier record is missing".to_owned()
                    } else {
                        "the chain is broken: the previous record is missing, changed or out of order"
                            .to_owned()
                    });
                }
                if let Some(payload) = &row.sealed_payload
                    && !payload_matches(&body.sealed, payload)
                {
                    problems.push(
                        "the sealed payload does not match the hash in the signed body".to_owned(),
                    );
                }
            }
        }
        previous = actual_sha256;
        report
            .problems
            .extend(problems.into_iter().map(|problem| RecordProblem {
                seq: row.seq,
                id: row.id.clone(),
                problem,
            }));
    }
    Ok(report)
}
