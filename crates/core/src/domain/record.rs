//! The enrollment record: its fields, its exact stored bytes and the rules a verifier checks. Pure:
//! it does not sign, seal, hash, store or read the clock (ids and times come in as arguments).
//!
//! # Format (version 3; versions 1 and 2 differ as said below), for verifiers in any language
//!
//! A record travels and is stored as three byte strings that are never re-serialised:
//!
//! 1. **body**: UTF-8 JSON (RFC 8259), one object, exactly as the terminal wrote it. A verifier
//!    hashes and checks the signature over these bytes *before* parsing them, and must not
//!    re-encode them. Members (all required; `null` where marked optional):
//!    - `format`: `"enroll-kiosk/record"`; `version`: `3` (this software writes 3 and reads 1,
//!      2 and 3).
//!    - `id`: UUIDv7 (RFC 9562) in lowercase 8-4-4-4-12 form; its 48-bit timestamp is the creation
//!      time in Unix milliseconds. It is made before the commit and is the idempotency key end to
//!      end.
//!    - `terminal_id`: the terminal's configured id; `terminal_key_sha256`: lowercase hex SHA-256
//!      of the terminal's 32-byte Ed25519 public key.
//!    - `created_at_unix_ms`: creation time, Unix milliseconds (UTC).
//!    - `tier`: `"self-service"` or `"officer"`; `officer_id`, `supervisor_id`: strings or `null`.
//!    - `document_kind` (e.g. `"cn_resident"`, `"icao_td3"`) and, when the terminal holds the
//!      registry's document-tag key, `document_tag`: `{"key_id", "hmac_sha256"}`, the keyed
//!      hash that lets the registry find two records of one document without the terminal
//!      keeping its number (see `enroll_crypto::records::document_tag`); absent otherwise.
//!      Nothing in the body names the person: the identity fields are in the sealed payload.
//!      *Versions 1 and 2* carry instead `document`: `kind`, `document_number`, `name`,
//!      `name_latin` (or `null`), `sex` (`"male"`, `"female"`, `"unspecified"`), `nationality`
//!      (ISO 3166-1 alpha-3 or `null`), `birth` (`YYYY-MM-DD`), `valid_from` (or `null`),
//!      `valid_to` (`{"until":"YYYY-MM-DD"}` or `"long_term"`), `issuing_authority` (or `null`),
//!      in clear.
//!    - `card_verification`: `{"method":"sam","sam_id":…}`, or
//!      `{"method":"passive-authentication","passed":bool,"failure":string|null,"csca_subject":string|null}`,
//!      or `{"method":"not-verified","reason":…}`.
//!    - `card_evidence`: `ef_sod_sha256` (hex or `null`; always `null` from version 3: a digest
//!      unique to one document), `data_groups` (the numbers read, e.g.
//!      `[1,2]`), `sam_text_block` (bool); the bytes themselves are in the sealed payload.
//!    - `face`: `compared` (bool), `score_cosine` (number or `null` when not compared),
//!      `threshold_cosine`, `is_match`, `models_sha256` (object role → hex SHA-256),
//!      `quality_passed`, `quality_reasons` (array of reason codes), `quality_components`
//!      (array of `{"check","value","passed"}`), `live_probability` (number or `null`),
//!      `override_by` (supervisor id when a supervisor accepted a non-match, else `null`);
//!      optional (absent in older records and where they do not apply): `model_pack` (the model
//!      pack's name), `liveness_challenge` (`{"passed","side","blink_done_ms","turn_done_ms",
//!      "total_ms","failure"}`, the active challenge run before the check) and
//!      `liveness_challenge_waived` (`"cannot_blink"`, `"cannot_turn_head"`,
//!      `"cannot_follow_prompts"` or `"equipment"`: the officer waived the challenge).
//!    - `sealed`: `suite` = `"HPKE-v1/base/X25519-HKDF-SHA256/HKDF-SHA256/ChaCha20Poly1305"`,
//!      `info` = `"enroll-kiosk record v1"`, `enc` (base64 of the 32-byte encapsulated key),
//!      `registry_key_sha256` (hex SHA-256 of the registry's 32-byte X25519 public key),
//!      `ciphertext_blake3` (hex BLAKE3-256 of the sealed payload, versions 2 and 3; version 1 has
//!      `ciphertext_sha256`, hex SHA-256, in its place) and `ciphertext_len` (bytes).
//!    - `previous_record_sha256`: hex SHA-256 of the previous record's body bytes from this
//!      terminal, or 64 `0` for its first record. The records of one terminal form a chain in
//!      commit order; a deleted or reordered record breaks it.
//! 2. **signature**: the 64-byte Ed25519 signature (RFC 8032, pure Ed25519) of the body bytes by
//!    the terminal key.
//! 3. **sealed payload**: the HPKE (RFC 9180) base-mode ciphertext of a UTF-8 JSON
//!    [`SealedContent`] object (from version 3 with the `document` fields), sealed to the registry's X25519 key with `info` as above and the
//!    record `id` (its 36 ASCII characters) as associated data: one message, sequence number 0,
//!    so the payload is the ChaCha20-Poly1305 ciphertext followed by its 16-byte tag. Its length
//!    must equal `sealed.ciphertext_len` and its BLAKE3 (versions 2, 3) or SHA-256 (version 1) the
//!    body's digest. The terminal deletes it after the retention period once the registry's
//!    receipt is verified; body and signature remain (from version 3 they name nobody).
//!
//! A verifier checks, in order: the signature over the body bytes; `format`/`version`; that
//! `terminal_key_sha256` names the key it verified with; the chain (`previous_record_sha256`);
//! and, while present, the sealed payload's hash.

use crate::domain::time::UnixMs;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::card_read::{RawEvidence, Verification};
use crate::domain::document::{CalendarDate, DocumentKind, Identity, Photo, Sex, Validity};
use crate::domain::tier::Tier;

/// `format` of every record body.
pub const RECORD_FORMAT: &str = "enroll-kiosk/record";
/// The body version this code writes (version 3: no identity field in clear).
pub const RECORD_VERSION: u32 = 3;
/// The body versions this code reads (version 1: the payload digest is SHA-256; versions 1 and 2:
/// the document fields in clear).
pub const READABLE_RECORD_VERSIONS: [u32; 3] = [1, 2, 3];
/// `sealed.suite`.
pub const SEAL_SUITE: &str = "HPKE-v1/base/X25519-HKDF-SHA256/HKDF-SHA256/ChaCha20Poly1305";
/// `sealed.info`, the HPKE info string.
pub const SEAL_INFO: &str = "enroll-kiosk record v1";
/// `previous_record_sha256` of a terminal's first record.
pub const CHAIN_START: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Whether `id` is a usable terminal id: 1 to 64 of `A-Z a-z 0-9 - _`.
pub fn is_valid_terminal_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `format` of the sealed content.
pub const SEALED_FORMAT: &str = "enroll-kiosk/sealed";

/// A UUIDv7 record id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 16]);

impl RecordId {
    /// The UUIDv7 for `created` with the 74 random bits taken from `random` (RFC 9562 §5.7).
    pub fn v7(created: UnixMs, random: [u8; 10]) -> Self {
        let mut bytes = [0u8; 16];
        let ms = created.as_u64().to_be_bytes();
        // The low 48 bits of the timestamp.
        for (out, byte) in bytes.iter_mut().zip(ms.iter().skip(2)) {
            *out = *byte;
        }
        let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = random;
        bytes[6] = 0x70 | (r0 & 0x0F);
        bytes[7] = r1;
        bytes[8] = 0x80 | (r2 & 0x3F);
        bytes[9] = r3;
        bytes[10] = r4;
        bytes[11] = r5;
        bytes[12] = r6;
        bytes[13] = r7;
        bytes[14] = r8;
        bytes[15] = r9;
        RecordId(bytes)
    }

    /// The creation time the id carries.
    pub fn unix_ms(&self) -> UnixMs {
        UnixMs::from_u64(
            self.0
                .iter()
                .take(6)
                .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)),
        )
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, byte) in self.0.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// A text that is not a UUIDv7 in 8-4-4-4-12 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (a UUIDv7 like 0192f0c4-7b1e-7c3a-9d2e-0123456789ab)")]
pub struct InvalidRecordId;

impl FromStr for RecordId {
    type Err = InvalidRecordId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(InvalidRecordId);
        }
        let mut out = [0u8; 16];
        let mut nibbles = Vec::with_capacity(32);
        for (index, &c) in bytes.iter().enumerate() {
            if matches!(index, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(InvalidRecordId);
                }
                continue;
            }
            let value = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return Err(InvalidRecordId),
            };
            nibbles.push(value);
        }
        for (out, pair) in out.iter_mut().zip(nibbles.chunks(2)) {
            let [high, low] = pair else {
                return Err(InvalidRecordId);
            };
            *out = (high << 4) | low;
        }
        let id = RecordId(out);
        if out[6] >> 4 != 7 || out[8] >> 6 != 0b10 {
            return Err(InvalidRecordId);
        }
        Ok(id)
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The document's identity fields: sealed from version 3 on (in clear in versions 1 and 2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentData {
    pub kind: DocumentKind,
    pub document_number: String,
    pub name: String,
    pub name_latin: Option<String>,
    pub sex: Sex,
    pub nationality: Option<String>,
    pub birth: CalendarDate,
    pub valid_from: Option<CalendarDate>,
    pub valid_to: Validity,
    pub issuing_authority: Option<String>,
}

impl fmt::Debug for DocumentData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentData")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl From<&Identity> for DocumentData {
    fn from(identity: &Identity) -> Self {
        DocumentData {
            kind: identity.kind,
            document_number: identity.document_number.clone(),
            name: identity.name.clone(),
            name_latin: identity.name_latin.clone(),
            sex: identity.sex,
            nationality: identity.nationality.clone(),
            birth: identity.birth,
            valid_from: identity.valid_from,
            valid_to: identity.valid_to,
            issuing_authority: identity.issuing_authority.clone(),
        }
    }
}

/// The keyed hash of a document's kind and number (version 3 bodies): equal for two records of
/// one document under one key, and unreadable without the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentTag {
    /// Which registry key made it (16 hex characters).
    pub key_id: String,
    /// Hex HMAC-SHA256.
    pub hmac_sha256: String,
}

/// Which raw card data the sealed payload holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEvidenceSummary {
    /// Hex SHA-256 of EF.SOD as read, when there was one.
    pub ef_sod_sha256: Option<String>,
    /// The ICAO data groups read.
    pub data_groups: Vec<u8>,
    /// Whether the SAM text block is sealed in.
    pub sam_text_block: bool,
}

/// One quality component as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityEntry {
    pub check: String,
    pub value: f32,
    pub passed: bool,
}

/// The face decision as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceEvidence {
    /// Whether a live face was compared with a card photo.
    pub compared: bool,
    pub score_cosine: Option<f32>,
    pub threshold_cosine: f32,
    pub is_match: bool,
    pub models_sha256: BTreeMap<String, String>,
    /// The model pack the terminal ran (`kiosk face packs`); absent in records made before packs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_pack: Option<String>,
    /// The active liveness challenge before the capture was checked (passed, the side asked,
    /// blink and turn times); absent where none ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_challenge: Option<crate::domain::challenge::ChallengeOutcome>,
    /// Why the officer (the record's `officer_id`) waived the challenge, if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_challenge_waived: Option<crate::domain::challenge::WaiverReason>,
    pub quality_passed: bool,
    pub quality_reasons: Vec<String>,
    pub quality_components: Vec<QualityEntry>,
    pub live_probability: Option<f32>,
    /// The supervisor who accepted a non-match, if one did.
    pub override_by: Option<String>,
}

/// Where the sealed payload is and how it was sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedRef {
    pub suite: String,
    pub info: String,
    /// Base64 of the encapsulated key.
    pub enc: String,
    pub registry_key_sha256: String,
    /// Hex SHA-256 of the sealed payload: version 1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_sha256: Option<String>,
    /// Hex BLAKE3 of the sealed payload: version 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_blake3: Option<String>,
    pub ciphertext_len: u64,
}

/// The signed body (see the module documentation for the exact format).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    pub format: String,
    pub version: u32,
    pub id: RecordId,
    pub terminal_id: String,
    pub terminal_key_sha256: String,
    pub created_at_unix_ms: UnixMs,
    pub tier: Tier,
    pub officer_id: Option<String>,
    pub supervisor_id: Option<String>,
    /// Versions 1 and 2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentData>,
    /// Version 3 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_kind: Option<DocumentKind>,
    /// Version 3 on, when the terminal held the registry's document-tag key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_tag: Option<DocumentTag>,
    pub card_verification: Verification,
    pub card_evidence: CardEvidenceSummary,
    pub face: FaceEvidence,
    pub sealed: SealedRef,
    pub previous_record_sha256: String,
}

/// Why body bytes are not a record this software reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordFormatError {
    /// Not JSON of the record shape.
    #[error("the record body is not a valid record: {0}")]
    Malformed(String),
    /// Another format or version.
    #[error(
        "the record body has format {format:?} version {version}; this software reads {RECORD_FORMAT:?} versions 1, 2 and 3"
    )]
    Unsupported {
        /// What the body says.
        format: String,
        /// What the body says.
        version: u32,
    },
}

impl RecordBody {
    /// The exact bytes to sign and store (compact JSON, fields in declaration order).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses stored body bytes (after the signature over them was checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        let body: RecordBody = serde_json::from_slice(bytes).map_err(|error| {
            // serde_json's message names the position, never the content.
            RecordFormatError::Malformed(format!("line {} column {}", error.line(), error.column()))
        })?;
        if body.format != RECORD_FORMAT || !READABLE_RECORD_VERSIONS.contains(&body.version) {
            return Err(RecordFormatError::Unsupported {
                format: body.format,
                version: body.version,
            });
        }
        let digest_of_its_version = match body.version {
            1 => body.sealed.ciphertext_sha256.is_some() && body.sealed.ciphertext_blake3.is_none(),
            _ => body.sealed.ciphertext_blake3.is_some() && body.sealed.ciphertext_sha256.is_none(),
        };
        let document_of_its_version = match body.version {
            1 | 2 => {
                body.document.is_some()
                    && body.document_kind.is_none()
                    && body.document_tag.is_none()
            }
            _ => body.document.is_none() && body.document_kind.is_some(),
        };
        if !document_of_its_version {
            return Err(RecordFormatError::Malformed(format!(
                "a version {} body must {}",
                body.version,
                if body.version < 3 {
                    "carry `document` (and no `document_kind` or `document_tag`)"
                } else {
                    "carry `document_kind` and no `document`"
                }
            )));
        }
        if !digest_of_its_version {
            return Err(RecordFormatError::Malformed(format!(
                "a version {} body must name its payload by {} alone",
                body.version,
                if body.version == 1 {
                    "ciphertext_sha256"
                } else {
                    "ciphertext_blake3"
                }
            )));
        }
        Ok(body)
    }

    /// The kind of document enrolled, whatever the version.
    pub fn document_kind(&self) -> Option<DocumentKind> {
        self.document_kind
            .or_else(|| self.document.as_ref().map(|document| document.kind))
    }
}

/// What the registry alone can read: biometrics and raw card data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedContent {
    pub format: String,
    pub version: u32,
    pub record_id: RecordId,
    /// The ICAO-style token portrait from the live capture (JPEG).
    #[serde(with = "crate::domain::document::base64_bytes")]
    pub portrait_jpeg: Vec<u8>,
    /// The card's photo as read.
    pub card_photo: Photo,
    /// The raw card data.
    pub card_evidence: RawEvidence,
    /// The receipt's one-time activation code (12 characters, check included), which the registry
    /// binds to the identity it issues. Absent in records made before activation codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_code: Option<String>,
    /// The document's identity fields (records of version 3 on; earlier ones have them in the
    /// body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentData>,
}

impl fmt::Debug for SealedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedContent")
            .field("record_id", &self.record_id)
            .field("portrait_jpeg_len", &self.portrait_jpeg.len())
            .finish_non_exhaustive()
    }
}

impl SealedContent {
    /// The plaintext to seal.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses opened plaintext.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        serde_json::from_slice(bytes).map_err(|error| {
            RecordFormatError::Malformed(format!(
                "sealed content line {} column {}",
                error.line(),
                error.column()
            ))
        })
    }
}

/// Everything about an enrollment except the chain link and the seal, which the outbox and
/// the crypto layer add at commit time.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordDraft {
    pub id: RecordId,
    pub terminal_id: String,
    pub created_at_unix_ms: UnixMs,
    pub tier: Tier,
    pub officer_id: Option<String>,
    pub supervisor_id: Option<String>,
    pub document_kind: DocumentKind,
    pub document_tag: Option<DocumentTag>,
    pub card_verification: Verification,
    pub card_evidence: CardEvidenceSummary,
    pub face: FaceEvidence,
}

impl RecordDraft {
    /// The body, once the terminal key, the seal and the chain link are known.
    pub fn into_body(
        self,
        terminal_key_sha256: String,
        sealed: SealedRef,
        previous_record_sha256: String,
    ) -> RecordBody {
        RecordBody {
            format: RECORD_FORMAT.to_owned(),
            version: RECORD_VERSION,
            id: self.id,
            terminal_id: self.terminal_id,
            terminal_key_sha256,
            created_at_unix_ms: self.created_at_unix_ms,
            tier: self.tier,
            officer_id: self.officer_id,
            supervisor_id: self.supervisor_id,
            document: None,
            document_kind: Some(self.document_kind),
            document_tag: self.document_tag,
            card_verification: self.card_verification,
            card_evidence: self.card_evidence,
            face: self.face,
            sealed,
            previous_record_sha256,
        }
    }
}

/// Magic of the record envelope.
pub const ENVELOPE_MAGIC: &[u8; 4] = b"EKR1";
/// Largest body accepted in an envelope.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Largest sealed payload accepted in an envelope.
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// A record as it travels to the registry and is exported: the three stored byte strings, framed
/// as `EKR1` followed by, for body, signature and sealed payload in this order, a 4-byte big-endian
/// length and the bytes. Nothing inside is re-encoded. (HTTP: `POST /v1/records`, content type
/// `application/vnd.enroll-kiosk.record`.)
#[derive(Clone, PartialEq, Eq)]
pub struct RecordEnvelope {
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
    pub sealed_payload: Vec<u8>,
}

impl fmt::Debug for RecordEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordEnvelope")
            .field("body_len", &self.body.len())
            .field("sealed_payload_len", &self.sealed_payload.len())
            .finish_non_exhaustive()
    }
}

/// Why bytes are not a record envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Wrong magic.
    #[error("not a record envelope (it must start with EKR1)")]
    Magic,
    /// A length runs past the end, or bytes are left over.
    #[error("the record envelope is truncated or has trailing bytes")]
    Framing,
    /// A part is larger than allowed.
    #[error("the record envelope's {part} is {len} bytes, above the limit of {max}")]
    TooLarge {
        /// Which part.
        part: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl RecordEnvelope {
    /// The framed bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.body.len() + self.signature.len() + self.sealed_payload.len(),
        );
        out.extend_from_slice(ENVELOPE_MAGIC);
        for part in [&self.body, &self.signature, &self.sealed_payload] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Parses framed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let rest = bytes
            .strip_prefix(ENVELOPE_MAGIC.as_slice())
            .ok_or(EnvelopeError::Magic)?;
        let mut rest = rest;
        let mut parts = Vec::with_capacity(3);
        for (part, max) in [
            ("body", MAX_BODY_BYTES),
            ("signature", 64),
            ("sealed payload", MAX_PAYLOAD_BYTES),
        ] {
            let (len_bytes, tail) = rest
                .split_first_chunk::<4>()
                .ok_or(EnvelopeError::Framing)?;
            let len = usize::try_from(u32::from_be_bytes(*len_bytes)).unwrap_or(usize::MAX);
            if len > max {
                return Err(EnvelopeError::TooLarge { part, len, max });
            }
            let value = tail.get(..len).ok_or(EnvelopeError::Framing)?;
            parts.push(value.to_vec());
            rest = tail.get(len..).ok_or(EnvelopeError::Framing)?;
        }
        if !rest.is_empty() {
            return Err(EnvelopeError::Framing);
        }
        let mut parts = parts.into_iter();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(body), Some(signature), Some(sealed_payload)) => Ok(RecordEnvelope {
                body,
                signature,
                sealed_payload,
            }),
            _ => Err(EnvelopeError::Framing),
        }
    }
}

/// `format` of a receipt body.
pub const RECEIPT_FORMAT: &str = "enroll-kiosk/receipt";

/// Whether a received record linked to the terminal's previous one at the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainStatus {
    /// Its `previous_record_sha256` is the last record the registry holds from that terminal.
    Linked,
    /// It did not link (records can arrive out of order after a crash): accepted, flagged for
    /// review.
    GapFlagged,
}

/// What the registry signs when it accepts a record (UTF-8 JSON, signed with its Ed25519 receipt
/// key; the signature covers these exact bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    pub format: String,
    pub version: u32,
    pub record_id: RecordId,
    pub terminal_id: String,
    /// Hex SHA-256 of the record body the registry stored.
    pub body_sha256: String,
    pub received_at_unix_ms: UnixMs,
    pub chain: ChainStatus,
    /// Hex SHA-256 of the registry's receipt public key.
    pub registry_key_sha256: String,
}

impl ReceiptBody {
    /// The exact bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses receipt bytes (after the signature over them was checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordFormatError> {
        let receipt: ReceiptBody = serde_json::from_slice(bytes).map_err(|error| {
            RecordFormatError::Malformed(format!(
                "receipt line {} column {}",
                error.line(),
                error.column()
            ))
        })?;
        if receipt.format != RECEIPT_FORMAT || receipt.version != 1 {
            return Err(RecordFormatError::Unsupported {
                format: receipt.format,
                version: receipt.version,
            });
        }
        Ok(receipt)
    }
}

/// A signed receipt as stored and sent: the exact receipt body bytes and the registry's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// Base64 of the receipt body bytes.
    pub receipt: String,
    /// Base64 of the 64-byte Ed25519 signature.
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_v7_id_carries_its_time_version_and_variant_and_round_trips_as_text() {
        let id = RecordId::v7(UnixMs(1_790_000_000_123), [0xAB; 10]);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "version nibble");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "variant");
        assert_eq!(id.unix_ms(), UnixMs(1_790_000_000_123));
        assert_eq!(text.parse::<RecordId>(), Ok(id));
    }

    #[test]
    fn a_kinds_code_is_what_record_bodies_write() {
        use crate::domain::document::DocumentKind::*;
        for kind in [
            CnResident,
            CnHmtResidence,
            CnForeignPermanent2017,
            CnForeignPermanent2023,
            IcaoTd3,
            IcaoTd2,
            IcaoTd1,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_code())
            );
        }
    }

    #[test]
    fn ids_sort_by_time() {
        let earlier = RecordId::v7(UnixMs(1_000), [0xFF; 10]);
        let later = RecordId::v7(UnixMs(1_001), [0x00; 10]);
        assert!(earlier < later);
        assert!(earlier.to_string() < later.to_string());
    }

    #[test]
    fn text_that_is_not_a_v7_id_is_refused() {
        for text in [
            "",
            "not-an-id",
            "0192f0c4-7b1e-4c3a-9d2e-0123456789ab", // version 4
            "0192F0C4-7B1E-7C3A-9D2E-0123456789AB", // upper case
            "0192f0c47b1e7c3a9d2e0123456789ab",
        ] {
            assert_eq!(text.parse::<RecordId>(), Err(InvalidRecordId), "{text}");
        }
    }

    #[test]
    fn an_envelope_round_trips_and_bad_framing_is_refused() {
        let envelope = RecordEnvelope {
            body: b"{}".to_vec(),
            signature: vec![7; 64],
            sealed_payload: vec![1, 2, 3],
        };
        let bytes = envelope.encode();
        assert_eq!(RecordEnvelope::decode(&bytes), Ok(envelope));
        assert_eq!(RecordEnvelope::decode(b"XXXX"), Err(EnvelopeError::Magic));
        assert_eq!(
            RecordEnvelope::decode(&bytes[..bytes.len() - 1]),
            Err(EnvelopeError::Framing)
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            RecordEnvelope::decode(&trailing),
            Err(EnvelopeError::Framing)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_envelope_parser(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut framed = ENVELOPE_MAGIC.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = RecordEnvelope::decode(&framed);
            let _ = RecordEnvelope::decode(&bytes);
        }

        #[test]
        fn any_v7_id_round_trips(ms in 0u64..(1 << 48), random in any::<[u8; 10]>()) {
            let id = RecordId::v7(UnixMs::from_u64(ms), random);
            prop_assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
            prop_assert_eq!(id.unix_ms(), UnixMs::from_u64(ms));
        }

        #[test]
        fn random_bytes_never_panic_the_body_parser(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = RecordBody::from_bytes(&bytes);
        }
    }
}
