//! Shared identity-document types: what a card or passport says about its holder, independent of
//! how it was read. Owns the privacy rules for those values (no `Display`, redacting `Debug`) and
//! their JSON shape; does not parse any wire format and holds no provenance or verification state.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Written in place of personal data by the `Debug` implementations.
pub const REDACTED: &str = "<redacted>";

/// Formats as `<redacted>` in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A calendar date without time zone, always valid (proleptic Gregorian, years 1–9999).
/// Serialized as `"YYYY-MM-DD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CalendarDate {
    year: u16,
    month: u8,
    day: u8,
}

/// A date that does not exist or is not written as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DateError {
    /// Not the expected digits and separators.
    #[error("date is not written as {expected}")]
    Malformed {
        /// The expected form, e.g. `YYYYMMDD`.
        expected: &'static str,
    },
    /// Digits that name no calendar day (month 13, 30 February, year 0).
    #[error("date names a day that does not exist")]
    NoSuchDay,
}

/// True for Gregorian leap years.
pub fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Number of days in a month (1–12) of a year; 0 for an invalid month.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses a run of ASCII digits; `None` if any character is not a digit.
pub(crate) fn parse_digits(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl CalendarDate {
    /// A date, if it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, DateError> {
        if !(1..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
            return Err(DateError::NoSuchDay);
        }
        Ok(Self { year, month, day })
    }

    /// Year, 1–9999.
    pub fn year(self) -> u16 {
        self.year
    }

    /// Month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Day of month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parses eight ASCII digits `YYYYMMDD`, as on the resident ID card.
    pub fn parse_yyyymmdd(text: &str) -> Result<Self, DateError> {
        let malformed = DateError::Malformed {
            expected: "YYYYMMDD",
        };
        if text.len() != 8 {
            return Err(malformed);
        }
        let part = |range: std::ops::Range<usize>| text.get(range).and_then(parse_digits);
        match (part(0..4), part(4..6), part(6..8)) {
            (Some(year), Some(month), Some(day)) => Self::new(
                u16::try_from(year).map_err(|_| malformed)?,
                u8::try_from(month).map_err(|_| malformed)?,
                u8::try_from(day).map_err(|_| malformed)?,
            ),
            _ => Err(malformed),
        }
    }

    /// Eight digits `YYYYMMDD`.
    pub fn to_yyyymmdd(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for CalendarDate {
    type Err = DateError;

    /// Parses `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = DateError::Malformed {
            expected: "YYYY-MM-DD",
        };
        match (text.len(), text.get(4..5), text.get(7..8)) {
            (10, Some("-"), Some("-")) => {}
            _ => return Err(malformed),
        }
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        Self::parse_yyyymmdd(&digits).map_err(|error| match error {
            DateError::Malformed { .. } => malformed,
            other => other,
        })
    }
}

impl From<CalendarDate> for String {
    fn from(date: CalendarDate) -> Self {
        date.to_string()
    }
}

impl TryFrom<String> for CalendarDate {
    type Error = DateError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// Which kind of document the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Chinese 2nd-generation resident identity card (居民身份证).
    CnResident,
    /// Residence permit for Hong Kong, Macao and Taiwan residents (港澳台居民居住证, flag `J`).
    CnHmtResidence,
    /// Foreigner's permanent residence card, 2017 edition (flag `I`).
    CnForeignPermanent2017,
    /// Foreigner's permanent residence card, 2023 edition (flag `Y`).
    CnForeignPermanent2023,
    /// ICAO TD3 document (passport booklet).
    IcaoTd3,
    /// ICAO TD2 document.
    IcaoTd2,
    /// ICAO TD1 document (ID card size).
    IcaoTd1,
}

impl DocumentKind {
    /// The kind's code as record bodies write it (`"cn_resident"`, `"icao_td3"`, ...).
    pub fn as_code(self) -> &'static str {
        match self {
            DocumentKind::CnResident => "cn_resident",
            DocumentKind::CnHmtResidence => "cn_hmt_residence",
            DocumentKind::CnForeignPermanent2017 => "cn_foreign_permanent2017",
            DocumentKind::CnForeignPermanent2023 => "cn_foreign_permanent2023",
            DocumentKind::IcaoTd3 => "icao_td3",
            DocumentKind::IcaoTd2 => "icao_td2",
            DocumentKind::IcaoTd1 => "icao_td1",
        }
    }
}

/// Sex as recorded on the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// GB/T 2261.1 `1`, ICAO `M`.
    Male,
    /// GB/T 2261.1 `2`, ICAO `F`.
    Female,
    /// GB/T 2261.1 `0` (not known).
    Unknown,
    /// GB/T 2261.1 `9`, ICAO `<` or `X` (not specified).
    Unspecified,
}

impl Sex {
    /// The GB/T 2261.1 code used on Chinese cards.
    pub fn from_gb_code(code: char) -> Option<Self> {
        Some(match code {
            '0' => Self::Unknown,
            '1' => Self::Male,
            '2' => Self::Female,
            '9' => Self::Unspecified,
            _ => return None,
        })
    }

    /// The GB/T 2261.1 code.
    pub fn gb_code(self) -> char {
        match self {
            Self::Unknown => '0',
            Self::Male => '1',
            Self::Female => '2',
            Self::Unspecified => '9',
        }
    }

    /// The ICAO 9303 MRZ code (`M`, `F`, `<`; `X` is read as unspecified).
    pub fn from_icao_code(code: char) -> Option<Self> {
        Some(match code {
            'M' => Self::Male,
            'F' => Self::Female,
            '<' | 'X' => Self::Unspecified,
            _ => return None,
        })
    }

    /// The ICAO 9303 MRZ code; unknown and unspecified both become `<`.
    pub fn icao_code(self) -> char {
        match self {
            Self::Male => 'M',
            Self::Female => 'F',
            Self::Unknown | Self::Unspecified => '<',
        }
    }
}

/// GB 3304 nationality (民族) codes with Chinese and English names.
const NATIONS: [(u8, &str, &str); 58] = [
    (1, "汉族", "Han"),
    (2, "蒙古族", "Mongol"),
    (3, "回族", "Hui"),
    (4, "藏族", "Tibetan"),
    (5, "维吾尔族", "Uyghur"),
    (6, "苗族", "Miao"),
    (7, "彝族", "Yi"),
    (8, "壮族", "Zhuang"),
    (9, "布依族", "Bouyei"),
    (10, "朝鲜族", "Korean"),
    (11, "满族", "Manchu"),
    (12, "侗族", "Dong"),
    (13, "瑶族", "Yao"),
    (14, "白族", "Bai"),
    (15, "土家族", "Tujia"),
    (16, "哈尼族", "Hani"),
    (17, "哈萨克族", "Kazakh"),
    (18, "傣族", "Dai"),
    (19, "黎族", "Li"),
    (20, "傈僳族", "Lisu"),
    (21, "佤族", "Va"),
    (22, "畲族", "She"),
    (23, "高山族", "Gaoshan"),
    (24, "拉祜族", "Lahu"),
    (25, "水族", "Shui"),
    (26, "东乡族", "Dongxiang"),
    (27, "纳西族", "Naxi"),
    (28, "景颇族", "Jingpo"),
    (29, "柯尔克孜族", "Kirgiz"),
    (30, "土族", "Tu"),
    (31, "达斡尔族", "Daur"),
    (32, "仫佬族", "Mulao"),
    (33, "羌族", "Qiang"),
    (34, "布朗族", "Blang"),
    (35, "撒拉族", "Salar"),
    (36, "毛南族", "Maonan"),
    (37, "仡佬族", "Gelao"),
    (38, "锡伯族", "Xibe"),
    (39, "阿昌族", "Achang"),
    (40, "普米族", "Pumi"),
    (41, "塔吉克族", "Tajik"),
    (42, "怒族", "Nu"),
    (43, "乌孜别克族", "Uzbek"),
    (44, "俄罗斯族", "Russian"),
    (45, "鄂温克族", "Ewenki"),
    (46, "德昂族", "De'ang"),
    (47, "保安族", "Bonan"),
    (48, "裕固族", "Yugur"),
    (49, "京族", "Gin"),
    (50, "塔塔尔族", "Tatar"),
    (51, "独龙族", "Derung"),
    (52, "鄂伦春族", "Oroqen"),
    (53, "赫哲族", "Hezhen"),
    (54, "门巴族", "Monba"),
    (55, "珞巴族", "Lhoba"),
    (56, "基诺族", "Jino"),
    (97, "其他", "other"),
    (98, "外国血统中国籍人士", "foreign origin"),
];

/// A GB 3304 nationality (民族) code, `01`–`99`. Serialized with its names for readers of the JSON;
/// only the code is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "NationRepr", try_from = "NationRepr")]
pub struct Nation {
    code: u8,
}

impl Nation {
    /// A nation from its numeric code (1–99).
    pub fn from_code(code: u8) -> Option<Self> {
        (1..=99).contains(&code).then_some(Self { code })
    }

    /// Parses the two-digit code as printed on the card (`"01"`).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 2 {
            return None;
        }
        Self::from_code(u8::try_from(parse_digits(text)?).ok()?)
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self.code
    }

    /// The two-digit code as printed on the card.
    pub fn code_text(self) -> String {
        format!("{:02}", self.code)
    }

    /// The Chinese name, if the code is in the GB 3304 table.
    pub fn name_zh(self) -> Option<&'static str> {
        NATIONS
            .iter()
            .find(|(code, _, _)| *code == self.code)
            .map(|(_, zh, _)| *zh)
    }

    /// The English name, if the code is in the GB 3304 table.
    pub fn name_en(self) -> Option<&'static str> {
        NATIONS
            .iter()
            .find(|(code, _, _)| *code == self.code)
            .map(|(_, _, en)| *en)
    }
}

#[derive(Serialize, Deserialize)]
struct NationRepr {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name_en: Option<String>,
}

impl From<Nation> for NationRepr {
    fn from(nation: Nation) -> Self {
        Self {
            code: nation.code_text(),
            name_zh: nation.name_zh().map(str::to_owned),
            name_en: nation.name_en().map(str::to_owned),
        }
    }
}

impl TryFrom<NationRepr> for Nation {
    type Error = String;

    fn try_from(repr: NationRepr) -> Result<Self, Self::Error> {
        Nation::parse(&repr.code).ok_or_else(|| "nation code must be two digits 01-99".to_owned())
    }
}

/// Until when the document is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    /// Valid up to and including this date.
    Until(CalendarDate),
    /// No end date (`长期` on resident cards).
    LongTerm,
}

/// Photo formats kept as bytes because this kiosk cannot decode them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndecodedFormat {
    /// The proprietary WLT wavelet format of the resident ID card (starts `WLf`).
    Wlt,
    /// An image whose format was not recognised.
    Unrecognized,
}

/// The holder's photo as the document stores it. `Debug` shows only the format and size; JSON
/// carries the bytes in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Photo {
    /// JPEG (`FF D8`).
    Jpeg(#[serde(with = "base64_bytes")] Vec<u8>),
    /// JPEG 2000, as a JP2 file or a raw codestream.
    Jpeg2000(#[serde(with = "base64_bytes")] Vec<u8>),
    /// Windows bitmap, e.g. from a vendor WLT decoder.
    Bmp(#[serde(with = "base64_bytes")] Vec<u8>),
    /// Bytes kept verbatim as evidence.
    Undecoded {
        /// What the bytes are.
        format: UndecodedFormat,
        /// The bytes.
        #[serde(with = "base64_bytes")]
        bytes: Vec<u8>,
    },
    /// The document holds no photo, or it was not read.
    Absent,
}

impl Photo {
    /// Whether this is a picture a face can be compared with (a decodable image format).
    pub fn comparable(&self) -> bool {
        matches!(self, Self::Jpeg(_) | Self::Jpeg2000(_) | Self::Bmp(_))
    }

    /// The image bytes, if any.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Jpeg(bytes) | Self::Jpeg2000(bytes) | Self::Bmp(bytes) => Some(bytes),
            Self::Undecoded { bytes, .. } => Some(bytes),
            Self::Absent => None,
        }
    }
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Jpeg(_) => "Jpeg",
            Self::Jpeg2000(_) => "Jpeg2000",
            Self::Bmp(_) => "Bmp",
            Self::Undecoded {
                format: UndecodedFormat::Wlt,
                ..
            } => "Undecoded(Wlt)",
            Self::Undecoded {
                format: UndecodedFormat::Unrecognized,
                ..
            } => "Undecoded(Unrecognized)",
            Self::Absent => return f.write_str("Absent"),
        };
        write!(f, "{name}(<{} bytes>)", self.bytes().map_or(0, <[u8]>::len))
    }
}

/// Fields that only one kind of document carries. Personal data: `Debug` redacts the values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DocumentDetails {
    /// Nothing beyond the common fields.
    None,
    /// HK/Macao/Taiwan residence permit.
    CnHmtResidence {
        /// Number of the HK/Macao or Taiwan travel permit (通行证号码).
        pass_number: String,
        /// How many times the permit was issued (签发次数), as printed (two digits).
        issue_count: String,
    },
    /// Foreigner's permanent residence card, 2017.
    CnForeignPermanent2017 {
        /// Card version (证件版本号), as printed.
        card_version: String,
        /// Code of the accepting authority (受理机关代码).
        authority_code: String,
    },
    /// Foreigner's permanent residence card, 2023.
    CnForeignPermanent2023 {
        /// Renewal count (换证次数), as printed.
        renewal_count: String,
        /// Link field to the previous-edition card (既往版本证件关联项), as printed.
        previous_card_link: String,
    },
}

impl fmt::Debug for DocumentDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::CnHmtResidence { .. } => f.write_str("CnHmtResidence { <redacted> }"),
            Self::CnForeignPermanent2017 { .. } => {
                f.write_str("CnForeignPermanent2017 { <redacted> }")
            }
            Self::CnForeignPermanent2023 { .. } => {
                f.write_str("CnForeignPermanent2023 { <redacted> }")
            }
        }
    }
}

/// What a document says about its holder. Personal data: no `Display`, and `Debug` shows only the
/// kind (`Identity { kind: CnResident, name: <redacted>, .. }`).
///
/// Provenance (SAM id, ATR, timestamps), raw evidence and verification results are kept beside
/// this value by the reader layer, not in it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Which document.
    pub kind: DocumentKind,
    /// The name as printed in the document's primary script (Chinese on Chinese cards; for a
    /// foreigner's card without a Chinese name, the Latin name; ICAO: `SURNAME, GIVEN NAMES`).
    pub name: String,
    /// The Latin-script name where the document has one.
    pub name_latin: Option<String>,
    /// Sex.
    pub sex: Sex,
    /// GB 3304 nationality (民族) on resident cards and, where filled in, residence permits.
    pub nation: Option<Nation>,
    /// Citizenship as ISO 3166-1 alpha-3 (foreigner's cards, ICAO documents).
    pub nationality: Option<String>,
    /// Date of birth.
    pub birth: CalendarDate,
    /// Address (住址), where the document has one.
    pub address: Option<String>,
    /// Document or citizen number.
    pub document_number: String,
    /// Issuing authority (签发机关) or issuing state.
    pub issuing_authority: Option<String>,
    /// First day of validity, where recorded.
    pub valid_from: Option<CalendarDate>,
    /// Last day of validity.
    pub valid_to: Validity,
    /// Kind-specific fields.
    pub details: DocumentDetails,
    /// The holder's photo.
    pub photo: Photo,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("kind", &self.kind)
            .field("name", &Redacted)
            .finish_non_exhaustive()
    }
}

/// Standard base64 (RFC 4648, with padding) for byte fields in JSON.
pub mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de};

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    fn symbol(index: u32) -> char {
        ALPHABET
            .get((index & 0x3F) as usize)
            .map_or('=', |&b| char::from(b))
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let (b0, b1, b2) = match *chunk {
                [a] => (a, 0, 0),
                [a, b] => (a, b, 0),
                [a, b, c] => (a, b, c),
                _ => continue,
            };
            let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
            out.push(symbol(n >> 18));
            out.push(symbol(n >> 12));
            out.push(if chunk.len() > 1 { symbol(n >> 6) } else { '=' });
            out.push(if chunk.len() > 2 { symbol(n) } else { '=' });
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let bytes = text.as_bytes();
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        let value = |b: u8| ALPHABET.iter().position(|&a| a == b).map(|p| p as u32);
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
        let chunks = bytes.chunks(4);
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.enumerate() {
            let &[c0, c1, c2, c3] = chunk else {
                return None;
            };
            let padding = match (c2, c3) {
                (b'=', b'=') => 2,
                (_, b'=') => 1,
                _ => 0,
            };
            if padding > 0 && index != last {
                return None;
            }
            let n = (value(c0)? << 18)
                | (value(c1)? << 12)
                | (if padding == 2 { 0 } else { value(c2)? << 6 })
                | (if padding >= 1 { 0 } else { value(c3)? });
            let [_, a, b, c] = n.to_be_bytes();
            out.push(a);
            if padding < 2 {
                out.push(b);
            }
            if padding < 1 {
                out.push(c);
            }
        }
        Some(out)
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).ok_or_else(|| de::Error::custom("bytes must be standard padded base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: u16, m: u8, d: u8) -> CalendarDate {
        CalendarDate::new(y, m, d).unwrap()
    }

    #[test]
    fn dates_that_exist_are_accepted_and_others_refused() {
        assert!(CalendarDate::new(2024, 2, 29).is_ok());
        assert!(CalendarDate::new(2000, 2, 29).is_ok());
        for (y, m, d) in [
            (2023, 2, 29),
            (1900, 2, 29),
            (2024, 4, 31),
            (2024, 13, 1),
            (2024, 0, 1),
            (2024, 1, 0),
            (0, 1, 1),
        ] {
            assert_eq!(
                CalendarDate::new(y, m, d),
                Err(DateError::NoSuchDay),
                "{y}-{m}-{d}"
            );
        }
    }

    #[test]
    fn yyyymmdd_is_parsed_and_rendered() {
        assert_eq!(
            CalendarDate::parse_yyyymmdd("19491231"),
            Ok(date(1949, 12, 31))
        );
        assert_eq!(date(1949, 12, 31).to_yyyymmdd(), "19491231");
        for bad in [
            "1949123",
            "1949-1231",
            "1949123a",
            "+9491231",
            "１９４９１２３１",
        ] {
            assert!(
                matches!(
                    CalendarDate::parse_yyyymmdd(bad),
                    Err(DateError::Malformed { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            CalendarDate::parse_yyyymmdd("20230229"),
            Err(DateError::NoSuchDay)
        );
    }

    #[test]
    fn dates_serialize_as_iso_strings() {
        let json = serde_json::to_string(&date(2030, 1, 5)).unwrap();
        assert_eq!(json, "\"2030-01-05\"");
        assert_eq!(
            serde_json::from_str::<CalendarDate>(&json).unwrap(),
            date(2030, 1, 5)
        );
        assert!(serde_json::from_str::<CalendarDate>("\"2030-02-30\"").is_err());
        assert!(serde_json::from_str::<CalendarDate>("\"20300105\"").is_err());
        assert!(serde_json::from_str::<CalendarDate>("\"2030/01/05\"").is_err());
    }

    #[test]
    fn validity_serializes_as_until_or_long_term() {
        assert_eq!(
            serde_json::to_string(&Validity::Until(date(2030, 1, 5))).unwrap(),
            r#"{"until":"2030-01-05"}"#
        );
        assert_eq!(
            serde_json::to_string(&Validity::LongTerm).unwrap(),
            r#""long_term""#
        );
    }

    #[test]
    fn nation_table_covers_all_56_groups_and_the_two_extra_codes() {
        for code in 1..=56 {
            let nation = Nation::from_code(code).unwrap();
            assert!(nation.name_zh().unwrap().ends_with('族'), "{code}");
            assert!(nation.name_en().is_some());
        }
        assert_eq!(Nation::parse("01").unwrap().name_zh(), Some("汉族"));
        assert_eq!(Nation::parse("56").unwrap().name_en(), Some("Jino"));
        assert_eq!(Nation::parse("97").unwrap().name_zh(), Some("其他"));
        assert_eq!(
            Nation::parse("98").unwrap().name_en(),
            Some("foreign origin")
        );
        assert_eq!(Nation::parse("60").unwrap().name_zh(), None);
        for bad in ["1", "00", "1a", "001", " 1"] {
            assert_eq!(Nation::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn nation_serializes_with_names_and_reads_back_from_the_code() {
        let json = serde_json::to_string(&Nation::parse("03").unwrap()).unwrap();
        assert_eq!(json, r#"{"code":"03","name_zh":"回族","name_en":"Hui"}"#);
        let back: Nation = serde_json::from_str(r#"{"code":"03"}"#).unwrap();
        assert_eq!(back.code(), 3);
    }

    #[test]
    fn sex_codes_round_trip() {
        for sex in [Sex::Male, Sex::Female, Sex::Unknown, Sex::Unspecified] {
            assert_eq!(Sex::from_gb_code(sex.gb_code()), Some(sex));
        }
        assert_eq!(Sex::from_icao_code('F'), Some(Sex::Female));
        assert_eq!(Sex::from_icao_code('X'), Some(Sex::Unspecified));
        assert_eq!(Sex::from_gb_code('3'), None);
    }

    #[test]
    fn base64_matches_rfc_4648_examples() {
        // RFC 4648 §10 test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_bytes::encode(plain.as_bytes()), encoded);
            assert_eq!(base64_bytes::decode(encoded).unwrap(), plain.as_bytes());
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*"] {
            assert_eq!(base64_bytes::decode(bad), None, "{bad}");
        }
    }

    fn sample_identity() -> Identity {
        Identity {
            kind: DocumentKind::CnResident,
            name: "张三".to_owned(),
            name_latin: None,
            sex: Sex::Male,
            nation: Nation::parse("01"),
            nationality: None,
            birth: date(1990, 1, 2),
            address: Some("北京市东城区".to_owned()),
            document_number: "11010519491231002X".to_owned(),
            issuing_authority: Some("北京市公安局".to_owned()),
            valid_from: Some(date(2015, 1, 1)),
            valid_to: Validity::LongTerm,
            details: DocumentDetails::None,
            photo: Photo::Undecoded {
                format: UndecodedFormat::Wlt,
                bytes: b"WLf\x00".to_vec(),
            },
        }
    }

    #[test]
    fn identity_debug_shows_the_kind_and_redacts_everything_else() {
        let shown = format!("{:?}", sample_identity());
        assert_eq!(shown, "Identity { kind: CnResident, name: <redacted>, .. }");
        assert_eq!(
            format!("{:?}", sample_identity().photo),
            "Undecoded(Wlt)(<4 bytes>)"
        );
        let details = DocumentDetails::CnHmtResidence {
            pass_number: "H12345678".to_owned(),
            issue_count: "01".to_owned(),
        };
        assert!(!format!("{details:?}").contains("H123"));
    }

    #[test]
    fn identity_round_trips_through_json() {
        let identity = sample_identity();
        let json = serde_json::to_string(&identity).unwrap();
        assert!(json.contains(r#""birth":"1990-01-02""#), "{json}");
        assert!(json.contains(r#""valid_to":"long_term""#), "{json}");
        assert!(json.contains(r#""bytes":"V0xmAA==""#), "{json}");
        let back: Identity = serde_json::from_str(&json).unwrap();
        assert_eq!(back, identity);
    }
}
