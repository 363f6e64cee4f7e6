//! `translate`: a pure function from a Snapshot to the dataplane config and every status.
//!
//! The same snapshot and context always give a byte-identical `ProxyConfig` and `Statuses`:
//! iteration is over ordered maps, and nothing here reads a clock, a socket or a file.

/// Every route kind's `spec.parentRefs` (distinct generated types of one shape) as
/// `tls_route::ParentView`s.
macro_rules! parent_views {
    ($refs:expr) => {
        $refs
            .iter()
            .flatten()
            .map(|p| $crate::translate::tls_route::ParentView {
                group: p.group.as_deref(),
                kind: p.kind.as_deref(),
                name: &p.name,
                namespace: p.namespace.as_deref(),
                section_name: p.section_name.as_deref(),
                port: p.port,
            })
            .collect()
    };
}

mod attach;
mod backend;
mod backend_tls;
mod gateway;
mod grpc_route;
pub mod hostname;
mod http_route;
mod tls_route;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use weir_proxy::config::{Listener, ListenerHost, ProxyConfig, VirtualHost};
use weir_store::{NsName, Snapshot};

use crate::status::{
    Condition, GatewayAddress, GatewayStatus, ListenerSetStatus, ListenerStatus, Statuses,
};

/// What translate needs besides the snapshot.
#[derive(Debug, Clone, Default)]
pub struct TranslateContext {
    /// Our GatewayClass controllerName.
    pub controller_name: String,
    /// Addresses the pool gave Gateways that have no `spec.addresses`.
    pub assigned_addresses: BTreeMap<NsName, IpAddr>,
    /// The time certificates are checked against (Unix seconds): the one input that is a clock.
    pub now_unix: i64,
}

/// The result of one translation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Translation {
    pub config: ProxyConfig,
    pub statuses: Statuses,
    /// Gateway `spec.infrastructure` labels and annotations, by Gateway: what Kubernetes mode
    /// puts on each Gateway's proxy Deployment, Service and ServiceAccount
    /// (GatewayInfrastructurePropagation). Standalone, `/config` shows them.
    pub infrastructure: BTreeMap<NsName, Infrastructure>,
}

/// Labels and annotations for the objects that run one Gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Infrastructure {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// `spec.infrastructure` of every Gateway of ours that has labels or annotations there.
fn infrastructure(
    gateways: &[gateway::GatewayModel<'_>],
    snapshot: &Snapshot,
) -> BTreeMap<NsName, Infrastructure> {
    gateways
        .iter()
        .filter_map(|g| {
            let i = snapshot.gateways.get(&g.id)?.spec.infrastructure.as_ref()?;
            let infra = Infrastructure {
                labels: i.labels.clone().unwrap_or_default(),
                annotations: i.annotations.clone().unwrap_or_default(),
            };
            (infra != Infrastructure::default()).then(|| (g.id.clone(), infra))
        })
        .collect()
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    /// (key, operator, values)
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .match_expressions
                .iter()
                .all(|(k, op, vals)| match op.as_str() {
                    "In" => labels.get(k).is_some_and(|v| vals.contains(v)),
                    "NotIn" => labels.get(k).is_none_or(|v| !vals.contains(v)),
                    "Exists" => labels.contains_key(k),
                    "DoesNotExist" => !labels.contains_key(k),
                    _ => false,
                })
    }
}

/// Routes collected for one served Gateway listener, by request hostname.
#[derive(Default)]
pub(crate) struct ListenerRoutes {
    /// (precedence, route kind, route)
    pub vhosts:
        BTreeMap<String, Vec<(http_route::SortKey, &'static str, weir_proxy::config::Route)>>,
    /// Which HTTPRoutes and GRPCRoutes attached here, with which hostnames.
    pub claims: Vec<Claim>,
}

/// An HTTPRoute or GRPCRoute attached to a listener through one of its parentRefs.
pub(crate) struct Claim {
    pub kind: &'static str,
    pub id: NsName,
    pub created: Option<k8s_openapi::jiff::Timestamp>,
    pub hosts: Vec<String>,
    /// The index of the parentRef's entry in the route's `status.parents`.
    pub parent: usize,
}

/// "Merging MUST not be done between GRPCRoutes and HTTPRoutes": where an HTTPRoute and a
/// GRPCRoute share a listener and their hostnames intersect, the older one (then the first by
/// "namespace/name") keeps it; the other's routes leave that listener and, when it lost every
/// listener of a parentRef, that parent gets `Accepted=False/HostnameConflict`.
fn resolve_kind_conflicts(
    listener_routes: &mut HashMap<(usize, usize), ListenerRoutes>,
    gateways: &mut [gateway::GatewayModel<'_>],
    http: &mut BTreeMap<NsName, crate::status::RouteStatus>,
    grpc: &mut BTreeMap<NsName, crate::status::RouteStatus>,
) {
    // (kind, route, parent) → (listeners lost, the winner's name)
    let mut lost: BTreeMap<(&'static str, NsName, usize), (usize, String)> = BTreeMap::new();
    for (&(gi, li), lr) in listener_routes.iter_mut() {
        let mut losers: Vec<(&'static str, NsName, usize, String)> = Vec::new();
        let (https, grpcs): (Vec<&Claim>, Vec<&Claim>) =
            lr.claims.iter().partition(|c| c.kind == "HTTPRoute");
        for h in &https {
            for g in &grpcs {
                let overlap = h.hosts.iter().any(|a| {
                    g.hosts
                        .iter()
                        .any(|b| a == "*" || b == "*" || hostname::intersect(a, b).is_some())
                });
                if !overlap {
                    continue;
                }
                let (winner, loser) =
                    if (h.created, h.id.to_string()) <= (g.created, g.id.to_string()) {
                        (h, g)
                    } else {
                        (g, h)
                    };
                let w = format!("{} {}", winner.kind, winner.id);
                if !losers.iter().any(|l| l.0 == loser.kind && l.1 == loser.id) {
                    losers.push((loser.kind, loser.id.clone(), loser.parent, w));
                }
            }
        }
        for (kind, id, parent, winner) in losers {
            let prefix = format!("{id}/");
            for routes in lr.vhosts.values_mut() {
                routes.retain(|(_, k, r)| *k != kind || !r.name.starts_with(&prefix));
            }
            let l = &mut gateways[gi].listeners[li];
            l.attached_routes -= 1;
            let e = lost.entry((kind, id, parent)).or_insert((0, winner));
            e.0 += 1;
        }
    }
    if lost.is_empty() {
        return;
    }
    // How many listeners each losing parentRef attached to (counted only when a route lost).
    let mut attached: BTreeMap<(&'static str, NsName, usize), usize> = BTreeMap::new();
    for c in listener_routes.values().flat_map(|lr| &lr.claims) {
        let key = (c.kind, c.id.clone(), c.parent);
        if lost.contains_key(&key) {
            *attached.entry(key).or_default() += 1;
        }
    }
    for ((kind, id, parent), (n, winner)) in lost {
        if attached.get(&(kind, id.clone(), parent)) != Some(&n) {
            continue; // it still serves on another listener of this parent
        }
        let statuses = if kind == "HTTPRoute" {
            &mut *http
        } else {
            &mut *grpc
        };
        if let Some(p) = statuses
            .get_mut(&id)
            .and_then(|s| s.parents.get_mut(parent))
        {
            let generation = p.conditions.first().map_or(0, |c| c.observed_generation);
            set(
                &mut p.conditions,
                Condition::new(
                    "Accepted",
                    false,
                    "HostnameConflict",
                    format!(
                        "its hostnames intersect those of {winner}, which is older; an HTTPRoute and a GRPCRoute cannot share a hostname on a listener"
                    ),
                    generation,
                ),
            );
        }
    }
}

/// Translates every route of one kind; routes that name no parent of ours get no status.
fn with_parents<R>(
    routes: &weir_store::snapshot::Objects<R>,
    mut translate_one: impl FnMut(&NsName, &R) -> crate::status::RouteStatus,
) -> BTreeMap<NsName, crate::status::RouteStatus> {
    routes
        .iter()
        .map(|(id, route)| (id.clone(), translate_one(id, route)))
        .filter(|(_, status)| !status.parents.is_empty())
        .collect()
}

pub fn translate(snapshot: &Snapshot, ctx: &TranslateContext) -> Translation {
    let (class_statuses, classes) = gateway::translate_gateway_classes(snapshot, ctx);
    let mut gateways = gateway::model_gateways(snapshot, ctx, &classes);
    let mut clusters = BTreeMap::new();
    // (gateway index, listener index) → routes.
    let mut listener_routes: HashMap<(usize, usize), ListenerRoutes> = HashMap::new();
    let route_statuses = with_parents(&snapshot.http_routes, |id, route| {
        http_route::translate_http_route(
            snapshot,
            ctx,
            id,
            route,
            &mut gateways,
            &mut listener_routes,
            &mut clusters,
        )
    });
    let grpc_route_statuses = with_parents(&snapshot.grpc_routes, |id, route| {
        grpc_route::translate_grpc_route(
            snapshot,
            ctx,
            id,
            route,
            &mut gateways,
            &mut listener_routes,
            &mut clusters,
        )
    });
    let mut route_statuses = route_statuses;
    let mut grpc_route_statuses = grpc_route_statuses;
    resolve_kind_conflicts(
        &mut listener_routes,
        &mut gateways,
        &mut route_statuses,
        &mut grpc_route_statuses,
    );
    let mut tls_listener_routes = HashMap::new();
    let tls_route_statuses = with_parents(&snapshot.tls_routes, |id, route| {
        tls_route::translate_tls_route(
            snapshot,
            ctx,
            id,
            route,
            &mut gateways,
            &mut tls_listener_routes,
            &mut clusters,
        )
    });
    let uses = policy_uses(snapshot, &route_statuses, &grpc_route_statuses);
    let backend_tls_policies = backend_tls::policy_statuses(snapshot, &ctx.controller_name, &uses);
    let tcp_route_statuses = with_parents(&snapshot.tcp_routes, |id, route| {
        tls_route::translate_tcp_route(
            snapshot,
            ctx,
            id,
            route,
            &mut gateways,
            &mut tls_listener_routes,
            &mut clusters,
        )
    });
    let udp_route_statuses = with_parents(&snapshot.udp_routes, |id, route| {
        tls_route::translate_udp_route(
            snapshot,
            ctx,
            id,
            route,
            &mut gateways,
            &mut tls_listener_routes,
            &mut clusters,
        )
    });
    let (listeners, gateway_statuses, listener_set_statuses) = assemble(
        &gateways,
        listener_routes,
        tls_listener_routes,
        &mut clusters,
    );
    let infrastructure = infrastructure(&gateways, snapshot);
    Translation {
        infrastructure,
        config: ProxyConfig {
            listeners,
            clusters,
        },
        statuses: Statuses {
            gateway_classes: class_statuses,
            gateways: gateway_statuses,
            http_routes: route_statuses,
            grpc_routes: grpc_route_statuses,
            tls_routes: tls_route_statuses,
            tcp_routes: tcp_route_statuses,
            udp_routes: udp_route_statuses,
            backend_tls_policies,
            listener_sets: listener_set_statuses,
        },
    }
}

/// Builds sockets from served listeners and writes Gateway statuses.
fn assemble(
    gateways: &[gateway::GatewayModel<'_>],
    mut listener_routes: HashMap<(usize, usize), ListenerRoutes>,
    mut tls_listener_routes: HashMap<(usize, usize), tls_route::ListenerSniRoutes>,
    clusters: &mut BTreeMap<String, weir_proxy::config::Cluster>,
) -> (
    Vec<Listener>,
    BTreeMap<NsName, GatewayStatus>,
    BTreeMap<NsName, ListenerSetStatus>,
) {
    // One socket per address and transport (UDP or not).
    let mut sockets: BTreeMap<(SocketAddr, bool), Listener> = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    let mut set_statuses = BTreeMap::new();
    for (gi, g) in gateways.iter().enumerate() {
        let generation = g.generation;
        let mut listener_statuses = Vec::new();
        let mut set_listeners: Vec<Vec<ListenerStatus>> = vec![Vec::new(); g.listener_sets.len()];
        let mut any_serving = false;
        for (li, l) in g.listeners.iter().enumerate() {
            let mut conditions = l.conditions.clone();
            let serving = l.serving && g.rejected.is_none() && !g.addresses.is_empty();
            if serving {
                let routes = listener_routes.remove(&(gi, li)).unwrap_or_default();
                let mut virtual_hosts: Vec<VirtualHost> = routes
                    .vhosts
                    .into_iter()
                    .map(|(hostname, mut rs)| {
                        rs.sort_by(|a, b| a.0.cmp(&b.0));
                        VirtualHost {
                            hostname,
                            routes: rs.into_iter().map(|(_, _, r)| r).collect(),
                        }
                    })
                    .filter(|v| !v.routes.is_empty())
                    .collect();
                if let Some(cert) = &g.backend_client_cert {
                    present_client_certificate(&mut virtual_hosts, clusters, &g.id, cert);
                }
                let host = ListenerHost {
                    name: match l.owner {
                        None => format!("{}/{}", g.id, l.spec.name),
                        Some(si) => format!("{}/{}", g.listener_sets[si].id, l.spec.name),
                    },
                    hostname: l.spec.hostname.clone(),
                    virtual_hosts,
                    certificates: l.certificates.clone(),
                    mode: l.host_mode,
                    tls_routes: tls_route::sni_routes(
                        tls_listener_routes.remove(&(gi, li)).unwrap_or_default(),
                    ),
                };
                for ip in &g.addresses {
                    let Ok(port) = u16::try_from(l.spec.port) else {
                        continue;
                    };
                    let addr = SocketAddr::new(*ip, port);
                    let udp = l.protocol == weir_proxy::config::ListenerProtocol::Udp;
                    let socket = sockets.entry((addr, udp)).or_insert_with(|| Listener {
                        address: addr,
                        protocol: l.protocol,
                        hosts: Vec::new(),
                        client_validation: g.client_validation.get(&l.spec.port).cloned(),
                    });
                    // Another Gateway on this address uses the port with another protocol.
                    if socket.protocol != l.protocol {
                        let msg = format!(
                            "{addr} is served with protocol {:?} by listener {}",
                            socket.protocol,
                            socket.hosts.first().map_or("?", |h| h.name.as_str())
                        );
                        set(
                            &mut conditions,
                            Condition::new(
                                "Conflicted",
                                true,
                                "ProtocolConflict",
                                msg.clone(),
                                generation,
                            ),
                        );
                        set(
                            &mut conditions,
                            Condition::new("Programmed", false, "Invalid", msg, generation),
                        );
                        continue;
                    }
                    // Another Gateway sharing this address already serves this hostname.
                    if let Some(other) = socket.hosts.iter().find(|h| h.hostname == host.hostname) {
                        let msg = format!(
                            "{addr} hostname {} is already served by listener {}",
                            host.hostname.as_deref().unwrap_or("(any)"),
                            other.name
                        );
                        set(
                            &mut conditions,
                            Condition::new(
                                "Conflicted",
                                true,
                                "HostnameConflict",
                                msg.clone(),
                                generation,
                            ),
                        );
                        set(
                            &mut conditions,
                            Condition::new("Programmed", false, "Invalid", msg, generation),
                        );
                        continue;
                    }
                    socket.hosts.push(host.clone());
                }
            } else if l.serving {
                let (reason, msg) = g
                    .rejected
                    .clone()
                    .or_else(|| g.address_problem.clone())
                    .unwrap_or(("Invalid", "Gateway is not served".into()));
                let reason = if reason == "AddressNotAssigned" {
                    "Pending"
                } else {
                    "Invalid"
                };
                set(
                    &mut conditions,
                    Condition::new("Programmed", false, reason, msg, generation),
                );
            }
            let status = ListenerStatus {
                name: l.spec.name.clone(),
                supported_kinds: l.supported_kinds.clone(),
                attached_routes: l.attached_routes,
                conditions,
            };
            // A ListenerSet's listeners are reported on the ListenerSet, never on the Gateway.
            if let Some(si) = l.owner {
                set_listeners[si].push(status);
                continue;
            }
            any_serving |= status
                .conditions
                .iter()
                .any(|c| c.type_ == "Programmed" && c.is_true());
            listener_statuses.push(status);
        }
        let own = g.listeners.iter().filter(|l| l.owner.is_none()).count();
        let valid = g
            .listeners
            .iter()
            .filter(|l| l.owner.is_none())
            .filter(|l| {
                l.conditions
                    .iter()
                    .all(|c| c.type_ != "Accepted" || c.is_true())
            })
            .count();
        let accepted = match &g.rejected {
            Some((reason, msg)) => {
                Condition::new("Accepted", false, reason, msg.clone(), generation)
            }
            None if valid == own => Condition::new(
                "Accepted",
                true,
                "Accepted",
                "Gateway is accepted",
                generation,
            ),
            None if valid > 0 => Condition::new(
                "Accepted",
                true,
                "ListenersNotValid",
                format!("{} of {own} listeners are not valid", own - valid),
                generation,
            ),
            None => Condition::new(
                "Accepted",
                false,
                "ListenersNotValid",
                "no listener is valid",
                generation,
            ),
        };
        let programmed = match (&g.address_problem, any_serving) {
            (Some(("AddressNotAssigned", msg)), _) => Condition::new(
                "Programmed",
                false,
                "AddressNotAssigned",
                msg.clone(),
                generation,
            ),
            (_, true) => Condition::new(
                "Programmed",
                true,
                "Programmed",
                "Gateway is programmed",
                generation,
            ),
            (_, false) => Condition::new(
                "Programmed",
                false,
                "Invalid",
                "no listener is programmed",
                generation,
            ),
        };
        let mut conditions = vec![accepted, programmed];
        conditions.extend(g.resolved_refs.clone());
        if let Some(port) = g
            .client_validation
            .iter()
            .find(|(_, v)| v.insecure_fallback)
            .map(|(p, _)| *p)
        {
            conditions.push(Condition::new(
                "InsecureFrontendValidationMode",
                true,
                "ConfigurationChanged",
                format!("port {port} accepts clients without a valid certificate (AllowInsecureFallback)"),
                generation,
            ));
        }
        statuses.insert(
            g.id.clone(),
            GatewayStatus {
                addresses: g
                    .addresses
                    .iter()
                    .map(|ip| GatewayAddress {
                        type_: "IPAddress".into(),
                        value: ip.to_string(),
                    })
                    .collect(),
                conditions,
                listeners: listener_statuses,
                attached_listener_sets: g
                    .listener_sets
                    .iter()
                    .filter(|s| {
                        s.allowed
                            && s.conditions
                                .iter()
                                .any(|c| c.type_ == "Accepted" && c.is_true())
                    })
                    .count() as i32,
            },
        );
        for (s, listeners) in g.listener_sets.iter().zip(set_listeners) {
            set_statuses.insert(
                s.id.clone(),
                ListenerSetStatus {
                    conditions: s.conditions.clone(),
                    listeners,
                },
            );
        }
    }
    (sockets.into_values().collect(), statuses, set_statuses)
}

/// The Gateway's backend client certificate goes to every backend it reaches over TLS. Clusters
/// are shared between Gateways, so each TLS cluster this Gateway uses gets a copy of its own
/// (`cluster@namespace/gateway`) that carries the certificate.
fn present_client_certificate(
    vhosts: &mut [VirtualHost],
    clusters: &mut BTreeMap<String, weir_proxy::config::Cluster>,
    gateway: &NsName,
    cert: &weir_proxy::config::CertificatePem,
) {
    use weir_proxy::config::BackendTarget;
    let backends = vhosts
        .iter_mut()
        .flat_map(|v| v.routes.iter_mut())
        .flat_map(|r| r.backends.iter_mut());
    for b in backends {
        let BackendTarget::Cluster(name) = &b.target else {
            continue;
        };
        let Some(base) = clusters.get(name).filter(|c| c.tls.is_some()) else {
            continue;
        };
        let own = format!("{name}@{gateway}");
        if !clusters.contains_key(&own) {
            let mut c = base.clone();
            if let Some(t) = c.tls.as_mut() {
                t.client_certificate = Some(cert.clone());
            }
            clusters.insert(own.clone(), c);
        }
        b.target = BackendTarget::Cluster(own);
    }
}

/// The Services (and ports) a route's rules send traffic to: core Service backendRefs only.
fn service_refs<'a>(
    route_ns: &str,
    refs: impl Iterator<
        Item = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
            Option<i32>,
        ),
    >,
) -> Vec<(NsName, Option<i32>)> {
    refs.filter(|(group, kind, ..)| {
        group.unwrap_or("").is_empty() && kind.unwrap_or("Service") == "Service"
    })
    .map(|(_, _, ns, name, port)| (NsName::new(ns.unwrap_or(route_ns), name), port))
    .collect()
}

/// (Gateway, Service, port name) for every Service port an HTTPRoute or GRPCRoute accepted on
/// one of our Gateways sends traffic to: where BackendTLSPolicies take effect and report status.
fn policy_uses(
    snapshot: &Snapshot,
    http: &BTreeMap<NsName, crate::status::RouteStatus>,
    grpc: &BTreeMap<NsName, crate::status::RouteStatus>,
) -> std::collections::BTreeSet<(NsName, NsName, String)> {
    // HTTPRoute and GRPCRoute backendRefs have one shape in two generated types.
    macro_rules! refs_of {
        ($routes:expr, $statuses:expr) => {
            $statuses.iter().filter_map(|(id, status)| {
                let route = $routes.get(id)?;
                let refs = route
                    .spec
                    .rules
                    .iter()
                    .flatten()
                    .flat_map(|r| r.backend_refs.iter().flatten())
                    .map(|b| {
                        (
                            b.group.as_deref(),
                            b.kind.as_deref(),
                            b.namespace.as_deref(),
                            b.name.as_str(),
                            b.port,
                        )
                    });
                Some((id, status, service_refs(&id.namespace, refs)))
            })
        };
    }
    let http_refs = refs_of!(snapshot.http_routes, http);
    let grpc_refs = refs_of!(snapshot.grpc_routes, grpc);
    let mut uses = std::collections::BTreeSet::new();
    for (id, status, refs) in http_refs.chain(grpc_refs) {
        let gateways: Vec<NsName> = status
            .parents
            .iter()
            .filter(|p| {
                p.conditions
                    .iter()
                    .any(|c| c.type_ == "Accepted" && c.is_true())
            })
            .map(|p| {
                NsName::new(
                    p.parent_ref
                        .namespace
                        .clone()
                        .unwrap_or_else(|| id.namespace.clone()),
                    p.parent_ref.name.clone(),
                )
            })
            .collect();
        for (svc, port) in refs {
            let Some(port_name) = snapshot.services.get(&svc).and_then(|s| {
                s.spec
                    .as_ref()?
                    .ports
                    .as_ref()?
                    .iter()
                    .find(|p| Some(p.port) == port)
                    .map(|p| p.name.clone().unwrap_or_default())
            }) else {
                continue;
            };
            for g in &gateways {
                uses.insert((g.clone(), svc.clone(), port_name.clone()));
            }
        }
    }
    uses
}

/// Replaces the condition of the same type.
pub(crate) fn set(conds: &mut Vec<Condition>, c: Condition) {
    match conds.iter_mut().find(|x| x.type_ == c.type_) {
        Some(x) => *x = c,
        None => conds.push(c),
    }
}

#[cfg(test)]
mod tests;
