//! The gRPC side of the harness, as upstream's `conformance/utils/grpc`: a plaintext h2c
//! channel to the Gateway (one per test case, re-dialled after an INTERNAL answer), calls to
//! the GrpcEcho service with optional `:authority` and metadata, and the upstream comparison:
//! the status code, then (when OK) the fully qualified method, the namespace and the pod.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonic::Code;
use weir_echo::grpc::{EchoResponse, SERVICE};

/// One expected exchange.
#[derive(Debug, Clone)]
pub struct GrpcCase {
    /// `Echo`, `EchoTwo` or `EchoThree`.
    pub method: &'static str,
    /// `:authority`; empty means the dial target (`IP:port`).
    pub authority: &'static str,
    pub metadata: Vec<(&'static str, &'static str)>,
    pub code: Code,
    /// The backend whose pod must answer (prefix of the pod name); empty accepts any.
    pub backend: &'static str,
    /// The namespace the answering pod must be in; empty accepts any.
    pub namespace: &'static str,
}

impl GrpcCase {
    pub fn to(method: &'static str, backend: &'static str) -> Self {
        GrpcCase {
            method,
            authority: "",
            metadata: Vec::new(),
            code: Code::Ok,
            backend,
            namespace: crate::suite::INFRA,
        }
    }

    pub fn fails(method: &'static str, code: Code) -> Self {
        GrpcCase {
            code,
            ..GrpcCase::to(method, "")
        }
    }
}

/// A plaintext HTTP/2 channel to the Gateway, with the given `:authority` if not empty.
pub async fn channel(gw: SocketAddr, authority: &str) -> Result<tonic::transport::Channel, String> {
    let mut ep = tonic::transport::Endpoint::from_shared(format!("http://{gw}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    if !authority.is_empty() {
        let origin: http::Uri = format!("http://{authority}")
            .parse()
            .map_err(|e| format!("authority {authority}: {e}"))?;
        ep = ep.origin(origin);
    }
    ep.connect().await.map_err(|e| format!("dial {gw}: {e}"))
}

/// The upstream `compareResponse`.
pub fn compare(c: &GrpcCase, got: &Result<EchoResponse, tonic::Status>) -> Result<(), String> {
    let code = match got {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    if code != c.code {
        return Err(format!(
            "expected code {:?}, got {code:?}{}",
            c.code,
            match got {
                Err(s) => format!(" ({})", s.message()),
                Ok(_) => String::new(),
            }
        ));
    }
    let Ok(resp) = got else { return Ok(()) };
    let a = resp.assertions.clone().unwrap_or_default();
    let want_method = format!("/{SERVICE}/{}", c.method);
    if a.fully_qualified_method != want_method {
        return Err(format!(
            "expected method {want_method}, got {}",
            a.fully_qualified_method
        ));
    }
    let ctx = a.context.unwrap_or_default();
    if !c.namespace.is_empty() && ctx.namespace != c.namespace {
        return Err(format!(
            "expected namespace {}, got {}",
            c.namespace, ctx.namespace
        ));
    }
    if !ctx.pod.starts_with(c.backend) {
        return Err(format!(
            "expected backend pod {}, got {}",
            c.backend, ctx.pod
        ));
    }
    Ok(())
}

/// The case under the upstream consistency rule: `threshold` expected results in a row
/// within `max`, sleeping 1 s after each miss.
pub async fn expect_eventually(
    gw: SocketAddr,
    c: &GrpcCase,
    threshold: usize,
    max: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    let (mut streak, mut last) = (0, String::new());
    let mut ch = None;
    while start.elapsed() < max {
        if ch.is_none() {
            match channel(gw, c.authority).await {
                Ok(x) => ch = Some(x),
                Err(e) => {
                    last = e;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let Some(channel) = ch.clone() else { continue };
        let got = weir_echo::grpc::call(channel, c.method, &c.metadata).await;
        if matches!(&got, Err(s) if s.code() == Code::Internal) {
            ch = None;
        }
        match compare(c, &got) {
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
    Err(format!(
        "{} to '{}/{SERVICE}/{}' with metadata {:?}: {last}",
        if c.code == Code::Ok {
            format!("request expecting {}", c.backend)
        } else {
            format!("request expecting {:?}", c.code)
        },
        c.authority,
        c.method,
        c.metadata
    ))
}
