//! GATEWAY-UDP: UDPRoute tests (the coredns stand-in and the UDP echo backends).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::tcp::l4_accepted;
use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};
use crate::udp::{backend_of, expect_udp_echo, udp_once};

const UDP: &[&str] = &["Gateway", "UDPRoute"];
const UDP_RG: &[&str] = &["Gateway", "UDPRoute", "ReferenceGrant"];
const KIND: &str = "UDPRoute";
const APP: &str = "gateway-conformance-app-backend";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "UDPRoute",
            features: UDP,
            manifests: &["udproute-simple.yaml"],
            run: simple,
        },
        Scenario {
            name: "UDPRouteInvalidBackendRefNonexistent",
            features: UDP,
            manifests: &["udproute-invalid-backendref-nonexistent.yaml"],
            run: backend_nonexistent,
        },
        Scenario {
            name: "UDPRouteInvalidCrossNamespaceBackendRef",
            features: UDP_RG,
            manifests: &["udproute-invalid-cross-namespace-backend-ref.yaml"],
            run: cross_namespace_backend,
        },
        Scenario {
            name: "UDPRouteMultipleRoutesAttachment",
            features: UDP,
            manifests: &["udproute-multiple-routes-attachment.yaml"],
            run: multiple_routes,
        },
        Scenario {
            name: "UDPRouteNotAllowedByListeners",
            features: UDP,
            manifests: &["udproute-not-allowed-by-listeners.yaml"],
            run: not_allowed_by_listeners,
        },
        Scenario {
            name: "UDPRouteParentRefAttachAllListeners",
            features: UDP,
            manifests: &["udproute-parentref-attach-all-listeners.yaml"],
            run: attach_all,
        },
        Scenario {
            name: "UDPRouteParentRefPortAndSectionName",
            features: UDP,
            manifests: &["udproute-parentref-port-and-section-name.yaml"],
            run: port_and_section,
        },
        Scenario {
            name: "UDPRouteReferenceGrant",
            features: UDP_RG,
            manifests: &["udproute-reference-grant.yaml"],
            run: reference_grant,
        },
        Scenario {
            name: "UDPRouteWeightedRouting",
            features: UDP,
            manifests: &["udproute-weighted-routing.yaml"],
            run: weighted,
        },
    ]
}

async fn accepted(s: &Suite, gw: &str, routes: &[&str]) -> Result<(), String> {
    l4_accepted(s, KIND, gw, routes).await
}

async fn condition(
    s: &Suite,
    route: &str,
    gw: &str,
    t: &str,
    status: &str,
    reason: &str,
) -> Result<(), String> {
    s.kind_route_condition(KIND, INFRA, route, (INFRA, gw), t, status, Some(reason))
        .await
}

/// The coredns stand-in answers an A query for foo.bar.com through the gateway (a reply with
/// the query's id, polled every second for up to 60 s).
fn simple(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-gateway";
        accepted(s, gw, &["udp-coredns"]).await?;
        let addr = s.gateway_address(INFRA, gw).await?;
        let start = Instant::now();
        loop {
            match crate::dns::exchange_a(addr, "foo.bar.com.").await {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > Duration::from_secs(60) => {
                    return Err(format!("DNS through {addr}: {e}"));
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    })
}

fn backend_nonexistent(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-gateway-invalid-backend";
        s.gateway_condition(INFRA, gw, "Programmed", "True", None)
            .await?;
        condition(
            s,
            "udp-route-invalid-backend-ref-nonexistent",
            gw,
            "ResolvedRefs",
            "False",
            "BackendNotFound",
        )
        .await
    })
}

fn cross_namespace_backend(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-gateway-invalid-cross-namespace-backend-ref";
        let route = "udp-route-invalid-cross-namespace-backend-ref";
        accepted(s, gw, &[route]).await?;
        condition(s, route, gw, "ResolvedRefs", "False", "RefNotPermitted").await
    })
}

fn multiple_routes(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-multi-route-attach-gateway";
        accepted(s, gw, &["udproute-attach-older"]).await?;
        let addr = s.gateway_listener_address(INFRA, gw, Some("udp")).await?;
        // The newer route arrives a second later, as the upstream test creates it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        s.patch("udproute-multiple-routes-attachment.yaml", |docs| {
            if let Some(older) = docs.iter().find(|d| d["kind"] == KIND).cloned() {
                let mut newer = older;
                newer["metadata"]["name"] = "udproute-attach-newer".into();
                newer["spec"]["rules"][0]["backendRefs"][0]["name"] = "udp-attach-backend-2".into();
                docs.push(newer);
            }
        })?;
        for r in ["udproute-attach-older", "udproute-attach-newer"] {
            condition(s, r, gw, "Accepted", "True", "Accepted").await?;
        }
        let ok: &'static [(&str, &str, Option<&str>)] = &[("Accepted", "True", Some("Accepted"))];
        s.gateway_listeners(
            INFRA,
            gw,
            &[ListenerExpect {
                name: "udp",
                kinds: &["UDPRoute"],
                attached: 2,
                conditions: ok,
            }],
        )
        .await?;
        // Rounds of 20 probes until one round is fully answered; any answer from another
        // backend than the older route's fails at once.
        let start = Instant::now();
        loop {
            let mut all_answered = true;
            for _ in 0..20 {
                match udp_once(
                    addr,
                    b"gateway-api-conformance-udp-weight\n",
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok(v) => {
                        let b = backend_of(&v)?;
                        if b != "udp-attach-backend-1" {
                            return Err(format!("answered by {b}, not the older route's backend"));
                        }
                    }
                    Err(_) => all_answered = false,
                }
            }
            if all_answered {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err("probes kept failing for 60 s".into());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

fn not_allowed_by_listeners(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udproute-tls-only-gateway";
        s.gateway_condition(INFRA, gw, "Programmed", "True", None)
            .await?;
        condition(
            s,
            "udproute-not-allowed-by-listeners",
            gw,
            "Accepted",
            "False",
            "NotAllowedByListeners",
        )
        .await?;
        s.gateway_zero_routes(INFRA, gw).await
    })
}

async fn listener_addr(s: &Suite, gw: &str, listener: &str) -> Result<SocketAddr, String> {
    s.gateway_listener_address(INFRA, gw, Some(listener)).await
}

fn attach_all(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-attach-all-listeners-gateway";
        condition(
            s,
            "udp-route-attach-all",
            gw,
            "Accepted",
            "True",
            "Accepted",
        )
        .await?;
        let ok: &'static [(&str, &str, Option<&str>)] =
            &[("Accepted", "True", None), ("ResolvedRefs", "True", None)];
        let listener = |name| ListenerExpect {
            name,
            kinds: &["UDPRoute"],
            attached: 1,
            conditions: ok,
        };
        s.gateway_listeners(
            INFRA,
            gw,
            &[listener("udp-1"), listener("udp-2"), listener("udp-3")],
        )
        .await?;
        for l in ["udp-1", "udp-2", "udp-3"] {
            let addr = listener_addr(s, gw, l).await?;
            expect_udp_echo(
                addr,
                "udp-echo-attach-all",
                INFRA,
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
        let gw = "udp-multi-listener-gateway";
        for (route, l, backend) in [
            ("udp-route-by-port", "by-port", "udp-echo-by-port"),
            ("udp-route-by-section", "by-section", "udp-echo-by-section"),
            (
                "udp-route-by-section-and-port",
                "by-section-and-port",
                "udp-echo-by-section-and-port",
            ),
        ] {
            condition(s, route, gw, "Accepted", "True", "Accepted").await?;
            let addr = listener_addr(s, gw, l).await?;
            expect_udp_echo(addr, backend, INFRA, s.timeouts.max_time_to_consistency)
                .await
                .map_err(|e| format!("listener {l}: {e}"))?;
        }
        Ok(())
    })
}

fn reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-gateway-reference-grant";
        let route = "udp-route-reference-grant";
        accepted(s, gw, &[route]).await?;
        condition(s, route, gw, "ResolvedRefs", "True", "ResolvedRefs").await?;
        let addr = s.gateway_address(INFRA, gw).await?;
        expect_udp_echo(
            addr,
            "udp-echo-reference-grant",
            APP,
            s.timeouts.max_time_to_consistency,
        )
        .await?;
        // Without the grant the reference is no longer permitted.
        s.patch("udproute-reference-grant.yaml", |docs| {
            docs.retain(|d| d["kind"] != "ReferenceGrant")
        })?;
        condition(s, route, gw, "ResolvedRefs", "False", "RefNotPermitted").await
    })
}

fn weighted(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "udp-weighted-gateway";
        accepted(s, gw, &["udp-weighted-route"]).await?;
        let addr = listener_addr(s, gw, "udp").await?;
        expect_udp_echo(addr, "", "", s.timeouts.max_time_to_consistency).await?;
        // 500 datagrams from fresh sockets, 10 at a time: v1 70% ±5, v2 30% ±5, v3 never.
        let mut last = String::new();
        for _ in 0..10 {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            let mut failed = None;
            for _ in 0..50 {
                let batch = futures_util::future::join_all((0..10).map(|_| {
                    udp_once(
                        addr,
                        b"gateway-api-conformance-udp-weight\n",
                        Duration::from_secs(2),
                    )
                }))
                .await;
                for r in batch {
                    match r.and_then(|v| backend_of(&v)) {
                        Ok(b) => *counts.entry(b).or_default() += 1,
                        Err(e) => failed = Some(e),
                    }
                }
            }
            let share = |b: &str| *counts.get(b).unwrap_or(&0) as f64 / 500.0;
            if failed.is_none()
                && counts.len() == 2
                && (share("udp-backend-v1") - 0.7).abs() <= 0.05
                && (share("udp-backend-v2") - 0.3).abs() <= 0.05
            {
                return Ok(());
            }
            last = format!("{counts:?} {}", failed.unwrap_or_default());
        }
        Err(format!("weights not within tolerance: {last}"))
    })
}
