//! gRPC mode (echo-basic's `GRPC_ECHO_SERVER`): the conformance suite's `GrpcEcho` service.
//!
//! The messages are the upstream `grpcecho.proto`, written as prost structs with the same field
//! numbers (no protoc here), so any gRPC client built from that proto talks to this server.
//! `Echo` and `EchoTwo` answer with what the server saw: the fully qualified method, every
//! request header (metadata keys lower-case, `:authority` included), the authority, the pod's
//! identity, and TLS details on a TLS port. `EchoThree` is left unimplemented on purpose, as
//! upstream: it answers `UNIMPLEMENTED`, which tests use to see a backend's status pass through.

use std::future::Ready;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::{EchoIdentity, TlsSeen};

/// The fully qualified service name.
pub const SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Context {
    #[prost(string, tag = "1")]
    pub namespace: String,
    #[prost(string, tag = "2")]
    pub ingress: String,
    #[prost(string, tag = "3")]
    pub service_name: String,
    #[prost(string, tag = "4")]
    pub pod: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TlsAssertions {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub negotiated_protocol: String,
    #[prost(string, tag = "3")]
    pub server_name: String,
    #[prost(string, tag = "4")]
    pub cipher_suite: String,
    #[prost(string, repeated, tag = "5")]
    pub peer_certificates: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Assertions {
    #[prost(string, tag = "1")]
    pub fully_qualified_method: String,
    #[prost(message, repeated, tag = "2")]
    pub headers: Vec<Header>,
    #[prost(string, tag = "3")]
    pub authority: String,
    #[prost(message, optional, tag = "4")]
    pub context: Option<Context>,
    #[prost(message, optional, tag = "5")]
    pub tls_assertions: Option<TlsAssertions>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoResponse {
    #[prost(message, optional, tag = "1")]
    pub assertions: Option<Assertions>,
    #[prost(message, optional, tag = "2")]
    pub request: Option<EchoRequest>,
}

/// `/SERVICE/METHOD`, the HTTP/2 `:path` of a call.
pub fn path(method: &str) -> String {
    format!("/{SERVICE}/{method}")
}

/// One call of `Echo` or `EchoTwo`: answers with what this request carried.
struct EchoCall {
    method: &'static str,
    id: Arc<EchoIdentity>,
    authority: String,
    tls: Option<Arc<TlsSeen>>,
}

impl tonic::server::UnaryService<EchoRequest> for EchoCall {
    type Response = EchoResponse;
    type Future = Ready<Result<tonic::Response<EchoResponse>, tonic::Status>>;

    fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
        let mut headers: Vec<Header> = req
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| Header {
                key: k.as_str().to_owned(),
                value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
            })
            .collect();
        if !self.authority.is_empty() {
            headers.push(Header {
                key: ":authority".into(),
                value: self.authority.clone(),
            });
        }
        let id = &self.id;
        if let Some(log) = &id.request_log
            && let Ok(mut l) = log.lock()
        {
            l.push(format!(
                "Echoing back request made to {} to client",
                path(self.method)
            ));
        }
        let assertions = Assertions {
            fully_qualified_method: path(self.method),
            headers,
            authority: self.authority.clone(),
            context: Some(Context {
                namespace: id.namespace.clone(),
                ingress: id.ingress.clone(),
                service_name: id.service.clone(),
                pod: id.pod.clone(),
            }),
            tls_assertions: self.tls.as_ref().map(|t| TlsAssertions {
                version: t.version.clone(),
                negotiated_protocol: t.negotiated_protocol.clone(),
                server_name: t.server_name.clone(),
                cipher_suite: t.cipher_suite.clone(),
                peer_certificates: t.peer_certificates.clone(),
            }),
        };
        std::future::ready(Ok(tonic::Response::new(EchoResponse {
            assertions: Some(assertions),
            request: None,
        })))
    }
}

async fn dispatch(
    req: Request<Incoming>,
    id: Arc<EchoIdentity>,
    tls: Option<Arc<TlsSeen>>,
) -> Result<Response<tonic::body::Body>, std::convert::Infallible> {
    let method = req
        .uri()
        .path()
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(SERVICE))
        .and_then(|p| p.strip_prefix('/'));
    let method = match method {
        Some("Echo") => "Echo",
        Some("EchoTwo") => "EchoTwo",
        Some(other) => {
            let other = other.to_owned();
            return Ok(
                tonic::Status::unimplemented(format!("method {other} not implemented")).into_http(),
            );
        }
        None => {
            return Ok(tonic::Status::unimplemented(format!(
                "unknown service {}",
                req.uri().path()
            ))
            .into_http());
        }
    };
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let call = EchoCall {
        method,
        id,
        authority,
        tls,
    };
    let mut grpc =
        tonic::server::Grpc::new(tonic_prost::ProstCodec::<EchoResponse, EchoRequest>::default());
    Ok(grpc.unary(call, req).await)
}

async fn serve_connection<I>(io: I, id: Arc<EchoIdentity>, tls: Option<Arc<TlsSeen>>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| dispatch(req, id.clone(), tls.clone()));
    // gRPC is HTTP/2 only: prior knowledge on plaintext, ALPN h2 on TLS.
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// Serves the gRPC echo on `listener` (h2c prior knowledge) forever.
pub async fn serve(listener: TcpListener, id: Arc<EchoIdentity>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, id.clone(), None));
    }
}

/// Serves the gRPC echo over TLS (ALPN h2), with `tls_assertions` filled.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    id: Arc<EchoIdentity>,
) {
    crate::accept_tls(listener, acceptor, id, |tls, id, seen| {
        serve_connection(tls, id, Some(seen))
    })
    .await
}

/// A gRPC echo client over an established channel: calls `method` (`Echo`, `EchoTwo`,
/// `EchoThree`) with `metadata`, and returns the response or the gRPC status.
pub async fn call(
    channel: tonic::transport::Channel,
    method: &str,
    metadata: &[(&str, &str)],
) -> Result<EchoResponse, tonic::Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
    let mut req = tonic::Request::new(EchoRequest {});
    for (k, v) in metadata {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| tonic::Status::invalid_argument(format!("metadata key {k}: {e}")))?;
        let value = v
            .parse()
            .map_err(|e| tonic::Status::invalid_argument(format!("metadata value {v}: {e}")))?;
        req.metadata_mut().insert(key, value);
    }
    let path = http::uri::PathAndQuery::try_from(path(method))
        .map_err(|e| tonic::Status::invalid_argument(format!("method {method}: {e}")))?;
    client
        .unary(req, path, codec())
        .await
        .map(tonic::Response::into_inner)
}

/// The client codec for GrpcEcho calls.
pub fn codec() -> tonic_prost::ProstCodec<EchoRequest, EchoResponse> {
    tonic_prost::ProstCodec::default()
}
