//! Fuzzes the resident ID card's text block and appended address: `entries::id_text` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::id_text(data));
