//! The attract screen: greeting, "Start", the language choice and the display choices (larger
//! text, high contrast); it changes none of them itself (it returns the choice to the flow).

use super::View;
use super::i18n::{Catalog, Msg};
use super::theme::Theme;
use enroll_core::domain::language::Language;
use enroll_core::domain::officer::Role;
use enroll_core::flows::applicant::UiEvent;

/// A demo badge as the demo's first screens show it (demo configurations only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownBadge {
    pub role: Role,
    pub badge: String,
    pub pin: String,
}

/// The demo's badges and PINs in the bottom-left corner, so a newcomer can reach the officer
/// desk and the technician screen; nothing is drawn without badges (a real terminal).
pub fn demo_badges_ui(
    ui: &mut egui::Ui,
    catalog: &Catalog,
    language: Language,
    theme: &Theme,
    badges: &[ShownBadge],
) {
    if badges.is_empty() {
        return;
    }
    let size = theme.body_size * 0.55;
    let text = |msg| catalog.text(language, msg);
    // One line along the bottom edge, below the language row and clear of the Service button.
    egui::Area::new(egui::Id::unique("demo-badges"))
        .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(12.0, -12.0))
        .show(ui.ctx(), |ui| {
            egui::Frame::new()
                .stroke(egui::Stroke::new(1.0, theme.muted_text))
                .corner_radius(6.0)
                .inner_margin(egui::Margin::symmetric(10, 4))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(
                            egui::RichText::new(text(Msg::AttractDemoBadges))
                                .size(size)
                                .color(theme.muted_text),
                        );
                        for shown in badges {
                            let role = match shown.role {
                                Role::Officer => Msg::DemoRoleOfficer,
                                Role::Supervisor => Msg::DemoRoleSupervisor,
                                Role::Technician => Msg::DemoRoleTechnician,
                            };
                            ui.add_space(12.0);
                            ui.label(egui::RichText::new(text(role)).size(size));
                            ui.label(egui::RichText::new(&shown.badge).size(size).monospace());
                            ui.label(
                                egui::RichText::new(format!("PIN {}", shown.pin))
                                    .size(size)
                                    .monospace(),
                            );
                        }
                    });
                });
        });
}

/// Draws the attract screen.
pub fn attract_ui(ui: &mut egui::Ui, view: &View<'_>) -> Option<UiEvent> {
    let theme = view.theme;
    let mut intent = None;
    // Display choices in the top corner, where they stay on screen whatever the text size; in the
    // applicant's language, each showing whether it is on.
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Min), |ui| {
        let size = egui::vec2(260.0, 60.0);
        let contrast = theme
            .secondary_button(view.text(Msg::AttractContrast), view.state.max_contrast)
            .min_size(size);
        if ui.add(contrast).clicked() {
            intent = Some(UiEvent::ToggleContrast);
        }
        let large = theme
            .secondary_button(view.text(Msg::AttractLargeText), view.state.large_text)
            .min_size(size);
        if ui.add(large).clicked() {
            intent = Some(UiEvent::ToggleLargeText);
        }
    });
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.04);
        ui.label(
            egui::RichText::new(view.text(Msg::AppTitle))
                .size(theme.body_size)
                .color(theme.muted_text),
        );
        ui.add_space(24.0);
        ui.label(
            egui::RichText::new(view.text(Msg::AttractGreeting))
                .size(theme.greeting_size)
                .strong()
                .color(theme.text),
        );
        ui.add_space(8.0);
        ui.label(
            egui::RichText::new(view.text(Msg::AttractSubtitle))
                .size(theme.body_size)
                .color(theme.muted_text),
        );
        ui.add_space(48.0);
        if ui
            .add(theme.primary_button(view.text(Msg::AttractStart)))
            .clicked()
        {
            intent = Some(UiEvent::Start);
        }
        ui.add_space(56.0);
        ui.label(
            egui::RichText::new(view.text(Msg::AttractChooseLanguage))
                .size(theme.body_size)
                .color(theme.muted_text),
        );
        ui.add_space(8.0);
        if let Some(language) = language_row_ui(ui, view) {
            intent = Some(UiEvent::ChooseLanguage(language));
        }
    });
    intent
}

/// One button per offered language, each labelled in its own language.
fn language_row_ui(
    ui: &mut egui::Ui,
    view: &View<'_>,
) -> Option<enroll_core::domain::language::Language> {
    let theme = view.theme;
    let spacing = ui.spacing().item_spacing.x;
    let count = view.languages.len() as f32;
    let row_width = count * theme.secondary_button_size.x + (count - 1.0).max(0.0) * spacing;
    let mut chosen = None;
    ui.horizontal(|ui| {
        ui.add_space(((ui.available_width() - row_width) / 2.0).max(0.0));
        for &language in view.languages {
            let name = view.catalog.text(language, Msg::LanguageName);
            let selected = language == view.state.language;
            if ui.add(theme.secondary_button(name, selected)).clicked() {
                chosen = Some(language);
            }
        }
    });
    chosen
}
