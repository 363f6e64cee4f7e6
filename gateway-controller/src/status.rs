//! Object statuses as the Kubernetes controller writes them, and the store that keeps
//! `lastTransitionTime` stable across translations.

use std::collections::BTreeMap;

use serde::Serialize;
use weir_store::NsName;

pub const GROUP: &str = "gateway.networking.k8s.io";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: i64,
    /// Filled by `StatusStore`: `translate` is pure and has no clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    pub fn new(
        type_: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
        generation: i64,
    ) -> Self {
        Condition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: None,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Finds a condition by type.
pub fn condition<'a>(conds: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conds.iter().find(|c| c.type_ == type_)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayClassStatus {
    pub conditions: Vec<Condition>,
    pub supported_features: Vec<FeatureName>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FeatureName {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    pub addresses: Vec<GatewayAddress>,
    pub conditions: Vec<Condition>,
    pub listeners: Vec<ListenerStatus>,
    /// Allowed ListenerSets that are Accepted.
    pub attached_listener_sets: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayAddress {
    #[serde(rename = "type")]
    pub type_: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub name: String,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub attached_routes: i32,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteGroupKind {
    pub group: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteStatus {
    pub parents: Vec<RouteParentStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentRef,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

/// A parentRef as written in status: the spec's ref with group and kind defaulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub group: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
}

/// Every status `translate` computes, keyed like the objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statuses {
    pub gateway_classes: BTreeMap<String, GatewayClassStatus>,
    pub gateways: BTreeMap<NsName, GatewayStatus>,
    #[serde(rename = "httpRoutes")]
    pub http_routes: BTreeMap<NsName, RouteStatus>,
    #[serde(rename = "grpcRoutes")]
    pub grpc_routes: BTreeMap<NsName, RouteStatus>,
    #[serde(rename = "tlsRoutes")]
    pub tls_routes: BTreeMap<NsName, RouteStatus>,
    #[serde(rename = "tcpRoutes")]
    pub tcp_routes: BTreeMap<NsName, RouteStatus>,
    pub udp_routes: BTreeMap<NsName, RouteStatus>,
    #[serde(rename = "backendTLSPolicies")]
    pub backend_tls_policies: BTreeMap<NsName, PolicyStatus>,
    pub listener_sets: BTreeMap<NsName, ListenerSetStatus>,
}

/// A ListenerSet's status: Accepted and Programmed, and one entry per listener it declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ListenerSetStatus {
    pub conditions: Vec<Condition>,
    pub listeners: Vec<ListenerStatus>,
}

/// A policy's status: one entry per Gateway it affects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyStatus {
    pub ancestors: Vec<PolicyAncestorStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    pub ancestor_ref: ParentRef,
    pub controller_name: String,
    pub conditions: Vec<Condition>,
}

impl Statuses {
    /// Every condition list, for stamping transition times.
    fn conditions_mut(&mut self) -> Vec<(String, &mut Vec<Condition>)> {
        let mut out = Vec::new();
        for (k, s) in &mut self.gateway_classes {
            out.push((format!("GatewayClass/{k}"), &mut s.conditions));
        }
        for (k, s) in &mut self.listener_sets {
            let (conds, listeners) = (&mut s.conditions, &mut s.listeners);
            out.push((format!("ListenerSet/{k}"), conds));
            for l in listeners {
                out.push((
                    format!("ListenerSet/{k}/listener/{}", l.name),
                    &mut l.conditions,
                ));
            }
        }
        for (k, s) in &mut self.gateways {
            let (conds, listeners) = (&mut s.conditions, &mut s.listeners);
            out.push((format!("Gateway/{k}"), conds));
            for l in listeners {
                out.push((
                    format!("Gateway/{k}/listener/{}", l.name),
                    &mut l.conditions,
                ));
            }
        }
        let routes = self
            .http_routes
            .iter_mut()
            .map(|(k, s)| ("HTTPRoute", k, s));
        let routes = routes.chain(
            self.grpc_routes
                .iter_mut()
                .map(|(k, s)| ("GRPCRoute", k, s)),
        );
        let routes = routes.chain(self.tls_routes.iter_mut().map(|(k, s)| ("TLSRoute", k, s)));
        let routes = routes.chain(self.tcp_routes.iter_mut().map(|(k, s)| ("TCPRoute", k, s)));
        let routes = routes.chain(self.udp_routes.iter_mut().map(|(k, s)| ("UDPRoute", k, s)));
        for (k, s) in &mut self.backend_tls_policies {
            for a in &mut s.ancestors {
                out.push((
                    format!(
                        "BackendTLSPolicy/{k}/ancestor/{}/{}",
                        a.ancestor_ref.namespace.as_deref().unwrap_or(""),
                        a.ancestor_ref.name
                    ),
                    &mut a.conditions,
                ));
            }
        }
        for (kind, k, s) in routes {
            for p in &mut s.parents {
                let key = format!(
                    "{kind}/{k}/parent/{}/{}/{}/{}",
                    p.parent_ref.namespace.as_deref().unwrap_or(""),
                    p.parent_ref.name,
                    p.parent_ref.section_name.as_deref().unwrap_or(""),
                    p.parent_ref.port.unwrap_or(0)
                );
                out.push((key, &mut p.conditions));
            }
        }
        out
    }
}

/// Keeps the last published statuses and gives each condition a `lastTransitionTime` that
/// changes only when its status does, as Kubernetes conventions require.
#[derive(Default)]
pub struct StatusStore {
    times: BTreeMap<(String, String), (String, String)>,
}

impl StatusStore {
    /// Stamps transition times on `statuses`, using `now` (RFC 3339) for changed conditions.
    pub fn stamp(&mut self, statuses: &mut Statuses, now: &str) {
        let mut seen = BTreeMap::new();
        for (key, conds) in statuses.conditions_mut() {
            for c in conds.iter_mut() {
                let k = (key.clone(), c.type_.clone());
                let time = match self.times.get(&k) {
                    Some((status, time)) if *status == c.status => time.clone(),
                    _ => now.to_owned(),
                };
                c.last_transition_time = Some(time.clone());
                seen.insert(k, (c.status.clone(), time));
            }
        }
        self.times = seen;
    }
}
