//! The registry link check: the sync worker's own client asks `/healthz` (reachable, latency,
//! the registry's `Date` for the clock check) and, for `https://`, a TLS handshake with the
//! configured trust reports the protocol and the certificate's remaining days. It sends no
//! records and reads no clock (the caller's time comes in).

use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;

use super::verdicts;
use super::{CheckId, Finding, Status};
use crate::config::Config;
use crate::configured::sync_setup;
use enroll_core::domain::time::UnixMs;
use enroll_sync::http_client;

/// How long the registry may take to answer the check.
const PROBE_TIMEOUT_MS: u64 = 5_000;

/// What the clock check can use from the registry's answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probe {
    /// The registry's time from its `Date` header (whole seconds), when it answered.
    pub registry_now_unix_ms: Option<UnixMs>,
}

/// `(host, port)` of an `http://` or `https://` URL.
fn host_and_port(url: &str) -> Option<(String, u16)> {
    let (rest, default_port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, 443)
    } else {
        (url.strip_prefix("http://")?, 80)
    };
    let authority = rest.split('/').next()?;
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
}

/// Checks the configured registry link at the terminal's time `now_unix_ms`.
pub fn check(config: &Config, now_unix_ms: UnixMs) -> (Finding, Probe) {
    let url = config.registry.url.trim_end_matches('/').to_owned();
    let (_, tls) = match sync_setup(config, &url) {
        Ok(setup) => setup,
        Err(error) => {
            let finding = Finding::problem(
                CheckId::Network,
                Status::Fail,
                format!("{url}: not usable"),
                error.to_string(),
            );
            return (finding, Probe::default());
        }
    };
    let runtime = match crate::runtime::current_thread() {
        Ok(runtime) => runtime,
        Err(error) => {
            let finding = Finding::problem(
                CheckId::Network,
                Status::Fail,
                "not checked",
                format!("cannot start the network runtime: {error}"),
            );
            return (finding, Probe::default());
        }
    };
    runtime.block_on(probe(url, tls, now_unix_ms))
}

async fn probe(
    url: String,
    tls: Option<rustls::ClientConfig>,
    now_unix_ms: UnixMs,
) -> (Finding, Probe) {
    let timeout = Duration::from_millis(PROBE_TIMEOUT_MS);
    let client = http_client(tls.clone());
    let request = match hyper::Request::get(format!("{url}/healthz")).body(Full::new(Bytes::new()))
    {
        Ok(request) => request,
        Err(error) => {
            let finding = Finding::problem(
                CheckId::Network,
                Status::Fail,
                format!("{url}: not usable"),
                format!("registry.url does not make a request: {error}"),
            );
            return (finding, Probe::default());
        }
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout, client.request(request)).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let unreachable = |detail: String| {
        Finding::problem(
            CheckId::Network,
            Status::Fail,
            format!("{url}: no answer"),
            format!(
                "{detail}; check the network cable and registry.url; records wait safely in \
                 the outbox and are sent when the registry answers"
            ),
        )
    };
    let response = match answer {
        Err(_) => {
            let detail = format!("no answer within {PROBE_TIMEOUT_MS} ms");
            return (unreachable(detail), Probe::default());
        }
        Ok(Err(error)) => return (unreachable(error.to_string()), Probe::default()),
        Ok(Ok(response)) => response,
    };
    let registry_now_unix_ms = response
        .headers()
        .get(hyper::header::DATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| httpdate::parse_http_date(text).ok())
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .and_then(|since| i64::try_from(since.as_millis()).ok())
        .map(UnixMs);
    let probe = Probe {
        registry_now_unix_ms,
    };
    if !response.status().is_success() {
        let finding = Finding::problem(
            CheckId::Network,
            Status::Fail,
            format!("{url}: answers {}", response.status()),
            "the registry is up but not healthy: tell the registry's operators",
        );
        return (finding, probe);
    }
    let handshake = match (&tls, host_and_port(&url)) {
        (Some(tls), Some((host, port))) if url.starts_with("https://") => {
            Some(tls_handshake(tls.clone(), &host, port, now_unix_ms).await)
        }
        _ => None,
    };
    let cert_days_left = handshake
        .as_ref()
        .and_then(|h| h.as_ref().ok())
        .and_then(|h| h.cert_days_left);
    let verdict = verdicts::network(latency_ms, cert_days_left);
    let mut finding = Finding {
        advice: verdict.advice,
        ..Finding::new(CheckId::Network, verdict.status, verdict.value)
    }
    .detail("registry", url);
    match handshake {
        Some(Ok(done)) => {
            finding = finding.detail("TLS", done.protocol);
        }
        Some(Err(problem)) => {
            finding = Finding {
                status: Status::Fail,
                advice: Some(format!(
                    "{problem}; check registry.tls_ca_file against the registry's certificate"
                )),
                ..finding
            };
        }
        None => {
            finding = finding.detail("TLS", "none (plain HTTP on loopback)");
        }
    }
    (finding, probe)
}

struct Handshake {
    protocol: String,
    cert_days_left: Option<i64>,
}

async fn tls_handshake(
    mut tls: rustls::ClientConfig,
    host: &str,
    port: u16,
    now_unix_ms: UnixMs,
) -> Result<Handshake, String> {
    tls.alpn_protocols.clear();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
    let timeout = Duration::from_millis(PROBE_TIMEOUT_MS);
    let tcp = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("no TLS connection to {host}:{port} within {PROBE_TIMEOUT_MS} ms"))?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let stream = tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| format!("the TLS handshake with {host}:{port} did not finish"))?
        .map_err(|e| format!("the TLS handshake with {host}:{port} failed: {e}"))?;
    let (_, connection) = stream.get_ref();
    let protocol = connection
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "unknown".to_owned());
    let cert_days_left = connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| enroll_crypto::passive_auth::certificate_validity(cert.as_ref()))
        .map(|(_, not_after_unix_s)| (not_after_unix_s - now_unix_ms.secs()).div_euclid(86_400));
    Ok(Handshake {
        protocol,
        cert_days_left,
    })
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn hosts_and_ports_come_from_the_url() {
        assert_eq!(
            host_and_port("https://registry.example:8443/x"),
            Some(("registry.example".into(), 8443))
        );
        assert_eq!(
            host_and_port("http://127.0.0.1:9000"),
            Some(("127.0.0.1".into(), 9000))
        );
        assert_eq!(
            host_and_port("https://registry.example"),
            Some(("registry.example".into(), 443))
        );
        assert_eq!(
            host_and_port("https://[::1]:8443"),
            Some(("::1".into(), 8443))
        );
        assert_eq!(host_and_port("ftp://x"), None);
    }
}
