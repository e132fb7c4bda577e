//! Runs a prepared network layer by layer: buffers from a pool, each layer's kernel in the build
//! for the network's instruction set. Holds one of the crate's two `unsafe` places (the other is
//! `store::wal_vfs`): the call into the layer loop built for AVX-512 or AVX2 + FMA, made right
//! after the processor reported those instructions (calling such a function on a processor without them is undefined behaviour;
//! nothing else about the call is unsafe).

use super::kernels::{self, Channels, INTERNAL_BOUNDS};
use super::{CnnError, Isa, Network, Op, Workspace};

pub(super) fn run(net: &Network, input: Vec<f32>) -> Result<Vec<Vec<f32>>, CnnError> {
    match net.isa {
        Isa::Portable => run_portable(net, input),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run_avx512_checked(net, input),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => run_avx2_checked(net, input),
        #[cfg(not(target_arch = "x86_64"))]
        Isa::Avx512 | Isa::Avx2Fma => Err(CnnError::IsaUnavailable {
            isa: net.isa.name(),
        }),
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the one call into code built for AVX-512; see the module comment
fn run_avx512_checked(net: &Network, input: Vec<f32>) -> Result<Vec<Vec<f32>>, CnnError> {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        return Err(CnnError::IsaUnavailable { isa: "avx512" });
    }
    // SAFETY: `run_avx512` needs AVX-512F only, which the processor reported just above.
    unsafe { run_avx512(net, input) }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the one call into code built for AVX2 + FMA; see the module comment
fn run_avx2_checked(net: &Network, input: Vec<f32>) -> Result<Vec<Vec<f32>>, CnnError> {
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        return Err(CnnError::IsaUnavailable { isa: "avx2-fma" });
    }
    // SAFETY: `run_avx2` needs AVX2 and FMA only, which the processor reported just above.
    unsafe { run_avx2(net, input) }
}

/// The layer loop, stamped out once per build: `$gemm`, `$depthwise` and `$dense` are that
/// build's kernels; everything else is the portable code, inlined and so compiled for the
/// build's instructions too.
macro_rules! layer_loop {
    (
        $(#[$attr:meta])* fn $name:ident,
        $gemm:path,
        $depthwise:path,
        $dense:path,
        $gemm_cl:path,
        $depthwise_cl:path $(,)?
    ) => {
        $(#[$attr])*
        fn $name(net: &Network, input: Vec<f32>) -> Result<Vec<Vec<f32>>, CnnError> {
            // A value's buffer may be longer than the value (buffers are reused across layers
            // and runs without being cut or zeroed); `lens` holds each value's length.
            let mut values: Vec<Vec<f32>> = vec![Vec::new(); net.value_count];
            let mut lens = vec![0; net.value_count];
            *lens.get_mut(net.input_value).ok_or(INTERNAL_BOUNDS)? = input.len();
            *values.get_mut(net.input_value).ok_or(INTERNAL_BOUNDS)? = input;
            let Workspace {
                mut pool,
                mut scratch,
                mut unfolded,
            } = net
                .workspace
                .try_lock()
                .map(|mut w| std::mem::take(&mut *w))
                .unwrap_or_default();
            for layer in &net.layers {
                let len = layer.output_shape.len();
                let mut buffer = match pool.iter().position(|b| b.len() >= len) {
                    Some(index) => pool.swap_remove(index),
                    None => pool.pop().unwrap_or_default(),
                };
                // Every kernel writes every element of its output, so a pooled buffer's old
                // values need no clearing: a buffer is only zero-filled when it grows
                // (clearing or regrowing it on every layer cost 5-10% of the landmark model).
                if buffer.len() < len {
                    buffer.resize(len, 0.0);
                }
                let out = buffer.get_mut(..len).ok_or(INTERNAL_BOUNDS)?;
                let x = value(&values, &lens, layer.input)?;
                let n = layer.output_shape.plane();
                let channels = if layer.channels_last {
                    Channels::Interleaved(layer.output_shape.c)
                } else {
                    Channels::Planes(n)
                };
                match &layer.op {
                    Op::Pointwise(g) => $gemm(g, x, n, out, &mut scratch)?,
                    Op::Conv(g, window) => {
                        kernels::unfold(
                            x,
                            layer.input_shape,
                            *window,
                            layer.output_shape,
                            &mut unfolded,
                        );
                        $gemm(g, &unfolded, n, out, &mut scratch)?
                    }
                    Op::Depthwise {
                        weights,
                        bias,
                        act,
                        window,
                        flat,
                    } => $depthwise(
                        x,
                        layer.input_shape,
                        weights,
                        bias,
                        act,
                        *window,
                        flat.as_ref(),
                        out,
                        layer.output_shape,
                        &mut scratch,
                    )?,
                    Op::PointwiseCl(g) => $gemm_cl(g, x, n, out)?,
                    Op::DepthwiseCl(d) => {
                        $depthwise_cl(d, x, layer.input_shape, out, layer.output_shape)?
                    }
                    Op::Dense(d) => $dense(d, x, out)?,
                    Op::Add { other, act } => {
                        let y = value(&values, &lens, *other)?;
                        kernels::add(x, y, act, channels, out)
                    }
                    Op::Activation(act) => kernels::activation(x, act, channels, out),
                    Op::Affine { scale, shift } => kernels::affine(x, scale, shift, n, out),
                    Op::Pool { kind, window } => kernels::pool(
                        x,
                        layer.input_shape,
                        *kind,
                        *window,
                        layer.output_shape,
                        out,
                    ),
                    Op::AddPadded {
                        other,
                        other_shape,
                        act,
                    } => {
                        let y = value(&values, &lens, *other)?;
                        kernels::add_padded(
                            (x, layer.input_shape),
                            (y, *other_shape),
                            act,
                            layer.output_shape,
                            out,
                        )
                    }
                }
                *values.get_mut(layer.output).ok_or(INTERNAL_BOUNDS)? = buffer;
                *lens.get_mut(layer.output).ok_or(INTERNAL_BOUNDS)? = len;
                for value in &layer.release {
                    if let Some(buffer) = values.get_mut(*value) {
                        pool.push(std::mem::take(buffer));
                    }
                }
            }
            let outputs = net
                .outputs
                .iter()
                .map(|v| value(&values, &lens, *v).map(<[f32]>::to_vec))
                .collect();
            pool.extend(values.into_iter().filter(|v| !v.is_empty()));
            // The caller's input joins the pool on every run; without a bound the pool (and
            // the search through it) would grow by one buffer per frame for ever. A run never
            // holds more buffers than it has layers plus the input, so keep the largest of those.
            if pool.len() > net.layers.len() {
                pool.sort_unstable_by_key(|b| std::cmp::Reverse(b.len()));
                pool.truncate(net.layers.len());
            }
            if let Ok(mut workspace) = net.workspace.try_lock() {
                *workspace = Workspace {
                    pool,
                    scratch,
                    unfolded,
                };
            }
            outputs
        }
    };
}

/// Value `v`: the first `lens[v]` elements of its buffer.
#[inline(always)]
fn value<'a>(values: &'a [Vec<f32>], lens: &[usize], v: usize) -> Result<&'a [f32], CnnError> {
    let len = lens.get(v).copied().ok_or(INTERNAL_BOUNDS)?;
    values
        .get(v)
        .and_then(|buffer| buffer.get(..len))
        .ok_or(INTERNAL_BOUNDS)
}

layer_loop!(
    fn run_portable,
    kernels::gemm::<false>,
    kernels::depthwise::<false>,
    kernels::dense::<false>,
    kernels::gemm_cl_unplanned,
    kernels::depthwise_cl_unplanned,
);

#[cfg(target_arch = "x86_64")]
layer_loop!(
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2,
    super::x86::avx2::gemm,
    super::x86::avx2::depthwise,
    super::x86::avx2::dense,
    super::x86::avx2::gemm_cl,
    super::x86::avx2::depthwise_cl,
);

#[cfg(target_arch = "x86_64")]
layer_loop!(
    #[target_feature(enable = "avx512f")]
    fn run_avx512,
    super::x86::avx512::gemm,
    super::x86::avx512::depthwise,
    super::x86::avx512::dense,
    super::x86::avx512::gemm_cl,
    super::x86::avx512::depthwise_cl,
);
