//! The officer's screens: sign-in (badge + PIN), the queue dashboard, reading the card (with the
//! MRZ fields for chips), capture with the quality components, the decision with the score, the
//! supervisor override and the locked session. They draw the officer flow's state and the form
//! being typed, and return what the officer asked for; they check no PIN and decide nothing.

use super::CameraView;
use super::i18n::{Catalog, Msg};
use super::session::camera_ui;
use super::theme::Theme;
use enroll_core::domain::language::Language;
use enroll_core::domain::time::UnixMs;
use enroll_core::flows::applicant::CardProblem;
use enroll_core::flows::officer::{OfficerNotice, OfficerState, OfficerUi, Screen};
use enroll_core::flows::officer_auth::AuthNotice;
use enroll_face::quality::{QualityCheck, QualityComponent};

/// What is being typed on the officer's screens. PINs are cleared as soon as they are submitted.
#[derive(Default)]
pub struct OfficerForm {
    pub badge: String,
    pub pin: String,
    pub document_number: String,
    pub birth_date: String,
    pub expiry_date: String,
    pub reason: String,
    pub supervisor_badge: String,
    pub supervisor_pin: String,
}

impl OfficerForm {
    /// Forgets everything about the applicant (the MRZ and the override reason).
    pub fn wipe_applicant(&mut self) {
        self.document_number.clear();
        self.birth_date.clear();
        self.expiry_date.clear();
        self.reason.clear();
        self.supervisor_badge.clear();
        self.supervisor_pin.clear();
    }
}

/// What the officer asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficerIntent {
    /// A step of the flow.
    Flow(OfficerUi),
    /// Sign in with the typed badge and PIN.
    SignIn,
    /// Open the locked session with the typed PIN.
    Unlock,
    /// Record the override with the typed reason and supervisor badge + PIN.
    SupervisorApproves,
    /// Read the chip with the typed MRZ fields.
    ReadWithMrz,
}

/// One quality component as the capture screen lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentLine {
    /// What the check measures, in the officer's language.
    pub label: Msg,
    /// The check's configuration name (e.g. `inter_eye_distance`), for the technician.
    pub name: String,
    pub value: f32,
    pub passed: bool,
}

/// The queue as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLine {
    pub unsent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// When a record was last acknowledged, as `HH:MM` UTC.
    pub last_sent_utc: Option<String>,
    pub online: bool,
    pub last_error: Option<String>,
    /// Why new enrollments are paused, if they are.
    pub paused: Option<Msg>,
}

/// The check's figures as the decision screen shows them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckFigures {
    pub score_cosine: Option<f32>,
    pub threshold_cosine: f32,
    pub is_match: bool,
    pub live: bool,
}

/// What the MRZ line scanner last said, for the card screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScannerLine {
    /// Waiting for a data page.
    Ready,
    /// A data page was scanned and its key is in use.
    Scanned,
    /// The last scan failed its check digits.
    Unreadable,
    /// The scanner cannot be opened or stopped answering.
    Down,
}

/// Everything the officer's screens may read.
pub struct OfficerView<'a> {
    pub state: &'a OfficerState,
    pub catalog: &'a Catalog,
    pub language: Language,
    pub theme: &'a Theme,
    pub camera: Option<CameraView>,
    pub components: &'a [ComponentLine],
    pub check: Option<CheckFigures>,
    pub notice: Option<&'a OfficerNotice>,
    pub sync: Option<&'a QueueLine>,
    pub officers_configured: bool,
    pub card_problem: Option<CardProblem>,
    /// What is wrong with the typed MRZ details (which field; never the value).
    pub mrz_problem: Option<&'a str>,
    /// The camera's own description of its last problem (device and remedy).
    pub camera_problem: Option<&'a str>,
    /// The terminal reads chips (PC/SC): show the MRZ fields.
    pub chip_reader: bool,
    /// The MRZ line scanner's last word, when one is configured.
    pub scanner: Option<ScannerLine>,
    /// A PIN is being checked (the buttons wait).
    pub checking_pin: bool,
}

impl OfficerView<'_> {
    fn text(&self, msg: Msg) -> String {
        self.catalog.text(self.language, msg)
    }
}

pub(super) fn field(
    ui: &mut egui::Ui,
    label: String,
    value: &mut String,
    password: bool,
    size: f32,
) {
    let label = ui.label(egui::RichText::new(label).size(size));
    ui.add(
        egui::TextEdit::singleline(value)
            .password(password)
            .font(egui::FontId::proportional(size))
            .desired_width(420.0),
    )
    .labelled_by(label.id);
    ui.add_space(8.0);
}

fn notice_text(view: &OfficerView<'_>, notice: &OfficerNotice) -> String {
    match notice {
        OfficerNotice::Auth(AuthNotice::WrongPin { attempts_left }) => {
            format!("{}: {attempts_left}", view.text(Msg::OfficerWrongPin))
        }
        OfficerNotice::Auth(AuthNotice::BadgeLocked { .. }) => view.text(Msg::OfficerBadgeLocked),
        OfficerNotice::Auth(AuthNotice::OtherBadge) => view.text(Msg::OfficerOtherBadge),
        OfficerNotice::Auth(_) => String::new(),
        OfficerNotice::SupervisorNeeded => view.text(Msg::OfficerSupervisorNeeded),
        OfficerNotice::TechnicianBadge => view.text(Msg::OfficerTechnicianBadge),
        OfficerNotice::ReasonNeeded { .. } => view.text(Msg::OfficerReasonNeeded),
        OfficerNotice::NotApprovable => view.text(Msg::OfficerNotApprovable),
        OfficerNotice::CheckFailed => view.text(Msg::OfficerCheckFailed),
        OfficerNotice::CameraFailed => match view.camera_problem {
            Some(detail) => format!("{}: {detail}", view.text(Msg::OfficerCameraProblem)),
            None => view.text(Msg::OfficerCameraProblem),
        },
        OfficerNotice::Saved {
            reference,
            activation_code,
        } => format!(
            "{}: {reference}. {}: {activation_code}",
            view.text(Msg::OfficerSaved),
            view.text(Msg::ReceiptActivationCode)
        ),
        OfficerNotice::SaveFailed { reason } => {
            format!("{}: {reason}", view.text(Msg::OfficerSaveFailed))
        }
    }
}

fn button(ui: &mut egui::Ui, view: &OfficerView<'_>, msg: Msg, primary: bool) -> bool {
    let label = view.text(msg);
    let widget = if primary {
        view.theme.primary_button(label)
    } else {
        view.theme.secondary_button(label, false)
    };
    let clicked = ui.add_enabled(!view.checking_pin, widget).clicked();
    ui.add_space(10.0);
    clicked
}

/// Draws the officer's current screen; returns what the officer asked for.
pub fn officer_ui(
    ui: &mut egui::Ui,
    view: &OfficerView<'_>,
    form: &mut OfficerForm,
) -> Option<OfficerIntent> {
    let theme = view.theme;
    let frame = egui::Frame::central_panel(ui.style())
        .fill(theme.background)
        .inner_margin(egui::Margin::same(24));
    frame
        .show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            ui.vertical_centered(|ui| {
                ui.set_max_width(ui.available_width().min(1000.0));
                screen_ui(ui, view, form)
            })
            .inner
        })
        .inner
}

fn title(ui: &mut egui::Ui, view: &OfficerView<'_>, msg: Msg) {
    ui.label(
        egui::RichText::new(view.text(msg))
            .size(view.theme.heading_size * 0.8)
            .strong(),
    );
    ui.add_space(16.0);
    if let Some(notice) = view.notice {
        let text = notice_text(view, notice);
        if !text.is_empty() {
            ui.label(egui::RichText::new(text).size(view.theme.body_size * 0.9));
            ui.add_space(12.0);
        }
    }
}

fn screen_ui(
    ui: &mut egui::Ui,
    view: &OfficerView<'_>,
    form: &mut OfficerForm,
) -> Option<OfficerIntent> {
    let size = view.theme.body_size * 0.9;
    let mut intent = None;
    match view.state.screen {
        Screen::SignIn => {
            title(ui, view, Msg::OfficerSignInTitle);
            if !view.officers_configured {
                ui.label(egui::RichText::new(view.text(Msg::OfficerNoOfficers)).size(size));
                return None;
            }
            field(
                ui,
                view.text(Msg::OfficerBadge),
                &mut form.badge,
                false,
                size,
            );
            field(ui, view.text(Msg::OfficerPin), &mut form.pin, true, size);
            if button(ui, view, Msg::OfficerSignIn, true) {
                intent = Some(OfficerIntent::SignIn);
            }
        }
        Screen::Locked => {
            title(ui, view, Msg::OfficerLockedTitle);
            field(ui, view.text(Msg::OfficerPin), &mut form.pin, true, size);
            if button(ui, view, Msg::OfficerUnlock, true) {
                intent = Some(OfficerIntent::Unlock);
            }
        }
        Screen::Dashboard => {
            title(ui, view, Msg::OfficerDashboardTitle);
            if let Some(sync) = view.sync {
                if let Some(paused) = sync.paused {
                    ui.label(
                        egui::RichText::new(view.text(paused))
                            .size(size)
                            .color(view.theme.primary_fill),
                    );
                }
                ui.label(
                    egui::RichText::new(format!(
                        "{}: {}    {}: {}    {}: {}",
                        view.text(Msg::OfficerUnsent),
                        sync.unsent,
                        view.text(Msg::OfficerSent),
                        sync.acknowledged,
                        view.text(Msg::OfficerRejected),
                        sync.rejected
                    ))
                    .size(size),
                );
                if let Some(at) = &sync.last_sent_utc {
                    ui.label(
                        egui::RichText::new(format!("{}: {at}", view.text(Msg::OfficerLastSent)))
                            .size(size * 0.8),
                    );
                }
                let online = if sync.online {
                    Msg::OfficerRegistryOnline
                } else {
                    Msg::OfficerRegistryOffline
                };
                ui.label(egui::RichText::new(view.text(online)).size(size));
                if let Some(error) = &sync.last_error {
                    ui.label(
                        egui::RichText::new(format!(
                            "{}: {error}",
                            view.text(Msg::OfficerLastError)
                        ))
                        .size(size * 0.8),
                    );
                }
                ui.add_space(16.0);
            }
            if button(ui, view, Msg::OfficerNewEnrollment, true) {
                intent = Some(OfficerIntent::Flow(OfficerUi::NewEnrollment));
            }
            if button(ui, view, Msg::OfficerSignOut, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::SignOut));
            }
        }
        Screen::ReadCard => {
            title(ui, view, Msg::OfficerReadCardTitle);
            if let Some(problem) = view.card_problem {
                ui.label(
                    egui::RichText::new(format!(
                        "{}: {}",
                        view.text(Msg::OfficerCardProblem),
                        view.text(super::session::problem_text(problem))
                    ))
                    .size(size),
                );
            }
            if let Some(detail) = view.mrz_problem {
                ui.label(
                    egui::RichText::new(format!("{}: {detail}", view.text(Msg::OfficerMrzInvalid)))
                        .size(size),
                );
            }
            ui.add(
                egui::Spinner::new()
                    .size(48.0)
                    .color(view.theme.primary_fill),
            );
            ui.add_space(12.0);
            if view.chip_reader {
                if let Some(line) = view.scanner {
                    let msg = match line {
                        ScannerLine::Ready => Msg::OfficerScannerReady,
                        ScannerLine::Scanned => Msg::OfficerScanned,
                        ScannerLine::Unreadable => Msg::OfficerScanUnreadable,
                        ScannerLine::Down => Msg::OfficerScannerDown,
                    };
                    ui.label(egui::RichText::new(view.text(msg)).size(size * 0.8));
                }
                ui.label(egui::RichText::new(view.text(Msg::OfficerMrzHint)).size(size * 0.8));
                let mrz_size = size * 0.8;
                field(
                    ui,
                    view.text(Msg::OfficerDocumentNumber),
                    &mut form.document_number,
                    false,
                    mrz_size,
                );
                field(
                    ui,
                    view.text(Msg::OfficerBirthDate),
                    &mut form.birth_date,
                    false,
                    mrz_size,
                );
                field(
                    ui,
                    view.text(Msg::OfficerExpiryDate),
                    &mut form.expiry_date,
                    false,
                    mrz_size,
                );
                if button(ui, view, Msg::OfficerUseMrz, false) {
                    intent = Some(OfficerIntent::ReadWithMrz);
                }
            }
            if button(ui, view, Msg::OfficerReject, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Reject));
            }
        }
        Screen::Capture => {
            title(ui, view, Msg::OfficerCaptureTitle);
            // The picture and the components side by side, so the buttons stay on screen.
            ui.horizontal_top(|ui| {
                if let Some(camera) = view.camera {
                    camera_ui(ui, &camera, view.theme);
                }
                ui.add_space(16.0);
                ui.vertical(|ui| components_ui(ui, view));
            });
            if view.notice == Some(&OfficerNotice::CameraFailed) {
                if button(ui, view, Msg::OfficerRestartCamera, true) {
                    intent = Some(OfficerIntent::Flow(OfficerUi::RestartCamera));
                }
            } else if button(ui, view, Msg::OfficerTakePhoto, true) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Approve));
            }
            if button(ui, view, Msg::OfficerReject, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Reject));
            }
        }
        Screen::Checking | Screen::Saving => {
            ui.add_space(60.0);
            ui.add(
                egui::Spinner::new()
                    .size(96.0)
                    .color(view.theme.primary_fill),
            );
        }
        Screen::Decision => {
            title(ui, view, Msg::OfficerDecisionTitle);
            if let Some(check) = view.check {
                let score = check
                    .score_cosine
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"));
                ui.label(
                    egui::RichText::new(format!(
                        "{}: {score} ({} {:.3})",
                        view.text(Msg::OfficerScore),
                        view.text(Msg::OfficerThreshold),
                        check.threshold_cosine
                    ))
                    .size(size),
                );
                let verdict = if check.is_match {
                    Msg::OfficerMatch
                } else {
                    Msg::OfficerNoMatch
                };
                let live = if check.live {
                    Msg::OfficerLive
                } else {
                    Msg::OfficerNotLive
                };
                ui.label(egui::RichText::new(view.text(verdict)).size(size));
                ui.label(egui::RichText::new(view.text(live)).size(size));
                ui.add_space(16.0);
                if check.is_match && check.live {
                    if button(ui, view, Msg::OfficerApprove, true) {
                        intent = Some(OfficerIntent::Flow(OfficerUi::Approve));
                    }
                } else if button(ui, view, Msg::OfficerOverride, true) {
                    intent = Some(OfficerIntent::Flow(OfficerUi::Override));
                }
            }
            if button(ui, view, Msg::OfficerReject, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Reject));
            }
        }
        Screen::Override => {
            title(ui, view, Msg::OfficerOverrideTitle);
            field(
                ui,
                view.text(Msg::OfficerOverrideReason),
                &mut form.reason,
                false,
                size,
            );
            field(
                ui,
                view.text(Msg::OfficerSupervisorBadge),
                &mut form.supervisor_badge,
                false,
                size,
            );
            field(
                ui,
                view.text(Msg::OfficerSupervisorPin),
                &mut form.supervisor_pin,
                true,
                size,
            );
            if button(ui, view, Msg::OfficerOverrideSubmit, true) {
                intent = Some(OfficerIntent::SupervisorApproves);
            }
            if button(ui, view, Msg::OfficerBack, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Back));
            }
        }
    }
    intent
}

/// The capture's quality components, one line each, for the officer to judge.
fn components_ui(ui: &mut egui::Ui, view: &OfficerView<'_>) {
    egui::Grid::new("quality-components")
        .num_columns(3)
        .spacing([24.0, 4.0])
        .show(ui, |ui| {
            for component in view.components {
                let (mark, colour) = if component.passed {
                    (view.text(Msg::OfficerComponentOk), view.theme.text)
                } else {
                    (
                        view.text(Msg::OfficerComponentFailed),
                        view.theme.primary_fill,
                    )
                };
                ui.label(egui::RichText::new(view.text(component.label)).size(16.0))
                    .on_hover_text(&component.name);
                ui.label(
                    egui::RichText::new(format!("{:.2}", component.value))
                        .monospace()
                        .size(16.0),
                );
                ui.label(egui::RichText::new(mark).size(16.0).color(colour));
                ui.end_row();
            }
        });
}

/// The components as the officer's screen lists them.
pub fn component_lines(components: &[QualityComponent]) -> Vec<ComponentLine> {
    components
        .iter()
        .map(|component| ComponentLine {
            label: component_label(component.check),
            // The check's configuration name (snake_case), as `kiosk face analyze` prints it.
            name: serde_json::to_string(&component.check)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
            value: component.value,
            passed: component.passed,
        })
        .collect()
}

/// The officer's name for a quality check.
fn component_label(check: QualityCheck) -> Msg {
    match check {
        QualityCheck::FaceCount => Msg::ComponentFaceCount,
        QualityCheck::InterEyeDistance => Msg::ComponentInterEyeDistance,
        QualityCheck::Yaw => Msg::ComponentYaw,
        QualityCheck::Pitch => Msg::ComponentPitch,
        QualityCheck::Roll => Msg::ComponentRoll,
        QualityCheck::FaceSize => Msg::ComponentFaceSize,
        QualityCheck::FacePosition => Msg::ComponentFacePosition,
        QualityCheck::Luminance => Msg::ComponentLuminance,
        QualityCheck::DynamicRange => Msg::ComponentDynamicRange,
        QualityCheck::DarkClipping => Msg::ComponentDarkClipping,
        QualityCheck::BrightClipping => Msg::ComponentBrightClipping,
        QualityCheck::Sharpness => Msg::ComponentSharpness,
        QualityCheck::EyesOpen => Msg::ComponentEyesOpen,
        QualityCheck::Liveness => Msg::ComponentLiveness,
    }
}

/// `HH:MM` (UTC) of a Unix time in milliseconds.
pub fn utc_hh_mm(unix_ms: UnixMs) -> String {
    let minutes = unix_ms.as_i64().div_euclid(60_000);
    format!(
        "{:02}:{:02} UTC",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}
