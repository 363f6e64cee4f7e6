//! Admission: what the API server would refuse for these objects, from the CRDs' OpenAPI
//! schemas and CEL rules (Gateway API v1.6) and core Kubernetes validation.
//!
//! In kube mode the API server does this before we ever see an object; a manifest
//! directory has no API server, so the store does it on load.

use std::collections::HashSet;
use std::sync::LazyLock;

use gateway_api::experimental::httproutes::{
    HttpRoute, HttpRouteRulesFilters, HttpRouteRulesFiltersType, HttpRouteRulesMatchesPathType,
};
use gateway_api::gateways::Gateway;
use regex::Regex;

use crate::object::Object;

/// One refused field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, as `spec.rules[0].matches[0].path.value`.
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap());
static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap()
});
/// Gateway API `Hostname`: lower-case DNS name, optionally with a leading `*.` label.
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap()
});
static HEADER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$").unwrap());
static PROTOCOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]+$").unwrap()
});
/// A CORS origin: `*`, or `scheme://host[:port]` where host may start with `*.`.
static CORS_ORIGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\*|[a-z][a-z0-9+.-]*://(\*\.)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?)$").unwrap()
});

/// Gateway API `Duration`: GEP-2257, e.g. `1h`, `500ms`, `1m30s`.
static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$").unwrap());

/// Checks one object. An empty result means it would be admitted.
pub fn validate(obj: &Object) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_meta(obj, &mut errs);
    match obj {
        Object::Gateway(gw) => validate_gateway(gw, &mut errs),
        Object::HTTPRoute(r) => validate_http_route(r, &mut errs),
        Object::GRPCRoute(r) => validate_grpc_route(r, &mut errs),
        Object::TLSRoute(r) => validate_tls_route(r, &mut errs),
        Object::GatewayClass(gc) => {
            let c = &gc.spec.controller_name;
            if c.is_empty() || !c.contains('/') {
                errs.push(err(
                    "spec.controllerName",
                    "must be a domain-prefixed path, such as example.net/gateway-controller",
                ));
            }
        }
        Object::Service(svc) => {
            for (i, p) in svc
                .spec
                .iter()
                .flat_map(|s| s.ports.iter().flatten())
                .enumerate()
            {
                check_port(&mut errs, &format!("spec.ports[{i}].port"), p.port);
            }
        }
        _ => {}
    }
    errs
}

fn validate_meta(obj: &Object, errs: &mut Vec<FieldError>) {
    let meta = obj.meta();
    match meta.name.as_deref() {
        None | Some("") => errs.push(err("metadata.name", "is required")),
        Some(n) if n.len() > 253 || !DNS_SUBDOMAIN.is_match(n) => errs.push(err(
            "metadata.name",
            format!(
                "{n:?} is not a valid name: lower-case RFC 1123 subdomain, at most 253 characters"
            ),
        )),
        _ => {}
    }
    if let Some(ns) = meta.namespace.as_deref() {
        if !obj.kind().namespaced() {
            errs.push(err(
                "metadata.namespace",
                format!("{} is cluster-scoped", obj.kind()),
            ));
        } else if ns.len() > 63 || !DNS_LABEL.is_match(ns) {
            errs.push(err(
                "metadata.namespace",
                format!("{ns:?} is not a valid namespace: lower-case RFC 1123 label"),
            ));
        }
    }
}

fn check_port(errs: &mut Vec<FieldError>, field: &str, port: i32) {
    if !(1..=65535).contains(&port) {
        errs.push(err(field, format!("{port} is out of range 1-65535")));
    }
}

fn check_hostname(errs: &mut Vec<FieldError>, field: &str, h: &str) {
    if h.len() > 253 || !HOSTNAME.is_match(h) {
        errs.push(err(
            field,
            format!("{h:?} is not a valid hostname: lower-case DNS name, optionally starting with \"*.\", no port, no IP"),
        ));
    } else if h.parse::<std::net::IpAddr>().is_ok() {
        errs.push(err(
            field,
            format!("{h:?} is an IP address; a hostname is required"),
        ));
    }
}

fn check_section_name(errs: &mut Vec<FieldError>, field: &str, n: &str) {
    if n.is_empty() || n.len() > 253 || !DNS_SUBDOMAIN.is_match(n) {
        errs.push(err(field, format!("{n:?} is not a valid section name")));
    }
}

fn validate_gateway(gw: &Gateway, errs: &mut Vec<FieldError>) {
    let listeners = &gw.spec.listeners;
    if listeners.is_empty() || listeners.len() > 64 {
        errs.push(err(
            "spec.listeners",
            "must hold between 1 and 64 listeners",
        ));
    }
    let mut names = HashSet::new();
    let mut combos = HashSet::new();
    for (i, l) in listeners.iter().enumerate() {
        let f = format!("spec.listeners[{i}]");
        check_section_name(errs, &format!("{f}.name"), &l.name);
        if !names.insert(l.name.as_str()) {
            errs.push(err(
                format!("{f}.name"),
                format!(
                    "listener name {:?} must be unique within the Gateway",
                    l.name
                ),
            ));
        }
        check_port(errs, &format!("{f}.port"), l.port);
        if !PROTOCOL.is_match(&l.protocol) || l.protocol.len() > 255 {
            errs.push(err(
                format!("{f}.protocol"),
                format!("{:?} is not a valid protocol", l.protocol),
            ));
        }
        if let Some(h) = &l.hostname {
            check_hostname(errs, &format!("{f}.hostname"), h);
            if matches!(l.protocol.as_str(), "TCP" | "UDP") {
                errs.push(err(
                    format!("{f}.hostname"),
                    "hostname must not be specified for protocols ['TCP', 'UDP']",
                ));
            }
        }
        match (l.protocol.as_str(), &l.tls) {
            ("HTTP" | "TCP" | "UDP", Some(_)) => errs.push(err(
                format!("{f}.tls"),
                "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
            )),
            ("HTTPS", None) => errs.push(err(
                format!("{f}.tls"),
                "tls must be specified for protocol HTTPS",
            )),
            _ => {}
        }
        if let Some(tls) = &l.tls {
            use gateway_api::gateways::GatewayListenersTlsMode as Mode;
            let passthrough = matches!(tls.mode, Some(Mode::Passthrough));
            if l.protocol == "HTTPS" && passthrough {
                errs.push(err(
                    format!("{f}.tls.mode"),
                    "tls mode must be Terminate for protocol HTTPS",
                ));
            }
            let refs = tls.certificate_refs.as_deref().unwrap_or_default();
            if !passthrough && refs.is_empty() && tls.options.as_ref().is_none_or(|o| o.is_empty())
            {
                errs.push(err(
                    format!("{f}.tls.certificateRefs"),
                    "certificateRefs or options must be specified when mode is Terminate",
                ));
            }
        }
        let key = (
            l.port,
            l.protocol.as_str(),
            l.hostname.as_deref().unwrap_or(""),
        );
        if !combos.insert(key) {
            errs.push(err(
                f.to_string(),
                "combination of port, protocol and hostname must be unique for each listener",
            ));
        }
    }
    for (i, a) in gw.spec.addresses.iter().flatten().enumerate() {
        let f = format!("spec.addresses[{i}].value");
        let ty = a.r#type.as_deref().unwrap_or("IPAddress");
        match (ty, a.value.as_deref()) {
            ("IPAddress", Some(v)) if v.parse::<std::net::IpAddr>().is_err() => {
                errs.push(err(f, format!("{v:?} is not an IP address")))
            }
            ("Hostname", Some(v)) => check_hostname(errs, &f, v),
            _ => {}
        }
    }
}

fn validate_http_route(r: &HttpRoute, errs: &mut Vec<FieldError>) {
    let rules = r.spec.rules.as_deref().unwrap_or_default();
    check_route_spec(
        errs,
        r.spec.hostnames.as_deref().unwrap_or_default(),
        r.spec
            .parent_refs
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| (p.port, p.section_name.as_deref())),
        rules.len(),
    );
    let mut rule_names = HashSet::new();
    for (ri, rule) in rules.iter().enumerate() {
        let rf = format!("spec.rules[{ri}]");
        let matches = rule.matches.as_deref().unwrap_or_default();
        check_rule(
            errs,
            &rf,
            rule.name.as_deref(),
            matches.len(),
            &mut rule_names,
        );
        let mut has_prefix_match = matches.is_empty();
        for (mi, m) in matches.iter().enumerate() {
            let mf = format!("{rf}.matches[{mi}]");
            if let Some(p) = &m.path {
                let ty = p
                    .r#type
                    .clone()
                    .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix);
                let v = p.value.as_deref().unwrap_or("/");
                match ty {
                    HttpRouteRulesMatchesPathType::RegularExpression => {
                        if let Err(e) = Regex::new(v) {
                            errs.push(err(
                                format!("{mf}.path.value"),
                                format!(
                                    "regular expression does not compile: {}",
                                    first_line(&e.to_string())
                                ),
                            ));
                        }
                    }
                    HttpRouteRulesMatchesPathType::PathPrefix => {
                        has_prefix_match = true;
                        check_abs_path(errs, &format!("{mf}.path.value"), v);
                    }
                    HttpRouteRulesMatchesPathType::Exact => {
                        check_abs_path(errs, &format!("{mf}.path.value"), v)
                    }
                }
            } else {
                has_prefix_match = true;
            }
            let mut seen = HashSet::new();
            for (hi, h) in m.headers.iter().flatten().enumerate() {
                let hf = format!("{mf}.headers[{hi}]");
                check_header_match_name(errs, &hf, &h.name, &mut seen);
                if matches!(h.r#type, Some(gateway_api::experimental::httproutes::HttpRouteRulesMatchesHeadersType::RegularExpression))
                    && let Err(e) = Regex::new(&h.value) {
                        errs.push(err(format!("{hf}.value"), format!("regular expression does not compile: {}", first_line(&e.to_string()))));
                    }
            }
            let mut seen = HashSet::new();
            for (qi, q) in m.query_params.iter().flatten().enumerate() {
                let qf = format!("{mf}.queryParams[{qi}]");
                if !seen.insert(q.name.as_str()) {
                    errs.push(err(
                        format!("{qf}.name"),
                        "query parameter match names must be unique",
                    ));
                }
                if matches!(q.r#type, Some(gateway_api::experimental::httproutes::HttpRouteRulesMatchesQueryParamsType::RegularExpression))
                    && let Err(e) = Regex::new(&q.value) {
                        errs.push(err(format!("{qf}.value"), format!("regular expression does not compile: {}", first_line(&e.to_string()))));
                    }
            }
        }
        let filters = rule.filters.as_deref().unwrap_or_default();
        validate_filters(errs, &format!("{rf}.filters"), filters, has_prefix_match);
        for (bi, b) in rule.backend_refs.iter().flatten().enumerate() {
            let bf = format!("{rf}.backendRefs[{bi}]");
            check_backend_ref(
                errs,
                &bf,
                b.weight,
                b.group.as_deref(),
                b.kind.as_deref(),
                b.port,
            );
            if let Some(fs) = &b.filters {
                // Backend filters have the same schema as rule filters.
                match serde_json::to_value(fs)
                    .and_then(serde_json::from_value::<Vec<HttpRouteRulesFilters>>)
                {
                    Ok(fs) => {
                        validate_filters(errs, &format!("{bf}.filters"), &fs, has_prefix_match)
                    }
                    Err(e) => errs.push(err(format!("{bf}.filters"), e.to_string())),
                }
            }
        }
        if let Some(r) = &rule.retry {
            if let Some(a) = r.attempts
                && a < 1
            {
                errs.push(err(
                    format!("{rf}.retry.attempts"),
                    format!("{a} must be at least 1"),
                ));
            }
            for (ci, c) in r.codes.iter().flatten().enumerate() {
                if !(400..=599).contains(c) {
                    errs.push(err(
                        format!("{rf}.retry.codes[{ci}]"),
                        format!("{c} is not a retriable status: use 400-599"),
                    ));
                }
            }
            if let Some(b) = &r.backoff
                && !DURATION.is_match(b)
            {
                errs.push(err(
                    format!("{rf}.retry.backoff"),
                    format!("{b:?} is not a Gateway API duration (e.g. 100ms, 1s)"),
                ));
            }
        }
        if let Some(t) = &rule.timeouts {
            for (name, v) in [
                ("request", &t.request),
                ("backendRequest", &t.backend_request),
            ] {
                if let Some(v) = v
                    && !DURATION.is_match(v)
                {
                    errs.push(err(
                        format!("{rf}.timeouts.{name}"),
                        format!("{v:?} is not a Gateway API duration (e.g. 10s, 500ms, 1m30s)"),
                    ));
                }
            }
        }
    }
}

static GRPC_SERVICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$").unwrap());
static GRPC_METHOD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z_0-9]*$").unwrap());

/// The GRPCRoute CRD's schema and CEL rules. Regular expressions are not compiled here: the API
/// server does not, so translate reports them in the route's status.
fn validate_grpc_route(r: &gateway_api::grpcroutes::GrpcRoute, errs: &mut Vec<FieldError>) {
    use gateway_api::grpcroutes::GrpcRouteRulesMatchesMethodType as MT;
    let rules = r.spec.rules.as_deref().unwrap_or_default();
    check_route_spec(
        errs,
        r.spec.hostnames.as_deref().unwrap_or_default(),
        r.spec
            .parent_refs
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| (p.port, p.section_name.as_deref())),
        rules.len(),
    );
    let total: usize = rules
        .iter()
        .map(|r| r.matches.as_ref().map_or(0, Vec::len))
        .sum();
    if total > 128 {
        errs.push(err(
            "spec.rules",
            format!("{total} matches in all; at most 128 are allowed"),
        ));
    }
    let mut rule_names = HashSet::new();
    for (ri, rule) in rules.iter().enumerate() {
        let rf = format!("spec.rules[{ri}]");
        let matches = rule.matches.as_deref().unwrap_or_default();
        check_rule(
            errs,
            &rf,
            rule.name.as_deref(),
            matches.len(),
            &mut rule_names,
        );
        for (mi, m) in matches.iter().enumerate() {
            let mf = format!("{rf}.matches[{mi}]");
            if let Some(mm) = &m.method {
                let exact = mm.r#type.clone().unwrap_or(MT::Exact) == MT::Exact;
                if mm.service.is_none() && mm.method.is_none() {
                    errs.push(err(
                        format!("{mf}.method"),
                        "one or both of 'service' or 'method' must be specified",
                    ));
                }
                for (name, v, pattern) in [
                    ("service", &mm.service, &*GRPC_SERVICE),
                    ("method", &mm.method, &*GRPC_METHOD),
                ] {
                    let Some(v) = v else { continue };
                    if v.len() > 1024 {
                        errs.push(err(
                            format!("{mf}.method.{name}"),
                            "at most 1024 characters",
                        ));
                    } else if exact && !pattern.is_match(v) {
                        errs.push(err(
                            format!("{mf}.method.{name}"),
                            format!("{v:?} is not a valid gRPC {name} name for an Exact match"),
                        ));
                    }
                }
            }
            let mut seen = HashSet::new();
            for (hi, h) in m.headers.iter().flatten().enumerate() {
                let hf = format!("{mf}.headers[{hi}]");
                check_header_match_name(errs, &hf, &h.name, &mut seen);
            }
        }
        // Filters have HTTPRoute's schema for the types GRPCRoute allows.
        match serde_json::to_value(&rule.filters)
            .and_then(serde_json::from_value::<Option<Vec<HttpRouteRulesFilters>>>)
        {
            Ok(fs) => validate_filters(
                errs,
                &format!("{rf}.filters"),
                &fs.unwrap_or_default(),
                false,
            ),
            Err(e) => errs.push(err(format!("{rf}.filters"), e.to_string())),
        }
        for (bi, b) in rule.backend_refs.iter().flatten().enumerate() {
            let bf = format!("{rf}.backendRefs[{bi}]");
            check_backend_ref(
                errs,
                &bf,
                b.weight,
                b.group.as_deref(),
                b.kind.as_deref(),
                b.port,
            );
            match serde_json::to_value(&b.filters)
                .and_then(serde_json::from_value::<Option<Vec<HttpRouteRulesFilters>>>)
            {
                Ok(fs) => validate_filters(
                    errs,
                    &format!("{bf}.filters"),
                    &fs.unwrap_or_default(),
                    false,
                ),
                Err(e) => errs.push(err(format!("{bf}.filters"), e.to_string())),
            }
        }
    }
}

/// What HTTPRoute and GRPCRoute share above the rules: at most 16 valid hostnames, at most 32
/// parentRefs with valid ports and sectionNames, at most 16 rules.
fn check_route_spec<'a>(
    errs: &mut Vec<FieldError>,
    hostnames: &[String],
    parents: impl ExactSizeIterator<Item = (Option<i32>, Option<&'a str>)>,
    rules: usize,
) {
    if hostnames.len() > 16 {
        errs.push(err("spec.hostnames", "at most 16 hostnames"));
    }
    for (i, h) in hostnames.iter().enumerate() {
        check_hostname(errs, &format!("spec.hostnames[{i}]"), h);
    }
    if parents.len() > 32 {
        errs.push(err("spec.parentRefs", "at most 32 parentRefs"));
    }
    for (i, (port, section)) in parents.enumerate() {
        if let Some(port) = port {
            check_port(errs, &format!("spec.parentRefs[{i}].port"), port);
        }
        if let Some(s) = section {
            check_section_name(errs, &format!("spec.parentRefs[{i}].sectionName"), s);
        }
    }
    if rules > 16 {
        errs.push(err("spec.rules", "at most 16 rules"));
    }
}

/// A rule's name (valid, unique within the route) and its number of matches (at most 64).
fn check_rule<'a>(
    errs: &mut Vec<FieldError>,
    field: &str,
    name: Option<&'a str>,
    matches: usize,
    names: &mut HashSet<&'a str>,
) {
    if let Some(n) = name {
        check_section_name(errs, &format!("{field}.name"), n);
        if !names.insert(n) {
            errs.push(err(
                format!("{field}.name"),
                "rule name must be unique within the route",
            ));
        }
    }
    if matches > 64 {
        errs.push(err(format!("{field}.matches"), "at most 64 matches"));
    }
}

/// A backendRef's weight (0 to 1,000,000) and port (required for a Service), CEL rules shared
/// by every route kind.
fn check_backend_ref(
    errs: &mut Vec<FieldError>,
    field: &str,
    weight: Option<i32>,
    group: Option<&str>,
    kind: Option<&str>,
    port: Option<i32>,
) {
    if let Some(w) = weight
        && !(0..=1_000_000).contains(&w)
    {
        errs.push(err(
            format!("{field}.weight"),
            format!("{w} is out of range 0-1000000"),
        ));
    }
    let is_service = group.unwrap_or("").is_empty() && kind.unwrap_or("Service") == "Service";
    match port {
        Some(p) => check_port(errs, &format!("{field}.port"), p),
        None if is_service => errs.push(err(
            format!("{field}.port"),
            "port is required when kind is Service",
        )),
        None => {}
    }
}

/// A header match's name: a valid HTTP token, unique (case-insensitive) within the match.
fn check_header_match_name(
    errs: &mut Vec<FieldError>,
    field: &str,
    name: &str,
    seen: &mut HashSet<String>,
) {
    if !HEADER_NAME.is_match(name) {
        errs.push(err(
            format!("{field}.name"),
            format!("{name:?} is not a valid header name"),
        ));
    }
    if !seen.insert(name.to_ascii_lowercase()) {
        errs.push(err(
            format!("{field}.name"),
            "header match names must be unique (case-insensitive)",
        ));
    }
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// CEL rules on `HTTPPathMatch` and path modifiers.
fn check_abs_path(errs: &mut Vec<FieldError>, field: &str, v: &str) {
    let reason = if !v.starts_with('/') {
        "must be an absolute path and start with '/'"
    } else if v.contains("//") {
        "must not contain '//'"
    } else if v.contains("/./") || v.ends_with("/.") {
        "must not contain '/./' or end with '/.'"
    } else if v.contains("/../") || v.ends_with("/..") {
        "must not contain '/../' or end with '/..'"
    } else if v.contains("%2f") || v.contains("%2F") {
        "must not contain '%2f' or '%2F'"
    } else if v.contains('#') {
        "must not contain '#'"
    } else if v.len() > 1024 {
        "must be at most 1024 characters"
    } else {
        return;
    };
    errs.push(err(field, format!("{v:?} {reason}")));
}

fn validate_filters(
    errs: &mut Vec<FieldError>,
    field: &str,
    filters: &[HttpRouteRulesFilters],
    has_prefix_match: bool,
) {
    use HttpRouteRulesFiltersType as T;
    let count = |t: T| filters.iter().filter(|f| f.r#type == t).count();
    if count(T::RequestRedirect) > 0 && count(T::UrlRewrite) > 0 {
        errs.push(err(
            field,
            "may specify either a RequestRedirect or a URLRewrite filter, not both",
        ));
    }
    for t in [
        T::RequestHeaderModifier,
        T::ResponseHeaderModifier,
        T::RequestRedirect,
        T::UrlRewrite,
    ] {
        if count(t.clone()) > 1 {
            errs.push(err(field, format!("{t:?} filter cannot be repeated")));
        }
    }
    for (i, f) in filters.iter().enumerate() {
        let ff = format!("{field}[{i}]");
        let present = [
            (
                T::RequestHeaderModifier,
                f.request_header_modifier.is_some(),
                "requestHeaderModifier",
            ),
            (
                T::ResponseHeaderModifier,
                f.response_header_modifier.is_some(),
                "responseHeaderModifier",
            ),
            (
                T::RequestMirror,
                f.request_mirror.is_some(),
                "requestMirror",
            ),
            (
                T::RequestRedirect,
                f.request_redirect.is_some(),
                "requestRedirect",
            ),
            (T::UrlRewrite, f.url_rewrite.is_some(), "urlRewrite"),
            (T::ExtensionRef, f.extension_ref.is_some(), "extensionRef"),
        ];
        for (t, is_set, name) in present {
            if (t == f.r#type) != is_set {
                let reason = if is_set {
                    format!("{name} must be nil if the filter type is not {t:?}")
                } else {
                    format!("{name} must be specified for the {t:?} filter type")
                };
                errs.push(err(format!("{ff}.{name}"), reason));
            }
        }
        if let Some(m) = &f.request_header_modifier {
            check_header_mod(
                errs,
                &format!("{ff}.requestHeaderModifier"),
                m.set.iter().flatten().map(|h| h.name.as_str()),
                m.add.iter().flatten().map(|h| h.name.as_str()),
                m.remove.iter().flatten().map(String::as_str),
            );
        }
        if let Some(m) = &f.response_header_modifier {
            check_header_mod(
                errs,
                &format!("{ff}.responseHeaderModifier"),
                m.set.iter().flatten().map(|h| h.name.as_str()),
                m.add.iter().flatten().map(|h| h.name.as_str()),
                m.remove.iter().flatten().map(String::as_str),
            );
        }
        if let Some(r) = &f.request_redirect {
            let rf = format!("{ff}.requestRedirect");
            if let Some(h) = &r.hostname {
                check_hostname(errs, &format!("{rf}.hostname"), h);
            }
            if let Some(p) = r.port {
                check_port(errs, &format!("{rf}.port"), p);
            }
            if let Some(c) = r.status_code
                && ![301, 302, 303, 307, 308].contains(&c)
            {
                errs.push(err(
                    format!("{rf}.statusCode"),
                    format!("{c} is not one of 301, 302, 303, 307, 308"),
                ));
            }
            if let Some(p) = &r.path {
                use gateway_api::experimental::httproutes::HttpRouteRulesFiltersRequestRedirectPathType as P;
                check_path_modifier(
                    errs,
                    &format!("{rf}.path"),
                    matches!(p.r#type, P::ReplacePrefixMatch),
                    p.replace_full_path.as_deref(),
                    p.replace_prefix_match.as_deref(),
                    has_prefix_match,
                );
            }
        }
        if let Some(c) = &f.cors {
            for (oi, o) in c.allow_origins.iter().flatten().enumerate() {
                if !CORS_ORIGIN.is_match(o) {
                    errs.push(err(
                        format!("{ff}.cors.allowOrigins[{oi}]"),
                        format!("{o:?} is not an origin: use scheme://host[:port], a scheme://*.host pattern, or *"),
                    ));
                }
            }
            if let Some(m) = c.max_age
                && m < 1
            {
                errs.push(err(
                    format!("{ff}.cors.maxAge"),
                    format!("{m} must be at least 1"),
                ));
            }
        }
        if let Some(r) = &f.url_rewrite {
            let rf = format!("{ff}.urlRewrite");
            if let Some(h) = &r.hostname {
                check_hostname(errs, &format!("{rf}.hostname"), h);
            }
            if let Some(p) = &r.path {
                use gateway_api::experimental::httproutes::HttpRouteRulesFiltersUrlRewritePathType as P;
                check_path_modifier(
                    errs,
                    &format!("{rf}.path"),
                    matches!(p.r#type, P::ReplacePrefixMatch),
                    p.replace_full_path.as_deref(),
                    p.replace_prefix_match.as_deref(),
                    has_prefix_match,
                );
            }
        }
    }
}

fn check_path_modifier(
    errs: &mut Vec<FieldError>,
    field: &str,
    prefix: bool,
    full: Option<&str>,
    pre: Option<&str>,
    has_prefix_match: bool,
) {
    let (want, other, wname, oname) = if prefix {
        (pre, full, "replacePrefixMatch", "replaceFullPath")
    } else {
        (full, pre, "replaceFullPath", "replacePrefixMatch")
    };
    if other.is_some() {
        errs.push(err(
            format!("{field}.{oname}"),
            format!(
                "{oname} must not be set when type is {}",
                if prefix {
                    "ReplacePrefixMatch"
                } else {
                    "ReplaceFullPath"
                }
            ),
        ));
    }
    match want {
        None => errs.push(err(
            format!("{field}.{wname}"),
            format!(
                "{wname} must be set when type is {}",
                if prefix {
                    "ReplacePrefixMatch"
                } else {
                    "ReplaceFullPath"
                }
            ),
        )),
        Some(v) => check_abs_path(errs, &format!("{field}.{wname}"), v),
    }
    if prefix && !has_prefix_match {
        errs.push(err(
            field,
            "ReplacePrefixMatch requires a PathPrefix match on the rule",
        ));
    }
}

fn check_header_mod<'a>(
    errs: &mut Vec<FieldError>,
    field: &str,
    set: impl Iterator<Item = &'a str>,
    add: impl Iterator<Item = &'a str>,
    remove: impl Iterator<Item = &'a str>,
) {
    for (list, names) in [
        ("set", set.collect::<Vec<_>>()),
        ("add", add.collect()),
        ("remove", remove.collect()),
    ] {
        let mut seen = HashSet::new();
        for (i, n) in names.iter().enumerate() {
            if !HEADER_NAME.is_match(n) {
                errs.push(err(
                    format!("{field}.{list}[{i}]"),
                    format!("{n:?} is not a valid header name"),
                ));
            }
            if !seen.insert(n.to_ascii_lowercase()) {
                errs.push(err(
                    format!("{field}.{list}[{i}]"),
                    format!("header {n:?} appears twice in {list}"),
                ));
            }
        }
    }
}

fn validate_tls_route(r: &gateway_api::tlsroutes::TlsRoute, errs: &mut Vec<FieldError>) {
    if r.spec.hostnames.is_empty() || r.spec.hostnames.len() > 16 {
        errs.push(err(
            "spec.hostnames",
            "a TLSRoute needs between 1 and 16 hostnames",
        ));
    }
    for (i, h) in r.spec.hostnames.iter().enumerate() {
        check_hostname(errs, &format!("spec.hostnames[{i}]"), h);
    }
    if r.spec.rules.is_empty() {
        errs.push(err("spec.rules", "a TLSRoute needs one rule"));
    }
    for (ri, rule) in r.spec.rules.iter().enumerate() {
        if rule.backend_refs.is_empty() {
            errs.push(err(
                format!("spec.rules[{ri}].backendRefs"),
                "at least one backendRef is required",
            ));
        }
        for (bi, b) in rule.backend_refs.iter().enumerate() {
            let bf = format!("spec.rules[{ri}].backendRefs[{bi}]");
            if let Some(w) = b.weight
                && !(0..=1_000_000).contains(&w)
            {
                errs.push(err(
                    format!("{bf}.weight"),
                    format!("{w} is out of range 0-1000000"),
                ));
            }
            match b.port {
                Some(p) => check_port(errs, &format!("{bf}.port"), p),
                None if b.kind.as_deref().unwrap_or("Service") == "Service" => errs.push(err(
                    format!("{bf}.port"),
                    "port is required when kind is Service",
                )),
                None => {}
            }
        }
    }
}
