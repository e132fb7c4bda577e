//! The technician's screens: sign-in (badge + PIN), then the checks as a table, the camera test
//! (live picture with the face box and the measured frame rate), the card test, and writing the
//! diagnostic bundle to a chosen folder. It draws and returns what was asked; it runs nothing.
//! Check names, values and advice come from the diagnostics in English (the technician's
//! working language); the controls are translated.

use super::CameraView;
use super::i18n::{Catalog, Msg};
use super::officer::field;
use super::session::camera_ui;
use super::theme::Theme;
use std::path::Path;

use crate::diag::{Report, Status};
use enroll_core::domain::document::DocumentKind;
use enroll_core::domain::language::Language;
use enroll_core::flows::officer_auth::AuthNotice;
use enroll_core::flows::technician::{TechNotice, TechScreen, TechState};

/// How a check came out, for colouring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStatus {
    Ok,
    Warn,
    Fail,
}

/// One check's line.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckLine {
    pub check: String,
    pub status: LineStatus,
    pub value: String,
    pub advice: Option<String>,
}

/// The typed fields.
#[derive(Default)]
pub struct TechForm {
    pub badge: String,
    pub pin: String,
    pub bundle_dir: String,
}

/// What the technician asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TechIntent {
    SignIn,
    RunChecks,
    ToggleCamera,
    ReadCard,
    WriteBundle,
    Leave,
}

/// Everything the technician's screens may read.
pub struct TechView<'a> {
    pub state: &'a TechState,
    pub catalog: &'a Catalog,
    pub language: Language,
    pub theme: &'a Theme,
    pub notice: Option<&'a TechNotice>,
    /// The last report's lines, and its overall status.
    pub checks: &'a [CheckLine],
    pub overall: Option<LineStatus>,
    pub checks_running: bool,
    pub camera: Option<CameraView>,
    pub camera_on: bool,
    pub camera_fps: Option<f64>,
    /// The card test's outcome (kind and time, or the problem; never the card's data).
    pub card_test: Option<&'a str>,
    pub card_waiting: bool,
    /// The last bundle written (its path) or why it was not.
    pub bundle: Option<&'a str>,
    pub bundle_running: bool,
    pub checking_pin: bool,
}

impl TechView<'_> {
    fn text(&self, msg: Msg) -> String {
        self.catalog.text(self.language, msg)
    }

    fn status_colour(&self, status: LineStatus) -> egui::Color32 {
        match status {
            LineStatus::Ok => self.theme.text,
            LineStatus::Warn | LineStatus::Fail => self.theme.primary_fill,
        }
    }
}

/// The widest the technician's content gets (the buttons' row).
const CONTENT_WIDTH_PX: f32 = 1100.0;

/// Green for a check that holds.
const OK_GREEN: egui::Color32 = egui::Color32::from_rgb(0x3c, 0xb0, 0x4a);
/// Red for a check that fails.
const FAIL_RED: egui::Color32 = egui::Color32::from_rgb(0xe0, 0x4a, 0x3c);

/// Lays out `add` as a row centred in the available width, `width_px` wide.
fn centred_row<R>(ui: &mut egui::Ui, width_px: f32, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    ui.horizontal(|ui| {
        ui.add_space(((ui.available_width() - width_px) / 2.0).max(0.0));
        add(ui)
    })
    .inner
}

/// The fill and the ink of a status: green, yellow, red.
fn status_colours(status: LineStatus) -> (egui::Color32, egui::Color32) {
    match status {
        LineStatus::Ok => (OK_GREEN, egui::Color32::BLACK),
        LineStatus::Warn => (
            egui::Color32::from_rgb(0xff, 0xd4, 0x00),
            egui::Color32::BLACK,
        ),
        LineStatus::Fail => (FAIL_RED, egui::Color32::WHITE),
    }
}

/// `label` on a pill coloured for `status` (green, yellow, red).
fn status_pill(ui: &mut egui::Ui, status: LineStatus, label: String, size: f32) {
    let (fill, text) = status_colours(status);
    egui::Frame::new()
        .fill(fill)
        .corner_radius(10.0)
        .inner_margin(egui::Margin::symmetric(10, 2))
        .show(ui, |ui| {
            ui.label(egui::RichText::new(label).size(size).strong().color(text));
        });
}

/// A small "Service" button for the attract and sign-in screens, in the top-left corner (the
/// display choices hold the top-right one, the language row reaches the bottom edge of a 720-line
/// screen); true when pressed.
pub fn service_button(
    ui: &mut egui::Ui,
    catalog: &Catalog,
    language: Language,
    theme: &Theme,
) -> bool {
    let mut pressed = false;
    egui::Area::new(egui::Id::unique("service-button"))
        .anchor(egui::Align2::LEFT_TOP, egui::vec2(12.0, 12.0))
        .show(ui.ctx(), |ui| {
            pressed = ui
                .add(theme.secondary_button(catalog.text(language, Msg::ServiceButton), false))
                .clicked();
        });
    pressed
}

fn notice_text(view: &TechView<'_>, notice: &TechNotice) -> String {
    match notice {
        TechNotice::Auth(AuthNotice::WrongPin { attempts_left }) => {
            format!("{}: {attempts_left}", view.text(Msg::OfficerWrongPin))
        }
        TechNotice::Auth(AuthNotice::BadgeLocked { .. }) => view.text(Msg::OfficerBadgeLocked),
        TechNotice::Auth(_) => String::new(),
        TechNotice::NotTechnician => view.text(Msg::TechNotTechnician),
        TechNotice::Closed => view.text(Msg::TechClosed),
    }
}

/// Draws the technician's current screen; returns what was asked for.
pub fn technician_ui(
    ui: &mut egui::Ui,
    view: &TechView<'_>,
    form: &mut TechForm,
) -> Option<TechIntent> {
    let frame = egui::Frame::central_panel(ui.style())
        .fill(view.theme.background)
        .inner_margin(egui::Margin::same(24));
    frame
        .show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            egui::ScrollArea::vertical()
                .show(ui, |ui| {
                    // Centred and no wider than a readable table, like the applicant's screens.
                    ui.vertical_centered(|ui| {
                        ui.set_max_width(ui.available_width().min(CONTENT_WIDTH_PX));
                        screen_ui(ui, view, form)
                    })
                    .inner
                })
                .inner
        })
        .inner
}

fn button(ui: &mut egui::Ui, view: &TechView<'_>, msg: Msg, primary: bool, enabled: bool) -> bool {
    let label = view.text(msg);
    let widget = if primary {
        view.theme.primary_button(label)
    } else {
        view.theme.secondary_button(label, false)
    };
    ui.add_enabled(enabled, widget).clicked()
}

fn screen_ui(ui: &mut egui::Ui, view: &TechView<'_>, form: &mut TechForm) -> Option<TechIntent> {
    let size = view.theme.body_size * 0.8;
    let mut intent = None;
    let title = match view.state.screen {
        TechScreen::SignIn => Msg::TechSignInTitle,
        TechScreen::Service => Msg::TechTitle,
    };
    ui.label(
        egui::RichText::new(view.text(title))
            .size(view.theme.heading_size * 0.7)
            .strong(),
    );
    if let Some(notice) = view.notice {
        let text = notice_text(view, notice);
        if !text.is_empty() {
            ui.label(
                egui::RichText::new(text)
                    .size(size)
                    .color(view.theme.primary_fill),
            );
        }
    }
    ui.add_space(12.0);
    match view.state.screen {
        TechScreen::SignIn => {
            let badge = field(
                ui,
                view.text(Msg::OfficerBadge),
                &mut form.badge,
                false,
                size,
            );
            super::officer::focus_first(ui, &badge);
            let pin = field(ui, view.text(Msg::OfficerPin), &mut form.pin, true, size);
            if super::officer::submitted(ui, &pin) && !view.checking_pin {
                intent = Some(TechIntent::SignIn);
            }
            ui.horizontal(|ui| {
                if button(ui, view, Msg::OfficerSignIn, true, !view.checking_pin) {
                    intent = Some(TechIntent::SignIn);
                }
                if button(ui, view, Msg::TechLeave, false, true) {
                    intent = Some(TechIntent::Leave);
                }
            });
        }
        TechScreen::Service => {
            let theme = view.theme;
            let spacing = ui.spacing().item_spacing.x;
            let row_px =
                theme.primary_button_size.x + 3.0 * (theme.secondary_button_size.x + spacing);
            centred_row(ui, row_px, |ui| {
                if button(ui, view, Msg::TechRunChecks, true, !view.checks_running) {
                    intent = Some(TechIntent::RunChecks);
                }
                let camera = if view.camera_on {
                    Msg::TechCameraStop
                } else {
                    Msg::TechCameraTest
                };
                if button(ui, view, camera, false, !view.checks_running) {
                    intent = Some(TechIntent::ToggleCamera);
                }
                if button(ui, view, Msg::TechReadCard, false, !view.checks_running) {
                    intent = Some(TechIntent::ReadCard);
                }
                if button(ui, view, Msg::TechLeave, false, true) {
                    intent = Some(TechIntent::Leave);
                }
            });
            ui.add_space(8.0);
            // The bundle and the card test sit above the table, so they stay on screen.
            centred_row(ui, row_px * 0.95, |ui| {
                let label =
                    ui.label(egui::RichText::new(view.text(Msg::TechBundleFolder)).size(size));
                ui.add(
                    egui::TextEdit::singleline(&mut form.bundle_dir)
                        .font(egui::FontId::proportional(size))
                        .desired_width(320.0),
                )
                .labelled_by(label.id);
                if button(ui, view, Msg::TechWriteBundle, false, !view.bundle_running) {
                    intent = Some(TechIntent::WriteBundle);
                }
            });
            if let Some(bundle) = view.bundle {
                ui.label(egui::RichText::new(bundle).size(size * 0.8));
            }
            if view.card_waiting {
                ui.label(egui::RichText::new(view.text(Msg::TechCardWaiting)).size(size));
            }
            if let Some(card) = view.card_test {
                ui.label(egui::RichText::new(card).size(size));
            }
            if view.camera_on
                && let Some(fps) = view.camera_fps
            {
                ui.label(
                    egui::RichText::new(format!("{}: {fps:.1}", view.text(Msg::TechFps)))
                        .size(size),
                );
            }
            ui.add_space(8.0);
            if view.checks_running {
                ui.label(egui::RichText::new(view.text(Msg::TechRunning)).size(size));
            }
            if let Some(overall) = view.overall {
                let text = format!("{}: {}", view.text(Msg::TechOverall), status_word(overall));
                status_pill(ui, overall, text, size);
                ui.add_space(8.0);
            }
            if !view.checks.is_empty() {
                egui::Frame::new()
                    .fill(theme.secondary_fill)
                    .corner_radius(12.0)
                    .inner_margin(egui::Margin::same(16))
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.with_layout(egui::Layout::top_down(egui::Align::Min), |ui| {
                            checks_grid(ui, view, size * 0.8);
                        });
                    });
            }
            ui.add_space(12.0);
            if view.camera_on
                && let Some(camera) = &view.camera
            {
                camera_ui(ui, camera, view.theme);
            }
        }
    }
    intent
}

/// The checks: name, status pill, value and (when not OK) the advice.
fn checks_grid(ui: &mut egui::Ui, view: &TechView<'_>, size: f32) {
    egui::Grid::new("technician-checks")
        .num_columns(3)
        .spacing([20.0, 8.0])
        .show(ui, |ui| {
            for line in view.checks {
                ui.label(egui::RichText::new(&line.check).size(size).strong());
                let (fill, ink) = status_colours(line.status);
                ui.label(
                    egui::RichText::new(format!(" {} ", status_word(line.status)))
                        .size(size * 0.9)
                        .strong()
                        .monospace()
                        .background_color(fill)
                        .color(ink),
                );
                ui.vertical(|ui| {
                    ui.label(egui::RichText::new(&line.value).size(size));
                    if let Some(advice) = &line.advice {
                        ui.label(
                            egui::RichText::new(format!("→ {advice}"))
                                .size(size * 0.9)
                                .color(view.status_colour(line.status)),
                        );
                    }
                });
                ui.end_row();
            }
        });
}

fn status_word(status: LineStatus) -> &'static str {
    match status {
        LineStatus::Ok => "OK",
        LineStatus::Warn => "WARN",
        LineStatus::Fail => "FAIL",
    }
}

/// How a check's status shows.
pub fn line_status(status: Status) -> LineStatus {
    match status {
        Status::Ok => LineStatus::Ok,
        Status::Warn => LineStatus::Warn,
        Status::Fail => LineStatus::Fail,
    }
}

/// The diagnostic report as the technician's screen lists it.
pub fn lines(report: &Report) -> Vec<CheckLine> {
    report
        .checks
        .iter()
        .map(|finding| CheckLine {
            check: finding.check.as_str().to_owned(),
            status: line_status(finding.status),
            value: finding.value.clone(),
            advice: finding.advice.clone(),
        })
        .collect()
}

/// What the card test shows after a read: the document kind and how long the read took.
pub fn card_read_text(
    catalog: &Catalog,
    language: Language,
    kind: DocumentKind,
    took_ms: u128,
) -> String {
    format!(
        "{}: {kind:?} ({took_ms} ms)",
        catalog.text(language, Msg::TechCardRead)
    )
}

/// What the bundle line shows once the bundle is written.
pub fn bundle_written_text(catalog: &Catalog, language: Language, path: &Path) -> String {
    format!(
        "{}: {}",
        catalog.text(language, Msg::TechBundleWritten),
        path.display()
    )
}
