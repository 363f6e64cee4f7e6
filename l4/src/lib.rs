//! weir-l4: the eBPF dataplane (service load balancing, Maglev, LB-IPAM, L2 announcements).
//!
//! Empty until the kube-proxy-replacement issue (7) lands. It will read Services and
//! EndpointSlices through `weir-store`, never through the L7 crates.
