//! One scenario per upstream conformance test, named by its ShortName. Each asserts what the
//! upstream Go test asserts (read from kubernetes-sigs/gateway-api v1.6.1); the assertions
//! are written here, not copied.

mod backend_tls;
mod frontend_tls;
mod gateway;
mod grpc;
mod http_core;
mod http_extended;
mod listener_set;
mod tcp;
mod tls;
mod udp;

use crate::suite::Scenario;

/// Every scenario the harness knows, in run order.
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    v.extend(gateway::scenarios());
    v.extend(http_core::scenarios());
    v.extend(http_extended::scenarios());
    v.extend(tls::scenarios());
    v.extend(backend_tls::scenarios());
    v.extend(frontend_tls::scenarios());
    v.extend(tcp::scenarios());
    v.extend(udp::scenarios());
    v.extend(grpc::scenarios());
    v.extend(listener_set::scenarios());
    v
}
