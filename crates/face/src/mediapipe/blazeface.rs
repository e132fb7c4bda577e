//! Owns MediaPipe's BlazeFace short-range detector (`face_detection_short_range.onnx`, converted
//! from the TFLite file at set-up): the letterboxed 128x128 input, the 896 SSD anchors, box and
//! keypoint decoding and MediaPipe's weighted non-maximum suppression. It does not place
//! landmarks; the six keypoints it returns are coarse (eyes, nose tip, mouth, ear tragions).
//!
//! Numbers from MediaPipe's `face_detection_short_range.pbtxt`: anchors of 4 layers with
//! strides 8, 16, 16, 16, offset 0.5, fixed size; box and keypoint scale 128; scores are logits
//! clipped to ±100; suppression blends boxes overlapping by more than 0.3.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::detect::{Detection, DetectorKind};
use crate::error::FaceError;
use crate::imaging::{Border, RectPx, crop_resize};
use crate::landmarks::PointPx;
use crate::onnx::OnnxModel;
use crate::settings::{ChannelOrder, ModelFile, OnnxExecutor, TensorInput};

/// Side of the square network input.
pub const INPUT_SIDE_PX: u32 = 128;
/// Number of anchors (16x16x2 at stride 8, 8x8x6 at stride 16).
pub const ANCHORS: usize = 896;
/// Numbers per anchor in the regressor output: box (4) and six keypoints (12).
const REGRESSOR_LEN: usize = 16;
/// Keypoint indices in the detector's output.
pub mod keypoint {
    /// The subject's right eye (on the image's left in a frontal photo).
    pub const RIGHT_EYE: usize = 0;
    pub const LEFT_EYE: usize = 1;
    pub const NOSE_TIP: usize = 2;
    pub const MOUTH: usize = 3;
    pub const RIGHT_EAR: usize = 4;
    pub const LEFT_EAR: usize = 5;
}

/// Detector settings (the pack's `engine.toml`, section `[blazeface]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlazeFaceSettings {
    pub model: ModelFile,
    /// Minimum face probability (MediaPipe: 0.5).
    pub score_threshold: f32,
    /// Boxes overlapping more than this are merged (MediaPipe: 0.3).
    pub nms_iou: f32,
    /// The engine's square face box (quality measures, face size and position) is the detector's
    /// box, squared on its longer side, times this: 1.34 makes it the size of the boxes the
    /// quality thresholds were set on (UltraFace's, squared by height).
    pub face_box_scale: f32,
}

impl BlazeFaceSettings {
    /// MediaPipe's numbers for the model file at `model`.
    pub fn mediapipe(model: ModelFile) -> Self {
        BlazeFaceSettings {
            model,
            score_threshold: 0.5,
            nms_iou: 0.3,
            face_box_scale: 1.0,
        }
    }
}

/// The network input: RGB scaled to [-1, 1], NCHW.
pub fn input() -> TensorInput {
    TensorInput {
        width_px: INPUT_SIDE_PX,
        height_px: INPUT_SIDE_PX,
        channel_order: ChannelOrder::Rgb,
        mean: [127.5; 3],
        scale: [1.0 / 127.5; 3],
    }
}

/// Anchor centres in the unit square, in the model's output order.
pub fn anchors() -> Vec<[f32; 2]> {
    // (stride, anchors per cell): layer 0 alone at stride 8, layers 1-3 share stride 16 and are
    // generated together, two anchors each (aspect ratio 1 and the interpolated scale).
    let mut out = Vec::with_capacity(ANCHORS);
    for (stride, per_cell) in [(8u32, 2usize), (16, 6)] {
        let cells = INPUT_SIDE_PX.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let centre = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                out.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    out
}

/// One face as BlazeFace sees it, in the coordinates of the image given to [`BlazeFace::detect`].
#[derive(Clone, Debug, PartialEq)]
pub struct BlazeDetection {
    pub bounding_box: RectPx,
    /// The six keypoints, indexed by [`keypoint`].
    pub keypoints: [PointPx; 6],
    pub score: f32,
}

/// The loaded detector; shareable between threads.
pub struct BlazeFace {
    model: OnnxModel,
    anchors: Vec<[f32; 2]>,
    settings: BlazeFaceSettings,
}

impl BlazeFace {
    pub fn load(settings: &BlazeFaceSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        if !(0.0..1.0).contains(&settings.score_threshold)
            || !(0.0..=1.0).contains(&settings.nms_iou)
            || !(0.5..=3.0).contains(&settings.face_box_scale)
        {
            return Err(FaceError::InvalidSettings(
                "blazeface: score_threshold must be in [0, 1), nms_iou in [0, 1] and \
                 face_box_scale in [0.5, 3]"
                    .into(),
            ));
        }
        Ok(BlazeFace {
            model: OnnxModel::load("blazeface", &settings.model, &input(), executor)?,
            anchors: anchors(),
            settings: settings.clone(),
        })
    }

    pub fn sha256(&self) -> &str {
        self.model.sha256()
    }

    pub fn runtime_name(&self) -> String {
        self.model.runtime_name()
    }

    /// The raw outputs (regressors 896x16, then classificator logits 896) for a 128x128 patch:
    /// what the golden-vector tests compare with the TFLite runtime.
    pub fn raw(&self, patch: &RgbImage) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let outputs = self.model.run_patch(patch)?;
        let regressors = self.model.output(&outputs, 0, ANCHORS * REGRESSOR_LEN)?;
        let logits = self.model.output(&outputs, 1, ANCHORS)?;
        Ok((regressors, logits))
    }

    /// Faces in `img`, best first. The image is letterboxed into the square input (MediaPipe's
    /// "fit" scaling with zero padding), so faces keep their shape.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<BlazeDetection>, FaceError> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        if w < 1.0 || h < 1.0 {
            return Ok(Vec::new());
        }
        let side = w.max(h);
        let region = RectPx {
            x_px: (w - side) / 2.0,
            y_px: (h - side) / 2.0,
            width_px: side,
            height_px: side,
        };
        let patch = crop_resize(
            img,
            region,
            INPUT_SIDE_PX,
            INPUT_SIDE_PX,
            Border::Constant(0),
        );
        let (regressors, logits) = self.raw(&patch)?;
        let to_image =
            |u: f32, v: f32| PointPx::new(region.x_px + u * side, region.y_px + v * side);
        let mut candidates = Vec::new();
        for (i, (anchor, logit)) in self.anchors.iter().zip(&logits).enumerate() {
            let score = sigmoid(logit.clamp(-100.0, 100.0));
            if score < self.settings.score_threshold {
                continue;
            }
            let Some(r) = regressors.get(i * REGRESSOR_LEN..(i + 1) * REGRESSOR_LEN) else {
                continue;
            };
            let scale = INPUT_SIDE_PX as f32;
            let value = |k: usize| r.get(k).copied().unwrap_or(0.0) / scale;
            let (cx, cy) = (anchor[0] + value(0), anchor[1] + value(1));
            let (bw, bh) = (value(2), value(3));
            if !(bw > 0.0 && bh > 0.0) {
                continue;
            }
            let top_left = to_image(cx - bw / 2.0, cy - bh / 2.0);
            let keypoints: [PointPx; 6] = std::array::from_fn(|k| {
                to_image(anchor[0] + value(4 + 2 * k), anchor[1] + value(5 + 2 * k))
            });
            candidates.push(BlazeDetection {
                bounding_box: RectPx {
                    x_px: top_left.x_px,
                    y_px: top_left.y_px,
                    width_px: bw * side,
                    height_px: bh * side,
                },
                keypoints,
                score,
            });
        }
        Ok(weighted_nms(candidates, self.settings.nms_iou))
    }

    /// [`BlazeFace::detect`] as engine detections: the face box is the detector's box made
    /// square on its larger side and scaled by `face_box_scale`.
    pub fn detections(&self, img: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        Ok(self
            .detect(img)?
            .into_iter()
            .map(|d| {
                let (cx, cy) = d.bounding_box.centre_px();
                Detection {
                    raw_box: d.bounding_box,
                    face_box: RectPx::square(
                        cx,
                        cy,
                        d.bounding_box.width_px.max(d.bounding_box.height_px)
                            * self.settings.face_box_scale,
                    ),
                    score: d.score,
                    detector: DetectorKind::BlazeFace,
                    keypoints: d.keypoints.to_vec(),
                }
            })
            .collect())
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// MediaPipe's weighted suppression: the best remaining candidate absorbs every candidate that
/// overlaps it by more than `iou_threshold`, and its box and keypoints become their
/// score-weighted mean (the score stays the best one's).
pub fn weighted_nms(
    mut candidates: Vec<BlazeDetection>,
    iou_threshold: f32,
) -> Vec<BlazeDetection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        let (overlapping, rest): (Vec<_>, Vec<_>) = candidates
            .into_iter()
            .partition(|c| c.bounding_box.iou(&best.bounding_box) > iou_threshold);
        candidates = rest;
        let total: f32 = overlapping.iter().map(|c| c.score).sum();
        if overlapping.len() < 2 || total <= 0.0 {
            out.push(best);
            continue;
        }
        let mean = |f: &dyn Fn(&BlazeDetection) -> f32| {
            overlapping.iter().map(|c| f(c) * c.score).sum::<f32>() / total
        };
        let x0 = mean(&|c| c.bounding_box.x_px);
        let y0 = mean(&|c| c.bounding_box.y_px);
        let x1 = mean(&|c| c.bounding_box.x_px + c.bounding_box.width_px);
        let y1 = mean(&|c| c.bounding_box.y_px + c.bounding_box.height_px);
        let keypoints = std::array::from_fn(|k| {
            PointPx::new(
                mean(&|c| c.keypoints.get(k).map_or(0.0, |p| p.x_px)),
                mean(&|c| c.keypoints.get(k).map_or(0.0, |p| p.y_px)),
            )
        });
        out.push(BlazeDetection {
            bounding_box: RectPx {
                x_px: x0,
                y_px: y0,
                width_px: x1 - x0,
                height_px: y1 - y0,
            },
            keypoints,
            score: best.score,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_896_anchors_first_at_stride_8_then_at_stride_16() {
        let a = anchors();
        assert_eq!(a.len(), ANCHORS);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2], [1.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(a[895], [7.5 / 8.0, 7.5 / 8.0]);
    }

    fn candidate(x: f32, score: f32) -> BlazeDetection {
        BlazeDetection {
            bounding_box: RectPx {
                x_px: x,
                y_px: 0.0,
                width_px: 10.0,
                height_px: 10.0,
            },
            keypoints: [PointPx::new(x, 0.0); 6],
            score,
        }
    }

    #[test]
    fn overlapping_boxes_are_blended_by_score_and_separate_ones_kept() {
        let out = weighted_nms(
            vec![
                candidate(0.0, 0.9),
                candidate(2.0, 0.6),
                candidate(50.0, 0.7),
            ],
            0.3,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let blended = (0.0 * 0.9 + 2.0 * 0.6) / 1.5;
        assert!((out[0].bounding_box.x_px - blended).abs() < 1e-5);
        assert!((out[0].keypoints[3].x_px - blended).abs() < 1e-5);
        assert_eq!(out[1].bounding_box.x_px, 50.0);
    }
}
