//! DNS discovery against a real DNS server the test controls: records come and go, traffic
//! follows within a refresh, and a dead DNS server keeps the last known endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use support::dns::DnsServer;
use support::{HttpClient, TestProxy, Upstream};
use tokio::net::TcpListener;

/// Two echo upstreams on the same port, on 127.0.0.1 and 127.0.0.2 (DNS records carry no port).
async fn pair() -> (Upstream, Upstream, u16) {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let second = TcpListener::bind(("127.0.0.2", port)).await.unwrap();
    (
        Upstream::spawn_on(first, support::echo_handler("one")),
        Upstream::spawn_on(second, support::echo_handler("two")),
        port,
    )
}

const ONE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn members(proxy: &TestProxy) -> Vec<SocketAddr> {
    let table = proxy.server.state.table.load();
    table.pools[0]
        .members()
        .endpoints
        .iter()
        .map(|e| e.addr)
        .collect()
}

/// Waits until the pool's members are `want` (checked after each refresh period).
async fn wait_members(proxy: &TestProxy, want: &[SocketAddr], within: Duration) -> Duration {
    let t0 = std::time::Instant::now();
    while members(proxy).await != want {
        assert!(
            t0.elapsed() < within,
            "members {:?}, want {want:?} within {within:?}",
            members(proxy).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_drive_the_pool_and_a_dead_server_keeps_the_last_set() {
    let (one, two, port) = pair().await;
    let dns = DnsServer::start().await;
    dns.set("web.trinity.test", &[ONE]);
    let yaml = format!(
        "resolvers: [\"{}\"]\nroutes:\n  - {{ name: web, prefix: /, upstream: web }}\nupstreams:\n  web:\n    dns: {{ name: web.trinity.test, port: {port}, refresh: 200ms }}\n",
        dns.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let a1 = SocketAddr::new(ONE, port);
    let a2 = SocketAddr::new(TWO, port);
    assert_eq!(
        members(&proxy).await,
        [a1],
        "the first answer is in before the proxy is ready"
    );
    let c = HttpClient::default();
    assert_eq!(c.get(&proxy.url("/x")).await.json()["upstream"], "one");

    dns.set("web.trinity.test", &[ONE, TWO]);
    let took = wait_members(&proxy, &[a1, a2], Duration::from_secs(2)).await;
    println!("new record in rotation after {took:?} (refresh 200ms)");
    assert!(
        took <= Duration::from_millis(200 + 300),
        "within one refresh: {took:?}"
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        seen.insert(
            c.get(&proxy.url("/x")).await.json()["upstream"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 2, "traffic reaches the new endpoint");

    dns.set("web.trinity.test", &[TWO]);
    wait_members(&proxy, &[a2], Duration::from_secs(2)).await;
    let before = one.hits();
    for _ in 0..10 {
        assert_eq!(c.get(&proxy.url("/x")).await.json()["upstream"], "two");
    }
    assert_eq!(one.hits(), before, "the removed endpoint is drained");

    dns.stop();
    let errors_before = proxy
        .metric("trinity_proxy_discovery_errors_total{upstream=\"web\"}")
        .await;
    let t0 = std::time::Instant::now();
    while proxy
        .metric("trinity_proxy_discovery_errors_total{upstream=\"web\"}")
        .await
        <= errors_before
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no failed lookup recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        members(&proxy).await,
        [a2],
        "a dead DNS server keeps the last set"
    );
    assert_eq!(c.get(&proxy.url("/x")).await.json()["upstream"], "two");
    drop(two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_empty_answer_is_not_enough_to_empty_the_pool() {
    let (_one, _two, port) = pair().await;
    let dns = DnsServer::start().await;
    dns.set("api.trinity.test", &[ONE]);
    let yaml = format!(
        "resolvers: [\"{}\"]\nroutes:\n  - {{ name: api, prefix: /, upstream: api }}\nupstreams:\n  api:\n    dns: {{ name: api.trinity.test, port: {port}, refresh: 300ms }}\n",
        dns.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let a1 = SocketAddr::new(ONE, port);
    assert_eq!(members(&proxy).await, [a1]);
    dns.set("api.trinity.test", &[]);
    let q0 = dns.queries.load(std::sync::atomic::Ordering::SeqCst);
    // After exactly one empty answer the pool is unchanged.
    while dns.queries.load(std::sync::atomic::Ordering::SeqCst) < q0 + 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        members(&proxy).await,
        [a1],
        "one empty answer (A and AAAA queries) keeps the set"
    );
    wait_members(&proxy, &[], Duration::from_secs(3)).await;
    let a = HttpClient::default().get(&proxy.url("/x")).await;
    assert_eq!(a.status, 503, "an empty pool answers 503");
}
