//! enroll-kiosk: the software of an identity enrollment terminal and of the registry it syncs to.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - [`domain`]: pure types and rules: languages, tiers, documents, SAM frames, MRZ, ICAO LDS.
//! - [`flows`]: pure state machines driven by events, with time as an input.
//! - [`ui`]: egui screens as functions of flow state, theme, translations.
//! - [`app`]: the composition root of the GUI.
//! - [`crypto`]: ICAO BAC, PACE, secure messaging, passive authentication, a throw-away test PKI
//!   (later: keys, signing, sealing, receipts).
//! - [`devices`]: hardware behind small traits (card readers; later the camera), real and simulated.
//! - [`face`]: on-device face engine: detect, landmarks, align, embed, compare, liveness, quality.
//! - [`keys`]: key files on disk (mode 0600, never overwritten) and the OS random source.
//! - [`officers`]: the officer list: badges, roles, Argon2id PIN hashes.
//! - [`registry`]: the central registry: verification, receipts, storage (SQLite, PostgreSQL),
//!   HTTP(S) server.
//! - [`store`]: the SQLite outbox of signed records and the hash-chained audit log.
//! - [`sync`]: the sync worker: sends due records, verifies receipts, backs off with jitter.
//! - [`config`]: the typed, validated configuration; the only reader of config files.
//! - [`configured`]: the camera and card reader a configuration names, opened behind one trait.
//! - [`diag`]: the technician's offline checks of every device, model, store, key and link.

#![forbid(unsafe_code)]

pub mod app;
pub mod clock;
pub mod config;
pub mod configured;
pub mod diag;
pub mod logs;
pub mod officers;
pub mod runtime;
pub mod ui;
