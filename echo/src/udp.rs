//! UDP echo, as echo-basic with `UDP_ECHO_SERVER` set: each datagram is answered, to its
//! sender, with one JSON datagram naming the request and the pod.

use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::EchoIdentity;

/// Answers datagrams on `socket` until the task is dropped.
pub async fn serve(socket: UdpSocket, id: Arc<EchoIdentity>) {
    let mut buf = vec![0u8; 1024];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "UDP echo receive failed");
                continue;
            }
        };
        let reply = serde_json::json!({
            "request": String::from_utf8_lossy(&buf[..n]),
            "namespace": id.namespace,
            "ingress": id.ingress,
            "service": id.service,
            "pod": id.pod,
        });
        if let Err(e) = socket.send_to(reply.to_string().as_bytes(), from).await {
            tracing::debug!(%from, error = %e, "UDP echo reply failed");
        }
    }
}
