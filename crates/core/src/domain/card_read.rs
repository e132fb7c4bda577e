//! What one read of an identity card yields, whatever the reader: the identity, how the card was
//! verified, and the raw evidence. Also the access key an ICAO chip needs. It does not read cards.
//!
//! This is the JSON that `kiosk card read --json` prints and `kiosk enroll --document` takes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::document::Identity;
use crate::domain::mrz::MrzAccessKey;

/// What unlocks an ICAO chip (BAC or PACE). SAM cards need none.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum AccessKey {
    /// No key: SAM readers, or a chip without access control.
    #[default]
    None,
    /// Document number, birth date and expiry from the MRZ (BAC, or PACE with the MRZ password).
    Mrz(MrzAccessKey),
    /// The card access number printed on the card (PACE).
    Can(String),
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessKey::None => f.write_str("AccessKey::None"),
            AccessKey::Mrz(_) => f.write_str("AccessKey::Mrz(<redacted>)"),
            AccessKey::Can(_) => f.write_str("AccessKey::Can(<redacted>)"),
        }
    }
}

/// How the terminal convinced itself that the card is genuine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case")]
pub enum Verification {
    /// The reader's Ministry of Public Security SAM authenticated the card (resident-ID readers).
    Sam {
        /// The SAM's id, in its conventional rendering (`05.01-20101018-0123456789-1234567890`).
        sam_id: String,
    },
    /// ICAO passive authentication: EF.SOD signature, document signer chained to a trusted CSCA,
    /// and the hashes of every data group read.
    PassiveAuthentication {
        /// Whether every step held.
        passed: bool,
        /// Why it failed, when it did (e.g. "data group 2 hash mismatch"); no personal data.
        failure: Option<String>,
        /// The subject of the CSCA the document signer chained to, when it did.
        csca_subject: Option<String>,
    },
    /// Nothing verified the card (e.g. a chip without EF.SOD); the record says why.
    NotVerified {
        /// Why not.
        reason: String,
    },
}

/// The bytes the card delivered, kept verbatim as evidence (sealed in the record, never logged).
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RawEvidence {
    /// The SAM read response's text block (256 bytes), for SAM cards.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_base64"
    )]
    pub sam_text_block: Option<Vec<u8>>,
    /// ICAO data groups as read (number, bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_groups: Vec<DataGroupBytes>,
    /// ICAO EF.SOD as read.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_base64"
    )]
    pub ef_sod: Option<Vec<u8>>,
}

impl fmt::Debug for RawEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEvidence")
            .field(
                "sam_text_block_len",
                &self.sam_text_block.as_ref().map(Vec::len),
            )
            .field("data_groups", &self.data_groups.len())
            .field("ef_sod_len", &self.ef_sod.as_ref().map(Vec::len))
            .finish()
    }
}

/// One ICAO data group as read from the chip.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataGroupBytes {
    /// The data group number (1 for DG1, 2 for DG2, …).
    pub number: u8,
    /// The whole file, tag and length included.
    #[serde(with = "crate::domain::document::base64_bytes")]
    pub bytes: Vec<u8>,
}

/// One complete read of an identity card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRead {
    /// Format version of this JSON.
    pub format: u32,
    /// Who the card says its holder is, with the photo.
    pub identity: Identity,
    /// How the card was verified.
    pub verification: Verification,
    /// The bytes behind it.
    pub evidence: RawEvidence,
    /// The reader that read it (backend and device; no personal data).
    pub reader: String,
}

/// The current `CardRead::format`.
pub const CARD_READ_FORMAT: u32 = 1;

mod optional_base64 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::document::base64_bytes;

    pub fn serialize<S: Serializer>(value: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => base64_bytes::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "base64_bytes")] Vec<u8>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(bytes)| bytes))
    }
}
