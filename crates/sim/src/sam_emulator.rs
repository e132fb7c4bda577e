//! A resident-ID SAM reader emulator on a pseudo-terminal, for tests, demos and benchmarks: it
//! answers the frames of protocol doc §1.2–1.4 at 115200-baud timing with a simulated card time,
//! applies the "remove before re-read" rule, and injects faults (any SW3 code, damaged frames,
//! garbage, split writes, a card pulled mid-frame, the device unplugged). Cards are synthetic
//! people (built-in samples or a small TOML card file). It holds no real person's data and does
//! not implement the reader side (`sam_serial`).
//!
//! The emulator runs on a named thread; its owner drives it through [`SamEmulator`]
//! (`insert_card`, `remove_card`, `set_fault`, `unplug`, `replug`).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serialport::{SerialPort as _, TTYPort};

use enroll_core::domain::document::{
    CalendarDate, DocumentDetails, DocumentKind, Identity, Nation, Photo, Sex, UndecodedFormat,
    Validity,
};
use enroll_core::domain::id_text::encode_text_block;
use enroll_core::domain::sam_frame::{
    CardIin, CardMessage, CardSerial, CommandFrame, FrameDecoder, FrameError, HEADER_LEN,
    PHOTO_LEN, ResponseFrame, SamCommand, SamId, SamStatus,
};

/// The SAM id the emulator reports: `05.01-20101018-0123456789-1234567890`.
pub const EMULATED_SAM_ID: SamId = sam_id(5, 1, 20_101_018, 123_456_789, 1_234_567_890);

const fn sam_id(a: u8, b: u8, w0: u32, w1: u32, w2: u32) -> SamId {
    let [c0, c1, c2, c3] = w0.to_le_bytes();
    let [d0, d1, d2, d3] = w1.to_le_bytes();
    let [e0, e1, e2, e3] = w2.to_le_bytes();
    SamId([a, 0, b, 0, c0, c1, c2, c3, d0, d1, d2, d3, e0, e1, e2, e3])
}

/// A card the emulator can hold: a synthetic identity and how many fingerprint bytes it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatedCard {
    /// Who the card says its holder is; the photo is a fake WLT blob.
    pub identity: Identity,
    /// Fingerprint data on the card: 0, 512 or 1024 bytes.
    pub fingerprint_len: usize,
}

/// The built-in sample cards (synthetic people).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleCard {
    /// Resident ID, long-term validity (`长期`), two fingerprint templates.
    Resident,
    /// HK/Macao/Taiwan residence permit (flag `J`), no fingerprint.
    HmtResidence,
    /// Foreigner's permanent residence card 2017 (flag `I`), no fingerprint.
    ForeignPermanent2017,
    /// Foreigner's permanent residence card 2023 (flag `Y`), one fingerprint template.
    ForeignPermanent2023,
}

impl SampleCard {
    /// All samples.
    pub const ALL: [SampleCard; 4] = [
        Self::Resident,
        Self::HmtResidence,
        Self::ForeignPermanent2017,
        Self::ForeignPermanent2023,
    ];

    /// The name used on the command line (`--card sample:NAME`).
    pub fn cli_name(self) -> &'static str {
        match self {
            Self::Resident => "resident",
            Self::HmtResidence => "hmt",
            Self::ForeignPermanent2017 => "foreign-2017",
            Self::ForeignPermanent2023 => "foreign-2023",
        }
    }

    /// The sample called `name`.
    pub fn from_cli_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|card| card.cli_name() == name)
    }

    /// The card.
    #[allow(clippy::expect_used)] // constant dates, all valid (unit test `every_sample_card_encodes`)
    pub fn card(self) -> EmulatedCard {
        let date = |y, m, d| CalendarDate::new(y, m, d).expect("built-in sample dates are valid");
        let (identity, fingerprint_len) = match self {
            Self::Resident => (
                Identity {
                    kind: DocumentKind::CnResident,
                    name: "张三".into(),
                    name_latin: None,
                    sex: Sex::Male,
                    nation: Nation::parse("01"),
                    nationality: None,
                    birth: date(1949, 12, 31),
                    address: Some("北京市东城区景山前街4号".into()),
                    // The GB 11643 standard's own example number: it belongs to nobody.
                    document_number: "11010519491231002X".into(),
                    issuing_authority: Some("北京市公安局东城分局".into()),
                    valid_from: Some(date(2015, 1, 1)),
                    valid_to: Validity::LongTerm,
                    details: DocumentDetails::None,
                    photo: Photo::Absent,
                },
                1024,
            ),
            Self::HmtResidence => (
                Identity {
                    kind: DocumentKind::CnHmtResidence,
                    name: "陈大文".into(),
                    name_latin: None,
                    sex: Sex::Female,
                    nation: None,
                    nationality: None,
                    birth: date(1990, 2, 15),
                    address: Some("广东省深圳市福田区福中三路1号".into()),
                    document_number: "810000199002150020".into(),
                    issuing_authority: Some("深圳市公安局".into()),
                    valid_from: Some(date(2020, 3, 1)),
                    valid_to: Validity::Until(date(2030, 3, 1)),
                    details: DocumentDetails::CnHmtResidence {
                        pass_number: "H12345678".into(),
                        issue_count: "01".into(),
                    },
                    photo: Photo::Absent,
                },
                0,
            ),
            Self::ForeignPermanent2017 => (
                Identity {
                    kind: DocumentKind::CnForeignPermanent2017,
                    name: "史密斯".into(),
                    name_latin: Some("SMITH, JOHN PAUL".into()),
                    sex: Sex::Male,
                    nation: None,
                    nationality: Some("USA".into()),
                    birth: date(1980, 1, 1),
                    address: None,
                    document_number: "USA110080101001".into(),
                    issuing_authority: None,
                    valid_from: Some(date(2018, 1, 1)),
                    valid_to: Validity::Until(date(2028, 1, 1)),
                    details: DocumentDetails::CnForeignPermanent2017 {
                        card_version: "20".into(),
                        authority_code: "1100".into(),
                    },
                    photo: Photo::Absent,
                },
                0,
            ),
            Self::ForeignPermanent2023 => (
                Identity {
                    kind: DocumentKind::CnForeignPermanent2023,
                    name: "阿卜杜拉".into(),
                    name_latin: Some("ABDULRAHMAN BIN MOHAMMED AL-RASHIDI KHALID".into()),
                    sex: Sex::Female,
                    nation: None,
                    nationality: Some("SAU".into()),
                    birth: date(1985, 7, 4),
                    address: None,
                    document_number: "911276198507040025".into(),
                    issuing_authority: None,
                    valid_from: Some(date(2023, 1, 1)),
                    valid_to: Validity::Until(date(2033, 1, 1)),
                    details: DocumentDetails::CnForeignPermanent2023 {
                        renewal_count: "00".into(),
                        previous_card_link: String::new(),
                    },
                    photo: Photo::Absent,
                },
                512,
            ),
        };
        EmulatedCard::new(identity, fingerprint_len)
    }
}

/// A fake WLT photo: the `WLf` magic and bytes derived from `seed`; no decoder can read it.
pub fn fake_wlt(seed: &str) -> Vec<u8> {
    let mut state = seed.bytes().fold(0x811C_9DC5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let mut photo = b"WLf".to_vec();
    while photo.len() < PHOTO_LEN {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        photo.push(state.to_be_bytes().first().copied().unwrap_or(0));
    }
    photo
}

impl EmulatedCard {
    /// A card for `identity`; a missing photo is replaced by a fake WLT blob.
    pub fn new(mut identity: Identity, fingerprint_len: usize) -> Self {
        if identity.photo == Photo::Absent {
            identity.photo = Photo::Undecoded {
                format: UndecodedFormat::Wlt,
                bytes: fake_wlt(&identity.document_number),
            };
        }
        Self {
            identity,
            fingerprint_len,
        }
    }

    /// The same card with `fingerprint_len` bytes of fingerprint data.
    pub fn with_fingerprint_len(mut self, fingerprint_len: usize) -> Self {
        self.fingerprint_len = fingerprint_len;
        self
    }

    /// Parses a card file (TOML; see [`CardFile`]).
    pub fn from_toml(text: &str) -> Result<Self, CardFileError> {
        let file: CardFile = toml::from_str(text).map_err(|error| CardFileError {
            message: error.to_string(),
        })?;
        file.into_card()
    }

    /// The read response of this card (`30 01`, or `30 10` with fingerprints).
    pub fn message(&self, fingerprint: bool) -> Option<CardMessage> {
        let text = encode_text_block(&self.identity).ok()?;
        let photo = self.identity.photo.bytes().unwrap_or_default().to_vec();
        let fingerprint = fingerprint.then(|| {
            (0..self.fingerprint_len)
                .map(|i| (i % 251) as u8 ^ 0x5A)
                .collect()
        });
        Some(CardMessage {
            text: text.to_vec(),
            photo,
            fingerprint,
        })
    }
}

/// A card file is wrong; the message names the key and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("card file: {message}")]
pub struct CardFileError {
    message: String,
}

/// The card file of `kiosk card emulate sam --card FILE` (TOML). Example:
///
/// ```toml
/// kind = "cn_resident"       # cn_resident | cn_hmt_residence | cn_foreign_permanent2017 | cn_foreign_permanent2023
/// name = "张三"               # primary-script name
/// sex = "male"               # male | female | unknown | unspecified
/// nation = "01"              # resident cards: GB 3304 code
/// birth = "1949-12-31"
/// address = "北京市东城区景山前街4号"
/// document_number = "11010519491231002X"
/// issuing_authority = "北京市公安局东城分局"
/// valid_from = "2015-01-01"
/// valid_to = "long-term"     # or a date, "2035-01-01"
/// fingerprint_bytes = 1024   # 0, 512 or 1024
/// ```
///
/// Foreigner's cards add `name_latin` and `nationality` (ISO 3166-1 alpha-3); kind-specific keys
/// are `pass_number`, `issue_count` (HMT), `card_version`, `authority_code` (2017),
/// `renewal_count`, `previous_card_link` (2023). The photo is always a fake WLT blob.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFile {
    kind: DocumentKind,
    name: String,
    #[serde(default)]
    name_latin: Option<String>,
    sex: Sex,
    #[serde(default)]
    nation: Option<String>,
    #[serde(default)]
    nationality: Option<String>,
    birth: String,
    #[serde(default)]
    address: Option<String>,
    document_number: String,
    #[serde(default)]
    issuing_authority: Option<String>,
    #[serde(default)]
    valid_from: Option<String>,
    valid_to: String,
    #[serde(default)]
    fingerprint_bytes: usize,
    #[serde(default)]
    pass_number: Option<String>,
    #[serde(default)]
    issue_count: Option<String>,
    #[serde(default)]
    card_version: Option<String>,
    #[serde(default)]
    authority_code: Option<String>,
    #[serde(default)]
    renewal_count: Option<String>,
    #[serde(default)]
    previous_card_link: Option<String>,
}

fn file_error(message: impl Into<String>) -> CardFileError {
    CardFileError {
        message: message.into(),
    }
}

fn parse_date(key: &str, text: &str) -> Result<CalendarDate, CardFileError> {
    text.parse()
        .map_err(|error| file_error(format!("`{key}` = {text:?}: {error}; use YYYY-MM-DD")))
}

impl CardFile {
    fn into_card(self) -> Result<EmulatedCard, CardFileError> {
        if ![0, 512, 1024].contains(&self.fingerprint_bytes) {
            return Err(file_error("`fingerprint_bytes` must be 0, 512 or 1024"));
        }
        let nation = match &self.nation {
            Some(code) => Some(
                Nation::parse(code)
                    .ok_or_else(|| file_error("`nation` must be a two-digit GB 3304 code"))?,
            ),
            None => None,
        };
        let valid_to = match self.valid_to.as_str() {
            "long-term" | "长期" => Validity::LongTerm,
            date => Validity::Until(parse_date("valid_to", date)?),
        };
        let text = |value: Option<String>| value.unwrap_or_default();
        let details = match self.kind {
            DocumentKind::CnResident => DocumentDetails::None,
            DocumentKind::CnHmtResidence => DocumentDetails::CnHmtResidence {
                pass_number: text(self.pass_number),
                issue_count: text(self.issue_count),
            },
            DocumentKind::CnForeignPermanent2017 => DocumentDetails::CnForeignPermanent2017 {
                card_version: text(self.card_version),
                authority_code: text(self.authority_code),
            },
            DocumentKind::CnForeignPermanent2023 => DocumentDetails::CnForeignPermanent2023 {
                renewal_count: text(self.renewal_count),
                previous_card_link: text(self.previous_card_link),
            },
            _ => {
                return Err(file_error(
                    "`kind` must be cn_resident, cn_hmt_residence, cn_foreign_permanent2017 or \
                     cn_foreign_permanent2023 (SAM readers read only Chinese cards)",
                ));
            }
        };
        let identity = Identity {
            kind: self.kind,
            name: self.name,
            name_latin: self.name_latin,
            sex: self.sex,
            nation,
            nationality: self.nationality,
            birth: parse_date("birth", &self.birth)?,
            address: self.address,
            document_number: self.document_number,
            issuing_authority: self.issuing_authority,
            valid_from: match &self.valid_from {
                Some(date) => Some(parse_date("valid_from", date)?),
                None => None,
            },
            valid_to,
            details,
            photo: Photo::Absent,
        };
        encode_text_block(&identity).map_err(|error| file_error(error.to_string()))?;
        Ok(EmulatedCard::new(identity, self.fingerprint_bytes))
    }
}

/// A fault the emulator injects until it is cleared (except `PullCardMidFrame`, which happens once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamFault {
    /// Answer with this SW3: `80` on find, `81` on select, any other code on the read.
    Status(SamStatus),
    /// The read response's checksum is wrong.
    BadChecksum,
    /// The read response's LEN field is one less than its real length.
    WrongLength,
    /// Every response is preceded by bytes that are not a preamble.
    GarbageBeforePreamble,
    /// Every response is written in small pieces with pauses between them.
    SplitWrites,
    /// The card leaves during the read: half of the response is written, then nothing.
    PullCardMidFrame,
}

impl SamFault {
    /// The names `--fault` accepts.
    pub const NAMES: &'static str = "sw3-XX (hex status, e.g. sw3-41), bad-checksum, wrong-len, garbage, split-writes, pull-mid-frame";
}

impl FromStr for SamFault {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "bad-checksum" => Self::BadChecksum,
            "wrong-len" => Self::WrongLength,
            "garbage" => Self::GarbageBeforePreamble,
            "split-writes" => Self::SplitWrites,
            "pull-mid-frame" => Self::PullCardMidFrame,
            other => match other
                .strip_prefix("sw3-")
                .map(|hex| u8::from_str_radix(hex, 16))
            {
                Some(Ok(code)) => Self::Status(SamStatus::from_code(code)),
                _ => {
                    return Err(format!(
                        "unknown fault {name:?}; known faults: {}",
                        Self::NAMES
                    ));
                }
            },
        })
    }
}

/// Timing of the emulated reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmulatorTiming {
    /// Line speed the output is throttled to (10 bits per byte).
    pub baud: u32,
    /// Simulated card time of find card.
    pub find_ms: u64,
    /// Simulated card time of select card.
    pub select_ms: u64,
    /// Simulated card time of a read (`30 01` or `30 10`).
    pub read_ms: u64,
}

impl Default for EmulatorTiming {
    fn default() -> Self {
        Self {
            baud: 115_200,
            find_ms: 20,
            select_ms: 20,
            read_ms: 300,
        }
    }
}

impl EmulatorTiming {
    /// Wire time of `bytes` bytes at this speed, 10 bits per byte.
    pub fn wire_time(&self, bytes: usize) -> Duration {
        let bits = (bytes as u64).saturating_mul(10);
        Duration::from_micros(bits.saturating_mul(1_000_000) / u64::from(self.baud.max(1)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CardState {
    Idle,
    Found,
    Selected,
    /// Read; find fails until the card is removed.
    ReadDone,
}

struct Control {
    card: Option<EmulatedCard>,
    card_state: CardState,
    fault: Option<SamFault>,
    want_plugged: bool,
    plugged: bool,
    reads_served: u64,
    auto_replace: bool,
    /// Every read is cut off mid-frame and the card stays (the demo's `card-pulled` fault).
    pull_every_read: bool,
}

struct Shared {
    control: Mutex<Control>,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Control> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The two ends of one emulated device: the master the emulator speaks on, and a slave handle it
/// keeps open so the master does not see hang-ups while no client is connected.
pub(crate) struct Pty {
    pub(crate) master: TTYPort,
    _slave: TTYPort,
}

pub(crate) fn create_pty(link: &Path) -> io::Result<Pty> {
    let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
    master
        .set_timeout(Duration::from_millis(20))
        .map_err(io::Error::from)?;
    let slave_path = slave
        .name()
        .ok_or_else(|| io::Error::other("the pty slave has no name"))?;
    replace_link(link, Path::new(&slave_path))?;
    Ok(Pty {
        master,
        _slave: slave,
    })
}

/// Points `link` at `target`, replacing an older symlink but never a real file.
fn replace_link(link: &Path, target: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a symlink; choose another --link path",
                    link.display()
                ),
            ));
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
}

pub(crate) fn remove_link(link: &Path) {
    if std::fs::symlink_metadata(link).is_ok_and(|meta| meta.file_type().is_symlink()) {
        let _ = std::fs::remove_file(link);
    }
}

/// A running SAM reader emulator. Dropping it stops the thread and removes the link.
pub struct SamEmulator {
    shared: Arc<Shared>,
    link: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl SamEmulator {
    /// Creates a pty, links its slave at `link`, and starts answering with `card` in the field.
    pub fn start(
        link: impl Into<PathBuf>,
        card: Option<EmulatedCard>,
        timing: EmulatorTiming,
    ) -> io::Result<Self> {
        let link = link.into();
        let pty = create_pty(&link)?;
        let shared = Arc::new(Shared {
            control: Mutex::new(Control {
                card,
                card_state: CardState::Idle,
                fault: None,
                want_plugged: true,
                plugged: true,
                reads_served: 0,
                auto_replace: false,
                pull_every_read: false,
            }),
            stop: AtomicBool::new(false),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            link: link.clone(),
            timing,
            pty: Some(pty),
            decoder: FrameDecoder::new(),
        };
        let thread = std::thread::Builder::new()
            .name("sam-emulator".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            shared,
            link,
            thread: Some(thread),
        })
    }

    /// The path the emulated device is linked at.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Places `card` in the field (a fresh card: it can be found and read).
    pub fn insert_card(&self, card: EmulatedCard) {
        let mut control = self.shared.lock();
        control.card = Some(card);
        control.card_state = CardState::Idle;
    }

    /// Takes the card out of the field.
    pub fn remove_card(&self) {
        let mut control = self.shared.lock();
        control.card = None;
        control.card_state = CardState::Idle;
    }

    /// Sets (or with `None` clears) the injected fault.
    pub fn set_fault(&self, fault: Option<SamFault>) {
        self.shared.lock().fault = fault;
    }

    /// With `true`, the card is lifted and placed again right after every read, so the next find
    /// succeeds (benchmarks and demos that read in a loop); the removal rule is then not exercised.
    pub fn set_auto_replace(&self, auto_replace: bool) {
        self.shared.lock().auto_replace = auto_replace;
    }

    /// With `true`, every read is cut off half-way as if the card were pulled, and the card is
    /// found again on the next try (the demo's `card-pulled` fault); `false` ends that.
    pub fn set_pull_every_read(&self, pull: bool) {
        self.shared.lock().pull_every_read = pull;
    }

    /// Successful reads served so far.
    pub fn reads_served(&self) -> u64 {
        self.shared.lock().reads_served
    }

    /// Unplugs the device: closes the pty (clients see a broken pipe) and removes the link.
    pub fn unplug(&self) -> io::Result<()> {
        self.set_plugged(false)
    }

    /// Plugs the device back in: a new pty, linked at the same path.
    pub fn replug(&self) -> io::Result<()> {
        self.set_plugged(true)
    }

    fn set_plugged(&self, plugged: bool) -> io::Result<()> {
        self.shared.lock().want_plugged = plugged;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.shared.lock().plugged == plugged {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the emulator did not change its plugged state in time",
        ))
    }

    /// Stops the emulator and removes the link.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        remove_link(&self.link);
    }
}

impl Drop for SamEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What to send for one command.
struct Reply {
    card_time_ms: u64,
    bytes: Vec<u8>,
    split: bool,
    /// Stop writing after this many bytes (the card left mid-frame).
    cut_at: Option<usize>,
}

struct Worker {
    shared: Arc<Shared>,
    link: PathBuf,
    timing: EmulatorTiming,
    pty: Option<Pty>,
    decoder: FrameDecoder,
}

const GARBAGE: [u8; 6] = [0x00, 0x13, 0x37, 0x96, 0x69, 0xFF];

impl Worker {
    fn run(mut self) {
        let mut buffer = [0u8; 256];
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.sync_plugged();
            let Some(pty) = self.pty.as_mut() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            match pty.master.read(&mut buffer) {
                Ok(count) => self.decoder.push(buffer.get(..count).unwrap_or_default()),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => {
                    tracing::debug!(%error, "sam emulator: read failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            while let Some(command) = self.decoder.next_command() {
                let reply = self.reply(command);
                self.send(&reply);
            }
        }
        self.pty = None;
        remove_link(&self.link);
    }

    fn sync_plugged(&mut self) {
        let want = self.shared.lock().want_plugged;
        match (want, self.pty.is_some()) {
            (true, false) => match create_pty(&self.link) {
                Ok(pty) => {
                    self.pty = Some(pty);
                    self.decoder = FrameDecoder::new();
                    self.shared.lock().plugged = true;
                }
                Err(error) => {
                    tracing::warn!(%error, "sam emulator: cannot create the pty, retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
            },
            (false, true) => {
                self.pty = None;
                remove_link(&self.link);
                self.shared.lock().plugged = false;
            }
            _ => {}
        }
    }

    fn reply(&self, command: Result<CommandFrame, FrameError>) -> Reply {
        let mut control = self.shared.lock();
        let fault = if control.pull_every_read {
            Some(SamFault::PullCardMidFrame)
        } else {
            control.fault
        };
        let status_reply = |status: SamStatus| Reply {
            card_time_ms: 0,
            bytes: ResponseFrame::status_only(status)
                .encode()
                .unwrap_or_default(),
            split: false,
            cut_at: None,
        };
        let frame = match command {
            Ok(frame) => frame,
            Err(FrameError::ChecksumMismatch { .. }) => {
                return status_reply(SamStatus::HostChecksumError);
            }
            Err(_) => return status_reply(SamStatus::HostLengthError),
        };
        let Some(command) = SamCommand::from_command_frame(&frame) else {
            return status_reply(SamStatus::BadCommand);
        };
        let injected = match fault {
            Some(SamFault::Status(status)) => Some(status),
            _ => None,
        };
        let mut card_time_ms = 0;
        let mut cut_at = None;
        let mut read_fault = None;
        let response = match command {
            SamCommand::ResetSam
            | SamCommand::SamStatus
            | SamCommand::SetBaudRate(_)
            | SamCommand::SetMaxRfFrameByte(_) => ResponseFrame::status_only(SamStatus::Success),
            SamCommand::ReadSamId => EMULATED_SAM_ID.to_response(),
            SamCommand::ReadAppendedAddress => ResponseFrame::status_only(SamStatus::NoContent),
            SamCommand::FindCard => {
                card_time_ms = self.timing.find_ms;
                let findable = control.card.is_some() && control.card_state != CardState::ReadDone;
                if injected == Some(SamStatus::NoCardFound) || !findable {
                    ResponseFrame::status_only(SamStatus::NoCardFound)
                } else {
                    control.card_state = CardState::Found;
                    CardIin([0, 0, 0, 0]).to_response()
                }
            }
            SamCommand::SelectCard => {
                card_time_ms = self.timing.select_ms;
                if injected == Some(SamStatus::SelectFailed)
                    || control.card_state != CardState::Found
                {
                    ResponseFrame::status_only(SamStatus::SelectFailed)
                } else {
                    control.card_state = CardState::Selected;
                    CardSerial([0; 8]).to_response()
                }
            }
            SamCommand::ReadBaseMessage | SamCommand::ReadWithFingerprint => {
                let fingerprint = command == SamCommand::ReadWithFingerprint;
                let message = control
                    .card
                    .as_ref()
                    .filter(|_| control.card_state == CardState::Selected)
                    .and_then(|card| card.message(fingerprint));
                match (message, injected) {
                    (Some(_), Some(status))
                        if !matches!(status, SamStatus::NoCardFound | SamStatus::SelectFailed) =>
                    {
                        control.card_state = CardState::Idle;
                        ResponseFrame::status_only(status)
                    }
                    (Some(message), _) => {
                        card_time_ms = self.timing.read_ms;
                        match message.to_response() {
                            Ok(response) => {
                                read_fault = fault;
                                if fault == Some(SamFault::PullCardMidFrame) {
                                    if !control.pull_every_read {
                                        control.card = None;
                                        control.fault = None;
                                    }
                                    control.card_state = CardState::Idle;
                                    cut_at = response.encode().ok().map(|bytes| bytes.len() / 2);
                                } else {
                                    control.card_state = if control.auto_replace {
                                        CardState::Idle
                                    } else {
                                        CardState::ReadDone
                                    };
                                    control.reads_served = control.reads_served.saturating_add(1);
                                }
                                response
                            }
                            Err(_) => ResponseFrame::status_only(SamStatus::UnrecognizedError),
                        }
                    }
                    (None, _) => {
                        control.card_state = CardState::Idle;
                        ResponseFrame::status_only(SamStatus::ReadFailed)
                    }
                }
            }
        };
        drop(control);
        let mut bytes = response.encode().unwrap_or_default();
        match read_fault {
            Some(SamFault::BadChecksum) => {
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0xFF;
                }
            }
            Some(SamFault::WrongLength) => {
                if let Some(len) = bytes.get_mut(HEADER_LEN - 1) {
                    *len = len.wrapping_sub(1);
                }
            }
            _ => {}
        }
        if fault == Some(SamFault::GarbageBeforePreamble) {
            bytes.splice(0..0, GARBAGE);
        }
        Reply {
            card_time_ms,
            bytes,
            split: fault == Some(SamFault::SplitWrites),
            cut_at,
        }
    }

    /// Writes a reply at line speed after the card time; write errors (no client) are ignored.
    fn send(&mut self, reply: &Reply) {
        std::thread::sleep(Duration::from_millis(reply.card_time_ms));
        let timing = self.timing;
        let Some(pty) = self.pty.as_mut() else {
            return;
        };
        let bytes = match reply.cut_at {
            Some(cut) => reply.bytes.get(..cut).unwrap_or_default(),
            None => &reply.bytes,
        };
        let chunk_len = if reply.split { 97 } else { 64 };
        let started = Instant::now();
        let mut sent = 0;
        let mut pauses = Duration::ZERO;
        for (index, chunk) in bytes.chunks(chunk_len).enumerate() {
            if reply.split && index == 0 {
                // Split inside the preamble first, the hardest place for a decoder.
                let (head, tail) = chunk.split_at(chunk.len().min(3));
                if pty.master.write_all(head).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
                pauses += Duration::from_millis(10);
                if pty.master.write_all(tail).is_err() {
                    return;
                }
            } else if pty.master.write_all(chunk).is_err() {
                return;
            }
            sent += chunk.len();
            if reply.split {
                pauses += Duration::from_millis(10);
            }
            let due = started + timing.wire_time(sent) + pauses;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::domain::id_text::parse_card_message;

    #[test]
    fn every_sample_card_encodes_and_decodes_to_itself() {
        for sample in SampleCard::ALL {
            let card = sample.card();
            let message = card.message(true).unwrap();
            assert!(message.photo.starts_with(b"WLf"));
            assert_eq!(message.photo.len(), PHOTO_LEN);
            assert_eq!(
                message.fingerprint.as_ref().map(Vec::len),
                Some(card.fingerprint_len)
            );
            assert_eq!(
                parse_card_message(&message).unwrap(),
                card.identity,
                "{sample:?}"
            );
            assert_eq!(SampleCard::from_cli_name(sample.cli_name()), Some(sample));
        }
    }

    #[test]
    fn the_emulated_sam_id_renders_as_documented() {
        assert_eq!(
            EMULATED_SAM_ID.to_string(),
            "05.01-20101018-0123456789-1234567890"
        );
    }

    #[test]
    fn fault_names_parse_and_unknown_names_list_the_known_ones() {
        assert_eq!(
            "sw3-41".parse(),
            Ok(SamFault::Status(SamStatus::ReadFailed))
        );
        assert_eq!("pull-mid-frame".parse(), Ok(SamFault::PullCardMidFrame));
        assert_eq!("garbage".parse(), Ok(SamFault::GarbageBeforePreamble));
        let error = "melt".parse::<SamFault>().unwrap_err();
        assert!(error.contains("bad-checksum"), "{error}");
    }

    #[test]
    fn a_card_file_describes_a_card_and_wrong_keys_are_named() {
        let card = EmulatedCard::from_toml(
            r#"
            kind = "cn_resident"
            name = "李四"
            sex = "female"
            nation = "03"
            birth = "2000-02-29"
            address = "测试路1号"
            document_number = "110105200002290028"
            issuing_authority = "测试公安局"
            valid_from = "2020-01-01"
            valid_to = "long-term"
            fingerprint_bytes = 512
            "#,
        )
        .unwrap();
        assert_eq!(card.fingerprint_len, 512);
        assert_eq!(card.identity.valid_to, Validity::LongTerm);
        let message = card.message(false).unwrap();
        assert_eq!(parse_card_message(&message).unwrap(), card.identity);

        let error = EmulatedCard::from_toml("kind = \"cn_resident\"\nnmae = \"x\"").unwrap_err();
        assert!(error.to_string().contains("nmae"), "{error}");
        let error = EmulatedCard::from_toml(
            "kind = \"icao_td3\"\nname = \"X\"\nsex = \"male\"\nbirth = \"2000-01-01\"\n\
             document_number = \"1\"\nvalid_to = \"2030-01-01\"",
        )
        .unwrap_err();
        assert!(error.to_string().contains("kind"), "{error}");
    }

    #[test]
    fn wire_time_is_ten_bits_per_byte() {
        let timing = EmulatorTiming::default();
        assert_eq!(timing.wire_time(1295).as_micros(), 112_413);
    }
}
