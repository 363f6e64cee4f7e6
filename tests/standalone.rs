//! End to end: the real `weir run` binary serving a manifest directory, driven by real
//! HTTP/1.1, h2c and websocket clients against `weir echo` backends.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_serving_across_20_route_edits() {
    let v1 = echo("127.0.31.1", 3000, "v1-pod").await;
    let v2 = echo("127.0.31.2", 3000, "v2-pod").await;
    let gw_addr: SocketAddr = "127.0.31.10:8080".parse().unwrap();
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.31.10", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service("v1", v1, None),
                service("v2", v2, None)
            ),
        ),
        ("route.yaml", route("r", "app.example", "/", "v1")),
    ])
    .await;
    w.wait_until("route serves", || async move {
        get(gw_addr, "app.example", "/")
            .await
            .is_ok_and(|r| r.0 == 200)
    })
    .await;

    // A request loop on fresh connections, running across every reload.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, ok, errors) = (stop.clone(), ok.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match get(gw_addr, "app.example", "/").await {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        errors.lock().unwrap().push(format!("{other:?}"));
                        0
                    }
                };
            }
        }));
    }
    let mut propagation = Vec::new();
    for i in 0..20 {
        let (svc, pod) = if i % 2 == 0 {
            ("v2", "v2-pod")
        } else {
            ("v1", "v1-pod")
        };
        let changed = Instant::now();
        w.write("route.yaml", &route("r", "app.example", "/", svc));
        loop {
            let (_, body) = get(gw_addr, "app.example", "/").await.unwrap();
            if pod_of(&body) == pod {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_secs(1),
                "edit {i} not served within 1s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        propagation.push(changed.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for wk in workers {
        wk.await.unwrap();
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    assert!(
        errors.is_empty(),
        "{} failed requests during reloads: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "the loop ran: {}",
        ok.load(Ordering::Relaxed)
    );
    // The metrics saw it all: requests by route and code, latency, the config version.
    let (_, metrics) = get(w.admin, "127.0.0.1", "/metrics").await.unwrap();
    assert!(
        metrics.contains("weir_http_requests_total{route=\"default/r/rule0/0\",code=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weir_http_request_duration_seconds_bucket{"),
        "{metrics}"
    );
    let version: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("weir_config_version "))
        .and_then(|v| v.trim().parse().ok())
        .expect("config version");
    assert!(version >= 21.0, "one config version per reload: {version}");
    assert!(
        metrics.contains("weir_config_reload_errors_total 0"),
        "{metrics}"
    );
    propagation.sort();
    eprintln!(
        "20 reloads, {} requests, 0 errors; propagation p50 {:?} max {:?}",
        ok.load(Ordering::Relaxed),
        propagation[10],
        propagation[19]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_and_the_rest_keeps_serving() {
    let v1 = echo("127.0.32.1", 3000, "v1-pod").await;
    let gw_addr: SocketAddr = "127.0.32.10:8080".parse().unwrap();
    let conflicting_gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: conflicted\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.32.11\"}]\n  listeners:\n  - {name: web, protocol: HTTP, port: 8080}\n  - {name: tls, protocol: TLS, port: 8080, tls: {mode: Passthrough}}\n";
    let bad_regex = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: bad-regex\n  namespace: default\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - matches:\n    - path:\n        type: RegularExpression\n        value: \"/([a-z\"\n    backendRefs: [{name: v1, port: 8080}]\n";
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.32.10", 8080)),
        ("svc.yaml", service("v1", v1, None)),
        ("good.yaml", route("good", "good.example", "/", "v1")),
        (
            "missing-backend.yaml",
            route("missing", "missing.example", "/", "does-not-exist"),
        ),
        (
            "broken.yaml",
            "kind: HTTPRoute\nmetadata: {name: [unclosed\n".into(),
        ),
        ("bad-regex.yaml", bad_regex.into()),
        ("conflict.yaml", conflicting_gw.into()),
    ])
    .await;
    // Everything valid serves.
    assert_eq!(get(gw_addr, "good.example", "/").await.unwrap().0, 200);
    // A backend that does not exist gets 500, and its route says why.
    assert_eq!(get(gw_addr, "missing.example", "/").await.unwrap().0, 500);
    let status = w.status().await;
    let route = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "missing")
        .unwrap();
    let resolved = route["status"]["parents"][0]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ResolvedRefs")
        .unwrap();
    assert_eq!(resolved["status"], "False");
    assert_eq!(resolved["reason"], "BackendNotFound");
    assert!(
        resolved["message"]
            .as_str()
            .unwrap()
            .contains("default/does-not-exist"),
        "{resolved}"
    );
    // Two listeners on one port with different protocols: the second is conflicted.
    let gw = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "conflicted")
        .unwrap();
    let tls = gw["status"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "tls")
        .unwrap();
    assert!(
        tls["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Conflicted"
                && c["status"] == "True"
                && c["reason"] == "ProtocolConflict"),
        "{tls}"
    );
    // The diagnostics (and the log) name file, line and field.
    let diags = status["diagnostics"].as_array().unwrap();
    let regex = diags
        .iter()
        .find(|d| d["file"].as_str().unwrap().ends_with("bad-regex.yaml"))
        .expect("bad regex reported");
    assert_eq!(regex["field"], "spec.rules[0].matches[0].path.value");
    assert_eq!(regex["line"], 12);
    assert_eq!(regex["object"], "default/bad-regex");
    assert!(
        regex["reason"]
            .as_str()
            .unwrap()
            .contains("does not compile")
    );
    assert!(
        diags
            .iter()
            .any(|d| d["file"].as_str().unwrap().ends_with("broken.yaml")
                && d["reason"].as_str().unwrap().contains("YAML syntax"))
    );
    let log = w.log();
    assert!(log.contains("bad-regex.yaml:12: HTTPRoute default/bad-regex field spec.rules[0].matches[0].path.value:"), "{log}");

    // Breaking the good route's file keeps the last good state of everything else, and
    // the broken file's objects are dropped (as the API server would refuse them).
    w.write("good.yaml", "apiVersion: [\n");
    let admin = w.admin;
    w.wait_until("broken good.yaml reported", || async move {
        status_of(admin).await["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["file"].as_str().unwrap().ends_with("good.yaml"))
    })
    .await;
    assert_eq!(
        get(gw_addr, "missing.example", "/").await.unwrap().0,
        500,
        "other routes keep serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_and_h2c_backends() {
    let plain = echo("127.0.33.1", 3000, "plain-pod").await;
    let h2 = echo("127.0.33.2", 3000, "h2c-pod").await;
    let gw_addr: SocketAddr = "127.0.33.10:8080".parse().unwrap();
    let routes = format!(
        "{}---\n{}",
        route("plain", "plain.example", "/", "plain"),
        route("h2", "h2.example", "/", "h2")
    );
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.33.10", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service("plain", plain, None),
                service("h2", h2, Some("kubernetes.io/h2c"))
            ),
        ),
        ("routes.yaml", routes),
    ])
    .await;
    // An h2c (prior knowledge) client, multiplexing on one connection.
    let stream = tokio::net::TcpStream::connect(gw_addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut pending = Vec::new();
    for (host, pod, proto) in [
        ("plain.example", "plain-pod", "HTTP/1.1"),
        ("h2.example", "h2c-pod", "HTTP/2.0"),
    ] {
        for _ in 0..5 {
            let mut s = sender.clone();
            pending.push(tokio::spawn(async move {
                let req = http::Request::get(format!("http://{host}/x?y=1"))
                    .version(http::Version::HTTP_2)
                    .body(http_body_util::Empty::<Bytes>::new())
                    .unwrap();
                let resp = s.send_request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap()
                    .to_bytes();
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["pod"], pod);
                assert_eq!(
                    v["proto"], proto,
                    "upstream protocol follows the Service's appProtocol"
                );
                assert_eq!(v["host"], host);
                assert_eq!(v["path"], "/x?y=1");
            }));
        }
    }
    for p in pending {
        p.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_is_spliced_through() {
    let ws = echo("127.0.34.1", 3000, "ws-pod").await;
    let gw_addr: SocketAddr = "127.0.34.10:8080".parse().unwrap();
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.34.10", 8080)),
        ("svc.yaml", service("ws", ws, Some("kubernetes.io/ws"))),
        ("route.yaml", route("ws", "ws.example", "/", "ws")),
    ])
    .await;
    let stream = tokio::net::TcpStream::connect(gw_addr).await.unwrap();
    let (mut socket, resp) = tokio_tungstenite::client_async("ws://ws.example/ws", stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        let msg = format!("hello {i}");
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(msg.clone()))
            .await
            .unwrap();
        let back = socket.next().await.unwrap().unwrap();
        assert_eq!(back.into_text().unwrap().as_str(), msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_to_the_backend() {
    let v1 = echo("127.0.35.1", 3000, "v1-pod").await;
    let gw_addr: SocketAddr = "127.0.35.10:8080".parse().unwrap();
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.35.10", 8080)),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route("r", "up.example", "/", "v1")),
    ])
    .await;
    let body = Bytes::from(vec![b'x'; 4 << 20]);
    let (status, reply) = request(gw_addr, http::Method::POST, "up.example", "/upload", body)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["headers"]["Content-Length"][0], (4 << 20).to_string());
    assert_eq!(v["method"], "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_example_serves_app_home_example() {
    // The quickstart's own manifests, with its two backends on 3101/3102, on a copy whose
    // Gateway address is moved off 127.0.0.1:8080 so a running quickstart is not disturbed.
    let _v1 = echo("127.0.36.1", 3101, "app-v1-pod").await;
    let _v2 = echo("127.0.36.1", 3102, "app-v2-pod").await;
    let root = env!("CARGO_MANIFEST_DIR");
    let read =
        |f: &str| std::fs::read_to_string(format!("{root}/examples/quickstart/{f}")).unwrap();
    let ca = weir_tls::devcert::DevCa::new("quickstart test").unwrap();
    let cert = ca.issue(&["*.home.example"], 30).unwrap();
    let _w = Weir::start(&[
        (
            "secret.yaml",
            weir_tls::devcert::secret_manifest("default", "home-tls", &cert, None),
        ),
        (
            "gateway.yaml",
            read("gateway.yaml").replace("value: 127.0.0.1", "value: 127.0.36.10"),
        ),
        ("routes.yaml", read("routes.yaml")),
        (
            "backends.yaml",
            read("backends.yaml").replace("\"127.0.0.1\"", "\"127.0.36.1\""),
        ),
    ])
    .await;
    let gw: SocketAddr = "127.0.36.10:8080".parse().unwrap();
    let mut pods = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..200 {
        let (status, body) = get(gw, "app.home.example", "/").await.unwrap();
        assert_eq!(status, 200);
        *pods.entry(pod_of(&body)).or_default() += 1;
    }
    let v1 = pods.get("app-v1-pod").copied().unwrap_or(0);
    assert!((130..=190).contains(&v1), "80/20 split: {pods:?}");
    let (status, body) = get(gw, "app.home.example", "/v2/x").await.unwrap();
    assert_eq!((status, pod_of(&body).as_str()), (200, "app-v2-pod"));
    let (status, _) = get(gw, "old.home.example", "/a").await.unwrap();
    assert_eq!(status, 301);
    assert_eq!(get(gw, "unknown.example", "/").await.unwrap().0, 404);
    // HTTPS on 8443 with the wildcard certificate, trusted through its CA, with curl.
    let ca_path = _w.path().join("ca.pem.txt");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_path)
        .args([
            "--resolve",
            "app.home.example:8443:127.0.36.10",
            "https://app.home.example:8443/v2/x",
        ])
        .output()
        .unwrap();
    assert_eq!(
        pod_of(&String::from_utf8_lossy(&out.stdout)),
        "app-v2-pod",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_resend_buffered_requests_and_stop_at_the_attempt_limit() {
    let v1 = echo("127.0.37.1", 3000, "v1-pod").await;
    let gw_addr: SocketAddr = "127.0.37.10:8080".parse().unwrap();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n  namespace: default\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - retry: {attempts: 2, codes: [502, 503], backoff: 100ms}\n    backendRefs: [{name: v1, port: 8080}]\n  - matches: [{path: {type: PathPrefix, value: /retry/timeout}}]\n    timeouts: {backendRequest: 200ms}\n    retry: {attempts: 1, codes: [504]}\n    backendRefs: [{name: v1, port: 8080}]\n";
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.37.10", 8080)),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route.into()),
    ])
    .await;
    let post = |uuid: &str, query: &str, size: usize| {
        let path = format!("/retry/?uuid={uuid}&{query}");
        async move {
            request(
                gw_addr,
                http::Method::POST,
                "r.example",
                &path,
                Bytes::from(vec![b'x'; size]),
            )
            .await
        }
    };

    // Two failures, then success: the third attempt (second retry) carries the whole body,
    // and each retry waited for the backoff.
    let start = std::time::Instant::now();
    let (status, reply) = post("a", "succeedAfter=2&responseCode=503", 1000)
        .await
        .unwrap();
    assert_eq!(status, 200, "{reply}");
    assert!(start.elapsed() >= std::time::Duration::from_millis(200));
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["headers"]["Content-Length"][0], "1000");

    // Three failures exceed one try plus two retries: the last failure reaches the client.
    let (status, _) = post("b", "succeedAfter=3&responseCode=503", 10)
        .await
        .unwrap();
    assert_eq!(status, 503);

    // A backend that closes the connection unanswered is a 502, which is retriable here.
    let (status, _) = post("c", "succeedAfter=1", 10).await.unwrap();
    assert_eq!(status, 200);

    // A status outside `codes` is returned at once.
    let (status, _) = post("d", "succeedAfter=1&responseCode=500", 10)
        .await
        .unwrap();
    assert_eq!(status, 500);

    // HTTPRouteRetryBackendTimeout: the first attempt outlasts backendRequest (200 ms), which
    // is a 504, retried; the second attempt answers at once.
    let start = std::time::Instant::now();
    let (status, reply) = request(
        gw_addr,
        http::Method::GET,
        "r.example",
        "/retry/timeout/?uuid=f&succeedAfter=1&delayRetry=1s&responseCode=500",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{reply}");
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(200)
            && took < std::time::Duration::from_millis(900),
        "{took:?}: the slow attempt was cut at 200 ms"
    );
    // Two slow attempts: the second 504 reaches the client.
    let (status, _) = request(
        gw_addr,
        http::Method::GET,
        "r.example",
        "/retry/timeout/?uuid=g&succeedAfter=2&delayRetry=1s&responseCode=500",
        Bytes::new(),
    )
    .await
    .unwrap();
    assert_eq!(status, 504);

    // A body larger than the retry buffer streams once and is not retried.
    let (status, _) = post("e", "succeedAfter=1&responseCode=503", 100 * 1024)
        .await
        .unwrap();
    assert_eq!(status, 503);
}

/// A UDP backend that answers each datagram with `name:` + the datagram.
async fn udp_echo(ip: &str, name: &'static str) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind((ip, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let reply = [name.as_bytes(), b":", &buf[..n]].concat();
            let _ = socket.send_to(&reply, from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_routes_relay_datagrams_per_client_flow() {
    let a = udp_echo("127.0.38.1", "a").await;
    let b = udp_echo("127.0.38.2", "b").await;
    let svc = |name: &str, backend: SocketAddr| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: dns, port: 53, protocol: UDP}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports: [{{name: dns, port: {}, protocol: UDP}}]\nendpoints: [{{addresses: [\"{}\"]}}]\n",
            backend.port(),
            backend.ip()
        )
    };
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.38.10\"}]\n  listeners:\n  - {name: dns, protocol: UDP, port: 5300}\n";
    let route = |weights: (u8, u8)| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: UDPRoute\nmetadata: {{name: r, namespace: default}}\nspec:\n  parentRefs: [{{name: gw}}]\n  rules:\n  - backendRefs:\n    - {{name: a, port: 53, weight: {}}}\n    - {{name: b, port: 53, weight: {}}}\n",
            weights.0, weights.1
        )
    };
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gw.into()),
        ("svc.yaml", format!("{}---\n{}", svc("a", a), svc("b", b))),
        ("route.yaml", route((1, 0))),
    ])
    .await;
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect("127.0.38.10:5300").await.unwrap();
    let ask = |msg: &'static [u8]| {
        let client = &client;
        async move {
            let mut buf = [0u8; 2048];
            for _ in 0..50 {
                client.send(msg).await.unwrap();
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await
                {
                    return String::from_utf8_lossy(&buf[..n]).into_owned();
                }
            }
            panic!("no UDP reply");
        }
    };
    assert_eq!(ask(b"hello").await, "a:hello");
    assert_eq!(ask(b"again").await, "a:again");

    // Weights change for new flows; this client's flow stays with its backend until idle.
    w.write("route.yaml", &route((0, 1)));
    let mut buf = [0u8; 2048];
    let mut reply = String::new();
    for _ in 0..50 {
        // A new client address per try: each starts a new flow on the current config.
        let other = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
        other.connect("127.0.38.10:5300").await.unwrap();
        other.send(b"new").await.unwrap();
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), other.recv(&mut buf)).await
        {
            reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            if reply == "b:new" {
                break;
            }
        }
    }
    assert_eq!(reply, "b:new");
    assert_eq!(ask(b"still").await, "a:still");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_udp_listeners_share_a_port() {
    let udp_backend = udp_echo("127.0.39.1", "udp").await;
    let tcp = tokio::net::TcpListener::bind("127.0.39.2:0").await.unwrap();
    let tcp_backend = tcp.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = s.write_all(b"tcp:hello").await;
            });
        }
    });
    let svc = |name: &str, proto: &str, backend: SocketAddr| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  ports: [{{name: dns, port: 53, protocol: {proto}}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports: [{{name: dns, port: {}, protocol: {proto}}}]\nendpoints: [{{addresses: [\"{}\"]}}]\n",
            backend.port(),
            backend.ip()
        )
    };
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.39.10\"}]\n  listeners:\n  - {name: dns-udp, protocol: UDP, port: 5353}\n  - {name: dns-tcp, protocol: TCP, port: 5353}\n";
    let routes = "apiVersion: gateway.networking.k8s.io/v1\nkind: UDPRoute\nmetadata: {name: u, namespace: default}\nspec:\n  parentRefs: [{name: gw, sectionName: dns-udp}]\n  rules: [{backendRefs: [{name: dns-udp, port: 53}]}]\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: TCPRoute\nmetadata: {name: t, namespace: default}\nspec:\n  parentRefs: [{name: gw, sectionName: dns-tcp}]\n  rules: [{backendRefs: [{name: dns-tcp, port: 53}]}]\n";
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gw.into()),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                svc("dns-udp", "UDP", udp_backend),
                svc("dns-tcp", "TCP", tcp_backend)
            ),
        ),
        ("routes.yaml", routes.into()),
    ])
    .await;
    let st = status_of(w.admin).await;
    let gw_status = st["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Gateway")
        .unwrap();
    for l in gw_status["status"]["listeners"].as_array().unwrap() {
        let programmed = l["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Programmed")
            .unwrap();
        assert_eq!(programmed["status"], "True", "{l}");
    }

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect("127.0.39.10:5353").await.unwrap();
    let mut buf = [0u8; 64];
    let mut got = None;
    for _ in 0..50 {
        client.send(b"hello").await.unwrap();
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await
        {
            got = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            break;
        }
    }
    assert_eq!(got.as_deref(), Some("udp:hello"));

    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect("127.0.39.10:5353")
        .await
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "tcp:hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_carry_small_request_bodies() {
    let v1 = echo("127.0.40.1", 3000, "v1-pod").await;
    // The mirror backend records what arrives and answers 200.
    let mirror = tokio::net::TcpListener::bind("127.0.40.2:0").await.unwrap();
    let mirror_addr = mirror.local_addr().unwrap();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = mirror.accept().await {
            let seen_tx = seen_tx.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&got).contains("payload-123") {
                    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let _ = seen_tx.send(String::from_utf8_lossy(&got).into_owned());
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    let gw_addr: SocketAddr = "127.0.40.10:8080".parse().unwrap();
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\nspec:\n  parentRefs: [{name: gw}]\n  rules:\n  - filters:\n    - type: RequestMirror\n      requestMirror: {backendRef: {name: mirror, port: 8080}}\n    backendRefs: [{name: v1, port: 8080}]\n";
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.40.10", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service("v1", v1, None),
                service("mirror", mirror_addr, None)
            ),
        ),
        ("route.yaml", route.into()),
    ])
    .await;
    let (status, reply) = request(
        gw_addr,
        http::Method::POST,
        "m.example",
        "/upload",
        Bytes::from_static(b"payload-123"),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{reply}");
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["headers"]["Content-Length"][0], "11");
    let mirrored = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
        .await
        .expect("the mirror saw a request")
        .unwrap();
    assert!(mirrored.starts_with("POST /upload HTTP/1.1"), "{mirrored}");
    assert!(mirrored.ends_with("payload-123"), "{mirrored}");
}
