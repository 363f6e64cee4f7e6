//! GATEWAY-HTTP core: HTTPRoute tests.

use crate::http::{Case, ExpectedRedirect, ExpectedRequest};
use crate::suite::{BoxFut, INFRA, Scenario, Suite};

const CORE: &[&str] = &["Gateway", "HTTPRoute"];
const CORE_RG: &[&str] = &["Gateway", "HTTPRoute", "ReferenceGrant"];
const SAME: (&str, &str) = (INFRA, "same-namespace");
const APP: &str = "gateway-conformance-app-backend";
const WEB: &str = "gateway-conformance-web-backend";

fn c(host: &str, path: &str) -> Case {
    Case::get(host, path)
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "HTTPRouteDisallowedKind",
            features: &["Gateway", "HTTPRoute", "TLSRoute"],
            manifests: &["httproute-disallowed-kind.yaml"],
            run: disallowed_kind,
        },
        Scenario {
            name: "HTTPRouteInvalidParentRefNotMatchingListenerPort",
            features: &["Gateway", "HTTPRoute", "HTTPRouteDestinationPortMatching"],
            manifests: &["httproute-invalid-parentref-not-matching-listener-port.yaml"],
            run: parent_not_matching_port,
        },
        Scenario {
            name: "HTTPRouteHTTPSListenerDetectMisdirectedRequests",
            features: &[
                "Gateway",
                "GatewayHTTPSListenerDetectMisdirectedRequests",
                "HTTPRoute",
            ],
            manifests: &["httproute-https-listener-detect-misdirected-requests.yaml"],
            run: detect_misdirected,
        },
        Scenario {
            name: "HTTPRouteSimpleSameNamespace",
            features: CORE,
            manifests: &["httproute-simple-same-namespace.yaml"],
            run: simple_same_namespace,
        },
        Scenario {
            name: "HTTPRouteCrossNamespace",
            features: CORE,
            manifests: &["httproute-cross-namespace.yaml"],
            run: cross_namespace,
        },
        Scenario {
            name: "HTTPRouteExactPathMatching",
            features: CORE,
            manifests: &["httproute-exact-path-matching.yaml"],
            run: exact_path_matching,
        },
        Scenario {
            name: "HTTPRouteMatching",
            features: CORE,
            manifests: &["httproute-matching.yaml"],
            run: matching,
        },
        Scenario {
            name: "HTTPRouteMatchingAcrossRoutes",
            features: CORE,
            manifests: &["httproute-matching-across-routes.yaml"],
            run: matching_across_routes,
        },
        Scenario {
            name: "HTTPRouteHeaderMatching",
            features: CORE,
            manifests: &["httproute-header-matching.yaml"],
            run: header_matching,
        },
        Scenario {
            name: "HTTPRouteHostnameIntersection",
            features: CORE,
            manifests: &["httproute-hostname-intersection.yaml"],
            run: hostname_intersection,
        },
        Scenario {
            name: "HTTPRouteListenerHostnameMatching",
            features: CORE,
            manifests: &["httproute-listener-hostname-matching.yaml"],
            run: listener_hostname_matching,
        },
        Scenario {
            name: "HTTPRouteRequestHeaderModifier",
            features: CORE,
            manifests: &["httproute-request-header-modifier.yaml"],
            run: request_header_modifier,
        },
        Scenario {
            name: "HTTPRouteRedirectHostAndStatus",
            features: CORE,
            manifests: &["httproute-redirect-host-and-status.yaml"],
            run: redirect_host_and_status,
        },
        Scenario {
            name: "HTTPRouteInvalidNonExistentBackendRef",
            features: CORE,
            manifests: &["httproute-invalid-nonexistent-backendref.yaml"],
            run: invalid_nonexistent_backend,
        },
        Scenario {
            name: "HTTPRouteInvalidBackendRefUnknownKind",
            features: CORE,
            manifests: &["httproute-invalid-backendref-unknown-kind.yaml"],
            run: invalid_unknown_kind,
        },
        Scenario {
            name: "HTTPRouteInvalidCrossNamespaceBackendRef",
            features: CORE_RG,
            manifests: &["httproute-invalid-cross-namespace-backend-ref.yaml"],
            run: invalid_cross_ns_backend,
        },
        Scenario {
            name: "HTTPRouteReferenceGrant",
            features: CORE_RG,
            manifests: &["httproute-reference-grant.yaml"],
            run: reference_grant,
        },
        Scenario {
            name: "HTTPRouteInvalidReferenceGrant",
            features: CORE_RG,
            manifests: &["httproute-invalid-reference-grant.yaml"],
            run: invalid_reference_grant,
        },
        Scenario {
            name: "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
            features: CORE_RG,
            manifests: &["httproute-partially-invalid-via-invalid-reference-grant.yaml"],
            run: partially_invalid_reference_grant,
        },
        Scenario {
            name: "HTTPRouteWeight",
            features: CORE,
            manifests: &["httproute-weight.yaml"],
            run: weight,
        },
        Scenario {
            name: "HTTPRouteObservedGenerationBump",
            features: CORE,
            manifests: &["httproute-observed-generation-bump.yaml"],
            run: observed_generation_bump,
        },
        Scenario {
            name: "HTTPRoutePathMatchOrder",
            features: CORE,
            manifests: &["httproute-path-match-order.yaml"],
            run: path_match_order,
        },
        Scenario {
            name: "HTTPRouteMultipleGateways",
            features: CORE,
            manifests: &["httproute-multiple-gateways.yaml"],
            run: multiple_gateways,
        },
        Scenario {
            name: "HTTPRouteInvalidCrossNamespaceParentRef",
            features: CORE,
            manifests: &["httproute-invalid-cross-namespace-parent-ref.yaml"],
            run: invalid_cross_ns_parent,
        },
        Scenario {
            name: "HTTPRouteServiceTypes",
            features: CORE,
            manifests: &["httproute-service-types.yaml"],
            run: service_types,
        },
        Scenario {
            name: "HTTPRouteNoBackendRefs",
            features: CORE,
            manifests: &["httproute-omitted-backendrefs.yaml"],
            run: no_backend_refs,
        },
        Scenario {
            name: "HTTPRouteHTTPSListener",
            features: CORE,
            manifests: &["httproute-https-listener.yaml"],
            run: https_listener,
        },
        Scenario {
            name: "HTTPRouteInvalidParentRefNotMatchingSectionName",
            features: CORE,
            manifests: &["httproute-invalid-parentref-not-matching-section-name.yaml"],
            run: parent_not_matching_section,
        },
    ]
}

fn simple_same_namespace(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "gateway-conformance-infra-test")])
            .await?;
        s.route_condition(
            INFRA,
            "gateway-conformance-infra-test",
            SAME,
            "ResolvedRefs",
            "True",
            Some("ResolvedRefs"),
        )
        .await?;
        s.expect(gw, vec![c("", "/").backend("infra-backend-v1")])
            .await
    })
}

fn cross_namespace(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted((INFRA, "backend-namespaces"), &[(WEB, "cross-namespace")])
            .await?;
        s.expect(gw, vec![c("", "/").backend("web-backend").namespace(WEB)])
            .await
    })
}

fn exact_path_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "exact-matching")])
            .await?;
        s.expect(
            gw,
            vec![
                c("", "/one").backend("infra-backend-v1"),
                c("", "/two").backend("infra-backend-v2"),
                c("", "/").status(404),
                c("", "/one/example").status(404),
                c("", "/two/").status(404),
                c("", "/Two").status(404),
            ],
        )
        .await
    })
}

fn matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s.routes_accepted(SAME, &[(INFRA, "matching")]).await?;
        s.expect(
            gw,
            vec![
                c("", "/").backend("infra-backend-v1"),
                c("", "/example").backend("infra-backend-v1"),
                c("", "/")
                    .header("Version", "one")
                    .backend("infra-backend-v1"),
                c("", "/v2").backend("infra-backend-v2"),
                c("", "/v2/example").backend("infra-backend-v2"),
                c("", "/")
                    .header("Version", "two")
                    .backend("infra-backend-v2"),
            ],
        )
        .await
    })
}

fn matching_across_routes(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(
                SAME,
                &[(INFRA, "matching-part1"), (INFRA, "matching-part2")],
            )
            .await?;
        s.expect(
            gw,
            vec![
                c("example.com", "/").backend("infra-backend-v1"),
                c("example.com", "/example").backend("infra-backend-v1"),
                c("example.net", "/example").backend("infra-backend-v1"),
                c("example.com", "/example")
                    .header("Version", "one")
                    .backend("infra-backend-v1"),
                c("example.com", "/v2").backend("infra-backend-v2"),
                c("example.net", "/v2").backend("infra-backend-v1"),
                c("example.com", "/v2/example").backend("infra-backend-v2"),
                c("example.com", "/")
                    .header("Version", "two")
                    .backend("infra-backend-v2"),
            ],
        )
        .await
    })
}

fn header_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "header-matching")])
            .await?;
        let v1 = "infra-backend-v1";
        let v2 = "infra-backend-v2";
        s.expect(
            gw,
            vec![
                c("", "/").header("Version", "one").backend(v1),
                c("", "/").header("Version", "two").backend(v2),
                c("", "/")
                    .header("Version", "two")
                    .header("Color", "orange")
                    .backend(v1),
                c("", "/").header("Color", "orange").status(404),
                c("", "/").header("Some-Other-Header", "one").status(404),
                c("", "/").header("Color", "blue").backend(v1),
                c("", "/").header("Color", "green").backend(v1),
                c("", "/").header("Color", "red").backend(v2),
                c("", "/").header("Color", "yellow").backend(v2),
                c("", "/").header("Color", "purple").status(404),
            ],
        )
        .await
    })
}

fn hostname_intersection(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gwid = (INFRA, "httproute-hostname-intersection");
        let routes = [
            (INFRA, "specific-host-matches-listener-specific-host"),
            (INFRA, "specific-host-matches-listener-wildcard-host"),
            (INFRA, "wildcard-host-matches-listener-specific-host"),
            (INFRA, "wildcard-host-matches-listener-wildcard-host"),
        ];
        let gw = s.routes_accepted(gwid, &routes).await?;
        let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
        let mut cases = vec![
            c("very.specific.com", "/s1").backend(v1),
            c("very.specific.com:1234", "/s1")
                .backend(v1)
                .expect(ExpectedRequest {
                    host: Some("very.specific.com:1234".into()),
                    ..Default::default()
                }),
        ];
        for (h, p) in [
            ("non.matching.com", "/s1"),
            ("foo.nonmatchingwildcard.io", "/s1"),
            ("foo.wildcard.io", "/s1"),
            ("very.specific.com", "/non-matching-prefix"),
        ] {
            cases.push(c(h, p).status(404));
        }
        for h in ["foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"] {
            cases.push(c(h, "/s2").backend(v2));
        }
        for (h, p) in [
            ("non.matching.com", "/s2"),
            ("wildcard.io", "/s2"),
            ("very.specific.com", "/s2"),
            ("foo.wildcard.io", "/non-matching-prefix"),
        ] {
            cases.push(c(h, p).status(404));
        }
        cases.push(c("very.specific.com", "/s3").backend(v3));
        for (h, p) in [
            ("non.matching.com", "/s3"),
            ("foo.specific.com", "/s3"),
            ("foo.wildcard.io", "/s3"),
        ] {
            cases.push(c(h, p).status(404));
        }
        for h in [
            "foo.anotherwildcard.io",
            "bar.anotherwildcard.io",
            "foo.bar.anotherwildcard.io",
        ] {
            cases.push(c(h, "/s4").backend(v1));
        }
        for (h, p) in [
            ("anotherwildcard.io", "/s4"),
            ("foo.wildcard.io", "/s4"),
            ("very.specific.com", "/s4"),
            ("foo.anotherwildcard.io", "/non-matching-prefix"),
        ] {
            cases.push(c(h, p).status(404));
        }
        s.expect(gw, cases).await?;
        // A route whose hostnames intersect no listener is not accepted.
        s.route_condition(
            INFRA,
            "no-intersecting-hosts",
            gwid,
            "Accepted",
            "False",
            Some("NoMatchingListenerHostname"),
        )
        .await?;
        s.expect(
            gw,
            vec![
                c("specific.but.wrong.com", "/s5").status(404),
                c("wildcard.io", "/s5").status(404),
            ],
        )
        .await?;
        s.gateway_listeners(
            INFRA,
            gwid.1,
            &[
                le("listener-1", 2),
                le("listener-2", 1),
                le("listener-3", 1),
            ],
        )
        .await?;
        let all = s
            .routes_accepted(
                (INFRA, "httproute-hostname-intersection-all"),
                &[(INFRA, "httproute-hostname-intersection-all")],
            )
            .await?;
        let mut cases: Vec<Case> = ["first.com", "sub.first.com", "second.com", "sub.second.com"]
            .iter()
            .map(|h| c(h, "/").backend(v2))
            .collect();
        cases.extend(
            ["third.com", "sub.third.com"]
                .iter()
                .map(|h| c(h, "/").status(404)),
        );
        s.expect(all, cases).await
    })
}

fn le(name: &'static str, attached: i64) -> crate::suite::ListenerExpect {
    crate::suite::ListenerExpect {
        name,
        kinds: &["HTTPRoute"],
        attached,
        conditions: &[("Accepted", "True", None), ("ResolvedRefs", "True", None)],
    }
}

fn listener_hostname_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gwid = (INFRA, "httproute-listener-hostname-matching");
        let gw = s
            .routes_accepted(
                gwid,
                &[
                    (INFRA, "backend-v1"),
                    (INFRA, "backend-v2"),
                    (INFRA, "backend-v3"),
                ],
            )
            .await?;
        s.expect(
            gw,
            vec![
                c("bar.com", "/").backend("infra-backend-v1"),
                c("foo.bar.com", "/").backend("infra-backend-v2"),
                c("baz.bar.com", "/").backend("infra-backend-v3"),
                c("boo.bar.com", "/").backend("infra-backend-v3"),
                c("multiple.prefixes.bar.com", "/").backend("infra-backend-v3"),
                c("multiple.prefixes.foo.com", "/").backend("infra-backend-v3"),
                c("foo.com", "/").status(404),
                c("no.matching.host", "/").status(404),
            ],
        )
        .await
    })
}

fn request_header_modifier(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "request-header-modifier")])
            .await?;
        let v1 = "infra-backend-v1";
        let exp = |headers: &[(&str, &str)], absent: &[&str]| ExpectedRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            absent_headers: absent.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        s.expect(
            gw,
            vec![
                c("", "/set")
                    .header("Some-Other-Header", "val")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Set", "set-overwrites-values"),
                        ],
                        &[],
                    )),
                c("", "/set")
                    .header("Some-Other-Header", "val")
                    .header("X-Header-Set", "some-other-value")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Set", "set-overwrites-values"),
                        ],
                        &[],
                    )),
                c("", "/add")
                    .header("Some-Other-Header", "val")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Add", "add-appends-values"),
                        ],
                        &[],
                    )),
                c("", "/add")
                    .header("Some-Other-Header", "val")
                    .header("X-Header-Add", "some-other-value")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Add", "some-other-value,add-appends-values"),
                        ],
                        &[],
                    )),
                c("", "/remove")
                    .header("X-Header-Remove", "val")
                    .backend(v1)
                    .expect(exp(&[], &["X-Header-Remove"])),
                c("", "/multiple")
                    .header("X-Header-Set-2", "set-val-2")
                    .header("X-Header-Add-2", "add-val-2")
                    .header("X-Header-Remove-2", "remove-val-2")
                    .header("Another-Header", "another-header-val")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("X-Header-Set-1", "header-set-1"),
                            ("X-Header-Set-2", "header-set-2"),
                            ("X-Header-Add-1", "header-add-1"),
                            ("X-Header-Add-2", "add-val-2,header-add-2"),
                            ("X-Header-Add-3", "header-add-3"),
                            ("Another-Header", "another-header-val"),
                        ],
                        &["X-Header-Remove-1", "X-Header-Remove-2"],
                    )),
                c("", "/case-insensitivity")
                    .header("x-header-set", "original-val-set")
                    .header("x-header-add", "original-val-add")
                    .header("x-header-remove", "original-val-remove")
                    .header("Another-Header", "another-header-val")
                    .backend(v1)
                    .expect(exp(
                        &[
                            ("X-Header-Set", "header-set"),
                            ("X-Header-Add", "original-val-add,header-add"),
                            ("Another-Header", "another-header-val"),
                        ],
                        &["x-header-remove"],
                    )),
            ],
        )
        .await
    })
}

fn redirect_host_and_status(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "redirect-host-and-status")])
            .await?;
        let to = |path: &str| ExpectedRedirect {
            host: Some("example.org".into()),
            path: Some(path.into()),
            ..Default::default()
        };
        s.expect(
            gw,
            vec![
                c("", "/hostname-redirect").redirect(302, to("/hostname-redirect")),
                c("", "/host-and-status").redirect(301, to("/host-and-status")),
            ],
        )
        .await
    })
}

async fn invalid_backend(s: &Suite, route: &str, reason: &str, path: &str) -> Result<(), String> {
    let gw = s.routes_accepted(SAME, &[(INFRA, route)]).await?;
    s.route_condition(INFRA, route, SAME, "ResolvedRefs", "False", Some(reason))
        .await?;
    s.expect(gw, vec![c("", path).status(500)]).await
}

fn invalid_nonexistent_backend(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "invalid-nonexistent-backend-ref",
        "BackendNotFound",
        "/",
    ))
}

fn invalid_unknown_kind(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "invalid-backend-ref-unknown-kind",
        "InvalidKind",
        "/v2",
    ))
}

fn invalid_cross_ns_backend(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "invalid-cross-namespace-backend-ref",
        "RefNotPermitted",
        "/",
    ))
}

fn reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "reference-grant")])
            .await?;
        s.expect(gw, vec![c("", "/").backend("web-backend").namespace(WEB)])
            .await
    })
}

fn invalid_reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid_backend(
        s,
        "reference-grant",
        "RefNotPermitted",
        "/",
    ))
}

fn partially_invalid_reference_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let route = "invalid-reference-grant";
        let gw = s.routes_accepted(SAME, &[(INFRA, route)]).await?;
        s.route_condition(
            INFRA,
            route,
            SAME,
            "ResolvedRefs",
            "False",
            Some("RefNotPermitted"),
        )
        .await?;
        s.expect(
            gw,
            vec![
                c("", "/v2").status(500),
                c("", "/").backend("app-backend-v1").namespace(APP),
            ],
        )
        .await
    })
}

fn weight(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "weighted-backends")])
            .await?;
        s.expect(gw, vec![c("", "/")]).await.or_else(|e| {
            if e.contains("backend pod") {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        // 500 requests, 10 at a time: v1 70% ±5, v2 30% ±5, v3 never; up to 10 tries.
        let mut last = String::new();
        let req = c("", "/").request;
        for _ in 0..10 {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for _ in 0..50 {
                let batch = futures_util::future::join_all(
                    (0..10).map(|_| crate::http::round_trip(gw, &req)),
                )
                .await;
                for r in batch {
                    let r = r.map_err(|e| format!("{e:#}"))?;
                    let pod = r
                        .echo
                        .as_ref()
                        .and_then(|e| e["pod"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    let backend = ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"]
                        .into_iter()
                        .find(|b| pod.starts_with(b))
                        .unwrap_or("other");
                    *counts.entry(backend.into()).or_default() += 1;
                }
            }
            let share = |b: &str| *counts.get(b).unwrap_or(&0) as f64 / 500.0;
            if counts.len() == 2
                && (share("infra-backend-v1") - 0.7).abs() <= 0.05
                && (share("infra-backend-v2") - 0.3).abs() <= 0.05
            {
                return Ok(());
            }
            last = format!("{counts:?}");
        }
        Err(format!("weights not within tolerance: {last}"))
    })
}

fn observed_generation_bump(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let route = "observed-generation-bump";
        s.routes_accepted(SAME, &[(INFRA, route)]).await?;
        let before = generation(s, "HTTPRoute", INFRA, route).await?;
        s.patch("httproute-observed-generation-bump.yaml", |docs| {
            docs[0]["spec"]["rules"][0]["backendRefs"][0]["name"] = "infra-backend-v2".into();
        })?;
        s.wait_for("generation bumped", |doc| {
            let r = crate::suite::find(doc, "HTTPRoute", INFRA, route)?;
            if r["metadata"]["generation"].as_i64() > Some(before) {
                Ok(())
            } else {
                Err("generation unchanged".into())
            }
        })
        .await?;
        s.route_condition(INFRA, route, SAME, "Accepted", "True", None)
            .await
    })
}

pub(crate) async fn generation(s: &Suite, kind: &str, ns: &str, name: &str) -> Result<i64, String> {
    s.wait_for("generation", |doc| {
        crate::suite::find(doc, kind, ns, name)
            .map(|o| o["metadata"]["generation"].as_i64().unwrap_or(0))
    })
    .await
}

fn path_match_order(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "path-matching-order")])
            .await?;
        s.expect(
            gw,
            vec![
                c("", "/match/exact/one").backend("infra-backend-v3"),
                c("", "/match/exact").backend("infra-backend-v2"),
                c("", "/match").backend("infra-backend-v1"),
                c("", "/match/prefix/one/any").backend("infra-backend-v2"),
                c("", "/match/prefix/any").backend("infra-backend-v1"),
                c("", "/match/any").backend("infra-backend-v3"),
            ],
        )
        .await
    })
}

fn multiple_gateways(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let a = s
            .routes_accepted(
                SAME,
                &[
                    (INFRA, "multiple-gateways-shared-route"),
                    (INFRA, "same-namespace-dedicated-route"),
                ],
            )
            .await?;
        let b = s
            .routes_accepted(
                (INFRA, "all-namespaces"),
                &[
                    (INFRA, "multiple-gateways-shared-route"),
                    (INFRA, "all-namespaces-dedicated-route"),
                ],
            )
            .await?;
        s.expect(
            a,
            vec![
                c("", "/shared").backend("infra-backend-v1"),
                c("", "/").backend("infra-backend-v2"),
            ],
        )
        .await?;
        s.expect(
            b,
            vec![
                c("", "/shared").backend("infra-backend-v1"),
                c("", "/").backend("infra-backend-v3"),
            ],
        )
        .await
    })
}

fn invalid_cross_ns_parent(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.route_rejected(
        WEB,
        "invalid-cross-namespace-parent-ref",
        SAME,
        "NotAllowedByListeners",
        true,
    ))
}

/// An HTTPRoute whose only parent listener allows only TLSRoutes.
fn disallowed_kind(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.route_rejected(
        INFRA,
        "disallowed-kind",
        (INFRA, "tlsroutes-only"),
        "NotAllowedByListeners",
        true,
    ))
}

/// parentRef port 81 where the Gateway listens on 80.
fn parent_not_matching_port(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.route_rejected(
        INFRA,
        "httproute-listener-not-matching-route-port",
        SAME,
        "NoMatchingParent",
        true,
    ))
}

/// Four HTTPS listeners on port 443: a request whose Host belongs to another listener than
/// the one its SNI chose is answered 421 (HTTP/2, a new connection per request).
fn detect_misdirected(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let routes: Vec<(&str, String)> = (1..=4)
            .map(|i| {
                (
                    INFRA,
                    format!("https-listener-detect-misdirected-requests-test-{i}"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = routes.iter().map(|(n, r)| (*n, r.as_str())).collect();
        let gw_name = (INFRA, "same-namespace-with-https-listener");
        let gw = s.routes_accepted(gw_name, &refs).await?;
        for (ns, r) in &refs {
            s.route_condition(ns, r, gw_name, "ResolvedRefs", "True", Some("ResolvedRefs"))
                .await?;
        }
        let pin = s
            .cluster
            .certificates
            .get("gateway-conformance-infra/tls-validity-checks-certificate")
            .cloned()
            .ok_or("no certificate")?;
        let case = |sni: &str, host: &str, status: u16, backend: &str| {
            let mut c = c(host, "/detect-misdirected-requests");
            c = if status == 200 {
                c.backend(backend)
            } else {
                c.status(status)
            };
            c.request.tls_pin = Some(pin.clone());
            c.request.sni = Some(sni.into());
            c.request.h2c = true;
            c
        };
        let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
        s.expect(
            gw,
            vec![
                case("example.org", "example.org", 200, v1),
                case("example.org", "second-example.org", 421, ""),
                case("example.org", "unknown-example.org", 404, ""),
                case("second-example.org", "second-example.org", 200, v2),
                case("second-example.org", "example.org", 421, ""),
                case("second-example.org", "unknown-example.org", 421, ""),
                case(
                    "third-example.wildcard.org",
                    "third-example.wildcard.org",
                    200,
                    v3,
                ),
                case(
                    "third-example.wildcard.org",
                    "fith-example.wildcard.org",
                    200,
                    v3,
                ),
                case(
                    "third-example.wildcard.org",
                    "fourth-example.wildcard.org",
                    421,
                    "",
                ),
                case("third-example.wildcard.org", "second-example.org", 421, ""),
                case("third-example.wildcard.org", "unknown-example.org", 421, ""),
                case(
                    "fourth-example.wildcard.org",
                    "fourth-example.wildcard.org",
                    200,
                    v1,
                ),
                case(
                    "fourth-example.wildcard.org",
                    "fith-example.wildcard.org",
                    421,
                    "",
                ),
                case("unknown-example.org", "example.org", 200, v1),
                case("unknown-example.org", "unknown-example.org", 404, ""),
            ],
        )
        .await
    })
}

fn parent_not_matching_section(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.route_rejected(
        INFRA,
        "httproute-listener-not-matching-section-name",
        SAME,
        "NoMatchingParent",
        false,
    ))
}

fn https_listener(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gwid = (INFRA, "same-namespace-with-https-listener");
        let gw = s
            .routes_accepted(
                gwid,
                &[
                    (INFRA, "httproute-https-test"),
                    (INFRA, "httproute-https-test-no-hostname"),
                ],
            )
            .await?;
        let pin = s
            .cluster
            .certificates
            .get("gateway-conformance-infra/tls-validity-checks-certificate")
            .cloned()
            .ok_or("no certificate")?;
        let tls = |mut c: Case| {
            c.request.tls_pin = Some(pin.clone());
            c
        };
        s.expect(
            gw,
            vec![
                tls(c("example.org", "/").backend("infra-backend-v1")),
                tls(c("unknown-example.org", "/").status(404)),
                tls(c("second-example.org", "/").backend("infra-backend-v2")),
            ],
        )
        .await
    })
}

fn service_types(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        // As the upstream test does: fill the hand-written IPv4 EndpointSlices with the
        // infra-backend-v1 pods' addresses (the pods have no IPv6 address here).
        let endpoints: Vec<serde_json::Value> = s
            .cluster
            .pods
            .iter()
            .filter(|p| p.app == "infra-backend-v1")
            .map(|p| serde_json::json!({ "addresses": [p.ip.to_string()], "conditions": { "ready": true, "serving": true } }))
            .collect();
        s.patch("httproute-service-types.yaml", |docs| {
            for d in docs
                .iter_mut()
                .filter(|d| d["kind"] == "EndpointSlice" && d["addressType"] == "IPv4")
            {
                d["endpoints"] = serde_json::Value::Array(endpoints.clone());
            }
        })?;
        let gw = s.routes_accepted(SAME, &[(INFRA, "service-types")]).await?;
        s.expect(
            gw,
            vec![
                c("", "/manual-endpointslices").backend("infra-backend-v1"),
                c("", "/headless").backend("infra-backend-v1"),
                c("", "/headless-manual-endpointslices").backend("infra-backend-v1"),
            ],
        )
        .await
    })
}

fn no_backend_refs(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let route = "omitted-backendrefs";
        let gw = s.gateway_address(INFRA, "same-namespace").await?;
        s.route_condition(
            INFRA,
            route,
            SAME,
            "ResolvedRefs",
            "True",
            Some("ResolvedRefs"),
        )
        .await?;
        // HTTPRouteMustHaveParents with the namespace required to be absent.
        s.wait_for("one parent without a namespace, Accepted", |doc| {
            let r = crate::suite::find(doc, "HTTPRoute", INFRA, route)?;
            let parents = r["status"]["parents"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let [p] = parents.as_slice() else {
                return Err(format!("{} parents", parents.len()));
            };
            if !p["parentRef"]["namespace"].is_null() {
                return Err(format!(
                    "parentRef.namespace is {}",
                    p["parentRef"]["namespace"]
                ));
            }
            crate::suite::has_condition(&p["conditions"], "Accepted", "True", None)
        })
        .await?;
        s.expect(
            gw,
            vec![
                c("", "/forward").backend("infra-backend-v1"),
                c("", "/omitted-no-forward").status(500),
                c("", "/empty-no-forward").status(500),
            ],
        )
        .await
    })
}
