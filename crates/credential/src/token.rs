//! One daily token: the claims it carries, how they are signed and packed into Base45 text, and
//! how untrusted text is unpacked back into claims with every structural check. Whether a token is
//! *valid* (key, signature, time, status) is [`crate::verify`].

use std::io::Read as _;

use ciborium::Value;
use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable as _, iana};
use ed25519_dalek::Signer as _;

use crate::cbor::{self, CborError, as_i64, int_key, text_key};
use crate::keys::Kid;
use crate::verify::Reason;

/// CWT claim keys (RFC 8392) and the registered and private claims we use.
mod claim {
    pub const ISS: i64 = 1;
    pub const EXP: i64 = 4;
    pub const NBF: i64 = 5;
    pub const IAT: i64 = 6;
    pub const CTI: i64 = 7;
    /// MOSIP identity data (IANA-registered).
    pub const IDENTITY: i64 = 169;
    /// IETF Token Status List reference.
    pub const STATUS: i64 = 65_535;
    /// Private claims (below −65536): tier, age ≥ 18, disclosure profile.
    pub const TIER: i64 = -65_537;
    pub const AGE_OVER_18: i64 = -65_538;
    pub const PROFILE: i64 = -65_539;
}

/// Claim 169 identity map keys.
mod field {
    pub const ID: i64 = 1;
    pub const FULL_NAME: i64 = 4;
    pub const BIRTH: i64 = 8;
    pub const GENDER: i64 = 9;
    pub const LOCATION: i64 = 21;
    pub const FACE: i64 = 62;
    /// Biometric entry keys: data, format (0 = image), sub-format (1 = JPEG).
    pub const BIO_DATA: i64 = 0;
    pub const BIO_FORMAT: i64 = 1;
    pub const BIO_SUB_FORMAT: i64 = 2;
    pub const FORMAT_IMAGE: i64 = 0;
    pub const SUB_FORMAT_JPEG: i64 = 1;
}

/// The assurance tier of an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Enrolled alone at a self-service kiosk.
    Light,
    /// Enrolled at an officer's terminal.
    Strict,
}

impl Tier {
    fn code(self) -> i64 {
        match self {
            Tier::Light => 1,
            Tier::Strict => 2,
        }
    }

    fn from_code(code: i64) -> Option<Tier> {
        match code {
            1 => Some(Tier::Light),
            2 => Some(Tier::Strict),
            _ => None,
        }
    }

    /// The name shown and used on command lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Light => "light",
            Tier::Strict => "strict",
        }
    }
}

/// How much a token discloses; each profile is its own signed token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Handle, tier, age ≥ 18, face thumbnail.
    Basic,
    /// Basic plus name, birth date, sex and region.
    CheckIn,
}

impl Profile {
    /// Both profiles, in the order a batch issues them.
    pub const ALL: [Profile; 2] = [Profile::Basic, Profile::CheckIn];

    fn code(self) -> i64 {
        match self {
            Profile::Basic => 0,
            Profile::CheckIn => 1,
        }
    }

    fn from_code(code: i64) -> Option<Profile> {
        match code {
            0 => Some(Profile::Basic),
            1 => Some(Profile::CheckIn),
            _ => None,
        }
    }

    /// The name used on command lines and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Basic => "basic",
            Profile::CheckIn => "check-in",
        }
    }

    /// Parses [`Profile::as_str`].
    pub fn parse(text: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Sex as Claim 169 codes it (field 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    Male,
    Female,
    Other,
}

impl Sex {
    fn code(self) -> i64 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Other => 3,
        }
    }

    fn from_code(code: i64) -> Option<Sex> {
        match code {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            3 => Some(Sex::Other),
            _ => None,
        }
    }
}

/// What a token says about the person. Which fields are present follows the profile.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdentityClaims {
    /// The daily pseudonymous handle (Claim 169 field 1); never a document number.
    pub handle: String,
    pub tier: Tier,
    pub profile: Profile,
    pub age_over_18: bool,
    /// The enrolled live photo, small (JPEG).
    #[serde(skip)]
    pub face_jpeg: Vec<u8>,
    pub full_name: Option<String>,
    /// `YYYYMMDD`, as Claim 169 writes dates.
    pub birth_yyyymmdd: Option<String>,
    pub sex: Option<Sex>,
    /// Where the person is registered (Claim 169 field 21, location code).
    pub region: Option<String>,
}

impl std::fmt::Debug for IdentityClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityClaims")
            .field("tier", &self.tier)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// Where a token's revocation bit lives (IETF Token Status List reference).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StatusRef {
    /// The status list's URI; its last path segment is the list number.
    pub uri: String,
    /// The bit's index in that list.
    pub index: u32,
}

/// Everything a token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    /// The issuer's URI.
    pub issuer: String,
    pub issued_at_unix_s: i64,
    pub not_before_unix_s: i64,
    pub expires_unix_s: i64,
    /// Random per token.
    pub cti: [u8; 16],
    /// `None` only in tokens an attacker made.
    pub status: Option<StatusRef>,
    pub identity: IdentityClaims,
}

/// A token that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The COSE structure could not be encoded.
    #[error("cannot encode the token: {0}")]
    Encode(String),
}

impl TokenClaims {
    /// The CWT claims map.
    pub fn to_cbor(&self) -> Value {
        let int = |i: i64| Value::Integer(i.into());
        let id = &self.identity;
        let mut identity = vec![(int(field::ID), Value::Text(id.handle.clone()))];
        if let Some(name) = &id.full_name {
            identity.push((int(field::FULL_NAME), Value::Text(name.clone())));
        }
        if let Some(birth) = &id.birth_yyyymmdd {
            identity.push((int(field::BIRTH), Value::Text(birth.clone())));
        }
        if let Some(sex) = id.sex {
            identity.push((int(field::GENDER), int(sex.code())));
        }
        if let Some(region) = &id.region {
            identity.push((int(field::LOCATION), Value::Text(region.clone())));
        }
        if !id.face_jpeg.is_empty() {
            let face = Value::Map(vec![
                (int(field::BIO_DATA), Value::Bytes(id.face_jpeg.clone())),
                (int(field::BIO_FORMAT), int(field::FORMAT_IMAGE)),
                (int(field::BIO_SUB_FORMAT), int(field::SUB_FORMAT_JPEG)),
            ]);
            identity.push((int(field::FACE), Value::Array(vec![face])));
        }
        let mut claims = vec![
            (int(claim::ISS), Value::Text(self.issuer.clone())),
            (int(claim::EXP), int(self.expires_unix_s)),
            (int(claim::NBF), int(self.not_before_unix_s)),
            (int(claim::IAT), int(self.issued_at_unix_s)),
            (int(claim::CTI), Value::Bytes(self.cti.to_vec())),
            (int(claim::IDENTITY), Value::Map(identity)),
        ];
        if let Some(status) = &self.status {
            let reference = Value::Map(vec![
                (Value::Text("idx".into()), int(i64::from(status.index))),
                (Value::Text("uri".into()), Value::Text(status.uri.clone())),
            ]);
            claims.push((
                int(claim::STATUS),
                Value::Map(vec![(Value::Text("status_list".into()), reference)]),
            ));
        }
        claims.push((int(claim::TIER), int(id.tier.code())));
        claims.push((int(claim::AGE_OVER_18), Value::Bool(id.age_over_18)));
        claims.push((int(claim::PROFILE), int(id.profile.code())));
        Value::Map(claims)
    }

    /// Reads a claims map; `None` names what is missing or mistyped.
    pub fn from_cbor(value: &Value) -> Result<TokenClaims, &'static str> {
        let claims = value.as_map().ok_or("the payload is not a claims map")?;
        let int = |key, what| int_key(claims, key).and_then(as_i64).ok_or(what);
        let issuer = int_key(claims, claim::ISS)
            .and_then(Value::as_text)
            .ok_or("iss")?
            .to_owned();
        let cti = int_key(claims, claim::CTI)
            .and_then(Value::as_bytes)
            .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
            .ok_or("cti")?;
        let identity_map = int_key(claims, claim::IDENTITY)
            .and_then(Value::as_map)
            .ok_or("claim 169")?;
        let text = |key| {
            int_key(identity_map, key)
                .and_then(Value::as_text)
                .map(str::to_owned)
        };
        let face_jpeg = int_key(identity_map, field::FACE)
            .and_then(Value::as_array)
            .and_then(|entries| entries.first())
            .and_then(Value::as_map)
            .and_then(|entry| int_key(entry, field::BIO_DATA))
            .and_then(Value::as_bytes)
            .cloned()
            .unwrap_or_default();
        let status = match int_key(claims, claim::STATUS) {
            None => None,
            Some(value) => {
                let reference = value
                    .as_map()
                    .and_then(|m| text_key(m, "status_list"))
                    .and_then(Value::as_map)
                    .ok_or("status")?;
                Some(StatusRef {
                    uri: text_key(reference, "uri")
                        .and_then(Value::as_text)
                        .ok_or("status uri")?
                        .to_owned(),
                    index: text_key(reference, "idx")
                        .and_then(as_i64)
                        .and_then(|i| u32::try_from(i).ok())
                        .ok_or("status idx")?,
                })
            }
        };
        Ok(TokenClaims {
            issuer,
            issued_at_unix_s: int(claim::IAT, "iat")?,
            not_before_unix_s: int(claim::NBF, "nbf")?,
            expires_unix_s: int(claim::EXP, "exp")?,
            cti,
            status,
            identity: IdentityClaims {
                handle: text(field::ID).ok_or("handle")?,
                tier: Tier::from_code(int(claim::TIER, "tier")?).ok_or("tier")?,
                profile: Profile::from_code(int(claim::PROFILE, "profile")?).ok_or("profile")?,
                age_over_18: int_key(claims, claim::AGE_OVER_18)
                    .and_then(Value::as_bool)
                    .ok_or("age over 18")?,
                face_jpeg,
                full_name: text(field::FULL_NAME),
                birth_yyyymmdd: text(field::BIRTH),
                sex: int_key(identity_map, field::GENDER)
                    .and_then(as_i64)
                    .and_then(Sex::from_code),
                region: text(field::LOCATION),
            },
        })
    }
}

/// Signs `payload` as a tagged COSE_Sign1 with EdDSA and the key's kid in the protected header,
/// with an optional `typ` (header 16).
pub fn sign1(
    payload: Vec<u8>,
    key: &ed25519_dalek::SigningKey,
    typ: Option<&str>,
) -> Result<Vec<u8>, IssueError> {
    let kid = Kid::of(&key.verifying_key().to_bytes());
    let mut protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(kid.0.to_vec());
    if let Some(typ) = typ {
        protected = protected.value(16, Value::Text(typ.to_owned()));
    }
    CoseSign1Builder::new()
        .protected(protected.build())
        .payload(payload)
        .create_signature(b"", |to_be_signed| key.sign(to_be_signed).to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|error| IssueError::Encode(error.to_string()))
}

/// Makes the Base45 text of a token (what the QR holds).
pub fn issue(claims: &TokenClaims, key: &ed25519_dalek::SigningKey) -> Result<String, IssueError> {
    let cose = sign1(cbor::to_vec(&claims.to_cbor()), key, None)?;
    Ok(base45::encode(zlib(&cose)))
}

/// zlib at the best compression.
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Inflates zlib data, refusing more than `max_bytes` of output.
pub fn inflate(bytes: &[u8], max_bytes: usize) -> Result<Vec<u8>, Reason> {
    let mut output = Vec::new();
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX) + 1;
    flate2::read::ZlibDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut output)
        .map_err(|_| Reason::NotZlib)?;
    if output.len() > max_bytes {
        return Err(Reason::InflatedTooLarge);
    }
    Ok(output)
}

/// A COSE_Sign1 whose structure is sound and whose signature is not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub kid: Kid,
    sign1: CoseSign1,
    /// The payload, parsed.
    pub payload: Value,
}

impl Unverified {
    /// Whether the signature verifies with `key`.
    pub fn signed_by(&self, key: &ed25519_dalek::VerifyingKey) -> bool {
        self.sign1
            .verify_signature(b"", |signature, to_be_signed| {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| ())?;
                key.verify_strict(to_be_signed, &signature).map_err(|_| ())
            })
            .is_ok()
    }

    /// The protected `typ` header (16), if any.
    pub fn typ(&self) -> Option<&str> {
        self.sign1
            .protected
            .header
            .rest
            .iter()
            .find(|(label, _)| *label == coset::Label::Int(16))
            .and_then(|(_, value)| value.as_text())
    }
}

/// Reads a tagged COSE_Sign1 strictly: tag 18 only (COSE_Mac0 and every other tag refused),
/// `alg` EdDSA and only in the protected header, an 8-byte kid, a CBOR payload.
pub fn open_sign1(bytes: &[u8]) -> Result<Unverified, Reason> {
    let value = cbor::parse_strict(bytes).map_err(Reason::from)?;
    let inner = match value {
        Value::Tag(18, inner) => *inner,
        Value::Tag(17, _) => return Err(Reason::NotSign1("COSE_Mac0")),
        Value::Tag(_, _) => return Err(Reason::NotSign1("an unknown tag")),
        _ => return Err(Reason::NotSign1("an untagged item")),
    };
    let sign1 = <CoseSign1 as coset::AsCborValue>::from_cbor_value(inner)
        .map_err(|_| Reason::NotSign1("a malformed COSE_Sign1"))?;
    if sign1.unprotected.alg.is_some() {
        return Err(Reason::AlgUnprotected);
    }
    if sign1.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA,
        ))
    {
        return Err(Reason::AlgNotEdDsa);
    }
    let kid = Kid::from_slice(&sign1.protected.header.key_id).ok_or(Reason::MissingKid)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(Reason::NotSign1("a detached payload"))?;
    let payload = cbor::parse_strict(payload).map_err(Reason::from)?;
    Ok(Unverified {
        kid,
        sign1,
        payload,
    })
}

/// Unpacks token text: Base45, zlib (≤ [`crate::MAX_INFLATED_BYTES`]), COSE_Sign1, claims.
pub fn open(text: &str) -> Result<(Unverified, TokenClaims), Reason> {
    let text = text.trim();
    if text.len() > crate::MAX_TEXT_CHARS {
        return Err(Reason::TooLong);
    }
    let compressed = base45::decode(text).map_err(|_| Reason::NotBase45)?;
    let cose = inflate(&compressed, crate::MAX_INFLATED_BYTES)?;
    let unverified = open_sign1(&cose)?;
    let claims = TokenClaims::from_cbor(&unverified.payload).map_err(Reason::NotAToken)?;
    Ok((unverified, claims))
}

impl From<CborError> for Reason {
    fn from(error: CborError) -> Reason {
        match error {
            CborError::Malformed => Reason::CborMalformed,
            CborError::TrailingBytes(_) => Reason::TrailingBytes,
            CborError::TooDeep | CborError::TooManyItems => Reason::CborTooComplex,
            CborError::DuplicateKey => Reason::DuplicateKey,
        }
    }
}
