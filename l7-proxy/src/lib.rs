//! weir-proxy: Weir's HTTP dataplane.
//!
//! `config` is the model the controller produces; `route_table` compiles it for lookups;
//! `server` owns sockets and swaps configs; `proxy` is the request lifecycle; `upstream`
//! holds connections to endpoints; `balance` chooses endpoints (policies, outlier detection).

pub mod balance;
pub mod config;
pub mod cors;
pub mod error;
pub mod metrics;
pub mod proxy;
pub mod route_table;
pub mod server;
pub mod session;
pub mod tls_stream;
pub mod udp;
pub mod upstream;

pub use config::ProxyConfig;
pub use server::{ApplyReport, Dataplane};
