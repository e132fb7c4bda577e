//! Fetching lists from a registry: one HTTP(S) GET with hyper on a small runtime, TLS through
//! rustls with the CA file given. It knows nothing of what the bytes mean.

use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// How long one request may take.
const TIMEOUT_MS: u64 = 15_000;
/// The largest answer accepted (a status list is at most a few KiB).
const MAX_BODY_BYTES: usize = 1 << 20;

/// A client for one sync.
pub struct Fetcher {
    runtime: tokio::runtime::Runtime,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    /// A client trusting the CA certificates in `ca_pem` for https:// (none: plain http only).
    pub fn new(ca_pem: Option<&[u8]>) -> anyhow::Result<Fetcher> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            let certificates = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .context("the --ca-file holds no readable PEM certificate")?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                bail!("the --ca-file holds no certificate usable as a trust anchor");
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Fetcher {
            runtime,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// GETs `url`; any status but 200 is an error naming it.
    pub fn get(&self, url: &str) -> anyhow::Result<Vec<u8>> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("{url} is not a URL"))?;
        self.runtime.block_on(async {
            let timeout = Duration::from_millis(TIMEOUT_MS);
            let response = tokio::time::timeout(timeout, self.client.get(uri))
                .await
                .with_context(|| format!("{url} did not answer within {TIMEOUT_MS} ms"))?
                .map_err(|error| {
                    let mut text = format!("cannot reach {url}: {error}");
                    let mut source = std::error::Error::source(&error);
                    while let Some(cause) = source {
                        text.push_str(&format!(": {cause}"));
                        source = cause.source();
                    }
                    anyhow::anyhow!(text)
                })?;
            let status = response.status();
            let body = tokio::time::timeout(
                timeout,
                http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES).collect(),
            )
            .await
            .with_context(|| format!("the answer from {url} did not arrive in time"))?
            .map_err(|error| anyhow::anyhow!("the answer from {url} was cut off: {error}"))?
            .to_bytes();
            if !status.is_success() {
                bail!(
                    "{url} answered {status}: {}",
                    String::from_utf8_lossy(&body).trim()
                );
            }
            Ok(body.to_vec())
        })
    }
}
