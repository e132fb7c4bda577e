//! enroll-kiosk: the kiosk application of the identity enrollment terminal, on top of the
//! workspace's crates (see ARCHITECTURE.md for the crate map and the invariants).
//!
//! Code map:
//! - [`app`]: the composition root of the GUI: window, fonts, feeding events into the flows of
//!   `enroll_core::flows`, running effects; the workers on named threads; the officer and
//!   technician desks; with the `demo` feature, the demo's emulators and local registry.
//! - [`ui`]: egui screens as functions of flow state, theme, translations.
//! - [`config`]: the typed, validated configuration; the only reader of config files.
//! - [`configured`]: the camera and card reader a configuration names, opened behind one trait,
//!   and the registry link's settings.
//! - [`diag`]: the technician's offline checks of every device, model, store, key and link.
//! - [`device_health`]: what the running kiosk last saw of its camera and card reader (for the
//!   heartbeat).
//! - [`officers`]: the officer list: badges, roles, Argon2id PIN hashes.
//! - [`logs`]: the kiosk's own log file.
//! - [`clock`]: the kiosk's one reading of the wall clock.
//! - [`runtime`]: the tokio runtimes the kiosk starts, on named threads.
//!
//! The `kiosk` command line is `main.rs` with its private `cli_*.rs` modules.

#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod config;
pub mod configured;
pub mod device_health;
pub mod diag;
pub mod logs;
pub mod officers;
pub mod runtime;
pub mod ui;
