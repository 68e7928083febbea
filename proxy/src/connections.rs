//! Connection accounting: how many client connections are open (for `limits.max_connections`
//! and for shutdown's wait), each counted by a guard that also holds it in the gauges.

use prometheus::IntGauge;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// Open downstream connections, with a wake-up when the last one closes.
#[derive(Default)]
pub(crate) struct Connections {
    open: AtomicUsize,
    idle: Notify,
}

impl Connections {
    /// How many connections are open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Counts a connection as open, and in `gauge` and the serving worker's gauge `worker`,
    /// until the guard is dropped.
    pub(crate) fn count(self: &Arc<Self>, gauge: IntGauge, worker: IntGauge) -> ConnectionGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        gauge.inc();
        worker.inc();
        ConnectionGuard {
            connections: self.clone(),
            gauge,
            worker,
        }
    }

    /// Returns once no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let idle = self.idle.notified();
            if self.open() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One open connection, counted until dropped.
pub(crate) struct ConnectionGuard {
    connections: Arc<Connections>,
    gauge: IntGauge,
    /// The serving worker's `trinity_proxy_worker_connections` gauge.
    worker: IntGauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
        self.worker.dec();
        if self.connections.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.connections.idle.notify_waiters();
        }
    }
}
