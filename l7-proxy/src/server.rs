//! Sockets and connections: binds what a config asks for, keeps sockets whose address did
//! not change, and drains the ones that went away.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::config::HostMode;
use crate::config::ProxyConfig;
use crate::metrics::Metrics;
use crate::proxy::{Downstream, Proxy, TlsInfo};
use crate::route_table::{CompileError, RouteTable};
use crate::tls_stream;

/// The outcome of applying a config.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub version: u64,
    /// Addresses that could not be bound, with the reason. Everything else is serving.
    pub bind_errors: HashMap<SocketAddr, String>,
}

struct Socket {
    stop: CancellationToken,
}

enum Bound {
    Tcp(TcpListener),
    Udp(tokio::net::UdpSocket),
}

/// The running proxy: the route table and the sockets that serve it.
pub struct Dataplane {
    proxy: Arc<Proxy>,
    /// By address and transport (UDP or not).
    sockets: Mutex<HashMap<(SocketAddr, bool), Socket>>,
    http: Arc<auto::Builder<TokioExecutor>>,
}

impl Dataplane {
    pub fn new(metrics: Metrics) -> Self {
        let empty = RouteTable::compile(Arc::new(ProxyConfig::default()), 0, None)
            .expect("an empty config compiles");
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .keep_alive(true);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(1024);
        Dataplane {
            proxy: Arc::new(Proxy::new(empty, metrics)),
            sockets: Mutex::new(HashMap::new()),
            http: Arc::new(http),
        }
    }

    pub fn proxy(&self) -> &Arc<Proxy> {
        &self.proxy
    }

    /// Applies `config` as `version`: compiles it, binds new sockets, swaps the route table
    /// atomically, then drains sockets that are no longer wanted. On a compile error nothing
    /// changes and the previous config keeps serving.
    pub async fn apply(
        &self,
        config: Arc<ProxyConfig>,
        version: u64,
    ) -> Result<ApplyReport, CompileError> {
        let previous = self.proxy.table();
        let table = match RouteTable::compile(config.clone(), version, Some(&previous)) {
            Ok(t) => t,
            Err(e) => {
                self.proxy.metrics.config_errors.inc();
                return Err(e);
            }
        };
        let mut report = ApplyReport {
            version,
            ..Default::default()
        };
        let mut sockets = self.sockets.lock().await;
        let mut fresh = Vec::new();
        for l in &config.listeners {
            let udp = l.protocol == crate::config::ListenerProtocol::Udp;
            if sockets.contains_key(&(l.address, udp)) {
                continue;
            }
            let bound = if udp {
                crate::udp::bind(l.address).map(Bound::Udp)
            } else {
                bind(l.address).map(Bound::Tcp)
            };
            match bound {
                Ok(listener) => fresh.push((l.address, listener)),
                Err(e) => {
                    tracing::error!(address = %l.address, error = %e, "cannot bind listener");
                    report.bind_errors.insert(l.address, e.to_string());
                }
            }
        }
        self.proxy.swap(table);
        self.proxy.metrics.config_version.set(version as i64);
        self.record_certificate_expiry(&config);
        for (addr, bound) in fresh {
            let stop = CancellationToken::new();
            let udp = matches!(bound, Bound::Udp(_));
            match bound {
                Bound::Tcp(listener) => tokio::spawn(accept_loop(
                    listener,
                    addr,
                    self.proxy.clone(),
                    self.http.clone(),
                    stop.clone(),
                )),
                Bound::Udp(socket) => tokio::spawn(crate::udp::serve(
                    socket,
                    addr,
                    self.proxy.clone(),
                    stop.clone(),
                )),
            };
            sockets.insert((addr, udp), Socket { stop });
            tracing::info!(address = %addr, udp, "listening");
        }
        let wanted: std::collections::HashSet<_> = config
            .listeners
            .iter()
            .map(|l| {
                (
                    l.address,
                    l.protocol == crate::config::ListenerProtocol::Udp,
                )
            })
            .collect();
        sockets.retain(|key, s| {
            let keep = wanted.contains(key);
            if !keep {
                tracing::info!(address = %key.0, udp = key.1, "closing listener");
                s.stop.cancel();
            }
            keep
        });
        Ok(report)
    }

    /// Sets `weir_certificate_expiry_seconds` for every certificate the config serves.
    fn record_certificate_expiry(&self, config: &ProxyConfig) {
        let now = weir_tls::material::unix_now();
        let family = &self.proxy.metrics.certificate_expiry;
        family.clear();
        for c in config
            .listeners
            .iter()
            .flat_map(|l| l.hosts.iter())
            .flat_map(|h| h.certificates.iter())
        {
            if let Ok(loaded) = weir_tls::LoadedCertificate::from_pem(
                c.cert_pem.as_bytes(),
                c.key_pem.as_bytes(),
                now,
            ) {
                let labels = crate::metrics::CertificateLabels {
                    certificate: c.name.clone(),
                };
                family.get_or_create(&labels).set(loaded.expires_in(now));
            }
        }
    }

    /// Stops every socket; open connections finish their in-flight requests.
    pub async fn shutdown(&self) {
        for (_, s) in self.sockets.lock().await.drain() {
            s.stop.cancel();
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    proxy: Arc<Proxy>,
    http: Arc<auto::Builder<TokioExecutor>>,
    stop: CancellationToken,
) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(address = %addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The active config's view of this socket: new handshakes see rotated certificates
        // and changed TLS routes at once; this connection keeps what it started with.
        let port = proxy.table().listeners.get(&addr).cloned();
        let proxy = proxy.clone();
        let http = http.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match port {
                Some(port) if port.protocol == crate::config::ListenerProtocol::Tcp => {
                    serve_tcp(stream, peer, port).await
                }
                Some(port) if port.tls.is_some() => {
                    serve_tls(stream, addr, peer, port, proxy, http, stop).await
                }
                _ => {
                    serve(
                        TokioIo::new(stream),
                        Downstream {
                            listener: addr,
                            peer,
                            tls: None,
                        },
                        proxy,
                        http,
                        stop,
                    )
                    .await
                }
            }
        });
    }
}

/// A connection on a TLS socket: the SNI picks the Gateway listener, whose mode decides
/// between HTTPS, TLS termination to a TCP backend, and passthrough.
async fn serve_tls(
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    peer: SocketAddr,
    port: Arc<crate::route_table::PortTable>,
    proxy: Arc<Proxy>,
    http: Arc<auto::Builder<TokioExecutor>>,
    stop: CancellationToken,
) {
    let sni = match tls_stream::peek_sni(&stream).await {
        Ok(sni) => sni,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "no TLS ClientHello");
            return;
        }
    };
    let name = sni.as_deref().unwrap_or("");
    let Some(host) = port.hosts.lookup(name) else {
        tracing::debug!(%peer, sni = name, "no listener for this SNI");
        return;
    };
    let Some(acceptor) = port.tls.clone() else {
        return;
    };
    if host.mode == HostMode::TlsPassthrough {
        let Some(group) = host.sni_routes.lookup(name) else {
            tracing::debug!(%peer, sni = name, listener = %host.name, "no TLSRoute for this SNI");
            return;
        };
        if let Err(e) = tls_stream::splice(stream, group, peer).await {
            tracing::debug!(%peer, sni = name, error = %e, "passthrough failed");
        }
        return;
    }
    let tls_stream =
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
    match host.mode {
        HostMode::TlsTerminate => match host.sni_routes.lookup(name) {
            Some(group) => {
                if let Err(e) = tls_stream::splice(tls_stream, group, peer).await {
                    tracing::debug!(%peer, sni = name, error = %e, "terminated TLS route failed");
                }
            }
            None => tracing::debug!(%peer, sni = name, "no TLSRoute for this SNI"),
        },
        _ => {
            let sni = sni.map(Arc::<str>::from);
            let down = Downstream {
                listener: addr,
                peer,
                tls: Some(TlsInfo { sni }),
            };
            serve(TokioIo::new(tls_stream), down, proxy, http, stop).await
        }
    }
}

/// A connection on a TCP listener: spliced to its TCPRoute's backends.
async fn serve_tcp(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    port: Arc<crate::route_table::PortTable>,
) {
    let Some(group) = port.hosts.lookup("").and_then(|h| h.sni_routes.lookup("")) else {
        tracing::debug!(%peer, "no TCPRoute on this listener");
        return;
    };
    if let Err(e) = tls_stream::splice(stream, group, peer).await {
        tracing::debug!(%peer, error = %e, "TCP route failed");
    }
}

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTP on one accepted (and, for HTTPS, decrypted) connection.
async fn serve<I>(
    io: I,
    down: Downstream,
    proxy: Arc<Proxy>,
    http: Arc<auto::Builder<TokioExecutor>>,
    stop: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = down.peer;
    let down = Arc::new(down);
    let svc = service_fn(move |req| {
        let proxy = proxy.clone();
        let down = down.clone();
        async move { Ok::<_, Infallible>(proxy.handle(&down, req).await) }
    });
    let conn = http.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
