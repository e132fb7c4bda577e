//! The composition root of the GUI: builds the window, feeds person and clock events into the
//! flows, draws the screens and runs the effects. It owns no rules of its own.

pub mod analysis;
mod badge_worker;
pub mod card_worker;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "demo")]
pub mod demo_assets;
pub mod enrollment;
pub mod enrollment_worker;
pub mod lockouts;
mod mrz_worker;
mod officer_desk;
pub mod printing;
pub mod sync_runner;
mod technician_desk;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use crate::app::analysis::{AnalysisReport, AnalysisWorker};
use crate::app::card_worker::{CardWorker, ReaderOpener};
#[cfg(feature = "demo")]
use crate::app::demo::DemoServices;
use crate::app::enrollment_worker::{
    ConfirmPhotos, EngineSlot, EnrollmentWorker, Job, Operators, Outcome, WorkerSettings,
};
use crate::app::sync_runner::SyncRunner;
use crate::config::Config;
use crate::config::{CardReaderConfig, MrzScannerConfig};
use crate::configured::{ConfiguredDevices, Devices};
use crate::officers::OfficerList;
use crate::ui::{self, View, i18n::Catalog, theme::Theme};
use enroll_core::domain::card_read::{AccessKey, CardRead};
use enroll_core::domain::document::CalendarDate;
use enroll_core::domain::language::Language;
use enroll_core::domain::reference::ShortReference;
use enroll_core::domain::tier::Tier;
use enroll_core::domain::time::UnixMs;
use enroll_core::flows::applicant::{
    self, ApplicantState, CardEvent, CardProblem, Delivery, Effect, Event, FlowSettings,
    MatchOutcome, ReceiptView, Screen,
};
use enroll_core::flows::officer_auth::AuthSettings;
use enroll_devices::camera::{
    self, CameraError, CameraErrorKind, CameraOpener, CameraReport, Frame,
};
use enroll_devices::card::{CardError, CardErrorKind};
use enroll_protocol::heartbeat::CheckState;

/// Why the GUI could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A translation file shipped with the program is broken (a build defect).
    #[error(transparent)]
    Catalog(#[from] ui::i18n::CatalogError),
    /// The window could not be created (no display, no OpenGL).
    #[error(
        "cannot open the kiosk window: {0}; check that a display is available (DISPLAY is set, or run under xvfb-run) and that OpenGL works (libgl1-mesa-dri)"
    )]
    Window(String),
}

/// How long quality must hold before the capture is taken (PRODUCT.md: about a second).
const AUTO_CAPTURE_HOLD_MS: u64 = 1_000;
/// Failed checks before a self-service applicant is referred to an officer (PRODUCT.md: three).
const MAX_FAILED_MATCHES: u8 = 3;
/// How long the receipt stays on screen before the terminal is ready for the next person.
const RECEIPT_SHOWN_MS: u64 = 30_000;
/// A running camera that gives no picture for this long has failed (a frozen driver, a stream of
/// undecodable frames); webcams deliver their first frame well within it.
const CAMERA_STALL_MS: u64 = 4_000;

/// Wrong PINs before a badge locks (PRODUCT.md: five).
const MAX_PIN_FAILURES: u8 = 5;
/// How long a badge stays locked (PRODUCT.md: ten minutes).
const PIN_LOCKOUT_MS: u64 = 10 * 60 * 1000;

/// The parts of the configuration the GUI uses.
#[derive(Clone, Debug, PartialEq)]
pub struct AppSettings {
    /// The flow's settings.
    pub flow: FlowSettings,
    /// The languages offered, in order.
    pub languages: Vec<Language>,
    /// Self-service kiosk (the applicant flow) or officer terminal (the officer flow).
    pub tier: Tier,
    /// Officer sign-in rules.
    pub auth: AuthSettings,
    /// Whether the card reader reads chips (PC/SC): the officer may type the MRZ.
    pub chip_reader: bool,
    /// The PC/SC reader officers tap their badges on (none: badges are typed).
    pub badge_reader: Option<String>,
    /// The serial MRZ line scanner beside the chip reader (none: the MRZ is typed).
    pub mrz_scanner: Option<MrzScannerConfig>,
    /// The holder page the receipt's activation QR opens.
    pub holder_page_url: String,
    /// The demo's badges, shown on its first screens (demo configurations only).
    pub demo_badges: Vec<ui::attract::ShownBadge>,
    /// This terminal's id (printed on receipts).
    pub terminal_id: String,
}

impl AppSettings {
    /// Takes what the GUI needs from the configuration.
    pub fn from_config(config: &Config) -> AppSettings {
        AppSettings {
            flow: FlowSettings {
                default_language: config.ui.default_language,
                applicant_timeout_ms: u64::from(config.idle.applicant_timeout_s) * 1000,
                exit_allowed: config.ui.escape_closes,
                auto_capture_hold_ms: AUTO_CAPTURE_HOLD_MS,
                max_failed_matches: MAX_FAILED_MATCHES,
                receipt_shown_ms: RECEIPT_SHOWN_MS,
                // Packs without a learned liveness model (the open pack) bring the active
                // challenge's settings; the flow asks for it whenever the pack has them.
                challenge: config.face.engine.challenge(),
            },
            languages: config.ui.languages.clone(),
            tier: config.terminal.tier,
            auth: AuthSettings {
                max_failures: MAX_PIN_FAILURES,
                lockout_ms: PIN_LOCKOUT_MS,
                session_lock_ms: u64::from(config.idle.officer_lock_s) * 1000,
            },
            chip_reader: matches!(config.card_reader, CardReaderConfig::Pcsc { .. }),
            badge_reader: config.terminal.badge_reader.clone(),
            mrz_scanner: match &config.card_reader {
                CardReaderConfig::Pcsc { mrz_scanner, .. } => mrz_scanner.clone(),
                _ => None,
            },
            holder_page_url: config.registry.holder_page_url.clone(),
            demo_badges: shown_demo_badges(config),
            terminal_id: config.terminal.id.clone(),
        }
    }
}

/// Draws the challenge's side from the operating system's randomness (`None`, logged, when
/// there is none: the capture cannot be checked).
fn draw_challenge_side() -> Option<enroll_core::domain::challenge::TurnSide> {
    match enroll_crypto::keys::random_bytes::<1>() {
        Ok([byte]) => Some(enroll_core::domain::challenge::TurnSide::from_random_byte(
            byte,
        )),
        Err(error) => {
            tracing::error!(%error, "no randomness for the liveness challenge");
            None
        }
    }
}

/// The demo badges a `[demo]` configuration shows (none elsewhere, or without the feature).
fn shown_demo_badges(config: &Config) -> Vec<ui::attract::ShownBadge> {
    #[cfg(feature = "demo")]
    if config.demo.is_some() {
        return demo::DEMO_BADGES
            .iter()
            .map(|demo| ui::attract::ShownBadge {
                role: demo.role,
                badge: demo.badge.to_owned(),
                pin: demo.pin.to_owned(),
            })
            .collect();
    }
    let _ = config;
    Vec::new()
}

/// What the app talks to: devices, the enrollment worker (face models, outbox), the sync worker
/// and, in a demo, the emulators. Each part is optional so the screens can run without hardware.
pub struct Services {
    /// Where cameras and card readers come from.
    pub devices: Option<Arc<dyn Devices>>,
    /// The face engine, once loaded.
    pub engine: EngineSlot,
    /// Checks and commits.
    pub enrollment: Option<EnrollmentWorker>,
    /// The registry sync.
    pub sync: Option<SyncRunner>,
    /// Demo emulators and registry.
    #[cfg(feature = "demo")]
    pub demo: DemoServices,
    /// The officers who may sign in (officer terminals), and the technicians.
    pub officers: Option<Arc<OfficerList>>,
    /// The receipt printer's thread, when a printer is configured.
    pub printer: Option<printing::PrinterWorker>,
    /// Wrong-PIN counts and lockouts kept in the outbox when the kiosk started.
    pub lockouts: Vec<enroll_store::PinFailures>,
    /// The configuration file, for the technician's checks.
    pub config_path: Option<PathBuf>,
    /// What sessions saw of the camera and the card reader (the heartbeat reports it).
    pub device_health: crate::device_health::DeviceHealth,
}

impl Services {
    /// Nothing attached (screens only).
    pub fn none() -> Services {
        Services {
            devices: None,
            engine: EngineSlot::default(),
            enrollment: None,
            sync: None,
            #[cfg(feature = "demo")]
            demo: DemoServices::none(),
            officers: None,
            printer: None,
            lockouts: Vec::new(),
            config_path: None,
            device_health: Default::default(),
        }
    }

    /// Starts everything `config` names. A part that cannot start is logged with its remedy and
    /// left out; the kiosk still opens (and the flow shows the problem where it meets it).
    pub fn start(config: &Config, engine: EngineSlot) -> Services {
        #[cfg(feature = "demo")]
        let demo = DemoServices::start(config).unwrap_or_else(|error| {
            tracing::error!(%error, "demo services not started");
            DemoServices::none()
        });
        let devices: Option<Arc<dyn Devices>> = Some(Arc::new(ConfiguredDevices::new(
            config,
            Arc::new(crate::clock::now),
        )));
        let enrollment =
            match EnrollmentWorker::spawn(WorkerSettings::from_config(config), engine.clone()) {
                Ok(worker) => Some(worker),
                Err(error) => {
                    tracing::error!(%error, "the enrollment thread cannot start");
                    None
                }
            };
        let device_health = crate::device_health::DeviceHealth::default();
        let sync = match SyncRunner::start(config, device_health.clone()) {
            Ok(sync) => Some(sync),
            Err(error) => {
                tracing::error!(%error, "records will not be sent until this is fixed");
                None
            }
        };
        let officers = match OfficerList::for_config(config) {
            Ok(list) => Some(Arc::new(list)),
            Err(error) => {
                tracing::error!(%error, "officers cannot sign in until the officer list is fixed");
                None
            }
        };
        let printer = config.printer.as_ref().and_then(|printer| {
            match printing::PrinterWorker::spawn(printer) {
                Ok(worker) => Some(worker),
                Err(error) => {
                    tracing::error!(%error, "the receipt printer thread cannot start");
                    None
                }
            }
        });
        // Read once at start, before the window opens (the enrollment thread writes them).
        let lockouts = enroll_store::Outbox::open(&config.store.database_path)
            .and_then(|outbox| outbox.pin_failures())
            .unwrap_or_else(|error| {
                tracing::error!(%error, "wrong-PIN counts kept before the restart cannot be read");
                Vec::new()
            });
        Services {
            lockouts,
            printer,
            devices,
            engine,
            enrollment,
            sync,
            #[cfg(feature = "demo")]
            demo,
            officers,
            config_path: Some(config.source_path.clone()),
            device_health,
        }
    }
}

/// The camera side of a session: the camera thread's channel, the analysis worker and the frames
/// and report the UI holds. Everything here is applicant data and goes at a wipe.
#[derive(Default)]
struct Live {
    camera: Option<Receiver<CameraReport>>,
    analysis: Option<AnalysisWorker>,
    /// The newest frame shown.
    latest: Option<Arc<Frame>>,
    /// The frame the analysis is working on.
    in_analysis: Option<Arc<Frame>>,
    /// The newest frame whose analysis said quality holds (what a capture takes).
    good: Option<Arc<Frame>>,
    /// The good frame kept while the liveness challenge runs (what its check takes).
    kept: Option<Arc<Frame>>,
    /// The frame shown when the challenge's blink was done: the live face the kept capture must
    /// be (compared at the check).
    challenge_face: Option<Arc<Frame>>,
    report: Option<AnalysisReport>,
    texture: Option<egui::TextureHandle>,
    /// The camera's last problem (its own words: device and remedy, no picture content).
    camera_error: Option<String>,
    /// When the running camera last gave a picture (or was started).
    last_picture_at: Option<Instant>,
}

impl Live {
    fn stop(&mut self) {
        self.camera = None;
        self.last_picture_at = None;
        if let Some(analysis) = self.analysis.take() {
            analysis.detach();
        }
        self.latest = None;
        self.in_analysis = None;
        self.report = None;
        self.texture = None;
    }
}

/// What the devices and workers reported since the last frame.
#[derive(Default)]
struct Reports {
    card: Vec<CardEvent>,
    /// A new live analysis arrived (it is in `Live::report`).
    new_analysis: bool,
    /// The camera failed (could not open, went away, stopped giving pictures).
    camera_failed: bool,
    outcomes: Vec<Outcome>,
}

/// The desks a terminal's window shows. An officer terminal's window is the officer's desk, a
/// self-service kiosk's the applicant's; the technician's service screens open over either
/// ("Service" on the attract or sign-in screen) and hand the window back when closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desk {
    /// The applicant's self-service screens, attract to receipt.
    Applicant,
    /// The officer's terminal: sign-in, enrollment, decision, override.
    Officer,
    /// The technician's sign-in and service screens.
    Technician,
}

/// Devices and workers report through channels: while a desk waits on one, the next frame
/// comes this soon.
const BUSY_REPAINT_MS: u64 = 15;
/// Idle timers (timeouts, session locks) need frames even when nobody touches the screen.
const IDLE_REPAINT_MS: u64 = 250;

/// What a desk's frame leaves for the shared frame routine.
struct DeskFrame {
    /// Effects only the window shell can carry out.
    effects: Vec<Effect>,
    /// Whether the desk waits on a device or worker (the next frame comes soon).
    busy: bool,
}

impl DeskFrame {
    fn idle() -> DeskFrame {
        DeskFrame {
            effects: Vec::new(),
            busy: false,
        }
    }
}

/// A portrait and the card's photo uploaded for a screen that shows them; dropping it frees the
/// textures.
pub(crate) struct PhotoTextures {
    portrait: egui::TextureHandle,
    card: Option<egui::TextureHandle>,
}

impl PhotoTextures {
    /// Uploads `photos` (named `<name>-portrait`, `<name>-card`); `None` without a portrait.
    fn upload(ctx: &egui::Context, photos: &ConfirmPhotos, name: &str) -> Option<PhotoTextures> {
        let upload = |part: &str, image: &image::RgbImage| {
            let size = [image.width() as usize, image.height() as usize];
            ctx.load_texture(
                format!("{name}-{part}"),
                egui::ColorImage::from_rgb(size, image.as_raw()),
                egui::TextureOptions::LINEAR,
            )
        };
        Some(PhotoTextures {
            portrait: upload("portrait", photos.portrait.as_ref()?),
            card: photos.card.as_ref().map(|card| upload("card", card)),
        })
    }

    fn view(&self) -> ui::PhotosView {
        let sized = |t: &egui::TextureHandle| {
            let [w, h] = t.size();
            (t.id(), [w as f32, h as f32])
        };
        ui::PhotosView {
            portrait: sized(&self.portrait),
            card: self.card.as_ref().map(sized),
        }
    }

    fn sizes(&self) -> ([usize; 2], Option<[usize; 2]>) {
        (
            self.portrait.size(),
            self.card.as_ref().map(egui::TextureHandle::size),
        )
    }
}

/// The running kiosk: flow state, the workers it feeds, and what it needs to draw.
pub struct KioskApp {
    settings: AppSettings,
    catalog: Catalog,
    theme: Theme,
    state: ApplicantState,
    clock_origin: Instant,
    process_started: Instant,
    first_frame_logged: bool,
    services: Services,
    live: Live,
    card_worker: Option<CardWorker>,
    retired_card_thread: Option<std::thread::JoinHandle<()>>,
    /// Whether the enrollment worker holds a checked capture of this session.
    worker_holds_capture: bool,
    /// The faces of the last check, waiting to be uploaded for the confirm screen.
    confirm_photos: Option<ConfirmPhotos>,
    /// Their textures, while the confirm screen shows them.
    photo_textures: Option<PhotoTextures>,
    /// When the record on the receipt was committed (Unix ms), to see it acknowledged.
    committed_at_unix_ms: Option<UnixMs>,
    /// UI-thread time of the last frames, for the frame budget (ms).
    frame_times_ms: Vec<f64>,
    /// The officer terminal, when this terminal's tier is "officer".
    officer: Option<officer_desk::OfficerDesk>,
    /// The technician's screens, while open.
    technician: Option<technician_desk::TechnicianDesk>,
    /// The last paper receipt's progress.
    print_line: Option<ui::PrintLine>,
    /// Wrong-PIN counts and lockouts as kept in the outbox.
    lockouts: lockouts::Lockouts,
}

impl KioskApp {
    /// Starts at the attract screen with no devices (screens only). Call [`prepare_context`] on
    /// the egui context first.
    pub fn new(settings: AppSettings, catalog: Catalog, process_started: Instant) -> KioskApp {
        Self::with_services(settings, catalog, process_started, Services::none())
    }

    /// Starts at the attract screen with `services`.
    pub fn with_services(
        settings: AppSettings,
        catalog: Catalog,
        process_started: Instant,
        services: Services,
    ) -> KioskApp {
        let theme = Theme::high_contrast();
        let clock_origin = Instant::now();
        let state = ApplicantState::idle(&settings.flow, 0);
        let lockouts = lockouts::Lockouts::from_stored(services.lockouts.clone());
        let officer = (settings.tier == Tier::Officer).then(|| {
            let mut desk = officer_desk::OfficerDesk::new(
                settings.badge_reader.clone(),
                settings.mrz_scanner.clone(),
            );
            desk.restore_failures(lockouts.for_flow(
                0,
                crate::clock::now(),
                settings.auth.lockout_ms,
            ));
            desk
        });
        KioskApp {
            settings,
            catalog,
            theme,
            state,
            clock_origin,
            process_started,
            first_frame_logged: false,
            services,
            live: Live::default(),
            card_worker: None,
            retired_card_thread: None,
            worker_holds_capture: false,
            confirm_photos: None,
            photo_textures: None,
            committed_at_unix_ms: None,
            frame_times_ms: Vec::new(),
            officer,
            technician: None,
            print_line: None,
            lockouts,
        }
    }

    /// The flow state (for tests and diagnostics).
    pub fn state(&self) -> &ApplicantState {
        &self.state
    }

    /// The services (tests reach the demo's emulator through them).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Whether anything about an applicant is held: in the flow state, in camera frames or
    /// analysis, or a checked capture in the enrollment worker.
    pub fn holds_applicant_data(&self) -> bool {
        self.state.holds_applicant_data()
            || self
                .officer
                .as_ref()
                .is_some_and(officer_desk::OfficerDesk::holds_applicant_data)
            || self.live.latest.is_some()
            || self.live.good.is_some()
            || self.live.in_analysis.is_some()
            || self.live.report.is_some()
            || self.live.texture.is_some()
            || self.worker_holds_capture
    }

    /// Whether the camera is running.
    pub fn camera_running(&self) -> bool {
        self.live.camera.is_some()
    }

    /// UI-thread time of every frame drawn so far, in milliseconds.
    pub fn frame_times_ms(&self) -> &[f64] {
        &self.frame_times_ms
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock_origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The desk the window shows now.
    pub fn desk(&self) -> Desk {
        if self.technician.is_some() {
            Desk::Technician
        } else if self.officer.is_some() {
            Desk::Officer
        } else {
            Desk::Applicant
        }
    }

    /// One frame, the same routine for every desk: the desk collects what its devices and
    /// workers reported, steps its flow, draws and carries out the effects; then Escape and the
    /// window system's close request get the window's one rule, the next repaint is asked for
    /// (soon while the desk waits on a device or worker, else for the idle timers) and the
    /// frame's UI-thread time is kept. Returns the effects only the window shell can carry out
    /// (closing, refusing to close).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) -> Vec<Effect> {
        let started = Instant::now();
        let (escape, close_requested) = ui.input(|input| {
            (
                input.key_pressed(egui::Key::Escape),
                input.viewport().close_requested(),
            )
        });
        let frame = match self.desk() {
            Desk::Applicant => self.applicant_frame(ui),
            Desk::Officer => match self.officer.take() {
                Some(desk) => self.officer_frame(ui, desk),
                None => DeskFrame::idle(),
            },
            Desk::Technician => match self.technician.take() {
                Some(desk) => self.technician_frame(ui, desk),
                None => DeskFrame::idle(),
            },
        };
        let mut window_effects = frame.effects;
        window_effects.extend(applicant::window_effects(
            self.settings.flow.exit_allowed,
            escape,
            close_requested,
        ));
        self.log_first_frame();
        let repaint_ms = if frame.busy {
            BUSY_REPAINT_MS
        } else {
            IDLE_REPAINT_MS
        };
        ui.ctx()
            .request_repaint_after(Duration::from_millis(repaint_ms));
        self.frame_times_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        window_effects
    }

    /// The applicant's self-service screens for one frame.
    fn applicant_frame(&mut self, ui: &mut egui::Ui) -> DeskFrame {
        let mut window_effects = Vec::new();
        for event in self.collect_events(ui.ctx()) {
            let effects = self.apply(event);
            window_effects.extend(self.carry_out(effects));
        }
        let tick = Event::Tick {
            now_ms: self.now_ms(),
        };
        let effects = self.apply(tick);
        window_effects.extend(self.carry_out(effects));

        let theme = Theme::for_display(self.state.large_text, self.state.max_contrast);
        if theme != self.theme {
            theme.apply(ui.ctx());
            self.theme = theme;
        }
        let camera = self.camera_view();
        let photos = self.photos_view(ui.ctx());
        let view = View {
            state: &self.state,
            catalog: &self.catalog,
            languages: &self.settings.languages,
            theme: &self.theme,
            camera,
            photos,
            printing: self.print_line.as_ref(),
        };
        let drawn = ui::screen_ui(ui, &view);
        if self.state.screen == Screen::Attract {
            self.demo_badges_ui(ui, self.state.language);
            if ui::technician::service_button(ui, &self.catalog, self.state.language, &self.theme) {
                self.open_technician();
            }
        }

        if let Some(intent) = drawn {
            let now_ms = self.now_ms();
            let effects = self.apply(Event::Ui { intent, now_ms });
            window_effects.extend(self.carry_out(effects));
        }
        DeskFrame {
            effects: window_effects,
            busy: self.live.camera.is_some()
                || self.card_worker.is_some()
                || matches!(self.state.screen, Screen::Checking | Screen::Saving),
        }
    }

    fn log_first_frame(&mut self) {
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            tracing::info!(
                elapsed_ms = self.process_started.elapsed().as_millis(),
                "first frame drawn"
            );
        }
    }

    /// Everything the devices and workers reported since the last frame, as flow events.
    fn collect_events(&mut self, ctx: &egui::Context) -> Vec<Event> {
        let reports = self.collect_reports(ctx);
        let mut events = Vec::new();
        let now_ms = self.now_ms();
        for event in reports.card {
            let Some(today) = today_utc() else {
                tracing::error!("the system clock is unusable; set the time (kiosk diag)");
                break;
            };
            events.push(Event::Card {
                event,
                today,
                now_ms,
            });
        }
        if reports.camera_failed {
            events.push(Event::CameraFailed { now_ms });
        }
        if let Some(report) = &self.live.report
            && reports.new_analysis
        {
            events.push(Event::Frame {
                guidance: report.guidance,
                face_present: report.face_present,
                observation: Some(enroll_core::domain::challenge::Observation {
                    at_ms: now_ms,
                    ..report.observation
                }),
                now_ms,
            });
        }
        for outcome in reports.outcomes {
            match outcome {
                Outcome::ModelsLoaded(_) => {}
                Outcome::Checked(Ok(summary)) => events.push({
                    self.confirm_photos = Some(summary.photos.clone());
                    Event::Checked {
                        outcome: MatchOutcome {
                            score_cosine: summary.score_cosine.unwrap_or(f32::NAN),
                            is_match: summary.is_match,
                            live: summary.live,
                        },
                        now_ms,
                    }
                }),
                Outcome::Checked(Err(_)) => events.push(Event::CheckFailed { now_ms }),
                Outcome::Committed(Ok(committed)) => {
                    let online = self
                        .services
                        .sync
                        .as_ref()
                        .is_some_and(|sync| sync.state().online);
                    self.committed_at_unix_ms = Some(crate::clock::now());
                    events.push(Event::Saved {
                        receipt: ReceiptView {
                            record_id: committed.record_id.to_string(),
                            reference: ShortReference::of(&committed.record_id).grouped(),
                            qr_text: committed.receipt_text,
                            activation_link: committed
                                .activation_code
                                .holder_link(&self.settings.holder_page_url),
                            activation_code: committed.activation_code.grouped(),
                            delivery: if online {
                                Delivery::Sending
                            } else {
                                Delivery::WhenOnline
                            },
                        },
                        now_ms,
                    });
                }
                Outcome::Committed(Err(reason)) => {
                    events.push(Event::SaveFailed { reason, now_ms });
                }
                Outcome::Records { .. } | Outcome::Reprinted(_) => {}
            }
        }
        if self.receipt_reached_registry() {
            events.push(Event::RecordSent);
        }
        events
    }

    /// Whether the record on the receipt has been acknowledged: the sync worker has sent
    /// everything since it was committed (one applicant at a time, so the queue holds no other
    /// new record) and had no problem doing so.
    fn receipt_reached_registry(&self) -> bool {
        let waiting = self
            .state
            .receipt
            .as_ref()
            .is_some_and(|receipt| receipt.delivery != Delivery::Sent);
        match (waiting, self.committed_at_unix_ms, &self.services.sync) {
            (true, Some(committed_at), Some(sync)) => {
                let state = sync.state();
                state.unsent == 0
                    && state.last_error.is_none()
                    && state
                        .last_success_unix_ms
                        .is_some_and(|at| at >= committed_at)
            }
            _ => false,
        }
    }

    /// What the devices and workers reported since the last frame (for either flow).
    fn collect_reports(&mut self, ctx: &egui::Context) -> Reports {
        let mut reports = Reports::default();
        if let Some(printer) = &self.services.printer {
            while let Some(report) = printer.next_report() {
                self.print_line = Some(match report.result {
                    Ok(paper_low) => ui::PrintLine::Printed {
                        reference: report.reference,
                        paper_low,
                    },
                    Err(problem) => ui::PrintLine::Failed {
                        reference: report.reference,
                        problem,
                    },
                });
            }
        }
        if let Some(worker) = &self.card_worker {
            while let Some(event) = worker.next_event() {
                let reader = match &event {
                    CardEvent::Present | CardEvent::Read(_) => Some(CheckState::Ok),
                    CardEvent::Failed(CardProblem::ReaderUnavailable) => Some(CheckState::Fail),
                    CardEvent::Failed(_) | CardEvent::Removed => None,
                };
                if let Some(state) = reader {
                    self.services
                        .device_health
                        .set(crate::diag::CheckId::CardReader, state);
                }
                reports.card.push(event);
            }
        }
        reports.camera_failed = self.collect_camera(ctx);
        if reports.camera_failed {
            self.services
                .device_health
                .set(crate::diag::CheckId::Camera, CheckState::Fail);
        }
        if let Some(analysis) = &self.live.analysis
            && let Some(report) = analysis.latest_report()
        {
            if report.guidance.is_none()
                && let Some(frame) = &self.live.in_analysis
                && frame.sequence == report.sequence
            {
                self.live.good = Some(Arc::clone(frame));
            }
            self.live.in_analysis = None;
            self.live.report = Some(report);
            reports.new_analysis = true;
        }
        let mut outcomes = Vec::new();
        if let Some(worker) = &self.services.enrollment {
            while let Some(outcome) = worker.next_outcome() {
                outcomes.push(outcome);
            }
        }
        {
            for outcome in outcomes {
                match &outcome {
                    Outcome::ModelsLoaded(Ok(())) => {}
                    Outcome::ModelsLoaded(Err(error)) => {
                        tracing::error!(%error, "faces cannot be checked on this terminal");
                    }
                    Outcome::Checked(Ok(_)) => {}
                    Outcome::Checked(Err(error)) => {
                        tracing::warn!(%error, "the capture could not be checked");
                        self.worker_holds_capture = false;
                    }
                    Outcome::Committed(Ok(committed)) => {
                        self.worker_holds_capture = false;
                        let receipt = self.paper_receipt_of(committed);
                        self.print(receipt);
                    }
                    Outcome::Reprinted(Ok(receipt)) => self.print(receipt.clone()),
                    Outcome::Reprinted(Err(error)) => {
                        tracing::warn!(%error, "the receipt cannot be made again");
                    }
                    Outcome::Records { .. } => {}
                    Outcome::Committed(Err(reason)) => {
                        self.worker_holds_capture = false;
                        tracing::warn!(%reason, "the record could not be saved");
                    }
                }
                reports.outcomes.push(outcome);
            }
        }
        reports
    }

    /// Takes the newest camera frame: shows it and offers it to the analysis. Returns whether
    /// the camera failed: it could not open, went away, ended, or gave no picture for
    /// [`CAMERA_STALL_MS`] (one bad frame is only logged).
    fn collect_camera(&mut self, ctx: &egui::Context) -> bool {
        let Some(camera) = &self.live.camera else {
            return false;
        };
        let mut newest = None;
        let mut failed = false;
        loop {
            match camera.try_recv() {
                Ok(CameraReport::Frame(frame)) => newest = Some(frame),
                Ok(CameraReport::Error(error)) => {
                    if self.live.camera_error.as_deref() != Some(error.message.as_str()) {
                        tracing::warn!(kind = ?error.kind, %error, "camera problem");
                    }
                    failed |= error.kind != CameraErrorKind::BadFrame;
                    self.live.camera_error = Some(error.message);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    failed = true;
                    break;
                }
            }
        }
        let now = Instant::now();
        let stalled = newest.is_none()
            && self
                .live
                .last_picture_at
                .is_some_and(|at| now.duration_since(at) >= Duration::from_millis(CAMERA_STALL_MS));
        if stalled && !failed {
            let message = format!(
                "the camera gave no picture for {} s; check its cable, or restart the terminal",
                CAMERA_STALL_MS / 1000
            );
            tracing::warn!(%message, "camera problem");
            self.live.camera_error = Some(message);
        }
        if failed || stalled {
            // The flow stops the camera; until then, no second report.
            self.live.camera = None;
            self.live.last_picture_at = None;
            return true;
        }
        let Some(frame) = newest else {
            return false;
        };
        self.live.last_picture_at = Some(now);
        self.services
            .device_health
            .set(crate::diag::CheckId::Camera, CheckState::Ok);
        let frame = Arc::new(frame);
        let size = [frame.image.width() as usize, frame.image.height() as usize];
        let picture = egui::ColorImage::from_rgb(size, frame.image.as_raw());
        match &mut self.live.texture {
            Some(texture) => texture.set(picture, egui::TextureOptions::LINEAR),
            None => {
                self.live.texture =
                    Some(ctx.load_texture("camera", picture, egui::TextureOptions::LINEAR));
            }
        }
        if self.live.analysis.is_none()
            && let Some(engine) = self.services.engine.engine()
        {
            match AnalysisWorker::spawn(engine) {
                Ok(worker) => self.live.analysis = Some(worker),
                Err(error) => tracing::error!(%error, "the analysis thread cannot start"),
            }
        }
        if self.live.in_analysis.is_none()
            && let Some(analysis) = &self.live.analysis
            && analysis.offer(Arc::clone(&frame))
        {
            self.live.in_analysis = Some(Arc::clone(&frame));
        }
        self.live.latest = Some(frame);
        false
    }

    /// The confirm screen's faces, uploaded once; dropped (images and textures) as soon as the
    /// screen is another.
    fn photos_view(&mut self, ctx: &egui::Context) -> Option<ui::PhotosView> {
        if self.state.screen != Screen::Confirm {
            if !matches!(self.state.screen, Screen::Checking) {
                self.confirm_photos = None;
            }
            self.photo_textures = None;
            return None;
        }
        if self.photo_textures.is_none() {
            let photos = self.confirm_photos.take()?;
            self.photo_textures = PhotoTextures::upload(ctx, &photos, "confirm");
        }
        self.photo_textures.as_ref().map(PhotoTextures::view)
    }

    /// The paper receipt of a record just committed.
    fn paper_receipt_of(
        &self,
        committed: &enrollment_worker::CommitSummary,
    ) -> printing::PaperReceipt {
        printing::PaperReceipt {
            reference: ShortReference::of(&committed.record_id).grouped(),
            receipt_text: committed.receipt_text.clone(),
            activation_code: committed.activation_code.grouped(),
            activation_link: committed
                .activation_code
                .holder_link(&self.settings.holder_page_url),
            terminal_id: self.settings.terminal_id.clone(),
            created_at_unix_ms: crate::clock::now(),
        }
    }

    /// Sends `receipt` to the printer, when there is one (never waits).
    fn print(&mut self, receipt: printing::PaperReceipt) {
        if let Some(printer) = &self.services.printer {
            self.print_line = Some(ui::PrintLine::Printing {
                reference: receipt.reference.clone(),
            });
            printer.print(receipt);
        }
    }

    /// The demo's badges along the bottom of a first screen (nothing on a real terminal).
    fn demo_badges_ui(&self, ui: &mut egui::Ui, language: Language) {
        ui::attract::demo_badges_ui(
            ui,
            &self.catalog,
            language,
            &self.theme,
            &self.settings.demo_badges,
        );
    }

    /// Keeps `badge`'s wrong-PIN count and lockout after a PIN check moved `auth` on, through
    /// the enrollment thread (the outbox's writer), so they hold across a restart.
    fn keep_pin_failures(
        &mut self,
        badge: &str,
        auth: &enroll_core::flows::officer_auth::AuthState,
    ) {
        let now_ms = self.now_ms();
        if let Some(changed) = self
            .lockouts
            .changed(badge, auth, now_ms, crate::clock::now())
            && let Some(worker) = &self.services.enrollment
        {
            worker.submit(Job::KeepPinFailures(changed));
        }
    }

    /// The kept counters on this kiosk's flow clock, for a sign-in screen that opens now.
    fn kept_pin_failures(
        &self,
    ) -> std::collections::BTreeMap<String, enroll_core::flows::officer_auth::BadgeFailures> {
        self.lockouts.for_flow(
            self.now_ms(),
            crate::clock::now(),
            self.settings.auth.lockout_ms,
        )
    }

    /// How the last paper receipt is doing.
    pub fn print_line(&self) -> Option<&ui::PrintLine> {
        self.print_line.as_ref()
    }

    /// The sizes of the faces the confirm screen shows (portrait, card), while it shows them.
    pub fn confirm_photo_sizes(&self) -> Option<([usize; 2], Option<[usize; 2]>)> {
        self.photo_textures.as_ref().map(PhotoTextures::sizes)
    }

    fn camera_view(&self) -> Option<ui::CameraView> {
        let texture = self.live.texture.as_ref()?;
        let frame = self.live.latest.as_ref()?;
        let report = self.live.report.as_ref();
        Some(ui::CameraView {
            texture: texture.id(),
            frame_size_px: [frame.image.width() as f32, frame.image.height() as f32],
            face_box_px: report.and_then(|r| r.face_box),
            quality_holds: report.is_some_and(|r| r.guidance.is_none()),
        })
    }

    fn apply(&mut self, event: Event) -> Vec<Effect> {
        let (next, effects) = applicant::step(self.state.clone(), event, &self.settings.flow);
        if next.screen != self.state.screen {
            tracing::info!(from = ?self.state.screen, to = ?next.screen, "screen changed");
        }
        let prompt = next.prompt();
        self.prompt_changed(self.state.prompt(), prompt);
        self.state = next;
        effects
    }

    /// Carries out the device and worker effects (never waiting on them); returns the window's.
    /// An effect that cannot be started (no frame to check, no outbox) becomes an event that is
    /// stepped only after the whole list ran, so its own effects are not undone by the rest of
    /// the list (a restarted camera stopped by a later `StopCamera`).
    fn carry_out(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut window = Vec::new();
        let mut follow_ups = Vec::new();
        for effect in effects {
            match effect {
                Effect::CloseProgram | Effect::RefuseClose => window.push(effect),
                Effect::WatchCard => self.watch_card(AccessKey::None),
                Effect::StopCard => self.stop_card(),
                Effect::StartCamera => self.start_camera(),
                Effect::StopCamera => self.live.stop(),
                Effect::CaptureAndCheck => {
                    let card = self.state.card.clone();
                    if !self.capture_and_check(card) {
                        follow_ups.push(Event::CheckFailed {
                            now_ms: self.now_ms(),
                        });
                    }
                }
                Effect::KeepCapture => self.keep_capture(),
                Effect::DrawChallengeSide => match draw_challenge_side() {
                    Some(side) => follow_ups.push(Event::ChallengeSide {
                        side,
                        now_ms: self.now_ms(),
                    }),
                    None => follow_ups.push(Event::CheckFailed {
                        now_ms: self.now_ms(),
                    }),
                },
                Effect::CheckKeptCapture => {
                    let card = self.state.card.clone();
                    if !self.check_kept_capture(card) {
                        follow_ups.push(Event::CheckFailed {
                            now_ms: self.now_ms(),
                        });
                    }
                }
                Effect::SaveRecord => {
                    let card = self.state.card.clone();
                    let challenge = enroll_core::domain::challenge::ChallengeRecord {
                        outcome: self.state.last_challenge,
                        waived: None,
                    };
                    if !self.save_record(card, Operators::default(), challenge) {
                        follow_ups.push(Event::SaveFailed {
                            reason: "the outbox is not available on this terminal".into(),
                            now_ms: self.now_ms(),
                        });
                    }
                }
                Effect::WipeApplicantData => self.wipe_applicant_data(),
            }
        }
        for event in follow_ups {
            let effects = self.apply(event);
            window.extend(self.carry_out(effects));
        }
        window
    }

    fn wipe_applicant_data(&mut self) {
        self.live.stop();
        self.live.good = None;
        self.live.kept = None;
        self.live.challenge_face = None;
        self.live.camera_error = None;
        if let Some(worker) = &self.services.enrollment {
            worker.submit(Job::Wipe);
        }
        self.worker_holds_capture = false;
        self.committed_at_unix_ms = None;
    }

    fn stop_card(&mut self) {
        if let Some(worker) = self.card_worker.take() {
            self.retired_card_thread = worker.retire();
        }
    }

    fn watch_card(&mut self, key: AccessKey) {
        if self.card_worker.is_some() {
            return;
        }
        let devices = self.services.devices.clone();
        let open: ReaderOpener = Box::new(move || match devices {
            Some(devices) => devices.open_card_reader(),
            None => Err(CardError::new(
                CardErrorKind::DeviceGone,
                "no card reader is configured",
            )),
        });
        match CardWorker::spawn_opening(open, key, self.retired_card_thread.take()) {
            Ok(worker) => self.card_worker = Some(worker),
            Err(error) => tracing::error!(%error, "the card thread cannot start"),
        }
    }

    fn start_camera(&mut self) {
        if self.live.camera.is_some() {
            return;
        }
        self.live.good = None;
        let devices = self.services.devices.clone();
        let open: CameraOpener = Box::new(move || match devices {
            Some(devices) => devices.open_camera(),
            None => Err(CameraError {
                kind: CameraErrorKind::NotFound,
                message: "no camera is configured".into(),
            }),
        });
        self.live.camera_error = None;
        match camera::spawn_opening(open, 2) {
            Ok((receiver, _thread)) => {
                self.live.camera = Some(receiver);
                self.live.last_picture_at = Some(Instant::now());
            }
            Err(error) => tracing::error!(%error, "the camera thread cannot start"),
        }
    }

    /// Hands the best recent frame and the card to the enrollment worker; `false` when there is
    /// nothing to check (no frame, no card, no worker).
    /// Keeps the newest good frame (else the newest) for the check after the challenge.
    fn keep_capture(&mut self) {
        self.live.kept = self.live.good.clone().or_else(|| self.live.latest.clone());
        self.live.challenge_face = None;
    }

    /// The challenge's prompt changed from `before` to `now` (either flow): the demo's person
    /// is told, and when the blink is done (the turn is asked) the face on screen is kept as the
    /// live face the capture must be.
    fn prompt_changed(
        &mut self,
        before: Option<enroll_core::domain::challenge::Prompt>,
        now: Option<enroll_core::domain::challenge::Prompt>,
    ) {
        use enroll_core::domain::challenge::Prompt;
        if before == now {
            return;
        }
        if before == Some(Prompt::Blink) && matches!(now, Some(Prompt::Turn(_))) {
            self.live.challenge_face = self.live.latest.clone();
        }
        if let Some(devices) = &self.services.devices {
            devices.applicant_sees(now);
        }
    }

    /// Checks the frame kept before the challenge, and that the face which did the challenge is
    /// the same; `false` when something is missing.
    fn check_kept_capture(&mut self, card: Option<Box<CardRead>>) -> bool {
        let frame = self.live.kept.take();
        let challenge_face = self.live.challenge_face.take();
        self.check_frame(card, frame, challenge_face)
    }

    fn capture_and_check(&mut self, card: Option<Box<CardRead>>) -> bool {
        let frame = self.live.good.take().or_else(|| self.live.latest.clone());
        self.check_frame(card, frame, None)
    }

    /// Hands `frame` and the card to the enrollment worker's check; `false` when one is missing.
    fn check_frame(
        &mut self,
        card: Option<Box<CardRead>>,
        frame: Option<Arc<Frame>>,
        challenge_face: Option<Arc<Frame>>,
    ) -> bool {
        match (frame, card, &self.services.enrollment) {
            (Some(frame), Some(card), Some(worker)) => {
                worker.submit(Job::Check {
                    capture: frame.image.clone(),
                    card,
                    challenge_face: challenge_face.map(|face| face.image.clone()),
                });
                self.worker_holds_capture = true;
                true
            }
            _ => {
                tracing::warn!("nothing to check: no frame, card or enrollment worker");
                false
            }
        }
    }

    /// Hands the commit to the enrollment worker; `false` when there is no worker or card.
    fn save_record(
        &mut self,
        card: Option<Box<CardRead>>,
        operators: Operators,
        challenge: enroll_core::domain::challenge::ChallengeRecord,
    ) -> bool {
        match (card, &self.services.enrollment) {
            (Some(card), Some(worker)) => {
                worker.submit(Job::Commit {
                    card,
                    operators,
                    challenge,
                });
                true
            }
            _ => false,
        }
    }
}

/// Today's date (UTC) for the card's expiry check.
fn today_utc() -> Option<CalendarDate> {
    crate::clock::now().utc_date()
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        for effect in self.frame_ui(ui) {
            let command = match effect {
                Effect::CloseProgram => egui::ViewportCommand::Close,
                Effect::RefuseClose => egui::ViewportCommand::CancelClose,
                _ => continue,
            };
            ui.ctx().send_viewport_cmd(command);
        }
    }
}

/// Installs fonts and the theme on a context before its first frame (a glyph missing in the first
/// frame would otherwise be drawn as a box).
pub fn prepare_context(ctx: &egui::Context, cjk_font: Option<Vec<u8>>) {
    ui::theme::install_fonts(ctx, cjk_font);
    Theme::high_contrast().apply(ctx);
}

/// Reads the CJK font; without it the kiosk still runs, but Chinese shows as boxes, so say so.
pub fn read_cjk_font(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            tracing::info!(path = %path.display(), "CJK fallback font loaded");
            Some(bytes)
        }
        Err(error) => {
            tracing::warn!(
                path = %path.display(),
                %error,
                "CJK font not readable: Chinese text cannot be drawn; install fonts-wqy-microhei (scripts/setup.sh) or fix ui.cjk_font_path"
            );
            None
        }
    }
}

/// Opens the kiosk window and runs until the program is closed.
pub fn run(config: &Config, process_started: Instant) -> Result<(), AppError> {
    let catalog = Catalog::load_all()?;
    let cjk_font = read_cjk_font(&config.ui.cjk_font_path);
    let settings = AppSettings::from_config(config);
    // The models load on the enrollment thread while the window opens.
    let services = Services::start(config, EngineSlot::default());
    let viewport = egui::ViewportBuilder::default()
        .with_title("enroll-kiosk")
        .with_app_id("enroll-kiosk")
        .with_inner_size([1280.0, 800.0])
        .with_fullscreen(config.ui.fullscreen);
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "enroll-kiosk",
        options,
        Box::new(move |cc| {
            prepare_context(&cc.egui_ctx, cjk_font);
            Ok(Box::new(KioskApp::with_services(
                settings,
                catalog,
                process_started,
                services,
            )))
        }),
    )
    .map_err(|error| AppError::Window(error.to_string()))
}
