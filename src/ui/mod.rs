//! The egui screens, drawn as functions of the flow state that return what the person asked for;
//! the theme and fonts. It does not decide what happens next (that is `flows`) or read files.

pub mod attract;
pub mod consent;
pub mod i18n;
pub mod officer;
pub mod place_card;
pub mod session;
pub mod technician;
pub mod theme;

use enroll_core::domain::language::Language;
use enroll_core::flows::applicant::{ApplicantState, Screen, UiEvent};
use i18n::{Catalog, Msg};

/// What every screen may read.
pub struct View<'a> {
    /// The flow state.
    pub state: &'a ApplicantState,
    /// The translations.
    pub catalog: &'a Catalog,
    /// The languages this terminal offers.
    pub languages: &'a [Language],
    /// Colours and sizes.
    pub theme: &'a theme::Theme,
    /// The live camera picture, while the camera runs.
    pub camera: Option<CameraView>,
    /// The faces to confirm, on the confirm screen.
    pub photos: Option<PhotosView>,
    /// How the paper receipt is doing, when a printer is configured.
    pub printing: Option<&'a PrintLine>,
}

/// The last paper receipt's progress, as the receipt screen and the officer desk say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrintLine {
    /// Sent to the printer.
    Printing { reference: String },
    /// Printed (`paper_low`: the roll is nearly used up).
    Printed { reference: String, paper_low: bool },
    /// Not printed: what is wrong and what to do (names no person).
    Failed { reference: String, problem: String },
}

/// The portrait that will be recorded and the card's photo, uploaded for the confirm screen.
#[derive(Clone, Copy, Debug)]
pub struct PhotosView {
    /// The portrait and its size in pixels.
    pub portrait: (egui::TextureId, [f32; 2]),
    /// The card's photo and its size, when it decodes.
    pub card: Option<(egui::TextureId, [f32; 2])>,
}

impl PhotosView {
    /// The size each photo is drawn at for `height_px` (portrait first), keeping its aspect.
    pub fn drawn_sizes(&self, height_px: f32) -> Vec<[f32; 2]> {
        let width_of = |[w, h]: [f32; 2]| {
            if h > 0.0 {
                height_px * w / h
            } else {
                height_px
            }
        };
        std::iter::once(self.portrait.1)
            .chain(self.card.map(|(_, size)| size))
            .map(|size| [width_of(size), height_px])
            .collect()
    }
}

/// The live camera picture as the capture screen draws it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraView {
    /// The uploaded frame.
    pub texture: egui::TextureId,
    /// The frame's size in pixels.
    pub frame_size_px: [f32; 2],
    /// The face box (x, y, width, height) in frame pixels, when a face was found.
    pub face_box_px: Option<[f32; 4]>,
    /// Whether quality holds (the guide turns green).
    pub quality_holds: bool,
}

impl View<'_> {
    /// The text of `msg` in the applicant's language.
    pub fn text(&self, msg: Msg) -> String {
        self.catalog.text(self.state.language, msg)
    }
}

/// Draws the current screen and returns what the person asked for, if anything.
pub fn screen_ui(ui: &mut egui::Ui, view: &View<'_>) -> Option<UiEvent> {
    let frame = egui::Frame::central_panel(ui.style())
        .fill(view.theme.background)
        .inner_margin(egui::Margin::same(32));
    frame
        .show(ui, |ui| {
            ui.set_min_size(ui.available_size());
            match view.state.screen {
                Screen::Attract => attract::attract_ui(ui, view),
                Screen::Consent => consent::consent_ui(ui, view),
                Screen::PlaceCard => place_card::place_card_ui(ui, view),
                _ => session::session_ui(ui, view),
            }
        })
        .inner
}
