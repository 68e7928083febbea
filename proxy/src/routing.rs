//! The route table: compiled once per config, published through `ArcSwap`, read-only afterwards.
//!
//! Matching rules:
//! - Routes for the request's exact host are consulted first, then those of the wildcard
//!   `*.parent` (the host less its first label: `*.example.com` takes `a.example.com`, never
//!   `example.com` or `a.b.example.com`), then host-less routes: each only when no route of the
//!   one before matches the path. Hosts compare case-insensitively, without port or trailing dot.
//! - Within a host: an exact `path` beats any `prefix`; the longest prefix wins.
//! - Prefixes match on segment boundaries: `/api` matches `/api`, `/api/` and `/api/v1`, never
//!   `/apiary`. Lookups walk the path's segment boundaries from longest to shortest, one hash
//!   lookup each — cost grows with path depth, not with the number of routes.

use crate::config::{
    ClientIpConfig, ClientTimeouts, Config, Limits, PathMatch, ShutdownConfig, Timeouts,
};
use crate::metrics::{Metrics, RouteMetrics};
use crate::rate_limit::RateLimiter;
use crate::upstream::Pool;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Route {
    pub name: Arc<str>,
    pub host: Option<Box<str>>,
    pub matcher: PathMatch,
    pub pool: Arc<Pool>,
    pub strip_prefix: bool,
    pub redirect_trailing_slash: bool,
    pub timeouts: Timeouts,
    pub metrics: Arc<RouteMetrics>,
    /// Allowed client networks; empty: everyone.
    pub allow: Vec<ipnet::IpNet>,
    /// Per-client-IP rate limit (its buckets start empty after a reload).
    pub limiter: Option<RateLimiter>,
    pub max_body_size: Option<u64>,
    pub buffer_request_body: Option<u64>,
}

/// What a route's `allow` and `rate_limit` say about one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCheck {
    Admitted,
    /// Not in `allow`: 403.
    NotAllowed,
    /// Past its rate: 429, conforming again after this long.
    RateLimited(std::time::Duration),
}

impl Route {
    /// `allow`, then `rate_limit`, for the resolved client IP (a refused client takes no token).
    pub fn check_client(&self, client: std::net::IpAddr) -> ClientCheck {
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&client)) {
            return ClientCheck::NotAllowed;
        }
        match self.limiter.as_ref().map(|l| l.check(client)) {
            Some(Err(wait)) => ClientCheck::RateLimited(wait),
            _ => ClientCheck::Admitted,
        }
    }

    /// The prefix for `strip_prefix` / trailing-slash handling (`None` for exact routes).
    pub fn prefix(&self) -> Option<&str> {
        match &self.matcher {
            PathMatch::Prefix(p) => Some(p),
            PathMatch::Exact(_) => None,
        }
    }
}

#[derive(Default)]
struct PathTable {
    exact: HashMap<Box<str>, usize>,
    prefix: HashMap<Box<str>, usize>,
}

impl PathTable {
    fn insert(&mut self, m: &PathMatch, idx: usize) {
        match m {
            PathMatch::Exact(p) => self.exact.insert(p.as_str().into(), idx),
            PathMatch::Prefix(p) => self.prefix.insert(p.as_str().into(), idx),
        };
    }

    fn find(&self, path: &str) -> Option<usize> {
        if let Some(i) = self.exact.get(path) {
            return Some(*i);
        }
        if self.prefix.is_empty() {
            return None;
        }
        let mut candidate = path;
        loop {
            if let Some(i) = self.prefix.get(candidate) {
                return Some(*i);
            }
            candidate = match candidate.rfind('/') {
                Some(0) if candidate.len() > 1 => "/",
                Some(0) | None => return None,
                Some(cut) => &candidate[..cut],
            };
        }
    }
}

/// One immutable snapshot of everything a request needs to be routed.
pub struct RouteTable {
    pub routes: Vec<Route>,
    pub pools: Vec<Arc<Pool>>,
    pub client_ip: ClientIpConfig,
    pub shutdown: ShutdownConfig,
    /// Edge limits; a reload applies them to the next request header and the next accept.
    pub limits: Limits,
    pub client_timeouts: ClientTimeouts,
    any_host: PathTable,
    by_host: HashMap<Box<str>, PathTable>,
    /// Wildcard routes by parent domain: `*.example.com` under `example.com`.
    by_wildcard: HashMap<Box<str>, PathTable>,
}

impl RouteTable {
    pub fn build(config: &Config, metrics: &Metrics) -> Self {
        Self::rebuild(config, metrics, None)
    }

    /// Builds the table for `config`, reusing the pools of `previous` whose upstream config is
    /// unchanged (health state, connections and discovery carry on), and the endpoints of the
    /// others where they stay.
    pub fn rebuild(config: &Config, metrics: &Metrics, previous: Option<&RouteTable>) -> Self {
        let pools: Vec<Arc<Pool>> = config
            .upstreams
            .iter()
            .map(|u| {
                let prev = previous.and_then(|t| t.pools.iter().find(|p| *p.name == *u.name));
                match prev {
                    Some(p) if p.config == *u && !p.is_retired() => p.clone(),
                    _ => Arc::new(Pool::new(u, metrics, prev.map(|p| &**p))),
                }
            })
            .collect();
        let mut any_host = PathTable::default();
        let mut by_host: HashMap<Box<str>, PathTable> = HashMap::new();
        let mut by_wildcard: HashMap<Box<str>, PathTable> = HashMap::new();
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let table = match r.host.as_deref() {
                    Some(h) => match h.strip_prefix("*.") {
                        Some(parent) => by_wildcard.entry(parent.into()).or_default(),
                        None => by_host.entry(h.into()).or_default(),
                    },
                    None => &mut any_host,
                };
                table.insert(&r.matcher, i);
                Route {
                    name: r.name.as_str().into(),
                    host: r.host.as_deref().map(Into::into),
                    matcher: r.matcher.clone(),
                    pool: pools[r.upstream].clone(),
                    strip_prefix: r.strip_prefix,
                    redirect_trailing_slash: r.redirect_trailing_slash,
                    timeouts: r.timeouts,
                    metrics: metrics.route(&r.name),
                    allow: r.policy.allow.clone(),
                    limiter: r
                        .policy
                        .rate_limit
                        .map(|l| RateLimiter::new(l.per_second, l.burst)),
                    max_body_size: r.policy.max_body_size,
                    buffer_request_body: r.policy.buffer_request_body,
                }
            })
            .collect();
        Self {
            routes,
            pools,
            shutdown: config.shutdown,
            limits: config.limits,
            client_timeouts: config.timeouts,
            client_ip: config.client_ip.clone(),
            any_host,
            by_host,
            by_wildcard,
        }
    }

    /// The index of the route for `host` (a raw `Host` value, port allowed) and a normalised `path`.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<usize> {
        if !(self.by_host.is_empty() && self.by_wildcard.is_empty())
            && let Some(i) = host.and_then(|h| self.find_for_host(h, path))
        {
            return Some(i);
        }
        self.any_host.find(path)
    }

    pub fn route(&self, idx: usize) -> &Route {
        &self.routes[idx]
    }

    /// The exact host's routes, then its wildcard's; lower-cases (allocates) only a host that has
    /// upper-case letters.
    fn find_for_host(&self, raw: &str, path: &str) -> Option<usize> {
        let host = strip_port(raw).trim_end_matches('.');
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(host.to_ascii_lowercase())
        } else {
            Cow::Borrowed(host)
        };
        let in_table = |tables: &HashMap<Box<str>, PathTable>, key: &str| {
            tables.get(key).and_then(|t| t.find(path))
        };
        if let Some(i) = in_table(&self.by_host, &host) {
            return Some(i);
        }
        if self.by_wildcard.is_empty() {
            return None;
        }
        match host.split_once('.') {
            Some((label, parent)) if !label.is_empty() => in_table(&self.by_wildcard, parent),
            _ => None,
        }
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`; never splits an IPv6 literal.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn table(yaml_routes: &str) -> RouteTable {
        let text = format!(
            "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n{yaml_routes}\nupstreams:\n  u:\n    endpoints: [\"127.0.0.1:1\"]\n"
        );
        let config = Config::parse(&text, "test.yaml").unwrap();
        RouteTable::build(&config, &Metrics::new().unwrap())
    }

    fn name<'a>(t: &'a RouteTable, host: Option<&str>, path: &str) -> Option<&'a str> {
        t.find(host, path).map(|i| &*t.route(i).name)
    }

    #[test]
    fn trinity_routes_on_segment_boundaries() {
        let t = table(
            "  - { name: admin, prefix: /admin, upstream: u }\n  - { name: api, prefix: /api, upstream: u }\n  - { name: ai, prefix: /trinityai, upstream: u }\n  - { name: minio, prefix: /minio-console, upstream: u }\n  - { name: frontend, prefix: /, upstream: u }",
        );
        assert_eq!(name(&t, None, "/api"), Some("api"));
        assert_eq!(name(&t, None, "/api/"), Some("api"));
        assert_eq!(name(&t, None, "/api/v1/items"), Some("api"));
        assert_eq!(name(&t, None, "/apiary"), Some("frontend"));
        assert_eq!(name(&t, None, "/administrator"), Some("frontend"));
        assert_eq!(name(&t, None, "/admin/login/"), Some("admin"));
        assert_eq!(name(&t, None, "/trinityai/chat"), Some("ai"));
        assert_eq!(name(&t, None, "/minio-console"), Some("minio"));
        assert_eq!(name(&t, None, "/"), Some("frontend"));
        assert_eq!(name(&t, None, "/static/app.js"), Some("frontend"));
    }

    #[test]
    fn exact_beats_prefix_and_longest_prefix_wins() {
        let t = table(
            "  - { name: api, prefix: /api, upstream: u }\n  - { name: v2, prefix: /api/v2, upstream: u }\n  - { name: health, path: /api/health, upstream: u }",
        );
        assert_eq!(name(&t, None, "/api/health"), Some("health"));
        assert_eq!(name(&t, None, "/api/health/x"), Some("api"));
        assert_eq!(name(&t, None, "/api/v2/x"), Some("v2"));
        assert_eq!(name(&t, None, "/api/v2"), Some("v2"));
        assert_eq!(name(&t, None, "/api/v20"), Some("api"));
        assert_eq!(name(&t, None, "/"), None);
        assert_eq!(name(&t, None, "/other"), None);
    }

    #[test]
    fn host_specific_beats_hostless() {
        let t = table(
            "  - { name: any, prefix: /, upstream: u }\n  - { name: shop, prefix: /, host: shop.example.com, upstream: u }\n  - { name: shop-api, prefix: /api, host: shop.example.com, upstream: u }",
        );
        assert_eq!(name(&t, Some("shop.example.com"), "/x"), Some("shop"));
        assert_eq!(
            name(&t, Some("SHOP.Example.com:8080"), "/api/x"),
            Some("shop-api")
        );
        assert_eq!(name(&t, Some("shop.example.com."), "/"), Some("shop"));
        assert_eq!(name(&t, Some("other.example.com"), "/api"), Some("any"));
        assert_eq!(name(&t, None, "/api"), Some("any"));
    }

    #[test]
    fn host_routes_fall_back_to_hostless_paths() {
        let t = table(
            "  - { name: shop-api, prefix: /api, host: shop.example.com, upstream: u }\n  - { name: any, prefix: /, upstream: u }",
        );
        assert_eq!(name(&t, Some("shop.example.com"), "/static"), Some("any"));
    }

    #[test]
    fn wildcard_takes_exactly_one_label() {
        let t = table("  - { name: wild, prefix: /, host: \"*.example.com\", upstream: u }");
        assert_eq!(name(&t, Some("a.example.com"), "/x"), Some("wild"));
        assert_eq!(name(&t, Some("A.Example.COM"), "/x"), Some("wild"));
        assert_eq!(name(&t, Some("a.example.com:8443"), "/"), Some("wild"));
        assert_eq!(name(&t, Some("a.example.com."), "/"), Some("wild"));
        assert_eq!(name(&t, Some("A.EXAMPLE.COM.:80"), "/"), Some("wild"));
        assert_eq!(name(&t, Some("example.com"), "/"), None);
        assert_eq!(name(&t, Some(".example.com"), "/"), None);
        assert_eq!(name(&t, Some("a.b.example.com"), "/"), None);
        assert_eq!(name(&t, Some("aexample.com"), "/"), None);
        assert_eq!(name(&t, Some("a.example.org"), "/"), None);
        assert_eq!(name(&t, None, "/"), None);
    }

    #[test]
    fn exact_host_then_wildcard_then_hostless() {
        let t = table(
            "  - { name: any, prefix: /, upstream: u }\n  - { name: wild, prefix: /, host: \"*.example.com\", upstream: u }\n  - { name: wild-api, prefix: /api, host: \"*.Example.com.\", upstream: u }\n  - { name: shop-api, prefix: /api, host: shop.example.com, upstream: u }\n  - { name: deep, path: /deep, host: \"*.b.example.com\", upstream: u }",
        );
        assert_eq!(
            name(&t, Some("shop.example.com"), "/api/x"),
            Some("shop-api")
        );
        assert_eq!(
            name(&t, Some("Shop.Example.com:80"), "/api"),
            Some("shop-api")
        );
        // shop.example.com has routes, none for /static: its wildcard's.
        assert_eq!(name(&t, Some("shop.example.com"), "/static"), Some("wild"));
        assert_eq!(
            name(&t, Some("blog.example.com"), "/api/x"),
            Some("wild-api")
        );
        assert_eq!(name(&t, Some("blog.example.com"), "/"), Some("wild"));
        assert_eq!(name(&t, Some("example.com"), "/api"), Some("any"));
        assert_eq!(name(&t, Some("a.b.example.com"), "/deep"), Some("deep"));
        // *.b.example.com has no route for /api; a.b.example.com is not under *.example.com.
        assert_eq!(name(&t, Some("a.b.example.com"), "/api"), Some("any"));
        assert_eq!(name(&t, None, "/api"), Some("any"));
    }

    #[test]
    fn wildcard_falls_back_to_hostless_paths() {
        let t = table(
            "  - { name: wild-api, prefix: /api, host: \"*.example.com\", upstream: u }\n  - { name: any, prefix: /, upstream: u }",
        );
        assert_eq!(name(&t, Some("a.example.com"), "/api"), Some("wild-api"));
        assert_eq!(name(&t, Some("a.example.com"), "/static"), Some("any"));
        assert_eq!(name(&t, Some("[::1]:8080"), "/api"), Some("any"));
    }

    #[test]
    fn ports_are_stripped_without_breaking_ipv6() {
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("::1"), "::1");
    }
}
