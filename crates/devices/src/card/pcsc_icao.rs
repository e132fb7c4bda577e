//! `PcscIcaoReader`: reads ICAO eMRTDs (e-passports, eID cards) through PC/SC (pcscd) with the
//! `pcsc` crate: presence from reader state, PACE (ECDH-GM, AES-128, when EF.CardAccess offers
//! it) or BAC, secure-messaging reads of EF.COM, DG1, DG2 and EF.SOD, and passive
//! authentication against a CSCA store given to it. It is blocking and runs on the caller's
//! device thread. It does not do Active/Chip Authentication, and it does not decide flow steps.

use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use crate::card::{CardError, CardErrorKind, CardReader, Presence, ReaderInfo};
use enroll_core::domain::card_read::{
    AccessKey, CARD_READ_FORMAT, CardRead, DataGroupBytes, RawEvidence, Verification,
};
use enroll_core::domain::document::base64_bytes;
use enroll_core::domain::icao_lds::EMRTD_AID;
use enroll_core::domain::icao_lds::{self, Tag, Tlv, encode_tlv};
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::bac::{
    BacError, BacKeys, CommandApdu, ResponseApdu, SecureMessaging, TerminalAuthentication,
};
use enroll_crypto::pace::{self, AesSecureMessaging, PaceCurve, PaceError, PacePassword};
use enroll_crypto::passive_auth;

/// The message of a refused access key (BAC `63 00`). Fixed: it names no personal data.
pub const ACCESS_DENIED_MESSAGE: &str =
    "access denied: check the document number, birth date and expiry";

/// The first READ BINARY chunk size: fits a 3DES-SM response into a short APDU.
pub const READ_CHUNK_LEN: u8 = 0xDF;
/// The fallback chunk size after `62 82` / `6C xx` (works on every chip seen so far).
pub const FALLBACK_CHUNK_LEN: u8 = 0xA0;

const FID_EF_COM: u16 = 0x011E;
const FID_DG1: u16 = 0x0101;
const FID_DG2: u16 = 0x0102;
const FID_EF_SOD: u16 = 0x011D;
const MAX_FILE_LEN: usize = 512 * 1024;

/// Clock source: the wall-clock time now. Injected so the reader never reads the system clock.
pub type UnixClock = Box<dyn Fn() -> UnixMs + Send>;

fn device_gone(detail: &str) -> CardError {
    CardError::new(
        CardErrorKind::DeviceGone,
        format!(
            "pc/sc service or reader not available; start pcscd and check the reader ({detail})"
        ),
    )
}

pub(crate) fn map_pcsc(error: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match error {
        E::RemovedCard
        | E::ResetCard
        | E::NotTransacted
        | E::UnpoweredCard
        | E::UnresponsiveCard => CardError::new(
            CardErrorKind::CardRemoved,
            "the card left the reader during the read; place it again",
        ),
        E::NoSmartcard => CardError::new(CardErrorKind::NoCard, "no card on the reader"),
        E::Timeout => CardError::new(CardErrorKind::Timeout, "the reader did not answer in time"),
        E::SharingViolation => CardError::new(
            CardErrorKind::PermissionDenied,
            "another program holds the card; close it and try again",
        ),
        E::NoService
        | E::ServiceStopped
        | E::NoReadersAvailable
        | E::ReaderUnavailable
        | E::UnknownReader
        | E::InvalidHandle
        | E::CommError => device_gone(&format!("{error}")),
        other => CardError::new(CardErrorKind::Protocol, format!("pc/sc error: {other}")),
    }
}

fn protocol(what: &str) -> CardError {
    CardError::new(
        CardErrorKind::Protocol,
        format!("{what}; remove the document and read it again"),
    )
}

fn map_sm(error: BacError) -> CardError {
    match error {
        BacError::Unprotected { sw: 0x6988 } | BacError::MacMismatch => {
            protocol("secure messaging broke (checksum mismatch, 69 88)")
        }
        other => CardError::new(CardErrorKind::Protocol, other.to_string()),
    }
}

fn status_error(what: &str, sw: u16) -> CardError {
    CardError::new(
        CardErrorKind::ReaderStatus,
        format!("{what} answered {sw:04X}; remove the document and read it again"),
    )
}

/// Lists the PC/SC readers pcscd knows (for `kiosk card readers`).
pub fn list_readers() -> Result<Vec<String>, CardError> {
    let context = Context::establish(Scope::User).map_err(map_pcsc)?;
    match context.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_pcsc(e)),
    }
}

/// Loads the CSCA certificates (`*.der`, `*.cer`, `*.crt`, `*.pem`) of a directory, sorted by
/// file name. PEM files may hold several certificates.
pub fn load_csca_dir(dir: &Path) -> Result<Vec<Vec<u8>>, CardError> {
    let unreadable = |e: std::io::Error| {
        CardError::new(
            CardErrorKind::Unsupported,
            format!("cannot read the csca directory {}: {e}", dir.display()),
        )
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    let mut certificates = Vec::new();
    for path in paths {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("der" | "cer" | "crt") => {
                certificates.push(std::fs::read(&path).map_err(unreadable)?);
            }
            Some("pem") => {
                let text = std::fs::read_to_string(&path).map_err(unreadable)?;
                let mut body = String::new();
                let mut inside = false;
                for line in text.lines().map(str::trim) {
                    if line.starts_with("-----BEGIN CERTIFICATE") {
                        inside = true;
                        body.clear();
                    } else if line.starts_with("-----END CERTIFICATE") {
                        inside = false;
                        let der = base64_bytes::decode(&body).ok_or_else(|| {
                            CardError::new(
                                CardErrorKind::Unsupported,
                                format!("{} holds a damaged certificate", path.display()),
                            )
                        })?;
                        certificates.push(der);
                    } else if inside {
                        body.push_str(line);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(certificates)
}

/// An ICAO chip reader on PC/SC.
pub struct PcscIcaoReader {
    wanted_reader: Option<String>,
    csca_store_der: Vec<Vec<u8>>,
    clock: UnixClock,
    context: Option<Context>,
    reader_name: Option<CString>,
    last_atr: Option<Vec<u8>>,
    must_remove: bool,
    use_pace: bool,
    last_access_control: Option<AccessControl>,
}

impl std::fmt::Debug for PcscIcaoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscIcaoReader")
            .field("wanted_reader", &self.wanted_reader)
            .field("csca_count", &self.csca_store_der.len())
            .finish_non_exhaustive()
    }
}

/// The secure messaging agreed with the chip.
enum Session {
    Bac(SecureMessaging),
    Aes(AesSecureMessaging),
}

fn map_pace_sm(error: PaceError) -> CardError {
    match error {
        PaceError::Unprotected { sw: 0x6988 } | PaceError::MacMismatch => {
            protocol("secure messaging broke (checksum mismatch, 69 88)")
        }
        other => CardError::new(CardErrorKind::Protocol, other.to_string()),
    }
}

impl Session {
    fn wrap_command(&mut self, command: &CommandApdu) -> Result<Vec<u8>, CardError> {
        match self {
            Self::Bac(sm) => sm.wrap_command(command).map_err(map_sm),
            Self::Aes(sm) => sm.wrap_command(command).map_err(map_pace_sm),
        }
    }

    fn unwrap_response(&mut self, answer: &[u8]) -> Result<ResponseApdu, CardError> {
        match self {
            Self::Bac(sm) => sm.unwrap_response(answer).map_err(map_sm),
            Self::Aes(sm) => sm.unwrap_response(answer).map_err(map_pace_sm),
        }
    }
}

/// Which access control opened the chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessControl {
    /// Basic Access Control (3DES).
    Bac,
    /// PACE ECDH generic mapping with AES-128 on this curve.
    Pace(PaceCurve),
}

/// A secure-messaging channel to the chip.
struct Channel<'a> {
    card: &'a Card,
    sm: Session,
    chunk_len: u8,
}

fn transmit(card: &Card, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    let response = card.transmit(apdu, &mut buffer).map_err(map_pcsc)?;
    if response.len() < 2 {
        // No status word at all: the chip left the field mid-exchange (vpcd reports a closed
        // socket this way; contactless readers do the same when the field is lost).
        return Err(CardError::new(
            CardErrorKind::CardRemoved,
            "the card stopped answering during the read; place it again",
        ));
    }
    Ok(response.to_vec())
}

fn plain(card: &Card, command: &CommandApdu) -> Result<ResponseApdu, CardError> {
    let bytes = command
        .encode()
        .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))?;
    ResponseApdu::parse(&transmit(card, &bytes)?)
        .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))
}

impl Channel<'_> {
    fn send(&mut self, command: &CommandApdu) -> Result<ResponseApdu, CardError> {
        let protected = self.sm.wrap_command(command)?;
        let answer = transmit(self.card, &protected)?;
        self.sm.unwrap_response(&answer)
    }

    fn select(&mut self, fid: u16) -> Result<bool, CardError> {
        let response = self.send(&CommandApdu {
            cla: 0x00,
            ins: 0xA4,
            p1: 0x02,
            p2: 0x0C,
            data: fid.to_be_bytes().to_vec(),
            le: None,
        })?;
        match response.sw {
            0x9000 => Ok(true),
            0x6A82 => Ok(false),
            sw => Err(status_error("SELECT", sw)),
        }
    }

    fn read_binary(&mut self, offset: usize, len: u8) -> Result<ResponseApdu, CardError> {
        let offset = u16::try_from(offset)
            .ok()
            .filter(|o| *o <= 0x7FFF)
            .ok_or_else(|| protocol("the file is longer than READ BINARY can address"))?;
        self.send(&CommandApdu {
            cla: 0x00,
            ins: 0xB0,
            p1: offset.to_be_bytes()[0],
            p2: offset.to_be_bytes()[1],
            data: Vec::new(),
            le: Some(u16::from(len)),
        })
    }

    /// Reads `len` bytes at `offset`, shrinking the chunk size on `62 82` / `6C xx`.
    fn read_chunk(&mut self, offset: usize, len: u8) -> Result<Vec<u8>, CardError> {
        let mut want = len.min(self.chunk_len);
        loop {
            let response = self.read_binary(offset, want)?;
            match response.sw {
                0x9000 => return Ok(response.data),
                0x6282 if !response.data.is_empty() => return Ok(response.data),
                0x6282 => want = self.shrink(want)?,
                sw if sw & 0xFF00 == 0x6C00 => {
                    let hint = u8::try_from(sw & 0xFF).unwrap_or(0);
                    want = if hint > 0 && hint < want {
                        self.chunk_len = hint;
                        hint
                    } else {
                        self.shrink(want)?
                    };
                }
                sw => return Err(status_error("READ BINARY", sw)),
            }
        }
    }

    fn shrink(&mut self, current: u8) -> Result<u8, CardError> {
        let next = if current > FALLBACK_CHUNK_LEN {
            FALLBACK_CHUNK_LEN
        } else {
            current / 2
        };
        if next < 0x10 {
            return Err(protocol("the chip refuses every read size"));
        }
        self.chunk_len = next;
        Ok(next)
    }

    /// Selects and reads a whole file: its TLV header first, then the rest in chunks.
    fn read_file(&mut self, fid: u16) -> Result<Option<Vec<u8>>, CardError> {
        if !self.select(fid)? {
            return Ok(None);
        }
        let mut file = self.read_chunk(0, 4)?;
        let total = file_length(&file)?;
        if total > MAX_FILE_LEN {
            return Err(protocol("a file announces an implausible length"));
        }
        file.truncate(total);
        while file.len() < total {
            let remaining = total - file.len();
            let want = u8::try_from(remaining.min(usize::from(self.chunk_len)))
                .unwrap_or(FALLBACK_CHUNK_LEN);
            let chunk = self.read_chunk(file.len(), want)?;
            if chunk.is_empty() {
                return Err(protocol(
                    "the chip returned an empty chunk before the end of a file",
                ));
            }
            file.extend_from_slice(&chunk);
        }
        file.truncate(total);
        Ok(Some(file))
    }
}

/// The whole length of a TLV file from its first bytes (tag of one or two bytes, BER length).
fn file_length(header: &[u8]) -> Result<usize, CardError> {
    let malformed = || protocol("a file header is malformed");
    let tag_len = match header.first() {
        Some(tag) if tag & 0x1F == 0x1F => 2,
        Some(_) => 1,
        None => return Err(malformed()),
    };
    let length = header.get(tag_len..).ok_or_else(malformed)?;
    match length {
        [short, ..] if *short < 0x80 => Ok(tag_len + 1 + usize::from(*short)),
        [0x81, a, ..] => Ok(tag_len + 2 + usize::from(*a)),
        [0x82, a, b, ..] => Ok(tag_len + 3 + usize::from(u16::from_be_bytes([*a, *b]))),
        [0x83, ..] if header.len() >= tag_len + 4 => {
            Err(protocol("a file is longer than this terminal reads"))
        }
        _ => Err(malformed()),
    }
}

fn access_denied() -> CardError {
    CardError::new(CardErrorKind::AccessDenied, ACCESS_DENIED_MESSAGE)
}

fn select_aid_plain(card: &Card) -> Result<u16, CardError> {
    Ok(plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0xA4,
            p1: 0x04,
            p2: 0x0C,
            data: EMRTD_AID.to_vec(),
            le: None,
        },
    )?
    .sw)
}

/// Reads EF.CardAccess (SFI 1C) and returns the curve of a PACE-ECDH-GM-AES-128 PACEInfo this
/// terminal supports, if the chip offers one.
fn supported_pace(card: &Card) -> Result<Option<PaceCurve>, CardError> {
    let _ = plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0xA4,
            p1: 0x00,
            p2: 0x0C,
            data: Vec::new(),
            le: None,
        },
    )?;
    let answer = plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0xB0,
            p1: 0x9C,
            p2: 0x00,
            data: Vec::new(),
            le: Some(256),
        },
    )?;
    if !matches!(answer.sw, 0x9000 | 0x6282) || answer.data.is_empty() {
        return Ok(None);
    }
    let Ok((set, _)) = Tlv::parse(&answer.data) else {
        return Ok(None);
    };
    let infos = set.children().unwrap_or_default();
    Ok(infos.iter().find_map(|info| {
        let fields = info.children().ok()?;
        let oid = icao_lds::decode_oid(fields.first()?.value)?;
        if oid != pace::OID_PACE_ECDH_GM_AES_128 {
            return None;
        }
        let parameter = fields.get(2).filter(|f| f.tag == Tag(0x02))?.value;
        PaceCurve::from_parameter_id(*parameter.last()?)
    }))
}

fn general_authenticate(
    card: &Card,
    last: bool,
    inner: u32,
    value: &[u8],
    answer_tag: u32,
) -> Result<Vec<u8>, CardError> {
    let malformed = || protocol("the chip's PACE answer is malformed");
    let data = if value.is_empty() && inner == 0 {
        vec![0x7C, 0x00]
    } else {
        encode_tlv(
            Tag(0x7C),
            &encode_tlv(Tag(inner), value).map_err(|_| malformed())?,
        )
        .map_err(|_| malformed())?
    };
    let answer = plain(
        card,
        &CommandApdu {
            cla: if last { 0x00 } else { 0x10 },
            ins: 0x86,
            p1: 0x00,
            p2: 0x00,
            data,
            le: Some(256),
        },
    )?;
    match answer.sw {
        0x9000 => {}
        0x6300 | 0x6982 => return Err(access_denied()),
        sw => return Err(status_error("GENERAL AUTHENTICATE", sw)),
    }
    let (outer, _) = Tlv::parse(&answer.data).map_err(|_| malformed())?;
    let (element, _) = Tlv::parse(outer.value).map_err(|_| malformed())?;
    if outer.tag != Tag(0x7C) || element.tag != Tag(answer_tag) {
        return Err(malformed());
    }
    Ok(element.value.to_vec())
}

/// Runs PACE (ECDH generic mapping, AES-128) and returns the secure-messaging session.
fn run_pace(
    card: &Card,
    curve: PaceCurve,
    password: &PacePassword,
) -> Result<AesSecureMessaging, CardError> {
    let crypto = |e: PaceError| CardError::new(CardErrorKind::Protocol, e.to_string());
    let oid = icao_lds::encode_oid(pace::OID_PACE_ECDH_GM_AES_128)
        .ok_or_else(|| protocol("bad PACE object identifier"))?;
    let template = [
        encode_tlv(Tag(0x80), &oid),
        encode_tlv(Tag(0x83), &[password.reference()]),
        encode_tlv(Tag(0x84), &[curve.parameter_id()]),
    ]
    .into_iter()
    .collect::<Result<Vec<_>, _>>()
    .map_err(|_| protocol("bad PACE template"))?
    .concat();
    let set = plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0x22,
            p1: 0xC1,
            p2: 0xA4,
            data: template,
            le: None,
        },
    )?;
    match set.sw {
        0x9000 => {}
        0x6A88 | 0x6A80 if password.reference() == 2 => return Err(access_denied()),
        sw => return Err(status_error("MSE:Set AT", sw)),
    }
    let k_pi = pace::password_key(password);
    let encrypted = general_authenticate(card, false, 0, &[], 0x80)?;
    let nonce = pace::decrypt_nonce(&k_pi, &encrypted).map_err(crypto)?;
    let map_secret = pace::random_secret(curve).map_err(crypto)?;
    let map_key = pace::public_key(curve, None, &map_secret).map_err(crypto)?;
    let chip_map_key = general_authenticate(card, false, 0x81, &map_key, 0x82)?;
    let generator =
        pace::map_generator(curve, &nonce, &map_secret, &chip_map_key).map_err(crypto)?;
    let secret = pace::random_secret(curve).map_err(crypto)?;
    let terminal_key = pace::public_key(curve, Some(&generator), &secret).map_err(crypto)?;
    let chip_key = general_authenticate(card, false, 0x83, &terminal_key, 0x84)?;
    if chip_key == terminal_key {
        return Err(protocol("the chip echoed the terminal's PACE key"));
    }
    let shared = pace::shared_secret(curve, &secret, &chip_key).map_err(crypto)?;
    let (ks_enc, ks_mac) = pace::session_keys(&shared);
    let token = pace::auth_token(&ks_mac, &chip_key).map_err(crypto)?;
    let chip_token = general_authenticate(card, true, 0x85, &token, 0x86)?;
    let expected = pace::auth_token(&ks_mac, &terminal_key).map_err(crypto)?;
    if !pace::tokens_match(&expected, &chip_token) {
        return Err(protocol(
            "the chip's PACE token is wrong; it may not be genuine",
        ));
    }
    Ok(AesSecureMessaging::new(ks_enc, ks_mac))
}

/// Runs BAC and returns the 3DES secure-messaging session.
fn run_bac(card: &Card, key: &MrzAccessKey) -> Result<SecureMessaging, CardError> {
    let sw = select_aid_plain(card)?;
    if sw != 0x9000 {
        return Err(CardError::new(
            CardErrorKind::Unsupported,
            format!("the card is not an ICAO travel document (SELECT answered {sw:04X})"),
        ));
    }
    let challenge = plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0x84,
            p1: 0x00,
            p2: 0x00,
            data: Vec::new(),
            le: Some(8),
        },
    )?;
    let rnd_ic = <[u8; 8]>::try_from(challenge.data.as_slice())
        .ok()
        .filter(|_| challenge.sw == 0x9000)
        .ok_or_else(|| status_error("GET CHALLENGE", challenge.sw))?;
    let mut secrets = [0u8; 24];
    getrandom::fill(&mut secrets)
        .map_err(|_| CardError::new(CardErrorKind::Protocol, "the random source failed"))?;
    let (rnd_ifd, k_ifd) = secrets.split_at(8);
    let rnd_ifd = <[u8; 8]>::try_from(rnd_ifd).unwrap_or_default();
    let k_ifd = <[u8; 16]>::try_from(k_ifd).unwrap_or_default();
    let keys = BacKeys::from_access_key(key);
    let (auth, command) = TerminalAuthentication::start(&keys, rnd_ic, rnd_ifd, k_ifd)
        .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))?;
    let answer = plain(
        card,
        &CommandApdu {
            cla: 0x00,
            ins: 0x82,
            p1: 0x00,
            p2: 0x00,
            data: command.to_vec(),
            le: Some(40),
        },
    )?;
    match answer.sw {
        0x9000 => {}
        0x6300 | 0x6982 => return Err(access_denied()),
        sw => return Err(status_error("EXTERNAL AUTHENTICATE", sw)),
    }
    auth.finish(&answer.data).map_err(|_| access_denied())
}

impl PcscIcaoReader {
    /// A reader on the PC/SC reader whose name contains `reader_name` (the first reader when
    /// `None`), trusting the CSCA certificates `csca_store_der` (DER), reading time from `clock`.
    pub fn new(
        reader_name: Option<String>,
        csca_store_der: Vec<Vec<u8>>,
        clock: UnixClock,
    ) -> Self {
        Self {
            wanted_reader: reader_name,
            csca_store_der,
            clock,
            context: None,
            reader_name: None,
            last_atr: None,
            must_remove: false,
            use_pace: true,
            last_access_control: None,
        }
    }

    /// Whether to try PACE before BAC when the chip offers it (the default, as ICAO 9303
    /// requires); with `false` only BAC is used.
    pub fn with_pace(mut self, use_pace: bool) -> Self {
        self.use_pace = use_pace;
        self
    }

    /// The access control the last successful authentication used.
    pub fn last_access_control(&self) -> Option<AccessControl> {
        self.last_access_control
    }

    fn context(&mut self) -> Result<(&Context, CString), CardError> {
        if self.context.as_ref().is_none_or(|c| c.is_valid().is_err()) {
            self.context = None;
            self.reader_name = None;
            self.context = Some(Context::establish(Scope::User).map_err(map_pcsc)?);
        }
        let context = self
            .context
            .as_ref()
            .ok_or_else(|| device_gone("no context"))?;
        if self.reader_name.is_none() {
            let names = match context.list_readers_owned() {
                Ok(names) => names,
                Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => return Err(map_pcsc(e)),
            };
            let chosen = match &self.wanted_reader {
                Some(wanted) => names
                    .into_iter()
                    .find(|n| n.to_string_lossy().contains(wanted.as_str())),
                None => names.into_iter().next(),
            };
            self.reader_name = Some(chosen.ok_or_else(|| {
                CardError::new(
                    CardErrorKind::DeviceGone,
                    "no matching pc/sc reader; connect the reader, start pcscd, or check card_reader.reader_name",
                )
            })?);
        }
        let name = self
            .reader_name
            .clone()
            .ok_or_else(|| device_gone("no reader"))?;
        Ok((context, name))
    }

    fn forget_context_on(&mut self, error: &CardError) {
        if error.kind() == CardErrorKind::DeviceGone {
            self.context = None;
            self.reader_name = None;
        }
    }

    /// The reader's state after waiting up to `timeout` for it to differ from `known`.
    fn state(&mut self, known: State, timeout: Duration) -> Result<State, CardError> {
        let result = (|| {
            let (context, name) = self.context()?;
            let mut states = [ReaderState::new(name, known)];
            match context.get_status_change(timeout, &mut states) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(map_pcsc(e)),
            }
            let [state] = states;
            Ok((state.event_state(), state.atr().to_vec()))
        })();
        match result {
            Ok((state, atr)) => {
                if state.contains(State::PRESENT) {
                    self.last_atr = Some(atr);
                } else {
                    self.last_atr = None;
                }
                Ok(state - State::CHANGED)
            }
            Err(error) => {
                self.forget_context_on(&error);
                Err(error)
            }
        }
    }

    fn wait_for(
        &mut self,
        timeout: Duration,
        done: impl Fn(State) -> bool,
    ) -> Result<bool, CardError> {
        let deadline = Instant::now() + timeout;
        let mut known = State::UNAWARE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let state = self.state(known, left)?;
            if done(state) {
                return Ok(true);
            }
            if left.is_zero() {
                return Ok(false);
            }
            known = state;
        }
    }

    fn read_card(&mut self, key: &AccessKey) -> Result<CardRead, CardError> {
        let (context, name) = self.context()?;
        let mut card = context
            .connect(&name, ShareMode::Shared, Protocols::ANY)
            .map_err(map_pcsc)?;
        // One transaction for the whole read: no other PC/SC client can slip APDUs into the
        // secure-messaging sequence.
        let result = match card.transaction() {
            Ok(transaction) => {
                let result = self.read_connected(&transaction, key);
                let _ = transaction.end(Disposition::LeaveCard);
                result
            }
            Err(error) => Err(map_pcsc(error)),
        };
        let _ = card.disconnect(Disposition::LeaveCard);
        result
    }

    fn read_connected(&mut self, card: &Card, key: &AccessKey) -> Result<CardRead, CardError> {
        let pace_curve = if self.use_pace {
            supported_pace(card)?
        } else {
            None
        };
        let (session, access_control) = match (pace_curve, key) {
            (Some(curve), AccessKey::Mrz(mrz)) => (
                Session::Aes(run_pace(
                    card,
                    curve,
                    &PacePassword::Mrz(mrz.mrz_information()),
                )?),
                AccessControl::Pace(curve),
            ),
            (Some(curve), AccessKey::Can(can)) => (
                Session::Aes(run_pace(card, curve, &PacePassword::Can(can.clone()))?),
                AccessControl::Pace(curve),
            ),
            (None, AccessKey::Mrz(mrz)) => (Session::Bac(run_bac(card, mrz)?), AccessControl::Bac),
            (None, AccessKey::Can(_)) => {
                return Err(CardError::new(
                    CardErrorKind::Unsupported,
                    "this chip does not offer PACE, so a card access number cannot open it; use the MRZ",
                ));
            }
            (_, AccessKey::None) => {
                return Err(CardError::new(
                    CardErrorKind::Unsupported,
                    "an ICAO chip needs the MRZ (document number, birth date, expiry) to be read",
                ));
            }
        };
        self.last_access_control = Some(access_control);
        let mut channel = Channel {
            card,
            sm: session,
            chunk_len: READ_CHUNK_LEN,
        };
        if let AccessControl::Pace(_) = access_control {
            let selected = channel.send(&CommandApdu {
                cla: 0x00,
                ins: 0xA4,
                p1: 0x04,
                p2: 0x0C,
                data: EMRTD_AID.to_vec(),
                le: None,
            })?;
            if selected.sw != 0x9000 {
                return Err(status_error("SELECT eMRTD application", selected.sw));
            }
        }
        let _ef_com = channel.read_file(FID_EF_COM)?;
        let dg1 = channel
            .read_file(FID_DG1)?
            .ok_or_else(|| protocol("the chip has no DG1"))?;
        let dg2 = channel.read_file(FID_DG2)?;
        let ef_sod = channel.read_file(FID_EF_SOD)?;
        self.assemble(dg1, dg2, ef_sod)
    }

    fn assemble(
        &self,
        dg1: Vec<u8>,
        dg2: Option<Vec<u8>>,
        ef_sod: Option<Vec<u8>>,
    ) -> Result<CardRead, CardError> {
        let now = (self.clock)();
        let now_unix_s = now.secs();
        let today = now
            .utc_date()
            .ok_or_else(|| CardError::new(CardErrorKind::Protocol, "the clock is out of range"))?;
        let mrz = icao_lds::parse_dg1(&dg1)
            .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))?;
        let mut identity = mrz
            .to_identity(today)
            .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))?;
        if let Some(dg2) = &dg2 {
            identity.photo = icao_lds::dg2_photo(dg2)
                .map_err(|e| CardError::new(CardErrorKind::Protocol, e.to_string()))?;
        }
        let mut data_groups = vec![DataGroupBytes {
            number: 1,
            bytes: dg1,
        }];
        if let Some(bytes) = dg2 {
            data_groups.push(DataGroupBytes { number: 2, bytes });
        }
        let verification = match &ef_sod {
            None => Verification::NotVerified {
                reason: "the chip has no EF.SOD".into(),
            },
            Some(_) if self.csca_store_der.is_empty() => Verification::NotVerified {
                reason: "no CSCA certificates configured (card_reader.csca_dir)".into(),
            },
            Some(sod) => passive_auth::verify(sod, &data_groups, &self.csca_store_der, now_unix_s)
                .to_verification(),
        };
        Ok(CardRead {
            format: CARD_READ_FORMAT,
            identity,
            verification,
            evidence: RawEvidence {
                sam_text_block: None,
                data_groups,
                ef_sod,
            },
            reader: format!(
                "pcsc:{}",
                self.reader_name
                    .as_ref()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        })
    }
}

impl CardReader for PcscIcaoReader {
    fn info(&self) -> ReaderInfo {
        ReaderInfo {
            backend: "pcsc".into(),
            device: self
                .reader_name
                .as_ref()
                .map(|n| n.to_string_lossy().into_owned())
                .or_else(|| self.wanted_reader.clone())
                .unwrap_or_default(),
            sam_id: None,
            atr_hex: self
                .last_atr
                .as_ref()
                .map(|atr| atr.iter().map(|b| format!("{b:02X}")).collect()),
        }
    }

    fn presence(&mut self) -> Result<Presence, CardError> {
        let state = self.state(State::UNAWARE, Duration::ZERO)?;
        if state.contains(State::PRESENT) && !state.contains(State::MUTE) {
            Ok(if self.must_remove {
                Presence::MustRemove
            } else {
                Presence::CardPresent
            })
        } else {
            self.must_remove = false;
            Ok(Presence::NoCard)
        }
    }

    fn wait_for_card(&mut self, timeout: Duration) -> Result<(), CardError> {
        let present = |s: State| s.contains(State::PRESENT) && !s.contains(State::MUTE);
        if self.wait_for(timeout, present)? {
            Ok(())
        } else {
            Err(CardError::new(
                CardErrorKind::NoCard,
                "no card was placed on the reader",
            ))
        }
    }

    fn read(&mut self, key: &AccessKey) -> Result<CardRead, CardError> {
        self.last_access_control = None;
        if *key == AccessKey::None {
            return Err(CardError::new(
                CardErrorKind::Unsupported,
                "an ICAO chip needs the MRZ (document number, birth date, expiry) or the card access number to be read",
            ));
        }
        match self.read_card(key) {
            Ok(read) => {
                self.must_remove = true;
                Ok(read)
            }
            Err(error) => {
                self.forget_context_on(&error);
                Err(error)
            }
        }
    }

    fn wait_for_removal(&mut self, timeout: Duration) -> Result<(), CardError> {
        if self.wait_for(timeout, |s| s.contains(State::EMPTY))? {
            self.must_remove = false;
            Ok(())
        } else {
            Err(CardError::new(
                CardErrorKind::MustRemoveCard,
                "the card is still on the reader; remove it",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lengths_come_from_the_tlv_header() {
        assert_eq!(file_length(&[0x60, 0x14, 0x5F, 0x01]).unwrap(), 0x16);
        assert_eq!(file_length(&[0x75, 0x81, 0xF0, 0x7F]).unwrap(), 0xF3);
        assert_eq!(file_length(&[0x77, 0x82, 0x05, 0x00]).unwrap(), 0x504);
        assert!(file_length(&[0x77, 0x80]).is_err());
    }
}
