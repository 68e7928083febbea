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
//!
//! Each component registers its own families (`registrar.rs` makes and registers one): routes
//! (`route.rs`), endpoints (`endpoint.rs`), upstream pools (`pool.rs`), what the edge refused
//! (`edge.rs`) and the process's own series (`control.rs`).

mod control;
mod edge;
mod endpoint;
mod pool;
mod registrar;
mod route;

pub use edge::EdgeMetrics;
pub use endpoint::{EndpointMetrics, EndpointMetricsFactory};
pub use pool::PoolMetrics;
pub use route::RouteMetrics;

use control::ControlMetrics;
use pool::PoolFamilies;
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Registry, TextEncoder};
use registrar::Registrar;
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
    routes: LiveRoutes,
    /// Held for the process's life: a route named like it shares it and never removes it.
    no_route: Arc<RouteMetrics>,
    endpoints: EndpointMetricsFactory,
    pools: PoolFamilies,
    worker_connections: IntGaugeVec,
    pub downstream_connections: IntGauge,
    pub reloads_success: IntCounter,
    pub reloads_failure: IntCounter,
    pub last_reload_successful: IntGauge,
    pub edge: EdgeMetrics,
}

impl Metrics {
    /// Registers every family, component by component.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = Registrar(&registry);
        let edge = EdgeMetrics::register(&r)?;
        let routes = LiveRoutes::new(RouteFamilies::register(&r, edge.requests_family())?);
        let endpoints = EndpointMetricsFactory::register(&r)?;
        let pools = PoolFamilies::register(&r)?;
        let ControlMetrics {
            downstream_connections,
            worker_connections,
            reloads_success,
            reloads_failure,
            last_reload_successful,
        } = ControlMetrics::register(&r)?;
        Ok(Self {
            registry,
            no_route: routes.get(NO_ROUTE),
            routes,
            endpoints,
            pools,
            worker_connections,
            downstream_connections,
            reloads_success,
            reloads_failure,
            last_reload_successful,
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
        self.pools.pool(upstream)
    }

    /// Handles for one route; call when the route table is built. Every table holding a route of
    /// this name shares one instance, so the series stay until no table or request uses the name.
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        self.routes.get(route)
    }

    pub fn no_route(&self) -> &RouteMetrics {
        &self.no_route
    }

    /// What a pool keeps to register the series of endpoints that join it later.
    pub fn endpoint_factory(&self) -> EndpointMetricsFactory {
        self.endpoints.clone()
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
