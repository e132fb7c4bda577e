//! A virtual ICAO eMRTD (e-passport chip) that plugs into pcscd through vsmartcard's vpcd driver,
//! for tests, benchmarks and `kiosk card emulate passport`. It speaks the vpcd wire protocol over
//! TCP and answers like a passport: SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE (BAC), and on
//! demand EF.CardAccess, MSE:Set AT and GENERAL AUTHENTICATE (PACE ECDH-GM AES-128); secure
//! messaging SELECT/READ BINARY of EF.COM, DG1, DG2 and EF.SOD, with faults on demand. It does
//! not implement Active or Chip Authentication, and must never be installed on a kiosk.
//!
//! vpcd protocol: frames of a `u16` big-endian length and a payload in both directions. A 1-byte
//! payload is a control message (`00` power off, `01` power on, `02` reset, `04` asks for the
//! ATR); anything else is a command APDU answered with a response APDU. Closing the socket is
//! removing the card.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::JoinHandle;

use crate::sod_issuer::{IssueError, TestPki};
use enroll_core::domain::document::Photo;
use enroll_core::domain::icao_lds::{
    self, EMRTD_AID, EfCom, FaceImage, LdsError, Tag, Tlv, encode_tlv,
};
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_crypto::bac::{self, BacKeys, CommandApdu, ResponseApdu, SecureMessaging};
use enroll_crypto::pace::{self, AesSecureMessaging, PaceCurve, PacePassword};

/// The TCP port of vpcd slot 0 (`Virtual PCD 00 00`).
pub const VPCD_PORT_SLOT_0: u16 = 35963;
/// The TCP port of vpcd slot 1 (`Virtual PCD 00 01`).
pub const VPCD_PORT_SLOT_1: u16 = 35964;
/// The ATR the virtual passport presents (ISO 14443-4 style, from vsmartcard's examples).
pub const ATR: [u8; 11] = [
    0x3B, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xFF, 0x01, 0x00, 0x0B,
];

/// The specimen MRZ of ICAO 9303-4 (Anna Maria Eriksson of Utopia, L898902C), with an expiry far
/// in the future so the synthetic person is valid whatever the test date.
pub const SPECIMEN_MRZ: &str = concat!(
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C<3UTO7408122F3412318ZE184226B<<<<<14"
);

const SW_OK: u16 = 0x9000;
const SW_AUTH_FAILED: u16 = 0x6300;
const SW_SM_BROKEN: u16 = 0x6988;
const SW_NOT_FOUND: u16 = 0x6A82;
const SW_SECURITY_NOT_SATISFIED: u16 = 0x6982;
const SW_WRONG_P1P2: u16 = 0x6B00;
const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;
const SW_END_OF_FILE: u16 = 0x6282;

/// Faults the virtual passport can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassportFault {
    /// Behave.
    #[default]
    None,
    /// Refuse every access key: EXTERNAL AUTHENTICATE answers `63 00`.
    WrongMrz,
    /// Answer the first secure-messaging READ BINARY with a plain `69 88` (MAC check failed).
    BrokenMac,
    /// Answer READ BINARY with Le above 0xA0 with `62 82` and no data.
    ShortReads6282,
    /// Answer READ BINARY with Le above 0xA0 with `6C A0` and no data.
    ShortReads6Cxx,
    /// Close the socket (pull the card) at the given READ BINARY, counted from 1.
    PulledAtRead(u32),
}

impl PassportFault {
    /// Parses a fault name: `none`, `wrong-mrz`, `broken-mac`, `short-reads`, `short-reads-6c`,
    /// `pulled` (at the 5th read) or `pulled:N`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "wrong-mrz" => Self::WrongMrz,
            "broken-mac" => Self::BrokenMac,
            "short-reads" => Self::ShortReads6282,
            "short-reads-6c" => Self::ShortReads6Cxx,
            "pulled" => Self::PulledAtRead(5),
            other => Self::PulledAtRead(other.strip_prefix("pulled:")?.parse().ok()?),
        })
    }
}

/// The files of a passport chip, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct PassportFiles {
    /// EF.COM (`60`).
    pub ef_com: Vec<u8>,
    /// DG1 (`61`), the MRZ.
    pub dg1: Vec<u8>,
    /// DG2 (`75`), the face.
    pub dg2: Vec<u8>,
    /// EF.SOD (`77`).
    pub ef_sod: Vec<u8>,
}

impl std::fmt::Debug for PassportFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassportFiles")
            .field("dg1_len", &self.dg1.len())
            .field("dg2_len", &self.dg2.len())
            .field("ef_sod_len", &self.ef_sod.len())
            .finish_non_exhaustive()
    }
}

/// Errors building the passport files.
#[derive(Debug, thiserror::Error)]
pub enum PassportBuildError {
    /// A file could not be encoded.
    #[error("could not encode a passport file: {0}")]
    Lds(#[from] LdsError),
    /// EF.SOD could not be signed.
    #[error("could not sign EF.SOD: {0}")]
    Sign(#[from] IssueError),
}

impl PassportFiles {
    /// Builds EF.COM, DG1 from `mrz`, DG2 holding `face` and EF.SOD signed by `pki`'s document
    /// signer. With `tamper_dg2`, one byte of the image in DG2 is changed after signing.
    pub fn build(
        mrz: &str,
        face: Photo,
        pki: &TestPki,
        tamper_dg2: bool,
    ) -> Result<Self, PassportBuildError> {
        let ef_com = EfCom {
            lds_version: "0107".into(),
            unicode_version: "040000".into(),
            data_group_tags: vec![icao_lds::Tag::DG1, icao_lds::Tag::DG2],
        }
        .encode()
        .map_err(LdsError::from)?;
        let dg1 = icao_lds::encode_dg1(mrz).map_err(LdsError::from)?;
        let image_data_type = u8::from(matches!(face, Photo::Jpeg2000(_)));
        let mut dg2 = icao_lds::encode_dg2(&[FaceImage {
            image_data_type,
            width: 0,
            height: 0,
            photo: face,
        }])?;
        let ef_sod = pki.sign_sod(&[(1, &dg1), (2, &dg2)])?;
        if tamper_dg2 && let Some(last) = dg2.last_mut() {
            *last ^= 0x01;
        }
        Ok(Self {
            ef_com,
            dg1,
            dg2,
            ef_sod,
        })
    }

    fn file(&self, fid: u16) -> Option<&[u8]> {
        match fid {
            0x011E => Some(&self.ef_com),
            0x0101 => Some(&self.dg1),
            0x0102 => Some(&self.dg2),
            0x011D => Some(&self.ef_sod),
            _ => None,
        }
    }
}

/// A virtual passport: its files, its access key and a fault. `Debug` shows no key material.
#[derive(Clone)]
pub struct VirtualPassport {
    files: PassportFiles,
    keys: BacKeys,
    mrz_information: String,
    pace: Option<PaceCurve>,
    can: Option<String>,
    fault: PassportFault,
    /// The UID the reader reports for this card (GET DATA `FF CA`); none: the reader refuses.
    uid: Option<Vec<u8>>,
}

impl std::fmt::Debug for VirtualPassport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualPassport")
            .field("files", &self.files)
            .field("pace", &self.pace)
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

/// The secure-messaging session the chip has agreed.
enum ChipSm {
    Bac(SecureMessaging),
    Aes(AesSecureMessaging),
}

impl ChipSm {
    fn unwrap_command(&mut self, apdu: &[u8]) -> Option<CommandApdu> {
        match self {
            Self::Bac(sm) => sm.unwrap_command(apdu).ok(),
            Self::Aes(sm) => sm.unwrap_command(apdu).ok(),
        }
    }

    fn wrap_response(&mut self, response: &ResponseApdu) -> Option<Vec<u8>> {
        match self {
            Self::Bac(sm) => sm.wrap_response(response).ok(),
            Self::Aes(sm) => sm.wrap_response(response).ok(),
        }
    }
}

/// Where the chip is in PACE. Holds secrets: no `Debug`.
#[derive(Default)]
enum PaceStep {
    #[default]
    Idle,
    /// MSE:Set AT received with this password.
    Set { k_pi: [u8; 16] },
    /// Nonce sent.
    Nonce { nonce: [u8; 16] },
    /// Mapped generator agreed.
    Mapped { generator: Vec<u8> },
    /// Ephemeral keys exchanged; session keys derived.
    Agreed {
        ks_enc: [u8; 16],
        ks_mac: [u8; 16],
        terminal_key: Vec<u8>,
        chip_key: Vec<u8>,
    },
}

/// The chip's session state between power-ups. Holds secrets: no `Debug`.
#[derive(Default)]
struct ChipState {
    challenge: Option<[u8; 8]>,
    sm: Option<ChipSm>,
    pace: PaceStep,
    selected: Option<u16>,
    reads: u32,
    mac_fault_done: bool,
}

/// EF.CardAccess, readable without access control in the master file.
const FID_CARD_ACCESS: u16 = 0x011C;

fn card_access(curve: PaceCurve) -> Option<Vec<u8>> {
    let oid = icao_lds::encode_oid(pace::OID_PACE_ECDH_GM_AES_128)?;
    let info = [
        encode_tlv(Tag(0x06), &oid).ok()?,
        encode_tlv(Tag(0x02), &[0x02]).ok()?,
        encode_tlv(Tag(0x02), &[curve.parameter_id()]).ok()?,
    ]
    .concat();
    encode_tlv(Tag(0x31), &encode_tlv(Tag(0x30), &info).ok()?).ok()
}

/// The value of `inner` inside a `7C` dynamic authentication data object.
fn dynamic_data(data: &[u8], inner: u32) -> Option<Vec<u8>> {
    let (outer, _) = Tlv::parse(data).ok()?;
    if outer.tag != Tag(0x7C) {
        return None;
    }
    if outer.value.is_empty() {
        return (inner == 0).then(Vec::new);
    }
    let (element, _) = Tlv::parse(outer.value).ok()?;
    (element.tag == Tag(inner)).then(|| element.value.to_vec())
}

fn dynamic_reply(inner: u32, value: &[u8]) -> Reply {
    match encode_tlv(Tag(inner), value).and_then(|v| encode_tlv(Tag(0x7C), &v)) {
        Ok(mut out) => {
            out.extend_from_slice(&SW_OK.to_be_bytes());
            Reply::Send(out)
        }
        Err(_) => plain(0x6F00),
    }
}

impl ChipState {
    /// Forgets the session (power cycle, new application selection) but not which faults were
    /// already shown, so a retry after a one-shot fault can succeed.
    fn reset(&mut self) {
        *self = ChipState {
            reads: self.reads,
            mac_fault_done: self.mac_fault_done,
            ..ChipState::default()
        };
    }
}

/// What to do after one APDU.
enum Reply {
    Send(Vec<u8>),
    PullCard,
}

fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(out)
}

fn plain(sw: u16) -> Reply {
    Reply::Send(sw.to_be_bytes().to_vec())
}

impl VirtualPassport {
    /// A passport holding `files` that opens for `key`, showing `fault`.
    pub fn new(files: PassportFiles, key: &MrzAccessKey, fault: PassportFault) -> Self {
        Self {
            files,
            keys: BacKeys::from_access_key(key),
            mrz_information: key.mrz_information(),
            pace: None,
            can: None,
            fault,
            uid: None,
        }
    }

    /// Gives the card a UID, as a contactless reader reports it for GET DATA (`FF CA 00 00 00`):
    /// an officer's badge.
    pub fn with_uid(mut self, uid: &[u8]) -> Self {
        self.uid = Some(uid.to_vec());
        self
    }

    /// Also offers PACE (ECDH generic mapping, AES-128) on `curve` in EF.CardAccess, with the
    /// MRZ and, when given, the card access number `can` as passwords. BAC stays available.
    pub fn with_pace(mut self, curve: PaceCurve, can: Option<String>) -> Self {
        self.pace = Some(curve);
        self.can = can;
        self
    }

    /// Connects to vpcd at `address` (e.g. `127.0.0.1:35963`) and serves on a named thread
    /// until [`InsertedCard::remove`] or a `PulledAtRead` fault. The card is "inserted" once this
    /// returns.
    pub fn insert(self, address: &str) -> io::Result<InsertedCard> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        let control = stream.try_clone()?;
        let thread = std::thread::Builder::new()
            .name("vpcd-passport".into())
            .spawn(move || self.serve(stream))?;
        Ok(InsertedCard {
            control,
            thread: Some(thread),
        })
    }

    /// Serves on an already connected stream until the peer closes it or the card is pulled.
    pub fn serve(self, mut stream: TcpStream) -> io::Result<()> {
        let mut state = ChipState::default();
        loop {
            // Linux delays ACKs; vpcd writes length and body in two sends, so without this each
            // APDU would wait about 40 ms (see card-readers.md §3b).
            let _ = socket2::SockRef::from(&stream).set_tcp_quickack(true);
            let mut length = [0u8; 2];
            match stream.read_exact(&mut length) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let mut payload = vec![0u8; usize::from(u16::from_be_bytes(length))];
            let _ = socket2::SockRef::from(&stream).set_tcp_quickack(true);
            stream.read_exact(&mut payload)?;
            let reply = match payload.as_slice() {
                [0x00] | [0x01] | [0x02] => {
                    state.reset();
                    continue;
                }
                [0x04] => ATR.to_vec(),
                [_] => continue,
                apdu => match self.answer(&mut state, apdu)? {
                    Reply::Send(bytes) => bytes,
                    Reply::PullCard => {
                        let _ = stream.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                },
            };
            let length = u16::try_from(reply.len()).map_err(io::Error::other)?;
            let mut frame = length.to_be_bytes().to_vec();
            frame.extend_from_slice(&reply);
            stream.write_all(&frame)?;
        }
    }

    fn answer(&self, state: &mut ChipState, apdu: &[u8]) -> io::Result<Reply> {
        // GET DATA (UID) is the reader's own command (class FF), never secure messaging.
        if apdu == [0xFF, 0xCA, 0x00, 0x00, 0x00] {
            return Ok(match &self.uid {
                Some(uid) => {
                    let mut reply = uid.clone();
                    reply.extend_from_slice(&SW_OK.to_be_bytes());
                    Reply::Send(reply)
                }
                None => plain(SW_NOT_FOUND),
            });
        }
        let is_sm = apdu.first().is_some_and(|cla| cla & 0x0C == 0x0C);
        if is_sm {
            let Some(sm) = state.sm.as_mut() else {
                return Ok(plain(SW_SECURITY_NOT_SATISFIED));
            };
            let Some(command) = sm.unwrap_command(apdu) else {
                state.sm = None;
                return Ok(plain(SW_SM_BROKEN));
            };
            if command.ins == 0xB0 {
                state.reads = state.reads.saturating_add(1);
                if self.fault == PassportFault::PulledAtRead(state.reads) {
                    return Ok(Reply::PullCard);
                }
                if self.fault == PassportFault::BrokenMac && !state.mac_fault_done {
                    state.mac_fault_done = true;
                    state.sm = None;
                    return Ok(plain(SW_SM_BROKEN));
                }
            }
            let response = self.protected(state, &command);
            let Some(sm) = state.sm.as_mut() else {
                return Ok(plain(SW_SM_BROKEN));
            };
            return Ok(sm
                .wrap_response(&response)
                .map_or_else(|| plain(SW_SM_BROKEN), Reply::Send));
        }
        let Ok(command) = CommandApdu::parse(apdu) else {
            return Ok(plain(0x6700));
        };
        Ok(match (command.ins, command.p1) {
            (0xA4, 0x04) if command.data == EMRTD_AID => {
                state.reset();
                plain(SW_OK)
            }
            (0xA4, 0x04) => plain(SW_NOT_FOUND),
            (0xA4, 0x00) => plain(SW_OK),
            (0xA4, 0x02)
                if self.pace.is_some() && command.data == FID_CARD_ACCESS.to_be_bytes() =>
            {
                state.selected = Some(FID_CARD_ACCESS);
                plain(SW_OK)
            }
            (0xB0, p1)
                if self.pace.is_some()
                    && (p1 == 0x9C
                        || (p1 & 0x80 == 0 && state.selected == Some(FID_CARD_ACCESS))) =>
            {
                let offset = if p1 == 0x9C {
                    0
                } else {
                    usize::from(u16::from_be_bytes([command.p1, command.p2]))
                };
                let file = self.pace.and_then(card_access).unwrap_or_default();
                let le = usize::from(command.le.unwrap_or(256));
                let mut out = file
                    .get(offset..offset.saturating_add(le).min(file.len()))
                    .unwrap_or_default()
                    .to_vec();
                out.extend_from_slice(&SW_OK.to_be_bytes());
                Reply::Send(out)
            }
            (0x22, _) if self.pace.is_some() => self.set_authentication_template(state, &command),
            (0x86, _) if self.pace.is_some() => self.general_authenticate(state, &command)?,
            (0x84, _) => {
                let challenge = random::<8>()?;
                state.challenge = Some(challenge);
                let mut out = challenge.to_vec();
                out.extend_from_slice(&SW_OK.to_be_bytes());
                Reply::Send(out)
            }
            (0x82, _) => {
                let Some(challenge) = state.challenge.take() else {
                    return Ok(plain(0x6985));
                };
                if self.fault == PassportFault::WrongMrz {
                    return Ok(plain(SW_AUTH_FAILED));
                }
                match bac::chip_authenticate(&self.keys, challenge, random::<16>()?, &command.data)
                {
                    Ok((response, sm)) => {
                        state.sm = Some(ChipSm::Bac(sm));
                        let mut out = response.to_vec();
                        out.extend_from_slice(&SW_OK.to_be_bytes());
                        Reply::Send(out)
                    }
                    Err(_) => plain(SW_AUTH_FAILED),
                }
            }
            (0xB0, _) => plain(SW_SECURITY_NOT_SATISFIED),
            _ => plain(SW_INS_NOT_SUPPORTED),
        })
    }

    fn set_authentication_template(&self, state: &mut ChipState, command: &CommandApdu) -> Reply {
        state.pace = PaceStep::Idle;
        let Ok(objects) = icao_lds::parse_all(&command.data) else {
            return plain(0x6A80);
        };
        let reference = objects
            .iter()
            .find(|o| o.tag == Tag(0x83))
            .and_then(|o| o.value.first().copied());
        let password = match reference {
            Some(1) => PacePassword::Mrz(self.mrz_information.clone()),
            Some(2) => match &self.can {
                Some(can) => PacePassword::Can(can.clone()),
                None => return plain(0x6A88),
            },
            _ => return plain(0x6A80),
        };
        state.pace = PaceStep::Set {
            k_pi: pace::password_key(&password),
        };
        plain(SW_OK)
    }

    fn general_authenticate(
        &self,
        state: &mut ChipState,
        command: &CommandApdu,
    ) -> io::Result<Reply> {
        let Some(curve) = self.pace else {
            return Ok(plain(SW_INS_NOT_SUPPORTED));
        };
        let failed = |state: &mut ChipState| {
            state.pace = PaceStep::Idle;
            plain(SW_AUTH_FAILED)
        };
        let step = std::mem::take(&mut state.pace);
        Ok(match step {
            PaceStep::Set { k_pi } if dynamic_data(&command.data, 0).is_some() => {
                let nonce = random::<16>()?;
                let Ok(encrypted) = pace::encrypt_nonce(&k_pi, &nonce) else {
                    return Ok(failed(state));
                };
                state.pace = PaceStep::Nonce { nonce };
                dynamic_reply(0x80, &encrypted)
            }
            PaceStep::Nonce { nonce } => {
                let Some(terminal_key) = dynamic_data(&command.data, 0x81) else {
                    return Ok(failed(state));
                };
                let secret = pace::random_secret(curve).map_err(io::Error::other)?;
                let (Ok(chip_key), Ok(generator)) = (
                    pace::public_key(curve, None, &secret),
                    pace::map_generator(curve, &nonce, &secret, &terminal_key),
                ) else {
                    return Ok(failed(state));
                };
                state.pace = PaceStep::Mapped { generator };
                dynamic_reply(0x82, &chip_key)
            }
            PaceStep::Mapped { generator } => {
                let Some(terminal_key) = dynamic_data(&command.data, 0x83) else {
                    return Ok(failed(state));
                };
                let secret = pace::random_secret(curve).map_err(io::Error::other)?;
                let (Ok(chip_key), Ok(shared)) = (
                    pace::public_key(curve, Some(&generator), &secret),
                    pace::shared_secret(curve, &secret, &terminal_key),
                ) else {
                    return Ok(failed(state));
                };
                if chip_key == terminal_key {
                    return Ok(failed(state));
                }
                let (ks_enc, ks_mac) = pace::session_keys(&shared);
                let reply = dynamic_reply(0x84, &chip_key);
                state.pace = PaceStep::Agreed {
                    ks_enc,
                    ks_mac,
                    terminal_key,
                    chip_key,
                };
                reply
            }
            PaceStep::Agreed {
                ks_enc,
                ks_mac,
                terminal_key,
                chip_key,
            } => {
                let Some(token) = dynamic_data(&command.data, 0x85) else {
                    return Ok(failed(state));
                };
                let expected = pace::auth_token(&ks_mac, &chip_key).map_err(io::Error::other)?;
                if self.fault == PassportFault::WrongMrz || !pace::tokens_match(&expected, &token) {
                    return Ok(failed(state));
                }
                let Ok(answer) = pace::auth_token(&ks_mac, &terminal_key) else {
                    return Ok(failed(state));
                };
                state.sm = Some(ChipSm::Aes(AesSecureMessaging::new(ks_enc, ks_mac)));
                dynamic_reply(0x86, &answer)
            }
            _ => failed(state),
        })
    }

    fn protected(&self, state: &mut ChipState, command: &CommandApdu) -> ResponseApdu {
        let status = |sw: u16| ResponseApdu {
            data: Vec::new(),
            sw,
        };
        match command.ins {
            0xA4 if command.p1 == 0x04 => status(if command.data == EMRTD_AID {
                SW_OK
            } else {
                SW_NOT_FOUND
            }),
            0xA4 => match command.data.as_slice() {
                &[hi, lo] if self.files.file(u16::from_be_bytes([hi, lo])).is_some() => {
                    state.selected = Some(u16::from_be_bytes([hi, lo]));
                    status(SW_OK)
                }
                _ => status(SW_NOT_FOUND),
            },
            0xB0 => {
                let (fid, offset) = if command.p1 & 0x80 != 0 {
                    // Short file identifier in P1, offset in P2.
                    let fid = 0x0100 | u16::from(command.p1 & 0x1F);
                    state.selected = Some(fid);
                    (Some(fid), usize::from(command.p2))
                } else {
                    (
                        state.selected,
                        usize::from(u16::from_be_bytes([command.p1, command.p2])),
                    )
                };
                let Some(file) = fid.and_then(|fid| self.files.file(fid)) else {
                    return status(SW_NOT_FOUND);
                };
                let le = usize::from(command.le.unwrap_or(256));
                if le > 0xA0 {
                    match self.fault {
                        PassportFault::ShortReads6282 => return status(SW_END_OF_FILE),
                        PassportFault::ShortReads6Cxx => return status(0x6CA0),
                        _ => {}
                    }
                }
                if offset > file.len() {
                    return status(SW_WRONG_P1P2);
                }
                let end = offset.saturating_add(le).min(file.len());
                ResponseApdu {
                    data: file.get(offset..end).unwrap_or_default().to_vec(),
                    sw: if end - offset < le {
                        SW_END_OF_FILE
                    } else {
                        SW_OK
                    },
                }
            }
            _ => status(SW_INS_NOT_SUPPORTED),
        }
    }
}

/// A virtual card connected to vpcd. Dropping it removes the card.
#[derive(Debug)]
pub struct InsertedCard {
    control: TcpStream,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl InsertedCard {
    /// Pulls the card out (closes the socket) and waits for its thread.
    pub fn remove(mut self) -> io::Result<()> {
        self.pull()
    }

    /// Whether the card's thread has ended (the card pulled itself or vpcd closed).
    pub fn is_gone(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the card ends on its own (vpcd closed the connection or a fault pulled it).
    pub fn wait(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| io::Error::other("the virtual passport thread panicked"))?,
            None => Ok(()),
        }
    }

    fn pull(&mut self) -> io::Result<()> {
        let _ = self.control.shutdown(Shutdown::Both);
        match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(Err(e)) if e.kind() != io::ErrorKind::NotConnected => Err(e),
                Ok(_) => Ok(()),
                Err(_) => Err(io::Error::other("the virtual passport thread panicked")),
            },
            None => Ok(()),
        }
    }
}

impl Drop for InsertedCard {
    fn drop(&mut self) {
        let _ = self.pull();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passport() -> VirtualPassport {
        let pki = TestPki::utopia(1_790_000_000).unwrap();
        let files = PassportFiles::build(
            SPECIMEN_MRZ,
            Photo::Jpeg(vec![0xFF, 0xD8, 0xFF, 0xD9]),
            &pki,
            false,
        )
        .unwrap();
        let key = MrzAccessKey::parse_typed("L898902C,740812,341231").unwrap();
        VirtualPassport::new(files, &key, PassportFault::None)
            .with_pace(PaceCurve::Secp256r1, Some("123456".into()))
    }

    #[test]
    fn the_specimen_dg1_parses_back_to_the_specimen_key() {
        let mrz = icao_lds::parse_dg1(&passport().files.dg1).unwrap();
        assert_eq!(
            mrz.access_key().mrz_information(),
            "L898902C<374081223412318"
        );
    }

    #[test]
    fn debug_output_names_no_key_material_or_person() {
        let text = format!("{:?}", passport());
        for secret in ["L898902C", "740812", "341231", "123456", "ERIKSSON"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn fault_names_parse() {
        assert_eq!(
            PassportFault::parse("pulled:3"),
            Some(PassportFault::PulledAtRead(3))
        );
        assert_eq!(
            PassportFault::parse("broken-mac"),
            Some(PassportFault::BrokenMac)
        );
        assert_eq!(PassportFault::parse("nonsense"), None);
    }
}
