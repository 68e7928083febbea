//! Thread-per-core: `threads` worker threads, each a single-threaded tokio runtime that accepts
//! connections itself and serves them to the end, so a request never crosses threads and no
//! work-stealing run queue is paid for (as nginx's workers, or Pingora's `work_stealing: false`).
//! The control plane (admin listener, health checks, discovery, reloads, signals) stays on the
//! runtime that started the server, so it never takes request time.
//!
//! Every worker registers the same listening socket (or has one `SO_REUSEPORT` socket of its own,
//! see [`crate::listen`]). Under load the kernel's wake-ups spread new connections over whichever
//! workers are free; long-lived connections (cloudflared's few origin
//! connections, WebSockets) are balanced at accept time: a worker serving more than one
//! connection above the least-loaded worker hands the new one over (see [`Workers::pick`]).

use prometheus::IntGauge;
use tokio::runtime::{Builder, Handle};
use tokio::sync::{mpsc, oneshot};

/// One worker thread and what the others need to know of it; `H` is what a hand-over carries.
pub struct Worker<H> {
    pub handle: Handle,
    /// Connections this worker serves (counted from the moment one is handed to it): the
    /// `trinity_proxy_worker_connections{worker}` gauge is the count itself.
    pub load: IntGauge,
    inbox: mpsc::UnboundedSender<H>,
}

pub struct Workers<H> {
    workers: Vec<Worker<H>>,
}

/// Stops every worker thread when dropped (not waited for: each runtime drops the tasks left on
/// it as its thread ends). Owned by the server, apart from the [`Workers`] its tasks share.
pub struct Stops(Vec<oneshot::Sender<()>>);

impl Drop for Stops {
    fn drop(&mut self) {
        for stop in self.0.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// What [`Workers::start`] returns: the workers, each one's inbox of handed-over connections
/// (by index), and the handle that stops them.
pub type Started<H> = (Workers<H>, Vec<mpsc::UnboundedReceiver<H>>, Stops);

impl<H> Workers<H> {
    /// Starts `n` worker threads; `gauge(i)` is worker `i`'s connection gauge.
    pub fn start(n: usize, gauge: impl Fn(usize) -> IntGauge) -> std::io::Result<Started<H>> {
        let mut workers = Vec::with_capacity(n);
        let mut inboxes = Vec::with_capacity(n);
        let mut stops = Stops(Vec::with_capacity(n));
        for i in 0..n {
            let (stop, stopped) = oneshot::channel::<()>();
            let (started, handle) = std::sync::mpsc::sync_channel(1);
            // The runtime is built and dropped on its own thread: never on the caller's, which
            // may be inside a runtime (tokio refuses to drop one there).
            std::thread::Builder::new()
                .name(format!("trinity-worker-{i}"))
                .spawn(move || {
                    let rt = match Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    let _ = started.send(Ok(rt.handle().clone()));
                    // Tasks spawned on the handle run while this thread drives the runtime;
                    // they are dropped with it once the server stops.
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            let handle = handle
                .recv()
                .map_err(|_| std::io::Error::other("a worker thread ended at its start"))??;
            let (inbox, rx) = mpsc::unbounded_channel();
            workers.push(Worker {
                handle,
                load: gauge(i),
                inbox,
            });
            inboxes.push(rx);
            stops.0.push(stop);
        }
        Ok((Self { workers }, inboxes, stops))
    }

    pub(crate) fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn get(&self, i: usize) -> &Worker<H> {
        &self.workers[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Worker<H>> {
        self.workers.iter()
    }

    /// The worker that should serve a connection accepted by worker `me`: `me` unless it serves
    /// more than one connection above the least-loaded worker (then that one). The margin keeps
    /// hand-overs rare under even load, when wake-ups already spread the connections.
    pub fn pick(&self, me: usize) -> usize {
        let mine = self.workers[me].load.get();
        let (least, open) = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| (i, w.load.get()))
            .min_by_key(|&(_, open)| open)
            .unwrap_or((me, mine));
        if mine > open + 1 { least } else { me }
    }

    /// Hands an accepted connection to worker `to`; gives it back if that worker is gone.
    pub fn hand_over(&self, to: usize, conn: H) -> Result<(), H> {
        self.workers[to].inbox.send(conn).map_err(|e| e.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn new_connections_go_to_the_least_loaded_worker_past_a_margin_of_one() {
        let (w, _inboxes, _stops) =
            Workers::<()>::start(3, |i| IntGauge::new(format!("w{i}"), "test").unwrap()).unwrap();
        assert_eq!(w.pick(0), 0);
        w.get(0).load.inc();
        assert_eq!(w.pick(0), 0, "one above the least is within the margin");
        w.get(0).load.inc();
        let to = w.pick(0);
        assert_ne!(to, 0);
        w.get(to).load.inc();
        assert_eq!(w.get(to).load.get(), 1);
        assert_eq!(w.pick(1), 1);
    }
}
