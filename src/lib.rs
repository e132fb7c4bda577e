//! enroll-kiosk: the software of an identity enrollment terminal and of the registry it syncs to.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - [`domain`]: pure types and rules (languages, tiers; later documents, records, verdicts).
//! - [`flows`]: pure state machines driven by events, with time as an input.
//! - [`ui`]: egui screens as functions of flow state, theme, translations.
//! - [`app`]: the composition root of the GUI.
//! - [`config`]: the typed, validated configuration; the only reader of config files.

pub mod app;
pub mod config;
pub mod domain;
pub mod flows;
pub mod ui;
