//! Outbox commit latency for `scripts/bench.sh outbox`: one enrollment with a 300 KB sealed
//! payload (seal + sign + insert + fsync through `Outbox::commit_enrollment`), side by side with the
//! raw cost of writing 300 KB to a new file and fsyncing it, on the same disk in the same run.
//! Prints p50/p99 of each and the ratio.
//!
//! The HPKE encapsulation (ephemeral X25519 key, key agreement, key schedule) does not depend on
//! the payload; the kiosk prepares it when the applicant reaches the camera (`PreparedSeal`), so
//! it runs before the timed commit here too and is reported on its own line. The timed part seals
//! the payload (ChaCha20-Poly1305 and its BLAKE3 digest), builds and signs the body, inserts and
//! commits with fsync. The WAL checkpoint runs after the timed commit, as the kiosk runs it once
//! the result is on the screen.
//!
//! usage: cargo run --release --example bench_outbox -- DIR [N]

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use enroll_core::domain::record::RecordId;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{PreparedSeal, SealingPrivateKey, TerminalSigningKey};
use enroll_store::{GuardLimits, Outbox};

const PAYLOAD_BYTES: usize = 300 * 1024;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).ok_or("usage: bench_outbox DIR [N]")?);
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    std::fs::create_dir_all(&dir)?;
    let mut outbox = Outbox::open(&dir.join("bench-outbox.sqlite"))?;
    let key = TerminalSigningKey::from_seed([1; 32]);
    let (_, registry) = SealingPrivateKey::from_seed([2; 32]);
    let limits = GuardLimits {
        min_free_disk_mb: 1,
        max_unsent_records: u64::MAX,
        max_unsent_age_days: 3650,
    };
    let payload: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i * 7919 % 251) as u8).collect();
    let mut commit_ms = Vec::with_capacity(n);
    let mut raw_ms = Vec::with_capacity(n);
    let mut seal_ms = Vec::with_capacity(n);
    let mut prepare_ms = Vec::with_capacity(n);
    for i in 0..n {
        // Raw: a new 300 KB file, written and fsynced.
        let started = Instant::now();
        let mut file = std::fs::File::create(dir.join(format!("raw-{}", i % 4)))?;
        file.write_all(&payload)?;
        file.sync_all()?;
        raw_ms.push(started.elapsed().as_secs_f64() * 1000.0);

        let now_ms = UnixMs(1_790_000_000_000 + i as i64);
        let prepare_started = Instant::now();
        let prepared = PreparedSeal::new(&registry, [(i % 251) as u8; 32])?;
        prepare_ms.push(prepare_started.elapsed().as_secs_f64() * 1000.0);

        // The sealed content as the kiosk serialises it; sealing turns this buffer into the
        // ciphertext in place.
        let mut plaintext = Vec::with_capacity(PAYLOAD_BYTES + 16);
        plaintext.extend_from_slice(&payload);

        let started = Instant::now();
        let id = RecordId::v7(now_ms, [(i % 251) as u8; 10]);
        let seal_started = Instant::now();
        let sealed = prepared.seal(&id, plaintext)?;
        seal_ms.push(seal_started.elapsed().as_secs_f64() * 1000.0);
        let draft = common::draft(id, "bench", now_ms)?;
        outbox.commit_enrollment(draft, sealed, &key, "bench", now_ms, &limits)?;
        commit_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        // As the kiosk does once the result is on the screen.
        outbox.checkpoint_if_due()?;
    }
    commit_ms.sort_by(f64::total_cmp);
    raw_ms.sort_by(f64::total_cmp);
    seal_ms.sort_by(f64::total_cmp);
    prepare_ms.sort_by(f64::total_cmp);
    let (c50, c99) = (percentile(&commit_ms, 0.5), percentile(&commit_ms, 0.99));
    let (r50, r99) = (percentile(&raw_ms, 0.5), percentile(&raw_ms, 0.99));
    let mut out = std::io::stdout();
    writeln!(
        out,
        "outbox: {n} enrollments with a 300 KB sealed payload (seal + sign + insert + fsync): p50 {c50:.2} ms, p99 {c99:.2} ms"
    )?;
    writeln!(
        out,
        "outbox: raw 300 KB write + fsync on the same disk: p50 {r50:.2} ms, p99 {r99:.2} ms"
    )?;
    writeln!(
        out,
        "outbox: of which sealing 300 KB (ChaCha20-Poly1305 + BLAKE3): p50 {:.2} ms",
        percentile(&seal_ms, 0.5)
    )?;
    writeln!(
        out,
        "outbox: HPKE encapsulation, prepared before the commit (X25519 + key schedule): p50 {:.2} ms",
        percentile(&prepare_ms, 0.5)
    )?;
    writeln!(
        out,
        "outbox: ratio p50 {:.2} (target <= 2.0), p99 {:.2}",
        c50 / r50,
        c99 / r99
    )?;
    Ok(())
}
