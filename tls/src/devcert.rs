//! Development certificates: a local CA and leaf certificates signed by it (rcgen).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA that can sign leaf certificates.
pub struct DevCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM-encoded.
pub struct DevCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl DevCa {
    pub fn new(common_name: &str) -> Result<DevCa, rcgen::Error> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(DevCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A leaf for `names` (DNS SANs, `*.` wildcards allowed), valid for `days` from now
    /// (negative `days` gives an already expired certificate, for tests).
    pub fn issue(&self, names: &[&str], days: i64) -> Result<DevCert, rcgen::Error> {
        self.issue_with_uris(names, &[], days)
    }

    /// As `issue`, with URI subjectAltNames (SPIFFE IDs) besides the DNS names.
    pub fn issue_with_uris(
        &self,
        names: &[&str],
        uris: &[&str],
        days: i64,
    ) -> Result<DevCert, rcgen::Error> {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        for u in uris {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI(rcgen::string::Ia5String::try_from(
                    u.to_string(),
                )?));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("weir"));
        let now = time_now();
        if days >= 0 {
            params.not_before = now - std::time::Duration::from_secs(3600);
            params.not_after = now + std::time::Duration::from_secs(days as u64 * 86_400);
        } else {
            params.not_before = now - std::time::Duration::from_secs((-days) as u64 * 86_400 * 2);
            params.not_after = now - std::time::Duration::from_secs((-days) as u64 * 86_400);
        }
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(DevCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A `kubernetes.io/tls` Secret manifest holding `cert` (and optionally the CA in `ca.crt`).
pub fn secret_manifest(
    namespace: &str,
    name: &str,
    cert: &DevCert,
    ca_pem: Option<&str>,
) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let mut out = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        b64(&cert.cert_pem),
        b64(&cert.key_pem)
    );
    if let Some(ca) = ca_pem {
        out.push_str(&format!("  ca.crt: {}\n", b64(ca)));
    }
    out
}
