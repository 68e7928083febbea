//! The active health checks of a pool: one probe loop per endpoint, started when the pool goes
//! into service, for endpoints joining later too, and stopped when an endpoint leaves or the
//! pool is retired. Each loop probes at once, then at the jittered interval of `health::pacing`,
//! holds only a weak reference to its endpoint and ends when the endpoint is gone.

use super::{Endpoint, Pool, lock};
use crate::config::HealthCheckConfig;
use crate::health::pacing::jittered;
use crate::health::probe::probe;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// The probe loops running for one pool.
#[derive(Default)]
pub(super) struct ProbeLoops {
    /// Set once health checks run: endpoints joining later get a probe loop too.
    permits: Mutex<Option<Arc<Semaphore>>>,
    running: Mutex<HashMap<SocketAddr, AbortHandle>>,
}

impl ProbeLoops {
    /// The process-wide probe permits, once health checks were started.
    pub(super) fn permits(&self) -> Option<Arc<Semaphore>> {
        lock(&self.permits).clone()
    }

    pub(super) fn is_activated(&self) -> bool {
        lock(&self.permits).is_some()
    }

    /// Stops the loop of an endpoint that left.
    pub(super) fn stop(&self, addr: &SocketAddr) {
        if let Some(h) = lock(&self.running).remove(addr) {
            h.abort();
        }
    }

    pub(super) fn stop_all(&self) {
        for (_, h) in lock(&self.running).drain() {
            h.abort();
        }
    }
}

impl Pool {
    /// Starts one probe loop per endpoint (on the current tokio runtime) if the upstream has a
    /// health check; endpoints joining later get one too. Loops end when their endpoint leaves.
    pub fn start_health_checks(&self, permits: &Arc<Semaphore>) {
        *lock(&self.probes.permits) = Some(permits.clone());
        for ep in self.members().endpoints.iter() {
            self.spawn_checker(ep, permits);
        }
    }

    pub(super) fn spawn_checker(&self, ep: &Arc<Endpoint>, permits: &Arc<Semaphore>) {
        let Some(hc) = self.health_check() else {
            return;
        };
        if self.retired.load(Ordering::Relaxed) {
            return;
        }
        let task = tokio::spawn(run(Arc::downgrade(ep), hc.clone(), permits.clone()));
        if let Some(old) = lock(&self.probes.running).insert(ep.addr, task.abort_handle()) {
            old.abort();
        }
    }
}

/// The probe loop of one endpoint; `permits` bounds concurrent probes across the process.
async fn run(endpoint: Weak<Endpoint>, hc: HealthCheckConfig, permits: Arc<Semaphore>) {
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
