//! Owns the match decision: cosine score against a threshold that is bound to the hashes of the
//! models it was calibrated for. It does not compute embeddings or calibrate thresholds (see
//! `eval`).

use serde::Serialize;
use std::collections::BTreeMap;

use super::embed::Embedding;
use super::error::FaceError;
use super::settings::DecisionSettings;

/// The outcome of comparing two faces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub score_cosine: f32,
    pub threshold_cosine: f32,
    pub is_match: bool,
}

/// A threshold that has been checked against the loaded models.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundThreshold {
    threshold_cosine: f32,
}

impl BoundThreshold {
    /// Checks that every model the threshold was calibrated with is loaded with the same
    /// SHA-256 (`loaded`: role -> actual hash). A calibrated role that is not loaded is an error.
    pub fn bind(
        settings: &DecisionSettings,
        loaded: &BTreeMap<String, String>,
    ) -> Result<Self, FaceError> {
        if !(-1.0..=1.0).contains(&settings.threshold_cosine) {
            return Err(FaceError::InvalidSettings(format!(
                "threshold_cosine {} is outside -1..=1",
                settings.threshold_cosine
            )));
        }
        if !settings.calibrated_models_sha256.contains_key("feature") {
            return Err(FaceError::InvalidSettings(
                "decision.calibrated_models_sha256 must name at least the feature model".into(),
            ));
        }
        for (role, calibrated) in &settings.calibrated_models_sha256 {
            let actual = loaded
                .get(role)
                .cloned()
                .unwrap_or_else(|| "<not loaded>".into());
            if !calibrated.eq_ignore_ascii_case(&actual) {
                return Err(FaceError::ThresholdNotCalibrated {
                    role: role.clone(),
                    calibrated: calibrated.clone(),
                    actual,
                });
            }
        }
        Ok(BoundThreshold {
            threshold_cosine: settings.threshold_cosine,
        })
    }

    pub fn threshold_cosine(&self) -> f32 {
        self.threshold_cosine
    }

    pub fn decide(&self, a: &Embedding, b: &Embedding) -> Result<Decision, FaceError> {
        let score_cosine = a.cosine(b)?;
        Ok(Decision {
            score_cosine,
            threshold_cosine: self.threshold_cosine,
            is_match: score_cosine >= self.threshold_cosine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DecisionSettings {
        let mut m = BTreeMap::new();
        m.insert("feature".to_string(), "abc".to_string());
        DecisionSettings {
            threshold_cosine: 0.34,
            calibrated_models_sha256: m,
        }
    }

    #[test]
    fn threshold_refuses_a_different_model() {
        let mut loaded = BTreeMap::new();
        loaded.insert("feature".to_string(), "def".to_string());
        let err = BoundThreshold::bind(&settings(), &loaded);
        assert!(matches!(err, Err(FaceError::ThresholdNotCalibrated { .. })));
    }

    #[test]
    fn threshold_decides_at_the_boundary() -> Result<(), FaceError> {
        let mut loaded = BTreeMap::new();
        loaded.insert("feature".to_string(), "ABC".to_string());
        let t = BoundThreshold::bind(&settings(), &loaded)?;
        let a = Embedding::from_values(vec![1.0, 0.0], "abc").ok_or(FaceError::NoFace)?;
        let b = Embedding::from_values(vec![0.34, (1.0f32 - 0.34 * 0.34).sqrt()], "abc")
            .ok_or(FaceError::NoFace)?;
        let c = Embedding::from_values(vec![0.0, 1.0], "abc").ok_or(FaceError::NoFace)?;
        assert!(t.decide(&a, &b)?.is_match);
        assert!(!t.decide(&a, &c)?.is_match);
        Ok(())
    }

    #[test]
    fn embeddings_of_different_models_are_not_compared() {
        let a = Embedding::from_values(vec![1.0, 0.0], "abc");
        let b = Embedding::from_values(vec![1.0, 0.0], "def");
        let r = a.zip(b).map(|(a, b)| a.cosine(&b));
        assert!(matches!(r, Some(Err(FaceError::IncomparableEmbeddings(_)))));
    }

    #[test]
    fn embedding_debug_is_redacted() {
        let a = Embedding::from_values(vec![0.123_456, 0.5], "abc");
        let text = format!("{a:?}");
        assert!(text.contains("redacted") && !text.contains("0.2"));
    }
}
