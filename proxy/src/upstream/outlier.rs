//! Outlier detection on the data path: a failed request counts against its endpoint, which is
//! ejected after `outlier.consecutive_failures` while `max_ejection_percent` allows and one
//! endpoint remains, and returns to rotation (on probation) when its ejection time is up.

use super::{Endpoint, Pool, lock};
use crate::health::Transition;
use std::sync::Arc;
use std::time::Duration;

impl Pool {
    /// A request on `ep` failed (connect error, reset, timeout, or 502/503/504): feeds outlier
    /// detection, ejecting only while `max_ejection_percent` allows and one endpoint remains.
    pub fn record_failure(&self, ep: &Arc<Endpoint>, what: &str) {
        ep.count_failure();
        let cfg = self.config.outlier;
        if cfg.consecutive_failures == 0 {
            return;
        }
        let transition = {
            // One decision at a time, so two failures never both pass the percentage gate.
            let _guard = lock(&self.eject_lock);
            let m = self.members();
            let n = m.endpoints.len();
            let after = m.endpoints.iter().filter(|e| e.health.is_ejected()).count() + 1;
            let may_eject = after < n && after * 100 <= n * usize::from(cfg.max_ejection_percent);
            ep.health
                .failure(tokio::time::Instant::now(), &cfg, may_eject)
        };
        if let Some(t @ Transition::Ejected { duration, .. }) = transition {
            ep.apply(t, what);
            schedule_return(ep, duration);
        }
    }
}

/// Returns `ep` to rotation once `duration` has passed, if it is still alive and still due.
fn schedule_return(ep: &Arc<Endpoint>, duration: Duration) {
    let weak = Arc::downgrade(ep);
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move {
                tokio::time::sleep(duration).await;
                if let Some(ep) = weak.upgrade()
                    && let Some(t) = ep.health.return_if_due(tokio::time::Instant::now())
                {
                    ep.apply(t, "");
                }
            });
        }
        Err(_) => {
            tracing::error!("no runtime to schedule the return of an ejected endpoint")
        }
    }
}
