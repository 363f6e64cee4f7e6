//! UDPRoute traffic as the upstream `udp` helpers send it: one datagram from a fresh connected
//! socket, answered by the UDP echo backend with a JSON datagram.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::UdpSocket;

/// Sends `payload` from a new socket and returns the echo's JSON reply.
pub async fn udp_once(gw: SocketAddr, payload: &[u8], deadline: Duration) -> Result<Value, String> {
    let socket = UdpSocket::bind(if gw.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
        .await
        .map_err(|e| e.to_string())?;
    // Connected: a reply from any other address than the gateway's is dropped by the kernel.
    socket.connect(gw).await.map_err(|e| e.to_string())?;
    socket.send(payload).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(deadline, socket.recv(&mut buf))
        .await
        .map_err(|_| format!("no reply from {gw} within {deadline:?}"))?
        .map_err(|e| format!("{gw}: {e}"))?;
    serde_json::from_slice(&buf[..n]).map_err(|e| format!("reply is not JSON: {e}"))
}

/// The backend (Deployment) name in an echo reply: the pod name without its last two
/// `-`-separated parts.
pub fn backend_of(reply: &Value) -> Result<String, String> {
    let pod = reply["pod"]
        .as_str()
        .filter(|p| !p.is_empty())
        .ok_or("reply without a pod")?;
    let parts: Vec<&str> = pod.split('-').collect();
    Ok(if parts.len() < 3 {
        pod.to_owned()
    } else {
        parts[..parts.len() - 2].join("-")
    })
}

/// ExpectEchoResponseFromBackend: polls every 100 ms until a reply names `service` and
/// `namespace` ("" = any), each probe from a new socket with a 10 s deadline.
pub async fn expect_udp_echo(
    gw: SocketAddr,
    service: &str,
    namespace: &str,
    max: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < max {
        match udp_once(
            gw,
            b"gateway-api-conformance-udp-echo",
            Duration::from_secs(10),
        )
        .await
        {
            Ok(v)
                if (service.is_empty() || v["service"] == service)
                    && (namespace.is_empty() || v["namespace"] == namespace) =>
            {
                return Ok(());
            }
            Ok(v) => last = format!("reply from service {} in {}", v["service"], v["namespace"]),
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("UDP {gw}: expected service {service:?}: {last}"))
}
