//! The holder page's first paint for `scripts/bench.sh verifier` (issue 26: ≤ 1 s from the
//! registry on loopback, instant offline): the release `registry serve` (plain HTTP on loopback,
//! keys made per run), headless Chromium through chromedriver. Each run is a fresh browser
//! profile: the first visit (the page from the registry, then its service worker installs),
//! then, with the registry stopped, a reload served by the service worker. First paint is
//! Chromium's `first-contentful-paint`, measured from the navigation's start.
//!
//! usage: bench_holder_page --registry-bin PATH --work DIR [--runs N]

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // bench code: a panic is a failed run
#![allow(clippy::print_stdout)] // a benchmark printing its figures

#[path = "../tests/kiosk/common/browser.rs"]
mod browser;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TARGET_ONLINE_MS: f64 = 1000.0;

fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn serve(registry: &Path, work: &Path, listen: &str) -> (Killed, String) {
    let mut child = Command::new(registry)
        .args(["serve", "--listen", listen, "--db"])
        .arg(format!("sqlite:{}", work.join("registry.sqlite").display()))
        .arg("--keys")
        .arg(work.join("keys"))
        .env("REGISTRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("registry listening on ")
        .unwrap()
        .to_owned();
    (Killed(child), url)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn first_paint_ms(client: &fantoccini::Client) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = client
            .execute(
                "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
                 return p ? p.startTime : null;",
                Vec::new(),
            )
            .await
            .unwrap();
        if let Some(ms) = value.as_f64() {
            return ms;
        }
        assert!(Instant::now() < deadline, "no first paint");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let registry = PathBuf::from(argument("--registry-bin").expect("--registry-bin PATH"));
    let work = PathBuf::from(argument("--work").expect("--work DIR"));
    let runs: usize = argument("--runs").map_or(5, |n| n.parse().unwrap());
    let made = Command::new(&registry)
        .args(["keygen", "--out"])
        .arg(work.join("keys"))
        .output()
        .unwrap();
    assert!(made.status.success(), "registry keygen failed");
    let driver = browser::Driver::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut online, mut offline) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let (served, url) = serve(&registry, &work, &listen);
        let profile = work.join(format!("profile-{run}"));
        runtime.block_on(async {
            let client = browser::connect(&driver, &profile, (412, 915)).await;
            client.goto(&format!("{url}/holder/")).await.unwrap();
            online.push(first_paint_ms(&client).await);
            let deadline = Instant::now() + Duration::from_secs(10);
            while client
                .execute("return !!navigator.serviceWorker.controller", Vec::new())
                .await
                .unwrap()
                != serde_json::Value::Bool(true)
            {
                assert!(
                    Instant::now() < deadline,
                    "the service worker never took over"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop(served);
            client.refresh().await.unwrap();
            offline.push(first_paint_ms(&client).await);
            client.close().await.unwrap();
        });
    }
    let (online_ms, offline_ms) = (median(online.clone()), median(offline.clone()));
    println!(
        "holder page first paint, first visit from the registry on loopback ({runs} runs, fresh profile each):"
    );
    println!(
        "  median {online_ms:.0} ms (runs {:?}); target <= {TARGET_ONLINE_MS:.0} ms; ratio {:.2}",
        online.iter().map(|v| v.round()).collect::<Vec<_>>(),
        online_ms / TARGET_ONLINE_MS
    );
    println!("holder page first paint offline, from the service worker (registry stopped):");
    println!(
        "  median {offline_ms:.0} ms (runs {:?})",
        offline.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
}
