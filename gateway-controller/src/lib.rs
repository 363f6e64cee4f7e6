//! weir-controller: Gateway API objects in, dataplane config and statuses out.
//!
//! `translate` is the pure core. `runtime` feeds it from a Source and applies its output to
//! the dataplane; `admin` serves `/status`, `/config`, `/metrics`, `/healthz` and `/readyz`.

pub mod addresses;
pub mod admin;
pub mod features;
pub mod runtime;
pub mod status;
pub mod translate;

/// The controllerName Weir's GatewayClasses name.
pub const CONTROLLER_NAME: &str = "weir.dev/gateway-controller";
