//! Which endpoint a request gets: among the endpoints of the best tier (eligible; else serving
//! but terminating; else, in panic mode, all) and not yet tried by this request, the balancer
//! picks one.

use super::{Endpoint, InFlight, Pool};
use std::net::SocketAddr;
use std::sync::Arc;

/// The endpoint a request got.
pub struct Selected {
    pub guard: InFlight,
    /// No endpoint was eligible: chosen in panic mode.
    pub panic: bool,
}

impl Pool {
    /// Picks an endpoint not in `tried`; `key` is the request's hash key for `hash` balancing.
    pub fn select(&self, tried: &[SocketAddr], key: Option<u64>) -> Option<Selected> {
        let m = self.members();
        let eps = &m.endpoints;
        let tier = Tier::of(eps);
        let i = m.balancer.pick(
            eps,
            |i| !tried.contains(&eps[i].addr) && tier.admits(&eps[i]),
            key,
        )?;
        let panic = tier == Tier::Panic;
        if panic {
            self.metrics.panic_routing.inc();
        }
        Some(Selected {
            guard: InFlight::new(&eps[i]),
            panic,
        })
    }

    /// Whether `select` would find an endpoint outside `tried` (without choosing one).
    pub fn can_select(&self, tried: &[SocketAddr]) -> bool {
        let m = self.members();
        let tier = Tier::of(&m.endpoints);
        m.endpoints
            .iter()
            .any(|e| !tried.contains(&e.addr) && tier.admits(e))
    }
}

/// Which endpoints may take a request: the eligible ones; when none is, the healthy ones that
/// are only terminating (still serving, as Kubernetes says); when none of those either — panic
/// mode — every endpoint. Endpoints a request already tried are excluded on top of this.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tier {
    Eligible,
    Serving,
    Panic,
}

impl Tier {
    fn of(eps: &[Arc<Endpoint>]) -> Self {
        if eps.iter().any(|e| e.eligible()) {
            Tier::Eligible
        } else if eps.iter().any(|e| e.health.eligible()) {
            Tier::Serving
        } else {
            Tier::Panic
        }
    }

    fn admits(self, e: &Endpoint) -> bool {
        match self {
            Tier::Eligible => e.eligible(),
            Tier::Serving => e.health.eligible(),
            Tier::Panic => true,
        }
    }
}
