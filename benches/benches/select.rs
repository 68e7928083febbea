//! Question: what does picking an endpoint cost per attempt, over 2 and over 200 endpoints?
//!
//! `Pool::select` runs once per attempt (in `upstream_peer`) and returns an in-flight guard that
//! is dropped when the request ends; the benchmark includes that drop, as the proxy pays it. The
//! retry case passes one already-tried endpoint, as a retry after a connect failure does.
//!
//! Only round-robin exists today. Each further algorithm is one more row of [`ALGORITHMS`] (its
//! `load_balancing` value); the "some endpoints ejected" case joins [`SCENARIOS`] once outlier
//! detection exists — see the issue on upstream health.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trinity_benches::{metrics, upstream};
use trinity_proxy::upstream::Pool;

/// `(label, load_balancing value)`; `None` is the default (round-robin).
/// To add: `("least_request", Some("least_request"))`, `("hash_header", Some("{ hash: { header: x-user } }"))`.
const ALGORITHMS: &[(&str, Option<&str>)] = &[("round_robin", None)];

/// Endpoint counts: a typical Deployment, and a large one.
const SIZES: [usize; 2] = [2, 200];

/// `(label, endpoints already tried by this request)`.
const SCENARIOS: &[(&str, &[u32])] = &[("first_attempt", &[]), ("retry_after_1", &[0])];

fn select(c: &mut Criterion) {
    let m = metrics();
    for (algo, lb) in ALGORITHMS {
        let mut g = c.benchmark_group(format!("select/{algo}"));
        for n in SIZES {
            let pool = Pool::new(&upstream(n, *lb, ""), &m);
            for (scenario, tried) in SCENARIOS {
                g.bench_with_input(BenchmarkId::new(*scenario, n), tried, |b, tried| {
                    b.iter(|| pool.select(black_box(tried)).map(|(i, _guard)| i))
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, select);
criterion_main!(benches);
