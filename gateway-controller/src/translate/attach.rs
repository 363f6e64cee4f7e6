//! Route attachment: which listeners of a Gateway a parentRef selects, and whether the
//! route is accepted there (sectionName and port, allowedRoutes namespaces and kinds, hostname
//! intersection). Shared by every route kind.

use std::collections::HashSet;

use weir_store::{NsName, Snapshot};

use super::gateway::{AllowedNamespaces, GatewayModel};
use super::hostname::route_hostnames_on_listener;
use crate::status::Condition;

/// The route being attached.
#[derive(Clone, Copy)]
pub(crate) struct RouteRef<'a> {
    /// `HTTPRoute`, `TLSRoute`, ...: must be among the listener's supported kinds.
    pub kind: &'a str,
    pub id: &'a NsName,
    pub hostnames: &'a [String],
    pub generation: i64,
}

/// The parts of a parentRef that select listeners.
pub(crate) struct ParentSelector<'a> {
    pub section_name: Option<&'a str>,
    pub port: Option<i32>,
    /// `None`: the Gateway's own listeners; `Some(i)`: those of its ListenerSet `i`. A route
    /// attaches only to listeners of the parent it names.
    pub owner: Option<usize>,
}

/// The Gateway of ours (and the ListenerSet of it) a parentRef names, by group, kind,
/// namespace and name; `None` when the parent is not ours (its controller writes the status).
pub(crate) fn find_parent(
    gateways: &[GatewayModel<'_>],
    group: &str,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<(usize, Option<usize>)> {
    if group != crate::status::GROUP {
        return None;
    }
    match kind {
        "Gateway" => gateways
            .iter()
            .position(|g| g.id.namespace == namespace && g.id.name == name)
            .map(|gi| (gi, None)),
        "ListenerSet" => gateways.iter().enumerate().find_map(|(gi, g)| {
            g.listener_sets
                .iter()
                .position(|s| s.id.namespace == namespace && s.id.name == name)
                .map(|si| (gi, Some(si)))
        }),
        _ => None,
    }
}

/// Attaches a route to the listeners a parentRef selects. `serve` is called for each
/// served listener with the hostnames the route answers there. Returns the Accepted condition.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attach(
    snapshot: &Snapshot,
    g: &mut GatewayModel<'_>,
    gi: usize,
    route: RouteRef<'_>,
    pr: &ParentSelector<'_>,
    has_rules: bool,
    dropped: &[String],
    attached: &mut HashSet<(usize, usize)>,
    mut serve: impl FnMut(usize, &[String]),
) -> Condition {
    let RouteRef {
        kind: route_kind,
        id: route_id,
        hostnames,
        generation,
    } = route;
    let no = |reason: &str, msg: String| Condition::new("Accepted", false, reason, msg, generation);
    let parent = match pr.owner {
        None => format!("Gateway {}", g.id),
        Some(si) => {
            let s = &g.listener_sets[si];
            if s.allowed {
                format!("ListenerSet {}", s.id)
            } else {
                format!("ListenerSet {} (not allowed by Gateway {})", s.id, g.id)
            }
        }
    };
    let candidates: Vec<usize> = (0..g.listeners.len())
        .filter(|&li| {
            let l = &g.listeners[li];
            l.owner == pr.owner
                && pr.section_name.is_none_or(|s| s == l.spec.name)
                && pr.port.is_none_or(|p| p == l.spec.port)
        })
        .collect();
    if candidates.is_empty() {
        let what = match (pr.section_name, pr.port) {
            (Some(s), Some(p)) => format!("listener {s:?} on port {p}"),
            (Some(s), None) => format!("listener {s:?}"),
            (None, Some(p)) => format!("a listener on port {p}"),
            (None, None) => "any listener".into(),
        };
        return no("NoMatchingParent", format!("{parent} has no {what}"));
    }
    if !has_rules {
        return no(
            "UnsupportedValue",
            format!("no rule can be served: {}", dropped.join("; ")),
        );
    }
    let allowed: Vec<usize> = candidates
        .into_iter()
        .filter(|&li| {
            let l = &g.listeners[li];
            let ns_ok = match &l.namespaces {
                AllowedNamespaces::Same => route_id.namespace == l.owner_ns,
                AllowedNamespaces::All => true,
                AllowedNamespaces::Selector(sel) => {
                    sel.matches(&snapshot.namespace_labels(&route_id.namespace))
                }
            };
            ns_ok && l.supported_kinds.iter().any(|k| k.kind == route_kind)
        })
        .collect();
    if allowed.is_empty() {
        return no(
            "NotAllowedByListeners",
            format!(
                "no listener of {parent} allows {route_kind}s from namespace {}",
                route_id.namespace
            ),
        );
    }
    let mut any = false;
    for li in allowed {
        let l = &mut g.listeners[li];
        let Some(hosts) = route_hostnames_on_listener(l.spec.hostname.as_deref(), hostnames) else {
            continue;
        };
        any = true;
        // A route selecting one listener through two parentRefs attaches (and serves) once.
        if attached.insert((gi, li)) {
            l.attached_routes += 1;
            if l.serving {
                serve(li, &hosts);
            }
        }
    }
    if !any {
        return no(
            "NoMatchingListenerHostname",
            format!("no hostname of the route intersects a listener hostname of {parent}"),
        );
    }
    Condition::new(
        "Accepted",
        true,
        "Accepted",
        "Route is accepted",
        generation,
    )
}
