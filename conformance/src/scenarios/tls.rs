//! GATEWAY-TLS: TLSRoute tests (passthrough, terminate, mixed, and their status).

use std::net::SocketAddr;

use crate::http::Case;
use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};
use crate::tcp::{TcpExpect, Trust, expect_rejection, expect_tcp};

const TLS: &[&str] = &["Gateway", "TLSRoute"];
const TERMINATE: &[&str] = &["Gateway", "TLSRoute", "TLSRouteModeTerminate"];
const MIXED: &[&str] = &[
    "Gateway",
    "TLSRoute",
    "TLSRouteModeTerminate",
    "TLSRouteModeMixed",
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "TLSRouteSimpleSameNamespace",
            features: TLS,
            manifests: &["tlsroute-simple-same-namespace.yaml"],
            run: simple,
        },
        Scenario {
            name: "TLSRouteTerminateSimpleSameNamespace",
            features: TERMINATE,
            manifests: &["tlsroute-terminate-simple-same-namespace.yaml"],
            run: terminate_simple,
        },
        Scenario {
            name: "TLSRouteMixedTerminationSameNamespace",
            features: MIXED,
            manifests: &["tlsroute-mixed-termination-same-namespace.yaml"],
            run: mixed,
        },
        Scenario {
            name: "TLSRouteHostnameIntersection",
            features: TLS,
            manifests: &["tlsroute-hostname-intersection.yaml"],
            run: hostname_intersection,
        },
        Scenario {
            name: "TLSRouteInvalidBackendRefNonexistent",
            features: TLS,
            manifests: &["tlsroute-invalid-backendref-nonexistent.yaml"],
            run: backend_nonexistent,
        },
        Scenario {
            name: "TLSRouteInvalidBackendRefUnknownKind",
            features: TLS,
            manifests: &["tlsroute-invalid-backendref-unknown-kind.yaml"],
            run: backend_unknown_kind,
        },
        Scenario {
            name: "TLSRouteInvalidReferenceGrant",
            features: &["Gateway", "TLSRoute", "ReferenceGrant"],
            manifests: &["tlsroute-invalid-reference-grant.yaml"],
            run: invalid_reference_grant,
        },
        Scenario {
            name: "TLSRouteInvalidNoMatchingListenerHostname",
            features: TLS,
            manifests: &["tlsroute-invalid-no-matching-listener-hostname.yaml"],
            run: no_matching_listener_hostname,
        },
        Scenario {
            name: "TLSRouteInvalidNoMatchingListener",
            features: TLS,
            manifests: &["tlsroute-invalid-no-matching-listener.yaml"],
            run: no_matching_listener,
        },
        Scenario {
            name: "TLSRouteListenerPassthroughSupportedKinds",
            features: TLS,
            manifests: &["tlsroute-listener-passthrough-supported-kinds.yaml"],
            run: passthrough_supported_kinds,
        },
        Scenario {
            name: "TLSRouteListenerTerminateSupportedKinds",
            features: TERMINATE,
            manifests: &["tlsroute-listener-terminate-supported-kinds.yaml"],
            run: terminate_supported_kinds,
        },
        Scenario {
            name: "TLSRouteListenerTerminateNotSupported",
            features: TLS,
            manifests: &["tlsroute-listener-terminate-not-supported.yaml"],
            run: terminate_not_supported,
        },
        Scenario {
            name: "TLSRouteListenerMixedTerminationNotSupported",
            features: TERMINATE,
            manifests: &["tlsroute-listener-mixed-termination-not-supported.yaml"],
            run: mixed_not_supported,
        },
    ]
}

/// GatewayAndTLSRoutesMustBeAccepted: the Gateway's address (of `listener`, or the first) and
/// each route Accepted=True/Accepted.
async fn accepted(
    s: &Suite,
    gw: &str,
    listener: Option<&str>,
    routes: &[&str],
) -> Result<SocketAddr, String> {
    let addr = s.gateway_listener_address(INFRA, gw, listener).await?;
    for r in routes {
        s.kind_route_condition(
            "TLSRoute",
            INFRA,
            r,
            (INFRA, gw),
            "Accepted",
            "True",
            Some("Accepted"),
        )
        .await?;
    }
    Ok(addr)
}

fn ca(s: &Suite) -> Trust {
    Trust::Ca(s.cluster.ca_der.clone())
}

fn pin(s: &Suite, secret: &str) -> Result<Trust, String> {
    s.cluster
        .certificates
        .get(secret)
        .cloned()
        .map(Trust::Pin)
        .ok_or_else(|| format!("no certificate {secret}"))
}

fn simple(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = accepted(
            s,
            "gateway-tlsroute",
            None,
            &["gateway-conformance-infra-test"],
        )
        .await?;
        let e = TcpExpect {
            backend_is_tls: true,
            backend: "tcp-backend",
            namespace: INFRA,
            hostname: "abc.example.com",
        };
        expect_tcp(
            gw,
            "abc.example.com",
            &ca(s),
            e,
            s.timeouts.max_time_to_consistency,
        )
        .await
    })
}

fn terminate_simple(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = accepted(
            s,
            "gateway-tlsroute-terminate",
            None,
            &["tlsroute-terminated-test"],
        )
        .await?;
        let e = TcpExpect {
            backend_is_tls: false,
            backend: "tcp-backend",
            namespace: INFRA,
            hostname: "",
        };
        expect_tcp(
            gw,
            "tls.example.com",
            &ca(s),
            e,
            s.timeouts.max_time_to_consistency,
        )
        .await
    })
}

fn mixed(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gwn = "gateway-tlsroute-mixed-termination";
        let gw = accepted(
            s,
            gwn,
            None,
            &["gateway-conformance-mixed-passthroughroute"],
        )
        .await?;
        let ok: &'static [(&str, &str, Option<&str>)] = &[("Accepted", "True", Some("Accepted"))];
        s.gateway_listeners(
            INFRA,
            gwn,
            &[
                ListenerExpect {
                    name: "tls-terminate",
                    kinds: &["TLSRoute"],
                    attached: 1,
                    conditions: ok,
                },
                ListenerExpect {
                    name: "tls-passthrough",
                    kinds: &["TLSRoute"],
                    attached: 1,
                    conditions: ok,
                },
            ],
        )
        .await?;
        accepted(s, gwn, None, &["gateway-conformance-mixed-terminateroute"]).await?;
        let max = s.timeouts.max_time_to_consistency;
        let terminated = TcpExpect {
            backend_is_tls: false,
            backend: "tcp-backend",
            namespace: INFRA,
            hostname: "",
        };
        expect_tcp(gw, "tls.example.com", &ca(s), terminated, max).await?;
        let passed = TcpExpect {
            backend_is_tls: true,
            backend: "tcp-backend",
            namespace: INFRA,
            hostname: "abc.example.com",
        };
        expect_tcp(
            gw,
            "abc.example.com",
            &pin(
                s,
                "gateway-conformance-infra/tls-passthrough-checks-certificate",
            )?,
            passed,
            max,
        )
        .await
    })
}

fn hostname_intersection(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let leaf = s
            .cluster
            .certificates
            .get("gateway-conformance-infra/tls-checks-certificate")
            .cloned()
            .ok_or("no certificate")?;
        let https = |host: &str, backend: &str| {
            let mut c = Case::get(host, "/").backend(backend);
            c.request.tls_pin = Some(leaf.clone());
            c
        };
        // (Gateway, its routes, SNI → backend that must answer, SNI that must be rejected)
        type Case4<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case4; 4] = [
            (
                "gw-tlsroute-exact-hostname-x-1",
                &["tlsroute-more-specific-wc-hostname-x-1"],
                &[("abc.example.com", "tls-backend")],
                "non.matching.com",
            ),
            (
                "gw-tlsroute-more-specific-wc-hostname-x-2",
                &[
                    "tlsroute-exact-hostname-x-2",
                    "tlsroute-less-specific-wc-hostname-x-2",
                ],
                &[
                    ("abc.example.com", "tls-backend"),
                    ("other.example.com", "tls-backend-2"),
                ],
                "non.matching.com",
            ),
            (
                "gw-tlsroute-less-specific-wc-hostname-x-3",
                &[
                    "tlsroute-exact-hostname-x-3",
                    "tlsroute-more-specific-wc-hostname-x-3",
                ],
                &[
                    ("abc.example.com", "tls-backend"),
                    ("other.example.com", "tls-backend-2"),
                ],
                "non.matching.com",
            ),
            (
                "gw-tlsroute-empty-hostname-x-4",
                &[
                    "tlsroute-exact-hostname-x-4",
                    "tlsroute-less-specific-wc-hostname-x-4",
                ],
                &[
                    ("abc.example.com", "tls-backend"),
                    ("other.example.com", "tls-backend-2"),
                ],
                "non.matching.org",
            ),
        ];
        for (gw, routes, ok, rejected) in cases {
            let addr = accepted(s, gw, None, routes).await?;
            for r in routes {
                s.kind_route_condition(
                    "TLSRoute",
                    INFRA,
                    r,
                    (INFRA, gw),
                    "ResolvedRefs",
                    "True",
                    Some("ResolvedRefs"),
                )
                .await?;
            }
            s.expect(
                addr,
                ok.iter()
                    .map(|(host, backend)| https(host, backend))
                    .collect(),
            )
            .await
            .map_err(|e| format!("{gw}: {e}"))?;
            expect_rejection(addr, rejected, s.timeouts.max_time_to_consistency)
                .await
                .map_err(|e| format!("{gw}: {e}"))?;
        }
        Ok(())
    })
}

async fn invalid_backend(s: &Suite, gw: &str, route: &str, reason: &str) -> Result<(), String> {
    let addr = accepted(s, gw, None, &[route]).await?;
    s.kind_route_condition(
        "TLSRoute",
        INFRA,
        route,
        (INFRA, gw),
        "ResolvedRefs",
        "False",
        Some(reason),
    )
    .await?;
    expect_rejection(addr, "example.com", s.timeouts.max_time_to_consistency).await
}

fn backend_nonexistent(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "gateway-tlsroute-invalid-backend-ref-nonexistent",
        "invalid-backend-ref-nonexistent",
        "BackendNotFound",
    ))
}

fn backend_unknown_kind(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "gateway-tlsroute-invalid-backend-ref-unknown-kind",
        "invalid-backend-ref-unknown-kind",
        "InvalidKind",
    ))
}

fn invalid_reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "gateway-tlsroute-referencegrant";
        let route = "gateway-conformance-infra-test";
        s.kind_route_condition(
            "TLSRoute",
            INFRA,
            route,
            (INFRA, gw),
            "Accepted",
            "True",
            Some("Accepted"),
        )
        .await?;
        s.kind_route_condition(
            "TLSRoute",
            INFRA,
            route,
            (INFRA, gw),
            "ResolvedRefs",
            "False",
            Some("RefNotPermitted"),
        )
        .await
    })
}

fn no_matching_listener_hostname(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        for (route, gw) in [
            ("tlsroute-hostname-mismatch-1", "gateway-tls-exact-hostname"),
            (
                "tlsroute-hostname-mismatch-2",
                "gateway-tls-wildcard-hostname",
            ),
        ] {
            s.kind_route_condition(
                "TLSRoute",
                INFRA,
                route,
                (INFRA, gw),
                "Accepted",
                "False",
                Some("NoMatchingListenerHostname"),
            )
            .await?;
            s.kind_route_not_accepted("TLSRoute", INFRA, route).await?;
            s.gateway_zero_routes(INFRA, gw).await?;
        }
        Ok(())
    })
}

fn no_matching_listener(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        for gw in [
            "gateway-tlsroute-tls-passthrough-only",
            "gateway-tlsroute-http-only",
            "gateway-tlsroute-https-only",
        ] {
            s.gateway_address(INFRA, gw).await?;
        }
        for (route, gw, reason) in [
            (
                "tlsroute-not-allowed-protocol-http",
                "gateway-tlsroute-http-only",
                "NotAllowedByListeners",
            ),
            (
                "tlsroute-not-allowed-protocol-https",
                "gateway-tlsroute-https-only",
                "NotAllowedByListeners",
            ),
            (
                "tlsroute-no-matching-section-name",
                "gateway-tlsroute-tls-passthrough-only",
                "NoMatchingParent",
            ),
        ] {
            s.kind_route_condition(
                "TLSRoute",
                INFRA,
                route,
                (INFRA, gw),
                "Accepted",
                "False",
                Some(reason),
            )
            .await?;
            s.kind_route_not_accepted("TLSRoute", INFRA, route).await?;
        }
        s.gateway_zero_routes(INFRA, "gateway-tlsroute-http-only")
            .await?;
        s.gateway_zero_routes(INFRA, "gateway-tlsroute-https-only")
            .await
    })
}

fn passthrough_supported_kinds(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.gateway_listeners(
        INFRA,
        "gateway-tlsroute-passthrough-supported-kind",
        &[ListenerExpect {
            name: "tls-passthrough",
            kinds: &["TLSRoute"],
            attached: 0,
            conditions: &[("ResolvedRefs", "False", Some("InvalidRouteKinds"))],
        }],
    ))
}

fn terminate_supported_kinds(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.gateway_listeners(
        INFRA,
        "gateway-tlsroute-terminate-supported",
        &[ListenerExpect {
            name: "tls-terminate",
            kinds: &["TLSRoute"],
            attached: 0,
            conditions: &[("Accepted", "True", Some("Accepted"))],
        }],
    ))
}

/// Passes at once when TLSRouteModeTerminate is claimed (as upstream); otherwise the listener
/// must be refused with UnsupportedValue.
fn terminate_not_supported(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        if s.supported_features.contains("TLSRouteModeTerminate") {
            return Ok(());
        }
        s.gateway_listeners(
            INFRA,
            "gateway-tlsroute-terminate-unsupported",
            &[ListenerExpect {
                name: "tls-terminate",
                kinds: &[],
                attached: 0,
                conditions: &[("Accepted", "False", Some("UnsupportedValue"))],
            }],
        )
        .await
    })
}

fn mixed_not_supported(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        if s.supported_features.contains("TLSRouteModeMixed") {
            return Ok(());
        }
        let refused: &'static [(&str, &str, Option<&str>)] =
            &[("Accepted", "False", Some("ProtocolConflict"))];
        s.gateway_listeners(
            INFRA,
            "gateway-tlsroute-mixed-termination-not-supported",
            &[
                ListenerExpect {
                    name: "tls-terminate",
                    kinds: &[],
                    attached: 0,
                    conditions: refused,
                },
                ListenerExpect {
                    name: "tls-passthrough",
                    kinds: &[],
                    attached: 0,
                    conditions: refused,
                },
            ],
        )
        .await
    })
}
