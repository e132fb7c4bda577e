//! ICAO reading end to end through the real pcscd with vsmartcard's vpcd driver: a virtual
//! passport (ours, in Rust) connects to vpcd and `PcscIcaoReader` reads it through the daemon.
//! Covers BAC, secure-messaging reads, passive authentication, refused keys, faults and a card
//! pulled mid-read. Starts pcscd itself when none runs; the tests are serialized (one pcscd per
//! machine) by a lock here and by the `pcsc` test group in `.config/nextest.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::time::{Duration, Instant};

use common::pcsc::{SLOT_ADDRESS, SLOT_READER, pcscd};

use enroll_core::domain::card_read::{AccessKey, Verification};
use enroll_core::domain::document::Photo;
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::pace::PaceCurve;
use enroll_devices::card::badge::BadgeReader;
use enroll_devices::card::pcsc_icao::{ACCESS_DENIED_MESSAGE, AccessControl, PcscIcaoReader};
use enroll_devices::card::{CardErrorKind, CardReader, Presence};
use enroll_sim::sod_issuer::TestPki;
use enroll_sim::vpcd_passport::{
    InsertedCard, PassportFault, PassportFiles, SPECIMEN_MRZ, VirtualPassport,
};

/// 2026-09-21, the reader's and the PKI's "now".
const NOW_S: i64 = 1_790_000_000;
const FACE_JPEG: &[u8] = include_bytes!("../fixtures/face-48x64.jpg");
const FACE_JP2: &[u8] = include_bytes!("../fixtures/face-48x64.jp2");

fn key() -> MrzAccessKey {
    MrzAccessKey::parse_typed("L898902C,740812,341231").unwrap()
}

fn reader(pki: &TestPki) -> PcscIcaoReader {
    PcscIcaoReader::new(
        Some(SLOT_READER.into()),
        vec![pki.csca.certificate_der.clone()],
        Box::new(|| UnixMs::from_secs(NOW_S)),
    )
}

/// Waits until the slot is empty (card-swap race, card-readers.md §3b), then inserts `passport`
/// and waits until pcscd sees it.
fn insert(reader: &mut PcscIcaoReader, passport: VirtualPassport) -> InsertedCard {
    reader.wait_for_removal(Duration::from_secs(10)).unwrap();
    let card = passport.insert(SLOT_ADDRESS).unwrap();
    reader.wait_for_card(Duration::from_secs(10)).unwrap();
    card
}

fn passport(pki: &TestPki, face: Photo, tamper_dg2: bool, fault: PassportFault) -> VirtualPassport {
    let files = PassportFiles::build(SPECIMEN_MRZ, face, pki, tamper_dg2).unwrap();
    VirtualPassport::new(files, &key(), fault)
}

fn jpeg_passport(pki: &TestPki, fault: PassportFault) -> VirtualPassport {
    passport(pki, Photo::Jpeg(FACE_JPEG.to_vec()), false, fault)
}

fn assert_passed(verification: &Verification) {
    assert_eq!(
        verification,
        &Verification::PassiveAuthentication {
            passed: true,
            failure: None,
            csca_subject: Some("CN=Utopia Test CSCA, C=UT".into()),
        }
    );
}

fn assert_failed_with(verification: &Verification, expected: &str) {
    match verification {
        Verification::PassiveAuthentication {
            passed: false,
            failure: Some(failure),
            ..
        } => assert_eq!(failure, expected),
        other => panic!("expected a failed passive authentication, got {other:?}"),
    }
}

#[test]
fn pcsc_bac_read_yields_the_holder_photo_and_passes_passive_authentication() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    assert_eq!(reader.presence().unwrap(), Presence::CardPresent);
    assert!(reader.info().atr_hex.is_some());

    let read = reader.read(&AccessKey::Mrz(key())).unwrap();

    assert_eq!(read.identity.name, "ERIKSSON, ANNA MARIA");
    assert_eq!(read.identity.document_number, "L898902C");
    assert_eq!(read.identity.photo, Photo::Jpeg(FACE_JPEG.to_vec()));
    assert_passed(&read.verification);
    assert_eq!(read.evidence.data_groups.len(), 2);
    assert!(read.evidence.ef_sod.is_some());
    assert!(read.reader.starts_with("pcsc:Virtual PCD 00 00"));
    assert_eq!(reader.presence().unwrap(), Presence::MustRemove);
    card.remove().unwrap();
    reader.wait_for_removal(Duration::from_secs(10)).unwrap();
    assert_eq!(reader.presence().unwrap(), Presence::NoCard);
}

#[test]
fn pcsc_jpeg2000_face_is_returned_as_jpeg2000() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let face = Photo::Jpeg2000(FACE_JP2.to_vec());
    let card = insert(
        &mut reader,
        passport(&pki, face.clone(), false, PassportFault::None),
    );
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_eq!(read.identity.photo, face);
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_tampered_dg2_fails_with_data_group_2_hash_mismatch() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let tampered = passport(
        &pki,
        Photo::Jpeg(FACE_JPEG.to_vec()),
        true,
        PassportFault::None,
    );
    let card = insert(&mut reader, tampered);
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_failed_with(&read.verification, "data group 2 hash mismatch");
    card.remove().unwrap();
}

#[test]
fn pcsc_document_signer_from_an_unknown_csca_is_not_trusted() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let stranger = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&stranger);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_failed_with(
        &read.verification,
        "document signer not issued by a trusted CSCA",
    );
    card.remove().unwrap();
}

#[test]
fn pcsc_wrong_mrz_is_access_denied_with_a_message_that_names_what_to_check() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    let wrong = MrzAccessKey::parse_typed("L898902C,740812,341230").unwrap();

    let error = reader.read(&AccessKey::Mrz(wrong)).unwrap_err();

    assert_eq!(error.kind(), CardErrorKind::AccessDenied);
    assert_eq!(error.to_string(), ACCESS_DENIED_MESSAGE);
    assert_eq!(
        error.to_string(),
        "access denied: check the document number, birth date and expiry"
    );
    // The right key still opens the same card afterwards.
    assert!(reader.read(&AccessKey::Mrz(key())).is_ok());
    card.remove().unwrap();
}

#[test]
fn pcsc_chip_that_refuses_every_key_is_access_denied() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::WrongMrz));
    let error = reader.read(&AccessKey::Mrz(key())).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::AccessDenied);
    card.remove().unwrap();
}

#[test]
fn pcsc_card_pulled_mid_read_is_card_removed_and_the_next_card_reads() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(
        &mut reader,
        jpeg_passport(&pki, PassportFault::PulledAtRead(4)),
    );

    let error = reader.read(&AccessKey::Mrz(key())).unwrap_err();

    assert_eq!(error.kind(), CardErrorKind::CardRemoved, "{error}");
    card.wait().unwrap();
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_short_reads_with_6282_fall_back_to_smaller_chunks() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(
        &mut reader,
        jpeg_passport(&pki, PassportFault::ShortReads6282),
    );
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_short_reads_with_6cxx_use_the_length_the_chip_asks_for() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(
        &mut reader,
        jpeg_passport(&pki, PassportFault::ShortReads6Cxx),
    );
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_broken_secure_messaging_is_a_protocol_error_and_a_retry_reads() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::BrokenMac));
    let error = reader.read(&AccessKey::Mrz(key())).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::Protocol);
    assert!(error.to_string().contains("69 88"), "{error}");
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_pace_with_the_mrz_on_brainpool_p256r1_reads_and_passes_passive_authentication() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let chip = jpeg_passport(&pki, PassportFault::None).with_pace(PaceCurve::BrainpoolP256r1, None);
    let card = insert(&mut reader, chip);
    let read = reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_eq!(
        reader.last_access_control(),
        Some(AccessControl::Pace(PaceCurve::BrainpoolP256r1))
    );
    assert_eq!(read.identity.document_number, "L898902C");
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_pace_with_the_card_access_number_on_secp256r1_reads() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let chip = jpeg_passport(&pki, PassportFault::None)
        .with_pace(PaceCurve::Secp256r1, Some("123456".into()));
    let card = insert(&mut reader, chip);
    let read = reader.read(&AccessKey::Can("123456".into())).unwrap();
    assert_eq!(
        reader.last_access_control(),
        Some(AccessControl::Pace(PaceCurve::Secp256r1))
    );
    assert_passed(&read.verification);
    card.remove().unwrap();
}

#[test]
fn pcsc_pace_with_a_wrong_card_access_number_is_access_denied() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let chip = jpeg_passport(&pki, PassportFault::None)
        .with_pace(PaceCurve::Secp256r1, Some("123456".into()));
    let card = insert(&mut reader, chip);
    let error = reader.read(&AccessKey::Can("654321".into())).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::AccessDenied);
    assert_eq!(error.to_string(), ACCESS_DENIED_MESSAGE);
    card.remove().unwrap();
}

#[test]
fn pcsc_bac_only_reader_setting_ignores_pace() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki).with_pace(false);
    let chip = jpeg_passport(&pki, PassportFault::None).with_pace(PaceCurve::Secp256r1, None);
    let card = insert(&mut reader, chip);
    reader.read(&AccessKey::Mrz(key())).unwrap();
    assert_eq!(reader.last_access_control(), Some(AccessControl::Bac));
    card.remove().unwrap();
}

#[test]
fn pcsc_card_access_number_on_a_bac_only_chip_is_unsupported() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    let error = reader.read(&AccessKey::Can("123456".into())).unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::Unsupported);
    card.remove().unwrap();
}

#[test]
fn pcsc_no_card_times_out_as_no_card() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    reader.wait_for_removal(Duration::from_secs(10)).unwrap();
    let error = reader
        .wait_for_card(Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::NoCard);
}

fn kiosk() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kiosk"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command.env_remove("KIOSK_CONFIG");
    command
}

#[test]
fn pcsc_cli_reads_the_emulated_passport_as_json_and_lists_the_readers() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    reader.wait_for_removal(Duration::from_secs(10)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csca = dir.path().join("csca");
    std::fs::create_dir(&csca).unwrap();
    let mut emulator = kiosk()
        .args(["card", "emulate", "passport", "--slot", "0", "--csca-out"])
        .arg(csca.join("utopia.der"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    reader.wait_for_card(Duration::from_secs(10)).unwrap();

    let readers = kiosk().args(["card", "readers"]).output().unwrap();
    let output = kiosk()
        .args(["card", "read", "--reader", "pcsc:Virtual PCD 00 00"])
        .args(["--mrz", "L898902C,740812,341231", "--json", "--csca-dir"])
        .arg(&csca)
        .output()
        .unwrap();
    // Without --csca-dir the configuration's card_reader.csca_dir is used.
    let production = std::fs::read_to_string("kiosk-config/kiosk.toml").unwrap();
    let config = production.replace(
        "backend = \"sam-serial\"\nport = \"/dev/ttyUSB0\"",
        "backend = \"pcsc\"\ncsca_dir = \"csca\"",
    );
    let config = config.replace("\nbaud = 115200\n", "\n");
    assert_ne!(config, production);
    let packs = std::fs::canonicalize("assets/models/packs").unwrap();
    let config = config.replace(
        "\"../assets/models/packs\"",
        &format!("\"{}\"", packs.display()),
    );
    std::fs::write(dir.path().join("kiosk.toml"), config).unwrap();
    let configured = kiosk()
        .arg("--config")
        .arg(dir.path().join("kiosk.toml"))
        .args(["card", "read", "--reader", "pcsc:Virtual PCD 00 00"])
        .args(["--mrz", "L898902C,740812,341231"])
        .output()
        .unwrap();
    emulator.kill().unwrap();
    emulator.wait().unwrap();

    let configured_stdout = String::from_utf8_lossy(&configured.stdout);
    assert!(
        configured_stdout.contains("passive authentication passed (CN=Utopia Test CSCA, C=UT)"),
        "{configured_stdout}{}",
        String::from_utf8_lossy(&configured.stderr)
    );
    assert!(String::from_utf8_lossy(&readers.stdout).contains("Virtual PCD 00 00"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read["identity"]["document_number"], "L898902C");
    assert_eq!(read["verification"]["method"], "passive-authentication");
    assert_eq!(read["verification"]["passed"], true);
}

#[test]
fn pcsc_cli_without_pcscd_says_to_start_it() {
    let output = kiosk()
        .env("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm")
        .args([
            "card",
            "read",
            "--reader",
            "pcsc",
            "--mrz",
            "L898902C,740812,341231",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("start pcscd"), "{stderr}");
}

/// The officer scans the data page on a serial MRZ scanner; the scanned zone unlocks the chip.
#[test]
fn pcsc_cli_reads_with_the_access_key_from_an_mrz_scanner() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut reader = reader(&pki);
    let card = insert(&mut reader, jpeg_passport(&pki, PassportFault::None));
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyMRZ");
    let mut scanner = kiosk()
        .args([
            "card",
            "emulate",
            "mrz-scanner",
            "--delay-ms",
            "700",
            "--link",
        ])
        .arg(&link)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = kiosk()
        .args([
            "card",
            "read",
            "--reader",
            "pcsc:Virtual PCD 00 00",
            "--json",
        ])
        .args(["--scan-timeout-s", "20", "--mrz-scanner"])
        .arg(&link)
        .output()
        .unwrap();
    scanner.kill().unwrap();
    scanner.wait().unwrap();
    drop(card);
    assert!(
        output.status.code() == Some(2) || output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read["identity"]["document_number"], "L898902C");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("scan the document's data page"),
        "the officer is told to scan"
    );
}

#[test]
fn pcsc_a_badge_on_the_reader_gives_its_uid_as_the_badge_id_and_no_badge_gives_none() {
    let _pcscd = pcscd();
    let pki = TestPki::utopia(NOW_S).unwrap();
    let mut slot = reader(&pki);
    slot.wait_for_removal(Duration::from_secs(10)).unwrap();
    let mut badges = BadgeReader::new(Some(SLOT_READER.into()));
    assert_eq!(badges.read_badge().unwrap(), None, "an empty reader");

    // A contactless card whose UID is 04 A1 B2 C3 D4 E5 F6 (7 bytes, as ISO 14443 cards have).
    let badge = jpeg_passport(&pki, PassportFault::None)
        .with_uid(&[0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6]);
    let card = insert(&mut slot, badge);
    assert_eq!(
        badges.read_badge().unwrap().as_deref(),
        Some("04A1B2C3D4E5F6")
    );
    card.remove().unwrap();

    // A card the reader reports no UID for is told apart from "no badge".
    let no_uid = insert(&mut slot, jpeg_passport(&pki, PassportFault::None));
    let error = badges.read_badge().unwrap_err();
    assert_eq!(error.kind(), CardErrorKind::Unsupported, "{error}");
    assert!(error.to_string().contains("type the badge id"), "{error}");
    no_uid.remove().unwrap();
}
