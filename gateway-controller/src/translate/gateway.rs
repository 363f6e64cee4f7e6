//! GatewayClasses and Gateways: which are ours, their listeners' validity, conflicts,
//! addresses, and the conditions the spec asks for.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use gateway_api::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom as From,
};
use weir_store::{NsName, Snapshot};

use gateway_api::gateways::GatewayListenersTlsMode as TlsMode;
use weir_proxy::config::{CertificatePem, ClientValidation, HostMode, ListenerProtocol};

use super::backend::reference_granted;
use super::{LabelSelector, TranslateContext};
use crate::features::supported_features;
use crate::status::{Condition, FeatureName, GROUP, GatewayClassStatus, RouteGroupKind};

/// A `LabelSelector` from an optional generated selector type (`matchLabels`,
/// `matchExpressions`); the Gateway API has one per field that takes a selector.
macro_rules! label_selector {
    ($sel:expr) => {{
        let sel = $sel;
        LabelSelector {
            match_labels: sel.and_then(|s| s.match_labels.clone()).unwrap_or_default(),
            match_expressions: sel
                .and_then(|s| s.match_expressions.as_ref())
                .map(|es| {
                    es.iter()
                        .map(|e| {
                            (
                                e.key.clone(),
                                e.operator.clone(),
                                e.values.clone().unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }};
}

/// Route kinds each listener protocol can carry, in the order reported.
fn kinds_for_protocol(protocol: &str) -> &'static [&'static str] {
    match protocol {
        "HTTP" | "HTTPS" => &["HTTPRoute", "GRPCRoute"],
        "TLS" => &["TLSRoute"],
        "TCP" => &["TCPRoute"],
        "UDP" => &["UDPRoute"],
        _ => &[],
    }
}

/// Certificates expiring sooner than this get a warning in the listener's condition message.
const EXPIRY_WARNING_SECS: i64 = 14 * 86_400;

/// Which namespaces may attach routes to a listener.
pub(crate) enum AllowedNamespaces {
    Same,
    All,
    Selector(LabelSelector),
}

/// A listener after validation: one of the Gateway's own, or one a ListenerSet adds.
pub(crate) struct ListenerModel<'a> {
    pub spec: Cow<'a, GatewayListeners>,
    /// `None` for the Gateway's own listeners, else the index into `listener_sets`.
    pub owner: Option<usize>,
    /// The namespace of the Gateway or ListenerSet that declares the listener
    /// (`allowedRoutes.namespaces.from: Same` means this one).
    pub owner_ns: String,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub namespaces: AllowedNamespaces,
    /// Accepted, Programmed, ResolvedRefs and Conflicted, before routes are counted.
    pub conditions: Vec<Condition>,
    /// The listener will be served: accepted, not conflicted, refs resolved.
    pub serving: bool,
    pub protocol: ListenerProtocol,
    pub host_mode: HostMode,
    /// HTTPS: the certificates that resolved, in certificateRefs order.
    pub certificates: Vec<CertificatePem>,
    pub attached_routes: i32,
}

/// A Gateway of ours after validation.
pub(crate) struct GatewayModel<'a> {
    pub id: NsName,
    pub generation: i64,
    pub addresses: Vec<IpAddr>,
    /// Why the Gateway as a whole is not accepted (reason, message).
    pub rejected: Option<(&'static str, String)>,
    pub address_problem: Option<(&'static str, String)>,
    pub listeners: Vec<ListenerModel<'a>>,
    /// Frontend client-certificate validation per port (Gateway `spec.tls.frontend`).
    pub client_validation: BTreeMap<i32, ClientValidation>,
    /// `spec.tls.backend.clientCertificateRef`, resolved.
    pub backend_client_cert: Option<CertificatePem>,
    /// The Gateway-level ResolvedRefs condition, when the Gateway has references of its own.
    pub resolved_refs: Option<Condition>,
    /// ListenerSets whose parentRef is this Gateway, allowed or not.
    pub listener_sets: Vec<ListenerSetModel>,
}

/// A ListenerSet attached (or refused) by a Gateway of ours.
pub(crate) struct ListenerSetModel {
    pub id: NsName,
    /// `spec.allowedListeners` of the parent admits it; otherwise it has no listeners.
    pub allowed: bool,
    /// Accepted and Programmed.
    pub conditions: Vec<Condition>,
}

pub(crate) fn translate_gateway_classes(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
) -> (BTreeMap<String, GatewayClassStatus>, BTreeMap<String, bool>) {
    let mut statuses = BTreeMap::new();
    let mut accepted = BTreeMap::new();
    for (id, gc) in &snapshot.gateway_classes {
        if gc.spec.controller_name != ctx.controller_name {
            continue;
        }
        let generation = gc.metadata.generation.unwrap_or(0);
        let cond = match &gc.spec.parameters_ref {
            Some(p) => Condition::new(
                "Accepted",
                false,
                "InvalidParameters",
                format!(
                    "parametersRef {}/{} {}: weir reads no GatewayClass parameters of this kind",
                    p.group, p.kind, p.name
                ),
                generation,
            ),
            None => Condition::new("Accepted", true, "Accepted", "Accepted by weir", generation),
        };
        accepted.insert(id.name.clone(), cond.is_true());
        let supported_features = supported_features()
            .iter()
            .map(|f| FeatureName { name: (*f).into() })
            .collect();
        statuses.insert(
            id.name.clone(),
            GatewayClassStatus {
                conditions: vec![cond],
                supported_features,
            },
        );
    }
    (statuses, accepted)
}

pub(crate) fn model_gateways<'a>(
    snapshot: &'a Snapshot,
    ctx: &TranslateContext,
    classes: &BTreeMap<String, bool>,
) -> Vec<GatewayModel<'a>> {
    let mut out = Vec::new();
    for (id, gw) in &snapshot.gateways {
        let Some(class_accepted) = classes.get(&gw.spec.gateway_class_name) else {
            continue; // not ours
        };
        let generation = gw.metadata.generation.unwrap_or(0);
        let mut rejected = None;
        if !class_accepted {
            rejected = Some((
                "Invalid",
                format!(
                    "GatewayClass {} is not accepted",
                    gw.spec.gateway_class_name
                ),
            ));
        }
        if let Some(p) = gw
            .spec
            .infrastructure
            .as_ref()
            .and_then(|i| i.parameters_ref.as_ref())
        {
            rejected = Some((
                "InvalidParameters",
                format!(
                    "infrastructure.parametersRef {}/{} {}: weir reads no parameters of this kind",
                    p.group, p.kind, p.name
                ),
            ));
        }
        let (addresses, address_problem) = gateway_addresses(gw, id, ctx);
        if let Some(("UnsupportedAddress", msg)) = &address_problem {
            rejected.get_or_insert(("UnsupportedAddress", msg.clone()));
        }
        let mut listeners = model_listeners(snapshot, ctx, &id.namespace, gw, generation);
        let listener_sets = merge_listener_sets(snapshot, ctx, id, gw, &mut listeners);
        let client_validation =
            frontend_validation(snapshot, &id.namespace, gw, &mut listeners, generation);
        let (backend_client_cert, resolved_refs) =
            backend_client_certificate(snapshot, ctx, &id.namespace, gw, generation);
        out.push(GatewayModel {
            id: id.clone(),
            generation,
            addresses,
            rejected,
            address_problem,
            listeners,
            client_validation,
            backend_client_cert,
            resolved_refs,
            listener_sets,
        });
    }
    out
}

fn gateway_addresses(
    gw: &Gateway,
    id: &NsName,
    ctx: &TranslateContext,
) -> (Vec<IpAddr>, Option<(&'static str, String)>) {
    let mut ips = Vec::new();
    for a in gw.spec.addresses.iter().flatten() {
        let ty = a.r#type.as_deref().unwrap_or("IPAddress");
        match (ty, a.value.as_deref()) {
            ("IPAddress", Some(v)) if !v.is_empty() => match v.parse() {
                Ok(ip) => ips.push(ip),
                Err(_) => {
                    return (
                        vec![],
                        Some(("UnsupportedAddress", format!("{v:?} is not an IP address"))),
                    );
                }
            },
            // An address with a type and no value asks the implementation to pick one.
            ("IPAddress", _) => {}
            (other, _) => {
                return (
                    vec![],
                    Some((
                        "UnsupportedAddress",
                        format!("address type {other} is not supported; use IPAddress"),
                    )),
                );
            }
        }
    }
    if ips.is_empty() {
        match ctx.assigned_addresses.get(id) {
            Some(ip) => ips.push(*ip),
            None => {
                return (
                    vec![],
                    Some((
                        "AddressNotAssigned",
                        "the address pool has no free address".into(),
                    )),
                );
            }
        }
    }
    ips.sort();
    ips.dedup();
    (ips, None)
}

fn model_listeners<'a>(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    gw_ns: &str,
    gw: &'a Gateway,
    generation: i64,
) -> Vec<ListenerModel<'a>> {
    let listeners = &gw.spec.listeners;
    // Protocol conflicts: listeners sharing a port must use compatible protocols. The spec
    // forbids picking a winner: every listener on a conflicted port is rejected.
    let mut protocols_by_port: HashMap<i32, Vec<&str>> = HashMap::new();
    for l in listeners {
        protocols_by_port
            .entry(l.port)
            .or_default()
            .push(&l.protocol);
    }
    listeners
        .iter()
        .map(|l| {
            let others: Vec<&str> = protocols_by_port[&l.port]
                .iter()
                .copied()
                .filter(|p| !compatible(p, &l.protocol))
                .collect();
            let conflict = (!others.is_empty()).then(|| Conflict::Shared(format!(
                "port {} is shared with listeners of protocol {}, which cannot share a port with {}",
                l.port,
                others.join(", "),
                l.protocol
            )));
            let owner = ListenerOwner {
                kind: "Gateway",
                namespace: gw_ns,
                index: None,
            };
            model_listener(snapshot, ctx, &owner, Cow::Borrowed(l), conflict, generation)
        })
        .collect()
}

/// Who declares a listener: the kind and namespace ReferenceGrants are checked from.
struct ListenerOwner<'s> {
    kind: &'static str,
    namespace: &'s str,
    index: Option<usize>,
}

/// Why a listener cannot have its port.
enum Conflict {
    /// Gateway listeners on one port with incompatible protocols: none of them wins.
    Shared(String),
    /// A ListenerSet listener that lost to a listener of higher precedence (reason, message).
    Lost(&'static str, String),
}

/// Validates one listener: protocol, route kinds, certificates, and the conflict found for it.
fn model_listener<'a>(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    owner: &ListenerOwner<'_>,
    l: Cow<'a, GatewayListeners>,
    conflict: Option<Conflict>,
    generation: i64,
) -> ListenerModel<'a> {
    let mut conds = Vec::new();
    let supported = kinds_for_protocol(&l.protocol);
    let (supported_kinds, kinds_ok, kinds_msg) = allowed_kinds(&l, supported);
    let protocol_ok = !supported.is_empty();
    let accepted = if !protocol_ok {
        Condition::new(
            "Accepted",
            false,
            "UnsupportedProtocol",
            format!(
                "protocol {} is not supported by weir yet; supported: HTTP, HTTPS, TLS, TCP, UDP",
                l.protocol
            ),
            generation,
        )
    } else if let Some(Conflict::Shared(msg)) = &conflict {
        // The spec's Accepted reasons have no ProtocolConflict; PortUnavailable ("the
        // listener requests a port that cannot be used on the Gateway") is the closest.
        // Conflicted=True/ProtocolConflict below carries the precise cause.
        Condition::new(
            "Accepted",
            false,
            "PortUnavailable",
            msg.clone(),
            generation,
        )
    } else if let Some(Conflict::Lost(reason, msg)) = &conflict {
        Condition::new("Accepted", false, reason, msg.clone(), generation)
    } else {
        Condition::new(
            "Accepted",
            true,
            "Accepted",
            "Listener is accepted",
            generation,
        )
    };
    let passthrough = matches!(
        l.tls.as_ref().and_then(|t| t.mode.clone()),
        Some(TlsMode::Passthrough)
    );
    let (protocol, host_mode, certs) = match (l.protocol.as_str(), passthrough) {
        ("HTTPS", _) => (
            ListenerProtocol::Https,
            HostMode::Http,
            Some(resolve_certificates(snapshot, ctx, owner, &l)),
        ),
        ("TLS", true) => (ListenerProtocol::Https, HostMode::TlsPassthrough, None),
        ("TLS", false) => (
            ListenerProtocol::Https,
            HostMode::TlsTerminate,
            Some(resolve_certificates(snapshot, ctx, owner, &l)),
        ),
        ("TCP", _) => (ListenerProtocol::Tcp, HostMode::Tcp, None),
        ("UDP", _) => (ListenerProtocol::Udp, HostMode::Udp, None),
        _ => (ListenerProtocol::Http, HostMode::Http, None),
    };
    let resolved = match &certs {
        Some(c) if c.problem.is_some() => {
            let (reason, msg) = c.problem.clone().unwrap_or_default();
            Condition::new("ResolvedRefs", false, reason, msg, generation)
        }
        _ if !kinds_ok => Condition::new(
            "ResolvedRefs",
            false,
            "InvalidRouteKinds",
            kinds_msg,
            generation,
        ),
        _ => Condition::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references are resolved",
            generation,
        ),
    };
    let has_certs = certs.as_ref().is_none_or(|c| !c.loaded.is_empty());
    let conflicted = match &conflict {
        Some(Conflict::Shared(msg)) => Condition::new(
            "Conflicted",
            true,
            "ProtocolConflict",
            msg.clone(),
            generation,
        ),
        Some(Conflict::Lost(reason, msg)) => {
            Condition::new("Conflicted", true, reason, msg.clone(), generation)
        }
        None => Condition::new(
            "Conflicted",
            false,
            "NoConflicts",
            "No conflicts",
            generation,
        ),
    };
    let serving =
        accepted.is_true() && conflict.is_none() && !supported_kinds.is_empty() && has_certs;
    let programmed = if serving {
        let warning = certs
            .as_ref()
            .map(|c| c.warnings.join("; "))
            .filter(|w| !w.is_empty());
        let msg = match warning {
            Some(w) => format!("Listener is programmed; warning: {w}"),
            None => "Listener is programmed".into(),
        };
        Condition::new("Programmed", true, "Programmed", msg, generation)
    } else if let Some(Conflict::Lost(reason, msg)) = &conflict {
        Condition::new("Programmed", false, reason, msg.clone(), generation)
    } else if !has_certs {
        Condition::new(
            "Programmed",
            false,
            "Invalid",
            "no valid certificate: see ResolvedRefs",
            generation,
        )
    } else {
        Condition::new(
            "Programmed",
            false,
            "Invalid",
            "Listener is not served: see its other conditions",
            generation,
        )
    };
    conds.extend([accepted, programmed, resolved, conflicted]);
    let namespaces = allowed_namespaces(&l);
    ListenerModel {
        spec: l,
        owner: owner.index,
        owner_ns: owner.namespace.to_owned(),
        supported_kinds: if protocol_ok { supported_kinds } else { vec![] },
        namespaces,
        conditions: conds,
        serving,
        protocol,
        host_mode,
        certificates: certs.map(|c| c.loaded).unwrap_or_default(),
        attached_routes: 0,
    }
}

/// ListenerSets whose parentRef is `gw`: each is allowed or not by `spec.allowedListeners`;
/// the allowed ones, oldest first (then by "namespace/name"), add their listeners after the
/// Gateway's. A listener that collides with an earlier one (same port and an incompatible
/// protocol, or same port, protocol and hostname) loses: the Gateway's own always win.
fn merge_listener_sets<'a>(
    snapshot: &'a Snapshot,
    ctx: &TranslateContext,
    gw_id: &NsName,
    gw: &Gateway,
    listeners: &mut Vec<ListenerModel<'a>>,
) -> Vec<ListenerSetModel> {
    use gateway_api::gateways::GatewayAllowedListenersNamespacesFrom as AllowFrom;
    let allowed_from = gw
        .spec
        .allowed_listeners
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    let mut sets: Vec<(&NsName, &gateway_api::listenersets::ListenerSet)> = snapshot
        .listener_sets
        .iter()
        .filter(|(id, ls)| {
            let p = &ls.spec.parent_ref;
            p.group.as_deref().unwrap_or(GROUP) == GROUP
                && p.kind.as_deref().unwrap_or("Gateway") == "Gateway"
                && p.name == gw_id.name
                && p.namespace.as_deref().unwrap_or(&id.namespace) == gw_id.namespace
        })
        .map(|(id, ls)| (id, ls.as_ref()))
        .collect();
    sets.sort_by_key(|(id, ls)| {
        (
            ls.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_second()),
            id.to_string(),
        )
    });
    let mut out = Vec::new();
    for (id, ls) in sets {
        let generation = ls.metadata.generation.unwrap_or(0);
        let allowed = match allowed_from.and_then(|n| n.from.clone()) {
            Some(AllowFrom::All) => true,
            Some(AllowFrom::Same) => id.namespace == gw_id.namespace,
            Some(AllowFrom::Selector) => {
                label_selector!(allowed_from.and_then(|n| n.selector.as_ref()))
                    .matches(&snapshot.namespace_labels(&id.namespace))
            }
            Some(AllowFrom::None) | None => false,
        };
        let index = out.len();
        if !allowed {
            let msg = format!(
                "Gateway {gw_id} does not allow ListenerSets from namespace {} (spec.allowedListeners)",
                id.namespace
            );
            out.push(ListenerSetModel {
                id: id.clone(),
                allowed,
                conditions: vec![
                    Condition::new("Accepted", false, "NotAllowed", msg.clone(), generation),
                    Condition::new("Programmed", false, "NotAllowed", msg, generation),
                ],
            });
            continue;
        }
        let owner = ListenerOwner {
            kind: "ListenerSet",
            namespace: &id.namespace,
            index: Some(index),
        };
        let mut valid = 0;
        for entry in &ls.spec.listeners {
            // A ListenerSet listener has a Gateway listener's fields.
            let spec: GatewayListeners = match serde_json::to_value(entry)
                .and_then(serde_json::from_value)
            {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(listener_set = %id, listener = %entry.name, error = %e, "listener cannot be read");
                    continue;
                }
            };
            // A ListenerSet listener that lost its port claims nothing.
            let claims = listeners.iter().filter(|other| {
                other.owner.is_none()
                    || !other
                        .conditions
                        .iter()
                        .any(|c| c.type_ == "Conflicted" && c.is_true())
            });
            let conflict = claims.into_iter().find_map(|other| {
                if other.spec.port != spec.port {
                    return None;
                }
                let who = match other.owner {
                    None => format!("listener {} of Gateway {gw_id}", other.spec.name),
                    Some(i) => format!(
                        "listener {} of ListenerSet {}",
                        other.spec.name,
                        out_id(&out, i)
                    ),
                };
                if !compatible(&other.spec.protocol, &spec.protocol) {
                    Some(Conflict::Lost(
                        "ProtocolConflict",
                        format!(
                            "port {} is already used with protocol {} by {who}",
                            spec.port, other.spec.protocol
                        ),
                    ))
                } else if other.spec.protocol == spec.protocol
                    && other.spec.hostname == spec.hostname
                {
                    Some(Conflict::Lost(
                        "HostnameConflict",
                        format!(
                            "port {} hostname {} is already used by {who}",
                            spec.port,
                            spec.hostname.as_deref().unwrap_or("(any)")
                        ),
                    ))
                } else {
                    None
                }
            });
            let m = model_listener(
                snapshot,
                ctx,
                &owner,
                Cow::Owned(spec),
                conflict,
                generation,
            );
            let usable = m.conditions.iter().all(|c| match c.type_.as_str() {
                "Accepted" => c.is_true(),
                "Conflicted" => !c.is_true(),
                "ResolvedRefs" => c.is_true() || c.reason == "InvalidRouteKinds",
                _ => true,
            });
            valid += usize::from(usable);
            listeners.push(m);
        }
        let conditions = if valid > 0 {
            vec![
                Condition::new(
                    "Accepted",
                    true,
                    "Accepted",
                    "ListenerSet is accepted",
                    generation,
                ),
                Condition::new(
                    "Programmed",
                    true,
                    "Programmed",
                    "ListenerSet is programmed",
                    generation,
                ),
            ]
        } else {
            let msg = "no listener of the ListenerSet is valid: see the listeners' conditions";
            vec![
                Condition::new("Accepted", false, "ListenersNotValid", msg, generation),
                Condition::new("Programmed", false, "ListenersNotValid", msg, generation),
            ]
        };
        out.push(ListenerSetModel {
            id: id.clone(),
            allowed,
            conditions,
        });
    }
    out
}

fn out_id(sets: &[ListenerSetModel], i: usize) -> String {
    sets.get(i).map_or_else(String::new, |s| s.id.to_string())
}

/// Whether two listener protocols can share a port: equal ones, and HTTPS with TLS (both
/// start with a TLS ClientHello; SNI decides whether to terminate or pass through).
/// Whether two listener protocols may share a port. UDP uses another transport than every
/// other protocol, so it shares a port with any of them (DNS on TCP and UDP 53).
fn compatible(a: &str, b: &str) -> bool {
    a == b || matches!((a, b), ("HTTPS", "TLS") | ("TLS", "HTTPS")) || (a == "UDP") != (b == "UDP")
}

/// The listener's supported kinds and whether every kind it lists is valid.
fn allowed_kinds(l: &GatewayListeners, supported: &[&str]) -> (Vec<RouteGroupKind>, bool, String) {
    let rgk = |k: &str| RouteGroupKind {
        group: GROUP.into(),
        kind: k.into(),
    };
    let Some(kinds) = l.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) else {
        return (
            supported.iter().map(|k| rgk(k)).collect(),
            true,
            String::new(),
        );
    };
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for k in kinds {
        let group = k.group.as_deref().unwrap_or(GROUP);
        if group == GROUP && supported.contains(&k.kind.as_str()) {
            if !ok.iter().any(|r: &RouteGroupKind| r.kind == k.kind) {
                ok.push(rgk(&k.kind));
            }
        } else {
            bad.push(format!("{group}/{}", k.kind));
        }
    }
    let msg = format!(
        "route kinds {} are not supported on protocol {}; supported: {}",
        bad.join(", "),
        l.protocol,
        supported.join(", ")
    );
    (ok, bad.is_empty(), msg)
}

fn allowed_namespaces(l: &GatewayListeners) -> AllowedNamespaces {
    let ns = l
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match ns.and_then(|n| n.from.clone()) {
        Some(From::All) => AllowedNamespaces::All,
        Some(From::Selector) => {
            AllowedNamespaces::Selector(label_selector!(ns.and_then(|n| n.selector.as_ref())))
        }
        Some(From::Same) | None => AllowedNamespaces::Same,
    }
}

/// The outcome of resolving an HTTPS listener's certificateRefs.
struct ResolvedCertificates {
    loaded: Vec<CertificatePem>,
    /// The first problem (RefNotPermitted wins over InvalidCertificateRef), if any.
    problem: Option<(&'static str, String)>,
    warnings: Vec<String>,
}

fn resolve_certificates(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    owner: &ListenerOwner<'_>,
    l: &GatewayListeners,
) -> ResolvedCertificates {
    let gw_ns = owner.namespace;
    let owner_kind = owner.kind;
    let mut out = ResolvedCertificates {
        loaded: Vec::new(),
        problem: None,
        warnings: Vec::new(),
    };
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    let refs = l
        .tls
        .as_ref()
        .and_then(|t| t.certificate_refs.as_deref())
        .unwrap_or_default();
    if refs.is_empty() {
        problems.push((
            "InvalidCertificateRef",
            format!(
                "listener {}: an HTTPS listener needs tls.certificateRefs",
                l.name
            ),
        ));
    }
    for r in refs {
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("Secret");
        let ns = r.namespace.as_deref().unwrap_or(gw_ns);
        let id = NsName::new(ns, r.name.as_str());
        if !group.is_empty() || kind != "Secret" {
            problems.push((
                "InvalidCertificateRef",
                format!(
                    "certificateRef {id}: kind {}{kind} is not supported; use a core Secret",
                    if group.is_empty() {
                        String::new()
                    } else {
                        format!("{group}/")
                    }
                ),
            ));
            continue;
        }
        if ns != gw_ns && !reference_granted(snapshot, owner_kind, gw_ns, "", "Secret", ns, &r.name)
        {
            problems.push(("RefNotPermitted", format!("certificateRef {id}: no ReferenceGrant in namespace {ns} allows {owner_kind}s from {gw_ns} to refer to it")));
            continue;
        }
        let Some(secret) = snapshot.secrets.get(&id) else {
            problems.push((
                "InvalidCertificateRef",
                format!("certificateRef {id}: Secret not found"),
            ));
            continue;
        };
        let ty = secret.type_.as_deref().unwrap_or("Opaque");
        if ty != "kubernetes.io/tls" {
            problems.push(("InvalidCertificateRef", format!("certificateRef {id}: Secret has type {ty}; it must be kubernetes.io/tls (as cert-manager writes)")));
            continue;
        }
        let data = secret.data.clone().unwrap_or_default();
        let (Some(crt), Some(key)) = (data.get("tls.crt"), data.get("tls.key")) else {
            problems.push((
                "InvalidCertificateRef",
                format!("certificateRef {id}: Secret lacks tls.crt or tls.key"),
            ));
            continue;
        };
        match weir_tls::LoadedCertificate::from_pem(&crt.0, &key.0, ctx.now_unix) {
            Ok(c) => {
                let left = c.expires_in(ctx.now_unix);
                if left < EXPIRY_WARNING_SECS {
                    out.warnings.push(format!(
                        "certificate {id} expires in {} days",
                        left / 86_400
                    ));
                }
                out.loaded.push(CertificatePem {
                    name: id.to_string(),
                    cert_pem: String::from_utf8_lossy(&crt.0).into_owned(),
                    key_pem: String::from_utf8_lossy(&key.0).into_owned(),
                });
            }
            Err(e) => problems.push(("InvalidCertificateRef", format!("certificateRef {id}: {e}"))),
        }
    }
    let first = problems
        .iter()
        .find(|p| p.0 == "RefNotPermitted")
        .or(problems.first())
        .cloned();
    out.problem = first.map(|(reason, _)| {
        (
            reason,
            problems
                .iter()
                .map(|p| p.1.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    });
    out
}

/// One frontend validation block, whichever of `default` or `perPort` it came from.
struct ValidationSpec<'a> {
    refs: Vec<(&'a str, &'a str, &'a str, Option<&'a str>)>,
    insecure_fallback: bool,
}

/// Resolves `spec.tls.frontend` for every port that carries HTTPS listeners. A port whose CA
/// references do not resolve fails closed: its HTTPS listeners report ResolvedRefs=False and
/// are not served, rather than silently accepting clients without validation.
fn frontend_validation(
    snapshot: &Snapshot,
    gw_ns: &str,
    gw: &Gateway,
    listeners: &mut [ListenerModel<'_>],
    generation: i64,
) -> BTreeMap<i32, ClientValidation> {
    use gateway_api::gateways::{
        GatewayTlsFrontendDefaultValidationMode as DM,
        GatewayTlsFrontendPerPortTlsValidationMode as PM,
    };
    let mut out = BTreeMap::new();
    let Some(frontend) = gw.spec.tls.as_ref().and_then(|t| t.frontend.as_ref()) else {
        return out;
    };
    let default = frontend
        .default
        .validation
        .as_ref()
        .map(|v| ValidationSpec {
            refs: v
                .ca_certificate_refs
                .iter()
                .map(|r| {
                    (
                        r.group.as_str(),
                        r.kind.as_str(),
                        r.name.as_str(),
                        r.namespace.as_deref(),
                    )
                })
                .collect(),
            insecure_fallback: matches!(v.mode, Some(DM::AllowInsecureFallback)),
        });
    let ports: std::collections::BTreeSet<i32> = listeners
        .iter()
        .filter(|l| l.spec.protocol == "HTTPS")
        .map(|l| l.spec.port)
        .collect();
    for port in ports {
        let per_port = frontend.per_port.iter().flatten().find(|p| p.port == port);
        let spec = match per_port {
            Some(p) => p.tls.validation.as_ref().map(|v| ValidationSpec {
                refs: v
                    .ca_certificate_refs
                    .iter()
                    .map(|r| {
                        (
                            r.group.as_str(),
                            r.kind.as_str(),
                            r.name.as_str(),
                            r.namespace.as_deref(),
                        )
                    })
                    .collect(),
                insecure_fallback: matches!(v.mode, Some(PM::AllowInsecureFallback)),
            }),
            None => default.as_ref().map(|d| ValidationSpec {
                refs: d.refs.clone(),
                insecure_fallback: d.insecure_fallback,
            }),
        };
        let Some(spec) = spec else { continue };
        let (ca_pems, problems) = resolve_ca_refs(snapshot, gw_ns, &spec.refs);
        let https_on_port =
            |l: &&mut ListenerModel<'_>| l.spec.port == port && l.spec.protocol == "HTTPS";
        if let Some((reason, _)) = problems
            .iter()
            .find(|p| p.0 == "RefNotPermitted")
            .or(problems.first())
        {
            let msg = problems
                .iter()
                .map(|p| p.1.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            for l in listeners.iter_mut().filter(https_on_port) {
                super::set(
                    &mut l.conditions,
                    Condition::new("ResolvedRefs", false, reason, msg.clone(), generation),
                );
            }
        }
        if ca_pems.is_empty() {
            // Nothing to validate against: fail closed rather than admit every client.
            let msg =
                format!("no valid CA certificate for client certificate validation on port {port}");
            for l in listeners.iter_mut().filter(https_on_port) {
                super::set(
                    &mut l.conditions,
                    Condition::new(
                        "Accepted",
                        false,
                        "NoValidCACertificate",
                        msg.clone(),
                        generation,
                    ),
                );
                super::set(
                    &mut l.conditions,
                    Condition::new("Programmed", false, "Invalid", msg.clone(), generation),
                );
                l.serving = false;
            }
            continue;
        }
        out.insert(
            port,
            ClientValidation {
                ca_pems,
                insecure_fallback: spec.insecure_fallback,
            },
        );
    }
    out
}

/// CA bundles from ConfigMaps or Secrets (`ca.crt`), and a (reason, message) per reference that
/// does not resolve.
fn resolve_ca_refs(
    snapshot: &Snapshot,
    gw_ns: &str,
    refs: &[(&str, &str, &str, Option<&str>)],
) -> (Vec<String>, Vec<(&'static str, String)>) {
    let mut pems = Vec::new();
    let mut problems = Vec::new();
    for (group, kind, name, namespace) in refs {
        let ns = namespace.unwrap_or(gw_ns);
        let id = NsName::new(ns, *name);
        if !group.is_empty() || !matches!(*kind, "ConfigMap" | "Secret") {
            problems.push(("InvalidCACertificateKind", format!("caCertificateRef {id}: kind {kind} is not supported; use a ConfigMap (or Secret) with ca.crt")));
            continue;
        }
        if ns != gw_ns && !reference_granted(snapshot, "Gateway", gw_ns, "", kind, ns, name) {
            problems.push(("RefNotPermitted", format!("caCertificateRef {kind} {id}: no ReferenceGrant in namespace {ns} allows Gateways from {gw_ns} to refer to it")));
            continue;
        }
        let pem = match *kind {
            "ConfigMap" => snapshot
                .config_maps
                .get(&id)
                .and_then(|c| c.data.as_ref())
                .and_then(|d| d.get("ca.crt"))
                .cloned(),
            _ => snapshot
                .secrets
                .get(&id)
                .and_then(|s| s.data.as_ref())
                .and_then(|d| d.get("ca.crt"))
                .map(|b| String::from_utf8_lossy(&b.0).into_owned()),
        };
        match pem {
            None => problems.push((
                "InvalidCACertificateRef",
                format!("caCertificateRef {kind} {id}: not found, or has no ca.crt"),
            )),
            Some(pem) => match weir_tls::client_auth::root_store(&[pem.as_bytes()]) {
                Ok(_) => pems.push(pem),
                Err(e) => problems.push((
                    "InvalidCACertificateRef",
                    format!("caCertificateRef {kind} {id}: {e}"),
                )),
            },
        }
    }
    (pems, problems)
}

/// `spec.tls.backend.clientCertificateRef`: the certificate presented to TLS backends, and the
/// Gateway's ResolvedRefs condition (only when the field is set).
fn backend_client_certificate(
    snapshot: &Snapshot,
    ctx: &TranslateContext,
    gw_ns: &str,
    gw: &Gateway,
    generation: i64,
) -> (Option<CertificatePem>, Option<Condition>) {
    let Some(r) = gw
        .spec
        .tls
        .as_ref()
        .and_then(|t| t.backend.as_ref())
        .and_then(|b| b.client_certificate_ref.as_ref())
    else {
        return (None, None);
    };
    let group = r.group.as_deref().unwrap_or("");
    let kind = r.kind.as_deref().unwrap_or("Secret");
    let ns = r.namespace.as_deref().unwrap_or(gw_ns);
    let id = NsName::new(ns, r.name.as_str());
    let fail = |reason: &str, msg: String| {
        (
            None,
            Some(Condition::new(
                "ResolvedRefs",
                false,
                reason,
                msg,
                generation,
            )),
        )
    };
    if !group.is_empty() || kind != "Secret" {
        return fail(
            "InvalidClientCertificateRef",
            format!(
                "clientCertificateRef {id}: kind {kind} in group {group:?} is not supported; use a kubernetes.io/tls Secret"
            ),
        );
    }
    if ns != gw_ns && !reference_granted(snapshot, "Gateway", gw_ns, "", "Secret", ns, &r.name) {
        return fail(
            "RefNotPermitted",
            format!(
                "clientCertificateRef {id}: no ReferenceGrant in namespace {ns} allows Gateways from {gw_ns} to refer to it"
            ),
        );
    }
    let Some(secret) = snapshot.secrets.get(&id) else {
        return fail(
            "InvalidClientCertificateRef",
            format!("clientCertificateRef {id}: Secret not found"),
        );
    };
    let data = secret.data.clone().unwrap_or_default();
    let (Some(crt), Some(key)) = (data.get("tls.crt"), data.get("tls.key")) else {
        return fail(
            "InvalidClientCertificateRef",
            format!("clientCertificateRef {id}: Secret lacks tls.crt or tls.key"),
        );
    };
    if let Err(e) = weir_tls::LoadedCertificate::from_pem(&crt.0, &key.0, ctx.now_unix) {
        return fail(
            "InvalidClientCertificateRef",
            format!("clientCertificateRef {id}: {e}"),
        );
    }
    let cert = CertificatePem {
        name: id.to_string(),
        cert_pem: String::from_utf8_lossy(&crt.0).into_owned(),
        key_pem: String::from_utf8_lossy(&key.0).into_owned(),
    };
    (
        Some(cert),
        Some(Condition::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "All references are resolved",
            generation,
        )),
    )
}
