//! Demo fault injection, for training and tests: a fault is on while a flag file named after it
//! exists in the demo's fault folder (`[demo] faults_dir`), so `kiosk diag inject` in one process
//! reaches the simulated devices, the outbox's disk measure and the demo registry in another. It
//! owns the names and the folder; what each fault does is up to the part that reads it. A real
//! terminal has no fault folder, and then nothing is ever on.

use std::io;
use std::path::{Path, PathBuf};

/// A failure a technician can rehearse on a demo terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The file camera stops giving pictures.
    CameraFreeze,
    /// The emulated card reader is unplugged.
    ReaderGone,
    /// The card leaves the emulated reader in the middle of every read.
    CardPulled,
    /// The disk under the outbox reads as full.
    DiskFull,
    /// The demo registry stops answering.
    RegistryDown,
}

impl Fault {
    /// Every fault, in the order `kiosk diag inject` lists them.
    pub const ALL: [Fault; 5] = [
        Fault::CameraFreeze,
        Fault::ReaderGone,
        Fault::CardPulled,
        Fault::DiskFull,
        Fault::RegistryDown,
    ];

    /// The name on the command line and of the flag file.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::CameraFreeze => "camera-freeze",
            Fault::ReaderGone => "reader-gone",
            Fault::CardPulled => "card-pulled",
            Fault::DiskFull => "disk-full",
            Fault::RegistryDown => "registry-down",
        }
    }

    /// The fault named `name`.
    pub fn parse(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.as_str() == name)
    }
}

/// Where faults are switched on and off; cheap to clone and to ask (one `stat` per question).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSwitch {
    dir: Option<PathBuf>,
}

impl FaultSwitch {
    /// A terminal without fault injection: nothing is ever on.
    pub fn none() -> FaultSwitch {
        FaultSwitch { dir: None }
    }

    /// Faults flagged in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> FaultSwitch {
        FaultSwitch {
            dir: Some(dir.into()),
        }
    }

    /// The fault folder, when this terminal has one.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether `fault` is on now.
    pub fn is_on(&self, fault: Fault) -> bool {
        self.dir
            .as_ref()
            .is_some_and(|dir| dir.join(fault.as_str()).exists())
    }

    /// The faults on now.
    pub fn active(&self) -> Vec<Fault> {
        Fault::ALL
            .into_iter()
            .filter(|fault| self.is_on(*fault))
            .collect()
    }

    /// Switches `fault` on or off. Fails on a terminal without a fault folder.
    pub fn set(&self, fault: Fault, on: bool) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this terminal has no fault folder ([demo] faults_dir): faults are injected on \
                 demo configurations only",
            ));
        };
        let flag = dir.join(fault.as_str());
        if on {
            std::fs::create_dir_all(dir)?;
            std::fs::write(flag, b"injected by kiosk diag inject\n")
        } else {
            match std::fs::remove_file(flag) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed test

    use super::*;

    #[test]
    fn a_fault_is_on_between_set_and_clear_and_only_in_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let switch = FaultSwitch::at(dir.path().join("faults"));
        assert!(switch.active().is_empty());
        switch.set(Fault::DiskFull, true).unwrap();
        assert!(switch.is_on(Fault::DiskFull));
        assert_eq!(switch.active(), vec![Fault::DiskFull]);
        assert!(!FaultSwitch::at(dir.path().join("other")).is_on(Fault::DiskFull));
        switch.set(Fault::DiskFull, false).unwrap();
        switch.set(Fault::DiskFull, false).unwrap();
        assert!(!switch.is_on(Fault::DiskFull));
        assert!(FaultSwitch::none().set(Fault::DiskFull, true).is_err());
    }

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(Fault::parse(fault.as_str()), Some(fault));
        }
        assert_eq!(Fault::parse("printer-jam"), None);
    }
}
