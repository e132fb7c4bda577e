//! Opens the camera and the card reader the configuration names, behind one trait so tests and the
//! demo can hand the app other devices, and builds the registry link's settings (URL, TLS trust,
//! receipt key); the GUI, `kiosk sync` and the technician's diagnostics all go through it. It starts no threads and no emulators (the demo services do that), reads
//! no clock (the caller passes one in) and decides nothing about the flow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{CameraConfig, CameraSource, CardReaderConfig, Config};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::keys;
use enroll_crypto::records::RecordSigner;
use enroll_devices::camera::v4l2::V4l2Camera;
use enroll_devices::camera::{Camera, CameraError};
use enroll_devices::card::pcsc_icao::{PcscIcaoReader, load_csca_dir};
use enroll_devices::card::sam_serial::{SamReaderOptions, SamSerialReader};
use enroll_devices::card::wlt::WltDecoder;
use enroll_devices::card::{CardError, CardErrorKind, CardReader};
#[cfg(feature = "demo")]
use enroll_sim::faults::{Fault, FaultSwitch};
#[cfg(feature = "demo")]
use enroll_sim::file_camera::{ApplicantCue, FileCamera};
use enroll_store::{Outbox, StoreError};
use enroll_sync::SyncSettings;

/// Why the terminal's signing key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The key file.
    #[error("{0}; run scripts/setup.sh or `kiosk keygen`")]
    File(#[from] keys::KeyFileError),
    /// The token.
    #[error(transparent)]
    Token(#[from] enroll_devices::token::TokenError),
}

/// The terminal's signing key: in the token `token` names when there is one (logged in once per
/// process and shared), else read from `file`.
pub fn open_terminal_signer(
    file: &Path,
    token: Option<&enroll_devices::token::Pkcs11Uri>,
) -> Result<Arc<dyn RecordSigner>, SignerError> {
    Ok(match token {
        Some(uri) => enroll_devices::token::open_shared(uri)?,
        None => Arc::new(keys::read_signing_key(file)?),
    })
}

/// The configured terminal signing key (see [`open_terminal_signer`]).
pub fn terminal_signer(config: &Config) -> Result<Arc<dyn RecordSigner>, SignerError> {
    open_terminal_signer(
        &config.terminal.signing_key_file,
        config.terminal.signing_key_token.as_ref(),
    )
}

/// What a production build (without the `demo` feature) says when asked for a simulation; the
/// configuration check refuses such a file first, so this is only met by a caller that skipped it.
#[cfg(not(feature = "demo"))]
const NOT_IN_THIS_BUILD: &str =
    "this kiosk was built without simulated devices; configure the real device";

/// The line speed of the SAM emulator's pseudo-terminal (any rate works on a pty).
const EMULATOR_BAUD: u32 = 115_200;

/// Where the app gets its devices. Each call opens a fresh device; the app drops it when the
/// flow no longer needs it.
pub trait Devices: Send + Sync {
    /// Opens the camera.
    fn open_camera(&self) -> Result<Box<dyn Camera>, CameraError>;
    /// Opens the identity-card reader.
    fn open_card_reader(&self) -> Result<Box<dyn CardReader>, CardError>;
    /// The liveness challenge's prompt now on the screen (`None`: none). Real devices ignore
    /// it; the demo's file camera plays its person following it (a simulated applicant).
    fn applicant_sees(&self, prompt: Option<enroll_core::domain::challenge::Prompt>) {
        let _ = prompt;
    }
}

/// The devices of a configuration file.
pub struct ConfiguredDevices {
    camera: CameraConfig,
    card_reader: CardReaderConfig,
    /// The emulated card's photo decoder, or why it cannot be made (reported when the card
    /// reader is opened; the camera does not depend on it).
    wlt_decoder: Result<WltDecoder, DevicesError>,
    clock_unix_ms: UnixClock,
    /// The demo's injected faults (never on for a real terminal).
    #[cfg(feature = "demo")]
    faults: FaultSwitch,
    /// What the demo camera's person sees on the screen.
    #[cfg(feature = "demo")]
    cue: ApplicantCue,
}

/// Wall-clock time in Unix milliseconds (for certificate validity on chip reads).
pub type UnixClock = Arc<dyn Fn() -> UnixMs + Send + Sync>;

/// Why the configured devices cannot be prepared (before anything is opened).
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// The emulated card's picture cannot be read or decoded.
    #[error(
        "card_reader.card_photo_file {path}: {detail}; run scripts/setup.sh to make the demo pictures"
    )]
    CardPhoto {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// The emulated card's picture as BMP bytes (what a licensed WLT decoder hands over).
fn emulated_photo_bitmap(path: &Path) -> Result<Vec<u8>, DevicesError> {
    let failed = |detail: String| DevicesError::CardPhoto {
        path: path.to_path_buf(),
        detail,
    };
    let picture = image::open(path).map_err(|e| failed(e.to_string()))?;
    let mut bitmap = std::io::Cursor::new(Vec::new());
    picture
        .to_rgb8()
        .write_to(&mut bitmap, image::ImageFormat::Bmp)
        .map_err(|e| failed(e.to_string()))?;
    Ok(bitmap.into_inner())
}

impl ConfiguredDevices {
    /// Prepares the devices of `config` (reads the emulated card's picture, if one is named);
    /// `clock_unix_ms` tells chip readers the time for certificate validity.
    pub fn new(config: &Config, clock_unix_ms: UnixClock) -> ConfiguredDevices {
        let wlt_decoder = match &config.card_reader {
            CardReaderConfig::SamEmulator {
                card_photo_file: Some(path),
                ..
            } => emulated_photo_bitmap(path).map(|bitmap| WltDecoder::Emulated { bitmap }),
            _ => Ok(WltDecoder::None),
        };
        ConfiguredDevices {
            camera: config.camera.clone(),
            card_reader: config.card_reader.clone(),
            wlt_decoder,
            clock_unix_ms,
            #[cfg(feature = "demo")]
            faults: config
                .faults_dir()
                .map_or_else(FaultSwitch::none, FaultSwitch::at),
            #[cfg(feature = "demo")]
            cue: ApplicantCue::new(),
        }
    }
}

impl Devices for ConfiguredDevices {
    fn open_camera(&self) -> Result<Box<dyn Camera>, CameraError> {
        let camera = &self.camera;
        match &camera.source {
            #[cfg(feature = "demo")]
            CameraSource::Files { frames_dir } => Ok(Box::new(
                FileCamera::open(
                    frames_dir,
                    camera.width_px,
                    camera.height_px,
                    camera.frame_rate_fps,
                )?
                .with_faults(self.faults.clone())
                .following(self.cue.clone()),
            )),
            #[cfg(not(feature = "demo"))]
            CameraSource::Files { .. } => Err(CameraError {
                kind: enroll_devices::camera::CameraErrorKind::NotFound,
                message: NOT_IN_THIS_BUILD.to_owned(),
            }),
            CameraSource::V4l2 { device_index } => Ok(Box::new(V4l2Camera::open(
                *device_index,
                camera.width_px,
                camera.height_px,
                camera.frame_rate_fps,
            )?)),
        }
    }

    fn open_card_reader(&self) -> Result<Box<dyn CardReader>, CardError> {
        match &self.card_reader {
            CardReaderConfig::SamSerial { port, baud } => Ok(Box::new(
                SamSerialReader::open_serial(port, *baud, SamReaderOptions::default())?,
            )),
            CardReaderConfig::SamEmulator { link_path, .. } => {
                let wlt_decoder = match &self.wlt_decoder {
                    Ok(decoder) => decoder.clone(),
                    Err(error) => {
                        return Err(CardError::new(CardErrorKind::DeviceGone, error.to_string()));
                    }
                };
                let options = SamReaderOptions {
                    wlt_decoder,
                    ..SamReaderOptions::default()
                };
                Ok(Box::new(SamSerialReader::open_serial(
                    link_path,
                    EMULATOR_BAUD,
                    options,
                )?))
            }
            CardReaderConfig::Pcsc {
                reader_name,
                csca_dir,
                ..
            } => {
                let csca = match csca_dir {
                    Some(dir) => load_csca_dir(dir)?,
                    None => Vec::new(),
                };
                let clock_unix_ms = Arc::clone(&self.clock_unix_ms);
                let clock = Box::new(move || clock_unix_ms());
                Ok(Box::new(PcscIcaoReader::new(
                    reader_name.clone(),
                    csca,
                    clock,
                )))
            }
        }
    }

    #[cfg(feature = "demo")]
    fn applicant_sees(&self, prompt: Option<enroll_core::domain::challenge::Prompt>) {
        self.cue.show(prompt);
    }
}

/// How long one registry request may take.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Why syncing cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SyncSetupError {
    /// The URL is not allowed.
    #[error("registry {url}: {problem}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The CA file cannot be read or parsed.
    #[error("registry.tls_ca_file {path}: {detail}")]
    TlsCa {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An https registry without a CA file.
    #[error(
        "{0} is https: set registry.tls_ca_file to the PEM file of the CA that signed the registry's certificate"
    )]
    NoTlsCa(String),
    /// A key file cannot be read.
    #[error(transparent)]
    Key(#[from] keys::KeyFileError),
    /// The outbox cannot be opened.
    #[error(transparent)]
    Store(#[from] enroll_store::StoreError),
    /// The thread or runtime cannot start.
    #[error("the sync worker cannot start: {0}")]
    Start(String),
}

/// The sync settings and TLS client configuration for `url` (the configured registry unless
/// overridden).
pub fn sync_setup(
    config: &Config,
    url: &str,
) -> Result<(SyncSettings, Option<rustls::ClientConfig>), SyncSetupError> {
    let url = url.trim_end_matches('/').to_owned();
    crate::config::check_registry_url(&url).map_err(|problem| SyncSetupError::Url {
        url: url.clone(),
        problem,
    })?;
    let tls = match &config.registry.tls_ca_file {
        Some(file) => {
            let tls_error = |detail: String| SyncSetupError::TlsCa {
                path: file.display().to_string(),
                detail,
            };
            let pem = std::fs::read(file).map_err(|e| tls_error(e.to_string()))?;
            Some(enroll_protocol::tls::client_config(&pem).map_err(|e| tls_error(e.to_string()))?)
        }
        None if url.starts_with("https://") => return Err(SyncSetupError::NoTlsCa(url)),
        None => None,
    };
    let settings = SyncSettings {
        registry_url: url,
        registry_receipt_key: keys::read_ed25519_public(&config.registry.receipt_public_key_file)?,
        backoff_base_ms: config.sync.backoff_base_ms,
        backoff_cap_ms: config.sync.backoff_cap_ms,
        batch_size: usize::try_from(config.sync.batch_size).unwrap_or(1),
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        guard_limits: Some(enroll_store::GuardLimits {
            min_free_disk_mb: config.store.min_free_disk_mb,
            max_unsent_records: u64::from(config.store.max_unsent_records),
            max_unsent_age_days: u64::from(config.store.max_unsent_age_days),
        }),
        retention_days: Some(u64::from(config.retention.sealed_payload_days)),
        // A terminal without its key yet (before provisioning) has no fleet state to ask for.
        fleet: terminal_signer(config)
            .ok()
            .map(|key| enroll_sync::FleetSettings {
                terminal_id: config.terminal.id.clone(),
                terminal_key: key,
                health: Some(health_probe(config, None)),
            }),
    };
    Ok((settings, tls))
}

/// What the heartbeat reports of this terminal: the program's version, the model pack, the
/// diagnostics that touch no device ([`crate::diag::HEARTBEAT_CHECKS`]) and, from a running
/// kiosk, its camera and card reader as it last saw them.
pub fn health_probe(
    config: &Config,
    devices: Option<crate::device_health::DeviceHealth>,
) -> enroll_sync::HealthProbe {
    let config = config.clone();
    std::sync::Arc::new(move |now| {
        let mut checks = crate::diag::heartbeat_checks(&config, now);
        if let Some(devices) = &devices {
            checks.extend(devices.states());
        }
        enroll_sync::TerminalHealth {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            model_pack: config.face.engine.manifest().name.clone(),
            checks,
        }
    })
}

/// Opens the outbox at `path`, obeying the demo's `disk-full` fault when the configuration names a
/// fault folder (demo builds only; a production build has no fault injection).
pub fn open_outbox(path: &Path, faults_dir: Option<&Path>) -> Result<Outbox, StoreError> {
    #[cfg_attr(not(feature = "demo"), allow(unused_mut))]
    let mut outbox = Outbox::open(path)?;
    #[cfg(feature = "demo")]
    if let Some(dir) = faults_dir {
        let faults = FaultSwitch::at(dir.to_path_buf());
        outbox.set_disk_full_signal(Box::new(move || faults.is_on(Fault::DiskFull)));
    }
    #[cfg(not(feature = "demo"))]
    let _ = faults_dir;
    Ok(outbox)
}
