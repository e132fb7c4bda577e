//! The dlib recogniser read natively (`enroll_face::dlib`) against dlib itself: the same 150 × 150
//! chips through our network and through the `dlib-bin` wheel (in the test-time venv that
//! `scripts/setup.sh` makes with `scripts/reference-venv.sh`) give the same 128 numbers within
//! 1e-4. The chips are the centre 150 × 150 of LFW fixture photos (tests/fixtures/faces), flipped
//! and darkened copies among them, so the pinned numbers cover more than one kind of input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use enroll_cnn::Isa;
use enroll_face::dlib::resnet::DlibRecognizer;

use crate::common::root;

fn model() -> PathBuf {
    root().join("assets/models/packs/open/dlib_face_recognition_resnet_model_v1.dat")
}

/// The venv's Python with dlib-bin; a missing venv is a set-up fault, said plainly.
fn reference_python() -> PathBuf {
    let python = root().join("target/reference-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it makes the reference venv with dlib-bin)",
        python.display()
    );
    python
}

/// Chips cut from the fixture photos, written as PNGs into `dir`.
fn chips(dir: &Path) -> Vec<(PathBuf, image::RgbImage)> {
    let mut out = Vec::new();
    for (index, name) in [
        "Anders_Fogh_Rasmussen_0001.jpg",
        "Anders_Fogh_Rasmussen_0003.jpg",
        "Amber_Tamblyn_0001.jpg",
    ]
    .iter()
    .enumerate()
    {
        let photo = image::open(root().join("tests/fixtures/faces").join(name))
            .unwrap()
            .to_rgb8();
        let (w, h) = photo.dimensions();
        let chip =
            image::imageops::crop_imm(&photo, (w - 150) / 2, (h - 150) / 2, 150, 150).to_image();
        let flipped = image::imageops::flip_horizontal(&chip);
        let mut dark = chip.clone();
        dark.pixels_mut()
            .for_each(|p| p.0.iter_mut().for_each(|v| *v /= 3));
        for (kind, image) in [("chip", chip), ("flipped", flipped), ("dark", dark)] {
            let path = dir.join(format!("{index}-{kind}.png"));
            image.save(&path).unwrap();
            out.push((path, image));
        }
    }
    out
}

#[test]
fn our_dlib_recogniser_gives_dlibs_own_descriptors_within_1e_4() {
    let dir = tempfile::tempdir().unwrap();
    let chips = chips(dir.path());
    let model = model();
    assert!(
        model.exists(),
        "{} is missing: run scripts/setup.sh",
        model.display()
    );
    let mut args: Vec<String> = vec![
        root()
            .join("scripts/reference/dlib_descriptors.py")
            .display()
            .to_string(),
        model.display().to_string(),
    ];
    args.extend(chips.iter().map(|(p, _)| p.display().to_string()));
    let output = Command::new(reference_python())
        .args(&args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let bytes = std::fs::read(&model).unwrap();
    for isa in Isa::all_available() {
        let ours = DlibRecognizer::from_dat(&bytes, isa).unwrap();
        assert!((ours.threshold_distance - 0.6).abs() < 1e-6);
        let mut worst = 0.0f32;
        for (path, chip) in &chips {
            let theirs: Vec<f32> = reference["descriptors"][path.display().to_string()]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let mine = ours.descriptor(chip).unwrap();
            assert_eq!(mine.len(), 128);
            for (a, b) in mine.iter().zip(&theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        eprintln!("{isa}: largest difference from dlib: {worst:e}");
        assert!(
            worst <= 1e-4,
            "{isa}: largest difference from dlib {} is {worst}",
            reference["dlib_version"]
        );
    }
}
