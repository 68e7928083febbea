//! Question: what does finding a request's route cost, and does it stay flat as the table grows?
//!
//! `RouteTable::find` runs once per request (in `request_filter`, after path normalisation). It
//! walks the path's segment boundaries from longest to shortest with one hash lookup each, so the
//! cost should follow path depth, not route count: the 500-route table (50 hosts) should cost
//! about what the 5 Trinity routes cost for the same path. `normalize` runs just before it and is
//! measured here too: its fast path (an already-normal path) should borrow, not allocate.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trinity_benches::{TRINITY_YAML, many_routes_host, many_routes_yaml, table};
use trinity_proxy::path::normalize;

/// Paths a Trinity request carries, one per route, plus the deepest fallback walk.
const TRINITY_PATHS: [(&str, &str); 6] = [
    ("api", "/api/v1/items"),
    ("admin", "/admin/login/"),
    ("trinityai", "/trinityai/chat/stream"),
    ("minio-console", "/minio-console/browser/bucket"),
    ("frontend_root", "/"),
    ("frontend_deep", "/static/js/vendor/app.3f9a1c.js"),
];

fn trinity_routes(c: &mut Criterion) {
    let t = table(TRINITY_YAML);
    let mut g = c.benchmark_group("route_find/trinity_5");
    for (name, path) in TRINITY_PATHS {
        g.bench_function(name, |b| {
            b.iter(|| t.find(black_box(Some("trinity.example.com")), black_box(path)))
        });
    }
    g.finish();
}

fn many_routes(c: &mut Criterion) {
    let t = table(&many_routes_yaml(500));
    // Route 101 is `prefix: /svc101` on host h46; 53 is host-less; 499 is three segments deep;
    // route 1 is `/svc1` on host h1.
    let host_101 = many_routes_host(101);
    let host_499 = many_routes_host(499);
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("host_prefix", host_101.as_deref(), "/svc101/items/42"),
        (
            "host_deep_prefix",
            host_499.as_deref(),
            "/team2/svc499/v1/a/b",
        ),
        ("hostless_prefix", None, "/svc53/items/42"),
        (
            "host_falls_back_to_hostless",
            host_101.as_deref(),
            "/svc53/x",
        ),
        (
            "unknown_host_fallback_root",
            Some("other.example.org"),
            "/a/b/c/d",
        ),
        (
            "host_uppercase_with_port",
            Some("H1.Example.COM:8080"),
            "/svc1/x",
        ),
    ];
    let mut g = c.benchmark_group("route_find/hosts_500");
    for (name, host, path) in cases {
        g.bench_function(name, |b| {
            b.iter(|| t.find(black_box(host), black_box(path)))
        });
    }
    g.finish();
}

fn normalise(c: &mut Criterion) {
    let mut g = c.benchmark_group("path_normalize");
    for (name, path) in [
        ("already_normal", "/api/v1/items"),
        ("dot_segments_and_slashes", "/api//v1/./items/../items"),
        ("percent_unreserved", "/api/v1/%7Euser/items"),
    ] {
        g.bench_function(name, |b| b.iter(|| normalize(black_box(path)).is_ok()));
    }
    g.finish();
}

criterion_group!(benches, trinity_routes, many_routes, normalise);
criterion_main!(benches);
