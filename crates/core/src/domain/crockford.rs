//! Codes people read aloud, copy and type: Crockford's Base32 alphabet (no I, L, O or U), made
//! from the leading bits of some bytes, ended by a Luhn mod 32 check character, and read back from
//! what a person typed (case, spaces and hyphens ignored; I and L read as 1, O as 0). Shared by the
//! activation code and the short reference. Pure.

/// Crockford's Base32 alphabet.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why typed text is not a code of the expected length. Never repeats the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypedCodeError {
    #[error("the code has {expected} letters and digits; this has {found}")]
    Length { expected: usize, found: usize },
    #[error("character {0} of the code is not a letter or digit used in codes")]
    Character(usize),
    #[error("the code has a typing mistake: compare it character by character")]
    Check,
}

fn value_of(byte: u8) -> Option<u8> {
    let byte = match byte.to_ascii_uppercase() {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&c| c == byte)
        .and_then(|p| u8::try_from(p).ok())
}

fn char_of(value: u8) -> char {
    ALPHABET
        .get(usize::from(value & 31))
        .map_or('0', |&byte| char::from(byte))
}

/// Luhn mod 32 over values, read right to left; `with_check` tells whether the last value is the
/// check character (then a valid code sums to 0).
fn luhn_sum(values: &[u8], with_check: bool) -> u32 {
    let mut double = !with_check;
    let mut sum = 0u32;
    for &value in values.iter().rev() {
        let mut addend = u32::from(value) * if double { 2 } else { 1 };
        addend = addend / 32 + addend % 32;
        sum += addend;
        double = !double;
    }
    sum % 32
}

/// `data_chars` characters (at most 12) from the leading bits of `bits`, then the check
/// character.
pub fn encode(bits: &[u8], data_chars: usize) -> String {
    let data_chars = data_chars.min(12);
    let mut accumulator = 0u64;
    for (i, byte) in bits.iter().take(8).enumerate() {
        accumulator |= u64::from(*byte) << (56 - 8 * i);
    }
    let values: Vec<u8> = (0..data_chars)
        .map(|i| ((accumulator >> (59 - 5 * i)) & 31) as u8)
        .collect();
    let check = (32 - luhn_sum(&values, false)) % 32;
    let mut text: String = values.iter().map(|&v| char_of(v)).collect();
    text.push(char_of(check as u8));
    text
}

/// Reads a code of `chars` characters (check included) as a person typed it; the normalised
/// upper-case text.
pub fn parse(text: &str, chars: usize) -> Result<String, TypedCodeError> {
    let kept: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'-' | b'\t'))
        .collect();
    if kept.len() != chars {
        return Err(TypedCodeError::Length {
            expected: chars,
            found: kept.len(),
        });
    }
    let values = kept
        .iter()
        .enumerate()
        .map(|(n, byte)| value_of(*byte).ok_or(TypedCodeError::Character(n + 1)))
        .collect::<Result<Vec<u8>, _>>()?;
    if luhn_sum(&values, true) != 0 {
        return Err(TypedCodeError::Check);
    }
    Ok(values.iter().map(|&v| char_of(v)).collect())
}

/// `text` in groups of the given sizes joined by hyphens (the rest in a last group).
pub fn grouped(text: &str, sizes: &[usize]) -> String {
    let mut groups = Vec::new();
    let mut start = 0;
    for size in sizes {
        if let Some(group) = text.get(start..start + size) {
            groups.push(group);
            start += size;
        }
    }
    if let Some(rest) = text.get(start..).filter(|rest| !rest.is_empty()) {
        groups.push(rest);
    }
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_code_parses_back_and_every_single_typing_mistake_is_caught() {
        let good = encode(&[0x5a; 32], 9);
        assert_eq!(good.len(), 10);
        assert_eq!(parse(&good.to_lowercase(), 10), Ok(good.clone()));
        for position in 0..good.len() {
            for &replacement in ALPHABET {
                let mut typed = good.as_bytes().to_vec();
                if typed[position] == replacement {
                    continue;
                }
                typed[position] = replacement;
                let typed = String::from_utf8(typed).unwrap_or_default();
                assert_eq!(parse(&typed, 10), Err(TypedCodeError::Check));
            }
        }
    }

    #[test]
    fn groups_are_cut_as_asked() {
        assert_eq!(grouped("ABCDEFGHJK", &[3, 3]), "ABC-DEF-GHJK");
        assert_eq!(grouped("ABCD", &[4, 4]), "ABCD");
    }
}
