//! A route's access policy, decided on the resolved client IP (the visitor behind a trusted
//! tunnel) before any upstream is involved: `allow` (403), `rate_limit` (429 with `Retry-After`),
//! `max_body_size` (413 up front from `Content-Length`; a chunked body is cut in
//! `request_body_filter` once it passes the limit), and `buffer_request_body`.

use super::Ctx;
use crate::respond::{self, ErrorBody};
use crate::routing::{ClientCheck, Route};
use http::HeaderValue;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::time::Duration;

/// Why a request is refused, and its answer.
pub struct Refusal {
    status: u16,
    error: &'static str,
    reason: &'static str,
    extra: Option<(http::HeaderName, HeaderValue)>,
}

/// The refusal of `route`'s policy for this request, if any (counted).
pub fn decide(session: &Session, ctx: &Ctx, route: &Route) -> Option<Refusal> {
    let refusal = match route.check_client(ctx.client) {
        ClientCheck::NotAllowed => {
            route.metrics.rejected_allow.inc();
            Some((
                403,
                "forbidden",
                "the client address is not allowed on this route",
                None,
            ))
        }
        ClientCheck::RateLimited(wait) => {
            route.metrics.rejected_rate_limit.inc();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let retry_after = (http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            Some((
                429,
                "too many requests",
                "rate limit exceeded",
                Some(retry_after),
            ))
        }
        ClientCheck::Admitted
            if route
                .max_body_size
                .zip(content_length(session))
                .is_some_and(|(max, len)| len > max) =>
        {
            route.metrics.rejected_body_size.inc();
            let reason = "Content-Length exceeds max_body_size";
            Some((413, "request body too large", reason, None))
        }
        ClientCheck::Admitted => None,
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

/// `buffer_request_body`: a body with a Content-Length up to the route's limit is read whole now,
/// before any upstream is contacted (a slow client then holds no upstream worker: gunicorn's sync
/// workers behind Django). Pingora keeps what was read in its retry buffer and sends it upstream
/// as the body; larger bodies, and chunked ones, stream as usual.
/// `limit` is the route's `buffer_request_body`, `gap` its table's `timeouts.client_body`.
pub async fn buffer_body(
    session: &mut Session,
    ctx: &mut Ctx,
    limit: u64,
    gap: Duration,
) -> Result<()> {
    if !content_length(session).is_some_and(|len| len > 0 && len <= limit) {
        return Ok(());
    }
    session.as_mut().enable_retry_buffering();
    // Each read waits at most `timeouts.client_body` (Pingora has no body timeout of its own for
    // HTTP/2); a client that pauses longer is answered 408 before any upstream is contacted.
    loop {
        let read = tokio::time::timeout(gap, session.read_request_body()).await;
        match read {
            Ok(Ok(Some(chunk))) => ctx.body_bytes += chunk.len() as u64,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e.into_down()),
            Err(_) => {
                return Err(Error::explain(
                    ErrorType::ReadTimedout,
                    "client body timeout while buffering the request body",
                )
                .into_down());
            }
        }
    }
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
