//! PostgreSQL killed with SIGKILL mid-load (server and every backend at once), under two
//! `registry serve` instances that two terminals sync to while records keep coming. PostgreSQL's
//! promise is its WAL: every record a terminal holds a receipt for is still stored after each
//! crash, and once the load stops every record is stored exactly once. CI crashes it a few times
//! (`PG_CRASHES`); `scripts/soak.sh` many more. `PG_CRASH_SEED` replays a run's moments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::faults::{Random, count_from_env, outbox_ids, quick_sync};
use common::pg::PgCluster;
use common::served::Served;
use common::terminal::Terminal;

fn stored_ids(url: &str) -> BTreeSet<String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .query("SELECT id FROM records", &[])
        .unwrap()
        .into_iter()
        .map(|row| row.get(0))
        .collect()
}

fn syncing(terminal: &Terminal, url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .arg("--config")
        .arg(terminal.dir.path().join("kiosk.toml"))
        .args(["sync", "--registry", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn every_receipted_record_survives_postgresql_crashes_under_two_registry_instances() {
    let crashes = count_from_env("PG_CRASHES", 4);
    let mut random = Random::seeded("PG_CRASH_SEED");
    let mut cluster = PgCluster::start_with(true);
    let db = cluster.url();

    let terminals = [Terminal::new(), Terminal::new()];
    // One registry: both instances and both terminals use the first terminal's registry keys.
    for name in ["registry-receipt", "registry-sealing"] {
        for extension in ["key", "pub"] {
            let file = format!("{name}.{extension}");
            std::fs::copy(terminals[0].key(&file), terminals[1].key(&file)).unwrap();
        }
    }
    for (terminal, id) in terminals.iter().zip(["CRASH-A", "CRASH-B"]) {
        terminal.rename(id);
        quick_sync(terminal);
        terminal.add_to_registry(&db);
    }
    let keys = terminals[0].dir.path().join("keys");
    let args = ["--db", db.as_str(), "--keys", keys.to_str().unwrap()];
    let instances = [Served::start(&args), Served::start(&args)];
    let mut syncs: Vec<Child> = terminals
        .iter()
        .zip(&instances)
        .map(|(terminal, instance)| syncing(terminal, &instance.url))
        .collect();

    let enrolling = AtomicBool::new(true);
    let printed: Mutex<Vec<String>> = Mutex::default();
    let started = Instant::now();
    let mut receipted_at_crashes = 0usize;
    std::thread::scope(|scope| {
        // Should an assertion below fail, the enrolling threads stop and the scope can end.
        let _stop = common::StopOnDrop(&enrolling);
        for terminal in &terminals {
            let (enrolling, printed) = (&enrolling, &printed);
            scope.spawn(move || {
                while enrolling.load(Ordering::SeqCst) {
                    let ids = terminal.enroll(3);
                    printed.lock().unwrap().extend(ids);
                }
            });
        }
        for _ in 0..crashes {
            std::thread::sleep(Duration::from_millis(500 + random.below(1500)));
            // What the terminals hold receipts for just before the crash.
            let receipted: BTreeSet<String> = terminals
                .iter()
                .flat_map(|t| outbox_ids(&t.outbox_path(), Some("acknowledged")))
                .collect();
            cluster.crash_and_restart();
            let stored = stored_ids(&db);
            let lost: Vec<&String> = receipted.difference(&stored).collect();
            assert!(lost.is_empty(), "receipted, then lost in a crash: {lost:?}");
            receipted_at_crashes += receipted.len();
        }
        enrolling.store(false, Ordering::SeqCst);
    });

    let all: BTreeSet<String> = terminals
        .iter()
        .flat_map(|t| outbox_ids(&t.outbox_path(), None))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let acknowledged: usize = terminals
            .iter()
            .map(|t| outbox_ids(&t.outbox_path(), Some("acknowledged")).len())
            .sum();
        if acknowledged == all.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records still unacknowledged 120 s after the last crash: the registry did not \
             reconnect to PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for sync in &mut syncs {
        let _ = sync.kill();
        let _ = sync.wait();
    }
    let stored = stored_ids(&db);
    println!(
        "postgresql crashes: {crashes} SIGKILLs in {:.0} s under two instances; {} records, {} \
         stored, {receipted_at_crashes} receipts checked across the crashes",
        started.elapsed().as_secs_f64(),
        all.len(),
        stored.len()
    );
    assert_eq!(stored, all, "every record stored, none twice, none unknown");
    assert!(
        printed
            .into_inner()
            .unwrap()
            .iter()
            .all(|id| stored.contains(id)),
        "every printed id is at the registry"
    );
    for terminal in &terminals {
        assert!(outbox_ids(&terminal.outbox_path(), Some("rejected")).is_empty());
    }
}
