//! Upstream response heads the proxy must not forward as they are, over raw sockets: a `101`
//! that does not name the protocol asked for (502), hop-by-hop fields (removed, over HTTP/1.1
//! and h2c), a `Transfer-Encoding` not ending in `chunked` (502), an upstream's `HTTP/1.0`
//! status line (ours is sent), 1xx to HTTP/1.0 clients (not sent), and a `204` that announced a
//! body (its connection is not reused, so a late body cannot become the next answer).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn proxy_to(up: SocketAddr) -> TestProxy {
    TestProxy::start(&format!(
        "limits: {{ h2c: any }}\nroutes:\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{up}\"] }}\n"
    ))
    .await
}

/// Reads up to the end of the next request (or response) head; `None` when the peer closed.
async fn read_head(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(pending.drain(..end + 4).collect());
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// An upstream that answers every request head on every connection with `answer` (and, when
/// `echo`, then echoes raw bytes like a tunnel would). Returns its address and connection count.
async fn canned(answer: &'static [u8], echo: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while read_head(&mut s, &mut pending).await.is_some() {
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                    if echo {
                        let mut buf = [0u8; 1024];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, conns)
}

/// `GET /x` over HTTP/`version` with `Connection: close`: the whole answer as text.
async fn get_x(p: &TestProxy, version: &str) -> String {
    let request = format!("GET /x HTTP/{version}\r\nHost: t\r\nConnection: close\r\n\r\n");
    support::raw(p.addr(), &request).await
}

const UPGRADE_WS: &str =
    "GET /t HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";

#[tokio::test]
async fn a_101_must_name_the_protocol_the_client_asked_for() {
    for (answer, want) in [
        (
            &b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n"[..],
            "502",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
            "502",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n\r\n",
            "101",
        ),
    ] {
        let (up, _) = canned(answer, true).await;
        let p = proxy_to(up).await;
        let got = support::try_tunnel(p.addr(), UPGRADE_WS).await;
        let shown = String::from_utf8_lossy(answer);
        assert!(got.starts_with(&format!("HTTP/1.1 {want} ")), "{shown:?}: {got}");
        assert_eq!(got.ends_with("ping"), want == "101", "{shown:?}: {got}");
    }
}

/// The common case, taken without parsing `Connection`: `keep-alive` and its `Keep-Alive` field.
#[tokio::test]
async fn a_plain_keep_alive_response_loses_its_connection_fields() {
    let (up, _) = canned(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\nX-Kept: k\r\n\r\nok",
        false,
    )
    .await;
    let p = proxy_to(up).await;
    let got = get_x(&p, "1.1").await.to_ascii_lowercase();
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "ok");
    assert!(!head.contains("\r\nkeep-alive:"), "{head}");
    assert!(!head.contains("connection: keep-alive"), "{head}");
    assert!(head.contains("\r\nconnection: close"), "ours: {head}");
    assert!(head.contains("\r\nx-kept: k"), "{head}");
}

const HOP_BY_HOP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTE: trailers\r\nX-Kept: k\r\n\r\nok";

#[tokio::test]
async fn hop_by_hop_response_fields_do_not_reach_the_client_over_http1_or_h2c() {
    let (up, _) = canned(HOP_BY_HOP, false).await;
    let p = proxy_to(up).await;
    let got = get_x(&p, "1.1").await.to_ascii_lowercase();
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("http/1.1 200 "), "{got}");
    assert_eq!(body, "ok");
    for gone in [
        "\r\nx-secret:",
        "\r\nkeep-alive:",
        "\r\nproxy-connection:",
        "\r\nupgrade:",
        "\r\nte:",
    ] {
        assert!(!head.contains(gone), "{gone:?} reached the client: {head}");
    }
    assert!(head.contains("\r\nx-kept: k"), "{head}");
    assert!(head.contains("\r\nconnection: close"), "ours: {head}");

    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let resp = h2.get(p.url("/x").parse().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "ok".as_bytes()
    );
    assert!(!headers.contains_key("x-secret"), "{headers:?}");
    assert_eq!(headers["x-kept"], "k");
}

#[tokio::test]
async fn a_transfer_encoding_not_ending_in_chunked_is_a_502() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
    ] {
        let (up, _) = canned(answer, false).await;
        let p = proxy_to(up).await;
        let got = get_x(&p, "1.1").await;
        let shown = String::from_utf8_lossy(answer);
        assert!(got.starts_with("HTTP/1.1 502 "), "{shown:?}: {got}");
        assert!(got.contains("\"request_id\""), "{got}");
    }
}

#[tokio::test]
async fn an_upstreams_http10_status_line_is_sent_as_ours() {
    let (up, _) = canned(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    let p = proxy_to(up).await;
    for version in ["1.1", "1.0"] {
        let got = get_x(&p, version).await;
        assert!(got.starts_with("HTTP/1.1 200 "), "{version}: {got}");
        assert!(got.ends_with("\r\n\r\nok"), "{version}: {got}");
    }
}

const WITH_INFORMATIONAL: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[tokio::test]
async fn http10_clients_get_no_1xx() {
    let (up, _) = canned(WITH_INFORMATIONAL, false).await;
    let p = proxy_to(up).await;
    // An HTTP/1.1 client sees both (so the upstream does send them).
    let got = get_x(&p, "1.1").await;
    assert!(got.starts_with("HTTP/1.1 100 "), "{got}");
    assert!(got.contains("\r\n\r\nHTTP/1.1 103 "), "{got}");
    for request in [
        "GET /x HTTP/1.0\r\nHost: t\r\n\r\n",
        "POST /x HTTP/1.0\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let got = support::raw(p.addr(), request).await;
        assert!(got.starts_with("HTTP/1.1 200 "), "{request:?}: {got}");
        assert!(!got.contains(" 100 ") && !got.contains(" 103 "), "{got}");
        assert!(got.ends_with("\r\n\r\nok"), "{got}");
    }
}

/// An upstream whose first answer is a `204` announcing 5 bytes it sends only when the next
/// request arrives on that connection; every other request gets `200 ok`.
async fn late_204_body() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut owed_body = false;
                while read_head(&mut s, &mut pending).await.is_some() {
                    let answer: &[u8] = if first && !owed_body {
                        owed_body = true;
                        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
                    } else if std::mem::take(&mut owed_body) {
                        b"helloHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

#[tokio::test]
async fn a_204_that_announced_a_body_does_not_poison_the_next_request() {
    let (up, conns) = late_204_body().await;
    let p = proxy_to(up).await;
    // One client connection: both requests are served by the same worker and its pool.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut pending = Vec::new();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let head = String::from_utf8(read_head(&mut s, &mut pending).await.unwrap()).unwrap();
    assert!(head.starts_with("HTTP/1.1 204 "), "{head}");
    s.write_all(b"GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    pending.extend_from_slice(&rest);
    let second = String::from_utf8_lossy(&pending);
    assert!(second.starts_with("HTTP/1.1 200 "), "{second}");
    assert!(second.ends_with("\r\n\r\nok"), "{second}");
    assert_eq!(conns.load(Ordering::SeqCst), 2, "a new upstream connection");
}

/// A `304` may carry the `200`'s `Content-Length` (RFC 9110 §8.6) and has no body whatever it
/// says: its connection stays pooled (revalidations behind an object store must not each cost a
/// new connection).
#[tokio::test]
async fn a_304_with_the_200s_content_length_keeps_its_connection() {
    let (up, conns) = canned(
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"v1\"\r\n\r\n",
        false,
    )
    .await;
    let p = proxy_to(up).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut pending = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /obj HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n")
            .await
            .unwrap();
        let head = String::from_utf8(read_head(&mut s, &mut pending).await.unwrap()).unwrap();
        assert!(head.starts_with("HTTP/1.1 304 "), "{head}");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1, "one upstream connection");
}
