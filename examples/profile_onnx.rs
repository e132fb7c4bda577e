//! Per-operator time of an ONNX model in tract, to see where a model's time goes.
//!
//! usage: profile_onnx MODEL.onnx C H W [RUNS]   (TRACT_PRELU=1: tract-onnx's own PRelu)

#![allow(clippy::print_stdout, clippy::indexing_slicing)] // a developer's tool printing a table

use std::collections::BTreeMap;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::SimpleState;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("usage: MODEL C H W [RUNS]"))?;
    let dims: Vec<usize> = args
        .get(2..5)
        .ok_or_else(|| anyhow::anyhow!("usage: MODEL C H W [RUNS]"))?
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let runs: usize = args.get(5).map(|r| r.parse()).transpose()?.unwrap_or(50);
    let shape = [1, dims[0], dims[1], dims[2]];
    let mut onnx = tract_onnx::onnx();
    if std::env::var_os("TRACT_PRELU").is_none() {
        enroll_face::prelu::register(&mut onnx);
    }
    let plan = onnx
        .model_for_path(path)?
        .with_input_fact(0, f32::fact(shape).into())?
        .into_optimized()?
        .into_runnable()?;
    let input: Tensor = tract_ndarray::Array4::<f32>::from_shape_fn(
        (shape[0], shape[1], shape[2], shape[3]),
        |(_, c, y, x)| ((c * 31 + y * 7 + x) % 255) as f32 / 255.0,
    )
    .into();
    let mut per_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut per_node: BTreeMap<String, f64> = BTreeMap::new();
    let mut total = 0.0;
    let mut state = SimpleState::new(&plan)?;
    for run in 0..runs + 5 {
        let started = Instant::now();
        state.run_plan_with_eval(
            tvec!(input.clone().into()),
            |session, op_state, node, inputs| {
                let t = Instant::now();
                let out = tract_onnx::tract_core::plan::eval(session, op_state, node, inputs);
                if run >= 5 {
                    let e = t.elapsed().as_secs_f64() * 1e3;
                    let entry = per_op.entry(node.op().name().to_string()).or_default();
                    entry.0 += e;
                    entry.1 += 1;
                    *per_node.entry(format!("{} {}", node.id, node)).or_default() += e;
                }
                out
            },
        )?;
        if run >= 5 {
            total += started.elapsed().as_secs_f64() * 1e3;
        }
    }
    println!(
        "total {:.3} ms/run over {} nodes",
        total / runs as f64,
        plan.model().nodes().len()
    );
    let mut ops: Vec<_> = per_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    for (name, (ms, n)) in ops.iter().take(15) {
        println!(
            "{:>8.3} ms/run {:>5} calls/run  {name}",
            ms / runs as f64,
            n / runs
        );
    }
    let mut nodes: Vec<_> = per_node.into_iter().collect();
    nodes.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, ms) in nodes.iter().take(15) {
        println!("{:>8.3} ms/run  {name}", ms / runs as f64);
    }
    Ok(())
}
