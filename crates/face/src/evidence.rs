//! Turns the engine's analysis and decision into the face evidence an enrollment record carries
//! (`domain::record::FaceEvidence`), and one frame's analysis into what the liveness challenge
//! judges. It holds no thresholds and no embeddings.

use std::collections::BTreeMap;

use enroll_core::domain::challenge::ChallengeRecord;
use enroll_core::domain::record::{FaceEvidence, QualityEntry};

use super::{Analysis, Decision};

/// The record's face evidence: the live capture's analysis, the comparison with the card photo
/// (`None` when the card had no usable photo) and who, if anyone, overrode a non-match.
pub fn face_evidence(
    live: &Analysis,
    decision: Option<&Decision>,
    threshold_cosine: f32,
    models_sha256: &BTreeMap<String, String>,
    model_pack: &str,
    challenge: ChallengeRecord,
    override_by: Option<String>,
) -> FaceEvidence {
    FaceEvidence {
        compared: decision.is_some(),
        score_cosine: decision.map(|d| d.score_cosine),
        threshold_cosine,
        is_match: decision.is_some_and(|d| d.is_match),
        models_sha256: models_sha256.clone(),
        model_pack: Some(model_pack.to_owned()),
        liveness_challenge: challenge.outcome,
        liveness_challenge_waived: challenge.waived,
        quality_passed: live.quality.passed,
        quality_reasons: live.quality.reasons.iter().map(serde_name).collect(),
        quality_components: live
            .quality
            .components
            .iter()
            .map(|c| QualityEntry {
                check: serde_name(&c.check),
                value: c.value,
                passed: c.passed,
            })
            .collect(),
        live_probability: live
            .face
            .as_ref()
            .and_then(|f| f.liveness.as_ref())
            .map(|l| l.live_probability),
        override_by,
    }
}

/// The snake_case serde name of a unit enum variant.
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// What the active liveness challenge needs from one live frame's analysis: one face, the mean
/// eye aspect ratio and the yaw (`one_face` is false when the pack measures no aspect ratio).
pub fn challenge_observation(
    analysis: &Analysis,
    at_ms: u64,
) -> enroll_core::domain::challenge::Observation {
    let measured = analysis.face.as_ref().and_then(|face| {
        let eyes = face.eyes?;
        Some((
            (eyes.left_aspect_ratio? + eyes.right_aspect_ratio?) / 2.0,
            face.pose.yaw_deg,
        ))
    });
    let one_face = analysis.detections.len() == 1 && measured.is_some();
    let (eye_aspect_ratio, yaw_deg) = measured.unwrap_or((f32::NAN, f32::NAN));
    enroll_core::domain::challenge::Observation {
        at_ms,
        one_face,
        eye_aspect_ratio,
        yaw_deg,
    }
}
