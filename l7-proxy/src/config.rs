//! The dataplane config model: what the proxy serves, and nothing about where it came from.
//!
//! `ProxyConfig` → sockets (`Listener`) → Gateway listeners by hostname (`ListenerHost`) →
//! virtual hosts by request hostname → routes in precedence order → filters and a weighted
//! backend group → clusters of endpoints. It is produced by the controller's `translate`, is
//! plain data (serializable for `/config` and for remote proxies), and is compiled into fast
//! lookup tables by `crate::route_table`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Everything one proxy serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfig {
    /// One per bound socket, sorted by address.
    pub listeners: Vec<Listener>,
    /// Upstream clusters by name (`namespace/service:port`).
    pub clusters: BTreeMap<String, Cluster>,
}

/// A bound socket and what it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub address: SocketAddr,
    pub protocol: ListenerProtocol,
    /// The Gateway listeners that share this socket. A request is served only by the most
    /// specific one whose hostname matches (listener isolation).
    pub hosts: Vec<ListenerHost>,
    /// TLS sockets: client certificates are checked against these CAs (Gateway
    /// `tls.frontend` validation for this port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_validation: Option<ClientValidation>,
}

/// Frontend client-certificate validation for one port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientValidation {
    /// PEM CA bundles.
    pub ca_pems: Vec<String>,
    /// AllowInsecureFallback: ask for a certificate but let connections without a valid one in.
    pub insecure_fallback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListenerProtocol {
    /// HTTP/1.1 and HTTP/2 prior knowledge (h2c), detected per connection.
    Http,
    /// TLS: the ClientHello's SNI selects the Gateway listener, whose `mode` says what follows
    /// (terminate and serve HTTP, terminate and splice TCP, or pass the TLS bytes through).
    Https,
    /// Plain TCP: every connection is spliced to the listener's TCPRoute backends.
    Tcp,
    /// UDP: datagrams are relayed to the listener's UDPRoute backends, one upstream socket per
    /// client address (a flow), closed after an idle timeout.
    Udp,
}

/// What a Gateway listener on a TLS socket does after the ClientHello.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostMode {
    /// Plain HTTP socket, or HTTPS: terminate TLS and route HTTP (`virtual_hosts`).
    #[default]
    Http,
    /// TLS listener, mode Passthrough: splice the untouched TLS stream to `tls_routes`.
    TlsPassthrough,
    /// TLS listener, mode Terminate: terminate, then splice the plaintext to `tls_routes`.
    TlsTerminate,
    /// TCP listener: splice to `tls_routes` (one entry, hostname `*`, from the TCPRoute).
    Tcp,
    /// UDP listener: relay datagrams to `tls_routes` (one entry, hostname `*`, from the UDPRoute).
    Udp,
}

/// A TLSRoute entry: connections whose SNI matches `hostname` go to `backends`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SniRoute {
    /// `namespace/route`, for logs.
    pub name: String,
    /// Exact, `*.` wildcard, or `*`.
    pub hostname: String,
    pub backends: Vec<WeightedBackend>,
}

/// One Gateway listener on a socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerHost {
    /// `namespace/gateway/listener`, for logs and metrics.
    pub name: String,
    /// The listener's hostname (`foo.example.com` or `*.example.com`); `None` matches any.
    pub hostname: Option<String>,
    /// One per distinct request hostname pattern; `*` matches any host.
    pub virtual_hosts: Vec<VirtualHost>,
    /// HTTPS and TLS Terminate: the listener's certificates, the first being its default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificatePem>,
    #[serde(default, skip_serializing_if = "is_http")]
    pub mode: HostMode,
    /// TLS listeners: SNI routes (TLSRoutes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_routes: Vec<SniRoute>,
}

fn is_http(m: &HostMode) -> bool {
    *m == HostMode::Http
}

/// A certificate chain and key, PEM-encoded, from a `kubernetes.io/tls` Secret.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePem {
    /// `namespace/name` of the Secret, for logs and metrics.
    pub name: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertificatePem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatePem")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The routes that answer one hostname pattern, in precedence order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHost {
    /// Exact (`foo.example.com`), wildcard (`*.example.com`) or `*` for any host.
    pub hostname: String,
    pub routes: Vec<Route>,
}

/// One match of one rule: the first route whose match succeeds serves the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// `namespace/route/rule/match` indices, for metrics and logs.
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
    pub backends: Vec<WeightedBackend>,
    #[serde(default, skip_serializing_if = "Timeouts::is_empty")]
    pub timeouts: Timeouts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionPersistence>,
}

/// HTTPRoute rule retries: a backend answer with one of `codes` (or a connection failure that
/// maps to one of them) is retried up to `attempts` more times, `backoff_ms` apart at least.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

/// HTTPRoute rule timeouts; `None` means no timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// The whole request, until response headers reach the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_ms: Option<u64>,
    /// One request to a backend, until its response headers arrive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_request_ms: Option<u64>,
}

impl Timeouts {
    pub fn is_empty(&self) -> bool {
        self.request_ms.is_none() && self.backend_request_ms.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    pub path: PathMatch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<ValueMatch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathMatch {
    Exact(String),
    /// Segment-wise prefix: `/foo` matches `/foo` and `/foo/bar`, not `/foobar`.
    Prefix(String),
    Regex(String),
}

impl Default for PathMatch {
    fn default() -> Self {
        PathMatch::Prefix("/".into())
    }
}

/// A header (name case-insensitive) or query parameter (name case-sensitive) match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueMatch {
    pub name: String,
    pub value: StringMatch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StringMatch {
    Exact(String),
    Regex(String),
}

/// Request and response processing, applied in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Filter {
    RequestHeaders(HeaderModifier),
    ResponseHeaders(HeaderModifier),
    /// Answer with a redirect instead of forwarding.
    Redirect(Redirect),
    Rewrite(Rewrite),
    /// Send a copy of the request to `cluster` (for `percent` of requests) and ignore the answer.
    Mirror(Mirror),
    /// Cross-origin resource sharing: answer preflights, add CORS headers to responses.
    Cors(Cors),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    /// Exact origins, `*`, or patterns such as `https://*.example.com`.
    pub allow_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
    /// Seconds a preflight may be cached (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mirror {
    pub cluster: String,
    /// 0 to 100.
    pub percent: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderModifier {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathRewrite {
    Full(String),
    /// Replace the part matched by the route's `Prefix` path match.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
    pub status: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewrite {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedBackend {
    pub weight: u32,
    pub target: BackendTarget,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BackendTarget {
    /// Forward to the named cluster.
    Cluster(String),
    /// The reference could not be resolved: its share of requests is answered with this
    /// status (500 per the spec), and the reason is logged.
    Invalid { status: u16, reason: String },
}

/// An upstream: a Service port and its ready endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub protocol: UpstreamProtocol,
    pub endpoints: Vec<SocketAddr>,
    /// How an endpoint is chosen (least request by default).
    #[serde(default, skip_serializing_if = "LoadBalancing::is_default")]
    pub load_balancing: LoadBalancing,
    /// TLS to the endpoints (BackendTLSPolicy); plaintext when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
}

/// How a cluster chooses an endpoint for a request (`crate::balance`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadBalancing {
    /// Power of two choices by requests in flight.
    #[default]
    LeastRequest,
    RoundRobin,
    Random,
    /// The same key reaches the same endpoint (rendezvous hashing).
    ConsistentHash {
        on: HashOn,
    },
}

impl LoadBalancing {
    pub fn is_default(&self) -> bool {
        *self == LoadBalancing::LeastRequest
    }
}

/// The request attribute a consistent hash uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HashOn {
    /// A request header (lower-case name).
    Header(String),
    Cookie(String),
    /// The client's address.
    SourceIp,
}

/// HTTPRoute rule `sessionPersistence`: requests carrying the session go to the endpoint that
/// served the first one, while it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPersistence {
    /// The cookie or header name.
    pub name: String,
    /// A header instead of a cookie.
    #[serde(default)]
    pub header: bool,
    /// Seconds from the session's start after which it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_timeout_s: Option<u64>,
    /// Seconds without a request after which it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_s: Option<u64>,
    /// Cookie lifetime Permanent: `Max-Age` is the absolute timeout (else a session cookie).
    #[serde(default)]
    pub permanent: bool,
}

/// How to verify a backend's certificate, and what to present to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamTls {
    /// The BackendTLSPolicy this comes from (`namespace/name`).
    pub policy: String,
    /// SNI, and the name checked when `subject_alt_names` is empty.
    pub hostname: String,
    /// PEM CA bundles; empty with `system_roots` means the system trust store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_pems: Vec<String>,
    #[serde(default)]
    pub system_roots: bool,
    /// DNS subjectAltNames accepted instead of the hostname.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// URI subjectAltNames (SPIFFE IDs) accepted instead of the hostname.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_uris: Vec<String>,
    /// The Gateway's backend client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<CertificatePem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpstreamProtocol {
    Http1,
    /// HTTP/2 prior knowledge (appProtocol `kubernetes.io/h2c`).
    H2c,
    /// HTTP/1.1 with upgrades expected (appProtocol `kubernetes.io/ws`).
    WebSocket,
}
