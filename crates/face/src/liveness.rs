//! Owns the presentation-attack and face-state models: passive liveness (fr_liveness.onnx),
//! eye openness (fr_eye.onnx) and head pose (fr_pose.onnx, plus a landmark-based estimate for
//! the live path). It reports probabilities and angles; thresholds live in `quality`.
//!
//! Pose: stills use the model's yaw and pitch (Hopenet-style 66 bins of 3 degrees, fed RGB: the
//! vendor's JS feeds BGR by accident, and RGB agrees better with landmark geometry on the dev
//! set, r 0.69 vs 0.52 for yaw) and the roll of the eye line, which the landmarks measure more
//! directly than the model. Live frames use the landmark geometry only (no extra 224x224
//! inference, ~12 ms saved), which is good enough for guidance. On LFW the model's pitch
//! averages -6 degrees, so treat the +-5 degree pitch check as approximate.

use image::RgbImage;
use serde::Serialize;

use super::error::FaceError;
use super::imaging::{Border, RectPx, crop_resize};
use super::landmarks::{FivePoints, Landmarks68};
use super::onnx::{OnnxModel, softmax};
use super::settings::{EyeSettings, LivenessSettings, OnnxExecutor, PoseSettings};

/// Passive liveness result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LivenessScore {
    /// Probability of the class configured as "live".
    pub live_probability: f32,
    pub class_probabilities: Vec<f32>,
}

/// Eye openness (image-left eye first): the eye model's probability (faceplugin pack), or the
/// eye aspect ratio mapped linearly onto 0..1 (open pack, which also reports the ratio itself).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EyeState {
    pub left_open_probability: f32,
    pub right_open_probability: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_aspect_ratio: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right_aspect_ratio: Option<f32>,
}

/// Where a pose estimate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoseSource {
    /// yaw/pitch from fr_pose.onnx, roll from the eye line.
    ModelAndEyeLine,
    /// all three from landmark geometry.
    Landmarks,
    /// all three from the 3-D face mesh (open pack).
    Mesh,
}

/// Head pose in degrees, in the pose model's convention: yaw positive when the face turns
/// towards the image's left, pitch positive when it tilts up; roll positive when the eye on the
/// image's right is lower.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HeadPose {
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub roll_deg: f32,
    pub source: PoseSource,
}

pub struct LivenessModel {
    model: OnnxModel,
    settings: LivenessSettings,
}

impl LivenessModel {
    pub fn load(settings: &LivenessSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        Ok(LivenessModel {
            model: OnnxModel::load("liveness", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    /// Crops `crop_scale` x the face box (capped to the image, moved inside it, as the vendor
    /// does), resizes to the input and classifies.
    pub fn score(&self, img: &RgbImage, face_box: RectPx) -> Result<LivenessScore, FaceError> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let scale = self
            .settings
            .crop_scale
            .min((h - 1.0) / face_box.height_px.max(1.0))
            .min((w - 1.0) / face_box.width_px.max(1.0))
            .max(0.1);
        let (cx, cy) = face_box.centre_px();
        let region = RectPx {
            x_px: cx - face_box.width_px * scale / 2.0,
            y_px: cy - face_box.height_px * scale / 2.0,
            width_px: face_box.width_px * scale,
            height_px: face_box.height_px * scale,
        }
        .shifted_inside(img.width(), img.height());
        let input = self.model.input();
        let patch = crop_resize(
            img,
            region,
            input.width_px,
            input.height_px,
            Border::Replicate,
        );
        let outputs = self.model.run_patch(&patch)?;
        let logits = outputs.first().cloned().unwrap_or_default();
        let probs = softmax(&logits);
        let live = probs.get(self.settings.live_class_index).copied().ok_or(
            FaceError::UnexpectedOutput {
                role: "liveness".into(),
                expected: self.settings.live_class_index + 1,
                got: probs.len(),
            },
        )?;
        Ok(LivenessScore {
            live_probability: live,
            class_probabilities: probs,
        })
    }
}

pub struct EyeModel {
    model: OnnxModel,
    settings: EyeSettings,
}

impl EyeModel {
    pub fn load(settings: &EyeSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        Ok(EyeModel {
            model: OnnxModel::load("eye", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    fn eye_open(
        &self,
        img: &RgbImage,
        lm: &Landmarks68,
        lids: [usize; 4],
        corners: [usize; 2],
    ) -> Result<f32, FaceError> {
        let mut cx = 0.0;
        let mut cy = 0.0;
        for i in lids {
            let p = lm
                .get(i)
                .ok_or_else(|| FaceError::AlignmentFailed("missing eye landmark".into()))?;
            cx += p.x_px / 4.0;
            cy += p.y_px / 4.0;
        }
        let [c0, c1] = corners;
        let (Some(p0), Some(p1)) = (lm.get(c0), lm.get(c1)) else {
            return Err(FaceError::AlignmentFailed("missing eye corner".into()));
        };
        let size = (p0.distance_px(&p1) * self.settings.padding_rate).max(4.0);
        let region = RectPx::square(cx, cy, size);
        let input = self.model.input();
        let patch = crop_resize(
            img,
            region,
            input.width_px,
            input.height_px,
            Border::Replicate,
        );
        let outputs = self.model.run_patch(&patch)?;
        let probs = softmax(&outputs.first().cloned().unwrap_or_default());
        probs
            .get(self.settings.open_class_index)
            .copied()
            .ok_or(FaceError::UnexpectedOutput {
                role: "eye".into(),
                expected: self.settings.open_class_index + 1,
                got: probs.len(),
            })
    }

    /// Eye crops are squares of `padding_rate` x the eye-corner distance around the eyelid
    /// points 37, 38, 40, 41 (43, 44, 46, 47), as in the vendor code.
    pub fn state(&self, img: &RgbImage, lm: &Landmarks68) -> Result<EyeState, FaceError> {
        Ok(EyeState {
            left_open_probability: self.eye_open(img, lm, [37, 38, 40, 41], [36, 39])?,
            right_open_probability: self.eye_open(img, lm, [43, 44, 46, 47], [42, 45])?,
            left_aspect_ratio: None,
            right_aspect_ratio: None,
        })
    }
}

pub struct PoseModel {
    model: OnnxModel,
    settings: PoseSettings,
}

impl PoseModel {
    pub fn load(settings: &PoseSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        if settings.bins == 0 {
            return Err(FaceError::InvalidSettings("pose.bins must be > 0".into()));
        }
        Ok(PoseModel {
            model: OnnxModel::load("pose", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    fn expectation_deg(&self, logits: &[f32]) -> f32 {
        let probs = softmax(logits);
        let idx: f32 = probs.iter().enumerate().map(|(i, p)| i as f32 * p).sum();
        idx * self.settings.bin_width_deg + self.settings.offset_deg
    }

    /// Yaw and pitch from the model (box grown by `box_expand` per side, clipped to the image),
    /// roll from the eye line.
    pub fn estimate(
        &self,
        img: &RgbImage,
        face_box: RectPx,
        five: &FivePoints,
    ) -> Result<HeadPose, FaceError> {
        let e = self.settings.box_expand;
        let x0 = (face_box.x_px - face_box.width_px * e).max(0.0);
        let y0 = (face_box.y_px - face_box.height_px * e).max(0.0);
        let x1 = (face_box.x_px + face_box.width_px * (1.0 + e)).min(img.width() as f32);
        let y1 = (face_box.y_px + face_box.height_px * (1.0 + e)).min(img.height() as f32);
        if !(x1 - x0 >= 2.0 && y1 - y0 >= 2.0) {
            return Err(FaceError::AlignmentFailed(
                "face box lies outside the image".into(),
            ));
        }
        let region = RectPx {
            x_px: x0,
            y_px: y0,
            width_px: x1 - x0,
            height_px: y1 - y0,
        };
        let input = self.model.input();
        let patch = crop_resize(
            img,
            region,
            input.width_px,
            input.height_px,
            Border::Replicate,
        );
        let outputs = self.model.run_patch(&patch)?;
        let n = self.settings.bins;
        let yaw = self.model.output(&outputs, 0, n)?;
        let pitch = self.model.output(&outputs, 1, n)?;
        Ok(HeadPose {
            yaw_deg: self.expectation_deg(&yaw),
            pitch_deg: self.expectation_deg(&pitch),
            roll_deg: five.eye_line_roll_deg(),
            source: PoseSource::ModelAndEyeLine,
        })
    }
}

/// Ratio of nose-tip depth (in front of the eye plane) to inter-eye distance for an average
/// adult head; converts the nose's sideways offset into a yaw angle.
const NOSE_DEPTH_PER_INTER_EYE: f32 = 0.55;
/// Frontal (pitch 0) position of the nose tip between eye line (0) and mouth line (1), taken
/// from the embedding model's reference points.
const FRONTAL_NOSE_FRACTION: f32 = 0.494;
/// Gain from the nose tip's height shift (fraction of eye-mouth distance) to sin(pitch); set so
/// the spread matches the pose model's on the development set.
const PITCH_GAIN: f32 = 1.25;

/// Pose from five points: roll from the eye line, yaw from the nose tip's sideways offset from
/// the eye/mouth midline, pitch from the nose tip's height between eye and mouth lines.
/// Geometric, uncalibrated per person: accurate to a few degrees near frontal.
pub fn pose_from_landmarks(five: &FivePoints) -> HeadPose {
    let roll_deg = five.eye_line_roll_deg();
    let r = -roll_deg.to_radians();
    let (sin, cos) = r.sin_cos();
    // De-roll around the eye midpoint.
    let mx = (five.left_eye.x_px + five.right_eye.x_px) / 2.0;
    let my = (five.left_eye.y_px + five.right_eye.y_px) / 2.0;
    let rot = |p: super::landmarks::PointPx| {
        let dx = p.x_px - mx;
        let dy = p.y_px - my;
        (dx * cos - dy * sin, dx * sin + dy * cos)
    };
    let inter_eye = five.inter_eye_px().max(1.0);
    let (nx, ny) = rot(five.nose_tip);
    let (mlx, mly) = rot(five.mouth_left);
    let (mrx, mry) = rot(five.mouth_right);
    let mouth_x = (mlx + mrx) / 2.0;
    let mouth_y = ((mly + mry) / 2.0).max(1.0);
    // Midline between the eye midpoint (x = 0) and the mouth midpoint.
    let mid_x = mouth_x * (ny / mouth_y).clamp(0.0, 1.0);
    let offset = (nx - mid_x) / inter_eye;
    // Signs follow the pose model: a nose right of the midline means the face turns to the
    // image's right, which is negative yaw; a low nose tip means looking down, negative pitch.
    let yaw_deg = -(offset / NOSE_DEPTH_PER_INTER_EYE).atan().to_degrees();
    let frac = ny / mouth_y;
    let pitch_deg = -((frac - FRONTAL_NOSE_FRACTION) * PITCH_GAIN)
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees();
    HeadPose {
        yaw_deg,
        pitch_deg,
        roll_deg,
        source: PoseSource::Landmarks,
    }
}
