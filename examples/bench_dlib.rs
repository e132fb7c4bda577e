//! Benchmark (scripts/bench.sh dlib): our dlib recogniser and 5-point shape predictor
//! (`enroll_face::dlib`) on one thread, median of 50 runs after warm-up, on the chip and photo
//! given; prints `descriptor_ms=…` and `shape_ms=…` for the script to set beside dlib's own.
//! Then the whole open pack as the kiosk runs it (`enroll_kiosk::config::load_pack`): the
//! live-guidance analysis of a 640x480 frame (`frame_ms`) and a still's embedding from photo to
//! numbers, mirror image included (`embed_still_ms`).

use std::time::Instant;

use enroll_cnn::Isa;
use enroll_face::dlib::resnet::DlibRecognizer;
use enroll_face::dlib::shape::{DlibRect, ShapePredictor};

fn median_ms(mut run: impl FnMut()) -> f64 {
    for _ in 0..5 {
        run();
    }
    let mut times: Vec<f64> = (0..50)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pack, chip, photo, left, top, right, bottom] = args.as_slice() else {
        return Err("usage: bench_dlib PACK_DIR CHIP.png PHOTO.png LEFT TOP RIGHT BOTTOM".into());
    };
    let pack = std::path::Path::new(pack);
    let recogniser = DlibRecognizer::from_dat(
        &std::fs::read(pack.join("dlib_face_recognition_resnet_model_v1.dat"))?,
        Isa::detect(),
    )?;
    let predictor = ShapePredictor::from_dat(&std::fs::read(
        pack.join("shape_predictor_5_face_landmarks.dat"),
    )?)?;
    let chip = image::open(chip)?.to_rgb8();
    let photo = image::open(photo)?.to_rgb8();
    let rect = DlibRect {
        left: left.parse()?,
        top: top.parse()?,
        right: right.parse()?,
        bottom: bottom.parse()?,
    };
    let descriptor_ms = median_ms(|| {
        let _ = std::hint::black_box(recogniser.descriptor(&chip));
    });
    let shape_ms = median_ms(|| {
        let _ = std::hint::black_box(predictor.predict(&photo, rect));
    });
    let engine = enroll_face::FaceEngine::load(
        &enroll_kiosk::config::load_pack(pack).map_err(|problem| problem.to_string())?,
    )?;
    // A 640x480 camera-like frame: grey background, the photo enlarged 1.4x in the middle.
    let big = image::imageops::resize(&photo, 350, 350, image::imageops::FilterType::Triangle);
    let mut frame = image::RgbImage::from_pixel(640, 480, image::Rgb([120, 120, 120]));
    image::imageops::overlay(&mut frame, &big, 145, 65);
    use enroll_face::{FaceAnalyzer as _, FaceMatcher as _};
    if engine.analyze_frame(&frame)?.face.is_none() {
        return Err("the open pack finds no face in the benchmark frame".into());
    }
    let frame_ms = median_ms(|| {
        let _ = std::hint::black_box(engine.analyze_frame(&frame));
    });
    let embed_still_ms = median_ms(|| {
        let _ = std::hint::black_box(engine.embed_still(&photo));
    });
    use std::io::Write as _;
    writeln!(
        std::io::stdout(),
        "isa={} descriptor_ms={descriptor_ms:.3} shape_ms={shape_ms:.4} frame_ms={frame_ms:.3} \
         embed_still_ms={embed_still_ms:.3}",
        Isa::detect()
    )?;
    Ok(())
}
