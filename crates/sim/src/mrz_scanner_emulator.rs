//! A pseudo-terminal that behaves like a serial MRZ line scanner, for tests and demos: it sends
//! the lines it is given as one scan, framed as desktop OCR readers frame them. It owns no parsing
//! (that is `enroll_core::domain::mrz_scan`) and reads nothing back.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sam_emulator::{Pty, create_pty, remove_link};

/// A pseudo-terminal that behaves like an MRZ scanner: what [`MrzScannerEmulator::scan`] is given
/// arrives at the link as the lines of one scan. Dropping it unplugs the device.
pub struct MrzScannerEmulator {
    link: PathBuf,
    pty: Mutex<Option<Pty>>,
}

impl MrzScannerEmulator {
    /// Creates the pty and links its device at `link`.
    pub fn start(link: impl Into<PathBuf>) -> io::Result<Self> {
        let link = link.into();
        let pty = create_pty(&link)?;
        Ok(Self {
            link,
            pty: Mutex::new(Some(pty)),
        })
    }

    /// The path the emulated scanner is linked at.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Sends one scan: STX, the lines each ended by CR, ETX (as desktop OCR readers do).
    pub fn scan(&self, lines: &[&str]) -> io::Result<()> {
        let mut bytes = vec![0x02];
        for line in lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\r');
        }
        bytes.push(0x03);
        self.send_raw(&bytes)
    }

    /// Sends raw bytes (noise, banners, partial lines).
    pub fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        let mut guard = self
            .pty
            .lock()
            .map_err(|_| io::Error::other("the emulator lock is poisoned"))?;
        let pty = guard.as_mut().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "the scanner is unplugged")
        })?;
        pty.master.write_all(bytes)?;
        pty.master.flush()
    }

    /// Unplugs the scanner: closes the pty and removes the link.
    pub fn unplug(&self) {
        if let Ok(mut guard) = self.pty.lock() {
            guard.take();
        }
        remove_link(&self.link);
    }
}

impl Drop for MrzScannerEmulator {
    fn drop(&mut self) {
        self.unplug();
    }
}
