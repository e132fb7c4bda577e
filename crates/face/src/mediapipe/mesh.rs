//! Owns MediaPipe's FaceMesh (468 points in 3-D, the 2019 fp32 model) and Iris (eye contour and
//! iris) models, converted to ONNX at set-up: the rotated crops they take, and mapping their
//! outputs back to image pixels. From the points it derives what the engine needs: five
//! alignment points, head pose, and the eye aspect ratio that shows a blink. It does not detect
//! faces (the crop comes from a detector's eyes) and judges nothing.
//!
//! Crops as in MediaPipe's graphs: the mesh takes a square 1.5 times the detector's box, turned
//! so the eye line is level; each eye crop is a square 2.3 times its corner distance, turned the
//! same way, and the subject's left eye is mirrored (the Iris model sees every eye as a right eye).

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::FaceError;
use crate::imaging::{Border, warp_affine};
use crate::landmarks::{FivePoints, PointPx};
use crate::liveness::{HeadPose, PoseSource};
use crate::onnx::OnnxModel;
use crate::settings::{ChannelOrder, ModelFile, OnnxExecutor, TensorInput};

pub const MESH_INPUT_PX: u32 = 192;
pub const MESH_POINTS: usize = 468;
pub const IRIS_INPUT_PX: u32 = 64;
/// Points of the Iris model's eye contour output (the first 16 outline the eye).
pub const EYE_CONTOUR_POINTS: usize = 71;
const IRIS_POINTS: usize = 5;

/// Mesh indices this module reads (MediaPipe's canonical face topology).
pub mod index {
    /// Subject's right eye: outer and inner corner (on the image's left in a frontal photo).
    pub const RIGHT_EYE_OUTER: usize = 33;
    pub const RIGHT_EYE_INNER: usize = 133;
    pub const LEFT_EYE_INNER: usize = 362;
    pub const LEFT_EYE_OUTER: usize = 263;
    pub const NOSE_TIP: usize = 1;
    pub const MOUTH_RIGHT: usize = 61;
    pub const MOUTH_LEFT: usize = 291;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
    /// Eyelid pairs for the eye aspect ratio, subject's right eye: (upper, lower).
    pub const RIGHT_LIDS: [(usize, usize); 2] = [(160, 144), (158, 153)];
    pub const LEFT_LIDS: [(usize, usize); 2] = [(385, 380), (387, 373)];
}

/// Which eye, from the subject's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EyeSide {
    /// The subject's right eye, on the image's left in a frontal photo.
    Right,
    Left,
}

/// Mesh and Iris settings (the pack's `engine.toml`, section `[mesh]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeshSettings {
    pub model: ModelFile,
    pub iris_model: ModelFile,
    /// Crop side as a multiple of the detector box's longer side (MediaPipe: 1.5).
    pub crop_scale: f32,
    /// Eye crop side as a multiple of the eye-corner distance (MediaPipe: 2.3).
    pub eye_crop_scale: f32,
    /// Added to the mesh's pitch: its forehead-to-chin axis leans back on a frontal face (the
    /// median on 150 LFW photos is -4.3 degrees).
    pub pitch_offset_deg: f32,
}

impl MeshSettings {
    pub fn mediapipe(model: ModelFile, iris_model: ModelFile) -> Self {
        MeshSettings {
            model,
            iris_model,
            crop_scale: 1.5,
            eye_crop_scale: 2.3,
            pitch_offset_deg: 0.0,
        }
    }
}

/// Both models take RGB in [0, 1], NCHW.
fn unit_input(side_px: u32) -> TensorInput {
    TensorInput {
        width_px: side_px,
        height_px: side_px,
        channel_order: ChannelOrder::Rgb,
        mean: [0.0; 3],
        scale: [1.0 / 255.0; 3],
    }
}

/// A square region turned by `angle_rad` (clockwise on screen, as image y points down).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotatedSquare {
    pub centre: PointPx,
    pub side_px: f32,
    pub angle_rad: f32,
}

impl RotatedSquare {
    /// The square whose x axis runs from `from` to `to`, centred on `centre`.
    fn along(centre: PointPx, side_px: f32, from: PointPx, to: PointPx) -> Self {
        RotatedSquare {
            centre,
            side_px,
            angle_rad: (to.y_px - from.y_px).atan2(to.x_px - from.x_px),
        }
    }

    /// Image point of crop coordinates `(u, v)` in a crop `crop_px` wide (continuous
    /// coordinates: the crop spans 0..crop_px).
    fn image_point(&self, u: f32, v: f32, crop_px: u32) -> PointPx {
        let k = self.side_px / crop_px as f32;
        let half = crop_px as f32 / 2.0;
        let (sin, cos) = self.angle_rad.sin_cos();
        let (du, dv) = ((u - half) * k, (v - half) * k);
        PointPx::new(
            self.centre.x_px + du * cos - dv * sin,
            self.centre.y_px + du * sin + dv * cos,
        )
    }

    /// The crop, `crop_px` square, mirrored left-right when `mirror`; outside the image is black.
    pub fn crop(&self, img: &RgbImage, crop_px: u32, mirror: bool) -> RgbImage {
        let k = self.side_px / crop_px as f32;
        let half = crop_px as f32 / 2.0;
        let (sin, cos) = self.angle_rad.sin_cos();
        // Output pixel x (centre x + 0.5) -> crop u; mirrored: u = crop_px - (x + 0.5).
        let (su, u0) = if mirror {
            (-1.0, crop_px as f32 - 0.5)
        } else {
            (1.0, 0.5)
        };
        // Image sample point (pixel centres at integers) = centre + R * (du, dv) - 0.5.
        let a = k * cos * su;
        let b = -k * sin;
        let c = k * sin * su;
        let d = k * cos;
        let (du0, dv0) = ((u0 - half) * k, (0.5 - half) * k);
        let tx = self.centre.x_px + du0 * cos - dv0 * sin - 0.5;
        let ty = self.centre.y_px + du0 * sin + dv0 * cos - 0.5;
        warp_affine(
            img,
            &[a, b, tx, c, d, ty],
            crop_px,
            crop_px,
            Border::Constant(0),
        )
    }
}

/// The face mesh of one face, in image pixels; `z` is depth in the same scale as x (smaller is
/// nearer the camera), relative to the face's centre.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    pub points: Vec<[f32; 3]>,
    /// The model's probability that the crop holds a face.
    pub face_probability: f32,
}

/// One eye from the Iris model, in image pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct IrisResult {
    pub side: EyeSide,
    /// The model's 71 contour points (the first 16 outline the eye: 0 and 8 are the corners,
    /// 1-7 the lower lid, 9-15 the upper lid).
    pub contour: Vec<PointPx>,
    /// Iris centre, then four points on its edge.
    pub iris: [PointPx; IRIS_POINTS],
}

impl IrisResult {
    /// Eye aspect ratio from the contour: mean lid gap over the corner distance (about 0.3 open,
    /// below 0.15 shut).
    pub fn aspect_ratio(&self) -> Option<f32> {
        let p = |i: usize| self.contour.get(i).copied();
        let width = p(0)?.distance_px(&p(8)?);
        if width <= 0.0 {
            return None;
        }
        // Upper 11, 13 face lower 3, 5 (mesh points 160/144 and 158/153 of the right eye).
        let gap = p(11)?.distance_px(&p(3)?) + p(13)?.distance_px(&p(5)?);
        Some(gap / (2.0 * width))
    }

    /// Iris diameter in pixels (mean of its two edge-to-edge spans).
    pub fn iris_diameter_px(&self) -> f32 {
        let [_, a, b, c, d] = self.iris;
        (a.distance_px(&c) + b.distance_px(&d)) / 2.0
    }
}

impl Mesh {
    pub fn point(&self, i: usize) -> Option<PointPx> {
        self.points.get(i).map(|p| PointPx::new(p[0], p[1]))
    }

    fn point3(&self, i: usize) -> Option<[f32; 3]> {
        self.points.get(i).copied()
    }

    /// Eye centres (corner midpoints), nose tip and mouth corners, eye on the image's left first
    /// (the engine's portrait, quality and guidance use these; alignment for the recogniser
    /// uses dlib's own five points).
    pub fn five_points(&self) -> Option<FivePoints> {
        let mid = |a: usize, b: usize| -> Option<PointPx> {
            let (a, b) = (self.point(a)?, self.point(b)?);
            Some(PointPx::new(
                (a.x_px + b.x_px) / 2.0,
                (a.y_px + b.y_px) / 2.0,
            ))
        };
        Some(FivePoints {
            left_eye: mid(index::RIGHT_EYE_OUTER, index::RIGHT_EYE_INNER)?,
            right_eye: mid(index::LEFT_EYE_INNER, index::LEFT_EYE_OUTER)?,
            nose_tip: self.point(index::NOSE_TIP)?,
            mouth_left: self.point(index::MOUTH_RIGHT)?,
            mouth_right: self.point(index::MOUTH_LEFT)?,
        })
    }

    /// Head pose from the mesh's 3-D shape: the face's forward direction is the cross product of
    /// its left-right axis (outer eye corners) and its up axis (chin to forehead). Signs as
    /// [`HeadPose`] documents.
    pub fn pose(&self) -> Option<HeadPose> {
        let sub = |a: [f32; 3], b: [f32; 3]| [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
        let across = sub(
            self.point3(index::LEFT_EYE_OUTER)?,
            self.point3(index::RIGHT_EYE_OUTER)?,
        );
        let up = sub(self.point3(index::FOREHEAD)?, self.point3(index::CHIN)?);
        let forward = [
            across[1] * up[2] - across[2] * up[1],
            across[2] * up[0] - across[0] * up[2],
            across[0] * up[1] - across[1] * up[0],
        ];
        let toward_camera = -forward[2];
        if toward_camera.is_nan() || toward_camera <= 0.0 {
            return None;
        }
        Some(HeadPose {
            yaw_deg: (-forward[0]).atan2(toward_camera).to_degrees(),
            pitch_deg: (-forward[1]).atan2(toward_camera).to_degrees(),
            roll_deg: across[1].atan2(across[0]).to_degrees(),
            source: PoseSource::Mesh,
        })
    }

    /// Eye aspect ratio of one eye from the mesh's lid points (coarser than the Iris model's).
    pub fn aspect_ratio(&self, side: EyeSide) -> Option<f32> {
        let (outer, inner, lids) = match side {
            EyeSide::Right => (
                index::RIGHT_EYE_OUTER,
                index::RIGHT_EYE_INNER,
                index::RIGHT_LIDS,
            ),
            EyeSide::Left => (
                index::LEFT_EYE_OUTER,
                index::LEFT_EYE_INNER,
                index::LEFT_LIDS,
            ),
        };
        let width = self.point(outer)?.distance_px(&self.point(inner)?);
        if width <= 0.0 {
            return None;
        }
        let mut gap = 0.0;
        for (upper, lower) in lids {
            gap += self.point(upper)?.distance_px(&self.point(lower)?);
        }
        Some(gap / (2.0 * width))
    }

    /// The square the Iris model takes for one eye (mirrored for the subject's left eye).
    pub fn eye_square(&self, side: EyeSide, scale: f32) -> Option<RotatedSquare> {
        // Both eyes' corners in image left-to-right order, so the square is never upside down.
        let (a, b) = match side {
            EyeSide::Right => (index::RIGHT_EYE_OUTER, index::RIGHT_EYE_INNER),
            EyeSide::Left => (index::LEFT_EYE_INNER, index::LEFT_EYE_OUTER),
        };
        let (a, b) = (self.point(a)?, self.point(b)?);
        let centre = PointPx::new((a.x_px + b.x_px) / 2.0, (a.y_px + b.y_px) / 2.0);
        Some(RotatedSquare::along(
            centre,
            a.distance_px(&b) * scale,
            a,
            b,
        ))
    }
}

/// The loaded mesh and iris models; shareable between threads.
pub struct FaceMesh {
    mesh: OnnxModel,
    iris: OnnxModel,
    settings: MeshSettings,
}

impl FaceMesh {
    pub fn load(settings: &MeshSettings, executor: OnnxExecutor) -> Result<Self, FaceError> {
        if !(settings.crop_scale > 0.5 && settings.eye_crop_scale > 0.5) {
            return Err(FaceError::InvalidSettings(
                "mesh: crop_scale and eye_crop_scale must be above 0.5".into(),
            ));
        }
        Ok(FaceMesh {
            mesh: OnnxModel::load(
                "mesh",
                &settings.model,
                &unit_input(MESH_INPUT_PX),
                executor,
            )?,
            iris: OnnxModel::load(
                "iris",
                &settings.iris_model,
                &unit_input(IRIS_INPUT_PX),
                executor,
            )?,
            settings: settings.clone(),
        })
    }

    pub fn mesh_sha256(&self) -> &str {
        self.mesh.sha256()
    }

    pub fn iris_sha256(&self) -> &str {
        self.iris.sha256()
    }

    /// Raw mesh outputs for a 192x192 crop: 1404 coordinates (x, y, z per point, crop pixels)
    /// and the face logit.
    pub fn raw_mesh(&self, crop: &RgbImage) -> Result<(Vec<f32>, f32), FaceError> {
        let outputs = self.mesh.run_patch(crop)?;
        let coords = self.mesh.output(&outputs, 0, MESH_POINTS * 3)?;
        let logit = self.mesh.output(&outputs, 1, 1)?;
        Ok((coords, logit.first().copied().unwrap_or(f32::NEG_INFINITY)))
    }

    /// Raw Iris outputs for a 64x64 crop: 213 contour coordinates and 15 iris coordinates.
    pub fn raw_iris(&self, crop: &RgbImage) -> Result<(Vec<f32>, Vec<f32>), FaceError> {
        let outputs = self.iris.run_patch(crop)?;
        Ok((
            self.iris.output(&outputs, 0, EYE_CONTOUR_POINTS * 3)?,
            self.iris.output(&outputs, 1, IRIS_POINTS * 3)?,
        ))
    }

    /// The square the mesh takes, from a detector box and its two eye keypoints (the subject's
    /// right eye first).
    pub fn face_square(
        &self,
        box_centre: PointPx,
        box_side_px: f32,
        right_eye: PointPx,
        left_eye: PointPx,
    ) -> RotatedSquare {
        RotatedSquare::along(
            box_centre,
            box_side_px * self.settings.crop_scale,
            right_eye,
            left_eye,
        )
    }

    /// The mesh of the face in `square`.
    pub fn mesh(&self, img: &RgbImage, square: &RotatedSquare) -> Result<Mesh, FaceError> {
        let crop = square.crop(img, MESH_INPUT_PX, false);
        let (coords, logit) = self.raw_mesh(&crop)?;
        let k = square.side_px / MESH_INPUT_PX as f32;
        let points = coords
            .as_chunks::<3>()
            .0
            .iter()
            .map(|&[u, v, z]| {
                let p = square.image_point(u, v, MESH_INPUT_PX);
                [p.x_px, p.y_px, z * k]
            })
            .collect();
        Ok(Mesh {
            points,
            face_probability: 1.0 / (1.0 + (-logit).exp()),
        })
    }

    /// The Iris model's view of one eye of `mesh`.
    pub fn iris(
        &self,
        img: &RgbImage,
        mesh: &Mesh,
        side: EyeSide,
    ) -> Result<IrisResult, FaceError> {
        let square = mesh
            .eye_square(side, self.settings.eye_crop_scale)
            .ok_or_else(|| FaceError::AlignmentFailed("the mesh has no eye corners".into()))?;
        let mirror = side == EyeSide::Left;
        let crop = square.crop(img, IRIS_INPUT_PX, mirror);
        let (contour, iris) = self.raw_iris(&crop)?;
        let side_px = IRIS_INPUT_PX as f32;
        let back = |&[u, v, _z]: &[f32; 3]| {
            let u = if mirror { side_px - u } else { u };
            square.image_point(u, v, IRIS_INPUT_PX)
        };
        let contour: Vec<PointPx> = contour.as_chunks::<3>().0.iter().map(back).collect();
        let iris: Vec<PointPx> = iris.as_chunks::<3>().0.iter().map(back).collect();
        let iris: [PointPx; IRIS_POINTS] =
            iris.try_into().map_err(|_| FaceError::UnexpectedOutput {
                role: "iris".into(),
                expected: IRIS_POINTS * 3,
                got: 0,
            })?;
        Ok(IrisResult {
            side,
            contour,
            iris,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turned_square_maps_its_centre_and_axes_onto_the_image() {
        let square = RotatedSquare::along(
            PointPx::new(100.0, 50.0),
            64.0,
            PointPx::new(0.0, 0.0),
            PointPx::new(0.0, 10.0),
        );
        let centre = square.image_point(32.0, 32.0, 64);
        assert!((centre.x_px - 100.0).abs() < 1e-4 && (centre.y_px - 50.0).abs() < 1e-4);
        // The crop's x axis runs down the image (the "eye line" pointed down).
        let right = square.image_point(64.0, 32.0, 64);
        assert!((right.x_px - 100.0).abs() < 1e-4 && (right.y_px - 82.0).abs() < 1e-4);
    }

    #[test]
    fn a_crop_of_a_level_square_reads_the_image_where_the_mapping_says() {
        let mut img = RgbImage::new(40, 40);
        img.put_pixel(30, 10, image::Rgb([255, 0, 0]));
        let square = RotatedSquare::along(
            PointPx::new(20.0, 20.0),
            40.0,
            PointPx::new(0.0, 20.0),
            PointPx::new(40.0, 20.0),
        );
        let crop = square.crop(&img, 40, false);
        assert_eq!(crop.get_pixel(30, 10).0, [255, 0, 0]);
        let mirrored = square.crop(&img, 40, true);
        assert_eq!(mirrored.get_pixel(9, 10).0, [255, 0, 0]);
    }

    fn mesh_with(points: &[(usize, [f32; 3])]) -> Mesh {
        let mut all = vec![[0.0f32; 3]; MESH_POINTS];
        for (i, p) in points {
            all[*i] = *p;
        }
        Mesh {
            points: all,
            face_probability: 1.0,
        }
    }

    #[test]
    fn a_face_turned_toward_the_image_left_has_positive_yaw() {
        // Frontal: eyes level, forehead straight above the chin, nothing in depth.
        let frontal = mesh_with(&[
            (index::RIGHT_EYE_OUTER, [-30.0, 0.0, 0.0]),
            (index::LEFT_EYE_OUTER, [30.0, 0.0, 0.0]),
            (index::FOREHEAD, [0.0, -40.0, 0.0]),
            (index::CHIN, [0.0, 60.0, 0.0]),
        ]);
        let pose = frontal.pose().unwrap();
        assert!(
            pose.yaw_deg.abs() < 1e-3 && pose.pitch_deg.abs() < 1e-3 && pose.roll_deg.abs() < 1e-3
        );
        // Turned 30 degrees toward the image's left: the image-left eye recedes (z grows).
        let (s, c) = 30f32.to_radians().sin_cos();
        let turned = mesh_with(&[
            (index::RIGHT_EYE_OUTER, [-30.0 * c, 0.0, 30.0 * s]),
            (index::LEFT_EYE_OUTER, [30.0 * c, 0.0, -30.0 * s]),
            (index::FOREHEAD, [0.0, -40.0, 0.0]),
            (index::CHIN, [0.0, 60.0, 0.0]),
        ]);
        let pose = turned.pose().unwrap();
        assert!((pose.yaw_deg - 30.0).abs() < 1e-3, "{pose:?}");
    }
}
