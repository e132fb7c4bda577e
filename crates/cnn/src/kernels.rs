//! The executor's portable kernels (matrix-product tile and its driver, depthwise filter, dense
//! layer, unfolding, element-wise layers) and the tile sizes each instruction set uses. Plain
//! safe Rust written so the compiler vectorises it; it is inlined into the AVX2 and AVX-512
//! builds of the layer loop, which is how it gets their instructions. The x86-64 builds use the
//! explicit kernels of `x86` for the heavy layers.

use super::{Act, ClDepthwise, CnnError, Dense, Gemm, Isa, PoolKind, Shape, Tile, Window};

/// Width of the depthwise and dense accumulators: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

pub(super) const INTERNAL_BOUNDS: CnnError = CnnError::Internal {
    detail: "a kernel read past a buffer",
};

/// The register tile a matrix product with `n` output columns uses on `isa`.
pub(super) fn tile_for(isa: Isa, n: usize) -> Tile {
    match isa {
        Isa::Avx512 if n <= 16 => Tile { mr: 16, cols: 16 },
        Isa::Avx512 if n <= 32 => Tile { mr: 12, cols: 32 },
        Isa::Avx512 => Tile { mr: 6, cols: 64 },
        Isa::Avx2Fma if n <= 8 => Tile { mr: 8, cols: 8 },
        Isa::Avx2Fma | Isa::Portable => Tile { mr: 6, cols: 16 },
    }
}

/// The register tile of a 1×1 convolution on channels-last values with `m` output channels
/// (pixels × channels), or `None` when `isa` has no such kernel or `m` is not a whole number of
/// its vectors.
pub(super) fn cl_tile_for(isa: Isa, m: usize) -> Option<Tile> {
    let (mr, cols) = match isa {
        Isa::Avx512 if m.is_multiple_of(64) => (4, 64),
        Isa::Avx512 if m.is_multiple_of(32) => (8, 32),
        Isa::Avx512 if m.is_multiple_of(16) => (8, 16),
        Isa::Avx2Fma if m.is_multiple_of(16) => (4, 16),
        Isa::Avx2Fma if m.is_multiple_of(8) => (4, 8),
        Isa::Avx512 | Isa::Avx2Fma | Isa::Portable => return None,
    };
    Some(Tile { mr, cols })
}

/// Where a value keeps channel `c`: plane after plane (`Planes(plane size)`), or interleaved,
/// pixel after pixel (`Interleaved(channel count)`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Channels {
    Planes(usize),
    Interleaved(usize),
}

/// `a · b + c`, in one rounding when the build has fused multiply-add.
#[inline(always)]
fn fma<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

#[inline(always)]
pub(super) fn leaky(v: f32, slope: f32) -> f32 {
    v.max(0.0) + slope * v.min(0.0)
}

/// The slope of channel `c`, or `None` when the activation is the identity.
#[inline(always)]
pub(super) fn slope(act: &Act, c: usize) -> Option<f32> {
    match act {
        Act::Identity => None,
        Act::Leaky(slopes) => Some(slopes.get(c).copied().unwrap_or(0.0)),
    }
}

/// One register tile of a matrix product: up to `mr` rows of `out` over `cols` columns.
pub(super) struct TileJob<'a> {
    /// `k × mr` packed weights.
    pub panel: &'a [f32],
    /// The first column of the tile in row 0 of `X`; row `kk` starts `x_stride · kk` later.
    pub x: &'a [f32],
    pub x_stride: usize,
    pub k: usize,
    /// Bias of the tile's valid rows.
    pub bias: &'a [f32],
    /// Activation slopes of the tile's valid rows (`None`: identity).
    pub slopes: Option<&'a [f32]>,
    pub rows: usize,
    pub valid_cols: usize,
}

impl<'a> TileJob<'a> {
    /// The job for panel `p` (of `mr` rows) of `g` over the column block `xs` (stride
    /// `x_stride`). `mr` is passed rather than read from `g.tile` so that a caller with a
    /// constant tile height gives the compiler constant loop bounds (read from `g`, the
    /// portable build ran 2× slower).
    #[inline(always)]
    pub(super) fn for_panel(
        g: &'a Gemm,
        p: usize,
        mr: usize,
        panel: &'a [f32],
        xs: &'a [f32],
        x_stride: usize,
        valid_cols: usize,
    ) -> Result<Self, CnnError> {
        let row0 = p * mr;
        let rows = mr.min(g.m - row0);
        let (bias, slopes) = g.epilogue(row0..row0 + rows)?;
        Ok(TileJob {
            panel,
            x: xs,
            x_stride,
            k: g.k,
            bias,
            slopes,
            rows,
            valid_cols,
        })
    }
}

impl Gemm {
    /// The bias and activation slopes (`None`: identity) of output channels `channels`.
    #[inline(always)]
    pub(super) fn epilogue(
        &self,
        channels: std::ops::Range<usize>,
    ) -> Result<(&[f32], Option<&[f32]>), CnnError> {
        let bias = self.bias.get(channels.clone()).ok_or(INTERNAL_BOUNDS)?;
        let slopes = match &self.act {
            Act::Identity => None,
            Act::Leaky(s) => Some(s.get(channels).ok_or(INTERNAL_BOUNDS)?),
        };
        Ok((bias, slopes))
    }
}

/// Where the columns of one tile come from: straight from `X`, or (for the last, partial
/// column block) from `scratch`, where they were copied and padded with zeros.
#[inline(always)]
pub(super) fn tile_columns<'a>(
    x: &'a [f32],
    n: usize,
    k: usize,
    col0: usize,
    cols: usize,
    scratch: &'a mut Vec<f32>,
) -> Result<(&'a [f32], usize, usize), CnnError> {
    let valid = cols.min(n - col0);
    if valid == cols {
        return Ok((x.get(col0..).ok_or(INTERNAL_BOUNDS)?, n, valid));
    }
    scratch.clear();
    scratch.resize(k * cols, 0.0);
    for (kk, dst) in scratch.chunks_exact_mut(cols).enumerate() {
        let src = x
            .get(kk * n + col0..kk * n + col0 + valid)
            .ok_or(INTERNAL_BOUNDS)?;
        dst.get_mut(..valid)
            .ok_or(INTERNAL_BOUNDS)?
            .copy_from_slice(src);
    }
    Ok((scratch.as_slice(), cols, valid))
}

/// The matrix product of a packed layer with `X` (`k × n`, row-major) into `out` (`m × n`).
#[inline(always)]
pub(super) fn gemm<const FUSED: bool>(
    g: &Gemm,
    x: &[f32],
    n: usize,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) -> Result<(), CnnError> {
    const MR: usize = 6;
    const COLS: usize = 16;
    if g.tile != (Tile { mr: MR, cols: COLS }) {
        return Err(CnnError::Internal {
            detail: "weights packed for another tile",
        });
    }
    let panel_len = g.k * MR;
    for col0 in (0..n).step_by(COLS) {
        let (xs, x_stride, valid_cols) = tile_columns(x, n, g.k, col0, COLS, scratch)?;
        for (p, panel) in g.panels.chunks_exact(panel_len).enumerate() {
            let job = TileJob::for_panel(g, p, MR, panel, xs, x_stride, valid_cols)?;
            let dst = out.get_mut(p * MR * n + col0..).ok_or(INTERNAL_BOUNDS)?;
            tile::<MR, COLS, FUSED>(&job, dst, n)?;
        }
    }
    Ok(())
}

#[inline(always)]
fn tile<const MR: usize, const COLS: usize, const FUSED: bool>(
    job: &TileJob<'_>,
    out: &mut [f32],
    out_stride: usize,
) -> Result<(), CnnError> {
    let mut acc = [[0f32; COLS]; MR];
    for (row, b) in acc.iter_mut().zip(job.bias) {
        *row = [*b; COLS];
    }
    for (w, xrow) in job
        .panel
        .chunks_exact(MR)
        .zip(job.x.chunks(job.x_stride))
        .take(job.k)
    {
        let xs: &[f32; COLS] = xrow
            .get(..COLS)
            .and_then(|s| s.try_into().ok())
            .ok_or(INTERNAL_BOUNDS)?;
        let w: &[f32; MR] = w.try_into().map_err(|_| INTERNAL_BOUNDS)?;
        for (accr, wv) in acc.iter_mut().zip(w) {
            for (a, xv) in accr.iter_mut().zip(xs) {
                *a = fma::<FUSED>(*wv, *xv, *a);
            }
        }
    }
    for (r, accr) in acc.iter().enumerate().take(job.rows) {
        let dst = out
            .get_mut(r * out_stride..r * out_stride + job.valid_cols)
            .ok_or(INTERNAL_BOUNDS)?;
        match job.slopes.and_then(|s| s.get(r)) {
            Some(s) => dst
                .iter_mut()
                .zip(accr)
                .for_each(|(d, v)| *d = leaky(*v, *s)),
            None => dst.iter_mut().zip(accr).for_each(|(d, v)| *d = *v),
        }
    }
    Ok(())
}

/// One input channel, zero-padded and split by column phase for a strided filter: for padded
/// row `py` and phase `p < stride_w`, a segment holds padded columns `p, p + s, p + 2s, …`, so
/// tap `kx` of output column `ox` is element `ox + kx / s` of phase `kx % s`: every tap of a
/// block of outputs is one contiguous load. Segments are long enough for whole blocks of
/// `lanes` outputs. Every channel of a layer writes the same positions, so the padding is
/// zeroed once per layer ([`PhasePlane::prepare`]) and each channel only copies its values in.
pub(super) struct PhasePlane {
    input: Shape,
    pad_top: usize,
    pad_left: usize,
    stride_w: usize,
    rows: usize,
    segment_len: usize,
    /// Start of each tap `(ky, kx)` relative to the first padded row of an output row.
    pub taps: Vec<usize>,
    /// Distance between the first padded rows of consecutive output rows.
    pub row_step: usize,
}

impl PhasePlane {
    pub(super) fn new(input: Shape, window: Window, output: Shape, lanes: usize) -> Self {
        let s = window.stride_w;
        let segment_len = output.w.div_ceil(lanes) * lanes + (window.kw - 1) / s;
        let taps = (0..window.kh)
            .flat_map(|ky| (0..window.kw).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| (ky * s + kx % s) * segment_len + kx / s)
            .collect();
        PhasePlane {
            input,
            pad_top: window.pad_top,
            pad_left: window.pad_left,
            stride_w: s,
            rows: (output.h - 1) * window.stride_h + window.kh,
            segment_len,
            taps,
            row_step: window.stride_h * s * segment_len,
        }
    }

    /// Sizes and zeroes `scratch` for the layer.
    #[inline(always)]
    pub(super) fn prepare(&self, scratch: &mut Vec<f32>) {
        scratch.clear();
        scratch.resize(self.rows * self.stride_w * self.segment_len, 0.0);
    }

    /// Copies one channel's values into the prepared `scratch` (the padding stays zero).
    #[inline(always)]
    pub(super) fn fill(&self, plane: &[f32], scratch: &mut [f32]) -> Result<(), CnnError> {
        let s = self.stride_w;
        for (iy, src) in plane.chunks_exact(self.input.w).enumerate() {
            let py = iy + self.pad_top;
            if py >= self.rows {
                break;
            }
            if s == 1 {
                let take = src
                    .len()
                    .min(self.segment_len.saturating_sub(self.pad_left));
                let start = py * self.segment_len + self.pad_left;
                let dst = scratch
                    .get_mut(start..start + take)
                    .ok_or(INTERNAL_BOUNDS)?;
                for (d, v) in dst.iter_mut().zip(src) {
                    *d = *v;
                }
            } else {
                for phase in 0..s {
                    // Padded column phase + s·j holds input column phase + s·j − pad_left.
                    let Some(first_px) = (phase..).step_by(s).find(|px| *px >= self.pad_left)
                    else {
                        continue;
                    };
                    let row = (py * s + phase) * self.segment_len;
                    let Some(dst) = scratch.get_mut(row + first_px / s..row + self.segment_len)
                    else {
                        continue;
                    };
                    let Some(src) = src.get(first_px - self.pad_left..) else {
                        continue;
                    };
                    for (d, v) in dst.iter_mut().zip(src.iter().step_by(s)) {
                        *d = *v;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The most taps a [`FlatPlane`] takes (a 5×5 filter); larger filters use [`PhasePlane`].
pub(super) const FLAT_MAX_TAPS: usize = 25;

/// One input channel of a depthwise layer whose output is its input divided by the stride
/// ("same" padding), laid out so that consecutive outputs are consecutive lanes across row
/// ends: the channel is split into `stride²` sub-planes (sub-plane `(ρ, φ)` holds input rows
/// `ρ, ρ + s, …` and columns `φ, φ + s, …`, each exactly `oh × ow`), each with zeros before and
/// after it. Tap `(ky, kx)` of output `o = oy·ow + ox` is then element `o + e·ow + d` of one
/// sub-plane (`e`, `d` the tap's row and column shift), so a block of `lanes` outputs is one
/// contiguous load whatever the width. Rows outside the plane read the zeros around it;
/// columns outside it (a row's neighbour, read across the row end) are cancelled by a zero in
/// the tap's weight vector for that lane ([`FlatPlane::masks`]). No lane is wasted on
/// padding, which is what makes small planes (4×4, 8×8, 7×7) fast. Planned once per layer
/// when the network is loaded.
#[derive(Clone, Debug)]
pub(super) struct FlatPlane {
    input: Shape,
    stride: usize,
    output_w: usize,
    /// `margin + oh·ow + margin`.
    sub_len: usize,
    margin: usize,
    /// Start of each tap `(ky, kx)` in the copy, for output 0.
    pub taps: Vec<usize>,
    /// Lane masks repeat every `period` vectors: `period = ow / gcd(ow, lanes)`.
    pub period: usize,
    /// `masks[(q · taps + t) · lanes + l]` is 1 where lane `l` of a vector `v ≡ q (mod period)`
    /// reads a real column for tap `t`, else 0.
    pub masks: Vec<f32>,
}

impl FlatPlane {
    /// The layout for a layer, or `None` when the layer's shape does not fit it.
    pub(super) fn new(input: Shape, window: Window, output: Shape, lanes: usize) -> Option<Self> {
        let s = window.stride_w;
        let taps = window.kh * window.kw;
        if window.stride_h != s
            || s == 0
            || input.h != output.h * s
            || input.w != output.w * s
            || taps > FLAT_MAX_TAPS
            || output.plane() == 0
        {
            return None;
        }
        let (s_i, ow_i) = (s as isize, output.w as isize);
        let shifts = |k: usize, pad: usize| {
            let offset = k as isize - pad as isize;
            (offset.rem_euclid(s_i) as usize, offset.div_euclid(s_i))
        };
        let reach = (0..window.kh)
            .map(|ky| shifts(ky, window.pad_top).1.unsigned_abs())
            .max()?
            * output.w
            + (0..window.kw)
                .map(|kx| shifts(kx, window.pad_left).1.unsigned_abs())
                .max()?;
        let margin = lanes + reach;
        let sub_len = margin + output.plane() + margin;
        let mut starts = Vec::with_capacity(taps);
        let mut column_shifts = Vec::with_capacity(taps);
        for ky in 0..window.kh {
            let (rho, e) = shifts(ky, window.pad_top);
            for kx in 0..window.kw {
                let (phi, d) = shifts(kx, window.pad_left);
                let start = ((rho * s + phi) * sub_len + margin) as isize + e * ow_i + d;
                starts.push(usize::try_from(start).ok()?);
                column_shifts.push(d);
            }
        }
        let period = output.w / gcd(output.w, lanes);
        let mut masks = Vec::with_capacity(period * taps * lanes);
        for q in 0..period {
            for d in &column_shifts {
                for l in 0..lanes {
                    let column = ((q * lanes + l) % output.w) as isize + d;
                    masks.push(if (0..ow_i).contains(&column) {
                        1.0
                    } else {
                        0.0
                    });
                }
            }
        }
        Some(FlatPlane {
            input,
            stride: s,
            output_w: output.w,
            sub_len,
            margin,
            taps: starts,
            period,
            masks,
        })
    }

    /// Sizes and zeroes `scratch` for the layer.
    #[inline(always)]
    pub(super) fn prepare(&self, scratch: &mut Vec<f32>) {
        scratch.clear();
        // Stride 2 de-interleaves the whole channel into the space after the sub-planes first.
        let staging = if self.stride == 2 {
            self.input.plane()
        } else {
            0
        };
        scratch.resize(self.stride * self.stride * self.sub_len + staging, 0.0);
    }

    /// Copies one channel's values into the prepared `scratch` (the margins stay zero).
    #[inline(always)]
    pub(super) fn fill(&self, plane: &[f32], scratch: &mut [f32]) -> Result<(), CnnError> {
        let s = self.stride;
        if s == 1 {
            let dst = scratch
                .get_mut(self.margin..self.margin + plane.len())
                .ok_or(INTERNAL_BOUNDS)?;
            // 4×4 and 8×8 planes as fixed-size blocks: a `memcpy` call cost more than them.
            match (dst, plane.len()) {
                (dst, 16) => copy_block::<16>(dst, plane),
                (dst, 64) => copy_block::<64>(dst, plane),
                (dst, _) => dst.copy_from_slice(plane),
            }
            return Ok(());
        }
        if s == 2 {
            let (evens, odds) = self.staging(scratch)?;
            deinterleave(plane, evens, odds);
            return self.spread_staged(scratch);
        }
        for (iy, src) in plane.chunks_exact(self.input.w).enumerate() {
            let (rho, oy) = (iy % s, iy / s);
            for phi in 0..s {
                let start = (rho * s + phi) * self.sub_len + self.margin + oy * self.output_w;
                let dst = scratch
                    .get_mut(start..start + self.output_w)
                    .ok_or(INTERNAL_BOUNDS)?;
                for (d, v) in dst.iter_mut().zip(src.iter().skip(phi).step_by(s)) {
                    *d = *v;
                }
            }
        }
        Ok(())
    }

    pub(super) fn stride(&self) -> usize {
        self.stride
    }

    pub(super) fn input_w(&self) -> usize {
        self.input.w
    }

    pub(super) fn output_w(&self) -> usize {
        self.output_w
    }

    /// Where row `row` of sub-plane `k = ρ·s + φ` starts in the copy.
    #[inline(always)]
    pub(super) fn row_start(&self, k: usize, row: usize) -> usize {
        k * self.sub_len + self.margin + row * self.output_w
    }

    /// Stride 2 fills in two steps. First the channel's even and odd elements go to these two
    /// halves of the staging space after the sub-planes: the width is even, so they are its
    /// even and odd columns, row after row, and one long loop of vector shuffles splits them
    /// (per row it would not pay: rows are 8 to 32 wide). The SIMD builds split with their
    /// own shuffles; [`FlatPlane::fill`] with plain code.
    #[inline(always)]
    pub(super) fn staging<'a>(
        &self,
        scratch: &'a mut [f32],
    ) -> Result<(&'a mut [f32], &'a mut [f32]), CnnError> {
        let half = self.input.plane() / 2;
        let staging = scratch
            .get_mut(4 * self.sub_len..4 * self.sub_len + 2 * half)
            .ok_or(INTERNAL_BOUNDS)?;
        Ok(staging.split_at_mut(half))
    }

    /// Then their rows, which alternate between even and odd input rows, go to the four
    /// sub-planes; rows of 4, 8 or 16 are copied as fixed-size blocks (a `memcpy` call per
    /// short row cost more than the copy).
    #[inline(always)]
    pub(super) fn spread_staged(&self, scratch: &mut [f32]) -> Result<(), CnnError> {
        match self.output_w {
            4 => self.spread_rows::<4>(scratch),
            8 => self.spread_rows::<8>(scratch),
            16 => self.spread_rows::<16>(scratch),
            _ => self.spread_rows::<0>(scratch),
        }
    }

    /// Rows of `W` floats (`W == 0`: of any width). Sub-plane `(ρ, φ)` is rows `ρ, ρ + 2, …`
    /// of the evens (`φ = 0`) or odds (`φ = 1`), one after the other.
    #[inline(always)]
    fn spread_rows<const W: usize>(&self, scratch: &mut [f32]) -> Result<(), CnnError> {
        let ow = self.output_w;
        let half = self.input.plane() / 2;
        let (planes, staging) = scratch.split_at_mut(4 * self.sub_len);
        for (k, sub_plane) in planes.chunks_exact_mut(self.sub_len).enumerate() {
            let (rho, phi) = (k / 2, k % 2);
            let staged = staging
                .get(phi * half..(phi + 1) * half)
                .ok_or(INTERNAL_BOUNDS)?;
            let dst = sub_plane
                .get_mut(self.margin..self.margin + half / 2)
                .ok_or(INTERNAL_BOUNDS)?;
            let rows = staged.chunks_exact(ow).skip(rho).step_by(2);
            for (dst, row) in dst.chunks_exact_mut(ow).zip(rows) {
                copy_block::<W>(dst, row);
            }
        }
        Ok(())
    }

    /// The mask of tap `t` for vectors `≡ q (mod period)`.
    #[inline(always)]
    pub(super) fn mask(&self, q: usize, t: usize, lanes: usize) -> Option<&[f32]> {
        let at = (q * self.taps.len() + t) * lanes;
        self.masks.get(at..at + lanes)
    }
}

/// The even and odd elements of `src` into `evens` and `odds` (as far as they reach).
#[inline(always)]
pub(super) fn deinterleave(src: &[f32], evens: &mut [f32], odds: &mut [f32]) {
    for ((e, o), pair) in evens
        .iter_mut()
        .zip(odds.iter_mut())
        .zip(src.chunks_exact(2))
    {
        if let &[a, b] = pair {
            *e = a;
            *o = b;
        }
    }
}

/// `dst = src`, both `N` long.
#[inline(always)]
fn copy_block<const N: usize>(dst: &mut [f32], src: &[f32]) {
    match (
        <&mut [f32; N]>::try_from(&mut *dst),
        <&[f32; N]>::try_from(src),
    ) {
        (Ok(dst), Ok(src)) => *dst = *src,
        _ => dst.copy_from_slice(src),
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One channel of a depthwise layer, ready for its rows to be computed.
pub(super) struct DepthwiseChannel<'a> {
    pub phases: &'a PhasePlane,
    /// The channel's padded, phase-split copy.
    pub plane: &'a [f32],
    pub filter: &'a [f32],
    pub output: Shape,
    pub bias: f32,
    pub slope: Option<f32>,
}

/// Whether a depthwise layer is a global filter: one output per channel from the whole,
/// unpadded plane (a weighted pooling, computed as one dot product per channel).
#[inline(always)]
pub(super) fn is_global(input: Shape, window: Window, output: Shape) -> bool {
    output.plane() == 1
        && window.pad_top == 0
        && window.pad_left == 0
        && window.kh == input.h
        && window.kw == input.w
}

/// A global depthwise filter: `out[c] = act(bias[c] + Σ w[c]·x[c])`.
#[inline(always)]
pub(super) fn depthwise_global<const FUSED: bool>(
    x: &[f32],
    input: Shape,
    weights: &[f32],
    bias: &[f32],
    act: &Act,
    out: &mut [f32],
) {
    let plane = input.plane();
    for (c, ((dst, xs), ws)) in out
        .iter_mut()
        .zip(x.chunks_exact(plane))
        .zip(weights.chunks_exact(plane))
        .enumerate()
    {
        let mut acc = [0f32; LANES];
        let (x_blocks, x_rest) = xs.split_at(plane - plane % LANES);
        let (w_blocks, w_rest) = ws.split_at(plane - plane % LANES);
        for (xc, wc) in x_blocks
            .chunks_exact(LANES)
            .zip(w_blocks.chunks_exact(LANES))
        {
            for ((a, v), w) in acc.iter_mut().zip(xc).zip(wc) {
                *a = fma::<FUSED>(*w, *v, *a);
            }
        }
        let tail: f32 = x_rest.iter().zip(w_rest).map(|(v, w)| v * w).sum();
        let v = bias.get(c).copied().unwrap_or(0.0) + acc.iter().sum::<f32>() + tail;
        *dst = match slope(act, c) {
            Some(s) => leaky(v, s),
            None => v,
        };
    }
}

/// One channel of a depthwise layer: index, input plane, output plane, filter.
pub(super) type ChannelParts<'a> = (usize, &'a [f32], &'a mut [f32], &'a [f32]);

/// The channels of a depthwise layer. A one-channel input feeds every output channel (an
/// ordinary convolution of a one-channel image runs as a depthwise layer).
#[inline(always)]
pub(super) fn depthwise_channels<'a>(
    x: &'a [f32],
    input: Shape,
    weights: &'a [f32],
    window: Window,
    out: &'a mut [f32],
    output: Shape,
) -> impl Iterator<Item = ChannelParts<'a>> {
    x.chunks_exact(input.plane())
        .cycle()
        .zip(out.chunks_exact_mut(output.plane()))
        .zip(weights.chunks_exact(window.kh * window.kw))
        .enumerate()
        .map(|(c, ((plane_in, plane_out), filter))| (c, plane_in, plane_out, filter))
}

/// A depthwise convolution: one `kh × kw` filter per channel.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // one layer's parts, named, beat a one-use struct
pub(super) fn depthwise<const FUSED: bool>(
    x: &[f32],
    input: Shape,
    weights: &[f32],
    bias: &[f32],
    act: &Act,
    window: Window,
    _flat: Option<&FlatPlane>, // planned for the SIMD builds only
    out: &mut [f32],
    output: Shape,
    scratch: &mut Vec<f32>,
) -> Result<(), CnnError> {
    if is_global(input, window, output) {
        depthwise_global::<FUSED>(x, input, weights, bias, act, out);
        return Ok(());
    }
    let phases = PhasePlane::new(input, window, output, LANES);
    phases.prepare(scratch);
    for (c, plane_in, plane_out, filter) in
        depthwise_channels(x, input, weights, window, out, output)
    {
        phases.fill(plane_in, scratch)?;
        let b = bias.get(c).copied().unwrap_or(0.0);
        let slope = slope(act, c);
        for (oy, dst_row) in plane_out.chunks_exact_mut(output.w).enumerate() {
            let row = oy * phases.row_step;
            for (block, dst) in dst_row.chunks_mut(LANES).enumerate() {
                let base = row + block * LANES;
                let mut acc = [b; LANES];
                for (tap, w) in phases.taps.iter().zip(filter) {
                    let at = base + tap;
                    let seg: &[f32; LANES] = scratch
                        .get(at..at + LANES)
                        .and_then(|s| s.try_into().ok())
                        .ok_or(INTERNAL_BOUNDS)?;
                    for (a, v) in acc.iter_mut().zip(seg) {
                        *a = fma::<FUSED>(*w, *v, *a);
                    }
                }
                match slope {
                    Some(s) => dst
                        .iter_mut()
                        .zip(&acc)
                        .for_each(|(d, v)| *d = leaky(*v, s)),
                    None => dst.iter_mut().zip(&acc).for_each(|(d, v)| *d = *v),
                }
            }
        }
    }
    Ok(())
}

/// A dense layer on a vector: one dot product per output.
#[inline(always)]
pub(super) fn dense<const FUSED: bool>(
    d: &Dense,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), CnnError> {
    let x = x.get(..d.k).ok_or(INTERNAL_BOUNDS)?;
    let out = out.get_mut(..d.m).ok_or(INTERNAL_BOUNDS)?;
    let (x_blocks, x_rest) = x.split_at(d.k - d.k % LANES);
    for (o, ((row, b), dst)) in d
        .weights
        .chunks_exact(d.k)
        .zip(&d.bias)
        .zip(out.iter_mut())
        .enumerate()
    {
        let (w_blocks, w_rest) = row.split_at(d.k - d.k % LANES);
        let mut acc = [0f32; LANES];
        for (wc, xc) in w_blocks
            .chunks_exact(LANES)
            .zip(x_blocks.chunks_exact(LANES))
        {
            for ((a, w), v) in acc.iter_mut().zip(wc).zip(xc) {
                *a = fma::<FUSED>(*w, *v, *a);
            }
        }
        let tail: f32 = w_rest.iter().zip(x_rest).map(|(w, v)| w * v).sum();
        let v = b + acc.iter().sum::<f32>() + tail;
        *dst = match slope(&d.act, o) {
            Some(s) => leaky(v, s),
            None => v,
        };
    }
    Ok(())
}

/// Unfolds the input of a general convolution into the `(c · kh · kw) × (oh · ow)` matrix its
/// weights multiply (zeros where the window hangs over the padding).
#[inline(always)]
pub(super) fn unfold(x: &[f32], input: Shape, window: Window, output: Shape, cols: &mut Vec<f32>) {
    let Window {
        kh,
        kw,
        stride_h,
        stride_w,
        pad_top,
        pad_left,
    } = window;
    cols.clear();
    cols.resize(input.c * kh * kw * output.plane(), 0.0);
    for (r, dst) in cols.chunks_exact_mut(output.plane()).enumerate() {
        let (ci, ky, kx) = (r / (kh * kw), (r / kw) % kh, r % kw);
        let Some(plane) = x.get(ci * input.plane()..(ci + 1) * input.plane()) else {
            continue;
        };
        for (oy, dst_row) in dst.chunks_exact_mut(output.w).enumerate() {
            let Some(iy) = (oy * stride_h + ky).checked_sub(pad_top) else {
                continue;
            };
            let Some(src_row) = plane.get(iy * input.w..(iy + 1) * input.w) else {
                continue;
            };
            for (ox, d) in dst_row.iter_mut().enumerate() {
                if let Some(v) = (ox * stride_w + kx)
                    .checked_sub(pad_left)
                    .and_then(|ix| src_row.get(ix))
                {
                    *d = *v;
                }
            }
        }
    }
}

/// `out = act(a + b)`, channel by channel.
#[inline(always)]
/// Max or mean over each window of each plane (plane by plane). A window is clipped to the
/// plane; the mean divides by the pixels inside it.
pub(super) fn pool(
    x: &[f32],
    input: Shape,
    kind: PoolKind,
    window: Window,
    output: Shape,
    out: &mut [f32],
) {
    let (in_plane, out_plane) = (input.plane().max(1), output.plane().max(1));
    for (src, dst) in x
        .chunks_exact(in_plane)
        .zip(out.chunks_exact_mut(out_plane))
    {
        for (r, row) in dst.chunks_exact_mut(output.w.max(1)).enumerate() {
            let top = (r * window.stride_h).saturating_sub(window.pad_top);
            let bottom = (r * window.stride_h + window.kh)
                .saturating_sub(window.pad_top)
                .min(input.h);
            for (c, d) in row.iter_mut().enumerate() {
                let left = (c * window.stride_w).saturating_sub(window.pad_left);
                let right = (c * window.stride_w + window.kw)
                    .saturating_sub(window.pad_left)
                    .min(input.w);
                let mut max = f32::NEG_INFINITY;
                let mut sum = 0.0f32;
                for y in top..bottom {
                    for v in src
                        .get(y * input.w + left..y * input.w + right)
                        .unwrap_or_default()
                    {
                        max = max.max(*v);
                        sum += v;
                    }
                }
                let count = (bottom.saturating_sub(top) * right.saturating_sub(left)).max(1);
                *d = match kind {
                    PoolKind::Max => max,
                    PoolKind::Mean => sum / count as f32,
                };
            }
        }
    }
}

/// `a + b` for values of different shapes, both aligned at channel 0 and pixel (0, 0), each
/// zero outside itself; `output` is the larger of the two in every dimension.
pub(super) fn add_padded(
    (a, a_shape): (&[f32], Shape),
    (b, b_shape): (&[f32], Shape),
    act: &Act,
    output: Shape,
    out: &mut [f32],
) {
    let at = |values: &[f32], shape: Shape, c: usize, y: usize, x: usize| {
        if c < shape.c && y < shape.h && x < shape.w {
            values
                .get((c * shape.h + y) * shape.w + x)
                .copied()
                .unwrap_or(0.0)
        } else {
            0.0
        }
    };
    for (c, plane) in out.chunks_exact_mut(output.plane().max(1)).enumerate() {
        let s = slope(act, c);
        for (y, row) in plane.chunks_exact_mut(output.w.max(1)).enumerate() {
            for (x, d) in row.iter_mut().enumerate() {
                let v = at(a, a_shape, c, y, x) + at(b, b_shape, c, y, x);
                *d = match s {
                    Some(s) => leaky(v, s),
                    None => v,
                };
            }
        }
    }
}

pub(super) fn add(a: &[f32], b: &[f32], act: &Act, channels: Channels, out: &mut [f32]) {
    let plane = match (act, channels) {
        (Act::Leaky(slopes), Channels::Interleaved(count)) => {
            let pixels = out
                .chunks_exact_mut(count.max(1))
                .zip(a.chunks_exact(count.max(1)))
                .zip(b.chunks_exact(count.max(1)));
            for ((dst, a), b) in pixels {
                for (((d, x), y), s) in dst.iter_mut().zip(a).zip(b).zip(slopes) {
                    *d = leaky(x + y, *s);
                }
            }
            return;
        }
        (Act::Identity, Channels::Interleaved(_)) => out.len().max(1),
        (_, Channels::Planes(plane)) => plane.max(1),
    };
    for (c, ((dst, a), b)) in out
        .chunks_exact_mut(plane)
        .zip(a.chunks_exact(plane))
        .zip(b.chunks_exact(plane))
        .enumerate()
    {
        match slope(act, c) {
            Some(s) => {
                for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
                    *d = leaky(x + y, s);
                }
            }
            None => {
                for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
                    *d = x + y;
                }
            }
        }
    }
}

/// `out = act(x)`, channel by channel (a copy for the identity).
#[inline(always)]
pub(super) fn activation(x: &[f32], act: &Act, channels: Channels, out: &mut [f32]) {
    let plane = match (act, channels) {
        (Act::Leaky(slopes), Channels::Interleaved(count)) => {
            let pixels = out
                .chunks_exact_mut(count.max(1))
                .zip(x.chunks_exact(count.max(1)));
            for (dst, src) in pixels {
                for ((d, v), s) in dst.iter_mut().zip(src).zip(slopes) {
                    *d = leaky(*v, *s);
                }
            }
            return;
        }
        (Act::Identity, Channels::Interleaved(_)) => out.len().max(1),
        (_, Channels::Planes(plane)) => plane.max(1),
    };
    for (c, (dst, src)) in out
        .chunks_exact_mut(plane)
        .zip(x.chunks_exact(plane))
        .enumerate()
    {
        match slope(act, c) {
            Some(s) => dst.iter_mut().zip(src).for_each(|(d, v)| *d = leaky(*v, s)),
            None => dst.copy_from_slice(src),
        }
    }
}

const CHANNELS_LAST_UNPLANNED: CnnError = CnnError::Internal {
    detail: "a channels-last layer in a build without channels-last kernels",
};

/// The portable build has no channels-last kernels; the plan never gives it such a layer.
pub(super) fn gemm_cl_unplanned(
    _: &Gemm,
    _: &[f32],
    _: usize,
    _: &mut [f32],
) -> Result<(), CnnError> {
    Err(CHANNELS_LAST_UNPLANNED)
}

/// See [`gemm_cl_unplanned`].
pub(super) fn depthwise_cl_unplanned(
    _: &ClDepthwise,
    _: &[f32],
    _: Shape,
    _: &mut [f32],
    _: Shape,
) -> Result<(), CnnError> {
    Err(CHANNELS_LAST_UNPLANNED)
}

/// `out = x · scale[c] + shift[c]`.
#[inline(always)]
pub(super) fn affine(x: &[f32], scale: &[f32], shift: &[f32], plane: usize, out: &mut [f32]) {
    for ((dst, src), (s, t)) in out
        .chunks_exact_mut(plane)
        .zip(x.chunks_exact(plane))
        .zip(scale.iter().zip(shift))
    {
        dst.iter_mut().zip(src).for_each(|(d, v)| *d = v * s + t);
    }
}
