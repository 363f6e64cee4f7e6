//! Prometheus metrics of the dataplane.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// `namespace/service:port`.
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// `namespace/name` of the Secret.
    pub certificate: String,
}

/// Handles to every metric the proxy updates.
#[derive(Clone)]
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    /// Upstream attempts repeated under a route's retry policy.
    pub retries: Family<RouteLabels, Counter>,
    /// Endpoints ejected by passive outlier detection.
    pub ejections: Family<ClusterLabels, Counter>,
    pub config_version: Gauge,
    pub config_errors: Counter,
    /// Seconds until each served certificate expires (negative once expired).
    pub certificate_expiry: Family<CertificateLabels, Gauge>,
}

/// The route label for requests that matched no route.
const NO_ROUTE: &str = "";

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 16))
            }),
            retries: Family::default(),
            ejections: Family::default(),
            config_version: Gauge::default(),
            config_errors: Counter::default(),
            certificate_expiry: Family::default(),
        };
        registry.register(
            "weir_http_requests",
            "HTTP requests by route and status code",
            m.requests.clone(),
        );
        registry.register(
            "weir_http_request_duration_seconds",
            "HTTP request latency by route, to response headers",
            m.latency.clone(),
        );
        registry.register(
            "weir_http_retries",
            "Upstream attempts repeated under a route's retry policy",
            m.retries.clone(),
        );
        registry.register(
            "weir_upstream_ejections",
            "Endpoints ejected by passive outlier detection, by cluster",
            m.ejections.clone(),
        );
        registry.register(
            "weir_config_version",
            "Version of the active dataplane config",
            m.config_version.clone(),
        );
        registry.register(
            "weir_config_reload_errors",
            "Config updates that were refused",
            m.config_errors.clone(),
        );
        registry.register(
            "weir_certificate_expiry_seconds",
            "Seconds until a served certificate expires; alert well before 0",
            m.certificate_expiry.clone(),
        );
        m
    }

    pub fn retry(&self, route: &str) {
        self.retries
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .inc();
    }

    pub fn ejection(&self, cluster: &str) {
        self.ejections
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .inc();
    }

    /// The handles of one route's series, for `RouteMetrics::observe` without a label lookup.
    pub fn route(&self, route: &str) -> RouteMetrics {
        RouteMetrics {
            route: route.to_owned(),
            latency: self
                .latency
                .get_or_create(&RouteLabels {
                    route: route.to_owned(),
                })
                .clone(),
            requests: self.requests.clone(),
            codes: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn observe(&self, route: Option<&str>, status: StatusCode, elapsed: Duration) {
        let route = route.unwrap_or(NO_ROUTE).to_owned();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route,
                code: status.as_u16(),
            })
            .inc();
    }
}

/// One route's series, cached in its compiled route: a request records its latency and status
/// with atomic updates and a short scan of the codes seen, no label allocation or map lookup.
pub struct RouteMetrics {
    route: String,
    latency: Histogram,
    requests: Family<RequestLabels, Counter>,
    codes: std::sync::Mutex<Vec<(u16, Counter)>>,
}

impl RouteMetrics {
    pub fn observe(&self, status: StatusCode, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
        let code = status.as_u16();
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        match codes.iter().find(|(c, _)| *c == code) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                let counter = self
                    .requests
                    .get_or_create(&RequestLabels {
                        route: self.route.clone(),
                        code,
                    })
                    .clone();
                counter.inc();
                codes.push((code, counter));
            }
        }
    }
}

/// A registry shared between the proxy and the admin endpoint.
pub type SharedRegistry = Arc<Registry>;
