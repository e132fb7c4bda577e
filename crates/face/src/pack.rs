//! Owns the model-pack data: a pack's manifest (`[pack]` in its `engine.toml`: name, licences,
//! which pipeline its files feed), the settings of the `open` pipeline (BlazeFace, FaceMesh + Iris,
//! dlib's shape predictor and recogniser), and `PackSettings`, the one type the engine loads from
//! either pipeline. It reads no file; the kiosk's configuration reads and checks `engine.toml`.

use serde::{Deserialize, Serialize};
use std::path::Path;

use enroll_core::domain::challenge::ChallengeSettings;

use crate::mediapipe::blazeface::BlazeFaceSettings;
use crate::mediapipe::mesh::MeshSettings;
use crate::quality::QualitySettings;
use crate::settings::{
    DecisionSettings, EngineSettings, LimitSettings, ModelFile, OnnxExecutor, PortraitSettings,
    SeetaSettings,
};

/// Which code turns a pack's files into an analysis and an embedding.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Pipeline {
    /// UltraFace + rustface, 68-point landmarks, a 512-d ONNX embedder, learned eye, pose and
    /// passive-liveness models (today's `faceplugin` files).
    Faceplugin,
    /// BlazeFace (+ rustface fallback), FaceMesh + Iris, dlib's 5 points, chip and ResNet.
    Open,
}

/// `[pack]` in a pack's `engine.toml`: what `kiosk face packs` lists and the record names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    /// The folder name, e.g. "open".
    pub name: String,
    /// One line for people: what the pack is.
    pub summary: String,
    /// SPDX identifiers of the licences its files carry (texts in the pack's LICENSES/).
    pub licences: Vec<String>,
    pub pipeline: Pipeline,
}

/// dlib's alignment and recogniser.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DlibSettings {
    pub shape_predictor: ModelFile,
    pub recognizer: ModelFile,
    /// The shape predictor was trained on dlib's HOG detector boxes; the box it gets is the
    /// detector box (BlazeFace's, made square on its longer side) scaled by this factor ...
    pub box_scale: f32,
    /// ... and moved by these fractions of its side (+x right, +y down).
    pub box_shift_x: f32,
    pub box_shift_y: f32,
    /// dlib's `get_face_chip` size and padding (150, 0.25 for the ResNet).
    pub chip_side_px: u32,
    pub chip_padding: f64,
    /// Also describe the mirrored chip and average the two (a second ResNet run).
    pub flip_average: bool,
}

/// Eye openness from the eye aspect ratio (lid gap over corner distance, Iris contour):
/// 0 at or below `closed_aspect_ratio`, 1 at or above `open_aspect_ratio`, linear between.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EyeOpennessSettings {
    pub closed_aspect_ratio: f32,
    pub open_aspect_ratio: f32,
}

impl EyeOpennessSettings {
    pub fn openness(&self, aspect_ratio: f32) -> f32 {
        let span = (self.open_aspect_ratio - self.closed_aspect_ratio).max(1e-6);
        ((aspect_ratio - self.closed_aspect_ratio) / span).clamp(0.0, 1.0)
    }
}

/// Everything the `open` pipeline needs (a pack's `engine.toml` besides `[pack]`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenSettings {
    #[serde(default)]
    pub executor: OnnxExecutor,
    /// rustface: the fallback when BlazeFace finds no face in a still.
    pub seeta: SeetaSettings,
    pub blazeface: BlazeFaceSettings,
    pub mesh: MeshSettings,
    pub dlib: DlibSettings,
    pub eyes: EyeOpennessSettings,
    /// The active liveness challenge's thresholds (on the Iris eye aspect ratio and mesh yaw).
    pub challenge: ChallengeSettings,
    /// The main face is the most central one among faces whose box side is at least this
    /// fraction of the largest.
    pub primary_face_min_size_ratio: f32,
    pub decision: DecisionSettings,
    pub limits: LimitSettings,
    pub quality_still: QualitySettings,
    pub quality_live: QualitySettings,
    pub portrait: PortraitSettings,
}

/// A pack's engine settings, for either pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum PackSettings {
    Faceplugin {
        manifest: PackManifest,
        settings: Box<EngineSettings>,
    },
    Open {
        manifest: PackManifest,
        settings: Box<OpenSettings>,
    },
}

impl PackSettings {
    /// The faceplugin pipeline's settings as a pack named `faceplugin` (the layout before packs:
    /// `face.models_dir` and `face.engine_file`).
    pub fn faceplugin(settings: EngineSettings) -> Self {
        PackSettings::Faceplugin {
            manifest: PackManifest {
                name: "faceplugin".into(),
                summary:
                    "FacePlugin's six ONNX files (npm faceplugin-face-recognition-js 0.0.1) and \
                          SeetaFace; provenance partly unknown"
                        .into(),
                licences: vec!["MIT (template, unfilled)".into(), "BSD-2-Clause".into()],
                pipeline: Pipeline::Faceplugin,
            },
            settings: Box::new(settings),
        }
    }

    /// The faceplugin pipeline's settings, if this is such a pack.
    pub fn as_faceplugin(&self) -> Option<&EngineSettings> {
        match self {
            PackSettings::Faceplugin { settings, .. } => Some(settings),
            PackSettings::Open { .. } => None,
        }
    }

    /// The open pipeline's settings, if this is such a pack.
    pub fn as_open(&self) -> Option<&OpenSettings> {
        match self {
            PackSettings::Open { settings, .. } => Some(settings),
            PackSettings::Faceplugin { .. } => None,
        }
    }

    pub fn manifest(&self) -> &PackManifest {
        match self {
            PackSettings::Faceplugin { manifest, .. } | PackSettings::Open { manifest, .. } => {
                manifest
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.manifest().name
    }

    pub fn limits(&self) -> &LimitSettings {
        match self {
            PackSettings::Faceplugin { settings, .. } => &settings.limits,
            PackSettings::Open { settings, .. } => &settings.limits,
        }
    }

    pub fn decision(&self) -> &DecisionSettings {
        match self {
            PackSettings::Faceplugin { settings, .. } => &settings.decision,
            PackSettings::Open { settings, .. } => &settings.decision,
        }
    }

    pub fn quality_live(&self) -> &QualitySettings {
        match self {
            PackSettings::Faceplugin { settings, .. } => &settings.quality_live,
            PackSettings::Open { settings, .. } => &settings.quality_live,
        }
    }

    pub fn quality_still(&self) -> &QualitySettings {
        match self {
            PackSettings::Faceplugin { settings, .. } => &settings.quality_still,
            PackSettings::Open { settings, .. } => &settings.quality_still,
        }
    }

    /// The active challenge's thresholds, for packs whose engine measures eyes and yaw for it
    /// (the open pipeline); `None` for the others.
    pub fn challenge(&self) -> Option<ChallengeSettings> {
        match self {
            PackSettings::Open { settings, .. } => Some(settings.challenge),
            PackSettings::Faceplugin { .. } => None,
        }
    }

    pub fn portrait(&self) -> &PortraitSettings {
        match self {
            PackSettings::Faceplugin { settings, .. } => &settings.portrait,
            PackSettings::Open { settings, .. } => &settings.portrait,
        }
    }

    /// Every model file, named by its role (the diagnostic bundle lists their hashes).
    pub fn models(&self) -> Vec<(&'static str, &ModelFile)> {
        match self {
            PackSettings::Faceplugin { settings, .. } => settings.models().to_vec(),
            PackSettings::Open { settings, .. } => vec![
                ("seeta", &settings.seeta.model),
                ("blazeface", &settings.blazeface.model),
                ("mesh", &settings.mesh.model),
                ("iris", &settings.mesh.iris_model),
                ("shape_predictor", &settings.dlib.shape_predictor),
                ("feature", &settings.dlib.recognizer),
            ],
        }
    }

    /// The same settings with every relative model path joined onto `dir`.
    pub fn with_models_dir(self, dir: &Path) -> Self {
        match self {
            PackSettings::Faceplugin { manifest, settings } => PackSettings::Faceplugin {
                manifest,
                settings: Box::new(settings.with_models_dir(dir)),
            },
            PackSettings::Open {
                manifest,
                mut settings,
            } => {
                for model in [
                    &mut settings.seeta.model,
                    &mut settings.blazeface.model,
                    &mut settings.mesh.model,
                    &mut settings.mesh.iris_model,
                    &mut settings.dlib.shape_predictor,
                    &mut settings.dlib.recognizer,
                ] {
                    if model.path.is_relative() {
                        model.path = dir.join(&model.path);
                    }
                }
                PackSettings::Open { manifest, settings }
            }
        }
    }

    /// Values outside their allowed range, as `(dotted key, problem)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        match self {
            PackSettings::Faceplugin { settings, .. } => settings.problems(),
            PackSettings::Open { settings, .. } => {
                let mut out = Vec::new();
                let mut range = |key: &str, value: f32, min: f32, max: f32| {
                    if !(min..=max).contains(&value) {
                        out.push((
                            key.to_owned(),
                            format!("{value} is out of range; allowed: {min} to {max}"),
                        ));
                    }
                };
                range(
                    "decision.threshold_cosine",
                    settings.decision.threshold_cosine,
                    -1.0,
                    1.0,
                );
                range("dlib.box_scale", settings.dlib.box_scale, 0.3, 3.0);
                range("dlib.box_shift_x", settings.dlib.box_shift_x, -0.5, 0.5);
                range("dlib.box_shift_y", settings.dlib.box_shift_y, -0.5, 0.5);
                range(
                    "eyes.closed_aspect_ratio",
                    settings.eyes.closed_aspect_ratio,
                    0.0,
                    settings.eyes.open_aspect_ratio,
                );
                range(
                    "primary_face_min_size_ratio",
                    settings.primary_face_min_size_ratio,
                    0.0,
                    1.0,
                );
                if !(32..=1024).contains(&settings.dlib.chip_side_px) {
                    out.push((
                        "dlib.chip_side_px".into(),
                        "allowed: 32 to 1024 (the recogniser takes 150)".into(),
                    ));
                }
                out
            }
        }
    }
}
