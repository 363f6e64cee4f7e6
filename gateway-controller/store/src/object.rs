//! The typed objects a Source can hold, and their keys.

use std::fmt;
use std::sync::Arc;

use gateway_api::backendtlspolicies::BackendTlsPolicy as BackendTLSPolicy;
use gateway_api::experimental::httproutes::HttpRoute as HTTPRoute;
use gateway_api::experimental::tcproutes::TcpRoute as TCPRoute;
use gateway_api::experimental::udproutes::UdpRoute as UDPRoute;
use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::Gateway;
use gateway_api::grpcroutes::GrpcRoute as GRPCRoute;
use gateway_api::listenersets::ListenerSet;
use gateway_api::referencegrants::ReferenceGrant;
use gateway_api::tlsroutes::TlsRoute as TLSRoute;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Every kind the store understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Kind {
    GatewayClass,
    Gateway,
    ListenerSet,
    HTTPRoute,
    GRPCRoute,
    TLSRoute,
    TCPRoute,
    UDPRoute,
    ReferenceGrant,
    BackendTLSPolicy,
    Service,
    EndpointSlice,
    Secret,
    ConfigMap,
    Namespace,
}

impl Kind {
    /// The kind for an `apiVersion` and `kind` pair, if the store knows it.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let k = match (group, kind) {
            (GATEWAY_GROUP, "GatewayClass") => Kind::GatewayClass,
            (GATEWAY_GROUP, "Gateway") => Kind::Gateway,
            (GATEWAY_GROUP, "ListenerSet") => Kind::ListenerSet,
            (GATEWAY_GROUP, "HTTPRoute") => Kind::HTTPRoute,
            (GATEWAY_GROUP, "GRPCRoute") => Kind::GRPCRoute,
            (GATEWAY_GROUP, "TLSRoute") => Kind::TLSRoute,
            (GATEWAY_GROUP, "TCPRoute") => Kind::TCPRoute,
            (GATEWAY_GROUP, "UDPRoute") => Kind::UDPRoute,
            (GATEWAY_GROUP, "ReferenceGrant") => Kind::ReferenceGrant,
            (GATEWAY_GROUP, "BackendTLSPolicy") => Kind::BackendTLSPolicy,
            ("", "Service") => Kind::Service,
            ("discovery.k8s.io", "EndpointSlice") => Kind::EndpointSlice,
            ("", "Secret") => Kind::Secret,
            ("", "ConfigMap") => Kind::ConfigMap,
            ("", "Namespace") => Kind::Namespace,
            _ => return None,
        };
        Some(k)
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::GatewayClass | Kind::Namespace)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::ListenerSet => "ListenerSet",
            Kind::HTTPRoute => "HTTPRoute",
            Kind::GRPCRoute => "GRPCRoute",
            Kind::TLSRoute => "TLSRoute",
            Kind::TCPRoute => "TCPRoute",
            Kind::UDPRoute => "UDPRoute",
            Kind::ReferenceGrant => "ReferenceGrant",
            Kind::BackendTLSPolicy => "BackendTLSPolicy",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Secret => "Secret",
            Kind::ConfigMap => "ConfigMap",
            Kind::Namespace => "Namespace",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Namespace and name. The namespace is empty for cluster-scoped kinds. Serializes as
/// `namespace/name` (or `name`), so it can key JSON maps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsName {
    pub namespace: String,
    pub name: String,
}

impl NsName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        NsName {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn of(meta: &ObjectMeta) -> Self {
        NsName::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

impl serde::Serialize for NsName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for NsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// Kind, namespace and name: one object's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectKey {
    pub kind: Kind,
    pub id: NsName,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// One decoded object. Shared (`Arc`): the manifest cache, every snapshot built from it and
/// translate all hold the same allocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    GatewayClass(Arc<GatewayClass>),
    Gateway(Arc<Gateway>),
    ListenerSet(Arc<ListenerSet>),
    HTTPRoute(Arc<HTTPRoute>),
    GRPCRoute(Arc<GRPCRoute>),
    TLSRoute(Arc<TLSRoute>),
    TCPRoute(Arc<TCPRoute>),
    UDPRoute(Arc<UDPRoute>),
    ReferenceGrant(Arc<ReferenceGrant>),
    BackendTLSPolicy(Arc<BackendTLSPolicy>),
    Service(Arc<Service>),
    EndpointSlice(Arc<EndpointSlice>),
    Secret(Arc<Secret>),
    ConfigMap(Arc<ConfigMap>),
    Namespace(Arc<Namespace>),
}

macro_rules! each_object {
    ($obj:expr, $o:ident => $body:expr) => {
        match $obj {
            Object::GatewayClass($o) => $body,
            Object::Gateway($o) => $body,
            Object::ListenerSet($o) => $body,
            Object::HTTPRoute($o) => $body,
            Object::GRPCRoute($o) => $body,
            Object::TLSRoute($o) => $body,
            Object::TCPRoute($o) => $body,
            Object::UDPRoute($o) => $body,
            Object::ReferenceGrant($o) => $body,
            Object::BackendTLSPolicy($o) => $body,
            Object::Service($o) => $body,
            Object::EndpointSlice($o) => $body,
            Object::Secret($o) => $body,
            Object::ConfigMap($o) => $body,
            Object::Namespace($o) => $body,
        }
    };
}

impl Object {
    /// Decodes a JSON value of a known kind. Errors carry the field path.
    pub fn decode(kind: Kind, value: serde_json::Value) -> Result<Object, DecodeError> {
        fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, DecodeError> {
            serde_path_to_error::deserialize(v).map_err(|e| DecodeError {
                path: e.path().to_string(),
                reason: e.inner().to_string(),
            })
        }
        fn de_arc<T: serde::de::DeserializeOwned>(
            v: serde_json::Value,
        ) -> Result<Arc<T>, DecodeError> {
            de(v).map(Arc::new)
        }
        Ok(match kind {
            Kind::GatewayClass => Object::GatewayClass(de_arc(value)?),
            Kind::Gateway => Object::Gateway(de_arc(value)?),
            Kind::ListenerSet => Object::ListenerSet(de_arc(value)?),
            Kind::HTTPRoute => Object::HTTPRoute(de_arc(value)?),
            Kind::GRPCRoute => Object::GRPCRoute(de_arc(value)?),
            Kind::TLSRoute => Object::TLSRoute(de_arc(value)?),
            Kind::TCPRoute => Object::TCPRoute(de_arc(value)?),
            Kind::UDPRoute => Object::UDPRoute(de_arc(value)?),
            Kind::ReferenceGrant => Object::ReferenceGrant(de_arc(value)?),
            Kind::BackendTLSPolicy => Object::BackendTLSPolicy(de_arc(value)?),
            Kind::Service => Object::Service(de_arc(value)?),
            Kind::EndpointSlice => Object::EndpointSlice(de_arc(value)?),
            Kind::Secret => Object::Secret(de_arc(value)?),
            Kind::ConfigMap => Object::ConfigMap(de_arc(value)?),
            Kind::Namespace => Object::Namespace(de_arc(value)?),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Object::GatewayClass(_) => Kind::GatewayClass,
            Object::Gateway(_) => Kind::Gateway,
            Object::ListenerSet(_) => Kind::ListenerSet,
            Object::HTTPRoute(_) => Kind::HTTPRoute,
            Object::GRPCRoute(_) => Kind::GRPCRoute,
            Object::TLSRoute(_) => Kind::TLSRoute,
            Object::TCPRoute(_) => Kind::TCPRoute,
            Object::UDPRoute(_) => Kind::UDPRoute,
            Object::ReferenceGrant(_) => Kind::ReferenceGrant,
            Object::BackendTLSPolicy(_) => Kind::BackendTLSPolicy,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Secret(_) => Kind::Secret,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Namespace(_) => Kind::Namespace,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        each_object!(self, o => &o.metadata)
    }

    /// The metadata, to change: copies the object first if it is shared.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        each_object!(self, o => &mut Arc::make_mut(o).metadata)
    }

    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind(),
            id: NsName::of(self.meta()),
        }
    }

    /// The part of the object whose change bumps `metadata.generation`: everything but
    /// metadata and status, as the API server does for custom resources.
    pub fn spec_value(&self) -> serde_json::Value {
        let mut v = each_object!(self, o => serde_json::to_value(&**o).unwrap_or_default());
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    }
}

/// A value that does not fit its kind's schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct DecodeError {
    pub path: String,
    pub reason: String,
}
