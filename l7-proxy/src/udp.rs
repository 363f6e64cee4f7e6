//! UDP listeners: datagrams from each client address (a flow) go to one backend endpoint,
//! picked by weight when the flow starts, through a connected upstream socket; replies come
//! back from the listener's address. A flow ends after `IDLE` without traffic either way.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::proxy::Proxy;
use crate::route_table::CompiledTarget;

/// A flow without traffic for this long is closed.
pub const IDLE: Duration = Duration::from_secs(30);
/// The largest datagram relayed (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

struct Flow {
    upstream: Arc<UdpSocket>,
    /// Milliseconds since `epoch` of the last datagram in either direction.
    last: Arc<AtomicU64>,
}

pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Serves one UDP socket until `stop`. Open flows end with it.
pub async fn serve(
    socket: UdpSocket,
    addr: SocketAddr,
    proxy: Arc<Proxy>,
    stop: CancellationToken,
) {
    let socket = Arc::new(socket);
    let flows: Arc<Mutex<HashMap<SocketAddr, Flow>>> = Arc::default();
    let epoch = Instant::now();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(address = %addr, error = %e, "UDP receive failed");
                    continue;
                }
            },
        };
        let now_ms = epoch.elapsed().as_millis() as u64;
        let existing = {
            let flows = flows.lock().unwrap_or_else(|e| e.into_inner());
            flows
                .get(&client)
                .map(|f| (f.upstream.clone(), f.last.clone()))
        };
        let upstream = match existing {
            Some((upstream, last)) => {
                last.store(now_ms, Ordering::Relaxed);
                upstream
            }
            None => match open_flow(&proxy, addr, client).await {
                Ok(upstream) => {
                    let last = Arc::new(AtomicU64::new(now_ms));
                    flows.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        client,
                        Flow {
                            upstream: upstream.clone(),
                            last: last.clone(),
                        },
                    );
                    tokio::spawn(relay_replies(
                        socket.clone(),
                        upstream.clone(),
                        client,
                        last,
                        epoch,
                        flows.clone(),
                        stop.clone(),
                    ));
                    upstream
                }
                Err(e) => {
                    tracing::debug!(address = %addr, %client, error = %e, "UDP datagram dropped");
                    continue;
                }
            },
        };
        if let Err(e) = upstream.send(&buf[..n]).await {
            tracing::debug!(%client, error = %e, "UDP send to backend failed");
        }
    }
}

/// Picks a backend endpoint for a new flow from the active config and connects a socket to it.
async fn open_flow(
    proxy: &Proxy,
    addr: SocketAddr,
    client: SocketAddr,
) -> Result<Arc<UdpSocket>, String> {
    let endpoint = {
        let table = proxy.table();
        let group = table
            .udp_listeners
            .get(&addr)
            .and_then(|p| p.hosts.lookup(""))
            .and_then(|h| h.sni_routes.lookup(""))
            .ok_or("no UDPRoute on this listener")?;
        let backend = group.pick().ok_or("no backend can take traffic")?;
        let cluster = match &backend.target {
            CompiledTarget::Cluster(c) => c,
            CompiledTarget::Invalid { reason, .. } => {
                return Err(format!("invalid backend: {reason}"));
            }
        };
        cluster
            .pick()
            .ok_or_else(|| format!("cluster {} has no ready endpoints", cluster.name))?
    };
    let local: IpAddr = if endpoint.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let upstream = UdpSocket::bind((local, 0))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    upstream
        .connect(endpoint)
        .await
        .map_err(|e| format!("connect {endpoint}: {e}"))?;
    tracing::debug!(%client, %endpoint, "UDP flow opened");
    Ok(Arc::new(upstream))
}

/// Backend → client, until the flow is idle for `IDLE` or the socket stops.
async fn relay_replies(
    socket: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    last: Arc<AtomicU64>,
    epoch: Instant,
    flows: Arc<Mutex<HashMap<SocketAddr, Flow>>>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let idle_for = Duration::from_millis(
            (epoch.elapsed().as_millis() as u64).saturating_sub(last.load(Ordering::Relaxed)),
        );
        let Some(wait) = IDLE.checked_sub(idle_for).filter(|w| !w.is_zero()) else {
            break;
        };
        let n = tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => continue,
            r = upstream.recv(&mut buf) => match r {
                Ok(n) => n,
                // ICMP port unreachable and the like: the flow stays until idle.
                Err(e) => {
                    tracing::debug!(%client, error = %e, "UDP receive from backend failed");
                    continue;
                }
            },
        };
        last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Err(e) = socket.send_to(&buf[..n], client).await {
            tracing::debug!(%client, error = %e, "UDP reply to client failed");
        }
    }
    flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&client);
    tracing::debug!(%client, "UDP flow closed");
}
