//! The one place a [`LocalAnswer`] is written: its status, headers, JSON body and the route's
//! rejection counters. Its access-log line follows from `ctx` in `logging`, as for every request.

use super::Ctx;
use super::admission::LocalAnswer;
use super::policy::Refusal;
use crate::respond::{self, ErrorBody};
use crate::routing::Route;
use http::HeaderValue;
use pingora::Result;
use pingora::proxy::Session;

/// Writes `answer` to the request of `ctx` on `route` (when admission found one).
pub async fn write(
    session: &mut Session,
    ctx: &Ctx,
    route: Option<&Route>,
    answer: &LocalAnswer,
) -> Result<()> {
    let mut body = ErrorBody::new("", &ctx.request_id);
    body.route = route.map(|r| &*r.name);
    let mut extra = None;
    let status = match answer {
        LocalAnswer::BadTarget => {
            body.reason = Some(
                "the request target must be origin-form (/path) or absolute-form (http://host/path)",
            );
            400
        }
        LocalAnswer::BadPath(reason) => {
            body.reason = Some(reason);
            400
        }
        LocalAnswer::NoRoute { path } => {
            body.path = Some(path);
            404
        }
        LocalAnswer::Refused(refusal) => {
            let (status, reason) = refused(route, *refusal, &mut extra);
            if status == 413 {
                // Do not read (or drain) a body that will never be used.
                session.set_keepalive(None);
            }
            body.reason = Some(reason);
            status
        }
        LocalAnswer::Redirect { location } => {
            return respond::redirect(session, location, &ctx.request_id).await;
        }
        LocalAnswer::NoEndpoints => {
            body.upstream = route.map(|r| &*r.pool.name);
            503
        }
    };
    body.error = error_text(status);
    respond::json_with(session, status, &body, &ctx.request_id, extra).await
}

/// A refusal's status and reason (and `Retry-After`), counted on the route.
fn refused(
    route: Option<&Route>,
    refusal: Refusal,
    extra: &mut Option<(http::HeaderName, HeaderValue)>,
) -> (u16, &'static str) {
    let metrics = route.map(|r| &r.metrics);
    match refusal {
        Refusal::NotAllowed => {
            metrics.inspect(|m| m.rejected_allow.inc());
            (403, "the client address is not allowed on this route")
        }
        Refusal::RateLimited(wait) => {
            metrics.inspect(|m| m.rejected_rate_limit.inc());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            *extra = Some((http::header::RETRY_AFTER, HeaderValue::from(secs.max(1))));
            (429, "rate limit exceeded")
        }
        Refusal::BodyTooLarge => {
            metrics.inspect(|m| m.rejected_body_size.inc());
            (413, "Content-Length exceeds max_body_size")
        }
    }
}

fn error_text(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        403 => "forbidden",
        404 => "no route",
        413 => "request body too large",
        429 => "too many requests",
        _ => "no endpoints",
    }
}
