//! A route's access policy, decided on the resolved client IP (the visitor behind a trusted
//! tunnel) before any upstream is involved: `allow` (403), `rate_limit` (429 with `Retry-After`),
//! `max_body_size` (413 up front from `Content-Length`; a chunked body is cut in
//! `request_body_filter` once it passes the limit).

use super::Ctx;
use crate::respond::{self, ErrorBody};
use crate::routing::Route;
use http::HeaderValue;
use pingora::Result;
use pingora::proxy::Session;

/// Why a request is refused, and its answer.
pub struct Refusal {
    status: u16,
    error: &'static str,
    reason: &'static str,
    extra: Option<(http::HeaderName, HeaderValue)>,
}

/// The refusal of `route`'s policy for this request, if any (counted).
pub fn decide(session: &Session, ctx: &Ctx, route: &Route) -> Option<Refusal> {
    let refusal = if !route.allow.is_empty() && !route.allow.iter().any(|n| n.contains(&ctx.client))
    {
        route.metrics.rejected_allow.inc();
        Some((
            403,
            "forbidden",
            "the client address is not allowed on this route",
            None,
        ))
    } else if let Some(wait) = route
        .limiter
        .as_ref()
        .and_then(|l| l.check(ctx.client).err())
    {
        route.metrics.rejected_rate_limit.inc();
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let retry_after = (http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        Some((
            429,
            "too many requests",
            "rate limit exceeded",
            Some(retry_after),
        ))
    } else if route
        .max_body_size
        .zip(content_length(session))
        .is_some_and(|(max, len)| len > max)
    {
        route.metrics.rejected_body_size.inc();
        Some((
            413,
            "request body too large",
            "Content-Length exceeds max_body_size",
            None,
        ))
    } else {
        None
    };
    refusal.map(|(status, error, reason, extra)| Refusal {
        status,
        error,
        reason,
        extra,
    })
}

/// Writes the refusal's JSON answer.
pub async fn refuse(session: &mut Session, ctx: &Ctx, route: &Route, r: Refusal) -> Result<()> {
    if r.status == 413 {
        // Do not read (or drain) a body that will never be used.
        session.set_keepalive(None);
    }
    let mut body = ErrorBody::new(r.error, &ctx.request_id);
    body.reason = Some(r.reason);
    body.route = Some(&route.name);
    respond::json_with(session, r.status, &body, &ctx.request_id, r.extra).await
}

fn content_length(session: &Session) -> Option<u64> {
    session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
