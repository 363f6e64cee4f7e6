//! HTTPRoutes: attachment to listeners (parentRefs, allowedRoutes, hostnames), rules into
//! precedence-ordered routes, filters, backends, and route parent status.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

use gateway_api::experimental::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesFilters, HttpRouteRulesFiltersType as FT,
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesPathType,
    HttpRouteRulesMatchesQueryParamsType,
};
use k8s_openapi::jiff::Timestamp;
use weir_proxy::config::{
    BackendTarget, Cluster, Filter, HeaderModifier, PathMatch, PathRewrite, Redirect, Rewrite,
    Route, RouteMatch, StringMatch, ValueMatch, WeightedBackend,
};
use weir_store::{NsName, Snapshot};

use super::attach::{ParentSelector, RouteRef, attach, find_parent};
use super::backend::{BackendRefSpec, Unresolved, resolve_backend};
use super::gateway::GatewayModel;
use super::tls_route::ParentView;
use super::{ListenerRoutes, TranslateContext};
use crate::status::{Condition, GROUP, ParentRef, RouteParentStatus, RouteStatus};

/// How specific one match is: (path kind, path length, method, header count, query count).
/// GRPCRoute ranks fill the same slots (0, service length, 0, method length, header count).
pub(crate) type MatchRank = (u8, Reverse<usize>, u8, Reverse<usize>, Reverse<usize>);

/// Precedence across every route on a virtual host; smaller sorts first (wins).
/// (path kind, path length, method, header count, query count, age, name, rule, match)
pub(crate) type SortKey = (
    u8,
    Reverse<usize>,
    u8,
    Reverse<usize>,
    Reverse<usize>,
    Option<Timestamp>,
    String,
    usize,
    usize,
);

/// One rule, translated once and shared by every listener the route attaches to.
pub(crate) struct RuleModel {
    session: Option<weir_proxy::config::SessionPersistence>,
    timeouts: weir_proxy::config::Timeouts,
    retry: Option<weir_proxy::config::Retry>,
    matches: Vec<(RouteMatch, MatchRank)>,
    filters: Vec<Filter>,
    backends: Vec<WeightedBackend>,
    name: Option<String>,
}

pub(crate) fn translate_http_route(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    id: &NsName,
    route: &HttpRoute,
    gateways: &mut [GatewayModel<'_>],
    listener_routes: &mut HashMap<(usize, usize), ListenerRoutes>,
    clusters: &mut BTreeMap<String, Cluster>,
) -> RouteStatus {
    let mut built = BuiltRules::default();
    for (ri, rule) in route.spec.rules.iter().flatten().enumerate() {
        let default_match = [HttpRouteRulesMatches::default()];
        let matches = match rule.matches.as_deref() {
            None | Some([]) => &default_match[..],
            Some(m) => m,
        };
        let matches = matches.iter().map(|m| Ok(convert_match(m))).collect();
        let translated = build_rule(
            snapshot,
            id,
            RouteKind::Http,
            rule,
            matches,
            clusters,
            &mut built.unresolved,
        );
        built.add(ri, translated);
    }
    let view = HttpLikeRoute {
        kind: "HTTPRoute",
        meta: &route.metadata,
        hostnames: route.spec.hostnames.clone().unwrap_or_default(),
        parents: parent_views!(route.spec.parent_refs),
    };
    attach_rules(snapshot, ctx, id, &view, built, gateways, listener_routes)
}

/// Which kind of route a rule belongs to: the kind ReferenceGrants name, and the upstream
/// protocol (gRPC backends always speak HTTP/2).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Http,
    Grpc,
}

impl RouteKind {
    fn name(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
        }
    }
}

/// A route's rules, translated, with what could not be: the input of `attach_rules`.
#[derive(Default)]
pub(crate) struct BuiltRules {
    rules: Vec<(usize, RuleModel)>,
    /// "Dropped Rule N: why", for PartiallyInvalid and Accepted=False.
    dropped: Vec<String>,
    pub unresolved: Vec<Unresolved>,
}

impl BuiltRules {
    pub fn add(&mut self, ri: usize, rule: Result<RuleModel, String>) {
        match rule {
            Ok(r) => self.rules.push((ri, r)),
            Err(why) => self.dropped.push(format!("Dropped Rule {ri}: {why}")),
        }
    }
}

/// An HTTPRoute or a GRPCRoute, reduced to what attachment needs.
pub(crate) struct HttpLikeRoute<'a> {
    pub kind: &'static str,
    pub meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    pub hostnames: Vec<String>,
    pub parents: Vec<ParentView<'a>>,
}

/// Attaches built rules to every listener the route's parentRefs select, and writes the
/// route's status. Shared by HTTPRoute and GRPCRoute.
pub(crate) fn attach_rules(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    id: &NsName,
    route: &HttpLikeRoute<'_>,
    built: BuiltRules,
    gateways: &mut [GatewayModel<'_>],
    listener_routes: &mut HashMap<(usize, usize), ListenerRoutes>,
) -> RouteStatus {
    let BuiltRules {
        rules,
        dropped,
        unresolved,
    } = built;
    let generation = route.meta.generation.unwrap_or(0);
    let created = route.meta.creation_timestamp.as_ref().map(|t| t.0);
    let rule_count: usize = rules.iter().map(|(_, r)| r.matches.len()).sum();
    // Claims only matter where both kinds exist (`resolve_kind_conflicts`).
    let track_claims = !snapshot.http_routes.is_empty() && !snapshot.grpc_routes.is_empty();
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
                .map(|u: &Unresolved| u.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            generation,
        ),
    };
    // Ties break on the "{namespace}/{name}" string, as the spec words it.
    let id_string = id.to_string();
    let mut status = RouteStatus::default();
    let mut attached: HashSet<(usize, usize)> = HashSet::new();
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
        let parent_index = status.parents.len();
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
            !rules.is_empty(),
            &dropped,
            &mut attached,
            |li, hosts| {
                let lr = listener_routes.entry((gi, li)).or_default();
                if track_claims {
                    lr.claims.push(super::Claim {
                        kind: route.kind,
                        id: id.clone(),
                        created,
                        hosts: hosts.to_vec(),
                        parent: parent_index,
                    });
                }
                for h in hosts {
                    // Most virtual hosts hold one route: no spare capacity for 10k of them.
                    let vhost = lr
                        .vhosts
                        .entry(h.clone())
                        .or_insert_with(|| Vec::with_capacity(rule_count));
                    for (ri, rule) in &rules {
                        for (mi, (m, key)) in rule.matches.iter().enumerate() {
                            let name = match &rule.name {
                                Some(n) => format!("{id}/{n}/{mi}"),
                                None => format!("{id}/rule{ri}/{mi}"),
                            };
                            let sort = (
                                key.0,
                                key.1,
                                key.2,
                                key.3,
                                key.4,
                                created,
                                id_string.clone(),
                                *ri,
                                mi,
                            );
                            vhost.push((
                                sort,
                                route.kind,
                                Route {
                                    name,
                                    matcher: m.clone(),
                                    filters: rule.filters.clone(),
                                    backends: rule.backends.clone(),
                                    timeouts: rule.timeouts,
                                    retry: rule.retry.clone(),
                                    session: rule.session.clone(),
                                },
                            ));
                        }
                    }
                }
            },
        );
        let mut conditions = vec![accepted, resolved_refs.clone()];
        if !dropped.is_empty() && !rules.is_empty() {
            conditions.push(Condition::new(
                "PartiallyInvalid",
                true,
                "UnsupportedValue",
                dropped.join("; "),
                generation,
            ));
        }
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
            conditions,
        });
    }
    status
}

/// Translates one rule: its filters, mirrors and backends (`matches`, converted by the caller,
/// may carry the reason a match cannot be served, which drops the rule).
pub(crate) fn build_rule(
    snapshot: &Snapshot,
    id: &NsName,
    kind: RouteKind,
    rule: &HttpRouteRules,
    matches: Vec<Result<(RouteMatch, MatchRank), String>>,
    clusters: &mut BTreeMap<String, Cluster>,
    unresolved: &mut Vec<Unresolved>,
) -> Result<RuleModel, String> {
    let matches = matches.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut filters = Vec::new();
    for f in rule.filters.iter().flatten() {
        if f.r#type != FT::RequestMirror {
            filters.extend(convert_filters(std::slice::from_ref(f))?);
            continue;
        }
        let m = f
            .request_mirror
            .as_ref()
            .ok_or("requestMirror is missing")?;
        let b = &m.backend_ref;
        let spec = BackendRefSpec {
            group: b.group.as_deref(),
            kind: b.kind.as_deref(),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
        };
        let percent = match (&m.fraction, m.percent) {
            (Some(fr), _) => {
                f64::from(fr.numerator) * 100.0 / f64::from(fr.denominator.unwrap_or(100).max(1))
            }
            (None, Some(p)) => f64::from(p),
            (None, None) => 100.0,
        };
        // An unresolvable mirror is reported and left out; the main request is unaffected.
        match resolve_backend(
            snapshot,
            kind.name(),
            &id.namespace,
            &spec,
            kind == RouteKind::Grpc,
            clusters,
        ) {
            Ok(cluster) => filters.push(Filter::Mirror(weir_proxy::config::Mirror {
                cluster,
                percent: percent.clamp(0.0, 100.0),
            })),
            Err(u) => unresolved.push(u),
        }
    }
    let mut backends = Vec::new();
    for b in rule.backend_refs.iter().flatten() {
        let spec = BackendRefSpec {
            group: b.group.as_deref(),
            kind: b.kind.as_deref(),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
        };
        let target = match resolve_backend(
            snapshot,
            kind.name(),
            &id.namespace,
            &spec,
            kind == RouteKind::Grpc,
            clusters,
        ) {
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
        let bfilters = match &b.filters {
            None => Vec::new(),
            Some(fs) => {
                let fs: Vec<HttpRouteRulesFilters> = serde_json::to_value(fs)
                    .and_then(serde_json::from_value)
                    .map_err(|e| format!("backend filters: {e}"))?;
                convert_filters(&fs)?
            }
        };
        let weight = u32::try_from(b.weight.unwrap_or(1)).unwrap_or(0);
        backends.push(WeightedBackend {
            weight,
            target,
            filters: bfilters,
        });
    }
    Ok(RuleModel {
        timeouts: rule_timeouts(rule),
        retry: rule_retry(rule),
        session: rule_session(rule),
        matches,
        filters,
        backends,
        name: rule.name.clone(),
    })
}

fn convert_match(m: &HttpRouteRulesMatches) -> (RouteMatch, MatchRank) {
    let (path, kind, len) = match &m.path {
        None => (PathMatch::Prefix("/".into()), 2, 1),
        Some(p) => {
            let v = p.value.clone().unwrap_or_else(|| "/".into());
            let len = v.len();
            match p
                .r#type
                .clone()
                .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix)
            {
                HttpRouteRulesMatchesPathType::Exact => (PathMatch::Exact(v), 0, len),
                HttpRouteRulesMatchesPathType::RegularExpression => (PathMatch::Regex(v), 1, len),
                HttpRouteRulesMatchesPathType::PathPrefix => {
                    // `/foo/` and `/foo` match the same paths; rank them equally.
                    let len = v.trim_end_matches('/').len().max(1);
                    (PathMatch::Prefix(v), 2, len)
                }
            }
        }
    };
    let headers: Vec<ValueMatch> = m
        .headers
        .iter()
        .flatten()
        .map(|h| ValueMatch {
            name: h.name.to_ascii_lowercase(),
            value: match h.r#type {
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                    StringMatch::Regex(h.value.clone())
                }
                _ => StringMatch::Exact(h.value.clone()),
            },
        })
        .collect();
    let query_params: Vec<ValueMatch> = m
        .query_params
        .iter()
        .flatten()
        .map(|q| ValueMatch {
            name: q.name.clone(),
            value: match q.r#type {
                Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression) => {
                    StringMatch::Regex(q.value.clone())
                }
                _ => StringMatch::Exact(q.value.clone()),
            },
        })
        .collect();
    let method = m.method.as_ref().map(|m| {
        serde_json::to_value(m)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    let key = (
        kind,
        Reverse(len),
        if method.is_some() { 0 } else { 1 },
        Reverse(headers.len()),
        Reverse(query_params.len()),
    );
    (
        RouteMatch {
            path,
            method,
            headers,
            query_params,
        },
        key,
    )
}

/// Converts Gateway API filters; an unsupported filter drops the rule (with this reason).
fn convert_filters(filters: &[HttpRouteRulesFilters]) -> Result<Vec<Filter>, String> {
    let header_mod = |set: Vec<(String, String)>,
                      add: Vec<(String, String)>,
                      remove: Vec<String>| HeaderModifier { set, add, remove };
    filters
        .iter()
        .map(|f| match f.r#type {
            FT::RequestHeaderModifier => {
                let m = f
                    .request_header_modifier
                    .as_ref()
                    .ok_or("requestHeaderModifier is missing")?;
                Ok(Filter::RequestHeaders(header_mod(
                    m.set
                        .iter()
                        .flatten()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect(),
                    m.add
                        .iter()
                        .flatten()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect(),
                    m.remove.clone().unwrap_or_default(),
                )))
            }
            FT::ResponseHeaderModifier => {
                let m = f
                    .response_header_modifier
                    .as_ref()
                    .ok_or("responseHeaderModifier is missing")?;
                Ok(Filter::ResponseHeaders(header_mod(
                    m.set
                        .iter()
                        .flatten()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect(),
                    m.add
                        .iter()
                        .flatten()
                        .map(|h| (h.name.clone(), h.value.clone()))
                        .collect(),
                    m.remove.clone().unwrap_or_default(),
                )))
            }
            FT::RequestRedirect => {
                let r = f
                    .request_redirect
                    .as_ref()
                    .ok_or("requestRedirect is missing")?;
                use gateway_api::experimental::httproutes::HttpRouteRulesFiltersRequestRedirectPathType as P;
                use gateway_api::experimental::httproutes::HttpRouteRulesFiltersRequestRedirectScheme as S;
                Ok(Filter::Redirect(Redirect {
                    scheme: r.scheme.as_ref().map(|s| match s {
                        S::Http => "http".to_owned(),
                        S::Https => "https".to_owned(),
                    }),
                    hostname: r.hostname.clone(),
                    port: r.port.and_then(|p| u16::try_from(p).ok()),
                    path: r.path.as_ref().and_then(|p| match p.r#type {
                        P::ReplaceFullPath => p.replace_full_path.clone().map(PathRewrite::Full),
                        P::ReplacePrefixMatch => {
                            p.replace_prefix_match.clone().map(PathRewrite::Prefix)
                        }
                    }),
                    status: r
                        .status_code
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(302),
                }))
            }
            FT::UrlRewrite => {
                let r = f.url_rewrite.as_ref().ok_or("urlRewrite is missing")?;
                use gateway_api::experimental::httproutes::HttpRouteRulesFiltersUrlRewritePathType as P;
                Ok(Filter::Rewrite(Rewrite {
                    hostname: r.hostname.clone(),
                    path: r.path.as_ref().and_then(|p| match p.r#type {
                        P::ReplaceFullPath => p.replace_full_path.clone().map(PathRewrite::Full),
                        P::ReplacePrefixMatch => {
                            p.replace_prefix_match.clone().map(PathRewrite::Prefix)
                        }
                    }),
                }))
            }
            FT::Cors => {
                let c = f.cors.as_ref().ok_or("cors is missing")?;
                Ok(Filter::Cors(weir_proxy::config::Cors {
                    allow_origins: c.allow_origins.clone().unwrap_or_default(),
                    allow_methods: c.allow_methods.clone().unwrap_or_default(),
                    allow_headers: c.allow_headers.clone().unwrap_or_default(),
                    expose_headers: c.expose_headers.clone().unwrap_or_default(),
                    allow_credentials: c.allow_credentials.unwrap_or(false),
                    max_age: c.max_age.and_then(|m| u32::try_from(m).ok()),
                }))
            }
            ref other => Err(format!("filter type {other:?} is not supported yet")),
        })
        .collect()
}

/// A Gateway API duration (`1h2m3s500ms`, validated at admission) in milliseconds; `0s` and
/// an absent field mean no timeout.
fn duration_ms(v: Option<&str>) -> Option<u64> {
    let v = v?;
    let mut total = 0u64;
    let mut num = 0u64;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            num = num * 10 + u64::from(d);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                1
            }
            ('h', _) => 3_600_000,
            ('m', _) => 60_000,
            ('s', _) => 1_000,
            _ => return None,
        };
        total += num * unit;
        num = 0;
    }
    (total > 0).then_some(total)
}

/// When `attempts` is unset we retry once; without `codes` only connection failures mapped to
/// 502/503/504 are retried (the statuses a proxy produces itself).
fn rule_retry(rule: &HttpRouteRules) -> Option<weir_proxy::config::Retry> {
    let r = rule.retry.as_ref()?;
    Some(weir_proxy::config::Retry {
        attempts: r.attempts.and_then(|a| u32::try_from(a).ok()).unwrap_or(1),
        codes: match r.codes.as_deref() {
            Some(c) if !c.is_empty() => c.iter().filter_map(|c| u16::try_from(*c).ok()).collect(),
            _ => vec![502, 503, 504],
        },
        backoff_ms: duration_ms(r.backoff.as_deref()),
    })
}

/// `sessionPersistence`: a cookie (default) or header named `sessionName` (default
/// `weir-session`); timeouts in whole seconds.
fn rule_session(rule: &HttpRouteRules) -> Option<weir_proxy::config::SessionPersistence> {
    use gateway_api::experimental::httproutes::HttpRouteRulesSessionPersistenceCookieConfigLifetimeType as Lifetime;
    use gateway_api::experimental::httproutes::HttpRouteRulesSessionPersistenceType as Type;
    let sp = rule.session_persistence.as_ref()?;
    let secs = |v: Option<&str>| duration_ms(v).map(|ms| ms.div_ceil(1000));
    Some(weir_proxy::config::SessionPersistence {
        name: sp
            .session_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "weir-session".into()),
        header: sp.r#type == Some(Type::Header),
        absolute_timeout_s: secs(sp.absolute_timeout.as_deref()),
        idle_timeout_s: secs(sp.idle_timeout.as_deref()),
        permanent: sp
            .cookie_config
            .as_ref()
            .and_then(|c| c.lifetime_type.clone())
            == Some(Lifetime::Permanent),
    })
}

fn rule_timeouts(rule: &HttpRouteRules) -> weir_proxy::config::Timeouts {
    let t = rule.timeouts.as_ref();
    weir_proxy::config::Timeouts {
        request_ms: duration_ms(t.and_then(|t| t.request.as_deref())),
        backend_request_ms: duration_ms(t.and_then(|t| t.backend_request.as_deref())),
    }
}

#[cfg(test)]
mod duration_tests {
    #[test]
    fn gateway_api_durations() {
        assert_eq!(super::duration_ms(Some("500ms")), Some(500));
        assert_eq!(super::duration_ms(Some("1h2m3s")), Some(3_723_000));
        assert_eq!(super::duration_ms(Some("1m30s250ms")), Some(90_250));
        assert_eq!(
            super::duration_ms(Some("0s")),
            None,
            "0s disables the timeout"
        );
        assert_eq!(super::duration_ms(None), None);
    }
}
