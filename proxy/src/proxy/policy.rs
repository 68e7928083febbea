//! A route's access policy, decided on the resolved client IP (the visitor behind a trusted
//! tunnel) before any upstream is involved: `allow` (403), `rate_limit` (429 with `Retry-After`),
//! `max_body_size` (413 up front from `Content-Length`; a chunked body is cut in
//! `request_body_filter` once it passes the limit), and `buffer_request_body`.

use super::Ctx;
use crate::routing::{ClientCheck, Route};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::net::IpAddr;
use std::time::Duration;

/// Why a route's policy refuses a request (`answer.rs` writes and counts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the client address is not in `allow`.
    NotAllowed,
    /// 429: past `rate_limit`; conforming again after this long (`Retry-After`).
    RateLimited(Duration),
    /// 413: `Content-Length` over `max_body_size`.
    BodyTooLarge,
}

/// The refusal of `route`'s policy for this request from `client`, if any.
pub fn check(route: &Route, client: IpAddr, req: &RequestHeader) -> Option<Refusal> {
    match route.check_client(client) {
        ClientCheck::NotAllowed => Some(Refusal::NotAllowed),
        ClientCheck::RateLimited(wait) => Some(Refusal::RateLimited(wait)),
        ClientCheck::Admitted
            if route
                .max_body_size
                .zip(content_length(req))
                .is_some_and(|(max, len)| len > max) =>
        {
            Some(Refusal::BodyTooLarge)
        }
        ClientCheck::Admitted => None,
    }
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
    if !content_length(session.req_header()).is_some_and(|len| len > 0 && len <= limit) {
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

fn content_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
