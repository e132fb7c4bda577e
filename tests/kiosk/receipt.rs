//! The applicant's receipt through the real binary: `kiosk receipt make` prints the QR text of a
//! committed record, `kiosk receipt verify` checks it offline against the terminal's public key,
//! and any change to the text, or another terminal's key, makes it invalid.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use common::terminal::{Terminal, text};

#[test]
fn a_receipt_verifies_offline_and_any_change_breaks_it() {
    let terminal = Terminal::new();
    let ids = terminal.enroll(1);
    let made = terminal.run(&["receipt", "make", &ids[0]]);
    assert!(made.status.success(), "{}", text(&made));
    let printed = String::from_utf8(made.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    let qr = lines[0].to_owned();
    assert!(qr.starts_with("EKRCPT1.DEMO-0001."), "{qr}");
    assert!(qr.contains(&ids[0]), "{qr}");
    // The reprint carries the same one-time activation code each time, and its holder link.
    let code = lines[1].strip_prefix("activation code: ").unwrap();
    assert!(
        enroll_core::domain::activation::ActivationCode::parse(code).is_ok(),
        "{printed}"
    );
    assert!(
        lines[2].ends_with(&format!("/holder/#code={code}")),
        "{printed}"
    );
    // The short reference the screen shows finds the record at the desk.
    let reference = lines[3].strip_prefix("reference: ").unwrap();
    assert_eq!(reference.len(), 12, "{printed}");
    let shown = terminal.run(&["queue", "show", &reference.to_lowercase(), "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["id"], ids[0].as_str());
    assert_eq!(shown["reference"], reference);
    let by_reference = terminal.run(&["receipt", "make", reference]);
    assert_eq!(String::from_utf8(by_reference.stdout).unwrap(), printed);
    let unknown = terminal.run(&["queue", "show", "000-000-0000"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("no record with reference 000-000-0000"),
        "{}",
        text(&unknown)
    );
    let printouts = terminal.dir.path().join("printouts");
    let again = terminal.run(&[
        "receipt",
        "make",
        &ids[0],
        "--qr-out",
        printouts.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8(again.stdout).unwrap(), printed);
    // For the printer: both codes as images that read back as the texts above.
    for (file, text) in [
        ("receipt.png", lines[0]),
        (
            "activation.png",
            lines[2].trim_start_matches("activation link: "),
        ),
    ] {
        let image = image::open(printouts.join(file)).unwrap().to_luma8();
        let found = enroll_credential::qr::decode(&enroll_credential::qr::GreyImage {
            width: image.width() as usize,
            height: image.height() as usize,
            pixels: image.into_raw(),
        });
        assert_eq!(found, vec![text.to_owned()], "{file}");
    }

    let valid = terminal.run(&["receipt", "verify", &qr]);
    assert!(valid.status.success(), "{}", text(&valid));
    assert!(
        text(&valid).starts_with(&format!("valid: record {} from terminal DEMO-0001", ids[0])),
        "{}",
        text(&valid)
    );

    // Another creation time in the text: the signature no longer holds.
    let fields: Vec<&str> = qr.split('.').collect();
    let altered_time = (fields[3].parse::<u64>().unwrap() + 1).to_string();
    let altered = [
        fields[0],
        fields[1],
        fields[2],
        &altered_time,
        fields[4],
        fields[5],
    ]
    .join(".");
    let invalid = terminal.run(&["receipt", "verify", &altered]);
    assert!(!invalid.status.success());
    assert!(
        text(&invalid).contains("does not verify"),
        "{}",
        text(&invalid)
    );

    // A text that is not a receipt says so.
    let junk = terminal.run(&["receipt", "verify", "https://example.org/"]);
    assert!(!junk.status.success());
    assert!(
        text(&junk).contains("not an enroll-kiosk receipt"),
        "{}",
        text(&junk)
    );

    // Another terminal's key does not vouch for this receipt.
    let other = Terminal::new();
    let foreign = terminal.run(&[
        "receipt",
        "verify",
        &qr,
        "--public-key",
        other.key("terminal-signing.pub").to_str().unwrap(),
    ]);
    assert!(!foreign.status.success());

    // An unknown record id has no receipt to reprint.
    let missing = terminal.run(&["receipt", "make", "01a2b3c4-0000-7000-8000-000000000000"]);
    assert!(!missing.status.success());
    assert!(text(&missing).contains("no record"), "{}", text(&missing));
}
