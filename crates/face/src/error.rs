//! Owns the crate's error type `FaceError`; it does not decide policy (which errors a UI retries).
//!
//! Messages are lowercase, name the problem and the remedy, and never carry image contents or
//! embedding values.

use thiserror::Error;

/// Everything that can go wrong in the face engine.
#[derive(Debug, Error)]
pub enum FaceError {
    /// A model or settings file could not be read.
    #[error("cannot read {role} file {path}: {source}; check the path in the engine settings")]
    ModelRead {
        role: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The SHA-256 of a model file differs from the configured one.
    #[error(
        "{role} model {path} has sha256 {actual} but the settings expect {expected}; \
         restore the original model or update the settings (and recalibrate the threshold)"
    )]
    ModelHashMismatch {
        role: String,
        path: String,
        expected: String,
        actual: String,
    },
    /// The decision threshold was calibrated for different model files.
    #[error(
        "the decision threshold was calibrated for a {role} model with sha256 {calibrated}, \
         but the loaded one has {actual}; recalibrate with `kiosk face calibrate` for this model"
    )]
    ThresholdNotCalibrated {
        role: String,
        calibrated: String,
        actual: String,
    },
    /// The ONNX runtime (tract) refused to load or optimise a model.
    #[error(
        "cannot prepare {role} model: {detail}; check that the file is a valid onnx model with the configured input size"
    )]
    ModelLoad { role: String, detail: String },
    /// Running a model failed.
    #[error("{role} model inference failed: {detail}; check the configured input size and model")]
    Inference { role: String, detail: String },
    /// A model returned an output of an unexpected shape.
    #[error(
        "{role} model returned {got} values where {expected} were expected; check that the configured model matches its settings"
    )]
    UnexpectedOutput {
        role: String,
        expected: usize,
        got: usize,
    },
    /// The settings are internally inconsistent.
    #[error("invalid engine settings: {0}; fix the settings file")]
    InvalidSettings(String),
    /// The bytes are not a decodable image.
    #[error("the input is not a readable image ({0}); supply a jpeg, png or bmp file")]
    ImageDecode(String),
    /// The image is larger than the configured limit.
    #[error(
        "the image is {width_px}x{height_px} pixels, above the limit of {max_side_px} per side; downscale it before submitting"
    )]
    ImageTooLarge {
        width_px: u32,
        height_px: u32,
        max_side_px: u32,
    },
    /// The image is too small to contain a usable face.
    #[error(
        "the image is {width_px}x{height_px} pixels, too small for face analysis (minimum {min_side_px} per side); supply a larger image"
    )]
    ImageTooSmall {
        width_px: u32,
        height_px: u32,
        min_side_px: u32,
    },
    /// No face was found.
    #[error(
        "no face was found in the image; supply an image with one clearly visible, frontal face"
    )]
    NoFace,
    /// A face was found but its landmarks could not be placed usably.
    #[error("the face could not be aligned ({0}); supply a sharper, more frontal image")]
    AlignmentFailed(String),
    /// Two embeddings cannot be compared.
    #[error("embeddings are not comparable: {0}; compute both with the same engine and models")]
    IncomparableEmbeddings(String),
    /// Encoding an output image failed.
    #[error("cannot encode the portrait image: {0}; check the portrait settings")]
    Encode(String),
    /// An evaluation input file (pairs list) is malformed.
    #[error("the evaluation input is malformed: {0}; fix the pairs file")]
    EvalInput(String),
}

impl FaceError {
    pub(crate) fn inference(role: &str, err: impl std::fmt::Display) -> Self {
        FaceError::Inference {
            role: role.to_string(),
            detail: err.to_string(),
        }
    }
}
