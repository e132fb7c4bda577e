//! Owns the embedding model (fr_feature.onnx) and the `Embedding` type: aligned 112x112 face in,
//! L2-normalised vector out. It does not detect, align or decide matches.

use image::RgbImage;

use super::error::FaceError;
use super::onnx::OnnxModel;
use super::settings::{FeatureSettings, OnnxExecutor};

/// An L2-normalised face embedding, tagged with the SHA-256 of the model that made it.
///
/// Biometric data: it implements neither `Display` nor a revealing `Debug`.
#[derive(Clone, PartialEq)]
pub struct Embedding {
    values: Vec<f32>,
    model_sha256: String,
}

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Embedding {{ len: {}, values: <redacted> }}",
            self.values.len()
        )
    }
}

impl Embedding {
    /// Builds an embedding from raw values (normalised here); `None` if empty or not finite.
    pub fn from_values(values: Vec<f32>, model_sha256: impl Into<String>) -> Option<Self> {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if values.is_empty() || !(norm.is_finite() && norm > 0.0) {
            return None;
        }
        Some(Embedding {
            values: values.iter().map(|v| v / norm).collect(),
            model_sha256: model_sha256.into(),
        })
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    /// Cosine similarity (dot product of unit vectors), or an error when the embeddings come
    /// from different models or have different lengths.
    pub fn cosine(&self, other: &Embedding) -> Result<f32, FaceError> {
        if self.model_sha256 != other.model_sha256 {
            return Err(FaceError::IncomparableEmbeddings(
                "they were computed by different models".into(),
            ));
        }
        if self.values.len() != other.values.len() {
            return Err(FaceError::IncomparableEmbeddings(format!(
                "lengths differ ({} vs {})",
                self.values.len(),
                other.values.len()
            )));
        }
        Ok(self
            .values
            .iter()
            .zip(&other.values)
            .map(|(a, b)| a * b)
            .sum::<f32>()
            .clamp(-1.0, 1.0))
    }
}

/// The embedding model.
pub struct Embedder {
    model: OnnxModel,
    settings: FeatureSettings,
}

impl Embedder {
    pub fn load(settings: &FeatureSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        Ok(Embedder {
            model: OnnxModel::load("feature", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    pub fn settings(&self) -> &FeatureSettings {
        &self.settings
    }

    fn raw(&self, aligned: &RgbImage) -> Result<Vec<f32>, FaceError> {
        let outputs = self.model.run_patch(aligned)?;
        self.model.output(&outputs, 0, self.settings.embedding_len)
    }

    /// Embeds an aligned face of the model's input size.
    pub fn embed_aligned(&self, aligned: &RgbImage) -> Result<Embedding, FaceError> {
        let input = self.model.input();
        if aligned.width() != input.width_px || aligned.height() != input.height_px {
            return Err(FaceError::AlignmentFailed(format!(
                "aligned face is {}x{}, the model needs {}x{}",
                aligned.width(),
                aligned.height(),
                input.width_px,
                input.height_px
            )));
        }
        let mut values = self.raw(aligned)?;
        if self.settings.flip_average {
            let flipped = image::imageops::flip_horizontal(aligned);
            let other = self.raw(&flipped)?;
            let unit = |v: &[f32]| {
                let n = v
                    .iter()
                    .map(|x| x * x)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                v.iter().map(|x| x / n).collect::<Vec<f32>>()
            };
            let a = unit(&values);
            let b = unit(&other);
            values = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        }
        Embedding::from_values(values, self.model.sha256()).ok_or_else(|| FaceError::Inference {
            role: "feature".into(),
            detail: "the embedding is zero or not finite".into(),
        })
    }
}
