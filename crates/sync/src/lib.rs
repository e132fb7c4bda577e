//! The sync worker: sends due records from the outbox to the registry in commit order, verifies
//! each receipt before marking a record acknowledged, retries with exponential backoff and full
//! jitter, and moves records the registry refuses (400/403/409) to `rejected` with the reason. It owns
//! the HTTP client side; it reads no clock (time and randomness come in) and never logs content.

#![forbid(unsafe_code)]

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use enroll_core::domain::record::RecordEnvelope;
use enroll_core::domain::roster::{Admission, RosterBody, RosterRefusal};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::{DocumentTagKey, RecordSigner, TerminalPublicKey};
use enroll_protocol::heartbeat::{CheckState, Heartbeat};
use enroll_protocol::{
    FleetAnswer, FleetRequest, SignedRoster, fleet_request_message, open_roster, verify_receipt,
};
use enroll_store::{FleetItem, Outbox, Outgoing, StoreError};

/// How the worker talks to the registry.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// `http://HOST:PORT` (loopback) or `https://…`, without a trailing slash.
    pub registry_url: String,
    pub registry_receipt_key: TerminalPublicKey,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub batch_size: usize,
    pub request_timeout_ms: u64,
    /// The outbox's guards, to tell the officer when new enrollments are paused (none: not
    /// reported).
    pub guard_limits: Option<enroll_store::GuardLimits>,
    /// Sealed payloads acknowledged this many days ago are deleted at the end of a pass (none:
    /// kept).
    pub retention_days: Option<u64>,
    /// Fetch the officer roster and the document-tag key as this terminal (none: not fetched).
    pub fleet: Option<FleetSettings>,
}

/// Who the terminal is when it asks for its fleet state.
#[derive(Clone)]
pub struct FleetSettings {
    pub terminal_id: String,
    /// Signs the request's proof.
    pub terminal_key: std::sync::Arc<dyn RecordSigner>,
    /// Measures the terminal's health for the heartbeat sent with the request (none: no
    /// heartbeat). It may block (it reads files); it runs on a blocking thread.
    pub health: Option<HealthProbe>,
}

/// What the kiosk measures for a heartbeat; the worker adds the queue from its outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalHealth {
    pub version: String,
    pub model_pack: String,
    pub checks: std::collections::BTreeMap<String, CheckState>,
}

/// Measures [`TerminalHealth`] at the given time.
pub type HealthProbe = std::sync::Arc<dyn Fn(UnixMs) -> TerminalHealth + Send + Sync>;

impl std::fmt::Debug for FleetSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSettings")
            .field("terminal_id", &self.terminal_id)
            .field("key", &self.terminal_key.public_key().fingerprint())
            .finish()
    }
}

/// Why the fleet state was not refreshed; the kept copy stays in force.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the registry cannot be reached for the officer roster: {0}")]
    Unreachable(String),
    #[error("the registry refused the roster request ({status}): {said}")]
    Refused { status: u16, said: String },
    #[error("the registry's roster answer is not understood")]
    Malformed,
    #[error("the registry's document-tag key is malformed")]
    BadTagKey,
    #[error("the terminal's health could not be measured for the heartbeat")]
    HealthProbe,
    #[error(transparent)]
    Roster(#[from] RosterRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a fleet refresh changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FleetUpdate {
    /// The serial of the roster in force.
    pub roster_serial: u64,
    /// Whether a newer roster was taken.
    pub roster_changed: bool,
    /// Whether the document-tag key was new or replaced.
    pub tag_key_changed: bool,
}

/// The roster this terminal keeps, checked again with the registry's receipt key (so a roster
/// written into the outbox behind the kiosk's back is not believed): `None` before the first.
pub fn kept_roster(
    outbox: &Outbox,
    registry_key: &TerminalPublicKey,
) -> Result<Option<RosterBody>, FleetError> {
    outbox
        .fleet_item(FleetItem::Roster)?
        .map(|kept| open_kept_roster(&kept, registry_key))
        .transpose()
}

/// A kept roster's bytes (as the outbox stores them), checked with the registry's receipt key.
pub fn open_kept_roster(
    kept: &[u8],
    registry_key: &TerminalPublicKey,
) -> Result<RosterBody, FleetError> {
    let signed: SignedRoster = serde_json::from_slice(kept).map_err(|_| FleetError::Malformed)?;
    Ok(open_roster(&signed, registry_key)?)
}

/// Takes a fleet answer: the roster only when its signature verifies, it is for this terminal and
/// not older than the kept one (a replay); the kept copy stays otherwise. The document-tag key is
/// kept as given.
pub fn take_fleet_answer(
    outbox: &Outbox,
    terminal_id: &str,
    registry_key: &TerminalPublicKey,
    answer: &FleetAnswer,
    now_unix_ms: UnixMs,
) -> Result<FleetUpdate, FleetError> {
    let offered = open_roster(&answer.roster, registry_key)?;
    // A kept copy that no longer verifies (a changed key, a damaged file) is no reason to refuse a
    // good new one.
    let kept = kept_roster(outbox, registry_key).ok().flatten();
    let roster_changed = match offered.admit(terminal_id, kept.as_ref())? {
        Admission::Newer => {
            let bytes = serde_json::to_vec(&answer.roster).map_err(|_| FleetError::Malformed)?;
            outbox.set_fleet_item(FleetItem::Roster, &bytes, now_unix_ms)?;
            true
        }
        Admission::Unchanged => false,
    };
    let mut tag_key_changed = false;
    if let Some(hex) = &answer.document_tag_key_hex {
        let key = DocumentTagKey::from_hex(hex).ok_or(FleetError::BadTagKey)?;
        let kept_key = outbox.fleet_item(FleetItem::DocumentTagKey)?;
        if kept_key.as_deref() != Some(key.to_hex().as_bytes()) {
            outbox.set_fleet_item(
                FleetItem::DocumentTagKey,
                key.to_hex().as_bytes(),
                now_unix_ms,
            )?;
            tag_key_changed = true;
        }
    }
    Ok(FleetUpdate {
        roster_serial: offered.serial,
        roster_changed,
        tag_key_changed,
    })
}

/// The heartbeat at `now`: the probe's measurements (on a blocking thread) and the outbox's queue
/// (`status`).
pub async fn heartbeat(
    status: &enroll_store::QueueStatus,
    probe: &HealthProbe,
    now: UnixMs,
) -> Result<Heartbeat, FleetError> {
    let probe = std::sync::Arc::clone(probe);
    let health = tokio::task::spawn_blocking(move || probe(now))
        .await
        .map_err(|_| FleetError::HealthProbe)?;
    // A name the registry would refuse must not cost the terminal its roster: it goes as
    // "unknown" (or is left out, for a check).
    let token = |text: String| {
        if enroll_protocol::heartbeat::is_token(&text) {
            text
        } else {
            "unknown".to_owned()
        }
    };
    Ok(Heartbeat {
        version: token(health.version),
        model_pack: token(health.model_pack),
        queue_depth: status.pending + status.sending,
        oldest_unsent_age_ms: status
            .oldest_unsent_created_at_unix_ms
            .map(|created| u64::try_from(now.as_i64() - created.as_i64()).unwrap_or(0)),
        checks: health
            .checks
            .into_iter()
            .filter(|(name, _)| enroll_protocol::heartbeat::is_token(name))
            .take(enroll_protocol::heartbeat::MAX_CHECKS)
            .collect(),
    })
}

/// Asks the registry for this terminal's fleet state (proving it holds the terminal key) and takes
/// the answer ([`take_fleet_answer`]).
pub async fn refresh_fleet(
    outbox: &mut Outbox,
    client: &HttpClient,
    settings: &SyncSettings,
    fleet: &FleetSettings,
    now_unix_ms: UnixMs,
) -> Result<FleetUpdate, FleetError> {
    let at = now_unix_ms.as_i64();
    let heartbeat_json = match &fleet.health {
        Some(probe) => Some(
            heartbeat(&outbox.status()?, probe, now_unix_ms)
                .await?
                .to_json(),
        ),
        None => None,
    };
    let proof = fleet
        .terminal_key
        .try_sign(&fleet_request_message(
            &fleet.terminal_id,
            at,
            heartbeat_json.as_deref(),
        ))
        .map_err(|error| FleetError::Unreachable(error.to_string()))?;
    let request = FleetRequest {
        at_unix_ms: at,
        proof_base64: enroll_core::domain::document::base64_bytes::encode(&proof),
        heartbeat_json,
    };
    let json = serde_json::to_value(&request).map_err(|_| FleetError::Malformed)?;
    let (status, body) = post_json(
        client,
        &format!(
            "{}/v1/terminals/{}/fleet",
            settings.registry_url, fleet.terminal_id
        ),
        &json,
        Duration::from_millis(settings.request_timeout_ms),
    )
    .await
    .map_err(FleetError::Unreachable)?;
    if status != 200 {
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_default();
        return Err(FleetError::Refused { status, said });
    }
    let answer: FleetAnswer = serde_json::from_slice(&body).map_err(|_| FleetError::Malformed)?;
    let update = take_fleet_answer(
        outbox,
        &fleet.terminal_id,
        &settings.registry_receipt_key,
        &answer,
        now_unix_ms,
    )?;
    if update.roster_changed {
        tracing::info!(serial = update.roster_serial, "officer roster updated");
    }
    if update.tag_key_changed {
        tracing::info!("document-tag key updated");
    }
    Ok(update)
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    pub retried: u64,
    /// The last problem met, when one was.
    pub last_error: Option<String>,
}

/// Why a pass could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The registry URL cannot be used.
    #[error("registry.url {0:?} is not usable: {1}")]
    Url(String, String),
}

/// The delay before attempt `attempts + 1`: full jitter over `min(cap, base * 2^attempts)`.
/// `random` is a uniformly random number (from the OS in production, fixed in tests).
pub fn backoff_ms(attempts: i64, base_ms: u64, cap_ms: u64, random: u64) -> u64 {
    let exponent = u32::try_from(attempts.clamp(0, 32)).unwrap_or(32);
    let ceiling = base_ms
        .saturating_mul(1u64.checked_shl(exponent).unwrap_or(u64::MAX))
        .min(cap_ms)
        .max(1);
    // Scale the random number onto 0..=ceiling (uniform, no modulo bias).
    let scaled = u128::from(random) * u128::from(ceiling) / u128::from(u64::MAX);
    u64::try_from(scaled).unwrap_or(ceiling)
}

/// The HTTP client the worker uses: HTTP/1.1, over TLS for `https://` URLs.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for the worker. `tls` says which CAs an `https://` registry's certificate must
/// chain to (see [`enroll_protocol::tls::client_config`]); without it only `http://` works.
pub fn http_client(tls: Option<rustls::ClientConfig>) -> HttpClient {
    let mut tls = tls.unwrap_or_else(|| {
        // No trust anchors: every https:// connection fails its certificate check.
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|builder| {
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
    });
    // The connector announces HTTP/1.1 itself and insists on an empty ALPN list.
    tls.alpn_protocols.clear();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Why a request failed, with the causes hyper keeps behind "client error (Connect)", and what
/// to do when the registry's certificate is the problem.
fn unreachable(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("the registry is unreachable: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (the registry's TLS certificate is not trusted: check registry.tls_ca_file)",
        );
    }
    text
}

/// POSTs `json` to `url` and waits up to `timeout` for the whole answer: its status and body, or
/// why there is none (for the terminal's one-off requests, e.g. provisioning).
pub async fn post_json(
    client: &HttpClient,
    url: &str,
    json: &serde_json::Value,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_string())))
        .map_err(|error| format!("cannot build the request: {error}"))?;
    let response = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => return Err("the registry did not answer in time".to_owned()),
        Ok(Err(error)) => return Err(unreachable(&error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    match tokio::time::timeout(timeout, response.into_body().collect()).await {
        Ok(Ok(collected)) => Ok((status, collected.to_bytes().to_vec())),
        Ok(Err(error)) => Err(format!("the answer was cut off: {error}")),
        Err(_) => Err("the answer did not arrive in time".to_owned()),
    }
}

/// The outcome of sending one record.
enum Sent {
    Acknowledged(Vec<u8>),
    Rejected(String),
    Retry(String),
}

async fn send(client: &HttpClient, settings: &SyncSettings, record: &Outgoing) -> Sent {
    let envelope = RecordEnvelope {
        body: record.body.clone(),
        signature: record.signature.clone(),
        sealed_payload: record.sealed_payload.clone(),
    };
    let request = match hyper::Request::post(format!("{}/v1/records", settings.registry_url))
        .header("content-type", "application/vnd.enroll-kiosk.record")
        .body(Full::new(Bytes::from(envelope.encode())))
    {
        Ok(request) => request,
        Err(error) => return Sent::Retry(format!("cannot build the request: {error}")),
    };
    let timeout = Duration::from_millis(settings.request_timeout_ms);
    let response = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => return Sent::Retry("the registry did not answer in time".to_owned()),
        Ok(Err(error)) => return Sent::Retry(unreachable(&error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    let body = match tokio::time::timeout(timeout, response.into_body().collect()).await {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(error)) => return Sent::Retry(format!("the answer was cut off: {error}")),
        Err(_) => return Sent::Retry("the answer did not arrive in time".to_owned()),
    };
    if status.is_success() {
        return Sent::Acknowledged(body);
    }
    let reason = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status.as_u16() {
        // 403: the terminal was revoked before it signed the record; it will never be taken.
        400 | 403 | 409 => Sent::Rejected(reason),
        _ => Sent::Retry(format!("registry answered {status}: {reason}")),
    }
}

/// Sends every record due at `now_unix_ms` (in batches of `batch_size`, in commit order) once.
/// `random` supplies jitter for retries.
pub async fn sync_pass(
    outbox: &mut Outbox,
    client: &HttpClient,
    settings: &SyncSettings,
    now_unix_ms: UnixMs,
    random: &mut (dyn FnMut() -> u64 + Send),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    loop {
        let batch = outbox.claim_due(now_unix_ms, settings.batch_size.max(1))?;
        if batch.is_empty() {
            if let Some(days) = settings.retention_days {
                let deleted = outbox.apply_retention(now_unix_ms, days)?;
                if deleted > 0 {
                    tracing::info!(deleted, "sealed payloads past retention deleted");
                }
            }
            return Ok(report);
        }
        let mut stop = false;
        let mut unsent = Vec::new();
        for record in batch {
            if stop {
                unsent.push(record.id);
                continue;
            }
            report.sent += 1;
            match send(client, settings, &record).await {
                Sent::Acknowledged(receipt) => match verify_receipt(
                    &receipt,
                    &settings.registry_receipt_key,
                    &record.id,
                    &record.body_sha256,
                ) {
                    Ok(_) => {
                        let id = record.id.parse().map_err(|_| {
                            SyncError::Url(settings.registry_url.clone(), "bad record id".into())
                        })?;
                        outbox.mark_acknowledged(&id, &receipt, now_unix_ms)?;
                        report.acknowledged += 1;
                        tracing::info!(record = %record.id, "record acknowledged");
                        // Marking a record acknowledged rewrites its row, payload included (about
                        // 0.6 MB of WAL for a 300 KB payload), so a draining backlog checkpoints as
                        // it goes rather than leaving a large WAL for an enrollment to meet.
                        outbox.checkpoint_if_due_or_log();
                    }
                    Err(error) => {
                        let delay = backoff_ms(
                            record.attempts,
                            settings.backoff_base_ms,
                            settings.backoff_cap_ms,
                            random(),
                        );
                        let message = error.to_string();
                        tracing::warn!(record = %record.id, error = %message, "receipt refused");
                        outbox.mark_retry(&record.id, &message, now_unix_ms.plus_ms(delay))?;
                        report.retried += 1;
                        report.last_error = Some(message);
                    }
                },
                Sent::Rejected(reason) => {
                    tracing::warn!(record = %record.id, reason = %reason, "record rejected by the registry");
                    outbox.mark_rejected(&record.id, &reason)?;
                    report.rejected += 1;
                    report.last_error = Some(reason);
                }
                Sent::Retry(reason) => {
                    let delay = backoff_ms(
                        record.attempts,
                        settings.backoff_base_ms,
                        settings.backoff_cap_ms,
                        random(),
                    );
                    tracing::info!(record = %record.id, delay_ms = delay, error = %reason, "will retry");
                    outbox.mark_retry(&record.id, &reason, now_unix_ms.plus_ms(delay))?;
                    report.retried += 1;
                    report.last_error = Some(reason);
                    stop = true;
                }
            }
        }
        if stop {
            // After a connection failure the rest of the batch waits for the next pass.
            outbox.release_unsent(&unsent, now_unix_ms)?;
            return Ok(report);
        }
    }
}

/// What the worker reports to the UI and diagnostics after every pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Records not yet acknowledged or rejected.
    pub unsent: u64,
    /// Records the registry acknowledged.
    pub acknowledged: u64,
    /// Records the registry refused.
    pub rejected: u64,
    /// Why new enrollments are paused (a guard's refusal), if they are.
    pub guard: Option<enroll_store::GuardRefusal>,
    /// When a record was last acknowledged.
    pub last_success_unix_ms: Option<UnixMs>,
    /// The last problem, with its reason; cleared by a clean pass.
    pub last_error: Option<String>,
    /// Whether the registry answered the last request or probe.
    pub online: bool,
    /// Passes run so far.
    pub passes: u64,
    /// The serial of the officer roster the registry last served (none: not fetched yet).
    pub roster_serial: Option<u64>,
}

/// Timing of the worker loop.
#[derive(Clone, Copy, Debug)]
pub struct WorkerTiming {
    /// How often to look for new records when the queue is idle.
    pub idle_poll_ms: u64,
    /// How often to probe `/healthz` while records wait for a backoff to end.
    pub probe_ms: u64,
}

/// How often an idle worker (nothing to send) checks that the registry answers.
const IDLE_PROBE_INTERVAL_MS: u64 = 30_000;

/// How often the worker refreshes the officer roster and the document-tag key: a badge disabled
/// at the registry is refused here within this time (while the registry is reachable).
pub const FLEET_INTERVAL_MS: u64 = 60_000;

async fn registry_answers(client: &HttpClient, settings: &SyncSettings) -> bool {
    let Ok(request) = hyper::Request::get(format!("{}/healthz", settings.registry_url))
        .body(Full::new(Bytes::new()))
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(settings.request_timeout_ms), client.request(request)).await,
        Ok(Ok(response)) if response.status().is_success()
    )
}

/// The sync worker: a pass whenever records are due; while a backoff runs it probes the registry
/// and, when it answers again, sends at once instead of waiting out the backoff. Time comes from
/// `clock` (Unix ms) and tokio's timer, so tests can pause time.
pub struct Worker {
    pub outbox: Outbox,
    pub client: HttpClient,
    pub settings: SyncSettings,
    pub timing: WorkerTiming,
    pub clock: std::sync::Arc<dyn Fn() -> UnixMs + Send + Sync>,
    pub random: Box<dyn FnMut() -> u64 + Send>,
}

impl Worker {
    /// Runs until `shutdown` turns true, publishing its state after every pass.
    pub async fn run(
        mut self,
        state: tokio::sync::watch::Sender<SyncState>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), SyncError> {
        let mut current = SyncState::default();
        // An idle queue still asks the registry now and then, so "online" means something
        // before the first record goes (the officer's dashboard, the applicant's receipt).
        let mut last_idle_probe: Option<tokio::time::Instant> = None;
        let mut last_fleet: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let now = (self.clock)();
            let report = sync_pass(
                &mut self.outbox,
                &self.client,
                &self.settings,
                now,
                &mut *self.random,
            )
            .await?;
            let status = self.outbox.status()?;
            current.passes += 1;
            current.unsent = status.pending + status.sending;
            current.acknowledged = status.acknowledged;
            current.rejected = status.rejected;
            current.guard = match &self.settings.guard_limits {
                Some(limits) => match self.outbox.check_guards((self.clock)(), limits) {
                    Err(enroll_store::StoreError::Refused(refusal)) => Some(refusal),
                    _ => None,
                },
                None => None,
            };
            if report.acknowledged > 0 {
                current.last_success_unix_ms = Some((self.clock)());
            }
            if report.sent > 0 {
                current.online = report.retried == 0 || report.acknowledged > 0;
                current.last_error = report.last_error.clone();
            } else if current.unsent == 0
                && last_idle_probe
                    .is_none_or(|at| at.elapsed() >= Duration::from_millis(IDLE_PROBE_INTERVAL_MS))
            {
                last_idle_probe = Some(tokio::time::Instant::now());
                current.online = registry_answers(&self.client, &self.settings).await;
            }
            if let Some(fleet) = &self.settings.fleet
                && last_fleet
                    .is_none_or(|at| at.elapsed() >= Duration::from_millis(FLEET_INTERVAL_MS))
            {
                last_fleet = Some(tokio::time::Instant::now());
                match refresh_fleet(
                    &mut self.outbox,
                    &self.client,
                    &self.settings,
                    fleet,
                    (self.clock)(),
                )
                .await
                {
                    Ok(update) => current.roster_serial = Some(update.roster_serial),
                    Err(error) => {
                        tracing::warn!(%error, "the officer roster was not refreshed; the kept copy stays in force")
                    }
                }
            }
            let _ = state.send(current.clone());
            let waiting = report.retried > 0 || (current.unsent > 0 && !current.online);
            let pause = if waiting {
                self.timing.probe_ms
            } else {
                self.timing.idle_poll_ms
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(pause)) => {}
                _ = shutdown.changed() => return Ok(()),
            }
            if waiting && registry_answers(&self.client, &self.settings).await {
                // Connectivity is back: everything waiting is due now.
                self.outbox.make_due((self.clock)())?;
                current.online = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_to_the_cap_with_full_jitter() {
        // The largest random value shows the ceiling of each attempt.
        let ceiling = |attempts| backoff_ms(attempts, 500, 60_000, u64::MAX - 1);
        assert_eq!(ceiling(0), 499);
        assert_eq!(ceiling(3), 3_999);
        assert_eq!(ceiling(20), 59_999);
        assert_eq!(backoff_ms(3, 500, 60_000, u64::MAX), 4_000);
        assert_eq!(backoff_ms(5, 500, 60_000, 0), 0, "full jitter reaches zero");
        for random in [0, 1, 12345, u64::MAX] {
            assert!(backoff_ms(40, 500, 60_000, random) <= 60_000);
        }
    }
}
