//! Owns capture-quality checks: measuring the face crop (luminance, contrast, clipping,
//! sharpness) and comparing every measure with thresholds from `QualitySettings`, producing
//! reason codes a UI turns into guidance. It runs no models and holds no hard-coded thresholds.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::imaging::{Border, RectPx, crop_resize, luma};
use super::liveness::{EyeState, HeadPose};

/// Thresholds for one use (stored ISO portrait vs. live guidance).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QualitySettings {
    /// Other faces count when their box side is at least this fraction of the main face's.
    pub other_face_min_ratio: f32,
    pub min_inter_eye_px: f32,
    pub max_abs_yaw_deg: f32,
    pub max_abs_pitch_deg: f32,
    pub max_abs_roll_deg: f32,
    /// Face box height as a fraction of image height.
    pub min_face_height_frac: f32,
    pub max_face_height_frac: f32,
    /// Largest distance of the face centre from the image centre, as a fraction of each side.
    pub max_centre_offset_frac: f32,
    /// Mean luma of the face crop, 0..255.
    pub min_mean_luma: f32,
    pub max_mean_luma: f32,
    /// 95th minus 5th percentile of face luma, 0..255.
    pub min_dynamic_range_luma: f32,
    /// Fraction of face pixels at or below `dark_clip_luma` / at or above `bright_clip_luma`.
    pub max_dark_clipped_frac: f32,
    pub max_bright_clipped_frac: f32,
    pub dark_clip_luma: f32,
    pub bright_clip_luma: f32,
    /// Variance of the Laplacian of the face resampled to `sharpness_side_px` square.
    pub min_sharpness_laplacian_var: f32,
    pub sharpness_side_px: u32,
    pub min_eye_open_probability: f32,
    /// `None`: liveness is reported but does not fail quality (class semantics unverified).
    pub min_live_probability: Option<f32>,
}

impl QualitySettings {
    /// Stored enrolment portrait per ISO/IEC 19794-5 frontal: yaw/pitch within 5 degrees,
    /// roll within 8 degrees, at least 90 px between the eyes.
    pub fn iso_portrait() -> Self {
        QualitySettings {
            other_face_min_ratio: 0.4,
            min_inter_eye_px: 90.0,
            max_abs_yaw_deg: 5.0,
            max_abs_pitch_deg: 5.0,
            max_abs_roll_deg: 8.0,
            min_face_height_frac: 0.3,
            max_face_height_frac: 0.9,
            max_centre_offset_frac: 0.2,
            min_mean_luma: 70.0,
            max_mean_luma: 200.0,
            min_dynamic_range_luma: 60.0,
            max_dark_clipped_frac: 0.05,
            max_bright_clipped_frac: 0.05,
            dark_clip_luma: 8.0,
            bright_clip_luma: 247.0,
            min_sharpness_laplacian_var: 40.0,
            sharpness_side_px: 112,
            min_eye_open_probability: 0.5,
            min_live_probability: None,
        }
    }

    /// Live guidance on a 640x480 kiosk camera: looser pose, smaller faces allowed.
    pub fn live_guidance() -> Self {
        QualitySettings {
            min_inter_eye_px: 45.0,
            max_abs_yaw_deg: 12.0,
            max_abs_pitch_deg: 12.0,
            max_abs_roll_deg: 10.0,
            min_face_height_frac: 0.25,
            max_face_height_frac: 0.85,
            max_centre_offset_frac: 0.2,
            ..Self::iso_portrait()
        }
    }
}

/// Which check a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityCheck {
    FaceCount,
    InterEyeDistance,
    Yaw,
    Pitch,
    Roll,
    FaceSize,
    FacePosition,
    Luminance,
    DynamicRange,
    DarkClipping,
    BrightClipping,
    Sharpness,
    EyesOpen,
    Liveness,
}

/// Why a frame fails; one code per kind of guidance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityReason {
    NoFace,
    MultipleFaces,
    TooFar,
    TooClose,
    OffCentre,
    NotFrontal,
    HeadTilted,
    TooDark,
    TooBright,
    LowContrast,
    Underexposed,
    Overexposed,
    Blurry,
    EyesClosed,
    LivenessFailed,
}

/// One measured component.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityComponent {
    pub check: QualityCheck,
    pub value: f32,
    pub passed: bool,
    /// Set when the component fails.
    pub reason: Option<QualityReason>,
}

/// All components and the overall verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QualityReport {
    pub passed: bool,
    pub components: Vec<QualityComponent>,
    /// Distinct failure reasons, in component order.
    pub reasons: Vec<QualityReason>,
}

/// Photometric measures of the face region.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceMeasures {
    pub mean_luma: f32,
    pub dynamic_range_luma: f32,
    pub dark_clipped_frac: f32,
    pub bright_clipped_frac: f32,
    pub sharpness_laplacian_var: f32,
}

/// Measures the face crop (`face_box`, clipped to the image) at `side_px` square.
pub fn measure_face(img: &RgbImage, face_box: RectPx, settings: &QualitySettings) -> FaceMeasures {
    let side = settings.sharpness_side_px.clamp(16, 512);
    // Inner part of the square box (mostly skin, little background).
    let (cx, cy) = face_box.centre_px();
    let inner = RectPx::square(cx, cy, face_box.width_px * 0.8);
    let crop = crop_resize(img, inner, side, side, Border::Replicate);
    let lum: Vec<f32> = crop.pixels().map(luma).collect();
    let n = lum.len().max(1) as f32;
    let mean_luma = lum.iter().sum::<f32>() / n;
    let mut hist = [0u32; 256];
    for v in &lum {
        let bin = v.round().clamp(0.0, 255.0) as usize;
        if let Some(h) = hist.get_mut(bin) {
            *h += 1;
        }
    }
    let percentile = |q: f32| -> f32 {
        let target = (q * n).ceil().max(1.0) as u32;
        let mut acc = 0u32;
        for (i, c) in hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return i as f32;
            }
        }
        255.0
    };
    let dynamic_range_luma = percentile(0.95) - percentile(0.05);
    let dark_clipped_frac = lum
        .iter()
        .filter(|v| **v <= settings.dark_clip_luma)
        .count() as f32
        / n;
    let bright_clipped_frac = lum
        .iter()
        .filter(|v| **v >= settings.bright_clip_luma)
        .count() as f32
        / n;
    // 4-neighbour Laplacian.
    let s = side as usize;
    let at = |x: usize, y: usize| lum.get(y * s + x).copied().unwrap_or(0.0);
    let mut lap = Vec::with_capacity(s * s);
    for y in 1..s.saturating_sub(1) {
        for x in 1..s.saturating_sub(1) {
            lap.push(at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y));
        }
    }
    let ln = lap.len().max(1) as f32;
    let lm = lap.iter().sum::<f32>() / ln;
    let sharpness_laplacian_var = lap.iter().map(|v| (v - lm).powi(2)).sum::<f32>() / ln;
    FaceMeasures {
        mean_luma,
        dynamic_range_luma,
        dark_clipped_frac,
        bright_clipped_frac,
        sharpness_laplacian_var,
    }
}

/// Everything quality needs about the chosen face.
#[derive(Clone, Copy, Debug)]
pub struct FaceFacts {
    pub face_box: RectPx,
    pub inter_eye_px: f32,
    pub pose: HeadPose,
    pub eyes: Option<EyeState>,
    pub live_probability: Option<f32>,
    pub measures: FaceMeasures,
}

fn component(
    check: QualityCheck,
    value: f32,
    passed: bool,
    reason: QualityReason,
) -> QualityComponent {
    QualityComponent {
        check,
        value,
        passed,
        reason: if passed { None } else { Some(reason) },
    }
}

/// Compares all measures with the thresholds. `face_count` counts significant faces;
/// `face` is `None` when no usable face was found.
pub fn assess(
    settings: &QualitySettings,
    image_width_px: u32,
    image_height_px: u32,
    face_count: usize,
    face: Option<&FaceFacts>,
) -> QualityReport {
    use QualityCheck as C;
    use QualityReason as R;
    let mut comps = Vec::new();
    let count_reason = if face_count == 0 {
        R::NoFace
    } else {
        R::MultipleFaces
    };
    comps.push(component(
        C::FaceCount,
        face_count as f32,
        face_count == 1,
        count_reason,
    ));
    if let Some(f) = face {
        let s = settings;
        comps.push(component(
            C::InterEyeDistance,
            f.inter_eye_px,
            f.inter_eye_px >= s.min_inter_eye_px,
            R::TooFar,
        ));
        comps.push(component(
            C::Yaw,
            f.pose.yaw_deg,
            f.pose.yaw_deg.abs() <= s.max_abs_yaw_deg,
            R::NotFrontal,
        ));
        comps.push(component(
            C::Pitch,
            f.pose.pitch_deg,
            f.pose.pitch_deg.abs() <= s.max_abs_pitch_deg,
            R::NotFrontal,
        ));
        comps.push(component(
            C::Roll,
            f.pose.roll_deg,
            f.pose.roll_deg.abs() <= s.max_abs_roll_deg,
            R::HeadTilted,
        ));
        let h = image_height_px.max(1) as f32;
        let w = image_width_px.max(1) as f32;
        let size_frac = f.face_box.height_px / h;
        let size_reason = if size_frac < s.min_face_height_frac {
            R::TooFar
        } else {
            R::TooClose
        };
        comps.push(component(
            C::FaceSize,
            size_frac,
            size_frac >= s.min_face_height_frac && size_frac <= s.max_face_height_frac,
            size_reason,
        ));
        let (cx, cy) = f.face_box.centre_px();
        let offset = ((cx - w / 2.0).abs() / w).max((cy - h / 2.0).abs() / h);
        comps.push(component(
            C::FacePosition,
            offset,
            offset <= s.max_centre_offset_frac,
            R::OffCentre,
        ));
        let m = &f.measures;
        let lum_reason = if m.mean_luma < s.min_mean_luma {
            R::TooDark
        } else {
            R::TooBright
        };
        comps.push(component(
            C::Luminance,
            m.mean_luma,
            m.mean_luma >= s.min_mean_luma && m.mean_luma <= s.max_mean_luma,
            lum_reason,
        ));
        comps.push(component(
            C::DynamicRange,
            m.dynamic_range_luma,
            m.dynamic_range_luma >= s.min_dynamic_range_luma,
            R::LowContrast,
        ));
        comps.push(component(
            C::DarkClipping,
            m.dark_clipped_frac,
            m.dark_clipped_frac <= s.max_dark_clipped_frac,
            R::Underexposed,
        ));
        comps.push(component(
            C::BrightClipping,
            m.bright_clipped_frac,
            m.bright_clipped_frac <= s.max_bright_clipped_frac,
            R::Overexposed,
        ));
        comps.push(component(
            C::Sharpness,
            m.sharpness_laplacian_var,
            m.sharpness_laplacian_var >= s.min_sharpness_laplacian_var,
            R::Blurry,
        ));
        if let Some(e) = f.eyes {
            let open = e.left_open_probability.min(e.right_open_probability);
            comps.push(component(
                C::EyesOpen,
                open,
                open >= s.min_eye_open_probability,
                R::EyesClosed,
            ));
        }
        if let (Some(min_live), Some(live)) = (s.min_live_probability, f.live_probability) {
            comps.push(component(
                C::Liveness,
                live,
                live >= min_live,
                R::LivenessFailed,
            ));
        }
    }
    let mut reasons: Vec<QualityReason> = Vec::new();
    for c in &comps {
        if let Some(r) = c.reason
            && !reasons.contains(&r)
        {
            reasons.push(r);
        }
    }
    QualityReport {
        passed: face.is_some() && comps.iter().all(|c| c.passed),
        components: comps,
        reasons,
    }
}
