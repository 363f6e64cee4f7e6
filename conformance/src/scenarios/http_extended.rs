//! GATEWAY-HTTP extended features.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use crate::http::{Case, ExpectedRedirect, ExpectedRequest, expect_eventually};
use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};

const SAME: (&str, &str) = (INFRA, "same-namespace");

fn c(host: &str, path: &str) -> Case {
    Case::get(host, path)
}

macro_rules! features {
    ($($f:literal),*) => { &["Gateway", "HTTPRoute", $($f),*] };
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "HTTPRouteQueryParamMatching",
            features: features!("HTTPRouteQueryParamMatching"),
            manifests: &["httproute-query-param-matching.yaml"],
            run: query_param_matching,
        },
        Scenario {
            name: "HTTPRouteMethodMatching",
            features: features!("HTTPRouteMethodMatching"),
            manifests: &["httproute-method-matching.yaml"],
            run: method_matching,
        },
        Scenario {
            name: "HTTPRouteResponseHeaderModifier",
            features: features!("HTTPRouteResponseHeaderModification"),
            manifests: &["httproute-response-header-modifier.yaml"],
            run: response_header_modifier,
        },
        Scenario {
            name: "HTTPRouteBackendRequestHeaderModifier",
            features: features!("HTTPRouteBackendRequestHeaderModification"),
            manifests: &["httproute-request-header-modifier-backend.yaml"],
            run: backend_request_header_modifier,
        },
        Scenario {
            name: "HTTPRouteRequestHeaderModifierBackendWeights",
            features: features!("HTTPRouteBackendRequestHeaderModification"),
            manifests: &["httproute-request-header-modifier-backend-weights.yaml"],
            run: backend_weights_with_filters,
        },
        Scenario {
            name: "HTTPRouteRedirectPort",
            features: features!("HTTPRoutePortRedirect"),
            manifests: &["httproute-redirect-port.yaml"],
            run: redirect_port,
        },
        Scenario {
            name: "HTTPRouteRedirectScheme",
            features: features!("HTTPRouteSchemeRedirect"),
            manifests: &["httproute-redirect-scheme.yaml"],
            run: redirect_scheme,
        },
        Scenario {
            name: "HTTPRouteRedirectPath",
            features: features!("HTTPRoutePathRedirect"),
            manifests: &["httproute-redirect-path.yaml"],
            run: redirect_path,
        },
        Scenario {
            name: "HTTPRouteRedirectPortAndScheme",
            features: features!("HTTPRoutePortRedirect", "GatewayPort8080"),
            manifests: &["httproute-redirect-port-and-scheme.yaml"],
            run: redirect_port_and_scheme,
        },
        Scenario {
            name: "HTTPRoute303Redirect",
            features: features!("HTTPRoute303RedirectStatusCode"),
            manifests: &["httproute-303-redirect.yaml"],
            run: redirect_303,
        },
        Scenario {
            name: "HTTPRoute307Redirect",
            features: features!("HTTPRoute307RedirectStatusCode"),
            manifests: &["httproute-307-redirect.yaml"],
            run: redirect_307,
        },
        Scenario {
            name: "HTTPRoute308Redirect",
            features: features!("HTTPRoute308RedirectStatusCode"),
            manifests: &["httproute-308-redirect.yaml"],
            run: redirect_308,
        },
        Scenario {
            name: "HTTPRouteRewriteHost",
            features: features!("HTTPRouteHostRewrite"),
            manifests: &["httproute-rewrite-host.yaml"],
            run: rewrite_host,
        },
        Scenario {
            name: "HTTPRouteRewritePath",
            features: features!("HTTPRoutePathRewrite"),
            manifests: &["httproute-rewrite-path.yaml"],
            run: rewrite_path,
        },
        Scenario {
            name: "HTTPRouteBackendProtocolH2C",
            features: features!("HTTPRouteBackendProtocolH2C"),
            manifests: &["httproute-backend-protocol-h2c.yaml"],
            run: backend_h2c,
        },
        Scenario {
            name: "HTTPRouteBackendProtocolWebSocket",
            features: features!("HTTPRouteBackendProtocolWebSocket"),
            manifests: &["httproute-backend-protocol-websocket.yaml"],
            run: backend_websocket,
        },
        Scenario {
            name: "HTTPRouteTimeoutRequest",
            features: features!("HTTPRouteRequestTimeout"),
            manifests: &["httproute-timeout-request.yaml"],
            run: timeout_request,
        },
        Scenario {
            name: "HTTPRouteTimeoutBackendRequest",
            features: features!("HTTPRouteBackendTimeout"),
            manifests: &["httproute-timeout-backend-request.yaml"],
            run: timeout_backend_request,
        },
        Scenario {
            name: "HTTPRouteRequestMirror",
            features: features!("HTTPRouteRequestMirror"),
            manifests: &["httproute-request-mirror.yaml"],
            run: request_mirror,
        },
        Scenario {
            name: "HTTPRouteRequestMultipleMirrors",
            features: features!("HTTPRouteRequestMirror", "HTTPRouteRequestMultipleMirrors"),
            manifests: &["httproute-request-multiple-mirrors.yaml"],
            run: multiple_mirrors,
        },
        Scenario {
            name: "HTTPRouteNamedRule",
            features: features!("HTTPRouteNamedRouteRule"),
            manifests: &["httproute-named-rule.yaml"],
            run: named_rule,
        },
        Scenario {
            name: "GatewayHTTPListenerIsolation",
            features: features!("GatewayHTTPListenerIsolation"),
            manifests: &[
                "gateway-http-listener-isolation.yaml",
                "gateway-http-listener-isolation-with-hostname-intersection.yaml",
            ],
            run: listener_isolation,
        },
        Scenario {
            name: "GatewayWithAttachedRoutesWithPort8080",
            features: features!("GatewayPort8080"),
            manifests: &["gateway-with-attached-routes-with-port-8080.yaml"],
            run: attached_routes_port_8080,
        },
        Scenario {
            name: "HTTPRouteListenerPortMatching",
            features: features!("HTTPRouteParentRefPort"),
            manifests: &["httproute-listener-port-matching.yaml"],
            run: listener_port_matching,
        },
        Scenario {
            name: "HTTPRouteInvalidParentRefSectionNameNotMatchingPort",
            features: features!("HTTPRouteParentRefPort"),
            manifests: &["httproute-invalid-parentref-section-name-not-matching-port.yaml"],
            run: section_name_not_matching_port,
        },
        Scenario {
            name: "HTTPRouteRetry",
            features: features!("HTTPRouteRetry"),
            manifests: &["httproute-retry.yaml"],
            run: retry,
        },
        Scenario {
            name: "HTTPRouteCORS",
            features: features!("HTTPRouteCORS"),
            manifests: &["httproute-cors.yaml"],
            run: cors_scenario,
        },
        Scenario {
            name: "HTTPRouteRequestPercentageMirror",
            features: features!("HTTPRouteRequestPercentageMirror"),
            manifests: &["httproute-request-percentage-mirror.yaml"],
            run: percentage_mirror,
        },
    ]
}

async fn ready(s: &Suite, gw: (&str, &str), route: &str) -> Result<SocketAddr, String> {
    let addr = s.routes_accepted(gw, &[(INFRA, route)]).await?;
    s.route_condition(
        INFRA,
        route,
        gw,
        "ResolvedRefs",
        "True",
        Some("ResolvedRefs"),
    )
    .await?;
    Ok(addr)
}

fn hdrs(pairs: &[(&str, &str)], absent: &[&str]) -> ExpectedRequest {
    ExpectedRequest {
        headers: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        absent_headers: absent.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn query_param_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "query-param-matching").await?;
        let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
        s.expect(
            gw,
            vec![
                c("", "/?animal=whale").backend(v1),
                c("", "/?animal=dolphin").backend(v2),
                c("", "/?animal=dolphin&color=blue").backend(v3),
                c("", "/?ANIMAL=Whale").backend(v3),
                c("", "/?animal=whale&otherparam=irrelevant").backend(v1),
                c("", "/?animal=dolphin&color=yellow").backend(v2),
                c("", "/?color=blue").status(404),
                c("", "/?animal=dog").status(404),
                c("", "/?animal=whaledolphin").status(404),
                c("", "/").status(404),
                c("", "/path1?animal=whale").backend(v1),
                c("", "/?animal=whale").header("version", "one").backend(v2),
                c("", "/path2?animal=whale")
                    .header("version", "two")
                    .backend(v3),
                c("", "/path3?animal=shark").backend(v1),
                c("", "/path4?animal=kraken")
                    .header("version", "three")
                    .backend(v1),
                c("", "/?animal=shark").status(404),
                c("", "/path4?animal=kraken").status(404),
                c("", "/path5?animal=hydra").backend(v1),
                c("", "/?animal=hydra")
                    .header("version", "four")
                    .backend(v3),
            ],
        )
        .await
    })
}

fn method_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "method-matching").await?;
        let (v1, v2, v3) = ("infra-backend-v1", "infra-backend-v2", "infra-backend-v3");
        s.expect(
            gw,
            vec![
                c("", "/").method("POST").backend(v1),
                c("", "/").method("GET").backend(v2),
                c("", "/").method("HEAD").status(404),
                c("", "/path1").backend(v1),
                c("", "/")
                    .method("PUT")
                    .header("version", "one")
                    .backend(v2),
                c("", "/path2")
                    .method("POST")
                    .header("version", "two")
                    .backend(v3),
                c("", "/path3").method("PATCH").backend(v1),
                c("", "/path4")
                    .method("DELETE")
                    .header("version", "three")
                    .backend(v1),
                c("", "/").method("PUT").status(404),
                c("", "/path4").method("DELETE").status(404),
                c("", "/path5").method("PATCH").backend(v1),
                c("", "/")
                    .method("PATCH")
                    .header("version", "four")
                    .backend(v2),
            ],
        )
        .await
    })
}

fn response_header_modifier(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "response-header-modifier").await?;
        let v1 = "infra-backend-v1";
        s.expect(
            gw,
            vec![
                c("", "/set")
                    .backend(v1)
                    .backend_sets(&[("Some-Other-Header", "val")])
                    .response_headers(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Set", "set-overwrites-values"),
                        ],
                        &[],
                    ),
                c("", "/set")
                    .backend(v1)
                    .backend_sets(&[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Set", "some-other-value"),
                    ])
                    .response_headers(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Set", "set-overwrites-values"),
                        ],
                        &[],
                    ),
                c("", "/add")
                    .backend(v1)
                    .backend_sets(&[("Some-Other-Header", "val")])
                    .response_headers(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Add", "add-appends-values"),
                        ],
                        &[],
                    ),
                c("", "/add")
                    .backend(v1)
                    .backend_sets(&[
                        ("Some-Other-Header", "val"),
                        ("X-Header-Add", "some-other-value"),
                    ])
                    .response_headers(
                        &[
                            ("Some-Other-Header", "val"),
                            ("X-Header-Add", "some-other-value,add-appends-values"),
                        ],
                        &[],
                    ),
                c("", "/remove")
                    .backend(v1)
                    .backend_sets(&[("X-Header-Remove", "val")])
                    .response_headers(&[], &["X-Header-Remove"]),
                c("", "/multiple")
                    .backend(v1)
                    .backend_sets(&[
                        ("X-Header-Set-2", "set-val-2"),
                        ("X-Header-Add-2", "add-val-2"),
                        ("X-Header-Remove-2", "remove-val-2"),
                        ("Another-Header", "another-header-val"),
                        ("X-Header-Remove-1", "val"),
                    ])
                    .response_headers(
                        &[
                            ("X-Header-Set-1", "header-set-1"),
                            ("X-Header-Set-2", "header-set-2"),
                            ("X-Header-Add-1", "header-add-1"),
                            ("X-Header-Add-2", "add-val-2,header-add-2"),
                            ("X-Header-Add-3", "header-add-3"),
                            ("Another-Header", "another-header-val"),
                        ],
                        &["X-Header-Remove-1", "X-Header-Remove-2"],
                    ),
                c("", "/case-insensitivity")
                    .backend(v1)
                    .backend_sets(&[
                        ("x-header-set", "original-val-set"),
                        ("x-header-add", "original-val-add"),
                        ("x-header-remove", "original-val-remove"),
                        ("Another-Header", "another-header-val"),
                    ])
                    .response_headers(
                        &[
                            ("X-Header-Set", "header-set"),
                            ("X-Header-Add", "original-val-add,header-add"),
                            ("X-Lowercase-Add", "lowercase-add"),
                            ("X-Mixedcase-Add-1", "mixedcase-add-1"),
                            ("X-Mixedcase-Add-2", "mixedcase-add-2"),
                            ("X-Uppercase-Add", "uppercase-add"),
                            ("Another-Header", "another-header-val"),
                        ],
                        &["x-header-remove"],
                    ),
                c("", "/response-and-request-header-modifiers")
                    .backend(v1)
                    .header("X-Header-Remove", "remove-val")
                    .header("X-Header-Add-Append", "append-val-1")
                    .header("X-Header-Echo", "echo")
                    .backend_sets(&[
                        ("X-Header-Set-2", "set-val-2"),
                        ("X-Header-Add-2", "add-val-2"),
                        ("X-Header-Remove-2", "remove-val-2"),
                        ("Another-Header", "another-header-val"),
                        ("X-Header-Remove-1", "remove-val-1"),
                        ("X-Header-Echo", "echo"),
                    ])
                    .expect(ExpectedRequest {
                        path: Some("/response-and-request-header-modifiers".into()),
                        ..hdrs(
                            &[
                                ("X-Header-Add", "header-val-1"),
                                ("X-Header-Set", "set-overwrites-values"),
                                ("X-Header-Add-Append", "append-val-1,header-val-2"),
                                ("X-Header-Echo", "echo"),
                            ],
                            &["X-Header-Remove"],
                        )
                    })
                    .response_headers(
                        &[
                            ("X-Header-Set-1", "header-set-1"),
                            ("X-Header-Set-2", "header-set-2"),
                            ("X-Header-Add-1", "header-add-1"),
                            ("X-Header-Add-2", "add-val-2,header-add-2"),
                            ("Another-Header", "another-header-val"),
                            ("X-Header-Echo", "echo"),
                        ],
                        &["X-Header-Remove-1", "X-Header-Remove-2"],
                    ),
            ],
        )
        .await
    })
}

fn backend_request_header_modifier(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "request-header-modifier").await?;
        let v1 = "infra-backend-v1";
        s.expect(
            gw,
            vec![
                c("", "/set")
                    .header("Some-Other-Header", "val")
                    .backend(v1)
                    .expect(hdrs(
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
                    .expect(hdrs(
                        &[
                            ("X-Header-Set", "set-overwrites-values"),
                            ("Some-Other-Header", "val"),
                        ],
                        &[],
                    )),
                c("", "/add")
                    .header("Some-Other-Header", "val")
                    .backend(v1)
                    .expect(hdrs(
                        &[
                            ("X-Header-Add", "add-appends-values"),
                            ("Some-Other-Header", "val"),
                        ],
                        &[],
                    )),
                c("", "/add")
                    .header("Some-Other-Header", "val")
                    .header("X-Header-Add", "some-other-value")
                    .backend(v1)
                    .expect(hdrs(
                        &[("X-Header-Add", "some-other-value,add-appends-values")],
                        &[],
                    )),
                c("", "/remove")
                    .header("X-Header-Remove", "val")
                    .backend(v1)
                    .expect(hdrs(&[], &["X-Header-Remove"])),
                c("", "/multiple")
                    .header("X-Header-Set-2", "set-val-2")
                    .header("X-Header-Add-2", "add-val-2")
                    .header("X-Header-Remove-2", "remove-val-2")
                    .header("Another-Header", "another-header-val")
                    .backend(v1)
                    .expect(hdrs(
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
                    .expect(hdrs(
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

fn backend_weights_with_filters(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "request-header-modifier-backend-weights").await?;
        s.expect(gw, vec![c("", "/")]).await.or_else(|e| {
            if e.contains("backend pod") {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        // Each backend's own filter names it: every request must carry exactly the name of
        // the backend that answered.
        let req = c("", "/").request;
        for i in 0..100 {
            let r = crate::http::round_trip(gw, &req)
                .await
                .map_err(|e| format!("request {i}: {e:#}"))?;
            let echo = r.echo.ok_or(format!("request {i}: no echo reply"))?;
            let values: Vec<&str> = echo["headers"]["Backend"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            let pod = echo["pod"].as_str().unwrap_or("");
            match values.as_slice() {
                [b] if pod.starts_with(b) => {}
                other => return Err(format!("request {i}: pod {pod} saw Backend {other:?}")),
            }
        }
        Ok(())
    })
}

fn to(
    scheme: Option<&str>,
    host: Option<&str>,
    port: Option<&str>,
    path: Option<&str>,
) -> ExpectedRedirect {
    ExpectedRedirect {
        scheme: scheme.map(Into::into),
        host: host.map(Into::into),
        port: port.map(Into::into),
        path: path.map(Into::into),
    }
}

fn redirect_port(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "redirect-port").await?;
        s.expect(
            gw,
            vec![
                c("", "/port").redirect(302, to(None, None, Some("8083"), Some("/port"))),
                c("", "/port-and-host").redirect(
                    302,
                    to(
                        None,
                        Some("example.org"),
                        Some("8083"),
                        Some("/port-and-host"),
                    ),
                ),
                c("", "/port-and-status")
                    .redirect(301, to(None, None, Some("8083"), Some("/port-and-status"))),
                c("", "/port-and-host-and-status")
                    .redirect(302, to(None, Some("example.org"), Some("8083"), None)),
            ],
        )
        .await
    })
}

fn redirect_scheme(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "redirect-scheme").await?;
        let https = Some("https");
        s.expect(
            gw,
            vec![
                c("", "/scheme").redirect(302, to(https, None, None, None)),
                c("", "/scheme-and-host").redirect(302, to(https, Some("example.org"), None, None)),
                c("", "/scheme-and-status").redirect(301, to(https, None, None, None)),
                c("", "/scheme-and-host-and-status")
                    .redirect(302, to(https, Some("example.org"), None, None)),
            ],
        )
        .await
    })
}

fn redirect_path(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "redirect-path").await?;
        let host = Some("example.org");
        s.expect(
            gw,
            vec![
                c("", "/original-prefix/lemon")
                    .redirect(302, to(None, None, None, Some("/replacement-prefix/lemon"))),
                c("", "/full/path/original")
                    .redirect(302, to(None, None, None, Some("/full-path-replacement"))),
                c("", "/path-and-host")
                    .redirect(302, to(None, host, None, Some("/replacement-prefix"))),
                c("", "/path-and-status")
                    .redirect(301, to(None, None, None, Some("/replacement-prefix"))),
                c("", "/full-path-and-host")
                    .redirect(302, to(None, host, None, Some("/replacement-full"))),
                c("", "/full-path-and-status")
                    .redirect(301, to(None, None, None, Some("/replacement-full"))),
            ],
        )
        .await
    })
}

fn redirect_port_and_scheme(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw80 = ready(s, SAME, "http-route-for-listener-on-port-80").await?;
        let gw8080 = ready(
            s,
            (INFRA, "same-namespace-with-http-listener-on-8080"),
            "http-route-for-listener-on-port-8080",
        )
        .await?;
        let gw443 = ready(
            s,
            (INFRA, "same-namespace-with-https-listener"),
            "http-route-for-listener-on-port-443",
        )
        .await?;
        let host = Some("example.org");
        let r = |path: &str, scheme: Option<&str>, port: Option<&str>| {
            c("", path).redirect(302, to(scheme, host, port, None))
        };
        s.expect(
            gw80,
            vec![
                r("/scheme-nil-and-port-nil", None, None),
                r("/scheme-nil-and-port-80", None, None),
                r("/scheme-nil-and-port-8080", None, Some("8080")),
                r("/scheme-https-and-port-nil", Some("https"), None),
                r("/scheme-https-and-port-443", Some("https"), None),
                r("/scheme-https-and-port-8443", Some("https"), Some("8443")),
            ],
        )
        .await?;
        s.expect(
            gw8080,
            vec![
                r("/scheme-nil-and-port-nil", None, Some("8080")),
                r("/scheme-nil-and-port-80", None, None),
                r("/scheme-https-and-port-nil", Some("https"), None),
            ],
        )
        .await?;
        let pin = s
            .cluster
            .certificates
            .get("gateway-conformance-infra/tls-validity-checks-certificate")
            .cloned()
            .ok_or("no certificate")?;
        let tls = |path: &str, scheme: &str, port: Option<&str>| {
            let mut c = c("example.org", path).redirect(302, to(Some(scheme), host, port, None));
            c.request.tls_pin = Some(pin.clone());
            c
        };
        s.expect(
            gw443,
            vec![
                tls("/scheme-nil-and-port-nil", "https", None),
                tls("/scheme-nil-and-port-443", "https", None),
                tls("/scheme-nil-and-port-8443", "https", Some("8443")),
                tls("/scheme-http-and-port-nil", "http", None),
                tls("/scheme-http-and-port-80", "http", None),
                tls("/scheme-http-and-port-8080", "http", Some("8080")),
            ],
        )
        .await
    })
}

async fn status_redirect(
    s: &Suite,
    route: &str,
    method: &str,
    path: &str,
    status: u16,
) -> Result<(), String> {
    let gw = ready(s, SAME, route).await?;
    s.expect(
        gw,
        vec![
            c("", path)
                .method(method)
                .redirect(status, to(None, None, None, Some(path))),
        ],
    )
    .await
}

fn redirect_303(s: &Suite) -> BoxFut<'_> {
    Box::pin(status_redirect(
        s,
        "303-redirect",
        "POST",
        "/see-other",
        303,
    ))
}

fn redirect_307(s: &Suite) -> BoxFut<'_> {
    Box::pin(status_redirect(s, "307-redirect", "GET", "/temporary", 307))
}

fn redirect_308(s: &Suite) -> BoxFut<'_> {
    Box::pin(status_redirect(s, "308-redirect", "GET", "/permanent", 308))
}

fn rewrite_host(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "rewrite-host").await?;
        let host = |h: &str| ExpectedRequest {
            host: Some(h.into()),
            ..Default::default()
        };
        s.expect(
            gw,
            vec![
                c("rewrite.example", "/one")
                    .backend("infra-backend-v1")
                    .expect(host("one.example.org")),
                c("rewrite.example", "/two")
                    .backend("infra-backend-v2")
                    .expect(host("example.org")),
                c("rewrite.example", "/rewrite-host-and-modify-headers")
                    .header("X-Header-Remove", "remove-val")
                    .header("X-Header-Add-Append", "append-val-1")
                    .backend("infra-backend-v2")
                    .expect(ExpectedRequest {
                        host: Some("test.example.org".into()),
                        ..hdrs(
                            &[
                                ("X-Header-Add", "header-val-1"),
                                ("X-Header-Add-Append", "append-val-1,header-val-2"),
                                ("X-Header-Set", "set-overwrites-values"),
                            ],
                            &["X-Header-Remove"],
                        )
                    }),
            ],
        )
        .await
    })
}

fn rewrite_path(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "rewrite-path").await?;
        let v1 = "infra-backend-v1";
        let path = |p: &str| ExpectedRequest {
            path: Some(p.into()),
            ..Default::default()
        };
        let with_headers = |p: &str| ExpectedRequest {
            path: Some(p.into()),
            ..hdrs(
                &[
                    ("X-Header-Add", "header-val-1"),
                    ("X-Header-Add-Append", "append-val-1,header-val-2"),
                    ("X-Header-Set", "set-overwrites-values"),
                ],
                &["X-Header-Remove"],
            )
        };
        let modified = |c: Case| {
            c.header("X-Header-Remove", "remove-val")
                .header("X-Header-Add-Append", "append-val-1")
                .header("X-Header-Set", "set-val")
        };
        s.expect(
            gw,
            vec![
                c("", "/prefix/one/two")
                    .backend(v1)
                    .expect(path("/one/two")),
                c("", "/strip-prefix/three")
                    .backend(v1)
                    .expect(path("/three")),
                c("", "/strip-prefix").backend(v1).expect(path("/")),
                c("", "/full/one/two").backend(v1).expect(path("/one")),
                modified(c("", "/full/rewrite-path-and-modify-headers/test"))
                    .backend(v1)
                    .expect(with_headers("/test")),
                modified(c("", "/prefix/rewrite-path-and-modify-headers/one"))
                    .backend(v1)
                    .expect(with_headers("/prefix/one")),
            ],
        )
        .await
    })
}

fn backend_h2c(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "backend-protocol-h2c")])
            .await?;
        let mut case = c("", "/").backend("infra-backend-v1");
        case.request.h2c = true;
        s.expect(gw, vec![case]).await
    })
}

fn backend_websocket(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "backend-protocol-ws")])
            .await?;
        // AwaitConvergence: three consecutive successful exchanges within the consistency time.
        let start = Instant::now();
        let mut streak = 0;
        let mut last = String::new();
        while start.elapsed() < s.timeouts.max_time_to_consistency {
            match websocket_exchange(gw).await {
                Ok(()) => {
                    streak += 1;
                    if streak >= s.timeouts.required_consecutive_successes {
                        return Ok(());
                    }
                }
                Err(e) => {
                    streak = 0;
                    last = e;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        Err(format!("websocket: {last}"))
    })
}

async fn websocket_exchange(gw: SocketAddr) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::Message;
    let stream = tokio::net::TcpStream::connect(gw)
        .await
        .map_err(|e| e.to_string())?;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{gw}/ws"),
    )
    .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "origin",
        http::HeaderValue::from_static("ws://gateway/HTTPRouteBackendProtocolWebSocket"),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, stream)
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 101 {
        return Err(format!("status {}", resp.status()));
    }
    ws.send(Message::text("Websocket Support!"))
        .await
        .map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.as_str() == "Websocket Support!" => {}
        other => return Err(format!("text echo: {other:?}")),
    }
    let bytes = vec![1u8, 2, 3, 4, 5, 6, 7];
    ws.send(Message::binary(bytes.clone()))
        .await
        .map_err(|e| e.to_string())?;
    match ws.next().await {
        Some(Ok(Message::Binary(b))) if b.as_ref() == bytes.as_slice() => Ok(()),
        other => Err(format!("binary echo: {other:?}")),
    }
}

fn named_rule(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "http-named-rules").await?;
        s.expect(gw, vec![c("", "/named"), c("", "/unnamed")]).await
    })
}

fn listener_isolation(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        for (gw, suffix) in [
            ("http-listener-isolation", ""),
            (
                "http-listener-isolation-with-hostname-intersection",
                "-with-hostname-intersection",
            ),
        ] {
            let names = [
                "empty-hostname",
                "wildcard-example-com",
                "wildcard-foo-example-com",
                "abc-foo-example-com",
            ];
            let routes: Vec<String> = names
                .iter()
                .map(|n| format!("attaches-to-{n}{suffix}"))
                .collect();
            let refs: Vec<(&str, &str)> = routes.iter().map(|r| (INFRA, r.as_str())).collect();
            let addr = s.routes_accepted((INFRA, gw), &refs).await?;
            for r in &routes {
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
            let mut cases = Vec::new();
            for (host, owner) in [
                ("bar.com", "empty-hostname"),
                ("bar.example.com", "wildcard-example-com"),
                ("bar.foo.example.com", "wildcard-foo-example-com"),
                ("abc.foo.example.com", "abc-foo-example-com"),
            ] {
                for path in names {
                    let case = c(host, &format!("/{path}"));
                    cases.push(if path == owner {
                        case.backend("infra-backend-v1")
                    } else {
                        case.status(404)
                    });
                }
            }
            s.expect(addr, cases)
                .await
                .map_err(|e| format!("{gw}: {e}"))?;
        }
        Ok(())
    })
}

fn attached_routes_port_8080(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let ok: &'static [(&str, &str, Option<&str>)] =
            &[("Accepted", "True", None), ("ResolvedRefs", "True", None)];
        s.gateway_listeners(
            INFRA,
            "gateway-with-two-listeners-and-one-attached-route",
            &[
                ListenerExpect {
                    name: "http-unattached",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: ok,
                },
                ListenerExpect {
                    name: "http",
                    kinds: &["HTTPRoute"],
                    attached: 1,
                    conditions: ok,
                },
            ],
        )
        .await
    })
}

fn listener_port_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "httproute-listener-port-matching";
        let mut addrs = Vec::new();
        for (listener, route) in [
            ("listener-1", "backend-v1"),
            ("listener-2", "backend-v2"),
            ("listener-4", "backend-v3"),
        ] {
            s.routes_accepted((INFRA, gw), &[(INFRA, route)]).await?;
            s.route_condition(
                INFRA,
                route,
                (INFRA, gw),
                "ResolvedRefs",
                "True",
                Some("ResolvedRefs"),
            )
            .await?;
            addrs.push(
                s.gateway_listener_address(INFRA, gw, Some(listener))
                    .await?,
            );
        }
        let (a80, a8080, a8090) = (addrs[0], addrs[1], addrs[2]);
        s.expect(a80, vec![c("foo.com", "/").backend("infra-backend-v1")])
            .await?;
        s.expect(
            a8080,
            vec![
                c("foo.com:8080", "/").backend("infra-backend-v2"),
                c("bar.com:8080", "/").backend("infra-backend-v2"),
            ],
        )
        .await?;
        s.expect(
            a8090,
            vec![
                c("foo.com:8090", "/").backend("infra-backend-v3"),
                c("bar.com:8090", "/").status(404),
            ],
        )
        .await
    })
}

fn section_name_not_matching_port(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.route_rejected(
        INFRA,
        "httproute-listener-section-name-not-matching-port",
        (
            INFRA,
            "gateway-with-one-not-matching-port-and-section-name-route",
        ),
        "NoMatchingParent",
        false,
    ))
}

/// The echo backend's `?delay=` outlasts a 500ms timeout (504); `0s` turns the timeout off.
async fn timeouts(s: &Suite, route: &str, timed: &str, disabled: &str) -> Result<(), String> {
    let gw = ready(s, SAME, route).await?;
    s.expect(
        gw,
        vec![
            c("", timed).backend("infra-backend-v1"),
            c("", &format!("{timed}?delay=1s")).status(504),
            c("", &format!("{disabled}?delay=1s")).backend("infra-backend-v1"),
        ],
    )
    .await
}

fn timeout_request(s: &Suite) -> BoxFut<'_> {
    Box::pin(timeouts(
        s,
        "request-timeout",
        "/request-timeout",
        "/disable-request-timeout",
    ))
}

fn timeout_backend_request(s: &Suite) -> BoxFut<'_> {
    Box::pin(timeouts(
        s,
        "backend-request-timeout",
        "/backend-timeout",
        "/disable-backend-timeout",
    ))
}

/// Log lines of the pods of `app` that contain `line`.
fn log_count(s: &Suite, app: &str, line: &str) -> usize {
    s.cluster
        .pods
        .iter()
        .filter(|p| p.app == app)
        .map(|p| {
            p.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|l| l.contains(line))
                .count()
        })
        .sum()
}

/// ExpectMirroredRequest: some pod of each mirror backend logged the request within 60 s.
async fn expect_mirrored(s: &Suite, apps: &[&str], path: &str) -> Result<(), String> {
    let line = format!("Echoing back request made to {path} to client");
    let start = Instant::now();
    for app in apps {
        loop {
            if log_count(s, app, &line) > 0 {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "no mirrored request for {path} in the logs of {app}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn mirror_cases(plain: &str, modified: &str) -> Vec<Case> {
    vec![
        c("", plain).backend("infra-backend-v1"),
        c("", modified)
            .header("X-Header-Remove", "remove-val")
            .header("X-Header-Add-Append", "append-val-1")
            .backend("infra-backend-v1")
            .expect(hdrs(
                &[
                    ("X-Header-Set", "set-overwrites-values"),
                    ("X-Header-Add", "header-val-1"),
                    ("X-Header-Add-Append", "append-val-1,header-val-2"),
                ],
                &["X-Header-Remove"],
            )),
    ]
}

fn request_mirror(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "request-mirror").await?;
        for case in mirror_cases("/mirror", "/mirror-and-modify-headers") {
            let path = case.request.path.clone();
            s.expect(gw, vec![case]).await?;
            expect_mirrored(s, &["infra-backend-v2"], &path).await?;
        }
        Ok(())
    })
}

fn multiple_mirrors(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "request-multiple-mirrors").await?;
        for case in mirror_cases("/multi-mirror", "/multi-mirror-and-modify-request-headers") {
            let path = case.request.path.clone();
            s.expect(gw, vec![case]).await?;
            expect_mirrored(s, &["infra-backend-v2", "infra-backend-v3"], &path).await?;
        }
        Ok(())
    })
}

/// A CORS case: `method path` with `Origin` and any further request headers.
fn cors(method: &str, path: &str, origin: &str, extra: &[(&str, &str)]) -> Case {
    let mut case = c("", path).method(method).header("Origin", origin);
    for (k, v) in extra {
        case = case.header(k, v);
    }
    case
}

/// A preflight: the gateway answers itself (status 200 or 204, no backend).
fn preflight(path: &str, origin: &str, extra: &[(&str, &str)]) -> Case {
    let mut case = cors("OPTIONS", path, origin, extra);
    case.status = vec![200, 204];
    case.local = true;
    case
}

fn one_of(mut case: Case, name: &str, values: &[&str], ignore_ws: bool) -> Case {
    case.response_header_options.push((
        name.into(),
        values.iter().map(|s| s.to_string()).collect(),
        ignore_ws,
    ));
    case
}

fn exactly_200(mut case: Case) -> Case {
    case.status = vec![200];
    case
}

/// The `/cors-1` preflight answer for `origin` (case 1 of the upstream test).
fn cors1_preflight(origin: &str) -> Case {
    let case = preflight(
        "/cors-1",
        origin,
        &[
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-header-1, x-header-2"),
        ],
    );
    let case = one_of(case, "access-control-allow-origin", &[origin], true);
    let case = one_of(
        case,
        "access-control-allow-methods",
        &["GET, OPTIONS", "OPTIONS, GET"],
        true,
    );
    let case = one_of(
        case,
        "access-control-allow-headers",
        &["x-header-1, x-header-2", "x-header-2, x-header-1"],
        true,
    );
    let case = one_of(
        case,
        "access-control-expose-headers",
        &["x-header-3, x-header-4", "x-header-4, x-header-3"],
        true,
    );
    let case = one_of(case, "access-control-max-age", &["3600"], true);
    one_of(case, "access-control-allow-credentials", &["true"], true)
}

fn cors_scenario(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let routes = [
            "cors-multiple-origins-methods-headers",
            "cors-wildcard-methods",
            "cors-wildcard-origin",
            "cors-wildcard-methods-headers",
        ];
        let mut gw = None;
        for r in routes {
            gw = Some(ready(s, SAME, r).await?);
        }
        let gw = gw.ok_or("no routes")?;
        let acao = "access-control-allow-origin";
        let acam = "access-control-allow-methods";
        let acah = "access-control-allow-headers";
        let acac = "access-control-allow-credentials";
        let cors1_headers = [
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-header-1, x-header-2"),
        ];
        let x12 = ["x-header-1, x-header-2", "x-header-2, x-header-1"];
        let auth = [("Authorization", "Bearer test")];
        let mut cases = vec![
            cors1_preflight("https://www.foo.com"),
            exactly_200(cors1_preflight("https://www.bar.com")),
            exactly_200(cors1_preflight("https://xpto.www.bar.com")),
            {
                let mut c = preflight(
                    "/cors-1",
                    "https://foobar.com",
                    &[("access-control-request-method", "GET")],
                );
                c.status = vec![200, 204, 403];
                c.response_headers(&[], &[acao])
            },
        ];
        for origin in ["https://www.foo.com", "https://www.bar.com"] {
            let mut c = cors("GET", "/cors-1", origin, &cors1_headers)
                .response_headers(&[(acao, origin)], &[]);
            c.status = vec![200, 204];
            // The backend sees every request header unchanged.
            let mut e = hdrs(&cors1_headers, &[]);
            e.headers.push(("Origin".into(), origin.into()));
            cases.push(c.expect(e));
        }
        cases.push(
            cors(
                "GET",
                "/cors-1",
                "https://foobar.com",
                &[("access-control-request-method", "GET")],
            )
            .response_headers(&[], &[acao]),
        );
        let cors2 = preflight(
            "/cors-2",
            "https://www.foo.com",
            &[("access-control-request-method", "POST")],
        )
        .response_headers(&[(acao, "https://www.foo.com")], &[acac]);
        cases.push(one_of(cors2.clone(), acam, &["POST", "*"], false));
        cases.push(exactly_200(cors2));
        for origin in ["https://foobar.com", "https://foobar.com:12345"] {
            let c = preflight(
                "/cors-wildcard-origin",
                origin,
                &[("access-control-request-method", "PUT")],
            )
            .response_headers(&[], &[acac]);
            let c = one_of(c, acao, &[origin, "*"], false);
            cases.push(one_of(c, acam, &["PUT"], false));
        }
        let put = one_of(
            cors(
                "PUT",
                "/cors-wildcard-origin",
                "https://foobar.com:12345",
                &[],
            ),
            acao,
            &["https://foobar.com:12345", "*"],
            false,
        );
        cases.push(put);
        let mut put = one_of(
            cors("PUT", "/cors-wildcard-origin", "https://foobar.com", &[]),
            acao,
            &["https://foobar.com", "*"],
            false,
        )
        .response_headers(&[], &[acac]);
        put.status = vec![200, 204];
        cases.push(put);
        let wild_headers = [
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "x-header-1, x-header-2"),
        ];
        let origin = "https://other.foo.com";
        // Credentials allowed: every wildcard resolves to the request's own values.
        let c = exactly_200(preflight(
            "/cors-wildcard-methods-headers",
            origin,
            &wild_headers,
        ));
        let c = one_of(c, acao, &[origin], true);
        let c = one_of(c, acam, &["PUT"], true);
        let c = one_of(c, acah, &x12, true);
        cases.push(one_of(c, acac, &["true"], true));
        let c = exactly_200(preflight(
            "/cors-wildcard-methods-headers-unauth",
            origin,
            &wild_headers,
        ))
        .response_headers(&[], &[acac]);
        let c = one_of(c, acao, &[origin, "*"], true);
        let c = one_of(c, acam, &["PUT", "*"], true);
        cases.push(one_of(
            c,
            acah,
            &["x-header-1, x-header-2", "x-header-2, x-header-1", "*"],
            true,
        ));
        let c = cors("GET", "/cors-wildcard-methods-headers", origin, &auth)
            .expect(hdrs(&[("Authorization", "Bearer test")], &[]));
        let c = one_of(c, acao, &[origin], false);
        cases.push(one_of(c, acac, &["true"], false));
        let c = cors(
            "GET",
            "/cors-wildcard-methods-headers-unauth",
            origin,
            &auth,
        )
        .expect(hdrs(&[("Authorization", "Bearer test")], &[]))
        .response_headers(&[], &[acac]);
        cases.push(one_of(c, acao, &[origin], false));
        s.expect(gw, cases).await
    })
}

/// The mirror sees `pct` percent of a run of requests, counted in the mirror backend's logs.
async fn percentage_mirrored(
    s: &Suite,
    gw: SocketAddr,
    case: Case,
    pct: f64,
) -> Result<(), String> {
    const TOTAL: usize = 500;
    const CONCURRENCY: usize = 10;
    let path = case.request.path.clone();
    s.expect(gw, vec![case.clone()]).await?;
    let line = format!("Echoing back request made to {path} to client");
    let count = |s: &Suite| log_count(s, "infra-backend-v2", &line);
    let expected = TOTAL as f64 * pct / 100.0;
    let mut last = 0;
    for _attempt in 0..5 {
        let before = count(s);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let worker = || async {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < TOTAL {
                // One success suffices here (RequiredConsecutiveSuccesses = 1 upstream).
                expect_eventually(gw, &case, 1, s.timeouts.max_time_to_consistency).await?;
            }
            Ok::<(), String>(())
        };
        let results = futures_util::future::join_all((0..CONCURRENCY).map(|_| worker())).await;
        results.into_iter().collect::<Result<Vec<()>, String>>()?;
        // Mirrors are fire-and-forget; the upstream test reads the logs once, right away.
        last = count(s) - before;
        let tolerance = 0.05 * expected;
        if (last as f64 - expected).abs() <= tolerance {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!(
        "{path}: the mirror saw {last} of {TOTAL} requests (expected {expected} ± 5%)"
    ))
}

fn percentage_mirror(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "request-percentage-mirror").await?;
        let [plain, modified]: [Case; 2] =
            mirror_cases("/percent-mirror", "/percent-mirror-and-modify-headers")
                .try_into()
                .map_err(|_| "two cases")?;
        percentage_mirrored(s, gw, plain, 20.0).await?;
        let fraction = c("", "/percent-mirror-fraction").backend("infra-backend-v1");
        percentage_mirrored(s, gw, fraction, 50.0).await?;
        percentage_mirrored(s, gw, modified, 35.0).await
    })
}

/// HTTPRouteRetry: the echo backend fails the first `succeedAfter` attempts of each uuid with
/// `responseCode`; the gateway must retry configured codes up to `attempts` more times.
fn retry(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = ready(s, SAME, "retries").await?;
        let cases = [
            ("/retry/code-500-attempts-3", 500, 2, 200),
            ("/retry/code-500-attempts-3", 500, 4, 500),
            ("/retry/code-500-attempts-3", 503, 2, 503),
            ("/retry/code-all-attempts-2", 500, 1, 200),
            ("/retry/code-all-attempts-2", 500, 3, 500),
            ("/retry/code-all-attempts-2", 502, 1, 200),
            ("/retry/code-all-attempts-2", 502, 3, 502),
            ("/retry/code-all-attempts-2", 503, 1, 200),
            ("/retry/code-all-attempts-2", 503, 3, 503),
            ("/retry/code-all-attempts-2", 504, 1, 200),
            ("/retry/code-all-attempts-2", 504, 3, 504),
        ]
        .into_iter()
        .map(|(path, code, succeed_after, want)| {
            let mut case = c(
                "",
                &format!("{path}?responseCode={code}&succeedAfter={succeed_after}"),
            )
            .backend("infra-backend-v3")
            .status(want);
            case.fresh_uuid = true;
            case
        })
        .collect();
        s.expect(gw, cases).await
    })
}
