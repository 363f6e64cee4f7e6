//! TLSRoute traffic as the upstream `tcp` and `tls` helpers send it: the TCP echo line
//! protocol over TLS (or plaintext), and the check that a connection is refused politely.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What the client trusts.
#[derive(Clone)]
pub enum Trust {
    /// A CA (DER): the chain and the SNI name are verified.
    Ca(Arc<Vec<u8>>),
    /// Exactly this leaf (DER).
    Pin(Arc<Vec<u8>>),
}

/// The upstream `tcp.ExpectedResponse`.
pub struct TcpExpect<'a> {
    pub backend_is_tls: bool,
    pub backend: &'a str,
    pub namespace: &'a str,
    /// The SNI the backend must have seen ("" = not checked).
    pub hostname: &'a str,
}

fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, String> {
    let builder = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    Ok(match trust {
        Trust::Ca(der) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(der.as_slice().to_vec()))
                .map_err(|e| e.to_string())?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pin(der) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::PinnedCertificate::new(
                der.clone(),
            )))
            .with_no_client_auth(),
    })
}

async fn tls_connect(
    gw: SocketAddr,
    sni: &str,
    trust: &Trust,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let cfg = client_config(trust)?;
    let tcp = TcpStream::connect(gw)
        .await
        .map_err(|e| format!("connect {gw}: {e}"))?;
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS to {gw} (SNI {sni}): {e}"))
}

/// One attempt: greeting, PING, IS_TLS, TEST, then the checks.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    e: &TcpExpect<'_>,
) -> Result<(), String> {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    let mut next = async || {
        lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "connection closed".to_string())
    };
    let greeting = next().await?;
    if greeting != weir_echo::tcp::WELCOME.trim_end() {
        return Err(format!("greeting {greeting:?}"));
    }
    write
        .write_all(b"PING\n")
        .await
        .map_err(|e| e.to_string())?;
    if next().await? != "PONG" {
        return Err("no PONG".into());
    }
    write
        .write_all(b"IS_TLS\n")
        .await
        .map_err(|e| e.to_string())?;
    let is_tls = next().await?;
    if is_tls != e.backend_is_tls.to_string() {
        return Err(format!(
            "backend IS_TLS {is_tls} (expected {})",
            e.backend_is_tls
        ));
    }
    write
        .write_all(b"TEST\n")
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&next().await?).map_err(|e| e.to_string())?;
    if v["namespace"] != e.namespace {
        return Err(format!(
            "namespace {} (expected {})",
            v["namespace"], e.namespace
        ));
    }
    if !v["pod"]
        .as_str()
        .unwrap_or("")
        .starts_with(&format!("{}-", e.backend))
    {
        return Err(format!("pod {} (expected {}-*)", v["pod"], e.backend));
    }
    if !e.hostname.is_empty() && v["tls"]["serverName"] != e.hostname {
        return Err(format!(
            "backend saw SNI {} (expected {})",
            v["tls"]["serverName"], e.hostname
        ));
    }
    Ok(())
}

/// One plaintext attempt (TCPRoute): the pod it reached, after the usual checks.
pub async fn tcp_plain_once(gw: SocketAddr, e: &TcpExpect<'_>) -> Result<String, String> {
    let stream = TcpStream::connect(gw)
        .await
        .map_err(|err| format!("connect {gw}: {err}"))?;
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    let mut next = async || {
        lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "connection closed".to_string())
    };
    let greeting = tokio::time::timeout(Duration::from_secs(10), next())
        .await
        .map_err(|_| "no greeting".to_string())??;
    if greeting != weir_echo::tcp::WELCOME.trim_end() {
        return Err(format!("greeting {greeting:?}"));
    }
    write
        .write_all(b"TEST\n")
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&next().await?).map_err(|e| e.to_string())?;
    if v["namespace"] != e.namespace {
        return Err(format!(
            "namespace {} (expected {})",
            v["namespace"], e.namespace
        ));
    }
    if v["isTLS"] != e.backend_is_tls {
        return Err(format!("backend isTLS {}", v["isTLS"]));
    }
    let pod = v["pod"].as_str().unwrap_or("").to_owned();
    if !e.backend.is_empty() && !pod.starts_with(&format!("{}-", e.backend)) {
        return Err(format!("pod {pod} (expected {}-*)", e.backend));
    }
    Ok(pod)
}

/// The plaintext TCP client's consistency rule: one success within `max`, a try per second.
pub async fn expect_tcp_plain(
    gw: SocketAddr,
    e: TcpExpect<'_>,
    max: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < max {
        match tcp_plain_once(gw, &e).await {
            Ok(_) => return Ok(()),
            Err(err) => last = err,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("TCP via {gw}: {last}"))
}

/// MakeTCPRequestAndExpectEventuallyValidResponse: one success within `max`, a try per second.
pub async fn expect_tcp(
    gw: SocketAddr,
    sni: &str,
    trust: &Trust,
    e: TcpExpect<'_>,
    max: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < max {
        let attempt = async {
            let tls = tls_connect(gw, sni, trust).await?;
            tokio::time::timeout(Duration::from_secs(10), exchange(tls, &e))
                .await
                .map_err(|_| "timed out".to_string())?
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(err) => last = err,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("TLS {sni} via {gw}: {last}"))
}

/// MakeTLSConnectionAndExpectEventuallyConnectionRejection: the gateway accepts the TCP
/// connection and closes or resets it at the ClientHello. A refused connection, a completed
/// handshake or a certificate error (the ClientHello reached some backend) do not count.
pub async fn expect_rejection(gw: SocketAddr, sni: &str, max: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < max {
        // No trust anchors: any certificate that comes back is an error, not a rejection.
        let cfg = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let result = match TcpStream::connect(gw).await {
            Err(e) => Err(format!(
                "TCP connect failed ({e}); a rejection must accept, then close"
            )),
            Ok(tcp) => {
                let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
                match tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
                )
                .await
                {
                    Err(_) => Err("no answer within 10s".to_string()),
                    Ok(Ok(_)) => Err("the handshake completed".to_string()),
                    Ok(Err(e)) => {
                        let closed = matches!(
                            e.kind(),
                            std::io::ErrorKind::UnexpectedEof
                                | std::io::ErrorKind::ConnectionReset
                                | std::io::ErrorKind::ConnectionAborted
                        );
                        if closed {
                            Ok(())
                        } else {
                            Err(format!("handshake error {e} is not a close or reset"))
                        }
                    }
                }
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("SNI {sni} via {gw}: {last}"))
}
