//! The 256-byte UCS-2LE identity text block read through the SAM (protocol doc §1.6): its four
//! layouts (resident card, `J` residence permit, `I` and `Y` foreigner's permanent residence cards),
//! dispatched on the character at offset 248, decoded into an [`Identity`] and encoded back for the
//! emulator. Does not read frames (see `sam_frame`) and does not decode the WLT photo.

use thiserror::Error;

use crate::domain::document::{
    CalendarDate, DocumentDetails, DocumentKind, Identity, Nation, Photo, Sex, UndecodedFormat,
    Validity,
};
use crate::domain::sam_frame::{CardMessage, TEXT_BLOCK_LEN};

/// Characters that mark a long-term validity in the valid-to field.
pub const LONG_TERM: &str = "长期";

/// Byte offset of the card-type flag character.
pub const TYPE_FLAG_OFFSET: usize = 248;

/// Errors while decoding or encoding a text block. Messages never contain field values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextBlockError {
    /// The block is not 256 bytes.
    #[error("identity text block is {len} bytes, expected 256; re-read the card")]
    WrongLength {
        /// Bytes received.
        len: usize,
    },
    /// The type flag at offset 248 names no known card.
    #[error(
        "card type flag {flag:#06x} is not a card type this kiosk knows; check the document by hand"
    )]
    UnknownLayout {
        /// The UCS-2 code unit at offset 248.
        flag: u16,
    },
    /// A field holds bytes that are not valid UCS-2 text.
    #[error(
        "the card's {field} field is not valid text; re-read the card, and if it repeats enter the \
         data by hand"
    )]
    InvalidCharacters {
        /// Which field.
        field: &'static str,
    },
    /// A date field is not a valid `YYYYMMDD` date.
    #[error(
        "the card's {field} field is not a valid date; re-read the card, and if it repeats enter \
         the data by hand"
    )]
    InvalidDate {
        /// Which field.
        field: &'static str,
    },
    /// A code field (sex, nation) holds a value outside its code table.
    #[error(
        "the card's {field} field holds an unknown code; re-read the card, and if it repeats enter \
         the data by hand"
    )]
    InvalidCode {
        /// Which field.
        field: &'static str,
    },
    /// A required field is blank.
    #[error(
        "the card's {field} field is blank; re-read the card, and if it repeats check the document by hand"
    )]
    MissingField {
        /// Which field.
        field: &'static str,
    },
    /// A value is too long for its field (encoding).
    #[error("the {field} value does not fit its {max_chars}-character field on the card")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Field capacity in UCS-2 code units.
        max_chars: usize,
    },
    /// The identity is not of a kind stored in a text block, or its details belong to another kind
    /// (encoding).
    #[error("a {kind:?} identity cannot be written as a resident-card text block")]
    NotACardIdentity {
        /// The identity's kind.
        kind: DocumentKind,
    },
}

/// The four layouts of the text block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextLayout {
    /// Resident identity card (flag space).
    Resident,
    /// HK/Macao/Taiwan residence permit (flag `J`).
    HmtResidence,
    /// Foreigner's permanent residence card, 2017 (flag `I`).
    ForeignPermanent2017,
    /// Foreigner's permanent residence card, 2023 (flag `Y`).
    ForeignPermanent2023,
}

impl TextLayout {
    /// The type-flag character written at offset 248.
    pub fn flag(self) -> char {
        match self {
            Self::Resident => ' ',
            Self::HmtResidence => 'J',
            Self::ForeignPermanent2017 => 'I',
            Self::ForeignPermanent2023 => 'Y',
        }
    }

    /// The document kind this layout carries.
    pub fn kind(self) -> DocumentKind {
        match self {
            Self::Resident => DocumentKind::CnResident,
            Self::HmtResidence => DocumentKind::CnHmtResidence,
            Self::ForeignPermanent2017 => DocumentKind::CnForeignPermanent2017,
            Self::ForeignPermanent2023 => DocumentKind::CnForeignPermanent2023,
        }
    }

    /// The layout for a document kind, if it is stored in a text block.
    pub fn for_kind(kind: DocumentKind) -> Option<Self> {
        Some(match kind {
            DocumentKind::CnResident => Self::Resident,
            DocumentKind::CnHmtResidence => Self::HmtResidence,
            DocumentKind::CnForeignPermanent2017 => Self::ForeignPermanent2017,
            DocumentKind::CnForeignPermanent2023 => Self::ForeignPermanent2023,
            DocumentKind::IcaoTd3 | DocumentKind::IcaoTd2 | DocumentKind::IcaoTd1 => return None,
        })
    }
}

/// A field of the block: name (for errors), byte offset, byte length.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    offset: usize,
    len: usize,
}

const fn field(name: &'static str, offset: usize, len: usize) -> Field {
    Field { name, offset, len }
}

/// Resident layout (§1.6); the `J` permit shares offsets 0–219.
mod resident {
    use super::{Field, field};
    pub const NAME: Field = field("name", 0, 30);
    pub const SEX: Field = field("sex", 30, 2);
    pub const NATION: Field = field("nation", 32, 4);
    pub const BIRTH: Field = field("birth date", 36, 16);
    pub const ADDRESS: Field = field("address", 52, 70);
    pub const NUMBER: Field = field("id number", 122, 36);
    pub const AUTHORITY: Field = field("issuing authority", 158, 30);
    pub const VALID_FROM: Field = field("valid-from date", 188, 16);
    pub const VALID_TO: Field = field("valid-to date", 204, 16);
    pub const PASS_NUMBER: Field = field("pass number", 220, 18);
    pub const ISSUE_COUNT: Field = field("issue count", 238, 4);
}

/// `I` layout (foreigner's permanent residence card, 2017).
mod foreign_2017 {
    use super::{Field, field};
    pub const NAME_LATIN: Field = field("english name", 0, 120);
    pub const SEX: Field = field("sex", 120, 2);
    pub const NUMBER: Field = field("card number", 122, 30);
    pub const NATIONALITY: Field = field("nationality", 152, 6);
    pub const NAME: Field = field("chinese name", 158, 30);
    pub const VALID_FROM: Field = field("valid-from date", 188, 16);
    pub const VALID_TO: Field = field("valid-to date", 204, 16);
    pub const BIRTH: Field = field("birth date", 220, 16);
    pub const CARD_VERSION: Field = field("card version", 236, 4);
    pub const AUTHORITY_CODE: Field = field("authority code", 240, 8);
}

/// `Y` layout (foreigner's permanent residence card, 2023).
mod foreign_2023 {
    use super::{Field, field};
    pub const NAME: Field = field("chinese name", 0, 30);
    pub const SEX: Field = field("sex", 30, 2);
    pub const RENEWAL_COUNT: Field = field("renewal count", 32, 4);
    pub const BIRTH: Field = field("birth date", 36, 16);
    pub const NAME_LATIN_1: Field = field("english name", 52, 70);
    pub const NUMBER: Field = field("id number", 122, 36);
    pub const VALID_FROM: Field = field("valid-from date", 188, 16);
    pub const VALID_TO: Field = field("valid-to date", 204, 16);
    pub const NAME_LATIN_2: Field = field("english name", 220, 22);
    pub const NATIONALITY: Field = field("nationality", 242, 6);
    pub const PREVIOUS_LINK: Field = field("previous card link", 250, 6);
}

const TYPE_FLAG: Field = field("card type", TYPE_FLAG_OFFSET, 2);

/// Decodes UCS-2LE bytes (surrogate pairs accepted) without trimming.
pub fn decode_ucs2(bytes: &[u8]) -> Option<String> {
    let units = bytes.chunks_exact(2).map(|pair| match *pair {
        [lo, hi] => u16::from_le_bytes([lo, hi]),
        _ => 0,
    });
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
        .filter(|text| !text.chars().any(|c| c.is_control() && c != '\0'))
}

fn is_padding(c: char) -> bool {
    c == ' ' || c == '\0'
}

/// The raw text of a field, untrimmed.
fn raw_field(block: &[u8], field: Field) -> Result<String, TextBlockError> {
    block
        .get(field.offset..field.offset + field.len)
        .and_then(decode_ucs2)
        .ok_or(TextBlockError::InvalidCharacters { field: field.name })
}

/// The text of a field with space and NUL padding trimmed from both ends.
fn text_field(block: &[u8], field: Field) -> Result<String, TextBlockError> {
    raw_field(block, field).map(|text| text.trim_matches(is_padding).to_owned())
}

fn required_field(block: &[u8], field: Field) -> Result<String, TextBlockError> {
    let text = text_field(block, field)?;
    if text.is_empty() {
        return Err(TextBlockError::MissingField { field: field.name });
    }
    Ok(text)
}

fn optional_field(block: &[u8], field: Field) -> Result<Option<String>, TextBlockError> {
    text_field(block, field).map(|text| Some(text).filter(|t| !t.is_empty()))
}

fn date_field(block: &[u8], field: Field) -> Result<CalendarDate, TextBlockError> {
    CalendarDate::parse_yyyymmdd(&text_field(block, field)?)
        .map_err(|_| TextBlockError::InvalidDate { field: field.name })
}

fn validity_field(block: &[u8], field: Field) -> Result<Validity, TextBlockError> {
    let text = text_field(block, field)?;
    if text == LONG_TERM {
        return Ok(Validity::LongTerm);
    }
    CalendarDate::parse_yyyymmdd(&text)
        .map(Validity::Until)
        .map_err(|_| TextBlockError::InvalidDate { field: field.name })
}

fn sex_field(block: &[u8], field: Field) -> Result<Sex, TextBlockError> {
    let text = text_field(block, field)?;
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(code), None) => Sex::from_gb_code(code),
        _ => None,
    }
    .ok_or(TextBlockError::InvalidCode { field: field.name })
}

fn nation_field(block: &[u8], field: Field) -> Result<Option<Nation>, TextBlockError> {
    let text = text_field(block, field)?;
    if text.is_empty() {
        return Ok(None);
    }
    Nation::parse(&text)
        .map(Some)
        .ok_or(TextBlockError::InvalidCode { field: field.name })
}

/// The layout named by the type flag at offset 248 (space or NUL means resident card).
pub fn layout_of(block: &[u8]) -> Result<TextLayout, TextBlockError> {
    if block.len() != TEXT_BLOCK_LEN {
        return Err(TextBlockError::WrongLength { len: block.len() });
    }
    let flag = match block.get(TYPE_FLAG.offset..TYPE_FLAG.offset + TYPE_FLAG.len) {
        Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
        _ => return Err(TextBlockError::WrongLength { len: block.len() }),
    };
    match char::from_u32(u32::from(flag)) {
        Some(' ' | '\0') => Ok(TextLayout::Resident),
        Some('J') => Ok(TextLayout::HmtResidence),
        Some('I') => Ok(TextLayout::ForeignPermanent2017),
        Some('Y') => Ok(TextLayout::ForeignPermanent2023),
        _ => Err(TextBlockError::UnknownLayout { flag }),
    }
}

/// Decodes a 256-byte text block into an identity with `photo: Absent`.
pub fn parse_text_block(block: &[u8]) -> Result<Identity, TextBlockError> {
    match layout_of(block)? {
        TextLayout::Resident => parse_resident(block, TextLayout::Resident),
        TextLayout::HmtResidence => parse_resident(block, TextLayout::HmtResidence),
        TextLayout::ForeignPermanent2017 => parse_foreign_2017(block),
        TextLayout::ForeignPermanent2023 => parse_foreign_2023(block),
    }
}

/// Decodes a read response: the text block, and the photo kept verbatim as WLT evidence
/// (`Photo::Absent` when the reader sent none).
pub fn parse_card_message(message: &CardMessage) -> Result<Identity, TextBlockError> {
    let mut identity = parse_text_block(&message.text)?;
    identity.photo = if message.photo.is_empty() {
        Photo::Absent
    } else {
        Photo::Undecoded {
            format: UndecodedFormat::Wlt,
            bytes: message.photo.clone(),
        }
    };
    Ok(identity)
}

/// Decodes the 70-byte appended address (`30 03`), trimmed.
pub fn decode_appended_address(bytes: &[u8]) -> Result<String, TextBlockError> {
    decode_ucs2(bytes)
        .map(|text| text.trim_matches(is_padding).to_owned())
        .ok_or(TextBlockError::InvalidCharacters {
            field: "appended address",
        })
}

fn parse_resident(block: &[u8], layout: TextLayout) -> Result<Identity, TextBlockError> {
    use resident::*;
    let (nation, details) = match layout {
        TextLayout::HmtResidence => (
            nation_field(block, NATION)?,
            DocumentDetails::CnHmtResidence {
                pass_number: text_field(block, PASS_NUMBER)?,
                issue_count: text_field(block, ISSUE_COUNT)?,
            },
        ),
        _ => (
            Some(
                nation_field(block, NATION)?
                    .ok_or(TextBlockError::MissingField { field: NATION.name })?,
            ),
            DocumentDetails::None,
        ),
    };
    Ok(Identity {
        kind: layout.kind(),
        name: required_field(block, NAME)?,
        name_latin: None,
        sex: sex_field(block, SEX)?,
        nation,
        nationality: None,
        birth: date_field(block, BIRTH)?,
        address: optional_field(block, ADDRESS)?,
        document_number: required_field(block, NUMBER)?,
        issuing_authority: optional_field(block, AUTHORITY)?,
        valid_from: Some(date_field(block, VALID_FROM)?),
        valid_to: validity_field(block, VALID_TO)?,
        details,
        photo: Photo::Absent,
    })
}

/// Picks the primary name: the Chinese name, or the Latin one when the card has none.
fn primary_name(chinese: String, latin: &Option<String>) -> Result<String, TextBlockError> {
    match (chinese.is_empty(), latin) {
        (false, _) => Ok(chinese),
        (true, Some(latin)) => Ok(latin.clone()),
        (true, None) => Err(TextBlockError::MissingField { field: "name" }),
    }
}

fn parse_foreign_2017(block: &[u8]) -> Result<Identity, TextBlockError> {
    use foreign_2017::*;
    let name_latin = optional_field(block, NAME_LATIN)?;
    Ok(Identity {
        kind: DocumentKind::CnForeignPermanent2017,
        name: primary_name(text_field(block, NAME)?, &name_latin)?,
        name_latin,
        sex: sex_field(block, SEX)?,
        nation: None,
        nationality: optional_field(block, NATIONALITY)?,
        birth: date_field(block, BIRTH)?,
        address: None,
        document_number: required_field(block, NUMBER)?,
        issuing_authority: None,
        valid_from: Some(date_field(block, VALID_FROM)?),
        valid_to: validity_field(block, VALID_TO)?,
        details: DocumentDetails::CnForeignPermanent2017 {
            card_version: text_field(block, CARD_VERSION)?,
            authority_code: text_field(block, AUTHORITY_CODE)?,
        },
        photo: Photo::Absent,
    })
}

fn parse_foreign_2023(block: &[u8]) -> Result<Identity, TextBlockError> {
    use foreign_2023::*;
    // The English name runs on from the first part into the second: join before trimming so a
    // space at the boundary survives.
    let latin = raw_field(block, NAME_LATIN_1)? + &raw_field(block, NAME_LATIN_2)?;
    let latin = latin.trim_matches(is_padding);
    let name_latin = Some(latin.to_owned()).filter(|t| !t.is_empty());
    Ok(Identity {
        kind: DocumentKind::CnForeignPermanent2023,
        name: primary_name(text_field(block, NAME)?, &name_latin)?,
        name_latin,
        sex: sex_field(block, SEX)?,
        nation: None,
        nationality: optional_field(block, NATIONALITY)?,
        birth: date_field(block, BIRTH)?,
        address: None,
        document_number: required_field(block, NUMBER)?,
        issuing_authority: None,
        valid_from: Some(date_field(block, VALID_FROM)?),
        valid_to: validity_field(block, VALID_TO)?,
        details: DocumentDetails::CnForeignPermanent2023 {
            renewal_count: text_field(block, RENEWAL_COUNT)?,
            previous_card_link: text_field(block, PREVIOUS_LINK)?,
        },
        photo: Photo::Absent,
    })
}

/// Writes `text` as UCS-2LE into `field`, padded with spaces.
fn put(block: &mut [u8; TEXT_BLOCK_LEN], field: Field, text: &str) -> Result<(), TextBlockError> {
    let too_long = TextBlockError::FieldTooLong {
        field: field.name,
        max_chars: field.len / 2,
    };
    let units: Vec<u16> = text.encode_utf16().collect();
    if units.len() > field.len / 2 {
        return Err(too_long);
    }
    let target = block
        .get_mut(field.offset..field.offset + field.len)
        .ok_or(too_long)?;
    let padded = units.into_iter().chain(std::iter::repeat(u16::from(b' ')));
    for (slot, unit) in target.chunks_exact_mut(2).zip(padded) {
        slot.copy_from_slice(&unit.to_le_bytes());
    }
    Ok(())
}

fn validity_text(validity: Validity) -> String {
    match validity {
        Validity::LongTerm => LONG_TERM.to_owned(),
        Validity::Until(date) => date.to_yyyymmdd(),
    }
}

fn date_text(date: Option<CalendarDate>) -> String {
    date.map(CalendarDate::to_yyyymmdd).unwrap_or_default()
}

/// Encodes an identity of a Chinese card kind as a 256-byte text block, for the emulator and tests.
/// Unused and reserved areas are filled with spaces. The photo is not part of the block.
pub fn encode_text_block(identity: &Identity) -> Result<[u8; TEXT_BLOCK_LEN], TextBlockError> {
    let mismatch = TextBlockError::NotACardIdentity {
        kind: identity.kind,
    };
    let layout = TextLayout::for_kind(identity.kind).ok_or(mismatch.clone())?;
    let mut block = [0u8; TEXT_BLOCK_LEN];
    put(&mut block, field("block", 0, TEXT_BLOCK_LEN), "")?;
    put(&mut block, TYPE_FLAG, &layout.flag().to_string())?;
    let sex = identity.sex.gb_code().to_string();
    let latin = identity.name_latin.clone().unwrap_or_default();
    // A foreigner's card without a Chinese name carries the Latin name as its primary name.
    let chinese = if identity.name_latin.as_deref() == Some(identity.name.as_str()) {
        ""
    } else {
        identity.name.as_str()
    };
    match (layout, &identity.details) {
        (TextLayout::Resident, DocumentDetails::None)
        | (TextLayout::HmtResidence, DocumentDetails::CnHmtResidence { .. }) => {
            use resident::*;
            put(&mut block, NAME, &identity.name)?;
            put(&mut block, SEX, &sex)?;
            let nation = identity.nation.map(Nation::code_text).unwrap_or_default();
            put(&mut block, NATION, &nation)?;
            put(&mut block, BIRTH, &identity.birth.to_yyyymmdd())?;
            put(
                &mut block,
                ADDRESS,
                identity.address.as_deref().unwrap_or(""),
            )?;
            put(&mut block, NUMBER, &identity.document_number)?;
            let authority = identity.issuing_authority.as_deref().unwrap_or("");
            put(&mut block, AUTHORITY, authority)?;
            put(&mut block, VALID_FROM, &date_text(identity.valid_from))?;
            put(&mut block, VALID_TO, &validity_text(identity.valid_to))?;
            if let DocumentDetails::CnHmtResidence {
                pass_number,
                issue_count,
            } = &identity.details
            {
                put(&mut block, PASS_NUMBER, pass_number)?;
                put(&mut block, ISSUE_COUNT, issue_count)?;
            }
        }
        (
            TextLayout::ForeignPermanent2017,
            DocumentDetails::CnForeignPermanent2017 {
                card_version,
                authority_code,
            },
        ) => {
            use foreign_2017::*;
            put(&mut block, NAME_LATIN, &latin)?;
            put(&mut block, SEX, &sex)?;
            put(&mut block, NUMBER, &identity.document_number)?;
            put(
                &mut block,
                NATIONALITY,
                identity.nationality.as_deref().unwrap_or(""),
            )?;
            put(&mut block, NAME, chinese)?;
            put(&mut block, VALID_FROM, &date_text(identity.valid_from))?;
            put(&mut block, VALID_TO, &validity_text(identity.valid_to))?;
            put(&mut block, BIRTH, &identity.birth.to_yyyymmdd())?;
            put(&mut block, CARD_VERSION, card_version)?;
            put(&mut block, AUTHORITY_CODE, authority_code)?;
        }
        (
            TextLayout::ForeignPermanent2023,
            DocumentDetails::CnForeignPermanent2023 {
                renewal_count,
                previous_card_link,
            },
        ) => {
            use foreign_2023::*;
            put(&mut block, NAME, chinese)?;
            put(&mut block, SEX, &sex)?;
            put(&mut block, RENEWAL_COUNT, renewal_count)?;
            put(&mut block, BIRTH, &identity.birth.to_yyyymmdd())?;
            let units: Vec<u16> = latin.encode_utf16().collect();
            let split = units.len().min(NAME_LATIN_1.len / 2);
            let (first, second) = units.split_at_checked(split).ok_or(mismatch.clone())?;
            let too_long = |_| TextBlockError::FieldTooLong {
                field: NAME_LATIN_1.name,
                max_chars: (NAME_LATIN_1.len + NAME_LATIN_2.len) / 2,
            };
            put(
                &mut block,
                NAME_LATIN_1,
                &String::from_utf16(first).map_err(too_long)?,
            )?;
            put(
                &mut block,
                NAME_LATIN_2,
                &String::from_utf16(second).map_err(too_long)?,
            )
            .map_err(|_| TextBlockError::FieldTooLong {
                field: NAME_LATIN_1.name,
                max_chars: (NAME_LATIN_1.len + NAME_LATIN_2.len) / 2,
            })?;
            put(&mut block, NUMBER, &identity.document_number)?;
            put(&mut block, VALID_FROM, &date_text(identity.valid_from))?;
            put(&mut block, VALID_TO, &validity_text(identity.valid_to))?;
            put(
                &mut block,
                NATIONALITY,
                identity.nationality.as_deref().unwrap_or(""),
            )?;
            put(&mut block, PREVIOUS_LINK, previous_card_link)?;
        }
        _ => return Err(mismatch),
    }
    Ok(block)
}

/// Weights of the GB 11643 (ISO 7064 MOD 11-2) check character of the 18-character citizen number.
const CITIZEN_NUMBER_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11643 check character for the first 17 digits of a citizen number, if they are digits.
pub fn citizen_number_check_char(first_17: &str) -> Option<char> {
    if first_17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, weight) in first_17.chars().zip(CITIZEN_NUMBER_WEIGHTS) {
        sum += c.to_digit(10)? * weight;
    }
    "10X98765432".chars().nth((sum % 11) as usize)
}

/// True when an 18-character citizen number has a correct GB 11643 check character.
pub fn citizen_number_is_valid(number: &str) -> bool {
    match (number.get(..17), number.get(17..)) {
        (Some(first), Some(last)) if last.len() == 1 => {
            citizen_number_check_char(first)
                .map(String::from)
                .as_deref()
                == Some(last)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: u16, m: u8, d: u8) -> CalendarDate {
        CalendarDate::new(y, m, d).unwrap()
    }

    /// Builds a block by hand from (byte offset, text) pairs, independent of the encoder, using the
    /// offsets of protocol doc §1.6.
    fn block(fields: &[(usize, &str)]) -> Vec<u8> {
        let mut block: Vec<u8> = [0x20, 0x00].repeat(128);
        for (offset, text) in fields {
            for (i, unit) in text.encode_utf16().enumerate() {
                block[offset + 2 * i..offset + 2 * i + 2].copy_from_slice(&unit.to_le_bytes());
            }
        }
        block
    }

    // Synthetic people; numbers follow the real formats (the resident number is the GB 11643
    // standard's own example) but belong to nobody.
    fn resident_fixture() -> (Vec<u8>, Identity) {
        let bytes = block(&[
            (0, "张三"),
            (30, "1"),
            (32, "01"),
            (36, "19491231"),
            (52, "北京市东城区景山前街4号"),
            (122, "11010519491231002X"),
            (158, "北京市公安局东城分局"),
            (188, "20150101"),
            (204, "长期"),
        ]);
        let identity = Identity {
            kind: DocumentKind::CnResident,
            name: "张三".into(),
            name_latin: None,
            sex: Sex::Male,
            nation: Nation::parse("01"),
            nationality: None,
            birth: date(1949, 12, 31),
            address: Some("北京市东城区景山前街4号".into()),
            document_number: "11010519491231002X".into(),
            issuing_authority: Some("北京市公安局东城分局".into()),
            valid_from: Some(date(2015, 1, 1)),
            valid_to: Validity::LongTerm,
            details: DocumentDetails::None,
            photo: Photo::Absent,
        };
        (bytes, identity)
    }

    fn hmt_fixture() -> (Vec<u8>, Identity) {
        let bytes = block(&[
            (0, "陈大文"),
            (30, "2"),
            (36, "19900215"),
            (52, "广东省深圳市福田区福中三路1号"),
            (122, "810000199002150020"),
            (158, "深圳市公安局"),
            (188, "20200301"),
            (204, "20250301"),
            (220, "H12345678"),
            (238, "01"),
            (248, "J"),
        ]);
        let identity = Identity {
            kind: DocumentKind::CnHmtResidence,
            name: "陈大文".into(),
            name_latin: None,
            sex: Sex::Female,
            nation: None,
            nationality: None,
            birth: date(1990, 2, 15),
            address: Some("广东省深圳市福田区福中三路1号".into()),
            document_number: "810000199002150020".into(),
            issuing_authority: Some("深圳市公安局".into()),
            valid_from: Some(date(2020, 3, 1)),
            valid_to: Validity::Until(date(2025, 3, 1)),
            details: DocumentDetails::CnHmtResidence {
                pass_number: "H12345678".into(),
                issue_count: "01".into(),
            },
            photo: Photo::Absent,
        };
        (bytes, identity)
    }

    fn foreign_2017_fixture() -> (Vec<u8>, Identity) {
        let bytes = block(&[
            (0, "SMITH, JOHN PAUL"),
            (120, "1"),
            (122, "USA110080101001"),
            (152, "USA"),
            (158, "史密斯"),
            (188, "20180101"),
            (204, "20280101"),
            (220, "19800101"),
            (236, "20"),
            (240, "1100"),
            (248, "I"),
        ]);
        let identity = Identity {
            kind: DocumentKind::CnForeignPermanent2017,
            name: "史密斯".into(),
            name_latin: Some("SMITH, JOHN PAUL".into()),
            sex: Sex::Male,
            nation: None,
            nationality: Some("USA".into()),
            birth: date(1980, 1, 1),
            address: None,
            document_number: "USA110080101001".into(),
            issuing_authority: None,
            valid_from: Some(date(2018, 1, 1)),
            valid_to: Validity::Until(date(2028, 1, 1)),
            details: DocumentDetails::CnForeignPermanent2017 {
                card_version: "20".into(),
                authority_code: "1100".into(),
            },
            photo: Photo::Absent,
        };
        (bytes, identity)
    }

    // The English name is 42 characters, so it runs past the 35 characters at offset 52 into the
    // second part at offset 220; character 36, the first of the second part, is a space.
    const LONG_LATIN: &str = "ABDULRAHMAN BIN MOHAMMED AL-RASHIDI KHALID";

    fn foreign_2023_fixture() -> (Vec<u8>, Identity) {
        assert_eq!(&LONG_LATIN[34..36], "I ");
        let bytes = block(&[
            (0, "阿卜杜拉"),
            (30, "2"),
            (32, "00"),
            (36, "19850704"),
            (52, &LONG_LATIN[..35]),
            (122, "911276198507040025"),
            (188, "20230101"),
            (204, "20330101"),
            (220, &LONG_LATIN[35..]),
            (242, "SAU"),
            (248, "Y"),
        ]);
        let identity = Identity {
            kind: DocumentKind::CnForeignPermanent2023,
            name: "阿卜杜拉".into(),
            name_latin: Some(LONG_LATIN.into()),
            sex: Sex::Female,
            nation: None,
            nationality: Some("SAU".into()),
            birth: date(1985, 7, 4),
            address: None,
            document_number: "911276198507040025".into(),
            issuing_authority: None,
            valid_from: Some(date(2023, 1, 1)),
            valid_to: Validity::Until(date(2033, 1, 1)),
            details: DocumentDetails::CnForeignPermanent2023 {
                renewal_count: "00".into(),
                previous_card_link: String::new(),
            },
            photo: Photo::Absent,
        };
        (bytes, identity)
    }

    fn all_fixtures() -> [(TextLayout, (Vec<u8>, Identity)); 4] {
        [
            (TextLayout::Resident, resident_fixture()),
            (TextLayout::HmtResidence, hmt_fixture()),
            (TextLayout::ForeignPermanent2017, foreign_2017_fixture()),
            (TextLayout::ForeignPermanent2023, foreign_2023_fixture()),
        ]
    }

    #[test]
    fn each_layout_is_chosen_by_the_flag_at_offset_248() {
        for (layout, (bytes, _)) in all_fixtures() {
            assert_eq!(layout_of(&bytes), Ok(layout));
        }
    }

    #[test]
    fn each_layout_decodes_to_the_expected_identity() {
        for (layout, (bytes, expected)) in all_fixtures() {
            assert_eq!(parse_text_block(&bytes).unwrap(), expected, "{layout:?}");
        }
    }

    #[test]
    fn each_layout_encodes_to_the_hand_built_bytes() {
        for (layout, (bytes, identity)) in all_fixtures() {
            assert_eq!(
                encode_text_block(&identity).unwrap().to_vec(),
                bytes,
                "{layout:?}"
            );
        }
    }

    #[test]
    fn a_nul_flag_is_read_as_a_resident_card() {
        let (mut bytes, expected) = resident_fixture();
        bytes[248] = 0;
        bytes[249] = 0;
        assert_eq!(parse_text_block(&bytes).unwrap(), expected);
    }

    #[test]
    fn unknown_flag_is_reported_with_its_code() {
        let (mut bytes, _) = resident_fixture();
        bytes[248] = b'Q';
        assert_eq!(
            parse_text_block(&bytes),
            Err(TextBlockError::UnknownLayout { flag: 0x0051 })
        );
    }

    #[test]
    fn block_of_the_wrong_length_is_rejected() {
        assert_eq!(
            parse_text_block(&[0x20; 255]),
            Err(TextBlockError::WrongLength { len: 255 })
        );
    }

    #[test]
    fn long_term_validity_is_recognised_and_a_date_otherwise() {
        let (bytes, _) = resident_fixture();
        assert_eq!(
            parse_text_block(&bytes).unwrap().valid_to,
            Validity::LongTerm
        );
        let (bytes, _) = hmt_fixture();
        assert_eq!(
            parse_text_block(&bytes).unwrap().valid_to,
            Validity::Until(date(2025, 3, 1))
        );
    }

    #[test]
    fn table_of_field_errors_names_the_field_and_never_the_value() {
        let cases: [(usize, &str, TextBlockError); 6] = [
            (
                36,
                "19491332",
                TextBlockError::InvalidDate {
                    field: "birth date",
                },
            ),
            (
                188,
                "2015010A",
                TextBlockError::InvalidDate {
                    field: "valid-from date",
                },
            ),
            (
                204,
                "永久",
                TextBlockError::InvalidDate {
                    field: "valid-to date",
                },
            ),
            (30, "5", TextBlockError::InvalidCode { field: "sex" }),
            (32, "0A", TextBlockError::InvalidCode { field: "nation" }),
            (
                0,
                "               ",
                TextBlockError::MissingField { field: "name" },
            ),
        ];
        for (offset, text, expected) in cases {
            let (mut bytes, _) = resident_fixture();
            bytes[offset..offset + 2 * text.chars().count()].copy_from_slice(
                &text
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect::<Vec<u8>>(),
            );
            let error = parse_text_block(&bytes).unwrap_err();
            assert_eq!(error, expected);
            let message = error.to_string();
            assert!(
                !message.contains(text.trim()) || text.trim().is_empty(),
                "{message}"
            );
            assert!(!message.contains("张三"), "{message}");
        }
    }

    #[test]
    fn a_lone_surrogate_is_invalid_text() {
        let (mut bytes, _) = resident_fixture();
        bytes[0..2].copy_from_slice(&0xD800u16.to_le_bytes());
        assert_eq!(
            parse_text_block(&bytes),
            Err(TextBlockError::InvalidCharacters { field: "name" })
        );
    }

    #[test]
    fn a_foreign_card_without_chinese_name_uses_the_latin_name() {
        let (mut bytes, mut identity) = foreign_2017_fixture();
        bytes[158..188].copy_from_slice(&[0x20, 0x00].repeat(15));
        identity.name = "SMITH, JOHN PAUL".into();
        assert_eq!(parse_text_block(&bytes).unwrap(), identity);
        assert_eq!(encode_text_block(&identity).unwrap().to_vec(), bytes);
    }

    #[test]
    fn encoder_refuses_values_that_do_not_fit() {
        let (_, mut identity) = resident_fixture();
        identity.name = "一二三四五六七八九十一二三四五六".into();
        assert_eq!(
            encode_text_block(&identity),
            Err(TextBlockError::FieldTooLong {
                field: "name",
                max_chars: 15
            })
        );
        let (_, mut identity) = foreign_2023_fixture();
        identity.name_latin = Some("X".repeat(47));
        assert!(matches!(
            encode_text_block(&identity),
            Err(TextBlockError::FieldTooLong {
                field: "english name",
                max_chars: 46
            })
        ));
    }

    #[test]
    fn encoder_refuses_icao_identities_and_mismatched_details() {
        let (_, mut identity) = resident_fixture();
        identity.kind = DocumentKind::IcaoTd3;
        assert!(matches!(
            encode_text_block(&identity),
            Err(TextBlockError::NotACardIdentity { .. })
        ));
        let (_, mut identity) = resident_fixture();
        identity.kind = DocumentKind::CnForeignPermanent2017;
        assert!(matches!(
            encode_text_block(&identity),
            Err(TextBlockError::NotACardIdentity { .. })
        ));
    }

    #[test]
    fn card_message_keeps_the_wlt_photo_as_evidence() {
        let (text, mut expected) = resident_fixture();
        let photo: Vec<u8> = b"WLf".iter().copied().chain([0; 1021]).collect();
        let message = CardMessage {
            text,
            photo: photo.clone(),
            fingerprint: None,
        };
        expected.photo = Photo::Undecoded {
            format: UndecodedFormat::Wlt,
            bytes: photo,
        };
        let identity = parse_card_message(&message).unwrap();
        assert_eq!(identity, expected);
        assert_eq!(
            format!("{identity:?}"),
            "Identity { kind: CnResident, name: <redacted>, .. }"
        );
    }

    #[test]
    fn card_read_through_a_frame_round_trips_to_json() {
        // Full path: encoder -> 30 01 frame -> decoder -> text parser -> JSON and back.
        use crate::domain::sam_frame::{FrameDecoder, parse_base_message_response};
        let (_, identity) = hmt_fixture();
        let message = CardMessage {
            text: encode_text_block(&identity).unwrap().to_vec(),
            photo: vec![0x57; 1024],
            fingerprint: None,
        };
        let mut decoder = FrameDecoder::new();
        decoder.push(&message.to_response().unwrap().encode().unwrap());
        let frame = decoder.next_frame().unwrap().unwrap();
        let parsed = parse_card_message(&parse_base_message_response(&frame).unwrap()).unwrap();
        let json = serde_json::to_string(&parsed).unwrap();
        assert!(json.contains(r#""kind":"cn_hmt_residence""#), "{json}");
        assert!(json.contains(r#""type":"cn_hmt_residence""#), "{json}");
        assert_eq!(serde_json::from_str::<Identity>(&json).unwrap(), parsed);
    }

    #[test]
    fn appended_address_is_decoded_and_trimmed() {
        let bytes = block(&[(0, "北京市朝阳区")])[..70].to_vec();
        assert_eq!(decode_appended_address(&bytes).unwrap(), "北京市朝阳区");
        assert!(decode_appended_address(&[0x20]).is_err());
    }

    #[test]
    fn citizen_number_check_character_follows_gb_11643() {
        // The example number of GB 11643-1999 itself.
        assert_eq!(citizen_number_check_char("11010519491231002"), Some('X'));
        assert!(citizen_number_is_valid("11010519491231002X"));
        assert!(!citizen_number_is_valid("110105194912310021"));
        assert!(!citizen_number_is_valid("1101051949123100"));
        assert!(!citizen_number_is_valid("1101051949123100é"));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_text_parser(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_text_block(&bytes);
            let _ = decode_appended_address(&bytes);
        }

        #[test]
        fn random_blocks_with_each_flag_never_panic_the_text_parser(
            mut bytes in proptest::collection::vec(any::<u8>(), 256),
            flag in prop::sample::select(vec![b' ', b'J', b'I', b'Y', 0]),
        ) {
            bytes[248] = flag;
            bytes[249] = 0;
            let _ = parse_text_block(&bytes);
        }

        #[test]
        fn resident_names_of_up_to_15_characters_round_trip(name in "[\\u{4e00}-\\u{9fa5}·]{1,15}") {
            let (_, mut identity) = resident_fixture();
            identity.name = name;
            let block = encode_text_block(&identity).unwrap();
            prop_assert_eq!(parse_text_block(&block).unwrap(), identity);
        }
    }
}
