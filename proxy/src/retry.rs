//! The retry policy, as pure functions the proxy consults.
//!
//! - A connect failure is retried on another endpoint for any method: the request never left.
//! - After the request was sent, only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) whose
//!   body fit the retry buffer are retried, and only when the upstream reset the connection or
//!   timed out before a response header, or answered 502/503/504.
//! - Never the same endpoint twice, at most `retries` times, and — for retries after sending —
//!   within the pool's retry budget (see `upstream::ActiveRequest::try_retry`). Exempt from the
//!   budget: a *reused* connection reset before any response byte (a keep-alive race, or a
//!   crashed replica resetting every request in flight at once).

use http::Method;
use pingora::{Error, ErrorSource, ErrorType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connection broken before a response header (reset, closed, read/write error).
    Reset,
    /// No response header within the read timeout.
    Timeout,
    /// The upstream answered 502, 503 or 504.
    Status,
    /// Anything else attributable to the upstream (e.g. an invalid response).
    Other,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Timeout => "timeout",
            Self::Status => "status_5xx",
            Self::Other => "invalid_response",
        }
    }

    /// Whether this failure may be retried on another endpoint after the request was sent.
    pub fn retryable(self) -> bool {
        !matches!(self, Self::Other)
    }
}

pub fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

pub fn retryable_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

/// What an error raised after connecting says about the upstream; `None` when it is not the
/// upstream's fault (the client went away, an internal error).
pub fn classify(e: &Error) -> Option<Failure> {
    if *e.esource() != ErrorSource::Upstream {
        return None;
    }
    Some(match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Failure::Timeout,
        ErrorType::ConnectionClosed
        | ErrorType::ReadError
        | ErrorType::WriteError
        | ErrorType::H1Error => Failure::Reset,
        ErrorType::HTTPStatus(s) if retryable_status(*s) => Failure::Status,
        _ => Failure::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_methods() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT, Method::TRACE] {
            assert!(!idempotent(&m), "{m}");
        }
    }

    #[test]
    fn classification_by_source_and_type() {
        let mut e = Error::new(ErrorType::ReadTimedout);
        e.as_up();
        assert_eq!(classify(&e), Some(Failure::Timeout));
        let mut e = Error::new(ErrorType::ConnectionClosed);
        e.as_up();
        assert_eq!(classify(&e), Some(Failure::Reset));
        let mut e = Error::new(ErrorType::ConnectionClosed);
        e.as_down();
        assert_eq!(
            classify(&e),
            None,
            "the client went away: not the upstream's fault"
        );
        let mut e = Error::new(ErrorType::HTTPStatus(503));
        e.as_up();
        assert_eq!(classify(&e), Some(Failure::Status));
        let mut e = Error::new(ErrorType::InvalidHTTPHeader);
        e.as_up();
        assert_eq!(classify(&e).map(Failure::retryable), Some(false));
    }
}
