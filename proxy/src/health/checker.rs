//! The probe loop of one endpoint: probe at once, then every `interval` ± 10% jitter, so the
//! replicas of many upstreams never probe in lock-step. The loop holds only a weak reference
//! and ends when the endpoint leaves its pool. A process-wide semaphore bounds concurrent probes.

use crate::config::HealthCheckConfig;
use crate::health::probe::probe;
use crate::upstream::Endpoint;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Most probes in flight at once across the process.
pub const MAX_CONCURRENT_PROBES: usize = 64;

pub fn probe_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_CONCURRENT_PROBES))
}

/// `interval` scaled by a random factor in [0.9, 1.1].
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + fastrand::f64() * 0.2)
}

pub async fn run(endpoint: Weak<Endpoint>, hc: HealthCheckConfig, permits: Arc<Semaphore>) {
    loop {
        let Some(ep) = endpoint.upgrade() else { return };
        if hc.skip_when_traffic_healthy
            && ep.health.eligible()
            && ep.health.served_within(hc.interval)
        {
            ep.pool_metrics().checks_skipped.inc();
        } else {
            let record = {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                probe(ep.addr, &hc).await
            };
            if record.passed {
                ep.pool_metrics().checks_success.inc();
            } else {
                ep.pool_metrics().checks_failure.inc();
            }
            let detail = record.detail.clone();
            for t in ep.health.probe(record, &hc).into_iter().flatten() {
                ep.apply(t, &detail);
            }
        }
        drop(ep);
        tokio::time::sleep(jittered(hc.interval)).await;
    }
}
