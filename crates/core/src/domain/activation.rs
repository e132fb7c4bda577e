//! The one-time activation code on the applicant's receipt: its text form (Crockford Base32,
//! grouped `XXXX-XXXX-XXXX`, the last character a Luhn mod 32 check), reading what a person typed,
//! and the part the registry looks codes up by. Pure: where the code's bits come from (the terminal
//! key, see `crypto`) and how the registry stores and spends codes are elsewhere.
//!
//! A code is 11 data characters (55 bits) and one check character. The first
//! [`LOOKUP_CHARS`] (25 bits) find the code in the registry; the other 30 bits are the secret part.
//! Wrong tries against a code's lookup count towards its lockout, so guessing is bounded by the
//! registry's limits, not by the length alone.

use std::fmt;

pub use crate::domain::crockford::ALPHABET;
use crate::domain::crockford::{self, TypedCodeError};

/// Data characters in a code.
pub const DATA_CHARS: usize = 11;
/// Characters a code has, the check character included.
pub const CODE_CHARS: usize = DATA_CHARS + 1;
/// The leading characters the registry finds a code by.
pub const LOOKUP_CHARS: usize = 5;
/// How long a code can be used after the enrollment.
pub const VALID_DAYS: i64 = 30;
/// Wrong tries after which a code is locked.
pub const MAX_WRONG_TRIES: u32 = 10;

/// A well-formed activation code (normalised: 12 upper-case characters, check included). Its
/// `Debug` does not show it: it is a secret until used.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ActivationCode(String);

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(<redacted>)")
    }
}

/// Why typed text is not an activation code (never repeats the text).
pub type ActivationCodeError = TypedCodeError;

impl ActivationCode {
    /// The code made from the first 55 bits of `bits` (secret, e.g. derived by the terminal).
    pub fn from_bits(bits: &[u8; 32]) -> ActivationCode {
        ActivationCode(crockford::encode(bits, DATA_CHARS))
    }

    /// Reads a code as a person typed it: case, spaces and hyphens do not matter; I and L read
    /// as 1, O as 0.
    pub fn parse(text: &str) -> Result<ActivationCode, ActivationCodeError> {
        crockford::parse(text, CODE_CHARS).map(ActivationCode)
    }

    /// The 12 characters without grouping (what is hashed and stored).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As printed: `XXXX-XXXX-XXXX`.
    pub fn grouped(&self) -> String {
        crockford::grouped(&self.0, &[4, 4])
    }

    /// The leading characters the registry finds the code by.
    pub fn lookup(&self) -> &str {
        self.0.get(..LOOKUP_CHARS).unwrap_or_default()
    }

    /// The address a phone's camera opens: the holder page with the code after `#` (a fragment
    /// never reaches a server's log).
    pub fn holder_link(&self, holder_page_url: &str) -> String {
        format!("{holder_page_url}#code={}", self.grouped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(seed: u8) -> ActivationCode {
        ActivationCode::from_bits(&[seed; 32])
    }

    #[test]
    fn a_code_reads_back_as_printed_and_as_typed_carelessly() {
        let printed = code(7).grouped();
        assert_eq!(printed.len(), 14);
        assert_eq!(ActivationCode::parse(&printed), Ok(code(7)));
        let careless = printed.to_lowercase().replace('-', " ");
        assert_eq!(ActivationCode::parse(&careless), Ok(code(7)));
    }

    #[test]
    fn letters_people_confuse_read_as_the_digits() {
        let digits = ActivationCode::from_bits(&[0u8; 32]);
        assert_eq!(digits.as_str(), "000000000000");
        assert_eq!(ActivationCode::parse("oOoO-0000-0000"), Ok(digits.clone()));
        let with_one = ActivationCode::parse(&digits.as_str().replace('0', "1"));
        let with_l = ActivationCode::parse(&digits.as_str().replace('0', "l"));
        assert_eq!(with_one, with_l);
    }

    #[test]
    fn every_single_typing_mistake_is_caught() {
        let good = code(0x5a);
        for position in 0..CODE_CHARS {
            for &replacement in ALPHABET {
                let mut typed = good.as_str().as_bytes().to_vec();
                if typed[position] == replacement {
                    continue;
                }
                typed[position] = replacement;
                let typed = String::from_utf8(typed).unwrap_or_default();
                assert_eq!(
                    ActivationCode::parse(&typed),
                    Err(ActivationCodeError::Check),
                    "position {position}"
                );
            }
        }
    }

    #[test]
    fn swapping_neighbours_is_caught_almost_always() {
        let mut caught = 0;
        let mut swaps = 0;
        for seed in 0..=255u8 {
            let good = code(seed);
            let bytes = good.as_str().as_bytes();
            for i in 0..CODE_CHARS - 1 {
                if bytes[i] == bytes[i + 1] {
                    continue;
                }
                let mut typed = bytes.to_vec();
                typed.swap(i, i + 1);
                swaps += 1;
                if ActivationCode::parse(&String::from_utf8(typed).unwrap_or_default()).is_err() {
                    caught += 1;
                }
            }
        }
        assert!(caught * 100 >= swaps * 95, "{caught} of {swaps}");
    }

    #[test]
    fn malformed_text_is_named_without_repeating_it() {
        assert_eq!(
            ActivationCode::parse("ABCD-EFGH"),
            Err(ActivationCodeError::Length {
                expected: 12,
                found: 8
            })
        );
        let error = ActivationCode::parse("ABCD-EFGH-JKU!").err();
        assert_eq!(error, Some(ActivationCodeError::Character(11)));
        assert!(!format!("{error:?}").contains("ABCD"));
        assert_eq!(format!("{:?}", code(1)), "ActivationCode(<redacted>)");
    }

    #[test]
    fn the_holder_link_carries_the_code_in_the_fragment() {
        let link = code(3).holder_link("https://id.example/holder/");
        assert!(link.starts_with("https://id.example/holder/#code="));
        assert!(link.ends_with(&code(3).grouped()));
        assert_eq!(code(3).lookup(), &code(3).as_str()[..5]);
    }
}
