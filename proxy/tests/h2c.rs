//! HTTP/2 with prior knowledge (cloudflared's `http2Origin: true`) on the public listener, with a
//! real h2 client (hyper): routing on `:authority`, forwarding headers, policy, limits, metrics,
//! and HTTP/1.1 still served on the same listener.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support::{HttpClient, TestProxy, Upstream};

fn h2_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

async fn send(
    c: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let resp = c.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_requests_are_routed_forwarded_and_policed_like_http1() {
    let api = Upstream::echo("api").await;
    let admin = Upstream::echo("admin").await;
    let front = Upstream::echo("front").await;
    let p = TestProxy::start(&format!(
        "limits: {{ max_header_bytes: 4KiB, h2c: any }}\nroutes:\n  - {{ name: api, prefix: /api, host: localhost, upstream: api, strip_prefix: true }}\n  - {{ name: admin, prefix: /admin, upstream: admin, allow: [\"10.0.0.0/8\"] }}\n  - {{ name: frontend, prefix: /, upstream: front }}\nupstreams:\n  api: {{ endpoints: [\"{}\"] }}\n  admin: {{ endpoints: [\"{}\"] }}\n  front: {{ endpoints: [\"{}\"] }}\n",
        api.addr, admin.addr, front.addr
    ))
    .await;
    let c = h2_client();
    let port = p.addr().port();

    // Routed on :authority, prefix stripped, forwarding headers set.
    // `localhost` resolves to the proxy's address: it becomes the :authority of the request.
    let req = Request::get(format!("http://localhost:{port}/api/items?x=1"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, j) = send(&c, req).await;
    assert_eq!(status, 200);
    assert_eq!(j["upstream"], "api");
    assert_eq!(j["path"], "/items");
    assert_eq!(j["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(j["headers"]["x-forwarded-prefix"], "/api");
    assert!(headers.contains_key("x-request-id"));

    // Many streams on one connection.
    let mut all = Vec::new();
    for i in 0..20 {
        let c = c.clone();
        let url = format!("http://{}/page/{i}", p.addr());
        all.push(tokio::spawn(async move {
            send(&c, Request::get(url).body(Full::new(Bytes::new())).unwrap()).await
        }));
    }
    for (i, h) in all.into_iter().enumerate() {
        let (status, _, j) = h.await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(j["path"], format!("/page/{i}"));
    }

    // A POST body.
    let (status, _, j) = send(
        &c,
        Request::post(format!("http://{}/form", p.addr()))
            .body(Full::new(Bytes::from_static(b"a=1&b=2")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(j["body_bytes"], 7);

    // Policy: the allow-list holds over h2 too.
    let (status, _, j) = send(
        &c,
        Request::get(format!("http://{}/admin/", p.addr()))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(j["route"], "admin");
    assert_eq!(admin.hits(), 0);

    // A header list past max_header_bytes is refused (431) without reaching an upstream.
    let hits = front.hits();
    let big = "a".repeat(8000);
    let resp = c
        .request(
            Request::get(format!("http://{}/big", p.addr()))
                .header("x-big", big.as_str())
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
    match resp {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => println!("refused as a stream error: {e:?}"),
    }
    assert_eq!(front.hits(), hits);

    // HTTP/1.1 on the same listener, and the metrics count both.
    assert_eq!(HttpClient::default().get(&p.url("/h1")).await.status, 200);
    let n = p
        .metric("trinity_proxy_requests_total{code=\"200\",method=\"GET\",route=\"frontend\"}")
        .await;
    assert_eq!(n, 21.0);
}

/// An h2c connection without streams is closed after the keep-alive timeout, like HTTP/1.1.
#[tokio::test]
async fn an_idle_h2c_connection_is_closed_after_the_keepalive_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = Upstream::echo("front").await;
    let mut config = trinity_proxy::config::Config::parse(
        &format!(
            "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nlimits: {{ h2c: any }}\nroutes:\n  - {{ name: f, prefix: /, upstream: f }}\nupstreams:\n  f: {{ endpoints: [\"{}\"] }}\n",
            up.addr
        ),
        "test.yaml",
    )
    .unwrap();
    config.threads = 2;
    let options = trinity_proxy::server::Options {
        keepalive_timeout: Some(std::time::Duration::from_secs(1)),
        ..Default::default()
    };
    let server = trinity_proxy::server::Server::start_with(&config, options)
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(server.listen_addrs[0])
        .await
        .unwrap();
    // The client preface and an empty SETTINGS frame, then nothing.
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut sink))
        .await
        .expect("still open after 10 s")
        .unwrap_or_default();
    assert!(!sink.is_empty(), "the server's SETTINGS came first");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
