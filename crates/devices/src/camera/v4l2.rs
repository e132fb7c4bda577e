//! The webcam backend: a V4L2 device (`/dev/video<N>`) through `nokhwa`, asking for the
//! configured size and rate (MJPEG preferred, as USB webcams deliver 640×480 at 30 fps that way)
//! and turning each buffer into an RGB frame of the configured size. The pixel conversions are
//! plain functions ([`to_rgb`]) so they are tested without a camera. It does not pace frames (the
//! device does) and decides nothing about faces.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::{ImageFormat, RgbImage};
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};
use nokhwa::{NokhwaError, query};

use super::{Camera, CameraError, CameraErrorKind, Frame, letterbox};

/// The largest frame accepted from a device, in pixels (a 4K frame; anything larger is a
/// corrupt header, not a webcam).
const MAX_FRAME_PIXELS: u64 = 3840 * 2160;

/// A V4L2 webcam, opened and streaming.
pub struct V4l2Camera {
    camera: nokhwa::Camera,
    device: PathBuf,
    width_px: u32,
    height_px: u32,
    sequence: u64,
    /// What the device agreed to deliver (for `describe`).
    delivered: String,
}

/// The device node of camera `index`.
pub fn device_path(index: u32) -> PathBuf {
    PathBuf::from(format!("/dev/video{index}"))
}

/// A camera the system lists (for diagnostics and the technician).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedCamera {
    /// The V4L2 index (`/dev/video<N>`), when the backend gives one.
    pub index: Option<u32>,
    /// The device's own name (a model name, never a person's).
    pub name: String,
}

/// The cameras V4L2 lists on this machine (an empty list when there are none).
pub fn list_cameras() -> Result<Vec<ListedCamera>, CameraError> {
    let cameras = query(ApiBackend::Video4Linux).map_err(|error| CameraError {
        kind: CameraErrorKind::Unavailable,
        message: format!("cannot list the V4L2 cameras: {error}"),
    })?;
    Ok(cameras
        .into_iter()
        .map(|info| ListedCamera {
            index: match info.index() {
                CameraIndex::Index(index) => Some(*index),
                CameraIndex::String(_) => None,
            },
            name: info.human_name(),
        })
        .collect())
}

fn open_error(device: &Path, error: &NokhwaError) -> CameraError {
    CameraError {
        kind: CameraErrorKind::Unavailable,
        message: format!(
            "camera {} cannot be used: {error}; check that no other program is using it and \
             that the kiosk's user may open it (group 'video')",
            device.display()
        ),
    }
}

impl V4l2Camera {
    /// Opens `/dev/video<device_index>` and starts streaming, asking for the closest format to
    /// `width_px` × `height_px` at `frame_rate_fps`.
    pub fn open(
        device_index: u32,
        width_px: u32,
        height_px: u32,
        frame_rate_fps: u32,
    ) -> Result<V4l2Camera, CameraError> {
        let device = device_path(device_index);
        if !device.exists() {
            return Err(CameraError {
                kind: CameraErrorKind::NotFound,
                message: format!(
                    "no camera at {}: check that the webcam is plugged in (`kiosk diag` lists \
                     the cameras found), or set camera.device_index",
                    device.display()
                ),
            });
        }
        let wanted = CameraFormat::new(
            Resolution::new(width_px, height_px),
            FrameFormat::MJPEG,
            frame_rate_fps,
        );
        let requested = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(wanted));
        let mut camera = nokhwa::Camera::new(CameraIndex::Index(device_index), requested)
            .map_err(|error| open_error(&device, &error))?;
        camera
            .open_stream()
            .map_err(|error| open_error(&device, &error))?;
        let format = camera.camera_format();
        let delivered = format!(
            "{}x{} {} at {} fps",
            format.resolution().width(),
            format.resolution().height(),
            format.format(),
            format.frame_rate()
        );
        Ok(V4l2Camera {
            camera,
            device,
            width_px,
            height_px,
            sequence: 0,
            delivered,
        })
    }
}

impl Camera for V4l2Camera {
    fn describe(&self) -> String {
        format!("v4l2 {} ({})", self.device.display(), self.delivered)
    }

    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let buffer = self.camera.frame().map_err(|error| {
            if self.device.exists() {
                CameraError {
                    kind: CameraErrorKind::BadFrame,
                    message: format!("camera {}: {error}", self.device.display()),
                }
            } else {
                CameraError {
                    kind: CameraErrorKind::Disconnected,
                    message: format!(
                        "camera {} went away: check its cable; the kiosk opens it again when \
                         the applicant presses Try again",
                        self.device.display()
                    ),
                }
            }
        })?;
        let captured_at = Instant::now();
        let resolution = buffer.resolution();
        let image = to_rgb(
            buffer.source_frame_format(),
            resolution.width(),
            resolution.height(),
            buffer.buffer(),
        )
        .map_err(|detail| CameraError {
            kind: CameraErrorKind::BadFrame,
            message: format!("camera {}: {detail}", self.device.display()),
        })?;
        let image = letterbox(&image, self.width_px, self.height_px);
        let frame = Frame {
            image,
            sequence: self.sequence,
            captured_at,
        };
        self.sequence = self.sequence.saturating_add(1);
        Ok(frame)
    }
}

/// Why a buffer is not a picture (format and sizes only; never pixel content).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PixelError {
    /// The buffer is shorter or longer than its format and size need.
    #[error("a {format} frame of {width}x{height} needs {needed} bytes, the device gave {got}")]
    WrongLength {
        format: &'static str,
        width: u32,
        height: u32,
        needed: u64,
        got: usize,
    },
    /// A size no webcam delivers (zero, odd where the format needs even, or huge).
    #[error("the device reported an unusable frame size {width}x{height} for {format}")]
    BadSize {
        format: &'static str,
        width: u32,
        height: u32,
    },
    /// The MJPEG frame does not decode.
    #[error("an MJPEG frame does not decode: {0}")]
    Jpeg(String),
}

/// BT.601 limited-range YCbCr to RGB, in integers (as webcams encode YUYV and NV12).
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(cb) - 128;
    let e = i32::from(cr) - 128;
    let clamp = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(298 * c + 409 * e),
        clamp(298 * c - 100 * d - 208 * e),
        clamp(298 * c + 516 * d),
    ]
}

fn expect_len(
    format: &'static str,
    width: u32,
    height: u32,
    bytes_per_16_px: u64,
    data: &[u8],
) -> Result<(), PixelError> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 || pixels > MAX_FRAME_PIXELS {
        return Err(PixelError::BadSize {
            format,
            width,
            height,
        });
    }
    let needed = pixels * bytes_per_16_px / 16;
    if data.len() as u64 != needed {
        return Err(PixelError::WrongLength {
            format,
            width,
            height,
            needed,
            got: data.len(),
        });
    }
    Ok(())
}

fn image_from(
    width: u32,
    height: u32,
    rgb: Vec<u8>,
    format: &'static str,
) -> Result<RgbImage, PixelError> {
    RgbImage::from_raw(width, height, rgb).ok_or(PixelError::BadSize {
        format,
        width,
        height,
    })
}

/// One device buffer as an RGB picture: MJPEG, YUYV (4:2:2), NV12 (4:2:0), grey, RGB or BGR.
pub fn to_rgb(
    format: FrameFormat,
    width: u32,
    height: u32,
    data: &[u8],
) -> Result<RgbImage, PixelError> {
    match format {
        FrameFormat::MJPEG => {
            let picture = image::load_from_memory_with_format(data, ImageFormat::Jpeg)
                .map_err(|error| PixelError::Jpeg(error.to_string()))?;
            Ok(picture.to_rgb8())
        }
        FrameFormat::YUYV => {
            if !width.is_multiple_of(2) {
                return Err(PixelError::BadSize {
                    format: "YUYV",
                    width,
                    height,
                });
            }
            expect_len("YUYV", width, height, 32, data)?;
            let mut rgb = Vec::with_capacity(data.len() / 2 * 3);
            for pair in data.chunks_exact(4) {
                if let [y0, cb, y1, cr] = *pair {
                    rgb.extend_from_slice(&ycbcr_to_rgb(y0, cb, cr));
                    rgb.extend_from_slice(&ycbcr_to_rgb(y1, cb, cr));
                }
            }
            image_from(width, height, rgb, "YUYV")
        }
        FrameFormat::NV12 => {
            if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
                return Err(PixelError::BadSize {
                    format: "NV12",
                    width,
                    height,
                });
            }
            expect_len("NV12", width, height, 24, data)?;
            let (luma, chroma) = data
                .split_at_checked(width as usize * height as usize)
                .ok_or(PixelError::BadSize {
                    format: "NV12",
                    width,
                    height,
                })?;
            let row_len = width as usize;
            let mut rgb = Vec::with_capacity(luma.len() * 3);
            for (row, luma_row) in luma.chunks_exact(row_len).enumerate() {
                let chroma_row = chroma
                    .chunks_exact(row_len)
                    .nth(row / 2)
                    .unwrap_or_default();
                for (column, &y) in luma_row.iter().enumerate() {
                    let pair = column / 2 * 2;
                    let cb = chroma_row.get(pair).copied().unwrap_or(128);
                    let cr = chroma_row.get(pair + 1).copied().unwrap_or(128);
                    rgb.extend_from_slice(&ycbcr_to_rgb(y, cb, cr));
                }
            }
            image_from(width, height, rgb, "NV12")
        }
        FrameFormat::GRAY => {
            expect_len("GRAY", width, height, 16, data)?;
            let rgb = data.iter().flat_map(|&v| [v, v, v]).collect();
            image_from(width, height, rgb, "GRAY")
        }
        FrameFormat::RAWRGB => {
            expect_len("RGB", width, height, 48, data)?;
            image_from(width, height, data.to_vec(), "RGB")
        }
        FrameFormat::RAWBGR => {
            expect_len("BGR", width, height, 48, data)?;
            let rgb = data
                .chunks_exact(3)
                .flat_map(|bgr| match *bgr {
                    [b, g, r] => [r, g, b],
                    _ => [0, 0, 0],
                })
                .collect();
            image_from(width, height, rgb, "BGR")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_black_white_and_grey_become_the_same_rgb() {
        // Two pixel pairs: video black (Y=16) and video white (Y=235), no colour (Cb=Cr=128).
        let data = [16, 128, 16, 128, 235, 128, 235, 128];
        let image = to_rgb(FrameFormat::YUYV, 4, 1, &data).unwrap_or_else(|e| panic!("{e}"));
        let pixels: Vec<[u8; 3]> = image.pixels().map(|p| p.0).collect();
        assert_eq!(
            pixels,
            vec![[0, 0, 0], [0, 0, 0], [255, 255, 255], [255, 255, 255]]
        );
    }

    #[test]
    fn yuyv_red_is_red() {
        // BT.601 studio-swing red: Y=81, Cb=90, Cr=240.
        let data = [81, 90, 81, 240];
        let image = to_rgb(FrameFormat::YUYV, 2, 1, &data).unwrap_or_else(|e| panic!("{e}"));
        let [r, g, b] = image.get_pixel(0, 0).0;
        assert!(r > 250 && g < 5 && b < 5, "got {r},{g},{b}");
    }

    #[test]
    fn nv12_uses_one_chroma_pair_for_each_two_by_two_block() {
        // 2x2 luma of white, one chroma pair pushing towards blue (Cb high).
        let data = [235, 235, 235, 235, 200, 128];
        let image = to_rgb(FrameFormat::NV12, 2, 2, &data).unwrap_or_else(|e| panic!("{e}"));
        for pixel in image.pixels() {
            let [r, g, b] = pixel.0;
            assert!(b == 255 && r == 255 && g < 255, "got {r},{g},{b}");
        }
    }

    #[test]
    fn mjpeg_frames_decode_with_their_own_size() {
        let mut jpeg = std::io::Cursor::new(Vec::new());
        RgbImage::from_pixel(32, 24, image::Rgb([200, 30, 30]))
            .write_to(&mut jpeg, ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("{e}"));
        let image =
            to_rgb(FrameFormat::MJPEG, 32, 24, jpeg.get_ref()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((image.width(), image.height()), (32, 24));
        let [r, g, b] = image.get_pixel(5, 5).0;
        assert!(r > 180 && g < 60 && b < 60, "got {r},{g},{b}");
    }

    #[test]
    fn bgr_and_grey_are_reordered_and_spread() {
        let bgr = to_rgb(FrameFormat::RAWBGR, 1, 1, &[1, 2, 3]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bgr.get_pixel(0, 0).0, [3, 2, 1]);
        let grey = to_rgb(FrameFormat::GRAY, 1, 1, &[77]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grey.get_pixel(0, 0).0, [77, 77, 77]);
    }

    #[test]
    fn truncated_or_corrupt_buffers_are_errors_that_name_format_and_sizes() {
        let short = to_rgb(FrameFormat::YUYV, 640, 480, &[0; 1000]);
        assert_eq!(
            short.map(|_| ()).map_err(|e| e.to_string()),
            Err("a YUYV frame of 640x480 needs 614400 bytes, the device gave 1000".into())
        );
        assert!(matches!(
            to_rgb(FrameFormat::MJPEG, 640, 480, b"not a jpeg"),
            Err(PixelError::Jpeg(_))
        ));
        assert!(matches!(
            to_rgb(FrameFormat::YUYV, 3, 1, &[0; 6]),
            Err(PixelError::BadSize { .. })
        ));
        assert!(matches!(
            to_rgb(FrameFormat::RAWRGB, 0, 480, &[]),
            Err(PixelError::BadSize { .. })
        ));
        assert!(matches!(
            to_rgb(FrameFormat::GRAY, 100_000, 100_000, &[]),
            Err(PixelError::BadSize { .. })
        ));
    }

    #[test]
    fn a_camera_index_with_no_device_is_not_found_and_says_what_to_do() {
        // No machine has 200 video devices.
        let Err(error) = V4l2Camera::open(200, 640, 480, 30) else {
            panic!("a camera opened at /dev/video200");
        };
        assert_eq!(error.kind, CameraErrorKind::NotFound);
        assert!(error.message.contains("/dev/video200"), "{error}");
        assert!(error.message.contains("plugged in"), "{error}");
    }

    #[test]
    fn listing_cameras_works_without_any() {
        // Whatever this machine has, listing never fails for lack of cameras.
        let listed = list_cameras().unwrap_or_else(|e| panic!("{e}"));
        for camera in listed {
            assert!(!camera.name.is_empty());
        }
    }
}
