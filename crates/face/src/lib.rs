//! Owns the face engine facade: loading every model once (hash-checked), and composing
//! detection, landmarks, pose, eye state, liveness, quality, alignment, embedding, decision and
//! portrait into `FaceEngine`. It holds no UI text and does no I/O besides reading model files.
//!
//! Small traits (`FaceAnalyzer`, `FaceMatcher`, `PortraitMaker`) stand in front of the engine so
//! UI code can be tested with a fake.

#![forbid(unsafe_code)]

pub mod align;
pub mod compare;
pub mod detect;
pub mod dlib;
pub mod embed;
pub mod error;
pub mod eval;
pub mod evidence;
pub mod imaging;
pub mod landmarks;
pub mod liveness;
pub mod mediapipe;
pub mod onnx;
pub mod pack;
pub mod portrait;
pub mod prelu;
pub mod quality;
pub mod settings;

use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

pub use compare::{BoundThreshold, Decision};
pub use detect::{Detection, DetectorKind};
pub use embed::Embedding;
pub use error::FaceError;
pub use imaging::{RectPx, decode_image};
pub use landmarks::{FivePoints, Landmarks68, PointPx};
pub use liveness::{EyeState, HeadPose, LivenessScore, PoseSource};
pub use pack::{PackManifest, PackSettings, Pipeline};
pub use portrait::Portrait;
pub use quality::{QualityCheck, QualityComponent, QualityReason, QualityReport, QualitySettings};
pub use settings::{EngineSettings, StillDetector};

use detect::{SeetaDetector, UltraFaceDetector, primary};
use dlib::resnet::DlibRecognizer;
use dlib::shape::{DlibRect, ShapePredictor};
use embed::Embedder;
use landmarks::LandmarkModel;
use liveness::{EyeModel, LivenessModel, PoseModel, pose_from_landmarks};
use mediapipe::blazeface::{self, BlazeFace};
use mediapipe::mesh::{EyeSide, FaceMesh};
use pack::OpenSettings;
use quality::{FaceFacts, FaceMeasures};

/// Wall-clock milliseconds spent per stage of one call (0 for stages that did not run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTimings {
    pub prepare_ms: f64,
    pub detect_ms: f64,
    pub landmarks_ms: f64,
    pub pose_ms: f64,
    pub eyes_ms: f64,
    pub liveness_ms: f64,
    pub quality_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
    pub total_ms: f64,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Everything measured about the main face.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaceDetail {
    pub detection: Detection,
    pub landmarks: Landmarks68,
    pub five_points: FivePoints,
    pub inter_eye_px: f32,
    pub pose: HeadPose,
    pub eyes: Option<EyeState>,
    pub liveness: Option<LivenessScore>,
    pub measures: FaceMeasures,
}

/// The result of analysing one image; coordinates are in the input image's pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    pub image_width_px: u32,
    pub image_height_px: u32,
    /// All detections (largest first).
    pub detections: Vec<Detection>,
    /// The main face (the most central of the large ones), if a usable one was found.
    pub face: Option<FaceDetail>,
    pub quality: QualityReport,
    pub timings: StageTimings,
}

/// Still and live-frame analysis.
pub trait FaceAnalyzer {
    /// Full analysis of a still (enrolment photo): model pose, eyes, liveness, ISO thresholds.
    fn analyze_still(&self, image: &RgbImage) -> Result<Analysis, FaceError>;
    /// Fast analysis of a live camera frame for guidance.
    fn analyze_frame(&self, image: &RgbImage) -> Result<Analysis, FaceError>;
}

/// Embedding and verification.
pub trait FaceMatcher {
    fn embed_still(&self, image: &RgbImage) -> Result<Embedding, FaceError>;
    fn compare(&self, a: &Embedding, b: &Embedding) -> Result<Decision, FaceError>;
}

/// Stored-portrait cropping.
pub trait PortraitMaker {
    fn portrait(&self, image: &RgbImage, analysis: &Analysis) -> Result<Portrait, FaceError>;
}

/// The on-device face engine. Models are loaded once; every method takes `&self`, so one
/// engine can serve several threads.
pub struct FaceEngine {
    pack: PackSettings,
    seeta: SeetaDetector,
    models: Models,
    threshold: BoundThreshold,
    models_sha256: BTreeMap<String, String>,
}

/// The loaded models of one pipeline.
enum Models {
    Faceplugin(Box<FacepluginModels>),
    Open(Box<OpenModels>),
}

struct FacepluginModels {
    settings: EngineSettings,
    ultraface: UltraFaceDetector,
    landmark: LandmarkModel,
    embedder: Embedder,
    liveness: LivenessModel,
    eye: EyeModel,
    pose: PoseModel,
}

struct OpenModels {
    settings: OpenSettings,
    blazeface: BlazeFace,
    mesh: FaceMesh,
    shape: ShapePredictor,
    recognizer: DlibRecognizer,
    recognizer_sha256: String,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
            .field("pack", &self.pack.name())
            .field("models_sha256", &self.models_sha256)
            .field("threshold_cosine", &self.threshold.threshold_cosine())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Still,
    Frame,
}

/// The main face, located and measured on the working image.
struct Located {
    detection: Detection,
    landmarks: Vec<PointPx>,
    five: FivePoints,
    pose: HeadPose,
    eyes: Option<EyeState>,
    liveness: Option<LivenessScore>,
}

fn scale_point(p: PointPx, f: f32) -> PointPx {
    PointPx::new(p.x_px * f, p.y_px * f)
}

fn scale_five(p: &FivePoints, f: f32) -> FivePoints {
    FivePoints {
        left_eye: scale_point(p.left_eye, f),
        right_eye: scale_point(p.right_eye, f),
        nose_tip: scale_point(p.nose_tip, f),
        mouth_left: scale_point(p.mouth_left, f),
        mouth_right: scale_point(p.mouth_right, f),
    }
}

fn dlib_error(role: &str) -> impl Fn(dlib::DlibError) -> FaceError + '_ {
    move |e| FaceError::ModelLoad {
        role: role.to_string(),
        detail: e.to_string(),
    }
}

impl FacepluginModels {
    fn load(
        settings: &EngineSettings,
        loaded: &mut BTreeMap<String, String>,
    ) -> Result<Self, FaceError> {
        let executor = settings.executor;
        let ultraface = UltraFaceDetector::load(&settings.ultraface, executor)?;
        let landmark = LandmarkModel::load(&settings.landmark, executor)?;
        let embedder = Embedder::load(&settings.feature, executor)?;
        loaded.insert("ultraface".to_string(), ultraface.sha256().to_string());
        loaded.insert("landmark".to_string(), landmark.sha256().to_string());
        loaded.insert("feature".to_string(), embedder.sha256().to_string());
        Ok(FacepluginModels {
            settings: settings.clone(),
            ultraface,
            landmark,
            embedder,
            liveness: LivenessModel::load(&settings.liveness, executor)?,
            eye: EyeModel::load(&settings.eye, executor)?,
            pose: PoseModel::load(&settings.pose, executor)?,
        })
    }

    fn detect_still(
        &self,
        seeta: &SeetaDetector,
        img: &RgbImage,
    ) -> Result<Vec<Detection>, FaceError> {
        Ok(match self.settings.still_detector {
            StillDetector::Seeta => seeta.detect(img, seeta.still_run()),
            StillDetector::UltraFace => self.ultraface.detect(img)?,
            StillDetector::SeetaThenUltraFace => {
                let d = seeta.detect(img, seeta.still_run());
                if d.is_empty() {
                    self.ultraface.detect(img)?
                } else {
                    d
                }
            }
            StillDetector::UltraFaceThenSeeta => {
                let d = self.ultraface.detect(img)?;
                if d.is_empty() {
                    seeta.detect(img, seeta.still_run())
                } else {
                    d
                }
            }
        })
    }

    fn five(
        &self,
        img: &RgbImage,
        det: &Detection,
    ) -> Result<(Landmarks68, FivePoints), FaceError> {
        let lm = self.landmark.predict(img, det.face_box)?;
        let five = lm.five_points().ok_or_else(|| {
            FaceError::AlignmentFailed("landmark model returned too few points".into())
        })?;
        Ok((lm, five))
    }

    fn locate(
        &self,
        img: &RgbImage,
        det: Detection,
        mode: Mode,
        timings: &mut StageTimings,
    ) -> Result<Located, FaceError> {
        let t = Instant::now();
        let (lm, five) = self.five(img, &det)?;
        timings.landmarks_ms = ms_since(t);
        let t = Instant::now();
        let pose = match mode {
            Mode::Still => self.pose.estimate(img, det.face_box, &five)?,
            Mode::Frame => pose_from_landmarks(&five),
        };
        timings.pose_ms = ms_since(t);
        let t = Instant::now();
        let eyes = Some(self.eye.state(img, &lm)?);
        timings.eyes_ms = ms_since(t);
        let t = Instant::now();
        let liveness = if mode == Mode::Still || self.settings.liveness_on_frames {
            Some(self.liveness.score(img, det.face_box)?)
        } else {
            None
        };
        timings.liveness_ms = ms_since(t);
        Ok(Located {
            detection: det,
            landmarks: lm.points,
            five,
            pose,
            eyes,
            liveness,
        })
    }

    fn align(&self, image: &RgbImage, five: &FivePoints) -> Result<RgbImage, FaceError> {
        let input = &self.settings.feature.input;
        align::align_face(
            image,
            &five.as_array(),
            &self.settings.feature.reference_points_px,
            input.width_px,
            input.height_px,
        )
    }
}

impl OpenModels {
    fn load(
        settings: &OpenSettings,
        loaded: &mut BTreeMap<String, String>,
    ) -> Result<Self, FaceError> {
        let blazeface = BlazeFace::load(&settings.blazeface, settings.executor)?;
        let mesh = FaceMesh::load(&settings.mesh, settings.executor)?;
        let (shape_bytes, shape_sha256) =
            onnx::read_checked("shape_predictor", &settings.dlib.shape_predictor)?;
        let shape =
            ShapePredictor::from_dat(&shape_bytes).map_err(dlib_error("shape_predictor"))?;
        let (resnet_bytes, recognizer_sha256) =
            onnx::read_checked("feature", &settings.dlib.recognizer)?;
        // The ResNet always runs on the built-in executor (no ONNX graph exists for tract).
        let recognizer = DlibRecognizer::from_dat(&resnet_bytes, enroll_cnn::Isa::detect())
            .map_err(dlib_error("feature"))?;
        loaded.insert("blazeface".to_string(), blazeface.sha256().to_string());
        loaded.insert("mesh".to_string(), mesh.mesh_sha256().to_string());
        loaded.insert("iris".to_string(), mesh.iris_sha256().to_string());
        loaded.insert("shape_predictor".to_string(), shape_sha256);
        loaded.insert("feature".to_string(), recognizer_sha256.clone());
        Ok(OpenModels {
            settings: settings.clone(),
            blazeface,
            mesh,
            shape,
            recognizer,
            recognizer_sha256,
        })
    }

    /// The box dlib's shape predictor gets for a detection (calibrated against dlib's own
    /// detector boxes, `dlib.box_*` in the pack's engine file).
    fn dlib_rect(&self, det: &Detection) -> DlibRect {
        let d = &self.settings.dlib;
        let b = det.face_box;
        let side = b.width_px * d.box_scale;
        let (cx, cy) = b.centre_px();
        let (cx, cy) = (
            cx + d.box_shift_x * b.width_px,
            cy + d.box_shift_y * b.width_px,
        );
        DlibRect::from_centre(cx, cy, side)
    }

    /// dlib's aligned chip for a detection in `image`'s coordinates.
    fn chip(&self, image: &RgbImage, det: &Detection) -> RgbImage {
        let parts = self.shape.predict(image, self.dlib_rect(det));
        let d = &self.settings.dlib;
        dlib::chip::extract_chip(
            image,
            &dlib::chip::chip_details(&parts, d.chip_side_px, d.chip_padding),
        )
    }

    fn embed_chip(&self, chip: &RgbImage) -> Result<Embedding, FaceError> {
        let describe = |chip: &RgbImage| {
            self.recognizer
                .descriptor(chip)
                .map_err(|e| FaceError::inference("feature", e))
        };
        let mut values = describe(chip)?;
        if self.settings.dlib.flip_average {
            let mirrored = describe(&image::imageops::flip_horizontal(chip))?;
            for (v, m) in values.iter_mut().zip(mirrored) {
                *v = (*v + m) / 2.0;
            }
        }
        Embedding::from_values(values, self.recognizer_sha256.clone()).ok_or_else(|| {
            FaceError::Inference {
                role: "feature".into(),
                detail: "the recogniser returned no usable numbers".into(),
            }
        })
    }

    fn locate(
        &self,
        img: &RgbImage,
        det: Detection,
        timings: &mut StageTimings,
    ) -> Result<Located, FaceError> {
        let t = Instant::now();
        let (cx, cy) = det.raw_box.centre_px();
        let side = det.raw_box.width_px.max(det.raw_box.height_px);
        let centre = PointPx::new(cx, cy);
        // BlazeFace gives the eyes (the subject's right first); rustface does not: level crop.
        let (from, to) = match (
            det.keypoints.get(blazeface::keypoint::RIGHT_EYE),
            det.keypoints.get(blazeface::keypoint::LEFT_EYE),
        ) {
            (Some(right), Some(left)) => (*right, *left),
            _ => (PointPx::new(cx - 1.0, cy), PointPx::new(cx + 1.0, cy)),
        };
        let square = self.mesh.face_square(centre, side, from, to);
        let mesh = self.mesh.mesh(img, &square)?;
        if mesh.face_probability < 0.5 {
            return Err(FaceError::NoFace);
        }
        let five = mesh.five_points().ok_or_else(|| {
            FaceError::AlignmentFailed("the face mesh returned too few points".into())
        })?;
        timings.landmarks_ms = ms_since(t);
        let t = Instant::now();
        let pose = match mesh.pose() {
            Some(pose) => HeadPose {
                pitch_deg: pose.pitch_deg + self.settings.mesh.pitch_offset_deg,
                ..pose
            },
            None => pose_from_landmarks(&five),
        };
        timings.pose_ms = ms_since(t);
        let t = Instant::now();
        let right = self.mesh.iris(img, &mesh, EyeSide::Right)?;
        let left = self.mesh.iris(img, &mesh, EyeSide::Left)?;
        let ratio = |iris: &mediapipe::mesh::IrisResult, side| {
            iris.aspect_ratio()
                .or_else(|| mesh.aspect_ratio(side))
                .unwrap_or(0.0)
        };
        let (right_ratio, left_ratio) =
            (ratio(&right, EyeSide::Right), ratio(&left, EyeSide::Left));
        let eyes = EyeState {
            // Image order: the subject's right eye is on the image's left.
            left_open_probability: self.settings.eyes.openness(right_ratio),
            right_open_probability: self.settings.eyes.openness(left_ratio),
            left_aspect_ratio: Some(right_ratio),
            right_aspect_ratio: Some(left_ratio),
        };
        timings.eyes_ms = ms_since(t);
        Ok(Located {
            detection: det,
            landmarks: mesh
                .points
                .iter()
                .map(|p| PointPx::new(p[0], p[1]))
                .collect(),
            five,
            pose,
            eyes: Some(eyes),
            liveness: None,
        })
    }
}

impl FaceEngine {
    /// Loads and hash-checks every model of the pack, and binds the decision threshold to their
    /// hashes.
    pub fn load(pack: &PackSettings) -> Result<FaceEngine, FaceError> {
        let problems = pack.problems();
        if let Some((key, problem)) = problems.first() {
            return Err(FaceError::InvalidSettings(format!("{key}: {problem}")));
        }
        let limits = pack.limits();
        if limits.min_side_px < 1 || limits.max_analysis_side_px < limits.min_side_px {
            return Err(FaceError::InvalidSettings(
                "limits: need 1 <= min_side_px <= max_analysis_side_px".into(),
            ));
        }
        let mut models_sha256 = BTreeMap::new();
        let (seeta, models) = match pack {
            PackSettings::Faceplugin { settings, .. } => (
                SeetaDetector::load(&settings.seeta)?,
                Models::Faceplugin(Box::new(FacepluginModels::load(
                    settings,
                    &mut models_sha256,
                )?)),
            ),
            PackSettings::Open { settings, .. } => (
                SeetaDetector::load(&settings.seeta)?,
                Models::Open(Box::new(OpenModels::load(settings, &mut models_sha256)?)),
            ),
        };
        models_sha256.insert("seeta".to_string(), seeta.sha256().to_string());
        let threshold = BoundThreshold::bind(pack.decision(), &models_sha256)?;
        Ok(FaceEngine {
            pack: pack.clone(),
            seeta,
            models,
            threshold,
            models_sha256,
        })
    }

    /// Loads the faceplugin pipeline from its settings alone (see [`FaceEngine::load`]).
    pub fn load_faceplugin(settings: &EngineSettings) -> Result<FaceEngine, FaceError> {
        Self::load(&PackSettings::faceplugin(settings.clone()))
    }

    /// The pack this engine runs.
    pub fn pack(&self) -> &PackSettings {
        &self.pack
    }

    /// Role -> SHA-256 of the loaded models the decision depends on.
    pub fn models_sha256(&self) -> &BTreeMap<String, String> {
        &self.models_sha256
    }

    pub fn threshold_cosine(&self) -> f32 {
        self.threshold.threshold_cosine()
    }

    fn check_size(&self, image: &RgbImage) -> Result<(), FaceError> {
        let min = self.pack.limits().min_side_px;
        if image.width() < min || image.height() < min {
            return Err(FaceError::ImageTooSmall {
                width_px: image.width(),
                height_px: image.height(),
                min_side_px: min,
            });
        }
        Ok(())
    }

    fn primary_ratio(&self) -> f32 {
        match &self.models {
            Models::Faceplugin(m) => m.settings.primary_face_min_size_ratio,
            Models::Open(m) => m.settings.primary_face_min_size_ratio,
        }
    }

    /// Detections on the working image, largest first.
    fn detect(&self, img: &RgbImage, mode: Mode) -> Result<Vec<Detection>, FaceError> {
        let mut dets = match (&self.models, mode) {
            (Models::Faceplugin(_), Mode::Frame) => self.seeta.detect_live(img),
            (Models::Faceplugin(m), Mode::Still) => m.detect_still(&self.seeta, img)?,
            (Models::Open(m), _) => {
                let found = m.blazeface.detections(img)?;
                if found.is_empty() && mode == Mode::Still {
                    self.seeta.detect(img, self.seeta.still_run())
                } else {
                    found
                }
            }
        };
        dets.sort_by(|a, b| b.face_box.width_px.total_cmp(&a.face_box.width_px));
        Ok(dets)
    }

    /// The main detection.
    fn primary(&self, img: &RgbImage, dets: &[Detection]) -> Result<Detection, FaceError> {
        primary(dets, img.width(), img.height(), self.primary_ratio())
            .cloned()
            .ok_or(FaceError::NoFace)
    }

    fn locate(
        &self,
        img: &RgbImage,
        dets: &[Detection],
        mode: Mode,
        timings: &mut StageTimings,
    ) -> Result<Located, FaceError> {
        let det = self.primary(img, dets)?;
        match &self.models {
            Models::Faceplugin(m) => m.locate(img, det, mode, timings),
            Models::Open(m) => m.locate(img, det, timings),
        }
    }

    fn analyze(&self, image: &RgbImage, mode: Mode) -> Result<Analysis, FaceError> {
        let t_total = Instant::now();
        let mut timings = StageTimings::default();
        self.check_size(image)?;
        let t = Instant::now();
        let (work, factor) = imaging::fit_within(image, self.pack.limits().max_analysis_side_px);
        let work: &RgbImage = &work;
        timings.prepare_ms = ms_since(t);

        let t = Instant::now();
        let dets = self.detect(work, mode)?;
        timings.detect_ms = ms_since(t);

        let qsettings = match mode {
            Mode::Still => self.pack.quality_still(),
            Mode::Frame => self.pack.quality_live(),
        };
        let main_side = dets.first().map(|d| d.face_box.width_px).unwrap_or(0.0);
        let face_count = dets
            .iter()
            .filter(|d| d.face_box.width_px >= main_side * qsettings.other_face_min_ratio)
            .count();

        let mut face = None;
        if !dets.is_empty()
            && let Ok(located) = self.locate(work, &dets, mode, &mut timings)
        {
            let t = Instant::now();
            let measures = quality::measure_face(work, located.detection.face_box, qsettings);
            timings.quality_ms = ms_since(t);
            let five_o = scale_five(&located.five, factor);
            face = Some(FaceDetail {
                detection: located.detection.scaled(factor),
                landmarks: Landmarks68 {
                    points: located
                        .landmarks
                        .iter()
                        .map(|p| scale_point(*p, factor))
                        .collect(),
                },
                inter_eye_px: five_o.inter_eye_px(),
                five_points: five_o,
                pose: located.pose,
                eyes: located.eyes,
                liveness: located.liveness,
                measures,
            });
        }
        let t = Instant::now();
        let facts = face.as_ref().map(|f| FaceFacts {
            face_box: f.detection.face_box,
            inter_eye_px: f.inter_eye_px,
            pose: f.pose,
            eyes: f.eyes,
            live_probability: f.liveness.as_ref().map(|l| l.live_probability),
            measures: f.measures,
        });
        let quality = quality::assess(
            qsettings,
            image.width(),
            image.height(),
            face_count,
            facts.as_ref(),
        );
        timings.quality_ms += ms_since(t);
        timings.total_ms = ms_since(t_total);
        Ok(Analysis {
            image_width_px: image.width(),
            image_height_px: image.height(),
            detections: dets.iter().map(|d| d.scaled(factor)).collect(),
            face,
            quality,
            timings,
        })
    }

    /// The aligned face the recogniser sees for a detection in `image`'s coordinates (faceplugin:
    /// five points warped to 112x112; open: dlib's 5 points and its 150x150 chip).
    fn aligned(
        &self,
        image: &RgbImage,
        detection: &Detection,
        five: &FivePoints,
    ) -> Result<RgbImage, FaceError> {
        match &self.models {
            Models::Faceplugin(m) => m.align(image, five),
            Models::Open(m) => Ok(m.chip(image, detection)),
        }
    }

    /// Embedding of an aligned face of the recogniser's input size (what
    /// [`FaceEngine::aligned_face`] returns).
    pub fn embed_aligned(&self, aligned: &RgbImage) -> Result<Embedding, FaceError> {
        match &self.models {
            Models::Faceplugin(m) => m.embedder.embed_aligned(aligned),
            Models::Open(m) => m.embed_chip(aligned),
        }
    }

    /// The aligned face for the main face of an earlier analysis of `image` (fixtures, debugging).
    pub fn aligned_face(
        &self,
        image: &RgbImage,
        analysis: &Analysis,
    ) -> Result<RgbImage, FaceError> {
        let face = analysis.face.as_ref().ok_or(FaceError::NoFace)?;
        self.aligned(image, &face.detection, &face.five_points)
    }

    fn embed_timed(
        &self,
        image: &RgbImage,
        detection: &Detection,
        five: &FivePoints,
        timings: &mut StageTimings,
    ) -> Result<Embedding, FaceError> {
        let t = Instant::now();
        let aligned = self.aligned(image, detection, five)?;
        timings.align_ms = ms_since(t);
        let t = Instant::now();
        let e = self.embed_aligned(&aligned)?;
        timings.embed_ms = ms_since(t);
        Ok(e)
    }

    /// Detects, locates and embeds the main face of a still, with per-stage timings.
    pub fn embed_still_timed(
        &self,
        image: &RgbImage,
    ) -> Result<(Embedding, StageTimings), FaceError> {
        let t_total = Instant::now();
        let mut timings = StageTimings::default();
        self.check_size(image)?;
        let t = Instant::now();
        let (work, factor) = imaging::fit_within(image, self.pack.limits().max_analysis_side_px);
        let work: &RgbImage = &work;
        timings.prepare_ms = ms_since(t);
        let t = Instant::now();
        let dets = self.detect(work, Mode::Still)?;
        timings.detect_ms = ms_since(t);
        let t = Instant::now();
        let det = self.primary(work, &dets)?;
        // The faceplugin recogniser aligns on the landmark model's points; dlib's on its own.
        let five = match &self.models {
            Models::Faceplugin(m) => scale_five(&m.five(work, &det)?.1, factor),
            Models::Open(_) => FivePoints::default(),
        };
        timings.landmarks_ms = ms_since(t);
        let e = self.embed_timed(image, &det.scaled(factor), &five, &mut timings)?;
        timings.total_ms = ms_since(t_total);
        Ok((e, timings))
    }

    /// Embeds the face an earlier analysis of the same image found.
    pub fn embed_analyzed(
        &self,
        image: &RgbImage,
        analysis: &Analysis,
    ) -> Result<Embedding, FaceError> {
        let face = analysis.face.as_ref().ok_or(FaceError::NoFace)?;
        let mut timings = StageTimings::default();
        self.embed_timed(image, &face.detection, &face.five_points, &mut timings)
    }

    /// Largest decodable side of an encoded image (the pack's limit).
    pub fn max_decode_side_px(&self) -> u32 {
        self.pack.limits().max_decode_side_px
    }
}

impl FaceAnalyzer for FaceEngine {
    fn analyze_still(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
        self.analyze(image, Mode::Still)
    }

    fn analyze_frame(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
        self.analyze(image, Mode::Frame)
    }
}

impl FaceMatcher for FaceEngine {
    fn embed_still(&self, image: &RgbImage) -> Result<Embedding, FaceError> {
        Ok(self.embed_still_timed(image)?.0)
    }

    fn compare(&self, a: &Embedding, b: &Embedding) -> Result<Decision, FaceError> {
        self.threshold.decide(a, b)
    }
}

impl PortraitMaker for FaceEngine {
    fn portrait(&self, image: &RgbImage, analysis: &Analysis) -> Result<Portrait, FaceError> {
        let face = analysis.face.as_ref().ok_or(FaceError::NoFace)?;
        if analysis.image_width_px != image.width() || analysis.image_height_px != image.height() {
            return Err(FaceError::AlignmentFailed(
                "the analysis belongs to an image of a different size".into(),
            ));
        }
        portrait::make_portrait(image, &face.five_points, self.pack.portrait())
    }
}
