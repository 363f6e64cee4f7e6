//! Proxy errors, classified by which side caused them. The class decides the status code a
//! client sees (502 for a broken upstream, 503 for none reachable, 504 for too slow).

use std::net::SocketAddr;

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("connect to {0}: {1}")]
    Connect(SocketAddr, #[source] std::io::Error),
    #[error("connect to {0}: timed out")]
    ConnectTimeout(SocketAddr),
    #[error("TLS to {0}: {1}")]
    Tls(SocketAddr, #[source] std::io::Error),
    #[error("upstream: {0}")]
    Upstream(#[source] hyper::Error),
    #[error("no ready endpoints in cluster {0}")]
    NoEndpoints(String),
}

impl ProxyError {
    pub fn upstream(e: hyper::Error) -> Self {
        ProxyError::Upstream(e)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Connect(..) | ProxyError::NoEndpoints(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ConnectTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Upstream(_) | ProxyError::Tls(..) => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether a retry on another endpoint is safe: nothing reached the upstream.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProxyError::Connect(..) | ProxyError::ConnectTimeout(_)
        )
    }
}
