//! The one way a metric family is made: built from its name, help text and label names, and
//! registered on the process's registry in the same step.

use super::DURATION_BUCKETS;
use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Makes families on one registry; each comes back registered (the registry holds a clone, and
/// clones share their series).
pub(super) struct Registrar<'a>(pub(super) &'a Registry);

impl Registrar<'_> {
    /// Registers `collector` and hands it back.
    pub(super) fn add<C: Collector + Clone + 'static>(
        &self,
        collector: C,
    ) -> prometheus::Result<C> {
        self.0.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    pub(super) fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    pub(super) fn gauges(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    pub(super) fn gauge(&self, name: &str, help: &str) -> prometheus::Result<IntGauge> {
        self.add(IntGauge::new(name, help)?)
    }

    /// A histogram family with the duration buckets (seconds).
    pub(super) fn durations(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<HistogramVec> {
        let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
        self.add(HistogramVec::new(opts, labels)?)
    }
}
