//! `GET /status`: the JSON the status page and `trinity-proxy status` read.

use crate::config::{LoadBalancing, PathMatch, Probe};
use crate::state::State;
use crate::stats::RouteStats;
use crate::upstream::{Endpoint, Pool};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Serialize)]
pub(super) struct Status {
    version: &'static str,
    uptime_seconds: u64,
    /// Open client connections on the public listeners.
    open_connections: i64,
    /// False while starting and while draining (`/readyz`).
    ready: bool,
    reload: ReloadStatus,
    routes: Vec<RouteStatus>,
    upstreams: Vec<UpstreamStatus>,
}

#[derive(Serialize)]
struct ReloadStatus {
    /// Whether the last reload (if any) was applied.
    last_successful: bool,
    /// Seconds since the Unix epoch.
    last_success_at: Option<f64>,
    last_failure_at: Option<f64>,
    /// The last rejected file's problems, each `FILE:LINE:COL: field.path: problem`.
    last_failure_problems: Vec<String>,
}

#[derive(Serialize)]
struct RouteStatus {
    name: String,
    host: Option<String>,
    #[serde(rename = "match")]
    kind: &'static str,
    path: String,
    upstream: String,
    strip_prefix: bool,
    redirect_trailing_slash: bool,
    connect_timeout_ms: u128,
    read_timeout_ms: u128,
    /// Requests/s, error ratio, p50/p99 over the last minute and 5-minute series; absent until
    /// the route's first sample (one second after it appeared).
    stats: Option<RouteStats>,
}

#[derive(Serialize)]
struct UpstreamStatus {
    name: String,
    retries: usize,
    load_balancing: &'static str,
    health_check: Option<String>,
    /// Endpoints that take new requests.
    eligible_endpoints: usize,
    /// No endpoint is eligible: requests are spread over all of them (panic mode), or answered
    /// 503 when the pool is empty.
    panic: bool,
    endpoints: Vec<EndpointStatus>,
}

#[derive(Serialize)]
struct EndpointStatus {
    address: String,
    /// One word: `terminating`, `ejected`, `unhealthy`, `probation` or `healthy`.
    state: &'static str,
    /// Active verdict (always true without a health check).
    healthy: bool,
    /// Out of rotation by outlier detection.
    ejected: bool,
    ejected_remaining_ms: Option<u128>,
    times_ejected: u32,
    on_probation: bool,
    /// Takes new requests (healthy, not ejected, not terminating).
    eligible: bool,
    /// Kubernetes reports it shutting down.
    terminating: bool,
    consecutive_failures: u32,
    in_flight: usize,
    requests: u64,
    failures: u64,
    last_check: Option<CheckStatus>,
}

#[derive(Serialize)]
struct CheckStatus {
    /// Seconds since the Unix epoch.
    at: f64,
    passed: bool,
    result: String,
    took_ms: u128,
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Status {
    pub(super) fn of(state: &State) -> Self {
        let t = state.table.load();
        let reload = state.reload_record();
        Self {
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: state.started.elapsed().as_secs(),
            open_connections: state.metrics.downstream_connections.get(),
            ready: state.is_ready(),
            reload: ReloadStatus {
                last_successful: state.metrics.last_reload_successful.get() == 1,
                last_success_at: reload.last_success.map(epoch_secs),
                last_failure_at: reload.last_failure.map(epoch_secs),
                last_failure_problems: reload.problems,
            },
            routes: t
                .routes
                .iter()
                .map(|r| RouteStatus {
                    name: r.name.to_string(),
                    host: r.host.as_deref().map(str::to_owned),
                    kind: match r.matcher {
                        PathMatch::Exact(_) => "exact",
                        PathMatch::Prefix(_) => "prefix",
                    },
                    path: r.matcher.as_str().to_owned(),
                    upstream: r.pool.name.to_string(),
                    strip_prefix: r.strip_prefix,
                    redirect_trailing_slash: r.redirect_trailing_slash,
                    connect_timeout_ms: r.timeouts.connect.as_millis(),
                    read_timeout_ms: r.timeouts.read.as_millis(),
                    stats: state.stats.route(&r.name),
                })
                .collect(),
            upstreams: t.pools.iter().map(|p| upstream_status(p)).collect(),
        }
    }
}

fn upstream_status(p: &Pool) -> UpstreamStatus {
    let endpoints: Vec<EndpointStatus> = p
        .members()
        .endpoints
        .iter()
        .map(|e| endpoint_status(e))
        .collect();
    let eligible_endpoints = endpoints.iter().filter(|e| e.eligible).count();
    UpstreamStatus {
        name: p.name.to_string(),
        retries: p.retries(),
        load_balancing: match p.config.load_balancing {
            LoadBalancing::RoundRobin => "round_robin",
            LoadBalancing::LeastRequest => "least_request",
            LoadBalancing::Hash(_) => "hash",
        },
        health_check: p.health_check().map(|h| match &h.probe {
            Probe::Http { path, .. } => format!("GET {path} every {:?}", h.interval),
            Probe::Tcp => format!("tcp connect every {:?}", h.interval),
        }),
        eligible_endpoints,
        panic: eligible_endpoints == 0,
        endpoints,
    }
}

fn endpoint_status(e: &Endpoint) -> EndpointStatus {
    let h = e.health.snapshot();
    let terminating = e.is_terminating();
    EndpointStatus {
        address: e.label.to_string(),
        state: if terminating {
            "terminating"
        } else if h.ejected {
            "ejected"
        } else if !h.healthy {
            "unhealthy"
        } else if h.on_probation {
            "probation"
        } else {
            "healthy"
        },
        healthy: h.healthy,
        ejected: h.ejected,
        ejected_remaining_ms: h.ejected_remaining.map(|d| d.as_millis()),
        times_ejected: h.times_ejected,
        on_probation: h.on_probation,
        eligible: e.eligible(),
        terminating,
        consecutive_failures: h.consecutive_failures,
        in_flight: e.in_flight(),
        requests: e.requests(),
        failures: e.failures(),
        last_check: h.last_probe.map(|p| CheckStatus {
            at: epoch_secs(p.at),
            passed: p.passed,
            result: p.detail,
            took_ms: p.took.as_millis(),
        }),
    }
}
