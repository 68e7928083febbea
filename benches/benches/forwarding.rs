//! Question: what does rewriting the forwarding headers of one request cost?
//!
//! `Forwarding::apply` runs once per attempt (in `upstream_request_filter`): it sets
//! X-Forwarded-For/-Proto/-Host/-Prefix, X-Real-IP and X-Request-Id on a browser-like request of
//! 8–11 headers, and removes the headers a client could spoof an address, scheme or URL with.
//! The request clone that gives each iteration a fresh header is set-up, not measured. The
//! request id (always the proxy's own: 128 random bits in hex) is measured beside it.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::HeaderValue;
use http::header::HeaderName;
use trinity_benches::{ip, request};
use trinity_proxy::headers::{Forwarding, new_request_id};

const CF_CONNECTING_IP: HeaderName = HeaderName::from_static("cf-connecting-ip");

fn apply(c: &mut Criterion) {
    let id = HeaderValue::from_static("0f3c9a7d5e2b4c1a8f6e0d9c7b5a3e1f");
    let direct = request(
        "/api/v1/items?page=2",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("cf-connecting-ip", "7.7.7.7"),
        ],
    );
    let via_cloudflared = request(
        "/api/v1/items?page=2",
        &[
            ("cf-connecting-ip", "198.51.100.7"),
            ("x-forwarded-for", "198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ],
    );
    let console = request("/browser/bucket", &[]);
    let cases = [
        (
            "untrusted_peer_spoofing",
            &direct,
            Forwarding {
                peer: ip("203.0.113.9"),
                trusted_peer: false,
                client: ip("203.0.113.9"),
                request_id: &id,
                prefix: None,
                client_ip_header: Some(&CF_CONNECTING_IP),
                trust_forwarded_host: false,
            },
        ),
        (
            "trusted_cloudflared",
            &via_cloudflared,
            Forwarding {
                peer: ip("10.1.2.3"),
                trusted_peer: true,
                client: ip("198.51.100.7"),
                request_id: &id,
                prefix: None,
                client_ip_header: Some(&CF_CONNECTING_IP),
                trust_forwarded_host: false,
            },
        ),
        (
            "strip_prefix_route",
            &console,
            Forwarding {
                peer: ip("203.0.113.9"),
                trusted_peer: false,
                client: ip("203.0.113.9"),
                request_id: &id,
                prefix: Some("/minio-console"),
                client_ip_header: Some(&CF_CONNECTING_IP),
                trust_forwarded_host: false,
            },
        ),
    ];
    let mut g = c.benchmark_group("forwarding_apply");
    for (name, req, fwd) in &cases {
        g.bench_function(*name, |b| {
            b.iter_batched(
                || (*req).clone(),
                |mut r| {
                    let ok = fwd.apply(&mut r).is_ok();
                    (ok, r)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn ids(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_id");
    g.bench_function("new", |b| b.iter(new_request_id));
    g.finish();
}

criterion_group!(benches, apply, ids);
criterion_main!(benches);
