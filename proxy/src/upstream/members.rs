//! A pool's membership: the current snapshot of endpoints with its balancer, replaced as a whole
//! when discovery or a reload changes the list. An endpoint that stays — or leaves and comes back
//! while its object is alive — keeps its `Arc<Endpoint>`: health, ejection state, counters and
//! metric series survive.

use super::balance::Balancer;
use super::{Endpoint, Pool, lock};
use crate::config::{Discovery, LoadBalancing, UpstreamConfig};
use arc_swap::Guard;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

/// One snapshot of a pool's endpoints and the balancer built for them.
pub struct Members {
    pub endpoints: Vec<Arc<Endpoint>>,
    pub(super) balancer: Balancer,
}

impl Members {
    pub(super) fn new(lb: &LoadBalancing, endpoints: Vec<Arc<Endpoint>>) -> Self {
        let balancer = Balancer::new(lb, &endpoints);
        Self {
            endpoints,
            balancer,
        }
    }
}

/// The members a new pool starts with. With discovery, the previous members serve until the
/// provider answers (a failed lookup keeps the last good set, across reloads too).
pub(super) fn initial(cfg: &UpstreamConfig, previous: Option<&Pool>) -> Vec<SocketAddr> {
    match (&cfg.discovery, previous) {
        (Discovery::Static, _) => cfg.endpoints.clone(),
        (_, Some(prev)) => prev.members().endpoints.iter().map(|e| e.addr).collect(),
        (_, None) => Vec::new(),
    }
}

impl Pool {
    /// The current members (a cheap snapshot; do not hold it across an await).
    pub fn members(&self) -> Guard<Arc<Members>> {
        self.members.load()
    }

    pub fn is_empty(&self) -> bool {
        self.members().endpoints.is_empty()
    }

    /// Takes over every endpoint object of `prev` still alive (members, and former members
    /// pinned by requests in flight), so one label set never has two owners. Returns the
    /// members of `prev` that are terminating.
    pub(super) fn inherit(&self, prev: &Pool) -> Vec<SocketAddr> {
        let mut terminating = Vec::new();
        let mut known = lock(&self.known);
        for (addr, ep) in lock(&prev.known).iter() {
            known.insert(*addr, ep.clone());
        }
        for ep in prev.members().endpoints.iter() {
            known.insert(ep.addr, Arc::downgrade(ep));
            if ep.is_terminating() {
                terminating.push(ep.addr);
            }
        }
        terminating
    }

    /// Nothing will probe the members any more: forgets their active verdicts.
    pub(super) fn forget_active_verdicts(&self) {
        for ep in self.members().endpoints.iter() {
            if let Some(t) = ep.health.reset_active() {
                ep.apply(t, "health check removed");
            }
        }
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
        let (endpoints, joined) = self.endpoints_for(addrs, terminating, &current.endpoints);
        self.log_changes(&current.endpoints, addrs, &joined);
        for gone in current
            .endpoints
            .iter()
            .filter(|e| !addrs.contains(&e.addr))
        {
            self.probes.stop(&gone.addr);
        }
        self.members.store(Arc::new(Members::new(
            &self.config.load_balancing,
            endpoints,
        )));
        if let Some(permits) = self.probes.permits() {
            for ep in &joined {
                self.spawn_checker(ep, &permits);
            }
        }
    }

    /// The endpoint objects for `addrs` (known ones reused, others made), and those among them
    /// that are not in `current`.
    fn endpoints_for(
        &self,
        addrs: &[SocketAddr],
        terminating: &[SocketAddr],
        current: &[Arc<Endpoint>],
    ) -> (Vec<Arc<Endpoint>>, Vec<Arc<Endpoint>>) {
        let require_first = self.health_check().is_some_and(|h| h.require_first_check);
        let mut known = lock(&self.known);
        known.retain(|_, w| w.strong_count() > 0);
        let mut joined = Vec::new();
        let endpoints = addrs
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
                if !current.iter().any(|e| e.addr == *addr) {
                    joined.push(ep.clone());
                }
                ep
            })
            .collect();
        (endpoints, joined)
    }

    /// Logs the endpoints that left and those that joined.
    fn log_changes(
        &self,
        current: &[Arc<Endpoint>],
        addrs: &[SocketAddr],
        joined: &[Arc<Endpoint>],
    ) {
        for gone in current.iter().filter(|e| !addrs.contains(&e.addr)) {
            tracing::info!(
                upstream = &*self.name,
                endpoint = &*gone.label,
                "endpoint left the pool"
            );
        }
        for ep in joined {
            if !current.is_empty() || self.probes.is_activated() {
                tracing::info!(
                    upstream = &*self.name,
                    endpoint = &*ep.label,
                    "endpoint joined the pool"
                );
            }
        }
    }
}
