//! Network faults the kernel makes: the terminal (`kiosk sync`) and the registry (`registry
//! serve`) run in network namespaces of their own, joined by a veth link (`enroll_faults::netns`).
//! The link is cut for random spans (what the terminal sends is lost, its connections time out),
//! 30 % of packets each way are dropped by an nftables rule for other spans, and the registry is
//! killed and restarted now and then, while records keep coming. Once the network is back every
//! record is stored exactly once and acknowledged. CI runs a few faults (`NET_FAULTS`);
//! `scripts/soak.sh` runs hundreds. `NET_FAULT_SEED` replays a run's random choices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::faults::{Random, count_from_env, outbox_ids, quick_sync, registry_records};
use common::pki::Pki;
use common::served::Served;
use common::terminal::Terminal;
use enroll_faults::netns::Lab;

#[test]
fn records_cross_partitions_packet_loss_and_registry_restarts_exactly_once() {
    let faults = count_from_env("NET_FAULTS", 10);
    let mut random = Random::seeded("NET_FAULT_SEED");
    let mut lab = Lab::new();
    let terminal_host = lab.host("kiosk").unwrap();
    let registry_host = lab.host("registry").unwrap();
    let link = lab.link(&terminal_host, &registry_host).unwrap();

    let terminal = Terminal::new();
    quick_sync(&terminal);
    let db = terminal.dir.path().join("registry.sqlite");
    let db_arg = format!("sqlite:{}", db.display());
    terminal.add_to_registry(&db_arg);
    let keys = terminal.dir.path().join("keys");
    // Off loopback the registry serves HTTPS only.
    let pki = Pki::for_addresses(&[&link.second_address.to_string()]);
    terminal.trust_registry_ca(&pki.path("ca.pem"));
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let args = [
        "--db",
        db_arg.as_str(),
        "--keys",
        keys.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let listen = format!("{}:8443", link.second_address);
    let mut served = Served::start_in(Some(&registry_host.namespace), &listen, &args);
    let url = served.url.clone();
    let config = terminal.dir.path().join("kiosk.toml");
    let mut sync = lab
        .command(
            &terminal_host,
            std::path::Path::new(env!("CARGO_BIN_EXE_kiosk")),
        )
        .arg("--config")
        .arg(&config)
        .args(["sync", "--registry", &url])
        .env("KIOSK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(terminal.dir.path().join("sync.log")).unwrap())
        .spawn()
        .unwrap();
    let printed: Mutex<Vec<String>> = Mutex::default();
    let enrolling = AtomicBool::new(true);
    let (mut partitions, mut loss_spans, mut restarts) = (0u32, 0u32, 0u32);
    // Records that were waiting for the network at the end of a partition, summed.
    let mut waiting_in_partitions = 0usize;
    let started = Instant::now();
    let served = std::thread::scope(|scope| {
        scope.spawn(|| {
            while enrolling.load(Ordering::SeqCst) {
                let ids = terminal.enroll(3);
                printed.lock().unwrap().extend(ids);
            }
        });
        for _ in 0..faults {
            let span = Duration::from_millis(1000 + random.below(2000));
            match random.below(5) {
                0 | 1 => {
                    link.set_up(false).unwrap();
                    std::thread::sleep(Duration::from_millis(150));
                    let before = outbox_ids(&terminal.outbox_path(), Some("acknowledged")).len();
                    std::thread::sleep(span);
                    let after = outbox_ids(&terminal.outbox_path(), Some("acknowledged")).len();
                    waiting_in_partitions +=
                        outbox_ids(&terminal.outbox_path(), None).len() - after;
                    link.set_up(true).unwrap();
                    assert_eq!(before, after, "nothing crosses a cut link");
                    partitions += 1;
                }
                2 | 3 => {
                    link.set_loss(30).unwrap();
                    std::thread::sleep(span);
                    link.set_loss(0).unwrap();
                    loss_spans += 1;
                }
                _ => {
                    served.kill();
                    std::thread::sleep(span / 4);
                    served = Served::start_in(Some(&registry_host.namespace), &listen, &args);
                    restarts += 1;
                }
            }
            // Some calm between faults, so records get through between them too.
            std::thread::sleep(Duration::from_millis(random.below(400)));
        }
        enrolling.store(false, Ordering::SeqCst);
        served
    });

    let ids = outbox_ids(&terminal.outbox_path(), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while outbox_ids(&terminal.outbox_path(), Some("acknowledged")).len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "records still unacknowledged 120 s after the network came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sync.kill();
    let _ = sync.wait();
    served.stop();
    let (stored, integrity) = registry_records(&db);
    let retries = std::fs::read_to_string(terminal.dir.path().join("sync.log"))
        .unwrap()
        .matches("will retry")
        .count();
    println!(
        "network faults: {partitions} partitions, {loss_spans} spans of 30 % loss, {restarts} \
         registry restarts in {:.0} s; {} records, {} stored; {waiting_in_partitions} waiting at \
         the ends of partitions, {retries} sends retried",
        started.elapsed().as_secs_f64(),
        ids.len(),
        stored.len()
    );
    assert_eq!(integrity, "ok");
    assert_eq!(stored, ids, "every record stored, none twice, none unknown");
    assert!(
        partitions == 0 || waiting_in_partitions > 0,
        "records must have waited out a partition"
    );
    // No record was given up on.
    assert!(outbox_ids(&terminal.outbox_path(), Some("rejected")).is_empty());
    let printed = printed.into_inner().unwrap();
    assert!(
        printed.iter().all(|id| stored.contains(id)),
        "every id printed as committed is at the registry"
    );
}
