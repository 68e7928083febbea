//! Per-route request rates, error ratio and latency over the last minutes, kept in the process for
//! the status page and `trinity-proxy status` (no Prometheus needed to read them).
//!
//! A sampler task on the control-plane runtime reads each route's existing metric handles once a
//! second (`requests_total` by status, the `request_duration_seconds` buckets) into a ring of
//! [`HISTORY`] samples per route (`ring.rs`); a window is the difference of two samples. The request
//! path does nothing beyond the counting it already does.

mod quantile;
mod ring;

pub use ring::{Ring, Sample, Window};

use crate::routing::RouteTable;
use arc_swap::ArcSwap;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the sampler reads the counters.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// Samples kept per route: five minutes, plus one so the oldest step has a start.
pub const HISTORY: usize = 301;
/// The "last minute" of rates and percentiles.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Samples per sparkline point (5 s), and points per sparkline (5 minutes).
pub const SPARK_STEP: usize = 5;
pub const SPARK_POINTS: usize = 60;

/// One route's figures for the status page.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStats {
    pub window_seconds: u64,
    /// The last [`WINDOW`] (zero and nulls until two samples exist).
    #[serde(flatten)]
    pub last: Window,
    pub history: History,
}

/// Sparkline series, oldest first, one point per `step_seconds`.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub step_seconds: usize,
    pub requests_per_second: Vec<f64>,
    pub p99_ms: Vec<Option<f64>>,
}

/// The rings of every route of the current table, by route name.
#[derive(Default)]
pub struct Stats {
    routes: Mutex<HashMap<Arc<str>, Ring>>,
}

impl Stats {
    /// Reads every route's counters now; rings of routes that left the table are dropped.
    pub fn sample(&self, table: &RouteTable, at: Instant) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        routes.retain(|name, _| table.routes.iter().any(|r| r.name == *name));
        for route in &table.routes {
            let (requests, errors) = route.metrics.answered();
            let (bounds, buckets) = route.metrics.duration_buckets();
            let ring = routes
                .entry(route.name.clone())
                .or_insert_with(|| Ring::new(bounds.into(), HISTORY));
            ring.push(Sample {
                at,
                requests,
                errors,
                buckets,
            });
        }
    }

    /// The last minute and the sparklines of `route`, once it has been sampled.
    pub fn route(&self, route: &str) -> Option<RouteStats> {
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let ring = routes.get(route)?;
        let series = ring.series(SPARK_STEP, SPARK_POINTS);
        Some(RouteStats {
            window_seconds: WINDOW.as_secs(),
            last: ring.last(WINDOW).unwrap_or_default(),
            history: History {
                step_seconds: SPARK_STEP,
                requests_per_second: series.iter().map(|w| w.requests_per_second).collect(),
                p99_ms: series.iter().map(|w| w.p99_ms).collect(),
            },
        })
    }
}

/// Samples the current `table` into `stats` every [`SAMPLE_PERIOD`] until shutdown.
pub async fn run(stats: &Stats, table: &ArcSwap<RouteTable>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => stats.sample(&table.load(), Instant::now()),
            _ = shutdown.changed() => return,
        }
    }
}
