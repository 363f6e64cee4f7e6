//! backendRefs: kind checks, ReferenceGrants, Services, ports and EndpointSlices.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use weir_proxy::config::{Cluster, HashOn, LoadBalancing, UpstreamProtocol};
use weir_store::{NsName, Snapshot};

use crate::status::GROUP;

/// A reference that could not be resolved: the route's ResolvedRefs reason and message.
#[derive(Debug, Clone)]
pub(crate) struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

/// The fields every kind of backendRef has.
pub(crate) struct BackendRefSpec<'a> {
    pub group: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub port: Option<i32>,
}

/// Whether a ReferenceGrant in `to_ns` lets `from_kind` objects in `from_ns` refer to the
/// `to_group`/`to_kind` object named `to_name`.
pub(crate) fn reference_granted(
    snapshot: &Snapshot,
    from_kind: &str,
    from_ns: &str,
    to_group: &str,
    to_kind: &str,
    to_ns: &str,
    to_name: &str,
) -> bool {
    snapshot
        .reference_grants
        .range(NsName::new(to_ns, "")..)
        .take_while(|(k, _)| k.namespace == to_ns)
        .any(|(_, g)| {
            g.spec
                .from
                .iter()
                .any(|f| f.group == GROUP && f.kind == from_kind && f.namespace == from_ns)
                && g.spec.to.iter().any(|t| {
                    t.group == to_group
                        && t.kind == to_kind
                        && t.name.as_deref().is_none_or(|n| n == to_name)
                })
        })
}

/// Resolves a backendRef of a route of kind `route_kind` in `route_ns` to a cluster,
/// adding the cluster to `clusters`. Returns the cluster name. `grpc`: the route is a
/// GRPCRoute, whose backends always get HTTP/2 (a port without `kubernetes.io/h2c` gets its own
/// cluster, `…:PORT/grpc`, so an HTTPRoute to the same port keeps HTTP/1.1).
pub(crate) fn resolve_backend(
    snapshot: &Snapshot,
    route_kind: &str,
    route_ns: &str,
    b: &BackendRefSpec<'_>,
    grpc: bool,
    clusters: &mut BTreeMap<String, Cluster>,
) -> Result<String, Unresolved> {
    let group = b.group.unwrap_or("");
    let kind = b.kind.unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        return Err(Unresolved {
            reason: "InvalidKind",
            message: format!(
                "backendRef {}: kind {}{kind} is not supported; only core Services",
                b.name,
                if group.is_empty() {
                    String::new()
                } else {
                    format!("{group}/")
                }
            ),
        });
    }
    let ns = b.namespace.unwrap_or(route_ns);
    if ns != route_ns
        && !reference_granted(snapshot, route_kind, route_ns, "", "Service", ns, b.name)
    {
        return Err(Unresolved {
            reason: "RefNotPermitted",
            message: format!(
                "backendRef {ns}/{}: no ReferenceGrant in namespace {ns} allows {route_kind}s from {route_ns} to refer to it",
                b.name
            ),
        });
    }
    let id = NsName::new(ns, b.name);
    let Some(svc) = snapshot.services.get(&id) else {
        return Err(Unresolved {
            reason: "BackendNotFound",
            message: format!("backendRef {id}: Service not found"),
        });
    };
    let Some(port) = b.port else {
        return Err(Unresolved {
            reason: "BackendNotFound",
            message: format!("backendRef {id}: port is required"),
        });
    };
    let spec = svc.spec.as_ref();
    let Some(svc_port) = spec
        .and_then(|s| s.ports.as_ref())
        .and_then(|ps| ps.iter().find(|p| p.port == port))
    else {
        return Err(Unresolved {
            reason: "BackendNotFound",
            message: format!("backendRef {id}: Service has no port {port}"),
        });
    };
    let protocol = match svc_port.app_protocol.as_deref() {
        None
        | Some(
            "http" | "HTTP" | "kubernetes.io/http" | "https" | "HTTPS" | "kubernetes.io/https",
        ) => UpstreamProtocol::Http1,
        Some("kubernetes.io/h2c") => UpstreamProtocol::H2c,
        Some("kubernetes.io/ws") => UpstreamProtocol::WebSocket,
        Some(other) => {
            return Err(Unresolved {
                reason: "UnsupportedProtocol",
                message: format!(
                    "backendRef {id} port {port}: appProtocol {other} is not supported"
                ),
            });
        }
    };
    let (protocol, suffix) = match (grpc, protocol) {
        (false, p) | (true, p @ UpstreamProtocol::H2c) => (p, ""),
        (true, UpstreamProtocol::Http1) => (UpstreamProtocol::H2c, "/grpc"),
        (true, UpstreamProtocol::WebSocket) => {
            return Err(Unresolved {
                reason: "UnsupportedProtocol",
                message: format!(
                    "backendRef {id} port {port}: appProtocol kubernetes.io/ws cannot carry gRPC, which needs HTTP/2"
                ),
            });
        }
    };
    let port_name = svc_port.name.as_deref().unwrap_or("");
    let mut endpoints = Vec::new();
    for slice in snapshot.endpoint_slices_for(&id) {
        let Some(target) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        for ep in slice.endpoints.iter().flatten() {
            // Ready unless the slice says otherwise (nil means ready).
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for a in &ep.addresses {
                if let Ok(ip) = a.parse::<IpAddr>()
                    && let Ok(p) = u16::try_from(target)
                {
                    endpoints.push(SocketAddr::new(ip, p));
                }
            }
        }
    }
    endpoints.sort();
    endpoints.dedup();
    // A BackendTLSPolicy on this port: TLS to the endpoints. One that cannot be honoured
    // fails closed (no endpoints, so 503), never plaintext.
    let tls = match super::backend_tls::policy_for(snapshot, &id, port_name) {
        None => None,
        Some((pid, policy)) => match super::backend_tls::upstream_tls(snapshot, pid, policy) {
            Ok(t) => Some(t),
            Err((_, msg)) => {
                tracing::debug!(service = %id, policy = %pid, reason = %msg, "BackendTLSPolicy cannot be honoured; backend fails closed");
                endpoints.clear();
                None
            }
        },
    };
    let name = format!("{id}:{port}{suffix}");
    let load_balancing = load_balancing(&id, svc.metadata.annotations.as_ref());
    clusters.insert(
        name.clone(),
        Cluster {
            protocol,
            endpoints,
            load_balancing,
            tls,
        },
    );
    Ok(name)
}

/// Chooses the endpoint policy of a Service's clusters.
pub const LB_ANNOTATION: &str = "weir.dev/load-balancing";
/// What `consistent-hash` hashes: `source-ip` (default), `header:NAME` or `cookie:NAME`.
pub const HASH_ON_ANNOTATION: &str = "weir.dev/hash-on";

/// The Service's load-balancing annotations; a value weir does not know is logged (naming the
/// Service, the annotation and the reason) and the default, least request, is used.
pub(crate) fn load_balancing(
    id: &NsName,
    annotations: Option<&BTreeMap<String, String>>,
) -> LoadBalancing {
    let get = |k: &str| annotations.and_then(|a| a.get(k)).map(String::as_str);
    match get(LB_ANNOTATION) {
        None | Some("least-request") => LoadBalancing::LeastRequest,
        Some("round-robin") => LoadBalancing::RoundRobin,
        Some("random") => LoadBalancing::Random,
        Some("consistent-hash") => {
            let on = match get(HASH_ON_ANNOTATION) {
                None | Some("source-ip") => Some(HashOn::SourceIp),
                Some(v) => match v.split_once(':') {
                    Some(("header", h)) if !h.is_empty() => {
                        Some(HashOn::Header(h.to_ascii_lowercase()))
                    }
                    Some(("cookie", c)) if !c.is_empty() => Some(HashOn::Cookie(c.to_owned())),
                    _ => None,
                },
            };
            match on {
                Some(on) => LoadBalancing::ConsistentHash { on },
                None => {
                    tracing::warn!(service = %id, annotation = HASH_ON_ANNOTATION, value = ?get(HASH_ON_ANNOTATION), "not source-ip, header:NAME or cookie:NAME; hashing on source-ip");
                    LoadBalancing::ConsistentHash {
                        on: HashOn::SourceIp,
                    }
                }
            }
        }
        Some(other) => {
            tracing::warn!(service = %id, annotation = LB_ANNOTATION, value = other, "not least-request, round-robin, random or consistent-hash; using least-request");
            LoadBalancing::LeastRequest
        }
    }
}
