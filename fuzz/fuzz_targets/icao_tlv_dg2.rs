//! Fuzzes ICAO TLV trees, EF.COM, DG1 and DG2: `entries::icao_tlv_dg2` (shared with the corpus replay in
//! `tests/kiosk/fuzz_corpus.rs`).

#![no_main]

#[allow(dead_code)] // each target uses one entry
#[path = "../entries.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entries::icao_tlv_dg2(data));
