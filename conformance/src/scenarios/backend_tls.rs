//! GATEWAY-HTTP extended: BackendTLSPolicy (TLS from the Gateway to backends).

use crate::http::{Case, ExpectedRequest, expect_failure};
use crate::suite::{BoxFut, INFRA, Scenario, Suite};

const BTLS: &[&str] = &["Gateway", "HTTPRoute", "BackendTLSPolicy"];
const SAME: (&str, &str) = (INFRA, "same-namespace");
const KIND: &str = "BackendTLSPolicy";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "BackendTLSPolicy",
            features: BTLS,
            manifests: &["backendtlspolicy.yaml"],
            run: normative,
        },
        Scenario {
            name: "BackendTLSPolicyConflictResolution",
            features: BTLS,
            manifests: &["backendtlspolicy-conflict-resolution.yaml"],
            run: conflict_resolution,
        },
        Scenario {
            name: "BackendTLSPolicyInvalidCACertificateRef",
            features: BTLS,
            manifests: &["backendtlspolicy-invalid-ca-certificate-ref.yaml"],
            run: invalid_ca_ref,
        },
        Scenario {
            name: "BackendTLSPolicyInvalidKind",
            features: BTLS,
            manifests: &["backendtlspolicy-invalid-kind.yaml"],
            run: invalid_kind,
        },
        Scenario {
            name: "BackendTLSPolicyObservedGenerationBump",
            features: BTLS,
            manifests: &["backendtlspolicy-observed-generation-bump.yaml"],
            run: observed_generation_bump,
        },
        Scenario {
            name: "GatewayInvalidTLSBackendConfiguration",
            features: &[
                "Gateway",
                "HTTPRoute",
                "BackendTLSPolicy",
                "GatewayBackendClientCertificate",
            ],
            manifests: &["gateway-invalid-tls-backend-configuration.yaml"],
            run: invalid_backend_client_certificate,
        },
        Scenario {
            name: "GatewayBackendClientCertificateFeature",
            features: &[
                "Gateway",
                "HTTPRoute",
                "BackendTLSPolicy",
                "GatewayBackendClientCertificate",
            ],
            manifests: &["gateway-tls-backend-client-certificate.yaml"],
            run: backend_client_certificate,
        },
        Scenario {
            name: "BackendTLSPolicySANValidation",
            features: &[
                "Gateway",
                "HTTPRoute",
                "BackendTLSPolicy",
                "BackendTLSPolicySANValidation",
            ],
            manifests: &["backendtlspolicy-san.yaml"],
            run: san_validation,
        },
    ]
}

/// 200 from tls-backend in the infra namespace, which saw `sni`.
fn via_tls(host: &str, path: &str, sni: &str) -> Case {
    Case::get(host, path)
        .backend("tls-backend")
        .expect(ExpectedRequest {
            sni: Some(sni.into()),
            ..Default::default()
        })
}

async fn accepted(s: &Suite, policy: &str, gw: (&str, &str)) -> Result<(), String> {
    s.policy_condition(
        KIND,
        INFRA,
        policy,
        gw,
        "Accepted",
        "True",
        Some("Accepted"),
    )
    .await
}

fn normative(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "backendtlspolicy")])
            .await?;
        for p in ["normative-test", "host-mismatch", "cert-mismatch"] {
            accepted(s, p, SAME).await?;
            s.policy_condition(
                KIND,
                INFRA,
                p,
                SAME,
                "ResolvedRefs",
                "True",
                Some("ResolvedRefs"),
            )
            .await?;
        }
        s.expect(
            gw,
            vec![via_tls(
                "abc.example.com",
                "/backendtlspolicy",
                "abc.example.com",
            )],
        )
        .await?;
        let max = s.timeouts.max_time_to_consistency;
        // The backend's certificate is not for mismatch.example.com; the other CA did not sign it.
        expect_failure(
            gw,
            &Case::get("abc.example.org", "/backendtlspolicy-host-mismatch").request,
            max,
        )
        .await?;
        expect_failure(
            gw,
            &Case::get("abc.example.com", "/backendtlspolicy-cert-mismatch").request,
            max,
        )
        .await?;
        // Re-encryption: HTTPS in, TLS out, and the policy has both Gateways as ancestors.
        let https = (INFRA, "same-namespace-with-https-listener");
        let gw443 = s
            .routes_accepted(https, &[(INFRA, "backendtlspolicy-reencrypt")])
            .await?;
        accepted(s, "normative-test", https).await?;
        let mut c = via_tls("https-listener.org", "/backendtlspolicy", "abc.example.com");
        c.request.tls_pin = s
            .cluster
            .certificates
            .get("gateway-conformance-infra/tls-validity-checks-certificate")
            .cloned();
        s.expect(gw443, vec![c]).await
    })
}

fn conflict_resolution(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "backendtlspolicy-conflict-resolution")])
            .await?;
        for (winner, loser) in [
            (
                "conflicted-without-section-name-1",
                "conflicted-without-section-name-2",
            ),
            (
                "conflicted-with-section-name-1",
                "conflicted-with-section-name-2",
            ),
        ] {
            accepted(s, winner, SAME).await?;
            s.policy_condition(
                KIND,
                INFRA,
                loser,
                SAME,
                "Accepted",
                "False",
                Some("Conflicted"),
            )
            .await?;
        }
        for p in [
            "not-conflicted-with-section-name",
            "not-conflicted-without-section-name",
        ] {
            accepted(s, p, SAME).await?;
        }
        let cases = vec![
            via_tls(
                "abc.example.com",
                "/backendtlspolicy-conflicted-without-section-name",
                "other.example.com",
            ),
            via_tls(
                "abc.example.com",
                "/backendtlspolicy-conflicted-with-section-name",
                "other.example.com",
            ),
            // One Service, two ports: https-1 gets the policy naming it, https-2 the whole-Service one.
            via_tls(
                "abc.example.com",
                "/backendtlspolicy-not-conflicted-with-section-name",
                "other.example.com",
            ),
            via_tls(
                "abc.example.com",
                "/backendtlspolicy-not-conflicted-without-section-name",
                "abc.example.com",
            ),
        ];
        s.expect(gw, cases).await
    })
}

async fn invalid(s: &Suite, route: &str, policies: &[(&str, &str)]) -> Result<(), String> {
    let gw = s.routes_accepted(SAME, &[(INFRA, route)]).await?;
    for (policy, reason) in policies {
        s.policy_condition(
            KIND,
            INFRA,
            policy,
            SAME,
            "Accepted",
            "False",
            Some("NoValidCACertificate"),
        )
        .await?;
        s.policy_condition(
            KIND,
            INFRA,
            policy,
            SAME,
            "ResolvedRefs",
            "False",
            Some(reason),
        )
        .await?;
        let mut c = Case::get("abc.example.com", &format!("/backendtlspolicy-{policy}"));
        c.status = vec![500, 502, 503];
        s.expect(gw, vec![c]).await?;
    }
    Ok(())
}

fn invalid_ca_ref(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid(
        s,
        "backendtlspolicy-invalid-ca-certificate-ref",
        &[
            ("nonexistent-ca-certificate-ref", "InvalidCACertificateRef"),
            ("malformed-ca-certificate-ref", "InvalidCACertificateRef"),
        ],
    ))
}

fn invalid_kind(s: &Suite) -> BoxFut<'_> {
    Box::pin(invalid(
        s,
        "backendtlspolicy-invalid-kind-test",
        &[("invalid-kind", "InvalidKind")],
    ))
}

fn observed_generation_bump(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let policy = "observed-generation-bump";
        s.policy_condition(KIND, INFRA, policy, SAME, "Accepted", "True", None)
            .await?;
        let before = super::http_core::generation(s, KIND, INFRA, policy).await?;
        s.patch("backendtlspolicy-observed-generation-bump.yaml", |docs| {
            for d in docs.iter_mut().filter(|d| d["kind"] == KIND) {
                d["spec"]["validation"]["hostname"] = "foo.example.com".into();
            }
        })?;
        s.wait_for("generation bumped", |doc| {
            let p = crate::suite::find(doc, KIND, INFRA, policy)?;
            if p["metadata"]["generation"].as_i64() > Some(before) {
                Ok(())
            } else {
                Err("generation unchanged".into())
            }
        })
        .await?;
        s.policy_condition(KIND, INFRA, policy, SAME, "Accepted", "True", None)
            .await
    })
}

fn san_validation(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = s
            .routes_accepted(SAME, &[(INFRA, "backendtlspolicy-san-test")])
            .await?;
        let policies = [
            "san-dns",
            "san-dns-mismatch",
            "san-uri",
            "san-uri-mismatch",
            "multiple-sans",
            "multiple-mismatch-sans",
        ];
        for p in policies {
            accepted(s, p, SAME).await?;
        }
        s.expect(
            gw,
            ["san-dns", "san-uri", "multiple-sans"]
                .iter()
                .map(|p| {
                    via_tls(
                        "abc.example.com",
                        &format!("/backendtlspolicy-{p}"),
                        "abc.example.com",
                    )
                })
                .collect(),
        )
        .await?;
        let max = s.timeouts.max_time_to_consistency;
        for p in [
            "san-dns-mismatch",
            "san-uri-mismatch",
            "multiple-mismatch-sans",
        ] {
            expect_failure(
                gw,
                &Case::get("abc.example.com", &format!("/backendtlspolicy-{p}")).request,
                max,
            )
            .await?;
        }
        Ok(())
    })
}

fn invalid_backend_client_certificate(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        for (gw, reason) in [
            (
                "gateway-client-certificate-nonexistent-secret",
                "InvalidClientCertificateRef",
            ),
            (
                "gateway-client-certificate-unsupported-group",
                "InvalidClientCertificateRef",
            ),
            (
                "gateway-client-certificate-unsupported-kind",
                "InvalidClientCertificateRef",
            ),
            (
                "gateway-client-certificate-malformed-secret",
                "InvalidClientCertificateRef",
            ),
            (
                "gateway-client-certificate-missing-reference-grant",
                "RefNotPermitted",
            ),
        ] {
            s.gateway_condition(INFRA, gw, "ResolvedRefs", "False", Some(reason))
                .await?;
            s.gateway_condition(INFRA, gw, "Accepted", "True", Some("Accepted"))
                .await?;
        }
        Ok(())
    })
}

fn backend_client_certificate(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gwid = (INFRA, "gateway-tls-backend-client-certificate");
        let gw = s
            .routes_accepted(gwid, &[(INFRA, "gateway-tls-backend-client-certificate")])
            .await?;
        s.route_condition(
            INFRA,
            "gateway-tls-backend-client-certificate",
            gwid,
            "ResolvedRefs",
            "True",
            Some("ResolvedRefs"),
        )
        .await?;
        accepted(s, "gateway-tls-backend-client-certificate-test", gwid).await?;
        s.gateway_condition(INFRA, gwid.1, "ResolvedRefs", "True", Some("ResolvedRefs"))
            .await?;
        let case = Case::get("abc.example.com", "/").expect(ExpectedRequest {
            sni: Some("abc.example.com".into()),
            ..Default::default()
        });
        s.expect(gw, vec![case.clone()]).await?;
        // The backend saw exactly the Gateway's client certificate.
        let want = s
            .cluster
            .key_pairs
            .get("gateway-conformance-infra/tls-checks-client-certificate")
            .map(|k| k.cert_pem.trim().to_owned())
            .ok_or("no client certificate")?;
        let resp = crate::http::round_trip(gw, &case.request)
            .await
            .map_err(|e| e.to_string())?;
        let seen = resp
            .echo
            .as_ref()
            .and_then(|e| e["tls"]["peerCertificates"][0].as_str())
            .map(|p| p.trim().to_owned());
        if seen.as_deref() != Some(want.as_str()) {
            return Err(format!("backend saw client certificate {seen:?}"));
        }
        Ok(())
    })
}
