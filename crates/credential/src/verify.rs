//! The verifier's checks: what a verifier holds (the pinned root, the last trust list, the last
//! status lists), how new lists are accepted (signature, no rollback), and the verdict on a token
//! at a given time. Reading files, fetching lists and reading the clock are the caller's.

use std::collections::BTreeMap;

use crate::keys::{KeyRole, Kid, cti_hash};
use crate::status::StatusListToken;
use crate::token::{self, Tier, TokenClaims};
use crate::trust::TrustList;
use crate::{CLOCK_SKEW_S, MAX_LIFETIME_S, STATUS_LIST_MAX_AGE_S};

/// Why a token or a list is refused, or why it could not be checked. Each has a stable code;
/// no text carries personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("the text is longer than any QR code holds")]
    TooLong,
    #[error("the text is not Base45")]
    NotBase45,
    #[error("the data is not zlib-compressed")]
    NotZlib,
    #[error("the data inflates beyond 16 KiB (a zlib bomb)")]
    InflatedTooLarge,
    #[error("the data is not well-formed CBOR")]
    CborMalformed,
    #[error("bytes follow the signed structure")]
    TrailingBytes,
    #[error("the CBOR is nested too deep or holds too many items")]
    CborTooComplex,
    #[error("a CBOR map repeats a key")]
    DuplicateKey,
    #[error("the data is {0}, not a COSE_Sign1 (tag 18)")]
    NotSign1(&'static str),
    #[error("the signature algorithm is not EdDSA")]
    AlgNotEdDsa,
    #[error("the algorithm is in the unprotected header")]
    AlgUnprotected,
    #[error("the signature names no 8-byte key id")]
    MissingKid,
    #[error("the token's claims are incomplete: {0}")]
    NotAToken(&'static str),
    #[error("the list is malformed: {0}")]
    NotAList(&'static str),
    #[error("the list is not signed by the key it must be signed by")]
    ListNotSigned,
    #[error("the list is older than the one already held (rollback)")]
    Rollback,
    #[error("the signing key is not in the trust list")]
    UnknownKid,
    #[error("the signing key may not sign this tier")]
    KeyNotForTier,
    #[error("the signing key was not valid when the token was issued")]
    KeyNotValid,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has expired")]
    Expired,
    #[error("the token claims a validity longer than 27 hours")]
    LifetimeTooLong,
    #[error("the token names no status list, so it cannot be revoked")]
    StatusMissing,
    #[error("the token's status index is beyond its status list")]
    StatusIndexOutOfRange,
    #[error("the token has been revoked")]
    Revoked,
    #[error("no trust list is held: run `idverify trust sync URL --root-key FILE`")]
    NoTrustList,
    #[error("the token's status list is not held: run `idverify status sync`")]
    NoStatusList,
    #[error("the status list is more than 24 hours old: run `idverify status sync`")]
    StatusListStale,
}

impl Reason {
    /// The stable machine-readable code (JSON output, tests).
    pub fn code(self) -> &'static str {
        match self {
            Reason::TooLong => "too-long",
            Reason::NotBase45 => "not-base45",
            Reason::NotZlib => "not-zlib",
            Reason::InflatedTooLarge => "inflated-too-large",
            Reason::CborMalformed => "cbor-malformed",
            Reason::TrailingBytes => "trailing-bytes",
            Reason::CborTooComplex => "cbor-too-complex",
            Reason::DuplicateKey => "duplicate-key",
            Reason::NotSign1(_) => "not-cose-sign1",
            Reason::AlgNotEdDsa => "alg-not-eddsa",
            Reason::AlgUnprotected => "alg-unprotected",
            Reason::MissingKid => "missing-kid",
            Reason::NotAToken(_) => "not-a-token",
            Reason::NotAList(_) => "not-a-list",
            Reason::ListNotSigned => "list-not-signed",
            Reason::Rollback => "rollback",
            Reason::UnknownKid => "unknown-kid",
            Reason::KeyNotForTier => "key-not-for-tier",
            Reason::KeyNotValid => "key-not-valid",
            Reason::BadSignature => "bad-signature",
            Reason::NotYetValid => "not-yet-valid",
            Reason::Expired => "expired",
            Reason::LifetimeTooLong => "lifetime-too-long",
            Reason::StatusMissing => "status-missing",
            Reason::StatusIndexOutOfRange => "status-index-out-of-range",
            Reason::Revoked => "revoked",
            Reason::NoTrustList => "no-trust-list",
            Reason::NoStatusList => "no-status-list",
            Reason::StatusListStale => "status-list-stale",
        }
    }
}

/// The answer about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check held.
    Valid,
    /// A check failed: the token must not be accepted.
    Invalid(Reason),
    /// The verifier lacks what it needs to decide (lists missing or stale for the tier).
    CannotCheck(Reason),
}

/// Something a verifier should know although the token is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// A light token checked against a status list more than 24 hours old.
    StatusListStale { age_s: i64 },
    /// The verifier's clock is behind the newest list it holds; that list's time was used.
    ClockBehindLists { behind_s: i64 },
}

/// The verdict on one token.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub outcome: Outcome,
    pub warnings: Vec<Warning>,
    /// The claims, when the token could be read.
    pub claims: Option<TokenClaims>,
    /// A short hash of the token's `cti`, the only thing about it fit for a log.
    pub cti_hash: Option<String>,
    /// The time the checks used (never before the newest held list).
    pub checked_at_unix_s: i64,
}

/// What a verifier holds between runs.
#[derive(Debug, Clone)]
pub struct VerifierState {
    root: ed25519_dalek::VerifyingKey,
    trust: Option<TrustList>,
    status: BTreeMap<String, StatusListToken>,
}

impl VerifierState {
    /// A verifier that pins `root` and holds no lists yet.
    pub fn new(root: ed25519_dalek::VerifyingKey) -> VerifierState {
        VerifierState {
            root,
            trust: None,
            status: BTreeMap::new(),
        }
    }

    /// The trust list held.
    pub fn trust_list(&self) -> Option<&TrustList> {
        self.trust.as_ref()
    }

    /// The status lists held, by URI.
    pub fn status_lists(&self) -> impl Iterator<Item = &StatusListToken> {
        self.status.values()
    }

    /// Takes a signed trust list if the pinned root signed it and it is not older than the one
    /// held.
    pub fn accept_trust_list(&mut self, bytes: &[u8]) -> Result<&TrustList, Reason> {
        let list = TrustList::open(bytes, &self.root)?;
        if let Some(held) = &self.trust
            && (list.sequence < held.sequence || list.issued_at_unix_s < held.issued_at_unix_s)
        {
            return Err(Reason::Rollback);
        }
        Ok(self.trust.insert(list))
    }

    /// Takes a signed status list if a status key of the trust list signed it and it is not
    /// older than the one held for its URI.
    pub fn accept_status_list(&mut self, bytes: &[u8]) -> Result<&StatusListToken, Reason> {
        let trust = self.trust.as_ref().ok_or(Reason::NoTrustList)?;
        let (unverified, list) = StatusListToken::open(bytes)?;
        let key = trust.key(unverified.kid).ok_or(Reason::UnknownKid)?;
        let public = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key)
            .map_err(|_| Reason::ListNotSigned)?;
        if key.role != KeyRole::Status || !unverified.signed_by(&public) {
            return Err(Reason::ListNotSigned);
        }
        if let Some(held) = self.status.get(&list.uri)
            && list.issued_at_unix_s < held.issued_at_unix_s
        {
            return Err(Reason::Rollback);
        }
        let uri = list.uri.clone();
        Ok(self.status.entry(uri).insert_entry(list).into_mut())
    }

    /// The earliest time the verifier may believe it is: the newest signed list it holds.
    pub fn clock_floor_unix_s(&self) -> i64 {
        let trust = self.trust.as_ref().map_or(i64::MIN, |t| t.issued_at_unix_s);
        self.status
            .values()
            .map(|s| s.issued_at_unix_s)
            .fold(trust, i64::max)
    }

    /// Checks token text at `now_unix_s` (the verifier's clock).
    pub fn verify(&self, text: &str, now_unix_s: i64) -> Verdict {
        let floor = self.clock_floor_unix_s();
        let now = now_unix_s.max(floor);
        let mut verdict = Verdict {
            outcome: Outcome::Valid,
            warnings: Vec::new(),
            claims: None,
            cti_hash: None,
            checked_at_unix_s: now,
        };
        if floor > now_unix_s {
            verdict.warnings.push(Warning::ClockBehindLists {
                behind_s: floor - now_unix_s,
            });
        }
        let (unverified, claims) = match token::open(text) {
            Ok(opened) => opened,
            Err(reason) => {
                verdict.outcome = Outcome::Invalid(reason);
                return verdict;
            }
        };
        verdict.cti_hash = Some(cti_hash(&claims.cti));
        verdict.outcome = self.check(&unverified, &claims, now, &mut verdict.warnings);
        verdict.claims = Some(claims);
        verdict
    }

    fn check(
        &self,
        unverified: &token::Unverified,
        claims: &TokenClaims,
        now: i64,
        warnings: &mut Vec<Warning>,
    ) -> Outcome {
        use Outcome::{CannotCheck, Invalid, Valid};
        let Some(trust) = &self.trust else {
            return CannotCheck(Reason::NoTrustList);
        };
        let Some(key) = trust.key(unverified.kid) else {
            return Invalid(Reason::UnknownKid);
        };
        let Ok(public) = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key) else {
            return Invalid(Reason::UnknownKid);
        };
        if !unverified.signed_by(&public) {
            return Invalid(Reason::BadSignature);
        }
        let role_for_tier = match claims.identity.tier {
            Tier::Strict => KeyRole::Strict,
            Tier::Light => KeyRole::Light,
        };
        if key.role != role_for_tier {
            return Invalid(Reason::KeyNotForTier);
        }
        if claims.issued_at_unix_s < key.not_before_unix_s - CLOCK_SKEW_S
            || claims.issued_at_unix_s > key.not_after_unix_s + CLOCK_SKEW_S
        {
            return Invalid(Reason::KeyNotValid);
        }
        if claims.expires_unix_s - claims.not_before_unix_s > MAX_LIFETIME_S {
            return Invalid(Reason::LifetimeTooLong);
        }
        if now < claims.not_before_unix_s - CLOCK_SKEW_S {
            return Invalid(Reason::NotYetValid);
        }
        if now > claims.expires_unix_s + CLOCK_SKEW_S {
            return Invalid(Reason::Expired);
        }
        let Some(status) = &claims.status else {
            return Invalid(Reason::StatusMissing);
        };
        let Some(list) = self.status.get(&status.uri) else {
            return CannotCheck(Reason::NoStatusList);
        };
        let age_s = now - list.issued_at_unix_s;
        if age_s > STATUS_LIST_MAX_AGE_S || now > list.expires_unix_s {
            match claims.identity.tier {
                Tier::Strict => return CannotCheck(Reason::StatusListStale),
                Tier::Light => warnings.push(Warning::StatusListStale { age_s }),
            }
        }
        match list.list.is_revoked(status.index) {
            None => Invalid(Reason::StatusIndexOutOfRange),
            Some(true) => Invalid(Reason::Revoked),
            Some(false) => Valid,
        }
    }
}

/// The kid of a token's signature without verifying anything (for `idverify inspect`).
pub fn token_kid(text: &str) -> Result<Kid, Reason> {
    token::open(text).map(|(unverified, _)| unverified.kid)
}
