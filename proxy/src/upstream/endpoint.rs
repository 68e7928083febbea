//! One replica of an upstream: address, counters, health, metric handles.

use crate::health::{EndpointHealth, Transition};
use crate::metrics::{EndpointMetrics, PoolMetrics};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::sync::watch;

pub struct Endpoint {
    pub addr: SocketAddr,
    /// `addr` as text, for logs, labels and `/status`.
    pub label: Arc<str>,
    pub upstream: Arc<str>,
    in_flight: AtomicUsize,
    /// Kubernetes says it is shutting down: no new requests unless nothing else is eligible.
    terminating: AtomicBool,
    requests: AtomicU64,
    failures: AtomicU64,
    pub health: EndpointHealth,
    pub metrics: EndpointMetrics,
    pool_metrics: Arc<PoolMetrics>,
    /// Bumped at every health transition, for whoever wants to await one.
    changes: watch::Sender<u64>,
}

impl Endpoint {
    pub fn new(
        addr: SocketAddr,
        upstream: Arc<str>,
        require_first_check: bool,
        metrics: EndpointMetrics,
        pool_metrics: Arc<PoolMetrics>,
    ) -> Self {
        let health = EndpointHealth::new(require_first_check);
        metrics.healthy.set(i64::from(!require_first_check));
        Self {
            addr,
            label: addr.to_string().into(),
            upstream,
            in_flight: AtomicUsize::new(0),
            terminating: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            health,
            metrics,
            pool_metrics,
            changes: watch::Sender::new(0),
        }
    }

    /// A receiver that sees every health transition of this endpoint.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// May take new requests: healthy, not ejected, not terminating.
    pub fn eligible(&self) -> bool {
        self.health.eligible() && !self.terminating.load(Ordering::Relaxed)
    }

    pub fn is_terminating(&self) -> bool {
        self.terminating.load(Ordering::Relaxed)
    }

    pub(crate) fn set_terminating(&self, terminating: bool) {
        self.terminating.store(terminating, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn pool_metrics(&self) -> &PoolMetrics {
        &self.pool_metrics
    }

    /// Publishes a health transition: gauges, counters and one log line, then wakes the
    /// watchers (after the gauges, so a watcher woken by it reads them updated).
    pub fn apply(&self, t: Transition, detail: &str) {
        let (upstream, endpoint) = (&*self.upstream, &*self.label);
        match t {
            Transition::BecameHealthy => {
                self.metrics.healthy.set(1);
                tracing::info!(upstream, endpoint, probe = detail, "endpoint healthy");
            }
            Transition::BecameUnhealthy => {
                self.metrics.healthy.set(0);
                tracing::warn!(upstream, endpoint, probe = detail, "endpoint unhealthy");
            }
            Transition::Ejected { duration, reason } => {
                self.metrics.ejected.set(1);
                match reason {
                    crate::health::EjectReason::ConsecutiveFailures => {
                        self.pool_metrics.ejected_consecutive.inc()
                    }
                    crate::health::EjectReason::FailedOnProbation => {
                        self.pool_metrics.ejected_on_probation.inc()
                    }
                }
                tracing::warn!(
                    upstream,
                    endpoint,
                    reason = reason.as_str(),
                    failure = detail,
                    ejected_for_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                    "endpoint ejected"
                );
            }
            Transition::Returned => {
                self.metrics.ejected.set(0);
                tracing::info!(
                    upstream,
                    endpoint,
                    "endpoint returned to rotation on probation"
                );
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }
}

/// Counts a request against its endpoint while alive.
pub struct InFlight(Arc<Endpoint>);

impl InFlight {
    pub(crate) fn new(ep: &Arc<Endpoint>) -> Self {
        ep.in_flight.fetch_add(1, Ordering::Relaxed);
        ep.requests.fetch_add(1, Ordering::Relaxed);
        Self(ep.clone())
    }

    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
