//! The `open` model pack as an integrator meets it: `kiosk face packs` lists it with its
//! licences, the engine loads it (every hash pinned, the threshold bound to them), finds and
//! measures faces with BlazeFace, FaceMesh and Iris, matches with dlib's recogniser, and a pack
//! that names a missing or altered file, or a pack that is not there, is refused with a message
//! that names it. Photos: LFW fixtures (tests/fixtures/faces/README.md) and the development set
//! (../shared/data/faces).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use enroll_face::{FaceAnalyzer, FaceEngine, FaceError, FaceMatcher, PackSettings, Pipeline};

use crate::common::root;

fn pack_dir() -> PathBuf {
    root().join("assets/models/packs/open")
}

fn open_pack() -> PackSettings {
    enroll_kiosk::config::load_pack(&pack_dir()).unwrap_or_else(|problem| panic!("{problem}"))
}

fn engine() -> &'static FaceEngine {
    static ENGINE: OnceLock<FaceEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        FaceEngine::load(&open_pack()).unwrap_or_else(|e| panic!("the open pack must load: {e}"))
    })
}

fn photo(name: &str) -> image::RgbImage {
    image::open(root().join("tests/fixtures/faces").join(name))
        .unwrap()
        .to_rgb8()
}

fn kiosk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        .args(["--config", "kiosk-config/demo.toml"])
        .args(args)
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn face_packs_lists_the_open_pack_complete_with_its_licences() {
    let listed = json(&kiosk(&["face", "packs", "--json"]));
    let open = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "open")
        .unwrap_or_else(|| panic!("no open pack in {listed}"));
    assert_eq!(open["pipeline"], "open");
    assert_eq!(open["complete"], true, "{open}");
    assert_eq!(open["in_use"], true, "{open}");
    assert_eq!(
        open["licences"],
        serde_json::json!(["CC0-1.0", "Apache-2.0", "BSD-2-Clause"])
    );
    for licence in [
        "CC0-1.0.txt",
        "Apache-2.0.txt",
        "BSD-2-Clause-SeetaFace.txt",
    ] {
        assert!(
            pack_dir().join("LICENSES").join(licence).is_file(),
            "{licence}"
        );
    }
    let text = String::from_utf8_lossy(&kiosk(&["face", "packs"]).stdout).into_owned();
    assert!(
        text.contains("open [in use] (Open pipeline): complete"),
        "the demo configuration runs the open pack: {text}"
    );
    assert!(
        text.contains("licences: CC0-1.0, Apache-2.0, BSD-2-Clause"),
        "{text}"
    );
}

#[test]
fn the_open_pack_matches_one_person_and_tells_two_apart() {
    let engine = engine();
    assert_eq!(engine.pack().manifest().pipeline, Pipeline::Open);
    let anders_1 = engine
        .embed_still(&photo("Anders_Fogh_Rasmussen_0001.jpg"))
        .unwrap();
    let anders_3 = engine
        .embed_still(&photo("Anders_Fogh_Rasmussen_0003.jpg"))
        .unwrap();
    let amber = engine
        .embed_still(&photo("Amber_Tamblyn_0001.jpg"))
        .unwrap();
    assert_eq!(anders_1.len(), 128, "dlib's recogniser gives 128 numbers");
    let same = engine.compare(&anders_1, &anders_3).unwrap();
    let other = engine.compare(&anders_1, &amber).unwrap();
    assert!(same.is_match, "{same:?}");
    assert!(!other.is_match, "{other:?}");
    assert!(same.score_cosine > other.score_cosine);
}

#[test]
fn an_open_pack_analysis_has_the_mesh_the_eyes_and_a_frontal_pose() {
    let engine = engine();
    let analysis = engine
        .analyze_still(&photo("Anders_Fogh_Rasmussen_0001.jpg"))
        .unwrap();
    assert_eq!(analysis.detections.len(), 1);
    let face = analysis.face.as_ref().unwrap();
    assert_eq!(
        face.detection.detector,
        enroll_face::DetectorKind::BlazeFace
    );
    assert_eq!(face.landmarks.points.len(), 468, "FaceMesh's points");
    let eyes = face.eyes.unwrap();
    for ratio in [
        eyes.left_aspect_ratio.unwrap(),
        eyes.right_aspect_ratio.unwrap(),
    ] {
        assert!(
            (0.15..0.5).contains(&ratio),
            "open eyes: aspect ratio {ratio}"
        );
    }
    assert!(eyes.left_open_probability > 0.5 && eyes.right_open_probability > 0.5);
    assert!(
        face.pose.yaw_deg.abs() < 15.0 && face.pose.roll_deg.abs() < 10.0,
        "{:?}",
        face.pose
    );
    assert!(
        face.liveness.is_none(),
        "the open pack has no learned liveness model"
    );
    // The same photo with the eyes painted shut (skin colour over both eye regions) reads as closed.
    let mut shut = photo("Anders_Fogh_Rasmussen_0001.jpg");
    let five = face.five_points;
    let skin = *shut.get_pixel(five.nose_tip.x_px as u32, (five.nose_tip.y_px - 8.0) as u32);
    for eye in [five.left_eye, five.right_eye] {
        for dy in -5i32..=5 {
            for dx in -14i32..=14 {
                let (x, y) = (eye.x_px as i32 + dx, eye.y_px as i32 + dy);
                shut.put_pixel(x as u32, y as u32, skin);
            }
        }
    }
    let closed = engine.analyze_still(&shut).unwrap();
    let closed_eyes = closed.face.unwrap().eyes.unwrap();
    assert!(
        closed_eyes.left_aspect_ratio.unwrap() < eyes.left_aspect_ratio.unwrap(),
        "{closed_eyes:?} vs {eyes:?}"
    );
}

#[test]
fn a_pack_file_that_is_not_the_pinned_one_is_refused_by_role() {
    let PackSettings::Open {
        manifest,
        mut settings,
    } = open_pack()
    else {
        panic!("the open pack runs the open pipeline");
    };
    settings.mesh.model.sha256 = Some("00".repeat(32));
    let error = FaceEngine::load(&PackSettings::Open { manifest, settings })
        .err()
        .unwrap();
    assert!(
        matches!(error, FaceError::ModelHashMismatch { ref role, .. } if role == "mesh"),
        "{error}"
    );
    assert!(error.to_string().contains("face_landmark.onnx"), "{error}");
}

#[test]
fn a_configuration_naming_a_pack_that_is_not_installed_says_which_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(root().join("kiosk-config/demo.toml")).unwrap();
    let packs = root().join("assets/models/packs");
    let text = demo
        .replace("pack = \"open\"", "pack = \"sealed-vendor\"")
        .replace(
            "packs_dir = \"../assets/models/packs\"",
            &format!("packs_dir = \"{}\"", packs.display()),
        );
    let config = dir.path().join("kiosk.toml");
    std::fs::write(&config, text).unwrap();
    let error = enroll_kiosk::config::Config::load(&config)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("face.pack"), "{error}");
    assert!(error.contains("no pack \"sealed-vendor\""), "{error}");
    assert!(error.contains(&packs.display().to_string()), "{error}");
    assert!(error.contains("kiosk face packs"), "{error}");
}

/// A balanced subset of the development set (2 x 15 pairs from each fold) through
/// `kiosk face --pack open eval`; the full-set figures are in the pack's PROVENANCE.md.
#[test]
fn eval_with_the_open_pack_on_a_subset_of_the_development_set() {
    let faces = root().join("../shared/data/faces");
    let pairs = faces.join("pairs.txt");
    let images = faces.join("lfw");
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let result = json(&kiosk(&[
        "face",
        "--pack",
        "open",
        "eval",
        "--pairs",
        &arg(&pairs),
        "--root",
        &arg(&images),
        "--limit",
        "150",
        "--json",
    ]));
    assert_eq!(result["pairs"], 150, "{result}");
    assert_eq!(result["failures"], 0, "{result}");
    assert!(
        result["accuracy_kfold"].as_f64().unwrap() >= 0.98,
        "{result}"
    );
}

/// `kiosk face --pack open challenge` with frames; returns the exit code and the JSON.
fn challenge(side: &str, fps: u32, frames: &[PathBuf]) -> (Option<i32>, serde_json::Value) {
    let mut args: Vec<String> = [
        "face",
        "--pack",
        "open",
        "challenge",
        "--json",
        "--side",
        side,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--fps".to_string(), fps.to_string()]);
    args.extend(frames.iter().map(|p| p.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = kiosk(&refs);
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), json)
}

/// Real photographs of one person from the development set (LFW Jennifer_Capriati: 0033 eyes
/// open facing the camera, 0042 eyes shut, 0002 turned to her left), played as camera frames.
#[test]
fn the_challenge_passes_a_real_blink_and_turn_and_fails_the_wrong_side_a_still_and_a_moved_photo() {
    let lfw = root().join("../shared/data/faces/lfw/Jennifer_Capriati");
    let open = lfw.join("Jennifer_Capriati_0033.jpg");
    let shut = lfw.join("Jennifer_Capriati_0042.jpg");
    let turned_left = lfw.join("Jennifer_Capriati_0002.jpg");
    let mut frames = vec![open.clone(); 10];
    frames.extend(vec![shut; 3]);
    frames.extend(vec![open.clone(); 5]);
    frames.extend(vec![turned_left; 5]);

    let (code, json) = challenge("left", 25, &frames);
    assert_eq!(code, Some(0), "{json}");
    let outcome = &json["outcome"];
    assert_eq!(outcome["passed"], true);
    assert_eq!(outcome["side"], "left");
    // Eyes open again at frame 13 (520 ms at 25 fps); the turn is seen at frame 18 (720 ms).
    assert_eq!(outcome["blink_done_ms"], 520, "{json}");
    assert_eq!(outcome["turn_done_ms"], 720, "{json}");
    assert!(outcome["total_ms"].as_u64().unwrap() <= 4_000);

    // The same recording when the terminal asked for the other side: a replay that does not follow.
    let (code, json) = challenge("right", 25, &frames);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["outcome"]["failure"], "wrong_side", "{json}");

    // A still photo held up for 9 s (5 frames a second): it never blinks.
    let (code, json) = challenge("left", 5, &vec![open.clone(); 45]);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["outcome"]["failure"], "timed_out", "{json}");
    assert_eq!(json["outcome"]["blink_done_ms"], serde_json::Value::Null);

    // The photo moved about in front of the camera: shifted, nearer and farther, tilted.
    let dir = tempfile::tempdir().unwrap();
    let photo = image::open(&open).unwrap().to_rgb8();
    let moved: Vec<PathBuf> = (0..45)
        .map(|i| {
            let t = i as f32 / 6.0;
            let (scale, angle) = (1.3 + 0.25 * t.sin(), 0.2 * (1.7 * t).sin());
            let (sin, cos) = angle.sin_cos();
            let (cx, cy) = (320.0 + 80.0 * t.cos(), 240.0 + 30.0 * t.sin());
            // Output pixel -> photo pixel: rotate and scale about the photo's centre.
            let map = [
                cos / scale,
                sin / scale,
                125.0 - (cos * cx + sin * cy) / scale,
                -sin / scale,
                cos / scale,
                125.0 - (-sin * cx + cos * cy) / scale,
            ];
            let frame = enroll_face::imaging::warp_affine(
                &photo,
                &map,
                640,
                480,
                enroll_face::imaging::Border::Constant(90),
            );
            let path = dir.path().join(format!("moved-{i:02}.png"));
            frame.save(&path).unwrap();
            path
        })
        .collect();
    let (code, json) = challenge("left", 5, &moved);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        json["outcome"]["blink_done_ms"],
        serde_json::Value::Null,
        "{json}"
    );
}
