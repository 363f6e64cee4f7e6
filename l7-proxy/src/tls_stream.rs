//! TLS sockets before the handshake: read the ClientHello's SNI without consuming it, and
//! splice TLSRoute connections (passthrough or terminated) to a backend.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::route_table::{BackendGroup, CompiledTarget};

/// Longest ClientHello record we look at (one TLS record).
const MAX_RECORD: usize = 5 + 16 * 1024;
const PEEK_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PeekError {
    #[error("not a TLS handshake")]
    NotTls,
    #[error("connection closed before the ClientHello")]
    Closed,
    #[error("no ClientHello within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Waits for the first TLS record and returns the SNI host name, if the ClientHello has one.
/// The bytes stay in the socket for whoever handles the connection next.
pub async fn peek_sni(stream: &TcpStream) -> Result<Option<String>, PeekError> {
    let start = Instant::now();
    let mut buf = vec![0u8; MAX_RECORD];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(PeekError::Closed);
        }
        if buf[0] != 0x16 {
            return Err(PeekError::NotTls);
        }
        if n >= 5 {
            let need = (5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]))).min(MAX_RECORD);
            if n >= need {
                return Ok(sni_of(&buf[..need]));
            }
        }
        if start.elapsed() > PEEK_TIMEOUT {
            return Err(PeekError::Timeout(PEEK_TIMEOUT));
        }
        // Part of the record has arrived; the rest is a round trip away at most.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The SNI host name of a ClientHello record (parsed by tls-parser).
fn sni_of(record: &[u8]) -> Option<String> {
    use tls_parser::{SNIType, TlsExtension, TlsMessage, TlsMessageHandshake};
    let (_, plaintext) = tls_parser::parse_tls_plaintext(record).ok()?;
    plaintext.msg.iter().find_map(|m| match m {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) => {
            let (_, exts) = tls_parser::parse_tls_client_hello_extensions(ch.ext?).ok()?;
            exts.iter().find_map(|e| match e {
                TlsExtension::SNI(names) => names
                    .iter()
                    .find(|(t, _)| *t == SNIType::HostName)
                    .and_then(|(_, n)| std::str::from_utf8(n).ok())
                    .map(str::to_ascii_lowercase),
                _ => None,
            })
        }
        _ => None,
    })
}

/// Connects to a backend of `group` and copies bytes both ways until either side closes.
pub async fn splice<S>(mut client: S, group: &BackendGroup, peer: SocketAddr) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let backend = group.pick().ok_or("no backend can take traffic")?;
    let cluster = match &backend.target {
        CompiledTarget::Cluster(c) => c,
        CompiledTarget::Invalid { reason, .. } => return Err(format!("invalid backend: {reason}")),
    };
    let endpoint = cluster
        .pick()
        .ok_or_else(|| format!("cluster {} has no ready endpoints", cluster.name))?;
    let mut upstream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(endpoint))
        .await
        .map_err(|_| format!("connect {endpoint}: timed out"))?
        .map_err(|e| format!("connect {endpoint}: {e}"))?;
    let _ = upstream.set_nodelay(true);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => {
            tracing::debug!(%peer, %endpoint, up, down, "TLS route connection closed")
        }
        Err(e) => {
            tracing::debug!(%peer, %endpoint, error = %e, "TLS route connection ended with an error")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sni_is_read_without_consuming_the_client_hello() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut cfg = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"h2".to_vec()];
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("App.Example.COM").unwrap();
            // The handshake fails (nobody answers); only the ClientHello matters here.
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg)).connect(name, tcp),
            )
            .await;
        });
        let (stream, _) = listener.accept().await.unwrap();
        assert_eq!(
            peek_sni(&stream).await.unwrap().as_deref(),
            Some("app.example.com")
        );
        // Still there for the next reader.
        let mut first = [0u8; 1];
        assert_eq!(stream.peek(&mut first).await.unwrap(), 1);
        assert_eq!(first[0], 0x16);
        drop(stream);
        client.abort();
    }

    #[tokio::test]
    async fn plain_http_is_not_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut c = TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut c, b"GET / HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        assert!(matches!(peek_sni(&stream).await, Err(PeekError::NotTls)));
    }
}
