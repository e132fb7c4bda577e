//! Shared by the benchmarks: a plausible record draft with made-up document data (no real person).

use std::collections::BTreeMap;

use enroll_core::domain::card_read::Verification;
use enroll_core::domain::document::{CalendarDate, DocumentKind, Sex, Validity};
use enroll_core::domain::record::{
    CardEvidenceSummary, DocumentData, FaceEvidence, RecordDraft, RecordId,
};
use enroll_core::domain::tier::Tier;
use enroll_core::domain::time::UnixMs;

/// A draft for `terminal_id` with the given id and creation time.
pub fn draft(
    id: RecordId,
    terminal_id: &str,
    now_ms: UnixMs,
) -> Result<RecordDraft, Box<dyn std::error::Error>> {
    let birth = CalendarDate::new(1980, 1, 1).map_err(|e| e.to_string())?;
    Ok(RecordDraft {
        id,
        terminal_id: terminal_id.into(),
        created_at_unix_ms: now_ms,
        tier: Tier::Officer,
        officer_id: Some("badge".into()),
        supervisor_id: None,
        document: DocumentData {
            kind: DocumentKind::IcaoTd3,
            document_number: "X0000000".into(),
            name: "BENCH, RECORD".into(),
            name_latin: None,
            sex: Sex::Unspecified,
            nationality: Some("UTO".into()),
            birth,
            valid_from: None,
            valid_to: Validity::LongTerm,
            issuing_authority: None,
        },
        card_verification: Verification::NotVerified {
            reason: "benchmark".into(),
        },
        card_evidence: CardEvidenceSummary {
            ef_sod_sha256: None,
            data_groups: vec![1, 2],
            sam_text_block: false,
        },
        face: FaceEvidence {
            compared: true,
            score_cosine: Some(0.7),
            threshold_cosine: 0.314,
            is_match: true,
            models_sha256: BTreeMap::new(),
            quality_passed: true,
            quality_reasons: vec![],
            quality_components: vec![],
            live_probability: None,
            override_by: None,
        },
    })
}
