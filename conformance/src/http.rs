//! Requests as the upstream suite makes them (a new connection per request, keep-alive off),
//! and `compare`, which applies the upstream `CompareRoundTrip` rules to a response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A response, with the echo server's JSON decoded when the content type is exactly
/// `application/json` (as the upstream suite does).
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
    pub echo: Option<Value>,
}

/// One request of a test case.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub host: String,
    pub path: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    /// Use HTTP/2 instead of HTTP/1.1: prior knowledge in plaintext, ALPN h2 over TLS.
    pub h2c: bool,
    /// Over TLS: the SNI name, when it differs from the host.
    pub sni: Option<String>,
    /// Use TLS (SNI = host), trusting exactly this leaf certificate (DER).
    pub tls_pin: Option<std::sync::Arc<Vec<u8>>>,
    /// Response headers the echo backend is asked to set (`X-Echo-Set-Header`).
    pub backend_sets: Vec<(String, String)>,
    /// A client certificate and key (PEM) to present over TLS.
    pub client_cert: Option<std::sync::Arc<(String, String)>>,
}

/// What the backend must have seen.
#[derive(Debug, Clone, Default)]
pub struct ExpectedRequest {
    pub host: Option<String>,
    pub path: Option<String>,
    pub method: Option<String>,
    pub headers: Vec<(String, String)>,
    pub absent_headers: Vec<String>,
    /// The SNI the backend must have seen (echo `tls.serverName`).
    pub sni: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ExpectedRedirect {
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
}

/// One case: a request and what must come back.
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub request: Request,
    pub expected_request: Option<ExpectedRequest>,
    pub status: Vec<u16>,
    /// Pod name prefix ("" = any).
    pub backend: String,
    pub namespace: String,
    pub redirect: Option<ExpectedRedirect>,
    pub response_headers: Vec<(String, String)>,
    pub absent_response_headers: Vec<String>,
    /// ValidHeaderValues: (name, accepted values, ignore whitespace).
    pub response_header_options: Vec<(String, Vec<String>, bool)>,
    /// The gateway answers itself (a CORS preflight): no echo body to check.
    pub local: bool,
    /// Append a fresh `uuid` query parameter to every probe (the retry simulation counts
    /// attempts per uuid).
    pub fresh_uuid: bool,
}

impl Case {
    /// `GET host path` expecting 200 from `backend` in `namespace`.
    pub fn get(host: &str, path: &str) -> Case {
        Case {
            request: Request {
                host: host.into(),
                path: path.into(),
                method: "GET".into(),
                ..Default::default()
            },
            status: vec![200],
            namespace: "gateway-conformance-infra".into(),
            ..Default::default()
        }
    }
    pub fn backend(mut self, b: &str) -> Case {
        self.backend = b.into();
        self
    }
    pub fn namespace(mut self, ns: &str) -> Case {
        self.namespace = ns.into();
        self
    }
    pub fn status(mut self, s: u16) -> Case {
        self.status = vec![s];
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Case {
        self.request.headers.push((k.into(), v.into()));
        self
    }
    pub fn method(mut self, m: &str) -> Case {
        self.request.method = m.into();
        self
    }
    pub fn expect(mut self, e: ExpectedRequest) -> Case {
        self.expected_request = Some(e);
        self
    }
    pub fn backend_sets(mut self, headers: &[(&str, &str)]) -> Case {
        self.request.backend_sets = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }
    pub fn response_headers(mut self, headers: &[(&str, &str)], absent: &[&str]) -> Case {
        self.response_headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.absent_response_headers = absent.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn redirect(mut self, status: u16, r: ExpectedRedirect) -> Case {
        self.status = vec![status];
        self.redirect = Some(r);
        self
    }
}

async fn send(
    addr: SocketAddr,
    req: http::Request<Empty<Bytes>>,
    h2c: bool,
) -> anyhow::Result<RawResponse> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    send_on(TokioIo::new(stream), req, h2c).await
}

async fn send_tls(
    addr: SocketAddr,
    sni: &str,
    pin: std::sync::Arc<Vec<u8>>,
    client: Option<&(String, String)>,
    req: http::Request<Empty<Bytes>>,
    h2: bool,
) -> anyhow::Result<RawResponse> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    let cfg = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(crate::tls::PinnedCertificate::new(
            pin,
        )));
    let mut cfg = match client {
        None => cfg.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls_pki_types::pem::PemObject;
            let chain = rustls_pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()?;
            cfg.with_client_auth_cert(
                chain,
                rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes())?,
            )?
        }
    };
    cfg.alpn_protocols = vec![if h2 {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    let name = rustls_pki_types::ServerName::try_from(sni.to_owned())?;
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, stream)
        .await
        .context("TLS handshake")?;
    send_on(TokioIo::new(tls), req, h2).await
}

async fn send_on<I>(
    io: I,
    req: http::Request<Empty<Bytes>>,
    h2c: bool,
) -> anyhow::Result<RawResponse>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let resp = if h2c {
        let (mut s, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        s.send_request(req).await?
    } else {
        let (mut s, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        s.send_request(req).await?
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    let echo = (headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json"))
    .then(|| serde_json::from_str(&body).ok())
    .flatten();
    Ok(RawResponse {
        status,
        headers,
        body,
        echo,
    })
}

/// A plain GET of `path` on `addr`.
pub async fn get_raw(addr: SocketAddr, path: &str) -> anyhow::Result<RawResponse> {
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::new())?;
    tokio::time::timeout(Duration::from_secs(10), send(addr, req, false))
        .await
        .context("request timed out")?
}

/// Sends the case's request to the gateway at `gw`.
pub async fn round_trip(gw: SocketAddr, r: &Request) -> anyhow::Result<RawResponse> {
    let host = if r.host.is_empty() {
        gw.ip().to_string()
    } else {
        r.host.clone()
    };
    let (path, _) = (r.path.as_str(), ());
    let mut b = http::Request::builder().method(r.method.as_str());
    b = if r.h2c {
        let scheme = if r.tls_pin.is_some() { "https" } else { "http" };
        b.uri(format!("{scheme}://{host}{path}"))
            .version(http::Version::HTTP_2)
    } else {
        b.uri(path)
            .header(http::header::HOST, &host)
            .header(http::header::CONNECTION, "close")
    };
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    // The suite always sends this header, usually empty.
    let sets: Vec<String> = r
        .backend_sets
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    b = b.header("X-Echo-Set-Header", sets.join(","));
    let req = b.body(Empty::new())?;
    let fut = async {
        match &r.tls_pin {
            Some(pin) => {
                send_tls(
                    gw,
                    r.sni
                        .as_deref()
                        .unwrap_or_else(|| host.split(':').next().unwrap_or(&host)),
                    pin.clone(),
                    r.client_cert.as_deref(),
                    req,
                    r.h2c,
                )
                .await
            }
            None => send(gw, req, r.h2c).await,
        }
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .context("request timed out")?
}

/// Response headers: exact values, accepted alternatives, and absent names.
fn check_response_headers(c: &Case, resp: &RawResponse) -> Result<(), String> {
    let value = |k: &str| -> Option<String> {
        let got: Vec<&str> = resp
            .headers
            .get_all(k)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!got.is_empty()).then(|| got.join(","))
    };
    for (k, v) in &c.response_headers {
        if value(k).as_deref() != Some(v.as_str()) {
            return Err(format!(
                "response header {k} = {:?} (expected {v:?})",
                value(k)
            ));
        }
    }
    for (k, options, ignore_ws) in &c.response_header_options {
        let norm = |s: &str| {
            if *ignore_ws {
                s.chars().filter(|c| !c.is_whitespace()).collect()
            } else {
                s.to_owned()
            }
        };
        let got = value(k).map(|g| norm(&g));
        if !got
            .as_ref()
            .is_some_and(|g| options.iter().any(|o| norm(o) == *g))
        {
            return Err(format!(
                "response header {k} = {:?} (expected one of {options:?})",
                value(k)
            ));
        }
    }
    for k in &c.absent_response_headers {
        if resp.headers.contains_key(k.as_str()) {
            return Err(format!("response header {k} should be absent"));
        }
    }
    Ok(())
}

/// The upstream `CompareRoundTrip` rules.
pub fn compare(c: &Case, resp: &RawResponse) -> Result<(), String> {
    if !c.status.contains(&resp.status) {
        // 408 and 504 are interchangeable for timeouts.
        let timeout = |s: u16| s == 408 || s == 504;
        if !(timeout(resp.status) && c.status.iter().any(|s| timeout(*s))) {
            return Err(format!(
                "status {} (expected {:?}); body {:.200}",
                resp.status, c.status, resp.body
            ));
        }
    }
    if resp.status == 200 && c.local {
        if resp.echo.is_some() {
            return Err("expected the gateway to answer, but a backend did".into());
        }
        return check_response_headers(c, resp);
    }
    if resp.status == 200 {
        let Some(echo) = &resp.echo else {
            return Err("200 without an echo JSON body".into());
        };
        let e = c.expected_request.clone().unwrap_or_default();
        let want_path = e.path.clone().unwrap_or_else(|| c.request.path.clone());
        if echo["path"] != want_path.as_str() {
            return Err(format!(
                "backend saw path {} (expected {want_path})",
                echo["path"]
            ));
        }
        let want_method = e.method.clone().unwrap_or_else(|| c.request.method.clone());
        if echo["method"] != want_method.as_str() {
            return Err(format!(
                "backend saw method {} (expected {want_method})",
                echo["method"]
            ));
        }
        if let Some(h) = &e.host
            && echo["host"] != h.as_str()
        {
            return Err(format!("backend saw host {} (expected {h})", echo["host"]));
        }
        if echo["namespace"] != c.namespace.as_str() {
            return Err(format!(
                "backend namespace {} (expected {})",
                echo["namespace"], c.namespace
            ));
        }
        let pod = echo["pod"].as_str().unwrap_or("");
        if !pod.starts_with(&c.backend) {
            return Err(format!("backend pod {pod} (expected prefix {})", c.backend));
        }
        let seen: BTreeMap<String, String> = echo["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let vals: Vec<&str> = v
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        (k.to_ascii_lowercase(), vals.join(","))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (k, v) in &e.headers {
            match seen.get(&k.to_ascii_lowercase()) {
                Some(got) if got == v => {}
                got => return Err(format!("backend header {k} = {got:?} (expected {v:?})")),
            }
        }
        if let Some(sni) = &e.sni
            && echo["tls"]["serverName"] != sni.as_str()
        {
            return Err(format!(
                "backend saw SNI {} (expected {sni})",
                echo["tls"]["serverName"]
            ));
        }
        for k in &e.absent_headers {
            if seen.contains_key(&k.to_ascii_lowercase()) {
                return Err(format!("backend header {k} should be absent"));
            }
        }
        check_response_headers(c, resp)?;
    } else if (300..=308).contains(&resp.status)
        && let Some(r) = &c.redirect
    {
        let loc = resp
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or("redirect without Location")?;
        let uri: http::Uri = loc.parse().map_err(|e| format!("Location {loc:?}: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("http");
        let want_scheme = r.scheme.clone().unwrap_or_else(|| "http".into());
        if scheme != want_scheme {
            return Err(format!("redirect scheme {scheme} (expected {want_scheme})"));
        }
        if let Some(h) = &r.host
            && uri.host() != Some(h.as_str())
        {
            return Err(format!("redirect host {:?} (expected {h})", uri.host()));
        }
        let port = uri.port_u16().map(|p| p.to_string()).unwrap_or_default();
        let port_ok = match &r.port {
            Some(p) => port == *p,
            None => port.is_empty() || port == if scheme == "https" { "443" } else { "80" },
        };
        if !port_ok {
            return Err(format!("redirect port {port:?} (expected {:?})", r.port));
        }
        let want_path = r
            .path
            .clone()
            .unwrap_or_else(|| c.request.path.split('?').next().unwrap_or("").to_owned());
        if uri.path() != want_path {
            return Err(format!(
                "redirect path {} (expected {want_path})",
                uri.path()
            ));
        }
    }
    Ok(())
}

/// The TLS handshake (or the first read after it, where TLS 1.3 reports a refused client
/// certificate) fails three times in a row: no HTTP answer at all.
pub async fn expect_tls_failure(gw: SocketAddr, r: &Request, max: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut streak = 0;
    let mut last = String::new();
    while start.elapsed() < max {
        match round_trip(gw, r).await {
            Ok(resp) => {
                streak = 0;
                last = format!("got an HTTP {} answer", resp.status);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => {
                streak += 1;
                if streak >= 3 {
                    return Ok(());
                }
            }
        }
    }
    Err(format!(
        "{} {}: expected a TLS failure; {last}",
        r.host, r.path
    ))
}

/// MakeRequestAndExpectFailure: five consecutive non-200 answers (any 200 fails at once).
pub async fn expect_failure(gw: SocketAddr, r: &Request, max: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut streak = 0;
    while start.elapsed() < max {
        match round_trip(gw, r).await {
            Ok(resp) if resp.status == 200 => {
                return Err(format!("{} {}: answered 200", r.host, r.path));
            }
            _ => streak += 1,
        }
        if streak >= 5 {
            return Ok(());
        }
    }
    Err(format!(
        "{} {}: no five failures within {max:?}",
        r.host, r.path
    ))
}

/// The upstream consistency rule: the case passes after `threshold` consecutive correct
/// answers; any wrong answer resets the count and waits a second; give up after `max`.
pub async fn expect_eventually(
    gw: SocketAddr,
    c: &Case,
    threshold: usize,
    max: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    let mut streak = 0;
    let mut last = String::new();
    static PROBE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    while start.elapsed() < max {
        let probe;
        let c = if c.fresh_uuid {
            let n = PROBE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut fresh = c.clone();
            fresh.request.path = format!("{}&uuid={}-{n}", c.request.path, std::process::id());
            probe = fresh;
            &probe
        } else {
            c
        };
        let result = match round_trip(gw, &c.request).await {
            Ok(resp) => compare(c, &resp),
            Err(e) => Err(format!("{e:#}")),
        };
        match result {
            Ok(()) => {
                streak += 1;
                if streak >= threshold {
                    return Ok(());
                }
            }
            Err(e) => {
                streak = 0;
                last = e;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let host = if c.request.host.is_empty() {
        "<gateway>"
    } else {
        &c.request.host
    };
    Err(format!(
        "{} {host}{}: {last}",
        c.request.method, c.request.path
    ))
}
