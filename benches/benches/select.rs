//! Question: what does picking an endpoint cost per attempt, over 2 and over 200 endpoints, for
//! each balancing algorithm, with a healthy pool and with a quarter of it ejected?
//!
//! `Pool::select` runs once per attempt (in `upstream_peer`) and returns an in-flight guard that
//! is dropped when the request ends; the benchmark includes that drop, as the proxy pays it. The
//! retry case passes one already-tried endpoint, as a retry after a failure does.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::SocketAddr;
use trinity_benches::{metrics, upstream};
use trinity_proxy::upstream::{Pool, hash_bytes};

/// `(label, load_balancing value)`; `None` is the default (round-robin).
const ALGORITHMS: &[(&str, Option<&str>)] = &[
    ("round_robin", None),
    ("least_request", Some("least_request")),
    ("hash_header", Some("{ hash: { header: x-user } }")),
];

/// Endpoint counts: a typical Deployment, and a large one.
const SIZES: [usize; 2] = [2, 200];

fn select(c: &mut Criterion) {
    let m = metrics();
    // Ejecting an endpoint schedules its return on the current runtime.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime for the ejection timers: {e}"),
    };
    for (algo, lb) in ALGORITHMS {
        let mut g = c.benchmark_group(format!("select/{algo}"));
        // Hash balancing hashes the request's key; the others ignore it.
        let key = lb.map(|_| hash_bytes(b"user-4711"));
        for n in SIZES {
            // One failure ejects; 25% of the pool may be.
            let pool = Pool::new(
                &upstream(
                    n,
                    *lb,
                    "outlier_detection: { consecutive_failures: 1, max_ejection_percent: 25 }",
                ),
                &m,
                None,
            );
            let first: SocketAddr = pool.members().endpoints[0].addr;
            let scenarios: [(&str, Vec<SocketAddr>); 2] =
                [("first_attempt", vec![]), ("retry_after_1", vec![first])];
            for (scenario, tried) in &scenarios {
                g.bench_with_input(BenchmarkId::new(*scenario, n), tried, |b, tried| {
                    b.iter(|| pool.select(black_box(tried), key).map(|s| s.panic))
                });
            }
            rt.block_on(async {
                let eps = pool.members().endpoints.clone();
                for ep in eps.iter().take(n / 4) {
                    pool.record_failure(ep, "bench");
                }
            });
            g.bench_function(BenchmarkId::new("quarter_ejected", n), |b| {
                b.iter(|| pool.select(black_box(&[]), key).map(|s| s.panic))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, select);
criterion_main!(benches);
