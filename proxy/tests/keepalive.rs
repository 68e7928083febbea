//! The connection loop (`keepalive.rs`) over raw sockets: the bytes it reads while waiting for a
//! request reach Pingora intact (a body in the same read, a header split across reads, pipelined
//! requests), kept-alive connections serve request after request, and a closed one is released.
//! The keep-alive timeout counts from the end of the last request, and waiting for the next
//! request does not make the worker wake itself.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::time::Duration;
use support::{TestProxy, Upstream, echo_handler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trinity_proxy::config::Config;
use trinity_proxy::server::{Options, Server};

async fn proxy() -> (TestProxy, Upstream) {
    let up = Upstream::echo("api").await;
    let yaml = format!(
        "routes:\n  - {{ name: api, prefix: /, upstream: api }}\nupstreams:\n  api: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    (TestProxy::start(&yaml).await, up)
}

/// Reads one response with a Content-Length body; returns (status line, headers, body).
async fn response(s: &mut TcpStream, pending: &mut Vec<u8>) -> (String, String, Vec<u8>) {
    let read = async {
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(pending[..end].to_vec()).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().unwrap())
                    })
                    .expect("a Content-Length");
                if pending.len() >= end + 4 + len {
                    let body = pending[end + 4..end + 4 + len].to_vec();
                    pending.drain(..end + 4 + len);
                    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
                    return (status.to_owned(), headers.to_owned(), body);
                }
            }
            let mut buf = [0u8; 8192];
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response: {pending:?}");
            pending.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no response within 10 s")
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn a_body_larger_than_the_first_read_arrives_whole_and_the_connection_goes_on() {
    let (p, _up) = proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let body = vec![b'x'; 10_000];
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    s.write_all(&req).await.unwrap();
    let mut pending = Vec::new();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["body_bytes"], 10_000);

    s.write_all(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["path"], "/next");
}

#[tokio::test]
async fn a_header_split_across_writes_is_put_together() {
    let (p, _up) = proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut pending = Vec::new();
    for round in 0..3 {
        s.write_all(b"GET /split/").await.unwrap();
        // Not synchronisation: a gap so that the proxy's first read most likely sees a partial
        // header (the test also passes if the two writes arrive together).
        tokio::time::sleep(Duration::from_millis(30)).await;
        s.write_all(format!("{round} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (status, _, answer) = response(&mut s, &mut pending).await;
        assert!(status.ends_with("200 OK"), "{status}");
        assert_eq!(json(&answer)["path"], format!("/split/{round}"));
    }
}

/// A pipelining client (RFC 9112 §9.3.2) gets every answer, in order, and its connection stays
/// usable: the transport holds the next request back until the current one is answered, whatever
/// body framing comes before it.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_the_connection_goes_on() {
    let (p, up) = proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(
        b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello\
          POST /three HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /four HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    let mut pending = Vec::new();
    for (path, body_bytes) in [("/one", 0), ("/two", 5), ("/three", 3), ("/four", 0)] {
        let (status, _, answer) = response(&mut s, &mut pending).await;
        assert!(status.ends_with("200 OK"), "{path}: {status}");
        assert_eq!(json(&answer)["path"], path);
        assert_eq!(json(&answer)["body_bytes"], body_bytes, "{path}");
    }
    s.write_all(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["path"], "/after");
    assert_eq!(up.hits(), 5);
}

/// A proxy whose upstream answers `/slow` 300 ms late (the pipelined requests behind it arrive at
/// the proxy meanwhile) and echoes everything else at once.
async fn slow_first_proxy() -> (TestProxy, Upstream) {
    let echo = echo_handler("api");
    let slow: support::Handler = std::sync::Arc::new(move |req| {
        let echo = echo.clone();
        Box::pin(async move {
            if req.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            echo(req).await
        })
    });
    let up = Upstream::spawn(slow).await;
    let p = TestProxy::start(&format!(
        "routes:\n  - {{ name: api, prefix: /, upstream: api }}\nupstreams:\n  api: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    ))
    .await;
    (p, up)
}

/// Requests pipelined behind a slow one are all kept, however many bytes of them arrive while it is
/// in flight: the transport holds them back (up to 64 KiB) and the connection loop takes its 4 KiB
/// first read from them; the rest must stay held, not be replaced by what that read left over.
/// Without that, 101 of these 200 were answered and the connection hung.
#[tokio::test]
async fn pipelined_bytes_held_behind_a_slow_request_are_all_kept() {
    let (p, up) = slow_first_proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut all = b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    for i in 0..200 {
        all.extend_from_slice(
            format!("GET /p/{i} HTTP/1.1\r\nHost: t\r\nX-Pad: {:040}\r\n\r\n", i).as_bytes(),
        );
    }
    assert!(
        all.len() > 3 * 4096,
        "more than the connection loop's first read"
    );
    s.write_all(&all).await.unwrap();
    let mut pending = Vec::new();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["path"], "/slow");
    for i in 0..200 {
        let (status, _, answer) = response(&mut s, &mut pending).await;
        assert!(status.ends_with("200 OK"), "/p/{i}: {status}");
        assert_eq!(json(&answer)["path"], format!("/p/{i}"));
    }
    assert_eq!(up.hits(), 201);
}

/// A pipelined POST whose body runs past the connection loop's first 4 KiB read: the rest of its
/// body, held back while the slow request before it was answered, is its body (not the socket's
/// next bytes), and the request after it is parsed where the body ends.
#[tokio::test]
async fn a_pipelined_body_past_the_first_read_stays_with_its_request() {
    let (p, up) = slow_first_proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut all = b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    all.extend_from_slice(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n");
    // A body that looks like a request: it must never be parsed as one.
    let body = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n".repeat(300);
    all.extend_from_slice(&body.as_bytes()[..10_000]);
    all.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    s.write_all(&all).await.unwrap();
    let mut pending = Vec::new();
    for (path, body_bytes) in [("/slow", 0), ("/upload", 10_000), ("/after", 0)] {
        let (status, _, answer) = response(&mut s, &mut pending).await;
        assert!(status.ends_with("200 OK"), "{path}: {status}");
        assert_eq!(json(&answer)["path"], path);
        assert_eq!(json(&answer)["body_bytes"], body_bytes, "{path}");
    }
    assert_eq!(up.hits(), 3);
}

/// A stray CRLF after a body (RFC 9112 §2.2 says to ignore it) is neither an error for the request
/// the upstream already processed nor for the next one.
#[tokio::test]
async fn a_stray_crlf_after_a_body_is_ignored() {
    let (p, up) = proxy().await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\na=1\r\n")
        .await
        .unwrap();
    let mut pending = Vec::new();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["body_bytes"], 3);
    s.write_all(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (status, _, answer) = response(&mut s, &mut pending).await;
    assert!(status.ends_with("200 OK"), "{status}");
    assert_eq!(json(&answer)["path"], "/next");
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn connections_closed_by_clients_are_released() {
    let (p, _up) = proxy().await;
    let mut clients = Vec::new();
    for i in 0..5 {
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        s.write_all(format!("GET /c/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let (status, _, _) = response(&mut s, &mut Vec::new()).await;
        assert!(status.ends_with("200 OK"), "{status}");
        clients.push(s);
    }
    assert_eq!(p.metric("trinity_proxy_downstream_connections").await, 5.0);
    // One more connection that never sends a request is held as well.
    let silent = TcpStream::connect(p.addr()).await.unwrap();
    drop(clients);
    drop(silent);
    let released = async {
        while p.metric("trinity_proxy_downstream_connections").await != 0.0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), released)
        .await
        .expect("closed connections still counted after 10 s");
}

/// A client that starts a request header on a kept-alive connection and stops gets 408 after
/// `timeouts.client_header` (Pingora alone would wait forever); a connection that stays idle is
/// closed silently after the keep-alive timeout.
#[tokio::test]
async fn stalled_headers_get_408_and_idle_connections_are_closed_after_the_keepalive_timeout() {
    let up = Upstream::echo("api").await;
    let mut config = Config::parse(
        &format!(
            "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\ntimeouts: {{ client_header: 1s }}\nroutes:\n  - {{ name: api, prefix: /, upstream: api }}\nupstreams:\n  api: {{ endpoints: [\"{}\"] }}\n",
            up.addr
        ),
        "test.yaml",
    )
    .unwrap();
    config.threads = 2;
    let options = Options {
        keepalive_timeout: Some(Duration::from_secs(1)),
        ..Options::default()
    };
    let server = Server::start_with(&config, options).await.unwrap();
    let addr = server.listen_addrs[0];

    // Stalled half-way through the second request's header.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (status, _, _) = response(&mut stalled, &mut Vec::new()).await;
    assert!(status.ends_with("200 OK"), "{status}");
    stalled
        .write_all(b"GET /second HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // Idle after one request, and silent from the start.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (status, _, _) = response(&mut idle, &mut Vec::new()).await;
    assert!(status.ends_with("200 OK"), "{status}");
    let silent = TcpStream::connect(addr).await.unwrap();

    let (after, rest) = closed_within(stalled).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.starts_with("HTTP/1.1 408 "), "{rest}");
    assert!(
        rest.contains("\"error\":\"request header timeout\""),
        "{rest}"
    );
    assert!(
        after < Duration::from_secs(5),
        "stalled: closed after {after:?}"
    );
    for (what, s) in [("idle", idle), ("silent", silent)] {
        let (after, rest) = closed_within(s).await;
        assert!(
            rest.is_empty(),
            "{what}: {}",
            String::from_utf8_lossy(&rest)
        );
        assert!(
            after < Duration::from_secs(5),
            "{what}: closed after {after:?}"
        );
    }
}

/// One worker, one kept-alive connection; the upstream answers after `upstream_delay` on paths
/// under /slow, at once otherwise.
async fn one_worker(keepalive: Duration, upstream_delay: Duration) -> (Server, Upstream) {
    let echo = echo_handler("api");
    let up = Upstream::spawn(std::sync::Arc::new(
        move |req: http::Request<bytes::Bytes>| {
            let echo = echo.clone();
            let slow = req.uri().path().starts_with("/slow");
            Box::pin(async move {
                if slow {
                    tokio::time::sleep(upstream_delay).await;
                }
                echo(req).await
            })
        },
    ))
    .await;
    let mut config = Config::parse(
        &format!(
            "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - {{ name: api, prefix: /, upstream: api }}\nupstreams:\n  api: {{ endpoints: [\"{}\"] }}\n",
            up.addr
        ),
        "test.yaml",
    )
    .unwrap();
    config.threads = 1;
    let options = Options {
        keepalive_timeout: Some(keepalive),
        ..Options::default()
    };
    (Server::start_with(&config, options).await.unwrap(), up)
}

/// How long until the server closes `s` (at most 10 s), and what it sent before closing.
async fn closed_within(mut s: TcpStream) -> (Duration, Vec<u8>) {
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("still open after 10 s")
        .unwrap();
    (started.elapsed(), rest)
}

/// One GET answered 200 with the echo of its path.
async fn get(s: &mut TcpStream, pending: &mut Vec<u8>, path: &str) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, _, body) = response(s, pending).await;
    assert!(status.ends_with("200 OK"), "{path}: {status}");
    assert_eq!(json(&body)["path"], path);
}

/// The keep-alive timeout is an idle time: a connection busy for longer than it (requests spaced
/// closer than the timeout, one request slower than it) stays open, and is closed once idle for
/// the timeout after its last request.
#[tokio::test]
async fn the_keepalive_timeout_counts_from_the_last_request() {
    let (server, _up) = one_worker(Duration::from_secs(1), Duration::from_millis(1300)).await;
    let mut s = TcpStream::connect(server.listen_addrs[0]).await.unwrap();
    let mut pending = Vec::new();
    // 1.5 s of requests 300 ms apart, then one answered after 1.3 s: both past the timeout.
    for i in 0..5 {
        get(&mut s, &mut pending, &format!("/spaced/{i}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    get(&mut s, &mut pending, "/slow").await;
    get(&mut s, &mut pending, "/after-slow").await;
    let (idle, rest) = closed_within(s).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed {idle:?} after the last request"
    );
}

/// Waiting for a kept-alive connection's next request does not make the worker wake itself:
/// two parks per request (for the request, for the upstream's answer). A new tokio timer per wait
/// was registered while the worker's timer wheel was empty (its only connection had been
/// mid-request when it last parked), and tokio then writes its own driver's eventfd, even from
/// the worker's thread: one more park per request (3.00 measured before the fix, 2.00 after).
#[tokio::test]
async fn waiting_for_the_next_request_does_not_wake_the_worker() {
    const REQUESTS: u64 = 100;
    // The delays make every wait a real park: the worker is parked before the upstream answers
    // and before the client sends its next request.
    let gap = Duration::from_millis(2);
    let (server, _up) = one_worker(Duration::from_secs(60), gap).await;
    let mut s = TcpStream::connect(server.listen_addrs[0]).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut pending = Vec::new();
    let mut parks = 0;
    for i in 0..REQUESTS + 5 {
        if i == 5 {
            parks = server.worker_parks();
        }
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let (status, _, _) = response(&mut s, &mut pending).await;
        assert!(status.ends_with("200 OK"), "{status}");
        tokio::time::sleep(gap).await;
    }
    let per_request = (server.worker_parks() - parks) as f64 / REQUESTS as f64;
    assert!(
        per_request < 2.5,
        "the worker parked {per_request:.2} times per request"
    );
}
