//! Admission as a decision: from the request head, the resolved client and one route-table
//! snapshot to one [`Admission`] — forward to a route, or answer locally — without a `Session`
//! and without writing anything (`answer.rs` writes every local answer). Its only effect is the
//! rate limiter's token, which is the decision itself.
//!
//! In order: the request target's form (400), path normalisation (400), the route (404), the
//! route's policy (403, 429, 413), the trailing-slash redirect (301), an empty pool (503).

use super::policy::{self, Refusal};
use crate::path::normalize;
use crate::routing::RouteTable;
use pingora::http::RequestHeader;
use std::net::IpAddr;

#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Forward(Forward),
    /// Answered by the proxy; `route` when one was found (its metrics and access-log name).
    Answer {
        route: Option<usize>,
        answer: LocalAnswer,
    },
}

/// Where an admitted request goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Forward {
    pub route: usize,
    /// The origin-form target to send upstream when it differs from the client's raw bytes.
    pub upstream_target: Option<String>,
    /// `buffer_request_body`: read a body up to this size before any upstream is contacted.
    pub buffer_body: Option<u64>,
}

/// An answer the proxy writes itself.
#[derive(Debug, PartialEq, Eq)]
pub enum LocalAnswer {
    /// 400: neither origin-form nor absolute-form.
    BadTarget,
    /// 400: the path cannot be normalised (the reason says why).
    BadPath(&'static str),
    /// 404 for this normalised path.
    NoRoute { path: String },
    /// 403, 429 or 413 by the route's policy.
    Refused(Refusal),
    /// 301 to the route's prefix with its slash.
    Redirect { location: String },
    /// 503: the route's pool has no endpoints.
    NoEndpoints,
}

/// Decides what happens to the request `req` from `client`.
pub fn decide(req: &RequestHeader, client: IpAddr, table: &RouteTable) -> Admission {
    let answer = |route, answer| Admission::Answer { route, answer };
    let raw_target = req.raw_path();
    let Some(form) = target_form(raw_target) else {
        return answer(None, LocalAnswer::BadTarget);
    };
    let path = match normalize(req.uri.path()) {
        Ok(p) => p,
        Err(e) => return answer(None, LocalAnswer::BadPath(e.reason())),
    };
    let host = match form {
        Target::Absolute { authority } => Some(authority),
        // HTTP/2 carries the host as `:authority` (in the URI), HTTP/1.1 as `Host`.
        Target::Origin => req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str())),
    };
    let Some(idx) = table.find(host, &path) else {
        let path = path.into_owned();
        return answer(None, LocalAnswer::NoRoute { path });
    };
    let route = table.route(idx);
    if let Some(refusal) = policy::check(route, client, req) {
        return answer(Some(idx), LocalAnswer::Refused(refusal));
    }
    let query = req.uri.query();
    if route.redirect_trailing_slash && route.prefix() == Some(&*path) {
        let location = match query {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        return answer(Some(idx), LocalAnswer::Redirect { location });
    }
    if route.pool.is_empty() {
        return answer(Some(idx), LocalAnswer::NoEndpoints);
    }
    let upstream_path = match route.prefix() {
        Some(prefix) if route.strip_prefix => match &path[prefix.len()..] {
            "" => "/",
            rest => rest,
        },
        _ => &*path,
    };
    // The upstream gets exactly the routed origin-form target: the client's raw bytes only when
    // they are that already (an absolute-form target, a fragment or a normalised path are not).
    let upstream_target = (!is_target(raw_target, upstream_path, query)).then(|| match query {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path.to_owned(),
    });
    Admission::Forward(Forward {
        route: idx,
        upstream_target,
        buffer_body: route.buffer_request_body,
    })
}

/// The request target's form (RFC 9112 §3.2), for routing.
enum Target<'a> {
    /// `/path?query`.
    Origin,
    /// `http(s)://authority/path?query`: routed on the authority.
    Absolute { authority: &'a str },
}

/// Origin-form, or absolute-form with an `http`/`https` scheme and an authority; `None` for
/// asterisk-form (`OPTIONS *`), authority-form (`CONNECT host:port`), targets that are not
/// UTF-8, and anything else, which would otherwise be routed as `/` while their raw bytes went
/// upstream. (Pingora keeps an absolute-form target's scheme and authority out of the `Uri` and
/// has already checked that `Host` agrees with the authority.)
fn target_form(raw: &[u8]) -> Option<Target<'_>> {
    if raw.first() == Some(&b'/') {
        return std::str::from_utf8(raw).is_ok().then_some(Target::Origin);
    }
    let raw = std::str::from_utf8(raw).ok()?;
    let (scheme, rest) = raw.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    (!authority.is_empty()).then_some(Target::Absolute { authority })
}

/// The authority of an absolute-form `http(s)://authority/...` target.
pub(super) fn absolute_authority(raw: &[u8]) -> Option<&str> {
    match target_form(raw)? {
        Target::Absolute { authority } => Some(authority),
        Target::Origin => None,
    }
}

/// Whether `raw` is exactly `path` followed by `?query` (when there is one).
fn is_target(raw: &[u8], path: &str, query: Option<&str>) -> bool {
    let Some(rest) = raw.strip_prefix(path.as_bytes()) else {
        return false;
    };
    match query {
        None => rest.is_empty(),
        Some(q) => rest.first() == Some(&b'?') && &rest[1..] == q.as_bytes(),
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
