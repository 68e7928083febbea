//! Endpoint health: the state machine (`machine`), its thread-safe wrapper read by the data path
//! (this file), active probes (`probe`) and their pacing (`pacing`). Nothing here knows about
//! pools or endpoints: the per-endpoint probe loop lives in `upstream::probe_loop`.

pub mod machine;
pub mod pacing;
pub mod probe;

pub use machine::{EjectReason, Machine, Transition};

use crate::config::{HealthCheckConfig, OutlierConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The outcome of the last probe, for `/status`.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    pub at: SystemTime,
    pub passed: bool,
    /// `200`, `connection refused`, `timed out`, ...
    pub detail: String,
    pub took: Duration,
}

/// What `/status` shows of an endpoint's health.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    pub healthy: bool,
    pub ejected: bool,
    pub ejected_remaining: Option<Duration>,
    pub times_ejected: u32,
    pub on_probation: bool,
    pub consecutive_failures: u32,
    pub last_probe: Option<ProbeRecord>,
}

/// One endpoint's health, readable without locks on the request path.
pub struct EndpointHealth {
    eligible: AtomicBool,
    ejected: AtomicBool,
    /// The machine holds failures or probation: a success must take the lock to clear them.
    dirty: AtomicBool,
    last_success_ms: AtomicU64,
    inner: Mutex<Inner>,
}

struct Inner {
    machine: Machine,
    last_probe: Option<ProbeRecord>,
}

fn clock_ms() -> u64 {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = BASE.get_or_init(std::time::Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl EndpointHealth {
    pub fn new(require_first_check: bool) -> Self {
        let machine = Machine::new(require_first_check);
        Self {
            eligible: AtomicBool::new(machine.eligible()),
            ejected: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            last_success_ms: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                machine,
                last_probe: None,
            }),
        }
    }

    /// May take new requests: healthy, not pending a first probe, not ejected.
    pub fn eligible(&self) -> bool {
        self.eligible.load(Ordering::Relaxed)
    }

    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// A request succeeded: one relaxed store unless there are failures to forget.
    pub fn success(&self) {
        self.last_success_ms
            .store(clock_ms().max(1), Ordering::Relaxed);
        if self.dirty.load(Ordering::Relaxed) {
            let mut inner = self.lock();
            inner.machine.success();
            self.sync(&inner.machine);
        }
    }

    pub fn failure(
        &self,
        now: Instant,
        cfg: &OutlierConfig,
        may_eject: bool,
    ) -> Option<Transition> {
        let mut inner = self.lock();
        let t = inner.machine.failure(now, cfg, may_eject);
        self.sync(&inner.machine);
        t
    }

    pub fn return_if_due(&self, now: Instant) -> Option<Transition> {
        let mut inner = self.lock();
        let t = inner.machine.return_if_due(now);
        self.sync(&inner.machine);
        t
    }

    pub fn probe(&self, record: ProbeRecord, hc: &HealthCheckConfig) -> [Option<Transition>; 2] {
        let mut inner = self.lock();
        let t = inner.machine.probe(record.passed, hc, Instant::now());
        inner.last_probe = Some(record);
        self.sync(&inner.machine);
        t
    }

    pub fn reset_active(&self) -> Option<Transition> {
        let mut inner = self.lock();
        let t = inner.machine.reset_active();
        self.sync(&inner.machine);
        t
    }

    /// Whether a request succeeded on this endpoint within `window`.
    pub fn served_within(&self, window: Duration) -> bool {
        let last = self.last_success_ms.load(Ordering::Relaxed);
        last != 0 && u128::from(clock_ms().saturating_sub(last)) < window.as_millis()
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let inner = self.lock();
        let m = &inner.machine;
        HealthSnapshot {
            healthy: m.healthy(),
            ejected: m.ejected_until().is_some(),
            ejected_remaining: m
                .ejected_until()
                .map(|u| u.saturating_duration_since(Instant::now())),
            times_ejected: m.times_ejected(),
            on_probation: m.on_probation(),
            consecutive_failures: m.consecutive_failures(),
            last_probe: inner.last_probe.clone(),
        }
    }

    fn sync(&self, m: &Machine) {
        self.eligible.store(m.eligible(), Ordering::Relaxed);
        self.ejected
            .store(m.ejected_until().is_some(), Ordering::Relaxed);
        self.dirty.store(m.has_failure_state(), Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the machine half-updated in a way that
        // matters more than losing health tracking: keep serving with the last state.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
