//! The Pingora [`ProxyHttp`] implementation. Reads top to bottom in request order:
//!
//! 1. `request_filter` (`admit.rs`): request id, client IP, head fixes; then one decision
//!    (`admission.rs`) on one `ArcSwap` snapshot of the route table: bad target or path (400),
//!    no route (404), the route's policy (403/429/413, `policy.rs`), trailing-slash redirect
//!    (301), empty pool (503) — written in one place (`answer.rs`) — or forward, after reading a
//!    body to buffer.
//! 2. `upstream_peer`: a new `Attempt`; the pool's balancer picks an eligible endpoint this
//!    request has not tried (panic mode when none is eligible).
//! 3. `upstream_request_filter`: strip prefix / normalised path, forwarding headers.
//! 4. `upstream_response_filter`: heads that cannot be forwarded → 502, no reuse of a connection
//!    with inconsistent framing (`response.rs`); success or 502/503/504 → outlier detection; a
//!    502/503/504 is retried on another endpoint when the retry rule allows; `Location` under
//!    the prefix. `response_filter`: hop-by-hop fields and the status line (`response.rs`).
//! 5. `fail_to_connect` / `error_while_proxy`: record the failure, then the one retry rule
//!    (`retry::decide`) and the retry budget.
//! 6. `fail_to_proxy`: the status the error calls for (`failure.rs`: whose fault, 408/400/413/
//!    502/504), as JSON naming route and upstream.
//! 7. `logging`: metrics through pre-resolved handles, one JSON access-log line.

mod admission;
mod admit;
mod answer;
mod failure;
mod host;
mod location;
mod policy;
mod response;

pub use location::rewrite_location;

use crate::headers::{Forwarding, X_REQUEST_ID_WIRE};
use crate::log::AccessLine;
use crate::respond::{self, ErrorBody};
use crate::retry::{self, Failure, RetryDecision, When};
use crate::routing::{Route, RouteTable};
use crate::state::State;
use crate::upstream::{self, ActiveRequest, InFlight};
use async_trait::async_trait;
use http::{HeaderValue, Uri};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle upstream connections are kept this long for reuse: below the keep-alive timeouts of
/// uvicorn (5 s) and nginx (75 s), so the proxy closes first and never races a closing socket.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

pub struct TrinityProxy {
    state: Arc<State>,
}

impl TrinityProxy {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// Per-request state.
pub struct Ctx {
    started: Instant,
    /// The route admission chose, in the table snapshot it was chosen from.
    routed: Option<Routed>,
    request_id: HeaderValue,
    peer: IpAddr,
    trusted_peer: bool,
    client: IpAddr,
    /// Path (and query) to send upstream when it differs from the request's.
    upstream_uri: Option<Uri>,
    /// Counts this request in its pool's retry budget.
    active: Option<ActiveRequest>,
    hash_key: Option<u64>,
    tried: SmallVec<[SocketAddr; 4]>,
    retries: usize,
    panic: bool,
    /// Request body bytes read so far (for a chunked body and `max_body_size`).
    body_bytes: u64,
    /// The current upstream attempt, replaced by each `upstream_peer`.
    attempt: Attempt,
}

/// A route: its table snapshot and its index there (no route is `None`, never index 0).
struct Routed {
    table: Arc<RouteTable>,
    index: usize,
}

impl Routed {
    fn route(&self) -> &Route {
        self.table.route(self.index)
    }
}

/// One upstream attempt of a request.
#[derive(Default)]
struct Attempt {
    endpoint: Option<InFlight>,
    started: Option<Instant>,
    /// This attempt's response header was accepted.
    response_received: bool,
    /// `upstream_response_filter` turned a 502/503/504 into a retry.
    retry_on_status: bool,
    /// The attempt's upstream connection (to refuse its reuse, `response.rs`).
    upstream_fd: Option<std::os::fd::RawFd>,
}

impl Ctx {
    fn route(&self) -> Option<&Route> {
        self.routed.as_ref().map(Routed::route)
    }

    /// Applies the retry rule (`retry::decide`) to a failure of the current attempt, spends the
    /// retry budget when the rule asks for it, and counts the retry.
    fn retry(&mut self, session: &Session, when: When) -> bool {
        let Some(route) = self.route() else {
            return false;
        };
        let decision = retry::decide(&retry::Attempted {
            method: &session.req_header().method,
            when,
            retries: self.retries,
            max_retries: route.pool.retries(),
            untried_left: route.pool.can_select(&self.tried),
            body_replayable: !session.as_ref().retry_buffer_truncated(),
        });
        let retry = match decision {
            RetryDecision::Retry => true,
            RetryDecision::RetryWithinBudget => {
                self.active.as_mut().is_some_and(ActiveRequest::try_retry)
            }
            RetryDecision::GiveUp(_) => false,
        };
        if let (true, Some(route)) = (retry, self.route()) {
            let m = &route.metrics;
            match when {
                When::Connect => m.retry_connect_failure.inc(),
                When::Sent { failure, .. } => match failure {
                    Failure::Timeout => m.retry_timeout.inc(),
                    Failure::Status => m.retry_status.inc(),
                    Failure::Reset | Failure::Other => m.retry_reset.inc(),
                },
            }
            self.retries += 1;
        }
        retry
    }

    /// Feeds a failure of the current attempt to outlier detection.
    fn record_failure(&self, what: &str) {
        if let (Some(route), Some(ep)) = (self.route(), &self.attempt.endpoint) {
            route.pool.record_failure(ep.endpoint(), what);
        }
    }
}

#[async_trait]
impl ProxyHttp for TrinityProxy {
    type CTX = Ctx;

    /// No downstream modules. Pingora's default adds a response-compression module switched off,
    /// which still costs every request a module context (two allocations) and its filter calls;
    /// it was never switched on here (Cloudflare's edge compresses for browsers).
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            routed: None,
            request_id: HeaderValue::from_static(""),
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            trusted_peer: false,
            client: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            upstream_uri: None,
            active: None,
            hash_key: None,
            tried: SmallVec::new(),
            retries: 0,
            panic: false,
            body_bytes: 0,
            attempt: Attempt::default(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        admit::admit(session, ctx, self.state.table.load_full()).await
    }

    /// Cuts a body (chunked: its size was not known up front) once it passes `max_body_size`.
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(chunk) = body else {
            return Ok(());
        };
        if chunk.is_empty() && end_of_stream {
            // An empty last DATA frame (h2c: END_STREAM on its own, as Go's client sends it):
            // Pingora would write it upstream as a zero-size chunk *and* end the body with one
            // more, leaving a spare terminator on the pooled connection. The end alone is enough.
            *body = None;
            return Ok(());
        }
        ctx.body_bytes += chunk.len() as u64;
        let Some(route) = ctx.route() else {
            return Ok(());
        };
        if route.max_body_size.is_some_and(|max| ctx.body_bytes > max) {
            route.metrics.rejected_body_size.inc();
            // The client's failure: its access line, no ERROR record (`suppress_error_log`).
            return Err(Error::explain(
                ErrorType::HTTPStatus(413),
                "request body exceeds max_body_size",
            )
            .into_down());
        }
        Ok(())
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(route) = ctx.route() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no route in context",
            ));
        };
        let pool = route.pool.clone();
        let timeouts = route.timeouts;
        if ctx.active.is_none() {
            ctx.active = Some(pool.begin_request());
            if let crate::config::LoadBalancing::Hash(key) = &pool.config.load_balancing {
                ctx.hash_key = upstream::hash_key(key, &session.req_header().headers, ctx.client);
            }
        }
        let Some(selected) = pool.select(&ctx.tried, ctx.hash_key) else {
            return Err(Error::explain(
                ErrorType::ConnectNoRoute,
                "every endpoint was tried",
            ));
        };
        ctx.panic |= selected.panic;
        let mut peer = HttpPeer::new(selected.guard.endpoint().addr, false, String::new());
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.read_timeout = Some(timeouts.read);
        // An upstream that stops reading a request body must not hang the request forever.
        peer.options.write_timeout = Some(timeouts.read);
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        ctx.tried.push(selected.guard.endpoint().addr);
        ctx.attempt = Attempt {
            endpoint: Some(selected.guard),
            started: Some(Instant::now()),
            ..Attempt::default()
        };
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(route) = ctx.route() else {
            return Ok(());
        };
        if let Some(uri) = &ctx.upstream_uri {
            req.set_uri(uri.clone());
        }
        host::supply(req, session)?;
        let client_ip = ctx.routed.as_ref().map(|r| &r.table.client_ip);
        Forwarding {
            peer: ctx.peer,
            trusted_peer: ctx.trusted_peer,
            client: ctx.client,
            request_id: &ctx.request_id,
            prefix: route.prefix().filter(|_| route.strip_prefix),
            client_ip_header: client_ip.and_then(|c| c.header.as_ref()),
            trust_forwarded_host: client_ip.is_some_and(|c| c.trust_forwarded_host),
        }
        .apply(req)
    }

    /// Keeps the connection's fd: `upstream_response_filter` may have to refuse its reuse.
    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        fd: std::os::fd::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.attempt.upstream_fd = Some(fd);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = resp.status.as_u16();
        response::check(session, resp)?;
        if status < 200 && status != 101 {
            return Ok(()); // informational: the real answer follows
        }
        if response::framing_unsafe_to_reuse(resp)
            && let Some(fd) = ctx.attempt.upstream_fd.take()
        {
            response::close_upstream(fd);
        }
        ctx.attempt.response_received = true;
        if retry::retryable_status(status) {
            ctx.record_failure(resp.status.as_str());
            let when = When::Sent {
                failure: Failure::Status,
                reused_connection: false,
                response_started: false,
            };
            if ctx.retry(session, when) {
                ctx.attempt.retry_on_status = true;
                let mut e = Error::explain(
                    ErrorType::HTTPStatus(status),
                    "retrying on another endpoint",
                );
                e.as_up();
                e.set_retry(true);
                return Err(e);
            }
        } else if let Some(ep) = &ctx.attempt.endpoint {
            ep.endpoint().health.success();
        }
        let Some(route) = ctx.route() else {
            return Ok(());
        };
        if let (true, Some(prefix)) = (route.strip_prefix, route.prefix())
            && let Some(loc) = resp
                .headers
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
        {
            let host = session
                .req_header()
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok());
            if let Some(rewritten) = rewrite_location(loc, prefix, host) {
                resp.insert_header(http::header::LOCATION, rewritten)?;
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        response::for_client(session, resp)?;
        if resp.status == http::StatusCode::SWITCHING_PROTOCOLS
            && let Some(route) = ctx.route()
        {
            // A tunnel's client may be silent as long as its upstream may: the route's read
            // timeout, not `timeouts.client_body` (Pingora reads a tunnel as a request body).
            session.as_mut().set_read_timeout(Some(route.timeouts.read));
        }
        // An HTTP/1.0 client cannot read chunked coding (RFC 9112 §6.1): without the header,
        // Pingora sends the body close-delimited and closes the connection after it.
        if session.req_header().version == http::Version::HTTP_10 {
            resp.remove_header(&http::header::TRANSFER_ENCODING);
        }
        resp.insert_header(X_REQUEST_ID_WIRE, ctx.request_id.clone())
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.record_failure(e.etype().as_str());
        ctx.attempt.endpoint = None;
        if ctx.route().is_none() {
            return e;
        }
        let retry = ctx.retry(session, When::Connect);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("endpoint {}", peer._address));
        if ctx.attempt.retry_on_status {
            ctx.attempt.retry_on_status = false;
            e.set_retry(true);
            return e;
        }
        if failure::client_body_stalled(session, &e, ctx) {
            // The upstream waited for a body the client did not send: the client's fault. As a
            // downstream timeout it is answered 408, charged to nobody and not logged as an error,
            // like a pause that Pingora's own body read timed out.
            e.as_down();
            e.set_retry(false);
            return e;
        }
        let Some(failure) = retry::classify(&e) else {
            e.set_retry(false);
            return e;
        };
        let when = When::Sent {
            failure,
            reused_connection: client_reused,
            response_started: ctx.attempt.response_received,
        };
        if when.blames_endpoint() {
            ctx.record_failure(failure.as_str());
        }
        let retry = ctx.retry(session, when);
        e.set_retry(retry);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = failure::status(e);
        if code == 408
            && session.response_written().is_none()
            && let Some(route) = ctx.route()
        {
            route.metrics.rejected_body_timeout.inc();
        }
        if code > 0 && session.response_written().is_none() {
            let mut body = ErrorBody::new(failure::error_text(code), &ctx.request_id);
            let framing = failure::framing_reason(e);
            body.reason = framing.as_deref();
            if let Some(route) = ctx.route() {
                body.route = Some(&route.name);
                body.upstream = Some(&route.pool.name);
            }
            let request_id = ctx.request_id.clone();
            // Pingora closes the connection after a failed proxy attempt: say so, so clients
            // do not send their next request into a closing socket.
            session.set_keepalive(None);
            if let Err(err) = respond::json(session, code, &body, &request_id).await {
                tracing::debug!(error = %err, "could not send the error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// A client's own failure (it closed the connection, sent a broken body, sent a body past
    /// `max_body_size`) is its access-log line (499, 400, 413 with `error`), not an ERROR record
    /// per request: an anonymous client must not be able to flood the error log. The details
    /// stay at debug level.
    fn suppress_error_log(&self, _session: &Session, ctx: &Ctx, e: &Error) -> bool {
        let client = failure::client_failed(e);
        if client {
            tracing::debug!(request_id = ?ctx.request_id, error = %e, "client failed the request");
        }
        client
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = match session.response_written() {
            Some(r) => r.status.as_u16(),
            // As nginx: the client went away before an answer was written.
            None if e.is_some_and(failure::client_failed) => 499,
            None => 0,
        };
        let elapsed = ctx.started.elapsed();
        let endpoint = ctx.attempt.endpoint.take();
        let route = ctx.route();
        let route_metrics = route.map_or(self.state.metrics.no_route(), |r| &*r.metrics);
        let method = &session.req_header().method;
        route_metrics.count(method, status);
        route_metrics.duration.observe(elapsed.as_secs_f64());
        if let (Some(ep), Some(t0)) = (&endpoint, ctx.attempt.started) {
            ep.endpoint()
                .metrics
                .duration
                .observe(t0.elapsed().as_secs_f64());
        }
        if crate::log::access_enabled() {
            let req = session.req_header();
            crate::log::access(&AccessLine {
                request_id: ctx.request_id.to_str().unwrap_or_default(),
                client_ip: ctx.client,
                method: req.method.as_str(),
                path: req.uri.path(),
                route: route.map_or(crate::metrics::NO_ROUTE, |r| &*r.name),
                endpoint: endpoint.as_ref().map_or("", |g| &*g.endpoint().label),
                status,
                duration: elapsed,
                bytes: session.body_bytes_sent(),
                retries: ctx.retries,
                panic: ctx.panic,
                error: e.map(|e| e.etype().as_str()),
            });
        }
    }
}
