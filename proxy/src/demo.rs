//! `trinity-proxy demo`: stand-in Trinity services on ephemeral loopback ports behind the proxy.
//!
//! The routes and settings come from the shipped `config/demo.yaml`; each upstream's endpoints
//! are replaced by in-process stand-ins (2 replicas of web, fastapi, trinity-ai and frontend,
//! 1 of minio-console). A stand-in answers JSON naming its service and replica, the method, path
//! and query it received, and the forwarding headers it saw.

use crate::config::{Config, ConfigErrors};
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The shipped demo config, embedded so `demo` runs from any directory.
pub const DEMO_YAML: &str = include_str!("../../config/demo.yaml");

/// Replicas started per upstream of `config/demo.yaml`.
pub fn replicas(upstream: &str) -> usize {
    if upstream == "minio-console" { 1 } else { 2 }
}

/// The headers a stand-in reports back.
const ECHOED_HEADERS: [&str; 9] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-request-id",
    "cf-connecting-ip",
    "content-length",
];

/// A running stand-in service replica.
pub struct StandIn {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl StandIn {
    /// Starts an echo replica of `service` on `127.0.0.1:0`.
    pub async fn spawn(service: &str, replica: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let service = service.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let service = service.clone();
                        async move { Ok::<_, Infallible>(echo(&service, replica, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// Stops accepting (open connections end with their tasks).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn echo(service: &str, replica: usize, req: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let body_len = body
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    let headers: serde_json::Map<String, serde_json::Value> = ECHOED_HEADERS
        .iter()
        .filter_map(|h| {
            let v = parts.headers.get(*h)?.to_str().ok()?;
            Some(((*h).to_owned(), json!(v)))
        })
        .collect();
    let body = json!({
        "service": service,
        "replica": replica,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "body_bytes": body_len,
        "headers": headers,
    });
    let mut bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
    bytes.push(b'\n');
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Loads `config/demo.yaml` with every upstream pointed at freshly started stand-ins.
pub async fn config_with_stand_ins(
    listen: SocketAddr,
    admin: SocketAddr,
) -> Result<(Config, Vec<StandIn>), DemoError> {
    let mut config = Config::parse(DEMO_YAML, "config/demo.yaml")?;
    config.listeners = vec![listen];
    config.admin = admin;
    let mut stand_ins = Vec::new();
    for upstream in &mut config.upstreams {
        upstream.endpoints.clear();
        for replica in 1..=replicas(&upstream.name) {
            let s = StandIn::spawn(&upstream.name, replica).await?;
            upstream.endpoints.push(s.addr);
            stand_ins.push(s);
        }
    }
    Ok((config, stand_ins))
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("embedded demo config: {0}")]
    Config(#[from] ConfigErrors),
    #[error("starting a stand-in service: {0}")]
    Io(#[from] std::io::Error),
}
