//! Small DER helpers for X.509 certificates and CMS signed data: building the few structures the
//! ICAO PKI uses, reading them back, and converting between UTC times and Unix seconds. It knows
//! no keys and verifies nothing; `passive_auth` and `sod_issuer` build on it.

use enroll_core::domain::icao_lds::{Tag, Tlv, TlvError, decode_oid, encode_oid, encode_tlv};
use enroll_core::domain::time::{civil_from_days, days_from_civil};

/// `SEQUENCE`.
pub const SEQUENCE: Tag = Tag(0x30);
/// `SET`.
pub const SET: Tag = Tag(0x31);
/// `INTEGER`.
pub const INTEGER: Tag = Tag(0x02);
/// `BIT STRING`.
pub const BIT_STRING: Tag = Tag(0x03);
/// `OCTET STRING`.
pub const OCTET_STRING: Tag = Tag(0x04);
/// `OBJECT IDENTIFIER`.
pub const OBJECT_IDENTIFIER: Tag = Tag(0x06);
/// `UTF8String`.
pub const UTF8_STRING: Tag = Tag(0x0C);
/// `PrintableString`.
pub const PRINTABLE_STRING: Tag = Tag(0x13);
/// `UTCTime`.
pub const UTC_TIME: Tag = Tag(0x17);
/// `GeneralizedTime`.
pub const GENERALIZED_TIME: Tag = Tag(0x18);
/// Context-specific constructed `[0]`.
pub const CONTEXT_0: Tag = Tag(0xA0);
/// Context-specific constructed `[1]`.
pub const CONTEXT_1: Tag = Tag(0xA1);
/// Context-specific constructed `[2]`.
pub const CONTEXT_2: Tag = Tag(0xA2);

/// id-ecPublicKey.
pub const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// prime256v1 (secp256r1).
pub const OID_P256: &str = "1.2.840.10045.3.1.7";
/// brainpoolP256r1.
pub const OID_BRAINPOOL_P256R1: &str = "1.3.36.3.3.2.8.1.1.7";
/// rsaEncryption (PKCS #1 key; in CMS also "PKCS #1 v1.5 signature with the digest algorithm").
pub const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// sha256WithRSAEncryption (PKCS #1 v1.5).
pub const OID_SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// RSASSA-PSS.
pub const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// MGF1.
pub const OID_MGF1: &str = "1.2.840.113549.1.1.8";
/// ecdsa-with-SHA256.
pub const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
/// SHA-256.
pub const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
/// CMS content-type attribute.
pub const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
/// CMS message-digest attribute.
pub const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
/// X.520 common name.
pub const OID_COMMON_NAME: &str = "2.5.4.3";
/// X.520 country name.
pub const OID_COUNTRY: &str = "2.5.4.6";

/// Errors building or reading DER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The TLV layer failed.
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// An element is missing or of the wrong type.
    #[error("malformed {what}")]
    Malformed {
        /// What was being read.
        what: &'static str,
    },
}

/// Encodes `tag` around the concatenation of `parts`.
pub fn constructed(tag: Tag, parts: &[&[u8]]) -> Result<Vec<u8>, DerError> {
    Ok(encode_tlv(tag, &parts.concat())?)
}

/// Encodes an OBJECT IDENTIFIER from its dotted form.
pub fn oid(dotted: &str) -> Result<Vec<u8>, DerError> {
    let value = encode_oid(dotted).ok_or(DerError::Malformed {
        what: "object identifier",
    })?;
    Ok(encode_tlv(OBJECT_IDENTIFIER, &value)?)
}

/// Encodes a non-negative INTEGER from big-endian magnitude bytes.
pub fn unsigned_integer(magnitude: &[u8]) -> Result<Vec<u8>, DerError> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(&trimmed);
    Ok(encode_tlv(INTEGER, &value)?)
}

/// `AlgorithmIdentifier` with no parameters.
pub fn algorithm(dotted: &str) -> Result<Vec<u8>, DerError> {
    constructed(SEQUENCE, &[&oid(dotted)?])
}

/// A distinguished name `C=<country>, CN=<common name>`.
pub fn name(country: &str, common_name: &str) -> Result<Vec<u8>, DerError> {
    let c = constructed(
        SEQUENCE,
        &[
            &oid(OID_COUNTRY)?,
            &encode_tlv(PRINTABLE_STRING, country.as_bytes())?,
        ],
    )?;
    let cn = constructed(
        SEQUENCE,
        &[
            &oid(OID_COMMON_NAME)?,
            &encode_tlv(UTF8_STRING, common_name.as_bytes())?,
        ],
    )?;
    constructed(
        SEQUENCE,
        &[&constructed(SET, &[&c])?, &constructed(SET, &[&cn])?],
    )
}

/// Renders a distinguished name as `CN=…, C=…` (attributes it does not know are skipped).
pub fn render_name(name_der: &[u8]) -> Result<String, DerError> {
    let (name, _) = Tlv::parse(name_der)?;
    let mut parts = Vec::new();
    for rdn in name.children()? {
        for attribute in rdn.children()? {
            let fields = attribute.children()?;
            let (Some(kind), Some(value)) = (fields.first(), fields.get(1)) else {
                return Err(DerError::Malformed {
                    what: "name attribute",
                });
            };
            let label = match decode_oid(kind.value).as_deref() {
                Some(OID_COMMON_NAME) => "CN",
                Some(OID_COUNTRY) => "C",
                Some("2.5.4.10") => "O",
                Some("2.5.4.11") => "OU",
                Some("2.5.4.5") => "SERIALNUMBER",
                _ => continue,
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value.value)));
        }
    }
    parts.reverse();
    Ok(parts.join(", "))
}

/// The full encoding of an element (re-encoded in DER minimal form).
pub fn encoded(element: &Tlv<'_>) -> Result<Vec<u8>, DerError> {
    Ok(encode_tlv(element.tag, element.value)?)
}

/// The `index`th child of `parent`, which must carry `tag`.
pub fn child<'a>(
    parent: &Tlv<'a>,
    index: usize,
    tag: Tag,
    what: &'static str,
) -> Result<Tlv<'a>, DerError> {
    parent
        .children()?
        .into_iter()
        .nth(index)
        .filter(|c| c.tag == tag)
        .ok_or(DerError::Malformed { what })
}

/// Encodes Unix seconds as UTCTime (years 1950–2049) or GeneralizedTime (other years).
pub fn time(unix_s: i64) -> Result<Vec<u8>, DerError> {
    let days = unix_s.div_euclid(86_400);
    let seconds = unix_s.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let clock = format!(
        "{month:02}{day:02}{:02}{:02}{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if (1950..2050).contains(&year) {
        Ok(encode_tlv(
            UTC_TIME,
            format!("{:02}{clock}", year % 100).as_bytes(),
        )?)
    } else {
        Ok(encode_tlv(
            GENERALIZED_TIME,
            format!("{year:04}{clock}").as_bytes(),
        )?)
    }
}

/// Reads a UTCTime or GeneralizedTime (`Z` form, seconds present) as Unix seconds.
pub fn parse_time(element: &Tlv<'_>) -> Result<i64, DerError> {
    let malformed = DerError::Malformed { what: "time" };
    let text = std::str::from_utf8(element.value).map_err(|_| malformed.clone())?;
    let digits = text.strip_suffix('Z').ok_or(malformed.clone())?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, DerError> {
        digits
            .get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(DerError::Malformed { what: "time" })
    };
    let (year, rest) = match (element.tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (number(0..4)?, 4),
        _ => return Err(malformed),
    };
    let month = u32::try_from(number(rest..rest + 2)?).map_err(|_| malformed.clone())?;
    let day = u32::try_from(number(rest + 2..rest + 4)?).map_err(|_| malformed.clone())?;
    let hour = number(rest + 4..rest + 6)?;
    let minute = number(rest + 6..rest + 8)?;
    let second = number(rest + 8..rest + 10)?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(malformed);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_trip_through_utc_time() {
        for unix_s in [0, 951_782_400, 1_700_000_000, 2_524_608_000, 4_102_444_800] {
            let der = time(unix_s).unwrap();
            let (element, _) = Tlv::parse(&der).unwrap();
            assert_eq!(parse_time(&element).unwrap(), unix_s);
        }
    }

    #[test]
    fn names_render_common_name_first() {
        let der = name("UT", "Utopia Test CSCA").unwrap();
        assert_eq!(render_name(&der).unwrap(), "CN=Utopia Test CSCA, C=UT");
    }
}
