//! What a 1280×720 webcam sees of a phone's QR code: the code drawn, then turned, put in
//! perspective, blurred or lit by a lamp's reflection. For the screen tests and the verifier
//! benchmark.

use enroll_credential::qr;

/// The webcam's frame size.
pub const FRAME: (u32, u32) = (1280, 720);

/// Solves the 8x8 system of a homography taking `from[i]` to `to[i]`.
pub fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 9] {
    let mut rows = [[0f64; 9]; 8];
    for i in 0..4 {
        let ((x, y), (u, v)) = (from[i], to[i]);
        rows[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        rows[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for column in 0..8 {
        let pivot = (column..8)
            .max_by(|&a, &b| rows[a][column].abs().total_cmp(&rows[b][column].abs()))
            .unwrap();
        rows.swap(column, pivot);
        let pivot_row = rows[column];
        for (row, values) in rows.iter_mut().enumerate() {
            if row != column {
                let factor = values[column] / pivot_row[column];
                for (value, pivot_value) in values.iter_mut().zip(pivot_row).skip(column) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let mut h = [1.0; 9];
    for i in 0..8 {
        h[i] = rows[i][8] / rows[i][i];
    }
    h
}

/// The code's picture mapped onto a desk-grey frame with its corners at `quad` (top left, top
/// right, bottom right, bottom left): turned and in perspective, sampled bilinearly.
pub fn place(code: &qr::GreyImage, quad: [(f64, f64); 4]) -> image::RgbImage {
    let (w, h) = (code.width as f64, code.height as f64);
    let to_code = homography(quad, [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]);
    image::RgbImage::from_fn(FRAME.0, FRAME.1, |x, y| {
        let (x, y) = (f64::from(x), f64::from(y));
        let d = to_code[6] * x + to_code[7] * y + to_code[8];
        let u = (to_code[0] * x + to_code[1] * y + to_code[2]) / d;
        let v = (to_code[3] * x + to_code[4] * y + to_code[5]) / d;
        if u < 0.0 || v < 0.0 || u >= w - 1.0 || v >= h - 1.0 {
            return image::Rgb([88, 92, 96]);
        }
        let (u0, v0) = (u.floor() as usize, v.floor() as usize);
        let (fu, fv) = (u - u0 as f64, v - v0 as f64);
        let at = |uu: usize, vv: usize| f64::from(code.pixels[vv * code.width + uu]);
        let value = at(u0, v0) * (1.0 - fu) * (1.0 - fv)
            + at(u0 + 1, v0) * fu * (1.0 - fv)
            + at(u0, v0 + 1) * (1.0 - fu) * fv
            + at(u0 + 1, v0 + 1) * fu * fv;
        let grey = value as u8;
        image::Rgb([grey, grey, grey.saturating_add(6)])
    })
}

pub fn code_of(text: &str) -> qr::GreyImage {
    qr::render(text, qr::Medium::Screen, 4).unwrap()
}

/// Turned by `degrees` about the frame's centre, `side` pixels wide, the far edge `narrow` times
/// shorter (perspective).
pub fn turned(text: &str, degrees: f64, side: f64, narrow: f64) -> image::RgbImage {
    let (cx, cy) = (f64::from(FRAME.0) / 2.0, f64::from(FRAME.1) / 2.0);
    let half = side / 2.0;
    let far = half * narrow;
    let corners = [(-far, -half), (far, -half), (half, half), (-half, half)];
    let (sin, cos) = degrees.to_radians().sin_cos();
    let quad = corners.map(|(x, y)| (cx + x * cos - y * sin, cy + x * sin + y * cos));
    place(&code_of(text), quad)
}

/// Under a lamp's reflection: a bright spot over part of the code.
pub fn with_glare(mut frame: image::RgbImage, at: (f64, f64), radius: f64) -> image::RgbImage {
    for (x, y, pixel) in frame.enumerate_pixels_mut() {
        let d2 = (f64::from(x) - at.0).powi(2) + (f64::from(y) - at.1).powi(2);
        let boost = 150.0 * (-d2 / (2.0 * radius * radius)).exp();
        for channel in pixel.0.iter_mut() {
            *channel = (f64::from(*channel) + boost).min(255.0) as u8;
        }
    }
    frame
}
