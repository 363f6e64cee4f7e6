//! GATEWAY-TCP: TCPRoute tests (plain TCP to the TCP echo backends).

use std::net::SocketAddr;
use std::time::Duration;

use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};
use crate::tcp::{TcpExpect, expect_tcp_plain, tcp_plain_once};

const TCP: &[&str] = &["Gateway", "TCPRoute"];
const TCP_RG: &[&str] = &["Gateway", "TCPRoute", "ReferenceGrant"];
const KIND: &str = "TCPRoute";
const WEB: &str = "gateway-conformance-web-backend";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "TCPRouteInvalidBackendRefNonexistent",
            features: TCP,
            manifests: &["tcproute-invalid-backendref-nonexistent.yaml"],
            run: backend_nonexistent,
        },
        Scenario {
            name: "TCPRouteInvalidCrossNamespaceBackendRef",
            features: TCP_RG,
            manifests: &["tcproute-invalid-cross-namespace-backend-ref.yaml"],
            run: cross_namespace_backend,
        },
        Scenario {
            name: "TCPRouteInvalidNonTCPListener",
            features: TCP,
            manifests: &["tcproute-invalid-non-tcp-listener.yaml"],
            run: non_tcp_listener,
        },
        Scenario {
            name: "TCPRouteMultipleRoutesAttachment",
            features: TCP,
            manifests: &["tcproute-multiple-routes-attachment.yaml"],
            run: multiple_routes,
        },
        Scenario {
            name: "TCPRouteParentRefAttachAll",
            features: TCP,
            manifests: &["tcproute-parentref-attach-all.yaml"],
            run: attach_all,
        },
        Scenario {
            name: "TCPRouteParentRefPortAndSectionName",
            features: TCP,
            manifests: &["tcproute-parentref-port-and-section-name.yaml"],
            run: port_and_section,
        },
        Scenario {
            name: "TCPRouteReferenceGrant",
            features: TCP_RG,
            manifests: &["tcproute-reference-grant.yaml"],
            run: reference_grant,
        },
        Scenario {
            name: "TCPRouteWeightedRouting",
            features: TCP,
            manifests: &["tcproute-weighted-routing.yaml"],
            run: weighted,
        },
    ]
}

/// GatewayAndTCPRoutesMustBeAccepted: each route Accepted=True/Accepted, every listener of the
/// Gateway ResolvedRefs/Accepted/Programmed.
async fn accepted(s: &Suite, gw: &str, routes: &[&str]) -> Result<(), String> {
    l4_accepted(s, KIND, gw, routes).await
}

/// `accepted` for any L4 route kind.
pub(super) async fn l4_accepted(
    s: &Suite,
    kind: &str,
    gw: &str,
    routes: &[&str],
) -> Result<(), String> {
    s.gateway_address(INFRA, gw).await?;
    for r in routes {
        s.kind_route_condition(
            kind,
            INFRA,
            r,
            (INFRA, gw),
            "Accepted",
            "True",
            Some("Accepted"),
        )
        .await?;
    }
    s.wait_for(&format!("Gateway {gw} listeners ready"), |doc| {
        let g = crate::suite::find(doc, "Gateway", INFRA, gw)?;
        for l in g["status"]["listeners"].as_array().into_iter().flatten() {
            for t in ["ResolvedRefs", "Accepted", "Programmed"] {
                crate::suite::has_condition(&l["conditions"], t, "True", None)?;
            }
        }
        Ok(())
    })
    .await
}

fn expect<'a>(backend: &'a str, namespace: &'a str) -> TcpExpect<'a> {
    TcpExpect {
        backend_is_tls: false,
        backend,
        namespace,
        hostname: "",
    }
}

fn backend_nonexistent(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.kind_route_condition(
        KIND,
        INFRA,
        "tcp-route-invalid-backend-ref-nonexistent",
        (INFRA, "tcp-gateway-invalid-backend"),
        "ResolvedRefs",
        "False",
        Some("BackendNotFound"),
    ))
}

fn cross_namespace_backend(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-invalid-cross-namespace-backend-ref-gateway";
        let route = "tcp-invalid-cross-namespace-backend-ref";
        accepted(s, gw, &[route]).await?;
        s.kind_route_condition(
            KIND,
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

fn non_tcp_listener(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-mixed-protocol-gateway";
        s.kind_route_condition(
            KIND,
            INFRA,
            "tcp-route",
            (INFRA, gw),
            "Accepted",
            "False",
            Some("NotAllowedByListeners"),
        )
        .await?;
        s.gateway_zero_routes(INFRA, gw).await
    })
}

fn multiple_routes(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-multi-route-attach-gateway";
        let file = "tcproute-multiple-routes-attachment.yaml";
        accepted(s, gw, &["tcproute-attach-older"]).await?;
        // The newer route arrives a second later, as the upstream test creates it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        s.patch(file, |docs| {
            if let Some(older) = docs.iter().find(|d| d["kind"] == KIND).cloned() {
                let mut newer = older;
                newer["metadata"]["name"] = "tcproute-attach-newer".into();
                newer["spec"]["rules"][0]["backendRefs"][0]["name"] = "tcp-attach-backend-2".into();
                docs.push(newer);
            }
        })?;
        accepted(s, gw, &["tcproute-attach-older", "tcproute-attach-newer"]).await?;
        let ok: &'static [(&str, &str, Option<&str>)] = &[("Accepted", "True", None)];
        s.gateway_listeners(
            INFRA,
            gw,
            &[ListenerExpect {
                name: "tcp",
                kinds: &["TCPRoute"],
                attached: 2,
                conditions: ok,
            }],
        )
        .await?;
        let addr = s.gateway_address(INFRA, gw).await?;
        expect_tcp_plain(
            addr,
            expect("tcp-attach-backend-1", INFRA),
            s.timeouts.max_time_to_consistency,
        )
        .await?;
        // Every connection goes to the older route's backend.
        for i in 0..100 {
            tcp_plain_once(addr, &expect("tcp-attach-backend-1", INFRA))
                .await
                .map_err(|e| format!("connection {i}: {e}"))?;
        }
        Ok(())
    })
}

async fn listener_addr(s: &Suite, gw: &str, listener: &str) -> Result<SocketAddr, String> {
    s.gateway_listener_address(INFRA, gw, Some(listener)).await
}

fn attach_all(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-attach-all-gateway";
        accepted(s, gw, &["tcp-route-attach-all"]).await?;
        for l in ["one", "two", "three", "four"] {
            let addr = listener_addr(s, gw, l).await?;
            expect_tcp_plain(
                addr,
                expect("tcp-echo-attach-all", INFRA),
                s.timeouts.max_time_to_consistency,
            )
            .await
            .map_err(|e| format!("listener {l}: {e}"))?;
        }
        Ok(())
    })
}

fn port_and_section(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-multi-listener-gateway";
        accepted(
            s,
            gw,
            &[
                "tcp-route-by-port",
                "tcp-route-by-section",
                "tcp-route-by-section-and-port",
            ],
        )
        .await?;
        for (l, backend) in [
            ("one", "tcp-echo-one"),
            ("two", "tcp-echo-two"),
            ("three", "tcp-echo-three"),
        ] {
            let addr = listener_addr(s, gw, l).await?;
            expect_tcp_plain(
                addr,
                expect(backend, INFRA),
                s.timeouts.max_time_to_consistency,
            )
            .await
            .map_err(|e| format!("listener {l}: {e}"))?;
        }
        Ok(())
    })
}

fn reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-reference-grant-gateway";
        let route = "tcp-reference-grant";
        accepted(s, gw, &[route]).await?;
        let addr = s.gateway_address(INFRA, gw).await?;
        expect_tcp_plain(
            addr,
            expect("tcp-reference-grant-backend", WEB),
            s.timeouts.max_time_to_consistency,
        )
        .await?;
        // Without the grant the reference is no longer permitted.
        s.patch("tcproute-reference-grant.yaml", |docs| {
            docs.retain(|d| d["kind"] != "ReferenceGrant")
        })?;
        s.kind_route_condition(
            KIND,
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

fn weighted(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "tcp-weighted-gateway";
        accepted(s, gw, &["tcp-weighted-route"]).await?;
        let addr = s.gateway_address(INFRA, gw).await?;
        expect_tcp_plain(addr, expect("", INFRA), s.timeouts.max_time_to_consistency).await?;
        // 500 connections, 10 at a time: v1 70% ±5, v2 30% ±5, v3 never; up to 10 tries.
        let mut last = String::new();
        let any = expect("", INFRA);
        for _ in 0..10 {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for _ in 0..50 {
                let batch =
                    futures_util::future::join_all((0..10).map(|_| tcp_plain_once(addr, &any)))
                        .await;
                for r in batch {
                    let pod = r?;
                    let backend = ["tcp-backend-v1", "tcp-backend-v2", "tcp-backend-v3"]
                        .into_iter()
                        .find(|b| pod.starts_with(&format!("{b}-")))
                        .unwrap_or("other");
                    *counts.entry(backend.into()).or_default() += 1;
                }
            }
            let share = |b: &str| *counts.get(b).unwrap_or(&0) as f64 / 500.0;
            if counts.len() == 2
                && (share("tcp-backend-v1") - 0.7).abs() <= 0.05
                && (share("tcp-backend-v2") - 0.3).abs() <= 0.05
            {
                return Ok(());
            }
            last = format!("{counts:?}");
        }
        Err(format!("weights not within tolerance: {last}"))
    })
}
