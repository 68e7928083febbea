//! The retry budget of a pool: retries in flight stay within `RETRY_BUDGET_PERCENT` of the
//! pool's active requests (at least `RETRY_BUDGET_MIN`), each request holding an
//! [`ActiveRequest`] for as long as it is active.

use super::Pool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Retries may be in flight for at most this share of a pool's active requests…
pub const RETRY_BUDGET_PERCENT: usize = 20;
/// …but this many are always allowed.
pub const RETRY_BUDGET_MIN: usize = 3;

/// A pool's active requests and the retries among them.
#[derive(Default)]
pub(super) struct RetryBudget {
    active: AtomicUsize,
    retrying: AtomicUsize,
}

impl RetryBudget {
    /// Takes one retry if the budget has room.
    fn try_take(&self) -> bool {
        let active = self.active.load(Ordering::Relaxed);
        let allowed = (active * RETRY_BUDGET_PERCENT / 100).max(RETRY_BUDGET_MIN);
        if self.retrying.fetch_add(1, Ordering::Relaxed) < allowed {
            true
        } else {
            self.retrying.fetch_sub(1, Ordering::Relaxed);
            false
        }
    }
}

impl Pool {
    /// Counts a request as active for the retry budget until the guard drops.
    pub fn begin_request(self: &Arc<Self>) -> ActiveRequest {
        self.budget.active.fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            pool: self.clone(),
            retrying: false,
        }
    }
}

/// One request's share of the retry budget.
pub struct ActiveRequest {
    pool: Arc<Pool>,
    retrying: bool,
}

impl ActiveRequest {
    /// Whether this request may retry after its request was sent: retries in flight stay within
    /// `RETRY_BUDGET_PERCENT` of the pool's active requests (at least `RETRY_BUDGET_MIN`).
    pub fn try_retry(&mut self) -> bool {
        if self.retrying {
            return true;
        }
        self.retrying = self.pool.budget.try_take();
        self.retrying
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let budget = &self.pool.budget;
        budget.active.fetch_sub(1, Ordering::Relaxed);
        if self.retrying {
            budget.retrying.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
