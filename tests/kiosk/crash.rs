//! Crash test: a child `kiosk enroll --count …` writes records in a loop and is killed with SIGKILL
//! at random moments, 200 times (`CRASH_CYCLES` overrides; `scripts/bench.sh crash` runs 1,000).
//! Afterwards every id the child printed is present and verifies, no partial record exists, both
//! chains are intact and the database passes `PRAGMA integrity_check`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enroll_crypto::records::TerminalSigningKey;
use enroll_store::Outbox;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// xorshift64*, seeded from the OS: kill moments differ from run to run; the seed is printed so a
/// failing run can be replayed with `CRASH_SEED`.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn records_survive_sigkill_at_random_moments() {
    let cycles: u64 = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).unwrap();
            u64::from_le_bytes(bytes) | 1
        });
    println!("crash test: {cycles} cycles, CRASH_SEED={seed}");
    let mut random = Random(seed);

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let kiosk = env!("CARGO_BIN_EXE_kiosk");
    assert!(
        Command::new(kiosk)
            .args(["keygen", "--out"])
            .arg(&keys)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new(common::registry_exe())
            .args(["keygen", "--out"])
            .arg(&keys)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let config = std::fs::read_to_string(root().join("kiosk-config/demo.toml"))
        .unwrap()
        .replace("demo-keys/", &format!("{}/", keys.display()))
        .replace("../target/demo/outbox.sqlite", "outbox.sqlite")
        .replace("../target/demo/officers.toml", "officers.toml")
        // Thousands of records pile up unsent here; the guard would (rightly) pause enrollment.
        .replace("max_unsent_records = 2000", "max_unsent_records = 1000000")
        .replace(
            "\"../assets/models/packs\"",
            &format!("\"{}\"", root().join("assets/models/packs").display()),
        );
    let config_path = dir.path().join("kiosk.toml");
    std::fs::write(&config_path, config).unwrap();

    let printed: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let mut kills_before_first_commit = 0u64;
    for _ in 0..cycles {
        let mut child = Command::new(kiosk)
            .arg("--config")
            .arg(&config_path)
            .args(["enroll", "--count", "1000000", "--document"])
            .arg(root().join("tests/fixtures/card-read-resident.json"))
            .arg("--portrait")
            .arg(root().join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg"))
            .arg("--card-photo")
            .arg(root().join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("child.log")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let first_line = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let reader = {
            let printed = Arc::clone(&printed);
            let first_line = Arc::clone(&first_line);
            std::thread::Builder::new()
                .name("crash-child-stdout".into())
                .spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        printed.lock().unwrap().push(line);
                        let (seen, signal) = &*first_line;
                        *seen.lock().unwrap() = true;
                        signal.notify_all();
                    }
                })
                .unwrap()
        };
        if random.below(5) == 0 {
            // Kill anywhere, start-up included.
            std::thread::sleep(Duration::from_millis(random.below(600)));
        } else {
            // Kill while records are being committed.
            let (seen, signal) = &*first_line;
            let guard = seen.lock().unwrap();
            let (guard, timeout) = signal
                .wait_timeout_while(guard, Duration::from_secs(30), |seen| !*seen)
                .unwrap();
            drop(guard);
            if timeout.timed_out() || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child committed nothing: {}",
                    std::fs::read_to_string(dir.path().join("child.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_micros(random.below(120_000)));
        }
        if !*first_line.0.lock().unwrap() {
            kills_before_first_commit += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
    }
    let printed = printed.lock().unwrap().clone();

    let outbox = Outbox::open(&dir.path().join("outbox.sqlite")).unwrap();
    outbox.integrity_check().unwrap();
    let stored: Vec<String> = outbox.list().unwrap().into_iter().map(|e| e.id).collect();
    let missing: Vec<&String> = printed.iter().filter(|id| !stored.contains(id)).collect();
    let key = TerminalSigningKey::from_pem(
        &std::fs::read_to_string(keys.join("terminal-signing.key")).unwrap(),
    )
    .unwrap();
    let report = outbox.verify_records(&key.public()).unwrap();
    let audit = enroll_store::audit::verify_entries(&outbox.audit_entries().unwrap());
    println!(
        "crash test: {cycles} SIGKILLs in {:.0} s ({kills_before_first_commit} before the first commit of their run); \
         {} ids printed, {} records stored, {} missing, {} record problems, {} audit problems",
        started.elapsed().as_secs_f64(),
        printed.len(),
        stored.len(),
        missing.len(),
        report.problems.len(),
        audit.len()
    );
    assert!(missing.is_empty(), "printed but lost: {missing:?}");
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(audit.is_empty(), "{audit:?}");
    assert!(
        stored.len() as u64 <= printed.len() as u64 + cycles,
        "at most one commit per kill can miss its print"
    );
    assert!(
        printed.len() as u64 >= cycles / 2,
        "the child must get records in"
    );
}
