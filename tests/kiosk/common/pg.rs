//! A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary directory,
//! `postgres` on a free loopback port, stopped and removed on drop. It needs no running service
//! and never touches one. As root (CI containers) it runs the server as the `postgres` user that
//! Debian's package creates, since PostgreSQL refuses to run as root.

#![allow(dead_code)] // not every user needs every helper
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PgCluster {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    durable: bool,
}

/// Where `initdb` and `postgres` are: `$PG_BINDIR`, or the newest `/usr/lib/postgresql/*/bin`.
fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(
            "PostgreSQL is not installed (/usr/lib/postgresql is missing): run scripts/setup.sh",
        )
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("no initdb under /usr/lib/postgresql/*/bin: run scripts/setup.sh")
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command for a PostgreSQL program, run as `postgres` when we are root.
fn pg_command(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A free loopback port *below* the kernel's ephemeral range, for a server that must come back on
/// the same address after a kill. A port the kernel hands out for `127.0.0.1:0` comes from the
/// ephemeral range, and while its server is down any outgoing connection on the machine may be
/// given it as its local port, and the restart cannot bind (the likely cause of a registry restart
/// that failed 19 minutes into a soak). Ports below the range are never handed out that way.
/// Chosen at random and probed, so tests running side by side rarely pick the same one; a server
/// that loses that race fails to bind on its first start.
pub fn restartable_port() -> u16 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = (ephemeral_low / 2).max(1024);
    let span = u64::from(ephemeral_low - low);
    for _ in 0..1000 {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = low + (random % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {low} and {ephemeral_low}")
}

/// `postgres` on `data`, listening on 127.0.0.1:`port` with its socket in `socket_dir`.
fn spawn_server(bin: &Path, data: &Path, port: u16, socket_dir: &Path, durable: bool) -> Child {
    let mut command = pg_command(&bin.join("postgres"));
    command
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(socket_dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(socket_dir.join("server.log"))
                .unwrap(),
        ))
        // Its own process group, so that a crash can take every backend with it.
        .process_group(0);
    if !durable {
        command.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
    }
    command.spawn().unwrap()
}

impl PgCluster {
    /// A cluster without fsync (tests: durability is not what they check).
    pub fn start() -> PgCluster {
        PgCluster::start_with(false)
    }

    /// A cluster; `durable` keeps PostgreSQL's default `fsync=on` (benchmarks).
    pub fn start_with(durable: bool) -> PgCluster {
        let bin = bindir();
        let dir = tempfile::Builder::new()
            .prefix("pg-test-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot hand the cluster directory to the postgres user"
            );
        }
        let initdb = pg_command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "enroll",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        // It comes back on the same port after `crash_and_restart`.
        let port = restartable_port();
        let child = spawn_server(&bin, &data, port, dir.path(), durable);
        let mut cluster = PgCluster {
            dir,
            child,
            port,
            durable,
        };
        cluster.wait_ready();
        cluster
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if postgres::Client::connect(&self.url(), postgres::NoTls).is_ok() {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "postgres exited while starting: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "postgres did not accept connections within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to the server and every backend at once (a crash), then a new server on the same
    /// data directory and port: it replays its WAL before it accepts connections.
    pub fn crash_and_restart(&mut self) {
        // The server leads its own process group (see `spawn_server`): one signal reaches it and
        // every backend it forked, including one forked a moment ago. A backend left alive would
        // hold the shared memory and the new server would refuse to start.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
        let started = Instant::now();
        while Command::new("pgrep")
            .args(["-g", &group[1..]])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "backends outlived the kill"
            );
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            std::thread::sleep(Duration::from_millis(20));
        }
        // A backend that missed the signal notices its server is gone and exits by itself a
        // moment later; until then it holds the shared memory and a new server refuses to start
        // ("pre-existing shared memory block is still in use", seen once in CI under load). So a
        // server that exits at once is started again, a few times.
        for attempt in 0..20 {
            self.child = spawn_server(
                &bindir(),
                &self.dir.path().join("data"),
                self.port,
                self.dir.path(),
                self.durable,
            );
            std::thread::sleep(Duration::from_millis(200));
            if attempt == 19 || self.child.try_wait().unwrap().is_none() {
                break;
            }
        }
        self.wait_ready();
    }

    /// `postgres://enroll@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://enroll@127.0.0.1:{}/postgres", self.port)
    }

    /// The cluster's directory (data and socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Fast shutdown (SIGINT): backends end, the server exits; SIGKILL if it hangs.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
