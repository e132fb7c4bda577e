//! Owns the stored-portrait crop: an ICAO-style token image (eyes level at fixed positions,
//! face about 70-75% of the height) encoded as JPEG. It does not decide whether a frame is good
//! enough (see `quality`).

use image::RgbImage;

use super::align::Similarity;
use super::error::FaceError;
use super::imaging::{Border, warp_affine};
use super::landmarks::{FivePoints, PointPx};
use super::settings::PortraitSettings;

/// A JPEG-encoded portrait. Biometric data: `Debug` shows only sizes, there is no `Display`.
#[derive(Clone, PartialEq)]
pub struct Portrait {
    jpeg: Vec<u8>,
    width_px: u32,
    height_px: u32,
}

impl std::fmt::Debug for Portrait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Portrait {{ {}x{}, {} jpeg bytes <redacted> }}",
            self.width_px,
            self.height_px,
            self.jpeg.len()
        )
    }
}

impl Portrait {
    pub fn jpeg_bytes(&self) -> &[u8] {
        &self.jpeg
    }

    pub fn into_jpeg_bytes(self) -> Vec<u8> {
        self.jpeg
    }

    pub fn width_px(&self) -> u32 {
        self.width_px
    }

    pub fn height_px(&self) -> u32 {
        self.height_px
    }
}

/// The transform from image to portrait coordinates that puts the eyes level at the configured
/// positions.
pub fn portrait_transform(
    five: &FivePoints,
    s: &PortraitSettings,
) -> Result<Similarity, FaceError> {
    let target_dist = s.inter_eye_frac * s.width_px as f32;
    let dist = five.inter_eye_px();
    if !(dist > 1.0 && target_dist > 0.0) {
        return Err(FaceError::AlignmentFailed(
            "eyes are too close together".into(),
        ));
    }
    let scale = target_dist / dist;
    let angle = -five.eye_line_roll_deg().to_radians();
    let (sin, cos) = angle.sin_cos();
    let a = scale * cos;
    let b = scale * sin;
    let mid = PointPx::new(
        (five.left_eye.x_px + five.right_eye.x_px) / 2.0,
        (five.left_eye.y_px + five.right_eye.y_px) / 2.0,
    );
    let tx = s.eye_mid_x_frac * s.width_px as f32 - (a * mid.x_px - b * mid.y_px);
    let ty = s.eye_mid_y_frac * s.height_px as f32 - (b * mid.x_px + a * mid.y_px);
    Ok(Similarity { a, b, tx, ty })
}

/// Renders the token image (edge pixels repeat where the frame ends).
pub fn render(
    img: &RgbImage,
    five: &FivePoints,
    s: &PortraitSettings,
) -> Result<(RgbImage, Similarity), FaceError> {
    if s.width_px == 0 || s.height_px == 0 || s.width_px > 4096 || s.height_px > 4096 {
        return Err(FaceError::InvalidSettings(
            "portrait size must be 1..=4096 px per side".into(),
        ));
    }
    let t = portrait_transform(five, s)?;
    let inv = t
        .inverse()
        .ok_or_else(|| FaceError::AlignmentFailed("portrait transform is degenerate".into()))?;
    Ok((
        warp_affine(
            img,
            &inv.to_affine(),
            s.width_px,
            s.height_px,
            Border::Replicate,
        ),
        t,
    ))
}

/// Renders and JPEG-encodes the token image.
pub fn make_portrait(
    img: &RgbImage,
    five: &FivePoints,
    s: &PortraitSettings,
) -> Result<Portrait, FaceError> {
    let (out, _) = render(img, five, s)?;
    let jpeg = encode_jpeg(&out, s.jpeg_quality)?;
    Ok(Portrait {
        jpeg,
        width_px: out.width(),
        height_px: out.height(),
    })
}

/// JPEG-encodes an RGB image at `quality` (1..=100).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, FaceError> {
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100));
    img.write_with_encoder(enc)
        .map_err(|e| FaceError::Encode(e.to_string()))?;
    Ok(buf)
}
