//! The live-analysis worker with the real face engine on camera-sized frames (fixtures from the
//! development face set, letterboxed to 640x480 as the file camera does): a face is found and
//! boxed, an empty frame asks the applicant to look at the camera, one sentence at a time in
//! order of urgency, and a busy worker refuses frames instead of queueing them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enroll_core::flows::applicant::Guidance;
use enroll_devices::camera::Frame;
use enroll_devices::camera::letterbox;
use enroll_face::quality::QualityReason;
use enroll_face::{Analysis, FaceAnalyzer, FaceEngine, FaceError};
use enroll_kiosk::app::analysis::{AnalysisReport, AnalysisWorker, guidance_for};
use image::RgbImage;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> Arc<FaceEngine> {
    let config =
        enroll_kiosk::config::Config::load(&root().join("kiosk-config/demo.toml")).unwrap();
    Arc::new(FaceEngine::load(&config.face.engine).unwrap())
}

fn frame(image: RgbImage, sequence: u64) -> Arc<Frame> {
    Arc::new(Frame {
        image,
        sequence,
        captured_at: Instant::now(),
    })
}

fn wait_for_report(worker: &AnalysisWorker) -> AnalysisReport {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(report) = worker.latest_report() {
            return report;
        }
        assert!(Instant::now() < deadline, "no report within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_face_is_found_and_an_empty_frame_asks_to_look_at_the_camera() {
    let worker = AnalysisWorker::spawn(engine()).unwrap();
    let photo = image::open(root().join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg"))
        .unwrap()
        .to_rgb8();
    assert!(worker.offer(frame(letterbox(&photo, 640, 480), 7)));
    let report = wait_for_report(&worker);
    assert_eq!(report.sequence, 7);
    assert!(report.face_present);
    let [x, y, w, h] = report.face_box.unwrap();
    assert!(
        x >= 0.0 && y >= 0.0 && x + w <= 640.0 && y + h <= 480.0,
        "{:?}",
        report.face_box
    );
    assert!(!report.components.is_empty());

    assert!(worker.offer(frame(RgbImage::new(640, 480), 8)));
    let report = wait_for_report(&worker);
    assert_eq!(report.sequence, 8);
    assert!(!report.face_present);
    assert_eq!(report.guidance, Some(Guidance::LookAtCamera));
}

#[test]
fn the_most_urgent_problem_is_told_first() {
    use QualityReason::*;
    assert_eq!(guidance_for(&[]), None);
    assert_eq!(guidance_for(&[Blurry, TooFar]), Some(Guidance::ComeCloser));
    assert_eq!(
        guidance_for(&[NoFace, MultipleFaces]),
        Some(Guidance::OnlyOnePerson)
    );
    assert_eq!(
        guidance_for(&[EyesClosed, TooDark]),
        Some(Guidance::MoreLight)
    );
    assert_eq!(guidance_for(&[Overexposed]), Some(Guidance::LessLight));
}

/// An analyser that takes its time.
struct Slow;

impl FaceAnalyzer for Slow {
    fn analyze_still(&self, image: &RgbImage) -> Result<Analysis, FaceError> {
        self.analyze_frame(image)
    }
    fn analyze_frame(&self, _image: &RgbImage) -> Result<Analysis, FaceError> {
        std::thread::sleep(Duration::from_millis(300));
        Err(FaceError::ImageDecode("slow test analyser".into()))
    }
}

#[test]
fn a_busy_worker_refuses_frames_instead_of_queueing_them() {
    let worker = AnalysisWorker::spawn(Arc::new(Slow)).unwrap();
    let offers: Vec<bool> = (0..4)
        .map(|n| worker.offer(frame(RgbImage::new(64, 48), n)))
        .collect();
    assert!(offers[0]);
    assert!(offers.iter().any(|accepted| !accepted), "{offers:?}");
    // A failed analysis still answers, asking the applicant to look at the camera.
    let report = wait_for_report(&worker);
    assert_eq!(report.guidance, Some(Guidance::LookAtCamera));
}
