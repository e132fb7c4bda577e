//! The technician's screens in the running kiosk: signs a technician in (Argon2id on a
//! `pin-check` thread, the flow's lockout rules), runs the diagnostics on a `diag` thread, tests
//! the camera (the live picture with the face box and the measured frame rate) and the card
//! reader, and writes the diagnostic bundle on a `diag-bundle` thread. The kiosk's own camera and
//! card watch are stopped while it is open, so the checks can open the devices. It shows no card
//! data: a card test reports the document kind and the time taken.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use super::{DeskFrame, KioskApp};
use crate::diag::{self, DiagOptions, Report};
use crate::officers::OfficerList;
use crate::ui::session::problem_text;
use crate::ui::technician::{CheckLine, LineStatus, TechForm, TechIntent, TechView, technician_ui};
use enroll_core::domain::card_read::AccessKey;
use enroll_core::domain::time::UnixMs;
use enroll_core::flows::applicant::CardEvent;
use enroll_core::flows::officer_auth::PinOutcome;
use enroll_core::flows::technician::{self, TechEvent, TechNotice, TechScreen, TechState};

/// How many seconds of camera pictures the frame rate is measured over.
const FPS_WINDOW_MS: u64 = 2_000;

/// The technician's state beside the flow's.
#[derive(Default)]
pub(super) struct TechnicianDesk {
    state: TechState,
    form: TechForm,
    notice: Option<TechNotice>,
    pin_check: Option<Receiver<(String, PinOutcome)>>,
    checks: Vec<CheckLine>,
    overall: Option<LineStatus>,
    diag_job: Option<Receiver<Report>>,
    camera_on: bool,
    last_sequence: Option<u64>,
    picture_times: VecDeque<Instant>,
    card_test: Option<String>,
    card_started: Option<Instant>,
    bundle: Option<String>,
    bundle_job: Option<Receiver<Result<PathBuf, String>>>,
}

/// Runs `job` on a thread named `name`; its answer arrives on the receiver.
fn spawn_job<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<Receiver<T>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = sender.send(job());
        });
    match spawned {
        Ok(_) => Some(receiver),
        Err(error) => {
            tracing::error!(%error, thread = name, "a technician thread cannot start");
            None
        }
    }
}

/// Takes a finished job's answer; `Err(())` when the thread died without one.
fn take<T>(job: &mut Option<Receiver<T>>) -> Option<Result<T, ()>> {
    let receiver = job.as_ref()?;
    match receiver.try_recv() {
        Ok(answer) => {
            *job = None;
            Some(Ok(answer))
        }
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => {
            *job = None;
            Some(Err(()))
        }
    }
}

fn bundle_name(terminal_id: Option<&str>, now_unix_ms: UnixMs) -> String {
    format!(
        "{}-diag-{}.tar.gz",
        terminal_id.unwrap_or("terminal"),
        now_unix_ms.secs()
    )
}

fn write_bundle(config_path: &Path, dir: &Path) -> Result<PathBuf, String> {
    let now = crate::clock::now();
    let report = diag::run(config_path, &DiagOptions::at(now));
    let out = dir.join(bundle_name(report.terminal_id.as_deref(), now));
    diag::bundle::write_bundle(config_path, &report, &out)
        .map(|summary| summary.path)
        .map_err(|error| error.to_string())
}

impl KioskApp {
    /// Opens the technician's sign-in over the terminal's own screens, releasing the camera
    /// and the card reader.
    pub(super) fn open_technician(&mut self) {
        self.stop_card();
        self.live.stop();
        tracing::info!("technician's screen opened");
        let mut desk = TechnicianDesk {
            form: TechForm {
                bundle_dir: "/media".into(),
                ..TechForm::default()
            },
            ..TechnicianDesk::default()
        };
        desk.state.auth.failures = self.kept_pin_failures();
        self.technician = Some(desk);
    }

    /// Whether the technician's screens are open, and which (tests).
    pub fn technician_screen(&self) -> Option<TechScreen> {
        self.technician.as_ref().map(|desk| desk.state.screen)
    }

    /// The last diagnostic lines shown to the technician (tests).
    pub fn technician_checks(&self) -> Option<&[CheckLine]> {
        self.technician.as_ref().map(|desk| desk.checks.as_slice())
    }

    fn run_checks(&mut self, desk: &mut TechnicianDesk) {
        let Some(path) = self.services.config_path.clone() else {
            return;
        };
        self.stop_card();
        self.live.stop();
        desk.camera_on = false;
        desk.diag_job = spawn_job("diag", move || {
            diag::run(&path, &DiagOptions::at(crate::clock::now()))
        });
    }

    /// One frame of the technician's screens; returns the window's effects.
    pub(super) fn technician_frame(
        &mut self,
        ui: &mut egui::Ui,
        mut desk: TechnicianDesk,
    ) -> DeskFrame {
        let now_ms = self.now_ms();
        let reports = self.collect_reports(ui.ctx());
        let auth = self.settings.auth;
        let step = |desk: &mut TechnicianDesk, event: TechEvent| {
            let (next, notice) = technician::step(desk.state.clone(), event, &auth);
            desk.state = next;
            if notice.is_some() {
                desk.notice = notice;
            }
        };
        step(&mut desk, TechEvent::Tick { now_ms });
        if let Some(answer) = take(&mut desk.pin_check) {
            if let Ok((badge, outcome)) = answer {
                step(
                    &mut desk,
                    TechEvent::PinChecked {
                        badge: badge.clone(),
                        outcome,
                        now_ms,
                    },
                );
                self.keep_pin_failures(&badge, &desk.state.auth);
            }
            if desk.state.screen == TechScreen::Service {
                tracing::info!("technician signed in");
                desk.form.badge.clear();
                self.run_checks(&mut desk);
            }
        }
        if let Some(answer) = take(&mut desk.diag_job) {
            match answer {
                Ok(report) => {
                    tracing::info!(overall = ?report.overall, "technician's checks done");
                    desk.checks = crate::ui::technician::lines(&report);
                    desk.overall = Some(crate::ui::technician::line_status(report.overall));
                }
                Err(()) => tracing::error!("the diagnostics thread stopped without a report"),
            }
        }
        if let Some(answer) = take(&mut desk.bundle_job) {
            desk.bundle = Some(match answer {
                Ok(Ok(path)) => crate::ui::technician::bundle_written_text(
                    &self.catalog,
                    self.settings.flow.default_language,
                    &path,
                ),
                Ok(Err(problem)) => problem,
                Err(()) => "the bundle thread stopped without writing".into(),
            });
        }
        for event in reports.card {
            let language = self.settings.flow.default_language;
            let started = desk.card_started.take();
            match event {
                CardEvent::Read(card) => {
                    let took_ms = started.map_or(0, |at| at.elapsed().as_millis());
                    desk.card_test = Some(crate::ui::technician::card_read_text(
                        &self.catalog,
                        language,
                        card.identity.kind,
                        took_ms,
                    ));
                    self.stop_card();
                }
                CardEvent::Failed(problem) => {
                    desk.card_test = Some(self.catalog.text(language, problem_text(problem)));
                    self.stop_card();
                }
                CardEvent::Present | CardEvent::Removed => desk.card_started = started,
            }
        }
        if desk.camera_on
            && let Some(frame) = &self.live.latest
            && desk.last_sequence != Some(frame.sequence)
        {
            desk.last_sequence = Some(frame.sequence);
            let now = Instant::now();
            desk.picture_times.push_back(now);
            while desk
                .picture_times
                .front()
                .is_some_and(|at| now.duration_since(*at) > Duration::from_millis(FPS_WINDOW_MS))
            {
                desk.picture_times.pop_front();
            }
        }
        let camera_fps = match (desk.picture_times.front(), desk.picture_times.back()) {
            (Some(first), Some(last)) if desk.picture_times.len() > 2 => Some(
                (desk.picture_times.len() - 1) as f64
                    / last.duration_since(*first).as_secs_f64().max(1e-3),
            ),
            _ => None,
        };

        let view = TechView {
            state: &desk.state,
            catalog: &self.catalog,
            language: self.settings.flow.default_language,
            theme: &self.theme,
            notice: desk.notice.as_ref(),
            checks: &desk.checks,
            overall: desk.overall,
            checks_running: desk.diag_job.is_some(),
            camera: if desk.camera_on {
                self.camera_view()
            } else {
                None
            },
            camera_on: desk.camera_on,
            camera_fps,
            card_test: desk.card_test.as_deref(),
            card_waiting: desk.card_started.is_some(),
            bundle: desk.bundle.as_deref(),
            bundle_running: desk.bundle_job.is_some(),
            checking_pin: desk.pin_check.is_some(),
        };
        let intent = technician_ui(ui, &view, &mut desk.form);
        if desk.state.screen == TechScreen::SignIn {
            self.demo_badges_ui(ui, self.settings.flow.default_language);
        }
        if let Some(intent) = intent {
            step(&mut desk, TechEvent::Activity { now_ms });
            self.technician_intent(&mut desk, intent);
        }
        let busy = desk.pin_check.is_some()
            || desk.diag_job.is_some()
            || desk.bundle_job.is_some()
            || desk.camera_on
            || self.card_worker.is_some();
        let leaving =
            intent == Some(TechIntent::Leave) || matches!(desk.notice, Some(TechNotice::Closed));
        if leaving && technician::is_over(&desk.state) {
            self.close_technician();
        } else {
            self.technician = Some(desk);
        }
        DeskFrame {
            effects: Vec::new(),
            busy,
        }
    }

    fn technician_intent(&mut self, desk: &mut TechnicianDesk, intent: TechIntent) {
        match intent {
            TechIntent::SignIn => {
                let badge = desk.form.badge.trim().to_owned();
                let pin = std::mem::take(&mut desk.form.pin);
                let Some(officers) = self.services.officers.clone() else {
                    return;
                };
                if badge.is_empty() || pin.is_empty() {
                    return;
                }
                if let Err(until_ms) = desk.state.auth.may_try(&badge, self.now_ms()) {
                    desk.notice = Some(TechNotice::Auth(
                        enroll_core::flows::officer_auth::AuthNotice::BadgeLocked { until_ms },
                    ));
                    return;
                }
                desk.notice = None;
                desk.pin_check = spawn_job("pin-check", move || {
                    let outcome = check_pin(&officers, &badge, &pin);
                    (badge, outcome)
                });
            }
            TechIntent::RunChecks => self.run_checks(desk),
            TechIntent::ToggleCamera => {
                self.stop_card();
                if desk.camera_on {
                    self.live.stop();
                    desk.camera_on = false;
                } else {
                    self.start_camera();
                    desk.camera_on = true;
                    desk.picture_times.clear();
                }
            }
            TechIntent::ReadCard => {
                self.live.stop();
                desk.camera_on = false;
                desk.card_test = None;
                desk.card_started = Some(Instant::now());
                self.stop_card();
                self.watch_card(AccessKey::None);
            }
            TechIntent::WriteBundle => {
                let Some(path) = self.services.config_path.clone() else {
                    return;
                };
                self.stop_card();
                self.live.stop();
                desk.camera_on = false;
                let dir = PathBuf::from(desk.form.bundle_dir.trim());
                desk.bundle = None;
                desk.bundle_job = spawn_job("diag-bundle", move || write_bundle(&path, &dir));
            }
            TechIntent::Leave => {
                let (next, _) =
                    technician::step(desk.state.clone(), TechEvent::Leave, &self.settings.auth);
                desk.state = next;
                desk.notice = None;
            }
        }
    }

    /// Back to the terminal's own screens, with the devices released.
    fn close_technician(&mut self) {
        self.stop_card();
        self.live.stop();
        self.technician = None;
        tracing::info!("technician's screen closed");
    }
}

fn check_pin(officers: &Arc<OfficerList>, badge: &str, pin: &str) -> PinOutcome {
    officers.check_pin(badge, pin)
}
