//! The virtual ID credential, shared by the registry that issues it and the verifier that checks it
//! offline: daily Claim 169 tokens (a CWT signed as COSE_Sign1 with Ed25519, zlib, Base45, QR),
//! the trust list an offline root signs, the IETF Token Status List, and every check a verifier
//! makes. It does no I/O: no files, sockets or clock; time, randomness and keys come from the caller.
//!
//! The byte layout of a token, outermost first:
//!
//! ```text
//! QR (alphanumeric) ─ Base45 ─ zlib ─ COSE_Sign1 (tag 18, alg EdDSA + kid protected)
//!   └ payload: CWT claims map { 1 iss, 4 exp, 5 nbf, 6 iat, 7 cti, 169 identity,
//!                               65535 status, -65537 tier, -65538 age ≥ 18, -65539 profile }
//! ```

#![forbid(unsafe_code)]

pub mod cbor;
pub mod day;
pub mod keys;
pub mod qr;
pub mod status;
pub mod token;
pub mod trust;
pub mod verify;

pub use keys::{KeyRole, Kid};
pub use token::{IdentityClaims, Profile, Sex, StatusRef, Tier, TokenClaims};
pub use verify::{Outcome, Reason, Verdict, VerifierState};

/// Tokens larger than this once inflated are refused before any CBOR is read (zlib bombs).
pub const MAX_INFLATED_BYTES: usize = 16 * 1024;
/// Base45 text longer than this is not a token (a version 40 QR holds 4,296 alphanumerics).
pub const MAX_TEXT_CHARS: usize = 4_296;
/// The most a screen token may take: version 24-M holds it on any phone (research/virtual-id.md).
pub const MAX_SCREEN_CHARS: usize = 1_300;
/// The clock difference a verifier tolerates either way, in seconds.
pub const CLOCK_SKEW_S: i64 = 300;
/// The longest validity a daily token may have (`exp − nbf`), in seconds.
pub const MAX_LIFETIME_S: i64 = 27 * 3600;
/// A status list older than this refuses strict tokens and warns on light ones, in seconds.
pub const STATUS_LIST_MAX_AGE_S: i64 = 24 * 3600;
/// The most days one batch may hold.
pub const MAX_BATCH_DAYS: u32 = 30;
/// Days in a batch unless the operator asks for another number.
pub const DEFAULT_BATCH_DAYS: u32 = 7;
