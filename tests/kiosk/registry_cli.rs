//! The `registry` binary as an operator runs it: HTTPS with a certificate from a throw-away CA
//! (made with openssl per test), PostgreSQL storage in a throw-away cluster, terminals registered
//! from the command line or over HTTPS with the admin token, and the `kiosk` binary syncing to it.
//! Nothing here talks to anything but loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use crate::common;

use enroll_crypto::records::TerminalSigningKey;

use std::path::Path;
use std::process::{Command, Output};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use common::pg::PgCluster;
use common::pki::Pki;
use common::served::Served;
use common::terminal::{Terminal, text};

fn registry(args: &[&str]) -> Output {
    Command::new(common::registry_exe())
        .args(args)
        .output()
        .unwrap()
}

fn keys(terminal: &Terminal) -> String {
    terminal.dir.path().join("keys").display().to_string()
}

#[test]
fn the_registry_serves_https_from_postgresql_and_the_kiosk_syncs_over_it() {
    let cluster = PgCluster::start();
    let db = cluster.url();
    let pki = Pki::new();
    let terminal = Terminal::new();
    terminal.trust_registry_ca(&pki.path("ca.pem"));
    terminal.add_to_registry(&db);
    let served = Served::start(&[
        "--db",
        &db,
        "--keys",
        &keys(&terminal),
        "--tls-cert",
        pki.path("server.pem").to_str().unwrap(),
        "--tls-key",
        pki.path("server.key").to_str().unwrap(),
    ]);
    assert!(
        served.url.starts_with("https://127.0.0.1:"),
        "{}",
        served.url
    );

    let ids = terminal.enroll(3);
    let sync = terminal.sync_once(&served.url);
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(
        text(&sync).contains("sent 3, acknowledged 3"),
        "{}",
        text(&sync)
    );
    assert_eq!(terminal.status()["acknowledged"], 3);

    // The records are in PostgreSQL: the registry opens the sealed biometrics of one of them.
    let open = registry(&["open", &ids[1], "--db", &db, "--keys", &keys(&terminal)]);
    assert!(open.status.success(), "{}", text(&open));
    let content: serde_json::Value = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(content["format"], "enroll-kiosk/sealed");
    let flagged = registry(&["flagged", "--db", &db]);
    assert!(flagged.status.success(), "{}", text(&flagged));
    assert!(flagged.stdout.is_empty(), "{}", text(&flagged));

    // The terminal is stolen: revoked at the registry, its next record is refused with the
    // reason (403, marked rejected at the terminal, not retried); the three before it stay.
    let revoke = registry(&[
        "terminal",
        "revoke",
        "--db",
        &db,
        "--id",
        "DEMO-0001",
        "--reason",
        "stolen from station 12",
    ]);
    assert!(revoke.status.success(), "{}", text(&revoke));
    let unknown = registry(&[
        "terminal", "revoke", "--db", &db, "--id", "NOPE-1", "--reason", "x",
    ]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("no terminal NOPE-1"),
        "{}",
        text(&unknown)
    );
    let later = terminal.enroll(1);
    let sync = terminal.sync_once(&served.url);
    assert!(text(&sync).contains("rejected 1"), "{}", text(&sync));
    let listed = terminal.run(&["queue", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let refused = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == later[0].as_str())
        .unwrap();
    assert_eq!(refused["state"], "rejected", "{refused}");
    assert!(
        refused["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("terminal revoked (stolen from station 12)")),
        "{refused}"
    );
    let terminals = registry(&["terminal", "list", "--db", &db, "--json"]);
    let terminals: serde_json::Value = serde_json::from_slice(&terminals.stdout).unwrap();
    assert_eq!(terminals[0]["id"], "DEMO-0001");
    assert_eq!(terminals[0]["records"], 3, "{terminals}");
    assert_eq!(terminals[0]["revoked"]["reason"], "stolen from station 12");
    let open = registry(&["open", &ids[0], "--db", &db, "--keys", &keys(&terminal)]);
    assert!(
        open.status.success(),
        "the records before the revocation stay readable"
    );

    // SIGTERM: the server drains and exits 0 (its PostgreSQL connections close cleanly).
    let status = served.stop();
    assert!(status.success(), "registry exited with {status}");
}

#[test]
fn a_registry_certificate_from_another_ca_is_refused_and_the_records_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let (pki, other) = (Pki::new(), Pki::new());
    let terminal = Terminal::new();
    terminal.trust_registry_ca(&other.path("ca.pem"));
    assert!(
        registry(&[
            "terminal",
            "add",
            "--db",
            &db,
            "--id",
            "DEMO-0001",
            "--public-key",
            terminal.key("terminal-signing.pub").to_str().unwrap(),
        ])
        .status
        .success()
    );
    let served = Served::start(&[
        "--db",
        &db,
        "--keys",
        &keys(&terminal),
        "--tls-cert",
        pki.path("server.pem").to_str().unwrap(),
        "--tls-key",
        pki.path("server.key").to_str().unwrap(),
    ]);
    terminal.enroll(2);
    let sync = terminal.sync_once(&served.url);
    assert!(!sync.status.success());
    assert!(text(&sync).contains("certificate"), "{}", text(&sync));
    assert_eq!(terminal.status()["pending"], 2);

    // Trusting the right CA, the same records go through.
    terminal.trust_registry_ca(&pki.path("ca.pem"));
    let sync = terminal.sync_once(&served.url);
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(terminal.status()["acknowledged"], 2);
}

#[test]
fn plain_http_is_refused_off_loopback_and_https_needs_a_ca_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let refused = registry(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--db",
        &db,
        "--keys",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--tls-cert"), "{}", text(&refused));

    let terminal = Terminal::new();
    terminal.enroll(1);
    let sync = terminal.sync_once("https://127.0.0.1:9");
    assert!(!sync.status.success());
    assert!(
        text(&sync).contains("registry.tls_ca_file"),
        "{}",
        text(&sync)
    );
    assert_eq!(terminal.status()["pending"], 1);
}

/// POSTs JSON over HTTPS trusting `ca`; returns (status, body).
fn post_json(url: &str, ca: &Path, token: Option<&str>, json: &serde_json::Value) -> (u16, String) {
    post_json_at(url, "/v1/terminals", ca, token, json)
}

fn post_json_at(
    url: &str,
    path: &str,
    ca: &Path,
    token: Option<&str>,
    json: &serde_json::Value,
) -> (u16, String) {
    let tls = enroll_protocol::tls::client_config(&std::fs::read(ca).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = enroll_sync::http_client(Some(tls));
        let mut request =
            hyper::Request::post(format!("{url}{path}")).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(json.to_string())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// GETs `path` over HTTPS trusting `ca`; returns (status, body).
fn get_at(url: &str, path: &str, ca: &Path, token: Option<&str>) -> (u16, String) {
    let tls = enroll_protocol::tls::client_config(&std::fs::read(ca).unwrap()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = enroll_sync::http_client(Some(tls));
        let mut request = hyper::Request::get(format!("{url}{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = client
            .request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

#[test]
fn terminals_are_registered_over_https_only_with_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let pki = Pki::new();
    let terminal = Terminal::new();
    terminal.trust_registry_ca(&pki.path("ca.pem"));
    let token = "9f2c4e1a7b3d5f6e8a0c2b4d6f8e0a1c3b5d7f9e";
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let keys_dir = keys(&terminal);
    let base = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "--db",
            &db,
            "--keys",
            &keys_dir,
            "--tls-cert",
            pki.path("server.pem").to_str().unwrap(),
            "--tls-key",
            pki.path("server.key").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    // A token too short to be safe is refused at start-up.
    let short = dir.path().join("short-token");
    std::fs::write(&short, "letmein\n").unwrap();
    let mut refused_args = vec!["serve".to_owned()];
    refused_args.extend(base(&["--admin-token-file", short.to_str().unwrap()]));
    let refused = registry(&refused_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("at least 32 characters"),
        "{}",
        text(&refused)
    );

    let serve_args = base(&["--admin-token-file", token_file.to_str().unwrap()]);
    let served = Served::start(&serve_args.iter().map(String::as_str).collect::<Vec<_>>());
    let registration = serde_json::json!({
        "id": "DEMO-0001",
        "public_key_pem": std::fs::read_to_string(terminal.key("terminal-signing.pub")).unwrap(),
    });
    let ca = pki.path("ca.pem");
    assert_eq!(post_json(&served.url, &ca, None, &registration).0, 401);
    assert_eq!(
        post_json(
            &served.url,
            &ca,
            Some("0000000000000000000000000000000000000000"),
            &registration
        )
        .0,
        401
    );
    let bad_key = serde_json::json!({ "id": "DEMO-0001", "public_key_pem": "not a key" });
    let (status, body) = post_json(&served.url, &ca, Some(token), &bad_key);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("public_key_pem"), "{body}");

    // Before registration the terminal is unknown; after it, its records are accepted.
    terminal.enroll(1);
    assert!(!terminal.sync_once(&served.url).status.success());
    let (status, body) = post_json(&served.url, &ca, Some(token), &registration);
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["id"], "DEMO-0001");
    let sync = terminal.sync_once(&served.url);
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(terminal.status()["acknowledged"], 1);

    // Revocation over HTTPS needs the admin token too. A record signed before it and delivered
    // after it is still taken; one signed after it is refused.
    let signed_before = terminal.enroll(1);
    let revoke = serde_json::json!({ "reason": "retired" });
    let path = "/v1/terminals/DEMO-0001/revoke";
    assert_eq!(post_json_at(&served.url, path, &ca, None, &revoke).0, 401);
    let (status, body) = post_json_at(&served.url, path, &ca, Some(token), &revoke);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("retired"), "{body}");
    let (status, _) = post_json_at(
        &served.url,
        "/v1/terminals/NOPE/revoke",
        &ca,
        Some(token),
        &revoke,
    );
    assert_eq!(status, 404);
    let signed_after = terminal.enroll(1);
    terminal.sync_once(&served.url);
    let status = terminal.status();
    assert_eq!(
        status["acknowledged"], 2,
        "{status} {signed_before:?} {signed_after:?}"
    );
    assert_eq!(status["rejected"], 1, "{status}");

    // The administrator invites a new terminal over HTTPS; it spends the code; the list shows both.
    let invite_path = "/v1/terminals/DEMO-0002/invite";
    let hours = serde_json::json!({ "valid_hours": 2 });
    assert_eq!(
        post_json_at(&served.url, invite_path, &ca, None, &hours).0,
        401
    );
    let (status, body) = post_json_at(&served.url, invite_path, &ca, Some(token), &hours);
    assert_eq!(status, 201, "{body}");
    let invited: serde_json::Value = serde_json::from_str(&body).unwrap();
    let code = invited["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 15, "4-4-5 with hyphens: {code}");
    let new_key = enroll_crypto::records::TerminalSigningKey::from_seed([9; 32]);
    let provision =
        serde_json::json!({ "code": code, "public_key_pem": new_key.public().to_pem() });
    let (status, body) = post_json_at(&served.url, "/v1/provision", &ca, None, &provision);
    assert_eq!(status, 201, "{body}");
    let (status, body) = post_json_at(&served.url, "/v1/provision", &ca, None, &provision);
    assert_ne!(status, 201, "a code is spent once: {body}");
    assert_eq!(get_at(&served.url, "/v1/terminals", &ca, None).0, 401);
    let (status, body) = get_at(&served.url, "/v1/terminals", &ca, Some(token));
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["id"], "DEMO-0001");
    assert_eq!(listed[0]["revoked"]["reason"], "retired");
    assert_eq!(listed[0]["records"], 2);
    assert_eq!(listed[1]["id"], "DEMO-0002");
    assert_eq!(listed[1]["key_fingerprint"], new_key.public().fingerprint());
    assert!(listed[1]["revoked"].is_null());
    drop(served);

    // Without --admin-token-file the endpoint is off.
    let serve_args = base(&[]);
    let served = Served::start(&serve_args.iter().map(String::as_str).collect::<Vec<_>>());
    let (status, body) = post_json(&served.url, &ca, Some(token), &registration);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--admin-token-file"), "{body}");
}

/// The one-time code of `registry terminal invite`, from its output.
pub(crate) fn invite(db: &str, id: &str, valid_hours: &str) -> String {
    let made = registry(&[
        "terminal",
        "invite",
        "--db",
        db,
        "--id",
        id,
        "--valid-hours",
        valid_hours,
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let said = text(&made);
    said.split("--code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no code in {said}"))
        .to_owned()
}

/// A new terminal without any key: the registry's keys live with the registry only.
fn bare_terminal(registry_keys: &Path) -> Terminal {
    let terminal = Terminal::new();
    let keys_dir = terminal.dir.path().join("keys");
    std::fs::create_dir_all(registry_keys).unwrap();
    for entry in std::fs::read_dir(&keys_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with("registry-") && !registry_keys.join(&name).exists() {
            std::fs::copy(&path, registry_keys.join(&name)).unwrap();
        }
        std::fs::remove_file(&path).unwrap();
    }
    terminal
}

/// A new terminal is set up with nothing but the registry's URL and a one-time code: its key is
/// made and registered, the registry's public keys arrive, and its records are accepted. A
/// mistyped, spent or expired code is refused with what to do, and nothing is written.
#[test]
fn a_new_terminal_is_provisioned_with_a_one_time_code_and_the_code_works_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let registry_keys = dir.path().join("registry-keys");
    let terminal = bare_terminal(&registry_keys);
    let served = Served::start(&["--db", &db, "--keys", registry_keys.to_str().unwrap()]);
    let code = invite(&db, "DEMO-0001", "72");

    // One character wrong: the check character catches it; no key is written.
    let mut chars: Vec<char> = code.chars().collect();
    chars[0] = if chars[0] == '7' { '8' } else { '7' };
    let mistyped: String = chars.into_iter().collect();
    let refused = terminal.run(&["provision", &served.url, "--code", &mistyped]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("mistyped"), "{}", text(&refused));
    assert!(!terminal.key("terminal-signing.key").exists());

    let provisioned = terminal.run(&["provision", &served.url, "--code", &code.to_lowercase()]);
    assert!(provisioned.status.success(), "{}", text(&provisioned));
    assert!(
        text(&provisioned).contains("provisioned as terminal DEMO-0001"),
        "{}",
        text(&provisioned)
    );
    for name in ["registry-sealing.pub", "registry-receipt.pub"] {
        assert_eq!(
            std::fs::read_to_string(terminal.key(name)).unwrap(),
            std::fs::read_to_string(registry_keys.join(name)).unwrap(),
            "{name}"
        );
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(terminal.key("terminal-signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    terminal.enroll(1);
    let sync = terminal.sync_once(&served.url);
    assert!(text(&sync).contains("acknowledged 1"), "{}", text(&sync));

    // The code is spent; an expired one never works.
    let second = bare_terminal(&registry_keys);
    let reused = second.run(&["provision", &served.url, "--code", &code]);
    assert!(!reused.status.success());
    assert!(text(&reused).contains("used before"), "{}", text(&reused));
    let expired = invite(&db, "DEMO-0002", "0");
    let late = second.run(&["provision", &served.url, "--code", &expired]);
    assert!(!late.status.success());
    assert!(text(&late).contains("expired"), "{}", text(&late));
    assert!(!second.key("terminal-signing.key").exists());
    // And a terminal that has a key is not provisioned over it.
    let again = terminal.run(&[
        "provision",
        &served.url,
        "--code",
        &invite(&db, "DEMO-0001", "1"),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already has a signing key"),
        "{}",
        text(&again)
    );
}

/// POSTs `json` to `url` over plain HTTP (loopback).
fn post_plain(url: &str, json: &serde_json::Value) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = enroll_sync::http_client(None);
        let (status, body) =
            enroll_sync::post_json(&client, url, json, std::time::Duration::from_secs(10))
                .await
                .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// `kiosk keys rotate`: the terminal proves its current key and the registry takes the next one;
/// a record signed before the rotation and sent after it is still accepted (the overlap), the
/// outbox verifies with both keys, and a reprint of the older record shows the same activation
/// code. A rotation without proof of the current key is refused.
#[test]
fn a_terminal_rotates_its_key_with_proof_and_its_older_records_stay_valid() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("registry.sqlite").display());
    let terminal = Terminal::new();
    terminal.add_to_registry(&db);
    let served = Served::start(&["--db", &db, "--keys", &keys(&terminal)]);
    let rotate_url = format!("{}/v1/terminals/DEMO-0001/rotate", served.url);

    // Without proof of the current key: someone else's signature is refused.
    let stranger = TerminalSigningKey::from_seed([5; 32]);
    let next = TerminalSigningKey::from_seed([6; 32]);
    let now_ms = enroll_kiosk::clock::now().as_i64();
    let message =
        enroll_protocol::rotation_message("DEMO-0001", &next.public().fingerprint(), now_ms);
    let forged = serde_json::json!({
        "new_public_key_pem": next.public().to_pem(),
        "signed_at_unix_ms": now_ms,
        "proof_base64": enroll_core::domain::document::base64_bytes::encode(&stranger.sign(&message)),
    });
    let (status, body) = post_plain(&rotate_url, &forged);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("current key"), "{body}");

    let before = terminal.enroll(1);
    let reprint_before = terminal.run(&["receipt", "make", &before[0]]);
    assert!(reprint_before.status.success(), "{}", text(&reprint_before));
    let old_public = std::fs::read_to_string(terminal.key("terminal-signing.pub")).unwrap();

    let rotated = terminal.run(&["keys", "rotate", "--registry", &served.url]);
    assert!(rotated.status.success(), "{}", text(&rotated));
    let new_public = std::fs::read_to_string(terminal.key("terminal-signing.pub")).unwrap();
    assert_ne!(old_public, new_public);
    let retired: Vec<_> = std::fs::read_dir(terminal.dir.path().join("keys"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("terminal-signing.key.retired-")
        })
        .collect();
    assert_eq!(retired.len(), 1, "the old key is kept for reprints");
    // Its public half checks the receipts it signed.
    let retired_public: Vec<_> = std::fs::read_dir(terminal.dir.path().join("keys"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name().is_some_and(|name| {
                name.to_string_lossy()
                    .starts_with("terminal-signing.pub.retired-")
            })
        })
        .collect();
    assert_eq!(retired_public.len(), 1);
    let old_receipt = String::from_utf8_lossy(&reprint_before.stdout)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let checked = terminal.run(&[
        "receipt",
        "verify",
        &old_receipt,
        "--public-key",
        retired_public[0].to_str().unwrap(),
    ]);
    assert!(checked.status.success(), "{}", text(&checked));

    // The record signed with the old key and one with the new key both arrive.
    terminal.enroll(1);
    let sync = terminal.sync_once(&served.url);
    assert!(text(&sync).contains("acknowledged 2"), "{}", text(&sync));
    let verify = terminal.run(&["queue", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let reprint_after = terminal.run(&["receipt", "make", &before[0]]);
    assert_eq!(
        text(&reprint_after),
        text(&reprint_before),
        "the same receipt and activation code after the rotation"
    );
    let terminals = registry(&["terminal", "list", "--db", &db, "--json"]);
    let terminals: serde_json::Value = serde_json::from_slice(&terminals.stdout).unwrap();
    let new_key = enroll_crypto::records::TerminalPublicKey::from_pem(&new_public).unwrap();
    assert_eq!(
        terminals[0]["key_fingerprint"],
        new_key.fingerprint().as_str()
    );
}
