//! Shared fixtures for the end-to-end tests: the real `weir` binary on a manifest
//! directory, `weir echo` backends, and a plain hyper client.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// A running `weir run`, killed on drop (also when a test panics).
pub struct Weir {
    child: Child,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Weir {
    /// Starts weir on a new directory holding `files` (name, content).
    pub async fn start(files: &[(&str, String)]) -> Weir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = dir.path().join("weir.log.txt");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["run", "--config-dir"])
            .arg(dir.path())
            .args(["--admin-address", &admin.to_string(), "--workers", "2"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let w = Weir {
            child,
            admin,
            dir,
            log,
        };
        let admin = w.admin;
        w.wait_until("ready", || async move {
            get(admin, "127.0.0.1", "/readyz")
                .await
                .is_ok_and(|r| r.0 == 200)
        })
        .await;
        w
    }

    pub fn write(&self, name: &str, text: &str) {
        // Write then rename: what editors and kubelet's atomic writer do.
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn status(&self) -> serde_json::Value {
        status_of(self.admin).await
    }

    /// Polls until `f` holds, for at most 5 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, f: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}; weir log:\n{}", self.log());
    }
}

/// Starts a `weir echo` backend on `ip:port` as pod `pod`.
pub async fn echo(ip: &str, port: u16, pod: &str) -> SocketAddr {
    let addr = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let id = weir_echo::EchoIdentity {
        pod: pod.into(),
        namespace: "default".into(),
        http_port: port.to_string(),
        ..Default::default()
    };
    tokio::spawn(weir_echo::serve(listener, Arc::new(id)));
    addr
}

/// GET over a new HTTP/1.1 connection: (status, body).
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<(u16, String)> {
    request(addr, http::Method::GET, host, path, Bytes::new()).await
}

pub async fn request(
    addr: SocketAddr,
    method: http::Method,
    host: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(Full::new(body))?;
    let resp = tokio::time::timeout(Duration::from_secs(5), s.send_request(req)).await??;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The echo reply's pod name, or "" when the body is not an echo reply.
pub fn pod_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["pod"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub const GATEWAY_CLASS: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: weir\nspec:\n  controllerName: weir.dev/gateway-controller\n";

/// A Gateway on `ip:port` with one HTTP listener.
pub fn gateway(ip: &str, port: u16) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  listeners:\n  - {{name: http, protocol: HTTP, port: {port}}}\n"
    )
}

/// A Service with one port and an EndpointSlice pointing at `backend`.
pub fn service(name: &str, backend: SocketAddr, app_protocol: Option<&str>) -> String {
    let ap = app_protocol
        .map(|a| format!(", appProtocol: {a}"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  ports:\n  - {{name: http, port: 8080{ap}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports:\n- {{name: http, port: {}}}\nendpoints:\n- addresses: [\"{}\"]\n",
        backend.port(),
        backend.ip()
    )
}

/// An HTTPRoute for `host` sending `path` (PathPrefix) to `svc`.
pub fn route(name: &str, host: &str, path: &str, svc: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  parentRefs: [{{name: gw}}]\n  hostnames: [\"{host}\"]\n  rules:\n  - matches: [{{path: {{type: PathPrefix, value: \"{path}\"}}}}]\n    backendRefs: [{{name: {svc}, port: 8080}}]\n"
    )
}

/// The admin endpoint's `/status` document.
pub async fn status_of(admin: SocketAddr) -> serde_json::Value {
    let (_, body) = get(admin, "127.0.0.1", "/status").await.unwrap();
    serde_json::from_str(&body).unwrap()
}
