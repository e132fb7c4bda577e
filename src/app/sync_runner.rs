//! Runs the sync worker for the GUI on a named thread with its own tokio runtime, and hands its
//! state (unsent, online, last error) to the UI through a watch channel the UI reads without
//! waiting. It also builds the sync settings from the configuration for `kiosk sync`. It sends
//! nothing itself (that is `sync`).

use std::sync::Arc;

use crate::config::Config;
use crate::keys;
use crate::store::Outbox;
use crate::sync::{SyncSettings, SyncState, Worker, WorkerTiming, http_client};

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
    Store(#[from] crate::store::StoreError),
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
            Some(crate::registry::tls::client_config(&pem).map_err(|e| tls_error(e.to_string()))?)
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
    };
    Ok((settings, tls))
}

/// Wall-clock time in Unix milliseconds: the app's one reading of the system clock.
#[allow(clippy::disallowed_methods)] // the app's edge reads the clock and passes it in
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The running sync worker, as the UI sees it.
pub struct SyncRunner {
    state: tokio::sync::watch::Receiver<SyncState>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl SyncRunner {
    /// Starts the `sync` thread for the configured registry.
    pub fn start(config: &Config) -> Result<SyncRunner, SyncSetupError> {
        let (settings, tls) = sync_setup(config, &config.registry.url)?;
        let path = &config.store.database_path;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| SyncSetupError::Start(e.to_string()))?;
        }
        let outbox = Outbox::open(path)?;
        let (state_tx, state) = tokio::sync::watch::channel(SyncState::default());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        std::thread::Builder::new()
            .name("sync".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "the sync worker's runtime cannot start");
                        return;
                    }
                };
                let worker = Worker {
                    outbox,
                    client: runtime.block_on(async { http_client(tls) }),
                    settings,
                    timing: WorkerTiming {
                        idle_poll_ms: 2_000,
                        probe_ms: 1_000,
                    },
                    clock: Arc::new(unix_now_ms),
                    random: Box::new(|| {
                        keys::random_bytes::<8>()
                            .map(u64::from_le_bytes)
                            .unwrap_or(0)
                    }),
                };
                if let Err(error) = runtime.block_on(worker.run(state_tx, stop_rx)) {
                    tracing::error!(%error, "the sync worker stopped");
                }
            })
            .map_err(|e| SyncSetupError::Start(e.to_string()))?;
        Ok(SyncRunner { state, stop })
    }

    /// The worker's latest state (never waits).
    pub fn state(&self) -> SyncState {
        self.state.borrow().clone()
    }
}

impl Drop for SyncRunner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
