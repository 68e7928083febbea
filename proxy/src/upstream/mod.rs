//! Upstream pools: the endpoints of one upstream, which one a request gets, and what the data
//! path reports back (successes, failures → outlier detection; retries → the retry budget).
//!
//! Selection: among endpoints that are eligible (healthy, not ejected) and not yet tried by this
//! request, the balancer picks one. If no endpoint of the pool is eligible at all, the pool is in
//! **panic mode**: it picks among all untried endpoints regardless of health rather than fail
//! closed, and counts it.

mod balance;
mod endpoint;

pub use balance::hash_bytes;
pub use endpoint::{Endpoint, InFlight};

use crate::config::{HealthCheckConfig, OutlierConfig, UpstreamConfig};
use crate::health::checker;
use crate::metrics::{Metrics, PoolMetrics};
use balance::Balancer;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;

/// Retries may be in flight for at most this share of a pool's active requests…
pub const RETRY_BUDGET_PERCENT: usize = 20;
/// …but this many are always allowed.
pub const RETRY_BUDGET_MIN: usize = 3;

pub struct Pool {
    pub name: Arc<str>,
    pub endpoints: Vec<Arc<Endpoint>>,
    pub config: UpstreamConfig,
    pub metrics: Arc<PoolMetrics>,
    balancer: Balancer,
    eject_lock: Mutex<()>,
    active: AtomicUsize,
    retrying: AtomicUsize,
    checkers: Mutex<Vec<AbortHandle>>,
}

/// The endpoint a request got.
pub struct Selected {
    pub index: u32,
    pub guard: InFlight,
    /// No endpoint was eligible: chosen in panic mode.
    pub panic: bool,
}

impl Pool {
    pub fn new(cfg: &UpstreamConfig, metrics: &Metrics) -> Self {
        let name: Arc<str> = cfg.name.as_str().into();
        let pool_metrics = Arc::new(metrics.pool(&cfg.name));
        let require_first = cfg
            .health_check
            .as_ref()
            .is_some_and(|h| h.require_first_check);
        let endpoints: Vec<Arc<Endpoint>> = cfg
            .endpoints
            .iter()
            .map(|addr| {
                Arc::new(Endpoint::new(
                    *addr,
                    name.clone(),
                    require_first,
                    metrics.endpoint(&cfg.name, &addr.to_string()),
                    pool_metrics.clone(),
                ))
            })
            .collect();
        Self {
            balancer: Balancer::new(&cfg.load_balancing, &endpoints),
            name,
            endpoints,
            config: cfg.clone(),
            metrics: pool_metrics,
            eject_lock: Mutex::new(()),
            active: AtomicUsize::new(0),
            retrying: AtomicUsize::new(0),
            checkers: Mutex::new(Vec::new()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    pub fn retries(&self) -> usize {
        self.config.retries
    }

    pub fn health_check(&self) -> Option<&HealthCheckConfig> {
        self.config.health_check.as_ref()
    }

    fn outlier(&self) -> &OutlierConfig {
        &self.config.outlier
    }

    /// Starts one probe loop per endpoint (on the current tokio runtime) if the upstream has a
    /// health check. The loops end when the pool is dropped.
    pub fn start_health_checks(&self, permits: &Arc<Semaphore>) {
        let Some(hc) = self.health_check() else {
            return;
        };
        let mut checkers = self
            .checkers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ep in &self.endpoints {
            let task = tokio::spawn(checker::run(
                Arc::downgrade(ep),
                hc.clone(),
                permits.clone(),
            ));
            checkers.push(task.abort_handle());
        }
    }

    /// Picks an endpoint not in `tried`; `key` is the request's hash key for `hash` balancing.
    pub fn select(&self, tried: &[u32], key: Option<u64>) -> Option<Selected> {
        let untried = |i: usize| !tried.contains(&(i as u32));
        let eps = &self.endpoints;
        if let Some(i) = self
            .balancer
            .pick(eps, |i| untried(i) && eps[i].health.eligible(), key)
        {
            return Some(self.selected(i, false));
        }
        if eps.iter().any(|e| e.health.eligible()) {
            return None; // every eligible endpoint was tried already
        }
        let i = self.balancer.pick(eps, untried, key)?;
        self.metrics.panic_routing.inc();
        Some(self.selected(i, true))
    }

    /// Whether `select` would find an endpoint outside `tried` (without choosing one).
    pub fn can_select(&self, tried: &[u32]) -> bool {
        let untried = |i: usize| !tried.contains(&(i as u32));
        let eps = &self.endpoints;
        let any_eligible = eps.iter().any(|e| e.health.eligible());
        (0..eps.len()).any(|i| untried(i) && (!any_eligible || eps[i].health.eligible()))
    }

    fn selected(&self, i: usize, panic: bool) -> Selected {
        Selected {
            index: i as u32,
            guard: InFlight::new(&self.endpoints[i]),
            panic,
        }
    }

    /// A request on `ep` failed (connect error, reset, timeout, or 502/503/504): feeds outlier
    /// detection, ejecting only while `max_ejection_percent` allows and one endpoint remains.
    pub fn record_failure(&self, ep: &Arc<Endpoint>, what: &str) {
        ep.count_failure();
        let cfg = *self.outlier();
        if cfg.consecutive_failures == 0 {
            return;
        }
        let transition = {
            let _guard = self
                .eject_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = self.endpoints.len();
            let after = self
                .endpoints
                .iter()
                .filter(|e| e.health.is_ejected())
                .count()
                + 1;
            let may_eject = after < n && after * 100 <= n * usize::from(cfg.max_ejection_percent);
            ep.health
                .failure(tokio::time::Instant::now(), &cfg, may_eject)
        };
        if let Some(t @ crate::health::Transition::Ejected { duration, .. }) = transition {
            ep.apply(t, what);
            let weak = Arc::downgrade(ep);
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(async move {
                        tokio::time::sleep(duration).await;
                        if let Some(ep) = weak.upgrade()
                            && let Some(t) = ep.health.return_if_due(tokio::time::Instant::now())
                        {
                            ep.apply(t, "");
                        }
                    });
                }
                Err(_) => {
                    tracing::error!("no runtime to schedule the return of an ejected endpoint")
                }
            }
        }
    }

    /// Counts a request as active for the retry budget until the guard drops.
    pub fn begin_request(self: &Arc<Self>) -> ActiveRequest {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            pool: self.clone(),
            retrying: false,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for h in self
            .checkers
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            h.abort();
        }
    }
}

/// One request's share of the retry budget.
pub struct ActiveRequest {
    pool: Arc<Pool>,
    retrying: bool,
}

impl ActiveRequest {
    /// Whether this request may retry after its request was sent: retries in flight stay within
    /// `RETRY_BUDGET_PERCENT` of the pool's active requests (at least `RETRY_BUDGET_MIN`).
    pub fn try_retry(&mut self) -> bool {
        if self.retrying {
            return true;
        }
        let active = self.pool.active.load(Ordering::Relaxed);
        let allowed = (active * RETRY_BUDGET_PERCENT / 100).max(RETRY_BUDGET_MIN);
        if self.pool.retrying.fetch_add(1, Ordering::Relaxed) < allowed {
            self.retrying = true;
            true
        } else {
            self.pool.retrying.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.pool.active.fetch_sub(1, Ordering::Relaxed);
        if self.retrying {
            self.pool.retrying.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
