//! A synthetic 1280 × 720 "photo of a phone screen showing the QR", shared by the tests and the
//! benchmark: the code at about 480 px, turned 4°, under uneven light with sensor noise, each pixel
//! averaging 3 × 3 points (module edges soft over a pixel). Deterministic (a fixed LCG), no files.

use enroll_credential::qr::{self, GreyImage, Medium};

pub fn photo_of_screen(text: &str) -> GreyImage {
    let code = qr::render(text, Medium::Screen, 1).unwrap();
    let (width, height) = (1280usize, 720usize);
    let side_px = 600.0f64;
    let scale = code.width as f64 / side_px;
    let (sin, cos) = 2.0f64.to_radians().sin_cos();
    let (cx, cy) = (width as f64 * 0.55, height as f64 * 0.5);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            // Each pixel averages 3 x 3 points of the module grid (rotated about the code's
            // centre): module edges blur over about one pixel, as a focused camera sees them.
            let mut value = 0.0;
            for (sx, sy) in (0..9).map(|i| (f64::from(i % 3) / 3.0, f64::from(i / 3) / 3.0)) {
                let (dx, dy) = (x as f64 + sx - cx, y as f64 + sy - cy);
                let u = (cos * dx + sin * dy) * scale + code.width as f64 / 2.0;
                let v = (-sin * dx + cos * dy) * scale + code.height as f64 / 2.0;
                let inside =
                    u >= 0.0 && v >= 0.0 && (u as usize) < code.width && (v as usize) < code.height;
                value += if inside {
                    f64::from(code.pixels[v as usize * code.width + u as usize])
                } else {
                    255.0
                } / 9.0;
            }
            // A screen is not paper: black is dark grey, white is light grey, lit from the left.
            let light = 0.75 + 0.25 * (1.0 - x as f64 / width as f64);
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let noise = ((seed >> 33) % 17) as f64 - 8.0;
            let grey = (40.0 + value / 255.0 * 170.0) * light + noise;
            pixels.push(grey.clamp(0.0, 255.0) as u8);
        }
    }
    GreyImage {
        width,
        height,
        pixels,
    }
}
