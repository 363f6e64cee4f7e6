//! Endpoint choice end to end, through the real `weir run`: least request steering away from a
//! slow endpoint, passive outlier detection ejecting a dead one, consistent hashing, and
//! HTTPRoute session persistence (cookie and header).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

/// GET over a new connection with extra headers: (status, response headers, pod).
async fn get_with(
    gw: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let stream = tokio::net::TcpStream::connect(gw).await.unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = http::Request::get(path).header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        s.send_request(b.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .unwrap()
    .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, pod_of(&String::from_utf8_lossy(&body)))
}

/// A Service `name` with one port and an EndpointSlice of `backends`, with annotations.
fn service_of(name: &str, backends: &[SocketAddr], annotations: &[(&str, &str)]) -> String {
    let ann: String = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    let ann = if ann.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{ann}")
    };
    let eps: String = backends
        .iter()
        .map(|b| format!("- addresses: [\"{}\"]\n", b.ip()))
        .collect();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n{ann}spec:\n  ports:\n  - {{name: http, port: 8080}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {name}}}\naddressType: IPv4\nports:\n- {{name: http, port: {}}}\nendpoints:\n{eps}",
        backends[0].port()
    )
}

/// A backend that answers every request after `delay`, as pod `pod`.
async fn slow_echo(addr: SocketAddr, pod: &'static str, delay: Duration) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(Bytes::from(format!("{{\"pod\":\"{pod}\"}}"))),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_request_steers_away_from_a_slow_endpoint() {
    let fast = echo("127.0.52.1", 3000, "fast").await;
    let slow: SocketAddr = "127.0.52.2:3000".parse().unwrap();
    slow_echo(slow, "slow", Duration::from_millis(300)).await;
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.52.10", 8080)),
        ("svc.yaml", service_of("web", &[fast, slow], &[])),
        ("route.yaml", route("r", "lb.example", "/", "web")),
    ])
    .await;
    let gw: SocketAddr = "127.0.52.10:8080".parse().unwrap();
    // 8 clients in parallel for 1.5 s: the slow endpoint holds requests in flight, so two
    // random choices keep picking the fast one.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let clients = (0..8).map(|_| async move {
        let mut seen = BTreeMap::<String, usize>::new();
        while tokio::time::Instant::now() < deadline {
            let (status, _, pod) = get_with(gw, "lb.example", "/", &[]).await;
            assert_eq!(status, 200);
            *seen.entry(pod).or_default() += 1;
        }
        seen
    });
    let mut total = BTreeMap::<String, usize>::new();
    for seen in futures_util::future::join_all(clients).await {
        for (k, v) in seen {
            *total.entry(k).or_default() += v;
        }
    }
    let (f, s) = (total["fast"], total.get("slow").copied().unwrap_or(0));
    println!("least request: fast {f}, slow {s}");
    assert!(f >= 20 * s.max(1), "fast {f} vs slow {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_is_ejected_after_five_failures() {
    let good = echo("127.0.52.21", 3000, "good").await;
    // Nothing listens here: connections are refused.
    let dead: SocketAddr = "127.0.52.22:3000".parse().unwrap();
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.52.20", 8080)),
        ("svc.yaml", service_of("web", &[good, dead], &[])),
        ("route.yaml", route("r", "od.example", "/", "web")),
    ])
    .await;
    let gw: SocketAddr = "127.0.52.20:8080".parse().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(get_with(gw, "od.example", "/", &[]).await.0);
    }
    let failed = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(
        failed,
        weir_proxy::balance::CONSECUTIVE_FAILURES as usize,
        "exactly the failures that eject it: {statuses:?}"
    );
    assert!(statuses[30..].iter().all(|s| *s == 200), "{statuses:?}");
    let (_, metrics) = get(w.admin, "127.0.0.1", "/metrics").await.unwrap();
    assert!(
        metrics.contains("weir_upstream_ejections_total{cluster=\"default/web:8080\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_a_user_on_one_endpoint() {
    let a = echo("127.0.52.31", 3000, "pod-a").await;
    let b = echo("127.0.52.32", 3000, "pod-b").await;
    let c = echo("127.0.52.33", 3000, "pod-c").await;
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.52.30", 8080)),
        (
            "svc.yaml",
            service_of(
                "web",
                &[a, b, c],
                &[
                    ("weir.dev/load-balancing", "consistent-hash"),
                    ("weir.dev/hash-on", "header:X-User"),
                ],
            ),
        ),
        ("route.yaml", route("r", "ch.example", "/", "web")),
    ])
    .await;
    let gw: SocketAddr = "127.0.52.30:8080".parse().unwrap();
    let mut pods_by_user = BTreeMap::new();
    for u in 0..30 {
        let user = format!("user-{u}");
        let mut pods = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let (status, _, pod) = get_with(gw, "ch.example", "/", &[("x-user", &user)]).await;
            assert_eq!(status, 200);
            pods.insert(pod);
        }
        assert_eq!(pods.len(), 1, "{user} went to {pods:?}");
        pods_by_user.insert(user, pods.into_iter().next().unwrap());
    }
    let distinct: std::collections::BTreeSet<_> = pods_by_user.values().collect();
    assert_eq!(
        distinct.len(),
        3,
        "30 users spread over all 3 pods: {pods_by_user:?}"
    );
}

/// A route with two backends (one pod each, equal weights) and `session` YAML on its rule.
fn session_route(session: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n  namespace: default\nspec:\n  parentRefs: [{{name: gw}}]\n  hostnames: [\"sp.example\"]\n  rules:\n  - backendRefs: [{{name: one, port: 8080}}, {{name: two, port: 8080}}]\n    sessionPersistence: {session}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sessions_stick_to_one_endpoint_until_they_expire() {
    let one = echo("127.0.52.41", 3000, "pod-one").await;
    let two = echo("127.0.52.42", 3000, "pod-two").await;
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.52.40", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service_of("one", &[one], &[]),
                service_of("two", &[two], &[])
            ),
        ),
        (
            "route.yaml",
            session_route(
                "{sessionName: sid, type: Cookie, absoluteTimeout: 1h, idleTimeout: 30m, cookieConfig: {lifetimeType: Permanent}}",
            ),
        ),
    ])
    .await;
    let gw: SocketAddr = "127.0.52.40:8080".parse().unwrap();
    // Without a cookie, requests spread over both backends, and each answer starts a session.
    let mut first_pods = std::collections::BTreeSet::new();
    let mut cookies = Vec::new();
    for _ in 0..4 {
        let (status, h, pod) = get_with(gw, "sp.example", "/", &[]).await;
        assert_eq!(status, 200);
        let set = h["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.starts_with("sid=v1.") && set.contains("; Max-Age=3600"),
            "{set}"
        );
        first_pods.insert(pod.clone());
        cookies.push((set.split(';').next().unwrap().to_owned(), pod));
    }
    assert_eq!(first_pods.len(), 2, "no cookie: both backends serve");
    // With a cookie, every request goes where its session started.
    for (cookie, pod) in &cookies {
        for _ in 0..10 {
            let (status, h, got) = get_with(gw, "sp.example", "/", &[("cookie", cookie)]).await;
            assert_eq!((status, &got), (200, pod));
            assert!(h.contains_key("set-cookie"), "the session is refreshed");
        }
    }
    // A session idle for longer than idleTimeout is over: a new one starts.
    let (cookie, _) = &cookies[0];
    let parts: Vec<&str> = cookie.split('.').collect();
    let stale = format!("{}.{}.{}.1", parts[0], parts[1], parts[2]);
    let (_, h, _) = get_with(gw, "sp.example", "/", &[("cookie", &stale)]).await;
    let fresh = h["set-cookie"].to_str().unwrap();
    assert!(
        !fresh.ends_with(".1"),
        "a new session, not the stale one: {fresh}"
    );
    // A garbage token is ignored.
    let (status, _, _) = get_with(gw, "sp.example", "/", &[("cookie", "sid=garbage")]).await;
    assert_eq!(status, 200);
    drop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_sessions_stick_and_follow_their_endpoint_away() {
    let one = echo("127.0.52.51", 3000, "pod-one").await;
    let two = echo("127.0.52.52", 3000, "pod-two").await;
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.52.50", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service_of("one", &[one], &[]),
                service_of("two", &[two], &[])
            ),
        ),
        (
            "route.yaml",
            session_route("{sessionName: x-session, type: Header}"),
        ),
    ])
    .await;
    let gw: SocketAddr = "127.0.52.50:8080".parse().unwrap();
    let (_, h, pod) = get_with(gw, "sp.example", "/", &[]).await;
    let token = h["x-session"].to_str().unwrap().to_owned();
    for _ in 0..10 {
        let (_, _, got) = get_with(gw, "sp.example", "/", &[("x-session", &token)]).await;
        assert_eq!(got, pod);
    }
    // The session's backend leaves the route: the request is served elsewhere, with a new
    // session.
    let remaining = if pod == "pod-one" { "two" } else { "one" };
    w.write(
        "route.yaml",
        &session_route("{sessionName: x-session, type: Header}").replace(
            "backendRefs: [{name: one, port: 8080}, {name: two, port: 8080}]",
            &format!("backendRefs: [{{name: {remaining}, port: 8080}}]"),
        ),
    );
    let want = format!("pod-{remaining}");
    w.wait_until("the route change applies", || {
        let (token, want) = (token.clone(), want.clone());
        async move {
            get_with(gw, "sp.example", "/", &[("x-session", &token)])
                .await
                .2
                == want
        }
    })
    .await;
    let (_, h, _) = get_with(gw, "sp.example", "/", &[("x-session", &token)]).await;
    assert_ne!(h["x-session"].to_str().unwrap(), token, "a new session");
}
