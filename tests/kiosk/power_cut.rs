//! Power cuts: the outbox, and the registry's SQLite store, on `powercut-fs` (a FUSE file system
//! that keeps every write in memory until it is synced; killing it is the cut, see
//! `enroll_faults::power_cut`). After every cut the programs start again on what the disk kept.
//! CI runs a few cuts (`POWER_CUTS`, `REGISTRY_POWER_CUTS`); `scripts/soak.sh` runs hundreds.
//! `POWER_CUT_SEED` replays a run's random moments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{
    EnrollLoop, PowerCutDisk, Random, count_from_env, outbox_ids, quick_sync, registry_records,
};
use common::served::Served;
use common::terminal::Terminal;
use enroll_store::Outbox;

/// Points the terminal's outbox at `database` and lets unsent records pile up.
fn outbox_at(terminal: &Terminal, database: &Path) {
    let path = terminal.dir.path().join("kiosk.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "database_path = \"outbox.sqlite\"",
            &format!("database_path = \"{}\"", database.display()),
        )
        .replace("max_unsent_records = 2000", "max_unsent_records = 1000000");
    std::fs::write(path, config).unwrap();
}

#[test]
fn what_was_synced_survives_a_cut_and_what_was_not_is_gone() {
    use std::io::Write as _;
    let mut disk = PowerCutDisk::new();
    let mut synced = std::fs::File::create(disk.path().join("synced")).unwrap();
    synced.write_all(b"kept").unwrap();
    synced.sync_data().unwrap();
    synced.write_all(b" and lost").unwrap();
    drop(synced);
    std::fs::write(disk.path().join("never-synced"), b"lost").unwrap();
    assert_eq!(
        std::fs::read(disk.path().join("synced")).unwrap(),
        b"kept and lost",
        "before the cut every write is visible"
    );

    disk.cut();
    disk.power_on();

    assert_eq!(std::fs::read(disk.path().join("synced")).unwrap(), b"kept");
    assert_eq!(
        std::fs::read(disk.path().join("never-synced")).unwrap(),
        b"",
        "the file was created (metadata is durable at once) but its data was never synced"
    );
}

#[test]
fn every_record_printed_as_committed_survives_power_cuts_under_the_outbox() {
    let cuts = count_from_env("POWER_CUTS", 12);
    let mut random = Random::seeded("POWER_CUT_SEED");
    let terminal = Terminal::new();
    let mut disk = PowerCutDisk::new();
    let database = disk.path().join("outbox.sqlite");
    outbox_at(&terminal, &database);
    let config = terminal.dir.path().join("kiosk.toml");
    let log = terminal.dir.path().join("enroll.log");

    let printed: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let mut cuts_before_first_commit = 0u64;
    for _ in 0..cuts {
        let mut child = EnrollLoop::start(&config, &log, &printed);
        if random.below(4) == 0 {
            // Anywhere, start-up (opening, WAL recovery) included.
            std::thread::sleep(Duration::from_millis(random.below(700)));
        } else {
            assert!(
                child.wait_first_commit(Duration::from_secs(60)),
                "the kiosk committed nothing after a cut: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_micros(random.below(400_000)));
        }
        if !child.committed_any() {
            cuts_before_first_commit += 1;
        }
        disk.cut();
        child.kill();
        disk.power_on();
    }
    let printed = printed.lock().unwrap().clone();

    let outbox = Outbox::open(&database).unwrap();
    outbox.integrity_check().unwrap();
    let stored: BTreeSet<String> = outbox.list().unwrap().into_iter().map(|e| e.id).collect();
    let missing: Vec<&String> = printed.iter().filter(|id| !stored.contains(*id)).collect();
    let report = outbox.verify_records(&terminal.terminal_public()).unwrap();
    let audit = enroll_store::audit::verify_entries(&outbox.audit_entries().unwrap());
    drop(outbox);
    println!(
        "power cuts under the outbox: {cuts} cuts in {:.0} s ({cuts_before_first_commit} before \
         the first commit of their run); {} ids printed, {} records stored, {} missing, {} record \
         problems, {} audit problems",
        started.elapsed().as_secs_f64(),
        printed.len(),
        stored.len(),
        missing.len(),
        report.problems.len(),
        audit.len()
    );
    assert!(
        missing.is_empty(),
        "printed as committed but lost: {missing:?}"
    );
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(audit.is_empty(), "{audit:?}");
    assert!(
        printed.len() as u64 >= cuts / 2,
        "the kiosk must get records in between cuts"
    );
    // The kiosk itself starts on what the disk kept.
    let status = terminal.run(&["queue", "status", "--json"]);
    assert!(
        status.status.success(),
        "{}",
        common::terminal::text(&status)
    );
}

#[test]
fn the_registry_on_sqlite_keeps_every_record_it_gave_a_receipt_for_across_power_cuts() {
    let cuts = count_from_env("REGISTRY_POWER_CUTS", 8);
    let mut random = Random::seeded("POWER_CUT_SEED");
    let terminal = Terminal::new();
    let path = terminal.dir.path().join("kiosk.toml");
    quick_sync(&terminal);
    outbox_at(&terminal, &terminal.outbox_path());
    terminal.enroll(1);

    let mut disk = PowerCutDisk::new();
    let db = disk.path().join("registry.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    terminal.add_to_registry(&db_arg);
    let keys = terminal.dir.path().join("keys");
    let keys_arg = keys.to_str().unwrap();
    let args = ["--db", db_arg.as_str(), "--keys", keys_arg];
    let mut served = Served::start(&args);
    let url = served.url.clone();
    let listen = url.trim_start_matches("http://").to_owned();
    let mut sync = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .arg("--config")
        .arg(&path)
        .args(["sync", "--registry", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Records keep coming (a few every half second) while the registry's power goes and comes
    // back.
    let printed: Mutex<Vec<String>> = Mutex::default();
    let enrolling = std::sync::atomic::AtomicBool::new(true);
    let mut acknowledged_before_a_cut = 0usize;
    let served = std::thread::scope(|scope| {
        scope.spawn(|| {
            while enrolling.load(std::sync::atomic::Ordering::SeqCst) {
                let ids = terminal.enroll(3);
                printed.lock().unwrap().extend(ids);
            }
        });
        for _ in 0..cuts {
            std::thread::sleep(Duration::from_millis(100 + random.below(500)));
            disk.cut();
            served.kill();
            // Every record the terminal holds as acknowledged came with a receipt the registry signed
            // after its commit: the disk must have kept it.
            let acknowledged = outbox_ids(&terminal.outbox_path(), Some("acknowledged"));
            acknowledged_before_a_cut = acknowledged.len();
            disk.power_on();
            let (stored, integrity) = registry_records(&db);
            assert_eq!(integrity, "ok");
            let lost: Vec<&String> = acknowledged.difference(&stored).collect();
            assert!(
                lost.is_empty(),
                "receipted, then lost in a power cut: {lost:?}"
            );
            served = Served::start_at(&listen, &args);
        }
        enrolling.store(false, std::sync::atomic::Ordering::SeqCst);
        served
    });

    let ids = outbox_ids(&terminal.outbox_path(), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while outbox_ids(&terminal.outbox_path(), Some("acknowledged")).len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "the terminal did not get every record acknowledged after the cuts"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sync.kill();
    let _ = sync.wait();
    served.stop();
    let (stored, integrity) = registry_records(&db);
    println!(
        "power cuts under the registry: {cuts} cuts; {} records, {acknowledged_before_a_cut} \
         acknowledged before the last cut, {} stored at the end, {} printed as committed",
        ids.len(),
        stored.len(),
        printed.lock().unwrap().len()
    );
    assert_eq!(integrity, "ok");
    assert_eq!(stored, ids, "every record stored, none twice, none unknown");
    assert!(
        acknowledged_before_a_cut > 0,
        "the sync must make progress between cuts"
    );
    assert!(
        acknowledged_before_a_cut < ids.len(),
        "the cuts must land while records are still flowing"
    );
}
