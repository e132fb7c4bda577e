//! The identity reaching the holder, end to end through the real binaries over loopback: the
//! receipt's one-time activation code (`kiosk receipt make`), `POST /v1/holder/activate` and
//! `/v1/holder/tokens` on `registry serve`, the limits on wrong codes, and the holder page in a
//! real headless Chromium (chromedriver, WebDriver): activate from the receipt's link, see
//! today's QR, decode it from the screenshot and verify it with `idverify`, go offline, move the
//! browser's clock to the next day, see the next token, and refresh once back online.
//! Screenshots go to `target/holder-screens/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use crate::common;
use crate::virtual_id::Deployment;
use common::browser;
use common::terminal::text;
use enroll_core::domain::activation::{ALPHABET, ActivationCode};

/// POSTs JSON over plain HTTP; returns (status, Retry-After, body as JSON). On its own thread, so
/// the browser test may call it from inside its runtime.
fn post_json(url: &str, json: &serde_json::Value) -> (u16, Option<String>, serde_json::Value) {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("test-http".into())
            .spawn_scoped(scope, || post_json_here(url, json))
            .unwrap()
            .join()
            .unwrap()
    })
}

fn post_json_here(url: &str, json: &serde_json::Value) -> (u16, Option<String>, serde_json::Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = enroll_sync::http_client(None);
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(json.to_string())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
        (status, retry_after, json)
    })
}

/// The activation code and link `kiosk receipt make` reprints for `record`.
fn receipt_code(deployment: &Deployment, record: &str) -> (String, String) {
    let made = deployment.terminal.run(&["receipt", "make", record]);
    assert!(made.status.success(), "{}", text(&made));
    let printed = String::from_utf8(made.stdout).unwrap();
    let field = |name: &str| {
        printed
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {printed}"))
            .to_owned()
    };
    (field("activation code: "), field("activation link: "))
}

fn activate(deployment: &Deployment, code: &str) -> (u16, Option<String>, serde_json::Value) {
    post_json(
        &format!("{}/v1/holder/activate", deployment.url),
        &serde_json::json!({ "code": code }),
    )
}

fn tokens(deployment: &Deployment, secret: &str) -> (u16, serde_json::Value) {
    let (status, _, json) = post_json(
        &format!("{}/v1/holder/tokens", deployment.url),
        &serde_json::json!({ "holder_secret": secret }),
    );
    (status, json)
}

/// Well-formed codes (check character right) that share `code`'s lookup but are not it.
fn wrong_codes_like(code: &str, count: usize) -> Vec<String> {
    let plain: String = code.chars().filter(|c| *c != '-').collect();
    let mut found = Vec::new();
    for &a in ALPHABET.iter() {
        for &b in ALPHABET.iter() {
            let candidate = format!("{}{}{}", &plain[..10], char::from(a), char::from(b));
            if candidate != plain && ActivationCode::parse(&candidate).is_ok() {
                found.push(candidate);
            }
            if found.len() == count {
                return found;
            }
        }
    }
    found
}

#[test]
fn a_receipt_code_is_not_ready_until_issued_then_gives_the_batch_once() {
    let deployment = Deployment::start("self-service");
    let records = deployment.terminal.enroll(1);
    let (code, link) = receipt_code(&deployment, &records[0]);
    assert!(link.ends_with(&format!("/holder/#code={code}")), "{link}");

    // Still in the terminal's outbox: "not ready yet, try later", never a dead end.
    let (status, retry_after, answer) = activate(&deployment, &code);
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"], "not-ready");
    assert!(retry_after.is_some());
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("try again later")
    );

    let sync = deployment.terminal.sync_once(&deployment.url);
    assert!(sync.status.success(), "{}", text(&sync));
    deployment.identity(&records[0]);
    // The registry finds the identity by the receipt's short reference too.
    let made = deployment.terminal.run(&["receipt", "make", &records[0]]);
    let reference = String::from_utf8(made.stdout)
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("reference: ").map(str::to_owned))
        .unwrap();
    let shown =
        crate::virtual_id::registry(&["id", "show", &reference, "--db", &deployment.db, "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["identity"]["record_id"], records[0].as_str());

    // A typing mistake is caught by the check character.
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == '7' { '8' } else { '7' };
    let (status, _, answer) = activate(&deployment, &typo.iter().collect::<String>());
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("malformed-code"))
    );

    // Typed in lower case with spaces: the code works, once.
    let careless = code.to_lowercase().replace('-', " ");
    let (status, _, answer) = activate(&deployment, &careless);
    assert_eq!(status, 201, "{answer}");
    let secret = answer["holder_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let (status, _, answer) = activate(&deployment, &code);
    assert_eq!((status, answer["error"].as_str()), (410, Some("used")));

    // The batch: both profiles for every day, the light tier, a face thumbnail, QR modules.
    let (status, batch) = tokens(&deployment, &secret);
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["tier"], "light");
    assert!(batch["photo_jpeg_base64"].as_str().unwrap().len() > 400);
    let list = batch["tokens"].as_array().unwrap();
    assert_eq!(list.len(), 14, "7 days x 2 profiles");
    for profile in ["basic", "check-in"] {
        assert_eq!(list.iter().filter(|t| t["profile"] == profile).count(), 7);
    }
    // The modules the page draws are the token's QR: decoded, they give the token back, and
    // the token verifies offline.
    let token = &list[0];
    let drawn = draw_modules(token);
    let decoded = enroll_credential::qr::decode(&drawn);
    assert_eq!(decoded, vec![token["text"].as_str().unwrap().to_owned()]);
    deployment.sync_lists();
    let file = deployment.verifier.path().join("from-batch.txt");
    std::fs::write(&file, token["text"].as_str().unwrap()).unwrap();
    let (code_exit, verdict) = deployment.verify(&file);
    assert_eq!(code_exit, 0, "{verdict}");
    assert_eq!(verdict["outcome"], "valid", "{verdict}");

    // A secret nobody was given is refused; a revoked identity's holder is told it ended.
    let (status, answer) = tokens(&deployment, &"ab".repeat(32));
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unknown-holder"))
    );
    let revoked =
        crate::virtual_id::registry(&["id", "revoke", &records[0], "--db", &deployment.db]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let (status, answer) = tokens(&deployment, &secret);
    assert_eq!((status, answer["error"].as_str()), (410, Some("ended")));
}

/// The page's drawing of a token's modules, 4 px a module with the quiet zone, as grey pixels.
fn draw_modules(token: &serde_json::Value) -> enroll_credential::qr::GreyImage {
    let side = token["qr_side"].as_u64().unwrap() as usize;
    let packed =
        enroll_core::domain::document::base64_bytes::decode(token["qr_modules"].as_str().unwrap())
            .unwrap();
    let (quiet, px) = (4, 4);
    let width = (side + 2 * quiet) * px;
    let mut pixels = vec![255u8; width * width];
    for i in 0..side * side {
        if packed[i / 8] & (0x80 >> (i % 8)) != 0 {
            let (mx, my) = (i % side + quiet, i / side + quiet);
            for y in my * px..(my + 1) * px {
                pixels[y * width + mx * px..y * width + (mx + 1) * px].fill(0);
            }
        }
    }
    enroll_credential::qr::GreyImage {
        width,
        height: width,
        pixels,
    }
}

#[test]
fn wrong_codes_lock_the_code_after_ten_and_the_source_after_twenty() {
    let deployment = Deployment::start("self-service");
    let records = deployment.enroll_and_sync(1);
    let (code, _) = receipt_code(&deployment, &records[0]);
    let wrong = wrong_codes_like(&code, 20);
    assert_eq!(wrong.len(), 20);
    // Ten wrong tries against the code's lookup: each says only "not ready".
    for attempt in &wrong[..10] {
        let (status, _, answer) = activate(&deployment, attempt);
        assert_eq!((status, answer["error"].as_str()), (409, Some("not-ready")));
    }
    // Now even the right code is locked, and says so to the one who holds it.
    let (status, _, answer) = activate(&deployment, &code);
    assert_eq!(
        (status, answer["error"].as_str()),
        (423, Some("locked")),
        "{answer}"
    );
    // Ten more wrong tries from this address use up its 20; the next must wait.
    for attempt in &wrong[10..] {
        let (status, _, _) = activate(&deployment, attempt);
        assert_eq!(status, 409);
    }
    let (status, retry_after, answer) = activate(&deployment, &wrong[0]);
    assert_eq!(
        (status, answer["error"].as_str()),
        (429, Some("too-many-tries"))
    );
    let wait_s: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait_s), "{wait_s}");
}

// ---- the holder page in headless Chromium ----

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    command: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

fn screens_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/holder-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn js(client: &fantoccini::Client, script: &str) -> serde_json::Value {
    client.execute(script, Vec::new()).await.unwrap()
}

/// Waits until `script` returns `true` in the page.
async fn until(client: &fantoccini::Client, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if js(client, script).await == serde_json::Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Screenshots the page into `name`.png and returns its path.
async fn screenshot(client: &fantoccini::Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap();
    let path = screens_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

const SHOWN_DAY: &str = "return document.getElementById('qr').dataset.day || null";

#[test]
fn the_holder_page_activates_shows_todays_qr_and_keeps_working_offline_into_the_next_day() {
    let mut deployment = Deployment::start("self-service");
    let records = deployment.enroll_and_sync(1);
    let (code, link) = receipt_code(&deployment, &records[0]);
    deployment.sync_lists();
    let driver = browser::Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = browser::connect(&driver, profile.path(), (600, 1200)).await;

        // The phone's camera opens the receipt's link (this terminal's configuration names
        // another registry address, so the same path and code on the test's registry): the page
        // activates by itself.
        let (_, path_and_code) = link.split_once("/holder/").unwrap();
        client
            .goto(&format!("{}/holder/{path_and_code}", deployment.url))
            .await
            .unwrap();
        until(&client, "return !document.getElementById('card').hidden && document.getElementById('qr').dataset.day !== undefined", "the QR after activation").await;
        let today = js(&client, SHOWN_DAY).await;
        let shot = screenshot(&client, "1-activated-today").await;
        let (exit, verdict) = deployment.verify(&shot);
        assert_eq!(exit, 0, "{verdict}");
        let today_from = verdict["token"]["valid_from"].as_str().unwrap().to_owned();
        assert_eq!(verdict["outcome"], "valid", "{verdict}");
        assert_eq!(verdict["token"]["profile"], "basic", "{verdict}");
        // The code is spent: the link is gone from the address bar.
        assert_eq!(js(&client, "return location.hash").await, "");
        let (status, _, _) = activate(&deployment, &code);
        assert_eq!(status, 410);

        // The check-in profile shows its own QR, with the face.
        client
            .find(fantoccini::Locator::Css("[data-profile='check-in']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "return document.getElementById('qr').dataset.profile === 'check-in'", "the check-in QR").await;
        let shot = screenshot(&client, "2-check-in").await;
        let (_, verdict) = deployment.verify(&shot);
        assert_eq!(verdict["outcome"], "valid", "{verdict}");
        assert_eq!(verdict["token"]["profile"], "check-in", "{verdict}");

        // The page is in the service worker's hands before the network goes.
        until(&client, "return !!navigator.serviceWorker.controller", "the service worker").await;
        deployment.stop();

        // Offline, and the browser's clock a day on: the page opens from the phone and shows
        // the next day's token by itself.
        client
            .issue_cmd(Cdp {
                command: "Page.addScriptToEvaluateOnNewDocument",
                params: serde_json::json!({ "source": "(() => { const shift = 86400000; const Real = Date; \
                    class Shifted extends Real { constructor(...a) { if (a.length === 0) { super(Real.now() + shift); } else { super(...a); } } \
                    static now() { return Real.now() + shift; } } window.Date = Shifted; })();" }),
            })
            .await
            .unwrap();
        client.refresh().await.unwrap();
        until(&client, "return document.getElementById('qr').dataset.day !== undefined && document.getElementById('message').dataset.msg === 'holder-offline'", "the offline page").await;
        let tomorrow = js(&client, SHOWN_DAY).await;
        assert_ne!(tomorrow, today, "the QR changed with the day");
        let shot = screenshot(&client, "3-offline-next-day").await;
        // A genuine token, valid on the day the page shows (a verifier's clock at noon then).
        let noon = format!("{}T12:00:00+08:00", tomorrow.as_str().unwrap());
        let output = deployment.idverify(&["verify", shot.to_str().unwrap(), "--json", "--now", &noon]);
        let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(verdict["outcome"], "valid", "{verdict}");
        assert!(
            verdict["token"]["valid_from"].as_str().unwrap() > today_from.as_str(),
            "{verdict}"
        );

        // Back online: the page fetches the batch again by itself.
        let before = js(&client, "return JSON.parse(localStorage.getItem('enroll-holder-v1')).fetchedAt").await;
        deployment.restart();
        client.refresh().await.unwrap();
        until(
            &client,
            &format!("return JSON.parse(localStorage.getItem('enroll-holder-v1')).fetchedAt > {before}"),
            "the refresh once online",
        )
        .await;
        assert_eq!(js(&client, "return document.getElementById('message').dataset.msg").await, "");

        // In Chinese, with the kiosk's own word for the activation code.
        client
            .find(fantoccini::Locator::Css("[data-lang='zh']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&client, "return document.title === '您的身份'", "the Chinese page").await;
        screenshot(&client, "4-chinese").await;
        client.close().await.unwrap();
    });
}

/// The issuing keys from a `registry keygen` directory, as `registry serve --issue` reads them.
fn issuer_keys(dir: &Path) -> enroll_registry::issuer::IssuerKeys {
    let read = |name: &str| {
        enroll_crypto::keys::read_signing_key(&dir.join(format!("{name}.key")))
            .unwrap()
            .ed25519()
            .clone()
    };
    let secret = std::fs::read_to_string(dir.join("handle-secret.key")).unwrap();
    enroll_registry::issuer::IssuerKeys {
        strict: read("issuing-strict"),
        light: read("issuing-light"),
        handle_secret: enroll_credential::keys::unhex(secret.trim())
            .unwrap()
            .try_into()
            .unwrap(),
        sealing: enroll_crypto::keys::read_sealing_private(&dir.join("registry-sealing.key"))
            .unwrap()
            .0,
    }
}

#[test]
fn an_activated_batch_is_renewed_before_it_runs_out_and_the_tokens_out_stay_valid() {
    use enroll_registry::identities::{IdentityStore as _, Selector};
    let mut deployment = Deployment::start("self-service");
    let records = deployment.enroll_and_sync(1);
    deployment.stop();
    let db = deployment.db.strip_prefix("sqlite:").unwrap().to_owned();
    let storage = enroll_registry::storage::SqliteStorage::open(Path::new(&db)).unwrap();
    let keys = issuer_keys(Path::new(&deployment.keys()));
    let settings = enroll_registry::issuer::IssuerSettings {
        public_url: deployment.url.clone(),
        time_zone: jiff::tz::TimeZone::get("Asia/Shanghai").unwrap(),
        batch_days: 7,
    };
    let identity = |record: &str| {
        storage
            .find_identity(Selector::Record(record))
            .unwrap()
            .unwrap()
    };
    let days = |record: &str| {
        let tokens = storage.identity_tokens(&identity(record).id).unwrap();
        let mut days: Vec<String> = tokens
            .iter()
            .filter(|t| !t.revoked)
            .map(|t| t.day.clone())
            .collect();
        days.dedup();
        days
    };
    let before = days(&records[0]);
    assert_eq!(before.len(), 7);

    // Three days on, the batch still has four days: nothing to do.
    #[allow(clippy::disallowed_methods)] // the test moves the issuer's clock, not the machine's
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day_ms = 86_400_000;
    let pass = |at_ms: i64| {
        enroll_registry::issuer::run_pass(
            &storage,
            &keys,
            &settings,
            enroll_core::domain::time::UnixMs(at_ms),
            100,
        )
        .unwrap()
    };
    // Nobody put the identity on a phone yet: its batch is left to run out.
    assert_eq!(pass(now_ms + 5 * day_ms).renewed, 0);
    let (code, _) = receipt_code(&deployment, &records[0]);
    deployment.restart();
    let (status, _, answer) = activate(&deployment, &code);
    assert_eq!(status, 201, "{answer}");
    deployment.stop();
    // Activated. Three days on, the batch still has four days: nothing to do.
    assert_eq!(pass(now_ms + 3 * day_ms).renewed, 0);
    // Five days on it ends within two: a new batch follows its last day; the old tokens stay.
    let report = pass(now_ms + 5 * day_ms);
    assert_eq!(report.renewed, 1, "{report:?}");
    assert_eq!(report.tokens, 14);
    let after = days(&records[0]);
    assert_eq!(after.len(), 14);
    assert_eq!(after[..7], before[..]);
    // Run again (a second issuer, a restart): no second renewal.
    assert_eq!(pass(now_ms + 5 * day_ms).renewed, 0);
}

#[test]
fn the_verifier_screen_syncs_its_lists_itself_and_checks_a_phones_code() {
    let deployment = Deployment::start("officer");
    let records = deployment.enroll_and_sync(1);
    // Pinned once by its installer (root key and first trust list); the screen does the rest.
    deployment.sync_lists();
    let state_dir = deployment.verifier.path().join("state");
    std::fs::remove_dir_all(state_dir.join("status-lists")).unwrap();
    let mut app = enroll_idverify::gui::VerifierApp::start(
        enroll_idverify::gui::Inputs {
            dir: enroll_idverify::state::StateDir::locate(Some(state_dir)).unwrap(),
            camera: None,
            serial: None,
            ca_pem: None,
            sync: true,
            clock: std::sync::Arc::new(|| jiff::Timestamp::now().as_second()),
        },
        std::sync::Arc::new(|| {}),
    );
    let ctx = egui::Context::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !app.sync_status().starts_with("lists synced") {
        assert!(Instant::now() < deadline, "{}", app.sync_status());
        std::thread::sleep(Duration::from_millis(50));
        app.poll(&ctx);
    }
    assert!(!app.list_ages().status_stale);
    // A strict token needs fresh status lists: with them the answer is green.
    let tokens = deployment.tokens(&records[0]);
    let text = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with("check-in.txt"))
        .unwrap();
    app.check_text(&std::fs::read_to_string(text).unwrap());
    app.poll(&ctx);
    let shown = app.current().unwrap();
    assert_eq!(
        shown.light,
        enroll_idverify::scan::Light::Green,
        "{shown:?}"
    );
    assert_eq!(shown.tier, Some("Checked by an officer"));
}
