//! The executor against tract on one ONNX model: the median time of one inference with the
//! built-in executor on every instruction set this processor has, and with tract (its stock
//! operators, optimised plan), on the same input, after warm-up runs; the outputs are compared
//! first, so a fast wrong answer cannot pass. `scripts/bench.sh cnn` runs it on the face models.
//!
//! usage: bench_cnn MODEL.onnx C H W [RUNS]

#![allow(clippy::print_stdout)] // a benchmark printing its table

use std::io::Cursor;
use std::time::Instant;

use enroll_cnn::{Isa, Network};
use tract_onnx::prelude::*;

type Failure = Box<dyn std::error::Error>;

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(runs: usize, mut run: impl FnMut() -> Result<T, Failure>) -> Result<f64, Failure> {
    for _ in 0..runs.div_ceil(10) {
        run()?;
    }
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        run()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(median_ms(samples))
}

fn largest_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_cnn MODEL.onnx C H W [RUNS]";
    let path = args.get(1).ok_or(usage)?;
    let dims = args
        .get(2..5)
        .ok_or(usage)?
        .iter()
        .map(|a| a.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()?;
    let [c, h, w] = <[usize; 3]>::try_from(dims).map_err(|_| usage)?;
    let runs: usize = args.get(5).map(|r| r.parse()).transpose()?.unwrap_or(200);
    let bytes = std::fs::read(path)?;
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path);
    let input: Vec<f32> = (0..c * h * w)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();

    let plan = tract_onnx::onnx()
        .model_for_read(&mut Cursor::new(&bytes))?
        .with_input_fact(0, f32::fact([1, c, h, w]).into())?
        .into_optimized()?
        .into_runnable()?;
    let run_tract = || -> Result<Vec<Vec<f32>>, Failure> {
        let tensor = Tensor::from_shape(&[1, c, h, w], &input)?;
        let outputs = plan.run(tvec!(tensor.into()))?;
        outputs
            .iter()
            .map(|o| Ok(o.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
            .collect()
    };
    let reference = run_tract()?;
    let tract_ms = timed(runs, run_tract)?;
    println!("cnn: {name:<20} tract            {tract_ms:7.3} ms");

    for isa in Isa::all_available() {
        let network = match Network::from_onnx(&bytes, [c, h, w], isa) {
            Ok(network) => network,
            Err(error) => {
                println!(
                    "cnn: {name:<20} built-in/{:<8} not taken: {error}",
                    isa.name()
                );
                continue;
            }
        };
        let difference = largest_difference(&network.run(input.clone())?, &reference);
        let ms = timed(runs, || Ok(network.run(input.clone())?))?;
        println!(
            "cnn: {name:<20} built-in/{:<8}{ms:7.3} ms  ratio to tract {:.2}  largest difference {difference:.1e}",
            isa.name(),
            ms / tract_ms
        );
    }
    Ok(())
}
