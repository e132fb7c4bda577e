//! The applicant's receipt: the text of the QR code on the receipt screen. It names the record
//! (terminal id, record id, creation time, SHA-256 of the signed body) and carries the terminal's
//! Ed25519 signature over those fields, so anyone with the terminal's public key can check it
//! offline (`kiosk receipt verify`). It holds no personal data. Pure: signing and verifying are
//! `crypto`'s.
//!
//! Text form: `EKRCPT1.<terminal id>.<record id>.<created unix ms>.<body sha256 hex>.<signature hex>`
//! (no field can contain a dot). Signed bytes: the UTF-8 of
//! `enroll-kiosk applicant receipt v1\n<terminal id>\n<record id>\n<created unix ms>\n<body sha256 hex>`.

use crate::domain::time::UnixMs;
use std::str::FromStr as _;

use crate::domain::record::{RecordId, is_valid_terminal_id};

/// The first field of the text.
pub const PREFIX: &str = "EKRCPT1";

/// What a receipt says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicantReceipt {
    pub terminal_id: String,
    pub record_id: RecordId,
    pub created_at_unix_ms: UnixMs,
    /// Lowercase hex SHA-256 of the record's signed body.
    pub body_sha256: String,
}

/// Why a receipt text cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptTextError {
    #[error("not an enroll-kiosk receipt (it should start with {PREFIX}.)")]
    NotAReceipt,
    #[error("the receipt has {0} fields; 6 are expected")]
    FieldCount(usize),
    #[error("the receipt's {0} is malformed")]
    Field(&'static str),
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

impl ApplicantReceipt {
    /// The bytes the terminal signs.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "enroll-kiosk applicant receipt v1\n{}\n{}\n{}\n{}",
            self.terminal_id, self.record_id, self.created_at_unix_ms, self.body_sha256
        )
        .into_bytes()
    }

    /// The QR text with the terminal's signature over [`Self::signed_bytes`].
    pub fn to_text(&self, signature: &[u8; 64]) -> String {
        let signature: String = signature.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{PREFIX}.{}.{}.{}.{}.{signature}",
            self.terminal_id, self.record_id, self.created_at_unix_ms, self.body_sha256
        )
    }

    /// Reads a QR text; the signature still has to be verified.
    pub fn parse(text: &str) -> Result<(ApplicantReceipt, [u8; 64]), ReceiptTextError> {
        let fields: Vec<&str> = text.trim().split('.').collect();
        match fields.as_slice() {
            [
                prefix,
                terminal_id,
                record_id,
                created,
                body_sha256,
                signature,
            ] => {
                if *prefix != PREFIX {
                    return Err(ReceiptTextError::NotAReceipt);
                }
                if !is_valid_terminal_id(terminal_id) {
                    return Err(ReceiptTextError::Field("terminal id"));
                }
                let record_id = RecordId::from_str(record_id)
                    .map_err(|_| ReceiptTextError::Field("record id"))?;
                let created_at_unix_ms = created
                    .parse()
                    .map(UnixMs)
                    .map_err(|_| ReceiptTextError::Field("creation time"))?;
                if !is_lower_hex(body_sha256, 64) {
                    return Err(ReceiptTextError::Field("body hash"));
                }
                let signature = is_lower_hex(signature, 128)
                    .then(|| from_hex(signature))
                    .flatten()
                    .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                    .ok_or(ReceiptTextError::Field("signature"))?;
                Ok((
                    ApplicantReceipt {
                        terminal_id: (*terminal_id).to_owned(),
                        record_id,
                        created_at_unix_ms,
                        body_sha256: (*body_sha256).to_owned(),
                    },
                    signature,
                ))
            }
            [first, ..] if *first != PREFIX => Err(ReceiptTextError::NotAReceipt),
            other => Err(ReceiptTextError::FieldCount(other.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ApplicantReceipt {
        ApplicantReceipt {
            terminal_id: "DEMO-0001".into(),
            record_id: RecordId::v7(UnixMs(1_790_000_000_000), [7; 10]),
            created_at_unix_ms: UnixMs(1_790_000_000_000),
            body_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn the_text_reads_back_to_the_same_receipt_and_signature() {
        let signature = [0x5a; 64];
        let text = sample().to_text(&signature);
        assert!(text.starts_with("EKRCPT1.DEMO-0001."), "{text}");
        assert_eq!(ApplicantReceipt::parse(&text), Ok((sample(), signature)));
    }

    #[test]
    fn malformed_texts_say_what_is_wrong() {
        let text = sample().to_text(&[1; 64]);
        assert_eq!(
            ApplicantReceipt::parse("https://example.org"),
            Err(ReceiptTextError::NotAReceipt)
        );
        assert_eq!(
            ApplicantReceipt::parse(&text.replacen("EKRCPT1.", "EKRCPT1.x.", 1)),
            Err(ReceiptTextError::FieldCount(7))
        );
        assert_eq!(
            ApplicantReceipt::parse(&text.replace(&"ab".repeat(32), "zz")),
            Err(ReceiptTextError::Field("body hash"))
        );
        let short_signature = text.get(..text.len() - 2).unwrap_or_default();
        assert_eq!(
            ApplicantReceipt::parse(short_signature),
            Err(ReceiptTextError::Field("signature"))
        );
    }
}
