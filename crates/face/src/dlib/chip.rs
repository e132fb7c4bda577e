//! dlib's aligned face chip (`get_face_chip_details(shape, 150, 0.25)` and
//! `extract_image_chip`): the similarity transform that puts the 5 predicted points on dlib's
//! template, the rotated square it cuts, the image pyramid it samples from when that square is
//! large, and its bilinear sampling (truncating, black outside the image), reproduced exactly so
//! the recogniser sees the pixels dlib would give it. Pure.

use image::{Rgb, RgbImage};

use super::shape::{PARTS, similarity_2x2};

/// dlib's 5-point template (`interpolation.h`), in the order of the shape predictor's parts.
const TEMPLATE: [[f64; 2]; PARTS] = [
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
];

/// Chips whose pyramid-level rectangle is above this area are sampled from a smaller level.
const MAX_LEVEL_AREA: f64 = 22_500.0;

/// dlib's `drectangle`: right and bottom inclusive, width `r − l + 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct DRect {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
}

impl DRect {
    fn area(self) -> f64 {
        if self.l > self.r || self.t > self.b {
            0.0
        } else {
            (self.r - self.l + 1.0) * (self.b - self.t + 1.0)
        }
    }

    fn center(self) -> (f64, f64) {
        ((self.l + self.r) / 2.0, (self.t + self.b) / 2.0)
    }

    /// The rectangle one pyramid level down (`pyramid_down<2>::rect_down`).
    fn down(self) -> DRect {
        DRect {
            l: self.l / 2.0 - 1.25,
            t: self.t / 2.0 - 0.75,
            r: self.r / 2.0 - 1.25,
            b: self.b / 2.0 - 0.75,
        }
    }
}

/// Where the chip comes from: a rotated square of the image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChipDetails {
    rect: DRect,
    angle: f64,
    side: u32,
}

/// `get_face_chip_details(parts, side, padding)`.
pub fn chip_details(parts: &[[i64; 2]; PARTS], side: u32, padding: f64) -> ChipDetails {
    let size = f64::from(side);
    let from: Vec<[f64; 2]> = TEMPLATE
        .iter()
        .map(|p| {
            [
                size * (padding + p[0]) / (2.0 * padding + 1.0),
                size * (padding + p[1]) / (2.0 * padding + 1.0),
            ]
        })
        .collect();
    let to: Vec<[f64; 2]> = parts.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    let m = similarity_2x2(&from, &to);
    // The translation Umeyama pairs with the 2 × 2 part: means matched.
    let n = PARTS as f64;
    let mean = |points: &[[f64; 2]]| {
        let (x, y) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
        [x / n, y / n]
    };
    let (mu, md) = (mean(&from), mean(&to));
    let tx = md[0] - (m[0][0] * mu[0] + m[0][1] * mu[1]);
    let ty = md[1] - (m[1][0] * mu[0] + m[1][1] * mu[1]);
    let (vx, vy) = (m[0][0], m[1][0]);
    let angle = vy.atan2(vx);
    let scale = (vx * vx + vy * vy).sqrt();
    let (cx0, cy0) = (size / 2.0, size / 2.0);
    let cx = m[0][0] * cx0 + m[0][1] * cy0 + tx;
    let cy = m[1][0] * cx0 + m[1][1] * cy0 + ty;
    let half = (size * scale - 1.0) / 2.0;
    ChipDetails {
        rect: DRect {
            l: cx - half,
            t: cy - half,
            r: cx + half,
            b: cy + half,
        },
        angle,
        side,
    }
}

/// `pyramid_down<2>` on an RGB image: a [1 4 6 4 1] filter each way, every second pixel.
fn pyramid_down(image: &RgbImage) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w <= 8 || h <= 8 {
        return RgbImage::new(0, 0);
    }
    let (ow, oh) = ((w - 3) / 2, (h - 3) / 2);
    let px = |x: usize, y: usize, c: usize| -> u32 {
        u32::from(
            image
                .get_pixel(x as u32, y as u32)
                .0
                .get(c)
                .copied()
                .unwrap_or(0),
        )
    };
    // Row pass, every source row.
    let mut rows = vec![[0u32; 3]; h * ow];
    for y in 0..h {
        for x in 0..ow {
            if let Some(slot) = rows.get_mut(y * ow + x) {
                for (c, v) in slot.iter_mut().enumerate() {
                    *v = px(2 * x, y, c)
                        + 4 * px(2 * x + 1, y, c)
                        + 6 * px(2 * x + 2, y, c)
                        + 4 * px(2 * x + 3, y, c)
                        + px(2 * x + 4, y, c);
                }
            }
        }
    }
    let row = |x: usize, y: usize| rows.get(y * ow + x).copied().unwrap_or([0; 3]);
    let mut out = RgbImage::new(ow as u32, oh as u32);
    for y in 0..oh {
        for x in 0..ow {
            let taps = [
                (row(x, 2 * y), 1),
                (row(x, 2 * y + 1), 4),
                (row(x, 2 * y + 2), 6),
                (row(x, 2 * y + 3), 4),
                (row(x, 2 * y + 4), 1),
            ];
            let mut pixel = [0u8; 3];
            for (c, v) in pixel.iter_mut().enumerate() {
                let sum: u32 = taps
                    .iter()
                    .map(|(t, k)| t.get(c).copied().unwrap_or(0) * k)
                    .sum();
                *v = (sum / 256).min(255) as u8;
            }
            out.put_pixel(x as u32, y as u32, Rgb(pixel));
        }
    }
    out
}

/// dlib's `lround` (half away from zero).
fn lround(v: f64) -> i64 {
    v.round() as i64
}

fn rotate(center: (f64, f64), p: (f64, f64), angle: f64) -> (f64, f64) {
    let (s, c) = angle.sin_cos();
    let (x, y) = (p.0 - center.0, p.1 - center.1);
    (c * x - s * y + center.0, s * x + c * y + center.1)
}

/// Bilinear sample at `p`, truncated to bytes; black when the 2 × 2 neighbourhood leaves the
/// image.
fn sample(image: &RgbImage, p: (f64, f64)) -> Rgb<u8> {
    let (x0, y0) = (p.0.floor(), p.1.floor());
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    if x0 < 0.0 || y0 < 0.0 || x0 + 1.0 >= w || y0 + 1.0 >= h {
        return Rgb([0, 0, 0]);
    }
    let (fx, fy) = (p.0 - x0, p.1 - y0);
    let (x, y) = (x0 as u32, y0 as u32);
    let [tl, tr, bl, br] = [
        image.get_pixel(x, y).0,
        image.get_pixel(x + 1, y).0,
        image.get_pixel(x, y + 1).0,
        image.get_pixel(x + 1, y + 1).0,
    ];
    let mut out = [0u8; 3];
    for (c, v) in out.iter_mut().enumerate() {
        let at = |pixel: [u8; 3]| f64::from(pixel.get(c).copied().unwrap_or(0));
        let value = (1.0 - fy) * ((1.0 - fx) * at(tl) + fx * at(tr))
            + fy * ((1.0 - fx) * at(bl) + fx * at(br));
        *v = value.clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// `extract_image_chip(image, details)`: the `side × side` chip.
pub fn extract_chip(image: &RgbImage, details: &ChipDetails) -> RgbImage {
    let side = details.side.max(2);
    let rect = details.rect;
    // How deep a pyramid the chip needs, and how far to grow the crop.
    let mut down = rect.down();
    let mut depth = 0usize;
    let mut grow = 2.0;
    while down.area() > MAX_LEVEL_AREA {
        down = down.down();
        depth += 1;
        grow = 2.0 * grow + 2.0;
    }
    // The crop: the rotated rectangle's bounding box, grown, inside the image.
    let center = rect.center();
    let corners = [
        (rect.l, rect.t),
        (rect.r, rect.t),
        (rect.l, rect.b),
        (rect.r, rect.b),
    ]
    .map(|p| rotate(center, p, details.angle));
    let (mut l, mut t, mut r, mut b) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in corners {
        (l, t, r, b) = (l.min(x), t.min(y), r.max(x), b.max(y));
    }
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let (l, t) = (lround((l - grow).max(0.0)), lround((t - grow).max(0.0)));
    let (r, b) = (
        lround((r + grow).min(w - 1.0)),
        lround((b + grow).min(h - 1.0)),
    );
    if r < l || b < t {
        return RgbImage::new(side, side);
    }
    let crop = image::imageops::crop_imm(
        image,
        l as u32,
        t as u32,
        (r - l + 1) as u32,
        (b - t + 1) as u32,
    )
    .to_image();
    // The level to sample, and the chip's rectangle in it.
    let mut in_level = DRect {
        l: rect.l - l as f64,
        t: rect.t - t as f64,
        r: rect.r - l as f64,
        b: rect.b - t as f64,
    };
    let mut level = crop;
    let mut levels = 0;
    while in_level.down().area() > MAX_LEVEL_AREA && levels < depth.max(1) * 64 {
        in_level = in_level.down();
        level = pyramid_down(&level);
        levels += 1;
    }
    let (cx, cy) = in_level.center();
    let (rw, rh) = (in_level.r - in_level.l, in_level.b - in_level.t);
    let last = f64::from(side - 1);
    let (s, c) = details.angle.sin_cos();
    let mut chip = RgbImage::new(side, side);
    for row in 0..side {
        for col in 0..side {
            let u = -rw / 2.0 + f64::from(col) * rw / last;
            let v = -rh / 2.0 + f64::from(row) * rh / last;
            let p = (cx + c * u - s * v, cy + s * u + c * v);
            chip.put_pixel(col, row, sample(&level, p));
        }
    }
    chip
}
