//! What a failed request's error says: whose fault it was, and the status the client is answered.

use super::Ctx;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

/// The status `fail_to_proxy` answers for `e`; 0 when the client is gone (nothing to answer).
pub fn status(e: &Error) -> u16 {
    match e.etype() {
        _ if client_body_timeout(e) => 408,
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ReadTimedout if *e.esource() == ErrorSource::Upstream => 504,
        _ => match e.esource() {
            ErrorSource::Upstream => 502,
            // Broken body framing (the transport's `BodyGate`) is the client's error: 400.
            ErrorSource::Downstream if invalid_framing(e) => 400,
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 502,
        },
    }
}

/// The JSON `error` of a failed request's answer.
pub fn error_text(status: u16) -> &'static str {
    match status {
        504 => "upstream timed out",
        408 => "request body timeout",
        400 => "bad request",
        413 => "request body too large",
        _ => "upstream unavailable",
    }
}

/// Whether the client's side failed the request (it left, or sent what could not be read).
pub fn client_failed(e: &Error) -> bool {
    *e.esource() == ErrorSource::Downstream
}

/// The client paused its request body for longer than `timeouts.client_body` (Pingora's HTTP/1
/// body read timeout, the buffered read in `policy.rs`), or past the upstream's read timeout while
/// the upstream waited for it (`client_body_stalled`).
fn client_body_timeout(e: &Error) -> bool {
    *e.esource() == ErrorSource::Downstream && *e.etype() == ErrorType::ReadTimedout
}

/// Whether an upstream read timed out while the client's request body was still incomplete.
/// While a body streams, Pingora waits on both sides at once and restarts the upstream's read
/// timer with every chunk it forwards; when the client pauses past that timer, the upstream was
/// waiting for the body (Envoy starts its route timeout only once the request is complete). An
/// upstream that stops *reading* the body fails with a write timeout instead, and is blamed.
///
/// Not when nothing of the body came and the client asked for `100 Continue` first: then the
/// client was waiting for the upstream, not the other way round.
pub fn client_body_stalled(session: &mut Session, e: &Error, ctx: &Ctx) -> bool {
    *e.esource() == ErrorSource::Upstream
        && *e.etype() == ErrorType::ReadTimedout
        && !ctx.attempt.response_received
        && !session.as_mut().is_body_done()
        && !(ctx.body_bytes == 0 && expects_continue(session.req_header()))
}

fn expects_continue(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The framing error the transport found in a request body, if that is what failed.
fn framing_error(e: &Error) -> Option<&std::io::Error> {
    let mut cause = e.cause.as_deref()?;
    loop {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return (io.kind() == std::io::ErrorKind::InvalidData).then_some(io);
        }
        // Pingora nests its errors either directly or boxed once more.
        let inner = cause
            .downcast_ref::<Error>()
            .or_else(|| cause.downcast_ref::<Box<Error>>().map(|b| &**b))?;
        cause = inner.cause.as_deref()?;
    }
}

fn invalid_framing(e: &Error) -> bool {
    framing_error(e).is_some()
}

pub fn framing_reason(e: &Error) -> Option<String> {
    framing_error(e).map(ToString::to_string)
}
