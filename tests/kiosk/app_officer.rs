//! The officer terminal as officers meet it, headless with egui_kittest: the real officer flow and
//! app, officers in a real `officers.toml` (Argon2id), the SAM emulator on a real pty, the file
//! camera, the real face engine and outbox. Five wrong PINs lock a badge; a non-match cannot be
//! recorded without a supervisor's PIN, and with it the record names officer and supervisor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::time::Duration;

use common::booth::{
    Booth, demo_pictures, harness, harness_with, holder_photo_frames, impostor_frames, run_until,
    run_until_label, type_into,
};
use egui::accesskit::Role as A11yRole;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use enroll_core::domain::document::Photo;
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_core::domain::officer::Role;
use enroll_core::domain::time::UnixMs;
use enroll_core::flows::officer::{OfficerNotice, Screen};
use enroll_core::flows::officer_auth::AuthNotice;
use enroll_devices::card::CardReader;
use enroll_devices::card::pcsc_icao::PcscIcaoReader;
use enroll_kiosk::app::KioskApp;
use enroll_kiosk::config::{CardReaderConfig, MrzScannerConfig};
use enroll_kiosk::officers::OfficerList;
use enroll_kiosk::ui::officer::{VerificationLine, masked_document_number};
use enroll_sim::mrz_scanner_emulator::MrzScannerEmulator;
use enroll_sim::sod_issuer::TestPki;
use enroll_sim::vpcd_passport::{PassportFault, PassportFiles, SPECIMEN_MRZ, VirtualPassport};
use enroll_store::Outbox;

const OFFICER: (&str, &str) = ("B1001", "482915");
const SUPERVISOR: (&str, &str) = ("S2001", "730264");

fn officer_booth() -> Booth {
    officer_booth_with(impostor_frames())
}

/// An officer terminal whose camera plays `frames`, with the officer and supervisor above.
fn officer_booth_with(frames: &std::path::Path) -> Booth {
    let booth = Booth::new("officer", frames, &demo_pictures().join("card-photo.jpg"));
    let mut list = OfficerList::load(&booth.config.terminal.officers_file).unwrap();
    list.add(OFFICER.0, Role::Officer, OFFICER.1, [7; 16])
        .unwrap();
    list.add(SUPERVISOR.0, Role::Supervisor, SUPERVISOR.1, [9; 16])
        .unwrap();
    list.save().unwrap();
    booth
}

/// Once the vpcd slot is empty: the ICAO specimen (L898902C, Utopia test PKI) with `photo` as
/// its face, ready to be placed, and its CSCA certificate written to `csca_dir`.
fn specimen_card(photo: Vec<u8>, csca_dir: &std::path::Path) -> VirtualPassport {
    let mut slot = PcscIcaoReader::new(
        Some(common::pcsc::SLOT_READER.into()),
        Vec::new(),
        Box::new(|| UnixMs::from_secs(1_790_000_000)),
    );
    slot.wait_for_removal(Duration::from_secs(10)).unwrap();
    let pki = TestPki::utopia(1_790_000_000).unwrap();
    std::fs::write(csca_dir.join("utopia.der"), &pki.csca.certificate_der).unwrap();
    let files = PassportFiles::build(SPECIMEN_MRZ, Photo::Jpeg(photo), &pki, false).unwrap();
    let key = MrzAccessKey::parse_typed("L898902C,740812,341231").unwrap();
    VirtualPassport::new(files, &key, PassportFault::None)
}

fn screen(app: &KioskApp) -> Screen {
    app.officer_state().unwrap().screen
}

fn sign_in(harness: &mut Harness<'static, KioskApp>, badge: &str, pin: &str) {
    type_into(harness, "Badge", badge);
    type_into(harness, "PIN", pin);
    harness.get_by_label("Sign in").click();
    harness.run_steps(2);
    // The Argon2id check runs on its own thread.
    run_until(harness, "the PIN check", Duration::from_secs(20), |app| {
        app.officer_notice().is_some() || screen(app) != Screen::SignIn
    });
}

#[test]
fn five_wrong_pins_lock_the_badge_even_against_the_right_pin() {
    let booth = officer_booth();
    let mut harness = harness(&booth, None);
    harness.run_steps(2);
    harness.get_by_label("Officer sign-in");
    for attempt in 1..=5u8 {
        sign_in(&mut harness, OFFICER.0, "000000");
        let notice = harness.state().officer_notice().cloned();
        if attempt < 5 {
            assert_eq!(
                notice,
                Some(OfficerNotice::Auth(AuthNotice::WrongPin {
                    attempts_left: 5 - attempt
                })),
                "attempt {attempt}"
            );
            harness.get_by_label_contains("Wrong PIN");
        } else {
            assert!(
                matches!(
                    notice,
                    Some(OfficerNotice::Auth(AuthNotice::BadgeLocked { .. }))
                ),
                "{notice:?}"
            );
        }
        harness.run_steps(1);
    }
    // Now even the right PIN is refused for this badge.
    sign_in(&mut harness, OFFICER.0, OFFICER.1);
    assert_eq!(screen(harness.state()), Screen::SignIn);
    harness.get_by_label_contains("locked for 10 minutes");
    // Another badge still signs in.
    sign_in(&mut harness, SUPERVISOR.0, SUPERVISOR.1);
    assert_eq!(screen(harness.state()), Screen::Dashboard);
}

#[test]
fn a_non_match_is_recorded_only_with_a_supervisors_pin_and_names_both() {
    let booth = officer_booth();
    // The impostor's still photo cannot pass the liveness challenge, and what is tested here is
    // the override of a non-match: the challenge is switched off.
    let mut harness = harness_with(&booth, |settings| settings.flow.challenge = None);
    harness.run_steps(2);
    sign_in(&mut harness, OFFICER.0, OFFICER.1);
    assert_eq!(screen(harness.state()), Screen::Dashboard);
    harness.get_by_label("New enrollment").click();
    harness.run_steps(2);

    // The card is read from the emulator; the camera shows someone else.
    run_until(
        &mut harness,
        "the capture",
        Duration::from_secs(20),
        |app| screen(app) == Screen::Capture && app.camera_running(),
    );
    run_until(
        &mut harness,
        "a live picture",
        Duration::from_secs(20),
        |app| app.holds_applicant_data(),
    );
    // The quality components are listed in the officer's language as the analysis comes in.
    run_until_label(
        &mut harness,
        "Distance between the eyes (px)",
        Duration::from_secs(20),
    );
    harness.get_by_label("Faces in view");
    harness.run_steps(2);
    harness.get_by_label("Take the photo").click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the decision",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Decision,
    );
    // The evidence: both faces at the same height, the card's data with the number masked.
    let card = harness
        .state()
        .officer_state()
        .unwrap()
        .card
        .clone()
        .unwrap();
    let number = card.identity.document_number.clone();
    let last4 = &number[number.len() - 4..];
    let evidence = harness.state().officer_decision().unwrap();
    assert_eq!(evidence.name, card.identity.name);
    assert_eq!(evidence.document_number, masked_document_number(&number));
    assert!(evidence.document_number.ends_with(last4) && evidence.document_number.contains('•'));
    assert!(!evidence.number_revealed);
    assert_eq!(evidence.birth_date, card.identity.birth.to_string());
    assert!(
        matches!(&evidence.verification, VerificationLine::Sam { sam_id } if !sam_id.is_empty()),
        "{evidence:?}"
    );
    assert!(!evidence.figures.is_match);
    harness.get_by_label(&evidence.document_number);
    assert!(
        harness.query_by_label_contains(&number).is_none(),
        "the whole number is on screen"
    );
    harness.get_by_label_contains("by the reader's SAM");
    harness.get_by_label_contains("Match score");
    let (live_px, card_px) = harness.state().officer_photo_sizes().unwrap();
    assert!(
        live_px[0] > 0 && card_px.is_some(),
        "{live_px:?} {card_px:?}"
    );
    let live = harness
        .get_by_role_and_label(A11yRole::Image, "Live capture")
        .rect();
    let photo = harness
        .get_by_role_and_label(A11yRole::Image, "Card photo")
        .rect();
    assert!(live.height() > 100.0, "{live:?}");
    assert!(
        (live.height() - photo.height()).abs() < 1.0,
        "{live:?} {photo:?}"
    );
    assert!(
        photo.left() > live.right(),
        "side by side: {live:?} {photo:?}"
    );

    // Asked for, the whole number shows; hidden again, it does not.
    harness.get_by_label("Show the whole number").click();
    harness.run_steps(2);
    harness.get_by_label(&number);
    assert!(harness.state().officer_decision().unwrap().number_revealed);
    harness.get_by_label("Hide the number").click();
    harness.run_steps(2);
    assert!(harness.query_by_label(&number).is_none());

    harness.get_by_label_contains("The faces do not match");
    assert!(
        harness.query_by_label("Approve").is_none(),
        "a non-match offers no Approve"
    );

    harness.get_by_label("Override with a supervisor").click();
    harness.run_steps(2);
    assert_eq!(screen(harness.state()), Screen::Override);
    type_into(
        &mut harness,
        "Reason (at least 10 characters)",
        "Card photo is twelve years old",
    );
    type_into(&mut harness, "Supervisor badge", SUPERVISOR.0);

    // Without a PIN nothing happens; with a wrong one the override stays open.
    harness
        .get_by_label("Record with supervisor approval")
        .click();
    harness.run_steps(3);
    assert_eq!(screen(harness.state()), Screen::Override);
    type_into(&mut harness, "Supervisor PIN", "111111");
    harness
        .get_by_label("Record with supervisor approval")
        .click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the wrong PIN's answer",
        Duration::from_secs(20),
        |app| app.officer_notice().is_some(),
    );
    assert_eq!(screen(harness.state()), Screen::Override);
    assert!(
        matches!(
            harness.state().officer_notice(),
            Some(OfficerNotice::Auth(AuthNotice::WrongPin { .. }))
        ),
        "{:?}",
        harness.state().officer_notice()
    );
    // The officer's own badge does not approve an override either.
    assert_eq!(
        Outbox::open(&booth.outbox())
            .unwrap()
            .status()
            .unwrap()
            .pending,
        0
    );

    type_into(&mut harness, "Supervisor PIN", SUPERVISOR.1);
    harness
        .get_by_label("Record with supervisor approval")
        .click();
    harness.run_steps(2);
    run_until(&mut harness, "the record", Duration::from_secs(30), |app| {
        matches!(app.officer_notice(), Some(OfficerNotice::Saved { .. }))
    });
    assert_eq!(screen(harness.state()), Screen::Dashboard);
    assert!(!harness.state().holds_applicant_data());
    assert!(harness.state().officer_photo_sizes().is_none());
    assert!(harness.state().officer_decision().is_none());

    let outbox = Outbox::open(&booth.outbox()).unwrap();
    let entries = outbox.list().unwrap();
    assert_eq!(entries.len(), 1);
    let (body, _) = outbox.signed_body(&entries[0].id).unwrap().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["officer_id"], OFFICER.0, "{body}");
    assert_eq!(body["supervisor_id"], SUPERVISOR.0, "{body}");
    let audit = outbox.audit_entries().unwrap();
    assert!(
        audit.iter().any(|entry| entry.action == "override"
            && entry.subject.as_deref() == Some(entries[0].id.as_str())
            && entry.actor == format!("officer:{}", OFFICER.0)),
        "{audit:?}"
    );

    // The dashboard counts it as waiting (the registry is down) once the sync worker looked.
    run_until_label(
        &mut harness,
        "Waiting to be sent: 1    Sent: 0    Refused by the registry: 0",
        Duration::from_secs(20),
    );
    harness.get_by_label("Registry not reachable: records are kept and sent later");
}

#[test]
fn pcsc_a_badge_tapped_on_the_reader_fills_the_badge_and_the_pin_signs_in() {
    let _pcscd = common::pcsc::pcscd();
    // The badge is a contactless card whose UID is 04 A1 B2 C3 D4 E5 F6.
    const BADGE_ID: &str = "04A1B2C3D4E5F6";
    let mut booth = officer_booth();
    let mut list = OfficerList::load(&booth.config.terminal.officers_file).unwrap();
    list.add(BADGE_ID, Role::Officer, "561038", [5; 16])
        .unwrap();
    list.save().unwrap();
    booth.config.terminal.badge_reader = Some(common::pcsc::SLOT_READER.into());
    let mut harness = harness(&booth, None);
    harness.run_steps(2);

    // Wait until the slot is empty, then place the badge.
    let csca_dir = tempfile::tempdir().unwrap();
    let badge = specimen_card(vec![0xff, 0xd8], csca_dir.path())
        .with_uid(&[0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6])
        .insert(common::pcsc::SLOT_ADDRESS)
        .unwrap();

    let started = std::time::Instant::now();
    loop {
        let filled = harness
            .query_by_role_and_label(A11yRole::TextInput, "Badge")
            .and_then(|field| field.value())
            .is_some_and(|value| value == BADGE_ID);
        if filled {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the badge field was not filled from the reader"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    badge.remove().unwrap();
    type_into(&mut harness, "PIN", "561038");
    harness.get_by_label("Sign in").click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the dashboard",
        Duration::from_secs(20),
        |app| screen(app) == Screen::Dashboard,
    );
}

/// The officer scans a passport's data page on the serial MRZ scanner (an emulator on a real pty):
/// a smudged scan asks for another, a clean one fills the MRZ fields and unlocks the chip in the
/// real pcscd + vpcd reader, and the enrollment moves on to the capture; the decision names the
/// chip's signature and its CSCA.
#[test]
fn pcsc_a_data_page_scanned_on_the_mrz_scanner_unlocks_the_chip_for_the_officer() {
    let _pcscd = common::pcsc::pcscd();
    let mut booth = officer_booth();
    let scanner_dir = tempfile::tempdir().unwrap();
    let scanner_link = scanner_dir.path().join("ttyMRZ");
    let scanner = MrzScannerEmulator::start(&scanner_link).unwrap();
    let csca_dir = tempfile::tempdir().unwrap();
    booth.config.card_reader = CardReaderConfig::Pcsc {
        reader_name: Some(common::pcsc::SLOT_READER.into()),
        csca_dir: Some(csca_dir.path().to_owned()),
        mrz_scanner: Some(MrzScannerConfig {
            port: scanner_link.clone(),
            baud: 9600,
        }),
    };
    let face = std::fs::read(demo_pictures().join("card-photo.jpg")).unwrap();
    let passport = specimen_card(face, csca_dir.path());
    // A still photo before the camera: the challenge is off (it is tested on its own).
    let mut harness = harness_with(&booth, |settings| settings.flow.challenge = None);
    harness.run_steps(2);
    sign_in(&mut harness, OFFICER.0, OFFICER.1);
    harness.get_by_label("New enrollment").click();
    harness.run_steps(2);
    harness.get_by_label("Or scan the data page on the MRZ scanner");

    // The passport lies on the chip reader; without its MRZ the chip stays shut.
    let passport = passport.insert(common::pcsc::SLOT_ADDRESS).unwrap();
    let (line1, line2) = SPECIMEN_MRZ.split_at(44);

    // A smudged birth date fails its check digit: scan again.
    let smudged = line2.replacen("7408122", "7408172", 1);
    scanner.scan(&[line1, &smudged]).unwrap();
    run_until_label(
        &mut harness,
        "The scan could not be read: scan the data page again, or type the details",
        Duration::from_secs(10),
    );
    assert_eq!(screen(harness.state()), Screen::ReadCard);

    scanner.scan(&[line1, line2]).unwrap();
    run_until(
        &mut harness,
        "the chip read with the scanned MRZ",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Capture,
    );
    let card = harness
        .state()
        .officer_state()
        .unwrap()
        .card
        .clone()
        .unwrap();
    assert_eq!(card.identity.document_number, "L898902C");
    passport.remove().unwrap();

    // The decision names the chip's signature and the CSCA it chains to.
    run_until(
        &mut harness,
        "a live picture",
        Duration::from_secs(20),
        |app| app.holds_applicant_data() && app.camera_running(),
    );
    harness.run_steps(2);
    harness.get_by_label("Take the photo").click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the decision",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Decision,
    );
    let evidence = harness.state().officer_decision().unwrap();
    assert_eq!(evidence.document_number, "••••902C");
    assert!(
        matches!(&evidence.verification, VerificationLine::ChipSigned { csca_subject } if csca_subject.contains("Utopia")),
        "{evidence:?}"
    );
    harness.get_by_label_contains("chip signature valid (passive authentication), CSCA");
}

/// Signed in, a new enrollment, the card read and a live picture: "Take the photo" is pressed.
fn to_take_the_photo(harness: &mut Harness<'static, KioskApp>) {
    harness.run_steps(2);
    sign_in(harness, OFFICER.0, OFFICER.1);
    harness.get_by_label("New enrollment").click();
    harness.run_steps(2);
    run_until(harness, "a live picture", Duration::from_secs(30), |app| {
        screen(app) == Screen::Capture && app.camera_running() && app.holds_applicant_data()
    });
    run_until_label(harness, "Faces in view", Duration::from_secs(20));
    harness.get_by_label("Take the photo").click();
    harness.run_steps(2);
}

/// The one record in the booth's outbox, its signed body as JSON.
fn only_record(booth: &Booth) -> serde_json::Value {
    let outbox = Outbox::open(&booth.outbox()).unwrap();
    let entries = outbox.list().unwrap();
    assert_eq!(entries.len(), 1);
    let (body, _) = outbox.signed_body(&entries[0].id).unwrap().unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_officer_reads_the_liveness_challenge_out_and_the_record_keeps_its_result() {
    // The demo's person, who follows the prompts (the open pack asks for the challenge).
    let booth = officer_booth_with(&demo_pictures().join("camera"));
    let mut harness = harness(&booth, None);
    to_take_the_photo(&mut harness);
    run_until(
        &mut harness,
        "the challenge",
        Duration::from_secs(10),
        |app| screen(app) == Screen::Challenge || screen(app) == Screen::Decision,
    );
    run_until(
        &mut harness,
        "the decision",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Decision,
    );
    harness.get_by_label("Liveness check passed (blink and turn)");
    harness.get_by_label_contains("The faces match");
    let passed = harness
        .state()
        .officer_state()
        .unwrap()
        .challenge_record
        .outcome
        .unwrap();
    assert!(passed.passed && passed.total_ms <= 4_000, "{passed:?}");
    harness.get_by_label("Approve").click();
    harness.run_steps(2);
    run_until(&mut harness, "the record", Duration::from_secs(30), |app| {
        matches!(app.officer_notice(), Some(OfficerNotice::Saved { .. }))
    });
    let body = only_record(&booth);
    assert_eq!(body["face"]["liveness_challenge"]["passed"], true, "{body}");
    assert!(body["face"].get("liveness_challenge_waived").is_none());
    assert_eq!(body["officer_id"], OFFICER.0);
}

#[test]
fn a_failed_challenge_is_told_to_the_officer_who_may_waive_it_with_a_reason_the_record_keeps() {
    // A still photo of the card holder: it matches, but never blinks or turns.
    let booth = officer_booth_with(holder_photo_frames());
    let mut harness = harness(&booth, None);
    to_take_the_photo(&mut harness);
    run_until(
        &mut harness,
        "the challenge",
        Duration::from_secs(10),
        |app| screen(app) == Screen::Challenge,
    );
    harness.get_by_label("Liveness check");
    harness.get_by_label("Ask the applicant to blink");
    // Every waiver reason and Reject fit on the screen beside the live picture.
    for label in [
        "cannot blink",
        "cannot turn their head",
        "cannot follow the prompts",
        "is not seen well by the camera",
        "Reject",
    ] {
        let rect = harness.get_by_label(label).rect();
        assert!(
            rect.bottom() <= 800.0 && rect.right() <= 1280.0,
            "{label} off screen: {rect:?}"
        );
    }
    // The time runs out: back to the capture, with the reason and what to do.
    run_until(
        &mut harness,
        "the failed challenge",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Capture,
    );
    harness.run_steps(2);
    harness.get_by_label_contains("The liveness check failed: time ran out.");
    assert_eq!(
        Outbox::open(&booth.outbox())
            .unwrap()
            .status()
            .unwrap()
            .pending,
        0,
        "nothing recorded"
    );

    // Taken again, the officer waives it: the applicant cannot turn their head.
    harness.get_by_label("Take the photo").click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the challenge again",
        Duration::from_secs(10),
        |app| screen(app) == Screen::Challenge,
    );
    harness.get_by_label("cannot turn their head").click();
    harness.run_steps(2);
    run_until(
        &mut harness,
        "the decision",
        Duration::from_secs(30),
        |app| screen(app) == Screen::Decision,
    );
    harness
        .get_by_label("Liveness check waived by the officer; the applicant cannot turn their head");
    harness.get_by_label("Approve").click();
    harness.run_steps(2);
    run_until(&mut harness, "the record", Duration::from_secs(30), |app| {
        matches!(app.officer_notice(), Some(OfficerNotice::Saved { .. }))
    });
    // The record keeps the waiver's reason (a code, no free text) beside the officer's badge,
    // and how far the waived challenge got.
    let body = only_record(&booth);
    assert_eq!(
        body["face"]["liveness_challenge_waived"], "cannot_turn_head",
        "{body}"
    );
    assert_eq!(body["face"]["liveness_challenge"]["passed"], false);
    assert_eq!(body["officer_id"], OFFICER.0);
}
