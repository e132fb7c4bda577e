//! The resident-ID SAM serial frame codec ("AA AA AA 96 69" frames): encoding and incremental decoding of
//! command and response frames, SW3 status codes, and the payloads of find, select, SAM id and read
//! responses. It does no I/O and does not interpret the 256-byte text block (see `id_text`).
//!
//! Frame layout (protocol doc §1.2): preamble `AA AA AA 96 69`, LEN (u16 big-endian, counts everything
//! after itself including the checksum), body, and an XOR checksum over LEN and body.

use std::fmt;

use thiserror::Error;

/// The five bytes that start every frame in both directions: three sync bytes and `96 69`.
pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];

/// Bytes before the body: preamble plus the two-byte LEN field.
pub const HEADER_LEN: usize = PREAMBLE.len() + 2;

/// Largest LEN the decoder accepts by default. The longest real response (read with a 1024-byte
/// fingerprint) has LEN `0x090A` (2314); anything far above that is a corrupted length field.
pub const DEFAULT_MAX_LEN: u16 = 4096;

/// Smallest LEN of a command frame: CMD, Para and the checksum.
pub const MIN_COMMAND_LEN: u16 = 3;

/// Smallest LEN of a response frame: SW1, SW2, SW3 and the checksum.
pub const MIN_RESPONSE_LEN: u16 = 4;

/// Length of the identity text block in a read response (protocol doc §1.6).
pub const TEXT_BLOCK_LEN: usize = 256;

/// Length of the WLT photo in a read response (protocol doc §1.7).
pub const PHOTO_LEN: usize = 1024;

/// Length of one fingerprint feature template; a card holds none, one or two.
pub const FINGERPRINT_TEMPLATE_LEN: usize = 512;

/// Errors while encoding or decoding the frame envelope (preamble, LEN, checksum).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The LEN field is below the minimum for this direction.
    #[error(
        "frame length field {len} is below the minimum of {min}; the reader sent a malformed frame, \
         retry and check the cable"
    )]
    LengthTooShort {
        /// The LEN value received.
        len: u16,
        /// The smallest valid LEN.
        min: u16,
    },
    /// The LEN field is larger than any frame this protocol sends.
    #[error(
        "frame length field {len} exceeds the maximum of {max}; the line is corrupted or the device \
         is not a SAM reader, retry and check the cable and port"
    )]
    LengthTooLong {
        /// The LEN value received.
        len: u16,
        /// The largest LEN the decoder accepts.
        max: u16,
    },
    /// The XOR checksum at the end of the frame does not match its contents.
    #[error(
        "frame checksum mismatch (computed {computed:#04x}, received {received:#04x}); the frame was \
         damaged in transit, retry the command"
    )]
    ChecksumMismatch {
        /// Checksum computed over LEN and body.
        computed: u8,
        /// Checksum byte that arrived.
        received: u8,
    },
    /// The body to encode does not fit in the 16-bit LEN field.
    #[error("frame body of {len} bytes does not fit the 16-bit length field; send less data")]
    BodyTooLong {
        /// Body length requested.
        len: usize,
    },
}

/// Errors while interpreting the body of a response frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// The reader answered with a status other than success.
    #[error("reader answered {status} (sw1 {sw1:#04x}, sw2 {sw2:#04x}); {action}", action = status.operator_action())]
    Status {
        /// The SW3 status.
        status: SamStatus,
        /// Card APDU status byte 1 forwarded by the reader.
        sw1: u8,
        /// Card APDU status byte 2 forwarded by the reader.
        sw2: u8,
    },
    /// A response that must carry a fixed number of data bytes carried another number.
    #[error(
        "{what} response carries {actual} data bytes, expected {expected}; the reader firmware is \
         incompatible or the frame is damaged, retry the read"
    )]
    WrongDataLength {
        /// Which response.
        what: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// The length fields inside a read response do not add up to the frame's data length.
    #[error(
        "{what} response length fields announce {declared} bytes but the frame carries {actual}; the \
         frame is damaged or truncated, retry the read"
    )]
    InconsistentLengths {
        /// Which response.
        what: &'static str,
        /// Bytes announced by the length fields (including the fields themselves).
        declared: usize,
        /// Data bytes in the frame.
        actual: usize,
    },
    /// The fingerprint length is not 0, 512 or 1024.
    #[error(
        "fingerprint length {len} is not 0, 512 or 1024; the frame is damaged or the reader is \
         incompatible, retry the read"
    )]
    UnexpectedFingerprintLength {
        /// Length field value.
        len: usize,
    },
    /// A field to encode does not fit its 16-bit length field.
    #[error(
        "{what} of {len} bytes does not fit a 16-bit length field; this is a bug in the caller"
    )]
    FieldTooLong {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The frame envelope itself could not be built.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// XOR of all bytes: the frame checksum over LEN and body.
pub fn xor_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Wraps a body (everything between LEN and the checksum) into a complete frame.
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len = body
        .len()
        .checked_add(1)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(FrameError::BodyTooLong { len: body.len() })?;
    let len_bytes = len.to_be_bytes();
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len() + 1);
    frame.extend_from_slice(&PREAMBLE);
    frame.extend_from_slice(&len_bytes);
    frame.extend_from_slice(body);
    frame.push(xor_checksum(&len_bytes) ^ xor_checksum(body));
    Ok(frame)
}

/// Encodes a host → reader command frame from CMD, Para and optional data bytes.
pub fn encode_command(cmd: u8, para: u8, data: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut body = Vec::with_capacity(2 + data.len());
    body.push(cmd);
    body.push(para);
    body.extend_from_slice(data);
    encode_frame(&body)
}

/// UART speeds the reader can be switched to with command `60 0n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaudRate {
    /// 115200 bps, the default (`60 00`).
    B115200,
    /// 57600 bps (`60 01`).
    B57600,
    /// 38400 bps (`60 02`).
    B38400,
    /// 19200 bps (`60 03`).
    B19200,
    /// 9600 bps (`60 04`).
    B9600,
}

impl BaudRate {
    /// Bits per second.
    pub fn bits_per_second(self) -> u32 {
        match self {
            Self::B115200 => 115_200,
            Self::B57600 => 57_600,
            Self::B38400 => 38_400,
            Self::B19200 => 19_200,
            Self::B9600 => 9_600,
        }
    }

    /// The Para byte of the set-speed command.
    pub fn para(self) -> u8 {
        match self {
            Self::B115200 => 0,
            Self::B57600 => 1,
            Self::B38400 => 2,
            Self::B19200 => 3,
            Self::B9600 => 4,
        }
    }

    /// The speed selected by a set-speed Para byte, if valid.
    pub fn from_para(para: u8) -> Option<Self> {
        Some(match para {
            0 => Self::B115200,
            1 => Self::B57600,
            2 => Self::B38400,
            3 => Self::B19200,
            4 => Self::B9600,
            _ => return None,
        })
    }
}

/// The commands of protocol doc table §1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamCommand {
    /// Reset the SAM (`10 FF`).
    ResetSam,
    /// SAM status check (`11 FF`).
    SamStatus,
    /// Read the SAM id, "管理信息" (`12 FF`).
    ReadSamId,
    /// Find a card in the field (`20 01`).
    FindCard,
    /// Select the found card (`20 02`).
    SelectCard,
    /// Read text and photo (`30 01`).
    ReadBaseMessage,
    /// Read the latest appended address (`30 03`).
    ReadAppendedAddress,
    /// Read text, photo and fingerprint (`30 10`).
    ReadWithFingerprint,
    /// Switch the UART speed (`60 0n`).
    SetBaudRate(BaudRate),
    /// Set the maximum RF frame byte (`61 FF xx`, usually `50`).
    SetMaxRfFrameByte(u8),
}

impl SamCommand {
    /// CMD, Para and the optional data byte.
    pub fn code(self) -> (u8, u8, Option<u8>) {
        match self {
            Self::ResetSam => (0x10, 0xFF, None),
            Self::SamStatus => (0x11, 0xFF, None),
            Self::ReadSamId => (0x12, 0xFF, None),
            Self::FindCard => (0x20, 0x01, None),
            Self::SelectCard => (0x20, 0x02, None),
            Self::ReadBaseMessage => (0x30, 0x01, None),
            Self::ReadAppendedAddress => (0x30, 0x03, None),
            Self::ReadWithFingerprint => (0x30, 0x10, None),
            Self::SetBaudRate(rate) => (0x60, rate.para(), None),
            Self::SetMaxRfFrameByte(value) => (0x61, 0xFF, Some(value)),
        }
    }

    /// The complete frame to send for this command.
    pub fn to_frame(self) -> Vec<u8> {
        let (cmd, para, data) = self.code();
        let body: Vec<u8> = [cmd, para].into_iter().chain(data).collect();
        // The body is at most three bytes, so its length always fits LEN.
        encode_frame(&body).unwrap_or_default()
    }

    /// Recognises a decoded command frame, for the emulator side.
    pub fn from_command_frame(frame: &CommandFrame) -> Option<Self> {
        let command = match (frame.cmd, frame.para, frame.data.as_slice()) {
            (0x10, 0xFF, []) => Self::ResetSam,
            (0x11, 0xFF, []) => Self::SamStatus,
            (0x12, 0xFF, []) => Self::ReadSamId,
            (0x20, 0x01, []) => Self::FindCard,
            (0x20, 0x02, []) => Self::SelectCard,
            (0x30, 0x01, []) => Self::ReadBaseMessage,
            (0x30, 0x03, []) => Self::ReadAppendedAddress,
            (0x30, 0x10, []) => Self::ReadWithFingerprint,
            (0x60, para, []) => Self::SetBaudRate(BaudRate::from_para(para)?),
            (0x61, 0xFF, [value]) => Self::SetMaxRfFrameByte(*value),
            _ => return None,
        };
        Some(command)
    }
}

/// SW3, the reader/SAM status byte (protocol doc table §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamStatus {
    /// `90` operation succeeded.
    Success,
    /// `91` the card holds no such content (no appended address, no fingerprint).
    NoContent,
    /// `9F` find card succeeded.
    FindSucceeded,
    /// `10` the reader found a checksum error in the host frame.
    HostChecksumError,
    /// `11` the reader found a length error in the host frame.
    HostLengthError,
    /// `21` bad command or parameter.
    BadCommand,
    /// `23` unauthorized operation.
    Unauthorized,
    /// `24` unrecognized error.
    UnrecognizedError,
    /// `31` the card failed to authenticate the SAM.
    CardRejectedSam,
    /// `32` the SAM failed to authenticate the card.
    SamRejectedCard,
    /// `33` information verification error.
    VerificationFailed,
    /// `40` wrong or unknown card type.
    UnknownCardType,
    /// `41` read failed (card moved away, etc.).
    ReadFailed,
    /// `47` get-challenge failed.
    GetChallengeFailed,
    /// `60` SAM self-test failed; no commands accepted.
    SamSelfTestFailed,
    /// `66` SAM not authorized.
    SamNotAuthorized,
    /// `80` no card found.
    NoCardFound,
    /// `81` select failed.
    SelectFailed,
    /// A code not in the table.
    Unknown(u8),
}

impl SamStatus {
    /// Every code of table §1.5, in table order.
    pub const KNOWN: [SamStatus; 18] = [
        Self::Success,
        Self::NoContent,
        Self::FindSucceeded,
        Self::HostChecksumError,
        Self::HostLengthError,
        Self::BadCommand,
        Self::Unauthorized,
        Self::UnrecognizedError,
        Self::CardRejectedSam,
        Self::SamRejectedCard,
        Self::VerificationFailed,
        Self::UnknownCardType,
        Self::ReadFailed,
        Self::GetChallengeFailed,
        Self::SamSelfTestFailed,
        Self::SamNotAuthorized,
        Self::NoCardFound,
        Self::SelectFailed,
    ];

    /// The status for an SW3 byte.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x90 => Self::Success,
            0x91 => Self::NoContent,
            0x9F => Self::FindSucceeded,
            0x10 => Self::HostChecksumError,
            0x11 => Self::HostLengthError,
            0x21 => Self::BadCommand,
            0x23 => Self::Unauthorized,
            0x24 => Self::UnrecognizedError,
            0x31 => Self::CardRejectedSam,
            0x32 => Self::SamRejectedCard,
            0x33 => Self::VerificationFailed,
            0x40 => Self::UnknownCardType,
            0x41 => Self::ReadFailed,
            0x47 => Self::GetChallengeFailed,
            0x60 => Self::SamSelfTestFailed,
            0x66 => Self::SamNotAuthorized,
            0x80 => Self::NoCardFound,
            0x81 => Self::SelectFailed,
            other => Self::Unknown(other),
        }
    }

    /// The SW3 byte.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0x90,
            Self::NoContent => 0x91,
            Self::FindSucceeded => 0x9F,
            Self::HostChecksumError => 0x10,
            Self::HostLengthError => 0x11,
            Self::BadCommand => 0x21,
            Self::Unauthorized => 0x23,
            Self::UnrecognizedError => 0x24,
            Self::CardRejectedSam => 0x31,
            Self::SamRejectedCard => 0x32,
            Self::VerificationFailed => 0x33,
            Self::UnknownCardType => 0x40,
            Self::ReadFailed => 0x41,
            Self::GetChallengeFailed => 0x47,
            Self::SamSelfTestFailed => 0x60,
            Self::SamNotAuthorized => 0x66,
            Self::NoCardFound => 0x80,
            Self::SelectFailed => 0x81,
            Self::Unknown(code) => code,
        }
    }

    /// True for `90` (success) and `9F` (find succeeded). `91` (no content) is not a success: the
    /// requested item is absent, see [`SamStatus::is_no_content`].
    pub fn is_success(self) -> bool {
        matches!(self, Self::Success | Self::FindSucceeded)
    }

    /// True for `91`: the card has no such item (appended address, fingerprint).
    pub fn is_no_content(self) -> bool {
        matches!(self, Self::NoContent)
    }

    /// True when SW1/SW2 carry the card's APDU status (codes `31`, `41`, `47`, `81`).
    pub fn forwards_card_status(self) -> bool {
        matches!(
            self,
            Self::CardRejectedSam
                | Self::ReadFailed
                | Self::GetChallengeFailed
                | Self::SelectFailed
        )
    }

    /// Lowercase English meaning of the code.
    pub fn description(self) -> &'static str {
        match self {
            Self::Success => "operation succeeded",
            Self::NoContent => "the card holds no such content",
            Self::FindSucceeded => "card found",
            Self::HostChecksumError => "the reader received a frame with a wrong checksum",
            Self::HostLengthError => "the reader received a frame with a wrong length",
            Self::BadCommand => "the reader received an unknown command or parameter",
            Self::Unauthorized => "the operation is not authorized",
            Self::UnrecognizedError => "the reader reported an unrecognized error",
            Self::CardRejectedSam => "the card failed to authenticate the security module",
            Self::SamRejectedCard => "the security module failed to authenticate the card",
            Self::VerificationFailed => "the card information failed verification",
            Self::UnknownCardType => "the card type is wrong or unknown",
            Self::ReadFailed => "reading the card failed",
            Self::GetChallengeFailed => "getting a random challenge from the card failed",
            Self::SamSelfTestFailed => "the security module failed its self-test",
            Self::SamNotAuthorized => "the security module is not authorized",
            Self::NoCardFound => "no card found",
            Self::SelectFailed => "selecting the card failed",
            Self::Unknown(_) => "the reader returned a status code this kiosk does not know",
        }
    }

    /// The meaning of the code as the Chinese standard words it (table §1.5).
    pub fn description_zh(self) -> &'static str {
        match self {
            Self::Success => "操作成功",
            Self::NoContent => "证/卡中此项无内容",
            Self::FindSucceeded => "寻找证/卡成功",
            Self::HostChecksumError => "接收数据校验和错",
            Self::HostLengthError => "接收数据长度错",
            Self::BadCommand => "接收数据命令错",
            Self::Unauthorized => "越权操作",
            Self::UnrecognizedError => "无法识别的错误",
            Self::CardRejectedSam => "证/卡认证 SAM 失败",
            Self::SamRejectedCard => "SAM 认证证/卡失败",
            Self::VerificationFailed => "信息验证错误",
            Self::UnknownCardType => "无法识别的卡类型",
            Self::ReadFailed => "读证/卡操作失败",
            Self::GetChallengeFailed => "取随机数失败",
            Self::SamSelfTestFailed => "SAM 自检失败",
            Self::SamNotAuthorized => "SAM 未经授权",
            Self::NoCardFound => "寻找证/卡失败",
            Self::SelectFailed => "选取证/卡失败",
            Self::Unknown(_) => "未知状态",
        }
    }

    /// Lowercase English advice for the operator.
    pub fn operator_action(self) -> &'static str {
        match self {
            Self::Success | Self::FindSucceeded => "no action needed",
            Self::NoContent => "continue without this item",
            Self::HostChecksumError | Self::HostLengthError => {
                "retry; if it repeats, check the cable and the baud rate"
            }
            Self::BadCommand => "check that the reader model is supported; this may be a kiosk bug",
            Self::Unauthorized => {
                "restart the read from find card; if it repeats, reset the reader"
            }
            Self::UnrecognizedError => "retry; if it repeats, reset the reader",
            Self::CardRejectedSam | Self::SamRejectedCard | Self::VerificationFailed => {
                "place the card again; if it repeats the card may be damaged or not genuine, \
                 check it by hand"
            }
            Self::UnknownCardType => "check that the card is a supported identity card",
            Self::ReadFailed | Self::GetChallengeFailed => {
                "ask the applicant to hold the card still on the reader and retry"
            }
            Self::SamSelfTestFailed => "reset the reader; if it repeats, replace the reader",
            Self::SamNotAuthorized => {
                "the reader's security module needs authorization; call support"
            }
            Self::NoCardFound => "ask the applicant to place the card on the reader",
            Self::SelectFailed => {
                "ask the applicant to place the card flat on the reader and retry"
            }
            Self::Unknown(_) => "retry; if it repeats, reset the reader and call support",
        }
    }
}

impl fmt::Display for SamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "status {:#04x} ({})", self.code(), self.description())
    }
}

/// A decoded host → reader frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFrame {
    /// CMD byte.
    pub cmd: u8,
    /// Para byte.
    pub para: u8,
    /// Data bytes, usually empty.
    pub data: Vec<u8>,
}

impl CommandFrame {
    /// Builds a command frame from its body (CMD, Para, Data).
    pub fn from_body(body: &[u8]) -> Option<Self> {
        match body {
            [cmd, para, data @ ..] => Some(Self {
                cmd: *cmd,
                para: *para,
                data: data.to_vec(),
            }),
            _ => None,
        }
    }

    /// The complete frame bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        encode_command(self.cmd, self.para, &self.data)
    }
}

/// A decoded reader → host frame. The data may hold personal data, so `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseFrame {
    /// Card APDU status byte 1 forwarded by the reader (normally 0).
    pub sw1: u8,
    /// Card APDU status byte 2 forwarded by the reader (normally 0).
    pub sw2: u8,
    /// The reader/SAM status.
    pub sw3: SamStatus,
    /// Data after SW3.
    pub data: Vec<u8>,
}

impl fmt::Debug for ResponseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFrame")
            .field("sw1", &self.sw1)
            .field("sw2", &self.sw2)
            .field("sw3", &self.sw3)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl ResponseFrame {
    /// A response with SW1 = SW2 = 0, the given status and data.
    pub fn new(sw3: SamStatus, data: Vec<u8>) -> Self {
        Self {
            sw1: 0,
            sw2: 0,
            sw3,
            data,
        }
    }

    /// A response with SW1 = SW2 = 0, the given status and no data.
    pub fn status_only(sw3: SamStatus) -> Self {
        Self::new(sw3, Vec::new())
    }

    /// Builds a response from its body (SW1, SW2, SW3, Data).
    pub fn from_body(body: &[u8]) -> Option<Self> {
        match body {
            [sw1, sw2, sw3, data @ ..] => Some(Self {
                sw1: *sw1,
                sw2: *sw2,
                sw3: SamStatus::from_code(*sw3),
                data: data.to_vec(),
            }),
            _ => None,
        }
    }

    /// The complete frame bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut body = Vec::with_capacity(3 + self.data.len());
        body.extend_from_slice(&[self.sw1, self.sw2, self.sw3.code()]);
        body.extend_from_slice(&self.data);
        encode_frame(&body)
    }

    /// Fails with [`ResponseError::Status`] unless SW3 is a success code.
    pub fn require_success(&self) -> Result<&[u8], ResponseError> {
        if self.sw3.is_success() {
            Ok(&self.data)
        } else {
            Err(ResponseError::Status {
                status: self.sw3,
                sw1: self.sw1,
                sw2: self.sw2,
            })
        }
    }
}

/// Incremental frame decoder: push bytes as they arrive, pull complete frames.
///
/// Garbage before a preamble is skipped (and counted), a frame is delimited by its LEN field, and
/// the checksum is verified. A frame with a bad checksum is consumed whole and reported once; a bad
/// LEN drops only the preamble so that decoding resynchronises on the next one.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    max_len: u16,
    discarded_bytes: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder that accepts LEN up to [`DEFAULT_MAX_LEN`].
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A decoder that accepts LEN up to `max_len`.
    pub fn with_max_len(max_len: u16) -> Self {
        Self {
            buffer: Vec::new(),
            max_len,
            discarded_bytes: 0,
        }
    }

    /// Appends bytes read from the line.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet part of a returned frame.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// Bytes skipped so far while looking for a preamble or after a bad LEN.
    pub fn discarded_bytes(&self) -> u64 {
        self.discarded_bytes
    }

    /// Drops everything buffered, e.g. after a timeout.
    pub fn clear(&mut self) {
        self.discarded_bytes = self
            .discarded_bytes
            .saturating_add(self.buffer.len() as u64);
        self.buffer.clear();
    }

    /// The next complete response frame, an error for a damaged one, or `None` if more bytes are
    /// needed.
    pub fn next_frame(&mut self) -> Option<Result<ResponseFrame, FrameError>> {
        let body = self.next_body(MIN_RESPONSE_LEN)?;
        Some(body.and_then(|body| {
            ResponseFrame::from_body(&body).ok_or(FrameError::LengthTooShort {
                len: u16::try_from(body.len() + 1).unwrap_or(u16::MAX),
                min: MIN_RESPONSE_LEN,
            })
        }))
    }

    /// The next complete command frame (for the emulator side), an error, or `None`.
    pub fn next_command(&mut self) -> Option<Result<CommandFrame, FrameError>> {
        let body = self.next_body(MIN_COMMAND_LEN)?;
        Some(body.and_then(|body| {
            CommandFrame::from_body(&body).ok_or(FrameError::LengthTooShort {
                len: u16::try_from(body.len() + 1).unwrap_or(u16::MAX),
                min: MIN_COMMAND_LEN,
            })
        }))
    }

    fn discard(&mut self, count: usize) {
        let count = count.min(self.buffer.len());
        self.buffer.drain(..count);
        self.discarded_bytes = self.discarded_bytes.saturating_add(count as u64);
    }

    /// Finds the next frame and returns its body (between LEN and checksum), at least
    /// `min_len - 1` bytes long.
    fn next_body(&mut self, min_len: u16) -> Option<Result<Vec<u8>, FrameError>> {
        match self
            .buffer
            .windows(PREAMBLE.len())
            .position(|window| window == PREAMBLE)
        {
            Some(start) => self.discard(start),
            None => {
                // Keep a tail that could be the start of a preamble split across reads.
                let keep = (1..PREAMBLE.len())
                    .rev()
                    .find(|&n| {
                        self.buffer.len() >= n
                            && self.buffer.get(self.buffer.len() - n..) == PREAMBLE.get(..n)
                    })
                    .unwrap_or(0);
                self.discard(self.buffer.len() - keep);
                return None;
            }
        }
        let len = match self.buffer.get(PREAMBLE.len()..HEADER_LEN) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => return None,
        };
        if len < min_len {
            self.discard(PREAMBLE.len());
            return Some(Err(FrameError::LengthTooShort { len, min: min_len }));
        }
        if len > self.max_len {
            self.discard(PREAMBLE.len());
            return Some(Err(FrameError::LengthTooLong {
                len,
                max: self.max_len,
            }));
        }
        let total = HEADER_LEN + usize::from(len);
        if self.buffer.len() < total {
            return None;
        }
        let frame: Vec<u8> = self.buffer.drain(..total).collect();
        let (received, covered) = frame.get(PREAMBLE.len()..)?.split_last()?;
        let computed = xor_checksum(covered);
        if computed != *received {
            return Some(Err(FrameError::ChecksumMismatch {
                computed,
                received: *received,
            }));
        }
        Some(Ok(covered.get(2..)?.to_vec()))
    }
}

/// The 4-byte "IIN" returned by a successful find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardIin(pub [u8; 4]);

/// The 8-byte card serial number returned by select. It identifies a card, so `Debug` redacts it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CardSerial(pub [u8; 8]);

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardSerial(<redacted>)")
    }
}

/// The 16-byte SAM id ("管理信息").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SamId(pub [u8; 16]);

impl SamId {
    /// The conventional rendering, e.g. `05.01-20101018-0123456789-1234567890`: byte 0 and byte 2 as
    /// two decimal digits, then three little-endian u32 values from bytes 4, 8 and 12, the last two
    /// zero-padded to 10 digits.
    pub fn to_conventional_string(&self) -> String {
        let [a, _, b, _, w0 @ .., _, _, _, _, _, _, _, _] = self.0;
        let [_, _, _, _, _, _, _, _, w1 @ .., _, _, _, _] = self.0;
        let [_, _, _, _, _, _, _, _, _, _, _, _, w2 @ ..] = self.0;
        let (w0, w1, w2) = (
            u32::from_le_bytes(w0),
            u32::from_le_bytes(w1),
            u32::from_le_bytes(w2),
        );
        format!("{a:02}.{b:02}-{w0}-{w1:010}-{w2:010}")
    }
}

impl fmt::Display for SamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_conventional_string())
    }
}

/// The data of a read response: text block, WLT photo and, for `30 10`, fingerprint templates.
/// All of it is personal data, so `Debug` shows only lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct CardMessage {
    /// The UCS-2LE text block (256 bytes on every known card).
    pub text: Vec<u8>,
    /// The WLT photo (1024 bytes on every known card).
    pub photo: Vec<u8>,
    /// Fingerprint templates: `None` for a `30 01` read, `Some` (0, 512 or 1024 bytes) for `30 10`.
    pub fingerprint: Option<Vec<u8>>,
}

impl fmt::Debug for CardMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardMessage")
            .field("text_len", &self.text.len())
            .field("photo_len", &self.photo.len())
            .field("fingerprint_len", &self.fingerprint.as_ref().map(Vec::len))
            .finish()
    }
}

fn fixed_data<const N: usize>(
    frame: &ResponseFrame,
    what: &'static str,
) -> Result<[u8; N], ResponseError> {
    let data = frame.require_success()?;
    <[u8; N]>::try_from(data).map_err(|_| ResponseError::WrongDataLength {
        what,
        expected: N,
        actual: data.len(),
    })
}

/// Parses a find-card response (`20 01`): status `9F` and a 4-byte IIN.
pub fn parse_find_response(frame: &ResponseFrame) -> Result<CardIin, ResponseError> {
    fixed_data(frame, "find card").map(CardIin)
}

/// Parses a select-card response (`20 02`): status `90` and an 8-byte serial number.
pub fn parse_select_response(frame: &ResponseFrame) -> Result<CardSerial, ResponseError> {
    fixed_data(frame, "select card").map(CardSerial)
}

/// Parses a SAM id response (`12 FF`): 16 data bytes.
pub fn parse_sam_id_response(frame: &ResponseFrame) -> Result<SamId, ResponseError> {
    fixed_data(frame, "sam id").map(SamId)
}

/// Splits a big-endian u16 length field off the front of `data`.
fn take_length<'a>(data: &'a [u8], what: &'static str) -> Result<(usize, &'a [u8]), ResponseError> {
    match data.split_at_checked(2) {
        Some((&[hi, lo], rest)) => Ok((usize::from(u16::from_be_bytes([hi, lo])), rest)),
        _ => Err(ResponseError::InconsistentLengths {
            what,
            declared: 2,
            actual: data.len(),
        }),
    }
}

/// Reads the length fields, then splits the rest into pieces of those lengths; fails unless they
/// account for every byte.
fn split_by_length_fields<'a>(
    data: &'a [u8],
    fields: usize,
    what: &'static str,
) -> Result<Vec<&'a [u8]>, ResponseError> {
    let inconsistent = |declared: usize| ResponseError::InconsistentLengths {
        what,
        declared,
        actual: data.len(),
    };
    let mut lengths = Vec::with_capacity(fields);
    let mut rest = data;
    for _ in 0..fields {
        let (len, tail) = take_length(rest, what).map_err(|_| inconsistent(2 * fields))?;
        lengths.push(len);
        rest = tail;
    }
    let declared = lengths.iter().sum::<usize>() + 2 * fields;
    if declared != data.len() {
        return Err(inconsistent(declared));
    }
    let mut pieces = Vec::with_capacity(fields);
    for len in lengths {
        let (piece, tail) = rest.split_at_checked(len).ok_or(inconsistent(declared))?;
        pieces.push(piece);
        rest = tail;
    }
    Ok(pieces)
}

/// Parses a read-base-message response (`30 01`): text length, photo length, text, photo. Driven
/// by the length fields; fails if they do not add up to the frame's data.
pub fn parse_base_message_response(frame: &ResponseFrame) -> Result<CardMessage, ResponseError> {
    let data = frame.require_success()?;
    match split_by_length_fields(data, 2, "read base message")?.as_slice() {
        [text, photo] => Ok(CardMessage {
            text: text.to_vec(),
            photo: photo.to_vec(),
            fingerprint: None,
        }),
        _ => Err(ResponseError::InconsistentLengths {
            what: "read base message",
            declared: 4,
            actual: data.len(),
        }),
    }
}

/// Parses a read-with-fingerprint response (`30 10`): text, photo and fingerprint lengths, then
/// the three fields. The fingerprint length must be 0, 512 or 1024.
pub fn parse_fingerprint_message_response(
    frame: &ResponseFrame,
) -> Result<CardMessage, ResponseError> {
    let data = frame.require_success()?;
    match split_by_length_fields(data, 3, "read with fingerprint")?.as_slice() {
        [text, photo, fingerprint] => {
            if ![0, FINGERPRINT_TEMPLATE_LEN, 2 * FINGERPRINT_TEMPLATE_LEN]
                .contains(&fingerprint.len())
            {
                return Err(ResponseError::UnexpectedFingerprintLength {
                    len: fingerprint.len(),
                });
            }
            Ok(CardMessage {
                text: text.to_vec(),
                photo: photo.to_vec(),
                fingerprint: Some(fingerprint.to_vec()),
            })
        }
        _ => Err(ResponseError::InconsistentLengths {
            what: "read with fingerprint",
            declared: 6,
            actual: data.len(),
        }),
    }
}

/// Parses a read-appended-address response (`30 03`): `None` when the card has none (status `91`),
/// otherwise the raw UCS-2LE address bytes (decode with `id_text`).
pub fn parse_appended_address_response(
    frame: &ResponseFrame,
) -> Result<Option<Vec<u8>>, ResponseError> {
    if frame.sw3.is_no_content() {
        return Ok(None);
    }
    frame.require_success().map(|data| Some(data.to_vec()))
}

fn length_field(what: &'static str, bytes: &[u8]) -> Result<[u8; 2], ResponseError> {
    u16::try_from(bytes.len())
        .map(u16::to_be_bytes)
        .map_err(|_| ResponseError::FieldTooLong {
            what,
            len: bytes.len(),
        })
}

impl CardMessage {
    /// Encodes this message as the data of a successful read response: the `30 01` layout when
    /// `fingerprint` is `None`, the `30 10` layout otherwise. For the emulator and tests.
    pub fn to_response(&self) -> Result<ResponseFrame, ResponseError> {
        let mut data = Vec::new();
        data.extend_from_slice(&length_field("text", &self.text)?);
        data.extend_from_slice(&length_field("photo", &self.photo)?);
        if let Some(fingerprint) = &self.fingerprint {
            data.extend_from_slice(&length_field("fingerprint", fingerprint)?);
        }
        data.extend_from_slice(&self.text);
        data.extend_from_slice(&self.photo);
        if let Some(fingerprint) = &self.fingerprint {
            data.extend_from_slice(fingerprint);
        }
        Ok(ResponseFrame::new(SamStatus::Success, data))
    }
}

impl CardIin {
    /// The successful find response carrying this IIN.
    pub fn to_response(self) -> ResponseFrame {
        ResponseFrame::new(SamStatus::FindSucceeded, self.0.to_vec())
    }
}

impl CardSerial {
    /// The successful select response carrying this serial number.
    pub fn to_response(self) -> ResponseFrame {
        ResponseFrame::new(SamStatus::Success, self.0.to_vec())
    }
}

impl SamId {
    /// The successful SAM id response carrying this id.
    pub fn to_response(self) -> ResponseFrame {
        ResponseFrame::new(SamStatus::Success, self.0.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn decode_one(bytes: &[u8]) -> Result<ResponseFrame, FrameError> {
        let mut decoder = FrameDecoder::new();
        decoder.push(bytes);
        decoder.next_frame().expect("a complete frame")
    }

    // Frames of protocol doc table §1.3 (checksums recomputed by hand: XOR of LEN..data).
    #[test]
    fn command_frames_match_table_1_3_byte_for_byte() {
        let table = [
            (SamCommand::ResetSam, "AA AA AA 96 69 00 03 10 FF EC"),
            (SamCommand::SamStatus, "AA AA AA 96 69 00 03 11 FF ED"),
            (SamCommand::ReadSamId, "AA AA AA 96 69 00 03 12 FF EE"),
            (SamCommand::FindCard, "AA AA AA 96 69 00 03 20 01 22"),
            (SamCommand::SelectCard, "AA AA AA 96 69 00 03 20 02 21"),
            (SamCommand::ReadBaseMessage, "AA AA AA 96 69 00 03 30 01 32"),
            (
                SamCommand::ReadAppendedAddress,
                "AA AA AA 96 69 00 03 30 03 30",
            ),
            (
                SamCommand::ReadWithFingerprint,
                "AA AA AA 96 69 00 03 30 10 23",
            ),
            (
                SamCommand::SetBaudRate(BaudRate::B115200),
                "AA AA AA 96 69 00 03 60 00 63",
            ),
            (
                SamCommand::SetBaudRate(BaudRate::B57600),
                "AA AA AA 96 69 00 03 60 01 62",
            ),
            (
                SamCommand::SetBaudRate(BaudRate::B38400),
                "AA AA AA 96 69 00 03 60 02 61",
            ),
            (
                SamCommand::SetBaudRate(BaudRate::B19200),
                "AA AA AA 96 69 00 03 60 03 60",
            ),
            (
                SamCommand::SetBaudRate(BaudRate::B9600),
                "AA AA AA 96 69 00 03 60 04 67",
            ),
            (
                SamCommand::SetMaxRfFrameByte(0x50),
                "AA AA AA 96 69 00 04 61 FF 50 CA",
            ),
        ];
        for (command, expected) in table {
            assert_eq!(command.to_frame(), hex(expected), "{command:?}");
            let (cmd, para, data) = command.code();
            let data: Vec<u8> = data.into_iter().collect();
            assert_eq!(encode_command(cmd, para, &data).unwrap(), hex(expected));
        }
    }

    #[test]
    fn every_command_frame_decodes_back_to_its_command() {
        let mut decoder = FrameDecoder::new();
        let commands = [
            SamCommand::ResetSam,
            SamCommand::SamStatus,
            SamCommand::ReadSamId,
            SamCommand::FindCard,
            SamCommand::SelectCard,
            SamCommand::ReadBaseMessage,
            SamCommand::ReadAppendedAddress,
            SamCommand::ReadWithFingerprint,
            SamCommand::SetBaudRate(BaudRate::B9600),
            SamCommand::SetMaxRfFrameByte(0x50),
        ];
        for command in commands {
            decoder.push(&command.to_frame());
        }
        for command in commands {
            let frame = decoder.next_command().unwrap().unwrap();
            assert_eq!(SamCommand::from_command_frame(&frame), Some(command));
        }
        assert!(decoder.next_command().is_none());
    }

    // Responses of protocol doc table §1.4.
    #[test]
    fn responses_of_table_1_4_decode_and_re_encode_byte_for_byte() {
        let table = [
            (
                "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97",
                SamStatus::FindSucceeded,
                4,
            ),
            (
                "AA AA AA 96 69 00 04 00 00 80 84",
                SamStatus::NoCardFound,
                0,
            ),
            (
                "AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C",
                SamStatus::Success,
                8,
            ),
            (
                "AA AA AA 96 69 00 04 00 00 81 85",
                SamStatus::SelectFailed,
                0,
            ),
            ("AA AA AA 96 69 00 04 00 00 41 45", SamStatus::ReadFailed, 0),
            (
                "AA AA AA 96 69 00 04 00 00 10 14",
                SamStatus::HostChecksumError,
                0,
            ),
        ];
        for (bytes, status, data_len) in table {
            let frame = decode_one(&hex(bytes)).unwrap();
            assert_eq!(frame.sw3, status);
            assert_eq!(frame.data.len(), data_len);
            assert_eq!(frame.encode().unwrap(), hex(bytes));
        }
    }

    #[test]
    fn find_and_select_responses_yield_iin_and_serial() {
        let find = decode_one(&hex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")).unwrap();
        assert_eq!(parse_find_response(&find).unwrap(), CardIin([0; 4]));
        let select = decode_one(&hex(
            "AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C",
        ))
        .unwrap();
        assert_eq!(parse_select_response(&select).unwrap(), CardSerial([0; 8]));
    }

    #[test]
    fn no_card_is_reported_as_a_status_error_with_advice() {
        let frame = decode_one(&hex("AA AA AA 96 69 00 04 00 00 80 84")).unwrap();
        let error = parse_find_response(&frame).unwrap_err();
        assert_eq!(
            error,
            ResponseError::Status {
                status: SamStatus::NoCardFound,
                sw1: 0,
                sw2: 0
            }
        );
        assert!(error.to_string().contains("place the card"), "{error}");
    }

    #[test]
    fn find_response_with_wrong_data_length_is_rejected() {
        let frame = ResponseFrame::new(SamStatus::FindSucceeded, vec![0; 5]);
        assert_eq!(
            parse_find_response(&frame),
            Err(ResponseError::WrongDataLength {
                what: "find card",
                expected: 4,
                actual: 5
            })
        );
    }

    #[test]
    fn garbage_before_the_preamble_is_skipped() {
        let mut bytes = hex("00 FF AA AA 96 69 AA 12");
        bytes.extend(hex("AA AA AA 96 69 00 04 00 00 80 84"));
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(frame.sw3, SamStatus::NoCardFound);
        assert_eq!(decoder.discarded_bytes(), 8);
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn extra_sync_bytes_before_the_preamble_are_skipped() {
        let frame = decode_one(&hex("AA AA AA AA AA 96 69 00 04 00 00 80 84")).unwrap();
        assert_eq!(frame.sw3, SamStatus::NoCardFound);
    }

    #[test]
    fn frame_split_across_reads_is_reassembled() {
        let bytes = ResponseFrame::new(SamStatus::Success, (0..=255).collect())
            .encode()
            .unwrap();
        for split in [1, 3, 5, 6, 7, 8, 100, bytes.len() - 1] {
            let mut decoder = FrameDecoder::new();
            let (head, tail) = bytes.split_at(split);
            decoder.push(head);
            assert!(decoder.next_frame().is_none(), "split at {split}");
            decoder.push(tail);
            let frame = decoder.next_frame().unwrap().unwrap();
            assert_eq!(frame.data, (0..=255).collect::<Vec<u8>>());
        }
    }

    #[test]
    fn byte_at_a_time_delivery_is_reassembled() {
        let bytes = hex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97");
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for byte in bytes {
            decoder.push(&[byte]);
            while let Some(frame) = decoder.next_frame() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].as_ref().unwrap().sw3, SamStatus::FindSucceeded);
        assert_eq!(decoder.discarded_bytes(), 0);
    }

    #[test]
    fn two_frames_in_one_read_are_both_returned() {
        let mut bytes = hex("AA AA AA 96 69 00 04 00 00 80 84");
        bytes.extend(hex("AA AA AA 96 69 00 04 00 00 81 85"));
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().sw3,
            SamStatus::NoCardFound
        );
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().sw3,
            SamStatus::SelectFailed
        );
        assert!(decoder.next_frame().is_none());
    }

    #[test]
    fn wrong_checksum_is_reported() {
        let result = decode_one(&hex("AA AA AA 96 69 00 04 00 00 80 85"));
        assert_eq!(
            result,
            Err(FrameError::ChecksumMismatch {
                computed: 0x84,
                received: 0x85
            })
        );
    }

    #[test]
    fn decoding_continues_after_a_wrong_checksum() {
        let mut bytes = hex("AA AA AA 96 69 00 04 00 00 80 00");
        bytes.extend(hex("AA AA AA 96 69 00 04 00 00 81 85"));
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        assert!(matches!(
            decoder.next_frame(),
            Some(Err(FrameError::ChecksumMismatch { .. }))
        ));
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().sw3,
            SamStatus::SelectFailed
        );
    }

    #[test]
    fn too_short_length_is_reported_and_decoding_resynchronises() {
        let mut bytes = hex("AA AA AA 96 69 00 02");
        bytes.extend(hex("AA AA AA 96 69 00 04 00 00 80 84"));
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        assert_eq!(
            decoder.next_frame(),
            Some(Err(FrameError::LengthTooShort { len: 2, min: 4 }))
        );
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().sw3,
            SamStatus::NoCardFound
        );
    }

    #[test]
    fn too_long_length_is_reported_without_waiting_for_the_bytes() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&hex("AA AA AA 96 69 FF FF 00"));
        assert_eq!(
            decoder.next_frame(),
            Some(Err(FrameError::LengthTooLong {
                len: 0xFFFF,
                max: DEFAULT_MAX_LEN
            }))
        );
    }

    #[test]
    fn body_too_long_for_the_length_field_is_refused() {
        assert_eq!(
            encode_command(0x30, 0x01, &vec![0; 65_533]),
            Err(FrameError::BodyTooLong { len: 65_535 })
        );
        assert!(encode_command(0x30, 0x01, &vec![0; 65_532]).is_ok());
    }

    // Every code of table §1.5 (hex code, zh wording, success?, forwards card status?).
    #[test]
    fn every_sw3_code_of_table_1_5_maps_to_its_status() {
        let table: [(u8, SamStatus, &str, bool, bool); 18] = [
            (0x90, SamStatus::Success, "操作成功", true, false),
            (
                0x91,
                SamStatus::NoContent,
                "证/卡中此项无内容",
                false,
                false,
            ),
            (0x9F, SamStatus::FindSucceeded, "寻找证/卡成功", true, false),
            (
                0x10,
                SamStatus::HostChecksumError,
                "接收数据校验和错",
                false,
                false,
            ),
            (
                0x11,
                SamStatus::HostLengthError,
                "接收数据长度错",
                false,
                false,
            ),
            (0x21, SamStatus::BadCommand, "接收数据命令错", false, false),
            (0x23, SamStatus::Unauthorized, "越权操作", false, false),
            (
                0x24,
                SamStatus::UnrecognizedError,
                "无法识别的错误",
                false,
                false,
            ),
            (
                0x31,
                SamStatus::CardRejectedSam,
                "证/卡认证 SAM 失败",
                false,
                true,
            ),
            (
                0x32,
                SamStatus::SamRejectedCard,
                "SAM 认证证/卡失败",
                false,
                false,
            ),
            (
                0x33,
                SamStatus::VerificationFailed,
                "信息验证错误",
                false,
                false,
            ),
            (
                0x40,
                SamStatus::UnknownCardType,
                "无法识别的卡类型",
                false,
                false,
            ),
            (0x41, SamStatus::ReadFailed, "读证/卡操作失败", false, true),
            (
                0x47,
                SamStatus::GetChallengeFailed,
                "取随机数失败",
                false,
                true,
            ),
            (
                0x60,
                SamStatus::SamSelfTestFailed,
                "SAM 自检失败",
                false,
                false,
            ),
            (
                0x66,
                SamStatus::SamNotAuthorized,
                "SAM 未经授权",
                false,
                false,
            ),
            (0x80, SamStatus::NoCardFound, "寻找证/卡失败", false, false),
            (0x81, SamStatus::SelectFailed, "选取证/卡失败", false, true),
        ];
        for (code, status, zh, success, forwards) in table {
            assert_eq!(SamStatus::from_code(code), status, "{code:#04x}");
            assert_eq!(status.code(), code);
            assert_eq!(status.description_zh(), zh);
            assert_eq!(status.is_success(), success, "{code:#04x}");
            assert_eq!(status.forwards_card_status(), forwards, "{code:#04x}");
            let description = status.description();
            let action = status.operator_action();
            assert!(!description.is_empty() && !action.is_empty());
            assert_eq!(description, description.to_lowercase());
            assert!(SamStatus::KNOWN.contains(&status));
            // Round trip through a real frame.
            let frame = decode_one(&ResponseFrame::status_only(status).encode().unwrap()).unwrap();
            assert_eq!(frame.sw3, status);
        }
    }

    #[test]
    fn unknown_sw3_code_is_kept_and_not_a_success() {
        let status = SamStatus::from_code(0x55);
        assert_eq!(status, SamStatus::Unknown(0x55));
        assert_eq!(status.code(), 0x55);
        assert!(!status.is_success());
        assert_eq!(
            status.to_string(),
            format!("status 0x55 ({})", status.description())
        );
    }

    #[test]
    fn sam_id_renders_in_the_conventional_form() {
        // Bytes built so that the doc's example string comes out (protocol doc §1.4).
        let mut id = [0u8; 16];
        id[0] = 5;
        id[2] = 1;
        id[4..8].copy_from_slice(&20_101_018u32.to_le_bytes());
        id[8..12].copy_from_slice(&123_456_789u32.to_le_bytes());
        id[12..16].copy_from_slice(&1_234_567_890u32.to_le_bytes());
        let frame_bytes = SamId(id).to_response().encode().unwrap();
        assert_eq!(&frame_bytes[5..7], &[0x00, 0x14]);
        let sam_id = parse_sam_id_response(&decode_one(&frame_bytes).unwrap()).unwrap();
        assert_eq!(sam_id.to_string(), "05.01-20101018-0123456789-1234567890");
    }

    fn sample_message(fingerprint: Option<usize>) -> CardMessage {
        CardMessage {
            text: vec![0x20; TEXT_BLOCK_LEN],
            photo: [b'W', b'L', b'f']
                .into_iter()
                .chain(vec![0; PHOTO_LEN - 3])
                .collect(),
            fingerprint: fingerprint.map(|len| vec![0xF0; len]),
        }
    }

    #[test]
    fn read_base_message_frame_has_the_documented_header_and_size() {
        let bytes = sample_message(None)
            .to_response()
            .unwrap()
            .encode()
            .unwrap();
        assert_eq!(bytes.len(), 1295);
        assert_eq!(
            &bytes[..14],
            &hex("AA AA AA 96 69 05 08 00 00 90 01 00 04 00")[..]
        );
        let message = parse_base_message_response(&decode_one(&bytes).unwrap()).unwrap();
        assert_eq!(message, sample_message(None));
    }

    #[test]
    fn read_with_fingerprint_frames_have_the_documented_sizes() {
        for (fp_len, total, len_field) in [
            (0, 1297, [0x05, 0x0A]),
            (512, 1809, [0x07, 0x0A]),
            (1024, 2321, [0x09, 0x0A]),
        ] {
            let bytes = sample_message(Some(fp_len))
                .to_response()
                .unwrap()
                .encode()
                .unwrap();
            assert_eq!(bytes.len(), total);
            assert_eq!(bytes[5..7], len_field);
            let message = parse_fingerprint_message_response(&decode_one(&bytes).unwrap()).unwrap();
            assert_eq!(message, sample_message(Some(fp_len)));
        }
    }

    #[test]
    fn read_response_is_split_by_its_length_fields_not_fixed_offsets() {
        // A reader that sent a shorter text block must still be split where its fields say.
        let message = CardMessage {
            text: vec![1; 10],
            photo: vec![2; 20],
            fingerprint: None,
        };
        let frame = message.to_response().unwrap();
        assert_eq!(parse_base_message_response(&frame).unwrap(), message);
    }

    #[test]
    fn read_response_with_inconsistent_lengths_is_rejected() {
        let mut frame = sample_message(None).to_response().unwrap();
        frame.data.pop();
        assert_eq!(
            parse_base_message_response(&frame),
            Err(ResponseError::InconsistentLengths {
                what: "read base message",
                declared: 1284,
                actual: 1283
            })
        );
        let truncated = ResponseFrame::new(SamStatus::Success, vec![0x01]);
        assert!(matches!(
            parse_base_message_response(&truncated),
            Err(ResponseError::InconsistentLengths { .. })
        ));
    }

    #[test]
    fn fingerprint_length_other_than_0_512_1024_is_rejected() {
        let frame = sample_message(Some(100)).to_response().unwrap();
        assert_eq!(
            parse_fingerprint_message_response(&frame),
            Err(ResponseError::UnexpectedFingerprintLength { len: 100 })
        );
    }

    #[test]
    fn appended_address_absent_is_none() {
        let frame = ResponseFrame::status_only(SamStatus::NoContent);
        assert_eq!(parse_appended_address_response(&frame), Ok(None));
        let frame = ResponseFrame::new(SamStatus::Success, vec![0x20, 0x00]);
        assert_eq!(
            parse_appended_address_response(&frame),
            Ok(Some(vec![0x20, 0x00]))
        );
    }

    #[test]
    fn debug_output_of_card_data_shows_only_lengths() {
        let message = sample_message(Some(512));
        let shown = format!("{message:?} {:?}", message.to_response().unwrap());
        assert!(shown.contains("text_len: 256"), "{shown}");
        assert!(!shown.contains("87, 76, 102"), "{shown}");
        assert_eq!(
            format!("{:?}", CardSerial([7; 8])),
            "CardSerial(<redacted>)"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_decoder(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut decoder = FrameDecoder::with_max_len(64);
            for chunk in &chunks {
                decoder.push(chunk);
                let mut guard = 0;
                while let Some(result) = decoder.next_frame() {
                    if let Ok(frame) = result {
                        let _ = parse_base_message_response(&frame);
                        let _ = parse_fingerprint_message_response(&frame);
                        let _ = parse_sam_id_response(&frame);
                    }
                    guard += 1;
                    prop_assert!(guard < 1000);
                }
                while let Some(_command) = decoder.next_command() {}
            }
        }

        #[test]
        fn random_bytes_with_a_preamble_never_panic_the_decoder(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut decoder = FrameDecoder::new();
            decoder.push(&PREAMBLE);
            decoder.push(&tail);
            while decoder.next_frame().is_some() {}
        }

        #[test]
        fn any_response_survives_garbage_and_arbitrary_splitting(
            garbage in proptest::collection::vec(any::<u8>().prop_filter("no sync byte", |b| *b != 0xAA), 0..40),
            sw3 in any::<u8>(),
            data in proptest::collection::vec(any::<u8>(), 0..600),
            splits in proptest::collection::vec(0usize..700, 0..6),
        ) {
            let frame = ResponseFrame::new(SamStatus::from_code(sw3), data);
            let mut bytes = garbage.clone();
            bytes.extend(frame.encode().unwrap());
            let mut cuts: Vec<usize> = splits.into_iter().map(|s| s.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut decoder = FrameDecoder::new();
            let mut decoded = Vec::new();
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                decoder.push(&bytes[start..cut]);
                start = cut;
                while let Some(result) = decoder.next_frame() {
                    decoded.push(result);
                }
            }
            prop_assert_eq!(decoded, vec![Ok(frame)]);
            prop_assert_eq!(decoder.discarded_bytes(), garbage.len() as u64);
        }
    }
}
