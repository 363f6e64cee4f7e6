//! Connections to endpoints: keep-alive pools of HTTP/1.1 connections and one multiplexed
//! HTTP/2 connection per endpoint, in plaintext or over TLS (BackendTLSPolicy).
//!
//! hyper-util's legacy client keys its pool by URI authority and rewrites `:authority` from
//! the URI; a gateway must dial an endpoint address while preserving the client's Host, so the
//! pool here is keyed by endpoint address (and TLS setting) and requests carry whatever
//! authority they had (ADR 0003).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;

/// Request bodies sent upstream: the client's body streamed, or a buffered copy (retries).
pub type ReqBody = crate::proxy::ProxyBody;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::ProxyError;
use crate::route_table::UpstreamTlsTable;

/// Upper bound on idle HTTP/1.1 connections kept per endpoint.
const MAX_IDLE_PER_ENDPOINT: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS to an endpoint, when the cluster has a BackendTLSPolicy.
pub type UpstreamTls<'a> = Option<&'a UpstreamTlsTable>;

/// Pools are per endpoint and per TLS setting: a plaintext and a TLS connection to the same
/// endpoint are never interchangeable.
type PoolKey = (SocketAddr, u64);

fn key(addr: SocketAddr, tls: UpstreamTls<'_>) -> PoolKey {
    (addr, tls.map_or(0, |t| t.id))
}

#[derive(Default)]
struct EndpointPool {
    /// HTTP/1.1 senders. A sender is ready again once its previous response body is done.
    h1: Vec<http1::SendRequest<ReqBody>>,
    h2: Option<http2::SendRequest<ReqBody>>,
}

/// Upstream connections of one proxy, shared by all listeners and config versions.
#[derive(Default, Clone)]
pub struct Upstreams {
    pools: Arc<Mutex<HashMap<PoolKey, EndpointPool>>>,
}

impl Upstreams {
    /// Sends `req` (origin-form URI, Host header set) over HTTP/1.1. When `upgrade` is set the
    /// connection is handed over to the upgraded stream and never pooled.
    pub async fn send_h1(
        &self,
        addr: SocketAddr,
        tls: UpstreamTls<'_>,
        req: Request<ReqBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, ProxyError> {
        let k = key(addr, tls);
        let mut sender = match (!upgrade).then(|| self.idle_h1(k)).flatten() {
            Some(s) => s,
            None => connect_h1(addr, tls).await?,
        };
        let resp = sender
            .send_request(req)
            .await
            .map_err(ProxyError::upstream)?;
        if !upgrade {
            self.release_h1(k, sender);
        }
        Ok(resp)
    }

    /// Sends `req` (absolute URI carrying the client's authority) over HTTP/2: h2c, or h2 over
    /// TLS when the cluster has a BackendTLSPolicy.
    pub async fn send_h2(
        &self,
        addr: SocketAddr,
        tls: UpstreamTls<'_>,
        req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let k = key(addr, tls);
        let existing = {
            let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            pools
                .get(&k)
                .and_then(|p| p.h2.clone())
                .filter(|s| !s.is_closed())
        };
        let mut sender = match existing {
            Some(s) => s,
            None => {
                let s = connect_h2(addr, tls).await?;
                let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
                pools.entry(k).or_default().h2 = Some(s.clone());
                s
            }
        };
        sender.ready().await.map_err(ProxyError::upstream)?;
        sender.send_request(req).await.map_err(ProxyError::upstream)
    }

    /// One request on its own HTTP/1.1 connection, response drained and dropped (mirrors).
    pub async fn send_detached(
        &self,
        addr: SocketAddr,
        tls: UpstreamTls<'_>,
        req: Request<http_body_util::Full<bytes::Bytes>>,
    ) -> Result<(), ProxyError> {
        use http_body_util::BodyExt;
        let io = dial(addr, tls).await?;
        let (mut sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(ProxyError::upstream)?;
        tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .map_err(ProxyError::upstream)?;
        let _ = resp.into_body().collect().await;
        Ok(())
    }

    fn idle_h1(&self, k: PoolKey) -> Option<http1::SendRequest<ReqBody>> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pools.get_mut(&k)?;
        pool.h1.retain(|s| !s.is_closed());
        let i = pool.h1.iter().rposition(|s| s.is_ready())?;
        Some(pool.h1.swap_remove(i))
    }

    fn release_h1(&self, k: PoolKey, sender: http1::SendRequest<ReqBody>) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let pool = pools.entry(k).or_default();
        if pool.h1.len() < MAX_IDLE_PER_ENDPOINT {
            pool.h1.push(sender);
        }
    }

    /// Drops pooled connections to endpoints that are no longer in any cluster.
    pub fn retain_endpoints(&self, live: impl Fn(&SocketAddr) -> bool) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|(a, _), _| live(a));
    }
}

/// A connected byte stream to an endpoint, plaintext or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

async fn dial(
    addr: SocketAddr,
    tls: UpstreamTls<'_>,
) -> Result<TokioIo<Box<dyn Stream>>, ProxyError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| ProxyError::ConnectTimeout(addr))?
        .map_err(|e| ProxyError::Connect(addr, e))?;
    let _ = stream.set_nodelay(true);
    let stream: Box<dyn Stream> = match tls {
        None => Box::new(stream),
        Some(t) => {
            let connector = tokio_rustls::TlsConnector::from(t.config.clone());
            let tls_stream = tokio::time::timeout(
                CONNECT_TIMEOUT,
                connector.connect(t.server_name.clone(), stream),
            )
            .await
            .map_err(|_| ProxyError::ConnectTimeout(addr))?
            .map_err(|e| ProxyError::Tls(addr, e))?;
            Box::new(tls_stream)
        }
    };
    Ok(TokioIo::new(stream))
}

async fn connect_h1(
    addr: SocketAddr,
    tls: UpstreamTls<'_>,
) -> Result<http1::SendRequest<ReqBody>, ProxyError> {
    let io = dial(addr, tls).await?;
    let (sender, conn) = http1::Builder::new()
        .handshake(io)
        .await
        .map_err(ProxyError::upstream)?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(endpoint = %addr, error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

async fn connect_h2(
    addr: SocketAddr,
    tls: UpstreamTls<'_>,
) -> Result<http2::SendRequest<ReqBody>, ProxyError> {
    let io = dial(addr, tls).await?;
    let (sender, conn) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .handshake(io)
        .await
        .map_err(ProxyError::upstream)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(endpoint = %addr, error = %e, "upstream h2 connection ended");
        }
    });
    Ok(sender)
}
