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
    let candidates: Vec<usize> = (0..g.listeners.len())
        .filter(|&li| {
            let l = g.listeners[li].spec;
            pr.section_name.is_none_or(|s| s == l.name) && pr.port.is_none_or(|p| p == l.port)
        })
        .collect();
    if candidates.is_empty() {
        let what = match (pr.section_name, pr.port) {
            (Some(s), Some(p)) => format!("listener {s:?} on port {p}"),
            (Some(s), None) => format!("listener {s:?}"),
            (None, Some(p)) => format!("a listener on port {p}"),
            (None, None) => "any listener".into(),
        };
        return no(
            "NoMatchingParent",
            format!("Gateway {} has no {what}", g.id),
        );
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
                AllowedNamespaces::Same => route_id.namespace == g.id.namespace,
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
                "no listener of Gateway {} allows {route_kind}s from namespace {}",
                g.id, route_id.namespace
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
            format!(
                "no hostname of the route intersects a listener hostname of Gateway {}",
                g.id
            ),
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
