//! One active probe: an HTTP GET on a fresh connection (never a pooled request-path connection),
//! or a TCP connect. The whole probe — connect, request, response head — is bounded by `timeout`.

use crate::config::{HealthCheckConfig, Probe};
use crate::health::ProbeRecord;
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};
use tokio::net::TcpStream;

pub const USER_AGENT: &str = concat!("trinity-proxy-health/", env!("CARGO_PKG_VERSION"));

/// Probes `addr` once.
pub async fn probe(addr: SocketAddr, hc: &HealthCheckConfig) -> ProbeRecord {
    let started = Instant::now();
    let at = SystemTime::now();
    let outcome = tokio::time::timeout(hc.timeout, run(addr, &hc.probe)).await;
    let (passed, detail) = match outcome {
        Ok(Ok(status)) => match (&hc.probe, status) {
            (
                Probe::Http {
                    expected_status, ..
                },
                Some(code),
            ) => (expected_status.contains(code), code.to_string()),
            (_, _) => (true, "connected".to_owned()),
        },
        Ok(Err(e)) => (false, e),
        Err(_) => (false, format!("timed out after {:?}", hc.timeout)),
    };
    ProbeRecord {
        at,
        passed,
        detail,
        took: started.elapsed(),
    }
}

/// `Ok(Some(status))` for HTTP, `Ok(None)` for a TCP connect.
async fn run(addr: SocketAddr, probe: &Probe) -> Result<Option<u16>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let Probe::Http { path, host, .. } = probe else {
        return Ok(None);
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let host = host.clone().unwrap_or_else(|| addr.to_string());
    let req = Request::get(path.as_str())
        .header(header::HOST, host)
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let result = sender.send_request(req).await.map_err(|e| e.to_string());
    driver.abort();
    Ok(Some(result?.status().as_u16()))
}
