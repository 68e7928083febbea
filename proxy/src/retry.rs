//! The retry rule, as one pure function: [`decide`] takes what is known when an attempt fails and
//! answers with a [`RetryDecision`]; the proxy only spends the budget it asks for.
//!
//! - A connect failure is retried on another endpoint for any method: the request never left.
//! - After the request was sent, only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) whose
//!   body fit the retry buffer are retried, and only when the upstream reset the connection or
//!   timed out before a response header, or answered 502/503/504.
//! - Never the same endpoint twice, at most `retries` times, and — for retries after sending —
//!   within the pool's retry budget (see `upstream::ActiveRequest::try_retry`). Exempt from the
//!   budget: a *reused* connection reset before any response byte (a keep-alive race, or a
//!   crashed replica resetting every request in flight at once).
//! - [`When::blames_endpoint`]: which failures count against the endpoint (outlier detection).

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

/// When an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The connection could not be made: nothing was sent.
    Connect,
    /// The request was sent (or its sending began) and then `failure` happened.
    Sent {
        failure: Failure,
        /// The attempt ran on a kept-alive connection from the pool.
        reused_connection: bool,
        /// A response header was accepted from the endpoint (a 502/503/504 turned into a retry
        /// is not): a failure after it ends a response stream, it is not a failed attempt.
        response_started: bool,
    },
}

impl When {
    /// A reused connection reset before any response: a keep-alive race or a crashed process.
    /// Like HTTP clients do for idle connections, an idempotent request is retried outside the
    /// retry budget, and the endpoint is not blamed (its next connect attempt will be, if it is
    /// really gone).
    fn stale_connection(self) -> bool {
        matches!(
            self,
            Self::Sent {
                failure: Failure::Reset,
                reused_connection: true,
                response_started: false,
            }
        )
    }

    /// Whether this failure counts against the endpoint in outlier detection: not a stale
    /// connection, and not a stream ending after its response header (an idle WebSocket or SSE
    /// stream hitting the read timeout is no evidence of a sick endpoint).
    pub fn blames_endpoint(self) -> bool {
        match self {
            Self::Connect => true,
            Self::Sent {
                response_started, ..
            } => !response_started && !self.stale_connection(),
        }
    }
}

/// Everything [`decide`] needs to know about a failed attempt.
#[derive(Debug, Clone, Copy)]
pub struct Attempted<'a> {
    pub method: &'a Method,
    pub when: When,
    /// Retries this request has made so far.
    pub retries: usize,
    /// The pool's `retries`.
    pub max_retries: usize,
    /// The pool has an eligible endpoint this request has not tried.
    pub untried_left: bool,
    /// The request body is all in the retry buffer, so it can be sent again.
    pub body_replayable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry on another endpoint, outside the retry budget.
    Retry,
    /// Retry on another endpoint if the pool's retry budget has room.
    RetryWithinBudget,
    /// Answer with this failure.
    GiveUp(GiveUp),
}

/// Why a failed attempt is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The response had begun.
    ResponseStarted,
    /// An invalid response: another endpoint runs the same code.
    NotRetryable,
    /// A non-idempotent method was sent: it may have taken effect.
    NotIdempotent,
    /// The body was larger than the retry buffer.
    BodyNotReplayable,
    /// The pool's `retries` are used up.
    RetriesExhausted,
    /// Every eligible endpoint was tried.
    NoEndpointLeft,
}

/// The retry rule.
pub fn decide(a: &Attempted<'_>) -> RetryDecision {
    use RetryDecision::GiveUp as No;
    if let When::Sent {
        failure,
        response_started,
        ..
    } = a.when
    {
        if response_started {
            return No(GiveUp::ResponseStarted);
        }
        if !failure.retryable() {
            return No(GiveUp::NotRetryable);
        }
        if !idempotent(a.method) {
            return No(GiveUp::NotIdempotent);
        }
        if !a.body_replayable {
            return No(GiveUp::BodyNotReplayable);
        }
    }
    if a.retries >= a.max_retries {
        return No(GiveUp::RetriesExhausted);
    }
    if !a.untried_left {
        return No(GiveUp::NoEndpointLeft);
    }
    match a.when {
        When::Connect => RetryDecision::Retry,
        w if w.stale_connection() => RetryDecision::Retry,
        When::Sent { .. } => RetryDecision::RetryWithinBudget,
    }
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

    fn sent(failure: Failure, reused_connection: bool, response_started: bool) -> When {
        When::Sent {
            failure,
            reused_connection,
            response_started,
        }
    }

    #[test]
    fn the_retry_rule_as_a_table() {
        use GiveUp::*;
        use RetryDecision::{GiveUp as No, Retry, RetryWithinBudget as Budget};
        let (get, post) = (Method::GET, Method::POST);
        let fresh_reset = sent(Failure::Reset, false, false);
        let stale_reset = sent(Failure::Reset, true, false);
        let timeout = sent(Failure::Timeout, true, false);
        let status = sent(Failure::Status, false, false);
        // (method, when, retries, max, untried left, body replayable) -> decision
        let table = [
            (&post, When::Connect, 0, 1, true, false, Retry),
            (&post, When::Connect, 1, 1, true, true, No(RetriesExhausted)),
            (&get, When::Connect, 0, 1, false, true, No(NoEndpointLeft)),
            (&get, fresh_reset, 0, 1, true, true, Budget),
            (&get, stale_reset, 0, 1, true, true, Retry),
            (&get, timeout, 0, 1, true, true, Budget),
            (&get, status, 0, 2, true, true, Budget),
            (&post, stale_reset, 0, 1, true, true, No(NotIdempotent)),
            (&post, status, 0, 1, true, true, No(NotIdempotent)),
            (&get, fresh_reset, 0, 1, true, false, No(BodyNotReplayable)),
            (
                &get,
                sent(Failure::Other, false, false),
                0,
                1,
                true,
                true,
                No(NotRetryable),
            ),
            (
                &get,
                sent(Failure::Timeout, false, true),
                0,
                1,
                true,
                true,
                No(ResponseStarted),
            ),
            (
                &get,
                sent(Failure::Reset, true, true),
                0,
                1,
                true,
                true,
                No(ResponseStarted),
            ),
            (&get, status, 2, 2, true, true, No(RetriesExhausted)),
            (&get, stale_reset, 0, 1, false, true, No(NoEndpointLeft)),
        ];
        for (method, when, retries, max_retries, untried_left, body_replayable, want) in table {
            let a = Attempted {
                method,
                when,
                retries,
                max_retries,
                untried_left,
                body_replayable,
            };
            assert_eq!(decide(&a), want, "{a:?}");
        }
    }

    #[test]
    fn which_failures_blame_the_endpoint() {
        assert!(When::Connect.blames_endpoint());
        assert!(sent(Failure::Reset, false, false).blames_endpoint());
        assert!(sent(Failure::Status, true, false).blames_endpoint());
        assert!(sent(Failure::Timeout, true, false).blames_endpoint());
        assert!(
            !sent(Failure::Reset, true, false).blames_endpoint(),
            "stale"
        );
        assert!(
            !sent(Failure::Timeout, false, true).blames_endpoint(),
            "stream end"
        );
    }
}
