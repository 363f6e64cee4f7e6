//! The Snapshot: every object a Source holds at one moment, typed and immutable.

use std::collections::BTreeMap;
use std::sync::Arc;

use gateway_api::backendtlspolicies::BackendTlsPolicy;
use gateway_api::experimental::httproutes::HttpRoute;
use gateway_api::experimental::tcproutes::TcpRoute;
use gateway_api::experimental::udproutes::UdpRoute;
use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::Gateway;
use gateway_api::grpcroutes::GrpcRoute;
use gateway_api::listenersets::ListenerSet;
use gateway_api::referencegrants::ReferenceGrant;
use gateway_api::tlsroutes::TlsRoute;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::object::{NsName, Object};

/// Objects of one kind by namespace and name, in a stable order.
pub type Objects<T> = BTreeMap<NsName, Arc<T>>;

/// Everything a Source holds. Cheap to clone: objects are shared.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub gateway_classes: Objects<GatewayClass>,
    pub gateways: Objects<Gateway>,
    pub listener_sets: Objects<ListenerSet>,
    pub http_routes: Objects<HttpRoute>,
    pub grpc_routes: Objects<GrpcRoute>,
    pub tls_routes: Objects<TlsRoute>,
    pub tcp_routes: Objects<TcpRoute>,
    pub udp_routes: Objects<UdpRoute>,
    pub reference_grants: Objects<ReferenceGrant>,
    pub backend_tls_policies: Objects<BackendTlsPolicy>,
    pub services: Objects<Service>,
    pub endpoint_slices: Objects<EndpointSlice>,
    pub secrets: Objects<Secret>,
    pub config_maps: Objects<ConfigMap>,
    pub namespaces: Objects<Namespace>,
}

impl Snapshot {
    /// Adds or replaces an object.
    pub fn insert(&mut self, obj: Object) {
        let id = NsName::of(obj.meta());
        match obj {
            Object::GatewayClass(o) => self.gateway_classes.insert(id, o).map(drop),
            Object::Gateway(o) => self.gateways.insert(id, o).map(drop),
            Object::ListenerSet(o) => self.listener_sets.insert(id, o).map(drop),
            Object::HTTPRoute(o) => self.http_routes.insert(id, o).map(drop),
            Object::GRPCRoute(o) => self.grpc_routes.insert(id, o).map(drop),
            Object::TLSRoute(o) => self.tls_routes.insert(id, o).map(drop),
            Object::TCPRoute(o) => self.tcp_routes.insert(id, o).map(drop),
            Object::UDPRoute(o) => self.udp_routes.insert(id, o).map(drop),
            Object::ReferenceGrant(o) => self.reference_grants.insert(id, o).map(drop),
            Object::BackendTLSPolicy(o) => self.backend_tls_policies.insert(id, o).map(drop),
            Object::Service(o) => self.services.insert(id, o).map(drop),
            Object::EndpointSlice(o) => self.endpoint_slices.insert(id, o).map(drop),
            Object::Secret(o) => self.secrets.insert(id, o).map(drop),
            Object::ConfigMap(o) => self.config_maps.insert(id, o).map(drop),
            Object::Namespace(o) => self.namespaces.insert(id, o).map(drop),
        };
    }

    /// The labels of a namespace; a namespace that no manifest declares has only the
    /// `kubernetes.io/metadata.name` label, as the API server would give it.
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .get(&NsName::new("", ns))
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), ns.into());
        labels
    }

    /// The EndpointSlices of a Service, by the `kubernetes.io/service-name` label.
    pub fn endpoint_slices_for<'a>(
        &'a self,
        service: &'a NsName,
    ) -> impl Iterator<Item = &'a Arc<EndpointSlice>> + 'a {
        self.endpoint_slices
            .range(NsName::new(service.namespace.clone(), String::new())..)
            .take_while(move |(k, _)| k.namespace == service.namespace)
            .filter(move |(_, s)| {
                s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .is_some_and(|n| *n == service.name)
            })
            .map(|(_, s)| s)
    }
}
