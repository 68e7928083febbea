//! `make screenshot`: the README's picture of the status page (docs/status-page.png), taken by
//! headless Chromium from a proxy with Trinity-like stand-ins after two minutes of traffic (still running when the picture is taken): one
//! fastapi replica stopped (ejected), a route answering some 5xx, a slow AI route, and a
//! minio-console whose only replica is down (unhealthy, no eligible endpoint).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use std::sync::Arc;
use std::time::Duration;
use support::{Handler, Load, TestProxy, Upstream, echo_handler, slow_echo};

/// Echoes after `delay`; paths containing `fail` answer 500.
fn app(name: &'static str, delay: Duration) -> Handler {
    let echo = echo_handler(name);
    Arc::new(move |req| {
        let echo = echo.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if req.uri().path().contains("fail") {
                let mut resp = Response::new(Full::new(Bytes::from_static(b"{}")));
                *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                return resp;
            }
            echo(req).await
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the README's screenshot: make screenshot"]
async fn screenshot() {
    let out = std::env::var("SCREENSHOT").expect("SCREENSHOT=/path/to/file.png");
    let seconds: u64 = std::env::var("SCREENSHOT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let ms = Duration::from_millis;
    let frontend = [
        Upstream::spawn(app("frontend-1", ms(2))).await,
        Upstream::spawn(app("frontend-2", ms(3))).await,
    ];
    let fastapi = [
        Upstream::spawn(app("fastapi-1", ms(6))).await,
        Upstream::spawn(app("fastapi-2", ms(6))).await,
    ];
    let web = [Upstream::spawn(app("web-1", ms(12))).await];
    let ai = [Upstream::spawn(slow_echo("trinity-ai", ms(45))).await];
    let minio = [Upstream::echo("minio-console").await];
    let list = |ups: &[Upstream]| {
        ups.iter()
            .map(|u| format!("\"{}\"", u.addr))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let check = "health_check: { path: /, interval: 1s, timeout: 500ms }";
    let yaml = format!(
        "routes:\n\
         \x20 - {{ name: frontend, prefix: /, upstream: frontend }}\n\
         \x20 - {{ name: api, prefix: /api, upstream: fastapi }}\n\
         \x20 - {{ name: admin, prefix: /admin, upstream: web, redirect_trailing_slash: true }}\n\
         \x20 - {{ name: trinityai, prefix: /trinityai, upstream: trinity-ai, timeouts: {{ read: 300s }} }}\n\
         \x20 - {{ name: minio-console, prefix: /minio-console, upstream: minio-console, strip_prefix: true }}\n\
         upstreams:\n\
         \x20 frontend: {{ endpoints: [{}], {check} }}\n\
         \x20 fastapi: {{ endpoints: [{}], load_balancing: least_request, outlier_detection: {{ base_ejection_time: 300s }} }}\n\
         \x20 web: {{ endpoints: [{}], {check} }}\n\
         \x20 trinity-ai: {{ endpoints: [{}], {check} }}\n\
         \x20 minio-console: {{ endpoints: [{}], {check} }}\n",
        list(&frontend),
        list(&fastapi),
        list(&web),
        list(&ai),
        list(&minio)
    );
    let proxy = TestProxy::start(&yaml).await;
    fastapi[1].kill().await;
    minio[0].kill().await;
    let loads = [
        Load::start(proxy.url("/"), 2),
        Load::start(proxy.url("/api/v1/items"), 2),
        Load::start(proxy.url("/admin/"), 1),
        Load::start(proxy.url("/admin/fail"), 1),
        Load::start(proxy.url("/trinityai/chat"), 2),
    ];
    tokio::time::sleep(Duration::from_secs(seconds)).await;

    let args = [
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1360,1180",
    ];
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--screenshot={out}"));
    support::browser::chromium(&args, &proxy.admin_url("/")).await;
    assert!(std::fs::metadata(&out).unwrap().len() > 10_000, "{out}");
    for load in loads {
        load.stop().await;
    }
}
