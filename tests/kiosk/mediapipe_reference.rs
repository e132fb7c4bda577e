//! The open pack's MediaPipe models as the kiosk runs them (ONNX converted at set-up, on tract)
//! against Google's own TFLite runtime (`ai-edge-litert` in the test-time venv) running the
//! original TFLite files on the same input pixels: BlazeFace's boxes, keypoints and scores,
//! FaceMesh's 468 points and Iris's eye contour and iris agree within a thousandth of a pixel.
//! Inputs: the crops our own pipeline cuts from the LFW fixture photos (tests/fixtures/faces)
//! and a 640x480 frame made from one of them, so the reference sees what the kiosk feeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};

use enroll_face::imaging::{Border, RectPx, crop_resize};
use enroll_face::mediapipe::blazeface::{self, BlazeFace, BlazeFaceSettings, keypoint};
use enroll_face::mediapipe::mesh::{EyeSide, FaceMesh, IRIS_INPUT_PX, MESH_INPUT_PX, MeshSettings};
use enroll_face::settings::{ModelFile, OnnxExecutor};

use crate::common::{root, run_reference};

fn pack() -> PathBuf {
    root().join("assets/models/packs/open")
}

fn file(name: &str) -> ModelFile {
    let path = pack().join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    ModelFile { path, sha256: None }
}

fn detector() -> BlazeFace {
    BlazeFace::load(
        &BlazeFaceSettings::mediapipe(file("face_detection_short_range.onnx")),
        OnnxExecutor::Auto,
    )
    .unwrap()
}

fn face_mesh() -> FaceMesh {
    FaceMesh::load(
        &MeshSettings::mediapipe(file("face_landmark.onnx"), file("iris_landmark.onnx")),
        OnnxExecutor::Auto,
    )
    .unwrap()
}

/// The fixture photos, and a 640x480 camera-like frame with one of them off centre.
fn photos() -> Vec<(String, image::RgbImage)> {
    let mut out: Vec<(String, image::RgbImage)> = [
        "Anders_Fogh_Rasmussen_0001.jpg",
        "Amber_Tamblyn_0001.jpg",
        "Benjamin_Netanyahu_0004.jpg",
    ]
    .iter()
    .map(|name| {
        let photo = image::open(root().join("tests/fixtures/faces").join(name)).unwrap();
        (name.to_string(), photo.to_rgb8())
    })
    .collect();
    let mut frame = image::RgbImage::from_pixel(640, 480, image::Rgb([90, 100, 110]));
    image::imageops::overlay(&mut frame, &out[1].1, 300, 140);
    out.push(("frame-640x480".to_string(), frame));
    out
}

/// Runs the reference on `inputs` (PNG paths); returns, per input, output name -> numbers.
fn reference(
    model: &str,
    mean: f32,
    scale: f32,
    inputs: &[PathBuf],
) -> serde_json::Map<String, serde_json::Value> {
    let mut args = vec![
        pack().join("tflite").join(model).display().to_string(),
        mean.to_string(),
        scale.to_string(),
    ];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let json = run_reference("tflite_outputs.py", &args);
    json["outputs"].as_object().unwrap().clone()
}

fn numbers(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// Largest absolute difference; the lengths must agree.
fn max_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn save(dir: &Path, name: &str, image: &image::RgbImage) -> PathBuf {
    let path = dir.join(name);
    image.save(&path).unwrap();
    path
}

#[test]
fn blazeface_finds_each_face_and_gives_the_tflite_runtimes_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let detector = detector();
    let mut inputs = Vec::new();
    for (index, (name, photo)) in photos().iter().enumerate() {
        // The letterboxed input exactly as BlazeFace::detect cuts it.
        let side = photo.width().max(photo.height()) as f32;
        let region = RectPx {
            x_px: (photo.width() as f32 - side) / 2.0,
            y_px: (photo.height() as f32 - side) / 2.0,
            width_px: side,
            height_px: side,
        };
        let patch = crop_resize(photo, region, 128, 128, Border::Constant(0));
        inputs.push((
            save(dir.path(), &format!("{index}-detector.png"), &patch),
            patch,
        ));

        let faces = detector.detect(photo).unwrap();
        assert_eq!(faces.len(), 1, "{name}: one face, found {}", faces.len());
        let face = &faces[0];
        assert!(face.score > 0.75, "{name}: score {}", face.score);
        let right = face.keypoints[keypoint::RIGHT_EYE];
        let left = face.keypoints[keypoint::LEFT_EYE];
        let nose = face.keypoints[keypoint::NOSE_TIP];
        let mouth = face.keypoints[keypoint::MOUTH];
        assert!(
            right.x_px < left.x_px,
            "{name}: the subject's right eye is on the image's left"
        );
        assert!(
            nose.y_px > right.y_px.max(left.y_px) && mouth.y_px > nose.y_px,
            "{name}: eyes, nose, mouth from top to bottom"
        );
        let b = face.bounding_box;
        for p in [right, left, nose, mouth] {
            assert!(
                p.x_px > b.x_px
                    && p.x_px < b.x_px + b.width_px
                    && p.y_px > b.y_px
                    && p.y_px < b.y_px + b.height_px,
                "{name}: keypoints inside the box"
            );
        }
    }
    let paths: Vec<PathBuf> = inputs.iter().map(|(p, _)| p.clone()).collect();
    let reference = reference(
        "face_detection_short_range.tflite",
        127.5,
        1.0 / 127.5,
        &paths,
    );
    for (path, patch) in &inputs {
        let (regressors, logits) = detector.raw(patch).unwrap();
        let theirs = &reference[&path.display().to_string()];
        // Regressors are in input pixels (0..128), logits unbounded.
        let box_diff = max_diff(&regressors, &numbers(&theirs["regressors"]));
        let logit_diff = max_diff(&logits, &numbers(&theirs["classificators"]));
        assert!(
            box_diff <= 1e-3 && logit_diff <= 1e-3,
            "{}: regressors differ by {box_diff}, logits by {logit_diff}",
            path.display()
        );
    }
    assert_eq!(blazeface::ANCHORS, 896);
}

#[test]
fn face_mesh_and_iris_give_the_tflite_runtimes_numbers_on_our_crops() {
    let dir = tempfile::tempdir().unwrap();
    let detector = detector();
    let mesh_model = face_mesh();
    let mut mesh_inputs = Vec::new();
    let mut iris_inputs = Vec::new();
    for (index, (name, photo)) in photos().iter().enumerate() {
        let face = detector.detect(photo).unwrap().remove(0);
        let (cx, cy) = face.bounding_box.centre_px();
        let square = mesh_model.face_square(
            enroll_face::PointPx::new(cx, cy),
            face.bounding_box.width_px.max(face.bounding_box.height_px),
            face.keypoints[keypoint::RIGHT_EYE],
            face.keypoints[keypoint::LEFT_EYE],
        );
        let crop = square.crop(photo, MESH_INPUT_PX, false);
        mesh_inputs.push((save(dir.path(), &format!("{index}-mesh.png"), &crop), crop));

        let mesh = mesh_model.mesh(photo, &square).unwrap();
        assert!(
            mesh.face_probability > 0.9,
            "{name}: face probability {}",
            mesh.face_probability
        );
        let five = mesh.five_points().unwrap();
        // The mesh's eye centres sit within a fifth of the eye distance of BlazeFace's eyes.
        let inter_eye = five.inter_eye_px();
        assert!(
            five.left_eye
                .distance_px(&face.keypoints[keypoint::RIGHT_EYE])
                < inter_eye / 5.0,
            "{name}"
        );
        assert!(
            five.right_eye
                .distance_px(&face.keypoints[keypoint::LEFT_EYE])
                < inter_eye / 5.0,
            "{name}"
        );
        for side in [EyeSide::Right, EyeSide::Left] {
            let eye = mesh.eye_square(side, 2.3).unwrap();
            let crop = eye.crop(photo, IRIS_INPUT_PX, side == EyeSide::Left);
            iris_inputs.push((
                save(dir.path(), &format!("{index}-{side:?}-eye.png"), &crop),
                crop,
            ));
            let iris = mesh_model.iris(photo, &mesh, side).unwrap();
            // Open eyes in these photos; the iris is about a third of the eye's width.
            let ratio = iris.aspect_ratio().unwrap();
            assert!(
                (0.15..0.6).contains(&ratio),
                "{name} {side:?}: eye aspect ratio {ratio}"
            );
            let width = iris.contour[0].distance_px(&iris.contour[8]);
            let diameter = iris.iris_diameter_px();
            assert!(
                diameter > width * 0.25 && diameter < width * 0.8,
                "{name} {side:?}: iris {diameter} px in an eye {width} px wide"
            );
        }
    }
    let paths: Vec<PathBuf> = mesh_inputs.iter().map(|(p, _)| p.clone()).collect();
    let reference_mesh = reference("face_landmark.tflite", 0.0, 1.0 / 255.0, &paths);
    for (path, crop) in &mesh_inputs {
        let (coords, logit) = mesh_model.raw_mesh(crop).unwrap();
        let theirs = &reference_mesh[&path.display().to_string()];
        let diff = max_diff(&coords, &numbers(&theirs["conv2d_20"]));
        let logit_diff = (logit - numbers(&theirs["conv2d_30"])[0]).abs();
        assert!(
            diff <= 1e-3 && logit_diff <= 1e-3,
            "{}: mesh points differ by {diff} px, face logit by {logit_diff}",
            path.display()
        );
    }
    let paths: Vec<PathBuf> = iris_inputs.iter().map(|(p, _)| p.clone()).collect();
    let reference_iris = reference("iris_landmark.tflite", 0.0, 1.0 / 255.0, &paths);
    for (path, crop) in &iris_inputs {
        let (contour, iris) = mesh_model.raw_iris(crop).unwrap();
        let theirs = &reference_iris[&path.display().to_string()];
        let contour_diff = max_diff(
            &contour,
            &numbers(&theirs["output_eyes_contours_and_brows"]),
        );
        let iris_diff = max_diff(&iris, &numbers(&theirs["output_iris"]));
        assert!(
            contour_diff <= 1e-3 && iris_diff <= 1e-3,
            "{}: contour differs by {contour_diff} px, iris by {iris_diff} px",
            path.display()
        );
    }
}
