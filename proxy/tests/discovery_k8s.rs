//! Kubernetes discovery against a list/watch fixture of the API (no cluster exists here), and
//! one test against a real cluster when KUBECONFIG is set.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::k8s::{ApiFixture, slice};
use support::{HttpClient, TestProxy, Upstream};
use tokio::net::TcpListener;
use trinity_proxy::config::Config;
use trinity_proxy::server::{Options, Server};

async fn start(fixture: &ApiFixture, port_ref: &str) -> TestProxy {
    let yaml = format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: 2\nroutes:\n  - {{ name: web, prefix: /, upstream: web }}\nupstreams:\n  web:\n    kubernetes: {{ service: web, namespace: trinity, port: {port_ref} }}\n"
    );
    let config = Config::parse(&yaml, "test.yaml").unwrap();
    let options = Options {
        kube_client: Some(fixture.client("default")),
        ..Options::default()
    };
    TestProxy {
        server: Server::start_with(&config, options).await.unwrap(),
    }
}

async fn members(proxy: &TestProxy) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let table = proxy.server.state.table.load();
    let m = table.pools[0].members();
    let all = m.endpoints.iter().map(|e| e.addr).collect();
    let terminating = m
        .endpoints
        .iter()
        .filter(|e| e.is_terminating())
        .map(|e| e.addr)
        .collect();
    (all, terminating)
}

async fn wait_members(proxy: &TestProxy, want: (&[SocketAddr], &[SocketAddr])) {
    let t0 = std::time::Instant::now();
    loop {
        let (all, term) = members(proxy).await;
        if all == want.0 && term == want.1 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "members {all:?} terminating {term:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_not_ready_terminating_removed_and_relist_after_410() {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let one = Upstream::spawn_on(first, support::echo_handler("one"));
    let two = Upstream::spawn_on(
        TcpListener::bind(("127.0.0.2", port)).await.unwrap(),
        support::echo_handler("two"),
    );
    let a1: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let a2: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();

    // The Service's slice, with (ip, ready, serving, terminating) endpoints.
    let web_a =
        |eps: &[(&str, bool, bool, bool)]| slice("web-a", "trinity", "web", "http", port, eps);
    let api = ApiFixture::start().await;
    api.apply(web_a(&[
        ("127.0.0.1", true, true, false),
        ("127.0.0.2", false, false, false),
    ]));
    // Another Service's slice in the namespace never leaks in.
    api.apply(slice(
        "other-a",
        "trinity",
        "other",
        "http",
        port,
        &[("127.0.0.9", true, true, false)],
    ));
    let proxy = start(&api, "http").await;
    assert_eq!(
        members(&proxy).await,
        (vec![a1], vec![]),
        "ready only; known before the proxy is ready"
    );
    let c = HttpClient::default();
    assert_eq!(c.get(&proxy.url("/x")).await.json()["upstream"], "one");

    // The not-ready endpoint becomes ready.
    api.apply(web_a(&[
        ("127.0.0.1", true, true, false),
        ("127.0.0.2", true, true, false),
    ]));
    wait_members(&proxy, (&[a1, a2], &[])).await;

    // A rolling update: the first pod is terminating but still serving.
    api.apply(web_a(&[
        ("127.0.0.1", false, true, true),
        ("127.0.0.2", true, true, false),
    ]));
    wait_members(&proxy, (&[a1, a2], &[a1])).await;
    let before = one.hits();
    for _ in 0..10 {
        assert_eq!(
            c.get(&proxy.url("/x")).await.json()["upstream"],
            "two",
            "no new requests to a terminating pod"
        );
    }
    assert_eq!(one.hits(), before);

    // It stopped serving: gone from the pool.
    api.apply(web_a(&[
        ("127.0.0.1", false, false, true),
        ("127.0.0.2", true, true, false),
    ]));
    wait_members(&proxy, (&[a2], &[])).await;

    // History compacted: the watch gets 410 Gone and the watcher lists again, seeing a change
    // that no watch event carried.
    let lists = api.lists();
    api.apply_silently(web_a(&[
        ("127.0.0.1", true, true, false),
        ("127.0.0.2", true, true, false),
    ]));
    api.expire();
    wait_members(&proxy, (&[a1, a2], &[])).await;
    assert!(api.lists() > lists, "the watcher listed again");

    // The slice is deleted: an empty pool answers 503.
    api.delete("web-a");
    wait_members(&proxy, (&[], &[])).await;
    assert_eq!(c.get(&proxy.url("/x")).await.status, 503);
    drop(two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_by_number_and_unknown_port_names() {
    let up = Upstream::echo("one").await;
    let port = up.addr.port();
    let api = ApiFixture::start().await;
    api.apply(slice(
        "web-b",
        "trinity",
        "web",
        "http",
        port,
        &[("127.0.0.1", true, true, false)],
    ));
    let by_number = start(&api, &port.to_string()).await;
    assert_eq!(members(&by_number).await.0, vec![up.addr]);
    let wrong_name = start(&api, "grpc").await;
    assert!(
        members(&wrong_name).await.0.is_empty(),
        "a slice without the named port contributes nothing"
    );
}

/// Runs against the cluster of KUBECONFIG: the `kubernetes` Service in `default` always exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs cluster (reads the EndpointSlices of default/kubernetes via KUBECONFIG)"]
async fn real_cluster_endpoints_of_the_api_server() {
    let yaml = "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: api, prefix: /, upstream: apiserver }\nupstreams:\n  apiserver:\n    kubernetes: { service: kubernetes, namespace: default, port: https }\n";
    let config = Config::parse(yaml, "test.yaml").unwrap();
    let server = Server::start(&config).await.unwrap();
    let proxy = TestProxy { server };
    assert!(
        !members(&proxy).await.0.is_empty(),
        "the API server has endpoints"
    );
}
