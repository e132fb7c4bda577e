//! Helpers shared by the integration tests: the crate root, a registry server on its own
//! runtime thread, and a sample record committed through the library. Each test file uses the
//! parts it needs.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

pub mod booth;
pub mod browser;
pub mod faults;
pub mod pcsc;
pub mod pg;
pub mod pki;
pub mod served;
pub mod terminal;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use enroll_core::domain::card_read::CardRead;
use enroll_core::domain::record::{CardEvidenceSummary, FaceEvidence, RecordDraft, RecordId};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{SealingPublicKey, TerminalSigningKey, seal};
use enroll_registry::server::{Metrics, RegistryState, serve, serve_tls};
use enroll_registry::storage::Storage;
use enroll_store::{Committed, GuardLimits, Outbox, StoreError};

/// Clears the flag when dropped, also while unwinding: worker threads looping on the flag stop
/// when the thread that owns this panics, so a failed assertion ends a scoped test instead of
/// hanging it.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a reference script of `scripts/reference/` in the test-time venv (dlib-bin,
/// ai-edge-litert) with `args`; returns its JSON. A missing venv is a set-up fault, said plainly.
pub fn run_reference(script: &str, args: &[String]) -> serde_json::Value {
    let python = root().join("target/reference-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it makes the reference venv)",
        python.display()
    );
    let output = std::process::Command::new(python)
        .arg(root().join("scripts/reference").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A binary of another workspace crate (`registry`, `idverify`). Cargo gives this package no
/// `CARGO_BIN_EXE_*` for them; a workspace test build makes them beside `kiosk` (their crates' own
/// tests need them), and `cargo build -p CRATE` does for a run of this package alone.
pub fn workspace_exe(name: &str) -> PathBuf {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_kiosk")).with_file_name(name);
    assert!(
        exe.exists(),
        "{} is missing: build it first (cargo build --workspace --bins, same profile)",
        exe.display()
    );
    exe
}

/// Runs `command` with `stdin` piped in (a PIN: never on the command line) and waits for it.
pub fn output_with_stdin(mut command: std::process::Command, stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

// In pg.rs, which the benchmarks include on their own.
pub use pg::restartable_port;

/// The `registry` binary.
pub fn registry_exe() -> PathBuf {
    workspace_exe("registry")
}

/// A registry serving on `bind` (e.g. `127.0.0.1:0`) from its own runtime thread until dropped.
pub struct Registry {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Optional parts of a test registry.
#[derive(Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// SHA-256 of the admin token that turns `POST /v1/terminals` on.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// Publish the virtual ID's trust and status lists.
    pub virtual_id: Option<Arc<enroll_registry::server::Publisher>>,
}

impl Registry {
    pub fn start(
        bind: SocketAddr,
        storage: Arc<dyn Storage>,
        receipt_key: &TerminalSigningKey,
        metrics: &Arc<Metrics>,
    ) -> Registry {
        Registry::start_with(
            bind,
            storage,
            receipt_key,
            metrics,
            RegistryOptions::default(),
        )
    }

    pub fn start_with(
        bind: SocketAddr,
        storage: Arc<dyn Storage>,
        receipt_key: &TerminalSigningKey,
        metrics: &Arc<Metrics>,
        options: RegistryOptions,
    ) -> Registry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(bind))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = RegistryState {
            storage,
            receipt_key: Arc::new(TerminalSigningKey::from_pem(&receipt_key.to_pem()).unwrap()),
            metrics: Arc::clone(metrics),
            clock: Arc::new(|| UnixMs(1_790_000_000_000)),
            admin_token_sha256: options.admin_token_sha256,
            virtual_id: options.virtual_id.clone(),
            holders: None,
            sealing_public_pem: None,
            document_tag_key: None,
            stale_after_ms: enroll_registry::fleet_health::DEFAULT_STALE_AFTER_S * 1000,
        };
        let thread = std::thread::Builder::new()
            .name("test-registry".into())
            .spawn(move || {
                let shutdown = async {
                    let _ = stopped.await;
                };
                let _ = runtime.block_on(async move {
                    match options.tls {
                        Some(tls) => serve_tls(listener, state, tls, shutdown).await,
                        None => serve(listener, state, shutdown).await,
                    }
                });
            })
            .unwrap();
        Registry {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The fixture card read (the SAM emulator's sample card).
pub fn card() -> CardRead {
    serde_json::from_str(include_str!("../../fixtures/card-read-resident.json")).unwrap()
}

/// A record draft for terminal `terminal_id` with the fixture card, created at `now_ms`.
pub fn sample_draft(id: RecordId, terminal_id: &str, now_ms: UnixMs) -> RecordDraft {
    let card = card();
    RecordDraft {
        id,
        terminal_id: terminal_id.into(),
        created_at_unix_ms: now_ms,
        tier: enroll_core::domain::tier::Tier::Officer,
        officer_id: Some("badge-7".into()),
        supervisor_id: None,
        document_kind: card.identity.kind,
        document_tag: None,
        card_verification: card.verification.clone(),
        card_evidence: CardEvidenceSummary {
            ef_sod_sha256: None,
            data_groups: vec![],
            sam_text_block: true,
        },
        face: FaceEvidence {
            compared: true,
            score_cosine: Some(0.71),
            threshold_cosine: 0.314,
            is_match: true,
            models_sha256: BTreeMap::new(),
            model_pack: None,
            liveness_challenge: None,
            liveness_challenge_waived: None,
            quality_passed: true,
            quality_reasons: vec![],
            quality_components: vec![],
            live_probability: Some(0.9),
            override_by: None,
        },
    }
}

#[allow(clippy::too_many_arguments)] // a test fixture with every knob spelled out
/// Commits one record for terminal `terminal_id`, created at `now_ms`, with an incompressible
/// sealed payload of `payload_len` bytes; `n` varies the id and payload.
pub fn commit_sample(
    outbox: &mut Outbox,
    terminal: &TerminalSigningKey,
    registry: &SealingPublicKey,
    terminal_id: &str,
    n: u8,
    now_ms: UnixMs,
    payload_len: usize,
    limits: &GuardLimits,
) -> Result<Committed, StoreError> {
    let id = RecordId::v7(now_ms, [n; 10]);
    let draft = sample_draft(id, terminal_id, now_ms);
    let plaintext: Vec<u8> = (0..payload_len)
        .map(|i| (i * 7919 % 251) as u8 ^ n)
        .collect();
    let sealed = seal(registry, &id, &plaintext, [n; 32]).unwrap();
    outbox.commit_enrollment(draft, sealed, terminal, "officer:badge-7", now_ms, limits)
}
