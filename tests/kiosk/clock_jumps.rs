//! Clock jumps on the terminal: the kiosk runs under libfaketime (Debian's `faketime`), its
//! wall clock moved by ±1 day and ±1 year, before and during a run (the offset is read from a file
//! at every clock read; the monotonic clock is left alone, as a real clock step leaves it).
//! Nothing is lost, nothing waits a year, records and receipts made under any of those clocks
//! reach the registry exactly once, and retention never touches a record the registry has not
//! acknowledged. (Lockouts kept under a clock that then went back: `app::lockouts`'s tests.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::faults::{outbox_ids, quick_sync, registry_records};
use common::served::Served;
use common::terminal::{Terminal, text};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The terminal's clock: an offset in libfaketime's notation (`+1y`, `-1d`, `+0`) in a file the
/// faked programs read at every clock read.
struct Clock {
    file: PathBuf,
}

impl Clock {
    fn new(dir: &Path) -> Clock {
        assert!(
            Path::new(LIBFAKETIME).exists(),
            "{LIBFAKETIME} is missing: run scripts/setup.sh (Debian package faketime)"
        );
        let clock = Clock {
            file: dir.join("clock-offset"),
        };
        clock.set("+0");
        clock
    }

    fn set(&self, offset: &str) {
        std::fs::write(&self.file, format!("{offset}\n")).unwrap();
    }

    /// `kiosk ARGS` for `terminal`, on this clock.
    fn kiosk(&self, terminal: &Terminal) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiosk"));
        command
            .arg("--config")
            .arg(terminal.dir.path().join("kiosk.toml"))
            .env("LD_PRELOAD", LIBFAKETIME)
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        command
    }

    fn run(&self, terminal: &Terminal, args: &[&str]) -> Output {
        self.kiosk(terminal).args(args).output().unwrap()
    }

    fn enroll(&self, terminal: &Terminal, count: u32) -> Vec<String> {
        let output = self.run(
            terminal,
            &[
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
                "--card-photo",
                common::root()
                    .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg")
                    .to_str()
                    .unwrap(),
                "--count",
                &count.to_string(),
            ],
        );
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The created-at times the outbox holds, by id.
fn created_at(terminal: &Terminal) -> Vec<(String, i64)> {
    let connection = rusqlite::Connection::open(terminal.outbox_path()).unwrap();
    connection
        .prepare("SELECT id, created_at_unix_ms FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn now_ms() -> i64 {
    enroll_kiosk::clock::now().as_i64()
}

const DAY_MS: i64 = 86_400_000;

#[test]
fn the_faked_clock_is_the_kiosks_clock() {
    let terminal = Terminal::new();
    let clock = Clock::new(terminal.dir.path());
    clock.set("+1y");
    clock.enroll(&terminal, 1);
    clock.set("-1d");
    clock.enroll(&terminal, 1);
    let times = created_at(&terminal);
    let ahead_days = (times[0].1 - now_ms()) / DAY_MS;
    let behind_days = (now_ms() - times[1].1) / DAY_MS;
    assert!((364..=366).contains(&ahead_days), "{ahead_days} days ahead");
    assert_eq!(behind_days, 1, "{behind_days} days behind");
}

#[test]
fn records_made_a_year_or_a_day_off_reach_the_registry_once_with_receipts_whatever_the_clock_at_sync()
 {
    let terminal = Terminal::new();
    let clock = Clock::new(terminal.dir.path());
    let mut ids = Vec::new();
    // A clock that only goes back never makes an unsent record look old.
    for offset in ["+1y", "+1d", "+0", "-1d", "-1y"] {
        clock.set(offset);
        ids.extend(clock.enroll(&terminal, 2));
    }
    // Forward a year from the last, the oldest unsent record looks a year old: the age guard
    // pauses enrollment with its message until the queue has synced (nothing is lost).
    clock.set("+0");
    let paused = clock
        .kiosk(&terminal)
        .args([
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
        ])
        .output()
        .unwrap();
    assert!(!paused.status.success());
    assert!(
        text(&paused).contains(
            "new enrollments are paused: the oldest record waiting to be sent is 365 days old"
        ),
        "{}",
        text(&paused)
    );
    let db = terminal.dir.path().join("registry.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    terminal.add_to_registry(&db_arg);
    let keys = terminal.dir.path().join("keys");
    let served = Served::start(&["--db", &db_arg, "--keys", keys.to_str().unwrap()]);

    // A sync with the clock a year behind, then one with the clock a year ahead: the registry
    // takes the records (it keeps its own time beside theirs) and the receipts verify.
    clock.set("-1y");
    let behind = clock.run(&terminal, &["sync", "--once", "--registry", &served.url]);
    clock.set("+1y");
    let ahead = clock.run(&terminal, &["sync", "--once", "--registry", &served.url]);
    assert!(
        behind.status.success() || ahead.status.success(),
        "{}\n{}",
        text(&behind),
        text(&ahead)
    );
    let acknowledged = outbox_ids(&terminal.outbox_path(), Some("acknowledged"));
    let all = outbox_ids(&terminal.outbox_path(), None);
    assert_eq!(acknowledged, all, "every record acknowledged");
    let (stored, integrity) = registry_records(&db);
    assert_eq!(integrity, "ok");
    assert_eq!(stored, all);
    assert_eq!(all.len(), ids.len());
    // The kiosk re-verifies every kept receipt against the registry's key.
    let verify = clock.run(&terminal, &["queue", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    // Synced, the queue no longer holds enrollment back.
    clock.set("+0");
    clock.enroll(&terminal, 1);
    served.stop();
}

#[test]
fn a_retry_scheduled_while_the_clock_was_a_year_ahead_does_not_wait_a_year_once_it_is_back() {
    let terminal = Terminal::new();
    quick_sync(&terminal);
    let clock = Clock::new(terminal.dir.path());
    let ids = clock.enroll(&terminal, 3);
    let db = terminal.dir.path().join("registry.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    terminal.add_to_registry(&db_arg);
    let keys = terminal.dir.path().join("keys");
    let args = ["--db", db_arg.as_str(), "--keys", keys.to_str().unwrap()];
    // A port where, for now, nothing listens.
    let served = Served::start(&args);
    let url = served.url.clone();
    let listen = url.trim_start_matches("http://").to_owned();
    served.stop();

    // The clock jumps a year ahead while the registry is away: the failed sends are retried
    // "soon" on that clock, which is a year from now once the clock is back. The sync worker's
    // probe makes everything waiting due the moment the registry answers, whatever the clock.
    clock.set("+1y");
    let mut sync = clock
        .kiosk(&terminal)
        .args(["sync", "--registry", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !retried(&terminal) {
        assert!(Instant::now() < deadline, "the sync never tried");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The clock comes back (an NTP step) and the registry is there.
    clock.set("+0");
    let served = Served::start_at(&listen, &args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox_ids(&terminal.outbox_path(), Some("acknowledged")).len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "records scheduled under the year-ahead clock are still waiting: {:?}",
            next_attempts(&terminal)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sync.kill();
    let _ = sync.wait();
    served.stop();
}

/// Whether a send was attempted and failed (a retry is scheduled).
fn retried(terminal: &Terminal) -> bool {
    let connection = rusqlite::Connection::open(terminal.outbox_path()).unwrap();
    connection
        .query_row(
            "SELECT COUNT(*) FROM records WHERE attempts > 0 AND state = 'pending'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .unwrap()
        > 0
}

fn next_attempts(terminal: &Terminal) -> Vec<i64> {
    let connection = rusqlite::Connection::open(terminal.outbox_path()).unwrap();
    connection
        .prepare("SELECT next_attempt_at_unix_ms FROM records")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn retention_under_a_clock_a_year_ahead_never_touches_what_the_registry_has_not_acknowledged() {
    let terminal = Terminal::new();
    let clock = Clock::new(terminal.dir.path());
    let unsent = clock.enroll(&terminal, 2);
    // Retention runs at the end of every sync pass; a year ahead, everything is "past" 30 days.
    clock.set("+1y");
    let sync = clock.run(
        &terminal,
        &["sync", "--once", "--registry", "http://127.0.0.1:9"],
    );
    assert!(
        !sync.status.success(),
        "nothing can be sent: {}",
        text(&sync)
    );
    let connection = rusqlite::Connection::open(terminal.outbox_path()).unwrap();
    let kept: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM records WHERE sealed_payload IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        kept,
        unsent.len() as i64,
        "unsent payloads are never deleted"
    );
    clock.set("-1y");
    let status = clock.run(&terminal, &["queue", "status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["pending"], 2, "{status}");
}
