//! End-to-end routing through the running proxy: the five Trinity routes, segment boundaries,
//! normalisation and rejection, strip_prefix + Location, trailing-slash redirect, exact and wildcard
//! hosts, 404/503 JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::{HttpClient, TestProxy, Upstream, fixed, raw};

async fn trinity() -> (TestProxy, Vec<Upstream>) {
    let names = ["web", "fastapi", "trinity-ai", "minio-console", "frontend"];
    let mut ups = Vec::new();
    for n in names {
        ups.push(Upstream::echo(n).await);
    }
    let yaml = format!(
        r#"
routes:
  - {{ name: admin, prefix: /admin, upstream: web, redirect_trailing_slash: true }}
  - {{ name: api, prefix: /api, upstream: fastapi }}
  - {{ name: trinityai, prefix: /trinityai, upstream: trinity-ai, timeouts: {{ read: 300s }} }}
  - {{ name: minio-console, prefix: /minio-console, upstream: minio-console, strip_prefix: true }}
  - {{ name: frontend, prefix: /, upstream: frontend }}
upstreams:
  web: {{ endpoints: ["{}"] }}
  fastapi: {{ endpoints: ["{}"] }}
  trinity-ai: {{ endpoints: ["{}"] }}
  minio-console: {{ endpoints: ["{}"] }}
  frontend: {{ endpoints: ["{}"] }}
"#,
        ups[0].addr, ups[1].addr, ups[2].addr, ups[3].addr, ups[4].addr
    );
    (TestProxy::start(&yaml).await, ups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trinity_route_reaches_its_upstream() {
    let (proxy, _ups) = trinity().await;
    let c = HttpClient::default();
    let cases = [
        ("/admin/", "web", "/admin/"),
        ("/admin/login/?next=/admin/", "web", "/admin/login/"),
        ("/api", "fastapi", "/api"),
        ("/api/v1/items?x=1&y=%20z", "fastapi", "/api/v1/items"),
        (
            "/trinityai/chat/stream",
            "trinity-ai",
            "/trinityai/chat/stream",
        ),
        ("/minio-console/browser", "minio-console", "/browser"),
        ("/", "frontend", "/"),
        ("/apiary", "frontend", "/apiary"),
        ("/administrator", "frontend", "/administrator"),
        ("/metrics", "frontend", "/metrics"),
    ];
    for (path, upstream, seen) in cases {
        let a = c.get(&proxy.url(path)).await;
        assert_eq!(a.status, 200, "{path}");
        let j = a.json();
        assert_eq!(j["upstream"], upstream, "{path}");
        assert_eq!(j["path"], seen, "{path}");
    }
    let j = c.get(&proxy.url("/api/v1/items?x=1&y=%20z")).await.json();
    assert_eq!(
        j["query"], "x=1&y=%20z",
        "query strings pass through untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_normalised_before_routing_and_sent_normalised() {
    let (proxy, _ups) = trinity().await;
    let c = HttpClient::default();
    let j = c.get(&proxy.url("/api/../admin/?q=1")).await.json();
    assert_eq!(
        (j["upstream"].as_str(), j["path"].as_str()),
        (Some("web"), Some("/admin/"))
    );
    assert_eq!(j["query"], "q=1");
    let j = c.get(&proxy.url("/api/%2e%2e/admin/x")).await.json();
    assert_eq!(
        (j["upstream"].as_str(), j["path"].as_str()),
        (Some("web"), Some("/admin/x"))
    );
    let j = c.get(&proxy.url("//api//v1")).await.json();
    assert_eq!(
        (j["upstream"].as_str(), j["path"].as_str()),
        (Some("fastapi"), Some("/api/v1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_paths_are_rejected_with_400_json() {
    let (proxy, ups) = trinity().await;
    let c = HttpClient::default();
    for path in [
        "/api/..%2fadmin",
        "/a%2Fb",
        "/admin%5cx",
        "/..",
        "/api/../../etc/passwd",
        "/a%zz",
    ] {
        let a = c.get(&proxy.url(path)).await;
        assert_eq!(a.status, 400, "{path}");
        let j = a.json();
        assert_eq!(j["error"], "bad request");
        assert_eq!(j["request_id"].as_str(), a.header("x-request-id"));
    }
    let answer = raw(
        proxy.addr(),
        "GET /admin\\x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(
        ups.iter().map(Upstream::hits).sum::<usize>(),
        0,
        "nothing reached an upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_slash_redirect_keeps_the_query() {
    let (proxy, ups) = trinity().await;
    let c = HttpClient::default();
    let a = c.get(&proxy.url("/admin?next=/x")).await;
    assert_eq!(a.status, 301);
    assert_eq!(a.header("location"), Some("/admin/?next=/x"));
    let a = c.get(&proxy.url("/admin")).await;
    assert_eq!(a.header("location"), Some("/admin/"));
    assert_eq!(ups[0].hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strip_prefix_sets_forwarded_prefix_and_rewrites_location() {
    let console = Upstream::spawn(fixed(302, &[("location", "/login?redirect=%2F")])).await;
    let echo = Upstream::echo("minio-console").await;
    let yaml = format!(
        r#"
routes:
  - {{ name: console, prefix: /minio-console, upstream: console, strip_prefix: true }}
  - {{ name: echo, prefix: /echo, upstream: echo, strip_prefix: true }}
upstreams:
  console: {{ endpoints: ["{}"] }}
  echo: {{ endpoints: ["{}"] }}
"#,
        console.addr, echo.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let c = HttpClient::default();
    let a = c.get(&proxy.url("/minio-console/")).await;
    assert_eq!(a.status, 302);
    assert_eq!(
        a.header("location"),
        Some("/minio-console/login?redirect=%2F")
    );

    let j = c.get(&proxy.url("/echo")).await.json();
    assert_eq!(j["path"], "/");
    assert_eq!(j["headers"]["x-forwarded-prefix"], "/echo");
    let j = c.get(&proxy.url("/echo/x/y?z=1")).await.json();
    assert_eq!(
        (j["path"].as_str(), j["query"].as_str()),
        (Some("/x/y"), Some("z=1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_and_host_routes() {
    let a = Upstream::echo("a").await;
    let b = Upstream::echo("b").await;
    let yaml = format!(
        r#"
routes:
  - {{ name: api, prefix: /api, upstream: a }}
  - {{ name: health, path: /api/health, upstream: b }}
  - {{ name: shop, prefix: /, host: shop.example.com, upstream: b }}
upstreams:
  a: {{ endpoints: ["{}"] }}
  b: {{ endpoints: ["{}"] }}
"#,
        a.addr, b.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let c = HttpClient::default();
    assert_eq!(
        c.get(&proxy.url("/api/health")).await.json()["upstream"],
        "b"
    );
    assert_eq!(
        c.get(&proxy.url("/api/health/x")).await.json()["upstream"],
        "a"
    );
    let shop = c
        .get_with(&proxy.url("/api/x"), &[("host", "Shop.Example.com:8080")])
        .await
        .json();
    assert_eq!(shop["upstream"], "b");
    assert_eq!(
        shop["headers"]["host"], "Shop.Example.com:8080",
        "Host passes unchanged"
    );

    let miss = c.get(&proxy.url("/nothing/here")).await;
    assert_eq!(miss.status, 404);
    let j = miss.json();
    assert_eq!(j["error"], "no route");
    assert_eq!(j["path"], "/nothing/here");
    assert_eq!(j["request_id"].as_str(), miss.header("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_host_takes_one_label_and_yields_to_the_exact_host() {
    let wild = Upstream::echo("wild").await;
    let shop = Upstream::echo("shop").await;
    let any = Upstream::echo("any").await;
    let yaml = format!(
        r#"
routes:
  - {{ name: wild, prefix: /, host: "*.example.com", upstream: wild }}
  - {{ name: shop, prefix: /api, host: shop.example.com, upstream: shop }}
  - {{ name: any, prefix: /, upstream: any }}
upstreams:
  wild: {{ endpoints: ["{}"] }}
  shop: {{ endpoints: ["{}"] }}
  any: {{ endpoints: ["{}"] }}
"#,
        wild.addr, shop.addr, any.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let c = HttpClient::default();
    let cases = [
        ("a.example.com", "/x", "wild"),
        ("A.Example.com:8080", "/x", "wild"),
        ("example.com", "/x", "any"),
        ("x.y.example.com", "/x", "any"),
        ("shop.example.com", "/api/cart", "shop"),
        ("shop.example.com", "/static", "wild"),
    ];
    for (host, path, upstream) in cases {
        let j = c.get_with(&proxy.url(path), &[("host", host)]).await.json();
        assert_eq!(j["upstream"], upstream, "{host}{path}");
        assert_eq!(j["headers"]["host"], host, "Host passes unchanged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_without_endpoints_is_503_json() {
    let yaml = "routes:\n  - { name: api, prefix: /api, upstream: empty }\nupstreams:\n  empty: { endpoints: [] }\n";
    let proxy = TestProxy::start(yaml).await;
    let a = HttpClient::default().get(&proxy.url("/api/x")).await;
    assert_eq!(a.status, 503);
    let j = a.json();
    assert_eq!(
        (
            j["error"].as_str(),
            j["route"].as_str(),
            j["upstream"].as_str()
        ),
        (Some("no endpoints"), Some("api"), Some("empty"))
    );
}
