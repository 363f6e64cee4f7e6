//! weir-conformance: the Gateway API v1.6.1 conformance scenarios, run against a local weir.
//!
//! `cluster` plays the Kubernetes cluster (echo pods, EndpointSlices); `weir` runs the weir
//! under test; `http` makes requests and compares responses the way the upstream suite
//! does; `suite` holds the timing rules and status assertions; `scenarios` has one function
//! per upstream test; `report` writes the upstream ConformanceReport.

pub mod cluster;
pub mod dns;
pub mod grpc;
pub mod http;
pub mod report;
pub mod scenarios;
pub mod suite;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod weir;
