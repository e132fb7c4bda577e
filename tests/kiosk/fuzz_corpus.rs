//! The fuzzers' kept inputs as regression tests: every file in `fuzz/seeds/<target>/`
//! (well-formed instances made by `examples/fuzz_seeds.rs`, and the card text blocks and MRZs)
//! and `fuzz/corpus/<target>/` (what `scripts/fuzz.sh` found and minimised, and any input that
//! once crashed a parser) runs through the target's entry in `fuzz/entries.rs`, the very code the
//! fuzzer runs. A parser that panics on any of them fails here, in seconds, without a fuzzing
//! toolchain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

#[allow(dead_code, clippy::unwrap_used)]
#[path = "../../fuzz/entries.rs"]
mod entries;

use crate::common::root;

#[test]
fn every_kept_fuzz_input_runs_through_its_parser_without_a_panic() {
    let mut report = Vec::new();
    for (target, entry) in entries::TARGETS {
        let mut inputs = 0;
        for kind in ["seeds", "corpus"] {
            let dir = root().join("fuzz").join(kind).join(target);
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files {
                let path = file.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let ran = std::panic::catch_unwind(|| entry(&bytes));
                assert!(
                    ran.is_ok(),
                    "{target}: {} makes the parser panic",
                    path.display()
                );
                inputs += 1;
            }
        }
        assert!(
            inputs > 0,
            "{target} keeps no input: add a seed (cargo run --example fuzz_seeds -- fuzz/seeds) \
             or fuzz it (scripts/fuzz.sh)"
        );
        report.push(format!("{target} {inputs}"));
    }
    eprintln!("replayed: {}", report.join(", "));
}

#[test]
fn the_seeds_are_what_their_parsers_take() {
    // A seed that no longer parses teaches the fuzzer nothing about the format: the well-formed
    // instances must still be well-formed.
    let seed = |target: &str, name: &str| {
        std::fs::read(root().join("fuzz/seeds").join(target).join(name)).unwrap()
    };
    enroll_core::domain::record::RecordEnvelope::decode(&seed("record_envelope", "envelope.bin"))
        .unwrap();
    enroll_core::domain::record::RecordBody::from_bytes(&seed("record_envelope", "body.json"))
        .unwrap();
    let signed: enroll_core::domain::record::SignedReceipt =
        serde_json::from_slice(&seed("receipt", "receipt.json")).unwrap();
    let body = enroll_core::domain::document::base64_bytes::decode(&signed.receipt).unwrap();
    enroll_core::domain::record::ReceiptBody::from_bytes(&body).unwrap();
    enroll_core::domain::roster::RosterBody::from_bytes(&seed("officer_roster", "body.json"))
        .unwrap();
    let heartbeat = String::from_utf8(seed("fleet_request", "heartbeat.json")).unwrap();
    enroll_protocol::heartbeat::Heartbeat::parse(&heartbeat).unwrap();
    for profile in ["basic", "check-in"] {
        let text = String::from_utf8(seed("vid_token", &format!("{profile}.txt"))).unwrap();
        enroll_credential::token::open(&text).unwrap();
    }
    enroll_credential::trust::TrustList::read_unchecked(&seed("trust_list", "list.cose")).unwrap();
    enroll_credential::status::StatusListToken::open(&seed("status_list", "list.cose")).unwrap();
    let receipt = seed("escpos", "receipt.bin");
    let requests = enroll_sim::printer_emulator::EscPosReader::default().push(&receipt[1..]);
    assert!(
        requests
            .iter()
            .any(|r| matches!(r, enroll_sim::printer_emulator::Request::Cut(page) if page.lines.len() == 2 && page.images.len() == 1)),
        "{requests:?}"
    );
}
