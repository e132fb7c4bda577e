//! Sync through faults: a small TCP proxy between `kiosk sync` and the real registry drops
//! connections, loses answers after the registry committed (lost acknowledgements) and delays
//! traffic; the registry is also restarted mid-stream. Every record ends up stored exactly once
//! and acknowledged once the faults stop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{TerminalPublicKey, TerminalSigningKey};
use enroll_registry::server::Metrics;
use enroll_registry::storage::{SqliteStorage, Storage};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use common::{Registry, root};

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// What the proxy does to each new connection.
#[derive(Default)]
struct Faults {
    /// Percent of connections whose answers are swallowed (the request still reaches the registry).
    lose_answer_percent: AtomicU64,
    /// Percent of connections closed before anything is forwarded.
    drop_percent: AtomicU64,
    /// Delay added before forwarding each answer chunk.
    delay_ms: AtomicU64,
    drops_seen: AtomicU64,
    answers_seen: AtomicU64,
}

impl Faults {
    fn clear(&self) {
        self.lose_answer_percent.store(0, Ordering::SeqCst);
        self.drop_percent.store(0, Ordering::SeqCst);
        self.delay_ms.store(0, Ordering::SeqCst);
    }

    /// A deterministic spread: the n-th decision is a hit when (n * 37) % 100 < percent.
    fn hit(counter: &AtomicU64, percent: &AtomicU64) -> bool {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        (n * 37) % 100 < percent.load(Ordering::SeqCst)
    }
}

/// Whether `bytes` hold a complete HTTP/1.1 response with a Content-Length body.
fn response_complete(bytes: &[u8]) -> bool {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    bytes.len() >= head_end + 4 + length
}

/// Runs the proxy on its own runtime thread; returns its address.
fn start_proxy(upstream: Arc<std::sync::Mutex<SocketAddr>>, faults: Arc<Faults>) -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name("fault-proxy".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    let faults = Arc::clone(&faults);
                    let target = *upstream.lock().unwrap();
                    tokio::spawn(async move {
                        if Faults::hit(&faults.drops_seen, &faults.drop_percent) {
                            return; // dropped: the client sees the connection close
                        }
                        let lose = Faults::hit(&faults.answers_seen, &faults.lose_answer_percent);
                        let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        let (mut client_read, mut client_write) = client.split();
                        let (mut server_read, mut server_write) = server.split();
                        let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                        // One answer per connection: the proxy reads a whole HTTP response
                        // (head + Content-Length body), forwards it unless this connection loses
                        // its answer, and closes, so every request meets the faults afresh.
                        let downstream = async {
                            let mut response = Vec::new();
                            let mut buffer = vec![0u8; 64 * 1024];
                            loop {
                                let n = server_read.read(&mut buffer).await.unwrap_or(0);
                                if n == 0 {
                                    break;
                                }
                                response.extend_from_slice(&buffer[..n]);
                                if response_complete(&response) {
                                    break;
                                }
                            }
                            if lose || response.is_empty() {
                                return; // the registry answered (and committed): the answer is lost
                            }
                            let delay = faults.delay_ms.load(Ordering::SeqCst);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay)).await;
                            }
                            let _ = client_write.write_all(&response).await;
                            let _ = client_write.shutdown().await;
                        };
                        tokio::select! {
                            _ = upstream => {}
                            _ = downstream => {}
                        }
                    });
                }
            });
        })
        .unwrap();
    address
}

fn kiosk(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_record_is_stored_exactly_once_through_lost_answers_drops_delays_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["keygen", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(common::registry_exe())
        .args(["keygen", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(out.status.success());
    let config = dir.path().join("kiosk.toml");
    std::fs::write(
        &config,
        std::fs::read_to_string(root().join("kiosk-config/demo.toml"))
            .unwrap()
            .replace("demo-keys/", "keys/")
            .replace("../target/demo/outbox.sqlite", "outbox.sqlite")
            .replace("backoff_base_ms = 500", "backoff_base_ms = 10")
            .replace("backoff_cap_ms = 60000", "backoff_cap_ms = 200")
            .replace("batch_size = 20", "batch_size = 5")
            .replace(
                "\"../assets/models/packs\"",
                &format!("\"{}\"", root().join("assets/models/packs").display()),
            ),
    )
    .unwrap();
    let receipt_key = TerminalSigningKey::from_pem(
        &std::fs::read_to_string(keys.join("registry-receipt.key")).unwrap(),
    )
    .unwrap();
    let terminal_key = TerminalPublicKey::from_pem(
        &std::fs::read_to_string(keys.join("terminal-signing.pub")).unwrap(),
    )
    .unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite")).unwrap());
    storage
        .add_terminal("DEMO-0001", terminal_key.to_bytes(), UnixMs::EPOCH)
        .unwrap();

    let enrolled = kiosk(
        &config,
        &[
            "enroll",
            "--count",
            "30",
            "--document",
            root()
                .join("tests/fixtures/card-read-resident.json")
                .to_str()
                .unwrap(),
            "--portrait",
            root()
                .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg")
                .to_str()
                .unwrap(),
            "--card-photo",
            root()
                .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(enrolled.status.success());
    let ids: Vec<String> = String::from_utf8_lossy(&enrolled.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 30);

    let metrics = Arc::new(Metrics::default());
    let mut registry = Registry::start(localhost(), storage.clone(), &receipt_key, &metrics);
    let upstream = Arc::new(std::sync::Mutex::new(registry.address));
    let faults = Arc::new(Faults::default());
    faults.lose_answer_percent.store(30, Ordering::SeqCst);
    faults.drop_percent.store(15, Ordering::SeqCst);
    faults.delay_ms.store(20, Ordering::SeqCst);
    let proxy = start_proxy(Arc::clone(&upstream), Arc::clone(&faults));
    let url = format!("http://{proxy}");

    // Sync under faults; restart the registry half way.
    let restarted = AtomicBool::new(false);
    for round in 0..12 {
        let _ = kiosk(&config, &["sync", "--once", "--registry", &url]);
        if round == 5 && !restarted.swap(true, Ordering::SeqCst) {
            drop(registry);
            registry = Registry::start(localhost(), storage.clone(), &receipt_key, &metrics);
            *upstream.lock().unwrap() = registry.address;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stored_under_faults = storage.record_count().unwrap();
    assert!(
        stored_under_faults > 0,
        "some records got through the faults"
    );

    // Faults stop: everything is acknowledged, nothing is stored twice.
    faults.clear();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sync = kiosk(&config, &["sync", "--once", "--registry", &url]);
        if sync.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records still unsent a minute after the faults stopped: {}",
            String::from_utf8_lossy(&sync.stdout)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(storage.record_count().unwrap(), 30, "exactly once");
    for id in &ids {
        assert!(storage.record(id).unwrap().is_some(), "{id} stored");
    }
    let status = kiosk(&config, &["queue", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["acknowledged"], 30, "{status}");
    assert_eq!(status["rejected"], 0, "{status}");
    // The faults really bit: answers were lost after commits, and the resent records came back
    // as duplicates that returned the stored receipt.
    let exposition = metrics.render();
    let duplicates: u64 = exposition
        .lines()
        .find_map(|line| line.strip_prefix("registry_records_duplicate_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(duplicates > 0, "{exposition}");
    drop(registry);
}

/// The exactly-once target, through the library: 10,000 records (set EXACTLY_ONCE_RECORDS
/// to change it) sent by `sync_pass` through the proxy while it loses 30 % of the answers after
/// the registry committed; then the faults stop. Every record is stored exactly once and
/// acknowledged, within 5 minutes of the faults stopping.
#[test]
fn ten_thousand_records_under_lost_acknowledgements_are_stored_exactly_once() {
    use enroll_crypto::records::SealingPrivateKey;
    use enroll_store::{GuardLimits, Outbox};
    use enroll_sync::{SyncSettings, http_client, sync_pass};

    let count: u64 = std::env::var("EXACTLY_ONCE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let terminal = TerminalSigningKey::from_seed([5; 32]);
    let receipt_key = TerminalSigningKey::from_seed([6; 32]);
    let (_, sealing) = SealingPrivateKey::from_seed([7; 32]);
    let limits = GuardLimits {
        min_free_disk_mb: 1,
        max_unsent_records: u64::MAX,
        max_unsent_age_days: 3650,
    };
    let mut outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    let mut ids = Vec::new();
    for n in 0..count {
        let committed = common::commit_sample(
            &mut outbox,
            &terminal,
            &sealing,
            "DEMO-0001",
            (n % 251) as u8,
            UnixMs(1_790_000_000_000 + n as i64),
            1024,
            &limits,
        )
        .unwrap();
        ids.push(committed.id.to_string());
    }

    let storage = Arc::new(SqliteStorage::open(&dir.path().join("registry.sqlite")).unwrap());
    storage
        .add_terminal("DEMO-0001", terminal.public().to_bytes(), UnixMs::EPOCH)
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let registry = Registry::start(localhost(), storage.clone(), &receipt_key, &metrics);
    let faults = Arc::new(Faults::default());
    faults.lose_answer_percent.store(30, Ordering::SeqCst);
    let proxy = start_proxy(
        Arc::new(std::sync::Mutex::new(registry.address)),
        Arc::clone(&faults),
    );
    let settings = SyncSettings {
        registry_url: format!("http://{proxy}"),
        registry_receipt_key: receipt_key.public(),
        backoff_base_ms: 10,
        backoff_cap_ms: 100,
        batch_size: 50,
        request_timeout_ms: 5_000,
        guard_limits: None,
        retention_days: None,
        fleet: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async { http_client(None) });
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let received = |metrics: &Metrics| -> u64 {
        metrics
            .render()
            .lines()
            .find_map(|line| line.strip_prefix("registry_records_received_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut pass = |outbox: &mut Outbox, now_ms: UnixMs| {
        outbox.make_due(now_ms).unwrap();
        runtime
            .block_on(sync_pass(outbox, &client, &settings, now_ms, &mut random))
            .unwrap()
    };

    // Under faults until every record is stored (about 30% of them unacknowledged).
    let mut now_ms = UnixMs(1_800_000_000_000);
    while storage.record_count().unwrap() < count {
        now_ms = now_ms + 1_000;
        pass(&mut outbox, now_ms);
    }
    let sent_under_faults = received(&metrics);
    let acknowledged_under_faults = outbox.status().unwrap().acknowledged;

    // The faults stop: everything left is acknowledged within 5 minutes.
    faults.clear();
    let stopped = Instant::now();
    loop {
        let status = outbox.status().unwrap();
        if status.pending + status.sending == 0 {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(300),
            "{} records unacknowledged 5 minutes after the faults stopped",
            status.pending + status.sending
        );
        now_ms = now_ms + 1_000;
        pass(&mut outbox, now_ms);
    }
    let settled_s = stopped.elapsed().as_secs_f64();

    let status = outbox.status().unwrap();
    assert_eq!(status.acknowledged, count);
    assert_eq!(status.rejected, 0);
    assert_eq!(
        storage.record_count().unwrap(),
        count,
        "stored exactly once"
    );
    for id in &ids {
        assert!(storage.receipt(id).unwrap().is_some(), "{id} stored");
    }
    let exposition = metrics.render();
    let duplicates: u64 = exposition
        .lines()
        .find_map(|line| line.strip_prefix("registry_records_duplicate_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(
        duplicates > count / 10,
        "about 30% of the answers were lost, so about as many resends came back as duplicates: \
         {duplicates}"
    );
    eprintln!(
        "exactly once: {count} records all stored through a proxy losing 30% of the answers \
         ({sent_under_faults} sends, {acknowledged_under_faults} acknowledged then); \
         {duplicates} resends answered from the stored receipt, 0 stored twice; all acknowledged \
         {settled_s:.1} s after the faults stopped"
    );
    drop(registry);
}
