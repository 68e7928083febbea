//! Upstream pools: the endpoints of one upstream, which one a request gets, and what the data
//! path reports back (successes, failures → outlier detection; retries → the retry budget).
//!
//! Selection: among endpoints that are eligible (healthy, not ejected, not terminating) and not
//! yet tried by this request, the balancer picks one. If no endpoint of the pool is eligible at
//! all, the pool is in **panic mode**: it picks among all untried endpoints regardless of health
//! rather than fail closed, and counts it.
//!
//! Membership can change at run time (discovery, reload): the member list is an `ArcSwap`
//! snapshot, and an endpoint that stays keeps its `Arc<Endpoint>` — health, ejection state and
//! counters survive.
//!
//! This file holds the pool itself and its life cycle (discovery tasks, retirement); each other
//! job has its file: `members` (membership), `select` (tiers and panic mode), `balance` (the
//! balancers), `hash_key` (the `hash` key of a request), `outlier` (ejection and return),
//! `budget` (the retry budget), `probe_loop` (the active health checks), `endpoint`.

mod balance;
mod budget;
mod endpoint;
mod hash_key;
mod members;
mod outlier;
mod probe_loop;
mod select;

pub use balance::hash_bytes;
pub use budget::ActiveRequest;
pub use endpoint::{Endpoint, InFlight};
pub use hash_key::hash_key;
pub use members::Members;
pub use select::Selected;

use crate::config::{HealthCheckConfig, UpstreamConfig};
use crate::metrics::{EndpointMetricsFactory, Metrics, PoolMetrics};
use arc_swap::ArcSwap;
use budget::RetryBudget;
use probe_loop::ProbeLoops;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::task::AbortHandle;

pub struct Pool {
    pub name: Arc<str>,
    pub config: UpstreamConfig,
    pub metrics: Arc<PoolMetrics>,
    endpoint_metrics: EndpointMetricsFactory,
    members: ArcSwap<Members>,
    /// Every endpoint object still alive, so one that leaves and comes back keeps its state and
    /// its metric series.
    known: Mutex<HashMap<SocketAddr, Weak<Endpoint>>>,
    /// Taken by each ejection decision (`outlier`).
    eject_lock: Mutex<()>,
    budget: RetryBudget,
    probes: ProbeLoops,
    /// Discovery tasks feeding this pool.
    tasks: Mutex<Vec<AbortHandle>>,
    retired: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A pool for `cfg`. Endpoints of `previous` (the pool this one replaces on reload) are
    /// reused: static ones that are still listed, and with discovery all of them until the
    /// provider reports again.
    pub fn new(cfg: &UpstreamConfig, metrics: &Metrics, previous: Option<&Pool>) -> Self {
        let pool = Self {
            name: cfg.name.as_str().into(),
            config: cfg.clone(),
            metrics: Arc::new(metrics.pool(&cfg.name)),
            endpoint_metrics: metrics.endpoint_factory(),
            members: ArcSwap::from_pointee(Members::new(&cfg.load_balancing, Vec::new())),
            known: Mutex::new(HashMap::new()),
            eject_lock: Mutex::new(()),
            budget: RetryBudget::default(),
            probes: ProbeLoops::default(),
            tasks: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
        };
        let terminating = previous.map(|prev| pool.inherit(prev)).unwrap_or_default();
        pool.set_members(&members::initial(cfg, previous), &terminating);
        if cfg.health_check.is_none() {
            pool.forget_active_verdicts();
        }
        pool
    }

    pub fn retries(&self) -> usize {
        self.config.retries
    }

    pub fn health_check(&self) -> Option<&HealthCheckConfig> {
        self.config.health_check.as_ref()
    }

    /// Keeps `task` (a discovery provider) running for as long as the pool is in service.
    pub fn attach_task(&self, task: AbortHandle) {
        if self.retired.load(Ordering::Relaxed) {
            task.abort();
        } else {
            lock(&self.tasks).push(task);
        }
    }

    /// Takes the pool out of service after a reload replaced it: probes and discovery stop at
    /// once (requests still holding the old table may finish on it).
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.probes.stop_all();
        for h in lock(&self.tasks).drain(..) {
            h.abort();
        }
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.retire();
    }
}

#[cfg(test)]
mod tests;
