//! Turns an ONNX graph into the executor's layers: checks every operator and attribute the
//! kernels rely on, infers shapes, folds batch normalisation into the layer before it, fuses
//! activations into their producer, packs weights for the chosen kernels and decides when each
//! buffer can be reused. It runs nothing.

use std::collections::HashMap;
use std::io::Cursor;

use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

use super::kernels::{FLAT_MAX_TAPS, FlatPlane, cl_tile_for, is_global, tile_for};
use super::{
    Act, ClDepthwise, CnnError, Dense, Gemm, Isa, Layer, Network, Op, PoolKind, Shape, Window,
};

/// ONNX `TensorProto.DataType` codes read here.
const ONNX_FLOAT: i32 = 1;
const ONNX_INT64: i32 = 7;

/// A layer before packing: convolutions keep plain row-major weights so a following batch
/// normalisation can still be folded into them.
#[derive(Debug)]
pub(super) enum Draft {
    Conv {
        /// `m × k` row-major, `k = in_channels_per_group · kh · kw`.
        weights: Vec<f32>,
        bias: Vec<f32>,
        m: usize,
        k: usize,
        depthwise: bool,
        window: Window,
        act: Act,
    },
    Add {
        other: usize,
        act: Act,
    },
    Activation(Act),
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    Pool {
        kind: PoolKind,
        window: Window,
    },
    AddPadded {
        other: usize,
        act: Act,
    },
}

#[derive(Debug)]
pub(super) struct DraftLayer {
    pub(super) draft: Draft,
    pub(super) input: usize,
    pub(super) output: usize,
}

/// Where a named value comes from: the draft that writes it, or something that cannot absorb a
/// following operator (the graph input, a reshape of another value).
#[derive(Clone, Copy, Debug)]
enum Origin {
    Draft(usize),
    Other,
}

struct Builder<'a> {
    initializers: HashMap<&'a str, &'a TensorProto>,
    /// How many nodes (and graph outputs) read each name.
    readers: HashMap<&'a str, usize>,
    names: HashMap<String, (usize, Origin)>,
    shapes: Vec<Shape>,
    drafts: Vec<DraftLayer>,
}

pub(super) fn build(bytes: &[u8], input_shape: Shape, isa: Isa) -> Result<Network, CnnError> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut Cursor::new(bytes))
        .map_err(|e| CnnError::malformed(format!("{e}")))?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| CnnError::malformed("no graph"))?;
    if input_shape.len() == 0 {
        return Err(CnnError::malformed("the input shape has no values"));
    }
    let initializers: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|name| !initializers.contains_key(name))
        .collect();
    let [input_name] = inputs.as_slice() else {
        return Err(CnnError::unsupported(format!(
            "{} graph inputs (one image input expected)",
            inputs.len()
        )));
    };
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for name in graph
        .node
        .iter()
        .flat_map(|n| n.input.iter())
        .chain(graph.output.iter().map(|o| &o.name))
    {
        *readers.entry(name.as_str()).or_default() += 1;
    }
    let mut builder = Builder {
        initializers,
        readers,
        names: HashMap::new(),
        shapes: vec![input_shape],
        drafts: Vec::new(),
    };
    builder
        .names
        .insert((*input_name).to_string(), (0, Origin::Other));
    for node in &graph.node {
        builder.node(node)?;
    }
    let outputs = graph
        .output
        .iter()
        .map(|o| builder.value(&o.name).map(|(v, _)| v))
        .collect::<Result<Vec<_>, _>>()?;
    if outputs.is_empty() {
        return Err(CnnError::malformed("no graph output"));
    }
    builder.finish(input_shape, outputs, isa)
}

impl<'a> Builder<'a> {
    fn node(&mut self, node: &'a NodeProto) -> Result<(), CnnError> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(CnnError::unsupported(format!(
                "operator domain {:?}",
                node.domain
            )));
        }
        let output = match node.output.as_slice() {
            [one] => one.as_str(),
            [one, rest @ ..] if rest.iter().all(|r| !self.readers.contains_key(r.as_str())) => {
                one.as_str() // BatchNormalization's training outputs, unread
            }
            _ => {
                return Err(CnnError::unsupported(format!(
                    "{} with several outputs",
                    node.op_type
                )));
            }
        };
        match node.op_type.as_str() {
            "Conv" => self.conv(node, output),
            "Relu" => {
                let (input, shape) = self.first_input(node)?;
                self.activation(output, input, Act::Leaky(vec![0.0; shape.c]))
            }
            "PRelu" => {
                let (input, shape) = self.first_input(node)?;
                let slope = self.constant(node, 1)?;
                let slopes = per_channel(&slope, shape.c, "PRelu slope")?;
                self.activation(output, input, Act::Leaky(slopes))
            }
            "BatchNormalization" => self.batch_norm(node, output),
            "Add" => self.add(node, output),
            "Flatten" => {
                let (input, shape) = self.first_input(node)?;
                let axis = attr_int(node, "axis").unwrap_or(1);
                if axis != 1 {
                    return Err(CnnError::unsupported(format!("Flatten on axis {axis}")));
                }
                self.alias(output, input, flat(shape))
            }
            "Reshape" => self.reshape(node, output),
            "Identity" | "Dropout" => {
                let (input, shape) = self.first_input(node)?;
                self.alias(output, input, shape)
            }
            "Gemm" => self.gemm(node, output),
            other => Err(CnnError::unsupported(format!("the {other} operator"))),
        }
    }

    fn value(&self, name: &str) -> Result<(usize, Origin), CnnError> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| CnnError::malformed(format!("value {name:?} is read before written")))
    }

    fn shape(&self, value: usize) -> Result<Shape, CnnError> {
        self.shapes.get(value).copied().ok_or(CnnError::Internal {
            detail: "value without a shape",
        })
    }

    fn first_input(&self, node: &'a NodeProto) -> Result<(&'a str, Shape), CnnError> {
        let name = node
            .input
            .first()
            .ok_or_else(|| CnnError::malformed(format!("{} without input", node.op_type)))?;
        let (value, _) = self.value(name)?;
        Ok((name.as_str(), self.shape(value)?))
    }

    fn new_value(&mut self, shape: Shape) -> usize {
        self.shapes.push(shape);
        self.shapes.len() - 1
    }

    fn alias(&mut self, output: &str, input: &str, shape: Shape) -> Result<(), CnnError> {
        let (value, _) = self.value(input)?;
        let old = self.shape(value)?;
        if old.len() != shape.len() {
            return Err(CnnError::malformed(
                "a reshape changes the number of values",
            ));
        }
        // A reshape keeps the data; it gets its own value id only so shapes stay exact.
        let copy = self.new_value(shape);
        self.drafts.push(DraftLayer {
            draft: Draft::Activation(Act::Identity),
            input: value,
            output: copy,
        });
        self.names.insert(output.to_string(), (copy, Origin::Other));
        Ok(())
    }

    fn push(&mut self, output: &str, draft: Draft, input: usize, shape: Shape) {
        let value = self.new_value(shape);
        self.drafts.push(DraftLayer {
            draft,
            input,
            output: value,
        });
        self.names.insert(
            output.to_string(),
            (value, Origin::Draft(self.drafts.len() - 1)),
        );
    }

    /// The draft writing `input`, when nothing but this node reads it (so this node's work can
    /// move into that draft).
    fn sole_producer(&self, input: &str) -> Result<Option<usize>, CnnError> {
        let (_, origin) = self.value(input)?;
        let only_reader = self.readers.get(input).copied() == Some(1);
        Ok(match origin {
            Origin::Draft(index) if only_reader => Some(index),
            _ => None,
        })
    }

    fn constant(&self, node: &NodeProto, index: usize) -> Result<Vec<f32>, CnnError> {
        let name = node
            .input
            .get(index)
            .ok_or_else(|| CnnError::malformed(format!("{} lacks input {index}", node.op_type)))?;
        let tensor = self.initializers.get(name.as_str()).ok_or_else(|| {
            CnnError::unsupported(format!("a computed weight input of {}", node.op_type))
        })?;
        floats(tensor)
    }

    fn optional_constant(
        &self,
        node: &NodeProto,
        index: usize,
    ) -> Result<Option<Vec<f32>>, CnnError> {
        match node.input.get(index) {
            Some(name) if !name.is_empty() => self.constant(node, index).map(Some),
            _ => Ok(None),
        }
    }

    fn conv(&mut self, node: &'a NodeProto, output: &str) -> Result<(), CnnError> {
        let (input, shape) = self.first_input(node)?;
        let (value, _) = self.value(input)?;
        let weight_name = node
            .input
            .get(1)
            .ok_or_else(|| CnnError::malformed("Conv without weights"))?;
        let weight_tensor = self
            .initializers
            .get(weight_name.as_str())
            .ok_or_else(|| CnnError::unsupported("computed convolution weights"))?;
        let dims = dims(weight_tensor)?;
        let [m, per_group, kh, kw] = dims.as_slice() else {
            return Err(CnnError::unsupported(format!(
                "a convolution with weights of rank {}",
                dims.len()
            )));
        };
        let (m, per_group, kh, kw) = (*m, *per_group, *kh, *kw);
        let weights = floats(weight_tensor)?;
        let group = usize_attr(node, "group")?.unwrap_or(1);
        if let Some(kernel) = ints_attr(node, "kernel_shape")?
            && kernel != [kh, kw]
        {
            return Err(CnnError::malformed(
                "kernel_shape disagrees with the weights",
            ));
        }
        if let Some(dilations) = ints_attr(node, "dilations")?
            && dilations.iter().any(|d| *d != 1)
        {
            return Err(CnnError::unsupported("dilated convolutions"));
        }
        if let Some(auto_pad) = attr(node, "auto_pad")
            && !matches!(auto_pad.s.as_slice(), b"NOTSET" | b"VALID" | b"")
        {
            return Err(CnnError::unsupported("auto_pad SAME_*"));
        }
        let strides = ints_attr(node, "strides")?.unwrap_or_else(|| vec![1, 1]);
        let pads = ints_attr(node, "pads")?.unwrap_or_else(|| vec![0, 0, 0, 0]);
        let ([stride_h, stride_w], [pad_top, pad_left, pad_bottom, pad_right]) =
            (strides.as_slice(), pads.as_slice())
        else {
            return Err(CnnError::unsupported("a convolution that is not 2-D"));
        };
        let window = Window {
            kh,
            kw,
            stride_h: *stride_h,
            stride_w: *stride_w,
            pad_top: *pad_top,
            pad_left: *pad_left,
        };
        if window.stride_h == 0 || window.stride_w == 0 || kh == 0 || kw == 0 {
            return Err(CnnError::malformed("a zero stride or kernel size"));
        }
        let padded_h = shape.h + pad_top + pad_bottom;
        let padded_w = shape.w + pad_left + pad_right;
        if padded_h < kh || padded_w < kw {
            return Err(CnnError::malformed("a kernel larger than its padded input"));
        }
        let out = Shape {
            c: m,
            h: (padded_h - kh) / window.stride_h + 1,
            w: (padded_w - kw) / window.stride_w + 1,
        };
        let depthwise = if group == 1 && per_group == shape.c {
            false
        } else if group == shape.c && m == shape.c && per_group == 1 && group > 1 {
            true
        } else {
            return Err(CnnError::unsupported(format!(
                "a grouped convolution ({group} groups, {} → {m} channels)",
                shape.c
            )));
        };
        let k = per_group * kh * kw;
        if weights.len() != m * k {
            return Err(CnnError::malformed("convolution weights of the wrong size"));
        }
        let bias = match self.optional_constant(node, 2)? {
            Some(bias) if bias.len() == m => bias,
            Some(_) => return Err(CnnError::malformed("a convolution bias of the wrong size")),
            None => vec![0.0; m],
        };
        let draft = Draft::Conv {
            weights,
            bias,
            m,
            k,
            depthwise,
            window,
            act: Act::Identity,
        };
        self.push(output, draft, value, out);
        Ok(())
    }

    fn gemm(&mut self, node: &'a NodeProto, output: &str) -> Result<(), CnnError> {
        let (input, shape) = self.first_input(node)?;
        let (value, _) = self.value(input)?;
        if shape.h != 1 || shape.w != 1 {
            return Err(CnnError::unsupported("Gemm on an unflattened input"));
        }
        if attr_int(node, "transA").unwrap_or(0) != 0 {
            return Err(CnnError::unsupported("Gemm with transA"));
        }
        let b_name = node
            .input
            .get(1)
            .ok_or_else(|| CnnError::malformed("Gemm without B"))?;
        let b_tensor = self
            .initializers
            .get(b_name.as_str())
            .ok_or_else(|| CnnError::unsupported("a computed Gemm weight"))?;
        let b_dims = dims(b_tensor)?;
        let b = floats(b_tensor)?;
        let k = shape.c;
        let trans_b = attr_int(node, "transB").unwrap_or(0) != 0;
        let m = match (b_dims.as_slice(), trans_b) {
            ([rows, cols], true) if *cols == k => *rows,
            ([rows, cols], false) if *rows == k => *cols,
            _ => return Err(CnnError::malformed("Gemm weights do not fit its input")),
        };
        let alpha = attr_float(node, "alpha").unwrap_or(1.0);
        let beta = attr_float(node, "beta").unwrap_or(1.0);
        let mut weights = vec![0.0; m * k];
        for (row, out_row) in weights.chunks_exact_mut(k).enumerate() {
            for (col, w) in out_row.iter_mut().enumerate() {
                let at = if trans_b {
                    row * k + col
                } else {
                    col * m + row
                };
                *w = alpha * b.get(at).copied().unwrap_or(0.0);
            }
        }
        let bias = match self.optional_constant(node, 2)? {
            Some(c) if c.len() == m => c.iter().map(|v| beta * v).collect(),
            Some(c) if c.len() == 1 => vec![beta * c.first().copied().unwrap_or(0.0); m],
            Some(_) => return Err(CnnError::unsupported("a Gemm bias that is not a vector")),
            None => vec![0.0; m],
        };
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
            bias,
            m,
            k,
            depthwise: false,
            window,
            act: Act::Identity,
        };
        self.push(output, draft, value, flat(Shape { c: m, h: 1, w: 1 }));
        Ok(())
    }

    fn activation(&mut self, output: &str, input: &str, act: Act) -> Result<(), CnnError> {
        let (value, _) = self.value(input)?;
        let shape = self.shape(value)?;
        if let Some(index) = self.sole_producer(input)?
            && let Some(layer) = self.drafts.get_mut(index)
        {
            let slot = match &mut layer.draft {
                Draft::Conv { act, .. } | Draft::Add { act, .. } | Draft::AddPadded { act, .. } => {
                    Some(act)
                }
                Draft::Activation(_) | Draft::Affine { .. } | Draft::Pool { .. } => None,
            };
            if let Some(slot) = slot
                && *slot == Act::Identity
            {
                *slot = act;
                self.names
                    .insert(output.to_string(), (value, Origin::Draft(index)));
                return Ok(());
            }
        }
        self.push(output, Draft::Activation(act), value, shape);
        Ok(())
    }

    fn batch_norm(&mut self, node: &'a NodeProto, output: &str) -> Result<(), CnnError> {
        let (input, shape) = self.first_input(node)?;
        let (value, _) = self.value(input)?;
        let epsilon = attr_float(node, "epsilon").unwrap_or(1e-5);
        let gamma = per_channel(&self.constant(node, 1)?, shape.c, "batch norm scale")?;
        let beta = per_channel(&self.constant(node, 2)?, shape.c, "batch norm bias")?;
        let mean = per_channel(&self.constant(node, 3)?, shape.c, "batch norm mean")?;
        let var = per_channel(&self.constant(node, 4)?, shape.c, "batch norm variance")?;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + epsilon).sqrt())
            .collect();
        let shift: Vec<f32> = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        if let Some(index) = self.sole_producer(input)?
            && let Some(layer) = self.drafts.get_mut(index)
            && let Draft::Conv {
                weights,
                bias,
                k,
                act: Act::Identity,
                ..
            } = &mut layer.draft
        {
            let k = *k;
            for ((row, b), (s, t)) in weights
                .chunks_exact_mut(k)
                .zip(bias.iter_mut())
                .zip(scale.iter().zip(&shift))
            {
                row.iter_mut().for_each(|w| *w = flush_subnormal(*w * s));
                *b = flush_subnormal(*b * s + t);
            }
            self.names
                .insert(output.to_string(), (value, Origin::Draft(index)));
            return Ok(());
        }
        self.push(output, Draft::Affine { scale, shift }, value, shape);
        Ok(())
    }

    fn add(&mut self, node: &'a NodeProto, output: &str) -> Result<(), CnnError> {
        let [a, b] = node.input.as_slice() else {
            return Err(CnnError::malformed("Add without two inputs"));
        };
        if self.initializers.contains_key(a.as_str()) || self.initializers.contains_key(b.as_str())
        {
            return Err(CnnError::unsupported("Add of a constant"));
        }
        let (a, _) = self.value(a)?;
        let (b, _) = self.value(b)?;
        let shape = self.shape(a)?;
        if self.shape(b)? != shape {
            return Err(CnnError::unsupported("a broadcasting Add"));
        }
        let draft = Draft::Add {
            other: b,
            act: Act::Identity,
        };
        self.push(output, draft, a, shape);
        Ok(())
    }

    fn reshape(&mut self, node: &'a NodeProto, output: &str) -> Result<(), CnnError> {
        let (input, shape) = self.first_input(node)?;
        let target_name = node
            .input
            .get(1)
            .ok_or_else(|| CnnError::malformed("Reshape without a shape"))?;
        let target = self
            .initializers
            .get(target_name.as_str())
            .ok_or_else(|| CnnError::unsupported("a computed Reshape shape"))?;
        let target = int64s(target)?;
        let total = shape.len() as i64;
        // ONNX: 0 copies the input's dimension at that position, -1 takes what is left.
        let input_dims = [1, shape.c as i64, shape.h as i64, shape.w as i64];
        let copied: Vec<i64> = target
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                0 => input_dims.get(i).copied().unwrap_or(0),
                d => *d,
            })
            .collect();
        let known: i64 = copied.iter().filter(|d| **d > 0).product();
        let resolved: Vec<i64> = copied
            .iter()
            .map(|d| match d {
                -1 if known > 0 => total / known,
                d => *d,
            })
            .collect();
        if resolved.iter().product::<i64>() != total || resolved.first() != Some(&1) {
            return Err(CnnError::unsupported(
                "a Reshape that is not a batch-1 flatten",
            ));
        }
        let new_shape = match resolved.as_slice() {
            [1, len] => Shape {
                c: usize::try_from(*len).unwrap_or(0),
                h: 1,
                w: 1,
            },
            [1, c, h, w] => Shape {
                c: usize::try_from(*c).unwrap_or(0),
                h: usize::try_from(*h).unwrap_or(0),
                w: usize::try_from(*w).unwrap_or(0),
            },
            _ => return Err(CnnError::unsupported("a Reshape to rank 3 or above 4")),
        };
        self.alias(output, input, new_shape)
    }

    fn finish(
        self,
        input_shape: Shape,
        outputs: Vec<usize>,
        isa: Isa,
    ) -> Result<Network, CnnError> {
        plan(self.shapes, self.drafts, input_shape, outputs, isa)
    }
}

/// Packs drafts into the executor's layers for `isa` (value 0 is the input; `shapes` holds every
/// value's shape): picks each convolution's kernel, the layout, and when buffers are released.
pub(super) fn plan(
    shapes: Vec<Shape>,
    drafts: Vec<DraftLayer>,
    input_shape: Shape,
    outputs: Vec<usize>,
    isa: Isa,
) -> Result<Network, CnnError> {
    {
        let mut layers = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let input_shape = *shapes.get(draft.input).ok_or(CnnError::Internal {
                detail: "draft input without a shape",
            })?;
            let output_shape = *shapes.get(draft.output).ok_or(CnnError::Internal {
                detail: "draft output without a shape",
            })?;
            let op = match draft.draft {
                // A convolution of a one-channel input is a depthwise layer whose channels
                // all read that plane: same weight layout, and the depthwise kernels handle
                // small kernels on large planes far better than an unfolded product.
                Draft::Conv {
                    weights,
                    bias,
                    m,
                    k,
                    depthwise,
                    window,
                    act,
                } if depthwise
                    || (input_shape.c == 1
                        && m > 1
                        && k == window.kh * window.kw
                        && !is_global(input_shape, window, output_shape)) =>
                {
                    Op::Depthwise {
                        weights,
                        bias,
                        act,
                        window,
                        flat: isa
                            .simd_lanes()
                            .filter(|_| !is_global(input_shape, window, output_shape))
                            .and_then(|lanes| {
                                FlatPlane::new(input_shape, window, output_shape, lanes)
                            }),
                    }
                }
                Draft::Conv {
                    weights,
                    bias,
                    m,
                    k,
                    depthwise: _,
                    window,
                    act,
                } => {
                    let n = output_shape.plane();
                    let pointwise = window.kh == 1
                        && window.kw == 1
                        && window.stride_h == 1
                        && window.stride_w == 1
                        && window.pad_top == 0
                        && window.pad_left == 0
                        && input_shape.plane() == n;
                    if n == 1 && pointwise {
                        Op::Dense(Dense {
                            m,
                            k,
                            weights,
                            bias,
                            act,
                        })
                    } else {
                        let gemm = pack(m, k, &weights, bias, act, tile_for(isa, n));
                        if pointwise {
                            Op::Pointwise(gemm)
                        } else {
                            Op::Conv(gemm, window)
                        }
                    }
                }
                Draft::Add { other, act } => Op::Add { other, act },
                Draft::Activation(act) => Op::Activation(act),
                Draft::Affine { scale, shift } => Op::Affine { scale, shift },
                Draft::Pool { kind, window } => Op::Pool { kind, window },
                Draft::AddPadded { other, act } => Op::AddPadded {
                    other,
                    other_shape: *shapes.get(other).ok_or(CnnError::Internal {
                        detail: "added value without a shape",
                    })?,
                    act,
                },
            };
            layers.push(Layer {
                op,
                input: draft.input,
                input_shape,
                output: draft.output,
                output_shape,
                channels_last: false,
                release: Vec::new(),
            });
        }
        let output_shapes = outputs
            .iter()
            .map(|v| shapes.get(*v).copied())
            .collect::<Option<Vec<Shape>>>()
            .ok_or(CnnError::Internal {
                detail: "output without a shape",
            })?;
        if channels_last_fits(&layers, input_shape, &output_shapes, isa) {
            for layer in &mut layers {
                to_channels_last(layer, isa)?;
            }
        }
        // A value's buffer goes back to the pool after its last reader, unless it is an output.
        let mut last_reader: HashMap<usize, usize> = HashMap::new();
        for (index, layer) in layers.iter().enumerate() {
            last_reader.insert(layer.input, index);
            if let Op::Add { other, .. } | Op::AddPadded { other, .. } = layer.op {
                last_reader.insert(other, index);
            }
        }
        for (value, index) in last_reader {
            if outputs.contains(&value) {
                continue;
            }
            if let Some(layer) = layers.get_mut(index) {
                layer.release.push(value);
            }
        }
        Ok(Network {
            isa,
            input_shape,
            input_value: 0,
            value_count: shapes.len(),
            layers,
            outputs,
            workspace: Default::default(),
        })
    }
}

/// A value that reads the same in both layouts: one channel, or one pixel.
fn layout_neutral(shape: Shape) -> bool {
    shape.c == 1 || shape.plane() == 1
}

/// Whether the whole network can run channels-last on `isa`: every layer has a channels-last
/// kernel there (1×1 convolutions and depthwise layers over whole vectors of channels, sums,
/// activations, dense layers) and the input and outputs read the same in both layouts, so no
/// value is ever transposed. Channels-last is what makes small planes fast: a depthwise filter
/// on a 4×4 or 8×8 plane works on a vector of channels per pixel instead of on rows shorter
/// than a vector, and needs no padded copy of each plane.
fn channels_last_fits(layers: &[Layer], input: Shape, outputs: &[Shape], isa: Isa) -> bool {
    let Some(lanes) = isa.simd_lanes() else {
        return false;
    };
    let spatial = layers.iter().any(|l| {
        matches!(l.op, Op::Pointwise(_) | Op::Depthwise { .. }) && l.output_shape.plane() > 1
    });
    spatial
        && layout_neutral(input)
        && outputs.iter().all(|s| layout_neutral(*s))
        && layers.iter().all(|l| match &l.op {
            Op::Pointwise(g) => cl_tile_for(isa, g.m).is_some(),
            Op::Depthwise { window, .. } => {
                l.output_shape.c.is_multiple_of(lanes)
                    && (l.input_shape.c == 1 || l.input_shape.c == l.output_shape.c)
                    && window.kh * window.kw <= FLAT_MAX_TAPS
            }
            Op::Dense(_) | Op::Add { .. } => true,
            Op::Activation(_) => {
                l.input_shape == l.output_shape
                    || (layout_neutral(l.input_shape) && layout_neutral(l.output_shape))
            }
            Op::Conv(..)
            | Op::Affine { .. }
            | Op::PointwiseCl(_)
            | Op::DepthwiseCl(_)
            | Op::Pool { .. }
            | Op::AddPadded { .. } => false,
        })
}

/// Rewrites a layer planned plane by plane for channels-last values (see
/// [`channels_last_fits`]): 1×1 weights repacked by output-channel panels, depthwise weights
/// made tap-major.
fn to_channels_last(layer: &mut Layer, isa: Isa) -> Result<(), CnnError> {
    layer.channels_last = true;
    let op = std::mem::replace(&mut layer.op, Op::Activation(Act::Identity));
    layer.op = match op {
        Op::Pointwise(g) => {
            let tile = cl_tile_for(isa, g.m).ok_or(CnnError::Internal {
                detail: "no channels-last tile for a planned layer",
            })?;
            let weights = unpack(&g);
            let mut panels = vec![0.0; g.m * g.k];
            for (j, panel) in panels.chunks_exact_mut(g.k * tile.cols).enumerate() {
                for (kk, row) in panel.chunks_exact_mut(tile.cols).enumerate() {
                    for (cc, slot) in row.iter_mut().enumerate() {
                        let c = j * tile.cols + cc;
                        *slot = weights.get(c * g.k + kk).copied().unwrap_or(0.0);
                    }
                }
            }
            Op::PointwiseCl(Gemm {
                m: g.m,
                k: g.k,
                tile,
                panels,
                bias: g.bias,
                act: g.act,
            })
        }
        Op::Depthwise {
            weights,
            bias,
            act,
            window,
            flat: _,
        } => {
            let (m, taps) = (layer.output_shape.c, window.kh * window.kw);
            let mut tap_major = vec![0.0; m * taps];
            for (t, row) in tap_major.chunks_exact_mut(m).enumerate() {
                for (c, slot) in row.iter_mut().enumerate() {
                    *slot = weights.get(c * taps + t).copied().unwrap_or(0.0);
                }
            }
            Op::DepthwiseCl(ClDepthwise {
                weights: tap_major,
                bias,
                act,
                window,
            })
        }
        other => other,
    };
    Ok(())
}

/// The `m × k` row-major weights of a packed layer (the inverse of [`pack`]).
fn unpack(g: &Gemm) -> Vec<f32> {
    let mut weights = vec![0.0; g.m * g.k];
    for (p, panel) in g.panels.chunks_exact(g.k * g.tile.mr).enumerate() {
        for (kk, column) in panel.chunks_exact(g.tile.mr).enumerate() {
            for (r, w) in column.iter().enumerate() {
                if let Some(slot) = weights.get_mut((p * g.tile.mr + r) * g.k + kk) {
                    *slot = *w;
                }
            }
        }
    }
    weights
}

/// Packs `m × k` row-major weights into `tile.mr`-row panels, `k`-major, zero-filled past `m`.
fn pack(m: usize, k: usize, weights: &[f32], bias: Vec<f32>, act: Act, tile: super::Tile) -> Gemm {
    let panel_count = m.div_ceil(tile.mr);
    let mut panels = vec![0.0; panel_count * k * tile.mr];
    for (p, panel) in panels.chunks_exact_mut(k * tile.mr).enumerate() {
        for (kk, column) in panel.chunks_exact_mut(tile.mr).enumerate() {
            for (r, slot) in column.iter_mut().enumerate() {
                let row = p * tile.mr + r;
                if row < m {
                    *slot = weights.get(row * k + kk).copied().unwrap_or(0.0);
                }
            }
        }
    }
    Gemm {
        m,
        k,
        tile,
        panels,
        bias,
        act,
    }
}

/// Subnormal weights (below 1.2e-38; a third of the landmark model's dense layer) change no
/// output measurably but cost a microcode assist per multiply on x86: they become zero.
fn flush_subnormal(v: f32) -> f32 {
    if v.is_subnormal() { 0.0 } else { v }
}

fn flat(shape: Shape) -> Shape {
    Shape {
        c: shape.len(),
        h: 1,
        w: 1,
    }
}

fn per_channel(values: &[f32], channels: usize, what: &str) -> Result<Vec<f32>, CnnError> {
    match values {
        [one] => Ok(vec![*one; channels]),
        v if v.len() == channels => Ok(v.to_vec()),
        v => Err(CnnError::unsupported(format!(
            "a {what} of {} values for {channels} channels",
            v.len()
        ))),
    }
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn usize_attr(node: &NodeProto, name: &str) -> Result<Option<usize>, CnnError> {
    attr_int(node, name)
        .map(|v| {
            usize::try_from(v)
                .map_err(|_| CnnError::malformed(format!("{} {name} is negative", node.op_type)))
        })
        .transpose()
}

fn ints_attr(node: &NodeProto, name: &str) -> Result<Option<Vec<usize>>, CnnError> {
    attr(node, name)
        .map(|a| {
            a.ints
                .iter()
                .map(|v| {
                    usize::try_from(*v).map_err(|_| {
                        CnnError::malformed(format!("{} {name} is negative", node.op_type))
                    })
                })
                .collect()
        })
        .transpose()
}

fn attr_float(node: &NodeProto, name: &str) -> Option<f32> {
    attr(node, name).map(|a| a.f)
}

fn dims(tensor: &TensorProto) -> Result<Vec<usize>, CnnError> {
    tensor
        .dims
        .iter()
        .map(|d| usize::try_from(*d).map_err(|_| CnnError::malformed("a negative dimension")))
        .collect()
}

fn element_count(tensor: &TensorProto) -> Result<usize, CnnError> {
    Ok(dims(tensor)?.iter().product())
}

fn check_inline(tensor: &TensorProto) -> Result<(), CnnError> {
    if tensor.data_location == Some(1) || !tensor.external_data.is_empty() {
        return Err(CnnError::unsupported(
            "weights stored outside the model file",
        ));
    }
    Ok(())
}

fn floats(tensor: &TensorProto) -> Result<Vec<f32>, CnnError> {
    if tensor.data_type != ONNX_FLOAT {
        return Err(CnnError::unsupported(format!(
            "weights of ONNX data type {}",
            tensor.data_type
        )));
    }
    let values = decode(tensor, &tensor.float_data, f32::from_le_bytes)?;
    Ok(values.into_iter().map(flush_subnormal).collect())
}

fn int64s(tensor: &TensorProto) -> Result<Vec<i64>, CnnError> {
    if tensor.data_type != ONNX_INT64 {
        return Err(CnnError::unsupported("a shape tensor that is not int64"));
    }
    decode(tensor, &tensor.int64_data, i64::from_le_bytes)
}

/// A tensor's values: from `raw_data` (little-endian, `N` bytes each) when present, else from
/// its typed field; checked against the tensor's dimensions.
fn decode<T: Copy, const N: usize>(
    tensor: &TensorProto,
    typed: &[T],
    from_le_bytes: fn([u8; N]) -> T,
) -> Result<Vec<T>, CnnError> {
    check_inline(tensor)?;
    let values: Vec<T> = if tensor.raw_data.is_empty() {
        typed.to_vec()
    } else {
        tensor
            .raw_data
            .chunks_exact(N)
            .map(|b| from_le_bytes(b.try_into().unwrap_or([0; N])))
            .collect()
    };
    if values.len() != element_count(tensor)? {
        return Err(CnnError::malformed(format!(
            "tensor {:?} has the wrong number of values",
            tensor.name
        )));
    }
    Ok(values)
}
