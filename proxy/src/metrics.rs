//! Every metric name in one place, registered on a [`Registry`] owned by the process state
//! (no globals). Label handles are resolved when a route or endpoint is built, so the request
//! path only touches atomics: no label formatting, no map lookups after first use.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `trinity_proxy_requests_total` | counter | route, method, code |
//! | `trinity_proxy_request_duration_seconds` | histogram | route |
//! | `trinity_proxy_upstream_request_duration_seconds` | histogram | upstream, endpoint |
//! | `trinity_proxy_retries_total` | counter | route, reason |
//! | `trinity_proxy_downstream_connections` | gauge | — |
//! | `trinity_proxy_build_info` | gauge | version |

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::OnceLock;

pub const REQUESTS_TOTAL: &str = "trinity_proxy_requests_total";
pub const REQUEST_DURATION: &str = "trinity_proxy_request_duration_seconds";
pub const UPSTREAM_REQUEST_DURATION: &str = "trinity_proxy_upstream_request_duration_seconds";
pub const RETRIES_TOTAL: &str = "trinity_proxy_retries_total";
pub const DOWNSTREAM_CONNECTIONS: &str = "trinity_proxy_downstream_connections";
pub const BUILD_INFO: &str = "trinity_proxy_build_info";

/// The `route` label of requests that matched no route.
pub const NO_ROUTE: &str = "none";
/// `retries_total{reason}`: the first attempt could not connect.
pub const RETRY_CONNECT_FAILURE: &str = "connect_failure";

/// Seconds; the long tail covers streaming routes (SSE, AI answers).
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Methods with their own pre-resolved handles; anything else is counted as `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];
const OTHER_METHOD: usize = METHODS.len();
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500; // 100..=599

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    retries: IntCounterVec,
    pub downstream_connections: IntGauge,
    no_route: RouteMetrics,
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
        registry.register(Box::new(build_info))?;
        let no_route = RouteMetrics::resolve(&requests, &request_duration, &retries, NO_ROUTE);
        Ok(Self {
            registry,
            requests,
            request_duration,
            upstream_duration,
            retries,
            downstream_connections,
            no_route,
        })
    }

    /// Handles for one route; call when the route table is built.
    pub fn route(&self, route: &str) -> RouteMetrics {
        RouteMetrics::resolve(&self.requests, &self.request_duration, &self.retries, route)
    }

    pub fn no_route(&self) -> &RouteMetrics {
        &self.no_route
    }

    /// Handles for one endpoint of one upstream; call when the pool is built.
    pub fn endpoint(&self, upstream: &str, endpoint: &str) -> EndpointMetrics {
        EndpointMetrics {
            duration: self
                .upstream_duration
                .with_label_values(&[upstream, endpoint]),
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

/// Pre-resolved handles of one route.
pub struct RouteMetrics {
    route: String,
    requests: IntCounterVec,
    /// Per method: handles by status code, filled on first use of each (method, code).
    by_method: [OnceLock<Box<[OnceLock<IntCounter>]>>; METHODS.len() + 1],
    pub duration: Histogram,
    pub retry_connect_failure: IntCounter,
}

impl RouteMetrics {
    fn resolve(
        requests: &IntCounterVec,
        duration: &HistogramVec,
        retries: &IntCounterVec,
        route: &str,
    ) -> Self {
        Self {
            route: route.to_owned(),
            requests: requests.clone(),
            by_method: Default::default(),
            duration: duration.with_label_values(&[route]),
            retry_connect_failure: retries.with_label_values(&[route, RETRY_CONNECT_FAILURE]),
        }
    }

    /// Counts one answered request.
    pub fn count(&self, method: &http::Method, status: u16) {
        let m = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(OTHER_METHOD);
        let slot = usize::from(status.saturating_sub(STATUS_MIN));
        if slot >= STATUS_SLOTS {
            self.requests
                .with_label_values(&[self.route.as_str(), method_label(m), &status.to_string()])
                .inc();
            return;
        }
        let codes =
            self.by_method[m].get_or_init(|| (0..STATUS_SLOTS).map(|_| OnceLock::new()).collect());
        codes[slot]
            .get_or_init(|| {
                self.requests.with_label_values(&[
                    self.route.as_str(),
                    method_label(m),
                    &status.to_string(),
                ])
            })
            .inc();
    }
}

fn method_label(i: usize) -> &'static str {
    METHODS.get(i).copied().unwrap_or("other")
}

/// Pre-resolved handles of one endpoint.
pub struct EndpointMetrics {
    pub duration: Histogram,
}
