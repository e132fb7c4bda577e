//! Cameras behind one small trait: frames of a fixed size, at a paced rate, with errors that say
//! what is wrong and what to do. [`v4l2::V4l2Camera`] is a USB webcam through V4L2 (the simulated
//! file camera is `enroll_sim::file_camera`). [`spawn`] runs a camera on a named thread
//! that hands the newest frame to a bounded channel and drops frames nobody took, so a slow
//! consumer never makes the camera fall behind. Nothing here analyses faces or draws.

pub mod v4l2;

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Instant;

use image::{RgbImage, imageops};

/// One picture from the camera.
#[derive(Clone)]
pub struct Frame {
    /// The picture, RGB, at the camera's configured size.
    pub image: RgbImage,
    /// Counts frames from 0 since the camera opened.
    pub sequence: u64,
    /// When it was taken (monotonic).
    pub captured_at: Instant,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("sequence", &self.sequence)
            .field("width", &self.image.width())
            .field("height", &self.image.height())
            .finish_non_exhaustive()
    }
}

/// What kind of camera problem this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CameraErrorKind {
    /// No camera (or no frames) where the configuration points.
    NotFound,
    /// The camera is there but cannot be used (busy, permission).
    Unavailable,
    /// One frame could not be decoded; the next may be fine.
    BadFrame,
    /// The camera went away while in use.
    Disconnected,
    /// The camera is open but gives no new picture (frozen); it may come back.
    Stalled,
}

/// A camera problem: what is wrong and what to do, without image content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CameraError {
    pub kind: CameraErrorKind,
    pub message: String,
}

/// A frame source. Not `Send`: a device stays on the thread that opened it (V4L2 buffers are
/// mapped for that thread's use), which is why the camera thread opens it itself.
pub trait Camera {
    /// A short description (backend and device; no personal data).
    fn describe(&self) -> String;

    /// Waits for the next frame (paced at the camera's rate) and returns it.
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
}

/// What the camera thread reports.
#[derive(Debug)]
pub enum CameraReport {
    Frame(Frame),
    Error(CameraError),
}

/// Opens a camera on the camera thread (opening may wait on the device).
pub type CameraOpener = Box<dyn FnOnce() -> Result<Box<dyn Camera>, CameraError> + Send>;

/// Like [`spawn`], but the thread opens the camera itself first; a camera that cannot be opened
/// is reported as the channel's only message.
pub fn spawn_opening(
    open: CameraOpener,
    capacity: usize,
) -> std::io::Result<(Receiver<CameraReport>, std::thread::JoinHandle<()>)> {
    let (sender, receiver): (SyncSender<CameraReport>, _) =
        std::sync::mpsc::sync_channel(capacity.max(1));
    let thread = std::thread::Builder::new()
        .name("camera".into())
        .spawn(move || match open() {
            Ok(camera) => pump(camera, &sender),
            Err(error) => {
                let _ = sender.send(CameraReport::Error(error));
            }
        })?;
    Ok((receiver, thread))
}

/// Runs `camera` on a thread named `camera` until the receiver is dropped or the camera is
/// disconnected. The channel holds `capacity` reports; a frame that finds it full is dropped
/// (errors wait for room, so none is lost).
pub fn spawn(
    camera: Box<dyn Camera + Send>,
    capacity: usize,
) -> std::io::Result<(Receiver<CameraReport>, std::thread::JoinHandle<()>)> {
    spawn_opening(Box::new(move || Ok(camera as Box<dyn Camera>)), capacity)
}

/// Hands frames on until the receiver is gone or the camera is gone.
fn pump(mut camera: Box<dyn Camera>, sender: &SyncSender<CameraReport>) {
    loop {
        match camera.next_frame() {
            Ok(frame) => match sender.try_send(CameraReport::Frame(frame)) {
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            },
            Err(error) => {
                let end = error.kind == CameraErrorKind::Disconnected
                    || error.kind == CameraErrorKind::NotFound;
                if sender.send(CameraReport::Error(error)).is_err() || end {
                    return;
                }
            }
        }
    }
}

/// `image` scaled to fit `width` x `height` without distortion, centred on black.
pub fn letterbox(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    if image.width() == width && image.height() == height {
        return image.clone();
    }
    let scale = f64::min(
        f64::from(width) / f64::from(image.width().max(1)),
        f64::from(height) / f64::from(image.height().max(1)),
    );
    let scaled_w = ((f64::from(image.width()) * scale).round() as u32).clamp(1, width);
    let scaled_h = ((f64::from(image.height()) * scale).round() as u32).clamp(1, height);
    let scaled = imageops::resize(image, scaled_w, scaled_h, imageops::FilterType::Triangle);
    let mut canvas = RgbImage::new(width, height);
    imageops::replace(
        &mut canvas,
        &scaled,
        i64::from((width - scaled_w) / 2),
        i64::from((height - scaled_h) / 2),
    );
    canvas
}
