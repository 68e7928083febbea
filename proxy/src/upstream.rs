//! Upstream pools: the endpoints of one upstream and how a request picks one.
//!
//! Selection is round-robin over the endpoints the request has not tried yet, so a retry after
//! a connect failure always lands on a *different* endpoint.

use crate::config::UpstreamConfig;
use crate::metrics::{EndpointMetrics, Metrics};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One replica of an upstream.
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `addr` as text, for logs, labels and `/status`.
    pub label: Arc<str>,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    failures: AtomicU64,
    pub metrics: EndpointMetrics,
}

impl Endpoint {
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a request against its endpoint while alive.
pub struct InFlight(Arc<Endpoint>);

impl InFlight {
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Pool {
    pub name: Arc<str>,
    pub endpoints: Vec<Arc<Endpoint>>,
    /// Further attempts on other endpoints after a connect failure.
    pub retries: usize,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(cfg: &UpstreamConfig, metrics: &Metrics) -> Self {
        let endpoints = cfg
            .endpoints
            .iter()
            .map(|addr| {
                let label: Arc<str> = addr.to_string().into();
                Arc::new(Endpoint {
                    addr: *addr,
                    metrics: metrics.endpoint(&cfg.name, &label),
                    label,
                    in_flight: AtomicUsize::new(0),
                    requests: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                })
            })
            .collect();
        Self {
            name: cfg.name.as_str().into(),
            endpoints,
            retries: cfg.retries,
            next: AtomicUsize::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Picks the next endpoint in round-robin order that is not in `tried` (indices into
    /// `endpoints`), and counts it in flight until the returned guard drops.
    pub fn select(&self, tried: &[u32]) -> Option<(u32, InFlight)> {
        let n = self.endpoints.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start.wrapping_add(k)) % n)
            .find(|i| !tried.contains(&(*i as u32)))
            .map(|i| {
                let ep = &self.endpoints[i];
                ep.in_flight.fetch_add(1, Ordering::Relaxed);
                ep.requests.fetch_add(1, Ordering::Relaxed);
                (i as u32, InFlight(ep.clone()))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        let cfg = UpstreamConfig {
            name: "web".into(),
            endpoints: (0..n)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 8000 + i as u16)))
                .collect(),
            retries: 2,
        };
        Pool::new(&cfg, &Metrics::new().unwrap())
    }

    #[test]
    fn round_robin_spreads_evenly() {
        let p = pool(3);
        let mut hits = [0; 3];
        for _ in 0..300 {
            let (i, _g) = p.select(&[]).unwrap();
            hits[i as usize] += 1;
        }
        assert_eq!(hits, [100, 100, 100]);
    }

    #[test]
    fn skips_tried_endpoints_and_runs_out() {
        let p = pool(2);
        let (a, _ga) = p.select(&[]).unwrap();
        let (b, _gb) = p.select(&[a]).unwrap();
        assert_ne!(a, b);
        assert!(p.select(&[a, b]).is_none());
    }

    #[test]
    fn in_flight_follows_guards() {
        let p = pool(1);
        let (_, g) = p.select(&[]).unwrap();
        assert_eq!(p.endpoints[0].in_flight(), 1);
        drop(g);
        assert_eq!(p.endpoints[0].in_flight(), 0);
    }
}
