//! The applicant's screens after the card is placed: reading, card problems, capture guidance,
//! checking, confirm, saving, receipt and "see an officer". Each is text, a progress sign and
//! large buttons from one layout; they draw the flow state and return what the person asked for,
//! and decide nothing. The receipt screen draws its QR code; the live camera picture is drawn by
//! the app into the space the capture screen leaves for it.

use super::i18n::Msg;
use super::{CameraView, View};
use enroll_core::domain::challenge::{Prompt, TurnSide};
use enroll_core::flows::applicant::{CardProblem, Delivery, Guidance, Screen, UiEvent};

/// One screen: a title, an optional body, an optional spinner, and buttons (label, intent,
/// primary?).
struct Layout {
    title: Msg,
    body: Vec<String>,
    spinner: bool,
    buttons: Vec<(Msg, UiEvent, bool)>,
}

/// The sentence for one card problem (the officer's screens use it too).
pub fn problem_text(problem: CardProblem) -> Msg {
    match problem {
        CardProblem::NoCard => Msg::CardProblemNoCard,
        CardProblem::Unreadable => Msg::CardProblemUnreadable,
        CardProblem::Expired => Msg::CardProblemExpired,
        CardProblem::Unsupported => Msg::CardProblemUnsupported,
        CardProblem::RemovedTooEarly => Msg::CardProblemRemoved,
        CardProblem::ReaderUnavailable => Msg::CardProblemReader,
        CardProblem::NotVerified => Msg::CardProblemNotVerified,
        CardProblem::NoPhoto => Msg::CardProblemNoPhoto,
        CardProblem::AccessDenied => Msg::CardProblemAccess,
    }
}

/// The sentence for one guidance code.
pub fn guidance_text(guidance: Option<Guidance>) -> Msg {
    match guidance {
        None => Msg::GuidanceGood,
        Some(Guidance::LookAtCamera) => Msg::GuidanceLook,
        Some(Guidance::OnlyOnePerson) => Msg::GuidanceOnePerson,
        Some(Guidance::ComeCloser) => Msg::GuidanceCloser,
        Some(Guidance::MoveBack) => Msg::GuidanceBack,
        Some(Guidance::CentreYourFace) => Msg::GuidanceCentre,
        Some(Guidance::FaceTheCamera) => Msg::GuidanceFaceCamera,
        Some(Guidance::MoreLight) => Msg::GuidanceMoreLight,
        Some(Guidance::LessLight) => Msg::GuidanceLessLight,
        Some(Guidance::HoldStill) => Msg::GuidanceHoldStill,
        Some(Guidance::OpenYourEyes) => Msg::GuidanceEyes,
    }
}

fn layout(view: &View<'_>) -> Option<Layout> {
    let state = view.state;
    Some(match state.screen {
        Screen::ReadingCard => Layout {
            title: Msg::ReadingCardTitle,
            body: vec![view.text(Msg::ReadingCardBody)],
            spinner: true,
            buttons: vec![(Msg::Cancel, UiEvent::Cancel, false)],
        },
        Screen::CardProblem(problem) => {
            let mut body = vec![view.text(problem_text(problem))];
            let mut buttons = Vec::new();
            if !matches!(
                problem,
                CardProblem::ReaderUnavailable | CardProblem::NotVerified | CardProblem::NoPhoto
            ) {
                body.push(view.text(Msg::CardProblemHint));
                buttons.push((Msg::TryAgain, UiEvent::TryAgain, true));
            }
            buttons.push((Msg::Cancel, UiEvent::Cancel, false));
            Layout {
                title: Msg::PlaceCardTitle,
                body,
                spinner: false,
                buttons,
            }
        }
        Screen::CameraProblem => Layout {
            title: Msg::CameraProblemTitle,
            body: vec![view.text(Msg::CameraProblemBody)],
            spinner: false,
            buttons: vec![
                (Msg::TryAgain, UiEvent::TryAgain, true),
                (Msg::Cancel, UiEvent::Cancel, false),
            ],
        },
        Screen::Capture => {
            let mut body = Vec::new();
            if state.failed_matches > 0 {
                body.push(view.text(Msg::CaptureRetry));
            }
            body.push(view.text(guidance_text(state.guidance)));
            Layout {
                title: Msg::CaptureTitle,
                body,
                spinner: false,
                buttons: vec![(Msg::Cancel, UiEvent::Cancel, false)],
            }
        }
        Screen::Challenge => Layout {
            title: Msg::ChallengeTitle,
            body: vec![view.text(match state.prompt() {
                None => Msg::ChallengeGetReady,
                Some(Prompt::Blink) => Msg::ChallengeBlink,
                Some(Prompt::Turn(TurnSide::Left)) => Msg::ChallengeTurnLeft,
                Some(Prompt::Turn(TurnSide::Right)) => Msg::ChallengeTurnRight,
            })],
            spinner: false,
            buttons: vec![(Msg::Cancel, UiEvent::Cancel, false)],
        },
        Screen::Checking => Layout {
            title: Msg::CheckingTitle,
            body: vec![view.text(Msg::CheckingBody)],
            spinner: true,
            buttons: vec![],
        },
        Screen::Confirm => Layout {
            title: Msg::ConfirmTitle,
            body: vec![view.text(Msg::ConfirmBody)],
            spinner: false,
            buttons: vec![
                (Msg::ConfirmAccept, UiEvent::Confirm, true),
                (Msg::ConfirmRetake, UiEvent::TryAgain, false),
                (Msg::Cancel, UiEvent::Cancel, false),
            ],
        },
        Screen::Saving => Layout {
            title: Msg::SavingTitle,
            body: vec![],
            spinner: true,
            buttons: vec![],
        },
        Screen::Receipt => {
            let mut body = Vec::new();
            if let Some(receipt) = &state.receipt {
                body.push(format!(
                    "{}: {}",
                    view.text(Msg::ReceiptReference),
                    receipt.reference
                ));
                body.push(view.text(Msg::ReceiptKeep));
                body.push(view.text(match receipt.delivery {
                    Delivery::WhenOnline => Msg::ReceiptOffline,
                    Delivery::Sending => Msg::ReceiptSending,
                    Delivery::Sent => Msg::ReceiptSent,
                }));
                body.push(view.text(Msg::ReceiptPhone));
                if let Some(printing) = view.printing {
                    body.push(view.text(match printing {
                        super::PrintLine::Printing { .. } => Msg::ReceiptPrinting,
                        super::PrintLine::Printed { .. } => Msg::ReceiptPrinted,
                        super::PrintLine::Failed { .. } => Msg::ReceiptPrinterProblem,
                    }));
                }
            }
            Layout {
                title: Msg::ReceiptTitle,
                body,
                spinner: false,
                buttons: vec![(Msg::Done, UiEvent::Done, true)],
            }
        }
        Screen::SeeOfficer => Layout {
            title: Msg::SeeOfficerTitle,
            body: vec![view.text(Msg::SeeOfficerBody)],
            spinner: false,
            buttons: vec![(Msg::Done, UiEvent::Done, true)],
        },
        Screen::Attract | Screen::Consent | Screen::PlaceCard => return None,
    })
}

/// Draws one of the session screens; `None` for screens drawn elsewhere.
pub fn session_ui(ui: &mut egui::Ui, view: &View<'_>) -> Option<UiEvent> {
    let layout = layout(view)?;
    let theme = view.theme;
    let mut intent = None;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.08);
        ui.label(
            egui::RichText::new(view.text(layout.title))
                .size(theme.heading_size)
                .strong(),
        );
        ui.add_space(24.0);
        ui.set_max_width(ui.available_width().min(1000.0));
        for line in &layout.body {
            ui.label(egui::RichText::new(line).size(theme.body_size));
            ui.add_space(12.0);
        }
        if let (Screen::Capture | Screen::Challenge, Some(camera)) =
            (view.state.screen, view.camera)
        {
            camera_ui(ui, &camera, theme);
            ui.add_space(12.0);
        }
        if let (Screen::Confirm, Some(photos)) = (view.state.screen, view.photos) {
            photos_ui(ui, view, &photos);
            ui.add_space(12.0);
        }
        if let (Screen::Receipt, Some(receipt)) = (view.state.screen, &view.state.receipt) {
            receipt_codes_ui(ui, view, receipt);
        }
        if layout.spinner {
            ui.add_space(20.0);
            ui.add(egui::Spinner::new().size(96.0).color(theme.primary_fill));
        }
        ui.add_space(36.0);
        for (label, event, primary) in layout.buttons {
            let button = if primary {
                theme.primary_button(view.text(label))
            } else {
                theme.secondary_button(view.text(label), false)
            };
            if ui.add(button).clicked() {
                intent = Some(event);
            }
            ui.add_space(16.0);
        }
    });
    intent
}

/// Room kept under the live picture for the Cancel button.
const BUTTONS_BELOW_PX: f32 = 140.0;

/// The live picture's size: as large as the space above the buttons allows (`available` minus
/// `reserved_below_px`), at the camera's aspect ratio, never wider than 95 % of the screen.
pub fn preview_size(
    available: egui::Vec2,
    frame_px: [f32; 2],
    reserved_below_px: f32,
) -> egui::Vec2 {
    let [frame_w, frame_h] = frame_px;
    let aspect = if frame_h > 0.0 {
        frame_w / frame_h
    } else {
        4.0 / 3.0
    };
    let height = (available.y - reserved_below_px).max(180.0);
    let width = (height * aspect).min(available.x * 0.95);
    egui::vec2(width, width / aspect)
}

/// The live picture, mirrored like a mirror (people move the right way), with the oval the face
/// should fill and the box around the face found; the guide turns green while quality holds.
pub fn camera_ui(ui: &mut egui::Ui, camera: &CameraView, theme: &super::theme::Theme) {
    let [frame_w, frame_h] = camera.frame_size_px;
    if frame_w <= 0.0 || frame_h <= 0.0 {
        return;
    }
    let size = preview_size(ui.available_size(), [frame_w, frame_h], BUTTONS_BELOW_PX);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    // Mirrored: u runs from 1 to 0.
    let uv = egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0));
    painter.image(camera.texture, rect, uv, egui::Color32::WHITE);
    let guide_colour = if camera.quality_holds {
        egui::Color32::from_rgb(0x3c, 0xd0, 0x70)
    } else {
        theme.primary_fill
    };
    painter.add(egui::Shape::ellipse_stroke(
        rect.center(),
        egui::vec2(rect.width() * 0.2, rect.height() * 0.38),
        egui::Stroke::new(4.0, guide_colour),
    ));
    if let Some([x, y, w, h]) = camera.face_box_px {
        let scale = rect.width() / frame_w;
        // Mirror the box like the picture.
        let left = rect.min.x + (frame_w - x - w) * scale;
        let top = rect.min.y + y * scale;
        painter.rect_stroke(
            egui::Rect::from_min_size(egui::pos2(left, top), egui::vec2(w * scale, h * scale)),
            4.0,
            egui::Stroke::new(2.0, egui::Color32::from_rgb(0xf0, 0xf0, 0xf0)),
            egui::StrokeKind::Middle,
        );
    }
}

/// The portrait that will be recorded beside the card's photo, at the same height, each with
/// its caption in the applicant's language.
fn photos_ui(ui: &mut egui::Ui, view: &View<'_>, photos: &super::PhotosView) {
    // Small enough that the three buttons below stay on an 800-pixel screen.
    let height_px = (ui.available_height() * 0.27).clamp(120.0, 360.0);
    let captions = [
        view.text(Msg::ConfirmPhotoLive),
        view.text(Msg::ConfirmPhotoCard),
    ];
    ui.horizontal(|ui| {
        let total_px = photos_width(photos, height_px);
        ui.add_space(((ui.available_width() - total_px) / 2.0).max(0.0));
        photos_side_by_side(ui, photos, captions, height_px, view.theme.body_size * 0.8);
    });
}

/// The gap between two photos shown side by side.
const PHOTO_GAP_PX: f32 = 40.0;

/// The width of [`photos_side_by_side`] at `height_px`.
fn photos_width(photos: &super::PhotosView, height_px: f32) -> f32 {
    photos
        .drawn_sizes(height_px)
        .iter()
        .map(|[w, _]| w)
        .sum::<f32>()
        + if photos.card.is_some() {
            PHOTO_GAP_PX
        } else {
            0.0
        }
}

/// The portrait and, when it decodes, the card's photo, left to right at the same height (the
/// same scale for two portraits), each captioned (`captions`: portrait, card) and labelled for
/// screen readers by its caption.
pub(crate) fn photos_side_by_side(
    ui: &mut egui::Ui,
    photos: &super::PhotosView,
    captions: [String; 2],
    height_px: f32,
    caption_size: f32,
) {
    let sizes = photos.drawn_sizes(height_px);
    let mut shown = vec![photos.portrait.0];
    shown.extend(photos.card.map(|(texture, _)| texture));
    ui.horizontal_top(|ui| {
        for (n, ((texture, [w, h]), caption)) in
            shown.into_iter().zip(sizes).zip(captions).enumerate()
        {
            if n > 0 {
                ui.add_space(PHOTO_GAP_PX);
            }
            ui.vertical(|ui| {
                ui.add(
                    egui::Image::new((texture, egui::vec2(w, h)))
                        .corner_radius(8.0)
                        .alt_text(caption.clone()),
                );
                ui.label(egui::RichText::new(caption).size(caption_size));
            });
        }
    });
}

/// The receipt's two codes side by side: the receipt (proof of enrollment) and the activation
/// link for the phone's camera, with the activation code as text under it for typing.
fn receipt_codes_ui(
    ui: &mut egui::Ui,
    view: &View<'_>,
    receipt: &enroll_core::flows::applicant::ReceiptView,
) {
    let theme = view.theme;
    let side_px = (ui.available_height() * 0.4).clamp(140.0, 260.0);
    let gap_px = 48.0;
    ui.horizontal(|ui| {
        // Centred: the two codes side by side under the text.
        ui.add_space(((ui.available_width() - 2.0 * side_px - gap_px) / 2.0).max(0.0));
        ui.vertical(|ui| {
            qr_code_ui(ui, &receipt.qr_text, side_px);
            ui.label(
                egui::RichText::new(view.text(Msg::ReceiptReference)).size(theme.body_size * 0.8),
            );
        });
        ui.add_space(gap_px);
        ui.vertical(|ui| {
            qr_code_ui(ui, &receipt.activation_link, side_px);
            ui.label(
                egui::RichText::new(format!(
                    "{}: {}",
                    view.text(Msg::ReceiptActivationCode),
                    receipt.activation_code
                ))
                .monospace()
                .size(theme.body_size)
                .strong(),
            );
        });
    });
}

/// Draws `text` as a QR code (error correction M), `side_px` wide with a quiet zone, dark on
/// white whatever the theme. A text too long for a QR code is shown as nothing but a warning in
/// the log (the reference number above it still stands).
pub fn qr_code_ui(ui: &mut egui::Ui, text: &str, side_px: f32) {
    let code = match qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M) {
        Ok(code) => code,
        Err(error) => {
            tracing::warn!(%error, "the receipt does not fit a QR code");
            return;
        }
    };
    let modules = code.width();
    let colors = code.to_colors();
    let quiet = 4usize;
    let cells = modules + 2 * quiet;
    let (rect, _) = ui.allocate_exact_size(egui::vec2(side_px, side_px), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, egui::Color32::WHITE);
    let cell = side_px / cells as f32;
    for (index, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (index % modules + quiet, index / modules + quiet);
            let min = rect.min + egui::vec2(x as f32 * cell, y as f32 * cell);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(cell, cell)),
                0.0,
                egui::Color32::BLACK,
            );
        }
    }
}
