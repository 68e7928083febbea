//! Per-route metric handles, shared by every route table that has a route of the same name.
//!
//! A reload builds a new table while requests on the old one finish; both hold the same
//! [`RouteMetrics`] for a name that stays. When the last holder of a name is gone (the route left
//! the config and its last request ended), its series leave the exposition, as Envoy drops the
//! stats of a removed cluster: renaming routes across reloads does not grow `/metrics` forever.

use super::registrar::Registrar;
use super::{
    METHODS, OTHER_METHOD, REQUEST_DURATION, REQUESTS_TOTAL, RETRIES_TOTAL, RETRY_CONNECT_FAILURE,
    RETRY_RESET, RETRY_STATUS, RETRY_TIMEOUT, STATUS_MIN, STATUS_SLOTS,
};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

const RETRY_REASONS: [&str; 4] = [
    RETRY_CONNECT_FAILURE,
    RETRY_RESET,
    RETRY_TIMEOUT,
    RETRY_STATUS,
];

/// The families a route's series live in (clones share them).
#[derive(Clone)]
pub(crate) struct RouteFamilies {
    pub(crate) requests: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) retries: IntCounterVec,
    /// `requests_rejected_total{route, reason}`.
    pub(crate) rejected: IntCounterVec,
}

impl RouteFamilies {
    /// Registers the route families; `rejected` is the edge's `requests_rejected_total`, in which
    /// routes pre-resolve their own reasons.
    pub(super) fn register(r: &Registrar<'_>, rejected: IntCounterVec) -> prometheus::Result<Self> {
        Ok(Self {
            requests: r.counters(
                REQUESTS_TOTAL,
                "HTTP requests answered, by route, method and status code.",
                &["route", "method", "code"],
            )?,
            duration: r.durations(
                REQUEST_DURATION,
                "Time from request start to the end of the response, by route.",
                &["route"],
            )?,
            retries: r.counters(
                RETRIES_TOTAL,
                "Requests retried on another endpoint, by route and reason.",
                &["route", "reason"],
            )?,
            rejected,
        })
    }
}

/// `requests_rejected_total{reason}` of a route's own policy.
pub const REJECT_ALLOW: &str = "allow";
pub const REJECT_RATE_LIMIT: &str = "rate_limit";
pub const REJECT_BODY_SIZE: &str = "body_size";
/// The client did not deliver its request body in time (408).
pub const REJECT_BODY_TIMEOUT: &str = "body_timeout";
const REJECT_REASONS: [&str; 4] = [
    REJECT_ALLOW,
    REJECT_RATE_LIMIT,
    REJECT_BODY_SIZE,
    REJECT_BODY_TIMEOUT,
];

/// Hands out one [`RouteMetrics`] per route name while anything holds it.
#[derive(Clone)]
pub(crate) struct LiveRoutes {
    families: RouteFamilies,
    live: Arc<Mutex<HashMap<String, Weak<RouteMetrics>>>>,
}

impl LiveRoutes {
    pub(crate) fn new(families: RouteFamilies) -> Self {
        Self {
            families,
            live: Arc::default(),
        }
    }

    /// The live handles of `route`, or new ones.
    pub(crate) fn get(&self, route: &str) -> Arc<RouteMetrics> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = live.get(route).and_then(Weak::upgrade) {
            return m;
        }
        let f = &self.families;
        let m = Arc::new(RouteMetrics {
            route: route.to_owned(),
            by_method: Default::default(),
            duration: f.duration.with_label_values(&[route]),
            retry_connect_failure: f.retries.with_label_values(&[route, RETRY_CONNECT_FAILURE]),
            retry_reset: f.retries.with_label_values(&[route, RETRY_RESET]),
            retry_timeout: f.retries.with_label_values(&[route, RETRY_TIMEOUT]),
            retry_status: f.retries.with_label_values(&[route, RETRY_STATUS]),
            rejected_allow: f.rejected.with_label_values(&[route, REJECT_ALLOW]),
            rejected_rate_limit: f.rejected.with_label_values(&[route, REJECT_RATE_LIMIT]),
            rejected_body_size: f.rejected.with_label_values(&[route, REJECT_BODY_SIZE]),
            rejected_body_timeout: f.rejected.with_label_values(&[route, REJECT_BODY_TIMEOUT]),
            owner: self.clone(),
        });
        live.insert(route.to_owned(), Arc::downgrade(&m));
        m
    }
}

/// Pre-resolved handles of one route.
pub struct RouteMetrics {
    route: String,
    /// Per method: handles by status code, filled on first use of each (method, code).
    by_method: [OnceLock<Box<[OnceLock<IntCounter>]>>; METHODS.len() + 1],
    pub duration: Histogram,
    pub retry_connect_failure: IntCounter,
    pub retry_reset: IntCounter,
    pub retry_timeout: IntCounter,
    pub retry_status: IntCounter,
    pub rejected_allow: IntCounter,
    pub rejected_rate_limit: IntCounter,
    pub rejected_body_size: IntCounter,
    pub rejected_body_timeout: IntCounter,
    /// Removes the series when the last holder is gone.
    owner: LiveRoutes,
}

impl RouteMetrics {
    /// Counts one answered request.
    pub fn count(&self, method: &http::Method, status: u16) {
        let requests = &self.owner.families.requests;
        let m = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(OTHER_METHOD);
        let slot = usize::from(status.saturating_sub(STATUS_MIN));
        if slot >= STATUS_SLOTS {
            requests
                .with_label_values(&[self.route.as_str(), method_label(m), &status.to_string()])
                .inc();
            return;
        }
        let codes =
            self.by_method[m].get_or_init(|| (0..STATUS_SLOTS).map(|_| OnceLock::new()).collect());
        codes[slot]
            .get_or_init(|| {
                requests.with_label_values(&[
                    self.route.as_str(),
                    method_label(m),
                    &status.to_string(),
                ])
            })
            .inc();
    }
}

impl RouteMetrics {
    /// Requests answered so far, and how many of them with a 5xx (for `stats`: reads the
    /// pre-resolved handles, no label lookups).
    pub fn answered(&self) -> (u64, u64) {
        let (mut all, mut errors) = (0, 0);
        for codes in self.by_method.iter().filter_map(OnceLock::get) {
            for (slot, counter) in codes.iter().enumerate() {
                let Some(counter) = counter.get() else {
                    continue;
                };
                let n = counter.get();
                all += n;
                if (500..600).contains(&(usize::from(STATUS_MIN) + slot)) {
                    errors += n;
                }
            }
        }
        (all, errors)
    }

    /// The duration histogram's finite upper bounds (seconds) and its cumulative counts, one per
    /// bound plus the total last.
    pub fn duration_buckets(&self) -> (Vec<f64>, Box<[u64]>) {
        use prometheus::core::Metric;
        let m = self.duration.metric();
        let h = m.get_histogram();
        let bounds = h.get_bucket().iter().map(|b| b.upper_bound()).collect();
        let counts = h
            .get_bucket()
            .iter()
            .map(|b| b.cumulative_count())
            .chain([h.get_sample_count()])
            .collect();
        (bounds, counts)
    }
}

impl Drop for RouteMetrics {
    fn drop(&mut self) {
        let mut live = self
            .owner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A table built since this instance lost its last holder has a new one for the name:
        // its series are in use again.
        if live.get(&self.route).is_some_and(|w| w.strong_count() > 0) {
            return;
        }
        live.remove(&self.route);
        let route = self.route.as_str();
        let f = &self.owner.families;
        let _ = f.duration.remove_label_values(&[route]);
        for reason in RETRY_REASONS {
            let _ = f.retries.remove_label_values(&[route, reason]);
        }
        for reason in REJECT_REASONS {
            let _ = f.rejected.remove_label_values(&[route, reason]);
        }
        // Every (method, code) of the route, including any counted through an earlier instance
        // of the same name that lost a race with a reload.
        for family in f.requests.collect() {
            for m in family.get_metric() {
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_owned())
                };
                if label("route").as_deref() == Some(route)
                    && let (Some(method), Some(code)) = (label("method"), label("code"))
                {
                    let _ =
                        f.requests
                            .remove_label_values(&[route, method.as_str(), code.as_str()]);
                }
            }
        }
    }
}

pub(crate) fn method_label(i: usize) -> &'static str {
    METHODS.get(i).copied().unwrap_or("other")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::super::{Metrics, NO_ROUTE};
    use http::Method;

    fn lines(m: &Metrics, needle: &str) -> usize {
        let text = String::from_utf8(m.encode()).unwrap();
        text.lines().filter(|l| l.contains(needle)).count()
    }

    #[test]
    fn a_dropped_route_takes_its_series_and_a_route_named_none_leaves_the_no_route_ones() {
        let m = Metrics::new().unwrap();
        m.no_route().count(&Method::GET, 404);
        let api = m.route("api");
        api.count(&Method::POST, 201);
        api.count(&Method::PATCH, 999); // outside the pre-resolved codes
        let none = m.route(NO_ROUTE);
        none.count(&Method::GET, 200);
        assert!(lines(&m, "route=\"api\"") > 0);
        drop((api, none));
        assert_eq!(lines(&m, "route=\"api\""), 0);
        assert!(
            lines(&m, "code=\"404\"") > 0,
            "the no-route series were removed"
        );
    }
}
