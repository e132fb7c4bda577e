//! The card worker against the SAM emulator on a real pseudo-terminal: a placed card is reported
//! present then read, then gone (a SAM reader cannot see a card it has read), a card left on the
//! reader is not read twice, and a card pulled mid-read becomes "removed" (so the applicant flow
//! asks to place it again).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::time::{Duration, Instant};

use enroll_core::domain::card_read::AccessKey;
use enroll_core::domain::document::{CalendarDate, Photo};
use enroll_core::domain::language::Language;
use enroll_core::flows::applicant::{
    self, ApplicantState, CardEvent, CardProblem, Event, FlowSettings, Screen, UiEvent,
};
use enroll_devices::card::sam_serial::{SamReaderOptions, SamSerialReader, SamTimeouts};
use enroll_devices::card::wlt::WltDecoder;
use enroll_kiosk::app::card_worker::CardWorker;
use enroll_sim::sam_emulator::{EmulatorTiming, SamEmulator, SamFault, SampleCard};

struct Bench {
    _dir: tempfile::TempDir,
    link: PathBuf,
    emulator: SamEmulator,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let timing = EmulatorTiming {
        find_ms: 5,
        select_ms: 5,
        read_ms: 30,
        ..EmulatorTiming::default()
    };
    let emulator = SamEmulator::start(&link, None, timing).unwrap();
    Bench {
        _dir: dir,
        link,
        emulator,
    }
}

fn grey_bitmap() -> Vec<u8> {
    let mut bitmap = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(2, 2, image::Rgb([128, 128, 128]))
        .write_to(&mut bitmap, image::ImageFormat::Bmp)
        .unwrap();
    bitmap.into_inner()
}

fn worker(bench: &Bench) -> CardWorker {
    let options = SamReaderOptions {
        timeouts: SamTimeouts {
            find_ms: 2000,
            select_ms: 2000,
            sam_id_ms: 2000,
            read_base_ms: 5000,
            read_fingerprint_ms: 5000,
            frame_gap_ms: 1000,
        },
        // The photo as a licensed WLT decoder hands it over (a 2x2 grey bitmap), so the flow
        // goes on to the camera instead of referring a photo-less card to an officer.
        wlt_decoder: WltDecoder::Emulated {
            bitmap: grey_bitmap(),
        },
        ..SamReaderOptions::default()
    };
    let reader = SamSerialReader::open_serial(&bench.link, 115_200, options).unwrap();
    CardWorker::spawn(Box::new(reader), AccessKey::None).unwrap()
}

fn next(worker: &CardWorker) -> CardEvent {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(event) = worker.next_event() {
            return event;
        }
        assert!(Instant::now() < deadline, "no card event within 15 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_placed_card_is_read_once_and_read_again_only_when_placed_again() {
    let bench = bench();
    let worker = worker(&bench);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(worker.next_event(), None, "no card, no news");

    bench.emulator.insert_card(SampleCard::Resident.card());
    assert_eq!(next(&worker), CardEvent::Present);
    match next(&worker) {
        CardEvent::Read(card) => {
            let mut expected = SampleCard::Resident.card().identity;
            expected.photo = Photo::Bmp(grey_bitmap());
            assert_eq!(card.identity, expected)
        }
        other => panic!("expected a read, got {other:?}"),
    }
    // A SAM reader cannot find a card it has read until it is placed again, so the worker
    // reports it gone; left on the reader, the card is not read a second time.
    assert_eq!(next(&worker), CardEvent::Removed);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(worker.next_event(), None);
    assert_eq!(bench.emulator.reads_served(), 1);

    // Placed again: read again.
    bench.emulator.remove_card();
    bench.emulator.insert_card(SampleCard::Resident.card());
    assert_eq!(next(&worker), CardEvent::Present);
    assert!(matches!(next(&worker), CardEvent::Read(_)));
    assert_eq!(bench.emulator.reads_served(), 2);
}

#[test]
fn a_card_pulled_during_the_read_asks_the_applicant_to_place_it_again() {
    let bench = bench();
    bench.emulator.set_fault(Some(SamFault::PullCardMidFrame));
    let worker = worker(&bench);
    bench.emulator.insert_card(SampleCard::Resident.card());

    // The real flow, fed with the worker's events.
    let settings = FlowSettings {
        default_language: Language::En,
        applicant_timeout_ms: 60_000,
        exit_allowed: false,
        auto_capture_hold_ms: 1_000,
        max_failed_matches: 3,
        receipt_shown_ms: 30_000,
        challenge: None,
    };
    let today = CalendarDate::new(2026, 11, 23).unwrap();
    let mut state = ApplicantState::idle(&settings, 0);
    for intent in [UiEvent::Start, UiEvent::AcceptConsent] {
        state = applicant::step(state, Event::Ui { intent, now_ms: 1 }, &settings).0;
    }
    for now_ms in 2..4 {
        let event = next(&worker);
        state = applicant::step(
            state,
            Event::Card {
                event,
                today,
                now_ms,
            },
            &settings,
        )
        .0;
    }
    assert_eq!(
        state.screen,
        Screen::CardProblem(CardProblem::RemovedTooEarly)
    );

    // Placed again without the fault: read.
    bench.emulator.set_fault(None);
    state = applicant::step(
        state,
        Event::Ui {
            intent: UiEvent::TryAgain,
            now_ms: 5,
        },
        &settings,
    )
    .0;
    bench.emulator.insert_card(SampleCard::Resident.card());
    for now_ms in 6..8 {
        let event = next(&worker);
        state = applicant::step(
            state,
            Event::Card {
                event,
                today,
                now_ms,
            },
            &settings,
        )
        .0;
    }
    assert_eq!(state.screen, Screen::Capture);
    assert!(state.card.is_some());
}
