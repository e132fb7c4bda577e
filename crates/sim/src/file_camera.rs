//! The simulated camera: plays the JPEG and PNG files of a directory in name order, looping, at a
//! fixed rate, each letterboxed onto the configured frame size (as a webcam delivers one size). A
//! file that cannot be decoded is reported once as a bad frame, naming the file, and skipped.
//! On a demo terminal the `camera-freeze` fault stops the pictures until it is cleared.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::faults::{Fault, FaultSwitch};
use enroll_devices::camera::{Camera, CameraError, CameraErrorKind, Frame, letterbox};

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
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
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
        let entries = std::fs::read_dir(dir)
            .map_err(|e| not_found(format!("cannot read {} ({e})", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_image(path))
            .collect();
        files.sort();
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
        })
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
        let path = self
            .files
            .get(self.next_index % self.files.len().max(1))
            .cloned()
            .unwrap_or_default();
        self.next_index = (self.next_index + 1) % self.files.len().max(1);
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
