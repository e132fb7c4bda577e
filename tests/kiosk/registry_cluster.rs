//! Two `registry serve` processes on one PostgreSQL database behave as one registry (issue 30):
//! a terminal syncs through both in turn, as a load balancer would send it, and one instance is
//! killed (SIGKILL) in the middle of a sync; both issue virtual IDs at the same time. Every record
//! the terminal committed is stored once, acknowledged with a receipt the terminal verified, and
//! issued once. Real processes: the kiosk's `sync`, the registry binary, a throw-away cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::served::Served;
use common::terminal::{Terminal, text};

fn serve_args<'a>(db: &'a str, keys: &'a str) -> [&'a str; 7] {
    [
        "--db",
        db,
        "--keys",
        keys,
        "--issue",
        "--time-zone",
        "Asia/Shanghai",
    ]
}

#[test]
fn postgresql_two_instances_store_and_issue_every_record_once_with_one_killed_mid_sync() {
    let cluster = PgCluster::start();
    let db = cluster.url();
    let terminal = Terminal::new();
    let keys = terminal.dir.path().join("keys").display().to_string();
    terminal.add_to_registry(&db);
    // Both instances start at once on the same database (the schema is made once).
    let (first, second) = std::thread::scope(|scope| {
        let one = scope.spawn(|| Served::start(&serve_args(&db, &keys)));
        let two = scope.spawn(|| Served::start(&serve_args(&db, &keys)));
        (one.join().unwrap(), two.join().unwrap())
    });
    let second_url = second.url.clone();
    let first_address = first.url.trim_start_matches("http://").to_owned();

    let ids = terminal.enroll(60);
    assert_eq!(ids.len(), 60);

    // A sync to the first instance, killed while it runs (batches of 20: some stored, some not,
    // some stored without the terminal hearing the receipt).
    let config = terminal.dir.path().join("kiosk.toml");
    let sync = Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .args(["--config", config.to_str().unwrap(), "sync", "--once"])
        .args(["--registry", &first.url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let count = |client: &mut postgres::Client, sql: &str| -> i64 {
        client.query_one(sql, &[]).unwrap().get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&mut client, "SELECT count(*) FROM records") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first instance stored nothing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill();
    let stored_at_kill = count(&mut client, "SELECT count(*) FROM records");
    let _ = wait_for(sync);
    assert!(
        stored_at_kill < 60,
        "the kill came after the whole sync ({stored_at_kill} stored)"
    );
    eprintln!("stored when the first instance was killed: {stored_at_kill} of 60");

    // The terminal goes on through whichever instance answers: the second, then the first
    // started again on its address, in turn, until nothing is left to send.
    let mut restarted = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for round in 0.. {
        let url = if round % 2 == 0 {
            second_url.clone()
        } else {
            restarted
                .get_or_insert_with(|| Served::start_at(&first_address, &serve_args(&db, &keys)))
                .url
                .clone()
        };
        let synced = terminal.sync_once(&url);
        assert!(synced.status.success(), "{}", text(&synced));
        let status = terminal.status();
        if status["pending"] == 0 {
            assert_eq!(status["acknowledged"], 60, "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "records still pending: {status}");
    }

    // The heartbeats went through both instances into the one store: each shows the terminal up,
    // last seen at the same moment.
    let last_seen: Vec<String> = std::iter::once(second_url.clone())
        .chain(restarted.as_ref().map(|served| served.url.clone()))
        .map(|url| {
            let metrics = crate::fleet_health::get(&format!("{url}/metrics"));
            assert_eq!(
                crate::fleet_health::sample(
                    &metrics,
                    "registry_terminal_up{terminal=\"DEMO-0001\"}"
                )
                .as_deref(),
                Some("1"),
                "{metrics}"
            );
            crate::fleet_health::sample(
                &metrics,
                "registry_terminal_last_seen_seconds{terminal=\"DEMO-0001\"}",
            )
            .unwrap()
        })
        .collect();
    assert!(
        last_seen.windows(2).all(|pair| pair[0] == pair[1]),
        "{last_seen:?}"
    );

    // In the database: every record once, each with one issuance decision and one identity, and
    // every identity with the same number of tokens (no second issuer added any).
    assert_eq!(count(&mut client, "SELECT count(*) FROM records"), 60);
    let stored: Vec<String> = client
        .query("SELECT id FROM records", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    for id in &ids {
        assert!(
            stored.contains(id),
            "record {id} was printed as committed but is not stored"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&mut client, "SELECT count(*) FROM identities") < 60 {
        assert!(Instant::now() < deadline, "not every record was issued");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(count(&mut client, "SELECT count(*) FROM issuance"), 60);
    assert_eq!(
        count(
            &mut client,
            "SELECT count(DISTINCT record_id) FROM identities"
        ),
        60
    );
    // One document enrolled 60 times: exactly one identity is the active one.
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM identities WHERE state = 'active'"
        ),
        1
    );
    let per_identity: Vec<i64> = client
        .query(
            "SELECT count(*) FROM tokens GROUP BY identity_id ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(per_identity.len(), 60);
    assert!(
        per_identity.first() == per_identity.last() && per_identity[0] > 0,
        "tokens per identity differ: {per_identity:?}"
    );
    drop(second);
}

/// Waits for a child (at most 30 s), killing it after that.
fn wait_for(mut child: std::process::Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
