//! Connect failures: retried on another endpoint for any method; all down → 502 JSON; timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::sync::Arc;
use std::time::Duration;
use support::{HttpClient, TestProxy, Upstream, dead_addr};

fn two_replicas(a: std::net::SocketAddr, b: std::net::SocketAddr) -> String {
    format!(
        "routes:\n  - {{ name: api, prefix: /api, upstream: fastapi }}\nupstreams:\n  fastapi: {{ endpoints: [\"{a}\", \"{b}\"] }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_costs_clients_nothing() {
    let alive = Upstream::echo("alive").await;
    let doomed = Upstream::echo("doomed").await;
    let proxy = TestProxy::start(&two_replicas(alive.addr, doomed.addr)).await;
    let client = HttpClient::default();
    // Warm both replicas (and the proxy's upstream keep-alive pool), then kill one.
    for _ in 0..20 {
        assert_eq!(client.get(&proxy.url("/api/warm")).await.status, 200);
    }
    assert!(doomed.hits() > 0);
    doomed.kill().await;

    let url = Arc::new(proxy.url("/api/x"));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for i in 0..150 {
                // Mix methods: connect failures are retried for any method.
                let method = if (worker + i) % 3 == 0 { "POST" } else { "GET" };
                let req = Request::builder()
                    .method(method)
                    .uri(url.as_str())
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .unwrap();
                match client.send(req).await {
                    Ok(a) if a.status == 200 => {}
                    Ok(a) => errors.push(format!(
                        "{method} -> {} {}",
                        a.status,
                        String::from_utf8_lossy(&a.body)
                    )),
                    Err(e) => errors.push(format!("{method} -> {e}")),
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.unwrap());
    }
    assert!(
        errors.is_empty(),
        "{} client errors over 1200 requests: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(alive.hits() >= 1200);
    assert!(
        proxy
            .metric("trinity_proxy_retries_total{reason=\"connect_failure\",route=\"api\"}")
            .await
            > 0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_replicas_down_is_502_json_naming_route_and_upstream() {
    let proxy = TestProxy::start(&two_replicas(dead_addr().await, dead_addr().await)).await;
    let started = std::time::Instant::now();
    let a = HttpClient::default().get(&proxy.url("/api/x")).await;
    assert_eq!(a.status, 502);
    let j = a.json();
    assert_eq!(j["error"], "upstream unavailable");
    assert_eq!(j["route"], "api");
    assert_eq!(j["upstream"], "fastapi");
    assert_eq!(j["request_id"].as_str(), a.header("x-request-id"));
    assert_eq!(
        a.header("connection"),
        Some("close"),
        "the proxy closes after a failed attempt, and says so"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused connections fail fast"
    );
    assert_eq!(
        proxy
            .metric("trinity_proxy_retries_total{reason=\"connect_failure\",route=\"api\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded_by_config() {
    let alive = Upstream::echo("alive").await;
    let yaml = format!(
        "routes:\n  - {{ name: api, prefix: /, upstream: u }}\nupstreams:\n  u: {{ retries: 0, endpoints: [\"{}\", \"{}\"] }}\n",
        dead_addr().await,
        alive.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let c = HttpClient::default();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(c.get(&proxy.url("/")).await.status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 502, 502],
        "retries: 0 means the dead endpoint's requests fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_is_504_json() {
    let hang: support::Handler = Arc::new(|_req| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            http::Response::new(Full::new(Bytes::new()))
        })
    });
    let slow = Upstream::spawn(hang).await;
    let yaml = format!(
        "routes:\n  - {{ name: ai, prefix: /, upstream: ai, timeouts: {{ read: 300ms }} }}\nupstreams:\n  ai: {{ retries: 0, endpoints: [\"{}\"] }}\n",
        slow.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let a = HttpClient::default().get(&proxy.url("/")).await;
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["error"], "upstream timed out");
}
