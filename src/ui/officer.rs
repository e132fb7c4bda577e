//! The officer's screens: sign-in (badge + PIN), the queue dashboard, reading the card (with the
//! MRZ fields for chips), capture with the quality components, the decision with the score, the
//! supervisor override and the locked session. They draw the officer flow's state and the form
//! being typed, and return what the officer asked for; they check no PIN and decide nothing.

use super::CameraView;
use super::i18n::{Catalog, Msg};
use super::session::camera_ui;
use super::theme::Theme;
use enroll_core::domain::card_read::{CardRead, Verification};
use enroll_core::domain::challenge::{ChallengeFailure, Prompt, TurnSide, WaiverReason};
use enroll_core::domain::document::Validity;
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
    /// The reference typed into the desk's search.
    pub search: String,
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
    /// Show or hide the whole document number on the decision screen.
    ToggleNumber,
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
    /// Find the record with the typed reference.
    Find,
    /// Print this record's receipt again.
    Reprint { record_id: String },
}

/// One record on the officer desk: reference, time and delivery; never a name or a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskLine {
    pub record_id: String,
    pub reference: String,
    /// `HH:MM UTC`.
    pub time_utc: String,
    /// Waiting, sent or refused.
    pub state: Msg,
    /// The registry's reason, for a refused record.
    pub reason: Option<String>,
}

/// What the desk's search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The record.
    Record(DeskLine),
    /// Nothing here has that reference.
    Nothing,
    /// What was typed is not a reference.
    NotAReference,
    /// The outbox could not be read.
    Failed(String),
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

/// How the card was found genuine, as the decision screen states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationLine {
    /// The reader's SAM authenticated the card.
    Sam { sam_id: String },
    /// Passive authentication held, chained to this CSCA.
    ChipSigned { csca_subject: String },
    /// Passive authentication failed (the reason names no personal data).
    ChipNotSigned { failure: String },
    /// Nothing verified the card.
    NotVerified { reason: String },
}

/// Everything the officer weighs on the decision screen but the faces (which are textures):
/// built from the card read, the check and the capture's quality. It holds personal data:
/// `Debug` shows none of it, and the desk drops it with the decision.
#[derive(Clone, PartialEq)]
pub struct DecisionEvidence {
    /// The name in the document's script.
    pub name: String,
    /// The Latin-script name, where the document has one besides.
    pub name_latin: Option<String>,
    /// The document number as shown: all but the last 4 characters masked unless revealed.
    pub document_number: String,
    /// Whether the whole number is shown.
    pub number_revealed: bool,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `YYYY-MM-DD – YYYY-MM-DD`, or the first day and `None` for "no end date".
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub verification: VerificationLine,
    pub figures: CheckFigures,
    /// The quality components the capture did not meet.
    pub failed_components: Vec<ComponentLine>,
}

impl std::fmt::Debug for DecisionEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionEvidence")
            .field("number_revealed", &self.number_revealed)
            .field("verification", &self.verification)
            .field("figures", &self.figures)
            .field("failed_components", &self.failed_components)
            .finish_non_exhaustive()
    }
}

/// `number` with every character but the last 4 replaced by `•` (wholly masked when it has 4 or
/// fewer), so the officer can compare the end with the card in hand without the screen showing
/// the whole number to the queue behind the applicant.
pub fn masked_document_number(number: &str) -> String {
    let count = number.chars().count();
    if count <= 4 {
        return "•".repeat(count.max(4));
    }
    number
        .chars()
        .enumerate()
        .map(|(at, c)| if at + 4 < count { '•' } else { c })
        .collect()
}

impl DecisionEvidence {
    /// The evidence of `card` and the check, with the number masked unless `reveal`.
    pub fn of(
        card: &CardRead,
        figures: CheckFigures,
        components: &[ComponentLine],
        reveal: bool,
    ) -> DecisionEvidence {
        let identity = &card.identity;
        let verification = match &card.verification {
            Verification::Sam { sam_id } => VerificationLine::Sam {
                sam_id: sam_id.clone(),
            },
            Verification::PassiveAuthentication {
                passed: true,
                csca_subject,
                ..
            } => VerificationLine::ChipSigned {
                csca_subject: csca_subject.clone().unwrap_or_else(|| "?".to_owned()),
            },
            Verification::PassiveAuthentication { failure, .. } => {
                VerificationLine::ChipNotSigned {
                    failure: failure.clone().unwrap_or_default(),
                }
            }
            Verification::NotVerified { reason } => VerificationLine::NotVerified {
                reason: reason.clone(),
            },
        };
        DecisionEvidence {
            name: identity.name.clone(),
            name_latin: identity
                .name_latin
                .clone()
                .filter(|latin| *latin != identity.name),
            document_number: if reveal {
                identity.document_number.clone()
            } else {
                masked_document_number(&identity.document_number)
            },
            number_revealed: reveal,
            birth_date: identity.birth.to_string(),
            valid_from: identity.valid_from.map(|date| date.to_string()),
            valid_to: match identity.valid_to {
                Validity::Until(date) => Some(date.to_string()),
                Validity::LongTerm => None,
            },
            verification,
            figures,
            failed_components: components
                .iter()
                .filter(|component| !component.passed)
                .cloned()
                .collect(),
        }
    }
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
    /// The card's data and the check, on the decision screen.
    pub evidence: Option<&'a DecisionEvidence>,
    /// The live capture and the card's photo, on the decision screen.
    pub photos: Option<super::PhotosView>,
    /// Today's records at this terminal, newest first (the dashboard).
    pub today: &'a [DeskLine],
    /// The search's answer.
    pub found: Option<&'a Found>,
    /// The last paper receipt's progress.
    pub printing: Option<&'a super::PrintLine>,
    /// Whether a receipt printer is configured.
    pub printer: bool,
}

impl OfficerView<'_> {
    fn text(&self, msg: Msg) -> String {
        self.catalog.text(self.language, msg)
    }
}

/// A labelled single-line field.
pub(super) fn field(
    ui: &mut egui::Ui,
    label: String,
    value: &mut String,
    password: bool,
    size: f32,
) -> egui::Response {
    let label = ui.label(egui::RichText::new(label).size(size));
    let response = ui
        .add(
            egui::TextEdit::singleline(value)
                .password(password)
                .font(egui::FontId::proportional(size))
                .desired_width(420.0),
        )
        .labelled_by(label.id);
    ui.add_space(8.0);
    response
}

/// Puts the cursor in `first` while no field has it, so a badge can be typed (or scanned by a
/// keyboard-wedge reader) as soon as the screen shows.
pub(super) fn focus_first(ui: &egui::Ui, first: &egui::Response) {
    if ui.ctx().memory(|memory| memory.focused().is_none()) {
        first.request_focus();
    }
}

/// Whether Enter was pressed in `field` (it gives up the focus as it does).
pub(super) fn submitted(ui: &egui::Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|input| input.key_pressed(egui::Key::Enter))
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
        OfficerNotice::ChallengeFailed(failure) => format!(
            "{}: {}. {}.",
            view.text(Msg::OfficerChallengeFailed),
            view.text(match failure {
                ChallengeFailure::TimedOut => Msg::OfficerChallengeTimedOut,
                ChallengeFailure::WrongSide => Msg::OfficerChallengeWrongSide,
                ChallengeFailure::FaceLost => Msg::OfficerChallengeFaceLost,
            }),
            view.text(Msg::OfficerChallengeRetry)
        ),
    }
}

/// What the officer reads out to the applicant during the liveness challenge.
fn challenge_prompt(prompt: Option<Prompt>) -> Msg {
    match prompt {
        None => Msg::OfficerChallengeGetReady,
        Some(Prompt::Blink) => Msg::OfficerChallengeBlink,
        Some(Prompt::Turn(TurnSide::Left)) => Msg::OfficerChallengeTurnLeft,
        Some(Prompt::Turn(TurnSide::Right)) => Msg::OfficerChallengeTurnRight,
    }
}

/// The button of each waiver reason.
fn waiver_label(reason: WaiverReason) -> Msg {
    match reason {
        WaiverReason::CannotBlink => Msg::OfficerWaiveCannotBlink,
        WaiverReason::CannotTurnHead => Msg::OfficerWaiveCannotTurnHead,
        WaiverReason::CannotFollowPrompts => Msg::OfficerWaiveCannotFollowPrompts,
        WaiverReason::Equipment => Msg::OfficerWaiveEquipment,
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

/// A button of body-text height, for lists of choices (the waiver reasons).
fn small_button(ui: &mut egui::Ui, view: &OfficerView<'_>, msg: Msg) -> bool {
    let text = egui::RichText::new(view.text(msg)).size(view.theme.body_size * 0.75);
    let widget = egui::Button::new(text).min_size(egui::vec2(320.0, 44.0));
    let clicked = ui.add_enabled(!view.checking_pin, widget).clicked();
    ui.add_space(6.0);
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
            let badge = field(
                ui,
                view.text(Msg::OfficerBadge),
                &mut form.badge,
                false,
                size,
            );
            focus_first(ui, &badge);
            let pin = field(ui, view.text(Msg::OfficerPin), &mut form.pin, true, size);
            let entered = submitted(ui, &pin) && !view.checking_pin;
            if button(ui, view, Msg::OfficerSignIn, true) || entered {
                intent = Some(OfficerIntent::SignIn);
            }
        }
        Screen::Locked => {
            title(ui, view, Msg::OfficerLockedTitle);
            let pin = field(ui, view.text(Msg::OfficerPin), &mut form.pin, true, size);
            focus_first(ui, &pin);
            let entered = submitted(ui, &pin) && !view.checking_pin;
            if button(ui, view, Msg::OfficerUnlock, true) || entered {
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
            // First in the tab order: New enrollment, then Sign out.
            let theme = view.theme;
            let row_px = theme.primary_button_size.x + theme.secondary_button_size.x + 24.0;
            ui.horizontal(|ui| {
                ui.add_space(((ui.available_width() - row_px) / 2.0).max(0.0));
                if button(ui, view, Msg::OfficerNewEnrollment, true) {
                    intent = Some(OfficerIntent::Flow(OfficerUi::NewEnrollment));
                }
                if button(ui, view, Msg::OfficerSignOut, false) {
                    intent = Some(OfficerIntent::Flow(OfficerUi::SignOut));
                }
            });
            if let Some(desk) = desk_ui(ui, view, form) {
                intent = Some(desk);
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
        Screen::Challenge => {
            title(ui, view, Msg::OfficerChallengeTitle);
            ui.horizontal_top(|ui| {
                if let Some(camera) = view.camera {
                    camera_ui(ui, &camera, view.theme);
                }
                ui.add_space(16.0);
                ui.vertical(|ui| {
                    let size = view.theme.body_size;
                    ui.label(
                        egui::RichText::new(view.text(challenge_prompt(view.state.prompt())))
                            .size(size * 1.2)
                            .strong(),
                    );
                    ui.add_space(24.0);
                    ui.label(
                        egui::RichText::new(view.text(Msg::OfficerChallengeWaive)).size(size * 0.8),
                    );
                    for reason in WaiverReason::ALL {
                        if small_button(ui, view, waiver_label(reason)) {
                            intent = Some(OfficerIntent::Flow(OfficerUi::WaiveChallenge(reason)));
                        }
                    }
                    // In the column, so it stays on screen under the live picture's height.
                    ui.add_space(16.0);
                    if button(ui, view, Msg::OfficerReject, false) {
                        intent = Some(OfficerIntent::Flow(OfficerUi::Reject));
                    }
                });
            });
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
            if let Some(evidence) = view.evidence {
                if evidence_ui(ui, view, evidence) {
                    intent = Some(OfficerIntent::ToggleNumber);
                }
                ui.add_space(12.0);
            }
            // Side by side, so the evidence keeps the height of the screen.
            let theme = view.theme;
            let row_px = theme.primary_button_size.x + theme.secondary_button_size.x + 24.0;
            ui.horizontal(|ui| {
                ui.add_space(((ui.available_width() - row_px) / 2.0).max(0.0));
                if let Some(evidence) = view.evidence {
                    let figures = evidence.figures;
                    if figures.is_match && figures.live {
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
            });
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
            let pin = field(
                ui,
                view.text(Msg::OfficerSupervisorPin),
                &mut form.supervisor_pin,
                true,
                size,
            );
            let entered = submitted(ui, &pin) && !view.checking_pin;
            if button(ui, view, Msg::OfficerOverrideSubmit, true) || entered {
                intent = Some(OfficerIntent::SupervisorApproves);
            }
            if button(ui, view, Msg::OfficerBack, false) {
                intent = Some(OfficerIntent::Flow(OfficerUi::Back));
            }
        }
    }
    intent
}

/// The desk below the dashboard's buttons: the last receipt's printing, the search by reference
/// and today's records with a reprint button each.
fn desk_ui(
    ui: &mut egui::Ui,
    view: &OfficerView<'_>,
    form: &mut OfficerForm,
) -> Option<OfficerIntent> {
    let size = view.theme.body_size * 0.7;
    let mut intent = None;
    if let Some(printing) = view.printing {
        let (text, problem) = match printing {
            super::PrintLine::Printing { reference } => (
                format!("{}: {reference}", view.text(Msg::ReceiptPrinting)),
                false,
            ),
            super::PrintLine::Printed {
                reference,
                paper_low,
            } => {
                let low = if *paper_low { " (paper low)" } else { "" };
                (
                    format!("{}: {reference}{low}", view.text(Msg::OfficerPrinted)),
                    *paper_low,
                )
            }
            super::PrintLine::Failed { reference, problem } => (
                format!(
                    "{}: {reference}. {problem}",
                    view.text(Msg::OfficerPrinterProblem)
                ),
                true,
            ),
        };
        let colour = if problem {
            view.theme.primary_fill
        } else {
            view.theme.text
        };
        ui.add(egui::Label::new(egui::RichText::new(text).size(size).color(colour)).wrap());
    }
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        let label = ui.label(egui::RichText::new(view.text(Msg::OfficerFindReference)).size(size));
        let field = ui
            .add(
                egui::TextEdit::singleline(&mut form.search)
                    .font(egui::FontId::monospace(size))
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
        let find = ui.add(
            egui::Button::new(egui::RichText::new(view.text(Msg::OfficerFind)).size(size))
                .fill(view.theme.secondary_fill)
                .min_size(egui::vec2(100.0, 36.0)),
        );
        if find.clicked() || submitted(ui, &field) {
            intent = Some(OfficerIntent::Find);
        }
    });
    match view.found {
        Some(Found::Record(line)) => {
            if let Some(reprint) = desk_lines_ui(ui, view, "desk-found", std::slice::from_ref(line))
            {
                intent = Some(reprint);
            }
        }
        Some(Found::Nothing) => {
            ui.label(egui::RichText::new(view.text(Msg::OfficerNotFound)).size(size));
        }
        Some(Found::NotAReference) => {
            ui.label(egui::RichText::new(view.text(Msg::OfficerReferenceInvalid)).size(size));
        }
        Some(Found::Failed(problem)) => {
            ui.label(egui::RichText::new(problem.as_str()).size(size));
        }
        None => {}
    }
    ui.add_space(8.0);
    ui.label(
        egui::RichText::new(view.text(Msg::OfficerTodayTitle))
            .size(size * 1.1)
            .strong(),
    );
    if view.today.is_empty() {
        ui.label(egui::RichText::new(view.text(Msg::OfficerNoneToday)).size(size));
    } else {
        egui::ScrollArea::vertical()
            .max_height(ui.available_height().max(120.0))
            .show(ui, |ui| {
                if let Some(reprint) = desk_lines_ui(ui, view, "desk-today", view.today) {
                    intent = Some(reprint);
                }
            });
    }
    intent
}

/// Records as a table: reference, time, state (with the refusal's reason), reprint.
fn desk_lines_ui(
    ui: &mut egui::Ui,
    view: &OfficerView<'_>,
    id: &str,
    lines: &[DeskLine],
) -> Option<OfficerIntent> {
    let size = view.theme.body_size * 0.65;
    let mut intent = None;
    egui::Grid::new(id)
        .num_columns(4)
        .striped(true)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            for msg in [
                Msg::OfficerColumnReference,
                Msg::OfficerColumnTime,
                Msg::OfficerColumnState,
            ] {
                ui.label(
                    egui::RichText::new(view.text(msg))
                        .size(size)
                        .color(view.theme.muted_text),
                );
            }
            ui.label("");
            ui.end_row();
            for line in lines {
                ui.label(egui::RichText::new(&line.reference).size(size).monospace());
                ui.label(egui::RichText::new(&line.time_utc).size(size));
                let state = match &line.reason {
                    Some(reason) => format!("{}: {reason}", view.text(line.state)),
                    None => view.text(line.state),
                };
                ui.label(egui::RichText::new(state).size(size));
                let reprint = ui
                    .add_enabled(
                        view.printer,
                        egui::Button::new(
                            egui::RichText::new(view.text(Msg::OfficerReprint)).size(size),
                        )
                        .fill(view.theme.secondary_fill),
                    )
                    .on_disabled_hover_text(view.text(Msg::OfficerNoPrinter));
                if reprint.clicked() {
                    intent = Some(OfficerIntent::Reprint {
                        record_id: line.record_id.clone(),
                    });
                }
                ui.end_row();
            }
        });
    intent
}

/// The decision's evidence: the two faces at the same height beside the card's data, then the
/// score against the threshold as a bar, liveness and the quality not met. Returns whether the
/// officer asked to show or hide the whole number.
fn evidence_ui(ui: &mut egui::Ui, view: &OfficerView<'_>, evidence: &DecisionEvidence) -> bool {
    let size = view.theme.body_size * 0.75;
    let mut toggle = false;
    ui.horizontal_top(|ui| {
        if let Some(photos) = &view.photos {
            let height_px = (ui.available_height() * 0.42).clamp(140.0, 320.0);
            super::session::photos_side_by_side(
                ui,
                photos,
                [
                    view.text(Msg::OfficerPhotoLive),
                    view.text(Msg::OfficerPhotoCard),
                ],
                height_px,
                size * 0.85,
            );
        } else {
            ui.label(egui::RichText::new(view.text(Msg::OfficerNoPhotos)).size(size));
        }
        ui.add_space(24.0);
        ui.vertical(|ui| toggle = card_data_ui(ui, view, evidence, size));
    });
    ui.add_space(12.0);
    score_bar_ui(ui, view, evidence.figures, size);
    // The active challenge where the pack asks for one (passed or waived), else passive liveness.
    let record = view.state.challenge_record;
    let live = match (record.waived, record.outcome) {
        // Not live (passive liveness failed, or another face did the challenge) says so first.
        _ if !evidence.figures.live => view.text(Msg::OfficerNotLive),
        (Some(reason), _) => format!(
            "{} {}",
            view.text(Msg::OfficerChallengeWaived),
            view.text(waiver_label(reason))
        ),
        (None, Some(outcome)) if outcome.passed => view.text(Msg::OfficerChallengePassed),
        _ => view.text(Msg::OfficerLive),
    };
    ui.label(egui::RichText::new(live).size(size));
    if evidence.failed_components.is_empty() {
        ui.label(egui::RichText::new(view.text(Msg::OfficerQualityMet)).size(size * 0.85));
    } else {
        let failed: Vec<String> = evidence
            .failed_components
            .iter()
            .map(|component| format!("{} ({:.2})", view.text(component.label), component.value))
            .collect();
        ui.label(
            egui::RichText::new(format!(
                "{}: {}",
                view.text(Msg::OfficerQualityNotMet),
                failed.join(", ")
            ))
            .size(size * 0.85)
            .color(view.theme.primary_fill),
        );
    }
    toggle
}

/// The card's data as a two-column table; returns whether the show/hide button was pressed.
fn card_data_ui(
    ui: &mut egui::Ui,
    view: &OfficerView<'_>,
    evidence: &DecisionEvidence,
    size: f32,
) -> bool {
    let row = |ui: &mut egui::Ui, label: Msg, value: &str| {
        ui.label(egui::RichText::new(view.text(label)).size(size * 0.85));
        ui.label(egui::RichText::new(value).size(size).strong());
        ui.end_row();
    };
    egui::Grid::new("decision-card-data")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            row(ui, Msg::OfficerCardName, &evidence.name);
            if let Some(latin) = &evidence.name_latin {
                row(ui, Msg::OfficerCardNameLatin, latin);
            }
            row(ui, Msg::OfficerCardNumber, &evidence.document_number);
            row(ui, Msg::OfficerCardBirth, &evidence.birth_date);
            let until = evidence
                .valid_to
                .clone()
                .unwrap_or_else(|| view.text(Msg::OfficerCardLongTerm));
            let validity = match &evidence.valid_from {
                Some(from) => format!("{from} – {until}"),
                None => until,
            };
            row(ui, Msg::OfficerCardValidity, &validity);
            let verification = match &evidence.verification {
                VerificationLine::Sam { sam_id } => {
                    format!("{} {sam_id}", view.text(Msg::OfficerVerifiedSam))
                }
                VerificationLine::ChipSigned { csca_subject } => {
                    format!("{} {csca_subject}", view.text(Msg::OfficerVerifiedChip))
                }
                VerificationLine::ChipNotSigned { failure } => {
                    format!("{}: {failure}", view.text(Msg::OfficerChipNotVerified))
                }
                VerificationLine::NotVerified { reason } => {
                    format!("{}: {reason}", view.text(Msg::OfficerCardNotVerified))
                }
            };
            ui.label(
                egui::RichText::new(view.text(Msg::OfficerCardVerification)).size(size * 0.85),
            );
            ui.add(egui::Label::new(egui::RichText::new(verification).size(size * 0.85)).wrap());
            ui.end_row();
        });
    ui.add_space(8.0);
    let label = if evidence.number_revealed {
        Msg::OfficerHideNumber
    } else {
        Msg::OfficerShowNumber
    };
    ui.add(
        egui::Button::new(egui::RichText::new(view.text(label)).size(size * 0.85))
            .fill(view.theme.secondary_fill)
            .min_size(egui::vec2(0.0, 40.0)),
    )
    .clicked()
}

/// The score as a bar from 0 to 1 with the threshold marked, and the figures as text.
fn score_bar_ui(ui: &mut egui::Ui, view: &OfficerView<'_>, figures: CheckFigures, size: f32) {
    let score = figures
        .score_cosine
        .map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"));
    let verdict = if figures.is_match {
        Msg::OfficerMatch
    } else {
        Msg::OfficerNoMatch
    };
    ui.label(
        egui::RichText::new(format!(
            "{}: {score} ({} {:.3}). {}",
            view.text(Msg::OfficerScore),
            view.text(Msg::OfficerThreshold),
            figures.threshold_cosine,
            view.text(verdict),
        ))
        .size(size),
    );
    let (rect, _) = ui.allocate_exact_size(egui::vec2(480.0, 18.0), egui::Sense::hover());
    let painter = ui.painter_at(rect.expand(4.0));
    painter.rect_filled(rect, 4.0, egui::Color32::from_gray(0x3a));
    let fraction = figures.score_cosine.unwrap_or(0.0).clamp(0.0, 1.0);
    let fill = if figures.is_match {
        egui::Color32::from_rgb(0x3c, 0xb0, 0x4a)
    } else {
        view.theme.primary_fill
    };
    painter.rect_filled(
        egui::Rect::from_min_size(rect.min, egui::vec2(rect.width() * fraction, rect.height())),
        4.0,
        fill,
    );
    let x = rect.left() + rect.width() * figures.threshold_cosine.clamp(0.0, 1.0);
    painter.line_segment(
        [
            egui::pos2(x, rect.top() - 4.0),
            egui::pos2(x, rect.bottom() + 4.0),
        ],
        egui::Stroke::new(3.0, view.theme.text),
    );
    ui.add_space(6.0);
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
