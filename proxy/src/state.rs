//! Process state shared by the data path, the admin listener, reloads and discovery.

use crate::config::Config;
use crate::discovery::{self, DiscoveryContext};
use crate::health::pacing;
use crate::metrics::Metrics;
use crate::routing::RouteTable;
use crate::stats::Stats;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Semaphore, watch};

pub struct State {
    /// The routing snapshot; a request loads it once and keeps it (see `proxy/`).
    pub table: ArcSwap<RouteTable>,
    pub metrics: Metrics,
    /// Bounds concurrent health probes across every pool.
    pub probe_permits: Arc<Semaphore>,
    pub discovery: DiscoveryContext,
    /// Bytes held by unfinished request heads of every connection (`edge::head`).
    pub pending_heads: AtomicUsize,
    ready: AtomicBool,
    /// Per-route rates and latency of the last minutes (`stats`), for the status page.
    pub stats: Stats,
    /// When the process state was made (the uptime of `/status`).
    pub started: Instant,
    reload_record: Mutex<ReloadRecord>,
    /// Bumped after every reload attempt (applied or rejected).
    reloads: watch::Sender<u64>,
}

impl State {
    pub fn new(config: &Config) -> Result<Arc<Self>, prometheus::Error> {
        let metrics = Metrics::new()?;
        let table = RouteTable::build(config, &metrics);
        Ok(Arc::new(Self {
            table: ArcSwap::from_pointee(table),
            metrics,
            probe_permits: pacing::probe_permits(),
            discovery: DiscoveryContext::new(config),
            pending_heads: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            stats: Stats::default(),
            started: Instant::now(),
            reload_record: Mutex::default(),
            reloads: watch::Sender::new(0),
        }))
    }

    /// Starts health checks and discovery for every pool of the current table, then waits (at
    /// most `wait`) for the first discovery round so the proxy is not ready with empty pools.
    pub async fn activate(&self, wait: Duration) {
        let table = self.table.load_full();
        let mut first_rounds = Vec::new();
        for pool in &table.pools {
            pool.start_health_checks(&self.probe_permits);
            first_rounds.extend(discovery::start(pool, &self.discovery));
        }
        discovery::await_first_rounds(first_rounds, wait).await;
    }

    /// Publishes a new table built with `RouteTable::rebuild`: pools it no longer uses are
    /// retired, new pools start their probes and discovery.
    pub fn publish(&self, table: RouteTable) {
        let new = Arc::new(table);
        let old = self.table.swap(new.clone());
        for pool in &old.pools {
            if !new.pools.iter().any(|p| Arc::ptr_eq(p, pool)) {
                pool.retire();
            }
        }
        for pool in &new.pools {
            if !old.pools.iter().any(|p| Arc::ptr_eq(p, pool)) {
                pool.start_health_checks(&self.probe_permits);
                let _first_round = discovery::start(pool, &self.discovery);
            }
        }
    }

    /// Sees every reload attempt (applied or rejected).
    pub fn reload_events(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// The outcome of the last reloads (for `/status`).
    pub fn reload_record(&self) -> ReloadRecord {
        self.reload_record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records an applied reload (`problems` empty) or a rejected one with its problems.
    pub(crate) fn record_reload(&self, problems: Vec<String>) {
        let mut r = self
            .reload_record
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        if problems.is_empty() {
            r.last_success = Some(now);
        } else {
            r.last_failure = Some(now);
            r.problems = problems;
        }
    }

    pub(crate) fn reload_attempted(&self) {
        self.reloads.send_modify(|n| *n += 1);
    }

    /// `/readyz`: true once the listeners are up, false again while draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// What the reloads of this process did.
#[derive(Debug, Clone, Default)]
pub struct ReloadRecord {
    pub last_success: Option<SystemTime>,
    pub last_failure: Option<SystemTime>,
    /// The last rejected file's problems, each `FILE:LINE:COL: field.path: problem`.
    pub problems: Vec<String>,
}
