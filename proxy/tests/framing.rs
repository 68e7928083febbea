//! Strict HTTP/1.1 message framing where Pingora alone is lenient, over raw sockets: transfer
//! codings other than `chunked` (501), ambiguous lengths (400), sloppy chunk-size lines (400,
//! whether they arrive with the head or later), and no chunked answers to HTTP/1.0 clients.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::{TestProxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn proxy_to(up: SocketAddr) -> TestProxy {
    TestProxy::start(&format!(
        "routes:\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{up}\"] }}\n"
    ))
    .await
}

/// Writes `parts` with a pause between them and returns everything read until the proxy closes.
async fn exchange(addr: SocketAddr, parts: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if s.write_all(part).await.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the proxy neither answered nor closed")
        .unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn transfer_codings_other_than_chunked_get_501_and_ambiguous_lengths_400() {
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr).await;
    let cases: &[(&str, &str)] = &[
        ("Transfer-Encoding: gzip, chunked", "501"),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
            "501",
        ),
        ("Transfer-Encoding: identity", "501"),
        ("Transfer-Encoding: chunked, chunked", "501"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5", "400"),
        ("Content-Length: 5\r\nContent-Length: 6", "400"),
        ("Content-Length: -5", "400"),
    ];
    for (fields, want) in cases {
        let req = format!("POST /x HTTP/1.1\r\nHost: t\r\n{fields}\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        let answer = exchange(p.addr(), &[req.as_bytes()]).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {want} ")),
            "{fields:?}: {answer}"
        );
        assert!(answer.contains("\"request_id\""), "{fields:?}: {answer}");
    }
    assert_eq!(up.hits(), 0, "nothing ambiguous reached the upstream");
    let ok = exchange(
        p.addr(),
        &[b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    assert!(ok.contains("\"body_bytes\":5"), "{ok}");
}

#[tokio::test]
async fn sloppy_chunk_framing_gets_400_with_the_head_or_later() {
    let up = Upstream::echo("app").await;
    let p = proxy_to(up.addr).await;
    let head = b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let bodies: &[&[u8]] = &[
        b"\r\nhello\r\n0\r\n\r\n",         // empty size line
        b"5;ext\nx\r\nhello\r\n0\r\n\r\n", // bare LF inside an extension
        b"5\nhello\r\n0\r\n\r\n",          // bare LF after the size
        b"0x5\r\nhello\r\n0\r\n\r\n",      // not hex
        b"5\r\nhelloXX0\r\n\r\n",          // no CRLF after the data
    ];
    for body in bodies {
        let mut together = head.to_vec();
        together.extend_from_slice(body);
        for parts in [vec![&together[..]], vec![&head[..], body]] {
            let answer = exchange(p.addr(), &parts).await;
            assert!(
                answer.starts_with("HTTP/1.1 400 "),
                "{:?} in {} write(s): {answer}",
                String::from_utf8_lossy(body),
                parts.len()
            );
        }
    }
}

/// An upstream that answers every request with a chunked body.
async fn chunked_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
                        if s.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn http10_clients_never_get_a_chunked_answer() {
    let p = proxy_to(chunked_upstream().await).await;
    let answer = exchange(p.addr(), &[b"GET /x HTTP/1.0\r\n\r\n"]).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("an answer");
    assert!(head.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "{head}"
    );
    assert_eq!(body, "hello world", "close-delimited body");
    // An HTTP/1.1 client still gets the chunked stream.
    let answer = exchange(
        p.addr(),
        &[b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
    )
    .await;
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{answer}"
    );
}
