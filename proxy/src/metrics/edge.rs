//! What the edge refused: requests answered by the proxy's own limits and policy, and connections
//! closed before or instead of a request.

use super::registrar::Registrar;
use super::{CONNECTIONS_REJECTED_TOTAL, REQUESTS_REJECTED_TOTAL};
use prometheus::{IntCounter, IntCounterVec};

pub struct EdgeMetrics {
    requests_rejected: IntCounterVec,
    connections_rejected: IntCounterVec,
    /// `connections_rejected_total{reason="max_connections"}`: resolved once, a flood is hot.
    pub over_max_connections: IntCounter,
}

impl EdgeMetrics {
    pub(super) fn register(r: &Registrar<'_>) -> prometheus::Result<Self> {
        let requests_rejected = r.counters(
            REQUESTS_REJECTED_TOTAL,
            "Requests the proxy answered itself for breaking a limit or policy, by route and reason.",
            &["route", "reason"],
        )?;
        let connections_rejected = r.counters(
            CONNECTIONS_REJECTED_TOTAL,
            "Client connections closed by the proxy before or instead of a request, by reason.",
            &["reason"],
        )?;
        Ok(Self {
            over_max_connections: connections_rejected.with_label_values(&["max_connections"]),
            requests_rejected,
            connections_rejected,
        })
    }

    /// The `requests_rejected_total` family (routes pre-resolve their own reasons in it).
    pub(super) fn requests_family(&self) -> IntCounterVec {
        self.requests_rejected.clone()
    }

    /// One request refused on `route` (`none` before routing) for `reason`.
    pub fn request_rejected(&self, route: &str, reason: &str) -> IntCounter {
        self.requests_rejected.with_label_values(&[route, reason])
    }

    /// One connection closed for `reason`.
    pub fn connection_rejected(&self, reason: &str) -> IntCounter {
        self.connections_rejected.with_label_values(&[reason])
    }
}
