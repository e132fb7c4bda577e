//! The registry's HTTP server (axum): `POST /v1/records`, `GET /v1/receipts/{id}`,
//! `POST /v1/terminals` (admin token), the virtual ID's `GET /v1/trust-list` and
//! `GET /v1/status-lists[/{n}]`, `GET /healthz`, `GET /metrics`, over plain HTTP or TLS. It
//! takes its listener, clock and shutdown signal from the caller, so tests bind `127.0.0.1:0`.
//! Logs carry record ids and reasons, never record content.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::storage::{Incoming, Ingested, Storage, StorageError};
use enroll_core::domain::record::is_valid_terminal_id;
use enroll_core::domain::record::{MAX_BODY_BYTES, MAX_PAYLOAD_BYTES};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::TerminalPublicKey;
use enroll_crypto::records::TerminalSigningKey;
use enroll_protocol::{Rejection, make_receipt, verify_envelope};

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS_S: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Prometheus counters.
#[derive(Default)]
pub struct Metrics {
    received: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_S.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    fn reject(&self, reason: &'static str) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(reason).or_insert(0) += 1;
        }
    }

    fn observe(&self, seconds: f64) {
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS_S) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            ));
        };
        counter(
            &mut out,
            "registry_records_received_total",
            "Record envelopes received.",
            self.received.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "registry_records_stored_total",
            "Records newly stored.",
            self.stored.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "registry_records_duplicate_total",
            "Records received again with the same bytes.",
            self.duplicates.load(Ordering::Relaxed),
        );
        out.push_str("# HELP registry_records_rejected_total Records refused, by reason.\n");
        out.push_str("# TYPE registry_records_rejected_total counter\n");
        if let Ok(map) = self.rejected.lock() {
            for (reason, count) in map.iter() {
                out.push_str(&format!(
                    "registry_records_rejected_total{{reason=\"{reason}\"}} {count}\n"
                ));
            }
        }
        out.push_str("# HELP registry_request_seconds POST /v1/records latency.\n");
        out.push_str("# TYPE registry_request_seconds histogram\n");
        for (bucket, bound) in self.latency_buckets.iter().zip(LATENCY_BUCKETS_S) {
            out.push_str(&format!(
                "registry_request_seconds_bucket{{le=\"{bound}\"}} {}\n",
                bucket.load(Ordering::Relaxed)
            ));
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        out.push_str(&format!(
            "registry_request_seconds_bucket{{le=\"+Inf\"}} {count}\nregistry_request_seconds_sum {}\nregistry_request_seconds_count {count}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out
    }
}

/// Everything a request handler needs.
#[derive(Clone)]
pub struct RegistryState {
    pub storage: Arc<dyn Storage>,
    pub receipt_key: Arc<TerminalSigningKey>,
    pub metrics: Arc<Metrics>,
    /// Unix milliseconds now (the binary passes the system clock, tests a fixed one).
    pub clock: Arc<dyn Fn() -> UnixMs + Send + Sync>,
    /// SHA-256 of the admin token that `POST /v1/terminals` requires; `None` turns it off.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// What the virtual ID's verifiers fetch; `None` when the registry has no status key.
    pub virtual_id: Option<Arc<Publisher>>,
    /// Activation and the holder page; `None` when the registry has no handle secret.
    pub holders: Option<Arc<crate::holder_api::HolderService>>,
    /// The registry's public sealing key (PEM) that provisioned terminals seal to; `None` turns
    /// provisioning (`POST /v1/provision`) off.
    pub sealing_public_pem: Option<Arc<String>>,
    /// The key terminals tag document numbers with (served with the roster); `None`: terminals
    /// write no tag.
    pub document_tag_key: Option<Arc<enroll_crypto::records::DocumentTagKey>>,
    /// A terminal silent for longer than this shows as stale (`/metrics`).
    pub stale_after_ms: u64,
}

/// What the registry publishes for offline verifiers: the trust list (signed offline, handed in
/// by the caller) and the status lists it signs on request.
pub struct Publisher {
    /// Signs status lists.
    pub status_key: ed25519_dalek::SigningKey,
    /// The registry's public base URL (status list URIs start with it).
    pub public_url: String,
    /// The current signed trust list, if one was installed.
    pub trust_list: Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>,
}

/// The shortest admin token accepted (characters).
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

/// The routes.
pub fn router(state: RegistryState) -> Router {
    Router::new()
        .route("/v1/records", post(post_record))
        .route("/v1/receipts/{id}", get(get_receipt))
        .route("/v1/terminals", post(post_terminal).get(get_terminals))
        .route("/v1/terminals/{id}/invite", post(post_invite))
        .route("/v1/terminals/{id}/revoke", post(post_revoke_terminal))
        .route("/v1/provision", post(post_provision))
        .route("/v1/terminals/{id}/rotate", post(post_rotate_key))
        .route("/v1/terminals/{id}/fleet", post(post_fleet))
        .route("/v1/trust-list", get(get_trust_list))
        .route("/v1/status-lists", get(get_status_lists))
        .route("/v1/status-lists/{n}", get(get_status_list))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(get_metrics))
        .merge(crate::holder_api::routes())
        .layer(DefaultBodyLimit::max(
            MAX_BODY_BYTES + MAX_PAYLOAD_BYTES + 1024,
        ))
        .with_state(state)
}

/// Serves plain HTTP (loopback only, for tests and a co-located proxy) until `shutdown`
/// completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: RegistryState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// How long requests in flight may take to finish after shutdown was asked for.
const DRAIN_TIMEOUT_MS: u64 = 30_000;

/// Serves HTTPS until `shutdown` completes, then finishes the requests in flight. Handshakes run
/// on their own tasks, so a slow or hostile client holds up nobody else.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: RegistryState,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        // Handlers see the peer's address as with plain HTTP (the holder routes limit per source).
        let service = hyper::service::service_fn({
            let app = app.clone();
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), request)
            }
        });
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(
                Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS),
                acceptor.accept(stream),
            );
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_millis(DRAIN_TIMEOUT_MS), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain timeout were cut off");
    }
    Ok(())
}

fn json_error(status: StatusCode, rejection: &Rejection) -> Response {
    let body = serde_json::json!({ "error": rejection.to_string(), "reason": rejection.reason() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn receipt_response(receipt: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        receipt,
    )
        .into_response()
}

fn internal(detail: impl std::fmt::Display) -> Response {
    tracing::error!(error = %detail, "registry storage failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the registry cannot store records right now; retry later\n",
    )
        .into_response()
}

async fn post_record(State(state): State<RegistryState>, bytes: Bytes) -> Response {
    let started = Instant::now();
    state.metrics.received.fetch_add(1, Ordering::Relaxed);
    let response = ingest(&state, bytes).await;
    state.metrics.observe(started.elapsed().as_secs_f64());
    response
}

async fn ingest(state: &RegistryState, bytes: Bytes) -> Response {
    let worker = state.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let storage = &worker.storage;
        let mut lookup_error = None;
        let now_ms = (worker.clock)();
        // The terminal's key, or the retired one the body names while it is still accepted.
        let verified = verify_envelope(&bytes, |terminal, key_sha256| {
            let current = match storage.terminal_key(terminal) {
                Ok(current) => current,
                Err(error) => {
                    lookup_error = Some(error);
                    return None;
                }
            };
            if current.is_some_and(|key| enroll_crypto::records::sha256_hex(&key) == key_sha256) {
                return current;
            }
            match storage.retired_terminal_key(terminal, key_sha256, now_ms) {
                Ok(Some(retired)) => Some(retired),
                Ok(None) => current,
                Err(error) => {
                    lookup_error = Some(error);
                    None
                }
            }
        });
        if let Some(error) = lookup_error {
            return Err(Err(error));
        }
        let verified = verified.map_err(Ok)?;
        // A revoked terminal's records signed before the revocation still count; later ones not.
        if let Some(revocation) = storage
            .terminal_revocation(&verified.body.terminal_id)
            .map_err(Err)?
            && verified.body.created_at_unix_ms.as_i64() >= revocation.revoked_at_unix_ms
        {
            return Err(Ok(Rejection::TerminalRevoked {
                reason: revocation.reason,
                revoked_at_unix_ms: revocation.revoked_at_unix_ms,
            }));
        }
        let id = verified.body.id.to_string();
        let incoming = Incoming {
            id: &id,
            terminal_id: &verified.body.terminal_id,
            body: &verified.envelope.body,
            body_sha256: &verified.body_sha256,
            previous_record_sha256: &verified.body.previous_record_sha256,
            signature: &verified.envelope.signature,
            sealed_payload: &verified.envelope.sealed_payload,
            received_at_unix_ms: now_ms,
        };
        let key = &worker.receipt_key;
        let ingested = storage
            .ingest(&incoming, &|chain| {
                make_receipt(key, &verified, chain, now_ms)
            })
            .map_err(Err)?;
        Ok((id, verified.body.terminal_id.clone(), ingested))
    })
    .await;
    match outcome {
        Err(join_error) => internal(join_error),
        Ok(Err(Err(storage_error))) => internal(storage_error),
        Ok(Err(Ok(rejection))) => {
            state.metrics.reject(rejection.reason());
            tracing::warn!(reason = rejection.reason(), "record refused");
            let status = match rejection {
                Rejection::UnknownTerminal => StatusCode::UNAUTHORIZED,
                Rejection::Conflict => StatusCode::CONFLICT,
                Rejection::TerminalRevoked { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            json_error(status, &rejection)
        }
        Ok(Ok((id, terminal, Ingested::Stored { receipt, chain }))) => {
            state.metrics.stored.fetch_add(1, Ordering::Relaxed);
            if chain == enroll_core::domain::record::ChainStatus::GapFlagged {
                tracing::warn!(record = %id, terminal = %terminal, "record accepted with a chain gap; flagged for review");
            } else {
                tracing::info!(record = %id, terminal = %terminal, "record stored");
            }
            receipt_response(receipt)
        }
        Ok(Ok((id, _, Ingested::Duplicate { receipt }))) => {
            state.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(record = %id, "duplicate record; the stored receipt is returned");
            receipt_response(receipt)
        }
        Ok(Ok((id, terminal, Ingested::Conflict))) => {
            state.metrics.reject(Rejection::Conflict.reason());
            tracing::error!(record = %id, terminal = %terminal, "ALERT: a different record with a stored id was received");
            json_error(StatusCode::CONFLICT, &Rejection::Conflict)
        }
    }
}

async fn get_receipt(State(state): State<RegistryState>, Path(id): Path<String>) -> Response {
    let storage = Arc::clone(&state.storage);
    match tokio::task::spawn_blocking(move || storage.receipt(&id)).await {
        Ok(Ok(Some(receipt))) => receipt_response(receipt),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "no such record\n").into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

fn no_virtual_id() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this registry publishes no virtual ID lists (start it with --keys holding status-list.key)\n",
    )
        .into_response()
}

async fn get_trust_list(State(state): State<RegistryState>) -> Response {
    let Some(publisher) = state.virtual_id else {
        return no_virtual_id();
    };
    match (publisher.trust_list)() {
        Some(bytes) => (
            [(header::CONTENT_TYPE, enroll_credential::trust::TYP)],
            bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no trust list is installed: sign one with `registry trust-list sign`\n",
        )
            .into_response(),
    }
}

async fn get_status_lists(State(state): State<RegistryState>) -> Response {
    if state.virtual_id.is_none() {
        return no_virtual_id();
    }
    let storage = Arc::clone(&state.storage);
    match tokio::task::spawn_blocking(move || storage.status_list_numbers()).await {
        Ok(Ok(numbers)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "status_lists": numbers }).to_string(),
        )
            .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

async fn get_status_list(State(state): State<RegistryState>, Path(n): Path<String>) -> Response {
    let Some(publisher) = state.virtual_id.clone() else {
        return no_virtual_id();
    };
    let Ok(list) = n.parse::<u32>() else {
        return (StatusCode::NOT_FOUND, "no such status list\n").into_response();
    };
    let storage = Arc::clone(&state.storage);
    let now = (state.clock)();
    let signed = tokio::task::spawn_blocking(move || {
        crate::issuer::signed_status_list(
            storage.as_ref(),
            list,
            &publisher.status_key,
            &publisher.public_url,
            now,
        )
    })
    .await;
    match signed {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, enroll_credential::status::TYP),
                (header::CACHE_CONTROL, "max-age=300"),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

/// The request counters of this instance, then the fleet's health from the shared store (the
/// same on every instance).
async fn get_metrics(State(state): State<RegistryState>) -> Response {
    let storage = Arc::clone(&state.storage);
    let now = (state.clock)();
    let stale_after_ms = state.stale_after_ms;
    let fleet = tokio::task::spawn_blocking(move || {
        Ok::<_, StorageError>(crate::fleet_health::fleet(
            storage.terminals()?,
            storage.heartbeats()?,
            now,
            stale_after_ms,
        ))
    })
    .await;
    let rows = match fleet {
        Ok(Ok(rows)) => rows,
        Ok(Err(error)) => return internal(error),
        Err(error) => return internal(error),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render() + &crate::fleet_health::render_metrics(&rows, stale_after_ms),
    )
        .into_response()
}

/// The body of `POST /v1/terminals`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminalRegistration {
    /// The terminal id (its `terminal.id`).
    id: String,
    /// Its Ed25519 public key, the PEM text of `terminal-signing.pub`.
    public_key_pem: String,
}

fn text(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// Whether the request carries the admin token (compared by SHA-256, so the comparison's
/// timing says nothing about the token).
fn authorised(expected_sha256: &[u8; 32], headers: &axum::http::HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let presented: [u8; 32] =
        <sha2::Sha256 as sha2::Digest>::digest(token.trim().as_bytes()).into();
    presented
        .iter()
        .zip(expected_sha256)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

/// How long a terminal's previous key is still accepted after a rotation: records signed before
/// it and still in the outbox (a terminal offline for days) arrive within it.
pub const ROTATION_OVERLAP_MS: u64 = 14 * 24 * 3_600_000;
/// How far the time in a rotation proof or a fleet request may be from the registry's clock.
pub const ROTATION_CLOCK_SKEW_MS: u64 = 10 * 60_000;

/// `POST /v1/terminals/{id}/rotate` with `{"new_public_key_pem", "signed_at_unix_ms",
/// "proof_base64"}`: the terminal proves it holds its current key by signing
/// [`enroll_protocol::rotation_message`] with it, and the new key becomes its key; the old one is
/// still accepted for [`ROTATION_OVERLAP_MS`]. A revoked terminal cannot rotate.
async fn post_rotate_key(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Rotate {
        new_public_key_pem: String,
        signed_at_unix_ms: i64,
        proof_base64: String,
    }
    let refused = |status: StatusCode, why: &str| {
        state.metrics.reject("rotation-refused");
        tracing::warn!(terminal = %id, why, "key rotation refused");
        json_error(status, &Rejection::RotationRefused(why.to_owned()))
    };
    let Ok(rotate) = serde_json::from_slice::<Rotate>(&bytes) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "expected JSON {new_public_key_pem, signed_at_unix_ms, proof_base64}",
        );
    };
    let Ok(new_key) = TerminalPublicKey::from_pem(&rotate.new_public_key_pem) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "new_public_key_pem is not an Ed25519 key",
        );
    };
    let now_ms = (state.clock)();
    let message =
        enroll_protocol::rotation_message(&id, &new_key.fingerprint(), rotate.signed_at_unix_ms);
    let current = match signed_by_terminal(
        &state,
        &id,
        rotate.signed_at_unix_ms,
        &message,
        &rotate.proof_base64,
    )
    .await
    {
        Ok(key) => key,
        Err(Refused::Status(status, why)) => return refused(status, why),
        Err(Refused::Answer(response)) => return response,
    };
    if new_key.fingerprint() == current.fingerprint() {
        return refused(StatusCode::BAD_REQUEST, "the new key is the current key");
    }
    let storage = Arc::clone(&state.storage);
    let terminal = id.clone();
    let new_bytes = new_key.to_bytes();
    let until = now_ms.plus_ms(ROTATION_OVERLAP_MS);
    match tokio::task::spawn_blocking(move || {
        storage.rotate_terminal_key(&terminal, new_bytes, now_ms, until)
    })
    .await
    {
        Ok(Ok(true)) => {
            tracing::info!(terminal = %id, key = %new_key.fingerprint(), "terminal key rotated");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({
                    "id": id,
                    "key_sha256": new_key.fingerprint(),
                    "previous_key_sha256": current.fingerprint(),
                    "previous_key_accepted_until_unix_ms": until.as_i64(),
                })
                .to_string(),
            )
                .into_response()
        }
        Ok(Ok(false)) => refused(StatusCode::NOT_FOUND, "no such terminal"),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

/// Why a request the terminal signed is not taken: a status and reason, or the store's answer.
enum Refused {
    Status(StatusCode, &'static str),
    Answer(Response),
}

/// Checks a request the terminal signed with its current key over `message` at `at_unix_ms`:
/// the time within [`ROTATION_CLOCK_SKEW_MS`] of the registry's, the terminal registered (404) and
/// not revoked (403), the proof verifying (401). Returns the terminal's current key.
async fn signed_by_terminal(
    state: &RegistryState,
    id: &str,
    at_unix_ms: i64,
    message: &[u8],
    proof_base64: &str,
) -> Result<TerminalPublicKey, Refused> {
    if (state.clock)().as_i64().abs_diff(at_unix_ms) > ROTATION_CLOCK_SKEW_MS {
        return Err(Refused::Status(
            StatusCode::BAD_REQUEST,
            "the request's time is more than 10 minutes from the registry's: set the terminal's clock",
        ));
    }
    let key = match live_terminal_key(state, id).await {
        Ok(KeyLookup::Live(key)) => key,
        Ok(KeyLookup::Unknown) => {
            return Err(Refused::Status(StatusCode::NOT_FOUND, "no such terminal"));
        }
        Ok(KeyLookup::Revoked) => {
            return Err(Refused::Status(
                StatusCode::FORBIDDEN,
                "the terminal is revoked",
            ));
        }
        Err(response) => return Err(Refused::Answer(response)),
    };
    let proof = enroll_core::domain::document::base64_bytes::decode(proof_base64);
    if proof.is_none_or(|proof| key.verify(message, &proof).is_err()) {
        return Err(Refused::Status(
            StatusCode::UNAUTHORIZED,
            "the proof does not verify with the terminal's current key",
        ));
    }
    Ok(key)
}

/// A terminal's registered key, as a request signed by the terminal needs it.
enum KeyLookup {
    Live(TerminalPublicKey),
    Unknown,
    Revoked,
}

/// Looks up `id`'s current key and whether it is revoked (`Err`: the store failed).
async fn live_terminal_key(state: &RegistryState, id: &str) -> Result<KeyLookup, Response> {
    let storage = Arc::clone(&state.storage);
    let terminal = id.to_owned();
    let looked_up = tokio::task::spawn_blocking(move || {
        Ok::<_, StorageError>((
            storage.terminal_key(&terminal)?,
            storage.terminal_revocation(&terminal)?,
        ))
    })
    .await;
    let (current, revocation) = match looked_up {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return Err(internal(error)),
        Err(error) => return Err(internal(error)),
    };
    Ok(
        match current.and_then(|key| TerminalPublicKey::from_bytes(&key).ok()) {
            None => KeyLookup::Unknown,
            Some(_) if revocation.is_some() => KeyLookup::Revoked,
            Some(key) => KeyLookup::Live(key),
        },
    )
}

/// `POST /v1/terminals/{id}/fleet` with a [`enroll_protocol::FleetRequest`]: a terminal that proves
/// it holds its registered key gets the officer roster for it, signed with the receipt key, and
/// the document-tag key. 401 when the proof does not verify, 403 when the terminal is revoked.
async fn post_fleet(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let refused = |status: StatusCode, why: &str| {
        state.metrics.reject("fleet-refused");
        tracing::warn!(terminal = %id, why, "fleet request refused");
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "error": why, "reason": "fleet-refused" }).to_string(),
        )
            .into_response()
    };
    let Ok(request) = serde_json::from_slice::<enroll_protocol::FleetRequest>(&bytes) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "expected JSON {at_unix_ms, proof_base64, heartbeat_json?}",
        );
    };
    if let Some(text) = &request.heartbeat_json
        && let Err(refusal) = enroll_protocol::heartbeat::Heartbeat::parse(text)
    {
        return refused(StatusCode::BAD_REQUEST, &refusal.to_string());
    }
    let now_ms = (state.clock)();
    let message = enroll_protocol::fleet_request_message(
        &id,
        request.at_unix_ms,
        request.heartbeat_json.as_deref(),
    );
    match signed_by_terminal(
        &state,
        &id,
        request.at_unix_ms,
        &message,
        &request.proof_base64,
    )
    .await
    {
        Ok(_) => {}
        Err(Refused::Status(status, why)) => return refused(status, why),
        Err(Refused::Answer(response)) => return response,
    }
    if let Some(text) = request.heartbeat_json {
        let storage = Arc::clone(&state.storage);
        let terminal = id.clone();
        let sent_at = UnixMs(request.at_unix_ms);
        match tokio::task::spawn_blocking(move || {
            storage.keep_heartbeat(&terminal, sent_at, now_ms, &text)
        })
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return internal(error),
            Err(error) => return internal(error),
        }
    }
    let storage = Arc::clone(&state.storage);
    let roster = match tokio::task::spawn_blocking(move || storage.roster()).await {
        Ok(Ok(roster)) => roster,
        Ok(Err(error)) => return internal(error),
        Err(error) => return internal(error),
    };
    let body = crate::officers::roster_for(&roster, &id, now_ms);
    let answer = enroll_protocol::FleetAnswer {
        roster: enroll_protocol::sign_roster(&state.receipt_key, &body),
        document_tag_key_hex: state.document_tag_key.as_ref().map(|key| key.to_hex()),
    };
    tracing::info!(terminal = %id, serial = body.serial, badges = body.officers.len(), "fleet state served");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&answer).unwrap_or_default(),
    )
        .into_response()
}

/// The SHA-256 (hex) of a provisioning code as typed: normalised (case, hyphens, I/L/O), its
/// check character verified; `None` when it is mistyped.
pub fn invite_code_sha256(typed: &str) -> Option<String> {
    enroll_core::domain::crockford::parse(typed, INVITE_CODE_CHARS)
        .ok()
        .map(|code| enroll_crypto::records::sha256_hex(code.as_bytes()))
}

/// Characters of a provisioning code: 12 random (60 bits) and the check character.
pub const INVITE_CODE_CHARS: usize = 13;

/// `POST /v1/provision` with `{"code": "…", "public_key_pem": "…"}`: a new terminal spends its
/// one-time code, its key is registered under the invite's terminal id, and it gets the
/// registry's public keys. No admin token: the code is the credential.
async fn post_provision(State(state): State<RegistryState>, bytes: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Provision {
        code: String,
        public_key_pem: String,
    }
    let Some(sealing_public_pem) = state.sealing_public_pem.clone() else {
        return text(
            StatusCode::FORBIDDEN,
            "provisioning is off: the registry has no registry-sealing.pub in its --keys folder",
        );
    };
    let provision: Provision = match serde_json::from_slice(&bytes) {
        Ok(provision) => provision,
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "expected JSON {\"code\": \"…\", \"public_key_pem\": \"…\"}",
            );
        }
    };
    let Some(code_sha256) = invite_code_sha256(&provision.code) else {
        return text(
            StatusCode::BAD_REQUEST,
            "the code is mistyped (its check character does not match): type it again",
        );
    };
    let key = match TerminalPublicKey::from_pem(&provision.public_key_pem) {
        Ok(key) => key,
        Err(error) => return text(StatusCode::BAD_REQUEST, &format!("public_key_pem: {error}")),
    };
    let storage = Arc::clone(&state.storage);
    let now_ms = (state.clock)();
    let key_bytes = key.to_bytes();
    let outcome =
        tokio::task::spawn_blocking(move || storage.provision(&code_sha256, key_bytes, now_ms))
            .await;
    match outcome {
        Ok(Ok(crate::storage::Provisioned::Registered { terminal_id })) => {
            tracing::info!(terminal = %terminal_id, key = %key.fingerprint(), "terminal provisioned");
            let body = serde_json::json!({
                "terminal_id": terminal_id,
                "key_sha256": key.fingerprint(),
                "sealing_public_key_pem": sealing_public_pem.as_str(),
                "receipt_public_key_pem": state.receipt_key.public().to_pem(),
            });
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Ok(Ok(crate::storage::Provisioned::Unknown)) => {
            tracing::warn!("provisioning refused: unknown code");
            text(
                StatusCode::NOT_FOUND,
                "no invite has this code: ask the administrator for one (registry terminal invite)",
            )
        }
        Ok(Ok(crate::storage::Provisioned::Used)) => {
            tracing::warn!("provisioning refused: the code was used before");
            text(
                StatusCode::GONE,
                "this code was used before: ask the administrator for a new one",
            )
        }
        Ok(Ok(crate::storage::Provisioned::Expired)) => {
            tracing::warn!("provisioning refused: the code expired");
            text(
                StatusCode::GONE,
                "this code has expired: ask the administrator for a new one",
            )
        }
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

/// The admin token's gate on an administration route (`what` for the log, `cli` the command that
/// does the same without HTTP): the refusal when HTTP administration is off (403) or the token is
/// missing or wrong (401), `None` when the request may go on.
fn admin_refusal(
    state: &RegistryState,
    headers: &axum::http::HeaderMap,
    what: &str,
    cli: &str,
) -> Option<Response> {
    let Some(expected) = state.admin_token_sha256 else {
        return Some(text(
            StatusCode::FORBIDDEN,
            &format!(
                "{what} over HTTP is off: start the registry with --admin-token-file, or use `{cli}`"
            ),
        ));
    };
    if !authorised(&expected, headers) {
        tracing::warn!(what, "administration refused: missing or wrong admin token");
        return Some(text(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (send Authorization: Bearer TOKEN)",
        ));
    }
    None
}

/// `GET /v1/terminals` (admin token): the registered terminals as `registry terminal list --json`
/// shows them.
async fn get_terminals(
    State(state): State<RegistryState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(refused) = admin_refusal(
        &state,
        &headers,
        "the terminal list",
        "registry terminal list",
    ) {
        return refused;
    }
    let storage = Arc::clone(&state.storage);
    match tokio::task::spawn_blocking(move || storage.terminals()).await {
        Ok(Ok(terminals)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&terminals).unwrap_or_default(),
        )
            .into_response(),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

/// Hours an invite made over HTTP is valid when the request does not say.
pub const DEFAULT_INVITE_HOURS: u32 = 72;

/// `POST /v1/terminals/{id}/invite` (admin token) with `{"valid_hours": N}` (optional, 1–720):
/// a one-time provisioning code for a new terminal `id`, as `registry terminal invite` makes.
/// The code is in this answer only; the registry keeps its SHA-256.
async fn post_invite(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Some(refused) = admin_refusal(
        &state,
        &headers,
        "terminal invitation",
        "registry terminal invite",
    ) {
        return refused;
    }
    #[derive(serde::Deserialize)]
    struct Invite {
        valid_hours: Option<u32>,
    }
    let valid_hours = if bytes.is_empty() {
        DEFAULT_INVITE_HOURS
    } else {
        match serde_json::from_slice::<Invite>(&bytes) {
            Ok(invite) => invite.valid_hours.unwrap_or(DEFAULT_INVITE_HOURS),
            Err(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "expected JSON {\"valid_hours\": N}",
                );
            }
        }
    };
    if !is_valid_terminal_id(&id) || !(1..=720).contains(&valid_hours) {
        return text(
            StatusCode::BAD_REQUEST,
            "the terminal id is 1 to 64 of A-Z, a-z, 0-9, '-' and '_'; valid_hours is 1 to 720",
        );
    }
    let Ok(random) = enroll_crypto::keys::random_bytes::<8>() else {
        return internal("no randomness for an invite code");
    };
    let Some((code, code_sha256)) = invite_code(random) else {
        return internal("a fresh invite code does not read back");
    };
    let created_at = (state.clock)();
    let expires_at = created_at.plus_ms(u64::from(valid_hours) * 3_600_000);
    let invite = crate::storage::NewInvite {
        code_sha256,
        terminal_id: id.clone(),
        created_at,
        expires_at,
    };
    let storage = Arc::clone(&state.storage);
    match tokio::task::spawn_blocking(move || storage.add_invite(&invite)).await {
        Ok(Ok(())) => {
            tracing::info!(terminal = %id, valid_hours, "invite made");
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({
                    "terminal_id": id,
                    "code": enroll_core::domain::crockford::grouped(&code, &[4, 4, 5]),
                    "expires_at_unix_ms": expires_at.as_i64(),
                })
                .to_string(),
            )
                .into_response()
        }
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

/// A fresh provisioning code from 8 random bytes (12 characters and the check character) and the
/// SHA-256 the registry keeps of it (as [`invite_code_sha256`] reads it back; `None` would be a
/// bug in the alphabet).
pub fn invite_code(random: [u8; 8]) -> Option<(String, String)> {
    let code = enroll_core::domain::crockford::encode(&random, INVITE_CODE_CHARS - 1);
    let code_sha256 = invite_code_sha256(&code)?;
    Some((code, code_sha256))
}

/// `POST /v1/terminals/{id}/revoke` with `{"reason": "…"}` and the admin token: revokes the
/// terminal from now (`registry terminal revoke` over HTTP).
async fn post_revoke_terminal(
    State(state): State<RegistryState>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Some(refused) = admin_refusal(
        &state,
        &headers,
        "terminal revocation",
        "registry terminal revoke",
    ) {
        return refused;
    }
    #[derive(serde::Deserialize)]
    struct Revoke {
        reason: String,
    }
    let reason = match serde_json::from_slice::<Revoke>(&bytes) {
        Ok(revoke) if !revoke.reason.trim().is_empty() => revoke.reason.trim().to_owned(),
        _ => return text(StatusCode::BAD_REQUEST, "expected JSON {\"reason\": \"…\"}"),
    };
    let storage = Arc::clone(&state.storage);
    let now_ms = (state.clock)();
    let terminal = id.clone();
    let revoked = tokio::task::spawn_blocking(move || {
        storage
            .revoke_terminal(&terminal, now_ms, &reason)
            .and_then(|known| {
                Ok(if known {
                    storage.terminal_revocation(&terminal)?
                } else {
                    None
                })
            })
    })
    .await;
    match revoked {
        Ok(Ok(Some(revocation))) => {
            tracing::warn!(terminal = %id, "terminal revoked");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "id": id, "revoked": revocation }).to_string(),
            )
                .into_response()
        }
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, "no such terminal"),
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}

async fn post_terminal(
    State(state): State<RegistryState>,
    headers: axum::http::HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Some(refused) = admin_refusal(
        &state,
        &headers,
        "terminal registration",
        "registry terminal add",
    ) {
        return refused;
    }
    let registration: TerminalRegistration = match serde_json::from_slice(&bytes) {
        Ok(registration) => registration,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("expected JSON {{\"id\": \"…\", \"public_key_pem\": \"…\"}}: {error}"),
            );
        }
    };
    if !is_valid_terminal_id(&registration.id) {
        return text(
            StatusCode::BAD_REQUEST,
            "id: allowed are 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'",
        );
    }
    let key = match TerminalPublicKey::from_pem(&registration.public_key_pem) {
        Ok(key) => key,
        Err(error) => {
            return text(StatusCode::BAD_REQUEST, &format!("public_key_pem: {error}"));
        }
    };
    let storage = Arc::clone(&state.storage);
    let now_ms = (state.clock)();
    let id = registration.id.clone();
    let key_bytes = key.to_bytes();
    match tokio::task::spawn_blocking(move || storage.add_terminal(&id, key_bytes, now_ms)).await {
        Ok(Ok(())) => {
            tracing::info!(terminal = %registration.id, key = %key.fingerprint(), "terminal registered");
            let body = serde_json::json!({
                "id": registration.id,
                "key_sha256": key.fingerprint(),
            });
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Ok(Err(error)) => internal(error),
        Err(error) => internal(error),
    }
}
