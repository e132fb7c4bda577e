//! Colours, sizes and fonts of the kiosk: high contrast and large touch targets. It does not read
//! font files (the app hands over the bytes).

use std::sync::Arc;

use egui::{Color32, FontData, FontDefinitions, FontFamily, FontId, TextStyle};

/// The name under which the CJK fallback font is registered.
pub const CJK_FONT_NAME: &str = "cjk-fallback";

/// Colours and sizes shared by every screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    /// Screen background.
    pub background: Color32,
    /// Body text.
    pub text: Color32,
    /// Secondary text.
    pub muted_text: Color32,
    /// The one primary action per screen.
    pub primary_fill: Color32,
    /// Text on the primary action.
    pub primary_text: Color32,
    /// Secondary buttons.
    pub secondary_fill: Color32,
    /// The selected choice among several (e.g. the current language).
    pub selected_fill: Color32,
    /// Minimum size of a primary button, in points (touch target).
    pub primary_button_size: egui::Vec2,
    /// Minimum size of a secondary button, in points (touch target).
    pub secondary_button_size: egui::Vec2,
    /// Size of headings.
    pub heading_size: f32,
    /// Size of the attract-screen greeting.
    pub greeting_size: f32,
    /// Size of body text.
    pub body_size: f32,
    /// Size of button labels.
    pub button_size: f32,
}

impl Theme {
    /// White on near-black with a yellow primary action: contrast above 13:1 everywhere (WCAG AAA).
    pub fn high_contrast() -> Theme {
        Theme {
            background: Color32::from_rgb(0x10, 0x14, 0x18),
            text: Color32::WHITE,
            muted_text: Color32::from_rgb(0xD8, 0xDE, 0xE4),
            primary_fill: Color32::from_rgb(0xFF, 0xD4, 0x00),
            primary_text: Color32::from_rgb(0x10, 0x14, 0x18),
            secondary_fill: Color32::from_rgb(0x2A, 0x33, 0x3D),
            selected_fill: Color32::from_rgb(0x1F, 0x5F, 0xBF),
            primary_button_size: egui::vec2(360.0, 104.0),
            secondary_button_size: egui::vec2(220.0, 80.0),
            heading_size: 44.0,
            greeting_size: 56.0,
            body_size: 28.0,
            button_size: 32.0,
        }
    }

    /// Applies the colours and text sizes to a context.
    /// The theme for the applicant's display choices: larger text scales every text size by a
    /// third; maximum contrast is pure white on black with thicker outlines.
    pub fn for_display(large_text: bool, max_contrast: bool) -> Theme {
        let mut theme = Theme::high_contrast();
        if max_contrast {
            theme.background = Color32::BLACK;
            theme.muted_text = Color32::WHITE;
            theme.primary_text = Color32::BLACK;
            theme.secondary_fill = Color32::BLACK;
        }
        if large_text {
            let scale = 4.0 / 3.0;
            theme.heading_size *= scale;
            theme.greeting_size *= scale;
            theme.body_size *= scale;
            theme.button_size *= scale;
        }
        theme
    }

    pub fn apply(&self, ctx: &egui::Context) {
        let mut style = (*ctx.global_style()).clone();
        style.visuals = egui::Visuals::dark();
        style.visuals.override_text_color = Some(self.text);
        style.visuals.panel_fill = self.background;
        style.visuals.window_fill = self.background;
        style.text_styles = [
            (TextStyle::Heading, FontId::proportional(self.heading_size)),
            (TextStyle::Body, FontId::proportional(self.body_size)),
            (TextStyle::Button, FontId::proportional(self.button_size)),
            (TextStyle::Small, FontId::proportional(self.body_size * 0.8)),
            (TextStyle::Monospace, FontId::monospace(self.body_size)),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(16.0, 16.0);
        style.spacing.button_padding = egui::vec2(24.0, 16.0);
        ctx.set_global_style(style);
    }

    /// A primary (one per screen) button.
    pub fn primary_button(&self, label: String) -> egui::Button<'static> {
        egui::Button::new(
            egui::RichText::new(label)
                .size(self.button_size)
                .strong()
                .color(self.primary_text),
        )
        .fill(self.primary_fill)
        .min_size(self.primary_button_size)
    }

    /// A secondary button; `selected` marks the current choice among several.
    pub fn secondary_button(&self, label: String, selected: bool) -> egui::Button<'static> {
        let fill = if selected {
            self.selected_fill
        } else {
            self.secondary_fill
        };
        egui::Button::new(
            egui::RichText::new(label)
                .size(self.button_size * 0.85)
                .color(self.text),
        )
        .fill(fill)
        .stroke(egui::Stroke::new(2.0, self.text))
        .min_size(self.secondary_button_size)
    }
}

/// Installs egui's built-in fonts plus, when given, a CJK font (e.g. WenQuanYi Micro Hei, face 0)
/// as the fallback for every family, so Chinese renders as glyphs rather than boxes.
pub fn install_fonts(ctx: &egui::Context, cjk_font: Option<Vec<u8>>) {
    let mut fonts = FontDefinitions::default();
    if let Some(bytes) = cjk_font {
        fonts.font_data.insert(
            CJK_FONT_NAME.to_owned(),
            Arc::new(FontData::from_owned(bytes)),
        );
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            fonts
                .families
                .entry(family)
                .or_default()
                .push(CJK_FONT_NAME.to_owned());
        }
    }
    ctx.set_fonts(fonts);
}
