//! A terminal for end-to-end tests: its own keys (made by `kiosk keygen` and `registry keygen`),
//! the demo configuration pointed at them and at its own outbox, and the `kiosk` commands run
//! against it.

#![allow(dead_code)] // not every test file uses every helper
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};

use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{TerminalPublicKey, TerminalSigningKey};
use enroll_registry::storage::Storage;

use super::root;

/// A terminal with its own keys and outbox, and the registry's keys beside it.
pub struct Terminal {
    pub dir: tempfile::TempDir,
}

impl Terminal {
    pub fn new() -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        assert!(
            kiosk(&["keygen", "--out", keys.to_str().unwrap()])
                .status
                .success()
        );
        assert!(
            Command::new(super::registry_exe())
                .args(["keygen", "--out", keys.to_str().unwrap()])
                .output()
                .unwrap()
                .status
                .success()
        );
        let config = std::fs::read_to_string(root().join("kiosk-config/demo.toml"))
            .unwrap()
            .replace("demo-keys/", "keys/")
            .replace("../target/demo/outbox.sqlite", "outbox.sqlite")
            .replace("../target/demo/officers.toml", "officers.toml")
            // Each terminal its own fault flags (`kiosk diag inject`), not the demo's.
            .replace("\"../target/demo/faults\"", "\"faults\"")
            .replace(
                "\"../assets/models/packs\"",
                &format!("\"{}\"", root().join("assets/models/packs").display()),
            );
        // The demo's emulated printer is the demo's: a test terminal prints only when a test
        // gives it a printer.
        let config = match config.split_once("\n[printer]\n") {
            Some((head, rest)) => {
                let tail = rest
                    .split_once("\n[demo]")
                    .map_or(String::new(), |(_, demo)| {
                        format!(
                            "\n[demo]{}",
                            demo.replace("printed_dir = ", "# printed_dir = ")
                        )
                    });
                format!("{head}{tail}")
            }
            None => config,
        };
        std::fs::write(dir.path().join("kiosk.toml"), config).unwrap();
        Terminal { dir }
    }

    /// Makes the terminal trust the CA certificates in `ca_file` for an https:// registry.
    pub fn trust_registry_ca(&self, ca_file: &std::path::Path) {
        let path = self.dir.path().join("kiosk.toml");
        let config: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("tls_ca_file"))
            .map(|line| format!("{line}\n"))
            .collect();
        let config = config.replace(
            "[registry]\n",
            &format!("[registry]\ntls_ca_file = \"{}\"\n", ca_file.display()),
        );
        std::fs::write(path, config).unwrap();
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.dir.path().join("outbox.sqlite")
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join("keys").join(name)
    }

    pub fn receipt_key(&self) -> TerminalSigningKey {
        TerminalSigningKey::from_pem(
            &std::fs::read_to_string(self.key("registry-receipt.key")).unwrap(),
        )
        .unwrap()
    }

    pub fn terminal_public(&self) -> TerminalPublicKey {
        TerminalPublicKey::from_pem(
            &std::fs::read_to_string(self.key("terminal-signing.pub")).unwrap(),
        )
        .unwrap()
    }

    /// Registers the terminal's key with the registry's storage directly (as
    /// `registry terminal add` does).
    pub fn register(&self, storage: &dyn Storage) {
        storage
            .add_terminal(
                "DEMO-0001",
                self.terminal_public().to_bytes(),
                UnixMs::EPOCH,
            )
            .unwrap();
    }

    /// Names the terminal `id` (instead of DEMO-0001) in its configuration.
    pub fn rename(&self, id: &str) {
        let path = self.dir.path().join("kiosk.toml");
        let config = std::fs::read_to_string(&path)
            .unwrap()
            .replace("id = \"DEMO-0001\"", &format!("id = \"{id}\""));
        std::fs::write(path, config).unwrap();
    }

    /// The terminal id its configuration names.
    pub fn id(&self) -> String {
        let config = std::fs::read_to_string(self.dir.path().join("kiosk.toml")).unwrap();
        let table: toml::Table = config.parse().unwrap();
        table["terminal"]["id"].as_str().unwrap().to_owned()
    }

    /// Registers the terminal's key in the registry database `db` under its id with
    /// `registry terminal add` (the command an administrator runs).
    pub fn add_to_registry(&self, db: &str) {
        let id = self.id();
        let add = Command::new(super::registry_exe())
            .args(["terminal", "add", "--db", db, "--id", &id, "--public-key"])
            .arg(self.key("terminal-signing.pub"))
            .output()
            .unwrap();
        assert!(add.status.success(), "{}", text(&add));
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let config = self.dir.path().join("kiosk.toml");
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        kiosk(&all)
    }

    pub fn enroll(&self, count: u32) -> Vec<String> {
        let output = self.run(&[
            "enroll",
            "--document",
            root()
                .join("tests/fixtures/card-read-resident.json")
                .to_str()
                .unwrap(),
            "--portrait",
            root()
                .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg")
                .to_str()
                .unwrap(),
            "--card-photo",
            root()
                .join("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg")
                .to_str()
                .unwrap(),
            "--count",
            &count.to_string(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn sync_once(&self, registry_url: &str) -> Output {
        self.run(&["sync", "--once", "--registry", registry_url])
    }

    pub fn status(&self) -> serde_json::Value {
        let output = self.run(&["queue", "status", "--json"]);
        serde_json::from_slice(&output.stdout).unwrap()
    }

    pub fn outbox_rows(&self) -> Vec<OutboxRow> {
        let connection = rusqlite::Connection::open(self.dir.path().join("outbox.sqlite")).unwrap();
        let mut statement = connection
            .prepare("SELECT id, body, signature, sealed_payload FROM records ORDER BY seq")
            .unwrap();
        statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

/// (id, body, signature, sealed payload) of a stored record.
pub type OutboxRow = (String, Vec<u8>, Vec<u8>, Vec<u8>);

pub fn kiosk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        .args(args)
        .output()
        .unwrap()
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
