//! Client certificates on the frontend (Gateway `tls.frontend` validation) and TLS to
//! backends (BackendTLSPolicy, the Gateway's backend client certificate).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

/// Reads every certificate of a PEM bundle into a root store. Errors name what is wrong.
pub fn root_store(pem_bundles: &[&[u8]]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for pem in pem_bundles {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("the CA bundle holds no PEM certificate".into());
    }
    Ok(roots)
}

/// How strictly client certificates are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientValidationMode {
    /// A valid client certificate is required.
    AllowValidOnly,
    /// Ask for one, but let connections without a valid one through.
    AllowInsecureFallback,
}

/// A verifier for client certificates signed by `roots`.
pub fn client_verifier(
    roots: RootCertStore,
    mode: ClientValidationMode,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let strict = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::provider())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(match mode {
        ClientValidationMode::AllowValidOnly => strict,
        ClientValidationMode::AllowInsecureFallback => Arc::new(InsecureFallback(strict)),
    })
}

/// Offers client authentication, but accepts a missing or failing certificate.
#[derive(Debug)]
struct InsecureFallback(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for InsecureFallback {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Err(e) = self.0.verify_client_cert(end_entity, intermediates, now) {
            tracing::debug!(error = %e, "client certificate failed validation; allowed by AllowInsecureFallback");
        }
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Which names a backend certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendIdentity {
    /// The SNI hostname (BackendTLSPolicy `validation.hostname`).
    Hostname(String),
    /// Any of these subjectAltNames, instead of the hostname.
    SubjectAltNames(Vec<SubjectAltName>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    Dns(String),
    /// A URI SAN, such as a SPIFFE ID, compared exactly.
    Uri(String),
}

/// Verifies a backend's chain against `roots` (server-auth usage) and its name against
/// `identity`. rustls' own verifier checks only DNS names and IPs; URI SANs are read with
/// x509-parser.
#[derive(Debug)]
pub struct BackendVerifier {
    roots: RootCertStore,
    identity: BackendIdentity,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl BackendVerifier {
    pub fn new(roots: RootCertStore, identity: BackendIdentity) -> Result<BackendVerifier, String> {
        if roots.is_empty() {
            return Err("no trust anchors".into());
        }
        Ok(BackendVerifier {
            roots,
            identity,
            provider: crate::provider(),
        })
    }
}

fn uri_sans(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::*;
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return vec![];
    };
    cert.subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some(u.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl ServerCertVerifier for BackendVerifier {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        _sni: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = rustls::server::ParsedCertificate::try_from(ee)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            inter,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let dns = |name: &str| {
            ServerName::try_from(name.to_owned())
                .map_err(|e| rustls::Error::General(format!("{name}: {e}")))
                .and_then(|n| rustls::client::verify_server_name(&parsed, &n))
        };
        match &self.identity {
            BackendIdentity::Hostname(h) => dns(h)?,
            BackendIdentity::SubjectAltNames(names) => {
                let uris = uri_sans(ee);
                let ok = names.iter().any(|n| match n {
                    SubjectAltName::Dns(d) => dns(d).is_ok(),
                    SubjectAltName::Uri(u) => uris.iter().any(|x| x == u),
                });
                if !ok {
                    return Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName,
                    ));
                }
            }
        }
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client config for TLS to a backend: `verifier`, an optional client certificate, ALPN.
pub fn backend_client_config(
    verifier: Arc<dyn ServerCertVerifier>,
    client_cert: Option<&crate::LoadedCertificate>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, String> {
    let builder = rustls::ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut cfg = match client_cert {
        Some(c) => builder.with_client_cert_resolver(Arc::new(FixedClientCert(c.key.clone()))),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// Presents the same client certificate to every backend that asks.
#[derive(Debug)]
struct FixedClientCert(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}
