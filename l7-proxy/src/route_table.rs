//! The compiled form of a `ProxyConfig`: lookup tables built once per config version and
//! shared by every request that starts while that version is active.
//!
//! Lookup order: socket → Gateway listener by hostname (most specific) → virtual host by
//! hostname (most specific) → first route in precedence order whose match succeeds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;

use crate::config::{
    self, BackendTarget, Filter, PathMatch, ProxyConfig, StringMatch, UpstreamProtocol,
};

/// Why a config could not be compiled. `translate` validates everything first, so this
/// means a config from elsewhere (or a bug) and the previous config stays active.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("route {route}: {what}: {reason}")]
    Route {
        route: String,
        what: String,
        reason: String,
    },
    #[error("listener {0}: address used twice")]
    DuplicateListener(SocketAddr),
    #[error("cluster {name}: {reason}")]
    Cluster { name: String, reason: String },
    #[error("listener {address}: certificate {name}: {reason}")]
    Certificate {
        address: SocketAddr,
        name: String,
        reason: String,
    },
}

/// A compiled `ProxyConfig`.
pub struct RouteTable {
    pub version: u64,
    pub source: Arc<ProxyConfig>,
    /// TCP sockets (HTTP, HTTPS/TLS, TCP) by address.
    pub listeners: HashMap<SocketAddr, Arc<PortTable>>,
    /// UDP sockets by address; they may share an address with a TCP socket.
    pub udp_listeners: HashMap<SocketAddr, Arc<PortTable>>,
    pub clusters: HashMap<String, Arc<ClusterTable>>,
}

/// What one socket serves.
pub struct PortTable {
    pub hosts: HostMap<HostTable>,
    /// For HTTPS sockets: the TLS acceptor, whose resolver holds this version's certificates.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub protocol: config::ListenerProtocol,
}

/// One Gateway listener's virtual hosts (HTTP) or SNI routes (TLS).
pub struct HostTable {
    pub name: Arc<str>,
    pub mode: config::HostMode,
    pub vhosts: HostMap<Vec<CompiledRoute>>,
    pub sni_routes: HostMap<BackendGroup>,
}

/// Hostname-keyed lookup: exact name, then the longest matching `*.` suffix, then `*`.
pub struct HostMap<T> {
    exact: HashMap<String, T>,
    /// Keyed by the suffix after `*.`.
    wildcard: HashMap<String, T>,
    any: Option<T>,
}

impl<T> Default for HostMap<T> {
    fn default() -> Self {
        HostMap {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            any: None,
        }
    }
}

impl<T> HostMap<T> {
    pub fn insert(&mut self, pattern: Option<&str>, value: T) {
        match pattern {
            None | Some("*") => self.any = Some(value),
            Some(p) => match p.strip_prefix("*.") {
                Some(suffix) => {
                    self.wildcard.insert(suffix.to_owned(), value);
                }
                None => {
                    self.exact.insert(p.to_owned(), value);
                }
            },
        }
    }

    /// `host` must be lower-case and without a port. A wildcard matches one or more labels.
    pub fn lookup(&self, host: &str) -> Option<&T> {
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        if !self.wildcard.is_empty() {
            let mut rest = host;
            while let Some(i) = rest.find('.') {
                rest = &rest[i + 1..];
                if let Some(v) = self.wildcard.get(rest) {
                    return Some(v);
                }
            }
        }
        self.any.as_ref()
    }
}

/// A route ready to match.
pub struct CompiledRoute {
    pub name: Arc<str>,
    path: CompiledPath,
    method: Option<Method>,
    headers: Vec<(HeaderName, CompiledString)>,
    query: Vec<(String, CompiledString)>,
    pub filters: Vec<CompiledFilter>,
    pub backends: BackendGroup,
    pub timeouts: config::Timeouts,
    pub retry: Option<config::Retry>,
    pub session: Option<config::SessionPersistence>,
    /// The route's metric series, made on its first request.
    pub metrics: std::sync::OnceLock<crate::metrics::RouteMetrics>,
}

enum CompiledPath {
    Exact(String),
    /// Without a trailing slash; empty for `/`.
    Prefix(String),
    Regex(Regex),
}

enum CompiledString {
    Exact(String),
    Regex(Regex),
}

impl CompiledString {
    fn matches(&self, v: &str) -> bool {
        match self {
            CompiledString::Exact(e) => e == v,
            CompiledString::Regex(r) => r.is_match(v),
        }
    }
}

/// The parts of a request that routes match on.
pub struct RequestParts<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

impl CompiledRoute {
    pub fn matches(&self, req: &RequestParts<'_>) -> bool {
        let path_ok = match &self.path {
            CompiledPath::Exact(p) => req.path == p,
            CompiledPath::Prefix(p) => {
                req.path.starts_with(p.as_str())
                    && matches!(req.path.as_bytes().get(p.len()), None | Some(b'/'))
            }
            CompiledPath::Regex(r) => r.is_match(req.path),
        };
        path_ok
            && self.method.as_ref().is_none_or(|m| m == req.method)
            && self.headers.iter().all(|(name, m)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| m.matches(v)))
            })
            && self
                .query
                .iter()
                .all(|(name, m)| query_param(req.query, name).is_some_and(|v| m.matches(&v)))
    }

    /// The matched prefix, for `ReplacePrefixMatch`.
    pub fn matched_prefix(&self) -> Option<&str> {
        match &self.path {
            CompiledPath::Prefix(p) => Some(p),
            _ => None,
        }
    }
}

/// The first value of a query parameter, percent-decoded.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A filter ready to apply.
pub enum CompiledFilter {
    RequestHeaders(CompiledHeaderModifier),
    ResponseHeaders(CompiledHeaderModifier),
    Redirect(config::Redirect),
    Rewrite {
        hostname: Option<HeaderValue>,
        path: Option<config::PathRewrite>,
    },
    /// `seen` counts requests so that exactly `percent` of them are mirrored, evenly spread.
    Mirror {
        cluster: Arc<ClusterTable>,
        percent: f64,
        seen: Arc<AtomicUsize>,
    },
    Cors(Arc<crate::cors::CompiledCors>),
}

pub struct CompiledHeaderModifier {
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

impl CompiledHeaderModifier {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (n, v) in &self.set {
            headers.insert(n.clone(), v.clone());
        }
        for (n, v) in &self.add {
            headers.append(n.clone(), v.clone());
        }
        for n in &self.remove {
            headers.remove(n);
        }
    }
}

/// Weighted backends of a route.
pub struct BackendGroup {
    /// (cumulative weight, backend); entries with weight 0 are left out.
    entries: Vec<(u64, CompiledBackend)>,
    total: u64,
    /// Coprime with `total`: request n takes slot `n * stride mod total`, a permutation of the
    /// slots in every `total` consecutive requests (ADR 0008).
    stride: u64,
    next: AtomicU64,
}

pub struct CompiledBackend {
    pub target: CompiledTarget,
    pub filters: Vec<CompiledFilter>,
}

pub enum CompiledTarget {
    Cluster(Arc<ClusterTable>),
    Invalid { status: u16, reason: Arc<str> },
}

impl BackendGroup {
    /// Every backend that can take traffic (weight above 0).
    pub fn entries(&self) -> impl Iterator<Item = &CompiledBackend> {
        self.entries.iter().map(|(_, b)| b)
    }

    /// Picks a backend in proportion to weight, exactly over every `total` consecutive picks
    /// and spread out within them (weights 70/30: 7 of every 10, interleaved), not by chance.
    /// `None` when nothing can take traffic (no backendRefs, or every weight is 0): the
    /// caller answers 500.
    pub fn pick(&self) -> Option<&CompiledBackend> {
        match self.entries.len() {
            0 => None,
            1 => Some(&self.entries[0].1),
            _ => {
                let n = self.next.fetch_add(1, Ordering::Relaxed) % self.total;
                let r = n * self.stride % self.total;
                let i = self.entries.partition_point(|(cum, _)| *cum <= r);
                self.entries.get(i).map(|(_, b)| b)
            }
        }
    }
}

/// An upstream cluster with its endpoints and balancing state.
pub struct ClusterTable {
    pub name: Arc<str>,
    pub protocol: UpstreamProtocol,
    /// The endpoints, their load-balancing policy and state (in flight, ejections).
    pub balancer: crate::balance::Balancer,
    /// TLS to the endpoints, when a BackendTLSPolicy applies.
    pub tls: Option<Arc<UpstreamTlsTable>>,
    source_tls: Option<config::UpstreamTls>,
}

/// A compiled BackendTLSPolicy: the client config and SNI for one cluster.
pub struct UpstreamTlsTable {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
    /// Distinguishes pooled connections made with different TLS settings.
    pub id: u64,
}

impl ClusterTable {
    pub fn endpoints(&self) -> &[SocketAddr] {
        &self.balancer.endpoints
    }

    /// An endpoint for a connection (TCP, TLS and UDP routes), by the cluster's policy.
    pub fn pick(&self) -> Option<SocketAddr> {
        self.balancer.pick(None, None).map(|p| p.addr)
    }
}

impl RouteTable {
    /// Compiles `config`. Cluster state (round-robin position) is carried over from
    /// `previous` for clusters whose endpoints did not change.
    pub fn compile(
        config: Arc<ProxyConfig>,
        version: u64,
        previous: Option<&RouteTable>,
    ) -> Result<RouteTable, CompileError> {
        let mut clusters = HashMap::new();
        for (name, c) in &config.clusters {
            let reused = previous
                .and_then(|p| p.clusters.get(name))
                .filter(|p| {
                    p.protocol == c.protocol
                        && p.balancer.endpoints == c.endpoints
                        && *p.balancer.policy() == c.load_balancing
                        && p.source_tls == c.tls
                })
                .cloned();
            let table = match reused {
                Some(t) => t,
                None => Arc::new(ClusterTable {
                    name: name.as_str().into(),
                    protocol: c.protocol,
                    balancer: crate::balance::Balancer::new(
                        c.endpoints.clone(),
                        c.load_balancing.clone(),
                    ),
                    tls: c
                        .tls
                        .as_ref()
                        .map(|t| upstream_tls(t, c.protocol))
                        .transpose()
                        .map_err(|reason| CompileError::Cluster {
                            name: name.clone(),
                            reason,
                        })?,
                    source_tls: c.tls.clone(),
                }),
            };
            clusters.insert(name.clone(), table);
        }
        let mut listeners = HashMap::new();
        let mut udp_listeners = HashMap::new();
        for l in &config.listeners {
            let mut hosts = HostMap::default();
            for h in &l.hosts {
                let mut vhosts = HostMap::default();
                for vh in &h.virtual_hosts {
                    let routes = vh
                        .routes
                        .iter()
                        .map(|r| compile_route(r, &clusters))
                        .collect::<Result<Vec<_>, _>>()?;
                    vhosts.insert(Some(vh.hostname.as_str()), routes);
                }
                let mut sni_routes = HostMap::default();
                for r in &h.tls_routes {
                    let group = compile_backends(&r.backends, &clusters).map_err(|e| {
                        CompileError::Route {
                            route: r.name.clone(),
                            what: "backend".into(),
                            reason: e,
                        }
                    })?;
                    sni_routes.insert(Some(r.hostname.as_str()), group);
                }
                hosts.insert(
                    h.hostname.as_deref(),
                    HostTable {
                        name: h.name.as_str().into(),
                        mode: h.mode,
                        vhosts,
                        sni_routes,
                    },
                );
            }
            let tls = match l.protocol {
                config::ListenerProtocol::Http
                | config::ListenerProtocol::Tcp
                | config::ListenerProtocol::Udp => None,
                config::ListenerProtocol::Https => Some(tls_acceptor(l)?),
            };
            let map = if l.protocol == config::ListenerProtocol::Udp {
                &mut udp_listeners
            } else {
                &mut listeners
            };
            if map
                .insert(
                    l.address,
                    Arc::new(PortTable {
                        hosts,
                        tls,
                        protocol: l.protocol,
                    }),
                )
                .is_some()
            {
                return Err(CompileError::DuplicateListener(l.address));
            }
        }
        Ok(RouteTable {
            version,
            source: config,
            listeners,
            udp_listeners,
            clusters,
        })
    }
}

/// Builds the socket's TLS acceptor from its listeners' certificates.
fn tls_acceptor(l: &config::Listener) -> Result<tokio_rustls::TlsAcceptor, CompileError> {
    let now = weir_tls::material::unix_now();
    let mut hosts = Vec::new();
    for h in &l.hosts {
        let mut certificates = Vec::new();
        for c in &h.certificates {
            let loaded = weir_tls::LoadedCertificate::from_pem(
                c.cert_pem.as_bytes(),
                c.key_pem.as_bytes(),
                now,
            )
            .map_err(|e| CompileError::Certificate {
                address: l.address,
                name: c.name.clone(),
                reason: e.to_string(),
            })?;
            certificates.push(loaded);
        }
        hosts.push(weir_tls::HostCertificates {
            hostname: h.hostname.clone(),
            certificates,
        });
    }
    let resolver = Arc::new(weir_tls::SniResolver::new(hosts));
    let client_verifier = match &l.client_validation {
        None => None,
        Some(v) => {
            let bundles: Vec<&[u8]> = v.ca_pems.iter().map(|p| p.as_bytes()).collect();
            let bad = |reason: String| CompileError::Certificate {
                address: l.address,
                name: "client CA".into(),
                reason,
            };
            let roots = weir_tls::client_auth::root_store(&bundles).map_err(bad)?;
            let mode = if v.insecure_fallback {
                weir_tls::client_auth::ClientValidationMode::AllowInsecureFallback
            } else {
                weir_tls::client_auth::ClientValidationMode::AllowValidOnly
            };
            Some(weir_tls::client_auth::client_verifier(roots, mode).map_err(bad)?)
        }
    };
    Ok(tokio_rustls::TlsAcceptor::from(
        weir_tls::server_config_with_client_auth(resolver, client_verifier),
    ))
}

/// The client config for a cluster's BackendTLSPolicy.
fn upstream_tls(
    t: &config::UpstreamTls,
    protocol: UpstreamProtocol,
) -> Result<Arc<UpstreamTlsTable>, String> {
    use std::hash::{Hash, Hasher};
    use weir_tls::client_auth::{BackendIdentity, BackendVerifier};
    let roots = if t.ca_pems.is_empty() && t.system_roots {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        roots
    } else {
        let bundles: Vec<&[u8]> = t.ca_pems.iter().map(|p| p.as_bytes()).collect();
        weir_tls::client_auth::root_store(&bundles)?
    };
    let identity = if t.subject_alt_names.is_empty() && t.subject_alt_uris.is_empty() {
        BackendIdentity::Hostname(t.hostname.clone())
    } else {
        use weir_tls::client_auth::SubjectAltName;
        let dns = t
            .subject_alt_names
            .iter()
            .map(|n| SubjectAltName::Dns(n.clone()));
        BackendIdentity::SubjectAltNames(
            dns.chain(
                t.subject_alt_uris
                    .iter()
                    .map(|u| SubjectAltName::Uri(u.clone())),
            )
            .collect(),
        )
    };
    let verifier = Arc::new(BackendVerifier::new(roots, identity)?);
    let client_cert = match &t.client_certificate {
        Some(c) => Some(
            weir_tls::LoadedCertificate::from_pem(
                c.cert_pem.as_bytes(),
                c.key_pem.as_bytes(),
                weir_tls::material::unix_now(),
            )
            .map_err(|e| format!("client certificate {}: {e}", c.name))?,
        ),
        None => None,
    };
    let alpn: &[&[u8]] = match protocol {
        UpstreamProtocol::H2c => &[b"h2"],
        _ => &[b"http/1.1"],
    };
    let config =
        weir_tls::client_auth::backend_client_config(verifier, client_cert.as_ref(), alpn)?;
    let server_name = rustls::pki_types::ServerName::try_from(t.hostname.clone())
        .map_err(|e| format!("hostname {}: {e}", t.hostname))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{t:?}").hash(&mut h);
    Ok(Arc::new(UpstreamTlsTable {
        config,
        server_name,
        id: h.finish(),
    }))
}

fn compile_route(
    r: &config::Route,
    clusters: &HashMap<String, Arc<ClusterTable>>,
) -> Result<CompiledRoute, CompileError> {
    let bad = |what: &str, reason: String| CompileError::Route {
        route: r.name.clone(),
        what: what.to_owned(),
        reason,
    };
    let regex = |what: &str, re: &str| {
        Regex::new(&format!("^(?:{re})$")).map_err(|e| bad(what, e.to_string()))
    };
    let string = |what: &str, m: &StringMatch| -> Result<CompiledString, CompileError> {
        Ok(match m {
            StringMatch::Exact(s) => CompiledString::Exact(s.clone()),
            StringMatch::Regex(re) => CompiledString::Regex(regex(what, re)?),
        })
    };
    let path = match &r.matcher.path {
        PathMatch::Exact(p) => CompiledPath::Exact(p.clone()),
        PathMatch::Prefix(p) => CompiledPath::Prefix(p.trim_end_matches('/').to_owned()),
        PathMatch::Regex(re) => CompiledPath::Regex(regex("path", re)?),
    };
    let method = r
        .matcher
        .method
        .as_deref()
        .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| bad("method", e.to_string())))
        .transpose()?;
    let headers = r
        .matcher
        .headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|e| bad("header", e.to_string()))?;
            Ok((name, string("header", &h.value)?))
        })
        .collect::<Result<_, CompileError>>()?;
    let query = r
        .matcher
        .query_params
        .iter()
        .map(|q| Ok((q.name.clone(), string("query", &q.value)?)))
        .collect::<Result<_, CompileError>>()?;
    let filters = compile_filters(&r.filters, clusters).map_err(|e| bad("filter", e))?;
    let backends = compile_backends(&r.backends, clusters).map_err(|e| bad("backend filter", e))?;
    Ok(CompiledRoute {
        name: r.name.as_str().into(),
        path,
        method,
        headers,
        query,
        filters,
        backends,
        timeouts: r.timeouts,
        retry: r.retry.clone(),
        session: r.session.clone(),
        metrics: std::sync::OnceLock::new(),
    })
}

fn compile_backends(
    backends: &[config::WeightedBackend],
    clusters: &HashMap<String, Arc<ClusterTable>>,
) -> Result<BackendGroup, String> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    for b in backends {
        if b.weight == 0 {
            continue;
        }
        total += u64::from(b.weight);
        let target = match &b.target {
            BackendTarget::Cluster(name) => match clusters.get(name) {
                Some(c) => CompiledTarget::Cluster(c.clone()),
                None => CompiledTarget::Invalid {
                    status: 500,
                    reason: format!("cluster {name} is not defined").into(),
                },
            },
            BackendTarget::Invalid { status, reason } => CompiledTarget::Invalid {
                status: *status,
                reason: reason.as_str().into(),
            },
        };
        let filters = compile_filters(&b.filters, clusters)?;
        entries.push((total, CompiledBackend { target, filters }));
    }
    Ok(BackendGroup {
        entries,
        total,
        stride: spreading_stride(total),
        next: AtomicU64::new(0),
    })
}

/// The integer nearest `total / φ` that is coprime with `total`: consecutive picks land far
/// apart in the cumulative-weight line, so backends alternate instead of coming in runs.
fn spreading_stride(total: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    if total <= 2 {
        return 1;
    }
    let start = ((total as f64) * 0.618_033_988_75).round() as u64;
    (0..total)
        .flat_map(|d| [start + d, start.saturating_sub(d)])
        .find(|&c| c > 0 && c < total && gcd(c, total) == 1)
        .unwrap_or(1)
}

fn compile_filters(
    filters: &[Filter],
    clusters: &HashMap<String, Arc<ClusterTable>>,
) -> Result<Vec<CompiledFilter>, String> {
    filters
        .iter()
        .map(|f| {
            Ok(match f {
                Filter::RequestHeaders(m) => CompiledFilter::RequestHeaders(compile_header_mod(m)?),
                Filter::ResponseHeaders(m) => {
                    CompiledFilter::ResponseHeaders(compile_header_mod(m)?)
                }
                Filter::Redirect(r) => CompiledFilter::Redirect(r.clone()),
                Filter::Cors(c) => {
                    CompiledFilter::Cors(Arc::new(crate::cors::CompiledCors::new(c)?))
                }
                Filter::Mirror(m) => CompiledFilter::Mirror {
                    cluster: clusters
                        .get(&m.cluster)
                        .cloned()
                        .ok_or_else(|| format!("mirror cluster {} is not defined", m.cluster))?,
                    percent: m.percent,
                    seen: Arc::new(AtomicUsize::new(0)),
                },
                Filter::Rewrite(r) => CompiledFilter::Rewrite {
                    hostname: r
                        .hostname
                        .as_deref()
                        .map(HeaderValue::from_str)
                        .transpose()
                        .map_err(|e| e.to_string())?,
                    path: r.path.clone(),
                },
            })
        })
        .collect()
}

fn compile_header_mod(m: &config::HeaderModifier) -> Result<CompiledHeaderModifier, String> {
    let pair = |(n, v): &(String, String)| -> Result<(HeaderName, HeaderValue), String> {
        Ok((
            HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header {n:?}: {e}"))?,
            HeaderValue::from_str(v).map_err(|e| format!("header {n:?} value: {e}"))?,
        ))
    };
    Ok(CompiledHeaderModifier {
        set: m.set.iter().map(pair).collect::<Result<_, _>>()?,
        add: m.add.iter().map(pair).collect::<Result<_, _>>()?,
        remove: m
            .remove
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header {n:?}: {e}")))
            .collect::<Result<_, _>>()?,
    })
}

/// `ReplacePrefixMatch`: swap the matched prefix of `path` for `replacement`.
pub fn replace_prefix(path: &str, matched_prefix: &str, replacement: &str) -> String {
    let rest = path.get(matched_prefix.len()..).unwrap_or("");
    let repl = replacement.trim_end_matches('/');
    let mut out = String::with_capacity(repl.len() + rest.len() + 1);
    out.push_str(repl);
    if !rest.is_empty() && !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
