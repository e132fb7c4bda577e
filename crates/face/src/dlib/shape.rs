//! dlib's 5-point shape predictor (`shape_predictor_5_face_landmarks.dat`, CC0): an ensemble of
//! regression trees (Kazemi and Sullivan 2014) that places the outer and inner corners of both
//! eyes and the bottom of the nose inside a face box, read from dlib's file and run as dlib's
//! `shape_predictor::operator()` does (same rounding, same pixel intensity), so its points equal
//! dlib's. Pure: the image and the box come in.

use image::RgbImage;

use super::DlibError;
use super::dat::Reader;

/// The parts this predictor places.
pub const PARTS: usize = 5;

/// A face box in dlib's integer convention: right and bottom are inside the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DlibRect {
    pub left: i64,
    pub top: i64,
    pub right: i64,
    pub bottom: i64,
}

impl DlibRect {
    /// The square of side `side_px` centred on `(cx, cy)` (continuous pixel coordinates, a
    /// pixel spanning [x, x + 1)), rounded to dlib's inclusive integer corners.
    pub fn from_centre(cx: f32, cy: f32, side_px: f32) -> DlibRect {
        let (x0, y0) = (cx - side_px / 2.0, cy - side_px / 2.0);
        let round = |v: f32| v.round() as i64;
        DlibRect {
            left: round(x0),
            top: round(y0),
            right: round(x0 + side_px) - 1,
            bottom: round(y0 + side_px) - 1,
        }
    }

    /// Centre and side in continuous pixel coordinates (the inverse of [`DlibRect::from_centre`]).
    pub fn centre_and_side(&self) -> (f32, f32, f32) {
        let w = (self.right - self.left + 1) as f32;
        let h = (self.bottom - self.top + 1) as f32;
        (
            self.left as f32 + w / 2.0,
            self.top as f32 + h / 2.0,
            (w + h) / 2.0,
        )
    }
}

#[derive(Debug)]
struct Split {
    idx1: usize,
    idx2: usize,
    thresh: f32,
}

#[derive(Debug)]
struct Tree {
    splits: Vec<Split>,
    leaves: Vec<Vec<f32>>,
}

/// One cascade level: its trees and the feature pixels they compare.
#[derive(Debug)]
struct Cascade {
    trees: Vec<Tree>,
    anchors: Vec<usize>,
    deltas: Vec<[f32; 2]>,
}

/// The predictor, read from its file.
#[derive(Debug)]
pub struct ShapePredictor {
    initial: Vec<f32>,
    cascades: Vec<Cascade>,
}

fn float_matrix(reader: &mut Reader<'_>) -> Result<Vec<f32>, DlibError> {
    let rows = reader.int()?.unsigned_abs();
    let cols = reader.int()?.unsigned_abs();
    let count = usize::try_from(rows.saturating_mul(cols)).unwrap_or(usize::MAX);
    if count > 4096 {
        return Err(reader.malformed(format!("a {rows} × {cols} matrix")));
    }
    (0..count)
        .map(|_| reader.float().map(|v| v as f32))
        .collect()
}

fn count(reader: &mut Reader<'_>, limit: usize, what: &str) -> Result<usize, DlibError> {
    let n = reader.size()?;
    if n > limit {
        return Err(reader.malformed(format!("{n} {what}")));
    }
    Ok(n)
}

/// `x0, y0, x1, y1, …` as points.
fn points(flat: &[f32]) -> Vec<[f64; 2]> {
    flat.chunks_exact(2)
        .filter_map(|p| <[f32; 2]>::try_from(p).ok())
        .map(|[x, y]| [f64::from(x), f64::from(y)])
        .collect()
}

/// dlib's similarity transform (Umeyama) from `from` to `to`, 2 × 2 part only: `[[a, −b], [b, a]]`.
pub(super) fn similarity_2x2(from: &[[f64; 2]], to: &[[f64; 2]]) -> [[f64; 2]; 2] {
    let n = from.len().max(1) as f64;
    let mean = |points: &[[f64; 2]]| {
        let (x, y) = points
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
        [x / n, y / n]
    };
    let (mu, md) = (mean(from), mean(to));
    let (mut a, mut b, mut norm) = (0.0, 0.0, 0.0);
    for (u, d) in from.iter().zip(to) {
        let (ux, uy) = (u[0] - mu[0], u[1] - mu[1]);
        let (dx, dy) = (d[0] - md[0], d[1] - md[1]);
        a += dx * ux + dy * uy;
        b += dy * ux - dx * uy;
        norm += ux * ux + uy * uy;
    }
    if norm == 0.0 {
        return [[1.0, 0.0], [0.0, 1.0]];
    }
    let (a, b) = (a / norm, b / norm);
    [[a, -b], [b, a]]
}

/// dlib's `dpoint` → `point` conversion: floor(x + 0.5).
fn round(v: f64) -> i64 {
    (v + 0.5).floor() as i64
}

/// The [0, 1]² → box map: (0,0) → top-left, (1,0) → top-right, (1,1) → bottom-right.
fn unnormalize(rect: DlibRect, u: f64, v: f64) -> (f64, f64) {
    (
        rect.left as f64 + u * (rect.right - rect.left) as f64,
        rect.top as f64 + v * (rect.bottom - rect.top) as f64,
    )
}

impl ShapePredictor {
    /// Reads `shape_predictor_5_face_landmarks.dat`.
    pub fn from_dat(bytes: &[u8]) -> Result<ShapePredictor, DlibError> {
        let mut reader = Reader::new(bytes);
        if reader.int()? != 1 {
            return Err(reader.malformed("not a dlib shape predictor (version)"));
        }
        let initial = float_matrix(&mut reader)?;
        if initial.len() != 2 * PARTS {
            return Err(DlibError::Unexpected(format!(
                "a predictor of {} numbers, not {PARTS} points",
                initial.len()
            )));
        }
        let levels = count(&mut reader, 64, "cascades")?;
        let mut forests = Vec::with_capacity(levels);
        for _ in 0..levels {
            let trees = count(&mut reader, 4096, "trees")?;
            let mut forest = Vec::with_capacity(trees);
            for _ in 0..trees {
                let splits = count(&mut reader, 4096, "splits")?;
                let splits = (0..splits)
                    .map(|_| {
                        Ok(Split {
                            idx1: reader.size()?,
                            idx2: reader.size()?,
                            thresh: reader.float()? as f32,
                        })
                    })
                    .collect::<Result<Vec<_>, DlibError>>()?;
                let leaves = count(&mut reader, 8192, "leaves")?;
                let leaves = (0..leaves)
                    .map(|_| float_matrix(&mut reader))
                    .collect::<Result<Vec<_>, DlibError>>()?;
                if leaves.len() != splits.len() + 1
                    || leaves.iter().any(|leaf| leaf.len() != 2 * PARTS)
                {
                    return Err(reader.malformed("a tree whose leaves do not fit its splits"));
                }
                forest.push(Tree { splits, leaves });
            }
            forests.push(forest);
        }
        let anchor_levels = count(&mut reader, 64, "anchor lists")?;
        let mut anchors = Vec::with_capacity(anchor_levels);
        for _ in 0..anchor_levels {
            let n = count(&mut reader, 1 << 16, "anchors")?;
            anchors.push(
                (0..n)
                    .map(|_| reader.size())
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let delta_levels = count(&mut reader, 64, "delta lists")?;
        let mut deltas = Vec::with_capacity(delta_levels);
        for _ in 0..delta_levels {
            let n = count(&mut reader, 1 << 16, "deltas")?;
            deltas.push(
                (0..n)
                    .map(|_| Ok([reader.float()? as f32, reader.float()? as f32]))
                    .collect::<Result<Vec<_>, DlibError>>()?,
            );
        }
        if !reader.at_end() {
            return Err(reader.malformed("bytes after the predictor"));
        }
        if anchors.len() != levels || deltas.len() != levels {
            return Err(DlibError::Unexpected("cascade counts disagree".into()));
        }
        let mut cascades = Vec::with_capacity(levels);
        for ((trees, anchors), deltas) in forests.into_iter().zip(anchors).zip(deltas) {
            let features = deltas.len();
            let bad_split = trees
                .iter()
                .flat_map(|t| &t.splits)
                .any(|s| s.idx1 >= features || s.idx2 >= features);
            if anchors.len() != features || bad_split || anchors.iter().any(|a| *a >= PARTS) {
                return Err(DlibError::Unexpected(
                    "a split or anchor beyond its cascade's feature pixels".into(),
                ));
            }
            cascades.push(Cascade {
                trees,
                anchors,
                deltas,
            });
        }
        Ok(ShapePredictor { initial, cascades })
    }

    /// The 5 parts inside `rect` of `image`, as dlib's integer points: outer and inner corner of
    /// the image-left eye, outer and inner corner of the other, bottom of the nose.
    pub fn predict(&self, image: &RgbImage, rect: DlibRect) -> [[i64; 2]; PARTS] {
        let initial = points(&self.initial);
        let mut shape = self.initial.clone();
        let (width, height) = (i64::from(image.width()), i64::from(image.height()));
        let mut features = Vec::new();
        for cascade in &self.cascades {
            let current = points(&shape);
            let m = similarity_2x2(&initial, &current).map(|row| row.map(|v| v as f32));
            features.clear();
            for (delta, anchor) in cascade.deltas.iter().zip(&cascade.anchors) {
                let ax = shape.get(2 * anchor).copied().unwrap_or(0.0);
                let ay = shape.get(2 * anchor + 1).copied().unwrap_or(0.0);
                let qx = m[0][0] * delta[0] + m[0][1] * delta[1] + ax;
                let qy = m[1][0] * delta[0] + m[1][1] * delta[1] + ay;
                let (px, py) = unnormalize(rect, f64::from(qx), f64::from(qy));
                let (px, py) = (round(px), round(py));
                let value = if (0..width).contains(&px) && (0..height).contains(&py) {
                    let pixel = image.get_pixel(px as u32, py as u32).0;
                    ((u32::from(pixel[0]) + u32::from(pixel[1]) + u32::from(pixel[2])) / 3) as f32
                } else {
                    0.0
                };
                features.push(value);
            }
            for tree in &cascade.trees {
                let mut node = 0;
                while let Some(split) = tree.splits.get(node) {
                    let a = features.get(split.idx1).copied().unwrap_or(0.0);
                    let b = features.get(split.idx2).copied().unwrap_or(0.0);
                    node = if a - b > split.thresh {
                        2 * node + 1
                    } else {
                        2 * node + 2
                    };
                }
                if let Some(leaf) = tree.leaves.get(node - tree.splits.len()) {
                    shape.iter_mut().zip(leaf).for_each(|(s, l)| *s += l);
                }
            }
        }
        let mut parts = [[0i64; 2]; PARTS];
        for (part, p) in parts.iter_mut().zip(points(&shape)) {
            let (x, y) = unnormalize(rect, p[0], p[1]);
            *part = [round(x), round(y)];
        }
        parts
    }
}
