//! Forwarding headers with untrusted and trusted peers, and request-id propagation.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::{HttpClient, TestProxy, Upstream};

async fn proxy_with(client_ip: &str) -> (TestProxy, Upstream) {
    let up = Upstream::echo("web").await;
    let yaml = format!(
        "{client_ip}\nroutes:\n  - {{ name: web, prefix: /, upstream: web }}\nupstreams:\n  web: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    (TestProxy::start(&yaml).await, up)
}

const SPOOFED: &[(&str, &str)] = &[
    ("x-forwarded-for", "6.6.6.6"),
    ("x-real-ip", "6.6.6.6"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-prefix", "/evil"),
    ("cf-connecting-ip", "6.6.6.6"),
    ("forwarded", "for=6.6.6.6;proto=https"),
    ("x-forwarded-port", "443"),
    ("host", "app.example.com"),
    ("x-request-id", "chosen-by-the-client"),
];

/// Headers some framework reads as the client's address, scheme, host or URL: removed whoever
/// sends them (only `client_ip.header`, X-Forwarded-For and -Proto are believed from a trusted hop).
const ALWAYS_REMOVED: &[(&str, &str)] = &[
    ("x-client-ip", "6.6.6.6"),
    ("true-client-ip", "6.6.6.6"),
    ("x-cluster-client-ip", "6.6.6.6"),
    ("fastly-client-ip", "6.6.6.6"),
    ("X-Forwarded-Scheme", "https"),
    ("x-scheme", "https"),
    ("x-forwarded-ssl", "on"),
    ("front-end-https", "on"),
    ("x-original-url", "/admin/"),
    ("X-Rewrite-URL", "/admin/"),
    ("x-original-host", "evil.example"),
    ("forwarded", "for=6.6.6.6;proto=https"),
    // CGI-style servers read these as X-Forwarded-Host / X-Real-IP / CF-Connecting-IP.
    ("X_Forwarded_Host", "evil.example"),
    ("x_real_ip", "6.6.6.6"),
    ("Cf_Connecting_Ip", "6.6.6.6"),
    // No TLS and no authentication here: a certificate or a user can only be made up.
    ("x-forwarded-client-cert", "Hash=0"),
    ("x-ssl-client-verify", "SUCCESS"),
    ("x-forwarded-user", "admin"),
    ("x-auth-request-email", "admin@example.com"),
];

fn assert_removed(h: &serde_json::Value, names: &[(&str, &str)]) {
    for (name, _) in names {
        let name = name.to_ascii_lowercase();
        assert!(h.get(&name).is_none(), "{name} reached the upstream: {h}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peers_cannot_spoof_forwarding_headers() {
    // The test client connects from 127.0.0.1, which is not trusted here.
    let (proxy, _up) =
        proxy_with("client_ip: { trusted_proxies: [\"10.0.0.0/8\"], header: cf-connecting-ip }")
            .await;
    let sent: Vec<_> = SPOOFED.iter().chain(ALWAYS_REMOVED).copied().collect();
    let a = HttpClient::default()
        .get_with(&proxy.url("/x"), &sent)
        .await;
    let id = a.header("x-request-id").unwrap().to_owned();
    assert_eq!(id.len(), 32, "a client does not choose its request id");
    let j = a.json();
    let h = &j["headers"];
    assert_eq!(h["x-request-id"], id.as_str());
    assert_removed(h, ALWAYS_REMOVED);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "app.example.com");
    assert_eq!(h["host"], "app.example.com");
    assert!(h.get("x-forwarded-prefix").is_none(), "{h}");
    assert!(h.get("cf-connecting-ip").is_none(), "{h}");
    assert!(
        h.get("forwarded").is_none() && h.get("x-forwarded-port").is_none(),
        "{h}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_peer_client_ip_header_is_believed() {
    let (proxy, _up) =
        proxy_with("client_ip: { trusted_proxies: [\"127.0.0.0/8\"], header: cf-connecting-ip }")
            .await;
    let mut sent = vec![
        ("cf-connecting-ip", "198.51.100.7"),
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-proto", "https"),
        ("host", "app.example.com"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-prefix", "/evil"),
        ("x-request-id", "cf-ray-8f2a"),
    ];
    sent.extend_from_slice(ALWAYS_REMOVED);
    let j = HttpClient::default()
        .get_with(&proxy.url("/x"), &sent)
        .await
        .json();
    let h = &j["headers"];
    assert_removed(h, ALWAYS_REMOVED);
    assert_ne!(
        h["x-request-id"], "cf-ray-8f2a",
        "Cloudflare passes a visitor's id through: never kept"
    );
    assert_eq!(
        h["x-forwarded-host"], "app.example.com",
        "X-Forwarded-Host is believed only with trust_forwarded_host"
    );
    assert!(h.get("x-forwarded-prefix").is_none(), "{h}");
    assert_eq!(h["x-real-ip"], "198.51.100.7");
    assert_eq!(
        h["x-forwarded-for"], "198.51.100.7, 127.0.0.1",
        "the peer hop is appended"
    );
    assert_eq!(
        h["x-forwarded-proto"], "https",
        "a trusted proxy's scheme is kept"
    );
    assert_eq!(h["cf-connecting-ip"], "198.51.100.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_peer_right_most_untrusted_xff_hop() {
    let (proxy, _up) =
        proxy_with("client_ip: { trusted_proxies: [\"127.0.0.0/8\", \"10.0.0.0/8\"] }").await;
    let j = HttpClient::default()
        .get_with(
            &proxy.url("/x"),
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.5, 10.1.2.3")],
        )
        .await
        .json();
    assert_eq!(j["headers"]["x-real-ip"], "203.0.113.5");
    assert_eq!(
        j["headers"]["x-forwarded-for"],
        "6.6.6.6, 203.0.113.5, 10.1.2.3, 127.0.0.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_forwarded_host_keeps_a_trusted_hops_host_and_prefix() {
    let up = Upstream::echo("console").await;
    let yaml = format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.0/8\"], trust_forwarded_host: true }}\n\
         routes:\n  - {{ name: console, prefix: /minio-console, strip_prefix: true, upstream: console }}\n\
         upstreams:\n  console: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let proxy = TestProxy::start(&yaml).await;
    let j = HttpClient::default()
        .get_with(
            &proxy.url("/minio-console/browser"),
            &[
                ("host", "proxy.internal"),
                ("x-forwarded-host", "trinity.example.com"),
                ("x-forwarded-prefix", "/trinity/"),
                ("x-original-url", "/admin/"),
            ],
        )
        .await
        .json();
    let h = &j["headers"];
    assert_eq!(h["x-forwarded-host"], "trinity.example.com");
    assert_eq!(
        h["x-forwarded-prefix"], "/trinity/minio-console",
        "the outer proxy's prefix comes before the route's"
    );
    assert!(h.get("x-original-url").is_none(), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_header_the_proxy_writes_itself_is_replaced_not_removed() {
    let (proxy, _up) =
        proxy_with("client_ip: { trusted_proxies: [\"10.0.0.0/8\"], header: x-real-ip }").await;
    let j = HttpClient::default()
        .get_with(&proxy.url("/x"), &[("x-real-ip", "6.6.6.6")])
        .await
        .json();
    assert_eq!(j["headers"]["x-real-ip"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_the_proxys_own_and_returned() {
    // Even from a trusted peer: a hop such as Cloudflare passes the visitor's id through.
    let (proxy, _up) = proxy_with("client_ip: { trusted_proxies: [\"127.0.0.1\"] }").await;
    let c = HttpClient::default();
    for sent in ["req-42.abc", "bad id; drop table"] {
        let a = c
            .get_with(&proxy.url("/x"), &[("x-request-id", sent)])
            .await;
        let id = a.header("x-request-id").unwrap().to_owned();
        assert_eq!(id.len(), 32);
        assert_ne!(id, sent);
        assert_eq!(a.json()["headers"]["x-request-id"], id.as_str());
    }
    let first = c.get(&proxy.url("/x")).await;
    let second = c.get(&proxy.url("/x")).await;
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));
    assert_eq!(
        first.json()["headers"]["x-request-id"].as_str(),
        first.header("x-request-id")
    );
}
