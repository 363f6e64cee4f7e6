//! Behaviour of `translate`, pinned down from manifests: every test loads YAML through a
//! `ManifestDir` (as `weir run` does), translates it, and checks the dataplane config and the
//! statuses the Gateway API (v1.6) asks for.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use weir_proxy::config::{
    BackendTarget, Cluster, Filter, ListenerHost, PathMatch, Redirect, Route, UpstreamProtocol,
    WeightedBackend,
};
use weir_store::{ManifestDir, NsName, Snapshot};

use super::{TranslateContext, Translation, translate};
use crate::CONTROLLER_NAME;
use crate::status::{
    Condition, GROUP, GatewayStatus, ListenerStatus, RouteGroupKind, RouteParentStatus,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Loads a multi-document YAML string the way a manifest directory is loaded. Every object
/// must be admitted: a test must never pass because an object was silently left out.
fn snapshot(yaml: &str) -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
    let (snapshot, diags) = ManifestDir::new(dir.path()).load().unwrap();
    let diags: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(
        diags.is_empty(),
        "manifests were not all admitted:\n{}",
        diags.join("\n")
    );
    snapshot
}

/// Our controller name, and an address (10.0.0.1, 10.0.0.2, ... in key order) for every Gateway.
fn context(snapshot: &Snapshot) -> TranslateContext {
    let assigned_addresses = snapshot
        .gateways
        .keys()
        .zip(1u8..)
        .map(|(id, i)| (id.clone(), IpAddr::from([198, 51, 100, i])))
        .collect();
    TranslateContext {
        controller_name: CONTROLLER_NAME.into(),
        assigned_addresses,
        now_unix: weir_tls::material::unix_now(),
    }
}

fn run(yaml: &str) -> Translation {
    let s = snapshot(yaml);
    translate(&s, &context(&s))
}

fn id(s: &str) -> NsName {
    match s.split_once('/') {
        Some((ns, name)) => NsName::new(ns, name),
        None => NsName::new("", s),
    }
}

/// The condition of type `ty`, which must exist.
fn cond<'a>(conds: &'a [Condition], ty: &str) -> &'a Condition {
    conds
        .iter()
        .find(|c| c.type_ == ty)
        .unwrap_or_else(|| panic!("no {ty} condition in {conds:#?}"))
}

/// Asserts a condition's status and reason.
#[track_caller]
fn assert_cond(conds: &[Condition], ty: &str, status: bool, reason: &str) {
    let c = cond(conds, ty);
    let want = if status { "True" } else { "False" };
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        (want, reason),
        "{ty} condition: {c:#?}"
    );
}

fn gateway<'a>(t: &'a Translation, gw: &str) -> &'a GatewayStatus {
    t.statuses
        .gateways
        .get(&id(gw))
        .unwrap_or_else(|| panic!("no status for Gateway {gw}: {:#?}", t.statuses.gateways))
}

fn listener<'a>(t: &'a Translation, gw: &str, name: &str) -> &'a ListenerStatus {
    let g = gateway(t, gw);
    g.listeners
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no listener {name} in {g:#?}"))
}

/// The status of a route's only parent.
fn parent<'a>(t: &'a Translation, route: &str) -> &'a RouteParentStatus {
    let s = t
        .statuses
        .http_routes
        .get(&id(route))
        .or_else(|| t.statuses.grpc_routes.get(&id(route)))
        .unwrap_or_else(|| panic!("no status for HTTPRoute or GRPCRoute {route}"));
    assert_eq!(s.parents.len(), 1, "{s:#?}");
    &s.parents[0]
}

fn all_hosts(t: &Translation) -> impl Iterator<Item = &ListenerHost> {
    t.config.listeners.iter().flat_map(|l| &l.hosts)
}

/// A Gateway listener in the config, by `namespace/gateway/listener`.
fn host<'a>(t: &'a Translation, name: &str) -> &'a ListenerHost {
    all_hosts(t)
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("listener {name} is not served: {:#?}", t.config.listeners))
}

/// The hostnames of a served listener's virtual hosts, in config order.
fn vhosts<'a>(t: &'a Translation, listener: &str) -> Vec<&'a str> {
    host(t, listener)
        .virtual_hosts
        .iter()
        .map(|v| v.hostname.as_str())
        .collect()
}

/// Route names of one virtual host, in precedence order.
fn route_names<'a>(t: &'a Translation, listener: &str, vhost: &str) -> Vec<&'a str> {
    let h = host(t, listener);
    let v = h
        .virtual_hosts
        .iter()
        .find(|v| v.hostname == vhost)
        .unwrap_or_else(|| panic!("no vhost {vhost} in {h:#?}"));
    v.routes.iter().map(|r| r.name.as_str()).collect()
}

/// A route by name, wherever it is served.
fn route<'a>(t: &'a Translation, name: &str) -> &'a Route {
    all_hosts(t)
        .flat_map(|h| &h.virtual_hosts)
        .flat_map(|v| &v.routes)
        .find(|r| r.name == name)
        .unwrap_or_else(|| {
            panic!(
                "route {name} is not in the config: {:#?}",
                t.config.listeners
            )
        })
}

/// Every route name in the config, across listeners and vhosts.
fn every_route_name(t: &Translation) -> Vec<&str> {
    all_hosts(t)
        .flat_map(|h| &h.virtual_hosts)
        .flat_map(|v| &v.routes)
        .map(|r| r.name.as_str())
        .collect()
}

fn http_route_kind() -> RouteGroupKind {
    RouteGroupKind {
        group: GROUP.into(),
        kind: "HTTPRoute".into(),
    }
}

/// GatewayClass `weir` (ours).
const CLASS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weir
spec:
  controllerName: weir.dev/gateway-controller
"#;

/// `CLASS` and Gateway `default/gw` with one HTTP listener `http` on port 80, same-namespace routes.
const GW: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weir
spec:
  controllerName: weir.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
"#;

/// `CLASS` and Gateway `default/gw` with one HTTP listener `http` on port 80 open to all namespaces.
const GW_ALL: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weir
spec:
  controllerName: weir.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      namespaces:
        from: All
"#;

/// An HTTPRoute `default/r` on `default/gw` with the given rules (YAML list items under `rules:`).
fn route_with_rules(rules: &str) -> String {
    format!(
        r#"{GW}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
{rules}"#
    )
}

/// An HTTPRoute `namespace/name` on `default/gw`, created at `created`, with one `/` rule.
fn catch_all_route(namespace: &str, name: &str, created: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {namespace}
  creationTimestamp: "{created}"
spec:
  parentRefs:
  - name: gw
    namespace: default
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /}}
"#
    )
}

const L: &str = "default/gw/http";

#[test]
fn the_helpers_see_a_minimal_gateway_served() {
    // A guard for every other test: the base manifests name our controller, are admitted
    // and are served.
    assert!(CLASS.contains(&format!("controllerName: {CONTROLLER_NAME}\n")));
    assert!(GW.starts_with(CLASS) && GW_ALL.starts_with(CLASS));
    let t = run(&route_with_rules("  - backendRefs: []\n"));
    assert_eq!(t.config.listeners.len(), 1);
    assert_eq!(
        t.config.listeners[0].address,
        "198.51.100.1:80".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(vhosts(&t, L), ["*"]);
    assert_eq!(route_names(&t, L, "*"), ["default/r/rule0/0"]);
    assert_eq!(
        route(&t, "default/r/rule0/0").matcher.path,
        PathMatch::Prefix("/".into())
    );
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        true,
        "Accepted",
    );
}

// ---------------------------------------------------------------------------------------------
// Matching precedence within one virtual host
// ---------------------------------------------------------------------------------------------

#[test]
fn exact_path_beats_longer_prefix() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /foo/bar/baz}
  - matches:
    - path: {type: Exact, value: /foo}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
    assert_eq!(
        route(&t, "default/r/rule1/0").matcher.path,
        PathMatch::Exact("/foo".into())
    );
}

#[test]
fn longer_prefix_beats_shorter_prefix() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
  - matches:
    - path: {type: PathPrefix, value: /a}
  - matches:
    - path: {type: PathPrefix, value: /a/bc}
  - matches:
    - path: {type: PathPrefix, value: /a/b}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/r/rule2/0",
            "default/r/rule3/0",
            "default/r/rule1/0",
            "default/r/rule0/0"
        ]
    );
}

#[test]
fn method_match_beats_no_method() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /api}
  - matches:
    - path: {type: PathPrefix, value: /api}
      method: POST
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
    assert_eq!(
        route(&t, "default/r/rule1/0").matcher.method.as_deref(),
        Some("POST")
    );
}

#[test]
fn longer_prefix_beats_method_match() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
      method: GET
  - matches:
    - path: {type: PathPrefix, value: /api}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
}

#[test]
fn more_header_matches_first() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: x-a, value: "1"}
  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: x-a, value: "1"}
      - {name: X-B, value: "2"}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/r/rule2/0",
            "default/r/rule1/0",
            "default/r/rule0/0"
        ]
    );
    let names: Vec<&str> = route(&t, "default/r/rule2/0")
        .matcher
        .headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["x-a", "x-b"],
        "header names are matched case-insensitively"
    );
}

#[test]
fn method_match_beats_more_header_matches() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: x-a, value: "1"}
      - {name: x-b, value: "2"}
  - matches:
    - path: {type: PathPrefix, value: /}
      method: GET
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
}

#[test]
fn more_query_param_matches_first() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
      queryParams:
      - {name: a, value: "1"}
  - matches:
    - path: {type: PathPrefix, value: /}
      queryParams:
      - {name: a, value: "1"}
      - {name: b, value: "2"}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
}

#[test]
fn more_header_matches_beat_more_query_param_matches() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
      queryParams:
      - {name: a, value: "1"}
      - {name: b, value: "2"}
  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: x-a, value: "1"}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/r/rule1/0", "default/r/rule0/0"]
    );
}

#[test]
fn older_route_wins_a_tie_even_against_an_earlier_name() {
    let mut yaml = GW.to_string();
    yaml += &catch_all_route("default", "a-new", "2024-06-01T00:00:00Z");
    yaml += &catch_all_route("default", "z-old", "2020-01-01T00:00:00Z");
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/z-old/rule0/0", "default/a-new/rule0/0"]
    );
}

#[test]
fn more_specific_match_beats_older_route() {
    let mut yaml = GW.to_string();
    yaml += &catch_all_route("default", "old", "2020-01-01T00:00:00Z");
    yaml += r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: new
  namespace: default
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path: {type: PathPrefix, value: /x}
"#;
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, L, "*"),
        ["default/new/rule0/0", "default/old/rule0/0"]
    );
}

#[test]
fn routes_of_the_same_age_order_by_namespace_then_name() {
    let ts = "2024-01-01T00:00:00Z";
    let mut yaml = GW_ALL.to_string();
    // Declared out of order on purpose.
    yaml += &catch_all_route("beta", "a", ts);
    yaml += &catch_all_route("alpha", "b", ts);
    yaml += &catch_all_route("alpha", "a", ts);
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, L, "*"),
        ["alpha/a/rule0/0", "alpha/b/rule0/0", "beta/a/rule0/0"]
    );
}

#[test]
fn routes_of_the_same_age_order_by_the_namespace_slash_name_string() {
    // "app-b/a" < "app/z" as strings ('-' is 0x2D, '/' is 0x2F), while ("app", ..) < ("app-b", ..)
    // as a tuple. The spec says: the Route appearing first in alphabetical order by
    // "{namespace}/{name}".
    let ts = "2024-01-01T00:00:00Z";
    let mut yaml = GW_ALL.to_string();
    yaml += &catch_all_route("app", "z", ts);
    yaml += &catch_all_route("app-b", "a", ts);
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, L, "*"),
        ["app-b/a/rule0/0", "app/z/rule0/0"]
    );
}

#[test]
fn rule_order_then_match_order_break_remaining_ties() {
    let t = run(&route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /same}
    - path: {type: PathPrefix, value: /same}
  - matches:
    - path: {type: PathPrefix, value: /same}
  - name: named
    matches:
    - path: {type: PathPrefix, value: /same}
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/r/rule0/0",
            "default/r/rule0/1",
            "default/r/rule1/0",
            "default/r/named/0"
        ]
    );
}

#[test]
fn precedence_applies_across_all_criteria_at_once() {
    let mut yaml = route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /}
  - matches:
    - path: {type: PathPrefix, value: /}
      queryParams:
      - {name: q, value: "1"}
  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: h, value: "1"}
  - matches:
    - path: {type: PathPrefix, value: /}
      method: GET
  - matches:
    - path: {type: PathPrefix, value: /p}
  - matches:
    - path: {type: Exact, value: /}
"#,
    );
    yaml = yaml.replace(
        "  name: r\n",
        "  name: r\n  creationTimestamp: \"2024-01-01T00:00:00Z\"\n",
    );
    yaml += &catch_all_route("default", "older", "2020-01-01T00:00:00Z");
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/r/rule5/0",
            "default/r/rule4/0",
            "default/r/rule3/0",
            "default/r/rule2/0",
            "default/r/rule1/0",
            "default/older/rule0/0",
            "default/r/rule0/0",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Hostnames
// ---------------------------------------------------------------------------------------------

/// `CLASS`, Gateway `default/gw` with listener `http` (port 80) of hostname `listener_host`, and
/// HTTPRoute `default/r` with `hostnames`.
fn hostnames_case(listener_host: &str, hostnames: &[&str]) -> Translation {
    let hostnames = if hostnames.is_empty() {
        String::new()
    } else {
        format!(
            "  hostnames: [{}]\n",
            hostnames
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    run(&format!(
        r#"{CLASS}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    hostname: "{listener_host}"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
spec:
  parentRefs:
  - name: gw
{hostnames}  rules:
  - matches:
    - path: {{type: PathPrefix, value: /}}
"#
    ))
}

#[test]
fn wildcard_listener_serves_the_route_hostnames_it_covers() {
    let t = hostnames_case(
        "*.example.com",
        &[
            "foo.example.com",
            "a.b.example.com",
            "*.bar.example.com",
            "example.com",
            "other.org",
        ],
    );
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_eq!(host(&t, L).hostname.as_deref(), Some("*.example.com"));
    assert_eq!(
        vhosts(&t, L),
        ["*.bar.example.com", "a.b.example.com", "foo.example.com"]
    );
    for v in ["*.bar.example.com", "a.b.example.com", "foo.example.com"] {
        assert_eq!(route_names(&t, L, v), ["default/r/rule0/0"]);
    }
}

#[test]
fn wildcard_route_hostname_narrows_to_the_exact_listener_hostname() {
    let t = hostnames_case("foo.example.com", &["*.example.com"]);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_eq!(vhosts(&t, L), ["foo.example.com"]);
}

#[test]
fn broader_wildcard_route_narrows_to_the_wildcard_listener_hostname() {
    let t = hostnames_case("*.foo.example.com", &["*.example.com"]);
    assert_eq!(vhosts(&t, L), ["*.foo.example.com"]);
}

#[test]
fn route_without_hostnames_takes_the_listener_hostname() {
    let t = hostnames_case("*.example.com", &[]);
    assert_eq!(vhosts(&t, L), ["*.example.com"]);
}

#[test]
fn listener_without_hostname_serves_the_route_hostnames_or_any_host() {
    let t = run(&format!(
        "{GW}\n---\n{}",
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: named
  namespace: default
spec:
  parentRefs:
  - name: gw
  hostnames: ["b.example.com", "*.a.example.com"]
  rules:
  - backendRefs: []
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: any
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
  - backendRefs: []
"#
    ));
    assert_eq!(vhosts(&t, L), ["*", "*.a.example.com", "b.example.com"]);
    assert_eq!(route_names(&t, L, "*"), ["default/any/rule0/0"]);
    assert_eq!(
        route_names(&t, L, "b.example.com"),
        ["default/named/rule0/0"]
    );
}

#[test]
fn route_with_no_intersecting_hostname_is_not_accepted() {
    let t = hostnames_case("foo.example.com", &["bar.example.com", "*.example.org"]);
    let p = parent(&t, "default/r");
    assert_cond(
        &p.conditions,
        "Accepted",
        false,
        "NoMatchingListenerHostname",
    );
    assert!(every_route_name(&t).is_empty(), "{:#?}", t.config.listeners);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 0);
}

#[test]
fn wildcard_listener_does_not_cover_its_bare_suffix() {
    let t = hostnames_case("*.example.com", &["example.com"]);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        false,
        "NoMatchingListenerHostname",
    );
    assert!(every_route_name(&t).is_empty());
}

// ---------------------------------------------------------------------------------------------
// allowedRoutes
// ---------------------------------------------------------------------------------------------

/// An HTTPRoute `namespace/name` with parentRef `default/gw` (optionally a section) and one rule.
fn route_in(namespace: &str, name: &str, section: Option<&str>) -> String {
    let section = section
        .map(|s| format!("    sectionName: {s}\n"))
        .unwrap_or_default();
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {namespace}
spec:
  parentRefs:
  - name: gw
    namespace: default
{section}  rules:
  - matches:
    - path: {{type: PathPrefix, value: /{name}}}
"#
    )
}

#[test]
fn route_from_other_namespace_is_not_allowed_by_same_listener() {
    let mut yaml = GW.to_string();
    yaml += &route_in("default", "mine", None);
    yaml += &route_in("other", "theirs", None);
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/mine").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_cond(
        &parent(&t, "other/theirs").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
    assert_eq!(every_route_name(&t), ["default/mine/rule0/0"]);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 1);
}

#[test]
fn all_namespaces_listener_accepts_routes_from_any_namespace() {
    let mut yaml = GW_ALL.to_string();
    yaml += &route_in("default", "mine", None);
    yaml += &route_in("other", "theirs", None);
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/mine").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_cond(
        &parent(&t, "other/theirs").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    // `/theirs` is the longer prefix.
    assert_eq!(
        route_names(&t, L, "*"),
        ["other/theirs/rule0/0", "default/mine/rule0/0"]
    );
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 2);
}

#[test]
fn selector_listener_accepts_only_namespaces_whose_labels_match() {
    let mut yaml = format!(
        r#"{CLASS}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
  labels: {{team: a, env: prod}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
  labels: {{team: b, env: prod}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels: {{env: prod}}
          matchExpressions:
          - {{key: team, operator: In, values: [a, c]}}
"#
    );
    yaml += &route_in("team-a", "a", None);
    yaml += &route_in("team-b", "b", None);
    yaml += &route_in("default", "d", None);
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "team-a/a").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_cond(
        &parent(&t, "team-b/b").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
    // Even the Gateway's own namespace must match the selector.
    assert_cond(
        &parent(&t, "default/d").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
    assert_eq!(every_route_name(&t), ["team-a/a/rule0/0"]);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 1);
}

#[test]
fn selector_matches_the_implicit_metadata_name_label_of_undeclared_namespaces() {
    let mut yaml = format!(
        r#"{CLASS}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: apps
"#
    );
    yaml += &route_in("apps", "a", None);
    yaml += &route_in("web", "w", None);
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "apps/a").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_cond(
        &parent(&t, "web/w").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
}

#[test]
fn selector_match_expressions_not_in_and_does_not_exist_exclude_namespaces() {
    let mut yaml = format!(
        r#"{CLASS}
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels: {{env: prod}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: dev
  labels: {{env: dev}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: quarantined
  labels: {{env: prod, blocked: "yes"}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchExpressions:
          - {{key: env, operator: NotIn, values: [dev]}}
          - {{key: env, operator: Exists}}
          - {{key: blocked, operator: DoesNotExist}}
"#
    );
    for ns in ["prod", "dev", "quarantined"] {
        yaml += &route_in(ns, "r", None);
    }
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "prod/r").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    assert_cond(
        &parent(&t, "dev/r").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
    assert_cond(
        &parent(&t, "quarantined/r").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
}

#[test]
fn invalid_route_kind_is_reported_and_left_out_of_supported_kinds() {
    let mut yaml = format!(
        r#"{CLASS}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      kinds:
      - kind: HTTPRoute
      - kind: TCPRoute
  - name: only-invalid
    protocol: HTTP
    port: 8080
    allowedRoutes:
      kinds:
      - {{group: example.com, kind: HTTPRoute}}
"#
    );
    yaml += &route_in("default", "r", Some("http"));
    yaml += &route_in("default", "s", Some("only-invalid"));
    let t = run(&yaml);

    let l = listener(&t, "default/gw", "http");
    assert_cond(&l.conditions, "ResolvedRefs", false, "InvalidRouteKinds");
    assert_eq!(l.supported_kinds, [http_route_kind()]);
    assert_eq!(l.attached_routes, 1);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        true,
        "Accepted",
    );

    let l = listener(&t, "default/gw", "only-invalid");
    assert_cond(&l.conditions, "ResolvedRefs", false, "InvalidRouteKinds");
    assert!(l.supported_kinds.is_empty(), "{:?}", l.supported_kinds);
    assert_eq!(l.attached_routes, 0);
    assert_cond(
        &parent(&t, "default/s").conditions,
        "Accepted",
        false,
        "NotAllowedByListeners",
    );
}

#[test]
fn listener_without_allowed_kinds_supports_httproute_and_grpcroute() {
    let t = run(&route_with_rules("  - backendRefs: []\n"));
    let l = listener(&t, "default/gw", "http");
    assert_eq!(
        l.supported_kinds,
        [
            http_route_kind(),
            RouteGroupKind {
                group: GROUP.into(),
                kind: "GRPCRoute".into()
            }
        ]
    );
    assert_cond(&l.conditions, "ResolvedRefs", true, "ResolvedRefs");
}

// ---------------------------------------------------------------------------------------------
// parentRefs and attachedRoutes
// ---------------------------------------------------------------------------------------------

/// `CLASS` and Gateway `default/gw` with listeners `http` (80) and `alt` (8080).
const GW_TWO_LISTENERS: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weir
spec:
  controllerName: weir.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
  - name: alt
    protocol: HTTP
    port: 8080
"#;

/// An HTTPRoute `default/name` whose single parentRef has the given extra fields.
fn route_with_parent_ref(name: &str, extra: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: default
spec:
  parentRefs:
  - name: gw
{extra}  rules:
  - matches:
    - path: {{type: PathPrefix, value: /{name}}}
"#
    )
}

#[test]
fn parent_ref_section_name_that_names_no_listener_is_no_matching_parent() {
    let mut yaml = GW_TWO_LISTENERS.to_string();
    yaml += &route_with_parent_ref("r", "    sectionName: nope\n");
    let t = run(&yaml);
    let p = parent(&t, "default/r");
    assert_cond(&p.conditions, "Accepted", false, "NoMatchingParent");
    assert_eq!(p.parent_ref.section_name.as_deref(), Some("nope"));
    assert_eq!(p.controller_name, CONTROLLER_NAME);
    assert!(every_route_name(&t).is_empty());
}

#[test]
fn parent_ref_port_that_no_listener_uses_is_no_matching_parent() {
    let mut yaml = GW_TWO_LISTENERS.to_string();
    yaml += &route_with_parent_ref("r", "    port: 9090\n");
    yaml += &route_with_parent_ref("s", "    sectionName: http\n    port: 8080\n");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        false,
        "NoMatchingParent",
    );
    assert_eq!(parent(&t, "default/r").parent_ref.port, Some(9090));
    // Section and port must both match the same listener.
    assert_cond(
        &parent(&t, "default/s").conditions,
        "Accepted",
        false,
        "NoMatchingParent",
    );
    assert!(every_route_name(&t).is_empty());
}

#[test]
fn attached_routes_are_counted_per_listener() {
    let mut yaml = GW_TWO_LISTENERS.to_string();
    yaml += &route_with_parent_ref("whole", "");
    yaml += &route_with_parent_ref("by-section", "    sectionName: alt\n");
    yaml += &route_with_parent_ref("by-port", "    port: 8080\n");
    yaml += &route_with_parent_ref("nowhere", "    sectionName: missing\n");
    let t = run(&yaml);
    for r in ["default/whole", "default/by-section", "default/by-port"] {
        assert_cond(&parent(&t, r).conditions, "Accepted", true, "Accepted");
    }
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 1);
    assert_eq!(listener(&t, "default/gw", "alt").attached_routes, 3);
    assert_eq!(
        route_names(&t, "default/gw/http", "*"),
        ["default/whole/rule0/0"]
    );
    assert_eq!(
        route_names(&t, "default/gw/alt", "*"),
        [
            "default/by-section/rule0/0",
            "default/by-port/rule0/0",
            "default/whole/rule0/0"
        ]
    );
    let ports: Vec<u16> = t
        .config
        .listeners
        .iter()
        .map(|l| l.address.port())
        .collect();
    assert_eq!(ports, [80, 8080]);
}

#[test]
fn route_naming_one_listener_twice_is_counted_once() {
    let mut yaml = GW_TWO_LISTENERS.to_string();
    yaml += r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
spec:
  parentRefs:
  - name: gw
    sectionName: alt
  - name: gw
    port: 8080
  rules:
  - backendRefs: []
"#;
    let t = run(&yaml);
    let s = &t.statuses.http_routes[&id("default/r")];
    assert_eq!(s.parents.len(), 2);
    for p in &s.parents {
        assert_cond(&p.conditions, "Accepted", true, "Accepted");
    }
    assert_eq!(listener(&t, "default/gw", "alt").attached_routes, 1);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 0);
}

#[test]
fn route_naming_one_listener_twice_is_served_once() {
    let mut yaml = GW_TWO_LISTENERS.to_string();
    yaml += r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
spec:
  parentRefs:
  - name: gw
    sectionName: alt
  - name: gw
    port: 8080
  rules:
  - backendRefs: []
"#;
    let t = run(&yaml);
    assert_eq!(
        route_names(&t, "default/gw/alt", "*"),
        ["default/r/rule0/0"]
    );
}

#[test]
fn parent_ref_to_a_gateway_in_another_namespace_uses_its_namespace() {
    let mut yaml = GW_ALL.to_string();
    yaml += &route_in("other", "r", None);
    // The same parentRef without a namespace means other/gw, which does not exist: no status.
    yaml += r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: local
  namespace: other
spec:
  parentRefs:
  - name: gw
  rules:
  - backendRefs: []
"#;
    let t = run(&yaml);
    let p = parent(&t, "other/r");
    assert_eq!(p.parent_ref.namespace.as_deref(), Some("default"));
    assert_eq!(
        (p.parent_ref.group.as_str(), p.parent_ref.kind.as_str()),
        (GROUP, "Gateway")
    );
    assert_cond(&p.conditions, "Accepted", true, "Accepted");
    assert!(!t.statuses.http_routes.contains_key(&id("other/local")));
}

// ---------------------------------------------------------------------------------------------
// backendRefs
// ---------------------------------------------------------------------------------------------

/// A Service `namespace/web` with a named port `http` 80 → container port `web`.
fn service(namespace: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {namespace}
spec:
  ports:
  - name: http
    port: 80
    targetPort: web
  - name: admin
    port: 9000
"#
    )
}

/// EndpointSlices for `namespace/web`: one ready, one not ready, one with no ready condition;
/// a second slice with only the `admin` port; and a slice of another Service.
fn endpoint_slices(namespace: &str) -> String {
    format!(
        r#"
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: {namespace}
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- {{name: http, port: 8080, protocol: TCP}}
- {{name: admin, port: 9900, protocol: TCP}}
endpoints:
- addresses: ["198.18.0.2"]
  conditions: {{ready: true}}
- addresses: ["198.18.0.3"]
  conditions: {{ready: false}}
- addresses: ["198.18.0.1"]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-2
  namespace: {namespace}
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- {{name: admin, port: 9900, protocol: TCP}}
endpoints:
- addresses: ["198.18.0.9"]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: other-1
  namespace: {namespace}
  labels:
    kubernetes.io/service-name: other
addressType: IPv4
ports:
- {{name: http, port: 8080, protocol: TCP}}
endpoints:
- addresses: ["198.18.0.7"]
"#
    )
}

/// HTTPRoute `default/r` on `default/gw` with the given backendRefs (YAML list items).
fn route_with_backends(backend_refs: &str) -> String {
    route_with_rules(&format!("  - backendRefs:\n{backend_refs}"))
}

fn backends(t: &Translation) -> &[WeightedBackend] {
    &route(t, "default/r/rule0/0").backends
}

#[track_caller]
fn assert_invalid_500(b: &WeightedBackend) {
    match &b.target {
        BackendTarget::Invalid { status, reason } => {
            assert_eq!(*status, 500);
            assert!(!reason.is_empty());
        }
        other => panic!("expected an invalid backend, got {other:?}"),
    }
}

#[test]
fn missing_service_is_backend_not_found_and_answers_500() {
    let t = run(&route_with_backends("    - {name: nothing, port: 80}\n"));
    let p = parent(&t, "default/r");
    // An unresolved backend does not stop the route from being accepted.
    assert_cond(&p.conditions, "Accepted", true, "Accepted");
    assert_cond(&p.conditions, "ResolvedRefs", false, "BackendNotFound");
    assert_eq!(backends(&t).len(), 1);
    assert_invalid_500(&backends(&t)[0]);
    assert!(t.config.clusters.is_empty());
}

#[test]
fn service_port_that_does_not_exist_is_backend_not_found() {
    let mut yaml = route_with_backends("    - {name: web, port: 81}\n");
    yaml += &service("default");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        false,
        "BackendNotFound",
    );
    assert_invalid_500(&backends(&t)[0]);
}

#[test]
fn unknown_backend_kind_is_invalid_kind() {
    let t = run(&route_with_backends(
        "    - {group: example.com, kind: Bucket, name: b}\n",
    ));
    let p = parent(&t, "default/r");
    assert_cond(&p.conditions, "Accepted", true, "Accepted");
    assert_cond(&p.conditions, "ResolvedRefs", false, "InvalidKind");
    assert_invalid_500(&backends(&t)[0]);
}

#[test]
fn cross_namespace_backend_without_reference_grant_is_not_permitted() {
    let mut yaml = route_with_backends("    - {name: web, namespace: backend, port: 80}\n");
    yaml += &service("backend");
    yaml += &endpoint_slices("backend");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        false,
        "RefNotPermitted",
    );
    assert_invalid_500(&backends(&t)[0]);
    assert!(t.config.clusters.is_empty(), "{:?}", t.config.clusters);
}

/// A ReferenceGrant in `backend` from HTTPRoutes in `from_ns` to Services (optionally one name).
fn reference_grant(from_ns: &str, from_kind: &str, to_name: Option<&str>) -> String {
    let to_name = to_name
        .map(|n| format!("    name: {n}\n"))
        .unwrap_or_default();
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: grant
  namespace: backend
spec:
  from:
  - group: gateway.networking.k8s.io
    kind: {from_kind}
    namespace: {from_ns}
  to:
  - group: ""
    kind: Service
{to_name}"#
    )
}

#[test]
fn reference_grant_admits_cross_namespace_backend_with_its_ready_endpoints() {
    let mut yaml = route_with_backends("    - {name: web, namespace: backend, port: 80}\n");
    yaml += &service("backend");
    yaml += &endpoint_slices("backend");
    yaml += &reference_grant("default", "HTTPRoute", None);
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        true,
        "ResolvedRefs",
    );
    assert_eq!(
        backends(&t)[0].target,
        BackendTarget::Cluster("backend/web:80".into())
    );
    let want = Cluster {
        protocol: UpstreamProtocol::Http1,
        load_balancing: Default::default(),
        // 198.18.0.3 is not ready; 198.18.0.9 and 198.18.0.7 serve other ports / another Service;
        // the Service port `http` maps to the slice port `http` (8080), not to 80.
        endpoints: vec![
            "198.18.0.1:8080".parse().unwrap(),
            "198.18.0.2:8080".parse().unwrap(),
        ],
        tls: None,
    };
    assert_eq!(
        t.config.clusters,
        BTreeMap::from([("backend/web:80".to_string(), want)])
    );
}

#[test]
fn reference_grant_for_another_service_or_kind_or_namespace_does_not_admit() {
    for grant in [
        reference_grant("default", "HTTPRoute", Some("not-web")),
        reference_grant("default", "GRPCRoute", None),
        reference_grant("elsewhere", "HTTPRoute", None),
    ] {
        let mut yaml = route_with_backends("    - {name: web, namespace: backend, port: 80}\n");
        yaml += &service("backend");
        yaml += &grant;
        let t = run(&yaml);
        assert_cond(
            &parent(&t, "default/r").conditions,
            "ResolvedRefs",
            false,
            "RefNotPermitted",
        );
        assert_invalid_500(&backends(&t)[0]);
    }
}

#[test]
fn same_namespace_backend_resolves_with_named_port_mapping() {
    let mut yaml =
        route_with_backends("    - {name: web, port: 80}\n    - {name: web, port: 9000}\n");
    yaml += &service("default");
    yaml += &endpoint_slices("default");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        true,
        "ResolvedRefs",
    );
    let c = &t.config.clusters;
    assert_eq!(
        c.keys().collect::<Vec<_>>(),
        ["default/web:80", "default/web:9000"]
    );
    let eps = |k: &str| {
        c[k].endpoints
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        eps("default/web:80"),
        ["198.18.0.1:8080", "198.18.0.2:8080"]
    );
    // Port `admin` is in both slices.
    assert_eq!(
        eps("default/web:9000"),
        ["198.18.0.1:9900", "198.18.0.2:9900", "198.18.0.9:9900"]
    );
}

#[test]
fn one_unresolved_backend_leaves_the_others_resolved() {
    let mut yaml = route_with_backends(
        "    - {name: web, port: 80, weight: 3}\n    - {name: missing, port: 80, weight: 1}\n",
    );
    yaml += &service("default");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        false,
        "BackendNotFound",
    );
    let b = backends(&t);
    assert_eq!(
        (b[0].weight, &b[0].target),
        (3, &BackendTarget::Cluster("default/web:80".into()))
    );
    assert_eq!(b[1].weight, 1);
    assert_invalid_500(&b[1]);
}

#[test]
fn service_app_protocol_selects_the_upstream_protocol() {
    let mut yaml = route_with_backends(
        "    - {name: h2, port: 80}\n    - {name: ws, port: 80}\n    - {name: odd, port: 80}\n",
    );
    for (name, proto) in [
        ("h2", "kubernetes.io/h2c"),
        ("ws", "kubernetes.io/ws"),
        ("odd", "example.com/carrier-pigeon"),
    ] {
        yaml += &format!(
            r#"
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
spec:
  ports:
  - {{port: 80, appProtocol: {proto}}}
"#
        );
    }
    let t = run(&yaml);
    assert_eq!(
        t.config.clusters["default/h2:80"].protocol,
        UpstreamProtocol::H2c
    );
    assert_eq!(
        t.config.clusters["default/ws:80"].protocol,
        UpstreamProtocol::WebSocket
    );
    assert!(!t.config.clusters.contains_key("default/odd:80"));
    assert_cond(
        &parent(&t, "default/r").conditions,
        "ResolvedRefs",
        false,
        "UnsupportedProtocol",
    );
    assert_invalid_500(&backends(&t)[2]);
}

#[test]
fn zero_weight_backend_is_kept_with_weight_zero() {
    let mut yaml = route_with_backends(
        "    - {name: web, port: 80, weight: 0}\n    - {name: web, port: 9000}\n",
    );
    yaml += &service("default");
    let t = run(&yaml);
    let b = backends(&t);
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[0].weight, &b[0].target),
        (0, &BackendTarget::Cluster("default/web:80".into()))
    );
    assert_eq!(b[1].weight, 1, "weight defaults to 1");
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

#[test]
fn redirect_filter_becomes_a_redirect_with_default_status_302() {
    let t = run(&route_with_rules(
        r#"  - filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: https
  - matches:
    - path: {type: PathPrefix, value: /moved}
    filters:
    - type: RequestRedirect
      requestRedirect:
        hostname: example.org
        port: 8443
        statusCode: 301
"#,
    ));
    assert_eq!(
        route(&t, "default/r/rule0/0").filters,
        [Filter::Redirect(Redirect {
            scheme: Some("https".into()),
            hostname: None,
            port: None,
            path: None,
            status: 302
        })]
    );
    assert_eq!(
        route(&t, "default/r/rule1/0").filters,
        [Filter::Redirect(Redirect {
            scheme: None,
            hostname: Some("example.org".into()),
            port: Some(8443),
            path: None,
            status: 301
        })]
    );
}

#[test]
fn unsupported_filter_drops_its_rule_and_marks_the_route_partially_invalid() {
    let mut yaml = route_with_rules(
        r#"  - matches:
    - path: {type: PathPrefix, value: /mirror}
    filters:
    - type: ExtensionRef
      extensionRef: {group: example.com, kind: Tracer, name: t}
  - matches:
    - path: {type: PathPrefix, value: /ok}
"#,
    );
    yaml += &service("default");
    let t = run(&yaml);
    let p = parent(&t, "default/r");
    assert_cond(&p.conditions, "Accepted", true, "Accepted");
    assert_cond(&p.conditions, "PartiallyInvalid", true, "UnsupportedValue");
    assert_eq!(every_route_name(&t), ["default/r/rule1/0"]);
}

#[test]
fn route_whose_every_rule_is_dropped_is_not_accepted() {
    let mut yaml = route_with_rules(
        r#"  - filters:
    - type: ExtensionRef
      extensionRef: {group: example.com, kind: Tracer, name: t}
"#,
    );
    yaml += &service("default");
    let t = run(&yaml);
    assert_cond(
        &parent(&t, "default/r").conditions,
        "Accepted",
        false,
        "UnsupportedValue",
    );
    assert!(every_route_name(&t).is_empty());
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 0);
}

// ---------------------------------------------------------------------------------------------
// Listener validity
// ---------------------------------------------------------------------------------------------

/// `CLASS` and Gateway `default/gw` with the given listeners (YAML list items).
fn gateway_with_listeners(listeners: &str) -> String {
    format!(
        r#"{CLASS}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: weir
  listeners:
{listeners}"#
    )
}

const HTTPS_80: &str = r#"  - name: https
    protocol: HTTPS
    port: 80
    tls:
      mode: Terminate
      certificateRefs:
      - name: cert
"#;

const HTTP_80: &str = r#"  - name: http
    protocol: HTTP
    port: 80
"#;

#[test]
fn http_and_https_on_one_port_conflict_and_neither_wins() {
    let t = run(&gateway_with_listeners(&format!("{HTTP_80}{HTTPS_80}")));
    let https = listener(&t, "default/gw", "https");
    assert_cond(&https.conditions, "Conflicted", true, "ProtocolConflict");
    assert_cond(&https.conditions, "Accepted", false, "PortUnavailable");
    assert_cond(&https.conditions, "Programmed", false, "Invalid");
    let http = listener(&t, "default/gw", "http");
    assert_cond(&http.conditions, "Conflicted", true, "ProtocolConflict");
    assert_cond(&http.conditions, "Accepted", false, "PortUnavailable");
    assert!(t.config.listeners.is_empty(), "{:#?}", t.config.listeners);
    // No listener is valid, so the Gateway is not accepted.
    assert_cond(
        &gateway(&t, "default/gw").conditions,
        "Accepted",
        false,
        "ListenersNotValid",
    );
}

#[test]
fn http_listener_after_https_on_the_same_port_is_conflicted_and_not_served() {
    let mut yaml = gateway_with_listeners(&format!("{HTTPS_80}{HTTP_80}"));
    yaml += &route_with_parent_ref("r", "");
    let t = run(&yaml);
    let http = listener(&t, "default/gw", "http");
    assert_cond(&http.conditions, "Conflicted", true, "ProtocolConflict");
    assert_cond(&http.conditions, "Accepted", false, "PortUnavailable");
    assert_cond(&http.conditions, "Programmed", false, "Invalid");
    // Nothing is served: the only HTTP listener is conflicted.
    assert!(t.config.listeners.is_empty(), "{:#?}", t.config.listeners);
    assert_cond(
        &gateway(&t, "default/gw").conditions,
        "Accepted",
        false,
        "ListenersNotValid",
    );
    assert_cond(
        &gateway(&t, "default/gw").conditions,
        "Programmed",
        false,
        "Invalid",
    );
    // The route still attaches to the conflicted listener: attachment does not depend on
    // listener status.
    assert_eq!(http.attached_routes, 1);
}

#[test]
fn protocol_conflict_marks_every_listener_on_the_port_and_serves_none() {
    // Gateway API v1.6, GatewaySpec.listeners, "Handling indistinct Listeners": "The
    // implementation MUST NOT pick one conflicting Listener as the winner. ALL indistinct
    // Listeners must not be accepted for processing." The conformance test
    // GatewayListenerProtocolAndRouteKindConflicts expects Conflicted=True/ProtocolConflict,
    // Accepted=False and Programmed=False on *both* listeners that share a port with
    // different protocols.
    let mut yaml = gateway_with_listeners(&format!(
        "{HTTP_80}{HTTPS_80}{}",
        r#"  - name: other
    protocol: HTTP
    port: 8080
"#
    ));
    yaml += &route_with_parent_ref("r", "");
    let t = run(&yaml);
    for name in ["http", "https"] {
        let l = listener(&t, "default/gw", name);
        assert_cond(&l.conditions, "Conflicted", true, "ProtocolConflict");
        assert!(
            !cond(&l.conditions, "Accepted").is_true(),
            "{name}: {:#?}",
            l.conditions
        );
        assert!(
            !cond(&l.conditions, "Programmed").is_true(),
            "{name}: {:#?}",
            l.conditions
        );
    }
    assert_cond(
        &listener(&t, "default/gw", "other").conditions,
        "Conflicted",
        false,
        "NoConflicts",
    );
    // Only the distinct listener is served.
    assert_eq!(
        all_hosts(&t).map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["default/gw/other"]
    );
    assert_cond(
        &gateway(&t, "default/gw").conditions,
        "Accepted",
        true,
        "ListenersNotValid",
    );
}

#[test]
fn unsupported_protocol_is_not_accepted_and_gateway_reports_listeners_not_valid() {
    let t = run(&gateway_with_listeners(&format!(
        "{HTTP_80}{}",
        r#"  - name: udp
    protocol: example.com/sctp
    port: 9000
"#
    )));
    let tcp = listener(&t, "default/gw", "udp");
    assert_cond(&tcp.conditions, "Accepted", false, "UnsupportedProtocol");
    assert_cond(&tcp.conditions, "Programmed", false, "Invalid");
    assert!(tcp.supported_kinds.is_empty());
    let http = listener(&t, "default/gw", "http");
    assert_cond(&http.conditions, "Accepted", true, "Accepted");
    let g = gateway(&t, "default/gw");
    assert_cond(&g.conditions, "Accepted", true, "ListenersNotValid");
    assert_cond(&g.conditions, "Programmed", true, "Programmed");
    let ports: Vec<u16> = t
        .config
        .listeners
        .iter()
        .map(|l| l.address.port())
        .collect();
    assert_eq!(ports, [80]);
}

#[test]
fn gateway_with_only_unsupported_listeners_is_not_accepted() {
    let t = run(&gateway_with_listeners(
        r#"  - name: udp
    protocol: example.com/sctp
    port: 53
"#,
    ));
    let g = gateway(&t, "default/gw");
    assert_cond(&g.conditions, "Accepted", false, "ListenersNotValid");
    assert_cond(&g.conditions, "Programmed", false, "Invalid");
    assert!(t.config.listeners.is_empty());
}

#[test]
fn valid_listener_reports_every_condition_as_healthy() {
    let t = run(GW);
    let l = listener(&t, "default/gw", "http");
    assert_cond(&l.conditions, "Accepted", true, "Accepted");
    assert_cond(&l.conditions, "Programmed", true, "Programmed");
    assert_cond(&l.conditions, "ResolvedRefs", true, "ResolvedRefs");
    assert_cond(&l.conditions, "Conflicted", false, "NoConflicts");
    assert_eq!(l.attached_routes, 0);
    let g = gateway(&t, "default/gw");
    assert_cond(&g.conditions, "Accepted", true, "Accepted");
    assert_cond(&g.conditions, "Programmed", true, "Programmed");
}

// ---------------------------------------------------------------------------------------------
// observedGeneration
// ---------------------------------------------------------------------------------------------

#[test]
fn every_condition_observes_its_objects_generation() {
    let yaml = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: weir
  generation: 5
spec:
  controllerName: weir.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
  generation: 3
spec:
  gatewayClassName: weir
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      kinds:
      - kind: HTTPRoute
      - kind: TLSRoute
  - name: https
    protocol: HTTPS
    port: 80
    tls:
      certificateRefs:
      - name: cert
  - name: tcp
    protocol: TCP
    port: 9000
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
  namespace: default
  generation: 7
spec:
  parentRefs:
  - name: gw
  - name: gw
    sectionName: missing
  rules:
  - backendRefs:
    - {name: missing, port: 80}
  - filters:
    - type: ExtensionRef
      extensionRef: {group: example.com, kind: Tracer, name: missing}
"#;
    let t = run(yaml);
    let class = &t.statuses.gateway_classes["weir"];
    let gw = gateway(&t, "default/gw");
    let route = &t.statuses.http_routes[&id("default/r")];
    let mut seen = 0;
    for c in &class.conditions {
        assert_eq!(c.observed_generation, 5, "{c:?}");
        seen += 1;
    }
    for c in gw
        .conditions
        .iter()
        .chain(gw.listeners.iter().flat_map(|l| &l.conditions))
    {
        assert_eq!(c.observed_generation, 3, "{c:?}");
        seen += 1;
    }
    for c in route.parents.iter().flat_map(|p| &p.conditions) {
        assert_eq!(c.observed_generation, 7, "{c:?}");
        seen += 1;
    }
    // 1 class + 2 gateway + 3×4 listener + 2×3 route parent conditions (Accepted, ResolvedRefs,
    // PartiallyInvalid on each parent).
    assert_eq!(seen, 1 + 2 + 12 + 6);
    // Every condition carries no transition time: translate is pure, StatusStore stamps it.
    assert!(
        route
            .parents
            .iter()
            .flat_map(|p| &p.conditions)
            .all(|c| c.last_transition_time.is_none())
    );
}

// ---------------------------------------------------------------------------------------------
// GatewayClasses and ownership
// ---------------------------------------------------------------------------------------------

#[test]
fn our_gateway_class_is_accepted_with_supported_features() {
    let t = run(CLASS);
    let s = &t.statuses.gateway_classes["weir"];
    assert_eq!(s.conditions.len(), 1);
    assert_cond(&s.conditions, "Accepted", true, "Accepted");
    let features: Vec<&str> = s
        .supported_features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(features, crate::features::supported_features());
    assert!(
        features.contains(&"HTTPRoute") && features.contains(&"Gateway"),
        "{features:?}"
    );
}

#[test]
fn foreign_gateway_class_its_gateways_and_their_routes_get_no_status() {
    let yaml = format!(
        r#"{GW}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: other
spec:
  controllerName: example.com/other-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: theirs
  namespace: default
spec:
  gatewayClassName: other
  listeners:
  - name: http
    protocol: HTTP
    port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: classless
  namespace: default
spec:
  gatewayClassName: does-not-exist
  listeners:
  - name: http
    protocol: HTTP
    port: 8081
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: to-theirs
  namespace: default
spec:
  parentRefs:
  - name: theirs
  rules:
  - backendRefs: []
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: to-both
  namespace: default
spec:
  parentRefs:
  - name: theirs
  - name: gw
  rules:
  - backendRefs: []
"#
    );
    let t = run(&yaml);
    assert_eq!(
        t.statuses.gateway_classes.keys().collect::<Vec<_>>(),
        ["weir"]
    );
    assert_eq!(
        t.statuses.gateways.keys().cloned().collect::<Vec<_>>(),
        [id("default/gw")]
    );
    assert!(
        !t.statuses
            .http_routes
            .contains_key(&id("default/to-theirs"))
    );
    // Only the parent we own gets a status entry.
    let p = parent(&t, "default/to-both");
    assert_eq!(p.parent_ref.name, "gw");
    let ports: Vec<u16> = t
        .config
        .listeners
        .iter()
        .map(|l| l.address.port())
        .collect();
    assert_eq!(ports, [80]);
}

#[test]
fn gateway_class_with_parameters_ref_is_not_accepted_nor_are_its_gateways() {
    let yaml = GW.replace(
        "  controllerName: weir.dev/gateway-controller\n",
        "  controllerName: weir.dev/gateway-controller\n  parametersRef:\n    group: example.com\n    kind: Config\n    name: c\n",
    );
    let t = run(&yaml);
    assert_cond(
        &t.statuses.gateway_classes["weir"].conditions,
        "Accepted",
        false,
        "InvalidParameters",
    );
    let g = gateway(&t, "default/gw");
    assert_cond(&g.conditions, "Accepted", false, "Invalid");
    assert!(t.config.listeners.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

#[test]
fn gateway_status_addresses_use_spec_addresses() {
    let yaml = GW.replace(
        "  gatewayClassName: weir\n",
        "  gatewayClassName: weir\n  addresses:\n  - {type: IPAddress, value: 192.0.2.7}\n",
    );
    let t = run(&yaml); // the context also assigns 10.0.0.1: spec.addresses win
    let g = gateway(&t, "default/gw");
    let addrs: Vec<(&str, &str)> = g
        .addresses
        .iter()
        .map(|a| (a.type_.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(addrs, [("IPAddress", "192.0.2.7")]);
    assert_eq!(t.config.listeners.len(), 1);
    assert_eq!(
        t.config.listeners[0].address,
        "192.0.2.7:80".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn gateway_without_spec_addresses_uses_the_assigned_address() {
    let s = snapshot(GW);
    let ctx = TranslateContext {
        controller_name: CONTROLLER_NAME.into(),
        assigned_addresses: BTreeMap::from([(id("default/gw"), "198.51.100.4".parse().unwrap())]),
        now_unix: weir_tls::material::unix_now(),
    };
    let t = translate(&s, &ctx);
    let g = gateway(&t, "default/gw");
    let addrs: Vec<(&str, &str)> = g
        .addresses
        .iter()
        .map(|a| (a.type_.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(addrs, [("IPAddress", "198.51.100.4")]);
    assert_eq!(
        t.config.listeners[0].address,
        "198.51.100.4:80".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn hostname_address_is_unsupported() {
    let yaml = GW.replace(
        "  gatewayClassName: weir\n",
        "  gatewayClassName: weir\n  addresses:\n  - {type: Hostname, value: gw.example.com}\n",
    );
    let t = run(&yaml);
    let g = gateway(&t, "default/gw");
    assert_cond(&g.conditions, "Accepted", false, "UnsupportedAddress");
    assert!(g.addresses.is_empty());
    assert!(t.config.listeners.is_empty());
}

#[test]
fn gateway_without_any_address_is_not_programmed() {
    let s = snapshot(GW);
    let ctx = TranslateContext {
        controller_name: CONTROLLER_NAME.into(),
        assigned_addresses: BTreeMap::new(),
        now_unix: weir_tls::material::unix_now(),
    };
    let t = translate(&s, &ctx);
    let g = gateway(&t, "default/gw");
    assert!(g.addresses.is_empty());
    assert_cond(&g.conditions, "Accepted", true, "Accepted");
    assert_cond(&g.conditions, "Programmed", false, "AddressNotAssigned");
    assert_cond(
        &listener(&t, "default/gw", "http").conditions,
        "Programmed",
        false,
        "Pending",
    );
    assert!(t.config.listeners.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn translating_the_same_snapshot_twice_gives_identical_output() {
    let mut yaml = GW_TWO_LISTENERS.replace("    port: 8080\n", "    port: 8080\n    hostname: \"*.example.com\"\n    allowedRoutes:\n      namespaces:\n        from: All\n");
    for (ns, name) in [
        ("default", "a"),
        ("default", "b"),
        ("team", "c"),
        ("team", "d"),
    ] {
        yaml += &format!(
            r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {ns}
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  parentRefs:
  - name: gw
    namespace: default
  hostnames: ["{name}.example.com", "*.example.com", "{name}.other.org"]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /}}
    - path: {{type: Exact, value: /{name}}}
      headers:
      - {{name: x-{name}, value: "1"}}
    backendRefs:
    - {{name: web, port: 80, weight: 2}}
    - {{name: web, port: 9000, weight: 1}}
    - {{name: gone, port: 80}}
"#
        );
    }
    yaml += &service("default");
    yaml += &endpoint_slices("default");
    let s = snapshot(&yaml);
    let ctx = context(&s);
    let a = translate(&s, &ctx);
    let b = translate(&s, &ctx);
    assert_eq!(a, b);
    let ja = serde_json::to_string(&a.config).unwrap();
    let jb = serde_json::to_string(&b.config).unwrap();
    assert_eq!(ja, jb);
    assert_eq!(format!("{:?}", a.statuses), format!("{:?}", b.statuses));
    // And the snapshot was rich enough to exercise ordering.
    assert!(every_route_name(&a).len() >= 8, "{ja}");
    assert_eq!(a.config.clusters.len(), 2);
    // A clone of the snapshot (new Arcs, same objects) translates the same too.
    assert_eq!(translate(&s.clone(), &ctx), a);
}

// ---------------------------------------------------------------------------------------------
// GRPCRoute
// ---------------------------------------------------------------------------------------------

const GRPC_SERVICE: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// A GRPCRoute `default/g` on `default/gw` with the given rules, plus Services `grpc` (port 8080,
/// no appProtocol) and `grpc-h2c` (port 8080, `kubernetes.io/h2c`).
fn grpc_route_with_rules(rules: &str) -> String {
    format!(
        r#"{GW}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: g
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
{rules}
---
apiVersion: v1
kind: Service
metadata: {{name: grpc, namespace: default}}
spec:
  ports: [{{port: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: grpc-h2c, namespace: default}}
spec:
  ports: [{{port: 8080, appProtocol: kubernetes.io/h2c}}]
"#
    )
}

#[test]
fn grpc_method_matches_become_paths_ordered_by_service_then_method_length() {
    let t = run(&grpc_route_with_rules(&format!(
        r#"  - name: catch-all
    backendRefs: [{{name: grpc, port: 8080}}]
  - name: service-only
    matches: [{{method: {{service: {GRPC_SERVICE}}}}}]
    backendRefs: [{{name: grpc, port: 8080}}]
  - name: exact
    matches: [{{method: {{service: {GRPC_SERVICE}, method: Echo}}}}]
    backendRefs: [{{name: grpc, port: 8080}}]
  - name: method-only
    matches: [{{method: {{method: EchoTwo}}}}]
    backendRefs: [{{name: grpc, port: 8080}}]
  - name: regex
    matches: [{{method: {{type: RegularExpression, service: "gateway_api_conformance\\..*", method: "Echo.*"}}}}]
    backendRefs: [{{name: grpc, port: 8080}}]
  - name: regex-method
    matches: [{{method: {{type: RegularExpression, method: "Echo(Two|Three)"}}}}]
    backendRefs: [{{name: grpc, port: 8080}}]
"#
    )));
    assert_cond(
        &parent(&t, "default/g").conditions,
        "Accepted",
        true,
        "Accepted",
    );
    // Service length first (the regex's service is shorter than the full name), then method
    // length; a match without service comes after every match with one.
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/g/exact/0",
            "default/g/service-only/0",
            "default/g/regex/0",
            "default/g/regex-method/0",
            "default/g/method-only/0",
            "default/g/catch-all/0",
        ]
    );
    let path = |n: &str| route(&t, n).matcher.path.clone();
    assert_eq!(
        path("default/g/exact/0"),
        PathMatch::Exact(format!("/{GRPC_SERVICE}/Echo"))
    );
    assert_eq!(
        path("default/g/service-only/0"),
        PathMatch::Prefix(format!("/{GRPC_SERVICE}"))
    );
    assert_eq!(
        path("default/g/method-only/0"),
        PathMatch::Regex("/[^/]+/EchoTwo".into())
    );
    assert_eq!(
        path("default/g/regex/0"),
        PathMatch::Regex("/(?:gateway_api_conformance\\..*)/(?:Echo.*)".into())
    );
    assert_eq!(
        path("default/g/regex-method/0"),
        PathMatch::Regex("/(?:[^/]+)/(?:Echo(Two|Three))".into())
    );
    assert_eq!(path("default/g/catch-all/0"), PathMatch::Prefix("/".into()));
}

#[test]
fn grpc_more_header_matches_win_and_ties_keep_rule_order() {
    let t = run(&grpc_route_with_rules(
        r#"  - matches: [{headers: [{name: version, value: two}]}]
    backendRefs: [{name: grpc, port: 8080}]
  - matches: [{headers: [{name: Version, value: two}, {name: color, value: orange}]}]
    backendRefs: [{name: grpc, port: 8080}]
  - matches: [{headers: [{name: color, value: blue}]}]
    backendRefs: [{name: grpc, port: 8080}]
"#,
    ));
    assert_eq!(
        route_names(&t, L, "*"),
        [
            "default/g/rule1/0",
            "default/g/rule0/0",
            "default/g/rule2/0"
        ]
    );
    let headers = &route(&t, "default/g/rule1/0").matcher.headers;
    assert_eq!(headers[0].name, "version", "header names are lower-cased");
}

#[test]
fn grpc_backends_always_get_http2() {
    let t = run(&grpc_route_with_rules(
        "  - backendRefs: [{name: grpc, port: 8080}, {name: grpc-h2c, port: 8080}]\n",
    ));
    assert_cond(
        &parent(&t, "default/g").conditions,
        "ResolvedRefs",
        true,
        "ResolvedRefs",
    );
    // A port without appProtocol gets its own HTTP/2 cluster, so an HTTPRoute to the same port
    // keeps HTTP/1.1; an h2c port is shared.
    assert_eq!(
        t.config.clusters["default/grpc:8080/grpc"].protocol,
        UpstreamProtocol::H2c
    );
    assert!(!t.config.clusters.contains_key("default/grpc:8080"));
    assert_eq!(
        t.config.clusters["default/grpc-h2c:8080"].protocol,
        UpstreamProtocol::H2c
    );
}

#[test]
fn grpc_backend_on_a_websocket_port_is_unsupported_protocol() {
    let mut yaml = grpc_route_with_rules("  - backendRefs: [{name: ws, port: 80}]\n");
    yaml += r#"
---
apiVersion: v1
kind: Service
metadata: {name: ws, namespace: default}
spec:
  ports: [{port: 80, appProtocol: kubernetes.io/ws}]
"#;
    let t = run(&yaml);
    let c = cond(&parent(&t, "default/g").conditions, "ResolvedRefs");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "UnsupportedProtocol")
    );
    assert!(c.message.contains("default/ws"), "{}", c.message);
    assert_invalid_500(&route(&t, "default/g/rule0/0").backends[0]);
}

#[test]
fn grpc_regex_that_does_not_compile_drops_its_rule_with_the_field_named() {
    let t = run(&grpc_route_with_rules(
        r#"  - matches: [{method: {type: RegularExpression, service: "svc(", method: Echo}}]
    backendRefs: [{name: grpc, port: 8080}]
  - matches: [{method: {service: svc, method: Echo}}]
    backendRefs: [{name: grpc, port: 8080}]
"#,
    ));
    let conds = &parent(&t, "default/g").conditions;
    assert_cond(conds, "Accepted", true, "Accepted");
    let c = cond(conds, "PartiallyInvalid");
    assert_eq!(c.reason, "UnsupportedValue");
    assert!(
        c.message.contains("Dropped Rule 0") && c.message.contains("method.service \"svc(\""),
        "{}",
        c.message
    );
    assert_eq!(route_names(&t, L, "*"), ["default/g/rule1/0"]);

    // With no rule left, the route is not accepted, for the same reason.
    let t = run(&grpc_route_with_rules(
        r#"  - matches: [{headers: [{name: x, type: RegularExpression, value: "[a-"}]}]
    backendRefs: [{name: grpc, port: 8080}]
"#,
    ));
    let c = cond(&parent(&t, "default/g").conditions, "Accepted");
    assert_eq!(c.status, "False");
    assert!(c.message.contains("header x value"), "{}", c.message);
}

#[test]
fn grpc_extension_ref_filter_drops_the_rule() {
    let t = run(&grpc_route_with_rules(
        r#"  - filters:
    - type: ExtensionRef
      extensionRef: {group: example.com, kind: Thing, name: t}
    backendRefs: [{name: grpc, port: 8080}]
"#,
    ));
    let c = cond(&parent(&t, "default/g").conditions, "Accepted");
    assert_eq!(c.status, "False");
    assert!(c.message.contains("ExtensionRef"), "{}", c.message);
    assert!(every_route_name(&t).is_empty());
}

#[test]
fn grpc_header_modifier_and_weights_carry_over() {
    let t = run(&grpc_route_with_rules(
        r#"  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1"}], remove: [x-b]}
    backendRefs:
    - {name: grpc, port: 8080, weight: 70}
    - {name: grpc-h2c, port: 8080, weight: 0}
"#,
    ));
    let r = route(&t, "default/g/rule0/0");
    assert!(
        matches!(&r.filters[..], [Filter::RequestHeaders(m)] if m.set == [("x-a".to_owned(), "1".to_owned())] && m.remove == ["x-b"]),
        "{:?}",
        r.filters
    );
    let weights: Vec<u32> = r.backends.iter().map(|b| b.weight).collect();
    assert_eq!(weights, [70, 0]);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 1);
}

// ---------------------------------------------------------------------------------------------
// Load balancing and session persistence
// ---------------------------------------------------------------------------------------------

#[test]
fn service_annotations_choose_the_load_balancing_policy() {
    use weir_proxy::config::{HashOn, LoadBalancing};
    let id = NsName::new("default", "web");
    let lb = |pairs: &[(&str, &str)]| {
        let a: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        super::backend::load_balancing(&id, Some(&a))
    };
    assert_eq!(lb(&[]), LoadBalancing::LeastRequest, "the default");
    assert_eq!(
        lb(&[("weir.dev/load-balancing", "round-robin")]),
        LoadBalancing::RoundRobin
    );
    assert_eq!(
        lb(&[
            ("weir.dev/load-balancing", "consistent-hash"),
            ("weir.dev/hash-on", "header:X-User")
        ]),
        LoadBalancing::ConsistentHash {
            on: HashOn::Header("x-user".into())
        }
    );
    assert_eq!(
        lb(&[
            ("weir.dev/load-balancing", "consistent-hash"),
            ("weir.dev/hash-on", "cookie:sid")
        ]),
        LoadBalancing::ConsistentHash {
            on: HashOn::Cookie("sid".into())
        }
    );
    // Unknown values fall back (and are logged), never drop the Service.
    assert_eq!(
        lb(&[("weir.dev/load-balancing", "fastest")]),
        LoadBalancing::LeastRequest
    );
    assert_eq!(
        lb(&[
            ("weir.dev/load-balancing", "consistent-hash"),
            ("weir.dev/hash-on", "header:")
        ]),
        LoadBalancing::ConsistentHash {
            on: HashOn::SourceIp
        }
    );
}

#[test]
fn session_persistence_is_translated_with_defaults() {
    let t = run(&route_with_rules(
        r#"  - sessionPersistence: {type: Header, absoluteTimeout: 1h, idleTimeout: 1500ms}
  - matches: [{path: {type: PathPrefix, value: /c}}]
    sessionPersistence: {sessionName: sid, cookieConfig: {lifetimeType: Permanent}}
"#,
    ));
    let s = route(&t, "default/r/rule0/0").session.clone().unwrap();
    assert_eq!(
        (
            s.name.as_str(),
            s.header,
            s.absolute_timeout_s,
            s.idle_timeout_s,
            s.permanent
        ),
        ("weir-session", true, Some(3600), Some(2), false)
    );
    let s = route(&t, "default/r/rule1/0").session.clone().unwrap();
    assert_eq!(
        (s.name.as_str(), s.header, s.permanent),
        ("sid", false, true)
    );
}

/// An HTTPRoute and a GRPCRoute named `name` on `default/gw`, with `hostnames` and creation time.
fn kind_route(kind: &str, name: &str, hostnames: &str, created: &str) -> String {
    format!(
        r#"
---
apiVersion: gateway.networking.k8s.io/v1
kind: {kind}
metadata:
  name: {name}
  namespace: default
  creationTimestamp: "{created}"
spec:
  parentRefs: [{{name: gw}}]
  hostnames: {hostnames}
  rules:
  - backendRefs: []
"#
    )
}

#[test]
fn httproute_and_grpcroute_sharing_a_hostname_the_older_wins() {
    let status = |t: &Translation, kind: &str, name: &str| {
        let m = if kind == "HTTPRoute" {
            &t.statuses.http_routes
        } else {
            &t.statuses.grpc_routes
        };
        let c = cond(&m[&id(name)].parents[0].conditions, "Accepted").clone();
        (c.status, c.reason)
    };
    // The GRPCRoute is older: the HTTPRoute loses the shared hostname, whichever is
    // translated first.
    let mut yaml = GW.to_string();
    yaml += &kind_route(
        "HTTPRoute",
        "web",
        "[api.example.com]",
        "2026-01-02T00:00:00Z",
    );
    yaml += &kind_route(
        "GRPCRoute",
        "rpc",
        "[\"*.example.com\"]",
        "2026-01-01T00:00:00Z",
    );
    let t = run(&yaml);
    assert_eq!(
        status(&t, "HTTPRoute", "default/web"),
        ("False".into(), "HostnameConflict".into())
    );
    assert_eq!(
        status(&t, "GRPCRoute", "default/rpc"),
        ("True".into(), "Accepted".into())
    );
    assert!(
        cond(
            &t.statuses.http_routes[&id("default/web")].parents[0].conditions,
            "Accepted"
        )
        .message
        .contains("GRPCRoute default/rpc")
    );
    assert_eq!(every_route_name(&t), ["default/rpc/rule0/0"]);
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 1);

    // Same age: the first by namespace/name wins.
    let mut yaml = GW.to_string();
    yaml += &kind_route("HTTPRoute", "a", "[x.example.com]", "2026-01-01T00:00:00Z");
    yaml += &kind_route("GRPCRoute", "b", "[x.example.com]", "2026-01-01T00:00:00Z");
    let t = run(&yaml);
    assert_eq!(status(&t, "HTTPRoute", "default/a").0, "True");
    assert_eq!(status(&t, "GRPCRoute", "default/b").0, "False");

    // Hostnames that do not intersect: both serve.
    let mut yaml = GW.to_string();
    yaml += &kind_route(
        "HTTPRoute",
        "web",
        "[web.example.com]",
        "2026-01-02T00:00:00Z",
    );
    yaml += &kind_route(
        "GRPCRoute",
        "rpc",
        "[rpc.example.com]",
        "2026-01-01T00:00:00Z",
    );
    let t = run(&yaml);
    assert_eq!(status(&t, "HTTPRoute", "default/web").0, "True");
    assert_eq!(status(&t, "GRPCRoute", "default/rpc").0, "True");
    assert_eq!(listener(&t, "default/gw", "http").attached_routes, 2);
}

#[test]
fn infrastructure_labels_and_annotations_are_recorded_per_gateway() {
    let yaml = GW.replace(
        "  gatewayClassName: weir\n",
        "  gatewayClassName: weir\n  infrastructure:\n    labels: {team: web}\n    annotations: {example.com/owner: ops}\n",
    );
    let t = run(&yaml);
    let i = &t.infrastructure[&id("default/gw")];
    assert_eq!(i.labels["team"], "web");
    assert_eq!(i.annotations["example.com/owner"], "ops");
    assert!(run(GW).infrastructure.is_empty(), "nothing to record");
}
