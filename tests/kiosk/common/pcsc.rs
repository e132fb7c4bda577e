//! The real pcscd with vsmartcard's vpcd driver for PC/SC tests: started when none runs, one
//! test at a time (a lock here and the `pcsc` test group in `.config/nextest.toml`).

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use enroll_devices::card::pcsc_icao;

/// Where virtual cards connect to vpcd, and the reader name pcscd gives that slot.
pub const SLOT_ADDRESS: &str = "127.0.0.1:35963";
pub const SLOT_READER: &str = "Virtual PCD 00 00";

static PCSCD: Mutex<()> = Mutex::new(());

/// Takes the machine-wide lock and makes sure pcscd runs with the vpcd readers.
pub fn pcscd() -> MutexGuard<'static, ()> {
    let guard = PCSCD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let has_vpcd = || {
        pcsc_icao::list_readers()
            .map(|names| names.iter().any(|n| n.contains(SLOT_READER)))
            .unwrap_or(false)
    };
    if !has_vpcd() {
        // Without --foreground pcscd daemonizes: the command returns once the daemon runs, and
        // the daemon outlives this test process like a system service would.
        let status = std::process::Command::new("pcscd")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("pcscd is not installed: run scripts/setup.sh (pcscd, vsmartcard-vpcd)");
        assert!(status.success(), "pcscd did not start: {status}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !has_vpcd() {
            assert!(
                Instant::now() < deadline,
                "pcscd did not list {SLOT_READER}; is vsmartcard-vpcd installed?"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    guard
}
