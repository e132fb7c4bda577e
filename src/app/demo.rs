//! The services a demo configuration starts by itself so a newcomer can walk through a whole
//! enrollment with the mouse: the SAM reader emulator on a pseudo-terminal (with its card placed
//! and re-placed after every read), and a local registry on the configured loopback address
//! (in this process, real HTTP, its own SQLite file) with this terminal's key allowed. Real
//! terminals configure none of this. It opens no window and reads no card itself.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{CardReaderConfig, Config};
use crate::devices::card::sam_emulator::{EmulatedCard, EmulatorTiming, SamEmulator, SampleCard};
use crate::keys;
use crate::registry::server::{Metrics, RegistryState, serve};

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
}

/// The running demo services; dropping it stops them.
pub struct DemoServices {
    emulator: Option<SamEmulator>,
    registry_stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl DemoServices {
    /// Nothing running (a real terminal).
    pub fn none() -> DemoServices {
        DemoServices {
            emulator: None,
            registry_stop: None,
        }
    }

    /// Starts what `config` asks for: the SAM emulator for the `sam-emulator` backend, and the
    /// local registry when `demo.registry_keys_dir` is set and nothing answers at the URL yet.
    pub fn start(config: &Config) -> Result<DemoServices, DemoError> {
        let mut services = DemoServices::none();
        if let CardReaderConfig::SamEmulator {
            link_path,
            card_file,
            ..
        } = &config.card_reader
        {
            services.emulator = Some(start_emulator(link_path, card_file.as_deref())?);
        }
        if let Some(keys_dir) = config
            .demo
            .as_ref()
            .and_then(|demo| demo.registry_keys_dir.as_deref())
        {
            services.registry_stop = start_registry(config, keys_dir)?;
        }
        Ok(services)
    }

    /// The emulator, when this demo runs one (tests and fault injection use it).
    pub fn emulator(&self) -> Option<&SamEmulator> {
        self.emulator.as_ref()
    }
}

impl Drop for DemoServices {
    fn drop(&mut self) {
        if let Some(stop) = self.registry_stop.take() {
            let _ = stop.send(true);
        }
        if let Some(emulator) = self.emulator.take() {
            emulator.stop();
        }
    }
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
    let storage = crate::registry::storage::open(&format!("sqlite:{}", database.display()), 1)
        .map_err(|e| failed(e.to_string()))?;
    let now_ms = crate::app::sync_runner::unix_now_ms();
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
        clock: Arc::new(|| u64::try_from(crate::app::sync_runner::unix_now_ms()).unwrap_or(0)),
        admin_token_sha256: None,
    };
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    std::thread::Builder::new()
        .name("demo-registry".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "demo registry runtime");
                    return;
                }
            };
            let served = runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let shutdown = async move {
                    let _ = stop_rx.changed().await;
                };
                serve(listener, state, shutdown).await
            });
            if let Err(error) = served {
                tracing::error!(%error, "demo registry stopped");
            }
        })
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!(listen = %listen_at, database = %database.display(), "demo: local registry started");
    Ok(Some(stop))
}
