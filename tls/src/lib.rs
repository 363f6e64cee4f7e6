//! weir-tls: certificate material. No network I/O.
//!
//! - `material`: `kubernetes.io/tls` Secret contents → a checked rustls `CertifiedKey`
//!   (PEM chain; PKCS#8, PKCS#1 or SEC1 keys; key matches leaf; chain order; expiry).
//! - `sni`: choosing a certificate for a ClientHello (exact name, then a one-label `*.`
//!   wildcard, then the listener's default), as a rustls `ResolvesServerCert`.
//! - `devcert`: a local CA and wildcard certificates via rcgen, for `weir certs` and tests.
//!
//! One crypto provider for the whole workspace: ring (see docs/adr/0006).

pub mod client_auth;
pub mod devcert;
pub mod material;
pub mod sni;

use std::sync::Arc;

pub use material::{CertificateError, LoadedCertificate};
pub use sni::{HostCertificates, SniResolver};

/// The crypto provider every TLS config in weir uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config for `resolver` with TLS 1.2 and 1.3 and ALPN h2 and http/1.1.
pub fn server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Arc<rustls::ServerConfig> {
    server_config_with_client_auth(resolver, None)
}

/// As `server_config`, verifying client certificates with `client_verifier` when given.
pub fn server_config_with_client_auth(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match client_verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}
