//! GRPCRoutes: method and header matches become path and header matches on the same routes
//! HTTPRoutes produce; filters, backends, attachment and status are HTTPRoute's.
//!
//! A gRPC call is an HTTP/2 POST to `/{service}/{method}`, so (GEP-1016):
//!
//! | type  | service | method | path match                                   |
//! |-------|---------|--------|----------------------------------------------|
//! | Exact | set     | set    | exact `/S/M`                                 |
//! | Exact | set     | unset  | prefix `/S` (segment-wise: `/S/…`)           |
//! | Exact | unset   | set    | regex `/[^/]+/M`                             |
//! | Regex | either  | either | regex `/(?:S)/(?:M)`, an unset part `[^/]+`  |
//! | none  |         |        | prefix `/`                                   |
//!
//! Precedence within a hostname: the longer service, then the longer method, then more
//! header matches (then age and name, as for HTTPRoute).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use gateway_api::experimental::httproutes::HttpRouteRules;
use gateway_api::grpcroutes::{
    GrpcRoute, GrpcRouteRules, GrpcRouteRulesMatches, GrpcRouteRulesMatchesHeadersType,
    GrpcRouteRulesMatchesMethodType,
};
use weir_proxy::config::{Cluster, PathMatch, RouteMatch, StringMatch, ValueMatch};
use weir_store::{NsName, Snapshot};

use super::gateway::GatewayModel;
use super::http_route::{
    BuiltRules, HttpLikeRoute, MatchRank, RouteKind, attach_rules, build_rule,
};
use super::{ListenerRoutes, TranslateContext};
use crate::status::RouteStatus;

pub(crate) fn translate_grpc_route(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    id: &NsName,
    route: &GrpcRoute,
    gateways: &mut [GatewayModel<'_>],
    listener_routes: &mut HashMap<(usize, usize), ListenerRoutes>,
    clusters: &mut BTreeMap<String, Cluster>,
) -> RouteStatus {
    let mut built = BuiltRules::default();
    for (ri, rule) in route.spec.rules.iter().flatten().enumerate() {
        let matches = match rule.matches.as_deref() {
            None | Some([]) => vec![convert_match(&GrpcRouteRulesMatches::default())],
            Some(ms) => ms.iter().map(convert_match).collect(),
        };
        let translated = as_http_rule(rule).and_then(|http_rule| {
            build_rule(
                snapshot,
                id,
                RouteKind::Grpc,
                &http_rule,
                matches,
                clusters,
                &mut built.unresolved,
            )
        });
        built.add(ri, translated);
    }
    let view = HttpLikeRoute {
        kind: "GRPCRoute",
        meta: &route.metadata,
        hostnames: route.spec.hostnames.clone().unwrap_or_default(),
        parents: parent_views!(route.spec.parent_refs),
    };
    attach_rules(snapshot, ctx, id, &view, built, gateways, listener_routes)
}

/// A GRPCRoute rule's name, filters and backendRefs have HTTPRoute's shapes (the filter types
/// are a subset: header modifiers, RequestMirror, ExtensionRef); converting them lets one
/// translation serve both kinds. Matches are converted separately.
fn as_http_rule(rule: &GrpcRouteRules) -> Result<HttpRouteRules, String> {
    let value = serde_json::json!({
        "name": rule.name,
        "filters": rule.filters,
        "backendRefs": rule.backend_refs,
    });
    serde_json::from_value(value).map_err(|e| format!("filters or backendRefs: {e}"))
}

fn convert_match(m: &GrpcRouteRulesMatches) -> Result<(RouteMatch, MatchRank), String> {
    let (path, service_len, method_len) = match &m.method {
        None => (PathMatch::Prefix("/".into()), 0, 0),
        Some(mm) => {
            let service = mm.service.as_deref().filter(|s| !s.is_empty());
            let method = mm.method.as_deref().filter(|s| !s.is_empty());
            let lens = (service.map_or(0, str::len), method.map_or(0, str::len));
            let regex =
                mm.r#type.clone() == Some(GrpcRouteRulesMatchesMethodType::RegularExpression);
            let path = match (regex, service, method) {
                (false, Some(s), Some(m)) => PathMatch::Exact(format!("/{s}/{m}")),
                (false, Some(s), None) => PathMatch::Prefix(format!("/{s}")),
                (false, None, Some(m)) => PathMatch::Regex(format!("/[^/]+/{}", regex::escape(m))),
                (true, None, None) | (false, None, None) => PathMatch::Prefix("/".into()),
                (true, s, m) => {
                    for (field, re) in [("service", s), ("method", m)] {
                        if let Some(why) = re.and_then(regex_error) {
                            return Err(format!(
                                "method.{field} {:?} is not a valid regular expression: {why}",
                                re.unwrap_or_default()
                            ));
                        }
                    }
                    PathMatch::Regex(format!(
                        "/(?:{})/(?:{})",
                        s.unwrap_or("[^/]+"),
                        m.unwrap_or("[^/]+")
                    ))
                }
            };
            (path, lens.0, lens.1)
        }
    };
    let mut headers: Vec<ValueMatch> = Vec::new();
    for h in m.headers.iter().flatten() {
        let name = h.name.to_ascii_lowercase();
        // A list-map keyed by name: only the first entry for a name counts.
        if headers.iter().any(|v| v.name == name) {
            continue;
        }
        let value = match h.r#type {
            Some(GrpcRouteRulesMatchesHeadersType::RegularExpression) => {
                if let Some(why) = regex_error(&h.value) {
                    return Err(format!(
                        "header {name} value {:?} is not a valid regular expression: {why}",
                        h.value
                    ));
                }
                StringMatch::Regex(h.value.clone())
            }
            _ => StringMatch::Exact(h.value.clone()),
        };
        headers.push(ValueMatch { name, value });
    }
    let rank = (
        0,
        Reverse(service_len),
        0,
        Reverse(method_len),
        Reverse(headers.len()),
    );
    Ok((
        RouteMatch {
            path,
            method: None,
            headers,
            query_params: Vec::new(),
        },
        rank,
    ))
}

/// Why `re` does not compile (the `error:` line of the regex crate's message), or `None`.
fn regex_error(re: &str) -> Option<String> {
    let e = regex::Regex::new(re).err()?.to_string();
    let line = e.lines().find(|l| l.contains("error:")).unwrap_or(&e);
    Some(line.trim().to_owned())
}
