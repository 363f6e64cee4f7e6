//! Certificate selection for a ClientHello.
//!
//! A socket may carry several Gateway listeners (one per hostname), each with one or more
//! certificates. The SNI name first selects the listener the way HTTP hosts do (exact, then
//! the longest `*.` suffix, then the listener without a hostname); within the listener a
//! certificate whose SAN names the host exactly wins, then one whose `*.` SAN covers exactly
//! one label, then the listener's first certificate (its default).

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::LoadedCertificate;

/// The certificates of one Gateway listener.
#[derive(Debug, Clone)]
pub struct HostCertificates {
    /// The listener's hostname; `None` accepts any SNI (and none).
    pub hostname: Option<String>,
    pub certificates: Vec<LoadedCertificate>,
}

impl HostCertificates {
    fn pick(&self, sni: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let by_name = |want: &str| {
            self.certificates
                .iter()
                .find(|c| c.names.iter().any(|n| n == want))
        };
        let chosen = sni.and_then(|sni| {
            by_name(sni).or_else(|| {
                // A wildcard SAN covers exactly one label.
                let (_, parent) = sni.split_once('.')?;
                by_name(&format!("*.{parent}"))
            })
        });
        chosen.or(self.certificates.first()).map(|c| &c.key)
    }
}

/// Chooses a certificate by SNI among the listeners of one socket.
#[derive(Debug, Default)]
pub struct SniResolver {
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    any: Option<usize>,
    hosts: Vec<HostCertificates>,
}

impl SniResolver {
    pub fn new(hosts: Vec<HostCertificates>) -> SniResolver {
        let mut r = SniResolver {
            hosts,
            ..Default::default()
        };
        for (i, h) in r.hosts.iter().enumerate() {
            match h.hostname.as_deref() {
                None => r.any = Some(i),
                Some(name) => match name.strip_prefix("*.") {
                    Some(suffix) => {
                        r.wildcard.insert(suffix.to_owned(), i);
                    }
                    None => {
                        r.exact.insert(name.to_owned(), i);
                    }
                },
            }
        }
        r
    }

    /// The index of the Gateway listener that SNI `name` selects.
    pub fn listener_for(&self, sni: Option<&str>) -> Option<usize> {
        let Some(sni) = sni else { return self.any };
        if let Some(i) = self.exact.get(sni) {
            return Some(*i);
        }
        let mut rest = sni;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if let Some(i) = self.wildcard.get(rest) {
                return Some(*i);
            }
        }
        self.any
    }

    pub fn resolve_name(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let sni = sni.map(str::to_ascii_lowercase);
        let host = &self.hosts[self.listener_for(sni.as_deref())?];
        host.pick(sni.as_deref()).cloned()
    }

    pub fn hosts(&self) -> &[HostCertificates] {
        &self.hosts
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.resolve_name(hello.server_name())
    }
}
