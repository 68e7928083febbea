//! The access log of the real binary, read from its stdout: one JSON line per request with every
//! field, 499 for a client that leaves before its answer (and no ERROR record for it), and a
//! blocked log pipe that drops and counts lines instead of stalling requests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::process::{Stdout, spawn_proxy, spawn_proxy_with};
use support::{HttpClient, Upstream, hang};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn yaml(web: std::net::SocketAddr, slow: std::net::SocketAddr) -> String {
    format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: 1\n\
         routes:\n  - {{ name: slow, prefix: /slow, upstream: slow }}\n  - {{ name: web, prefix: /app, upstream: web }}\n\
         upstreams:\n  web: {{ endpoints: [\"{web}\"] }}\n  slow: {{ endpoints: [\"{slow}\"] }}\n"
    )
}

/// The next `n` access lines (other lines are kept in `others`); the log is flushed at least
/// once a second, so each arrives within a few.
fn access_lines(
    lines: &Receiver<String>,
    n: usize,
    others: &mut Vec<String>,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("{} of {n} access lines; others: {others:?}", out.len()));
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["target"] == "access" {
            out.push(v);
        } else {
            others.push(line);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_access_line_with_its_fields() {
    let web = Upstream::echo("web").await;
    let slow = Upstream::spawn(hang()).await;
    let p = spawn_proxy(&yaml(web.addr, slow.addr));
    let c = HttpClient::default();
    let ok = c
        .get(&format!("http://{}/app/items?page=2", p.listen))
        .await;
    let miss = c.get(&format!("http://{}/nowhere", p.listen)).await;
    // Refused before Pingora parses it (no Host): still a line.
    let refused = support::raw(p.listen, "GET /app/x HTTP/1.1\r\n\r\n").await;
    assert!(refused.starts_with("HTTP/1.1 400 "), "{refused}");
    let mut others = Vec::new();
    let lines = access_lines(&p.lines, 3, &mut others);
    let (a, b, r) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(r["status"], 400);
    assert_eq!(r["error"], "bad_request");
    assert_eq!(r["route"], "none");
    assert_eq!(r["client_ip"], "127.0.0.1");

    assert_eq!(a["request_id"].as_str(), ok.header("x-request-id"));
    assert_eq!(a["client_ip"], "127.0.0.1");
    assert_eq!(a["method"], "GET");
    assert_eq!(a["path"], "/app/items");
    assert_eq!(a["route"], "web");
    assert_eq!(a["endpoint"], web.addr.to_string());
    assert_eq!(a["status"], 200);
    assert_eq!(a["bytes"], ok.body.len());
    assert_eq!(a["retries"], 0);
    assert_eq!(a["panic"], false);
    assert!(a["duration_ms"].as_f64().unwrap() >= 0.0, "{a}");
    let ts = a["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-12-01T23:43:25.123456Z".len(), "{ts}");
    assert!(a.get("error").is_none(), "{a}");

    assert_eq!(b["request_id"].as_str(), miss.header("x-request-id"));
    assert_eq!(b["status"], 404);
    assert_eq!(b["route"], "none");
    assert_eq!(b["endpoint"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_before_its_answer_is_a_499_line_not_an_error() {
    let web = Upstream::echo("web").await;
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let slow = Upstream::spawn(Arc::new(move |_req| {
        let _ = arrived.send(());
        Box::pin(std::future::pending())
    }))
    .await;
    let p = spawn_proxy(&yaml(web.addr, slow.addr));
    let mut s = TcpStream::connect(p.listen).await.unwrap();
    s.write_all(b"GET /slow/report HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
        .await
        .expect("the request reaches the upstream");
    drop(s);

    let mut others = Vec::new();
    let line = &access_lines(&p.lines, 1, &mut others)[0];
    assert_eq!(line["path"], "/slow/report");
    assert_eq!(line["status"], 499, "{line}");
    assert_eq!(line["route"], "slow");
    // The access line is written after Pingora's error record would have been: none came.
    assert!(
        others.iter().all(|l| !l.contains("\"ERROR\"")),
        "error records for a client's own close: {others:?}"
    );
    let metrics = HttpClient::default()
        .get(&format!("http://{}/metrics", p.admin))
        .await
        .body_text();
    assert!(
        metrics.contains(r#"trinity_proxy_requests_total{code="499",method="GET",route="slow"} 1"#),
        "{metrics}"
    );
}

/// A chunked body past `max_body_size` is the client's failure: a 413 access line, no ERROR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_past_max_body_size_is_a_413_line_not_an_error() {
    let web = Upstream::echo("web").await;
    let p = spawn_proxy(&format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: 1\n\
         routes:\n  - {{ name: web, prefix: /, upstream: web, max_body_size: 1KiB }}\n\
         upstreams:\n  web: {{ endpoints: [\"{}\"] }}\n",
        web.addr
    ));
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    let request = format!(
        "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    let answer = support::raw(p.listen, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let mut others = Vec::new();
    let line = &access_lines(&p.lines, 1, &mut others)[0];
    assert_eq!(line["status"], 413, "{line}");
    assert_eq!(line["route"], "web");
    assert!(
        others.iter().all(|l| !l.contains("\"ERROR\"")),
        "error records for a client's own body: {others:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_log_pipe_drops_and_counts_lines_while_requests_go_on() {
    let web = Upstream::echo("web").await;
    let slow = Upstream::spawn(hang()).await;
    let p = spawn_proxy_with(&yaml(web.addr, slow.addr), Stdout::Blocked);
    // 16 KiB paths make 16 KiB lines: the pipe (64 KiB) and the sink's queue (4 MiB) fill within
    // a few hundred requests; none of them may wait for the log.
    let long = "x".repeat(16 * 1024);
    let c = HttpClient::default();
    for i in 0..500 {
        let a = c.get(&format!("http://{}/app/{i}/{long}", p.listen)).await;
        assert_eq!(a.status, 200, "request {i}");
    }
    let metrics = c
        .get(&format!("http://{}/metrics", p.admin))
        .await
        .body_text();
    let dropped: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trinity_proxy_log_lines_dropped_total "))
        .expect("the dropped-lines counter")
        .parse()
        .unwrap();
    assert!(dropped >= 100.0, "dropped {dropped} of 500 lines");
}

/// Pingora's own records (the `log` crate) still reach the output when RUST_LOG asks for them:
/// the `log` crate's max level follows the filter's most verbose directive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingora_debug_records_appear_when_rust_log_asks_for_them() {
    let web = Upstream::echo("web").await;
    let slow = Upstream::spawn(hang()).await;
    let p = support::process::spawn_proxy_logging(
        &yaml(web.addr, slow.addr),
        "info,pingora_proxy=debug,pingora_core=debug",
    );
    let resp = HttpClient::default()
        .get(&format!("http://{}/app/x", p.listen))
        .await;
    assert_eq!(resp.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = p
            .lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no DEBUG record from pingora within 10 s; saw {seen:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["level"] == "DEBUG"
            && v["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("pingora"))
        {
            break;
        }
        seen.push(line);
    }
}
