//! Request heads that must not reach an upstream as sent, over raw sockets: `Content-Length`
//! lists and repeats (400, as nginx), `Host` values outside the grammar (400), and an HTTP/1.0
//! request without `Host`, which is sent upstream as HTTP/1.1 and so gets one.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::{TestProxy, Upstream, raw};

async fn proxy_to(up: std::net::SocketAddr, host: &str) -> TestProxy {
    TestProxy::start(&format!(
        "limits: {{ h2c: any }}\nroutes:\n  - {{ name: named, prefix: /named, host: app.example, upstream: app }}\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{up}\"] }}\n{host}"
    ))
    .await
}

#[tokio::test]
async fn content_length_lists_and_repeats_get_400_and_never_reach_the_upstream() {
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr, "").await;
    for fields in [
        "Content-Length: 3,3",
        "Content-Length: 3, 3",
        "Content-Length: 3\r\nContent-Length: 3",
        "Content-Length: 3\r\nContent-Length: 003",
    ] {
        let answer = raw(
            p.addr(),
            &format!("POST /x HTTP/1.1\r\nHost: t\r\n{fields}\r\nConnection: close\r\n\r\nabc"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{fields:?}: {answer}");
        assert!(answer.contains("Content-Length"), "{fields:?}: {answer}");
    }
    assert_eq!(up.hits(), 0);
    let ok = raw(
        p.addr(),
        "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 003\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    assert!(ok.contains("\"body_bytes\":3"), "{ok}");
}

#[tokio::test]
async fn host_values_outside_the_grammar_get_400() {
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr, "").await;
    for host in ["x/admin", "a b", "x?y", "x#y", "h:abc", "", "u@h"] {
        let answer = raw(
            p.addr(),
            &format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{host:?}: {answer}");
        assert!(answer.contains("invalid Host header"), "{host:?}: {answer}");
    }
    assert_eq!(up.hits(), 0);
    for host in ["t", "t:8080", "[::1]:80", "127.0.0.1"] {
        let answer = raw(
            p.addr(),
            &format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{host:?}: {answer}");
        assert!(
            answer.contains(&format!("\"x-forwarded-host\":\"{host}\"")),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn an_http10_request_without_host_gets_the_listeners_address_as_host() {
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr, "").await;
    let answer = raw(p.addr(), "GET /x HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let listener = p.addr().to_string();
    assert!(
        answer.contains(&format!("\"host\":\"{listener}\"")),
        "{answer}"
    );
    assert!(
        answer.contains(&format!("\"x-forwarded-host\":\"{listener}\"")),
        "{answer}"
    );
    // An absolute-form target (routed on its authority) gives its authority.
    let answer = raw(p.addr(), "GET http://app.example/named HTTP/1.0\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("\"host\":\"app.example\""), "{answer}");
}

/// Over h2c, Pingora already refuses a `Host` that differs from `:authority` (and `http::Uri`
/// an `:authority` outside the grammar): a regression check, not a check of our own.
#[tokio::test]
async fn an_h2c_request_with_a_host_outside_the_grammar_gets_400() {
    use bytes::Bytes;
    use http_body_util::Full;
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr, "").await;
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let own = p.addr().to_string();
    for (host, want) in [("x/admin", 400), ("a b", 400), (own.as_str(), 200)] {
        let req = http::Request::get(p.url("/x"))
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = h2.request(req).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), want, "{host:?}");
    }
    assert_eq!(up.hits(), 1);
}
