//! The short reference people read out over a counter: 9 Crockford Base32 characters and a check
//! character, grouped `XXX-XXX-XXXX`, taken from 45 random bits of the record id (the hex digits
//! 21–23 and 25–32 of its text, and the first bit of digit 33). It is *derived*, never stored:
//! anyone holding the record id computes it, and a store finds the record by [`ShortReference::key`].
//! Two records share a reference with a chance of about n²/2^46, so a search may name more than one.
//! Pure.

use crate::domain::crockford::{self, TypedCodeError};
use crate::domain::record::RecordId;

/// Characters of a reference, the check character included.
pub const REFERENCE_CHARS: usize = 10;

/// A well-formed short reference (normalised: 10 upper-case characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShortReference(String);

/// The 64 bits after the id's variant: bits 2.. of byte 8 onwards.
fn random_bits(id: &RecordId) -> u64 {
    let bytes = id.as_bytes();
    let tail = bytes
        .iter()
        .skip(8)
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    // Drop the two variant bits: the random bits lead.
    tail << 2
}

impl ShortReference {
    /// The reference of a record.
    pub fn of(id: &RecordId) -> ShortReference {
        ShortReference(crockford::encode(
            &random_bits(id).to_be_bytes(),
            REFERENCE_CHARS - 1,
        ))
    }

    /// Reads a reference as a person typed it (case, spaces and hyphens do not matter).
    pub fn parse(text: &str) -> Result<ShortReference, TypedCodeError> {
        crockford::parse(text, REFERENCE_CHARS).map(ShortReference)
    }

    /// The 10 characters without grouping.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown and read aloud: `XXX-XXX-XXXX`.
    pub fn grouped(&self) -> String {
        crockford::grouped(&self.0, &[3, 3])
    }

    /// The 11 lower-case hex digits every record with this reference has in its id's text at
    /// positions 20–23 and 25–31 (1-based: `substr(id, 20, 4) || substr(id, 25, 7)`), so a store
    /// can find the candidates; [`ShortReference::of`] tells them apart (one more bit).
    pub fn key(&self) -> String {
        // The 45 bits are bits 2..=46 of the id's last 8 bytes (bit 0 the most significant);
        // bits 0 and 1 are the variant, "10". Hex digits 0..=10 of those bytes are bits 0..=43.
        let bits45 = self
            .0
            .bytes()
            .take(REFERENCE_CHARS - 1)
            .map(|byte| {
                crockford::ALPHABET
                    .iter()
                    .position(|&c| c == byte)
                    .map_or(0, |p| p as u64)
            })
            .fold(0u64, |acc, value| (acc << 5) | value);
        let digits = (0b10 << 42) | (bits45 >> 3);
        format!("{digits:011x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::UnixMs;

    fn id(random: [u8; 10]) -> RecordId {
        RecordId::v7(UnixMs(1_796_608_800_000), random)
    }

    #[test]
    fn a_reference_is_ten_characters_read_back_however_typed() {
        let reference = ShortReference::of(&id([7; 10]));
        let grouped = reference.grouped();
        assert_eq!(grouped.len(), 12);
        assert_eq!(&grouped[3..4], "-");
        assert_eq!(
            ShortReference::parse(&grouped.to_lowercase()),
            Ok(reference)
        );
    }

    #[test]
    fn the_key_is_the_text_a_store_matches_in_the_id() {
        for seed in 0..64u8 {
            let random: [u8; 10] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let id = id(random);
            let text = id.to_string();
            let in_id = format!("{}{}", &text[19..23], &text[24..31]);
            assert_eq!(ShortReference::of(&id).key(), in_id, "{text}");
        }
    }

    #[test]
    fn ids_differing_in_the_random_bits_get_other_references() {
        let a = ShortReference::of(&id([1; 10]));
        let b = ShortReference::of(&id([2; 10]));
        assert_ne!(a, b);
    }
}
