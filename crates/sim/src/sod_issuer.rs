//! A throw-away ICAO PKI for tests and the virtual passport: a CSCA and a document signer on
//! ECDSA P-256, generated fresh in memory, and EF.SOD signing. Keys never leave the process and
//! none is ever written to disk; it is not meant to issue real documents.

use std::fmt;

use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};

use enroll_core::domain::icao_lds::{
    HashAlgorithm, LdsSecurityObject, OID_LDS_SECURITY_OBJECT, OID_SIGNED_DATA, Tag, encode_tlv,
};
use enroll_crypto::der::{
    self, CONTEXT_0, DerError, INTEGER, OCTET_STRING, SEQUENCE, SET, algorithm, constructed, oid,
};

/// Errors issuing certificates or signing EF.SOD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The operating system's random source failed.
    #[error("the random source failed; key generation is impossible")]
    Random,
    /// A DER structure could not be built.
    #[error("could not build a der structure: {0}")]
    Der(#[from] DerError),
    /// The LDS security object could not be encoded.
    #[error("could not encode the lds security object")]
    Lds,
}

/// A key pair and its certificate.
#[derive(Clone)]
pub struct IssuedKey {
    signing_key: SignerKey,
    /// The DER certificate.
    pub certificate_der: Vec<u8>,
    /// The DER subject name.
    pub subject_der: Vec<u8>,
    /// The certificate serial number (magnitude bytes).
    pub serial: Vec<u8>,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("certificate_len", &self.certificate_der.len())
            .finish_non_exhaustive()
    }
}

/// Validity and naming of a test certificate.
#[derive(Debug, Clone)]
pub struct CertificateSpec {
    /// Two-letter country code.
    pub country: String,
    /// Common name.
    pub common_name: String,
    /// Not before, Unix seconds.
    pub not_before_unix_s: i64,
    /// Not after, Unix seconds.
    pub not_after_unix_s: i64,
}

/// The test PKI's key type; signatures always hash with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on NIST P-256 (prime256v1).
    P256,
    /// ECDSA on brainpoolP256r1, common for European document signers.
    BrainpoolP256r1,
    /// RSA 2048 with PKCS #1 v1.5 signatures.
    Rsa2048Pkcs1,
    /// RSA 2048 with RSASSA-PSS signatures (MGF1-SHA-256, 32-byte salt).
    Rsa2048Pss,
}

/// PSS parameters: SHA-256, MGF1 with SHA-256, salt 32 bytes, trailer 1.
fn pss_parameters() -> Result<Vec<u8>, DerError> {
    let sha256 = algorithm(der::OID_SHA256)?;
    let mgf1 = constructed(SEQUENCE, &[&oid(der::OID_MGF1)?, &sha256])?;
    constructed(
        SEQUENCE,
        &[
            &constructed(CONTEXT_0, &[&sha256])?,
            &constructed(der::CONTEXT_1, &[&mgf1])?,
            &constructed(der::CONTEXT_2, &[&der::unsigned_integer(&[32])?])?,
        ],
    )
}

/// A private signing key.
#[derive(Clone)]
enum SignerKey {
    P256(p256::ecdsa::SigningKey),
    BrainpoolP256r1(ecdsa::SigningKey<bp256::BrainpoolP256r1>),
    Rsa {
        key: Box<rsa::RsaPrivateKey>,
        pss: bool,
    },
}

impl SignerKey {
    fn random(curve: KeyKind) -> Result<Self, IssueError> {
        if let KeyKind::Rsa2048Pkcs1 | KeyKind::Rsa2048Pss = curve {
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|_| IssueError::Random)?;
            return Ok(Self::Rsa {
                key: Box::new(key),
                pss: curve == KeyKind::Rsa2048Pss,
            });
        }
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|_| IssueError::Random)?;
            let key = match curve {
                KeyKind::P256 => p256::ecdsa::SigningKey::from_slice(&bytes)
                    .ok()
                    .map(Self::P256),
                KeyKind::BrainpoolP256r1 => {
                    ecdsa::SigningKey::<bp256::BrainpoolP256r1>::from_slice(&bytes)
                        .ok()
                        .map(Self::BrainpoolP256r1)
                }
                KeyKind::Rsa2048Pkcs1 | KeyKind::Rsa2048Pss => None,
            };
            if let Some(key) = key {
                return Ok(key);
            }
        }
        Err(IssueError::Random)
    }

    /// The DER `SubjectPublicKeyInfo`.
    fn public_key_info(&self) -> Result<Vec<u8>, DerError> {
        let ec = |curve: &str, point: Vec<u8>| -> Result<Vec<u8>, DerError> {
            let mut bits = vec![0u8];
            bits.extend(point);
            constructed(
                SEQUENCE,
                &[
                    &constructed(SEQUENCE, &[&oid(der::OID_EC_PUBLIC_KEY)?, &oid(curve)?])?,
                    &encode_tlv(der::BIT_STRING, &bits)?,
                ],
            )
        };
        match self {
            Self::P256(key) => ec(
                der::OID_P256,
                key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            ),
            Self::BrainpoolP256r1(key) => ec(
                der::OID_BRAINPOOL_P256R1,
                key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
            ),
            Self::Rsa { key, .. } => {
                use rsa::traits::PublicKeyParts;
                let public = constructed(
                    SEQUENCE,
                    &[
                        &der::unsigned_integer(&key.n().to_bytes_be())?,
                        &der::unsigned_integer(&key.e().to_bytes_be())?,
                    ],
                )?;
                let mut bits = vec![0u8];
                bits.extend(public);
                constructed(
                    SEQUENCE,
                    &[
                        &constructed(
                            SEQUENCE,
                            &[&oid(der::OID_RSA_ENCRYPTION)?, &encode_tlv(Tag(0x05), &[])?],
                        )?,
                        &encode_tlv(der::BIT_STRING, &bits)?,
                    ],
                )
            }
        }
    }

    /// The DER `AlgorithmIdentifier` of this key's signatures.
    fn signature_algorithm(&self) -> Result<Vec<u8>, DerError> {
        match self {
            Self::P256(_) | Self::BrainpoolP256r1(_) => algorithm(der::OID_ECDSA_SHA256),
            Self::Rsa { pss: false, .. } => constructed(
                SEQUENCE,
                &[
                    &oid(der::OID_SHA256_WITH_RSA)?,
                    &encode_tlv(Tag(0x05), &[])?,
                ],
            ),
            Self::Rsa { pss: true, .. } => {
                constructed(SEQUENCE, &[&oid(der::OID_RSASSA_PSS)?, &pss_parameters()?])
            }
        }
    }

    /// A SHA-256 signature: ECDSA DER-encoded, or RSA (PKCS #1 v1.5 or PSS).
    fn sign_der(&self, message: &[u8]) -> Result<Vec<u8>, IssueError> {
        Ok(match self {
            Self::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Self::BrainpoolP256r1(key) => {
                let signature: bp256::r1::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Self::Rsa { key, pss } => {
                let hash = Sha256::digest(message);
                let signed = if *pss {
                    key.sign_with_rng(
                        &mut rsa::rand_core::OsRng,
                        rsa::Pss::new_with_salt::<rsa::sha2::Sha256>(32),
                        &hash,
                    )
                } else {
                    key.sign(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &hash)
                };
                signed.map_err(|_| IssueError::Random)?
            }
        })
    }
}

fn random_serial() -> Result<Vec<u8>, IssueError> {
    let mut serial = [0u8; 8];
    getrandom::fill(&mut serial).map_err(|_| IssueError::Random)?;
    serial[0] = (serial[0] & 0x7F) | 0x01;
    Ok(serial.to_vec())
}

fn certificate(
    spec: &CertificateSpec,
    subject_key: &SignerKey,
    issuer: Option<&IssuedKey>,
) -> Result<IssuedKey, IssueError> {
    let serial = random_serial()?;
    let subject_der = der::name(&spec.country, &spec.common_name)?;
    let issuer_der = issuer.map_or_else(|| subject_der.clone(), |i| i.subject_der.clone());
    let spki = subject_key.public_key_info()?;
    let signer_key = issuer.map_or(subject_key, |i| &i.signing_key);
    let version = constructed(CONTEXT_0, &[&der::unsigned_integer(&[2])?])?;
    let validity = constructed(
        SEQUENCE,
        &[
            &der::time(spec.not_before_unix_s)?,
            &der::time(spec.not_after_unix_s)?,
        ],
    )?;
    let tbs = constructed(
        SEQUENCE,
        &[
            &version,
            &der::unsigned_integer(&serial)?,
            &signer_key.signature_algorithm()?,
            &issuer_der,
            &validity,
            &subject_der,
            &spki,
        ],
    )?;
    let mut signature = vec![0u8];
    signature.extend(signer_key.sign_der(&tbs)?);
    let certificate_der = constructed(
        SEQUENCE,
        &[
            &tbs,
            &signer_key.signature_algorithm()?,
            &encode_tlv(der::BIT_STRING, &signature).map_err(DerError::from)?,
        ],
    )?;
    Ok(IssuedKey {
        signing_key: subject_key.clone(),
        certificate_der,
        subject_der,
        serial,
    })
}

/// A country signing CA and one document signer it issued, generated in memory.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CSCA (self-signed).
    pub csca: IssuedKey,
    /// The document signer.
    pub document_signer: IssuedKey,
}

impl TestPki {
    /// Generates a CSCA valid for `csca` and a document signer valid for `document_signer`.
    pub fn generate(
        csca: &CertificateSpec,
        document_signer: &CertificateSpec,
    ) -> Result<Self, IssueError> {
        Self::generate_on(KeyKind::P256, csca, document_signer)
    }

    /// Like [`TestPki::generate`], with keys on `curve`.
    pub fn generate_on(
        curve: KeyKind,
        csca: &CertificateSpec,
        document_signer: &CertificateSpec,
    ) -> Result<Self, IssueError> {
        let csca = certificate(csca, &SignerKey::random(curve)?, None)?;
        let document_signer =
            certificate(document_signer, &SignerKey::random(curve)?, Some(&csca))?;
        Ok(Self {
            csca,
            document_signer,
        })
    }

    /// A "Utopia" test PKI (P-256) valid from `now_unix_s` minus a year for ten years.
    pub fn utopia(now_unix_s: i64) -> Result<Self, IssueError> {
        Self::utopia_on(KeyKind::P256, now_unix_s)
    }

    /// A "Utopia" test PKI with keys on `curve`.
    pub fn utopia_on(curve: KeyKind, now_unix_s: i64) -> Result<Self, IssueError> {
        const YEAR_S: i64 = 365 * 86_400;
        Self::generate_on(
            curve,
            &CertificateSpec {
                country: "UT".into(),
                common_name: "Utopia Test CSCA".into(),
                not_before_unix_s: now_unix_s - YEAR_S,
                not_after_unix_s: now_unix_s + 10 * YEAR_S,
            },
            &CertificateSpec {
                country: "UT".into(),
                common_name: "Utopia Test Document Signer".into(),
                not_before_unix_s: now_unix_s - YEAR_S,
                not_after_unix_s: now_unix_s + 5 * YEAR_S,
            },
        )
    }

    /// Builds and signs EF.SOD (`77` ‖ CMS SignedData over an LDS security object with SHA-256
    /// hashes of `data_groups`, given as (number, file bytes)).
    pub fn sign_sod(&self, data_groups: &[(u8, &[u8])]) -> Result<Vec<u8>, IssueError> {
        let security_object = LdsSecurityObject {
            version: 0,
            hash_algorithm: HashAlgorithm::Sha256,
            data_group_hashes: data_groups
                .iter()
                .map(|(number, bytes)| (*number, Sha256::digest(bytes).to_vec()))
                .collect(),
        };
        let econtent = security_object.encode().map_err(|_| IssueError::Lds)?;
        let tlv = |tag: Tag, value: &[u8]| encode_tlv(tag, value).map_err(DerError::from);
        let attributes = [
            constructed(
                SEQUENCE,
                &[
                    &oid(der::OID_CONTENT_TYPE)?,
                    &constructed(SET, &[&oid(OID_LDS_SECURITY_OBJECT)?])?,
                ],
            )?,
            constructed(
                SEQUENCE,
                &[
                    &oid(der::OID_MESSAGE_DIGEST)?,
                    &constructed(SET, &[&tlv(OCTET_STRING, &Sha256::digest(&econtent))?])?,
                ],
            )?,
        ]
        .concat();
        let signature = self
            .document_signer
            .signing_key
            .sign_der(&tlv(SET, &attributes)?)?;
        let signer_info = constructed(
            SEQUENCE,
            &[
                &tlv(INTEGER, &[1])?,
                &constructed(
                    SEQUENCE,
                    &[
                        &self.csca.subject_der,
                        &der::unsigned_integer(&self.document_signer.serial)?,
                    ],
                )?,
                &algorithm(der::OID_SHA256)?,
                &tlv(CONTEXT_0, &attributes)?,
                &self.document_signer.signing_key.signature_algorithm()?,
                &tlv(OCTET_STRING, &signature)?,
            ],
        )?;
        let signed_data = constructed(
            SEQUENCE,
            &[
                &tlv(INTEGER, &[3])?,
                &constructed(SET, &[&algorithm(der::OID_SHA256)?])?,
                &constructed(
                    SEQUENCE,
                    &[
                        &oid(OID_LDS_SECURITY_OBJECT)?,
                        &constructed(CONTEXT_0, &[&tlv(OCTET_STRING, &econtent)?])?,
                    ],
                )?,
                &tlv(CONTEXT_0, &self.document_signer.certificate_der)?,
                &constructed(SET, &[&signer_info])?,
            ],
        )?;
        let content_info = constructed(
            SEQUENCE,
            &[
                &oid(OID_SIGNED_DATA)?,
                &constructed(CONTEXT_0, &[&signed_data])?,
            ],
        )?;
        Ok(tlv(Tag::EF_SOD, &content_info)?)
    }
}
