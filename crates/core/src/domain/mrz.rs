//! ICAO 9303 machine-readable zones: TD1 (3×30), TD2 (2×36) and TD3 (2×44) parsing with every
//! check digit, the BAC key material (`MRZ_information`) and typed access keys
//! (`DOC,YYMMDD,YYMMDD`). Does not talk to scanners or chips and does not derive keys (see
//! `crypto::bac`).

use std::fmt;

use thiserror::Error;

use crate::domain::document::{
    CalendarDate, DocumentDetails, DocumentKind, Identity, Photo, Sex, Validity, days_in_month,
};

/// The MRZ filler character.
pub const FILLER: char = '<';

/// The value of an MRZ character for check digits: `0`–`9` as themselves, `A`–`Z` as 10–35, `<` as 0.
pub fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        'A'..='Z' => Some(u32::from(c) - u32::from('A') + 10),
        FILLER => Some(0),
        _ => None,
    }
}

/// The ICAO 9303 check digit (weights 7, 3, 1 repeating, sum mod 10) of `text`, or `None` if it
/// holds a character outside `0-9 A-Z <`.
pub fn check_digit(text: &str) -> Option<char> {
    let mut sum = 0u32;
    for (c, weight) in text.chars().zip([7u32, 3, 1].into_iter().cycle()) {
        sum = (sum + char_value(c)? * weight) % 10;
    }
    char::from_digit(sum, 10)
}

/// The three MRZ sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzFormat {
    /// Three lines of 30 characters (ID cards).
    Td1,
    /// Two lines of 36 characters.
    Td2,
    /// Two lines of 44 characters (passport booklets).
    Td3,
}

impl MrzFormat {
    /// (number of lines, characters per line).
    pub fn shape(self) -> (usize, usize) {
        match self {
            Self::Td1 => (3, 30),
            Self::Td2 => (2, 36),
            Self::Td3 => (2, 44),
        }
    }

    /// The document kind for this format.
    pub fn document_kind(self) -> DocumentKind {
        match self {
            Self::Td1 => DocumentKind::IcaoTd1,
            Self::Td2 => DocumentKind::IcaoTd2,
            Self::Td3 => DocumentKind::IcaoTd3,
        }
    }

    fn from_shape(lines: usize, width: usize) -> Option<Self> {
        [Self::Td1, Self::Td2, Self::Td3]
            .into_iter()
            .find(|format| format.shape() == (lines, width))
    }
}

/// The MRZ fields protected by a check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzField {
    /// Document number.
    DocumentNumber,
    /// Date of birth.
    BirthDate,
    /// Date of expiry.
    ExpiryDate,
    /// Personal number / optional data (TD3).
    PersonalNumber,
    /// The composite check digit over the upper and middle fields.
    Composite,
}

impl fmt::Display for MrzField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DocumentNumber => "document number",
            Self::BirthDate => "date of birth",
            Self::ExpiryDate => "date of expiry",
            Self::PersonalNumber => "personal number",
            Self::Composite => "composite",
        })
    }
}

/// Errors while reading an MRZ or a typed access key. Messages never contain MRZ contents.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MrzError {
    /// Not 3×30, 2×36 or 2×44 characters.
    #[error(
        "machine-readable zone has {lines} line(s) of {width} characters, expected 3×30, 2×36 or \
         2×44; rescan the document"
    )]
    WrongShape {
        /// Lines found.
        lines: usize,
        /// Length of the first line (or of the whole text when it had no line breaks).
        width: usize,
    },
    /// A character outside `0-9 A-Z <`.
    #[error(
        "machine-readable zone line {line} has an invalid character at position {position}; rescan \
         the document"
    )]
    InvalidCharacter {
        /// Line, from 1.
        line: usize,
        /// Position in the line, from 1.
        position: usize,
    },
    /// A check digit does not match its field.
    #[error(
        "the {field} check digit does not match; rescan the document, or type the data by hand \
         from the printed page"
    )]
    CheckDigit {
        /// Which check digit failed.
        field: MrzField,
    },
    /// A date field is not a valid YYMMDD date.
    #[error("the {field} is not a valid YYMMDD date; rescan the document or type it by hand")]
    InvalidDate {
        /// Which date.
        field: MrzField,
    },
    /// The sex field is not `M`, `F`, `X` or `<`.
    #[error("the sex field holds an unknown code; rescan the document")]
    InvalidSex,
    /// A long document number continued in the optional data is malformed.
    #[error(
        "the document number continuation in the optional data is malformed; rescan the document"
    )]
    MalformedLongDocumentNumber,
    /// A typed access key is not `DOC,YYMMDD,YYMMDD`.
    #[error(
        "access key must be document number, date of birth and date of expiry as \
         DOC,YYMMDD,YYMMDD; {problem}"
    )]
    TypedKey {
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// A `YYMMDD` date from an MRZ; the century is not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MrzDate {
    yy: u8,
    month: u8,
    day: u8,
}

impl MrzDate {
    /// Parses six digits `YYMMDD`. 29 February is accepted in years divisible by four.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let part = |range: std::ops::Range<usize>| text.get(range)?.parse::<u8>().ok();
        let (yy, month, day) = (part(0..2)?, part(2..4)?, part(4..6)?);
        // 20yy is a leap year exactly when yy is divisible by 4, so this allows every day that
        // exists in either century.
        let max_day = days_in_month(2000 + u16::from(yy), month);
        (day >= 1 && day <= max_day).then_some(Self { yy, month, day })
    }

    /// Two-digit year.
    pub fn yy(self) -> u8 {
        self.yy
    }

    /// Month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Day, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The six digits.
    pub fn to_yymmdd(self) -> String {
        format!("{:02}{:02}{:02}", self.yy, self.month, self.day)
    }

    /// The date in the given century (e.g. 1900 or 2000), if it exists there.
    pub fn in_century(self, century: u16) -> Option<CalendarDate> {
        CalendarDate::new(century + u16::from(self.yy), self.month, self.day).ok()
    }

    /// Reads the date as a date of birth: the latest century that does not put it after `today`.
    pub fn as_birth_date(self, today: CalendarDate) -> Option<CalendarDate> {
        let century = today.year() / 100 * 100;
        match self.in_century(century) {
            Some(date) if date <= today => Some(date),
            _ => self.in_century(century.checked_sub(100)?),
        }
    }

    /// Reads the date as a date of expiry: the century that puts it at most 50 years after
    /// `today`.
    pub fn as_expiry_date(self, today: CalendarDate) -> Option<CalendarDate> {
        let century = today.year() / 100 * 100;
        let date = self.in_century(century)?;
        if date.year() > today.year() + 50 {
            self.in_century(century.checked_sub(100)?)
        } else if date.year() + 50 < today.year() {
            self.in_century(century + 100)
        } else {
            Some(date)
        }
    }
}

/// A parsed, check-digit-verified MRZ. Personal data: no `Display`, `Debug` shows only the format.
#[derive(Clone, PartialEq, Eq)]
pub struct Mrz {
    /// TD1, TD2 or TD3.
    pub format: MrzFormat,
    /// Document code without fillers (`P`, `I`, `ID`, `AC`…).
    pub document_code: String,
    /// Issuing state or organization (ISO 3166-1 alpha-3 or ICAO code, e.g. `UTO`).
    pub issuing_state: String,
    /// Primary identifier (surname), fillers read as spaces.
    pub primary_identifier: String,
    /// Secondary identifier (given names), fillers read as spaces.
    pub secondary_identifier: String,
    /// Document number without fillers, including any continuation from the optional data.
    pub document_number: String,
    /// Nationality code.
    pub nationality: String,
    /// Date of birth.
    pub birth: MrzDate,
    /// Sex.
    pub sex: Sex,
    /// Date of expiry.
    pub expiry: MrzDate,
    /// Personal number (TD3) or optional data (TD1 line 1, TD2), fillers trimmed.
    pub optional_data: String,
    /// Optional data of TD1 line 2, fillers trimmed; empty for TD2 and TD3.
    pub optional_data_2: String,
    lines: Vec<String>,
}

impl fmt::Debug for Mrz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mrz")
            .field("format", &self.format)
            .field("document_number", &crate::domain::document::REDACTED)
            .finish_non_exhaustive()
    }
}

/// A fixed-position slice of an MRZ line; the line is known to be ASCII of the right length.
fn at(line: &str, start: usize, end: usize) -> &str {
    line.get(start..end).unwrap_or("")
}

fn one(line: &str, position: usize) -> char {
    at(line, position, position + 1)
        .chars()
        .next()
        .unwrap_or(FILLER)
}

fn trim_fillers(text: &str) -> String {
    text.trim_matches(FILLER).to_owned()
}

fn verify(field_text: &str, digit: char, field: MrzField) -> Result<(), MrzError> {
    if check_digit(field_text) == Some(digit) {
        Ok(())
    } else {
        Err(MrzError::CheckDigit { field })
    }
}

fn date(text: &str, field: MrzField) -> Result<MrzDate, MrzError> {
    MrzDate::parse(text).ok_or(MrzError::InvalidDate { field })
}

/// Splits the name field into primary and secondary identifiers.
fn split_name(field: &str) -> (String, String) {
    let (primary, secondary) = field.split_once("<<").unwrap_or((field, ""));
    let words = |part: &str| {
        part.split(FILLER)
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (words(primary), words(secondary))
}

/// Reads the document number field, following a long number into the optional data (ICAO 9303-5
/// §4.2.4: a `<` in the check digit position means the number continues in the optional data,
/// ended by its check digit). Returns the number, the remaining optional data and a check result.
fn document_number(
    number_field: &str,
    check: char,
    optional: &str,
) -> Result<(String, String), MrzError> {
    if check != FILLER {
        verify(number_field, check, MrzField::DocumentNumber)?;
        return Ok((trim_fillers(number_field), trim_fillers(optional)));
    }
    let run_len = optional.find(FILLER).unwrap_or(optional.len());
    let (run, rest) = optional
        .split_at_checked(run_len)
        .ok_or(MrzError::MalformedLongDocumentNumber)?;
    let (continuation, digit) = match run.char_indices().last() {
        Some((index, digit)) if index > 0 => (at(run, 0, index), digit),
        _ => return Err(MrzError::MalformedLongDocumentNumber),
    };
    let number = format!("{number_field}{continuation}");
    verify(&number, digit, MrzField::DocumentNumber)?;
    Ok((number, trim_fillers(rest)))
}

impl Mrz {
    /// Parses an MRZ given as its lines (separated by line breaks) or as one run of 90, 72 or 88
    /// characters (as in DG1), and verifies every check digit.
    pub fn parse(text: &str) -> Result<Self, MrzError> {
        let mut lines: Vec<&str> = text.split_whitespace().collect();
        if let [single] = lines.as_slice() {
            let width = match single.len() {
                90 => 30,
                72 => 36,
                88 => 44,
                other => {
                    return Err(MrzError::WrongShape {
                        lines: 1,
                        width: other,
                    });
                }
            };
            if !single.is_ascii() {
                return Err(MrzError::WrongShape {
                    lines: 1,
                    width: single.chars().count(),
                });
            }
            let single = *single;
            lines = (0..single.len() / width)
                .map(|i| at(single, i * width, (i + 1) * width))
                .collect();
        }
        let width = lines.first().map_or(0, |line| line.chars().count());
        let format = MrzFormat::from_shape(lines.len(), width)
            .filter(|_| lines.iter().all(|line| line.chars().count() == width))
            .ok_or(MrzError::WrongShape {
                lines: lines.len(),
                width,
            })?;
        for (line_index, line) in lines.iter().enumerate() {
            if let Some(position) = line.chars().position(|c| char_value(c).is_none()) {
                return Err(MrzError::InvalidCharacter {
                    line: line_index + 1,
                    position: position + 1,
                });
            }
        }
        let lines: Vec<String> = lines.into_iter().map(str::to_owned).collect();
        match format {
            MrzFormat::Td1 => Self::parse_td1(lines),
            MrzFormat::Td2 | MrzFormat::Td3 => Self::parse_two_line(format, lines),
        }
    }

    fn parse_td1(lines: Vec<String>) -> Result<Self, MrzError> {
        let [l1, l2, l3] = [0, 1, 2].map(|i| lines.get(i).map_or("", String::as_str));
        let (document_number, optional_data) =
            document_number(at(l1, 5, 14), one(l1, 14), at(l1, 15, 30))?;
        verify(at(l2, 0, 6), one(l2, 6), MrzField::BirthDate)?;
        verify(at(l2, 8, 14), one(l2, 14), MrzField::ExpiryDate)?;
        let composite = format!(
            "{}{}{}{}",
            at(l1, 5, 30),
            at(l2, 0, 7),
            at(l2, 8, 15),
            at(l2, 18, 29)
        );
        verify(&composite, one(l2, 29), MrzField::Composite)?;
        let (primary_identifier, secondary_identifier) = split_name(l3);
        Ok(Self {
            format: MrzFormat::Td1,
            document_code: trim_fillers(at(l1, 0, 2)),
            issuing_state: trim_fillers(at(l1, 2, 5)),
            primary_identifier,
            secondary_identifier,
            document_number,
            nationality: trim_fillers(at(l2, 15, 18)),
            birth: date(at(l2, 0, 6), MrzField::BirthDate)?,
            sex: Sex::from_icao_code(one(l2, 7)).ok_or(MrzError::InvalidSex)?,
            expiry: date(at(l2, 8, 14), MrzField::ExpiryDate)?,
            optional_data,
            optional_data_2: trim_fillers(at(l2, 18, 29)),
            lines,
        })
    }

    fn parse_two_line(format: MrzFormat, lines: Vec<String>) -> Result<Self, MrzError> {
        let [l1, l2] = [0, 1].map(|i| lines.get(i).map_or("", String::as_str));
        let width = format.shape().1;
        // TD3: personal number 28..42 with its own check digit at 42; TD2: optional data 28..35.
        let optional_end = width - 1 - usize::from(format == MrzFormat::Td3);
        let (document_number, optional_data) = if format == MrzFormat::Td3 {
            verify(at(l2, 0, 9), one(l2, 9), MrzField::DocumentNumber)?;
            let personal = at(l2, 28, 42);
            let digit = one(l2, 42);
            // An all-filler personal number may carry `<` or `0` as its check digit.
            let blank_ok = personal.chars().all(|c| c == FILLER) && matches!(digit, '<' | '0');
            if !blank_ok {
                verify(personal, digit, MrzField::PersonalNumber)?;
            }
            (trim_fillers(at(l2, 0, 9)), trim_fillers(personal))
        } else {
            document_number(at(l2, 0, 9), one(l2, 9), at(l2, 28, optional_end))?
        };
        verify(at(l2, 13, 19), one(l2, 19), MrzField::BirthDate)?;
        verify(at(l2, 21, 27), one(l2, 27), MrzField::ExpiryDate)?;
        let composite = format!(
            "{}{}{}",
            at(l2, 0, 10),
            at(l2, 13, 20),
            at(l2, 21, width - 1)
        );
        verify(&composite, one(l2, width - 1), MrzField::Composite)?;
        let (primary_identifier, secondary_identifier) = split_name(at(l1, 5, width));
        Ok(Self {
            format,
            document_code: trim_fillers(at(l1, 0, 2)),
            issuing_state: trim_fillers(at(l1, 2, 5)),
            primary_identifier,
            secondary_identifier,
            document_number,
            nationality: trim_fillers(at(l2, 10, 13)),
            birth: date(at(l2, 13, 19), MrzField::BirthDate)?,
            sex: Sex::from_icao_code(one(l2, 20)).ok_or(MrzError::InvalidSex)?,
            expiry: date(at(l2, 21, 27), MrzField::ExpiryDate)?,
            optional_data,
            optional_data_2: String::new(),
            lines,
        })
    }

    /// The lines as read.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The lines joined without separators, as stored in DG1.
    pub fn to_dg1_string(&self) -> String {
        self.lines.concat()
    }

    /// The BAC key material of this document.
    pub fn access_key(&self) -> MrzAccessKey {
        MrzAccessKey {
            document_number: self.document_number.clone(),
            birth: self.birth,
            expiry: self.expiry,
        }
    }

    /// The MRZ as an identity. Two-digit years are resolved against `today` (births in the past,
    /// expiries within 50 years). Photo absent; authority is the issuing state.
    pub fn to_identity(&self, today: CalendarDate) -> Result<Identity, MrzError> {
        let birth = self
            .birth
            .as_birth_date(today)
            .ok_or(MrzError::InvalidDate {
                field: MrzField::BirthDate,
            })?;
        let expiry = self
            .expiry
            .as_expiry_date(today)
            .ok_or(MrzError::InvalidDate {
                field: MrzField::ExpiryDate,
            })?;
        let name = if self.secondary_identifier.is_empty() {
            self.primary_identifier.clone()
        } else {
            format!("{}, {}", self.primary_identifier, self.secondary_identifier)
        };
        Ok(Identity {
            kind: self.format.document_kind(),
            name: name.clone(),
            name_latin: Some(name),
            sex: self.sex,
            nation: None,
            nationality: Some(self.nationality.clone()),
            birth,
            address: None,
            document_number: self.document_number.clone(),
            issuing_authority: Some(self.issuing_state.clone()),
            valid_from: None,
            valid_to: Validity::Until(expiry),
            details: DocumentDetails::None,
            photo: Photo::Absent,
        })
    }
}

/// The BAC/PACE key material: document number, date of birth, date of expiry. Personal data:
/// `Debug` redacts the document number.
#[derive(Clone, PartialEq, Eq)]
pub struct MrzAccessKey {
    document_number: String,
    birth: MrzDate,
    expiry: MrzDate,
}

impl fmt::Debug for MrzAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MrzAccessKey(<redacted>)")
    }
}

impl MrzAccessKey {
    /// A key from its parts; the document number must be `0-9 A-Z` (fillers are dropped).
    pub fn new(document_number: &str, birth: MrzDate, expiry: MrzDate) -> Result<Self, MrzError> {
        let document_number = trim_fillers(document_number);
        if document_number.is_empty() {
            return Err(MrzError::TypedKey {
                problem: "the document number is empty",
            });
        }
        if !document_number
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            return Err(MrzError::TypedKey {
                problem: "the document number may hold only letters A-Z and digits",
            });
        }
        Ok(Self {
            document_number,
            birth,
            expiry,
        })
    }

    /// Parses a key typed as `DOC,YYMMDD,YYMMDD` (spaces around parts ignored, letters
    /// upper-cased); the check digits are computed, not typed.
    pub fn parse_typed(text: &str) -> Result<Self, MrzError> {
        let parts: Vec<String> = text
            .split(',')
            .map(|p| p.trim().to_ascii_uppercase())
            .collect();
        let [number, birth, expiry] = parts.as_slice() else {
            return Err(MrzError::TypedKey {
                problem: "it needs exactly three parts separated by commas",
            });
        };
        let birth = MrzDate::parse(birth).ok_or(MrzError::TypedKey {
            problem: "the date of birth is not a valid YYMMDD date",
        })?;
        let expiry = MrzDate::parse(expiry).ok_or(MrzError::TypedKey {
            problem: "the date of expiry is not a valid YYMMDD date",
        })?;
        Self::new(number, birth, expiry)
    }

    /// Document number without fillers.
    pub fn document_number(&self) -> &str {
        &self.document_number
    }

    /// Date of birth.
    pub fn birth(&self) -> MrzDate {
        self.birth
    }

    /// Date of expiry.
    pub fn expiry(&self) -> MrzDate {
        self.expiry
    }

    /// The `MRZ_information` string hashed into the BAC key seed (ICAO 9303-11 §9.7.2): document
    /// number `<`-padded to 9 characters (longer numbers in full) and its check digit, date of
    /// birth and check digit, date of expiry and check digit.
    pub fn mrz_information(&self) -> String {
        let number = format!("{:<<9}", self.document_number);
        let birth = self.birth.to_yymmdd();
        let expiry = self.expiry.to_yymmdd();
        let digit = |text: &str| check_digit(text).unwrap_or(FILLER);
        format!(
            "{number}{}{birth}{}{expiry}{}",
            digit(&number),
            digit(&birth),
            digit(&expiry)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ICAO 9303-4 specimen (TD3), Anna Maria Eriksson of Utopia.
    const TD3: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
    // ICAO 9303-5 specimen (TD1).
    const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
    // ICAO 9303-6 specimen (TD2).
    const TD2: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6";
    // ICAO 9303-11 Appendix D worked example (older TD3 specimen with a 8-character number).
    const TD3_APPENDIX_D: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C<3UTO6908061F9406236ZE184226B<<<<<14";

    fn mrz_date(text: &str) -> MrzDate {
        MrzDate::parse(text).unwrap()
    }

    #[test]
    fn check_digits_follow_the_7_3_1_rule() {
        // Values from the specimens above.
        assert_eq!(check_digit("L898902C3"), Some('6'));
        assert_eq!(check_digit("740812"), Some('2'));
        assert_eq!(check_digit("120415"), Some('9'));
        assert_eq!(check_digit("ZE184226B<<<<<"), Some('1'));
        assert_eq!(check_digit("L898902C<"), Some('3'));
        assert_eq!(check_digit("D23145890"), Some('7'));
        assert_eq!(check_digit(""), Some('0'));
        assert_eq!(check_digit("abc"), None);
        assert_eq!(char_value('<'), Some(0));
        assert_eq!(char_value('A'), Some(10));
        assert_eq!(char_value('Z'), Some(35));
    }

    #[test]
    fn td3_specimen_is_parsed_with_every_field() {
        let mrz = Mrz::parse(TD3).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td3);
        assert_eq!(mrz.document_code, "P");
        assert_eq!(mrz.issuing_state, "UTO");
        assert_eq!(mrz.primary_identifier, "ERIKSSON");
        assert_eq!(mrz.secondary_identifier, "ANNA MARIA");
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.birth, mrz_date("740812"));
        assert_eq!(mrz.sex, Sex::Female);
        assert_eq!(mrz.expiry, mrz_date("120415"));
        assert_eq!(mrz.optional_data, "ZE184226B");
        assert_eq!(
            mrz.access_key().mrz_information(),
            "L898902C3674081221204159"
        );
    }

    #[test]
    fn td1_specimen_is_parsed_with_every_field() {
        let mrz = Mrz::parse(TD1).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td1);
        assert_eq!(mrz.document_code, "I");
        assert_eq!(mrz.document_number, "D23145890");
        assert_eq!(mrz.primary_identifier, "ERIKSSON");
        assert_eq!(mrz.secondary_identifier, "ANNA MARIA");
        assert_eq!(mrz.nationality, "UTO");
        assert_eq!(mrz.sex, Sex::Female);
        assert_eq!(mrz.optional_data, "");
        assert_eq!(
            mrz.access_key().mrz_information(),
            "D23145890774081221204159"
        );
    }

    #[test]
    fn td2_specimen_is_parsed_with_every_field() {
        let mrz = Mrz::parse(TD2).unwrap();
        assert_eq!(mrz.format, MrzFormat::Td2);
        assert_eq!(mrz.document_number, "D23145890");
        assert_eq!(mrz.secondary_identifier, "ANNA MARIA");
        assert_eq!(mrz.expiry, mrz_date("120415"));
    }

    #[test]
    fn appendix_d_mrz_gives_the_documented_mrz_information() {
        let mrz = Mrz::parse(TD3_APPENDIX_D).unwrap();
        assert_eq!(mrz.document_number, "L898902C");
        assert_eq!(
            mrz.access_key().mrz_information(),
            "L898902C<369080619406236"
        );
    }

    #[test]
    fn mrz_as_one_run_of_characters_is_split_into_lines() {
        for text in [TD1, TD2, TD3] {
            let run: String = text.split('\n').collect();
            let from_run = Mrz::parse(&run).unwrap();
            assert_eq!(from_run, Mrz::parse(text).unwrap());
            assert_eq!(from_run.to_dg1_string(), run);
        }
        assert!(Mrz::parse(&TD3.replace('\n', "\r\n")).is_ok());
    }

    /// Changes one character of an MRZ (line and position from 0).
    fn corrupt(text: &str, line: usize, position: usize, with: char) -> String {
        let mut lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
        lines[line][position] = with;
        lines
            .iter()
            .map(|l| l.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn each_failing_check_digit_is_named() {
        let cases = [
            (TD3, 1, 9, MrzField::DocumentNumber),
            (TD3, 1, 19, MrzField::BirthDate),
            (TD3, 1, 27, MrzField::ExpiryDate),
            (TD3, 1, 42, MrzField::PersonalNumber),
            (TD3, 1, 43, MrzField::Composite),
            (TD1, 0, 14, MrzField::DocumentNumber),
            (TD1, 1, 6, MrzField::BirthDate),
            (TD1, 1, 14, MrzField::ExpiryDate),
            (TD1, 1, 29, MrzField::Composite),
            (TD2, 1, 9, MrzField::DocumentNumber),
            (TD2, 1, 19, MrzField::BirthDate),
            (TD2, 1, 27, MrzField::ExpiryDate),
            (TD2, 1, 35, MrzField::Composite),
        ];
        for (text, line, position, field) in cases {
            let bad = corrupt(text, line, position, '8');
            let error = Mrz::parse(&bad).unwrap_err();
            assert_eq!(error, MrzError::CheckDigit { field }, "{bad}");
            assert!(error.to_string().contains(&field.to_string()));
            assert!(!error.to_string().contains("L898902C"));
        }
    }

    #[test]
    fn optional_data_without_its_own_check_digit_is_covered_by_the_composite() {
        // Optional data of TD1 line 2 has no check digit of its own; only the composite covers it.
        let bad = corrupt(TD1, 1, 20, 'X');
        assert_eq!(
            Mrz::parse(&bad),
            Err(MrzError::CheckDigit {
                field: MrzField::Composite
            })
        );
    }

    #[test]
    fn blank_personal_number_may_have_a_filler_check_digit() {
        let line2 = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<<4";
        let composite = check_digit(&format!(
            "{}{}{}",
            &line2[0..10],
            &line2[13..20],
            &line2[21..43]
        ))
        .unwrap();
        let line2 = format!("{}{composite}", &line2[..43]);
        let with_zero = format!("{}0{}", &line2[..42], &line2[43..]);
        let mrz_text = format!("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n{line2}");
        assert_eq!(Mrz::parse(&mrz_text).unwrap().optional_data, "");
        let composite0 = check_digit(&format!(
            "{}{}{}",
            &with_zero[0..10],
            &with_zero[13..20],
            &with_zero[21..43]
        ))
        .unwrap();
        let with_zero = format!("{}{composite0}", &with_zero[..43]);
        assert!(
            Mrz::parse(&format!(
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n{with_zero}"
            ))
            .is_ok()
        );
    }

    #[test]
    fn long_td1_document_number_continues_in_the_optional_data() {
        // ICAO 9303-5 example: document number D23145890734, check digit 9, continued after a `<`
        // in the check digit position. Line 2's composite is recomputed for this line 1.
        let line1 = "I<UTOD23145890<7349<<<<<<<<<<<";
        let line2_head = "7408122F1204159UTO<<<<<<<<<<<";
        let composite = check_digit(&format!(
            "{}{}{}{}",
            &line1[5..30],
            &line2_head[0..7],
            &line2_head[8..15],
            &line2_head[18..29]
        ))
        .unwrap();
        let text = format!("{line1}\n{line2_head}{composite}\nERIKSSON<<ANNA<MARIA<<<<<<<<<<");
        let mrz = Mrz::parse(&text).unwrap();
        assert_eq!(mrz.document_number, "D23145890734");
        assert_eq!(mrz.optional_data, "");
        // Longer numbers go into MRZ_information in full, with their own check digit.
        assert_eq!(
            mrz.access_key().mrz_information(),
            "D23145890734974081221204159"
        );
        let wrong = text.replacen("7349", "7348", 1);
        assert!(matches!(
            Mrz::parse(&wrong),
            Err(MrzError::CheckDigit { .. })
        ));
        let no_digit = text.replacen("<7349<", "<<<<<<", 1);
        assert_eq!(
            Mrz::parse(&no_digit),
            Err(MrzError::MalformedLongDocumentNumber)
        );
    }

    #[test]
    fn long_td2_document_number_continues_in_the_optional_data() {
        // Same rule as TD1 (ICAO 9303-6): `<` in position 10, continuation and check digit in
        // the optional data. Composite recomputed for this line.
        let head = "D23145890<UTO7408122F1204159734<<<<";
        assert_eq!(head.len(), 35);
        let composite = check_digit(&format!(
            "{}{}{}",
            &head[0..10],
            &head[13..20],
            &head[21..35]
        ))
        .unwrap();
        let head = head.replacen("734<", "7349", 1);
        let composite_fixed = check_digit(&format!(
            "{}{}{}",
            &head[0..10],
            &head[13..20],
            &head[21..35]
        ))
        .unwrap();
        assert_ne!(composite, composite_fixed);
        let text = format!("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\n{head}{composite_fixed}");
        let mrz = Mrz::parse(&text).unwrap();
        assert_eq!(mrz.document_number, "D23145890734");
        assert_eq!(mrz.optional_data, "");
    }

    #[test]
    fn wrong_shapes_and_characters_are_reported() {
        assert_eq!(
            Mrz::parse("P<UTO"),
            Err(MrzError::WrongShape { lines: 1, width: 5 })
        );
        assert_eq!(
            Mrz::parse(&TD3.replace('\n', "\nX\n")),
            Err(MrzError::WrongShape {
                lines: 3,
                width: 44
            })
        );
        assert_eq!(
            Mrz::parse(&corrupt(TD3, 0, 7, 'e')),
            Err(MrzError::InvalidCharacter {
                line: 1,
                position: 8
            })
        );
        assert!(matches!(
            Mrz::parse(&"é".repeat(44)),
            Err(MrzError::WrongShape { .. })
        ));
    }

    #[test]
    fn impossible_dates_and_sex_codes_are_rejected() {
        // 741312 has a valid check digit computed below but month 13.
        let line2 = format!(
            "L898902C36UTO741312{}F1204159ZE184226B<<<<<1",
            check_digit("741312").unwrap()
        );
        let composite = check_digit(&format!(
            "{}{}{}",
            &line2[0..10],
            &line2[13..20],
            &line2[21..43]
        ))
        .unwrap();
        let text = format!("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n{line2}{composite}");
        assert_eq!(
            Mrz::parse(&text),
            Err(MrzError::InvalidDate {
                field: MrzField::BirthDate
            })
        );
        let bad_sex = corrupt(TD3, 1, 20, 'Q');
        assert_eq!(Mrz::parse(&bad_sex), Err(MrzError::InvalidSex));
    }

    #[test]
    fn typed_access_key_computes_its_check_digits() {
        let key = MrzAccessKey::parse_typed("L898902C, 690806 ,940623").unwrap();
        assert_eq!(key.mrz_information(), "L898902C<369080619406236");
        let key = MrzAccessKey::parse_typed("l898902c<,690806,940623").unwrap();
        assert_eq!(key.document_number(), "L898902C");
        assert_eq!(format!("{key:?}"), "MrzAccessKey(<redacted>)");
    }

    #[test]
    fn malformed_typed_access_keys_say_what_is_wrong() {
        for (typed, fragment) in [
            ("L898902C,690806", "three parts"),
            ("L898902C,690806,940623,1", "three parts"),
            ("L898902C,691306,940623", "date of birth"),
            ("L898902C,690806,94062", "date of expiry"),
            (",690806,940623", "empty"),
            ("L89-8902C,690806,940623", "letters"),
        ] {
            let error = MrzAccessKey::parse_typed(typed).unwrap_err();
            assert!(error.to_string().contains(fragment), "{typed}: {error}");
        }
    }

    #[test]
    fn two_digit_years_are_resolved_against_today() {
        let today = CalendarDate::new(2026, 5, 1).unwrap();
        assert_eq!(
            mrz_date("740812").as_birth_date(today),
            CalendarDate::new(1974, 8, 12).ok()
        );
        assert_eq!(
            mrz_date("200101").as_birth_date(today),
            CalendarDate::new(2020, 1, 1).ok()
        );
        assert_eq!(
            mrz_date("260502").as_birth_date(today),
            CalendarDate::new(1926, 5, 2).ok()
        );
        assert_eq!(
            mrz_date("351231").as_expiry_date(today),
            CalendarDate::new(2035, 12, 31).ok()
        );
        assert_eq!(
            mrz_date("120415").as_expiry_date(today),
            CalendarDate::new(2012, 4, 15).ok()
        );
        assert_eq!(
            mrz_date("000229").as_birth_date(today),
            CalendarDate::new(2000, 2, 29).ok()
        );
        assert_eq!(MrzDate::parse("010229"), None);
    }

    #[test]
    fn mrz_becomes_a_redacted_identity() {
        let today = CalendarDate::new(2026, 5, 1).unwrap();
        let identity = Mrz::parse(TD3).unwrap().to_identity(today).unwrap();
        assert_eq!(identity.kind, DocumentKind::IcaoTd3);
        assert_eq!(identity.name, "ERIKSSON, ANNA MARIA");
        assert_eq!(identity.birth, CalendarDate::new(1974, 8, 12).unwrap());
        assert_eq!(
            identity.valid_to,
            Validity::Until(CalendarDate::new(2012, 4, 15).unwrap())
        );
        assert_eq!(
            format!("{identity:?}"),
            "Identity { kind: IcaoTd3, name: <redacted>, .. }"
        );
        assert_eq!(
            format!("{:?}", Mrz::parse(TD1).unwrap()),
            "Mrz { format: Td1, document_number: \"<redacted>\", .. }"
        );
    }

    proptest! {
        #[test]
        fn random_text_never_panics_the_mrz_parser(text in ".{0,120}") {
            let _ = Mrz::parse(&text);
            let _ = MrzAccessKey::parse_typed(&text);
        }

        #[test]
        fn random_mrz_alphabet_text_never_panics_the_parser(
            text in "[A-Z0-9<]{88}|[A-Z0-9<]{90}|[A-Z0-9<]{72}",
        ) {
            let _ = Mrz::parse(&text);
        }

        #[test]
        fn any_single_digit_change_in_the_td3_data_line_is_detected(position in 0usize..44, digit in 0u32..10) {
            let line2: Vec<char> = TD3.split('\n').nth(1).unwrap().chars().collect();
            let replacement = char::from_digit(digit, 10).unwrap();
            // Positions 28..42 are the personal number; fillers there are not digits.
            prop_assume!(line2[position] != replacement && line2[position].is_ascii_digit());
            prop_assert!(Mrz::parse(&corrupt(TD3, 1, position, replacement)).is_err());
        }
    }
}
