//! The health state machine of one endpoint, free of I/O and clocks so it can be tested with
//! paused time.
//!
//! Active (probes): an endpoint starts healthy (or pending its first probe with
//! `require_first_check`); `unhealthy_threshold` consecutive failed probes make it unhealthy,
//! `healthy_threshold` consecutive passing probes make it healthy again.
//!
//! Passive (outlier detection): `consecutive_failures` data-path failures eject it for
//! `base_ejection_time × times ejected` (at most 10×). It then returns on probation: the next
//! failure ejects it again at once, a success ends probation. Every full `base_ejection_time`
//! spent in rotation forgives one past ejection. A passing probe of an ejected endpoint that is
//! actively healthy returns it early (as Envoy's `successful_active_health_check_uneject_host`).

use crate::config::{HealthCheckConfig, OutlierConfig};
use std::time::Duration;
use tokio::time::Instant;

/// Ejections multiply `base_ejection_time` at most this many times.
pub const MAX_EJECTION_MULTIPLIER: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EjectReason {
    ConsecutiveFailures,
    FailedOnProbation,
}

impl EjectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConsecutiveFailures => "consecutive_failures",
            Self::FailedOnProbation => "failed_on_probation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameHealthy,
    BecameUnhealthy,
    Ejected {
        duration: Duration,
        reason: EjectReason,
    },
    Returned,
}

#[derive(Debug, Clone)]
pub struct Machine {
    healthy: bool,
    pending_first_check: bool,
    rise: u32,
    fall: u32,
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
    times_ejected: u32,
    probation: bool,
    returned_at: Option<Instant>,
}

impl Machine {
    pub fn new(require_first_check: bool) -> Self {
        Self {
            healthy: true,
            pending_first_check: require_first_check,
            rise: 0,
            fall: 0,
            consecutive_failures: 0,
            ejected_until: None,
            times_ejected: 0,
            probation: false,
            returned_at: None,
        }
    }

    /// Whether the endpoint may take new requests.
    pub fn eligible(&self) -> bool {
        self.healthy && !self.pending_first_check && self.ejected_until.is_none()
    }

    /// Active verdict: healthy and not waiting for its first probe.
    pub fn healthy(&self) -> bool {
        self.healthy && !self.pending_first_check
    }

    pub fn ejected_until(&self) -> Option<Instant> {
        self.ejected_until
    }

    pub fn times_ejected(&self) -> u32 {
        self.times_ejected
    }

    pub fn on_probation(&self) -> bool {
        self.probation
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Whether a success would change anything (so the data path can skip the lock).
    pub fn has_failure_state(&self) -> bool {
        self.consecutive_failures > 0 || self.probation
    }

    /// Feeds one probe result: the active transition, if any, and `Returned` when a passing
    /// probe ends an ejection early.
    pub fn probe(
        &mut self,
        passed: bool,
        hc: &HealthCheckConfig,
        now: Instant,
    ) -> [Option<Transition>; 2] {
        let active = self.active_probe(passed, hc);
        let returned = if passed && self.healthy && self.ejected_until.is_some() {
            self.ejected_until = Some(now);
            self.return_if_due(now)
        } else {
            None
        };
        [active, returned]
    }

    fn active_probe(&mut self, passed: bool, hc: &HealthCheckConfig) -> Option<Transition> {
        if self.pending_first_check {
            self.pending_first_check = false;
            self.healthy = passed;
            (self.rise, self.fall) = (u32::from(passed), u32::from(!passed));
            return Some(if passed {
                Transition::BecameHealthy
            } else {
                Transition::BecameUnhealthy
            });
        }
        if passed {
            self.fall = 0;
            self.rise = self.rise.saturating_add(1);
            if !self.healthy && self.rise >= hc.healthy_threshold {
                self.healthy = true;
                return Some(Transition::BecameHealthy);
            }
        } else {
            self.rise = 0;
            self.fall = self.fall.saturating_add(1);
            if self.healthy && self.fall >= hc.unhealthy_threshold {
                self.healthy = false;
                return Some(Transition::BecameUnhealthy);
            }
        }
        None
    }

    /// Forgets the active verdict (the health check was removed): healthy, not pending.
    pub fn reset_active(&mut self) -> Option<Transition> {
        let was = self.healthy();
        self.healthy = true;
        self.pending_first_check = false;
        (self.rise, self.fall) = (0, 0);
        (!was).then_some(Transition::BecameHealthy)
    }

    /// A request to this endpoint succeeded.
    pub fn success(&mut self) {
        self.consecutive_failures = 0;
        self.probation = false;
    }

    /// A request to this endpoint failed. `may_eject` is the pool's verdict on
    /// `max_ejection_percent`; when false the failure is counted but nothing is ejected.
    pub fn failure(
        &mut self,
        now: Instant,
        cfg: &OutlierConfig,
        may_eject: bool,
    ) -> Option<Transition> {
        if cfg.consecutive_failures == 0 || self.ejected_until.is_some() {
            return None;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let reason = if self.probation {
            EjectReason::FailedOnProbation
        } else if self.consecutive_failures >= cfg.consecutive_failures {
            EjectReason::ConsecutiveFailures
        } else {
            return None;
        };
        if !may_eject {
            return None;
        }
        if let Some(back) = self.returned_at {
            let base = cfg.base_ejection_time.as_nanos().max(1);
            let forgiven = now.saturating_duration_since(back).as_nanos() / base;
            self.times_ejected = self
                .times_ejected
                .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX));
        }
        self.times_ejected = (self.times_ejected + 1).min(MAX_EJECTION_MULTIPLIER);
        let duration = cfg.base_ejection_time * self.times_ejected;
        self.ejected_until = Some(now + duration);
        self.consecutive_failures = 0;
        self.probation = false;
        Some(Transition::Ejected { duration, reason })
    }

    /// Returns an ejected endpoint to rotation (on probation) once its time is up.
    pub fn return_if_due(&mut self, now: Instant) -> Option<Transition> {
        let until = self.ejected_until?;
        if now < until {
            return None;
        }
        self.ejected_until = None;
        self.probation = true;
        self.returned_at = Some(now);
        Some(Transition::Returned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Probe;

    fn hc() -> HealthCheckConfig {
        HealthCheckConfig {
            probe: Probe::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            require_first_check: false,
            skip_when_traffic_healthy: false,
        }
    }

    /// The active transition of one probe result, now.
    fn active(m: &mut Machine, passed: bool) -> Option<Transition> {
        m.probe(passed, &hc(), Instant::now())[0]
    }

    fn od() -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_percent: 50,
        }
    }

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let mut m = Machine::new(false);
        assert!(m.eligible());
        assert_eq!(active(&mut m, false), None);
        assert_eq!(active(&mut m, false), None);
        assert_eq!(active(&mut m, true), None, "a pass resets the fall count");
        assert_eq!(active(&mut m, false), None);
        assert_eq!(active(&mut m, false), None);
        assert_eq!(active(&mut m, false), Some(Transition::BecameUnhealthy));
        assert!(!m.eligible());
        assert_eq!(active(&mut m, true), None);
        assert_eq!(
            active(&mut m, false),
            None,
            "a failure resets the rise count"
        );
        assert_eq!(active(&mut m, true), None);
        assert_eq!(active(&mut m, true), Some(Transition::BecameHealthy));
        assert!(m.eligible());
    }

    #[test]
    fn require_first_check_waits_for_the_first_probe() {
        let mut m = Machine::new(true);
        assert!(!m.eligible());
        assert_eq!(active(&mut m, true), Some(Transition::BecameHealthy));
        assert!(m.eligible());
        let mut m = Machine::new(true);
        assert_eq!(active(&mut m, false), Some(Transition::BecameUnhealthy));
        assert_eq!(active(&mut m, true), None);
        assert_eq!(active(&mut m, true), Some(Transition::BecameHealthy));
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_backoff_probation_and_forgiveness() {
        let mut m = Machine::new(false);
        let cfg = od();
        assert_eq!(m.failure(Instant::now(), &cfg, true), None);
        assert_eq!(m.failure(Instant::now(), &cfg, true), None);
        m.success();
        assert_eq!(
            m.failure(Instant::now(), &cfg, true),
            None,
            "a success resets the count"
        );
        assert_eq!(m.failure(Instant::now(), &cfg, true), None);
        let t = m.failure(Instant::now(), &cfg, true);
        assert_eq!(
            t,
            Some(Transition::Ejected {
                duration: Duration::from_secs(10),
                reason: EjectReason::ConsecutiveFailures
            })
        );
        assert!(!m.eligible());
        assert_eq!(
            m.failure(Instant::now(), &cfg, true),
            None,
            "failures while ejected change nothing"
        );

        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(m.return_if_due(Instant::now()), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(m.return_if_due(Instant::now()), Some(Transition::Returned));
        assert!(m.eligible() && m.on_probation());

        // One failure on probation ejects again, for twice as long.
        let t = m.failure(Instant::now(), &cfg, true);
        assert_eq!(
            t,
            Some(Transition::Ejected {
                duration: Duration::from_secs(20),
                reason: EjectReason::FailedOnProbation
            })
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(m.return_if_due(Instant::now()), Some(Transition::Returned));
        m.success();
        assert!(!m.on_probation(), "a success ends probation");

        // 25 s in rotation forgive two ejections: the next one is 1× again.
        tokio::time::advance(Duration::from_secs(25)).await;
        for _ in 0..2 {
            assert_eq!(m.failure(Instant::now(), &cfg, true), None);
        }
        let t = m.failure(Instant::now(), &cfg, true);
        assert_eq!(
            t,
            Some(Transition::Ejected {
                duration: Duration::from_secs(10),
                reason: EjectReason::ConsecutiveFailures
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_at_ten_times() {
        let mut m = Machine::new(false);
        let cfg = OutlierConfig {
            consecutive_failures: 1,
            ..od()
        };
        let mut last = Duration::ZERO;
        for _ in 0..15 {
            match m.failure(Instant::now(), &cfg, true) {
                Some(Transition::Ejected { duration, .. }) => last = duration,
                other => panic!("expected an ejection, got {other:?}"),
            }
            tokio::time::advance(last).await;
            assert_eq!(m.return_if_due(Instant::now()), Some(Transition::Returned));
        }
        assert_eq!(last, Duration::from_secs(100));
        assert_eq!(m.times_ejected(), MAX_EJECTION_MULTIPLIER);
    }

    #[tokio::test(start_paused = true)]
    async fn passing_probe_returns_an_ejected_healthy_endpoint_early() {
        let mut m = Machine::new(false);
        let cfg = OutlierConfig {
            consecutive_failures: 1,
            ..od()
        };
        assert!(matches!(
            m.failure(Instant::now(), &cfg, true),
            Some(Transition::Ejected { .. })
        ));
        assert_eq!(
            m.probe(false, &hc(), Instant::now()),
            [None, None],
            "a failing probe keeps it out"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            m.probe(true, &hc(), Instant::now()),
            [None, Some(Transition::Returned)]
        );
        assert!(m.eligible() && m.on_probation());
    }

    #[test]
    fn pool_veto_and_disabled_detection() {
        let mut m = Machine::new(false);
        let cfg = od();
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(
                m.failure(now, &cfg, false),
                None,
                "the pool said no: stay in rotation"
            );
        }
        assert!(m.eligible());
        assert!(
            matches!(m.failure(now, &cfg, true), Some(Transition::Ejected { .. })),
            "ejected once allowed"
        );
        let mut off = Machine::new(false);
        let disabled = OutlierConfig {
            consecutive_failures: 0,
            ..cfg
        };
        for _ in 0..10 {
            assert_eq!(off.failure(now, &disabled, true), None);
        }
        assert!(off.eligible());
    }
}
