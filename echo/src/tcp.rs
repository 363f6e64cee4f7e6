//! The TCP echo mode (echo-basic's tcpserver): the server speaks first with a greeting, then
//! answers line commands: `PING` → `PONG`, `IS_TLS` → `true`/`false`, `TEST` → one JSON line
//! with the pod identity and what it saw of TLS. Other lines are ignored.

use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::{EchoIdentity, TlsSeen};

pub const WELCOME: &str = "Gateway API Test TCP Server\n";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestReply<'a> {
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
    tcpport: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    tlsport: &'a str,
    #[serde(rename = "isTLS")]
    is_tls: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls: Option<&'a TlsSeen>,
}

/// Serves the line protocol on plain TCP (`acceptor` None) or TLS.
pub async fn serve(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    id: Arc<EchoIdentity>,
    ports: Arc<(String, String)>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, id, ports) = (acceptor.clone(), id.clone(), ports.clone());
        tokio::spawn(async move {
            match acceptor {
                None => session(stream, &id, &ports, None).await,
                Some(a) => {
                    let Ok(tls) = a.accept(stream).await else {
                        return;
                    };
                    let seen = crate::tls_seen(tls.get_ref().1);
                    session(tls, &id, &ports, Some(&seen)).await
                }
            }
        });
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    id: &EchoIdentity,
    ports: &(String, String),
    tls: Option<&TlsSeen>,
) {
    let (read, mut write) = tokio::io::split(stream);
    if write.write_all(WELCOME.as_bytes()).await.is_err() {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match line.trim() {
            "PING" => "PONG\n".to_owned(),
            "IS_TLS" => format!("{}\n", tls.is_some()),
            "TEST" => {
                let r = TestReply {
                    namespace: &id.namespace,
                    ingress: &id.ingress,
                    service: &id.service,
                    pod: &id.pod,
                    tcpport: &ports.0,
                    tlsport: if tls.is_some() { &ports.1 } else { "" },
                    is_tls: tls.is_some(),
                    tls,
                };
                format!("{}\n", serde_json::to_string(&r).unwrap_or_default())
            }
            _ => continue,
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
