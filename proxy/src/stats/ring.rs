//! One route's cumulative counters, sampled once a second into a fixed ring; windows are the
//! differences between two samples, so reading is as cheap as writing.

use super::quantile::quantile;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A route's cumulative counters at one instant.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    /// Answered requests (every status).
    pub requests: u64,
    /// Of which 5xx.
    pub errors: u64,
    /// `request_duration_seconds` cumulative bucket counts, one per bound plus `+Inf` last.
    pub buckets: Box<[u64]>,
}

/// Rates and latency over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Window {
    pub requests_per_second: f64,
    /// 5xx answers / all answers; `None` without requests.
    pub error_ratio: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The last `capacity` samples of one route, oldest first.
#[derive(Debug)]
pub struct Ring {
    /// Upper bounds (seconds) of the duration histogram's finite buckets.
    bounds: Arc<[f64]>,
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl Ring {
    pub fn new(bounds: Arc<[f64]>, capacity: usize) -> Self {
        Self {
            bounds,
            samples: VecDeque::with_capacity(capacity),
            capacity: capacity.max(2),
        }
    }

    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The window from the sample `span` before the newest (or the oldest one kept, for a younger
    /// route) to the newest; `None` until two samples exist.
    pub fn last(&self, span: Duration) -> Option<Window> {
        let newest = self.samples.back()?;
        let older = self
            .samples
            .iter()
            .rev()
            .find(|s| newest.at.duration_since(s.at) >= span)
            .or_else(|| self.samples.front())?;
        self.between(older, newest)
    }

    /// Consecutive windows of `step` samples each, oldest first, ending at the newest sample: at
    /// most `points` of them (fewer while the ring fills).
    pub fn series(&self, step: usize, points: usize) -> Vec<Window> {
        let step = step.max(1);
        let n = self.samples.len();
        let mut out: Vec<Window> = (0..points)
            .map_while(|k| {
                let end = n.checked_sub(1 + k * step)?;
                let start = end.checked_sub(step)?;
                self.between(&self.samples[start], &self.samples[end])
            })
            .collect();
        out.reverse();
        out
    }

    fn between(&self, old: &Sample, new: &Sample) -> Option<Window> {
        let secs = new.at.checked_duration_since(old.at)?.as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        // A route's counters restart from 0 when its handles were rebuilt: never negative.
        let requests = new.requests.saturating_sub(old.requests);
        let errors = new.errors.saturating_sub(old.errors);
        let buckets: Vec<u64> = new
            .buckets
            .iter()
            .zip(old.buckets.iter())
            .map(|(n, o)| n.saturating_sub(*o))
            .collect();
        let ms = |q| quantile(q, &self.bounds, &buckets).map(|s| s * 1000.0);
        Some(Window {
            requests_per_second: requests as f64 / secs,
            error_ratio: (requests > 0).then(|| errors as f64 / requests as f64),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn sample(start: Instant, sec: u64, requests: u64, errors: u64, fast: u64) -> Sample {
        // Bounds [0.01, 0.1]: `fast` answers ≤ 10 ms, the rest in (10 ms, 100 ms].
        Sample {
            at: start + Duration::from_secs(sec),
            requests,
            errors,
            buckets: vec![fast, requests, requests].into(),
        }
    }

    #[test]
    fn windows_are_differences_of_samples() {
        let t0 = Instant::now();
        let mut ring = Ring::new(vec![0.01, 0.1].into(), 5);
        assert_eq!(ring.last(Duration::from_secs(60)), None);
        for s in 0..8u64 {
            // 10 requests a second, 1 of them a 5xx, all fast until second 5.
            let fast = 10 * s.min(5);
            ring.push(sample(t0, s, 10 * s, s, fast));
        }
        // Only the last 5 samples (seconds 3..=7) are kept.
        let w = ring.last(Duration::from_secs(60)).unwrap();
        assert_eq!(w.requests_per_second, 10.0);
        assert_eq!(w.error_ratio, Some(0.1));
        let w = ring.last(Duration::from_secs(2)).unwrap();
        assert_eq!(w.requests_per_second, 10.0);
        // Seconds 5..=7: every request slow, interpolated inside (10 ms, 100 ms].
        assert!(w.p50_ms.unwrap() > 10.0 && w.p50_ms.unwrap() <= 100.0);

        let series = ring.series(2, 10);
        assert_eq!(series.len(), 2, "samples 3..=7 hold two 2-second steps");
        assert!(series.iter().all(|w| w.requests_per_second == 10.0));
    }

    #[test]
    fn a_counter_restart_is_no_negative_rate() {
        let t0 = Instant::now();
        let mut ring = Ring::new(vec![0.01, 0.1].into(), 5);
        ring.push(sample(t0, 0, 100, 0, 100));
        ring.push(sample(t0, 1, 3, 0, 3));
        let w = ring.last(Duration::from_secs(60)).unwrap();
        assert_eq!(w.requests_per_second, 0.0);
        assert_eq!(w.error_ratio, None);
        assert_eq!(w.p99_ms, None);
    }
}
