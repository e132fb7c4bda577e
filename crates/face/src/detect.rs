//! Owns face detection: rustface (SeetaFace) for live frames and stills, and UltraFace
//! (fr_detect.onnx) as an optional still detector. It turns detector boxes into the square box
//! the landmark model expects; it does not place landmarks or judge quality.

use image::{GrayImage, RgbImage};
use serde::Serialize;

use super::error::FaceError;
use super::imaging::{Border, RectPx, crop_resize, resize_area, to_grey};
use super::landmarks::PointPx;
use super::onnx::{OnnxModel, read_checked};
use super::settings::{OnnxExecutor, SeetaSettings, UltraFaceSettings};

/// Which detector produced a detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    Seeta,
    UltraFace,
    BlazeFace,
}

/// One detected face, in the coordinates of the analysed image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// The detector's own box.
    pub raw_box: RectPx,
    /// The square box the landmark model expects.
    pub face_box: RectPx,
    pub score: f32,
    pub detector: DetectorKind,
    /// The detector's own keypoints, if it gives any (BlazeFace: eyes, nose tip, mouth, ears).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<PointPx>,
}

impl Detection {
    /// The same detection with every coordinate multiplied by `factor`.
    pub fn scaled(&self, factor: f32) -> Detection {
        let rect = |r: RectPx| RectPx {
            x_px: r.x_px * factor,
            y_px: r.y_px * factor,
            width_px: r.width_px * factor,
            height_px: r.height_px * factor,
        };
        Detection {
            raw_box: rect(self.raw_box),
            face_box: rect(self.face_box),
            score: self.score,
            detector: self.detector,
            keypoints: self
                .keypoints
                .iter()
                .map(|p| PointPx::new(p.x_px * factor, p.y_px * factor))
                .collect(),
        }
    }
}

/// rustface's window size; images are scaled so that `min_face_px` maps onto it.
const SEETA_WINDOW_PX: f32 = 40.0;
/// rustface needs at least this many pixels per side (window plus margin).
const SEETA_MIN_SIDE_PX: u32 = 44;

/// Parameters of one rustface run.
#[derive(Clone, Copy, Debug)]
pub struct SeetaRun {
    pub min_face_px: u32,
    pub max_side_px: u32,
    pub step_px: u32,
    pub pyramid_scale_factor: f32,
}

/// The SeetaFace frontal detector (model parsed once, detector state created per call so the
/// engine can be shared between threads).
pub struct SeetaDetector {
    model: rustface::Model,
    settings: SeetaSettings,
    sha256: String,
}

impl SeetaDetector {
    pub fn load(settings: &SeetaSettings) -> Result<Self, FaceError> {
        if settings.step_px == 0
            || settings.live_step_px == 0
            || !(0.1..=0.99).contains(&settings.pyramid_scale_factor)
            || !(0.1..=0.99).contains(&settings.live_pyramid_scale_factor)
            || !(settings.score_threshold > 0.0 && settings.box_scale > 0.0)
        {
            return Err(FaceError::InvalidSettings(
                "seeta step_px must be > 0, pyramid factors in 0.1..=0.99, score_threshold and box_scale > 0".into(),
            ));
        }
        let (bytes, sha256) = read_checked("seeta", &settings.model)?;
        let model = rustface::read_model(std::io::Cursor::new(bytes)).map_err(|e| {
            FaceError::ModelLoad {
                role: "seeta".into(),
                detail: e.to_string(),
            }
        })?;
        Ok(SeetaDetector {
            model,
            settings: settings.clone(),
            sha256,
        })
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn still_run(&self) -> SeetaRun {
        SeetaRun {
            min_face_px: self.settings.still_min_face_px,
            max_side_px: self.settings.still_max_side_px,
            step_px: self.settings.step_px,
            pyramid_scale_factor: self.settings.pyramid_scale_factor,
        }
    }

    /// Detects faces in `img`; boxes are in `img` coordinates.
    pub fn detect(&self, img: &RgbImage, run: SeetaRun) -> Vec<Detection> {
        let longest = img.width().max(img.height()).max(1) as f32;
        let mut scale = 1.0f32;
        if run.min_face_px as f32 > SEETA_WINDOW_PX {
            scale = SEETA_WINDOW_PX / run.min_face_px as f32;
        }
        if longest * scale > run.max_side_px as f32 {
            scale = run.max_side_px as f32 / longest;
        }
        let grey = if scale < 0.999 {
            let w = ((img.width() as f32 * scale).round() as u32).max(1);
            let h = ((img.height() as f32 * scale).round() as u32).max(1);
            to_grey(&resize_area(img, w, h))
        } else {
            scale = 1.0;
            to_grey(img)
        };
        self.detect_grey(&grey, run)
            .into_iter()
            .map(|d| d.scaled(1.0 / scale))
            .collect()
    }

    /// Live path: reduce the frame to `live_width_px` first, then detect.
    pub fn detect_live(&self, img: &RgbImage) -> Vec<Detection> {
        let target_w = self.settings.live_width_px.max(SEETA_MIN_SIDE_PX);
        let factor = if img.width() > target_w {
            target_w as f32 / img.width() as f32
        } else {
            1.0
        };
        let run = SeetaRun {
            // min face in the reduced frame
            min_face_px: ((self.settings.live_min_face_px as f32 * factor).round() as u32).max(20),
            max_side_px: u32::MAX,
            step_px: self.settings.live_step_px,
            pyramid_scale_factor: self.settings.live_pyramid_scale_factor,
        };
        if factor < 1.0 {
            let w = target_w;
            let h = ((img.height() as f32 * factor).round() as u32).max(1);
            let small = resize_area(img, w, h);
            let fx = img.width() as f32 / w as f32;
            self.detect(&small, run)
                .into_iter()
                .map(|d| d.scaled(fx))
                .collect()
        } else {
            self.detect(img, run)
        }
    }

    fn detect_grey(&self, grey: &GrayImage, run: SeetaRun) -> Vec<Detection> {
        let (w, h) = grey.dimensions();
        if w < SEETA_MIN_SIDE_PX || h < SEETA_MIN_SIDE_PX {
            return Vec::new();
        }
        let mut detector = rustface::create_detector_with_model(self.model.clone());
        detector.set_score_thresh(self.settings.score_threshold);
        detector.set_pyramid_scale_factor(run.pyramid_scale_factor.clamp(0.1, 0.99));
        let step = run.step_px.max(1);
        detector.set_slide_window_step(step, step);
        // rustface computes the smallest pyramid level from the max face size; keeping it two
        // pixels under the image side guarantees every level is at least the window size
        // (rustface would otherwise underflow on a level narrower than its window).
        detector.set_max_face_size(w.min(h).saturating_sub(2));
        let data = rustface::ImageData::new(grey.as_raw(), w, h);
        detector
            .detect(&data)
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                let raw = RectPx {
                    x_px: b.x() as f32,
                    y_px: b.y() as f32,
                    width_px: b.width() as f32,
                    height_px: b.height() as f32,
                };
                let side = raw.width_px.max(raw.height_px) * self.settings.box_scale;
                let (cx, cy) = raw.centre_px();
                let cy = cy + self.settings.box_shift_y * raw.height_px;
                Detection {
                    raw_box: raw,
                    face_box: RectPx::square(cx, cy, side),
                    score: f.score() as f32,
                    detector: DetectorKind::Seeta,
                    keypoints: Vec::new(),
                }
            })
            .collect()
    }
}

/// UltraFace-RFB detector (fr_detect.onnx). Its `boxes` output is already decoded to
/// normalised corner form, so no prior boxes are needed (the vendor's decode result is unused).
pub struct UltraFaceDetector {
    model: OnnxModel,
    settings: UltraFaceSettings,
}

impl UltraFaceDetector {
    pub fn load(settings: &UltraFaceSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        Ok(UltraFaceDetector {
            model: OnnxModel::load("ultraface", &settings.model, &settings.input, executor)?,
            settings: settings.clone(),
        })
    }

    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        let in_w = self.settings.input.width_px as f32;
        let in_h = self.settings.input.height_px as f32;
        let (w, h) = (img.width() as f32, img.height() as f32);
        if w < 1.0 || h < 1.0 {
            return Ok(Vec::new());
        }
        // Source region that maps onto the whole network input.
        let region = if self.settings.letterbox {
            let s = (in_w / w).min(in_h / h);
            let rw = in_w / s;
            let rh = in_h / s;
            RectPx {
                x_px: (w - rw) / 2.0,
                y_px: (h - rh) / 2.0,
                width_px: rw,
                height_px: rh,
            }
        } else {
            RectPx {
                x_px: 0.0,
                y_px: 0.0,
                width_px: w,
                height_px: h,
            }
        };
        let fill = self
            .settings
            .input
            .mean
            .first()
            .copied()
            .unwrap_or(0.0)
            .round()
            .clamp(0.0, 255.0) as u8;
        let patch = crop_resize(
            img,
            region,
            self.settings.input.width_px,
            self.settings.input.height_px,
            Border::Constant(fill),
        );
        let outputs = self.model.run_patch(&patch)?;
        let scores = outputs.first().cloned().unwrap_or_default();
        let boxes = outputs.get(1).cloned().unwrap_or_default();
        let n = scores.len() / 2;
        if boxes.len() != n * 4 || n == 0 {
            return Err(FaceError::UnexpectedOutput {
                role: "ultraface".into(),
                expected: n * 4,
                got: boxes.len(),
            });
        }
        let mut cands: Vec<Detection> = Vec::new();
        for i in 0..n {
            let score = scores.get(i * 2 + 1).copied().unwrap_or(0.0);
            if score < self.settings.score_threshold {
                continue;
            }
            let b = |k: usize| boxes.get(i * 4 + k).copied().unwrap_or(0.0);
            let x1 = region.x_px + b(0) * region.width_px;
            let y1 = region.y_px + b(1) * region.height_px;
            let x2 = region.x_px + b(2) * region.width_px;
            let y2 = region.y_px + b(3) * region.height_px;
            if !(x2 > x1 && y2 > y1) {
                continue;
            }
            let raw = RectPx {
                x_px: x1,
                y_px: y1,
                width_px: x2 - x1,
                height_px: y2 - y1,
            };
            let (cx, cy) = raw.centre_px();
            cands.push(Detection {
                raw_box: raw,
                // The vendor squares the box by its height.
                face_box: RectPx::square(cx, cy, raw.height_px),
                score,
                detector: DetectorKind::UltraFace,
                keypoints: Vec::new(),
            });
        }
        Ok(nms(cands, self.settings.nms_iou))
    }
}

/// Greedy non-maximum suppression by score.
pub fn nms(mut cands: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for c in cands {
        if kept
            .iter()
            .all(|k| k.raw_box.iou(&c.raw_box) < iou_threshold)
        {
            kept.push(c);
        }
    }
    kept
}

/// The main face: among faces at least `min_size_ratio` times the largest box side, the one
/// whose centre is nearest the image centre (a kiosk user stands in the middle; bystanders and
/// cut-off faces at the edges are ignored).
pub fn primary(
    dets: &[Detection],
    width_px: u32,
    height_px: u32,
    min_size_ratio: f32,
) -> Option<&Detection> {
    let biggest = largest(dets)?.face_box.width_px;
    let (cx, cy) = (width_px as f32 / 2.0, height_px as f32 / 2.0);
    let dist = |d: &Detection| {
        let (x, y) = d.face_box.centre_px();
        (x - cx).powi(2) + (y - cy).powi(2)
    };
    dets.iter()
        .filter(|d| d.face_box.width_px >= biggest * min_size_ratio)
        .min_by(|a, b| dist(a).total_cmp(&dist(b)))
}

/// The detection with the largest box, if any.
pub fn largest(dets: &[Detection]) -> Option<&Detection> {
    dets.iter().max_by(|a, b| {
        (a.face_box.width_px * a.face_box.height_px)
            .total_cmp(&(b.face_box.width_px * b.face_box.height_px))
    })
}
