//! The "place your card" screen shown while the terminal waits for an identity card; it does not
//! talk to the reader.

use super::View;
use super::i18n::Msg;
use enroll_core::flows::applicant::UiEvent;

/// Draws the "place your card" screen.
pub fn place_card_ui(ui: &mut egui::Ui, view: &View<'_>) -> Option<UiEvent> {
    let theme = view.theme;
    let mut intent = None;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.12);
        ui.label(
            egui::RichText::new(view.text(Msg::PlaceCardTitle))
                .size(theme.heading_size)
                .strong(),
        );
        ui.add_space(24.0);
        ui.set_max_width(ui.available_width().min(1000.0));
        ui.label(egui::RichText::new(view.text(Msg::PlaceCardBody)).size(theme.body_size));
        ui.add_space(32.0);
        ui.add(egui::Spinner::new().size(96.0).color(theme.primary_fill));
        ui.add_space(48.0);
        if ui
            .add(theme.secondary_button(view.text(Msg::PlaceCardCancel), false))
            .clicked()
        {
            intent = Some(UiEvent::Cancel);
        }
    });
    intent
}
