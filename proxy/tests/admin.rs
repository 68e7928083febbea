//! The admin listener: /healthz, /readyz, /status, and a /metrics scrape after real traffic that
//! `promtool check metrics` accepts. The public listeners never serve the admin endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use support::{HttpClient, TestProxy, Upstream, dead_addr};

async fn proxy() -> (TestProxy, Upstream) {
    let up = Upstream::echo("frontend").await;
    let yaml = format!(
        "routes:\n  - {{ name: frontend, prefix: /, upstream: frontend }}\n  - {{ name: api, prefix: /api, upstream: api }}\nupstreams:\n  frontend: {{ endpoints: [\"{}\"] }}\n  api: {{ endpoints: [\"{}\", \"{}\"] }}\n",
        up.addr,
        dead_addr().await,
        up.addr
    );
    (TestProxy::start(&yaml).await, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_status() {
    let (proxy, up) = proxy().await;
    let c = HttpClient::default();
    assert_eq!(c.get(&proxy.admin_url("/healthz")).await.status, 200);
    assert_eq!(c.get(&proxy.admin_url("/readyz")).await.status, 200);
    assert_eq!(c.get(&proxy.admin_url("/nope")).await.status, 404);
    c.get(&proxy.url("/x")).await;

    let status = c.get(&proxy.admin_url("/status")).await.json();
    let routes: Vec<&str> = status["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["frontend", "api"]);
    let frontend = status["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "frontend")
        .unwrap();
    assert_eq!(frontend["endpoints"][0]["address"], up.addr.to_string());
    assert_eq!(frontend["endpoints"][0]["requests"], 1);
    // (in_flight drops when the proxy finishes its bookkeeping, just after the client has the answer)
    assert!(frontend["endpoints"][0]["in_flight"].as_u64().is_some());

    // /metrics on a public listener is just a path, routed to the frontend.
    let public = c.get(&proxy.url("/metrics")).await.json();
    assert_eq!(public["upstream"], "frontend");
    assert_eq!(c.get(&proxy.url("/readyz")).await.json()["path"], "/readyz");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_traffic_pass_promtool() {
    let (proxy, _up) = proxy().await;
    let c = HttpClient::default();
    for path in ["/", "/a", "/api/x", "/api/y", "/api/z", "/%2f"] {
        c.get(&proxy.url(path)).await;
    }
    // Requests are counted when the proxy finishes them, which can be just after the client has
    // its answer: scrape until the last one is in (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let text = loop {
        let scrape = c.get(&proxy.admin_url("/metrics")).await;
        assert_eq!(scrape.status, 200);
        let text = String::from_utf8(scrape.body.to_vec()).unwrap();
        let counted: u64 = text
            .lines()
            .filter(|l| l.starts_with("trinity_proxy_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        if counted >= 6 || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    for needle in [
        r#"trinity_proxy_requests_total{code="200",method="GET",route="frontend"} 2"#,
        r#"trinity_proxy_requests_total{code="200",method="GET",route="api"} 3"#,
        r#"trinity_proxy_requests_total{code="400",method="GET",route="none"} 1"#,
        r#"trinity_proxy_request_duration_seconds_count{route="api"} 3"#,
        "trinity_proxy_upstream_request_duration_seconds_count{endpoint=",
        r#"trinity_proxy_build_info{version=""#,
        r#"trinity_proxy_retries_total{reason="connect_failure",route="api"}"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }

    let open: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("trinity_proxy_downstream_connections "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        open >= 1.0,
        "the client's keep-alive connection is open: {open}"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; `make test` installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
