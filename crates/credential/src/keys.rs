//! Key identifiers and the roles a key may play in the trust list; it does not store or load keys
//! (the registry and the verifier read key files).

use sha2::{Digest as _, Sha256};

/// A key id: the first 8 bytes of SHA-256 of the Ed25519 public key (as the EU DCC does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kid(pub [u8; 8]);

impl Kid {
    /// The kid of a public key.
    pub fn of(public_key: &[u8; 32]) -> Kid {
        let digest = Sha256::digest(public_key);
        let mut kid = [0u8; 8];
        kid.copy_from_slice(digest.get(..8).unwrap_or(&[0u8; 8]));
        Kid(kid)
    }

    /// From the bytes of a `kid` header; `None` unless exactly 8 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Kid> {
        <[u8; 8]>::try_from(bytes).ok().map(Kid)
    }
}

impl std::fmt::Display for Kid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// What a key in the trust list may sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyRole {
    /// Tokens of the strict tier (enrollments at officer terminals).
    Strict,
    /// Tokens of the light tier (self-service kiosks).
    Light,
    /// Status lists.
    Status,
}

impl KeyRole {
    /// The name in trust lists and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Strict => "strict",
            KeyRole::Light => "light",
            KeyRole::Status => "status",
        }
    }
}

/// Lower-case hex of bytes (for kids, hashes of `cti` in logs).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (either case); `None` when the text is not whole bytes of hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// A short hash of a token's `cti`, the only trace of a token a verifier logs.
pub fn cti_hash(cti: &[u8]) -> String {
    hex(Sha256::digest(cti).get(..6).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kid_is_the_first_eight_bytes_of_the_public_keys_sha256() {
        // SHA-256 of 32 zero bytes is 66687aadf862bd77…
        assert_eq!(Kid::of(&[0u8; 32]).to_string(), "66687aadf862bd77");
    }
}
