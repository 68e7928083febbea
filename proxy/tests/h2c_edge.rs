//! The h2c edge under attack, with raw HTTP/2 frames from Python's `h2`: who may speak h2c
//! (`limits.h2c`), a client that never opens its flow-control window or stops reading (each
//! stream bounded by `timeouts.client_write`, releasing its upstream connection), a partial
//! preface or first frame (bounded by `timeouts.client_header`), cookie crumbs joined for the
//! HTTP/1.1 upstream, and uploads ended by an empty DATA frame.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{TestProxy, Upstream, h2};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn config(extra: &str, upstream: SocketAddr) -> String {
    format!(
        "{extra}\nroutes:\n  - {{ name: f, prefix: /, upstream: f }}\nupstreams:\n  f: {{ endpoints: [\"{upstream}\"], retries: 0 }}\n"
    )
}

/// An upstream that answers every request with a 16 MiB body, written as fast as the proxy
/// reads it, and counts its open connections (a worker is held while one is open).
async fn big_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let o = open.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let open = o.clone();
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let len = 16 << 20;
                let chunk = vec![b'x'; 64 * 1024];
                let mut ok = s
                    .write_all(
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").as_bytes(),
                    )
                    .await
                    .is_ok();
                let mut sent = 0;
                while ok && sent < len {
                    ok = s.write_all(&chunk).await.is_ok();
                    sent += chunk.len();
                }
                // Served (or cut): wait for the proxy to close or reuse the connection.
                let _ = s.read(&mut buf).await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

async fn until(within: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !pred() {
        assert!(started.elapsed() < within, "not {what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One h2c connection that opens 20 streams and then never reads (nor opens a window) held 20
/// upstream connections for as long as it liked; each stream now ends after `client_write`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_releases_its_upstream_connections() {
    let (up, open) = big_upstream().await;
    let p = TestProxy::start(&config(
        "limits: { h2c: any }\ntimeouts: { client_write: 1s }",
        up,
    ))
    .await;
    let client = h2::stall(p.addr(), 20, "/big").await;
    until(Duration::from_secs(10), "20 upstream connections", || {
        open.load(Ordering::SeqCst) == 20
    })
    .await;
    // The client still holds its connection: only the write timeout can free the upstreams.
    until(Duration::from_secs(15), "released", || {
        open.load(Ordering::SeqCst) == 0
    })
    .await;
    drop(client);
}

async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A partial preface, or a preface whose first HEADERS never completes, is closed at
/// `client_header` like a partial HTTP/1.1 head (the keep-alive timeout is 60 s).
#[tokio::test]
async fn a_partial_preface_or_first_frame_is_closed_at_the_header_timeout() {
    let up = Upstream::echo("f").await;
    let p = TestProxy::start(&config(
        "limits: { h2c: any }\ntimeouts: { client_header: 1s }",
        up.addr,
    ))
    .await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "partial preface held"
    );

    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    // The whole preface, an empty SETTINGS, then a HEADERS frame announcing 64 bytes that sends 5.
    s.write_all(
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0\0\0\x40\x01\x04\0\0\0\x01abcde",
    )
    .await
    .unwrap();
    assert!(
        closed_within(&mut s, Duration::from_secs(5)).await,
        "partial HEADERS held"
    );
    let n = p
        .metric("trinity_proxy_connections_rejected_total{reason=\"header_timeout\"}")
        .await;
    assert_eq!(n, 2.0);
    assert_eq!(up.hits(), 0);
}

/// By default only trusted proxies (cloudflared) may speak h2c; others get GOAWAY
/// HTTP_1_1_REQUIRED, and HTTP/1.1 on the same listener is unaffected.
#[tokio::test]
async fn h2c_is_accepted_only_from_the_peers_limits_h2c_names() {
    let up = Upstream::echo("f").await;
    let refused = TestProxy::start(&config("", up.addr)).await;
    assert_eq!(h2::run(refused.addr(), &["goaway"]).await, "13");
    let n = refused
        .metric("trinity_proxy_connections_rejected_total{reason=\"h2c\"}")
        .await;
    assert_eq!(n, 1.0);
    let h1 = support::HttpClient::default().get(&refused.url("/x")).await;
    assert_eq!(h1.status, 200);

    let trusted = TestProxy::start(&config(
        "client_ip: { trusted_proxies: [\"127.0.0.1/32\"] }",
        up.addr,
    ))
    .await;
    assert_eq!(h2::run(trusted.addr(), &["goaway"]).await, "answered 200");

    let off = TestProxy::start(&config(
        "client_ip: { trusted_proxies: [\"127.0.0.1/32\"] }\nlimits: { h2c: off }",
        up.addr,
    ))
    .await;
    assert_eq!(h2::run(off.addr(), &["goaway"]).await, "13");
    assert_eq!(
        up.hits(),
        2,
        "only the trusted h2c request and the HTTP/1.1 one"
    );
}

/// RFC 9113 §8.2.3: cookie crumbs become one `Cookie` field joined with `; ` for HTTP/1.1.
#[tokio::test]
async fn cookie_crumbs_reach_the_upstream_as_one_field() {
    let up = Upstream::echo("f").await;
    let p = TestProxy::start(&config("limits: { h2c: any }", up.addr)).await;
    let req = serde_json::json!([{
        "method": "GET", "path": "/c",
        "headers": [["cookie", "sessionid=abc"], ["cookie", "csrftoken=x"], ["cookie", "c=3"]],
    }]);
    let answers = h2::requests(p.addr(), &req).await;
    assert_eq!(answers[0]["status"], 200);
    let j: serde_json::Value = serde_json::from_str(answers[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(j["headers"]["cookie"], "sessionid=abc; csrftoken=x; c=3");
}

/// What an upstream connection received, byte for byte (it answers each request head with 200).
async fn recording_upstream() -> (SocketAddr, Arc<std::sync::Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen: Arc<std::sync::Mutex<Vec<u8>>> = Arc::default();
    let all = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let all = all.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let ended = {
                        let mut all = all.lock().unwrap();
                        all.extend_from_slice(&buf[..n]);
                        all.ends_with(b"0\r\n\r\n")
                    };
                    if ended {
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// An upload of unknown length ended by an empty DATA frame with END_STREAM (Go's client, as
/// cloudflared's `http2Origin` uses it) reaches the upstream with exactly one last chunk: a second
/// `0\r\n\r\n` stayed on the pooled connection and broke other clients' requests on it.
#[tokio::test]
async fn an_empty_last_data_frame_writes_exactly_one_terminator_upstream() {
    let (up, seen) = recording_upstream().await;
    let p = TestProxy::start(&config("limits: { h2c: any }", up)).await;
    let req = serde_json::json!([{
        "method": "POST", "path": "/upload", "data": ["hello"], "empty_end": true,
    }]);
    let answers = h2::requests(p.addr(), &req).await;
    assert_eq!(answers[0]["status"], 200, "{}", answers[0]);
    let wire = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert_eq!(wire.matches("0\r\n\r\n").count(), 1, "{wire:?}");
    assert!(wire.ends_with("\r\n5\r\nhello\r\n0\r\n\r\n"), "{wire:?}");
}
