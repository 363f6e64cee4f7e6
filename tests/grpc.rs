//! GRPCRoute end to end: the real `weir run` between a tonic client and `weir echo` gRPC
//! backends (the conformance GrpcEcho service), over h2c and over TLS with ALPN h2.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use tonic::Code;
use weir_echo::grpc::{EchoResponse, SERVICE, call};

/// A gRPC echo backend on `ip:3000` whose pod is `pod`.
async fn grpc_echo(ip: &str, pod: &str) -> SocketAddr {
    let addr: SocketAddr = format!("{ip}:3000").parse().unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let id = weir_echo::EchoIdentity {
        pod: pod.into(),
        namespace: "default".into(),
        ..Default::default()
    };
    tokio::spawn(weir_echo::grpc::serve(listener, Arc::new(id)));
    addr
}

async fn h2c(gw: SocketAddr, authority: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{gw}"))
        .unwrap()
        .origin(format!("http://{authority}").parse().unwrap())
        .connect()
        .await
        .unwrap()
}

fn pod(r: &Result<EchoResponse, tonic::Status>) -> String {
    match r {
        Ok(resp) => resp
            .assertions
            .as_ref()
            .and_then(|a| a.context.as_ref())
            .map(|c| c.pod.clone())
            .unwrap_or_default(),
        Err(s) => format!("error {:?}: {}", s.code(), s.message()),
    }
}

fn header<'a>(r: &'a EchoResponse, name: &str) -> Option<&'a str> {
    r.assertions
        .as_ref()?
        .headers
        .iter()
        .find(|h| h.key == name)
        .map(|h| h.value.as_str())
}

fn grpc_route(name: &str, hostname: &str, rules: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  parentRefs: [{{name: gw}}]\n  hostnames: [\"{hostname}\"]\n  rules:\n{rules}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_routes_match_methods_and_headers_and_pass_backend_statuses_through() {
    let v1 = grpc_echo("127.0.51.1", "grpc-v1").await;
    let v2 = grpc_echo("127.0.51.2", "grpc-v2").await;
    let gw: SocketAddr = "127.0.51.10:8080".parse().unwrap();
    let rules = format!(
        r#"  - matches: [{{method: {{service: {SERVICE}, method: Echo}}}}]
    backendRefs: [{{name: v1, port: 8080}}]
  - matches: [{{method: {{service: {SERVICE}, method: EchoTwo}}}}]
    backendRefs: [{{name: v2, port: 8080}}]
  - matches: [{{headers: [{{name: X-Tier, value: gold}}]}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {{add: [{{name: x-added, value: "yes"}}]}}
    backendRefs: [{{name: v2, port: 8080}}]
  - matches: [{{method: {{type: RegularExpression, service: "gateway_api_conformance\\..*", method: "Echo(Three|Four)"}}}}]
    backendRefs: [{{name: v1, port: 8080}}]
"#
    );
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.51.10", 8080)),
        (
            "svc.yaml",
            // v1 says h2c; v2 says nothing: gRPC backends get HTTP/2 either way.
            format!(
                "{}---\n{}",
                service("v1", v1, Some("kubernetes.io/h2c")),
                service("v2", v2, None)
            ),
        ),
        ("routes.yaml", grpc_route("echo", "grpc.example", &rules)),
    ])
    .await;
    let ch = h2c(gw, "grpc.example").await;

    // Many calls multiplexed on one HTTP/2 connection, as gRPC clients do.
    let calls = (0..20).map(|i| {
        let ch = ch.clone();
        async move {
            let m = if i % 2 == 0 { "Echo" } else { "EchoTwo" };
            (m, call(ch, m, &[]).await)
        }
    });
    for (m, r) in futures_util::future::join_all(calls).await {
        let want = if m == "Echo" { "grpc-v1" } else { "grpc-v2" };
        assert_eq!(pod(&r), want, "{m}");
        let a = r.unwrap().assertions.unwrap();
        assert_eq!(a.fully_qualified_method, format!("/{SERVICE}/{m}"));
        assert_eq!(a.authority, "grpc.example");
    }

    // An Echo call with x-tier: gold still takes the Echo rule: a match on service and method
    // outranks a header-only match.
    let r = call(ch.clone(), "Echo", &[("x-tier", "gold")]).await;
    assert_eq!(pod(&r), "grpc-v1");

    // The regex rule sends EchoThree to the backend, which does not implement it: the
    // backend's own status and message reach the client unchanged (trailers pass through).
    let r = call(ch.clone(), "EchoThree", &[]).await;
    let s = r.unwrap_err();
    assert_eq!(s.code(), Code::Unimplemented);
    assert_eq!(s.message(), "method EchoThree not implemented");

    // The header rule: a method no rule names, with the header.
    let r = call(ch.clone(), "EchoFive", &[("x-tier", "gold")]).await;
    let s = r.unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::Unimplemented, "method EchoFive not implemented"),
        "routed to v2, which does not implement EchoFive"
    );

    // No rule matches: the proxy answers UNIMPLEMENTED itself, as a gRPC trailers-only
    // response with its reason, not a bare HTTP 404.
    let s = call(ch.clone(), "EchoFive", &[]).await.unwrap_err();
    assert_eq!((s.code(), s.message()), (Code::Unimplemented, "no route"));
    let other_host = h2c(gw, "elsewhere.example").await;
    let s = call(other_host, "Echo", &[]).await.unwrap_err();
    assert_eq!((s.code(), s.message()), (Code::Unimplemented, "no route"));

    // Metadata reaches the backend; the EchoTwo rule (which outranks the header rule) has no
    // filter, so nothing is added (the header rule's filters: `grpc_header_rule_filters_apply`).
    let r = call(ch.clone(), "EchoTwo", &[("x-tier", "gold")])
        .await
        .unwrap();
    assert_eq!(header(&r, "x-tier"), Some("gold"), "metadata is forwarded");
    assert_eq!(header(&r, "x-added"), None, "the method rule has no filter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_header_rule_filters_apply() {
    let v2 = grpc_echo("127.0.51.21", "grpc-v2").await;
    let gw: SocketAddr = "127.0.51.20:8080".parse().unwrap();
    let rules = r#"  - matches: [{headers: [{name: X-Tier, value: gold}]}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: x-added, value: "yes"}], remove: [x-drop]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-served-by, value: weir}]}
    backendRefs: [{name: v2, port: 8080}]
"#;
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.51.20", 8080)),
        ("svc.yaml", service("v2", v2, None)),
        ("routes.yaml", grpc_route("echo", "grpc.example", rules)),
    ])
    .await;
    let ch = h2c(gw, "grpc.example").await;
    let mut client = tonic::client::Grpc::new(ch.clone());
    client.ready().await.unwrap();
    let mut req = tonic::Request::new(weir_echo::grpc::EchoRequest {});
    req.metadata_mut().insert("x-tier", "gold".parse().unwrap());
    req.metadata_mut().insert("x-drop", "1".parse().unwrap());
    let resp = client
        .unary(
            req,
            weir_echo::grpc::path("Echo").try_into().unwrap(),
            tonic_prost_codec(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.metadata()
            .get("x-served-by")
            .map(|v| v.to_str().unwrap()),
        Some("weir"),
        "response header modifier"
    );
    let r = resp.into_inner();
    assert_eq!(header(&r, "x-added"), Some("yes"));
    assert_eq!(header(&r, "x-drop"), None);
    assert_eq!(pod(&Ok(r)), "grpc-v2");
    // Without the header nothing matches.
    let s = call(ch, "Echo", &[]).await.unwrap_err();
    assert_eq!(s.code(), Code::Unimplemented);
}

fn tonic_prost_codec()
-> impl tonic::codec::Codec<Encode = weir_echo::grpc::EchoRequest, Decode = EchoResponse> {
    weir_echo::grpc::codec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_failures_answer_grpc_statuses() {
    let v1 = grpc_echo("127.0.51.31", "grpc-v1").await;
    // An address nothing listens on: connections are refused.
    let dead: SocketAddr = "127.0.51.39:3000".parse().unwrap();
    let gw: SocketAddr = "127.0.51.30:8080".parse().unwrap();
    let rules = format!(
        r#"  - matches: [{{method: {{service: {SERVICE}, method: Echo}}}}]
    backendRefs: [{{name: dead, port: 8080}}]
  - matches: [{{method: {{service: {SERVICE}, method: EchoTwo}}}}]
    backendRefs: [{{name: v1, port: 8080, weight: 0}}]
  - matches: [{{method: {{service: {SERVICE}, method: EchoThree}}}}]
    backendRefs: [{{name: missing, port: 8080}}]
"#
    );
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.51.30", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}",
                service("v1", v1, None),
                service("dead", dead, None)
            ),
        ),
        ("routes.yaml", grpc_route("echo", "grpc.example", &rules)),
    ])
    .await;
    let ch = h2c(gw, "grpc.example").await;
    for (method, message) in [
        ("Echo", "upstream failure"),     // connection refused
        ("EchoTwo", "no backends"),       // every weight is 0
        ("EchoThree", "invalid backend"), // BackendNotFound
    ] {
        let s = call(ch.clone(), method, &[]).await.unwrap_err();
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unavailable, message),
            "{method}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_weights_split_70_30_0_within_5_points() {
    let v1 = grpc_echo("127.0.51.41", "grpc-v1").await;
    let v2 = grpc_echo("127.0.51.42", "grpc-v2").await;
    let v3 = grpc_echo("127.0.51.43", "grpc-v3").await;
    let gw: SocketAddr = "127.0.51.40:8080".parse().unwrap();
    let rules = "  - backendRefs:\n    - {name: v1, port: 8080, weight: 70}\n    - {name: v2, port: 8080, weight: 30}\n    - {name: v3, port: 8080, weight: 0}\n";
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.51.40", 8080)),
        (
            "svc.yaml",
            format!(
                "{}---\n{}---\n{}",
                service("v1", v1, None),
                service("v2", v2, None),
                service("v3", v3, None)
            ),
        ),
        ("routes.yaml", grpc_route("echo", "grpc.example", rules)),
    ])
    .await;
    // 500 calls, 10 at a time, each on a new connection (as the upstream test).
    let mut counts = BTreeMap::<String, usize>::new();
    for _ in 0..50 {
        let batch = futures_util::future::join_all((0..10).map(|_| async move {
            let ch = h2c(gw, "grpc.example").await;
            pod(&call(ch, "Echo", &[]).await)
        }))
        .await;
        for p in batch {
            *counts.entry(p).or_default() += 1;
        }
    }
    let share = |p: &str| *counts.get(p).unwrap_or(&0) as f64 / 500.0;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!((share("grpc-v1") - 0.7).abs() <= 0.05, "{counts:?}");
    assert!((share("grpc-v2") - 0.3).abs() <= 0.05, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_negotiates_h2_by_alpn() {
    use weir_tls::devcert::{DevCa, secret_manifest};
    let v1 = grpc_echo("127.0.51.51", "grpc-v1").await;
    let ca = DevCa::new("grpc-test").unwrap();
    let cert = ca.issue(&["*.grpc.example"], 30).unwrap();
    let gw_yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.51.50\"}]\n  listeners:\n  - name: https\n    protocol: HTTPS\n    port: 8443\n    tls: {certificateRefs: [{name: wildcard}]}\n";
    let rules = format!(
        "  - matches: [{{method: {{service: {SERVICE}}}}}]\n    backendRefs: [{{name: v1, port: 8080}}]\n"
    );
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gw_yaml.into()),
        (
            "secret.yaml",
            secret_manifest("default", "wildcard", &cert, None),
        ),
        ("svc.yaml", service("v1", v1, None)),
        (
            "routes.yaml",
            grpc_route("echo", "api.grpc.example", &rules),
        ),
    ])
    .await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let gw: SocketAddr = "127.0.51.50:8443".parse().unwrap();
    let ch = tonic::transport::Endpoint::from_static("https://api.grpc.example")
        .connect_with_connector(tower::service_fn(move |_uri: http::Uri| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(gw).await?;
                let name = rustls::pki_types::ServerName::try_from("api.grpc.example")
                    .unwrap()
                    .to_owned();
                let tls = connector.connect(name, tcp).await?;
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .unwrap();
    let r = call(ch.clone(), "Echo", &[]).await;
    assert_eq!(pod(&r), "grpc-v1");
    assert_eq!(r.unwrap().assertions.unwrap().authority, "api.grpc.example");
    let s = call(ch, "EchoThree", &[]).await.unwrap_err();
    assert_eq!(s.code(), Code::Unimplemented, "the backend's own status");
}
