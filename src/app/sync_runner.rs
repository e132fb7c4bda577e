//! Runs the sync worker for the GUI on a named thread with its own tokio runtime, and hands its
//! state (unsent, online, last error) to the UI through a watch channel the UI reads without
//! waiting. It sends nothing itself (that is `sync`) and builds no settings (that is
//! `configured::sync_setup`).

use std::sync::Arc;

use crate::config::Config;
use crate::configured::{SyncSetupError, sync_setup};
use enroll_crypto::keys;
use enroll_sync::{SyncState, Worker, WorkerTiming, http_client};

/// The running sync worker, as the UI sees it.
pub struct SyncRunner {
    state: tokio::sync::watch::Receiver<SyncState>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl SyncRunner {
    /// Starts the `sync` thread for the configured registry; its heartbeats report `devices`
    /// too.
    pub fn start(
        config: &Config,
        devices: crate::device_health::DeviceHealth,
    ) -> Result<SyncRunner, SyncSetupError> {
        let (mut settings, tls) = sync_setup(config, &config.registry.url)?;
        if let Some(fleet) = &mut settings.fleet {
            fleet.health = Some(crate::configured::health_probe(config, Some(devices)));
        }
        let path = &config.store.database_path;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| SyncSetupError::Start(e.to_string()))?;
        }
        let outbox = crate::configured::open_outbox(path, config.faults_dir())?;
        let (state_tx, state) = tokio::sync::watch::channel(SyncState::default());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        crate::runtime::spawn_on_named_thread("sync", move || async move {
            let worker = Worker {
                outbox,
                client: http_client(tls),
                settings,
                timing: WorkerTiming {
                    idle_poll_ms: 2_000,
                    probe_ms: 1_000,
                },
                clock: Arc::new(crate::clock::now),
                random: Box::new(|| {
                    keys::random_bytes::<8>()
                        .map(u64::from_le_bytes)
                        .unwrap_or(0)
                }),
            };
            if let Err(error) = worker.run(state_tx, stop_rx).await {
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
