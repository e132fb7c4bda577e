//! Keys and cryptography of enrollment records: the terminal's Ed25519 signing key, the registry's
//! X25519 sealing key and Ed25519 receipt key, their PEM files (PKCS#8 / SubjectPublicKeyInfo,
//! readable by OpenSSL), signing and verifying record bodies, HPKE sealing of the biometric
//! payload (RFC 9180 base mode through the `hpke` crate: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305) and the payload's BLAKE3 digest. Pure: randomness
//! comes in as seeds and key files come in as text; nothing here reads files, the clock or the OS
//! random source.

use std::fmt;

use ed25519_dalek::{Signer as _, Verifier as _};
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use rand_chacha::rand_core::SeedableRng as _;
use sha2::{Digest as _, Sha256};

use enroll_core::domain::document::DocumentKind;
use enroll_core::domain::document::base64_bytes;
use enroll_core::domain::record::{DocumentTag, RecordId, SEAL_INFO, SEAL_SUITE, SealedRef};

/// The one HPKE suite records use (`SEAL_SUITE`).
type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::ChaCha20Poly1305;
/// ChaCha20-Poly1305's tag, which ends every sealed payload.
const TAG_LEN: usize = 16;

const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const PKCS8_X25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_X25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
];

/// A key file or key bytes that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM block with the expected label and base64 body.
    #[error(
        "not a PEM {label} block; expected the file written by `kiosk keygen` or `registry keygen`"
    )]
    NotPem {
        /// The label looked for.
        label: &'static str,
    },
    /// A PEM block of another algorithm or shape.
    #[error("the PEM {label} is not an {algorithm} key; use the file written for that role")]
    WrongAlgorithm {
        /// The label found.
        label: &'static str,
        /// The algorithm expected.
        algorithm: &'static str,
    },
    /// The key bytes are not a valid key.
    #[error("the {algorithm} key bytes are not a valid key")]
    Invalid {
        /// The algorithm expected.
        algorithm: &'static str,
    },
}

/// A signature or seal that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordCryptoError {
    /// The signature does not match the bytes and key.
    #[error("the signature does not match the record bytes and the terminal key")]
    BadSignature,
    /// Sealing failed (the registry key is unusable).
    #[error(
        "cannot seal the biometric payload to the registry key; check registry.sealing_public_key_file"
    )]
    Seal,
    /// Opening failed: wrong key, wrong record id or a changed ciphertext.
    #[error(
        "the sealed payload does not open with this key and record id (changed, or sealed to another key)"
    )]
    Open,
    /// The stored encapsulated key is malformed.
    #[error("the sealed payload's encapsulated key is malformed")]
    BadEnc,
    /// A key held elsewhere (a PKCS#11 token) did not sign.
    #[error("the terminal key did not sign: {0}")]
    Signer(String),
}

/// What signs for the terminal: a key in memory ([`TerminalSigningKey`], read from a file) or one
/// that never leaves a token (`enroll_devices::token`). Signing can fail for the second (a token
/// pulled out), so the outbox commits nothing unsigned.
pub trait RecordSigner: Send + Sync {
    /// The public half.
    fn public_key(&self) -> TerminalPublicKey;
    /// Pure Ed25519 (RFC 8032) over `bytes` exactly as given.
    fn try_sign(&self, bytes: &[u8]) -> Result<[u8; 64], RecordCryptoError>;
    /// A secret only this key can make again (see [`TerminalSigningKey::derive_secret`]).
    fn try_derive_secret(
        &self,
        purpose: &str,
        subject: &str,
    ) -> Result<[u8; 32], RecordCryptoError> {
        Ok(Sha256::digest(self.try_sign(&derived_secret_message(purpose, subject))?).into())
    }
}

/// What a derived secret is the SHA-256 of the signature of.
fn derived_secret_message(purpose: &str, subject: &str) -> Vec<u8> {
    format!("enroll-kiosk derived secret v1\n{purpose}\n{subject}").into_bytes()
}

impl RecordSigner for TerminalSigningKey {
    fn public_key(&self) -> TerminalPublicKey {
        self.public()
    }

    fn try_sign(&self, bytes: &[u8]) -> Result<[u8; 64], RecordCryptoError> {
        Ok(self.sign(bytes))
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64_bytes::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn unpem(text: &str, label: &'static str) -> Result<Vec<u8>, KeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(KeyError::NotPem { label })? + begin.len();
    let stop = text
        .get(start..)
        .and_then(|rest| rest.find(&end))
        .ok_or(KeyError::NotPem { label })?
        + start;
    let body: String = text
        .get(start..stop)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64_bytes::decode(&body).ok_or(KeyError::NotPem { label })
}

fn key_bytes(
    der: &[u8],
    prefix: &[u8],
    label: &'static str,
    algorithm: &'static str,
) -> Result<[u8; 32], KeyError> {
    der.strip_prefix(prefix)
        .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
        .ok_or(KeyError::WrongAlgorithm { label, algorithm })
}

/// The terminal's Ed25519 signing key.
pub struct TerminalSigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for TerminalSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TerminalSigningKey(public {} <secret redacted>)",
            self.public().fingerprint()
        )
    }
}

impl TerminalSigningKey {
    /// A key from 32 random bytes (the caller takes them from the OS).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        TerminalSigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Reads a PKCS#8 `PRIVATE KEY` PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der = unpem(text, "PRIVATE KEY")?;
        let seed = key_bytes(&der, &PKCS8_ED25519_PREFIX, "PRIVATE KEY", "Ed25519")?;
        Ok(Self::from_seed(seed))
    }

    /// The PKCS#8 `PRIVATE KEY` PEM (keep it at mode 0600).
    pub fn to_pem(&self) -> String {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem("PRIVATE KEY", &der)
    }

    /// The public half.
    /// The key itself, for signers outside this crate (the virtual ID's COSE signatures).
    pub fn ed25519(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }

    pub fn public(&self) -> TerminalPublicKey {
        TerminalPublicKey(self.0.verifying_key())
    }

    /// Signs bytes exactly as given.
    pub fn sign(&self, bytes: &[u8]) -> [u8; 64] {
        self.0.sign(bytes).to_bytes()
    }

    /// A secret only this key can make again, for `purpose` and `subject`: SHA-256 of the key's
    /// signature over both. Ed25519 signatures are deterministic (RFC 8032), so a reprint derives
    /// the same secret without storing it, and a key held in a token would derive it too.
    pub fn derive_secret(&self, purpose: &str, subject: &str) -> [u8; 32] {
        Sha256::digest(self.sign(&derived_secret_message(purpose, subject))).into()
    }
}

/// An Ed25519 public key: the terminal's, or the registry's receipt key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TerminalPublicKey(ed25519_dalek::VerifyingKey);

/// The registry's receipt-signing key has the same shape.
pub type ReceiptPublicKey = TerminalPublicKey;
/// The registry's receipt-signing private key has the same shape.
pub type ReceiptSigningKey = TerminalSigningKey;

impl fmt::Debug for TerminalPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.fingerprint())
    }
}

impl TerminalPublicKey {
    /// From the 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(TerminalPublicKey)
            .map_err(|_| KeyError::Invalid {
                algorithm: "Ed25519",
            })
    }

    /// Reads a SubjectPublicKeyInfo `PUBLIC KEY` PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der = unpem(text, "PUBLIC KEY")?;
        Self::from_bytes(&key_bytes(
            &der,
            &SPKI_ED25519_PREFIX,
            "PUBLIC KEY",
            "Ed25519",
        )?)
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_ED25519_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem("PUBLIC KEY", &der)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Hex SHA-256 of the raw key: what records and screens show.
    pub fn fingerprint(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }

    /// Checks an Ed25519 signature (strict: no malleable encodings).
    pub fn verify(&self, bytes: &[u8], signature: &[u8]) -> Result<(), RecordCryptoError> {
        let signature = <[u8; 64]>::try_from(signature)
            .map(|s| ed25519_dalek::Signature::from_bytes(&s))
            .map_err(|_| RecordCryptoError::BadSignature)?;
        self.0
            .verify_strict(bytes, &signature)
            .or_else(|_| self.0.verify(bytes, &signature))
            .map_err(|_| RecordCryptoError::BadSignature)
    }
}

/// The registry's X25519 public key that payloads are sealed to.
#[derive(Clone)]
pub struct SealingPublicKey(x25519_dalek::PublicKey);

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingPublicKey({})", self.fingerprint())
    }
}

impl SealingPublicKey {
    /// Reads an X25519 SubjectPublicKeyInfo `PUBLIC KEY` PEM.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let der = unpem(text, "PUBLIC KEY")?;
        let bytes = key_bytes(&der, &SPKI_X25519_PREFIX, "PUBLIC KEY", "X25519")?;
        Ok(SealingPublicKey(x25519_dalek::PublicKey::from(bytes)))
    }

    /// The `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_X25519_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem("PUBLIC KEY", &der)
    }

    /// Hex SHA-256 of the raw 32-byte key.
    pub fn fingerprint(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

/// The registry's X25519 private key (the registry alone holds it).
pub struct SealingPrivateKey(x25519_dalek::StaticSecret);

impl fmt::Debug for SealingPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingPrivateKey(<redacted>)")
    }
}

impl SealingPrivateKey {
    /// A key pair from 32 random bytes.
    /// (RFC 9180 `DeriveKeyPair`, so the same seed gives the same key everywhere.)
    pub fn from_seed(seed: [u8; 32]) -> (Self, SealingPublicKey) {
        let (private, _) = Kem::derive_keypair(&seed);
        let bytes: [u8; 32] = private.to_bytes().into();
        let private = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&private);
        (SealingPrivateKey(private), SealingPublicKey(public))
    }

    /// Reads an X25519 PKCS#8 `PRIVATE KEY` PEM; returns it with its public half.
    pub fn from_pem(text: &str) -> Result<(Self, SealingPublicKey), KeyError> {
        let der = unpem(text, "PRIVATE KEY")?;
        let bytes = key_bytes(&der, &PKCS8_X25519_PREFIX, "PRIVATE KEY", "X25519")?;
        let private = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&private);
        Ok((SealingPrivateKey(private), SealingPublicKey(public)))
    }

    /// The PKCS#8 `PRIVATE KEY` PEM.
    pub fn to_pem(&self) -> String {
        let mut der = PKCS8_X25519_PREFIX.to_vec();
        der.extend_from_slice(self.0.as_bytes());
        pem("PRIVATE KEY", &der)
    }

    /// Opens a sealed payload of the record `id`.
    pub fn open(
        &self,
        sealed: &SealedRef,
        id: &RecordId,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, RecordCryptoError> {
        let enc = base64_bytes::decode(&sealed.enc)
            .and_then(|bytes| <Kem as hpke::Kem>::EncappedKey::from_bytes(&bytes).ok())
            .ok_or(RecordCryptoError::BadEnc)?;
        let recipient = <Kem as hpke::Kem>::PrivateKey::from_bytes(self.0.as_bytes())
            .map_err(|_| RecordCryptoError::Open)?;
        let mut context = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &hpke::OpModeR::Base,
            &recipient,
            &enc,
            sealed.info.as_bytes(),
        )
        .map_err(|_| RecordCryptoError::Open)?;
        context
            .open(ciphertext, id.to_string().as_bytes())
            .map_err(|_| RecordCryptoError::Open)
    }
}

/// The registry's key for document tags (32 bytes), which every terminal of the fleet holds: with
/// it, a terminal writes a tag instead of the document number. It guards the number against
/// anyone without the key; a thief with a terminal has the key too, and document numbers are few
/// enough to try them all, so the tag hides nothing from that thief (the registry can replace the
/// key; older tags then stop matching).
#[derive(Clone, PartialEq, Eq)]
pub struct DocumentTagKey([u8; 32]);

impl fmt::Debug for DocumentTagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentTagKey({})", self.id())
    }
}

impl DocumentTagKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DocumentTagKey(bytes)
    }

    /// The key from its 64 hex characters (as stored and sent), or `None`.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (out, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *out = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(DocumentTagKey(bytes))
    }

    /// The 64 hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The key's id: the first 16 hex characters of its SHA-256.
    pub fn id(&self) -> String {
        sha256_hex(&self.0).chars().take(16).collect()
    }

    /// The tag of a document: HMAC-SHA256 over `"enroll-kiosk document tag v1"`, a zero byte, the
    /// kind's code (as in record bodies), a zero byte and the number exactly as the card gave it
    /// (`None` only if HMAC refused the key, which it does not).
    pub fn tag(&self, kind: DocumentKind, document_number: &str) -> Option<DocumentTag> {
        use hmac::{KeyInit as _, Mac as _};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(b"enroll-kiosk document tag v1\0");
        mac.update(kind.as_code().as_bytes());
        mac.update(b"\0");
        mac.update(document_number.as_bytes());
        Some(DocumentTag {
            key_id: self.id(),
            hmac_sha256: hex(&mac.finalize().into_bytes()),
        })
    }
}

/// Lowercase hex BLAKE3 of a sealed payload: what version-2 bodies bind the payload with.
pub fn blake3_hex(bytes: &[u8]) -> String {
    hex(blake3::hash(bytes).as_bytes())
}

/// Whether `payload` is the sealed payload `sealed` names: its length, and its digest by the
/// algorithm the body uses (SHA-256 in version 1, BLAKE3 in version 2).
pub fn payload_matches(sealed: &SealedRef, payload: &[u8]) -> bool {
    // The length first: a payload of the wrong length is not hashed at all.
    payload.len() as u64 == sealed.ciphertext_len
        && match (&sealed.ciphertext_sha256, &sealed.ciphertext_blake3) {
            (Some(sha256), None) => sha256_hex(payload) == *sha256,
            (None, Some(blake3)) => blake3_hex(payload) == *blake3,
            _ => false,
        }
}

/// A seal set up before its payload exists: the HPKE encapsulation to the registry key (an
/// ephemeral X25519 key, the key agreement and the key schedule, about 0.06 ms), which does not
/// depend on the payload. The kiosk prepares one while the applicant reviews the check, so
/// committing an enrollment runs only the AEAD and the digest. Single use: sealing consumes it,
/// so a key and nonce never seal two payloads.
pub struct PreparedSeal {
    enc: [u8; 32],
    context: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
    registry_key_sha256: String,
}

impl fmt::Debug for PreparedSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedSeal(<key redacted>)")
    }
}

impl PreparedSeal {
    /// Encapsulates to `registry`; `seed` (32 random bytes from the OS) drives the ephemeral key.
    pub fn new(registry: &SealingPublicKey, seed: [u8; 32]) -> Result<Self, RecordCryptoError> {
        // The ephemeral key's ikm is the first 32 bytes of a ChaCha20 stream from the seed (the
        // hpke crate draws it from the RNG it is given), as in every record sealed so far.
        let recipient = <Kem as hpke::Kem>::PublicKey::from_bytes(registry.0.as_bytes())
            .map_err(|_| RecordCryptoError::Seal)?;
        let (enc, context) = hpke::setup_sender::<Aead, Kdf, Kem, _>(
            &hpke::OpModeS::Base,
            &recipient,
            SEAL_INFO.as_bytes(),
            &mut rand_chacha::ChaCha20Rng::from_seed(seed),
        )
        .map_err(|_| RecordCryptoError::Seal)?;
        Ok(PreparedSeal {
            enc: enc.to_bytes().into(),
            context,
            registry_key_sha256: registry.fingerprint(),
        })
    }

    /// Seals `plaintext` for the record `id` (bound as associated data), in place: the buffer
    /// becomes ciphertext || tag (the seal makes no copy of the plaintext). Returns the reference
    /// for the record body, with the ciphertext's BLAKE3 digest, and the ciphertext.
    pub fn seal(
        self,
        id: &RecordId,
        plaintext: Vec<u8>,
    ) -> Result<(SealedRef, Vec<u8>), RecordCryptoError> {
        let PreparedSeal {
            enc,
            mut context,
            registry_key_sha256,
        } = self;
        let mut buffer = plaintext;
        buffer.reserve_exact(TAG_LEN);
        let tag = context
            .seal_in_place_detached(&mut buffer, id.to_string().as_bytes())
            .map_err(|_| RecordCryptoError::Seal)?;
        buffer.extend_from_slice(&tag.to_bytes());
        let sealed = SealedRef {
            suite: SEAL_SUITE.to_owned(),
            info: SEAL_INFO.to_owned(),
            enc: base64_bytes::encode(&enc),
            registry_key_sha256,
            ciphertext_sha256: None,
            ciphertext_blake3: Some(blake3_hex(&buffer)),
            ciphertext_len: buffer.len() as u64,
        };
        Ok((sealed, buffer))
    }
}

/// Seals `plaintext` for the record `id` to the registry key in one step ([`PreparedSeal::new`]
/// then [`PreparedSeal::seal`]). `seed` (32 random bytes from the OS) drives the ephemeral key.
pub fn seal(
    registry: &SealingPublicKey,
    id: &RecordId,
    plaintext: &[u8],
    seed: [u8; 32],
) -> Result<(SealedRef, Vec<u8>), RecordCryptoError> {
    PreparedSeal::new(registry, seed)?.seal(id, plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::domain::time::UnixMs;

    #[test]
    fn a_document_tag_matches_only_the_same_number_under_the_same_key() {
        let key = DocumentTagKey::from_bytes([5; 32]);
        let tag = key
            .tag(DocumentKind::CnResident, "11010519491231002X")
            .unwrap();
        assert_eq!(tag.key_id, key.id());
        assert_eq!(tag.hmac_sha256.len(), 64);
        assert!(!tag.hmac_sha256.contains("1101051949"));
        assert_eq!(
            key.tag(DocumentKind::CnResident, "11010519491231002X"),
            Some(tag.clone())
        );
        assert_ne!(
            key.tag(DocumentKind::CnResident, "11010519491231003X"),
            Some(tag.clone())
        );
        assert_ne!(
            key.tag(DocumentKind::IcaoTd3, "11010519491231002X"),
            Some(tag.clone())
        );
        let other = DocumentTagKey::from_bytes([6; 32]);
        assert_ne!(
            other.tag(DocumentKind::CnResident, "11010519491231002X"),
            Some(tag)
        );
        assert_eq!(DocumentTagKey::from_hex(&key.to_hex()), Some(key));
        assert_eq!(DocumentTagKey::from_hex("zz"), None);
    }

    fn id() -> RecordId {
        RecordId::v7(UnixMs(1_790_000_000_000), [7; 10])
    }

    #[test]
    fn a_derived_secret_is_the_same_each_time_and_differs_per_key_and_subject() {
        let key = TerminalSigningKey::from_seed([1; 32]);
        let first = key.derive_secret("activation code", "record-a");
        assert_eq!(first, key.derive_secret("activation code", "record-a"));
        assert_ne!(first, key.derive_secret("activation code", "record-b"));
        assert_ne!(first, key.derive_secret("other purpose", "record-a"));
        let other = TerminalSigningKey::from_seed([2; 32]);
        assert_ne!(first, other.derive_secret("activation code", "record-a"));
    }

    #[test]
    fn a_signature_verifies_and_any_flipped_bit_fails() {
        let key = TerminalSigningKey::from_seed([1; 32]);
        let bytes = b"{\"format\":\"enroll-kiosk/record\"}".to_vec();
        let signature = key.sign(&bytes);
        assert_eq!(key.public().verify(&bytes, &signature), Ok(()));
        for bit in 0..bytes.len() * 8 {
            let mut changed = bytes.clone();
            changed[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                key.public().verify(&changed, &signature),
                Err(RecordCryptoError::BadSignature)
            );
        }
        let other = TerminalSigningKey::from_seed([2; 32]);
        assert!(other.public().verify(&bytes, &signature).is_err());
    }

    #[test]
    fn keys_round_trip_through_pem_and_openssl_shaped_der() {
        let key = TerminalSigningKey::from_seed([3; 32]);
        let pem_text = key.to_pem();
        assert!(pem_text.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
        let again = TerminalSigningKey::from_pem(&pem_text).unwrap();
        assert_eq!(again.public(), key.public());
        let public = TerminalPublicKey::from_pem(&key.public().to_pem()).unwrap();
        assert_eq!(public, key.public());

        let (private, public) = SealingPrivateKey::from_seed([4; 32]);
        let (again, again_public) = SealingPrivateKey::from_pem(&private.to_pem()).unwrap();
        assert_eq!(again_public.fingerprint(), public.fingerprint());
        assert_eq!(again.to_pem(), private.to_pem());
        assert_eq!(
            SealingPublicKey::from_pem(&public.to_pem())
                .unwrap()
                .fingerprint(),
            public.fingerprint()
        );
    }

    #[test]
    fn a_key_of_the_wrong_algorithm_is_refused_by_name() {
        let (_, x25519) = SealingPrivateKey::from_seed([5; 32]);
        assert_eq!(
            TerminalPublicKey::from_pem(&x25519.to_pem()),
            Err(KeyError::WrongAlgorithm {
                label: "PUBLIC KEY",
                algorithm: "Ed25519"
            })
        );
        assert_eq!(
            TerminalSigningKey::from_pem("hello").err(),
            Some(KeyError::NotPem {
                label: "PRIVATE KEY"
            })
        );
    }

    #[test]
    fn a_sealed_payload_opens_only_with_the_registry_key_and_its_record_id() {
        let (private, public) = SealingPrivateKey::from_seed([6; 32]);
        let (sealed, ciphertext) = seal(&public, &id(), b"portrait bytes", [9; 32]).unwrap();
        assert_eq!(sealed.ciphertext_blake3, Some(blake3_hex(&ciphertext)));
        assert_eq!(sealed.ciphertext_sha256, None);
        assert!(payload_matches(&sealed, &ciphertext));
        assert_eq!(
            private.open(&sealed, &id(), &ciphertext).unwrap(),
            b"portrait bytes"
        );
        let other_id = RecordId::v7(UnixMs(1_790_000_000_001), [7; 10]);
        assert_eq!(
            private.open(&sealed, &other_id, &ciphertext),
            Err(RecordCryptoError::Open)
        );
        let mut changed = ciphertext.clone();
        changed[0] ^= 1;
        assert_eq!(
            private.open(&sealed, &id(), &changed),
            Err(RecordCryptoError::Open)
        );
        let (stranger, _) = SealingPrivateKey::from_seed([8; 32]);
        assert!(stranger.open(&sealed, &id(), &ciphertext).is_err());
        assert!(!String::from_utf8_lossy(&ciphertext).contains("portrait"));
    }

    #[test]
    fn a_payload_of_many_aead_pieces_is_bound_by_the_digest_of_all_its_ciphertext() {
        // 300 KB, as a portrait and a chip photo make: the digest is taken piece by piece while
        // sealing and must equal the digest of the whole stored ciphertext.
        let plaintext: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 253) as u8).collect();
        let (private, public) = SealingPrivateKey::from_seed([6; 32]);
        let (sealed, ciphertext) = PreparedSeal::new(&public, [9; 32])
            .unwrap()
            .seal(&id(), plaintext.clone())
            .unwrap();
        assert_eq!(sealed.ciphertext_blake3, Some(blake3_hex(&ciphertext)));
        assert_eq!(sealed.ciphertext_len, ciphertext.len() as u64);
        assert_eq!(
            private.open(&sealed, &id(), &ciphertext).unwrap(),
            plaintext
        );
    }

    /// A payload sealed by the implementation before the `hpke` crate (our own RFC 9180 code over
    /// OpenSSL, until December 2026), from fixed seeds: the crate seals the same bytes and opens
    /// them, so every record already in an outbox or a registry still opens.
    #[test]
    fn payloads_sealed_before_the_hpke_crate_still_open_and_seal_identically() {
        const PLAINTEXT: &[u8] = b"enroll-kiosk sealed payload, format v1 and v2";
        const ENC: &str = "Di5rcaAjwdZ8nfMvBFn/bpPRgF0glRco0+XNVA6slFo=";
        const CIPHERTEXT_HEX: &str = "4effa153d311d134382fedf4695ea4b551dc3e4fc721064878ea74adca5674df967052306787bdf39f34641fee02392976043852a90babd4424ee23319";
        let (private, public) = SealingPrivateKey::from_seed([3; 32]);
        let id = RecordId::v7(UnixMs(1_790_000_000_000), [7; 10]);
        let (sealed, ciphertext) = seal(&public, &id, PLAINTEXT, [9; 32]).unwrap();
        assert_eq!(sealed.enc, ENC);
        assert_eq!(hex(&ciphertext), CIPHERTEXT_HEX);
        assert_eq!(private.open(&sealed, &id, &ciphertext).unwrap(), PLAINTEXT);
        let other = RecordId::v7(UnixMs(1_790_000_000_000), [8; 10]);
        assert_eq!(
            private.open(&sealed, &other, &ciphertext),
            Err(RecordCryptoError::Open),
            "the record id is bound as associated data"
        );
    }
}
