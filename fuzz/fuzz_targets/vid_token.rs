//! Fuzzes virtual ID tokens and each layer under them, as a verifier scans them: `entries::vid_token` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::vid_token(data));
