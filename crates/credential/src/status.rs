//! Revocation: the IETF Token Status List (draft-ietf-oauth-status-list), one bit per token
//! (1 = revoked), zlib-compressed inside a CWT signed by the registry's status key. This module
//! builds and reads lists; which tokens are revoked is the registry's storage, and whether a list
//! is trusted or fresh is [`crate::verify`].

use ciborium::Value;

use crate::cbor::{as_i64, int_key, text_key};
use crate::token::{IssueError, Unverified, inflate, open_sign1, sign1, zlib};
use crate::verify::Reason;

/// The `typ` header of a status list token.
pub const TYP: &str = "application/statuslist+cwt";
/// Bits in one list: 2^17 (16 KiB before compression). Tokens take random indexes in the list
/// being filled, so a list's neighbours say nothing about who was enrolled together.
pub const LIST_BITS: u32 = 1 << 17;
/// A list is filled to half its bits before the next one is used, so random indexes are found
/// in a few tries.
pub const FILL_BITS: u32 = LIST_BITS / 2;
/// How often the registry re-signs a list at the latest, in seconds (the issue: hourly).
pub const REPUBLISH_S: i64 = 3_600;
/// How long a signed list is valid (`exp − iat`), in seconds.
pub const VALID_S: i64 = 25 * 3_600;

mod claim {
    pub const SUB: i64 = 2;
    pub const EXP: i64 = 4;
    pub const IAT: i64 = 6;
    pub const STATUS_LIST: i64 = 65_533;
    pub const TTL: i64 = 65_534;
}

/// A list of status bits.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusList({} bits)", self.bytes.len() * 8)
    }
}

impl StatusList {
    /// A list of [`LIST_BITS`] bits, all valid.
    pub fn new() -> StatusList {
        StatusList {
            bytes: vec![0; (LIST_BITS / 8) as usize],
        }
    }

    /// Marks the token at `index` revoked; indexes beyond the list are ignored.
    pub fn revoke(&mut self, index: u32) {
        if let Some(byte) = self.bytes.get_mut((index / 8) as usize) {
            *byte |= 1 << (index % 8);
        }
    }

    /// Whether the token at `index` is revoked; `None` beyond the list.
    pub fn is_revoked(&self, index: u32) -> Option<bool> {
        self.bytes
            .get((index / 8) as usize)
            .map(|byte| byte & (1 << (index % 8)) != 0)
    }

    /// How many bits the list holds.
    pub fn len_bits(&self) -> usize {
        self.bytes.len() * 8
    }
}

impl Default for StatusList {
    fn default() -> Self {
        StatusList::new()
    }
}

/// The URI of list `number` under a registry's base URL.
pub fn list_uri(base_url: &str, number: u32) -> String {
    format!(
        "{}/v1/status-lists/{number}",
        base_url.trim_end_matches('/')
    )
}

/// The list number a status URI names (its last path segment).
pub fn list_number(uri: &str) -> Option<u32> {
    uri.rsplit('/').next().and_then(|n| n.parse().ok())
}

/// A signed status list, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusListToken {
    /// The list's URI (`sub`), as tokens reference it.
    pub uri: String,
    pub issued_at_unix_s: i64,
    pub expires_unix_s: i64,
    /// How long a verifier may cache it, in seconds.
    pub ttl_s: i64,
    pub list: StatusList,
}

impl StatusListToken {
    /// Signs the list with the status key (COSE_Sign1 bytes, served as `application/statuslist+cwt`).
    pub fn sign(&self, key: &ed25519_dalek::SigningKey) -> Result<Vec<u8>, IssueError> {
        let int = |i: i64| Value::Integer(i.into());
        let payload = Value::Map(vec![
            (int(claim::SUB), Value::Text(self.uri.clone())),
            (int(claim::EXP), int(self.expires_unix_s)),
            (int(claim::IAT), int(self.issued_at_unix_s)),
            (
                int(claim::STATUS_LIST),
                Value::Map(vec![
                    (Value::Text("bits".into()), int(1)),
                    (
                        Value::Text("lst".into()),
                        Value::Bytes(zlib(&self.list.bytes)),
                    ),
                ]),
            ),
            (int(claim::TTL), int(self.ttl_s)),
        ]);
        sign1(crate::cbor::to_vec(&payload), key, Some(TYP))
    }

    /// Reads a published list without checking its signature (the caller checks it against the
    /// status key of the trust list: [`crate::verify::VerifierState::accept_status_list`]).
    pub fn open(bytes: &[u8]) -> Result<(Unverified, StatusListToken), Reason> {
        let unverified = open_sign1(bytes)?;
        if unverified.typ() != Some(TYP) {
            return Err(Reason::NotAList("its typ is not a status list"));
        }
        let map = unverified
            .payload
            .as_map()
            .ok_or(Reason::NotAList("not a claims map"))?;
        let int = |key, what| {
            int_key(map, key)
                .and_then(as_i64)
                .ok_or(Reason::NotAList(what))
        };
        let list = int_key(map, claim::STATUS_LIST)
            .and_then(Value::as_map)
            .ok_or(Reason::NotAList("status_list"))?;
        if text_key(list, "bits").and_then(as_i64) != Some(1) {
            return Err(Reason::NotAList("bits is not 1"));
        }
        let compressed = text_key(list, "lst")
            .and_then(Value::as_bytes)
            .ok_or(Reason::NotAList("lst"))?;
        let bytes = inflate(compressed, (LIST_BITS / 8) as usize)?;
        let token = StatusListToken {
            uri: int_key(map, claim::SUB)
                .and_then(Value::as_text)
                .ok_or(Reason::NotAList("sub"))?
                .to_owned(),
            issued_at_unix_s: int(claim::IAT, "iat")?,
            expires_unix_s: int(claim::EXP, "exp")?,
            ttl_s: int(claim::TTL, "ttl").unwrap_or(REPUBLISH_S),
            list: StatusList { bytes },
        };
        Ok((unverified, token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_bit_reads_back_and_its_neighbours_stay_valid() {
        let mut list = StatusList::new();
        list.revoke(9);
        assert_eq!(list.is_revoked(9), Some(true));
        assert_eq!(list.is_revoked(8), Some(false));
        assert_eq!(list.is_revoked(10), Some(false));
        assert_eq!(list.is_revoked(LIST_BITS), None);
    }

    #[test]
    fn bits_are_numbered_from_the_least_significant_bit_as_the_draft_says() {
        let mut list = StatusList::new();
        list.revoke(0);
        list.revoke(9);
        assert_eq!(list.bytes.get(..2), Some(&[0x01, 0x02][..]));
    }

    #[test]
    fn the_list_number_is_the_uris_last_segment() {
        let uri = list_uri("http://127.0.0.1:8443/", 3);
        assert_eq!(uri, "http://127.0.0.1:8443/v1/status-lists/3");
        assert_eq!(list_number(&uri), Some(3));
    }
}
