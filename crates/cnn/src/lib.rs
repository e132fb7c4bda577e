//! A small, fast executor for the plain convolutional networks of the face engine: convolutions
//! (1×1, general, depthwise), ReLU/PReLU, residual additions, batch normalisation and a dense
//! layer, read from the ONNX file itself. It refuses every graph it does not fully understand,
//! and the caller then runs that model with tract; it knows nothing of what the outputs mean.
//!
//! Why it exists: tract runs the landmark model (40 small convolutions on 64×64) four times
//! slower than onnxruntime, mostly in per-call packing and a generic depthwise loop. Here weights
//! are packed once at load, 1×1 convolutions are one register-blocked matrix product whose
//! epilogue adds the bias and applies the activation, and batch normalisation is folded into the
//! layer before it.
//!
//! Values are stored plane by plane (NCHW) unless the whole network can run channels-last
//! (every channel count a whole number of vectors, a one-channel input, one-pixel outputs): then
//! the SIMD builds keep each pixel's channels together, which is what makes depthwise layers on
//! small planes fast (see `graph::channels_last_fits`).
//!
//! Kernels come in three builds, chosen at load from what the processor reports: AVX-512, AVX2
//! with FMA, and portable Rust. The only `unsafe` of the crate is the call into the first two,
//! made after the processor said it has those instructions (see `exec`).

mod exec;
mod graph;
mod kernels;
mod manual;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::fmt;

pub use manual::{ConvSpec, NetworkBuilder, Value};

/// Why a network cannot be prepared or run by this executor.
#[derive(Debug, thiserror::Error)]
pub enum CnnError {
    #[error("the network uses {what}, which the built-in executor does not run")]
    Unsupported { what: String },
    #[error("the network file is malformed: {detail}")]
    Malformed { detail: String },
    #[error("the input has {got} values, the network takes {expected}")]
    InputSize { expected: usize, got: usize },
    #[error("{isa} instructions are not available on this processor")]
    IsaUnavailable { isa: &'static str },
    #[error("internal error in the built-in executor: {detail}")]
    Internal { detail: &'static str },
}

impl CnnError {
    fn unsupported(what: impl Into<String>) -> Self {
        CnnError::Unsupported { what: what.into() }
    }

    fn malformed(detail: impl Into<String>) -> Self {
        CnnError::Malformed {
            detail: detail.into(),
        }
    }
}

/// The instruction set a network's kernels are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 AVX-512F: 16-lane registers, 32 of them.
    Avx512,
    /// x86-64 AVX2 with fused multiply-add: 8-lane registers.
    Avx2Fma,
    /// Plain Rust, whatever the compiler makes of it on the build target.
    Portable,
}

impl Isa {
    /// The vector width of the build's depthwise kernels (`None`: the portable build, which
    /// has no flat layout).
    fn simd_lanes(self) -> Option<usize> {
        match self {
            Isa::Avx512 => Some(16),
            Isa::Avx2Fma => Some(8),
            Isa::Portable => None,
        }
    }

    /// The fastest instruction set this processor has.
    pub fn detect() -> Isa {
        [Isa::Avx512, Isa::Avx2Fma]
            .into_iter()
            .find(|isa| isa.available())
            .unwrap_or(Isa::Portable)
    }

    /// Whether this processor runs code built for `self`.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2Fma => false,
        }
    }

    /// Every instruction set this processor runs, fastest first.
    pub fn all_available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2Fma, Isa::Portable]
            .into_iter()
            .filter(|isa| isa.available())
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2-fma",
            Isa::Portable => "portable",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Shape of one activation (batch 1): channels × height × width; a vector is `len × 1 × 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    c: usize,
    h: usize,
    w: usize,
}

impl Shape {
    fn len(self) -> usize {
        self.c * self.h * self.w
    }

    fn plane(self) -> usize {
        self.h * self.w
    }
}

/// What a layer applies to its result: nothing, or `max(v, 0) + slope[channel] · min(v, 0)`
/// (ReLU is all slopes 0, PReLU its learnt slopes).
#[derive(Clone, Debug, PartialEq)]
enum Act {
    Identity,
    Leaky(Vec<f32>),
}

/// A matrix product `out[M × N] = W[M × K] · X[K × N] + bias`, then the activation; `W` packed
/// at load into panels of `mr` rows, `k`-major, for the kernel that handles `cols` columns at a
/// time. For channels-last values ([`Op::PointwiseCl`]) the product is `out[P × M] = X[P × K] ·
/// Wᵀ`, and the panels hold `cols` output channels, `k`-major, for a tile of `mr` pixels.
#[derive(Clone, Debug)]
struct Gemm {
    m: usize,
    k: usize,
    tile: Tile,
    panels: Vec<f32>,
    bias: Vec<f32>,
    act: Act,
}

/// A depthwise layer on channels-last values; `weights` tap-major (`weights[t · M + c]`), so
/// one load gives a tap's weights for a vector of channels. A one-channel input feeds every
/// output channel, as in [`Op::Depthwise`].
#[derive(Clone, Debug)]
struct ClDepthwise {
    weights: Vec<f32>,
    bias: Vec<f32>,
    act: Act,
    window: Window,
}

/// Rows and columns of the output a kernel keeps in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tile {
    mr: usize,
    cols: usize,
}

/// A dense layer on a vector (`N = 1`): row-major weights, one dot product per output.
#[derive(Clone, Debug)]
struct Dense {
    m: usize,
    k: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    act: Act,
}

/// Kernel size, stride and zero padding of a spatial filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    kh: usize,
    kw: usize,
    stride_h: usize,
    stride_w: usize,
    pad_top: usize,
    pad_left: usize,
}

#[derive(Clone, Debug)]
enum Op {
    /// 1×1, stride 1, no padding: the input planes are the matrix `X`.
    Pointwise(Gemm),
    /// Any other ungrouped convolution: the input unfolded into columns, then a matrix product.
    Conv(Gemm, Window),
    /// One filter per channel; with a one-channel input, one filter per output channel, all
    /// reading that plane.
    Depthwise {
        weights: Vec<f32>,
        bias: Vec<f32>,
        act: Act,
        window: Window,
        /// The flat layout the SIMD builds use when the layer's shape allows it (`None`: the
        /// phase-split layout, which the portable build always uses).
        flat: Option<kernels::FlatPlane>,
    },
    /// [`Op::Pointwise`] on channels-last values.
    PointwiseCl(Gemm),
    /// [`Op::Depthwise`] on channels-last values.
    DepthwiseCl(ClDepthwise),
    Dense(Dense),
    /// Element-wise sum with a second value of the same shape.
    Add {
        other: usize,
        act: Act,
    },
    Activation(Act),
    /// Per-channel `x · scale + shift` (a batch normalisation nothing could absorb).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// Max or mean over each window (no padding: a window is clipped to the plane, an odd
    /// trailing row or column that starts no window is dropped).
    Pool {
        kind: PoolKind,
        window: Window,
    },
    /// Element-wise sum of values that may differ in channels, height and width: both aligned
    /// at channel 0 and the top-left pixel, the smaller zero-padded to the larger (dlib's
    /// `add_prev`).
    AddPadded {
        other: usize,
        other_shape: Shape,
        act: Act,
    },
}

/// What a pooling layer takes of its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    Mean,
}

#[derive(Clone, Debug)]
struct Layer {
    op: Op,
    input: usize,
    input_shape: Shape,
    output: usize,
    output_shape: Shape,
    /// Whether the layer's values are stored channels-last (pixel by pixel, the channels of a
    /// pixel together) rather than plane by plane; see `graph::channels_last`.
    channels_last: bool,
    /// Values whose last reader is this layer: their buffers are reused afterwards.
    release: Vec<usize>,
}

/// Buffers kept from one run to the next: allocating the larger activations afresh on every
/// run cost page faults (glibc maps blocks above 128 KiB straight from the kernel).
#[derive(Debug, Default)]
struct Workspace {
    pool: Vec<Vec<f32>>,
    scratch: Vec<f32>,
    unfolded: Vec<f32>,
}

/// A network prepared for one input shape and one instruction set.
pub struct Network {
    isa: Isa,
    input_shape: Shape,
    input_value: usize,
    value_count: usize,
    layers: Vec<Layer>,
    outputs: Vec<usize>,
    /// Taken for the length of a run; a concurrent run on another thread uses a fresh one.
    workspace: std::sync::Mutex<Workspace>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("isa", &self.isa)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl Network {
    /// Reads an ONNX model for a `1 × channels × height × width` input and prepares it for `isa`.
    /// Fails with [`CnnError::Unsupported`] for anything outside the operators listed in the
    /// module documentation.
    pub fn from_onnx(
        bytes: &[u8],
        [channels, height, width]: [usize; 3],
        isa: Isa,
    ) -> Result<Network, CnnError> {
        if !isa.available() {
            return Err(CnnError::IsaUnavailable { isa: isa.name() });
        }
        let shape = Shape {
            c: channels,
            h: height,
            w: width,
        };
        graph::build(bytes, shape, isa)
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs the network on NCHW data of the prepared shape; returns every graph output flattened.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>, CnnError> {
        if input.len() != self.input_shape.len() {
            return Err(CnnError::InputSize {
                expected: self.input_shape.len(),
                got: input.len(),
            });
        }
        exec::run(self, input)
    }
}

#[cfg(test)]
mod tests;
