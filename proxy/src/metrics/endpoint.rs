//! Per-endpoint series: upstream request duration and the healthy and ejected gauges, removed when
//! the endpoint leaves its pool.

use super::registrar::Registrar;
use super::{ENDPOINT_EJECTED, ENDPOINT_HEALTHY, UPSTREAM_REQUEST_DURATION};
use prometheus::{Histogram, HistogramVec, IntGauge, IntGaugeVec};

/// Registers endpoint series; cheap to clone (the families are shared).
#[derive(Clone)]
pub struct EndpointMetricsFactory {
    duration: HistogramVec,
    healthy: IntGaugeVec,
    ejected: IntGaugeVec,
}

impl EndpointMetricsFactory {
    pub(super) fn register(r: &Registrar<'_>) -> prometheus::Result<Self> {
        Ok(Self {
            duration: r.durations(
                UPSTREAM_REQUEST_DURATION,
                "Time from choosing an endpoint to the end of its response, by upstream and endpoint.",
                &["upstream", "endpoint"],
            )?,
            healthy: r.gauges(
                ENDPOINT_HEALTHY,
                "1 while active health checks consider the endpoint healthy.",
                &["upstream", "endpoint"],
            )?,
            ejected: r.gauges(
                ENDPOINT_EJECTED,
                "1 while passive outlier detection keeps the endpoint out of rotation.",
                &["upstream", "endpoint"],
            )?,
        })
    }

    pub fn endpoint(&self, upstream: &str, endpoint: &str) -> EndpointMetrics {
        let labels = [upstream, endpoint];
        let healthy = self.healthy.with_label_values(&labels);
        healthy.set(1);
        let ejected = self.ejected.with_label_values(&labels);
        ejected.set(0);
        EndpointMetrics {
            duration: self.duration.with_label_values(&labels),
            healthy,
            ejected,
            vecs: (
                self.duration.clone(),
                self.healthy.clone(),
                self.ejected.clone(),
            ),
            labels: [upstream.to_owned(), endpoint.to_owned()],
        }
    }
}

/// Pre-resolved handles of one endpoint; its series leave the exposition when it is dropped.
pub struct EndpointMetrics {
    pub duration: Histogram,
    pub healthy: IntGauge,
    pub ejected: IntGauge,
    vecs: (HistogramVec, IntGaugeVec, IntGaugeVec),
    labels: [String; 2],
}

impl Drop for EndpointMetrics {
    fn drop(&mut self) {
        let labels = [self.labels[0].as_str(), self.labels[1].as_str()];
        let _ = self.vecs.0.remove_label_values(&labels);
        let _ = self.vecs.1.remove_label_values(&labels);
        let _ = self.vecs.2.remove_label_values(&labels);
    }
}
