//! GATEWAY-HTTP extended: frontend client-certificate validation (Gateway `spec.tls.frontend`).

use std::sync::Arc;

use crate::http::{Case, expect_tls_failure};
use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};

const VALIDATION: &[&str] = &[
    "Gateway",
    "HTTPRoute",
    "GatewayFrontendClientCertificateValidation",
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "GatewayFrontendClientCertificateValidation",
            features: VALIDATION,
            manifests: &["gateway-with-clientcertificate-validation.yaml"],
            run: validation,
        },
        Scenario {
            name: "GatewayFrontendClientCertificateValidationInsecureFallback",
            features: &[
                "Gateway",
                "HTTPRoute",
                "GatewayFrontendClientCertificateValidation",
                "GatewayFrontendClientCertificateValidationInsecureFallback",
            ],
            manifests: &["gateway-with-clientcertificate-validation-insecure-fallback.yaml"],
            run: insecure_fallback,
        },
        Scenario {
            name: "GatewayInvalidFrontendClientCertificateValidation",
            features: &[
                "Gateway",
                "HTTPRoute",
                "ReferenceGrant",
                "GatewayFrontendClientCertificateValidation",
            ],
            manifests: &["gateway-with-invalid-clientcertificate-validation.yaml"],
            run: invalid_validation,
        },
        Scenario {
            name: "GatewayFrontendInvalidDefaultClientCertificateValidation",
            features: VALIDATION,
            manifests: &["gateway-invalid-default-frontend-client-certificate-validation.yaml"],
            run: invalid_default,
        },
    ]
}

/// Client certificates from the default and the per-port client CA, and one from neither.
fn client_certs(s: &Suite) -> Result<[Arc<(String, String)>; 3], String> {
    let issue = |ca: &weir_tls::devcert::DevCa| {
        ca.issue(&["client.example"], 30)
            .map(|c| Arc::new((c.cert_pem, c.key_pem)))
            .map_err(|e| e.to_string())
    };
    let stranger = weir_tls::devcert::DevCa::new("unknown client CA").map_err(|e| e.to_string())?;
    Ok([
        issue(&s.cluster.client_cas.0)?,
        issue(&s.cluster.client_cas.1)?,
        issue(&stranger)?,
    ])
}

/// An HTTPS request trusting the suite's server certificate, presenting `client`.
fn https(s: &Suite, host: &str, client: Option<&Arc<(String, String)>>) -> Case {
    let mut c = Case::get(host, "/");
    c.request.tls_pin = s
        .cluster
        .certificates
        .get("gateway-conformance-infra/tls-validity-checks-certificate")
        .cloned();
    c.request.client_cert = client.cloned();
    c
}

async fn two_ports(
    s: &Suite,
    gw: &str,
    routes: [&str; 2],
) -> Result<(std::net::SocketAddr, std::net::SocketAddr), String> {
    s.routes_accepted((INFRA, gw), &[(INFRA, routes[0]), (INFRA, routes[1])])
        .await?;
    for r in routes {
        s.route_condition(
            INFRA,
            r,
            (INFRA, gw),
            "ResolvedRefs",
            "True",
            Some("ResolvedRefs"),
        )
        .await?;
    }
    Ok((
        s.gateway_listener_address(INFRA, gw, Some("https")).await?,
        s.gateway_listener_address(INFRA, gw, Some("https-with-hostname"))
            .await?,
    ))
}

fn validation(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let (a443, a8443) = two_ports(
            s,
            "client-validation-default",
            [
                "client-certificate-validation-https-test",
                "client-certificate-validation-https-test-no-hostname",
            ],
        )
        .await?;
        let [default, per_port, _] = client_certs(s)?;
        let max = s.timeouts.max_time_to_consistency;
        s.expect(
            a443,
            vec![https(s, "example.org", Some(&default)).backend("infra-backend-v1")],
        )
        .await?;
        expect_tls_failure(a443, &https(s, "example.org", Some(&per_port)).request, max).await?;
        s.expect(
            a8443,
            vec![https(s, "second-example.org", Some(&per_port)).backend("infra-backend-v2")],
        )
        .await?;
        expect_tls_failure(
            a8443,
            &https(s, "second-example.org", Some(&default)).request,
            max,
        )
        .await
    })
}

fn insecure_fallback(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "client-validation-insecure-fallback";
        let (a443, a8443) = two_ports(
            s,
            gw,
            [
                "client-cert-validation-insecure-fallback-test",
                "client-cert-validation-insecure-fallback-test-no-hostname",
            ],
        )
        .await?;
        s.gateway_condition(
            INFRA,
            gw,
            "InsecureFrontendValidationMode",
            "True",
            Some("ConfigurationChanged"),
        )
        .await?;
        let [default, per_port, stranger] = client_certs(s)?;
        let mut cases443 = Vec::new();
        let mut cases8443 = Vec::new();
        for client in [Some(&default), Some(&per_port), Some(&stranger), None] {
            cases443.push(https(s, "example.org", client).backend("infra-backend-v1"));
            cases8443.push(https(s, "second-example.org", client).backend("infra-backend-v2"));
        }
        s.expect(a443, cases443).await?;
        s.expect(a8443, cases8443).await
    })
}

fn invalid_validation(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let bad = |reason: &'static str| -> &'static [(&'static str, &'static str, Option<&'static str>)] {
            match reason {
                "InvalidCACertificateRef" => &[("ResolvedRefs", "False", Some("InvalidCACertificateRef")), ("Accepted", "False", Some("NoValidCACertificate")), ("Programmed", "False", None)],
                "InvalidCACertificateKind" => &[("ResolvedRefs", "False", Some("InvalidCACertificateKind")), ("Accepted", "False", Some("NoValidCACertificate")), ("Programmed", "False", None)],
                _ => &[("ResolvedRefs", "False", Some("RefNotPermitted")), ("Accepted", "False", Some("NoValidCACertificate")), ("Programmed", "False", None)],
            }
        };
        s.gateway_listeners(
            INFRA,
            "gateway-with-invalid-client-cert-validation",
            &[
                ListenerExpect {
                    name: "https",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: &[
                        ("ResolvedRefs", "True", None),
                        ("Accepted", "True", None),
                        ("Programmed", "True", None),
                    ],
                },
                ListenerExpect {
                    name: "https-unresolved",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: bad("InvalidCACertificateRef"),
                },
                ListenerExpect {
                    name: "https-invalid-kind",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: bad("InvalidCACertificateKind"),
                },
                ListenerExpect {
                    name: "https-grant-missing",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: bad("RefNotPermitted"),
                },
            ],
        )
        .await
    })
}

fn invalid_default(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "invalid-default-client-validation-config";
        s.gateway_listeners(
            INFRA,
            gw,
            &[
                ListenerExpect {
                    name: "http",
                    kinds: &["HTTPRoute"],
                    attached: 1,
                    conditions: &[
                        ("ResolvedRefs", "True", None),
                        ("Accepted", "True", None),
                        ("Programmed", "True", None),
                    ],
                },
                ListenerExpect {
                    name: "https",
                    kinds: &["HTTPRoute"],
                    attached: 1,
                    conditions: &[
                        ("ResolvedRefs", "False", Some("InvalidCACertificateRef")),
                        ("Accepted", "False", Some("NoValidCACertificate")),
                        ("Programmed", "False", None),
                    ],
                },
            ],
        )
        .await?;
        let http = s.gateway_listener_address(INFRA, gw, Some("http")).await?;
        s.expect(
            http,
            vec![Case::get("example.org", "/").backend("infra-backend-v1")],
        )
        .await?;
        // The HTTPS listener is not served: a TLS connection to its port fails.
        let addr = std::net::SocketAddr::new(http.ip(), 443);
        expect_tls_failure(
            addr,
            &https(s, "example.org", None).request,
            s.timeouts.max_time_to_consistency,
        )
        .await
    })
}
