//! Paper receipts as applicants, officers and technicians meet them: the real app (kittest) prints
//! on a thermal printer emulated on a real pseudo-terminal (`enroll_sim::printer_emulator`, which
//! parses the ESC/POS stream back into text and raster images). The printed QR codes decode to
//! the same text as the screen's; a printer unplugged mid-print or out of paper is reported on the
//! screen and by the diagnostics, and the record stays committed; the officer desk lists today's
//! records, finds one by its reference and prints its receipt again, with the same codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::time::Duration;

use common::booth::{Booth, demo_pictures, harness, run_until, run_until_label, type_into};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::officer::Role;
use enroll_core::flows::applicant::{ReceiptView, Screen};
use enroll_core::flows::officer::{OfficerNotice, Screen as OfficerScreen};
use enroll_credential::qr::GreyImage;
use enroll_kiosk::app::KioskApp;
use enroll_kiosk::config::PrinterConfig;
use enroll_kiosk::officers::OfficerList;
use enroll_kiosk::ui::PrintLine;
use enroll_kiosk::ui::officer::Found;
use enroll_sim::printer_emulator::{Page, PrinterEmulator};
use enroll_store::Outbox;

/// A booth whose camera shows the card's holder, with the emulated printer at `printer`.
fn printing_booth(tier: &str, printer: &PrinterEmulator) -> Booth {
    let pictures = demo_pictures();
    let mut booth = Booth::new(
        tier,
        &pictures.join("camera"),
        &pictures.join("card-photo.jpg"),
    );
    booth.config.printer = Some(PrinterConfig {
        port: printer.link().to_owned(),
        baud: 19_200,
    });
    booth
}

/// `kiosk diag printer --json` on the booth's configuration file (with its printer written in):
/// the printer check's status and advice.
fn diag_printer(booth: &Booth) -> (String, String, String) {
    let path = &booth.config.source_path;
    let mut text = std::fs::read_to_string(path).unwrap();
    if !text.contains("[printer]") {
        let port = booth
            .config
            .printer
            .as_ref()
            .unwrap()
            .port
            .display()
            .to_string();
        text.push_str(&format!("\n[printer]\nport = \"{port}\"\n"));
        std::fs::write(path, text).unwrap();
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["diag", "printer", "--json", "--config"])
        .arg(path)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    let check = &report["checks"][0];
    assert_eq!(check["check"], "printer", "{report}");
    (
        check["status"].as_str().unwrap().to_owned(),
        check["value"].as_str().unwrap_or_default().to_owned(),
        check["advice"].as_str().unwrap_or_default().to_owned(),
    )
}

fn printer() -> (tempfile::TempDir, PrinterEmulator) {
    let dir = tempfile::tempdir().unwrap();
    let emulator = PrinterEmulator::start(dir.path().join("ttyPrinter")).unwrap();
    (dir, emulator)
}

/// Start, consent, the card, the capture (taken by itself), confirm: the receipt screen.
fn enroll_to_the_receipt(harness: &mut Harness<'static, KioskApp>) -> ReceiptView {
    harness.run_steps(2);
    harness.get_by_label("Start").click();
    harness.run_steps(2);
    harness.get_by_label("I agree").click();
    harness.run_steps(2);
    run_until(harness, "a match", Duration::from_secs(60), |app| {
        app.state().screen == Screen::Confirm
    });
    harness.get_by_label("Confirm").click();
    run_until(harness, "the receipt", Duration::from_secs(30), |app| {
        app.state().screen == Screen::Receipt
    });
    harness.state().state().receipt.clone().unwrap()
}

fn wait_for_print(harness: &mut Harness<'static, KioskApp>) -> PrintLine {
    run_until(
        harness,
        "the printer's answer",
        Duration::from_secs(20),
        |app| !matches!(app.print_line(), None | Some(PrintLine::Printing { .. })),
    );
    harness.run_steps(2);
    harness.state().print_line().cloned().unwrap()
}

/// The QR codes printed on `page`, decoded.
fn decoded_codes(page: &Page) -> Vec<String> {
    page.images
        .iter()
        .flat_map(|raster| {
            let luma = raster.to_luma();
            enroll_credential::qr::decode(&GreyImage {
                width: luma.width() as usize,
                height: luma.height() as usize,
                pixels: luma.into_raw(),
            })
        })
        .collect()
}

#[test]
fn the_printed_receipt_says_what_the_screen_says_and_its_qr_codes_decode_to_the_same_text() {
    let (_dir, emulator) = printer();
    let booth = printing_booth("self-service", &emulator);
    let mut harness = harness(&booth, None);
    let receipt = enroll_to_the_receipt(&mut harness);

    let printed = wait_for_print(&mut harness);
    assert!(
        matches!(&printed, PrintLine::Printed { reference, .. } if *reference == receipt.reference),
        "{printed:?}"
    );
    harness.get_by_label_contains("Take your printed receipt below the screen.");
    let pages = emulator.pages();
    assert_eq!(pages.len(), 1, "one receipt, cut once");
    let page = &pages[0];
    assert!(
        page.lines
            .contains(&format!("Reference: {}", receipt.reference)),
        "{:?}",
        page.lines
    );
    assert!(
        page.lines
            .contains(&format!("Activation code: {}", receipt.activation_code))
    );
    assert_eq!(
        decoded_codes(page),
        vec![receipt.qr_text.clone(), receipt.activation_link.clone()],
        "the printed codes are the screen's"
    );
    assert!(
        emulator.unknown_commands().is_empty(),
        "{:?}",
        emulator.unknown_commands()
    );
}

#[test]
fn a_printer_unplugged_mid_print_is_reported_and_the_record_stays_committed() {
    let (_dir, emulator) = printer();
    // The cable comes out 600 bytes into the job, inside the first QR code.
    emulator.unplug_after(600);
    let booth = printing_booth("self-service", &emulator);
    let mut harness = harness(&booth, None);
    let receipt = enroll_to_the_receipt(&mut harness);

    let printed = wait_for_print(&mut harness);
    let PrintLine::Failed { reference, problem } = &printed else {
        panic!("{printed:?}");
    };
    assert_eq!(*reference, receipt.reference);
    assert!(
        problem.contains("reprint from the officer desk") || problem.contains("cannot be opened"),
        "{problem}"
    );
    // The applicant is told, and can still read the codes off the screen.
    harness.get_by_label_contains("The printer is not working");
    harness.get_by_label_contains(&receipt.activation_code);
    assert!(emulator.pages().is_empty(), "nothing was cut");
    let outbox = Outbox::open(&booth.outbox()).unwrap();
    assert!(
        outbox
            .list()
            .unwrap()
            .iter()
            .any(|r| r.id == receipt.record_id),
        "the record is committed whatever the printer does"
    );

    // The technician's check says the printer is gone, and what to do.
    let (status, _, advice) = diag_printer(&booth);
    assert_eq!(status, "fail");
    assert!(advice.contains("check its cable and power"), "{advice}");
}

#[test]
fn a_printer_out_of_paper_prints_nothing_and_says_so_on_screen_and_in_diag() {
    let (_dir, emulator) = printer();
    let booth = printing_booth("self-service", &emulator);
    let (status, value, _) = diag_printer(&booth);
    assert_eq!(status, "ok");
    assert!(value.contains("paper loaded"), "{value}");

    emulator.set_out_of_paper(true);
    let (status, _, advice) = diag_printer(&booth);
    assert_eq!(status, "fail");
    assert!(advice.contains("out of paper; load a new roll"), "{advice}");

    let mut harness = harness(&booth, None);
    let receipt = enroll_to_the_receipt(&mut harness);
    let printed = wait_for_print(&mut harness);
    assert!(
        matches!(&printed, PrintLine::Failed { problem, .. } if problem.contains("out of paper")),
        "{printed:?}"
    );
    harness.get_by_label_contains("The printer is not working");
    assert!(emulator.pages().is_empty());
    assert_eq!(
        Outbox::open(&booth.outbox()).unwrap().list().unwrap().len(),
        1
    );
    assert!(!receipt.reference.is_empty());
}

#[test]
fn the_officer_desk_lists_todays_records_finds_one_by_reference_and_reprints_the_same_receipt() {
    const OFFICER: (&str, &str) = ("B1001", "482915");
    let (_dir, emulator) = printer();
    let booth = printing_booth("officer", &emulator);
    let mut list = OfficerList::load(&booth.config.terminal.officers_file).unwrap();
    list.add(OFFICER.0, Role::Officer, OFFICER.1, [7; 16])
        .unwrap();
    list.save().unwrap();
    let mut harness = harness(&booth, None);
    harness.run_steps(2);
    type_into(&mut harness, "Badge", OFFICER.0);
    type_into(&mut harness, "PIN", OFFICER.1);
    harness.get_by_label("Sign in").click();
    let screen = |app: &KioskApp| app.officer_state().unwrap().screen;
    run_until(
        &mut harness,
        "the dashboard",
        Duration::from_secs(20),
        |app| screen(app) == OfficerScreen::Dashboard,
    );
    harness.get_by_label("No enrollments yet today");

    harness.get_by_label("New enrollment").click();
    run_until(
        &mut harness,
        "a live picture",
        Duration::from_secs(20),
        |app| {
            screen(app) == OfficerScreen::Capture
                && app.camera_running()
                && app.holds_applicant_data()
        },
    );
    harness.run_steps(2);
    harness.get_by_label("Take the photo").click();
    run_until(
        &mut harness,
        "the decision",
        Duration::from_secs(30),
        |app| screen(app) == OfficerScreen::Decision,
    );
    harness.get_by_label("Approve").click();
    run_until(&mut harness, "the record", Duration::from_secs(30), |app| {
        matches!(app.officer_notice(), Some(OfficerNotice::Saved { .. }))
    });
    let Some(OfficerNotice::Saved { reference, .. }) = harness.state().officer_notice().cloned()
    else {
        unreachable!()
    };
    wait_for_print(&mut harness);
    harness.get_by_label_contains(&format!("Receipt printed: {reference}"));

    // Today's list: the reference, the time and "waiting" (the registry is down); no names.
    run_until(
        &mut harness,
        "today's list",
        Duration::from_secs(10),
        |app| app.officer_today().is_some_and(|today| today.len() == 1),
    );
    harness.run_steps(2);
    let today = harness.state().officer_today().unwrap().to_vec();
    assert_eq!(today[0].reference, reference);
    assert!(today[0].time_utc.ends_with("UTC"));
    harness.get_by_label("waiting");

    // A mistyped reference is caught by its check character; the right one finds the record.
    type_into(&mut harness, "Reference (XXX-XXX-XXXX)", "ZZZ-ZZZ-ZZZZ");
    harness.get_by_label("Find").click();
    harness.run_steps(2);
    if harness.state().officer_found() != Some(&Found::NotAReference) {
        run_until_label(
            &mut harness,
            "No record with this reference",
            Duration::from_secs(10),
        );
    }
    type_into(
        &mut harness,
        "Reference (XXX-XXX-XXXX)",
        &reference.to_lowercase(),
    );
    harness.get_by_label("Find").click();
    run_until(&mut harness, "the search", Duration::from_secs(10), |app| {
        matches!(app.officer_found(), Some(Found::Record(_)))
    });
    harness.run_steps(2);

    // Reprinted: the same receipt, codes and all (they are derived, never stored).
    harness
        .query_all_by_label("Reprint the receipt")
        .next()
        .unwrap()
        .click();
    run_until(&mut harness, "the reprint", Duration::from_secs(20), |_| {
        emulator.pages().len() == 2
    });
    let pages = emulator.pages();
    assert_eq!(pages[0].lines, pages[1].lines);
    assert_eq!(decoded_codes(&pages[0]), decoded_codes(&pages[1]));
    assert_eq!(decoded_codes(&pages[1]).len(), 2);
    assert!(pages[1].lines.contains(&format!("Reference: {reference}")));
}
