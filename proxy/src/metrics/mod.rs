//! Every metric name in one place, registered on a [`Registry`] owned by the process state
//! (no globals, but for the log's dropped-lines counter: the log is the process's). Label handles are resolved when a route or endpoint is built, so the request
//! path only touches atomics: no label formatting, no map lookups after first use.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `trinity_proxy_requests_total` | counter | route, method, code |
//! | `trinity_proxy_request_duration_seconds` | histogram | route |
//! | `trinity_proxy_upstream_request_duration_seconds` | histogram | upstream, endpoint |
//! | `trinity_proxy_retries_total` | counter | route, reason |
//! | `trinity_proxy_downstream_connections` | gauge | — |
//! | `trinity_proxy_worker_connections` | gauge | worker |
//! | `trinity_proxy_log_lines_dropped_total` | counter | — |
//! | `trinity_proxy_build_info` | gauge | version |
//! | `trinity_proxy_endpoint_healthy` | gauge 0/1 | upstream, endpoint |
//! | `trinity_proxy_endpoint_ejected` | gauge 0/1 | upstream, endpoint |
//! | `trinity_proxy_ejections_total` | counter | upstream, reason |
//! | `trinity_proxy_health_checks_total` | counter | upstream, result |
//! | `trinity_proxy_panic_routing_total` | counter | upstream |
//! | `trinity_proxy_config_reloads_total` | counter | result (success, failure) |
//! | `trinity_proxy_config_last_reload_successful` | gauge 0/1 | — |
//! | `trinity_proxy_discovery_errors_total` | counter | upstream |
//! | `trinity_proxy_requests_rejected_total` | counter | route, reason |
//! | `trinity_proxy_connections_rejected_total` | counter | reason |
//! | `trinity_proxy_heap_live_bytes` | gauge | — (only in a build with the `heap-stats` feature) |
//!
//! Series of an endpoint are removed when the endpoint leaves its pool; series of a route when the
//! last config and request using that route name are gone.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
mod edge;
mod route;

pub use edge::EdgeMetrics;

pub use route::RouteMetrics;
use route::{LiveRoutes, RouteFamilies};
use std::sync::Arc;

pub const REQUESTS_TOTAL: &str = "trinity_proxy_requests_total";
pub const REQUEST_DURATION: &str = "trinity_proxy_request_duration_seconds";
pub const UPSTREAM_REQUEST_DURATION: &str = "trinity_proxy_upstream_request_duration_seconds";
pub const RETRIES_TOTAL: &str = "trinity_proxy_retries_total";
pub const DOWNSTREAM_CONNECTIONS: &str = "trinity_proxy_downstream_connections";
pub const WORKER_CONNECTIONS: &str = "trinity_proxy_worker_connections";
pub const BUILD_INFO: &str = "trinity_proxy_build_info";
pub const HEAP_LIVE_BYTES: &str = "trinity_proxy_heap_live_bytes";
pub const ENDPOINT_HEALTHY: &str = "trinity_proxy_endpoint_healthy";
pub const ENDPOINT_EJECTED: &str = "trinity_proxy_endpoint_ejected";
pub const EJECTIONS_TOTAL: &str = "trinity_proxy_ejections_total";
pub const HEALTH_CHECKS_TOTAL: &str = "trinity_proxy_health_checks_total";
pub const PANIC_ROUTING_TOTAL: &str = "trinity_proxy_panic_routing_total";
pub const CONFIG_RELOADS_TOTAL: &str = "trinity_proxy_config_reloads_total";
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "trinity_proxy_config_last_reload_successful";
pub const DISCOVERY_ERRORS_TOTAL: &str = "trinity_proxy_discovery_errors_total";
pub const REQUESTS_REJECTED_TOTAL: &str = "trinity_proxy_requests_rejected_total";
pub const CONNECTIONS_REJECTED_TOTAL: &str = "trinity_proxy_connections_rejected_total";

/// The `route` label of requests that matched no route.
pub const NO_ROUTE: &str = "none";
/// `retries_total{reason}`: the attempt could not connect.
pub const RETRY_CONNECT_FAILURE: &str = "connect_failure";
/// `retries_total{reason}`: the connection broke before a response header arrived.
pub const RETRY_RESET: &str = "reset";
/// `retries_total{reason}`: no response header within the read timeout.
pub const RETRY_TIMEOUT: &str = "timeout";
/// `retries_total{reason}`: the upstream answered 502, 503 or 504.
pub const RETRY_STATUS: &str = "status_5xx";

/// Seconds; the long tail covers streaming routes (SSE, AI answers).
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Methods with their own pre-resolved handles; anything else is counted as `other`.
pub(crate) const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];
pub(crate) const OTHER_METHOD: usize = METHODS.len();
pub(crate) const STATUS_MIN: u16 = 100;
pub(crate) const STATUS_SLOTS: usize = 500; // 100..=599

pub struct Metrics {
    registry: Registry,
    upstream_duration: HistogramVec,
    pub downstream_connections: IntGauge,
    worker_connections: IntGaugeVec,
    routes: LiveRoutes,
    /// Held for the process's life: a route named like it shares it and never removes it.
    no_route: Arc<RouteMetrics>,
    endpoint_healthy: IntGaugeVec,
    endpoint_ejected: IntGaugeVec,
    ejections: IntCounterVec,
    health_checks: IntCounterVec,
    panic_routing: IntCounterVec,
    pub reloads_success: IntCounter,
    pub reloads_failure: IntCounter,
    pub last_reload_successful: IntGauge,
    discovery_errors: IntCounterVec,
    pub edge: EdgeMetrics,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                REQUESTS_TOTAL,
                "HTTP requests answered, by route, method and status code.",
            ),
            &["route", "method", "code"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION,
                "Time from request start to the end of the response, by route.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                UPSTREAM_REQUEST_DURATION,
                "Time from choosing an endpoint to the end of its response, by upstream and endpoint.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["upstream", "endpoint"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                RETRIES_TOTAL,
                "Requests retried on another endpoint, by route and reason.",
            ),
            &["route", "reason"],
        )?;
        let downstream_connections = IntGauge::new(
            DOWNSTREAM_CONNECTIONS,
            "Open client connections on the public listeners.",
        )?;
        let worker_connections = IntGaugeVec::new(
            Opts::new(
                WORKER_CONNECTIONS,
                "Open client connections served by each worker thread.",
            ),
            &["worker"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                BUILD_INFO,
                "Always 1; the version label names the running build.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(downstream_connections.clone()))?;
        registry.register(Box::new(worker_connections.clone()))?;
        registry.register(Box::new(build_info))?;
        let endpoint_healthy = IntGaugeVec::new(
            Opts::new(
                ENDPOINT_HEALTHY,
                "1 while active health checks consider the endpoint healthy.",
            ),
            &["upstream", "endpoint"],
        )?;
        let endpoint_ejected = IntGaugeVec::new(
            Opts::new(
                ENDPOINT_EJECTED,
                "1 while passive outlier detection keeps the endpoint out of rotation.",
            ),
            &["upstream", "endpoint"],
        )?;
        let ejections = IntCounterVec::new(
            Opts::new(
                EJECTIONS_TOTAL,
                "Endpoints ejected by outlier detection, by upstream and reason.",
            ),
            &["upstream", "reason"],
        )?;
        let health_checks = IntCounterVec::new(
            Opts::new(
                HEALTH_CHECKS_TOTAL,
                "Active health probes, by upstream and result (success, failure, skipped).",
            ),
            &["upstream", "result"],
        )?;
        let panic_routing = IntCounterVec::new(
            Opts::new(
                PANIC_ROUTING_TOTAL,
                "Requests routed across all endpoints because none was eligible (panic mode), by upstream.",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(endpoint_healthy.clone()))?;
        registry.register(Box::new(endpoint_ejected.clone()))?;
        registry.register(Box::new(ejections.clone()))?;
        registry.register(Box::new(health_checks.clone()))?;
        registry.register(Box::new(panic_routing.clone()))?;
        let reloads = IntCounterVec::new(
            Opts::new(CONFIG_RELOADS_TOTAL, "Config reload attempts, by result."),
            &["result"],
        )?;
        let last_reload_successful = IntGauge::new(
            CONFIG_LAST_RELOAD_SUCCESSFUL,
            "1 if the last config reload succeeded (or none was tried), 0 if it failed.",
        )?;
        last_reload_successful.set(1);
        let discovery_errors = IntCounterVec::new(
            Opts::new(
                DISCOVERY_ERRORS_TOTAL,
                "Failed discovery lookups (DNS, Kubernetes), by upstream.",
            ),
            &["upstream"],
        )?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(last_reload_successful.clone()))?;
        registry.register(Box::new(discovery_errors.clone()))?;
        registry.register(Box::new(crate::log::LINES_DROPPED.clone()))?;
        crate::heap::register(&registry)?;
        let edge = EdgeMetrics::register(&registry)?;
        let routes = LiveRoutes::new(RouteFamilies {
            requests,
            duration: request_duration,
            retries,
            rejected: edge.requests_family(),
        });
        Ok(Self {
            registry,
            upstream_duration,
            downstream_connections,
            worker_connections,
            no_route: routes.get(NO_ROUTE),
            routes,
            endpoint_healthy,
            endpoint_ejected,
            ejections,
            health_checks,
            panic_routing,
            reloads_success: reloads.with_label_values(&["success"]),
            reloads_failure: reloads.with_label_values(&["failure"]),
            last_reload_successful,
            discovery_errors,
            edge,
        })
    }

    /// Worker `i`'s open-connection gauge.
    pub fn worker_connections(&self, i: usize) -> IntGauge {
        self.worker_connections
            .with_label_values(&[i.to_string().as_str()])
    }

    /// Handles for one upstream pool.
    pub fn pool(&self, upstream: &str) -> PoolMetrics {
        PoolMetrics {
            ejected_consecutive: self
                .ejections
                .with_label_values(&[upstream, "consecutive_failures"]),
            ejected_on_probation: self
                .ejections
                .with_label_values(&[upstream, "failed_on_probation"]),
            checks_success: self.health_checks.with_label_values(&[upstream, "success"]),
            checks_failure: self.health_checks.with_label_values(&[upstream, "failure"]),
            checks_skipped: self.health_checks.with_label_values(&[upstream, "skipped"]),
            panic_routing: self.panic_routing.with_label_values(&[upstream]),
            discovery_errors: self.discovery_errors.with_label_values(&[upstream]),
        }
    }

    /// Handles for one route; call when the route table is built. Every table holding a route of
    /// this name shares one instance, so the series stay until no table or request uses the name.
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        self.routes.get(route)
    }

    pub fn no_route(&self) -> &RouteMetrics {
        &self.no_route
    }

    /// Handles for one endpoint of one upstream; call when the pool is built.
    pub fn endpoint(&self, upstream: &str, endpoint: &str) -> EndpointMetrics {
        self.endpoint_factory().endpoint(upstream, endpoint)
    }

    /// What a pool keeps to register the series of endpoints that join it later.
    pub fn endpoint_factory(&self) -> EndpointMetricsFactory {
        EndpointMetricsFactory {
            duration: self.upstream_duration.clone(),
            healthy: self.endpoint_healthy.clone(),
            ejected: self.endpoint_ejected.clone(),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed families.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

/// Pre-resolved handles of one endpoint; its series leave the exposition when it is dropped.
pub struct EndpointMetrics {
    pub duration: Histogram,
    pub healthy: IntGauge,
    pub ejected: IntGauge,
    vecs: (HistogramVec, IntGaugeVec, IntGaugeVec),
    labels: [String; 2],
}

impl Drop for EndpointMetrics {
    fn drop(&mut self) {
        let labels = [self.labels[0].as_str(), self.labels[1].as_str()];
        let _ = self.vecs.0.remove_label_values(&labels);
        let _ = self.vecs.1.remove_label_values(&labels);
        let _ = self.vecs.2.remove_label_values(&labels);
    }
}

/// Pre-resolved handles of one upstream pool.
pub struct PoolMetrics {
    pub ejected_consecutive: IntCounter,
    pub ejected_on_probation: IntCounter,
    pub checks_success: IntCounter,
    pub checks_failure: IntCounter,
    pub checks_skipped: IntCounter,
    pub panic_routing: IntCounter,
    pub discovery_errors: IntCounter,
}

/// Registers endpoint series; cheap to clone (the families are shared).
#[derive(Clone)]
pub struct EndpointMetricsFactory {
    duration: HistogramVec,
    healthy: IntGaugeVec,
    ejected: IntGaugeVec,
}

impl EndpointMetricsFactory {
    pub fn endpoint(&self, upstream: &str, endpoint: &str) -> EndpointMetrics {
        let labels = [upstream, endpoint];
        let healthy = self.healthy.with_label_values(&labels);
        healthy.set(1);
        let ejected = self.ejected.with_label_values(&labels);
        ejected.set(0);
        EndpointMetrics {
            duration: self.duration.with_label_values(&labels),
            healthy,
            ejected,
            vecs: (
                self.duration.clone(),
                self.healthy.clone(),
                self.ejected.clone(),
            ),
            labels: [upstream.to_owned(), endpoint.to_owned()],
        }
    }
}
