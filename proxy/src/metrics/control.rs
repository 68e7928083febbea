//! The process's own series: open connections (all and per worker), config reloads, the build,
//! dropped log lines and, in a `heap-stats` build, live heap bytes.

use super::registrar::Registrar;
use super::{
    BUILD_INFO, CONFIG_LAST_RELOAD_SUCCESSFUL, CONFIG_RELOADS_TOTAL, DOWNSTREAM_CONNECTIONS,
    HEAP_LIVE_BYTES, WORKER_CONNECTIONS,
};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntGauge, IntGaugeVec};

/// The handles of the process's series (`Metrics` exposes them as its own fields).
pub(super) struct ControlMetrics {
    pub(super) downstream_connections: IntGauge,
    pub(super) worker_connections: IntGaugeVec,
    pub(super) reloads_success: IntCounter,
    pub(super) reloads_failure: IntCounter,
    pub(super) last_reload_successful: IntGauge,
}

impl ControlMetrics {
    pub(super) fn register(r: &Registrar<'_>) -> prometheus::Result<Self> {
        let downstream_connections = r.gauge(
            DOWNSTREAM_CONNECTIONS,
            "Open client connections on the public listeners.",
        )?;
        let worker_connections = r.gauges(
            WORKER_CONNECTIONS,
            "Open client connections served by each worker thread.",
            &["worker"],
        )?;
        r.gauges(
            BUILD_INFO,
            "Always 1; the version label names the running build.",
            &["version"],
        )?
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
        let reloads = r.counters(
            CONFIG_RELOADS_TOTAL,
            "Config reload attempts, by result.",
            &["result"],
        )?;
        let last_reload_successful = r.gauge(
            CONFIG_LAST_RELOAD_SUCCESSFUL,
            "1 if the last config reload succeeded (or none was tried), 0 if it failed.",
        )?;
        last_reload_successful.set(1);
        r.add(crate::log::LINES_DROPPED.clone())?;
        if crate::heap::live_bytes().is_some() {
            r.add(HeapLiveBytes(IntGauge::new(
                HEAP_LIVE_BYTES,
                "Heap bytes allocated and not yet freed (a heap-stats build only).",
            )?))?;
        }
        Ok(Self {
            downstream_connections,
            worker_connections,
            reloads_success: reloads.with_label_values(&["success"]),
            reloads_failure: reloads.with_label_values(&["failure"]),
            last_reload_successful,
        })
    }
}

/// Reads the allocator's counter when the registry is gathered, so no task keeps it up to date.
#[derive(Clone)]
struct HeapLiveBytes(IntGauge);

impl Collector for HeapLiveBytes {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let bytes = crate::heap::live_bytes().unwrap_or(0);
        self.0.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.0.collect()
    }
}
