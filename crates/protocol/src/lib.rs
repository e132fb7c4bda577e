//! The registry protocol both ends share: how the registry verifies an envelope (registered
//! terminal key, signature over the exact bytes, format, sealed-payload hash, chain link), the
//! receipt it signs with its Ed25519 key and how the kiosk checks it, and the TLS configurations
//! of the link ([`tls`]). It does no I/O: no sockets, files or clock (time comes from the caller).

#![forbid(unsafe_code)]

pub mod heartbeat;
pub mod tls;

use enroll_core::domain::document::base64_bytes;
use enroll_core::domain::record::{
    ChainStatus, RECEIPT_FORMAT, ReceiptBody, RecordBody, RecordEnvelope, SignedReceipt,
};
use enroll_core::domain::roster::{RosterBody, RosterRefusal};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{TerminalPublicKey, TerminalSigningKey, payload_matches, sha256_hex};

/// Why a record is refused; the text is safe to return and log (no record content).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The envelope or the body is malformed.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// No key is registered for the terminal the body names.
    #[error("unknown terminal: register it with `registry terminal add`")]
    UnknownTerminal,
    /// The signature does not verify with the registered key.
    #[error("bad signature: the record is not signed by the registered terminal key")]
    BadSignature,
    /// The body names another key than the registered one.
    #[error("terminal key mismatch: the body names a key other than the registered one")]
    KeyMismatch,
    /// The sealed payload is not the one the signed body commits to.
    #[error("sealed payload mismatch: it does not match the hash in the signed body")]
    PayloadMismatch,
    /// The same id was stored before with other bytes.
    #[error("conflict: a different record with this id is already stored")]
    Conflict,
    /// A key rotation request does not hold.
    #[error("key rotation refused: {0}")]
    RotationRefused(String),
    /// The terminal was revoked before it signed this record.
    #[error(
        "terminal revoked ({reason}) at unix ms {revoked_at_unix_ms}: records it signed from then on \
         are refused; the terminal must be re-provisioned"
    )]
    TerminalRevoked {
        reason: String,
        revoked_at_unix_ms: i64,
    },
}

impl Rejection {
    /// A short, stable reason name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::UnknownTerminal => "unknown-terminal",
            Rejection::BadSignature => "bad-signature",
            Rejection::KeyMismatch => "key-mismatch",
            Rejection::PayloadMismatch => "payload-mismatch",
            Rejection::Conflict => "conflict",
            Rejection::TerminalRevoked { .. } => "terminal-revoked",
            Rejection::RotationRefused(_) => "rotation-refused",
        }
    }
}

/// A record that passed every check.
#[derive(Debug)]
pub struct Verified {
    pub envelope: RecordEnvelope,
    pub body: RecordBody,
    pub body_sha256: String,
}

/// Checks an envelope against the key registered for the terminal its body names.
pub fn verify_envelope(
    bytes: &[u8],
    terminal_key: impl FnOnce(&str, &str) -> Option<[u8; 32]>,
) -> Result<Verified, Rejection> {
    let envelope =
        RecordEnvelope::decode(bytes).map_err(|e| Rejection::Malformed(e.to_string()))?;
    // The terminal id is needed to find the key; the body is parsed before the signature is
    // checked, but nothing from it is trusted or stored until the signature holds.
    let body =
        RecordBody::from_bytes(&envelope.body).map_err(|e| Rejection::Malformed(e.to_string()))?;
    // By terminal and the fingerprint the body names: a terminal that rotated its key still
    // delivers records signed with the old one during the overlap.
    let key_bytes = terminal_key(&body.terminal_id, &body.terminal_key_sha256)
        .ok_or(Rejection::UnknownTerminal)?;
    let key = TerminalPublicKey::from_bytes(&key_bytes).map_err(|_| Rejection::UnknownTerminal)?;
    key.verify(&envelope.body, &envelope.signature)
        .map_err(|_| Rejection::BadSignature)?;
    if body.terminal_key_sha256 != key.fingerprint() {
        return Err(Rejection::KeyMismatch);
    }
    if !payload_matches(&body.sealed, &envelope.sealed_payload) {
        return Err(Rejection::PayloadMismatch);
    }
    let body_sha256 = sha256_hex(&envelope.body);
    Ok(Verified {
        envelope,
        body,
        body_sha256,
    })
}

/// What a terminal signs with its current key to register `new_key_sha256` as its next one
/// (`POST /v1/terminals/{id}/rotate`): the purpose, the terminal, the new key and the time, so a
/// proof cannot be used for another terminal, key or moment.
pub fn rotation_message(
    terminal_id: &str,
    new_key_sha256: &str,
    signed_at_unix_ms: i64,
) -> Vec<u8> {
    format!("enroll-kiosk/key-rotation/1\n{terminal_id}\n{new_key_sha256}\n{signed_at_unix_ms}")
        .into_bytes()
}

/// The signed receipt for a verified record (JSON bytes of [`SignedReceipt`]).
pub fn make_receipt(
    key: &TerminalSigningKey,
    verified: &Verified,
    chain: ChainStatus,
    received_at_unix_ms: UnixMs,
) -> Vec<u8> {
    let receipt = ReceiptBody {
        format: RECEIPT_FORMAT.to_owned(),
        version: 1,
        record_id: verified.body.id,
        terminal_id: verified.body.terminal_id.clone(),
        body_sha256: verified.body_sha256.clone(),
        received_at_unix_ms,
        chain,
        registry_key_sha256: key.public().fingerprint(),
    };
    let bytes = receipt.to_bytes();
    let signed = SignedReceipt {
        signature: base64_bytes::encode(&key.sign(&bytes)),
        receipt: base64_bytes::encode(&bytes),
    };
    serde_json::to_vec(&signed).unwrap_or_default()
}

/// Why a receipt is not acceptable to a terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not receipt JSON.
    #[error("the registry's answer is not a receipt")]
    Malformed,
    /// The signature does not verify with the configured registry receipt key.
    #[error(
        "the registry's receipt signature does not verify with registry.receipt_public_key_file"
    )]
    BadSignature,
    /// A valid receipt, but for another record or other bytes.
    #[error("the receipt is for another record or other bytes")]
    WrongRecord,
}

/// Checks a receipt against the registry key and the record it should acknowledge.
pub fn verify_receipt(
    bytes: &[u8],
    registry_key: &TerminalPublicKey,
    record_id: &str,
    body_sha256: &str,
) -> Result<ReceiptBody, ReceiptError> {
    let signed: SignedReceipt =
        serde_json::from_slice(bytes).map_err(|_| ReceiptError::Malformed)?;
    let body = base64_bytes::decode(&signed.receipt).ok_or(ReceiptError::Malformed)?;
    let signature = base64_bytes::decode(&signed.signature).ok_or(ReceiptError::Malformed)?;
    registry_key
        .verify(&body, &signature)
        .map_err(|_| ReceiptError::BadSignature)?;
    let receipt = ReceiptBody::from_bytes(&body).map_err(|_| ReceiptError::Malformed)?;
    if receipt.record_id.to_string() != record_id || receipt.body_sha256 != body_sha256 {
        return Err(ReceiptError::WrongRecord);
    }
    Ok(receipt)
}

/// What a terminal signs to ask for its fleet state (`POST /v1/terminals/{id}/fleet`): proof that
/// it holds the registered key, so rosters (PIN hashes) and the document-tag key go to terminals
/// only. With a heartbeat (its exact text, [`heartbeat::Heartbeat::to_json`]) the proof covers
/// the heartbeat's SHA-256 too, so nobody else can speak for the terminal's health.
pub fn fleet_request_message(
    terminal_id: &str,
    at_unix_ms: i64,
    heartbeat_json: Option<&str>,
) -> Vec<u8> {
    match heartbeat_json {
        None => format!("enroll-kiosk/fleet-request/1\n{terminal_id}\n{at_unix_ms}").into_bytes(),
        Some(text) => format!(
            "enroll-kiosk/fleet-request/2\n{terminal_id}\n{at_unix_ms}\n{}",
            sha256_hex(text.as_bytes())
        )
        .into_bytes(),
    }
}

/// The body of `POST /v1/terminals/{id}/fleet`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetRequest {
    pub at_unix_ms: i64,
    /// Base64 of the terminal key's signature of [`fleet_request_message`].
    pub proof_base64: String,
    /// The terminal's heartbeat, as the exact text it signed (absent from terminals older than
    /// heartbeats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_json: Option<String>,
}

/// A roster as it travels: its exact bytes and the registry's signature, both base64.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRoster {
    pub roster_base64: String,
    pub signature_base64: String,
}

/// The registry's answer to a fleet request.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetAnswer {
    pub roster: SignedRoster,
    /// The document-tag key (64 hex characters), when the registry has one.
    pub document_tag_key_hex: Option<String>,
}

/// Signs a roster with the registry's receipt key.
pub fn sign_roster(key: &TerminalSigningKey, roster: &RosterBody) -> SignedRoster {
    let bytes = roster.to_bytes();
    SignedRoster {
        signature_base64: base64_bytes::encode(&key.sign(&bytes)),
        roster_base64: base64_bytes::encode(&bytes),
    }
}

/// Checks a roster's signature with the registry's receipt key and parses it.
pub fn open_roster(
    signed: &SignedRoster,
    registry_key: &TerminalPublicKey,
) -> Result<RosterBody, RosterRefusal> {
    let bytes = base64_bytes::decode(&signed.roster_base64)
        .ok_or_else(|| RosterRefusal::Malformed("not base64".into()))?;
    let signature = base64_bytes::decode(&signed.signature_base64)
        .ok_or_else(|| RosterRefusal::Malformed("the signature is not base64".into()))?;
    registry_key
        .verify(&bytes, &signature)
        .map_err(|_| RosterRefusal::BadSignature)?;
    RosterBody::from_bytes(&bytes)
}
