//! Face-engine stage timings for `scripts/bench.sh face` (single thread, release build):
//! inference of each model on a fixed input as the kiosk runs it (the built-in executor where it
//! takes the graph, else tract), with tract alone, and with the built-in executor on every
//! instruction set this processor has, the detectors on a 640x480 frame and a 250x250
//! photo, and the whole live-guidance analysis of one 640x480 frame. It also writes every model
//! input it timed to OUT_DIR (raw little-endian f32 plus manifest.json) so that
//! `scripts/bench_face_ort.py` runs onnxruntime on the very same tensors. Prints JSON.
//!
//! usage: cargo run --release --example bench_face -- CONFIG.toml FACE.jpg OUT_DIR [ITERATIONS]

use std::path::PathBuf;
use std::time::Instant;

use enroll_cnn::{Isa, Network};
use enroll_face::detect::{SeetaDetector, UltraFaceDetector};
use enroll_face::imaging::resize_area;
use enroll_face::onnx::{OnnxModel, patch_to_nchw};
use enroll_face::settings::{ModelFile, OnnxExecutor, TensorInput};
use enroll_face::{FaceAnalyzer, FaceEngine, decode_image};
use enroll_kiosk::config::load_pack;
use image::{Rgb, RgbImage};

/// Median wall time of `f` in milliseconds over `n` runs, after two warm-up runs.
fn median_ms(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(pack_dir), Some(face), Some(out)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err("usage: bench_face FACEPLUGIN_PACK_DIR FACE.jpg OUT_DIR [ITERATIONS]".into());
    };
    let n: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let pack = load_pack(std::path::Path::new(pack_dir))?;
    let engine = FaceEngine::load(&pack)?;
    let Some(settings) = pack.as_faceplugin().cloned() else {
        return Err("bench_face measures the faceplugin pack's models; give its folder".into());
    };

    let photo = decode_image(&std::fs::read(face)?, 8192)?;
    // A 640x480 camera-like frame: grey background, the photo enlarged 1.4x in the middle.
    let big = image::imageops::resize(&photo, 350, 350, image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([120, 120, 120]));
    image::imageops::overlay(&mut frame, &big, 145, 65);

    // Model inputs: the frame or photo resampled to each model's input size.
    let models: [(&str, &ModelFile, &TensorInput, &RgbImage); 4] = [
        (
            "ultraface",
            &settings.ultraface.model,
            &settings.ultraface.input,
            &frame,
        ),
        (
            "landmark",
            &settings.landmark.model,
            &settings.landmark.input,
            &photo,
        ),
        (
            "feature",
            &settings.feature.model,
            &settings.feature.input,
            &photo,
        ),
        (
            "liveness",
            &settings.liveness.model,
            &settings.liveness.input,
            &photo,
        ),
    ];
    let mut manifest = Vec::new();
    let mut kiosk = serde_json::Map::new();
    let mut tract = serde_json::Map::new();
    let mut built_in = serde_json::Map::new();
    for (role, file, input, source) in models {
        let patch = resize_area(source, input.width_px, input.height_px);
        let data = patch_to_nchw(&patch, input);
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(out.join(format!("{role}.f32")), bytes)?;
        manifest.push(serde_json::json!({
            "role": role,
            "model": file.path.display().to_string(),
            "shape": [1, input.channels(), input.height_px, input.width_px],
        }));
        let model = OnnxModel::load(role, file, input, settings.executor)?;
        let ms = median_ms(n, || {
            let _ = model.run_raw(data.clone());
        });
        kiosk.insert(
            role.to_owned(),
            serde_json::json!({ "ms": ms, "runtime": model.runtime_name() }),
        );
        let model = OnnxModel::load(role, file, input, OnnxExecutor::Tract)?;
        let ms = median_ms(n, || {
            let _ = model.run_raw(data.clone());
        });
        tract.insert(role.to_owned(), ms.into());
        let bytes = std::fs::read(&file.path)?;
        let shape = [
            input.channels(),
            input.height_px as usize,
            input.width_px as usize,
        ];
        let mut per_isa = serde_json::Map::new();
        for isa in Isa::all_available() {
            if let Ok(network) = Network::from_onnx(&bytes, shape, isa) {
                let ms = median_ms(n, || {
                    let _ = network.run(data.clone());
                });
                per_isa.insert(isa.name().to_owned(), ms.into());
            }
        }
        if !per_isa.is_empty() {
            built_in.insert(role.to_owned(), per_isa.into());
        }
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;

    let seeta = SeetaDetector::load(&settings.seeta)?;
    let ultra = UltraFaceDetector::load(&settings.ultraface, settings.executor)?;
    let photo_250 = resize_area(&photo, 250, 250);
    let detectors = serde_json::json!({
        "rustface_live_640x480": median_ms(n, || { let _ = seeta.detect_live(&frame); }),
        "rustface_still_640x480": median_ms(n, || { let _ = seeta.detect(&frame, seeta.still_run()); }),
        "rustface_still_250x250": median_ms(n, || { let _ = seeta.detect(&photo_250, seeta.still_run()); }),
        "ultraface_640x480": median_ms(n, || { let _ = ultra.detect(&frame); }),
        "ultraface_250x250": median_ms(n, || { let _ = ultra.detect(&photo_250); }),
    });
    let found = engine.analyze_frame(&frame)?.face.is_some();
    let analyze_frame = median_ms(n, || {
        let _ = engine.analyze_frame(&frame);
    });
    let analyze_still = median_ms(n, || {
        let _ = engine.analyze_still(&photo_250);
    });
    use std::io::Write as _;
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "iterations": n,
            "kiosk_inference": kiosk,
            "tract_inference_ms": tract,
            "built_in_inference_ms": built_in,
            "detectors_ms": detectors,
            "analyze_frame_640x480_ms": analyze_frame,
            "analyze_frame_found_face": found,
            "analyze_still_250x250_ms": analyze_still,
        }))?
    )?;
    Ok(())
}
