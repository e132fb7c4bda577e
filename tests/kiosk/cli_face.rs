//! `kiosk face …` as a technician or integrator uses it: compare, analyze, eval and calibrate on
//! real images with the real models (fetched by scripts/setup.sh into assets/models/).
//!
//! The small fixtures are LFW images (tests/fixtures/faces/README.md). The evaluation test reads a
//! subset of the development set at ../shared/data/faces (LFW View 2 folds 1-5); the full figures
//! are in the issue notes and come from `kiosk face eval` without `--limit`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/faces").join(name)
}

fn kiosk_face(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        // These cover the faceplugin pack (tests/kiosk/open_pack.rs covers the open one).
        .args([
            "--config",
            "kiosk-config/demo.toml",
            "face",
            "--pack",
            "faceplugin",
        ])
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn compare_says_match_for_two_photos_of_one_person_and_shows_quality() {
    let a = fixture("Anders_Fogh_Rasmussen_0001.jpg");
    let b = fixture("Anders_Fogh_Rasmussen_0003.jpg");
    let output = kiosk_face(&["compare", path_arg(&a), path_arg(&b)]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("match, same person"), "{text}");
    assert!(
        text.contains("Anders_Fogh_Rasmussen_0001.jpg: quality"),
        "{text}"
    );

    let json = stdout_json(&kiosk_face(&[
        "compare",
        path_arg(&a),
        path_arg(&b),
        "--json",
    ]));
    assert_eq!(json["decision"], "match");
    let score = json["score_cosine"].as_f64().unwrap();
    let threshold = json["threshold_cosine"].as_f64().unwrap();
    assert!(score >= threshold, "{json}");
    assert!(json["first"]["quality"]["components"].is_array());
}

#[test]
fn compare_says_no_match_for_two_people() {
    let a = fixture("Anders_Fogh_Rasmussen_0001.jpg");
    let b = fixture("Amber_Tamblyn_0001.jpg");
    let json = stdout_json(&kiosk_face(&[
        "compare",
        path_arg(&a),
        path_arg(&b),
        "--json",
    ]));
    assert_eq!(json["decision"], "no_match", "{json}");
    assert!(json["score_cosine"].as_f64().unwrap() < json["threshold_cosine"].as_f64().unwrap());
}

#[test]
fn compare_with_a_faceless_image_decides_no_usable_face_without_printing_an_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("wall.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([180, 170, 160]))
        .save(&blank)
        .unwrap();
    let a = fixture("Amber_Tamblyn_0001.jpg");
    let output = kiosk_face(&["compare", path_arg(&a), path_arg(&blank), "--json"]);
    let json = stdout_json(&output);
    assert_eq!(json["decision"], "no_usable_face");
    assert!(
        json["problem"]
            .as_str()
            .unwrap()
            .contains("no face was found"),
        "{json}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("embedding"));
}

#[test]
fn analyze_reports_detections_landmarks_pose_quality_and_liveness() {
    let image = fixture("Benjamin_Netanyahu_0004.jpg");
    let json = stdout_json(&kiosk_face(&["analyze", path_arg(&image), "--json"]));
    assert_eq!(json["detections"].as_array().unwrap().len(), 1, "{json}");
    let face = &json["face"];
    assert_eq!(face["landmarks"]["points"].as_array().unwrap().len(), 68);
    assert!(face["pose"]["yaw_deg"].is_number());
    assert!(face["liveness"]["live_probability"].is_number());
    assert!(face["eyes"]["left_open_probability"].is_number());
    let checks: Vec<&str> = json["quality"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for check in [
        "face_count",
        "inter_eye_distance",
        "yaw",
        "luminance",
        "sharpness",
    ] {
        assert!(checks.contains(&check), "{check} missing from {checks:?}");
    }

    let text = kiosk_face(&["analyze", path_arg(&image)]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("1 face(s) detected") && text.contains("pose yaw"),
        "{text}"
    );
}

#[test]
fn analyze_of_a_file_that_is_not_an_image_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jpg");
    std::fs::write(&notes, "this is not a photo").unwrap();
    let output = kiosk_face(&["analyze", path_arg(&notes)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a readable image") && stderr.contains("notes.jpg"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A two-fold pair list over the fixtures, laid out as DIR/NAME/NAME_000i.jpg.
fn tiny_pair_set() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "Amber_Tamblyn_0001.jpg",
        "Anders_Fogh_Rasmussen_0001.jpg",
        "Anders_Fogh_Rasmussen_0003.jpg",
        "Benjamin_Netanyahu_0004.jpg",
    ] {
        let name = file.rsplit_once('_').unwrap().0;
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::copy(fixture(file), dir.path().join(name).join(file)).unwrap();
    }
    let pairs = dir.path().join("pairs.txt");
    std::fs::write(
        &pairs,
        "2\t1\n\
         Anders_Fogh_Rasmussen\t1\t3\n\
         Amber_Tamblyn\t1\tBenjamin_Netanyahu\t4\n\
         Anders_Fogh_Rasmussen\t3\t1\n\
         Anders_Fogh_Rasmussen\t1\tAmber_Tamblyn\t1\n",
    )
    .unwrap();
    (dir, pairs)
}

#[test]
fn eval_prints_the_documented_metrics_as_json() {
    let (dir, pairs) = tiny_pair_set();
    let json = stdout_json(&kiosk_face(&[
        "eval",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(dir.path()),
        "--json",
    ]));
    assert_eq!(json["pairs"], 4);
    assert_eq!(json["failures"], 0);
    for key in [
        "accuracy_kfold",
        "tar_at_far_1e-2",
        "tar_at_far_1e-3",
        "eer",
    ] {
        assert!(json[key].is_number(), "{key} missing: {json}");
    }
    assert_eq!(json["accuracy_kfold"], 1.0, "{json}");
}

#[test]
fn eval_counts_a_pair_with_a_missing_image_as_a_failure_not_a_crash() {
    let (dir, pairs) = tiny_pair_set();
    std::fs::remove_file(dir.path().join("Amber_Tamblyn/Amber_Tamblyn_0001.jpg")).unwrap();
    let output = kiosk_face(&[
        "eval",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(dir.path()),
        "--json",
    ]);
    let json = stdout_json(&output);
    assert_eq!(json["failures"], 2, "{json}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("Amber"));
}

#[test]
fn calibrate_writes_a_decision_snippet_bound_to_the_model_hashes() {
    let (dir, pairs) = tiny_pair_set();
    let out = dir.path().join("decision.toml");
    let output = kiosk_face(&[
        "calibrate",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(dir.path()),
        "--far",
        "0.5",
        "--out",
        path_arg(&out),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let snippet = std::fs::read_to_string(&out).unwrap();
    let parsed: toml::Table = snippet.parse().unwrap();
    let decision = parsed["decision"].as_table().unwrap();
    assert!(
        decision["threshold_cosine"].as_float().is_some(),
        "{snippet}"
    );
    let hashes = decision["calibrated_models_sha256"].as_table().unwrap();
    let sums =
        std::fs::read_to_string(root().join("assets/models/packs/faceplugin/SHA256SUMS")).unwrap();
    let feature = hashes["feature"].as_str().unwrap();
    assert!(
        sums.contains(&format!("{feature}  fr_feature.onnx")),
        "{snippet}"
    );
}

#[test]
fn calibrate_refuses_a_rate_the_pair_list_cannot_measure() {
    let (dir, pairs) = tiny_pair_set();
    let output = kiosk_face(&[
        "calibrate",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(dir.path()),
        "--far",
        "1e-3",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot measure a false-accept rate"),
        "{stderr}"
    );
}

/// A balanced subset of the development set (2 x 15 pairs from each of the 5 folds, and again at
/// card resolution) reaches the accuracy the full set is held to; the full-set figures are in
/// the issue notes.
#[test]
fn eval_on_a_subset_of_the_development_set_meets_the_accuracy_targets() {
    let faces = root().join("../shared/data/faces");
    assert!(
        faces.join("pairs.txt").is_file(),
        "the development set is expected at {} (see the README)",
        faces.display()
    );
    let pairs = faces.join("pairs.txt");
    let images = faces.join("lfw");
    let json = stdout_json(&kiosk_face(&[
        "eval",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(&images),
        "--limit",
        "150",
        "--json",
    ]));
    assert_eq!(json["pairs"], 150, "{json}");
    assert!(json["accuracy_kfold"].as_f64().unwrap() >= 0.97, "{json}");
    assert!(json["failures"].as_u64().unwrap() <= 2, "{json}");

    let card = stdout_json(&kiosk_face(&[
        "eval",
        "--pairs",
        path_arg(&pairs),
        "--root",
        path_arg(&images),
        "--limit",
        "150",
        "--card-res",
        "--json",
    ]));
    assert!(card["tar_at_far_1e-2"].as_f64().unwrap() >= 0.93, "{card}");
}
