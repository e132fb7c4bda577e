//! The terminal's signing key in a PKCS#11 token, against SoftHSM2 from Debian (a throw-away token
//! directory per test, `SOFTHSM2_CONF`): `kiosk keygen --token` makes an Ed25519 key pair inside
//! it, `kiosk provision` registers it, records signed through `CKM_EDDSA` verify at the registry,
//! and a wrong PIN is a clear error with nothing committed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::root;
use crate::common::served::Served;
use crate::common::terminal::{Terminal, text};
use crate::virtual_id::registry;

/// Debian's SoftHSM2 module (`softhsm2`, installed by scripts/setup.sh).
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const USER_PIN: &str = "284719";

/// A SoftHSM2 token store of its own, with one token labelled `enroll` initialised.
struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    fn new() -> SoftHsm {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let hsm = SoftHsm { dir };
        let made = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", hsm.conf())
            .args([
                "--init-token",
                "--free",
                "--label",
                "enroll",
                "--pin",
                USER_PIN,
                "--so-pin",
                "90817263",
            ])
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", text(&made));
        std::fs::write(hsm.pin_file(), format!("{USER_PIN}\n")).unwrap();
        hsm
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn pin_file(&self) -> PathBuf {
        self.dir.path().join("token-pin")
    }

    fn uri(&self) -> String {
        format!(
            "pkcs11:token=enroll;object=terminal-signing?module-path={MODULE}&pin-source={}",
            self.pin_file().display()
        )
    }
}

/// `kiosk ARGS` for `terminal`, with the token store in the environment.
fn kiosk(terminal: &Terminal, hsm: &SoftHsm, args: &[&str]) -> Output {
    let config = terminal.dir.path().join("kiosk.toml");
    Command::new(env!("CARGO_BIN_EXE_kiosk"))
        .current_dir(root())
        .env_remove("KIOSK_CONFIG")
        .env("SOFTHSM2_CONF", hsm.conf())
        .arg("--config")
        .arg(&config)
        .args(args)
        .output()
        .unwrap()
}

/// The terminal's configuration with its key in the token instead of the file.
fn use_token(terminal: &Terminal, hsm: &SoftHsm) {
    let path = terminal.dir.path().join("kiosk.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed: String = text
        .lines()
        .map(|line| {
            if line.starts_with("signing_key_file") {
                format!("signing_key = \"{}\"\n", hsm.uri())
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_ne!(changed, text);
    std::fs::write(path, changed).unwrap();
}

fn enroll(terminal: &Terminal, hsm: &SoftHsm) -> Output {
    let fixture = |path: &str| root().join(path).display().to_string();
    kiosk(
        terminal,
        hsm,
        &[
            "enroll",
            "--document",
            &fixture("tests/fixtures/card-read-resident.json"),
            "--portrait",
            &fixture("tests/fixtures/faces/Anders_Fogh_Rasmussen_0001.jpg"),
            "--card-photo",
            &fixture("tests/fixtures/faces/Anders_Fogh_Rasmussen_0003.jpg"),
        ],
    )
}

fn record_count(outbox: &Path) -> i64 {
    if !outbox.exists() {
        return 0;
    }
    rusqlite::Connection::open(outbox)
        .unwrap()
        .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn a_record_signed_inside_a_softhsm2_token_verifies_at_the_registry_and_a_wrong_pin_commits_nothing()
 {
    let hsm = SoftHsm::new();
    let terminal = Terminal::new();
    use_token(&terminal, &hsm);

    // The key pair is made inside the token; only its public half comes out.
    let out = terminal.dir.path().join("token-pub");
    let made = kiosk(
        &terminal,
        &hsm,
        &["keygen", "--token", "--out", out.to_str().unwrap()],
    );
    assert!(made.status.success(), "{}", text(&made));
    assert!(!text(&made).contains(USER_PIN), "the PIN is never printed");
    let public = out.join("terminal-signing.pub");
    let again = kiosk(&terminal, &hsm, &["keygen", "--token"]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a key"),
        "{}",
        text(&again)
    );

    // Provisioning registers the token's key with a one-time code: no key file is made.
    let db = format!(
        "sqlite:{}",
        terminal.dir.path().join("registry.sqlite").display()
    );
    let keys = terminal.dir.path().join("keys").display().to_string();
    let served = Served::start(&["--db", &db, "--keys", &keys]);
    let code = crate::registry_cli::invite(&db, "DEMO-0001", "1");
    let provisioned = kiosk(
        &terminal,
        &hsm,
        &["provision", &served.url, "--code", &code],
    );
    assert!(provisioned.status.success(), "{}", text(&provisioned));
    assert!(
        text(&provisioned).contains("key kept in its token"),
        "{}",
        text(&provisioned)
    );
    let fingerprint = enroll_crypto::records::TerminalPublicKey::from_pem(
        &std::fs::read_to_string(&public).unwrap(),
    )
    .unwrap()
    .fingerprint();
    assert!(
        text(&provisioned).contains(&fingerprint),
        "{}",
        text(&provisioned)
    );
    let rotate = kiosk(
        &terminal,
        &hsm,
        &["keys", "rotate", "--registry", &served.url],
    );
    assert!(!rotate.status.success());
    assert!(
        text(&rotate).contains("key files only"),
        "{}",
        text(&rotate)
    );

    let enrolled = enroll(&terminal, &hsm);
    assert!(enrolled.status.success(), "{}", text(&enrolled));
    let id = String::from_utf8_lossy(&enrolled.stdout).trim().to_owned();
    let verified = kiosk(&terminal, &hsm, &["queue", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));

    // The registry checks the signature with the token's public key and acknowledges.
    let sync = kiosk(
        &terminal,
        &hsm,
        &["sync", "--once", "--registry", &served.url],
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(text(&sync).contains("acknowledged 1"), "{}", text(&sync));
    assert_eq!(terminal.status()["acknowledged"], 1);
    let opened = registry(&["open", &id, "--db", &db, "--keys", &keys]);
    assert!(opened.status.success(), "{}", text(&opened));

    let diag = kiosk(&terminal, &hsm, &["diag", "crypto", "--json"]);
    assert!(diag.status.success(), "{}", text(&diag));
    assert!(
        String::from_utf8_lossy(&diag.stdout).contains("in a PKCS#11 token"),
        "{}",
        text(&diag)
    );

    // The administrator moves the terminal to a second key pair in the token (a token replaced,
    // say): `registry terminal rotate`; the next record, signed by the new key, is acknowledged.
    let config = terminal.dir.path().join("kiosk.toml");
    let text_before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_before.replace("object=terminal-signing?", "object=terminal-signing-2?"),
    )
    .unwrap();
    let out2 = terminal.dir.path().join("token-pub-2");
    let made = kiosk(
        &terminal,
        &hsm,
        &["keygen", "--token", "--out", out2.to_str().unwrap()],
    );
    assert!(made.status.success(), "{}", text(&made));
    let new_public = out2.join("terminal-signing.pub");
    let rotate = || {
        registry(&[
            "terminal",
            "rotate",
            "--db",
            &db,
            "--id",
            "DEMO-0001",
            "--public-key",
            new_public.to_str().unwrap(),
        ])
    };
    let rotated = rotate();
    assert!(rotated.status.success(), "{}", text(&rotated));
    let again = rotate();
    assert!(
        text(&again).contains("current key already"),
        "{}",
        text(&again)
    );
    assert!(enroll(&terminal, &hsm).status.success());
    let sync = kiosk(
        &terminal,
        &hsm,
        &["sync", "--once", "--registry", &served.url],
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(terminal.status()["acknowledged"], 2);

    // A wrong PIN: a clear error naming the token, and nothing committed.
    std::fs::write(hsm.pin_file(), "000000\n").unwrap();
    let before = record_count(&terminal.outbox_path());
    let refused = enroll(&terminal, &hsm);
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(said.contains("refused the PIN"), "{said}");
    assert!(said.contains("\"enroll\""), "{said}");
    assert!(
        !said.contains("000000"),
        "the PIN is never repeated: {said}"
    );
    assert_eq!(record_count(&terminal.outbox_path()), before);
    let diag = kiosk(&terminal, &hsm, &["diag", "crypto"]);
    assert!(!diag.status.success());
    assert!(text(&diag).contains("refused the PIN"), "{}", text(&diag));
}
