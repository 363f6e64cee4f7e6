//! TLSRoutes: attachment to TLS listeners and SNI routes to TCP backends.

use std::collections::{BTreeMap, HashMap, HashSet};

use gateway_api::tlsroutes::TlsRoute;
use k8s_openapi::jiff::Timestamp;
use weir_proxy::config::{BackendTarget, Cluster, SniRoute, WeightedBackend};
use weir_store::{NsName, Snapshot};

use super::TranslateContext;
use super::attach::{ParentSelector, RouteRef, attach};
use super::backend::{BackendRefSpec, Unresolved, resolve_backend};
use super::gateway::GatewayModel;
use crate::status::{Condition, GROUP, ParentRef, RouteParentStatus, RouteStatus};

/// SNI routes for one TLS listener, by hostname; the oldest route wins a shared hostname.
pub(crate) type ListenerSniRoutes = BTreeMap<String, Vec<((Option<Timestamp>, String), SniRoute)>>;

pub(crate) fn translate_tls_route(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    id: &NsName,
    route: &TlsRoute,
    gateways: &mut [GatewayModel<'_>],
    listener_routes: &mut HashMap<(usize, usize), ListenerSniRoutes>,
    clusters: &mut BTreeMap<String, Cluster>,
) -> RouteStatus {
    let generation = route.metadata.generation.unwrap_or(0);
    let age = (
        route.metadata.creation_timestamp.as_ref().map(|t| t.0),
        id.to_string(),
    );
    let mut unresolved: Vec<Unresolved> = Vec::new();
    let mut backends = Vec::new();
    for rule in &route.spec.rules {
        for b in &rule.backend_refs {
            let spec = BackendRefSpec {
                group: b.group.as_deref(),
                kind: b.kind.as_deref(),
                name: &b.name,
                namespace: b.namespace.as_deref(),
                port: b.port,
            };
            let target = match resolve_backend(snapshot, "TLSRoute", &id.namespace, &spec, clusters)
            {
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
            let weight = u32::try_from(b.weight.unwrap_or(1)).unwrap_or(0);
            backends.push(WeightedBackend {
                weight,
                target,
                filters: vec![],
            });
        }
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
    let hostnames = route.spec.hostnames.clone();
    let mut status = RouteStatus::default();
    let mut attached = HashSet::new();
    for pr in route.spec.parent_refs.iter().flatten() {
        let group = pr.group.as_deref().unwrap_or(GROUP);
        let kind = pr.kind.as_deref().unwrap_or("Gateway");
        let gw_ns = pr.namespace.as_deref().unwrap_or(&id.namespace);
        if group != GROUP || kind != "Gateway" {
            continue;
        }
        let Some(gi) = gateways
            .iter()
            .position(|g| g.id.namespace == gw_ns && g.id.name == pr.name)
        else {
            continue;
        };
        let parent = ParentSelector {
            section_name: pr.section_name.as_deref(),
            port: pr.port,
        };
        let accepted = attach(
            snapshot,
            &mut gateways[gi],
            gi,
            RouteRef {
                kind: "TLSRoute",
                id,
                hostnames: &hostnames,
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
                namespace: pr.namespace.clone(),
                name: pr.name.clone(),
                section_name: pr.section_name.clone(),
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
