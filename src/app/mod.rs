//! The composition root of the GUI: builds the window, feeds person and clock events into the
//! flows, draws the screens and runs the effects. It owns no rules of its own.

pub mod analysis;
pub mod card_worker;
pub mod enrollment;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::language::Language;
use crate::flows::applicant::{self, ApplicantState, Effect, Event, FlowSettings, UiEvent};
use crate::ui::{self, View, i18n::Catalog, theme::Theme};

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

/// The parts of the configuration the GUI uses.
#[derive(Clone, Debug, PartialEq)]
pub struct AppSettings {
    /// The flow's settings.
    pub flow: FlowSettings,
    /// The languages offered, in order.
    pub languages: Vec<Language>,
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
            },
            languages: config.ui.languages.clone(),
        }
    }
}

/// The running kiosk: flow state plus what it needs to draw.
pub struct KioskApp {
    settings: AppSettings,
    catalog: Catalog,
    theme: Theme,
    state: ApplicantState,
    clock_origin: Instant,
    process_started: Instant,
    first_frame_logged: bool,
}

impl KioskApp {
    /// Starts at the attract screen. Call [`prepare_context`] on the egui context first.
    pub fn new(settings: AppSettings, catalog: Catalog, process_started: Instant) -> KioskApp {
        let theme = Theme::high_contrast();
        let clock_origin = Instant::now();
        let state = ApplicantState::idle(&settings.flow, 0);
        KioskApp {
            settings,
            catalog,
            theme,
            state,
            clock_origin,
            process_started,
            first_frame_logged: false,
        }
    }

    /// The flow state (for tests and diagnostics).
    pub fn state(&self) -> &ApplicantState {
        &self.state
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock_origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// One frame: tick the flow, draw, feed what the person did back in; returns the effects the
    /// window shell must carry out.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) -> Vec<Effect> {
        let mut effects = self.apply(Event::Tick {
            now_ms: self.now_ms(),
        });

        let (escape, close_requested) = ui.input(|input| {
            (
                input.key_pressed(egui::Key::Escape),
                input.viewport().close_requested(),
            )
        });
        let view = View {
            state: &self.state,
            catalog: &self.catalog,
            languages: &self.settings.languages,
            theme: &self.theme,
        };
        let drawn = ui::screen_ui(ui, &view);

        let intents = [
            drawn,
            escape.then_some(UiEvent::Escape),
            close_requested.then_some(UiEvent::CloseRequested),
        ];
        for intent in intents.into_iter().flatten() {
            let now_ms = self.now_ms();
            effects.extend(self.apply(Event::Ui { intent, now_ms }));
        }

        if !self.first_frame_logged {
            self.first_frame_logged = true;
            tracing::info!(
                elapsed_ms = self.process_started.elapsed().as_millis(),
                "first frame drawn"
            );
        }
        // Idle timeouts need ticks even when nobody touches the screen.
        ui.ctx().request_repaint_after(Duration::from_millis(500));
        effects
    }

    fn apply(&mut self, event: Event) -> Vec<Effect> {
        let (next, effects) = applicant::step(self.state.clone(), event, &self.settings.flow);
        if next.screen != self.state.screen {
            tracing::info!(from = ?self.state.screen, to = ?next.screen, "screen changed");
        }
        self.state = next;
        effects
    }
}

impl eframe::App for KioskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        for effect in self.frame_ui(ui) {
            let command = match effect {
                Effect::CloseProgram => egui::ViewportCommand::Close,
                Effect::RefuseClose => egui::ViewportCommand::CancelClose,
                // The device, engine and outbox effects are carried out by the device wiring
                // (issue 7, in progress): until it lands the GUI stops at "place your card".
                other => {
                    tracing::debug!(effect = ?other, "effect not wired yet");
                    continue;
                }
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
            Ok(Box::new(KioskApp::new(settings, catalog, process_started)))
        }),
    )
    .map_err(|error| AppError::Window(error.to_string()))
}
