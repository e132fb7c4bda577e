//! Writes the fuzzers' seed inputs for the network and file formats (`fuzz/seeds/<target>/`): one
//! well-formed instance of each, made with the real encoders and keys generated on the spot (the
//! keys are thrown away; a seed's signature verifies with no key anybody keeps). The data is the
//! benchmarks' made-up draft and the credential tests' fictitious holder: nobody real.
//!
//! usage: cargo run --example fuzz_seeds -- fuzz/seeds

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use enroll_core::domain::officer::Role;
use enroll_core::domain::record::{CHAIN_START, ChainStatus, RecordEnvelope, RecordId};
use enroll_core::domain::roster::{ROSTER_FORMAT, RosterBody, RosterOfficer};
use enroll_core::domain::time::UnixMs;
use enroll_credential::KeyRole;
use enroll_credential::status::{StatusList, StatusListToken, list_uri};
use enroll_credential::token::{IdentityClaims, Profile, StatusRef, Tier, TokenClaims};
use enroll_credential::trust::TrustList;
use enroll_crypto::records::{SealingPrivateKey, TerminalSigningKey, seal};
use enroll_protocol::heartbeat::{CheckState, Heartbeat};

type Error = Box<dyn std::error::Error>;

const REGISTRY: &str = "https://registry.example";
const NOW_S: i64 = 1_790_000_000;

fn main() -> Result<(), Error> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_seeds OUT_DIR (e.g. fuzz/seeds)")?
        .into();
    let write = |target: &str, name: &str, bytes: &[u8]| -> Result<(), Error> {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        Ok(())
    };

    // A record as a terminal sends it, and the registry's receipt for it.
    let terminal = TerminalSigningKey::from_seed(random()?);
    let registry = TerminalSigningKey::from_seed(random()?);
    let (_, sealing) = SealingPrivateKey::from_seed(random()?);
    let now = UnixMs::from_u64(1_790_000_000_000);
    let id = RecordId::v7(now, random()?);
    let (sealed, ciphertext) = seal(&sealing, &id, b"portrait and embedding", random()?)?;
    let body = common::draft(id, "DEMO-0001", now)?
        .into_body(
            terminal.public().fingerprint(),
            sealed,
            CHAIN_START.to_owned(),
        )
        .to_bytes();
    let envelope = RecordEnvelope {
        signature: terminal.sign(&body).to_vec(),
        body: body.clone(),
        sealed_payload: ciphertext,
    }
    .encode();
    write("record_envelope", "envelope.bin", &envelope)?;
    write("record_envelope", "body.json", &body)?;
    let key = terminal.public().to_bytes();
    let verified = enroll_protocol::verify_envelope(&envelope, |_, _| Some(key))?;
    let receipt = enroll_protocol::make_receipt(&registry, &verified, ChainStatus::Linked, now);
    write("receipt", "receipt.json", &receipt)?;

    // The officer roster a terminal is served.
    let roster = RosterBody {
        format: ROSTER_FORMAT.to_owned(),
        version: 1,
        terminal_id: "DEMO-0001".into(),
        serial: 3,
        issued_at_unix_ms: now,
        officers: vec![RosterOfficer {
            badge: "D-1001".into(),
            role: Role::Officer,
            pin_argon2id: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
            disabled: false,
        }],
    };
    write("officer_roster", "body.json", &roster.to_bytes())?;
    let signed = enroll_protocol::sign_roster(&registry, &roster);
    write(
        "officer_roster",
        "signed.json",
        &serde_json::to_vec(&signed)?,
    )?;

    // A fleet request with its heartbeat.
    let heartbeat = Heartbeat {
        version: "0.1.0".into(),
        model_pack: "open".into(),
        queue_depth: 2,
        oldest_unsent_age_ms: Some(65_000),
        checks: [
            ("storage".to_owned(), CheckState::Ok),
            ("camera".to_owned(), CheckState::Fail),
        ]
        .into(),
    }
    .to_json();
    write("fleet_request", "heartbeat.json", heartbeat.as_bytes())?;
    let at = now.as_i64();
    let proof = terminal.sign(&enroll_protocol::fleet_request_message(
        "DEMO-0001",
        at,
        Some(&heartbeat),
    ));
    let request = enroll_protocol::FleetRequest {
        at_unix_ms: at,
        proof_base64: enroll_core::domain::document::base64_bytes::encode(&proof),
        heartbeat_json: Some(heartbeat),
    };
    write(
        "fleet_request",
        "request.json",
        &serde_json::to_vec(&request)?,
    )?;

    // The virtual ID: a token of each profile, the trust list, a status list.
    let root = ed25519_key()?;
    let strict = ed25519_key()?;
    let status = ed25519_key()?;
    for profile in [Profile::Basic, Profile::CheckIn] {
        let token = enroll_credential::token::issue(&claims(profile), &strict)?;
        write(
            "vid_token",
            &format!("{}.txt", profile.as_str()),
            token.as_bytes(),
        )?;
    }
    let trust = TrustList {
        sequence: 1,
        issued_at_unix_s: NOW_S,
        registry_url: REGISTRY.into(),
        keys: vec![
            TrustList::entry(
                strict.verifying_key().to_bytes(),
                KeyRole::Strict,
                NOW_S,
                365,
            ),
            TrustList::entry(
                status.verifying_key().to_bytes(),
                KeyRole::Status,
                NOW_S,
                365,
            ),
        ],
    };
    write("trust_list", "list.cose", &trust.sign(&root)?)?;
    let mut list = StatusList::new();
    list.revoke(4242);
    let token = StatusListToken {
        uri: list_uri(REGISTRY, 0),
        issued_at_unix_s: NOW_S,
        expires_unix_s: NOW_S + 86_400,
        ttl_s: 300,
        list,
    };
    write("status_list", "list.cose", &token.sign(&status)?)?;

    // A receipt as the kiosk prints it (first byte: the serial line's piece size).
    write("escpos", "receipt.bin", &escpos_receipt())?;

    // Card reader data: a SAM response carrying the resident card's text block (the committed
    // id_text seed) and a command, in 5-byte pieces; ICAO DG1 (the ICAO 9303 specimen MRZ, the
    // committed mrz seed), DG2 (the 48x64 test face, tests/fixtures) and an EF.SOD over both
    // signed by a throw-away test PKI.
    let seeds = out.clone();
    let text_block = std::fs::read(seeds.join("id_text/resident.bin"))?;
    let mut frames = vec![5u8];
    frames.extend(
        enroll_core::domain::sam_frame::ResponseFrame::new(
            enroll_core::domain::sam_frame::SamStatus::from_code(0x90),
            text_block,
        )
        .encode()?,
    );
    frames.extend(enroll_core::domain::sam_frame::encode_command(
        0x30,
        0x01,
        &[],
    )?);
    write("sam_frame", "read-and-command.bin", &frames)?;
    let mrz = std::fs::read_to_string(seeds.join("mrz/td3.txt"))?.replace('\n', "");
    let dg1 = enroll_core::domain::icao_lds::encode_dg1(mrz.trim())?;
    let root_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let jpeg = std::fs::read(root_dir.join("tests/fixtures/face-48x64.jpg"))?;
    let dg2 =
        enroll_core::domain::icao_lds::encode_dg2(&[enroll_core::domain::icao_lds::FaceImage {
            image_data_type: 0,
            width: 48,
            height: 64,
            photo: enroll_core::domain::document::Photo::Jpeg(jpeg),
        }])?;
    write("icao_tlv_dg2", "dg1.bin", &dg1)?;
    write("icao_tlv_dg2", "dg2.bin", &dg2)?;
    let pki = enroll_sim::sod_issuer::TestPki::utopia(NOW_S)?;
    write(
        "icao_sod",
        "ef-sod.bin",
        &pki.sign_sod(&[(1, &dg1), (2, &dg2)])?,
    )?;

    // The shipped configurations.
    for name in ["kiosk.toml", "demo.toml", "demo-officer.toml"] {
        let text = std::fs::read(root_dir.join("kiosk-config").join(name))?;
        write("kiosk_config", name, &text)?;
    }
    writeln!(std::io::stdout(), "seeds written under {}", out.display())?;
    Ok(())
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn ed25519_key() -> Result<ed25519_dalek::SigningKey, Error> {
    Ok(ed25519_dalek::SigningKey::from_bytes(&random()?))
}

/// A fictitious holder's token claims (the credential tests' made-up person).
fn claims(profile: Profile) -> TokenClaims {
    let check_in = profile == Profile::CheckIn;
    TokenClaims {
        issuer: REGISTRY.into(),
        issued_at_unix_s: NOW_S,
        not_before_unix_s: NOW_S,
        expires_unix_s: NOW_S + 86_400,
        cti: [7; 16],
        status: Some(StatusRef {
            uri: list_uri(REGISTRY, 0),
            index: 4242,
        }),
        identity: IdentityClaims {
            handle: "fuzz-seed-handle".into(),
            tier: Tier::Strict,
            profile,
            age_over_18: true,
            face_jpeg: (0..120).map(|i| (i * 7919 % 251) as u8).collect(),
            full_name: check_in.then(|| "ZHANG San".into()),
            birth_yyyymmdd: check_in.then(|| "19900101".into()),
            sex: check_in.then_some(enroll_credential::Sex::Male),
            region: check_in.then(|| "110105".into()),
        },
    }
}

/// ESC @, two lines, a 16x2-dot raster, a paper status request, a partial cut, and one command
/// the emulator does not know; prefixed by the piece size (7 bytes).
fn escpos_receipt() -> Vec<u8> {
    let mut bytes = vec![7u8];
    bytes.extend_from_slice(b"\x1b@\x1ba\x01REF ABC-DEF-1234\nThank you\n");
    bytes.extend_from_slice(&[0x1d, b'v', b'0', 0, 2, 0, 2, 0, 0xF0, 0x0F, 0xAA, 0x55]);
    bytes.extend_from_slice(&[0x10, 0x04, 4]);
    bytes.extend_from_slice(&[0x1d, b'V', 66, 0]);
    bytes.extend_from_slice(&[0x1b, b'Z']);
    bytes
}
