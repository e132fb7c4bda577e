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
pub use portrait::Portrait;
pub use quality::{QualityCheck, QualityComponent, QualityReason, QualityReport, QualitySettings};
pub use settings::{EngineSettings, StillDetector};

use detect::{SeetaDetector, UltraFaceDetector, primary};
use embed::Embedder;
use landmarks::LandmarkModel;
use liveness::{EyeModel, LivenessModel, PoseModel, pose_from_landmarks};
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
    settings: EngineSettings,
    seeta: SeetaDetector,
    ultraface: UltraFaceDetector,
    landmark: LandmarkModel,
    embedder: Embedder,
    liveness: LivenessModel,
    eye: EyeModel,
    pose: PoseModel,
    threshold: BoundThreshold,
    models_sha256: BTreeMap<String, String>,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
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

impl FaceEngine {
    /// Loads and hash-checks every model, and binds the decision threshold to their hashes.
    pub fn load(settings: &EngineSettings) -> Result<FaceEngine, FaceError> {
        if settings.limits.min_side_px < 1
            || settings.limits.max_analysis_side_px < settings.limits.min_side_px
        {
            return Err(FaceError::InvalidSettings(
                "limits: need 1 <= min_side_px <= max_analysis_side_px".into(),
            ));
        }
        let seeta = SeetaDetector::load(&settings.seeta)?;
        let ultraface = UltraFaceDetector::load(&settings.ultraface, settings.executor)?;
        let landmark = LandmarkModel::load(&settings.landmark, settings.executor)?;
        let embedder = Embedder::load(&settings.feature, settings.executor)?;
        let liveness = LivenessModel::load(&settings.liveness, settings.executor)?;
        let eye = EyeModel::load(&settings.eye, settings.executor)?;
        let pose = PoseModel::load(&settings.pose, settings.executor)?;
        let mut models_sha256 = BTreeMap::new();
        models_sha256.insert("seeta".to_string(), seeta.sha256().to_string());
        models_sha256.insert("ultraface".to_string(), ultraface.sha256().to_string());
        models_sha256.insert("landmark".to_string(), landmark.sha256().to_string());
        models_sha256.insert("feature".to_string(), embedder.sha256().to_string());
        let threshold = BoundThreshold::bind(&settings.decision, &models_sha256)?;
        Ok(FaceEngine {
            settings: settings.clone(),
            seeta,
            ultraface,
            landmark,
            embedder,
            liveness,
            eye,
            pose,
            threshold,
            models_sha256,
        })
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Role -> SHA-256 of the loaded detection/landmark/feature models.
    pub fn models_sha256(&self) -> &BTreeMap<String, String> {
        &self.models_sha256
    }

    pub fn threshold_cosine(&self) -> f32 {
        self.threshold.threshold_cosine()
    }

    fn check_size(&self, image: &RgbImage) -> Result<(), FaceError> {
        let min = self.settings.limits.min_side_px;
        if image.width() < min || image.height() < min {
            return Err(FaceError::ImageTooSmall {
                width_px: image.width(),
                height_px: image.height(),
                min_side_px: min,
            });
        }
        Ok(())
    }

    /// Detections on the working image, largest first.
    fn detect(&self, img: &RgbImage, mode: Mode) -> Result<Vec<Detection>, FaceError> {
        let mut dets = match mode {
            Mode::Frame => self.seeta.detect_live(img),
            Mode::Still => match self.settings.still_detector {
                StillDetector::Seeta => self.seeta.detect(img, self.seeta.still_run()),
                StillDetector::UltraFace => self.ultraface.detect(img)?,
                StillDetector::SeetaThenUltraFace => {
                    let d = self.seeta.detect(img, self.seeta.still_run());
                    if d.is_empty() {
                        self.ultraface.detect(img)?
                    } else {
                        d
                    }
                }
                StillDetector::UltraFaceThenSeeta => {
                    let d = self.ultraface.detect(img)?;
                    if d.is_empty() {
                        self.seeta.detect(img, self.seeta.still_run())
                    } else {
                        d
                    }
                }
            },
        };
        dets.sort_by(|a, b| b.face_box.width_px.total_cmp(&a.face_box.width_px));
        Ok(dets)
    }

    /// Landmarks and five points for the main detection on the working image.
    fn locate(
        &self,
        img: &RgbImage,
        dets: &[Detection],
    ) -> Result<(Detection, Landmarks68, FivePoints), FaceError> {
        let det = primary(
            dets,
            img.width(),
            img.height(),
            self.settings.primary_face_min_size_ratio,
        )
        .ok_or(FaceError::NoFace)?
        .clone();
        let lm = self.landmark.predict(img, det.face_box)?;
        let five = lm.five_points().ok_or_else(|| {
            FaceError::AlignmentFailed("landmark model returned too few points".into())
        })?;
        Ok((det, lm, five))
    }

    fn analyze(&self, image: &RgbImage, mode: Mode) -> Result<Analysis, FaceError> {
        let t_total = Instant::now();
        let mut timings = StageTimings::default();
        self.check_size(image)?;
        let t = Instant::now();
        let (work, factor) = imaging::fit_within(image, self.settings.limits.max_analysis_side_px);
        let work: &RgbImage = &work;
        timings.prepare_ms = ms_since(t);

        let t = Instant::now();
        let dets = self.detect(work, mode)?;
        timings.detect_ms = ms_since(t);

        let qsettings = match mode {
            Mode::Still => &self.settings.quality_still,
            Mode::Frame => &self.settings.quality_live,
        };
        let main_side = dets.first().map(|d| d.face_box.width_px).unwrap_or(0.0);
        let face_count = dets
            .iter()
            .filter(|d| d.face_box.width_px >= main_side * qsettings.other_face_min_ratio)
            .count();

        let mut face = None;
        if !dets.is_empty() {
            let t = Instant::now();
            let located = self.locate(work, &dets);
            timings.landmarks_ms = ms_since(t);
            if let Ok((det, lm, five)) = located {
                let t = Instant::now();
                let pose = match mode {
                    Mode::Still => self.pose.estimate(work, det.face_box, &five)?,
                    Mode::Frame => pose_from_landmarks(&five),
                };
                timings.pose_ms = ms_since(t);
                let t = Instant::now();
                let eyes = Some(self.eye.state(work, &lm)?);
                timings.eyes_ms = ms_since(t);
                let t = Instant::now();
                let liveness = if mode == Mode::Still || self.settings.liveness_on_frames {
                    Some(self.liveness.score(work, det.face_box)?)
                } else {
                    None
                };
                timings.liveness_ms = ms_since(t);
                let t = Instant::now();
                let measures = quality::measure_face(work, det.face_box, qsettings);
                timings.quality_ms = ms_since(t);
                let five_o = scale_five(&five, factor);
                face = Some(FaceDetail {
                    detection: det.scaled(factor),
                    landmarks: Landmarks68 {
                        points: lm.points.iter().map(|p| scale_point(*p, factor)).collect(),
                    },
                    inter_eye_px: five_o.inter_eye_px(),
                    five_points: five_o,
                    pose,
                    eyes,
                    liveness,
                    measures,
                });
            }
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

    /// Aligns and embeds the face whose five points (in `image` pixels) are given.
    pub fn embed_points(
        &self,
        image: &RgbImage,
        five: &FivePoints,
    ) -> Result<(Embedding, StageTimings), FaceError> {
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let aligned = self.align(image, five)?;
        timings.align_ms = ms_since(t);
        let t = Instant::now();
        let e = self.embedder.embed_aligned(&aligned)?;
        timings.embed_ms = ms_since(t);
        Ok((e, timings))
    }

    /// The aligned face crop the embedding model sees (e.g. for fixtures and debugging).
    pub fn align(&self, image: &RgbImage, five: &FivePoints) -> Result<RgbImage, FaceError> {
        let input = &self.settings.feature.input;
        align::align_face(
            image,
            &five.as_array(),
            &self.settings.feature.reference_points_px,
            input.width_px,
            input.height_px,
        )
    }

    /// Embedding of an aligned face of the model's input size.
    pub fn embed_aligned(&self, aligned: &RgbImage) -> Result<Embedding, FaceError> {
        self.embedder.embed_aligned(aligned)
    }

    /// Detects, locates and embeds the largest face of a still, with per-stage timings.
    pub fn embed_still_timed(
        &self,
        image: &RgbImage,
    ) -> Result<(Embedding, StageTimings), FaceError> {
        let t_total = Instant::now();
        self.check_size(image)?;
        let t = Instant::now();
        let (work, factor) = imaging::fit_within(image, self.settings.limits.max_analysis_side_px);
        let work: &RgbImage = &work;
        let prepare_ms = ms_since(t);
        let t = Instant::now();
        let dets = self.detect(work, Mode::Still)?;
        let detect_ms = ms_since(t);
        let t = Instant::now();
        let (_, _, five) = self.locate(work, &dets)?;
        let landmarks_ms = ms_since(t);
        let five = scale_five(&five, factor);
        let (e, mut timings) = self.embed_points(image, &five)?;
        timings.prepare_ms = prepare_ms;
        timings.detect_ms = detect_ms;
        timings.landmarks_ms = landmarks_ms;
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
        Ok(self.embed_points(image, &face.five_points)?.0)
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
        portrait::make_portrait(image, &face.five_points, &self.settings.portrait)
    }
}
