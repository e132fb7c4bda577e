//! Helpers of the fault tests: a seeded random source whose seed is printed (so a failing run
//! replays), the power-cut disk (`powercut-fs` from `enroll-faults`, mounted and cut), and a
//! `kiosk enroll --count …` child whose printed ids (each printed only after its commit) are
//! collected.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::root;

/// xorshift64*, seeded from `var` when set, else from the OS; the seed is printed.
pub struct Random(u64);

impl Random {
    pub fn seeded(var: &str) -> Random {
        let seed = std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).unwrap();
                u64::from_le_bytes(bytes) | 1
            });
        eprintln!("{var}={seed}");
        Random(seed)
    }

    pub fn from_seed(seed: u64) -> Random {
        Random(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A count from the environment (the soak raises it), or `default`.
pub fn count_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A directory on the power-cut file system: what is synced survives [`PowerCutDisk::cut`],
/// what is not is gone.
pub struct PowerCutDisk {
    _dir: tempfile::TempDir,
    backing: PathBuf,
    mountpoint: PathBuf,
    child: Option<Child>,
    pub cuts: u64,
}

impl PowerCutDisk {
    /// A new, empty disk, mounted.
    pub fn new() -> PowerCutDisk {
        let dir = tempfile::tempdir().unwrap();
        let backing = dir.path().join("platter");
        let mountpoint = dir.path().join("disk");
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mountpoint).unwrap();
        let mut disk = PowerCutDisk {
            _dir: dir,
            backing,
            mountpoint,
            child: None,
            cuts: 0,
        };
        disk.power_on();
        disk
    }

    /// Where programs read and write it.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Mounts it again after a cut: it shows what was durable.
    pub fn power_on(&mut self) {
        assert!(self.child.is_none(), "already on");
        let mut child = Command::new(super::workspace_exe("powercut-fs"))
            .arg(&self.backing)
            .arg(&self.mountpoint)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "mounted", "powercut-fs did not mount");
        self.child = Some(child);
    }

    /// The power cut: the file system's process dies with everything not yet synced, and the dead
    /// mount is detached. Programs using it must be killed by the caller (after this, as the
    /// power takes them too).
    pub fn cut(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let status = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status()
            .unwrap();
        assert!(status.success(), "umount -l of the dead mount failed");
        self.cuts += 1;
    }
}

impl Drop for PowerCutDisk {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

/// A `kiosk enroll --count 1000000` child committing records in a loop; the ids it prints (each
/// after its commit returned) are collected as they come.
pub struct EnrollLoop {
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
    first_line: Arc<(Mutex<bool>, Condvar)>,
    pub printed: Arc<Mutex<Vec<String>>>,
}

impl EnrollLoop {
    pub fn start(config: &Path, log: &Path, printed: &Arc<Mutex<Vec<String>>>) -> EnrollLoop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kiosk"))
            .arg("--config")
            .arg(config)
            .args(["enroll", "--count", "1000000", "--document"])
            .arg(root().join("tests/fixtures/card-read-resident.json"))
            .arg("--portrait")
            .arg(root().join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg"))
            .arg("--card-photo")
            .arg(root().join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let first_line = Arc::new((Mutex::new(false), Condvar::new()));
        let reader = {
            let printed = Arc::clone(printed);
            let first_line = Arc::clone(&first_line);
            std::thread::Builder::new()
                .name("enroll-child-stdout".into())
                .spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        printed.lock().unwrap().push(line);
                        let (seen, signal) = &*first_line;
                        *seen.lock().unwrap() = true;
                        signal.notify_all();
                    }
                })
                .unwrap()
        };
        EnrollLoop {
            child,
            reader: Some(reader),
            first_line,
            printed: Arc::clone(printed),
        }
    }

    /// Waits until the child printed its first id; false when it did not within `timeout` or
    /// exited.
    pub fn wait_first_commit(&mut self, timeout: Duration) -> bool {
        let (seen, signal) = &*self.first_line;
        let guard = seen.lock().unwrap();
        let (guard, _) = signal
            .wait_timeout_while(guard, timeout, |seen| !*seen)
            .unwrap();
        *guard && self.child.try_wait().unwrap().is_none()
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn committed_any(&self) -> bool {
        *self.first_line.0.lock().unwrap()
    }

    /// SIGKILL, then every line it printed is collected.
    pub fn kill(self) {
        drop(self);
    }
}

impl Drop for EnrollLoop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The ids of the records in the registry database at `db`, and its integrity check's verdict.
pub fn registry_records(db: &Path) -> (BTreeSet<String>, String) {
    let connection = rusqlite::Connection::open(db).unwrap();
    let ids = connection
        .prepare("SELECT id FROM records")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let integrity: String = connection
        .query_row("PRAGMA integrity_check(1)", [], |row| row.get(0))
        .unwrap();
    (ids, integrity)
}

/// The ids of the records in the outbox at `outbox`, of one state or all.
pub fn outbox_ids(outbox: &Path, state: Option<&str>) -> BTreeSet<String> {
    let connection =
        rusqlite::Connection::open_with_flags(outbox, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    connection.busy_timeout(Duration::from_secs(5)).unwrap();
    connection
        .prepare("SELECT id, state FROM records")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .filter(|(_, s)| state.is_none_or(|wanted| wanted == s))
        .map(|(id, _)| id)
        .collect()
}

/// Small batches and short retries: faults land mid-stream, the sync comes back quickly.
pub fn quick_sync(terminal: &super::terminal::Terminal) {
    let path = terminal.dir.path().join("kiosk.toml");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("backoff_base_ms = 500", "backoff_base_ms = 20")
        .replace("backoff_cap_ms = 60000", "backoff_cap_ms = 300")
        .replace("batch_size = 20", "batch_size = 2");
    std::fs::write(&path, config).unwrap();
}

/// A tmpfs of `size_kb` mounted in a fresh directory; unmounted on drop.
pub struct SmallDisk {
    _dir: tempfile::TempDir,
    mount_point: PathBuf,
}

impl SmallDisk {
    pub fn new(size_kb: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mount_point = dir.path().join("disk");
        std::fs::create_dir(&mount_point).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kb}k"), "tmpfs"])
            .arg(&mount_point)
            .status()
            .expect("mount(8) must exist");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        SmallDisk {
            _dir: dir,
            mount_point,
        }
    }

    pub fn resize(&self, size_kb: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_kb}k")])
            .arg(&self.mount_point)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.mount_point.join(name)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// Writes into `path` until the file system says it is full.
pub fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0x5Au8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}
