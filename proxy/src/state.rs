//! Process state shared by the data path and the admin listener.

use crate::config::Config;
use crate::health::checker;
use crate::metrics::Metrics;
use crate::routing::RouteTable;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Semaphore;

pub struct State {
    /// The routing snapshot; a request loads it once and keeps it (see `proxy.rs`).
    pub table: ArcSwap<RouteTable>,
    pub metrics: Metrics,
    /// Bounds concurrent health probes across every pool.
    pub probe_permits: Arc<Semaphore>,
    ready: AtomicBool,
}

impl State {
    pub fn new(config: &Config) -> Result<Arc<Self>, prometheus::Error> {
        let metrics = Metrics::new()?;
        let table = RouteTable::build(config, &metrics);
        Ok(Arc::new(Self {
            table: ArcSwap::from_pointee(table),
            metrics,
            probe_permits: checker::probe_permits(),
            ready: AtomicBool::new(false),
        }))
    }

    /// Starts the probe loops of every pool of the current table (on the current runtime).
    pub fn start_health_checks(&self) {
        for pool in &self.table.load().pools {
            pool.start_health_checks(&self.probe_permits);
        }
    }

    /// `/readyz`: true once the listeners are up, false again while draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}
