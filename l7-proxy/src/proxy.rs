//! The life of one request, phase by phase:
//!
//! 1. `select_routes`: socket → Gateway listener → virtual host, by the request's host;
//! 2. `match_route`: the first route (in precedence order) whose match succeeds;
//! 3. `request_filters`: redirects answer at once; header changes and rewrites apply;
//! 4. `select_backend`: weighted choice, then the backend's own filters, then an endpoint;
//! 5. `forward`: hop-by-hop headers out, X-Forwarded-* in, over HTTP/1.1 or h2c, with
//!    upgrades (websocket) spliced through;
//! 6. `response_filters` and metrics.
//!
//! Every request holds the `RouteTable` it started with until it ends, so a config swap never
//! changes a request midway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::config::{PathRewrite, UpstreamProtocol};
use crate::metrics::Metrics;
use crate::route_table::{
    CompiledFilter, CompiledHeaderModifier, CompiledRoute, CompiledTarget, RequestParts,
    RouteTable, replace_prefix,
};
use crate::upstream::Upstreams;

/// Response bodies: streamed from upstream, or generated here.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// The downstream connection a request arrived on.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// The listener's configured address (the key into the route table).
    pub listener: SocketAddr,
    pub peer: SocketAddr,
    /// Set when TLS was terminated here: the SNI name the client sent, if any.
    pub tls: Option<TlsInfo>,
}

#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub sni: Option<Arc<str>>,
}

impl Downstream {
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

/// State shared by every request: the active route table, upstream pools and metrics.
pub struct Proxy {
    table: ArcSwap<RouteTable>,
    upstreams: Upstreams,
    pub metrics: Metrics,
}

/// Where a request ended up, for metrics.
struct Outcome<'t> {
    route: Option<&'t CompiledRoute>,
    response: Response<ProxyBody>,
    /// The proxy answered this error itself (no route, no backend, upstream failure): the
    /// reason, which a gRPC client gets as `grpc-message`.
    error: Option<&'static str>,
}

impl Proxy {
    pub fn new(table: RouteTable, metrics: Metrics) -> Self {
        Proxy {
            table: ArcSwap::from_pointee(table),
            upstreams: Upstreams::default(),
            metrics,
        }
    }

    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Swaps in a new table. Requests already running keep the one they loaded.
    pub fn swap(&self, table: RouteTable) {
        let live: std::collections::HashSet<SocketAddr> = table
            .clusters
            .values()
            .flat_map(|c| c.endpoints().iter().copied())
            .collect();
        self.table.store(Arc::new(table));
        self.upstreams.retain_endpoints(|a| live.contains(a));
    }

    pub async fn handle(&self, down: &Downstream, req: Request<Incoming>) -> Response<ProxyBody> {
        let start = Instant::now();
        let table = self.table.load_full();
        let grpc = is_grpc(req.headers());
        let out = self.route(&table, down, req, start).await;
        let status = out.response.status();
        match out.route {
            Some(r) => r
                .metrics
                .get_or_init(|| self.metrics.route(&r.name))
                .observe(status, start.elapsed()),
            None => self.metrics.observe(None, status, start.elapsed()),
        }
        match out.error {
            Some(message) if grpc => grpc_error(status, message),
            _ => out.response,
        }
    }

    async fn route<'t>(
        &self,
        table: &'t RouteTable,
        down: &Downstream,
        mut req: Request<Incoming>,
        start: Instant,
    ) -> Outcome<'t> {
        let Some(host) = request_host(&req) else {
            return local(None, StatusCode::BAD_REQUEST, "missing Host");
        };
        let routes = match select_routes(table, down, &host) {
            Ok(r) => r,
            Err(status) => {
                return local(
                    None,
                    status,
                    if status == StatusCode::MISDIRECTED_REQUEST {
                        "misdirected request"
                    } else {
                        "no route"
                    },
                );
            }
        };
        let Some(route) = match_route(routes, &req) else {
            return local(None, StatusCode::NOT_FOUND, "no route");
        };
        let name = Some(route);
        let mut effects = Effects::default();
        if let Some(redirect) =
            request_filters(route, &route.filters, down, &host, &mut req, &mut effects)
        {
            return Outcome {
                route: name,
                response: redirect,
                error: None,
            };
        }
        // A live session names its endpoint, and with it the backend.
        let session = route
            .session
            .as_ref()
            .and_then(|sp| crate::session::find(sp, &route.backends, req.headers()));
        let backend = match &session {
            Some((b, _, _)) => *b,
            None => match route.backends.pick() {
                Some(b) => b,
                None => return local(name, StatusCode::INTERNAL_SERVER_ERROR, "no backends"),
            },
        };
        let session = session.map(|(_, addr, started)| (addr, started));
        let mut sticky = session.map(|(addr, _)| addr);
        if let Some(redirect) =
            request_filters(route, &backend.filters, down, &host, &mut req, &mut effects)
        {
            return Outcome {
                route: name,
                response: redirect,
                error: None,
            };
        }
        let mirrors = std::mem::take(&mut effects.mirrors);
        let cluster = match &backend.target {
            CompiledTarget::Cluster(c) => c,
            CompiledTarget::Invalid { status, reason } => {
                tracing::debug!(route = %route.name, %reason, "request routed to an invalid backend");
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return local(name, status, "invalid backend");
            }
        };
        // A retried request needs its body again: bodies of known size up to RETRY_BUFFER are
        // buffered; a larger or streamed body is sent once, without retries.
        // Retries and mirrors need the request again: small bodies of known size are buffered
        // (upgrades never: their connection cannot be copied).
        let hash_key = match cluster.balancer.policy() {
            crate::config::LoadBalancing::ConsistentHash { on } => {
                crate::balance::hash_key(on, req.headers(), down.peer)
            }
            _ => None,
        };
        let upgrade = is_upgrade(req.headers());
        let retry = route.retry.as_ref().filter(|_| !upgrade);
        let (mut once, replay) = if (retry.is_some() || !mirrors.is_empty()) && !upgrade {
            match buffer_for_replay(req).await {
                Ok(Replay::Buffered(r)) => (None, Some(r)),
                Ok(Replay::Streamed(req)) => (Some(req), None),
                Err(()) => return local(name, StatusCode::BAD_REQUEST, "request body failed"),
            }
        } else {
            (Some(req.map(Either::Left)), None)
        };
        if !mirrors.is_empty() {
            match &replay {
                Some(r) => self.send_mirrors(r, mirrors),
                None => {
                    tracing::debug!(route = %route.name, "request body too large or streamed; not mirrored")
                }
            }
        }
        let request_deadline = route
            .timeouts
            .request_ms
            .map(|ms| start + Duration::from_millis(ms));
        let mut attempt = 0u32;
        let mut last_endpoint = None;
        let mut response = loop {
            let (req, retriable) = match (&replay, once.take()) {
                (Some(r), _) => (r.request(), retry.is_some_and(|r| attempt < r.attempts)),
                (None, Some(req)) => (req, false),
                (None, None) => unreachable!("a streamed request is sent once"),
            };
            let pick = match sticky.take() {
                Some(addr) => cluster
                    .balancer
                    .pick_exact(addr)
                    .or_else(|| cluster.balancer.pick(hash_key, last_endpoint)),
                None => cluster.balancer.pick(hash_key, last_endpoint),
            };
            let Some(pick) = pick else {
                return local(name, StatusCode::SERVICE_UNAVAILABLE, "no healthy upstream");
            };
            let endpoint = pick.addr;
            last_endpoint = Some(endpoint);
            // backendRequest bounds this attempt; request bounds the whole exchange, retries
            // included.
            let deadline = [
                route
                    .timeouts
                    .backend_request_ms
                    .map(|ms| Instant::now() + Duration::from_millis(ms)),
                request_deadline,
            ]
            .into_iter()
            .flatten()
            .min();
            let forward = self.forward(
                down,
                endpoint,
                cluster.protocol,
                cluster.tls.as_deref(),
                req,
            );
            let result = match deadline {
                None => Some(forward.await),
                Some(d) => tokio::time::timeout_at(d.into(), forward).await.ok(),
            };
            drop(pick);
            let status = match &result {
                Some(Ok(r)) => r.status(),
                Some(Err(e)) => e.status(),
                None => StatusCode::GATEWAY_TIMEOUT,
            };
            // Passive outlier detection: gateway errors from this endpoint, or a success.
            let outcome = match (&result, status.as_u16()) {
                (Some(Ok(_)), 502..=504) | (Some(Err(_)) | None, _) => {
                    crate::balance::Outcome::GatewayError
                }
                _ => crate::balance::Outcome::Success,
            };
            if cluster.balancer.report(endpoint, outcome) {
                self.metrics.ejection(&cluster.name);
            }
            let whole_request_expired = request_deadline.is_some_and(|d| Instant::now() >= d);
            if retriable
                && !whole_request_expired
                && retry.is_some_and(|r| r.codes.contains(&status.as_u16()))
            {
                attempt += 1;
                self.metrics.retry(&route.name);
                tracing::debug!(route = %route.name, %endpoint, %status, attempt, "retrying");
                if let Some(ms) = retry.and_then(|r| r.backoff_ms) {
                    let wake = Instant::now() + Duration::from_millis(ms);
                    let wake = request_deadline.map_or(wake, |d| wake.min(d));
                    tokio::time::sleep_until(wake.into()).await;
                }
                continue;
            }
            match result {
                Some(Ok(r)) => break r,
                Some(Err(e)) => {
                    tracing::debug!(route = %route.name, %endpoint, error = %e, "upstream request failed");
                    return local(name, e.status(), "upstream failure");
                }
                None => {
                    tracing::debug!(route = %route.name, %endpoint, "timed out waiting for the backend");
                    return local(
                        name,
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream request timeout",
                    );
                }
            }
        };
        for m in effects.header_mods {
            m.apply(response.headers_mut());
        }
        if let (Some(sp), Some(endpoint)) = (&route.session, last_endpoint) {
            crate::session::issue(
                sp,
                endpoint,
                session,
                down.tls.is_some(),
                response.headers_mut(),
            );
        }
        if let Some((cors, origin)) = effects.cors {
            cors.response_headers(origin.as_ref(), response.headers_mut());
        }
        Outcome {
            route: name,
            response,
            error: None,
        }
    }

    /// Fire-and-forget copies of a buffered request (the main request is never delayed, and a
    /// failing mirror is only logged).
    fn send_mirrors(&self, req: &Buffered, mirrors: Vec<Arc<crate::route_table::ClusterTable>>) {
        for cluster in mirrors {
            let Some(endpoint) = cluster.pick() else {
                continue;
            };
            let mut copy = Request::new(Full::new(req.body.clone()));
            *copy.method_mut() = req.method.clone();
            *copy.uri_mut() = req
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .unwrap_or_else(|_| Uri::from_static("/"));
            *copy.headers_mut() = req.headers.clone();
            if copy.headers().get(header::HOST).is_none()
                && let Some(a) = req
                    .uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                copy.headers_mut().insert(header::HOST, a);
            }
            strip_hop_by_hop(copy.headers_mut(), false);
            let upstreams = self.upstreams.clone();
            tokio::spawn(async move {
                if let Err(e) = upstreams
                    .send_detached(endpoint, cluster.tls.as_deref(), copy)
                    .await
                {
                    tracing::debug!(%endpoint, error = %e, "mirror request failed");
                }
            });
        }
    }

    async fn forward(
        &self,
        down: &Downstream,
        endpoint: SocketAddr,
        protocol: UpstreamProtocol,
        tls: crate::upstream::UpstreamTls<'_>,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, crate::error::ProxyError> {
        let upgrade = req.version() == Version::HTTP_11 && is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        prepare_upstream_request(&mut req, down, protocol, tls.is_some(), upgrade);
        let mut resp = match protocol {
            UpstreamProtocol::H2c if !upgrade => self.upstreams.send_h2(endpoint, tls, req).await?,
            _ => self.upstreams.send_h1(endpoint, tls, req, upgrade).await?,
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut resp);
                tokio::spawn(splice_upgraded(client_upgrade, upstream_upgrade));
            }
        } else {
            strip_hop_by_hop(resp.headers_mut(), false);
        }
        Ok(resp.map(Either::Left))
    }
}

/// Phase 1: the routes that may answer `host` on this socket. Over TLS, a request whose host
/// selects another Gateway listener than the SNI did is misdirected (421): the client reused a
/// connection whose certificate and listener were chosen for a different name.
fn select_routes<'t>(
    table: &'t RouteTable,
    down: &Downstream,
    host: &str,
) -> Result<&'t [CompiledRoute], StatusCode> {
    let port = table
        .listeners
        .get(&down.listener)
        .ok_or(StatusCode::NOT_FOUND)?;
    let gateway_listener = port.hosts.lookup(host).ok_or(StatusCode::NOT_FOUND)?;
    if let Some(sni) = down.tls.as_ref().and_then(|t| t.sni.as_deref()) {
        let by_sni = port.hosts.lookup(sni).map(|h| &h.name);
        if by_sni != Some(&gateway_listener.name) {
            return Err(StatusCode::MISDIRECTED_REQUEST);
        }
    }
    gateway_listener
        .vhosts
        .lookup(host)
        .map(Vec::as_slice)
        .ok_or(StatusCode::NOT_FOUND)
}

/// Phase 2: the first route whose match succeeds.
fn match_route<'t>(
    routes: &'t [CompiledRoute],
    req: &Request<Incoming>,
) -> Option<&'t CompiledRoute> {
    let parts = RequestParts {
        method: req.method(),
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers(),
    };
    routes.iter().find(|r| r.matches(&parts))
}

/// What request filters leave for later: response header edits, CORS headers, mirrors.
#[derive(Default)]
struct Effects<'t> {
    header_mods: Vec<&'t CompiledHeaderModifier>,
    cors: Option<(&'t crate::cors::CompiledCors, Option<HeaderValue>)>,
    mirrors: Vec<Arc<crate::route_table::ClusterTable>>,
}

/// Phase 3: applies request filters in order. Returns a response when a filter answers.
fn request_filters<'t>(
    route: &CompiledRoute,
    filters: &'t [CompiledFilter],
    down: &Downstream,
    host: &str,
    req: &mut Request<Incoming>,
    effects: &mut Effects<'t>,
) -> Option<Response<ProxyBody>> {
    for f in filters {
        match f {
            CompiledFilter::Mirror {
                cluster,
                percent,
                seen,
            } => {
                // Request n is mirrored when floor((n+1)·p/100) passes floor(n·p/100): exactly
                // p% of requests, evenly spread, with no randomness to skew small samples.
                let n = seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as f64;
                if ((n + 1.0) * percent / 100.0).floor() > (n * percent / 100.0).floor() {
                    effects.mirrors.push(cluster.clone());
                }
            }
            CompiledFilter::Cors(cors) => {
                if let Some((status, headers)) = cors.preflight(req.method(), req.headers()) {
                    let mut resp = Response::new(Either::Right(Full::new(Bytes::new())));
                    *resp.status_mut() = status;
                    *resp.headers_mut() = headers;
                    return Some(resp);
                }
                effects.cors = Some((cors, req.headers().get(header::ORIGIN).cloned()));
            }
            CompiledFilter::RequestHeaders(m) => m.apply(req.headers_mut()),
            CompiledFilter::ResponseHeaders(m) => effects.header_mods.push(m),
            CompiledFilter::Redirect(r) => {
                let scheme = r.scheme.as_deref().unwrap_or(down.scheme());
                let port = r.port.unwrap_or_else(|| match r.scheme.as_deref() {
                    Some("https") => 443,
                    Some("http") => 80,
                    _ => down.listener.port(),
                });
                let host = r.hostname.as_deref().unwrap_or(host);
                let path = rewritten_path(route, req.uri().path(), r.path.as_ref());
                let mut location = format!("{scheme}://{host}");
                if !matches!((scheme, port), ("http", 80) | ("https", 443)) {
                    location.push_str(&format!(":{port}"));
                }
                location.push_str(&path);
                if let Some(q) = req.uri().query() {
                    location.push('?');
                    location.push_str(q);
                }
                let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FOUND);
                let mut resp = Response::new(Either::Right(Full::new(Bytes::new())));
                *resp.status_mut() = status;
                if let Ok(v) = HeaderValue::from_str(&location) {
                    resp.headers_mut().insert(header::LOCATION, v);
                }
                return Some(resp);
            }
            CompiledFilter::Rewrite { hostname, path } => {
                if let Some(h) = hostname {
                    req.headers_mut().insert(header::HOST, h.clone());
                }
                if let Some(p) = path {
                    let new_path = rewritten_path(route, req.uri().path(), Some(p));
                    let pq = match req.uri().query() {
                        Some(q) => format!("{new_path}?{q}"),
                        None => new_path,
                    };
                    let mut parts = req.uri().clone().into_parts();
                    parts.path_and_query = pq.parse().ok();
                    if let Ok(uri) = Uri::from_parts(parts) {
                        *req.uri_mut() = uri;
                    }
                }
            }
        }
    }
    None
}

fn rewritten_path(route: &CompiledRoute, path: &str, rewrite: Option<&PathRewrite>) -> String {
    match rewrite {
        None => path.to_owned(),
        Some(PathRewrite::Full(p)) => p.clone(),
        Some(PathRewrite::Prefix(repl)) => match route.matched_prefix() {
            Some(prefix) => replace_prefix(path, prefix, repl),
            None => repl.clone(),
        },
    }
}

/// The request's host, lower-case and without a port: the URI authority (HTTP/2, absolute
/// form) or the Host header.
fn request_host(req: &Request<Incoming>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let host = if let Some(rest) = raw.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                raw
            }
        })
    };
    Some(host.to_ascii_lowercase())
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), keeping `Connection: upgrade` and `Upgrade`
/// when an upgrade is being forwarded.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    for n in listed {
        headers.remove(n);
    }
    for n in [
        header::TRANSFER_ENCODING,
        header::TRAILER,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(n);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
    // `te: trailers` is the one TE value that may cross (gRPC needs it).
    if let Some(te) = headers.get(header::TE) {
        if !te.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        }) {
            headers.remove(header::TE);
        } else {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    }
}

/// Phase 5 preparation: headers and URI form for the upstream protocol.
/// Request bodies up to this size are buffered so that a retry or a mirror can send them again.
const RETRY_BUFFER: u64 = 64 * 1024;

/// A request kept for sending again.
struct Buffered {
    method: http::Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl Buffered {
    fn request(&self) -> Request<ProxyBody> {
        let mut req = Request::new(Either::Right(Full::new(self.body.clone())));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

enum Replay {
    Buffered(Buffered),
    Streamed(Request<ProxyBody>),
}

/// Buffers a body of known size up to `RETRY_BUFFER`; anything else streams (no retries).
async fn buffer_for_replay(req: Request<Incoming>) -> Result<Replay, ()> {
    use http_body::Body as _;
    use http_body_util::BodyExt;
    if req
        .body()
        .size_hint()
        .upper()
        .is_none_or(|n| n > RETRY_BUFFER)
    {
        return Ok(Replay::Streamed(req.map(Either::Left)));
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| ())?.to_bytes();
    Ok(Replay::Buffered(Buffered {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body,
    }))
}

fn prepare_upstream_request<B>(
    req: &mut Request<B>,
    down: &Downstream,
    protocol: UpstreamProtocol,
    upstream_tls: bool,
    upgrade: bool,
) {
    // HTTP/2 clients send :authority and no Host; HTTP/1.1 upstreams need Host.
    let authority = match req.headers().get(header::HOST) {
        Some(h) => h.clone(),
        None => req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or_else(|| HeaderValue::from_static("")),
    };
    let pq = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    strip_hop_by_hop(req.headers_mut(), upgrade);
    let headers = req.headers_mut();
    let peer_ip = down.peer.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(down.scheme()));
    match protocol {
        UpstreamProtocol::H2c if !upgrade => {
            headers.remove(header::HOST);
            let scheme = if upstream_tls { "https" } else { "http" };
            let uri = format!("{scheme}://{}{pq}", authority.to_str().unwrap_or(""));
            *req.uri_mut() = uri.parse().unwrap_or_else(|_| Uri::from_static("/"));
            *req.version_mut() = Version::HTTP_2;
        }
        _ => {
            headers.insert(header::HOST, authority);
            *req.uri_mut() = pq.parse().unwrap_or_else(|_| Uri::from_static("/"));
            *req.version_mut() = Version::HTTP_11;
        }
    }
}

async fn splice_upgraded(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(error = %e, "upgraded stream ended");
    }
}

fn local<'t>(
    route: Option<&'t CompiledRoute>,
    status: StatusCode,
    body: &'static str,
) -> Outcome<'t> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Outcome {
        route,
        response,
        error: Some(body),
    }
}

/// Whether a request is a gRPC call (`content-type: application/grpc`, `+proto` and the like).
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC status for an HTTP status the proxy produced itself. gRPC's HTTP mapping, except
/// that an invalid backend (500) is UNAVAILABLE, as GRPCRoute specifies, and a timeout (504)
/// is DEADLINE_EXCEEDED, which says more than UNAVAILABLE.
fn grpc_code(status: StatusCode) -> u16 {
    match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED: no route for this service or method
        408 | 504 => 4,        // DEADLINE_EXCEEDED
        429 | 500..=503 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

/// A proxy-side error as a gRPC client expects it: a trailers-only response (HTTP 200,
/// `grpc-status`, `grpc-message`), not a bare HTTP status that the client would map coarsely.
fn grpc_error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from(grpc_code(status)));
    // grpc-message is percent-encoded; our messages are plain ASCII words and spaces.
    if let Ok(v) = HeaderValue::from_str(&message.replace(' ', "%20")) {
        h.insert("grpc-message", v);
    }
    response
}
