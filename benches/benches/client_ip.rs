//! Question: what does resolving the client's IP cost, for a direct browser and behind a proxy?
//!
//! `is_trusted` and `client_ip` run once per request (in `request_filter`). A direct, untrusted
//! peer must be nearly free (one CIDR walk, no header parsing); a trusted peer costs a header
//! lookup and an IP parse, or a right-to-left walk of X-Forwarded-For. `is_trusted` is linear in
//! the number of trusted CIDRs, so it is measured with 1 and with 20.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;
use trinity_benches::{config, ip, request};
use trinity_proxy::config::ClientIpConfig;
use trinity_proxy::headers::{client_ip, is_trusted};

/// A client-IP policy trusting `cidrs` networks (the first is 10.0.0.0/8), with an optional header.
fn policy(cidrs: usize, header: Option<&str>) -> ClientIpConfig {
    let mut y = String::from(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nclient_ip:\n  trusted_proxies: [\"10.0.0.0/8\"",
    );
    for i in 1..cidrs {
        let _ = write!(y, ", \"172.{}.{}.0/24\"", 16 + i / 200, i % 200);
    }
    y.push_str("]\n");
    if let Some(h) = header {
        let _ = writeln!(y, "  header: {h}");
    }
    y.push_str("routes:\n  - { name: r, prefix: /, upstream: u }\nupstreams:\n  u: { endpoints: [\"127.0.0.1:1\"] }\n");
    config(&y).client_ip
}

fn trusted(c: &mut Criterion) {
    let (untrusted_v4, trusted_v4, untrusted_v6) =
        (ip("203.0.113.9"), ip("10.1.2.3"), ip("2001:db8::7"));
    let mut g = c.benchmark_group("is_trusted");
    for n in [1, 20] {
        let p = policy(n, None);
        g.bench_with_input(BenchmarkId::new("untrusted_v4", n), &p, |b, p| {
            b.iter(|| is_trusted(black_box(untrusted_v4), p))
        });
        g.bench_with_input(BenchmarkId::new("trusted_v4_first", n), &p, |b, p| {
            b.iter(|| is_trusted(black_box(trusted_v4), p))
        });
        g.bench_with_input(BenchmarkId::new("untrusted_v6", n), &p, |b, p| {
            b.iter(|| is_trusted(black_box(untrusted_v6), p))
        });
    }
    g.finish();
}

fn resolve(c: &mut Criterion) {
    let with_header = policy(1, Some("cf-connecting-ip"));
    let xff_only = policy(20, None);
    let cf = request(
        "/",
        &[
            ("cf-connecting-ip", "198.51.100.7"),
            ("x-forwarded-for", "198.51.100.7"),
        ],
    );
    let chain = request(
        "/",
        &[
            ("x-forwarded-for", "198.51.100.7, 203.0.113.50"),
            ("x-forwarded-for", "10.0.0.5, 10.2.3.4"),
        ],
    );
    let cases = [
        ("untrusted_peer", ip("203.0.113.9"), &with_header, &cf),
        ("trusted_peer_header", ip("10.1.2.3"), &with_header, &cf),
        ("trusted_peer_xff_4_hops", ip("10.9.9.9"), &xff_only, &chain),
    ];
    let mut g = c.benchmark_group("client_ip");
    for (name, peer, p, req) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                let trusted = is_trusted(black_box(peer), p);
                client_ip(peer, trusted, p, &req.headers)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, trusted, resolve);
criterion_main!(benches);
