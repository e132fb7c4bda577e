//! Registry ingest load for `scripts/bench.sh ingest`: the real `registry serve` process (release,
//! plain HTTP on loopback) with SQLite or PostgreSQL storage, and 1,000 simulated terminals (tokio
//! tasks, each with its own Ed25519 key, registered through the admin endpoint, one keep-alive
//! connection each) sending signed records with a 300 KB sealed payload, each receipt verified.
//!
//! Two phases, each with fresh records:
//! - steady: an open-loop offered load (default 300 records/s spread over all terminals); latency
//!   is measured from each record's scheduled time, so a slow registry cannot hide queueing;
//! - backlog: every terminal sends its records back to back (the network came back after an
//!   outage); throughput is the registry's capacity, latency is mostly queueing.
//!
//! Prints records/s, p50/p99 latency, errors, duplicates (from the registry's /metrics) and the
//! registry's peak RSS (VmHWM).
//!
//! usage: bench_ingest --registry-bin PATH --db sqlite|postgres --work DIR [--terminals N]
//!        [--per-terminal K] [--rate R] [--payload-kb KB]

mod common;

#[path = "../tests/kiosk/common/pg.rs"]
mod pg;

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use enroll_core::domain::record::{CHAIN_START, RecordEnvelope, RecordId};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{
    SealingPublicKey, TerminalPublicKey, TerminalSigningKey, seal, sha256_hex,
};
use enroll_protocol::verify_receipt;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A record ready to send: (id, body SHA-256, encoded envelope).
type Prepared = (String, String, Bytes);

struct Options {
    registry_bin: PathBuf,
    db: String,
    work: PathBuf,
    terminals: usize,
    per_terminal: usize,
    rate_per_s: f64,
    payload_bytes: usize,
}

fn options() -> Result<Options, Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    Ok(Options {
        registry_bin: value("--registry-bin")
            .ok_or("--registry-bin PATH is required")?
            .into(),
        db: value("--db").ok_or("--db sqlite|postgres is required")?,
        work: value("--work").ok_or("--work DIR is required")?.into(),
        terminals: value("--terminals")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(1000),
        per_terminal: value("--per-terminal")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(2),
        rate_per_s: value("--rate")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(300.0),
        payload_bytes: value("--payload-kb")
            .map(|v| v.parse::<usize>())
            .transpose()?
            .unwrap_or(300)
            * 1024,
    })
}

/// One simulated terminal: its id, key and the head of its chain.
struct Terminal {
    id: String,
    key: TerminalSigningKey,
    previous: String,
    sequence: u64,
}

impl Terminal {
    /// The next record of this terminal's chain, sealed and signed; (id, body sha256, envelope).
    fn next_record(
        &mut self,
        registry: &SealingPublicKey,
        payload: &[u8],
    ) -> Result<Prepared, Error> {
        self.sequence += 1;
        let now_ms = UnixMs::from_u64(1_790_000_000_000 + self.sequence);
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| e.to_string())?;
        let id = RecordId::v7(now_ms, random);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        let sealed = seal(registry, &id, payload, seed)?;
        let draft = common::draft(id, &self.id, now_ms).map_err(|e| e.to_string())?;
        let (sealed_ref, ciphertext) = sealed;
        let body = draft
            .into_body(
                self.key.public().fingerprint(),
                sealed_ref,
                self.previous.clone(),
            )
            .to_bytes();
        let body_sha256 = sha256_hex(&body);
        let signature = self.key.sign(&body).to_vec();
        self.previous = body_sha256.clone();
        let envelope = RecordEnvelope {
            body,
            signature,
            sealed_payload: ciphertext,
        };
        Ok((id.to_string(), body_sha256, Bytes::from(envelope.encode())))
    }
}

struct Registry {
    child: std::process::Child,
    url: String,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_registry(
    options: &Options,
    db_url: &str,
    keys: &Path,
    token: &Path,
) -> Result<Registry, Error> {
    let mut child = Command::new(&options.registry_bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db_url, "--keys"])
        .arg(keys)
        .arg("--admin-token-file")
        .arg(token)
        .env("REGISTRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut stdout = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("registry listening on ")
        .ok_or_else(|| format!("unexpected first line {line:?}"))?
        .to_owned();
    Ok(Registry {
        child,
        url,
        _stdout: stdout,
    })
}

/// Peak resident set size of a process, MB.
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

async fn post(
    client: &Client,
    url: &str,
    body: Bytes,
    token: Option<&str>,
) -> Result<(u16, Bytes), Error> {
    let mut request = hyper::Request::post(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client.request(request.body(Full::new(body))?).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

struct PhaseResult {
    records: usize,
    errors: usize,
    wall_s: f64,
    latencies_ms: Vec<f64>,
}

/// Sends every terminal's records; `schedule(t, j)` is when record j of terminal t is due
/// (`None`: at once, back to back).
async fn phase(
    url: &str,
    records: Vec<Vec<Prepared>>,
    receipt_key: &Arc<TerminalPublicKey>,
    schedule: Option<(f64, usize)>,
) -> PhaseResult {
    let started = tokio::time::Instant::now();
    let count: usize = records.iter().map(Vec::len).sum();
    let mut tasks = tokio::task::JoinSet::new();
    for (t, terminal_records) in records.into_iter().enumerate() {
        let url = format!("{url}/v1/records");
        let receipt_key = Arc::clone(receipt_key);
        tasks.spawn(async move {
            // One client (one keep-alive connection) per terminal, as a real terminal has.
            let client: Client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http();
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            for (j, (id, body_sha256, envelope)) in terminal_records.into_iter().enumerate() {
                let due = match schedule {
                    Some((rate, terminals)) => {
                        let slot = (j * terminals + t) as f64 / rate;
                        let due = started + Duration::from_secs_f64(slot);
                        tokio::time::sleep_until(due).await;
                        due
                    }
                    None => tokio::time::Instant::now(),
                };
                match post(&client, &url, envelope, None).await {
                    Ok((200, receipt))
                        if verify_receipt(&receipt, &receipt_key, &id, &body_sha256).is_ok() =>
                    {
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies_ms = Vec::with_capacity(count);
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((latencies, e)) => {
                latencies_ms.extend(latencies);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    PhaseResult {
        records: count,
        errors,
        wall_s: started.elapsed().as_secs_f64(),
        latencies_ms,
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |sum, value| sum + value)
}

fn main() -> Result<(), Error> {
    let options = options()?;
    std::fs::create_dir_all(&options.work)?;
    let keys = options.work.join("keys");
    if !keys.join("registry-receipt.key").exists() {
        let status = Command::new(&options.registry_bin)
            .args(["keygen", "--out"])
            .arg(&keys)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err("registry keygen failed".into());
        }
    }
    let token = "bench-admin-token-0123456789abcdef0123456789";
    let token_file = options.work.join("admin-token");
    std::fs::write(&token_file, token)?;

    let (cluster, db_url) = match options.db.as_str() {
        "sqlite" => {
            let path = options.work.join("registry.sqlite");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            (None, format!("sqlite:{}", path.display()))
        }
        "postgres" => {
            let cluster = pg::PgCluster::start_with(true);
            let url = cluster.url();
            (Some(cluster), url)
        }
        other => return Err(format!("--db {other}: use sqlite or postgres").into()),
    };
    let registry = start_registry(&options, &db_url, &keys, &token_file)?;
    let sealing = enroll_crypto::keys::read_sealing_public(&keys.join("registry-sealing.pub"))?;
    let receipt_key = Arc::new(enroll_crypto::keys::read_ed25519_public(
        &keys.join("registry-receipt.pub"),
    )?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut terminals: Vec<Terminal> = (0..options.terminals)
        .map(|t| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(t as u64 + 1).to_le_bytes());
            Terminal {
                id: format!("BENCH-{t:05}"),
                key: TerminalSigningKey::from_seed(seed),
                previous: CHAIN_START.to_owned(),
                sequence: 0,
            }
        })
        .collect();

    // Registration through the admin endpoint.
    runtime.block_on(async {
        let client: Client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        for terminal in &terminals {
            let json = serde_json::json!({
                "id": terminal.id,
                "public_key_pem": terminal.key.public().to_pem(),
            });
            let (status, body) = post(
                &client,
                &format!("{}/v1/terminals", registry.url),
                Bytes::from(json.to_string()),
                Some(token),
            )
            .await?;
            if status != 201 {
                return Err(format!("registration answered {status}: {body:?}").into());
            }
        }
        Ok::<(), Error>(())
    })?;

    let payload: Vec<u8> = (0..options.payload_bytes)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    let make = |terminals: &mut Vec<Terminal>| -> Result<Vec<Vec<Prepared>>, Error> {
        terminals
            .iter_mut()
            .map(|terminal| {
                (0..options.per_terminal)
                    .map(|_| terminal.next_record(&sealing, &payload))
                    .collect()
            })
            .collect()
    };

    let mut out = std::io::stdout();
    let label = format!("ingest[{}]", options.db);
    let report = |out: &mut std::io::Stdout,
                  name: &str,
                  result: &PhaseResult|
     -> std::io::Result<()> {
        let rate = (result.records - result.errors) as f64 / result.wall_s;
        writeln!(
            out,
            "{label} {name}: {} records ({} terminals x {}, {} KB payload) in {:.2} s: {:.0} records/s; \
             latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; errors {}",
            result.records,
            options.terminals,
            options.per_terminal,
            options.payload_bytes / 1024,
            result.wall_s,
            rate,
            percentile(&result.latencies_ms, 0.5),
            percentile(&result.latencies_ms, 0.99),
            result.latencies_ms.last().copied().unwrap_or(f64::NAN),
            result.errors
        )
    };

    let records = make(&mut terminals)?;
    let steady = runtime.block_on(phase(
        &registry.url,
        records,
        &receipt_key,
        Some((options.rate_per_s, options.terminals)),
    ));
    report(
        &mut out,
        &format!("steady {:.0}/s offered", options.rate_per_s),
        &steady,
    )?;
    let records = make(&mut terminals)?;
    let backlog = runtime.block_on(phase(&registry.url, records, &receipt_key, None));
    report(&mut out, "backlog drain", &backlog)?;

    let metrics = runtime.block_on(async {
        let client: Client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let response = client
            .get(format!("{}/metrics", registry.url).parse()?)
            .await?;
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<String, Error>(String::from_utf8_lossy(&body).into_owned())
    })?;
    let stored = metric(&metrics, "registry_records_stored_total");
    let duplicates = metric(&metrics, "registry_records_duplicate_total");
    let rejected = metric(&metrics, "registry_records_rejected_total");
    let expected = steady.records + backlog.records;
    let rss = peak_rss_mb(registry.child.id());
    let steady_rate = (steady.records - steady.errors) as f64 / steady.wall_s;
    let capacity = (backlog.records - backlog.errors) as f64 / backlog.wall_s;
    let p99 = percentile(&steady.latencies_ms, 0.99);
    writeln!(
        out,
        "{label}: stored {stored:.0} of {expected}, duplicates {duplicates:.0}, rejected \
         {rejected:.0}; registry peak RSS {rss:.0} MB; goal (issue 6, PostgreSQL): >= 300 records/s \
         and p99 <= 1000 ms with 0 errors: steady {steady_rate:.0} records/s p99 {p99:.0} ms, \
         capacity {capacity:.0} records/s -> {}",
        if steady_rate >= 0.95 * options.rate_per_s
            && options.rate_per_s >= 300.0
            && capacity >= 300.0
            && p99 <= 1000.0
            && steady.errors + backlog.errors == 0
            && duplicates == 0.0
            && stored as usize == expected
        {
            "met"
        } else {
            "MISSED"
        }
    )?;
    drop(registry);
    drop(cluster);
    Ok(())
}
