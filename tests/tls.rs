//! End to end over TLS: the real `weir run` terminating HTTPS with certificates from
//! kubernetes.io/tls Secrets, driven by rustls clients and curl.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use weir_tls::devcert::{DevCa, DevCert, secret_manifest};

/// Accepts any certificate and remembers the one presented: the tests check *which*
/// certificate weir chose, not whether a CA trusts it.
#[derive(Debug, Default)]
struct Capture(Mutex<Option<Vec<u8>>>);

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(ee.to_vec());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &weir_tls::provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &weir_tls::provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        weir_tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn der(cert: &DevCert) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(cert.cert_pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// A TLS connection with SNI `sni` (ALPN `alpn`); returns the stream and the presented cert.
async fn connect(
    addr: SocketAddr,
    sni: &str,
    alpn: &[u8],
) -> std::io::Result<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    Vec<u8>,
)> {
    let capture = Arc::new(Capture::default());
    let mut cfg = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await?;
    let presented = capture.0.lock().unwrap().clone().unwrap_or_default();
    Ok((tls, presented))
}

/// GET over HTTP/1.1 on an open TLS connection.
async fn get_h1(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: &str,
    path: &str,
) -> (u16, String) {
    let req = http::Request::get(path)
        .header("host", host)
        .body(Empty::new())
        .unwrap();
    sender.ready().await.expect("the connection stays open");
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn https_gateway(ip: &str, port: u16, listeners: &[(&str, Option<&str>, &[&str])]) -> String {
    let mut out = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  listeners:\n"
    );
    for (name, host, secrets) in listeners {
        out.push_str(&format!(
            "  - name: {name}\n    protocol: HTTPS\n    port: {port}\n"
        ));
        if let Some(h) = host {
            out.push_str(&format!("    hostname: \"{h}\"\n"));
        }
        out.push_str("    tls:\n      certificateRefs:\n");
        for s in *secrets {
            out.push_str(&format!("      - {{kind: Secret, name: {s}}}\n"));
        }
    }
    out
}

fn route_all(svc: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: all\n  namespace: default\nspec:\n  parentRefs: [{{name: gw}}]\n  rules:\n  - backendRefs: [{{name: {svc}, port: 8080}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_exact_names_before_wildcards_and_a_wildcard_covers_one_label() {
    let v1 = echo("127.0.41.1", 3000, "v1-pod").await;
    let ca = DevCa::new("test").unwrap();
    let default = ca.issue(&["default.example"], 30).unwrap();
    let wildcard = ca.issue(&["*.home.example"], 30).unwrap();
    let exact = ca.issue(&["app.home.example"], 30).unwrap();
    let addr: SocketAddr = "127.0.41.10:8443".parse().unwrap();
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        (
            "gw.yaml",
            https_gateway(
                "127.0.41.10",
                8443,
                &[(
                    "https",
                    None,
                    &["default-cert", "wildcard-cert", "exact-cert"],
                )],
            ),
        ),
        (
            "secrets.yaml",
            format!(
                "{}---\n{}---\n{}",
                secret_manifest("default", "default-cert", &default, None),
                secret_manifest("default", "wildcard-cert", &wildcard, None),
                secret_manifest("default", "exact-cert", &exact, None)
            ),
        ),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route_all("v1")),
    ])
    .await;
    let presented =
        |sni: &'static str| async move { connect(addr, sni, b"http/1.1").await.unwrap().1 };
    assert_eq!(
        presented("app.home.example").await,
        der(&exact),
        "exact SAN first"
    );
    assert_eq!(
        presented("photos.home.example").await,
        der(&wildcard),
        "a wildcard covers one label"
    );
    assert_eq!(
        presented("a.b.home.example").await,
        der(&default),
        "not two labels: the listener's default"
    );
    assert_eq!(
        presented("home.example").await,
        der(&default),
        "nor the bare domain"
    );
    // And the request behind the handshake is served, over HTTP/1.1 and h2 (ALPN).
    let (tls, _) = connect(addr, "app.home.example", b"http/1.1")
        .await
        .unwrap();
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (status, body) = get_h1(&mut s, "app.home.example", "/").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["headers"]["X-Forwarded-Proto"][0], "https");
    let (tls, _) = connect(addr, "app.home.example", b"h2").await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_the_backend_through_a_wildcard_certificate() {
    let v1 = echo("127.0.42.1", 3000, "v1-pod").await;
    let ca = DevCa::new("test").unwrap();
    let cert = ca.issue(&["*.home.example"], 30).unwrap();
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        (
            "gw.yaml",
            https_gateway(
                "127.0.42.10",
                8443,
                &[("https", Some("*.home.example"), &["home-tls"])],
            ),
        ),
        (
            "secret.yaml",
            secret_manifest("default", "home-tls", &cert, None),
        ),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route_all("v1")),
    ])
    .await;
    let ca_path = w.path().join("ca.pem.txt");
    std::fs::write(&ca_path, &ca.cert_pem).unwrap();
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = std::process::Command::new("curl")
            .args(["-sS", flag, "--cacert"])
            .arg(&ca_path)
            .args([
                "--resolve",
                "app.home.example:8443:127.0.42.10",
                "-w",
                "\n%{http_version} %{http_code}",
                "https://app.home.example:8443/hello",
            ])
            .output()
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.ends_with(&format!("{version} 200")),
            "curl {flag}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("\"pod\": \"v1-pod\""), "{text}");
    }
    // The expiry of the served certificate is a metric (30 days here).
    let (_, metrics) = get(w.admin, "127.0.0.1", "/metrics").await.unwrap();
    let secs: i64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("weir_certificate_expiry_seconds{certificate=\"default/home-tls\"} ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no expiry metric in {metrics}"));
    assert!((29 * 86_400..=30 * 86_400).contains(&secs), "{secs}");
    // The admin endpoint shows the certificate but never the private key.
    let (_, config) = get(w.admin, "127.0.0.1", "/config").await.unwrap();
    assert!(
        config.contains("BEGIN CERTIFICATE") && config.contains("<redacted>"),
        "{config:.300}"
    );
    assert!(
        !config.contains("PRIVATE KEY"),
        "a private key leaked through /config"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reaches_new_handshakes_while_an_open_connection_keeps_working() {
    let v1 = echo("127.0.43.1", 3000, "v1-pod").await;
    let ca = DevCa::new("test").unwrap();
    let old = ca.issue(&["*.home.example"], 30).unwrap();
    let new = ca.issue(&["*.home.example"], 90).unwrap();
    let addr: SocketAddr = "127.0.43.10:8443".parse().unwrap();
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        (
            "gw.yaml",
            https_gateway(
                "127.0.43.10",
                8443,
                &[("https", Some("*.home.example"), &["home-tls"])],
            ),
        ),
        (
            "secret.yaml",
            secret_manifest("default", "home-tls", &old, None),
        ),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route_all("v1")),
    ])
    .await;
    let (tls, presented) = connect(addr, "app.home.example", b"http/1.1")
        .await
        .unwrap();
    assert_eq!(presented, der(&old));
    let (mut open, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    assert_eq!(get_h1(&mut open, "app.home.example", "/").await.0, 200);

    // cert-manager renews the Secret.
    let renewed = Instant::now();
    w.write(
        "secret.yaml",
        &secret_manifest("default", "home-tls", &new, None),
    );
    loop {
        let (_, presented) = connect(addr, "app.home.example", b"http/1.1")
            .await
            .unwrap();
        if presented == der(&new) {
            break;
        }
        assert!(
            renewed.elapsed() < Duration::from_secs(1),
            "new handshakes still get the old certificate after 1s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "rotation seen by new handshakes after {:?}",
        renewed.elapsed()
    );
    // The connection opened before the renewal keeps working.
    for _ in 0..3 {
        assert_eq!(get_h1(&mut open, "app.home.example", "/").await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_request_for_another_listeners_host_is_misdirected() {
    let v1 = echo("127.0.44.1", 3000, "v1-pod").await;
    let ca = DevCa::new("test").unwrap();
    // One certificate valid for both names, so a browser would reuse the connection.
    let both = ca.issue(&["a.example", "b.example"], 30).unwrap();
    let addr: SocketAddr = "127.0.44.10:8443".parse().unwrap();
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        (
            "gw.yaml",
            https_gateway(
                "127.0.44.10",
                8443,
                &[
                    ("a", Some("a.example"), &["both"]),
                    ("b", Some("b.example"), &["both"]),
                ],
            ),
        ),
        (
            "secret.yaml",
            secret_manifest("default", "both", &both, None),
        ),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route_all("v1")),
    ])
    .await;
    let (tls, _) = connect(addr, "a.example", b"h2").await.unwrap();
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let send = |h2: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>, host: &str| {
        let req = http::Request::get(format!("https://{host}/"))
            .version(http::Version::HTTP_2)
            .body(Empty::new())
            .unwrap();
        h2.send_request(req)
    };
    assert_eq!(
        send(&mut h2, "a.example").await.unwrap().status(),
        200,
        "the SNI's own host is served"
    );
    assert_eq!(
        send(&mut h2, "b.example").await.unwrap().status(),
        421,
        "another listener's host on this connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificates_get_precise_conditions_and_never_claim_programmed() {
    let ca = DevCa::new("test").unwrap();
    let good = ca.issue(&["good.example"], 30).unwrap();
    let other = ca.issue(&["other.example"], 30).unwrap();
    let expired = ca.issue(&["expired.example"], -1).unwrap();
    let mismatched = DevCert {
        cert_pem: good.cert_pem.clone(),
        key_pem: other.key_pem.clone(),
    };
    let reversed = DevCert {
        cert_pem: format!("{}{}", ca.cert_pem, good.cert_pem),
        key_pem: good.key_pem.clone(),
    };
    let garbage = DevCert {
        cert_pem: "Hello world\n".into(),
        key_pem: "Hello world\n".into(),
    };
    let opaque = secret_manifest("default", "opaque", &good, None)
        .replace("type: kubernetes.io/tls", "type: Opaque");
    let secrets = [
        secret_manifest("default", "mismatched", &mismatched, None),
        secret_manifest("default", "expired", &expired, None),
        secret_manifest("default", "garbage", &garbage, None),
        secret_manifest("default", "reversed", &reversed, None),
        opaque,
        secret_manifest("default", "good", &good, None),
    ]
    .join("---\n");
    let listeners: &[(&str, Option<&str>, &[&str])] = &[
        ("mismatched", Some("mismatched.example"), &["mismatched"]),
        ("expired", Some("expired.example"), &["expired"]),
        ("garbage", Some("garbage.example"), &["garbage"]),
        ("reversed", Some("reversed.example"), &["reversed"]),
        ("opaque", Some("opaque.example"), &["opaque"]),
        ("good", Some("good.example"), &["good"]),
    ];
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", https_gateway("127.0.45.10", 8443, listeners)),
        ("secrets.yaml", secrets),
    ])
    .await;
    let status = w.status().await;
    let gw = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Gateway")
        .unwrap();
    let listener = |name: &str| {
        gw["status"]["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .unwrap()
            .clone()
    };
    let cond = |l: &serde_json::Value, t: &str| {
        l["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap()
            .clone()
    };
    for (name, expect) in [
        (
            "mismatched",
            "tls.key does not match the certificate in tls.crt",
        ),
        ("expired", "certificate expired at"),
        ("garbage", "tls.crt holds no PEM certificate"),
        ("reversed", "chain is out of order"),
        (
            "opaque",
            "Secret has type Opaque; it must be kubernetes.io/tls",
        ),
    ] {
        let l = listener(name);
        let r = cond(&l, "ResolvedRefs");
        assert_eq!(
            (r["status"].as_str(), r["reason"].as_str()),
            (Some("False"), Some("InvalidCertificateRef")),
            "{name}: {r}"
        );
        assert!(
            r["message"].as_str().unwrap().contains(expect),
            "{name}: {}",
            r["message"]
        );
        assert!(
            r["message"]
                .as_str()
                .unwrap()
                .contains(&format!("default/{name}")),
            "{name} names the Secret: {}",
            r["message"]
        );
        assert_eq!(
            cond(&l, "Programmed")["status"],
            "False",
            "{name} must not claim Programmed"
        );
    }
    assert_eq!(cond(&listener("good"), "Programmed")["status"], "True");
    // The good listener serves its certificate; the bad ones' names get no handshake.
    let addr: SocketAddr = "127.0.45.10:8443".parse().unwrap();
    assert_eq!(
        connect(addr, "good.example", b"http/1.1").await.unwrap().1,
        der(&good)
    );
    assert!(
        connect(addr, "mismatched.example", b"http/1.1")
            .await
            .is_err(),
        "no certificate is served for a refused listener"
    );
}

#[test]
fn weir_certs_writes_a_secret_weir_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["certs", "--out"])
        .arg(dir.path())
        .args(["--hostname", "*.home.example", "--name", "home-tls"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("home-tls-secret.yaml")).unwrap();
    let docs = weir_store::yaml::parse_documents(&text).unwrap();
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(docs[0].value.clone()).unwrap();
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.unwrap();
    let loaded = weir_tls::LoadedCertificate::from_pem(
        &data["tls.crt"].0,
        &data["tls.key"].0,
        weir_tls::material::unix_now(),
    )
    .unwrap();
    assert_eq!(loaded.names, vec!["*.home.example"]);
    assert!(dir.path().join("ca.crt").exists());
}

fn tls_route(name: &str, host: &str, svc: &str, section: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  parentRefs: [{{name: gw, sectionName: {section}}}]\n  hostnames: [\"{host}\"]\n  rules:\n  - backendRefs: [{{name: {svc}, port: 8080}}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_terminate_and_https_share_one_port() {
    let ca = DevCa::new("test").unwrap();
    let gateway_cert = ca.issue(&["app.home.example", "term.example"], 30).unwrap();
    let backend_cert = ca.issue(&["db.pass.example"], 30).unwrap();
    // A backend that terminates TLS itself (passthrough target), and plain ones.
    let tls_backend: SocketAddr = "127.0.46.1:8443".parse().unwrap();
    let acceptor = weir_echo::tls_acceptor(
        backend_cert.cert_pem.as_bytes(),
        backend_cert.key_pem.as_bytes(),
    )
    .unwrap();
    let id = Arc::new(weir_echo::EchoIdentity {
        pod: "tls-pod".into(),
        namespace: "default".into(),
        ..Default::default()
    });
    tokio::spawn(weir_echo::serve_tls(
        tokio::net::TcpListener::bind(tls_backend).await.unwrap(),
        acceptor,
        id,
    ));
    let plain = echo("127.0.46.2", 3000, "plain-pod").await;
    let web = echo("127.0.46.3", 3000, "web-pod").await;
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.46.10\"}]\n  listeners:\n  - {name: https, protocol: HTTPS, port: 8443, hostname: app.home.example, tls: {certificateRefs: [{kind: Secret, name: gw-cert}]}}\n  - {name: pass, protocol: TLS, port: 8443, hostname: \"*.pass.example\", tls: {mode: Passthrough}}\n  - {name: term, protocol: TLS, port: 8443, hostname: term.example, tls: {mode: Terminate, certificateRefs: [{kind: Secret, name: gw-cert}]}}\n";
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gw.into()),
        (
            "secret.yaml",
            secret_manifest("default", "gw-cert", &gateway_cert, None),
        ),
        (
            "svc.yaml",
            [
                service("tlsdb", tls_backend, None),
                service("plain", plain, None),
                service("web", web, None),
            ]
            .join("---\n"),
        ),
        (
            "routes.yaml",
            [
                tls_route("db", "db.pass.example", "tlsdb", "pass"),
                tls_route("term", "term.example", "plain", "term"),
                route_all("web"),
            ]
            .join("---\n"),
        ),
    ])
    .await;
    let addr: SocketAddr = "127.0.46.10:8443".parse().unwrap();
    let http_over = |tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
                     host: &'static str| async move {
        let (mut s, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        let (status, body) = get_h1(&mut s, host, "/").await;
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    // Passthrough: the client sees the backend's own certificate and the backend's TLS view.
    let (tls, presented) = connect(addr, "db.pass.example", b"http/1.1").await.unwrap();
    assert_eq!(
        presented,
        der(&backend_cert),
        "passthrough must not terminate"
    );
    let (status, v) = http_over(tls, "db.pass.example").await;
    assert_eq!((status, v["pod"].as_str()), (200, Some("tls-pod")));
    assert_eq!(v["tls"]["serverName"], "db.pass.example");
    // Terminate: the gateway's certificate, then plaintext to the backend.
    let (tls, presented) = connect(addr, "term.example", b"http/1.1").await.unwrap();
    assert_eq!(presented, der(&gateway_cert));
    let (status, v) = http_over(tls, "term.example").await;
    assert_eq!((status, v["pod"].as_str()), (200, Some("plain-pod")));
    assert!(v["tls"].is_null(), "the backend got plaintext");
    // HTTPS on the same port, routed by HTTPRoute.
    let (tls, _) = connect(addr, "app.home.example", b"http/1.1")
        .await
        .unwrap();
    let (status, v) = http_over(tls, "app.home.example").await;
    assert_eq!((status, v["pod"].as_str()), (200, Some("web-pod")));
    // A passthrough SNI with no TLSRoute gets no connection.
    assert!(
        connect(addr, "other.pass.example", b"http/1.1")
            .await
            .is_err()
    );
    // Status: each TLSRoute is accepted on its listener.
    let status = w.status().await;
    for name in ["db", "term"] {
        let r = status["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "TLSRoute" && i["metadata"]["name"] == name)
            .unwrap();
        let accepted = r["status"]["parents"][0]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Accepted")
            .unwrap();
        assert_eq!(accepted["status"], "True", "{name}: {accepted}");
    }
}

/// A TLS client presenting `client` (or no certificate).
async fn connect_with_client_cert(
    addr: SocketAddr,
    sni: &str,
    client: Option<&DevCert>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    let builder = rustls::ClientConfig::builder_with_provider(weir_tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture::default()));
    let mut cfg = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(c.cert_pem.as_bytes()).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await?;
    // TLS 1.3 reports a refused client certificate after the handshake: read to see it.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf).await?;
    if !buf.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "response: {}",
            String::from_utf8_lossy(&buf[..buf.len().min(80)])
        )));
    }
    Ok(tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_validated_per_port_with_insecure_fallback() {
    let v1 = echo("127.0.47.1", 3000, "v1-pod").await;
    let server_ca = DevCa::new("server").unwrap();
    let server = server_ca.issue(&["app.home.example"], 30).unwrap();
    let client_ca = DevCa::new("clients").unwrap();
    let good = client_ca.issue(&["laptop.home.example"], 30).unwrap();
    let stranger = DevCa::new("someone else")
        .unwrap()
        .issue(&["intruder.example"], 30)
        .unwrap();
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.47.10\"}]\n  tls:\n    frontend:\n      default:\n        validation:\n          caCertificateRefs: [{group: \"\", kind: ConfigMap, name: client-ca}]\n      perPort:\n      - port: 9443\n        tls:\n          validation:\n            mode: AllowInsecureFallback\n            caCertificateRefs: [{group: \"\", kind: ConfigMap, name: client-ca}]\n  listeners:\n  - {name: strict, protocol: HTTPS, port: 8443, tls: {certificateRefs: [{kind: Secret, name: server}]}}\n  - {name: lenient, protocol: HTTPS, port: 9443, tls: {certificateRefs: [{kind: Secret, name: server}]}}\n".to_string();
    let ca_map = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: client-ca\n  namespace: default\ndata:\n  ca.crt: |\n{}",
        client_ca
            .cert_pem
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let _w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gw),
        ("ca.yaml", ca_map),
        (
            "secret.yaml",
            secret_manifest("default", "server", &server, None),
        ),
        ("svc.yaml", service("v1", v1, None)),
        ("route.yaml", route_all("v1")),
    ])
    .await;
    let strict: SocketAddr = "127.0.47.10:8443".parse().unwrap();
    let lenient: SocketAddr = "127.0.47.10:9443".parse().unwrap();
    assert!(
        connect_with_client_cert(strict, "app.home.example", Some(&good))
            .await
            .is_ok(),
        "a client certificate from the trusted CA is accepted"
    );
    assert!(
        connect_with_client_cert(strict, "app.home.example", Some(&stranger))
            .await
            .is_err(),
        "a certificate from another CA is refused"
    );
    assert!(
        connect_with_client_cert(strict, "app.home.example", None)
            .await
            .is_err(),
        "no certificate is refused"
    );
    assert!(
        connect_with_client_cert(lenient, "app.home.example", None)
            .await
            .is_ok(),
        "AllowInsecureFallback lets a client without a certificate in"
    );
    assert!(
        connect_with_client_cert(lenient, "app.home.example", Some(&stranger))
            .await
            .is_ok(),
        "and one with an untrusted certificate"
    );
    // The Gateway says that one of its ports is lenient.
    let status = _w.status().await;
    let gw = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Gateway")
        .unwrap();
    let c = gw["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "InsecureFrontendValidationMode")
        .expect("InsecureFrontendValidationMode");
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("True"), Some("ConfigurationChanged"))
    );
    assert!(c["message"].as_str().unwrap().contains("9443"));
}

fn backend_tls_policy(
    name: &str,
    svc: &str,
    hostname: &str,
    sans: &[&str],
    ca_map: &str,
) -> String {
    let mut out = format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  targetRefs: [{{group: \"\", kind: Service, name: {svc}}}]\n  validation:\n    hostname: {hostname}\n    caCertificateRefs: [{{group: \"\", kind: ConfigMap, name: {ca_map}}}]\n"
    );
    if !sans.is_empty() {
        out.push_str("    subjectAltNames:\n");
        for s in sans {
            out.push_str(&format!("    - {{type: Hostname, hostname: {s}}}\n"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_tls_policy_verifies_the_backend_and_refuses_a_wrong_san() {
    let backend_ca = DevCa::new("backend CA").unwrap();
    let backend_cert = backend_ca.issue(&["backend.internal"], 30).unwrap();
    let tls_backend: SocketAddr = "127.0.48.1:8443".parse().unwrap();
    let acceptor = weir_echo::tls_acceptor(
        backend_cert.cert_pem.as_bytes(),
        backend_cert.key_pem.as_bytes(),
    )
    .unwrap();
    let id = Arc::new(weir_echo::EchoIdentity {
        pod: "secure-pod".into(),
        namespace: "default".into(),
        ..Default::default()
    });
    tokio::spawn(weir_echo::serve_tls(
        tokio::net::TcpListener::bind(tls_backend).await.unwrap(),
        acceptor,
        id,
    ));
    let ca_map = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: backend-ca\n  namespace: default\ndata:\n  ca.crt: |\n{}",
        backend_ca
            .cert_pem
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    // Four Services on the same TLS endpoint, each with its own policy.
    let services = ["good", "wrong-host", "san-ok", "san-bad", "no-ca"]
        .map(|s| service(s, tls_backend, None))
        .join("---\n");
    let policies = [
        backend_tls_policy("good", "good", "backend.internal", &[], "backend-ca"),
        backend_tls_policy(
            "wrong-host",
            "wrong-host",
            "other.internal",
            &[],
            "backend-ca",
        ),
        backend_tls_policy(
            "san-ok",
            "san-ok",
            "sni.example",
            &["backend.internal"],
            "backend-ca",
        ),
        backend_tls_policy(
            "san-bad",
            "san-bad",
            "backend.internal",
            &["nope.internal"],
            "backend-ca",
        ),
        backend_tls_policy("no-ca", "no-ca", "backend.internal", &[], "missing-ca"),
    ]
    .join("---\n");
    let routes = ["good", "wrong-host", "san-ok", "san-bad", "no-ca"]
        .map(|s| route(s, &format!("{s}.example"), "/", s))
        .join("---\n");
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        ("gw.yaml", gateway("127.0.48.10", 8080)),
        ("ca.yaml", ca_map),
        ("svc.yaml", services),
        ("policies.yaml", policies),
        ("routes.yaml", routes),
    ])
    .await;
    let gw: SocketAddr = "127.0.48.10:8080".parse().unwrap();
    let (status, body) = get(gw, "good.example", "/").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["tls"]["serverName"], "backend.internal",
        "SNI is the policy's hostname"
    );
    assert_eq!(
        get(gw, "wrong-host.example", "/").await.unwrap().0,
        502,
        "a certificate without the hostname is refused"
    );
    let (status, body) = get(gw, "san-ok.example", "/").await.unwrap();
    assert_eq!(
        status, 200,
        "subjectAltNames replace the hostname check: {body}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["tls"]["serverName"], "sni.example",
        "SNI stays the hostname"
    );
    assert_eq!(
        get(gw, "san-bad.example", "/").await.unwrap().0,
        502,
        "a backend whose SAN is wrong is refused"
    );
    assert_eq!(
        get(gw, "no-ca.example", "/").await.unwrap().0,
        503,
        "an unresolvable CA fails closed, never plaintext"
    );
    // Status on the policies, with the Gateway as ancestor.
    let status = w.status().await;
    let policy = |name: &str| {
        status["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "BackendTLSPolicy" && i["metadata"]["name"] == name)
            .unwrap()
            .clone()
    };
    let cond = |p: &serde_json::Value, t: &str| {
        p["status"]["ancestors"][0]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap()
            .clone()
    };
    let good = policy("good");
    assert_eq!(good["status"]["ancestors"][0]["ancestorRef"]["name"], "gw");
    assert_eq!(cond(&good, "Accepted")["status"], "True");
    let bad = policy("no-ca");
    assert_eq!(
        (
            cond(&bad, "Accepted")["reason"].as_str(),
            cond(&bad, "ResolvedRefs")["reason"].as_str()
        ),
        (
            Some("NoValidCACertificate"),
            Some("InvalidCACertificateRef")
        )
    );
    assert!(
        cond(&bad, "ResolvedRefs")["message"]
            .as_str()
            .unwrap()
            .contains("default/missing-ca")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_presents_its_backend_client_certificate() {
    let ca = DevCa::new("mesh CA").unwrap();
    let backend_cert = ca.issue(&["backend.internal"], 30).unwrap();
    let client_cert = ca.issue(&["gateway.internal"], 30).unwrap();
    // A backend that asks for (and verifies) a client certificate, and echoes it back.
    let tls_backend: SocketAddr = "127.0.49.1:8443".parse().unwrap();
    let acceptor = weir_echo::tls_acceptor_with_client_ca(
        backend_cert.cert_pem.as_bytes(),
        backend_cert.key_pem.as_bytes(),
        Some(ca.cert_pem.as_bytes()),
    )
    .unwrap();
    let id = Arc::new(weir_echo::EchoIdentity {
        pod: "mtls-pod".into(),
        namespace: "default".into(),
        ..Default::default()
    });
    tokio::spawn(weir_echo::serve_tls(
        tokio::net::TcpListener::bind(tls_backend).await.unwrap(),
        acceptor,
        id,
    ));
    let ca_map = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mesh-ca\n  namespace: default\ndata:\n  ca.crt: |\n{}",
        ca.cert_pem
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let gw = |name: &str, ip: &str, secret: &str| {
        format!(
            "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{{type: IPAddress, value: \"{ip}\"}}]\n  tls:\n    backend:\n      clientCertificateRef: {{kind: Secret, name: {secret}}}\n  listeners:\n  - {{name: http, protocol: HTTP, port: 8080}}\n"
        )
    };
    let route = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n  namespace: default\nspec:\n  parentRefs: [{name: gw}, {name: plain}]\n  rules:\n  - backendRefs: [{name: mesh, port: 8080}]\n";
    let plain_gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: plain\n  namespace: default\nspec:\n  gatewayClassName: weir\n  addresses: [{type: IPAddress, value: \"127.0.49.11\"}]\n  listeners:\n  - {name: http, protocol: HTTP, port: 8080}\n";
    let w = Weir::start(&[
        ("class.yaml", GATEWAY_CLASS.into()),
        (
            "gw.yaml",
            [
                gw("gw", "127.0.49.10", "gw-client"),
                gw("broken", "127.0.49.12", "missing-secret"),
                plain_gw.into(),
            ]
            .join("---\n"),
        ),
        (
            "secret.yaml",
            secret_manifest("default", "gw-client", &client_cert, None),
        ),
        ("ca.yaml", ca_map),
        ("svc.yaml", service("mesh", tls_backend, None)),
        (
            "policy.yaml",
            backend_tls_policy("mesh", "mesh", "backend.internal", &[], "mesh-ca"),
        ),
        ("route.yaml", route.into()),
    ])
    .await;
    let (status, body) = get("127.0.49.10:8080".parse().unwrap(), "any.example", "/")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["tls"]["peerCertificates"][0].as_str().map(str::trim),
        Some(client_cert.cert_pem.trim()),
        "the backend saw the Gateway's client certificate"
    );
    // The same route through a Gateway without a client certificate: no certificate presented.
    let (status, body) = get("127.0.49.11:8080".parse().unwrap(), "any.example", "/")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["tls"]["peerCertificates"].is_null(),
        "no client certificate from the plain Gateway"
    );
    // Status: ResolvedRefs on the Gateway; a missing Secret is reported and Accepted stays Accepted.
    let status = w.status().await;
    let cond = |gw: &str, t: &str| {
        let g = status["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "Gateway" && i["metadata"]["name"] == gw)
            .unwrap();
        g["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(cond("gw", "ResolvedRefs")["status"], "True");
    assert_eq!(
        (
            cond("broken", "ResolvedRefs")["status"].as_str(),
            cond("broken", "ResolvedRefs")["reason"].as_str()
        ),
        (Some("False"), Some("InvalidClientCertificateRef"))
    );
    assert_eq!(cond("broken", "Accepted")["reason"], "Accepted");
    assert!(
        cond("plain", "ResolvedRefs").is_null(),
        "no Gateway-level ResolvedRefs without Gateway references"
    );
}
