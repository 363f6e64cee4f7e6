//! GATEWAY-GRPC: GRPCRoute tests, against the gRPC echo backends (grpc-infra-backend-v1..v3).

use std::collections::BTreeMap;

use tonic::Code;

use super::tcp::l4_accepted;
use crate::grpc::{GrpcCase, channel, expect_eventually};
use crate::suite::{BoxFut, INFRA, Scenario, Suite};

const GRPC: &[&str] = &["Gateway", "GRPCRoute"];
const GRPC_NAMED: &[&str] = &["Gateway", "GRPCRoute", "GRPCRouteNamedRouteRule"];
const KIND: &str = "GRPCRoute";
const V1: &str = "grpc-infra-backend-v1";
const V2: &str = "grpc-infra-backend-v2";
const V3: &str = "grpc-infra-backend-v3";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "GRPCExactMethodMatching",
            features: GRPC,
            manifests: &["grpcroute-exact-method-matching.yaml"],
            run: exact_method,
        },
        Scenario {
            name: "GRPCRouteHeaderMatching",
            features: GRPC,
            manifests: &["grpcroute-header-matching.yaml"],
            run: header_matching,
        },
        Scenario {
            name: "GRPCRouteListenerHostnameMatching",
            features: GRPC,
            manifests: &["grpcroute-listener-hostname-matching.yaml"],
            run: listener_hostname,
        },
        Scenario {
            name: "GRPCRouteNamedRule",
            features: GRPC_NAMED,
            manifests: &["grpcroute-named-rule.yaml"],
            run: named_rule,
        },
        Scenario {
            name: "GRPCRouteWeight",
            features: GRPC,
            manifests: &["grpcroute-weight.yaml"],
            run: weight,
        },
    ]
}

/// Every case concurrently (the upstream subtests are parallel), each eventually consistent.
async fn expect_all(
    s: &Suite,
    gw: std::net::SocketAddr,
    cases: Vec<GrpcCase>,
) -> Result<(), String> {
    let t = &s.timeouts;
    crate::suite::all_of(cases.iter().map(|c| {
        expect_eventually(
            gw,
            c,
            t.required_consecutive_successes,
            t.max_time_to_consistency,
        )
    }))
    .await
}

/// The `same-namespace` Gateway's address once the routes are accepted on it.
async fn same_namespace(s: &Suite, routes: &[&str]) -> Result<std::net::SocketAddr, String> {
    l4_accepted(s, KIND, "same-namespace", routes).await?;
    s.gateway_address(INFRA, "same-namespace").await
}

fn exact_method(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = same_namespace(s, &["exact-matching"]).await?;
        expect_all(
            s,
            gw,
            vec![
                GrpcCase::to("Echo", V1),
                GrpcCase::to("EchoTwo", V2),
                GrpcCase::fails("EchoThree", Code::Unimplemented),
            ],
        )
        .await
    })
}

fn header_matching(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = same_namespace(s, &["grpc-header-matching"]).await?;
        let with = |md: Vec<(&'static str, &'static str)>, backend: &'static str| GrpcCase {
            metadata: md,
            ..GrpcCase::to("Echo", backend)
        };
        let without = |md: Vec<(&'static str, &'static str)>| GrpcCase {
            metadata: md,
            ..GrpcCase::fails("Echo", Code::Unimplemented)
        };
        expect_all(
            s,
            gw,
            vec![
                with(vec![("Version", "one")], V1),
                with(vec![("Version", "two")], V2),
                with(vec![("Version", "two"), ("Color", "orange")], V1),
                with(vec![("Version", "two"), ("Color", "blue")], V2),
                without(vec![("Color", "orange")]),
                without(vec![("Some-Other-Header", "one")]),
                with(vec![("Color", "blue")], V1),
                with(vec![("Color", "green")], V1),
                with(vec![("Color", "red")], V2),
                with(vec![("Color", "yellow")], V2),
                without(vec![("Color", "purple")]),
            ],
        )
        .await
    })
}

fn listener_hostname(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw_name = "grpcroute-listener-hostname-matching";
        l4_accepted(
            s,
            KIND,
            gw_name,
            &["backend-v1", "backend-v2", "backend-v3"],
        )
        .await?;
        let gw = s
            .gateway_listener_address(INFRA, gw_name, Some("listener-3"))
            .await?;
        let at = |authority: &'static str, backend: &'static str| GrpcCase {
            authority,
            ..GrpcCase::to("Echo", backend)
        };
        let nowhere = |authority: &'static str| GrpcCase {
            authority,
            ..GrpcCase::fails("Echo", Code::Unimplemented)
        };
        expect_all(
            s,
            gw,
            vec![
                at("bar.com", V1),
                at("foo.bar.com", V2),
                at("baz.bar.com", V3),
                at("boo.bar.com", V3),
                at("multiple.prefixes.bar.com", V3),
                at("multiple.prefixes.foo.com", V3),
                nowhere("foo.com"),
                nowhere("no.matching.host"),
            ],
        )
        .await
    })
}

fn named_rule(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = same_namespace(s, &["grpc-named-rules"]).await?;
        expect_all(
            s,
            gw,
            vec![GrpcCase::to("Echo", V1), GrpcCase::to("EchoTwo", V2)],
        )
        .await
    })
}

/// The backend a pod belongs to: its name without the ReplicaSet and pod suffixes.
fn backend_of(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    parts[..parts.len().saturating_sub(2)].join("-")
}

fn weight(s: &Suite) -> BoxFut<'_> {
    Box::pin(async move {
        let gw = same_namespace(s, &["weighted-backends"]).await?;
        expect_all(s, gw, vec![GrpcCase::to("Echo", "")]).await?;
        // 500 calls, 10 at a time, each on a new connection: v1 70% ±5, v2 30% ±5, v3 none;
        // up to 10 tries, as weight.TestWeightedDistribution.
        let mut last = String::new();
        'tries: for _ in 0..10 {
            let mut counts = BTreeMap::<String, usize>::new();
            for _ in 0..50 {
                let batch = futures_util::future::join_all((0..10).map(|_| async move {
                    let ch = channel(gw, "").await?;
                    weir_echo::grpc::call(ch, "Echo", &[])
                        .await
                        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
                }))
                .await;
                for r in batch {
                    match r {
                        Ok(resp) => {
                            let pod = resp
                                .assertions
                                .and_then(|a| a.context)
                                .map(|c| c.pod)
                                .unwrap_or_default();
                            *counts.entry(backend_of(&pod)).or_default() += 1;
                        }
                        Err(e) => {
                            last = format!("a call failed: {e}");
                            continue 'tries;
                        }
                    }
                }
            }
            let share = |b: &str| *counts.get(b).unwrap_or(&0) as f64 / 500.0;
            if counts.len() == 2
                && (share(V1) - 0.7).abs() <= 0.05
                && (share(V2) - 0.3).abs() <= 0.05
            {
                return Ok(());
            }
            last = format!("{counts:?}");
        }
        Err(format!("weights not within tolerance: {last}"))
    })
}
