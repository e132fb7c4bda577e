//! The technician's screens as a technician meets them, headless with egui_kittest: "Service" on
//! a self-service kiosk's attract screen, a technician's badge + PIN (Argon2id in a real
//! `officers.toml`), then the real diagnostics on the terminal's real parts (file camera, SAM
//! emulator on a pty, face models, SQLite outbox), the camera test with its measured frame rate,
//! a card read, and the bundle written to a chosen folder. Officers' badges do not open it, and a
//! technician's badge does not open the officer desk.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::time::Duration;

use common::booth::{Booth, demo_pictures, harness, run_until, run_until_label, type_into};
use egui_kittest::kittest::Queryable;
use enroll_core::domain::officer::Role;
use enroll_core::flows::applicant::Screen;
use enroll_core::flows::technician::TechScreen;
use enroll_kiosk::officers::OfficerList;
use enroll_kiosk::ui::technician::LineStatus;

const TECHNICIAN: (&str, &str) = ("T-100", "604217");
const OFFICER: (&str, &str) = ("B1001", "482915");

fn booth(tier: &str) -> Booth {
    let pictures = demo_pictures();
    let booth = Booth::new(
        tier,
        &pictures.join("camera"),
        &pictures.join("card-photo.jpg"),
    );
    let mut list = OfficerList::load(&booth.config.terminal.officers_file).unwrap();
    list.add(TECHNICIAN.0, Role::Technician, TECHNICIAN.1, [3; 16])
        .unwrap();
    list.add(OFFICER.0, Role::Officer, OFFICER.1, [7; 16])
        .unwrap();
    list.save().unwrap();
    booth
}

#[test]
fn a_technician_runs_the_checks_tests_camera_and_card_and_writes_the_bundle() {
    let booth = booth("self-service");
    let mut harness = harness(&booth, None);
    harness.run_steps(2);
    harness.get_by_label("Service").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().technician_screen(),
        Some(TechScreen::SignIn)
    );

    // An officer's right PIN does not open it.
    type_into(&mut harness, "Badge", OFFICER.0);
    type_into(&mut harness, "PIN", OFFICER.1);
    harness.get_by_label("Sign in").click();
    run_until_label(
        &mut harness,
        "Only a technician's badge opens this screen",
        Duration::from_secs(20),
    );

    type_into(&mut harness, "Badge", TECHNICIAN.0);
    type_into(&mut harness, "PIN", TECHNICIAN.1);
    harness.get_by_label("Sign in").click();
    run_until(
        &mut harness,
        "the checks on the technician's screen",
        Duration::from_secs(60),
        |app| {
            app.technician_checks()
                .is_some_and(|lines| !lines.is_empty())
        },
    );
    let lines = harness.state().technician_checks().unwrap().to_vec();
    let names: Vec<&str> = lines.iter().map(|l| l.check.as_str()).collect();
    assert_eq!(
        names,
        [
            "config",
            "camera",
            "card-reader",
            "face-engine",
            "storage",
            "queue",
            "crypto",
            "clock",
            "network",
            "audit",
            "printer"
        ]
    );
    let line = |name: &str| lines.iter().find(|l| l.check == name).unwrap();
    for healthy in ["config", "camera", "card-reader", "face-engine", "storage"] {
        assert_eq!(line(healthy).status, LineStatus::Ok, "{:?}", line(healthy));
    }
    assert!(line("camera").value.contains("fps"), "{:?}", line("camera"));
    // This booth has no registry: the network check says so, with what to do.
    assert_eq!(line("network").status, LineStatus::Fail);
    harness.get_by_label_contains("records wait safely");
    harness.get_by_label_contains("Overall: FAIL");

    harness.get_by_label("Camera test").click();
    run_until_label(&mut harness, "Frames per second: ", Duration::from_secs(20));
    harness.get_by_label("Stop the camera").click();
    harness.run_steps(2);

    harness.get_by_label("Read a card").click();
    run_until_label(&mut harness, "Card read: ", Duration::from_secs(20));
    assert!(
        harness.query_by_label_contains("张三").is_none(),
        "the card test shows no card data"
    );

    let usb = tempfile::tempdir().unwrap();
    type_into(
        &mut harness,
        "Folder for the bundle (e.g. a USB stick)",
        usb.path().to_str().unwrap(),
    );
    harness.get_by_label("Write the bundle").click();
    run_until_label(&mut harness, "Bundle written: ", Duration::from_secs(60));
    let written: Vec<_> = std::fs::read_dir(usb.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(
        written[0].starts_with("DEMO-0001-diag-") && written[0].ends_with(".tar.gz"),
        "{written:?}"
    );

    harness.get_by_label("Leave").click();
    harness.run_steps(2);
    assert_eq!(harness.state().technician_screen(), None);
    assert_eq!(harness.state().state().screen, Screen::Attract);
}

#[test]
fn a_technicians_badge_does_not_open_the_officer_desk() {
    let booth = booth("officer");
    let mut harness = harness(&booth, None);
    harness.run_steps(2);
    type_into(&mut harness, "Badge", TECHNICIAN.0);
    type_into(&mut harness, "PIN", TECHNICIAN.1);
    harness.get_by_label("Sign in").click();
    run_until_label(
        &mut harness,
        "This badge is a technician's: use Service on the sign-in screen",
        Duration::from_secs(20),
    );
    assert_eq!(
        harness.state().officer_state().unwrap().auth.signed_in(),
        None
    );
    // "Service" on the officer's sign-in screen opens the technician's sign-in.
    harness.get_by_label("Service").click();
    harness.run_steps(2);
    assert_eq!(
        harness.state().technician_screen(),
        Some(TechScreen::SignIn)
    );
}

/// Five wrong PINs lock a technician's badge too, and a kiosk started again on the same outbox
/// (a restart) keeps it locked, even against the right PIN. (The officer's, after `kill -9`, is
/// in `gui_smoke.rs`.)
#[test]
fn a_technicians_badge_locked_by_wrong_pins_stays_locked_in_a_restarted_kiosk() {
    let booth = booth("self-service");
    let open_service =
        |harness: &mut egui_kittest::Harness<'static, enroll_kiosk::app::KioskApp>| {
            harness.run_steps(2);
            harness.get_by_label("Service").click();
            harness.run_steps(2);
        };
    {
        let mut harness = harness(&booth, None);
        open_service(&mut harness);
        for attempt in 1..=5 {
            type_into(&mut harness, "Badge", TECHNICIAN.0);
            type_into(&mut harness, "PIN", "000000");
            harness.get_by_label("Sign in").click();
            let expected = if attempt < 5 {
                format!("Wrong PIN or unknown badge. Attempts left: {}", 5 - attempt)
            } else {
                "This badge is locked for 10 minutes".to_owned()
            };
            run_until_label(&mut harness, &expected, Duration::from_secs(20));
            harness.run_steps(2);
        }
        // The count reaches the outbox through the enrollment thread.
        run_until(
            &mut harness,
            "the kept lockout",
            Duration::from_secs(10),
            |_| {
                enroll_store::Outbox::open(&booth.outbox())
                    .and_then(|outbox| outbox.pin_failures())
                    .is_ok_and(|kept| kept.iter().any(|k| k.locked_until.is_some()))
            },
        );
    }

    let mut harness = harness(&booth, None);
    open_service(&mut harness);
    type_into(&mut harness, "Badge", TECHNICIAN.0);
    type_into(&mut harness, "PIN", TECHNICIAN.1);
    harness.get_by_label("Sign in").click();
    run_until_label(
        &mut harness,
        "This badge is locked for 10 minutes",
        Duration::from_secs(10),
    );
    assert_eq!(
        harness.state().technician_screen(),
        Some(TechScreen::SignIn)
    );
}
