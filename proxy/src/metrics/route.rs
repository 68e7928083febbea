//! Per-route metric handles, shared by every route table that has a route of the same name.
//!
//! A reload builds a new table while requests on the old one finish; both hold the same
//! [`RouteMetrics`] for a name that stays. When the last holder of a name is gone (the route left
//! the config and its last request ended), its series leave the exposition, as Envoy drops the
//! stats of a removed cluster: renaming routes across reloads does not grow `/metrics` forever.

use super::{
    METHODS, NO_ROUTE, OTHER_METHOD, RETRY_CONNECT_FAILURE, RETRY_RESET, RETRY_STATUS,
    RETRY_TIMEOUT, STATUS_MIN, STATUS_SLOTS,
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

/// The route names that have live handles.
#[derive(Clone, Default)]
pub(crate) struct LiveRoutes(Arc<Mutex<HashMap<String, Weak<RouteMetrics>>>>);

impl LiveRoutes {
    pub(crate) fn get_or_resolve(
        &self,
        route: &str,
        resolve: impl FnOnce() -> RouteMetrics,
    ) -> Arc<RouteMetrics> {
        let mut live = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = live.get(route).and_then(Weak::upgrade) {
            return m;
        }
        let m = Arc::new(resolve());
        live.insert(route.to_owned(), Arc::downgrade(&m));
        m
    }
}

/// Pre-resolved handles of one route.
pub struct RouteMetrics {
    route: String,
    requests: IntCounterVec,
    /// Per method: handles by status code, filled on first use of each (method, code).
    by_method: [OnceLock<Box<[OnceLock<IntCounter>]>>; METHODS.len() + 1],
    pub duration: Histogram,
    pub retry_connect_failure: IntCounter,
    pub retry_reset: IntCounter,
    pub retry_timeout: IntCounter,
    pub retry_status: IntCounter,
    /// What removes the series on drop; `None` for the never-dropped "no route" handles.
    owner: Option<(LiveRoutes, HistogramVec, IntCounterVec)>,
}

impl RouteMetrics {
    pub(crate) fn resolve(
        requests: &IntCounterVec,
        duration: &HistogramVec,
        retries: &IntCounterVec,
        route: &str,
        live: Option<LiveRoutes>,
    ) -> Self {
        Self {
            route: route.to_owned(),
            requests: requests.clone(),
            by_method: Default::default(),
            duration: duration.with_label_values(&[route]),
            retry_connect_failure: retries.with_label_values(&[route, RETRY_CONNECT_FAILURE]),
            retry_reset: retries.with_label_values(&[route, RETRY_RESET]),
            retry_timeout: retries.with_label_values(&[route, RETRY_TIMEOUT]),
            retry_status: retries.with_label_values(&[route, RETRY_STATUS]),
            owner: live.map(|l| (l, duration.clone(), retries.clone())),
        }
    }

    /// Counts one answered request.
    pub fn count(&self, method: &http::Method, status: u16) {
        let m = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(OTHER_METHOD);
        let slot = usize::from(status.saturating_sub(STATUS_MIN));
        if slot >= STATUS_SLOTS {
            self.requests
                .with_label_values(&[self.route.as_str(), method_label(m), &status.to_string()])
                .inc();
            return;
        }
        let codes =
            self.by_method[m].get_or_init(|| (0..STATUS_SLOTS).map(|_| OnceLock::new()).collect());
        codes[slot]
            .get_or_init(|| {
                self.requests.with_label_values(&[
                    self.route.as_str(),
                    method_label(m),
                    &status.to_string(),
                ])
            })
            .inc();
    }
}

impl Drop for RouteMetrics {
    fn drop(&mut self) {
        let Some((live, duration, retries)) = &self.owner else {
            return;
        };
        let mut live = live.0.lock().unwrap_or_else(PoisonError::into_inner);
        // A table built since this instance lost its last holder has a new one for the name:
        // its series are in use again.
        if live.get(&self.route).is_some_and(|w| w.strong_count() > 0) {
            return;
        }
        live.remove(&self.route);
        let route = self.route.as_str();
        // The "no route" series are never removed, even if a route is named like them.
        if route == NO_ROUTE {
            return;
        }
        let _ = duration.remove_label_values(&[route]);
        for reason in RETRY_REASONS {
            let _ = retries.remove_label_values(&[route, reason]);
        }
        // Every (method, code) of the route, including any counted through an earlier instance
        // of the same name that lost a race with a reload.
        for family in self.requests.collect() {
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
                        self.requests
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
    use super::super::Metrics;
    use super::NO_ROUTE;
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
