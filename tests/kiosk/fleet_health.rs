//! Fleet health through the real binaries over loopback: `kiosk sync --once` carries a signed
//! heartbeat (version, model pack, queue, the device-free checks) inside its fleet request;
//! `registry serve` keeps the latest per terminal and shows it on `/metrics` and in
//! `registry terminal list`; a terminal that falls silent turns stale. The fault is the demo's
//! `disk-full` flag (`kiosk diag inject`), which the outbox's disk measure obeys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use crate::common::served::Served;
use crate::common::terminal::text;
use crate::virtual_id::{registered_terminal, registry};

/// `GET url` over plain HTTP (loopback): the body.
pub(crate) fn get(url: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = enroll_sync::http_client(None);
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), 200, "GET {url}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    })
}

/// The value of the series `series` (name and labels exactly) in a Prometheus text.
pub(crate) fn sample(metrics: &str, series: &str) -> Option<String> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::to_owned)
    })
}

#[test]
fn an_injected_fault_shows_on_the_registry_metrics_after_one_sync_and_a_silent_terminal_turns_stale()
 {
    let (terminal, db, keys) = registered_terminal();
    let served = Served::start(&["--db", &db, "--keys", &keys, "--stale-after-s", "4"]);
    let metrics_url = format!("{}/metrics", served.url);

    // Registered, never heard from: down, and nothing else claimed about it.
    let before = get(&metrics_url);
    assert_eq!(
        sample(&before, "registry_terminal_up{terminal=\"DEMO-0001\"}").as_deref(),
        Some("0")
    );
    assert_eq!(
        sample(
            &before,
            "registry_terminal_check{terminal=\"DEMO-0001\",check=\"storage\"}"
        ),
        None
    );

    // One sync: the terminal reports itself healthy.
    terminal.enroll(2);
    let synced = terminal.sync_once(&served.url);
    assert!(synced.status.success(), "{}", text(&synced));
    let healthy = get(&metrics_url);
    assert_eq!(
        sample(&healthy, "registry_terminal_up{terminal=\"DEMO-0001\"}").as_deref(),
        Some("1")
    );
    for check in ["storage", "queue", "crypto", "audit"] {
        assert_eq!(
            sample(
                &healthy,
                &format!("registry_terminal_check{{terminal=\"DEMO-0001\",check=\"{check}\"}}")
            )
            .as_deref(),
            Some("0"),
            "{check} in\n{healthy}"
        );
    }
    assert_eq!(
        sample(
            &healthy,
            &format!(
                "registry_terminal_info{{terminal=\"DEMO-0001\",version=\"{}\",model_pack=\"open\"}}",
                env!("CARGO_PKG_VERSION")
            )
        )
        .as_deref(),
        Some("1"),
        "{healthy}"
    );
    // Both records went before the fleet request: nothing left in the queue.
    assert_eq!(
        sample(
            &healthy,
            "registry_terminal_queue_depth{terminal=\"DEMO-0001\"}"
        )
        .as_deref(),
        Some("0")
    );

    // The disk fills up (the demo's flag): the next sync says so.
    let injected = terminal.run(&["diag", "inject", "disk-full"]);
    assert!(injected.status.success(), "{}", text(&injected));
    let synced = terminal.sync_once(&served.url);
    assert!(synced.status.success(), "{}", text(&synced));
    let failing = get(&metrics_url);
    assert_eq!(
        sample(
            &failing,
            "registry_terminal_check{terminal=\"DEMO-0001\",check=\"storage\"}"
        )
        .as_deref(),
        Some("2"),
        "{failing}"
    );
    let list = registry(&["terminal", "list", "--db", &db]);
    let listed = text(&list);
    assert!(list.status.success(), "{listed}");
    let line = listed
        .lines()
        .find(|line| line.starts_with("DEMO-0001"))
        .unwrap();
    assert!(line.contains(" fail "), "{listed}");
    assert!(line.contains("storage fail"), "{listed}");
    assert!(line.contains("pack open"), "{listed}");

    // Cleared, and the terminal then falls silent: it turns stale once the stale time passes.
    assert!(
        terminal
            .run(&["diag", "inject", "--clear"])
            .status
            .success()
    );
    let synced = terminal.sync_once(&served.url);
    assert!(synced.status.success(), "{}", text(&synced));
    let recovered = get(&metrics_url);
    assert_eq!(
        sample(
            &recovered,
            "registry_terminal_check{terminal=\"DEMO-0001\",check=\"storage\"}"
        )
        .as_deref(),
        Some("0")
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = get(&metrics_url);
        if sample(&now, "registry_terminal_up{terminal=\"DEMO-0001\"}").as_deref() == Some("0") {
            break;
        }
        assert!(Instant::now() < deadline, "never turned stale:\n{now}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let list = registry(&["terminal", "list", "--db", &db, "--stale-after-s", "4"]);
    let listed = text(&list);
    let line = listed
        .lines()
        .find(|line| line.starts_with("DEMO-0001"))
        .unwrap();
    assert!(line.contains(" stale "), "{listed}");
    let json = registry(&[
        "terminal",
        "list",
        "--db",
        &db,
        "--json",
        "--stale-after-s",
        "4",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["liveness"], "stale");
    assert_eq!(rows[0]["heartbeat"]["model_pack"], "open");
    served.stop();
}

#[test]
fn a_heartbeat_not_signed_by_the_terminal_is_refused_and_not_kept() {
    let (terminal, db, keys) = registered_terminal();
    let served = Served::start(&["--db", &db, "--keys", &keys]);
    let key = enroll_crypto::records::TerminalSigningKey::from_pem(
        &std::fs::read_to_string(terminal.key("terminal-signing.key")).unwrap(),
    )
    .unwrap();
    let at = enroll_kiosk::clock::now().as_i64();
    let honest = enroll_protocol::heartbeat::Heartbeat {
        version: "0.1.0".into(),
        model_pack: "open".into(),
        queue_depth: 0,
        oldest_unsent_age_ms: None,
        checks: [(
            "storage".to_owned(),
            enroll_protocol::heartbeat::CheckState::Ok,
        )]
        .into(),
    }
    .to_json();
    // Signed over the honest heartbeat, sent with a forged one.
    let proof = key.sign(&enroll_protocol::fleet_request_message(
        "DEMO-0001",
        at,
        Some(&honest),
    ));
    let forged = honest.replace("\"ok\"", "\"fail\"");
    let request = enroll_protocol::FleetRequest {
        at_unix_ms: at,
        proof_base64: enroll_core::domain::document::base64_bytes::encode(&proof),
        heartbeat_json: Some(forged),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let client = enroll_sync::http_client(None);
        let request = hyper::Request::post(format!("{}/v1/terminals/DEMO-0001/fleet", served.url))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                serde_json::to_vec(&request).unwrap(),
            )))
            .unwrap();
        client.request(request).await.unwrap().status().as_u16()
    });
    assert_eq!(status, 401);
    let metrics = get(&format!("{}/metrics", served.url));
    assert_eq!(
        sample(&metrics, "registry_terminal_up{terminal=\"DEMO-0001\"}").as_deref(),
        Some("0"),
        "{metrics}"
    );
    served.stop();
}
