//! The trust list: which keys may sign tokens of which tier and status lists, and when, signed by
//! the offline root key that verifiers pin. This module builds and reads lists; the root key's file
//! is the registry command's, and accepting a list (rollback, signature) is [`crate::verify`].

use serde::{Deserialize, Serialize};

use crate::keys::{KeyRole, Kid};
use crate::token::{IssueError, Unverified, open_sign1, sign1};
use crate::verify::Reason;

/// The `typ` header of a trust list.
pub const TYP: &str = "application/vnd.enroll-kiosk.trust-list+cbor";

/// One key a verifier may trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    /// Hex of [`Kid::of`] the public key.
    pub kid: String,
    #[serde(with = "serde_bytes32")]
    pub public_key: [u8; 32],
    pub role: KeyRole,
    /// From when, in Unix seconds.
    pub not_before_unix_s: i64,
    /// Until when, in Unix seconds.
    pub not_after_unix_s: i64,
}

/// The list a root signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    /// Grows with every list signed; a verifier never goes back.
    pub sequence: u64,
    pub issued_at_unix_s: i64,
    /// The registry's base URL, where status lists are found.
    pub registry_url: String,
    pub keys: Vec<TrustedKey>,
}

impl TrustList {
    /// Signs the list with the root key (COSE_Sign1 bytes).
    pub fn sign(&self, root: &ed25519_dalek::SigningKey) -> Result<Vec<u8>, IssueError> {
        let mut payload = Vec::new();
        ciborium::into_writer(self, &mut payload)
            .map_err(|error| IssueError::Encode(error.to_string()))?;
        sign1(payload, root, Some(TYP))
    }

    /// Reads and checks a signed list against the pinned root.
    pub fn open(bytes: &[u8], root: &ed25519_dalek::VerifyingKey) -> Result<TrustList, Reason> {
        let unverified: Unverified = open_sign1(bytes)?;
        if unverified.typ() != Some(TYP) {
            return Err(Reason::NotAList("its typ is not a trust list"));
        }
        if unverified.kid != Kid::of(&root.to_bytes()) || !unverified.signed_by(root) {
            return Err(Reason::ListNotSigned);
        }
        unverified
            .payload
            .deserialized::<TrustList>()
            .map_err(|_| Reason::NotAList("its fields do not read as a trust list"))
    }

    /// Reads a list's fields without checking its signature: for its own issuer's checks only
    /// (the registry comparing the installed list with its configuration), never for trust.
    pub fn read_unchecked(bytes: &[u8]) -> Option<TrustList> {
        open_sign1(bytes)
            .ok()?
            .payload
            .deserialized::<TrustList>()
            .ok()
    }

    /// The key with `kid`, if listed.
    pub fn key(&self, kid: Kid) -> Option<&TrustedKey> {
        let kid = kid.to_string();
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// A key entry for `public_key`, valid for `days` from `from_unix_s`.
    pub fn entry(public_key: [u8; 32], role: KeyRole, from_unix_s: i64, days: i64) -> TrustedKey {
        TrustedKey {
            kid: Kid::of(&public_key).to_string(),
            public_key,
            role,
            not_before_unix_s: from_unix_s,
            not_after_unix_s: from_unix_s + days * 86_400,
        }
    }
}

mod serde_bytes32 {
    //! A 32-byte key as a CBOR byte string.
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let bytes = ciborium::Value::deserialize(deserializer)?;
        bytes
            .as_bytes()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| serde::de::Error::custom("a public key is 32 bytes"))
    }
}
