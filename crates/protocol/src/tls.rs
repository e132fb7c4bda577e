//! TLS for the registry link (rustls with the ring provider, TLS 1.2 and 1.3): the server's
//! configuration from a PEM certificate chain and key, and the terminal's client configuration
//! trusting the CA certificates of one PEM file. It takes PEM bytes; reading files is the caller's.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration cannot be built. The texts name the file role, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No certificate in the PEM text.
    #[error("the {role} file holds no PEM certificate")]
    NoCertificate {
        /// Which file ("certificate chain", "CA").
        role: &'static str,
    },
    /// A certificate cannot be parsed.
    #[error("the {role} file holds a certificate that cannot be read: {detail}")]
    BadCertificate {
        /// Which file.
        role: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// No usable private key.
    #[error(
        "the TLS key file holds no PEM private key (PKCS#8, SEC1 or PKCS#1 expected): {detail}"
    )]
    NoKey {
        /// What was wrong.
        detail: String,
    },
    /// rustls refused the combination.
    #[error("the TLS configuration is refused: {0}")]
    Config(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8], role: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::BadCertificate {
            role,
            detail: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate { role });
    }
    Ok(certificates)
}

/// The server configuration: `chain_pem` is the server certificate followed by intermediates.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(chain_pem, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| TlsError::NoKey {
        detail: error.to_string(),
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The terminal's client configuration, trusting exactly the CA certificates in `ca_pem`
/// (a private registry CA, or the system bundle `/etc/ssl/certs/ca-certificates.crt`).
pub fn client_config(ca_pem: &[u8]) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    // A system bundle may hold a few certificates webpki cannot use; one usable CA is enough.
    let (added, _ignored) = roots.add_parsable_certificates(certificates(ca_pem, "CA")?);
    if added == 0 {
        return Err(TlsError::BadCertificate {
            role: "CA",
            detail: "none of its certificates can serve as a trust anchor".into(),
        });
    }
    // ALPN is left to the HTTP connector, which announces the protocols it speaks.
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
