//! dlib read natively (`enroll_face::dlib`) against dlib itself (the `dlib-bin` wheel in the
//! test-time venv `scripts/setup.sh` makes with `scripts/reference-venv.sh`): the recogniser on the
//! same 150 × 150 chips gives the same 128 numbers within 1e-4; in the box dlib's detector finds,
//! our shape predictor puts the 5 points where dlib does, our chip is dlib's chip, and the
//! descriptor from photo to 128 numbers matches. Inputs: LFW fixture photos
//! (tests/fixtures/faces), and for the network alone their centre 150 × 150, flipped and darkened
//! copies among them, so the pinned numbers cover more than one kind of input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};

use enroll_cnn::Isa;
use enroll_face::dlib::chip::{chip_details, extract_chip};
use enroll_face::dlib::resnet::DlibRecognizer;
use enroll_face::dlib::shape::{DlibRect, ShapePredictor};

use crate::common::{root, run_reference};

fn model() -> PathBuf {
    root().join("assets/models/packs/open/dlib_face_recognition_resnet_model_v1.dat")
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
    let mut args: Vec<String> = vec![model.display().to_string()];
    args.extend(chips.iter().map(|(p, _)| p.display().to_string()));
    let reference = run_reference("dlib_descriptors.py", &args);
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

fn shape_model() -> PathBuf {
    root().join("assets/models/packs/open/shape_predictor_5_face_landmarks.dat")
}

#[test]
fn from_photo_to_descriptor_our_points_chips_and_numbers_are_dlibs() {
    let dir = tempfile::tempdir().unwrap();
    // Decoded once, here, and handed to dlib as PNG: both sides see the same pixels (two JPEG
    // decoders may differ by a level, and the shape predictor compares pixels).
    // The last one, three times larger, makes dlib cut its chip from an image pyramid.
    let photos: Vec<PathBuf> = [
        ("Anders_Fogh_Rasmussen_0001.jpg", 1),
        ("Anders_Fogh_Rasmussen_0003.jpg", 1),
        ("Amber_Tamblyn_0001.jpg", 1),
        ("Benjamin_Netanyahu_0004.jpg", 1),
        ("Amber_Tamblyn_0001.jpg", 3),
    ]
    .iter()
    .enumerate()
    .map(|(index, (name, times))| {
        let path = dir.path().join(format!("photo-{index}.png"));
        let photo = image::open(root().join("tests/fixtures/faces").join(name))
            .unwrap()
            .to_rgb8();
        let (w, h) = photo.dimensions();
        image::imageops::resize(&photo, w * times, h * times, image::imageops::Triangle)
            .save(&path)
            .unwrap();
        path
    })
    .collect();
    let mut args: Vec<String> = vec![
        shape_model().display().to_string(),
        model().display().to_string(),
        dir.path().display().to_string(),
    ];
    args.extend(photos.iter().map(|p| p.display().to_string()));
    let reference = run_reference("dlib_pipeline.py", &args);
    let predictor = ShapePredictor::from_dat(&std::fs::read(shape_model()).unwrap()).unwrap();
    let recogniser =
        DlibRecognizer::from_dat(&std::fs::read(model()).unwrap(), Isa::detect()).unwrap();
    let faces = reference["faces"].as_array().unwrap();
    assert_eq!(faces.len(), photos.len());
    for face in faces {
        let photo = image::open(face["photo"].as_str().unwrap())
            .unwrap()
            .to_rgb8();
        let b: Vec<i64> = face["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let rect = DlibRect {
            left: b[0],
            top: b[1],
            right: b[2],
            bottom: b[3],
        };
        let parts = predictor.predict(&photo, rect);
        let theirs: Vec<[i64; 2]> = face["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_i64().unwrap(), p[1].as_i64().unwrap()])
            .collect();
        assert_eq!(parts.to_vec(), theirs, "{}: the 5 points", face["photo"]);

        let chip = extract_chip(&photo, &chip_details(&parts, 150, 0.25));
        let their_chip = image::open(face["chip"].as_str().unwrap())
            .unwrap()
            .to_rgb8();
        let worst_pixel = chip
            .pixels()
            .zip(their_chip.pixels())
            .flat_map(|(a, b)| a.0.iter().zip(b.0).map(|(x, y)| x.abs_diff(y)))
            .max()
            .unwrap();
        assert_eq!(worst_pixel, 0, "{}: the chip", face["photo"]);

        let mine = recogniser.descriptor(&chip).unwrap();
        let worst = mine
            .iter()
            .zip(face["descriptor"].as_array().unwrap())
            .map(|(a, b)| (a - b.as_f64().unwrap() as f32).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-4,
            "{}: descriptor off by {worst}",
            face["photo"]
        );
    }
}
