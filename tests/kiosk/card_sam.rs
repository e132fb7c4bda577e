//! The SAM serial reader against the SAM emulator through a real pseudo-terminal and the real
//! `serialport` code: every layout, fingerprints, faults, removal, unplugging, and the `kiosk card`
//! commands as two real processes. One pty (one emulator) per test: serialport locks its port.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use enroll_core::domain::card_read::{AccessKey, CardRead, Verification};
use enroll_core::domain::document::{Photo, UndecodedFormat, Validity};
use enroll_core::domain::sam_frame::SamStatus;
use enroll_devices::card::sam_serial::{
    SamReaderOptions, SamSerialReader, SamTimeouts, SerialPortOpener,
};
use enroll_devices::card::wlt::WltDecoder;
use enroll_devices::card::{CardErrorKind, CardReader, Presence};
use enroll_sim::sam_emulator::{EmulatedCard, EmulatorTiming, SamEmulator, SamFault, SampleCard};

const SAM_ID: &str = "05.01-20101018-0123456789-1234567890";

/// Fast card times so the suite stays quick; the benchmark uses the real ones.
fn quick_timing() -> EmulatorTiming {
    EmulatorTiming {
        find_ms: 5,
        select_ms: 5,
        read_ms: 30,
        ..EmulatorTiming::default()
    }
}

struct Bench {
    _dir: tempfile::TempDir,
    link: PathBuf,
    emulator: SamEmulator,
}

fn emulator_with(card: Option<EmulatedCard>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let emulator = SamEmulator::start(&link, card, quick_timing()).unwrap();
    Bench {
        _dir: dir,
        link,
        emulator,
    }
}

/// Timeouts with headroom for a loaded CI machine; the defaults are exercised by the CLI tests and
/// the unit tests check each timeout on an in-memory line.
fn patient_timeouts() -> SamTimeouts {
    SamTimeouts {
        find_ms: 2000,
        select_ms: 2000,
        sam_id_ms: 2000,
        read_base_ms: 5000,
        read_fingerprint_ms: 5000,
        frame_gap_ms: 1000,
    }
}

fn open(bench: &Bench, fingerprint: bool) -> SamSerialReader<SerialPortOpener> {
    let options = SamReaderOptions {
        fingerprint,
        timeouts: patient_timeouts(),
        ..SamReaderOptions::default()
    };
    SamSerialReader::open_serial(&bench.link, 115_200, options).unwrap()
}

/// Puts the same card back as a fresh presentation.
fn represent(bench: &Bench, card: EmulatedCard) {
    bench.emulator.remove_card();
    bench.emulator.insert_card(card);
}

#[test]
fn each_of_the_four_layouts_is_read_through_a_real_pty() {
    let bench = emulator_with(None);
    let mut reader = open(&bench, false);
    assert_eq!(reader.info().sam_id.as_deref(), Some(SAM_ID));
    for sample in SampleCard::ALL {
        let card = sample.card();
        represent(&bench, card.clone());
        let read = reader.read(&AccessKey::None).unwrap();
        assert_eq!(read.identity, card.identity, "{sample:?}");
        assert!(matches!(
            &read.identity.photo,
            Photo::Undecoded { format: UndecodedFormat::Wlt, bytes } if bytes.len() == 1024 && bytes.starts_with(b"WLf")
        ));
        assert_eq!(
            read.verification,
            Verification::Sam {
                sam_id: SAM_ID.into()
            }
        );
        assert_eq!(read.evidence.sam_text_block.as_ref().unwrap().len(), 256);
        assert!(read.reader.starts_with("sam-serial:"));
    }
    assert_eq!(bench.emulator.reads_served(), 4);
}

#[test]
fn the_resident_sample_has_long_term_validity() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    let read = reader.read(&AccessKey::None).unwrap();
    assert_eq!(read.identity.valid_to, Validity::LongTerm);
}

#[test]
fn reading_with_fingerprints_returns_none_one_or_two_templates() {
    let bench = emulator_with(None);
    let mut reader = open(&bench, true);
    for len in [0, 512, 1024] {
        let card = SampleCard::HmtResidence.card().with_fingerprint_len(len);
        represent(&bench, card.clone());
        let read = reader.read_sam().unwrap();
        assert_eq!(read.fingerprint_len, Some(len));
        assert_eq!(read.card_read.identity, card.identity);
    }
}

#[test]
fn card_pulled_mid_frame_asks_to_place_it_again_then_reads_after_reinsertion() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    bench.emulator.set_fault(Some(SamFault::PullCardMidFrame));
    let error = reader.read(&AccessKey::None).unwrap_err();
    assert!(
        matches!(
            error.kind(),
            CardErrorKind::CardRemoved | CardErrorKind::Protocol
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("place the card on the reader again"),
        "{error}"
    );
    assert_eq!(reader.presence().unwrap(), Presence::NoCard);
    bench.emulator.insert_card(SampleCard::Resident.card());
    assert_eq!(reader.presence().unwrap(), Presence::CardPresent);
    let read = reader.read(&AccessKey::None).unwrap();
    assert_eq!(read.identity, SampleCard::Resident.card().identity);
}

#[test]
fn an_unplugged_reader_is_device_gone_and_reads_again_once_plugged_back() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    bench.emulator.unplug().unwrap();
    let error = reader.read(&AccessKey::None).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::DeviceGone, "{error}");
    assert!(error.to_string().contains("plugged in"), "{error}");
    // While it is away, every attempt says so (the port vanished).
    let error = reader.presence().unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::DeviceGone, "{error}");
    bench.emulator.replug().unwrap();
    let read = reader.read(&AccessKey::None).unwrap();
    assert_eq!(read.identity, SampleCard::Resident.card().identity);
    assert_eq!(reader.info().sam_id.as_deref(), Some(SAM_ID));
}

#[test]
fn every_sw3_failure_code_ends_the_read_with_the_right_kind() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    for status in SamStatus::KNOWN
        .into_iter()
        .chain([SamStatus::Unknown(0x55)])
        .filter(|s| !s.is_success())
    {
        bench.emulator.set_fault(Some(SamFault::Status(status)));
        let error = reader.read(&AccessKey::None).unwrap_err();
        let expected = enroll_devices::card::sam_serial::kind_for_status(status);
        assert_eq!(error.kind(), expected, "{status}: {error}");
        assert!(
            error.to_string().contains(status.operator_action()),
            "{status}: {error}"
        );
    }
    bench.emulator.set_fault(None);
    assert!(reader.read(&AccessKey::None).is_ok());
}

#[test]
fn a_card_must_leave_the_reader_before_it_is_read_again() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    reader.read(&AccessKey::None).unwrap();
    assert!(reader.waiting_for_removal());
    let error = reader.read(&AccessKey::None).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::MustRemoveCard, "{error}");
    assert!(error.to_string().contains("lift it off"), "{error}");
    // Still not removed: the reader keeps refusing to find it.
    assert_eq!(
        reader.read(&AccessKey::None).unwrap_err().kind(),
        CardErrorKind::NoCard
    );
    represent(&bench, SampleCard::Resident.card());
    assert!(reader.read(&AccessKey::None).is_ok());
    assert_eq!(bench.emulator.reads_served(), 2);
}

#[test]
fn waiting_for_a_card_returns_once_one_is_placed_and_removal_ends_when_find_fails() {
    let bench = emulator_with(None);
    let mut reader = open(&bench, false);
    assert_eq!(
        reader
            .wait_for_card(Duration::from_millis(300))
            .unwrap_err()
            .kind(),
        CardErrorKind::NoCard
    );
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            bench.emulator.insert_card(SampleCard::Resident.card());
        });
        reader.wait_for_card(Duration::from_secs(5)).unwrap();
    });
    reader.read(&AccessKey::None).unwrap();
    assert!(reader.waiting_for_removal());
    // The SAM no longer finds the card it has just read: the removal wait ends.
    reader.wait_for_removal(Duration::from_secs(5)).unwrap();
    assert!(!reader.waiting_for_removal());
}

#[test]
fn damaged_frames_are_protocol_errors_and_garbage_or_split_writes_are_tolerated() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut reader = open(&bench, false);
    for fault in [SamFault::BadChecksum, SamFault::WrongLength] {
        bench.emulator.set_fault(Some(fault));
        let error = reader.read(&AccessKey::None).unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::Protocol, "{fault:?}: {error}");
        assert!(error.to_string().contains("place the card"), "{error}");
        represent(&bench, SampleCard::Resident.card());
    }
    for fault in [SamFault::GarbageBeforePreamble, SamFault::SplitWrites] {
        bench.emulator.set_fault(Some(fault));
        let read = reader.read(&AccessKey::None).unwrap();
        assert_eq!(
            read.identity,
            SampleCard::Resident.card().identity,
            "{fault:?}"
        );
        represent(&bench, SampleCard::Resident.card());
    }
}

#[test]
fn opening_a_missing_port_names_it_and_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("ttyNothing");
    let error = SamSerialReader::open_serial(&missing, 115_200, SamReaderOptions::default())
        .err()
        .unwrap();
    assert_eq!(error.kind(), CardErrorKind::DeviceGone);
    assert!(error.to_string().contains("ttyNothing"), "{error}");
    assert!(error.to_string().contains("plugged in"), "{error}");
}

fn decoder_script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("wlt2bmp");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn open_with_decoder(bench: &Bench, wlt_decoder: WltDecoder) -> SamSerialReader<SerialPortOpener> {
    let options = SamReaderOptions {
        wlt_decoder,
        timeouts: patient_timeouts(),
        ..SamReaderOptions::default()
    };
    SamSerialReader::open_serial(&bench.link, 115_200, options).unwrap()
}

#[test]
fn a_configured_wlt_decoder_turns_the_card_photo_into_a_bitmap() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    // A fake decoder: checks the WLT magic and emits a tiny bitmap.
    let helper = decoder_script(
        bench._dir.path(),
        "head -c 3 | grep -q WLf && printf 'BM\\066\\000\\000\\000'",
    );
    let mut reader = open_with_decoder(
        &bench,
        WltDecoder::ExternalCommand {
            path: helper,
            timeout: Duration::from_secs(5),
        },
    );
    let read = reader.read_sam().unwrap();
    assert!(read.photo_decoded);
    assert_eq!(
        read.card_read.identity.photo,
        Photo::Bmp(b"BM\x36\0\0\0".to_vec())
    );
}

#[test]
fn a_hanging_wlt_decoder_is_killed_and_the_read_keeps_the_wlt_photo() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let helper = decoder_script(bench._dir.path(), "sleep 30");
    let mut reader = open_with_decoder(
        &bench,
        WltDecoder::ExternalCommand {
            path: helper,
            timeout: Duration::from_millis(300),
        },
    );
    let started = Instant::now();
    let read = reader.read_sam().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!read.photo_decoded);
    assert!(matches!(
        read.card_read.identity.photo,
        Photo::Undecoded {
            format: UndecodedFormat::Wlt,
            ..
        }
    ));
}

// ---- the `kiosk card` commands as real processes ----

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kiosk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    command.env("KIOSK_LOG", "warn").env("NO_COLOR", "1");
    command
}

/// Starts `kiosk card emulate sam` and waits until it prints its link.
fn emulate(link: &Path, extra: &[&str]) -> Process {
    let mut child = kiosk()
        .args(["card", "emulate", "sam", "--link"])
        .arg(link)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains(&link.display().to_string()), "{line}");
    Process(child)
}

#[test]
fn kiosk_card_read_json_reads_from_kiosk_card_emulate_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let _emulator = emulate(&link, &["--card", "sample:foreign-2023"]);
    let output = kiosk()
        .args(["card", "read", "--json", "--reader"])
        .arg(format!("sam:{}", link.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: CardRead = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        read.identity,
        SampleCard::ForeignPermanent2023.card().identity
    );
    assert_eq!(
        read.verification,
        Verification::Sam {
            sam_id: SAM_ID.into()
        }
    );
}

#[test]
fn kiosk_card_read_prints_the_identity_photo_and_verification_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let _emulator = emulate(&link, &[]);
    let output = kiosk()
        .args(["card", "read", "--fingerprint", "--reader"])
        .arg(format!("sam:{}", link.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    for expected in [
        "resident identity card",
        "11010519491231002X",
        "1949-12-31",
        "long-term",
        "WLT, 1024 bytes (photo not decodable on this terminal)",
        "fingerprints:  1024 bytes",
        SAM_ID,
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing in\n{stdout}"
        );
    }
}

#[test]
fn kiosk_card_read_without_a_card_fails_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let _emulator = emulate(&link, &["--no-card"]);
    let started = Instant::now();
    let output = kiosk()
        .args(["card", "read", "--reader"])
        .arg(format!("sam:{}", link.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("place the card on the reader"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn kiosk_card_emulate_stops_on_sigterm_and_removes_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let mut emulator = emulate(&link, &[]);
    assert!(link.symlink_metadata().is_ok());
    let status = Command::new("kill")
        .args(["-TERM", &emulator.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = emulator.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(link.symlink_metadata().is_err());
}

#[test]
fn kiosk_card_emulate_serves_the_example_card_file() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySAM");
    let card_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("kiosk-config/cards/example-resident.toml");
    let _emulator = emulate(&link, &["--card", card_file.to_str().unwrap()]);
    let output = kiosk()
        .args(["card", "read", "--json", "--fingerprint", "--reader"])
        .arg(format!("sam:{}", link.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: CardRead = serde_json::from_slice(&output.stdout).unwrap();
    let expected = EmulatedCard::from_toml(&std::fs::read_to_string(&card_file).unwrap()).unwrap();
    assert_eq!(read.identity, expected.identity);
}

#[test]
fn kiosk_card_emulate_rejects_an_unknown_fault_and_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = kiosk()
        .args(["card", "emulate", "sam", "--fault", "melt", "--link"])
        .arg(dir.path().join("ttySAM"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pull-mid-frame"), "{stderr}");
}

// ---- the emulator's own behaviour on the wire ----

fn raw_port(link: &Path) -> serialport::TTYPort {
    serialport::new(link.to_str().unwrap(), 115_200)
        .timeout(Duration::from_millis(500))
        .open_native()
        .unwrap()
}

fn raw_exchange(port: &mut serialport::TTYPort, command: &[u8], expected_len: usize) -> Vec<u8> {
    use std::io::{Read, Write};
    port.write_all(command).unwrap();
    let mut reply = vec![0; expected_len];
    port.read_exact(&mut reply).unwrap();
    reply
}

#[test]
fn the_emulator_answers_a_corrupted_command_with_sw3_10_and_an_unknown_one_with_sw3_21() {
    let bench = emulator_with(None);
    let mut port = raw_port(&bench.link);
    let corrupted = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x23];
    assert_eq!(
        raw_exchange(&mut port, &corrupted, 11),
        [
            0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x04, 0x00, 0x00, 0x10, 0x14
        ]
    );
    let unknown = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x77, 0x01, 0x75];
    assert_eq!(
        raw_exchange(&mut port, &unknown, 11),
        [
            0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x04, 0x00, 0x00, 0x21, 0x25
        ]
    );
    let find = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22];
    assert_eq!(
        raw_exchange(&mut port, &find, 11),
        [
            0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x04, 0x00, 0x00, 0x80, 0x84
        ]
    );
}

#[test]
fn a_base_read_takes_at_least_its_wire_time_at_115200_baud_plus_the_card_time() {
    let bench = emulator_with(Some(SampleCard::Resident.card()));
    let mut port = raw_port(&bench.link);
    let find = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22];
    let select = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x02, 0x21];
    let read = [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x30, 0x01, 0x32];
    raw_exchange(&mut port, &find, 15);
    raw_exchange(&mut port, &select, 19);
    let started = Instant::now();
    let reply = raw_exchange(&mut port, &read, 1295);
    let elapsed = started.elapsed();
    assert_eq!(
        reply[..14],
        [
            0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x05, 0x08, 0x00, 0x00, 0x90, 0x01, 0x00, 0x04, 0x00
        ]
    );
    let floor = quick_timing().wire_time(1295) + Duration::from_millis(quick_timing().read_ms);
    assert!(
        elapsed >= floor - Duration::from_millis(2),
        "{elapsed:?} < {floor:?}"
    );
}
