//! Networks described in code rather than read from ONNX (the dlib recogniser, whose file holds
//! weights but no graph): convolutions with a folded per-channel affine and ReLU, max and mean
//! pooling, zero-padded residual sums and a dense layer. It checks shapes as layers are added and
//! hands the result to the same planner and kernels as ONNX models; it reads no file.

use super::graph::{Draft, DraftLayer, plan};
use super::{Act, CnnError, Isa, Network, PoolKind, Shape, Window};

/// A value of a network being built (the input or a layer's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value(usize);

/// One convolution: `out_channels × in_channels × kernel_h × kernel_w` weights (row-major, as
/// ONNX and dlib store them), a bias per output channel, then optionally a per-channel
/// `x · scale + shift` and a ReLU, all folded into the one layer.
#[derive(Clone, Debug)]
pub struct ConvSpec {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub pad: usize,
    pub scale_shift: Option<(Vec<f32>, Vec<f32>)>,
    pub relu: bool,
}

/// Builds a [`Network`] layer by layer.
#[derive(Debug)]
pub struct NetworkBuilder {
    shapes: Vec<Shape>,
    drafts: Vec<DraftLayer>,
}

fn relu_for(channels: usize, relu: bool) -> Act {
    if relu {
        Act::Leaky(vec![0.0; channels])
    } else {
        Act::Identity
    }
}

impl NetworkBuilder {
    /// A network taking one `channels × height × width` input (NCHW); returns the input value.
    pub fn new([channels, height, width]: [usize; 3]) -> (NetworkBuilder, Value) {
        let builder = NetworkBuilder {
            shapes: vec![Shape {
                c: channels,
                h: height,
                w: width,
            }],
            drafts: Vec::new(),
        };
        (builder, Value(0))
    }

    fn shape(&self, value: Value) -> Result<Shape, CnnError> {
        self.shapes
            .get(value.0)
            .copied()
            .ok_or_else(|| CnnError::malformed("a value from another network"))
    }

    fn push(&mut self, draft: Draft, input: Value, shape: Shape) -> Value {
        self.shapes.push(shape);
        let output = self.shapes.len() - 1;
        self.drafts.push(DraftLayer {
            draft,
            input: input.0,
            output,
        });
        Value(output)
    }

    /// The output shape of `window` over `input` (no padding beyond `pad`).
    fn windowed(input: Shape, channels: usize, window: Window) -> Result<Shape, CnnError> {
        let padded_h = input.h + 2 * window.pad_top;
        let padded_w = input.w + 2 * window.pad_left;
        if window.stride_h == 0 || window.kh == 0 || padded_h < window.kh || padded_w < window.kw {
            return Err(CnnError::malformed(
                "a window larger than its input, or a zero stride",
            ));
        }
        Ok(Shape {
            c: channels,
            h: (padded_h - window.kh) / window.stride_h + 1,
            w: (padded_w - window.kw) / window.stride_w + 1,
        })
    }

    /// A convolution (see [`ConvSpec`]).
    pub fn conv(&mut self, x: Value, spec: ConvSpec) -> Result<Value, CnnError> {
        let input = self.shape(x)?;
        let [kh, kw] = spec.kernel;
        let m = spec.out_channels;
        let k = input.c * kh * kw;
        if spec.weights.len() != m * k || spec.bias.len() != m {
            return Err(CnnError::malformed(format!(
                "convolution weights {} and bias {} for {m} filters of {k}",
                spec.weights.len(),
                spec.bias.len()
            )));
        }
        let window = Window {
            kh,
            kw,
            stride_h: spec.stride,
            stride_w: spec.stride,
            pad_top: spec.pad,
            pad_left: spec.pad,
        };
        let shape = Self::windowed(input, m, window)?;
        let (mut weights, mut bias) = (spec.weights, spec.bias);
        if let Some((scale, shift)) = &spec.scale_shift {
            if scale.len() != m || shift.len() != m {
                return Err(CnnError::malformed("a scale or shift of the wrong length"));
            }
            for ((row, b), (s, t)) in weights
                .chunks_exact_mut(k)
                .zip(bias.iter_mut())
                .zip(scale.iter().zip(shift))
            {
                row.iter_mut().for_each(|w| *w *= s);
                *b = *b * s + t;
            }
        }
        let draft = Draft::Conv {
            weights,
            bias,
            m,
            k,
            depthwise: false,
            window,
            act: relu_for(m, spec.relu),
        };
        Ok(self.push(draft, x, shape))
    }

    /// Max (`max = true`) or mean pooling over `size × size` windows, `stride` apart, no padding.
    pub fn pool(
        &mut self,
        x: Value,
        max: bool,
        size: usize,
        stride: usize,
    ) -> Result<Value, CnnError> {
        let input = self.shape(x)?;
        let window = Window {
            kh: size,
            kw: size,
            stride_h: stride,
            stride_w: stride,
            pad_top: 0,
            pad_left: 0,
        };
        let shape = Self::windowed(input, input.c, window)?;
        let kind = if max { PoolKind::Max } else { PoolKind::Mean };
        Ok(self.push(Draft::Pool { kind, window }, x, shape))
    }

    /// The mean of each channel over the whole plane.
    pub fn global_mean(&mut self, x: Value) -> Result<Value, CnnError> {
        let input = self.shape(x)?;
        let window = Window {
            kh: input.h,
            kw: input.w,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
        };
        let shape = Self::windowed(input, input.c, window)?;
        Ok(self.push(
            Draft::Pool {
                kind: PoolKind::Mean,
                window,
            },
            x,
            shape,
        ))
    }

    /// `a + b`, each zero-padded to the larger channel count, height and width (aligned at
    /// channel 0 and the top-left pixel), then optionally a ReLU.
    pub fn add_padded(&mut self, a: Value, b: Value, relu: bool) -> Result<Value, CnnError> {
        let (sa, sb) = (self.shape(a)?, self.shape(b)?);
        let shape = Shape {
            c: sa.c.max(sb.c),
            h: sa.h.max(sb.h),
            w: sa.w.max(sb.w),
        };
        let draft = if sa == sb {
            Draft::Add {
                other: b.0,
                act: relu_for(shape.c, relu),
            }
        } else {
            Draft::AddPadded {
                other: b.0,
                act: relu_for(shape.c, relu),
            }
        };
        Ok(self.push(draft, a, shape))
    }

    /// A dense layer on a `k × 1 × 1` value: `m × k` row-major weights, no bias.
    pub fn dense(&mut self, x: Value, weights: Vec<f32>, m: usize) -> Result<Value, CnnError> {
        let input = self.shape(x)?;
        let k = input.len();
        if input.plane() != 1 || weights.len() != m * k {
            return Err(CnnError::malformed(
                "dense weights that do not fit the input",
            ));
        }
        let window = Window {
            kh: 1,
            kw: 1,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
        };
        let draft = Draft::Conv {
            weights,
            bias: vec![0.0; m],
            m,
            k,
            depthwise: false,
            window,
            act: Act::Identity,
        };
        Ok(self.push(draft, x, Shape { c: m, h: 1, w: 1 }))
    }

    /// The network computing `outputs`, prepared for `isa`.
    pub fn finish(self, outputs: &[Value], isa: Isa) -> Result<Network, CnnError> {
        if !isa.available() {
            return Err(CnnError::IsaUnavailable { isa: isa.name() });
        }
        let input = self.shape(Value(0))?;
        plan(
            self.shapes,
            self.drafts,
            input,
            outputs.iter().map(|v| v.0).collect(),
            isa,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn at(x: &[f32], (c, h, w): (usize, usize, usize), ch: usize, y: usize, col: usize) -> f32 {
        if ch < c && y < h && col < w {
            x[(ch * h + y) * w + col]
        } else {
            0.0
        }
    }

    /// The same network written out naively: the reference the planned kernels must match.
    fn naive(
        input: &[f32],
        w: &[f32],
        b: &[f32],
        scale: &[f32],
        shift: &[f32],
        dense: &[f32],
    ) -> Vec<f32> {
        let (c, h) = (5, 9);
        // conv 3×3 stride 2, no padding: 8 × 4 × 4, then affine and ReLU
        let mut conv = vec![0.0; 8 * 16];
        for f in 0..8 {
            for y in 0..4 {
                for x in 0..4 {
                    let mut sum = b[f];
                    for ch in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                sum += w[((f * c + ch) * 3 + ky) * 3 + kx]
                                    * at(input, (c, h, h), ch, 2 * y + ky, 2 * x + kx);
                            }
                        }
                    }
                    conv[(f * 4 + y) * 4 + x] = (sum * scale[f] + shift[f]).max(0.0);
                }
            }
        }
        // mean pool 2×2 stride 2 of the input: 5 × 4 × 4 (the ninth row and column dropped)
        let mut pooled = vec![0.0; 5 * 16];
        for ch in 0..c {
            for y in 0..4 {
                for x in 0..4 {
                    let mut sum = 0.0;
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        sum += at(input, (c, h, h), ch, 2 * y + dy, 2 * x + dx);
                    }
                    pooled[(ch * 4 + y) * 4 + x] = sum / 4.0;
                }
            }
        }
        // zero-padded sum (5 channels + 8 channels → 8), ReLU, mean over the plane, dense 3 × 8
        let mut means = [0.0; 8];
        for (ch, mean) in means.iter_mut().enumerate() {
            let mut sum = 0.0;
            for y in 0..4 {
                for x in 0..4 {
                    let v = at(&pooled, (5, 4, 4), ch, y, x) + at(&conv, (8, 4, 4), ch, y, x);
                    sum += v.max(0.0);
                }
            }
            *mean = sum / 16.0;
        }
        (0..3)
            .map(|o| (0..8).map(|i| dense[o * 8 + i] * means[i]).sum())
            .collect()
    }

    #[test]
    fn a_built_network_matches_the_naive_computation_on_every_instruction_set() {
        let input = values(5 * 81, 1);
        let weights = values(8 * 5 * 9, 2);
        let bias = values(8, 3);
        let scale = values(8, 4);
        let shift = values(8, 5);
        let dense = values(3 * 8, 6);
        let expected = naive(&input, &weights, &bias, &scale, &shift, &dense);
        for isa in Isa::all_available() {
            let (mut builder, x) = NetworkBuilder::new([5, 9, 9]);
            let conv = builder
                .conv(
                    x,
                    ConvSpec {
                        weights: weights.clone(),
                        bias: bias.clone(),
                        out_channels: 8,
                        kernel: [3, 3],
                        stride: 2,
                        pad: 0,
                        scale_shift: Some((scale.clone(), shift.clone())),
                        relu: true,
                    },
                )
                .unwrap();
            let pooled = builder.pool(x, false, 2, 2).unwrap();
            let sum = builder.add_padded(pooled, conv, true).unwrap();
            let mean = builder.global_mean(sum).unwrap();
            let out = builder.dense(mean, dense.clone(), 3).unwrap();
            let net = builder.finish(&[out], isa).unwrap();
            let got = net.run(input.clone()).unwrap().remove(0);
            assert_eq!(got.len(), 3);
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-4, "{isa}: {got:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let (mut builder, x) = NetworkBuilder::new([3, 4, 4]);
        let bad = ConvSpec {
            weights: vec![0.0; 5],
            bias: vec![0.0; 2],
            out_channels: 2,
            kernel: [3, 3],
            stride: 1,
            pad: 1,
            scale_shift: None,
            relu: false,
        };
        assert!(builder.conv(x, bad).is_err());
        assert!(builder.pool(x, true, 5, 2).is_err());
        assert!(
            builder.dense(x, vec![0.0; 48], 1).is_err(),
            "dense needs a 1×1 plane"
        );
    }
}
