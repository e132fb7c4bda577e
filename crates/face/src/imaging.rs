//! Owns pixel plumbing: bounded decoding, grey conversion, crops, area/bilinear resampling and
//! affine warps on `RgbImage`. It knows nothing about faces or models.
//!
//! Every access is bounds-checked (`get_pixel_checked`, clamped coordinates), so no input can
//! make these functions panic.

use image::{GrayImage, ImageReader, Luma, Rgb, RgbImage};
use std::io::Cursor;

use super::error::FaceError;

/// An axis-aligned rectangle in pixel coordinates (may extend beyond the image).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RectPx {
    pub x_px: f32,
    pub y_px: f32,
    pub width_px: f32,
    pub height_px: f32,
}

impl RectPx {
    pub fn centre_px(&self) -> (f32, f32) {
        (
            self.x_px + self.width_px / 2.0,
            self.y_px + self.height_px / 2.0,
        )
    }

    /// A square of side `side_px` centred on `(cx, cy)`.
    pub fn square(cx: f32, cy: f32, side_px: f32) -> Self {
        RectPx {
            x_px: cx - side_px / 2.0,
            y_px: cy - side_px / 2.0,
            width_px: side_px,
            height_px: side_px,
        }
    }

    /// Intersection over union with another rectangle.
    pub fn iou(&self, other: &RectPx) -> f32 {
        let x0 = self.x_px.max(other.x_px);
        let y0 = self.y_px.max(other.y_px);
        let x1 = (self.x_px + self.width_px).min(other.x_px + other.width_px);
        let y1 = (self.y_px + self.height_px).min(other.y_px + other.height_px);
        let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
        let union = self.width_px * self.height_px + other.width_px * other.height_px - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// Moves (without resizing) the rectangle so it lies inside a `w`x`h` image where possible;
    /// a rectangle larger than the image is shrunk to fit.
    pub fn shifted_inside(&self, w: u32, h: u32) -> RectPx {
        let max_w = (w as f32 - 1.0).max(1.0);
        let max_h = (h as f32 - 1.0).max(1.0);
        let width = self.width_px.min(max_w);
        let height = self.height_px.min(max_h);
        let (cx, cy) = self.centre_px();
        let x = (cx - width / 2.0).clamp(0.0, (max_w - width).max(0.0));
        let y = (cy - height / 2.0).clamp(0.0, (max_h - height).max(0.0));
        RectPx {
            x_px: x,
            y_px: y,
            width_px: width,
            height_px: height,
        }
    }
}

/// Decodes JPEG/PNG/BMP bytes into RGB, refusing images with a side above `max_side_px`
/// before any pixel buffer is allocated. Greyscale and alpha inputs are converted to RGB.
pub fn decode_image(bytes: &[u8], max_side_px: u32) -> Result<RgbImage, FaceError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| FaceError::ImageDecode(e.to_string()))?;
    match reader.format() {
        None => return Err(FaceError::ImageDecode("unknown image format".into())),
        Some(image::ImageFormat::Jpeg) if !jpeg_has_end_marker(bytes) => {
            // The decoder would fill the missing part with grey and report success.
            return Err(FaceError::ImageDecode(
                "the jpeg is truncated (no end-of-image marker)".into(),
            ));
        }
        Some(_) => {}
    }
    let (width_px, height_px) = reader
        .into_dimensions()
        .map_err(|e| FaceError::ImageDecode(e.to_string()))?;
    if width_px > max_side_px || height_px > max_side_px {
        return Err(FaceError::ImageTooLarge {
            width_px,
            height_px,
            max_side_px,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| FaceError::ImageDecode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(max_side_px);
    limits.max_image_height = Some(max_side_px);
    // 4 bytes per pixel (RGBA) plus decoder scratch.
    let max_alloc = u64::from(max_side_px)
        .saturating_mul(u64::from(max_side_px))
        .saturating_mul(8);
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| FaceError::ImageDecode(e.to_string()))?;
    Ok(decoded.to_rgb8())
}

/// Whether a JPEG stream has its end-of-image marker (FF D9) near the end. Inside entropy-coded
/// data 0xFF is always followed by 0x00 or a restart marker, so FF D9 there means a real end.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let tail_start = bytes.len().saturating_sub(1024);
    bytes
        .get(tail_start..)
        .is_some_and(|tail| tail.windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// ITU-R BT.601 luma of an RGB pixel, 0..255.
#[inline]
pub fn luma(p: &Rgb<u8>) -> f32 {
    0.299 * f32::from(p.0[0]) + 0.587 * f32::from(p.0[1]) + 0.114 * f32::from(p.0[2])
}

/// Grey (luma) copy of an RGB image.
pub fn to_grey(img: &RgbImage) -> GrayImage {
    let mut out = GrayImage::new(img.width(), img.height());
    for (src, dst) in img.pixels().zip(out.pixels_mut()) {
        *dst = Luma([luma(src).round().clamp(0.0, 255.0) as u8]);
    }
    out
}

/// Per-axis weights for exact area averaging from `src_len` to `dst_len` samples.
fn area_weights(src_len: u32, dst_len: u32) -> Vec<Vec<(u32, f32)>> {
    let scale = src_len as f64 / dst_len.max(1) as f64;
    (0..dst_len)
        .map(|d| {
            let start = d as f64 * scale;
            let end = ((d + 1) as f64 * scale).min(src_len as f64);
            let mut ws = Vec::new();
            let mut s = start.floor();
            while s < end {
                let lo = s.max(start);
                let hi = (s + 1.0).min(end);
                if hi > lo {
                    ws.push((s as u32, ((hi - lo) / scale) as f32));
                }
                s += 1.0;
            }
            ws
        })
        .collect()
}

/// Resizes with exact area averaging (like OpenCV `INTER_AREA` when shrinking); when enlarging
/// it degrades to nearest-neighbour blocks, so use [`crop_resize`] for upscaling.
pub fn resize_area(img: &RgbImage, dst_w: u32, dst_h: u32) -> RgbImage {
    let dst_w = dst_w.max(1);
    let dst_h = dst_h.max(1);
    if img.width() == 0 || img.height() == 0 {
        return RgbImage::new(dst_w, dst_h);
    }
    let wx = area_weights(img.width(), dst_w);
    let wy = area_weights(img.height(), dst_h);
    // Row by row: each output row accumulates the horizontally resampled source rows it
    // covers, so memory stays at two output rows whatever the input size.
    let horizontal = |y: u32, row: &mut [[f32; 3]]| {
        for (slot, ws) in row.iter_mut().zip(&wx) {
            let mut acc = [0f32; 3];
            for &(sx, w) in ws {
                if let Some(p) = img.get_pixel_checked(sx, y) {
                    for (a, v) in acc.iter_mut().zip(p.0) {
                        *a += w * f32::from(v);
                    }
                }
            }
            *slot = acc;
        }
    };
    let mut out = RgbImage::new(dst_w, dst_h);
    let mut src_row = vec![[0f32; 3]; dst_w as usize];
    let mut acc_row = vec![[0f32; 3]; dst_w as usize];
    for (dy, ws) in wy.iter().enumerate() {
        acc_row.iter_mut().for_each(|a| *a = [0.0; 3]);
        for &(sy, w) in ws {
            horizontal(sy, &mut src_row);
            for (a, v) in acc_row.iter_mut().zip(&src_row) {
                for (ac, x) in a.iter_mut().zip(v) {
                    *ac += w * x;
                }
            }
        }
        for (dx, a) in acc_row.iter().enumerate() {
            out.put_pixel(dx as u32, dy as u32, to_u8(*a));
        }
    }
    out
}

/// Downscales (area averaging) so that neither side exceeds `max_side_px`; returns the image and
/// the factor `original_px / returned_px` (1.0 when unchanged).
pub fn fit_within(img: &RgbImage, max_side_px: u32) -> (std::borrow::Cow<'_, RgbImage>, f32) {
    let longest = img.width().max(img.height());
    if longest <= max_side_px || longest == 0 {
        return (std::borrow::Cow::Borrowed(img), 1.0);
    }
    let factor = longest as f32 / max_side_px.max(1) as f32;
    let w = ((img.width() as f32 / factor).round() as u32).max(1);
    let h = ((img.height() as f32 / factor).round() as u32).max(1);
    let fx = img.width() as f32 / w as f32;
    (std::borrow::Cow::Owned(resize_area(img, w, h)), fx)
}

/// How samples outside the image are filled.
#[derive(Clone, Copy, Debug)]
pub enum Border {
    /// Repeat the nearest edge pixel.
    Replicate,
    /// Fill with a constant value.
    Constant(u8),
}

/// Bilinear sample at continuous pixel coordinates (pixel centres at integers).
#[inline]
pub fn sample_bilinear(img: &RgbImage, x: f32, y: f32, border: Border) -> [f32; 3] {
    let w = img.width() as i64;
    let h = img.height() as i64;
    if w == 0 || h == 0 || !x.is_finite() || !y.is_finite() {
        return [0.0; 3];
    }
    let x0f = x.floor();
    let y0f = y.floor();
    let fx = x - x0f;
    let fy = y - y0f;
    let x0 = (x0f as i64).clamp(-2, w + 1);
    let y0 = (y0f as i64).clamp(-2, h + 1);
    let fetch = |xi: i64, yi: i64| -> [f32; 3] {
        let inside = xi >= 0 && yi >= 0 && xi < w && yi < h;
        let (xs, ys) = match border {
            Border::Replicate => (xi.clamp(0, w - 1), yi.clamp(0, h - 1)),
            Border::Constant(v) => {
                if !inside {
                    let v = f32::from(v);
                    return [v, v, v];
                }
                (xi, yi)
            }
        };
        match img.get_pixel_checked(xs as u32, ys as u32) {
            Some(p) => [f32::from(p.0[0]), f32::from(p.0[1]), f32::from(p.0[2])],
            None => [0.0; 3],
        }
    };
    let p00 = fetch(x0, y0);
    let p10 = fetch(x0 + 1, y0);
    let p01 = fetch(x0, y0 + 1);
    let p11 = fetch(x0 + 1, y0 + 1);
    std::array::from_fn(|c| {
        let g = |p: &[f32; 3]| p.get(c).copied().unwrap_or(0.0);
        let top = g(&p00) + (g(&p10) - g(&p00)) * fx;
        let bottom = g(&p01) + (g(&p11) - g(&p01)) * fx;
        top + (bottom - top) * fy
    })
}

#[inline]
fn to_u8(v: [f32; 3]) -> Rgb<u8> {
    Rgb([
        v[0].round().clamp(0.0, 255.0) as u8,
        v[1].round().clamp(0.0, 255.0) as u8,
        v[2].round().clamp(0.0, 255.0) as u8,
    ])
}

/// Crops `region` and resizes it to `out_w`x`out_h` (OpenCV-style pixel-centre mapping).
/// Shrinking by more than 2x first area-averages the region so small outputs are not aliased.
pub fn crop_resize(
    img: &RgbImage,
    region: RectPx,
    out_w: u32,
    out_h: u32,
    border: Border,
) -> RgbImage {
    let out_w = out_w.max(1);
    let out_h = out_h.max(1);
    let sx = region.width_px / out_w as f32;
    let sy = region.height_px / out_h as f32;
    if sx > 2.0 && sy > 2.0 {
        // Pre-shrink the whole covered area by an integer factor, then sample bilinearly.
        let k = sx.min(sy).floor().max(1.0);
        let x0 = region.x_px.floor().max(0.0) as u32;
        let y0 = region.y_px.floor().max(0.0) as u32;
        let x1 = ((region.x_px + region.width_px).ceil().max(0.0) as u32).min(img.width());
        let y1 = ((region.y_px + region.height_px).ceil().max(0.0) as u32).min(img.height());
        if x1 > x0 + 1 && y1 > y0 + 1 {
            let sub = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
            let sw = ((sub.width() as f32 / k).round() as u32).max(1);
            let sh = ((sub.height() as f32 / k).round() as u32).max(1);
            let small = resize_area(&sub, sw, sh);
            let kx = sub.width() as f32 / sw as f32;
            let ky = sub.height() as f32 / sh as f32;
            let local = RectPx {
                x_px: (region.x_px - x0 as f32) / kx,
                y_px: (region.y_px - y0 as f32) / ky,
                width_px: region.width_px / kx,
                height_px: region.height_px / ky,
            };
            return crop_resize(&small, local, out_w, out_h, border);
        }
    }
    let mut out = RgbImage::new(out_w, out_h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let src_x = region.x_px + (x as f32 + 0.5) * sx - 0.5;
        let src_y = region.y_px + (y as f32 + 0.5) * sy - 0.5;
        *p = to_u8(sample_bilinear(img, src_x, src_y, border));
    }
    out
}

/// A 2x3 affine map `[a, b, tx; c, d, ty]` taking output pixel coordinates to source coordinates.
pub type AffineMap = [f32; 6];

/// Warps `img` into an `out_w`x`out_h` image: output pixel (x, y) reads source point
/// `inverse_map * (x, y, 1)` bilinearly; outside the source the `border` applies.
pub fn warp_affine(
    img: &RgbImage,
    inverse_map: &AffineMap,
    out_w: u32,
    out_h: u32,
    border: Border,
) -> RgbImage {
    let [a, b, tx, c, d, ty] = *inverse_map;
    let mut out = RgbImage::new(out_w.max(1), out_h.max(1));
    for (x, y, p) in out.enumerate_pixels_mut() {
        let xf = x as f32;
        let yf = y as f32;
        let sx = a * xf + b * yf + tx;
        let sy = c * xf + d * yf + ty;
        *p = to_u8(sample_bilinear(img, sx, sy, border));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resize_of_uniform_image_is_uniform() {
        let img = RgbImage::from_pixel(170, 210, Rgb([10, 100, 200]));
        let out = resize_area(&img, 102, 126);
        assert!(out.pixels().all(|p| p.0 == [10, 100, 200]));
    }

    #[test]
    fn area_resize_halves_average_pairs() {
        let mut img = RgbImage::new(4, 1);
        for (i, v) in [0u8, 100, 200, 50].iter().enumerate() {
            img.put_pixel(i as u32, 0, Rgb([*v, *v, *v]));
        }
        let out = resize_area(&img, 2, 1);
        assert_eq!(out.get_pixel(0, 0).0[0], 50);
        assert_eq!(out.get_pixel(1, 0).0[0], 125);
    }

    #[test]
    fn sampling_far_outside_does_not_panic() {
        let img = RgbImage::new(3, 3);
        let v = sample_bilinear(&img, 1e30, -1e30, Border::Replicate);
        assert_eq!(v, [0.0; 3]);
        let v = sample_bilinear(&img, f32::NAN, 0.0, Border::Constant(7));
        assert_eq!(v, [0.0; 3]);
    }
}
