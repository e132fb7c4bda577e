//! The virtual ID end to end, through the real binaries over loopback: `kiosk enroll` → `kiosk
//! sync` → `registry serve --issue` (or `registry issue`) → `registry id tokens` as PNG + text →
//! `idverify trust sync` / `status sync` → `idverify verify`, offline once synced. Both tiers, both
//! profiles, supersession, revocation, and the records that get no identity.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common;
use common::served::Served;
use common::terminal::{Terminal, text};

use enroll_core::domain::card_read::Verification;
use enroll_core::domain::record::RecordId;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{TerminalSigningKey, seal};
use enroll_store::{GuardLimits, Outbox};

pub(crate) const ZONE: &str = "Asia/Shanghai";

pub(crate) fn registry(args: &[&str]) -> Output {
    Command::new(common::registry_exe())
        .args(args)
        .env("REGISTRY_TIME_ZONE", ZONE)
        .output()
        .unwrap()
}

/// A terminal registered in a fresh SQLite registry database: the terminal, the `--db` URL and
/// the key directory both share.
pub(crate) fn registered_terminal() -> (Terminal, String, String) {
    let terminal = Terminal::new();
    let db = format!(
        "sqlite:{}",
        terminal.dir.path().join("registry.sqlite").display()
    );
    terminal.add_to_registry(&db);
    let keys = terminal.dir.path().join("keys").display().to_string();
    (terminal, db, keys)
}

fn serve_args<'a>(db: &'a str, keys: &'a str) -> [&'a str; 7] {
    ["--db", db, "--keys", keys, "--issue", "--time-zone", ZONE]
}

/// A registry issuing virtual IDs for one terminal, an offline root, and a verifier's state.
pub(crate) struct Deployment {
    pub(crate) terminal: Terminal,
    /// The serving registry; `None` once stopped.
    pub(crate) served: Option<Served>,
    pub(crate) url: String,
    pub(crate) db: String,
    pub(crate) root: tempfile::TempDir,
    pub(crate) verifier: tempfile::TempDir,
}

impl Deployment {
    pub(crate) fn start(tier: &str) -> Deployment {
        let (terminal, db, keys) = registered_terminal();
        if tier == "officer" {
            let path = terminal.dir.path().join("kiosk.toml");
            let config = std::fs::read_to_string(&path)
                .unwrap()
                .replace("tier = \"self-service\"", "tier = \"officer\"");
            std::fs::write(path, config).unwrap();
        }
        let served = Served::start(&serve_args(&db, &keys));
        // The root lives elsewhere (removable media); the list it signs goes beside the keys.
        let root = tempfile::tempdir().unwrap();
        let made = registry(&[
            "trust-list",
            "root-keygen",
            "--out",
            root.path().to_str().unwrap(),
        ]);
        assert!(made.status.success(), "{}", text(&made));
        let signed = registry(&[
            "trust-list",
            "sign",
            "--root-key",
            root.path().join("trust-root.key").to_str().unwrap(),
            "--keys",
            &keys,
            "--public-url",
            &served.url,
        ]);
        assert!(signed.status.success(), "{}", text(&signed));
        Deployment {
            terminal,
            url: served.url.clone(),
            served: Some(served),
            db,
            root,
            verifier: tempfile::tempdir().unwrap(),
        }
    }

    /// Stops the registry and starts it again on the same address (phones keep their origin).
    pub(crate) fn restart(&mut self) {
        if let Some(served) = self.served.take() {
            served.stop();
        }
        let keys = self.keys();
        let address = self.url.trim_start_matches("http://").to_owned();
        self.served = Some(Served::start_at(&address, &serve_args(&self.db, &keys)));
    }

    /// Stops the registry (the network is gone, as far as phones and terminals can tell).
    pub(crate) fn stop(&mut self) {
        if let Some(served) = self.served.take() {
            assert!(served.stop().success());
        }
    }

    /// The registry's key directory.
    pub(crate) fn keys(&self) -> String {
        self.terminal.dir.path().join("keys").display().to_string()
    }

    /// Enrolls `count` applicants with the fixture card, syncs, and waits for each identity.
    pub(crate) fn enroll_and_sync(&self, count: u32) -> Vec<String> {
        let ids = self.terminal.enroll(count);
        let sync = self.terminal.sync_once(&self.url);
        assert!(sync.status.success(), "{}", text(&sync));
        for id in &ids {
            self.identity(id);
        }
        ids
    }

    /// Waits until the issuer beside the server decided `record`, and returns `registry id show`.
    pub(crate) fn identity(&self, record: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shown = registry(&["id", "show", record, "--db", &self.db, "--json"]);
            if shown.status.success() {
                return serde_json::from_slice(&shown.stdout).unwrap();
            }
            let message = text(&shown);
            assert!(
                message.contains("not decided yet") && Instant::now() < deadline,
                "{message}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The first day's tokens of `record` as files: DAY-PROFILE.png and .txt.
    pub(crate) fn tokens(&self, record: &str) -> PathBuf {
        let out = self.verifier.path().join(format!("tokens-{record}"));
        let written = registry(&[
            "id",
            "tokens",
            record,
            "--db",
            &self.db,
            "--days",
            "1",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(written.status.success(), "{}", text(&written));
        out
    }

    pub(crate) fn idverify(&self, args: &[&str]) -> Output {
        Command::new(common::workspace_exe("idverify"))
            .arg("--state")
            .arg(self.verifier.path().join("state"))
            .args(args)
            .output()
            .unwrap()
    }

    pub(crate) fn sync_lists(&self) {
        let root = self.root.path().join("trust-root.pub");
        let trust = self.idverify(&[
            "trust",
            "sync",
            &self.url,
            "--root-key",
            root.to_str().unwrap(),
        ]);
        assert!(trust.status.success(), "{}", text(&trust));
        let status = self.idverify(&["status", "sync"]);
        assert!(status.status.success(), "{}", text(&status));
    }

    /// `idverify verify --json` of a token file (PNG or text).
    pub(crate) fn verify(&self, token: &Path) -> (i32, serde_json::Value) {
        let argument = if token.extension().is_some_and(|e| e == "txt") {
            std::fs::read_to_string(token).unwrap().trim().to_owned()
        } else {
            token.to_str().unwrap().to_owned()
        };
        let output = self.idverify(&["verify", &argument, "--json"]);
        let json = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("not JSON: {}", text(&output)));
        (output.status.code().unwrap(), json)
    }
}

/// The one file in `dir` whose name ends with `suffix`.
pub(crate) fn file_ending(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

#[test]
fn a_self_service_enrollment_becomes_a_light_id_that_verifies_offline_until_revoked() {
    let deployment = Deployment::start("self-service");
    let ids = deployment.enroll_and_sync(1);
    let identity = deployment.identity(&ids[0]);
    assert_eq!(identity["identity"]["tier"], "light");
    assert_eq!(identity["identity"]["state"], "active");
    assert_eq!(identity["tokens_outstanding"], 14, "7 days x 2 profiles");

    let tokens = deployment.tokens(&ids[0]);
    deployment.sync_lists();
    // From the PNG, as a verifier's scanner sees it: the basic profile discloses no name.
    let (code, basic) = deployment.verify(&file_ending(&tokens, "-basic.png"));
    assert_eq!(code, 0, "{basic}");
    assert_eq!(basic["token"]["tier"], "light");
    assert_eq!(basic["token"]["profile"], "basic");
    assert_eq!(basic["token"]["full_name"], serde_json::Value::Null);
    assert_eq!(basic["token"]["age_over_18"], true);
    let (code, check_in) = deployment.verify(&file_ending(&tokens, "-check-in.txt"));
    assert_eq!(code, 0, "{check_in}");
    assert!(
        check_in["token"]["full_name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert_eq!(
        check_in["token"]["birth_yyyymmdd"].as_str().map(str::len),
        Some(8)
    );
    let text_token = std::fs::read_to_string(file_ending(&tokens, "-check-in.txt")).unwrap();
    eprintln!(
        "{}",
        text(&deployment.idverify(&["inspect", text_token.trim()]))
    );
    assert!(
        text_token.trim().len() <= 1_300,
        "{} characters",
        text_token.trim().len()
    );

    // Revoked at the registry; the verifier learns it at its next status sync.
    let revoked = registry(&["id", "revoke", &ids[0], "--db", &deployment.db, "--json"]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let status = deployment.idverify(&["status", "sync"]);
    assert!(status.status.success(), "{}", text(&status));
    // With no network at all: the registry is gone, the verifier still decides.
    let mut deployment = deployment;
    drop(deployment.served.take());
    let (code, after) = deployment.verify(&file_ending(&tokens, "-basic.png"));
    assert_eq!(code, 1, "{after}");
    assert_eq!(after["reason"], "revoked");
    // The record is kept; the identity says it was revoked.
    let shown = registry(&["id", "show", &ids[0], "--db", &deployment.db, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["identity"]["state"], "revoked");
    // The verifier's log holds outcomes and hashes only.
    let log = std::fs::read_to_string(deployment.verifier.path().join("state/verifications.log"))
        .unwrap();
    assert_eq!(log.lines().count(), 3);
    let name = check_in["token"]["full_name"].as_str().unwrap();
    assert!(!log.contains(name), "{log}");
}

#[test]
fn an_officer_enrollment_is_strict_and_a_newer_enrollment_of_the_same_card_supersedes_it() {
    let deployment = Deployment::start("officer");
    // Two enrollments of the same card, one after the other.
    let ids = deployment.enroll_and_sync(2);
    let newer = deployment.identity(&ids[1]);
    let older = deployment.identity(&ids[0]);
    assert_eq!(newer["identity"]["tier"], "strict");
    assert_eq!(newer["identity"]["state"], "active");
    assert_eq!(older["identity"]["state"], "superseded");
    assert_eq!(older["tokens_outstanding"], 0);

    let tokens = deployment.tokens(&ids[1]);
    deployment.sync_lists();
    for profile in ["-basic.png", "-check-in.png"] {
        let (code, verdict) = deployment.verify(&file_ending(&tokens, profile));
        assert_eq!(code, 0, "{verdict}");
        assert_eq!(verdict["token"]["tier"], "strict");
    }
}

#[test]
fn the_old_tokens_of_a_superseded_identity_are_refused_as_revoked() {
    let deployment = Deployment::start("self-service");
    let first = deployment.enroll_and_sync(1);
    let old_tokens = deployment.tokens(&first[0]);
    // Later the same card is enrolled again.
    let second = deployment.enroll_and_sync(1);
    assert_eq!(
        deployment.identity(&second[0])["identity"]["state"],
        "active"
    );
    deployment.sync_lists();
    let (code, verdict) = deployment.verify(&file_ending(&old_tokens, "-basic.txt"));
    assert_eq!(code, 1, "{verdict}");
    assert_eq!(verdict["reason"], "revoked");
}

#[test]
fn an_unverified_card_or_a_non_match_without_override_gets_no_identity() {
    let deployment = Deployment::start("officer");
    // Records the kiosk's command line would not make: written straight into its outbox.
    let key = TerminalSigningKey::from_pem(
        &std::fs::read_to_string(deployment.terminal.key("terminal-signing.key")).unwrap(),
    )
    .unwrap();
    let registry_key =
        enroll_crypto::keys::read_sealing_public(&deployment.terminal.key("registry-sealing.pub"))
            .unwrap();
    let mut outbox = Outbox::open(&deployment.terminal.outbox_path()).unwrap();
    let limits = GuardLimits {
        min_free_disk_mb: 0,
        max_unsent_records: 1_000,
        max_unsent_age_days: 30,
    };
    let now = UnixMs(1_796_600_000_000);
    let mut ids = Vec::new();
    for n in 1..=2u8 {
        let id = RecordId::v7(now, [n; 10]);
        let mut draft = common::sample_draft(id, "DEMO-0001", now);
        if n == 1 {
            draft.card_verification = Verification::NotVerified {
                reason: "the chip has no EF.SOD".into(),
            };
        } else {
            draft.face.is_match = false;
            draft.face.score_cosine = Some(0.12);
        }
        let sealed = seal(&registry_key, &id, b"{}", [n; 32]).unwrap();
        outbox
            .commit_enrollment(draft, sealed, &key, "officer:badge-7", now, &limits)
            .unwrap();
        ids.push(id.to_string());
    }
    drop(outbox);
    let sync = deployment.terminal.sync_once(&deployment.url);
    assert!(sync.status.success(), "{}", text(&sync));
    for (id, reason) in ids.iter().zip(["card-not-verified", "face-not-matched"]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shown = registry(&["id", "show", id, "--db", &deployment.db]);
            let message = text(&shown);
            assert!(!shown.status.success(), "{message}");
            if message.contains(reason) {
                break;
            }
            assert!(Instant::now() < deadline, "{message}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn registry_issue_decides_each_record_once_however_often_it_runs() {
    let (terminal, db, keys) = registered_terminal();
    let served = Served::start(&["--db", &db, "--keys", &keys]);
    let ids = terminal.enroll(2);
    assert!(terminal.sync_once(&served.url).status.success());
    let issue = |expected: &str| {
        let output = registry(&[
            "issue",
            "--db",
            &db,
            "--keys",
            &keys,
            "--public-url",
            &served.url,
            "--once",
        ]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains(expected), "{}", text(&output));
    };
    // The wrong key directory (another registry's keys): nothing is decided, nothing is lost.
    let other = tempfile::tempdir().unwrap();
    let other_keys = other.path().join("keys");
    assert!(
        registry(&["keygen", "--out", other_keys.to_str().unwrap()])
            .status
            .success()
    );
    let wrong = registry(&[
        "issue",
        "--db",
        &db,
        "--keys",
        other_keys.to_str().unwrap(),
        "--public-url",
        &served.url,
        "--once",
    ]);
    assert!(wrong.status.success(), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("2 record(s) left waiting")
            && text(&wrong).contains("registry-sealing.key"),
        "{}",
        text(&wrong)
    );
    issue("issued 2 identities (28 tokens), refused 0, superseded 1");
    issue("issued 0 identities (0 tokens), refused 0, superseded 0");
    let shown = registry(&["id", "show", &ids[1], "--db", &db, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["tokens_outstanding"], 14);
}

#[test]
fn an_issuer_killed_mid_pass_issues_nothing_twice_and_loses_nothing() {
    let (terminal, db, keys) = registered_terminal();
    let db_path = terminal.dir.path().join("registry.sqlite");
    let served = Served::start(&["--db", &db, "--keys", &keys]);
    let records = 12;
    terminal.enroll(records);
    assert!(terminal.sync_once(&served.url).status.success());
    let issue_args = [
        "issue",
        "--db",
        &db,
        "--keys",
        &keys,
        "--public-url",
        &served.url,
    ];
    // SIGKILL the issuer at several points of its first passes.
    for delay_ms in [15, 40, 70, 110, 160] {
        let mut child = Command::new(common::registry_exe())
            .args(issue_args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let finish = registry(&[&issue_args[..], &["--once"]].concat());
    assert!(finish.status.success(), "{}", text(&finish));

    let connection = rusqlite::Connection::open(&db_path).unwrap();
    let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM issuance"), i64::from(records));
    assert_eq!(count("SELECT count(*) FROM identities"), i64::from(records));
    // Every identity has its whole batch, once; one of the same card's identities is active.
    assert_eq!(
        count("SELECT count(*) FROM tokens"),
        i64::from(records) * 14
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM (SELECT identity_id FROM tokens GROUP BY identity_id HAVING count(*) <> 14)"
        ),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM identities WHERE state = 'active'"),
        1
    );
    assert_eq!(count("SELECT count(*) FROM tokens WHERE revoked = 0"), 14);
}

#[test]
fn re_issuing_revokes_the_outstanding_batch_and_the_new_one_verifies() {
    let deployment = Deployment::start("self-service");
    let ids = deployment.enroll_and_sync(1);
    let old = deployment.tokens(&ids[0]);
    let keys = deployment.terminal.dir.path().join("keys");
    let reissued = registry(&[
        "id",
        "tokens",
        &ids[0],
        "--db",
        &deployment.db,
        "--reissue",
        "--keys",
        keys.to_str().unwrap(),
        "--public-url",
        &deployment.url,
        "--batch-days",
        "3",
        "--json",
    ]);
    assert!(reissued.status.success(), "{}", text(&reissued));
    assert!(
        text(&reissued).contains("6 new tokens, 14 outstanding tokens revoked"),
        "{}",
        text(&reissued)
    );
    let new = deployment.verifier.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&reissued.stdout).unwrap();
    assert_eq!(rows.len(), 6, "3 days x 2 profiles");
    std::fs::write(new.join("first.txt"), rows[0]["text"].as_str().unwrap()).unwrap();
    deployment.sync_lists();
    let (code, verdict) = deployment.verify(&file_ending(&old, "-basic.txt"));
    assert_eq!(
        (code, &verdict["reason"]),
        (1, &serde_json::json!("revoked"))
    );
    let (code, verdict) = deployment.verify(&new.join("first.txt"));
    assert_eq!(code, 0, "{verdict}");
}
