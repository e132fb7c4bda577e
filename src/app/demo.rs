//! The services a demo configuration starts by itself so a newcomer can walk through a whole
//! enrollment with the mouse: the SAM reader emulator on a pseudo-terminal (with its card placed
//! and re-placed after every read), and a local registry on the configured loopback address
//! (in this process, real HTTP, its own SQLite file) with this terminal's key allowed. Real
//! terminals configure none of this. It opens no window and reads no card itself. The faults
//! injected with `kiosk diag inject` that concern these services (`reader-gone`, `card-pulled`,
//! `registry-down`) are applied here by a `demo-faults` thread.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{CardReaderConfig, Config};
use crate::officers::OfficerList;
use enroll_core::domain::officer::Role;
use enroll_crypto::keys;
use enroll_registry::server::{Metrics, RegistryState, serve};
use enroll_sim::faults::{Fault, FaultSwitch};
use enroll_sim::printer_emulator::{Page, PrinterEmulator};
use enroll_sim::sam_emulator::{EmulatedCard, EmulatorTiming, SamEmulator, SampleCard};

/// Why a demo service could not start. The kiosk still runs without it, and says so.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The emulated card file is unreadable or invalid.
    #[error("card_reader.card_file {path}: {detail}")]
    CardFile {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The emulator could not start.
    #[error("the SAM reader emulator cannot start at {path}: {detail}")]
    Emulator {
        /// The link path.
        path: String,
        /// What failed.
        detail: String,
    },
    /// The local registry could not start.
    #[error("the demo registry cannot start: {0}")]
    Registry(String),
    /// The demo badges could not be written to the officer list.
    #[error("the demo badges cannot be written to terminal.officers_file: {0}")]
    Badges(String),
}

/// A badge the demo creates for itself so a newcomer can reach the officer desk and the
/// technician screen; the demo's first screen shows them. Never on a real terminal: they exist
/// only where a `[demo]` section runs, in the demo's own officer list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoBadge {
    pub role: Role,
    pub badge: &'static str,
    pub pin: &'static str,
}

/// The demo's officer, supervisor and technician.
pub const DEMO_BADGES: [DemoBadge; 3] = [
    DemoBadge {
        role: Role::Officer,
        badge: "D-1001",
        pin: "482915",
    },
    DemoBadge {
        role: Role::Supervisor,
        badge: "D-2001",
        pin: "730264",
    },
    DemoBadge {
        role: Role::Technician,
        badge: "D-3001",
        pin: "615370",
    },
];

/// Adds each of [`DEMO_BADGES`] that `config`'s officer list lacks (only for a configuration
/// with a `[demo]` section); returns the badges to show.
pub fn ensure_demo_badges(config: &Config) -> Result<&'static [DemoBadge], DemoError> {
    if config.demo.is_none() {
        return Ok(&[]);
    }
    let failed = |e: &dyn std::fmt::Display| DemoError::Badges(e.to_string());
    let path = &config.terminal.officers_file;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| failed(&e))?;
    }
    let mut list = OfficerList::load(path).map_err(|e| failed(&e))?;
    let mut added = false;
    for demo in DEMO_BADGES {
        let present = list
            .entries()
            .iter()
            .any(|entry| entry.badge == demo.badge && !entry.disabled);
        if !present {
            let salt = keys::random_bytes::<16>().map_err(|e| failed(&e))?;
            list.add(demo.badge, demo.role, demo.pin, salt)
                .map_err(|e| failed(&e))?;
            added = true;
        }
    }
    if added {
        list.save().map_err(|e| failed(&e))?;
        tracing::info!(path = %path.display(), "demo: demo badges written");
    }
    Ok(&DEMO_BADGES)
}

/// The running demo services; dropping it stops them.
pub struct DemoServices {
    parts: Arc<Parts>,
    watcher_stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

/// What the demo runs, shared with the `demo-faults` thread.
struct Parts {
    emulator: Option<SamEmulator>,
    /// The emulated receipt printer, when the demo has one.
    printer: Option<PrinterEmulator>,
    /// Stops the running registry; `None` when none runs here.
    registry_stop: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
    /// What a registry restarted after `registry-down` needs.
    registry_setup: Option<(Config, PathBuf)>,
    faults: FaultSwitch,
}

impl Parts {
    /// Makes the running services match `fault` being `on`.
    fn apply(&self, fault: Fault, on: bool) {
        let result = match fault {
            Fault::ReaderGone => self
                .emulator
                .as_ref()
                .map_or(Ok(()), |emulator| {
                    if on {
                        emulator.unplug()
                    } else {
                        emulator.replug()
                    }
                })
                .map_err(|e| e.to_string()),
            Fault::CardPulled => {
                if let Some(emulator) = &self.emulator {
                    emulator.set_pull_every_read(on);
                }
                Ok(())
            }
            Fault::RegistryDown => self.set_registry_running(!on),
            // The file camera and the outbox's disk measure read these themselves.
            Fault::CameraFreeze | Fault::DiskFull => Ok(()),
        };
        match result {
            Ok(()) => tracing::info!(fault = fault.as_str(), on, "demo: fault switched"),
            Err(error) => {
                tracing::warn!(fault = fault.as_str(), on, %error, "demo: fault not applied");
            }
        }
    }

    fn set_registry_running(&self, running: bool) -> Result<(), String> {
        let Some((config, keys_dir)) = &self.registry_setup else {
            return Ok(());
        };
        let mut stop = self
            .registry_stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if running && stop.is_none() {
            *stop = start_registry(config, keys_dir).map_err(|e| e.to_string())?;
        } else if !running && let Some(sender) = stop.take() {
            let _ = sender.send(true);
        }
        Ok(())
    }
}

/// How often the `demo-faults` thread looks at the fault folder.
const FAULT_POLL_MS: u64 = 200;

impl DemoServices {
    /// Nothing running (a real terminal).
    pub fn none() -> DemoServices {
        DemoServices {
            parts: Arc::new(Parts {
                emulator: None,
                printer: None,
                registry_stop: Mutex::new(None),
                registry_setup: None,
                faults: FaultSwitch::none(),
            }),
            watcher_stop: Arc::new(AtomicBool::new(false)),
            watcher: None,
        }
    }

    /// Starts what `config` asks for: the SAM emulator for the `sam-emulator` backend, and the
    /// local registry when `demo.registry_keys_dir` is set and nothing answers at the URL yet.
    /// Faults already injected (`[demo] faults_dir`) hold from the start, and a `demo-faults`
    /// thread follows them while the services run.
    pub fn start(config: &Config) -> Result<DemoServices, DemoError> {
        if let Err(error) = ensure_demo_badges(config) {
            tracing::error!(%error, "demo: no demo badges");
        }
        let faults = config
            .faults_dir()
            .map_or_else(FaultSwitch::none, FaultSwitch::at);
        let active = faults.active();
        if !active.is_empty() {
            let injected: Vec<&str> = active.iter().map(|fault| fault.as_str()).collect();
            tracing::warn!(
                faults = %injected.join(", "),
                "demo: injected faults are on (kiosk diag inject --clear ends them)"
            );
        }
        let emulator = match &config.card_reader {
            CardReaderConfig::SamEmulator {
                link_path,
                card_file,
                ..
            } => Some(start_emulator(link_path, card_file.as_deref())?),
            _ => None,
        };
        let registry_setup = config
            .demo
            .as_ref()
            .and_then(|demo| demo.registry_keys_dir.clone())
            .map(|keys_dir| (config.clone(), keys_dir));
        let registry_stop = match &registry_setup {
            Some((config, keys_dir)) if !active.contains(&Fault::RegistryDown) => {
                start_registry(config, keys_dir)?
            }
            _ => None,
        };
        let printer = match (&config.printer, config.demo.as_ref()) {
            (Some(printer), Some(demo)) => demo
                .printed_dir
                .as_deref()
                .map(|dir| start_printer(&printer.port, dir))
                .transpose()?,
            _ => None,
        };
        let parts = Arc::new(Parts {
            printer,
            emulator,
            registry_stop: Mutex::new(registry_stop),
            registry_setup,
            faults,
        });
        for fault in active
            .iter()
            .filter(|fault| matches!(fault, Fault::ReaderGone | Fault::CardPulled))
        {
            parts.apply(*fault, true);
        }
        let watcher_stop = Arc::new(AtomicBool::new(false));
        let watcher = if parts.faults.dir().is_some() {
            let parts = Arc::clone(&parts);
            let stop = Arc::clone(&watcher_stop);
            std::thread::Builder::new()
                .name("demo-faults".into())
                .spawn(move || follow_faults(&parts, &stop, active))
                .map_err(|e| DemoError::Registry(format!("the fault thread cannot start: {e}")))
                .map(Some)?
        } else {
            None
        };
        Ok(DemoServices {
            parts,
            watcher_stop,
            watcher,
        })
    }

    /// The emulated receipt printer, when this demo runs one.
    pub fn printer(&self) -> Option<&PrinterEmulator> {
        self.parts.printer.as_ref()
    }

    /// The emulator, when this demo runs one (tests and fault injection use it).
    pub fn emulator(&self) -> Option<&SamEmulator> {
        self.parts.emulator.as_ref()
    }
}

/// Applies each change of the fault folder until `stop`.
fn follow_faults(parts: &Parts, stop: &AtomicBool, mut applied: Vec<Fault>) {
    while !stop.load(Ordering::Relaxed) {
        let active = parts.faults.active();
        for fault in Fault::ALL {
            let on = active.contains(&fault);
            if on != applied.contains(&fault) {
                parts.apply(fault, on);
            }
        }
        applied = active;
        std::thread::sleep(Duration::from_millis(FAULT_POLL_MS));
    }
}

impl Drop for DemoServices {
    fn drop(&mut self) {
        self.watcher_stop.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        let _ = self.parts.set_registry_running(false);
        // The emulator stops when the last holder of the parts drops it.
    }
}

/// Emulates the receipt printer at `link` and keeps what it prints in `printed_dir`: each receipt
/// as `receipt-N.txt` (its lines) and its QR codes as `receipt-N-code-K.png`.
fn start_printer(link: &Path, printed_dir: &Path) -> Result<PrinterEmulator, DemoError> {
    let failed = |detail: String| DemoError::Emulator {
        path: link.display().to_string(),
        detail,
    };
    for dir in [Some(printed_dir), link.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    }
    let printer = PrinterEmulator::start(link).map_err(|e| failed(e.to_string()))?;
    let dir = printed_dir.to_owned();
    printer.on_cut(move |number, page: &Page| {
        let text = page.lines.join("\n") + "\n";
        let mut written = std::fs::write(dir.join(format!("receipt-{number}.txt")), text)
            .map_err(|e| e.to_string());
        for (k, raster) in page.images.iter().enumerate() {
            let path = dir.join(format!("receipt-{number}-code-{}.png", k + 1));
            if let Err(error) = raster.to_luma().save(&path) {
                written = Err(error.to_string());
            }
        }
        match written {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), number, "demo: receipt printed to files")
            }
            Err(error) => tracing::warn!(%error, "demo: the printed receipt was not kept"),
        }
    });
    tracing::info!(link = %link.display(), "demo: receipt printer emulated");
    Ok(printer)
}

fn start_emulator(link_path: &Path, card_file: Option<&Path>) -> Result<SamEmulator, DemoError> {
    let card = match card_file {
        Some(path) => {
            let failed = |detail: String| DemoError::CardFile {
                path: path.display().to_string(),
                detail,
            };
            let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
            EmulatedCard::from_toml(&text).map_err(|e| failed(e.to_string()))?
        }
        None => SampleCard::Resident.card(),
    };
    let emulator_error = |detail: String| DemoError::Emulator {
        path: link_path.display().to_string(),
        detail,
    };
    if let Some(parent) = link_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| emulator_error(e.to_string()))?;
    }
    let emulator = SamEmulator::start(link_path, Some(card), EmulatorTiming::default())
        .map_err(|e| emulator_error(e.to_string()))?;
    // The demo's card stays on the reader: every session finds it.
    emulator.set_auto_replace(true);
    tracing::info!(link = %link_path.display(), "demo: SAM reader emulator started");
    Ok(emulator)
}

/// The address in an `http://HOST:PORT` URL.
fn registry_socket(url: &str) -> Option<SocketAddr> {
    let authority = url.strip_prefix("http://")?.split('/').next()?;
    authority.to_socket_addrs().ok()?.next()
}

fn start_registry(
    config: &Config,
    keys_dir: &Path,
) -> Result<Option<tokio::sync::watch::Sender<bool>>, DemoError> {
    let url = &config.registry.url;
    let listen_at = registry_socket(url).ok_or_else(|| {
        DemoError::Registry(format!("{url} is not an http://HOST:PORT listen_at"))
    })?;
    if TcpStream::connect_timeout(&listen_at, Duration::from_millis(300)).is_ok() {
        tracing::info!(listen = %listen_at, "demo: a registry already answers; not starting one");
        return Ok(None);
    }
    let failed = |detail: String| DemoError::Registry(detail);
    let receipt_key = keys::read_signing_key(&keys_dir.join("registry-receipt.key"))
        .map_err(|e| failed(format!("{e}; run scripts/setup.sh")))?;
    let terminal_key = keys::read_signing_key(&config.terminal.signing_key_file)
        .map_err(|e| failed(e.to_string()))?;
    let database = config
        .demo
        .as_ref()
        .map(|demo| demo.registry_database_path.clone())
        .unwrap_or_default();
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
    }
    let storage = enroll_registry::storage::open(&format!("sqlite:{}", database.display()), 1)
        .map_err(|e| failed(e.to_string()))?;
    let now_ms = crate::clock::now();
    storage
        .add_terminal(
            &config.terminal.id,
            terminal_key.public().to_bytes(),
            now_ms,
        )
        .map_err(|e| failed(e.to_string()))?;
    let listener = std::net::TcpListener::bind(listen_at)
        .map_err(|e| failed(format!("cannot listen on {listen_at}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| failed(e.to_string()))?;
    let state = RegistryState {
        storage,
        receipt_key: Arc::new(receipt_key),
        metrics: Arc::new(Metrics::default()),
        clock: Arc::new(crate::clock::now),
        admin_token_sha256: None,
        virtual_id: None,
        holders: None,
        sealing_public_pem: None,
        document_tag_key: None,
        stale_after_ms: enroll_registry::fleet_health::DEFAULT_STALE_AFTER_S * 1000,
    };
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    crate::runtime::spawn_on_named_thread("demo-registry", move || async move {
        let served = async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let shutdown = async move {
                let _ = stop_rx.changed().await;
            };
            serve(listener, state, shutdown).await
        };
        if let Err(error) = served.await {
            tracing::error!(%error, "demo registry stopped");
        }
    })
    .map_err(|e| failed(e.to_string()))?;
    tracing::info!(listen = %listen_at, database = %database.display(), "demo: local registry started");
    Ok(Some(stop))
}
