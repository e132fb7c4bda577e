//! The MRZ line scanner end to end over a real pseudo-terminal through the real serial code: a
//! scan becomes the chip's access key, a smudged scan asks for a rescan, an unplugged scanner says
//! so. The MRZs are the ICAO 9303 specimens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::time::Duration;

use enroll_devices::card::mrz_scanner::{MrzScanner, MrzScannerError};
use enroll_sim::mrz_scanner_emulator::MrzScannerEmulator;

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];

fn scanner_pair() -> (tempfile::TempDir, MrzScannerEmulator, MrzScanner) {
    let dir = tempfile::tempdir().unwrap();
    let emulator = MrzScannerEmulator::start(dir.path().join("ttyMRZ")).unwrap();
    let scanner = MrzScanner::open(emulator.link(), 9600).unwrap();
    (dir, emulator, scanner)
}

#[test]
fn a_scanned_data_page_gives_the_access_key() {
    let (_dir, emulator, mut scanner) = scanner_pair();
    emulator.send_raw(b"OCR reader ready\r\n").unwrap();
    emulator.scan(&TD3).unwrap();
    let mrz = scanner.next_mrz(Duration::from_secs(5)).unwrap();
    let key = mrz.access_key();
    assert_eq!(key.document_number(), "L898902C3");
    assert_eq!(key.birth().to_yymmdd(), "740812");
    assert_eq!(key.expiry().to_yymmdd(), "120415");
}

#[test]
fn a_smudged_scan_asks_for_a_rescan_without_echoing_the_mrz() {
    let (_dir, emulator, mut scanner) = scanner_pair();
    let smudged = TD3[1].replacen("7408122", "7408172", 1);
    emulator.scan(&[TD3[0], &smudged]).unwrap();
    let error = scanner.next_mrz(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(error, MrzScannerError::Unreadable(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("scan the page again or type the MRZ"),
        "{message}"
    );
    assert!(!message.contains("L898902C3") && !message.contains("ERIKSSON"));

    emulator.scan(&TD3).unwrap();
    assert!(scanner.next_mrz(Duration::from_secs(5)).is_ok());
}

#[test]
fn no_scan_in_time_says_what_to_do() {
    let (_dir, _emulator, mut scanner) = scanner_pair();
    let error = scanner.next_mrz(Duration::from_millis(300)).unwrap_err();
    assert!(matches!(error, MrzScannerError::TimedOut { .. }));
    assert!(
        error
            .to_string()
            .contains("place the data page on the scanner")
    );
}

#[test]
fn an_unplugged_scanner_is_reported_as_gone() {
    let (_dir, emulator, mut scanner) = scanner_pair();
    emulator.unplug();
    let error = scanner.next_mrz(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(error, MrzScannerError::Gone { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("plug it in again, or type the MRZ")
    );
}

#[test]
fn a_missing_port_fails_to_open_with_the_path_and_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let error = MrzScanner::open(dir.path().join("ttyNOPE"), 9600).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("ttyNOPE") && message.contains("type the MRZ instead"),
        "{message}"
    );
}
