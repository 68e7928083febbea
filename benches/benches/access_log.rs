//! Question: what does one access-log line cost, the writer's share included?
//!
//! Each sample writes `iters` lines to /dev/null (real `write` syscalls) and measures the whole
//! process's CPU time (`CLOCK_PROCESS_CPUTIME_ID`: the request path and the writer thread) until
//! the last line is written. `batched` is the proxy's log (`trinity_proxy::log`): one line
//! formatted into a reused buffer, appended to a 64 KiB batch. `tracing_json` is what it replaced:
//! a `tracing` event through tracing-subscriber's JSON formatter and tracing-appender's
//! non-blocking writer (one queued line and one `write` per line; not lossy here, so no line is
//! skipped; the batched producer waits while half the sink's queue is full, for the same
//! reason). `format_only` is the request path's share of `batched`: formatting, no sink.

use criterion::{Criterion, criterion_group, criterion_main};
use std::fs::OpenOptions;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use trinity_proxy::log::{AccessLine, QUEUED_BATCHES, Sink};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

fn line(i: u64) -> AccessLine<'static> {
    AccessLine {
        request_id: "0f3c9a7d5e2b4c1a8f6e0d9c7b5a3e1f",
        client_ip: CLIENT,
        method: "GET",
        path: "/api/v1/items",
        route: "api",
        endpoint: "10.1.0.5:8001",
        status: 200,
        duration: Duration::from_micros(1_234 + i % 100),
        bytes: 5_120,
        retries: 0,
        panic: false,
        error: None,
    }
}

fn dev_null() -> std::fs::File {
    OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap_or_else(|e| panic!("/dev/null: {e}"))
}

fn cpu_time() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

fn batched(iters: u64) -> Duration {
    let dropped = prometheus::IntCounter::new("dropped", "bench").unwrap_or_else(|e| panic!("{e}"));
    let sink =
        Sink::start(Box::new(dev_null()), dropped.clone()).unwrap_or_else(|e| panic!("sink: {e}"));
    let t0 = cpu_time();
    for i in 0..iters {
        line(i).with_line(|bytes| sink.push(bytes, false));
        // Lines come far faster here than requests ever do: let the writer keep up instead of
        // dropping (a drop would make the figure too low).
        if i % 256 == 0 {
            while sink.queued() > QUEUED_BATCHES / 2 {
                std::thread::yield_now();
            }
        }
    }
    sink.stop(Duration::from_secs(60));
    let spent = cpu_time() - t0;
    assert_eq!(
        dropped.get(),
        0,
        "lines dropped: the figure would be too low"
    );
    spent
}

fn tracing_json(iters: u64) -> Duration {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .finish(dev_null());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(writer)
        .finish();
    let t0 = cpu_time();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..iters {
            let l = line(i);
            tracing::info!(
                target: "access",
                request_id = l.request_id,
                client_ip = %l.client_ip,
                method = l.method,
                path = l.path,
                route = l.route,
                endpoint = l.endpoint,
                status = l.status,
                duration_ms = l.duration.as_secs_f64() * 1000.0,
                bytes = l.bytes,
                retries = l.retries,
                panic = l.panic,
            );
        }
    });
    drop(guard); // waits for the writer to write every queued line
    cpu_time() - t0
}

fn access_log(c: &mut Criterion) {
    let mut g = c.benchmark_group("access_log");
    g.bench_function("batched", |b| b.iter_custom(batched));
    g.bench_function("tracing_json", |b| b.iter_custom(tracing_json));
    g.bench_function("format_only", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            line(i).with_line(|bytes| {
                black_box(bytes);
            });
        });
    });
    g.finish();
}

criterion_group!(benches, access_log);
criterion_main!(benches);
