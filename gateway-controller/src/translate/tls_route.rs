//! TLSRoutes, TCPRoutes and UDPRoutes: attachment to TLS, TCP and UDP listeners, and the SNI
//! routes (a single `*` entry for TCP and UDP) that splice connections to backends.

use std::collections::{BTreeMap, HashMap, HashSet};

use gateway_api::tlsroutes::TlsRoute;
use k8s_openapi::jiff::Timestamp;
use weir_proxy::config::{BackendTarget, Cluster, SniRoute, WeightedBackend};
use weir_store::{NsName, Snapshot};

use super::TranslateContext;
use super::attach::{ParentSelector, RouteRef, attach, find_parent};
use super::backend::{BackendRefSpec, Unresolved, resolve_backend};
use super::gateway::GatewayModel;
use crate::status::{Condition, GROUP, ParentRef, RouteParentStatus, RouteStatus};

/// SNI routes for one TLS listener, by hostname; the oldest route wins a shared hostname.
pub(crate) type ListenerSniRoutes = BTreeMap<String, Vec<((Option<Timestamp>, String), SniRoute)>>;

/// A parentRef, whatever the route kind.
pub(crate) struct ParentView<'a> {
    pub group: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub section_name: Option<&'a str>,
    pub port: Option<i32>,
}

/// A TLSRoute, TCPRoute or UDPRoute, reduced to what translation needs.
pub(crate) struct L4Route<'a> {
    pub kind: &'static str,
    pub hostnames: Vec<String>,
    pub parents: Vec<ParentView<'a>>,
    /// (backendRef, weight)
    pub backends: Vec<(BackendRefSpec<'a>, Option<i32>)>,
    pub meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
}

/// TLSRoute, TCPRoute and UDPRoute have the same shape (hostnames for TLS only, parentRefs,
/// rules of weighted backendRefs) in distinct generated types; one body serves all three.
macro_rules! translate_l4_kind {
    ($fn_name:ident, $ty:ty, $kind:literal, $hostnames:expr) => {
        pub(crate) fn $fn_name(
            snapshot: &Snapshot,
            ctx: &TranslateContext,
            id: &NsName,
            route: &$ty,
            gateways: &mut [GatewayModel<'_>],
            listener_routes: &mut HashMap<(usize, usize), ListenerSniRoutes>,
            clusters: &mut BTreeMap<String, Cluster>,
        ) -> RouteStatus {
            let view = L4Route {
                kind: $kind,
                hostnames: ($hostnames)(route),
                parents: parent_views!(route.spec.parent_refs),
                backends: route
                    .spec
                    .rules
                    .iter()
                    .flat_map(|r| r.backend_refs.iter())
                    .map(|b| {
                        (
                            BackendRefSpec {
                                group: b.group.as_deref(),
                                kind: b.kind.as_deref(),
                                name: &b.name,
                                namespace: b.namespace.as_deref(),
                                port: b.port,
                            },
                            b.weight,
                        )
                    })
                    .collect(),
                meta: &route.metadata,
            };
            translate_l4_route(
                snapshot,
                ctx,
                id,
                &view,
                gateways,
                listener_routes,
                clusters,
            )
        }
    };
}

translate_l4_kind!(translate_tls_route, TlsRoute, "TLSRoute", |r: &TlsRoute| r
    .spec
    .hostnames
    .clone());
translate_l4_kind!(
    translate_tcp_route,
    gateway_api::experimental::tcproutes::TcpRoute,
    "TCPRoute",
    |_| Vec::new()
);
translate_l4_kind!(
    translate_udp_route,
    gateway_api::experimental::udproutes::UdpRoute,
    "UDPRoute",
    |_| Vec::new()
);

fn translate_l4_route(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    id: &NsName,
    route: &L4Route<'_>,
    gateways: &mut [GatewayModel<'_>],
    listener_routes: &mut HashMap<(usize, usize), ListenerSniRoutes>,
    clusters: &mut BTreeMap<String, Cluster>,
) -> RouteStatus {
    let generation = route.meta.generation.unwrap_or(0);
    let age = (
        route.meta.creation_timestamp.as_ref().map(|t| t.0),
        id.to_string(),
    );
    let mut unresolved: Vec<Unresolved> = Vec::new();
    let mut backends = Vec::new();
    for (spec, weight) in &route.backends {
        let target =
            match resolve_backend(snapshot, route.kind, &id.namespace, spec, false, clusters) {
                Ok(name) => BackendTarget::Cluster(name),
                Err(u) => {
                    let reason = u.message.clone();
                    unresolved.push(u);
                    BackendTarget::Invalid {
                        status: 500,
                        reason,
                    }
                }
            };
        let weight = u32::try_from(weight.unwrap_or(1)).unwrap_or(0);
        backends.push(WeightedBackend {
            weight,
            target,
            filters: vec![],
        });
    }
    let resolved_refs = match unresolved.first() {
        None => Condition::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references are resolved",
            generation,
        ),
        Some(first) => Condition::new(
            "ResolvedRefs",
            false,
            first.reason,
            unresolved
                .iter()
                .map(|u| u.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            generation,
        ),
    };
    let mut status = RouteStatus::default();
    let mut attached = HashSet::new();
    for pr in &route.parents {
        let group = pr.group.unwrap_or(GROUP);
        let kind = pr.kind.unwrap_or("Gateway");
        let parent_ns = pr.namespace.unwrap_or(&id.namespace);
        let Some((gi, owner)) = find_parent(gateways, group, kind, parent_ns, pr.name) else {
            continue; // not our parent: its controller writes this parent's status
        };
        let parent = ParentSelector {
            section_name: pr.section_name,
            port: pr.port,
            owner,
        };
        let accepted = attach(
            snapshot,
            &mut gateways[gi],
            gi,
            RouteRef {
                kind: route.kind,
                id,
                hostnames: &route.hostnames,
                generation,
            },
            &parent,
            true,
            &[],
            &mut attached,
            |li, hosts| {
                let lr = listener_routes.entry((gi, li)).or_default();
                for h in hosts {
                    let entry = SniRoute {
                        name: id.to_string(),
                        hostname: h.clone(),
                        backends: backends.clone(),
                    };
                    lr.entry(h.clone()).or_default().push((age.clone(), entry));
                }
            },
        );
        status.parents.push(RouteParentStatus {
            parent_ref: ParentRef {
                group: group.into(),
                kind: kind.into(),
                namespace: pr.namespace.map(str::to_owned),
                name: pr.name.to_owned(),
                section_name: pr.section_name.map(str::to_owned),
                port: pr.port,
            },
            controller_name: ctx.controller_name.clone(),
            conditions: vec![accepted, resolved_refs.clone()],
        });
    }
    status
}

/// The SNI routes a listener serves: one per hostname, the oldest route winning.
pub(crate) fn sni_routes(routes: ListenerSniRoutes) -> Vec<SniRoute> {
    routes
        .into_values()
        .filter_map(|mut candidates| {
            candidates.sort_by(|a, b| a.0.cmp(&b.0));
            candidates.into_iter().next().map(|(_, r)| r)
        })
        .collect()
}
