//! ICAO 9303-11 passive authentication, pure: checks the EF.SOD signature (signed attributes and
//! message digest), the document signer certificate against trusted CSCA certificates given as
//! DER bytes, validity at a `now` given as a value, and every data group's hash. It reads no
//! files and no clock; loading the CSCA store is the caller's job.
//!
//! Supported signatures, all with SHA-256: ECDSA on P-256 or brainpoolP256r1 (DER-encoded), RSA
//! PKCS #1 v1.5, RSASSA-PSS (MGF1-SHA-256, any salt length); data group
//! hashes with SHA-1, SHA-224, SHA-256, SHA-384 and SHA-512. Other hashes (SHA-384/512
//! signatures), other curves and the BSI plain ECDSA format are reported as "unsupported
//! signature algorithm", never as passed. CRLs are not checked.

use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::der::{self, BIT_STRING, CONTEXT_0, OCTET_STRING, SEQUENCE, SET};
use enroll_core::domain::card_read::{DataGroupBytes, Verification};
use enroll_core::domain::icao_lds::{HashAlgorithm, Tlv, decode_oid, parse_sod};

/// The result of passive authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveAuthOutcome {
    /// Why it failed, if it did; a fixed text without personal data.
    pub failure: Option<String>,
    /// The subject of the CSCA that issued the document signer, when one did.
    pub csca_subject: Option<String>,
}

impl PassiveAuthOutcome {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// As the card-read verification record.
    pub fn to_verification(&self) -> Verification {
        Verification::PassiveAuthentication {
            passed: self.passed(),
            failure: self.failure.clone(),
            csca_subject: self.csca_subject.clone(),
        }
    }
}

/// An ECDSA public key this module can verify with.
#[derive(Debug, Clone)]
enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    BrainpoolP256r1(ecdsa::VerifyingKey<bp256::BrainpoolP256r1>),
    Rsa(Box<rsa::RsaPublicKey>),
}

/// A signature algorithm as far as verification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SignatureAlgorithm {
    EcdsaSha256,
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256; the salt length in bytes.
    RsaPssSha256 {
        salt_len: usize,
    },
    Unsupported,
}

/// Reads an `AlgorithmIdentifier`; `digest` is the CMS digest algorithm, which decides the hash
/// when the identifier is plain rsaEncryption.
fn signature_algorithm(identifier: &Tlv<'_>, digest: Option<&HashAlgorithm>) -> SignatureAlgorithm {
    let Ok(parts) = identifier.children() else {
        return SignatureAlgorithm::Unsupported;
    };
    let oid = parts.first().and_then(|o| decode_oid(o.value));
    match oid.as_deref() {
        Some(der::OID_ECDSA_SHA256) => SignatureAlgorithm::EcdsaSha256,
        Some(der::OID_SHA256_WITH_RSA) => SignatureAlgorithm::RsaPkcs1Sha256,
        Some(der::OID_RSA_ENCRYPTION) if digest == Some(&HashAlgorithm::Sha256) => {
            SignatureAlgorithm::RsaPkcs1Sha256
        }
        Some(der::OID_RSASSA_PSS) => pss_algorithm(parts.get(1)),
        _ => SignatureAlgorithm::Unsupported,
    }
}

/// RSASSA-PSS parameters: only SHA-256 with MGF1-SHA-256 is accepted (absent fields mean SHA-1).
fn pss_algorithm(parameters: Option<&Tlv<'_>>) -> SignatureAlgorithm {
    let Some(fields) = parameters.and_then(|p| p.children().ok()) else {
        return SignatureAlgorithm::Unsupported;
    };
    let first_oid = |tlv: &Tlv<'_>| -> Option<String> {
        let inner = tlv.children().ok()?.into_iter().next()?;
        let parts = inner.children().ok()?;
        decode_oid(parts.first()?.value)
    };
    let hash = fields
        .iter()
        .find(|f| f.tag == CONTEXT_0)
        .and_then(first_oid);
    let mgf_hash = fields
        .iter()
        .find(|f| f.tag == der::CONTEXT_1)
        .and_then(|f| f.children().ok()?.into_iter().next())
        .and_then(|mgf| mgf.children().ok()?.get(1).copied())
        .and_then(|h| h.children().ok()?.first().and_then(|o| decode_oid(o.value)));
    let salt_len = fields
        .iter()
        .find(|f| f.tag == der::CONTEXT_2)
        .and_then(|f| f.children().ok()?.into_iter().next())
        .filter(|i| i.tag == crate::der::INTEGER && i.value.len() <= 2)
        .map_or(20, |i| {
            i.value
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        });
    if hash.as_deref() == Some(der::OID_SHA256) && mgf_hash.as_deref() == Some(der::OID_SHA256) {
        SignatureAlgorithm::RsaPssSha256 { salt_len }
    } else {
        SignatureAlgorithm::Unsupported
    }
}

/// The parts of an X.509 certificate passive authentication needs.
#[derive(Debug, Clone)]
struct Certificate {
    tbs_der: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    signature: Vec<u8>,
    issuer_der: Vec<u8>,
    subject_der: Vec<u8>,
    not_before_unix_s: i64,
    not_after_unix_s: i64,
    public_key: Option<PublicKey>,
}

/// The validity period (not before, not after) of an X.509 certificate in DER, as Unix seconds;
/// `None` when the bytes are not a certificate.
pub fn certificate_validity(der_bytes: &[u8]) -> Option<(i64, i64)> {
    parse_certificate(der_bytes).map(|c| (c.not_before_unix_s, c.not_after_unix_s))
}

fn parse_certificate(der_bytes: &[u8]) -> Option<Certificate> {
    let (certificate, _) = Tlv::parse(der_bytes).ok()?;
    let tbs = der::child(&certificate, 0, SEQUENCE, "certificate").ok()?;
    let algorithm = der::child(&certificate, 1, SEQUENCE, "certificate").ok()?;
    let signature = der::child(&certificate, 2, BIT_STRING, "certificate").ok()?;
    let fields = tbs.children().ok()?;
    // Skip the optional explicit version [0].
    let offset = usize::from(fields.first()?.tag == CONTEXT_0);
    let field = |index: usize| fields.get(offset + index);
    let issuer = field(2)?;
    let validity = field(3)?.children().ok()?;
    let subject = field(4)?;
    let spki = field(5)?;
    let spki_algorithm = der::child(spki, 0, SEQUENCE, "key").ok()?.children().ok()?;
    let key_bits = der::child(spki, 1, BIT_STRING, "key").ok()?;
    let key_type = spki_algorithm.first().and_then(|o| decode_oid(o.value));
    let curve = spki_algorithm.get(1).and_then(|o| decode_oid(o.value));
    let point = key_bits.value.split_first().map(|(_, point)| point);
    let public_key = match (key_type.as_deref(), curve.as_deref(), point) {
        (Some(der::OID_EC_PUBLIC_KEY), Some(der::OID_P256), Some(point)) => {
            p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .ok()
                .map(PublicKey::P256)
        }
        (Some(der::OID_EC_PUBLIC_KEY), Some(der::OID_BRAINPOOL_P256R1), Some(point)) => {
            ecdsa::VerifyingKey::<bp256::BrainpoolP256r1>::from_sec1_bytes(point)
                .ok()
                .map(PublicKey::BrainpoolP256r1)
        }
        (Some(der::OID_RSA_ENCRYPTION), _, Some(key)) => rsa_public_key(key).map(PublicKey::Rsa),
        _ => None,
    };
    Some(Certificate {
        tbs_der: der::encoded(&tbs).ok()?,
        signature_algorithm: signature_algorithm(&algorithm, None),
        signature: signature.value.split_first()?.1.to_vec(),
        issuer_der: der::encoded(issuer).ok()?,
        subject_der: der::encoded(subject).ok()?,
        not_before_unix_s: der::parse_time(validity.first()?).ok()?,
        not_after_unix_s: der::parse_time(validity.get(1)?).ok()?,
        public_key,
    })
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (at most 4096 bits).
fn rsa_public_key(der_bytes: &[u8]) -> Option<Box<rsa::RsaPublicKey>> {
    let (sequence, _) = Tlv::parse(der_bytes).ok()?;
    let parts = sequence.children().ok()?;
    let n = rsa::BigUint::from_bytes_be(parts.first()?.value);
    let e = rsa::BigUint::from_bytes_be(parts.get(1)?.value);
    rsa::RsaPublicKey::new(n, e).ok().map(Box::new)
}

fn signature_valid(
    key: Option<&PublicKey>,
    algorithm: &SignatureAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> bool {
    match (key, algorithm) {
        (Some(PublicKey::P256(key)), SignatureAlgorithm::EcdsaSha256) => {
            p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }
        (Some(PublicKey::BrainpoolP256r1(key)), SignatureAlgorithm::EcdsaSha256) => {
            ecdsa::Signature::<bp256::BrainpoolP256r1>::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok())
        }
        (Some(PublicKey::Rsa(key)), SignatureAlgorithm::RsaPkcs1Sha256) => key
            .verify(
                rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(),
                &Sha256::digest(message),
                signature,
            )
            .is_ok(),
        (Some(PublicKey::Rsa(key)), SignatureAlgorithm::RsaPssSha256 { salt_len }) => key
            .verify(
                rsa::Pss::new_with_salt::<rsa::sha2::Sha256>(*salt_len),
                &Sha256::digest(message),
                signature,
            )
            .is_ok(),
        _ => false,
    }
}

fn supported(key: Option<&PublicKey>, algorithm: &SignatureAlgorithm) -> bool {
    matches!(
        (key, algorithm),
        (
            Some(PublicKey::P256(_) | PublicKey::BrainpoolP256r1(_)),
            SignatureAlgorithm::EcdsaSha256
        ) | (
            Some(PublicKey::Rsa(_)),
            SignatureAlgorithm::RsaPkcs1Sha256 | SignatureAlgorithm::RsaPssSha256 { .. }
        )
    )
}

fn hash(algorithm: &HashAlgorithm, bytes: &[u8]) -> Option<Vec<u8>> {
    match algorithm {
        HashAlgorithm::Sha1 => Some(sha1::Sha1::digest(bytes).to_vec()),
        HashAlgorithm::Sha224 => Some(Sha224::digest(bytes).to_vec()),
        HashAlgorithm::Sha256 => Some(Sha256::digest(bytes).to_vec()),
        HashAlgorithm::Sha384 => Some(Sha384::digest(bytes).to_vec()),
        HashAlgorithm::Sha512 => Some(Sha512::digest(bytes).to_vec()),
        HashAlgorithm::Other(_) => None,
    }
}

/// The signed attributes (re-tagged as SET, as signed), the message digest attribute, the digest
/// algorithm, the signature algorithm and the signature of the first SignerInfo.
struct SignerInfo {
    digest_algorithm: HashAlgorithm,
    signed_attributes_der: Vec<u8>,
    message_digest: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    signature: Vec<u8>,
}

fn parse_signer_info(signer_infos_der: &[u8]) -> Option<SignerInfo> {
    let (set, _) = Tlv::parse(signer_infos_der).ok()?;
    let info = set.children().ok()?.into_iter().next()?;
    let fields = info.children().ok()?;
    let digest_algorithm = fields.get(2)?.children().ok()?;
    let digest_algorithm = HashAlgorithm::from_oid(&decode_oid(digest_algorithm.first()?.value)?);
    let attributes = fields.get(3).filter(|f| f.tag == CONTEXT_0)?;
    let mut message_digest = None;
    for attribute in attributes.children().ok()? {
        let parts = attribute.children().ok()?;
        if decode_oid(parts.first()?.value).as_deref() == Some(der::OID_MESSAGE_DIGEST) {
            let values = parts.get(1).filter(|p| p.tag == SET)?.children().ok()?;
            let value = values.first().filter(|v| v.tag == OCTET_STRING)?;
            message_digest = Some(value.value.to_vec());
        }
    }
    let signature_algorithm = signature_algorithm(fields.get(4)?, Some(&digest_algorithm));
    let signature = fields.get(5).filter(|f| f.tag == OCTET_STRING)?;
    Some(SignerInfo {
        digest_algorithm,
        signed_attributes_der: enroll_core::domain::icao_lds::encode_tlv(SET, attributes.value)
            .ok()?,
        message_digest: message_digest?,
        signature_algorithm,
        signature: signature.value.to_vec(),
    })
}

fn fail(failure: &str, csca_subject: Option<String>) -> PassiveAuthOutcome {
    PassiveAuthOutcome {
        failure: Some(failure.to_owned()),
        csca_subject,
    }
}

/// Runs passive authentication of `ef_sod` and the `data_groups` read, trusting the CSCA
/// certificates in `csca_store_der`, at `now_unix_s`.
pub fn verify(
    ef_sod: &[u8],
    data_groups: &[DataGroupBytes],
    csca_store_der: &[Vec<u8>],
    now_unix_s: i64,
) -> PassiveAuthOutcome {
    let Ok(sod) = parse_sod(ef_sod) else {
        return fail("EF.SOD is malformed", None);
    };
    let Some(signer) = sod.certificates.first().and_then(|c| parse_certificate(c)) else {
        return fail(
            "EF.SOD carries no readable document signer certificate",
            None,
        );
    };
    let Some(info) = parse_signer_info(&sod.signer_infos) else {
        return fail("EF.SOD signer information is malformed", None);
    };
    if !supported(signer.public_key.as_ref(), &info.signature_algorithm) {
        return fail("unsupported signature algorithm", None);
    }
    if hash(&info.digest_algorithm, &sod.econtent).as_deref()
        != Some(info.message_digest.as_slice())
    {
        return fail("SOD signature invalid", None);
    }
    if !signature_valid(
        signer.public_key.as_ref(),
        &info.signature_algorithm,
        &info.signed_attributes_der,
        &info.signature,
    ) {
        return fail("SOD signature invalid", None);
    }
    let issuer = csca_store_der
        .iter()
        .filter_map(|der_bytes| parse_certificate(der_bytes))
        .find(|csca| {
            csca.subject_der == signer.issuer_der
                && signature_valid(
                    csca.public_key.as_ref(),
                    &signer.signature_algorithm,
                    &signer.tbs_der,
                    &signer.signature,
                )
        });
    let Some(csca) = issuer else {
        return fail("document signer not issued by a trusted CSCA", None);
    };
    let csca_subject = der::render_name(&csca.subject_der).ok();
    let valid_at =
        |c: &Certificate| (c.not_before_unix_s..=c.not_after_unix_s).contains(&now_unix_s);
    if !valid_at(&csca) {
        return fail("CSCA certificate expired or not yet valid", csca_subject);
    }
    if !valid_at(&signer) {
        return fail(
            "document signer certificate expired or not yet valid",
            csca_subject,
        );
    }
    let algorithm = &sod.security_object.hash_algorithm;
    for group in data_groups {
        let Some(expected) = sod.security_object.hash_of(group.number) else {
            return fail(
                &format!("data group {} not listed in EF.SOD", group.number),
                csca_subject,
            );
        };
        match hash(algorithm, &group.bytes) {
            None => return fail("unsupported data group hash algorithm", csca_subject),
            Some(actual) if actual != expected => {
                return fail(
                    &format!("data group {} hash mismatch", group.number),
                    csca_subject,
                );
            }
            Some(_) => {}
        }
    }
    PassiveAuthOutcome {
        failure: None,
        csca_subject,
    }
}
