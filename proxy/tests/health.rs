//! Upstream health through real sockets: replicas that die, hang and fail; the proxy must take
//! them out of rotation, bring them back, and keep clients from noticing.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{
    HttpClient, Load, TestProxy, Upstream, echo_handler, fixed, hang, slow_echo, wait_for,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const INTERVAL: Duration = Duration::from_millis(200);
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

fn pool_yaml(upstream: &str, endpoints: &[SocketAddr], extra: &str) -> String {
    let list: Vec<String> = endpoints.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "routes:\n  - {{ name: r, prefix: /, upstream: {upstream}, timeouts: {{ connect: 1s, read: 300ms }} }}\nupstreams:\n  {upstream}:\n    endpoints: [{}]\n{extra}",
        list.join(", ")
    )
}

fn http_check(fall: u32, rise: u32) -> String {
    format!(
        "    health_check: {{ path: /healthz, interval: {}ms, timeout: {}ms, unhealthy_threshold: {fall}, healthy_threshold: {rise} }}\n",
        INTERVAL.as_millis(),
        PROBE_TIMEOUT.as_millis()
    )
}

/// The health state changes before its transition's gauge is set and its watchers are woken: a
/// wait that saw the state through an earlier wake-up awaits the next one for the gauge.
async fn gauge_reaches(
    proxy: &TestProxy,
    ep: &trinity_proxy::upstream::Endpoint,
    gauge: &str,
    value: f64,
) {
    let mut changes = ep.watch();
    let reached = tokio::time::timeout(Duration::from_secs(5), async {
        while proxy.metric(gauge).await != value {
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(reached.is_ok(), "{gauge} never reached {value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_is_marked_unhealthy_and_comes_back_without_client_errors() {
    let a = Upstream::echo("a").await;
    let b = Upstream::echo("b").await;
    let proxy = TestProxy::start(&pool_yaml("web", &[a.addr, b.addr], &http_check(3, 2))).await;
    let ep_b = proxy.endpoint("web", b.addr);
    let load = Load::start(proxy.url("/x"), 20);
    tokio::time::sleep(Duration::from_millis(700)).await; // steady load before the kill

    b.kill().await;
    let down = wait_for(&ep_b, Duration::from_secs(5), "unhealthy", |e| {
        !e.health.snapshot().healthy
    })
    .await;
    // 3 failed probes, each up to 1.1 × interval apart (jitter), the first up to one interval away.
    let bound = INTERVAL.mul_f64(3.0 * 1.1) + PROBE_TIMEOUT + Duration::from_millis(250);
    println!("unhealthy {down:?} after the kill (bound {bound:?})");
    assert!(down <= bound, "unhealthy after {down:?}, bound {bound:?}");
    let gauge = format!(
        "trinity_proxy_endpoint_healthy{{endpoint=\"{}\",upstream=\"web\"}}",
        b.addr
    );
    gauge_reaches(&proxy, &ep_b, &gauge, 0.0).await;

    let b2 = Upstream::restart(b.addr, echo_handler("b")).await;
    let up = wait_for(&ep_b, Duration::from_secs(5), "healthy and eligible", |e| {
        e.health.eligible()
    })
    .await;
    gauge_reaches(&proxy, &ep_b, &gauge, 1.0).await;
    let bound = INTERVAL.mul_f64(2.0 * 1.1) + PROBE_TIMEOUT + Duration::from_millis(250);
    println!("healthy and eligible {up:?} after the restart (bound {bound:?})");
    assert!(up <= bound, "healthy after {up:?}, bound {bound:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await; // keep the load on: ≥ 3 s in all
    let (ok, errors) = load.stop().await;
    println!(
        "{ok} requests, {} errors, restarted replica served {}",
        errors.len(),
        b2.hits()
    );
    assert!(
        errors.is_empty(),
        "client errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(
        b2.hits() > 20,
        "the restarted replica takes traffic again ({} hits)",
        b2.hits()
    );
    assert!(ok > 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_replica_is_ejected_and_its_requests_retried() {
    let good = Upstream::echo("good").await;
    let stuck = Upstream::spawn(hang()).await;
    let extra = "    outlier_detection: { consecutive_failures: 3, base_ejection_time: 30s }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &[good.addr, stuck.addr], extra)).await;
    let ep = proxy.endpoint("web", stuck.addr);
    let load = Load::start(proxy.url("/x"), 4);
    let took = wait_for(&ep, Duration::from_secs(5), "ejected", |e| {
        e.health.is_ejected()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, errors) = load.stop().await;
    println!(
        "ejected after {took:?}; {ok} requests, {} client errors: {errors:?}",
        errors.len()
    );
    assert!(
        errors.len() <= 2,
        "at most a couple of errors while the budget is exhausted: {errors:?}"
    );
    assert!(
        proxy
            .metric("trinity_proxy_retries_total{reason=\"timeout\",route=\"r\"}")
            .await
            >= 3.0
    );
    assert_eq!(
        proxy
            .metric(
                "trinity_proxy_ejections_total{reason=\"consecutive_failures\",upstream=\"web\"}"
            )
            .await,
        1.0
    );
    assert_eq!(
        proxy
            .metric(&format!(
                "trinity_proxy_endpoint_ejected{{endpoint=\"{}\"",
                stuck.addr
            ))
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_replica_is_ejected_and_unhealthy_while_clients_see_the_good_one() {
    let good = Upstream::echo("good").await;
    let bad = Upstream::spawn(fixed(503, &[])).await;
    let extra = format!(
        "{}    outlier_detection: {{ consecutive_failures: 3, base_ejection_time: 30s }}\n",
        http_check(2, 2)
    );
    let proxy = TestProxy::start(&pool_yaml("web", &[good.addr, bad.addr], &extra)).await;
    let ep = proxy.endpoint("web", bad.addr);
    let c = HttpClient::default();
    for i in 0..40 {
        let a = c.get(&proxy.url("/x")).await;
        assert_eq!(a.status, 200, "request {i}");
        assert_eq!(a.json()["upstream"], "good");
    }
    wait_for(&ep, Duration::from_secs(3), "unhealthy", |e| {
        !e.health.snapshot().healthy
    })
    .await;
    assert!(ep.health.is_ejected());
    assert!(
        bad.hits() >= 3,
        "the bad replica was tried ({} hits)",
        bad.hits()
    );
    assert!(
        proxy
            .metric("trinity_proxy_retries_total{reason=\"status_5xx\",route=\"r\"}")
            .await
            >= 3.0
    );
    assert!(
        proxy
            .metric("trinity_proxy_health_checks_total{result=\"failure\",upstream=\"web\"}")
            .await
            >= 2.0
    );
    let status = c.get(&proxy.admin_url("/status")).await.json();
    let eps = status["upstreams"][0]["endpoints"].as_array().unwrap();
    let bad_status = eps
        .iter()
        .find(|e| e["address"] == bad.addr.to_string())
        .unwrap();
    assert_eq!(
        (
            bad_status["healthy"].as_bool(),
            bad_status["ejected"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(bad_status["last_check"]["result"], "503");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_replicas_down_fail_fast_in_panic_mode() {
    let dead: Vec<SocketAddr> = vec![support::dead_addr().await, support::dead_addr().await];
    let extra =
        "    health_check: { tcp: true, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1 }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &dead, extra)).await;
    for a in &dead {
        wait_for(
            &proxy.endpoint("web", *a),
            Duration::from_secs(2),
            "unhealthy",
            |e| !e.health.eligible(),
        )
        .await;
    }
    let started = std::time::Instant::now();
    let a = HttpClient::default().get(&proxy.url("/x")).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["upstream"], "web");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "within the connect timeout: {:?}",
        started.elapsed()
    );
    assert!(
        proxy
            .metric("trinity_proxy_panic_routing_total{upstream=\"web\"}")
            .await
            >= 1.0
    );
}

/// A raw upstream that reads one whole request, records its body, and closes without answering.
async fn dies_after_receiving(seen: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let first = head.lines().next().unwrap_or_default().to_owned();
                        seen.lock().unwrap().push(format!("{first} {body}"));
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_reached_an_upstream_is_never_resent() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let dying = dies_after_receiving(seen.clone()).await;
    let good = Upstream::echo("good").await;
    let proxy = TestProxy::start(&pool_yaml("web", &[dying, good.addr], "")).await;
    let c = HttpClient::default();
    let mut failed = Vec::new();
    for i in 0..4 {
        let req = Request::post(proxy.url("/orders"))
            .body(Full::new(Bytes::from(format!("order-{i}"))))
            .unwrap();
        let a = c.send(req).await.unwrap();
        match a.status.as_u16() {
            200 => assert_eq!(a.json()["body_bytes"], 7),
            502 => failed.push(format!("POST /orders HTTP/1.1 order-{i}")),
            s => panic!("unexpected {s}"),
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen, failed,
        "each failed POST reached the dying replica exactly once"
    );
    assert_eq!(failed.len(), 2, "round robin sent half of them there");
    assert_eq!(good.hits(), 2, "no POST was resent to the other replica");

    // The same failure for a GET is retried on the other replica.
    for _ in 0..2 {
        assert_eq!(c.get(&proxy.url("/x")).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_ejection_percent_holds_with_three_of_four_failing() {
    let good = Upstream::echo("good").await;
    let mut bad = Vec::new();
    for _ in 0..3 {
        bad.push(Upstream::spawn(fixed(503, &[])).await);
    }
    let mut addrs = vec![good.addr];
    addrs.extend(bad.iter().map(|u| u.addr));
    let extra = "    retries: 0\n    outlier_detection: { consecutive_failures: 2, base_ejection_time: 30s, max_ejection_percent: 50 }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &addrs, extra)).await;
    let c = HttpClient::default();
    for _ in 0..40 {
        c.get(&proxy.url("/x")).await;
    }
    let ejected: Vec<bool> = addrs
        .iter()
        .map(|a| proxy.endpoint("web", *a).health.is_ejected())
        .collect();
    println!("ejected: {ejected:?}");
    assert_eq!(ejected.iter().filter(|e| **e).count(), 2, "50% of 4");
    assert!(!ejected[0], "the good replica is never ejected");
}

async fn slow_share(lb: &str) -> f64 {
    let fast = Upstream::echo("fast").await;
    let slow = Upstream::spawn(slow_echo("slow", Duration::from_millis(30))).await;
    let extra = format!("    load_balancing: {lb}\n");
    let proxy = TestProxy::start(&pool_yaml("web", &[fast.addr, slow.addr], &extra)).await;
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (c, url) = (HttpClient::default(), proxy.url("/x"));
        workers.push(tokio::spawn(async move {
            for _ in 0..25 {
                assert_eq!(c.get(&url).await.status, 200);
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    slow.hits() as f64 / (slow.hits() + fast.hits()) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_request_sends_less_to_a_slow_replica_than_round_robin() {
    let rr = slow_share("round_robin").await;
    let lr = slow_share("least_request").await;
    println!("share of requests on the slow replica: round_robin {rr:.2}, least_request {lr:.2}");
    assert!(lr < rr, "least_request {lr:.2} vs round_robin {rr:.2}");
    assert!(
        lr < 0.35,
        "least_request still sent {lr:.2} to the slow replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_by_header_is_sticky() {
    let a = Upstream::echo("a").await;
    let b = Upstream::echo("b").await;
    let extra = "    load_balancing: { hash: { header: x-session } }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &[a.addr, b.addr], extra)).await;
    let c = HttpClient::default();
    let mut seen = std::collections::HashSet::new();
    for session in 0..20 {
        let id = format!("user-{session}");
        let first = c
            .get_with(&proxy.url("/x"), &[("x-session", &id)])
            .await
            .json()["upstream"]
            .clone();
        for _ in 0..5 {
            assert_eq!(
                c.get_with(&proxy.url("/x"), &[("x-session", &id)])
                    .await
                    .json()["upstream"],
                first
            );
        }
        seen.insert(first.as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 2, "keys spread over both replicas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_endpoints_skip_probes_when_asked() {
    let a = Upstream::echo("a").await;
    let extra = "    health_check: { path: /healthz, interval: 100ms, timeout: 50ms, skip_when_traffic_healthy: true }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &[a.addr], extra)).await;
    let load = Load::start(proxy.url("/x"), 2);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (ok, errors) = load.stop().await;
    assert!(errors.is_empty() && ok > 0);
    let skipped = proxy
        .metric("trinity_proxy_health_checks_total{result=\"skipped\",upstream=\"web\"}")
        .await;
    let probed = proxy
        .metric("trinity_proxy_health_checks_total{result=\"success\",upstream=\"web\"}")
        .await;
    println!("skipped {skipped}, probed {probed}");
    assert!(skipped >= 3.0, "probes were skipped while traffic flowed");
    assert!(probed <= 2.0, "only the first probe(s) ran: {probed}");
}

/// A raw upstream: answers the head of a chunked response and one chunk, then goes quiet.
async fn stalls_mid_stream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\ndata:1\r\n")
                    .await;
                std::future::pending::<()>().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_ending_on_the_read_timeout_do_not_eject() {
    let sse = stalls_mid_stream().await;
    let extra = "    outlier_detection: { consecutive_failures: 2 }\n";
    let proxy = TestProxy::start(&pool_yaml("web", &[sse], extra)).await;
    let c = HttpClient::default();
    for _ in 0..3 {
        // The stream is cut after the 300ms read timeout; the client sees a truncated body.
        let _ = c
            .send(
                Request::get(proxy.url("/events"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
    }
    let ep = proxy.endpoint("web", sse);
    let h = ep.health.snapshot();
    assert_eq!((h.consecutive_failures, h.ejected), (0, false), "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_stops_reading_an_upload_does_not_hang_it() {
    // Accepts, never reads: the request body fills the socket buffers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deaf = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            held.push(s);
        }
    });
    let proxy = TestProxy::start(&pool_yaml("web", &[deaf], "    retries: 0\n")).await;
    let body = Bytes::from(vec![b'x'; 32 * 1024 * 1024]);
    let started = std::time::Instant::now();
    let req = Request::put(proxy.url("/upload"))
        .body(Full::new(body))
        .unwrap();
    let answer = HttpClient::default().send(req).await;
    println!(
        "answered after {:?}: {:?}",
        started.elapsed(),
        answer.as_ref().map(|a| a.status)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the route's timeouts"
    );
    if let Ok(a) = answer {
        assert!(a.status.is_server_error(), "{}", a.status);
    }
}
