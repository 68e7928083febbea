//! Per-upstream-pool counters: outlier ejections, health probes, panic routing and discovery
//! errors.

use super::registrar::Registrar;
use super::{DISCOVERY_ERRORS_TOTAL, EJECTIONS_TOTAL, HEALTH_CHECKS_TOTAL, PANIC_ROUTING_TOTAL};
use prometheus::{IntCounter, IntCounterVec};

/// The families a pool's series live in.
pub(super) struct PoolFamilies {
    ejections: IntCounterVec,
    health_checks: IntCounterVec,
    panic_routing: IntCounterVec,
    discovery_errors: IntCounterVec,
}

impl PoolFamilies {
    pub(super) fn register(r: &Registrar<'_>) -> prometheus::Result<Self> {
        Ok(Self {
            ejections: r.counters(
                EJECTIONS_TOTAL,
                "Endpoints ejected by outlier detection, by upstream and reason.",
                &["upstream", "reason"],
            )?,
            health_checks: r.counters(
                HEALTH_CHECKS_TOTAL,
                "Active health probes, by upstream and result (success, failure, skipped).",
                &["upstream", "result"],
            )?,
            panic_routing: r.counters(
                PANIC_ROUTING_TOTAL,
                "Requests routed across all endpoints because none was eligible (panic mode), by upstream.",
                &["upstream"],
            )?,
            discovery_errors: r.counters(
                DISCOVERY_ERRORS_TOTAL,
                "Failed discovery lookups (DNS, Kubernetes), by upstream.",
                &["upstream"],
            )?,
        })
    }

    /// Handles for one upstream pool.
    pub(super) fn pool(&self, upstream: &str) -> PoolMetrics {
        PoolMetrics {
            ejected_consecutive: self
                .ejections
                .with_label_values(&[upstream, "consecutive_failures"]),
            ejected_on_probation: self
                .ejections
                .with_label_values(&[upstream, "failed_on_probation"]),
            checks_success: self.health_checks.with_label_values(&[upstream, "success"]),
            checks_failure: self.health_checks.with_label_values(&[upstream, "failure"]),
            checks_skipped: self.health_checks.with_label_values(&[upstream, "skipped"]),
            panic_routing: self.panic_routing.with_label_values(&[upstream]),
            discovery_errors: self.discovery_errors.with_label_values(&[upstream]),
        }
    }
}

/// Pre-resolved handles of one upstream pool.
pub struct PoolMetrics {
    pub ejected_consecutive: IntCounter,
    pub ejected_on_probation: IntCounter,
    pub checks_success: IntCounter,
    pub checks_failure: IntCounter,
    pub checks_skipped: IntCounter,
    pub panic_routing: IntCounter,
    pub discovery_errors: IntCounter,
}
