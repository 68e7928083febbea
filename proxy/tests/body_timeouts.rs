//! A request body the client does not deliver is the client's fault: 408, counted as
//! `requests_rejected_total{reason="body_timeout"}`, no failure charged to the endpoint (so no
//! ejection), no retry, no ERROR record. Over HTTP/1.1 and h2c (raw frames from Python's `h2`),
//! streamed to the upstream or buffered (`buffer_request_body`), bounded by
//! `timeouts.client_body` or, while the upstream waits for the body, by the route's read timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::Duration;
use support::{TestProxy, Upstream, h2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One endpoint that a single failure would eject.
fn config(timeouts: &str, route: &str, upstream: std::net::SocketAddr) -> String {
    format!(
        "limits: {{ h2c: any }}\ntimeouts: {{ {timeouts} }}\nroutes:\n  - {{ name: up, prefix: /, upstream: up{route} }}\nupstreams:\n  up: {{ endpoints: [\"{upstream}\"], outlier_detection: {{ consecutive_failures: 1 }} }}\n"
    )
}

/// Sends a head announcing 10 body bytes and 5 of them, then waits for the answer.
async fn stalled_h1_upload(p: &TestProxy) -> String {
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

async fn assert_not_charged(p: &TestProxy, up: &Upstream, rejected: f64) {
    let ep = p.endpoint("up", up.addr);
    assert!(!ep.health.is_ejected(), "{:?}", ep.health.snapshot());
    let n = p
        .metric("trinity_proxy_requests_rejected_total{reason=\"body_timeout\",route=\"up\"}")
        .await;
    assert_eq!(n, rejected);
    assert_eq!(p.metric("trinity_proxy_ejections_total").await, 0.0);
    // The endpoint still serves.
    assert_eq!(
        support::HttpClient::default()
            .get(&p.url("/after"))
            .await
            .status,
        200
    );
}

/// The upstream waits for the body, the client pauses past the route's read timeout: this was a
/// 504 "upstream timed out" charged to the endpoint (three such clients ejected a healthy pod).
#[tokio::test]
async fn a_body_paused_past_the_read_timeout_is_408_and_not_the_upstreams_failure() {
    let up = Upstream::echo("up").await;
    let p = TestProxy::start(&config(
        "client_body: 60s",
        ", timeouts: { read: 1s }",
        up.addr,
    ))
    .await;
    for _ in 0..3 {
        let answer = stalled_h1_upload(&p).await;
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(
            answer.contains("\"error\":\"request body timeout\""),
            "{answer}"
        );
        assert!(answer.contains("\"request_id\":"), "{answer}");
    }
    assert_not_charged(&p, &up, 3.0).await;
}

/// `timeouts.client_body` bounds a pause inside the body on a route with a long read timeout.
#[tokio::test]
async fn client_body_bounds_a_pause_inside_an_http1_body() {
    let up = Upstream::echo("up").await;
    let p = TestProxy::start(&config(
        "client_body: 1s",
        ", timeouts: { read: 300s }",
        up.addr,
    ))
    .await;
    let answer = stalled_h1_upload(&p).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert_not_charged(&p, &up, 1.0).await;
}

/// `buffer_request_body` reads the body before any upstream is contacted: a pause there was a
/// 502 after 60 s with an ERROR record.
#[tokio::test]
async fn a_buffered_body_paused_past_client_body_is_408() {
    let up = Upstream::echo("up").await;
    let p = TestProxy::start(&config(
        "client_body: 1s",
        ", buffer_request_body: 64KiB",
        up.addr,
    ))
    .await;
    let answer = stalled_h1_upload(&p).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert_eq!(up.hits(), 0);
    assert_not_charged(&p, &up, 1.0).await;
}

/// POSTs 5 of 10 body bytes over h2c, pauses `pause` seconds, sends the rest; the answer.
async fn paused_h2c_upload(p: &TestProxy, pause: u64) -> serde_json::Value {
    let req = serde_json::json!([{
        "method": "POST", "path": "/upload", "headers": [["content-length", "10"]],
        "data": ["hello", pause, "world"],
    }]);
    h2::requests(p.addr(), &req).await.remove(0)
}

/// Over h2c, streamed: the upstream waits for DATA that does not come.
#[tokio::test]
async fn an_h2c_body_paused_past_the_read_timeout_is_408() {
    let up = Upstream::echo("up").await;
    let route = ", timeouts: { read: 1s }";
    let p = TestProxy::start(&config("client_body: 60s", route, up.addr)).await;
    let answer = paused_h2c_upload(&p, 3).await;
    assert_eq!(answer["status"], 408, "{answer}");
    assert_not_charged(&p, &up, 1.0).await;
}

/// Over h2c, buffered: Pingora reads HTTP/2 bodies without a timeout; this request was held
/// for as long as the client liked.
#[tokio::test]
async fn an_h2c_buffered_body_paused_past_client_body_is_408() {
    let up = Upstream::echo("up").await;
    let route = ", buffer_request_body: 64KiB";
    let p = TestProxy::start(&config("client_body: 1s", route, up.addr)).await;
    let answer = paused_h2c_upload(&p, 5).await;
    assert_eq!(answer["status"], 408, "{answer}");
    assert_eq!(up.hits(), 0);
    assert_not_charged(&p, &up, 1.0).await;
}
