//! The status page (`GET /` on the admin listener) and the figures it reads from `/status`:
//! served self-contained, windowed route figures after real traffic, and rendered by a real
//! browser (headless Chromium, installed by `make test-deps`) with a route row and an endpoint
//! shown ejected after its stand-in is stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::browser::rendered_dom;
use support::{HttpClient, TestProxy, Upstream};

/// Two stand-ins behind route `web`; one failure ejects an endpoint for a minute.
async fn proxy() -> (TestProxy, Upstream, Upstream) {
    let (a, b) = (Upstream::echo("web-a").await, Upstream::echo("web-b").await);
    let yaml = format!(
        "routes:\n  - {{ name: web, prefix: /, upstream: web }}\n  - {{ name: api, prefix: /api, upstream: web, strip_prefix: true }}\n\
         upstreams:\n  web:\n    endpoints: [\"{}\", \"{}\"]\n    outlier_detection: {{ consecutive_failures: 1, base_ejection_time: 60s }}\n",
        a.addr, b.addr
    );
    (TestProxy::start(&yaml).await, a, b)
}

async fn status(proxy: &TestProxy) -> Value {
    HttpClient::default()
        .get(&proxy.admin_url("/status"))
        .await
        .json()
}

/// Polls `/status` until `pred` holds (bounded).
async fn status_until(proxy: &TestProxy, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(proxy).await;
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen in /status: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn route<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()
}

fn endpoint<'a>(s: &'a Value, addr: &str) -> &'a Value {
    s["upstreams"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == addr)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_self_contained_html() {
    let (proxy, _a, _b) = proxy().await;
    let page = HttpClient::default().get(&proxy.admin_url("/")).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'none'")),
        "the page may load nothing from elsewhere"
    );
    let html = page.body_text();
    assert!(html.len() < 64 * 1024, "{} bytes", html.len());
    assert!(html.contains("fetch(\"status\""), "polls /status");
    for external in ["http://", "https://", "src=\"", "<link"] {
        assert!(!html.contains(external), "external asset: {external}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_has_last_minute_figures_per_route() {
    let (proxy, _a, _b) = proxy().await;
    let c = HttpClient::default();
    // The sampler needs two samples (one second apart) around the traffic.
    let s = status_until(&proxy, "a first sample", |s| {
        !route(s, "web")["stats"].is_null()
    })
    .await;
    assert_eq!(route(&s, "web")["stats"]["requests_per_second"], 0.0);
    for _ in 0..20 {
        assert_eq!(c.get(&proxy.url("/x")).await.status, 200);
    }
    c.get(&proxy.url("/api/y")).await;
    let s = status_until(&proxy, "20 requests on route web", |s| {
        let rps = route(s, "web")["stats"]["requests_per_second"]
            .as_f64()
            .unwrap();
        rps > 0.0
            && route(s, "web")["stats"]["history"]["requests_per_second"]
                .as_array()
                .is_some_and(|h| !h.is_empty())
    })
    .await;
    let web = &route(&s, "web")["stats"];
    assert_eq!(web["window_seconds"], 60);
    assert_eq!(web["error_ratio"], 0.0);
    let (p50, p99) = (
        web["p50_ms"].as_f64().unwrap(),
        web["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99, "p50 {p50} p99 {p99}");
    assert!(
        p99 < 1000.0,
        "loopback requests take less than a second: {p99}"
    );
    assert_eq!(s["upstreams"][0]["eligible_endpoints"], 2);
    assert_eq!(s["upstreams"][0]["panic"], false);
    assert!(s["uptime_seconds"].as_u64().is_some());
    assert!(
        s["open_connections"].as_i64().unwrap() >= 1,
        "the client's keep-alive connection"
    );
    assert_eq!(s["reload"]["last_successful"], true);
}

/// Requests through the proxy until the stopped stand-in `addr` is ejected (a connect failure
/// ejects it; the request is retried on the other one).
async fn await_ejection(proxy: &TestProxy, addr: &str) -> Value {
    let c = HttpClient::default();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(proxy).await;
        if endpoint(&s, addr)["state"] == "ejected" {
            return s;
        }
        assert!(Instant::now() < deadline, "{addr} never ejected: {s:#}");
        assert_eq!(
            c.get(&proxy.url("/")).await.status,
            200,
            "retried on the other endpoint"
        );
    }
}

/// The `<tr>` element whose opening tag contains `attr`.
fn row<'a>(dom: &'a str, attr: &str) -> &'a str {
    let start = dom
        .find(attr)
        .unwrap_or_else(|| panic!("no {attr} in the rendered page:\n{dom}"));
    let start = dom[..start].rfind("<tr").unwrap();
    let end = start + dom[start..].find("</tr>").unwrap();
    &dom[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_routes_and_an_ejected_endpoint() {
    let (proxy, a, b) = proxy().await;
    let (a_addr, b_addr) = (a.addr.to_string(), b.addr.to_string());
    b.kill().await;
    await_ejection(&proxy, &b_addr).await;

    let dom = rendered_dom(&proxy.admin_url("/")).await;
    let web = row(&dom, "data-route=\"web\"");
    assert!(web.contains("<b>web</b>"), "{web}");
    let api = row(&dom, "data-route=\"api\"");
    assert!(
        api.contains("<code>/api</code>") && api.contains("<td>yes</td>"),
        "{api}"
    );
    let ejected = row(&dom, &format!("data-endpoint=\"{b_addr}\""));
    assert!(
        ejected.contains(">ejected (") && ejected.contains(" s left)"),
        "the stopped stand-in is shown ejected, in words: {ejected}"
    );
    let healthy = row(&dom, &format!("data-endpoint=\"{a_addr}\""));
    assert!(healthy.contains(">healthy<"), "{healthy}");
    assert!(
        dom.contains("degraded: 1 of 2 eligible"),
        "the upstream's state in words"
    );
    assert!(
        dom.contains(r#"<div id="banner" class="bad" role="alert"></div>"#),
        "no error banner: the page read /status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_last_reloads_with_their_problems() {
    let up = Upstream::echo("web").await;
    let good = format!(
        "routes:\n  - {{ name: web, prefix: /, upstream: web }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let fp = support::FileProxy::start(&good).await;
    let s = status(&fp.proxy).await;
    assert_eq!(s["reload"]["last_successful"], true);
    assert!(
        s["reload"]["last_success_at"].is_null(),
        "no reload yet: {s:#}"
    );

    fp.rewrite(&good.replace("prefix: /", "prefix: /x, timeouts: { read: soon }"))
        .await;
    let s = status(&fp.proxy).await;
    let reload = &s["reload"];
    assert_eq!(reload["last_successful"], false, "{s:#}");
    assert!(reload["last_failure_at"].as_f64().is_some());
    let problems = reload["last_failure_problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| {
            let p = p.as_str().unwrap();
            p.contains("trinity.yaml:2:") && p.contains("routes[0].timeouts.read")
        }),
        "FILE:LINE:COL problems: {problems:?}"
    );

    fp.rewrite(&good.replace("name: web", "name: web2")).await;
    let s = status(&fp.proxy).await;
    let reload = &s["reload"];
    assert_eq!(reload["last_successful"], true, "{s:#}");
    assert!(reload["last_success_at"].as_f64().is_some());
    assert!(
        reload["last_failure_at"].as_f64().is_some(),
        "the last failure stays shown"
    );
    assert_eq!(route(&s, "web2")["upstream"], "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_shows_a_rejected_reload_with_its_problems() {
    let up = Upstream::echo("web").await;
    let good = format!(
        "routes:\n  - {{ name: web, prefix: /, upstream: web }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let fp = support::FileProxy::start(&good).await;
    fp.rewrite(&good.replace("prefix: /", "prefix: /x, timeouts: { read: soon }"))
        .await;
    assert_eq!(status(&fp.proxy).await["reload"]["last_successful"], false);

    let dom = rendered_dom(&fp.proxy.admin_url("/")).await;
    assert!(
        dom.contains(">last reload rejected<"),
        "the header says it in words"
    );
    assert!(dom.contains("rejected: the previous config keeps serving"));
    let problems = dom
        .find("Problems of the last rejected file:")
        .map(|i| &dom[i..])
        .expect("the problems are listed");
    let pre = &problems[..problems.find("</pre>").unwrap()];
    assert!(
        pre.contains("trinity.yaml:2:") && pre.contains("routes[0].timeouts.read"),
        "FILE:LINE:COL: field.path: problem: {pre}"
    );
    assert!(
        row(&dom, "data-route=\"web\"").contains("<b>web</b>"),
        "the old config still serves"
    );
}
