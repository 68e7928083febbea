//! The soak: the real binary with the five Trinity routes in front of two stand-in replicas
//! each, under a steady mixed load, through reloads, killed and hung replicas and clients that
//! leave mid-response. Fails when a client sees an error the design says retries absorb, or when
//! memory, fds, threads, upstream connections or metric series keep growing.
//!
//! `SOAK_MINUTES` sets the length (2 in `make test`; `make soak` runs 30 on the release build).
//! With `SOAK_OUT=DIR` the samples, faults and errors are written to `DIR/soak.json`
//! (`benches/soak/report.py` turns them into benches/SOAK.md and its plot).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test")]

#[path = "../support/mod.rs"]
mod support;

mod faults;
mod load;
mod sample;
mod standin;

use faults::{Fault, Schedule};
use load::Tally;
use sample::{Drift, Sample};
use std::net::SocketAddr;
use std::time::Duration;
use support::process::{Stdout, spawn_proxy_with};

/// `(upstream, route prefix)` of the five Trinity routes.
pub const ROUTES: [(&str, &str); 5] = [
    ("web", "/admin"),
    ("fastapi", "/api"),
    ("trinity-ai", "/trinityai"),
    ("minio-console", "/minio-console"),
    ("frontend", "/"),
];

pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const RATE_PER_SECOND: u32 = 100;
/// The shortest steady window (after warm-up) on which RSS drift is judged.
const RSS_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How far the live heap may end above the highest level of the first half of the steady window,
/// on a run of any length. Its level moves with what is in flight: each open stream holds about
/// 100 KB (Pingora's 64 KiB upstream body buffer among it), and over 75 minutes the level went
/// between 1.7 and 2.2 MiB and back. A leak of 100 bytes per request ends 15 % or more above in
/// the 2-minute run; one of 10 KiB per reload ends about 35 % above in the 30-minute run.
const HEAP_LIMIT_PERCENT: f64 = 10.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak() {
    let minutes: f64 =
        std::env::var("SOAK_MINUTES").map_or(2.0, |m| m.parse().expect("SOAK_MINUTES"));
    let length = Duration::from_secs_f64(minutes * 60.0);
    let mut replicas = Vec::new();
    for _ in ROUTES {
        replicas.push([
            standin::Replica::start().await,
            standin::Replica::start().await,
        ]);
    }
    let addrs: Vec<[SocketAddr; 2]> = replicas.iter().map(|r| [r[0].addr, r[1].addr]).collect();
    let proxy = spawn_proxy_with(&faults::config(&addrs, false), Stdout::Drained);
    let (listen, admin) = (proxy.listen, proxy.admin);
    let tally = Tally::new();
    let client = load::client();

    let mut clients = tokio::task::JoinSet::new();
    clients.spawn(load::paced(
        tally.clone(),
        client.clone(),
        listen,
        RATE_PER_SECOND,
    ));
    for _ in 0..2 {
        clients.spawn(load::sse_loop(tally.clone(), client.clone(), listen));
    }
    for route in ["/trinityai", "/trinityai", "/api", "/"] {
        clients.spawn(load::websocket_loop(tally.clone(), listen, route));
    }

    let schedule = Schedule::new(
        replicas.clone(),
        proxy.config.clone(),
        addrs.clone(),
        proxy.child.id(),
    );
    let faults = tokio::spawn(schedule.run(tally.clone(), client.clone(), listen, length));

    let mut samples: Vec<Sample> = Vec::new();
    // Reported, not judged: Pingora logs an upstream cut mid-response (a killed replica) at ERROR.
    let mut error_records: Vec<String> = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    while tally.start.elapsed() < length {
        tick.tick().await;
        let metrics = support::HttpClient::default()
            .get(&format!("http://{admin}/metrics"))
            .await
            .body_text();
        error_records.extend(
            proxy
                .lines
                .try_iter()
                .filter(|l| l.contains("\"level\":\"ERROR\"")),
        );
        samples.push(Sample {
            t: tally.now(),
            rss_kib: sample::proc_status(&proxy.child, "VmRSS:"),
            fds: sample::open_fds(&proxy.child),
            threads: sample::proc_status(&proxy.child, "Threads:"),
            upstream_conns: replicas
                .iter()
                .flatten()
                .map(|r| r.open.load(std::sync::atomic::Ordering::Relaxed) as u64)
                .sum(),
            series: sample::series(&metrics),
            heap_bytes: sample::gauge(&metrics, "trinity_proxy_heap_live_bytes"),
            requests: tally.requests.load(std::sync::atomic::Ordering::Relaxed),
        });
    }
    tally.stop();
    let faults: Vec<Fault> = faults.await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    clients.abort_all();

    let metrics = support::HttpClient::default()
        .get(&format!("http://{admin}/metrics"))
        .await
        .body_text();
    let retries = sum(&metrics, "trinity_proxy_retries_total");
    let reload_failures = sum(
        &metrics,
        "trinity_proxy_config_reloads_total{result=\"failure\"",
    );
    let reloads = sum(
        &metrics,
        "trinity_proxy_config_reloads_total{result=\"success\"",
    );
    let mut errors = tally.errors.lock().unwrap().clone();
    for e in &mut errors {
        e.expected = faults::expected(e, &faults);
    }
    let unexpected: Vec<_> = errors.iter().filter(|e| e.expected.is_none()).collect();

    // Every kind of fault has happened once by then (the schedule starts each within 60 s): a
    // first hang or upload raises the high-water mark of buffers, which is not a leak.
    let warmup = (length.as_secs_f64() / 5.0).max(faults::ALL_SEEN_BY.as_secs_f64());
    let rss = Drift::of("rss_kib", &samples, warmup, |s| s.rss_kib);
    // Live heap bytes, in a `heap-stats` build (`make soak` and `make test` build it so).
    let heap = cfg!(feature = "heap-stats").then(|| {
        assert!(
            samples.iter().all(|s| s.heap_bytes.is_some()),
            "a heap-stats build without trinity_proxy_heap_live_bytes in /metrics"
        );
        Drift::of("heap_bytes", &samples, warmup, |s| {
            s.heap_bytes.unwrap_or(0)
        })
    });
    let counts = [
        (Drift::of("fds", &samples, warmup, |s| s.fds), 8.0),
        (Drift::of("threads", &samples, warmup, |s| s.threads), 2.0),
        (
            Drift::of("upstream_conns", &samples, warmup, |s| s.upstream_conns),
            16.0,
        ),
        (Drift::of("series", &samples, warmup, |s| s.series), 8.0),
    ];
    let requests = tally.requests.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "soak: {requests} requests, {} client-visible errors, RSS drift {:.1}%, fds drift {:+.0}",
        errors.len(),
        rss.percent(),
        counts[0].0.end - counts[0].0.after_warmup,
    );
    match &heap {
        Some(h) => println!(
            "soak: live heap {:.2} MiB after warm-up, {:.2} MiB at most in the first half, {:.2} MiB at the end: {:+.1}% over that high",
            h.after_warmup / 1048576.0,
            h.early_high / 1048576.0,
            h.end / 1048576.0,
            h.growth_percent()
        ),
        None => println!("soak: live heap not counted (build without the heap-stats feature)"),
    }
    println!(
        "soak: {} of them unexpected; {retries} retries absorbed failures; {reloads} reloads, {reload_failures} failed; {} faults; {} ERROR log records",
        unexpected.len(),
        faults.len(),
        error_records.len(),
    );
    if let Ok(dir) = std::env::var("SOAK_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        let drifts: Vec<&Drift> = [&rss]
            .into_iter()
            .chain(&heap)
            .chain(counts.iter().map(|(d, _)| d))
            .collect();
        let report = serde_json::json!({
            "minutes": minutes,
            "rate_per_second": RATE_PER_SECOND,
            "requests": requests,
            "retries": retries,
            "reloads": reloads,
            "reload_failures": reload_failures,
            "error_records": error_records.len(),
            "warmup_seconds": warmup,
            "drift": drifts,
            "samples": samples,
            "faults": faults,
            "errors": errors,
        });
        let path = std::path::Path::new(&dir).join("soak.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
        println!("soak: wrote {}", path.display());
    }

    assert!(
        unexpected.is_empty(),
        "client-visible errors the design says retries absorb: {unexpected:#?}"
    );
    assert_eq!(reload_failures, 0.0, "a reload of a valid config failed");
    assert!(
        reloads >= (length.as_secs_f64() / faults::RELOAD_EVERY.as_secs_f64()).floor() - 1.0,
        "{reloads} reloads"
    );
    // RSS is judged on a steady window of 10 minutes or more: over a shorter one a single jump of
    // the allocator's retained memory (a few MiB, given back minutes later) is more than 5 %, so
    // the 2-minute run in `make test` reports it and judges the counts and the errors only.
    let judge_rss = length.as_secs_f64() - warmup >= RSS_WINDOW.as_secs_f64();
    if !judge_rss {
        println!("soak: RSS drift reported, not judged (steady window under {RSS_WINDOW:?})");
    }
    assert!(
        !judge_rss || rss.growth_percent() <= 5.0,
        "RSS ends {:.1}% above the first half's highest level: {rss:?}",
        rss.growth_percent()
    );
    if let Some(h) = &heap {
        assert!(
            h.growth_percent() <= HEAP_LIMIT_PERCENT,
            "the live heap ends {:.1}% above the first half's highest level: {h:?}",
            h.growth_percent()
        );
    }
    for (drift, slack) in &counts {
        assert!(
            !drift.grows(*slack),
            "{} keeps growing: {drift:?}",
            drift.name
        );
    }
}

/// The sum of every sample whose line starts with `prefix`.
fn sum(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
