//! What each fuzz target feeds its parsers, shared by the cargo-fuzz targets (`fuzz_targets/`,
//! one line each) and the main workspace's corpus replay (`tests/kiosk/fuzz_corpus.rs`), so CI
//! runs every kept input through exactly the code the fuzzer ran. It owns no parser; a panic here
//! is a bug in the parser it calls (or a broken round trip it asserts).
//!
//! Every parser here reads bytes from outside: a card or reader (SAM frames, ID text, MRZ, ICAO
//! files), the network (record envelopes and bodies at the registry, receipts, rosters and fleet
//! requests at either end, the virtual ID's tokens, trust lists and status lists at a verifier),
//! a printer's serial line (the ESC/POS emulator) or a technician's editor (configuration files).

use std::path::Path;

/// A target's entry: the fuzzer's input in, a panic out when a parser breaks.
pub type Entry = fn(&[u8]);

/// Every target: its name (the folder of its corpus and seeds) and its entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("sam_frame", sam_frame),
    ("id_text", id_text),
    ("mrz", mrz),
    ("icao_tlv_dg2", icao_tlv_dg2),
    ("icao_sod", icao_sod),
    ("record_envelope", record_envelope),
    ("receipt", receipt),
    ("officer_roster", officer_roster),
    ("fleet_request", fleet_request),
    ("vid_token", vid_token),
    ("trust_list", trust_list),
    ("status_list", status_list),
    ("escpos", escpos),
    ("kiosk_config", kiosk_config),
];

// --- Card readers -------------------------------------------------------------------------------

/// SAM reader frames, split at every position (the first byte picks the chunk size).
pub fn sam_frame(data: &[u8]) {
    use enroll_core::domain::sam_frame::{
        FrameDecoder, SamCommand, parse_appended_address_response, parse_base_message_response,
        parse_find_response, parse_fingerprint_message_response, parse_sam_id_response,
        parse_select_response,
    };
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut responses = FrameDecoder::new();
    let mut commands = FrameDecoder::with_max_len(64);
    for piece in rest.chunks(chunk) {
        responses.push(piece);
        commands.push(piece);
        while let Some(result) = responses.next_frame() {
            if let Ok(frame) = result {
                let _ = parse_find_response(&frame);
                let _ = parse_select_response(&frame);
                let _ = parse_sam_id_response(&frame).map(|id| id.to_string());
                let _ = parse_base_message_response(&frame);
                let _ = parse_fingerprint_message_response(&frame);
                let _ = parse_appended_address_response(&frame);
                // A decoded frame encodes back to bytes that decode to the same frame.
                if let Ok(bytes) = frame.encode() {
                    let mut again = FrameDecoder::new();
                    again.push(&bytes);
                    assert_eq!(again.next_frame(), Some(Ok(frame)));
                }
            }
        }
        while let Some(result) = commands.next_command() {
            if let Ok(command) = result {
                let _ = SamCommand::from_command_frame(&command).map(SamCommand::to_frame);
            }
        }
    }
}

/// The resident ID card's text block (and appended address), raw and padded to size with each
/// layout flag; a parsed identity encodes back to the same identity.
pub fn id_text(data: &[u8]) {
    use enroll_core::domain::id_text::{decode_appended_address, layout_of};
    let _ = layout_of(data);
    let _ = decode_appended_address(data);
    id_text_round_trip(data);
    let mut block = data.to_vec();
    block.resize(256, 0x20);
    for flag in [b' ', b'J', b'I', b'Y'] {
        if let Some(slot) = block.get_mut(248..250) {
            slot.copy_from_slice(&[flag, 0]);
        }
        id_text_round_trip(&block);
    }
}

fn id_text_round_trip(block: &[u8]) {
    use enroll_core::domain::id_text::{encode_text_block, parse_text_block};
    let Ok(identity) = parse_text_block(block) else {
        return;
    };
    if let Ok(encoded) = encode_text_block(&identity) {
        let again = parse_text_block(&encoded);
        assert_eq!(
            again.as_ref(),
            Ok(&identity),
            "encode then parse changed the identity"
        );
    }
}

/// Machine-readable zones, typed access keys, dates, check digits.
pub fn mrz(data: &[u8]) {
    use enroll_core::domain::mrz::{Mrz, MrzAccessKey, MrzDate, check_digit};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Mrz::parse(text);
    let _ = MrzAccessKey::parse_typed(text);
    let _ = MrzDate::parse(text);
    let _ = check_digit(text);
}

/// ICAO TLV trees, EF.COM, DG1 and DG2 (raw and wrapped in their group's tags).
pub fn icao_tlv_dg2(data: &[u8]) {
    use enroll_core::domain::icao_lds::{
        EfCom, Tag, Tlv, dg2_photo, parse_all, parse_dg1, parse_dg2, parse_face_record,
        validate_tree,
    };
    let _ = Tlv::parse(data);
    let _ = parse_all(data);
    let _ = validate_tree(data, 16);
    let _ = EfCom::parse(data);
    let _ = parse_dg1(data);
    let _ = parse_dg2(data);
    let _ = dg2_photo(data);
    let _ = parse_face_record(data);
    if let Some(dg1) = tlv(Tag::DG1, &tlv(Tag::MRZ, data).unwrap_or_default()) {
        let _ = parse_dg1(&dg1);
    }
    if let Some(dg2) = dg2_around(data) {
        let _ = parse_dg2(&dg2);
        let _ = dg2_photo(&dg2);
    }
}

fn tlv(tag: enroll_core::domain::icao_lds::Tag, value: &[u8]) -> Option<Vec<u8>> {
    enroll_core::domain::icao_lds::encode_tlv(tag, value).ok()
}

fn dg2_around(face_record: &[u8]) -> Option<Vec<u8>> {
    use enroll_core::domain::icao_lds::Tag;
    let header = tlv(Tag::BIOMETRIC_HEADER, &[])?;
    let info = tlv(
        Tag::BIOMETRIC_INFO,
        &[header, tlv(Tag::BIOMETRIC_DATA, face_record)?].concat(),
    )?;
    let group = tlv(
        Tag::BIOMETRIC_GROUP,
        &[tlv(Tag::INSTANCE_COUNT, &[1])?, info].concat(),
    )?;
    tlv(Tag::DG2, &group)
}

/// EF.SOD: raw, and the input as the encapsulated content of a well-formed SignedData, so the
/// security-object parser behind the envelope sees arbitrary bytes too.
pub fn icao_sod(data: &[u8]) {
    use enroll_core::domain::icao_lds::{LdsSecurityObject, decode_oid, parse_sod};
    let _ = parse_sod(data);
    let _ = LdsSecurityObject::parse(data);
    let _ = decode_oid(data);
    if let Some(sod) = sod_around(data) {
        let _ = parse_sod(&sod);
    }
}

fn sod_around(econtent: &[u8]) -> Option<Vec<u8>> {
    use enroll_core::domain::icao_lds::{
        OID_LDS_SECURITY_OBJECT, OID_SIGNED_DATA, Tag, encode_oid,
    };
    const SEQUENCE: Tag = Tag(0x30);
    const SET: Tag = Tag(0x31);
    const INTEGER: Tag = Tag(0x02);
    const OCTET_STRING: Tag = Tag(0x04);
    const OBJECT_IDENTIFIER: Tag = Tag(0x06);
    const CONTEXT_0: Tag = Tag(0xA0);
    let encap = tlv(
        SEQUENCE,
        &[
            tlv(OBJECT_IDENTIFIER, &encode_oid(OID_LDS_SECURITY_OBJECT)?)?,
            tlv(CONTEXT_0, &tlv(OCTET_STRING, econtent)?)?,
        ]
        .concat(),
    )?;
    let sha256 = tlv(OBJECT_IDENTIFIER, &encode_oid("2.16.840.1.101.3.4.2.1")?)?;
    let certificate = tlv(SEQUENCE, &tlv(SEQUENCE, &[])?)?;
    let signed_data = tlv(
        SEQUENCE,
        &[
            tlv(INTEGER, &[3])?,
            tlv(SET, &tlv(SEQUENCE, &sha256)?)?,
            encap,
            tlv(CONTEXT_0, &certificate)?,
            tlv(SET, &[])?,
        ]
        .concat(),
    )?;
    let content_info = tlv(
        SEQUENCE,
        &[
            tlv(OBJECT_IDENTIFIER, &encode_oid(OID_SIGNED_DATA)?)?,
            tlv(CONTEXT_0, &signed_data)?,
        ]
        .concat(),
    )?;
    tlv(Tag::EF_SOD, &content_info)
}

// --- The registry link --------------------------------------------------------------------------

/// The key inputs are checked against: the Ed25519 base point's encoding (a valid point; no
/// corpus input carries a signature that verifies with it, so every check runs to its refusal).
const BASE_POINT: [u8; 32] = {
    let mut point = [0x66u8; 32];
    point[0] = 0x58;
    point
};

fn some_public_key() -> Option<enroll_crypto::records::TerminalPublicKey> {
    enroll_crypto::records::TerminalPublicKey::from_bytes(&BASE_POINT).ok()
}

/// What the registry does with a posted envelope: decode it, parse the body, look the key up and
/// check the signature; the body alone too, and a parsed body's bytes parse to the same body.
pub fn record_envelope(data: &[u8]) {
    use enroll_core::domain::record::{RecordBody, RecordEnvelope, SealedContent};
    let _ = enroll_protocol::verify_envelope(data, |_, _| Some(BASE_POINT));
    let _ = RecordEnvelope::decode(data);
    let _ = SealedContent::from_bytes(data);
    if let Ok(body) = RecordBody::from_bytes(data) {
        let again = RecordBody::from_bytes(&body.to_bytes());
        assert_eq!(
            again.as_ref().ok(),
            Some(&body),
            "a body's bytes parse to another body"
        );
    }
}

/// What a terminal does with a receipt: check it against the registry's key and the record it
/// should be for; the receipt body alone too.
pub fn receipt(data: &[u8]) {
    use enroll_core::domain::record::ReceiptBody;
    if let Some(key) = some_public_key() {
        let _ = enroll_protocol::verify_receipt(
            data,
            &key,
            "0190a2b4-c6d8-7e00-8000-000000000000",
            &"0".repeat(64),
        );
    }
    let _ = ReceiptBody::from_bytes(data);
}

/// The officer roster a terminal is served (signed JSON around roster bytes), and roster bytes.
pub fn officer_roster(data: &[u8]) {
    use enroll_core::domain::roster::RosterBody;
    if let Ok(signed) = serde_json::from_slice::<enroll_protocol::SignedRoster>(data)
        && let Some(key) = some_public_key()
    {
        let _ = enroll_protocol::open_roster(&signed, &key);
    }
    if let Ok(roster) = RosterBody::from_bytes(data) {
        let again = RosterBody::from_bytes(&roster.to_bytes());
        assert_eq!(
            again.ok(),
            Some(roster),
            "a roster's bytes parse to another roster"
        );
    }
}

/// What the registry reads from a fleet request: the request and the heartbeat inside it; a
/// heartbeat that is taken reads back the same from its own text.
pub fn fleet_request(data: &[u8]) {
    use enroll_protocol::heartbeat::Heartbeat;
    if let Ok(request) = serde_json::from_slice::<enroll_protocol::FleetRequest>(data)
        && let Some(text) = &request.heartbeat_json
    {
        let _ = Heartbeat::parse(text);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(heartbeat) = Heartbeat::parse(text) {
        assert_eq!(
            Heartbeat::parse(&heartbeat.to_json()).ok(),
            Some(heartbeat),
            "a heartbeat's own text reads back as another"
        );
    }
}

// --- The virtual ID at a verifier ---------------------------------------------------------------

/// A scanned token's text, and each layer under it on its own: the COSE_Sign1 bytes, the
/// inflater, strict CBOR and the claims.
pub fn vid_token(data: &[u8]) {
    use enroll_credential::{cbor, token, verify};
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::open(text);
        let _ = verify::token_kid(text);
        if let Some(root) = verifier_root() {
            let _ = verify::VerifierState::new(root).verify(text, 1_790_000_000);
        }
    }
    let _ = token::open_sign1(data);
    let _ = token::inflate(data, 4_096);
    if let Ok(value) = cbor::parse_strict(data) {
        let _ = token::TokenClaims::from_cbor(&value);
    }
}

/// The Ed25519 base point as a trust root (valid; nothing it could verify is in any corpus).
fn verifier_root() -> Option<ed25519_dalek::VerifyingKey> {
    ed25519_dalek::VerifyingKey::from_bytes(&BASE_POINT).ok()
}

/// A trust list as a verifier receives it (opened with a root, and read without one).
pub fn trust_list(data: &[u8]) {
    use enroll_credential::trust::TrustList;
    let _ = TrustList::read_unchecked(data);
    if let Some(root) = verifier_root() {
        let _ = TrustList::open(data, &root);
        let _ = enroll_credential::verify::VerifierState::new(root).accept_trust_list(data);
    }
}

/// A status list token as a verifier receives it.
pub fn status_list(data: &[u8]) {
    use enroll_credential::status::StatusListToken;
    if let Ok((_, list)) = StatusListToken::open(data) {
        for index in [0, 1, 7, 8, 1_000, u32::MAX] {
            let _ = list.list.is_revoked(index);
        }
    }
    if let Some(root) = verifier_root() {
        let _ = enroll_credential::verify::VerifierState::new(root).accept_status_list(data);
    }
}

// --- Devices and files --------------------------------------------------------------------------

/// The receipt printer emulator's ESC/POS reader, fed in pieces (the first byte picks their
/// size, as a serial line delivers them).
pub fn escpos(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let mut reader = enroll_sim::printer_emulator::EscPosReader::default();
    for piece in rest.chunks(usize::from(chunk).max(1)) {
        let _ = reader.push(piece);
    }
}

/// A kiosk configuration file as a technician might have left it.
pub fn kiosk_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = enroll_kiosk::config::Config::parse(Path::new("/nonexistent/kiosk.toml"), text);
}
