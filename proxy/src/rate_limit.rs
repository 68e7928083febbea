//! Per-client-IP rate limiting in fixed memory: a route's `rate_limit` (the edge's `limits:` are
//! [`crate::config::Limits`], not this).
//!
//! Each route with a `rate_limit` owns one [`RateLimiter`]: a token bucket per client IP, kept as
//! GCRA state (the "theoretical arrival time" of the next conforming request, one `u64`) in a
//! table of a fixed number of slots, whatever the number of clients. An IP maps to one slot in
//! each of [`ROWS`] rows through a hash with a per-limiter random key (a client cannot aim at
//! another's slot); a request conforms when the emptiest of its slots has room, and is charged
//! to all of them. Two clients that share every slot share a bucket, which only ever makes the
//! limit stricter for them: with 4 rows of 16,384 slots, a client among a thousand others active
//! in the same burst window shares all four with odds of about 1 in 10^5. Memory: 512 KiB per
//! limiter, with millions of distinct IPs as with one (a flood of that many IPs within one burst
//! window saturates the table and limits everyone, as a fixed budget must).
//!
//! Keyed maps (governor's `DefaultKeyedRateLimiter`) grow with every distinct IP until pruned,
//! and pingora-limits' `Rate` estimates a windowed rate with no burst; neither fits a bounded
//! bucket-per-client.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Hash rows per limiter.
pub const ROWS: usize = 4;
/// Slots per row (a power of two).
pub const SLOTS: usize = 16_384;

pub struct RateLimiter {
    /// Nanoseconds between two conforming requests at the sustained rate.
    interval: u64,
    /// How far ahead of now a bucket may run: `burst` intervals.
    tolerance: u64,
    epoch: Instant,
    hasher: RandomState,
    slots: Box<[AtomicU64]>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = (1e9 / per_second).max(1.0) as u64;
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst)),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            slots: (0..ROWS * SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Takes one request of `client` now: `Ok(())`, or `Err(wait)` until it would conform.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, self.epoch.elapsed())
    }

    /// [`Self::check`] at `now` since the limiter was made (tests drive time with it).
    pub fn check_at(&self, client: IpAddr, now: Duration) -> Result<(), Duration> {
        // Times are offset by one interval so that 0 ("never used") is always in the past.
        let now = u64::try_from(now.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(self.interval);
        let hash = self.hasher.hash_one(client);
        let slots: [&AtomicU64; ROWS] = std::array::from_fn(|row| {
            // Independent 16-bit windows of one keyed 64-bit hash.
            let h = (hash >> (row * 16)) as usize;
            &self.slots[row * SLOTS + (h & (SLOTS - 1))]
        });
        let tat = slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
            .max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(Duration::from_nanos(ahead - self.tolerance));
        }
        for slot in slots {
            // Charge every row: its own arrival time moves one interval past max(itself, now).
            let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.max(now).saturating_add(self.interval))
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(i.to_be_bytes())
    }

    #[test]
    fn a_client_gets_its_burst_then_the_sustained_rate() {
        let l = RateLimiter::new(10.0, 5);
        let t0 = Duration::from_secs(1);
        // 1 + burst at once.
        for n in 0..6 {
            assert!(l.check_at(ip(1), t0).is_ok(), "request {n}");
        }
        let wait = l.check_at(ip(1), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // Another client is not affected.
        assert!(l.check_at(ip(2), t0).is_ok());
        // One interval later, exactly one more.
        let t1 = t0 + Duration::from_millis(100);
        assert!(l.check_at(ip(1), t1).is_ok());
        assert!(l.check_at(ip(1), t1).is_err());
        // After a quiet second the whole burst is back.
        let t2 = t1 + Duration::from_secs(1);
        for _ in 0..6 {
            assert!(l.check_at(ip(1), t2).is_ok());
        }
        assert!(l.check_at(ip(1), t2).is_err());
    }

    #[test]
    fn a_million_clients_fit_the_same_memory_and_are_rarely_confused() {
        let l = RateLimiter::new(1.0, 0);
        let t = Duration::from_secs(5);
        let mut refused_first = 0;
        for i in 0..1_000_000u32 {
            if l.check_at(ip(i), t).is_err() {
                refused_first += 1;
            }
        }
        // A million clients in one second saturate the table (it limits everyone) without
        // growing it; a thousand at once are told apart.
        assert!(refused_first > 0);
        assert_eq!(l.slots.len(), ROWS * SLOTS);
        let l = RateLimiter::new(1.0, 0);
        let refused: usize = (0..1_000u32)
            .filter(|i| l.check_at(ip(*i), t).is_err())
            .count();
        assert!(refused <= 1, "{refused} of 1,000 fresh clients refused");
        assert_eq!(l.slots.len(), ROWS * SLOTS);
    }
}
