//! The sync worker loop: with the registry down it backs off exponentially (checked with paused
//! tokio time: a virtual minute takes no real minute), when the registry answers again it sends
//! at once instead of waiting out its backoff, and a draining backlog keeps the outbox's WAL near
//! its checkpoint size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{SealingPrivateKey, TerminalSigningKey};
use enroll_registry::server::Metrics;
use enroll_registry::storage::{SqliteStorage, Storage};
use enroll_store::{GuardLimits, Outbox};
use enroll_sync::{SyncSettings, SyncState, Worker, WorkerTiming, http_client};

const T0_MS: UnixMs = UnixMs(1_790_000_000_000);
const LIMITS: GuardLimits = GuardLimits {
    min_free_disk_mb: 0,
    max_unsent_records: 1000,
    max_unsent_age_days: 30,
};

/// A loopback address nothing listens on (bound, then released).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    terminal: TerminalSigningKey,
    receipt: TerminalSigningKey,
}

fn setup(records: u8) -> Setup {
    setup_with(records, 1000)
}

/// `records` enrollments with `payload_len`-byte payloads.
fn setup_with(records: u8, payload_len: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let terminal = TerminalSigningKey::from_seed([21; 32]);
    let receipt = TerminalSigningKey::from_seed([22; 32]);
    let (_, sealing) = SealingPrivateKey::from_seed([23; 32]);
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    for n in 1..=records {
        common::commit_sample(
            &mut outbox,
            &terminal,
            &sealing,
            "T-1",
            n,
            T0_MS + i64::from(n),
            payload_len,
            &LIMITS,
        )
        .unwrap();
    }
    Setup {
        dir,
        terminal,
        receipt,
    }
}

fn worker(
    setup: &Setup,
    url: String,
    base_ms: u64,
    cap_ms: u64,
    timing: WorkerTiming,
    clock: Arc<dyn Fn() -> UnixMs + Send + Sync>,
) -> Worker {
    Worker {
        outbox: Outbox::open(&setup.dir.path().join("outbox.sqlite")).unwrap(),
        client: http_client(None),
        settings: SyncSettings {
            registry_url: url,
            registry_receipt_key: setup.receipt.public(),
            backoff_base_ms: base_ms,
            backoff_cap_ms: cap_ms,
            batch_size: 10,
            request_timeout_ms: 3_600_000,
            guard_limits: None,
            retention_days: None,
            fleet: None,
        },
        timing,
        clock,
        // The largest jitter every time: each delay is exactly the backoff ceiling.
        random: Box::new(|| u64::MAX - 1),
    }
}

#[tokio::test(start_paused = true)]
async fn with_the_registry_down_retries_back_off_exponentially_to_the_cap() {
    let setup = setup(1);
    let start = tokio::time::Instant::now();
    let clock: Arc<dyn Fn() -> UnixMs + Send + Sync> =
        Arc::new(move || T0_MS + i64::try_from(start.elapsed().as_millis()).unwrap());
    let timing = WorkerTiming {
        idle_poll_ms: 500,
        probe_ms: 500,
    };
    let url = format!("http://{}", closed_port());
    let (state_tx, mut state_rx) = tokio::sync::watch::channel(SyncState::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker(&setup, url, 1000, 8000, timing, clock).run(state_tx, stop_rx));

    // 40 virtual seconds. Attempts are due at 0, 1, 3, 7, 15, 23, 31, 39 s (1, 2, 4, 8, then the
    // 8 s cap); without backoff a 500 ms loop would have tried 80 times.
    tokio::time::sleep(Duration::from_millis(40_250)).await;
    let list = Outbox::open(&setup.dir.path().join("outbox.sqlite"))
        .unwrap()
        .list()
        .unwrap();
    let attempts = list[0].attempts;
    assert!(
        (7..=9).contains(&attempts),
        "attempts after 40 s: {attempts}"
    );
    state_rx.changed().await.ok();
    let state = state_rx.borrow().clone();
    assert!(!state.online);
    assert_eq!(state.unsent, 1);
    assert!(state.last_error.unwrap().contains("unreachable"));
    stop_tx.send(true).unwrap();
    task.await.unwrap().unwrap();
}

/// The real registry on `address`, knowing the setup's terminal, and its storage.
fn start_registry(setup: &Setup, address: SocketAddr) -> (Arc<SqliteStorage>, common::Registry) {
    let storage = Arc::new(SqliteStorage::open(&setup.dir.path().join("registry.sqlite")).unwrap());
    storage
        .add_terminal("T-1", setup.terminal.public().to_bytes(), UnixMs::EPOCH)
        .unwrap();
    let registry = common::Registry::start(
        address,
        storage.clone(),
        &setup.receipt,
        &Arc::new(Metrics::default()),
    );
    (storage, registry)
}

/// A worker on a real-time tokio runtime and the wall clock, polling every 100 ms, with the
/// retry backoff fixed at `backoff_ms` (base and cap).
struct RealTimeWorker {
    runtime: tokio::runtime::Runtime,
    state: tokio::sync::watch::Receiver<SyncState>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), enroll_sync::SyncError>>,
}

impl RealTimeWorker {
    fn start(setup: &Setup, registry: SocketAddr, backoff_ms: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let clock: Arc<dyn Fn() -> UnixMs + Send + Sync> = Arc::new(|| {
            #[allow(clippy::disallowed_methods)] // a real-time test reads the real clock
            let now = std::time::SystemTime::now();
            UnixMs(
                i64::try_from(
                    now.duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis(),
                )
                .unwrap(),
            )
        });
        let timing = WorkerTiming {
            idle_poll_ms: 100,
            probe_ms: 100,
        };
        let (state_tx, state) = tokio::sync::watch::channel(SyncState::default());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let url = format!("http://{registry}");
        let task = runtime.spawn(
            worker(setup, url, backoff_ms, backoff_ms, timing, clock).run(state_tx, stop_rx),
        );
        Self {
            runtime,
            state,
            stop,
            task,
        }
    }

    /// Stops the worker and waits for it; it must end without an error.
    fn stop(self) {
        self.stop.send(true).unwrap();
        self.runtime.block_on(self.task).unwrap().unwrap();
    }
}

#[test]
fn when_the_registry_answers_again_waiting_records_are_sent_at_once() {
    let setup = setup(3);
    let address = closed_port();
    // A first retry waits 30 s (base and cap): arriving within seconds proves the probe path.
    let running = RealTimeWorker::start(&setup, address, 30_000);
    let (runtime, mut state_rx) = (&running.runtime, running.state.clone());
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        state_rx.borrow().unsent,
        3,
        "nothing can be sent while the registry is down"
    );

    let (storage, _registry) = start_registry(&setup, address);
    let delivered = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            state_rx.wait_for(|state| state.unsent == 0),
        )
        .await
        .is_ok()
    });
    assert!(
        delivered,
        "records still waiting 5 s after the registry came back"
    );
    assert_eq!(storage.record_count().unwrap(), 3);
    assert!(state_rx.borrow().online);
    running.stop();
}

#[test]
fn draining_a_backlog_of_300_kb_records_keeps_the_wal_near_its_4_mb_checkpoint_size() {
    // 16 records of 300 KB. Each acknowledgement rewrites its record's row, payload included
    // (~0.6 MB of WAL), so the backlog's acknowledgements alone write ~10 MB of WAL: without
    // checkpoints along the way the WAL file would grow that large (SQLite's own 16 MB backstop
    // would not stop it).
    let setup = setup_with(16, 300 * 1024);
    let address = closed_port();
    let (storage, _registry) = start_registry(&setup, address);
    let running = RealTimeWorker::start(&setup, address, 1000);
    let (runtime, mut state_rx) = (&running.runtime, running.state.clone());
    let delivered = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            state_rx.wait_for(|state| state.unsent == 0 && state.acknowledged == 16),
        )
        .await
        .is_ok()
    });
    // The WAL file never shrinks while the worker's connection is open: its size is the most
    // the WAL held.
    let wal_bytes = std::fs::metadata(setup.dir.path().join("outbox.sqlite-wal"))
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    running.stop();
    assert!(delivered, "the backlog was not delivered within 30 s");
    assert_eq!(storage.record_count().unwrap(), 16);
    assert!(
        wal_bytes < 6 * 1024 * 1024,
        "the WAL grew to {wal_bytes} bytes while the backlog drained"
    );
    let outbox = Outbox::open(&setup.dir.path().join("outbox.sqlite")).unwrap();
    assert!(
        outbox
            .verify_records(&setup.terminal.public())
            .unwrap()
            .is_intact()
    );
}
