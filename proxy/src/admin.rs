//! The admin listener: never reachable through the public listeners.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition (`text/plain; version=0.0.4`) |
//! | `GET /healthz` | 200 `ok` while the process runs |
//! | `GET /readyz` | 200 `ready` once listeners are up; 503 `not ready` before and while draining |
//! | `GET /status` | JSON: routes, upstreams and each endpoint's state |
//!
//! Anything else is a 404; methods other than GET/HEAD are a 405.

use crate::routing::RouteTable;
use crate::state::State;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(listener: TcpListener, state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let state = state.clone();
        // The public listeners' header limits and deadline (hyper answers 431 itself and closes
        // a connection whose head is late).
        let (limits, timeouts) = {
            let table = state.table.load();
            (table.limits, table.client_timeouts)
        };
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &req)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.client_header)
                .max_header_size(limits.max_header_bytes)
                .max_headers(limits.max_headers)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

fn handle(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = Response::new(Full::new(Bytes::from(state.metrics.encode())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if state.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        "/status" => {
            let body =
                serde_json::to_vec_pretty(&Status::of(&state.table.load())).unwrap_or_default();
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            resp
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics /healthz /readyz /status\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[derive(Serialize)]
struct Status<'a> {
    version: &'static str,
    routes: Vec<RouteStatus<'a>>,
    upstreams: Vec<UpstreamStatus<'a>>,
}

#[derive(Serialize)]
struct RouteStatus<'a> {
    name: &'a str,
    host: Option<&'a str>,
    #[serde(rename = "match")]
    kind: &'static str,
    path: &'a str,
    upstream: &'a str,
    strip_prefix: bool,
    redirect_trailing_slash: bool,
    connect_timeout_ms: u128,
    read_timeout_ms: u128,
}

#[derive(Serialize)]
struct UpstreamStatus<'a> {
    name: &'a str,
    retries: usize,
    load_balancing: &'static str,
    health_check: Option<String>,
    endpoints: Vec<EndpointStatus>,
}

#[derive(Serialize)]
struct EndpointStatus {
    address: String,
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

impl<'a> Status<'a> {
    fn of(t: &'a RouteTable) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION"),
            routes: t
                .routes
                .iter()
                .map(|r| RouteStatus {
                    name: &r.name,
                    host: r.host.as_deref(),
                    kind: match r.matcher {
                        crate::config::PathMatch::Exact(_) => "exact",
                        crate::config::PathMatch::Prefix(_) => "prefix",
                    },
                    path: r.matcher.as_str(),
                    upstream: &r.pool.name,
                    strip_prefix: r.strip_prefix,
                    redirect_trailing_slash: r.redirect_trailing_slash,
                    connect_timeout_ms: r.timeouts.connect.as_millis(),
                    read_timeout_ms: r.timeouts.read.as_millis(),
                })
                .collect(),
            upstreams: t
                .pools
                .iter()
                .map(|p| UpstreamStatus {
                    name: &p.name,
                    retries: p.retries(),
                    load_balancing: match p.config.load_balancing {
                        crate::config::LoadBalancing::RoundRobin => "round_robin",
                        crate::config::LoadBalancing::LeastRequest => "least_request",
                        crate::config::LoadBalancing::Hash(_) => "hash",
                    },
                    health_check: p.health_check().map(|h| match &h.probe {
                        crate::config::Probe::Http { path, .. } => {
                            format!("GET {path} every {:?}", h.interval)
                        }
                        crate::config::Probe::Tcp => format!("tcp connect every {:?}", h.interval),
                    }),
                    endpoints: p
                        .members()
                        .endpoints
                        .iter()
                        .map(|e| endpoint_status(e))
                        .collect(),
                })
                .collect(),
        }
    }
}

fn endpoint_status(e: &crate::upstream::Endpoint) -> EndpointStatus {
    let h = e.health.snapshot();
    EndpointStatus {
        address: e.label.to_string(),
        healthy: h.healthy,
        ejected: h.ejected,
        ejected_remaining_ms: h.ejected_remaining.map(|d| d.as_millis()),
        times_ejected: h.times_ejected,
        on_probation: h.on_probation,
        eligible: e.eligible(),
        terminating: e.is_terminating(),
        consecutive_failures: h.consecutive_failures,
        in_flight: e.in_flight(),
        requests: e.requests(),
        failures: e.failures(),
        last_check: h.last_probe.map(|p| CheckStatus {
            at: p
                .at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            passed: p.passed,
            result: p.detail,
            took_ms: p.took.as_millis(),
        }),
    }
}
