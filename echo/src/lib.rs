//! `weir echo`: a backend compatible with the Gateway API conformance echo server
//! (echo-basic), used by tests, the conformance harness, benchmarks and the quickstart.
//!
//! Its JSON reply has the same fields, from the same environment variables: `path` (the
//! request-target as received, query included), `host`, `method`, `proto`, `headers`
//! (canonical names → values, Host excluded), `namespace`, `ingress`, `service`, `pod` and
//! `httpPort`. It also honours `X-Echo-Set-Header`, `/status/NNN`, `?delay=`, `/health` and
//! `/ws` (a websocket echo).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Version, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpListener;

pub mod grpc;
pub mod tcp;
pub mod udp;

/// Identity of the "pod", as the downward API would give it.
#[derive(Debug, Clone, Default)]
pub struct EchoIdentity {
    pub pod: String,
    pub namespace: String,
    pub ingress: String,
    pub service: String,
    pub http_port: String,
    /// When set, every echoed request is also recorded here, with echo-basic's log line
    /// ("Echoing back request made to PATH to client"): the conformance harness reads it the
    /// way the upstream suite reads pod logs.
    pub request_log: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl EchoIdentity {
    /// Reads `POD_NAME`, `NAMESPACE`, `INGRESS_NAME`, `SERVICE_NAME` and `HTTP_PORT`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        EchoIdentity {
            pod: var("POD_NAME"),
            namespace: var("NAMESPACE"),
            ingress: var("INGRESS_NAME"),
            service: var("SERVICE_NAME"),
            http_port: std::env::var("HTTP_PORT").unwrap_or_else(|_| "3000".into()),
            request_log: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EchoReply<'a> {
    path: &'a str,
    host: &'a str,
    method: &'a str,
    proto: &'a str,
    headers: std::collections::BTreeMap<String, Vec<String>>,
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    http_port: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<&'a TlsSeen>,
}

/// What the echo saw of TLS, as echo-basic reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsSeen {
    pub version: String,
    pub server_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub negotiated_protocol: String,
    pub cipher_suite: String,
    /// The client's certificate chain, PEM (only when one was presented).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peer_certificates: Vec<String>,
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-header-set` → `X-Header-Set`.
pub fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// Serves the echo protocol on `listener` (HTTP/1.1 and h2c prior knowledge) forever.
pub async fn serve(listener: TcpListener, id: Arc<EchoIdentity>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = id.clone();
        tokio::spawn(async move {
            serve_io(TokioIo::new(stream), id, None).await;
        });
    }
}

/// Serves the echo protocol over TLS (HTTP/1.1 and h2 by ALPN), with the `tls` field filled.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    id: Arc<EchoIdentity>,
) {
    accept_tls(listener, acceptor, id, |tls, id, seen| {
        serve_io(TokioIo::new(tls), id, Some(seen))
    })
    .await
}

/// Accepts TLS connections forever and hands each, with what it saw of TLS, to `serve`.
pub(crate) async fn accept_tls<F, Fut>(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    id: Arc<EchoIdentity>,
    serve: F,
) where
    F: Fn(
            tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
            Arc<EchoIdentity>,
            Arc<TlsSeen>,
        ) -> Fut
        + Clone
        + Send
        + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (id, acceptor, serve) = (id.clone(), acceptor.clone(), serve.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let seen = Arc::new(tls_seen(tls.get_ref().1));
            serve(tls, id, seen).await;
        });
    }
}

/// What a server connection saw of TLS, in echo-basic's terms.
pub fn tls_seen(conn: &rustls::ServerConnection) -> TlsSeen {
    TlsSeen {
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
            other => format!("{other:?}"),
        },
        server_name: conn.server_name().unwrap_or("").to_owned(),
        negotiated_protocol: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default(),
        peer_certificates: conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
                let lines: Vec<&str> = b64
                    .as_bytes()
                    .chunks(64)
                    .map(|l| std::str::from_utf8(l).unwrap_or(""))
                    .collect();
                format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    lines.join("\n")
                )
            })
            .collect(),
    }
}

/// A TLS acceptor for a PEM certificate chain and key (ALPN h2 and http/1.1).
pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<tokio_rustls::TlsAcceptor, String> {
    tls_acceptor_with_client_ca(cert_pem, key_pem, None)
}

/// As `tls_acceptor`, verifying client certificates against `client_ca_pem` when one is
/// presented (echo-basic's `TLS_CLIENT_CACERTS`, Go's VerifyClientCertIfGiven).
pub fn tls_acceptor_with_client_ca(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let verifier = match client_ca_pem {
        None => None,
        Some(pem) => {
            let roots = weir_tls::client_auth::root_store(&[pem])?;
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                weir_tls::provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| e.to_string())?;
            Some(v)
        }
    };
    let cert =
        weir_tls::LoadedCertificate::from_pem(cert_pem, key_pem, weir_tls::material::unix_now())
            .map_err(|e| e.to_string())?;
    let resolver = Arc::new(weir_tls::SniResolver::new(vec![
        weir_tls::HostCertificates {
            hostname: None,
            certificates: vec![cert],
        },
    ]));
    Ok(tokio_rustls::TlsAcceptor::from(
        weir_tls::server_config_with_client_auth(resolver, verifier),
    ))
}

async fn serve_io<I>(io: I, id: Arc<EchoIdentity>, tls: Option<Arc<TlsSeen>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |mut req: Request<Incoming>| {
        let (id, tls) = (id.clone(), tls.clone());
        async move {
            match retry_simulation(&mut req, &id).await {
                // A failing attempt without a status code: close the connection unanswered.
                Some(None) => Err("simulated connection failure"),
                Some(Some(resp)) => Ok(resp),
                None => Ok(handle(req, &id, tls.as_deref()).await),
            }
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, svc)
        .await;
}

/// Binds `addr` and serves it.
pub async fn run(addr: SocketAddr, id: EchoIdentity) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve(listener, Arc::new(id)).await;
    Ok(())
}

/// `/retry/?uuid=U&succeedAfter=N[&responseCode=C][&delayRetry=D]`, as echo-basic: the first N
/// requests with the same uuid fail (status C, else the connection is closed unanswered), after
/// D; later ones are echoed. `None`: not a retry request, or it succeeds now.
async fn retry_simulation(
    req: &mut Request<Incoming>,
    id: &EchoIdentity,
) -> Option<Option<Response<Full<Bytes>>>> {
    static ATTEMPTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(String, String), u32>>,
    > = std::sync::OnceLock::new();
    if !req.uri().path().starts_with("/retry/") {
        return None;
    }
    let uri = req.uri().clone();
    let q = uri.query();
    let Some(uuid) = query_value(q, "uuid") else {
        return Some(Some(plain(StatusCode::BAD_REQUEST, "uuid is required")));
    };
    let Some(succeed_after) = query_value(q, "succeedAfter").and_then(|v| v.parse::<u32>().ok())
    else {
        return Some(Some(plain(
            StatusCode::BAD_REQUEST,
            "succeedAfter is required",
        )));
    };
    let seen = {
        let mut m = ATTEMPTS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = m.entry((id.pod.clone(), uuid)).or_insert(0);
        *n += 1;
        *n
    };
    if seen > succeed_after {
        return None;
    }
    drain_body(req).await;
    if let Some(d) = query_value(q, "delayRetry").and_then(|d| parse_go_duration(&d)) {
        tokio::time::sleep(d).await;
    }
    let code = query_value(q, "responseCode")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok());
    Some(code.map(|c| plain(c, "")))
}

/// Reads the whole request body before answering, so that a client still sending it is not
/// cut off by an early response.
async fn drain_body(req: &mut Request<Incoming>) {
    use http_body_util::BodyExt;
    while let Some(frame) = req.body_mut().frame().await {
        if frame.is_err() {
            break;
        }
    }
}

async fn handle(
    mut req: Request<Incoming>,
    id: &EchoIdentity,
    tls: Option<&TlsSeen>,
) -> Response<Full<Bytes>> {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let path = req.uri().path().replace("//", "/");
    if path == "/health" {
        return plain(StatusCode::OK, "OK");
    }
    if let Some(code) = target.strip_prefix("/status/") {
        return match code
            .parse::<u16>()
            .ok()
            .filter(|_| code.len() == 3)
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(s) => plain(s, ""),
            None => plain(StatusCode::BAD_REQUEST, ""),
        };
    }
    if path == "/ws" && req.headers().contains_key(header::UPGRADE) {
        return websocket(&mut req);
    }
    drain_body(&mut req).await;
    if let Some(d) = query_value(req.uri().query(), "delay") {
        match parse_go_duration(&d) {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let body =
                    serde_json::json!({ "message": format!("invalid delay {d:?}") }).to_string();
                return json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body.into_bytes(),
                    &HeaderMap::new(),
                );
            }
        }
    }
    let line = format!("Echoing back request made to {target} to client");
    tracing::debug!("{line}");
    if let Some(log) = &id.request_log {
        log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    let host = match req.uri().authority() {
        Some(a) if req.version() == Version::HTTP_2 => a.as_str().to_owned(),
        _ => req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    };
    let mut headers = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (name, value) in req.headers() {
        if name == header::HOST {
            continue;
        }
        headers
            .entry(canonical_header_name(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let proto = match req.version() {
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let reply = EchoReply {
        path: &target,
        host: &host,
        method: req.method().as_str(),
        proto,
        headers,
        namespace: &id.namespace,
        ingress: &id.ingress,
        service: &id.service,
        pod: &id.pod,
        http_port: &id.http_port,
        tls,
    };
    let mut body = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut body,
        serde_json::ser::PrettyFormatter::with_indent(b" "),
    );
    let _ = reply.serialize(&mut ser);
    json(StatusCode::OK, body, req.headers())
}

/// `X-Echo-Set-Header: Name:Value,Other:Value` becomes response headers.
fn json(status: StatusCode, body: Vec<u8>, req_headers: &HeaderMap) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    for v in req_headers
        .get_all("x-echo-set-header")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pair in v.split(',') {
            let Some((name, value)) = pair.split_once(':') else {
                continue;
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                h.append(n, v);
            }
        }
    }
    resp
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == name).then(|| v.to_owned())
    })
}

/// A Go duration: `1h2m3s`, `500ms`, `1.5s`, `100us`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// Accepts a websocket upgrade on `/ws` and echoes every message back.
fn websocket(req: &mut Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None,
        )
        .await;
        let (mut tx, mut rx) = ws.split();
        while let Some(Ok(msg)) = rx.next().await {
            if msg.is_close() {
                break;
            }
            if (msg.is_text() || msg.is_binary()) && tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = plain(StatusCode::SWITCHING_PROTOCOLS, "");
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonicalized_like_go() {
        assert_eq!(canonical_header_name("x-header-set"), "X-Header-Set");
        assert_eq!(canonical_header_name("content-type"), "Content-Type");
        assert_eq!(canonical_header_name("X-ECHO"), "X-Echo");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("bogus"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
