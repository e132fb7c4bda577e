//! Typed, validated configuration: the only reader of configuration files and environment
//! variables. It parses once into [`Config`]; it does not open devices, keys or databases.
//!
//! A file is parsed in two steps: serde reads it into strict "raw" structs (unknown keys and wrong
//! types are refused), then `validate` checks ranges and combinations and builds the typed
//! [`Config`]. Every problem is reported as a [`ConfigIssue`] naming the key, the line and what is
//! allowed. Relative paths in a file are resolved against the directory of that file, so
//! `kiosk run --config kiosk-config/demo.toml` works from any working directory.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use enroll_core::domain::language::Language;
use enroll_core::domain::tier::Tier;
use enroll_face::{EngineSettings, PackManifest, PackSettings, Pipeline};

/// The environment variable that names the configuration file when `--config` is not given.
pub const CONFIG_ENV_VAR: &str = "KIOSK_CONFIG";

/// The configuration file used when neither `--config` nor [`CONFIG_ENV_VAR`] is given.
pub const DEFAULT_CONFIG_PATH: &str = "kiosk-config/kiosk.toml";

/// Baud rates a SAM reader can be switched to (card-readers.md §1.1).
pub const ALLOWED_BAUD_RATES: [u32; 5] = [9600, 19200, 38400, 57600, 115200];
/// The kiosk's log file name beside the outbox when `terminal.log_file` is not set.
pub const DEFAULT_LOG_FILE: &str = "kiosk.log";
/// The MRZ scanner's line speed when the configuration names none (the common factory setting).
pub const DEFAULT_MRZ_SCANNER_BAUD: u32 = 9600;

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read configuration file {path}: {source}; check the path and its permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file was read but has one or more problems.
    #[error("{}", format_issues(path, issues))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in file order where known.
        issues: Vec<ConfigIssue>,
    },
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The dotted key, e.g. `camera.width_px` (empty when the problem is the file's syntax).
    pub key: String,
    /// The 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.key.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.key, self.problem)
        }
    }
}

fn format_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|issue| format!("{}: {issue}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole validated configuration of one terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration came from.
    pub source_path: PathBuf,
    /// Who this terminal is.
    pub terminal: TerminalConfig,
    /// Screen, languages and keyboard behaviour.
    pub ui: UiConfig,
    /// Idle timeouts.
    pub idle: IdleConfig,
    /// The camera.
    pub camera: CameraConfig,
    /// The identity-card reader.
    pub card_reader: CardReaderConfig,
    /// Face models and thresholds.
    pub face: FaceConfig,
    /// The central registry and its public keys.
    pub registry: RegistryConfig,
    /// The local outbox and its guards.
    pub store: StoreConfig,
    /// How long data is kept after it was delivered.
    pub retention: RetentionConfig,
    /// The sync worker's retry policy.
    pub sync: SyncConfig,
    /// The thermal receipt printer (absent: receipts are shown, not printed).
    pub printer: Option<PrinterConfig>,
    /// Demo services the kiosk starts itself (absent on real terminals).
    pub demo: Option<DemoConfig>,
}

/// A thermal ESC/POS receipt printer on a serial port.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterConfig {
    /// The serial device (e.g. `/dev/ttyUSB0`, or a `/dev/serial/by-id/…` link).
    pub port: PathBuf,
    /// Its speed; 19200 unless the printer is set otherwise.
    pub baud: u32,
}

/// Services the demo starts by itself so a newcomer can walk through an enrollment.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// With a registry key folder (made by `registry keygen`), `kiosk run` starts a local
    /// registry at `registry.url` (a loopback address) when nothing answers there, and allows
    /// this terminal's key in it.
    pub registry_keys_dir: Option<PathBuf>,
    /// The local registry's SQLite file.
    pub registry_database_path: PathBuf,
    /// The folder of fault flags (`kiosk diag inject`) the simulated devices, the outbox's disk
    /// measure and the demo registry obey; no fault injection without it.
    pub faults_dir: Option<PathBuf>,
    /// With a folder here, the demo emulates the receipt printer at `printer.port` and writes
    /// each receipt it prints to this folder (`receipt-N.txt` and `receipt-N.png`).
    pub printed_dir: Option<PathBuf>,
}

/// Where a terminal's badges come from: never both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OfficerSource {
    /// `terminal.officers_file`, managed on the terminal with `kiosk officer` (a terminal run
    /// without a registry).
    #[default]
    File,
    /// The roster the registry serves signed during sync (`registry officer`); the last good copy
    /// is kept in the outbox.
    Registry,
}

/// Who this terminal is.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalConfig {
    /// The terminal id the registry knows (letters, digits, `-`, `_`; 1–64 characters).
    pub id: String,
    /// The assurance tier the terminal enrolls at.
    pub tier: Tier,
    /// The terminal's Ed25519 signing key file (when the key is not in a token; with a token, where
    /// a key file would be, unused).
    pub signing_key_file: PathBuf,
    /// The terminal's key in a PKCS#11 token instead (`terminal.signing_key = "pkcs11:…"`): it
    /// never leaves the token.
    pub signing_key_token: Option<enroll_devices::token::Pkcs11Uri>,
    /// Where the badges that may sign in come from.
    pub officers_from: OfficerSource,
    /// The officer list (badges, roles, Argon2id PIN hashes) when `officers_from` is `file`;
    /// default `officers.toml` beside the configuration.
    pub officers_file: PathBuf,
    /// The PC/SC reader officers tap their badge card on (its UID is the badge id); badges are
    /// typed when absent.
    pub badge_reader: Option<String>,
    /// The kiosk's own log (besides standard error); default `kiosk.log` beside the outbox.
    /// Personal data never goes into it; the diagnostic bundle takes its tail.
    pub log_file: PathBuf,
}

/// Screen, languages and keyboard behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct UiConfig {
    /// Languages offered on the attract screen, in order.
    pub languages: Vec<Language>,
    /// The language shown when nobody has chosen one.
    pub default_language: Language,
    /// Whether the window covers the whole screen.
    pub fullscreen: bool,
    /// Whether Escape closes the program (demo and development only; never on a kiosk).
    pub escape_closes: bool,
    /// A font with Chinese glyphs, loaded as a fallback after the built-in Latin fonts.
    pub cjk_font_path: PathBuf,
}

/// Idle timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleConfig {
    /// After this long without a touch, the applicant's data is wiped and the attract screen returns.
    pub applicant_timeout_s: u32,
    /// After this long without input, an officer's session locks.
    pub officer_lock_s: u32,
}

/// Where camera frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraSource {
    /// A V4L2 webcam.
    V4l2 {
        /// The device index (`/dev/video<N>`).
        device_index: u32,
    },
    /// A simulated camera that plays the image files of a directory in name order.
    Files {
        /// The directory of frames.
        frames_dir: PathBuf,
    },
}

/// The camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// Where frames come from.
    pub source: CameraSource,
    /// Requested frame width.
    pub width_px: u32,
    /// Requested frame height.
    pub height_px: u32,
    /// Requested frame rate.
    pub frame_rate_fps: u32,
}

/// The identity-card reader.
#[derive(Debug, Clone, PartialEq)]
pub enum CardReaderConfig {
    /// A SAM reader (Chinese resident ID) on a serial port.
    SamSerial {
        /// The serial device, e.g. `/dev/ttyUSB0`.
        port: PathBuf,
        /// The line speed.
        baud: u32,
    },
    /// The SAM reader emulator on a pseudo-terminal, started by the kiosk itself (demo).
    SamEmulator {
        /// Where the emulator links its pseudo-terminal.
        link_path: PathBuf,
        /// The emulated card (the TOML of `kiosk card emulate-sam --card FILE`); the built-in
        /// sample resident card when absent.
        card_file: Option<PathBuf>,
        /// The picture the emulated card's photo stands for. A real terminal turns the card's
        /// WLT photo into a picture with a licensed decoder; the emulator's fake WLT decodes to
        /// this file instead, so the demo can compare faces. Without it the photo stays undecoded.
        card_photo_file: Option<PathBuf>,
    },
    /// An NFC reader through PC/SC for ICAO 9303 documents.
    Pcsc {
        /// The reader's PC/SC name; the first reader when absent.
        reader_name: Option<String>,
        /// Directory of trusted CSCA certificates (`*.der`, `*.cer`, `*.crt`, `*.pem`) for
        /// passive authentication; without it chips are read but reported as not verified.
        csca_dir: Option<PathBuf>,
        /// The serial MRZ line scanner that gives the chip's access key from the data page;
        /// without it the officer types the MRZ details.
        mrz_scanner: Option<MrzScannerConfig>,
    },
}

/// A serial MRZ line scanner (8N1, no flow control).
#[derive(Debug, Clone, PartialEq)]
pub struct MrzScannerConfig {
    /// The serial device, e.g. `/dev/ttyACM0`.
    pub port: PathBuf,
    /// The line speed; 9600 when not configured.
    pub baud: u32,
}

/// Face models and thresholds (PRODUCT.md "Standards and numbers").
#[derive(Debug, Clone, PartialEq)]
pub struct FaceConfig {
    /// Directory of the model files: the pack's folder (`face.packs_dir`/`face.pack`), or
    /// `face.models_dir` for the faceplugin files laid out as before packs.
    pub models_dir: PathBuf,
    /// Where the packs are (`face.packs_dir`), when the configuration names a pack.
    pub packs_dir: Option<PathBuf>,
    /// The engine file: model files and hashes, input sizes, normalisation, quality
    /// thresholds and the decision threshold bound to the models it was calibrated with (the
    /// pack's `engine.toml`, or `face.engine_file`).
    pub engine_file: PathBuf,
    /// The parsed pack, relative model paths joined onto `models_dir`.
    pub engine: PackSettings,
}

/// A pack folder's manifest file (name, summary, licences, pipeline).
pub const PACK_MANIFEST_FILE: &str = "pack.toml";
/// A pack folder's engine file (the settings of its pipeline).
pub const PACK_ENGINE_FILE: &str = "engine.toml";

/// Reads the pack in `dir`: its `pack.toml` and, for its pipeline, its `engine.toml`; relative
/// model paths are joined onto `dir`. The problem text names the file, line and key.
pub fn load_pack(dir: &Path) -> Result<PackSettings, String> {
    let manifest_file = dir.join(PACK_MANIFEST_FILE);
    let manifest: PackManifest = load_settings_file(&manifest_file, "pack manifest")?;
    let expected = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if manifest.name != expected {
        return Err(format!(
            "{}: name \"{}\" differs from its folder's name \"{expected}\"; a pack is named by its folder",
            manifest_file.display(),
            manifest.name
        ));
    }
    let engine_file = dir.join(PACK_ENGINE_FILE);
    let pack = match manifest.pipeline {
        Pipeline::Faceplugin => PackSettings::Faceplugin {
            manifest,
            settings: Box::new(load_settings_file(&engine_file, "face-engine")?),
        },
        Pipeline::Open => PackSettings::Open {
            manifest,
            settings: Box::new(load_settings_file(&engine_file, "face-engine")?),
        },
    };
    let problems = pack.problems();
    if problems.is_empty() {
        Ok(pack.with_models_dir(dir))
    } else {
        Err(problems
            .iter()
            .map(|(key, problem)| format!("{}: {key}: {problem}", engine_file.display()))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// The central registry and its public keys.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// Base URL; `https://`, or `http://` on a loopback address only.
    pub url: String,
    /// PEM CA certificates the registry's TLS certificate must chain to (needed for https).
    pub tls_ca_file: Option<PathBuf>,
    /// The registry's X25519 public key that sealed biometrics are encrypted to.
    pub sealing_public_key_file: PathBuf,
    /// The registry's Ed25519 public key that signs receipts.
    pub receipt_public_key_file: PathBuf,
    /// The holder page a receipt's activation QR opens on the applicant's phone (default: the
    /// registry URL + `/holder/`; set it when phones reach the registry under another name).
    pub holder_page_url: String,
}

/// The local outbox and its guards.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// The SQLite outbox file.
    pub database_path: PathBuf,
    /// New enrollments are refused when less disk than this is free.
    pub min_free_disk_mb: u64,
    /// New enrollments are refused when more records than this are unsent.
    pub max_unsent_records: u32,
    /// New enrollments are refused when the oldest unsent record is older than this.
    pub max_unsent_age_days: u32,
}

/// How long data is kept after it was delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Days after a verified receipt before the sealed biometrics are deleted from the terminal.
    pub sealed_payload_days: u32,
}

/// The sync worker's retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    /// First retry delay (exponential backoff with full jitter starts here).
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// Records sent per batch.
    pub batch_size: u32,
    /// The diagnostics warn when the terminal's clock and the registry's differ by more than
    /// this many minutes (default 5).
    pub clock_skew_warn_min: u32,
}

impl Config {
    /// The demo's fault folder (`[demo] faults_dir`); none on a real terminal.
    pub fn faults_dir(&self) -> Option<&Path> {
        self.demo
            .as_ref()
            .and_then(|demo| demo.faults_dir.as_deref())
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Validates configuration text as if it had been read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let invalid = |issues| ConfigError::Invalid {
            path: path.to_path_buf(),
            issues,
        };
        let raw = parse_raw(text).map_err(|issue| invalid(vec![issue]))?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
        validate(raw, path, base_dir, text).map_err(invalid)
    }

    /// The dotted keys this configuration's file sets itself, in file order (every other key has
    /// its documented default); for the technician's "where did this value come from".
    pub fn keys_in_file(&self) -> Result<Vec<String>, ConfigError> {
        let path = &self.source_path;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|error| ConfigError::Invalid {
            path: path.clone(),
            issues: vec![ConfigIssue {
                key: String::new(),
                line: None,
                problem: format!("not valid TOML: {}", error.message().trim_end()),
            }],
        })?;
        let mut keys = Vec::new();
        for (section, value) in &table {
            match value.as_table() {
                Some(inner) => keys.extend(inner.keys().map(|key| format!("{section}.{key}"))),
                None => keys.push(section.clone()),
            }
        }
        Ok(keys)
    }

    /// The configuration path to use: the `--config` argument, else [`CONFIG_ENV_VAR`], else
    /// [`DEFAULT_CONFIG_PATH`].
    pub fn resolve_path(cli_path: Option<&Path>) -> PathBuf {
        if let Some(path) = cli_path {
            return path.to_path_buf();
        }
        match std::env::var_os(CONFIG_ENV_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw file structure: exactly the keys a file may contain.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    terminal: RawTerminal,
    ui: RawUi,
    idle: RawIdle,
    camera: RawCamera,
    card_reader: RawCardReader,
    face: RawFace,
    registry: RawRegistry,
    store: RawStore,
    retention: RawRetention,
    sync: RawSync,
    #[serde(default)]
    printer: Option<RawPrinter>,
    #[serde(default)]
    demo: Option<RawDemo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrinter {
    port: PathBuf,
    #[serde(default = "default_printer_baud")]
    baud: u32,
}

fn default_printer_baud() -> u32 {
    19_200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDemo {
    registry_keys_dir: Option<PathBuf>,
    registry_database_path: Option<PathBuf>,
    faults_dir: Option<PathBuf>,
    printed_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerminal {
    id: String,
    tier: Tier,
    #[serde(default)]
    signing_key_file: Option<PathBuf>,
    #[serde(default)]
    signing_key: Option<String>,
    #[serde(default)]
    officers_from: OfficerSource,
    #[serde(default)]
    officers_file: Option<PathBuf>,
    #[serde(default)]
    badge_reader: Option<String>,
    #[serde(default)]
    log_file: Option<PathBuf>,
}

fn default_officers_file() -> PathBuf {
    PathBuf::from("officers.toml")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUi {
    languages: Vec<Language>,
    default_language: Language,
    fullscreen: bool,
    escape_closes: bool,
    cjk_font_path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdle {
    applicant_timeout_s: u32,
    officer_lock_s: u32,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawCameraBackend {
    V4l2,
    Files,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    backend: RawCameraBackend,
    device_index: Option<u32>,
    frames_dir: Option<PathBuf>,
    width_px: u32,
    height_px: u32,
    frame_rate_fps: u32,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawCardBackend {
    SamSerial,
    SamEmulator,
    Pcsc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCardReader {
    backend: RawCardBackend,
    port: Option<PathBuf>,
    baud: Option<u32>,
    link_path: Option<PathBuf>,
    reader_name: Option<String>,
    csca_dir: Option<PathBuf>,
    card_file: Option<PathBuf>,
    card_photo_file: Option<PathBuf>,
    mrz_scanner_port: Option<PathBuf>,
    mrz_scanner_baud: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFace {
    #[serde(default)]
    packs_dir: Option<PathBuf>,
    #[serde(default)]
    pack: Option<String>,
    #[serde(default)]
    models_dir: Option<PathBuf>,
    #[serde(default)]
    engine_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    url: String,
    #[serde(default)]
    tls_ca_file: Option<PathBuf>,
    sealing_public_key_file: PathBuf,
    receipt_public_key_file: PathBuf,
    #[serde(default)]
    holder_page_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    database_path: PathBuf,
    min_free_disk_mb: u64,
    max_unsent_records: u32,
    max_unsent_age_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    sealed_payload_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    backoff_base_ms: u64,
    backoff_cap_ms: u64,
    batch_size: u32,
    #[serde(default = "default_clock_skew_warn_min")]
    clock_skew_warn_min: u32,
}

fn default_clock_skew_warn_min() -> u32 {
    5
}

/// Parses the file's syntax and types, turning serde's message into a key, a line and a problem.
fn parse_raw(text: &str) -> Result<RawConfig, ConfigIssue> {
    let deserializer = toml::Deserializer::parse(text).map_err(|error| ConfigIssue {
        key: String::new(),
        line: error.span().map(|span| line_of(text, span.start)),
        problem: format!("not valid TOML: {}", error.message().trim_end()),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner();
        let line = inner.span().map(|span| line_of(text, span.start));
        issue_from_serde(&path, inner.message().trim_end(), line)
    })
}

/// Rewrites serde's messages so the key is the full dotted key and the problem says what is allowed.
fn issue_from_serde(path: &str, message: &str, line: Option<usize>) -> ConfigIssue {
    let path = if path == "." { "" } else { path };
    let join = |field: &str| {
        if path == field || path.ends_with(&format!(".{field}")) {
            path.to_owned()
        } else if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return ConfigIssue {
            key: join(field),
            line: None,
            problem: "missing; this key is required (see kiosk-config/kiosk.toml for an example)"
                .to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let mut parts = rest.splitn(2, '`');
        let field = parts.next().unwrap_or_default();
        let expected = parts.next().unwrap_or_default().trim_start_matches(", ");
        let allowed = expected
            .strip_prefix("expected one of ")
            .or_else(|| expected.strip_prefix("expected "))
            .unwrap_or(expected)
            .replace("` or `", "`, `");
        return ConfigIssue {
            key: join(field),
            line,
            problem: format!("unknown key; allowed keys here: {allowed}"),
        };
    }
    let problem = match message.split_once(", expected ") {
        Some((what, expected)) => format!(
            "{}; allowed: {}",
            what.replace("unknown variant", "unknown value"),
            plain_type_name(expected)
        ),
        None => message.to_owned(),
    };
    ConfigIssue {
        key: path.to_owned(),
        line,
        problem,
    }
}

/// serde's type names in words an installer understands.
fn plain_type_name(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "path string" => "a quoted string",
        "a sequence" => "a list, e.g. [\"zh\", \"en\"]",
        other => other,
    }
}

fn line_of(text: &str, byte_offset: usize) -> usize {
    text.get(..byte_offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

// ---------------------------------------------------------------------------------------------
// Validation: ranges and combinations.

/// Collects range and combination problems while building the typed configuration.
struct Checker<'a> {
    text: &'a str,
    issues: Vec<ConfigIssue>,
}

impl Checker<'_> {
    fn fail(&mut self, key: &str, problem: String) {
        let line = find_key_line(self.text, key);
        self.issues.push(ConfigIssue {
            key: key.to_owned(),
            line,
            problem,
        });
    }

    fn range_u64(&mut self, key: &str, value: u64, min: u64, max: u64) {
        if !(min..=max).contains(&value) {
            self.fail(
                key,
                format!("{value} is out of range; allowed: {min} to {max}"),
            );
        }
    }

    fn baud(&mut self, key: &str, baud: u32) {
        if !ALLOWED_BAUD_RATES.contains(&baud) {
            self.fail(
                key,
                format!("{baud} is not supported; allowed: 9600, 19200, 38400, 57600, 115200"),
            );
        }
    }

    /// The MRZ scanner only feeds chip readers.
    fn forbid_scanner(&mut self, reader: &RawCardReader, backend: &str) {
        self.forbid(
            "card_reader.mrz_scanner_port",
            &reader.mrz_scanner_port,
            backend,
        );
        self.forbid(
            "card_reader.mrz_scanner_baud",
            &reader.mrz_scanner_baud,
            backend,
        );
    }

    fn forbid<T>(&mut self, key: &str, value: &Option<T>, backend: &str) {
        if value.is_some() {
            self.fail(
                key,
                format!("not used with backend = \"{backend}\"; remove it"),
            );
        }
    }

    fn require<T: Clone>(&mut self, key: &str, value: &Option<T>, backend: &str) -> Option<T> {
        if value.is_none() {
            self.fail(
                key,
                format!("missing; required with backend = \"{backend}\""),
            );
        }
        value.clone()
    }
}

/// Finds the line of `section.key` (or of `[section]`) for range errors, which serde cannot place.
fn find_key_line(text: &str, dotted_key: &str) -> Option<usize> {
    let (section, key) = dotted_key.rsplit_once('.').unwrap_or(("", dotted_key));
    let mut current_section = String::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            current_section = name.trim().to_owned();
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        if current_section == section && name.trim() == key {
            return Some(index + 1);
        }
    }
    None
}

/// Reads and checks the face-engine file; the problem text names the file, line and key.
fn load_engine_settings(path: &Path) -> Result<EngineSettings, String> {
    let settings: EngineSettings = load_settings_file(path, "face-engine")?;
    let problems = settings.problems();
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems
            .iter()
            .map(|(key, problem)| format!("{}: {key}: {problem}", path.display()))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Reads a TOML settings file into `T`; the problem text names the file, line and key.
fn load_settings_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read the {what} file {}: {error}; allowed: a readable TOML file \
             (the shipped ones are kiosk-config/face-engine.toml and assets/models/packs/*/)",
            path.display()
        )
    })?;
    let deserializer = toml::Deserializer::parse(&text).map_err(|error| {
        let line = error.span().map(|span| line_of(&text, span.start));
        format!(
            "{}: line {}: not valid TOML: {}",
            path.display(),
            line.unwrap_or(0),
            error.message().trim_end()
        )
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let inner = error.inner();
        let line = inner.span().map(|span| line_of(&text, span.start));
        format!(
            "{}: line {}: {key}: {}",
            path.display(),
            line.unwrap_or(0),
            inner.message().trim_end()
        )
    })
}

fn resolve(base_dir: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        base_dir.join(path)
    }
}

fn validate(
    raw: RawConfig,
    path: &Path,
    base_dir: &Path,
    text: &str,
) -> Result<Config, Vec<ConfigIssue>> {
    let mut check = Checker {
        text,
        issues: Vec::new(),
    };

    // terminal
    if !enroll_core::domain::record::is_valid_terminal_id(&raw.terminal.id) {
        check.fail(
            "terminal.id",
            "allowed: 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'".to_owned(),
        );
    }
    match (&raw.terminal.signing_key_file, &raw.terminal.signing_key) {
        (Some(_), Some(_)) => check.fail(
            "terminal.signing_key",
            "set together with terminal.signing_key_file: the key is in a token or in a file, \
             never both; remove one"
                .to_owned(),
        ),
        (None, None) => check.fail(
            "terminal.signing_key_file",
            "missing: name the key file (`kiosk keygen` makes it), or set terminal.signing_key = \
             \"pkcs11:…\" for a key in a token"
                .to_owned(),
        ),
        (None, Some(uri)) => {
            if let Err(error) = enroll_devices::token::Pkcs11Uri::parse(uri) {
                check.fail("terminal.signing_key", error.to_string());
            }
        }
        (Some(_), None) => {}
    }
    if raw.terminal.officers_from == OfficerSource::Registry && raw.terminal.officers_file.is_some()
    {
        check.fail(
            "terminal.officers_file",
            "set while terminal.officers_from = \"registry\": badges come from the registry's \
             roster or from a file, never both; remove one of the two"
                .to_owned(),
        );
    }

    // ui
    if raw.ui.languages.is_empty() {
        check.fail(
            "ui.languages",
            "empty; allowed: one or more of \"zh\", \"en\", \"fr\", \"de\", \"id\"".to_owned(),
        );
    }
    let mut seen = Vec::new();
    for language in &raw.ui.languages {
        if seen.contains(language) {
            check.fail(
                "ui.languages",
                format!("\"{language}\" is listed twice; list each language once"),
            );
        }
        seen.push(*language);
    }
    if !raw.ui.languages.contains(&raw.ui.default_language) {
        check.fail(
            "ui.default_language",
            format!(
                "\"{}\" is not in ui.languages; allowed: one of the languages listed there",
                raw.ui.default_language
            ),
        );
    }

    // idle
    check.range_u64(
        "idle.applicant_timeout_s",
        raw.idle.applicant_timeout_s.into(),
        10,
        600,
    );
    check.range_u64(
        "idle.officer_lock_s",
        raw.idle.officer_lock_s.into(),
        30,
        3600,
    );

    // camera
    let camera_source = match raw.camera.backend {
        RawCameraBackend::V4l2 => {
            check.forbid("camera.frames_dir", &raw.camera.frames_dir, "v4l2");
            let device_index =
                check.require("camera.device_index", &raw.camera.device_index, "v4l2");
            if let Some(index) = device_index {
                check.range_u64("camera.device_index", index.into(), 0, 63);
            }
            CameraSource::V4l2 {
                device_index: device_index.unwrap_or_default(),
            }
        }
        RawCameraBackend::Files => {
            check.forbid("camera.device_index", &raw.camera.device_index, "files");
            let frames_dir = check.require("camera.frames_dir", &raw.camera.frames_dir, "files");
            CameraSource::Files {
                frames_dir: resolve(base_dir, frames_dir.unwrap_or_default()),
            }
        }
    };
    check.range_u64("camera.width_px", raw.camera.width_px.into(), 160, 3840);
    check.range_u64("camera.height_px", raw.camera.height_px.into(), 120, 2160);
    check.range_u64(
        "camera.frame_rate_fps",
        raw.camera.frame_rate_fps.into(),
        5,
        60,
    );

    // card reader
    let reader = &raw.card_reader;
    let card_reader = match reader.backend {
        RawCardBackend::SamSerial => {
            check.forbid("card_reader.link_path", &reader.link_path, "sam-serial");
            check.forbid("card_reader.card_file", &reader.card_file, "sam-serial");
            check.forbid(
                "card_reader.card_photo_file",
                &reader.card_photo_file,
                "sam-serial",
            );
            check.forbid("card_reader.reader_name", &reader.reader_name, "sam-serial");
            check.forbid("card_reader.csca_dir", &reader.csca_dir, "sam-serial");
            check.forbid_scanner(reader, "sam-serial");
            let port = check.require("card_reader.port", &reader.port, "sam-serial");
            let baud = check.require("card_reader.baud", &reader.baud, "sam-serial");
            if let Some(baud) = baud {
                check.baud("card_reader.baud", baud);
            }
            CardReaderConfig::SamSerial {
                port: port.unwrap_or_default(),
                baud: baud.unwrap_or_default(),
            }
        }
        RawCardBackend::SamEmulator => {
            check.forbid("card_reader.port", &reader.port, "sam-emulator");
            check.forbid("card_reader.baud", &reader.baud, "sam-emulator");
            check.forbid("card_reader.csca_dir", &reader.csca_dir, "sam-emulator");
            check.forbid_scanner(reader, "sam-emulator");
            check.forbid(
                "card_reader.reader_name",
                &reader.reader_name,
                "sam-emulator",
            );
            let link_path =
                check.require("card_reader.link_path", &reader.link_path, "sam-emulator");
            CardReaderConfig::SamEmulator {
                link_path: resolve(base_dir, link_path.unwrap_or_default()),
                card_file: reader.card_file.clone().map(|p| resolve(base_dir, p)),
                card_photo_file: reader.card_photo_file.clone().map(|p| resolve(base_dir, p)),
            }
        }
        RawCardBackend::Pcsc => {
            check.forbid("card_reader.port", &reader.port, "pcsc");
            check.forbid("card_reader.baud", &reader.baud, "pcsc");
            check.forbid("card_reader.link_path", &reader.link_path, "pcsc");
            check.forbid("card_reader.card_file", &reader.card_file, "pcsc");
            check.forbid(
                "card_reader.card_photo_file",
                &reader.card_photo_file,
                "pcsc",
            );
            let mrz_scanner = match (&reader.mrz_scanner_port, reader.mrz_scanner_baud) {
                (None, None) => None,
                (None, Some(_)) => {
                    check.fail(
                        "card_reader.mrz_scanner_baud",
                        "is set without card_reader.mrz_scanner_port; name the scanner's port too"
                            .to_owned(),
                    );
                    None
                }
                (Some(port), baud) => {
                    let baud = baud.unwrap_or(DEFAULT_MRZ_SCANNER_BAUD);
                    check.baud("card_reader.mrz_scanner_baud", baud);
                    Some(MrzScannerConfig {
                        port: port.clone(),
                        baud,
                    })
                }
            };
            CardReaderConfig::Pcsc {
                reader_name: reader.reader_name.clone(),
                csca_dir: reader.csca_dir.clone().map(|dir| resolve(base_dir, dir)),
                mrz_scanner,
            }
        }
    };

    // face: a pack, or the faceplugin files laid out as before packs
    let face = &raw.face;
    let (models_dir, packs_dir, engine_file, engine) = match (
        &face.pack,
        &face.packs_dir,
        &face.models_dir,
        &face.engine_file,
    ) {
        (Some(pack), Some(packs_dir), None, None) => {
            let packs_dir = resolve(base_dir, packs_dir.clone());
            let dir = packs_dir.join(pack);
            let engine = if pack.is_empty() || pack.contains(['/', '\\']) || pack.starts_with('.') {
                check.fail(
                    "face.pack",
                    format!("\"{pack}\" is not a pack name; allowed: the name of a folder in face.packs_dir, e.g. \"open\""),
                );
                None
            } else if !dir.join(PACK_MANIFEST_FILE).is_file() {
                check.fail(
                    "face.pack",
                    format!(
                        "no pack \"{pack}\" in {} (no {PACK_MANIFEST_FILE}); run scripts/setup.sh, or list the installed packs with `kiosk face packs`",
                        packs_dir.display()
                    ),
                );
                None
            } else {
                match load_pack(&dir) {
                    Ok(engine) => Some(engine),
                    Err(problem) => {
                        check.fail("face.pack", problem);
                        None
                    }
                }
            };
            (
                dir.clone(),
                Some(packs_dir),
                dir.join(PACK_ENGINE_FILE),
                engine,
            )
        }
        (None, packs_dir, Some(models_dir), Some(engine_file)) => {
            let models_dir = resolve(base_dir, models_dir.clone());
            let engine_file = resolve(base_dir, engine_file.clone());
            let engine = match load_engine_settings(&engine_file) {
                Ok(engine) => Some(PackSettings::faceplugin(engine).with_models_dir(&models_dir)),
                Err(problem) => {
                    check.fail("face.engine_file", problem);
                    None
                }
            };
            let packs_dir = packs_dir.clone().map(|dir| resolve(base_dir, dir));
            (models_dir, packs_dir, engine_file, engine)
        }
        _ => {
            check.fail(
                "face",
                "give either pack and packs_dir (a model pack, e.g. pack = \"open\"), or models_dir and engine_file (the faceplugin files laid out as before packs), not a mix".to_string(),
            );
            (PathBuf::new(), None, PathBuf::new(), None)
        }
    };

    // registry
    if let Err(problem) = check_registry_url(&raw.registry.url) {
        check.fail("registry.url", problem);
    }
    if let Some(url) = &raw.registry.holder_page_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        check.fail(
            "registry.holder_page_url",
            format!("{url:?} is not a web address; write https://HOST/holder/"),
        );
    }
    if raw.registry.url.starts_with("https://") && raw.registry.tls_ca_file.is_none() {
        check.fail(
            "registry.tls_ca_file",
            "required for an https:// registry: the PEM file of the CA that signed the registry's \
             certificate (/etc/ssl/certs/ca-certificates.crt trusts the public CAs)"
                .to_owned(),
        );
    }

    // store, retention, sync
    check.range_u64(
        "store.min_free_disk_mb",
        raw.store.min_free_disk_mb,
        1,
        1_000_000,
    );
    check.range_u64(
        "store.max_unsent_records",
        raw.store.max_unsent_records.into(),
        1,
        1_000_000,
    );
    check.range_u64(
        "store.max_unsent_age_days",
        raw.store.max_unsent_age_days.into(),
        1,
        365,
    );
    check.range_u64(
        "retention.sealed_payload_days",
        raw.retention.sealed_payload_days.into(),
        0,
        3650,
    );
    check.range_u64(
        "sync.backoff_base_ms",
        raw.sync.backoff_base_ms,
        10,
        600_000,
    );
    check.range_u64(
        "sync.backoff_cap_ms",
        raw.sync.backoff_cap_ms,
        10,
        86_400_000,
    );
    if raw.sync.backoff_cap_ms < raw.sync.backoff_base_ms {
        check.fail(
            "sync.backoff_cap_ms",
            format!(
                "{} is below sync.backoff_base_ms ({}); allowed: at least the base",
                raw.sync.backoff_cap_ms, raw.sync.backoff_base_ms
            ),
        );
    }
    check.range_u64("sync.batch_size", raw.sync.batch_size.into(), 1, 1000);
    check.range_u64(
        "sync.clock_skew_warn_min",
        raw.sync.clock_skew_warn_min.into(),
        1,
        1440,
    );

    // printer
    let printer = raw.printer.map(|printer| {
        check.baud("printer.baud", printer.baud);
        PrinterConfig {
            port: resolve(base_dir, printer.port),
            baud: printer.baud,
        }
    });

    // demo
    if !cfg!(feature = "demo") {
        refuse_simulations(
            &mut check,
            raw.camera.backend,
            raw.card_reader.backend,
            raw.demo.is_some(),
        );
    }
    let demo = raw.demo.map(|demo| DemoConfig {
        registry_keys_dir: demo.registry_keys_dir.map(|dir| resolve(base_dir, dir)),
        registry_database_path: resolve(
            base_dir,
            demo.registry_database_path
                .unwrap_or_else(|| PathBuf::from("demo-registry.sqlite")),
        ),
        faults_dir: demo.faults_dir.map(|dir| resolve(base_dir, dir)),
        printed_dir: demo.printed_dir.map(|dir| resolve(base_dir, dir)),
    });
    if demo.as_ref().is_some_and(|d| d.printed_dir.is_some()) && printer.is_none() {
        check.fail(
            "demo.printed_dir",
            "the demo emulates the printer at printer.port: add a [printer] section with a port \
             (e.g. \"../target/demo/printer\"), or remove demo.printed_dir"
                .to_owned(),
        );
    }
    if demo.as_ref().is_some_and(|d| d.registry_keys_dir.is_some())
        && !(raw.registry.url.starts_with("http://")
            && check_registry_url(&raw.registry.url).is_ok())
    {
        check.fail(
            "demo.registry_keys_dir",
            format!(
                "a demo registry is started only on this machine, but registry.url is {:?}; \
                 use http://127.0.0.1:PORT or remove demo.registry_keys_dir",
                raw.registry.url
            ),
        );
    }

    let engine = match engine {
        Some(engine) if check.issues.is_empty() => engine,
        _ => {
            check
                .issues
                .sort_by_key(|issue| issue.line.unwrap_or(usize::MAX));
            return Err(check.issues);
        }
    };

    let database_path = resolve(base_dir, raw.store.database_path);
    let log_file = match raw.terminal.log_file {
        Some(file) => resolve(base_dir, file),
        None => database_path.with_file_name(DEFAULT_LOG_FILE),
    };
    Ok(Config {
        source_path: path.to_path_buf(),
        terminal: TerminalConfig {
            id: raw.terminal.id,
            tier: raw.terminal.tier,
            signing_key_file: resolve(
                base_dir,
                raw.terminal
                    .signing_key_file
                    .unwrap_or_else(|| PathBuf::from("terminal-signing.key")),
            ),
            signing_key_token: raw
                .terminal
                .signing_key
                .as_deref()
                .and_then(|uri| enroll_devices::token::Pkcs11Uri::parse(uri).ok()),
            officers_from: raw.terminal.officers_from,
            officers_file: resolve(
                base_dir,
                raw.terminal
                    .officers_file
                    .unwrap_or_else(default_officers_file),
            ),
            badge_reader: raw
                .terminal
                .badge_reader
                .filter(|name| !name.trim().is_empty()),
            log_file,
        },
        ui: UiConfig {
            languages: raw.ui.languages,
            default_language: raw.ui.default_language,
            fullscreen: raw.ui.fullscreen,
            escape_closes: raw.ui.escape_closes,
            cjk_font_path: resolve(base_dir, raw.ui.cjk_font_path),
        },
        idle: IdleConfig {
            applicant_timeout_s: raw.idle.applicant_timeout_s,
            officer_lock_s: raw.idle.officer_lock_s,
        },
        camera: CameraConfig {
            source: camera_source,
            width_px: raw.camera.width_px,
            height_px: raw.camera.height_px,
            frame_rate_fps: raw.camera.frame_rate_fps,
        },
        card_reader,
        face: FaceConfig {
            models_dir,
            packs_dir,
            engine_file,
            engine,
        },
        registry: RegistryConfig {
            holder_page_url: raw
                .registry
                .holder_page_url
                .unwrap_or_else(|| format!("{}/holder/", raw.registry.url.trim_end_matches('/'))),
            url: raw.registry.url,
            tls_ca_file: raw.registry.tls_ca_file.map(|file| resolve(base_dir, file)),
            sealing_public_key_file: resolve(base_dir, raw.registry.sealing_public_key_file),
            receipt_public_key_file: resolve(base_dir, raw.registry.receipt_public_key_file),
        },
        store: StoreConfig {
            database_path,
            min_free_disk_mb: raw.store.min_free_disk_mb,
            max_unsent_records: raw.store.max_unsent_records,
            max_unsent_age_days: raw.store.max_unsent_age_days,
        },
        retention: RetentionConfig {
            sealed_payload_days: raw.retention.sealed_payload_days,
        },
        sync: SyncConfig {
            backoff_base_ms: raw.sync.backoff_base_ms,
            backoff_cap_ms: raw.sync.backoff_cap_ms,
            batch_size: raw.sync.batch_size,
            clock_skew_warn_min: raw.sync.clock_skew_warn_min,
        },
        printer,
        demo,
    })
}

/// A kiosk built without the `demo` feature has no simulated devices and no demo registry: a
/// configuration that asks for them is refused, naming each key, instead of failing later.
fn refuse_simulations(
    check: &mut Checker<'_>,
    camera: RawCameraBackend,
    card_reader: RawCardBackend,
    has_demo: bool,
) {
    const REMEDY: &str = "this kiosk was built without simulated devices (the `demo` feature); \
                          configure the real device, or use a demo build";
    if camera == RawCameraBackend::Files {
        check.fail(
            "camera.backend",
            format!("\"files\" is a simulation: {REMEDY}"),
        );
    }
    if card_reader == RawCardBackend::SamEmulator {
        check.fail(
            "card_reader.backend",
            format!("\"sam-emulator\" is a simulation: {REMEDY}"),
        );
    }
    if has_demo {
        check.fail("demo", format!("[demo] starts simulations: {REMEDY}"));
    }
}

/// `https://host[:port][/path]`, or `http://` to a loopback host (tests and demo only).
pub fn check_registry_url(url: &str) -> Result<(), String> {
    const ALLOWED: &str =
        "allowed: https://HOST[:PORT], or http://127.0.0.1:PORT / http://localhost:PORT for tests";
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL; {ALLOWED}"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host; {ALLOWED}"));
    }
    match scheme {
        "https" => Ok(()),
        "http" => {
            let loopback = host == "localhost"
                || host
                    .parse::<IpAddr>()
                    .is_ok_and(|address| address.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "plain http is refused for {host:?} (records would cross the network unencrypted); {ALLOWED}"
                ))
            }
        }
        other => Err(format!("scheme {other:?} is not supported; {ALLOWED}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_url_accepts_https_and_loopback_http_only() {
        assert!(check_registry_url("https://registry.example.org").is_ok());
        assert!(check_registry_url("https://registry.example.org:8443/api").is_ok());
        assert!(check_registry_url("http://127.0.0.1:8080").is_ok());
        assert!(check_registry_url("http://localhost:8080").is_ok());
        assert!(check_registry_url("http://[::1]:8080").is_ok());
        assert!(check_registry_url("http://10.0.0.5:8080").is_err());
        assert!(check_registry_url("ftp://registry.example.org").is_err());
        assert!(check_registry_url("registry.example.org").is_err());
    }

    #[test]
    fn a_production_build_names_every_simulation_a_file_asks_for() {
        let text =
            "[camera]\nbackend = \"files\"\n[card_reader]\nbackend = \"sam-emulator\"\n[demo]\n";
        let mut check = Checker {
            text,
            issues: Vec::new(),
        };
        refuse_simulations(
            &mut check,
            RawCameraBackend::Files,
            RawCardBackend::SamEmulator,
            true,
        );
        let keys: Vec<&str> = check.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["camera.backend", "card_reader.backend", "demo"]);
        assert!(
            check
                .issues
                .iter()
                .all(|i| i.problem.contains("built without simulated devices")),
            "{:?}",
            check.issues
        );

        let mut real = Checker {
            text,
            issues: Vec::new(),
        };
        refuse_simulations(
            &mut real,
            RawCameraBackend::V4l2,
            RawCardBackend::Pcsc,
            false,
        );
        assert!(real.issues.is_empty(), "{:?}", real.issues);
    }

    #[test]
    fn key_lines_are_found_inside_their_section() {
        let text = "[a]\nx = 1\n[b]\nx = 2\n";
        assert_eq!(find_key_line(text, "a.x"), Some(2));
        assert_eq!(find_key_line(text, "b.x"), Some(4));
        assert_eq!(find_key_line(text, "b.y"), None);
    }
}
