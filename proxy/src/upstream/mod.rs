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

mod balance;
mod budget;
mod endpoint;
mod hash_key;
mod outlier;
mod probe_loop;

pub use balance::hash_bytes;
pub use budget::{ActiveRequest, RETRY_BUDGET_MIN, RETRY_BUDGET_PERCENT};
pub use endpoint::{Endpoint, InFlight};
pub use hash_key::hash_key;

use crate::config::{HealthCheckConfig, UpstreamConfig};
use crate::metrics::{EndpointMetricsFactory, Metrics, PoolMetrics};
use arc_swap::{ArcSwap, Guard};
use balance::Balancer;
use budget::RetryBudget;
use probe_loop::ProbeLoops;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::task::AbortHandle;

/// One snapshot of a pool's endpoints and the balancer built for them.
pub struct Members {
    pub endpoints: Vec<Arc<Endpoint>>,
    balancer: Balancer,
}

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

/// The endpoint a request got.
pub struct Selected {
    pub guard: InFlight,
    /// No endpoint was eligible: chosen in panic mode.
    pub panic: bool,
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
            members: ArcSwap::from_pointee(Members {
                endpoints: Vec::new(),
                balancer: Balancer::new(&cfg.load_balancing, &[]),
            }),
            known: Mutex::new(HashMap::new()),
            eject_lock: Mutex::new(()),
            budget: RetryBudget::default(),
            probes: ProbeLoops::default(),
            tasks: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
        };
        let mut terminating = Vec::new();
        if let Some(prev) = previous {
            // Every endpoint object of the previous pool still alive (members, and former members
            // pinned by requests in flight) is reused, so one label set never has two owners.
            let mut known = lock(&pool.known);
            for (addr, ep) in lock(&prev.known).iter() {
                known.insert(*addr, ep.clone());
            }
            for ep in prev.members().endpoints.iter() {
                known.insert(ep.addr, Arc::downgrade(ep));
                if ep.is_terminating() {
                    terminating.push(ep.addr);
                }
            }
        }
        // With discovery, the previous members serve until the provider answers (a failed
        // lookup keeps the last good set, across reloads too).
        let initial: Vec<SocketAddr> = match (&cfg.discovery, previous) {
            (crate::config::Discovery::Static, _) => cfg.endpoints.clone(),
            (_, Some(prev)) => prev.members().endpoints.iter().map(|e| e.addr).collect(),
            (_, None) => Vec::new(),
        };
        pool.set_members(&initial, &terminating);
        if cfg.health_check.is_none() {
            // Nothing will probe these endpoints any more: forget their active verdicts.
            for ep in pool.members().endpoints.iter() {
                if let Some(t) = ep.health.reset_active() {
                    ep.apply(t, "health check removed");
                }
            }
        }
        pool
    }

    /// The current members (a cheap snapshot; do not hold it across an await).
    pub fn members(&self) -> Guard<Arc<Members>> {
        self.members.load()
    }

    pub fn is_empty(&self) -> bool {
        self.members().endpoints.is_empty()
    }

    pub fn retries(&self) -> usize {
        self.config.retries
    }

    pub fn health_check(&self) -> Option<&HealthCheckConfig> {
        self.config.health_check.as_ref()
    }

    /// Replaces the members with `addrs`; those in `terminating` take no new requests unless
    /// nothing else is eligible. Endpoints that stay keep their state.
    pub fn set_members(&self, addrs: &[SocketAddr], terminating: &[SocketAddr]) {
        let current = self.members();
        let same = current.endpoints.len() == addrs.len()
            && current
                .endpoints
                .iter()
                .zip(addrs)
                .all(|(e, a)| e.addr == *a);
        if same {
            for ep in current.endpoints.iter() {
                ep.set_terminating(terminating.contains(&ep.addr));
            }
            return;
        }
        let require_first = self.health_check().is_some_and(|h| h.require_first_check);
        let mut known = lock(&self.known);
        known.retain(|_, w| w.strong_count() > 0);
        let mut joined = Vec::new();
        let endpoints: Vec<Arc<Endpoint>> = addrs
            .iter()
            .map(|addr| {
                let ep = known.get(addr).and_then(Weak::upgrade).unwrap_or_else(|| {
                    let ep = Arc::new(Endpoint::new(
                        *addr,
                        self.name.clone(),
                        require_first,
                        self.endpoint_metrics
                            .endpoint(&self.name, &addr.to_string()),
                        self.metrics.clone(),
                    ));
                    known.insert(*addr, Arc::downgrade(&ep));
                    ep
                });
                ep.set_terminating(terminating.contains(addr));
                if !current.endpoints.iter().any(|e| e.addr == *addr) {
                    joined.push(ep.clone());
                }
                ep
            })
            .collect();
        drop(known);
        for gone in current
            .endpoints
            .iter()
            .filter(|e| !addrs.contains(&e.addr))
        {
            tracing::info!(
                upstream = &*self.name,
                endpoint = &*gone.label,
                "endpoint left the pool"
            );
            self.probes.stop(&gone.addr);
        }
        for ep in &joined {
            if !current.endpoints.is_empty() || self.probes.is_activated() {
                tracing::info!(
                    upstream = &*self.name,
                    endpoint = &*ep.label,
                    "endpoint joined the pool"
                );
            }
        }
        let balancer = Balancer::new(&self.config.load_balancing, &endpoints);
        self.members.store(Arc::new(Members {
            endpoints,
            balancer,
        }));
        if let Some(permits) = self.probes.permits() {
            for ep in &joined {
                self.spawn_checker(ep, &permits);
            }
        }
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

    /// Picks an endpoint not in `tried`; `key` is the request's hash key for `hash` balancing.
    pub fn select(&self, tried: &[SocketAddr], key: Option<u64>) -> Option<Selected> {
        let m = self.members();
        let eps = &m.endpoints;
        let tier = Tier::of(eps);
        let i = m.balancer.pick(
            eps,
            |i| !tried.contains(&eps[i].addr) && tier.admits(&eps[i]),
            key,
        )?;
        let panic = tier == Tier::Panic;
        if panic {
            self.metrics.panic_routing.inc();
        }
        Some(Selected {
            guard: InFlight::new(&eps[i]),
            panic,
        })
    }

    /// Whether `select` would find an endpoint outside `tried` (without choosing one).
    pub fn can_select(&self, tried: &[SocketAddr]) -> bool {
        let m = self.members();
        let tier = Tier::of(&m.endpoints);
        m.endpoints
            .iter()
            .any(|e| !tried.contains(&e.addr) && tier.admits(e))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.retire();
    }
}

/// Which endpoints may take a request: the eligible ones; when none is, the healthy ones that
/// are only terminating (still serving, as Kubernetes says); when none of those either — panic
/// mode — every endpoint. Endpoints a request already tried are excluded on top of this.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Eligible,
    Serving,
    Panic,
}

impl Tier {
    fn of(eps: &[Arc<Endpoint>]) -> Self {
        if eps.iter().any(|e| e.eligible()) {
            Tier::Eligible
        } else if eps.iter().any(|e| e.health.eligible()) {
            Tier::Serving
        } else {
            Tier::Panic
        }
    }

    fn admits(self, e: &Endpoint) -> bool {
        match self {
            Tier::Eligible => e.eligible(),
            Tier::Serving => e.health.eligible(),
            Tier::Panic => true,
        }
    }
}

#[cfg(test)]
mod tests;
