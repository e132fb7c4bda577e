//! Fuzzes status list tokens as a verifier receives them: `entries::status_list` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::status_list(data));
