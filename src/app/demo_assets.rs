//! Makes the demo's pictures from the development face set at set-up time (they are not shipped:
//! the set's terms allow testing only): camera frames of one test person walking up to the
//! camera and holding still, and a chip-like card photo of the same person from another picture.
//! The source pictures are pinned by SHA-256. It draws nothing and starts no device.

use std::path::{Path, PathBuf};

use image::RgbImage;
use sha2::{Digest, Sha256};

use enroll_face::eval::card_resolution;
use enroll_face::portrait::encode_jpeg;

/// The test person and the two pictures used, with their SHA-256 (LFW deep-funneled).
const PERSON: &str = "Tang_Jiaxuan";
const CAMERA_PICTURE: (&str, &str) = (
    "Tang_Jiaxuan_0004.jpg",
    "8800c067250e4f808e743a9c0fd25a9afa674c0fd321404d1eafff3e46869704",
);
const CARD_PICTURE: (&str, &str) = (
    "Tang_Jiaxuan_0003.jpg",
    "2df46ab4716f169cce703f07b4ec8d12b5e6b450bbc4d85fa1db32a1f7c22bfe",
);

/// Frame size (the demo camera's configured size).
const FRAME_W: u32 = 640;
const FRAME_H: u32 = 480;
/// Frames while the person walks up (too far at first), then while they hold still.
const APPROACH_FRAMES: u32 = 12;
const HOLD_FRAMES: u32 = 75;

/// Why the demo pictures could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DemoAssetsError {
    /// A source picture is missing or unreadable.
    #[error("{path}: {detail}; the development face set is expected at ../shared/data/faces")]
    Source {
        /// The picture.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A source picture is not the pinned one.
    #[error("{path} is not the expected picture (SHA-256 {found}, expected {expected})")]
    Hash {
        /// The picture.
        path: PathBuf,
        /// Its hash.
        found: String,
        /// The pinned hash.
        expected: String,
    },
    /// Writing failed.
    #[error("cannot write {path}: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

fn read_pinned(
    faces_dir: &Path,
    (name, sha256): (&str, &str),
) -> Result<RgbImage, DemoAssetsError> {
    let path = faces_dir.join("lfw").join(PERSON).join(name);
    let source = |detail: String| DemoAssetsError::Source {
        path: path.clone(),
        detail,
    };
    let bytes = std::fs::read(&path).map_err(|e| source(e.to_string()))?;
    let found = hex(&Sha256::digest(&bytes));
    if found != sha256 {
        return Err(DemoAssetsError::Hash {
            path,
            found,
            expected: sha256.to_owned(),
        });
    }
    Ok(image::load_from_memory(&bytes)
        .map_err(|e| source(e.to_string()))?
        .to_rgb8())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), DemoAssetsError> {
    std::fs::write(path, bytes).map_err(|e| DemoAssetsError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// A camera frame of the person in a 250x250 development-set picture standing close to the
/// camera (its portrait window filling the frame's height).
pub fn close_up_frame(picture: &RgbImage) -> RgbImage {
    let portrait = image::imageops::crop_imm(picture, 40, 20, 170, 210).to_image();
    frame(&portrait, 1.0, (0, 0))
}

/// One camera frame: the portrait window of the picture, `scale` of the frame's height, centred
/// and shifted by `shift_px`, on a grey wall.
fn frame(portrait: &RgbImage, scale: f32, shift_px: (i64, i64)) -> RgbImage {
    let height = ((FRAME_H as f32) * scale).round().max(1.0) as u32;
    let width = ((portrait.width() as f32) * height as f32 / portrait.height() as f32)
        .round()
        .max(1.0) as u32;
    let person = image::imageops::resize(
        portrait,
        width,
        height,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = RgbImage::from_pixel(FRAME_W, FRAME_H, image::Rgb([96, 98, 100]));
    let x = (i64::from(FRAME_W) - i64::from(width)) / 2 + shift_px.0;
    let y = i64::from(FRAME_H) - i64::from(height) + shift_px.1;
    image::imageops::overlay(&mut canvas, &person, x, y);
    canvas
}

/// Writes `out_dir/camera/frame_NNN.jpg`, `out_dir/card-photo.jpg` and a README from the
/// development face set at `faces_dir`; returns how many frames were written.
pub fn make(faces_dir: &Path, out_dir: &Path) -> Result<u32, DemoAssetsError> {
    let camera_picture = read_pinned(faces_dir, CAMERA_PICTURE)?;
    let card_picture = read_pinned(faces_dir, CARD_PICTURE)?;
    let camera_dir = out_dir.join("camera");
    std::fs::create_dir_all(&camera_dir).map_err(|e| DemoAssetsError::Write {
        path: camera_dir.clone(),
        detail: e.to_string(),
    })?;
    // The portrait window of a 250x250 LFW picture (as the chip-like photos are cut).
    let portrait = image::imageops::crop_imm(&camera_picture, 40, 20, 170, 210).to_image();
    let jpeg_error = |e: enroll_face::FaceError| DemoAssetsError::Write {
        path: camera_dir.clone(),
        detail: e.to_string(),
    };
    let mut index = 0u32;
    for step in 0..APPROACH_FRAMES {
        let scale = 0.45 + 0.55 * step as f32 / APPROACH_FRAMES as f32;
        let jpeg = encode_jpeg(&frame(&portrait, scale, (0, 0)), 90).map_err(jpeg_error)?;
        write(&camera_dir.join(format!("frame_{index:03}.jpg")), &jpeg)?;
        index += 1;
    }
    // Holding still.
    let still = encode_jpeg(&frame(&portrait, 1.0, (0, 0)), 90).map_err(jpeg_error)?;
    for _ in 0..HOLD_FRAMES {
        write(&camera_dir.join(format!("frame_{index:03}.jpg")), &still)?;
        index += 1;
    }
    let card = card_resolution(&card_picture).map_err(|e| DemoAssetsError::Write {
        path: out_dir.join("card-photo.jpg"),
        detail: e.to_string(),
    })?;
    let card_jpeg = encode_jpeg(&card, 50).map_err(|e| DemoAssetsError::Write {
        path: out_dir.join("card-photo.jpg"),
        detail: e.to_string(),
    })?;
    write(&out_dir.join("card-photo.jpg"), &card_jpeg)?;
    let readme = format!(
        "# Demo pictures (made by scripts/setup.sh, not shipped)\n\n\
         Made by `kiosk demo-assets` from the development face set (Labeled Faces in the Wild, \
         deep-funneled; University of Massachusetts, Amherst). LFW carries no licence; its \
         pictures are for testing face verification only and must not be shipped in a product \
         image, so these files are git-ignored and made on each machine.\n\n\
         - `camera/`: {index} frames from `{PERSON}/{}` (SHA-256 {}): {APPROACH_FRAMES} walking \
         up to the camera, {HOLD_FRAMES} holding still.\n\
         - `card-photo.jpg`: the chip-like photo (102x126, JPEG quality 50) of `{PERSON}/{}` \
         (SHA-256 {}), which the emulated card's photo stands for.\n",
        CAMERA_PICTURE.0, CAMERA_PICTURE.1, CARD_PICTURE.0, CARD_PICTURE.1
    );
    write(&out_dir.join("README.md"), readme.as_bytes())?;
    Ok(index)
}
