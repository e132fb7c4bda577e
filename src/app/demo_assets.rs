//! Makes the demo's pictures from the development face set at set-up time (they are not shipped:
//! the set's terms allow testing only): camera frames of one test person walking up to the
//! camera and holding still, the acts she plays when the liveness challenge asks (a blink, a turn
//! to either side), and a chip-like card photo of the same person from another picture. The
//! source pictures are pinned by SHA-256. It draws nothing and starts no device.
//!
//! LFW holds photographs, not video, so each act is cut from separate photographs of the same
//! person, as they are (deep-funneled pictures are already aligned on the face): eyes open, eyes
//! shut, head turned to her left; the turn to her right is the left one mirrored. Nothing is
//! painted or warped.

use std::path::{Path, PathBuf};

use image::RgbImage;
use sha2::{Digest, Sha256};

use enroll_face::eval::card_resolution;
use enroll_face::portrait::encode_jpeg;

/// The test person and the pictures used, with their SHA-256 (LFW deep-funneled).
const PERSON: &str = "Jennifer_Capriati";
/// Facing the camera, eyes open (the frames and the start and end of the acts).
const CAMERA_PICTURE: (&str, &str) = (
    "Jennifer_Capriati_0033.jpg",
    "49b267e6da3c3acd30b955d3ce9ea88cc7f4fb20c365d3821cdd8118bc22edae",
);
/// Eyes shut, near frontal (the blink).
const EYES_SHUT_PICTURE: (&str, &str) = (
    "Jennifer_Capriati_0042.jpg",
    "05fe752d97d6e9b7983ccb027ac45698817f57d13bbfbc6227836dcf7c8f8885",
);
/// Head turned to her left (about 20 degrees).
const TURNED_PICTURE: (&str, &str) = (
    "Jennifer_Capriati_0002.jpg",
    "17e52cbd5b3e2af9d996ffe5f56d3334ccb2ef8c7f37fbe927e6db0ac8803757",
);
/// The card's photo.
const CARD_PICTURE: (&str, &str) = (
    "Jennifer_Capriati_0014.jpg",
    "59e7f090a7030496eb353427c0d2918cd35ed778cc9a71030b5d2e7ea3397a80",
);

/// Frame size (the demo camera's configured size).
const FRAME_W: u32 = 640;
const FRAME_H: u32 = 480;
/// Frames while the person walks up (too far at first), then while they hold still.
const APPROACH_FRAMES: u32 = 12;
const HOLD_FRAMES: u32 = 75;
/// The blink at 25 frames a second: open, shut for 320 ms (a slow blink, so a busy analysis
/// thread that skips frames still sees it), open again (the last frame is held).
const BLINK_OPEN_FRAMES: u32 = 3;
const BLINK_SHUT_FRAMES: u32 = 8;
/// The turn: facing for 80 ms, then turned (held).
const TURN_FACING_FRAMES: u32 = 2;

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
    frame(&portrait_window(picture), 1.0, (0, 0))
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

/// The portrait window of a 250x250 LFW picture (as the chip-like photos are cut).
fn portrait_window(picture: &RgbImage) -> RgbImage {
    image::imageops::crop_imm(picture, 40, 20, 170, 210).to_image()
}

/// Writes numbered JPEG frames into `dir` (made if missing), each picture `count` times.
fn write_frames(dir: &Path, frames: &[(&RgbImage, u32)]) -> Result<u32, DemoAssetsError> {
    std::fs::create_dir_all(dir).map_err(|e| DemoAssetsError::Write {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mut index = 0u32;
    for (picture, count) in frames {
        let jpeg = encode_jpeg(picture, 90).map_err(|e| DemoAssetsError::Write {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        for _ in 0..*count {
            write(&dir.join(format!("frame_{index:03}.jpg")), &jpeg)?;
            index += 1;
        }
    }
    Ok(index)
}

/// Writes `out_dir/camera/frame_NNN.jpg`, the challenge's acts under `out_dir/camera/challenge/`
/// (`blink`, `turn-left`, `turn-right`: the applicant's own sides), `out_dir/card-photo.jpg` and
/// a README from the development face set at `faces_dir`; returns how many frames the camera
/// plays when nobody asks anything of the person.
pub fn make(faces_dir: &Path, out_dir: &Path) -> Result<u32, DemoAssetsError> {
    let facing = portrait_window(&read_pinned(faces_dir, CAMERA_PICTURE)?);
    let eyes_shut = portrait_window(&read_pinned(faces_dir, EYES_SHUT_PICTURE)?);
    let turned_left = portrait_window(&read_pinned(faces_dir, TURNED_PICTURE)?);
    let turned_right = image::imageops::flip_horizontal(&turned_left);
    let card_picture = read_pinned(faces_dir, CARD_PICTURE)?;
    let camera_dir = out_dir.join("camera");
    // Made afresh: frames or acts of an earlier version would otherwise play on.
    if camera_dir.exists() {
        std::fs::remove_dir_all(&camera_dir).map_err(|e| DemoAssetsError::Write {
            path: camera_dir.clone(),
            detail: e.to_string(),
        })?;
    }
    // Walking up (too far at first), then holding still.
    let approach: Vec<RgbImage> = (0..APPROACH_FRAMES)
        .map(|step| {
            frame(
                &facing,
                0.45 + 0.55 * step as f32 / APPROACH_FRAMES as f32,
                (0, 0),
            )
        })
        .collect();
    let still = frame(&facing, 1.0, (0, 0));
    let mut walk: Vec<(&RgbImage, u32)> = approach.iter().map(|f| (f, 1)).collect();
    walk.push((&still, HOLD_FRAMES));
    let index = write_frames(&camera_dir, &walk)?;
    let acts = camera_dir.join("challenge");
    let shut = frame(&eyes_shut, 1.0, (0, 0));
    write_frames(
        &acts.join("blink"),
        &[
            (&still, BLINK_OPEN_FRAMES),
            (&shut, BLINK_SHUT_FRAMES),
            (&still, 1),
        ],
    )?;
    for (side, turned) in [("left", &turned_left), ("right", &turned_right)] {
        write_frames(
            &acts.join(format!("turn-{side}")),
            &[
                (&still, TURN_FACING_FRAMES),
                (&frame(turned, 1.0, (0, 0)), 1),
            ],
        )?;
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
         - `camera/challenge/`: what she does when the liveness challenge asks (the demo camera \
         plays the act of the prompt on the screen, once, holding its last frame). LFW has no \
         video, so each act is cut from separate photographs of her, unaltered: `blink` is the \
         frame above, then `{PERSON}/{}` (SHA-256 {}, eyes shut) for {BLINK_SHUT_FRAMES} frames, \
         then the frame above; `turn-left` is the frame above, then `{PERSON}/{}` (SHA-256 {}, \
         head turned to her left); `turn-right` is the same picture mirrored.\n\
         - `card-photo.jpg`: the chip-like photo (102x126, JPEG quality 50) of `{PERSON}/{}` \
         (SHA-256 {}), which the emulated card's photo stands for.\n",
        CAMERA_PICTURE.0,
        CAMERA_PICTURE.1,
        EYES_SHUT_PICTURE.0,
        EYES_SHUT_PICTURE.1,
        TURNED_PICTURE.0,
        TURNED_PICTURE.1,
        CARD_PICTURE.0,
        CARD_PICTURE.1
    );
    write(&out_dir.join("README.md"), readme.as_bytes())?;
    Ok(index)
}
