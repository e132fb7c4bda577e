//! The resident-ID SAM reader over a serial line: opening the port, the find → select → read
//! sequence for every read, frame reception with per-command timeouts, SW3 → [`CardError`]
//! mapping, the "card read, waiting for removal" state and reopening a port that went away. It does
//! not know the frame layout (`domain::sam_frame`) or the text block (`domain::id_text`), and it
//! does not decode WLT photos itself (`wlt`).
//!
//! Removal: the SAM refuses to find a card it has just read until the card leaves the field
//! (protocol doc §1.8). After a successful read the reader is "waiting for removal": `presence()`
//! reports `MustRemove` while a reader still finds the card and `NoCard` (ending the state) once find
//! fails; a read attempt whose find fails in that state says "lift it off and place it again"
//! (`MustRemoveCard`). A card found later is a new presentation and is read.
//!
//! The byte stream is anything `Read + Write` that a [`SamPortOpener`] hands out, so the same state
//! machine runs over a real serial port, a pty, or an in-memory duplex in unit tests.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::card::wlt::WltDecoder;
use crate::card::{CardError, CardErrorKind, CardReader, Presence, ReaderInfo};
use enroll_core::domain::card_read::{
    AccessKey, CARD_READ_FORMAT, CardRead, RawEvidence, Verification,
};
use enroll_core::domain::document::{Photo, UndecodedFormat};
use enroll_core::domain::id_text::parse_card_message;
use enroll_core::domain::sam_frame::{
    CardMessage, FrameDecoder, ResponseError, ResponseFrame, SamCommand, SamStatus,
    parse_base_message_response, parse_find_response, parse_fingerprint_message_response,
    parse_sam_id_response, parse_select_response,
};

/// The backend name in [`ReaderInfo::backend`] and in [`CardRead::reader`].
pub const BACKEND: &str = "sam-serial";

/// The default UART speed of SAM readers.
pub const DEFAULT_BAUD: u32 = 115_200;

/// Opens the byte stream to a SAM reader; called again after the device went away.
pub trait SamPortOpener: Send {
    /// The open stream. Reads should return `TimedOut` or `WouldBlock` after a short wait when no
    /// byte arrives (tens of milliseconds), so the reader can enforce its own deadlines.
    type Port: Read + Write + Send;

    /// Opens the stream.
    fn open(&mut self) -> io::Result<Self::Port>;

    /// The device as a technician names it (a path such as `/dev/ttyUSB0`).
    fn device(&self) -> String;
}

/// Opens a serial port (or pty) with the `serialport` crate: 8N1, no flow control.
#[derive(Clone, Debug)]
pub struct SerialPortOpener {
    path: PathBuf,
    baud: u32,
    poll_ms: u64,
}

impl SerialPortOpener {
    /// A port at `path` with `baud` bits per second.
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> Self {
        Self {
            path: path.into(),
            baud,
            poll_ms: 20,
        }
    }

    /// The port's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SamPortOpener for SerialPortOpener {
    type Port = serialport::TTYPort;

    fn open(&mut self) -> io::Result<Self::Port> {
        let path = self.path.to_string_lossy().into_owned();
        let mut port = serialport::new(path, self.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(self.poll_ms))
            .open_native()
            .map_err(io::Error::from)?;
        // Some readers are powered from DTR/RTS; ptys and many adapters refuse these ioctls
        // (ENOTTY), so modem-line control is optional.
        use serialport::SerialPort as _;
        if let Err(error) = port.write_data_terminal_ready(true) {
            tracing::debug!(%error, "sam reader: cannot set DTR, continuing without it");
        }
        if let Err(error) = port.write_request_to_send(true) {
            tracing::debug!(%error, "sam reader: cannot set RTS, continuing without it");
        }
        Ok(port)
    }

    fn device(&self) -> String {
        self.path.display().to_string()
    }
}

/// How long each command may take, as the real clients allow (protocol doc §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamTimeouts {
    /// Find card (`20 01`).
    pub find_ms: u64,
    /// Select card (`20 02`).
    pub select_ms: u64,
    /// Read SAM id (`12 FF`).
    pub sam_id_ms: u64,
    /// Read text and photo (`30 01`).
    pub read_base_ms: u64,
    /// Read text, photo and fingerprint (`30 10`).
    pub read_fingerprint_ms: u64,
    /// Longest silence inside a frame that has started; longer means the card left the field.
    pub frame_gap_ms: u64,
}

impl Default for SamTimeouts {
    fn default() -> Self {
        Self {
            find_ms: 300,
            select_ms: 300,
            sam_id_ms: 500,
            read_base_ms: 2000,
            read_fingerprint_ms: 3000,
            frame_gap_ms: 300,
        }
    }
}

/// How a [`SamSerialReader`] reads.
#[derive(Clone, Debug, Default)]
pub struct SamReaderOptions {
    /// Per-command timeouts.
    pub timeouts: SamTimeouts,
    /// Read the fingerprint templates too (`30 10` instead of `30 01`).
    pub fingerprint: bool,
    /// What to do with the WLT photo.
    pub wlt_decoder: WltDecoder,
}

/// One SAM read: the card read, and the fingerprint length when fingerprints were asked for. The
/// fingerprint templates themselves are biometric data this terminal does not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamRead {
    /// The identity, verification and evidence.
    pub card_read: CardRead,
    /// Bytes of fingerprint data on the card (0, 512 or 1024), when read with `30 10`.
    pub fingerprint_len: Option<usize>,
    /// Whether the configured WLT decoder turned the photo into a bitmap.
    pub photo_decoded: bool,
}

/// The error kind for a reader status (SW3) that ends an operation.
pub fn kind_for_status(status: SamStatus) -> CardErrorKind {
    match status {
        SamStatus::NoCardFound => CardErrorKind::NoCard,
        SamStatus::SelectFailed | SamStatus::ReadFailed | SamStatus::GetChallengeFailed => {
            CardErrorKind::CardRemoved
        }
        SamStatus::CardRejectedSam | SamStatus::SamRejectedCard | SamStatus::VerificationFailed => {
            CardErrorKind::VerificationFailed
        }
        SamStatus::UnknownCardType => CardErrorKind::Unsupported,
        SamStatus::HostChecksumError | SamStatus::HostLengthError | SamStatus::BadCommand => {
            CardErrorKind::Protocol
        }
        SamStatus::Success
        | SamStatus::FindSucceeded
        | SamStatus::NoContent
        | SamStatus::Unauthorized
        | SamStatus::UnrecognizedError
        | SamStatus::SamSelfTestFailed
        | SamStatus::SamNotAuthorized
        | SamStatus::Unknown(_) => CardErrorKind::ReaderStatus,
    }
}

fn status_error(what: &str, status: SamStatus) -> CardError {
    CardError::new(
        kind_for_status(status),
        format!(
            "{what}: the reader answered {status}; {}",
            status.operator_action()
        ),
    )
}

fn command_name(command: SamCommand) -> &'static str {
    match command {
        SamCommand::ResetSam => "reset sam",
        SamCommand::SamStatus => "sam status",
        SamCommand::ReadSamId => "read sam id",
        SamCommand::FindCard => "find card",
        SamCommand::SelectCard => "select card",
        SamCommand::ReadBaseMessage => "read card",
        SamCommand::ReadAppendedAddress => "read appended address",
        SamCommand::ReadWithFingerprint => "read card with fingerprints",
        SamCommand::SetBaudRate(_) => "set baud rate",
        SamCommand::SetMaxRfFrameByte(_) => "set max rf frame byte",
    }
}

/// Whether an I/O error means the device went away (unplugged, pty master closed) rather than a
/// transient condition.
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// A resident-ID card reader with a SAM on a serial line.
pub struct SamSerialReader<O: SamPortOpener> {
    opener: O,
    port: Option<O::Port>,
    options: SamReaderOptions,
    decoder: FrameDecoder,
    sam_id: Option<String>,
    must_remove: bool,
    /// Bytes of an earlier, abandoned response may still arrive: drain before the next command.
    dirty: bool,
}

impl SamSerialReader<SerialPortOpener> {
    /// Opens the SAM reader on the serial port at `path` and reads its SAM id.
    pub fn open_serial(
        path: impl Into<PathBuf>,
        baud: u32,
        options: SamReaderOptions,
    ) -> Result<Self, CardError> {
        Self::open(SerialPortOpener::new(path, baud), options)
    }
}

impl<O: SamPortOpener> SamSerialReader<O> {
    /// Opens the reader through `opener` and reads its SAM id; fails when the device is absent or
    /// does not answer like a SAM reader.
    pub fn open(opener: O, options: SamReaderOptions) -> Result<Self, CardError> {
        let mut reader = Self {
            opener,
            port: None,
            options,
            decoder: FrameDecoder::new(),
            sam_id: None,
            must_remove: false,
            dirty: false,
        };
        reader.ensure_open()?;
        Ok(reader)
    }

    /// The options in force.
    pub fn options(&self) -> &SamReaderOptions {
        &self.options
    }

    /// Asks for fingerprints (`30 10`) on the next reads, or not.
    pub fn set_fingerprint(&mut self, fingerprint: bool) {
        self.options.fingerprint = fingerprint;
    }

    /// Whether the port is open now (false after the device went away, until the next call
    /// reopens it).
    pub fn is_connected(&self) -> bool {
        self.port.is_some()
    }

    /// Whether the reader is in the "card read, waiting for removal" state.
    pub fn waiting_for_removal(&self) -> bool {
        self.must_remove
    }

    fn device_gone(&mut self, what: &str, error: &io::Error) -> CardError {
        self.port = None;
        self.decoder.clear();
        self.sam_id = None;
        tracing::warn!(kind = ?error.kind(), operation = what, "sam reader: device gone");
        CardError::new(
            CardErrorKind::DeviceGone,
            format!(
                "{what}: the sam reader at {} went away ({error}); check that it is plugged in and \
                 powered, the kiosk reopens it on the next attempt",
                self.opener.device()
            ),
        )
    }

    fn ensure_open(&mut self) -> Result<(), CardError> {
        if self.port.is_some() {
            return Ok(());
        }
        let port = self.opener.open().map_err(|error| {
            let device = self.opener.device();
            match error.kind() {
                io::ErrorKind::PermissionDenied => CardError::new(
                    CardErrorKind::PermissionDenied,
                    format!(
                        "cannot open the sam reader at {device}: permission denied; add the kiosk \
                         user to the group that owns the port (usually dialout)"
                    ),
                ),
                _ => CardError::new(
                    CardErrorKind::DeviceGone,
                    format!(
                        "cannot open the sam reader at {device} ({error}); check that it is plugged \
                         in, powered and not opened by another program, and that the port is right"
                    ),
                ),
            }
        })?;
        self.port = Some(port);
        self.decoder.clear();
        self.dirty = false;
        let frame = match self.transact(SamCommand::ReadSamId, self.options.timeouts.sam_id_ms) {
            Ok(frame) => frame,
            Err(error) => {
                // A device that does not answer the SAM id is not usable: close it and retry later.
                self.port = None;
                return Err(error);
            }
        };
        match parse_sam_id_response(&frame) {
            Ok(sam_id) => {
                self.sam_id = Some(sam_id.to_string());
                tracing::info!(device = %self.opener.device(), "sam reader: opened, sam id read");
                Ok(())
            }
            Err(error) => {
                self.port = None;
                Err(response_error("read sam id", error))
            }
        }
    }

    /// Drops whatever bytes are waiting on the line (after an abandoned response).
    fn drain(&mut self) -> Result<(), CardError> {
        let mut buffer = [0u8; 512];
        let deadline = Instant::now() + Duration::from_millis(50);
        while Instant::now() < deadline {
            let Some(port) = self.port.as_mut() else {
                return Ok(());
            };
            match port.read(&mut buffer) {
                Ok(0) => {
                    return Err(self.device_gone("drain", &io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(_) => {}
                Err(error) if is_transient(&error) => break,
                Err(error) => return Err(self.device_gone("drain", &error)),
            }
        }
        self.decoder.clear();
        self.dirty = false;
        Ok(())
    }

    /// Sends `command` and waits up to `timeout_ms` for one response frame.
    fn transact(
        &mut self,
        command: SamCommand,
        timeout_ms: u64,
    ) -> Result<ResponseFrame, CardError> {
        let what = command_name(command);
        if self.dirty {
            self.drain()?;
        }
        self.decoder.clear();
        let frame = command.to_frame();
        let written = match self.port.as_mut() {
            Some(port) => port.write_all(&frame),
            None => Err(io::ErrorKind::NotConnected.into()),
        };
        if let Err(error) = written {
            return Err(self.device_gone(what, &error));
        }
        let result = self.receive(what, timeout_ms);
        if result.is_err() {
            self.dirty = true;
        }
        result
    }

    fn receive(&mut self, what: &str, timeout_ms: u64) -> Result<ResponseFrame, CardError> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(timeout_ms);
        let gap = Duration::from_millis(self.options.timeouts.frame_gap_ms);
        let mut last_byte_at = started;
        let mut buffer = [0u8; 1024];
        loop {
            if let Some(result) = self.decoder.next_frame() {
                return result.map_err(|error| {
                    tracing::warn!(operation = what, %error, "sam reader: damaged frame");
                    CardError::new(
                        CardErrorKind::Protocol,
                        format!(
                            "{what}: the reader sent a damaged frame ({error}); place the card on \
                             the reader again"
                        ),
                    )
                });
            }
            let now = Instant::now();
            let partial = self.decoder.buffered_len();
            if partial > 0 && now.duration_since(last_byte_at) >= gap {
                return Err(CardError::new(
                    CardErrorKind::CardRemoved,
                    format!(
                        "{what}: the reader stopped in the middle of its answer ({partial} bytes \
                         arrived); the card probably left the reader, place the card on the \
                         reader again and hold it still"
                    ),
                ));
            }
            if now >= deadline {
                return Err(CardError::new(
                    CardErrorKind::Timeout,
                    format!(
                        "{what}: the reader did not answer within {timeout_ms} ms; check the \
                         cable and that the port and baud rate belong to a sam reader"
                    ),
                ));
            }
            let read = match self.port.as_mut() {
                Some(port) => port.read(&mut buffer),
                None => Err(io::ErrorKind::NotConnected.into()),
            };
            match read {
                Ok(0) => return Err(self.device_gone(what, &io::ErrorKind::UnexpectedEof.into())),
                Ok(count) => {
                    last_byte_at = Instant::now();
                    self.decoder.push(buffer.get(..count).unwrap_or_default());
                }
                Err(error) if is_transient(&error) => {}
                Err(error) => return Err(self.device_gone(what, &error)),
            }
        }
    }

    /// Sends find card; `Ok(true)` when a card answered, `Ok(false)` on "no card".
    fn find(&mut self) -> Result<bool, CardError> {
        let frame = self.transact(SamCommand::FindCard, self.options.timeouts.find_ms)?;
        if frame.sw3 == SamStatus::NoCardFound {
            return Ok(false);
        }
        parse_find_response(&frame)
            .map(|_iin| true)
            .map_err(|error| response_error("find card", error))
    }

    /// Reads the card in the field: find, select, then read (with fingerprints when configured).
    pub fn read_sam(&mut self) -> Result<SamRead, CardError> {
        self.ensure_open()?;
        if !self.find()? {
            if self.must_remove {
                // The reader will not find a card it has just read until it leaves the field.
                self.must_remove = false;
                return Err(CardError::new(
                    CardErrorKind::MustRemoveCard,
                    "this card was already read: lift it off the reader and place it again to \
                     read it again",
                ));
            }
            return Err(status_error("find card", SamStatus::NoCardFound));
        }
        // A card found after a read is a new presentation: the SAM itself refuses to find a card
        // it has just read until the card leaves the field (protocol doc §1.8).
        self.must_remove = false;
        let frame = self.transact(SamCommand::SelectCard, self.options.timeouts.select_ms)?;
        parse_select_response(&frame).map_err(|error| response_error("select card", error))?;
        let fingerprint = self.options.fingerprint;
        let (command, timeout_ms) = if fingerprint {
            (
                SamCommand::ReadWithFingerprint,
                self.options.timeouts.read_fingerprint_ms,
            )
        } else {
            (
                SamCommand::ReadBaseMessage,
                self.options.timeouts.read_base_ms,
            )
        };
        let frame = self.transact(command, timeout_ms)?;
        let message = if fingerprint {
            parse_fingerprint_message_response(&frame)
        } else {
            parse_base_message_response(&frame)
        }
        .map_err(|error| response_error(command_name(command), error))?;
        let read = self.card_read(message)?;
        self.must_remove = true;
        let (fingerprint_len, wlt_decoded) = (read.fingerprint_len, read.photo_decoded);
        tracing::info!(?fingerprint_len, wlt_decoded, "sam reader: card read");
        Ok(read)
    }

    fn card_read(&self, message: CardMessage) -> Result<SamRead, CardError> {
        let mut identity = parse_card_message(&message).map_err(|error| {
            CardError::new(
                CardErrorKind::Protocol,
                format!(
                    "the card's text block could not be decoded ({error}); place the card on the \
                     reader again, and check it by hand if this repeats"
                ),
            )
        })?;
        let mut photo_decoded = false;
        if let Photo::Undecoded {
            format: UndecodedFormat::Wlt,
            bytes,
        } = &identity.photo
        {
            match self.options.wlt_decoder.decode(bytes) {
                Ok(Some(bitmap)) => {
                    identity.photo = Photo::Bmp(bitmap);
                    photo_decoded = true;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "sam reader: wlt decoder failed, keeping the wlt bytes");
                }
            }
        }
        let sam_id = self.sam_id.clone().unwrap_or_default();
        Ok(SamRead {
            card_read: CardRead {
                format: CARD_READ_FORMAT,
                identity,
                verification: Verification::Sam { sam_id },
                evidence: RawEvidence {
                    sam_text_block: Some(message.text),
                    ..RawEvidence::default()
                },
                reader: format!("{BACKEND}:{}", self.opener.device()),
            },
            fingerprint_len: message.fingerprint.as_ref().map(Vec::len),
            photo_decoded,
        })
    }
}

fn response_error(what: &str, error: ResponseError) -> CardError {
    match error {
        ResponseError::Status { status, .. } => status_error(what, status),
        other => CardError::new(
            CardErrorKind::Protocol,
            format!("{what}: {other}; place the card on the reader again"),
        ),
    }
}

impl<O: SamPortOpener> CardReader for SamSerialReader<O> {
    fn info(&self) -> ReaderInfo {
        ReaderInfo {
            backend: BACKEND.to_owned(),
            device: self.opener.device(),
            sam_id: self.sam_id.clone(),
            atr_hex: None,
        }
    }

    fn presence(&mut self) -> Result<Presence, CardError> {
        self.ensure_open()?;
        let found = self.find()?;
        Ok(match (found, self.must_remove) {
            (true, true) => Presence::MustRemove,
            (true, false) => Presence::CardPresent,
            (false, _) => {
                self.must_remove = false;
                Presence::NoCard
            }
        })
    }

    fn wait_for_card(&mut self, timeout: Duration) -> Result<(), CardError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.presence()? == Presence::CardPresent {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(status_error("wait for card", SamStatus::NoCardFound));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn read(&mut self, _key: &AccessKey) -> Result<CardRead, CardError> {
        self.read_sam().map(|read| read.card_read)
    }

    fn wait_for_removal(&mut self, timeout: Duration) -> Result<(), CardError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.presence()? == Presence::NoCard {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(CardError::new(
                    CardErrorKind::MustRemoveCard,
                    "the card already read is still on the reader: remove it",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reader's state machine over an in-memory line that answers from a script.

    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use enroll_core::domain::document::DocumentKind;
    use enroll_sim::sam_emulator::{EMULATED_SAM_ID, SampleCard};

    #[derive(Default)]
    struct Line {
        /// One answer per command written, in order; `None` answers nothing.
        answers: VecDeque<Option<Vec<u8>>>,
        pending: VecDeque<u8>,
        written: Vec<Vec<u8>>,
        gone: bool,
        opens: usize,
    }

    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Line>>);

    impl Memory {
        fn answer(&self, bytes: Vec<u8>) -> &Self {
            self.0.lock().unwrap().answers.push_back(Some(bytes));
            self
        }
        fn answer_frame(&self, frame: ResponseFrame) -> &Self {
            self.answer(frame.encode().unwrap())
        }
        fn status(&self, status: SamStatus) -> &Self {
            self.answer_frame(ResponseFrame::status_only(status))
        }
        fn silence(&self) -> &Self {
            self.0.lock().unwrap().answers.push_back(None);
            self
        }
        fn sam_id(&self) -> &Self {
            self.answer_frame(EMULATED_SAM_ID.to_response())
        }
        fn found_and_selected(&self) -> &Self {
            self.answer_frame(enroll_core::domain::sam_frame::CardIin([0; 4]).to_response())
                .answer_frame(enroll_core::domain::sam_frame::CardSerial([0; 8]).to_response())
        }
        fn card(&self, fingerprint: bool) -> &Self {
            let message = SampleCard::Resident.card().message(fingerprint).unwrap();
            self.answer_frame(message.to_response().unwrap())
        }
        fn written(&self) -> Vec<Vec<u8>> {
            self.0.lock().unwrap().written.clone()
        }
    }

    struct MemoryPort(Memory);

    impl Read for MemoryPort {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut line = (self.0).0.lock().unwrap();
            if line.gone {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if line.pending.is_empty() {
                drop(line);
                std::thread::sleep(Duration::from_millis(1));
                return Err(io::ErrorKind::TimedOut.into());
            }
            // Deliver at most 7 bytes at a time: partial reads everywhere.
            let count = buf.len().min(7).min(line.pending.len());
            for slot in buf.iter_mut().take(count) {
                *slot = line.pending.pop_front().unwrap();
            }
            Ok(count)
        }
    }

    impl Write for MemoryPort {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut line = (self.0).0.lock().unwrap();
            if line.gone {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            line.written.push(buf.to_vec());
            if let Some(Some(answer)) = line.answers.pop_front() {
                line.pending.extend(answer);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl SamPortOpener for Memory {
        type Port = MemoryPort;
        fn open(&mut self) -> io::Result<MemoryPort> {
            let mut line = self.0.lock().unwrap();
            if line.gone {
                return Err(io::ErrorKind::NotFound.into());
            }
            line.opens += 1;
            Ok(MemoryPort(self.clone()))
        }
        fn device(&self) -> String {
            "memory".into()
        }
    }

    fn fast_options() -> SamReaderOptions {
        SamReaderOptions {
            timeouts: SamTimeouts {
                find_ms: 100,
                select_ms: 100,
                sam_id_ms: 100,
                read_base_ms: 300,
                read_fingerprint_ms: 300,
                frame_gap_ms: 50,
            },
            ..SamReaderOptions::default()
        }
    }

    fn open(memory: &Memory) -> SamSerialReader<Memory> {
        memory.sam_id();
        SamSerialReader::open(memory.clone(), fast_options()).unwrap()
    }

    #[test]
    fn opening_reads_the_sam_id_for_info_and_verification() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        let info = reader.info();
        assert_eq!(info.backend, "sam-serial");
        assert_eq!(
            info.sam_id.as_deref(),
            Some("05.01-20101018-0123456789-1234567890")
        );
        memory.found_and_selected().card(false);
        let read = reader.read(&AccessKey::None).unwrap();
        assert_eq!(
            read.verification,
            Verification::Sam {
                sam_id: "05.01-20101018-0123456789-1234567890".into()
            }
        );
    }

    #[test]
    fn every_read_sends_find_then_select_then_read_with_the_documented_bytes() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        memory.found_and_selected().card(false);
        let read = reader.read_sam().unwrap();
        assert_eq!(read.card_read.identity.kind, DocumentKind::CnResident);
        assert_eq!(read.fingerprint_len, None);
        assert_eq!(
            memory.written(),
            vec![
                vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x12, 0xFF, 0xEE],
                vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22],
                vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x02, 0x21],
                vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x30, 0x01, 0x32],
            ]
        );
        assert_eq!(
            read.card_read
                .evidence
                .sam_text_block
                .as_ref()
                .map(Vec::len),
            Some(256)
        );
    }

    #[test]
    fn fingerprint_reads_use_30_10_and_report_the_fingerprint_length() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        reader.set_fingerprint(true);
        memory.found_and_selected().card(true);
        let read = reader.read_sam().unwrap();
        assert_eq!(read.fingerprint_len, Some(1024));
        assert_eq!(
            memory.written().last().unwrap(),
            &vec![0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x30, 0x10, 0x23]
        );
    }

    #[test]
    fn garbage_before_the_preamble_is_skipped() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        let mut find = vec![0x00, 0x13, 0x96, 0x69];
        find.extend(
            enroll_core::domain::sam_frame::CardIin([0; 4])
                .to_response()
                .encode()
                .unwrap(),
        );
        memory
            .answer(find)
            .answer_frame(enroll_core::domain::sam_frame::CardSerial([0; 8]).to_response())
            .card(false);
        assert!(reader.read_sam().is_ok());
    }

    #[test]
    fn read_again_without_removing_the_card_asks_to_remove_it() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        memory.found_and_selected().card(false);
        reader.read_sam().unwrap();
        assert!(reader.waiting_for_removal());
        // A reader that still finds the card just read: it must leave the field first.
        memory.answer_frame(enroll_core::domain::sam_frame::CardIin([0; 4]).to_response());
        assert_eq!(reader.presence().unwrap(), Presence::MustRemove);
        // A SAM that refuses to find the card it has just read: lift it off and place it again.
        memory.status(SamStatus::NoCardFound);
        let error = reader.read_sam().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::MustRemoveCard);
        assert!(error.to_string().contains("lift it off"), "{error}");
        assert!(!reader.waiting_for_removal());
        // Once it is placed again, find succeeds and the read goes on.
        memory.found_and_selected().card(false);
        assert!(reader.read_sam().is_ok());
        // Find fails once the card is gone: the state ends.
        memory.status(SamStatus::NoCardFound);
        assert_eq!(reader.presence().unwrap(), Presence::NoCard);
        assert!(!reader.waiting_for_removal());
    }

    #[test]
    fn reader_status_ends_the_read_with_its_kind_and_operator_action() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        memory
            .found_and_selected()
            .status(SamStatus::SamRejectedCard);
        let error = reader.read_sam().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::VerificationFailed);
        assert!(
            error
                .to_string()
                .contains(SamStatus::SamRejectedCard.operator_action())
        );
    }

    #[test]
    fn every_sw3_code_maps_to_the_kind_the_flows_react_to() {
        use CardErrorKind as K;
        let expected = [
            (0x91, K::ReaderStatus),
            (0x10, K::Protocol),
            (0x11, K::Protocol),
            (0x21, K::Protocol),
            (0x23, K::ReaderStatus),
            (0x24, K::ReaderStatus),
            (0x31, K::VerificationFailed),
            (0x32, K::VerificationFailed),
            (0x33, K::VerificationFailed),
            (0x40, K::Unsupported),
            (0x41, K::CardRemoved),
            (0x47, K::CardRemoved),
            (0x60, K::ReaderStatus),
            (0x66, K::ReaderStatus),
            (0x80, K::NoCard),
            (0x81, K::CardRemoved),
            (0x55, K::ReaderStatus),
        ];
        for (code, kind) in expected {
            assert_eq!(
                kind_for_status(SamStatus::from_code(code)),
                kind,
                "{code:#04x}"
            );
        }
    }

    #[test]
    fn half_a_frame_then_silence_means_the_card_left_the_reader() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        let message = SampleCard::Resident.card().message(false).unwrap();
        let mut bytes = message.to_response().unwrap().encode().unwrap();
        bytes.truncate(600);
        memory.found_and_selected().answer(bytes);
        let error = reader.read_sam().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::CardRemoved);
        assert!(error.to_string().contains("place the card"), "{error}");
        // The next read drains and works.
        memory.found_and_selected().card(false);
        assert!(reader.read_sam().is_ok());
    }

    #[test]
    fn a_silent_reader_is_a_timeout() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        memory.silence();
        let error = reader.presence().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::Timeout);
    }

    #[test]
    fn a_damaged_frame_is_a_protocol_error() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        let mut bytes = SampleCard::Resident
            .card()
            .message(false)
            .unwrap()
            .to_response()
            .unwrap()
            .encode()
            .unwrap();
        *bytes.last_mut().unwrap() ^= 0xFF;
        memory.found_and_selected().answer(bytes);
        let error = reader.read_sam().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::Protocol);
    }

    #[test]
    fn a_broken_pipe_is_device_gone_and_the_next_call_reopens_the_port() {
        let memory = Memory::default();
        let mut reader = open(&memory);
        memory.0.lock().unwrap().gone = true;
        let error = reader.presence().unwrap_err();
        assert_eq!(error.kind(), CardErrorKind::DeviceGone);
        assert!(error.to_string().contains("plugged in"), "{error}");
        assert!(!reader.is_connected());
        // Still gone: opening fails with the same kind.
        assert_eq!(
            reader.presence().unwrap_err().kind(),
            CardErrorKind::DeviceGone
        );
        // Back: the next call reopens, reads the SAM id, and goes on.
        {
            let mut line = memory.0.lock().unwrap();
            line.gone = false;
            line.pending.clear();
        }
        memory.sam_id().found_and_selected().card(false);
        assert!(reader.read_sam().is_ok());
        assert_eq!(memory.0.lock().unwrap().opens, 2);
    }
}
