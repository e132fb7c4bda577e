//! The fleet under faults, end to end: terminals (the real `kiosk` binary, enrolling headless and
//! syncing with `kiosk sync`) against two `registry serve --issue` instances on one PostgreSQL,
//! while one instance is SIGKILLed and restarted and PostgreSQL crashes now and then, and a
//! verifier (`idverify`) checks issued tokens as it goes. At the end it checks the promises:
//!
//! - every record printed as committed is stored at the registry exactly once, and every
//!   terminal holds a receipt for each of its records that verifies with the registry's key;
//! - every record's chain is linked or flagged with its reason (`registry flagged`);
//! - one identity per record and at most one active identity per document, every token of a
//!   superseded identity refused by the verifier as revoked, the active one's accepted;
//! - no name, document number or address in any log;
//! - resident memory of the never-killed instance and of the sync processes flat after warm-up
//!   (growth ≤ 10 %, asserted on runs of 10 minutes or more; shorter runs print it).
//!
//! CI runs it for `SOAK_SECONDS` (25) with `SOAK_TERMINALS` (4); `scripts/soak.sh` for hours with
//! 20. `SOAK_SEED` replays the fault schedule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::StopOnDrop;
use common::faults::{Random, count_from_env, outbox_ids};
use common::pg::PgCluster;
use common::served::Served;
use common::terminal::{Terminal, text};
use enroll_crypto::records::TerminalPublicKey;

use crate::virtual_id::{ZONE, file_ending, registry};

/// Resident memory of a process, in KiB (`VmRSS` in /proc).
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Growth of resident memory after warm-up: the median of the last quarter of the samples over
/// the median of the second quarter.
fn rss_growth(samples: &[u64]) -> Option<f64> {
    if samples.len() < 8 {
        return None;
    }
    let quarter = samples.len() / 4;
    let median = |part: &[u64]| {
        let mut part = part.to_vec();
        part.sort_unstable();
        part[part.len() / 2] as f64
    };
    let warmed = median(&samples[quarter..2 * quarter]);
    let last = median(&samples[samples.len() - quarter..]);
    Some(last / warmed - 1.0)
}

fn pg_query(url: &str, sql: &str) -> Vec<postgres::Row> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query(sql, &[]).unwrap()
}

/// `registry id tokens RECORD --days 1` into `out`; false when the record has no tokens to give.
fn fetch_tokens(db: &str, record: &str, out: &Path) -> bool {
    registry(&[
        "id",
        "tokens",
        record,
        "--db",
        db,
        "--days",
        "1",
        "--out",
        out.to_str().unwrap(),
    ])
    .status
    .success()
}

fn idverify(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::workspace_exe("idverify"))
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .unwrap()
}

/// `run` until it succeeds, for up to 30 s (a registry coming back from a crash); the last output.
fn retry(run: impl Fn() -> std::process::Output) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = run();
        if output.status.success() {
            return output;
        }
        assert!(Instant::now() < deadline, "{}", text(&output));
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_fleet_under_faults_keeps_every_promise() {
    let seconds = count_from_env("SOAK_SECONDS", 25);
    let terminal_count = count_from_env("SOAK_TERMINALS", 4) as usize;
    let mut random = Random::seeded("SOAK_SEED");
    let mut cluster = PgCluster::start_with(true);
    let db = cluster.url();
    // The registries' and syncs' logs: kept in SOAK_LOG_DIR when it is set (scripts/soak.sh sets
    // it, so a failure hours in can be read afterwards), else in a temporary directory.
    let temporary_logs = tempfile::tempdir().unwrap();
    let logs = match std::env::var_os("SOAK_LOG_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => temporary_logs.path().to_owned(),
    };
    std::fs::create_dir_all(&logs).unwrap();

    let terminals: Vec<Terminal> = (0..terminal_count).map(|_| Terminal::new()).collect();
    let keys = terminals[0].dir.path().join("keys");
    for (n, terminal) in terminals.iter().enumerate() {
        // One registry: every terminal trusts the first terminal's registry keys.
        for file in ["registry-receipt.pub", "registry-sealing.pub"] {
            if n > 0 {
                std::fs::copy(keys.join(file), terminal.key(file)).unwrap();
            }
        }
        terminal.rename(&format!("SOAK-{n:02}"));
        let path = terminal.dir.path().join("kiosk.toml");
        let config = std::fs::read_to_string(&path)
            .unwrap()
            .replace("backoff_base_ms = 500", "backoff_base_ms = 100")
            .replace("backoff_cap_ms = 60000", "backoff_cap_ms = 2000")
            .replace("batch_size = 20", "batch_size = 5")
            .replace("max_unsent_records = 2000", "max_unsent_records = 1000000");
        std::fs::write(path, config).unwrap();
        terminal.add_to_registry(&db);
    }
    let keys_arg = keys.to_str().unwrap().to_owned();
    // Both instances are one registry to the outside, behind one public URL (instance B's
    // address stands in for the load balancer's): tokens name its status lists.
    // Instance A comes back on its address after each kill: both ports are restartable ones.
    let listen_b = format!("127.0.0.1:{}", common::restartable_port());
    let public_url = format!("http://{listen_b}");
    let serve_args = [
        "--db",
        db.as_str(),
        "--keys",
        keys_arg.as_str(),
        "--issue",
        "--time-zone",
        ZONE,
        "--public-url",
        public_url.as_str(),
    ];
    let log_a = logs.join("registry-a.log");
    let log_b = logs.join("registry-b.log");
    let mut instance_a = Some(Served::start_logged(
        None,
        &format!("127.0.0.1:{}", common::restartable_port()),
        &serve_args,
        Some(&log_a),
    ));
    let instance_b = Served::start_logged(None, &listen_b, &serve_args, Some(&log_b));
    let url_a = instance_a.as_ref().unwrap().url.clone();
    let listen_a = url_a.trim_start_matches("http://").to_owned();

    // The offline root signs the trust list; the verifier trusts it and syncs from instance B.
    let root = tempfile::tempdir().unwrap();
    let made = registry(&[
        "trust-list",
        "root-keygen",
        "--out",
        root.path().to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let signed = registry(&[
        "trust-list",
        "sign",
        "--root-key",
        root.path().join("trust-root.key").to_str().unwrap(),
        "--keys",
        &keys_arg,
        "--public-url",
        &instance_b.url,
    ]);
    assert!(signed.status.success(), "{}", text(&signed));
    let verifier = tempfile::tempdir().unwrap();
    let verifier_state = verifier.path().join("state");
    let trust_sync = || {
        idverify(
            &verifier_state,
            &[
                "trust",
                "sync",
                &instance_b.url,
                "--root-key",
                root.path().join("trust-root.pub").to_str().unwrap(),
            ],
        )
    };
    let trust = trust_sync();
    assert!(trust.status.success(), "{}", text(&trust));

    let mut syncs: Vec<Child> = terminals
        .iter()
        .enumerate()
        .map(|(n, terminal)| {
            let url = if n % 2 == 0 { &url_a } else { &instance_b.url };
            Command::new(env!("CARGO_BIN_EXE_kiosk"))
                .arg("--config")
                .arg(terminal.dir.path().join("kiosk.toml"))
                .args(["sync", "--registry", url])
                .env("KIOSK_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(logs.join(format!("sync-{n:02}.log"))).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();

    let enrolling = AtomicBool::new(true);
    let printed: Mutex<Vec<String>> = Mutex::default();
    let rss: Mutex<BTreeMap<String, Vec<u64>>> = Mutex::default();
    let started = Instant::now();
    let (mut instance_kills, mut pg_crashes) = (0u32, 0u32);
    // Tokens fetched along the way: (record, directory).
    let mut fetched: Vec<(String, PathBuf)> = Vec::new();
    let mut tokens_verified_live = 0u32;
    let sync_pids: Vec<u32> = syncs.iter().map(Child::id).collect();
    let instance_b_pid = instance_b.pid();
    std::thread::scope(|scope| {
        // Should this thread panic, the others stop and the scope can end.
        let _stop = StopOnDrop(&enrolling);
        for (n, terminal) in terminals.iter().enumerate() {
            let (enrolling, printed) = (&enrolling, &printed);
            let mut pace = Random::from_seed(random.next() ^ n as u64);
            scope.spawn(move || {
                while enrolling.load(Ordering::SeqCst) {
                    let ids = terminal.enroll(1);
                    printed.lock().unwrap().extend(ids);
                    std::thread::sleep(Duration::from_millis(500 + pace.below(2500)));
                }
            });
        }
        {
            let (enrolling, rss) = (&enrolling, &rss);
            let sync_pids = sync_pids.clone();
            scope.spawn(move || {
                while enrolling.load(Ordering::SeqCst) {
                    let mut samples = rss.lock().unwrap();
                    if let Some(kib) = rss_kib(instance_b_pid) {
                        samples.entry("registry B".into()).or_default().push(kib);
                    }
                    for (n, pid) in sync_pids.iter().enumerate() {
                        if let Some(kib) = rss_kib(*pid) {
                            samples
                                .entry(format!("kiosk sync {n:02}"))
                                .or_default()
                                .push(kib);
                        }
                    }
                    drop(samples);
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
        let deadline = started + Duration::from_secs(seconds);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2000 + random.below(4000)));
            match random.below(4) {
                0 => {
                    instance_a.take().unwrap().kill();
                    std::thread::sleep(Duration::from_millis(random.below(1000)));
                    instance_a = Some(Served::start_logged(
                        None,
                        &listen_a,
                        &serve_args,
                        Some(&log_a),
                    ));
                    instance_kills += 1;
                }
                1 => {
                    cluster.crash_and_restart();
                    pg_crashes += 1;
                }
                _ => {}
            }
            // The verifier's round: the newest active identity's tokens, checked now and kept
            // for the end (by then most are superseded).
            let newest = pg_query(
                &db,
                "SELECT record_id FROM identities WHERE state = 'active' \
                 ORDER BY created_at_unix_ms DESC LIMIT 1",
            );
            if let Some(row) = newest.first() {
                let record: String = row.get(0);
                let out = verifier.path().join(format!("tokens-{}", fetched.len()));
                if fetch_tokens(&db, &record, &out) {
                    // Right after a crash the registry may answer 503 once or twice: a
                    // verifier tries again.
                    let synced = retry(|| idverify(&verifier_state, &["status", "sync"]));
                    let token = std::fs::read_to_string(file_ending(&out, "-basic.txt")).unwrap();
                    let output = idverify(&verifier_state, &["verify", token.trim(), "--json"]);
                    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout)
                        .unwrap_or_else(|_| panic!("not JSON: {}", text(&output)));
                    // Accepted, or already superseded by a newer enrollment of the same card.
                    assert!(
                        output.status.code() == Some(0)
                            || (output.status.code() == Some(1) && verdict["reason"] == "revoked"),
                        "{verdict}\n{}\n{}",
                        text(&synced),
                        text(&idverify(&verifier_state, &["inspect", token.trim()]))
                    );
                    tokens_verified_live += 1;
                    fetched.push((record, out));
                }
            }
        }
        enrolling.store(false, Ordering::SeqCst);
    });
    let run_s = started.elapsed().as_secs_f64();

    // Quiet now: everything drains.
    let all: BTreeSet<String> = terminals
        .iter()
        .flat_map(|t| outbox_ids(&t.outbox_path(), None))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let acknowledged: usize = terminals
            .iter()
            .map(|t| outbox_ids(&t.outbox_path(), Some("acknowledged")).len())
            .sum();
        let identities: i64 = pg_query(&db, "SELECT COUNT(*) FROM identities")[0].get(0);
        if acknowledged == all.len() && identities as usize == all.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained 180 s after the faults stopped: {acknowledged} of {} acknowledged, \
             {identities} identities",
            all.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for sync in &mut syncs {
        let _ = sync.kill();
        let _ = sync.wait();
    }

    // Stored exactly once, with receipts that verify.
    let stored: BTreeSet<String> = pg_query(&db, "SELECT id FROM records")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(stored, all, "every record stored once, none unknown");
    let printed = printed.into_inner().unwrap();
    assert!(printed.iter().all(|id| stored.contains(id)));
    let receipt_key = TerminalPublicKey::from_pem(
        &std::fs::read_to_string(keys.join("registry-receipt.pub")).unwrap(),
    )
    .unwrap();
    let mut receipts = 0usize;
    for terminal in &terminals {
        let connection = rusqlite::Connection::open(terminal.outbox_path()).unwrap();
        let rows: Vec<(String, String, Vec<u8>)> = connection
            .prepare("SELECT id, body_sha256, receipt FROM records")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, body_sha256, receipt) in rows {
            enroll_protocol::verify_receipt(&receipt, &receipt_key, &id, &body_sha256)
                .unwrap_or_else(|error| panic!("the receipt of {id}: {error}"));
            receipts += 1;
        }
        let verify = terminal.run(&["queue", "verify"]);
        assert!(verify.status.success(), "{}", text(&verify));
    }
    // Chains: linked, or flagged with a reason.
    let flagged = registry(&["flagged", "--db", &db]);
    assert!(flagged.status.success(), "{}", text(&flagged));
    let flagged_count = String::from_utf8_lossy(&flagged.stdout).lines().count();
    let unexplained: i64 = pg_query(
        &db,
        "SELECT COUNT(*) FROM records WHERE chain NOT IN ('linked', 'gap-flagged')",
    )[0]
    .get(0);
    assert_eq!(unexplained, 0);

    // Identities: one per record, one active per document.
    let doubled: i64 = pg_query(
        &db,
        "SELECT COUNT(*) FROM (SELECT document_key FROM identities WHERE state = 'active' \
         GROUP BY document_key HAVING COUNT(*) > 1) AS doubled",
    )[0]
    .get(0);
    assert_eq!(doubled, 0, "two active identities for one document");
    // The verifier, synced once more: superseded identities' tokens refused as revoked, the
    // active one's accepted.
    retry(trust_sync);
    retry(|| idverify(&verifier_state, &["status", "sync"]));
    let active: String = pg_query(
        &db,
        "SELECT record_id FROM identities WHERE state = 'active'",
    )[0]
    .get(0);
    let active_out = verifier.path().join("tokens-active");
    assert!(fetch_tokens(&db, &active, &active_out));
    fetched.push((active.clone(), active_out));
    let (mut refused_revoked, mut accepted) = (0u32, 0u32);
    for (record, out) in &fetched {
        let token = std::fs::read_to_string(file_ending(out, "-basic.txt")).unwrap();
        let output = idverify(&verifier_state, &["verify", token.trim(), "--json"]);
        let verdict: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("not JSON: {}", text(&output)));
        if *record == active {
            assert_eq!(output.status.code(), Some(0), "{verdict}");
            accepted += 1;
        } else {
            assert_eq!(output.status.code(), Some(1), "{verdict}");
            assert_eq!(verdict["reason"], "revoked", "{verdict}");
            refused_revoked += 1;
        }
    }

    // No personal data in any log.
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join("tests/fixtures/card-read-resident.json"))
            .unwrap(),
    )
    .unwrap();
    let personal: Vec<String> = ["name", "document_number", "address", "birth"]
        .iter()
        .map(|field| card["identity"][field].as_str().unwrap().to_owned())
        .collect();
    let mut log_bytes = 0usize;
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let log = std::fs::read_to_string(&path).unwrap();
        log_bytes += log.len();
        for value in &personal {
            assert!(
                !log.contains(value.as_str()),
                "personal data in {}",
                path.display()
            );
        }
    }

    // Memory.
    let rss = rss.into_inner().unwrap();
    let mut worst_growth = f64::MIN;
    let mut memory_lines = Vec::new();
    for (process, samples) in &rss {
        if let Some(growth) = rss_growth(samples) {
            worst_growth = worst_growth.max(growth);
            memory_lines.push(format!(
                "| RSS {process} | {} → {} KiB ({:+.1} %) |",
                samples[samples.len() / 4],
                samples[samples.len() - 1],
                growth * 100.0
            ));
        }
    }
    println!("| fleet soak | {run_s:.0} s, {terminal_count} terminals |");
    println!("|---|---|");
    println!(
        "| records committed / stored / receipts verified | {} / {} / {receipts} |",
        all.len(),
        stored.len()
    );
    println!("| registry instance kills / PostgreSQL crashes | {instance_kills} / {pg_crashes} |");
    println!("| chains flagged (with reason) | {flagged_count} |");
    println!(
        "| tokens: verified live / superseded refused as revoked / active accepted | \
         {tokens_verified_live} / {refused_revoked} / {accepted} |"
    );
    println!("| logs read for personal data | {log_bytes} bytes, none found |");
    for line in &memory_lines {
        println!("{line}");
    }
    if seconds >= 600 {
        assert!(
            worst_growth <= 0.10,
            "resident memory grew {:.1} % after warm-up",
            worst_growth * 100.0
        );
    }
    drop(instance_a);
    instance_b.stop();
}
