//! The kiosk's pure `domain` module, compiled from the kiosk's own source files for fuzzing. It adds
//! no code of its own; the targets in `fuzz_targets/` call the parsers through it.

#![allow(dead_code, unused_imports)]

#[path = "../../src/domain/mod.rs"]
pub mod domain;
