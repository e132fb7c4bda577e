//! The executor against tract, the reference: small graphs built here (odd sizes, every
//! operator, fused and unfused forms) and the shipped models, on every instruction set this
//! processor has; and what it refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::io::Cursor;
use std::path::PathBuf;

use prost::Message;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
    ValueInfoProto, type_proto,
};
use tract_onnx::prelude::*;

use super::{CnnError, Isa, Network};

/// Deterministic values in [-1, 1) (a fixed linear congruential sequence).
fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: dims.to_vec(),
        data_type: 1,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn int64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: vec![data.len() as i64],
        data_type: 7,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A weight tensor of `dims` with deterministic values (scaled by `scale`).
fn weights(name: &str, dims: &[i64], seed: u64, scale: f32) -> TensorProto {
    let len = dims.iter().product::<i64>() as usize;
    let data: Vec<f32> = values(seed, len).iter().map(|v| v * scale).collect();
    tensor(name, dims, &data)
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: 2,
        i: v,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: 1,
        f: v,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.to_string(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute,
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments)] // an ONNX Conv node's parts, in the order ONNX names them
fn conv(
    input: &str,
    w: &str,
    b: &str,
    output: &str,
    kernel: i64,
    stride: i64,
    pads: [i64; 4],
    group: i64,
) -> NodeProto {
    node(
        "Conv",
        &[input, w, b],
        output,
        vec![
            ints("kernel_shape", &[kernel, kernel]),
            ints("strides", &[stride, stride]),
            ints("pads", &pads),
            int("group", group),
        ],
    )
}

fn batch_norm(
    input: &str,
    prefix: &str,
    channels: i64,
    seed: u64,
    output: &str,
) -> (NodeProto, Vec<TensorProto>) {
    let c = channels as usize;
    let variance: Vec<f32> = values(seed + 3, c).iter().map(|v| v.abs() + 0.5).collect();
    let inits = vec![
        weights(&format!("{prefix}.gamma"), &[channels], seed, 1.0),
        weights(&format!("{prefix}.beta"), &[channels], seed + 1, 0.5),
        weights(&format!("{prefix}.mean"), &[channels], seed + 2, 0.3),
        tensor(&format!("{prefix}.var"), &[channels], &variance),
    ];
    let n = node(
        "BatchNormalization",
        &[
            input,
            &format!("{prefix}.gamma"),
            &format!("{prefix}.beta"),
            &format!("{prefix}.mean"),
            &format!("{prefix}.var"),
        ],
        output,
        vec![float("epsilon", 1e-5)],
    );
    (n, inits)
}

fn model(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, outputs: &[&str]) -> Vec<u8> {
    let value = |name: &str| ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 11,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer,
            input: vec![value("input")],
            output: outputs.iter().map(|o| value(o)).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn tract_run(bytes: &[u8], [c, h, w]: [usize; 3], input: &[f32]) -> Vec<Vec<f32>> {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut Cursor::new(bytes))
        .unwrap()
        .with_input_fact(0, f32::fact([1, c, h, w]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let tensor = Tensor::from_shape(&[1, c, h, w], input).unwrap();
    plan.run(tvec!(tensor.into()))
        .unwrap()
        .iter()
        .map(|o| {
            o.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        })
        .collect()
}

/// Runs `bytes` on every available instruction set and checks each output against tract's:
/// largest difference at most `1e-4` of the output's largest magnitude (at least 1e-4).
fn assert_matches_tract(bytes: &[u8], shape: [usize; 3], seed: u64) {
    let input = values(seed, shape.iter().product());
    let expected = tract_run(bytes, shape, &input);
    for isa in Isa::all_available() {
        let net = Network::from_onnx(bytes, shape, isa)
            .unwrap_or_else(|e| panic!("{isa}: the executor must take this graph: {e}"));
        let got = net.run(input.clone()).unwrap();
        assert_eq!(got.len(), expected.len(), "{isa}: number of outputs");
        for (index, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.len(), e.len(), "{isa}: length of output {index}");
            let scale = e.iter().fold(1e-4f32, |m, v| m.max(v.abs()));
            let worst = g
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale.max(1.0),
                "{isa}: output {index} differs from tract by {worst} (largest value {scale})"
            );
        }
    }
}

/// A MobileNet-like graph on an odd-sized input: general 3×3/2 convolution, folded batch
/// normalisation, fused PReLU, depthwise 3×3/1 and 3×3/2 with ReLU, 1×1 expansions, a residual
/// add, global depthwise pooling, flatten, dense layer with folded batch normalisation.
#[test]
fn a_mobilenet_like_graph_matches_tract_on_every_instruction_set() {
    let mut inits = vec![
        weights("w0", &[20, 3, 3, 3], 1, 0.4),
        weights("b0", &[20], 2, 0.1),
        tensor("slope0", &[20, 1, 1], &values(3, 20)),
        weights("w1", &[20, 1, 3, 3], 4, 0.5),
        weights("b1", &[20], 5, 0.1),
        weights("w2", &[37, 20, 1, 1], 6, 0.3),
        weights("b2", &[37], 7, 0.1),
        weights("w3", &[37, 1, 3, 3], 8, 0.5),
        weights("b3", &[37], 9, 0.1),
        weights("w4", &[37, 37, 1, 1], 10, 0.2),
        weights("b4", &[37], 11, 0.1),
        weights("w5", &[37, 1, 7, 6], 12, 0.2),
        weights("b5", &[37], 13, 0.1),
        weights("fc", &[19, 37], 14, 0.3),
        weights("fcb", &[19], 15, 0.1),
    ];
    let (bn0, bn0_inits) = batch_norm("c0", "bn0", 20, 20, "n0");
    let (bn_fc, bn_fc_inits) = batch_norm("fc_out", "bnfc", 19, 30, "output");
    inits.extend(bn0_inits);
    inits.extend(bn_fc_inits);
    let nodes = vec![
        conv("input", "w0", "b0", "c0", 3, 2, [1, 1, 1, 1], 1),
        bn0,
        node("PRelu", &["n0", "slope0"], "p0", vec![]),
        conv("p0", "w1", "b1", "c1", 3, 1, [1, 1, 1, 1], 20),
        node("Relu", &["c1"], "r1", vec![]),
        conv("r1", "w2", "b2", "c2", 1, 1, [0, 0, 0, 0], 1),
        conv("c2", "w3", "b3", "c3", 3, 2, [1, 1, 1, 1], 37),
        node("Relu", &["c3"], "r3", vec![]),
        conv("r3", "w4", "b4", "c4", 1, 1, [0, 0, 0, 0], 1),
        node("Add", &["c4", "r3"], "sum", vec![]),
        node(
            "Conv",
            &["sum", "w5", "b5"],
            "pooled",
            vec![ints("kernel_shape", &[7, 6]), int("group", 37)],
        ),
        node("Flatten", &["pooled"], "flat", vec![int("axis", 1)]),
        node(
            "Gemm",
            &["flat", "fc", "fcb"],
            "fc_out",
            vec![int("transB", 1)],
        ),
        bn_fc,
    ];
    let bytes = model(nodes, inits, &["output"]);
    // 27×23 → 14×12 → 7×6: every layer has a partial column block.
    assert_matches_tract(&bytes, [3, 27, 23], 100);
}

/// A network whose channels are whole vectors runs channels-last on the SIMD builds (one
/// channel in, one pixel out, so nothing is transposed): a one-channel 3×3/2 convolution, 3×3/1
/// and 5×5 depthwise layers on 5×5 planes (a row is not a whole number of 4-pixel blocks), 1×1
/// layers of 64, 32 and 48 outputs (each tile shape, 25 pixels: partial tiles), a residual add
/// with a fused PReLU, a PReLU and an add that cannot fuse, global pooling, a dense layer.
#[test]
fn a_network_of_whole_channel_vectors_runs_channels_last_and_matches_tract() {
    let inits = vec![
        weights("w0", &[32, 1, 3, 3], 60, 0.5),
        weights("b0", &[32], 61, 0.1),
        tensor("slope0", &[32, 1, 1], &values(62, 32)),
        weights("w1", &[32, 1, 3, 3], 63, 0.5),
        weights("b1", &[32], 64, 0.1),
        weights("w2", &[64, 32, 1, 1], 65, 0.2),
        weights("b2", &[64], 66, 0.1),
        weights("w3", &[32, 64, 1, 1], 67, 0.2),
        weights("b3", &[32], 68, 0.1),
        tensor("slope4", &[32, 1, 1], &values(69, 32)),
        tensor("slope5", &[32, 1, 1], &values(70, 32)),
        weights("w6", &[48, 32, 1, 1], 71, 0.2),
        weights("b6", &[48], 72, 0.1),
        weights("w7", &[48, 1, 5, 5], 73, 0.2),
        weights("b7", &[48], 74, 0.1),
        weights("w8", &[48, 1, 5, 5], 75, 0.2),
        weights("b8", &[48], 76, 0.1),
        weights("fc", &[10, 48], 77, 0.3),
        weights("fcb", &[10], 78, 0.1),
    ];
    let nodes = vec![
        conv("input", "w0", "b0", "c0", 3, 2, [1, 1, 1, 1], 1),
        node("PRelu", &["c0", "slope0"], "p0", vec![]),
        conv("p0", "w1", "b1", "c1", 3, 1, [1, 1, 1, 1], 32),
        node("Relu", &["c1"], "r1", vec![]),
        conv("r1", "w2", "b2", "c2", 1, 1, [0, 0, 0, 0], 1),
        conv("c2", "w3", "b3", "c3", 1, 1, [0, 0, 0, 0], 1),
        node("Add", &["c3", "r1"], "sum", vec![]),
        node("PRelu", &["sum", "slope4"], "p4", vec![]),
        node("PRelu", &["p4", "slope5"], "p5", vec![]),
        node("Add", &["p5", "p4"], "sum2", vec![]),
        conv("sum2", "w6", "b6", "c6", 1, 1, [0, 0, 0, 0], 1),
        conv("c6", "w7", "b7", "c7", 5, 1, [2, 2, 2, 2], 48),
        node(
            "Conv",
            &["c7", "w8", "b8"],
            "pooled",
            vec![ints("kernel_shape", &[5, 5]), int("group", 48)],
        ),
        node("Flatten", &["pooled"], "flat", vec![int("axis", 1)]),
        node(
            "Gemm",
            &["flat", "fc", "fcb"],
            "output",
            vec![int("transB", 1)],
        ),
    ];
    let bytes = model(nodes, inits, &["output"]);
    for isa in Isa::all_available() {
        let Ok(net) = Network::from_onnx(&bytes, [1, 10, 10], isa) else {
            panic!("{isa}: the executor must take this graph");
        };
        let channels_last = net.layers.iter().filter(|l| l.channels_last).count();
        let expected = if isa == Isa::Portable {
            0
        } else {
            net.layers.len()
        };
        assert_eq!(
            channels_last, expected,
            "{isa}: layers planned channels-last"
        );
    }
    assert_matches_tract(&bytes, [1, 10, 10], 101);
}

/// Operators that cannot be folded or fused run as layers of their own: a ReLU whose input is
/// read twice, a batch normalisation after an add, an asymmetrically padded convolution, a
/// dense layer with untransposed weights and scaled bias, a reshape; two graph outputs.
#[test]
fn unfused_layers_and_several_outputs_match_tract() {
    let inits = vec![
        weights("w0", &[8, 2, 2, 3], 40, 0.4),
        weights("b0", &[8], 41, 0.1),
        weights("fc", &[8 * 5 * 5, 10], 42, 0.05),
        weights("fcb", &[10], 43, 0.1),
        int64_tensor("shape", &[0, -1]), // 0: copy the batch dimension
    ];
    let (bn, bn_inits) = batch_norm("sum", "bn", 8, 50, "normed");
    let mut all = inits;
    all.extend(bn_inits);
    let nodes = vec![
        node(
            "Conv",
            &["input", "w0", "b0"],
            "c0",
            vec![
                ints("kernel_shape", &[2, 3]),
                ints("strides", &[2, 1]),
                ints("pads", &[0, 1, 1, 0]),
            ],
        ),
        node("Relu", &["c0"], "r0", vec![]),
        node("Add", &["c0", "r0"], "sum", vec![]),
        bn,
        node("Reshape", &["normed", "shape"], "flat", vec![]),
        node(
            "Gemm",
            &["flat", "fc", "fcb"],
            "dense",
            vec![float("alpha", 0.5), float("beta", 2.0)],
        ),
    ];
    let bytes = model(nodes, all, &["dense", "normed"]);
    // 2×9×6, kernel 2×3, stride 2×1, pads top 0 left 1 bottom 1 right 0 → 8×5×5.
    assert_matches_tract(&bytes, [2, 9, 6], 200);
}

/// Depthwise filters of every kind: on the flat layout a 5×5 "same" filter (its widest) and a
/// 3×3/2 padded only at the bottom and right, on planes that end mid-vector; on the
/// phase-split layout a 3×3/2 on an odd plane, an unpadded 3×3 and a 7×7 (more taps than the
/// flat layout takes).
#[test]
fn depthwise_filters_of_every_shape_match_tract() {
    let mut inits = Vec::new();
    for (name, k, seed) in [
        ("a", 5, 60),
        ("b", 3, 62),
        ("c", 3, 64),
        ("d", 3, 66),
        ("e", 7, 68),
    ] {
        inits.push(weights(&format!("w{name}"), &[6, 1, k, k], seed, 0.3));
        inits.push(weights(&format!("b{name}"), &[6], seed + 1, 0.1));
    }
    let nodes = vec![
        conv("input", "wa", "ba", "a", 5, 1, [2, 2, 2, 2], 6),
        conv("a", "wb", "bb", "b", 3, 2, [0, 0, 1, 1], 6),
        conv("b", "wc", "bc", "c", 3, 2, [1, 1, 1, 1], 6),
        conv("input", "wd", "bd", "d", 3, 1, [0, 0, 0, 0], 6),
        conv("input", "we", "be", "e", 7, 1, [3, 3, 3, 3], 6),
    ];
    let bytes = model(nodes, inits, &["c", "d", "e"]);
    // 14×16 → a 14×16 → b 7×8 (its last vector half full) → c 4×4; d 12×14; e 14×16.
    assert_matches_tract(&bytes, [6, 14, 16], 300);
    // 10×12 → a 10×12 → b 5×6 (a 120-value plane: no whole number of vector pairs to split,
    // rows of 6) → c 3×3 (phase-split); d 8×10; e 10×12.
    assert_matches_tract(&bytes, [6, 10, 12], 301);
}

fn model_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/models/packs/faceplugin")
        .join(file)
}

#[test]
fn the_landmark_model_matches_tract_on_every_instruction_set() {
    let bytes = std::fs::read(model_path("fr_landmark.onnx")).unwrap();
    assert_matches_tract(&bytes, [1, 64, 64], 7);
}

#[test]
fn the_embedding_model_matches_tract_on_every_instruction_set() {
    let bytes = std::fs::read(model_path("fr_feature.onnx")).unwrap();
    assert_matches_tract(&bytes, [3, 112, 112], 8);
}

#[test]
fn models_with_other_operators_are_refused_by_name() {
    let bytes = std::fs::read(model_path("fr_liveness.onnx")).unwrap();
    let err = Network::from_onnx(&bytes, [3, 128, 128], Isa::Portable).unwrap_err();
    assert!(
        matches!(&err, CnnError::Unsupported { what } if what.contains("operator")),
        "{err}"
    );

    let sigmoid = model(
        vec![node("Sigmoid", &["input"], "output", vec![])],
        vec![],
        &["output"],
    );
    let err = Network::from_onnx(&sigmoid, [1, 4, 4], Isa::Portable).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the network uses the Sigmoid operator, which the built-in executor does not run"
    );
}

#[test]
fn grouped_and_dilated_convolutions_are_refused() {
    let grouped = model(
        vec![conv("input", "w", "b", "output", 3, 1, [1, 1, 1, 1], 2)],
        vec![
            weights("w", &[4, 2, 3, 3], 1, 1.0),
            weights("b", &[4], 2, 1.0),
        ],
        &["output"],
    );
    let err = Network::from_onnx(&grouped, [4, 8, 8], Isa::Portable).unwrap_err();
    assert!(err.to_string().contains("grouped convolution"), "{err}");

    let mut dilated = conv("input", "w", "b", "output", 3, 1, [2, 2, 2, 2], 1);
    dilated.attribute.push(ints("dilations", &[2, 2]));
    let dilated = model(
        vec![dilated],
        vec![
            weights("w", &[4, 4, 3, 3], 1, 1.0),
            weights("b", &[4], 2, 1.0),
        ],
        &["output"],
    );
    let err = Network::from_onnx(&dilated, [4, 8, 8], Isa::Portable).unwrap_err();
    assert!(err.to_string().contains("dilated"), "{err}");
}

#[test]
fn garbage_and_wrong_input_sizes_are_errors_not_panics() {
    let err = Network::from_onnx(b"\x08\x07not an onnx file at all", [1, 8, 8], Isa::Portable)
        .unwrap_err();
    assert!(matches!(err, CnnError::Malformed { .. }), "{err}");

    let bytes = std::fs::read(model_path("fr_landmark.onnx")).unwrap();
    let net = Network::from_onnx(&bytes, [1, 64, 64], Isa::detect()).unwrap();
    let err = net.run(vec![0.0; 10]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input has 10 values, the network takes 4096"
    );
}

/// The kiosk runs the landmark model on every camera frame: the buffers a network keeps between
/// runs must not grow with the number of runs (each caller's input used to join the pool for
/// good: 16 KB more per frame for the landmark model, and a slower buffer search).
#[test]
fn repeated_runs_keep_a_bounded_set_of_buffers() {
    let bytes = std::fs::read(model_path("fr_landmark.onnx")).unwrap();
    let net = Network::from_onnx(&bytes, [1, 64, 64], Isa::detect()).unwrap();
    let input = values(7, 64 * 64);
    let first = net.run(input.clone()).unwrap();
    let runs = 3 * net.layers.len();
    for _ in 0..runs {
        assert_eq!(net.run(input.clone()).unwrap(), first);
    }
    let kept = net.workspace.lock().unwrap().pool.len();
    assert!(
        kept <= net.layers.len(),
        "{kept} buffers kept after {runs} runs of a {}-layer network",
        net.layers.len()
    );
}
