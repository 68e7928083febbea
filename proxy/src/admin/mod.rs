//! The admin listener: never reachable through the public listeners.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition (`text/plain; version=0.0.4`) |
//! | `GET /healthz` | 200 `ok` while the process runs |
//! | `GET /readyz` | 200 `ready` once listeners are up; 503 `not ready` before and while draining |
//! | `GET /status` | JSON: routes (with requests/s, error ratio, p50/p99 of the last minute and 5-minute series), upstreams and each endpoint's state, reload outcome, uptime, open connections |
//! | `GET /` | the status page: one self-contained HTML page that polls `/status` every 2 s (`page.rs`, `page.html`) |
//!
//! Anything else is a 404; methods other than GET/HEAD are a 405. Everything here is read-only:
//! the listener's bind address (`admin:`) is the access boundary, there is no authentication.

mod page;
mod status;

use crate::state::State;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
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
            let body = serde_json::to_vec_pretty(&status::Status::of(state)).unwrap_or_default();
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            resp
        }
        "/" => page::page(),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try / /metrics /healthz /readyz /status\n",
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
