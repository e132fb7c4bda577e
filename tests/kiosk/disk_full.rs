//! A full disk under the whole kiosk process: the outbox on a small tmpfs, `kiosk enroll` writing
//! until the free-space guard stops it with its message (before SQLite runs out), then another
//! program filling the disk to the last byte. Nothing committed is damaged, the queue survives,
//! and once space is freed enrollment and sync go on. (The store-level cases are in outbox.rs.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::faults::{EnrollLoop, SmallDisk, fill, outbox_ids, registry_records};
use common::served::Served;
use common::terminal::{Terminal, text};
use enroll_store::Outbox;

const FLOOR_MB: u64 = 6;

#[test]
fn the_guard_stops_enrollment_before_the_disk_fills_and_freed_space_resumes_everything() {
    let disk = SmallDisk::new(16 * 1024);
    let terminal = Terminal::new();
    let database = disk.path("outbox.sqlite");
    let path = terminal.dir.path().join("kiosk.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "database_path = \"outbox.sqlite\"",
            &format!("database_path = \"{}\"", database.display()),
        )
        .replace(
            "min_free_disk_mb = 100",
            &format!("min_free_disk_mb = {FLOOR_MB}"),
        )
        .replace("max_unsent_records = 2000", "max_unsent_records = 1000000");
    std::fs::write(&path, config).unwrap();

    // Enrolling flat out until the kiosk stops by itself.
    let printed: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = terminal.dir.path().join("enroll.log");
    let child = EnrollLoop::start(&path, &log, &printed);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut child = Some(child);
    while child.as_mut().unwrap().running() {
        assert!(
            Instant::now() < deadline,
            "the kiosk never stopped enrolling"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.take().unwrap().kill();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("new enrollments are paused: only")
            && said.contains(&format!("at least {FLOOR_MB} MB are required"))
            && said.contains("queued records are safe"),
        "the guard's message, not SQLite's: {said}"
    );
    let printed = printed.lock().unwrap().clone();
    assert!(
        printed.len() > 20,
        "records went in before the floor: {}",
        printed.len()
    );

    // Another program takes the rest of the disk, to the last byte.
    fill(&disk.path("filler"));
    let refused = terminal.run(&[
        "enroll",
        "--document",
        common::root()
            .join("tests/fixtures/card-read-resident.json")
            .to_str()
            .unwrap(),
        "--portrait",
        common::root()
            .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg")
            .to_str()
            .unwrap(),
    ]);
    // SQLite needs a little room even to open the outbox (its shared-memory index): the kiosk
    // then says the disk is full, not that the path or permissions are wrong.
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only 0 MB of disk is free")
            || text(&refused).contains("the disk holding it is full"),
        "{}",
        text(&refused)
    );
    let status = terminal.run(&["queue", "status", "--json"]);
    assert!(
        status.status.success() || text(&status).contains("the disk holding it is full"),
        "{}",
        text(&status)
    );

    // A registry is there; on a disk with no byte free the terminal may not be able to note the
    // acknowledgements, but it must say so and lose nothing.
    let db = terminal.dir.path().join("registry.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    terminal.add_to_registry(&db_arg);
    let keys = terminal.dir.path().join("keys");
    let served = Served::start(&["--db", &db_arg, "--keys", keys.to_str().unwrap()]);
    let on_full_disk = terminal.sync_once(&served.url);
    if !on_full_disk.status.success() {
        assert!(
            text(&on_full_disk).contains("full") || text(&on_full_disk).contains("disk"),
            "a failed sync on a full disk says why: {}",
            text(&on_full_disk)
        );
    }

    // Space comes back: enrollment and sync go on; every record reaches the registry once.
    std::fs::remove_file(disk.path("filler")).unwrap();
    // Nothing committed is damaged.
    {
        let outbox = Outbox::open(&database).unwrap();
        outbox.integrity_check().unwrap();
        let stored: BTreeSet<String> = outbox.list().unwrap().into_iter().map(|e| e.id).collect();
        assert!(printed.iter().all(|id| stored.contains(id)));
        assert!(
            outbox
                .verify_records(&terminal.terminal_public())
                .unwrap()
                .is_intact()
        );
    }

    let more = terminal.enroll(2);
    let synced = terminal.sync_once(&served.url);
    assert!(synced.status.success(), "{}", text(&synced));
    let ids = outbox_ids(&database, None);
    assert_eq!(outbox_ids(&database, Some("acknowledged")), ids);
    let (stored, integrity) = registry_records(&db);
    assert_eq!(integrity, "ok");
    assert_eq!(stored, ids);
    assert!(
        more.iter()
            .chain(printed.iter())
            .all(|id| stored.contains(id))
    );
    println!(
        "full disk: {} records before the guard's floor, sync on the full disk {}, {} at the \
         registry after space returned",
        printed.len(),
        if on_full_disk.status.success() {
            "succeeded"
        } else {
            "failed clearly"
        },
        stored.len()
    );
    served.stop();
}
