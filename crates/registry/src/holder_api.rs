//! The holder's side of the registry over HTTP: `POST /v1/holder/activate` (a receipt's one-time
//! code for a holder secret), `POST /v1/holder/tokens` (the holder's current batch of daily
//! tokens, each with its QR modules), and the holder page under `/holder/` (static files and its
//! messages, rendered from Fluent). Wrong tries are limited per source address here and per code
//! in [`crate::holders`]. Answers never say whether a code exists; logs carry outcomes only.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use enroll_core::domain::activation::{ActivationCode, MAX_WRONG_TRIES};
use enroll_core::domain::document::base64_bytes;
use enroll_core::domain::time::UnixMs;
use enroll_credential::qr::{self, Medium};
use enroll_credential::token;

use crate::holders::{Activation, ActivationKey, Attempt, secret_hash};
use crate::identities::Selector;
use crate::server::RegistryState;

/// Failed tries one source address may make in [`SOURCE_WINDOW_MS`] before it must wait.
pub const DEFAULT_FAILURES_PER_SOURCE: u32 = 20;
/// The window failed tries are counted in.
pub const SOURCE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Source addresses remembered at most (the oldest are forgotten first).
const MAX_SOURCES: usize = 100_000;
/// The largest device public key accepted (bytes).
const MAX_DEVICE_KEY_BYTES: usize = 256;

/// What the holder routes need: the key codes are hashed with and the per-source counts.
pub struct HolderService {
    activation_key: ActivationKey,
    failures_per_source: u32,
    failures: Mutex<HashMap<IpAddr, VecDeque<i64>>>,
}

impl HolderService {
    /// Holder routes with `failures_per_source` failed tries allowed per address and window.
    pub fn new(activation_key: ActivationKey, failures_per_source: u32) -> HolderService {
        HolderService {
            activation_key,
            failures_per_source: failures_per_source.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `source` may try again, if it used up its failed tries.
    fn wait_s(&self, source: IpAddr, now: UnixMs) -> Option<i64> {
        let mut failures = self.failures.lock().ok()?;
        let times = failures.get_mut(&source)?;
        while times
            .front()
            .is_some_and(|&t| t <= now.as_i64() - SOURCE_WINDOW_MS)
        {
            times.pop_front();
        }
        let oldest = *times.front()?;
        (times.len() >= self.failures_per_source as usize)
            .then(|| ((oldest + SOURCE_WINDOW_MS - now.as_i64()) / 1000).max(1))
    }

    fn failed(&self, source: IpAddr, now: UnixMs) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() >= MAX_SOURCES && !failures.contains_key(&source) {
            let cutoff = now.as_i64() - SOURCE_WINDOW_MS;
            failures.retain(|_, times| times.back().is_some_and(|&t| t > cutoff));
            if failures.len() >= MAX_SOURCES {
                failures.clear();
            }
        }
        failures.entry(source).or_default().push_back(now.as_i64());
    }
}

/// The holder routes (merged into the registry's router).
pub fn routes() -> Router<RegistryState> {
    Router::new()
        .route("/v1/holder/activate", post(post_activate))
        .route("/v1/holder/tokens", post(post_tokens))
        .route(
            "/holder",
            get(|| async {
                (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, "/holder/")],
                )
            }),
        )
        .route("/holder/", get(|| async { page_file("index.html") }))
        .route(
            "/holder/{file}",
            get(|Path(file): Path<String>| async move { page_file(&file) }),
        )
}

/// The address a request came from (loopback when the server did not record it).
fn source(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip())
}

/// Lets a holder request in: the service, where it came from and the time, or the answer that
/// the registry serves no holders or that the source must wait.
fn admit(
    state: &RegistryState,
    extensions: &Extensions,
) -> Result<(Arc<HolderService>, IpAddr, UnixMs), Box<Response>> {
    let service = state
        .holders
        .clone()
        .ok_or_else(|| Box::new(not_offered()))?;
    let source = source(extensions);
    let now = (state.clock)();
    match service.wait_s(source, now) {
        Some(wait_s) => Err(Box::new(wait_answer(wait_s))),
        None => Ok((service, source, now)),
    }
}

/// A JSON answer `{error, message}` the page maps to its own words by `error`.
fn answer(status: StatusCode, error: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": error, "message": message });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn wait_answer(wait_s: i64) -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-tries",
        "Too many wrong tries from this network. Wait a while, then try again.",
    );
    if let Ok(value) = wait_s.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn unavailable(detail: impl std::fmt::Display) -> Response {
    tracing::error!(error = %detail, "holder request failed");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The registry cannot answer right now; try again later.",
    )
}

fn not_offered() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        "not-offered",
        "This registry does not serve holders (it has no handle secret in its key directory).",
    )
}

#[derive(Deserialize)]
struct ActivateRequest {
    code: String,
    #[serde(default)]
    device_public_key: Option<String>,
}

async fn post_activate(
    State(state): State<RegistryState>,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (service, source, now) = match admit(&state, &extensions) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let refuse = |status, error: &str, message: &str| {
        service.failed(source, now);
        answer(status, error, message)
    };
    let Ok(request) = serde_json::from_slice::<ActivateRequest>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Send JSON: {\"code\": \"XXXX-XXXX-XXXX\"}.",
        );
    };
    let code = match ActivationCode::parse(&request.code) {
        Ok(code) => code,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "malformed-code",
                &error.to_string(),
            );
        }
    };
    let device_public_key = match request
        .device_public_key
        .as_deref()
        .map(base64_bytes::decode)
    {
        None => None,
        Some(Some(key)) if !key.is_empty() && key.len() <= MAX_DEVICE_KEY_BYTES => Some(key),
        Some(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "malformed-device-key",
                "The device public key must be base64, 1 to 256 bytes.",
            );
        }
    };
    let Ok(secret) = enroll_crypto::keys::random_bytes::<32>() else {
        return unavailable("no randomness for a holder secret");
    };
    let code_hash = service.activation_key.code_hash(&code);
    let holder_secret_hash = secret_hash(&secret);
    let storage = Arc::clone(&state.storage);
    let lookup = code.lookup().to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        storage.activate(&Attempt {
            lookup: &lookup,
            code_hash: &code_hash,
            secret_hash: &holder_secret_hash,
            device_public_key: device_public_key.as_deref(),
            now_unix_ms: now,
        })
    })
    .await;
    let outcome = match outcome {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => return unavailable(error),
        Err(error) => return unavailable(error),
    };
    let label = match &outcome {
        Activation::Activated { .. } => "activated",
        Activation::NotKnown => "not-known",
        Activation::Locked => "locked",
        Activation::Used => "used",
        Activation::Expired => "expired",
        Activation::Ended => "ended",
    };
    tracing::info!(outcome = label, "activation tried");
    match outcome {
        Activation::Activated { .. } => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({
                "status": "activated",
                "holder_secret": enroll_credential::keys::hex(&secret),
            })
            .to_string(),
        )
            .into_response(),
        Activation::NotKnown => {
            let mut response = refuse(
                StatusCode::CONFLICT,
                "not-ready",
                "This code is not active yet. If you enrolled in the last few days, the \
                 enrollment may still be on its way to the registry: try again later. Otherwise \
                 compare the code with your receipt.",
            );
            if let Ok(value) = "600".parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Activation::Locked => answer(
            StatusCode::LOCKED,
            "locked",
            &format!(
                "This code was locked after {MAX_WRONG_TRIES} wrong tries. Ask at a police \
                 station."
            ),
        ),
        Activation::Used => answer(
            StatusCode::GONE,
            "used",
            "This code was used already; a code works once. If it was not you, ask at a police \
             station.",
        ),
        Activation::Expired => answer(
            StatusCode::GONE,
            "expired",
            "This code is older than 30 days. Enroll again at a police station.",
        ),
        Activation::Ended => answer(
            StatusCode::GONE,
            "ended",
            "This identity was replaced by a newer enrollment or revoked.",
        ),
    }
}

#[derive(Deserialize)]
struct TokensRequest {
    holder_secret: String,
}

/// One token as the page needs it.
#[derive(serde::Serialize)]
struct PageToken {
    day: String,
    profile: String,
    not_before_unix_s: i64,
    expires_unix_s: i64,
    text: String,
    /// Modules per side.
    qr_side: usize,
    /// Modules, 8 a byte, most significant bit first, base64.
    qr_modules: String,
}

async fn post_tokens(
    State(state): State<RegistryState>,
    extensions: Extensions,
    body: Bytes,
) -> Response {
    let (service, source, now) = match admit(&state, &extensions) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let secret = serde_json::from_slice::<TokensRequest>(&body)
        .ok()
        .and_then(|request| enroll_credential::keys::unhex(&request.holder_secret))
        .filter(|secret| secret.len() == 32);
    let Some(secret) = secret else {
        service.failed(source, now);
        return answer(
            StatusCode::BAD_REQUEST,
            "malformed-request",
            "Send JSON: {\"holder_secret\": \"64 hex digits\"}.",
        );
    };
    let storage = Arc::clone(&state.storage);
    let found = tokio::task::spawn_blocking(move || {
        let Some(identity) = storage.find_identity(Selector::Holder(&secret_hash(&secret)))? else {
            return Ok(None);
        };
        let tokens = storage.identity_tokens(&identity.id)?;
        Ok::<_, crate::storage::StorageError>(Some((identity, tokens)))
    })
    .await;
    let (identity, tokens) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            service.failed(source, now);
            return answer(
                StatusCode::UNAUTHORIZED,
                "unknown-holder",
                "This phone's activation is not known. Activate again with the code on your \
                 receipt.",
            );
        }
        Ok(Err(error)) => return unavailable(error),
        Err(error) => return unavailable(error),
    };
    if identity.state != "active" {
        return answer(
            StatusCode::GONE,
            "ended",
            "This identity was replaced by a newer enrollment or revoked.",
        );
    }
    let now_s = now.as_i64().div_euclid(1000);
    let mut photo = None;
    let mut page_tokens = Vec::new();
    for row in tokens.iter().filter(|row| !row.revoked) {
        let Ok((_, claims)) = token::open(&row.text) else {
            continue;
        };
        if claims.expires_unix_s <= now_s {
            continue;
        }
        if photo.is_none() && !claims.identity.face_jpeg.is_empty() {
            photo = Some(base64_bytes::encode(&claims.identity.face_jpeg));
        }
        let Ok(modules) = qr::modules(&row.text, Medium::Screen) else {
            continue;
        };
        page_tokens.push(PageToken {
            day: row.day.clone(),
            profile: row.profile.clone(),
            not_before_unix_s: claims.not_before_unix_s,
            expires_unix_s: claims.expires_unix_s,
            text: row.text.clone(),
            qr_side: modules.side,
            qr_modules: base64_bytes::encode(&modules.packed()),
        });
    }
    tracing::info!(tokens = page_tokens.len(), "holder batch sent");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        serde_json::json!({
            "tier": identity.tier,
            "photo_jpeg_base64": photo,
            "fetched_at_unix_ms": now.as_i64(),
            "tokens": page_tokens,
        })
        .to_string(),
    )
        .into_response()
}

/// The holder page's files, compiled in.
const INDEX_HTML: &str = include_str!("../holder/index.html");
const APP_JS: &str = include_str!("../holder/app.js");
const SERVICE_WORKER_JS: &str = include_str!("../holder/sw.js");
const STYLE_CSS: &str = include_str!("../holder/style.css");
/// The page's own messages; shared ones come from the kiosk's catalogue.
const HOLDER_FTL: [(&str, &str); 2] = [
    ("en", include_str!("../holder/i18n/en.ftl")),
    ("zh", include_str!("../holder/i18n/zh.ftl")),
];
const KIOSK_FTL: [(&str, &str); 2] = [
    ("en", include_str!("../../../assets/i18n/en.ftl")),
    ("zh", include_str!("../../../assets/i18n/zh.ftl")),
];
/// Kiosk messages the page shows too (the same words on the receipt and on the phone).
const SHARED_IDS: [&str; 1] = ["receipt-activation-code"];

fn page_file(name: &str) -> Response {
    let (content_type, body): (&str, String) = match name {
        "index.html" => ("text/html; charset=utf-8", INDEX_HTML.to_owned()),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS.to_owned()),
        "sw.js" => (
            "text/javascript; charset=utf-8",
            SERVICE_WORKER_JS.to_owned(),
        ),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS.to_owned()),
        "messages.json" => ("application/json", messages_json().to_owned()),
        _ => return (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            // The service worker keeps its own copy; the network copy is always checked.
            (header::CACHE_CONTROL, "no-cache"),
            // Only the page's own files run; the face comes as a data: image.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                 frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `{language: {id: text}}` for every holder message and the shared kiosk ones, formatted with
/// Fluent. A variable `$name` comes out as `{name}` for the page to fill in.
pub fn messages_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut languages = serde_json::Map::new();
        for ((language, holder), (_, kiosk)) in HOLDER_FTL.iter().zip(KIOSK_FTL.iter()) {
            languages.insert(
                (*language).to_owned(),
                serde_json::Value::Object(language_messages(language, holder, kiosk)),
            );
        }
        serde_json::Value::Object(languages).to_string()
    })
}

fn language_messages(
    language: &str,
    holder: &str,
    kiosk: &str,
) -> serde_json::Map<String, serde_json::Value> {
    use fluent_bundle::{FluentArgs, FluentBundle, FluentResource};
    let mut out = serde_json::Map::new();
    let langid = language
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut bundle = FluentBundle::new(vec![langid]);
    bundle.set_use_isolating(false);
    let mut ids: Vec<String> = SHARED_IDS.iter().map(|id| (*id).to_owned()).collect();
    // A message starts a line with its id and " =" (attributes and continuations are indented).
    ids.extend(holder.lines().filter_map(|line| {
        let (id, _) = line.split_once(" =")?;
        (id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .then(|| id.to_owned())
    }));
    for source in [holder, kiosk] {
        let resource = match FluentResource::try_new(source.to_owned()) {
            Ok(resource) => resource,
            Err((resource, errors)) => {
                tracing::error!(
                    language,
                    errors = errors.len(),
                    "holder messages have errors"
                );
                resource
            }
        };
        if bundle.add_resource(resource).is_err() {
            tracing::error!(language, "holder messages define an id twice");
        }
    }
    let mut args = FluentArgs::new();
    for name in ["time", "date", "code"] {
        args.set(name, format!("{{{name}}}"));
    }
    for id in ids {
        let Some(pattern) = bundle.get_message(&id).and_then(|m| m.value()) else {
            continue;
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
        out.insert(id, serde_json::Value::String(text.into_owned()));
    }
    out
}
