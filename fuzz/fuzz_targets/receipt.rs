//! Fuzzes receipts as a terminal receives them: `entries::receipt` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::receipt(data));
