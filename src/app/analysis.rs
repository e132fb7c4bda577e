//! The live-analysis worker: a named thread that analyses the newest camera frame it is offered
//! with the face engine and reports one guidance sentence's code, whether someone is there, the
//! face box and the quality components. The UI offers frames without waiting (a busy worker
//! refuses them) and picks up reports without waiting. It decides no flow step.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Instant;

use enroll_core::flows::applicant::Guidance;
use enroll_devices::camera::Frame;
use enroll_face::FaceAnalyzer;
use enroll_face::quality::{QualityComponent, QualityReason};

/// What one analysed frame says.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisReport {
    /// The frame analysed.
    pub sequence: u64,
    /// The sentence to show; `None` when quality holds.
    pub guidance: Option<Guidance>,
    /// Whether a face was in the picture.
    pub face_present: bool,
    /// The main face's box (x, y, width, height) in frame pixels.
    pub face_box: Option<[f32; 4]>,
    /// Every measured quality component (for the officer's view).
    pub components: Vec<QualityComponent>,
    /// How long the analysis took, ms.
    pub took_ms: f64,
    /// What the liveness challenge judges (its time is set when the report is used).
    pub observation: enroll_core::domain::challenge::Observation,
}

/// The order in which problems are told: the one to fix first comes first.
const PRIORITY: [QualityReason; 15] = [
    QualityReason::MultipleFaces,
    QualityReason::NoFace,
    QualityReason::TooFar,
    QualityReason::TooClose,
    QualityReason::OffCentre,
    QualityReason::NotFrontal,
    QualityReason::HeadTilted,
    QualityReason::TooDark,
    QualityReason::Underexposed,
    QualityReason::LowContrast,
    QualityReason::TooBright,
    QualityReason::Overexposed,
    QualityReason::Blurry,
    QualityReason::EyesClosed,
    QualityReason::LivenessFailed,
];

/// The one sentence for a frame's quality reasons (the most urgent), `None` when there is none.
pub fn guidance_for(reasons: &[QualityReason]) -> Option<Guidance> {
    let reason = PRIORITY.iter().find(|r| reasons.contains(r))?;
    Some(match reason {
        QualityReason::MultipleFaces => Guidance::OnlyOnePerson,
        QualityReason::NoFace | QualityReason::LivenessFailed => Guidance::LookAtCamera,
        QualityReason::TooFar => Guidance::ComeCloser,
        QualityReason::TooClose => Guidance::MoveBack,
        QualityReason::OffCentre => Guidance::CentreYourFace,
        QualityReason::NotFrontal | QualityReason::HeadTilted => Guidance::FaceTheCamera,
        QualityReason::TooDark | QualityReason::Underexposed | QualityReason::LowContrast => {
            Guidance::MoreLight
        }
        QualityReason::TooBright | QualityReason::Overexposed => Guidance::LessLight,
        QualityReason::Blurry => Guidance::HoldStill,
        QualityReason::EyesClosed => Guidance::OpenYourEyes,
    })
}

/// The worker's two channel ends, held by the UI.
pub struct AnalysisWorker {
    frames: SyncSender<Arc<Frame>>,
    reports: Receiver<AnalysisReport>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AnalysisWorker {
    /// Starts the worker thread (`face-analysis`) with `analyzer`.
    pub fn spawn(analyzer: Arc<dyn FaceAnalyzer + Send + Sync>) -> std::io::Result<AnalysisWorker> {
        let (frames, frame_rx) = std::sync::mpsc::sync_channel::<Arc<Frame>>(1);
        let (report_tx, reports) = std::sync::mpsc::sync_channel::<AnalysisReport>(4);
        let thread = std::thread::Builder::new()
            .name("face-analysis".into())
            .spawn(move || {
                while let Ok(frame) = frame_rx.recv() {
                    let started = Instant::now();
                    let report = match analyzer.analyze_frame(&frame.image) {
                        Ok(analysis) => AnalysisReport {
                            sequence: frame.sequence,
                            guidance: guidance_for(&analysis.quality.reasons),
                            face_present: !analysis.detections.is_empty(),
                            face_box: analysis.face.as_ref().map(|face| {
                                let b = &face.detection.raw_box;
                                [b.x_px, b.y_px, b.width_px, b.height_px]
                            }),
                            observation: enroll_face::evidence::challenge_observation(&analysis, 0),
                            components: analysis.quality.components,
                            took_ms: started.elapsed().as_secs_f64() * 1000.0,
                        },
                        Err(error) => {
                            tracing::warn!(%error, "a frame could not be analysed");
                            AnalysisReport {
                                sequence: frame.sequence,
                                guidance: Some(Guidance::LookAtCamera),
                                face_present: false,
                                face_box: None,
                                components: Vec::new(),
                                took_ms: started.elapsed().as_secs_f64() * 1000.0,
                                observation: enroll_core::domain::challenge::Observation {
                                    at_ms: 0,
                                    one_face: false,
                                    eye_aspect_ratio: f32::NAN,
                                    yaw_deg: f32::NAN,
                                },
                            }
                        }
                    };
                    // A full report queue means the UI is not reading: drop the oldest news.
                    match report_tx.try_send(report) {
                        Ok(()) | Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
            })?;
        Ok(AnalysisWorker {
            frames,
            reports,
            thread: Some(thread),
        })
    }

    /// Offers a frame; `false` when the worker is still busy with an earlier one (the frame is
    /// not queued: the next offer brings a newer one).
    pub fn offer(&self, frame: Arc<Frame>) -> bool {
        self.frames.try_send(frame).is_ok()
    }

    /// The newest report, if one arrived since the last call.
    pub fn latest_report(&self) -> Option<AnalysisReport> {
        let mut latest = None;
        loop {
            match self.reports.try_recv() {
                Ok(report) => latest = Some(report),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return latest,
            }
        }
    }
}

impl AnalysisWorker {
    /// Lets the thread end on its own after the frame in hand, without waiting for it (the UI
    /// thread must not wait on the models).
    pub fn detach(mut self) {
        drop(self.thread.take());
    }
}

impl Drop for AnalysisWorker {
    fn drop(&mut self) {
        // Closing the frame channel ends the thread after the frame in hand.
        let (closed, _) = std::sync::mpsc::sync_channel(1);
        drop(std::mem::replace(&mut self.frames, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
