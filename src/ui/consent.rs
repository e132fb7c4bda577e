//! The consent screen: what happens to the applicant's data, agree or cancel; it records nothing.

use super::View;
use super::i18n::Msg;
use enroll_core::flows::applicant::UiEvent;

/// Draws the consent screen.
pub fn consent_ui(ui: &mut egui::Ui, view: &View<'_>) -> Option<UiEvent> {
    let theme = view.theme;
    let mut intent = None;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.08);
        ui.label(
            egui::RichText::new(view.text(Msg::ConsentTitle))
                .size(theme.heading_size)
                .strong(),
        );
        ui.add_space(24.0);
        ui.set_max_width(ui.available_width().min(1000.0));
        ui.label(egui::RichText::new(view.text(Msg::ConsentBody)).size(theme.body_size));
        ui.add_space(48.0);
        if ui
            .add(theme.primary_button(view.text(Msg::ConsentAccept)))
            .clicked()
        {
            intent = Some(UiEvent::AcceptConsent);
        }
        ui.add_space(16.0);
        if ui
            .add(theme.secondary_button(view.text(Msg::ConsentDecline), false))
            .clicked()
        {
            intent = Some(UiEvent::Cancel);
        }
    });
    intent
}
