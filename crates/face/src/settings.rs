//! Owns `EngineSettings`: model paths, expected hashes, input sizes, normalisation and every
//! tunable number, as deserialisable data. It does not load models or validate hashes (the
//! engine does that at load).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::quality::QualitySettings;

/// A model file and the SHA-256 it must have (hex, lowercase). `None` skips the hash check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub path: PathBuf,
    pub sha256: Option<String>,
}

/// Channel layout a model expects.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
    /// One channel, BT.601 luma.
    Grey,
}

/// How an image patch becomes a tensor: `value = (pixel - mean[c]) * scale[c]`, NCHW.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TensorInput {
    pub width_px: u32,
    pub height_px: u32,
    pub channel_order: ChannelOrder,
    pub mean: [f32; 3],
    pub scale: [f32; 3],
}

impl TensorInput {
    pub fn channels(&self) -> usize {
        match self.channel_order {
            ChannelOrder::Grey => 1,
            ChannelOrder::Rgb | ChannelOrder::Bgr => 3,
        }
    }

    fn uniform(w: u32, h: u32, order: ChannelOrder, mean: f32, scale: f32) -> Self {
        TensorInput {
            width_px: w,
            height_px: h,
            channel_order: order,
            mean: [mean; 3],
            scale: [scale; 3],
        }
    }
}

/// SeetaFace (rustface) detector settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeetaSettings {
    pub model: ModelFile,
    /// rustface score threshold (its default is 3.85; 2.0 finds more faces on hard stills).
    pub score_threshold: f64,
    pub pyramid_scale_factor: f32,
    pub step_px: u32,
    /// Smallest face to find in stills, in input pixels (>= 20).
    pub still_min_face_px: u32,
    /// Longest side the still image is reduced to before detection.
    pub still_max_side_px: u32,
    /// Live frames are reduced to this width before detection.
    pub live_width_px: u32,
    /// Smallest face to find in live frames, in original frame pixels.
    pub live_min_face_px: u32,
    pub live_step_px: u32,
    pub live_pyramid_scale_factor: f32,
    /// Side of the square box the landmark model expects, as a multiple of the rustface box side
    /// (calibrated on the development set against the vendor detector's boxes).
    pub box_scale: f32,
    /// Vertical shift of that box centre, as a fraction of the rustface box side (+ = down).
    pub box_shift_y: f32,
}

/// UltraFace (fr_detect.onnx) detector settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UltraFaceSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Pad the image to the input aspect ratio instead of stretching it.
    pub letterbox: bool,
}

/// Which detector produces the face box for stills.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StillDetector {
    /// rustface only.
    Seeta,
    /// fr_detect.onnx only.
    UltraFace,
    /// fr_detect.onnx, and rustface when it finds nothing.
    UltraFaceThenSeeta,
    /// rustface, and fr_detect.onnx when it finds nothing.
    SeetaThenUltraFace,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LandmarkSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    /// Number of landmark points the model returns (68).
    pub points: usize,
    /// Re-run the landmark model on a box re-centred on the first landmarks.
    pub refine_passes: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeatureSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    pub embedding_len: usize,
    /// Where the 5 points (left eye, right eye, nose, left mouth, right mouth) land in the input.
    pub reference_points_px: [[f32; 2]; 5],
    /// Also embed the mirrored face and average (costs a second inference).
    pub flip_average: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LivenessSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    /// Crop side as a multiple of the face box side (vendor: 2.7).
    pub crop_scale: f32,
    /// Index of the softmax class that means "live" (vendor code reports class 0).
    pub live_class_index: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EyeSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    /// Eye crop side as a multiple of the eye-corner distance (vendor: 1.6).
    pub padding_rate: f32,
    /// Index of the softmax class that means "open" (class 0 is "closed" on the dev set).
    pub open_class_index: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoseSettings {
    pub model: ModelFile,
    pub input: TensorInput,
    /// The face box is grown by this fraction of its side on every edge (vendor: 0.25).
    pub box_expand: f32,
    pub bins: usize,
    pub bin_width_deg: f32,
    pub offset_deg: f32,
}

/// The verification threshold and the model hashes it was calibrated with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecisionSettings {
    pub threshold_cosine: f32,
    /// Role ("feature", "landmark", "seeta", "ultraface") -> SHA-256 of the model file used
    /// when the threshold was calibrated. The engine refuses to load on any difference.
    pub calibrated_models_sha256: BTreeMap<String, String>,
}

/// Input-size limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Encoded images with a larger side are refused before decoding.
    pub max_decode_side_px: u32,
    /// In-memory images with a larger side are area-downscaled before analysis.
    pub max_analysis_side_px: u32,
    /// Images with a smaller side are refused.
    pub min_side_px: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortraitSettings {
    pub width_px: u32,
    pub height_px: u32,
    /// Eye-centre midpoint position as fractions of width and height.
    pub eye_mid_x_frac: f32,
    pub eye_mid_y_frac: f32,
    /// Inter-eye distance as a fraction of the width.
    pub inter_eye_frac: f32,
    pub jpeg_quality: u8,
}

/// Which code runs the ONNX models.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnnxExecutor {
    /// The built-in executor (`face::cnn`) for every model it fully understands (the landmark
    /// and embedding models today), tract for the others.
    #[default]
    Auto,
    /// tract for every model.
    Tract,
}

/// Everything the engine needs; load from JSON or start from [`EngineSettings::for_models_dir`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Which code runs the ONNX models (default `auto`).
    #[serde(default)]
    pub executor: OnnxExecutor,
    pub seeta: SeetaSettings,
    pub ultraface: UltraFaceSettings,
    pub still_detector: StillDetector,
    /// The main face is the most central one among faces whose box side is at least this
    /// fraction of the largest.
    pub primary_face_min_size_ratio: f32,
    /// Run the passive liveness model in `analyze_frame` too (about 18 ms per frame on the
    /// reference machine); stills always get it.
    pub liveness_on_frames: bool,
    pub landmark: LandmarkSettings,
    pub feature: FeatureSettings,
    pub liveness: LivenessSettings,
    pub eye: EyeSettings,
    pub pose: PoseSettings,
    pub decision: DecisionSettings,
    pub limits: LimitSettings,
    pub quality_still: QualitySettings,
    pub quality_live: QualitySettings,
    pub portrait: PortraitSettings,
}

/// SHA-256 of the model files these defaults were calibrated with.
pub mod known_sha256 {
    pub const SEETA: &str = "c4619d066ed35e84d9a8e842860b0dff567aba0cbb139881075538761db3ff5d";
    pub const ULTRAFACE: &str = "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854";
    pub const LANDMARK: &str = "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258";
    pub const FEATURE: &str = "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581";
    pub const LIVENESS: &str = "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d";
    pub const EYE: &str = "1afcea006abc1ccac3c517022abde0aa092bed74ff3c9fe6878483ef9e6e38de";
    pub const POSE: &str = "72d032ec941b7153bf8d3f2c03a4c165453cc7e63d479041ec7c6ef087e5839d";
}

impl EngineSettings {
    /// Defaults for the shipped model files inside `dir` (file names as in the vendor package).
    pub fn for_models_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        let file = |name: &str, sha: &str| ModelFile {
            path: dir.join(name),
            sha256: Some(sha.to_string()),
        };
        let mut calibrated = BTreeMap::new();
        calibrated.insert("feature".to_string(), known_sha256::FEATURE.to_string());
        calibrated.insert("landmark".to_string(), known_sha256::LANDMARK.to_string());
        calibrated.insert("seeta".to_string(), known_sha256::SEETA.to_string());
        calibrated.insert("ultraface".to_string(), known_sha256::ULTRAFACE.to_string());
        EngineSettings {
            executor: OnnxExecutor::Auto,
            seeta: SeetaSettings {
                model: file("seeta_fd_frontal_v1.0.bin", known_sha256::SEETA),
                score_threshold: 2.0,
                pyramid_scale_factor: 0.8,
                step_px: 4,
                still_min_face_px: 40,
                still_max_side_px: 1024,
                live_width_px: 320,
                live_min_face_px: 80,
                live_step_px: 4,
                live_pyramid_scale_factor: 0.75,
                box_scale: 1.21,
                box_shift_y: -0.012,
            },
            ultraface: UltraFaceSettings {
                model: file("fr_detect.onnx", known_sha256::ULTRAFACE),
                input: TensorInput::uniform(320, 240, ChannelOrder::Rgb, 127.0, 1.0 / 128.0),
                score_threshold: 0.65,
                nms_iou: 0.4,
                letterbox: true,
            },
            still_detector: StillDetector::UltraFaceThenSeeta,
            primary_face_min_size_ratio: 0.5,
            liveness_on_frames: false,
            landmark: LandmarkSettings {
                model: file("fr_landmark.onnx", known_sha256::LANDMARK),
                input: TensorInput::uniform(64, 64, ChannelOrder::Grey, 0.0, 1.0 / 256.0),
                points: 68,
                refine_passes: 0,
            },
            feature: FeatureSettings {
                model: file("fr_feature.onnx", known_sha256::FEATURE),
                input: TensorInput::uniform(112, 112, ChannelOrder::Rgb, 127.0, 1.0 / 128.0),
                embedding_len: 512,
                reference_points_px: [
                    [38.294_6, 51.696_3],
                    [73.531_8, 51.501_4],
                    [56.025_2, 71.736_6],
                    [41.549_3, 92.365_5],
                    [70.729_9, 92.204_1],
                ],
                flip_average: false,
            },
            liveness: LivenessSettings {
                model: file("fr_liveness.onnx", known_sha256::LIVENESS),
                input: TensorInput::uniform(128, 128, ChannelOrder::Rgb, 0.0, 1.0),
                crop_scale: 2.7,
                live_class_index: 0,
            },
            eye: EyeSettings {
                model: file("fr_eye.onnx", known_sha256::EYE),
                input: TensorInput::uniform(24, 24, ChannelOrder::Grey, 0.0, 1.0 / 255.0),
                padding_rate: 1.6,
                open_class_index: 1,
            },
            pose: PoseSettings {
                model: file("fr_pose.onnx", known_sha256::POSE),
                input: TensorInput {
                    width_px: 224,
                    height_px: 224,
                    channel_order: ChannelOrder::Rgb,
                    mean: [0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0],
                    scale: [
                        1.0 / (0.229 * 255.0),
                        1.0 / (0.224 * 255.0),
                        1.0 / (0.225 * 255.0),
                    ],
                },
                box_expand: 0.25,
                bins: 66,
                bin_width_deg: 3.0,
                offset_deg: -99.0,
            },
            decision: DecisionSettings {
                threshold_cosine: 0.34,
                calibrated_models_sha256: calibrated,
            },
            limits: LimitSettings {
                max_decode_side_px: 8192,
                max_analysis_side_px: 2048,
                min_side_px: 48,
            },
            quality_still: QualitySettings::iso_portrait(),
            quality_live: QualitySettings::live_guidance(),
            portrait: PortraitSettings {
                width_px: 480,
                height_px: 640,
                eye_mid_x_frac: 0.5,
                eye_mid_y_frac: 0.4,
                inter_eye_frac: 0.25,
                jpeg_quality: 90,
            },
        }
    }

    /// Parses settings JSON (unknown fields are rejected).
    pub fn from_json(text: &str) -> Result<Self, super::error::FaceError> {
        serde_json::from_str(text)
            .map_err(|e| super::error::FaceError::InvalidSettings(e.to_string()))
    }

    /// The same settings with every relative model path joined onto `dir`.
    pub fn with_models_dir(mut self, dir: &Path) -> Self {
        for model in self.models_mut() {
            if model.path.is_relative() {
                model.path = dir.join(&model.path);
            }
        }
        self
    }

    /// Every model file, named by its role (the diagnostic bundle lists their hashes).
    pub fn models(&self) -> [(&'static str, &ModelFile); 7] {
        [
            ("seeta", &self.seeta.model),
            ("ultraface", &self.ultraface.model),
            ("landmark", &self.landmark.model),
            ("feature", &self.feature.model),
            ("liveness", &self.liveness.model),
            ("eye", &self.eye.model),
            ("pose", &self.pose.model),
        ]
    }

    fn models_mut(&mut self) -> [&mut ModelFile; 7] {
        [
            &mut self.seeta.model,
            &mut self.ultraface.model,
            &mut self.landmark.model,
            &mut self.feature.model,
            &mut self.liveness.model,
            &mut self.eye.model,
            &mut self.pose.model,
        ]
    }

    /// Values outside their allowed range, as `(dotted key, problem)`; empty when all are sane.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut range = |key: &str, value: f32, min: f32, max: f32| {
            if !(min..=max).contains(&value) || value.is_nan() {
                out.push((
                    key.to_owned(),
                    format!("{value} is out of range; allowed: {min} to {max}"),
                ));
            }
        };
        range(
            "decision.threshold_cosine",
            self.decision.threshold_cosine,
            -1.0,
            1.0,
        );
        range("seeta.box_scale", self.seeta.box_scale, 0.5, 3.0);
        range(
            "primary_face_min_size_ratio",
            self.primary_face_min_size_ratio,
            0.0,
            1.0,
        );
        for (name, q) in [
            ("quality_still", &self.quality_still),
            ("quality_live", &self.quality_live),
        ] {
            range(
                &format!("{name}.min_inter_eye_px"),
                q.min_inter_eye_px,
                0.0,
                2000.0,
            );
            range(
                &format!("{name}.max_abs_yaw_deg"),
                q.max_abs_yaw_deg,
                0.0,
                90.0,
            );
            range(
                &format!("{name}.max_abs_pitch_deg"),
                q.max_abs_pitch_deg,
                0.0,
                90.0,
            );
            range(
                &format!("{name}.max_abs_roll_deg"),
                q.max_abs_roll_deg,
                0.0,
                90.0,
            );
            range(
                &format!("{name}.min_face_height_frac"),
                q.min_face_height_frac,
                0.0,
                1.0,
            );
            range(
                &format!("{name}.max_face_height_frac"),
                q.max_face_height_frac,
                0.0,
                1.0,
            );
            range(
                &format!("{name}.max_centre_offset_frac"),
                q.max_centre_offset_frac,
                0.0,
                0.5,
            );
            range(
                &format!("{name}.min_mean_luma"),
                q.min_mean_luma,
                0.0,
                255.0,
            );
            range(
                &format!("{name}.max_mean_luma"),
                q.max_mean_luma,
                0.0,
                255.0,
            );
            range(
                &format!("{name}.min_eye_open_probability"),
                q.min_eye_open_probability,
                0.0,
                1.0,
            );
            if let Some(p) = q.min_live_probability {
                range(&format!("{name}.min_live_probability"), p, 0.0, 1.0);
            }
        }
        if self.limits.min_side_px < 1 || self.limits.max_analysis_side_px < self.limits.min_side_px
        {
            out.push((
                "limits".to_owned(),
                "need 1 <= min_side_px <= max_analysis_side_px".to_owned(),
            ));
        }
        out
    }
}
