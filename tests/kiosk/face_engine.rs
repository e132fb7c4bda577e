//! Specification tests for the face engine on a handful of LFW images (see
//! tests/fixtures/faces/README.md). They load the real models from `models/`.

use enroll_face::align::umeyama;
use enroll_face::imaging::{decode_image, resize_area};
use enroll_face::settings::EngineSettings;
use enroll_face::{
    Analysis, Embedding, FaceAnalyzer, FaceEngine, FaceError, FaceMatcher, PointPx, PortraitMaker,
    QualityCheck, QualityReason, QualityReport,
};
use image::{Rgb, RgbImage};
use std::path::PathBuf;
use std::sync::OnceLock;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The faceplugin pack's engine settings (assets/models/packs/faceplugin, installed for the tests
/// by scripts/faceplugin-pack.sh).
fn settings() -> EngineSettings {
    let dir = root().join("assets/models/packs/faceplugin");
    match enroll_kiosk::config::load_pack(&dir) {
        Ok(pack) => pack
            .as_faceplugin()
            .expect("the faceplugin pack runs the faceplugin pipeline")
            .clone(),
        Err(e) => panic!("the faceplugin pack must load (scripts/faceplugin-pack.sh): {e}"),
    }
}

fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| match FaceEngine::load_faceplugin(&settings()) {
        Ok(e) => e,
        Err(e) => panic!("the engine must load from models/: {e}"),
    })
}

fn fixture(name: &str) -> Result<RgbImage, FaceError> {
    let bytes = std::fs::read(root().join("tests/fixtures/faces").join(name))
        .map_err(|e| FaceError::ImageDecode(e.to_string()))?;
    decode_image(&bytes, 8192)
}

const PERSON_A_1: &str = "Anders_Fogh_Rasmussen_0001.jpg";
const PERSON_A_2: &str = "Anders_Fogh_Rasmussen_0003.jpg";
const PERSON_B: &str = "Amber_Tamblyn_0001.jpg";
const PERSON_C: &str = "Benjamin_Netanyahu_0004.jpg";

fn embed(name: &str) -> Result<Embedding, FaceError> {
    engine().embed_still(&fixture(name)?)
}

fn has_reason(q: &QualityReport, r: QualityReason) -> bool {
    q.reasons.contains(&r)
}

#[test]
fn same_person_scores_above_threshold() -> TestResult {
    let d = engine().compare(&embed(PERSON_A_1)?, &embed(PERSON_A_2)?)?;
    assert!(
        d.is_match,
        "score {} below threshold {}",
        d.score_cosine, d.threshold_cosine
    );
    Ok(())
}

#[test]
fn different_people_score_below_threshold() -> TestResult {
    let a = embed(PERSON_A_1)?;
    for other in [PERSON_B, PERSON_C] {
        let d = engine().compare(&a, &embed(other)?)?;
        assert!(
            !d.is_match,
            "{other}: score {} above threshold",
            d.score_cosine
        );
    }
    Ok(())
}

#[test]
fn embedding_matches_independent_onnxruntime_reference() -> TestResult {
    let dir = root().join("tests/fixtures/faces");
    let aligned = decode_image(
        &std::fs::read(dir.join("aligned_anders_fogh_rasmussen_0001.png"))?,
        512,
    )?;
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join("aligned_anders_fogh_rasmussen_0001.embedding.json"),
    )?)?;
    let expected: Vec<f32> = reference["embedding"]
        .as_array()
        .ok_or("embedding array missing")?
        .iter()
        .filter_map(|v| v.as_f64().map(|x| x as f32))
        .collect();
    assert_eq!(
        reference["model_sha256"].as_str(),
        Some(enroll_face::settings::known_sha256::FEATURE)
    );
    let ours = engine().embed_aligned(&aligned)?;
    assert_eq!(ours.len(), expected.len());
    let max_diff = ours
        .values()
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-3, "max abs difference {max_diff}");
    Ok(())
}

#[test]
fn rotated_face_is_aligned_level() -> TestResult {
    let img = fixture(PERSON_A_1)?;
    // Rotate by 20 degrees about the centre (bilinear), via the engine's own warp.
    let angle = 20f32.to_radians();
    let (s, c) = angle.sin_cos();
    let (cx, cy) = (125.0f32, 125.0f32);
    let inv = [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy];
    let rotated = enroll_face::imaging::warp_affine(
        &img,
        &inv,
        250,
        250,
        enroll_face::imaging::Border::Replicate,
    );
    let analysis = engine().analyze_still(&rotated)?;
    let face = analysis.face.ok_or("no face in rotated image")?;
    assert!(
        (face.pose.roll_deg.abs() - 20.0).abs() < 5.0,
        "roll {}",
        face.pose.roll_deg
    );
    // The alignment transform maps both eyes onto one horizontal line.
    let refs = &settings().feature.reference_points_px;
    let dst: Vec<PointPx> = refs.iter().map(|p| PointPx::new(p[0], p[1])).collect();
    let t = umeyama(&face.five_points.as_array(), &dst).ok_or("degenerate")?;
    let l = t.apply(face.five_points.left_eye);
    let r = t.apply(face.five_points.right_eye);
    let tilt_deg = (r.y_px - l.y_px).atan2(r.x_px - l.x_px).to_degrees();
    assert!(
        tilt_deg.abs() < 3.0,
        "aligned eye line tilted by {tilt_deg} degrees"
    );
    // And the identity survives the rotation.
    let d = engine().compare(&embed(PERSON_A_1)?, &engine().embed_still(&rotated)?)?;
    assert!(
        d.score_cosine > 0.6,
        "rotated copy scored {}",
        d.score_cosine
    );
    Ok(())
}

#[test]
fn non_image_bytes_are_refused() {
    let r = decode_image(b"this is not an image at all", 8192);
    assert!(matches!(r, Err(FaceError::ImageDecode(_))));
}

#[test]
fn truncated_jpeg_is_refused() -> TestResult {
    let bytes = std::fs::read(root().join("tests/fixtures/faces").join(PERSON_A_1))?;
    let cut = bytes.get(..bytes.len() / 3).ok_or("short file")?;
    let r = decode_image(cut, 8192).map(|img| img.dimensions());
    assert!(matches!(r, Err(FaceError::ImageDecode(_))), "{r:?}");
    Ok(())
}

#[test]
fn tiny_image_is_refused_with_a_clear_error() {
    let one = RgbImage::from_pixel(1, 1, Rgb([128, 128, 128]));
    assert!(matches!(
        engine().analyze_still(&one),
        Err(FaceError::ImageTooSmall { .. })
    ));
    assert!(matches!(
        engine().analyze_frame(&one),
        Err(FaceError::ImageTooSmall { .. })
    ));
    assert!(matches!(
        engine().embed_still(&one),
        Err(FaceError::ImageTooSmall { .. })
    ));
}

#[test]
fn huge_encoded_image_is_refused_before_decoding() -> TestResult {
    // A valid 10000x10000 PNG header with no pixel data: refused from the header alone.
    let mut png = Vec::new();
    png.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&10000u32.to_be_bytes());
    ihdr.extend_from_slice(&10000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    for chunk in [&b"IDAT"[..], &b"IEND"[..]] {
        png.extend_from_slice(&0u32.to_be_bytes());
        png.extend_from_slice(chunk);
        png.extend_from_slice(&crc32(chunk).to_be_bytes());
    }
    let r = decode_image(&png, 8192).map(|img| img.dimensions());
    assert!(
        matches!(
            r,
            Err(FaceError::ImageTooLarge {
                width_px: 10000,
                ..
            })
        ),
        "{r:?}"
    );
    Ok(())
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn huge_in_memory_image_is_downscaled_not_refused() -> TestResult {
    let huge = RgbImage::from_pixel(10_000, 10_000, Rgb([90, 90, 90]));
    let a = engine().analyze_still(&huge)?;
    assert_eq!((a.image_width_px, a.image_height_px), (10_000, 10_000));
    assert!(!a.quality.passed && has_reason(&a.quality, QualityReason::NoFace));
    Ok(())
}

#[test]
fn greyscale_image_is_analysed() -> TestResult {
    let grey = image::DynamicImage::ImageRgb8(fixture(PERSON_A_1)?).to_luma8();
    let mut png = Vec::new();
    grey.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    let img = decode_image(&png, 8192)?;
    let a = engine().analyze_still(&img)?;
    assert!(a.face.is_some(), "a greyscale face must still be found");
    let d = engine().compare(&embed(PERSON_A_1)?, &engine().embed_still(&img)?)?;
    assert!(d.is_match, "greyscale copy scored {}", d.score_cosine);
    Ok(())
}

#[test]
fn image_without_face_gives_no_face_verdict() -> TestResult {
    let mut img = RgbImage::new(320, 240);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8]);
    }
    let a = engine().analyze_still(&img)?;
    assert!(a.face.is_none());
    assert!(!a.quality.passed);
    assert_eq!(a.quality.reasons, vec![QualityReason::NoFace]);
    assert!(matches!(engine().embed_still(&img), Err(FaceError::NoFace)));
    Ok(())
}

fn tile(names: &[&str]) -> Result<RgbImage, FaceError> {
    let mut out = RgbImage::from_pixel(170 * names.len() as u32, 210, Rgb([128, 128, 128]));
    for (i, n) in names.iter().enumerate() {
        let img = fixture(n)?;
        let crop = image::imageops::crop_imm(&img, 40, 20, 170, 210).to_image();
        image::imageops::overlay(&mut out, &crop, 170 * i as i64, 0);
    }
    Ok(out)
}

#[test]
fn three_faces_give_multiple_faces_verdict() -> TestResult {
    let img = tile(&[PERSON_A_1, PERSON_B, PERSON_C])?;
    let a = engine().analyze_still(&img)?;
    assert!(
        a.detections.len() >= 3,
        "found {} faces",
        a.detections.len()
    );
    assert!(has_reason(&a.quality, QualityReason::MultipleFaces));
    assert!(!a.quality.passed);
    let live = engine().analyze_frame(&img)?;
    assert!(has_reason(&live.quality, QualityReason::MultipleFaces));
    Ok(())
}

fn frame_with_face(name: &str, face_side_px: u32, x: i64, y: i64) -> Result<RgbImage, FaceError> {
    let face = fixture(name)?;
    let big = image::imageops::resize(
        &face,
        face_side_px,
        face_side_px,
        image::imageops::FilterType::Triangle,
    );
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([120, 120, 120]));
    image::imageops::overlay(&mut frame, &big, x, y);
    Ok(frame)
}

#[test]
fn live_frame_with_centred_face_is_accepted_for_guidance() -> TestResult {
    let frame = frame_with_face(PERSON_A_1, 350, 145, 65)?;
    let a = engine().analyze_frame(&frame)?;
    let face = a.face.as_ref().ok_or("no face in frame")?;
    assert!(face.inter_eye_px > 45.0);
    assert!(a.quality.passed, "reasons: {:?}", a.quality.reasons);
    Ok(())
}

#[test]
fn small_face_in_corner_is_too_far_and_off_centre() -> TestResult {
    let frame = frame_with_face(PERSON_A_1, 180, 0, 0)?;
    let a = engine().analyze_frame(&frame)?;
    assert!(a.face.is_some());
    assert!(
        has_reason(&a.quality, QualityReason::TooFar),
        "{:?}",
        a.quality.reasons
    );
    assert!(
        has_reason(&a.quality, QualityReason::OffCentre),
        "{:?}",
        a.quality.reasons
    );
    Ok(())
}

#[test]
fn dark_frame_is_too_dark() -> TestResult {
    let mut frame = frame_with_face(PERSON_A_1, 350, 145, 65)?;
    for p in frame.pixels_mut() {
        for c in p.0.iter_mut() {
            *c /= 5;
        }
    }
    let a = engine().analyze_frame(&frame)?;
    if a.face.is_some() {
        assert!(
            has_reason(&a.quality, QualityReason::TooDark),
            "{:?}",
            a.quality.reasons
        );
    } else {
        assert!(has_reason(&a.quality, QualityReason::NoFace));
    }
    Ok(())
}

#[test]
fn blurred_face_is_blurry() -> TestResult {
    let frame = frame_with_face(PERSON_A_1, 350, 145, 65)?;
    let blurred = image::imageops::blur(&frame, 6.0);
    let a = engine().analyze_frame(&blurred)?;
    assert!(a.face.is_some(), "a blurred face is still found");
    assert!(
        has_reason(&a.quality, QualityReason::Blurry),
        "{:?}",
        a.quality.reasons
    );
    let sharp = engine().analyze_frame(&frame)?;
    let value = |a: &Analysis| {
        a.quality
            .components
            .iter()
            .find(|c| c.check == QualityCheck::Sharpness)
            .map(|c| c.value)
            .unwrap_or(0.0)
    };
    assert!(value(&sharp) > 3.0 * value(&a));
    Ok(())
}

#[test]
fn portrait_has_level_eyes_at_fixed_positions() -> TestResult {
    let img = fixture(PERSON_A_1)?;
    let analysis = engine().analyze_still(&img)?;
    let portrait = engine().portrait(&img, &analysis)?;
    let s = &settings().portrait;
    assert_eq!(
        (portrait.width_px(), portrait.height_px()),
        (s.width_px, s.height_px)
    );
    assert!(!format!("{portrait:?}").contains(&format!("{:?}", portrait.jpeg_bytes().get(..4))));
    let decoded = decode_image(portrait.jpeg_bytes(), 8192)?;
    let again = engine().analyze_still(&decoded)?;
    let five = again.face.ok_or("no face in the portrait")?.five_points;
    let mid_x = (five.left_eye.x_px + five.right_eye.x_px) / 2.0;
    let mid_y = (five.left_eye.y_px + five.right_eye.y_px) / 2.0;
    let w = s.width_px as f32;
    let h = s.height_px as f32;
    assert!(
        (mid_x - s.eye_mid_x_frac * w).abs() < 0.03 * w,
        "eye midpoint x {mid_x}"
    );
    assert!(
        (mid_y - s.eye_mid_y_frac * h).abs() < 0.03 * h,
        "eye midpoint y {mid_y}"
    );
    assert!(five.eye_line_roll_deg().abs() < 3.0);
    assert!((five.inter_eye_px() / w - s.inter_eye_frac).abs() < 0.03);
    Ok(())
}

#[test]
fn card_resolution_photo_still_matches() -> TestResult {
    let card = enroll_face::eval::card_resolution(&fixture(PERSON_A_2)?)?;
    assert_eq!(card.dimensions(), (102, 126));
    let d = engine().compare(&embed(PERSON_A_1)?, &engine().embed_still(&card)?)?;
    assert!(d.is_match, "card photo scored {}", d.score_cosine);
    Ok(())
}

#[test]
fn settings_reject_unknown_fields() -> TestResult {
    let mut v = serde_json::to_value(settings())?;
    v["seeta"]["surprise"] = serde_json::json!(1);
    assert!(matches!(
        EngineSettings::from_json(&v.to_string()),
        Err(FaceError::InvalidSettings(_))
    ));
    let plain = serde_json::to_string(&settings())?;
    assert_eq!(EngineSettings::from_json(&plain)?, settings());
    Ok(())
}

#[test]
fn a_swapped_model_file_is_refused() {
    let mut s = settings();
    s.feature.model.path = root().join("assets/models/packs/faceplugin/fr_landmark.onnx");
    let r = FaceEngine::load_faceplugin(&s);
    assert!(
        matches!(r, Err(FaceError::ModelHashMismatch { .. })),
        "{r:?}"
    );
}

#[test]
fn threshold_is_bound_to_the_calibrated_model_hashes() {
    let mut s = settings();
    s.feature.model.sha256 = None;
    s.decision
        .calibrated_models_sha256
        .insert("feature".into(), "0".repeat(64));
    let r = FaceEngine::load_faceplugin(&s);
    assert!(
        matches!(r, Err(FaceError::ThresholdNotCalibrated { .. })),
        "{r:?}"
    );
}

#[test]
fn a_fake_analyzer_can_stand_in_for_the_engine() -> TestResult {
    struct Fake;
    impl FaceAnalyzer for Fake {
        fn analyze_still(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
            self.analyze_frame(image)
        }
        fn analyze_frame(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
            Ok(Analysis {
                image_width_px: image.width(),
                image_height_px: image.height(),
                detections: vec![],
                face: None,
                quality: enroll_face::quality::assess(
                    &enroll_face::QualitySettings::live_guidance(),
                    image.width(),
                    image.height(),
                    0,
                    None,
                ),
                timings: Default::default(),
            })
        }
    }
    let ui_backend: Box<dyn FaceAnalyzer> = Box::new(Fake);
    let a = ui_backend.analyze_frame(&RgbImage::new(64, 48))?;
    assert_eq!(a.quality.reasons, vec![QualityReason::NoFace]);
    Ok(())
}

#[test]
fn engine_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FaceEngine>();
}

#[test]
fn area_downscale_keeps_a_face_recognisable() -> TestResult {
    let img = fixture(PERSON_A_2)?;
    let small = resize_area(&img, 125, 125);
    let d = engine().compare(&embed(PERSON_A_1)?, &engine().embed_still(&small)?)?;
    assert!(d.is_match, "half-size copy scored {}", d.score_cosine);
    Ok(())
}
