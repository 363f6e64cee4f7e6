//! ListenerSet tests: Gateways admitting ListenerSets (`spec.allowedListeners`), conflicts
//! between their listeners, route attachment through a ListenerSet parentRef, and status.

use serde_json::Value;

use crate::http::Case;
use crate::suite::{BoxFut, INFRA, Scenario, Suite, find, has_condition};

const LS: &[&str] = &["Gateway", "ListenerSet"];
const LS_HTTP: &[&str] = &["Gateway", "ListenerSet", "HTTPRoute"];
const LS_HTTP_RG: &[&str] = &["Gateway", "ListenerSet", "HTTPRoute", "ReferenceGrant"];
const LS_RG: &[&str] = &["Gateway", "ListenerSet", "ReferenceGrant"];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "ListenerSetAllowedNamespaceNone",
            features: LS,
            manifests: &["listenerset-allowed-namespace-none.yaml"],
            run: allowed_none,
        },
        Scenario {
            name: "ListenerSetDefaultNotAllowed",
            features: LS,
            manifests: &["listenerset-default-not-allowed.yaml"],
            run: default_not_allowed,
        },
        Scenario {
            name: "ListenerSetAllowedNamespaceSame",
            features: LS,
            manifests: &["listenerset-allowed-namespace-same.yaml"],
            run: allowed_same,
        },
        Scenario {
            name: "ListenerSetAllowedNamespaceSelector",
            features: LS,
            manifests: &["listenerset-allowed-namespace-selector.yaml"],
            run: allowed_selector,
        },
        Scenario {
            name: "ListenerSetAllowedRoutesNamespaces",
            features: LS_HTTP_RG,
            manifests: &["listenerset-allowed-routes-namespaces.yaml"],
            run: allowed_routes_namespaces,
        },
        Scenario {
            name: "ListenerSetAllowedRoutesSupportedKinds",
            features: LS,
            manifests: &["listenerset-allowed-routes-supported-kinds.yaml"],
            run: allowed_routes_kinds,
        },
        Scenario {
            name: "ListenerSetDualParentRefIndependence",
            features: LS_HTTP,
            manifests: &["listenerset-dual-parentref-independence.yaml"],
            run: dual_parent,
        },
        Scenario {
            name: "ListenerSetGatewayParentSectionNameNotFound",
            features: LS_HTTP,
            manifests: &["listenerset-gateway-parent-section-name-not-found.yaml"],
            run: section_not_found,
        },
        Scenario {
            name: "ListenerSetHostnameConflict",
            features: LS,
            manifests: &["listenerset-hostname-conflict.yaml"],
            run: hostname_conflict,
        },
        Scenario {
            name: "ListenerSetProtocolConflict",
            features: LS,
            manifests: &["listenerset-protocol-conflict.yaml"],
            run: protocol_conflict,
        },
        Scenario {
            name: "ListenerSetHTTPRouting",
            features: LS_HTTP,
            manifests: &["listenerset-http-routing.yaml"],
            run: http_routing,
        },
        Scenario {
            name: "ListenerSetReferenceGrant",
            features: LS_RG,
            manifests: &["listenerset-reference-grant.yaml"],
            run: reference_grant,
        },
        Scenario {
            name: "ListenerSetRouteStatusScopedToParentRef",
            features: LS_HTTP,
            manifests: &["listenerset-route-status-scoped-to-parentref.yaml"],
            run: status_scoped,
        },
    ]
}

/// Every condition of the object is at its generation.
fn fresh(obj: &Value) -> Result<(), String> {
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
    for c in obj["status"]["conditions"].as_array().into_iter().flatten() {
        if c["observedGeneration"].as_i64() != Some(generation) {
            return Err(format!("stale condition {}", c["type"]));
        }
    }
    Ok(())
}

/// The Gateway is Accepted and counts `attached` ListenerSets.
async fn gateway_attached(s: &Suite, gw: &str, attached: Option<i64>) -> Result<(), String> {
    s.wait_for(
        &format!("Gateway {gw} accepted, {attached:?} ListenerSets"),
        |doc| {
            let g = find(doc, "Gateway", INFRA, gw)?;
            fresh(g)?;
            has_condition(&g["status"]["conditions"], "Accepted", "True", None)?;
            has_condition(&g["status"]["conditions"], "Programmed", "True", None)?;
            if let Some(n) = attached {
                let got = g["status"]["attachedListenerSets"].as_i64().unwrap_or(0);
                if got != n {
                    return Err(format!("attachedListenerSets {got}, want {n}"));
                }
            }
            Ok(())
        },
    )
    .await
}

/// The ListenerSet's top-level condition.
async fn set_condition(
    s: &Suite,
    ns: &str,
    name: &str,
    t: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    s.wait_for(&format!("ListenerSet {ns}/{name} {t}={status}"), |doc| {
        let ls = find(doc, "ListenerSet", ns, name)?;
        fresh(ls)?;
        has_condition(&ls["status"]["conditions"], t, status, reason)
    })
    .await
}

async fn not_allowed(s: &Suite, ns: &str, name: &str) -> Result<(), String> {
    set_condition(s, ns, name, "Accepted", "False", Some("NotAllowed")).await?;
    set_condition(s, ns, name, "Programmed", "False", Some("NotAllowed")).await
}

async fn accepted_and_programmed(s: &Suite, ns: &str, name: &str) -> Result<(), String> {
    set_condition(s, ns, name, "Accepted", "True", None).await?;
    set_condition(s, ns, name, "Programmed", "True", Some("Programmed")).await
}

async fn listeners_not_valid(s: &Suite, name: &str) -> Result<(), String> {
    set_condition(
        s,
        INFRA,
        name,
        "Accepted",
        "False",
        Some("ListenersNotValid"),
    )
    .await?;
    set_condition(
        s,
        INFRA,
        name,
        "Programmed",
        "False",
        Some("ListenersNotValid"),
    )
    .await
}

/// Each named listener of the object (`kind` Gateway or ListenerSet) carries every condition
/// (type, status, reason or any).
async fn listeners_have(
    s: &Suite,
    kind: &str,
    ns: &str,
    name: &str,
    listeners: &[&str],
    conds: &[(&str, &str, Option<&str>)],
) -> Result<(), String> {
    s.wait_for(
        &format!("{kind} {ns}/{name} listeners {listeners:?}"),
        |doc| {
            let o = find(doc, kind, ns, name)?;
            fresh(o)?;
            let ls = o["status"]["listeners"].as_array().ok_or("no listeners")?;
            for want in listeners {
                let l = ls
                    .iter()
                    .find(|l| l["name"] == *want)
                    .ok_or_else(|| format!("no listener {want}"))?;
                for (t, st, r) in conds {
                    has_condition(&l["conditions"], t, st, *r)
                        .map_err(|e| format!("listener {want}: {e}"))?;
                }
            }
            Ok(())
        },
    )
    .await
}

const HEALTHY: &[(&str, &str, Option<&str>)] = &[
    ("ResolvedRefs", "True", None),
    ("Accepted", "True", None),
    ("Programmed", "True", None),
    ("Conflicted", "False", None),
];

fn conflicted(reason: &'static str) -> [(&'static str, &'static str, Option<&'static str>); 3] {
    [
        ("Accepted", "False", Some(reason)),
        ("Programmed", "False", Some(reason)),
        ("Conflicted", "True", Some(reason)),
    ]
}

/// The ListenerSet reports exactly these listeners with these attachedRoutes, each healthy
/// and supporting HTTPRoute and GRPCRoute.
async fn set_listeners_exactly(
    s: &Suite,
    ns: &str,
    name: &str,
    want: &[(&str, i64)],
) -> Result<(), String> {
    s.wait_for(
        &format!("ListenerSet {ns}/{name} listeners {want:?}"),
        |doc| {
            let o = find(doc, "ListenerSet", ns, name)?;
            fresh(o)?;
            let ls = o["status"]["listeners"].as_array().ok_or("no listeners")?;
            if ls.len() != want.len() {
                return Err(format!("{} listeners, want {}", ls.len(), want.len()));
            }
            for (n, routes) in want {
                let l = ls
                    .iter()
                    .find(|l| l["name"] == *n)
                    .ok_or_else(|| format!("no listener {n}"))?;
                if l["attachedRoutes"].as_i64() != Some(*routes) {
                    return Err(format!(
                        "listener {n}: attachedRoutes {}, want {routes}",
                        l["attachedRoutes"]
                    ));
                }
                for k in ["HTTPRoute", "GRPCRoute"] {
                    if !l["supportedKinds"]
                        .as_array()
                        .is_some_and(|ks| ks.iter().any(|x| x["kind"] == k))
                    {
                        return Err(format!("listener {n}: {k} not in supportedKinds"));
                    }
                }
                for (t, st, r) in HEALTHY {
                    has_condition(&l["conditions"], t, st, *r)
                        .map_err(|e| format!("listener {n}: {e}"))?;
                }
            }
            Ok(())
        },
    )
    .await
}

/// The route has an Accepted=True/Accepted entry for the ListenerSet `ns/name`.
async fn accepted_by_set(
    s: &Suite,
    rns: &str,
    route: &str,
    set: (&str, &str),
) -> Result<(), String> {
    s.parent_condition(
        "HTTPRoute",
        rns,
        route,
        "ListenerSet",
        set,
        "Accepted",
        "True",
        Some("Accepted"),
    )
    .await
}

fn allowed_none(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(s, "gateway-does-not-allow-listenerset", Some(0)).await?;
        not_allowed(s, INFRA, "listenerset-not-allowed").await
    })
}

fn default_not_allowed(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(s, "gateway-default-does-not-allow-listenerset", Some(0)).await?;
        not_allowed(s, INFRA, "listenerset-default-not-allowed").await
    })
}

fn allowed_same(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(s, "gateway-allows-listenerset-in-same-namespace", Some(1)).await?;
        set_condition(
            s,
            INFRA,
            "listenerset-in-same-namespace",
            "Accepted",
            "True",
            Some("Accepted"),
        )
        .await?;
        set_condition(
            s,
            INFRA,
            "listenerset-in-same-namespace",
            "Programmed",
            "True",
            Some("Programmed"),
        )
        .await?;
        listeners_have(
            s,
            "ListenerSet",
            INFRA,
            "listenerset-in-same-namespace",
            &["listenerset-in-same-namespace-listener"],
            HEALTHY,
        )
        .await?;
        not_allowed(
            s,
            "gateway-api-listenerset-not-allowed-ns",
            "listenerset-in-different-namespace",
        )
        .await
    })
}

fn allowed_selector(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(
            s,
            "gateway-allows-listenerset-in-selected-namespace",
            Some(1),
        )
        .await?;
        let ns = "gateway-api-listenerset-selector-allowed-ns";
        set_condition(
            s,
            ns,
            "listenerset-in-selected-namespace",
            "Accepted",
            "True",
            Some("Accepted"),
        )
        .await?;
        set_condition(
            s,
            ns,
            "listenerset-in-selected-namespace",
            "Programmed",
            "True",
            Some("Programmed"),
        )
        .await?;
        listeners_have(
            s,
            "ListenerSet",
            ns,
            "listenerset-in-selected-namespace",
            &["listenerset-in-selected-namespace-listener"],
            HEALTHY,
        )
        .await?;
        not_allowed(
            s,
            "gateway-api-listenerset-selector-not-allowed-ns",
            "listenerset-not-in-selected-namespace",
        )
        .await
    })
}

fn allowed_routes_namespaces(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "gateway-with-listener-sets-test-allowed-routes";
        let gw = s.gateway_address(INFRA, gw_name).await?;
        gateway_attached(s, gw_name, Some(2)).await?;
        let set = (INFRA, "listenerset-test-allowed-routes-namespaces");
        for (rns, r) in [
            (INFRA, "route-in-same-namespace"),
            (
                "gateway-api-routes-allowed-ns",
                "route-in-selected-namespace",
            ),
            (
                "gateway-api-routes-not-allowed-ns",
                "route-not-in-selected-namespace",
            ),
        ] {
            accepted_by_set(s, rns, r, set).await?;
        }
        set_listeners_exactly(
            s,
            set.0,
            set.1,
            &[
                ("listener-set-listener-allowed-routes-all", 3),
                ("listener-set-listener-allowed-routes-same", 1),
                ("listener-set-listener-allowed-routes-selector", 1),
            ],
        )
        .await?;
        let host = |x: &str| format!("listener-set-listener-allowed-routes-{x}.com");
        let mut cases = Vec::new();
        for (x, same, selected, not_selected) in [
            ("all", 200, 200, 200),
            ("same", 200, 404, 404),
            ("selector", 404, 200, 404),
        ] {
            for (path, code, backend) in [
                ("/route-in-same-namespace", same, "infra-backend-v1"),
                ("/route-in-selected-namespace", selected, "infra-backend-v2"),
                (
                    "/route-not-in-selected-namespace",
                    not_selected,
                    "infra-backend-v3",
                ),
            ] {
                let c = Case::get(&host(x), path);
                cases.push(if code == 200 {
                    c.backend(backend)
                } else {
                    c.status(404)
                });
            }
        }
        s.expect(gw, cases).await?;
        // A ListenerSet in another namespace: `from: Same` means the ListenerSet's namespace.
        let cross = (
            "gateway-api-ls-cross-ns",
            "listenerset-test-allowed-routes-cross-ns",
        );
        accepted_by_set(s, cross.0, "route-in-listenerset-namespace", cross).await?;
        s.parent_condition(
            "HTTPRoute",
            INFRA,
            "route-in-gateway-namespace",
            "ListenerSet",
            cross,
            "Accepted",
            "False",
            Some("NotAllowedByListeners"),
        )
        .await?;
        set_listeners_exactly(
            s,
            cross.0,
            cross.1,
            &[("listener-set-listener-allowed-routes-cross-ns-same", 1)],
        )
        .await?;
        let h = "listener-set-listener-allowed-routes-cross-ns-same.com";
        s.expect(
            gw,
            vec![
                Case::get(h, "/route-in-listenerset-namespace").backend("infra-backend-v1"),
                Case::get(h, "/route-in-gateway-namespace").status(404),
            ],
        )
        .await
    })
}

fn allowed_routes_kinds(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(
            s,
            "gateway-with-listener-sets-test-supported-route-kinds",
            None,
        )
        .await?;
        let name = "listenerset-test-allowed-routes-supported-kinds";
        s.wait_for("TLS listener with only HTTPRoute allowed", |doc| {
            let o = find(doc, "ListenerSet", INFRA, name)?;
            fresh(o)?;
            let ls = o["status"]["listeners"].as_array().ok_or("no listeners")?;
            let [l] = &ls[..] else {
                return Err(format!("{} listeners, want 1", ls.len()));
            };
            if l["name"] != "listener-set-listener-allowed-routes-tls-only" {
                return Err(format!("listener {}", l["name"]));
            }
            if !l["supportedKinds"].as_array().is_none_or(Vec::is_empty) {
                return Err(format!("supportedKinds {}", l["supportedKinds"]));
            }
            if l["attachedRoutes"].as_i64() != Some(0) {
                return Err(format!("attachedRoutes {}", l["attachedRoutes"]));
            }
            has_condition(
                &l["conditions"],
                "ResolvedRefs",
                "False",
                Some("InvalidRouteKinds"),
            )
        })
        .await
    })
}

fn dual_parent(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "gateway-dual-parentref";
        let gw = s
            .gateway_listener_address(INFRA, gw_name, Some("gw-dual-parentref-listener"))
            .await?;
        gateway_attached(s, gw_name, Some(1)).await?;
        let set = (INFRA, "ls-dual-parentref");
        set_listeners_exactly(s, INFRA, set.1, &[("ls-dual-parentref-listener", 2)]).await?;
        s.route_condition(
            INFRA,
            "route-dual-parentref-both",
            (INFRA, gw_name),
            "Accepted",
            "True",
            None,
        )
        .await?;
        accepted_by_set(s, INFRA, "route-dual-parentref-both", set).await?;
        s.route_condition(
            INFRA,
            "route-dual-parentref-one",
            (INFRA, gw_name),
            "Accepted",
            "False",
            Some("NoMatchingParent"),
        )
        .await?;
        accepted_by_set(s, INFRA, "route-dual-parentref-one", set).await?;
        s.expect(
            gw,
            vec![
                Case::get("gw-dual.com", "/dualboth").backend("infra-backend-v1"),
                Case::get("ls-dual.com", "/dualboth").backend("infra-backend-v1"),
                Case::get("ls-dual.com", "/dualone").backend("infra-backend-v2"),
                Case::get("gw-dual.com", "/dualone").status(404),
            ],
        )
        .await
    })
}

fn section_not_found(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "gateway-section-name";
        let gw = s.gateway_address(INFRA, gw_name).await?;
        gateway_attached(s, gw_name, Some(1)).await?;
        accepted_by_set(
            s,
            INFRA,
            "route-via-listenerset",
            (INFRA, "listenerset-section-name"),
        )
        .await?;
        s.route_condition(
            INFRA,
            "route-via-gateway",
            (INFRA, gw_name),
            "Accepted",
            "False",
            Some("NoMatchingParent"),
        )
        .await?;
        s.expect(
            gw,
            vec![
                Case::get("ls-section-name.com", "/goodsection").backend("infra-backend-v1"),
                Case::get("gw-section.com", "/badsection").status(404),
            ],
        )
        .await
    })
}

/// The shared shape of the hostname and protocol conflict tests.
async fn conflicts(
    s: &Suite,
    gw_name: &str,
    kind: &str,
    reason: &'static str,
) -> Result<(), String> {
    gateway_attached(s, gw_name, Some(2)).await?;
    let with_gw = format!("{kind}-conflict-with-gateway-listener");
    let with_ls = format!("{kind}-conflict-with-listener-set-listener");
    listeners_have(
        s,
        "Gateway",
        INFRA,
        gw_name,
        &["gateway-listener", &with_gw],
        HEALTHY,
    )
    .await?;
    let bad = conflicted(reason);
    let set = |n: &str| format!("listenerset-with-{kind}-conflict-with-{n}");
    accepted_and_programmed(s, INFRA, &set("gateway-1")).await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("gateway-1"),
        &["listener-set-1-listener", &with_ls],
        HEALTHY,
    )
    .await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("gateway-1"),
        &[&with_gw],
        &bad,
    )
    .await?;
    listeners_not_valid(s, &set("gateway-2")).await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("gateway-2"),
        &[&with_gw],
        &bad,
    )
    .await?;
    accepted_and_programmed(s, INFRA, &set("listener-set-1")).await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("listener-set-1"),
        &["listener-set-2-listener"],
        HEALTHY,
    )
    .await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("listener-set-1"),
        &[&with_ls],
        &bad,
    )
    .await?;
    listeners_not_valid(s, &set("listener-set-2")).await?;
    listeners_have(
        s,
        "ListenerSet",
        INFRA,
        &set("listener-set-2"),
        &[&with_ls],
        &bad,
    )
    .await
}

fn hostname_conflict(s: &Suite) -> BoxFut<'_> {
    Box::pin(conflicts(
        s,
        "gateway-with-listenerset-hostname-conflict",
        "hostname",
        "HostnameConflict",
    ))
}

fn protocol_conflict(s: &Suite) -> BoxFut<'_> {
    Box::pin(conflicts(
        s,
        "gateway-with-listenerset-protocol-conflict",
        "protocol",
        "ProtocolConflict",
    ))
}

fn http_routing(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "gateway-with-listener-sets-http-routing";
        let gw = s
            .routes_accepted(
                (INFRA, gw_name),
                &[
                    (INFRA, "attaches-to-all-listeners"),
                    (INFRA, "gateway-route"),
                    (INFRA, "gateway-section-route"),
                ],
            )
            .await?;
        gateway_attached(s, gw_name, Some(2)).await?;
        let ls1 = (INFRA, "listener-set-http-routing-1");
        let ls2 = (INFRA, "listener-set-http-routing-2");
        for r in [
            "attaches-to-all-listeners",
            "listener-set-http-routing-1-route",
            "listener-set-http-routing-1-section-route",
        ] {
            accepted_by_set(s, INFRA, r, ls1).await?;
        }
        for r in [
            "attaches-to-all-listeners",
            "listener-set-http-routing-2-route",
        ] {
            accepted_by_set(s, INFRA, r, ls2).await?;
        }
        set_listeners_exactly(
            s,
            INFRA,
            ls1.1,
            &[
                ("listener-set-http-routing-1-listener-1", 3),
                ("listener-set-http-routing-1-listener-2", 2),
            ],
        )
        .await?;
        set_listeners_exactly(
            s,
            INFRA,
            ls2.1,
            &[
                ("listener-set-http-routing-2-listener-1", 2),
                ("listener-set-http-routing-2-listener-2", 2),
            ],
        )
        .await?;
        let gw_hosts = ["gateway-listener-1.com", "gateway-listener-2.com"];
        let ls1_hosts = [
            "listener-set-http-routing-1-listener-1.com",
            "listener-set-http-routing-1-listener-2.com",
        ];
        let ls2_hosts = [
            "listener-set-http-routing-2-listener-1.com",
            "listener-set-http-routing-2-listener-2.com",
        ];
        let all: Vec<&str> = gw_hosts
            .iter()
            .chain(&ls1_hosts)
            .chain(&ls2_hosts)
            .copied()
            .collect();
        let mut cases = Vec::new();
        for (path, backend, serving) in [
            ("/route", "infra-backend-v1", all.clone()),
            ("/gateway-route", "infra-backend-v2", gw_hosts.to_vec()),
            (
                "/gateway-section-route",
                "infra-backend-v3",
                vec![gw_hosts[0]],
            ),
            (
                "/listener-set-http-routing-1-route",
                "infra-backend-v2",
                ls1_hosts.to_vec(),
            ),
            (
                "/listener-set-http-routing-1-section-route",
                "infra-backend-v3",
                vec![ls1_hosts[0]],
            ),
            (
                "/listener-set-http-routing-2-route",
                "infra-backend-v2",
                ls2_hosts.to_vec(),
            ),
        ] {
            for h in &all {
                let c = Case::get(h, path);
                cases.push(if serving.contains(h) {
                    c.backend(backend)
                } else {
                    c.status(404)
                });
            }
        }
        s.expect(gw, cases).await
    })
}

fn reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        gateway_attached(s, "gateway-with-listener-sets-test-reference-grant", None).await?;
        accepted_and_programmed(s, INFRA, "listenerset-with-reference-grant").await?;
        listeners_have(
            s,
            "ListenerSet",
            INFRA,
            "listenerset-with-reference-grant",
            &["listenerset-with-reference-grant-listener"],
            &[("ResolvedRefs", "True", None)],
        )
        .await?;
        let ns = "gateway-api-listener-sets-test-reference-grant-ns";
        set_condition(
            s,
            ns,
            "listenerset-without-reference-grant",
            "Accepted",
            "False",
            Some("ListenersNotValid"),
        )
        .await?;
        set_condition(
            s,
            ns,
            "listenerset-without-reference-grant",
            "Programmed",
            "False",
            Some("ListenersNotValid"),
        )
        .await?;
        listeners_have(
            s,
            "ListenerSet",
            ns,
            "listenerset-without-reference-grant",
            &["listenerset-without-reference-grant-listener"],
            &[("ResolvedRefs", "False", Some("RefNotPermitted"))],
        )
        .await
    })
}

fn status_scoped(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "gateway-parentref";
        gateway_attached(s, gw_name, Some(1)).await?;
        set_listeners_exactly(
            s,
            INFRA,
            "listenerset-parentref",
            &[("listenerset-parentref-listener", 1)],
        )
        .await?;
        s.route_condition(
            INFRA,
            "route-parentref-gwonly",
            (INFRA, gw_name),
            "Accepted",
            "True",
            None,
        )
        .await?;
        // namespace written out in the status entry.
        s.wait_for("gwonly parent namespace explicit", |doc| {
            let r = find(doc, "HTTPRoute", INFRA, "route-parentref-gwonly")?;
            let ps = r["status"]["parents"].as_array().ok_or("no parents")?;
            if ps.len() != 1 || ps[0]["parentRef"]["namespace"] != INFRA {
                return Err(format!("parents {ps:?}"));
            }
            Ok(())
        })
        .await?;
        accepted_by_set(
            s,
            INFRA,
            "route-parentref-lsonly",
            (INFRA, "listenerset-parentref"),
        )
        .await?;
        s.wait_for("lsonly has only its ListenerSet parent", |doc| {
            let r = find(doc, "HTTPRoute", INFRA, "route-parentref-lsonly")?;
            let ps = r["status"]["parents"].as_array().ok_or("no parents")?;
            if ps.len() != 1 || ps[0]["parentRef"]["kind"] != "ListenerSet" {
                return Err(format!("parents {ps:?}"));
            }
            Ok(())
        })
        .await
    })
}
