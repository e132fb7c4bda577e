//! The serial MRZ line scanner that feeds the ICAO reader its access key (its emulator is
//! `enroll_sim::mrz_scanner_emulator`). It owns the port and the waiting; the line framing and the
//! check digits are `domain::mrz_scan`'s. Scanned text is never logged or put into error text.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use enroll_core::domain::mrz::{Mrz, MrzError};
use enroll_core::domain::mrz_scan::{MrzLineAssembler, MrzScan};

/// How long one port read may block, so a waiting scan can notice its deadline.
const POLL_MS: u64 = 100;

/// Why no access key came from the scanner.
#[derive(Debug, Error)]
pub enum MrzScannerError {
    /// The port could not be opened.
    #[error(
        "cannot open the MRZ scanner at {path}: {source}; check that it is plugged in and that \
         this user may open the port, or type the MRZ instead"
    )]
    Open {
        /// The configured port.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The scanner went away while waiting.
    #[error(
        "the MRZ scanner at {path} stopped answering (unplugged?); plug it in again, or type the \
         MRZ instead"
    )]
    Gone {
        /// The configured port.
        path: PathBuf,
    },
    /// A complete zone arrived but failed its checks.
    #[error("the scan could not be read cleanly ({0}); scan the page again or type the MRZ")]
    Unreadable(MrzError),
    /// Nothing was scanned in time.
    #[error("no document was scanned within {waited_s} s; place the data page on the scanner")]
    TimedOut {
        /// How long it waited.
        waited_s: u64,
    },
}

/// An open MRZ scanner.
pub struct MrzScanner {
    path: PathBuf,
    port: serialport::TTYPort,
    assembler: MrzLineAssembler,
}

impl std::fmt::Debug for MrzScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MrzScanner")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl MrzScanner {
    /// Opens the scanner's serial port (8N1, no flow control).
    pub fn open(path: impl Into<PathBuf>, baud: u32) -> Result<Self, MrzScannerError> {
        let path = path.into();
        let port = serialport::new(path.to_string_lossy(), baud)
            .timeout(Duration::from_millis(POLL_MS))
            .open_native()
            .map_err(|error| MrzScannerError::Open {
                path: path.clone(),
                source: io::Error::from(error),
            })?;
        Ok(Self {
            path,
            port,
            assembler: MrzLineAssembler::new(),
        })
    }

    /// The port this scanner was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for the next scan whose check digits hold.
    pub fn next_mrz(&mut self, timeout: Duration) -> Result<Mrz, MrzScannerError> {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 256];
        loop {
            if Instant::now() >= deadline {
                return Err(MrzScannerError::TimedOut {
                    waited_s: timeout.as_secs(),
                });
            }
            match self.port.read(&mut buffer) {
                Ok(0) => return Err(self.gone()),
                Ok(count) => {
                    let bytes = buffer.get(..count).unwrap_or_default();
                    if let Some(scan) = self.assembler.push(bytes).into_iter().next() {
                        return match scan {
                            MrzScan::Read(mrz) => Ok(*mrz),
                            MrzScan::Unreadable(error) => Err(MrzScannerError::Unreadable(error)),
                        };
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(self.gone()),
            }
        }
    }

    fn gone(&self) -> MrzScannerError {
        MrzScannerError::Gone {
            path: self.path.clone(),
        }
    }
}
