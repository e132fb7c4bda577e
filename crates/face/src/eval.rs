//! Owns verification evaluation on LFW-style pair lists: parsing `pairs.txt`, the card-photo
//! degradation, and the metrics (k-fold accuracy, TAR at fixed FAR, EER, calibration
//! threshold). It does not run models; `kiosk face eval` and `kiosk face calibrate` feed it scores.

use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};

use super::error::FaceError;
use super::imaging::{decode_image, resize_area};
use super::portrait::encode_jpeg;

/// One image of a pair: LFW name and 1-based index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    pub name: String,
    pub index: u32,
}

impl ImageRef {
    /// `root/NAME/NAME_000i.jpg` (the LFW layout; `root` is e.g. `data/faces/lfw`)
    pub fn path(&self, root: &Path) -> PathBuf {
        root.join(&self.name)
            .join(format!("{}_{:04}.jpg", self.name, self.index))
    }
}

/// One verification pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub fold: usize,
    pub genuine: bool,
    pub first: ImageRef,
    pub second: ImageRef,
}

fn parse_index(s: &str, line_no: usize) -> Result<u32, FaceError> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            FaceError::EvalInput(format!(
                "line {line_no}: '{s}' is not a positive image index"
            ))
        })
}

/// Parses the LFW `pairs.txt` format: a header `folds per_kind`, then per fold `per_kind`
/// genuine lines `name i j` and `per_kind` impostor lines `name1 i name2 j`.
pub fn parse_pairs(text: &str) -> Result<Vec<Pair>, FaceError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| FaceError::EvalInput("the file is empty".into()))?;
    let head: Vec<&str> = header.split_whitespace().collect();
    let (folds, per_kind) = match head.as_slice() {
        [f, p] => (
            f.parse::<usize>().ok().filter(|v| *v > 0),
            p.parse::<usize>().ok().filter(|v| *v > 0),
        ),
        _ => (None, None),
    };
    let (Some(folds), Some(per_kind)) = (folds, per_kind) else {
        return Err(FaceError::EvalInput(format!(
            "line 1: expected 'folds pairs_per_kind', got '{}'",
            header.trim()
        )));
    };
    let expected = folds
        .checked_mul(per_kind)
        .and_then(|v| v.checked_mul(2))
        .ok_or_else(|| FaceError::EvalInput("line 1: counts are too large".into()))?;
    let mut pairs = Vec::with_capacity(expected.min(1 << 20));
    for (k, (idx, line)) in lines.enumerate() {
        let line_no = idx + 1;
        if k >= expected {
            return Err(FaceError::EvalInput(format!(
                "line {line_no}: more pairs than the header's {expected}"
            )));
        }
        let fold = k / (2 * per_kind);
        let genuine = (k % (2 * per_kind)) < per_kind;
        let f: Vec<&str> = line.split('\t').map(str::trim).collect();
        let pair = match (genuine, f.as_slice()) {
            (true, [name, i, j]) => Pair {
                fold,
                genuine,
                first: ImageRef {
                    name: name.to_string(),
                    index: parse_index(i, line_no)?,
                },
                second: ImageRef {
                    name: name.to_string(),
                    index: parse_index(j, line_no)?,
                },
            },
            (false, [n1, i, n2, j]) => Pair {
                fold,
                genuine,
                first: ImageRef {
                    name: n1.to_string(),
                    index: parse_index(i, line_no)?,
                },
                second: ImageRef {
                    name: n2.to_string(),
                    index: parse_index(j, line_no)?,
                },
            },
            _ => {
                return Err(FaceError::EvalInput(format!(
                    "line {line_no}: expected {} tab-separated fields for a {} pair, got {}",
                    if genuine { 3 } else { 4 },
                    if genuine { "genuine" } else { "impostor" },
                    f.len()
                )));
            }
        };
        if pair.first.name.is_empty()
            || pair.second.name.is_empty()
            || pair.first.name.contains(['/', '\\', '.'])
            || pair.second.name.contains(['/', '\\', '.'])
        {
            return Err(FaceError::EvalInput(format!(
                "line {line_no}: invalid person name"
            )));
        }
        pairs.push(pair);
    }
    if pairs.len() != expected {
        return Err(FaceError::EvalInput(format!(
            "the header promises {expected} pairs but the file has {}",
            pairs.len()
        )));
    }
    Ok(pairs)
}

/// A scored pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub fold: usize,
    pub genuine: bool,
    /// Cosine score; -1 when either image had no usable face.
    pub score: f32,
}

/// The evaluation summary (JSON keys as in the project brief).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub pairs: usize,
    pub failures: usize,
    pub accuracy_kfold: f64,
    #[serde(rename = "tar_at_far_1e-2")]
    pub tar_at_far_1e_2: f64,
    #[serde(rename = "tar_at_far_1e-3")]
    pub tar_at_far_1e_3: f64,
    pub eer: f64,
    #[serde(rename = "threshold_at_far_1e-3")]
    pub threshold_at_far_1e_3: f64,
    #[serde(rename = "threshold_at_far_1e-2")]
    pub threshold_at_far_1e_2: f64,
}

fn accuracy_at(scores: &[&Scored], t: f32) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let ok = scores.iter().filter(|s| (s.score > t) == s.genuine).count();
    ok as f64 / scores.len() as f64
}

/// Threshold maximising accuracy (midpoints between sorted scores).
fn best_threshold(scores: &[&Scored]) -> f32 {
    let mut v: Vec<f32> = scores.iter().map(|s| s.score).collect();
    v.sort_by(f32::total_cmp);
    v.dedup();
    let mut best = (f64::MIN, 0.0f32);
    let mut candidates: Vec<f32> = v
        .windows(2)
        .filter_map(|w| Some((w.first()? + w.get(1)?) / 2.0))
        .collect();
    if let Some(first) = v.first() {
        candidates.push(first - 1e-3);
    }
    for t in candidates {
        let a = accuracy_at(scores, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// TAR at a FAR over all pairs, and the threshold (accept when `score > threshold`).
pub fn tar_at_far(scored: &[Scored], far: f64) -> (f64, f64) {
    let mut imp: Vec<f32> = scored
        .iter()
        .filter(|s| !s.genuine)
        .map(|s| s.score)
        .collect();
    imp.sort_by(|a, b| b.total_cmp(a));
    let genuine_scores: Vec<f32> = scored
        .iter()
        .filter(|s| s.genuine)
        .map(|s| s.score)
        .collect();
    if imp.is_empty() || genuine_scores.is_empty() {
        return (0.0, 0.0);
    }
    let allowed = (far * imp.len() as f64).floor() as usize;
    let t = imp.get(allowed).copied().unwrap_or(-1.0);
    let tar =
        genuine_scores.iter().filter(|s| **s > t).count() as f64 / genuine_scores.len() as f64;
    (tar, f64::from(t))
}

/// Equal error rate (mean of FAR and FRR where they are closest).
pub fn eer(scored: &[Scored]) -> f64 {
    let n_gen = scored.iter().filter(|s| s.genuine).count().max(1) as f64;
    let n_imp = scored.iter().filter(|s| !s.genuine).count().max(1) as f64;
    let mut ts: Vec<f32> = scored.iter().map(|s| s.score).collect();
    ts.sort_by(f32::total_cmp);
    ts.dedup();
    let mut best = (f64::MAX, 1.0);
    for t in ts {
        let far = scored.iter().filter(|s| !s.genuine && s.score >= t).count() as f64 / n_imp;
        let frr = scored.iter().filter(|s| s.genuine && s.score < t).count() as f64 / n_gen;
        let gap = (far - frr).abs();
        if gap < best.0 {
            best = (gap, (far + frr) / 2.0);
        }
    }
    best.1
}

/// All metrics; `failures` counts pairs scored -1.
pub fn metrics(scored: &[Scored], failures: usize) -> Metrics {
    let folds = scored
        .iter()
        .map(|s| s.fold)
        .max()
        .map(|m| m + 1)
        .unwrap_or(0);
    let mut accs = Vec::new();
    for k in 0..folds {
        let train: Vec<&Scored> = scored.iter().filter(|s| s.fold != k).collect();
        let test: Vec<&Scored> = scored.iter().filter(|s| s.fold == k).collect();
        if test.is_empty() {
            continue;
        }
        let t = if train.is_empty() {
            best_threshold(&test)
        } else {
            best_threshold(&train)
        };
        accs.push(accuracy_at(&test, t));
    }
    let accuracy_kfold = if accs.is_empty() {
        0.0
    } else {
        accs.iter().sum::<f64>() / accs.len() as f64
    };
    let (tar2, t2) = tar_at_far(scored, 1e-2);
    let (tar3, t3) = tar_at_far(scored, 1e-3);
    Metrics {
        pairs: scored.len(),
        failures,
        accuracy_kfold,
        tar_at_far_1e_2: tar2,
        tar_at_far_1e_3: tar3,
        eer: eer(scored),
        threshold_at_far_1e_3: t3,
        threshold_at_far_1e_2: t2,
    }
}

/// Turns a 250x250 LFW image into a chip-card-like photo: crop x 40..210, y 20..230 (scaled
/// for other sizes), area-resize to 102x126, JPEG quality 50, decode again.
pub fn card_resolution(img: &RgbImage) -> Result<RgbImage, FaceError> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = (40.0 / 250.0 * w).round() as u32;
    let x1 = (210.0 / 250.0 * w).round() as u32;
    let y0 = (20.0 / 250.0 * h).round() as u32;
    let y1 = (230.0 / 250.0 * h).round() as u32;
    if x1 <= x0 || y1 <= y0 || x1 > img.width() || y1 > img.height() {
        return Err(FaceError::ImageTooSmall {
            width_px: img.width(),
            height_px: img.height(),
            min_side_px: 8,
        });
    }
    let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let small = resize_area(&crop, 102, 126);
    let jpeg = encode_jpeg(&small, 50)?;
    decode_image(&jpeg, 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t4\nE\t1\tF\t1\n".to_string()
    }

    #[test]
    fn parses_folds_and_kinds() -> Result<(), FaceError> {
        let p = parse_pairs(&sample())?;
        assert_eq!(p.len(), 4);
        assert!(p[0].genuine && !p[1].genuine && p[2].genuine && p[2].fold == 1);
        assert_eq!(p[1].second.name, "C");
        assert_eq!(
            p[0].second.path(Path::new("/x")),
            PathBuf::from("/x/A/A_0002.jpg")
        );
        Ok(())
    }

    #[test]
    fn malformed_pairs_are_clear_errors() {
        for bad in [
            "",
            "x y\n",
            "1\t1\nA\t1\n B\t1\tC\t2\n",
            "1\t1\nA\t1\t0\nB\t1\tC\t2\n",
            "1\t1\nA\t1\t2\n",
            "1\t1\nA\t1\t2\nB\t1\tC\t2\nD\t1\t2\n",
            "1\t1\n../A\t1\t2\nB\t1\tC\t2\n",
        ] {
            let r = parse_pairs(bad);
            assert!(
                matches!(r, Err(FaceError::EvalInput(_))),
                "{bad:?} gave {r:?}"
            );
        }
    }

    #[test]
    fn perfect_separation_scores_perfectly() {
        let mut s = Vec::new();
        for fold in 0..3 {
            for i in 0..100 {
                s.push(Scored {
                    fold,
                    genuine: true,
                    score: 0.5 + i as f32 * 0.001,
                });
                s.push(Scored {
                    fold,
                    genuine: false,
                    score: 0.1 - i as f32 * 0.001,
                });
            }
        }
        let m = metrics(&s, 0);
        assert!((m.accuracy_kfold - 1.0).abs() < 1e-9);
        assert!((m.tar_at_far_1e_3 - 1.0).abs() < 1e-9);
        assert!(m.eer < 1e-9);
    }
}
