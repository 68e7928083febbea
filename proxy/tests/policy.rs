//! Per-route access policy over real sockets: `allow` on the resolved client IP (and no way around
//! it through odd spellings of the path), `rate_limit` per client IP, `max_body_size`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::{HttpClient, TestProxy, Upstream};

async fn proxy(web: &Upstream, front: &Upstream, client_ip: &str, admin_extra: &str) -> TestProxy {
    TestProxy::start(&format!(
        "{client_ip}\nroutes:\n  - {{ name: admin, prefix: /admin, upstream: web, allow: [\"10.0.0.0/8\", \"fd00::/8\"]{admin_extra} }}\n  - {{ name: frontend, prefix: /, upstream: front }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n  front: {{ endpoints: [\"{}\"] }}\n",
        web.addr, front.addr
    ))
    .await
}

#[tokio::test]
async fn allow_lists_decide_on_the_visitor_behind_a_trusted_tunnel() {
    let web = Upstream::echo("web").await;
    let front = Upstream::echo("front").await;
    let p = proxy(
        &web,
        &front,
        "client_ip: { trusted_proxies: [\"127.0.0.1/32\"], header: cf-connecting-ip }",
        "",
    )
    .await;
    let c = HttpClient::default();
    let denied = c.get(&p.url("/admin/")).await;
    assert_eq!(denied.status, 403, "the tunnel itself is not allowed");
    let j = denied.json();
    assert_eq!(j["error"], "forbidden");
    assert_eq!(j["route"], "admin");
    assert!(j["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    let inside = c
        .get_with(&p.url("/admin/"), &[("cf-connecting-ip", "10.1.2.3")])
        .await;
    assert_eq!(inside.status, 200);
    let outside = c
        .get_with(&p.url("/admin/"), &[("cf-connecting-ip", "8.8.8.8")])
        .await;
    assert_eq!(outside.status, 403);
    assert_eq!(
        c.get(&p.url("/")).await.status,
        200,
        "other routes are open"
    );
    assert_eq!(web.hits(), 1);
    assert_eq!(
        p.metric("trinity_proxy_requests_rejected_total{reason=\"allow\",route=\"admin\"}")
            .await,
        2.0
    );
}

/// Every spelling of `/admin` either meets the allow-list (403), is refused (400), or is routed
/// to another route with a path that is not the admin's: the admin upstream never sees it.
#[tokio::test]
async fn odd_spellings_of_a_protected_path_never_pass_its_allow_list() {
    let web = Upstream::echo("web").await;
    let front = Upstream::echo("front").await;
    let p = proxy(&web, &front, "", "").await;
    let targets = [
        "/admin",
        "/admin/",
        "/admin/login/?next=/",
        "/%61dmin/",
        "/%61%64%6d%69%6e",
        "/./admin/",
        "//admin/",
        "///admin",
        "/x/../admin/",
        "/x/%2e%2e/admin/",
        "/admin/./",
        "/admin%2F",
        "/admin%2fx",
        "/%2Fadmin",
        "/admin%5c",
        "/admin\\x",
        "/admin#frag",
        "/admin?x=/../",
        "http://t/admin/",
        "http://t//admin",
        "HTTP://t/%61dmin",
    ];
    for target in targets {
        let answer = support::raw(
            p.addr(),
            &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
        .await;
        let status = answer.get(9..12).unwrap_or_default().to_owned();
        assert!(
            status == "403" || status == "400" || (status == "200" && answer.contains("\"front\"")),
            "{target}: {answer}"
        );
        if status == "200" {
            assert!(!answer.contains("\"path\":\"/admin"), "{target}: {answer}");
        }
    }
    assert_eq!(
        web.hits(),
        0,
        "a spelling of /admin reached the admin upstream"
    );
}

#[tokio::test]
async fn a_client_past_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let web = Upstream::echo("web").await;
    let front = Upstream::echo("front").await;
    let p = TestProxy::start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nroutes:\n  - {{ name: api, prefix: /api, upstream: web, rate_limit: {{ per_second: 0.5, burst: 2 }} }}\n  - {{ name: frontend, prefix: /, upstream: front }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n  front: {{ endpoints: [\"{}\"] }}\n",
        web.addr, front.addr
    ))
    .await;
    let c = HttpClient::default();
    let visitor = [("x-forwarded-for", "203.0.113.7")];
    for n in 0..3 {
        assert_eq!(
            c.get_with(&p.url("/api/x"), &visitor).await.status,
            200,
            "request {n}"
        );
    }
    let limited = c.get_with(&p.url("/api/x"), &visitor).await;
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    assert_eq!(limited.json()["error"], "too many requests");
    let other = [("x-forwarded-for", "203.0.113.8")];
    assert_eq!(c.get_with(&p.url("/api/x"), &other).await.status, 200);
    assert_eq!(
        c.get_with(&p.url("/"), &visitor).await.status,
        200,
        "per route"
    );
    assert_eq!(
        p.metric("trinity_proxy_requests_rejected_total{reason=\"rate_limit\",route=\"api\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn bodies_past_max_body_size_get_413_up_front_or_when_the_chunks_pass_it() {
    let web = Upstream::echo("web").await;
    let front = Upstream::echo("front").await;
    let p = TestProxy::start(&format!(
        "routes:\n  - {{ name: upload, prefix: /upload, upstream: web, max_body_size: 1KiB }}\n  - {{ name: frontend, prefix: /, upstream: front }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n  front: {{ endpoints: [\"{}\"] }}\n",
        web.addr, front.addr
    ))
    .await;
    let big = "x".repeat(2000);
    let answer = support::raw(
        p.addr(),
        &format!("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n{big}"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("\"request body too large\""), "{answer}");
    assert_eq!(web.hits(), 0, "refused before the upstream");

    let chunked = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n{}\r\n3e8\r\n{}\r\n0\r\n\r\n",
        &big[..1000],
        &big[..1000]
    );
    let answer = support::raw(p.addr(), &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");

    let small = support::raw(
        p.addr(),
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(small.starts_with("HTTP/1.1 200 "), "{small}");
    let open = support::raw(
        p.addr(),
        &format!("POST /other HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{big}"),
    )
    .await;
    assert!(
        open.starts_with("HTTP/1.1 200 "),
        "other routes have no limit: {open}"
    );
    assert_eq!(
        p.metric("trinity_proxy_requests_rejected_total{reason=\"body_size\",route=\"upload\"}")
            .await,
        2.0
    );
}

/// A slow client's small body is read whole before the upstream is contacted on a
/// `buffer_request_body` route; elsewhere the upstream sees the request as soon as its head is in.
#[tokio::test]
async fn buffered_routes_contact_the_upstream_only_once_the_body_is_complete() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let web = Upstream::echo("web").await;
    let front = Upstream::echo("front").await;
    let p = TestProxy::start(&format!(
        "routes:\n  - {{ name: admin, prefix: /admin, upstream: web, buffer_request_body: 16KiB }}\n  - {{ name: frontend, prefix: /, upstream: front }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n  front: {{ endpoints: [\"{}\"] }}\n",
        web.addr, front.addr
    ))
    .await;
    for (path, up) in [("/admin/form", &web), ("/stream", &front)] {
        let mut s = tokio::net::TcpStream::connect(p.addr()).await.unwrap();
        s.write_all(
            format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello")
                .as_bytes(),
        )
        .await
        .unwrap();
        // Give an unbuffered proxy ample time to pass the head on.
        let streamed = async {
            while up.hits() == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let reached = tokio::time::timeout(std::time::Duration::from_millis(500), streamed)
            .await
            .is_ok();
        assert_eq!(
            reached,
            path == "/stream",
            "{path}: upstream contacted mid-body: {reached}"
        );
        s.write_all(b"world").await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{path}: {answer}");
        assert!(answer.contains("\"body_bytes\":10"), "{path}: {answer}");
    }
}
