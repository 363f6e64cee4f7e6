//! GATEWAY-HTTP core: Gateway and GatewayClass tests.

use serde_json::Value;

use crate::suite::{BoxFut, INFRA, ListenerExpect, Scenario, Suite};

const GW: &[&str] = &["Gateway"];
const GW_RG: &[&str] = &["Gateway", "ReferenceGrant"];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "GatewayStaticAddresses",
            features: &["Gateway", "GatewayStaticAddresses"],
            manifests: &["gateway-static-addresses.yaml"],
            run: static_addresses,
        },
        Scenario {
            name: "GatewayOptionalAddressValue",
            features: &["Gateway", "GatewayAddressEmpty"],
            manifests: &["gateway-optional-address-value.yaml"],
            run: optional_address_value,
        },
        Scenario {
            name: "GatewayClassObservedGenerationBump",
            features: GW,
            manifests: &["gatewayclass-observed-generation-bump.yaml"],
            run: class_generation_bump,
        },
        Scenario {
            name: "GatewayObservedGenerationBump",
            features: GW,
            manifests: &["gateway-observed-generation-bump.yaml"],
            run: gateway_generation_bump,
        },
        Scenario {
            name: "GatewayInvalidRouteKind",
            features: GW,
            manifests: &["gateway-invalid-route-kind.yaml"],
            run: invalid_route_kind,
        },
        Scenario {
            name: "GatewayWithAttachedRoutes",
            features: &["Gateway", "HTTPRoute"],
            manifests: &["gateway-with-attached-routes.yaml"],
            run: with_attached_routes,
        },
        Scenario {
            name: "GatewayListenerUnsupportedProtocol",
            features: GW,
            manifests: &["gateway-invalid-listeners-unsupported-protocol.yaml"],
            run: unsupported_protocol,
        },
        Scenario {
            name: "GatewayInvalidParametersRef",
            features: GW,
            manifests: &["gateway-invalid-parameters-ref.yaml"],
            run: invalid_parameters_ref,
        },
        Scenario {
            name: "GatewayInvalidTLSConfiguration",
            features: GW,
            manifests: &["gateway-invalid-tls-configuration.yaml"],
            run: invalid_tls_configuration,
        },
        Scenario {
            name: "GatewaySecretMissingReferenceGrant",
            features: GW_RG,
            manifests: &["gateway-secret-missing-reference-grant.yaml"],
            run: secret_missing_grant,
        },
        Scenario {
            name: "GatewaySecretInvalidReferenceGrant",
            features: GW_RG,
            manifests: &["gateway-secret-invalid-reference-grant.yaml"],
            run: secret_invalid_grant,
        },
        Scenario {
            name: "GatewaySecretReferenceGrantAllInNamespace",
            features: GW_RG,
            manifests: &["gateway-secret-reference-grant-all-in-namespace.yaml"],
            run: secret_grant_all,
        },
        Scenario {
            name: "GatewaySecretReferenceGrantSpecific",
            features: GW_RG,
            manifests: &["gateway-secret-reference-grant-specific.yaml"],
            run: secret_grant_specific,
        },
        Scenario {
            name: "GatewayModifyListeners",
            features: GW,
            manifests: &["gateway-modify-listeners.yaml"],
            run: modify_listeners,
        },
    ]
}

async fn class_accepted_at_latest(
    s: &Suite,
    name: &str,
    after: Option<i64>,
) -> Result<i64, String> {
    s.wait_for(
        &format!("GatewayClass {name} Accepted at latest generation"),
        |doc| {
            let gc = crate::suite::find(doc, "GatewayClass", "", name)?;
            let generation = gc["metadata"]["generation"].as_i64().unwrap_or(0);
            if after.is_some_and(|a| generation <= a) {
                return Err("generation not bumped yet".into());
            }
            let conds = &gc["status"]["conditions"];
            for c in conds.as_array().into_iter().flatten() {
                if c["observedGeneration"].as_i64() != Some(generation) {
                    return Err(format!(
                        "{} observedGeneration {}",
                        c["type"], c["observedGeneration"]
                    ));
                }
            }
            crate::suite::has_condition(conds, "Accepted", "True", None)?;
            Ok(generation)
        },
    )
    .await
}

fn class_generation_bump(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let name = "gatewayclass-observed-generation-bump";
        let before = class_accepted_at_latest(s, name, None).await?;
        s.patch("gatewayclass-observed-generation-bump.yaml", |d| {
            d[0]["spec"]["description"] = "new".into()
        })?;
        class_accepted_at_latest(s, name, Some(before))
            .await
            .map(drop)
    })
}

fn gateway_generation_bump(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let name = "gateway-observed-generation-bump";
        s.gateway_address(INFRA, name).await?;
        let before = super::http_core::generation(s, "Gateway", INFRA, name).await?;
        s.patch("gateway-observed-generation-bump.yaml", |d| {
            if let Some(ls) = d[0]["spec"]["listeners"].as_array_mut() {
                ls.push(serde_json::json!({
                    "name": "alternate", "port": 80, "protocol": "HTTP", "hostname": "foo.com",
                    "allowedRoutes": { "namespaces": { "from": "All" } },
                }));
            }
        })?;
        s.wait_for("generation bumped", |doc| {
            let g = crate::suite::find(doc, "Gateway", INFRA, name)?;
            if g["metadata"]["generation"].as_i64() > Some(before) {
                Ok(())
            } else {
                Err("generation unchanged".into())
            }
        })
        .await?;
        s.gateway_address(INFRA, name).await.map(drop)
    })
}

fn invalid_route_kind(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let bad = &[("ResolvedRefs", "False", Some("InvalidRouteKinds"))];
        s.gateway_listeners(
            INFRA,
            "gateway-only-invalid-route-kind",
            &[ListenerExpect {
                name: "http",
                kinds: &[],
                attached: 0,
                conditions: bad,
            }],
        )
        .await?;
        s.gateway_listeners(
            INFRA,
            "gateway-supported-and-invalid-route-kind",
            &[ListenerExpect {
                name: "http",
                kinds: &["HTTPRoute"],
                attached: 0,
                conditions: bad,
            }],
        )
        .await
    })
}

fn with_attached_routes(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let ok = &[("Accepted", "True", None), ("ResolvedRefs", "True", None)];
        s.gateway_listeners(
            INFRA,
            "gateway-with-one-attached-route",
            &[ListenerExpect {
                name: "http",
                kinds: &["HTTPRoute"],
                attached: 1,
                conditions: ok,
            }],
        )
        .await?;
        s.gateway_listeners(
            INFRA,
            "gateway-with-two-attached-routes",
            &[ListenerExpect {
                name: "http",
                kinds: &["HTTPRoute"],
                attached: 2,
                conditions: ok,
            }],
        )
        .await?;
        let gw = (
            INFRA,
            "unresolved-gateway-with-one-attached-unresolved-route",
        );
        s.gateway_listeners(
            gw.0,
            gw.1,
            &[ListenerExpect {
                name: "tls",
                kinds: &["HTTPRoute"],
                attached: 1,
                conditions: &[
                    ("Programmed", "False", None),
                    ("ResolvedRefs", "False", None),
                ],
            }],
        )
        .await?;
        s.route_condition(INFRA, "http-route-4", gw, "ResolvedRefs", "False", None)
            .await
    })
}

fn unsupported_protocol(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let invalid = ListenerExpect {
            name: "invalid",
            kinds: &[],
            attached: 0,
            conditions: &[("Accepted", "False", Some("UnsupportedProtocol"))],
        };
        s.gateway_condition(
            INFRA,
            "gateway-only-unsupported-protocols",
            "Accepted",
            "False",
            Some("ListenersNotValid"),
        )
        .await?;
        s.gateway_listeners(INFRA, "gateway-only-unsupported-protocols", &[invalid])
            .await?;
        let mixed = "gateway-supported-and-unsupported-protocols";
        s.gateway_condition(INFRA, mixed, "Accepted", "True", Some("ListenersNotValid"))
            .await?;
        s.gateway_listeners(
            INFRA,
            mixed,
            &[
                ListenerExpect {
                    name: "http",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: &[("Accepted", "True", Some("Accepted"))],
                },
                ListenerExpect {
                    name: "invalid",
                    kinds: &[],
                    attached: 0,
                    conditions: &[("Accepted", "False", Some("UnsupportedProtocol"))],
                },
            ],
        )
        .await
    })
}

fn invalid_parameters_ref(s: &Suite) -> BoxFut<'_> {
    Box::pin(s.gateway_condition(
        INFRA,
        "gateway-invalid-parameters-ref",
        "Accepted",
        "False",
        Some("InvalidParameters"),
    ))
}

fn invalid_tls_configuration(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        for gw in [
            "gateway-certificate-nonexistent-secret",
            "gateway-certificate-unsupported-group",
            "gateway-certificate-unsupported-kind",
            "gateway-certificate-malformed-secret",
        ] {
            s.gateway_listeners(
                INFRA,
                gw,
                &[ListenerExpect {
                    name: "https",
                    kinds: &["HTTPRoute"],
                    attached: 0,
                    conditions: &[("ResolvedRefs", "False", Some("InvalidCertificateRef"))],
                }],
            )
            .await?;
        }
        Ok(())
    })
}

async fn secret_listener(
    s: &Suite,
    gw: &str,
    conditions: &'static [(&'static str, &'static str, Option<&'static str>)],
) -> Result<(), String> {
    s.gateway_listeners(
        INFRA,
        gw,
        &[ListenerExpect {
            name: "https",
            kinds: &["HTTPRoute"],
            attached: 0,
            conditions,
        }],
    )
    .await
}

fn secret_missing_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(secret_listener(
        s,
        "gateway-secret-missing-reference-grant",
        &[("ResolvedRefs", "False", Some("RefNotPermitted"))],
    ))
}

fn secret_invalid_grant(s: &Suite) -> BoxFut<'_> {
    Box::pin(secret_listener(
        s,
        "gateway-secret-invalid-reference-grant",
        &[("ResolvedRefs", "False", Some("RefNotPermitted"))],
    ))
}

const SECRET_OK: &[(&str, &str, Option<&str>)] = &[
    ("Programmed", "True", Some("Programmed")),
    ("ResolvedRefs", "True", Some("ResolvedRefs")),
];

fn secret_grant_all(s: &Suite) -> BoxFut<'_> {
    Box::pin(secret_listener(
        s,
        "gateway-secret-reference-grant-all-in-namespace",
        SECRET_OK,
    ))
}

fn secret_grant_specific(s: &Suite) -> BoxFut<'_> {
    Box::pin(secret_listener(
        s,
        "gateway-secret-reference-grant-specific",
        SECRET_OK,
    ))
}

fn modify_listeners(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let file = "gateway-modify-listeners.yaml";
        let ok = &[("Accepted", "True", None), ("ResolvedRefs", "True", None)];
        // Adding a listener.
        let add = "gateway-add-listener";
        s.gateway_address(INFRA, add).await?;
        let before = super::http_core::generation(s, "Gateway", INFRA, add).await?;
        s.patch(file, |docs| {
            for d in docs
                .iter_mut()
                .filter(|d| d["kind"] == "Gateway" && d["metadata"]["name"] == add)
            {
                if let Some(ls) = d["spec"]["listeners"].as_array_mut() {
                    ls.push(serde_json::json!({
                        "name": "http", "port": 80, "protocol": "HTTP", "hostname": "data.test.com",
                        "allowedRoutes": { "namespaces": { "from": "All" } },
                    }));
                }
            }
        })?;
        s.wait_for("generation bumped", |doc| {
            let g = crate::suite::find(doc, "Gateway", INFRA, add)?;
            if g["metadata"]["generation"].as_i64() > Some(before) {
                Ok(())
            } else {
                Err("generation unchanged".into())
            }
        })
        .await?;
        s.gateway_listeners(
            INFRA,
            add,
            &[
                ListenerExpect {
                    name: "https",
                    kinds: &["HTTPRoute"],
                    attached: 1,
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
        .await?;
        // Removing one.
        let remove = "gateway-remove-listener";
        s.gateway_address(INFRA, remove).await?;
        s.patch(file, |docs| {
            for d in docs
                .iter_mut()
                .filter(|d| d["kind"] == "Gateway" && d["metadata"]["name"] == remove)
            {
                if let Some(ls) = d["spec"]["listeners"].as_array_mut() {
                    ls.retain(|l| l["name"] != "https");
                }
            }
        })?;
        s.gateway_listeners(
            INFRA,
            remove,
            &[ListenerExpect {
                name: "http",
                kinds: &["HTTPRoute"],
                attached: 1,
                conditions: ok,
            }],
        )
        .await
    })
}

/// GatewayStaticAddresses: an unsupported address type refuses the Gateway; an address no
/// interface holds leaves it Accepted but not Programmed (AddressNotUsable); with only the
/// usable address left it is Programmed and reports exactly that address.
fn static_addresses(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = "gateway-static-addresses";
        let file = "gateway-static-addresses.yaml";
        s.gateway_condition(INFRA, gw, "Accepted", "False", Some("UnsupportedAddress"))
            .await?;
        let keep_addresses = |keep: fn(&Value) -> bool| {
            move |docs: &mut Vec<Value>| {
                for d in docs.iter_mut().filter(|d| d["kind"] == "Gateway") {
                    if let Some(a) = d["spec"]["addresses"].as_array_mut() {
                        a.retain(keep);
                    }
                }
            }
        };
        s.patch(
            file,
            keep_addresses(|a| a["type"] != "test/fake-invalid-type"),
        )?;
        s.gateway_condition(INFRA, gw, "Accepted", "True", Some("Accepted"))
            .await?;
        s.gateway_condition(INFRA, gw, "Programmed", "False", Some("AddressNotUsable"))
            .await?;
        s.patch(
            file,
            keep_addresses(|a| a["value"] == crate::cluster::USABLE_ADDRESS),
        )?;
        s.gateway_condition(INFRA, gw, "Accepted", "True", Some("Accepted"))
            .await?;
        s.gateway_condition(INFRA, gw, "Programmed", "True", Some("Programmed"))
            .await?;
        let ok: &'static [(&str, &str, Option<&str>)] =
            &[("Accepted", "True", None), ("ResolvedRefs", "True", None)];
        s.gateway_listeners(
            INFRA,
            gw,
            &[ListenerExpect {
                name: "http",
                kinds: &["HTTPRoute"],
                attached: 0,
                conditions: ok,
            }],
        )
        .await?;
        s.wait_for("status.addresses is the usable address", |doc| {
            let g = crate::suite::find(doc, "Gateway", INFRA, gw)?;
            let want =
                serde_json::json!([{"type": "IPAddress", "value": crate::cluster::USABLE_ADDRESS}]);
            if g["status"]["addresses"] == want {
                Ok(())
            } else {
                Err(format!("status.addresses {}", g["status"]["addresses"]))
            }
        })
        .await
    })
}

/// GatewayOptionalAddressValue: `addresses: [{type: IPAddress}]` gets an address assigned.
fn optional_address_value(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        s.gateway_listener_address(INFRA, "gateway-without-address-value", Some("http"))
            .await
            .map(drop)
    })
}
