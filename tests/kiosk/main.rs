//! The integration tests of the kiosk package, as one test binary (each former test file is a
//! module here, `common` the helpers they share): the GUI, card readers, face engine, outbox,
//! sync and registry stacks are linked once instead of once per file. Fixtures are in
//! `tests/fixtures/`, the diagnostic report's shape in `tests/snapshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod common;

mod app_analysis;
mod app_card_worker;
mod app_enrollment;
mod app_kiosk;
mod app_officer;
mod app_technician;
mod architecture;
mod camera_files;
mod card_mrz_scanner;
mod card_pcsc;
mod card_sam;
mod cli;
mod cli_face;
mod clock_jumps;
mod config;
mod crash;
mod diag;
mod disk_full;
mod dlib_reference;
mod face_engine;
mod fleet;
mod fleet_health;
mod fleet_soak;
mod fuzz_corpus;
mod gui_smoke;
mod holder;
mod i18n;
mod mediapipe_reference;
mod net_faults;
mod officer;
mod open_pack;
mod outbox;
mod pg_crash;
mod power_cut;
mod printer;
mod receipt;
mod records;
mod registry_cli;
mod registry_cluster;
mod registry_storage;
mod sync;
mod sync_faults;
mod sync_worker;
mod token;
mod ui_attract;
mod ui_session;
mod virtual_id;
