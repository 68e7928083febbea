//! What an anonymous client can make the proxy hold, tried over raw sockets: header size and
//! count (431 as soon as crossed), a whole-header deadline (408), a connection cap, a client that
//! stops reading, and the same header limits on the admin listener.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::process::{rss_kib, spawn_proxy};
use support::{HttpClient, TestProxy, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn yaml(up: SocketAddr, extra: &str) -> String {
    format!(
        "{extra}\nroutes:\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{up}\"] }}\n"
    )
}

/// Everything the proxy sends until it closes (at most 10 s).
async fn until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("still open after 10 s");
    String::from_utf8_lossy(&got).into_owned()
}

fn json_body(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn a_header_past_the_byte_limit_is_answered_431_without_waiting_for_more() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(up.addr, "limits: { max_header_bytes: 4KiB }")).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    // One byte more than the limit, no end of header, then silence: the answer must come anyway.
    let mut head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    head.resize(4097, b'a');
    s.write_all(&head).await.unwrap();
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["error"], "request header too large");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 32);
    assert_eq!(up.hits(), 0);

    // Exactly at the limit is still admitted.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut head = b"GET /fits HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    head.resize(4096 - 4, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    s.write_all(&head).await.unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "), "{:?}", &buf[..n]);
    assert_eq!(
        p.metric("trinity_proxy_requests_rejected_total{reason=\"header_size\",route=\"none\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn too_many_header_fields_are_answered_431() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(up.addr, "limits: { max_headers: 5 }")).await;
    let three: String = (0..3).map(|i| format!("X-{i}: v\r\n")).collect();
    let ok = support::raw(
        p.addr(),
        &format!("GET / HTTP/1.1\r\nHost: t\r\n{three}Connection: close\r\n\r\n"),
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    // The sixth field is rejected before the head ends: the client need not finish it.
    s.write_all(format!("GET / HTTP/1.1\r\nHost: t\r\n{three}X-3: v\r\nX-4: v\r\n").as_bytes())
        .await
        .unwrap();
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert_eq!(
        json_body(&answer)["error"],
        "too many request header fields"
    );
}

/// A header trickled one line at a time is cut at the deadline, however often bytes arrive; a
/// normal request on another connection is served meanwhile.
#[tokio::test]
async fn a_trickled_header_gets_408_at_the_deadline_not_reset_by_reads() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(up.addr, "timeouts: { client_header: 1s }")).await;
    let mut slow = TcpStream::connect(p.addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if slow
                .write_all(format!("X-{i}: v\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let c = HttpClient::default();
            assert_eq!(c.get(&p.url("/other")).await.status, 200);
        }
        until_closed(&mut slow).await
    };
    let answer = trickle.await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert_eq!(json_body(&answer)["error"], "request header timeout");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert_eq!(
        p.metric("trinity_proxy_connections_rejected_total{reason=\"header_timeout\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_heads_share_one_memory_budget_and_whole_heads_still_pass() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(
        up.addr,
        "limits: { max_pending_header_bytes: 1MiB }\ntimeouts: { client_header: 3s }",
    ))
    .await;
    // 200 connections each holding 12 KiB of a head that never ends: 2.4 MiB wanted.
    let mut head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
    head.resize(12 * 1024, b'a');
    let mut flood = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        s.write_all(&head).await.unwrap();
        flood.push(s);
    }
    let rejected =
        "trinity_proxy_requests_rejected_total{reason=\"pending_headers\",route=\"none\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.metric(rejected).await < 100.0 {
        assert!(Instant::now() < deadline, "the budget was never spent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The budget is spent, yet a head that arrives whole is never charged: answered.
    let c = HttpClient::default();
    assert_eq!(c.get(&p.url("/normal")).await.status, 200);
    let mut statuses = std::collections::BTreeMap::new();
    for s in &mut flood {
        let answer = until_closed(s).await;
        let status = answer.get(9..12).unwrap_or("none").to_owned();
        if status == "503" {
            assert_eq!(json_body(&answer)["error"], "server busy");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    // Those within the budget waited for their deadline; the rest were refused at once.
    let busy = statuses.get("503").copied().unwrap_or(0);
    let timed_out = statuses.get("408").copied().unwrap_or(0);
    assert_eq!(busy + timed_out, 200, "{statuses:?}");
    assert!(busy >= 100 && timed_out >= 30, "{statuses:?}");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_counted() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(up.addr, "limits: { max_connections: 3 }")).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(p.addr()).await.unwrap());
    }
    let counted = async {
        while p.metric("trinity_proxy_downstream_connections").await != 3.0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), counted)
        .await
        .expect("3 connections open");
    let mut extra = TcpStream::connect(p.addr()).await.unwrap();
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(
        until_closed(&mut extra).await,
        "",
        "closed without an answer"
    );
    assert_eq!(
        p.metric("trinity_proxy_connections_rejected_total{reason=\"max_connections\"}")
            .await,
        1.0
    );
    // A slot freed is a slot usable again.
    drop(held.pop());
    let freed = async {
        while p.metric("trinity_proxy_downstream_connections").await != 2.0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), freed)
        .await
        .expect("the closed connection is released");
    let ok = support::raw(
        p.addr(),
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
}

/// A client that stops reading a large response is dropped after `timeouts.client_write`: its
/// connection (and the upstream's) is released while the client still holds its socket.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    let big = Bytes::from(vec![b'x'; 64 << 20]);
    let up = Upstream::spawn(Arc::new(move |_req| {
        let big = big.clone();
        Box::pin(async move { Response::new(Full::new(big)) })
    }))
    .await;
    let p = TestProxy::start(&yaml(up.addr, "timeouts: { client_write: 1s }")).await;
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 16];
    s.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK\r");
    // Stop reading: the socket buffers fill, and the proxy must give up on this client.
    let released = async {
        while p.metric("trinity_proxy_downstream_connections").await != 0.0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), released)
        .await
        .expect("the stalled client's connection is still held after 15 s");
    drop(s);
}

#[tokio::test]
async fn the_admin_listener_has_the_same_header_limits() {
    let up = Upstream::echo("app").await;
    let p = TestProxy::start(&yaml(up.addr, "limits: { max_header_bytes: 4KiB }")).await;
    let mut s = TcpStream::connect(p.server.admin_addr).await.unwrap();
    let mut head = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    head.resize(5000, b'a');
    head.extend_from_slice(b"\r\n\r\n");
    s.write_all(&head).await.unwrap();
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

/// 1,000 connections that each send a never-ending header: the real binary stays small, each is
/// answered 431 or closed, and a normal request is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_never_ending_headers_costs_little_memory() {
    let up = Upstream::echo("app").await;
    let p = spawn_proxy(&yaml(
        up.addr,
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: 1",
    ));
    let warm = support::raw(
        p.listen,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(warm.starts_with("HTTP/1.1 200 "), "{warm}");
    let before = rss_kib(&p.child);
    // Every connection first holds 24 KiB of unfinished header at once (the worst moment for
    // memory), then keeps sending, up to 1 MiB, until the proxy answers and closes.
    const N: usize = 1000;
    let all_holding = Arc::new(tokio::sync::Barrier::new(N + 1));
    let chunk = Arc::new(vec![b'a'; 8192]);
    let mut floods = tokio::task::JoinSet::new();
    for _ in 0..N {
        let (chunk, all_holding, addr) = (chunk.clone(), all_holding.clone(), p.listen);
        floods.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Flood: ")
                .await
                .unwrap();
            for _ in 0..3 {
                s.write_all(&chunk).await.unwrap();
            }
            all_holding.wait().await;
            for _ in 0..125 {
                if s.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            until_closed(&mut s).await
        });
    }
    all_holding.wait().await;
    // The proxy has read what was sent once its open-connection gauge stops rising; give the
    // reads a moment by serving a normal request first.
    let c = HttpClient::default();
    assert_eq!(
        c.get(&format!("http://{}/meanwhile", p.listen))
            .await
            .status,
        200
    );
    let mut peak = rss_kib(&p.child);
    let mut answers = Vec::new();
    while let Some(a) = floods.join_next().await {
        peak = peak.max(rss_kib(&p.child));
        answers.push(a.unwrap());
    }
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    let answered = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 431 "))
        .count();
    println!("{answered} of {N} answered 431, the rest closed; RSS growth {growth_mib:.1} MiB");
    assert!(
        answers
            .iter()
            .all(|a| a.is_empty() || a.starts_with("HTTP/1.1 431 ")),
        "an answer other than 431"
    );
    assert!(growth_mib < 64.0, "RSS grew {growth_mib:.1} MiB");
}
