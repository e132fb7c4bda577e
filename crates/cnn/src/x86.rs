//! The x86-64 kernels: matrix product, depthwise filter and dense layer written with AVX-512
//! (16 lanes, 32 registers) and AVX2 + FMA (8 lanes, 16 registers) intrinsics, one macro
//! stamping out both builds. The product keeps a tile of outputs in registers (AVX-512: 6×64,
//! 12×32 or 16×16; AVX2: 6×16 or 8×8) and applies bias and activation before its single store.
//! A depthwise layer runs on the flat layout ([`FlatPlane`]) when its shape allows, else on the
//! phase-split one ([`PhasePlane`]). Channels-last layers have their own product (a tile of
//! pixels × output channels) and depthwise filter (a vector of channels per pixel).
//! Safe code: the intrinsics are safe inside functions built with their target feature, and
//! vectors move in and out of slices through `bytemuck`. Only `exec` calls in here, after
//! checking the processor.

use super::kernels::{
    self, DepthwiseChannel, FLAT_MAX_TAPS, FlatPlane, INTERNAL_BOUNDS, PhasePlane, TileJob,
    depthwise_channels, depthwise_global, is_global, slope, tile_columns,
};

const UNBUILT_TILE: CnnError = CnnError::Internal {
    detail: "weights packed for a tile this build lacks",
};

/// One panel of output channels of a channels-last 1×1 convolution.
struct ClJob<'a> {
    /// `k × cols` packed weights.
    panel: &'a [f32],
    k: usize,
    bias: &'a [f32],
    slopes: Option<&'a [f32]>,
}
use super::{Act, ClDepthwise, CnnError, Dense, Gemm, Shape, Tile, Window};

macro_rules! simd_kernels {
    (
        mod $module:ident,
        feature = $feature:literal,
        vector = $vector:ident,
        lanes = $lanes:literal,
        tiles = [$(($mr:literal, $nv:literal)),+],
        cl_tiles = [$(($cmr:literal, $cnv:literal)),+],
        set1 = $set1:ident,
        zero = $zero:ident,
        fmadd = $fmadd:ident,
        mul = $mul:ident,
        add = $add:ident,
        prelu = $prelu:path,
        split = $split:path $(,)?
    ) => {
        pub(super) mod $module {
            use std::arch::x86_64::{$vector, $add, $fmadd, $mul, $set1, $zero};

            use super::*;

            const LANES: usize = $lanes;
            /// Room for the largest tile of either build (6 × 64 and 12 × 32 floats).
            const TILE_BLOCK: usize = 384;

            #[inline(always)]
            fn load(s: &[f32]) -> Option<$vector> {
                let a: [f32; LANES] = s.get(..LANES)?.try_into().ok()?;
                Some(bytemuck::cast(a))
            }

            /// The matrix product of a packed layer with `X` (`k × n`, row-major) into `out`
            /// (`m × n`).
            #[target_feature(enable = $feature)]
            pub(in super::super) fn gemm(
                g: &Gemm,
                x: &[f32],
                n: usize,
                out: &mut [f32],
                scratch: &mut Vec<f32>,
            ) -> Result<(), CnnError> {
                let Tile { mr, cols } = g.tile;
                let panel_len = g.k * mr;
                for col0 in (0..n).step_by(cols) {
                    let (xs, x_stride, valid_cols) =
                        tile_columns(x, n, g.k, col0, cols, scratch)?;
                    for (p, panel) in g.panels.chunks_exact(panel_len).enumerate() {
                        let job = TileJob::for_panel(g, p, mr, panel, xs, x_stride, valid_cols)?;
                        let dst = out.get_mut(p * mr * n + col0..).ok_or(INTERNAL_BOUNDS)?;
                        match (mr, cols / LANES) {
                            $(($mr, $nv) => tile::<$mr, $nv, { $nv * LANES }>(&job, dst, n)?,)+
                            _ => return Err(UNBUILT_TILE),
                        }
                    }
                }
                Ok(())
            }

            /// One tile; a partial one (last rows or columns) is computed whole into a local
            /// block and its valid part copied out.
            #[target_feature(enable = $feature)]
            fn tile<const MR: usize, const NV: usize, const W: usize>(
                job: &TileJob<'_>,
                out: &mut [f32],
                out_stride: usize,
            ) -> Result<(), CnnError> {
                let width = NV * LANES;
                if W != width {
                    return Err(CnnError::Internal {
                        detail: "a tile's width is not its vectors' lanes",
                    });
                }
                if job.panel.len() < job.k * MR
                    || job.x.len() < job.k.saturating_sub(1) * job.x_stride + width
                {
                    return Err(INTERNAL_BOUNDS);
                }
                let whole = job.rows == MR && job.valid_cols == width;
                if whole && out.len() >= (MR - 1) * out_stride + width {
                    full_tile::<MR, NV, W>(job, out, out_stride);
                    return Ok(());
                }
                let mut block = [0.0f32; TILE_BLOCK];
                full_tile::<MR, NV, W>(job, &mut block, width);
                for (r, src) in block.chunks_exact(width).take(job.rows).enumerate() {
                    let start = r * out_stride;
                    out.get_mut(start..start + job.valid_cols)
                        .ok_or(INTERNAL_BOUNDS)?
                        .copy_from_slice(src.get(..job.valid_cols).ok_or(INTERNAL_BOUNDS)?);
                }
                Ok(())
            }

            /// `act(bias + W·X)` for a whole `MR × NV·LANES` tile, buffer lengths checked by
            /// the caller. Straight-line code on purpose: constant trip counts, `acc` indexed
            /// only by loop counters below its constant lengths, no early exit, and no branch
            /// per row in the epilogue (the activation is one branch around its own loop);
            /// that is what lets the compiler keep every accumulator in a register. Iterators,
            /// breaks, a partial store, or an `if` per row around the activation all made it
            /// keep `acc` in memory and store every accumulator on every step: the product
            /// then ran at half speed (found with `perf annotate`; the per-row `if` cost the
            /// landmark model 0.65 → 0.45 ms).
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn full_tile<const MR: usize, const NV: usize, const W: usize>(
                job: &TileJob<'_>,
                out: &mut [f32],
                out_stride: usize,
            ) {
                let mut acc = [[$zero(); NV]; MR];
                for r in 0..MR {
                    let b = $set1(job.bias.get(r).copied().unwrap_or(0.0));
                    for v in 0..NV {
                        acc[r][v] = b;
                    }
                }
                let no_weights = [0.0f32; MR];
                let no_row = [0.0f32; W];
                let rows = job
                    .panel
                    .chunks_exact(MR)
                    .zip(job.x.chunks(job.x_stride.max(1)))
                    .take(job.k);
                for (w, xrow) in rows {
                    // One check per step, a pointer select: with a checked load per vector
                    // half the loop's instructions were checks and it was issue-bound.
                    let w: &[f32; MR] = w.try_into().unwrap_or(&no_weights);
                    let xrow: &[f32; W] = xrow
                        .get(..W)
                        .and_then(|s| s.try_into().ok())
                        .unwrap_or(&no_row);
                    let mut xv = [$zero(); NV];
                    for v in 0..NV {
                        xv[v] = xrow.get(v * LANES..).and_then(load).unwrap_or($zero());
                    }
                    for r in 0..MR {
                        let wb = $set1(w[r]);
                        for v in 0..NV {
                            acc[r][v] = $fmadd(wb, xv[v], acc[r][v]);
                        }
                    }
                }
                if let Some(slopes) = job.slopes {
                    for r in 0..MR {
                        let s = $set1(slopes.get(r).copied().unwrap_or(0.0));
                        for v in 0..NV {
                            let value = acc[r][v];
                            acc[r][v] = $prelu(value, s);
                        }
                    }
                }
                for r in 0..MR {
                    for v in 0..NV {
                        let lanes: [f32; LANES] = bytemuck::cast(acc[r][v]);
                        let at = r * out_stride + v * LANES;
                        if let Some(dst) = out.get_mut(at..at + LANES) {
                            dst.copy_from_slice(&lanes);
                        }
                    }
                }
            }

            /// A depthwise convolution: one `kh × kw` filter per channel, on the padded,
            /// phase-split copy of each channel (see [`PhasePlane`]), four output rows at a
            /// time so four accumulators are in flight.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)] // one layer's parts, named
            pub(in super::super) fn depthwise(
                x: &[f32],
                input: Shape,
                weights: &[f32],
                bias: &[f32],
                act: &Act,
                window: Window,
                flat: Option<&FlatPlane>,
                out: &mut [f32],
                output: Shape,
                scratch: &mut Vec<f32>,
            ) -> Result<(), CnnError> {
                if is_global(input, window, output) {
                    depthwise_global::<true>(x, input, weights, bias, act, out);
                    return Ok(());
                }
                if let Some(flat) = flat {
                    flat.prepare(scratch);
                    for (c, plane_in, plane_out, filter) in
                        depthwise_channels(x, input, weights, window, out, output)
                    {
                        if c == 0 || input.c > 1 {
                            if flat.stride() == 2 {
                                fill_stride2(flat, plane_in, scratch)?;
                            } else {
                                flat.fill(plane_in, scratch)?;
                            }
                        }
                        let channel = FlatChannel {
                            flat,
                            plane: scratch,
                            bias: bias.get(c).copied().unwrap_or(0.0),
                            slope: slope(act, c),
                        };
                        depthwise_flat(&channel, filter, plane_out);
                    }
                    return Ok(());
                }
                let phases = PhasePlane::new(input, window, output, LANES);
                phases.prepare(scratch);
                for (c, plane_in, plane_out, filter) in
                    depthwise_channels(x, input, weights, window, out, output)
                {
                    phases.fill(plane_in, scratch)?;
                    let channel = DepthwiseChannel {
                        phases: &phases,
                        plane: scratch,
                        filter,
                        output,
                        bias: bias.get(c).copied().unwrap_or(0.0),
                        slope: slope(act, c),
                    };
                    let mut oy = 0;
                    while oy < output.h {
                        if output.h - oy >= 4 {
                            depthwise_rows::<4>(&channel, oy, plane_out);
                            oy += 4;
                        } else {
                            depthwise_rows::<1>(&channel, oy, plane_out);
                            oy += 1;
                        }
                    }
                }
                Ok(())
            }

            /// Output rows `oy .. oy + R` of one channel. Straight-line code with constant
            /// trip counts over `acc`, as in `full_tile`, so the accumulators stay in
            /// registers; a read past the padded plane (impossible by construction) reads
            /// zeros.
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn depthwise_rows<const R: usize>(
                ch: &DepthwiseChannel<'_>,
                oy: usize,
                plane_out: &mut [f32],
            ) {
                let ow = ch.output.w;
                let step = ch.phases.row_step;
                let zero = [0.0f32; LANES];
                let slope = ch.slope.map(|s| $set1(s));
                for ox0 in (0..ow).step_by(LANES) {
                    let mut acc = [$set1(ch.bias); R];
                    let base = oy * step + ox0;
                    for (tap, w) in ch.phases.taps.iter().zip(ch.filter) {
                        let w = $set1(*w);
                        for i in 0..R {
                            let at = base + i * step + tap;
                            let lanes: &[f32; LANES] = ch
                                .plane
                                .get(at..at + LANES)
                                .and_then(|s| s.try_into().ok())
                                .unwrap_or(&zero);
                            acc[i] = $fmadd(w, bytemuck::cast(*lanes), acc[i]);
                        }
                    }
                    let valid = LANES.min(ow - ox0);
                    for i in 0..R {
                        let mut value = acc[i];
                        if let Some(s) = slope {
                            value = $prelu(value, s);
                        }
                        let lanes: [f32; LANES] = bytemuck::cast(value);
                        let start = (oy + i) * ow + ox0;
                        if let (Some(dst), Some(src)) =
                            (plane_out.get_mut(start..start + valid), lanes.get(..valid))
                        {
                            dst.copy_from_slice(src);
                        }
                    }
                }
            }

            /// One channel of a depthwise layer on its [`FlatPlane`] copy.
            struct FlatChannel<'a> {
                flat: &'a FlatPlane,
                plane: &'a [f32],
                bias: f32,
                slope: Option<f32>,
            }

            /// A depthwise channel on its flat copy. When the lane masks repeat every 1, 2 or 4
            /// vectors, blocks of 8 or 4 consecutive vectors (each tap one checked load of the
            /// block) with every phase's masked weights at hand; otherwise the vectors of one
            /// mask phase at a time, four in flight.
            #[target_feature(enable = $feature)]
            fn depthwise_flat(ch: &FlatChannel<'_>, filter: &[f32], out: &mut [f32]) {
                match (ch.flat.period, ch.flat.taps.len()) {
                    (1, 9) => flat_periodic::<1, 9>(ch, filter, out),
                    (2, 9) => flat_periodic::<2, 9>(ch, filter, out),
                    (4, 9) => flat_periodic::<4, 9>(ch, filter, out),
                    (1, _) => flat_periodic::<1, FLAT_MAX_TAPS>(ch, filter, out),
                    (2, _) => flat_periodic::<2, FLAT_MAX_TAPS>(ch, filter, out),
                    (4, _) => flat_periodic::<4, FLAT_MAX_TAPS>(ch, filter, out),
                    _ => flat_by_phase(ch, filter, out),
                }
            }

            /// The tap weights times the lane masks of phase `q`.
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn masked_weights<const T: usize>(
                ch: &FlatChannel<'_>,
                filter: &[f32],
                q: usize,
            ) -> [$vector; T] {
                let mut weights = [$zero(); T];
                for (t, w) in filter.iter().enumerate().take(T) {
                    let mask = ch.flat.mask(q, t, LANES).and_then(load).unwrap_or($zero());
                    weights[t] = $mul($set1(*w), mask);
                }
                weights
            }

            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn flat_periodic<const P: usize, const T: usize>(
                ch: &FlatChannel<'_>,
                filter: &[f32],
                out: &mut [f32],
            ) {
                let taps = ch.flat.taps.len().min(filter.len()).min(T);
                let vectors = out.len().div_ceil(LANES);
                let mut weights = [[$zero(); T]; P];
                for q in 0..P {
                    weights[q] = masked_weights::<T>(ch, filter, q);
                }
                // Blocks start at multiples of 4, so vector `i` of a block has phase `i % P`.
                let mut v = 0;
                while v + 8 <= vectors {
                    flat_block::<8, P, T>(ch, &weights, taps, v, out);
                    v += 8;
                }
                while v + 4 <= vectors {
                    flat_block::<4, P, T>(ch, &weights, taps, v, out);
                    v += 4;
                }
                while v < vectors {
                    flat_vectors::<1, T>(ch, &weights[v % P], taps, v, out);
                    v += 1;
                }
            }

            #[target_feature(enable = $feature)]
            fn flat_by_phase(ch: &FlatChannel<'_>, filter: &[f32], out: &mut [f32]) {
                let taps = ch.flat.taps.len().min(filter.len()).min(FLAT_MAX_TAPS);
                let vectors = out.len().div_ceil(LANES);
                let period = ch.flat.period;
                for q in 0..period.min(vectors) {
                    let weights = masked_weights::<FLAT_MAX_TAPS>(ch, filter, q);
                    let mut v = q;
                    while v < vectors {
                        if v + 3 * period < vectors {
                            flat_vectors::<4, FLAT_MAX_TAPS>(ch, &weights, taps, v, out);
                            v += 4 * period;
                        } else {
                            flat_vectors::<1, FLAT_MAX_TAPS>(ch, &weights, taps, v, out);
                            v += period;
                        }
                    }
                }
            }

            /// Output vectors `v .. v + R` (`v` a multiple of 4, so vector `i` has mask phase
            /// `i % P`): each tap reads one block of `R` vectors, checked once. Straight-line
            /// code over `acc`, as in `full_tile`.
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn flat_block<const R: usize, const P: usize, const T: usize>(
                ch: &FlatChannel<'_>,
                weights: &[[$vector; T]; P],
                taps: usize,
                v: usize,
                out: &mut [f32],
            ) {
                let zero = [0.0f32; LANES];
                let mut acc = [$set1(ch.bias); R];
                for t in 0..taps.min(T) {
                    let at = ch.flat.taps.get(t).copied().unwrap_or(0) + v * LANES;
                    let Some(block) = ch.plane.get(at..at + R * LANES) else {
                        continue;
                    };
                    for i in 0..R {
                        let lanes: &[f32; LANES] = block
                            .get(i * LANES..(i + 1) * LANES)
                            .and_then(|s| s.try_into().ok())
                            .unwrap_or(&zero);
                        acc[i] = $fmadd(weights[i % P][t], bytemuck::cast(*lanes), acc[i]);
                    }
                }
                store_vectors(&acc, ch.slope, v, 1, out);
            }

            /// Applies the activation to output vectors `v, v + step, …` and stores them; the
            /// plane's last vector may be partial.
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn store_vectors<const R: usize>(
                acc: &[$vector; R],
                slope: Option<f32>,
                v: usize,
                step: usize,
                out: &mut [f32],
            ) {
                let slope = slope.map(|s| $set1(s));
                for i in 0..R {
                    let mut value = acc[i];
                    if let Some(s) = slope {
                        value = $prelu(value, s);
                    }
                    let lanes: [f32; LANES] = bytemuck::cast(value);
                    let start = (v + i * step) * LANES;
                    if let Some(dst) = out.get_mut(start..start + LANES) {
                        dst.copy_from_slice(&lanes);
                    } else if let Some(dst) = out.get_mut(start..) {
                        let valid = dst.len();
                        dst.copy_from_slice(lanes.get(..valid).unwrap_or(&[]));
                    }
                }
            }

            /// Output vectors `v, v + period, …` (`R` of them) of one channel. Straight-line
            /// code over `acc`, as in `full_tile`; a read past the copy (impossible by
            /// construction) reads zeros.
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn flat_vectors<const R: usize, const T: usize>(
                ch: &FlatChannel<'_>,
                weights: &[$vector; T],
                taps: usize,
                v: usize,
                out: &mut [f32],
            ) {
                let period = ch.flat.period;
                let zero = [0.0f32; LANES];
                let mut acc = [$set1(ch.bias); R];
                for t in 0..taps.min(T) {
                    let start = ch.flat.taps.get(t).copied().unwrap_or(0);
                    for i in 0..R {
                        let at = start + (v + i * period) * LANES;
                        let lanes: &[f32; LANES] = ch
                            .plane
                            .get(at..at + LANES)
                            .and_then(|s| s.try_into().ok())
                            .unwrap_or(&zero);
                        acc[i] = $fmadd(weights[t], bytemuck::cast(*lanes), acc[i]);
                    }
                }
                store_vectors(&acc, ch.slope, v, period, out);
            }

            /// Copies one channel into the four sub-planes of a stride-2 [`FlatPlane`]. When
            /// rows split evenly into vectors (or vectors into rows), straight from the
            /// channel: each pair of vectors split into evens and odds, each run of lanes that
            /// belongs to one input row stored to its sub-plane row. Otherwise through the
            /// staging space.
            #[target_feature(enable = $feature)]
            fn fill_stride2(
                flat: &FlatPlane,
                plane: &[f32],
                scratch: &mut [f32],
            ) -> Result<(), CnnError> {
                let ow = flat.output_w();
                if plane.len() % (2 * LANES) == 0 {
                    if ow % LANES == 0 {
                        return fill_stride2_runs::<LANES>(flat, plane, scratch);
                    }
                    match ow {
                        4 if LANES % 4 == 0 => return fill_stride2_runs::<4>(flat, plane, scratch),
                        8 if LANES % 8 == 0 => return fill_stride2_runs::<8>(flat, plane, scratch),
                        _ => {}
                    }
                }
                let (evens, odds) = flat.staging(scratch)?;
                deinterleave(plane, evens, odds);
                flat.spread_staged(scratch)
            }

            /// [`fill_stride2`] in runs of `G` lanes, `G` dividing both `LANES` and the output
            /// width.
            #[target_feature(enable = $feature)]
            fn fill_stride2_runs<const G: usize>(
                flat: &FlatPlane,
                plane: &[f32],
                scratch: &mut [f32],
            ) -> Result<(), CnnError> {
                let w = flat.input_w();
                let (mut iy, mut ix) = (0, 0);
                for pair in plane.chunks_exact(2 * LANES) {
                    let (Some(a), Some(b)) = (load(pair), pair.get(LANES..).and_then(load)) else {
                        return Err(INTERNAL_BOUNDS);
                    };
                    let (even, odd) = $split(a, b);
                    let even: [f32; LANES] = bytemuck::cast(even);
                    let odd: [f32; LANES] = bytemuck::cast(odd);
                    for j in 0..LANES / G {
                        let k = 2 * (iy % 2);
                        let at = flat.row_start(k, iy / 2) + ix / 2;
                        let odd_at = flat.row_start(k + 1, iy / 2) + ix / 2;
                        store_run::<G>(&even, j * G, scratch, at)?;
                        store_run::<G>(&odd, j * G, scratch, odd_at)?;
                        ix += 2 * G;
                        if ix >= w {
                            ix = 0;
                            iy += 1;
                        }
                    }
                }
                Ok(())
            }

            /// Lanes `from .. from + G` of `lanes` to `dst[at ..]`.
            #[inline(always)]
            fn store_run<const G: usize>(
                lanes: &[f32; LANES],
                from: usize,
                dst: &mut [f32],
                at: usize,
            ) -> Result<(), CnnError> {
                let src = lanes.get(from..from + G).and_then(|s| <&[f32; G]>::try_from(s).ok());
                let dst = dst.get_mut(at..at + G).and_then(|d| <&mut [f32; G]>::try_from(d).ok());
                match (src, dst) {
                    (Some(src), Some(dst)) => {
                        *dst = *src;
                        Ok(())
                    }
                    _ => Err(INTERNAL_BOUNDS),
                }
            }

            /// The even and odd elements of `src` into `evens` and `odds`, two vectors' worth
            /// at a time with the build's shuffles.
            #[target_feature(enable = $feature)]
            fn deinterleave(src: &[f32], evens: &mut [f32], odds: &mut [f32]) {
                let pairs = src.chunks_exact(2 * LANES);
                let rest = pairs.remainder();
                let done = src.len() / 2 - rest.len() / 2;
                let halves = evens.chunks_exact_mut(LANES).zip(odds.chunks_exact_mut(LANES));
                for (pair, (e, o)) in pairs.zip(halves) {
                    if let (Some(a), Some(b)) = (load(pair), pair.get(LANES..).and_then(load)) {
                        let (even, odd) = $split(a, b);
                        e.copy_from_slice(&bytemuck::cast::<$vector, [f32; LANES]>(even));
                        o.copy_from_slice(&bytemuck::cast::<$vector, [f32; LANES]>(odd));
                    }
                }
                if let (Some(evens), Some(odds)) = (evens.get_mut(done..), odds.get_mut(done..)) {
                    kernels::deinterleave(rest, evens, odds);
                }
            }

            /// A 1×1 convolution on channels-last values: `out[P × M] = X[P × K] · W[K × M]`,
            /// one panel of output channels at a time, `mr` pixels per tile.
            #[target_feature(enable = $feature)]
            pub(in super::super) fn gemm_cl(
                g: &Gemm,
                x: &[f32],
                pixels: usize,
                out: &mut [f32],
            ) -> Result<(), CnnError> {
                let Tile { mr, cols } = g.tile;
                if g.k == 0 || x.len() < pixels * g.k || out.len() < pixels * g.m {
                    return Err(INTERNAL_BOUNDS);
                }
                for (j, panel) in g.panels.chunks_exact(g.k * cols).enumerate() {
                    let c0 = j * cols;
                    let (bias, slopes) = g.epilogue(c0..c0 + cols)?;
                    let job = ClJob {
                        panel,
                        k: g.k,
                        bias,
                        slopes,
                    };
                    for p0 in (0..pixels).step_by(mr) {
                        let rows = mr.min(pixels - p0);
                        let xs = x.get(p0 * g.k..(p0 + rows) * g.k).ok_or(INTERNAL_BOUNDS)?;
                        let dst = out.get_mut(p0 * g.m + c0..).ok_or(INTERNAL_BOUNDS)?;
                        match (mr, cols / LANES) {
                            $(($cmr, $cnv) => cl_tile::<$cmr, $cnv, { $cnv * LANES }>(&job, xs, dst, g.m)?,)+
                            _ => return Err(UNBUILT_TILE),
                        }
                    }
                }
                Ok(())
            }

            /// One tile of [`gemm_cl`]; a partial one (the last pixels) is computed whole into
            /// a local block (its missing pixels repeat the first) and its valid rows copied out.
            #[target_feature(enable = $feature)]
            fn cl_tile<const MR: usize, const NV: usize, const W: usize>(
                job: &ClJob<'_>,
                xs: &[f32],
                out: &mut [f32],
                out_stride: usize,
            ) -> Result<(), CnnError> {
                let k = job.k;
                let rows = xs.len() / k;
                if W != NV * LANES || rows == 0 || job.panel.len() < k * W || job.bias.len() < W {
                    return Err(INTERNAL_BOUNDS);
                }
                if rows == MR && out.len() >= (MR - 1) * out_stride + W {
                    cl_full_tile::<MR, NV, W>(job, xs, out, out_stride);
                    return Ok(());
                }
                // The last pixels of a layer whose pixel count the tile does not divide.
                let mut padded = vec![0.0f32; MR * k];
                padded
                    .get_mut(..xs.len())
                    .ok_or(INTERNAL_BOUNDS)?
                    .copy_from_slice(xs);
                let mut block = [0.0f32; TILE_BLOCK];
                cl_full_tile::<MR, NV, W>(job, &padded, &mut block, W);
                for (r, src) in block.chunks_exact(W).take(rows).enumerate() {
                    out.get_mut(r * out_stride..r * out_stride + W)
                        .ok_or(INTERNAL_BOUNDS)?
                        .copy_from_slice(src);
                }
                Ok(())
            }

            /// `act(bias + X·W)` for `MR` pixels × `W` channels, `xs` the `MR` pixels' rows of
            /// `X`. Straight-line code over `acc`, as in `full_tile`. The rows are cut from
            /// `xs` here, so the compiler knows each is `k` long and reads `X` with plain
            /// broadcast loads (a checked read per pixel became a move and a shuffle, and the
            /// shuffles took the port the AVX-512 multiply-adds need).
            #[target_feature(enable = $feature)]
            #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
            fn cl_full_tile<const MR: usize, const NV: usize, const W: usize>(
                job: &ClJob<'_>,
                xs: &[f32],
                out: &mut [f32],
                out_stride: usize,
            ) {
                let k = job.k.max(1);
                let mut xrows: [&[f32]; MR] = [&[]; MR];
                for (slot, row) in xrows.iter_mut().zip(xs.chunks_exact(k)) {
                    *slot = row;
                }
                // Never taken (the caller passes `MR` rows); it lets the compiler drop the
                // check of every read of a row below.
                for r in 0..MR {
                    if xrows[r].len() < k {
                        return;
                    }
                }
                let mut bias = [$zero(); NV];
                for v in 0..NV {
                    bias[v] = job.bias.get(v * LANES..).and_then(load).unwrap_or($zero());
                }
                let mut acc = [bias; MR];
                let no_row = [0.0f32; W];
                for (wrow, kk) in job.panel.chunks_exact(W).zip(0..k) {
                    let wrow: &[f32; W] = wrow.try_into().unwrap_or(&no_row);
                    let mut wv = [$zero(); NV];
                    for v in 0..NV {
                        wv[v] = wrow.get(v * LANES..).and_then(load).unwrap_or($zero());
                    }
                    for r in 0..MR {
                        let b = $set1(xrows[r].get(kk).copied().unwrap_or(0.0));
                        for v in 0..NV {
                            acc[r][v] = $fmadd(b, wv[v], acc[r][v]);
                        }
                    }
                }
                if let Some(slopes) = job.slopes {
                    let mut s = [$zero(); NV];
                    for v in 0..NV {
                        s[v] = slopes.get(v * LANES..).and_then(load).unwrap_or($zero());
                    }
                    for r in 0..MR {
                        for v in 0..NV {
                            let value = acc[r][v];
                            acc[r][v] = $prelu(value, s[v]);
                        }
                    }
                }
                for r in 0..MR {
                    for v in 0..NV {
                        let lanes: [f32; LANES] = bytemuck::cast(acc[r][v]);
                        let at = r * out_stride + v * LANES;
                        if let Some(dst) = out.get_mut(at..at + LANES) {
                            dst.copy_from_slice(&lanes);
                        }
                    }
                }
            }

            /// A depthwise layer on channels-last values: a vector of channels at a time, over
            /// the taps that fall inside the input (the padding is never read, so nothing is
            /// copied or masked); 4 output pixels of a row at a time, so four sums are in
            /// flight (one alone waits on each multiply-add); a row's last `ow mod 4` alone.
            #[target_feature(enable = $feature)]
            pub(in super::super) fn depthwise_cl(
                d: &ClDepthwise,
                x: &[f32],
                input: Shape,
                out: &mut [f32],
                output: Shape,
            ) -> Result<(), CnnError> {
                if input.c == 1 {
                    depthwise_cl_in::<true>(d, x, input, out, output)
                } else {
                    depthwise_cl_in::<false>(d, x, input, out, output)
                }
            }

            /// [`depthwise_cl`]; `B`: a one-channel input, broadcast to every channel.
            #[target_feature(enable = $feature)]
            fn depthwise_cl_in<const B: bool>(
                d: &ClDepthwise,
                x: &[f32],
                input: Shape,
                out: &mut [f32],
                output: Shape,
            ) -> Result<(), CnnError> {
                let w = d.window;
                let m = output.c;
                let taps = w.kh * w.kw;
                if !m.is_multiple_of(LANES)
                    || taps > FLAT_MAX_TAPS
                    || (!B && input.c != m)
                    || x.len() < input.len()
                    || out.len() < output.len()
                    || d.weights.len() < taps * m
                {
                    return Err(INTERNAL_BOUNDS);
                }
                let pad = w.pad_left as isize;
                for c0 in (0..m).step_by(LANES) {
                    let mut group = ClGroup {
                        x,
                        vectors: bytemuck::try_cast_slice(x.get(..x.len() - x.len() % LANES).unwrap_or(&[]))
                            .unwrap_or(&[]),
                        m,
                        c0,
                        in_w: input.w,
                        stride: w.stride_w,
                        kw: w.kw,
                        weights: [$zero(); FLAT_MAX_TAPS],
                        bias: d.bias.get(c0..).and_then(load).ok_or(INTERNAL_BOUNDS)?,
                    };
                    for (t, slot) in group.weights.iter_mut().enumerate().take(taps) {
                        *slot = d.weights.get(t * m + c0..).and_then(load).ok_or(INTERNAL_BOUNDS)?;
                    }
                    let slope = match &d.act {
                        Act::Identity => None,
                        Act::Leaky(s) => Some(s.get(c0..).and_then(load).ok_or(INTERNAL_BOUNDS)?),
                    };
                    for oy in 0..output.h {
                        let top = (oy * w.stride_h) as isize - w.pad_top as isize;
                        let ky0 = (-top).max(0) as usize;
                        let ky1 = (input.h as isize - top).clamp(0, w.kh as isize) as usize;
                        let rows = (top, ky0, ky1);
                        let row_out = oy * output.w;
                        let mut ox = 0;
                        while ox < output.w {
                            let left = (ox * w.stride_w) as isize - pad;
                            if ox + 4 <= output.w {
                                let acc = match (w.kw, w.stride_w) {
                                    (3, 1) => group.window_pixels::<4, 1, 3, 6, B>(rows, left),
                                    (3, 2) => group.window_pixels::<4, 2, 3, 9, B>(rows, left),
                                    _ => group.pixels::<4, B>(rows, left),
                                };
                                group.store(&acc, slope, row_out + ox, out)?;
                                ox += 4;
                            } else {
                                let acc = group.pixels::<1, B>(rows, left);
                                group.store(&acc, slope, row_out + ox, out)?;
                                ox += 1;
                            }
                        }
                    }
                }
                Ok(())
            }

            /// One vector of channels of a channels-last depthwise layer: its tap weights,
            /// bias and where it reads.
            struct ClGroup<'a> {
                x: &'a [f32],
                /// `x` as vectors of channels.
                vectors: &'a [[f32; LANES]],
                m: usize,
                c0: usize,
                in_w: usize,
                stride: usize,
                kw: usize,
                weights: [$vector; FLAT_MAX_TAPS],
                bias: $vector,
            }

            impl ClGroup<'_> {
                /// The sums of `R` consecutive output pixels of one row, the first with its
                /// window's left column at `left`, over tap rows `ky0 .. ky1` (from input row
                /// `top`; the rows inside the input) and the tap columns inside it. Each tap row
                /// sums apart, so the chains of dependent multiply-adds stay short.
                #[target_feature(enable = $feature)]
                #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
                fn pixels<const R: usize, const B: bool>(
                    &self,
                    (top, ky0, ky1): (isize, usize, usize),
                    left: isize,
                ) -> [$vector; R] {
                    let mut acc = [self.bias; R];
                    let groups = self.m / LANES;
                    let g = self.c0 / LANES;
                    for ky in ky0..ky1 {
                        let row = (top + ky as isize) as usize * self.in_w;
                        let from = ky * self.kw;
                        let taps = self.weights.get(from..from + self.kw).unwrap_or(&[]);
                        let mut part = [$zero(); R];
                        for (kx, w) in taps.iter().enumerate() {
                            for i in 0..R {
                                // A column outside the input (the padding) adds nothing.
                                let ix = (left + (i * self.stride + kx) as isize) as usize;
                                if ix >= self.in_w {
                                    continue;
                                }
                                let xv = if B {
                                    self.x.get(row + ix).map(|v| $set1(*v))
                                } else {
                                    self.vectors.get((row + ix) * groups + g).map(|v| bytemuck::cast(*v))
                                };
                                if let Some(xv) = xv {
                                    part[i] = $fmadd(*w, xv, part[i]);
                                }
                            }
                        }
                        for i in 0..R {
                            acc[i] = $add(acc[i], part[i]);
                        }
                    }
                    acc
                }

                /// [`ClGroup::pixels`] for filters `KW` wide at stride `S`: each tap row loads
                /// the `SPAN = (R - 1)·S + KW` input pixels its `R` outputs read once (zeros for
                /// columns in the padding), then multiplies from registers; each input pixel
                /// serves up to `KW` taps and there is one check per load, not per tap.
                #[target_feature(enable = $feature)]
                #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
                fn window_pixels<
                    const R: usize,
                    const S: usize,
                    const KW: usize,
                    const SPAN: usize,
                    const B: bool,
                >(
                    &self,
                    (top, ky0, ky1): (isize, usize, usize),
                    left: isize,
                ) -> [$vector; R] {
                    if SPAN != (R - 1) * S + KW || self.kw != KW || self.stride != S {
                        return self.pixels::<R, B>((top, ky0, ky1), left);
                    }
                    let mut acc = [self.bias; R];
                    let groups = self.m / LANES;
                    let g = self.c0 / LANES;
                    for ky in ky0..ky1 {
                        let row = (top + ky as isize) as usize * self.in_w;
                        let mut window = [$zero(); SPAN];
                        for j in 0..SPAN {
                            let ix = (left + j as isize) as usize;
                            if ix >= self.in_w {
                                continue;
                            }
                            let xv = if B {
                                self.x.get(row + ix).map(|v| $set1(*v))
                            } else {
                                self.vectors.get((row + ix) * groups + g).map(|v| bytemuck::cast(*v))
                            };
                            window[j] = xv.unwrap_or($zero());
                        }
                        let mut taps = [$zero(); KW];
                        for kx in 0..KW {
                            taps[kx] = self.weights.get(ky * KW + kx).copied().unwrap_or($zero());
                        }
                        let mut part = [$zero(); R];
                        for kx in 0..KW {
                            for i in 0..R {
                                part[i] = $fmadd(taps[kx], window[i * S + kx], part[i]);
                            }
                        }
                        for i in 0..R {
                            acc[i] = $add(acc[i], part[i]);
                        }
                    }
                    acc
                }

                /// Applies the activation and stores `R` output pixels from `pixel` on.
                #[target_feature(enable = $feature)]
                #[allow(clippy::indexing_slicing)] // fixed-size arrays indexed below their const length
                fn store<const R: usize>(
                    &self,
                    acc: &[$vector; R],
                    slope: Option<$vector>,
                    pixel: usize,
                    out: &mut [f32],
                ) -> Result<(), CnnError> {
                    for i in 0..R {
                        let mut value = acc[i];
                        if let Some(s) = slope {
                            value = $prelu(value, s);
                        }
                        let lanes: [f32; LANES] = bytemuck::cast(value);
                        let at = (pixel + i) * self.m + self.c0;
                        out.get_mut(at..at + LANES)
                            .ok_or(INTERNAL_BOUNDS)?
                            .copy_from_slice(&lanes);
                    }
                    Ok(())
                }
            }

            /// A dense layer on a vector: one dot product per output.
            #[target_feature(enable = $feature)]
            pub(in super::super) fn dense(
                d: &Dense,
                x: &[f32],
                out: &mut [f32],
            ) -> Result<(), CnnError> {
                let x = x.get(..d.k).ok_or(INTERNAL_BOUNDS)?;
                let out = out.get_mut(..d.m).ok_or(INTERNAL_BOUNDS)?;
                let blocks = d.k - d.k % LANES;
                let (x_blocks, x_rest) = x.split_at(blocks);
                for (o, ((row, b), dst)) in d
                    .weights
                    .chunks_exact(d.k)
                    .zip(&d.bias)
                    .zip(out.iter_mut())
                    .enumerate()
                {
                    let (w_blocks, w_rest) = row.split_at(blocks);
                    let mut acc = $zero();
                    for (wc, xc) in w_blocks.chunks_exact(LANES).zip(x_blocks.chunks_exact(LANES)) {
                        let (w, v) = (load(wc).ok_or(INTERNAL_BOUNDS)?, load(xc).ok_or(INTERNAL_BOUNDS)?);
                        acc = $fmadd(w, v, acc);
                    }
                    let lanes: [f32; LANES] = bytemuck::cast(acc);
                    let tail: f32 = w_rest.iter().zip(x_rest).map(|(w, v)| w * v).sum();
                    let v = b + lanes.iter().sum::<f32>() + tail;
                    *dst = match slope(&d.act, o) {
                        Some(s) => v.max(0.0) + s * v.min(0.0),
                        None => v,
                    };
                }
                Ok(())
            }
        }
    };
}

simd_kernels!(
    mod avx512,
    feature = "avx512f",
    vector = __m512,
    lanes = 16,
    tiles = [(6, 4), (12, 2), (16, 1)],
    cl_tiles = [(4, 4), (8, 2), (8, 1)],
    set1 = _mm512_set1_ps,
    zero = _mm512_setzero_ps,
    fmadd = _mm512_fmadd_ps,
    mul = _mm512_mul_ps,
    add = _mm512_add_ps,
    prelu = prelu_avx512,
    split = split_avx512,
);

simd_kernels!(
    mod avx2,
    feature = "avx2,fma",
    vector = __m256,
    lanes = 8,
    tiles = [(6, 2), (8, 1)],
    cl_tiles = [(4, 2), (4, 1)],
    set1 = _mm256_set1_ps,
    zero = _mm256_setzero_ps,
    fmadd = _mm256_fmadd_ps,
    mul = _mm256_mul_ps,
    add = _mm256_add_ps,
    prelu = prelu_avx2,
    split = split_avx2,
);

/// `max(v, 0) + slope · min(v, 0)`: the lanes below zero multiplied by the slope, in one
/// compare into a mask register and one masked multiply.
#[target_feature(enable = "avx512f")]
#[inline]
fn prelu_avx512(
    v: std::arch::x86_64::__m512,
    slope: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::{
        _CMP_LT_OQ, _mm512_cmp_ps_mask, _mm512_mask_mul_ps, _mm512_setzero_ps,
    };
    let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, _mm512_setzero_ps());
    _mm512_mask_mul_ps(v, negative, v, slope)
}

/// `max(v, 0) + slope · min(v, 0)`.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn prelu_avx2(
    v: std::arch::x86_64::__m256,
    slope: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_max_ps, _mm256_min_ps, _mm256_mul_ps, _mm256_setzero_ps,
    };
    let zero = _mm256_setzero_ps();
    _mm256_add_ps(
        _mm256_max_ps(v, zero),
        _mm256_mul_ps(slope, _mm256_min_ps(v, zero)),
    )
}

/// Two vectors `a`, `b` (32 consecutive floats) as their 16 even and 16 odd elements.
#[target_feature(enable = "avx512f")]
fn split_avx512(
    a: std::arch::x86_64::__m512,
    b: std::arch::x86_64::__m512,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
    use std::arch::x86_64::{__m512i, _mm512_permutex2var_ps};
    // Index 16 + i is lane i of `b`.
    let even: __m512i = bytemuck::cast(std::array::from_fn::<i32, 16, _>(|i| 2 * i as i32));
    let odd: __m512i = bytemuck::cast(std::array::from_fn::<i32, 16, _>(|i| 2 * i as i32 + 1));
    (
        _mm512_permutex2var_ps(a, even, b),
        _mm512_permutex2var_ps(a, odd, b),
    )
}

/// Two vectors `a`, `b` (16 consecutive floats) as their 8 even and 8 odd elements.
#[target_feature(enable = "avx2,fma")]
fn split_avx2(
    a: std::arch::x86_64::__m256,
    b: std::arch::x86_64::__m256,
) -> (std::arch::x86_64::__m256, std::arch::x86_64::__m256) {
    use std::arch::x86_64::{
        _mm256_castpd_ps, _mm256_castps_pd, _mm256_permute4x64_pd, _mm256_shuffle_ps,
    };
    // Per 128-bit half: a0 a2 b0 b2 | a4 a6 b4 b6 (and the odds); then the 64-bit pairs in
    // the order 0, 2, 1, 3 give a0 a2 a4 a6 b0 b2 b4 b6.
    let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
    let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
    let order = |v| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
    (order(even), order(odd))
}
