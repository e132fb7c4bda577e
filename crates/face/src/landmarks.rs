//! Owns the 68-point landmark model (fr_landmark.onnx) and the reduction to 5 points. It takes a
//! square face box from detection; it does not detect faces or warp images.

use image::RgbImage;
use serde::Serialize;

use super::error::FaceError;
use super::imaging::{Border, RectPx, crop_resize};
use super::onnx::OnnxModel;
use super::settings::{LandmarkSettings, OnnxExecutor};

/// A point in image pixel coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PointPx {
    pub x_px: f32,
    pub y_px: f32,
}

impl PointPx {
    pub fn new(x_px: f32, y_px: f32) -> Self {
        PointPx { x_px, y_px }
    }

    pub fn distance_px(&self, other: &PointPx) -> f32 {
        ((self.x_px - other.x_px).powi(2) + (self.y_px - other.y_px).powi(2)).sqrt()
    }
}

/// The five alignment points, in image order: the eye on the image's left first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct FivePoints {
    pub left_eye: PointPx,
    pub right_eye: PointPx,
    pub nose_tip: PointPx,
    pub mouth_left: PointPx,
    pub mouth_right: PointPx,
}

impl FivePoints {
    pub fn as_array(&self) -> [PointPx; 5] {
        [
            self.left_eye,
            self.right_eye,
            self.nose_tip,
            self.mouth_left,
            self.mouth_right,
        ]
    }

    pub fn inter_eye_px(&self) -> f32 {
        self.left_eye.distance_px(&self.right_eye)
    }

    /// Angle of the eye line, degrees, positive when the right-hand eye is lower.
    pub fn eye_line_roll_deg(&self) -> f32 {
        let dx = self.right_eye.x_px - self.left_eye.x_px;
        let dy = self.right_eye.y_px - self.left_eye.y_px;
        dy.atan2(dx).to_degrees()
    }
}

/// The landmark points of one face: the 68 iBUG-layout points (faceplugin pack) or FaceMesh's
/// 468 points (open pack).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Landmarks68 {
    pub points: Vec<PointPx>,
}

fn mean_of(points: &[PointPx], idx: &[usize]) -> Option<PointPx> {
    let mut sx = 0.0;
    let mut sy = 0.0;
    for &i in idx {
        let p = points.get(i)?;
        sx += p.x_px;
        sy += p.y_px;
    }
    let n = idx.len().max(1) as f32;
    Some(PointPx::new(sx / n, sy / n))
}

impl Landmarks68 {
    pub fn get(&self, i: usize) -> Option<PointPx> {
        self.points.get(i).copied()
    }

    /// Eye centres from all six eyelid points of each eye, nose tip (30), mouth corners (48, 54).
    pub fn five_points(&self) -> Option<FivePoints> {
        Some(FivePoints {
            left_eye: mean_of(&self.points, &[36, 37, 38, 39, 40, 41])?,
            right_eye: mean_of(&self.points, &[42, 43, 44, 45, 46, 47])?,
            nose_tip: self.get(30)?,
            mouth_left: self.get(48)?,
            mouth_right: self.get(54)?,
        })
    }

    /// Bounding box of all points.
    pub fn bounds(&self) -> Option<RectPx> {
        let first = self.points.first()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first.x_px, first.y_px, first.x_px, first.y_px);
        for p in &self.points {
            x0 = x0.min(p.x_px);
            y0 = y0.min(p.y_px);
            x1 = x1.max(p.x_px);
            y1 = y1.max(p.y_px);
        }
        Some(RectPx {
            x_px: x0,
            y_px: y0,
            width_px: x1 - x0,
            height_px: y1 - y0,
        })
    }
}

/// The landmark model.
pub struct LandmarkModel {
    model: OnnxModel,
    settings: LandmarkSettings,
}

impl LandmarkModel {
    pub fn load(settings: &LandmarkSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        Ok(LandmarkModel {
            model: OnnxModel::load("landmark", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    /// Predicts landmarks inside the square `face_box` (moved inside the image as the vendor
    /// does); outputs are fractions of the crop, mapped back to image pixels.
    pub fn predict(&self, img: &RgbImage, face_box: RectPx) -> Result<Landmarks68, FaceError> {
        if !(face_box.width_px >= 4.0 && face_box.height_px >= 4.0) {
            return Err(FaceError::AlignmentFailed("face box too small".into()));
        }
        let mut region = face_box.shifted_inside(img.width(), img.height());
        let mut lm = self.predict_in(img, region)?;
        for _ in 0..self.settings.refine_passes {
            let Some(b) = lm.bounds() else { break };
            let (cx, cy) = b.centre_px();
            // Re-centre the box on the landmark extent, keep its size.
            let (ocx, ocy) = face_box.centre_px();
            let shifted = RectPx::square(
                ocx + (cx - ocx) * 0.5,
                ocy + (cy - ocy) * 0.5,
                face_box.width_px,
            );
            region = shifted.shifted_inside(img.width(), img.height());
            lm = self.predict_in(img, region)?;
        }
        Ok(lm)
    }

    fn predict_in(&self, img: &RgbImage, region: RectPx) -> Result<Landmarks68, FaceError> {
        let input = self.model.input();
        let patch = crop_resize(
            img,
            region,
            input.width_px,
            input.height_px,
            Border::Replicate,
        );
        let outputs = self.model.run_patch(&patch)?;
        let n = self.settings.points;
        let raw = self.model.output(&outputs, 0, n * 2)?;
        let points = raw
            .chunks_exact(2)
            .map(|c| {
                let fx = c.first().copied().unwrap_or(0.0);
                let fy = c.get(1).copied().unwrap_or(0.0);
                PointPx::new(
                    region.x_px + fx * region.width_px,
                    region.y_px + fy * region.height_px,
                )
            })
            .collect::<Vec<_>>();
        if points
            .iter()
            .any(|p| !p.x_px.is_finite() || !p.y_px.is_finite())
        {
            return Err(FaceError::AlignmentFailed(
                "landmarks are not finite".into(),
            ));
        }
        Ok(Landmarks68 { points })
    }
}
