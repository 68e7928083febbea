//! How often and how many probes run: every `interval` ± 10% jitter, so the replicas of many
//! upstreams never probe in lock-step, and at most `MAX_CONCURRENT_PROBES` at once across the
//! process. The per-endpoint loop that follows this pacing is `upstream::probe_loop`.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Most probes in flight at once across the process.
pub const MAX_CONCURRENT_PROBES: usize = 64;

pub fn probe_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_CONCURRENT_PROBES))
}

/// `interval` scaled by a random factor in [0.9, 1.1].
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + fastrand::f64() * 0.2)
}
