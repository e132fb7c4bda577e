//! Shared by the benchmarks: a plausible record draft with made-up document data (no real person).

use std::collections::BTreeMap;

use enroll_core::domain::card_read::Verification;
use enroll_core::domain::document::DocumentKind;
use enroll_core::domain::record::{CardEvidenceSummary, FaceEvidence, RecordDraft, RecordId};
use enroll_core::domain::tier::Tier;
use enroll_core::domain::time::UnixMs;

/// A draft for `terminal_id` with the given id and creation time.
pub fn draft(
    id: RecordId,
    terminal_id: &str,
    now_ms: UnixMs,
) -> Result<RecordDraft, Box<dyn std::error::Error>> {
    Ok(RecordDraft {
        id,
        terminal_id: terminal_id.into(),
        created_at_unix_ms: now_ms,
        tier: Tier::Officer,
        officer_id: Some("badge".into()),
        supervisor_id: None,
        document_kind: DocumentKind::IcaoTd3,
        document_tag: None,
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
            model_pack: None,
            liveness_challenge: None,
            liveness_challenge_waived: None,
            quality_passed: true,
            quality_reasons: vec![],
            quality_components: vec![],
            live_probability: None,
            override_by: None,
        },
    })
}
