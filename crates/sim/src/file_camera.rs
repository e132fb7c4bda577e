//! The simulated camera: plays the JPEG and PNG files of a directory in name order, looping, at a
//! fixed rate, each letterboxed onto the configured frame size (as a webcam delivers one size). A
//! file that cannot be decoded is reported once as a bad frame, naming the file, and skipped.
//! On a demo terminal the `camera-freeze` fault stops the pictures until it is cleared.
//!
//! The person in the pictures can also follow the liveness challenge's prompt, as an applicant
//! in front of a real camera does: with [`FileCamera::following`], a prompt shown on the screen
//! (passed in through an [`ApplicantCue`]) switches the camera to the matching act in
//! `challenge/blink`, `challenge/turn-left` or `challenge/turn-right` beside the frames, played
//! once from its first file and then held on its last (the person stays turned). What the person
//! does is only ever what the cue says: the camera never reads the screen itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::faults::{Fault, FaultSwitch};
use enroll_core::domain::challenge::{Prompt, TurnSide};
use enroll_devices::camera::{Camera, CameraError, CameraErrorKind, Frame, letterbox};

/// The prompt the simulated applicant sees, shared between the screen's side (which sets it)
/// and the file camera (which plays the act). Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct ApplicantCue(Arc<AtomicU8>);

impl ApplicantCue {
    /// A cue showing no prompt.
    pub fn new() -> ApplicantCue {
        ApplicantCue::default()
    }

    /// Shows `prompt` (`None`: no challenge on the screen).
    pub fn show(&self, prompt: Option<Prompt>) {
        let code = match prompt {
            None => 0,
            Some(Prompt::Blink) => 1,
            Some(Prompt::Turn(TurnSide::Left)) => 2,
            Some(Prompt::Turn(TurnSide::Right)) => 3,
        };
        self.0.store(code, Ordering::Relaxed);
    }

    /// The prompt shown now.
    pub fn prompt(&self) -> Option<Prompt> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Prompt::Blink),
            2 => Some(Prompt::Turn(TurnSide::Left)),
            3 => Some(Prompt::Turn(TurnSide::Right)),
            _ => None,
        }
    }
}

/// The acts beside the frames, one folder per prompt (applicant's own sides).
const ACT_DIRS: [(Prompt, &str); 3] = [
    (Prompt::Blink, "challenge/blink"),
    (Prompt::Turn(TurnSide::Left), "challenge/turn-left"),
    (Prompt::Turn(TurnSide::Right), "challenge/turn-right"),
];

/// The person following the cue: the acts found and the one playing.
struct Follower {
    cue: ApplicantCue,
    acts: Vec<(Prompt, Vec<PathBuf>)>,
    playing: Option<Prompt>,
    act_index: usize,
}

impl Follower {
    /// The next file of the act the cue asks for, if it has one (else the frames play on).
    fn next_file(&mut self) -> Option<PathBuf> {
        let prompt = self.cue.prompt();
        if prompt != self.playing {
            self.playing = prompt;
            self.act_index = 0;
        }
        let prompt = prompt?;
        let (_, files) = self.acts.iter().find(|(act, _)| *act == prompt)?;
        let file = files.get(self.act_index.min(files.len().saturating_sub(1)))?;
        self.act_index = self.act_index.saturating_add(1);
        Some(file.clone())
    }
}

/// A camera that plays image files.
pub struct FileCamera {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next_index: usize,
    width_px: u32,
    height_px: u32,
    frame_interval: Duration,
    next_due: Option<Instant>,
    sequence: u64,
    faults: FaultSwitch,
    follower: Option<Follower>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// The JPEG and PNG files directly in `dir`, in name order.
fn image_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| is_image(path))
        .collect();
    files.sort();
    Ok(files)
}

impl FileCamera {
    /// Opens the directory; it must hold at least one JPEG or PNG file.
    pub fn open(
        dir: &Path,
        width_px: u32,
        height_px: u32,
        frame_rate_fps: u32,
    ) -> Result<FileCamera, CameraError> {
        let not_found = |detail: String| CameraError {
            kind: CameraErrorKind::NotFound,
            message: format!(
                "the simulated camera has no frames: {detail}; put JPEG or PNG files in \
                 camera.frames_dir, or use camera.backend = \"v4l2\""
            ),
        };
        let files = image_files(dir)
            .map_err(|e| not_found(format!("cannot read {} ({e})", dir.display())))?;
        if files.is_empty() {
            return Err(not_found(format!("{} holds no image files", dir.display())));
        }
        Ok(FileCamera {
            dir: dir.to_path_buf(),
            files,
            next_index: 0,
            width_px: width_px.max(1),
            height_px: height_px.max(1),
            frame_interval: Duration::from_secs_f64(1.0 / f64::from(frame_rate_fps.max(1))),
            next_due: None,
            sequence: 0,
            faults: FaultSwitch::none(),
            follower: None,
        })
    }

    /// Lets the person in the pictures follow the prompts `cue` shows, with the acts found in
    /// `challenge/` beside the frames (a prompt without its act leaves the frames playing: a
    /// still photo held up to the camera does exactly that).
    pub fn following(mut self, cue: ApplicantCue) -> FileCamera {
        let acts = ACT_DIRS
            .iter()
            .filter_map(|(prompt, sub)| {
                let files = image_files(&self.dir.join(sub)).ok()?;
                (!files.is_empty()).then_some((*prompt, files))
            })
            .collect();
        self.follower = Some(Follower {
            cue,
            acts,
            playing: None,
            act_index: 0,
        });
        self
    }

    /// Which prompts the person can follow (those with an act).
    pub fn acts(&self) -> Vec<Prompt> {
        self.follower
            .as_ref()
            .map(|f| f.acts.iter().map(|(prompt, _)| *prompt).collect())
            .unwrap_or_default()
    }

    /// Obeys `faults` (`camera-freeze`).
    pub fn with_faults(mut self, faults: FaultSwitch) -> FileCamera {
        self.faults = faults;
        self
    }

    /// The files played, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

impl Camera for FileCamera {
    fn describe(&self) -> String {
        format!(
            "files: {} ({} frames, {}x{})",
            self.dir.display(),
            self.files.len(),
            self.width_px,
            self.height_px
        )
    }

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let now = Instant::now();
        let due = self.next_due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // Keep the rate without drifting, but never try to catch up a backlog.
        self.next_due = Some(due.max(now) + self.frame_interval);
        if self.faults.is_on(Fault::CameraFreeze) {
            return Err(CameraError {
                kind: CameraErrorKind::Stalled,
                message: format!(
                    "the camera ({}) gives no new picture: unplug it and plug it in again, or \
                     restart the kiosk (demo fault camera-freeze: clear it with kiosk diag \
                     inject --clear camera-freeze)",
                    self.dir.display()
                ),
            });
        }
        let acting = self.follower.as_mut().and_then(Follower::next_file);
        let path = match acting {
            Some(path) => path,
            None => {
                let path = self
                    .files
                    .get(self.next_index % self.files.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                self.next_index = (self.next_index + 1) % self.files.len().max(1);
                path
            }
        };
        let decoded = image::open(&path).map_err(|e| CameraError {
            kind: CameraErrorKind::BadFrame,
            message: format!(
                "frame file {} cannot be decoded ({e}); it is skipped",
                path.display()
            ),
        })?;
        let image = letterbox(&decoded.to_rgb8(), self.width_px, self.height_px);
        let frame = Frame {
            image,
            sequence: self.sequence,
            captured_at: Instant::now(),
        };
        self.sequence += 1;
        Ok(frame)
    }
}
