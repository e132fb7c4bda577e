//! Owns face alignment: the least-squares 5-point similarity transform (Umeyama, no reflection)
//! and the bilinear warp onto the embedding model's reference points. It does not find
//! landmarks. (The vendor's 3-point affine warp shears faces and is deliberately not used.)

use image::RgbImage;

use super::error::FaceError;
use super::imaging::{AffineMap, Border, warp_affine};
use super::landmarks::PointPx;

/// `dst = scale * R(angle) * src + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    /// `scale * cos(angle)`
    pub a: f32,
    /// `scale * sin(angle)`
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    pub fn angle_deg(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }

    pub fn apply(&self, p: PointPx) -> PointPx {
        PointPx::new(
            self.a * p.x_px - self.b * p.y_px + self.tx,
            self.b * p.x_px + self.a * p.y_px + self.ty,
        )
    }

    /// The inverse transform, or `None` when degenerate.
    pub fn inverse(&self) -> Option<Similarity> {
        let s2 = self.a * self.a + self.b * self.b;
        if !(s2.is_finite() && s2 > f32::EPSILON) {
            return None;
        }
        let ia = self.a / s2;
        let ib = -self.b / s2;
        Some(Similarity {
            a: ia,
            b: ib,
            tx: -(ia * self.tx - ib * self.ty),
            ty: -(ib * self.tx + ia * self.ty),
        })
    }

    /// As a 2x3 affine map `[a, -b, tx; b, a, ty]`.
    pub fn to_affine(&self) -> AffineMap {
        [self.a, -self.b, self.tx, self.b, self.a, self.ty]
    }
}

/// Least-squares similarity taking `src[i]` onto `dst[i]` (Umeyama 1991, 2-D closed form,
/// rotation only, no reflection). Returns `None` for fewer than two points, mismatched lengths
/// or coincident source points.
pub fn umeyama(src: &[PointPx], dst: &[PointPx]) -> Option<Similarity> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    let n = src.len() as f64;
    let (mut msx, mut msy, mut mdx, mut mdy) = (0f64, 0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        msx += f64::from(s.x_px);
        msy += f64::from(s.y_px);
        mdx += f64::from(d.x_px);
        mdy += f64::from(d.y_px);
    }
    msx /= n;
    msy /= n;
    mdx /= n;
    mdy /= n;
    let (mut dot, mut cross, mut var) = (0f64, 0f64, 0f64);
    for (s, d) in src.iter().zip(dst) {
        let sx = f64::from(s.x_px) - msx;
        let sy = f64::from(s.y_px) - msy;
        let dx = f64::from(d.x_px) - mdx;
        let dy = f64::from(d.y_px) - mdy;
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    if !(var.is_finite() && var > 1e-9) {
        return None;
    }
    let a = dot / var;
    let b = cross / var;
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    let sim = Similarity {
        a: a as f32,
        b: b as f32,
        tx: tx as f32,
        ty: ty as f32,
    };
    if [sim.a, sim.b, sim.tx, sim.ty].iter().all(|v| v.is_finite()) {
        Some(sim)
    } else {
        None
    }
}

/// Root-mean-square distance between `t(src)` and `dst`, in destination pixels.
pub fn residual_rms_px(t: &Similarity, src: &[PointPx], dst: &[PointPx]) -> f32 {
    let n = src.len().min(dst.len()).max(1) as f32;
    let sum: f32 = src
        .iter()
        .zip(dst)
        .map(|(s, d)| {
            let p = t.apply(*s);
            (p.x_px - d.x_px).powi(2) + (p.y_px - d.y_px).powi(2)
        })
        .sum();
    (sum / n).sqrt()
}

/// Warps the face so its five points land on `reference_px`; output is `out_w`x`out_h`.
pub fn align_face(
    img: &RgbImage,
    points: &[PointPx; 5],
    reference_px: &[[f32; 2]; 5],
    out_w: u32,
    out_h: u32,
) -> Result<RgbImage, FaceError> {
    let dst: Vec<PointPx> = reference_px
        .iter()
        .map(|p| PointPx::new(p[0], p[1]))
        .collect();
    let forward = umeyama(points, &dst)
        .ok_or_else(|| FaceError::AlignmentFailed("landmarks are degenerate".into()))?;
    let inverse = forward
        .inverse()
        .ok_or_else(|| FaceError::AlignmentFailed("alignment transform is degenerate".into()))?;
    Ok(warp_affine(
        img,
        &inverse.to_affine(),
        out_w,
        out_h,
        Border::Constant(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<PointPx> {
        vec![
            PointPx::new(38.3, 51.7),
            PointPx::new(73.5, 51.5),
            PointPx::new(56.0, 71.7),
            PointPx::new(41.5, 92.4),
            PointPx::new(70.7, 92.2),
        ]
    }

    #[test]
    fn umeyama_recovers_known_similarity() {
        let angle = 23.0f32.to_radians();
        let scale = 2.7f32;
        let truth = Similarity {
            a: scale * angle.cos(),
            b: scale * angle.sin(),
            tx: -14.0,
            ty: 31.5,
        };
        let src = pts();
        let dst: Vec<PointPx> = src.iter().map(|p| truth.apply(*p)).collect();
        let est = umeyama(&src, &dst).unwrap_or(Similarity {
            a: 0.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        });
        assert!((est.scale() - scale).abs() < 1e-4, "scale {}", est.scale());
        assert!(
            (est.angle_deg() - 23.0).abs() < 1e-3,
            "angle {}",
            est.angle_deg()
        );
        assert!((est.tx - truth.tx).abs() < 1e-3 && (est.ty - truth.ty).abs() < 1e-3);
        assert!(residual_rms_px(&est, &src, &dst) < 1e-3);
    }

    #[test]
    fn umeyama_never_reflects() {
        // Mirror image of the points: best *similarity* cannot reproduce it exactly.
        let src = pts();
        let dst: Vec<PointPx> = src.iter().map(|p| PointPx::new(-p.x_px, p.y_px)).collect();
        let est = umeyama(&src, &dst);
        assert!(est.is_some_and(|t| residual_rms_px(&t, &src, &dst) > 1.0));
    }

    #[test]
    fn umeyama_is_least_squares_under_noise() {
        let src = pts();
        let noisy: Vec<PointPx> = src
            .iter()
            .enumerate()
            .map(|(i, p)| {
                PointPx::new(
                    p.x_px * 1.5 + 3.0 + (i as f32 - 2.0) * 0.3,
                    p.y_px * 1.5 - 2.0,
                )
            })
            .collect();
        let est = umeyama(&src, &noisy);
        assert!(est.is_some_and(|t| (t.scale() - 1.5).abs() < 0.02 && t.angle_deg().abs() < 1.0));
    }

    #[test]
    fn inverse_round_trips() {
        let t = Similarity {
            a: 0.8,
            b: -0.3,
            tx: 5.0,
            ty: -7.0,
        };
        let inv = t.inverse();
        let p = PointPx::new(12.0, -3.0);
        let back = inv.map(|i| i.apply(t.apply(p)));
        assert!(
            back.is_some_and(|q| (q.x_px - p.x_px).abs() < 1e-4 && (q.y_px - p.y_px).abs() < 1e-4)
        );
    }

    #[test]
    fn degenerate_points_are_refused() {
        let same = vec![PointPx::new(1.0, 1.0); 5];
        assert!(umeyama(&same, &pts()).is_none());
        assert!(umeyama(&pts()[..1], &pts()[..1]).is_none());
        assert!(umeyama(&pts(), &pts()[..4]).is_none());
    }
}
