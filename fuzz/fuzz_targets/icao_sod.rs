//! Fuzzes EF.SOD and the LDS security object inside it: `entries::icao_sod` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::icao_sod(data));
