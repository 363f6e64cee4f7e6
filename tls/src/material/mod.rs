//! Parsing and checking the contents of a `kubernetes.io/tls` Secret.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::*;

/// Why certificate material was refused. The message is what a listener condition shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("tls.crt holds no PEM certificate")]
    NoCertificate,
    #[error("tls.crt: {0}")]
    BadCertificate(String),
    #[error("tls.key holds no PEM private key (PKCS#8, PKCS#1 or SEC1 expected)")]
    NoKey,
    #[error("tls.key: {0}")]
    BadKey(String),
    #[error("tls.key does not match the certificate in tls.crt")]
    KeyMismatch,
    #[error("certificate expired at {0}")]
    Expired(String),
    #[error("certificate is not valid before {0}")]
    NotYetValid(String),
    #[error(
        "tls.crt chain is out of order: certificate {index} is not issued by the certificate after it; put the leaf first, then each issuer"
    )]
    ChainOrder { index: usize },
}

/// A checked certificate, ready to serve.
#[derive(Clone, Debug)]
pub struct LoadedCertificate {
    pub key: Arc<CertifiedKey>,
    /// DNS names from the leaf's subjectAltName (falling back to its CN when it has none).
    pub names: Vec<String>,
    /// Leaf notAfter, seconds since the Unix epoch.
    pub not_after: i64,
}

impl LoadedCertificate {
    /// Parses a PEM chain (leaf first) and key, and checks them at `now` (Unix seconds).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        now: i64,
    ) -> Result<LoadedCertificate, CertificateError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| CertificateError::BadCertificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(CertificateError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => CertificateError::NoKey,
            other => CertificateError::BadKey(other.to_string()),
        })?;
        let parsed: Vec<X509Certificate<'_>> = chain
            .iter()
            .map(|c| {
                X509Certificate::from_der(c)
                    .map(|(_, x)| x)
                    .map_err(|e| CertificateError::BadCertificate(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        for i in 0..parsed.len().saturating_sub(1) {
            if parsed[i].issuer() != parsed[i + 1].subject() {
                return Err(CertificateError::ChainOrder { index: i });
            }
        }
        let leaf = &parsed[0];
        let validity = leaf.validity();
        if now > validity.not_after.timestamp() {
            return Err(CertificateError::Expired(validity.not_after.to_string()));
        }
        if now < validity.not_before.timestamp() {
            return Err(CertificateError::NotYetValid(
                validity.not_before.to_string(),
            ));
        }
        let names = dns_names(leaf);
        let not_after = validity.not_after.timestamp();
        let provider = crate::provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| CertificateError::BadKey(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(_)) => return Err(CertificateError::KeyMismatch),
            // Key types whose public key rustls cannot compare: trust the pairing.
            Err(_) => {}
        }
        Ok(LoadedCertificate {
            key: Arc::new(certified),
            names,
            not_after,
        })
    }

    /// Seconds until the leaf expires.
    pub fn expires_in(&self, now: i64) -> i64 {
        self.not_after - now
    }
}

fn dns_names(leaf: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = leaf
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Some(cn) = leaf
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
    {
        names.push(cn.to_ascii_lowercase());
    }
    names
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
