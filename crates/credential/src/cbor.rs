//! Strict reading of untrusted CBOR: one item and nothing after it, bounded depth and size, no
//! duplicate map keys. It only parses; what the items mean is `token`, `trust` and `status`.

use ciborium::Value;

/// Deepest nesting accepted (a token needs 5).
pub const MAX_DEPTH: usize = 16;
/// Most data items accepted in one document.
pub const MAX_ITEMS: usize = 4_096;

/// Why bytes are not acceptable CBOR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// Not well-formed CBOR.
    #[error("not well-formed CBOR")]
    Malformed,
    /// Bytes follow the first item.
    #[error("{0} bytes follow the CBOR item")]
    TrailingBytes(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("CBOR nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// More than [`MAX_ITEMS`] items.
    #[error("more than {MAX_ITEMS} CBOR items")]
    TooManyItems,
    /// A map repeats a key.
    #[error("a CBOR map repeats a key")]
    DuplicateKey,
}

/// Parses exactly one CBOR item from `bytes` and checks its shape.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, CborError> {
    let mut cursor = std::io::Cursor::new(bytes);
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut cursor, MAX_DEPTH + 4)
        .map_err(|error| match error {
        ciborium::de::Error::RecursionLimitExceeded => CborError::TooDeep,
        _ => CborError::Malformed,
    })?;
    let used = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
    if used < bytes.len() {
        return Err(CborError::TrailingBytes(bytes.len() - used));
    }
    let mut items = 0;
    check(&value, 0, &mut items)?;
    Ok(value)
}

fn check(value: &Value, depth: usize, items: &mut usize) -> Result<(), CborError> {
    if depth > MAX_DEPTH {
        return Err(CborError::TooDeep);
    }
    *items += 1;
    if *items > MAX_ITEMS {
        return Err(CborError::TooManyItems);
    }
    match value {
        Value::Array(elements) => {
            for element in elements {
                check(element, depth + 1, items)?;
            }
        }
        Value::Map(entries) => {
            for (index, (key, entry)) in entries.iter().enumerate() {
                if entries
                    .iter()
                    .skip(index + 1)
                    .any(|(other, _)| other == key)
                {
                    return Err(CborError::DuplicateKey);
                }
                check(key, depth + 1, items)?;
                check(entry, depth + 1, items)?;
            }
        }
        Value::Tag(_, inner) => check(inner, depth + 1, items)?,
        _ => {}
    }
    Ok(())
}

/// Encodes a value (infallible for values built in memory).
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail; an error here would be a ciborium bug.
    let _ = ciborium::into_writer(value, &mut bytes);
    bytes
}

/// The value under an integer key of a map.
pub fn int_key(entries: &[(Value, Value)], key: i64) -> Option<&Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

/// The value under a text key of a map.
pub fn text_key<'a>(entries: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// An integer value as i64.
pub fn as_i64(value: &Value) -> Option<i64> {
    value.as_integer().and_then(|i| i64::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_item_with_nothing_after_it_is_accepted() {
        assert_eq!(parse_strict(&[0x01]), Ok(Value::Integer(1.into())));
    }

    #[test]
    fn bytes_after_the_item_are_refused() {
        assert_eq!(
            parse_strict(&[0x01, 0x02]),
            Err(CborError::TrailingBytes(1))
        );
    }

    #[test]
    fn a_map_with_a_repeated_key_is_refused() {
        // {1: 2, 1: 3}
        assert_eq!(
            parse_strict(&[0xa2, 0x01, 0x02, 0x01, 0x03]),
            Err(CborError::DuplicateKey)
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x81; 40];
        bytes.push(0x00);
        assert_eq!(parse_strict(&bytes), Err(CborError::TooDeep));
    }

    #[test]
    fn truncated_input_is_malformed() {
        assert_eq!(parse_strict(&[0xa1, 0x01]), Err(CborError::Malformed));
    }
}
