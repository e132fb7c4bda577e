//! Listens to the officer's serial MRZ line scanner on an `mrz-scanner` thread and hands each
//! scan (the chip's access key, or "unreadable") to the UI through a bounded channel; reopens the
//! port when the scanner comes back after being unplugged. It does not read chips or know which
//! screen is showing, and never logs what was scanned.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Duration;

use enroll_core::domain::mrz::MrzAccessKey;
use enroll_devices::card::mrz_scanner::{MrzScanner, MrzScannerError};

/// How long one wait for a scan lasts, so the thread notices when it should stop.
const WAIT_MS: u64 = 300;
/// How long to wait after the port failed before opening it again.
const RETRY_MS: u64 = 2_000;

/// What the scanner gave.
#[derive(Debug)]
pub enum Scan {
    /// A data page whose check digits hold.
    Key(MrzAccessKey),
    /// A complete zone that failed its checks (smudged, folded, partly covered).
    Unreadable,
    /// The scanner cannot be opened or stopped answering; the officer types the MRZ meanwhile.
    ScannerDown,
    /// The scanner answers again.
    ScannerUp,
}

/// The UI's end of the MRZ scanner.
pub struct MrzScanWorker {
    scans: Receiver<Scan>,
    stop: Arc<AtomicBool>,
}

impl MrzScanWorker {
    /// Starts listening on `port` at `baud`.
    pub fn spawn(port: PathBuf, baud: u32) -> std::io::Result<MrzScanWorker> {
        let (sender, scans) = std::sync::mpsc::sync_channel(4);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("mrz-scanner".into())
            .spawn(move || listen(&port, baud, &sender, &stopped))?;
        Ok(MrzScanWorker { scans, stop })
    }

    /// The next scan, if any (never waits).
    pub fn next_scan(&self) -> Option<Scan> {
        self.scans.try_recv().ok()
    }
}

impl Drop for MrzScanWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn listen(port: &Path, baud: u32, sender: &SyncSender<Scan>, stopped: &AtomicBool) {
    let send = |scan: Scan| {
        if sender.try_send(scan).is_err() {
            tracing::debug!("an MRZ scan was not taken by the UI");
        }
    };
    // None until the first open, so "down" is reported once per outage.
    let mut up: Option<bool> = None;
    while !stopped.load(Ordering::Relaxed) {
        let mut scanner = match MrzScanner::open(port, baud) {
            Ok(scanner) => scanner,
            Err(error) => {
                if up != Some(false) {
                    tracing::warn!(%error, "MRZ scanner");
                    send(Scan::ScannerDown);
                }
                up = Some(false);
                std::thread::sleep(Duration::from_millis(RETRY_MS));
                continue;
            }
        };
        if up == Some(false) {
            tracing::info!(port = %port.display(), "the MRZ scanner answers again");
            send(Scan::ScannerUp);
        }
        up = Some(true);
        while !stopped.load(Ordering::Relaxed) {
            match scanner.next_mrz(Duration::from_millis(WAIT_MS)) {
                Ok(mrz) => send(Scan::Key(mrz.access_key())),
                Err(MrzScannerError::TimedOut { .. }) => {}
                Err(error @ MrzScannerError::Unreadable(_)) => {
                    tracing::info!(%error, "MRZ scan");
                    send(Scan::Unreadable);
                }
                Err(error) => {
                    tracing::warn!(%error, "MRZ scanner");
                    send(Scan::ScannerDown);
                    up = Some(false);
                    std::thread::sleep(Duration::from_millis(RETRY_MS));
                    break;
                }
            }
        }
    }
}
