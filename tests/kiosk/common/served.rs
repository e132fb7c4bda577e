//! A `registry serve` process for end-to-end tests: started on a free loopback port, its URL read
//! from its first line, stopped with SIGTERM.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

/// A `registry serve` process, stopped with SIGTERM when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Served {
    /// On a free port below the ephemeral range, so that a test may stop it and start it again
    /// on the same address (`super::restartable_port`).
    pub fn start(args: &[&str]) -> Served {
        Served::start_at(&format!("127.0.0.1:{}", super::restartable_port()), args)
    }

    /// On `listen` (`HOST:PORT`), e.g. the port of a registry stopped a moment ago.
    pub fn start_at(listen: &str, args: &[&str]) -> Served {
        Served::start_in(None, listen, args)
    }

    /// Inside the network namespace `namespace` (through `ip netns exec`, which becomes the
    /// registry: killing the child kills the registry).
    pub fn start_in(namespace: Option<&str>, listen: &str, args: &[&str]) -> Served {
        Served::start_logged(namespace, listen, args, None)
    }

    /// With its log (`REGISTRY_LOG=info`) appended to `log` when given, else warnings on the
    /// test's stderr.
    pub fn start_logged(
        namespace: Option<&str>,
        listen: &str,
        args: &[&str],
        log: Option<&std::path::Path>,
    ) -> Served {
        let mut command = match namespace {
            Some(namespace) => {
                let mut command = Command::new("ip");
                command
                    .args(["netns", "exec", namespace])
                    .arg(super::registry_exe());
                command
            }
            None => Command::new(super::registry_exe()),
        };
        let mut child = command
            .arg("serve")
            .args(["--listen", listen])
            .args(args)
            .env("REGISTRY_LOG", if log.is_some() { "info" } else { "warn" })
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .unwrap(),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("registry listening on ")
            .unwrap_or_else(|| {
                // Its reason is the end of its log (or of this test's stderr, with no log).
                let tail = log
                    .and_then(|path| std::fs::read_to_string(path).ok())
                    .map(|text| {
                        let lines: Vec<&str> = text.lines().collect();
                        lines[lines.len().saturating_sub(5)..].join("\n")
                    })
                    .unwrap_or_default();
                panic!(
                    "registry serve --listen {listen} did not start (first line {line:?}; \
                     {:?}): {tail}",
                    child.wait()
                )
            })
            .to_owned();
        Served {
            child,
            url,
            _stdout: stdout,
        }
    }
}

impl Served {
    /// SIGTERM, then the exit status: the registry drains and exits cleanly.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Served {
    /// The registry's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the instance dies at once, mid-request (a crash, a pulled plug).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Already reaped (stopped or killed): its pid may belong to another process by now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
